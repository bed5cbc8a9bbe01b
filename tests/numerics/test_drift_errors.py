"""Reported drift uncertainties match the scatter over noise realisations.

Issue 24, point 2, for every uncertainty other than the per-atom ``x_err`` /
``y_err`` of the refinement: the frame-shift errors of
:func:`~hyperspy_localcryst.numerics.tracking.estimate_shifts` (direct and
chained through an intermediate frame, with and without wrong links), the
velocity errors of :func:`~hyperspy_localcryst.numerics.warping.estimate_velocity`
(with and without the scan-timing conversion), and the calibrated ``dx_err`` /
``dy_err`` columns of the drift signals.

Every case is anisotropic (different noise in x and y, different true shifts
or velocities in x and y), so an x/y swap of the errors fails. The check: the
root mean square of the reported errors agrees with the empirical standard
deviation of (estimate - truth) within 5 % per axis, and the mean of
(estimate - truth) is within 4 standard errors of 0. With ``N`` realisations
the empirical standard deviation has a relative standard error of about
``1 / sqrt(2 N)`` (1.1 % for N = 4000), so 5 % is more than 3 of them.
"""

import numpy as np
import pytest

from hyperspy_localcryst.numerics.tracking import estimate_shifts
from hyperspy_localcryst.numerics.warping import estimate_velocity

TOL = 0.05  # issue 24: within 5 % per axis
N_REAL = 4000  # realisations: relative SE of an empirical std ~ 1.1 %
SIGMA = np.array([0.04, 0.10])  # position noise per axis (pixels), sy != sx


def _compare(deviation, reported):
    """(ratio, z) per axis: RMS(reported) / std(deviation), mean(dev) / SE.

    ``deviation`` and ``reported`` have shape ``(N, 2)``.
    """
    assert np.all(np.isfinite(reported)) and np.all(reported >= 0)
    emp = deviation.std(axis=0, ddof=1)
    rms = np.sqrt(np.mean(reported**2, axis=0))
    z = deviation.mean(axis=0) / (emp / np.sqrt(len(deviation)))
    return rms / emp, z


def _assert_honest(deviation, reported, label):
    ratio, z = _compare(deviation, reported)
    assert np.all(np.abs(ratio - 1.0) < TOL), f"{label}: reported/empirical {ratio}"
    assert np.all(np.abs(z) < 4.0), f"{label}: bias {z} standard errors"
    return ratio


# --------------------------------------------------------------- movies
def _movies(rng, n, shifts, members, n_tracks, outliers=0.0):
    """``n`` noisy realisations of a movie, generated at once.

    ``shifts``: (n_frames, 2); ``members[k]``: the tracks present in frame k
    (of ``n_tracks``, at random positions). Every position gets Gaussian
    noise ``SIGMA`` per axis; a fraction ``outliers`` of them is displaced by
    1 to 3 px in a random direction (wrong links: symmetric, so the median
    stays unbiased). Returns ``x, y`` of shape ``(n, n_atoms)`` and the flat
    ``frame, track`` shared by all realisations.
    """
    frame = np.concatenate([np.full(len(tr), k) for k, tr in enumerate(members)])
    track = np.concatenate(members).astype(np.int64)
    m = len(frame)
    base = rng.uniform(5.0, 200.0, (n, n_tracks, 2))
    p = base[:, track] + shifts[frame] + rng.normal(size=(n, m, 2)) * SIGMA
    bad = rng.random((n, m)) < outliers
    angle = rng.uniform(0.0, 2 * np.pi, bad.sum())
    p[bad] += rng.uniform(1.0, 3.0, bad.sum())[:, None] * np.column_stack(
        [np.cos(angle), np.sin(angle)]
    )
    return p[..., 0], p[..., 1], frame, track


def _shift_realisations(seed, shifts, members, n_tracks, outliers=0.0, n=N_REAL):
    rng = np.random.default_rng(seed)
    x, y, frame, track = _movies(rng, n, shifts, members, n_tracks, outliers)
    dev = np.empty((n, len(shifts), 2))
    err = np.empty_like(dev)
    for r in range(n):
        s, e = estimate_shifts(x[r], y[r], frame, track)
        dev[r] = s - shifts
        err[r] = e
    return dev, err


SHIFTS = np.array([[0.0, 0.0], [1.3, -0.7], [-2.1, 0.45]])  # dx != dy


