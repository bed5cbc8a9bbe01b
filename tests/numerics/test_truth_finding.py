"""Truth tests for the finders, their image kernels, the sparse finder, the
detection statistics and the neighbourhoods.

Every expected value comes from an independent computation (brute force over
pixels or atoms, a scipy/scikit-image reference, a closed form) or from the
known truth of a synthetic scene; the scenes are asymmetric (non-square cells,
different amplitudes) so that a swapped axis or a sign flip shows.
"""

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from hyperspy_localcryst.numerics import _imaging as im
from hyperspy_localcryst.numerics import detection as dt
from hyperspy_localcryst.numerics import finding as fd
from hyperspy_localcryst.numerics import neighbourhoods as nbh
from hyperspy_localcryst.numerics import noise as nz
from hyperspy_localcryst.numerics import separation as se
from hyperspy_localcryst.numerics import sparse as sp
from hyperspy_localcryst.numerics._parallel import limit_threads

# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def gaussians(shape, xs, ys, amps, sigmas, background=0.0):
    """Sum of isotropic Gaussians, evaluated pixel by pixel (x = column)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    img = np.full(shape, float(background))
    for x, y, a, s in zip(xs, ys, amps, np.broadcast_to(sigmas, len(xs))):
        img += a * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))
    return img


# --------------------------------------------------------------------------
# _imaging: compiled kernels against brute force
# --------------------------------------------------------------------------


def test_gain_exponent_is_the_exponent_just_above_the_largest_magnitude():
    for a, e in [
        ([3.0, -5.0], 3),
        ([-0.3], -1),
        ([4.0], 3),  # 4 = 2**2 -> frexp gives 0.5 * 2**3
        ([1e-3, 7.9], 3),
        ([-1000.0, 2.0], 10),
    ]:
        assert im.gain_exponent(np.array(a)) == e
        # and dividing by it brings the largest magnitude into [0.5, 1)
        assert 0.5 <= np.max(np.abs(np.ldexp(np.array(a), -e))) < 1
    assert im.gain_exponent(np.zeros(3)) == 0
    assert im.gain_exponent(np.array([np.inf, 1.0])) == 0
    assert im.gain_exponent(np.zeros(0)) == 0


def test_in_strips_equals_the_whole_image_filter():
    rng = np.random.default_rng(1)
    img = rng.normal(size=(61, 23))

    def filt(a):
        return ndi.gaussian_filter(a, 1.5, mode="reflect")

    with limit_threads(2):
        out = im.in_strips(filt, img, 4 * 1.5 + 1, min_rows=20)
    np.testing.assert_allclose(out, filt(img), rtol=0, atol=1e-12)
    # a filter that reaches `halo` rows exactly (a vertical shift by 3 rows)
    shift = lambda a: ndi.shift(a, (3, 0), order=0, mode="nearest")  # noqa: E731
    with limit_threads(3):
        out = im.in_strips(shift, img, 3, min_rows=10)
    np.testing.assert_array_equal(out, shift(img))


def test_log_finder_in_strips_equals_one_pass():
    """An image tall enough to be filtered in strips (600 rows: two strips of
    at least 256): the LoG finder's response, and so its atoms, are those of
    one pass over the whole image, bit for bit. Separation 15 px gives a
    LoG width of 3 px, whose kernel reaches 12 rows: a halo of 4 sigma + 1
    covers it, 4 sigma - 1 (11 rows) would not."""
    from hyperspy_localcryst.data.synthetic import make_lattice_image
    from hyperspy_localcryst.numerics.finding import find_atoms_log

    img, _ = make_lattice_image((600, 250), spacing=15, sigma=2.5, seed=3)
    with limit_threads(1):
        one = find_atoms_log(img, 15)
    with limit_threads(4):
        strips = find_atoms_log(img, 15)
    assert len(one["x"]) > 500
    for c in ("x", "y"):
        np.testing.assert_array_equal(strips[c], one[c])


def _brute_window_variance(a, th, tw):
    oy, ox = a.shape[0] - th + 1, a.shape[1] - tw + 1
    out = np.empty((oy, ox))
    for r in range(oy):
        for c in range(ox):
            w = a[r : r + th, c : c + tw]
            out[r, c] = np.sum((w - w.mean()) ** 2)
    return out


def test_window_variance_equals_brute_force_over_several_blocks():
    rng = np.random.default_rng(2)
    # 140 rows: three 64-row blocks (the last one partial), windows 5 x 7
    a = rng.normal(size=(140, 19)) * 3 + 10
    a[100:120, 4:16] = 2.0  # a constant patch: windows inside it are exactly 0
    out = im.window_variance(a, 5, 7)
    ref = _brute_window_variance(a, 5, 7)
    assert out.shape == ref.shape == (136, 13)
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-9)
    assert np.all(out[100:116, 4:10] == 0.0)
    assert np.all(out[:100] > 0)


def test_normalise_correlation_formula_clip_and_zero_variance():
    num = np.array([[1.0, -2.0, 3.0], [0.5, 9.0, -9.0]])
    var = np.array([[4.0, 1.0, 0.0], [1.0, 2.0, 2.0]])
    t = 2.0
    out = im.normalise_correlation(num, var, t)
    ref = np.where(var > 0, num / np.sqrt(np.where(var > 0, var, 1) * t), 0.0)
    ref = np.clip(ref, -1, 1)
    np.testing.assert_allclose(out, ref, rtol=1e-15)
    assert out[0, 2] == 0.0 and out[1, 1] == 1.0 and out[1, 2] == -1.0
    assert out[0, 0] == pytest.approx(1 / np.sqrt(8))


def test_histogram_equals_numpy_with_edges_and_outside_values():
    rng = np.random.default_rng(3)
    v = rng.uniform(-1, 3, size=1003)
    v[:5] = [-1.0, 3.0, 3.0, 0.0, 1.0]  # the range's ends, bin edges
    v[5:8] = [-1.5, 3.5, 7.0]  # outside: not counted
    for lo, hi, nb in [(-1.0, 3.0, 8), (0.0, 1.0, 256), (-1.0, 3.0, 1)]:
        ref, _ = np.histogram(v, nb, (lo, hi))
        np.testing.assert_array_equal(im.histogram(v, lo, hi, nb), ref)
    assert im.histogram(v, -1.0, 3.0, 8).sum() == 1000


def test_label_stats_equal_brute_force_sums():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, size=(9, 13))
    labels[0, 0] = 5  # a label with one pixel; label 4 is empty
    w = rng.normal(size=labels.shape)
    vals = rng.normal(size=labels.shape)
    area, sw, swx, swy, vmax = im.label_stats(labels, w, vals, 5)
    rr, cc = np.mgrid[0:9, 0:13]
    for k in range(1, 6):
        m = labels == k
        assert area[k] == m.sum()
        assert sw[k] == pytest.approx(w[m].sum(), abs=1e-12)
        assert swx[k] == pytest.approx((w * cc)[m].sum(), abs=1e-12)
        assert swy[k] == pytest.approx((w * rr)[m].sum(), abs=1e-12)
        assert vmax[k] == (vals[m].max() if m.any() else -np.inf)
    assert area[0] == 0 and sw[0] == 0 and vmax[0] == -np.inf


def test_ring_max_equals_brute_force():
    rng = np.random.default_rng(5)
    r = 6
    a = rng.normal(size=(2 * r + 1, 2 * r + 1))
    prof = im.ring_max(a, r)
    ii, jj = np.mgrid[0 : 2 * r + 1, 0 : 2 * r + 1]
    ring = np.round(np.hypot(ii - r, jj - r)).astype(int)
    for k in range(r + 1):
        assert prof[k] == a[ring == k].max()
    assert prof[0] == a[r, r]
    assert len(prof) == r + 1


def _brute_local_maxima(image, md, thr):
    """peak_local_max's rule, pixel by pixel: maximum of its clipped square,
    above the threshold, then greedy in (value desc, raster) order."""
    ny, nx = image.shape
    cand = []
    for r in range(ny):
        for c in range(nx):
            win = image[max(r - md, 0) : r + md + 1, max(c - md, 0) : c + md + 1]
            if image[r, c] == win.max() and image[r, c] > thr:
                cand.append((-image[r, c], r, c))
    cand.sort()
    kept = []
    for _, r, c in cand:
        if all(max(abs(r - r2), abs(c - c2)) >= md for r2, c2 in kept):
            kept.append((r, c))
    return kept


def test_local_maxima_equal_brute_force_and_peak_local_max():
    from skimage.feature import peak_local_max

    img = gaussians(
        (31, 40),
        [5, 12, 30, 33.4, 20, 39],
        [4, 20, 9, 12.2, 29, 0],
        [5.0, 3.0, 4.0, 3.5, 2.0, 1.5],
        [1.5, 2.0, 1.2, 1.0, 1.8, 1.0],
    )
    img[15:18, 2:5] = 2.5  # a plateau: one maximum kept, the first in raster order
    for md, thr in [(2, None), (3, 0.5), (4, 1.6), (1, 2.0)]:
        rows, cols = im.local_maxima(img, md, threshold=thr)
        ref = _brute_local_maxima(img, md, img.min() if thr is None else thr)
        assert list(zip(rows.tolist(), cols.tolist())) == ref
        pk = peak_local_max(
            img, md, threshold_abs=thr, exclude_border=False, threshold_rel=None
        )
        assert sorted(map(tuple, pk.tolist())) == sorted(ref)
    # brightest first and the plateau's first pixel
    rows, cols = im.local_maxima(img, 2)
    assert (rows[0], cols[0]) == (4, 5)
    assert (15, 2) in set(zip(rows.tolist(), cols.tolist()))
    # a threshold equal to a peak's value excludes it (strictly above)
    peak = img[20, 12]
    rows, cols = im.local_maxima(img, 2, threshold=peak)
    assert (20, 12) not in set(zip(rows.tolist(), cols.tolist()))
    rows, cols = im.local_maxima(img, 2, threshold=np.nextafter(peak, -1))
    assert (20, 12) in set(zip(rows.tolist(), cols.tolist()))


# --------------------------------------------------------------------------
# finding: correlation, blobs, thresholds, finders
# --------------------------------------------------------------------------


def _lattice(shape, a, b, x0, y0, margin=0.0):
    """Columns of a rectangular lattice (a along x, b along y) in the image."""
    xs, ys = [], []
    for j in range(-2, int(shape[0] // b) + 3):
        for i in range(-2, int(shape[1] // a) + 3):
            x, y = x0 + i * a, y0 + j * b
            if (
                margin <= x <= shape[1] - 1 - margin
                and margin <= y <= shape[0] - 1 - margin
            ):
                xs.append(x)
                ys.append(y)
    return np.array(xs, float), np.array(ys, float)


def _brute_ncc(img, t):
    th, tw = t.shape
    dy, dx = th // 2, tw // 2
    pad = np.pad(img - img.mean(), ((dy, th - 1 - dy), (dx, tw - 1 - dx)), "reflect")
    tc = t - t.mean()
    out = np.zeros(img.shape)
    for r in range(img.shape[0]):
        for c in range(img.shape[1]):
            w = pad[r : r + th, c : c + tw]
            wc = w - w.mean()
            den = np.sqrt(np.sum(wc * wc) * np.sum(tc * tc))
            out[r, c] = np.sum(wc * tc) / den if np.sum(wc * wc) > 1e-9 else 0.0
    return out


def test_normalised_cross_correlation_equals_brute_force():
    rng = np.random.default_rng(6)
    img = gaussians((27, 34), [8, 25, 14], [6, 9, 20], [4.0, 2.0, 3.0], [2.0, 1.5, 2.5])
    img += 0.3 * rng.normal(size=img.shape) + 100.0
    img[18:27, 24:34] = 7.0  # flat corner: no contrast, correlation 0
    for t in (img[3:8, 5:12], img[6:10, 21:27], rng.normal(size=(3, 8))):
        got = fd.normalised_cross_correlation(img, t)
        ref = _brute_ncc(img, t)
        assert got.shape == img.shape
        np.testing.assert_allclose(got, ref, atol=2e-4)
    # the target itself is a perfect match at its own centre (odd and even)
    got = fd.normalised_cross_correlation(img, img[3:8, 5:12])
    assert got[5, 8] == pytest.approx(1.0, abs=1e-4)
    got = fd.normalised_cross_correlation(img, img[6:10, 21:27])
    assert got[8, 24] == pytest.approx(1.0, abs=1e-4)
    assert np.all(got[20:25, 27:31] == 0.0)


def test_blobs_weighted_centroids_areas_and_merged_split():
    score = np.full((40, 50), -0.5)
    thr = 0.2
    rng = np.random.default_rng(7)
    # three normal blobs of 9 px with unequal weights, a 1 px artefact
    for r, c in [(3, 4), (10, 30), (30, 8)]:
        score[r : r + 3, c : c + 3] = 0.3 + 0.6 * rng.random((3, 3))
    score[20, 20] = 0.9
    # a merged blob of 2 x 13 = 26 px (> 2.5 x 9) holding two maxima
    score[25:27, 30:43] = 0.4
    score[25, 32] = 0.95
    score[26, 40] = 0.85
    x, y, s = fd._blobs(score, thr, 10.0, 0.25, 2.5)
    labels, n = ndi.label(score > thr)
    assert n == 5
    exp = []
    for k in range(1, n + 1):
        m = labels == k
        if m.sum() == 9:
            cy, cx = ndi.center_of_mass(np.where(m, score - thr, 0))
            exp.append((cx, cy, score[m].max()))
    exp += [(32.0, 25.0, 0.95), (40.0, 26.0, 0.85)]
    got = sorted(zip(x.tolist(), y.tolist(), s.tolist()))
    exp = sorted(exp)
    assert len(got) == len(exp) == 5
    np.testing.assert_allclose(np.array(got), np.array(exp), atol=1e-12)
    # no blob at all
    x, y, s = fd._blobs(score, 0.99, 10.0, 0.25, 2.5)
    assert len(x) == len(y) == len(s) == 0


def test_auto_threshold_is_otsu_of_the_values():
    from skimage.filters import threshold_otsu

    rng = np.random.default_rng(8)
    v = np.concatenate([rng.normal(-0.2, 0.1, 700), rng.normal(0.6, 0.05, 90)])
    assert fd._auto_threshold(v) == pytest.approx(
        threshold_otsu(v, nbins=256), abs=1e-9
    )
    assert fd._auto_threshold(np.r_[v, np.nan]) == pytest.approx(
        threshold_otsu(v, nbins=256), abs=1e-9
    )
    assert fd._auto_threshold(np.ones(5)) == -np.inf
    assert fd._auto_threshold(np.array([1.0])) == -np.inf


def test_prominence_threshold_closed_form():
    from skimage.filters import threshold_otsu

    prom = np.array([0.0, -1.0, 0.5, 0.6, 0.55, 9.0, 10.0, 11.0, 12.0])
    p = prom[prom > 0]
    otsu = np.exp(threshold_otsu(np.log(p)))
    top = np.median(np.sort(p)[3:])  # upper half of 7 values: 4 largest
    assert fd._prominence_threshold(prom) == pytest.approx(min(otsu, 0.25 * top))
    # a dim sublattice: the cap 0.25 * median of the upper half decides
    prom = np.r_[np.full(20, 1.0), np.full(20, 10.0), [0.01, 0.02]]
    assert fd._prominence_threshold(prom) == pytest.approx(
        min(np.exp(threshold_otsu(np.log(prom))), 2.5)
    )
    assert fd._prominence_threshold(np.array([3.0])) == 0.0
    assert fd._prominence_threshold(np.array([2.0, 2.0])) == 0.0


def test_subpixel_parabola_recovers_a_quadratic_peak():
    yy, xx = np.mgrid[0:9, 0:11].astype(float)
    resp = -((xx - 6.3) ** 2) - 2.0 * (yy - 2.8) ** 2
    fx, fy = fd._subpixel(resp, np.array([3, 0, 8]), np.array([6, 6, 10]))
    assert fx[0] == pytest.approx(6.3) and fy[0] == pytest.approx(2.8)
    # on the border there is no refinement along the clipped axis
    assert fy[1] == 0.0 and fx[1] == pytest.approx(6.3)
    assert fx[2] == 10.0 and fy[2] == 8.0
    # offsets are clipped to +-0.49 px
    off = im.parabolic_vertex(
        np.array([0.0, 1.0, 1.0]),
        np.array([1.0, 1.0, 1.0]),
        np.array([1.0, 0.0, 1.0]),
        0.49,
    )
    np.testing.assert_allclose(off, [0.49, -0.49, 0.0])
    off = im.parabolic_vertex(np.array([1.0]), np.array([3.0]), np.array([2.0]), 0.49)
    # vertex of the parabola through (-1, 1), (0, 3), (1, 2): 0.5 (1 - 2) / (1 - 6 + 2)
    assert off[0] == pytest.approx(1 / 6)
    assert float(im.parabolic_vertex(1.0, 3.0, 2.0)) == pytest.approx(1 / 6)
    assert float(im.parabolic_vertex(0.0, 1.0, 5.0)) == -0.5
    assert float(im.parabolic_vertex(1.0, 1.0, 1.0)) == 0.0
    # a minimum (the curvature positive) gives 0 with maximum_only, as the
    # shift searches need
    assert float(im.parabolic_vertex(1.0, 0.0, 3.0, maximum_only=True)) == 0.0
    assert float(im.parabolic_vertex(1.0, 0.0, 3.0)) == -0.25


def test_linear_weights_interpolate_linear_functions_exactly():
    for n, f in [(37, 4), (40, 5), (16, 8)]:
        m = n // f
        w = im._linear_weights(n, f, m)
        np.testing.assert_allclose(w.sum(axis=1), 1.0)
        centres = (f - 1) / 2 + f * np.arange(m)
        vals = 2.0 - 0.7 * centres
        out = w @ vals
        px = np.arange(n)
        inside = (px >= centres[0]) & (px <= centres[-1])
        np.testing.assert_allclose(out[inside], 2.0 - 0.7 * px[inside])
        np.testing.assert_allclose(out[px < centres[0]], vals[0])
        np.testing.assert_allclose(out[px > centres[-1]], vals[-1])
    np.testing.assert_array_equal(im._linear_weights(5, 3, 1), np.ones((5, 1)))


def test_smooth_of_a_plane_is_the_plane_and_of_a_constant_the_constant():
    yy, xx = np.mgrid[0:160, 0:150].astype(float)
    plane = 3.0 + 0.02 * xx - 0.05 * yy
    # direct (3 boxes of 5 px), and binned by 2 then interpolated (reach 48 px)
    for sigma, lo in ((2.0, 7), (16.0, 50)):
        out = im._smooth(plane, sigma)
        np.testing.assert_allclose(
            out[lo:-lo, lo:-lo], plane[lo:-lo, lo:-lo], atol=1e-9
        )
    np.testing.assert_allclose(im._smooth(np.full((64, 80), 4.5), 17.0), 4.5)
    # the three boxes: variance 3 (w**2 - 1) / 12 of a delta's blur
    delta = np.zeros((41, 41))
    delta[20, 20] = 1.0
    out = im._smooth(delta, 3.0)
    w = 7
    prof = out.sum(axis=0)
    var = np.sum(prof * (np.arange(41) - 20.0) ** 2)
    assert out.sum() == pytest.approx(1.0)
    assert var == pytest.approx(3 * (w * w - 1) / 12)


def test_extract_target_and_auto_target_are_the_column_patch():
    img = np.arange(120.0).reshape(10, 12)
    np.testing.assert_array_equal(fd.extract_target(img, 6.4, 3.6, 2), img[2:7, 4:9])
    np.testing.assert_array_equal(fd.extract_target(img, 2, 7, 2), img[5:10, 0:5])
    # noise-free isolated columns on integer pixels: the average patch is the
    # patch of any inner column (neighbours 14 px or more away, sigma 1.5)
    xs, ys = _lattice((96, 110), 14, 17, 5, 6)
    shape = (96, 110)
    img = gaussians(shape, xs, ys, np.ones(len(xs)) * 5.0, 1.5, background=1.0)
    t = fd.auto_target(img, 14.0)
    h = max(2, int(round(0.4 * 14.0)))
    assert t.shape == (2 * h + 1, 2 * h + 1)
    ref = img[40 - h : 40 + h + 1, 47 - h : 47 + h + 1]  # column at (47, 40)
    assert (47 in xs) and (40 in ys)
    np.testing.assert_allclose(t, ref, atol=1e-6)


@pytest.fixture(scope="module")
def two_types():
    """A rectangular lattice (16 x 21 px) of bright columns with dim columns at
    the cell centres, one bright column missing, columns on integer pixels
    shifted by known sub-pixel amounts in a second copy."""
    shape = (100, 118)
    bx, by = _lattice(shape, 16, 21, 9, 7, margin=6)
    dx, dy = bx + 8, by + 10.5 - 0.5  # dim sites at (+8, +10): integer pixels
    ok = (dx <= shape[1] - 7) & (dy <= shape[0] - 7)
    dx, dy = dx[ok], dy[ok]
    vac = np.argmin(np.hypot(bx - 57, by - 49))
    bx, by = np.delete(bx, vac), np.delete(by, vac)
    xs, ys = np.r_[bx, dx], np.r_[by, dy]
    amps = np.r_[np.full(len(bx), 10.0), np.full(len(dx), 3.0)]
    img = gaussians(shape, xs, ys, amps, 1.8, background=2.0)
    return img, xs, ys, amps


def _match(xs, ys, fx, fy, tol):
    """Index of the found position within ``tol`` of each true one (-1: none)."""
    d, j = cKDTree(np.column_stack([fx, fy])).query(np.column_stack([xs, ys]))
    return np.where(d <= tol, j, -1), d


def test_local_max_finder_positions_scores_and_threshold(two_types):
    img, xs, ys, amps = two_types
    sep = 12.0
    res = fd.find_atoms_local_max(img, sep)
    # every column (dim ones included) found on its pixel, nothing else
    j, d = _match(xs, ys, res["x"], res["y"], 0.0)
    assert np.all(j >= 0) and len(res["x"]) == len(xs)
    # the score is the prominence of the smoothed image over one separation
    s = ndi.gaussian_filter(img, sep / 8)
    low = ndi.minimum_filter(s, size=13)
    iy, ix = res["y"].astype(int), res["x"].astype(int)
    np.testing.assert_allclose(res["score"], s[iy, ix] - low[iy, ix], rtol=1e-9)
    # an explicit prominence threshold between the dim and bright columns
    cut = 0.5 * (res["score"][j[amps == 3.0]].max() + res["score"][j[amps == 10].min()])
    strict = fd.find_atoms_local_max(img, sep, threshold=cut)
    j2, _ = _match(xs, ys, strict["x"], strict["y"], 0.0)
    assert np.all(j2[amps == 10] >= 0) and np.all(j2[amps == 3] < 0)
    assert len(strict["x"]) == np.sum(amps == 10)


def test_log_finder_sub_pixel_positions_and_threshold():
    shape = (90, 104)
    xs, ys = _lattice(shape, 17, 13, 6.3, 5.6, margin=5)
    rng = np.random.default_rng(9)
    xs = xs + rng.uniform(-0.4, 0.4, len(xs))
    ys = ys + rng.uniform(-0.4, 0.4, len(ys))
    amps = np.where(np.arange(len(xs)) % 3 == 0, 4.0, 9.0)
    img = gaussians(shape, xs, ys, amps, 2.0, background=5.0)
    res = fd.find_atoms_log(img, 13.0)
    j, d = _match(xs, ys, res["x"], res["y"], 0.25)
    assert np.all(j >= 0) and len(res["x"]) == len(xs)
    assert np.max(d) < 0.25
    # score: prominence of -s**2 LoG at sigma = separation / 5 (brighter higher)
    sig = 13.0 / 5
    resp = -(sig**2) * ndi.gaussian_laplace(img, sig, mode="reflect")
    iy, ix = np.round(ys).astype(int), np.round(xs).astype(int)
    inner = (ix > 12) & (ix < shape[1] - 13) & (iy > 12) & (iy < shape[0] - 13)
    low = ndi.minimum_filter(resp, size=13)
    np.testing.assert_allclose(
        res["score"][j[inner]], (resp - low)[iy[inner], ix[inner]], rtol=1e-6
    )
    bright = res["score"][j[amps == 9]]
    dim = res["score"][j[amps == 4]]
    assert dim.max() < bright.min()
    cut = 0.5 * (dim.max() + bright.min())
    strict = fd.find_atoms_log(img, 13.0, threshold=cut)
    assert len(strict["x"]) == np.sum(amps == 9)
    j2, _ = _match(xs, ys, strict["x"], strict["y"], 0.25)
    assert np.all(j2[amps == 9] >= 0) and np.all(j2[amps == 4] < 0)


def test_template_finder_positions_labels_and_threshold(two_types):
    img, xs, ys, amps = two_types
    bright = fd.extract_target(img, 25, 28, 4)
    dim = fd.extract_target(img, 33, 38, 4)
    assert bright[4, 4] == img[28, 25] and dim[4, 4] == img[38, 33]
    res = fd.find_atoms_template(img, 10.0, target=[bright, dim], threshold=0.5)
    j, d = _match(xs, ys, res["x"], res["y"], 0.2)
    assert np.all(j >= 0) and len(res["x"]) == len(xs)
    # label: index of the target of the right brightness
    np.testing.assert_array_equal(res["label"][j], np.where(amps == 10, 0, 1))
    # score: the correlation's peak (the targets are exact copies: ~1)
    assert np.all(res["score"] > 0.99) and np.all(res["score"] <= 1.0)
    # one target: all labels 0, the same atoms
    one = fd.find_atoms_template(img, 10.0, target=bright, threshold=0.5)
    assert np.all(one["label"] == 0) and len(one["x"]) == len(xs)
    # targets of different sizes, dim first: labels follow the list order
    small_dim = fd.extract_target(img, 33, 38, 3)
    res = fd.find_atoms_template(img, 10.0, target=[small_dim, bright], threshold=0.5)
    j, d = _match(xs, ys, res["x"], res["y"], 0.2)
    assert np.all(j >= 0) and len(res["x"]) == len(xs)
    np.testing.assert_array_equal(res["label"][j], np.where(amps == 10, 1, 0))
    # all automatic (target from the image, Otsu's threshold): every column
    auto = fd.find_atoms_template(img, 10.0)
    j, d = _match(xs, ys, auto["x"], auto["y"], 0.1)
    assert np.all(j >= 0) and len(auto["x"]) == len(xs)
    # via the dispatcher (target given: the template method is the default)
    via = fd.find_atoms(img, 10.0, target=bright, threshold=0.5)
    np.testing.assert_array_equal(via["x"], one["x"])
    np.testing.assert_array_equal(via["y"], one["y"])


def test_consensus_groups_votes_and_majority():
    a = {"x": np.array([10.0, 20.0, 40.0, 70.0]), "y": np.array([5.0, 5.0, 30.0, 9.0])}
    b = {"x": np.array([10.9, 20.0, 55.0]), "y": np.array([5.0, 6.2, 30.0])}
    c = {"x": np.array([11.8, 40.0, 90.0]), "y": np.array([5.0, 30.9, 1.0])}
    # separation 3: tolerance 1 px; 10 - 10.9 - 11.8 chain (0.9 apart)
    out = fd.consensus([a, b, c], 3.0)  # default majority: 2 of 3
    got = sorted(zip(out["x"].tolist(), out["y"].tolist(), out["votes"].tolist()))
    exp = sorted([(10.9, 5.0, 3), (40.0, 30.45, 2)])
    np.testing.assert_allclose(np.array(got), np.array(exp))
    # 20,5 / 20,6.2 are 1.2 apart: separate at sep 3, one at sep 3.7
    out = fd.consensus([a, b, c], 3.7, min_votes=2)
    got = sorted(zip(out["x"].tolist(), out["y"].tolist(), out["votes"].tolist()))
    exp = sorted([(10.9, 5.0, 3), (20.0, 5.6, 2), (40.0, 30.45, 2)])
    np.testing.assert_allclose(np.array(got), np.array(exp))
    out = fd.consensus([a, b, c], 3.0, min_votes=1)
    assert len(out["x"]) == 1 + 2 + 1 + 1 + 1 + 1  # 10.x, 20 twice, 40, 70, 55, 90
    assert sorted(out["votes"].tolist()) == [1, 1, 1, 1, 1, 2, 3]
    # two finders: the default majority is both
    out = fd.consensus([a, b], 3.0)
    np.testing.assert_allclose(out["x"], [10.45])
    np.testing.assert_array_equal(out["votes"], [2])


def test_find_atoms_dispatches_each_method_and_the_consensus(two_types):
    img = two_types[0]
    sep = 12.0
    direct = {
        "log": fd.find_atoms_log(img, sep),
        "local_max": fd.find_atoms_local_max(img, sep),
    }
    for m, ref in direct.items():
        got = fd.find_atoms(img, sep, method=m)
        for key in ("x", "y", "score"):
            np.testing.assert_array_equal(got[key], ref[key])
    direct["sparse"] = sp.find_atoms_sparse(img, sep)
    direct["template"] = fd.find_atoms_template(img, sep)
    for m in ("sparse", "template"):
        got = fd.find_atoms(img, sep, method=m)
        for key in ("x", "y", "score"):
            np.testing.assert_array_equal(got[key], direct[m][key])
    got = fd.find_atoms(img, sep)  # default: the LoG
    np.testing.assert_array_equal(got["x"], direct["log"]["x"])
    both = fd.find_atoms(img, sep, method=["log", "local_max"], min_votes=1)
    ref = fd.consensus([direct["log"], direct["local_max"]], sep, min_votes=1)
    for key in ("x", "y", "votes"):
        np.testing.assert_array_equal(both[key], ref[key])


def test_estimate_separation_is_the_true_nearest_distance():
    shape = (150, 166)
    xs, ys = _lattice(shape, 13, 17, 4.3, 6.1)
    img = gaussians(shape, xs, ys, np.ones(len(xs)), 2.2, background=0.5)
    assert se.estimate_separation(img) == pytest.approx(13.0, rel=0.02)
    # a dim sublattice at the cell centres sets the nearest distance
    # (hypot(10, 12.5) = 16.0 < 20 = a)
    xs, ys = _lattice(shape, 20, 25, 5.0, 6.0)
    img = gaussians(shape, xs, ys, np.ones(len(xs)), 2.5)
    img += gaussians(shape, xs + 10, ys + 12.5, np.full(len(xs), 0.3), 2.5)
    true = np.hypot(10, 12.5)
    assert se.estimate_separation(img) == pytest.approx(true, rel=0.03)
    # without it, the period along x
    img = gaussians(shape, xs, ys, np.ones(len(xs)), 2.5)
    assert se.estimate_separation(img) == pytest.approx(20.0, rel=0.02)
    # dark columns (dips in a bright background): the same distance
    xs, ys = _lattice(shape, 13, 17, 4.3, 6.1)
    img = 5.0 - gaussians(shape, xs, ys, np.ones(len(xs)), 3.0)
    assert se.estimate_separation(img) == pytest.approx(13.0, rel=0.03)


def test_estimate_separation_of_a_few_columns_and_of_noise():
    # a 2 x 3 group of columns, 15 px apart along x and 19 along y, in a
    # small image: the first ring of the autocorrelation
    xs, ys = np.meshgrid([16.0, 31.0, 46.0], [18.0, 37.0])
    img = gaussians((56, 62), xs.ravel(), ys.ravel(), np.ones(6), 2.0)
    assert se.estimate_separation(img) == pytest.approx(15.0, rel=0.05)
    rng = np.random.default_rng(10)
    with pytest.raises(ValueError, match="separation"):
        se.estimate_separation(rng.normal(size=(80, 90)))


def test_estimate_column_width_of_isolated_columns():
    shape = (160, 150)
    xs, ys = _lattice(shape, 25, 27, 7.0, 9.0)
    for s, rel in ((1.5, 0.03), (1.8, 0.03), (3.0, 0.06)):
        img = gaussians(shape, xs, ys, np.ones(len(xs)), s, background=1.0)
        assert se.estimate_column_width(img) == pytest.approx(s, rel=rel)
    # white noise adds to the zero lag only
    rng = np.random.default_rng(11)
    img = gaussians(shape, xs, ys, np.ones(len(xs)), 3.0) + 0.05 * rng.normal(
        size=shape
    )
    assert se.estimate_column_width(img) == pytest.approx(3.0, rel=0.08)
    # a width below one pixel is reported as 1
    img = gaussians(shape, xs, ys, np.ones(len(xs)), 0.4)
    assert se.estimate_column_width(img) == 1.0


# --------------------------------------------------------------------------
# neighbourhoods against brute force
# --------------------------------------------------------------------------

A, B = 10.0, 13.0
# lattice offsets of the 8 nearest neighbours of a 10 x 13 rectangular cell,
# ordered by shell (+-a, +-b, diagonals) then by angle from just below +x
# (atan2 increasing: clockwise on screen, y pointing down)
OFFSETS_DISTANCE = [
    (1, 0),
    (-1, 0),
    (0, 1),
    (0, -1),
    (1, 1),
    (-1, 1),
    (-1, -1),
    (1, -1),
]
# ordered by angle from the first shell's direction
OFFSETS_ANGLE = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)]


@pytest.fixture(scope="module")
def rect():
    """9 x 8 atoms of a 10 x 13 px lattice with 0.15 px jitter; (i, j) grid
    index of each atom."""
    rng = np.random.default_rng(13)
    jj, ii = np.mgrid[0:8, 0:9]
    ii, jj = ii.ravel(), jj.ravel()
    x = 4.0 + A * ii + rng.uniform(-0.15, 0.15, ii.size)
    y = 6.0 + B * jj + rng.uniform(-0.15, 0.15, ii.size)
    return x, y, ii, jj


def _grid_index(ii, jj):
    return {(i, j): k for k, (i, j) in enumerate(zip(ii.tolist(), jj.tolist()))}


def _brute_centres(pts, k, extent=None, border=None):
    d = np.hypot(*(pts[:, None, :] - pts[None, :, :]).T).T
    np.fill_diagonal(d, np.inf)
    dk = np.sort(d, axis=1)[:, :k]
    nn = np.median(dk[:, 0])
    if extent is None:
        extent = (pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].min(), pts[:, 1].max())
    edge = np.min(
        [
            pts[:, 0] - extent[0],
            extent[1] - pts[:, 0],
            pts[:, 1] - extent[2],
            extent[3] - pts[:, 1],
        ],
        axis=0,
    )
    need = dk[:, -1] + 0.5 * nn if border is None else border
    return np.flatnonzero(edge >= need)


def test_neighbour_vectors_distance_metric_equals_brute_force(rect):
    x, y, ii, jj = rect
    pts = np.column_stack([x, y])
    grid = _grid_index(ii, jj)
    nb = nbh.neighbour_vectors(x, y, n_neighbours=8)
    np.testing.assert_array_equal(nb.centres, _brute_centres(pts, 8))
    assert len(nb.centres) > 0
    for row, c in enumerate(nb.centres):
        exp = [grid[(ii[c] + di, jj[c] + dj)] for di, dj in OFFSETS_DISTANCE]
        np.testing.assert_array_equal(nb.indices[row], exp)
        np.testing.assert_array_equal(nb.vectors[row], pts[exp] - pts[c])
        # rotation: the direction of the nearest neighbour
        d = np.hypot(*(pts[exp] - pts[c]).T)
        v = pts[exp[np.argmin(d)]] - pts[c]
        assert nb.rotation[row] == pytest.approx(np.arctan2(v[1], v[0]), abs=1e-12)
    np.testing.assert_array_equal(nb.counts, 8)
    # without the border rule every atom is a centre, in input order
    allc = nbh.neighbour_vectors(x, y, n_neighbours=4, exclude_border=False)
    np.testing.assert_array_equal(allc.centres, np.arange(len(x)))
    d = np.hypot(*(pts[:, None, :] - pts[None, :, :]).T).T
    np.fill_diagonal(d, np.inf)
    near = np.sort(np.argsort(d, axis=1)[:, :4], axis=1)
    np.testing.assert_array_equal(np.sort(allc.indices, axis=1), near)
    # an explicit extent and border
    ext = (-3.0, 92.0, 0.0, 101.0)
    nb = nbh.neighbour_vectors(x, y, n_neighbours=4, extent=ext, border=14.0)
    np.testing.assert_array_equal(nb.centres, _brute_centres(pts, 4, ext, 14.0))
    assert 0 < len(nb.centres) < len(x)


def test_neighbour_vectors_angle_metric_on_a_rotated_lattice(rect):
    x0, y0, ii, jj = rect
    grid = _grid_index(ii, jj)
    phi = np.deg2rad(25.0)
    c, s = np.cos(phi), np.sin(phi)
    x, y = c * x0 - s * y0 + 40, s * x0 + c * y0 + 3
    pts = np.column_stack([x, y])
    nb = nbh.neighbour_vectors(x, y, n_neighbours=8, metric="angle")
    np.testing.assert_array_equal(nb.centres, _brute_centres(pts, 8))
    for row, cen in enumerate(nb.centres):
        exp = [grid[(ii[cen] + di, jj[cen] + dj)] for di, dj in OFFSETS_ANGLE]
        np.testing.assert_array_equal(nb.indices[row], exp)
        # vectors in the local frame: back to the image frame by +rotation
        back = nbh.rotate_vectors(nb.vectors[row : row + 1], nb.rotation[row : row + 1])
        np.testing.assert_allclose(back[0], pts[exp] - pts[cen], atol=1e-12)
        # close to the unrotated lattice offsets
        ideal = np.array([(di * A, dj * B) for di, dj in OFFSETS_ANGLE])
        np.testing.assert_allclose(nb.vectors[row], ideal, atol=0.5)
    # rotation: the first shell's (2-fold) mean direction, the lattice's angle
    np.testing.assert_allclose(nb.rotation, phi, atol=0.03)
    # locate_centres finds each row's centre again from the geometry
    rot = np.full(len(x), np.nan)
    rot[nb.centres] = nb.rotation
    for row in (0, len(nb.centres) - 1):
        got = nbh.locate_centres(pts, nb.vectors[row], rot)
        np.testing.assert_array_equal(got, [nb.centres[row]])


def test_neighbour_vectors_radius_mode_counts_and_missing(rect):
    x, y, ii, jj = rect
    pts = np.column_stack([x, y])
    d = np.hypot(*(pts[:, None, :] - pts[None, :, :]).T).T
    np.fill_diagonal(d, np.inf)
    r = 13.0  # the +-b neighbours lie at 13 +- 0.3: some in, some out
    nb = nbh.neighbour_vectors(x, y, n_neighbours=None, radius=r, exclude_border=False)
    within = (d <= r).sum(axis=1)
    assert len(set(within.tolist())) > 1
    np.testing.assert_array_equal(nb.counts, within)
    assert nb.vectors.shape == (len(x), within.max(), 2)
    for k in range(len(x)):
        got = nb.indices[k][nb.indices[k] >= 0]
        np.testing.assert_array_equal(np.sort(got), np.flatnonzero(d[k] <= r))
        assert np.all(nb.indices[k][within[k] :] == -1)
        assert np.all(np.isnan(nb.vectors[k][within[k] :]))
        np.testing.assert_array_equal(nb.vectors[k][: within[k]], pts[got] - pts[k])
    # with the border rule: a centre needs radius + nn / 2 to the edge
    nb = nbh.neighbour_vectors(x, y, n_neighbours=3, radius=r)
    edge = np.min([x - x.min(), x.max() - x, y - y.min(), y.max() - y], axis=0)
    nn = np.median(np.min(d, axis=1))
    np.testing.assert_array_equal(nb.centres, np.flatnonzero(edge >= r + 0.5 * nn))
    np.testing.assert_array_equal(nb.counts, np.minimum(within[nb.centres], 3))


def test_neighbour_invariants_closed_form():
    v = np.array(
        [
            [[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [np.nan, np.nan]],
            [[2.0, 1.0], [-1.0, 3.0], [-2.0, -2.0], [0.5, -1.5]],
        ]
    )
    inv = nbh.neighbour_invariants(v)
    np.testing.assert_allclose(inv["bond_lengths"][0, :3], [1, 1, 2])
    assert np.isnan(inv["bond_lengths"][0, 3])
    np.testing.assert_allclose(inv["bond_angles"][0, :3], [90, 90, 180])
    assert np.isnan(inv["bond_angles"][0, 3])
    np.testing.assert_allclose(inv["polar"][0], [0.0, -2.0 / 3.0], atol=1e-15)
    w = v[1]
    np.testing.assert_allclose(inv["bond_lengths"][1], np.sort(np.hypot(*w.T)))
    t = np.sort(np.mod(np.arctan2(w[:, 1], w[:, 0]), 2 * np.pi))
    gaps = np.rad2deg(np.diff(np.r_[t, t[0] + 2 * np.pi]))
    np.testing.assert_allclose(inv["bond_angles"][1], np.sort(gaps))
    assert inv["bond_angles"][1].sum() == pytest.approx(360.0)
    np.testing.assert_allclose(inv["polar"][1], -w.mean(axis=0))


def test_locate_centres_brute_force():
    rng = np.random.default_rng(14)
    p = rng.uniform(0, 50, (30, 2))
    v = np.array([p[7] - p[3], p[21] - p[3], [np.nan, np.nan]])
    np.testing.assert_array_equal(nbh.locate_centres(p, v), [3])
    # rotated frame: the local vectors turned by -rotation of atom 3
    rot = np.full(30, np.nan)
    rot[3], rot[5] = 0.7, 0.2
    loc = nbh.rotate_vectors(v[None, :2], np.array([-0.7]))[0]
    np.testing.assert_array_equal(nbh.locate_centres(p, loc, rot), [3])
    rot[3] = np.nan  # atom 3 is no centre any more
    assert nbh.locate_centres(p, loc, rot).size == 0
    assert nbh.locate_centres(p, v[2:]).size == 0
    # on a perfect lattice every atom with that neighbour fits
    g = np.array([(i * 2.0, j * 3.0) for j in range(3) for i in range(4)])
    got = nbh.locate_centres(g, np.array([[2.0, 0.0], [0.0, 3.0]]))
    exp = [k for k, (a, b) in enumerate(g) if a < 6 and b < 6]
    np.testing.assert_array_equal(got, exp)


def test_shell_count_on_lattices():
    jj, ii = np.mgrid[0:12, 0:12]
    x, y = A * ii.ravel(), B * jj.ravel()
    assert nbh.shell_count(x, y) == (4, True)  # +-a, +-b close at 4
    assert nbh.shell_count(x, y, minimum=1) == (2, True)  # +-a alone
    # the next steps are all below 1.35: no shell closes, the largest
    # relative jump (13 -> 16.4 after 4) is returned
    assert nbh.shell_count(x, y, jump=1.35) == (4, False)
    hx = np.array([i + 0.5 * (j % 2) for j in range(12) for i in range(12)])
    hy = np.array([j * 3**0.5 / 2 for j in range(12) for i in range(12)])
    assert nbh.shell_count(hx, hy) == (6, True)
    assert nbh.shell_count(hx, hy, minimum=7, maximum=14) == (12, True)


# --------------------------------------------------------------------------
# detection: noise model, significance, outliers, contrast, edge columns
# --------------------------------------------------------------------------


def test_column_sigma_and_threshold_closed_forms():
    from scipy.stats import norm

    assert dt.column_sigma(12.0) == pytest.approx(2.4)
    assert dt.column_sigma(3.0) == 0.7 and dt.column_sigma(3.6) == pytest.approx(0.72)
    for n, fa in [(128 * 128, 0.05), (4000, 0.2), (300, 0.05), (10**8, 0.05)]:
        exp = float(np.clip(norm.isf(fa / n), 3.0, 5.0))
        assert dt.significance_threshold(n, fa) == pytest.approx(exp, rel=1e-12)
    # the default: 0.05 false atoms per image (4.52 sigma for 128 x 128 px)
    assert dt.significance_threshold(128 * 128) == pytest.approx(
        norm.isf(0.05 / 128**2), rel=1e-12
    )
    assert dt.significance_threshold(10) == 3.0  # isf(0.005) = 2.58: clipped
    assert dt.significance_threshold(10**8) == 5.0
    assert 3.0 < dt.significance_threshold(5000) < 5.0
    np.testing.assert_allclose(
        dt.noise_variance({"a": 2.0, "b": -0.5, "floor": 0.3}, np.array([1.0, 3.5, 9])),
        [1.5, 0.3, 0.3],
    )
    img = np.array([[0.0, 2.0], [5.0, 1.0]])
    np.testing.assert_array_equal(dt.oriented(img, "dark"), [[5, 3], [0, 4]])
    np.testing.assert_array_equal(dt.oriented(img, "bright"), img)


def test_estimate_noise_variance_model_and_binned_variances():
    rng = np.random.default_rng(15)
    yy, xx = np.mgrid[0:120, 0:130].astype(float)
    mean = 20.0 + 1.4 * xx + 0.3 * yy  # a ramp from 20 to 237
    img = mean + rng.normal(size=mean.shape) * np.sqrt(4.0 + 0.5 * mean)
    noise = nz.estimate_noise(img)
    assert noise["a"] == pytest.approx(4.0, abs=3.0)
    assert noise["b"] == pytest.approx(0.5, rel=0.12)
    assert noise["sd"] == pytest.approx(np.sqrt(4 + 0.5 * np.median(mean)), rel=0.05)
    assert noise["excess"] == pytest.approx(1.0, abs=0.1)
    # the binned robust variances of the fourth-order difference (Notes)
    k = np.outer([1.0, -2.0, 1.0], [1.0, -2.0, 1.0]) / 6.0
    d = ndi.correlate(img, k)[1:-1, 1:-1].ravel()
    m = ndi.uniform_filter(img, 3, mode="nearest")[1:-1, 1:-1].ravel()
    groups = np.array_split(np.argsort(m, kind="stable"), 16)
    np.testing.assert_allclose(noise["levels"], [m[g].mean() for g in groups])
    np.testing.assert_allclose(
        noise["variances"],
        [(1.482602218505602 * np.median(np.abs(d[g]))) ** 2 for g in groups],
        rtol=1e-9,
    )
    assert noise["floor"] == pytest.approx(0.25 * noise["variances"].min())
    # constant white noise: b ~ 0, a ~ sd**2 whatever the structure
    img = 3.0 * rng.normal(size=(128, 128)) + gaussians(
        (128, 128), [30, 90], [40, 70], [50.0, 80.0], 4.0, background=100.0
    )
    noise = nz.estimate_noise(img)
    assert noise["sd"] == pytest.approx(3.0, rel=0.06)
    assert dt.noise_variance(noise, 150.0) == pytest.approx(9.0, rel=0.15)


def test_estimate_noise_of_a_noise_free_quantised_image():
    img = np.full((40, 50), 7.0)
    img[20, 30] += 12.0  # differences 2, 4, 8 around it, 0 elsewhere
    noise = nz.estimate_noise(img)
    assert noise["a"] == 4.0 and noise["b"] == 0.0 and noise["floor"] == 4.0
    assert noise["sd"] == 2.0


def _brute_significance_map(img, sigma, noise, sign):
    half = max(2, int(np.ceil(2.5 * sigma)))
    level = ndi.uniform_filter(img, 3, mode="reflect")
    v = dt.noise_variance(noise, level) * noise.get("excess", 1.0)
    ny, nx = img.shape
    out = np.empty(img.shape)
    for r in range(ny):
        for c in range(nx):
            r0, r1 = max(r - half, 0), min(r + half + 1, ny)
            c0, c1 = max(c - half, 0), min(c + half + 1, nx)
            yy, xx = np.mgrid[r0:r1, c0:c1]
            g = np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * sigma**2))
            f = g - g.mean()
            resp = np.sum(f * img[r0:r1, c0:c1])
            out[r, c] = sign * resp / np.sqrt(np.sum(f * f * v[r0:r1, c0:c1]))
    return out


def test_significance_map_equals_the_brute_force_matched_filter():
    rng = np.random.default_rng(16)
    img = gaussians((19, 26), [6.0, 17.3, 24.0], [5.0, 12.6, 2.0], [9, 4, 6], 1.4)
    img += 30 + rng.normal(size=img.shape)
    noise = {"a": 2.0, "b": 0.05, "floor": 0.5, "excess": 1.3}
    for sign in (1, -1):
        got = dt.significance_map(img, 1.4, noise, sign)
        np.testing.assert_allclose(
            got, _brute_significance_map(img, 1.4, noise, sign), rtol=1e-9
        )
    # significance without neighbours: the map, bilinear at the positions
    z = _brute_significance_map(img, 1.4, noise, 1)
    x, y = np.array([6.0, 17.3, 0.0, 25.0]), np.array([5.0, 12.6, 18.0, 0.4])
    got = dt.significance(img, x, y, 1.4, noise, fit_neighbours=False)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, 25), np.minimum(y0 + 1, 18)
    fx, fy = x - x0, y - y0
    exp = (
        z[y0, x0] * (1 - fx) * (1 - fy)
        + z[y0, x1] * fx * (1 - fy)
        + z[y1, x0] * (1 - fx) * fy
        + z[y1, x1] * fx * fy
    )
    np.testing.assert_allclose(got, exp, rtol=1e-9)


def _brute_fitted_significance(img, v, x, y, sigma):
    half = max(2, int(np.ceil(2.5 * sigma)))
    reach = half * np.sqrt(2) + 3 * sigma
    ny, nx = img.shape
    out = []
    for i in range(len(x)):
        d = np.hypot(x - x[i], y - y[i])
        d[i] = np.inf
        nbrs = [j for j in np.argsort(d) if 1.5 * sigma <= d[j] <= reach][:8]
        cx, cy = int(np.rint(x[i])), int(np.rint(y[i]))
        yy, xx = np.mgrid[cy - half : cy + half + 1, cx - half : cx + half + 1]
        ins = (xx >= 0) & (xx < nx) & (yy >= 0) & (yy < ny)
        xx, yy = xx[ins], yy[ins]
        cols = [np.exp(-((xx - x[i]) ** 2 + (yy - y[i]) ** 2) / (2 * sigma**2))]
        cols.append(np.ones(len(xx)))
        for j in nbrs:
            gj = np.exp(-((xx - x[j]) ** 2 + (yy - y[j]) ** 2) / (2 * sigma**2))
            if np.sum(gj**2 / v[yy, xx]) > 1e-9 * np.sum(cols[0] ** 2 / v[yy, xx]):
                cols.append(gj)
        X = np.column_stack(cols)
        W = 1.0 / v[yy, xx]
        M = X.T @ (X * W[:, None])
        cov = np.linalg.inv(M)
        amp = (cov @ (X.T @ (W * img[yy, xx])))[0]
        out.append(amp / np.sqrt(cov[0, 0]))
    return np.array(out)


def test_significance_with_neighbours_equals_a_weighted_least_squares_fit():
    rng = np.random.default_rng(17)
    # a bright column with a dim neighbour 5 px away, a pair closer than
    # 1.5 sigma (the same column), an atom on the edge, isolated atoms
    # atoms on every edge (windows cut by the frame)
    x = np.array([12.0, 17.2, 30.0, 31.5, 0.4, 40.0, 22.0, 43.3, 8.0, 26.0])
    y = np.array([10.0, 11.5, 20.0, 20.9, 14.0, 4.0, 25.0, 28.8, 29.4, 0.3])
    amps = np.array([20.0, 5.0, 12.0, 0.0, 8.0, 3.0, 0.0, 6.0, 9.0, 7.0])
    img = gaussians((30, 44), x, y, amps, 1.6, background=10.0)
    img += rng.normal(size=img.shape) * np.sqrt(1.0 + 0.1 * img)
    noise = {"a": 1.0, "b": 0.1, "floor": 0.2, "excess": 1.2}
    got = dt.significance(img, x, y, 1.6, noise)
    v = dt.noise_variance(noise, ndi.uniform_filter(img, 3, mode="reflect")) * 1.2
    np.testing.assert_allclose(
        got, _brute_fitted_significance(img, v, x, y, 1.6), rtol=1e-7
    )
    assert got[0] > 20 and got[6] < 4
    # a dense group: more than 8 others reach each window (8 are modelled)
    gx, gy = np.meshgrid(6.0 + 4.5 * np.arange(6), 5.0 + 4.2 * np.arange(5))
    gx, gy = gx.ravel() + rng.uniform(-0.3, 0.3, 30), gy.ravel()
    dense = gaussians((30, 36), gx, gy, rng.uniform(5, 15, 30), 1.6, 10.0)
    dense += rng.normal(size=dense.shape)
    vd = dt.noise_variance(noise, ndi.uniform_filter(dense, 3, mode="reflect")) * 1.2
    np.testing.assert_allclose(
        dt.significance(dense, gx, gy, 1.6, noise),
        _brute_fitted_significance(dense, vd, gx, gy, 1.6),
        rtol=1e-7,
    )
    # dark columns: the sign flips
    dark = dt.significance(-img, x, y, 1.6, noise, contrast="dark")
    v = dt.noise_variance(noise, ndi.uniform_filter(-img, 3, mode="reflect")) * 1.2
    np.testing.assert_allclose(
        dark, -_brute_fitted_significance(-img, v, x, y, 1.6), rtol=1e-7
    )


def test_find_outliers_threshold_isolation_and_replacement():
    img = np.full((30, 40), 50.0)
    noise = {"a": 1.0, "b": 0.0, "floor": 1.0}
    sd = np.sqrt(72.0)  # of L = 9 I - 9 mean3x3 for unit pixel variance
    h = sd  # a spike of h gives |L| = 8 h at its pixel, h at its neighbours
    img[5, 7] += 0.99 * h  # 8 h below 8 sd: kept
    img[12, 20] += 1.01 * h  # above: an outlier
    img[20, 30] += 5 * h  # two adjacent spikes hide each other
    img[20, 31] += 5 * h
    img[25, 9] -= 3 * h  # a dead pixel
    got = dt.find_outliers(img, noise)
    assert np.argwhere(got).tolist() == [[12, 20], [25, 9]]
    # a lone spike is 8 times its neighbours: isolation just below / above 8
    assert dt.find_outliers(img, noise, isolation=7.9)[12, 20]
    assert not dt.find_outliers(img, noise, isolation=8.1)[12, 20]
    assert dt.find_outliers(img, noise, threshold=0.98)[5, 7]
    assert not dt.find_outliers(np.full((9, 9), 3.0), noise).any()
    # replacement: the 3 x 3 median of the pixels not masked (reflect pad)
    rng = np.random.default_rng(18)
    img = rng.normal(size=(7, 9))
    mask = np.zeros(img.shape, bool)
    mask[0, 0] = mask[3, 4] = mask[3, 5] = True
    out = dt.replace_outliers(img, mask)
    pad = np.pad(np.where(mask, np.nan, img), 1, mode="reflect")
    for r, c in np.argwhere(mask):
        assert out[r, c] == np.nanmedian(pad[r : r + 3, c : c + 3])
    np.testing.assert_array_equal(out[~mask], img[~mask])
    # a masked 3 x 3 block: its centre has no clean neighbour and takes the
    # median of all clean pixels
    mask[:] = False
    mask[2:5, 5:8] = True
    out = dt.replace_outliers(img, mask)
    assert out[3, 6] == np.median(img[~mask])
    assert out[2, 5] == np.median(
        [img[1, 4], img[1, 5], img[1, 6], img[2, 4], img[3, 4]]
    )


def test_decide_contrast_bright_dark_and_too_small():
    from scipy.stats import skew

    shape = (110, 120)
    xs, ys = _lattice(shape, 15, 13, 4.0, 3.0)
    xs = np.r_[xs, xs + 7.5]
    ys = np.r_[ys, ys + 6.5]
    rng = np.random.default_rng(19)
    img = gaussians(shape, xs, ys, np.ones(len(xs)) * 30, 1.5, background=10.0)
    img += rng.normal(size=shape)
    noise = {"a": 1.0, "b": 0.0, "floor": 1.0}
    c, info = dt.decide_contrast(img, 1.5, noise)
    assert c == "bright"
    half = int(np.ceil(2.5 * 1.5))
    z = dt.significance_map(img, 1.5, noise)[half:-half, half:-half]
    assert info["skewness"] == pytest.approx(skew(z.ravel()), rel=1e-9)
    assert info["skewness"] > 0.25 and info["extrema_ratio"] > 1
    # extrema ratio: median of the strongest maxima over that of the
    # strongest minima, as many as columns fit (separation 5 sigma), each
    # half a separation apart
    n = int(z.size / 7.5**2)
    r, c_ = im.local_maxima(z, 4)
    top = np.median(z[r[:n], c_[:n]])
    r, c_ = im.local_maxima(-z, 4)
    bottom = np.median(-z[r[:n], c_[:n]])
    assert info["extrema_ratio"] == pytest.approx(top / bottom, rel=1e-12)
    # a small image: the edges of one window are left out all the same
    small = img[:21, :21]
    z = dt.significance_map(small, 1.5, noise)[half:-half, half:-half]
    _, info_small = dt.decide_contrast(small, 1.5, noise)
    assert info_small["skewness"] == pytest.approx(skew(z.ravel()), rel=1e-9)
    c, info = dt.decide_contrast(80.0 - img, 1.5, noise)
    assert c == "dark" and info["skewness"] < -0.25 and info["extrema_ratio"] < 1
    # fewer than 9 columns' worth of image (the map less a 4 px edge:
    # 41**2 < 9 * 14**2 < 43**2): stays bright
    c, _ = dt.decide_contrast(80.0 - img[:49, :49], 1.5, noise, separation=14.0)
    assert c == "bright"
    c, _ = dt.decide_contrast(80.0 - img[:51, :51], 1.5, noise, separation=14.0)
    assert c == "dark"


def _sharpness_by_hand(img, sigma, sep):
    """The sharpness ratio and band skewness of ``decide_contrast``'s
    second test, from its documented rule."""
    from scipy.stats import skew

    smooth = ndi.gaussian_filter(img, sigma / 2)
    band = smooth - ndi.gaussian_filter(img, sep)
    lap = ndi.laplace(smooth)
    m = int(2 * sep)
    core = band[m:-m, m:-m]
    n = int(core.size / sep**2)
    med = []
    for sign in (1, -1):
        r, c = im.local_maxima(sign * band, round(sep / 2))
        keep = (r >= m) & (r < img.shape[0] - m) & (c >= m) & (c < img.shape[1] - m)
        med.append(np.median(np.abs(lap[r[keep][:n], c[keep][:n]])))
    return med[0] / med[1], skew(core.ravel())


def test_decide_contrast_square_lattice_of_broad_columns():
    """Dark columns a quarter of the cell wide on a square lattice: the
    matched-filter map is nearly symmetric, but the dips are the sharp
    extrema and the gaps the flat ones (test 2; the scene where test 1
    alone says "bright" is in test_bad_input_matrix)."""
    shape, a, b = (150, 160), 16.0, 16.0
    xs, ys = _lattice(shape, a, b, 5.0, 3.0, margin=-10.0)
    rng = np.random.default_rng(5)
    clean = gaussians(shape, xs, ys, np.full(len(xs), 100.0), 4.0, background=20.0)
    bright = clean + rng.normal(0, 0.5, shape)
    dark = 140.0 - clean + rng.normal(0, 0.5, shape)
    noise = {"a": 0.25, "b": 0.0, "floor": 0.5}
    sep, sigma = a, dt.column_sigma(a)
    c, info = dt.decide_contrast(dark, sigma, noise, sep)
    assert c == "dark"
    sharp, band_skew = _sharpness_by_hand(dark, sigma, sep)
    assert info["sharpness_ratio"] == pytest.approx(sharp, rel=1e-9)
    assert info["band_skewness"] == pytest.approx(band_skew, rel=1e-9)
    assert sharp < 0.5 and band_skew < -0.3
    c, info = dt.decide_contrast(bright, sigma, noise, sep)
    assert c == "bright" and info["sharpness_ratio"] > 2 and info["band_skewness"] > 0.3
    # the rule has no preferred axis: the transposed scene is decided alike
    assert dt.decide_contrast(dark.T, sigma, noise, sep)[0] == "dark"
    assert dt.decide_contrast(bright.T, sigma, noise, sep)[0] == "bright"
    # pure noise: neither test fires
    flat = 50.0 + rng.normal(0, 0.5, shape)
    assert dt.decide_contrast(flat, sigma, noise, sep)[0] == "bright"


def test_centred_outside_edges_on_every_side():
    yy, xx = np.mgrid[:40, :50]
    cols = [
        (49.6, 30),
        (48.6, 8),
        (-0.6, 12),
        (0.7, 28),
        (20, -0.7),
        (35, 39.6),
        (24, 20),
    ]
    img = 10.0 + sum(
        100 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 8.0) for cx, cy in cols
    )
    x = np.array([49, 49, 0, 1, 20, 35, 24.0])
    y = np.array([30, 8, 12, 28, 0, 39, 20.0])
    got = dt.centred_outside(img, x, y, 12.0)
    # outside: beyond the outermost pixel centres (0 and 49 / 39)
    exp = [cx < 0 or cx > 49 or cy < 0 or cy > 39 for cx, cy in cols]
    assert got.tolist() == exp


# --------------------------------------------------------------------------
# sparse: FISTA, clusters, the finder
# --------------------------------------------------------------------------


def _reference_fista(img, sigma, lam, n_iter, tol):
    """FISTA (Beck & Teboulle 2009) for 0.5 ||y - h c||^2 + lam sum(c), c >= 0,
    h the unit-sum Gaussian (periodic, on the reflect-padded image in a
    zero-filled frame of FFT-friendly size), written out in float64."""
    import scipy.fft

    pad = int(np.ceil(4 * sigma)) + 1
    big = np.pad(img, pad, mode="reflect")
    shape = tuple(scipy.fft.next_fast_len(n, real=True) for n in big.shape)
    y = np.zeros(shape)
    y[: big.shape[0], : big.shape[1]] = big
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    tf = np.exp(-2 * np.pi**2 * sigma**2 * (fx**2 + fy**2))

    def H(a):
        return np.fft.ifft2(np.fft.fft2(a) * tf).real

    b = H(y)
    c = np.zeros(shape)
    z = c.copy()
    t = 1.0
    for _ in range(n_iter):
        c_new = np.maximum(z - H(H(z)) + b - lam, 0)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        change = np.abs(c_new - c).sum()
        z = c_new + (t - 1) / t_new * (c_new - c)
        c, t = c_new, t_new
        if c.sum() > 0 and change < tol * c.sum():
            break
    return c[pad : pad + img.shape[0], pad : pad + img.shape[1]]


def test_sparse_deconvolution_is_fista_and_recovers_the_volumes():
    x, y = np.array([8.0, 20.0, 25.0]), np.array([9.0, 14.0, 6.0])
    amps = np.array([50.0, 20.0, 35.0])
    img = gaussians((22, 31), x, y, amps, 1.7)
    for n_iter, lam, tol in [(1, 0.3, 1e-4), (2, 0.3, 1e-4), (7, 0.05, 1e-4)]:
        got = sp.sparse_deconvolution(img, 1.7, lam, max_iter=n_iter, tol=tol)
        ref = _reference_fista(img, 1.7, lam, n_iter, tol)
        assert got.shape == img.shape
        np.testing.assert_allclose(got, ref, atol=2e-4 * ref.max())
    # the stopping rule: a loose tolerance stops early, as the reference does
    got = sp.sparse_deconvolution(img, 1.7, 0.05, max_iter=200, tol=0.05)
    ref = _reference_fista(img, 1.7, 0.05, 200, 0.05)
    np.testing.assert_allclose(got, ref, atol=2e-4 * ref.max())
    assert not np.allclose(got, _reference_fista(img, 1.7, 0.05, 200, 1e-4), atol=0.05)
    # converged, small penalty: each column's volume 2 pi sigma**2 A at its pixel
    c = sp.sparse_deconvolution(img, 1.7, 0.01, max_iter=300)
    for xi, yi, a in zip(x.astype(int), y.astype(int), amps):
        assert c[yi - 2 : yi + 3, xi - 2 : xi + 3].sum() == pytest.approx(
            2 * np.pi * 1.7**2 * a, rel=0.03
        )
        assert np.unravel_index(
            np.argmax(c[yi - 2 : yi + 3, xi - 2 : xi + 3]), (5, 5)
        ) == (2, 2)


def test_clusters_weighted_centroids_and_masses():
    coef = np.zeros((40, 50), np.float32)
    clusters = [
        [(5, 6, 3.0), (5, 7, 1.0), (6, 6, 2.0)],
        [(20, 30, 4.0), (21, 31, 4.0), (20, 31, 0.5)],
        [(30, 8, 1.5)],
        [(33, 40, 2.0), (34, 40, 2.5), (35, 40, 1.0), (34, 41, 0.5)],
    ]
    for cl in clusters:
        for r, c, w in cl:
            coef[r, c] = w
    x, y, mass = sp._clusters(coef, 1.0, 10.0)
    exp = []
    for cl in clusters:
        w = np.array([v for _, _, v in cl])
        exp.append(
            (
                sum(c * v for _, c, v in cl) / w.sum(),
                sum(r * v for r, _, v in cl) / w.sum(),
                w.sum(),
            )
        )
    got = sorted(zip(x.tolist(), y.tolist(), mass.tolist()))
    np.testing.assert_allclose(np.array(got), np.array(sorted(exp)), rtol=1e-6)
    assert all(len(a) == 0 for a in sp._clusters(np.zeros((9, 9)), 1.0, 5.0))


def test_find_atoms_sparse_positions_scores_and_thresholds():
    # (the last bright column is centred on the image's last pixel column)
    x = np.array([20.0, 27.0, 45.0, 63.0, 12.0, 35.0, 50.0])
    y = np.array([30.0, 31.0, 20.0, 37.0, 10.0, 8.0, 40.0])
    amps = np.array([100.0, 100.0, 100.0, 100.0, 30.0, 6.5, 3.0])
    s = 2.5
    img = gaussians((50, 64), x, y, amps, s, background=10.0)
    img[8, 40] += 60.0  # a hot pixel: removed, not an atom
    res = sp.find_atoms_sparse(img, separation=7, sigma=s)
    # the 3 % column is below 5 % of the 90th percentile: dropped; 6.5 % kept
    j, d = _match(x[:6], y[:6], res["x"], res["y"], 0.3)
    assert np.all(j >= 0) and len(res["x"]) == 6
    # score: the integrated intensity 2 pi s**2 A
    # (the L1 penalty takes a little off every column: most from the faintest)
    # (not the edge column's: the reflected image completes it)
    vol = 2 * np.pi * s**2 * amps[:6]
    inner = [0, 1, 2, 4]
    np.testing.assert_allclose(res["score"][j[inner]], vol[inner], rtol=0.1)
    assert res["score"][j[5]] == pytest.approx(vol[5], rel=0.2)
    # an explicit threshold between the 30 and 100 columns
    cut = 2 * np.pi * s**2 * 60
    res = sp.find_atoms_sparse(img, separation=7, sigma=s, threshold=cut)
    j, _ = _match(x[:4], y[:4], res["x"], res["y"], 0.3)
    assert np.all(j >= 0) and len(res["x"]) == 4
    # scale-free: the same atoms at a gain of 2**-20, scores scaled
    low = sp.find_atoms_sparse(np.ldexp(img, -20), separation=7, sigma=s)
    ref = sp.find_atoms_sparse(img, separation=7, sigma=s)
    np.testing.assert_allclose(low["x"], ref["x"], atol=1e-3)
    np.testing.assert_allclose(np.ldexp(low["score"], 20), ref["score"], rtol=1e-3)


# --------------------------------------------------------------------------
# filters in strips: the same result as on the whole image
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tall():
    """520 rows: two strips of 260 rows on two threads (one below 512)."""
    rng = np.random.default_rng(20)
    shape = (520, 44)
    xs, ys = _lattice(shape, 11, 9, 3.2, 2.7)
    xs = xs + rng.uniform(-0.3, 0.3, len(xs))
    ys = ys + rng.uniform(-0.3, 0.3, len(ys))
    img = gaussians(shape, xs, ys, rng.uniform(20, 40, len(xs)), 1.6, 5.0)
    return img + rng.normal(size=shape)


def _strips_vs_whole(fn):
    with limit_threads(1):
        whole = fn()
    with limit_threads(2):
        strips = fn()
    return whole, strips


@pytest.mark.parametrize(
    "name",
    [
        "smooth",
        "noise_std",
        "maxima",
        "significant_maxima",
        "log",
        "local_max",
        "significance_map",
        "sparse_background",
        "sparse_outliers",
        "sparse_clusters",
    ],
)
def test_filters_in_strips_equal_the_whole_image(tall, name):
    img = tall
    fns = {
        "smooth": lambda: im._smooth(img, 3.0),
        "noise_std": lambda: fd._noise_std(img),
        "maxima": lambda: fd._maxima(img, 9.0),
        "significant_maxima": lambda: se._significant_maxima(img, 1.6),
        "log": lambda: fd.find_atoms_log(img, 9.0, threshold=1.0),
        "local_max": lambda: im.local_maxima(img, 3),
        "significance_map": lambda: dt.significance_map(
            img, 1.6, {"a": 1.0, "b": 0.0, "floor": 1.0}
        ),
        "sparse_background": lambda: sp._background(img, 1.4, 9.0),
        "sparse_outliers": lambda: sp._remove_outliers(
            np.where(np.arange(img.size).reshape(img.shape) % 997 == 0, 99.0, img),
            0.5,
        ),
        "sparse_clusters": lambda: sp._clusters(
            np.where(img > 30, img - 30, 0).astype(np.float32), 1.6, 9.0
        ),
    }
    whole, strips = _strips_vs_whole(fns[name])
    whole = whole if isinstance(whole, tuple) else (whole,)
    strips = strips if isinstance(strips, tuple) else (strips,)
    if isinstance(whole[0], dict):
        whole = tuple(whole[0].values())
        strips = tuple(strips[0].values())
    for a, b in zip(whole, strips):
        # the same up to the rounding of running sums (a missing halo row
        # changes values by the kernel's tail, > 1e-6 of the signal)
        scale = float(np.max(np.abs(a))) if np.size(a) else 1.0
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * scale)
    assert np.size(whole[0]) > 0


def test_auto_target_size_at_small_separations():
    # 2 round(0.4 separation) + 1 pixels, at least 5
    shape = (60, 64)
    xs, ys = _lattice(shape, 5, 6, 2.0, 3.0)
    img = gaussians(shape, xs, ys, np.ones(len(xs)), 1.0)
    for sep, n in [(4.6, 5), (6.5, 7), (3.0, 5)]:
        assert fd.auto_target(img, sep).shape == (n, n)


def test_neighbour_vectors_ten_neighbours_collinear_pairs(rect):
    """k = 10 reaches (+-2a, 0): a fourth distance shell for the distance
    metric, and the same direction as (+-a, 0) for the angle metric (there
    ordered by distance within the angle tolerance)."""
    x, y, ii, jj = rect
    pts = np.column_stack([x, y])
    grid = _grid_index(ii, jj)
    by_distance = OFFSETS_DISTANCE + [(2, 0), (-2, 0)]
    by_angle = [(1, 0), (2, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-2, 0)]
    by_angle += [(-1, -1), (0, -1), (1, -1)]
    for metric, offsets in (("distance", by_distance), ("angle", by_angle)):
        nb = nbh.neighbour_vectors(x, y, n_neighbours=10, metric=metric)
        np.testing.assert_array_equal(nb.centres, _brute_centres(pts, 10))
        assert len(nb.centres) == 12
        for row, c in enumerate(nb.centres):
            exp = [grid[(ii[c] + di, jj[c] + dj)] for di, dj in offsets]
            np.testing.assert_array_equal(nb.indices[row], exp)


def test_estimate_noise_pure_shot_noise_goes_through_the_origin():
    rng = np.random.default_rng(21)
    yy, xx = np.mgrid[0:100, 0:120].astype(float)
    mean = 10.0 + 2.0 * xx + 0.5 * yy  # 10 to 299
    # variance growing faster than linearly: a straight line through the
    # binned variances crosses zero at a positive level
    img = mean + rng.normal(size=mean.shape) * 0.1 * mean
    noise = nz.estimate_noise(img)
    lv, vv = noise["levels"], noise["variances"]
    assert np.polyfit(lv, vv, 1, w=1 / vv)[1] < 0
    w = 1 / vv
    assert noise["a"] == 0.0
    assert noise["b"] == pytest.approx(np.sum(w**2 * lv * vv) / np.sum(w**2 * lv * lv))
    assert noise["floor"] == pytest.approx(0.25 * vv.min())
    sd = np.sqrt(np.median(np.maximum(noise["b"] * lv, noise["floor"])))
    assert noise["sd"] == pytest.approx(sd)
    # offset to negative levels: the fitted line is kept as it is
    noise = nz.estimate_noise(img - 400.0)
    b_, a_ = np.polyfit(
        noise["levels"], noise["variances"], 1, w=1 / noise["variances"]
    )
    assert noise["a"] == pytest.approx(a_) and noise["b"] == pytest.approx(b_)
    assert noise["a"] > 0 and noise["b"] > 0


def test_estimate_separation_sub_pixel_distances():
    # off-integer periods: the autocorrelation ring's sub-pixel peak
    shape = (150, 166)
    for a, b in [(13.4, 17.7), (12.6, 16.2), (14.3, 19.1)]:
        xs, ys = _lattice(shape, a, b, 4.3, 6.1)
        img = gaussians(shape, xs, ys, np.ones(len(xs)), 2.2, background=0.5)
        assert se.estimate_separation(img) == pytest.approx(a, rel=0.01)
    # a few columns only (the first ring maximum)
    for a in (15.4, 14.6):
        xs, ys = np.meshgrid([16.0, 16 + a, 16 + 2 * a], [18.0, 37.0])
        img = gaussians((56, 62), xs.ravel(), ys.ravel(), np.ones(6), 2.0)
        assert se.estimate_separation(img) == pytest.approx(a, rel=0.025)


def test_distance_tolerance_separates_or_merges_shells(rect):
    """The +-a (10 +- 0.3 px) and +-b (13 +- 0.3 px) shells leave an empty
    stretch of about 0.2 nearest-neighbour distances: a tolerance of 0.3
    (gaps of 0.15) separates them, 0.5 (gaps of 0.25) does not, and one
    shell is ordered by angle alone."""
    x, y, ii, jj = rect
    grid = _grid_index(ii, jj)
    for tol, offsets in (
        (0.3, [(1, 0), (-1, 0), (0, 1), (0, -1)]),
        (0.5, [(1, 0), (0, 1), (-1, 0), (0, -1)]),
    ):
        nb = nbh.neighbour_vectors(x, y, n_neighbours=4, distance_tolerance=tol)
        for row, c in enumerate(nb.centres):
            exp = [grid[(ii[c] + di, jj[c] + dj)] for di, dj in offsets]
            np.testing.assert_array_equal(nb.indices[row], exp)


@pytest.fixture(scope="module")
def poisson_lattice():
    rng = np.random.default_rng(22)
    shape = (96, 110)
    xs, ys = _lattice(shape, 15, 12, 5.3, 4.6, margin=3)
    xs = xs + rng.uniform(-0.3, 0.3, len(xs))
    ys = ys + rng.uniform(-0.3, 0.3, len(ys))
    amps = np.where(np.arange(len(xs)) % 4 == 0, 40.0, 120.0)
    lam = gaussians(shape, xs, ys, amps, 1.8, background=20.0)
    img = rng.poisson(lam).astype(float)
    return img, xs, ys, rng.poisson(20.0, shape).astype(float)


@pytest.mark.parametrize("method", ["log", "local_max", "template", "sparse"])
def test_every_finder_finds_exactly_the_columns_of_a_noisy_image(
    poisson_lattice, method
):
    img, xs, ys, _ = poisson_lattice
    res = fd.find_atoms(img, 12.0, method=method)
    j, d = _match(xs, ys, res["x"], res["y"], 1.0)
    assert np.all(j >= 0) and len(res["x"]) == len(xs)
    # the sub-pixel finders land well inside the pixel
    if method != "local_max":
        assert np.median(d) < 0.3


def test_noise_alone_gives_standard_normal_significance(poisson_lattice):
    img, xs, ys, noise = poisson_lattice
    # the LoG's noise floor: no atom in pure noise
    assert len(fd.find_atoms_log(noise, 12.0)["x"]) == 0
    z = dt.significance_map(noise, 1.8)
    assert abs(z.mean()) < 0.1 and 0.8 < z.std() < 1.2
    yy, xx = np.mgrid[6:90:9, 6:104:9]
    px, py = xx.ravel() + 0.3, yy.ravel() - 0.2
    for nbrs in (True, False):
        s = dt.significance(noise, px, py, 1.8, neighbours=nbrs)
        assert abs(s.mean()) < 0.25 and 0.75 < s.std() < 1.25
    # the columns (40 and 120 counts over 20): far above 5 sigma
    s = dt.significance(img, xs, ys, 1.8)
    assert s.min() > 8
    assert dt.significance(img, xs, ys, 1.8, contrast="dark").max() < -8


def test_neighbourhood_defaults_shell_gap_and_shell_counts():
    # 10 x 11.2 cell, no jitter: shells at 1 and 1.12 nearest-neighbour
    # distances, an empty stretch of 0.12 (> 0.05, half the default 0.1)
    jj, ii = np.mgrid[0:8, 0:9]
    ii, jj = ii.ravel(), jj.ravel()
    x, y = 10.0 * ii, 11.2 * jj
    grid = _grid_index(ii, jj)
    nb = nbh.neighbour_vectors(x, y, n_neighbours=4)
    assert len(nb.centres) > 0
    for row, c in enumerate(nb.centres):
        exp = [grid[(ii[c] + di, jj[c] + dj)] for di, dj in OFFSETS_DISTANCE[:4]]
        np.testing.assert_array_equal(nb.indices[row], exp)
    # six neighbours by default
    assert nbh.neighbour_vectors(x, y).vectors.shape[1:] == (6, 2)
    # honeycomb: three nearest neighbours close the first shell
    hx, hy = [], []
    for j in range(10):
        for i in range(10):
            ox, oy = i * np.sqrt(3) + (j % 2) * np.sqrt(3) / 2, 1.5 * j
            hx += [ox, ox]
            hy += [oy, oy + 1.0]
    assert nbh.shell_count(np.array(hx), np.array(hy)) == (3, True)
    # random points grow smoothly: no shell closes
    rng = np.random.default_rng(24)
    p = rng.uniform(0, 100, (400, 2))
    assert nbh.shell_count(p[:, 0], p[:, 1])[1] is False


def test_noise_std_of_white_noise_over_smooth_structure():
    rng = np.random.default_rng(25)
    yy, xx = np.mgrid[0:128, 0:140].astype(float)
    smooth = (
        50
        + 0.3 * xx
        - 0.2 * yy
        + gaussians((128, 140), [40, 100], [30, 90], [20.0, 30.0], 6.0)
    )
    for sd in (0.5, 2.5):
        img = smooth + sd * rng.normal(size=smooth.shape)
        assert fd._noise_std(img) == pytest.approx(sd, rel=0.05)


@pytest.mark.parametrize("shape", [(3, 3), (4, 9), (57, 100), (600, 37)])
def test_noise_std_is_the_median_of_the_inside_pixels_response(shape):
    """Immerkaer's estimate exactly: 1.4826 / 6 times the median absolute
    response of the 3 x 3 kernel over the pixels off the border (the border's
    reflected responses left out), strips or not."""
    rng = np.random.default_rng(26)
    img = rng.gamma(2.0, 3.0, size=shape) + np.arange(shape[1])
    k = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
    inside = np.abs(ndi.convolve(img, k, mode="reflect"))[1:-1, 1:-1]
    assert fd._noise_std(img) == 1.4826 * np.median(inside) / 6.0


def test_radius_includes_neighbours_exactly_at_the_radius():
    jj, ii = np.mgrid[0:7, 0:6]
    x, y = 10.0 * ii.ravel(), 10.0 * jj.ravel()
    nb = nbh.neighbour_vectors(
        x, y, n_neighbours=None, radius=10.0, exclude_border=False
    )
    inner = (x > 0) & (x < 50) & (y > 0) & (y < 60)
    on_edge = ((x == 0) | (x == 50)) ^ ((y == 0) | (y == 60))
    exp = np.where(inner, 4, np.where(on_edge, 3, 2))
    np.testing.assert_array_equal(nb.counts, exp)
    assert nb.vectors.shape == (42, 4, 2)
    np.testing.assert_array_equal(
        np.sort(np.hypot(*nb.vectors[inner].reshape(-1, 2).T)), np.full(4 * 20, 10.0)
    )


def test_angle_metric_frame_is_shared_by_all_atoms_near_the_sector_edge(rect):
    """Rotated by 90 degrees, the per-atom 2-fold directions of the +-a shell
    scatter either side of +-90 degrees (the jitter): the image-wide mean
    picks the same one of the two for every atom, so that every
    neighbourhood's first vector is the same lattice vector."""
    x0, y0, ii, jj = rect
    grid = _grid_index(ii, jj)
    x, y = -y0 + 200.0, x0 + 5.0  # +a now points along +y
    nb = nbh.neighbour_vectors(x, y, n_neighbours=8, metric="angle")
    rot = np.mod(nb.rotation, 2 * np.pi)
    # one frame for all: rotations within the jitter of each other
    assert np.ptp(np.angle(np.exp(1j * (rot - rot[0])))) < 0.1
    first = nb.vectors[:, 0]
    np.testing.assert_allclose(first, np.broadcast_to([A, 0.0], first.shape), atol=0.6)
    lead = [grid[(ii[c] + 1, jj[c])] for c in nb.centres]
    back = [grid[(ii[c] - 1, jj[c])] for c in nb.centres]
    assert np.all(nb.indices[:, 0] == lead) or np.all(nb.indices[:, 0] == back)


