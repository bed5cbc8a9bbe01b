"""Documented rules of the clustering, class-count and point-pattern numerics
against independent truth.

Each test pins one rule of a docstring that the older tests left open (a
default, a minimum, a threshold on either side, a tie rule off the axes),
with the truth computed here: brute force, scipy / numpy, or a constructed
scene whose answer is known. Fast: small data, a few calls each.
"""

import numpy as np
import pytest
from scipy.cluster import hierarchy

from hyperspy_localcryst.numerics import class_count, clustering, point_patterns


# ---------------------------------------------------------------------------
# KMedians
# ---------------------------------------------------------------------------
def test_kmedians_documented_defaults_and_eight_clusters():
    # documented: n_clusters 8, n_init 4, max_iter 100, tol 1e-6, seed 0
    assert clustering.KMedians().get_params() == {
        "n_clusters": 8,
        "n_init": 4,
        "max_iter": 100,
        "tol": 1e-6,
        "random_state": 0,
    }
    # eight groups of five rows, far apart at irregular places: the default
    # estimator finds exactly the eight groups
    rng = np.random.default_rng(11)
    centres = rng.permutation(np.arange(8))[:, None] * [13.0, -7.0] + [
        [0, 3.0 * k * k] for k in range(8)
    ]
    truth = np.repeat(np.arange(8), 5)
    X = centres[truth] + rng.uniform(-0.4, 0.4, (40, 2))
    labels = clustering.KMedians().fit_predict(X)
    assert len(np.unique(labels)) == 8
    for k in range(8):
        assert len(np.unique(labels[truth == k])) == 1


def test_kmedians_keeps_the_best_of_n_init_and_tol_is_relative():
    rng = np.random.default_rng(5)
    X = np.concatenate(
        [
            rng.normal([0, 0], [1.0, 0.4], (50, 2)),
            rng.normal([2.5, 1.0], [0.5, 0.9], (40, 2)),
            rng.laplace([-1.5, 3.0], 0.6, (30, 2)),
        ]
    )
    # the first of the n_init runs uses the same k-means++ draw as a single
    # run: keeping the smallest inertia can only improve on it
    for seed in range(4):
        one = clustering.KMedians(n_clusters=5, n_init=1, random_state=seed).fit(X)
        best = clustering.KMedians(n_clusters=5, n_init=4, random_state=seed).fit(X)
        assert best.inertia_ <= one.inertia_
        d2 = ((X[:, None] - best.cluster_centers_[None]) ** 2).sum(-1)
        assert best.inertia_ == pytest.approx(d2.min(1).sum(), rel=1e-12)
    # tol is relative to the data's variance: data scaled by 1024 (exact in
    # floating point) and shifted give the same run, centres scaled
    for tol in (1e-3, 1e-2, 0.1):
        a = clustering.KMedians(n_clusters=4, n_init=2, tol=tol).fit(X)
        b = clustering.KMedians(n_clusters=4, n_init=2, tol=tol).fit(1024.0 * X + 64.0)
        np.testing.assert_array_equal(a.labels_, b.labels_)
        assert a.n_iter_ == b.n_iter_
        np.testing.assert_allclose(
            1024.0 * a.cluster_centers_ + 64.0, b.cluster_centers_, rtol=1e-12
        )
    # a tolerance far above any shift stops every run after one update
    assert clustering.KMedians(n_clusters=3, tol=1e9).fit(X).n_iter_ == 1


# ---------------------------------------------------------------------------
# hierarchical clustering
# ---------------------------------------------------------------------------
def test_linkage_sample_bounds_of_n_samples():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(6, 3))
    # documented: n_samples >= 2; two rows drawn by default_rng(seed)
    Z, index = clustering.linkage_sample(X, n_samples=2, seed=3)
    want = np.sort(np.random.default_rng(3).choice(6, size=2, replace=False))
    np.testing.assert_array_equal(index, want)
    assert Z.shape == (1, 4)
    assert Z[0, 2] == pytest.approx(np.linalg.norm(X[want[0]] - X[want[1]]))
    with pytest.raises(ValueError, match="n_samples"):
        clustering.linkage_sample(X, n_samples=1)
    # all rows when X has no more than n_samples rows, a subsample otherwise
    Z6, index6 = clustering.linkage_sample(X, n_samples=6, method="single")
    np.testing.assert_array_equal(index6, np.arange(6))
    np.testing.assert_allclose(Z6, hierarchy.linkage(X, method="single"))
    _, index5 = clustering.linkage_sample(X, n_samples=5, seed=0)
    want = np.sort(np.random.default_rng(0).choice(6, size=5, replace=False))
    np.testing.assert_array_equal(index5, want)


