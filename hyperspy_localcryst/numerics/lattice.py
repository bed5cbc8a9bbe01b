"""Lattice parameters measured from atom positions, and calibration factors.

All positions are in pixels (x = column, y = row). The functions find the two
primitive translation vectors of the structure the atoms form, fit them to all
atoms at once, and turn them into lengths and an angle with uncertainties.

Method
------
:func:`find_lattice_vectors`

1. **Candidates.** Vectors from (up to ``max_sources``) atoms to every atom
   within a radius ``R`` are binned in a 2D histogram (bins of a quarter of
   ``tolerance``, at most 600 per side); its maxima with vectors from at
   least 0.3 of the sources near them (within about a tolerance), refined
   as the mean of the vectors within ``tolerance``, are candidate
   translations (a lattice with more than about 70 % vacancies has none).
   A candidate's *match fraction* is the share of the sources whose
   ``r + v`` lies among atoms (inside the atoms' bounding box, with an atom
   within the median distance to the 6th nearest atom: not in vacuum, not
   off the image) that do have an atom at ``r + v``. A translation of the
   structure maps every atom onto an atom (fraction ~ 1); a vector between
   two sites of the basis maps only the atoms of one site (~ 1/2 or less).
   Candidates with at least 0.85 times the best fraction are kept.
2. **Same type.** A geometric translation may still swap atom types (in
   SrTiO3 [001] the half-diagonal maps Sr columns onto Ti columns). With
   ``types`` (sublattice labels) a candidate's score is its share of
   same-type pairs relative to chance; with ``values`` (e.g. fitted
   amplitudes) the correlation of the locally normalised values of the two
   atoms of each pair (a slow thickness gradient does not count). Candidates
   whose score is clearly below the best one's and below chance (labels:
   negative; values: below -0.4, since the fitted amplitudes of neighbouring
   columns of one type anti-correlate a little) are not translations.
3. **Basis.** The shortest remaining candidate and the shortest one not
   collinear with it (``R`` grows from 2.5 to 10 times the median distance to
   the 6th nearest atom until two are found) form a reduced basis.
4. **Fit.** Every pair of atoms whose separation is an integer combination
   ``n1 v1 + n2 v2`` within ``tolerance`` is an edge; a breadth-first walk of
   the edges gives each atom integer lattice coordinates within its connected
   component (one component per site of the basis and per separate region).
   Then ``r_i = o_c + m1_i v1 + m2_i v2`` is fitted by least squares to all
   atoms, with one origin ``o_c`` per component; atoms more than 5 robust
   standard deviations off are dropped and the fit repeated. The covariance
   of the vectors is the residual variance times ``(M^T M)^-1``, so it holds
   for independent position errors and grows with any distortion that a
   single lattice does not describe.

:func:`lattice_parameters` converts the vectors to calibrated units (a pixel
scale per axis: non-square pixels are allowed), reduces them (``a <= b``,
``90 <= gamma <= 120`` deg for a reduced cell) and propagates the covariance.
:func:`calibration_factors` gives the factors by which the pixel scales must be
multiplied so that the measured cell equals a known one: one factor, or one per
axis (``anisotropic``).
"""

import numba
import numpy as np
from scipy.ndimage import gaussian_filter, maximum_filter, uniform_filter
from scipy.spatial import cKDTree

from ._checks import (
    check_array,
    check_bool,
    check_number,
    check_numbers,
    check_per_atom,
    check_positive,
)
from ._parallel import kd_query

__all__ = ["find_lattice_vectors", "lattice_parameters", "calibration_factors"]

#: Search radii for the candidate translations, in median distances to the
#: 6th nearest atom: the next is tried when fewer than two non-collinear
#: translations were found (large cells with many sites, e.g. tungsten
#: bronzes).
_RADII = (2.5, 5.0, 10.0)
#: A candidate is kept when its match fraction is at least this times the best.
_MIN_RELATIVE_FRACTION = 0.85
#: A candidate's type score may fall this much below the best one's.
_TYPE_MARGIN = 0.3
#: Histogram maxima examined per search radius (the strongest).
_MAX_PEAKS = 80
#: Correlation of the values of paired atoms below which (and clearly below
#: the best candidate's) a vector swaps types. Not 0: the amplitudes of
#: neighbouring columns of one type anti-correlate by up to ~0.25 (joint fit
#: of overlapping peaks, noise), while a bright/faint swap gives -0.5 to -0.95.
_VALUE_SWAP = -0.4
#: Robust standard deviations beyond which an atom is left out of the fit.
_OUTLIER = 5.0


