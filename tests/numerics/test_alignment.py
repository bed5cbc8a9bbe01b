"""Tests for drift measurement and frame alignment against known truth.

:func:`make_drift_stack` gives the apparent position of every atom in every
frame, so each step of :mod:`hyperspy_localcryst.numerics.alignment` is
checked against the truth it should recover.
"""

import numpy as np
import pytest

from hyperspy_localcryst.data.synthetic import make_drift_stack, render_gaussians
from hyperspy_localcryst.numerics.alignment import frame_shifts, phase_correlation_shift
from hyperspy_localcryst.numerics.warping import (
    correct_scan_drift,
    estimate_velocity,
    scan_drift_matrix,
    sum_frames,
    warp_frame,
)

# scan timing of a 128-row frame taking 90 % of the frame time
LINE_TIME = 0.9 / 128
PIXEL_TIME = LINE_TIME / 140


@pytest.fixture(scope="module")
def noisy_stack():
    """20 frames, 256 x 256, default drift and dose, Poisson noise."""
    return make_drift_stack(20, (256, 256), seed=7)


@pytest.fixture(scope="module")
def scanned_stack():
    """12 noise-free frames drifting fast enough for a visible scan shear."""
    return make_drift_stack(
        12,
        (128, 128),
        drift=(1.5, -0.8),
        line_time=LINE_TIME,
        pixel_time=PIXEL_TIME,
        noise=None,
        seed=0,
    )


