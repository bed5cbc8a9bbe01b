"""Lattice parameters measured from atoms, and calibration against a known lattice.

Truth is built here from explicit cell vectors (not the project's lattice
helpers): an oblique or rectangular cell, a two-site basis with different
brightness, turned by an odd angle, on a non-square image, with pixels whose
true size differs along x and y. Lengths and angles are compared with the same
quantities computed directly from the truth vectors with numpy.
"""

import warnings
from pathlib import Path

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_localcryst.data.synthetic import render_gaussians
from hyperspy_localcryst.numerics.lattice import (
    calibration_factors,
    find_lattice_vectors,
    lattice_parameters,
)
from hyperspy_localcryst.signals.atom_positions import make_atom_positions

DATA = Path(__file__).parents[1] / "data"


def _rot(deg):
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def _cell(a, b, gamma, turn):
    """Rows a, b of a cell with |a|, |b|, angle gamma, a at ``turn`` deg."""
    g = np.deg2rad(gamma)
    v = np.array([[a, 0.0], [b * np.cos(g), b * np.sin(g)]])
    return v @ _rot(turn).T


def _independent(v):
    """a <= b, gamma of two vectors, computed directly."""
    la, lb = np.linalg.norm(v, axis=1)
    g = np.degrees(np.arccos(abs(v[0] @ v[1]) / (la * lb)))
    g = max(g, 180 - g)  # a reduced cell has gamma >= 90
    return min(la, lb), max(la, lb), g


def _sites(cell_px, shape, basis=((0.0, 0.0), (0.5, 0.5)), margin=4.0):
    """Positions (px) of every site of the cell inside the image, with site id."""
    ny, nx = shape
    inv = np.linalg.inv(cell_px.T)
    corners = np.array([[0, 0], [nx, 0], [0, ny], [nx, ny]], float) - [nx / 2, ny / 2]
    f = corners @ inv.T
    lo, hi = np.floor(f.min(0)) - 1, np.ceil(f.max(0)) + 1
    i, j = np.mgrid[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1]
    xs, site = [], []
    for k, (u, w) in enumerate(basis):
        p = (i.ravel() + u)[:, None] * cell_px[0] + (j.ravel() + w)[:, None] * cell_px[
            1
        ]
        p += [nx / 2 + 0.37, ny / 2 - 0.21]
        xs.append(p)
        site.append(np.full(len(p), k))
    p, site = np.vstack(xs), np.concatenate(site)
    keep = (
        (p[:, 0] > margin)
        & (p[:, 0] < nx - 1 - margin)
        & (p[:, 1] > margin)
        & (p[:, 1] < ny - 1 - margin)
    )
    return p[keep], site[keep]


def _image(cell_px, shape, seed, peaks=(900.0, 400.0), sigma=2.2):
    p, site = _sites(cell_px, shape)
    img = render_gaussians(
        shape, p[:, 0], p[:, 1], np.asarray(peaks)[site], sigma, background=40.0
    )
    return np.random.default_rng(seed).poisson(img).astype(float), p, site


def _atomic_image(data, scale, units="nm"):
    s = hs.signals.Signal2D(data)
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = scale, units
    s.set_signal_type("atomic_image")
    return s


def _refined(s):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return s.refine_atoms(s.find_atoms())


# ------------------------------------------------------------------ numerics
def test_vectors_and_errors_match_the_truth_and_the_scatter():
    """Oblique cell with a two-site basis, turned 23.7 deg: the fitted cell is
    the truth within its error, and the reported errors match the scatter of
    repeated measurements (independent Gaussian position noise)."""
    cell = _cell(12.3, 18.1666, 99.83, 23.7)
    p, site = _sites(cell, (450, 700))
    values = np.where(site == 0, 2.0, 1.0)
    truth = _independent(cell)
    rng = np.random.default_rng(3)
    est, err = [], []
    for _ in range(12):
        q = p + rng.normal(0, 0.3, p.shape)
        v = values + rng.normal(0, 0.1, values.size)
        fit = find_lattice_vectors(q[:, 0], q[:, 1], values=v)
        r = lattice_parameters(fit["vectors"], fit["covariance"])
        est.append([r["a"], r["b"], r["gamma"]])
        err.append([r["a_err"], r["b_err"], r["gamma_err"]])
        assert fit["n_atoms"] == len(p) and fit["n_components"] == 2
        assert fit["residual_rms"] == pytest.approx(0.3, rel=0.1)
    est, err = np.array(est), np.array(err)
    assert np.all(np.abs(est.mean(0) - truth) < 4 * err.mean(0) / np.sqrt(len(est)))
    ratio = est.std(0, ddof=1) / err.mean(0)
    assert np.all((ratio > 0.5) & (ratio < 1.6)), ratio
    # far below a pixel
    assert err[:, :2].max() < 2e-3


