"""Image series: per-frame finding/refinement through HyperSpy ``map``, lazy and
distributed stacks, failed frames, pooled neighbourhoods and per-frame signals."""

import tracemalloc
import warnings

import dask.array as da
import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_localcryst.numerics.synthetic import make_lattice_image
from hyperspy_localcryst.signals.atomic_image import AtomicImage, LazyAtomicImage

SEP = 0.22  # nm: 11 px, below both lattice spacings


def _stack(frames, scale=0.02, time_scale=0.5):
    s = AtomicImage(np.stack(frames))
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = scale, "nm"
    t = s.axes_manager.navigation_axes[0]
    t.name, t.units, t.scale, t.offset = "time", "s", time_scale, 10.0
    return s


@pytest.fixture
def series():
    """Six 128² frames of a square lattice (spacing 16 px, different noise);
    frame 4 is another phase (spacing 13 px, turned by 30°), so the frames
    differ in atom count and structure."""
    frames = []
    for k in range(6):
        spacing, rotation = (13, 30) if k == 4 else (16, 0)
        img, _ = make_lattice_image(
            (128, 128), spacing=spacing, sigma=2.5, rotation=rotation, seed=k
        )
        frames.append(img)
    return _stack(frames)


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return func(*args, **kwargs)


def test_stack_gives_one_table_with_frames_and_coordinates(series):
    before = series.data.copy()
    atoms = series.find_atoms(separation=SEP, show_progressbar=False)
    np.testing.assert_array_equal(series.data, before)
    frame = atoms.get_column("frame")
    assert set(frame.tolist()) == set(range(6))
    counts = np.bincount(frame.astype(int))
    # the other phase has more atoms than the square frames
    assert counts[4] > counts[[0, 1, 2, 3, 5]].max() + 10
    # calibrated navigation coordinate per atom
    assert atoms.units["time"] == "s"
    np.testing.assert_allclose(atoms.get_column("time"), 10.0 + 0.5 * frame)
    # each frame's table equals a single-image run on that frame
    single = series.inav[2].find_atoms(separation=SEP)
    np.testing.assert_allclose(
        atoms.get_frame(2).get_column("x"), single.get_column("x"), atol=1e-12
    )
    assert atoms.n_frames == 6 and atoms.get_frame(2).n_atoms == single.n_atoms


def test_refine_stack_matches_frame_by_frame(series):
    atoms = series.find_atoms(separation=SEP, show_progressbar=False)
    refined = _quiet(series.refine_atoms, atoms, show_progressbar=False)
    one = _quiet(series.inav[3].refine_atoms, series.inav[3].find_atoms(separation=SEP))
    np.testing.assert_allclose(
        refined.get_frame(3).get_column("x"), one.get_column("x"), atol=1e-9
    )
    assert "time" in refined.columns and "x_err" in refined.columns


def test_lazy_equals_non_lazy_and_workers_do_not_matter(series):
    eager = series.find_atoms(separation=SEP, show_progressbar=False)
    eager = _quiet(series.refine_atoms, eager, show_progressbar=False)
    lazy = series.as_lazy()
    lazy.data = lazy.data.rechunk((2, 128, 128))
    assert isinstance(lazy, LazyAtomicImage)
    lz = lazy.find_atoms(separation=SEP, show_progressbar=False)
    lz = _quiet(lazy.refine_atoms, lz, show_progressbar=False)
    serial = series.find_atoms(separation=SEP, num_workers=1, show_progressbar=False)
    serial = _quiet(series.refine_atoms, serial, num_workers=1, show_progressbar=False)
    for other in (lz, serial):
        assert other.columns == eager.columns
        for c in ("x", "y"):
            np.testing.assert_allclose(
                other.get_column(c), eager.get_column(c), atol=1e-6 * 0.02, rtol=0
            )


def test_lazy_chunks_split_across_signal_axes(series):
    lazy = series.as_lazy()
    lazy.data = lazy.data.rechunk((1, 64, 64))
    eager = series.find_atoms(separation=SEP, show_progressbar=False)
    lz = lazy.find_atoms(separation=SEP, show_progressbar=False)
    np.testing.assert_allclose(lz.get_column("x"), eager.get_column("x"), atol=1e-12)


