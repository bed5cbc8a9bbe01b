"""Documented rules of the refinement checked exactly against numpy.

:func:`~hyperspy_localcryst.numerics.refinement.refine_gaussians` documents
its error bars as formulas of the fitted parameters and the image: the
inverse Fisher information scaled by the reduced chi-square (Poisson
weights), the HC2 sandwich (least squares), and, where neighbours reach into
a column's window, the local joint covariance ``A^-1 B A^-T`` of the column
and its overlapping neighbours (``_joint_position_variance``). Each is a
deterministic function of the reported parameters, so it is recomputed here
with dense numpy linear algebra and our own derivatives of the Gaussian
(closed form for the round model, central differences in a different
parametrisation for the elliptical one), on the window documented by
``_load_window`` (the disc of ``radius`` pixels around the pixel nearest to
the atom, clipped to the image), and compared to 1e-6 relative. The scenes
have no symmetry that would hide a wrong term: columns cut by the image
corner (the x-y terms of the Fisher matrix are not zero there) and pairs of
overlapping columns offset along both axes.

With ``tol=0`` a fit runs all ``max_iter`` Fisher-scoring steps and its
last Fisher matrix is that at the returned parameters, so the errors are
exactly those of the returned fit.

Also: ``centre_of_mass`` and ``estimate_sigma`` against brute force.
"""

import warnings

import numpy as np
import pytest

from hyperspy_localcryst.numerics import centroids
from hyperspy_localcryst.numerics.refinement import refine_gaussians

RTOL = 1e-6


# ------------------------------------------------------------- our own model
def _disc(cx, cy, radius, shape):
    """Pixels (columns, rows) of the documented fitting window."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    r = int(round(radius))
    # row offset d holds the columns |i - cx| <= floor(sqrt(r^2 - d^2))
    d = yy - cy
    ok = np.abs(d) <= r
    half = np.floor(np.sqrt(np.maximum(r * r - d * d, 0)))
    ok &= np.abs(xx - cx) <= half
    return xx[ok].astype(float), yy[ok].astype(float)


def _round_peak_and_jacobian(t, X, Y):
    """Round Gaussian peak ``A exp(-r^2 / 2 s^2)`` and its derivatives by
    ``(x0, y0, A, s)`` (closed form)."""
    x0, y0, amp, s = t[:4]
    dx, dy = X - x0, Y - y0
    r2 = dx * dx + dy * dy
    e = np.exp(-r2 / (2 * s * s))
    J = np.stack([amp * e * dx / s**2, amp * e * dy / s**2, e, amp * e * r2 / s**3])
    return amp * e, J


def _round(fit, k=0):
    return np.array(
        [fit[c][k] for c in ("x", "y", "amplitude", "sigma_x", "background")]
    )


def _scene(shape, atoms, seed, bg):
    """Poisson counts of round Gaussians ``(x, y, A, s)`` on ``bg``."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    mu = np.full(shape, float(bg))
    for x0, y0, amp, s in atoms:
        mu += amp * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * s * s))
    return np.random.default_rng(seed).poisson(mu).astype(float)


