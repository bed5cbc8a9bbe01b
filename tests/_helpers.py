"""Helpers shared by the test modules (matching found atoms to the truth)."""

import copy

import numpy as np
from scipy.spatial import cKDTree


def match_one_to_one(truth_x, truth_y, found_x, found_y, tol):
    """Mutual nearest neighbours between truth and found positions.

    A truth atom and a found atom are matched when each is the other's
    nearest neighbour and they are closer than ``tol``: a found atom can
    explain at most one truth atom and vice versa.

    Returns
    -------
    truth_match : numpy.ndarray of int
        For each truth atom the index of its found atom, or -1.
    found_matched : numpy.ndarray of bool
        For each found atom whether it matched a truth atom.
    """
    t = np.column_stack([truth_x, truth_y])
    f = np.column_stack([found_x, found_y])
    truth_match = np.full(len(t), -1)
    found_matched = np.zeros(len(f), bool)
    if len(t) == 0 or len(f) == 0:
        return truth_match, found_matched
    d_tf, j_tf = cKDTree(f).query(t)
    _, j_ft = cKDTree(t).query(f)
    mutual = (j_ft[j_tf] == np.arange(len(t))) & (d_tf < tol)
    truth_match[mutual] = j_tf[mutual]
    found_matched[j_tf[mutual]] = True
    return truth_match, found_matched


def near_edge(x, y, shape, dist):
    """Whether pixel positions lie within ``dist`` px of the image border."""
    ny, nx = shape
    x = np.asarray(x)
    y = np.asarray(y)
    return (x < dist) | (y < dist) | (x > nx - 1 - dist) | (y > ny - 1 - dist)


def label_agreement(labels, truth_labels):
    """Fraction of atoms whose label equals the truth, best over permutations.

    For two classes: ``max(agree, agree with 0 <-> 1 swapped)``.
    """
    labels = np.asarray(labels, float)
    truth_labels = np.asarray(truth_labels, float)
    direct = np.mean(labels == truth_labels)
    swapped = np.mean(labels == 1 - truth_labels)
    return max(direct, swapped)


def snapshot(signal):
    """Deep copy of a signal's data, axes and metadata, for later comparison."""
    return {
        "data": np.array(signal.data, copy=True),
        "axes": copy.deepcopy(signal.axes_manager.as_dictionary()),
        "metadata": copy.deepcopy(signal.metadata.as_dictionary()),
        "original_metadata": copy.deepcopy(signal.original_metadata.as_dictionary()),
        "type": type(signal),
    }


def _equal(a, b):
    """Deep equality of nested dicts/lists holding arrays (NaN equals NaN)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        if a.dtype.kind in "fc" and b.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return bool(a == b)


def assert_unchanged(signal, before):
    """Assert ``signal`` still equals the :func:`snapshot` ``before``."""
    assert type(signal) is before["type"]
    np.testing.assert_array_equal(np.asarray(signal.data), before["data"])
    assert np.asarray(signal.data).dtype == before["data"].dtype
    assert _equal(signal.axes_manager.as_dictionary(), before["axes"])
    assert _equal(signal.metadata.as_dictionary(), before["metadata"])
    assert _equal(signal.original_metadata.as_dictionary(), before["original_metadata"])


def _save_unrendered(fig, out, name, plt):
    (out / name).write_bytes(b"")
    plt.close(fig)


def figures_not_rendered(monkeypatch):
    """In this test :func:`hyperspy_localcryst.report.analyse` builds every
    figure (all its plotting calls run) but does not render it: each PNG is an
    empty file. Rendering is about 80 % of the time of a small report. Only
    for tests that check no figure (file safety, summaries, batches) or only
    what the plotting calls set (axis labels, which figures are saved); the
    tests of the rendered images never use it."""
    from hyperspy_localcryst import report

    monkeypatch.setattr(report.figures, "_save", _save_unrendered)


#: The ``localcryst`` console script as ``python -c CONSOLE_NOT_RENDERING
#: ARGS...`` runs it, with the report's figures not rendered (see
#: :func:`figures_not_rendered`): for the tests of a real process (a closed
#: pipe, concurrent runs) that check no figure. Not for the tests of signals
#: while starting (it imports the package before the console script runs).
CONSOLE_NOT_RENDERING = """
import sys
from hyperspy_localcryst import report
def _save(fig, out, name, plt):
    (out / name).write_bytes(b"")
    plt.close(fig)
report.figures._save = _save
from hyperspy_localcryst.__main__ import main
sys.exit(main())
"""


def abtem_tiled(name, tiles=3):
    """An abTEM simulation of ``tests/data`` (``name``.npy/.json: periodic,
    one record per projected column) tiled ``tiles`` x ``tiles`` as an
    ``atomic_image`` in nm, with the true column positions (pixels) of the
    tiled image, the records repeated in the same order, and the metadata."""
    import json
    from pathlib import Path

    data = Path(__file__).parent / "data"
    img = np.load(data / f"{name}.npy").astype(float)
    meta = json.loads((data / f"{name}.json").read_text())
    ny, nx = img.shape
    cols = meta["columns"]
    shifts = [(i * nx, j * ny) for i in range(tiles) for j in range(tiles)]
    tx = np.concatenate([[c["x_px"] + u for c in cols] for u, _ in shifts])
    ty = np.concatenate([[c["y_px"] + w for c in cols] for _, w in shifts])
    s = calibrated_image(np.tile(img, (tiles, tiles)), meta["pixel_size_A"] / 10)
    return s, tx, ty, cols * len(shifts), meta


def calibrated_image(data, scale, units="nm"):
    """``data`` as an ``atomic_image`` with square pixels of ``scale``
    ``units`` on its signal axes (the package's own constructor of the
    synthetic images, :func:`hyperspy_localcryst.data._atomic_image`)."""
    from hyperspy_localcryst.data import _atomic_image

    return _atomic_image(data, scale, units, "")
