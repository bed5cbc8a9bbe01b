"""Tracking atoms through an image series: link the atoms of consecutive frames.

All functions take flat, pooled arrays for all frames of a movie: ``x``, ``y``
(pixels, x = column, y = row) and ``frame`` (0 .. n_frames - 1; a frame may have
no atoms and the atoms of one frame need not be contiguous). A *track* is an
integer per atom; atoms with the same track are the same column seen in
different frames.

Method
------
:func:`link_frames` links each frame to the next. The track ends (last position
of every track still alive) are moved by the predicted drift: with ``shifts``
the translation of frame k relative to frame 0, an atom at ``p`` in frame k is
expected at ``p - shifts[k] + shifts[k + 1]``. Candidate pairs are a predicted
end and an atom of the new frame within ``max_displacement`` (kd-tree). The
assignment is one-to-one and, among the assignments that link the most atoms,
minimises the total squared displacement; it is solved exactly per connected
component of the candidate graph (an end and an atom that are each other's only
candidate are linked directly, vectorised; larger components with
:func:`scipy.optimize.linear_sum_assignment`). Unmatched atoms start new tracks.
With ``memory = m`` a track that missed up to ``m`` frames stays a candidate,
its last position moved by the shifts; it competes with the other track ends
only through distance.

:func:`estimate_shifts` measures the drift from the linked atoms (median
displacement of each frame's tracks against frame 0), :func:`estimate_affine` fits an
affine map (drift plus scan distortion) to matched positions, and
:func:`trajectories` / :func:`displacements` turn tracks into arrays.
"""

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import (
    connected_components,
    min_weight_full_bipartite_matching,
)
from scipy.spatial import cKDTree

from ._checks import (
    check_array,
    check_indices,
    check_integer,
    check_memory,
    check_number,
)

__all__ = [
    "link_frames",
    "estimate_shifts",
    "estimate_affine",
    "trajectories",
    "displacements",
]

# Components of the candidate graph with more than this many (end, atom)
# entries are solved as a sparse matching instead of a dense cost matrix (only
# happens when ``max_displacement`` is comparable to the atom spacing).
_DENSE_LIMIT = 250_000

# Factor of the standard error of the median of a normal sample (sqrt(pi / 2)).
_MEDIAN_SE = 1.2533
# Standard deviation of a normal sample over its median absolute deviation.
_MAD_SIGMA = 1.4826


# ----------------------------------------------------------------- validation
def _check_points(x, y, frame, track=None):
    """Validate the pooled per-atom arrays; return them as numpy arrays."""
    x = check_array(x, "x", ndim=1, finite=True)
    y = check_array(y, "y", ndim=1, finite=True)
    frame = check_indices(frame, "frame", ndim=1)
    arrays = [("x", x), ("y", y), ("frame", frame)]
    if track is not None:
        track = check_indices(track, "track", ndim=1)
        arrays.append(("track", track))
    sizes = {name: arr.size for name, arr in arrays}
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"{k}: {v}" for k, v in sizes.items())
        name = next(k for k, v in sizes.items() if v != x.size)
        raise ValueError(f"`{name}` must have the same length as `x` ({detail}).")
    return x, y, frame, track


def _check_n_frames(n_frames, frame):
    needed = int(frame.max()) + 1 if frame.size else 0
    if n_frames is None:
        return needed
    n_frames = check_integer(n_frames, "n_frames", minimum=0, type_error=ValueError)
    check_memory(8.0 * n_frames, "n_frames", n_frames, "per track and array")
    if n_frames < needed:
        raise ValueError(
            f"`n_frames` ({n_frames}) must exceed the largest frame index "
            f"({needed - 1})."
        )
    return n_frames


def _index_table(frame, track, n_frames):
    """(n_tracks, n_frames) table of atom indices, -1 where a track is absent."""
    n_tracks = int(track.max()) + 1 if track.size else 0
    table = np.full((n_tracks, n_frames), -1, dtype=np.int64)
    table[track, frame] = np.arange(track.size)
    if track.size and np.count_nonzero(table >= 0) != track.size:
        raise ValueError(
            "`track` has more than one atom of the same track in one frame."
        )
    return table