def _positions(x, y, groups):
    x = check_array(x, "x", ndim=1)
    y = check_array(y, "y", ndim=1)
    if x.shape != y.shape:
        raise ValueError(f"`x` and `y` differ in length ({x.size} and {y.size}).")
    if groups is None:
        g = np.zeros(x.size, dtype=np.int64)
    else:
        g = check_array(groups, "groups", ndim=1)
        if g.shape != x.shape:
            raise ValueError("`groups` must have one value per atom.")
        g = np.unique(np.nan_to_num(g, nan=-1.0), return_inverse=True)[1].ravel()
    return x, y, g


def _separate_groups(p, g, reach):
    """Shift each group far from the others so no pair crosses groups."""
    if g.max(initial=0) == 0:
        return p.copy()
    span = np.ptp(p[:, 0]) + 2 * reach + 1.0
    q = p.copy()
    q[:, 0] += g * span
    return q


def _boxes(p, g):
    """Bounding box of each group's atoms."""
    n = g.max(initial=0) + 1
    lo = np.full((n, 2), np.inf)
    hi = np.full((n, 2), -np.inf)
    np.minimum.at(lo, g, p)
    np.maximum.at(hi, g, p)
    return lo, hi


def _local_normalise(q, values, k=13):
    """Values minus the mean of the k nearest atoms, over their std (slow
    gradients of thickness or height removed)."""
    good = np.isfinite(values)
    out = np.full(values.shape, np.nan)
    if good.sum() < 3:
        return out
    tree = cKDTree(q[good])
    k = int(min(k, good.sum()))
    _, idx = kd_query(tree, q[good], k=k)
    nb = values[good][idx]
    sd = nb.std(axis=1)
    sd[sd == 0] = np.inf
    out[good] = (values[good] - nb.mean(axis=1)) / sd
    return out


def _type_score(i, j, types, values):
    """How well pairs (i, j) join atoms of the same type (1 = always, 0 =
    chance, negative = unlike atoms), from labels (``types``) or from values
    (correlation); returns (score, number of pairs)."""
    if types is not None:
        ti, tj = types[i], types[j]
        ok = np.isfinite(ti) & np.isfinite(tj)
        if ok.sum() < 3:
            return np.nan, 0
        labels, counts = np.unique(types[np.isfinite(types)], return_counts=True)
        chance = float(np.sum((counts / counts.sum()) ** 2))
        same = float(np.mean(ti[ok] == tj[ok]))
        return (same - chance) / max(1.0 - chance, 1e-12), int(ok.sum())
    vi, vj = values[i], values[j]
    ok = np.isfinite(vi) & np.isfinite(vj)
    if ok.sum() < 3 or np.std(vi[ok]) == 0 or np.std(vj[ok]) == 0:
        return np.nan, int(ok.sum())
    return float(np.corrcoef(vi[ok], vj[ok])[0, 1]), int(ok.sum())


def _swaps(members, good, types, values):
    """Candidates that join unlike atoms: a score clearly below the best
    candidate's and below chance (labels: negative; values: below
    :data:`_VALUE_SWAP`), by labels or by values."""
    swap = np.zeros(len(members), dtype=bool)
    for t, v, ceiling in ((types, None, 0.0), (None, values, _VALUE_SWAP)):
        if t is None and v is None:
            continue
        sn = np.array([_type_score(i, j, t, v) for i, j in members]).reshape(-1, 2)
        scores, ns = sn[:, 0], sn[:, 1]
        finite = good & np.isfinite(scores)
        if not finite.any():
            continue
        best = scores[finite].max()
        margin = np.maximum(_TYPE_MARGIN, 4.0 / np.sqrt(np.maximum(ns, 1)))
        swap |= np.isfinite(scores) & (scores < np.minimum(best - margin, ceiling))
    return swap


