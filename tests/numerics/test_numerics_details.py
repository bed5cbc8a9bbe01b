"""Details of the numerics that the module tests did not pin down.

Each test checks a property against truth known independently of the code
(a scene built with known geometry, numpy's own histogram and median, a
brute-force numpy computation, or a symmetry the result must have), chosen
so that one of the operator mutants that survived the module tests fails
it; ``mutation/mutants_numerics_details.toml`` lists those mutants, and the
equivalent ones with the reason why no test can catch them.
"""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage as ndi

from hyperspy_localcryst.data.synthetic import make_lattice_image
from hyperspy_localcryst.numerics import _fit_kernels
from hyperspy_localcryst.numerics.clustering import KMedians
from hyperspy_localcryst.numerics.finding import (
    find_atoms_local_max,
    normalised_cross_correlation,
)
from hyperspy_localcryst.numerics.neighbourhoods import (
    locate_centres,
    neighbour_vectors,
)
from hyperspy_localcryst.numerics.point_patterns import vector_histogram
from hyperspy_localcryst.numerics.refinement import refine_gaussians
from hyperspy_localcryst.numerics.separation import estimate_separation
from hyperspy_localcryst.numerics.spectra import estimate_si_shift, region_transform


# --------------------------------------------------------------------- finding
def _ncc_brute_force(img, t):
    """Normalised cross-correlation by definition: reflect-padded windows
    centred on every pixel (for even sizes starting ``size // 2`` before)."""
    th, tw = t.shape
    dy, dx = th // 2, tw // 2
    pad = np.pad(img, ((dy, th - 1 - dy), (dx, tw - 1 - dx)), "reflect")
    w = sliding_window_view(pad, t.shape)
    wc = w - w.mean(axis=(-2, -1), keepdims=True)
    tc = t - t.mean()
    num = (wc * tc).sum(axis=(-2, -1))
    return num / np.sqrt((wc**2).sum(axis=(-2, -1)) * (tc**2).sum())


@pytest.mark.parametrize(
    "shape, tshape", [((9, 9), (5, 5)), ((23, 31), (7, 6)), ((40, 37), (5, 9))]
)
def test_ncc_map_matches_brute_force_for_any_size(shape, tshape):
    # sizes whose padded width is not an FFT-friendly length (9 + 4 = 13 is
    # computed on 15 columns): the map must still have the image's shape
    rng = np.random.default_rng(3)
    img = rng.normal(size=shape)
    t = rng.normal(size=tshape)
    ncc = normalised_cross_correlation(img, t)
    assert ncc.shape == img.shape
    np.testing.assert_allclose(ncc, _ncc_brute_force(img, t), atol=1e-5)


def test_estimate_separation_on_a_narrow_strip():
    # 16 rows x 2560 columns: the background blur (sigma = 160 px) would
    # bin by 20 px, more than the strip's height, so it must not bin
    img, _ = make_lattice_image((16, 2560), spacing=4.3, sigma=4.3 / 4, noise=None)
    assert estimate_separation(img) == pytest.approx(4.3, abs=0.1)


def test_estimate_separation_off_grid_spacing():
    # a spacing between pixels: the sub-pixel estimate is close to the truth
    for spacing in (17.3, 9.6):
        img, _ = make_lattice_image(
            (256, 256), spacing=spacing, sigma=spacing / 6, noise=None, rotation=17.0
        )
        assert estimate_separation(img) == pytest.approx(spacing, abs=0.05)


def test_local_max_prominence_is_mirror_symmetric():
    # the prominence of a maximum (height above the lowest pixel around it)
    # cannot depend on the direction of the axes: mirroring the image mirrors
    # the maxima and keeps their scores (small separation: 3 px window)
    rng = np.random.default_rng(5)
    img = ndi.gaussian_filter(rng.normal(size=(40, 50)), 0.8)

    def table(im, flip_x=False, flip_y=False):
        r = find_atoms_local_max(im, 3.0, threshold=0.0)
        x = 49 - r["x"] if flip_x else r["x"]
        y = 39 - r["y"] if flip_y else r["y"]
        o = np.lexsort((y, x))
        return np.column_stack([x[o], y[o], r["score"][o]])

    ref = table(img)
    assert len(ref) > 50
    np.testing.assert_allclose(table(img[:, ::-1], flip_x=True), ref, atol=1e-12)
    np.testing.assert_allclose(table(img[::-1], flip_y=True), ref, atol=1e-12)