# --------------------------------------------- Poisson: chi2 * inverse Fisher
@pytest.mark.parametrize("x0, y0", [(2.3, 1.6), (25.6, 17.3)])
def test_poisson_errors_are_the_scaled_inverse_fisher_of_the_window(x0, y0):
    # a column cut by an image corner, fitted alone (max_passes=1): the
    # variances are chi2 F^-1, F = sum J J^T / mu, chi2 = sum (d - mu)^2 / mu
    # over (n - 5), on the disc of radius 5 about the nearest pixel, clipped
    shape = (20, 28)
    img = _scene(shape, [(x0, y0, 180.0, 1.7)], seed=7, bg=12.0)
    fit = refine_gaussians(
        img, [x0 + 0.4], [y0 - 0.3], 5, weights="poisson", max_passes=1, tol=0.0
    )
    assert fit["fit_status"][0] == 0
    t = _round(fit)
    # the window stays on the pixel nearest to the seed (the position at the
    # start of the pass), here one column right of the fitted position's
    X, Y = _disc(np.floor(x0 + 0.9), np.floor(y0 + 0.2), 5, shape)
    peak, Jp = _round_peak_and_jacobian(t, X, Y)
    J = np.vstack([Jp, np.ones_like(X)])
    mu = peak + t[4]
    d = img[Y.astype(int), X.astype(int)]
    F = (J / mu) @ J.T
    # the corner makes the x-y term of the Fisher matrix matter
    assert abs(F[0, 1]) > 0.01 * np.sqrt(F[0, 0] * F[1, 1])
    chi2 = np.sum((d - mu) ** 2 / mu) / (len(X) - 5)
    var = chi2 * np.diag(np.linalg.inv(F))
    assert fit["x_err"][0] == pytest.approx(np.sqrt(var[0]), rel=RTOL)
    assert fit["y_err"][0] == pytest.approx(np.sqrt(var[1]), rel=RTOL)
    # and the fit is the maximum of the Poisson likelihood on that window:
    # its score sum J (d - mu) / mu vanishes (relative to its scale)
    score = J @ ((d - mu) / mu)
    assert np.all(np.abs(score) < 1e-6 * np.sqrt(np.diag(F) * len(X)))
    # the residual column is the root-mean-square residual of the window
    assert fit["residual"][0] == pytest.approx(np.sqrt(np.mean((d - mu) ** 2)), RTOL)


def _ellipse(t, X, Y):
    """Elliptical Gaussian: ``t = (x0, y0, A, s_major, s_minor, phi, B)``."""
    x0, y0, amp, s1, s2, phi, bg = t
    c, s = np.cos(phi), np.sin(phi)
    u = (X - x0) * c + (Y - y0) * s
    v = -(X - x0) * s + (Y - y0) * c
    return bg + amp * np.exp(-0.5 * (u * u / s1**2 + v * v / s2**2))


def test_elliptical_poisson_errors_are_the_scaled_inverse_fisher():
    # an elliptical column cut by the left edge, fitted alone; the position
    # variances of chi2 F^-1 do not depend on how the shape is parametrised,
    # so F is built here by central differences in (widths, angle)
    shape = (22, 24)
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    truth = (2.2, 10.6, 150.0, 2.4, 1.5, np.radians(30.0), 10.0)
    img = np.random.default_rng(11).poisson(_ellipse(truth, xx, yy)).astype(float)
    fit = refine_gaussians(
        img,
        [2.0],
        [11.0],
        6,
        model="elliptical",
        weights="poisson",
        max_passes=1,
        tol=0.0,
        max_iter=40,
    )
    assert fit["fit_status"][0] == 0
    t = np.array(
        [
            fit["x"][0],
            fit["y"][0],
            fit["amplitude"][0],
            fit["sigma_major"][0],
            fit["sigma_minor"][0],
            np.radians(fit["orientation"][0]),
            fit["background"][0],
        ]
    )
    X, Y = _disc(np.floor(t[0] + 0.5), np.floor(t[1] + 0.5), 6, shape)
    mu = _ellipse(t, X, Y)
    J = np.empty((7, len(X)))
    for a in range(7):
        h = 1e-6 * max(abs(t[a]), 1.0)
        tp, tm = t.copy(), t.copy()
        tp[a] += h
        tm[a] -= h
        J[a] = (_ellipse(tp, X, Y) - _ellipse(tm, X, Y)) / (2 * h)
    d = img[Y.astype(int), X.astype(int)]
    F = (J / mu) @ J.T
    chi2 = np.sum((d - mu) ** 2 / mu) / (len(X) - 7)
    var = chi2 * np.diag(np.linalg.inv(F))
    assert fit["x_err"][0] == pytest.approx(np.sqrt(var[0]), rel=1e-5)
    assert fit["y_err"][0] == pytest.approx(np.sqrt(var[1]), rel=1e-5)
    # the shape columns describe one covariance matrix C = R diag(major^2,
    # minor^2) R^T (R: rotation by the orientation): its diagonal holds
    # sigma_x^2 and sigma_y^2; intensity 2 pi A major minor (the integral of
    # the peak), ellipticity major / minor, snr amplitude / residual, and the
    # orientation near the true 30 degrees
    smaj, smin = fit["sigma_major"][0], fit["sigma_minor"][0]
    c, s = np.cos(t[5]), np.sin(t[5])
    R = np.array([[c, -s], [s, c]])
    C = R @ np.diag([smaj**2, smin**2]) @ R.T
    assert np.sqrt(C[0, 0]) == pytest.approx(fit["sigma_x"][0], rel=1e-9)
    assert np.sqrt(C[1, 1]) == pytest.approx(fit["sigma_y"][0], rel=1e-9)
    assert fit["intensity"][0] == pytest.approx(2 * np.pi * t[2] * smaj * smin, 1e-12)
    assert fit["ellipticity"][0] == pytest.approx(smaj / smin, rel=1e-12)
    assert fit["snr"][0] == pytest.approx(t[2] / fit["residual"][0], rel=1e-12)
    assert fit["residual"][0] == pytest.approx(np.sqrt(np.mean((d - mu) ** 2)), 1e-6)
    assert fit["orientation"][0] == pytest.approx(30.0, abs=4.0)
    assert smaj > smin


