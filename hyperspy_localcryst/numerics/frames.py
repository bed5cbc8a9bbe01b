"""Per-frame reductions of per-atom values in an image series: the rows of
each frame (:func:`frame_groups`), a statistic per frame (:func:`per_frame`)
and the fraction of each label per frame (:func:`label_fractions`).
"""

from __future__ import annotations

import warnings

import numpy as np

from ._checks import (
    check_array,
    check_indices,
    check_integer,
    check_memory,
)

__all__ = [
    "frame_groups",
    "frame_members",
    "per_frame",
    "label_fractions",
]


_FRAME_STATISTICS = ("mean", "median", "std", "min", "max", "count")


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
    frame = check_indices(frame, "frame")
    n_frames = _n_frames(n_frames)
    if len(frame) and (frame.min() < 0 or frame.max() >= n_frames):
        raise ValueError(f"`frame` indices must lie in [0, {n_frames}).")
    order = np.argsort(frame, kind="stable")
    bounds = np.searchsorted(frame[order], np.arange(1, n_frames))
    return np.split(order, bounds)


def frame_members(frame, subset=None):
    """The atoms of each frame, and which of ``subset`` they hold.

    Per-frame work on a pooled table (neighbour searches, sublattices) must
    never mix atoms of two frames; this is the one loop that splits them.

    Parameters
    ----------
    frame : array_like of int
        Flat frame index of each atom of the table.
    subset : array_like of int, optional
        Indices of some atoms (e.g. the centres of neighbourhoods); default
        every atom.

    Yields
    ------
    f : int
        A frame that holds at least one atom of ``subset``, in increasing
        order.
    members : numpy.ndarray
        Indices of every atom of frame ``f`` (the table's order).
    rows : numpy.ndarray
        Positions in ``subset`` of its atoms of frame ``f``.

    Examples
    --------
    >>> [(f, m.tolist(), r.tolist()) for f, m, r in frame_members([1, 0, 1, 1], [3, 1])]
    [(0, [1], [1]), (1, [0, 2, 3], [0])]
    """
    frame = check_indices(frame, "frame")
    subset = (
        np.arange(len(frame)) if subset is None else check_indices(subset, "subset")
    )
    if len(subset) and subset.max() >= len(frame):
        raise ValueError("`subset` indices must be atoms of the table.")
    groups = (
        np.split(
            np.argsort(frame, kind="stable"),
            np.flatnonzero(np.diff(np.sort(frame, kind="stable"))) + 1,
        )
        if len(frame)
        else []
    )
    of_subset = frame[subset]
    for members in groups:
        f = int(frame[members[0]])
        rows = np.flatnonzero(of_subset == f)
        if rows.size:
            yield f, members, rows


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
    frame = check_indices(frame, "frame")
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
    frame = check_indices(frame, "frame")
    labels = check_indices(labels, "labels", negative=True)
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
