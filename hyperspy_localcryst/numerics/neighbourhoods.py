"""Neighbourhood vectors of atoms: step 4 of the local-crystallography method.

For every centre atom *i* the neighbourhood is the list of vectors from *i* to its
neighbours, ``N_i = ([dx1, dy1], ..., [dxk, dyk])`` (Belianinov et al., Nat.
Commun. 6, 7801, 2015). Everything here works on plain arrays in one unit
(pixels or calibrated, as long as x and y share it); with pixel coordinates
x = column and y = row, so that with y pointing down an increasing
``atan2(dy, dx)`` turns *clockwise* on screen.

Orderings
---------
``"distance"``
    Neighbours sorted by distance. Neighbours at nearly equal distance (a
    *shell*: separated from the next by a stretch of distances where no atom
    has a neighbour, see ``distance_tolerance``) are ordered clockwise by
    angle, starting from one angle
    shared by all atoms (the middle of the emptiest direction of the pooled
    nearest neighbours), so noise cannot swap two members of a shell.
``"angle"``
    Rotation removed: the whole neighbourhood is rotated so that the nearest
    neighbour points along +x, then neighbours are ordered clockwise.
    Neighbours at nearly the same angle (collinear ones, within
    ``angle_tolerance`` degrees of each other) are ordered by distance, and
    directions within the tolerance of the first neighbour count as the first
    direction (no wrap-around at 360 degrees).

Shells
------
The vector of a perfect lattice is only the same for every atom when the
count ``k`` closes a shell; otherwise which members of a partly used shell
are kept is decided by noise. Closing counts: square 4, 8, 12, 20, 24;
hexagonal (triangular) 6, 12, 18, 30; honeycomb 3, 9, 12, 18; a square
lattice seen with its centred sublattice (perovskite [001] A+B) 4, 8, 12.
Between these counts, use ``radius`` (all neighbours within a distance,
a count per atom) instead.
"""

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ._checks import (
    check_array,
    check_bool,
    check_integer,
    check_memory,
    check_number,
    check_numbers,
    check_xy,
)
from ._parallel import kd_query, query_workers

__all__ = [
    "Neighbourhoods",
    "neighbour_vectors",
    "neighbour_invariants",
    "rotate_vectors",
    "check_positions",
    "locate_centres",
    "shell_count",
    "open_shell",
]

METRICS = ("distance", "angle")


@dataclass
class Neighbourhoods:
    """Result of :func:`neighbour_vectors`.

    Attributes
    ----------
    centres : numpy.ndarray of int, shape (n,)
        Index of each centre atom in the input positions.
    vectors : numpy.ndarray, shape (n, k, 2)
        Neighbour vectors ``(dx, dy)`` in the chosen order; NaN where an atom
        has fewer than ``k`` neighbours (``radius`` mode). For the angle
        metric they are rotated (see ``rotation``).
    indices : numpy.ndarray of int, shape (n, k)
        Index of each neighbour atom, -1 where missing.
    counts : numpy.ndarray of int, shape (n,)
        Number of neighbours of each centre.
    rotation : numpy.ndarray, shape (n,)
        Direction of the nearest neighbour (radians, ``atan2(dy, dx)``). The
        angle metric rotated each neighbourhood by ``-rotation``; rotate by
        ``+rotation`` to get image-frame vectors back.
    """

    centres: np.ndarray
    vectors: np.ndarray
    indices: np.ndarray
    counts: np.ndarray
    rotation: np.ndarray


