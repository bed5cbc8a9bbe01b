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

from hyperspy_localcryst.numerics.centroids import centre_of_mass, estimate_sigma
from hyperspy_localcryst.numerics.refinement import refine_gaussians


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


def _lstsq_plane(img):
    """The image's least-squares plane ``(c, gx, gy)``, by numpy's lstsq."""
    jj, ii = np.mgrid[: img.shape[0], : img.shape[1]]
    a = np.column_stack([np.ones(img.size), ii.ravel(), jj.ravel()])
    return np.linalg.lstsq(a, img.ravel(), rcond=None)[0]


def _ls_fit(img, t0, radius, model, seed):
    """Least squares on the window of the pixel nearest to ``seed``, with the
    HC2 sandwich errors; as the refinement's least squares with
    ``level="plane"``, on the image minus its least-squares plane, the
    background reported with the plane at the fitted centre added back."""
    f = _round_model if model == "round" else _ell_model
    c, gx, gy = _lstsq_plane(img)
    jj, ii = np.mgrid[: img.shape[0], : img.shape[1]]
    img = img - (c + gx * ii + gy * jj)
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
    t = t.copy()
    t[-1] += c + gx * t[0] + gy * t[1]
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
        # least squares on the levelled image, as _ls_fit computes it ("auto"
        # levels only a tilt that would pull the columns; this scene has none)
        level="plane" if weights == "uniform" else "auto",
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
    kw = dict(
        radius=5, tol=1e-10, max_iter=60, subtract_neighbours=False, level="plane"
    )
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
            level="plane" if weights == "uniform" else "auto",
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
    """A column whose fitted centre is just outside the image (beyond half a
    pixel from the outer pixel centres, on each of the four sides) fails with
    status 9 and keeps its seed; just inside it is a converged fit at the
    truth."""
    shape = (36, 40)
    atoms = [
        (-0.35, 10.4),  # left, inside
        (-0.7, 27.3),  # left, outside
        (17.6, 35.3),  # bottom, inside
        (30.2, 35.65),  # bottom, outside
        (39.35, 8.7),  # right, inside
        (39.7, 22.2),  # right, outside
        (8.3, -0.3),  # top, inside
        (25.6, -0.68),  # top, outside
    ]
    img = _render(shape, [(a, b, 200.0, 1.5) for a, b in atoms], 30.0)
    x = np.array([0.0, 0.0, 18.0, 30.0, 39.0, 39.0, 8.0, 26.0])
    y = np.array([10.0, 27.0, 35.0, 35.0, 9.0, 22.0, 0.0, 0.0])
    fit = refine_gaussians(img, x, y, 5, tol=1e-10, max_iter=60)
    inside = np.arange(8) % 2 == 0
    np.testing.assert_array_equal(fit["fit_status"], np.where(inside, 0.0, 9.0))
    np.testing.assert_array_equal(fit["converged"], inside.astype(float))
    truth = np.array(atoms)
    np.testing.assert_allclose(fit["x"][inside], truth[inside, 0], atol=1e-5)
    np.testing.assert_allclose(fit["y"][inside], truth[inside, 1], atol=1e-5)
    # failed: the seed position, NaN descriptors
    np.testing.assert_array_equal(fit["x"][~inside], x[~inside])
    np.testing.assert_array_equal(fit["y"][~inside], y[~inside])
    for c in ("amplitude", "sigma_x", "background", "x_err", "intensity"):
        assert np.isnan(fit[c][~inside]).all()
        assert np.isfinite(fit[c][inside]).all()


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
    """A column 3.3 px from its seed, window radius 3: the fit moves farther
    than the radius (status 6, seed kept); 2.8 px from its seed it converges
    to the truth."""
    img = _render((40, 40), [(20.3, 19.6, 300.0, 1.6)], 10.0)
    fit = refine_gaussians(
        img, [17.0, 17.5], [19.0, 19.0], 3, sigma=1.6, subtract_neighbours=False
    )
    assert fit["fit_status"].tolist() == [6.0, 0.0]
    assert fit["x"][0] == 17.0 and fit["y"][0] == 19.0
    assert fit["x"][1] == pytest.approx(20.3, abs=1e-5)
    assert fit["y"][1] == pytest.approx(19.6, abs=1e-5)


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


def _joint_position_errors(img, fit, radius, poisson, model="round"):
    """Position errors of each column fitted together with its overlapping
    neighbours (all of them here), as documented: ``A^-1 B A^-T`` of the
    stacked estimating equations of the group's windows, ``A = sum_a
    sum_{q in W_a} w G_a H_a^T`` (``G_a``: derivatives of column ``a``'s
    model, ``H_a``: those of the model of window ``a`` by all the group's
    parameters), ``u_q = sum_{a: q in W_a} w G_a(q)``, ``v_q`` the model
    times the reduced chi-square (Poisson) or the squared residual over
    ``1 - h_q`` (least squares), each pixel once, the group ordered by the
    strength of the neighbours' overlap (the column itself first)."""
    if model == "round":
        names = ("x", "y", "amplitude", "sigma_x", "background")
        par = np.column_stack([fit[c] for c in names])
        width = par[:, 3]
        f = _round_model
    else:  # precision matrix from the widths and the orientation
        prec = [
            _precision(*a)
            for a in zip(fit["sigma_major"], fit["sigma_minor"], fit["orientation"])
        ]
        par = np.column_stack(
            [fit["x"], fit["y"], fit["amplitude"], prec, fit["background"]]
        )
        width = np.minimum(par[:, 3], par[:, 5]) ** -0.5
        f = _ell_model
    n, npar = par.shape
    P = npar * n
    bg = npar - 1
    held = fit["fit_status"] == 1  # a width held at its bound is not free

    def peaks(X, Y):
        vals, jac = [], []
        for b in range(n):
            v, J = f((*par[b, :bg], 0.0), X, Y)
            J[:, bg] = 0.0
            if held[b]:
                J[:, 3] = 0.0
            vals.append(v)
            jac.append(J)
        return np.sum(vals, 0), jac

    errs = np.zeros((n, 2))
    for k in range(n):
        others = [j for j in range(n) if j != k]
        d = np.hypot(*(par[others, :2] - par[k, :2]).T)
        gap = np.maximum(d - radius, 0) / width[others]
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
            mu = par[a, bg] + tot
            w = 1 / mu if poisson else np.ones_like(mu)
            D = img[Y.astype(int), X.astype(int)]
            G = jac[a].copy()
            G[:, bg] = 1.0
            H = np.zeros((len(X), P))
            for gb, b in enumerate(group):
                H[:, npar * gb : npar * (gb + 1)] = jac[b]
            H[:, npar * ga + bg] = 1.0
            A[npar * ga : npar * (ga + 1)] += (w[:, None] * G).T @ H
            wrss += np.sum(w * (D - mu) ** 2)
            n_obs += len(X)
        for ga, a in enumerate(group):
            if held[a]:
                A[npar * ga + 3, npar * ga + 3] = 1.0
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
                        mu_b = par[b, bg] + tot[0]
                        G = jac[b][0].copy()
                        G[bg] = 1.0
                        u[npar * gb : npar * (gb + 1)] = G / mu_b if poisson else G
                t = Ainv @ u
                mu = par[group[ga], bg] + tot[0]
                if poisson:
                    v = mu * chi2
                else:
                    H = np.concatenate([jac[b][0] for b in group])
                    H[npar * ga + bg] = 1.0
                    r = img[j, i] - mu
                    v = r * r / max(1 - H @ t, 1e-3)
                sx += t[0] ** 2 * v
                sy += t[1] ** 2 * v
        errs[k] = np.sqrt([sx, sy])
    return errs


def _joint_fixed_point(img, fit, radius, poisson):
    """Root of the stacked estimating equations of the joint fit (round
    columns): for every column, the score of its own window with the data
    less the other columns' peaks, ``sum_{q in W_a} w_q G_a(q) (D_q - B_a -
    sum_b peak_b(q)) = 0``, ``w_q`` 1 or ``1 / (B_a + sum_b peak_b(q))``."""
    names = ("x", "y", "amplitude", "sigma_x", "background")
    t0 = np.column_stack([fit[c] for c in names])
    n = len(t0)
    wins = [_window(_nearest(a), _nearest(b), radius, img.shape) for a, b in t0[:, :2]]

    def equations(flat):
        t = flat.reshape(n, 5)
        out = []
        for a, (X, Y) in enumerate(wins):
            D = img[Y.astype(int), X.astype(int)]
            tot = sum(_round_model((*t[b, :4], 0.0), X, Y)[0] for b in range(n))
            _, G = _round_model(t[a], X, Y)
            mu = t[a, 4] + tot
            w = 1 / mu if poisson else 1.0
            out.append(G.T @ (w * (D - mu)))
        return np.concatenate(out)

    sol = optimize.root(equations, t0.ravel(), options={"xtol": 1e-13})
    assert sol.success
    return sol.x.reshape(n, 5)


@pytest.mark.parametrize("weights", ["poisson", "uniform"])
def test_joint_position_errors_match_group_covariance(weights):
    img = _perturb(_render(_JOINT_SHAPE, _JOINT_ATOMS, 20.0), 0.02, 3)
    x, y = _JOINT_SEEDS
    # (the constant-background model the helpers compute: levelling by a
    # plane is checked against its own independent optimum above)
    fit = refine_gaussians(
        img,
        x,
        y,
        4,
        weights=weights,
        max_passes=40,
        tol=1e-9,
        max_iter=50,
        level="none",
    )
    assert np.all(fit["fit_status"] == 0)
    errs = _joint_position_errors(img, fit, 4, weights == "poisson")
    # (the neighbours' models are rendered to 4 widths: 5e-4 covers that)
    np.testing.assert_allclose(fit["x_err"], errs[:, 0], rtol=5e-4)
    np.testing.assert_allclose(fit["y_err"], errs[:, 1], rtol=5e-4)
    # the passes end at the joint fixed point: within a tenth of the error
    # (the documented settling criterion) of our root of the equations
    t = _joint_fixed_point(img, fit, 4, weights == "poisson")
    assert np.all(np.abs(fit["x"] - t[:, 0]) < 0.1 * fit["x_err"])
    assert np.all(np.abs(fit["y"] - t[:, 1]) < 0.1 * fit["y_err"])
    np.testing.assert_allclose(fit["sigma_x"], t[:, 3], rtol=0.01)
    np.testing.assert_allclose(fit["amplitude"], t[:, 2], rtol=0.01)


