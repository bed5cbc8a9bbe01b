"""Issue 17, points 5 and 6: bad frames anywhere, every argument checked.

Point 5: one bad frame (the first, the last, a middle one, several; NaN,
constant) never loses the others, through ``find_atoms``, ``refine_atoms``,
``estimate_separation``, ``estimate_drift``, ``align_frames``,
``sum_frames`` and ``report.analyse``, eager and lazy. The good frames'
results are compared with the same frames analysed without the bad ones.
Only when every frame fails is it an error, naming the reasons.

Point 6: every argument is checked and named in its error (the issue's cases,
then one case per class of check the sweep added).
"""

import json
import time
import tracemalloc
import warnings

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_localcryst import report
from hyperspy_localcryst.data import (
    synthetic,
    synthetic_lattice,
    synthetic_series,
    synthetic_two_phase,
)
from hyperspy_localcryst.library import NeighbourhoodLibrary
from hyperspy_localcryst.numerics import (
    alignment,
    centroids,
    clustering,
    finding,
    frames,
    modes,
    neighbourhoods,
    point_patterns,
    refinement,
    tracking,
    warping,
)
from hyperspy_localcryst.numerics import spectra as nsp
from hyperspy_localcryst.numerics._checks import check_memory, format_bytes
from hyperspy_localcryst.numerics.separation import estimate_separation
from hyperspy_localcryst.signals import si_registration as sir
from hyperspy_localcryst.signals import spectra as ssp
from hyperspy_localcryst.signals._grid import (
    check_at_most,
    check_bool,
    check_n_sublattices,
    check_numbers,
)
from hyperspy_localcryst.signals.atomic_image import AtomicImage

from ._helpers import assert_unchanged, figures_not_rendered, snapshot

N_FRAMES = 4
SHAPE = (96, 96)


# ====================================================================== helpers
def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


@pytest.fixture(scope="module")
def clean_series():
    return synthetic_series(n_frames=N_FRAMES, shape=SHAPE, seed=3)


def _spoil(series, bad, kind, lazy=False):
    s = series.deepcopy()
    for k in bad:
        s.data[k] = np.nan if kind == "nan" else 7.0
    return s.as_lazy() if lazy else s


def _without(series, bad):
    """The same frames with the bad ones left out (analysed alone)."""
    keep = [k for k in range(N_FRAMES) if k not in bad]
    s = AtomicImage(np.asarray(series.data)[keep])
    for ax, ref in zip(s.axes_manager.signal_axes, series.axes_manager.signal_axes):
        ax.scale, ax.units, ax.offset, ax.name = ref.scale, ref.units, 0.0, ref.name
    return s, keep


def _positions(table, k):
    f = table.get_frame(k)
    return np.column_stack([f.get_column("x"), f.get_column("y")])


def _raises(obj, exc, names, call):
    """``call(obj)`` raises ``exc`` whose message contains every name; ``obj``
    is unchanged."""
    before = snapshot(obj) if hasattr(obj, "axes_manager") else None
    with pytest.raises(exc) as info:
        _quiet(call, obj)
    for name in [names] if isinstance(names, str) else names:
        assert name in str(info.value), str(info.value)
    if before is not None:
        assert_unchanged(obj, before)
    return info


BAD = [[0], [N_FRAMES - 1], [1], [0, 2]]
BAD_IDS = ["first", "last", "middle", "several"]


# ============================================ point 5: bad frames anywhere
@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("kind", ["nan", "constant"])
@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
def test_find_and_refine_keep_the_good_frames(clean_series, bad, kind, lazy):
    s = _spoil(clean_series, bad, kind, lazy)
    ref, keep = _without(clean_series, bad)
    alone = ref.find_atoms(show_progressbar=False)
    with pytest.warns(RuntimeWarning, match=rf"Frame {bad[0]} \(time=.*\) failed"):
        atoms = s.find_atoms(show_progressbar=False)
    assert list(atoms.metadata.AtomPositions.failed_frames) == bad
    reasons = list(atoms.metadata.AtomPositions.failed_reasons)
    assert all(("NaN" if kind == "nan" else "constant") in r for r in reasons)
    assert sorted(set(atoms.get_frames().tolist())) == keep
    for j, k in enumerate(keep):  # the same atoms as the frames alone
        np.testing.assert_allclose(_positions(atoms, k), _positions(alone, j))
    # refinement of those atoms: the same fits as the frames alone
    refined = _quiet(s.refine_atoms, atoms, show_progressbar=False)
    refined_alone = _quiet(ref.refine_atoms, alone, show_progressbar=False)
    for j, k in enumerate(keep):
        np.testing.assert_allclose(
            _positions(refined, k), _positions(refined_alone, j), atol=1e-9
        )


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
def test_separation_skips_bad_frames(clean_series, bad, lazy):
    s = _spoil(clean_series, bad, "nan", lazy)
    ref, _ = _without(clean_series, bad)
    if bad[0] == 0:
        with pytest.warns(RuntimeWarning, match=r"Frame 0 \(time=0 s\) was skipped"):
            sep = s.estimate_separation()
    else:
        sep = s.estimate_separation()
    assert sep == pytest.approx(ref.estimate_separation(), rel=1e-12)


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("reference", ["first", "previous", "mean"])
@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
def test_drift_keeps_the_good_frames(clean_series, bad, reference, lazy):
    s = _spoil(clean_series, bad, "constant", lazy)
    ref, keep = _without(clean_series, bad)
    with pytest.warns(RuntimeWarning, match=rf"Frame {bad[0]} \(time=.*\) failed"):
        drift = s.estimate_drift(reference=reference)
    alone = ref.estimate_drift(reference=reference)
    assert np.isnan(drift.data[bad, :2]).all()
    np.testing.assert_allclose(drift.data[keep, :2], alone.data[:, :2], atol=1e-12)
    assert drift.metadata.Drift.reference_frame == keep[0]
    assert list(drift.metadata.Drift.failed_frames) == bad


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
def test_align_and_sum_keep_the_good_frames(clean_series, bad, lazy):
    s = _spoil(clean_series, bad, "nan", lazy)
    ref, keep = _without(clean_series, bad)
    aligned = _quiet(s.align_frames)
    data = np.asarray(aligned.data.compute() if lazy else aligned.data)
    assert np.isnan(data[bad]).all()
    np.testing.assert_allclose(data[keep], ref.align_frames().data, equal_nan=True)
    assert list(aligned.metadata.Alignment.skipped_frames) == bad
    mean = _quiet(s.sum_frames)
    np.testing.assert_allclose(np.asarray(mean.data), ref.sum_frames().data)
    assert mean.metadata.Alignment.n_frames == len(keep)
    assert list(mean.metadata.Alignment.skipped_frames) == bad