def test_type_decides_between_the_cell_and_the_half_diagonal():
    """A centred arrangement (SrTiO3 [001]-like): geometry alone gives the
    half-diagonal cell; brightness or labels give the true cell."""
    cell = _cell(14.0, 14.0, 90.0, -8.3)
    p, site = _sites(cell, (260, 330))
    p = p + np.random.default_rng(0).normal(0, 0.2, p.shape)
    half = lattice_parameters(find_lattice_vectors(p[:, 0], p[:, 1])["vectors"])
    assert half["a"] == pytest.approx(14.0 / np.sqrt(2), rel=2e-3)
    # brightness with a slow gradient that is larger than the site contrast
    grad = 3.0 * p[:, 0] / p[:, 0].max()
    values = np.where(site == 0, 1.0, 0.6) + grad
    for kw in ({"values": values}, {"types": site}):
        r = lattice_parameters(find_lattice_vectors(p[:, 0], p[:, 1], **kw)["vectors"])
        assert r["a"] == pytest.approx(14.0, rel=2e-3), kw
        assert r["b"] == pytest.approx(14.0, rel=2e-3)
        assert r["gamma"] == pytest.approx(90.0, abs=0.2)
        assert r["orientation"] == pytest.approx(-8.3, abs=0.2) or r[
            "orientation"
        ] == pytest.approx(-8.3 + 90, abs=0.2)


def test_groups_are_never_joined():
    """Two noisy frames of the same cell, the second drifted by 1.1 px: with
    groups (frames) each frame is measured on its own scale (nearest
    neighbours within the frame) and every atom is fitted; pooled, the
    drift becomes the nearest-neighbour distance and most pairs are lost."""
    cell = _cell(11.0, 16.0, 90.0, 31.0)
    p, _ = _sites(cell, (200, 260), basis=((0.0, 0.0),))
    rng = np.random.default_rng(0)
    q = np.vstack([p, p + [0.7, -0.85]]) + rng.normal(0, 0.2, (2 * len(p), 2))
    g = np.repeat([3, 8], len(p))
    fit = find_lattice_vectors(q[:, 0], q[:, 1], groups=g)
    r = lattice_parameters(fit["vectors"], fit["covariance"])
    for key, want in (("a", 11.0), ("b", 16.0), ("gamma", 90.0)):
        assert abs(r[key] - want) < 4 * r[f"{key}_err"], key
    assert fit["n_atoms"] == len(q) and fit["n_components"] == 2
    pooled = find_lattice_vectors(q[:, 0], q[:, 1])
    assert pooled["n_atoms"] < 0.9 * len(q)
    assert pooled["n_edges"] < 0.5 * fit["n_edges"]


def test_anisotropic_scale_against_direct_computation():
    v = np.array([[10.0, 2.0], [-1.0, 20.0]])  # a reduced cell once scaled
    scale = (0.021, 0.0093)
    cov = np.diag([1e-4, 2e-4, 3e-4, 4e-4])
    r = lattice_parameters(v, cov, scale=scale)
    a, b, g = _independent(v * scale)
    assert (r["a"], r["b"], r["gamma"]) == pytest.approx((a, b, g), rel=1e-9)
    # error of |a| by the chain rule, computed by hand for the vector that is a
    va = np.array(r["a_vector"])
    k = int(np.argmin(np.abs(np.linalg.norm(v * scale, axis=1) - r["a"])))
    sx, sy = scale
    var = (va[0] / r["a"]) ** 2 * cov[2 * k, 2 * k] * sx**2 + (
        va[1] / r["a"]
    ) ** 2 * cov[2 * k + 1, 2 * k + 1] * sy**2
    assert r["a_err"] == pytest.approx(np.sqrt(var), rel=1e-5)


