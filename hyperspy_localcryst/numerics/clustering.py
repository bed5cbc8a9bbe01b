"""Clustering of per-atom descriptors: :class:`KMedians`, the k-means variant
of Belianinov et al., Nat. Commun. 6, 7801 (2015) (component-wise median
centroids), and hierarchical clustering of a subsample
(:func:`linkage_sample`, :func:`cut_linkage`, :func:`linkage_threshold`).

Nothing here imports HyperSpy; bad input raises :class:`ValueError` naming the
argument.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit, prange
from scipy.cluster import hierarchy
from sklearn.base import BaseEstimator, ClusterMixin

from ._checks import (
    check_array,
    check_integer,
    check_memory,
    check_number,
)

__all__ = [
    "KMedians",
    "linkage_sample",
    "cut_linkage",
    "linkage_threshold",
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