def test_bad_frames_are_reported_and_others_kept(series):
    s = series.deepcopy()
    s.data[1] = np.nan
    s.data[3] = 5.0  # constant
    good = series.find_atoms(separation=SEP, show_progressbar=False)
    with pytest.warns(RuntimeWarning, match=r"Frame 1 \(time=10.5 s\) failed"):
        atoms = s.find_atoms(separation=SEP, show_progressbar=False)
    assert list(atoms.metadata.AtomPositions.failed_frames) == [1, 3]
    reasons = list(atoms.metadata.AtomPositions.failed_reasons)
    assert "NaN" in reasons[0] and "constant" in reasons[1]
    assert set(atoms.get_column("frame").tolist()) == {0, 2, 4, 5}
    np.testing.assert_allclose(
        atoms.get_frame(5).get_column("x"), good.get_frame(5).get_column("x")
    )
    # refinement: the frame that fails keeps its seeds, converged = 0
    seeds = series.find_atoms(separation=SEP, show_progressbar=False)
    with pytest.warns(RuntimeWarning, match="Frame 1"):
        refined = s.refine_atoms(seeds, show_progressbar=False)
    f1 = refined.get_frame(1)
    np.testing.assert_array_equal(f1.get_column("converged"), 0)
    np.testing.assert_allclose(f1.get_column("x"), seeds.get_frame(1).get_column("x"))
    # the other frames were fitted (atoms cut by the image edge need not be)
    f0 = refined.get_frame(0)
    assert np.mean(f0.get_column("converged")) > 0.6
    assert np.any(f0.get_column("x") != seeds.get_frame(0).get_column("x"))
    # failed frames survive a copy of the table
    assert list(refined.metadata.AtomPositions.failed_frames) == [1]


def test_every_frame_bad_is_one_clear_error(series):
    s = series.deepcopy()
    s.data[:] = 0.0
    with pytest.raises(ValueError, match="Every frame failed; frame 0: .*constant"):
        s.find_atoms(separation=SEP, show_progressbar=False)


def test_frames_of_different_sizes_are_one_clear_error():
    small, large = np.ones((32, 40)), np.ones((48, 48))
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = small, large
    for data in ([small, large], ragged):
        with pytest.raises(ValueError, match=r"different sizes \(40x32, 48x48 px\)"):
            AtomicImage(data)
    assert AtomicImage([small, small]).data.shape == (2, 32, 40)


def test_in_memory_stack_is_mapped_without_a_copy(series):
    lazy = series._frames_as_lazy()
    chunk = lazy.data.dask[(lazy.data.name, 3, 0, 0)]
    assert np.shares_memory(chunk, series.data)
    np.testing.assert_array_equal(lazy.data.compute(), series.data)
    assert lazy.axes_manager.navigation_shape == series.axes_manager.navigation_shape


def test_bad_num_workers(series):
    for bad in (0, -1, 1.5, "two"):
        with pytest.raises(ValueError, match="num_workers"):
            series.find_atoms(separation=SEP, num_workers=bad)