def test_alignment_from_atoms_with_a_bad_first_frame(clean_series):
    """``atoms`` of a stack whose frame 0 failed: linked across the gap,
    drift, affine and scan models keep the other frames."""
    s = _spoil(clean_series, [0, 2], "nan")
    ref, keep = _without(clean_series, [0, 2])
    atoms = _quiet(s.find_atoms, show_progressbar=False)
    drift = _quiet(s.estimate_drift, "atoms", atoms=atoms)
    alone = ref.estimate_drift("atoms", atoms=ref.find_atoms(show_progressbar=False))
    assert np.isnan(drift.data[[0, 2], :2]).all()
    np.testing.assert_allclose(drift.data[keep, :2], alone.data[:, :2], atol=1e-9)
    affine = _quiet(s.align_frames, model="affine", atoms=atoms)
    assert list(affine.metadata.Alignment.skipped_frames) == [0, 2]
    assert np.isfinite(affine.data[keep]).mean() > 0.9
    scan = _quiet(s.sum_frames, drift=drift, model="scan", line_time=0.1)
    assert scan.metadata.Alignment.n_frames == 2


_ALONE = {}  # summaries of the good frames alone, by the bad frames left out


@pytest.mark.parametrize(
    "bad, lazy",
    [([0], False), ([0], True), ([0, 2], False), ([N_FRAMES - 1], True)],
    ids=["first", "first-lazy", "several", "last-lazy"],
)
def test_report_uses_a_good_frame(clean_series, bad, lazy, tmp_path, monkeypatch):
    if lazy:  # built, not rendered: the eager cases render them with bad frames
        figures_not_rendered(monkeypatch)
    s = _spoil(clean_series, bad, "nan", lazy)
    ref, keep = _without(clean_series, bad)
    out = tmp_path / "stack"
    summary = report.analyse(s, out, n_clusters=2, n_neighbours=4)
    key = tuple(bad)  # the good frames analysed alone: once per set of bad frames
    if key not in _ALONE:  # only its atom count is used: figures not rendered
        with pytest.MonkeyPatch.context() as mp:
            figures_not_rendered(mp)
            _ALONE[key] = report.analyse(
                ref, tmp_path / "alone", n_clusters=2, n_neighbours=4
            )
    assert summary["n_atoms"] == _ALONE[key]["n_atoms"]
    assert summary["failed_frames"] == bad
    assert all("NaN" in r for r in summary["failed_reasons"])
    assert summary["figure_frame"] == keep[0]  # the figures show a good frame
    assert any(f"Frame {bad[0]} (time=" in w for w in summary["warnings"])
    saved = json.loads((out / "summary.json").read_text())
    assert saved["figure_frame"] == keep[0]
    page = (out / "report.html").read_text()
    assert "frame shown in the figures" in page and "failed frames" in page
    table = hs.load(out / "atoms.hspy")
    assert sorted(set(table.get_frames().tolist())) == keep


def test_every_frame_bad_is_one_error_naming_the_reasons(clean_series, tmp_path):
    s = clean_series.deepcopy()
    s.data[:2] = np.nan
    s.data[2:] = 3.0
    for call in (
        lambda t: t.find_atoms(separation=0.2, show_progressbar=False),
        lambda t: t.estimate_separation(),
        lambda t: t.find_atoms(show_progressbar=False),
        lambda t: t.estimate_drift(),
        lambda t: t.estimate_drift(reference="mean"),
        lambda t: t.sum_frames(),
        lambda t: report.analyse(t, tmp_path),
    ):
        info = _raises(s, ValueError, ["frame 0:", "frame 2:"], call)
        assert "NaN" in str(info.value) and "constant" in str(info.value)


def test_constant_frame_in_a_stack_normalises_to_nan(clean_series):
    s = _spoil(clean_series, [1], "constant")
    with pytest.warns(RuntimeWarning, match="constant"):
        out = s.normalise_contrast(show_progressbar=False)
    assert np.isnan(out.data[1]).all()
    ref = clean_series.normalise_contrast(show_progressbar=False)
    np.testing.assert_allclose(out.data[[0, 2, 3]], ref.data[[0, 2, 3]])
    with pytest.raises(ValueError, match="constant"):
        s.inav[1].normalise_contrast()


# ============================================== point 6: the cases
@pytest.fixture(scope="module")
def _lattice():
    s = synthetic_lattice(shape=(160, 160), spacing=20, seed=0)
    atoms = s.find_atoms()
    return s, atoms


@pytest.fixture
def image(_lattice):
    return _lattice[0].deepcopy()


@pytest.fixture
def atoms(_lattice):
    return _lattice[1].deepcopy()


@pytest.mark.parametrize(
    "target, exc",
    [((np.nan, 0.5), ValueError), ((0.5, np.inf), ValueError), ({"a": 1}, TypeError)]
    + [({1, 2}, TypeError), ("ab", TypeError), ([(0.5, np.nan)], ValueError)],
)
def test_target_is_checked(image, target, exc):
    _raises(image, exc, "`target`", lambda s: s.find_atoms(target=target))


def test_more_sublattices_than_atoms(image, atoms):
    info = _raises(
        image, ValueError, "`n_sublattices`", lambda s: s.find_atoms(n_sublattices=100)
    )
    assert f"{atoms.n_atoms} atoms" in str(info.value)
    # the shared helper (also for AtomPositions.label_sublattices)
    with pytest.raises(ValueError, match=r"`n_sublattices` = 100 is more than the 64"):
        check_n_sublattices(100, 64)
    assert check_n_sublattices(2, 64) == 2
    with pytest.raises(TypeError, match="`n_sublattices`"):
        check_n_sublattices(2.0, 64)


def test_report_refuses_more_sublattices_than_atoms(tmp_path):
    s = synthetic_lattice(shape=(128, 128), spacing=20, seed=0)
    with pytest.raises(ValueError, match=r"`n_sublattices` = 100 is more than the \d+"):
        report.analyse(s, tmp_path, n_sublattices=100)


def test_report_refuses_more_clusters_than_centres(tmp_path):
    s = synthetic_lattice(shape=(128, 128), spacing=20, seed=0)
    with pytest.raises(
        ValueError, match=r"`n_clusters` = 1000 is more than the \d+ centre"
    ):
        report.analyse(s, tmp_path, n_clusters=1000)
    for bad in (2.5, "many", True, 0):
        with pytest.raises((TypeError, ValueError), match="`n_clusters`"):
            report.analyse(s, tmp_path, n_clusters=bad)


@pytest.mark.parametrize("value", ["no", "yes", 1, 0, 0.0, None, [True]])
def test_bool_parameters_refuse_non_bools(atoms, value):
    if value is None:  # None is not a switch either
        with pytest.raises(TypeError, match="`exclude_border`"):
            check_bool(value, "exclude_border")
        return
    with pytest.raises(TypeError, match="`exclude_border` must be True or False"):
        neighbourhoods.neighbour_vectors(
            *atoms.get_pixel_positions(), 4, exclude_border=value
        )
    assert check_bool(np.bool_(True), "x") is True