@pytest.mark.parametrize("outliers", [0.0, 0.04], ids=["gaussian", "wrong-links"])
def test_shift_errors_match_the_scatter(outliers):
    """Direct measurement against frame 0 (80 common tracks), with and
    without wrong links: 4 % of the atoms of every frame displaced by 1-3 px,
    so about 8 % of the links are wrong (the median is robust; its error
    must be too: a plain standard deviation overstates it 3-7 times)."""
    n = 80
    members = [np.arange(n)] * 3
    dev, err = _shift_realisations(11, SHIFTS, members, n, outliers)
    assert np.all(dev[:, 0] == 0) and np.all(err[:, 0] == 0)  # the reference
    for k in (1, 2):
        _assert_honest(dev[:, k], err[:, k], f"frame {k}, outliers {outliers}")
    # the anisotropy is visible: y errors ~ 2.5 x the x errors
    ratio_yx = np.sqrt(np.mean(err[:, 1:, 1] ** 2) / np.mean(err[:, 1:, 0] ** 2))
    assert ratio_yx == pytest.approx(SIGMA[1] / SIGMA[0], rel=TOL)


def test_chained_shift_errors_match_the_scatter():
    """Frame 0 has no atoms, so frame 1 is the reference (error 0 there, NaN
    before). Frame 3 shares no track with frame 1: measured against frame 2
    (the earlier frame sharing the most tracks), its error is frame 2's
    error and the step's error in quadrature. Frame 2 holds 100 tracks shared
    with frame 1 and 120 others shared with frame 3 (so the number of links,
    not the number of atoms in a frame, sets each error); 2 % wrong
    positions."""
    a, b = np.arange(100), np.arange(100, 220)
    members = [np.arange(0), a, np.concatenate([a, b]), b]
    shifts = np.array([[0.0, 0.0], [0.0, 0.0], [1.3, -0.7], [-2.1, 0.45]])
    dev, err = _shift_realisations(12, shifts, members, 220, outliers=0.02)
    assert np.all(np.isnan(err[:, 0])) and np.all(err[:, 1] == 0)
    for k in (2, 3):
        _assert_honest(dev[:, k], err[:, k], f"chained frame {k}")
    # the chain adds variances: frame 3 scatters more than frame 2 alone
    assert np.all(dev[:, 3].std(axis=0) > 1.2 * dev[:, 2].std(axis=0))


# -------------------------------------------------------------- velocity
TIMES = np.array([0.0, 1.1, 2.0, 3.2, 3.9, 5.2])  # 6 uneven frame times
SHIFT_NOISE = np.array([0.03, 0.08])  # per axis (pixels)
LINE = 1.0 / 256


@pytest.mark.parametrize(
    "w, times, line_time, pixel_time",
    [
        ((0.3, -0.2), None, 0.0, 0.0),  # per frame index, no scan conversion
        ((0.3, -0.2), TIMES, 0.0, 0.0),
        # fast drift along y: 1 + line_time * w_y = 1.16 and 0.88, where
        # the error of v = w / (1 + p . w) is not the error of w over the
        # same factor
        ((2.0, 40.0), TIMES, LINE, LINE / 256),
        ((1.5, -30.0), TIMES, LINE, LINE / 256),
        ((60.0, 4.0), TIMES, LINE, LINE / 16),  # slow scan, fast x drift
    ],
    ids=["index", "times", "fast-y", "fast-minus-y", "fast-x"],
)
def test_velocity_errors_match_the_scatter(w, times, line_time, pixel_time):
    rng = np.random.default_rng(21)
    w = np.asarray(w)
    t = np.arange(6.0) if times is None else times
    p = np.array([pixel_time, line_time])
    f = 1.0 + p @ w
    v_true = w / f
    dev = np.empty((N_REAL, 2))
    err = np.empty_like(dev)
    noise = rng.normal(size=(N_REAL, len(t), 2)) * SHIFT_NOISE
    for r in range(N_REAL):
        shifts = np.outer(t, w) + 1.7 + noise[r]
        v, e = estimate_velocity(shifts, times, line_time, pixel_time)
        dev[r] = v - v_true
        err[r] = e
    _assert_honest(dev, err, f"velocity w={w}")
    # and against the exact first-order error (delta method with the true
    # slope): E[reported^2] is known, so the RMS is checked to 2 % (its own
    # relative SE is ~0.6 % with 4 degrees of freedom and 4000 samples)
    tc = t - t.mean()
    jac = np.eye(2) / f - np.outer(w, p) / f**2
    exact = np.sqrt(np.diag(jac @ np.diag(SHIFT_NOISE**2) @ jac.T) / (tc @ tc))
    rms = np.sqrt(np.mean(err**2, axis=0))
    np.testing.assert_allclose(rms, exact, rtol=0.02)


