"""Image series: per-frame finding/refinement through HyperSpy ``map``, lazy and
distributed stacks, failed frames, pooled neighbourhoods and per-frame signals."""

import tracemalloc
import warnings

import dask.array as da
import hyperspy.api as hs
import numpy as np
import pytest
from scipy.spatial import cKDTree

from hyperspy_localcryst.data.synthetic import lattice_positions, make_lattice_image
from hyperspy_localcryst.signals.atomic_image import AtomicImage, LazyAtomicImage

from .._helpers import match_one_to_one, near_edge

SEP = 0.22  # nm: 11 px, below both lattice spacings
# the drifting stacks' atoms (make_drift_stack): width, peak and background
SIGMA, PEAK, BACKGROUND = 3.5, 200.0, 20.0


def _stack(frames, scale=0.02, time_scale=0.5):
    s = AtomicImage(np.stack(frames))
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = scale, "nm"
    t = s.axes_manager.navigation_axes[0]
    t.name, t.units, t.scale, t.offset = "time", "s", time_scale, 10.0
    return s


# frame k of the series: (spacing px, rotation deg); frame 4 is another phase
_PHASES = [(13, 30) if k == 4 else (16, 0) for k in range(6)]


def _frames():
    """The series' frames and the truth of each (pixels)."""
    frames, truths = [], []
    for k, (spacing, rotation) in enumerate(_PHASES):
        img, truth = make_lattice_image(
            (128, 128), spacing=spacing, sigma=2.5, rotation=rotation, seed=k
        )
        frames.append(img)
        truths.append(truth)
    return frames, truths


@pytest.fixture
def series():
    """Six 128² frames of a square lattice (spacing 16 px, different noise);
    frame 4 is another phase (spacing 13 px, turned by 30°), so the frames
    differ in atom count and structure."""
    return _stack(_frames()[0])


def _assert_frame_is_the_truth(table, k, truth):
    """Frame ``k``'s atoms against its truth: every atom of the truth found
    (one to one within 0.3 spacing), and every atom found is one of the
    truth's or, at the edge, a column centred up to 4 sigma (10 px) outside
    the frame, whose tail shows there: within 0.3 spacing of where its site
    meets the frame (the square frames' edge columns sit at -0.5 and 127.5
    px)."""
    spacing, rotation = _PHASES[k]
    x, y = table.get_pixel_positions()
    truth_match, found_matched = match_one_to_one(
        truth["x"], truth["y"], x, y, 0.3 * spacing
    )
    assert np.all(truth_match >= 0), np.mean(truth_match >= 0)
    sx, sy, _ = lattice_positions((128, 128), spacing, rotation=rotation, margin=-10)
    clipped = np.column_stack([np.clip(sx, 0, 127), np.clip(sy, 0, 127)])
    d, _ = cKDTree(clipped).query(np.column_stack([x, y]))
    edge = near_edge(x, y, (128, 128), 0.5 * spacing)
    assert np.all(found_matched[~edge]), np.mean(found_matched[~edge])
    assert np.all(d[edge] < 0.3 * spacing), d[edge].max()


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
    # each frame's atoms are its truth's (the other phase has more of them)
    for k, truth in enumerate(_frames()[1]):
        _assert_frame_is_the_truth(atoms.get_frame(k), k, truth)
        assert counts[k] >= len(truth["x"])
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