# -------------------------------------------------------------------- linking
def link_frames(x, y, frame, max_displacement, memory=0, shifts=None):
    """Link the atoms of consecutive frames into tracks.

    Between each frame and the next, a track end and an atom are candidates
    when the atom lies within ``max_displacement`` of the end's predicted
    position (its last position moved by ``shifts``). The links are the
    one-to-one assignment that links the most atoms and, among those,
    minimises the total squared displacement, solved exactly per connected
    component of the candidate graph. Atoms left unmatched start new tracks.

    Parameters
    ----------
    x, y : array_like of float, shape (n,)
        Atom positions in pixels (x = column, y = row), all frames pooled.
    frame : array_like of int, shape (n,)
        Frame of each atom, 0 .. n_frames - 1, in any order. Integral floats
        (as in a table column) are accepted.
    max_displacement : float
        Largest distance in pixels between an atom's predicted and actual
        position in the next frame. Keep it below half the atom spacing.
    memory : int, optional
        Number of frames a track may skip: an atom missing in frame k can be
        re-linked in frames k + 1 .. k + memory + 1 (default 0: no gaps).
        A frame without any atom (e.g. one whose finding failed) is a gap
        too: bridge it with ``memory``.
    shifts : array_like, shape (n_frames, 2), optional
        Translation ``(dx, dy)`` in pixels of each frame relative to frame 0
        (see :func:`estimate_shifts`), used to predict positions. Must have
        at least ``max(frame) + 1`` rows, finite for the frames with atoms
        (NaN for a frame without atoms, e.g. a failed one). Default: no
        drift.

    Returns
    -------
    track : numpy.ndarray of int64, shape (n,)
        Track of each atom, numbered 0 .. n_tracks - 1 in order of first
        appearance (by frame, then input order).

    Raises
    ------
    ValueError
        If the arrays differ in length, contain NaN or infinite values,
        ``frame`` is not a non-negative integer, ``max_displacement`` is not
        positive and finite, ``memory`` is not a non-negative integer, or
        ``shifts`` has the wrong shape or non-finite values.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([0.0, 10.0, 10.4, 0.3, 0.5])
    >>> y = np.array([0.0, 0.0, 0.1, -0.2, 0.1])
    >>> frame = np.array([0, 0, 1, 1, 2])
    >>> link_frames(x, y, frame, max_displacement=2.0)
    array([0, 1, 1, 0, 0])
    """
    x, y, frame, _ = _check_points(x, y, frame)
    try:
        max_d = check_number(max_displacement, "max_displacement")
    except TypeError as e:
        raise ValueError(str(e)) from None
    if not (np.isfinite(max_d) and max_d > 0):
        raise ValueError(
            f"`max_displacement` must be positive and finite, got {max_displacement}."
        )
    memory = check_integer(memory, "memory", minimum=0, type_error=ValueError)
    n = x.size
    n_frames = int(frame.max()) + 1 if n else 0
    if shifts is None:
        shifts = np.zeros((max(n_frames, 1), 2))
    else:
        try:
            shifts = check_array(shifts, "shifts")
        except TypeError as e:
            raise ValueError(str(e)) from None
        if shifts.ndim != 2 or shifts.shape[1] != 2 or shifts.shape[0] < n_frames:
            raise ValueError(
                f"`shifts` must have shape (n_frames, 2) with n_frames >= "
                f"{n_frames}, got {shifts.shape}."
            )
        # frames without atoms (e.g. whose finding failed) may have NaN shifts
        used = np.zeros(n_frames, bool)
        used[frame] = True
        bad = np.flatnonzero(used & ~np.all(np.isfinite(shifts[:n_frames]), axis=1))
        if bad.size:
            raise ValueError(
                f"`shifts` contains NaN or infinite values for frames with atoms "
                f"({bad[:10].tolist()})."
            )
    track = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return track

    pos = np.column_stack([x, y])
    order = np.argsort(frame, kind="stable")  # input order within a frame
    bounds = np.searchsorted(frame[order], np.arange(n_frames + 1))
    end_pos = np.empty((n, 2))  # last position of each track
    end_frame = np.empty(n, dtype=np.int64)  # frame of that position
    n_tracks = 0
    for f in range(n_frames):
        atoms = order[bounds[f] : bounds[f + 1]]
        if atoms.size == 0:
            continue
        if n_tracks:
            live = np.flatnonzero(end_frame[:n_tracks] >= f - 1 - memory)
            if live.size:
                pred = end_pos[live] - shifts[end_frame[live]] + shifts[f]
                i_end, i_atom = _assign(pred, pos[atoms], max_d)
                track[atoms[i_atom]] = live[i_end]
        new = atoms[track[atoms] < 0]
        track[new] = np.arange(n_tracks, n_tracks + new.size)
        n_tracks += new.size
        end_pos[track[atoms]] = pos[atoms]
        end_frame[track[atoms]] = f
    return track


