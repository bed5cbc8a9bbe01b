"""The compiled kernels against the straightforward computations they replace.

Each fast kernel (see ``numerics/_imaging.py`` and the refinement kernels) is
checked against the slow, obvious version on inputs that exercise its edge
cases: even template sizes, plateaus, image borders, recurrences that could
overflow, work space reused from atom to atom.
"""

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.feature import match_template, peak_local_max
from skimage.filters import threshold_otsu

from hyperspy_localcryst.data.synthetic import make_lattice_image
from hyperspy_localcryst.numerics import _fit_kernels, _imaging, finding, refinement


@pytest.mark.parametrize("tshape", [(7, 7), (8, 5), (6, 10), (21, 13)])
def test_ncc_equals_scikit_image_match_template(tshape):
    rng = np.random.default_rng(1)
    img = rng.poisson(20, (60, 70)).astype(float) + 1000.0
    tgt = rng.random(tshape)
    ours = finding.normalised_cross_correlation(img, tgt)
    ref = match_template(img, tgt, pad_input=True, mode="reflect")
    assert ours.shape == img.shape
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_ncc_several_targets_share_the_image_transform():
    rng = np.random.default_rng(2)
    img = rng.random((50, 40))
    targets = [rng.random((5, 5)), rng.random((7, 7)), rng.random((5, 5))]
    maps = finding._ncc_maps(img, targets)
    for t, m in zip(targets, maps):
        np.testing.assert_allclose(
            m, match_template(img, t, pad_input=True, mode="reflect"), atol=1e-5
        )


def test_ncc_constant_region_is_zero_not_noise():
    img = np.zeros((40, 40))
    img[25:, 25:] = np.random.default_rng(0).random((15, 15))
    ncc = finding.normalised_cross_correlation(img, np.eye(5))
    assert np.all(ncc[:15, :15] == 0.0)  # flat: no defined correlation
    assert np.abs(ncc).max() <= 1.0


@pytest.mark.parametrize("levels", [0, 20, 5])
def test_local_maxima_equal_peak_local_max(levels):
    rng = np.random.default_rng(levels)
    img = ndi.gaussian_filter(rng.random((200, 230)), 3)
    if levels:  # coarse levels make plateaus of equal maxima
        img = np.round(img * levels) / levels
    rows, cols = _imaging.local_maxima(img, 5)
    ref = peak_local_max(img, min_distance=5, exclude_border=False)
    np.testing.assert_array_equal(np.column_stack([rows, cols]), ref)


@pytest.mark.parametrize("md", [1, 2, 4])
def test_local_maxima_on_flat_counts_equal_peak_local_max(md):
    """Low-dose counts: most pixels 0 or 1, plateaus everywhere (the greedy
    suppression in rank order, a pair list of millions before)."""
    img = np.random.default_rng(md).poisson(0.3, (90, 110)).astype(float)
    img[:40, :50] = 0.0  # a flat vacuum
    rows, cols = _imaging.local_maxima(img, md)
    ref = peak_local_max(
        img, min_distance=md, threshold_abs=img.min(), exclude_border=False
    )
    got = np.column_stack([rows, cols])
    # the same maxima; the order among equal values is raster order in both
    np.testing.assert_array_equal(got, ref)


def test_local_maxima_threshold():
    img = ndi.gaussian_filter(np.random.default_rng(3).random((100, 100)), 2)
    thr = np.median(img)
    rows, cols = _imaging.local_maxima(img, 3, threshold=thr)
    ref = peak_local_max(img, min_distance=3, threshold_abs=thr, exclude_border=False)
    np.testing.assert_array_equal(np.column_stack([rows, cols]), ref)
    assert np.all(img[rows, cols] > thr)