@pytest.mark.parametrize("lazy", [False, True])
def test_a_one_frame_stack_is_found_and_refined_as_its_frame(series, lazy):
    """A stack with one frame (a file with a navigation axis of length 1):
    HyperSpy's map hands its per-frame seeds over wrapped in a 0-d array,
    which refine_atoms refused ("Every frame failed"); now its table is the
    frame's own, with the frame column."""
    one = series.inav[2:3]
    assert one.axes_manager.navigation_shape == (1,)
    if lazy:
        one = one.as_lazy()
    atoms = one.find_atoms(separation=SEP, show_progressbar=False)
    refined = _quiet(one.refine_atoms, atoms, show_progressbar=False)
    frame = series.inav[2]
    want = _quiet(frame.refine_atoms, frame.find_atoms(separation=SEP))
    assert refined.n_atoms == want.n_atoms
    np.testing.assert_allclose(refined.get_column("x"), want.get_column("x"), atol=1e-9)
    np.testing.assert_allclose(refined.get_column("y"), want.get_column("y"), atol=1e-9)
    assert set(refined.get_column("frame").tolist()) == {0}


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
    # the other frames were fitted: every atom but the columns cut by the
    # image edge (centred half a pixel outside, see _assert_frame_is_the_truth)
    f0 = refined.get_frame(0)
    xp, yp = f0.get_pixel_positions()
    inside = ~near_edge(xp, yp, (128, 128), 1.0)
    assert np.all(f0.get_column("converged")[inside] == 1)
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
    peak memory stays far below the size of the whole stack (a frame's working
    memory, detection included, is about 30 frames' worth on 2 workers)."""
    n, size = 240, 256
    made = []

    def frame(block_info=None):
        k = block_info[None]["chunk-location"][0]
        made.append(k)
        img, _ = make_lattice_image((size, size), spacing=16, sigma=3, seed=k)
        return img[None]

    data = da.map_blocks(frame, chunks=((1,) * n, (size,), (size,)), dtype=float)
    s = LazyAtomicImage(data)
    stack_bytes = n * size * size * 8
    # one-time allocations (compiled kernels, caches) are not the stack's
    warm, _ = make_lattice_image((size, size), spacing=16, sigma=3, seed=n)
    AtomicImage(warm).find_atoms(separation=16)
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
    # every atom converges but the columns cut by the frame's edge
    xp, yp = refined.get_pixel_positions()
    assert np.all(ok[~near_edge(xp, yp, (128, 128), 1.0)])
    assert np.all(np.isfinite(refined.get_column("x_err")[ok]))


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
    from hyperspy_localcryst.data.synthetic import make_drift_stack

    stack, truth = make_drift_stack(
        n_frames=20,
        shape=(384, 384),
        spacing=20,
        drift_jitter=0.1,
        sigma=SIGMA,
        peak=PEAK,
        background=BACKGROUND,
        seed=3,
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
    # the reported standard errors describe the actual errors: the RMS of
    # error / standard error is 1 within the sampling scatter of 38 values
    # (3 x 1 / sqrt(2 x 38) = 0.34; measured 0.99), no error beyond 4 of them
    z = (measured[1:] - truth["shifts"][1:]) / drift.data[1:, 2:]
    assert 0.66 <= np.sqrt(np.mean(z**2)) <= 1.34, z
    assert np.abs(z).max() <= 4, z


def test_tracking_links_99_percent_correctly(drifting):
    _, truth, atoms = drifting
    ids, dist = _truth_id(atoms, truth)
    track, frame = atoms.get_column("track").astype(int), atoms.get_frames()
    order = np.lexsort((frame, track))
    same_track = np.diff(track[order]) == 0
    same_site = np.diff(ids[order]) == 0
    # true links: a site inside the image in two consecutive frames (more are
    # found: columns centred just outside the frame are found and linked too)
    inside = np.isfinite(truth["x"])
    true_links = np.sum(inside[1:] & inside[:-1])
    assert np.sum(same_track & same_site) >= 0.98 * true_links
    assert np.mean(same_site[same_track]) >= 0.99
    traj = atoms.get_trajectories()
    assert traj.axes_manager.navigation_shape == (int(track.max()) + 1,)
    d = atoms.get_displacements(0, 19)
    np.testing.assert_allclose(
        np.median(d.get_column("dx")), truth["shifts"][19, 0], atol=0.05
    )


def test_per_frame_precision_near_cramer_rao(drifting):
    from hyperspy_localcryst.data.synthetic import cramer_rao_bound

    s, truth, atoms = drifting
    ids, dist = _truth_id(atoms, truth)
    x, y = atoms.get_column("x"), atoms.get_column("y")
    f = atoms.get_frames()
    tx, ty = truth["x"][f, ids], truth["y"][f, ids]
    inside = (tx > 15) & (tx < 368) & (ty > 15) & (ty < 368)
    ok = inside & (atoms.get_column("converged") == 1) & (dist < 3)
    assert ok.sum() > 0.95 * inside.sum()
    # default fitting window: half the nearest-neighbour distance, 10 px
    crb = cramer_rao_bound(PEAK, BACKGROUND, SIGMA, window_radius=10)
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
    from hyperspy_localcryst.data.synthetic import make_drift_stack

    frames, truth = make_drift_stack(
        n_frames=10,
        shape=(256, 256),
        drift=(0.8, -0.5),
        pixel_time=0.001,
        line_time=0.256,
        frame_time=65.536,
        sigma=SIGMA,
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
    # the crop keeps what every frame covers: the image less the span of the
    # true shifts (7.2 x 4.5 px), rounded up to whole pixels (one more for
    # the drift during the scan, under a pixel per frame)
    span_x, span_y = np.ptp(truth["shifts"], axis=0)
    ny, nx = mean.data.shape
    assert 256 - np.ceil(span_x) - 1 <= nx <= 256 - np.floor(span_x)
    assert 256 - np.ceil(span_y) - 1 <= ny <= 256 - np.floor(span_y)
    assert mean.metadata.Alignment.n_frames == 10
    assert abs(_width(mean) - SIGMA) < 0.05
    assert _width(naive) > SIGMA + 0.3
    for model, kw in (
        ("scan", {"pixel_time": 0.001, "line_time": 0.256, "frame_time": 65.536}),
        ("affine", {"atoms": s.find_atoms(show_progressbar=False)}),
    ):
        m = s.sum_frames(model=model, **kw)
        assert abs(_width(m) - SIGMA) < 0.05, model
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


def _statstem(path):
    """StatSTEM's 5-frame series as a stack in Å (the example's calibration:
    MATLAB's 1-based pixel centres, x = (column + 1) dx) and its reference
    positions (Å) and scattering cross-sections, per frame."""
    d = np.load(path)
    s = AtomicImage(np.asarray(d["frames"], dtype=np.float64))
    dx = float(d["dx_A"])
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.offset, ax.units = dx, dx, "Å"
    return s, d["coordinates_A"][..., :2], d["scattering_cross_sections"]


def test_statstem_series_matches_the_reference(real_data):
    """The example's finding and refinement (local maxima, 2 Å, Gaussian fit)
    against StatSTEM's own reference positions, frame by frame (117 columns
    each), matched one to one within 0.5 Å (4 px; the columns are 2.2-2.3 Å
    apart).

    Every found column is a reference column (precision 1). A few reference
    columns are missed (recall >= 0.98, measured 115-117 of 117): the
    faintest columns on the particle's surface, with the lowest scattering
    cross-sections of the frame (0.006-0.037 against a median of 0.17: one
    or two atoms), which make no local maximum of their own in the lightly
    smoothed frame (on the flank of a brighter neighbour 2.2 Å away; a zero
    threshold does not find them either). Every column brighter than a
    quarter of the frame's median cross-section is found. Both position sets
    are fits of the same noisy frames: they agree to a median of 0.03-0.04 Å
    (bound 0.1 Å)."""
    s, reference, cross = _statstem(real_data("statstem_HMM_example_timeseries.npz"))
    # as in the example: low dose, columns at 2-5 sigma, every maximum kept
    atoms = s.find_atoms(
        method="local_max",
        separation=2.0,
        min_significance=None,
        show_progressbar=False,
    )
    refined = _quiet(s.refine_atoms, atoms, show_progressbar=False)
    x, y, frame = refined.get_column("x"), refined.get_column("y"), refined.get_frames()
    assert refined.n_frames == len(reference)
    for k, ref in enumerate(reference):
        sel = frame == k
        truth_match, found_matched = match_one_to_one(
            ref[:, 0], ref[:, 1], x[sel], y[sel], 0.5
        )
        found = truth_match >= 0
        assert np.all(found_matched), k  # precision 1
        assert np.mean(found) >= 0.98, (k, found.sum(), len(ref))
        assert np.all(found[cross[k] >= 0.25 * np.median(cross[k])]), k
        dist = np.hypot(
            x[sel][truth_match[found]] - ref[found, 0],
            y[sel][truth_match[found]] - ref[found, 1],
        )
        assert np.median(dist) <= 0.1, (k, np.median(dist))


def test_statstem_series_example_runs_end_to_end(tmp_path, real_data):
    """The gallery example on StatSTEM's 5-frame series (tests/data copy):
    what it prints agrees with StatSTEM's reference (see the test above),
    and its atom counts (HMM over the frames on our Voronoi cross-sections)
    with those of the same HMM on StatSTEM's own cross-sections."""
    import pathlib
    import re
    import subprocess
    import sys

    script = pathlib.Path(__file__).parents[2] / "examples" / "statstem_timeseries.py"
    out = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    _, reference, _ = _statstem(real_data("statstem_HMM_example_timeseries.npz"))
    n_ref = reference.shape[1]  # 117 columns per frame
    counts = re.search(r"columns per frame: \[([\d, ]+)\]", out.stdout).group(1)
    counts = [int(c) for c in counts.split(",")]
    assert len(counts) == len(reference)
    # no column more than the reference, at most 2 % of them missed
    assert all(np.ceil(0.98 * n_ref) <= c <= n_ref for c in counts), counts
    # every found column within 0.5 Å of a reference column
    within = float(re.search(r"([\d.]+)% within 0.5 Å", out.stdout).group(1))
    assert within == 100.0, out.stdout
    # counting over the series: our Voronoi cross-sections against
    # StatSTEM's own, each counted by the same HMM
    r = float(
        re.search(r"Voronoi cross-section vs StatSTEM[^=]*= ([\d.]+)", out.stdout)[1]
    )
    assert r > 0.97, out.stdout
    m = re.search(
        r"counts \(hmm\): (\d+) states from (\d+) atoms; on StatSTEM's "
        r"cross-sections (\d+) states from (\d+); the same count for ([\d.]+)% "
        r"of the matched columns, within one for ([\d.]+)%",
        out.stdout,
    )
    assert m is not None, out.stdout
    assert m[1] == m[3] and m[2] == m[4]  # the same states and offset
    assert float(m[5]) >= 60.0 and float(m[6]) >= 99.0
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == [
        "1_frame0_atoms.png",
        "2_trajectories_drift.png",
        "3_per_frame.png",
        "4_aligned_mean.png",
        "5_count_criterion.png",
        "6_counts_frame0.png",
    ]


def test_threaded_frames_leave_the_warning_filters_alone(series):
    """The frames run in worker threads, where ``warnings.catch_warnings`` is
    not safe: threads restoring their saved filters out of order once left an
    'ignore' filter behind, and the next 'Frame 1 failed' warning was lost.
    Finding and refining a stack (edge candidates fitted in each frame) must
    leave the process's warning filters exactly as they were."""
    import warnings

    before = list(warnings.filters)
    for _ in range(3):
        atoms = series.find_atoms(separation=SEP, show_progressbar=False, num_workers=2)
        _quiet(series.refine_atoms, atoms, show_progressbar=False, num_workers=2)
    assert list(warnings.filters) == before