def _assign(pred, pos, max_d):
    """Optimal one-to-one links between predicted ends and atoms.

    Returns local indices ``(i_end, i_atom)`` of the linked pairs.
    """
    pairs = cKDTree(pred).sparse_distance_matrix(
        cKDTree(pos), max_d, output_type="ndarray"
    )
    i, j = pairs["i"], pairs["j"]
    cost = pairs["v"] ** 2
    # An end and an atom that are each other's only candidate: a 1 x 1 component.
    deg_i = np.bincount(i, minlength=len(pred))
    deg_j = np.bincount(j, minlength=len(pos))
    single = (deg_i[i] == 1) & (deg_j[j] == 1)
    out_i, out_j = [i[single]], [j[single]]
    if not single.all():
        i, j, cost = i[~single], j[~single], cost[~single]
        ends, ii = np.unique(i, return_inverse=True)
        atoms, jj = np.unique(j, return_inverse=True)
        graph = coo_matrix(
            (np.ones(ii.size), (ii, ends.size + jj)),
            shape=(ends.size + atoms.size,) * 2,
        )
        _, label = connected_components(graph, directed=False)
        edge_label = label[ii]
        by_comp = np.argsort(edge_label, kind="stable")
        starts = np.flatnonzero(np.diff(edge_label[by_comp], prepend=-1))
        stops = np.append(starts[1:], by_comp.size)
        for start, stop in zip(starts, stops):
            e = by_comp[start:stop]
            a, b = _solve_component(ii[e], jj[e], cost[e], max_d)
            out_i.append(ends[a])
            out_j.append(atoms[b])
    return np.concatenate(out_i), np.concatenate(out_j)


def _solve_component(i, j, cost, max_d):
    """Maximum-cardinality, minimum-cost matching of one component's edges."""
    rows, ri = np.unique(i, return_inverse=True)
    cols, ci = np.unique(j, return_inverse=True)
    nr, nc = rows.size, cols.size
    # A non-edge costs more than all real edges together, so the optimum links
    # as many pairs as possible and then minimises the squared distances.
    big = 2.0 * (min(nr, nc) + 1) * max_d**2 + 1.0
    if nr * nc <= _DENSE_LIMIT:
        matrix = np.full((nr, nc), big)
        matrix[ri, ci] = cost
        real = np.zeros((nr, nc), dtype=bool)
        real[ri, ci] = True
        r, c = linear_sum_assignment(matrix)
        keep = real[r, c]
        return rows[r[keep]], cols[c[keep]]
    # Sparse, always feasible augmented problem: every end may take its own
    # dummy atom and every atom its own dummy end (cost ``big`` each); dummies
    # pair up along the transposed edges at no cost. One added to every weight
    # keeps zero-distance edges as explicit entries.
    m = ri.size
    left = np.concatenate([ri, np.arange(nr), nr + ci, nr + np.arange(nc)])
    right = np.concatenate([ci, nc + np.arange(nr), nc + ri, np.arange(nc)])
    weight = np.concatenate([cost, np.full(nr, big), np.zeros(m), np.full(nc, big)])
    graph = csr_matrix((weight + 1.0, (left, right)), shape=(nr + nc, nr + nc))
    r, c = min_weight_full_bipartite_matching(graph)
    keep = (r < nr) & (c < nc)
    return rows[r[keep]], cols[c[keep]]


