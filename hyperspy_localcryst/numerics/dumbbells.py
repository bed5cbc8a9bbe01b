"""Dumbbells: pairs of close columns (Si or Ge [110], GaN [11-20], the
cation pairs of many oxides) on arrays in pixels (x = column, y = row).

Two atoms are a dumbbell when each is the other's nearest neighbour and that
distance is clearly the shortest around both: below ``ratio`` times each
one's distance to its second-nearest atom (a pair stands out from the
lattice; in a plain lattice every atom has several nearest neighbours at the
same distance and no pair forms). The pair's separation, orientation and
centre follow, with standard errors propagated from the positions' errors
(independent between the two atoms), and, when a brightness is given, the
direction from the brighter to the dimmer column (the polarity of GaN).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ._checks import check_frames, check_per_atom, check_positive, check_xy
from ._parallel import kd_query
from .frames import frame_members

__all__ = ["find_dumbbells"]


def find_dumbbells(
    x,
    y,
    ratio=0.75,
    max_separation=None,
    frame=None,
    x_err=None,
    y_err=None,
    values=None,
):
    """Pairs of mutually nearest atoms that stand out from the lattice.

    Parameters
    ----------
    x, y : array_like
        Positions in pixels.
    ratio : float
        A pair's distance must be below ``ratio`` times each atom's distance
        to its second-nearest atom.
    max_separation : float, optional
        And below this (pixels).
    frame : array_like of int, optional
        Frame of each atom: pairs never join frames.
    x_err, y_err : array_like, optional
        Standard errors of the positions, for the pairs' errors.
    values : array_like, optional
        A brightness per atom (e.g. the fitted amplitude): each pair is
        ordered from the brighter to the dimmer atom, and ``direction`` is
        given.

    Returns
    -------
    dict
        Arrays with one value per pair: ``first``, ``second`` (atom indices;
        the brighter first with ``values``, else the one with the smaller x),
        ``x``, ``y`` (centre), ``separation``, ``orientation`` (deg, of the
        pair's axis, from +x towards +y, in (-90, 90]), ``direction`` (deg,
        first to second, in (-180, 180]; NaN without ``values``),
        ``separation_err``, ``orientation_err`` (deg; NaN without errors).

    Examples
    --------
    Pairs 3 px apart at 30 degrees on a 10 px square lattice:

    >>> i, j = np.mgrid[0:6, 0:6].astype(float)
    >>> c = np.column_stack([10 * i.ravel(), 10 * j.ravel()])
    >>> d = 1.5 * np.array([np.cos(np.pi / 6), np.sin(np.pi / 6)])
    >>> p = np.r_[c - d, c + d]
    >>> r = find_dumbbells(p[:, 0], p[:, 1])
    >>> len(r["first"]), round(float(np.median(r["separation"])), 6)
    (36, 3.0)
    >>> round(float(np.median(r["orientation"])), 6)
    30.0
    """
    pts = check_xy(x, y)
    n = len(pts)
    ratio = check_positive(ratio, "ratio", "a ratio of distances")
    if not ratio < 1:
        raise ValueError(f"`ratio` must be below 1, got {ratio}.")
    cap = (
        np.inf
        if max_separation is None
        else check_positive(max_separation, "max_separation", "a distance in pixels")
    )
    frame = check_frames(frame, n)
    errs = None
    if x_err is not None and y_err is not None:
        errs = np.column_stack(
            [check_per_atom(x_err, "x_err", n), check_per_atom(y_err, "y_err", n)]
        )
    values = check_per_atom(values, "values", n)
    first, second = [], []
    for _, members, _ in frame_members(frame):
        if len(members) < 3:
            continue
        p = pts[members]
        d, j = kd_query(cKDTree(p), p, k=3)
        nearest, d1, d2 = j[:, 1], d[:, 1], d[:, 2]
        i = np.arange(len(p))
        mutual = nearest[nearest] == i
        stands_out = (d1 < ratio * d2) & (d1 < ratio * d2[nearest]) & (d1 < cap)
        keep = mutual & stands_out & (i < nearest)
        first.append(members[i[keep]])
        second.append(members[nearest[keep]])
    a = np.concatenate(first) if first else np.empty(0, np.int64)
    b = np.concatenate(second) if second else np.empty(0, np.int64)
    if values is not None:
        swap = values[b] > values[a]
    else:
        swap = pts[b, 0] < pts[a, 0]
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    v = pts[b] - pts[a]
    sep = np.hypot(v[:, 0], v[:, 1])
    direction = np.degrees(np.arctan2(v[:, 1], v[:, 0]))
    orientation = np.where(direction > 90, direction - 180, direction)
    orientation = np.where(orientation <= -90, orientation + 180, orientation)
    sep_err = np.full(len(a), np.nan)
    ori_err = np.full(len(a), np.nan)
    if errs is not None:
        # var of the difference vector per axis: both atoms' variances
        vx = errs[a, 0] ** 2 + errs[b, 0] ** 2
        vy = errs[a, 1] ** 2 + errs[b, 1] ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            ux, uy = v[:, 0] / sep, v[:, 1] / sep
            sep_err = np.sqrt(ux**2 * vx + uy**2 * vy)
            ori_err = np.degrees(np.sqrt(uy**2 * vx + ux**2 * vy) / sep)
    centre = 0.5 * (pts[a] + pts[b])
    return {
        "first": a,
        "second": b,
        "x": centre[:, 0],
        "y": centre[:, 1],
        "separation": sep,
        "orientation": orientation,
        "direction": direction if values is not None else np.full(len(a), np.nan),
        "separation_err": sep_err,
        "orientation_err": ori_err,
    }