@pytest.mark.parametrize(
    "call, name",
    [
        (
            lambda s, a: s.refine_atoms(a, subtract_neighbours="no"),
            "subtract_neighbours",
        ),
        (lambda s, a: s.find_atoms(show_progressbar="no"), "show_progressbar"),
        (lambda s, a: s.denoise(show_progressbar=1), "show_progressbar"),
        (
            lambda s, a: a.get_spectra(
                _si((8, 8)), region=(0.2, 0.2, 1.4, 1.4), normalise="no"
            ),
            "normalise",
        ),
        (
            lambda s, a: ssp.class_spectra(
                a,
                _si((8, 8)),
                np.zeros(a.n_atoms),
                region=(0.2, 0.2, 1.4, 1.4),
                allow_empty=1,
            ),
            "allow_empty",
        ),
    ],
)
def test_bool_parameters_of_images(image, atoms, call, name):
    _raises(image, TypeError, f"`{name}`", lambda s: call(s, atoms))


def test_bool_parameters_elsewhere(atoms, tmp_path):
    series = synthetic_series(n_frames=2, shape=(64, 64), seed=0)
    _raises(series, TypeError, "`crop`", lambda s: s.sum_frames(crop="no"))
    for call, name in (
        (lambda: synthetic_lattice((64, 64), return_truth="no"), "return_truth"),
        (lambda: synthetic_two_phase((64, 64), return_truth=1), "return_truth"),
        (lambda: synthetic_series(2, (64, 64), return_truth="yes"), "return_truth"),
        (
            lambda: report.analyse(
                synthetic_lattice((64, 64)), tmp_path, show_progressbar="no"
            ),
            "show_progressbar",
        ),
        (
            lambda: refinement.refine_gaussians(
                np.ones((9, 9)), [4], [4], 3, subtract_neighbours=1
            ),
            "subtract_neighbours",
        ),
        (
            lambda: point_patterns.point_pattern_fft([1.0], [1.0], (8, 8), window="no"),
            "window",
        ),
        (
            lambda: nsp.cluster_mean_spectra(
                np.ones((2, 3)), np.ones(2), [0, 1], allow_empty="no"
            ),
            "allow_empty",
        ),
    ):
        with pytest.raises(TypeError, match=f"`{name}`"):
            call()


def _si(nav=(32, 32), n_energy=20):
    si = hs.signals.Signal1D(np.ones(nav + (n_energy,)))
    e = si.axes_manager.signal_axes[0]
    e.offset, e.scale, e.units = 400.0, 10.0, "eV"
    return si


def test_memory_heavy_subsample_is_refused_up_front(atoms):
    si = _si()  # 32 x 32 = 1024 SI pixels
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(ValueError) as info:
        atoms.get_spectra(si, region=(0.2, 0.2, 1.4, 1.4), subsample=10**4)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    msg = str(info.value)
    need = 32 * 32 * (10**4) ** 2 * 8 / 2**30  # float64 points per SI pixel: 763
    assert f"subsample=10000 needs {need:.0f} GiB" in msg and "`subsample`" in msg
    assert "available" in msg
    assert peak < 50 * 2**20 and elapsed < 10  # nothing allocated, no waiting
    # a non-integer subsample is refused; an integer is fine
    for bad in (2.5, "4", True, 0, np.nan):
        with pytest.raises((TypeError, ValueError), match="`subsample`"):
            atoms.get_spectra(si, region=(0.2, 0.2, 1.4, 1.4), subsample=bad)
    sp = atoms.get_spectra(si, region=(0.2, 0.2, 1.4, 1.4), subsample=2)
    n_rows = len(sp.metadata.AtomSpectra.atom_indices)
    assert 0 < n_rows <= atoms.n_atoms
    assert sp.axes_manager.navigation_shape == (n_rows,)


@pytest.mark.parametrize(
    "call, name",
    [
        (
            lambda: alignment.phase_correlation_shift(
                np.eye(64) + 1, np.eye(64) + 1, 10**7
            ),
            "upsample",
        ),
        (
            lambda: clustering.linkage_sample(
                np.ones((10**6, 2)) * np.arange(10**6)[:, None], 10**6
            ),
            "n_samples",
        ),
        (lambda: frames.label_fractions([0], [0], 10**15), "n_frames"),
        (
            lambda: nsp.cluster_mean_spectra(
                np.ones((2, 10**3)), np.ones(2), [0, 1], n_clusters=10**14
            ),
            "n_clusters",
        ),
        (lambda: nsp.rotation_trials(-180.0, 180.0, 1e-15), "step"),
        (lambda: synthetic.make_lattice_image((10**9, 10**9)), "shape"),
        (lambda: synthetic.make_drift_stack(10**9, (256, 256)), "n_frames"),
        (lambda: synthetic.lattice_positions((512, 512), 1e-6), "spacing"),
        (
            lambda: synthetic.make_spectrum_image_pair(
                (64, 64), si_shape=(8, 8), subsample=10**6
            ),
            "subsample",
        ),
        (lambda: synthetic_lattice((10**6, 10**6)), "shape"),
    ],
    ids=[
        "upsample",
        "n_samples",
        "n_frames",
        "n_clusters",
        "step",
        "shape",
        "stack",
        "spacing",
        "si-subsample",
        "data-shape",
    ],
)
def test_memory_heavy_requests_name_the_estimate(call, name):
    tracemalloc.start()
    with pytest.raises(ValueError) as info:
        call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    msg = str(info.value)
    assert f"{name}=" in msg and "needs" in msg and "available" in msg, msg
    assert peak < 200 * 2**20


def test_memory_heavy_drift_upsample_on_a_stack(clean_series):
    _raises(
        clean_series,
        ValueError,
        ["upsample=", "needs"],
        lambda s: s.estimate_drift(upsample=10**7),
    )


def test_check_memory_and_format_bytes():
    assert format_bytes(8 * 1024 * 10**8) == "763 GiB"
    check_memory(1024, "x", 1)
    with pytest.raises(ValueError, match=r"x=3 needs 7.28 TiB of memory \(why\)"):
        check_memory(8e12, "x", 3, "why")