def check_positions(x, y, min_atoms=1):
    """Validated ``(n, 2)`` positions: finite, distinct, at least ``min_atoms``.

    Parameters
    ----------
    x, y : array_like
        Positions, one per atom.
    min_atoms : int
        Smallest acceptable number of atoms.

    Returns
    -------
    numpy.ndarray, shape (n, 2)

    Examples
    --------
    >>> check_positions([0, 1], [0, 0]).shape
    (2, 2)
    """
    pts = check_xy(x, y, flatten=True)
    min_atoms = check_integer(min_atoms, "min_atoms", minimum=1)
    if len(pts) < min_atoms:
        raise ValueError(f"{len(pts)} atom(s) given; at least {min_atoms} are needed.")
    if len(pts) > 1:
        span = float(np.ptp(pts, axis=0).max()) or 1.0
        pairs = cKDTree(pts).query_pairs(1e-9 * span, output_type="ndarray")
        if len(pairs):
            i, j = pairs[0]
            raise ValueError(
                f"{len(pairs)} pair(s) of atoms share a position (e.g. atoms {i} and "
                f"{j} at ({pts[i, 0]:g}, {pts[i, 1]:g})); remove the duplicates."
            )
    return pts


def _check_parameters(
    n_neighbours, metric, radius, angle_tolerance, distance_tolerance
):
    if metric not in METRICS:
        raise ValueError(f"Unknown metric {metric!r}; use one of {METRICS}.")
    if radius is not None:
        check_number(radius, "radius")
    check_number(angle_tolerance, "angle_tolerance")
    check_number(distance_tolerance, "distance_tolerance")
    if radius is None and n_neighbours is None:
        raise ValueError("Give `n_neighbours`, `radius` or both.")
    if n_neighbours is not None:
        check_integer(n_neighbours, "n_neighbours", minimum=1, type_error=ValueError)
    if radius is not None and not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"`radius` must be a positive distance, got {radius!r}.")
    if not 0 <= angle_tolerance < 90:
        raise ValueError(
            f"`angle_tolerance` must be in [0, 90) degrees, got {angle_tolerance!r}."
        )
    if not 0 <= distance_tolerance < 1:
        raise ValueError(
            f"`distance_tolerance` must be in [0, 1), got {distance_tolerance!r}."
        )


def _query(tree, pts, k, radius):
    """Distances and indices of up to k neighbours (within radius), self dropped."""
    n = len(pts)
    if radius is not None:
        within = tree.query_ball_point(
            pts, radius, return_length=True, workers=query_workers(pts)
        )
        kmax = int(within.max()) - 1
        k = kmax if k is None else min(k, kmax)
        if k < 1:
            raise ValueError(
                f"No atom has a neighbour within `radius`={radius:g}; the nearest "
                "neighbours are farther apart."
            )
    if k > n - 1:
        raise ValueError(
            f"{n} atom(s) cannot have {k} neighbours each; at least {k + 1} atoms "
            "are needed."
        )
    ub = np.inf if radius is None else radius * (1 + 1e-12)
    d, idx = kd_query(tree, pts, k=k + 1, distance_upper_bound=ub)
    d, idx = d[:, 1:], idx[:, 1:]
    idx = np.where(np.isfinite(d), idx, -1)
    return d, idx


def _finite_numbers(value, name, n, what):
    """``n`` finite numbers; ValueError (as this module raises for values)."""
    try:
        return check_numbers(value, name, n, what)
    except TypeError as e:
        raise ValueError(str(e)) from None


def _edge_distance(pts, extent):
    xmin, xmax, ymin, ymax = extent
    return np.minimum.reduce(
        [pts[:, 0] - xmin, xmax - pts[:, 0], pts[:, 1] - ymin, ymax - pts[:, 1]]
    )


def _reference_angle(theta):
    """An angle far from every pooled neighbour direction.

    The middle of the empty (least populated) run of directions that comes
    last before 360 degrees, so that ordering starts near +x.
    """
    t = np.mod(theta[np.isfinite(theta)], 2 * np.pi)
    nb = 360
    h = np.bincount((t / (2 * np.pi) * nb).astype(int) % nb, minlength=nb)
    # smooth circularly so one stray count does not decide
    hs = sum(np.roll(h, s) for s in range(-5, 6))
    empty = hs == hs.min()
    if empty.all():
        return 0.0
    # rotate so that bin 0 is occupied, then take the last empty run
    shift = int(np.flatnonzero(~empty)[0])
    e = np.roll(empty, -shift)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], e.astype(int), [0]])))
    start, stop = edges[-2], edges[-1]
    mid = ((start + stop) / 2 + shift) % nb
    return float(mid / nb * 2 * np.pi)