@pytest.mark.parametrize("sep, size", [(3.0, 3), (3.4, 3), (6.0, 7), (9.6, 11)])
def test_prominence_is_the_height_above_the_lowest_pixel_of_its_square(sep, size):
    """The documented window: the prominence of a maximum is its height above
    the lowest pixel of the ``max(3, round(sep) | 1)`` square around it
    (clipped at the edges), on the image smoothed at ``max(sep / 8, 0.5)``;
    by hand at every maximum."""
    from hyperspy_localcryst.numerics import finding

    rng = np.random.default_rng(15)
    img = ndi.gaussian_filter(rng.normal(size=(41, 53)), 0.8)
    rows, cols, prom = finding._maxima(img, sep)
    s = ndi.gaussian_filter(img, max(sep / 8, 0.5))
    h = size // 2
    want = [
        s[r, c] - s[max(r - h, 0) : r + h + 1, max(c - h, 0) : c + h + 1].min()
        for r, c in zip(rows, cols)
    ]
    assert len(rows) > 10
    np.testing.assert_array_equal(prom, want)


# -------------------------------------------------------------- neighbourhoods
def test_dimer_shells_are_ordered_by_distance():
    # dimers 1 px long on a 4 x 3.12 cell: every atom has its partner at 1,
    # one atom of the next dimer at 3 and two at 3.12 (above and below).
    # 3 and 3.12 are 0.12 nearest-neighbour distances apart, more than
    # distance_tolerance = 0.1, so they are separate shells, in distance order
    cx, cy = np.meshgrid(np.arange(12) * 4.0, np.arange(14) * 3.12)
    x = np.concatenate([cx.ravel(), cx.ravel() + 1.0])
    y = np.concatenate([cy.ravel(), cy.ravel()])
    nb = neighbour_vectors(x, y, n_neighbours=4, distance_tolerance=0.1)
    assert len(nb.centres) > 100
    r = np.hypot(nb.vectors[..., 0], nb.vectors[..., 1])
    np.testing.assert_allclose(r, np.broadcast_to([1.0, 3.0, 3.12, 3.12], r.shape))
    left = nb.centres < cx.size  # the left atom of its dimer
    first_two = nb.vectors[:, :2]
    np.testing.assert_allclose(
        first_two[left], [[[1.0, 0.0], [-3.0, 0.0]]] * left.sum()
    )
    np.testing.assert_allclose(
        first_two[~left], [[[-1.0, 0.0], [3.0, 0.0]]] * (~left).sum()
    )


def _patch(a1, a2, n, origin):
    i, j = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1))
    p = i.ravel()[:, None] * a1 + j.ravel()[:, None] * a2
    return p[np.hypot(*p.T) <= n * 0.999] + origin


def test_angle_metric_rotation_follows_the_majority_lattice():
    # a large square patch turned by 40 degrees (first shell of 4) next to a
    # smaller hexagonal patch turned by -25 degrees (first shell of 6). The
    # image-wide orientation is that of the square majority: its atoms are
    # turned by exactly 40 degrees; a hexagonal atom by the one of its
    # 60-degree-equivalent directions nearest to 40: -25 + 60 = 35 degrees
    def unit(deg):
        return np.array([np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))])

    sq = _patch(unit(40), unit(130), 16, np.array([0.0, 0.0]))
    hx = _patch(unit(-25), unit(35), 8, np.array([30.0, 0.0]))
    p = np.concatenate([sq, hx])
    nb = neighbour_vectors(
        p[:, 0], p[:, 1], n_neighbours=6, metric="angle", exclude_border=False
    )
    rot = np.rad2deg(nb.rotation)
    inner_sq = np.hypot(*sq.T) < 12
    inner_hx = np.hypot(*(hx - [30.0, 0.0]).T) < 5
    np.testing.assert_allclose(rot[: len(sq)][inner_sq], 40.0, atol=1e-9)
    np.testing.assert_allclose(rot[len(sq) :][inner_hx], 35.0, atol=1e-9)