def test_joint_position_errors_elliptical_columns():
    atoms = [
        (12.31, 13.62, 200.0, 2.0, 1.4, 25.0),
        (18.47, 14.58, 120.0, 1.7, 1.3, -40.0),
        (14.12, 19.41, 160.0, 1.9, 1.45, 70.0),
    ]
    img = _perturb(_render(_JOINT_SHAPE, atoms, 20.0), 0.02, 4)
    x, y = _JOINT_SEEDS
    fit = refine_gaussians(
        img, x, y, 4, model="elliptical", max_passes=40, tol=1e-9, max_iter=50
    )
    assert np.all(fit["fit_status"] == 0)
    errs = _joint_position_errors(img, fit, 4, True, model="elliptical")
    np.testing.assert_allclose(fit["x_err"], errs[:, 0], rtol=1e-3)
    np.testing.assert_allclose(fit["y_err"], errs[:, 1], rtol=1e-3)


# ---------------------------------------------------------------------------
# statistics: brute force / numpy / scipy references
# ---------------------------------------------------------------------------
from scipy.cluster import hierarchy  # noqa: E402

from hyperspy_localcryst.numerics import (  # noqa: E402
    class_count,
    clustering,
    frames,
    modes,
    point_patterns,
)


def _nearest_map_brute(x, y, values, shape, max_d=np.inf):
    ny, nx = shape
    out = np.empty(shape)
    for r in range(ny):
        for c in range(nx):
            d2 = (x - c) ** 2 + (y - r) ** 2
            m = d2.min()
            i = np.flatnonzero(d2 == m)[0]  # lowest index on exact ties
            out[r, c] = values[i] if m <= max_d * max_d else np.nan
    return out


@pytest.mark.parametrize("case", ["lattice", "sparse", "clustered", "ties", "mixed"])
def test_rasterise_nearest_matches_brute_force(case):
    rng = np.random.default_rng(7)
    shape = (23, 37)
    if case == "lattice":
        # points on half-pixel positions: many exact ties between points
        x = rng.integers(-4, 80, 60) / 2.0
        y = rng.integers(-4, 50, 60) / 2.0
    elif case == "sparse":
        x = rng.uniform(-5, 40, 4)
        y = rng.uniform(-3, 26, 4)
    elif case == "clustered":
        # a dense cluster (289 points on a 1/16 px grid, rows between the
        # pixel rows: exact ties) far from most pixels, whose tiles have too
        # many candidates and go to the k-d tree; some cluster points
        # duplicated (later indices) and a few points elsewhere
        a, b = np.meshgrid(np.arange(17) / 16, np.arange(17) / 16)
        a, b = 30 + a.ravel(), 0.53125 + b.ravel()
        x = np.concatenate([a, [2.2, 5.7, 20.1], a[::37]])
        y = np.concatenate([b, [20.4, 3.3, 12.8], b[::37]])
    elif case == "mixed":
        # dense on the left, sparse on the right: small cells, and tiles on
        # the right whose candidates span many cells
        x = np.concatenate([rng.uniform(0, 9, 250), rng.uniform(9, 37, 12)])
        y = np.concatenate([rng.uniform(0, 23, 250), rng.uniform(0, 23, 12)])
    else:
        # duplicates and points equidistant from pixels, in reversed order
        x = np.array([10.0, 4.0, 4.0, 16.0, 10.0, 7.0, 13.0, 30.5])
        y = np.array([6.0, 6.0, 6.0, 6.0, 12.0, 9.0, 9.0, 18.5])
    values = rng.normal(size=len(x))
    for max_d in (None, 3.0, 2.5, 0.0):
        got = point_patterns.rasterise_nearest(x, y, values, shape, max_distance=max_d)
        want = _nearest_map_brute(
            x, y, values, shape, np.inf if max_d is None else max_d
        )
        np.testing.assert_array_equal(got, want)


def test_rasterise_nearest_large_sparse_map_with_distance_cut():
    """Tiles entirely beyond ``max_distance``, and pixels exactly at it."""
    x = np.array([5.0, 60.0, 33.0])
    y = np.array([4.0, 40.0, 21.0])
    values = np.array([1.5, -2.0, 7.0])
    shape = (48, 70)
    for max_d in (4.0, 5.0, 12.0):
        got = point_patterns.rasterise_nearest(x, y, values, shape, max_distance=max_d)
        np.testing.assert_array_equal(
            got, _nearest_map_brute(x, y, values, shape, max_d)
        )


@pytest.mark.parametrize("n", [37, 70001])
def test_vector_histogram_matches_numpy(n):
    rng = np.random.default_rng(3)
    v = rng.normal(0.4, 2.0, (n, 2)) * [1.0, 0.6]
    # vectors on bin edges, on the outer edges, outside, NaN and inf
    v[:6] = [[0.0, 0.0], [3.0, -1.2], [-3.0, 1.8], [4.5, 0.3], [np.nan, 1], [1, np.inf]]
    for bins, extent in ((7, None), ((5, 9), (-3.0, 3.0, -1.2, 1.8))):
        counts, ext = point_patterns.vector_histogram(v, bins=bins, extent=extent)
        finite = np.isfinite(v).all(1)
        if extent is None:
            m = 1.05 * np.abs(v[finite]).max()
            assert ext == pytest.approx((-m, m, -m, m), rel=1e-15)
        else:
            assert ext == extent
        nb = (bins, bins) if np.ndim(bins) == 0 else bins
        xe = np.linspace(ext[0], ext[1], nb[0] + 1)
        ye = np.linspace(ext[2], ext[3], nb[1] + 1)
        want, _, _ = np.histogram2d(v[finite, 0], v[finite, 1], bins=[xe, ye])
        assert counts.shape == (nb[1], nb[0])
        np.testing.assert_array_equal(counts, want.T)
    counts, ext = point_patterns.vector_histogram(np.zeros((3, 2)), bins=2)
    assert ext == (-1.0, 1.0, -1.0, 1.0)
    np.testing.assert_array_equal(counts, [[0, 0], [0, 3]])


def test_point_pattern_fft_matches_brute_force():
    shape = (12, 17)
    x = np.array([0.0, 16.0, 3.25, 7.8, 16.5, -0.1, 11.0, 2.6])
    y = np.array([0.0, 11.0, 5.5, 1.1, 3.0, 4.0, 11.0, 9.9])
    img = np.zeros((shape[0] + 1, shape[1] + 1))
    for a, b in zip(x, y):
        if not (0 <= a <= shape[1] - 1 and 0 <= b <= shape[0] - 1):
            continue
        i, j = int(np.floor(a)), int(np.floor(b))
        fx, fy = a - i, b - j
        img[j, i] += (1 - fx) * (1 - fy)
        img[j, i + 1] += fx * (1 - fy)
        img[j + 1, i] += (1 - fx) * fy
        img[j + 1, i + 1] += fx * fy
    img = img[: shape[0], : shape[1]]
    for window in (False, True):
        im = img * np.outer(np.hanning(12), np.hanning(17)) if window else img
        want = np.fft.fftshift(np.abs(np.fft.fft2(im)) ** 2)
        got = point_patterns.point_pattern_fft(x, y, shape, window=window)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    # a comb of period 4 along x (64 px) and 6 along y (30 px): power only
    # at multiples of 64 / 4 = 16 columns and 30 / 6 = 5 rows from the
    # centre (32, 15), all equal
    xx, yy = np.meshgrid(np.arange(0, 64, 4.0), np.arange(0, 30, 6.0))
    p = point_patterns.point_pattern_fft(xx.ravel(), yy.ravel(), (30, 64), window=False)
    ky, kx = np.mgrid[:30, :64]
    spots = ((ky - 15) % 5 == 0) & ((kx - 32) % 16 == 0)
    np.testing.assert_allclose(p[spots], 80.0**2, rtol=1e-12)
    assert np.all(p[~spots] < 1e-18)


def test_fft_periodicity_matches_definition():
    rng = np.random.default_rng(2)
    p = rng.exponential(size=(11, 14))
    p[5, 10] = 50.0  # exactly 3 px right of the centre (5, 7): excluded at r=3
    p[1, 7] = 30.0  # 4 px above it
    for r in (0.0, 2.5, 3.0, 3.5, 4.0):
        yy, xx = np.mgrid[:11, :14]
        out = (yy - 5) ** 2 + (xx - 7) ** 2 > r * r
        want = p[out].max() / np.median(p[out])
        assert point_patterns.fft_periodicity(p, exclude_radius=r) == pytest.approx(
            want
        )
    # at r = 3 the 50 at exactly 3 px is excluded, the 30 at 4 px is the peak
    yy, xx = np.mgrid[:11, :14]
    out = (yy - 5) ** 2 + (xx - 7) ** 2 > 9
    assert point_patterns.fft_periodicity(p, 3) == pytest.approx(
        30.0 / np.median(p[out])
    )
    z = np.zeros((6, 6))
    assert point_patterns.fft_periodicity(z) == 0.0
    z[0, 0] = 1.0
    assert point_patterns.fft_periodicity(z) == np.inf


def test_linkage_cut_and_threshold_truth():
    rng = np.random.default_rng(4)
    # three groups of different sizes (7, 3, 12), well apart, 2D
    X = np.concatenate(
        [
            rng.normal([0, 0], 0.3, (7, 2)),
            rng.normal([6, 1], 0.3, (3, 2)),
            rng.normal([2, 9], 0.3, (12, 2)),
        ]
    )
    truth = np.repeat([1, 2, 0], [7, 3, 12])  # label 0 = largest group
    Z, index = clustering.linkage_sample(X, n_samples=100, method="average")
    np.testing.assert_array_equal(index, np.arange(22))
    np.testing.assert_allclose(Z, hierarchy.linkage(X, method="average"))
    np.testing.assert_array_equal(clustering.cut_linkage(Z, 3), truth)
    # two clusters: the first two groups (closest) merge, the big one is 0
    np.testing.assert_array_equal(clustering.cut_linkage(Z, 2), (truth > 0).astype(int))
    assert np.all(np.diff(np.bincount(clustering.cut_linkage(Z, 8))) <= 0)
    h = np.sort(Z[:, 2])
    n = 22
    for K in range(1, n + 1):
        t = clustering.linkage_threshold(Z, K)
        if K == 1:
            assert t == pytest.approx(1.05 * h[-1])
        elif K == n:
            assert t == pytest.approx(0.5 * h[0])
        else:
            assert t == pytest.approx(0.5 * (h[n - K - 1] + h[n - K]))
        assert hierarchy.fcluster(Z, t, criterion="distance").max() == K
    # subsample: as documented, sorted rows drawn by default_rng(seed)
    Z2, idx2 = clustering.linkage_sample(X, n_samples=9, seed=5)
    want = np.sort(np.random.default_rng(5).choice(22, size=9, replace=False))
    np.testing.assert_array_equal(idx2, want)
    np.testing.assert_allclose(Z2, hierarchy.linkage(X[want], method="ward"))