def _order_by_group(group, secondary):
    """Row-wise order by integer ``group``, then by ``secondary`` (finite)."""
    rank = np.argsort(np.argsort(secondary, axis=1, kind="stable"), axis=1)
    key = group.astype(float) * (secondary.shape[1] + 1) + rank
    return np.argsort(key, axis=1, kind="stable")


def _grouped_order(primary, secondary, gap):
    """Row-wise order by ``primary`` with near-equal runs ordered by ``secondary``.

    Consecutive sorted primary values closer than ``gap`` (a scalar) are
    chained into one group; groups keep the primary order, members of a group
    are sorted by ``secondary``. NaN/inf primaries go last.
    """
    n, k = primary.shape
    o = np.argsort(primary, axis=1, kind="stable")
    p = np.take_along_axis(primary, o, axis=1)
    step = (np.diff(p, axis=1) > gap) | ~np.isfinite(p[:, 1:])
    group = np.concatenate([np.zeros((n, 1), int), np.cumsum(step, axis=1)], axis=1)
    sec = np.take_along_axis(secondary, o, axis=1)
    fin = np.isfinite(sec)
    lo = np.where(fin, sec, np.inf).min(axis=1, keepdims=True)
    hi = np.where(fin, sec, -np.inf).max(axis=1, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    rank = np.where(fin, (sec - lo) / (span * (1 + 1e-9)), 0.0)
    o2 = np.argsort(group + rank, axis=1, kind="stable")
    return np.take_along_axis(o, o2, axis=1)


def _shells(d, distance_tolerance):
    """Shell index of every neighbour, the same rule for all atoms.

    Distances are pooled (in units of the median nearest-neighbour distance)
    and cut in the middle of every empty stretch (histogram below 1 % of its
    peak) at least ``distance_tolerance / 2`` wide, so noise that stays
    inside a shell never moves a neighbour to another shell. Without such a
    gap (one shell, disorder, overlapping far shells) the neighbours form a
    single group. Missing neighbours (inf) get the largest index.
    """
    fin = np.isfinite(d)
    nn = np.median(d[:, 0][fin[:, 0]])
    rho = np.where(fin, d / nn, np.inf)
    r = rho[fin]
    w = 0.01
    top = int(np.quantile(r, 0.999) / w) + 1 if r.size else 1
    h = np.bincount(np.clip((r / w).astype(int), 0, top), minlength=top + 1)
    h = np.convolve(h, np.ones(5) / 5, mode="same")
    low = h <= 0.01 * h.max()
    e = np.flatnonzero(np.diff(np.concatenate([[0], low.astype(int), [0]])))
    starts, stops = e[0::2], e[1::2]
    populated = np.flatnonzero(~low)
    wide = stops - starts >= max(1, round(distance_tolerance / 2 / w))
    inner = (starts > populated[0]) & (stops <= populated[-1]) & wide
    edges = (starts[inner] + stops[inner]) / 2 * w
    shell = np.searchsorted(edges, rho)
    return np.where(fin, shell, len(edges) + 1)


def open_shell(x, y, k, centres=None, tolerance=1.05):
    """Whether the first ``k`` neighbours of each atom cut a shell.

    A neighbourhood of ``k`` neighbours cuts a shell when its ``(k+1)``-th
    nearest neighbour is nearly as close as its ``k``-th (within
    ``tolerance``): which members of that shell it keeps is then decided by
    noise (a square lattice with k = 6 keeps 2 of its 4 second neighbours;
    a hexagonal one with k = 4, 4 of its 6 first).

    Parameters
    ----------
    x, y : array_like
        Atom positions in one unit.
    k : int
        Neighbours per neighbourhood.
    centres : array_like of int, optional
        Atoms to test (default all).
    tolerance : float
        Largest ratio of the ``(k+1)``-th to the ``k``-th neighbour distance
        of an open shell (> 1).

    Returns
    -------
    numpy.ndarray of bool
        One per centre.

    Examples
    --------
    >>> yy, xx = np.mgrid[0:9, 0:9]
    >>> x, y = xx.ravel().astype(float), yy.ravel().astype(float)
    >>> bool(open_shell(x, y, 4, [40])[0]), bool(open_shell(x, y, 6, [40])[0])
    (False, True)
    """
    k = check_integer(k, "k", minimum=1)
    tol = check_number(tolerance, "tolerance", "a ratio")
    if not (np.isfinite(tol) and tol > 1):
        raise ValueError(f"`tolerance` must be a ratio above 1, got {tolerance!r}.")
    pts = check_positions(x, y, min_atoms=k + 2)
    c = np.arange(len(pts)) if centres is None else np.asarray(centres, dtype=int)
    d, _ = kd_query(cKDTree(pts), pts[c], k=k + 2)
    return d[:, k + 1] < tol * d[:, k]


def shell_count(x, y, minimum=3, maximum=12, jump=1.15):
    """Smallest neighbour count that closes a shell, for every atom alike.

    The median over atoms of the distance to the ``j``-th nearest neighbour,
    ``D_j``, rises in steps, one per shell. The result is the first count
    ``k >= minimum`` after which it jumps, ``D_{k+1} >= jump * D_k``, so that
    no neighbourhood keeps a noise-chosen part of a shell (4 on a square
    lattice and on perovskite [001] A+B, 6 on a hexagonal one, 3 on a
    honeycomb such as MoS2); the jump must also be a step, at least 1.1
    times the ratio before it (random points grow smoothly, about as
    ``sqrt(k)``, and close no shell). Medians, not a pooled histogram, so
    that the broad shells of noisy real images and a few defects still
    close.

    Parameters
    ----------
    x, y : array_like
        Atom positions in one unit (pixels: x = column, y = row).
    minimum : int
        Fewest neighbours.
    maximum : int
        Most neighbours; when no shell closes between ``minimum`` and
        ``maximum`` (a complex, disordered or strongly distorted
        structure), the result is the count with the largest relative jump
        (of jumps within 3 % of the largest, the last: a near tie would
        otherwise be decided by a few atoms) and ``closed`` is False.
    jump : float
        Least ratio of the next distance to the last one (> 1).

    Returns
    -------
    count : int
    closed : bool
        Whether ``count`` closes a shell.

    Examples
    --------
    >>> yy, xx = np.mgrid[0:12, 0:12]
    >>> shell_count(xx.ravel(), yy.ravel())  # square: 4 at distance 1
    (4, True)
    >>> xy = np.array([(i + 0.5 * (j % 2), j * 3**0.5 / 2)
    ...                for i in range(12) for j in range(12)])
    >>> shell_count(xy[:, 0], xy[:, 1])  # hexagonal: 6
    (6, True)
    """
    minimum = check_integer(minimum, "minimum", minimum=1)
    maximum = check_integer(maximum, "maximum", minimum=minimum)
    jump = check_number(jump, "jump", "a ratio")
    if not (np.isfinite(jump) and jump > 1):
        raise ValueError(f"`jump` must be a ratio above 1, got {jump!r}.")
    pts = check_positions(x, y, min_atoms=minimum + 2)
    k = min(maximum + 1, len(pts) - 1)
    d, _ = _query(cKDTree(pts), pts, k, None)
    # D_j from the atoms whose neighbours cannot be cut off by the bounding
    # box (edge distance >= d_j): one set of atoms, inner for the largest
    # count, when there are 10 of them (every D_j then comes from the same
    # atoms, so that a change of population, e.g. across an interface, does
    # not make a step); a small crystal (a 6 x 6 square has no atom whose 13
    # neighbours all lie inside) has each count measured on its own inner
    # atoms (at least 5), so that its first shells still come from the interior
    extent = (pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].min(), pts[:, 1].max())
    inner = _edge_distance(pts, extent)[:, None] >= d
    if inner[:, -1].sum() >= 10:
        med = np.median(d[inner[:, -1]], axis=0)
    else:
        enough = inner.sum(axis=0) >= 5
        med = np.array(
            [
                np.median(d[inner[:, j], j] if enough[j] else d[:, j])
                for j in range(d.shape[1])
            ]
        )
    # ratio[c] = D_{c+1} / D_c for c = 1 .. k-1 (index c - 1)
    ratio = np.where(med[:-1] > 0, med[1:] / np.where(med[:-1] > 0, med[:-1], 1), 1.0)
    counts = np.arange(minimum, k)
    if counts.size == 0:
        return min(6, maximum), False
    r = ratio[counts - 1]
    before = np.where(counts >= 2, ratio[np.maximum(counts - 2, 0)], 1.0)
    # a shell ends in a step, not in the smooth growth of random points
    # (D_k ~ sqrt(k): every ratio a little above the next)
    closes = np.flatnonzero((r >= jump) & (r >= 1.1 * before))
    if closes.size:
        return int(counts[closes[0]]), True
    # no shell closes: the largest jump, and of jumps within 3 % of it the
    # last (two near-equal jumps, as 1.131 and 1.135 on the tungsten bronze,
    # would otherwise swap with a few atoms more or less, and k with them)
    return int(counts[np.flatnonzero(r >= r.max() / _NEAR_TIE)[-1]]), False