def test_calibration_factors():
    truth = _cell(0.39, 0.55, 90.0, 11.0)
    fx, fy = 1 / 1.04, 1 / 0.98  # measured = truth * (1.04, 0.98)
    measured = truth * [1.04, 0.98]
    f = calibration_factors(measured, (0.39, 0.55), angle=90, anisotropic=True)
    assert (f["factor_x"], f["factor_y"]) == pytest.approx((fx, fy), rel=1e-9)
    # the measured cell it reports: lengths and angle of the given vectors
    va, vb = np.asarray(measured, float)
    la, lb = sorted([np.hypot(*va), np.hypot(*vb)])
    gamma = np.degrees(np.arccos(abs(va @ vb) / (np.hypot(*va) * np.hypot(*vb))))
    assert (f["a"], f["b"]) == pytest.approx((la, lb), rel=1e-9)
    assert f["gamma"] == pytest.approx(gamma, abs=1e-6) or f["gamma"] == pytest.approx(
        180.0 - gamma, abs=1e-6
    )
    # two lengths are enough here
    f2 = calibration_factors(measured, (0.39, 0.55), anisotropic=True)
    assert (f2["factor_x"], f2["factor_y"]) == pytest.approx((fx, fy), rel=1e-9)
    # isotropic: geometric mean of the two length ratios
    iso = calibration_factors(truth * 1.03, (0.39, 0.55))
    assert iso["factor_x"] == iso["factor_y"] == pytest.approx(1 / 1.03, rel=1e-12)
    # a square cell at 45 deg: lengths cannot separate x from y; the angle can
    sq = _cell(0.39, 0.39, 90.0, 45.0) * [1.04, 0.98]
    with pytest.raises(ValueError, match="cannot be told apart"):
        calibration_factors(sq, 0.39, anisotropic=True)
    f3 = calibration_factors(sq, 0.39, angle=90, anisotropic=True)
    assert (f3["factor_x"], f3["factor_y"]) == pytest.approx((fx, fy), rel=1e-9)
    # directions pick a and b when the order by length would swap them
    sw = _cell(0.40, 0.41, 90.0, 0.0) * [1.04, 0.98]  # x now 0.416, y 0.4018
    f4 = calibration_factors(sw, (0.40, 0.41), directions=(0, 90), anisotropic=True)
    assert (f4["factor_x"], f4["factor_y"]) == pytest.approx((fx, fy), rel=1e-9)
    with pytest.raises(ValueError, match="positive"):
        calibration_factors(truth, -1.0)


# -------------------------------------------------------------- signal layer
def test_get_lattice_parameters_with_non_square_pixels():
    """Oblique cell turned 17.3 deg, non-square image, true pixel size 0.011
    (x) and 0.0087 (y) nm: the calibrated cell from the refined atoms equals
    the physical truth."""
    sx, sy = 0.011, 0.0087
    phys = _cell(0.21, 0.27, 104.0, 17.3)  # nm
    cell_px = phys / [sx, sy]
    data, _, _ = _image(cell_px, (170, 240), seed=5)
    atoms = _refined(_atomic_image(data, 1.0, "px"))  # found on square pixels
    x_px, y_px = atoms.get_pixel_positions()
    grid = {
        "x": dict(size=240, scale=sx, offset=0.0, units="nm", name="x"),
        "y": dict(size=170, scale=sy, offset=0.0, units="nm", name="y"),
    }
    table = make_atom_positions(
        {"x": x_px * sx, "y": y_px * sy, "amplitude": atoms.get_column("amplitude")},
        {"x": "nm", "y": "nm"},
        grid,
    )
    r = table.get_lattice_parameters()
    a, b, g = _independent(phys)
    assert r["units"] == "nm"
    for key, want in (("a", a), ("b", b), ("gamma", g)):
        assert abs(r[key] - want) < 4 * r[f"{key}_err"] + 1e-4 * want, key
        assert r[f"{key}_err"] < 2e-3 * want
    # a is the 0.21 nm vector, pointing along the turned x axis (y down)
    ang = np.degrees(np.arctan2(phys[0, 1], phys[0, 0]))
    assert r["orientation"] == pytest.approx(ang, abs=0.3)
    # per sublattice: each site alone has the same cell
    labelled = table.label_sublattices(2, column="amplitude")
    for k in (0, 1):
        rk = labelled.get_lattice_parameters(sublattice=k)
        assert rk["a"] == pytest.approx(a, rel=2e-3)
        assert rk["n_atoms"] == int((labelled.get_column("sublattice") == k).sum())
    with pytest.raises(ValueError, match="not a label"):
        labelled.get_lattice_parameters(sublattice=5)


