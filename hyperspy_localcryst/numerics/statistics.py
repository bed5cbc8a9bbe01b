"""Statistics of atom tables and neighbourhood vectors, on plain arrays.

Clustering of per-atom descriptors (:class:`KMedians`, the k-means variant of
Belianinov et al., Nat. Commun. 6, 7801 (2015), and hierarchical clustering of
a subsample: :func:`linkage_sample`, :func:`cut_linkage`,
:func:`linkage_threshold`), histograms of neighbour vectors
(:func:`vector_histogram`), the periodicity of a point pattern
(:func:`point_pattern_fft`, :func:`fft_periodicity`), per-atom maps
(:func:`rasterise_nearest`), the polarity of PCA modes of neighbourhood
vectors (:func:`mode_polarity`; their size, noise and spatial pattern are in
:mod:`~hyperspy_localcryst.numerics.modes`) and how many
classes the data support (:func:`count_classes`).

Nothing here imports HyperSpy.

Conventions
-----------
* Positions are in pixels, ``x`` is the column and ``y`` the row; pixel
  ``image[r, c]`` has its centre at ``x = c``, ``y = r``.
* Images are arrays of shape ``(ny, nx)`` indexed ``[row, column]``.
* Bad input raises :class:`ValueError` naming the argument.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange
from scipy import fft as sp_fft
from scipy.cluster import hierarchy
from scipy.spatial import cKDTree
from sklearn.base import BaseEstimator, ClusterMixin

from ._checks import (
    check_array,
    check_bool,
    check_integer,
    check_memory,
    check_number,
)
from ._parallel import kd_query, max_threads

__all__ = [
    "KMedians",
    "linkage_sample",
    "cut_linkage",
    "linkage_threshold",
    "vector_histogram",
    "point_pattern_fft",
    "fft_periodicity",
    "rasterise_nearest",
    "mode_polarity",
    "frame_groups",
    "per_frame",
    "label_fractions",
    "count_classes",
    "isolated_rows",
    "ClassCount",
]

_LINKAGE_METHODS = (
    "single",
    "complete",
    "average",
    "weighted",
    "centroid",
    "median",
    "ward",
)


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------
def _samples(X, name: str = "X") -> np.ndarray:
    """``X`` as a finite float64 array of shape (n_samples, n_features)."""
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real numeric array") from None
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2D (n_samples, n_features), got shape {arr.shape}"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _int_arg(value, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _seed(value, name="seed"):
    """A random seed: None or a non-negative integer."""
    return None if value is None else check_integer(value, name, minimum=0)


#: Largest 2D grid (cells) a histogram or spectrum is made on: 2**27 cells
#: of float64 are 1 GiB per array; beyond, an argument typo (bins=10**6)
#: would end in a MemoryError or in swapping instead of a clear error.
MAX_GRID_CELLS = 2**27


def _check_grid_size(ny, nx, name):
    if ny * nx > MAX_GRID_CELLS:
        raise ValueError(
            f"{name} gives a grid of {ny} x {nx} = {ny * nx:,} cells, more than "
            f"{MAX_GRID_CELLS:,} (1 GiB per array); use fewer"
        )


def _shape_arg(shape) -> tuple[int, int]:
    if not isinstance(shape, (tuple, list, np.ndarray)):
        raise ValueError(f"shape must be a pair (ny, nx), got {shape!r:.60}")
    try:
        ny, nx = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a pair (ny, nx), got {shape!r}") from None
    if ny <= 0 or nx <= 0 or (ny, nx) != tuple(shape):
        raise ValueError(f"shape must be two positive integers, got {shape!r}")
    _check_grid_size(ny, nx, "shape")
    return ny, nx


def _coordinates(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = check_array(x, "x")
    y = check_array(y, "y")
    if x.ndim != 1:
        raise ValueError(f"x must be 1D, got shape {x.shape}")
    if y.shape != x.shape:
        raise ValueError(f"y must have the shape of x {x.shape}, got {y.shape}")
    return x, y


def _linkage_matrix(Z) -> np.ndarray:
    Z = check_array(Z, "Z")
    if Z.ndim != 2 or Z.shape[1] != 4 or Z.shape[0] < 1:
        raise ValueError(
            f"Z must be a linkage matrix of shape (n - 1, 4), got {Z.shape}"
        )
    if not hierarchy.is_valid_linkage(Z):
        raise ValueError("Z is not a valid linkage matrix")
    return Z


# ---------------------------------------------------------------------------
# k-medians
# ---------------------------------------------------------------------------
_N_CHUNKS = 16


@njit(cache=True, nogil=True, parallel=True, fastmath={"reassoc", "contract"})
def _assign(X, C, labels, d2, below):
    """Nearest centre (squared Euclidean, lowest index on ties) of each row,
    written into ``labels`` and ``d2``; returns how many labels changed.

    Also counts, in ``below[k, f]``, the members of cluster k whose feature f
    is below the centre ``C[k, f]`` (what the incremental median needs).
    """
    n, d = X.shape
    K = C.shape[0]
    counts = np.zeros((_N_CHUNKS, K, d), dtype=np.int64)
    changed = np.zeros(_N_CHUNKS, dtype=np.int64)
    for ch in prange(_N_CHUNKS):
        for i in range(ch * n // _N_CHUNKS, (ch + 1) * n // _N_CHUNKS):
            best = np.inf
            bk = 0
            for k in range(K):
                s = 0.0
                for f in range(d):
                    t = X[i, f] - C[k, f]
                    s += t * t
                if s < best:
                    best = s
                    bk = k
            if labels[i] != bk:
                changed[ch] += 1
            labels[i] = bk
            d2[i] = best
            for f in range(d):
                if X[i, f] < C[bk, f]:
                    counts[ch, bk, f] += 1
    for k in range(K):
        for f in range(d):
            t = 0
            for ch in range(_N_CHUNKS):
                t += counts[ch, k, f]
            below[k, f] = t
    return changed.sum()


def _sorted_columns(X):
    """Each column of ``X`` sorted: values (d, n) and row indices (d, n);
    numpy's sort releases the GIL, so columns are sorted in threads."""
    XT = np.ascontiguousarray(X.T)
    d = XT.shape[0]
    order = np.empty(XT.shape, dtype=np.intp)
    vals = np.empty_like(XT)

    def work(f):
        order[f] = np.argsort(XT[f])
        vals[f] = XT[f][order[f]]

    n_threads = min(os.cpu_count() or 1, d)
    if n_threads > 1 and XT.shape[1] >= 10000:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(work, range(d)))
    else:
        for f in range(d):
            work(f)
    return vals, order


@njit(cache=True, nogil=True)
def _median_walk(vals, order, labels, f, k, count, centre, below):
    """Median of feature f over cluster k, walking the sorted column from the
    position of the previous centre, where ``below`` members lie below it."""
    n = vals.shape[1]
    lo_r = (count - 1) // 2
    hi_r = count // 2
    p = np.searchsorted(vals[f], centre)
    lo = 0.0
    hi = 0.0
    if below <= lo_r:
        r = below
        i = p
        while i < n:
            if labels[order[f, i]] == k:
                if r == lo_r:
                    lo = vals[f, i]
                if r == hi_r:
                    hi = vals[f, i]
                    break
                r += 1
            i += 1
    else:
        r = below - 1
        i = p - 1
        while i >= 0:
            if labels[order[f, i]] == k:
                if r == hi_r:
                    hi = vals[f, i]
                if r == lo_r:
                    lo = vals[f, i]
                    break
                r -= 1
            i -= 1
        if hi_r == below:
            i = p
            while i < n:
                if labels[order[f, i]] == k:
                    hi = vals[f, i]
                    break
                i += 1
    return 0.5 * (lo + hi)