@pytest.mark.parametrize("th, tw", [(1, 1), (5, 3), (17, 17)])
def test_window_variance_brute_force(th, tw):
    a = np.random.default_rng(4).normal(100.0, 10.0, (150, 90))
    var = _imaging.window_variance(a, th, tw)
    win = np.lib.stride_tricks.sliding_window_view(a, (th, tw))
    ref = ((win - win.mean(axis=(2, 3), keepdims=True)) ** 2).sum(axis=(2, 3))
    if th * tw == 1:
        ref[:] = 0.0  # a single pixel has no contrast
    np.testing.assert_allclose(var, ref, rtol=1e-9, atol=1e-6)


def test_histogram_and_otsu_equal_numpy_and_scikit_image():
    v = np.random.default_rng(5).normal(size=100_001)
    counts = _imaging.histogram(v, v.min(), v.max(), 256)
    ref, _ = np.histogram(v, 256, (v.min(), v.max()))
    # values exactly on a bin edge may be counted on either side
    assert counts.sum() == len(v)
    assert np.abs(counts - ref).max() <= 1
    assert finding._auto_threshold(v) == pytest.approx(threshold_otsu(v), abs=1e-12)


def test_label_stats_equal_ndimage():
    rng = np.random.default_rng(6)
    score = ndi.gaussian_filter(rng.random((120, 100)), 2)
    labels, n = ndi.label(score > np.median(score))
    w = score - np.median(score)
    area, sw, swx, swy, vmax = _imaging.label_stats(labels, w, score, n)
    idx = np.arange(1, n + 1)
    ones = np.ones_like(w)
    np.testing.assert_array_equal(area[1:], ndi.sum_labels(ones, labels, idx))
    com = np.array(ndi.center_of_mass(np.where(labels > 0, w, 0), labels, idx))
    np.testing.assert_allclose(swy[1:] / sw[1:], com[:, 0])
    np.testing.assert_allclose(swx[1:] / sw[1:], com[:, 1])
    np.testing.assert_array_equal(vmax[1:], ndi.maximum(score, labels, idx))


def test_ring_max_equals_maximum_at():
    r = 30
    a = np.random.default_rng(7).random((2 * r + 1, 2 * r + 1))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    ri = np.round(np.hypot(xx, yy)).astype(int)
    ref = np.full(r + 1, -np.inf)
    np.maximum.at(ref, ri[ri <= r], a[ri <= r])
    np.testing.assert_array_equal(_imaging.ring_max(a, r), ref)


@pytest.mark.parametrize("rows", [300, 1000])
def test_filters_in_strips_equal_whole_image(rows):
    img = np.random.default_rng(8).random((rows, 120))
    for filt, halo in [
        (lambda a: ndi.gaussian_filter(a, 2.5), 11),
        (lambda a: ndi.maximum_filter(a, size=17, mode="nearest"), 8),
    ]:
        np.testing.assert_array_equal(
            _imaging.in_strips(filt, img, halo, min_rows=64), filt(img)
        )


def test_filters_in_many_strips_equal_whole_image_with_bounded_strips(monkeypatch):
    """A large image is cut into more strips than cores (at most STRIP_ROWS
    rows each, here 70 of 1000 rows: 15 strips), each filtered with its halo
    and written into the result: still exactly the whole-image filter, and
    no call of the filter sees more than a strip and its halos."""
    monkeypatch.setattr(_imaging, "STRIP_ROWS", 70)
    img = np.random.default_rng(10).random((1000, 90)).astype(np.float32)
    seen = []

    def gauss(a):
        seen.append(a.shape[0])
        return ndi.gaussian_filter(a, 2.5)

    out = _imaging.in_strips(gauss, img, 11, min_rows=64)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, ndi.gaussian_filter(img, 2.5))
    assert len(seen) == 15 and max(seen) <= 67 + 2 * 11
    maxf = _imaging.in_strips(
        lambda a: ndi.maximum_filter(a, size=17, mode="nearest"), img, 8, min_rows=64
    )
    np.testing.assert_array_equal(
        maxf, ndi.maximum_filter(img, size=17, mode="nearest")
    )