def test_library_files_that_are_not_libraries(tmp_path, atoms):
    nb = atoms.get_neighbourhoods(4)
    lib = NeighbourhoodLibrary.from_neighbourhoods(
        nb, labels=np.zeros(len(nb.data), int)
    )
    good = tmp_path / "lib.hspy"
    lib.save(good)
    raw = good.read_bytes()
    (tmp_path / "truncated.hspy").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "text.hspy").write_text("not a library at all\n" * 10)
    (tmp_path / "text.txt").write_text("not a library")
    (tmp_path / "empty.zspy").write_bytes(b"")
    for name in ("truncated.hspy", "text.hspy", "text.txt", "empty.zspy"):
        with pytest.raises(ValueError) as info:
            NeighbourhoodLibrary.load(tmp_path / name)
        msg = str(info.value)
        assert name in msg and "not a readable localcryst library" in msg, msg
    with pytest.raises(ValueError, match="`path`.*no such library file"):
        NeighbourhoodLibrary.load(tmp_path / "missing.hspy")
    with pytest.raises(TypeError, match="`path`"):
        NeighbourhoodLibrary.load(3)
    assert NeighbourhoodLibrary.load(good).names == lib.names


@pytest.mark.parametrize(
    "value, exc",
    [
        ("a", TypeError),
        (np.nan, ValueError),
        (-1, ValueError),
        (True, TypeError),
        ([3], TypeError),
    ],
)
def test_classify_unknown_factor(atoms, value, exc):
    nb = atoms.get_neighbourhoods(4)
    lib = NeighbourhoodLibrary.from_neighbourhoods(
        nb, labels=np.zeros(len(nb.data), int)
    )
    with pytest.raises(exc, match="`unknown_factor`"):
        lib.classify(nb, unknown_factor=value)
    with pytest.raises(exc, match="`unknown_distance`"):
        lib.classify(nb, unknown_distance=value)
    with pytest.raises(ValueError, match="`method`"):
        lib.classify(nb, method=["centroid"])


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("offset", [np.nan, np.inf, -np.inf])
def test_non_finite_axis_offset_is_refused_at_the_boundary(image, atoms, axis, offset):
    image.axes_manager.signal_axes[axis].offset = offset
    name = repr(image.axes_manager.signal_axes[axis].name)
    for call in (
        lambda s: s.find_atoms(),
        lambda s: s.refine_atoms(atoms),
        lambda s: s.estimate_separation(),
    ):
        info = _raises(image, ValueError, [name, "offset"], call)
        assert "another image grid" not in str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.find_atoms(),
        lambda s: s.estimate_separation(),
        lambda s: s.refine_atoms(),
        lambda s: s.normalise_contrast(),
        lambda s: s.denoise(),
        lambda s: s.remove_background(sigma=0.5),
        lambda s: s.plot_atoms(None),
    ],
    ids=["find", "separation", "refine", "normalise", "denoise", "background", "plot"],
)
@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
def test_complex_signal_set_to_atomic_image_gives_type_error(call, lazy):
    c = hs.signals.Signal2D(np.ones((32, 32)) + 1j * np.ones((32, 32)))
    c.set_signal_type("atomic_image")
    if lazy:
        c = c.as_lazy()
    assert type(c).__name__ == (
        "LazyComplexAtomicImage" if lazy else "ComplexAtomicImage"
    )
    with pytest.raises(TypeError, match="needs real numbers.*complex.*amplitude"):
        call(c)
    assert type(c.amplitude).__name__.endswith("AtomicImage")


def test_complex_signal_in_the_report(tmp_path):
    c = hs.signals.Signal2D(np.ones((32, 32)) * (1 + 1j))
    c.set_signal_type("atomic_image")
    with pytest.raises(TypeError, match="`signal`.*complex"):
        report.analyse(c, tmp_path)


# ================================== point 6: the classes of the sweep
NAN = float("nan")


@pytest.mark.parametrize(
    "call, exc, name",
    [
        # NaN / inf inside tuples and sequences
        (lambda s, a: s.normalise_contrast((NAN, 99.0)), ValueError, "percentiles"),
        (
            lambda s, a: a.get_spectra(_si((8, 8)), region=(0.2, NAN, 1.4, 1.4)),
            ValueError,
            "region",
        ),
        (
            lambda s, a: a.get_spectra(
                _si((8, 8)), region=(0.2, 0.2, 1.4, 1.4), shift=(NAN, 0)
            ),
            ValueError,
            "shift",
        ),
        # wrong containers: dict / str / set where a sequence is expected
        (lambda s, a: s.normalise_contrast({1, 2}), TypeError, "percentiles"),
        (lambda s, a: a.get_spectra(_si((8, 8)), region={"l": 0}), TypeError, "region"),
        (
            lambda s, a: a.get_spectra(_si((8, 8)), region="0 0 1 1"),
            TypeError,
            "region",
        ),
        (
            lambda s, a: ssp.spectral_quantity(
                a, _si((8, 8)), window={400, 500}, region=(0.2, 0.2, 1.4, 1.4)
            ),
            TypeError,
            "window",
        ),
        (
            lambda s, a: sir.estimate_si_registration(
                a,
                s,
                s.data[:40, :40],
                _si((8, 8)),
                region=(0.2, 0.2, 1.4, 1.4),
                rotation_range={1, 2},
            ),
            TypeError,
            "rotation_range",
        ),
        # strings for numbers
        (lambda s, a: s.denoise("median", size="a"), TypeError, "size"),
        (lambda s, a: s.find_atoms(min_area="a"), TypeError, "min_area"),
        (
            lambda s, a: a.get_spectra(
                _si((8, 8)), region=(0.2, 0.2, 1.4, 1.4), radius="a"
            ),
            TypeError,
            "radius",
        ),
        (
            lambda s, a: a.get_spectra(
                _si((8, 8)), region=(0.2, 0.2, 1.4, 1.4), rotation="a"
            ),
            TypeError,
            "rotation",
        ),
        # float for int
        (lambda s, a: s.find_atoms(num_workers=2.5), ValueError, "num_workers"),
        (lambda s, a: s.refine_atoms(a, max_passes=2.0), TypeError, "max_passes"),
        # out of range
        (lambda s, a: s.find_atoms(max_area=np.inf), ValueError, "max_area"),
        (
            lambda s, a: s.find_atoms(method=["log", "template"], min_votes=3),
            ValueError,
            "min_votes",
        ),
        (lambda s, a: s.plot_atoms(a, colour_by="nope"), ValueError, "colour_by"),
        (
            lambda s, a: a.get_spectra(
                _si((8, 8)), region=(0.2, 0.2, 1.4, 1.4), max_distance=-1
            ),
            ValueError,
            "max_distance",
        ),
        # an ignored argument is still checked (size with the gaussian method)
        (lambda s, a: s.denoise(size=-1), ValueError, "size"),
    ],
)
def test_argument_classes_on_signals(image, atoms, call, exc, name):
    _raises(image, exc, f"`{name}`", lambda s: call(s, atoms))


