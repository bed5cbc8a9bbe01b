"""Neighbourhood libraries: build on one image, classify another, file round trip.

Known truth: ``two_phase_positions`` puts a square and a hexagonal lattice
side by side (label 0, 1; 2 for atoms at the boundary). The library is built
on one such image; a second one, turned by 23 degrees, with another field of
view, dose and noise, is classified with it; a rectangular lattice (a phase
the library has never seen) must come out "unknown".
"""

import functools
import warnings

import hyperspy.api as hs
import numpy as np
import pytest
from scipy.spatial import cKDTree
from sklearn.metrics import adjusted_rand_score

from hyperspy_localcryst.data.synthetic import (
    make_lattice_image,
    render_gaussians,
    two_phase_positions,
)
from hyperspy_localcryst.library import NeighbourhoodLibrary

SCALE = 0.01
SETTINGS = {"n_neighbours": 12, "metric": "angle"}  # closed shells of both phases


def _signal(img, units="nm", scale=SCALE):
    s = hs.signals.Signal2D(img)
    for ax, name in zip(s.axes_manager.signal_axes, "xy"):
        ax.scale, ax.units, ax.name = scale, units, name
    s.set_signal_type("atomic_image")
    return s


@functools.lru_cache(maxsize=None)
def _two_phase(shape, rotation, seed, peak):
    x, y, lab = two_phase_positions(shape, 16.0, rotation=rotation)
    clean = render_gaussians(shape, x, y, peak, 2.8, background=20.0)
    img = np.random.default_rng(seed).poisson(clean).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = _signal(img).find_atoms()
    return atoms, x, y, lab


def _truth(table, x, y, lab):
    """True label of each row of a table of centres (-1: no true atom near)."""
    d, k = cKDTree(np.column_stack([x, y])).query(
        np.column_stack(table.get_pixel_positions())
    )
    return np.where(d < 3, lab[k], -1)


@functools.lru_cache(maxsize=None)
def _library(scaling="none"):
    atoms, x, y, lab = _two_phase((256, 256), 0.0, 0, 150.0)
    nb = atoms.get_neighbourhoods(**SETTINGS)
    nb.cluster_analysis(n_clusters=2)
    # name each cluster after its majority true phase
    t = _truth(nb.get_centres(), x, y, lab)
    lbl = nb._labels()
    names = [
        ["square", "hexagonal"][
            int(np.bincount(t[(lbl == c) & (t >= 0) & (t < 2)]).argmax())
        ]
        for c in range(2)
    ]
    lib = NeighbourhoodLibrary.from_neighbourhoods(
        nb,
        names=names,
        descriptions=["synthetic square lattice", "synthetic triangular lattice"],
        scaling=scaling,
    )
    return lib, nb