def _corr(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


# ---------------------------------------------------------------------------
# make_drift_stack
# ---------------------------------------------------------------------------
def test_drift_stack_truth_is_consistent():
    stack, truth = make_drift_stack(8, (96, 128), spacing=16.0, seed=1)
    n_sites = truth["id"].size
    assert stack.shape == (8, 96, 128) and stack.dtype == np.float64
    assert truth["x"].shape == truth["y"].shape == (8, n_sites)
    assert truth["sublattice"].shape == truth["site_x"].shape == (n_sites,)
    assert np.unique(truth["id"]).size == n_sites
    np.testing.assert_array_equal(truth["shifts"][0], [0.0, 0.0])
    np.testing.assert_allclose(
        truth["shifts"], np.arange(8)[:, None] * [0.37, -0.23], atol=1e-12
    )
    np.testing.assert_allclose(truth["velocity"], [0.37, -0.23])
    np.testing.assert_allclose(truth["times"], np.arange(8.0))
    # NaN exactly where the atom is outside the pixel-centre span
    x, y = truth["x"], truth["y"]
    finite = np.isfinite(x)
    np.testing.assert_array_equal(finite, np.isfinite(y))
    assert np.all((x[finite] >= 0) & (x[finite] <= 127))
    assert np.all((y[finite] >= 0) & (y[finite] <= 95))
    assert finite.any(axis=0).all()  # every listed site is seen at least once
    # positions are not on the pixel grid
    assert np.abs(truth["site_x"] - np.round(truth["site_x"])).max() > 0.1
    # every atom moves by exactly the drift
    for k in (1, 7):
        dx = x[k] - x[0]
        dy = y[k] - y[0]
        both = np.isfinite(dx)
        assert both.sum() > 20
        np.testing.assert_allclose(dx[both], 0.37 * k, atol=1e-9)
        np.testing.assert_allclose(dy[both], -0.23 * k, atol=1e-9)


def test_drift_stack_frames_render_the_truth_positions():
    clean, truth = make_drift_stack(4, (96, 96), spacing=16.0, noise=None, seed=2)
    noisy, truth_n = make_drift_stack(4, (96, 96), spacing=16.0, seed=2)
    np.testing.assert_array_equal(truth["x"], truth_n["x"])  # noise drawn last
    assert not np.array_equal(clean, noisy)
    # Poisson noise around the noise-free frames
    assert abs(noisy.mean() - clean.mean()) < 0.02 * clean.mean()
    for k in (0, 3):
        ok = np.isfinite(truth["x"][k])
        expected = render_gaussians(
            (96, 96), truth["x"][k, ok], truth["y"][k, ok], 200.0, 3.5, 20.0
        )
        # atoms outside the frame add tails only near the edges
        inner = (slice(25, -25), slice(25, -25))
        np.testing.assert_allclose(clean[k][inner], expected[inner], atol=1e-9)
        # edge atoms have their outside neighbours' tails: frame >= listed atoms
        assert np.all(clean[k] >= expected - 1e-9)
        assert (clean[k] - expected).max() > 1.0


def test_drift_stack_jitter_is_a_random_walk():
    _, a = make_drift_stack(
        400, (32, 32), spacing=10.0, drift_jitter=0.2, noise=None, seed=3
    )
    _, b = make_drift_stack(
        400, (32, 32), spacing=10.0, drift_jitter=0.2, noise=None, seed=3
    )
    np.testing.assert_array_equal(a["shifts"], b["shifts"])
    steps = np.diff(a["shifts"], axis=0) - [0.37, -0.23]
    assert np.all(a["shifts"][0] == 0)
    assert steps.std(axis=0) == pytest.approx([0.2, 0.2], rel=0.15)
    assert np.abs(steps.mean(axis=0)).max() < 0.05


def test_drift_stack_scan_drift_shears_the_lattice(scanned_stack):
    _, truth = scanned_stack
    v = truth["velocity"]
    m = truth["scan_matrix"]
    np.testing.assert_allclose(m, scan_drift_matrix(v, LINE_TIME, PIXEL_TIME))
    # model: a = p + shift_k + v * (a_y * line_time + a_x * pixel_time)
    px, py = truth["site_x"], truth["site_y"]
    for k in (0, 11):
        ax, ay = truth["x"][k], truth["y"][k]
        ok = np.isfinite(ax)
        t = ay * LINE_TIME + ax * PIXEL_TIME
        sx, sy = truth["shifts"][k]
        np.testing.assert_allclose(ax[ok], (px + sx + v[0] * t)[ok], atol=1e-9)
        np.testing.assert_allclose(ay[ok], (py + sy + v[1] * t)[ok], atol=1e-9)
    # shear: the x displacement grows by v_x * line_time per row (1.4 px over
    # the frame), so a lattice column leans; rows are compressed by v_y
    ok = np.isfinite(truth["x"][0])
    dx = truth["x"][0, ok] - px[ok]
    slope = np.polyfit(truth["y"][0, ok], dx, 1)[0]
    assert slope == pytest.approx(1.5 * LINE_TIME, rel=0.02)
    assert dx.max() - dx.min() > 1.2
    dy = truth["y"][0, ok] - py[ok]
    assert np.polyfit(truth["y"][0, ok], dy, 1)[0] == pytest.approx(
        -0.8 * LINE_TIME, rel=0.05
    )


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_frames": 0}, "n_frames"),
        ({"n_frames": 2.5}, "n_frames"),
        ({"drift": (1.0,)}, "drift"),
        ({"drift": (np.nan, 0.0)}, "drift"),
        ({"drift_jitter": -0.1}, "drift_jitter"),
        ({"line_time": -1.0}, "line_time"),
        ({"frame_time": 0.0}, "frame_time"),
        ({"sigma": 0.0}, "sigma"),
        ({"spacing": -3.0}, "spacing"),
        ({"lattice": "cubic"}, "lattice"),
        ({"noise": "speckle"}, "noise"),
        ({"drift": (200.0, 0.0), "pixel_time": 0.01}, "drift"),
    ],
)
def test_drift_stack_bad_input(kwargs, name):
    args = {"n_frames": 2, "shape": (32, 32), "spacing": 10.0} | kwargs
    with pytest.raises(ValueError, match=name):
        make_drift_stack(**args)


# ---------------------------------------------------------------------------
# phase_correlation_shift and frame_shifts
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("noise", [None, "poisson"])
def test_phase_correlation_recovers_subpixel_shifts(noise):
    stack, truth = make_drift_stack(20, (256, 256), noise=noise, seed=11)
    found = np.array([phase_correlation_shift(stack[0], f) for f in stack])
    err = np.abs(found - truth["shifts"])
    assert err.max() < 0.05
    if noise is None:
        assert err.max() < 0.005  # the method itself is unbiased