# ------------------------------------------------- least squares: HC2 sandwich
def test_least_squares_errors_are_the_hc2_sandwich():
    # documented: F^-1 (sum_k J_k J_k^T r_k^2 / (1 - h_k)) F^-1 with
    # F = sum J J^T and h_k = J_k^T F^-1 J_k, at the fitted parameters. A
    # background-subtracted column (negative pixels) cut by the top edge
    shape = (24, 26)
    x0, y0 = 9.4, 1.7
    img = _scene(shape, [(x0, y0, 220.0, 1.9)], seed=5, bg=30.0) - 30.0
    assert img.min() < 0
    fit = refine_gaussians(img, [9.0], [2.0], 6, max_passes=1, tol=0.0, level="plane")
    assert fit["fit_status"][0] == 0
    # least squares on the image minus its least-squares plane (numpy's
    # lstsq here), the plane added back to the background
    jj, ii = np.mgrid[: shape[0], : shape[1]]
    a = np.column_stack([np.ones(img.size), ii.ravel(), jj.ravel()])
    c, gx, gy = np.linalg.lstsq(a, img.ravel(), rcond=None)[0]
    img = img - (c + gx * ii + gy * jj)
    t = _round(fit)
    t[4] -= c + gx * t[0] + gy * t[1]
    X, Y = _disc(np.floor(t[0] + 0.5), np.floor(t[1] + 0.5), 6, shape)
    peak, Jp = _round_peak_and_jacobian(t, X, Y)
    J = np.vstack([Jp, np.ones_like(X)])
    r = img[Y.astype(int), X.astype(int)] - peak - t[4]
    Finv = np.linalg.inv(J @ J.T)
    h = np.einsum("ik,ij,jk->k", J, Finv, J)
    meat = (J * (r * r / np.maximum(1 - h, 1e-3))) @ J.T
    var = np.diag(Finv @ meat @ Finv)
    assert fit["x_err"][0] == pytest.approx(np.sqrt(var[0]), rel=RTOL)
    assert fit["y_err"][0] == pytest.approx(np.sqrt(var[1]), rel=RTOL)


