"""Statistics numerics against known truth: k-medians, hierarchical clustering
of a subsample, vector histograms, point-pattern spectra, nearest-point maps
and the polarity of PCA modes of neighbourhood vectors."""

import ast
import inspect

import numpy as np
import pytest
from scipy.cluster import hierarchy
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score

from hyperspy_localcryst.numerics import class_count, clustering, frames, point_patterns
from hyperspy_localcryst.numerics.clustering import (
    KMedians,
    cut_linkage,
    linkage_sample,
    linkage_threshold,
)
from hyperspy_localcryst.numerics.modes import mode_polarity
from hyperspy_localcryst.numerics.point_patterns import (
    fft_periodicity,
    point_pattern_fft,
    rasterise_nearest,
    vector_histogram,
)


def blobs(sizes=(60, 40, 20), n_features=4, sd=0.5, seed=0):
    """Well-separated Gaussian blobs: (X, true labels, true centres)."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((len(sizes), n_features))
    for k in range(len(sizes)):
        centres[k, k % n_features] = 10.0 * (k + 1)
    truth = np.repeat(np.arange(len(sizes)), sizes)
    X = centres[truth] + rng.normal(0, sd, (truth.size, n_features))
    perm = rng.permutation(truth.size)
    return X[perm], truth[perm], centres


@pytest.mark.parametrize(
    "module",
    [class_count, clustering, point_patterns, frames],
    ids=lambda m: m.__name__,
)
def test_module_does_not_import_hyperspy(module):
    tree = ast.parse(inspect.getsource(module))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    assert not [n for n in names if n.split(".")[0] == "hyperspy"]


# ---------------------------------------------------------------------------
# KMedians
# ---------------------------------------------------------------------------
def test_kmedians_recovers_blobs_exactly():
    X, truth, centres = blobs()
    km = KMedians(n_clusters=3).fit(X)
    assert adjusted_rand_score(truth, km.labels_) == 1.0
    assert km.labels_.shape == (X.shape[0],)
    assert np.issubdtype(km.labels_.dtype, np.integer)
    assert km.cluster_centers_.shape == (3, 4)
    # each centre is the component-wise median of its members (converged)
    for k in range(3):
        assert np.array_equal(
            km.cluster_centers_[k], np.median(X[km.labels_ == k], axis=0)
        )
    # ... and close to the true centre
    matched = km.cluster_centers_[np.argsort(km.cluster_centers_.max(axis=1))]
    np.testing.assert_allclose(matched, centres, atol=0.3)
    inertia = ((X - km.cluster_centers_[km.labels_]) ** 2).sum()
    assert km.inertia_ == pytest.approx(inertia, rel=1e-12)
    assert km.n_iter_ >= 1


def test_kmedians_predict_and_fit_predict_agree_with_labels():
    X, _, _ = blobs(seed=1)
    km = KMedians(n_clusters=3, random_state=5).fit(X)
    assert np.array_equal(km.predict(X), km.labels_)
    assert np.array_equal(
        KMedians(n_clusters=3, random_state=5).fit_predict(X), km.labels_
    )
    # a new point goes to the nearest centre
    d = ((km.cluster_centers_ - [[29.0, 0.1, 0.0, 0.0]]) ** 2).sum(axis=1)
    assert km.predict([[29.0, 0.1, 0.0, 0.0]])[0] == np.argmin(d)


def test_kmedians_is_reproducible_with_random_state():
    X, _, _ = blobs(sd=3.0, seed=2)
    a = KMedians(n_clusters=3, random_state=3).fit(X)
    b = KMedians(n_clusters=3, random_state=3).fit(X)
    assert np.array_equal(a.labels_, b.labels_)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)


def test_kmedians_median_centres_are_robust_to_outliers():
    rng = np.random.default_rng(4)
    a = rng.normal(0, 1, (50, 2))
    b = rng.normal(0, 1, (50, 2)) + [100.0, 0.0]
    outliers = np.tile([-40.0, 0.0], (5, 1))  # nearer to blob a than to b
    X = np.concatenate([a, outliers, b])
    km = KMedians(n_clusters=2).fit(X)
    k = km.labels_[0]
    assert (km.labels_[:55] == k).all() and (km.labels_[55:] != k).all()
    members = X[km.labels_ == k]
    # the median barely moves, the mean is dragged by the outliers
    assert np.abs(km.cluster_centers_[k] - np.median(a, axis=0)).max() < 0.3
    assert np.abs(members.mean(axis=0)[0] - a.mean(axis=0)[0]) > 3.0


def test_kmedians_reseeds_empty_clusters():
    X, _, _ = blobs(sizes=(30, 30), n_features=2)
    vals, order = clustering._sorted_columns(X)
    # the third centre is far from every point: its cluster starts empty
    C0 = np.array([[10.0, 0.0], [0.0, 20.0], [1e3, 1e3]])
    C, inertia, _ = clustering._kmedians_run(X, vals, order, C0, 100, 0.0)
    assert np.abs(C).max() < 100  # re-seeded onto the data
    km = KMedians(n_clusters=3)
    km.cluster_centers_ = C
    labels = km.predict(X)
    assert np.bincount(labels, minlength=3).min() > 0
    assert inertia == pytest.approx(((X - C[labels]) ** 2).sum(), rel=1e-12)


def test_kmedians_params_repr_and_clone():
    km = KMedians(n_clusters=3, n_init=2, random_state=7)
    assert km.get_params() == {
        "n_clusters": 3,
        "n_init": 2,
        "max_iter": 100,
        "tol": 1e-6,
        "random_state": 7,
    }
    assert km.set_params(n_clusters=5) is km and km.n_clusters == 5
    assert repr(km).startswith("KMedians(n_clusters=5, n_init=2")
    twin = clone(km)
    assert twin is not km and twin.get_params() == km.get_params()
    with pytest.raises(ValueError, match="n_klusters"):
        km.set_params(n_klusters=2)


def test_kmedians_in_hyperspy_cluster_analysis():
    hs = pytest.importorskip("hyperspy.api")
    X, truth, _ = blobs(seed=3)
    s = hs.signals.Signal1D(X)
    s.cluster_analysis("signal", algorithm=KMedians(n_clusters=3), preprocessing=None)
    merged = s.get_cluster_labels(merged=True).data
    direct = KMedians(n_clusters=3).fit_predict(X)
    assert adjusted_rand_score(direct, merged) == 1.0
    assert adjusted_rand_score(truth, merged) == 1.0


@pytest.mark.parametrize(
    ("X", "kwargs", "name"),
    [
        ([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]], {"n_clusters": 2}, "X"),
        ([0.0, 1.0, 2.0], {"n_clusters": 2}, "X"),
        ([[0.0], [1.0]], {"n_clusters": 0}, "n_clusters"),
        ([[0.0], [1.0]], {"n_clusters": 3}, "n_clusters"),
        ([[0.0], [1.0]], {"n_clusters": 1, "n_init": 0}, "n_init"),
        ([[0.0], [1.0]], {"n_clusters": 1, "tol": -1.0}, "tol"),
    ],
)
def test_kmedians_bad_input(X, kwargs, name):
    with pytest.raises(ValueError, match=name):
        KMedians(**kwargs).fit(X)


def test_kmedians_predict_bad_input():
    with pytest.raises(ValueError, match="fit"):
        KMedians(n_clusters=2).predict([[0.0]])
    km = KMedians(n_clusters=2).fit([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
    with pytest.raises(ValueError, match="features"):
        km.predict([[0.0]])
    with pytest.raises(ValueError, match="X"):
        km.predict([[np.nan, 0.0]])


# ---------------------------------------------------------------------------
# hierarchical clustering
# ---------------------------------------------------------------------------
def test_linkage_cut_recovers_blobs_largest_first():
    X, truth, _ = blobs(sizes=(60, 40, 20))
    Z, index = linkage_sample(X)
    assert np.array_equal(index, np.arange(X.shape[0]))
    labels = cut_linkage(Z, 3)
    assert adjusted_rand_score(truth, labels) == 1.0
    assert np.bincount(labels).tolist() == [60, 40, 20]


def test_linkage_threshold_cuts_into_n_clusters():
    X, _, _ = blobs(sizes=(30, 20, 10, 15), sd=2.0, seed=5)
    Z, _ = linkage_sample(X, method="average")
    heights = np.sort(Z[:, 2])
    n = X.shape[0]
    for k in (1, 2, 3, 4, 7, n):
        t = linkage_threshold(Z, k)
        flat = hierarchy.fcluster(Z, t, criterion="distance")
        assert np.unique(flat).size == k
        if 1 < k < n:
            assert t == pytest.approx(0.5 * (heights[n - k - 1] + heights[n - k]))
    assert linkage_threshold(Z, n) == pytest.approx(0.5 * heights[0])


def test_linkage_sample_subsamples_large_data():
    X = np.random.default_rng(6).normal(size=(3000, 3))
    Z, index = linkage_sample(X, n_samples=300, method="complete", seed=1)
    assert Z.shape == (299, 4)
    assert index.size == 300 and np.all(np.diff(index) > 0)
    assert index.min() >= 0 and index.max() < 3000
    np.testing.assert_array_equal(Z, hierarchy.linkage(X[index], method="complete"))
    _, same = linkage_sample(X, n_samples=300, seed=1)
    _, other = linkage_sample(X, n_samples=300, seed=2)
    assert np.array_equal(index, same) and not np.array_equal(index, other)


def test_linkage_bad_input():
    X = np.zeros((10, 2))
    X[:, 0] = np.arange(10)
    with pytest.raises(ValueError, match="n_samples"):
        linkage_sample(X, n_samples=1)
    with pytest.raises(ValueError, match="method"):
        linkage_sample(X, method="wards")
    with pytest.raises(ValueError, match="X"):
        linkage_sample([[1.0, np.nan], [0.0, 0.0]])
    with pytest.raises(ValueError, match="X"):
        linkage_sample([[1.0, 2.0]])
    Z, _ = linkage_sample(X)
    for func in (cut_linkage, linkage_threshold):
        with pytest.raises(ValueError, match="n_clusters"):
            func(Z, 0)
        with pytest.raises(ValueError, match="n_clusters"):
            func(Z, 11)
        with pytest.raises(ValueError, match="Z"):
            func(np.zeros((3, 3)), 2)


# ---------------------------------------------------------------------------
# vector histogram
# ---------------------------------------------------------------------------
def test_vector_histogram_counts_finite_vectors_with_symmetric_extent():
    rng = np.random.default_rng(7)
    v = rng.normal(0, 3, (200, 6, 2))
    v[3, 2, 0] = np.nan
    v[10, :, 1] = np.nan
    v[11, 0] = np.inf
    counts, extent = vector_histogram(v, bins=(31, 21))
    finite = np.isfinite(v).all(axis=-1)
    assert counts.shape == (21, 31) and counts.dtype == np.float64
    assert counts.sum() == finite.sum() == 200 * 6 - 1 - 6 - 1
    m = np.abs(v[finite]).max()
    assert extent == pytest.approx((-1.05 * m, 1.05 * m, -1.05 * m, 1.05 * m))


def test_vector_histogram_known_vector_bin():
    counts, extent = vector_histogram(
        [[3.2, -1.0]], bins=(10, 5), extent=(-5, 5, -5, 5)
    )
    assert extent == (-5.0, 5.0, -5.0, 5.0)
    # dx = 3.2 -> column 8 of 10 one-pixel bins; dy = -1 -> row 2 of 5 bins
    assert counts[2, 8] == 1 and counts.sum() == 1


def test_vector_histogram_equals_numpy_histogram2d_including_edges():
    rng = np.random.default_rng(8)
    v = rng.uniform(-2.5, 2.5, (20000, 2))
    edges = np.linspace(-2, 2, 9)
    v[:500, 0] = rng.choice(edges, 500)  # values exactly on bin edges
    v[500:1000, 1] = rng.choice(edges, 500)
    counts, _ = vector_histogram(v, bins=(8, 8), extent=(-2, 2, -2, 2))
    ref, _, _ = np.histogram2d(v[:, 0], v[:, 1], bins=8, range=[[-2, 2], [-2, 2]])
    np.testing.assert_array_equal(counts, ref.T)


def test_vector_histogram_bad_input():
    with pytest.raises(ValueError, match="vectors"):
        vector_histogram(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="bins"):
        vector_histogram(np.zeros((4, 2)), bins=0)
    with pytest.raises(ValueError, match="bins"):
        vector_histogram(np.zeros((4, 2)), bins=(3, 4, 5))
    with pytest.raises(ValueError, match="extent"):
        vector_histogram(np.zeros((4, 2)), extent=(1, -1, 0, 1))
    with pytest.raises(ValueError, match="extent"):
        vector_histogram(np.zeros((4, 2)), extent=(0, 1, 0))


# ---------------------------------------------------------------------------
# point-pattern spectra
# ---------------------------------------------------------------------------
def test_point_pattern_fft_peaks_at_reciprocal_lattice():
    # periods 8 px along x and 16 px along y in a 128 x 128 image
    yy, xx = np.mgrid[0:128:16, 0:128:8] + 0.5
    p = point_pattern_fft(xx.ravel(), yy.ravel(), (128, 128))
    assert p.shape == (128, 128) and p.dtype == np.float64
    rows, cols = np.ogrid[:128, :128]
    q = np.where((rows - 64) ** 2 + (cols - 64) ** 2 > 9, p, 0)
    # strongest spot: 128 / 16 = 8 rows from the centre, on the central column
    assert np.unravel_index(np.argmax(q), q.shape) in {(56, 64), (72, 64)}
    # along x: 128 / 8 = 16 columns from the centre, a local maximum
    assert p[64, 80] == pytest.approx(p[64, 48], rel=1e-9)
    assert p[64, 80] > 100 * np.median(q)
    assert p[64, 80] == p[60:69, 76:85].max()


def test_point_pattern_fft_splats_bilinearly_without_window():
    # one point half-way between columns 2 and 3: |F|^2 = cos^2(pi k / nx)
    p = point_pattern_fft([2.5, -1.0, 40.0], [1.0, 1.0, np.nan], (8, 16), window=False)
    k = np.arange(16) - 8
    np.testing.assert_allclose(p[3], np.cos(np.pi * k / 16) ** 2, atol=1e-12)
    np.testing.assert_allclose(p, p[3][None, :].repeat(8, axis=0), atol=1e-12)
    # the zero frequency is the squared number of points inside
    yy, xx = np.mgrid[0:20:3, 0:20:3] + 0.25
    p = point_pattern_fft(xx.ravel(), yy.ravel(), (20, 20), window=False)
    assert p[10, 10] == pytest.approx(xx.size**2)


def test_fft_periodicity_lattice_beats_random_points():
    rng = np.random.default_rng(9)
    yy, xx = np.mgrid[0:128:8, 0:128:8] + 3.3
    x = xx.ravel() + rng.normal(0, 0.3, xx.size)
    y = yy.ravel() + rng.normal(0, 0.3, xx.size)
    lattice = fft_periodicity(point_pattern_fft(x, y, (128, 128)))
    random = []
    for seed in range(3):
        r = np.random.default_rng(seed)
        n = r.poisson(xx.size)
        x, y = r.uniform(0, 127, (2, n))
        random.append(fft_periodicity(point_pattern_fft(x, y, (128, 128))))
    assert max(random) < 60
    assert lattice > 10 * max(random)


def test_fft_periodicity_definition():
    p = np.ones((9, 9))
    p[4, 4] = 1e6  # excluded zero frequency
    p[0, 0] = 5.0
    assert fft_periodicity(p, exclude_radius=1) == 5.0
    assert fft_periodicity(np.zeros((5, 5)), exclude_radius=1) == 0.0


def test_point_pattern_fft_bad_input():
    with pytest.raises(ValueError, match="shape"):
        point_pattern_fft([1.0], [1.0], (0, 5))
    with pytest.raises(ValueError, match="y"):
        point_pattern_fft([1.0, 2.0], [1.0], (5, 5))
    with pytest.raises(ValueError, match="power"):
        fft_periodicity(np.ones(5))
    with pytest.raises(ValueError, match="power"):
        fft_periodicity(np.full((5, 5), np.nan))
    with pytest.raises(ValueError, match="exclude_radius"):
        fft_periodicity(np.ones((5, 5)), exclude_radius=10)


# ---------------------------------------------------------------------------
# nearest-point maps
# ---------------------------------------------------------------------------
def brute_nearest(x, y, values, shape, max_distance=None):
    ny, nx = shape
    rows, cols = np.mgrid[:ny, :nx]
    d2 = (x[:, None, None] - cols) ** 2 + (y[:, None, None] - rows) ** 2
    out = values[np.argmin(d2, axis=0)]  # ties: lowest index
    if max_distance is not None:
        out[d2.min(axis=0) > max_distance**2] = np.nan
    return out


@pytest.mark.parametrize("seed", range(4))
def test_rasterise_nearest_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    ny, nx = 37, 53
    n = 120
    x = rng.uniform(-4, nx + 4, n)
    y = rng.uniform(-4, ny + 4, n)
    values = rng.normal(size=n)
    values[5] = np.nan
    got = rasterise_nearest(x, y, values, (ny, nx))
    np.testing.assert_array_equal(got, brute_nearest(x, y, values, (ny, nx)))
    nearest = brute_nearest(x, y, np.arange(n), (ny, nx))
    assert np.array_equal(np.isnan(got), nearest == 5)  # NaN values propagate
    assert (nearest == 5).any()


def test_rasterise_nearest_ties_duplicates_and_far_clusters():
    rng = np.random.default_rng(10)
    # integer lattice: many pixels equidistant from 2 or 4 points
    yy, xx = np.mgrid[0:30:4, 0:40:4]
    perm = rng.permutation(xx.size)
    x, y = xx.ravel()[perm].astype(float), yy.ravel()[perm].astype(float)
    values = rng.normal(size=x.size)
    np.testing.assert_array_equal(
        rasterise_nearest(x, y, values, (30, 40)), brute_nearest(x, y, values, (30, 40))
    )
    # a tight cluster with duplicates, far from most of the image
    x = np.round(rng.normal(3, 0.5, 400), 1)
    y = np.round(rng.normal(2, 0.5, 400), 1)
    values = rng.normal(size=400)
    np.testing.assert_array_equal(
        rasterise_nearest(x, y, values, (60, 70)), brute_nearest(x, y, values, (60, 70))
    )


def test_rasterise_nearest_max_distance():
    x = np.array([2.0, 20.0])
    y = np.array([3.0, 3.0])
    got = rasterise_nearest(x, y, np.array([1.0, 2.0]), (8, 30), max_distance=4.0)
    rows, cols = np.mgrid[:8, :30]
    d = np.minimum(np.hypot(cols - 2, rows - 3), np.hypot(cols - 20, rows - 3))
    np.testing.assert_array_equal(np.isnan(got), d > 4.0)
    assert got[3, 6] == 1.0 and got[3, 16] == 2.0 and np.isnan(got[3, 11])


def test_rasterise_nearest_bad_input():
    with pytest.raises(ValueError, match="x"):
        rasterise_nearest([np.nan, 1.0], [1.0, 1.0], [1.0, 2.0], (4, 4))
    with pytest.raises(ValueError, match="values"):
        rasterise_nearest([0.0, 1.0], [1.0, 1.0], [1.0], (4, 4))
    with pytest.raises(ValueError, match="shape"):
        rasterise_nearest([0.0], [1.0], [1.0], (4,))
    with pytest.raises(ValueError, match="max_distance"):
        rasterise_nearest([0.0], [1.0], [1.0], (4, 4), max_distance=-1)
    with pytest.raises(ValueError, match="point"):
        rasterise_nearest([], [], [], (4, 4))


# ---------------------------------------------------------------------------
# mode polarity
# ---------------------------------------------------------------------------
NEIGHBOURS = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])


def test_mode_polarity_shift_is_polar_breathing_is_not():
    shift = mode_polarity(np.tile([0.3, -0.1], 4))
    assert shift["polarity"] == pytest.approx(1.0) and shift["polar"] is True
    assert shift["vector_sum"] == pytest.approx((1.2, -0.4))
    breathing = mode_polarity((0.2 * NEIGHBOURS).ravel())  # radial, outwards
    assert breathing["polarity"] < 1e-12 and breathing["polar"] is False
    assert breathing["vector_sum"] == pytest.approx((0.0, 0.0))
    rotation = mode_polarity((NEIGHBOURS @ [[0.0, 1.0], [-1.0, 0.0]]).ravel())
    assert rotation["polarity"] < 1e-12
    assert mode_polarity(np.zeros(8))["polarity"] == 0.0
    # one of four neighbours displaced: polarity 1, but a shift of two along
    # x with two opposite moves along y is only half polar
    assert mode_polarity([0.0, 0, 0, 0, 1, 0, 0, 0])["polarity"] == pytest.approx(1)
    half = mode_polarity([1.0, 0, 1, 0, 0, 1, 0, -1])["polarity"]
    assert half == pytest.approx(0.5)


def test_mode_polarity_bad_input():
    with pytest.raises(ValueError, match="factor"):
        mode_polarity([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="factor"):
        mode_polarity(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="factor"):
        mode_polarity([np.nan, 1.0])


# ---------------------------------------------------------------------------
# count_classes: how many classes the data support
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "n, d, kind",
    [
        (40, 6, "gauss"),
        (40, 16, "gauss"),
        (300, 8, "t3"),
        (1500, 8, "aniso"),
        (1500, 16, "gauss"),
    ],
)
def test_count_classes_one_cloud_is_one_class(n, d, kind):
    """Unimodal clouds, small or large, heavy-tailed or elongated, are never
    split (the earlier 'largest dendrogram gap' could not answer 1)."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        if kind == "t3":
            X = rng.standard_t(3, size=(n, d))
        else:
            X = rng.normal(size=(n, d))
        if kind == "aniso":
            X *= np.linspace(3.0, 0.3, d)
        r = class_count.count_classes(X, seed=seed)
        assert r.n_classes == 1, (seed, r.reason)
        assert r.reason.startswith("1 class:")
        assert (r.labels == 0).all()