@njit(cache=True, nogil=True, parallel=True)
def _medians(vals, order, labels, counts, C, below, exact_below, out):
    """Component-wise medians of the clusters (as numpy.median: the mean of
    the two middle values for even counts); empty clusters keep ``C``.

    Per feature, either walk from the previous centres (cost ~ K times the
    rank change, when ``below`` counts are valid) or scan the sorted column
    once for all clusters (cost <= n).
    """
    d, n = vals.shape
    K = counts.shape[0]
    for f in prange(d):
        walk = 0.0
        for k in range(K):
            if counts[k] > 0:
                shift = abs(below[k, f] - (counts[k] - 1) // 2) + 1
                walk += shift * n / counts[k]
        if exact_below and walk < 0.5 * n:
            for k in range(K):
                if counts[k] > 0:
                    out[k, f] = _median_walk(
                        vals, order, labels, f, k, counts[k], C[k, f], below[k, f]
                    )
                else:
                    out[k, f] = C[k, f]
            continue
        seen = np.zeros(K, dtype=np.int64)
        lo = np.zeros(K)
        hi = np.zeros(K)
        remaining = 0
        for k in range(K):
            if counts[k] > 0:
                remaining += 1
        for i in range(n):
            if remaining == 0:
                break
            k = labels[order[f, i]]
            r = seen[k]
            c = counts[k]
            if r == (c - 1) // 2:
                lo[k] = vals[f, i]
            if r == c // 2:
                hi[k] = vals[f, i]
                remaining -= 1
            seen[k] = r + 1
        for k in range(K):
            if counts[k] > 0:
                out[k, f] = 0.5 * (lo[k] + hi[k])
            else:
                out[k, f] = C[k, f]


def _kmedians_run(X, vals, order, C, max_iter, tol):
    n = X.shape[0]
    K = C.shape[0]
    labels = np.full(n, -1, dtype=np.intp)
    d2 = np.empty(n)
    below = np.zeros(C.shape, dtype=np.int64)
    _assign(X, C, labels, d2, below)
    n_iter = 0
    new = np.empty_like(C)
    while n_iter < max_iter:
        counts = np.bincount(labels, minlength=K)
        empty = np.flatnonzero(counts == 0)
        exact_below = empty.size == 0
        if empty.size:
            # re-seed each empty cluster with the point farthest from its centre
            far = np.argsort(-d2, kind="stable")[: empty.size]
            labels[far] = empty
            counts = np.bincount(labels, minlength=K)
        _medians(vals, order, labels, counts, C, below, exact_below, new)
        n_iter += 1
        shift = float(((new - C) ** 2).sum())
        C, new = new, C
        changed = _assign(X, C, labels, d2, below)
        if changed == 0 or shift <= tol:
            break
    return C, float(d2.sum()), n_iter


class KMedians(ClusterMixin, BaseEstimator):
    """k-means with median centroids (Belianinov et al. 2015).

    Each sample is assigned to the centre at the smallest squared Euclidean
    distance; each centre is then moved to the component-wise *median* of its
    members, which makes the centres robust to outliers (a few mis-fitted
    atoms do not drag a cluster centre). It is a scikit-learn estimator
    (``BaseEstimator`` and ``ClusterMixin``: ``get_params``, ``set_params``,
    ``clone``, ``fit_predict``), so it can be passed to HyperSpy's
    ``cluster_analysis(algorithm=KMedians(n_clusters=3))``.

    Parameters
    ----------
    n_clusters : int, default 8
        Number of clusters K.
    n_init : int, default 4
        Number of runs from different k-means++ initialisations; the run
        with the smallest inertia is kept.
    max_iter : int, default 100
        Maximum number of centre updates per run.
    tol : float, default 1e-6
        A run stops when the labels no longer change or when the summed
        squared shift of the centres falls below ``tol`` times the mean
        per-feature variance of ``X``.
    random_state : int, numpy.random.RandomState or None, default 0
        Seed of the k-means++ initialisations.

    Attributes
    ----------
    labels_ : numpy.ndarray of int, shape (n_samples,)
        Cluster of each sample (nearest final centre).
    cluster_centers_ : numpy.ndarray, shape (n_clusters, n_features)
        The centres (component-wise medians).
    inertia_ : float
        Sum of squared distances of the samples to their assigned centres.
    n_iter_ : int
        Number of centre updates of the best run.

    Notes
    -----
    Assignment and median steps are compiled and parallel: the columns of
    ``X`` are sorted once per fit, after which the medians of all clusters
    take one scan of each sorted column (O(n d) per iteration, no sorting).
    Unlike k-means the median step does not minimise the squared distances,
    so the inertia need not decrease at every iteration; ``max_iter`` bounds
    a run. An empty cluster is re-seeded
    with the sample farthest from its own centre.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(c, 0.1, (50, 2)) for c in (0, 5, 10)])
    >>> km = KMedians(n_clusters=3).fit(X)
    >>> np.bincount(km.labels_).tolist()
    [50, 50, 50]
    >>> np.round(np.sort(km.cluster_centers_[:, 0]))
    array([ 0.,  5., 10.])
    >>> bool((km.predict(X) == km.labels_).all())
    True
    """

    def __init__(
        self,
        n_clusters=8,
        n_init=4,
        max_iter=100,
        tol=1e-6,
        random_state=0,
    ):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _check_params(self, n_samples: int) -> int:
        K = _int_arg(self.n_clusters, "n_clusters", 1)
        if K > n_samples:
            raise ValueError(
                f"n_clusters={K} must be <= the number of samples ({n_samples})"
            )
        _int_arg(self.n_init, "n_init", 1)
        _int_arg(self.max_iter, "max_iter", 1)
        _seed(self.random_state, "random_state")
        tol = check_number(self.tol, "tol")
        if not np.isfinite(tol) or tol < 0:
            raise ValueError(f"tol must be a finite number >= 0, got {self.tol!r}")
        return K

    def fit(self, X, y=None):
        """Cluster the rows of ``X``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Finite data (NaN or infinity raises :class:`ValueError`).
        y : None
            Ignored; kept for scikit-learn.

        Returns
        -------
        KMedians
            The fitted estimator (``labels_``, ``cluster_centers_``,
            ``inertia_``, ``n_iter_`` set).

        Examples
        --------
        >>> import numpy as np
        >>> X = np.array([[0.0], [0.1], [0.2], [9.0], [9.1]])
        >>> round(KMedians(n_clusters=2).fit(X).inertia_, 3)
        0.025
        """
        from sklearn.cluster import kmeans_plusplus
        from sklearn.utils import check_random_state

        X = np.ascontiguousarray(_samples(X, "X"))
        K = self._check_params(X.shape[0])
        rng = check_random_state(self.random_state)
        Xc = X - X.mean(axis=0)
        x2 = np.einsum("ij,ij->i", Xc, Xc)
        tol = float(self.tol) * float(np.mean(np.var(Xc, axis=0)))
        vals, order = _sorted_columns(X)
        best = None
        for _ in range(int(self.n_init)):
            _, seeds = kmeans_plusplus(Xc, K, x_squared_norms=x2, random_state=rng)
            run = _kmedians_run(X, vals, order, X[seeds], int(self.max_iter), tol)
            if best is None or run[1] < best[1]:
                best = run
        self.cluster_centers_, self.inertia_, self.n_iter_ = best
        self.labels_ = self.predict(X)
        return self

    def predict(self, X):
        """Index of the nearest centre (squared Euclidean distance) of each row.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Finite data with as many features as the fitted data.

        Returns
        -------
        numpy.ndarray of int, shape (n_samples,)
            Cluster labels.

        Examples
        --------
        >>> import numpy as np
        >>> km = KMedians(n_clusters=2).fit([[0.0], [0.2], [10.0], [10.2]])
        >>> km.predict([[1.0], [9.0]]).tolist() == [km.labels_[0], km.labels_[2]]
        True
        """
        if not hasattr(self, "cluster_centers_"):
            raise ValueError("KMedians is not fitted yet; call fit(X) first")
        X = _samples(X, "X")
        if X.shape[1] != self.cluster_centers_.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} features, the estimator was fitted with "
                f"{self.cluster_centers_.shape[1]}"
            )
        X = np.ascontiguousarray(X)
        C = np.ascontiguousarray(self.cluster_centers_)
        labels = np.full(X.shape[0], -1, dtype=np.intp)
        _assign(X, C, labels, np.empty(len(X)), np.empty(C.shape, dtype=np.int64))
        return labels

    def fit_predict(self, X, y=None):
        """Fit and return ``labels_``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Finite data.
        y : None
            Ignored; kept for scikit-learn.

        Returns
        -------
        numpy.ndarray of int, shape (n_samples,)
            Cluster labels.

        Examples
        --------
        >>> labels = KMedians(n_clusters=2).fit_predict([[0.0], [0.1], [5.0]])
        >>> bool(labels[0] == labels[1] != labels[2])
        True
        """
        return self.fit(X).labels_


# ---------------------------------------------------------------------------
# hierarchical clustering
# ---------------------------------------------------------------------------
def linkage_sample(X, n_samples=2000, method="ward", seed=0):
    """Hierarchical clustering (linkage matrix) of a random subsample of rows.

    Agglomerative clustering costs O(n²) memory and time, so **large data are
    clustered on a random subsample**: when ``X`` has more than ``n_samples``
    rows, ``n_samples`` of them are drawn at random without replacement
    (seeded by ``seed``); otherwise all rows are used. The dendrogram of the
    result (``scipy.cluster.hierarchy.dendrogram(Z)``) shows the sampled
    rows on the x axis and, on the **y axis, the linkage distance**: the
    height at which two clusters merge measures how well separated they are
    (for ``"ward"`` the increase of the within-cluster variance). Cut it
    with :func:`cut_linkage`; :func:`linkage_threshold` gives the height of
    the cut.

    Parameters
    ----------
    X : array_like, shape (n_rows, n_features)
        Finite data (at least two rows).
    n_samples : int, default 2000
        Largest number of rows clustered (>= 2).
    method : str, default "ward"
        Linkage method of :func:`scipy.cluster.hierarchy.linkage`
        (Euclidean metric).
    seed : int or None, default 0
        Seed of the subsample (``numpy.random.default_rng``).

    Returns
    -------
    Z : numpy.ndarray, shape (len(index) - 1, 4)
        Linkage matrix of the rows ``X[index]``.
    index : numpy.ndarray of int
        Indices of the rows used, sorted ascending.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(5000, 3))
    >>> Z, index = linkage_sample(X, n_samples=500)
    >>> Z.shape, index.shape, bool((np.diff(index) > 0).all())
    ((499, 4), (500,), True)
    """
    X = _samples(X, "X")
    n_samples = _int_arg(n_samples, "n_samples", 2)
    seed = _seed(seed)
    m = min(n_samples, X.shape[0])  # the pairwise distances of m rows
    check_memory(
        4.0 * m * (m - 1), "n_samples", n_samples, f"{m} rows: {m}² / 2 distances"
    )
    if not isinstance(method, str) or method not in _LINKAGE_METHODS:
        raise ValueError(
            f"method must be one of {', '.join(_LINKAGE_METHODS)}, got {method!r}"
        )
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"X must have at least 2 rows, got {n}")
    if n <= n_samples:
        index = np.arange(n)
    else:
        rng = np.random.default_rng(seed)
        index = np.sort(rng.choice(n, size=n_samples, replace=False))
    Z = hierarchy.linkage(X[index], method=method, metric="euclidean")
    return Z, index