def test_lazy_stack_is_processed_chunk_by_chunk():
    """A lazily generated stack: each frame is made when its task runs, and the
    peak memory stays far below the size of the whole stack."""
    n, size = 96, 256
    made = []

    def frame(block_info=None):
        k = block_info[None]["chunk-location"][0]
        made.append(k)
        img, _ = make_lattice_image((size, size), spacing=16, sigma=3, seed=k)
        return img[None]

    data = da.map_blocks(frame, chunks=((1,) * n, (size,), (size,)), dtype=float)
    s = LazyAtomicImage(data)
    stack_bytes = n * size * size * 8
    tracemalloc.start()
    try:
        atoms = s.find_atoms(separation=16, show_progressbar=False, num_workers=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sorted(made) == list(range(n))  # every frame made exactly once
    assert atoms.n_frames == n and set(atoms.get_frames().tolist()) == set(range(n))
    assert peak < stack_bytes / 4, (peak, stack_bytes)


def test_distributed_cluster_gives_the_same_atoms(series):
    distributed = pytest.importorskip("distributed")
    eager = series.find_atoms(separation=SEP, show_progressbar=False)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        on_cluster = series.find_atoms(separation=SEP, show_progressbar=False)
        refined = _quiet(series.refine_atoms, on_cluster, show_progressbar=False)
    np.testing.assert_array_equal(on_cluster.data, eager.data)
    ok = refined.get_column("converged") == 1
    assert ok.mean() > 0.6 and np.all(np.isfinite(refined.get_column("x_err")[ok]))


def test_pooled_neighbourhoods_and_per_frame_signals(series):
    atoms = series.find_atoms(separation=SEP, show_progressbar=False)
    nb = atoms.get_neighbourhoods(n_neighbours=4)
    centres = nb.get_centres()
    assert "time" in centres.columns and "frame" in centres.columns
    nb.cluster_analysis(n_clusters=2)
    labels = nb.get_cluster_labels(merged=True).data
    frames = centres.get_column("frame").astype(int)
    # one clustering: the other phase's frame is its own cluster, the
    # square frames share the other label
    assert len(set(labels[frames == 4])) == 1
    assert set(labels[frames != 4]) == {1 - labels[frames == 4][0]}
    fr = nb.get_cluster_fractions()
    assert fr.axes_manager.navigation_axes[0].name == "time"
    assert fr.axes_manager.navigation_axes[0].scale == 0.5
    np.testing.assert_allclose(fr.data.sum(axis=1), 1.0)
    hexa = labels[frames == 4][0]
    np.testing.assert_allclose(fr.data[4, hexa], 1.0)
    np.testing.assert_allclose(fr.data[[0, 1, 2, 3, 5], hexa], 0.0)
    # descriptor statistics per frame
    stats = nb.get_frame_statistics("invariants", "median")
    names = list(stats.metadata.Signal.names)
    bond = stats.data[:, names.index("bond_1")]
    np.testing.assert_allclose(bond[[0, 1, 2, 3, 5]], 16 * 0.02, rtol=0.02)
    np.testing.assert_allclose(bond[4], 13 * 0.02, rtol=0.02)
    count = atoms.get_frame_statistics("x", "count")
    np.testing.assert_array_equal(count.data[:, 0], np.bincount(atoms.get_frames()))
    # a cluster map per frame, on the stack's axes
    cmap = nb.get_cluster_map()
    assert cmap.axes_manager.navigation_shape == (6,)
    assert np.nanmax(cmap.inav[4].data) == np.nanmin(cmap.inav[4].data) == hexa
    one = nb.get_cluster_map(frame=4)
    np.testing.assert_array_equal(one.data, cmap.inav[4].data)


def test_stack_markers_follow_the_navigation(series):
    atoms = series.find_atoms(separation=SEP, show_progressbar=False)
    m = atoms.to_markers(colour_by="peak")
    assert m._is_iterating
    offsets = m.kwargs["offsets"]
    assert offsets.shape == (6,)
    assert len(offsets[4]) == atoms.get_frame(4).n_atoms
    # default size from distances within a frame, not across overlapping frames
    # (0.3 x the 16 px = 0.32 nm spacing; pooled frames would give ~0)
    np.testing.assert_allclose(m.kwargs["sizes"], 0.3 * 16 * 0.02, rtol=0.1)
    series.plot()
    series.add_marker(m)
    series.axes_manager.indices = (4,)


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_stack_table_round_trip(series, tmp_path, ext):
    s = series.deepcopy()
    s.data[1] = np.nan
    with pytest.warns(RuntimeWarning):
        atoms = s.find_atoms(separation=SEP, show_progressbar=False)
    atoms.save(tmp_path / f"a.{ext}")
    back = hs.load(tmp_path / f"a.{ext}")
    np.testing.assert_array_equal(back.data, atoms.data)
    assert back.columns == atoms.columns and back.units == atoms.units
    assert list(back.metadata.AtomPositions.failed_frames) == [1]
    assert back.n_frames == 6 and back.navigation[0]["name"] == "time"


# ------------------------------------------------------------------ truth
@pytest.fixture(scope="module")
def drifting():
    """20 frames of 384² px, a square lattice (20 px) drifting by a known
    (0.37, -0.23) px per frame plus a random walk, Poisson noise; found,
    refined and linked once for the tests below."""
    from hyperspy_localcryst.numerics.synthetic import make_drift_stack

    stack, truth = make_drift_stack(
        n_frames=20, shape=(384, 384), spacing=20, drift_jitter=0.1, seed=3
    )
    s = AtomicImage(stack)
    s.axes_manager.navigation_axes[0].name = "time"
    atoms = s.find_atoms(show_progressbar=False)
    refined = _quiet(s.refine_atoms, atoms, show_progressbar=False)
    return s, truth, refined.link_frames()


def _truth_id(atoms, truth):
    """Index of the true site of every found atom (nearest in its frame)."""
    from scipy.spatial import cKDTree

    x, y, f = atoms.get_column("x"), atoms.get_column("y"), atoms.get_frames()
    ids, dist = np.full(len(x), -1), np.full(len(x), np.inf)
    for k in range(truth["x"].shape[0]):
        ok = np.isfinite(truth["x"][k])
        tree = cKDTree(np.column_stack([truth["x"][k][ok], truth["y"][k][ok]]))
        sel = f == k
        d, j = tree.query(np.column_stack([x[sel], y[sel]]))
        ids[sel], dist[sel] = np.flatnonzero(ok)[j], d
    return ids, dist


def test_drift_is_measured_to_5_hundredths_of_a_pixel(drifting):
    _, truth, atoms = drifting
    drift = atoms.estimate_drift()
    assert drift.axes_manager.navigation_axes[0].name == "time"
    measured = drift.data[:, :2]  # pixels: the stack is uncalibrated
    error = np.abs(measured - truth["shifts"])
    assert error.max() < 0.05, error.max()
    assert np.all(drift.data[1:, 2:] < 0.02)  # reported standard errors


def test_tracking_links_99_percent_correctly(drifting):
    _, truth, atoms = drifting
    ids, dist = _truth_id(atoms, truth)
    track, frame = atoms.get_column("track").astype(int), atoms.get_frames()
    order = np.lexsort((frame, track))
    same_track = np.diff(track[order]) == 0
    same_site = np.diff(ids[order]) == 0
    links = same_track.sum()
    assert links > 0.9 * 19 * atoms.get_frame(0).n_atoms
    assert np.mean(same_site[same_track]) >= 0.99
    traj = atoms.get_trajectories()
    assert traj.axes_manager.navigation_shape == (int(track.max()) + 1,)
    d = atoms.get_displacements(0, 19)
    np.testing.assert_allclose(
        np.median(d.get_column("dx")), truth["shifts"][19, 0], atol=0.05
    )


def test_per_frame_precision_near_cramer_rao(drifting):
    from hyperspy_localcryst.numerics.synthetic import cramer_rao_bound

    s, truth, atoms = drifting
    ids, dist = _truth_id(atoms, truth)
    x, y = atoms.get_column("x"), atoms.get_column("y")
    f = atoms.get_frames()
    tx, ty = truth["x"][f, ids], truth["y"][f, ids]
    inside = (tx > 15) & (tx < 368) & (ty > 15) & (ty < 368)
    ok = inside & (atoms.get_column("converged") == 1) & (dist < 3)
    assert ok.sum() > 0.95 * inside.sum()
    # default fitting window: half the nearest-neighbour distance, 10 px
    crb = cramer_rao_bound(200.0, 20.0, 3.5, window_radius=10)
    ratios = []
    for k in range(20):
        sel = ok & (f == k)
        for err in (x[sel] - tx[sel], y[sel] - ty[sel]):
            ratios.append(np.sqrt(np.mean(err**2)) / crb)
    ratios = np.array(ratios)
    n_per_frame = ok.sum() / 20
    # pooled over frames within 1.05 x CRB; each frame within its own
    # sampling scatter (3 standard deviations of an RMS of n values)
    assert np.sqrt(np.mean(ratios**2)) <= 1.05, ratios
    assert ratios.max() <= 1.05 + 3 / np.sqrt(2 * n_per_frame), ratios


# ------------------------------------------------------- alignment, summing
@pytest.fixture(scope="module")
def scanned():
    """10 frames of 256², drift (0.8, -0.5) px per frame, also during the
    scan (dwell 1 ms, line 0.256 s, frame 65.5 s)."""
    from hyperspy_localcryst.numerics.synthetic import make_drift_stack

    frames, truth = make_drift_stack(
        n_frames=10,
        shape=(256, 256),
        drift=(0.8, -0.5),
        pixel_time=0.001,
        line_time=0.256,
        frame_time=65.536,
        seed=1,
    )
    return AtomicImage(frames), truth


def _width(image):
    atoms = _quiet(image.refine_atoms, image.find_atoms(separation=20))
    ok = atoms.get_column("converged") == 1
    return float(np.median(atoms.get_column("sigma_x")[ok]))


def test_estimate_drift_by_correlation_and_by_atoms(scanned):
    s, truth = scanned
    xcorr = s.estimate_drift()
    assert np.abs(xcorr.data[:, :2] - truth["shifts"]).max() < 0.05
    assert list(xcorr.metadata.Signal.names) == ["dx", "dy", "dx_err", "dy_err"]
    prev = s.estimate_drift(reference="previous")
    assert np.abs(prev.data[:, :2] - truth["shifts"]).max() < 0.1
    atoms = _quiet(s.refine_atoms, s.find_atoms(show_progressbar=False))
    by_atoms = s.estimate_drift("atoms", atoms=atoms)
    assert np.abs(by_atoms.data[:, :2] - truth["shifts"]).max() < 0.05


def test_sum_frames_is_as_sharp_as_one_frame(scanned):
    s, truth = scanned
    naive = AtomicImage(s.data.mean(axis=0))
    mean = s.sum_frames()
    assert np.all(np.isfinite(mean.data))
    assert mean.axes_manager.navigation_dimension == 0
    # the crop keeps what every frame covers: the drift is 7.2 x 4.5 px
    ny, nx = mean.data.shape
    assert 256 - 10 <= nx <= 256 - 7 and 256 - 7 <= ny <= 256 - 4
    assert mean.metadata.Alignment.n_frames == 10
    assert abs(_width(mean) - 3.5) < 0.05
    assert _width(naive) > 3.5 + 0.3
    for model, kw in (
        ("scan", {"pixel_time": 0.001, "line_time": 0.256, "frame_time": 65.536}),
        ("affine", {"atoms": s.find_atoms(show_progressbar=False)}),
    ):
        m = s.sum_frames(model=model, **kw)
        assert abs(_width(m) - 3.5) < 0.05, model
        assert m.metadata.Alignment.model == model


def test_align_frames_keeps_the_stack(scanned):
    s, truth = scanned
    aligned = s.align_frames()
    assert aligned.data.shape == s.data.shape
    assert isinstance(aligned, AtomicImage)
    # the aligned frames overlap: frame 9 now matches frame 0 where covered
    ok = np.isfinite(aligned.data[9])
    r = np.corrcoef(aligned.data[9][ok], s.data[0][ok])[0, 1]
    r_raw = np.corrcoef(s.data[9][ok], s.data[0][ok])[0, 1]
    assert r > r_raw + 0.2


def test_alignment_bad_input(scanned, series):
    s, _ = scanned
    with pytest.raises(ValueError, match="needs the scan timing"):
        s.sum_frames(model="scan")
    with pytest.raises(TypeError, match="needs `atoms`"):
        s.align_frames(model="affine")
    with pytest.raises(ValueError, match="Unknown `model`"):
        s.sum_frames(model="elastic")
    with pytest.raises(ValueError, match="Unknown `method`"):
        s.estimate_drift("phase")
    with pytest.raises(ValueError, match="needs an image stack"):
        series.inav[0].sum_frames()
    with pytest.raises(ValueError, match="NaN shifts"):
        s.sum_frames(drift=np.full((10, 2), np.nan))


def test_statstem_series_example_runs_end_to_end(tmp_path):
    """The gallery example on StatSTEM's 5-frame series (tests/data copy)."""
    import pathlib
    import subprocess
    import sys

    script = pathlib.Path(__file__).parents[1] / "examples" / "statstem_timeseries.py"
    out = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "columns per frame: [116, 115, 117, 116, 115]" in out.stdout
    assert "100.0% within 0.5 Å" in out.stdout
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == [
        "1_frame0_atoms.png",
        "2_trajectories_drift.png",
        "3_per_frame.png",
        "4_aligned_mean.png",
    ]