@pytest.mark.parametrize(
    "call, exc, name",
    [
        (lambda: synthetic_lattice((64, 64), scale=NAN), ValueError, "scale"),
        (lambda: synthetic_lattice((64, 64), scale="a"), TypeError, "scale"),
        (lambda: synthetic_lattice((64, 64), units=1), TypeError, "units"),
        (lambda: synthetic_lattice((64, 64), seed="a"), TypeError, "seed"),
        (
            lambda: synthetic_lattice((64, 64), sublattice_peaks={"a": 1}),
            TypeError,
            "sublattice_peaks",
        ),
        (lambda: synthetic_lattice({64, 65}), ValueError, "shape"),
        (lambda: synthetic_lattice((64, 64), spacing="a"), TypeError, "spacing"),
        (lambda: synthetic_two_phase((64, 64), peak=NAN), ValueError, "peak"),
        (
            lambda: synthetic_two_phase((64, 64), phases=("square", NAN)),
            ValueError,
            "phases",
        ),
        (lambda: synthetic_series(2, (64, 64), drift=(NAN, 0.0)), ValueError, "drift"),
        (
            lambda: synthetic_series(2, (64, 64), frame_time=True),
            TypeError,
            "frame_time",
        ),
        (
            lambda: synthetic.render_gaussians(
                (16, 16), [4.0], [4.0], 1.0, 2.0, background=NAN
            ),
            ValueError,
            "background",
        ),
        (
            lambda: synthetic.lattice_positions((64, 64), 8.0, origin={1, 2}),
            ValueError,
            "origin",
        ),
        (
            lambda: synthetic.edge_spectrum(np.arange(10.0), 5.0, width=0),
            ValueError,
            "width",
        ),
    ],
)
def test_argument_classes_of_the_data_generators(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


@pytest.mark.parametrize(
    "call, exc, name",
    [
        (
            lambda img: finding.find_atoms(img, 16.0, threshold="high"),
            ValueError,
            "threshold",
        ),
        (lambda img: finding.find_atoms(img, "16"), TypeError, "separation"),
        (lambda img: finding.find_atoms(img, 16.0, method=1), TypeError, "method"),
        (lambda img: finding.extract_target(img, NAN, 5.0, 3), ValueError, "x="),
        (
            lambda img: finding.extract_target(img, 5.0, 5.0, 2.5),
            TypeError,
            "half_width",
        ),
        (lambda img: finding.auto_target(img, 16.0, n_max=2.5), TypeError, "n_max"),
        (
            lambda img: finding.normalised_cross_correlation(img, {"a": 1}),
            TypeError,
            "target",
        ),
        (
            lambda img: finding.consensus([{"x": [1.0], "y": [1.0]}], "9"),
            TypeError,
            "separation",
        ),
        (lambda img: finding.consensus({"x": 1}, 9.0), TypeError, "results"),
        (
            lambda img: finding.label_by_intensity([1.0, 2.0, 3.0], n_sublattices=2.5),
            TypeError,
            "n_sublattices",
        ),
        (
            lambda img: finding.label_by_intensity([1.0, 2.0, 3.0], n_sublattices=5),
            ValueError,
            "n_sublattices",
        ),
        (
            lambda img: finding.label_by_intensity([1.0, 2.0, 3.0], seed=-1),
            ValueError,
            "seed",
        ),
        (
            lambda img: refinement.refine_gaussians(img, [20.0], [20.0], 5, tol=NAN),
            ValueError,
            "tol",
        ),
        (
            lambda img: refinement.refine_gaussians(img, [20.0], [20.0], 1e9),
            ValueError,
            "radius",
        ),
        (
            lambda img: refinement.refine_gaussians(img, [20.0], [20.0], "5"),
            TypeError,
            "radius",
        ),
        (
            lambda img: refinement.refine_gaussians(img, {"a": 1}, [20.0], 5),
            TypeError,
            "`x`",
        ),
        (
            lambda img: centroids.centre_of_mass(img, [20.0], [20.0], 5, n_iter=2.5),
            TypeError,
            "n_iter",
        ),
        (
            lambda img: neighbourhoods.neighbour_vectors(
                [0, 1, 2], [0, 0, 1], n_neighbours=NAN
            ),
            ValueError,
            "n_neighbours",
        ),
        (
            lambda img: neighbourhoods.neighbour_vectors([0, 1, 2], [0, 0, 1], 100),
            ValueError,
            "n_neighbours",
        ),
        (
            lambda img: clustering.linkage_sample(
                np.random.default_rng(0).random((5, 2)), seed="a"
            ),
            TypeError,
            "seed",
        ),
        (
            lambda img: point_patterns.rasterise_nearest([1.0], [1.0], [1.0], {8, 9}),
            ValueError,
            "shape",
        ),
        (
            lambda img: point_patterns.fft_periodicity(np.ones((8, 8)), "3"),
            TypeError,
            "exclude_radius",
        ),
        (
            lambda img: frames.per_frame([0, NAN], [1.0, 2.0], 2),
            ValueError,
            "frame",
        ),
        (lambda img: frames.label_fractions([0], [0], 2.5), TypeError, "n_frames"),
        (
            lambda img: tracking.link_frames(
                [0.0], [0.0], [0], 1.0, shifts=[[NAN, NAN]]
            ),
            ValueError,
            "shifts",
        ),
        (
            lambda img: warping.scan_drift_matrix((True, False), 1.0),
            ValueError,
            "velocity",
        ),
        (lambda img: warping.warp_frame(img, cval="a"), ValueError, "cval"),
        (
            lambda img: warping.warped_mean(3, np.eye(2)[None], [(0, 0)]),
            ValueError,
            "frames",
        ),
        (lambda img: nsp.region_transform({1, 2, 3, 4}, (2, 2)), TypeError, "region"),
        (
            lambda img: nsp.si_pixel_centres(np.eye(2, 3), (2, 2), subsample=2.5),
            TypeError,
            "subsample",
        ),
        (
            lambda img: nsp.cell_weights(
                [0.0, 3.0], [0.0, 0.0], np.eye(2, 3), (1, 4), radius="a", cell="radius"
            ),
            TypeError,
            "radius",
        ),
        (
            lambda img: nsp.integrate_cells(np.ones((1, 4, 2)), "W"),
            TypeError,
            "weights",
        ),
        (
            lambda img: nsp.window_intensity(np.ones((1, 5)), np.arange(5.0), {1, 3}),
            TypeError,
            "window",
        ),
        (
            lambda img: nsp.estimate_si_rotation(
                img,
                img[:20, :20],
                nsp.region_transform((9.5, 9.5, 29.5, 29.5), (4, 4)),
                (4, 4),
                refine="no",
            ),
            TypeError,
            "refine",
        ),
        (lambda img: nsp.rotation_trials(NAN, 1.0, 1.0), ValueError, "low"),
    ],
)
def test_argument_classes_of_the_numerics(call, exc, name):
    img, _ = synthetic.make_lattice_image((64, 64), spacing=16, sigma=3, seed=0)
    with pytest.raises(exc, match=name):
        call(img)


@pytest.mark.parametrize(
    "kw, exc, name",
    [
        ({"n_neighbours": 10**6}, ValueError, "n_neighbours"),
        ({"preprocess": {"denoise": 1}}, TypeError, "preprocess"),
        ({"log": "print"}, TypeError, "log"),
        ({"out_dir": 3}, TypeError, "out_dir"),
        ({"file_format": ["hspy"]}, ValueError, "file_format"),
        ({"metric": {"angle"}}, ValueError, "metric"),
        ({"seed": 2.5}, TypeError, "seed"),
    ],
)
def test_report_arguments(tmp_path, kw, exc, name):
    s = synthetic_lattice(shape=(96, 96), spacing=16, seed=0)
    args = {"out_dir": tmp_path} | kw
    with pytest.raises(exc, match=f"`{name}`"):
        report.analyse(s, **args)


def test_library_arguments(atoms, tmp_path):
    nb = atoms.get_neighbourhoods(4)
    labels = np.zeros(len(nb.data), int)
    for kw, exc, name in (
        ({"names": "square"}, TypeError, "names"),
        ({"descriptions": {"a": 1}}, TypeError, "descriptions"),
        ({"max_training": 2.5}, TypeError, "max_training"),
        ({"seed": -1}, ValueError, "seed"),
        ({"spectra": "a"}, TypeError, "spectra"),
        ({"labels": {"a": 1}}, TypeError, "labels"),
    ):
        args = {"labels": labels} | kw
        with pytest.raises(exc, match=f"`{name}`"):
            NeighbourhoodLibrary.from_neighbourhoods(nb, **args)
    with pytest.raises(TypeError, match="`nb`"):
        NeighbourhoodLibrary.from_neighbourhoods(atoms)
    lib = NeighbourhoodLibrary.from_neighbourhoods(nb, labels=labels)
    with pytest.raises(TypeError, match="`overwrite`"):
        lib.save(tmp_path / "a.hspy", overwrite="yes")
    with pytest.raises(TypeError, match="`path`"):
        lib.save(3)


def test_shared_helpers():
    assert check_numbers([1, 2.5], "shift", 2) == (1.0, 2.5)
    with pytest.raises(TypeError, match="`shift`"):
        check_numbers("ab", "shift", 2)
    with pytest.raises(TypeError, match="`shift`"):
        check_numbers((1.0,), "shift", 2)
    with pytest.raises(ValueError, match="`shift` must hold finite"):
        check_numbers((1.0, np.inf), "shift", 2)
    with pytest.raises(ValueError, match="`clusters` = 9 is more than the 4 centres"):
        check_at_most(9, "clusters", 4, "centres")
    assert check_bool(None, "show_progressbar", allow_none=True) is None


@pytest.mark.parametrize(
    "call, exc, name",
    [
        # seeds beyond what scikit-learn takes (2**32 - 1), named, not sklearn's
        (
            lambda: finding.label_by_intensity([1.0, 2.0, 3.0], seed=10**12),
            ValueError,
            "`seed`",
        ),
        (
            lambda: estimate_separation(np.eye(32), min_separation=np.nan),
            ValueError,
            "`min_separation`",
        ),
        (
            lambda: estimate_separation(np.eye(32), min_separation="3"),
            TypeError,
            "`min_separation`",
        ),
        (lambda: clustering.cut_linkage("Z", 2), TypeError, "`Z`"),
        (lambda: modes.mode_polarity({"a": 1}), TypeError, "`factor`"),
        (
            lambda: neighbourhoods.neighbour_vectors("abc", [0, 1, 2], 1),
            TypeError,
            "`x`",
        ),
        (
            lambda: neighbourhoods.neighbour_vectors(
                [0, 1, 2, 3], [0, 0, 1, 1], 1, extent={1, 2}
            ),
            ValueError,
            "`extent`",
        ),
        (
            lambda: neighbourhoods.check_positions([0, 1], [0, 1], min_atoms=2.5),
            TypeError,
            "`min_atoms`",
        ),
        (
            lambda: neighbourhoods.rotate_vectors(np.ones((1, 1, 2)), "a"),
            TypeError,
            "`angle`",
        ),
        (
            lambda: tracking.estimate_shifts([0.0], [0.0], [0], [0], n_frames=10**15),
            ValueError,
            "n_frames=",
        ),
        (
            lambda: tracking.link_frames([0.0], [0.0], [0], True),
            ValueError,
            "`max_displacement`",
        ),
        (lambda: nsp.apply_affine({"a": 1}, [1.0], [1.0]), TypeError, "`A`"),
        (
            lambda: nsp.si_pixel_centres(
                nsp.region_transform((0, 0, 9, 9), (2, 2)), (10**9, 10**9)
            ),
            ValueError,
            "si_shape=",
        ),
        (
            lambda: synthetic.make_lattice_image((64, 64), sigma=1e15),
            ValueError,
            "sigma",
        ),
        (
            lambda: synthetic.two_phase_positions(
                (64, 64), 16.0, n_boundary_neighbours=10**12
            ),
            ValueError,
            "n_boundary_neighbours",
        ),
        (lambda: synthetic.cramer_rao_bound(100.0, 10.0, 1e15), ValueError, "sigma="),
        (
            lambda: synthetic.make_spectrum_image_pair((64, 64), site_spectra="a"),
            TypeError,
            "`site_spectra`",
        ),
        (
            lambda: synthetic.lattice_positions((64, 64), 16.0, margin=-1e15),
            ValueError,
            "margin=",
        ),
    ],
)
def test_argument_classes_found_by_the_sweep(call, exc, name):
    with pytest.raises(exc) as info:
        call()
    assert name in str(info.value), str(info.value)


def test_report_seed_beyond_the_random_state_range(tmp_path):
    s = synthetic_lattice(shape=(96, 96), spacing=16, seed=0)
    with pytest.raises(ValueError, match="`seed` must be at most"):
        report.analyse(s, tmp_path, seed=2**40)


def test_table_methods_name_the_argument(atoms):
    refined = synthetic_lattice(shape=(128, 128), spacing=20, seed=0).refine_atoms()
    with pytest.raises(ValueError, match="`n_sublattices` = 100"):
        refined.label_sublattices(100)
    nb = atoms.get_neighbourhoods(4)
    nb.cluster_analysis(n_clusters=2)
    with pytest.raises(TypeError, match="`by_cluster`"):
        nb.get_vector_histogram(by_cluster="no")
    with pytest.raises(TypeError, match="`window`"):
        nb.get_cluster_fft(window="no")


# ============================ point 6: the blind fault matrix's remaining cases
_SETTINGS1 = dict(
    metric="angle",
    n_neighbours=1,
    radius="None",
    angle_tolerance=10.0,
    distance_tolerance=0.1,
    units="nm",
)


@pytest.mark.parametrize("spread", [[-1.0], [NAN], [np.inf], [-np.inf]])
def test_library_spread_must_be_a_non_negative_finite_distance(spread):
    with pytest.raises(ValueError, match="`spread`") as info:
        NeighbourhoodLibrary(np.ones((1, 2)), ["a"], _SETTINGS1, spread=spread)
    assert "got" in str(info.value)
    lib = NeighbourhoodLibrary(np.ones((1, 2)), ["a"], _SETTINGS1, spread=[0.0])
    assert lib.spread.tolist() == [0.0]


@pytest.mark.parametrize(
    "kw, exc, name",
    [
        ({"counts": [-1]}, ValueError, "`counts`"),
        ({"counts": ["a"]}, TypeError, "`counts`"),
        ({"centroids": "ab"}, TypeError, "`centroids`"),
        ({"settings": dict(_SETTINGS1, metric="cosine")}, ValueError, "metric"),
        ({"settings": dict(_SETTINGS1, n_neighbours="1")}, TypeError, "n_neighbours"),
        ({"settings": dict(_SETTINGS1, units=3)}, TypeError, "units"),
        ({"settings": dict(_SETTINGS1, radius=-1.0)}, ValueError, "radius"),
        ({"model": {"class": "sklearn.svm.SVC"}}, TypeError, "`model`"),
        ({"spectra": np.ones((1, 4))}, TypeError, "`spectra`"),
        ({"source": 3}, TypeError, "`source`"),
    ],
)
def test_library_constructor_names_every_argument(kw, exc, name):
    args = {"centroids": np.ones((1, 2)), "names": ["a"], "settings": _SETTINGS1}
    with pytest.raises(exc) as info:
        NeighbourhoodLibrary(**(args | kw))
    assert name in str(info.value), str(info.value)


def test_infinite_drift_is_refused_not_skipped(clean_series):
    stack = np.asarray(clean_series.data)
    inf_drift = [[0.0, 0.0], [np.inf, 0.0], [0.0, 0.0], [0.0, 0.0]]
    # numerics: sum_frames refuses inf (and NaN) shifts, naming them
    with pytest.raises(ValueError, match="`shifts`"):
        warping.sum_frames(stack[:3], shifts=inf_drift[:3])
    # the signal methods: NaN means "no drift, skipped"; inf is refused
    for method in ("align_frames", "sum_frames"):
        for drift in (inf_drift, [[0.0, 0.0], [0.0, 0.0], [0.0, -np.inf], [0, 0]]):
            info = _raises(
                clean_series,
                ValueError,
                "`drift`",
                lambda s, m=method, d=drift: getattr(s, m)(drift=np.array(d)),
            )
            assert "infinite" in str(info.value) and "frame" in str(info.value)
        with pytest.warns(RuntimeWarning, match=r"Frames \[1\] have no drift"):
            getattr(clean_series, method)(
                drift=np.array([[0.0, 0.0], [NAN, NAN], [0.0, 0.0], [0.0, 0.0]])
            )


@pytest.mark.parametrize("bad", ["x", None, 3, np.zeros((4, 4, 8))])
def test_spectrum_functions_refuse_a_non_signal(atoms, bad):
    with pytest.raises(TypeError, match="`si`"):
        sir.region_from_metadata(bad)
    region = (0.2, 0.2, 1.4, 1.4)
    for call in (
        lambda: sir.si_affine(atoms.grid, bad, region),
        lambda: sir.register_atoms(atoms, bad, region),
        lambda: ssp.atom_spectra(atoms, bad, region),
        lambda: ssp.class_spectra(atoms, bad, np.zeros(atoms.n_atoms), region=region),
        lambda: ssp.spectral_quantity(atoms, bad, window=(2, 5), region=region),
    ):
        with pytest.raises(TypeError, match="`si`"):
            call()
    for call in (
        lambda: sir.register_atoms(bad, _si((8, 8)), region),
        lambda: ssp.atom_spectra(bad, _si((8, 8)), region),
    ):
        with pytest.raises(TypeError, match="`atoms`"):
            call()


@pytest.mark.parametrize(
    "grid, exc, name",
    [
        ({"x": 1, "y": 2}, TypeError, "`grid`"),
        ("grid", TypeError, "`grid`"),
        ({"x": {}, "y": {}}, TypeError, "`grid`"),
        ("scale", TypeError, "`grid['x']['scale']`"),
        ("nan", ValueError, "`grid['x']`"),
        ("size", ValueError, "`grid['x']['size']`"),
    ],
)
def test_si_affine_checks_the_grid(atoms, grid, exc, name):
    good = atoms.grid
    if grid == "scale":
        grid = {"x": dict(good["x"], scale="a"), "y": good["y"]}
    elif grid == "nan":
        grid = {"x": dict(good["x"], scale=NAN), "y": good["y"]}
    elif grid == "size":
        grid = {"x": dict(good["x"], size=np.inf), "y": good["y"]}
    with pytest.raises(exc) as info:
        sir.si_affine(grid, _si((8, 8)), (0.2, 0.2, 1.4, 1.4))
    assert name in str(info.value), str(info.value)


def _damaged_library(tmp_path, atoms, name, edit):
    nb = atoms.get_neighbourhoods(4)
    lib = NeighbourhoodLibrary.from_neighbourhoods(
        nb, labels=np.zeros(len(nb.data), int)
    )
    s = edit(lib.to_signal())
    path = tmp_path / name
    s.save(path)
    return path


def _set(key, value):
    def edit(s):
        s.metadata.set_item(f"NeighbourhoodLibrary.{key}", value)
        return s

    return edit


def _without_scaling(s):
    del s.metadata.NeighbourhoodLibrary.scaling
    return s


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda s: s.isig[0:1], "`centroids` have 1 components"),
        (_set("format_version", "one"), "`format_version` must be an integer"),
        (_set("format_version", 99), "format version 99"),
        (_set("names", ["a", "b", "c"]), "`names` has 3 entries for 1 classes"),
        (_set("spread", [-1.0]), "`spread`"),
        (_set("settings.metric", "cosine"), "metric"),
        (_set("settings.n_neighbours", "four"), "n_neighbours"),
        (_set("counts", ["x"]), "`counts`"),
        (_set("model.class", "sklearn.svm.SVC"), "`model`"),
        (_without_scaling, "lacks"),
    ],
    ids=[
        "cut-centroids",
        "version-text",
        "version-99",
        "names",
        "spread",
        "metric",
        "n_neighbours",
        "counts",
        "model",
        "missing",
    ],
)
def test_library_load_names_the_file_and_the_reason(tmp_path, atoms, edit, reason):
    path = _damaged_library(tmp_path, atoms, "damaged.hspy", edit)
    with pytest.raises(ValueError) as info:
        NeighbourhoodLibrary.load(path)
    msg = str(info.value)
    assert "damaged.hspy" in msg and "not a valid localcryst library" in msg, msg
    assert reason in msg.split("not a valid localcryst library")[1], msg
    # the same signal in memory: from_signal says where, and why
    with pytest.raises(ValueError, match="in memory is not a valid localcryst"):
        NeighbourhoodLibrary.from_signal(hs.load(path), "the library in memory")
    with pytest.raises(TypeError, match="`s`"):
        NeighbourhoodLibrary.from_signal("damaged.hspy")