@pytest.mark.parametrize("n_clusters", [1, 3, 4])
def test_kmedians_fixed_point_is_exact(n_clusters):
    """At convergence (tol 0): every label is the nearest centre, every centre
    is the component-wise median (numpy.median) of its members, the inertia
    is the sum of squared distances."""
    rng = np.random.default_rng(9)
    X = np.concatenate(
        [
            rng.normal([0, 0, 1], [1.0, 0.5, 0.7], (41, 3)),
            rng.normal([3, -2, 0], [0.8, 1.2, 0.5], (60, 3)),
            rng.normal([-1, 4, 2], [0.6, 0.9, 1.1], (26, 3)),
            rng.laplace([5, 5, -3], 1.5, (33, 3)),
        ]
    )
    km = clustering.KMedians(
        n_clusters=n_clusters, n_init=2, max_iter=500, tol=0.0
    ).fit(X)
    C = km.cluster_centers_
    d2 = ((X[:, None, :] - C[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(km.labels_, np.argmin(d2, axis=1))
    assert km.inertia_ == pytest.approx(d2.min(1).sum(), rel=1e-12)
    for k in range(n_clusters):
        members = X[km.labels_ == k]
        assert len(members) > 0
        np.testing.assert_array_equal(C[k], np.median(members, axis=0))
    np.testing.assert_array_equal(km.predict(X[::-1]), km.labels_[::-1])
    assert 1 <= km.n_iter_ <= 500


def test_kmedians_separated_clusters_and_ties():
    # well separated groups of sizes 5 (odd) and 4 (even): exact medians
    X = np.array(
        [[0.0, 1.0], [0.2, 0.1], [0.4, 0.7], [0.1, 0.3], [0.9, 0.2]]
        + [[10.0, 5.0], [10.6, 5.2], [11.0, 5.9], [10.2, 4.0]]
    )
    km = clustering.KMedians(n_clusters=2, n_init=1).fit(X)
    a = km.labels_[0]
    assert np.all(km.labels_[:5] == a) and np.all(km.labels_[5:] == 1 - a)
    np.testing.assert_array_equal(km.cluster_centers_[a], [0.2, 0.3])
    np.testing.assert_array_equal(
        km.cluster_centers_[1 - a], [0.5 * (10.2 + 10.6), 0.5 * (5.0 + 5.2)]
    )
    # a point equidistant from both centres goes to the lower index
    mid = 0.5 * (km.cluster_centers_[0] + km.cluster_centers_[1])
    assert km.predict(mid[None])[0] == 0


def test_mode_polarity_and_frame_statistics_truth():
    f = np.array([1.0, 2.0, -3.0, 0.5, 0.0, 0.0, 2.0, -4.0])
    out = modes.mode_polarity(f)
    assert out["vector_sum"] == (0.0, -1.5)
    tot = np.hypot(1, 2) + np.hypot(3, 0.5) + np.hypot(2, 4)
    assert out["polarity"] == pytest.approx(1.5 / tot)
    assert out["polar"] is False
    # polarity just above / below the documented 0.25
    up = modes.mode_polarity([1.0, 0.0, -0.6, 0.0])  # 0.4 / 1.6 = 0.25
    assert up["polarity"] == pytest.approx(0.25) and up["polar"] is False
    up = modes.mode_polarity([1.0, 0.0, -0.59, 0.0])
    assert up["polar"] is True
    assert modes.mode_polarity([0.0, 0.0])["polarity"] == 0.0
    assert modes.mode_polarity([1.0, -2.0, 1.0, -2.0])["polarity"] == 1.0

    rng = np.random.default_rng(1)
    frame = np.array([2, 0, 2, 3, 0, 2, 0, 3, 2])
    vals = rng.normal(size=(9, 2))
    vals[5, 1] = np.nan
    vals[3, :] = np.nan
    groups = frames.frame_groups(frame, 5)
    assert [g.tolist() for g in groups] == [[1, 4, 6], [], [0, 2, 5, 8], [3, 7], []]
    refs = {
        "mean": np.nanmean,
        "median": np.nanmedian,
        "std": np.nanstd,
        "min": np.nanmin,
        "max": np.nanmax,
    }
    for stat in ("mean", "median", "std", "min", "max", "count"):
        got = frames.per_frame(frame, vals, 5, statistic=stat)
        assert got.shape == (5, 2)
        for k in range(5):
            rows = vals[frame == k]
            if stat == "count":
                want = np.isfinite(rows).sum(0) if len(rows) else [0.0, 0.0]
                np.testing.assert_array_equal(got[k], want)
            elif len(rows) == 0:
                assert np.isnan(got[k]).all()
            else:
                want = [
                    refs[stat](col[np.isfinite(col)])
                    if np.isfinite(col).any()
                    else np.nan
                    for col in rows.T
                ]
                np.testing.assert_allclose(got[k], want, rtol=1e-14)
    labels = np.array([1, 0, -1, 2, 1, 1, 0, 2, 5])
    fr = frames.label_fractions(frame, labels, 5, n_labels=3)
    want = np.full((5, 3), np.nan)
    for k in range(5):
        lab = labels[(frame == k) & (labels >= 0) & (labels < 3)]
        if len(lab):
            want[k] = np.bincount(lab, minlength=3) / len(lab)
    np.testing.assert_array_equal(fr, want)
    # no label at all (every atom unlabelled): no columns
    assert frames.label_fractions(frame, np.full(9, -1), 5).shape == (5, 0)
    assert frames.label_fractions(frame, labels, 5, n_labels=0).shape == (5, 0)
    fr6 = frames.label_fractions(frame, labels, 5)
    assert fr6.shape == (5, 6)
    assert fr6[2, 5] == pytest.approx(1 / 3) and fr6[2, 1] == pytest.approx(2 / 3)


# ---------------------------------------------------------------------------
# alignment: known shifts, closed forms, our own bilinear resampling
# ---------------------------------------------------------------------------
from hyperspy_localcryst.numerics import alignment as al  # noqa: E402
from hyperspy_localcryst.numerics import warping as wp  # noqa: E402


def _blobs(shape, shift=(0.0, 0.0), seed=0, n=300, sigma=1.2):
    """Non-periodic scene of random Gaussian blobs, shifted by (dx, dy)."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    bx = rng.uniform(-10, nx + 10, n)
    by = rng.uniform(-10, ny + 10, n)
    amp = rng.uniform(0.5, 2.0, n)
    yy, xx = np.mgrid[:ny, :nx].astype(float)
    img = np.full(shape, 3.0)
    for a, b, c in zip(bx + shift[0], by + shift[1], amp):
        img += c * np.exp(-((xx - a) ** 2 + (yy - b) ** 2) / (2 * sigma**2))
    return img


def _lattice(shape, shift=(0.0, 0.0), a=(7.3, 0.9), b=(-1.4, 8.1), sigma=1.3):
    ny, nx = shape
    yy, xx = np.mgrid[:ny, :nx].astype(float)
    img = np.full(shape, 1.0)
    for i in range(-6, 20):
        for j in range(-6, 20):
            px = 2.0 + i * a[0] + j * b[0] + shift[0]
            py = 1.5 + i * a[1] + j * b[1] + shift[1]
            if -8 < px < nx + 8 and -8 < py < ny + 8:
                img += np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * sigma**2))
    return img


def test_phase_correlation_shift_known_shift():
    """A dense non-periodic texture shifted by known sub-pixel amounts (x and
    y different, both signs, beyond one pixel). The estimator windows only
    the reference, which biases it by a few hundredths of a pixel that depend
    on the reference's content, not on the shift: the shift measured against
    the unshifted image is subtracted (and the bias itself is small)."""
    shape = (48, 56)
    ref = _blobs(shape)
    bias = np.array(al.phase_correlation_shift(ref, ref))
    assert np.all(np.abs(bias) < 0.05)
    for shift in ((2.37, -1.61), (-0.42, 0.88), (-5.6, -3.15), (0.5, 0.5)):
        got = np.array(al.phase_correlation_shift(ref, _blobs(shape, shift)))
        np.testing.assert_allclose(got - bias, shift, atol=0.012)
    # the reverse pair gives about the opposite shift
    img = _blobs(shape, (2.37, -1.61))
    got = np.array(al.phase_correlation_shift(img, ref))
    np.testing.assert_allclose(got, (-2.37, 1.61), atol=0.06)
    # upsample 1: parabola on the pixel grid only, within 0.1 px
    got = np.array(al.phase_correlation_shift(ref, img, upsample=1))
    np.testing.assert_allclose(got - bias, (2.37, -1.61), atol=0.1)


@pytest.mark.parametrize("shift", [(1.83, -0.64), (-1.71, 1.47)])
def test_phase_correlation_shift_periodic_image(shift):
    """On a lattice (spacing ~7.4 and ~8.2 px) a shift below 0.4 spacings is
    found without warning, and the lattice peak nearest zero is taken."""
    import warnings

    shape = (56, 60)
    ref = _lattice(shape)
    img = _lattice(shape, shift)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dx, dy = al.phase_correlation_shift(ref, img)
    assert dx == pytest.approx(shift[0], abs=0.05)
    assert dy == pytest.approx(shift[1], abs=0.05)
    vec = al._lattice_vectors(ref)
    assert vec is not None
    # two shortest non-collinear translations: +-(7.3, 0.9) and +-(-1.4, 8.1)
    got = sorted([tuple(np.round(v if v[1] > 0 or v[0] > 0 else -v, 0)) for v in vec])
    assert got == sorted([(7.0, 1.0), (-1.0, 8.0)])


def test_frame_shifts_every_reference():
    shape = (40, 44)
    truth = np.array([[0, 0], [0.63, -0.41], [1.37, -0.75], [1.92, -1.33]])
    stack = np.array([_blobs(shape, s) for s in truth])
    # the reference-window bias (see above) accumulates over the steps of
    # "previous"; against the aligned mean it averages out
    for ref, tol in (
        ("auto", 0.05),
        ("first", 0.05),
        ("previous", 0.1),
        ("mean", 0.015),
    ):
        got = al.frame_shifts(stack, reference=ref)
        assert got.shape == (4, 2)
        assert np.all(got[0] == 0)
        np.testing.assert_allclose(got, truth, atol=tol)


def test_scan_drift_closed_forms():
    v = np.array([0.7, -0.3])
    lt, pt = 0.02, 0.0015
    M = wp.scan_drift_matrix(v, line_time=lt, pixel_time=pt)
    want = np.linalg.inv(np.eye(2) - np.outer(v, (pt, lt)))
    np.testing.assert_allclose(M, want, rtol=1e-14)
    # the model: a = q + v (a_y lt + a_x pt); a = M q, and the correction
    # inverts it exactly
    q = np.array([13.2, 40.7])
    a = M @ q
    np.testing.assert_allclose(a, q + v * (a[1] * lt + a[0] * pt), rtol=1e-13)
    qx, qy = wp.correct_scan_drift([a[0]], [a[1]], v, 0.0, lt, pt)
    np.testing.assert_allclose([qx[0], qy[0]], q, rtol=1e-13)
    t0 = np.array([[0.0], [2.5]])
    qx, qy = wp.correct_scan_drift([[a[0], 3.0]] * 2, [[a[1], 7.0]] * 2, v, t0, lt, pt)
    t = t0 + np.array([[a[1], 7.0]]) * lt + np.array([[a[0], 3.0]]) * pt
    np.testing.assert_allclose(qx, np.array([[a[0], 3.0]]) - v[0] * t)
    np.testing.assert_allclose(qy, np.array([[a[1], 7.0]]) - v[1] * t)
    with pytest.raises(ValueError):
        wp.scan_drift_matrix((50.0, 0.0), pixel_time=0.03)


def test_estimate_velocity_matches_least_squares_and_delta_method():
    t = np.array([0.0, 1.5, 2.0, 4.0, 5.5, 7.0])
    wob = np.array([0.03, -0.05, 0.02, 0.04, -0.01, -0.03])
    shifts = np.column_stack([0.41 * t + 1.0 + wob, -0.23 * t - wob[::-1] * 2])
    lt, pt = 0.05, 0.004
    v, err = wp.estimate_velocity(shifts, t, line_time=lt, pixel_time=pt)
    # least squares slopes and their covariance
    A = np.column_stack([np.ones_like(t), t])
    coef, *_ = np.linalg.lstsq(A, shifts, rcond=None)
    w = coef[1]
    res = shifts - A @ coef
    cov = res.T @ res / (len(t) - 2) * np.linalg.inv(A.T @ A)[1, 1]

    def vel(w):
        return w / (1 + pt * w[0] + lt * w[1])

    np.testing.assert_allclose(v, vel(w), rtol=1e-12)
    # delta method with a numerical Jacobian
    J = np.zeros((2, 2))
    for i in range(2):
        e = np.zeros(2)
        e[i] = 1e-6
        J[:, i] = (vel(w + e) - vel(w - e)) / 2e-6
    np.testing.assert_allclose(err, np.sqrt(np.diag(J @ cov @ J.T)), rtol=1e-6)
    # default times: frame index; two frames: NaN errors
    v2, e2 = wp.estimate_velocity(shifts[:2])
    np.testing.assert_allclose(v2, shifts[1] - shifts[0], rtol=1e-12)
    assert np.isnan(e2).all()


def _bilinear_warp(img, M, t, cval=np.nan):
    ny, nx = img.shape
    out = np.full(img.shape, cval)
    for r in range(ny):
        for c in range(nx):
            ax, ay = M @ np.array([c, r], float) + t
            if not (0 <= ax <= nx - 1 and 0 <= ay <= ny - 1):
                continue
            i, j = min(int(ax), nx - 2), min(int(ay), ny - 2)
            fx, fy = ax - i, ay - j
            out[r, c] = (
                img[j, i] * (1 - fx) * (1 - fy)
                + img[j, i + 1] * fx * (1 - fy)
                + img[j + 1, i] * (1 - fx) * fy
                + img[j + 1, i + 1] * fx * fy
            )
    return out


def test_warp_frame_and_sum_frames_match_bilinear_resampling():
    rng = np.random.default_rng(6)
    frames = rng.normal(size=(3, 9, 11))
    M = np.array([[1.02, 0.07], [-0.03, 0.97]])
    t = np.array([0.6, -0.35])
    got = wp.warp_frame(frames[0], M, t)
    want = _bilinear_warp(frames[0], M, t)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], atol=1e-12)
    got0 = wp.warp_frame(frames[0], translation=(1.0, -2.0), order=0, cval=-7.0)
    want0 = np.full((9, 11), -7.0)
    want0[2:, :-1] = frames[0][:-2, 1:]
    np.testing.assert_array_equal(got0, want0)
    shifts = np.array([[0.0, 0.0], [0.4, -1.3], [-2.2, 0.7]])
    mean, count = wp.sum_frames(frames, shifts=shifts)
    warped = np.array([_bilinear_warp(f, np.eye(2), s) for f, s in zip(frames, shifts)])
    want_count = np.isfinite(warped).sum(0)
    np.testing.assert_array_equal(count, want_count)
    with np.errstate(invalid="ignore"):
        want_mean = np.nansum(warped, 0) / want_count
    np.testing.assert_allclose(mean, np.where(want_count > 0, want_mean, np.nan))
    mats = np.array([M, np.eye(2), M.T])
    mean2, count2 = wp.sum_frames(frames, matrices=mats, translations=shifts)
    warped = np.array(
        [_bilinear_warp(f, m, s) for f, m, s in zip(frames, mats, shifts)]
    )
    np.testing.assert_array_equal(count2, np.isfinite(warped).sum(0))
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(
            mean2, np.nansum(warped, 0) / np.isfinite(warped).sum(0), atol=1e-12
        )


# ---------------------------------------------------------------------------
# lattice: known vectors, ordinary least squares with known indices
# ---------------------------------------------------------------------------
from hyperspy_localcryst.numerics import lattice as lat  # noqa: E402


def test_find_lattice_vectors_equals_least_squares_with_known_indices():
    v1, v2 = np.array([9.3, 1.2]), np.array([-2.1, 10.4])
    site_b = np.array([2.5, 3.4])  # far from every half translation
    rng = np.random.default_rng(8)
    i, j = np.mgrid[-4:5, -3:4]
    i, j = i.ravel(), j.ravel()
    pos, comp, idx = [], [], []
    for c, off in enumerate((np.zeros(2), site_b)):
        p = 60.0 + off + np.outer(i, v1) + np.outer(j, v2)
        pos.append(p + rng.normal(0, 0.05, p.shape))
        comp += [c] * len(i)
        idx.append(np.column_stack([i, j]))
    pos, comp, idx = np.concatenate(pos), np.array(comp), np.concatenate(idx)
    pos[10] += [0.7, -0.3]  # one atom off (>> 5 robust sd, < tolerance): left out
    fit = lat.find_lattice_vectors(pos[:, 0], pos[:, 1])
    use = np.arange(len(pos)) != 10
    # our least squares: r = o_c + i v1 + j v2, one origin per site
    A = np.column_stack([idx[use], comp[use] == 0, comp[use] == 1]).astype(float)
    coef, *_ = np.linalg.lstsq(A, pos[use], rcond=None)
    V = coef[:2]  # rows v1, v2
    res = pos[use] - A @ coef
    dof = 2 * use.sum() - 4 - 2 * 2
    s2 = np.sum(res**2) / dof
    cinv = np.linalg.inv(A.T @ A)[:2, :2]
    cov = np.zeros((4, 4))
    for axis in (0, 1):
        cov[np.ix_([axis, 2 + axis], [axis, 2 + axis])] = s2 * cinv
    got = fit["vectors"]
    sign = np.sign(np.sum(got * V, axis=1))  # the fit may return -v
    np.testing.assert_allclose(got * sign[:, None], V, atol=1e-9)
    D = np.diag(np.repeat(sign, 2))
    np.testing.assert_allclose(D @ fit["covariance"] @ D, cov, rtol=1e-6, atol=1e-15)
    assert fit["n_atoms"] == use.sum()
    assert fit["n_outliers"] == 1
    assert fit["n_components"] == 2
    assert fit["residual_rms"] == pytest.approx(np.sqrt(s2), rel=1e-9)
    assert np.allclose(np.abs(V), np.abs([v1, v2]), atol=0.05)


def test_find_lattice_vectors_types_and_values_exclude_swaps():
    """A square grid (5 px) whose types alternate like a checkerboard: the
    translations are the diagonals (5, +-5); without types, the grid."""
    i, j = np.mgrid[0:12, 0:11]
    x = 20 + 5.0 * i.ravel() + 0.01 * j.ravel()
    y = 30 + 5.0 * j.ravel() - 0.02 * i.ravel()
    types = (i + j).ravel() % 2
    plain = np.abs(lat.find_lattice_vectors(x, y)["vectors"])
    np.testing.assert_allclose(np.sort(np.hypot(*plain.T)), [5.0, 5.0], atol=0.01)
    for kw in ({"types": types}, {"values": 1.0 + 2.0 * types}):
        v = lat.find_lattice_vectors(x, y, **kw)["vectors"]
        np.testing.assert_allclose(np.hypot(*v.T), [np.sqrt(50)] * 2, atol=0.02)
        assert abs(v[0] @ v[1]) < 0.5  # the two diagonals, at right angles


def test_lattice_parameters_closed_forms():
    v = np.array([[3.0, 11.0], [10.0, -1.0]])  # b first, acute angle
    sx, sy = 0.02, 0.03
    rng = np.random.default_rng(2)
    B = rng.normal(size=(4, 4))
    cov = 1e-3 * B @ B.T
    r = lat.lattice_parameters(v, cov, scale=(sx, sy))
    vc = v * [sx, sy]
    la, lb = np.hypot(*vc.T)
    # a <= b: a is the second vector (0.2, 0.03) here
    assert r["a"] == pytest.approx(lb) and r["b"] == pytest.approx(la)
    cosg = abs(vc[0] @ vc[1]) / (la * lb)
    assert r["gamma"] == pytest.approx(180 - np.degrees(np.arccos(cosg)))
    assert r["gamma"] >= 90
    assert r["a_vector"] == pytest.approx(list(vc[1]))  # points to +x
    assert r["b_vector"] == pytest.approx(list(-vc[0]))  # gamma >= 90
    assert r["orientation"] == pytest.approx(np.degrees(np.arctan2(vc[1, 1], vc[1, 0])))

    # errors: analytic gradients of a, b, gamma in the calibrated, reduced basis
    a_vec, b_vec = vc[1], -vc[0]
    T = np.zeros((4, 4))  # (a, b) components from the input (v1, v2)
    T[0:2, 2:4] = np.diag([sx, sy])
    T[2:4, 0:2] = -np.diag([sx, sy])
    c = T @ cov @ T.T
    cr = a_vec[0] * b_vec[1] - a_vec[1] * b_vec[0]
    dot = a_vec @ b_vec
    ga = np.concatenate([a_vec / np.hypot(*a_vec), [0, 0]])
    gb = np.concatenate([[0, 0], b_vec / np.hypot(*b_vec)])
    # gamma = atan2(|cross|, dot)
    s = np.sign(cr)
    dcross = s * np.array([b_vec[1], -b_vec[0], -a_vec[1], a_vec[0]])
    ddot = np.concatenate([b_vec, a_vec])
    gg = np.degrees((dot * dcross - abs(cr) * ddot) / (cr**2 + dot**2))
    J = np.array([ga, gb, gg])
    P = J @ c @ J.T
    assert r["a_err"] == pytest.approx(np.sqrt(P[0, 0]), rel=1e-5)
    assert r["b_err"] == pytest.approx(np.sqrt(P[1, 1]), rel=1e-5)
    assert r["gamma_err"] == pytest.approx(np.sqrt(P[2, 2]), rel=1e-5)
    np.testing.assert_allclose(r["covariance"], P, rtol=1e-4, atol=1e-14)
    nan = lat.lattice_parameters(v)
    assert np.isnan(nan["a_err"]) and nan["a"] == pytest.approx(np.hypot(10, 1))
    # a reduced cell from a non-reduced pair: b = v2 - v1
    red = lat.lattice_parameters([[10.0, 1.0], [13.0, 12.0]])
    assert red["b"] == pytest.approx(np.hypot(3, 11))


def test_calibration_factors_recover_known_scales():
    true_a, true_b, gamma = 0.39, 0.52, 104.0
    g = np.radians(gamma)
    cell = np.array([[true_a, 0.0], [true_b * np.cos(g), true_b * np.sin(g)]])
    th = np.radians(23.0)
    R = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    cell = cell @ R.T
    fx, fy = 0.96, 1.03  # the scales are off by these: measured = true / f
    measured = cell / [fx, fy]
    dirs = tuple(np.degrees(np.arctan2(c[1], c[0])) for c in measured)
    f = lat.calibration_factors(
        measured, (true_a, true_b), angle=gamma, directions=dirs, anisotropic=True
    )
    assert f["factor_x"] == pytest.approx(fx, rel=1e-9)
    assert f["factor_y"] == pytest.approx(fy, rel=1e-9)
    assert f["a"] == pytest.approx(np.hypot(*measured[0]))
    assert f["b"] == pytest.approx(np.hypot(*measured[1]))
    cosm = measured[0] @ measured[1] / (f["a"] * f["b"])
    assert f["gamma"] == pytest.approx(np.degrees(np.arccos(cosm)))
    iso = lat.calibration_factors(measured, (true_a, true_b), directions=dirs)
    want = np.sqrt(true_a * true_b / (f["a"] * f["b"]))
    assert iso["factor_x"] == pytest.approx(want) and iso["factor_y"] == iso["factor_x"]
    # one length: a = b; the reduced cell's vectors without directions
    sq = lat.calibration_factors([[0.41, 0.0], [0.0, 0.43]], 0.4)
    assert sq["factor_x"] == pytest.approx(0.4 / np.sqrt(0.41 * 0.43))
    # directions pick the lattice vector nearest each direction
    ax = lat.calibration_factors(
        [[0.4056, 0.0], [0.0, 0.3822]], 0.39, directions=(90, 0), anisotropic=True
    )
    assert ax["a"] == pytest.approx(0.3822) and ax["b"] == pytest.approx(0.4056)
    assert ax["factor_x"] == pytest.approx(0.39 / 0.4056)
    assert ax["factor_y"] == pytest.approx(0.39 / 0.3822)


# ---------------------------------------------------------------------------
# spectra: closed forms and brute force
# ---------------------------------------------------------------------------
from hyperspy_localcryst.numerics import spectra as spx  # noqa: E402


def test_region_transform_and_inverse_closed_form():
    region = (3.5, -1.5, 27.5, 16.5)  # 24 x 18 survey px
    ny, nx = 6, 8
    for rot in (0.0, 21.0, -67.0):
        A = spx.region_transform(region, (ny, nx), rotation=rot)
        i = np.array([0.0, 7.0, 3.0, 5.5, -0.5])
        j = np.array([0.0, 5.0, 2.0, 1.25, -0.5])
        # unrotated: cell centres, then turned about the region's centre with
        # +i along (cos, -sin) of the rotation
        u = 3.5 + (i + 0.5) * 24 / nx
        v = -1.5 + (j + 0.5) * 18 / ny
        t = np.radians(rot)
        cx, cy = 15.5, 7.5
        want_x = cx + np.cos(t) * (u - cx) + np.sin(t) * (v - cy)
        want_y = cy - np.sin(t) * (u - cx) + np.cos(t) * (v - cy)
        sx, sy = spx.apply_affine(A, i, j)
        np.testing.assert_allclose(sx, want_x, atol=1e-12)
        np.testing.assert_allclose(sy, want_y, atol=1e-12)
        bi, bj = spx.atoms_to_si_pixels(sx, sy, A)
        np.testing.assert_allclose(bi, i, atol=1e-12)
        np.testing.assert_allclose(bj, j, atol=1e-12)
        inv = spx.invert_affine(A)
        np.testing.assert_allclose(
            np.vstack([inv, [0, 0, 1]]) @ np.vstack([A, [0, 0, 1]]),
            np.eye(3),
            atol=1e-12,
        )


def test_si_pixel_centres_subsampling_order():
    A = np.array([[2.0, 0.3, 5.0], [-0.2, 1.5, 1.0]])
    x, y, pixel = spx.si_pixel_centres(A, (2, 3), subsample=3)
    want_i, want_j, want_p = [], [], []
    for p in range(6):
        jj, ii = divmod(p, 3)
        for b in range(3):
            for a in range(3):
                want_i.append(ii - 0.5 + (a + 0.5) / 3)
                want_j.append(jj - 0.5 + (b + 0.5) / 3)
                want_p.append(p)
    wi, wj = np.array(want_i), np.array(want_j)
    np.testing.assert_allclose(x, 2.0 * wi + 0.3 * wj + 5.0, atol=1e-12)
    np.testing.assert_allclose(y, -0.2 * wi + 1.5 * wj + 1.0, atol=1e-12)
    np.testing.assert_array_equal(pixel, want_p)


def _sample_points(A, shape, s):
    ny, nx = shape
    pts, pix = [], []
    for p in range(ny * nx):
        jj, ii = divmod(p, nx)
        for b in range(s):
            for a in range(s):
                i = ii - 0.5 + (a + 0.5) / s
                j = jj - 0.5 + (b + 0.5) / s
                pts.append(A[:, :2] @ [i, j] + A[:, 2])
                pix.append(p)
    return np.array(pts), np.array(pix)


def test_cell_weights_and_integration_brute_force():
    A = spx.region_transform((0.5, 1.0, 20.5, 13.0), (4, 5), rotation=8.0)
    x = np.array([3.2, 9.7, 15.1, 6.4, 18.9, 40.0])
    y = np.array([4.1, 3.3, 8.8, 10.2, 2.5, 40.0])
    s = 4
    pts, pix = _sample_points(A, (4, 5), s)
    d = np.hypot(pts[:, 0, None] - x, pts[:, 1, None] - y)
    nn = np.median(np.sort(np.hypot(x[:, None] - x, y[:, None] - y), 1)[:, 1])
    for md in (None, 3.0):
        W = spx.cell_weights(x, y, A, (4, 5), max_distance=md, subsample=s).toarray()
        lim = nn if md is None else md
        want = np.zeros((6, 20))
        k = d.argmin(1)
        ok = d.min(1) <= lim
        np.add.at(want, (k[ok], pix[ok]), 1.0 / s**2)
        np.testing.assert_allclose(W, want, atol=1e-12)
    W = spx.cell_weights(x, y, A, (4, 5), cell="radius", radius=4.0, subsample=s)
    want = np.zeros((6, 20))
    for a in range(6):
        np.add.at(want[a], pix[d[:, a] <= 4.0], 1.0 / s**2)
    np.testing.assert_allclose(W.toarray(), want, atol=1e-12)
    # integration and class means
    rng = np.random.default_rng(0)
    S = rng.uniform(0, 10, (4, 5, 3))
    sums, area = spx.integrate_cells(S, W)
    np.testing.assert_allclose(sums, want @ S.reshape(20, 3))
    np.testing.assert_allclose(area, want.sum(1))
    labels = np.array([1, 0, 1, -1, 2, 0])
    means, n_atoms, tot = spx.cluster_mean_spectra(sums, area, labels)
    for c in range(3):
        use = (labels == c) & (area > 0)
        np.testing.assert_allclose(means[c], sums[use].sum(0) / area[use].sum())
        assert n_atoms[c] == use.sum()
        assert tot[c] == pytest.approx(area[use].sum())
    assert area[5] == 0 and n_atoms[0] == 1
    with pytest.raises(ValueError):
        spx.cluster_mean_spectra(sums, area, [5, 5, 5, 5, 5, 0])
    m, _, _ = spx.cluster_mean_spectra(sums, area, [5, 5, 5, 5, 5, 0], allow_empty=True)
    assert np.isnan(m[0]).all() and np.isfinite(m[5]).all()


def test_window_intensity_closed_form():
    e = np.linspace(200.0, 400.0, 101)  # 2 eV channels
    A, r = 3.0e7, 2.7
    edge = np.where(e >= 300.0, 55.0 + 0.1 * (e - 300.0), 0.0)
    S = np.vstack([A * e**-r + edge, 0.5 * A * e ** -(r + 0.3) + 2 * edge])
    got = spx.window_intensity(S, e, (310.0, 350.0), background=(220.0, 290.0))
    m = (e >= 310.0) & (e <= 350.0)
    want = np.array([edge[m].sum() * 2.0, 2 * edge[m].sum() * 2.0])
    np.testing.assert_allclose(got, want, rtol=1e-9)
    plain = spx.window_intensity(S, e, (310.0, 350.0))
    np.testing.assert_allclose(plain, S[:, m].sum(1) * 2.0, rtol=1e-12)
    # uneven channels: the width is numpy.gradient of the energies
    e2 = np.array([1.0, 2.0, 4.0, 7.0, 8.0])
    s2 = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert spx.window_intensity(s2, e2, (2.0, 7.0))[0] == pytest.approx(
        2.0 * 1.5 + 3.0 * 2.5 + 4.0 * 2.0
    )


# ---------------------------------------------------------------------------
# tracking: known trajectories
# ---------------------------------------------------------------------------
from hyperspy_localcryst.numerics import tracking as tr  # noqa: E402


def _movie():
    """Six atoms on an irregular layout drifting by known non-integer shifts
    (x and y different), with small per-atom wobble, one atom missing in
    frame 2, input order scrambled."""
    rng = np.random.default_rng(5)
    base = np.array(
        [[5.0, 7.0], [15.2, 6.1], [9.9, 16.3], [21.4, 14.8], [3.1, 22.6], [17.7, 25.2]]
    )
    shifts = np.array([[0, 0], [0.8, -0.6], [1.9, -1.1], [2.6, -2.05]])
    xs, ys, fr, tid = [], [], [], []
    for f, sh in enumerate(shifts):
        for k, b in enumerate(base):
            if f == 2 and k == 3:
                continue
            w = rng.normal(0, 0.05, 2)
            xs.append(b[0] + sh[0] + w[0])
            ys.append(b[1] + sh[1] + w[1])
            fr.append(f)
            tid.append(k)
    perm = rng.permutation(len(xs))
    return (
        np.array(xs)[perm],
        np.array(ys)[perm],
        np.array(fr)[perm],
        np.array(tid)[perm],
        shifts,
    )


def test_link_frames_and_shifts_against_known_tracks():
    x, y, fr, tid, shifts = _movie()
    # steps of ~1 px, ~2.3 px across the gap of frame 2 (bridged by memory)
    track = tr.link_frames(x, y, fr, 2.5, memory=1)
    # same partition as the truth, numbered by first appearance
    for k in range(6):
        assert len(np.unique(track[tid == k])) == 1
    assert len(np.unique(track)) == 6
    first = [track[(fr == 0) & (tid == k)][0] for k in range(6)]
    order0 = np.flatnonzero(fr == 0)  # input order within frame 0
    assert first == [list(tid[order0]).index(k) for k in range(6)]
    # without memory (or with too small a radius to bridge the gap), the
    # atom missing in frame 2 starts a new track
    assert len(np.unique(tr.link_frames(x, y, fr, 2.5))) == 7
    assert len(np.unique(tr.link_frames(x, y, fr, 1.6, memory=1))) == 7
    # too small a radius for the drift: no links, unless shifts predict it
    assert len(np.unique(tr.link_frames(x, y, fr, 0.5))) == len(x)
    ts = tr.link_frames(x, y, fr, 0.5, memory=1, shifts=shifts)
    assert len(np.unique(ts)) == 6
    est, err = tr.estimate_shifts(x, y, fr, track)
    for f in range(4):
        a = [np.flatnonzero((fr == 0) & (tid == k))[0] for k in range(6)]
        b = [np.flatnonzero((fr == f) & (tid == k)) for k in range(6)]
        d = np.array(
            [[x[bi[0]] - x[ai], y[bi[0]] - y[ai]] for ai, bi in zip(a, b) if bi.size]
        )
        med = np.median(d, axis=0)
        np.testing.assert_allclose(est[f], med, atol=1e-12)
        mad = 1.4826 * np.median(np.abs(d - med), axis=0)
        np.testing.assert_allclose(err[f], 1.2533 * mad / np.sqrt(len(d)), rtol=1e-3)
    np.testing.assert_allclose(est, shifts, atol=0.1)
    tx, ty = tr.trajectories(x, y, fr, track)
    assert tx.shape == (6, 4)
    for i in range(len(x)):
        assert tx[track[i], fr[i]] == x[i] and ty[track[i], fr[i]] == y[i]
    assert np.isnan(tx).sum() == 1
    disp = tr.displacements(x, y, fr, track, 1, 3)
    assert list(disp["track"]) == sorted(disp["track"]) and len(disp["track"]) == 6
    for t, ia, ib in zip(disp["track"], disp["index_a"], disp["index_b"]):
        assert fr[ia] == 1 and fr[ib] == 3 and track[ia] == track[ib] == t
    np.testing.assert_allclose(disp["dx"], x[disp["index_b"]] - x[disp["index_a"]])
    np.testing.assert_allclose(disp["dy"], y[disp["index_b"]] - y[disp["index_a"]])


def test_link_frames_prefers_more_links_then_smaller_cost():
    # two ends, two atoms: the nearest pairing would leave one unlinked
    x = np.array([0.0, 3.0, 1.9, -0.9])
    y = np.array([0.0, 0.0, 0.0, 0.0])
    fr = np.array([0, 0, 1, 1])
    track = tr.link_frames(x, y, fr, 2.0)
    assert track.tolist() == [0, 1, 1, 0]
    # one end, three candidates: the nearest is linked, the others start
    # tracks (in input order)
    t3 = tr.link_frames([5.0, 5.9, 4.6, 5.2], [5.0, 5.3, 4.4, 5.1], [0, 1, 1, 1], 1.5)
    assert t3.tolist() == [0, 1, 2, 0]
    # equal cardinality: the smaller total squared displacement wins
    x = np.array([0.0, 2.0, 1.2, 0.9])
    track = tr.link_frames(x, y, fr, 1.5)
    assert track.tolist() == [0, 1, 1, 0]


def test_estimate_affine_exact():
    rng = np.random.default_rng(4)
    ref = rng.uniform(0, 50, (9, 2))
    M = np.array([[1.03, -0.04], [0.02, 0.98]])
    t = np.array([2.5, -1.25])
    p = ref @ M.T + t
    m, tt, rms = tr.estimate_affine(ref[:, 0], ref[:, 1], p[:, 0], p[:, 1])
    np.testing.assert_allclose(m, M, atol=1e-12)
    np.testing.assert_allclose(tt, t, atol=1e-10)
    assert rms < 1e-10
    noise = rng.normal(0, 0.1, p.shape)
    m, tt, rms = tr.estimate_affine(ref[:, 0], ref[:, 1], *(p + noise).T)
    X = np.column_stack([ref, np.ones(9)])
    coef, *_ = np.linalg.lstsq(X, p + noise, rcond=None)
    np.testing.assert_allclose(m, coef[:2].T, atol=1e-10)
    np.testing.assert_allclose(tt, coef[2], atol=1e-9)
    res = p + noise - X @ coef
    assert rms == pytest.approx(np.sqrt(np.mean(np.sum(res**2, 1))))


def test_width_held_at_window_radius():
    """A column wider than the window radius allows: the width is held at its
    bound (status 1), the other parameters are the optimum at that width and
    their errors those with the width fixed."""
    radius = 4
    atoms = [(14.37, 15.62, 150.0, 5.5)]
    img = _perturb(_render((30, 30), atoms, 40.0), 0.01, 21)
    seed = (14.2, 15.8)
    fit = refine_gaussians(
        img,
        [seed[0]],
        [seed[1]],
        radius,
        sigma=3.0,
        tol=1e-10,
        max_iter=100,
        subtract_neighbours=False,
    )
    assert fit["fit_status"][0] == 1.0 and fit["converged"][0] == 1.0
    assert fit["sigma_x"][0] == pytest.approx(radius, rel=1e-6)
    # our optimum with the width fixed at the radius
    X, Y = _window(14, 16, radius, img.shape)
    D = img[Y.astype(int), X.astype(int)]

    def model(p):
        mu, J = _round_model((p[0], p[1], p[2], float(radius), p[3]), X, Y)
        return mu, J[:, [0, 1, 2, 4]]

    def score(p):
        mu, J = model(p)
        return J.T @ ((D - mu) / mu)

    p = optimize.root(score, [14.4, 15.6, 150.0, 40.0], options={"xtol": 1e-13}).x
    mu, J = model(p)
    chi2 = np.sum((D - mu) ** 2 / mu) / (len(D) - 5)  # the width still counts
    err = np.sqrt(chi2 * np.diag(np.linalg.inv((J / mu[:, None]).T @ J)))
    assert fit["x"][0] == pytest.approx(p[0], abs=1e-5)
    assert fit["y"][0] == pytest.approx(p[1], abs=1e-5)
    assert fit["amplitude"][0] == pytest.approx(p[2], rel=1e-5)
    assert fit["background"][0] == pytest.approx(p[3], rel=1e-5)
    assert fit["x_err"][0] == pytest.approx(err[0], rel=1e-3)
    assert fit["y_err"][0] == pytest.approx(err[1], rel=1e-3)


def test_unsettled_joint_fit_warns_only_when_passes_run_out():
    img = _render(_JOINT_SHAPE, _JOINT_ATOMS, 20.0)
    x, y = _JOINT_SEEDS
    with pytest.warns(RuntimeWarning, match="had not settled after max_passes=2"):
        refine_gaussians(img, x, y, 4, max_passes=2, tol=1e-9)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refine_gaussians(img, x, y, 4, max_passes=80, tol=1e-9)
        refine_gaussians(img, x, y, 4, max_passes=2, tol=1e-9, warn=False)


# ---------------------------------------------------------------------------
# statistics: count_classes on clouds of known classes
# ---------------------------------------------------------------------------
def _classes(sizes, centres, spread, seed):
    rng = np.random.default_rng(seed)
    X = np.concatenate(
        [rng.normal(c, spread, (s, len(c))) for s, c in zip(sizes, centres)]
    )
    truth = np.repeat(np.arange(len(sizes)), sizes)
    return X, truth


def test_count_classes_known_classes_sizes_centroids_outliers():
    X, truth = _classes([40, 160, 90], [[0, 0, 0], [3, 0.5, 0], [0.5, 3.5, 1]], 0.25, 1)
    X = np.vstack([X, [[30.0, -5.0, 2.0], [1.0, 40.0, 0.0], [np.nan, 0, 0]]])
    r = class_count.count_classes(X)
    assert r.n_classes == 3
    # labels by decreasing size: truth classes 1 (160), 2 (90), 0 (40)
    want = np.concatenate([np.choose(truth, [2, 0, 1]), [-1, -1, -1]])
    inl = np.arange(290)
    np.testing.assert_array_equal(r.labels[inl], want[inl])
    assert r.labels[-1] == -1
    # the isolated rows are outliers, given the nearest centroid's class
    np.testing.assert_array_equal(np.flatnonzero(r.outliers), [290, 291])
    for row in (290, 291):
        assert r.labels[row] == np.argmin(np.hypot(*(r.centroids - X[row]).T))
    for k in range(3):
        np.testing.assert_allclose(r.centroids[k], X[inl][want[inl] == k].mean(0))
    made = [s for s in r.splits if s["accepted"]]
    assert len(made) == 2
    assert made[0]["n"] == 290 and sorted(made[0]["sizes"]) in ([40, 250], [90, 200])
    assert r.reason.startswith("3 classes: 2 split(s)")
    assert "2 isolated row(s) joined the nearest class" in r.reason
    # at most max_classes; a class below min_size is not split off
    r1 = class_count.count_classes(X, max_classes=1)
    assert r1.n_classes == 1 and np.all(r1.labels[:-1] == 0)
    assert class_count.count_classes(X, min_size=50).n_classes == 2


def test_count_classes_noise_threshold_both_sides():
    """Two tight classes 1.0 apart: split when 3 x the noise is below the
    separation, not when it is above."""
    X, truth = _classes([150, 110], [[0.0, 0.0], [0.8, 0.6]], 0.08, 2)
    for sd, split in ((0.3, True), (0.36, False), (None, True)):
        noise = None if sd is None else np.full(X.shape, sd)
        r = class_count.count_classes(X, noise=noise)
        assert r.n_classes == (2 if split else 1)
        s = r.splits[0]
        assert s["separation"] == pytest.approx(1.0, abs=0.03)
        if sd is None:
            assert np.isnan(s["noise"])
        else:
            assert s["noise"] == pytest.approx(sd, rel=1e-9)
        if split:
            np.testing.assert_array_equal(r.labels, truth)
            assert s["sizes"] in ([150, 110], [110, 150])
        else:
            assert "within 3 x the measurement noise" in s["reason"]
            assert r.reason.startswith("1 class: the classes are")


def test_count_classes_single_cloud_and_flat_top():
    rng = np.random.default_rng(3)
    one = rng.normal(0, 1, (300, 3)) * [2.0, 1.0, 0.5]
    r = class_count.count_classes(one)
    assert r.n_classes == 1 and np.all(r.labels == 0)
    np.testing.assert_allclose(r.centroids[0], one.mean(0))
    # a flat-topped (uniform) cloud is not two classes either
    flat = rng.uniform(0, 6, (400, 1))
    assert class_count.count_classes(flat).n_classes == 1
    # too few rows to split
    few = class_count.count_classes(one[:15])
    assert few.n_classes == 1 and few.reason == "1 class: too few rows to split."


def test_rotate_affine_rotation_step_and_trials_closed_forms():
    region, sh = (10.5, 20.5, 50.5, 44.5), (6, 10)
    A0 = spx.region_transform(region, sh)
    for a in (17.0, -63.0):
        A = spx.rotate_affine(A0, a, sh)
        np.testing.assert_allclose(A, spx.region_transform(region, sh, a), atol=1e-12)
        # the centre of the SI grid stays put
        c0 = spx.apply_affine(A0, 4.5, 2.5)
        c1 = spx.apply_affine(A, 4.5, 2.5)
        np.testing.assert_allclose(c1, c0, atol=1e-12)
    # corner 0.5 |A (nx, ny)| = 0.5 * hypot(40, 24) survey px
    corner = 0.5 * np.hypot(40.0, 24.0)
    assert spx.default_rotation_step(A0, sh) == pytest.approx(np.degrees(2 / corner))
    small = spx.region_transform((0.5, 0.5, 10.5, 8.5), (4, 5))
    assert spx.default_rotation_step(small, (4, 5)) == 5.0  # capped
    np.testing.assert_allclose(
        spx.rotation_trials(-7.0, 5.0, 5.0), [-7.0, -3.0, 1.0, 5.0]
    )
    np.testing.assert_allclose(
        spx.rotation_trials(0.0, 359.0, 120.0), [0, 119.666666666, 239.33333333, 359.0]
    )
    np.testing.assert_allclose(spx.rotation_trials(0.0, 360.0, 120.0), [0, 120, 240])
    assert spx.rotation_trials(3.0, 3.0, 1.0).tolist() == [3.0]


def _field(x, y, seed=0):
    """A smooth, non-periodic field, evaluated anywhere."""
    rng = np.random.default_rng(seed)
    bx, by = rng.uniform(-5, 75, 120), rng.uniform(-5, 65, 120)
    amp = rng.uniform(0.5, 2.0, 120)
    out = np.zeros(np.broadcast(x, y).shape)
    for a, b, c in zip(bx, by, amp):
        out += c * np.exp(-((x - a) ** 2 + (y - b) ** 2) / (2 * 2.0**2))
    return out


def test_estimate_si_shift_and_rotation_known_offsets():
    yy, xx = np.mgrid[:64, :72].astype(float)
    survey = _field(xx, yy)
    sh = (14, 18)  # SI pixels of 1.5 x 2 survey pixels
    A = spx.region_transform((15.5, 12.5, 42.5, 40.5), sh)
    shift = np.array([1.3, -0.7])
    jj, ii = np.mgrid[0 : sh[0], 0 : sh[1]].astype(float)
    sx, sy = spx.apply_affine(A, ii, jj)
    haadf = _field(sx + shift[0], sy + shift[1])
    got, score = spx.estimate_si_shift(survey, haadf, A, sh, search=4.0)
    np.testing.assert_allclose(got, shift, atol=0.07)
    assert score > 0.98
    # far up (2.7 SI pixels): the search margin before the region's first
    # row is sampled at one survey pixel per step, like the region
    shift = np.array([0.3, -5.4])
    haadf = _field(sx + shift[0], sy + shift[1])
    got, score = spx.estimate_si_shift(survey, haadf, A, sh, search=6.0)
    np.testing.assert_allclose(got, shift, atol=0.07)
    assert score > 0.98
    got0, score0 = spx.estimate_si_shift(survey, _field(sx, sy), A, sh, search=4.0)
    np.testing.assert_allclose(got0, 0.0, atol=0.01)
    assert score0 > 0.99
    # rotated SI: rotation and shift recovered
    Ar = spx.rotate_affine(A, 3.0, sh)
    sx, sy = spx.apply_affine(Ar, ii, jj)
    haadf = _field(sx, sy)
    rot, sh_r, score = spx.estimate_si_rotation(
        survey, haadf, A, sh, rotations=[-6.0, -2.0, 2.0, 6.0], search=3.0
    )
    assert rot == pytest.approx(3.0, abs=0.1)
    assert np.abs(sh_r).max() < 0.05 and score > 0.99
    rot0, _, _ = spx.estimate_si_rotation(
        survey, haadf, A, sh, rotations=[-6.0, -2.0, 2.0, 6.0], search=3.0, refine=False
    )
    assert rot0 == 2.0


def test_estimate_shifts_through_an_intermediate_frame():
    """Frame 2 shares only 2 tracks with frame 0 (fewer than 3): its shift is
    measured against frame 1 (4 shared tracks) and frame 1's shift added,
    errors in quadrature; frame 3 shares fewer than 3 with every earlier
    frame: NaN and a warning."""
    base = np.array(
        [[2.0, 3.0], [9.0, 1.5], [5.5, 8.0], [12.0, 9.5], [1.0, 12.0], [8.0, 14.0]]
    )
    d1 = np.array([0.5, -0.25])
    d2 = np.array([1.25, 0.75])
    wob = np.array([[0.01, -0.02], [0.03, 0.0], [-0.02, 0.01], [0.0, 0.04]])
    x, y, fr, tk = [], [], [], []

    def add(f, tracks, pos):
        for t, p in zip(tracks, pos):
            x.append(p[0])
            y.append(p[1])
            fr.append(f)
            tk.append(t)

    add(0, range(4), base[:4])
    add(1, range(6), base + d1 + np.vstack([wob, wob[:2]]))
    add(2, [0, 1, 4, 5], base[[0, 1, 4, 5]] + d2 + wob[::-1])
    add(3, [6, 7], base[:2] + 3.0)
    x, y, fr, tk = map(np.array, (x, y, fr, tk))
    with pytest.warns(RuntimeWarning, match=r"frames \[3\]"):
        shifts, errors = tr.estimate_shifts(x, y, fr, tk)

    def med(fa, fb, tracks):
        a = [np.flatnonzero((fr == fa) & (tk == t))[0] for t in tracks]
        b = [np.flatnonzero((fr == fb) & (tk == t))[0] for t in tracks]
        d = np.column_stack([x[b] - x[a], y[b] - y[a]])
        m = np.median(d, axis=0)
        se = 1.2533 * 1.4826 * np.median(np.abs(d - m), axis=0) / np.sqrt(len(d))
        return m, se

    m1, e1 = med(0, 1, range(4))
    m2, e2 = med(1, 2, [0, 1, 4, 5])
    np.testing.assert_allclose(shifts[0], 0.0)
    np.testing.assert_allclose(shifts[1], m1, atol=1e-12)
    np.testing.assert_allclose(errors[1], e1, rtol=1e-9)
    np.testing.assert_allclose(shifts[2], m1 + m2, atol=1e-12)
    np.testing.assert_allclose(errors[2], np.hypot(e1, e2), rtol=1e-9)
    assert np.isnan(shifts[3]).all() and np.isnan(errors[3]).all()
    # no atoms in frame 0: the first frame with atoms is the reference
    k = (fr > 0) & (fr < 3)
    s2, _ = tr.estimate_shifts(x[k], y[k], fr[k], tk[k], 3)
    assert np.isnan(s2[0]).all() and np.all(s2[1] == 0)
    np.testing.assert_allclose(s2[2], m2, atol=1e-12)


def test_find_lattice_vectors_groups_share_one_lattice():
    """Two frames (groups) of one lattice with different origins, overlapping
    in space: one lattice, one origin per group, no pair across groups."""
    v1, v2 = np.array([7.4, -1.1]), np.array([1.9, 8.3])
    rng = np.random.default_rng(12)
    i, j = np.mgrid[-3:4, -3:4]
    idx = np.column_stack([i.ravel(), j.ravel()])
    p0 = 40.0 + idx @ np.array([v1, v2]) + rng.normal(0, 0.04, (49, 2))
    p1 = 43.3 + idx @ np.array([v1, v2]) + rng.normal(0, 0.04, (49, 2))
    pos = np.vstack([p0, p1])
    groups = np.repeat([5.0, 2.0], 49)
    fit = lat.find_lattice_vectors(pos[:, 0], pos[:, 1], groups=groups)
    A = np.column_stack([np.vstack([idx, idx]), groups == 5.0, groups == 2.0])
    coef, *_ = np.linalg.lstsq(A.astype(float), pos, rcond=None)
    V = coef[:2]
    got = fit["vectors"]
    sign = np.sign(np.sum(got * V, axis=1))
    np.testing.assert_allclose(got * sign[:, None], V, atol=1e-9)
    assert fit["n_components"] == 2 and fit["n_atoms"] == 98


def test_phase_correlation_ambiguous_shift_warns():
    shape = (56, 60)
    with pytest.warns(RuntimeWarning, match="more than 0.40 of the lattice"):
        al.phase_correlation_shift(_lattice(shape), _lattice(shape, (-2.6, 2.3)))


def test_cell_weights_defaults_and_float_labels():
    A = spx.region_transform((0.5, 1.0, 20.5, 13.0), (4, 5))
    x = np.array([3.2, 9.7, 15.1, 6.4, 18.9])
    y = np.array([4.1, 3.3, 8.8, 10.2, 2.5])
    d = np.hypot(x[:, None] - x, y[:, None] - y)
    nn = np.median(np.sort(d, 1)[:, 1])
    # default sampling: spacing at most 1/8 of the nearest-neighbour distance
    s = int(np.clip(np.ceil(8 * 4.0 / nn), 1, 16))  # SI pixel 4 x 3 survey px
    W = spx.cell_weights(x, y, A, (4, 5)).toarray()
    np.testing.assert_allclose(
        W, spx.cell_weights(x, y, A, (4, 5), subsample=s, max_distance=nn).toarray()
    )
    assert not np.allclose(
        W, spx.cell_weights(x, y, A, (4, 5), subsample=s + 1, max_distance=nn).toarray()
    )
    sums = np.arange(10.0).reshape(5, 2)
    area = np.array([1.0, 2.0, 0.5, 1.5, 1.0])
    means, n, tot = spx.cluster_mean_spectra(sums, area, [0.0, np.nan, 1.0, 0.0, -1])
    np.testing.assert_allclose(means[0], (sums[0] + sums[3]) / 2.5)
    np.testing.assert_allclose(means[1], sums[2] / 0.5)
    assert n.tolist() == [2, 1] and tot.tolist() == [2.5, 0.5]


def test_auto_weights_threshold_at_zero():
    """``auto`` takes Poisson weights for an image without negative pixels (a
    zero pixel included) and least squares as soon as one pixel is
    negative."""
    img = _perturb(_render(_SHAPE, _ROUND_ATOMS, _BG), 0.02, 11)
    x = np.array([a[0] for a in _ROUND_ATOMS]) + 0.1
    y = np.array([a[1] for a in _ROUND_ATOMS]) - 0.1
    kw = dict(radius=4, tol=1e-10, max_iter=60, subtract_neighbours=False)
    img0 = img.copy()
    img0[0, -1] = 0.0  # far from every window
    auto = refine_gaussians(img0, x, y, **kw)
    pois = refine_gaussians(img0, x, y, weights="poisson", **kw)
    ls = refine_gaussians(img0, x, y, weights="uniform", **kw)
    for c in ("x", "y", "x_err", "y_err", "amplitude"):
        np.testing.assert_array_equal(auto[c], pois[c])
    assert np.all(np.abs(auto["x_err"] / ls["x_err"] - 1) > 1e-4)
    img0[0, -1] = -1e-6
    auto = refine_gaussians(img0, x, y, **kw)
    for c in ("x", "y", "x_err", "y_err"):
        np.testing.assert_allclose(auto[c], ls[c], rtol=1e-7)
    with pytest.raises(ValueError, match="needs an image without negative"):
        refine_gaussians(img0, x, y, weights="poisson", **kw)


def _ls_shifts(n, edges):
    rows = np.zeros((len(edges), n))
    for e, (i, j, _) in enumerate(edges):
        rows[e, j] += 1
        rows[e, i] -= 1
    d = np.array([s for _, _, s in edges], float)
    sol = np.linalg.lstsq(rows[:, 1:], d, rcond=None)[0]
    sh = np.vstack([np.zeros((1, 2)), sol])
    return sh, np.hypot(*(rows @ sh - d).T)


def test_solve_graph_drops_the_pair_that_breaks_closure():
    truth = np.array([[0, 0], [0.7, -0.4], [1.5, -0.9], [2.1, -1.6]])

    def e(i, j, err=(0.0, 0.0)):
        return (i, j, truth[j] - truth[i] + np.array(err))

    noise = [(0.01, -0.02), (-0.015, 0.01), (0.02, 0.0), (0.0, 0.01), (0.01, 0.01)]
    good = [e(0, 1, noise[0]), e(1, 2, noise[1]), e(2, 3, noise[2])]
    good += [e(0, 2, noise[3]), e(1, 3, noise[4])]
    bad = e(0, 3, (2.5, 1.0))
    shifts, dropped = al._solve_graph(4, good + [bad])
    _, res_all = _ls_shifts(4, good + [bad])
    want, _ = _ls_shifts(4, good)
    np.testing.assert_allclose(shifts, want, atol=1e-12)
    assert len(dropped) == 1 and dropped[0][:2] == (0, 3)
    assert dropped[0][2] == pytest.approx(res_all[-1])
    # a broken triangle: equal residuals (a third of the error each); the
    # pair spanning more frames goes, only when the residual exceeds 1 px
    for err, drop in ((3.3, True), (2.7, False)):
        tri = [e(0, 1), e(1, 2), e(0, 2, (err, 0.0))]
        shifts, dropped = al._solve_graph(3, tri)
        if drop:
            assert [d[:2] for d in dropped] == [(0, 2)]
            np.testing.assert_allclose(shifts, truth[:3], atol=1e-12)
        else:
            assert dropped == []
            np.testing.assert_allclose(shifts, _ls_shifts(3, tri)[0], atol=1e-12)


def test_elliptical_narrow_axis_recovered():
    """A column narrow along x (0.6 px; precision 2.8 px^-2) and wide along y,
    beside a round-ish one: noise-free, every shape parameter is recovered."""
    atoms = [
        (10.42, 12.37, 150.0, 2.1, 0.6, 90.0),
        (24.63, 15.28, 120.0, 1.6, 1.2, 0.0),
    ]
    img = _render((28, 34), atoms, 15.0)
    fit = refine_gaussians(
        img,
        [10.0, 25.0],
        [12.0, 15.0],
        6,
        model="elliptical",
        tol=1e-10,
        max_iter=100,
        subtract_neighbours=False,
    )
    np.testing.assert_array_equal(fit["fit_status"], [0.0, 0.0])
    for k, at in enumerate(atoms):
        assert fit["x"][k] == pytest.approx(at[0], abs=1e-6)
        assert fit["y"][k] == pytest.approx(at[1], abs=1e-6)
        assert fit["sigma_major"][k] == pytest.approx(at[3], rel=1e-6)
        assert fit["sigma_minor"][k] == pytest.approx(at[4], rel=1e-6)
        assert fit["amplitude"][k] == pytest.approx(at[2], rel=1e-6)
    assert abs(fit["orientation"][0]) == pytest.approx(90.0, abs=1e-4)
    assert fit["orientation"][1] == pytest.approx(0.0, abs=1e-4)
    assert fit["sigma_x"][0] == pytest.approx(0.6, rel=1e-6)
    assert fit["sigma_y"][0] == pytest.approx(2.1, rel=1e-6)


def test_joint_position_errors_with_a_held_width():
    """A wide column (3.6 px, window radius 3) among two narrow neighbours:
    its width is held at the radius (status 1) and leaves the group's free
    parameters."""
    atoms = [
        (12.3, 13.6, 120.0, 3.6),
        (18.2, 14.7, 150.0, 1.5),
        (13.9, 19.4, 140.0, 1.6),
    ]
    img = _perturb(_render((30, 30), atoms, 20.0), 0.02, 3)
    fit = refine_gaussians(
        img,
        [12.0, 18.0, 14.0],
        [14.0, 15.0, 19.0],
        3,
        max_passes=40,
        tol=1e-9,
        max_iter=60,
    )
    assert fit["fit_status"].tolist() == [1.0, 0.0, 0.0]
    assert fit["sigma_x"][0] == pytest.approx(3.0, rel=1e-6)
    errs = _joint_position_errors(img, fit, 3, True)
    np.testing.assert_allclose(fit["x_err"], errs[:, 0], rtol=1e-3)
    np.testing.assert_allclose(fit["y_err"], errs[:, 1], rtol=1e-3)