def test_phase_correlation_sign_and_integer_shift():
    img, _ = make_drift_stack(1, (128, 128), noise=None, seed=4)
    ref = img[0]
    moved = np.roll(ref, (-3, 5), axis=(0, 1))  # content moves +5 in x, -3 in y
    dx, dy = phase_correlation_shift(ref, moved)
    assert (dx, dy) == pytest.approx((5.0, -3.0), abs=0.01)
    back = phase_correlation_shift(moved, ref)
    assert back == pytest.approx((-5.0, 3.0), abs=0.01)


def test_phase_correlation_upsample_controls_precision():
    stack, truth = make_drift_stack(6, (128, 128), noise=None, seed=5)
    coarse = np.array([phase_correlation_shift(stack[0], f, upsample=1) for f in stack])
    fine = np.array([phase_correlation_shift(stack[0], f, upsample=50) for f in stack])
    err_coarse = np.abs(coarse - truth["shifts"]).max()
    err_fine = np.abs(fine - truth["shifts"]).max()
    assert err_coarse < 0.1  # parabola on the pixel grid (smooth peak)
    assert err_fine < 0.02
    assert err_fine < err_coarse


@pytest.mark.parametrize("reference", ["first", "previous", "mean"])
def test_frame_shifts_references(noisy_stack, reference):
    stack, truth = noisy_stack
    shifts = frame_shifts(stack[:12], reference=reference)
    assert shifts.shape == (12, 2)
    np.testing.assert_array_equal(shifts[0], [0.0, 0.0])
    np.testing.assert_allclose(shifts, truth["shifts"][:12], atol=0.05)


def test_frame_shifts_previous_follows_drift_beyond_half_a_spacing():
    stack, truth = make_drift_stack(
        12, (128, 128), drift=(2.0, 1.0), drift_jitter=0.3, noise=None, seed=6
    )
    assert np.abs(truth["shifts"][-1]).max() > 10.0  # half the spacing (20 px)
    previous = frame_shifts(stack, reference="previous")
    np.testing.assert_allclose(previous, truth["shifts"], atol=0.1)
    # against frame 0 the correlation locks onto a nearer lattice vector
    first = frame_shifts(stack, reference="first")
    assert np.abs(first[-1] - truth["shifts"][-1]).max() > 5.0


def test_frame_shifts_single_frame_is_zero():
    stack, _ = make_drift_stack(1, (64, 64), spacing=16.0, seed=0)
    np.testing.assert_array_equal(frame_shifts(stack), [[0.0, 0.0]])


# ---------------------------------------------------------------------------
# scan drift
# ---------------------------------------------------------------------------
def test_scan_drift_matrix_maps_frame_start_to_apparent(scanned_stack):
    _, truth = scanned_stack
    m = scan_drift_matrix(truth["velocity"], LINE_TIME, PIXEL_TIME)
    k = 5
    q = np.column_stack([truth["site_x"], truth["site_y"]]) + truth["shifts"][k]
    a = q @ m.T
    ok = np.isfinite(truth["x"][k])
    np.testing.assert_allclose(a[ok, 0], truth["x"][k, ok], atol=1e-9)
    np.testing.assert_allclose(a[ok, 1], truth["y"][k, ok], atol=1e-9)
    np.testing.assert_array_equal(scan_drift_matrix((3.0, -2.0)), np.eye(2))


def test_correct_scan_drift_inverts_the_model(scanned_stack):
    _, truth = scanned_stack
    qx, qy = correct_scan_drift(
        truth["x"],
        truth["y"],
        truth["velocity"],
        truth["times"][:, None],
        LINE_TIME,
        PIXEL_TIME,
    )
    ok = np.isfinite(truth["x"])
    np.testing.assert_array_equal(np.isfinite(qx), ok)  # NaN stays NaN
    site_x = np.broadcast_to(truth["site_x"], qx.shape)
    site_y = np.broadcast_to(truth["site_y"], qy.shape)
    np.testing.assert_allclose(qx[ok], site_x[ok], atol=1e-9)
    np.testing.assert_allclose(qy[ok], site_y[ok], atol=1e-9)