def test_calibrate_recovers_a_distorted_pixel_size():
    """The file says 0.01 nm square pixels; the true pixels are 4 % smaller
    along x and 2 % larger along y (the stored scale is +4 % / -2 % off).
    A rectangular 0.39 x 0.55 nm cell turned by 11 deg: the anisotropic
    calibration recovers both true pixel sizes to < 0.1 %."""
    stored = 0.01
    true_x, true_y = stored / 1.04, stored / 0.98
    phys = _cell(0.39, 0.55, 90.0, 11.0)
    data, _, _ = _image(phys / [true_x, true_y], (190, 260), seed=7, sigma=2.6)
    img = _atomic_image(data, stored)
    atoms = _refined(img)
    before = img.deepcopy()
    out = img.calibrate((0.39, 0.55), atoms=atoms, angle=90, anisotropic=True)
    ax, ay = out.axes_manager.signal_axes
    assert ax.scale == pytest.approx(true_x, rel=1e-3)
    assert ay.scale == pytest.approx(true_y, rel=1e-3)
    c = out.metadata.Calibration
    assert c.factor_x == pytest.approx(ax.scale / stored, rel=1e-12)
    assert c.original_scale == [stored, stored] and c.units == "nm"
    # the image itself is unchanged, and the copy's data is its own
    assert img.axes_manager[0].scale == stored and img.axes_manager[1].scale == stored
    assert "Calibration" not in img.metadata
    np.testing.assert_array_equal(img.data, before.data)
    assert not np.shares_memory(out.data, img.data)
    # isotropic: one factor, the geometric mean of the two corrections
    iso = img.calibrate((0.39, 0.55), atoms=atoms)
    f = iso.metadata.Calibration.factor_x
    assert f == iso.metadata.Calibration.factor_y
    assert f == pytest.approx(np.sqrt(1 / (1.04 * 0.98)), rel=1e-3)