# ------------------------------------------- joint covariance of a column pair
def _render(params, radius, shape):
    """The rendered sum of the peaks (no background), each in the box of
    half-size ``max(ceil(4 s), radius + 1)`` about its nearest pixel."""
    out = np.zeros(shape)
    for x0, y0, amp, s in params[:, :4]:
        rr = max(int(np.ceil(4 * s)), radius + 1)
        cx, cy = int(np.floor(x0 + 0.5)), int(np.floor(y0 + 0.5))
        j0, j1 = max(cy - rr, 0), min(cy + rr + 1, shape[0])
        i0, i1 = max(cx - rr, 0), min(cx + rr + 1, shape[1])
        yy, xx = np.mgrid[j0:j1, i0:i1].astype(float)
        out[j0:j1, i0:i1] += amp * np.exp(
            -((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * s * s)
        )
    return out


def _joint_variance(img, params, radius, k, group):
    """Documented local joint covariance (Poisson) of atom ``k``'s position.

    Estimating equations ``sum_{q in W_a} w_q G_a(q) r_a(q) = 0`` of every
    atom ``a`` of the group (``G_a``: derivatives of ``a``'s peak and its
    background, ``r_a``: data minus ``a``'s background minus all peaks,
    ``w_q = 1 / (B_a + peaks)``); ``A`` = minus their derivative by all the
    group's parameters; ``u_q = sum_a w_q G_a(q)``; variance
    ``sum_q (A^-1 u_q)_x^2 mu_q chi2``.
    """
    shape = img.shape
    others = _render(params, radius, shape)
    order = [k] + [j for j in group if j != k]
    m, npar = len(order), 5
    P = m * npar
    A = np.zeros((P, P))
    wrss, n_obs = 0.0, 0
    U = {}  # pixel -> (u, mu of its first window)
    for a, atom in enumerate(order):
        pa = params[atom]
        X, Y = _disc(np.floor(pa[0] + 0.5), np.floor(pa[1] + 0.5), radius, shape)
        Xi, Yi = X.astype(int), Y.astype(int)
        mu = pa[4] + others[Yi, Xi]
        w = 1.0 / mu
        wrss += np.sum(w * (img[Yi, Xi] - mu) ** 2)
        n_obs += len(X)
        G = np.vstack([_round_peak_and_jacobian(pa, X, Y)[1], np.ones_like(X)])
        H = np.zeros((P, len(X)))  # derivative of r_a's model by every parameter
        for b, atom_b in enumerate(order):
            H[b * npar : b * npar + 4] = _round_peak_and_jacobian(params[atom_b], X, Y)[
                1
            ]
        H[a * npar + 4] = 1.0
        A[a * npar : (a + 1) * npar] += (G * w) @ H.T
        for q in range(len(X)):
            key = (Xi[q], Yi[q])
            u, mu_first = U.get(key, (np.zeros(P), mu[q]))
            u[a * npar : (a + 1) * npar] += w[q] * G[:, q]
            U[key] = (u, mu_first)
    chi2 = wrss / (n_obs - P)
    Ainv = np.linalg.inv(A)
    var = np.zeros(2)
    for u, mu_first in U.values():
        t = Ainv[:2] @ u
        var += t * t * mu_first * chi2
    return var


@pytest.mark.parametrize("seed", [3, 4])
def test_joint_position_errors_of_an_overlapping_pair(seed):
    # two columns 5.4 px apart (sigma 1.6 px, window radius 4), offset along
    # both axes, each reaching well into the other's window: both groups
    # hold both atoms, and each position error is that of the local joint
    # covariance recomputed densely here
    shape = (22, 26)
    atoms = [(10.3, 9.2, 160.0, 1.6), (15.1, 11.7, 120.0, 1.5)]
    img = _scene(shape, atoms, seed=seed, bg=15.0)
    # the pair settles: no warning at all (the only one documented is that
    # of a joint fit that has not settled)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = refine_gaussians(
            img, [10.0, 15.0], [9.0, 12.0], 4, weights="poisson", max_passes=12
        )
    assert fit["fit_status"].tolist() == [0, 0]
    params = np.array([_round(fit, k) for k in range(2)])
    for k in range(2):
        var = _joint_variance(img, params, 4, k, [0, 1])
        assert fit["x_err"][k] == pytest.approx(np.sqrt(var[0]), rel=RTOL)
        assert fit["y_err"][k] == pytest.approx(np.sqrt(var[1]), rel=RTOL)


# ----------------------------------------------------------- centre of mass
def test_centre_of_mass_iterates_the_brute_force_disc_centroid():
    # documented: the window minimum as background, the disc of `radius`
    # about the nearest pixel, re-centred n_iter times; bright counts (the
    # weight sum in the thousands), columns not on the diagonal
    rng = np.random.default_rng(21)
    yy, xx = np.mgrid[:30, :34].astype(float)
    img = 50.0 + 5.0 * rng.random((30, 34))
    img += 900.0 * np.exp(-((xx - 11.6) ** 2 + (yy - 19.3) ** 2) / 7.0)
    img += 700.0 * np.exp(-((xx - 24.2) ** 2 + (yy - 8.7) ** 2) / 5.0)
    for x0, y0 in [(11.0, 18.0), (25.0, 9.4)]:
        px, py = x0, y0
        for _ in range(3):
            cx, cy = np.floor(px + 0.5), np.floor(py + 0.5)
            disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= 25
            wgt = np.where(disc, img - img[disc].min(), 0.0)
            px, py = (wgt * xx).sum() / wgt.sum(), (wgt * yy).sum() / wgt.sum()
        gx, gy = centroids.centre_of_mass(img, [x0], [y0], 5, n_iter=3)
        assert gx[0] == pytest.approx(px, abs=1e-10)
        assert gy[0] == pytest.approx(py, abs=1e-10)


