"""How many classes the neighbourhoods support: :func:`count_classes` splits
the rows while a split stands out of what the position noise could make
(:class:`ClassCount` gives the count with its reasons), leaving out the rows
isolated in feature space (:func:`isolated_rows`: defects and edges).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit
from scipy.spatial import cKDTree

from ._checks import (
    check_array,
    check_integer,
    check_number,
)
from ._parallel import kd_query
from .clustering import _seed

__all__ = [
    "count_classes",
    "isolated_rows",
    "ClassCount",
]


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