#: Jumps within this ratio of the largest are a tie (the last one is taken).
_NEAR_TIE = 1.03


def _shell_rotation(theta, d, distance_tolerance):
    """Orientation of each neighbourhood from its whole first shell.

    The first shell (see :func:`_shells`) holds ``m`` neighbours. Its
    orientation is the ``m``-fold circular mean
    ``arg(sum exp(i m theta)) / m``, which uses every member (a single
    nearest neighbour gives a noisier angle); when the shell is not close to
    ``m``-fold symmetric (mean resultant length below 0.5) the nearest
    neighbour's direction is used instead. Of the ``m`` equivalent
    directions, the one closest to the image-wide mean orientation is turned
    to +x, and the shell member closest to it is the anchor.

    Returns ``(rotation, anchor column)``.
    """
    groups = _shells(d, distance_tolerance)
    shell = groups == groups[:, :1]
    m = shell.sum(axis=1)
    z = np.where(shell, np.exp(1j * m[:, None] * np.nan_to_num(theta)), 0).sum(axis=1)
    phi = np.angle(z) / m
    # a shell that is not m-fold symmetric (|mean resultant| small): nearest one
    phi = np.where(np.abs(z) >= 0.5 * m, phi, theta[:, 0])
    sector = 2 * np.pi / m
    # Which of the m symmetry-equivalent directions becomes +x: the one
    # closest to one direction shared by the whole image (the m-fold mean
    # of all atoms' orientations), so that a distortion that breaks the
    # shell's symmetry lands in the same vector components for every atom.
    # Choosing per atom (e.g. the nearest neighbour) would let noise pick.
    mc = np.bincount(m).argmax()
    alpha = np.angle(np.exp(1j * mc * phi[m == mc]).sum()) / mc
    turns = np.round((alpha - phi) / sector)
    rotation = phi + turns * sector
    off = np.angle(np.exp(1j * (theta - rotation[:, None])))
    first = np.argmin(np.where(shell, np.abs(off), np.inf), axis=1)
    return rotation, first


