"""Exact truth tests for the fitting numerics (issue 24, "tests that catch
wrong answers"): refinement, statistics, alignment, lattice, spectra,
tracking.

Every expected value is computed here, independently of the package: the
images are rendered from known parameters by our own point-sampled Gaussian,
the maximum-likelihood / least-squares optimum of a window is found by
scipy (root of the score, or ``least_squares``) on the window documented in
:func:`refine_gaussians` (a disc of ``radius`` pixels around the pixel
nearest to the atom, clipped to the image), and the standard errors come
from our own Fisher information (Poisson: ``chi2 * F^-1``) or sandwich
(least squares: HC2). The scenes have no symmetry (different offsets in x
and y, different widths, amplitudes and backgrounds), so a sign flip or an
x/y swap fails. The images are small (<= 48 px) so the whole file runs in a
few seconds.
"""

import numpy as np
import pytest
from scipy import optimize

from hyperspy_localcryst.numerics.refinement import (
    centre_of_mass,
    estimate_sigma,
    refine_gaussians,
)


# ---------------------------------------------------------------------------
# Our model and window
# ---------------------------------------------------------------------------
def _window(cx, cy, radius, shape):
    """Pixels (columns, rows) of the documented fitting window: the disc of
    ``radius`` around pixel (cx, cy), clipped to the image."""
    ny, nx = shape
    jj, ii = np.mgrid[cy - radius : cy + radius + 1, cx - radius : cx + radius + 1]
    inside = (ii - cx) ** 2 + (jj - cy) ** 2 <= radius * radius
    inside &= (ii >= 0) & (ii < nx) & (jj >= 0) & (jj < ny)
    return ii[inside].astype(float), jj[inside].astype(float)


def _nearest(v):
    return int(np.floor(v + 0.5))


def _round_model(t, X, Y):
    """``t = (x0, y0, A, s, B)``: value and Jacobian (n x 5)."""
    x0, y0, A, s, B = t
    dx, dy = X - x0, Y - y0
    r2 = dx * dx + dy * dy
    e = np.exp(-0.5 * r2 / s**2)
    J = np.column_stack(
        [A * e * dx / s**2, A * e * dy / s**2, e, A * e * r2 / s**3, np.ones_like(e)]
    )
    return B + A * e, J


def _ell_model(t, X, Y):
    """``t = (x0, y0, A, a, b, c, B)`` (precision matrix [[a, b], [b, c]])."""
    x0, y0, A, a, b, c, B = t
    dx, dy = X - x0, Y - y0
    e = np.exp(-0.5 * (a * dx * dx + 2 * b * dx * dy + c * dy * dy))
    ae = A * e
    J = np.column_stack(
        [
            ae * (a * dx + b * dy),
            ae * (b * dx + c * dy),
            e,
            -0.5 * ae * dx * dx,
            -ae * dx * dy,
            -0.5 * ae * dy * dy,
            np.ones_like(e),
        ]
    )
    return B + ae, J


def _precision(s_major, s_minor, angle_deg):
    th = np.radians(angle_deg)
    R = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    C = R @ np.diag([s_major**2, s_minor**2]) @ R.T
    P = np.linalg.inv(C)
    return P[0, 0], P[0, 1], P[1, 1]