def test_sparse_finder_finds_nothing_in_white_noise():
    # the automatic floor: 5 standard deviations of a column's integrated
    # intensity due to the noise
    rng = np.random.default_rng(26)
    img = 100 + rng.normal(size=(96, 110))
    assert len(sp.find_atoms_sparse(img, 12.0, sigma=1.8)["x"]) == 0


def test_small_cases_single_point_single_bond_exact_jump():
    # one atom from one finder: a group of its own with one vote
    out = fd.consensus([{"x": np.array([3.0]), "y": np.array([4.0])}], 6.0)
    assert out["x"].tolist() == [3.0] and out["y"].tolist() == [4.0]
    assert out["votes"].tolist() == [1]
    out = fd.consensus([{"x": np.zeros(0), "y": np.zeros(0)}], 6.0)
    assert len(out["x"]) == len(out["y"]) == len(out["votes"]) == 0
    # one bond: its angle to itself all the way round, 360 degrees
    inv = nbh.neighbour_invariants(np.array([[[0.0, -2.0], [np.nan, np.nan]]]))
    assert inv["bond_angles"][0, 0] == 360.0 and np.isnan(inv["bond_angles"][0, 1])
    np.testing.assert_allclose(inv["polar"][0], [0.0, 2.0])
    # a jump of exactly `jump` closes the shell (D3 / D2 = 13 / 10)
    jj, ii = np.mgrid[0:12, 0:12]
    x, y = A * ii.ravel(), B * jj.ravel()
    assert nbh.shell_count(x, y, minimum=1, jump=1.3) == (2, True)
    assert nbh.shell_count(x, y, minimum=1, jump=np.nextafter(1.3, 2)) != (2, True)
    # a step of exactly 1.1 times the ratio before it is a step
    # (10 x 11 cell: D3 / D2 = 1.1, D2 / D1 = 1)
    x, y = 10.0 * ii.ravel(), 11.0 * jj.ravel()
    assert nbh.shell_count(x, y, minimum=1, jump=1.1) == (2, True)