def _unseen_phase():
    # a rectangular lattice: 16 px along x, 20 px along y
    img, _ = make_lattice_image(
        (200, 200),
        16.0,
        2.8,
        150.0,
        20.0,
        displacement=lambda X, Y, S: (0 * X, 0.25 * (Y - 99.5)),
        seed=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _signal(img).find_atoms()


@pytest.mark.parametrize("scaling", ["none", "nn"])
def test_library_classifies_a_rotated_image_of_the_same_phases(scaling):
    lib, _ = _library(scaling)
    atoms, x, y, lab = _two_phase((224, 288), 23.0, 7, 100.0)  # other FoV, dose
    res = lib.classify(atoms)
    cls = res.get_column("class").astype(int)
    t = _truth(res, x, y, lab)
    bulk = (t == 0) | (t == 1)
    assert bulk.sum() >= 60
    truth_names = np.array(["square", "hexagonal"])[t[bulk]]
    pred_names = np.array(lib.names + ["unknown"])[cls[bulk]]
    ari = adjusted_rand_score(truth_names, pred_names)
    assert ari >= 0.95, ari
    assert np.mean(truth_names == pred_names) >= 0.97
    assert np.mean(cls[bulk] == -1) <= 0.03
    # boundary atoms (neither phase) are mostly unknown
    assert np.mean(cls[t == 2] == -1) > 0.5
    md = res.metadata.Classification
    assert md.fraction_names == lib.names + ["unknown"]
    assert np.isclose(sum(md.fractions), 1.0)
    conf = res.get_column("confidence")
    assert ((conf >= 0) & (conf <= 1)).all()
    assert np.median(conf[bulk]) > 0.5


@pytest.mark.parametrize("scaling", ["none", "nn"])
def test_unseen_phase_is_unknown(scaling):
    lib, _ = _library(scaling)
    res = lib.classify(_unseen_phase())
    frac_unknown = res.metadata.Classification.fractions[-1]
    assert frac_unknown >= 0.95, frac_unknown
    assert (res.get_column("confidence")[res.get_column("class") == -1] == 0).all()


def test_model_classification_and_round_trip(tmp_path):
    from sklearn.neighbors import KNeighborsClassifier

    _, nb = _library()
    lib = NeighbourhoodLibrary.from_neighbourhoods(
        nb, names=["a", "b"], model=KNeighborsClassifier(n_neighbors=3)
    )
    atoms, *_ = _two_phase((224, 288), 23.0, 7, 100.0)
    r1 = lib.classify(atoms, method="model")
    path = tmp_path / "lib.hspy"
    lib.save(path)
    back = NeighbourhoodLibrary.load(path)
    assert (
        back.model["class"] == "sklearn.neighbors._classification.KNeighborsClassifier"
    )
    assert back.model["params"] == lib.model["params"]
    np.testing.assert_array_equal(back.model["X"], lib.model["X"])
    r2 = back.classify(atoms, method="model")
    np.testing.assert_array_equal(r1.data, r2.data)
    c = lib.classify(atoms).get_column("class")
    assert np.mean(r1.get_column("class") == c) > 0.95


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_library_file_round_trip_is_exact(tmp_path, ext):
    lib, nb = _library()
    spectra = hs.signals.Signal1D(np.random.default_rng(0).random((2, 50)))
    ax = spectra.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units, ax.name = 400.0, 0.5, "eV", "Energy loss"
    lib = NeighbourhoodLibrary.from_neighbourhoods(
        nb,
        names=["SrTiO₃ (bulk)", "LaTiO3"],
        descriptions=["perovskite, a = 3.905 Å", ""],
        spectra=spectra,
        scaling="nn",
    )
    path = tmp_path / f"library.{ext}"
    lib.save(path)
    back = NeighbourhoodLibrary.load(path)
    np.testing.assert_array_equal(back.centroids, lib.centroids)
    assert back.centroids.dtype == np.float64
    assert back.names == lib.names and back.descriptions == lib.descriptions
    assert back.settings == lib.settings
    assert back.settings["units"] == "nm"
    assert back.scaling == "nn" and back.reference_nn == lib.reference_nn
    np.testing.assert_array_equal(back.spread, lib.spread)
    np.testing.assert_array_equal(back.counts, lib.counts)
    np.testing.assert_array_equal(back.spectra.data, spectra.data)
    bax = back.spectra.axes_manager.signal_axes[0]
    assert (bax.offset, bax.scale, bax.units, bax.name) == (
        400.0,
        0.5,
        "eV",
        "Energy loss",
    )
    atoms, *_ = _two_phase((224, 288), 23.0, 7, 100.0)
    np.testing.assert_array_equal(lib.classify(atoms).data, back.classify(atoms).data)


# ----------------------------------------------------------------- refusals
def test_mismatched_settings_are_refused():
    lib, nb = _library()
    atoms = nb.atoms
    with pytest.raises(ValueError, match="metric is 'distance' \\(library: 'angle'\\)"):
        lib.classify(atoms.get_neighbourhoods(n_neighbours=12, metric="distance"))
    with pytest.raises(ValueError, match="n_neighbours is 6 \\(library: 12\\)"):
        lib.classify(atoms.get_neighbourhoods(n_neighbours=6, metric="angle"))


def test_mismatched_units_are_refused():
    lib, _ = _library()
    x, y, _ = two_phase_positions((160, 160), 16.0)
    img = render_gaussians((160, 160), x, y, 150.0, 2.8, background=20.0)
    atoms = _signal(img, units="Å", scale=0.1).find_atoms()
    with pytest.raises(ValueError, match="calibrated in 'Å', the library in 'nm'"):
        lib.classify(atoms)
    with pytest.raises(ValueError, match="units is 'Å' \\(library: 'nm'\\)"):
        lib.classify(atoms.get_neighbourhoods(**SETTINGS))


def test_incompatible_files_are_refused(tmp_path):
    lib, _ = _library()
    s = lib.to_signal()
    s.metadata.NeighbourhoodLibrary.format_version = 99
    path = tmp_path / "future.hspy"
    s.save(path)
    with pytest.raises(ValueError, match="format version 99.*reads version 1"):
        NeighbourhoodLibrary.load(path)
    other = tmp_path / "not_a_library.hspy"
    hs.signals.Signal1D(np.zeros((2, 24))).save(other)
    with pytest.raises(ValueError, match="is not a neighbourhood library"):
        NeighbourhoodLibrary.load(other)
    with pytest.raises(ValueError, match=r"\.hspy or \.zspy"):
        lib.save(tmp_path / "lib.npz")


def test_bad_library_input():
    _, nb = _library()
    n = len(nb.data)
    with pytest.raises(ValueError, match=r"Class\(es\) \[1\] have no atoms"):
        NeighbourhoodLibrary.from_neighbourhoods(
            nb, labels=np.where(np.arange(n) % 2, 2, 0)
        )
    with pytest.raises(ValueError, match="`names` has 1 entries for 2 classes"):
        NeighbourhoodLibrary.from_neighbourhoods(nb, names=["only one"])
    with pytest.raises(ValueError, match="`names` must be unique"):
        NeighbourhoodLibrary.from_neighbourhoods(nb, names=["a", "a"])
    with pytest.raises(ValueError, match="`labels` has 3 values"):
        NeighbourhoodLibrary.from_neighbourhoods(nb, labels=[0, 1, 0])
    with pytest.raises(ValueError, match="`scaling`"):
        NeighbourhoodLibrary.from_neighbourhoods(nb, scaling="zscore")
    with pytest.raises(TypeError, match="AtomPositions or AtomNeighbourhoods"):
        _library()[0].classify(np.zeros((10, 24)))
    with pytest.raises(ValueError, match="no scikit-learn model"):
        _library()[0].classify(nb, method="model")
    with pytest.raises(ValueError, match="Unknown `method`"):
        _library()[0].classify(nb, method="svm")

    class NotSklearn:
        def get_params(self, deep=False):
            return {}

    with pytest.raises(ValueError, match="Only scikit-learn models"):
        NeighbourhoodLibrary.from_neighbourhoods(nb, model=NotSklearn())
