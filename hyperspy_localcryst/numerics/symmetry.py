"""Local point symmetry of neighbourhoods and symmetry variants of classes.

A neighbourhood is the set of vectors from a centre atom to its neighbours.
A point operation ``g`` (a rotation by 60, 90, 120 or 180 degrees, or a
mirror) is a symmetry of it when ``g`` maps the set onto itself. The
**residual** of ``g`` is the root-mean-square distance between the points of
``g V`` and their nearest points of ``V`` (both ways): zero for an exact
symmetry, about twice the per-axis position noise for a symmetric
neighbourhood measured with noise, and the symmetry-breaking magnitude (in
the vectors' units) otherwise.

Two classes are **variants** of one another when an operation maps the
mean neighbourhood of one onto that of the other (e.g. the four 90-degree
polar domains of a tetragonal ferroelectric), while the two are distinct and
live apart (classes that occur side by side in every cell, like the A and B
sites of a perovskite, are different sites, not variants).
"""

from __future__ import annotations

import numpy as np

from ._checks import check_array, check_number

__all__ = [
    "OPERATIONS",
    "find_variants",
    "operation_matrix",
    "point_group",
    "set_residual",
    "symmetry_residuals",
]

#: Rotations tested for site symmetry, by name: angle in degrees.
OPERATIONS = {"2": 180.0, "3": 120.0, "4": 90.0, "6": 60.0}

# Operations tried to map one class onto another: rotations by these angles
# and mirrors.
_VARIANT_ROTATIONS = (180.0, 90.0, 270.0, 120.0, 240.0, 60.0, 300.0)


def operation_matrix(name):
    """The 2x2 matrix of a named point operation (acting on (x, y) columns).

    Parameters
    ----------
    name : str
        ``"1"`` (identity), ``"2"``, ``"3"``, ``"4"``, ``"6"`` (rotation by
        360/n degrees, counter-clockwise as seen on the image: y points
        down), ``"R<deg>"`` (rotation by ``deg``) or ``"m<deg>"`` (mirror
        about the line at ``deg`` degrees from +x).

    Returns
    -------
    numpy.ndarray, shape (2, 2)

    Examples
    --------
    >>> operation_matrix("4").round(6).tolist()
    [[0.0, 1.0], [-1.0, 0.0]]
    >>> operation_matrix("m0").tolist()
    [[1.0, 0.0], [0.0, -1.0]]
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"Unknown operation {name!r:.40}")
    if name == "1":
        return np.eye(2)
    if name in OPERATIONS:
        deg = OPERATIONS[name]
    elif name[0] in "Rm":
        try:
            deg = float(name[1:])
        except ValueError:
            raise ValueError(f"Unknown operation {name!r:.40}") from None
    else:
        raise ValueError(
            f"Unknown operation {name!r:.40}: use '1', '2', '3', '4', '6', "
            "'R<deg>' or 'm<deg>'"
        )
    t = np.deg2rad(deg)
    c, s = np.cos(t), np.sin(t)
    if name[0] == "m":
        c2, s2 = np.cos(2 * t), np.sin(2 * t)
        # A line at angle t measured on the image (y down): reflect in the
        # (x, -y) frame where angles are counter-clockwise.
        m = np.array([[c2, s2], [s2, -c2]])
        flip = np.diag([1.0, -1.0])
        return flip @ m @ flip
    # counter-clockwise on the image (y down) = clockwise in (x, y) maths
    return np.array([[c, s], [-s, c]])


def set_residual(a, b):
    """RMS distance between two point sets, each point to its nearest other.

    Parameters
    ----------
    a, b : array_like, shape (..., k, 2)
        Point sets (leading axes broadcast).

    Returns
    -------
    numpy.ndarray, shape (...)
        ``sqrt((mean_i min_j |a_i - b_j|^2 + mean_j min_i |a_i - b_j|^2) / 2)``.

    Examples
    --------
    >>> import numpy as np
    >>> sq = np.array([[1.0, 0], [0, 1], [-1, 0], [0, -1]])
    >>> float(set_residual(sq, sq[::-1]))
    0.0
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    d2 = ((a[..., :, None, :] - b[..., None, :, :]) ** 2).sum(axis=-1)
    return np.sqrt((d2.min(axis=-1).mean(axis=-1) + d2.min(axis=-2).mean(axis=-1)) / 2)


def _vectors(vectors):
    v = check_array(vectors, "vectors")
    if v.ndim == 2:
        v = v[None]
    if v.ndim != 3 or v.shape[-1] != 2 or v.shape[1] < 1:
        raise ValueError(
            "vectors must have shape (n, k, 2) (or (k, 2) for one neighbourhood), "
            f"got {np.shape(vectors)}"
        )
    return v