def test_correct_scan_drift_to_frame_start_with_jitter():
    _, truth = make_drift_stack(
        6,
        (96, 96),
        spacing=16.0,
        drift_jitter=0.5,
        line_time=0.9 / 96,
        noise=None,
        seed=8,
    )
    k = 4
    qx, qy = correct_scan_drift(
        truth["x"][k], truth["y"][k], truth["velocity"], line_time=0.9 / 96
    )
    ok = np.isfinite(qx)
    np.testing.assert_allclose(qx[ok], (truth["site_x"] + truth["shifts"][k, 0])[ok])
    np.testing.assert_allclose(qy[ok], (truth["site_y"] + truth["shifts"][k, 1])[ok])


def test_estimate_velocity_exact_line_and_errors():
    t = np.array([0.0, 1.5, 3.0, 4.5])
    shifts = np.column_stack([2.0 + 0.4 * t, -1.0 - 0.25 * t])
    v, err = estimate_velocity(shifts, t)
    np.testing.assert_allclose(v, [0.4, -0.25])
    np.testing.assert_allclose(err, 0.0, atol=1e-12)
    v2, err2 = estimate_velocity(shifts[:2], t[:2])
    np.testing.assert_allclose(v2, [0.4, -0.25])
    assert np.isnan(err2).all()
    v_frames, _ = estimate_velocity(shifts)  # default: per frame index
    np.testing.assert_allclose(v_frames, [0.6, -0.375])


def test_estimate_velocity_error_matches_the_scatter():
    _, truth = make_drift_stack(30, (32, 32), spacing=10.0, frame_time=2.0, seed=9)
    rng = np.random.default_rng(9)
    t = truth["times"]
    noise = 0.05  # independent measurement errors of the shifts
    tc = t - t.mean()
    expected = noise / np.sqrt(tc @ tc)
    found = []
    for _ in range(300):
        shifts = truth["shifts"] + rng.normal(0.0, noise, truth["shifts"].shape)
        v, err = estimate_velocity(shifts, t)
        assert err == pytest.approx([expected, expected], rel=0.5)
        found.append((v - truth["velocity"]) / err)
    z = np.array(found)
    assert np.abs(z.mean(axis=0)).max() < 0.2  # unbiased
    assert z.std(axis=0) == pytest.approx([1.0, 1.0], rel=0.15)  # honest errors


def test_estimate_velocity_from_measured_shifts_of_a_scanned_stack(scanned_stack):
    stack, truth = scanned_stack
    shifts = frame_shifts(stack)
    m = truth["scan_matrix"]
    # frames differ by the apparent translation M @ shift_k
    np.testing.assert_allclose(shifts, truth["shifts"] @ m.T, atol=0.05)
    v, _ = estimate_velocity(shifts, truth["times"], LINE_TIME, PIXEL_TIME)
    np.testing.assert_allclose(v, truth["velocity"], atol=0.003)
    v_apparent, _ = estimate_velocity(shifts, truth["times"])
    assert np.abs(v_apparent - truth["velocity"]).max() > 0.003