def test_count_classes_finds_unequal_classes_exactly():
    """Three classes of 500, 250 and 60 rows, placed without symmetry: the
    three are found, the labels are the truth (sorted by size), and the
    centroids are the class means."""
    rng = np.random.default_rng(1)
    means = np.array([[0, 0, 0, 0, 0, 0], [7, 2, 0, 0, 0, 0], [1, -9, 3, 0, 0, 0]])
    sizes = [500, 250, 60]
    truth = np.repeat(np.arange(3), sizes)
    X = means[truth] + rng.normal(size=(len(truth), 6))
    order = rng.permutation(len(truth))
    X, truth = X[order], truth[order]
    r = class_count.count_classes(X)
    assert r.n_classes == 3, r.reason
    assert np.array_equal(r.labels, truth)
    assert np.allclose(r.centroids, means, atol=0.25)
    assert len([s for s in r.splits if s["accepted"]]) == 2


def test_count_classes_noise_decides():
    """Two clear modes 0.8 apart: split when the measurement noise is 0.1
    (8 sigma), not when it is 0.5 (1.6 sigma < 3): the classes must differ by
    more than the positions' errors can explain."""
    rng = np.random.default_rng(2)
    X = np.r_[
        rng.normal(0, 0.1, (300, 4)), rng.normal(0, 0.1, (300, 4)) + [0.8, 0, 0, 0]
    ]
    small = class_count.count_classes(X, noise=np.full(X.shape, 0.1))
    assert small.n_classes == 2
    assert small.splits[0]["noise"] == pytest.approx(0.1)
    big = class_count.count_classes(X, noise=np.full(X.shape, 0.5))
    assert big.n_classes == 1
    assert "measurement noise" in big.reason