def cut_linkage(Z, n_clusters):
    """Flat clusters from a linkage matrix, label 0 the largest.

    Uses :func:`scipy.cluster.hierarchy.fcluster` with
    ``criterion="maxclust"`` and relabels the clusters by decreasing size
    (ties keep fcluster's order). With tied merge heights fcluster may return
    fewer than ``n_clusters`` clusters.

    Parameters
    ----------
    Z : array_like, shape (n - 1, 4)
        Linkage matrix (e.g. from :func:`linkage_sample`).
    n_clusters : int
        Number of clusters, ``1 <= n_clusters <= n``.

    Returns
    -------
    numpy.ndarray of int, shape (n,)
        Labels ``0 .. n_clusters - 1`` of the observations clustered in ``Z``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1]])
    >>> Z, _ = linkage_sample(X)
    >>> cut_linkage(Z, 2).tolist()
    [0, 0, 0, 1, 1]
    """
    Z = _linkage_matrix(Z)
    n = Z.shape[0] + 1
    K = _int_arg(n_clusters, "n_clusters", 1)
    if K > n:
        raise ValueError(
            f"n_clusters={K} must be <= the number of observations in Z ({n})"
        )
    raw = hierarchy.fcluster(Z, K, criterion="maxclust") - 1
    sizes = np.bincount(raw)
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[raw].astype(np.intp)


def linkage_threshold(Z, n_clusters):
    """Height at which cutting the dendrogram gives ``n_clusters`` clusters.

    The y value of a dendrogram of ``Z`` is the linkage (cluster separation)
    distance. With the n - 1 merge heights sorted, ``n_clusters`` clusters
    remain after the lowest ``n - n_clusters`` merges; the threshold is the
    midpoint between the last merge made and the next one (between 0 and the
    lowest merge for ``n_clusters = n``, and 1.05 times the top merge for
    ``n_clusters = 1``). ``fcluster(Z, t, criterion="distance")`` at this
    ``t`` gives ``n_clusters`` clusters unless merge heights are tied, or the
    linkage is not monotonic (``"centroid"``, ``"median"``).

    Parameters
    ----------
    Z : array_like, shape (n - 1, 4)
        Linkage matrix.
    n_clusters : int
        Number of clusters, ``1 <= n_clusters <= n``.

    Returns
    -------
    float
        Threshold on the dendrogram's y axis (e.g. for a horizontal line).

    Examples
    --------
    >>> import numpy as np
    >>> Z, _ = linkage_sample(np.array([[0.0], [1.0], [10.0]]), method="single")
    >>> linkage_threshold(Z, 2)
    5.0
    """
    Z = _linkage_matrix(Z)
    n = Z.shape[0] + 1
    K = _int_arg(n_clusters, "n_clusters", 1)
    if K > n:
        raise ValueError(
            f"n_clusters={K} must be <= the number of observations in Z ({n})"
        )
    h = np.concatenate(([0.0], np.sort(Z[:, 2])))
    if K == 1:
        return float(1.05 * h[-1])
    return float(0.5 * (h[n - K] + h[n - K + 1]))


# ---------------------------------------------------------------------------
# vector histogram
# ---------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _max_abs_finite(v):
    """Largest absolute component of the rows of ``v`` that are finite."""
    m = 0.0
    for i in range(v.shape[0]):
        a = v[i, 0]
        b = v[i, 1]
        if np.isfinite(a) and np.isfinite(b):
            m = max(m, abs(a), abs(b))
    return m


@njit(cache=True, nogil=True)
def _bin_index(v, lo, norm, edges, nbins):
    # as numpy.histogram for equal bins: estimate, then correct by the edges
    i = int((v - lo) * norm)
    if i >= nbins:
        i = nbins - 1
    if i < 0:
        i = 0
    if v < edges[i]:
        i -= 1
    elif i < nbins - 1 and v >= edges[i + 1]:
        i += 1
    return i