# ---------------------------------------------------------------------------
# warp_frame and sum_frames
# ---------------------------------------------------------------------------
def test_warp_frame_translation_and_axis_order():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(20, 30))
    out = warp_frame(img, translation=(2.0, 3.0))  # output[y, x] = img[y+3, x+2]
    np.testing.assert_allclose(out[:-3, :-2], img[3:, 2:])
    assert np.isnan(out[-3:]).all() and np.isnan(out[:, -2:]).all()
    out0 = warp_frame(img, translation=(-1.0, 0.0), cval=-7.0)
    np.testing.assert_array_equal(out0[:, 0], -7.0)
    # matrix acts on (x, y): scaling x by 2 reads column 2 c of row r
    scaled = warp_frame(img, [[2.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(scaled[:, :15], img[:, ::2])
    assert np.isnan(scaled[:, 15:]).all()
    # swapping x and y transposes a square image
    sq = img[:20, :20]
    np.testing.assert_allclose(warp_frame(sq, [[0.0, 1.0], [1.0, 0.0]]), sq.T)


def test_warp_frame_subpixel_moves_atoms_back():
    _, truth = make_drift_stack(1, (64, 64), spacing=16.0, noise=None, seed=1)
    x, y = truth["x"][0], truth["y"][0]
    frame = render_gaussians((64, 64), x + 0.6, y - 0.3, 200.0, 3.5, 20.0)
    ref = render_gaussians((64, 64), x, y, 200.0, 3.5, 20.0)
    out = warp_frame(frame, translation=(0.6, -0.3), order=3)
    inner = (slice(4, -4), slice(4, -4))
    np.testing.assert_allclose(out[inner], ref[inner], atol=0.5)


def test_sum_frames_aligned_mean_is_sharp(noisy_stack):
    stack, truth = noisy_stack
    clean, _ = make_drift_stack(20, (256, 256), noise=None, seed=7)
    mean, count = sum_frames(stack, shifts=truth["shifts"])
    covered = count == 20
    aligned = _corr(mean[covered], clean[0][covered])
    assert aligned > 0.99
    naive = _corr(stack.mean(axis=0)[covered], clean[0][covered])
    assert naive < 0.9
    # averaging reduces the shot noise far below a single frame's
    single = _corr(stack[0][covered], clean[0][covered])
    assert aligned > single > naive
    # measured shifts do as well as the true ones
    measured, _ = sum_frames(stack, shifts=frame_shifts(stack))
    assert _corr(measured[covered], clean[0][covered]) > 0.99


def test_sum_frames_counts_at_the_edges():
    stack = np.random.default_rng(1).poisson(50.0, (4, 16, 20)).astype(float)
    shifts = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, -1.0], [3.0, 2.0]])
    mean, count = sum_frames(stack, shifts=shifts)
    assert count.dtype == np.int64
    np.testing.assert_array_equal(count[5, -5:], [4, 4, 3, 2, 1])
    np.testing.assert_array_equal(count[0, :3], [3, 3, 3])  # frame 2 reads y = -1
    np.testing.assert_array_equal(count[-2:, 0], [3, 3])  # frame 3 reads y >= 16
    assert count.min() == 1 and count.max() == 4
    # mean over the covering frames only
    assert mean[5, -1] == stack[0, 5, -1]
    expected = (stack[0, 5, 17] + stack[1, 5, 18] + stack[2, 4, 19]) / 3
    assert mean[5, 17] == pytest.approx(expected)
    # pixels no frame covers are NaN with count 0
    mean2, count2 = sum_frames(stack, shifts=shifts + [2.0, 0.0])
    assert np.all(count2[:, -2:] == 0) and np.isnan(mean2[:, -2:]).all()
    assert np.isfinite(mean2[count2 > 0]).all()


def test_sum_frames_without_alignment_is_the_plain_mean():
    stack = np.random.default_rng(2).normal(size=(3, 8, 9))
    mean, count = sum_frames(stack)
    np.testing.assert_allclose(mean, stack.mean(axis=0))
    np.testing.assert_array_equal(count, 3)


def test_sum_frames_with_matrices_removes_the_scan_shear(scanned_stack):
    stack, truth = scanned_stack
    shifts = frame_shifts(stack)
    v, _ = estimate_velocity(shifts, truth["times"], LINE_TIME, PIXEL_TIME)
    m = scan_drift_matrix(v, LINE_TIME, PIXEL_TIME)
    undistorted, count = sum_frames(stack, matrices=m, translations=shifts)
    sheared, _ = sum_frames(stack, shifts=shifts)
    ref = render_gaussians((128, 128), truth["site_x"], truth["site_y"], 200.0, 3.5)
    inner = (slice(25, -25), slice(25, -25))
    assert (count[inner] == 12).all()
    good = _corr(undistorted[inner], ref[inner])
    assert good > 0.999
    assert _corr(sheared[inner], ref[inner]) < good - 0.01
    # same result with one matrix per frame
    again, _ = sum_frames(
        stack, matrices=np.repeat(m[None], 12, 0), translations=shifts
    )
    np.testing.assert_array_equal(again, undistorted)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------