def _render(shape, atoms, background):
    """Image of point-sampled Gaussians; ``atoms`` rows (x, y, A, s) round or
    (x, y, A, s_major, s_minor, angle_deg) elliptical."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    img = np.full(shape, float(background))
    for at in atoms:
        if len(at) == 4:
            img += _round_model((*at, 0.0), xx.ravel(), yy.ravel())[0].reshape(shape)
        else:
            a, b, c = _precision(*at[3:])
            t = (at[0], at[1], at[2], a, b, c, 0.0)
            img += _ell_model(t, xx.ravel(), yy.ravel())[0].reshape(shape)
    return img


def _perturb(img, level, seed):
    """A fixed, deterministic multiplicative perturbation (pseudo-noise), so
    that the optimum differs from the rendering truth and the errors are
    not zero."""
    rng = np.random.default_rng(seed)
    return img * (1.0 + level * rng.standard_normal(img.shape))


def _poisson_fit(img, t0, radius, model, seed):
    """Poisson maximum likelihood on the window of the pixel nearest to
    ``seed`` (root of the score), with the Fisher errors ``chi2 *
    diag(F^-1)``."""
    f = _round_model if model == "round" else _ell_model
    X, Y = _window(_nearest(seed[0]), _nearest(seed[1]), radius, img.shape)
    D = img[Y.astype(int), X.astype(int)]

    def score(p):
        mu, J = f(p, X, Y)
        return J.T @ ((D - mu) / mu)

    sol = optimize.root(score, np.asarray(t0, float), options={"xtol": 1e-13})
    assert sol.success
    t = sol.x
    mu, J = f(t, X, Y)
    F = (J / mu[:, None]).T @ J
    chi2 = np.sum((D - mu) ** 2 / mu) / (len(D) - len(t))
    var = chi2 * np.diag(np.linalg.inv(F))
    resid = np.sqrt(np.mean((D - mu) ** 2))
    return t, np.sqrt(var), resid


def _ls_fit(img, t0, radius, model, seed):
    """Least squares on the window of the pixel nearest to ``seed``, with the
    HC2 sandwich errors."""
    f = _round_model if model == "round" else _ell_model
    X, Y = _window(_nearest(seed[0]), _nearest(seed[1]), radius, img.shape)
    D = img[Y.astype(int), X.astype(int)]
    sol = optimize.least_squares(
        lambda p: f(p, X, Y)[0] - D,
        np.asarray(t0, float),
        jac=lambda p: f(p, X, Y)[1],
        method="lm",
        xtol=1e-15,
        ftol=1e-15,
        gtol=1e-15,
    )
    t = sol.x
    mu, J = f(t, X, Y)
    r = D - mu
    Finv = np.linalg.inv(J.T @ J)
    h = np.einsum("ij,jk,ik->i", J, Finv, J)
    meat = (J * (r**2 / np.maximum(1 - h, 1e-3))[:, None]).T @ J
    var = np.diag(Finv @ meat @ Finv)
    return t, np.sqrt(var), np.sqrt(np.mean(r**2))


def _check_round(fit, k, t, err, resid, rtol_err=1e-4, atol_pos=1e-6):
    x0, y0, A, s, B = t
    assert fit["x"][k] == pytest.approx(x0, abs=atol_pos)
    assert fit["y"][k] == pytest.approx(y0, abs=atol_pos)
    assert fit["amplitude"][k] == pytest.approx(A, rel=1e-6)
    for c in ("sigma_x", "sigma_y", "sigma_major", "sigma_minor"):
        assert fit[c][k] == pytest.approx(s, rel=1e-6)
    assert fit["ellipticity"][k] == pytest.approx(1.0, rel=1e-9)
    assert fit["orientation"][k] == 0.0
    assert fit["background"][k] == pytest.approx(B, rel=1e-6)
    assert fit["intensity"][k] == pytest.approx(2 * np.pi * A * s * s, rel=1e-6)
    assert fit["residual"][k] == pytest.approx(resid, rel=1e-4)
    assert fit["snr"][k] == pytest.approx(A / resid, rel=1e-4)
    assert fit["x_err"][k] == pytest.approx(err[0], rel=rtol_err)
    assert fit["y_err"][k] == pytest.approx(err[1], rel=rtol_err)
    assert fit["converged"][k] == 1.0
    assert fit["fit_status"][k] == 0.0


# Three isolated round columns, one near the left edge, one near the bottom
# edge (their windows clipped), different widths, amplitudes, sub-pixel
# offsets (x and y different, both signs).
_SHAPE = (40, 44)
_ROUND_ATOMS = [
    (12.27, 14.61, 230.0, 1.7),
    (2.38, 30.15, 150.0, 1.45),
    (33.83, 37.42, 310.0, 2.05),
]
_BG = 37.0


@pytest.mark.parametrize("radius", [4, 5])
@pytest.mark.parametrize("weights", ["poisson", "uniform", "auto"])
def test_round_fit_matches_independent_optimum(radius, weights):
    img = _perturb(_render(_SHAPE, _ROUND_ATOMS, _BG), 0.02, 11)
    seeds = np.array([[round(a[0]), round(a[1])] for a in _ROUND_ATOMS], float)
    fit = refine_gaussians(
        img,
        seeds[:, 0] + 0.3,
        seeds[:, 1] - 0.2,
        radius,
        weights=weights,
        max_iter=60,
        tol=1e-10,
        subtract_neighbours=False,
        max_passes=1,
    )
    fitter = _ls_fit if weights == "uniform" else _poisson_fit
    for k, (x0, y0, A, s) in enumerate(_ROUND_ATOMS):
        seed = seeds[k] + [0.3, -0.2]
        t, err, resid = fitter(img, (x0, y0, A, s, _BG), radius, "round", seed)
        _check_round(fit, k, t, err, resid)
        # and the optimum is close to the rendering truth
        assert abs(t[0] - x0) < 0.05 and abs(t[1] - y0) < 0.05


def test_round_fit_gain_and_negative_image_use_least_squares():
    """A scaled image gives the same positions and errors, scaled intensities;
    an image with negative pixels is fitted by least squares (``auto``)."""
    img = _perturb(_render(_SHAPE, _ROUND_ATOMS, _BG), 0.02, 12)
    # seeds with the same nearest pixel as the optimum (the fit's window and
    # the least-squares errors' window are then the same)
    x = np.array([a[0] for a in _ROUND_ATOMS]) - 0.2
    y = np.array([a[1] for a in _ROUND_ATOMS]) + [0.15, 0.2, -0.3]
    kw = dict(radius=5, tol=1e-10, max_iter=60, subtract_neighbours=False)
    shifted = img - 60.0  # negative background: least squares
    assert shifted.min() < 0
    fit = refine_gaussians(shifted * 3e5, x, y, **kw)
    for k, (x0, y0, A, s) in enumerate(_ROUND_ATOMS):
        t, err, resid = _ls_fit(
            shifted, (x0, y0, A, s, _BG - 60), 5, "round", (x[k], y[k])
        )
        t = t * np.array([1, 1, 3e5, 1, 3e5])
        _check_round(fit, k, t, err, resid * 3e5)


def test_elliptical_fit_matches_independent_optimum():
    atoms = [
        (13.36, 15.72, 200.0, 2.6, 1.5, 31.0),
        (31.58, 26.31, 260.0, 2.2, 1.6, -62.0),
    ]
    shape = (42, 46)
    img = _perturb(_render(shape, atoms, 25.0), 0.015, 5)
    radius = 7
    seeds = np.array([[13.0, 16.0], [32.0, 26.0]])
    for weights, fitter in (("poisson", _poisson_fit), ("uniform", _ls_fit)):
        fit = refine_gaussians(
            img,
            seeds[:, 0],
            seeds[:, 1],
            radius,
            model="elliptical",
            sigma=2.0,
            weights=weights,
            max_iter=100,
            tol=1e-10,
            subtract_neighbours=False,
        )
        for k, at in enumerate(atoms):
            a, b, c = _precision(*at[3:])
            t, err, resid = fitter(
                img, (*at[:3], a, b, c, 25.0), radius, "elliptical", seeds[k]
            )
            x0, y0, A, a, b, c, B = t
            C = np.linalg.inv([[a, b], [b, c]])
            w, v = np.linalg.eigh(C)
            angle = np.degrees(np.arctan2(v[1, 1], v[0, 1]))
            angle = (angle + 90) % 180 - 90
            assert fit["x"][k] == pytest.approx(x0, abs=1e-6)
            assert fit["y"][k] == pytest.approx(y0, abs=1e-6)
            assert fit["amplitude"][k] == pytest.approx(A, rel=1e-6)
            assert fit["background"][k] == pytest.approx(B, rel=1e-6)
            assert fit["sigma_x"][k] == pytest.approx(np.sqrt(C[0, 0]), rel=1e-6)
            assert fit["sigma_y"][k] == pytest.approx(np.sqrt(C[1, 1]), rel=1e-6)
            assert fit["sigma_major"][k] == pytest.approx(np.sqrt(w[1]), rel=1e-6)
            assert fit["sigma_minor"][k] == pytest.approx(np.sqrt(w[0]), rel=1e-6)
            assert fit["ellipticity"][k] == pytest.approx(np.sqrt(w[1] / w[0]), 1e-6)
            assert fit["orientation"][k] == pytest.approx(angle, abs=1e-4)
            assert fit["intensity"][k] == pytest.approx(
                2 * np.pi * A * np.sqrt(w[0] * w[1]), rel=1e-6
            )
            assert fit["residual"][k] == pytest.approx(resid, rel=1e-4)
            assert fit["snr"][k] == pytest.approx(A / resid, rel=1e-4)
            assert fit["x_err"][k] == pytest.approx(err[0], rel=1e-4)
            assert fit["y_err"][k] == pytest.approx(err[1], rel=1e-4)
            assert fit["converged"][k] == 1.0 and fit["fit_status"][k] == 0.0
            # the optimum is near the rendering truth (orientation sign!)
            assert abs(angle - at[5]) < 3 and abs(np.sqrt(w[1]) - at[3]) < 0.1


_JOINT_ATOMS = [
    (12.31, 13.62, 200.0, 1.7),
    (18.47, 14.58, 120.0, 1.5),
    (14.12, 19.41, 160.0, 1.6),
]
_JOINT_SHAPE = (32, 30)
_JOINT_SEEDS = (np.array([12.0, 18.0, 14.0]), np.array([14.0, 15.0, 19.0]))


@pytest.mark.parametrize("radius", [3, 4])
def test_joint_fit_recovers_overlapping_columns_exactly(radius):
    """Noise-free overlapping columns (about 3.5 widths apart): the joint
    passes (neighbours subtracted) recover every parameter, round and
    elliptical; fitted alone, each column is pulled towards its neighbours."""
    img = _render(_JOINT_SHAPE, _JOINT_ATOMS, 20.0)
    x, y = _JOINT_SEEDS
    for model in ("round", "elliptical"):
        fit = refine_gaussians(
            img, x, y, radius, model=model, max_passes=80, tol=1e-9, max_iter=50
        )
        for k, (x0, y0, A, s) in enumerate(_JOINT_ATOMS):
            assert fit["x"][k] == pytest.approx(x0, abs=2e-4)
            assert fit["y"][k] == pytest.approx(y0, abs=2e-4)
            assert fit["amplitude"][k] == pytest.approx(A, rel=2e-5)
            assert fit["sigma_x"][k] == pytest.approx(s, rel=1e-4)
            assert fit["sigma_y"][k] == pytest.approx(s, rel=1e-4)
            assert fit["background"][k] == pytest.approx(20.0, abs=2e-3)
            assert fit["converged"][k] == 1.0
            assert fit["fit_status"][k] == 0.0
    alone = refine_gaussians(img, x, y, radius, subtract_neighbours=False, tol=1e-9)
    # pulled towards the neighbours: the first column (second column to its
    # right, third below) towards +x and +y, the second towards -x
    assert alone["x"][0] > _JOINT_ATOMS[0][0] + 0.02
    assert alone["y"][0] > _JOINT_ATOMS[0][1] + 0.02
    assert alone["x"][1] < _JOINT_ATOMS[1][0] - 0.02
    assert alone["y"][2] < _JOINT_ATOMS[2][1] - 0.02


def test_fit_status_outside_image_threshold():
    """A column whose fitted centre is just outside the image (x < -0.5, or
    y > ny - 0.5) fails with status 9 and keeps its seed; just inside it is
    a converged fit at the truth."""
    atoms = [
        (-0.35, 10.4, 200.0, 1.5),
        (-0.7, 27.3, 200.0, 1.5),
        (17.6, 35.3, 200.0, 1.5),
        (30.2, 35.65, 200.0, 1.5),
    ]
    shape = (36, 40)
    img = _render(shape, atoms, 30.0)
    x = np.array([0.0, 0.0, 18.0, 30.0])
    y = np.array([10.0, 27.0, 35.0, 35.0])
    fit = refine_gaussians(img, x, y, 5, tol=1e-10, max_iter=60)
    assert list(fit["fit_status"]) == [0.0, 9.0, 0.0, 9.0]
    assert list(fit["converged"]) == [1.0, 0.0, 1.0, 0.0]
    assert fit["x"][0] == pytest.approx(-0.35, abs=1e-5)
    assert fit["y"][0] == pytest.approx(10.4, abs=1e-5)
    assert fit["x"][2] == pytest.approx(17.6, abs=1e-5)
    assert fit["y"][2] == pytest.approx(35.3, abs=1e-5)
    # failed: the seed position, NaN descriptors
    assert (fit["x"][1], fit["y"][1]) == (0.0, 27.0)
    assert (fit["x"][3], fit["y"][3]) == (30.0, 35.0)
    for c in ("amplitude", "sigma_x", "background", "x_err", "intensity"):
        assert np.isnan(fit[c][[1, 3]]).all()
        assert np.isfinite(fit[c][[0, 2]]).all()


def test_fit_status_window_off_image():
    """Fewer window pixels than parameters: status 2 exactly when our count of
    the documented window is at most 5."""
    shape = (30, 30)
    img = _render(shape, [(15.2, 14.7, 100.0, 1.5)], 10.0)
    radius = 4
    cands = [(-radius + d, -radius + e) for d in range(4) for e in range(4)]
    counts = [len(_window(cx, cy, radius, shape)[0]) for cx, cy in cands]
    few = [c for c, n in zip(cands, counts) if 0 < n <= 5]
    enough = [c for c, n in zip(cands, counts) if 6 <= n]
    assert few and enough
    xs = np.array([c[0] for c in few + enough] + [15.0], float)
    ys = np.array([c[1] for c in few + enough] + [15.0], float)
    fit = refine_gaussians(img, xs, ys, radius, subtract_neighbours=False)
    st = fit["fit_status"]
    assert np.all(st[: len(few)] == 2.0)
    assert np.all(st[len(few) : -1] != 2.0)
    assert st[-1] == 0.0


def test_fit_status_moved_beyond_radius():
    """A seed more than the window radius from... a bright column reached
    inside its window: the fit moves beyond the radius (status 6), while a
    seed inside converges."""
    shape = (40, 40)
    img = _render(shape, [(20.3, 19.6, 300.0, 1.6)], 10.0)
    fit = refine_gaussians(
        img, [16.0, 19.0], [19.0, 20.0], 3, sigma=1.6, subtract_neighbours=False
    )
    assert fit["fit_status"][1] == 0.0
    assert fit["x"][1] == pytest.approx(20.3, abs=1e-3)
    assert fit["fit_status"][0] != 0.0
    assert fit["x"][0] == 16.0


def test_centre_of_mass_and_estimate_sigma_truth():
    atoms = [(10.37, 9.62, 100.0, 1.1), (27.71, 21.28, 80.0, 1.25)]
    img = _render((32, 36), atoms, 0.0)
    # seeds up to 2 px off: re-centring brings the window onto the peak
    cx, cy = centre_of_mass(img, [12.0, 26.0], [8.0, 22.0], 7, n_iter=4)
    np.testing.assert_allclose(cx, [10.37, 27.71], atol=1e-6)
    np.testing.assert_allclose(cy, [9.62, 21.28], atol=1e-6)
    # one iteration: the window stays where the seed put it (off-centre disc:
    # the centre of mass of that truncated disc, computed here)
    cx1, cy1 = centre_of_mass(img, [12.0], [8.0], 3, n_iter=1)
    X, Y = _window(12, 8, 3, img.shape)
    w = img[Y.astype(int), X.astype(int)]
    w = w - w.min()
    assert cx1[0] == pytest.approx(np.sum(w * X) / w.sum(), rel=1e-10)
    assert cy1[0] == pytest.approx(np.sum(w * Y) / w.sum(), rel=1e-10)
    # half-maximum width on wide peaks: within 3 % of the truth
    wide = _render((60, 64), [(20.4, 25.7, 100.0, 4.0), (44.2, 33.1, 90.0, 4.6)], 5.0)
    s = estimate_sigma(wide, [20, 44], [26, 33], 14)
    assert s == pytest.approx(4.3, rel=0.04)


def _joint_position_errors(img, fit, radius, poisson):
    """Position errors of each column fitted together with its overlapping
    neighbours (all of them here), as documented: ``A^-1 B A^-T`` of the
    stacked estimating equations of the group's windows, ``A = sum_a
    sum_{q in W_a} w G_a H_a^T`` (``G_a``: derivatives of column ``a``'s
    model, ``H_a``: those of the model of window ``a`` by all the group's
    parameters), ``u_q = sum_{a: q in W_a} w G_a(q)``, ``v_q`` the model
    times the reduced chi-square (Poisson) or the squared residual over
    ``1 - h_q`` (least squares), each pixel once, the group ordered by the
    strength of the neighbours' overlap (the column itself first)."""
    par = np.column_stack(
        [fit[c] for c in ("x", "y", "amplitude", "sigma_x", "background")]
    )
    n = len(par)
    P = 5 * n

    def peaks(X, Y):
        vals, jac = [], []
        for b in range(n):
            v, J = _round_model((*par[b, :4], 0.0), X, Y)
            J[:, 4] = 0.0
            vals.append(v)
            jac.append(J)
        return np.sum(vals, 0), jac

    errs = np.zeros((n, 2))
    for k in range(n):
        others = [j for j in range(n) if j != k]
        d = np.hypot(*(par[others, :2] - par[k, :2]).T)
        gap = np.maximum(d - radius, 0) / par[others, 3]
        level = par[others, 2] * np.exp(-0.5 * gap**2) / par[k, 2]
        assert np.all(level > 0.05)
        group = [k] + [others[i] for i in np.argsort(-level, kind="stable")]
        wins = [
            _window(_nearest(par[a, 0]), _nearest(par[a, 1]), radius, img.shape)
            for a in group
        ]
        A = np.zeros((P, P))
        wrss, n_obs = 0.0, 0
        for ga, (X, Y) in enumerate(wins):
            a = group[ga]
            tot, jac = peaks(X, Y)
            mu = par[a, 4] + tot
            w = 1 / mu if poisson else np.ones_like(mu)
            D = img[Y.astype(int), X.astype(int)]
            G = jac[a].copy()
            G[:, 4] = 1.0
            H = np.zeros((len(X), P))
            for gb, b in enumerate(group):
                H[:, 5 * gb : 5 * gb + 5] = jac[b]
            H[:, 5 * ga + 4] = 1.0
            A[5 * ga : 5 * ga + 5] += (w[:, None] * G).T @ H
            wrss += np.sum(w * (D - mu) ** 2)
            n_obs += len(X)
        chi2 = wrss / (n_obs - P)
        Ainv = np.linalg.inv(A)
        seen = set()
        sx = sy = 0.0
        for ga, (X, Y) in enumerate(wins):
            for i, j in zip(X.astype(int), Y.astype(int)):
                if (i, j) in seen:
                    continue
                seen.add((i, j))
                tot, jac = peaks(np.array([float(i)]), np.array([float(j)]))
                u = np.zeros(P)
                for gb, (Xb, Yb) in enumerate(wins):
                    if np.any((Xb == i) & (Yb == j)):
                        b = group[gb]
                        mu_b = par[b, 4] + tot[0]
                        G = jac[b][0].copy()
                        G[4] = 1.0
                        u[5 * gb : 5 * gb + 5] = G / mu_b if poisson else G
                t = Ainv @ u
                mu = par[group[ga], 4] + tot[0]
                if poisson:
                    v = mu * chi2
                else:
                    H = np.concatenate([jac[b][0] for b in group])
                    H[5 * ga + 4] = 1.0
                    r = img[j, i] - mu
                    v = r * r / max(1 - H @ t, 1e-3)
                sx += t[0] ** 2 * v
                sy += t[1] ** 2 * v
        errs[k] = np.sqrt([sx, sy])
    return errs


@pytest.mark.parametrize("weights", ["poisson", "uniform"])
def test_joint_position_errors_match_group_covariance(weights):
    img = _perturb(_render(_JOINT_SHAPE, _JOINT_ATOMS, 20.0), 0.02, 3)
    x, y = _JOINT_SEEDS
    fit = refine_gaussians(
        img, x, y, 4, weights=weights, max_passes=40, tol=1e-9, max_iter=50
    )
    assert np.all(fit["fit_status"] == 0)
    errs = _joint_position_errors(img, fit, 4, weights == "poisson")
    # (the neighbours' models are rendered to 4 widths: 5e-4 covers that)
    np.testing.assert_allclose(fit["x_err"], errs[:, 0], rtol=5e-4)
    np.testing.assert_allclose(fit["y_err"], errs[:, 1], rtol=5e-4)