def test_cut_linkage_ranks_by_size_ties_in_fcluster_order():
    rng = np.random.default_rng(8)
    # groups of 3, 5, 3 and 1 rows at irregular places (two of the same size)
    X = np.concatenate(
        [
            rng.normal([0, 0], 0.1, (3, 2)),
            rng.normal([9, 2], 0.1, (5, 2)),
            rng.normal([3, 11], 0.1, (3, 2)),
            [[-8.0, 6.0]],
        ]
    )
    Z = hierarchy.linkage(X, method="average")
    for K in (1, 2, 3, 4, 6, 12):
        raw = hierarchy.fcluster(Z, K, criterion="maxclust")
        ids = np.unique(raw)
        sizes = np.array([(raw == i).sum() for i in ids])
        # rank: decreasing size, ties by fcluster's label
        ranked = ids[np.lexsort((ids, -sizes))]
        want = np.array([np.flatnonzero(ranked == r)[0] for r in raw])
        np.testing.assert_array_equal(clustering.cut_linkage(Z, K), want)


# ---------------------------------------------------------------------------
# vector histogram
# ---------------------------------------------------------------------------
def test_vector_histogram_default_bins_extent_and_nd_input():
    rng = np.random.default_rng(4)
    v = rng.normal([0.3, -0.2], [1.5, 0.7], (3, 7, 2))
    v[1, 2] = [50.0, np.inf]  # a row with an infinite component: ignored
    v[2, 5] = [np.nan, -40.0]
    counts, ext = point_patterns.vector_histogram(v)
    flat = v.reshape(-1, 2)
    ok = np.isfinite(flat).all(1)
    m = 1.05 * np.abs(flat[ok]).max()
    assert ext == pytest.approx((-m, m, -m, m), rel=1e-15)
    assert counts.shape == (101, 101)  # documented default: 101 bins
    e = np.linspace(-m, m, 102)
    want, _, _ = np.histogram2d(flat[ok, 0], flat[ok, 1], bins=[e, e])
    np.testing.assert_array_equal(counts, want.T)
    # no finite vector: +-1
    counts, ext = point_patterns.vector_histogram(
        [[np.nan, 3.0], [np.inf, 0.0]], bins=4
    )
    assert ext == (-1.0, 1.0, -1.0, 1.0) and counts.sum() == 0


# ---------------------------------------------------------------------------
# point patterns
# ---------------------------------------------------------------------------
def test_fft_periodicity_default_radius_is_three():
    rng = np.random.default_rng(6)
    p = rng.exponential(size=(13, 10))
    p[6, 8] = 90.0  # 3 px right of the centre (6, 5): excluded by default
    p[9, 7] = 40.0  # sqrt(13) = 3.6 px away: the peak by default
    yy, xx = np.mgrid[:13, :10]
    out = (yy - 6) ** 2 + (xx - 5) ** 2 > 9
    assert point_patterns.fft_periodicity(p) == pytest.approx(40.0 / np.median(p[out]))


def test_point_pattern_fft_ignores_nan_and_outside_points():
    shape = (9, 14)
    x = np.array([2.3, 13.0, np.nan, 5.5, 14.01, 7.2])
    y = np.array([1.6, 8.0, 3.0, np.nan, 2.0, -0.01])
    img = np.zeros(shape)
    for a, b in zip(x[:2], y[:2]):  # the only points inside the image
        i, j = int(np.floor(a)), int(np.floor(b))
        fx, fy = a - i, b - j
        for dj, di, w in (
            (0, 0, (1 - fx) * (1 - fy)),
            (0, 1, fx * (1 - fy)),
            (1, 0, (1 - fx) * fy),
            (1, 1, fx * fy),
        ):
            if w:
                img[j + dj, i + di] += w
    want = np.fft.fftshift(np.abs(np.fft.fft2(img)) ** 2)
    got = point_patterns.point_pattern_fft(x, y, shape, window=False)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# nearest-point maps
# ---------------------------------------------------------------------------
def _brute_nearest(x, y, values, shape, max_d=np.inf):
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    d2 = (x[None, :] - cols.ravel()[:, None]) ** 2 + (
        y[None, :] - rows.ravel()[:, None]
    ) ** 2
    i = np.argmin(d2, axis=1)  # the first (lowest index) of exact ties
    out = values[i].astype(float)
    out[d2.min(1) > max_d * max_d] = np.nan
    return out.reshape(shape)