# ----------------------------------------------------------- estimate_sigma
def test_estimate_sigma_ignores_a_seed_on_a_featureless_patch():
    # the width of the columns: a seed on a flat patch has no peak (nothing
    # at half its zero amplitude above the background) and no width, so the
    # median is over the real columns only. Two columns of sigma 2.5 (half-
    # maximum area 2 pi ln2 sigma^2 ~ 27 px, counted by brute force here)
    # and three seeds on the flat patch: a zero width from each would make
    # the median of five zero (then 0.5, the floor)
    yy, xx = np.mgrid[:40, :60].astype(float)
    img = np.full((40, 60), 10.0)
    cols = [(8.0, 8.0), (20.0, 9.0)]
    for x0, y0 in cols:
        img += 100.0 * np.exp(-((xx - x0 - 0.3) ** 2 + (yy - y0) ** 2) / 12.5)
    img[:, 40:] = 10.0  # featureless right part
    areas = []
    for x0, y0 in cols:
        disc = (xx - x0) ** 2 + (yy - y0) ** 2 <= 36
        ring = disc & ((xx - x0) ** 2 + (yy - y0) ** 2 >= 25)
        bg = img[ring].mean()
        half = bg + 0.5 * (img[int(y0), int(x0)] - bg)
        areas.append(np.sum(disc & (img >= half)))
    want = np.median(np.sqrt(np.array(areas) / (2 * np.pi * np.log(2))))
    flat = [(50.0, 10.0), (52.0, 25.0), (47.0, 33.0)]
    got = centroids.estimate_sigma(
        img, [x for x, _ in cols + flat], [y for _, y in cols + flat], 6
    )
    assert got == pytest.approx(want, rel=1e-12)
    assert 2.0 < got < 3.0


@pytest.mark.parametrize("d, joint", [(7.3, True), (8.1, False)])
def test_joint_errors_only_where_a_neighbour_reaches_five_percent(d, joint):
    # documented: a neighbour enters the joint covariance where its peak
    # reaches 5 % of the column's amplitude in the column's window, i.e.
    # amp_j exp(-gap^2 / 2) / amp_k > 0.05 with gap the distance from the
    # window's rim over the neighbour's width: 0.10 at 7.3 px (joint errors),
    # 0.018 at 8.1 px (the column's own errors: chi2 F^-1 of its window with
    # the neighbour's model subtracted, whose shot noise stays in the
    # weights; the passes stop within a tenth of an error, so 1e-3)
    shape = (20, 30)
    atoms = [(10.2, 9.4, 150.0, 1.5), (10.2 + 0.9 * d, 9.4 + 0.19**0.5 * d, 150.0, 1.5)]
    img = _scene(shape, atoms, seed=1, bg=15.0)
    fit = refine_gaussians(
        img,
        [a[0] for a in atoms],
        [a[1] for a in atoms],
        4,
        weights="poisson",
        max_passes=12,
    )
    assert fit["fit_status"].tolist() == [0, 0]
    params = np.array([_round(fit, k) for k in range(2)])
    gap = (np.hypot(*(params[0, :2] - params[1, :2])) - 4) / params[1, 3]
    level = params[1, 2] * np.exp(-0.5 * gap**2) / params[0, 2]
    assert (level > 0.08) if joint else (level < 0.03)
    var_joint = _joint_variance(img, params, 4, 0, [0, 1])
    t = params[0]
    X, Y = _disc(np.floor(t[0] + 0.5), np.floor(t[1] + 0.5), 4, shape)
    peak, Jp = _round_peak_and_jacobian(t, X, Y)
    J = np.vstack([Jp, np.ones_like(X)])
    N = _render(params[1:], 4, shape)[Y.astype(int), X.astype(int)]
    mu = peak + t[4]
    tot = mu + N
    d_own = img[Y.astype(int), X.astype(int)] - N
    chi2 = np.sum((d_own - mu) ** 2 / tot) / (len(X) - 5)
    var_own = chi2 * np.diag(np.linalg.inv((J / tot) @ J.T))
    for a, c in enumerate(("x_err", "y_err")):
        if joint:
            assert fit[c][0] == pytest.approx(np.sqrt(var_joint[a]), rel=RTOL)
            assert abs(fit[c][0] / np.sqrt(var_own[a]) - 1) > 0.01
        else:
            assert fit[c][0] == pytest.approx(np.sqrt(var_own[a]), rel=1e-3)
            assert abs(fit[c][0] / np.sqrt(var_joint[a]) - 1) > 0.01