def _candidates(q, g, lo, hi, reach, d_nn, radius, tol, sources):
    """Candidate translations within ``radius``: (vectors, fractions, pairs)."""
    tree = cKDTree(q)
    src_tree = cKDTree(q[sources])
    pairs = src_tree.sparse_distance_matrix(tree, radius, output_type="ndarray")
    si, j = sources[pairs["i"]], pairs["j"]
    keep = si != j
    si, j = si[keep], j[keep]
    d = q[j] - q[si]
    if d.shape[0] == 0:
        return np.empty((0, 2)), np.empty(0), []
    h = max(tol / 4.0, radius / 300.0)
    nb = int(np.ceil(radius / h))
    edges = (np.arange(-nb, nb + 2) - 0.5) * h
    hist, _, _ = np.histogram2d(d[:, 1], d[:, 0], bins=(edges, edges))
    w = max(3, int(round(2 * tol / h)) | 1)
    window = uniform_filter(hist, size=w, mode="constant") * w * w  # pairs near
    smooth = gaussian_filter(hist, 0.5 * tol / h, mode="constant")
    peaks = (smooth == maximum_filter(smooth, size=w, mode="constant")) & (
        window >= 0.3 * len(sources)
    )
    rows, cols = np.nonzero(peaks)
    strongest = np.argsort(-window[rows, cols], kind="stable")[:_MAX_PEAKS]
    rows, cols = rows[strongest], cols[strongest]
    centres = np.column_stack([edges[cols] + 0.5 * h, edges[rows] + 0.5 * h])
    tree_d = cKDTree(d)
    vecs, fracs, members = [], [], []
    for c in centres:
        if np.hypot(*c) < 0.5 * d_nn:
            continue
        for _ in range(3):  # mean shift to the centre of the cloud
            idx = np.asarray(tree_d.query_ball_point(c, tol), dtype=np.int64)
            if idx.size == 0:
                break
            c = d[idx].mean(axis=0)
        if idx.size == 0:
            continue
        src = si[idx]
        _, first = np.unique(src, return_index=True)
        idx = idx[first]  # one partner per source
        # sources whose r + v lies among atoms (not in vacuum, not off the
        # image): an atom within reach of r + v
        target = q[sources] + c
        near, _ = kd_query(tree, target, distance_upper_bound=reach)
        inside = np.all((target >= lo[g[sources]]) & (target <= hi[g[sources]]), axis=1)
        eligible = int((np.isfinite(near) & inside).sum())
        if eligible < 3:
            continue
        vecs.append(c)
        fracs.append(min(idx.size / eligible, 1.0))
        members.append((si[idx], j[idx]))
    if not vecs:
        return np.empty((0, 2)), np.empty(0), []
    vecs = np.asarray(vecs)
    # the same cloud reached from two histogram maxima: keep one
    order = np.argsort(-np.asarray(fracs), kind="stable")
    kept = []
    for k in order:
        if all(np.hypot(*(vecs[k] - vecs[m])) > tol for m in kept):
            kept.append(k)
    kept = np.asarray(sorted(kept))
    return vecs[kept], np.asarray(fracs)[kept], [members[k] for k in kept]


def _choose_basis(vecs, fracs, members, types, values):
    if vecs.shape[0] < 2:
        return None
    good = fracs >= _MIN_RELATIVE_FRACTION * fracs.max()
    good &= ~_swaps(members, good, types, values)
    cand = vecs[good]
    if cand.shape[0] < 2:
        return None
    lengths = np.hypot(cand[:, 0], cand[:, 1])
    order = np.argsort(lengths, kind="stable")
    v1 = cand[order[0]]
    for k in order[1:]:
        v = cand[k]
        sin = abs(v1[0] * v[1] - v1[1] * v[0]) / (lengths[order[0]] * lengths[k])
        if sin > 0.25:
            return _reduce(np.array([v1, v]))[0]
    return None


def _reduce(vectors):
    """Lagrange-Gauss reduction of a 2D basis; returns (reduced, T) with
    ``reduced = T @ vectors`` and T an integer matrix."""
    v = np.array(vectors, dtype=float)
    t = np.eye(2)
    for _ in range(100):
        if v[0] @ v[0] > v[1] @ v[1]:
            v = v[::-1].copy()
            t = t[::-1].copy()
        mu = np.round((v[0] @ v[1]) / (v[0] @ v[0]))
        if mu == 0:
            break
        v[1] -= mu * v[0]
        t[1] -= mu * t[0]
    return v, t