def rotate_vectors(vectors, angle):
    """Rotate ``(..., k, 2)`` vectors by ``angle`` (radians, one per row).

    Parameters
    ----------
    vectors : numpy.ndarray, shape (n, k, 2)
    angle : array_like, shape (n,)
        Positive angles turn +x towards +y.

    Returns
    -------
    numpy.ndarray, shape (n, k, 2)

    Examples
    --------
    >>> v = np.array([[[1.0, 0.0]]])
    >>> np.round(rotate_vectors(v, [np.pi / 2]), 12)
    array([[[0., 1.]]])
    """
    vectors = check_array(vectors, "vectors", ndim=3)
    angle = check_array(angle, "angle", ndim=1)
    if vectors.shape[-1] != 2 or len(angle) != len(vectors):
        raise ValueError(
            f"`vectors` must have shape (n, k, 2) and `angle` shape (n,), got "
            f"{vectors.shape} and {angle.shape}."
        )
    c = np.cos(angle)[:, None]
    s = np.sin(angle)[:, None]
    vx, vy = vectors[..., 0], vectors[..., 1]
    return np.stack([c * vx - s * vy, s * vx + c * vy], axis=-1)


def neighbour_vectors(
    x,
    y,
    n_neighbours=6,
    metric="distance",
    radius=None,
    exclude_border=True,
    extent=None,
    border=None,
    angle_tolerance=10.0,
    distance_tolerance=0.1,
):
    """Neighbourhood vectors of every atom, ordered by distance or by angle.

    Parameters
    ----------
    x, y : array_like
        Atom positions in one unit (pixels: x = column, y = row).
    n_neighbours : int or None
        Number of nearest neighbours ``k``. With ``radius`` it caps the count;
        ``None`` with ``radius`` keeps every neighbour within it.
    metric : {"distance", "angle"}
        Ordering (see the module docstring); ``"angle"`` also removes the
        rotation of each neighbourhood.
    radius : float, optional
        Keep only neighbours within this distance: the count varies per atom
        and missing entries are NaN (index -1).
    exclude_border : bool
        Do not use atoms near the edge of ``extent`` as centres (they remain
        neighbours of inner atoms).
    extent : tuple of float, optional
        ``(xmin, xmax, ymin, ymax)`` of the imaged area; the bounding box of
        the atoms when not given.
    border : float, optional
        Width of the excluded border. When not given, a centre needs to be
        farther from the edge than its farthest neighbour (``radius`` in
        radius mode) plus half the median nearest-neighbour distance, so no
        true neighbour can lie outside the image.
    angle_tolerance : float
        Degrees within which two neighbour directions count as the same
        (angle metric: ordered by distance).
    distance_tolerance : float
        Shells are separated where no atom has a neighbour over a stretch of
        distances at least half this fraction of the nearest-neighbour
        distance wide (pooled over all atoms). Within a shell the distance
        metric orders by angle. The default 0.1 (gaps of 0.05) sits below the
        closest shells of common lattices (0.14-0.24 apart) and is never
        bridged by the position noise of refined atoms.

    Returns
    -------
    Neighbourhoods

    Examples
    --------
    >>> yy, xx = np.mgrid[0:9, 0:9]
    >>> nb = neighbour_vectors(xx.ravel(), yy.ravel(), n_neighbours=4)
    >>> nb.vectors[0].tolist()  # right, down, left, up: clockwise on screen
    [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]
    """
    _check_parameters(n_neighbours, metric, radius, angle_tolerance, distance_tolerance)
    exclude_border = check_bool(exclude_border, "exclude_border")
    if border is not None:
        check_number(border, "border")
    k_req = None if n_neighbours is None else int(n_neighbours)
    pts = check_positions(x, y, min_atoms=1)
    need = 2 if k_req is None else k_req + 1
    if len(pts) < need:
        raise ValueError(
            f"{len(pts)} atom(s) given; at least {need} are needed"
            + ("." if k_req is None else f" for `n_neighbours` = {k_req}.")
        )
    if radius is not None and k_req is None:
        # every pair within the radius is kept: refuse a radius whose pairs
        # cannot fit (the atoms' density times the disc's area, per atom)
        span = np.ptp(pts, axis=0)
        density = len(pts) / max(float(np.prod(np.maximum(span, 1e-300))), 1e-300)
        per_atom = min(len(pts) - 1, np.pi * radius**2 * density + 1)
        check_memory(
            40.0 * len(pts) * per_atom,
            "radius",
            radius,
            f"{len(pts)} atoms × up to {per_atom:.3g} neighbours each",
        )
    tree = cKDTree(pts)
    d, idx = _query(tree, pts, k_req, radius)
    nn = float(np.median(d[:, 0][np.isfinite(d[:, 0])]))

    centres = np.arange(len(pts))
    if exclude_border:
        if extent is not None:
            extent = _finite_numbers(extent, "extent", 4, "(xmin, xmax, ymin, ymax)")
        if extent is None:
            extent = (
                *(pts[:, 0].min(), pts[:, 0].max()),
                pts[:, 1].min(),
                pts[:, 1].max(),
            )
        edge = _edge_distance(pts, extent)
        if border is None:
            reach = (
                radius
                if radius is not None
                else np.nanmax(np.where(np.isfinite(d), d, np.nan), axis=1)
            )
            need = reach + 0.5 * nn
        else:
            check_number(border, "border")
            if not (np.isfinite(border) and border >= 0):
                raise ValueError(
                    f"`border` must be a non-negative distance, got {border!r}."
                )
            need = border
        centres = np.flatnonzero(edge >= need)
        if len(centres) == 0:
            raise ValueError(
                f"All {len(pts)} atoms lie within the border excluded from centres "
                f"(need {np.min(need):.4g} from the edge); use a smaller `border`, "
                "fewer neighbours or `exclude_border=False`."
            )
        d, idx = d[centres], idx[centres]
        if not np.isfinite(d).any():  # radius mode: only edge atoms had one
            raise ValueError(
                f"No centre atom has a neighbour within `radius`={radius:g} (only "
                "atoms near the edge, which are not centres, do); use a larger "
                "`radius`."
            )

    v = pts[np.where(idx >= 0, idx, 0)] - pts[centres][:, None, :]
    v[idx < 0] = np.nan
    theta = np.arctan2(v[..., 1], v[..., 0])
    rotation = theta[:, 0].copy()

    if metric == "distance":
        ref = _reference_angle(theta)
        ang = np.mod(theta - ref, 2 * np.pi)
        order = _order_by_group(_shells(d, distance_tolerance), ang)
    else:
        tol = np.deg2rad(angle_tolerance)
        rotation, first = _shell_rotation(theta, d, distance_tolerance)
        ang = np.mod(theta - rotation[:, None], 2 * np.pi)
        ang = np.where(ang > 2 * np.pi - tol, ang - 2 * np.pi, ang)
        # the anchor neighbour leads its direction group
        np.put_along_axis(ang, first[:, None], -1.0, axis=1)
        ang = np.where(idx >= 0, ang, np.inf)
        order = _grouped_order(ang, np.where(idx >= 0, d, np.inf), tol)
        v = rotate_vectors(v, -rotation)

    v = np.take_along_axis(v, order[..., None], axis=1)
    idx = np.take_along_axis(idx, order, axis=1)
    return Neighbourhoods(
        centres=centres,
        vectors=v,
        indices=idx,
        counts=(idx >= 0).sum(axis=1),
        rotation=rotation,
    )