def test_rasterise_nearest_many_exact_ties_off_the_axes():
    # the 12 integer points 5 px from pixel (11, 9) (x = 9, y = 11): (5, 0),
    # (3, 4), (4, 3) and their mirrors, none first on the x axis; every one
    # repeated 25 times (later indices), so the tiles there hold too many
    # candidates and the k-d tree, with more equidistant points than it
    # queries, decides: the lowest index wins
    offs = np.array(
        [[3, 4], [-4, 3], [0, -5], [4, -3], [-3, -4], [5, 0]]
        + [[-5, 0], [0, 5], [3, -4], [-4, -3], [4, 3], [-3, 4]],
        dtype=float,
    )
    pts = np.tile(offs + [9.0, 11.0], (25, 1))
    x, y = pts[:, 0], pts[:, 1]
    values = np.arange(len(x), dtype=float)
    shape = (23, 21)
    got = point_patterns.rasterise_nearest(x, y, values, shape)
    np.testing.assert_array_equal(got, _brute_nearest(x, y, values, shape))
    assert got[11, 9] == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_rasterise_nearest_random_scenes_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    ny, nx = int(rng.integers(5, 40)), int(rng.integers(5, 40))
    n = int(rng.integers(1, 60))
    # positions on a 1/4 px grid (exact ties), some outside the image
    x = np.round(rng.uniform(-6, nx + 6, n) * 4) / 4
    y = np.round(rng.uniform(-6, ny + 6, n) * 4) / 4
    values = rng.normal(size=n)
    for max_d in (None, 2.0, 4.5):
        got = point_patterns.rasterise_nearest(
            x, y, values, (ny, nx), max_distance=max_d
        )
        want = _brute_nearest(
            x, y, values, (ny, nx), np.inf if max_d is None else max_d
        )
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------
# count_classes
# ---------------------------------------------------------------------------
def _two(n0, n1, offset, sd, seed, d=2):
    rng = np.random.default_rng(seed)
    X = np.concatenate(
        [rng.normal(0, sd, (n0, d)), rng.normal(0, sd, (n1, d)) + offset]
    )
    return X, np.repeat([0, 1], [n0, n1])


def test_count_classes_min_size_per_side():
    # 150 and 25 rows, 10 sd apart: split with min_size 25, not with 26
    X, truth = _two(150, 25, [2.0, -3.0], 0.35, 1)
    r = class_count.count_classes(X, min_size=25)
    assert r.n_classes == 2
    np.testing.assert_array_equal(r.labels, truth)
    n_in = 175 - int(r.outliers.sum())  # isolated rows take no part
    assert min(r.splits[0]["sizes"]) == 25 and sum(r.splits[0]["sizes"]) == n_in
    r = class_count.count_classes(X, min_size=26)
    assert r.n_classes == 1 and np.all(r.labels == 0)
    assert "a side would hold 25 rows (< 26)" in r.splits[0]["reason"]


def test_count_classes_needs_two_min_sizes_of_rows():
    # 12 + 12 rows far apart: a split needs 2 * min_size rows
    X, truth = _two(12, 12, [4.0, 3.0], 0.2, 2)
    r = class_count.count_classes(X, min_size=12)
    assert r.n_classes == 2
    assert sorted(np.bincount(r.labels).tolist()) == [12, 12]
    assert len(np.unique(r.labels[truth == 0])) == 1
    r = class_count.count_classes(X, min_size=13)
    assert r.n_classes == 1 and r.splits == []
    assert r.reason == "1 class: too few rows to split."


def test_count_classes_max_dip_threshold_both_sides():
    # two equal Gaussian classes 0.85 / 0.3 = 2.8 sd apart (1D): bimodal, with
    # a true density dip of about 0.72 of the peaks (0.75 once smoothed by
    # the kernel), above the default max_dip of 0.7
    rng = np.random.default_rng(5)
    X = np.concatenate([rng.normal(0, 0.3, (300, 1)), rng.normal(0.85, 0.3, (300, 1))])
    r = class_count.count_classes(X)
    dip = r.splits[0]["dip"]
    assert 0.7 < dip < 0.8
    assert r.n_classes == 1
    assert "one mode" in r.splits[0]["reason"]
    assert "(needs <= 0.7)" in r.splits[0]["reason"]
    # the rule is dip <= max_dip, on either side of the observed dip
    r = class_count.count_classes(X, max_dip=dip * 0.99)
    assert r.n_classes == 1 and r.splits[0]["dip"] == dip
    assert "one mode" in r.splits[0]["reason"]
    r = class_count.count_classes(X, max_dip=dip * 1.01)
    assert r.n_classes == 2 and r.splits[0]["accepted"]
    assert np.mean(r.labels == np.repeat([0, 1], 300)) in (
        pytest.approx(0.92, abs=0.05),
        pytest.approx(0.08, abs=0.05),
    )