@numba.njit(cache=True)
def _walk(indptr, indices, steps, n):  # pragma: no cover - compiled
    """Breadth-first integer lattice coordinates per connected component."""
    m = np.zeros((n, 2), dtype=np.int64)
    comp = np.full(n, -1, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    c = 0
    for root in range(n):
        if comp[root] >= 0 or indptr[root] == indptr[root + 1]:
            continue
        comp[root] = c
        head, tail = 0, 1
        queue[0] = root
        while head < tail:
            i = queue[head]
            head += 1
            for e in range(indptr[i], indptr[i + 1]):
                j = indices[e]
                if comp[j] < 0:
                    comp[j] = c
                    m[j, 0] = m[i, 0] + steps[e, 0]
                    m[j, 1] = m[i, 1] + steps[e, 1]
                    queue[tail] = j
                    tail += 1
        c += 1
    return m, comp


def _edges(q, basis, tol):
    """Pairs joined by an integer combination of the basis, both directions."""
    reach = 1.05 * max(np.hypot(*basis[0]), np.hypot(*basis[1])) + tol
    ij = cKDTree(q).query_pairs(reach, output_type="ndarray")
    d = q[ij[:, 1]] - q[ij[:, 0]]
    inv = np.linalg.inv(basis.T)
    n = np.round(d @ inv.T)
    ok = (np.hypot(*(d - n @ basis).T) < tol) & np.any(n != 0, axis=1)
    ij, n = ij[ok], n[ok].astype(np.int64)
    return ij, n


def _lattice_fit(q, basis, tol):
    """Least-squares fit of one lattice to all atoms (see the module notes)."""
    npts = q.shape[0]
    ij, n = _edges(q, basis, tol)
    rows = np.concatenate([ij[:, 0], ij[:, 1]])
    cols = np.concatenate([ij[:, 1], ij[:, 0]])
    steps = np.concatenate([n, -n])
    order = np.lexsort((cols, rows))
    rows, cols, steps = rows[order], cols[order], steps[order]
    indptr = np.searchsorted(rows, np.arange(npts + 1))
    m, comp = _walk(indptr.astype(np.int64), cols.astype(np.int64), steps, npts)
    sizes = np.bincount(comp[comp >= 0])
    use = (comp >= 0) & (sizes[np.maximum(comp, 0)] >= 2) if sizes.size else comp >= 0
    v = basis.copy()
    for it in range(6):
        idx = np.nonzero(use)[0]
        if idx.size < 3:
            return None
        c = np.unique(comp[idx], return_inverse=True)[1].ravel()
        nc = c.max() + 1
        counts = np.bincount(c, minlength=nc).astype(float)

        def centred(a):
            means = np.zeros((nc,) + a.shape[1:])
            np.add.at(means, c, a)
            return a - means[c] / counts[c].reshape((-1,) + (1,) * (a.ndim - 1))

        mm = centred(m[idx].astype(float))
        pp = centred(q[idx])
        mtm = mm.T @ mm
        if np.linalg.cond(mtm) > 1e12:
            return None
        v = np.linalg.solve(mtm, mm.T @ pp)  # rows: v1, v2 (x, y columns)
        res = pp - mm @ v
        dof = 2 * idx.size - 4 - 2 * nc
        if dof < 1:
            return None
        if it < 2:  # atoms the walk put a cell off (a wrong edge): re-index
            shift = np.round(res @ np.linalg.inv(v.T).T).astype(np.int64)
            if np.any(shift):
                m[idx] += shift
                continue
        rn = np.hypot(res[:, 0], res[:, 1])
        robust = 1.4826 * np.median(rn) / np.sqrt(np.log(4.0))  # Rayleigh median
        bad = rn > _OUTLIER * max(robust, 1e-9 * np.hypot(*v[0]))
        if not bad.any():
            break
        use[idx[bad]] = False
    sigma2 = float(np.sum(res**2) / dof)
    cinv = np.linalg.inv(mtm)
    cov = np.zeros((4, 4))
    # parameter order (v1x, v1y, v2x, v2y); x and y share the design matrix
    for axis in (0, 1):
        p = [axis, 2 + axis]
        cov[np.ix_(p, p)] = sigma2 * cinv
    return {
        "vectors": v,
        "covariance": cov,
        "n_atoms": int(idx.size),
        "n_outliers": int(((comp >= 0) & ~use).sum()),
        "n_components": int(nc),
        "n_edges": int(ij.shape[0]),
        "residual_rms": float(np.sqrt(sigma2)),
    }


def find_lattice_vectors(
    x, y, types=None, values=None, groups=None, tolerance=None, max_sources=3000
):
    """The two primitive translation vectors of the structure the atoms form.

    See the module notes for the method.

    Parameters
    ----------
    x, y : array_like
        Atom positions in pixels (NaN positions are left out).
    types : array_like, optional
        Atom type per atom (e.g. sublattice labels): a translation maps atoms
        onto atoms of the same type.
    values : array_like, optional
        A per-atom brightness (e.g. fitted amplitude), used like ``types``
        after local normalisation: a vector that maps bright columns onto
        faint ones is not a translation. With both, a vector that either
        finds joining unlike atoms is not a translation.
    groups : array_like, optional
        Group per atom (e.g. the frame of a stack): pairs never join groups;
        one lattice is fitted to all groups (one origin each).
    tolerance : float, optional
        Largest distance in pixels between a pair's separation and a lattice
        vector. Default: a quarter of the median nearest-neighbour distance.
    max_sources : int
        Atoms used (a fixed random subset) to find the candidates.

    Returns
    -------
    dict
        ``vectors`` (2, 2): rows v1, v2 in pixels (x, y), a reduced basis;
        ``covariance`` (4, 4) of (v1x, v1y, v2x, v2y); ``n_atoms`` fitted,
        ``n_outliers`` left out, ``n_components``, ``n_edges``,
        ``residual_rms`` (pixels, per axis).

    Raises
    ------
    ValueError
        With fewer than 6 atoms, or when no two non-collinear translations
        are found (no lattice, or too few atoms per row).

    Examples
    --------
    A rectangular cell (9.5 x 14 px) turned by 17 degrees:

    >>> import numpy as np
    >>> t = np.deg2rad(17.0)
    >>> rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    >>> i, j = np.mgrid[-8:9, -6:7]
    >>> p = np.column_stack([9.5 * i.ravel(), 14.0 * j.ravel()]) @ rot.T + 100
    >>> fit = find_lattice_vectors(p[:, 0], p[:, 1])
    >>> np.round(np.hypot(*fit["vectors"].T), 6).tolist()
    [9.5, 14.0]
    """
    x, y, g = _positions(x, y, groups)
    types = check_per_atom(types, "types", x.size)
    values = check_per_atom(values, "values", x.size)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, g = x[ok], y[ok], g[ok]
    types = None if types is None else types[ok]
    values = None if values is None else values[ok]
    if x.size < 6:
        raise ValueError(
            f"Only {x.size} atoms with finite positions: at least 6 are needed to "
            "measure a lattice."
        )
    p = np.column_stack([x, y])
    q0 = _separate_groups(p, g, 0.0)
    dist, _ = kd_query(cKDTree(q0), q0, k=min(7, x.size))
    d_nn = float(np.median(dist[:, 1][dist[:, 1] > 0])) if np.any(dist[:, 1] > 0) else 0
    if not d_nn > 0:
        raise ValueError("All atoms share one position: no lattice to measure.")
    d_6 = max(float(np.median(dist[:, -1])), d_nn)
    if tolerance is None:
        tol = 0.25 * d_nn
    else:
        tol = check_positive(
            tolerance, "tolerance", "a distance in pixels", noun="distance"
        )
    q = _separate_groups(p, g, _RADII[-1] * d_6)
    if values is not None:
        values = _local_normalise(q, values)
    lo, hi = _boxes(q, g)
    rng = np.random.default_rng(0)
    sources = np.arange(x.size)
    if x.size > max_sources:
        sources = np.sort(rng.choice(x.size, int(max_sources), replace=False))
    basis = None
    for r in _RADII:
        vecs, fracs, members = _candidates(
            q, g, lo, hi, d_6, d_nn, r * d_6, tol, sources
        )
        basis = _choose_basis(vecs, fracs, members, types, values)
        if basis is not None:
            break
    if basis is None:
        raise ValueError(
            f"No two independent lattice translations found among {x.size} atoms "
            f"(searched up to {_RADII[-1] * d_6:.4g} px): the "
            "atoms do not form a lattice, or too few rows of it."
        )
    fit = _lattice_fit(q, basis, tol)
    if fit is None:
        raise ValueError(
            "The atoms do not span two lattice directions: too few atoms to fit "
            "the lattice."
        )
    fit["vectors"], t = _reduce(fit["vectors"])
    lin = np.kron(t, np.eye(2))
    fit["covariance"] = lin @ fit["covariance"] @ lin.T
    fit["tolerance"] = float(tol)
    return fit


def _parameters(v):
    """a, b, gamma (deg) of two vectors (rows)."""
    a, b = np.hypot(*v[0]), np.hypot(*v[1])
    cross = v[0, 0] * v[1, 1] - v[0, 1] * v[1, 0]
    return np.array([a, b, np.degrees(np.arctan2(abs(cross), v[0] @ v[1]))])


def lattice_parameters(vectors, covariance=None, scale=(1.0, 1.0)):
    """Lengths and angle of a cell, with their standard errors.

    Parameters
    ----------
    vectors : array_like, shape (2, 2)
        Two lattice vectors (rows, pixels: x, y), e.g. from
        :func:`find_lattice_vectors`.
    covariance : array_like, shape (4, 4), optional
        Covariance of (v1x, v1y, v2x, v2y) in pixels²; errors are NaN without.
    scale : tuple of float
        Pixel size along x and along y (they may differ).

    Returns
    -------
    dict
        ``a <= b`` (lengths), ``gamma`` (deg, 90 to 120 for a reduced cell),
        ``a_err``, ``b_err``, ``gamma_err``, ``a_vector``, ``b_vector``
        (calibrated x, y), ``orientation`` (deg: direction of ``a`` from +x
        towards +y, -90 to 90) and ``covariance`` of (a, b, gamma).

    Examples
    --------
    >>> r = lattice_parameters([[10.0, 0.0], [0.0, 20.0]], scale=(0.02, 0.01))
    >>> round(r["a"], 9), round(r["b"], 9), round(r["gamma"], 6)
    (0.2, 0.2, 90.0)
    """
    v = check_array(vectors, "vectors", ndim=2, finite=True)
    if v.shape != (2, 2):
        raise ValueError(f"`vectors` must have shape (2, 2), got {v.shape}.")
    sx, sy = check_numbers(scale, "scale", length=2)
    if sx == 0 or sy == 0:
        raise ValueError("`scale` must be non-zero.")
    d = np.diag([sx, sy, sx, sy])
    cov = np.full((4, 4), np.nan) if covariance is None else np.asarray(covariance)
    if cov.shape != (4, 4):
        raise ValueError(f"`covariance` must have shape (4, 4), got {cov.shape}.")
    vc = v * [sx, sy]
    cov = d @ cov @ d
    if abs(vc[0, 0] * vc[1, 1] - vc[0, 1] * vc[1, 0]) == 0:
        raise ValueError("The two `vectors` are collinear.")
    vc, t = _reduce(vc)
    if vc[0] @ vc[1] > 0:  # gamma >= 90 deg
        vc[1] *= -1
        t[1] *= -1
    if vc[0, 0] < 0 or (vc[0, 0] == 0 and vc[0, 1] < 0):  # a points to +x
        vc *= -1
        t *= -1
    lin = np.kron(t, np.eye(2))
    cov = lin @ cov @ lin.T
    flat = vc.ravel()
    p0 = _parameters(vc)
    jac = np.zeros((3, 4))
    h = 1e-6 * max(np.abs(flat).max(), 1e-300)
    for k in range(4):
        e = np.zeros(4)
        e[k] = h
        jac[:, k] = (
            _parameters((flat + e).reshape(2, 2))
            - _parameters((flat - e).reshape(2, 2))
        ) / (2 * h)
    pcov = jac @ cov @ jac.T
    err = np.sqrt(np.clip(np.diag(pcov), 0, None))
    return {
        "a": float(p0[0]),
        "b": float(p0[1]),
        "gamma": float(p0[2]),
        "a_err": float(err[0]),
        "b_err": float(err[1]),
        "gamma_err": float(err[2]),
        "a_vector": vc[0].tolist(),
        "b_vector": vc[1].tolist(),
        "orientation": float(np.degrees(np.arctan2(vc[0, 1], vc[0, 0]))),
        "covariance": pcov.tolist(),
    }


def _pick(vectors, direction):
    """The lattice vector (among +-v1, +-v2, +-(v1 +- v2)) nearest to a direction."""
    v1, v2 = vectors
    cand = np.array([v1, v2, v1 + v2, v1 - v2])
    ang = np.degrees(np.arctan2(cand[:, 1], cand[:, 0]))
    off = np.abs((ang - direction + 90.0) % 180.0 - 90.0)
    lengths = np.hypot(cand[:, 0], cand[:, 1])
    k = np.lexsort((lengths, np.round(off, 3)))[0]
    return cand[k]


def calibration_factors(
    vectors, lattice_parameter, angle=None, directions=None, anisotropic=False
):
    """Factors for the pixel scales so that a measured cell equals a known one.

    Parameters
    ----------
    vectors : array_like, shape (2, 2)
        Measured lattice vectors (rows: x, y) in the current calibrated units.
    lattice_parameter : float or (float, float)
        Known length(s) ``a`` (and ``b``); one value means ``a = b``. Without
        ``directions``, ``a`` is the shorter measured vector of the reduced
        cell.
    angle : float, optional
        Known angle between ``a`` and ``b`` in degrees (used with
        ``anisotropic``; otherwise only reported).
    directions : (float, float), optional
        Approximate directions of ``a`` and ``b`` in the image (deg from +x
        towards +y): the lattice vectors nearest them are taken.
    anisotropic : bool
        One factor per axis (x, y), from the two lengths and, if given, the
        angle; otherwise one factor for both (geometric mean of the ratios).

    Returns
    -------
    dict
        ``factor_x``, ``factor_y`` (multiply the scales by them), and the
        measured ``a``, ``b``, ``gamma`` they correct.

    Examples
    --------
    A square 0.39 cell measured as 0.4056 (x) by 0.3822 (y):

    >>> f = calibration_factors([[0.4056, 0.0], [0.0, 0.3822]], 0.39,
    ...                         directions=(0, 90), anisotropic=True)
    >>> round(f["factor_x"], 4), round(f["factor_y"], 4)
    (0.9615, 1.0204)
    """
    v = check_array(vectors, "vectors", ndim=2, finite=True)
    if v.shape != (2, 2):
        raise ValueError(f"`vectors` must have shape (2, 2), got {v.shape}.")
    check_bool(anisotropic, "anisotropic")
    if isinstance(lattice_parameter, (list, tuple, np.ndarray)):
        known = check_numbers(lattice_parameter, "lattice_parameter", what="(a, b)")
        if len(known) not in (1, 2):
            raise ValueError(
                "`lattice_parameter` must be one length or two (a, b), got "
                f"{len(known)}."
            )
    else:
        known = (check_number(lattice_parameter, "lattice_parameter", "a length"),)
    if not all(np.isfinite(k) and k > 0 for k in known):
        raise ValueError(
            f"`lattice_parameter` must be positive lengths, got {lattice_parameter}."
        )
    a_k, b_k = known[0], known[-1]
    if directions is not None:
        da, db = check_numbers(directions, "directions", length=2, what="(deg, deg)")
        va, vb = _pick(v, da), _pick(v, db)
        if abs(va[0] * vb[1] - va[1] * vb[0]) < 1e-12 * (va @ va):
            raise ValueError(
                f"`directions` {directions} select the same lattice direction twice."
            )
    else:
        red = lattice_parameters(v)
        va, vb = np.array(red["a_vector"]), np.array(red["b_vector"])
    measured = _parameters(np.array([va, vb]))
    if angle is not None:
        angle = check_number(angle, "angle", "an angle in degrees")
        if not 0 < angle < 180:
            raise ValueError(f"`angle` must be between 0 and 180 deg, got {angle}.")
    if not anisotropic:
        f = float(np.sqrt(a_k * b_k / (measured[0] * measured[1])))
        fx = fy = f
    else:
        # |diag(fx, fy) v|^2 is linear in (fx^2, fy^2): lengths (and angle)
        rows = [va**2 / a_k**2, vb**2 / b_k**2]
        rhs = [1.0, 1.0]
        if angle is not None:
            norm = a_k * b_k
            rows.append(va * vb / norm)
            rhs.append(np.cos(np.radians(angle)))
        mat = np.array(rows)
        if np.linalg.cond(mat) > 1e4:
            raise ValueError(
                "The x and y scales cannot be told apart from these two lattice "
                "vectors (their lengths depend on x and y alike, e.g. a cell at 45 "
                "deg); give the known `angle` too, or use anisotropic=False."
            )
        u, *_ = np.linalg.lstsq(mat, np.array(rhs), rcond=None)
        if not np.all(u > 0):
            raise ValueError(
                "No pair of positive x and y scale factors makes the measured cell "
                "match the given one; check `lattice_parameter`, `angle` and "
                "`directions`."
            )
        fx, fy = float(np.sqrt(u[0])), float(np.sqrt(u[1]))
    return {
        "factor_x": fx,
        "factor_y": fy,
        "a": float(measured[0]),
        "b": float(measured[1]),
        "gamma": float(measured[2]),
    }