@pytest.mark.parametrize(
    "kw", [{}, {"separation": 0.2}], ids=["estimated", "given-separation"]
)
@pytest.mark.parametrize(
    "target, where",
    [
        ((50.0, 50.0), "outside the image"),
        ((-0.5, 0.5), "outside the image"),
        ((0.02, 0.64), "edges"),
        ([(0.64, 0.64), (0.64, 1.26)], "edges"),
    ],
)
def test_target_position_off_the_image_names_target(kw, target, where):
    s = synthetic_lattice(shape=(128, 128), seed=0)
    info = _raises(
        s, ValueError, "`target`", lambda s: s.find_atoms(target=target, **kw)
    )
    assert where in str(info.value) and "nm" in str(info.value), str(info.value)


def test_target_position_near_the_edge_of_a_stack(clean_series):
    info = _raises(
        clean_series,
        ValueError,
        "`target`",
        lambda s: s.find_atoms(target=(0.02, 0.48)),
    )
    assert "edges" in str(info.value)
    good = _quiet(clean_series.find_atoms, target=(0.48, 0.48))
    assert good.n_atoms > 0


def test_classify_with_the_model_method_but_no_model_names_method(atoms):
    nb = atoms.get_neighbourhoods(4)
    lib = NeighbourhoodLibrary.from_neighbourhoods(
        nb, labels=np.zeros(len(nb.data), int)
    )
    with pytest.raises(ValueError, match="`method`") as info:
        lib.classify(nb, method="model")
    assert "no scikit-learn model" in str(info.value)
    with pytest.raises(TypeError, match="`nb`"):
        lib.check_compatible("nb")
    with pytest.raises(TypeError, match="`atoms`"):
        lib.get_neighbourhoods("atoms")