def test_wide_smooth_is_close_to_gaussian():
    yy, xx = np.mgrid[:512, :512]
    img = 0.01 * (xx - 200.0) ** 2 / 50 + 3 * np.sin(yy / 90)
    img = img + np.random.default_rng(9).normal(0, 5, img.shape)
    smooth = _imaging._smooth(img, 32)  # binned by 4 and interpolated back
    ref = ndi.gaussian_filter(img, 32)
    inner = (slice(96, -96), slice(96, -96))
    assert np.abs(smooth - ref)[inner].max() < 0.05 * np.ptp(ref[inner])


@pytest.mark.parametrize(
    "start, count, t0, k",
    [(-10, 21, 0.3, 0.5 / 3.5**2), (100, 29, 113.7, 0.5), (0, 15, -4.0, 0.02)],
)
def test_gauss_factor_recurrence(start, count, t0, k):
    out = np.empty(count)
    _fit_kernels._gauss_factors(start, count, t0, k, out)
    t = start + np.arange(count) - t0
    np.testing.assert_allclose(out, np.exp(-k * t * t), rtol=1e-12, atol=1e-300)


def test_gauss_factor_overflow_falls_back_to_direct():
    out = np.empty(41)
    # a narrow peak far from the window: the recurrence factors would overflow
    _fit_kernels._gauss_factors(0, 41, -30.0, 20.0, out)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out, np.exp(-20.0 * (np.arange(41) + 30.0) ** 2))


def test_refinement_independent_of_atom_order():
    """Per-thread work space is reused from atom to atom: nothing may leak."""
    img, truth = make_lattice_image((160, 160), spacing=20, sigma=3.5, seed=3)
    x, y = truth["x"] + 0.3, truth["y"] - 0.2
    fit = refinement.refine_gaussians(img, x, y, 10)
    perm = np.random.default_rng(0).permutation(len(x))
    fit_p = refinement.refine_gaussians(img, x[perm], y[perm], 10)
    for col in ("x", "y", "amplitude", "sigma_x", "x_err"):
        np.testing.assert_allclose(fit_p[col], fit[col][perm], rtol=1e-9)


@pytest.mark.parametrize(
    "shape, sigma",
    [((600, 500), 40), ((300, 701), 17), ((100, 100), 5), ((130, 90), 90)],
)
def test_smooth_at_points_equals_the_smoothed_image_there(shape, sigma):
    """The LoG finder's background level at its maxima only: the wide
    (binned) blur interpolated at the points equals the whole smoothed image
    at them, edges included, and the narrow one is the same array."""
    rng = np.random.default_rng(11)
    img = rng.normal(size=shape).cumsum(axis=0) + 5 * np.arange(shape[1])
    rows = np.r_[0, shape[0] - 1, rng.integers(0, shape[0], 300)]
    cols = np.r_[shape[1] - 1, 0, rng.integers(0, shape[1], 300)]
    whole = _imaging._smooth(img, sigma)
    np.testing.assert_allclose(
        _imaging._smooth_at(img, sigma, rows, cols),
        whole[rows, cols],
        rtol=1e-12,
        atol=1e-12 * np.abs(whole).max(),
    )