def test_velocity_error_is_nan_for_two_frames():
    v, e = estimate_velocity([[0.0, 0.0], [1.0, 2.0]], [0.0, 2.0], LINE, LINE / 256)
    assert np.all(np.isfinite(v)) and np.all(np.isnan(e))


# ---------------------------------------------------------- drift signals
def _atoms_table(grid, seed=3, n=60, n_frames=4):
    """An AtomPositions of a linked 4-frame stack: calibrated from known
    pixel positions (returned too, with frames and tracks)."""
    from hyperspy_localcryst.signals.atom_positions import make_atom_positions

    rng = np.random.default_rng(seed)
    shifts = np.array([[0.0, 0.0], [1.3, -0.7], [-2.1, 0.45], [0.6, 1.8]])
    members = [np.arange(n)] * n_frames
    x, y, frame, track = _movies(rng, 1, shifts, members, n, outliers=0.04)
    xp, yp = x[0] * 0.25, y[0] * 0.25  # inside the 64 x 64 image
    gx, gy = grid["x"], grid["y"]
    nav = [
        {
            "size": n_frames,
            "scale": 0.5,
            "offset": 0.0,
            "name": "time",
            "units": "s",
            "navigate": True,
        }
    ]
    atoms = make_atom_positions(
        {
            "x": gx["offset"] + gx["scale"] * xp,
            "y": gy["offset"] + gy["scale"] * yp,
            "frame": frame,
            "track": track,
        },
        {"x": "nm", "y": "nm"},
        grid,
        navigation=nav,
    )
    return atoms, (xp, yp, frame, track)


def _grid(sx, sy):
    return {
        "x": dict(size=64, scale=sx, offset=1.0, units="nm", name="x"),
        "y": dict(size=64, scale=sy, offset=-2.0, units="nm", name="y"),
    }


@pytest.mark.parametrize("sx, sy", [(0.2, 0.2), (-0.2, 0.2), (0.2, -0.2), (0.25, 0.15)])
def test_atom_drift_errors_are_pixel_errors_times_the_axis_scale(sx, sy):
    """``dx_err`` = pixel error in x x |x scale|, ``dy_err`` = pixel error in
    y x |y scale|: standard errors are never negative, whatever the sign of
    an axis' scale (HyperSpy allows flipped axes)."""
    atoms, (xp, yp, frame, track) = _atoms_table(_grid(sx, sy))
    _, err_px = estimate_shifts(xp, yp, frame, track)
    assert np.all(err_px[1:] > 0)
    drift = atoms.estimate_drift()
    assert list(drift.metadata.Signal.names) == ["dx", "dy", "dx_err", "dy_err"]
    # rtol 1e-6: pixel positions are rounded to 1e-9 px (signals._grid.to_pixels)
    np.testing.assert_allclose(drift.data[:, 2], err_px[:, 0] * abs(sx), rtol=1e-6)
    np.testing.assert_allclose(drift.data[:, 3], err_px[:, 1] * abs(sy), rtol=1e-6)


def test_image_drift_errors():
    """``AtomicImage.estimate_drift``: the ``"atoms"`` method reports the
    atoms' errors (calibrated, non-negative on a flipped axis); ``"xcorr"``
    reports none (NaN), as documented."""
    from hyperspy_localcryst.data.synthetic import make_drift_stack
    from hyperspy_localcryst.signals.atomic_image import AtomicImage

    grid = _grid(-0.2, 0.2)
    atoms, (xp, yp, frame, track) = _atoms_table(grid)
    _, err_px = estimate_shifts(xp, yp, frame, track)
    image = AtomicImage(np.zeros((4, 64, 64)))
    for axis, g in zip(image.axes_manager.signal_axes, (grid["x"], grid["y"])):
        axis.scale, axis.offset, axis.units, axis.name = (
            g["scale"],
            g["offset"],
            g["units"],
            g["name"],
        )
    nav = image.axes_manager.navigation_axes[0]
    nav.name, nav.scale, nav.units = "time", 0.5, "s"
    drift = image.estimate_drift("atoms", atoms=atoms)
    np.testing.assert_allclose(drift.data[:, 2:], err_px * 0.2, rtol=1e-6)

    frames, _ = make_drift_stack(n_frames=3, shape=(64, 64), seed=0)
    xcorr = AtomicImage(frames).estimate_drift()
    assert np.all(np.isfinite(xcorr.data[:, :2]))
    assert np.all(np.isnan(xcorr.data[:, 2:]))
