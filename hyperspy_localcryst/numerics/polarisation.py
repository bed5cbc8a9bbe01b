"""Displacement of each atom of one sublattice from the centre of its cell of
another: the polar displacement of a B cation from the centroid of the A
cations around it (perovskite [001]: four A at the corners of the A cell), on
arrays in pixels (x = column, y = row).

The cell of a centre atom is its ``k`` nearest atoms of the reference
sublattice. ``k`` is the count that closes their first shell ("auto", the
rule of :func:`~hyperspy_localcryst.numerics.neighbourhoods.shell_count` on
the centre-to-reference distances: 4 for B in the A cell of perovskite
[001], 3 for a site in a triangle of a hexagonal lattice). A centre is
measured only where its cell surrounds it: no angular gap of 150° or more
between its reference neighbours (an atom at the edge of the image or at an
interface sees its reference atoms on one side only), and the k-th
neighbour no farther than 1.5 times the nearest. Elsewhere the displacement
is NaN: a centroid of atoms on one side is not a cell centre.

Uncertainties propagate the positions' standard errors, independent
between atoms: ``dx_err**2 = x_err[centre]**2 + sum(x_err[ref]**2) / k**2``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ._checks import (
    check_array,
    check_frames,
    check_indices,
    check_integer,
    check_xy,
)
from ._parallel import kd_query
from .frames import frame_members

__all__ = ["cell_displacements", "cell_count"]

#: A cell must surround its centre: no gap between neighbour directions this wide
MAX_GAP_DEG = 150.0
#: ... and its k-th neighbour no farther than this times its nearest
MAX_SPREAD = 1.5


def cell_count(x, y, centres, reference, frame=None, maximum=8):
    """Reference atoms per cell: the count that surrounds the centre atoms
    and closes a shell.

    For each count ``k`` from 3 to ``maximum``, a centre votes for ``k`` when
    its ``k`` nearest reference atoms surround it (no angular gap of
    :data:`MAX_GAP_DEG` or more, the k-th within :data:`MAX_SPREAD` times the
    nearest) and the next one is at least 1.15 times as far (a closed shell).
    The count with most votes wins (the smaller one on a tie): 4 for B in the
    A cell of perovskite [001], 3 for a site in a triangle of a hexagonal
    lattice. Centres at the image edge or at an interface, whose reference
    atoms lie on one side, vote for nothing.

    Parameters
    ----------
    x, y : array_like
        Positions of every atom, pixels.
    centres, reference : array_like of int
        Indices of the centre atoms and of the reference atoms.
    frame : array_like of int, optional
        Frame of each atom (a pooled stack): cells never mix frames.
    maximum : int
        Largest count considered.

    Returns
    -------
    count : int
    closed : bool
        Whether any centre has a closed, surrounding cell of ``count``
        (False: no cell surrounds any centre; ``count`` is then 4).

    Examples
    --------
    >>> yy, xx = np.mgrid[0:8, 0:8].astype(float)
    >>> x = np.r_[xx.ravel(), xx.ravel() + 0.5]
    >>> y = np.r_[yy.ravel(), yy.ravel() + 0.5]
    >>> cell_count(x, y, np.arange(64, 128), np.arange(64))
    (4, True)
    """
    pts, centres, reference, frame = _inputs(x, y, centres, reference, frame)
    maximum = check_integer(maximum, "maximum", minimum=3)
    counts = np.arange(3, maximum + 1)
    votes = np.zeros(len(counts), dtype=np.int64)
    for _, c_rows, r_rows in _per_frame(frame, centres, reference):
        if len(r_rows) < 4:
            continue
        kq = min(maximum + 1, len(r_rows))
        ref = reference[r_rows]
        d, j = kd_query(cKDTree(pts[ref]), pts[centres[c_rows]], k=kq)
        vec = pts[ref[j]] - pts[centres[c_rows]][:, None, :]
        for i, k in enumerate(counts):
            if k >= kq:
                break
            closed = d[:, k] >= 1.15 * d[:, k - 1]
            votes[i] += int((closed & _surrounds(vec[:, :k], d[:, :k])).sum())
    if votes.max() == 0:
        return 4, False
    return int(counts[np.argmax(votes)]), True


def cell_displacements(
    x, y, centres, reference, n_neighbours="auto", frame=None, x_err=None, y_err=None
):
    """Displacement of each centre atom from the centroid of its cell.

    Parameters
    ----------
    x, y : array_like
        Positions of every atom in pixels (x = column, y = row).
    centres : array_like of int
        Indices of the atoms whose displacement is measured (B cations).
    reference : array_like of int
        Indices of the atoms whose centroid is the cell centre (A cations).
    n_neighbours : int or "auto"
        Reference atoms per cell; "auto": :func:`cell_count`.
    frame : array_like of int, optional
        Frame of each atom: cells never mix frames.
    x_err, y_err : array_like, optional
        Standard errors of the positions (pixels), for ``dx_err``/``dy_err``.

    Returns
    -------
    dict
        ``dx``, ``dy`` (pixels, centre minus centroid; NaN where the cell
        does not surround the centre), ``dx_err``, ``dy_err`` (NaN without
        errors), ``neighbours`` (``(n_centres, k)`` atom indices of each
        cell), ``n_neighbours`` (k), ``closed`` (whether k closes a shell),
        ``surrounded`` (bool per centre).

    Examples
    --------
    >>> yy, xx = np.mgrid[0:6, 0:6].astype(float)
    >>> x = np.r_[xx.ravel(), xx.ravel() + 0.5 + 0.03]  # B shifted +0.03 in x
    >>> y = np.r_[yy.ravel(), yy.ravel() + 0.5]
    >>> r = cell_displacements(x, y, np.arange(36, 72), np.arange(36))
    >>> r["n_neighbours"], round(float(np.nanmedian(r["dx"])), 3)
    (4, 0.03)
    >>> int(r["surrounded"].sum())  # the last row and column have no cell
    25
    """
    pts, centres, reference, frame = _inputs(x, y, centres, reference, frame)
    closed = True
    if isinstance(n_neighbours, str):
        if n_neighbours != "auto":
            raise ValueError(
                f"`n_neighbours` must be 'auto' or a count, got {n_neighbours!r:.60}."
            )
        k, closed = cell_count(pts[:, 0], pts[:, 1], centres, reference, frame)
    else:
        k = check_integer(n_neighbours, "n_neighbours", minimum=2)
    errs = None
    if x_err is not None or y_err is not None:
        if x_err is None or y_err is None:
            raise ValueError("Give both `x_err` and `y_err`, or neither.")
        errs = np.column_stack(
            [
                check_array(x_err, "x_err", ndim=1).ravel(),
                check_array(y_err, "y_err", ndim=1).ravel(),
            ]
        )
        if len(errs) != len(pts):
            raise ValueError(
                f"`x_err`, `y_err` must have one value per atom ({len(pts)}), "
                f"got {len(errs)}."
            )
    n = len(centres)
    disp = np.full((n, 2), np.nan)
    err = np.full((n, 2), np.nan)
    neighbours = np.full((n, k), -1, dtype=np.int64)
    surrounded = np.zeros(n, dtype=bool)
    for _, c_rows, r_rows in _per_frame(frame, centres, reference):
        if len(r_rows) < k:
            continue
        ref = reference[r_rows]
        d, j = kd_query(cKDTree(pts[ref]), pts[centres[c_rows]], k=k)
        d, j = d.reshape(len(c_rows), k), j.reshape(len(c_rows), k)
        cell = ref[j]  # atom indices
        vec = pts[cell] - pts[centres[c_rows]][:, None, :]
        ok = _surrounds(vec, d)
        centroid = pts[cell].mean(axis=1)
        disp[c_rows] = np.where(ok[:, None], pts[centres[c_rows]] - centroid, np.nan)
        neighbours[c_rows] = cell
        surrounded[c_rows] = ok
        if errs is not None:
            var = errs[centres[c_rows]] ** 2 + (errs[cell] ** 2).sum(axis=1) / k**2
            err[c_rows] = np.where(ok[:, None], np.sqrt(var), np.nan)
    return {
        "dx": disp[:, 0],
        "dy": disp[:, 1],
        "dx_err": err[:, 0],
        "dy_err": err[:, 1],
        "neighbours": neighbours,
        "n_neighbours": int(k),
        "closed": bool(closed),
        "surrounded": surrounded,
    }


def _surrounds(vec, d):
    """Whether the neighbours (vectors from the centre, ``(n, k, 2)``) lie
    around it: no angular gap of ``MAX_GAP_DEG`` or more, and the farthest
    within ``MAX_SPREAD`` times the nearest."""
    ang = np.sort(np.arctan2(vec[..., 1], vec[..., 0]), axis=1)
    gaps = np.diff(np.concatenate([ang, ang[:, :1] + 2 * np.pi], axis=1), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = d[:, -1] / d[:, 0]
    return (np.rad2deg(gaps.max(axis=1)) < MAX_GAP_DEG) & (spread <= MAX_SPREAD)


def _inputs(x, y, centres, reference, frame):
    pts = check_xy(x, y)
    n = len(pts)
    out = [
        check_indices(idx, name, ndim=1, n_atoms=n)
        for name, idx in (("centres", centres), ("reference", reference))
    ]
    if len(out[0]) == 0 or len(out[1]) == 0:
        raise ValueError("`centres` and `reference` must each hold at least one atom.")
    frame = check_frames(frame, n)
    return pts, out[0], out[1], frame


def _per_frame(frame, centres, reference):
    """For each frame with centres: (frame, rows of ``centres`` in it, rows of
    ``reference`` in it)."""
    ref_frame = frame[reference]
    for f, _, c_rows in frame_members(frame, centres):
        yield f, c_rows, np.flatnonzero(ref_frame == f)
