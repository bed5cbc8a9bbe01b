"""The translations of a crystal from its atoms, without a lattice model: each
atom's intensity relative to the atoms around it (:func:`local_normalise`,
which removes slow gradients of thickness or height), and the neighbour
displacements that take almost every atom onto another of similar normalised
intensity (:func:`find_translations`), the cell that
:func:`.sublattices.label_sublattices` builds its sites from.

Everything is in pixels (x = column, y = row) and never imports HyperSpy.
"""

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ._checks import check_array, check_integer, check_number
from ._parallel import kd_query, nearest_distances

__all__ = ["local_normalise", "find_translations"]


def _positions(x, y, intensity=None):
    x = check_array(x, "x", ndim=1, finite=True)
    y = check_array(y, "y", ndim=1, finite=True)
    if x.shape != y.shape:
        raise ValueError(
            f"`x` and `y` must have the same length, got {x.size} and {y.size}."
        )
    xy = np.column_stack([x, y])
    if intensity is None:
        return xy
    v = check_array(intensity, "intensity", ndim=1)
    if v.shape != x.shape:
        raise ValueError(
            f"`intensity` needs one value per atom ({x.size}), got {v.size}."
        )
    if np.any(np.isinf(v)):
        raise ValueError("`intensity` contains infinite values (NaN = unknown).")
    if v.size and not np.isfinite(v).any():
        raise ValueError("`intensity` has no finite value.")
    return xy, v


class _Tree(cKDTree):
    """The atoms' k-d tree, remembering its k-nearest-neighbour tables: the
    candidate cells ask for the same ones many times (on all cores)."""

    def __init__(self, xy):
        super().__init__(xy)
        self._knn = {}

    def neighbours(self, k):
        """Indices of each atom's ``k`` nearest atoms (itself first)."""
        if k not in self._knn:
            self._knn[k] = kd_query(self, self.data, k=k)[1]
        return self._knn[k]


def _nn_distance(tree, xy):
    d = nearest_distances(xy, tree)
    d0 = float(np.median(d[d > 0])) if np.any(d > 0) else 0.0
    if not d0 > 0:
        raise ValueError("The atoms coincide: no neighbour distance to work with.")
    return d0


def local_normalise(x, y, intensity, n_neighbours=24):
    """Intensity relative to the atoms around each atom.

    A plane ``c0 + c1 dx + c2 dy`` is fitted (least squares) to the
    intensities of the atom and its ``n_neighbours`` nearest atoms; with the
    residuals ``r`` of that window, ``q = (r_i - M) / IQR`` (``M``: the
    midpoint of the quartiles of ``r``). A slow gradient of thickness, focus
    or height (additive or multiplicative, even one larger than the contrast
    between neighbours) does not change ``q``.

    Parameters
    ----------
    x, y : array_like
        Positions (pixels).
    intensity : array_like
        One value per atom (amplitude, integrated intensity, peak, height);
        NaN where unknown (NaN in the result, ignored in the windows).
    n_neighbours : int, default 24
        Atoms of the local window (about three neighbour distances).

    Returns
    -------
    numpy.ndarray
        Locally normalised intensity, 0 midway between the local quartiles.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:10, 0:12].reshape(2, -1).astype(float)
    >>> bright = (xx + yy) % 2 == 0
    >>> raw = 5.0 * xx + np.where(bright, 1.0, 0.0)  # steep ramp along x
    >>> q = local_normalise(xx, yy, raw)
    >>> bool(np.all(q[bright] > q[~bright].max()))
    True
    """
    xy, v = _positions(x, y, intensity)
    k = check_integer(n_neighbours, "n_neighbours", minimum=2)
    n = len(v)
    if n < 3:
        return np.zeros(n)
    k = min(k + 1, n)
    _, idx = kd_query(cKDTree(xy), xy, k=k)
    vals = v[idx]
    known = np.isfinite(vals)
    w = known.astype(float)
    d = xy[idx] - xy[:, None, :]
    scale_xy = max(float(np.abs(d).max()), 1e-12)
    design = np.concatenate([np.ones((n, k, 1)), d / scale_xy], axis=2)  # (n,k,3)
    a = np.einsum("nk,nki,nkj->nij", w, design, design)
    a += 1e-9 * np.eye(3)  # collinear windows (one row of atoms): no slope
    b = np.einsum("nk,nki,nk->ni", w, design, np.where(known, vals, 0.0))
    coef = np.linalg.solve(a, b[..., None])[..., 0]
    res = vals - np.einsum("nki,ni->nk", design, coef)
    res = np.where(known, res, np.nan)
    lo, hi = _row_quantiles(res, (0.25, 0.75))
    med = 0.5 * (lo + hi)  # midhinge: between the types, even in a 13:12 window
    scale = hi - lo
    g_lo, g_hi = np.nanpercentile(v, [25, 75])
    floor = max(1e-3 * (g_hi - g_lo), 1e-12 * max(np.nanmax(np.abs(v)), 1e-300))
    scale = np.maximum(np.nan_to_num(scale), floor if floor > 0 else 1.0)
    return (res[:, 0] - med) / scale