def _mirror_axes(v):
    """Candidate mirror lines of each neighbourhood: along every vector and
    along the bisector of every pair (degrees, image convention)."""
    ang = np.degrees(np.arctan2(-v[..., 1], v[..., 0]))  # counter-clockwise
    pair = (ang[..., :, None] + ang[..., None, :]) / 2
    return pair.reshape(*ang.shape[:-1], -1)


def _mirror_residual(v, w=None):
    """Smallest residual of a mirror mapping ``v`` onto ``w`` (default
    itself) over candidate axes; returns (residual, axis in degrees)."""
    if w is None:
        w = v
        axes = _mirror_axes(v)
    else:
        a1 = np.degrees(np.arctan2(-v[..., 1], v[..., 0]))
        a2 = np.degrees(np.arctan2(-w[..., 1], w[..., 0]))
        axes = ((a1[..., :, None] + a2[..., None, :]) / 2).reshape(*a1.shape[:-1], -1)
        axes = np.concatenate([axes, axes + 90.0], axis=-1)
    t = np.deg2rad(axes)  # (n, m)
    c2, s2 = np.cos(2 * t), np.sin(2 * t)
    # reflection in the (x, -y) frame, written for image coordinates
    x, y = v[..., 0], -v[..., 1]  # (n, k)
    rx = c2[..., :, None] * x[..., None, :] + s2[..., :, None] * y[..., None, :]
    ry = s2[..., :, None] * x[..., None, :] - c2[..., :, None] * y[..., None, :]
    r = np.stack([rx, -ry], axis=-1)  # (n, m, k, 2)
    res = set_residual(r, w[..., None, :, :])
    best = np.nanargmin(np.where(np.isfinite(res), res, np.inf), axis=-1)
    idx = np.indices(best.shape)
    return res[(*idx, best)], np.mod(axes[(*idx, best)], 180.0)


def symmetry_residuals(vectors):
    """Residual of every point operation for each neighbourhood.

    Parameters
    ----------
    vectors : array_like, shape (n, k, 2) or (k, 2)
        Neighbour vectors of each centre (any units, x = column, y = row).

    Returns
    -------
    dict
        ``"2"``, ``"3"``, ``"4"``, ``"6"``, ``"m"``: arrays (n,) of residuals
        (see the module notes), and ``"mirror_axis"``: the best mirror line
        (degrees from +x, counter-clockwise as seen on the image).

    Examples
    --------
    A square neighbourhood with its centre pushed right (the neighbours
    appear shifted left): 4-fold broken, a mirror along x kept.

    >>> import numpy as np
    >>> v = np.array([[1.0, 0], [0, 1], [-1, 0], [0, -1]]) - [0.1, 0]
    >>> r = symmetry_residuals(v)
    >>> round(float(r["4"][0]), 3), round(float(r["m"][0]), 6)
    (0.141, 0.0)
    >>> float(r["mirror_axis"][0])
    0.0
    """
    v = _vectors(vectors)
    out = {}
    for name in OPERATIONS:
        m = operation_matrix(name)
        out[name] = set_residual(v @ m.T, v)
    out["m"], out["mirror_axis"] = _mirror_residual(v)
    return out


def point_group(residuals, tolerance):
    """Name the 2D point group of the operations within tolerance.

    Parameters
    ----------
    residuals : dict
        From :func:`symmetry_residuals` (entries may be arrays or scalars).
    tolerance : float or array_like
        Largest residual of a kept operation (same units).

    Returns
    -------
    numpy.ndarray of str
        ``"1"``, ``"2"``, ``"m"``, ``"2mm"``, ``"3"``, ``"3m"``, ``"4"``,
        ``"4mm"``, ``"6"``, ``"6mm"`` per neighbourhood.

    Examples
    --------
    >>> point_group({"2": 0.0, "3": 1.0, "4": 0.0, "6": 1.0, "m": 0.0}, 0.1).tolist()
    ['4mm']
    """
    keep = {
        k: np.atleast_1d(np.asarray(residuals[k], dtype=float))
        <= np.asarray(tolerance, dtype=float)
        for k in ("2", "3", "4", "6", "m")
    }
    n = np.broadcast(*keep.values()).shape
    keep = {k: np.broadcast_to(v, n) for k, v in keep.items()}
    order = np.ones(n, dtype=int)
    order = np.where(keep["2"], 2, order)
    order = np.where(keep["3"], 3, order)
    order = np.where(keep["4"] & keep["2"], 4, order)
    order = np.where(keep["6"] | (keep["2"] & keep["3"]), 6, order)
    name = order.astype(str).astype(object)
    name = np.where(order == 1, np.where(keep["m"], "m", "1"), name)
    name = np.where(
        (order > 1) & keep["m"],
        np.char.add(order.astype(str), np.where(order % 2 == 0, "mm", "m")),
        name,
    )
    return np.asarray(name, dtype=str)


