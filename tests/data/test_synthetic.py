"""Tests for :mod:`hyperspy_localcryst.data.synthetic` against known truth."""

import math

import numpy as np
import pytest
from scipy.spatial import cKDTree

from hyperspy_localcryst.data.synthetic import (
    cramer_rao_bound,
    lattice_positions,
    make_lattice_image,
    render_gaussians,
)


def _direct_model(shape, x, y, amplitude, sigma, background=0.0):
    """Sum of untruncated round Gaussians, evaluated at integer pixel centres."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    amplitude = np.broadcast_to(amplitude, np.shape(x))
    out = np.full(shape, float(background))
    for x0, y0, a in zip(x, y, amplitude):
        out += a * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2))
    return out


def _interior(x, y, shape, pad):
    ny, nx = shape
    return (x > pad) & (x < nx - 1 - pad) & (y > pad) & (y < ny - 1 - pad)


# ---------------------------------------------------------------------------
# render_gaussians
# ---------------------------------------------------------------------------
def test_render_peak_on_integer_pixel_is_exact():
    img = render_gaussians((31, 41), [17.0], [12.0], 150.0, 2.5, background=7.0)
    assert img.dtype == np.float64
    assert img.shape == (31, 41)
    assert img[12, 17] == 157.0
    assert np.unravel_index(np.argmax(img), img.shape) == (12, 17)
    # pixel centres are at integer coordinates: one pixel right = exp(-1/(2s^2))
    assert img[12, 18] == pytest.approx(7.0 + 150.0 * math.exp(-1 / (2 * 2.5**2)))
    assert img[13, 17] == pytest.approx(img[12, 18])


def test_render_matches_direct_model_including_offimage_atoms():
    rng = np.random.default_rng(1)
    shape = (40, 50)
    x = rng.uniform(-8, 58, 30)
    y = rng.uniform(-8, 48, 30)
    amp = rng.uniform(50, 200, 30)
    img = render_gaussians(shape, x, y, amp, 2.0, background=3.0, truncate=6.0)
    ref = _direct_model(shape, x, y, amp, 2.0, background=3.0)
    # truncation at 6 sigma leaves at most amp * exp(-18) per atom
    np.testing.assert_allclose(img, ref, rtol=0, atol=30 * 200 * math.exp(-18))


def test_render_per_atom_sigma_and_truncation_window():
    img = render_gaussians(
        (21, 41), [10.0, 30.0], [10.0, 10.0], [100.0, 50.0], [1.0, 2.0], truncate=3.0
    )
    assert img[10, 10] == 100.0 and img[10, 30] == 50.0
    # exactly on the window radius: included; beyond: zero
    assert img[10, 13] == pytest.approx(100.0 * math.exp(-4.5))
    assert img[10, 14] == 0.0
    assert img[10, 36] == pytest.approx(50.0 * math.exp(-4.5))
    assert img[10, 37] == 0.0


def test_render_elliptical_rotation_convention():
    shape = (41, 41)
    kw = dict(amplitude=100.0, sigma=4.0, sigma_y=1.5)
    unrot = render_gaussians(shape, [20.0], [20.0], **kw)
    # unrotated: long axis along x
    assert unrot[20, 24] > unrot[24, 20]
    # 90 degrees: long axis along y, same as swapping sigmas
    rot90 = render_gaussians(shape, [20.0], [20.0], rotation=90.0, **kw)
    swapped = render_gaussians(shape, [20.0], [20.0], 100.0, 1.5, sigma_y=4.0)
    np.testing.assert_allclose(rot90, swapped, atol=1e-12)
    # +45 degrees counter-clockwise as seen on the image (y down): long axis
    # runs towards the upper right, i.e. (+x, -y)
    rot45 = render_gaussians(shape, [20.0], [20.0], rotation=45.0, **kw)
    assert rot45[17, 23] > 10 * rot45[23, 23]
    d = 3.0 * math.sqrt(2.0)  # distance to pixel (23, 17) along the long axis
    assert rot45[17, 23] == pytest.approx(100.0 * math.exp(-(d**2) / (2 * 4.0**2)))


def test_render_invalid_arguments():
    with pytest.raises(ValueError, match="same size"):
        render_gaussians((10, 10), [1.0, 2.0], [1.0], 1.0, 1.0)
    with pytest.raises(ValueError, match="sigma"):
        render_gaussians((10, 10), [1.0], [1.0], 1.0, 0.0)
    with pytest.raises(ValueError, match="amplitude"):
        render_gaussians((10, 10), [1.0, 2.0], [1.0, 2.0], [1.0, 2.0, 3.0], 1.0)
    with pytest.raises(ValueError, match="truncate"):
        render_gaussians((10, 10), [1.0], [1.0], 1.0, 1.0, truncate=0)
    with pytest.raises(ValueError, match="shape"):
        render_gaussians((10, -1), [1.0], [1.0], 1.0, 1.0)


def test_render_many_atoms_matches_peak_values():
    x, y, _ = lattice_positions((1024, 1024), 20.0)
    img = render_gaussians((1024, 1024), x, y, 200.0, 3.5, background=20.0)
    # at each atom centre on the grid the sum of its own peak and the faint
    # tails of the neighbours stays within 1 % of background + peak
    ix = np.round(x).astype(int)
    iy = np.round(y).astype(int)
    on_grid = (np.abs(x - ix) < 1e-9) & (np.abs(y - iy) < 1e-9)
    vals = img[iy[on_grid], ix[on_grid]]
    assert np.all(vals >= 220.0 - 1e-9)
    assert np.all(vals <= 220.0 * 1.01)


# ---------------------------------------------------------------------------
# lattice_positions
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("rotation", [0.0, 17.0])
@pytest.mark.parametrize(
    ("lattice", "n_neighbours"), [("square", 4), ("hexagonal", 6), ("perovskite", 4)]
)
def test_nearest_neighbour_distance_equals_spacing(lattice, n_neighbours, rotation):
    shape, spacing = (300, 400), 13.0
    x, y, _ = lattice_positions(shape, spacing, lattice=lattice, rotation=rotation)
    pts = np.column_stack([x, y])
    tree = cKDTree(pts)
    inner = _interior(x, y, shape, 2 * spacing)
    assert inner.sum() > 50
    d, _ = tree.query(pts[inner], k=n_neighbours + 2)
    np.testing.assert_allclose(d[:, 1 : n_neighbours + 1], spacing, rtol=1e-9)
    assert np.all(d[:, n_neighbours + 1] > spacing * 1.2)


def test_perovskite_sublattices():
    shape, spacing = (300, 300), 12.0
    x, y, sub = lattice_positions(shape, spacing, lattice="perovskite", rotation=8.0)
    a, b = sub == 0, sub == 1
    assert a.sum() > 100 and b.sum() > 100
    pts = np.column_stack([x, y])
    inner = _interior(x, y, shape, 3 * spacing)
    # A-B nearest distance = spacing, each A has 4 B neighbours
    d_ab, _ = cKDTree(pts[b]).query(pts[a & inner], k=5)
    np.testing.assert_allclose(d_ab[:, :4], spacing, rtol=1e-9)
    assert np.all(d_ab[:, 4] > 1.5 * spacing)
    # A-A and B-B nearest distance = spacing * sqrt(2)
    for mask in (a, b):
        d, _ = cKDTree(pts[mask]).query(pts[mask & inner], k=2)
        np.testing.assert_allclose(d[:, 1], spacing * math.sqrt(2), rtol=1e-9)


def test_origin_and_ordering():
    x, y, sub = lattice_positions((5, 5), 2.0, origin=(0.0, 0.0))
    np.testing.assert_array_equal(x, [0, 2, 4, 0, 2, 4, 0, 2, 4])
    np.testing.assert_array_equal(y, [0, 0, 0, 2, 2, 2, 4, 4, 4])
    np.testing.assert_array_equal(sub, 0)
    # default origin = image centre is a lattice site
    x, y, _ = lattice_positions((101, 81), 7.0, lattice="hexagonal", rotation=23.0)
    assert np.min(np.hypot(x - 40.0, y - 50.0)) < 1e-9


def test_rotation_known_angles():
    origin = (100.0, 100.0)
    kw = dict(origin=origin, margin=0.0)
    # square at 30 degrees CCW on screen: neighbour at a*(cos30, -sin30)
    x, y, _ = lattice_positions((201, 201), 20.0, rotation=30.0, **kw)
    target = (
        100 + 20 * math.cos(math.radians(30)),
        100 - 20 * math.sin(math.radians(30)),
    )
    assert np.min(np.hypot(x - target[0], y - target[1])) < 1e-9
    # hexagonal: unrotated has a neighbour to the right but not straight up;
    # rotated by +90 degrees the neighbour to the right moves straight up (-y)
    x0, y0, _ = lattice_positions((201, 201), 20.0, "hexagonal", **kw)
    x9, y9, _ = lattice_positions((201, 201), 20.0, "hexagonal", rotation=90.0, **kw)
    assert np.min(np.hypot(x0 - 120, y0 - 100)) < 1e-9
    assert np.min(np.hypot(x0 - 100, y0 - 80)) > 5
    assert np.min(np.hypot(x9 - 100, y9 - 80)) < 1e-9
    assert np.min(np.hypot(x9 - 120, y9 - 100)) > 5
    # rotating every site about the origin by the documented matrix
    t = math.radians(40.0)
    xr, yr, _ = lattice_positions((201, 201), 20.0, rotation=40.0, **kw)
    xu, yu, _ = lattice_positions((201, 201), 20.0, margin=-150.0, origin=origin)
    u, v = xu - 100, yu - 100
    xe = 100 + u * math.cos(t) + v * math.sin(t)
    ye = 100 - u * math.sin(t) + v * math.cos(t)
    keep = (xe >= 0) & (xe <= 200) & (ye >= 0) & (ye <= 200)
    expected = np.column_stack([xe[keep], ye[keep]])
    d, _ = cKDTree(expected).query(np.column_stack([xr, yr]))
    assert xr.size == keep.sum()
    assert np.max(d) < 1e-9


def test_square_site_count_and_margin():
    x, y, _ = lattice_positions((512, 512), 20.0)
    assert abs(x.size - (512 / 20) ** 2) / (512 / 20) ** 2 < 0.1
    assert x.size == 25 * 25  # origin at 255.5: 255.5 + 20 k, k = -12..12
    assert x.min() >= 0 and x.max() <= 511 and y.min() >= 0 and y.max() <= 511
    xm, ym, _ = lattice_positions((512, 512), 20.0, margin=30.0)
    assert xm.min() >= 30 and xm.max() <= 481
    assert xm.size == 23 * 23
    xo, _, _ = lattice_positions((512, 512), 20.0, margin=-30.0)
    assert xo.size == 29 * 29
    assert lattice_positions((10, 10), 2.0, margin=6.0)[0].size == 0


def test_lattice_invalid_arguments():
    with pytest.raises(ValueError, match="lattice"):
        lattice_positions((64, 64), 10.0, lattice="honeycomb")
    for bad in (0.0, -3.0, np.nan):
        with pytest.raises(ValueError, match="spacing"):
            lattice_positions((64, 64), bad)
    with pytest.raises(ValueError, match="shape"):
        lattice_positions((64,), 10.0)


# ---------------------------------------------------------------------------
# make_lattice_image
# ---------------------------------------------------------------------------
def test_noise_free_image_equals_model_with_edge_tails():
    shape, spacing, sigma = (65, 81), 14.0, 3.0
    img, truth = make_lattice_image(
        shape,
        spacing=spacing,
        sigma=sigma,
        peak=150.0,
        background=12.0,
        lattice="hexagonal",
        rotation=11.0,
        noise=None,
    )
    # the centre pixel (40, 32) is a lattice site on an integer pixel
    assert np.min(np.hypot(truth["x"] - 40, truth["y"] - 32)) < 1e-9
    tails = 6 * 150.0 * math.exp(-(spacing**2) / (2 * sigma**2))
    assert img[32, 40] == pytest.approx(162.0, abs=tails + 1e-9)
    # full model including the sites just outside the image
    x, y, _ = lattice_positions(shape, spacing, "hexagonal", 11.0, margin=-8 * sigma)
    ref = _direct_model(shape, x, y, 150.0, sigma, background=12.0)
    np.testing.assert_allclose(img, ref, rtol=0, atol=1e-5)
    # truth lists only atoms inside the image
    assert np.all((truth["x"] >= 0) & (truth["x"] <= 80))
    assert np.all((truth["y"] >= 0) & (truth["y"] <= 64))
    xi, yi, _ = lattice_positions(shape, spacing, "hexagonal", 11.0)
    assert truth["x"].size == xi.size
    for key in ("amplitude", "sigma", "sublattice", "ideal_x", "ideal_y"):
        assert truth[key].shape == truth["x"].shape
    np.testing.assert_array_equal(truth["amplitude"], 150.0)
    np.testing.assert_array_equal(truth["sigma"], sigma)


def test_truth_margin():
    _, truth = make_lattice_image((200, 200), spacing=10.0, noise=None, margin=15.0)
    assert truth["x"].min() >= 15 and truth["x"].max() <= 184
    assert truth["y"].min() >= 15 and truth["y"].max() <= 184
    x, _, _ = lattice_positions((200, 200), 10.0, margin=15.0)
    assert truth["x"].size == x.size


def test_perovskite_sublattice_peaks():
    spacing = 10 * math.sqrt(2)  # A period 20, B offset (10, 10): integer pixels
    img, truth = make_lattice_image(
        (65, 65),
        spacing=spacing,
        sigma=2.5,
        background=5.0,
        lattice="perovskite",
        sublattice_peaks=(200.0, 80.0),
        noise=None,
    )
    tails = 8 * 200.0 * math.exp(-(spacing**2) / (2 * 2.5**2))
    assert img[32, 32] == pytest.approx(205.0, abs=tails + 1e-9)  # A at centre
    assert img[42, 42] == pytest.approx(85.0, abs=tails + 1e-9)  # B site
    np.testing.assert_array_equal(truth["amplitude"][truth["sublattice"] == 0], 200)
    np.testing.assert_array_equal(truth["amplitude"][truth["sublattice"] == 1], 80)
    with pytest.raises(ValueError, match="sublattice_peaks"):
        make_lattice_image((64, 64), lattice="perovskite", sublattice_peaks=(1.0,))


def test_displacement_applied_to_truth_and_image():
    def shift(x, y, sub):
        return np.where(x > 32, 1.0, 0.0), np.full_like(y, -2.0)

    img, truth = make_lattice_image(
        (65, 65),
        spacing=16.0,
        sigma=2.0,
        peak=100.0,
        background=0.0,
        noise=None,
        displacement=shift,
    )
    np.testing.assert_allclose(truth["y"], truth["ideal_y"] - 2.0)
    np.testing.assert_allclose(truth["x"], truth["ideal_x"] + (truth["ideal_x"] > 32))
    # ideal site (48, 32) moves to (49, 30)
    assert img[30, 49] == pytest.approx(100.0, abs=1e-6)
    # the centre atom (x = 32, not shifted in x) moved up by 2 pixels
    assert img[30, 32] == pytest.approx(100.0, abs=1e-6)
    assert img[32, 32] == pytest.approx(100.0 * math.exp(-0.5), abs=1e-6)


def test_poisson_noise_statistics():
    kw = dict(shape=(256, 256), spacing=16.0, sigma=2.5, peak=150.0, background=20.0)
    clean, _ = make_lattice_image(noise=None, **kw)
    noisy, _ = make_lattice_image(noise="poisson", seed=3, **kw)
    assert noisy.dtype == np.float64
    np.testing.assert_array_equal(noisy, np.round(noisy))
    z = (noisy - clean) / np.sqrt(clean)
    n = z.size
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1) < 0.05
    # variance equals mean in the background and near atom centres
    bg = clean < 21.0
    assert abs(noisy[bg].var() / noisy[bg].mean() - 1) < 0.1
    assert abs(noisy[bg].mean() - clean[bg].mean()) < 0.1
    top = clean > 140.0
    assert abs(noisy[top].mean() / clean[top].mean() - 1) < 0.02
    assert abs(np.var(noisy[top] - clean[top]) / clean[top].mean() - 1) < 0.15
    # reproducible with a seed, different without
    again, _ = make_lattice_image(noise="poisson", seed=3, **kw)
    np.testing.assert_array_equal(noisy, again)
    other, _ = make_lattice_image(noise="poisson", seed=4, **kw)
    assert not np.array_equal(noisy, other)


def test_gaussian_noise_statistics():
    kw = dict(shape=(256, 256), spacing=12.0, sigma=2.5, peak=150.0, background=20.0)
    clean, _ = make_lattice_image(noise=None, **kw)
    noisy, _ = make_lattice_image(noise="gaussian", seed=5, **kw)
    z = (noisy - clean) / np.sqrt(clean)
    assert abs(z.mean()) < 5 / math.sqrt(z.size)
    assert abs(z.var() - 1) < 0.05
    assert not np.array_equal(noisy, np.round(noisy))


def test_make_lattice_image_invalid_arguments():
    with pytest.raises(ValueError, match="lattice"):
        make_lattice_image((64, 64), lattice="cubic")
    with pytest.raises(ValueError, match="spacing"):
        make_lattice_image((64, 64), spacing=-1.0)
    with pytest.raises(ValueError, match="noise"):
        make_lattice_image((64, 64), noise="shot")
    with pytest.raises(ValueError, match="sigma"):
        make_lattice_image((64, 64), sigma=0.0)
    with pytest.raises(ValueError, match="non-negative"):
        make_lattice_image((64, 64), background=-5.0, noise="poisson")


# ---------------------------------------------------------------------------
# cramer_rao_bound
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("peak", "sigma"), [(200.0, 3.5), (1000.0, 1.2), (50.0, 5.0)])
def test_crb_analytic_limit_zero_background(peak, sigma):
    n_photons = 2 * math.pi * sigma**2 * peak
    expected = sigma / math.sqrt(n_photons)
    assert cramer_rao_bound(peak, 0.0, sigma, n_params=2) == pytest.approx(
        expected, rel=0.03
    )
    # with zero background the other parameters decouple from the position
    assert cramer_rao_bound(peak, 0.0, sigma) == pytest.approx(expected, rel=0.03)


def test_crb_monotonic_and_scaling():
    bgs = [0.0, 1.0, 10.0, 50.0, 200.0, 1000.0]
    crbs = [cramer_rao_bound(200.0, b, 3.5) for b in bgs]
    assert all(b > a for a, b in zip(crbs, crbs[1:]))
    assert cramer_rao_bound(400.0, 20.0, 3.5) < cramer_rao_bound(200.0, 20.0, 3.5)
    # scaling all counts by k scales the bound by 1 / sqrt(k)
    assert cramer_rao_bound(5000.0, 500.0, 3.5) == pytest.approx(
        cramer_rao_bound(200.0, 20.0, 3.5) / 5.0, rel=1e-9
    )
    # more free parameters can only make the bound larger; small windows too
    for w in (None, 6.0):
        assert cramer_rao_bound(200.0, 20.0, 3.5, window_radius=w, n_params=5) >= (
            cramer_rao_bound(200.0, 20.0, 3.5, window_radius=w, n_params=2)
            * (1 - 1e-12)
        )
    assert cramer_rao_bound(200.0, 20.0, 3.5, window_radius=4.0) > cramer_rao_bound(
        200.0, 20.0, 3.5
    )
    # default window is effectively infinite
    assert cramer_rao_bound(200.0, 20.0, 3.5) == pytest.approx(
        cramer_rao_bound(200.0, 20.0, 3.5, window_radius=60.0), rel=1e-6
    )


def test_crb_invalid_arguments():
    with pytest.raises(ValueError, match="peak"):
        cramer_rao_bound(0.0, 10.0, 2.0)
    with pytest.raises(ValueError, match="background"):
        cramer_rao_bound(100.0, -1.0, 2.0)
    with pytest.raises(ValueError, match="sigma"):
        cramer_rao_bound(100.0, 10.0, -2.0)
    with pytest.raises(ValueError, match="window_radius"):
        cramer_rao_bound(100.0, 10.0, 2.0, window_radius=0.0)
    with pytest.raises(ValueError, match="n_params"):
        cramer_rao_bound(100.0, 10.0, 2.0, n_params=6)