def test_locate_centres_finds_the_atom():
    p = np.array([[0.0, 0.0], [1.0, 0.1], [0.2, 1.3], [2.0, 0.3]])
    # atom 0 has neighbours at (1, 0.1) and (0.2, 1.3); atom 1 one at (1, 0.2)
    assert locate_centres(p, np.array([[1.0, 0.1], [0.2, 1.3]])).tolist() == [0]
    assert locate_centres(p, np.array([[1.0, 0.2]])).tolist() == [1]
    assert locate_centres(p, np.array([[5.0, 5.0]])).tolist() == []


# ------------------------------------------------------------------ refinement
def test_elliptical_joint_fit_of_overlapping_columns():
    # tilted elliptical columns (sigma 2.2 x 1.6 px, covariance 0.8) 8-9 px
    # apart on a noise-free image: the neighbours' tails overlap each window,
    # and the joint fit subtracts them with the elliptical model. The passes
    # stop when no column moves by ``tol``; at the default 1e-3 px the widths
    # are still 1e-3 relative off (measured 2.3e-3 px), so the fit is run to
    # tol=1e-4 (measured: positions 1.4e-4 px, widths 1.5e-4 px off)
    ny, nx = 48, 56
    yy, xx = np.mgrid[:ny, :nx].astype(float)
    gx, gy = np.meshgrid(np.arange(5) * 9.0 + 10.3, np.arange(4) * 8.0 + 11.7)
    rng = np.random.default_rng(1)
    x0 = gx.ravel() + rng.uniform(-0.3, 0.3, gx.size)
    y0 = gy.ravel() + rng.uniform(-0.3, 0.3, gx.size)
    cov = np.array([[2.2**2, 0.8], [0.8, 1.6**2]])
    P = np.linalg.inv(cov)
    img = np.full((ny, nx), 20.0)
    for a, b in zip(x0, y0):
        dx, dy = xx - a, yy - b
        q = P[0, 0] * dx * dx + 2 * P[0, 1] * dx * dy + P[1, 1] * dy * dy
        img += 200 * np.exp(-0.5 * q)
    fit = refine_gaussians(
        img,
        np.round(x0),
        np.round(y0),
        radius=4,
        model="elliptical",
        max_passes=12,
        tol=1e-4,
    )
    assert fit["converged"].all()
    np.testing.assert_allclose(fit["x"], x0, atol=1e-3)
    np.testing.assert_allclose(fit["y"], y0, atol=1e-3)
    np.testing.assert_allclose(fit["sigma_x"], 2.2, atol=1e-3)
    np.testing.assert_allclose(fit["sigma_y"], 1.6, atol=1e-3)
    np.testing.assert_allclose(fit["amplitude"], 200, rtol=1e-3)


def _render_brute_force(shape, params, radii):
    """Round peaks (no background) summed over each atom's square of radius
    ``r`` around its nearest pixel, clipped to the image."""
    out = np.zeros(shape)
    for (x, y, amp, s, _), r in zip(params, radii):
        cx, cy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        j = np.arange(max(cy - r, 0), min(cy + r + 1, shape[0]))
        i = np.arange(max(cx - r, 0), min(cx + r + 1, shape[1]))
        d2 = (i[None, :] - x) ** 2 + (j[:, None] - y) ** 2
        out[np.ix_(j, i)] += amp * np.exp(-d2 / (2 * s * s))
    return out