# ---------------------------------------------------------------------- drift
def estimate_shifts(x, y, frame, track, n_frames=None):
    """Per-frame translation of a movie from the linked atoms.

    ``shifts[k]`` is measured directly against the reference frame (frame 0,
    or the first frame with atoms when frame 0 has none, e.g. because its
    finding failed): the median displacement (robust against wrong links
    and moving atoms) of the tracks present in both frames, so its error
    does not grow with k. When frame k shares fewer than 3 tracks with the
    reference (tracks broken by missing atoms), it is measured against the
    earlier frame of known shift with which it shares the most tracks, and
    that frame's shift is added.

    Parameters
    ----------
    x, y : array_like of float, shape (n,)
        Atom positions in pixels.
    frame : array_like of int, shape (n,)
        Frame of each atom.
    track : array_like of int, shape (n,)
        Track of each atom (see :func:`link_frames`); at most one atom per
        track and frame.
    n_frames : int, optional
        Number of frames (default ``max(frame) + 1``).

    Returns
    -------
    shifts : numpy.ndarray, shape (n_frames, 2)
        Translation ``(dx, dy)`` of each frame relative to the reference
        frame, in pixels (0 there); NaN for frames that could not be linked
        and for frames without atoms before the reference.
    errors : numpy.ndarray, shape (n_frames, 2)
        Standard errors of ``shifts``: ``1.2533 * s / sqrt(n_links)`` per
        axis (the standard error of a median), with ``s = 1.4826 * MAD`` the
        robust standard deviation of the links' displacements (wrong links
        change it no more than they move the median), added in quadrature to
        the reference frame's error when the reference is not frame 0.

    Raises
    ------
    ValueError
        If the arrays are invalid or a track has two atoms in one frame.

    Warns
    -----
    RuntimeWarning
        If some frame shares fewer than 3 tracks with every earlier frame of
        known shift (its shift is NaN).

    Examples
    --------
    >>> import numpy as np
    >>> x0 = np.array([0.0, 10.0, 0.0, 10.0])
    >>> y0 = np.array([0.0, 0.0, 10.0, 10.0])
    >>> x = np.concatenate([x0, x0 + 1.5])
    >>> y = np.concatenate([y0, y0 - 0.5])
    >>> frame = np.repeat([0, 1], 4)
    >>> track = np.tile(np.arange(4), 2)
    >>> shifts, errors = estimate_shifts(x, y, frame, track)
    >>> shifts
    array([[ 0. ,  0. ],
           [ 1.5, -0.5]])
    """
    x, y, frame, track = _check_points(x, y, frame, track)
    n_frames = _check_n_frames(n_frames, frame)
    table = _index_table(frame, track, n_frames)
    shifts = np.full((n_frames, 2), np.nan)
    errors = np.full((n_frames, 2), np.nan)
    if n_frames == 0:
        return shifts, errors
    present = table >= 0
    with_atoms = np.flatnonzero(present.any(axis=0))
    first = int(with_atoms[0]) if with_atoms.size else 0
    shifts[first] = errors[first] = 0.0
    lost = []
    for k in range(first + 1, n_frames):
        ref = first
        common = present[:, k] & present[:, ref]
        if np.count_nonzero(common) < 3:
            rows = np.flatnonzero(present[:, k])
            counts = np.count_nonzero(present[rows, :k], axis=0)
            counts[~np.isfinite(shifts[:k, 0])] = 0
            if counts.max(initial=0) < 3:
                lost.append(k)
                continue
            ref = int(np.argmax(counts))
            common = present[:, k] & present[:, ref]
        a = table[common, ref]
        b = table[common, k]
        d = np.column_stack([x[b] - x[a], y[b] - y[a]])
        step = np.median(d, axis=0)
        spread = _MAD_SIGMA * np.median(np.abs(d - step), axis=0)  # robust std
        step_err = _MEDIAN_SE * spread / np.sqrt(len(d))
        shifts[k] = shifts[ref] + step
        errors[k] = np.hypot(errors[ref], step_err)
    if lost:
        warnings.warn(
            f"{len(lost)} frame(s) share fewer than 3 tracks with every earlier "
            f"frame of known shift; their shifts are NaN (frames {lost[:10]}"
            f"{' ...' if len(lost) > 10 else ''}).",
            RuntimeWarning,
            stacklevel=2,
        )
    return shifts, errors