@pytest.mark.parametrize(
    "call, exc, name",
    [
        (lambda: synthetic_lattice(shape=(128.0, 128)), ValueError, "shape"),
        (lambda: synthetic_lattice(shape=(128,)), ValueError, "shape"),
        (lambda: synthetic_lattice(spacing=NAN), ValueError, "spacing"),
        (lambda: synthetic_lattice(sigma=-1), ValueError, "sigma"),
        (lambda: synthetic_lattice(rotation=NAN), ValueError, "rotation"),
        (
            lambda: synthetic_lattice(lattice="perovskite", sublattice_peaks=(NAN, 80)),
            ValueError,
            "sublattice_peaks",
        ),
        (
            lambda: synthetic_lattice(sublattice_peaks=(NAN, 80)),
            ValueError,
            "sublattice_peaks",
        ),
        (lambda: synthetic_lattice(displacement="x"), TypeError, "displacement"),
        (
            lambda: synthetic_lattice((64, 64), displacement=lambda x, y, s: 1.0),
            ValueError,
            "displacement",
        ),
        (
            lambda: synthetic_lattice(
                (64, 64), displacement=lambda x, y, s: (x[:2], y[:2])
            ),
            ValueError,
            "displacement",
        ),
        (lambda: synthetic_lattice(noise="salt"), ValueError, "noise"),
        (lambda: synthetic_lattice(lattice="cubic"), ValueError, "lattice"),
        (lambda: synthetic_lattice((64, 64), peak=-1.0), ValueError, "peak"),
        (
            lambda: synthetic_lattice((64, 64), background=-1.0),
            ValueError,
            "background",
        ),
        (
            lambda: synthetic_two_phase(phases=("square", "cubic")),
            ValueError,
            "phases",
        ),
        (lambda: synthetic_two_phase(phases="square"), ValueError, "phases"),
        (lambda: synthetic_two_phase(jitter=NAN), ValueError, "jitter"),
        (lambda: synthetic_two_phase(shape=(128,)), ValueError, "shape"),
        (lambda: synthetic_two_phase(sigma=-1), ValueError, "sigma"),
        (lambda: synthetic_two_phase(noise=np.zeros(2)), ValueError, "noise"),
        (lambda: synthetic_series(n_frames=2.0), ValueError, "n_frames"),
        (lambda: synthetic_series(n_frames=0), ValueError, "n_frames"),
        (lambda: synthetic_series(frame_time=0), ValueError, "frame_time"),
        (lambda: synthetic_series(drift_jitter=np.inf), ValueError, "drift_jitter"),
        (
            lambda: synthetic_series(2, (64, 64), drift_jitter=1e15),
            ValueError,
            "drift_jitter",
        ),
        (lambda: synthetic_series(2, (64, 64), jitter=1.0), TypeError, "jitter"),
        (lambda: synthetic_series(2, (64, 64), lattice="cubic"), ValueError, "lattice"),
        (
            lambda: synthetic_series(2, (64, 64), drift=(200.0, 0.0), pixel_time=0.01),
            ValueError,
            "drift",
        ),
        (
            lambda: synthetic.render_gaussians((16, 16), [1.0, 2.0], [1.0], 1.0, 1.0),
            ValueError,
            "x",
        ),
        (
            lambda: synthetic.render_gaussians((16, 16), [1.0], [1.0], 1.0, [-1.0]),
            ValueError,
            "sigma",
        ),
        (
            lambda: synthetic.cramer_rao_bound(100.0, 10.0, 2.0, n_params=np.eye(2)),
            ValueError,
            "n_params",
        ),
        (
            lambda: synthetic.make_spectrum_image_pair(
                (64, 64), si_shape=(8, 8), si_region="abcd"
            ),
            TypeError,
            "si_region",
        ),
        (
            lambda: synthetic.make_spectrum_image_pair(
                (64, 64), si_shape=(8, 8), sublattice_peaks=(NAN, 1.0)
            ),
            ValueError,
            "sublattice_peaks",
        ),
        (
            lambda: synthetic.make_spectrum_image_pair(
                (64, 64), si_shape=(8, 8), positions="abc"
            ),
            TypeError,
            "positions",
        ),
        (
            lambda: synthetic.make_spectrum_image_pair(
                (64, 64), si_shape=(8, 8), spacing=1e15
            ),
            ValueError,
            "spacing",
        ),
        (
            lambda: synthetic.make_spectrum_image_pair((64, 64), noise="gaussian"),
            ValueError,
            "noise",
        ),
    ],
)
def test_data_generators_name_the_argument_in_backticks(call, exc, name):
    with pytest.raises(exc) as info:
        call()
    assert f"`{name}`" in str(info.value), str(info.value)