# ------------------------------------------------ invariances of the whole fit
_SWAP = {"x": "y", "y": "x", "sigma_x": "sigma_y", "sigma_y": "sigma_x"}
_SWAP.update({"x_err": "y_err", "y_err": "x_err"})


def _asym_scene():
    """An overlapping pair, a lone column cut by the left edge and one near
    the bottom-right corner, none on a diagonal: Poisson counts."""
    atoms = [
        (9.3, 12.6, 150.0, 1.6),
        (14.2, 15.1, 110.0, 1.5),
        (1.4, 24.3, 130.0, 1.7),
        (27.6, 29.2, 90.0, 1.4),
    ]
    img = _scene((32, 30), atoms, seed=17, bg=14.0)
    seeds = np.array([[9.0, 13.0], [14.0, 15.0], [1.0, 24.0], [28.0, 29.0]])
    return img, seeds


@pytest.mark.parametrize("model", ["round", "elliptical"])
@pytest.mark.parametrize("weights", ["poisson", "uniform"])
def test_transposed_image_gives_the_transposed_fit(model, weights):
    # x = column, y = row: fitting the transpose swaps x and y (and their
    # widths and errors) and mirrors the orientation about 45 degrees; every
    # other column is the same (a round column's orientation is 0). The
    # window (a disc), the rendering and the joint covariance have no
    # preferred axis, so only the order of the floating-point sums differs
    img, seeds = _asym_scene()
    kw = dict(radius=4, model=model, weights=weights, max_passes=6, warn=False)
    a = refine_gaussians(img, seeds[:, 0], seeds[:, 1], **kw)
    b = refine_gaussians(img.T.copy(), seeds[:, 1], seeds[:, 0], **kw)
    assert np.all(a["converged"] == 1)
    for c in a:
        want = a[_SWAP.get(c, c)]
        if c == "orientation" and model == "elliptical":
            want = (90.0 - want + 90.0) % 180.0 - 90.0
            got = (b[c] + 90.0) % 180.0 - 90.0
        else:
            got = b[c]
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9, err_msg=c)


def test_fit_is_equivariant_under_gain_and_shift():
    # documented: the estimate does not depend on the detector gain (scaled
    # counts: the amplitude, background, intensity and residual scale, the
    # rest stays), and positions are pixel indices (an image padded by 5
    # columns on the left and 3 rows on the top moves every column by
    # exactly (5, 3))
    img, seeds = _asym_scene()
    kw = dict(radius=4, max_passes=6, warn=False)
    a = refine_gaussians(img, seeds[:, 0], seeds[:, 1], **kw)
    g = refine_gaussians(3.7 * img, seeds[:, 0], seeds[:, 1], **kw)
    scaled = ("amplitude", "background", "intensity", "residual")
    for c in a:
        f = 3.7 if c in scaled else 1.0
        np.testing.assert_allclose(g[c], f * a[c], rtol=1e-8, err_msg=c)
    assert np.all(a["converged"] == 1)
    # the shift: the pair alone (windows and rendered peaks inside the image)
    pair = seeds[:2]
    a = refine_gaussians(img, pair[:, 0], pair[:, 1], **kw)
    pad = np.pad(img, ((3, 0), (5, 0)), mode="edge")
    s = refine_gaussians(pad, pair[:, 0] + 5, pair[:, 1] + 3, **kw)
    for c in a:
        f = {"x": 5.0, "y": 3.0}.get(c, 0.0)
        np.testing.assert_allclose(s[c], a[c] + f, rtol=1e-8, err_msg=c)