def test_count_classes_noise_along_the_split_direction():
    # classes 1.0 apart along x, or along y; noise 0.4 along x (3 x 0.4 >
    # 1.0) and 0.05 along y: the x split is within the noise, the y one not
    rng = np.random.default_rng(4)
    a = rng.normal(0, 0.08, (120, 2))
    b = rng.normal(0, 0.08, (90, 2))
    noise = np.column_stack([np.full(210, 0.4), np.full(210, 0.05)])
    Xx = np.concatenate([a, b + [1.0, 0.0]])
    r = class_count.count_classes(Xx, noise=noise)
    assert r.n_classes == 1
    # along u (nearly x): sqrt(0.4² u_x² + 0.05² u_y²), about 0.4
    assert r.splits[0]["noise"] == pytest.approx(0.4, rel=1e-3)
    assert "within 3 x the measurement noise" in r.splits[0]["reason"]
    Xy = np.concatenate([a, b + [0.0, 1.0]])
    r = class_count.count_classes(Xy, noise=noise)
    assert r.n_classes == 2
    s = r.splits[0]
    assert s["noise"] == pytest.approx(0.05, abs=0.02)
    # the accepted split names the separation in units of that noise
    ratio = f"{s['separation'] / s['noise']:.0f} x the measurement noise)"
    assert s["reason"].endswith(ratio)
    np.testing.assert_array_equal(r.labels, np.repeat([0, 1], [120, 90]))
    # 0.8 apart along the diagonal: the noise along u = (1, 1) / sqrt(2) is
    # sqrt((0.4² + 0.05²) / 2) = 0.285 and 3 x 0.285 > 0.8: refused
    Xd = np.concatenate([a, b + [0.8 / 2**0.5, 0.8 / 2**0.5]])
    r = class_count.count_classes(Xd, noise=noise)
    assert r.n_classes == 1
    # (the split direction is within a degree of the diagonal)
    want = ((0.16 + 0.0025) / 2) ** 0.5
    assert r.splits[0]["noise"] == pytest.approx(want, abs=0.015)


def test_count_classes_outliers_are_far_from_their_fifth_neighbour():
    rng = np.random.default_rng(9)
    X = rng.normal(0, 1.0, (120, 2))
    # rows at growing distances from the cloud
    X = np.vstack([X, [[4.0, 0.5], [0.0, 7.0], [-9.0, -2.0], [12.0, 12.0]]])
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    d5 = np.sort(D, axis=1)[:, 5]  # the 5th nearest other row
    for factor in (1.5, 2.5, 5.0):
        r = class_count.count_classes(X, outlier_factor=factor, max_classes=1)
        np.testing.assert_array_equal(r.outliers, d5 > factor * np.median(d5))
    # at most 6 finite rows: no outlier
    r = class_count.count_classes(X[[0, 1, 2, 3, 4, 123]], max_classes=1)
    assert not r.outliers.any()


def test_count_classes_stops_at_max_classes():
    # four well separated classes of different sizes
    rng = np.random.default_rng(12)
    centres = np.array([[0.0, 0.0], [6.0, 1.0], [1.0, 7.0], [8.0, 9.0]])
    sizes = [40, 32, 24, 16]
    X = np.concatenate([rng.normal(c, 0.3, (s, 2)) for c, s in zip(centres, sizes)])
    truth = np.repeat(np.arange(4), sizes)
    r = class_count.count_classes(X, max_classes=2)
    assert r.n_classes == 2
    assert r.reason.endswith("stopped at `max_classes`.")
    # each of the two classes is a union of true classes
    for c in range(2):
        assert len(np.unique(r.labels[np.isin(truth, truth[r.labels == c])])) == 1
    r = class_count.count_classes(X, max_classes=4)
    np.testing.assert_array_equal(r.labels, truth)