def test_count_classes_outliers_and_missing_rows():
    """Isolated rows do not make classes (they join the nearest one and are
    flagged); rows with NaN get -1; max_classes caps the count."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 4))
    X[:5] += 40 * rng.normal(size=(5, 4))  # five wild neighbourhoods
    X[10, 2] = np.nan
    r = class_count.count_classes(X)
    assert r.n_classes == 1
    assert r.outliers[:5].all() and r.outliers.sum() == 5
    assert "5 isolated" in r.reason
    assert r.labels[10] == -1 and (np.delete(r.labels, 10) == 0).all()
    four = np.r_[X[11:], X[11:] + [30, 0, 0, 0], X[11:] + [0, 30, 0, 0]]
    assert class_count.count_classes(four).n_classes == 3
    assert class_count.count_classes(four, max_classes=2).n_classes == 2


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"max_dip": 1.0}, "`max_dip` must lie between 0 and 1"),
        ({"noise": np.ones((3, 2))}, "`noise` must have the shape of `X`"),
        ({"max_classes": 0}, "`max_classes`"),
        ({"n_sigma": -1.0}, "`n_sigma` must be >= 0"),
    ],
)
def test_count_classes_bad_arguments(kw, message):
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ValueError, match=message):
        class_count.count_classes(X, **kw)


def test_two_modes_dip_is_read_from_the_data_between_the_means():
    # the dip: the kernel density's lowest value between the two fitted
    # means over the lower of its highest values on either side. Two clouds
    # 6 sd apart have an empty valley (dip near 0); one Gaussian cloud has
    # none (dip 1, whatever two Gaussians EM fits to it). Independent check:
    # half the means' gap below the lower to half above the higher
    from hyperspy_localcryst.numerics.class_count import _two_modes

    rng = np.random.default_rng(3)
    two = np.r_[rng.normal(0.0, 1.0, 300), rng.normal(6.0, 1.0, 300)]
    one = rng.normal(2.0, 1.5, 600)
    mu, sd, w, dip, labels = _two_modes(np.column_stack([two, one]))
    assert dip[0] < 0.05 and dip[1] > 0.9, dip
    for j, z in enumerate((two, one)):
        h = 1.06 * (w[j, 0] * sd[j, 0] + w[j, 1] * sd[j, 1]) * len(z) ** -0.2
        a, b = mu[j].min() + z.mean(), mu[j].max() + z.mean()  # means: centred
        grid = np.linspace(a - 0.5 * (b - a), b + 0.5 * (b - a), 401)
        dens = np.exp(-0.5 * ((grid[:, None] - z[None]) / h) ** 2).sum(axis=1)
        mid = (grid >= a) & (grid <= b)
        v = np.argmin(np.where(mid, dens, np.inf))
        want = dens[v] / min(dens[: v + 1].max(), dens[v:].max())
        assert dip[j] == pytest.approx(min(want, 1.0), abs=0.02)


def test_vector_histogram_takes_one_bin_along_an_axis():
    # bins (nx, 1): a histogram of dx alone (every dy in one bin), equal to
    # numpy's 1D histogram of dx over the same edges
    rng = np.random.default_rng(2)
    v = rng.normal(0.0, 1.0, (500, 2))
    counts, extent = point_patterns.vector_histogram(
        v, bins=(7, 1), extent=(-2, 2, -3, 3)
    )
    assert counts.shape == (1, 7)
    inside = (np.abs(v[:, 1]) <= 3) & (np.abs(v[:, 0]) <= 2)
    want, _ = np.histogram(v[inside, 0], bins=7, range=(-2, 2))
    np.testing.assert_array_equal(counts[0], want)
    counts, _ = point_patterns.vector_histogram(v, bins=(1, 5), extent=(-2, 2, -3, 3))
    assert counts.shape == (5, 1)
    want, _ = np.histogram(v[inside, 1], bins=5, range=(-3, 3))
    np.testing.assert_array_equal(counts[:, 0], want)


def test_count_classes_refuses_a_split_between_two_groups_that_cut_a_shell():
    """Two clouds 12 sigma apart are two classes, unless the rows of both
    are neighbourhoods that cut a shell (then which members of the shell
    they keep tells them apart, not their site): one class, and the reason
    says so. One open side is no reason to refuse."""
    rng = np.random.default_rng(3)
    X = np.r_[rng.normal(0, 1, (200, 4)), rng.normal(0, 1, (150, 4)) + [12, 0, 0, 0]]
    assert class_count.count_classes(X).n_classes == 2
    r = class_count.count_classes(X, open_shell=np.ones(len(X), bool))
    assert r.n_classes == 1 and "cut a shell" in r.reason
    half = np.r_[np.ones(200, bool), np.zeros(150, bool)]
    assert class_count.count_classes(X, open_shell=half).n_classes == 2
    with pytest.raises(ValueError, match="open_shell"):
        class_count.count_classes(X, open_shell=np.ones(3, bool))
