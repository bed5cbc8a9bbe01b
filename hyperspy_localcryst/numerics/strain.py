"""Local strain from the atoms: each atom's lattice against a reference one,
on arrays in pixels (x = column, y = row).

For every atom, the vectors to its neighbours of the same lattice within
``reach`` times the longer reference vector are matched to lattice
translations of the reference (``n a1 + m a2`` with integer n, m; a vector
farther than ``tolerance`` times the shorter reference vector from every
translation joins two sites of a basis, or a defect, and is left out). The
local deformation gradient ``F`` is the least-squares map of the matched
reference translations onto the measured vectors,
``F = argmin sum_i |v_i - F t_i|^2``, fitted twice: vectors that miss the
first fit by more than 3.5 robust standard deviations of all misfits (a
misplaced atom at the image edge, a false detection) are left out of the
second. With ``D = F - I``:

- ``exx = D[0, 0]``, ``eyy = D[1, 1]``, ``exy = (D[0, 1] + D[1, 0]) / 2``
  (small-strain tensor, along the image axes);
- ``rotation`` = the angle of the rotation part of ``F`` (degrees, from +x
  towards +y, as the image's axes turn a vector);
- ``a``, ``b``: the local lengths of the two reference vectors, ``|F a1|``,
  ``|F a2|``;
- ``residual``: the RMS of ``v_i - F t_i`` (how well one homogeneous
  deformation describes the neighbourhood: large at a dislocation core, a
  boundary or a wrong atom), pixels.

An atom needs at least 4 matched neighbours in two directions, on every side
of it (the mean of its matched translations at most ``balance``, 0.25, of the
shorter reference vector: a one-sided neighbourhood measures ``F`` half-way
to its neighbours); elsewhere every value is NaN. Neighbours never come from
another frame.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ._checks import check_array, check_frames, check_positive, check_xy
from .frames import frame_members

__all__ = ["local_deformation", "strain_components"]


def _reference(vectors):
    v = check_array(vectors, "reference", ndim=2)
    if v.shape != (2, 2) or not np.all(np.isfinite(v)):
        raise ValueError(
            f"`reference` must be two finite lattice vectors (rows a1, a2, "
            f"pixels), got {np.asarray(vectors)!r:.80}."
        )
    if abs(np.linalg.det(v)) < 1e-6 * np.prod(np.hypot(v[:, 0], v[:, 1])):
        raise ValueError("The two `reference` vectors are collinear.")
    return v


def _fit(i, v, t, m, min_neighbours, balance=np.inf):
    """Per atom ``F = (sum v t^T)(sum t t^T)^-1`` over its vectors (``i``: the
    atom of each vector); NaN without enough vectors in two directions, or
    when the mean of its translations ``t`` is longer than ``balance``."""
    cnt = np.bincount(i, minlength=m)
    centroid = np.hypot(
        np.bincount(i, t[:, 0], minlength=m), np.bincount(i, t[:, 1], minlength=m)
    ) / np.maximum(cnt, 1)
    vt = np.empty((m, 2, 2))
    tt = np.empty((m, 2, 2))
    for a in range(2):
        for b in range(2):
            vt[:, a, b] = np.bincount(i, v[:, a] * t[:, b], minlength=m)
            tt[:, a, b] = np.bincount(i, t[:, a] * t[:, b], minlength=m)
    has = cnt >= max(2, min_neighbours)
    vt[~has], tt[~has] = 0.0, np.eye(2)
    det = tt[:, 0, 0] * tt[:, 1, 1] - tt[:, 0, 1] * tt[:, 1, 0]
    scale2 = (tt[:, 0, 0] + tt[:, 1, 1]) ** 2
    well = has & (det > 1e-3 * scale2)  # two directions, not one row
    well &= centroid <= balance  # neighbours on every side
    tt[~well] = np.eye(2)
    F = vt @ np.linalg.inv(tt)
    F[~well] = np.nan
    return F, well, cnt


def local_deformation(
    x,
    y,
    reference,
    frame=None,
    reach=1.5,
    tolerance=0.25,
    min_neighbours=4,
    balance=0.25,
):
    """The local deformation gradient of every atom against a reference lattice.

    Parameters
    ----------
    x, y : array_like
        Positions of the atoms of one lattice (one sublattice), pixels.
    reference : array_like, shape (2, 2)
        Reference lattice vectors (rows a1, a2), pixels.
    frame : array_like of int, optional
        Frame of each atom: neighbours never come from another frame.
    reach : float
        Neighbours within ``reach`` times the longer reference vector (1.5:
        the first two shells of a square lattice, 8 neighbours).
    tolerance : float
        Largest distance of a neighbour vector from a lattice translation,
        as a fraction of the shorter reference vector.
    min_neighbours : int
        Fewest matched neighbours for a measurement (at least 2, in two
        directions).
    balance : float
        Longest mean of an atom's matched translations, as a fraction of the
        shorter reference vector: neighbours on every side. A one-sided
        neighbourhood (the edge of the image or of a crystal) measures ``F``
        half-way to its neighbours, not at the atom, which biases a strain
        gradient (by 2 % on a 260 px image); a vacancy among 8 neighbours
        moves the mean by 0.14 and is kept. ``numpy.inf`` keeps every atom.

    Returns
    -------
    dict
        ``F`` (n, 2, 2) deformation gradients (NaN where not measured),
        ``residual`` (n,) RMS misfit in pixels, ``n_neighbours`` (n,) the
        neighbours matched.

    Examples
    --------
    A square lattice (10 px) stretched by 2 % along x:

    >>> i, j = np.mgrid[0:8, 0:8].astype(float)
    >>> r = local_deformation(10.2 * i.ravel(), 10.0 * j.ravel(), [[10, 0], [0, 10]])
    >>> np.round(np.nanmedian(r["F"], axis=0), 6).tolist()
    [[1.02, 0.0], [0.0, 1.0]]
    """
    pts = check_xy(x, y, allow_nan=True)
    ref = _reference(reference)
    reach = check_positive(reach, "reach", "a multiple of the reference vectors")
    tolerance = check_positive(tolerance, "tolerance", "a fraction")
    n = len(pts)
    frame = check_frames(frame, n)
    lengths = np.hypot(ref[:, 0], ref[:, 1])
    radius = reach * lengths.max()
    tol = tolerance * lengths.min()
    bal = (
        np.inf
        if isinstance(balance, float) and balance == np.inf
        else check_positive(balance, "balance", "a fraction") * lengths.min()
    )
    inv = np.linalg.inv(ref.T)  # fractional coordinates: f = inv @ v
    F = np.full((n, 2, 2), np.nan)
    residual = np.full(n, np.nan)
    count = np.zeros(n, dtype=np.int64)
    finite = np.isfinite(pts).all(axis=1)
    for _, members, _ in frame_members(frame, np.flatnonzero(finite)):
        members = members[finite[members]]
        if len(members) < 3:
            continue
        p = pts[members]
        tree = cKDTree(p)
        pairs = tree.query_pairs(radius, output_type="ndarray")
        if not len(pairs):
            continue
        i = np.r_[pairs[:, 0], pairs[:, 1]]
        j = np.r_[pairs[:, 1], pairs[:, 0]]
        v = p[j] - p[i]
        frac = v @ inv.T
        nm = np.round(frac)
        t = nm @ ref
        ok = np.any(nm != 0, axis=1) & (np.hypot(*(v - t).T) <= tol)
        i, v, t = i[ok], v[ok], t[ok]
        m = len(p)
        Fm, well, cnt = _fit(i, v, t, m, min_neighbours, bal)
        # one robust pass: a neighbour whose vector misses the fitted
        # deformation by more than 3.5 robust standard deviations (a
        # misplaced atom at the image edge, a wrong detection) is left out
        miss = np.hypot(*(v - np.einsum("nij,nj->ni", Fm[i], t)).T)
        good = np.isfinite(miss)
        if good.any():
            sd = float(np.median(miss[good])) / 1.1774  # Rayleigh median
            # (a floor far below any noise: exact positions keep every vector)
            keep = ~good | (miss <= max(3.5 * sd, 1e-6 * lengths.min()))
            if not keep.all():
                i, v, t = i[keep], v[keep], t[keep]
                Fm, well, cnt = _fit(i, v, t, m, min_neighbours, bal)
        miss = v - np.einsum("nij,nj->ni", Fm[i], t)
        ss = np.bincount(i, (miss**2).sum(axis=1), minlength=m)
        with np.errstate(invalid="ignore", divide="ignore"):
            res = np.sqrt(ss / np.maximum(cnt, 1))
        F[members] = Fm
        residual[members] = np.where(well, res, np.nan)
        count[members] = cnt
    return {"F": F, "residual": residual, "n_neighbours": count}


def strain_components(F, reference=None):
    """Strain, rotation and local lattice parameters of deformation gradients.

    Parameters
    ----------
    F : array_like, shape (n, 2, 2)
        Deformation gradients (:func:`local_deformation`).
    reference : array_like, shape (2, 2), optional
        Reference vectors (rows), for the local lengths ``a``, ``b``.

    Returns
    -------
    dict
        ``exx``, ``eyy``, ``exy`` (small strain along the image axes),
        ``rotation`` (degrees, from +x towards +y) and, with ``reference``,
        ``a``, ``b`` (local lengths of the reference vectors, pixels).

    Examples
    --------
    >>> c = strain_components([[[1.01, 0.0], [0.0, 0.99]]])
    >>> [round(float(c[k][0]), 4) for k in ("exx", "eyy", "exy", "rotation")]
    [0.01, -0.01, 0.0, 0.0]
    """
    F = check_array(F, "F", ndim=3)
    if F.shape[1:] != (2, 2):
        raise ValueError(f"`F` must have shape (n, 2, 2), got {F.shape}.")
    D = F - np.eye(2)
    out = {
        "exx": D[:, 0, 0],
        "eyy": D[:, 1, 1],
        "exy": 0.5 * (D[:, 0, 1] + D[:, 1, 0]),
        "rotation": np.degrees(
            np.arctan2(F[:, 1, 0] - F[:, 0, 1], F[:, 0, 0] + F[:, 1, 1])
        ),
    }
    if reference is not None:
        ref = _reference(reference)
        for name, r in zip(("a", "b"), ref):
            out[name] = np.hypot(*np.einsum("nij,j->ni", F, r).T)
    return out