def test_count_classes_labels_are_the_nearest_centroid():
    # documented: a final k-means pass; every finite row (isolated ones too)
    # carries the class of its nearest centroid, each centroid is the mean
    # of its class's inliers
    rng = np.random.default_rng(21)
    X = np.concatenate(
        [
            rng.normal([0.0, 0.0, 0.0], [0.5, 0.3, 0.2], (70, 3)),
            rng.normal([2.5, 0.8, -0.4], [0.3, 0.5, 0.2], (45, 3)),
            [[9.0, -6.0, 4.0], [np.nan, 0.0, 0.0]],
        ]
    )
    r = class_count.count_classes(X)
    assert r.n_classes == 2
    ok = np.isfinite(X).all(1)
    d2 = ((X[ok][:, None] - r.centroids[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(r.labels[ok], np.argmin(d2, axis=1))
    assert r.labels[-1] == -1 and r.outliers[-2]
    inl = ok & ~r.outliers
    for k in range(2):
        np.testing.assert_allclose(
            r.centroids[k], X[inl & (r.labels == k)].mean(0), rtol=1e-12
        )


# ---------------------------------------------------------------------------
# count_classes' pieces: kernel density, two-mode fit, split directions
# ---------------------------------------------------------------------------
def test_kde_and_number_of_modes_closed_form():
    rng = np.random.default_rng(13)
    z = np.concatenate([rng.normal(-3, 0.3, 20), rng.normal(1, 0.2, 15), [6.0]])
    grid = np.linspace(-6, 9, 301)
    for h in (0.1, 0.7, 3.0):
        want = np.exp(-0.5 * ((grid[:, None] - z[None]) / h) ** 2).sum(1)
        np.testing.assert_allclose(class_count._kde(grid, z, h), want, rtol=1e-12)
    # three separated clumps: three modes with a narrow kernel, one when wide
    assert class_count._n_modes(z, 0.2, grid) == 3
    assert class_count._n_modes(z, 6.0, grid) == 1


def test_two_modes_of_separated_classes_are_their_ml_estimates():
    # two classes 10 apart (sds 0.5 and 0.8): EM converges to each class's
    # maximum-likelihood mean (about the column mean), sd (ddof 0; kept
    # above the documented floor of 0.3 of the column's sd) and weight
    rng = np.random.default_rng(14)
    a, b = rng.normal(2.0, 0.5, 70), rng.normal(12.0, 0.8, 30)
    p = np.concatenate([a, b])
    mu, sd, w, dip, labels = class_count._two_modes(p[:, None])
    i = int(np.argmin(mu[0]))  # the component of class a
    floor = 0.3 * p.std()
    np.testing.assert_allclose(mu[0, [i, 1 - i]], [a.mean(), b.mean()] - p.mean())
    np.testing.assert_allclose(
        sd[0, [i, 1 - i]], [max(a.std(), floor), max(b.std(), floor)], rtol=1e-6
    )
    np.testing.assert_allclose(w[0, [i, 1 - i]], [0.7, 0.3], rtol=1e-6)
    np.testing.assert_array_equal(labels[:, 0], np.repeat([i, 1 - i], [70, 30]))
    assert dip[0] < 0.01
    # a constant column: no dip (1), the defaults
    mu, sd, w, dip, _ = class_count._two_modes(np.full((9, 1), 4.0))
    assert dip[0] == 1.0 and w[0].tolist() == [0.5, 0.5]


def _lloyd_direction(X, first_axis):
    """Unit vector between the two means of Lloyd's 2-means started from
    the split across ``first_axis`` (written here from the description)."""
    Xc = X - X.mean(0)
    side = Xc @ first_axis > 0
    for _ in range(30):
        m0, m1 = Xc[~side].mean(0), Xc[side].mean(0)
        new = np.linalg.norm(Xc - m1, axis=1) < np.linalg.norm(Xc - m0, axis=1)
        if (new == side).all():
            break
        side = new
    d = Xc[side].mean(0) - Xc[~side].mean(0)
    return d / np.linalg.norm(d)


@pytest.mark.parametrize("sx", [1.2, 1.4])
def test_split_directions_principal_axes_and_two_means(sx):
    # classes 2.5 apart along y, a spread sx along x: the first principal
    # axis is mostly y (sx 1.2) or mostly x (sx 1.4, where 2-means started
    # across it stays on an x split)
    rng = np.random.default_rng(15)
    a = rng.normal([0.0, 0.0, 0.0], [sx, 0.2, 0.5], (80, 3))
    b = rng.normal([0.0, 2.5, 0.0], [sx, 0.2, 0.5], (60, 3))
    X = np.concatenate([a, b])
    dirs = class_count._split_directions(X)
    assert len(dirs) == 4
    Xc = X - X.mean(0)
    _, vec = np.linalg.eigh(Xc.T @ Xc)
    for k in range(3):  # the principal axes, by decreasing variance
        assert abs(dirs[k] @ vec[:, 2 - k]) == pytest.approx(1.0, abs=1e-9)
    u = _lloyd_direction(X, vec[:, 2])
    assert abs(dirs[3] @ u) == pytest.approx(1.0, abs=1e-9)
    if sx == 1.2:  # here 2-means finds the classes
        d = b.mean(0) - a.mean(0)
        assert abs(u @ d) / np.linalg.norm(d) == pytest.approx(1.0, abs=1e-9)