def neighbour_invariants(vectors):
    """Rotation-invariant scalars of neighbourhoods, and the polar displacement.

    Parameters
    ----------
    vectors : numpy.ndarray, shape (n, k, 2)
        Image-frame neighbour vectors (NaN for missing neighbours).

    Returns
    -------
    dict of str to numpy.ndarray
        ``bond_lengths`` (n, k): distances sorted ascending (NaN last);
        ``bond_angles`` (n, k): angles in degrees between angularly adjacent
        bonds, sorted ascending (they sum to 360; NaN for missing);
        ``polar`` (n, 2): displacement of the centre from the centroid of its
        neighbours, i.e. minus the vector sum of the neighbour vectors divided
        by their count.

    Examples
    --------
    >>> v = np.array([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.2]]])
    >>> inv = neighbour_invariants(v)
    >>> inv["bond_lengths"][0].tolist()
    [1.0, 1.0, 1.0, 1.2]
    >>> inv["bond_angles"][0].tolist()
    [90.0, 90.0, 90.0, 90.0]
    >>> (np.round(inv["polar"][0], 3) + 0.0).tolist()
    [0.0, 0.05]
    """
    v = check_array(vectors, "vectors", ndim=3)
    r = np.hypot(v[..., 0], v[..., 1])
    lengths = np.sort(r, axis=1)
    t = np.arctan2(v[..., 1], v[..., 0])
    t = np.sort(np.where(np.isfinite(t), np.mod(t, 2 * np.pi), np.nan), axis=1)
    count = np.isfinite(t).sum(axis=1)
    first = t[:, 0]
    last = np.take_along_axis(t, np.maximum(count - 1, 0)[:, None], axis=1)[:, 0]
    gaps = np.diff(t, axis=1)
    wrap = first + 2 * np.pi - last
    angles = np.full_like(t, np.nan)
    angles[:, :-1] = gaps
    rows = np.arange(len(t))
    angles[rows, np.maximum(count - 1, 0)] = wrap
    angles = np.sort(np.rad2deg(angles), axis=1)
    n_fin = np.isfinite(r).sum(axis=1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        polar = -np.nansum(v, axis=1) / n_fin
    return {"bond_lengths": lengths, "bond_angles": angles, "polar": polar}


def locate_centres(positions, vectors, rotation=None, tol=1e-6):
    """The atoms whose neighbours lie at ``vectors`` from them.

    A neighbourhood row that lost the index of its centre atom (a single row
    taken out of its table) is found again from the geometry: the centre is
    the atom ``c`` for which ``positions[c] + R(rotation[c]) v`` is an atom
    position for every finite vector ``v`` of the row. Refined positions are
    never exactly periodic, so on real data one atom remains; on an ideal,
    noise-free lattice every inner atom fits, and all are returned.

    Parameters
    ----------
    positions : numpy.ndarray, shape (n, 2)
        Atom positions (x, y); NaN rows are never centres.
    vectors : numpy.ndarray, shape (k, 2)
        The row's neighbour vectors (NaN = missing), in the local frame and
        the units of ``positions``.
    rotation : array_like, shape (n,), optional
        Angle (radians) that turns each atom's local frame into the image
        frame (the angle metric; NaN for atoms that are never centres); None
        for vectors in the image frame.
    tol : float
        Largest mismatch, in the units of ``positions`` (rounding only: the
        vectors are differences of the same positions).

    Returns
    -------
    numpy.ndarray of int
        Indices of the atoms that fit, ascending (empty when none).

    Examples
    --------
    >>> p = np.array([[0.0, 0.0], [1.0, 0.1], [0.2, 1.3], [2.0, 0.3]])
    >>> locate_centres(p, np.array([[1.0, 0.1], [0.2, 1.3]])).tolist()
    [0]
    >>> locate_centres(p, np.array([[1.0, 0.2]])).tolist()
    [1]
    """
    p = check_array(positions, "positions").reshape(-1, 2)
    v = check_array(vectors, "vectors").reshape(-1, 2)
    v = v[np.isfinite(v).all(axis=1)]
    finite = np.isfinite(p).all(axis=1)
    rot = None if rotation is None else np.asarray(rotation, dtype=float)
    ok = np.flatnonzero(finite)
    candidates = ok if rot is None else np.flatnonzero(finite & np.isfinite(rot))
    if v.size == 0 or candidates.size == 0:
        return np.zeros(0, dtype=np.int64)
    tree = cKDTree(p[ok])
    for vj in v:
        step = np.broadcast_to(vj, (len(candidates), 1, 2))
        if rot is not None:
            step = rotate_vectors(step, rot[candidates])
        d, _ = kd_query(tree, p[candidates] + step[:, 0])
        candidates = candidates[d <= tol]
        if candidates.size == 0:
            break
    return np.sort(candidates).astype(np.int64)