def test_shell_gap_of_exactly_the_required_width_and_streak_excess():
    # 10 x 11 cell, no jitter: the smoothed distance histogram leaves an
    # empty run of exactly 5 bins of 0.01 (0.05 = half the default 0.1)
    jj, ii = np.mgrid[0:8, 0:9]
    ii, jj = ii.ravel(), jj.ravel()
    grid = _grid_index(ii, jj)
    nb = nbh.neighbour_vectors(10.0 * ii, 11.0 * jj, n_neighbours=4)
    assert len(nb.centres) > 0
    for row, c in enumerate(nb.centres):
        exp = [grid[(ii[c] + di, jj[c] + dj)] for di, dj in OFFSETS_DISTANCE[:4]]
        np.testing.assert_array_equal(nb.indices[row], exp)
    # noise correlated along the scan lines raises the variance at the
    # scale of a few pixels: an excess above 1 (white noise: 1)
    rng = np.random.default_rng(28)
    e = rng.normal(size=(100, 124))
    streaks = 50 + 2 * sum(e[:, k : 120 + k] for k in range(5)) / np.sqrt(5)
    assert nz.estimate_noise(streaks)["excess"] > 2.0
    assert nz.estimate_noise(50 + 2 * e)["excess"] == pytest.approx(1.0, abs=0.1)