@njit(cache=True, nogil=True, parallel=True)
def _histogram2d(v, xedges, yedges, n_chunks):
    n = v.shape[0]
    nx = xedges.shape[0] - 1
    ny = yedges.shape[0] - 1
    xlo, xhi = xedges[0], xedges[nx]
    ylo, yhi = yedges[0], yedges[ny]
    xnorm = nx / (xhi - xlo)
    ynorm = ny / (yhi - ylo)
    counts = np.zeros((n_chunks, ny, nx), dtype=np.int64)
    for ch in prange(n_chunks):
        for i in range(ch * n // n_chunks, (ch + 1) * n // n_chunks):
            a = v[i, 0]
            b = v[i, 1]
            # NaN fails every comparison
            if a >= xlo and a <= xhi and b >= ylo and b <= yhi:
                ix = _bin_index(a, xlo, xnorm, xedges, nx)
                iy = _bin_index(b, ylo, ynorm, yedges, ny)
                counts[ch, iy, ix] += 1
    out = np.zeros((ny, nx))
    for ch in range(n_chunks):
        out += counts[ch]
    return out


def vector_histogram(vectors, bins=101, extent=None):
    """2D histogram of 2D vectors (e.g. all neighbour vectors of all atoms).

    Bins follow :func:`numpy.histogram2d` exactly (half-open bins, the last
    bin closed; vectors outside ``extent`` are not counted) but are counted
    in one compiled parallel pass without temporary arrays.

    Parameters
    ----------
    vectors : array_like, shape (..., 2)
        Vectors ``(dx, dy)`` in pixels along the last axis. Rows with a NaN
        or infinite component are ignored.
    bins : int or (int, int), default 101
        Number of bins, or ``(nx, ny)`` along dx and dy.
    extent : (xmin, xmax, ymin, ymax) or None
        Outer bin edges. ``None``: symmetric about 0, ``±1.05 m`` on both
        axes with ``m`` the largest absolute component of the finite vectors
        (``±1`` when there is none or all are zero).

    Returns
    -------
    counts : numpy.ndarray of float64, shape (ny, nx)
        Counts; row ``i`` is the dy bin, column ``j`` the dx bin (so
        ``imshow(counts, origin="lower", extent=extent)`` draws the vectors).
    extent : tuple of float
        ``(xmin, xmax, ymin, ymax)`` of the bin edges.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.array([[1.0, 0.0], [0.0, -1.0], [np.nan, 2.0]])
    >>> counts, extent = vector_histogram(v, bins=3)
    >>> float(counts.sum()), extent
    (2.0, (-1.05, 1.05, -1.05, 1.05))
    >>> counts.tolist()
    [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """
    try:
        v = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("vectors must be a real numeric array") from None
    if v.ndim < 1 or v.shape[-1] != 2:
        raise ValueError(f"vectors must have shape (..., 2), got {v.shape}")
    v = np.ascontiguousarray(v.reshape(-1, 2))
    if np.ndim(bins) == 0:
        nx = ny = _int_arg(bins, "bins", 1)
    else:
        if len(bins) != 2:
            raise ValueError(f"bins must be an int or a pair (nx, ny), got {bins!r}")
        nx = _int_arg(bins[0], "bins", 1)
        ny = _int_arg(bins[1], "bins", 1)
    _check_grid_size(ny, nx, "bins")
    if extent is None:
        m = float(_max_abs_finite(v)) if v.shape[0] else 0.0
        h = 1.05 * m if m > 0 else 1.0
        extent = (-h, h, -h, h)
    else:
        try:
            extent = tuple(float(e) for e in extent)
        except (TypeError, ValueError):
            raise ValueError(
                f"extent must be (xmin, xmax, ymin, ymax), got {extent!r}"
            ) from None
        if (
            len(extent) != 4
            or not np.isfinite(extent).all()
            or not (extent[1] > extent[0] and extent[3] > extent[2])
        ):
            raise ValueError(
                "extent must be four finite numbers (xmin, xmax, ymin, ymax) "
                f"with xmax > xmin and ymax > ymin, got {extent!r}"
            )
    xedges = np.linspace(extent[0], extent[1], nx + 1)
    yedges = np.linspace(extent[2], extent[3], ny + 1)
    # one private histogram per chunk (at most 128 MiB of them in all)
    n_chunks = 1 if v.shape[0] < 1 << 16 else max(1, min(16, (1 << 24) // (nx * ny)))
    counts = _histogram2d(v, xedges, yedges, n_chunks)
    return counts, extent


# ---------------------------------------------------------------------------
# periodicity of point patterns
# ---------------------------------------------------------------------------
def _splat(x, y, shape):
    """Bilinear splat of points (weight 1 each) onto a zero image."""
    ny, nx = shape
    inside = (x >= 0) & (x <= nx - 1) & (y >= 0) & (y <= ny - 1)
    x = x[inside]
    y = y[inside]
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = x - x0
    fy = y - y0
    x0 = x0.astype(np.intp)
    y0 = y0.astype(np.intp)
    # one spare row and column take the zero weights of points on the far
    # edge; the four corners' weights in one pass (one image-sized array)
    w = nx + 1
    idx = y0 * w + x0
    acc = np.bincount(
        np.concatenate([idx, idx + 1, idx + w, idx + w + 1]),
        np.concatenate([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy]),
        minlength=(ny + 1) * w,
    ).astype(np.float64, copy=False)  # (integer when there are no points)
    return acc.reshape(ny + 1, w)[:ny, :nx]


def point_pattern_fft(x, y, shape, window=True):
    """Power spectrum of a point pattern (e.g. atom positions).

    Each point is splatted with bilinear weights onto the 4 pixels around it
    in a zero image of ``shape`` (points outside the image, or NaN, are
    ignored), the image is multiplied by a 2D Hann window when ``window``,
    and ``|F|²`` of its 2D FFT is returned with zero frequency at
    ``(ny // 2, nx // 2)`` (``numpy.fft.fftshift``). A lattice with period
    ``a`` pixels along x gives spots ``nx / a`` pixels left and right of the
    centre; along y, ``ny / a`` pixels above and below.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Point positions in pixels (x = column, y = row).
    shape : (int, int)
        ``(ny, nx)`` of the image and of the spectrum.
    window : bool, default True
        Multiply by a Hann window (suppresses the edge streaks).

    Returns
    -------
    numpy.ndarray of float64, shape (ny, nx)
        Power spectrum, zero frequency at ``(ny // 2, nx // 2)``.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[4:60:8, 4:60:4] + 0.5  # periods 8 (y) and 4 (x)
    >>> p = point_pattern_fft(xx.ravel(), yy.ravel(), (64, 64))
    >>> p.shape, int(np.argmax(p[32, 33:])) + 1, int(np.argmax(p[33:, 32])) + 1
    ((64, 64), 16, 8)
    """
    x, y = _coordinates(x, y)
    shape = _shape_arg(shape)
    window = check_bool(window, "window")
    ny, nx = shape
    img = _splat(x, y, shape)
    if window:  # the separable Hann window, in place
        img *= np.hanning(ny)[:, None]
        img *= np.hanning(nx)
    # the input is real: half the spectrum (rfft2), the other half by
    # Hermitian symmetry, P(-k) = P(k); assembled straight into the centred
    # (fftshift) order, so no more than ~2 image-sized arrays live at once
    f = sp_fft.rfft2(img, workers=max_threads())
    del img
    half = np.square(f.real)
    half += np.square(f.imag)
    del f
    ky = (np.arange(ny) - ny // 2) % ny  # frequency index of each output row
    kx = (np.arange(nx) - nx // 2) % nx  # ... and column
    stored = kx <= nx // 2
    power = np.empty((ny, nx))
    power[:, stored] = half[np.ix_(ky, kx[stored])]
    power[:, ~stored] = half[np.ix_(-ky % ny, nx - kx[~stored])]
    return power


def fft_periodicity(power, exclude_radius=3):
    """Peak-to-median score of a centred power spectrum.

    The maximum of ``power`` outside a disc of ``exclude_radius`` pixels
    around the centre ``(ny // 2, nx // 2)`` divided by the median outside
    that disc. Sharp Bragg spots of a periodic pattern give a large score
    (hundreds or more); a random (Poisson) point set gives a small one
    (about ``log(ny * nx)``, ~10-30, since its power is exponentially
    distributed).

    Parameters
    ----------
    power : array_like, shape (ny, nx)
        Non-negative finite power spectrum, e.g. from
        :func:`point_pattern_fft`.
    exclude_radius : float, default 3
        Radius in pixels of the excluded zero-frequency disc (pixels at a
        distance ``<= exclude_radius`` are excluded).

    Returns
    -------
    float
        The score; ``inf`` when the median is 0 and the maximum is not,
        ``0.0`` when both are 0.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[2:64:4, 2:64:4].astype(float) + 0.3
    >>> lattice = fft_periodicity(point_pattern_fft(xx.ravel(), yy.ravel(), (64, 64)))
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.uniform(0, 63, (2, xx.size))
    >>> random = fft_periodicity(point_pattern_fft(x, y, (64, 64)))
    >>> bool(lattice > 10 * random)
    True
    """
    p = check_array(power, "power")
    if p.ndim != 2:
        raise ValueError(f"power must be 2D, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("power contains NaN or infinite values")
    r = check_number(exclude_radius, "exclude_radius", "a radius in pixels")
    if not np.isfinite(r) or r < 0:
        raise ValueError(
            f"exclude_radius must be a finite number >= 0, got {exclude_radius!r}"
        )
    ny, nx = p.shape
    yy, xx = np.ogrid[:ny, :nx]
    outside = (yy - ny // 2) ** 2 + (xx - nx // 2) ** 2 > r * r
    if not outside.any():
        raise ValueError(
            f"exclude_radius={exclude_radius} excludes every pixel of power "
            f"(shape {p.shape})"
        )
    vals = p[outside]  # a copy: its median may reorder it
    peak = float(vals.max())
    med = float(np.median(vals, overwrite_input=True))
    if med > 0:
        return peak / med
    return float("inf") if peak > 0 else 0.0


# ---------------------------------------------------------------------------
# nearest-point maps
# ---------------------------------------------------------------------------
_MAX_CANDIDATES = 256
_MAX_CELLS = 1024


@njit(cache=True, nogil=True, parallel=True)
def _nearest_tiles(sx, sy, sidx, start, grid, values, rc, tile, max_d, out, hard):
    """Nearest point of every pixel, tile by tile.

    The nearest point of every pixel of a tile with centre ``c`` and
    half-diagonal ``h`` lies within ``rc + 2 h`` of ``c``, where ``rc`` is
    the distance from ``c`` to its nearest point: those candidates are taken
    from the grid of cells (points ``sx, sy`` sorted by cell, cell ``i`` holds
    ``start[i]:start[i + 1]``) and compared exactly at each pixel (ties: the
    lowest index ``sidx``). Tiles with too many candidates are flagged in
    ``hard`` and left for a k-d tree.
    """
    ny, nx = out.shape
    nty, ntx = rc.shape
    gx0, gy0, g = grid[0], grid[1], grid[2]
    ncx = int(grid[3])
    ncy = int(grid[4])
    max_d2 = max_d * max_d
    for ty in prange(nty):
        cand_x = np.empty(_MAX_CANDIDATES)
        cand_y = np.empty(_MAX_CANDIDATES)
        cand_i = np.empty(_MAX_CANDIDATES, dtype=np.int64)
        r0 = ty * tile
        r1 = min(r0 + tile, ny)
        for tx in range(ntx):
            c0 = tx * tile
            c1 = min(c0 + tile, nx)
            cx = 0.5 * (c0 + c1 - 1)
            cy = 0.5 * (r0 + r1 - 1)
            h = 0.5 * np.sqrt((c1 - c0 - 1.0) ** 2 + (r1 - r0 - 1.0) ** 2)
            if rc[ty, tx] - h > max_d * (1.0 + 1e-9) + 1e-9:
                # every pixel of the tile is farther than max_d from all points
                for r in range(r0, r1):
                    for c in range(c0, c1):
                        out[r, c] = np.nan
                continue
            radius = (rc[ty, tx] + 2.0 * h) * (1.0 + 1e-9) + 1e-9
            rad2 = radius * radius
            i0 = max(int(np.floor((cx - radius - gx0) / g)), 0)
            i1 = min(int(np.floor((cx + radius - gx0) / g)), ncx - 1)
            j0 = max(int(np.floor((cy - radius - gy0) / g)), 0)
            j1 = min(int(np.floor((cy + radius - gy0) / g)), ncy - 1)
            if i1 < i0 or j1 < j0 or (i1 - i0 + 1) * (j1 - j0 + 1) > _MAX_CELLS:
                hard[ty, tx] = True
                continue
            nc = 0
            full = False
            for j in range(j0, j1 + 1):
                for k in range(start[j * ncx + i0], start[j * ncx + i1 + 1]):
                    dx = sx[k] - cx
                    dy = sy[k] - cy
                    if dx * dx + dy * dy <= rad2:
                        if nc == _MAX_CANDIDATES:
                            full = True
                            break
                        cand_x[nc] = sx[k]
                        cand_y[nc] = sy[k]
                        cand_i[nc] = sidx[k]
                        nc += 1
                if full:
                    break
            if full or nc == 0:
                hard[ty, tx] = True
                continue
            for r in range(r0, r1):
                for c in range(c0, c1):
                    best = np.inf
                    bi = -1
                    for m in range(nc):
                        dx = cand_x[m] - c
                        dy = cand_y[m] - r
                        d = dx * dx + dy * dy
                        if d < best or (d == best and cand_i[m] < bi):
                            best = d
                            bi = cand_i[m]
                    out[r, c] = values[bi] if best <= max_d2 else np.nan


def _nearest_tree(x, y, values, rows, cols, max_d):
    """Values at pixels (rows, cols) of their nearest points by k-d tree
    (duplicate points reduced to their lowest index; exact ties between
    distinct points go to the lowest index)."""
    pts, first = np.unique(np.column_stack([x, y]), axis=0, return_index=True)
    tree = cKDTree(pts)
    k = min(8, len(pts))
    q = np.column_stack([cols, rows]).astype(np.float64)
    _, j = kd_query(tree, q, k=k)
    j = j.reshape(len(q), k)
    d2 = (pts[j, 0] - q[:, :1]) ** 2 + (pts[j, 1] - q[:, 1:]) ** 2
    d2min = d2.min(axis=1)
    tied = d2 == d2min[:, None]
    best = np.where(tied, first[j], np.iinfo(np.intp).max).min(axis=1)
    if k < len(pts):
        # more than k equidistant points possible: look at all of them
        for i in np.flatnonzero(tied.all(axis=1)):
            near = tree.query_ball_point(q[i], np.sqrt(d2min[i]) * (1 + 1e-9))
            near = np.asarray(near, dtype=np.intp)
            dd = (pts[near, 0] - q[i, 0]) ** 2 + (pts[near, 1] - q[i, 1]) ** 2
            best[i] = first[near[dd == d2min[i]]].min()
    res = values[best]
    res[d2min > max_d * max_d] = np.nan
    return res


def rasterise_nearest(x, y, values, shape, max_distance=None):
    """Map of the value of the nearest point at every pixel (Voronoi map).

    Pixel ``[r, c]`` (centre at ``x = c``, ``y = r``) takes the value of the
    point nearest to its centre, exactly (squared distances compared in
    double precision); a pixel equidistant from several points takes the
    value of the one with the lowest index. Use it to draw any per-atom
    quantity (strain, cluster label, polarisation) as an image.

    The image is cut into tiles of about one point spacing. The distance
    from a tile's centre to its nearest point (k-d tree) bounds where the
    nearest points of all the tile's pixels can be; those few candidates,
    taken from a grid of cells, are compared at every pixel (compiled,
    parallel over rows of tiles). Tiles with too many candidates (far from
    strongly clustered points) fall back to a k-d tree query per pixel.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Finite point positions in pixels (x = column, y = row); points may
        lie outside the image.
    values : array_like, shape (n,)
        Value of each point; NaN values appear as NaN in the map.
    shape : (int, int)
        ``(ny, nx)`` of the map.
    max_distance : float or None, default None
        Pixels farther than this (in pixels) from every point are NaN;
        ``None``: no limit.

    Returns
    -------
    numpy.ndarray of float64, shape (ny, nx)
        The map.

    Examples
    --------
    >>> rasterise_nearest([0.0, 3.0], [0.0, 0.0], [1.0, 2.0], (1, 5)).tolist()
    [[1.0, 1.0, 2.0, 2.0, 2.0]]
    >>> rasterise_nearest([0.0], [0.0], [7.0], (1, 4), max_distance=2).tolist()
    [[7.0, 7.0, 7.0, nan]]
    """
    x, y = _coordinates(x, y)
    if x.size == 0:
        raise ValueError("x and y must hold at least one point")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite (no NaN positions)")
    try:
        values = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("values must be real numbers") from None
    if values.shape != x.shape:
        raise ValueError(
            f"values must have the shape of x {x.shape}, got {values.shape}"
        )
    ny, nx = _shape_arg(shape)
    if max_distance is None:
        max_d = np.inf
    else:
        max_d = check_number(max_distance, "max_distance", "a distance or None")
        if np.isnan(max_d) or max_d < 0:
            raise ValueError(f"max_distance must be >= 0 or None, got {max_distance!r}")
    n = x.size
    # tiles of about one point spacing, cells holding ~2 points each
    tile = int(np.clip(np.sqrt(ny * nx / n), 2, 32))
    gx0, gy0 = float(x.min()), float(y.min())
    w, h = float(x.max()) - gx0, float(y.max()) - gy0
    g = max(np.sqrt(2.0 * w * h / n), w / 2048, h / 2048, 1.0)
    ncx, ncy = int(w // g) + 1, int(h // g) + 1
    ix = np.minimum((x - gx0) // g, ncx - 1).astype(np.intp)
    iy = np.minimum((y - gy0) // g, ncy - 1).astype(np.intp)
    cell = iy * ncx + ix
    order = np.argsort(cell, kind="stable")
    start = np.zeros(ncy * ncx + 1, dtype=np.int64)
    np.cumsum(np.bincount(cell, minlength=ncy * ncx), out=start[1:])
    # distance from every tile centre to its nearest point
    tree = cKDTree(np.column_stack([x, y]))
    r0 = np.arange(0, ny, tile)
    c0 = np.arange(0, nx, tile)
    cy = 0.5 * (r0 + np.minimum(r0 + tile, ny) - 1)
    cx = 0.5 * (c0 + np.minimum(c0 + tile, nx) - 1)
    qy, qx = np.meshgrid(cy, cx, indexing="ij")
    rc = kd_query(tree, np.column_stack([qx.ravel(), qy.ravel()]))[0]
    rc = rc.reshape(qy.shape)
    out = np.empty((ny, nx))
    hard = np.zeros(rc.shape, dtype=np.bool_)
    grid = np.array([gx0, gy0, g, ncx, ncy], dtype=np.float64)
    _nearest_tiles(
        x[order], y[order], order, start, grid, values, rc, tile, max_d, out, hard
    )
    if hard.any():
        mask = np.repeat(np.repeat(hard, tile, axis=0), tile, axis=1)[:ny, :nx]
        rows, cols = np.nonzero(mask)
        out[rows, cols] = _nearest_tree(x, y, values, rows, cols, max_d)
    return out


# ---------------------------------------------------------------------------
# polarity of PCA modes
# ---------------------------------------------------------------------------
def mode_polarity(factor):
    """Net displacement of a PCA mode of neighbourhood vectors.

    Parameters
    ----------
    factor : array_like, shape (2 m,)
        A mode (PCA factor) of the stacked neighbour vectors, laid out as
        ``(dx1, dy1, dx2, dy2, ...)``.

    Returns
    -------
    dict
        ``vector_sum``: ``(sum dx_j, sum dy_j)``; ``polarity``:
        ``|sum v_j| / sum |v_j|`` in [0, 1] (1 for a uniform shift of all
        neighbours, 0 for a breathing or other centro-symmetric mode, 0 for
        an all-zero mode); ``polar``: ``polarity > 0.25`` (geometry only:
        whether a mode of the data is polar is decided against the noise by
        :func:`~hyperspy_localcryst.numerics.modes.polar_modes`).

    Examples
    --------
    >>> mode_polarity([1.0, 0.0, 1.0, 0.0])["polarity"]
    1.0
    >>> mode_polarity([1.0, 0.0, -1.0, 0.0])["polar"]
    False
    """
    f = check_array(factor, "factor")
    if f.ndim != 1 or f.size == 0 or f.size % 2:
        raise ValueError(
            "factor must be 1D with an even, non-zero length "
            f"(dx1, dy1, dx2, dy2, ...), got shape {f.shape}"
        )
    if not np.isfinite(f).all():
        raise ValueError("factor contains NaN or infinite values")
    v = f.reshape(-1, 2)
    s = v.sum(axis=0)
    total = float(np.hypot(v[:, 0], v[:, 1]).sum())
    polarity = float(np.hypot(s[0], s[1]) / total) if total > 0 else 0.0
    polarity = min(polarity, 1.0)
    return {
        "vector_sum": (float(s[0]), float(s[1])),
        "polarity": polarity,
        "polar": bool(polarity > 0.25),
    }


_FRAME_STATISTICS = ("mean", "median", "std", "min", "max", "count")


def _frame_index(values, name="frame", negative=False):
    """Integer indices (integral floats accepted) as int64, or a named error."""
    arr = check_array(values, name).ravel()
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise ValueError(f"`{name}` must hold integers, got {values!r:.60}.")
    if not negative and arr.size and arr.min() < 0:
        raise ValueError(f"`{name}` indices must be non-negative.")
    return arr.astype(np.int64)


def _n_frames(n_frames, per_frame=1):
    """``n_frames`` as an int >= 0 whose per-frame arrays fit in memory."""
    n = check_integer(n_frames, "n_frames", minimum=0)
    check_memory(8.0 * n * per_frame, "n_frames", n, f"{per_frame} value(s) per frame")
    return n


def frame_groups(frame, n_frames):
    """The atom indices of every frame of a stack, in one sort.

    Parameters
    ----------
    frame : array_like of int
        Flat frame index of each atom, ``0 <= frame < n_frames``.
    n_frames : int
        Number of frames.

    Returns
    -------
    list of numpy.ndarray
        ``n_frames`` index arrays (empty for frames without atoms), each in
        the atoms' input order.

    Examples
    --------
    >>> [g.tolist() for g in frame_groups([1, 0, 1], 3)]
    [[1], [0, 2], []]
    """
    frame = _frame_index(frame)
    n_frames = _n_frames(n_frames)
    if len(frame) and (frame.min() < 0 or frame.max() >= n_frames):
        raise ValueError(f"`frame` indices must lie in [0, {n_frames}).")
    order = np.argsort(frame, kind="stable")
    bounds = np.searchsorted(frame[order], np.arange(1, n_frames))
    return np.split(order, bounds)


def per_frame(frame, values, n_frames, statistic="mean"):
    """A statistic of per-atom values in every frame of a stack.

    Parameters
    ----------
    frame : array_like of int
        Flat frame index of each atom, ``0 <= frame < n_frames``.
    values : array_like
        Shape ``(n_atoms,)`` or ``(n_atoms, m)``. NaN values are ignored.
    n_frames : int
        Number of frames (frames without atoms give NaN, or 0 for "count").
    statistic : {"mean", "median", "std", "min", "max", "count"}
        ``"count"`` counts the finite values.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_frames, m)``.

    Examples
    --------
    >>> per_frame([0, 0, 2], [1.0, 3.0, 5.0], 3)
    array([[ 2.],
           [nan],
           [ 5.]])
    """
    if statistic not in _FRAME_STATISTICS:
        raise ValueError(
            f"Unknown `statistic` {statistic!r}; choose from {_FRAME_STATISTICS}."
        )
    frame = _frame_index(frame)
    v = check_array(values, "values")
    v = v.reshape(len(v), -1) if v.ndim else v.reshape(1, 1)
    if v.shape[0] != frame.shape[0]:
        raise ValueError(f"`values` has {v.shape[0]} rows for {len(frame)} atoms.")
    n_frames = _n_frames(n_frames, v.shape[1])
    groups = frame_groups(frame, n_frames)
    fill = 0.0 if statistic == "count" else np.nan
    out = np.full((n_frames, v.shape[1]), fill)
    func = {
        "mean": np.nanmean,
        "median": np.nanmedian,
        "std": np.nanstd,
        "min": np.nanmin,
        "max": np.nanmax,
    }.get(statistic)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames -> NaN
        for k, rows in enumerate(groups):
            if len(rows) == 0:
                continue
            block = v[rows]
            if statistic == "count":
                out[k] = np.isfinite(block).sum(axis=0)
            else:
                out[k] = func(block, axis=0)
    return out


def label_fractions(frame, labels, n_frames, n_labels=None):
    """Fraction of the atoms of each frame that carry each label.

    Parameters
    ----------
    frame : array_like of int
        Flat frame index of each atom.
    labels : array_like of int
        Label of each atom (e.g. cluster), ``0 <= label``; negative = none.
    n_frames : int
        Number of frames.
    n_labels : int, optional
        Number of labels (default ``max(labels) + 1``).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_frames, n_labels)``; rows sum to 1, NaN for empty frames.

    Examples
    --------
    >>> label_fractions([0, 0, 0, 1], [0, 1, 1, 1], 2)
    array([[0.33333333, 0.66666667],
           [0.        , 1.        ]])
    """
    frame = _frame_index(frame)
    labels = _frame_index(labels, "labels", negative=True)
    if labels.shape != frame.shape:
        raise ValueError(f"`labels` has {len(labels)} values for {len(frame)} atoms.")
    if n_labels is None:
        n_labels = int(labels.max()) + 1 if len(labels) else 0
    else:
        n_labels = check_integer(n_labels, "n_labels", minimum=0)
    check_memory(8.0 * n_labels, "n_labels", n_labels, "one count per label")
    n_frames = _n_frames(n_frames, max(n_labels, 1))
    if len(frame) and frame.max() >= n_frames:
        raise ValueError(f"`frame` indices must lie in [0, {n_frames}).")
    ok = (labels >= 0) & (labels < n_labels)
    counts = np.zeros((n_frames, n_labels))
    np.add.at(counts, (frame[ok], labels[ok]), 1.0)
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / total, np.nan)


# ---------------------------------------------------------------------------
# how many classes: splits the data and their noise support
# ---------------------------------------------------------------------------
@dataclass
class ClassCount:
    """Result of :func:`count_classes`.

    Attributes
    ----------
    n_classes : int
        Number of classes, sorted by size (class 0 is the largest).
    labels : numpy.ndarray of int, shape (n,)
        Class of every row; -1 for rows with non-finite values.
    centroids : numpy.ndarray, shape (n_classes, d)
        Mean of each class's inliers.
    outliers : numpy.ndarray of bool, shape (n,)
        Rows isolated in feature space (left out of the splitting, then given
        the class of the nearest centroid).
    splits : list of dict
        Every split tried, in order: ``n`` (rows), ``accepted``,
        ``separation`` (distance between the two modes along the split
        direction, in the units of ``X``), ``spread`` (the larger standard
        deviation of the two modes), ``noise`` (median measurement noise
        along that direction; NaN without ``noise``), ``dip`` (density
        between the modes over the lower mode's peak; 1 without a dip),
        ``null_dip`` and ``unimodal_dip`` (the deepest chance dips of the
        two null models; NaN when not reached), ``sizes`` (rows of each
        side) and ``reason``.
    reason : str
        One sentence saying why the number of classes is what it is.
    """

    n_classes: int
    labels: np.ndarray
    centroids: np.ndarray
    outliers: np.ndarray
    splits: list = field(default_factory=list)
    reason: str = ""


def _split_directions(X):
    """Unit vectors to test a split along: the first three principal axes
    and the 2-means direction (a class difference may lie across the largest
    spread, which 2-means would not follow)."""
    Xc = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    dirs = list(vt[: min(3, len(vt))])
    # 2-means (Lloyd) from the split across the first principal axis
    side = Xc @ vt[0] > 0
    for _ in range(30):
        if side.all() or not side.any():
            break
        c0, c1 = Xc[~side].mean(axis=0), Xc[side].mean(axis=0)
        new = ((Xc - c1) ** 2).sum(axis=1) < ((Xc - c0) ** 2).sum(axis=1)
        if (new == side).all():
            break
        side = new
    if side.any() and not side.all():
        dirs.append(Xc[side].mean(axis=0) - Xc[~side].mean(axis=0))
    out = []
    for u in dirs:
        norm = np.linalg.norm(u)
        if norm > 0 and np.isfinite(norm):
            out.append(u / norm)
    return out


@njit(cache=True, fastmath=True)
def _kde(grid, z, h):  # pragma: no cover - compiled
    """Unnormalised Gaussian kernel density of the values ``z`` (bandwidth
    ``h``) at each point of ``grid``."""
    out = np.zeros(grid.size)
    for k in range(grid.size):
        acc = 0.0
        for i in range(z.size):
            u = (grid[k] - z[i]) / h
            acc += np.exp(-0.5 * u * u)
        out[k] = acc
    return out


#: EM iterations per start of the two-Gaussian fits (on one-mode data EM
#: creeps; the means, which is what the dip uses, settle well before)
_EM_ITERATIONS = 60


@njit(cache=True, fastmath=True)
def _two_modes_column(z, floor):  # pragma: no cover - compiled
    """EM fit of two Gaussians to ``z`` (three starts: cuts at the median,
    the 20th and the 80th percentile; sds kept above ``floor``) and the
    data's kernel-density dip between the two means. Returns
    ``(mu0, mu1, sd0, sd1, w0, w1, dip, labels)``."""
    n = z.size
    q = np.sort(z)
    r0 = np.empty(n)
    best_ll = -np.inf
    bm0 = bm1 = 0.0
    bs0 = bs1 = 1.0
    bw0 = bw1 = 0.5
    for f in (0.5, 0.2, 0.8):
        cut = q[min(n - 1, int(f * (n - 1)))]
        s0 = s1 = 0.0
        c0 = c1 = 0
        for i in range(n):
            if z[i] > cut:
                s1 += z[i]
                c1 += 1
            else:
                s0 += z[i]
                c0 += 1
        if c0 == 0 or c1 == 0:
            continue
        m0, m1 = s0 / c0, s1 / c1
        sd0 = sd1 = 4.0 * floor
        w0, w1 = c0 / n, c1 / n
        for _ in range(_EM_ITERATIONS):
            r0s = r1s = r0z = r1z = 0.0
            for i in range(n):
                d0 = w0 / sd0 * np.exp(-0.5 * ((z[i] - m0) / sd0) ** 2)
                d1 = w1 / sd1 * np.exp(-0.5 * ((z[i] - m1) / sd1) ** 2)
                t = d0 + d1
                a0 = d0 / t if t > 1e-300 else 0.5
                r0[i] = a0
                r0s += a0
                r1s += 1.0 - a0
                r0z += a0 * z[i]
                r1z += (1.0 - a0) * z[i]
            r0s = max(r0s, 1e-12)
            r1s = max(r1s, 1e-12)
            n0, n1 = r0z / r0s, r1z / r1s
            v0 = v1 = 0.0
            for i in range(n):
                v0 += r0[i] * (z[i] - n0) ** 2
                v1 += (1.0 - r0[i]) * (z[i] - n1) ** 2
            sd0 = max(np.sqrt(v0 / r0s), floor)
            sd1 = max(np.sqrt(v1 / r1s), floor)
            w0, w1 = r0s / n, r1s / n
            moved = max(abs(n0 - m0), abs(n1 - m1))
            m0, m1 = n0, n1
            if moved < 1e-5:  # of the span: far below any dip's resolution
                break
        ll = 0.0
        for i in range(n):
            d0 = w0 / sd0 * np.exp(-0.5 * ((z[i] - m0) / sd0) ** 2)
            d1 = w1 / sd1 * np.exp(-0.5 * ((z[i] - m1) / sd1) ** 2)
            ll += np.log(max(d0 + d1, 1e-300))
        if ll > best_ll:
            best_ll = ll
            bm0, bm1, bs0, bs1, bw0, bw1 = m0, m1, sd0, sd1, w0, w1
    labels = np.zeros(n, dtype=np.int64)
    for i in range(n):
        d0 = bw0 / bs0 * np.exp(-0.5 * ((z[i] - bm0) / bs0) ** 2)
        d1 = bw1 / bs1 * np.exp(-0.5 * ((z[i] - bm1) / bs1) ** 2)
        labels[i] = 1 if d1 > d0 else 0
    # the dip is read from the data, not from the fitted mixture (two
    # Gaussians fitted to a flat-topped cloud, e.g. a slow gradient, have a
    # dip the data do not): a kernel density estimate with Silverman's
    # bandwidth for the components' width, its lowest value between the two
    # means over the lower of its highest values on either side
    lo, hi = min(bm0, bm1), max(bm0, bm1)
    if not hi > lo:
        return bm0, bm1, bs0, bs1, bw0, bw1, 1.0, labels
    h = max(1.06 * (bw0 * bs0 + bw1 * bs1) * n**-0.2, 1e-12)
    ng = 201
    kde = _kde(lo + (hi - lo) * (-0.5 + 2.0 * np.arange(ng) / (ng - 1)), z, h)
    vi = 50
    for k in range(50, 151):
        if kde[k] < kde[vi]:
            vi = k
    left = kde[: vi + 1].max()
    right = kde[vi:].max()
    low = min(left, right)
    dip = kde[vi] / low if low > 0 else 1.0
    return bm0, bm1, bs0, bs1, bw0, bw1, min(dip, 1.0), labels


def _two_modes(P):
    """Two Gaussians fitted by EM to each column of ``P`` (n, m), with the
    data's dip between them (:func:`_two_modes_column`).

    Returns ``(means, sds, weights, dip, labels)`` with shapes (m, 2),
    (m, 2), (m, 2), (m,) and (n, m); ``dip`` is the data's density (a
    kernel estimate) at its lowest between the two means over the lower of
    its peaks on either side (1: no dip, and for a constant column).
    """
    n, m = P.shape
    mu, sd, w = np.zeros((m, 2)), np.ones((m, 2)), np.full((m, 2), 0.5)
    dip = np.ones(m)
    labels = np.zeros((n, m), dtype=np.int64)
    for j in range(m):
        p = np.ascontiguousarray(P[:, j], dtype=np.float64)
        span = float(np.ptp(p))
        if not span > 0:
            continue
        z = (p - p.mean()) / span  # scale-free fit
        # a component may not shrink onto a few rows (a singular fit whose
        # narrow peak would fake a dip): its sd stays above 30 % of the sd
        floor = max(0.3 * float(z.std()), 1e-12)
        m0, m1, s0, s1, w0, w1, d, lab = _two_modes_column(z, floor)
        mu[j] = (m0 * span, m1 * span)
        sd[j] = (s0 * span, s1 * span)
        w[j] = (w0, w1)
        dip[j] = d
        labels[:, j] = lab
    return mu, sd, w, dip, labels


def _best_split(X, min_size):
    """The direction (of :func:`_split_directions`) with the deepest dip whose
    two sides hold at least ``min_size`` rows each (a fit onto a few rows is
    a narrow peak that fakes a dip)."""
    dirs = _split_directions(X)
    if not dirs:
        return None
    U = np.array(dirs)
    mu, sd, _, dip, lab = _two_modes(X @ U.T)
    small = np.array(
        [np.bincount(lab[:, j], minlength=2).min() < min_size for j in range(len(U))]
    )
    dip = np.where(small, 1.0, dip)
    sep = np.abs(mu[:, 1] - mu[:, 0]) / sd.max(axis=1)
    j = int(np.lexsort((-sep, dip))[0])
    return (None, U[j], mu[j], sd[j], float(dip[j]), lab[:, j])


def _null_dip(X, n_null, n_draws, min_size, rng, stop=0.0):
    """Deepest dip :func:`_best_split` finds in Gaussian data with the
    covariance of ``X`` (``n_draws`` draws of ``n_null`` rows each; stops
    early once a draw reaches ``stop``)."""
    Xc = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(Xc, full_matrices=False)
    root = (s / np.sqrt(len(X)))[:, None] * vt
    lowest = 1.0
    for _ in range(n_draws):
        z = rng.standard_normal((n_null, len(s))) @ root
        b = _best_split(z, min_size)
        lowest = min(lowest, 1.0 if b is None else b[4])
        if lowest <= stop:  # already as deep as the observed dip
            break
    return float(lowest)


def _n_modes(p, h, grid):
    """Number of local maxima of the Gaussian kernel density of ``p``."""
    f = _kde(grid, np.ascontiguousarray(p, dtype=np.float64), float(h))
    d = np.diff(f)
    return int(((d[:-1] > 0) & (d[1:] <= 0)).sum())


def _unimodal_dip(p, n_draws, min_size, rng, stop=0.0):
    """Deepest dip :func:`_two_modes` finds in samples of the closest
    unimodal smoothing of ``p`` (Silverman's critical-bandwidth bootstrap:
    the smallest kernel width whose density has one mode, resampled with
    the variance kept). It follows the shape of the data, so a flat-topped
    cloud (a slow gradient across the image) is not taken for two classes.
    """
    sd = float(p.std())
    if sd == 0:
        return 1.0
    grid = np.linspace(p.min() - sd, p.max() + sd, 400)
    lo, hi = 1e-3 * sd, 2.0 * sd
    if _n_modes(p, hi, grid) > 1:  # cannot happen for a kernel this wide,
        hi = float(np.ptp(p))  # but stay safe
    for _ in range(20):
        mid = np.sqrt(lo * hi)
        if _n_modes(p, mid, grid) > 1:
            lo = mid
        else:
            hi = mid
    h = hi
    shrink = 1.0 / np.sqrt(1.0 + h * h / (sd * sd))
    m = p.mean()
    lowest = 1.0
    for _ in range(n_draws):
        y = p[rng.integers(0, len(p), len(p))] + h * rng.standard_normal(len(p))
        y = m + (y - m) * shrink
        _, _, _, dip, lab = _two_modes(y[:, None])
        if np.bincount(lab[:, 0], minlength=2).min() >= min_size:
            lowest = min(lowest, float(dip[0]))
        if lowest <= stop:
            break
    return lowest


def _try_split(X, noise, rows, min_size, max_dip, n_sigma, rng, open_shell=None):
    """Best split of ``X[rows]`` (deepest dip) and whether it is accepted."""
    Xg = X[rows]
    b = _best_split(Xg, min_size)
    if b is None:
        return {"n": int(len(rows)), "accepted": False, "reason": "all rows equal"}
    _, u, mu, sd, dip, lab = b
    sizes = np.bincount(lab, minlength=2)
    nz = (
        float(np.median(np.sqrt((noise[rows] ** 2) @ (u**2))))
        if noise is not None
        else float("nan")
    )
    best = {
        "n": int(len(rows)),
        "separation": float(abs(mu[1] - mu[0])),
        "spread": float(sd.max()),
        "noise": nz,
        "dip": float(dip),
        "null_dip": float("nan"),
        "unimodal_dip": float("nan"),
        "sizes": [int(s) for s in sizes],
        "_labels": lab,
    }
    reason = ""
    cut = (
        [float(open_shell[rows][lab == g].mean()) for g in (0, 1)]
        if open_shell is not None and min(best["sizes"]) > 0
        else [0.0, 0.0]
    )
    if min(best["sizes"]) < min_size:
        reason = f"a side would hold {min(best['sizes'])} rows (< {min_size})"
    elif min(cut) > 0.5:
        reason = (
            f"both sides cut a shell of neighbours ({cut[0]:.0%} and "
            f"{cut[1]:.0%} of their neighbourhoods end within 5 % of the next "
            "neighbour): they differ in which members of the shell they keep, "
            "not in their site"
        )
    elif best["dip"] > max_dip:
        reason = (
            f"one mode: the density between the two candidate classes only "
            f"falls to {best['dip']:.2f} of its lower peak (needs <= {max_dip})"
        )
    elif np.isfinite(nz) and best["separation"] < n_sigma * nz:
        reason = (
            f"the classes are {best['separation']:.3g} apart, within "
            f"{n_sigma:g} x the measurement noise {nz:.3g}"
        )
    else:
        # as deep a dip as one Gaussian cloud of this size and shape shows
        # by chance (49 draws: p < 0.02 per split) is no evidence of two
        # classes
        best["null_dip"] = _null_dip(
            Xg, min(len(rows), 500), 49, min_size, rng, stop=best["dip"]
        )
        if best["dip"] >= best["null_dip"]:
            reason = (
                f"the dip {best['dip']:.2f} is no deeper than one Gaussian cloud "
                f"of {len(rows)} rows shows by chance ({best['null_dip']:.2f})"
            )
        else:
            # ... nor than a one-mode cloud of the data's own shape
            proj = Xg @ u
            if len(proj) > 500:  # fewer rows: a noisier null, conservative
                proj = rng.choice(proj, 500, replace=False)
            best["unimodal_dip"] = _unimodal_dip(
                proj, 49, min_size, rng, stop=best["dip"]
            )
            if best["dip"] >= best["unimodal_dip"]:
                reason = (
                    f"the dip {best['dip']:.2f} is no deeper than a one-mode "
                    f"smoothing of the same {len(rows)} rows shows by chance "
                    f"({best['unimodal_dip']:.2f})"
                )
    best["accepted"] = reason == ""
    best["reason"] = reason or (
        f"two modes {best['separation']:.3g} apart (dip {best['dip']:.2f}"
        + (
            f", {best['separation'] / nz:.0f} x the measurement noise)"
            if np.isfinite(nz) and nz > 0
            else ")"
        )
    )
    return best


def isolated_rows(X, factor=5.0):
    """Rows isolated in feature space: neighbourhoods at defects and edges.

    A row is isolated when the distance to its 5th nearest other row is more
    than ``factor`` times the median of that distance over all rows (with 6
    rows or fewer, or a zero median, none is). :func:`count_classes` leaves
    such rows out of its splits; a dendrogram leaves them out for the same
    reason: a handful of them, far from everything, would otherwise make the
    top merges of a Ward tree.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Finite feature vectors.
    factor : float
        Isolation threshold, in units of the median 5th-neighbour distance
        (> 0).

    Returns
    -------
    numpy.ndarray of bool, shape (n,)

    Examples
    --------
    >>> X = np.r_[np.random.default_rng(0).uniform(0, 1, (300, 2)), [[3.0, 0.5]]]
    >>> np.flatnonzero(isolated_rows(X)).tolist()
    [300]
    """
    X = check_array(X, "X", ndim=2, finite=True)
    factor = check_number(factor, "factor", "a number")
    if not factor > 0:
        raise ValueError(f"`factor` must be > 0, got {factor!r}.")
    out = np.zeros(len(X), dtype=bool)
    if len(X) > 6:
        dk = kd_query(cKDTree(X), X, 6)[0][:, -1]
        scale = np.median(dk)
        if scale > 0:
            out = dk > factor * scale
    return out


def count_classes(
    X,
    noise=None,
    max_classes=8,
    min_size=10,
    max_dip=0.7,
    n_sigma=3.0,
    outlier_factor=5.0,
    seed=0,
    open_shell=None,
):
    """Split rows into classes only where the data are bimodal beyond noise.

    A divisive search: starting from all rows, the largest class is split in
    two when, along the best of a few directions (the first three principal
    axes and the 2-means direction), all of these hold:

    * the rows' own density (a kernel estimate) has a clear dip between the
      two means of a two-Gaussian fit: at most ``max_dip`` of the lower of
      its peaks on either side, with at least ``min_size`` rows per side;
    * the dip is deeper than any of 49 Gaussian clouds of the same size and
      covariance shows along its best direction (p < 0.02: the search over
      directions finds dips in noise too);
    * it is deeper than any of 49 samples of the closest one-mode smoothing
      of the projected rows (Silverman's critical-bandwidth bootstrap), so
      that a flat-topped cloud, e.g. a slow gradient across the image, is
      not taken for two classes;
    * the two modes lie farther apart than ``n_sigma`` times the
      measurement noise along that direction (when ``noise`` is given);
    * with ``open_shell``, not most rows of both sides are open: two groups
      of neighbourhoods that each cut a shell (a square lattice's 4 second
      neighbours, of which k = 6 keeps 2) differ in which members of the
      shell noise made them keep, not in their site.

    A class that fails is final; the search stops at ``max_classes``. One
    class is a possible answer: a unimodal cloud (one crystal site, whatever
    its scatter) is not split (about 2 % of single Gaussian clouds of 60 to
    1,000 rows are, by the p-value above). Rows isolated in feature space
    (distance to their 5th nearest row above ``outlier_factor`` times the
    median; e.g. neighbourhoods at defects and edges) take no part in the
    splitting and join the nearest class afterwards. A final k-means pass
    from the classes found polishes the labels.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Feature vectors (e.g. neighbour vectors). Rows with non-finite
        values get label -1.
    noise : array_like, shape (n, d), optional
        Standard deviation of each value from measurement noise (e.g.
        propagated position errors), in the units of ``X``.
    max_classes : int
        Most classes returned.
    min_size : int
        Fewest rows a class may hold.
    max_dip : float
        Largest allowed ratio of the density between two modes to the lower
        mode's peak (0 < max_dip < 1).
    n_sigma : float
        Least separation of two classes, in units of the measurement noise.
    outlier_factor : float
        Isolation threshold, in units of the median 5th-neighbour distance.
    seed : int
        Seed of k-means and the Gaussian fits.
    open_shell : array_like of bool, shape (n,), optional
        Rows whose neighbourhood cuts a shell (see
        :func:`~hyperspy_localcryst.numerics.neighbourhoods.open_shell`).

    Returns
    -------
    ClassCount

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> one = rng.normal(0, 1, (400, 4))
    >>> count_classes(one).n_classes
    1
    >>> two = np.r_[one, rng.normal(0, 1, (200, 4)) + [8, 0, 0, 0]]
    >>> r = count_classes(two)
    >>> r.n_classes, np.bincount(r.labels).tolist()
    (2, [400, 200])
    """
    X = check_array(X, "X", ndim=2)
    n, d = X.shape
    max_classes = check_integer(max_classes, "max_classes", minimum=1)
    min_size = check_integer(min_size, "min_size", minimum=1)
    max_dip = check_number(max_dip, "max_dip", "a ratio")
    if not 0 < max_dip < 1:
        raise ValueError(f"`max_dip` must lie between 0 and 1, got {max_dip!r}.")
    n_sigma = check_number(n_sigma, "n_sigma", "a number")
    outlier_factor = check_number(outlier_factor, "outlier_factor", "a number")
    if not (n_sigma >= 0 and outlier_factor > 0):
        raise ValueError(
            "`n_sigma` must be >= 0 and `outlier_factor` > 0, got "
            f"{n_sigma!r} and {outlier_factor!r}."
        )
    rng = np.random.default_rng(_seed(seed))
    if open_shell is not None:
        open_shell = np.asarray(open_shell)
        if open_shell.shape != (n,) or open_shell.dtype != bool:
            raise ValueError(
                f"`open_shell` must be {n} booleans (one per row), got "
                f"{open_shell.dtype} of shape {open_shell.shape}."
            )
    if noise is not None:
        noise = check_array(noise, "noise", ndim=2)
        if noise.shape != X.shape:
            raise ValueError(
                f"`noise` must have the shape of `X` {X.shape}, got {noise.shape}."
            )
        noise = np.where(np.isfinite(noise), np.abs(noise), np.nan)
        if not np.isfinite(noise).any():
            noise = None
        else:
            noise = np.where(np.isfinite(noise), noise, np.nanmedian(noise))
    labels = np.full(n, -1, dtype=np.int64)
    finite = np.flatnonzero(np.isfinite(X).all(axis=1))
    outliers = np.zeros(n, dtype=bool)
    if len(finite) == 0:
        raise ValueError("`X` has no row of finite values.")
    outliers[finite] = isolated_rows(X[finite], outlier_factor)
    inliers = finite[~outliers[finite]]
    splits = []
    final, queue = [], [inliers]
    while queue and len(final) + len(queue) < max_classes:
        queue.sort(key=len)
        rows = queue.pop()  # the largest class first
        if len(rows) < 2 * min_size:
            final.append(rows)
            continue
        s = _try_split(X, noise, rows, min_size, max_dip, n_sigma, rng, open_shell)
        lab = s.pop("_labels", None)
        splits.append(s)
        if s["accepted"]:
            queue += [rows[lab == 0], rows[lab == 1]]
        else:
            final.append(rows)
    groups = final + queue
    centroids = np.array([X[g].mean(axis=0) for g in groups])
    if len(groups) > 1:
        from sklearn.cluster import KMeans

        km = KMeans(len(groups), init=centroids, n_init=1, random_state=0)
        km = km.fit(X[inliers])
        centroids = km.cluster_centers_
    near = kd_query(cKDTree(centroids), X[finite])[1]
    sizes = np.bincount(near, minlength=len(groups))
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    labels[finite] = rank[near]
    centroids = centroids[order]
    k = len(groups)
    made = [s for s in splits if s["accepted"]]
    refused = [s for s in splits if not s["accepted"]]
    if k == 1:
        why = refused[0]["reason"] if refused else "too few rows to split"
        reason = f"1 class: {why}."
    else:
        reason = f"{k} classes: {len(made)} split(s) with " + "; ".join(
            s["reason"] for s in made
        )
        reason += (
            "; stopped at `max_classes`."
            if not refused
            else f"; no further split ({refused[-1]['reason']})."
        )
    if outliers.any():
        reason += f" {int(outliers.sum())} isolated row(s) joined the nearest class."
    return ClassCount(k, labels, centroids, outliers, splits, reason)