def test_render_peaks_matches_numpy_and_stays_in_its_buffers(monkeypatch):
    # The renderer of the joint fit, compiled and as plain Python (where
    # numpy checks every index, so a write past a scratch vector raises):
    # the widest atom (render radius 11 > 8 > 6) is whole inside the image
    params = np.array(
        [
            [20.3, 17.6, 5.0, 2.0, 1.0],
            [31.8, 40.2, 3.0, 2.6, 1.0],
            [2.2, 3.9, 4.0, 1.5, 1.0],
        ]
    )
    radii = _fit_kernels._render_radii(params, _fit_kernels._ROUND, 4)
    assert radii.tolist() == [8, 11, 6]
    shape = (60, 45)
    ok = np.ones(len(params), dtype=bool)
    ref = _render_brute_force(shape, params, radii)
    out = _fit_kernels._render_peaks(
        np.full(shape, np.nan), params, _fit_kernels._ROUND, radii, ok, True
    )
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(_fit_kernels, "_add_peak", _fit_kernels._add_peak.py_func)
    monkeypatch.setattr(
        _fit_kernels, "_gauss_factors", _fit_kernels._gauss_factors.py_func
    )
    out = _fit_kernels._render_peaks.py_func(
        np.full(shape, np.nan), params, _fit_kernels._ROUND, radii, ok, True
    )
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------- spectra
@pytest.mark.parametrize("dx, dy", [(1, -2), (-3, -4), (2, -1), (0, -3), (1, 2)])
def test_si_shift_upwards(dx, dy):
    # The SI really was (dx, dy) px from where the affine map puts it; the
    # search must extend above the region (dy < 0) as well as below it
    img, _ = make_lattice_image((96, 96), spacing=12.0, noise=None)
    A = region_transform((30.5, 20.5, 60.5, 70.5), (10, 6))
    haadf = img[21 + dy : 71 + dy, 31 + dx : 61 + dx]
    (ex, ey), score = estimate_si_shift(img, haadf, A, (10, 6), search=5)
    assert ex == pytest.approx(dx, abs=0.02)
    assert ey == pytest.approx(dy, abs=0.02)
    assert score > 0.999


# ------------------------------------------------------------------ statistics
@pytest.mark.parametrize("seed", range(6))
def test_kmedians_centres_are_numpy_medians(seed):
    # clusters apart along x, interleaved along a skewed y (mean != median),
    # even and odd cluster sizes: each final centre is numpy's median of its
    # members
    rng = np.random.default_rng(seed)
    X = np.concatenate(
        [
            np.column_stack([rng.normal(4 * k, 1.0, 60), rng.exponential(1.0, 60)])
            for k in range(3)
        ]
    )
    km = KMedians(n_clusters=3, n_init=1, random_state=seed, tol=0).fit(X)
    for k in range(3):
        members = X[km.labels_ == k]
        med = np.median(members, axis=0)
        assert not np.allclose(med, members.mean(axis=0))
        np.testing.assert_allclose(km.cluster_centers_[k], med, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "extent, bins",
    [
        ((-1.05, 1.05, -2.1, 0.7), (101, 37)),
        ((-3.3, 3.3, -0.3, 0.9), (7, 13)),
        ((-10.0, 10.0, -6.3, 6.3), (21, 33)),
    ],
)
def test_vector_histogram_values_on_the_edges(extent, bins):
    # vectors exactly on every bin edge: an interior edge belongs to the bin
    # above it, the outer edges to the outer bins, as in numpy.histogram2d
    xe = np.linspace(extent[0], extent[1], bins[0] + 1)
    ye = np.linspace(extent[2], extent[3], bins[1] + 1)
    gx, gy = np.meshgrid(xe, ye)
    v = np.column_stack([gx.ravel(), gy.ravel()])
    counts, _ = vector_histogram(v, bins=bins, extent=extent)
    ref, _, _ = np.histogram2d(v[:, 1], v[:, 0], bins=[ye, xe])
    np.testing.assert_array_equal(counts, ref)