def test_calibrate_isotropic_from_scratch_and_units():
    """Stored scale 3 % too large, atoms found here: < 0.1 % after calibration;
    an uncalibrated image needs `units`; other units are refused."""
    true = 0.0123
    phys = _cell(0.2, 0.2, 120.0, 7.0)  # hexagonal cell
    data, _, _ = _image(phys / true, (150, 210), seed=2)
    img = _atomic_image(data, true * 1.03)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = img.calibrate(0.2)
    assert out.axes_manager[0].scale == pytest.approx(true, rel=1e-3)
    assert out.metadata.Calibration.measured.gamma == pytest.approx(120, abs=0.3)
    raw = _atomic_image(data, 1.0, "")
    with pytest.raises(ValueError, match="uncalibrated"):
        raw.calibrate(0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nm = raw.calibrate(0.2, units="nm")
    assert nm.axes_manager[0].units == "nm"
    assert nm.axes_manager[0].scale == pytest.approx(true, rel=1e-3)
    with pytest.raises(ValueError, match="lengths are not converted"):
        img.calibrate(2.0, units="Å")


def test_real_srtio3_cell_and_calibration():
    """The SrTiO3 [001] HAADF .emi: with its stored 0.01001 nm/px the cell is
    0.402-0.407 nm (3-4 % above the 0.3905 nm of SrTiO3: the file's
    calibration is off), nearly square; calibrating to 0.3905 gives a factor
    0.96-0.97 and the new cell is 0.3905 nm."""
    s = hs.load(DATA / "SrTiO3_HAADF_TitanCubed80kV.emi")
    s.set_signal_type("atomic_image")
    s.change_dtype("float64")
    atoms = _refined(s)
    r = atoms.get_lattice_parameters()
    assert 0.400 < r["a"] <= r["b"] < 0.409
    assert r["gamma"] == pytest.approx(90, abs=2)
    assert r["a_err"] < 1e-3 and r["n_atoms"] > 0.95 * atoms.n_atoms
    out = s.calibrate(0.3905, atoms=atoms)
    f = out.metadata.Calibration.factor_x
    assert 0.96 < f < 0.97
    assert np.sqrt(r["a"] * r["b"]) * f == pytest.approx(0.3905, rel=1e-9)


def test_no_lattice_is_a_clear_error():
    """Random points (an amorphous film, noise) and a single row have no
    lattice: one ValueError that says so, never a made-up cell."""
    p = np.random.default_rng(1).uniform(0, 300, (500, 2))
    with pytest.raises(ValueError, match="No two independent lattice translations"):
        find_lattice_vectors(p[:, 0], p[:, 1])
    with pytest.raises(ValueError, match="No two independent lattice translations"):
        find_lattice_vectors(np.arange(40) * 9.0, np.full(40, 5.0))
    with pytest.raises(ValueError, match="at least 6"):
        find_lattice_vectors([1.0, 2.0, np.nan], [1.0, 5.0, 3.0])


def test_calibrate_a_stack_of_one_type():
    """A two-frame stack (the second shifted by 3 px) of a square lattice of
    one atom type, stored 4 % too large: the frames are measured apart and
    the fitted amplitudes of neighbours, which anti-correlate a little in
    the joint fit, are not taken for a change of atom type."""
    from hyperspy_localcryst.data import synthetic_lattice

    s = synthetic_lattice(shape=(150, 170), spacing=18.0, rotation=7.0, seed=1)
    stack = _atomic_image(np.stack([s.data, np.roll(s.data, 3, axis=1)]), 0.0104)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = stack.refine_atoms(
            stack.find_atoms(show_progressbar=False), show_progressbar=False
        )
        out = stack.calibrate(0.18, atoms=atoms)
    assert out.axes_manager.signal_axes[0].scale == pytest.approx(0.01, rel=1e-3)
    r = atoms.get_lattice_parameters()
    assert r["a"] == pytest.approx(0.18 * 1.04, rel=1e-3)
    assert r["n_atoms"] > 0.8 * atoms.n_atoms


def test_displaced_atoms_are_left_out():
    """3 % of the atoms 2.4 px off their sites (within the pairing tolerance,
    ~25 times the position noise): they are left out of the fit, the cell
    and its errors are those of the clean atoms."""
    cell = _cell(12.0, 15.0, 95.0, -21.0)
    p, _ = _sites(cell, (300, 380), basis=((0.0, 0.0),))
    rng = np.random.default_rng(4)
    q = p + rng.normal(0, 0.1, p.shape)
    bad = rng.choice(len(q), len(q) * 3 // 100, replace=False)
    ang = rng.uniform(0, 2 * np.pi, bad.size)
    q[bad] += 2.4 * np.column_stack([np.cos(ang), np.sin(ang)])
    fit = find_lattice_vectors(q[:, 0], q[:, 1])
    assert fit["n_outliers"] == bad.size
    assert fit["residual_rms"] == pytest.approx(0.1, rel=0.15)
    r = lattice_parameters(fit["vectors"], fit["covariance"])
    a, b, g = _independent(cell)
    for key, want in (("a", a), ("b", b), ("gamma", g)):
        assert abs(r[key] - want) < 4 * r[f"{key}_err"], key


def test_atoms_far_off_their_site_are_left_out_of_the_fit_and_counted():
    # rectangular cell 9.5 x 14 px turned by 17 deg, jitter 0.05 px per axis;
    # the rule: an atom whose residual exceeds 5 robust standard deviations
    # (1.4826 x median residual / sqrt(ln 4): 1.48 x 0.05 px here, so 0.37
    # px) is left out. Four atoms moved by 0.55 px (7.4 robust SD) are left
    # out and counted; four moved by 0.2 px (2.7) stay; the vectors are the
    # true ones within their error
    rng = np.random.default_rng(4)
    t = np.deg2rad(17.0)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    i, j = np.mgrid[-8:9, -6:7]
    p = np.column_stack([9.5 * i.ravel(), 14.0 * j.ravel()]) @ rot.T + 100
    p = p + rng.normal(0, 0.05, p.shape)
    far, near = [20, 60, 100, 150], [30, 70, 110, 160]
    ang = rng.uniform(0, 2 * np.pi, 8)
    step = np.column_stack([np.cos(ang), np.sin(ang)])
    p[far] += 0.55 * step[:4]
    p[near] += 0.2 * step[4:]
    fit = find_lattice_vectors(p[:, 0], p[:, 1])
    assert fit["n_outliers"] == 4
    assert fit["n_atoms"] == len(p) - 4
    true = np.array([[9.5, 0.0], [0.0, 14.0]]) @ rot.T
    err = np.sqrt(np.diag(fit["covariance"])).reshape(2, 2)
    v = fit["vectors"] * np.sign(np.sum(fit["vectors"] * true, axis=1))[:, None]
    assert np.all(np.abs(v - true) < 4 * err)