def estimate_affine(x_ref, y_ref, x, y):
    """Least-squares affine transform from reference to matched positions.

    Finds ``M`` and ``t`` minimising ``sum |p - (M @ p_ref + t)|^2`` over
    matched pairs, e.g. the atoms of one frame against the same tracks in a
    reference frame: ``t`` is the drift, ``M - I`` the scan distortion
    (strain, shear, rotation).

    Parameters
    ----------
    x_ref, y_ref : array_like of float, shape (n,)
        Reference positions in pixels.
    x, y : array_like of float, shape (n,)
        The matched positions, in the same order.

    Returns
    -------
    matrix : numpy.ndarray, shape (2, 2)
        Linear part ``M`` acting on ``(x, y)`` column vectors.
    translation : numpy.ndarray, shape (2,)
        Translation ``t = (tx, ty)``.
    rms : float
        Root mean square length of the residual vectors, in pixels.

    Raises
    ------
    ValueError
        If the arrays differ in length, contain NaN or infinite values, or
        hold fewer than 3 non-collinear reference points.

    Examples
    --------
    >>> import numpy as np
    >>> x_ref = np.array([0.0, 10.0, 0.0, 10.0])
    >>> y_ref = np.array([0.0, 0.0, 10.0, 10.0])
    >>> matrix, translation, rms = estimate_affine(
    ...     x_ref, y_ref, 1.1 * x_ref + 2.0, y_ref - 3.0
    ... )
    >>> np.round(matrix, 6) + 0.0, np.round(translation, 6) + 0.0, round(rms, 6)
    (array([[1.1, 0. ],
           [0. , 1. ]]), array([ 2., -3.]), 0.0)
    """
    arrays = {
        "x_ref": check_array(x_ref, "x_ref", ndim=1, finite=True),
        "y_ref": check_array(y_ref, "y_ref", ndim=1, finite=True),
        "x": check_array(x, "x", ndim=1, finite=True),
        "y": check_array(y, "y", ndim=1, finite=True),
    }
    n = arrays["x_ref"].size
    for name, arr in arrays.items():
        if arr.size != n:
            raise ValueError(
                f"`{name}` must have the same length as `x_ref` ({arr.size} != {n})."
            )
    if n < 3:
        raise ValueError(
            f"`x_ref`, `y_ref` need at least 3 non-collinear points, got {n}."
        )
    ref = np.column_stack([arrays["x_ref"], arrays["y_ref"]])
    p = np.column_stack([arrays["x"], arrays["y"]])
    centre = ref.mean(axis=0)
    sv = np.linalg.svd(ref - centre, compute_uv=False)
    scale = max(sv[0], np.abs(ref).max(), 1.0)
    if sv[1] <= 1e-10 * scale:
        raise ValueError(
            "`x_ref`, `y_ref` are collinear: an affine transform needs at least "
            "3 non-collinear points."
        )
    design = np.column_stack([ref - centre, np.ones(n)])
    coef, *_ = np.linalg.lstsq(design, p, rcond=None)
    matrix = coef[:2].T
    translation = coef[2] - matrix @ centre
    residual = p - (ref @ matrix.T + translation)
    rms = float(np.sqrt(np.mean(np.sum(residual**2, axis=1))))
    return matrix, translation, rms