def _best_operation(a, b, tolerance=0.0):
    """The operation mapping point set ``a`` onto ``b`` best: (name,
    residual). A proper rotation within ``tolerance`` is preferred to a
    mirror (a polar shift is mapped equally well by both)."""
    best = ("1", float(set_residual(a, b)))
    for deg in _VARIANT_ROTATIONS:
        name = f"R{deg:g}"
        r = float(set_residual(a @ operation_matrix(name).T, b))
        if r < best[1] - 1e-12:
            best = (name, r)
    if best[0] != "1" and best[1] <= tolerance:
        return best
    r, axis = _mirror_residual(a[None], b[None])
    if float(r[0]) < 0.8 * best[1] - 1e-12:
        best = (f"m{float(axis[0]):.0f}", float(r[0]))
    return best


def find_variants(centroids, noise=None, apart=None, n_sigma=3.0, relative=0.25):
    """Group classes whose mean neighbourhoods one point operation relates.

    Parameters
    ----------
    centroids : array_like, shape (K, k, 2)
        Mean neighbour vectors of each class.
    noise : array_like, shape (K,), optional
        Standard error (per axis) of each class's mean vectors. Default 0.
    apart : array_like of bool, shape (K, K), optional
        Whether two classes live apart (do not share their surroundings;
        see :func:`~hyperspy_localcryst.numerics.phases.class_cooccurrence`).
        Only classes that live apart can be variants. Default: all pairs.
    n_sigma : float
        Two classes are distinct when their mean neighbourhoods differ by
        more than ``n_sigma`` times their combined noise.
    relative : float
        An operation relates two distinct classes when it maps one onto the
        other with a residual at most ``relative`` times their difference
        (or within the noise): e.g. scan distortion leaves a few per cent.

    Returns
    -------
    list of dict
        One per group of two or more classes: ``classes`` (the first is the
        largest-index-order reference: the first in ``centroids`` order),
        ``operations`` (the operation mapping the first class onto each
        member, ``"1"`` for the first; see :func:`operation_matrix`),
        ``residuals`` (of each mapping, in the vectors' units) and
        ``difference`` (of each member from the first).

    Examples
    --------
    A polar square site in four 90-degree variants and a distinct square
    site:

    >>> import numpy as np
    >>> sq = np.array([[1.0, 0], [0, 1], [-1, 0], [0, -1]])
    >>> shifts = [[0.1, 0], [0, -0.1], [-0.1, 0], [0, 0.1]]
    >>> C = np.stack([sq - s for s in shifts] + [1.3 * sq])
    >>> groups = find_variants(C)
    >>> groups[0]["classes"], groups[0]["operations"]
    ([0, 1, 2, 3], ['1', 'R90', 'R180', 'R270'])
    """
    C = check_array(centroids, "centroids")
    if C.ndim != 3 or C.shape[-1] != 2:
        raise ValueError(f"centroids must have shape (K, k, 2), got {C.shape}")
    K = C.shape[0]
    e = np.zeros(K) if noise is None else check_array(noise, "noise").ravel()
    if e.size != K:
        raise ValueError(f"noise must have one value per class ({K}), got {e.size}")
    if apart is None:
        apart = ~np.eye(K, dtype=bool)
    else:
        apart = np.asarray(apart, dtype=bool)
        if apart.shape != (K, K):
            raise ValueError(f"apart must have shape ({K}, {K}), got {apart.shape}")
    ns = check_number(n_sigma, "n_sigma", "a number of standard deviations")
    rel = check_number(relative, "relative", "a fraction")
    if not 0 < rel < 1:
        raise ValueError(f"relative must be between 0 and 1, got {relative}")
    ok = np.isfinite(C).all(axis=(1, 2))
    parent = list(range(K))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    ops = {}
    for a in range(K):
        for b in range(a + 1, K):
            if not (ok[a] and ok[b] and apart[a, b]):
                continue
            noise_ab = 2.0 * np.hypot(e[a], e[b])
            d = float(set_residual(C[a], C[b]))
            if d <= ns * noise_ab:
                continue
            tol = max(ns * noise_ab, rel * d)
            name, r = _best_operation(C[a], C[b], tol)
            if name != "1" and r <= tol:
                ops[(a, b)] = (name, r, d)
                parent[root(b)] = root(a)
    groups = {}
    for i in range(K):
        groups.setdefault(root(i), []).append(i)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        first = members[0]
        names, res, diff = ["1"], [0.0], [0.0]
        for m in members[1:]:
            if (first, m) in ops:
                name, r, d = ops[(first, m)]
            else:  # related through another member: map the first directly
                d = float(set_residual(C[first], C[m]))
                noise_fm = 2.0 * np.hypot(e[first], e[m])
                name, r = _best_operation(C[first], C[m], max(ns * noise_fm, rel * d))
            names.append(name)
            res.append(float(r))
            diff.append(float(d))
        out.append(
            {
                "classes": [int(m) for m in members],
                "operations": names,
                "residuals": res,
                "difference": diff,
            }
        )
    return out