def _row_nanmedian(a):
    """``np.nanmedian(a, axis=1)`` of an (n, k, ...) array, vectorised
    (numpy's takes a slow path for a short axis with NaN): the same values,
    NaN where a row has none."""
    a = np.sort(a, axis=1)  # NaN last
    count = np.isfinite(a).sum(axis=1, keepdims=True)
    lo = np.maximum((count - 1) // 2, 0)
    vlo = np.take_along_axis(a, lo, axis=1)[:, 0]
    vhi = np.take_along_axis(a, np.maximum(count // 2, lo), axis=1)[:, 0]
    return np.where(count[:, 0] > 0, (vlo + vhi) / 2, np.nan)


def _row_quantiles(a, qs):
    """Quantiles of each row ignoring NaN (linear interpolation), vectorised."""
    a = np.sort(a, axis=1)  # NaN last
    count = np.isfinite(a).sum(axis=1)
    out = []
    for q in qs:
        pos = np.maximum(count - 1, 0) * q
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
        w = pos - lo
        vlo = np.take_along_axis(a, lo[:, None], axis=1)[:, 0]
        vhi = np.take_along_axis(a, hi[:, None], axis=1)[:, 0]
        val = vlo + w * (vhi - vlo)
        out.append(np.where(count > 0, val, np.nan))
    return out


def _candidate_vectors(xy, tree, d0, r_max):
    """Neighbour displacement vectors shared by many atoms (one of each ±)."""
    n = len(xy)
    sample = np.linspace(0, n - 1, min(n, 4000)).astype(np.int64)
    k = min(n, 96)  # every neighbour within 4.6 d0 of a hexagonal packing
    dist, idx = kd_query(tree, xy[sample], k=k)
    disp = (xy[idx[:, 1:]] - xy[sample][:, None, :]).reshape(-1, 2)
    r = np.hypot(disp[:, 0], disp[:, 1])
    disp = disp[(r > 0.5 * d0) & (r <= r_max)]
    # one half plane: v and -v are the same candidate
    flip = (disp[:, 1] < 0) | ((disp[:, 1] == 0) & (disp[:, 0] < 0))
    disp[flip] *= -1
    h = d0 / 8.0
    nb = int(np.ceil(r_max / h))
    edges_x = np.arange(-nb, nb + 1) * h - 0.5 * h
    edges_y = np.arange(-1, nb + 1) * h - 0.5 * h
    hist, _, _ = np.histogram2d(disp[:, 0], disp[:, 1], [edges_x, edges_y])
    sm = ndimage.gaussian_filter(hist, 1.0)
    peaks = (sm == ndimage.maximum_filter(sm, size=5)) & (sm > 0)
    px, py = np.nonzero(peaks)
    cand = np.column_stack([edges_x[px] + 0.5 * h, edges_y[py] + 0.5 * h])
    dtree = cKDTree(disp)
    out, counts = [], []
    for c in cand[np.argsort(-sm[px, py])]:
        for _ in range(3):  # mean shift
            members = dtree.query_ball_point(c, 0.3 * d0)
            if not members:
                break
            c = disp[members].mean(axis=0)
        if len(members) < 0.15 * len(sample):
            continue
        if out and np.min(np.hypot(*(np.array(out) - c).T)) < 0.3 * d0:
            continue
        out.append(c)
        counts.append(len(members))
    if not out:
        return np.empty((0, 2))
    out = np.array(out)
    return out[np.argsort(np.hypot(out[:, 0], out[:, 1]))]


def _match(xy, tree, targets, tol):
    """Nearest atom to each target within ``tol`` (index, -1 if none)."""
    dist, j = kd_query(tree, targets, distance_upper_bound=tol)
    j = np.where(np.isfinite(dist), j, -1)
    return j


def _inside(tree, points, d0):
    """Points with atoms around them (inside the crystal, not beyond an edge)."""
    k = min(3, tree.n)
    d, _ = kd_query(tree, points, k=k)
    d = d.reshape(len(points), -1)
    return d[:, -1] < 1.6 * d0


def find_translations(x, y, intensity, tolerance=0.3, min_fraction=0.6):
    """Lattice translations of a coloured point pattern.

    A candidate vector (a peak of the neighbour displacement histogram) is a
    translation when it takes at least ``min_fraction`` of the atoms onto an
    atom and the locally normalised intensities at both ends are positively
    correlated (at least half the largest correlation of all candidates, or
    within 3 standard errors of it): a vector from an A to a B site matches
    geometrically but pairs a bright with a dim column. The intensity is
    used only when the largest correlation is significant: at least 3
    standard errors (``1 / sqrt(pairs)``) and 0.1; otherwise every
    candidate that matches geometrically is a translation.

    Parameters
    ----------
    x, y : array_like
        Positions (pixels).
    intensity : array_like
        Locally normalised intensities (:func:`local_normalise`).
    tolerance : float, default 0.3
        Match radius in units of the median nearest-neighbour distance.
    min_fraction : float, default 0.6
        Fraction of atoms (whose target lies inside the crystal) that must
        find an atom there (a vector between two of three sites of a cell
        serves a third of them).

    Returns
    -------
    dict
        ``"a1"``, ``"a2"``: reduced primitive vectors (pixels; NaN if not
        found); ``"candidates"``, ``"fraction"``, ``"correlation"``,
        ``"is_translation"``: every candidate and its scores;
        ``"nn_distance"``: median nearest-neighbour distance.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:20, 0:24].reshape(2, -1) * 10.0
    >>> bright = ((xx + yy) / 10) % 2 == 0  # checkerboard: cell 20 px, 45 deg
    >>> noise = np.random.default_rng(0).normal(0, 0.3, xx.size)
    >>> q = np.where(bright, 1.0, -1.0) + noise
    >>> t = find_translations(xx, yy, q)
    >>> sorted(np.round(np.abs(np.r_[t["a1"], t["a2"]])).tolist())
    [10.0, 10.0, 10.0, 10.0]
    """
    xy, q = _positions(x, y, intensity)
    tolerance = check_number(tolerance, "tolerance")
    min_fraction = check_number(min_fraction, "min_fraction")
    tree = _Tree(xy)
    d0 = _nn_distance(tree, xy)
    # cells up to 4.6 nearest-neighbour distances: the 12 adatoms of
    # Si(111)-7x7 repeat at 4.0
    cand = _candidate_vectors(xy, tree, d0, 4.6 * d0)
    frac = np.zeros(len(cand))
    corr = np.zeros(len(cand))
    pairs = np.zeros(len(cand))
    scored = np.linspace(0, len(xy) - 1, min(len(xy), 6000)).astype(np.int64)
    scored = np.unique(scored)
    # columns cut by the image edge have biased intensities: they take no
    # part in the correlations (their positions still count)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    cut = np.any((xy - lo < 0.5 * d0) | (hi - xy < 0.5 * d0), axis=1)
    q = np.where(cut, np.nan, q) if (~cut).sum() > 10 else q
    for m, v in enumerate(cand):
        inside = scored[_inside(tree, xy[scored] + v, d0)]
        if len(inside) < 3:
            continue
        j = _match(xy, tree, xy[inside] + v, tolerance * d0)
        ok = j >= 0
        frac[m] = ok.mean()
        qa, qb = q[inside[ok]], q[j[ok]]
        known = np.isfinite(qa) & np.isfinite(qb)
        qa, qb = qa[known], qb[known]
        if len(qa) > 2 and np.std(qa) > 0 and np.std(qb) > 0:
            corr[m] = np.corrcoef(qa, qb)[0, 1]
            pairs[m] = len(qa)
    geometric = frac >= min_fraction
    # standard error of a correlation near 0 from `pairs` pairs
    se = 1.0 / np.sqrt(np.maximum(pairs, 1))
    is_t = geometric  # unless intensity says something about sites
    if geometric.any():
        best = np.argmax(np.where(geometric, corr, -np.inf))
        r_max = corr[best]
        if r_max >= max(0.1, 3 * se[best]):
            # a translation correlates as well as the best one, up to noise;
            # a vector between sites pairs bright with dim (r near -r_max)
            is_t = geometric & ((corr >= 0.5 * r_max) | (corr >= r_max - 3 * se))
    a1 = a2 = np.full(2, np.nan)
    tv = cand[is_t]
    if len(tv):
        a1 = tv[0]
        for v in tv[1:]:
            s = abs(a1[0] * v[1] - a1[1] * v[0]) / (np.hypot(*a1) * np.hypot(*v))
            if s > 0.3:
                a2 = v - np.round(np.dot(v, a1) / np.dot(a1, a1)) * a1
                break
    return {
        "a1": np.asarray(a1, float),
        "a2": np.asarray(a2, float),
        "candidates": cand,
        "fraction": frac,
        "correlation": corr,
        "is_translation": is_t,
        "nn_distance": d0,
        "min_fraction": min_fraction,
    }


def _local_vectors(xy, tree, vec, d0, tol):
    """``vec`` adapted to each atom: median of matched displacements nearby."""
    j = _match(xy, tree, xy + vec, tol * d0)
    ok = j >= 0
    disp = np.where(ok[:, None], xy[np.maximum(j, 0)] - xy, np.nan)
    loc = _row_nanmedian(disp[tree.neighbours(min(len(xy), 13))])
    bad = ~np.all(np.isfinite(loc), axis=1)
    loc[bad] = vec
    return loc


def _wrap(f):
    return f - np.round(f)