# --------------------------------------------------------------- reshaping
def trajectories(x, y, frame, track, n_frames=None):
    """Positions of every track in every frame, as dense arrays.

    Parameters
    ----------
    x, y : array_like of float, shape (n,)
        Atom positions in pixels.
    frame : array_like of int, shape (n,)
        Frame of each atom.
    track : array_like of int, shape (n,)
        Track of each atom; at most one atom per track and frame.
    n_frames : int, optional
        Number of frames (default ``max(frame) + 1``).

    Returns
    -------
    tx, ty : numpy.ndarray, shape (n_tracks, n_frames)
        Position of track i in frame k, NaN where the track has no atom;
        ``n_tracks = max(track) + 1``.

    Raises
    ------
    ValueError
        If the arrays are invalid or a track has two atoms in one frame.

    Examples
    --------
    >>> tx, ty = trajectories([1.0, 2.0, 1.5], [0.0, 0.0, 0.5], [0, 0, 1], [0, 1, 0])
    >>> tx
    array([[1. , 1.5],
           [2. , nan]])
    """
    x, y, frame, track = _check_points(x, y, frame, track)
    n_frames = _check_n_frames(n_frames, frame)
    table = _index_table(frame, track, n_frames)  # checks duplicates
    tx = np.full(table.shape, np.nan)
    ty = np.full(table.shape, np.nan)
    tx[track, frame] = x
    ty[track, frame] = y
    return tx, ty


def displacements(x, y, frame, track, frame_a, frame_b):
    """Displacement of every track present in two frames.

    Parameters
    ----------
    x, y : array_like of float, shape (n,)
        Atom positions in pixels.
    frame : array_like of int, shape (n,)
        Frame of each atom.
    track : array_like of int, shape (n,)
        Track of each atom; at most one atom per track and frame.
    frame_a, frame_b : int
        The two frames (non-negative); ``dx = x(frame_b) - x(frame_a)``.

    Returns
    -------
    dict
        Arrays over the tracks present in both frames, sorted by track:
        ``x``, ``y`` (position in ``frame_a``), ``dx``, ``dy``, ``track``,
        ``index_a``, ``index_b`` (indices into the input arrays). Empty when
        the frames share no track.

    Raises
    ------
    ValueError
        If the arrays are invalid, a frame is not a non-negative integer, or
        a track has two atoms in one of the frames.

    Examples
    --------
    >>> d = displacements([1.0, 2.0, 1.5], [0.0, 0.0, 0.5], [0, 0, 1], [0, 1, 0], 0, 1)
    >>> d["track"], d["dx"], d["dy"], d["index_b"]
    (array([0]), array([0.5]), array([0.5]), array([2]))
    """
    x, y, frame, track = _check_points(x, y, frame, track)
    frame_a = check_integer(frame_a, "frame_a", minimum=0, type_error=ValueError)
    frame_b = check_integer(frame_b, "frame_b", minimum=0, type_error=ValueError)
    in_a = np.flatnonzero(frame == frame_a)
    in_b = np.flatnonzero(frame == frame_b)
    for name, idx in (("frame_a", in_a), ("frame_b", in_b)):
        if np.unique(track[idx]).size != idx.size:
            raise ValueError(
                f"`track` has more than one atom of the same track in `{name}`."
            )
    common, ka, kb = np.intersect1d(
        track[in_a], track[in_b], assume_unique=True, return_indices=True
    )
    ia, ib = in_a[ka], in_b[kb]
    return {
        "x": x[ia],
        "y": y[ia],
        "dx": x[ib] - x[ia],
        "dy": y[ib] - y[ia],
        "track": common,
        "index_a": ia,
        "index_b": ib,
    }