_IMG = np.random.default_rng(3).normal(size=(16, 16))
_STACK = np.random.default_rng(4).normal(size=(3, 16, 16))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: frame_shifts(_IMG), "stack"),
        (lambda: frame_shifts(_STACK[None]), "stack"),
        (lambda: sum_frames(_IMG), "stack"),
        (lambda: frame_shifts(_STACK, reference="median"), "reference"),
        (lambda: frame_shifts(_STACK, upsample=0), "upsample"),
        (lambda: frame_shifts(np.where(_STACK > 2, np.nan, _STACK)), "stack"),
        (lambda: frame_shifts(np.ones((2, 8, 8))), "constant"),
        (lambda: phase_correlation_shift(_IMG, _IMG, upsample=0), "upsample"),
        (lambda: phase_correlation_shift(_IMG, _IMG, upsample=2.5), "upsample"),
        (lambda: phase_correlation_shift(_IMG, _IMG[:8]), "shape"),
        (lambda: phase_correlation_shift(_STACK, _STACK), "reference"),
        (lambda: phase_correlation_shift(_IMG, np.zeros((16, 16))), "image"),
        (lambda: sum_frames(_STACK, shifts=np.zeros((2, 2))), "shifts"),
        (lambda: sum_frames(_STACK, shifts=[[0, 0], [np.nan, 0], [0, 0]]), "shifts"),
        (lambda: sum_frames(_STACK, translations=np.zeros((4, 2))), "translations"),
        (lambda: sum_frames(_STACK, matrices=np.eye(3)), "matrices"),
        (lambda: sum_frames(_STACK, shifts=np.zeros((3, 2)), translations=0), "both"),
        (lambda: sum_frames(_STACK, order=7), "order"),
        (lambda: warp_frame(_IMG, np.ones((3, 2))), "matrix"),
        (lambda: warp_frame(_IMG, translation=(np.nan, 0.0)), "translation"),
        (lambda: warp_frame(_STACK), "image"),
        (lambda: estimate_velocity(np.zeros((4, 2)), np.arange(3.0)), "frame_times"),
        (lambda: estimate_velocity(np.zeros((1, 2))), "shifts"),
        (lambda: estimate_velocity(np.zeros((4, 3))), "shifts"),
        (lambda: estimate_velocity([[0, 0], [np.nan, 1]]), "shifts"),
        (lambda: estimate_velocity(np.zeros((3, 2)), np.ones(3)), "frame_times"),
        (lambda: scan_drift_matrix((np.inf, 0.0)), "velocity"),
        (lambda: scan_drift_matrix((200.0, 0.0), pixel_time=0.01), "velocity"),
        (lambda: scan_drift_matrix((1.0, 0.0), line_time=-1.0), "line_time"),
        (lambda: correct_scan_drift([1.0, 2.0], [1.0], (0.1, 0.1)), "x and y"),
        (lambda: correct_scan_drift([1, 2], [1, 2], (0.1, 0.1), [0, 1, 2]), "frame"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_coarse_search_is_the_overlap_normalised_correlation_by_brute_force():
    """The coarse search of non-periodic frames (Padfield's masked
    correlation) against a direct computation: for every integer shift whose
    overlap holds at least a quarter of the frame, the Pearson correlation of
    the two overlapping crops (of the frames smoothed at 1 px) times the
    square root of the overlap; the best shift must be the same. Pairs of
    independent noise frames (16 x 18, not square) put the best shift
    anywhere, small overlaps included."""
    from scipy import ndimage

    from hyperspy_localcryst.numerics import alignment as al

    def crops(a, b, cx, cy):  # b is a moved by (cx, cy): b[y, x] = a[y - cy, x - cx]
        ny, nx = a.shape
        ya = slice(max(0, -cy), ny - max(0, cy))
        xa = slice(max(0, -cx), nx - max(0, cx))
        yb = slice(max(0, cy), ny + min(0, cy))
        xb = slice(max(0, cx), nx + min(0, cx))
        return a[ya, xa], b[yb, xb]

    for seed in range(8):
        rng = np.random.default_rng(seed)
        fa, fb = rng.normal(size=(16, 18)), rng.normal(size=(16, 18))
        a, b = al._Prepared(fa), al._Prepared(fb)
        assert a.vectors is None and b.vectors is None  # no lattice: coarse search
        la = ndimage.gaussian_filter(a.frame, 1.0)
        lb = ndimage.gaussian_filter(b.frame, 1.0)
        best, expected = -np.inf, None
        for cy in range(-15, 16):
            for cx in range(-17, 18):
                ca, cb = crops(la, lb, cx, cy)
                if ca.size < 0.25 * 16 * 18:
                    continue
                r = np.corrcoef(ca.ravel(), cb.ravel())[0, 1] * np.sqrt(ca.size)
                if r > best:
                    best, expected = r, (cx, cy)
        assert tuple(al._masked_ncc(a, b).astype(int)) == expected, seed


@pytest.mark.parametrize("reference", ["auto", "first", "previous", "mean"])
def test_drift_with_one_good_frame(reference):
    """Every frame but frame 2 fails (constant): frame 2 is the reference,
    its drift (0, 0), the others NaN, for every reference (``"auto"`` too,
    the default, which measures the good frames as they come)."""
    import warnings

    from hyperspy_localcryst.data import synthetic_series

    s = synthetic_series(n_frames=4, shape=(96, 96), seed=3)
    s.data[[0, 1, 3]] = 7.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drift = s.estimate_drift(reference=reference)
    assert any("failed" in str(w.message) for w in caught)
    np.testing.assert_array_equal(drift.data[2, :2], [0.0, 0.0])
    assert np.isnan(drift.data[[0, 1, 3], :2]).all()
    assert drift.metadata.Drift.reference_frame == 2


@pytest.mark.parametrize("reference", ["auto", "first", "previous", "mean"])
def test_two_frames_are_measured(reference):
    """Two frames (the fewest with a drift): the second frame's shift is
    measured against the first, (0.37, -0.23) px, whatever the reference;
    one frame gives (0, 0)."""
    stack, truth = make_drift_stack(2, (96, 128), spacing=16.0, seed=1)
    got = frame_shifts(stack, reference=reference)
    np.testing.assert_array_equal(got[0], [0.0, 0.0])
    np.testing.assert_allclose(got[1], truth["shifts"][1], atol=0.05)
    np.testing.assert_array_equal(frame_shifts(stack[:1], reference=reference), 0.0)


@pytest.mark.parametrize(
    "a, b, deg", [(9.0, 23.0, 17.0), (10.0, 25.0, 31.0), (8.0, 27.0, -12.0)]
)
def test_lattice_vectors_skip_the_collinear_peaks(a, b, deg):
    """A rotated rectangular lattice whose long side is more than twice the
    short one: the autocorrelation peaks at 2a (and 3a) come before b, on
    the line of a. The two shortest non-collinear translations are a and b,
    at right angles, not a and 2a."""
    from hyperspy_localcryst.numerics import alignment as al

    t = np.deg2rad(deg)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    j, i = np.mgrid[-20:30, -40:40]
    p = np.column_stack([a * i.ravel(), b * j.ravel()]) @ rot.T + [128.3, 120.1]
    keep = (p[:, 0] > -10) & (p[:, 0] < 266) & (p[:, 1] > -10) & (p[:, 1] < 250)
    img = render_gaussians((240, 256), p[keep, 0], p[keep, 1], np.ones(keep.sum()), 2.0)
    v = al._lattice_vectors((img - img.mean()) / img.std())
    np.testing.assert_allclose(np.hypot(*v.T), [a, b], atol=0.1)
    cos = abs(v[0] @ v[1]) / (np.hypot(*v[0]) * np.hypot(*v[1]))
    assert cos < 0.02