@pytest.mark.parametrize(
    "shape, sigma",
    [((50, 70), 2.0), ((5, 6), 3.0), ((3, 3), 5.0), ((200, 90), 0.5), ((60, 41), 2.4)],
)
def test_gaussian_at_equals_the_whole_image_filter_there(shape, sigma):
    """The smoothed ``peak`` of each atom without the whole-image filter:
    scipy's Gaussian (reflect at the edges, folded more than once when the
    kernel is wider than the image) at every corner and random pixels."""
    rng = np.random.default_rng(12)
    img = 1000 + 100 * rng.normal(size=shape) + np.arange(shape[1]) ** 2
    rows = np.r_[0, 0, shape[0] - 1, shape[0] - 1, rng.integers(0, shape[0], 200)]
    cols = np.r_[0, shape[1] - 1, 0, shape[1] - 1, rng.integers(0, shape[1], 200)]
    want = ndi.gaussian_filter(img, sigma)[rows, cols]
    got = _imaging.gaussian_at(img.astype(np.float32), rows, cols, sigma)
    np.testing.assert_allclose(
        got,
        ndi.gaussian_filter(img.astype(np.float32).astype(float), sigma)[rows, cols],
        rtol=1e-13,
    )
    np.testing.assert_allclose(
        _imaging.gaussian_at(img, rows, cols, sigma), want, rtol=1e-13
    )


@pytest.mark.parametrize("size", [3, 7, 21])
def test_window_min_at_equals_the_minimum_filter_there(size):
    """The prominence of a maximum without the whole minimum-filtered image:
    scipy's minimum filter (reflect and nearest edges) at corners, edges and
    random pixels of an image smaller than the window in one direction."""
    rng = np.random.default_rng(13)
    img = rng.normal(size=(15, 60)) + np.linspace(0, 3, 60)
    rows = np.r_[0, 0, 14, 14, 7, rng.integers(0, 15, 200)]
    cols = np.r_[0, 59, 0, 59, 0, rng.integers(0, 60, 200)]
    got = _imaging.window_min_at(img, rows, cols, size)
    for mode in ("reflect", "nearest"):
        want = ndi.minimum_filter(img, size=size, mode=mode)[rows, cols]
        np.testing.assert_array_equal(got, want)


def test_local_maxima_mask_per_strip_equals_one_pass(monkeypatch):
    """local_maxima's test for a maximum, made per strip as a mask, finds the
    maxima of the whole-image maximum filter (many strips, plateaus)."""
    monkeypatch.setattr(_imaging, "STRIP_ROWS", 64)
    rng = np.random.default_rng(14)
    img = np.round(ndi.gaussian_filter(rng.random((700, 80)), 2) * 40)  # plateaus
    got = _imaging.local_maxima(img, 3)
    pk = peak_local_max(img, min_distance=3, exclude_border=False)
    assert sorted(zip(*got)) == sorted(map(tuple, pk))


def test_kernels_are_compiled_once_for_find_and_refine():
    """The report's compile time is reported apart (``compile_s``): its
    warm-up must compile each kernel with the signature the real steps use.
    A default argument omitted in one call and given in another compiles a
    kernel twice (``_fit_pass``: 13 s of a first run counted as finding
    time), so no kernel of the package is ever called with one omitted; and
    the warm-up on a tiny image leaves nothing to compile for a larger one."""
    import importlib
    import pkgutil
    import warnings

    from numba.core.registry import CPUDispatcher

    import hyperspy_localcryst.numerics as numerics
    from hyperspy_localcryst import report
    from hyperspy_localcryst.data import synthetic_lattice

    s = synthetic_lattice(shape=(300, 260), spacing=14.0, sigma=2.8, seed=3)
    s.data = s.data.astype(np.float32)
    report._COMPILED.discard((np.dtype(np.float32).str, None))
    report._compile_time(s, None)
    modules = [
        importlib.import_module(f"{numerics.__name__}.{m.name}")
        for m in pkgutil.iter_modules(numerics.__path__)
    ]
    kernels = {
        obj.__name__: obj
        for mod in modules
        for obj in vars(mod).values()
        if isinstance(obj, CPUDispatcher)
    }
    before = {name: len(k.signatures) for name, k in kernels.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s.refine_atoms(s.find_atoms())
    assert [n for n, k in kernels.items() if len(k.signatures) != before[n]] == []
    omitted = [
        n
        for n, k in kernels.items()
        for sig in k.signatures
        if any("omitted" in str(t) for t in sig)
    ]
    assert omitted == []
