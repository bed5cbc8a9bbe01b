"""The neighbourhood signal: one row of neighbour vectors per centre atom.

Data model
----------
``data`` has shape ``(n_centres, 2 k)``: row *i* is
``(dx1, dy1, dx2, dy2, ..., dxk, dyk)``, the vectors from centre *i* to its
``k`` neighbours in the image's calibrated units, ordered by the chosen
metric (see :mod:`hyperspy_localcryst.numerics.neighbourhoods`).

- Navigation axis ``atom``: a non-uniform axis whose values are the indices
  of the centre atoms in the per-atom table, so that ``inav`` slicing,
  clustering and saving keep the link from each row to its atom.
- Signal axis ``component``: index of the vector component;
  ``metadata.AtomNeighbourhoods.component_names`` names them. The axis
  values index that list (offset 0, scale 1 when made), so the names follow
  ``isig`` slices (:attr:`AtomNeighbourhoods.component_names`); a slice that
  breaks ``(dx, dy)`` pairs is refused by the methods that need vectors.
- ``inav[a:b]`` and ``inav[::n]`` keep the centre indices on the axis. An
  integer ``inav[k]`` removes the axis and with it the centre's index; the
  centre is then found again from the geometry (the one atom whose
  neighbours lie exactly at the row's vectors, which on refined positions is
  unique; on an ideal noise-free lattice it is not, and the methods that need
  the centre say so and advise ``inav[k:k + 1]``).
- ``hs.stack`` keeps only the first input's metadata (component names,
  units, atom table, image grid): every method refuses a signal made by it
  (recognised by ``original_metadata.stack_elements``), whatever the axis,
  and signals with an extra navigation axis. Compute the neighbourhoods once
  from one pooled table instead.
- ``metadata.AtomNeighbourhoods``: ``metric``, ``n_neighbours``, ``radius``,
  ``border``, tolerances, ``units`` and ``atoms``, the whole per-atom table
  (:class:`AtomPositions`, every atom, since any atom can be a neighbour)
  with a ``rotation`` column (direction of each centre's first shell, deg)
  and ``neighbour_count``. The image grid lives in that table.

HyperSpy's learning (``decomposition``, ``cluster_analysis``,
``estimate_number_of_clusters``, ``plot_*``) runs on it unchanged and its
results are saved with the signal. Three defaults differ, for the physics:
clustering uses no preprocessing (HyperSpy's ``"norm"`` would scale every
neighbourhood to unit length and lose the bond lengths), ``"signal"`` is the
default source, and ``algorithm="kmedians"`` selects the paper's k-means
with component-wise median centroids.
"""

import re
import warnings

import numpy as np
from hyperspy.signals import LazySignal1D, Signal1D, Signal2D
from scipy.spatial import cKDTree

from ..numerics import neighbourhoods as nbn
from ..numerics import statistics as st
from ..numerics._checks import check_array, format_bytes
from ..numerics._parallel import kd_query
from . import _stack
from ._grid import (
    check_at_most,
    check_bool,
    check_integer,
    check_memory,
    check_number,
    check_numbers,
    pixel_scale,
)
from ._plotting import plot_map, set_categorical
from .atom_positions import (
    AtomPositions,
    _check_not_stacked,
    _check_rows,
    _check_statistic,
    _is_signal,
    _name_positions,
    _rows,
)

__all__ = [
    "AtomNeighbourhoods",
    "LazyAtomNeighbourhoods",
    "make_neighbourhoods",
]

_KEY = "AtomNeighbourhoods"

_STACK_ADVICE = (
    "Each row must be one centre atom of the table in "
    "metadata.AtomNeighbourhoods.atoms: compute the neighbourhoods once from one "
    "pooled table (`find_atoms` on an image stack, or tables of one image joined "
    "with `AtomPositions.concatenate`), then `get_neighbourhoods`."
)

_NO_CENTRE = (
    "This single row has no `atom` navigation axis (an integer index `nb.inav[k]` "
    "makes HyperSpy remove it, and with it the index of the row's centre atom), "
    "and its vectors do not single out one atom of metadata.AtomNeighbourhoods."
    "atoms: {found}. Take the row with `nb.inav[k:k + 1]` to keep the link."
)


#: Clustering algorithms and preprocessing HyperSpy's ``cluster_analysis``
#: and ``estimate_number_of_clusters`` take by name (its documented lists),
#: plus the paper's ``"kmedians"``; any object with ``fit`` (``fit_transform``
#: for preprocessing) is passed on.
_CLUSTER_ALGORITHMS = (
    "kmeans",
    "agglomerative",
    "minibatchkmeans",
    "spectralclustering",
)
_PREPROCESSING = ("norm", "standard", "minmax")
_SOURCES = ("signal", "decomposition", "bss")
_METRICS = ("gap", "elbow", "silhouette")
#: Units of the neighbour vectors -> (factor, unit) mode sizes are shown in.
_LENGTH_UNITS = {
    "nm": (1000.0, "pm"),
    "Å": (100.0, "pm"),
    "A": (100.0, "pm"),
    "angstrom": (100.0, "pm"),
    "pm": (1.0, "pm"),
    "µm": (1000.0, "nm"),
    "um": (1000.0, "nm"),
}
#: HyperSpy's decomposition algorithms by name (its documented list).
_DECOMPOSITION_ALGORITHMS = (
    "SVD",
    "MLPCA",
    "sklearn_pca",
    "NMF",
    "sparse_pca",
    "mini_batch_sparse_pca",
    "RPCA",
    "ORPCA",
    "ORNMF",
)


def _check_grid(ny, nx, n_arrays, name, value, grid, advice=None):
    """Refuse, before allocating, ``n_arrays`` float64 grids of ``ny × nx``
    that exceed the numerics' grid limit or the memory available.

    ``grid`` names the grid in the message, e.g. ``"bins gives a grid"``;
    ``advice`` (default: a smaller ``name``) ends it.
    """
    cells = int(ny) * int(nx)
    detail = f"{grid} of {ny} x {nx} = {cells:,} cells"
    if n_arrays > 1:
        detail += f", {n_arrays} of them"
    advice = advice or f"give a smaller `{name}`"
    if cells > st.MAX_GRID_CELLS:
        raise ValueError(
            f"{name}={value!r:.60} needs {format_bytes(8.0 * cells)} of memory per "
            f"array ({detail}; at most {st.MAX_GRID_CELLS:,} cells, 1 GiB, are "
            f"allowed): {advice}."
        )
    check_memory(
        8.0 * cells, name, value, detail, advice=advice, total=8.0 * cells * n_arrays
    )


def _check_length(value, name):
    """A positive, finite length (calibrated units), or an error naming ``name``."""
    v = check_number(value, name, "a length")
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"`{name}` must be a positive, finite length, got {v}.")
    return v


def _check_shape(shape):
    """An FFT ``shape`` as two positive integers ``(ny, nx)``."""
    if not isinstance(shape, (tuple, list, np.ndarray)) or len(shape) != 2:
        raise ValueError(
            f"`shape` = {shape!r:.60}: the FFT shape must be a pair (ny, nx) of "
            "positive integers."
        )
    if (
        not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_))
            for n in shape
        )
        or min(shape) < 1
    ):
        raise ValueError(
            f"`shape` = {tuple(shape)!r:.60}: the FFT shape must be two positive "
            "integers (ny, nx)."
        )
    return int(shape[0]), int(shape[1])


def _check_bins(bins):
    """Histogram ``bins`` (an int or a pair) as ``(nx, ny)``."""
    pair = bins if isinstance(bins, (tuple, list, np.ndarray)) else (bins, bins)
    ok = len(pair) == 2 and all(
        isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_))
        for n in pair
    )
    if not ok:
        raise ValueError(
            f"`bins` = {bins!r:.60}: the numbers of bins must be an integer or a "
            "pair (nx, ny) of integers."
        )
    if min(pair) < 1:
        raise ValueError(f"`bins` = {bins!r:.60}: the numbers of bins must be >= 1.")
    return int(pair[0]), int(pair[1])


def _check_extent(extent):
    """A histogram ``extent`` as four finite, increasing edges."""
    e = check_numbers(extent, "extent", 4, "(xmin, xmax, ymin, ymax)", finite=False)
    if not (np.isfinite(e).all() and e[1] > e[0] and e[3] > e[2]):
        raise ValueError(
            f"`extent` = {extent!r:.80}: the histogram extent must be four finite "
            "numbers (xmin, xmax, ymin, ymax) with xmax > xmin and ymax > ymin."
        )
    return e


def _extent(grid):
    """(xmin, xmax, ymin, ymax) of the imaged area (pixel edges), calibrated."""
    out = []
    for k in ("x", "y"):
        g = grid[k]
        a = g["offset"] - 0.5 * g["scale"]
        b = g["offset"] + (g["size"] - 0.5) * g["scale"]
        out += sorted((a, b))
    return tuple(out)


def make_neighbourhoods(
    atoms,
    n_neighbours=6,
    metric="distance",
    radius=None,
    exclude_border=True,
    border=None,
    angle_tolerance=10.0,
    distance_tolerance=0.1,
):
    """Neighbourhood signal of a per-atom table (see :meth:`get_neighbourhoods`).

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> nb = make_neighbourhoods(atoms, n_neighbours=4)
    >>> nb.axes_manager.signal_shape
    (8,)
    """
    # the arguments, once for all frames (a stack's frames would each fail)
    if not isinstance(metric, str) or metric not in nbn.METRICS:
        raise ValueError(
            f"Unknown metric {metric!r:.60}: `metric` must be one of {nbn.METRICS}."
        )
    nbn._check_parameters(
        n_neighbours, metric, radius, angle_tolerance, distance_tolerance
    )
    check_bool(exclude_border, "exclude_border")
    if border is not None:
        b = check_number(border, "border", "a length")
        if not (np.isfinite(b) and b >= 0):
            raise ValueError(f"`border` must be a non-negative distance, got {b!r}.")
    grid = atoms.grid
    x, y = atoms.get_column("x"), atoms.get_column("y")
    frames = atoms.get_frames()
    parts, failed = [], []
    for f in np.unique(frames):
        sel = np.flatnonzero(frames == f)
        try:
            r = nbn.neighbour_vectors(
                x[sel],
                y[sel],
                n_neighbours=n_neighbours,
                metric=metric,
                radius=radius,
                exclude_border=exclude_border,
                extent=_extent(grid),
                border=border,
                angle_tolerance=angle_tolerance,
                distance_tolerance=distance_tolerance,
            )
        except ValueError as e:
            if len(np.unique(frames)) == 1:
                raise
            failed.append((int(f), str(e)))
            continue
        r.centres = sel[r.centres]
        r.indices = np.where(r.indices >= 0, sel[np.maximum(r.indices, 0)], -1)
        parts.append(r)
    if not parts:
        raise ValueError(
            f"No frame has neighbourhoods; frame {failed[0][0]}: {failed[0][1]}"
        )
    for f, e in failed:
        warnings.warn(
            f"Frame {f} has no neighbourhoods: {e}", RuntimeWarning, stacklevel=3
        )
    k = max(p.vectors.shape[1] for p in parts)

    def pad(a, fill):
        w = [(0, 0), (0, k - a.shape[1])] + [(0, 0)] * (a.ndim - 2)
        return np.pad(a, w, constant_values=fill)

    centres = np.concatenate([p.centres for p in parts])
    vectors = np.concatenate([pad(p.vectors, np.nan) for p in parts])
    rotation = np.concatenate([p.rotation for p in parts])
    counts = np.concatenate([p.counts for p in parts])

    units = grid["x"]["units"]
    rot_col = np.full(atoms.n_atoms, np.nan)
    rot_col[centres] = np.rad2deg(rotation)
    cnt_col = np.full(atoms.n_atoms, np.nan)
    cnt_col[centres] = counts
    table = atoms.add_columns(
        {"rotation": rot_col, "neighbour_count": cnt_col},
        {"rotation": "deg", "neighbour_count": ""},
    )
    s = AtomNeighbourhoods(
        vectors.reshape(len(centres), 2 * k),
        axes=[
            {"axis": centres.astype(float), "name": "atom", "navigate": True},
            {"size": 2 * k, "name": "component", "navigate": False},
        ],
    )
    s.metadata.General.title = f"Neighbourhoods ({metric}, k={k})"
    s.metadata.Signal.quantity = f"Neighbour vector ({units})" if units else ""
    md = {
        "metric": metric,
        "n_neighbours": int(k),
        "radius": "None" if radius is None else float(radius),
        "exclude_border": bool(exclude_border),
        "border": "auto" if border is None else float(border),
        "angle_tolerance": float(angle_tolerance),
        "distance_tolerance": float(distance_tolerance),
        "units": units,
        "component_names": [f"d{c}{j + 1}" for j in range(k) for c in "xy"],
    }
    for key, value in md.items():
        s.metadata.set_item(f"{_KEY}.{key}", value)
    s.metadata.set_item(f"{_KEY}.atoms", table)
    src = atoms.metadata.get_item("Source")
    if src is not None:
        s.metadata.set_item("Source", src)
    return s


class _FixedLabels:
    """A clustering 'estimator' whose labels are already known (HyperSpy's
    cluster_analysis stores them as its results)."""

    def __init__(self, labels):
        self.labels = np.asarray(labels)

    def fit(self, X, y=None):
        self.labels_ = self.labels
        return self

    def __repr__(self):
        return "site classes"


def _positive_sigma(n_sigma):
    """``n_sigma`` checked: a positive, finite number."""
    ns = check_number(n_sigma, "n_sigma", "a number of standard deviations")
    if not (np.isfinite(ns) and ns > 0):
        raise ValueError(f"n_sigma must be a positive number, got {n_sigma}")
    return ns


def _mean_neighbourhood(v, passes=2):
    """Mean of neighbourhoods ``v`` (n, k, 2) as point sets: each member's
    neighbours are matched one to one to the running mean before averaging,
    so a neighbour order that differs between members (an open shell, near
    ties in distance) does not blur the mean."""
    from scipy.optimize import linear_sum_assignment

    v = np.asarray(v, dtype=float)
    if len(v) == 0:
        return np.full(v.shape[1:], np.nan)
    ref = np.nanmean(v, axis=0)
    ref = v[np.argmin(((v - ref) ** 2).sum(axis=(1, 2)))]  # a member
    n, k = v.shape[:2]
    for _ in range(passes):
        cost = np.nan_to_num(
            ((v[:, :, None, :] - ref[None, None, :, :]) ** 2).sum(axis=3), nan=1e300
        )
        # where every neighbour's nearest mean point is its own (a
        # permutation), that matching is the optimal one (each term is at
        # its minimum); the others are solved one by one
        near = cost.argmin(axis=2)
        perm = (np.sort(near, axis=1) == np.arange(k)).all(axis=1)
        matched = np.empty_like(v)
        rows = np.flatnonzero(perm)
        matched[rows[:, None], near[rows]] = v[rows]
        for i in np.flatnonzero(~perm):
            r, c = linear_sum_assignment(cost[i])
            matched[i, c] = v[i, r]
        ref = np.nanmean(matched, axis=0)
    return ref


def _types_differ(kinds, amplitude):
    """Whether atom types differ in brightness: some two types' median
    amplitudes lie at least one pooled robust spread apart (sites that a
    doubled cell of one kind of atom makes look alike, and are not used as
    types). True without amplitudes."""
    if amplitude is None:
        return True
    stats = []
    for t in np.unique(kinds[kinds >= 0]):
        a = amplitude[(kinds == t) & np.isfinite(amplitude)]
        if a.size < 3:
            continue
        m = float(np.median(a))
        stats.append((m, 1.4826 * float(np.median(np.abs(a - m)))))
    for i in range(len(stats)):
        for j in range(i + 1, len(stats)):
            (m1, s1), (m2, s2) = stats[i], stats[j]
            if abs(m1 - m2) >= np.hypot(s1, s2):
                return True
    return False


def _typed_by_structure(atoms):
    """Whether the atoms' ``sublattice`` column holds sites of the structure
    (not the local-intensity split used when the cell has fewer sites)."""
    rec = atoms.metadata.get_item("AtomPositions.settings.sublattices", None)
    if rec is None or "sublattice" not in atoms.columns:
        return False
    by = rec.get_item("labelled_by", None) if hasattr(rec, "get_item") else None
    by = [by] if isinstance(by, str) else list(by if by is not None else [])
    return bool(by) and all(b == "structure" for b in by)


def _count_by_type(X, noise, kinds, extra=None, open_shell=None, **kw):
    """Classes counted within each atom type (``kinds``; None: one type),
    then, with ``extra`` (brightness columns and their noise), within each
    geometric class by brightness; classes numbered by size over all;
    rows without a type join the nearest class centroid. ``open_shell``
    (per row) refuses geometric splits between neighbourhoods that cut a
    shell."""
    n = len(X)
    if kinds is None:
        kinds = np.zeros(n, dtype=np.int64)
    labels = np.full(n, -1, dtype=np.int64)
    cents, reasons, splits, outliers = [], [], [], np.zeros(n, bool)
    few = 2 * kw["min_size"]

    def count(rows, F, E, what, cut=None):
        if rows.size < few:
            return np.zeros(rows.size, dtype=np.int64), f"{what}: too few to split"
        res = st.count_classes(
            F[rows],
            None if E is None else E[rows],
            open_shell=None if cut is None else cut[rows],
            **kw,
        )
        splits.extend(dict(sp, what=what) for sp in res.splits)
        outliers[rows] |= res.outliers
        return res.labels, f"{what}: {res.reason}"

    n_types = len(np.unique(kinds[kinds >= 0]))
    for t in np.unique(kinds[kinds >= 0]):
        rows = np.flatnonzero(kinds == t)
        name = f"type {t}" if n_types > 1 else "geometry"
        lab, why = count(rows, X, noise, name, open_shell)
        reasons.append(why)
        for g in np.unique(lab[lab >= 0]):
            sub = rows[lab == g]
            if extra is not None:
                lab2, why2 = count(
                    sub, extra[0], extra[1], f"{name} class {g}, brightness"
                )
                if lab2.max() > 0:
                    reasons.append(why2)
            else:
                lab2 = np.zeros(sub.size, dtype=np.int64)
            for h in np.unique(lab2[lab2 >= 0]):
                members = sub[lab2 == h]
                labels[members] = len(cents)
                cents.append(X[members].mean(axis=0))
            labels[sub[lab2 < 0]] = -1
    C = np.array(cents)
    rest = np.flatnonzero((labels < 0) & np.isfinite(X).all(axis=1))
    if rest.size:
        d = ((X[rest][:, None, :] - C[None]) ** 2).sum(axis=2)
        labels[rest] = d.argmin(axis=1)
    size = np.bincount(labels[labels >= 0], minlength=len(C))
    order = np.argsort(-size, kind="stable")
    rank = np.empty(len(C), dtype=np.int64)
    rank[order] = np.arange(len(C))
    labels = np.where(labels >= 0, rank[np.maximum(labels, 0)], -1)
    how = f"within each of {n_types} atom types" if n_types > 1 else "by geometry"
    if extra is not None:
        how += ", then by brightness within each"
    reason = f"{len(C)} classes, counted {how}: " + "; ".join(reasons)
    return st.ClassCount(
        n_classes=len(C),
        labels=labels,
        centroids=C[order],
        outliers=outliers,
        splits=splits,
        reason=reason,
    )


def _cell_text(cell, units):
    if not cell:
        return "no cell measured"
    return (
        f"cell a = {cell['a']:.4g} {units}, b = {cell['b']:.4g} {units}, "
        f"gamma = {cell['gamma']:.1f} deg, {len(cell['motif'])} site class(es) per cell"
    )


def _phase_sentence(f, classes, n_atoms, cell, units):
    """One sentence saying what a phase is."""
    names = ", ".join(str(c) for c in classes) or "none"
    return (
        f"Phase {f}: {int(n_atoms)} atoms, site classes {names}; "
        f"{_cell_text(cell.get('cell'), units)}."
    )


def _class_sentence(k, row, phase, variant, units, brightness=None):
    """One sentence saying what a site class is."""
    where = (
        f"of phase {int(phase)}"
        if phase >= 0
        else "found only locally (at defects or where phases meet)"
    )
    text = (
        f"Site class {k}: {int(row.n_centres)} centres {where}, nearest "
        f"neighbour {row.nearest:.4g} {units}, point group {row.point_group}"
    )
    if brightness is not None and np.isfinite(brightness):
        text += f", {brightness:.2f} x the median brightness of its atom type"
    if row.broken:
        text += f" (broken: {row.broken})"
    if variant:
        gi, i = variant[0]
        text += f"; variant {i} of variant group {gi}"
    return text + "."


class AtomNeighbourhoods(Signal1D):
    """Neighbour vectors of every centre atom; HyperSpy learning runs on it.

    Made by :meth:`AtomPositions.get_neighbourhoods`. See the module
    docstring for the data model.

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
    >>> nb.metadata.Signal.signal_type
    'atom_neighbourhoods'
    """

    _signal_type = "atom_neighbourhoods"
    _signal_dimension = 1
    _lazy = False
    #: What ``hs.stack`` keeps of its first input only, and what to do instead
    #: (see :func:`~hyperspy_localcryst.signals.atom_positions._check_not_stacked`).
    _stack_kept = "component names, units, atom table and image grid"
    _stack_advice = _STACK_ADVICE

    # ---------------------------------------------------------------- access
    @property
    def atoms(self):
        """The whole per-atom table the neighbourhoods come from."""
        _check_not_stacked(self)
        t = self.metadata.get_item(f"{_KEY}.atoms")
        if t is None:
            raise ValueError(
                "This signal has no metadata.AtomNeighbourhoods.atoms table; it was "
                "not made by `get_neighbourhoods`."
            )
        if not isinstance(t, AtomPositions):
            # copies and files keep a signal in metadata as a BaseSignal
            table = AtomPositions(np.asarray(t.data))
            table.metadata.add_dictionary(t.metadata.as_dictionary())
            table.metadata.Signal.signal_type = "atom_positions"
            table.axes_manager.navigation_axes[0].name = "atom"
            table.axes_manager.signal_axes[0].name = "column"
            t = table
        return t

    def _n_rows(self):
        """Number of rows (centres); refuses stacks (see :meth:`_table`)."""
        return _check_rows(self, _STACK_ADVICE)

    def _table(self, positions=None):
        """The data as a 2D array ``(n_rows, n_components)``, single rows included.

        Every access to the data goes through here: it refuses signals made
        by ``hs.stack`` and an extra navigation axis (see
        :func:`~hyperspy_localcryst.signals.atom_positions._check_rows`).
        """
        _check_rows(self, _STACK_ADVICE)
        return _rows(self, positions)

    @property
    def component_names(self):
        """Name of each signal position (``dx1``, ``dy1``, ...), following ``isig``.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> atoms.get_neighbourhoods(n_neighbours=4).isig[2:4].component_names
        ['dx2', 'dy2']
        """
        names = list(self.metadata.get_item(f"{_KEY}.component_names", []))
        where = f"metadata.{_KEY}.component_names"
        return [str(names[i]) for i in _name_positions(self, len(names), where)]

    def _pairs(self, what):
        """Signal positions ordering the components as ``(dx1, dy1, dx2, ...)``.

        Returns the positions and the number of neighbours; refuses, naming
        ``what``, a signal whose components are not whole ``(dx, dy)`` pairs.
        """
        names = self.component_names
        where = {}
        for i, name in enumerate(names):
            m = re.fullmatch(r"d([xy])(\d+)", name)
            if m:
                where[(int(m.group(2)), m.group(1))] = i
        js = sorted({j for j, _ in where})
        paired = {
            where[(j, c)]
            for j in js
            if (j, "x") in where and (j, "y") in where
            for c in "xy"
        }
        lone = [names[i] for i in range(len(names)) if i not in paired]
        if lone or not paired:
            raise ValueError(
                f"{what} needs whole (dx, dy) neighbour vectors, but the components "
                f"of this signal are {names} (an `isig` slice): {lone} have no "
                "partner. Slice whole pairs (e.g. `nb.isig[2:6]` for neighbours 2 "
                "and 3) or use the whole signal."
            )
        js = [j for j in js if (j, "x") in where and (j, "y") in where]
        order = np.array([where[(j, c)] for j in js for c in "xy"], dtype=np.int64)
        return order, len(js)

    @property
    def centre_indices(self):
        """Index in :attr:`atoms` of the centre atom of each row.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> bool((nb.inav[1:3].centre_indices == nb.centre_indices[1:3]).all())
        True
        """
        self._n_rows()
        nav = self.axes_manager.navigation_axes
        if not nav:
            return self._centre_by_geometry()
        values = np.asarray(nav[0].axis, dtype=float)
        idx = np.rint(values)
        n_atoms = self.atoms.n_atoms
        if not (
            np.allclose(values, idx, rtol=0, atol=1e-6)
            and idx.min() >= 0
            and idx.max() < n_atoms
        ):
            raise ValueError(
                f"The navigation axis values of this {type(self).__name__} are not "
                f"indices of the {n_atoms} atoms of metadata.{_KEY}.atoms "
                f"(range {values.min():g}..{values.max():g}): the axis was changed, "
                "so the rows are no longer linked to their centre atoms."
            )
        return idx.astype(np.int64)

    def _centre_by_geometry(self):
        """The centre of a single row whose axis HyperSpy removed (``nb.inav[k]``):
        the one atom whose neighbours lie exactly at the row's vectors."""
        try:
            order, k = self._pairs("centre_indices")
        except ValueError:
            raise ValueError(
                _NO_CENTRE.format(found="its components are not whole vectors")
            ) from None
        atoms = self.atoms
        # calibrated units throughout, as get_vectors("image") turns them
        xy = np.column_stack([atoms.get_column("x"), atoms.get_column("y")])
        rotation = None
        if self.metric == "angle" and "rotation" in atoms.columns:
            rotation = np.deg2rad(atoms.get_column("rotation"))
        vectors = self._table(order).reshape(k, 2)
        tol = 1e-6 * pixel_scale(atoms.grid)
        found = nbn.locate_centres(xy, vectors, rotation, tol=tol)
        if found.size != 1:
            raise ValueError(
                _NO_CENTRE.format(
                    found="no atom fits"
                    if found.size == 0
                    else f"{found.size} atoms fit equally (an ideal lattice)"
                )
            )
        return found

    @property
    def n_neighbours(self):
        """Number of neighbour vectors per row (whole ``(dx, dy)`` pairs).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> atoms.get_neighbourhoods(n_neighbours=4).isig[2:6].n_neighbours
        2
        """
        return self._pairs("n_neighbours")[1]

    @property
    def metric(self):
        """The ordering, ``"distance"`` or ``"angle"``."""
        _check_not_stacked(self)
        return self.metadata.get_item(f"{_KEY}.metric")

    def get_centres(self):
        """The per-atom table of the centres, in the order of the rows.

        An ``atom`` column gives each centre's index in the full table.

        Returns
        -------
        AtomPositions

        Raises
        ------
        ValueError
            For a single row taken with an integer ``nb.inav[k]`` (HyperSpy
            removes the axis that held the centre's index; use
            ``nb.inav[k:k + 1]``) and for signals made by ``hs.stack``.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.get_centres().n_atoms == int(nb.axes_manager.navigation_size)
        True
        """
        idx = self.centre_indices
        t = self.atoms.select(idx)
        return t.add_columns({"atom": idx.astype(float)}, {"atom": ""})

    def get_vectors(self, frame="image"):
        """Neighbour vectors as an array of shape ``(n_centres, k, 2)``.

        Parameters
        ----------
        frame : {"image", "local"}
            ``"local"``: as stored (rotated for the angle metric);
            ``"image"``: in the image's axes (rotation put back).

        Returns
        -------
        numpy.ndarray
            Neighbours in increasing order of their number (``dx1``/``dy1``
            first) among the components present: after ``nb.isig[2:6]``,
            neighbours 2 and 3.

        Raises
        ------
        ValueError
            When an ``isig`` slice broke ``(dx, dy)`` pairs (the message lists
            the components present).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> atoms.get_neighbourhoods(n_neighbours=4).get_vectors().shape[1:]
        (4, 2)
        """
        if not isinstance(frame, str) or frame not in ("image", "local"):
            raise ValueError(
                f"Unknown frame {frame!r:.60}: `frame` must be 'image' or 'local'."
            )
        order, k = self._pairs("get_vectors")
        v = self._table(order).reshape(-1, k, 2)
        if frame == "image" and self.metric == "angle":
            rot = self.atoms.get_column("rotation")[self.centre_indices]
            v = nbn.rotate_vectors(v, np.deg2rad(rot))
        return v

    def get_missing_mask(self):
        """Boolean per row: True where an atom has fewer than ``k`` neighbours.

        Only ``radius`` mode leaves missing (NaN) entries. Pass it as
        ``navigation_mask`` to HyperSpy's learning, or use
        :meth:`fill_missing`.

        Returns
        -------
        numpy.ndarray of bool

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> int(atoms.get_neighbourhoods(n_neighbours=4).get_missing_mask().sum())
        0
        """
        return ~np.isfinite(self._table()).all(axis=1)

    def fill_missing(self, value=0.0):
        """A copy with missing neighbour vectors set to ``value``.

        With the default 0 a missing neighbour becomes a vector onto the
        centre itself, which no real neighbour has, so learning sees a
        missing neighbour as a difference of one bond length.

        Parameters
        ----------
        value : float

        Returns
        -------
        AtomNeighbourhoods

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=None, radius=0.3)
        >>> bool(np.isfinite(nb.fill_missing().data).all())
        True
        """
        _check_not_stacked(self)
        value = check_number(value, "value")
        if not np.isfinite(value):
            raise ValueError(
                f"`value` must be a finite number, got {value} (NaN or infinite "
                "entries are what `fill_missing` replaces)."
            )
        s = self.deepcopy()
        s.data = np.where(np.isfinite(s.data), s.data, value)
        return s

    def _navigation_mask(self, navigation_mask, n):
        """``navigation_mask`` as a flat boolean array over the ``n`` rows
        (True: left out), or None; refuses anything else."""
        if navigation_mask is None:
            return None
        data = navigation_mask.data if _is_signal(navigation_mask) else navigation_mask
        msg = (
            "`navigation_mask` must be None or a boolean array (or signal) with one "
            f"value per centre atom ({n}), True to leave the centre out, got "
            f"{navigation_mask!r:.60}."
        )
        if isinstance(data, (str, bytes, dict, set, frozenset)):
            raise TypeError(msg)
        try:
            m = np.asarray(data)
        except (TypeError, ValueError):  # ragged sequences
            raise TypeError(msg) from None
        if m.dtype != bool:
            raise TypeError(msg)
        if m.size != n:
            raise ValueError(
                f"`navigation_mask` has {m.size} values (shape {m.shape}) for {n} "
                "centre atoms; give one per centre atom."
            )
        m = m.ravel()
        if int((~m).sum()) < 2:
            raise ValueError(
                f"`navigation_mask` leaves {int((~m).sum())} of the {n} centre atoms; "
                "learning needs at least 2 (True leaves a centre out)."
            )
        return m

    def _learning_rows(self, navigation_mask):
        """Check the rows learning uses: at least two, a valid mask, complete.

        Returns the mask (flat boolean or None) and the number of rows used.
        """
        n = self._n_rows()
        if n < 2:
            raise ValueError(
                "Learning needs at least 2 centre atoms (HyperSpy: navigation_size "
                f"< 2); this signal has {n} row (e.g. from `nb.inav[k]`)."
            )
        mask = self._navigation_mask(navigation_mask, n)
        bad = self.get_missing_mask()
        if mask is not None:
            bad = bad & ~mask
        if bad.any():
            try:
                fewer = f"fewer than {self.n_neighbours} neighbours"
            except ValueError:  # components sliced apart: no whole vectors
                fewer = "missing neighbours"
            raise ValueError(
                f"{int(bad.sum())} centre atom(s) have {fewer} "
                "(NaN entries, radius mode); learning needs complete rows: "
                "use `nb.fill_missing()` or `navigation_mask=nb.get_missing_mask()`."
            )
        return mask, n if mask is None else int((~mask).sum())

    def _signal_mask(self, signal_mask):
        """``signal_mask`` as a flat boolean array over the components, or None."""
        if signal_mask is None:
            return None
        n = self.axes_manager.signal_size
        data = signal_mask.data if _is_signal(signal_mask) else signal_mask
        try:
            m = None if isinstance(data, (str, dict, set)) else np.asarray(data)
        except (TypeError, ValueError):
            m = None
        if m is None or m.dtype != bool or m.size != n:
            raise TypeError(
                "`signal_mask` must be None or a boolean array with one value per "
                f"component ({n}), True to leave the component out, got "
                f"{signal_mask!r:.60}."
            )
        if m.all():
            raise ValueError("`signal_mask` leaves out every component.")
        return m.ravel()

    def _check_source(self, source, name):
        """A clustering source: 'signal', 'decomposition', 'bss' (with their
        results) or a signal with one row per centre."""
        if _is_signal(source):
            nav = source.axes_manager.navigation_size
            if nav != self._n_rows():
                raise ValueError(
                    f"`{name}` has {nav} rows (navigation size) for "
                    f"{self._n_rows()} centre atoms."
                )
            return source
        if not isinstance(source, str) or source not in _SOURCES:
            exc = ValueError if isinstance(source, str) else TypeError
            raise exc(
                f"Unknown cluster source {source!r:.60}: `{name}` must be one of "
                f"{_SOURCES} or a signal with one row per centre atom."
            )
        lr = self.learning_results
        if source == "decomposition":
            try:
                self._decomposition()
            except ValueError as e:
                raise ValueError(f"`{name}` = 'decomposition': {e}") from None
        if source == "bss" and getattr(lr, "bss_loadings", None) is None:
            raise ValueError(
                f"`{name}` = 'bss' needs blind source separation results: run "
                "`blind_source_separation` first."
            )
        return source

    def _check_number_of_components(self, number_of_components, source):
        if number_of_components is None:
            return None
        k = check_integer(number_of_components, "number_of_components", minimum=1)
        if isinstance(source, str) and source == "decomposition":
            n = self.learning_results.loadings.shape[1]
            check_at_most(k, "number_of_components", n, "decomposition components")
        return k

    def _check_learning_kwargs(self, kwargs):
        """Check the HyperSpy keywords we know, in place."""
        if "signal_mask" in kwargs:
            kwargs["signal_mask"] = self._signal_mask(kwargs["signal_mask"])
        for key in ("return_info", "print_info"):
            if key in kwargs:
                check_bool(kwargs[key], key)
        if "show_progressbar" in kwargs:
            check_bool(kwargs["show_progressbar"], "show_progressbar", allow_none=True)

    # --------------------------------------------------------------- learning
    def decomposition(self, *args, navigation_mask=None, **kwargs):
        """HyperSpy's decomposition, centred, after checking its arguments and rows.

        Rows with missing neighbours are refused (fill or mask them), as are
        a ``navigation_mask`` that is not one boolean per centre and unknown
        ``algorithm`` names. See
        :meth:`hyperspy.api.signals.BaseSignal.decomposition`. PCA of
        neighbourhoods: the factors are modes (deformations of the mean
        neighbourhood, see :meth:`get_mode_properties`), the loadings are
        per centre atom (see :meth:`get_map`).

        One default differs from HyperSpy's: the SVD is centred
        (``centre="navigation"``: the mean neighbourhood is subtracted first,
        kept in ``learning_results.mean`` and returned by
        :meth:`get_mean_neighbourhood`), so the modes are deviations from the
        mean and their explained variance ratios are shares of the variance,
        not of the mean's energy. Pass ``centre=None`` for HyperSpy's
        uncentred SVD (its first mode is then nearly the mean itself).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> nb.learning_results.factors.shape, nb.learning_results.centre
        ((8, 8), 'navigation')
        """
        mask, _ = self._learning_rows(navigation_mask)
        algorithm = args[1] if len(args) > 1 else kwargs.get("algorithm", "SVD")
        poisson = args[0] if args else kwargs.get("normalize_poissonian_noise")
        if (
            len(args) < 4
            and "centre" not in kwargs
            and isinstance(algorithm, str)
            and algorithm == "SVD"
            and not poisson
        ):
            kwargs["centre"] = "navigation"
        if isinstance(algorithm, str):
            if algorithm not in _DECOMPOSITION_ALGORITHMS:
                raise ValueError(
                    f"`algorithm` {algorithm!r} not recognised; choose from "
                    f"{list(_DECOMPOSITION_ALGORITHMS)} or pass an object with "
                    "`fit_transform` (or `fit` and `transform`)."
                )
        elif not (
            hasattr(algorithm, "fit_transform")
            or (hasattr(algorithm, "fit") and hasattr(algorithm, "transform"))
        ):
            raise TypeError(
                f"`algorithm` must be one of {list(_DECOMPOSITION_ALGORITHMS)} or an "
                f"object with `fit_transform`, got {algorithm!r:.60}."
            )
        if "normalize_poissonian_noise" in kwargs:
            key = "normalize_poissonian_noise"
            check_bool(kwargs[key], key)
        if kwargs.get("output_dimension") is not None:
            check_integer(kwargs["output_dimension"], "output_dimension", minimum=1)
        self._check_learning_kwargs(kwargs)
        return super().decomposition(*args, navigation_mask=mask, **kwargs)

    def get_decomposition_model(self, components=None, *args, **kwargs):
        """HyperSpy's decomposition model, with the mean of a centred SVD added.

        See :meth:`hyperspy.api.signals.BaseSignal.get_decomposition_model`
        (HyperSpy 2.5 cannot add back a mean over the centres, the default
        here: it is added here).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> bool(np.allclose(nb.get_decomposition_model().data, nb.data))
        True
        """
        lr = self.learning_results
        mean = lr.mean
        n_sig = self.axes_manager.signal_size
        if mean is None or np.shape(mean) != (1, n_sig):
            return super().get_decomposition_model(components, *args, **kwargs)
        lr.mean = None
        try:
            rec = super().get_decomposition_model(components, *args, **kwargs)
        finally:
            lr.mean = mean
        rec.data = rec.data + np.asarray(mean).reshape(
            (1,) * len(self.axes_manager.navigation_shape) + (n_sig,)
        )
        return rec

    def get_mean_neighbourhood(self):
        """The mean neighbourhood, which the centred modes deform.

        The mean a centred decomposition subtracted (``learning_results.mean``,
        over the centres it used), or the mean of the complete rows when there
        is none (uncentred or no decomposition).

        Returns
        -------
        numpy.ndarray, shape (k, 2)
            Mean ``(dx, dy)`` of each neighbour, calibrated units, in the
            stored frame (rotated for the angle metric).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.get_mean_neighbourhood().shape
        (4, 2)
        """
        order, k = self._pairs("get_mean_neighbourhood")
        mean = getattr(self.learning_results, "mean", None)
        if mean is not None and np.size(mean) == self.axes_manager.signal_size:
            m = np.asarray(mean, dtype=float).ravel()
        else:
            m = np.nanmean(self._table(), axis=0)
        return m[order].reshape(k, 2)

    @staticmethod
    def _check_algorithm(algorithm, estimate=False):
        """A clustering algorithm HyperSpy (or we) can run, checked up front."""
        known = (
            [*_CLUSTER_ALGORITHMS] if estimate else ["kmedians", *_CLUSTER_ALGORITHMS]
        )
        if algorithm is None:
            return None
        if estimate and isinstance(algorithm, str) and algorithm == "kmedians":
            raise ValueError(
                "HyperSpy's `estimate_number_of_clusters` runs only its own "
                f"algorithms ({known}), so it cannot estimate K for 'kmedians'; use "
                "algorithm='kmeans' (on separated clusters the same K), or "
                "`find_site_classes`, which counts classes against the position noise."
            )
        if isinstance(algorithm, str):
            if algorithm not in known:
                objects = "" if estimate else " or pass an object with a `fit` method"
                raise ValueError(
                    f"Unknown `algorithm` {algorithm!r}; choose from {known}{objects}."
                )
            return algorithm
        if estimate:
            raise TypeError(
                f"`algorithm` must be one of {known} (HyperSpy's estimate runs only "
                f"its own algorithms), got {algorithm!r:.60}."
            )
        if not hasattr(algorithm, "fit"):
            raise TypeError(
                f"`algorithm` must be one of {known} or an object with a `fit` "
                f"method, got {algorithm!r:.60}."
            )
        return algorithm

    @staticmethod
    def _check_preprocessing(preprocessing, estimate=False):
        if preprocessing is None or (
            isinstance(preprocessing, str) and preprocessing in _PREPROCESSING
        ):
            return preprocessing
        if isinstance(preprocessing, str) or estimate:
            raise ValueError(
                f"Unknown `preprocessing` {preprocessing!r:.60}; choose from "
                f"{[None, *_PREPROCESSING]}"
                + ("." if estimate else " or pass an object with `fit_transform`.")
            )
        if not hasattr(preprocessing, "fit_transform"):
            raise TypeError(
                f"`preprocessing` must be one of {[None, *_PREPROCESSING]} or an "
                f"object with `fit_transform`, got {preprocessing!r:.60}."
            )
        return preprocessing

    def cluster_analysis(
        self,
        cluster_source="signal",
        source_for_centers=None,
        preprocessing=None,
        number_of_components=None,
        navigation_mask=None,
        algorithm=None,
        **kwargs,
    ):
        """HyperSpy's cluster analysis with neighbourhood-friendly defaults.

        Same as :meth:`hyperspy.api.signals.BaseSignal.cluster_analysis`
        except: ``cluster_source`` defaults to ``"signal"``, ``preprocessing``
        to None (raw squared Euclidean distances between neighbourhoods, as
        in the paper), and ``algorithm="kmedians"`` runs
        :class:`~hyperspy_localcryst.numerics.statistics.KMedians` (k-means
        with component-wise median centroids). Get the labels with
        ``get_cluster_labels(merged=True)`` (HyperSpy's numbering, not
        sorted by size). Every argument is checked before HyperSpy runs.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2, algorithm="kmedians")
        >>> nb.get_cluster_labels(merged=True).data.shape == (len(nb.data),)
        True
        """
        mask, n = self._learning_rows(navigation_mask)
        self._check_source(cluster_source, "cluster_source")
        if source_for_centers is not None:
            self._check_source(source_for_centers, "source_for_centers")
        self._check_preprocessing(preprocessing)
        number_of_components = self._check_number_of_components(
            number_of_components, cluster_source
        )
        self._check_algorithm(algorithm)
        self._check_learning_kwargs(kwargs)
        if "n_clusters" in kwargs:
            k = check_integer(kwargs["n_clusters"], "n_clusters", minimum=1)
            if k > n:
                raise ValueError(
                    f"`n_clusters` ({k}) is larger than the number of centre atoms "
                    f"({n})."
                )
            kwargs["n_clusters"] = k
        if algorithm in (None, "kmeans"):
            kwargs.setdefault("n_init", 10)
        if algorithm in (None, "kmeans", "kmedians", "minibatchkmeans"):
            kwargs.setdefault("random_state", 0)
        name = algorithm
        if algorithm == "kmedians":
            # the paper's k-medians, handed to HyperSpy as the scikit-learn
            # estimator object its `algorithm` documents
            algorithm = st.KMedians(**kwargs)
            kwargs = {}
        out = super().cluster_analysis(
            cluster_source,
            source_for_centers=source_for_centers,
            preprocessing=preprocessing,
            number_of_components=number_of_components,
            navigation_mask=mask,
            algorithm=algorithm,
            **kwargs,
        )
        if name == "kmedians":
            self.learning_results.cluster_algorithm = "kmedians"
        return out

    def estimate_number_of_clusters(
        self,
        cluster_source="signal",
        max_clusters=10,
        preprocessing=None,
        navigation_mask=None,
        algorithm=None,
        metric="gap",
        **kwargs,
    ):
        """HyperSpy's estimate of K with the defaults of :meth:`cluster_analysis`.

        HyperSpy's estimator runs only its own algorithms by name, so
        ``algorithm="kmedians"`` raises :class:`ValueError` (use ``"kmeans"``,
        which gives the same K on separated clusters, or
        :meth:`find_site_classes`). ``max_clusters`` may not
        exceed the number of centre atoms used (one less for
        ``metric="silhouette"``). See
        :meth:`hyperspy.api.signals.BaseSignal.estimate_number_of_clusters`.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> k = nb.estimate_number_of_clusters(
        ...     max_clusters=3, metric="elbow", show_progressbar=False
        ... )
        >>> 1 <= int(k) <= 3
        True
        """
        mask, n = self._learning_rows(navigation_mask)
        self._check_source(cluster_source, "cluster_source")
        self._check_preprocessing(preprocessing, estimate=True)
        self._check_algorithm(algorithm, estimate=True)
        if not isinstance(metric, str) or metric not in _METRICS:
            raise ValueError(
                f"Unknown `metric` {metric!r:.60}; choose from {_METRICS}."
            )
        max_clusters = check_integer(max_clusters, "max_clusters", minimum=2)
        if metric == "silhouette":  # scores need one centre more than clusters
            check_at_most(
                max_clusters,
                "max_clusters",
                n - 1,
                f"clusters the silhouette can score on {n} centre atoms",
            )
        else:
            check_at_most(max_clusters, "max_clusters", n, "centre atoms")
        if "n_clusters" in kwargs:
            raise ValueError(
                "`n_clusters` is what `estimate_number_of_clusters` estimates; give "
                "`max_clusters` instead."
            )
        kwargs["number_of_components"] = self._check_number_of_components(
            kwargs.get("number_of_components"), cluster_source
        )
        if "n_ref" in kwargs:
            kwargs["n_ref"] = check_integer(kwargs["n_ref"], "n_ref", minimum=1)
        self._check_learning_kwargs(kwargs)
        if metric != "silhouette":  # HyperSpy's within-cluster distances: n x n
            check_memory(
                8.0 * n * n,
                "metric",
                metric,
                f"the pairwise distances of {n} centre atoms, for K = 1",
                advice="leave centres out with `navigation_mask`, use "
                "metric='silhouette', or choose K from `plot_dendrogram`, which "
                "subsamples",
            )
        if algorithm in (None, "kmeans", "minibatchkmeans"):
            kwargs.setdefault("random_state", 0)
        return super().estimate_number_of_clusters(
            cluster_source,
            max_clusters=max_clusters,
            preprocessing=preprocessing,
            navigation_mask=mask,
            algorithm=algorithm,
            metric=metric,
            **kwargs,
        )

    def _atom_errors(self):
        """Per-axis position errors of each centre ``(n,)`` and of its
        neighbours ``(n, k)`` (in the order of :meth:`_pairs`), calibrated.

        An atom's error is the isotropic ``sqrt((x_err**2 + y_err**2) / 2)``;
        the neighbour is the atom the image-frame vector points at. None when
        the atoms carry no errors (not refined).
        """
        atoms = self.atoms
        if not {"x_err", "y_err"} <= set(atoms.columns):
            return None
        e = np.sqrt(
            (atoms.get_column("x_err") ** 2 + atoms.get_column("y_err") ** 2) / 2
        )
        if not np.isfinite(e).any():
            return None
        e = np.where(np.isfinite(e), e, np.nanmedian(e))
        centres = self.centre_indices
        neighbour, v = self._neighbour_indices()
        en = np.where(np.isfinite(v[..., 0]), e[neighbour], np.nan)
        return e[centres], en

    def _feature_noise(self):
        """Standard deviation of every value from the atoms' position errors.

        Each vector component's noise is ``sqrt(e_c**2 + e_n**2)`` with ``e``
        an atom's isotropic error (centre and neighbour, see
        :meth:`_atom_errors`). None when the atoms carry no errors.
        """
        errors = self._atom_errors()
        if errors is None:
            return None
        ec, en = errors
        order, k = self._pairs("the measurement noise")
        sd = np.sqrt(ec[:, None] ** 2 + en**2)  # (n, k)
        out = np.empty((len(ec), 2 * k))
        out[:, order] = np.repeat(sd, 2, axis=1)
        return out

    def find_site_classes(
        self,
        max_classes=8,
        n_sigma=3.0,
        min_size=10,
        max_dip=0.7,
        seed=0,
        types="auto",
        contrast=True,
    ):
        """Classes of neighbourhoods that the data support, and why that many.

        The number of classes is not a choice here: a class is split in two
        only where its neighbourhoods form two modes (a clear dip in density
        along the best of a few directions, deeper than a Gaussian cloud of
        the same size and shape shows by chance) that lie farther apart than
        ``n_sigma`` times the measurement noise, propagated from the atoms'
        position errors ``x_err``, ``y_err``
        (:func:`~hyperspy_localcryst.numerics.statistics.count_classes`). A
        single crystal gives one class per distinct site (e.g. 2 on SrTiO3
        [001]: the A and B sites), a unimodal cloud gives 1, and noise never
        makes a class. Neighbourhoods isolated in feature space (defects,
        edges) join the nearest class and are counted in the reason. A split
        between two groups of neighbourhoods that both, for most of their
        centres, cut a shell (the next neighbour within 5 % of the last,
        :func:`~hyperspy_localcryst.numerics.neighbourhoods.open_shell`) is
        not made: which members of the shell they keep is then decided by
        noise (a square phase beside a hexagonal one, with the hexagonal
        ``k`` = 6, keeps 2 of its 4 second neighbours).

        With ``contrast`` (default), the contrast of each column to its
        neighbours joins the vectors, so that chemically different columns in
        the same geometry (the A sites of PbTiO3 and SrRuO3) are different
        classes when the data support it.

        With ``types`` (by default the atoms' ``sublattice`` column, when
        there is one: the atom types found by
        :meth:`~hyperspy_localcryst.signals.AtomPositions.label_sublattices`,
        which use intensity), the classes are counted within each type, so a
        site class is one type in one environment: in a polar perovskite the
        A site of one domain and the B site of the opposite domain have the
        same neighbour vectors, and only the type tells them apart.

        The labels are stored as HyperSpy cluster results (k-means started
        from the classes found), so :meth:`get_cluster_labels`,
        :meth:`get_cluster_map`, :meth:`get_cluster_fft` and the plots work
        as after :meth:`cluster_analysis`; class 0 is the largest. The
        number, the reason and every split tried are kept in
        ``metadata.AtomNeighbourhoods.site_classes``.

        Parameters
        ----------
        max_classes : int
            Most classes.
        n_sigma : float
            Least separation of two classes, in measurement-noise units.
        min_size : int
            Fewest centres in a class.
        max_dip : float
            Largest density between two modes relative to the lower peak.
        seed : int
            Seed of the random steps.
        types : "auto", str, array_like or None
            Atom type of every atom of the table (``-1`` for none), or the
            name of a column holding it; ``"auto"``: the ``sublattice``
            column when its labels are sites of the structure (not the
            local-intensity split made when the cell has fewer sites than
            asked) that differ in brightness (median amplitudes at least
            one pooled robust spread apart: not two rows of one kind of
            atom), a label split in two where a periodic order lives inside
            it (:func:`~hyperspy_localcryst.numerics.sublattices.split_types`:
            two labels of an ABF [001] perovskite are cations and O, and Sr
            and Ti-O are a checkerboard inside the cations); ``None``:
            geometry alone.
        contrast : bool
            Add each centre's brightness, when the atoms were refined: the
            log of its fitted ``amplitude``, and its contrast to its
            neighbours (minus the median log amplitude of its neighbours): a
            Pb and a Sr column in the same environment differ in both. The
            noise of each is measured from the data (the scatter between
            each centre and its nearest centre of the same type), and they
            enter the class count in those noise units, like the vectors; a
            slow thickness or height gradient is a continuum, not two
            modes, so it makes no class.

        Returns
        -------
        ClassCount
            ``n_classes``, ``labels``, ``reason`` and the splits tried (see
            :class:`~hyperspy_localcryst.numerics.statistics.ClassCount`).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(160, 160), seed=0)
        >>> atoms = s.refine_atoms(s.find_atoms())
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> result = nb.find_site_classes()
        >>> result.n_classes
        1
        >>> nb.metadata.AtomNeighbourhoods.site_classes.n_classes
        1
        """
        self._n_rows()
        max_classes = check_integer(max_classes, "max_classes", minimum=1)
        X = self._table()
        if not np.isfinite(X).all():
            raise ValueError(
                "Some neighbourhoods have missing (NaN) vectors (`radius` mode); "
                "fill them first with `nb.fill_missing()` or use `n_neighbours`."
            )
        check_at_most(max_classes, "max_classes", len(X), "centre atoms")
        kinds = self._centre_types(types)
        kw = dict(
            max_classes=max_classes,
            min_size=min_size,
            max_dip=max_dip,
            n_sigma=n_sigma,
            seed=seed,
        )
        noise = self._feature_noise()
        extra = self._contrast_feature(kinds, noise) if contrast else None
        used_contrast = extra is not None
        cut = self._open_shell()
        if kinds is None and extra is None:
            result = st.count_classes(X, noise, open_shell=cut, **kw)
        else:
            result = _count_by_type(X, noise, kinds, extra, open_shell=cut, **kw)
        self.cluster_analysis(
            n_clusters=result.n_classes,
            algorithm=_FixedLabels(result.labels),
            random_state=seed,
        )
        # as after a named algorithm: no estimator object (its start
        # centroids cannot be written to a file)
        self.learning_results.cluster_algorithm = None
        lab = self._labels()
        result.labels = lab
        self.metadata.set_item(
            f"{_KEY}.site_classes",
            {
                "n_classes": int(result.n_classes),
                "reason": result.reason,
                "n_outliers": int(result.outliers.sum()),
                "n_sigma": float(n_sigma),
                "max_classes": int(max_classes),
                "types": "none" if kinds is None else self._types_name(types),
                "type_splits": [
                    {"type": sp["type"], "new_type": sp["new_type"]}
                    for sp in (getattr(self, "_type_splits", None) or [])
                ]
                if kinds is not None
                else [],
                "contrast": bool(used_contrast),
                "class_types": [
                    -1
                    if kinds is None or not (lab == c).any()
                    else int(np.bincount(np.maximum(kinds[lab == c], 0)).argmax())
                    for c in range(int(result.n_classes))
                ],
                "splits": [
                    {k: v for k, v in sp.items() if k != "sizes"}
                    for sp in result.splits
                ],
            },
        )
        return result

    def _open_shell(self):
        """Whether each centre's neighbourhood cuts a shell (its next
        neighbour within 5 % of its last,
        :func:`~hyperspy_localcryst.numerics.neighbourhoods.open_shell`),
        per frame; None where the frame has too few atoms."""
        from ..numerics.neighbourhoods import open_shell

        atoms = self.atoms
        k = self.get_vectors("image").shape[1]
        xy = np.column_stack([atoms.get_column("x"), atoms.get_column("y")])
        frames = atoms.get_frames()
        centres = self.centre_indices
        out = np.zeros(len(centres), dtype=bool)
        for f in np.unique(frames[centres]):
            members = np.flatnonzero(frames == f)
            if members.size < k + 2:
                return None
            rows = np.flatnonzero(frames[centres] == f)
            local = np.searchsorted(members, centres[rows])
            out[rows] = open_shell(xy[members, 0], xy[members, 1], k, local)
        return out

    def _neighbour_indices(self):
        """Atom index of every neighbour of every centre (n_centres, k): the
        atom where the image-frame vector points (the vectors are not stored
        with their indices)."""
        atoms = self.atoms
        centres = self.centre_indices
        v = self.get_vectors("image")  # (n, k, 2) in calibrated units
        xy = np.column_stack([atoms.get_column("x"), atoms.get_column("y")])
        frames = atoms.get_frames()
        neighbour = np.zeros(v.shape[:2], dtype=np.int64)
        for f in np.unique(frames[centres]):
            members = np.flatnonzero(frames == f)
            rows = np.flatnonzero(frames[centres] == f)
            tree = cKDTree(xy[members])
            target = xy[centres[rows]][:, None, :] + np.nan_to_num(v[rows])
            neighbour[rows] = members[kd_query(tree, target)[1]]
        return neighbour, v

    def _contrast_feature(self, kinds, noise):
        """Each centre's log amplitude and log contrast to its neighbours,
        each in the units of the vectors' noise, and their noise columns;
        None when not measurable."""
        atoms = self.atoms
        if "amplitude" not in atoms.columns:
            return None
        amp = atoms.get_column("amplitude")
        with np.errstate(invalid="ignore", divide="ignore"):
            la = np.where(amp > 0, np.log(amp), np.nan)
        neighbour, _ = self._neighbour_indices()
        centres = self.centre_indices
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            cols = [la[centres], la[centres] - np.nanmedian(la[neighbour], axis=1)]
        g = 1.0 if noise is None else float(np.nanmedian(noise))
        if not (np.isfinite(g) and g > 0):
            return None
        xy = np.column_stack([atoms.get_column("x"), atoms.get_column("y")])[centres]
        kind = np.zeros(len(centres), dtype=np.int64) if kinds is None else kinds
        frames = atoms.get_frames()[centres]
        out = []
        for c in cols:
            good = np.isfinite(c)
            if good.sum() < 20:
                return None
            # noise: differences to the nearest centre of the same type
            diffs = []
            for t in np.unique(kind):
                for f in np.unique(frames):
                    rows = np.flatnonzero((kind == t) & (frames == f) & good)
                    if rows.size < 3:
                        continue
                    j = kd_query(cKDTree(xy[rows]), xy[rows], k=2)[1][:, 1]
                    diffs.append(c[rows] - c[rows[j]])
            if not diffs:
                return None
            d = np.concatenate(diffs)
            sd = 1.4826 * float(np.median(np.abs(d - np.median(d)))) / np.sqrt(2)
            if not (np.isfinite(sd) and sd > 0):
                return None
            out.append(np.where(good, c, np.nanmedian(c)) * (g / sd))
        return np.column_stack(out), np.full((len(centres), len(out)), g)

    def _types_name(self, types):
        if isinstance(types, str):
            return "sublattice" if types == "auto" else types
        return "given"

    def _centre_types(self, types):
        """Atom type of each centre (None: geometry alone)."""
        atoms = self.atoms
        self._type_splits = []  # what _split_types split, for the metadata
        if types is None:
            return None
        if isinstance(types, str):
            name = "sublattice" if types == "auto" else types
            if types == "auto" and not _typed_by_structure(atoms):
                return None
            if name not in atoms.columns:
                raise ValueError(
                    f"`types` names a column {name!r:.40} the atoms do not have; "
                    f"they have {list(atoms.columns)}."
                )
            t = atoms.get_column(name)
        else:
            t = check_array(types, "types").ravel()
            if t.size != atoms.n_atoms:
                raise ValueError(
                    f"`types` must have one value per atom ({atoms.n_atoms}), got "
                    f"{t.size}."
                )
        t = np.where(np.isfinite(t), t, -1)
        if np.any(t != np.round(t)):
            raise ValueError("`types` must be integer labels (-1 for none).")
        t = t.astype(np.int64)[self.centre_indices]
        if len(np.unique(t[t >= 0])) < 2:
            return None
        if types == "auto":
            t = self._split_types(t)
        if types == "auto" and not _types_differ(
            t,
            atoms.get_column("amplitude")[self.centre_indices]
            if "amplitude" in atoms.columns
            else None,
        ):
            return None
        return t

    def _split_types(self, t):
        """Centre types with a periodic order inside a type split off
        (:func:`~hyperspy_localcryst.numerics.sublattices.split_types`: Sr
        and Ti-O share the cation label of a two-label ABF [001] image);
        one frame only, with the cell of the structure labels."""
        from ..numerics.sublattices import split_types

        atoms = self.atoms
        rec = atoms.metadata.get_item("AtomPositions.settings.sublattices", None)
        if rec is None or atoms.n_frames > 1:
            return t
        rec = rec.as_dictionary() if hasattr(rec, "as_dictionary") else dict(rec)
        column = rec.get("column", "amplitude")
        a1 = np.asarray(rec.get("a1", [np.nan] * 2), float).ravel()
        a2 = np.asarray(rec.get("a2", [np.nan] * 2), float).ravel()
        if column not in atoms.columns or a1.size != 2 or a2.size != 2:
            return t
        g = atoms.grid
        scale = np.array([g["x"]["scale"], g["y"]["scale"]], float)
        x, y = atoms.get_pixel_positions()
        every = np.full(atoms.n_atoms, -1, dtype=np.int64)
        lab = atoms.get_column("sublattice")
        every[np.isfinite(lab)] = lab[np.isfinite(lab)].astype(np.int64)
        # find_site_classes and find_phases (class brightness) both ask; the
        # search and its shuffles run once for the same labels and cell
        key = (column, tuple(a1), tuple(a2), every.tobytes())
        cached = getattr(self, "_split_cache", None)
        if cached is not None and cached[0] == key:
            new, splits = cached[1]
        else:
            new, splits = split_types(
                x, y, atoms.get_column(column), every, a1 / scale, a2 / scale
            )
            self._split_cache = (key, (new, splits))
        self._type_splits = splits
        return new[self.centre_indices] if splits else t

    # ------------------------------------------------ phases, symmetry, variants
    def _class_inputs(self):
        """Site class per centre (running :meth:`find_site_classes` when there
        are no cluster results), the image-frame vectors and the per-centre
        vector noise (per axis; NaN without position errors)."""
        if getattr(self.learning_results, "cluster_labels", None) is None:
            self.find_site_classes()
        lab = self._labels()
        v = self.get_vectors("image")
        sd = self._feature_noise()
        if sd is None:
            e = np.full(len(lab), np.nan)
        else:
            e = np.sqrt(np.nanmean(sd**2, axis=1))
        return lab, v, e

    def get_symmetry(self, n_sigma=4.0):
        """Point symmetry of every neighbourhood, with its breaking magnitude.

        For each centre and each operation (rotations by 180, 120, 90 and 60
        degrees, ``"2"``, ``"3"``, ``"4"``, ``"6"``; the best mirror,
        ``"m"``), the residual is the root-mean-square distance between the
        operated neighbours and the nearest measured ones
        (:func:`~hyperspy_localcryst.numerics.symmetry.symmetry_residuals`),
        in calibrated units: zero for an exact symmetry, about twice the
        vectors' noise for a symmetric site measured with noise, and the
        symmetry-breaking magnitude otherwise (a polar shift ``d`` of the
        centre gives ``2 d`` for ``"2"`` and ``1.41 d`` for ``"4"``). An
        operation is kept when its residual is at most ``n_sigma`` times the
        per-axis noise of the vectors (from the atoms' position errors): with
        ``n_sigma = 4``, 99 % of noisy but symmetric sites of 3 to 6
        neighbours keep all their operations (measured by simulation).

        Parameters
        ----------
        n_sigma : float
            Tolerance in units of the vectors' noise (per axis).

        Returns
        -------
        pandas.DataFrame
            One row per centre: ``atom``, ``x``, ``y``, ``site_class``,
            ``residual_2``, ``residual_3``, ``residual_4``, ``residual_6``,
            ``residual_m``, ``mirror_axis`` (degrees from +x,
            counter-clockwise as seen on the image), ``noise`` (per axis) and
            ``point_group`` (``"1"``, ``"2"``, ``"m"``, ``"2mm"``, ``"3m"``,
            ``"4mm"``, ``"6mm"``...; ``""`` without noise).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(160, 160), seed=0)
        >>> atoms = s.refine_atoms(s.find_atoms())
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> sym = nb.get_symmetry()
        >>> sym["point_group"].value_counts().index[0]
        '4mm'
        """
        import pandas as pd

        from ..numerics import symmetry as sy

        ns = _positive_sigma(n_sigma)
        lab, v, e = self._class_inputs()
        r = sy.symmetry_residuals(v)
        c = self.get_centres()
        df = pd.DataFrame(
            {
                "atom": self.centre_indices,
                "x": c.get_column("x"),
                "y": c.get_column("y"),
                "site_class": lab,
            }
        )
        for name in ("2", "3", "4", "6", "m"):
            df[f"residual_{name}"] = r[name]
        df["mirror_axis"] = r["mirror_axis"]
        df["noise"] = e
        pg = sy.point_group(r, ns * e)
        df["point_group"] = np.where(np.isfinite(e), pg, "")
        return df

    def get_class_symmetry(self, n_sigma=4.0):
        """Point symmetry of each site class's mean neighbourhood.

        The residuals of :meth:`get_symmetry`, on the mean vectors of each
        class; an operation is kept within ``n_sigma`` times the standard
        error of the mean vectors (the centres' noise over the square root of
        their number), so a small but significant distortion shared by many
        centres breaks the symmetry, and the residual says by how much.

        Parameters
        ----------
        n_sigma : float
            Tolerance in units of the mean vectors' standard error.

        Returns
        -------
        pandas.DataFrame
            One row per class: ``n_centres``, ``point_group``, the
            ``residual_*`` columns and ``mirror_axis`` (as in
            :meth:`get_symmetry`), ``noise`` (standard error per axis),
            ``nearest`` (mean nearest-neighbour distance) and ``broken``
            (the rotations and mirror not kept, with their residuals, as
            text).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(160, 160), seed=0)
        >>> atoms = s.refine_atoms(s.find_atoms())
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.get_class_symmetry()["point_group"].tolist()
        ['4mm']
        """

        ns = _positive_sigma(n_sigma)
        return self._class_table(*self._class_inputs(), ns)[0]

    def _class_table(self, lab, v, e, ns):
        """The table of :meth:`get_class_symmetry`, each class's mean
        neighbourhood (K, k, 2) and the standard error of its vectors (K,)."""
        import pandas as pd

        from ..numerics import symmetry as sy

        K = int(lab.max()) + 1 if lab.size else 0
        units = self.metadata.get_item(f"{_KEY}.units", "") or "px"
        rows, means, errors = [], [], []
        for k in range(K):
            m = lab == k
            C = _mean_neighbourhood(v[m])
            se = float(np.sqrt(np.nanmean(e[m] ** 2) / m.sum()))
            means.append(C)
            errors.append(se)
            r = sy.symmetry_residuals(C)
            tol = ns * se if np.isfinite(se) else 0.0
            pg = str(sy.point_group(r, tol)[0])
            broken = [
                f"{name} by {float(r[name][0]):.3g} {units}".rstrip()
                for name in ("2", "3", "4", "6", "m")
                if float(r[name][0]) > tol
            ]
            row = {"n_centres": int(m.sum()), "point_group": pg}
            row.update(
                {f"residual_{n}": float(r[n][0]) for n in ("2", "3", "4", "6", "m")}
            )
            row["mirror_axis"] = float(r["mirror_axis"][0])
            row["noise"] = se
            row["nearest"] = float(np.nanmin(np.hypot(C[:, 0], C[:, 1])))
            row["broken"] = ", ".join(broken)
            rows.append(row)
        df = pd.DataFrame(rows)
        df.index.name = "site_class"
        return df, np.array(means), np.array(errors)

    def find_phases(
        self,
        radius=None,
        min_affinity=0.5,
        boundary_share=0.25,
        n_sigma=3.0,
        relative=0.25,
    ):
        """Phases, symmetry variants and unit cells from the site classes.

        1. **Variants.** Site classes of one atom type, each holding at
           least 5 % of the centres (domains, not the scattered
           surroundings of defects), alike in brightness (median
           amplitudes within their robust spreads combined: other columns
           in a turned geometry are no variant), that live apart (their
           affinity, see below, is under ``min_affinity``) and whose
           mean neighbourhoods one point operation maps onto each other
           (within ``relative`` times their difference or ``n_sigma`` times
           the noise) are variants of one
           class (:func:`~hyperspy_localcryst.numerics.symmetry.find_variants`),
           e.g. the 90-degree polar domains of a ferroelectric. Groups of
           variants in one phase whose members co-occur one to one (the A
           and B sites of each domain) are merged, so every atom of a domain
           gets the same variant index.
        2. **Phases.** With each variant counted as its group's first class,
           classes that live together form one phase
           (:func:`~hyperspy_localcryst.numerics.phases.find_phases`): each
           is as common around the other's atoms as around its own, within
           ``min_affinity``, counted in windows of ``radius`` (default
           :func:`~hyperspy_localcryst.numerics.phases.default_radius`: a
           few cells). One crystal gives one phase; a
           group of classes that fills no windows of its own holds local
           (defect or boundary) classes; every atom takes the phase nearest
           to its window's mix of classes, and atoms whose window mixes in
           at least ``boundary_share`` of another phase are boundary atoms.
        3. **Unit cells.** Each phase's primitive cell and motif of site
           classes (:func:`~hyperspy_localcryst.numerics.phases.unit_cell`).

        Runs :meth:`find_site_classes` first when there are no cluster
        results. The summary (phases with their classes, cells and a sentence
        each; variant groups with their operations; the reason) is kept in
        ``metadata.AtomNeighbourhoods.phases``.

        Parameters
        ----------
        radius : float, optional
            Composition window, in calibrated units.
        min_affinity : float
            Least affinity of the classes of one phase (0 to 1).
        boundary_share : float
            Least share of another phase in a boundary atom's window.
        n_sigma : float
            Noise multiple within which two mean neighbourhoods are the same.
        relative : float
            Largest residual of a variant operation, relative to the
            difference of the two classes.

        Returns
        -------
        AtomPositions
            All atoms, with the columns ``site_class`` (-1 where the atom is
            not a centre), ``phase`` (-1 unassigned), ``variant`` (-1 where
            its class has no variants or the centre lies on a wall between
            variants, else the index of its variant), ``variant_wall`` (1 for
            a centre on a wall: its neighbours come from two domains, so its
            neighbourhood lies at least 35 % of the way from its own class
            to the same type's class of another variant) and
            ``phase_boundary`` (1 for boundary atoms, else 0).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(160, 160), seed=0)
        >>> atoms = s.refine_atoms(s.find_atoms())
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> table = nb.find_phases()
        >>> int(table.get_column("phase").max()) + 1
        1
        >>> nb.metadata.AtomNeighbourhoods.phases.n_phases
        1
        """
        from ..numerics import phases as ph
        from ..numerics import symmetry as sy

        atoms = self.atoms
        if atoms.n_frames > 1:
            raise ValueError(
                "find_phases works on one image: select a frame first "
                "(atoms.get_frame(i).get_neighbourhoods(...))."
            )
        for name, value in (
            ("min_affinity", min_affinity),
            ("boundary_share", boundary_share),
        ):
            val = check_number(value, name, "a fraction")
            if not 0 < val < 1:
                raise ValueError(f"`{name}` must be between 0 and 1, got {value}.")
        ns = _positive_sigma(n_sigma)
        lab, v, e = self._class_inputs()
        grid = atoms.grid
        scale = abs(float(grid["x"]["scale"]))
        xp, yp = atoms.get_pixel_positions()
        n = atoms.n_atoms
        site = np.full(n, -1, dtype=np.int64)
        site[self.centre_indices] = lab
        if radius is None:
            r_px = ph.default_radius(xp, yp, site)
        else:
            r = check_number(radius, "radius", "a distance in calibrated units")
            if not (np.isfinite(r) and r > 0):
                raise ValueError(f"`radius` must be a positive distance, got {radius}.")
            r_px = r / scale
        K = int(lab.max()) + 1 if lab.size else 0
        comp, _ = ph.site_composition(xp, yp, site, r_px, K)
        M = ph.class_cooccurrence(comp, site, K)
        apart = np.nan_to_num(ph.class_affinity(M), nan=1.0) < min_affinity
        # only atoms of one type can be variants of each other
        ct = self.metadata.get_item(f"{_KEY}.site_classes.class_types", None)
        if ct is not None and len(ct) == K:
            ct = np.asarray(ct)
            apart &= ct[:, None] == ct[None, :]
        # the classes' symmetry (get_class_symmetry's defaults), mean
        # neighbourhoods and their standard errors
        sym, C, se = self._class_table(lab, v, e, 4.0)
        # variants are regions (domains): classes at scattered defects,
        # related by the defect's own symmetry, are not
        sizes = np.bincount(lab[lab >= 0], minlength=K)
        big = sizes >= max(20, 0.05 * len(lab))
        apart &= big[:, None] & big[None, :]
        # nor are classes of unlike brightness (other columns, another
        # chemistry: the bright and faint columns of one geometry), their
        # medians farther apart than their spreads combined
        b, b_sd = self._class_brightness(lab, K, spread=True)
        unlike = np.abs(b[:, None] - b[None, :]) > np.hypot(b_sd[:, None], b_sd)
        apart &= ~unlike
        groups = sy.find_variants(
            C, np.nan_to_num(se), apart, n_sigma=ns, relative=relative
        )
        reduced = np.arange(K)
        for g in groups:
            reduced[g["classes"]] = g["classes"][0]
        site_reduced = np.where(site >= 0, reduced[np.maximum(site, 0)], -1)
        result = ph.find_phases(
            xp, yp, site_reduced, r_px, min_affinity, boundary_share=boundary_share
        )
        class_phase = np.where(reduced >= 0, result.class_phase[reduced], -1)
        variant_groups = self._merge_variant_groups(groups, class_phase, M)
        variant = np.full(n, -1, dtype=np.int64)
        for g in variant_groups:
            for i, members in enumerate(g["site_classes"]):
                variant[np.isin(site, members)] = i
        wall = np.zeros(n, dtype=bool)
        wall[self.centre_indices] = self._variant_walls(
            lab, v, e, C, ct, variant_groups
        )
        variant[wall] = -1
        table = atoms.add_columns(
            {
                "site_class": site.astype(float),
                "phase": result.labels.astype(float),
                "variant": variant.astype(float),
                "variant_wall": wall.astype(float),
                "phase_boundary": result.boundary.astype(float),
            },
            {
                "site_class": "",
                "phase": "",
                "variant": "",
                "variant_wall": "",
                "phase_boundary": "",
            },
        )
        units = self.metadata.get_item(f"{_KEY}.units", "") or "px"
        phases = []
        for f in range(result.n_phases):
            classes = [int(c) for c in np.flatnonzero(class_phase == f)]
            members = result.labels == f
            # the cell of the phase's own classes, variants counted as their
            # group's first class (a domain's cell, not one of all domains)
            own = np.isin(site, classes)
            cell = self._phase_cell(
                xp, yp, site_reduced, members & ~result.boundary & own
            )
            phases.append(
                {
                    "site_classes": classes,
                    "n_atoms": int(members.sum()),
                    "n_boundary": int((members & result.boundary).sum()),
                    **cell,
                    "description": _phase_sentence(
                        f, classes, members.sum(), cell, units
                    ),
                }
            )
        bright = self._class_brightness(lab, K)
        classes_info = []
        for k in range(K):
            row = sym.iloc[k]
            vg = [
                (gi, i)
                for gi, g in enumerate(variant_groups)
                for i, mem in enumerate(g["site_classes"])
                if k in mem
            ]
            classes_info.append(
                {
                    "n_centres": int(row.n_centres),
                    "phase": int(class_phase[k]),
                    "point_group": str(row.point_group),
                    "broken": str(row.broken),
                    "variant_group": vg[0][0] if vg else -1,
                    "variant": vg[0][1] if vg else -1,
                    "brightness": float(bright[k]),
                    "description": _class_sentence(
                        k, row, class_phase[k], vg, units, bright[k]
                    ),
                }
            )
        self.metadata.set_item(
            f"{_KEY}.phases",
            {
                "n_phases": int(result.n_phases),
                "reason": result.reason,
                "radius": float(r_px * scale),
                "phases": phases,
                "site_classes": classes_info,
                "variant_groups": variant_groups,
                "boundary_classes": [int(c) for c in np.flatnonzero(class_phase < 0)],
            },
        )
        return table

    def _class_brightness(self, lab, K, spread=False):
        """Median fitted amplitude of each class over the median of its atom
        type's centres (NaN without amplitudes); with ``spread``, also the
        robust spread (1.4826 MAD) of that ratio over the class's centres."""
        atoms = self.atoms
        out, sd = np.full(K, np.nan), np.full(K, np.nan)
        if "amplitude" not in atoms.columns:
            return (out, sd) if spread else out
        amp = atoms.get_column("amplitude")[self.centre_indices]
        kinds = self._centre_types("auto")
        kinds = np.zeros(len(lab), dtype=np.int64) if kinds is None else kinds
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for k in range(K):
                m = lab == k
                if m.any():
                    t = np.bincount(np.maximum(kinds[m], 0)).argmax()
                    r = amp[m] / np.nanmedian(amp[kinds == t])
                    out[k] = np.nanmedian(r)
                    sd[k] = 1.4826 * np.nanmedian(np.abs(r - out[k]))
        return (out, sd) if spread else out

    @staticmethod
    def _variant_walls(lab, v, e, C, ct, variant_groups, share=0.35, n_sigma=6.0):
        """Centres on a wall between variants: nearer, by a share of at least
        ``share`` of the way, to the same type's class of another variant
        than to their own (their neighbours come from two domains).

        A centre's distance to a class is the root-mean-square distance
        between its neighbours and the class's mean neighbourhood, matched
        one to one; the centre is on a wall when ``d_own / (d_own +
        d_other) > share`` for the nearest other variant. Only variants
        whose mean neighbourhoods lie ``n_sigma`` times the centres' vector
        noise apart are tested (closer ones cannot be told apart per
        centre), and only with the classes' atom types known."""
        from scipy.optimize import linear_sum_assignment

        wall = np.zeros(len(lab), dtype=bool)
        if ct is None or not variant_groups:
            return wall
        ct = np.asarray(ct)
        if len(ct) != len(C) or np.all(ct < 0):  # types unknown
            return wall

        def dist(a, b):
            cost = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
            r, c = linear_sum_assignment(np.nan_to_num(cost, nan=1e300))
            return float(np.sqrt(cost[r, c].mean()))

        noise = float(np.nanmedian(e)) if np.isfinite(e).any() else 0.0
        for g in variant_groups:
            variants = g["site_classes"]
            for i, members in enumerate(variants):
                for c in members:
                    others = [
                        o
                        for j, vj in enumerate(variants)
                        if j != i
                        for o in vj
                        if ct[o] == ct[c]
                    ]
                    others = [o for o in others if dist(C[c], C[o]) > n_sigma * noise]
                    if not others:
                        continue
                    for r in np.flatnonzero(lab == c):
                        own = dist(v[r], C[c])
                        other = min(dist(v[r], C[o]) for o in others)
                        wall[r] = own > share * (own + other)
        return wall

    @staticmethod
    def _merge_variant_groups(groups, class_phase, M):
        """Variant groups as lists of variants (each a list of classes) with
        the operation of each variant; groups of one phase with as many
        variants, whose members co-occur one to one, are merged."""
        out = [
            {
                "site_classes": [[c] for c in g["classes"]],
                "operations": list(g["operations"]),
                "residuals": list(g["residuals"]),
            }
            for g in groups
        ]
        merged = True
        while merged:
            merged = False
            for a in range(len(out)):
                for b in range(a + 1, len(out)):
                    ga, gb = out[a], out[b]
                    m = len(ga["site_classes"])
                    if m != len(gb["site_classes"]):
                        continue
                    pa = {int(class_phase[c]) for v in ga["site_classes"] for c in v}
                    pb = {int(class_phase[c]) for v in gb["site_classes"] for c in v}
                    if pa != pb:
                        continue
                    # co-occurrence of variant i of a with variant j of b
                    S = np.array(
                        [
                            [
                                np.nansum(M[np.ix_(va, vb)])
                                + np.nansum(M[np.ix_(vb, va)])
                                for vb in gb["site_classes"]
                            ]
                            for va in ga["site_classes"]
                        ]
                    )
                    match = S.argmax(axis=1)
                    if len(set(match.tolist())) != m:
                        continue
                    ga["site_classes"] = [
                        sorted(va + gb["site_classes"][j])
                        for va, j in zip(ga["site_classes"], match)
                    ]
                    del out[b]
                    merged = True
                    break
                if merged:
                    break
        for g in out:
            g["residuals"] = [float(r) for r in g["residuals"]]
        return out

    def _phase_cell(self, xp, yp, site, members):
        from ..numerics import phases as ph

        keep = members & (site >= 0)
        units = self.metadata.get_item(f"{_KEY}.units", "") or "px"
        if keep.sum() < 6:
            return {"cell": None, "cell_reason": f"only {int(keep.sum())} atoms"}
        try:
            cell = ph.unit_cell(xp[keep], yp[keep], site[keep])
        except ValueError as err:
            return {"cell": None, "cell_reason": str(err)}
        g = self.atoms.grid
        v = cell["vectors"] * [abs(float(g["x"]["scale"])), abs(float(g["y"]["scale"]))]
        a, b = (float(np.hypot(*row)) for row in v)
        gamma = float(np.degrees(np.arccos(np.clip(v[0] @ v[1] / (a * b), -1.0, 1.0))))
        return {
            "cell": {
                "a1": [float(t) for t in v[0]],
                "a2": [float(t) for t in v[1]],
                "a": a,
                "b": b,
                "gamma": gamma,
                "units": units,
                "motif": [
                    {
                        "site_class": m["site_class"],
                        "fractional": list(m["fractional"]),
                        "offset": [
                            float(t)
                            for t in np.asarray(m["offset"])
                            @ np.diag(
                                [
                                    abs(float(g["x"]["scale"])),
                                    abs(float(g["y"]["scale"])),
                                ]
                            )
                        ],
                        "n_atoms": m["n_atoms"],
                    }
                    for m in cell["motif"]
                ],
            },
            "cell_reason": "",
        }

    def _labels(self):
        n = self._n_rows()
        lr = self.learning_results
        if getattr(lr, "cluster_labels", None) is None:
            raise ValueError("No cluster results: run `cluster_analysis` first.")
        lab = np.asarray(lr.cluster_labels)
        if lab.ndim != 2 or lab.shape[1] != n:
            raise ValueError(
                f"The cluster results label {lab.shape[-1]} rows but this signal has "
                f"{n}: it was changed after `cluster_analysis`; run "
                "`cluster_analysis` on it again."
            )
        out = np.full(lab.shape[1], -1)
        for i, row in enumerate(lab):
            out[np.asarray(row, bool)] = i
        return out

    def _decomposition(self):
        """Learning results, checked to be a decomposition of these rows."""
        n_rows = self._n_rows()
        lr = self.learning_results
        if lr.loadings is None or lr.factors is None:
            raise ValueError("No decomposition results: run `decomposition` first.")
        n_comp = self.axes_manager.signal_size
        if lr.loadings.shape[0] != n_rows or lr.factors.shape[0] != n_comp:
            raise ValueError(
                f"The decomposition results are for {lr.loadings.shape[0]} rows x "
                f"{lr.factors.shape[0]} components but this signal has {n_rows} x "
                f"{n_comp}: it was changed after `decomposition`; run "
                "`decomposition` on it again."
            )
        return lr

    @staticmethod
    def _check_linkage_arguments(source, n_samples, method, seed):
        """The arguments of :meth:`get_linkage`, checked before any work."""
        if not isinstance(source, str) or source not in ("signal", "decomposition"):
            raise ValueError(
                f"Unknown source {source!r:.60}: `source` must be 'signal' or "
                "'decomposition'."
            )
        n_samples = check_integer(n_samples, "n_samples")
        if n_samples < 2:
            raise ValueError(
                f"`n_samples` = {n_samples}: the subsample size n_samples must be "
                ">= 2 (a linkage joins at least two rows)."
            )
        if not isinstance(method, str) or method not in st._LINKAGE_METHODS:
            raise ValueError(
                f"Unknown `method` {method!r:.60}: the linkage method must be one of "
                f"{', '.join(st._LINKAGE_METHODS)}."
            )
        if seed is not None:
            check_integer(seed, "seed", minimum=0)
        return n_samples

    def _source_matrix(self, source):
        if source == "signal":
            return self._table()
        lr = self._decomposition()
        n = lr.number_significant_components or lr.loadings.shape[1]
        return np.asarray(lr.loadings[:, :n])

    def get_linkage(
        self,
        source="signal",
        n_samples=2000,
        method="ward",
        seed=0,
        leave_out_isolated=True,
    ):
        """Hierarchical clustering (scipy linkage) of the neighbourhoods.

        Up to ``n_samples`` rows are clustered; larger data sets are
        represented by a random subsample of that many centres (seeded), so
        this stays quick on 100,000 atoms. Rows isolated in feature space
        (neighbourhoods at defects and edges, see
        :func:`~hyperspy_localcryst.numerics.statistics.isolated_rows`) are
        left out by default, as :meth:`find_site_classes` leaves them out of
        its splits: a few of them, far from every other row, would otherwise
        make the top merges of the tree (on the bundled PbTiO3/SrRuO3 image,
        17 such centres made a Ward cut into 3 clusters of 708, 8 and 7
        centres; without them 386, 179 and 141).

        Parameters
        ----------
        source : {"signal", "decomposition"}
            The neighbour vectors, or the loadings of the significant
            components of a previous decomposition.
        n_samples : int
            Largest number of rows clustered.
        method : str
            scipy linkage method (``"ward"``, ``"average"``, ...).
        seed : int
            Random state of the subsample.
        leave_out_isolated : bool
            Leave out the isolated rows (when at least two rows remain).

        Returns
        -------
        Z : numpy.ndarray
            scipy linkage matrix.
        rows : numpy.ndarray of int
            The rows (navigation indices) that were clustered.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> Z, rows = atoms.get_neighbourhoods(n_neighbours=4).get_linkage()
        >>> Z.shape[0] == len(rows) - 1
        True
        """
        Z, rows, _ = self._linkage(source, n_samples, method, seed, leave_out_isolated)
        return Z, rows

    def _linkage(self, source, n_samples, method, seed, leave_out_isolated):
        """:meth:`get_linkage`, and how many isolated rows it left out."""
        n_samples = self._check_linkage_arguments(source, n_samples, method, seed)
        X = self._source_matrix(source)
        if len(X) < 2:
            raise ValueError(
                "Hierarchical clustering needs at least 2 rows (centre atoms); this "
                f"signal has {len(X)} (e.g. from `nb.inav[k]`)."
            )
        ok = np.isfinite(X).all(axis=1)
        if not ok.all():
            raise ValueError(
                f"{int((~ok).sum())} row(s) have missing neighbours; use "
                "`fill_missing()` first."
            )
        leave_out_isolated = check_bool(leave_out_isolated, "leave_out_isolated")
        keep = np.arange(len(X))
        if leave_out_isolated:
            inliers = np.flatnonzero(~st.isolated_rows(X))
            if inliers.size >= 2:
                keep = inliers
        Z, idx = st.linkage_sample(
            X[keep], n_samples=n_samples, method=method, seed=seed
        )
        return Z, keep[idx], len(X) - len(keep)

    def plot_dendrogram(
        self,
        n_clusters=None,
        source="signal",
        n_samples=2000,
        method="ward",
        seed=0,
        ax=None,
        truncate=30,
        leave_out_isolated=True,
    ):
        """Dendrogram of the neighbourhoods, to choose the number of clusters.

        The y axis is the separation (linkage distance) at which clusters
        merge: a long vertical gap before a merge means well separated
        clusters. Large data sets are represented by a random subsample of
        ``n_samples`` centres (see :meth:`get_linkage`).

        Branches and leaf labels take the colour of the class their centres
        belong to, in the palette of every other figure
        (:func:`~hyperspy_localcryst.signals._plotting.class_colours`): the
        cluster results when there are some (e.g. from
        :meth:`find_site_classes`), else the cut into ``n_clusters``; a
        branch over centres of several classes is drawn dark grey. Every leaf
        is labelled with its number of centres, ``(n)``.

        Parameters
        ----------
        n_clusters : int, optional
            Draw the cut that gives this many clusters (at most the number
            of centres clustered).
        source, n_samples, method, seed, leave_out_isolated
            See :meth:`get_linkage` (the x label says how many isolated
            centres were left out).
        ax : matplotlib.axes.Axes, optional
        truncate : int
            Show only the last ``truncate`` merges (0 = all leaves).

        Returns
        -------
        matplotlib.axes.Axes

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> ax = atoms.get_neighbourhoods(n_neighbours=4).plot_dendrogram(2)
        >>> ax.get_ylabel()
        'cluster separation (linkage distance)'
        """
        import matplotlib.pyplot as plt
        from matplotlib.axes import Axes
        from matplotlib.colors import to_hex
        from matplotlib.lines import Line2D
        from scipy.cluster.hierarchy import dendrogram

        from ._plotting import class_colours

        if n_clusters is not None:
            n_clusters = check_integer(n_clusters, "n_clusters")
            if n_clusters < 1:
                raise ValueError(
                    f"`n_clusters` = {n_clusters} cannot cut the dendrogram: "
                    "n_clusters must be >= 1."
                )
        if ax is not None and not isinstance(ax, Axes):
            raise TypeError(f"`ax` must be a Matplotlib Axes or None, got {ax!r:.60}.")
        truncate = check_integer(truncate, "truncate", minimum=0)
        n_samples = self._check_linkage_arguments(source, n_samples, method, seed)
        if n_clusters is not None:
            m = min(n_samples, self._n_rows())  # the rows the linkage clusters
            check_at_most(n_clusters, "n_clusters", m, "centre atoms clustered")
        Z, rows, n_iso = self._linkage(
            source, n_samples, method, seed, leave_out_isolated
        )
        thr = None
        if n_clusters is not None:
            thr = st.linkage_threshold(Z, n_clusters)
        labels = self._dendrogram_labels(rows, Z, n_clusters)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        kw = {"truncate_mode": "lastp", "p": truncate} if truncate else {}
        node = _node_classes(Z, labels)
        n = len(rows)
        colours = class_colours(int(labels.max()) + 1 if len(labels) else 0)
        mixed = "#222222"

        drawn = set()

        def link_colour(i):
            c = node[i]
            drawn.add(int(c))
            return mixed if c < 0 else to_hex(colours[c])

        def leaf_label(i):  # every leaf in one format: its number of centres
            return f"({1 if i < n else int(Z[i - n, 3])})"

        tree = dendrogram(
            Z,
            ax=ax,
            no_labels=n > 60 and not truncate,
            link_color_func=link_colour,
            leaf_label_func=leaf_label,
            above_threshold_color=mixed,
            **kw,
        )
        for text, leaf in zip(ax.get_xticklabels(), tree["leaves"]):
            c = node[leaf]
            text.set_color(mixed if c < 0 else colours[c])
        present = np.unique(labels[labels >= 0])
        if present.size:
            ax.legend(
                handles=[
                    Line2D([], [], color=colours[c], lw=2, label=f"class {c}")
                    for c in present
                ]
                + [Line2D([], [], color=mixed, lw=2, label="mixed")] * (-1 in drawn),
                fontsize=7,
                loc="upper right",
                title="branch: centres of",
                title_fontsize=7,
            )
        if thr is not None:
            ax.axhline(thr, color="k", ls="--", lw=1)
        ax.set_ylabel("cluster separation (linkage distance)")
        sub = "" if len(rows) + n_iso == self._n_rows() else " (subsample)"
        iso = f"; {n_iso} isolated left out" if n_iso else ""
        ax.set_xlabel(f"{len(rows)} centre atoms{sub}{iso}")
        ax.set_title(f"{method} linkage of {self.metadata.General.title}")
        return ax

    def _dendrogram_labels(self, rows, Z, n_clusters):
        """Class of each clustered row: the cluster results when there are
        some (the classes of every other figure), else the cut of ``Z`` into
        ``n_clusters`` (label 0 the largest), else none (-1)."""
        lr = self.learning_results
        if getattr(lr, "cluster_labels", None) is not None:
            try:
                return self._labels()[rows]
            except ValueError:
                pass
        if n_clusters is not None:
            return st.cut_linkage(Z, n_clusters)
        return np.full(len(rows), -1)

    # ---------------------------------------------------------------- stacks
    def _centre_frames(self):
        return self.atoms.get_frames()[self.centre_indices]

    def get_cluster_fractions(self):
        """Fraction of each frame's centre atoms in each cluster.

        One clustering of the pooled neighbourhoods of all frames gives
        labels that mean the same in every frame; this follows them through
        the stack (phase fractions against time, tilt...).

        Returns
        -------
        hyperspy.api.signals.Signal1D
            Navigation axes of the stack (none for a single image), signal
            axis ``cluster``; each spectrum sums to 1 (NaN for frames without
            centres).

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> stack = hs.stack([synthetic_lattice((128, 128), seed=k) for k in (0, 1)])
        >>> nb = stack.find_atoms(show_progressbar=False).get_neighbourhoods(4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> np.allclose(nb.get_cluster_fractions().data.sum(-1), 1)
        True
        """
        labels = self._labels()
        k = int(np.asarray(self.learning_results.cluster_labels).shape[0])
        atoms = self.atoms
        out = st.label_fractions(self._centre_frames(), labels, atoms.n_frames, k)
        return _stack.stack_signal(
            out,
            atoms.navigation,
            [f"cluster {i}" for i in range(k)],
            axis_name="cluster",
            title=f"Cluster fractions of {self.metadata.General.title}",
        )

    def get_frame_statistics(self, values="loadings", statistic="mean", names=None):
        """A statistic of per-centre values in every frame of the stack.

        Parameters
        ----------
        values : {"loadings", "signal", "invariants"}, str, list, array or signal
            ``"loadings"``: decomposition loadings (significant components);
            ``"signal"``: the neighbour vectors; ``"invariants"``: bond
            lengths, angles and polar displacement (:meth:`get_invariants`);
            other strings or a list of them: columns of the centres' table;
            otherwise an array of shape ``(n_centres,)`` or
            ``(n_centres, m)``.
        statistic : {"mean", "median", "std", "min", "max", "count"}
            Computed over each frame's centres, NaN ignored.
        names : list of str, optional
            Names of the values, one per value (stored in
            ``metadata.Signal.names``).

        Returns
        -------
        hyperspy.api.signals.Signal1D
            Navigation axes of the stack, one spectrum of ``m`` values.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> stack = hs.stack([synthetic_lattice((128, 128), seed=k) for k in (0, 1)])
        >>> nb = stack.find_atoms(show_progressbar=False).get_neighbourhoods(4)
        >>> nb.get_frame_statistics("signal").axes_manager.signal_shape
        (8,)
        """
        _check_statistic(statistic)
        if names is not None and (
            not isinstance(names, (list, tuple))
            or not all(isinstance(n, str) for n in names)
        ):
            raise TypeError(
                f"`names` must be a list of strings (one per value), got {names!r:.60}."
            )
        units, auto = "", None
        if isinstance(values, (list, tuple)) and all(
            isinstance(v, str) for v in values
        ):
            values = list(values)  # column names of the centres' table
        if isinstance(values, str) and values == "invariants":
            inv = self.get_invariants()
            known = set(self.atoms.columns) | {"atom"}
            extra = [c for c in inv.columns if c not in known]
            return self._renamed(inv.get_frame_statistics(extra, statistic), names)
        if isinstance(values, list) or (
            isinstance(values, str) and values not in ("loadings", "signal")
        ):
            out = self.get_centres()._frame_statistics(values, statistic, "values")
            return self._renamed(out, names)
        if isinstance(values, str) and values == "loadings":
            lr = self._decomposition()
            v = np.asarray(lr.loadings)
            v = v[:, : lr.number_significant_components or v.shape[1]]
            auto = [f"loading {i}" for i in range(v.shape[1])]
        elif isinstance(values, str):
            v = self._table()
            auto = self.component_names
            units = self.atoms.units.get("x", "")
        else:
            v = check_array(values.data if _is_signal(values) else values, "values")
            if v.ndim == 0:
                raise TypeError(
                    "`values` must be 'loadings', 'signal', 'invariants', column "
                    "names or an array with one row per centre atom, got "
                    f"{values!r:.60}."
                )
        n_c = self._n_rows()
        if v.ndim > 2:
            raise ValueError(
                f"`values` must have shape (n_centres,) or (n_centres, m) = ({n_c}, "
                f"m), got shape {v.shape}."
            )
        v = v.reshape(len(v), -1)
        if v.shape[0] != n_c:
            raise ValueError(f"`values` has {v.shape[0]} rows for {n_c} centre atoms.")
        if names is None:
            names = auto or [f"value {i}" for i in range(v.shape[1])]
        elif len(names) != v.shape[1]:
            raise ValueError(
                f"`names` has {len(names)} names for {v.shape[1]} values per centre."
            )
        atoms = self.atoms
        out = st.per_frame(self._centre_frames(), v, atoms.n_frames, statistic)
        return _stack.stack_signal(
            out,
            atoms.navigation,
            names,
            units=units,
            axis_name="value",
            title=f"{statistic} per frame of {self.metadata.General.title}",
        )

    @staticmethod
    def _renamed(signal, names):
        """Per-frame statistics of columns, renamed by ``names`` when given."""
        if names is None:
            return signal
        have = list(signal.metadata.get_item("Signal.names", []))
        if len(names) != len(have):
            raise ValueError(
                f"`names` has {len(names)} names for {len(have)} values per centre."
            )
        signal.metadata.set_item("Signal.names", [str(n) for n in names])
        return signal

    # ------------------------------------------------------------------ maps
    def _per_centre(self, values, name):
        try:
            v = check_array(values.data if _is_signal(values) else values, name)
        except TypeError:
            raise TypeError(
                f"`{name}` must be numbers, one per centre atom, got {values!r:.60}."
            ) from None
        v = v.ravel()
        n = self._n_rows()
        if v.shape != (n,):
            raise ValueError(f"`{name}` has {v.size} values for {n} centre atoms.")
        return v

    def get_map(
        self,
        values,
        max_distance=None,
        frame=None,
        quantity="Value",
        categorical=False,
        names=None,
        step=1,
    ):
        """Rasterise per-centre values on the image's calibrated grid.

        Each pixel takes the value of its nearest centre atom (Voronoi
        cells); pixels farther than ``max_distance`` from every centre are
        NaN. For a stack, each frame's centres make that frame's map.

        Parameters
        ----------
        values : array_like or signal
            One value per centre (row), e.g. cluster labels or loadings.
        max_distance : float, optional
            Calibrated units, positive and finite; default the median
            nearest-neighbour distance.
        frame : int or tuple of int, optional
            For a stack: one frame (flat index or navigation indices); by
            default every frame, as a stack on the source's navigation axes.
        quantity : str
            What the values are, with their units (``metadata.Signal.quantity``,
            the colour bar's label), e.g. ``"Displacement (pm)"``.
        categorical : bool
            The values are integer class labels (-1: none), e.g. sublattice,
            site class or phase: the map is marked categorical
            (:func:`~hyperspy_localcryst.signals._plotting.set_categorical`),
            so :func:`~hyperspy_localcryst.signals._plotting.plot_map` draws
            each label in its class colour (the markers' colour) with a
            legend of the atom counts.
        names : sequence of str, optional
            With ``categorical``: the name of each label 0, 1, ...
        step : int
            Every ``step``-th pixel along both axes (a positive integer): the
            map of the whole image is ``step``² times smaller and its pixels
            are those of the full map, ``full.data[..., ::step, ::step]`` —
            a quick map to draw a large image at screen resolution.

        Returns
        -------
        hyperspy.api.signals.Signal2D
            On the grid of the source image (same axes and units; the scale
            ``step`` times the image's), with ``metadata.Signal.quantity``.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.get_map(np.arange(len(nb.data))).data.shape
        (128, 128)
        >>> nb.get_map(np.arange(len(nb.data)), step=4).data.shape
        (32, 32)
        """
        step = check_integer(step, "step", minimum=1)
        v = self._per_centre(values, "values")
        if not isinstance(quantity, str):
            raise TypeError(f"`quantity` must be a string, got {quantity!r:.60}.")
        categorical = check_bool(categorical, "categorical")
        if categorical:
            finite = v[np.isfinite(v)]
            if not np.all(finite == np.round(finite)):
                raise ValueError(
                    "`values` must be integer labels (-1 for none) for a "
                    "categorical map."
                )
        if max_distance is not None:  # 0 would give a map of NaN only
            max_distance = _check_length(max_distance, "max_distance")
        atoms = self.atoms
        grid = atoms.grid
        n = atoms.n_frames
        wanted = range(n) if frame is None else [atoms._flat_frame(frame, "frame")]
        shape = (grid["y"]["size"], grid["x"]["size"])
        out_shape = tuple(-(-n_px // step) for n_px in shape)
        if len(wanted) > 1 and out_shape[0] * out_shape[1] <= st.MAX_GRID_CELLS:
            name, value, advice = "frame", frame, "map one frame with `frame`=k"
        else:
            name, value = f"metadata.{_KEY}.atoms.metadata.AtomPositions.grid", shape
            advice = "the image is too large to rasterise; bin it first or use `step`"
        _check_grid(
            *out_shape, len(wanted), name, value, "the image gives maps", advice
        )
        xp, yp = self.get_centres().get_pixel_positions()
        if max_distance is None:
            try:
                r = np.linalg.norm(self.get_vectors("local"), axis=-1)[:, 0]
            except ValueError:  # components sliced apart: the atoms' own spacing
                r = np.array([atoms._nn_distance() or np.nan])
            r = r[np.isfinite(r)]
            max_distance = float(np.median(r)) if r.size else np.inf
        # pixel (r, c) of the map is pixel (r * step, c * step) of the image
        md_px = max_distance / pixel_scale(grid) / step
        xp, yp = xp / step, yp / step
        groups = st.frame_groups(self._centre_frames(), n)
        maps = np.full((len(wanted),) + out_shape, np.nan)
        for i, k in enumerate(wanted):
            sel = groups[k]
            if len(sel):
                maps[i] = st.rasterise_nearest(
                    xp[sel], yp[sel], v[sel], out_shape, max_distance=md_px
                )
        nav = atoms.navigation if frame is None and n > 1 else []
        data = maps.reshape(_stack.navigation_shape(nav) + out_shape)
        axes = _stack.navigation_axes(nav)
        for key, size in zip(("y", "x"), out_shape):
            g = grid[key]
            axes.append(
                {
                    "size": size,
                    "scale": g["scale"] * step,
                    "offset": g["offset"],
                    "units": g["units"],
                    "name": g["name"],
                    "navigate": False,
                }
            )
        s = Signal2D(data, axes=axes)
        s.metadata.General.title = f"Map of {quantity}"
        s.metadata.Signal.quantity = quantity
        if categorical:
            set_categorical(s, v, quantity, names)
        return s

    def get_cluster_map(self, max_distance=None, frame=None):
        """The cluster label of the nearest centre atom at every pixel.

        ``max_distance`` and ``frame`` as in :meth:`get_map` (a stack gives
        one map per frame).

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Labels 0..K-1 as ``get_cluster_labels(merged=True)``, NaN away
            from atoms; categorical (``metadata.Map``: names and atom counts
            of the labels, quantity ``"Cluster label"``), so
            :func:`~hyperspy_localcryst.signals._plotting.plot_map` and
            :meth:`plot_cluster_results` draw each cluster in the colour of
            :meth:`get_cluster_markers`, with a legend.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> float(np.nanmax(nb.get_cluster_map().data)) <= 1
        True
        """
        s = self.get_map(
            self._labels(), max_distance, frame, "Cluster label", categorical=True
        )
        s.metadata.General.title = "Cluster map"
        return s

    def get_loading_map(
        self, component, max_distance=None, frame=None, results="decomposition"
    ):
        """Loading of one component at every pixel (nearest atom).

        ``max_distance`` and ``frame`` as in :meth:`get_map`.

        Parameters
        ----------
        component : int
            Index of the component.
        max_distance, frame
            See :meth:`get_map`.
        results : {"decomposition", "bss"}
            Read the decomposition's loadings, or those of the blind source
            separation (``blind_source_separation``, e.g. ICA).

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Quantity ``"Loading (a.u.)"`` (``"BSS loading (a.u.)"``).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> nb.get_loading_map(1).data.shape
        (128, 128)
        """
        what = "BSS loading" if results == "bss" else "Loading"
        s = self.get_map(
            self._loading(component, results), max_distance, frame, f"{what} (a.u.)"
        )
        s.metadata.General.title = f"{what} map of component {component}"
        return s

    def _learned(self, results="decomposition"):
        """Loadings (n_rows, m) and factors (n_components, m) of the
        decomposition or of the blind source separation, checked to be of
        these rows and components."""
        if not isinstance(results, str) or results not in ("decomposition", "bss"):
            raise ValueError(
                f"Unknown `results` {results!r:.60}: 'decomposition' or 'bss'."
            )
        lr = self._decomposition()
        if results == "decomposition":
            return np.asarray(lr.loadings), np.asarray(lr.factors)
        if lr.bss_loadings is None or lr.bss_factors is None:
            raise ValueError(
                "No blind source separation results: run `blind_source_separation` "
                "after `decomposition` first."
            )
        loadings, factors = np.asarray(lr.bss_loadings), np.asarray(lr.bss_factors)
        if loadings.shape[0] != lr.loadings.shape[0] or (
            factors.shape[0] != lr.factors.shape[0]
        ):
            raise ValueError(
                "The blind source separation results do not match the "
                "decomposition; run `blind_source_separation` again."
            )
        return loadings, factors

    def _loading(self, component, results="decomposition"):
        loadings, _ = self._learned(results)
        component = check_integer(component, "component")
        if not 0 <= component < loadings.shape[1]:
            raise ValueError(
                f"`component` {component} is out of range (0..{loadings.shape[1] - 1})."
            )
        return np.asarray(loadings[:, component])

    def get_markers(self, values, cmap="viridis", size=None, **kwargs):
        """Centre atoms as markers coloured by per-centre values.

        Parameters
        ----------
        values : array_like or signal
            One value per centre.
        cmap : str
        size : float, optional
            See :meth:`AtomPositions.to_markers`.
        **kwargs
            Passed to ``Points``.

        Returns
        -------
        hyperspy.api.plot.markers.Points

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> type(nb.get_markers(np.zeros(len(nb.data)))).__name__
        'Points'
        """
        v = self._per_centre(values, "values")
        c = self.get_centres().add_columns({"_value": v})
        return c.to_markers(colour_by="_value", cmap=cmap, size=size, **kwargs)

    def get_cluster_markers(self, cmap=None, size=None, **kwargs):
        """Centre atoms as markers coloured by cluster.

        Parameters
        ----------
        cmap : str or matplotlib.colors.Colormap, optional
            Colours by cluster index. Default: the class palette of every
            figure (:func:`~hyperspy_localcryst.signals._plotting.class_colours`;
            a centre in no cluster is grey), so the markers match the
            report's maps and :meth:`plot_dendrogram`.
        size : float, optional
            Marker size (see :meth:`AtomPositions.to_markers`).
        **kwargs
            Passed to :meth:`AtomPositions.to_markers`.

        Returns
        -------
        hyperspy.api.plot.markers.Points

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> type(nb.get_cluster_markers()).__name__
        'Points'
        """
        from ._plotting import label_colours
        from .atom_positions import _colormap

        labels = self._labels()
        if cmap is None:
            colours = label_colours(labels)
        else:
            cm = _colormap(cmap)
            colours = cm(np.mod(labels, cm.N))
        return self.get_centres().to_markers(size=size, color=colours, **kwargs)

    def get_cluster_fft(self, shape=None, window=True, max_frequency=None):
        """Per cluster, the power spectrum of its centre atoms' point pattern.

        Sharp spots mean a periodic site class; a diffuse ring means
        disordered positions (e.g. a boundary). ``metadata.Signal``
        ``periodicity`` lists the peak-to-median power ratio per cluster.

        Parameters
        ----------
        shape : tuple of int, optional
            FFT size (ny, nx); default the image shape. Refused (with the
            memory it would take) beyond 2**27 cells or the memory available.
        window : bool
            Apply a Hann window.
        max_frequency : float, optional
            Keep only the frequencies with ``|kx|`` and ``|ky|`` up to this
            (inverse calibrated units, positive), e.g. 1.5 × the first-order
            spots: a small signal for a large image (the periodicity scores
            are still those of the whole spectrum). Default: every frequency.

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Navigation axis ``cluster``; signal axes in inverse image units,
            zero frequency at the centre (axis value 0 at index ``n // 2`` of
            the whole spectrum's ``n``).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> nb.get_cluster_fft().axes_manager.navigation_shape
        (2,)
        >>> step = nb.get_cluster_fft().axes_manager.signal_axes[0].scale  # 1/nm
        >>> nb.get_cluster_fft(max_frequency=12 * step).data.shape  # 12 steps
        (2, 25, 25)
        """
        window = check_bool(window, "window")
        if max_frequency is not None:
            max_frequency = _check_length(max_frequency, "max_frequency")
        lab = self._labels()
        grid = self.atoms.grid
        if shape is None:
            shape = (grid["y"]["size"], grid["x"]["size"])
        else:
            shape = _check_shape(shape)
        n_clusters = int(lab.max()) + 1
        # one power spectrum per cluster, plus the complex FFT of one (2 arrays)
        _check_grid(*shape, n_clusters + 2, "shape", shape, "shape gives a grid")
        xp, yp = self.get_centres().get_pixel_positions()
        ps = pixel_scale(grid)
        # the kept window: whole-spectrum index n // 2 is zero frequency
        keep = []
        for n in shape:
            half = n // 2
            if max_frequency is not None:
                half = min(half, int(np.floor(max_frequency * n * ps + 1e-9)))
            keep.append(slice(n // 2 - half, min(n, n // 2 + half + 1)))
        spectra, score = [], []
        for i in range(n_clusters):
            m = lab == i
            p = st.point_pattern_fft(xp[m], yp[m], shape, window=window)
            score.append(float(st.fft_periodicity(p)))
            # (a copy of the kept window, so the whole spectrum is freed)
            spectra.append(p if max_frequency is None else p[tuple(keep)].copy())
            del p
        s = Signal2D(np.stack(spectra))
        s.axes_manager.navigation_axes[0].name = "cluster"
        units = grid["x"]["units"]
        for ax, n, cut in zip(
            s.axes_manager.signal_axes, (shape[1], shape[0]), (keep[1], keep[0])
        ):
            ax.scale = 1.0 / (n * ps)
            ax.offset = (cut.start - n // 2) / (n * ps)
            ax.units = f"1/{units}" if units else ""
        s.axes_manager.signal_axes[0].name = "kx"
        s.axes_manager.signal_axes[1].name = "ky"
        s.metadata.General.title = "Power spectrum of each cluster's positions"
        s.metadata.Signal.quantity = "Power (a.u.)"
        s.metadata.set_item("Signal.periodicity", score)
        return s

    def get_vector_histogram(self, bins=101, extent=None, by_cluster=False):
        """2D histogram of all neighbour vectors (image frame), calibrated.

        With many neighbours (e.g. 50) this is the 2D pair-correlation
        function of the atom positions.

        Parameters
        ----------
        bins : int or (int, int)
            Number of bins, or ``(nx, ny)``; refused (with the memory it
            would take) beyond 2**27 cells or the memory available.
        extent : tuple of float, optional
            ``(xmin, xmax, ymin, ymax)`` in calibrated units; symmetric
            about 0 and covering all vectors by default.
        by_cluster : bool
            One histogram per cluster (navigation axis ``cluster``), on a
            common extent.

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Counts; axes ``dx`` and ``dy`` in the image's units.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> h = nb.get_vector_histogram(bins=21)
        >>> int(h.data.sum()) == 4 * len(nb.data)
        True
        """
        by_cluster = check_bool(by_cluster, "by_cluster")
        nx, ny = _check_bins(bins)
        if extent is not None:
            extent = _check_extent(extent)
        lab = self._labels() if by_cluster else None
        n_hist = int(lab.max()) + 2 if by_cluster else 1
        _check_grid(ny, nx, n_hist, "bins", bins, "bins gives a grid")
        v = self.get_vectors("image")
        counts, extent = st.vector_histogram(v, bins=(nx, ny), extent=extent)
        if by_cluster:
            counts = np.stack(
                [
                    st.vector_histogram(v[lab == i], bins=bins, extent=extent)[0]
                    for i in range(int(lab.max()) + 1)
                ]
            )
        s = Signal2D(counts)
        ny, nx = counts.shape[-2:]
        units = self.metadata.get_item(f"{_KEY}.units", "") or "px"
        for ax, (lo, hi, n, name) in zip(
            s.axes_manager.signal_axes,
            ((extent[0], extent[1], nx, "dx"), (extent[2], extent[3], ny, "dy")),
        ):
            ax.scale = (hi - lo) / n
            ax.offset = lo + 0.5 * (hi - lo) / n
            ax.units = units
            ax.name = name
        if by_cluster:
            s.axes_manager.navigation_axes[0].name = "cluster"
        s.metadata.General.title = "Neighbour-vector histogram"
        s.metadata.Signal.quantity = "Counts"
        return s

    # ----------------------------------------------------------------- modes
    def _length_unit(self):
        """Factor and name of the unit mode sizes are shown in: pm for images
        in nm or Å, else the units of the vectors."""
        units = str(self.metadata.get_item(f"{_KEY}.units", "") or "")
        return _LENGTH_UNITS.get(units, (1.0, units or "px"))

    def _mode_arrays(self, results="decomposition"):
        """Loadings (n, m) and factors (2k, m) of the decomposition (or BSS),
        the factors' rows in ``(dx1, dy1, ...)`` order, and the rows used."""
        loadings, factors = self._learned(results)
        order, _ = self._pairs("the modes")
        loadings = np.asarray(loadings, dtype=float)
        factors = np.asarray(factors, dtype=float)[order]
        used = np.isfinite(loadings).all(axis=1)
        return loadings, factors, used

    def get_mode_properties(
        self, n_components=None, n_sigma=3.0, results="decomposition"
    ):
        """Share, size, polarity and spatial pattern of each decomposition mode.

        The modes of the (default, centred) decomposition are deformations of
        the mean neighbourhood (:meth:`get_mean_neighbourhood`). For each:

        - ``explained_variance_ratio``: its share of the variance of the rows
          about the mean (for a centred SVD the ratios of all modes sum to 1;
          for ``centre=None``, shares of the rows' energy, the mean's
          included);
        - ``amplitude``: the RMS displacement of the neighbours it carries over
          the centres (loadings x factor), in ``units`` (pm when the image is
          in nm or Å); per centre see :meth:`get_mode_amplitudes`;
        - ``noise_amplitude``: the amplitude a mode of pure position noise
          would have along this one: propagated from the atoms' ``x_err``,
          ``y_err`` (NaN when the atoms were not refined), times
          ``noise_excess``;
        - ``noise_excess``: how much more scatter the smallest modes show than
          the propagated errors predict (at least 1; scan noise and model
          errors that the fit's errors leave out,
          :func:`~hyperspy_localcryst.numerics.modes.noise_excess`); it
          scales ``noise_amplitude`` and ``net_shift_noise``;
        - ``net_shift_x``, ``net_shift_y``: the shift of a centre against its
          neighbours that the mode carries (minus the mean of the neighbour
          displacements) at a centre with a positive loading of RMS size;
          ``net_shift`` its length (the RMS over the centres);
        - ``net_shift_noise``: the RMS noise of a centre's net shift,
          propagated from the atoms' position errors ``x_err``, ``y_err``
          (NaN when the atoms were not refined), times ``noise_excess``;
        - ``polar``: ``net_shift > n_sigma * net_shift_noise``: the mode moves
          centres against their neighbours by more than the noise (the modes
          share the net-shift variance, so a mode of noise never passes;
          False without errors);
        - ``vector_sum_x``, ``vector_sum_y``, ``polarity``: geometry of the
          unit factor
          (:func:`~hyperspy_localcryst.numerics.statistics.mode_polarity`);
        - ``pattern``: how the loadings are arranged over the image:
          ``"uniform"``, ``"sublattice"`` (the sign follows the ``sublattice``
          column: a shift of one sublattice against the other),
          ``"localised"`` (a few centres carry it: defects, edges, misfits),
          ``"alternating"`` (neighbouring centres opposite), ``"domains"`` or
          ``"noise"``
          (:func:`~hyperspy_localcryst.numerics.modes.loading_pattern`);
          ``morans_i`` is the first-shell spatial autocorrelation behind it.
          A mode whose variance is less than twice ``noise_amplitude**2`` is
          ``"noise"`` whatever its arrangement (position noise alone makes
          the net shifts of neighbouring centres alternate);
        - ``top_share``: the share of the mode's sum of squares that the 5 %
          centres of largest loading hold (about 0.2 for Gaussian loadings;
          above 0.5 a few centres dominate the mode, whatever the pattern of
          the others);
        - ``scale``: for ``"domains"``, the domain size (area per unit length
          of domain wall: the width of stripe domains) in ``units``; inf when
          larger than the correlation reaches; else NaN;
        - ``trivial``: for an uncentred decomposition, the mode is nearly
          parallel to the mean (its first mode); always False when centred
          (a centred mode along the mean is a breathing mode);
        - ``units``: the unit of the lengths.

        Parameters
        ----------
        n_components : int, optional
            Default: all.
        n_sigma : float
            Significance of a polar mode's net shift and of a pattern.
        results : {"decomposition", "bss"}
            The modes of the decomposition, or the components of the blind
            source separation (``blind_source_separation``, e.g. ICA, run
            on the decomposition): the same properties of each BSS factor
            with its loadings (the shares are then of the variance about
            the decomposition's mean; independent components need not be
            orthogonal, so they need not sum to 1).

        Returns
        -------
        pandas.DataFrame
            One row per component, the columns above.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(128, 128), seed=0)
        >>> nb = s.refine_atoms(s.find_atoms()).get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> props = nb.get_mode_properties(3)
        >>> bool(props["polar"].any()), props["pattern"][0]
        (False, 'noise')
        """
        import pandas as pd

        from ..numerics import modes as md

        lr = self._decomposition()
        n_max = self._learned(results)[1].shape[1]
        n = (
            n_max
            if n_components is None
            else check_integer(n_components, "n_components", 1)
        )
        if n > n_max:
            raise ValueError(
                f"`n_components` ({n}) is more than the {n_max} components of the "
                "decomposition."
            )
        n_sigma = check_number(n_sigma, "n_sigma", "a positive number")
        if not (np.isfinite(n_sigma) and n_sigma > 0):
            raise ValueError(f"`n_sigma` must be positive and finite, got {n_sigma}.")
        loadings, factors, used = self._mode_arrays(results)
        order, k = self._pairs("get_mode_properties")
        mean = self.get_mean_neighbourhood().ravel()
        rows = self._table(order)[used]
        centre = 0.0
        if lr.mean is not None and np.size(lr.mean) == self.axes_manager.signal_size:
            centre = np.asarray(lr.mean, dtype=float).ravel()[order]
        total = float(np.mean(np.sum((rows - centre) ** 2, axis=1)))
        factor, unit = self._length_unit()
        _, amplitude = md.mode_amplitudes(loadings[used], factors)
        ratio = amplitude**2 * k / total if total > 0 else np.full(n_max, np.nan)
        # what pure position noise gives along each mode, scaled by the excess
        # scatter the smallest modes show over the propagated errors
        errors = self._atom_errors()
        noise_amplitude, excess = np.full(n_max, np.nan), np.nan
        noise = np.full(int(used.sum()), np.nan)
        if errors is not None:
            sd = md.loading_noise(factors, errors[0][used], errors[1][used])
            noise_amplitude = np.sqrt(np.nanmean(sd**2, axis=0) / k)
            excess = md.noise_excess(amplitude, noise_amplitude)
            noise_amplitude = noise_amplitude * excess
            noise = md.net_shift_noise(errors[0][used], errors[1][used]) * excess
        loadings, factors = loadings[:, :n], factors[:, :n]
        shifts = md.net_shifts(loadings[used], factors)  # (n_used, n, 2)
        net, level, polar = md.polar_modes(shifts, noise, n_sigma)
        c = self.get_centres()
        xp, yp = c.get_pixel_positions()
        groups = c.get_column("sublattice") if "sublattice" in c.columns else None
        frames = c.get_frames() if self.atoms.n_frames > 1 else None
        to_units = pixel_scale(self.atoms.grid) * factor
        out = []
        for i in range(n):
            norm = max(np.linalg.norm(factors[:, i]), 1e-300)
            p = st.mode_polarity(factors[:, i] / norm)
            # the net shift of a centre whose loading is +RMS
            rms = np.sqrt(np.mean(loadings[used, i] ** 2))
            shift = md.net_shifts([[rms]], factors[:, i : i + 1])[0, 0]
            pat = md.loading_pattern(
                loadings[:, i],
                np.column_stack([xp, yp]),
                groups=groups,
                frames=frames,
                n_sigma=n_sigma,
            )
            if amplitude[i] ** 2 < 2 * noise_amplitude[i] ** 2:
                # no more variance than twice the position noise gives: position
                # noise alone anticorrelates neighbouring centres' net shifts
                pat = {**pat, "pattern": "noise", "scale": np.nan}
            # only an uncentred mode can be the mean; centred, a mode along
            # the mean is a physical breathing (scale) mode
            cos = abs(factors[:, i] @ mean) / (norm * np.linalg.norm(mean) + 1e-300)
            cos = cos if lr.mean is None else 0.0
            out.append(
                {
                    "explained_variance_ratio": float(ratio[i]),
                    "amplitude": float(amplitude[i] * factor),
                    "noise_amplitude": float(noise_amplitude[i] * factor),
                    "net_shift_x": float(shift[0] * factor),
                    "net_shift_y": float(shift[1] * factor),
                    "net_shift": float(net[i] * factor),
                    "net_shift_noise": float(level * factor),
                    "noise_excess": float(excess),
                    "polar": bool(polar[i]),
                    "vector_sum_x": p["vector_sum"][0],
                    "vector_sum_y": p["vector_sum"][1],
                    "polarity": p["polarity"],
                    "pattern": pat["pattern"],
                    "morans_i": pat["morans_i"],
                    "top_share": pat["top_share"],
                    "scale": float(pat["scale"] * to_units),
                    "trivial": bool(cos > 0.9),
                    "units": unit,
                }
            )
        df = pd.DataFrame(out)
        df.index.name = "component"
        return df

    def get_mode_amplitudes(self, component, results="decomposition"):
        """Size of one mode at every centre, as a length.

        Parameters
        ----------
        component : int
            Index of the decomposition component.
        results : {"decomposition", "bss"}
            A decomposition mode or a blind source separation component.

        Returns
        -------
        AtomPositions
            The centres' table (:meth:`get_centres`) with the columns
            ``amplitude`` (the RMS displacement of the neighbours the mode
            carries at the centre, signed by its loading) and ``shift_x``,
            ``shift_y`` (the shift of the centre against its neighbours the
            mode carries), in the units of :meth:`get_mode_properties` (pm
            for images in nm or Å); NaN for centres the decomposition left
            out.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> t = nb.get_mode_amplitudes(0)
        >>> t.units["amplitude"], t.n_atoms == len(nb.data)
        ('pm', True)
        """
        from ..numerics import modes as md

        column = self._loading(component, results)
        _, factors, _ = self._mode_arrays(results)
        i = int(component)
        per_centre, _ = md.mode_amplitudes(column[:, None], factors[:, i : i + 1])
        shift = md.net_shifts(column[:, None], factors[:, i : i + 1])[:, 0]
        factor, unit = self._length_unit()
        return self.get_centres().add_columns(
            {
                "amplitude": per_centre[:, 0] * factor,
                "shift_x": shift[:, 0] * factor,
                "shift_y": shift[:, 1] * factor,
            },
            {"amplitude": unit, "shift_x": unit, "shift_y": unit},
        )

    @staticmethod
    def _length(value, unit):
        """``value unit`` with 3 digits, pm beyond 1000 written in nm."""
        if unit == "pm" and abs(value) >= 1000:
            return f"{value / 1000:.3g} nm"
        return f"{value:.3g} {unit}"

    @classmethod
    def _mode_title(cls, c, r):
        """Title of mode ``c`` (a row ``r`` of :meth:`get_mode_properties`)."""
        if not np.isfinite(r.net_shift_noise):
            polar = "polarity untested (no position errors)"
        else:
            polar = (
                f"{'polar' if r.polar else 'non-polar'}: net shift "
                f"{cls._length(r.net_shift, r.units)} "
                f"({r.net_shift / r.net_shift_noise:.2g}\u00d7 noise)"
            )
        pattern = r.pattern
        if pattern == "domains":
            pattern += (
                f" ~{cls._length(r.scale, r.units)}"
                if np.isfinite(r.scale)
                else " (larger than the field)"
            )
        if pattern != "localised" and r.top_share > 0.5:
            pattern += f" (5 % of centres hold {r.top_share:.0%})"
        return (
            f"mode {c}: {100 * r.explained_variance_ratio:.1f} %, "
            f"{r.amplitude:.3g} {r.units} RMS\n{polar}\n{pattern}"
            f"{' (trivial)' if r.trivial else ''}"
        )

    def plot_modes(
        self,
        components=None,
        scale=None,
        frame="local",
        results="decomposition",
        properties=None,
    ):
        """Draw decomposition modes as arrows on the mean neighbourhood.

        The mean neighbourhood (:meth:`get_mean_neighbourhood`) is drawn in
        grey, the mode's displacements as red arrows from it. Each title gives
        the mode's share of the variance, its amplitude (RMS neighbour
        displacement, pm for images in nm or Å), whether it is polar against
        the noise (with its net shift) and the pattern of its loadings (with
        the domain size), from :meth:`get_mode_properties`.

        Parameters
        ----------
        components : sequence of int, optional
            Default: the first four (all, when there are fewer).
        scale : float, optional
            Arrow length multiplier (positive); default makes the longest
            arrow a third of the nearest-neighbour distance.
        frame : {"local"}
            Modes live in the stored frame (rotated for the angle metric).
        results : {"decomposition", "bss"}
            Draw the decomposition's modes, or the components of the blind
            source separation (``blind_source_separation``, e.g. ICA).
        properties : pandas.DataFrame, optional
            The table :meth:`get_mode_properties` returned for these
            ``results`` (with a row for each drawn component), when it was
            already computed: the titles are taken from it instead of
            computing it again.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> len(nb.plot_modes((1, 2)).axes)
        2
        """
        import matplotlib.pyplot as plt

        if not isinstance(frame, str) or frame != "local":
            raise ValueError(
                f"Unknown `frame` {frame!r:.60}; modes are drawn in 'local'."
            )
        if scale is not None:
            scale = check_number(scale, "scale", "a positive number")
            if not (np.isfinite(scale) and scale > 0):
                raise ValueError(
                    f"`scale` must be a positive, finite number or None, got {scale}."
                )
        if components is not None and not isinstance(components, (int, np.integer)):
            if not isinstance(components, (list, tuple, np.ndarray)) or (
                np.ndim(components) != 1
            ):
                raise TypeError(
                    "`components` must be a component index or a sequence of them, "
                    f"got {components!r:.60}."
                )
        _, factors = self._learned(results)
        order, k = self._pairs("plot_modes")
        n_max = factors.shape[1]
        if components is None:
            components = tuple(range(min(4, n_max)))
        if isinstance(components, (int, np.integer)):
            components = (components,)
        components = [check_integer(c, "components") for c in components]
        if not components or not all(0 <= c < n_max for c in components):
            raise ValueError(
                f"`components` must be one or more of 0..{n_max - 1}, got {components}."
            )
        if properties is None:
            props = self.get_mode_properties(max(components) + 1, results=results)
        elif len(properties) > max(components) and "amplitude" in properties:
            props = properties
        else:
            raise ValueError(
                "`properties` must be the table of `get_mode_properties` with a "
                f"row for each component drawn (up to {max(components)})."
            )
        mean = self.get_mean_neighbourhood()
        nn = float(np.nanmin(np.linalg.norm(mean, axis=1)))
        units = self.metadata.get_item(f"{_KEY}.units", "") or "px"
        fig, axes = plt.subplots(
            1, len(components), figsize=(3.4 * len(components), 3.8), squeeze=False
        )
        for ax, c in zip(axes[0], components):
            f = np.asarray(factors[order, c]).reshape(k, 2)
            sc = scale or (nn / 3) / max(np.abs(f).max(), 1e-300)
            ax.plot(mean[:, 0], mean[:, 1], "o", color="0.6", ms=5)
            ax.plot([0], [0], "k+", ms=8)
            ax.quiver(
                mean[:, 0],
                mean[:, 1],
                sc * f[:, 0],
                sc * f[:, 1],
                angles="xy",
                scale_units="xy",
                scale=1,
                color="C3",
                width=0.012,
            )
            # the centre's shift against its neighbours that the mode carries
            centre = -sc * f.sum(axis=0) / k
            ax.quiver(
                0.0,
                0.0,
                centre[0],
                centre[1],
                angles="xy",
                scale_units="xy",
                scale=1,
                color="C0",
                width=0.012,
            )
            r = props.iloc[c]
            tips = np.concatenate([mean, mean + sc * f, [[0.0, 0.0], centre]])
            pad = 0.15 * np.ptp(tips, axis=0).max()
            ax.set_xlim(tips[:, 0].min() - pad, tips[:, 0].max() + pad)
            ax.set_ylim(tips[:, 1].min() - pad, tips[:, 1].max() + pad)
            ax.set_title(self._mode_title(c, r), fontsize=8)
            ax.set_aspect("equal")
            ax.invert_yaxis()
            ax.set_xlabel(f"dx ({units})")
        axes[0][0].set_ylabel(f"dy ({units})")
        fig.text(
            0.5,
            0.005,
            "grey: mean neighbourhood; red: mode (neighbour shifts, scaled); "
            "blue: the centre's shift against them",
            ha="center",
            va="bottom",
            fontsize=8,
        )
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        return fig

    # ------------------------------------------------------------- invariants
    def get_invariants(self):
        """Per-centre scalars: sorted bond lengths and angles, polar displacement.

        Returns
        -------
        AtomPositions
            The centres (as :meth:`get_centres`) with columns ``bond_1`` ...
            ``bond_k`` (sorted lengths), ``bond_angle_1`` ... (angles in
            degrees between angularly adjacent bonds, sorted), ``polar_x``,
            ``polar_y`` (displacement of the centre from the centroid of its
            neighbours, image frame) and ``polar`` (its length).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> inv = atoms.get_neighbourhoods(n_neighbours=4).get_invariants()
        >>> float(np.median(inv.get_column("bond_angle_1"))) > 80
        True
        """
        vectors = self.get_vectors("image")
        inv = nbn.neighbour_invariants(vectors)
        k = vectors.shape[1]
        units = self.metadata.get_item(f"{_KEY}.units", "") or "px"
        cols, u = {}, {}
        for j in range(k):
            cols[f"bond_{j + 1}"] = inv["bond_lengths"][:, j]
            u[f"bond_{j + 1}"] = units
        for j in range(k):
            cols[f"bond_angle_{j + 1}"] = inv["bond_angles"][:, j]
            u[f"bond_angle_{j + 1}"] = "deg"
        cols["polar_x"], cols["polar_y"] = inv["polar"][:, 0], inv["polar"][:, 1]
        cols["polar"] = np.hypot(cols["polar_x"], cols["polar_y"])
        u.update(polar_x=units, polar_y=units, polar=units)
        return self.get_centres().add_columns(cols, u)

    # ------------------------------------------------------ spectrum images
    def _atom_labels(self, labels=None):
        """Labels per atom of the full table (-1 for non-centres)."""
        lab = self._labels() if labels is None else self._per_centre(labels, "labels")
        full = np.full(self.atoms.n_atoms, -1.0)
        full[self.centre_indices] = np.where(np.isfinite(lab), lab, -1)
        return full

    def get_cluster_spectra(self, si, labels=None, allow_empty=False, **kwargs):
        """Mean spectrum of each neighbourhood cluster, from a spectrum image.

        Every atom of the table gets a cell (Voronoi, or a disc, see
        :meth:`AtomPositions.get_spectra`); the cells of the centres of
        cluster k are summed and divided by their total area (area-weighted
        mean: the spectrum of one SI pixel of that cluster's cells).

        Parameters
        ----------
        si : hyperspy Signal1D
            Spectrum image; see
            :meth:`AtomPositions.register_to_spectrum_image`.
        labels : array_like, optional
            One integer per centre (e.g. a library's classes); default the
            cluster labels of :meth:`cluster_analysis`.
        allow_empty : bool
            A cluster with no atom in the SI gives NaN instead of an error.
        **kwargs
            ``region``, ``rotation``, ``shift``, ``cell``, ``radius``,
            ``max_distance``, ``subsample``, ``names``.

        Returns
        -------
        hyperspy Signal1D
            Navigation axis ``cluster``, the SI's energy axis and class (e.g.
            ``EELSSpectrum``); ``metadata.ClassSpectra`` has ``n_atoms`` and
            ``area`` per cluster.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=1)
        >>> si = hs.signals.Signal1D(np.ones((16, 16, 10)))
        >>> nb.get_cluster_spectra(si, region=(0, 0, 1.2, 1.2)).data.shape
        (1, 10)
        """
        from .spectra import class_spectra

        full = self._atom_labels(labels)
        n = None
        if labels is None:
            n = int(np.asarray(self.learning_results.cluster_labels).shape[0])
        return class_spectra(
            self.atoms, si, full, n_classes=n, allow_empty=allow_empty, **kwargs
        )

    def get_spectral_map(self, si, edge=None, window=None, max_distance=None, **kwargs):
        """Map of a spectral quantity at the centre atoms, like a cluster map.

        Each centre's value (:meth:`AtomPositions.get_spectral_quantity`)
        fills its Voronoi cell on the survey's grid (:meth:`get_map`), so it
        overlays the image exactly as :meth:`get_cluster_map` does.

        Parameters
        ----------
        si : hyperspy Signal1D
        edge, window
            See :meth:`AtomPositions.get_spectral_quantity`.
        max_distance : float, optional
            Of the map, as in :meth:`get_map`.
        **kwargs
            ``background``, ``name`` and the registration/cell arguments of
            :meth:`AtomPositions.get_spectra`.

        Returns
        -------
        hyperspy.api.signals.Signal2D
            On the survey's grid; NaN away from centres and outside the SI.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> si = hs.signals.Signal1D(np.ones((16, 16, 10)))
        >>> m = nb.get_spectral_map(si, window=(2, 5), region=(0, 0, 1.2, 1.2))
        >>> float(np.nanmax(m.data))  # not binned: the integral over 2 .. 4
        2.0
        """
        self._n_rows()
        if max_distance is not None:  # before the spectra are integrated
            max_distance = _check_length(max_distance, "max_distance")
        t = self.atoms.get_spectral_quantity(si, edge=edge, window=window, **kwargs)
        name = t.columns[-1]
        values = t.get_column(name)[self.centre_indices]
        unit = t.units.get(name, "")
        quantity = f"{name} ({unit})" if unit else name
        s = self.get_map(values, max_distance=max_distance, quantity=quantity)
        s.metadata.General.title = f"{name} at the centre atoms"
        return s

    # ------------------------------------------- HyperSpy's views, as maps
    # HyperSpy draws loadings, BSS loadings and cluster labels against the
    # navigation index, here the atom index; on atom signals they are drawn
    # where the atoms are: per-centre values rasterised on the image grid
    # (:meth:`get_map`), in calibrated units, with a labelled colour bar or,
    # for cluster labels, the class colours and a legend.
    def _component_ids(self, comp_ids, n_max, results, name="comp_ids"):
        """HyperSpy's ``comp_ids``: None (all, or the decomposition's
        ``output_dimension``), an int n (0..n-1) or a list of indices."""
        if comp_ids is None:
            n = self.learning_results.output_dimension
            n = n if results == "decomposition" and n else n_max
            return list(range(min(int(n), n_max)))
        if isinstance(comp_ids, (int, np.integer)) and not isinstance(comp_ids, bool):
            comp_ids = range(check_integer(comp_ids, name, minimum=1))
        elif not isinstance(comp_ids, (list, tuple, range, np.ndarray)):
            raise TypeError(
                f"`{name}` must be None, a number of components or a list of "
                f"component indices, got {comp_ids!r:.60}."
            )
        ids = [check_integer(c, name) for c in comp_ids]
        if not ids or not all(0 <= c < n_max for c in ids):
            raise ValueError(f"`{name}` must be indices in 0..{n_max - 1}, got {ids}.")
        return ids

    def _view_options(self, kwargs, frame_default=True):
        """``max_distance``, ``frame`` and ``scale_bar`` from ``**kwargs``
        (the only extra arguments the views take); a stack's maps show
        frame 0 unless a ``frame`` is given."""
        unknown = set(kwargs) - {"max_distance", "frame", "scale_bar"}
        if unknown:
            raise TypeError(
                f"Unexpected keyword argument(s) {sorted(unknown)}: the map views "
                "take `max_distance`, `frame` and `scale_bar` besides HyperSpy's."
            )
        frame = kwargs.get("frame")
        if frame is None and frame_default and self.atoms.n_frames > 1:
            frame = 0
        return kwargs.get("max_distance"), frame, kwargs.get("scale_bar", False)

    @staticmethod
    def _stack_maps(maps, name):
        """Maps (same grid) as one signal whose last navigation axis,
        ``name``, runs over them."""
        import hyperspy.api as hs

        if len(maps) == 1:
            s = maps[0].deepcopy()
            out = Signal2D(
                s.data[None],
                axes=[{"size": 1, "name": name, "navigate": True}]
                + [
                    {
                        "size": a.size,
                        "scale": a.scale,
                        "offset": a.offset,
                        "units": a.units,
                        "name": a.name,
                        "navigate": a.navigate,
                    }
                    for a in reversed(s.axes_manager.navigation_axes)
                ]
                + [
                    {
                        "size": a.size,
                        "scale": a.scale,
                        "offset": a.offset,
                        "units": a.units,
                        "name": a.name,
                        "navigate": False,
                    }
                    for a in reversed(s.axes_manager.signal_axes)
                ],
            )
        else:
            out = hs.stack(
                maps, new_axis_name=name, stack_metadata=False, show_progressbar=False
            )
        for key in ("Signal", "Map"):
            if maps[0].metadata.has_item(key):
                out.metadata.set_item(key, maps[0].metadata.get_item(key))
        return out

    def _view_title(self, base):
        """``base of <title>``, or ``base`` for an untitled signal."""
        title = self.metadata.General.title
        return f"{base} of {title}" if title else base

    @staticmethod
    def _uncalibrated(signal):
        """A copy of a map in pixels (HyperSpy's ``calibrate=False``)."""
        s = signal.deepcopy()
        for ax in s.axes_manager.signal_axes:
            ax.scale, ax.offset, ax.units = 1.0, 0.0, "px"
        return s

    def _draw_maps(self, maps, titles, same_window, per_row, title, plot_kw):
        """One figure of panels (``same_window``) or one figure per map."""
        import matplotlib.pyplot as plt

        per_row = check_integer(per_row, "per_row", minimum=1)
        if not same_window:
            figs = []
            for m, t in zip(maps, titles):
                im = plot_map(m, title=t, **plot_kw)
                figs.append(im.axes.figure)
            return figs
        n = len(maps)
        cols = min(per_row, n)
        rows = -(-n // cols)
        fig, axes = plt.subplots(
            rows, cols, figsize=(4.6 * cols, 3.9 * rows), squeeze=False
        )
        for ax, m, t in zip(axes.ravel(), maps, titles):
            plot_map(m, ax=ax, title=t, **plot_kw)
        for ax in axes.ravel()[n:]:
            ax.axis("off")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig

    def _plot_loading_maps(
        self,
        results,
        comp_ids,
        calibrate,
        same_window,
        title,
        with_factors,
        cmap,
        no_nans,
        per_row,
        axes_decor,
        kwargs,
    ):
        loadings, _ = self._learned(results)
        ids = self._component_ids(comp_ids, loadings.shape[1], results)
        max_distance, frame, scale_bar = self._view_options(kwargs)
        what = "BSS loading" if results == "bss" else "Loading"
        maps, titles = [], []
        for c in ids:
            m = self.get_loading_map(c, max_distance, frame, results)
            if no_nans:
                m.data = np.nan_to_num(m.data)
            maps.append(
                m if check_bool(calibrate, "calibrate") else self._uncalibrated(m)
            )
            titles.append(
                f"{what} {c}" + ("" if frame is None else f" (frame {frame})")
            )
        if title is None:
            kind = "BSS loadings" if results == "bss" else "Decomposition loadings"
            title = self._view_title(kind)
        plot_kw = {
            "cmap": cmap,
            "axes_decor": axes_decor,
            "scale_bar": scale_bar,
            "symmetric": True,
        }
        figs = self._draw_maps(
            maps,
            titles,
            check_bool(same_window, "same_window"),
            per_row,
            title,
            plot_kw,
        )
        if check_bool(with_factors, "with_factors"):
            return figs, self.plot_modes(ids, results=results)
        return figs

    def plot_decomposition_loadings(
        self,
        comp_ids=None,
        calibrate=True,
        same_window=True,
        title=None,
        with_factors=False,
        cmap=None,
        no_nans=False,
        per_row=3,
        axes_decor="all",
        **kwargs,
    ):
        """Draw decomposition loadings as maps where the atoms are.

        HyperSpy's view, on the image grid: each component's loadings are
        rasterised at the centre atoms' calibrated positions
        (:meth:`get_loading_map`, nearest centre within ``max_distance``),
        axes in the image's units, colour bar ``"Loading (a.u.)"``
        (symmetric about 0). HyperSpy would draw them against the atom index.

        Parameters
        ----------
        comp_ids : None, int or list of int
            None: the decomposition's ``output_dimension`` components when it
            was given, else all; an int n: components 0..n-1; a list: those.
        calibrate : bool
            Calibrated axes (default) or pixels.
        same_window : bool
            One figure with a panel per component, or one figure each.
        title : str, optional
            Title of the figure (``same_window``).
        with_factors : bool
            Also draw the factors as neighbour-vector patterns
            (:meth:`plot_modes`).
        cmap : str or matplotlib.colors.Colormap, optional
            Default a diverging map (``"RdBu_r"``) centred on 0.
        no_nans : bool
            Draw 0 instead of NaN away from the atoms.
        per_row : int
            Panels per row (``same_window``).
        axes_decor : {"all", "ticks", "off", None}
            As HyperSpy's.
        **kwargs
            ``max_distance`` and ``frame`` (as :meth:`get_map`; a stack's
            maps show frame 0 unless given), ``scale_bar`` (bool).

        Returns
        -------
        matplotlib.figure.Figure or list of Figure
            ``(figure(s), factors figure)`` with ``with_factors``.

        See Also
        --------
        plot_decomposition_results, get_loading_maps, plot_modes

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> fig = nb.plot_decomposition_loadings(2)
        >>> [ax.get_title() for ax in fig.axes[:2]]  # then the colour bars
        ['Loading 0', 'Loading 1']
        """
        return self._plot_loading_maps(
            "decomposition",
            comp_ids,
            calibrate,
            same_window,
            title,
            with_factors,
            cmap,
            no_nans,
            per_row,
            axes_decor,
            kwargs,
        )

    def plot_bss_loadings(
        self,
        comp_ids=None,
        calibrate=True,
        same_window=True,
        title=None,
        with_factors=False,
        cmap=None,
        no_nans=False,
        per_row=3,
        axes_decor="all",
        **kwargs,
    ):
        """Draw blind source separation loadings as maps where the atoms are.

        As :meth:`plot_decomposition_loadings`, for the loadings of
        ``blind_source_separation`` (e.g. ICA); colour bar
        ``"BSS loading (a.u.)"``; ``with_factors`` draws the BSS factors
        as neighbour-vector patterns (:meth:`plot_modes` with
        ``results="bss"``).

        Parameters
        ----------
        comp_ids : None, int or list of int
            None: all BSS components; an int n: 0..n-1; a list: those.
        calibrate, same_window, title, with_factors, cmap, no_nans, per_row, \
axes_decor, **kwargs
            See :meth:`plot_decomposition_loadings`.

        Returns
        -------
        matplotlib.figure.Figure or list of Figure
            ``(figure(s), factors figure)`` with ``with_factors``.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> nb.blind_source_separation(2, print_info=False)
        >>> fig = nb.plot_bss_loadings()
        >>> fig.axes[-1].get_ylabel()
        'BSS loading (a.u.)'
        """
        return self._plot_loading_maps(
            "bss",
            comp_ids,
            calibrate,
            same_window,
            title,
            with_factors,
            cmap,
            no_nans,
            per_row,
            axes_decor,
            kwargs,
        )

    def plot_decomposition_factors(
        self, comp_ids=None, calibrate=True, same_window=True, title=None, **kwargs
    ):
        """Draw decomposition factors as neighbour-vector patterns.

        HyperSpy would draw each factor against the feature index (dx0, dy0,
        dx1, ...); on neighbourhoods a factor is a displacement of each
        neighbour, so it is drawn as arrows on the mean neighbourhood
        (:meth:`plot_modes`), with its share, amplitude, polarity and
        loading pattern in the title.

        Parameters
        ----------
        comp_ids : None, int or list of int
            None: the decomposition's ``output_dimension`` components when it
            was given, else all (at most 12); an int n: 0..n-1; a list: those.
        calibrate, same_window, title
            Accepted for HyperSpy's signature; the arrows are always in the
            image's units, in one figure, titled per mode.
        **kwargs
            ``scale``: the arrow length multiplier of :meth:`plot_modes`.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> len(nb.plot_decomposition_factors(2).axes)
        2
        """
        return self._plot_factor_patterns("decomposition", comp_ids, kwargs)

    def plot_bss_factors(
        self, comp_ids=None, calibrate=True, same_window=True, title=None, **kwargs
    ):
        """Draw blind source separation factors as neighbour-vector patterns.

        As :meth:`plot_decomposition_factors`, for the factors of
        ``blind_source_separation`` (e.g. ICA).

        Parameters
        ----------
        comp_ids : None, int or list of int
            None: all BSS components (at most 12); an int n: 0..n-1; a list.
        calibrate, same_window, title, **kwargs
            See :meth:`plot_decomposition_factors`.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> nb.blind_source_separation(2, print_info=False)
        >>> len(nb.plot_bss_factors().axes)
        2
        """
        return self._plot_factor_patterns("bss", comp_ids, kwargs)

    def _plot_factor_patterns(self, results, comp_ids, kwargs):
        unknown = set(kwargs) - {"scale"}
        if unknown:
            raise TypeError(
                f"Unexpected keyword argument(s) {sorted(unknown)}; the factor "
                "views take `scale` (arrow length multiplier)."
            )
        _, factors = self._learned(results)
        n = factors.shape[1]
        ids = self._component_ids(comp_ids, n, results)[:12]
        return self.plot_modes(ids, scale=kwargs.get("scale"), results=results)

    def get_loading_maps(
        self, comp_ids=None, results="decomposition", max_distance=None, frame=None
    ):
        """Loading maps of several components as one signal.

        Parameters
        ----------
        comp_ids : None, int or list of int
            As :meth:`plot_decomposition_loadings`.
        results : {"decomposition", "bss"}
            Decomposition or blind source separation loadings.
        max_distance, frame
            As :meth:`get_map` (a stack: every frame by default).

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Signal axes the image grid; the last navigation axis
            (``"Decomposition component index"`` or ``"BSS component
            index"``) runs over ``comp_ids`` (listed in
            ``metadata.Map.components``), after a stack's own axes.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> nb.get_loading_maps(3).data.shape
        (3, 128, 128)
        """
        loadings, _ = self._learned(results)
        ids = self._component_ids(comp_ids, loadings.shape[1], results)
        grid = self.atoms.grid
        n_frames = self.atoms.n_frames if frame is None else 1
        _check_grid(
            grid["y"]["size"],
            grid["x"]["size"],
            len(ids) * n_frames,
            "comp_ids",
            comp_ids,
            "the loading maps are a grid",
            "ask for fewer components or one `frame`",
        )
        maps = [self.get_loading_map(c, max_distance, frame, results) for c in ids]
        name = "BSS" if results == "bss" else "Decomposition"
        out = self._stack_maps(maps, f"{name} component index")
        out.metadata.set_item("Map.components", ids)
        out.metadata.General.title = (
            f"{'BSS' if results == 'bss' else 'Decomposition'} loading maps of "
            f"{self.metadata.General.title}"
        )
        return out

    def _plot_results(self, maps, factors, maps_navigator, factors_navigator):
        """HyperSpy's ``plot_*_results`` with maps: the maps with a slider
        over the component, the factors following the same index."""
        if maps_navigator == "smart_auto":
            maps_navigator = (
                "slider" if maps.axes_manager.navigation_dimension < 3 else "auto"
            )
        if factors_navigator == "smart_auto":
            factors_navigator = None
        maps.plot(navigator=maps_navigator)
        factors.plot(navigator=factors_navigator)
        comp = maps.axes_manager.navigation_axes[-1]
        follower = factors.axes_manager.navigation_axes[0]

        def follow(obj, index):
            if index < follower.size:
                follower.index = index

        comp.events.index_changed.connect(follow)
        return maps, factors

    def plot_decomposition_results(
        self,
        factors_navigator="smart_auto",
        loadings_navigator="smart_auto",
        factors_dim=2,
        loadings_dim=2,
    ):
        """HyperSpy's decomposition view with the loadings as maps.

        The loadings of each component are drawn as a map on the image grid
        (:meth:`get_loading_maps`; a slider runs over the components, and
        over the frames of a stack), the factors as HyperSpy draws them;
        moving the component slider moves the factors too.

        Parameters
        ----------
        factors_navigator, loadings_navigator : str, None or signal
            As HyperSpy's (``"smart_auto"``: a slider for the maps, none for
            the factors, which follow the maps' component).
        factors_dim, loadings_dim : int
            Accepted for HyperSpy's signature; the maps are images and the
            factors spectra.

        Returns
        -------
        (hyperspy.api.signals.Signal2D, hyperspy.api.signals.BaseSignal)
            The loading maps and the factors drawn (HyperSpy returns None).

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> maps, factors = nb.plot_decomposition_results()
        >>> maps.axes_manager.signal_shape
        (128, 128)
        """
        maps = self.get_loading_maps(None, "decomposition")
        factors = self.get_decomposition_factors()
        if maps.axes_manager.navigation_axes[-1].size < factors.axes_manager[0].size:
            factors = factors.inav[: maps.axes_manager.navigation_axes[-1].size]
        return self._plot_results(maps, factors, loadings_navigator, factors_navigator)

    def plot_bss_results(
        self,
        factors_navigator="smart_auto",
        loadings_navigator="smart_auto",
        factors_dim=2,
        loadings_dim=2,
    ):
        """HyperSpy's blind source separation view with the loadings as maps.

        As :meth:`plot_decomposition_results`, for the results of
        ``blind_source_separation`` (e.g. ICA).

        Parameters
        ----------
        factors_navigator, loadings_navigator, factors_dim, loadings_dim
            See :meth:`plot_decomposition_results`.

        Returns
        -------
        (hyperspy.api.signals.Signal2D, hyperspy.api.signals.BaseSignal)
            The BSS loading maps and the BSS factors drawn.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> nb.blind_source_separation(2, print_info=False)
        >>> maps, factors = nb.plot_bss_results()
        >>> maps.metadata.Signal.quantity
        'BSS loading (a.u.)'
        """
        maps = self.get_loading_maps(None, "bss")
        return self._plot_results(
            maps, self.get_bss_factors(), loadings_navigator, factors_navigator
        )

    def _cluster_ids(self, cluster_ids):
        n = int(self.learning_results.number_of_clusters or 0)
        self._labels()  # clustering done, on these rows
        if cluster_ids is None:
            return list(range(n))
        return self._component_ids(cluster_ids, n, "clusters", "cluster_ids")

    def plot_cluster_labels(
        self,
        cluster_ids=None,
        calibrate=True,
        same_window=True,
        with_centers=False,
        cmap=None,
        no_nans=False,
        per_row=3,
        axes_decor="all",
        title=None,
        **kwargs,
    ):
        """Draw each cluster's atoms as a map, in the cluster's colour.

        HyperSpy's view, on the image grid: for each cluster, the pixels
        nearest its centre atoms are drawn in the cluster's class colour
        (that of :meth:`get_cluster_markers`), those of other clusters'
        atoms grey, with a legend of the counts. HyperSpy would draw the
        labels against the atom index. :meth:`plot_cluster_results` draws
        all clusters on one map.

        Parameters
        ----------
        cluster_ids : None, int or list of int
            None: all clusters; an int n: 0..n-1; a list: those.
        calibrate, same_window, no_nans, per_row, axes_decor, title, **kwargs
            See :meth:`plot_decomposition_loadings`.
        with_centers : bool
            Also draw the clusters' mean neighbourhoods (neighbour-vector
            patterns, class colours).
        cmap : None
            Accepted for HyperSpy's signature; clusters always take their
            class colours.

        Returns
        -------
        matplotlib.figure.Figure or list of Figure
            ``(figure(s), centres figure)`` with ``with_centers``.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> fig = nb.plot_cluster_labels()
        >>> len(fig.axes)
        2
        """
        ids = self._cluster_ids(cluster_ids)
        max_distance, frame, scale_bar = self._view_options(kwargs)
        lab = self._labels()
        maps, titles = [], []
        for c in ids:
            m = self.get_map(
                np.where(lab == c, c, -1),
                max_distance,
                frame,
                "Cluster label",
                categorical=True,
            )
            m.metadata.set_item("Map.none_name", "other clusters")
            if no_nans:
                m.data = np.nan_to_num(m.data, nan=-1)
            maps.append(
                m if check_bool(calibrate, "calibrate") else self._uncalibrated(m)
            )
            titles.append(
                f"Cluster {c}" + ("" if frame is None else f" (frame {frame})")
            )
        if title is None:
            title = self._view_title("Cluster labels")
        figs = self._draw_maps(
            maps,
            titles,
            check_bool(same_window, "same_window"),
            per_row,
            title,
            {"axes_decor": axes_decor, "scale_bar": scale_bar},
        )
        if check_bool(with_centers, "with_centers"):
            return figs, self.plot_cluster_centres(ids)
        return figs

    def plot_cluster_centres(self, cluster_ids=None):
        """The mean neighbourhood of each cluster, in its class colour.

        Each cluster's mean neighbour vectors (stored frame, NaN for missing
        neighbours left out) are drawn as points around the centre (``+``),
        in the colour of the cluster's markers and maps.

        Parameters
        ----------
        cluster_ids : None, int or list of int
            None: all clusters; an int n: 0..n-1; a list: those.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> len(nb.plot_cluster_centres().axes[0].lines)
        3
        """
        import matplotlib.pyplot as plt

        from ._plotting import class_colours

        ids = self._cluster_ids(cluster_ids)
        lab = self._labels()
        v = self.get_vectors("local")
        colours = class_colours(max(ids) + 1)
        units = self.metadata.get_item(f"{_KEY}.units", "") or "px"
        fig, ax = plt.subplots(figsize=(4.6, 4.2))
        ax.plot([0], [0], "k+", ms=9)
        for c in ids:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an empty class
                mean = np.nanmean(v[lab == c], axis=0)
            ax.plot(
                mean[:, 0],
                mean[:, 1],
                "o",
                color=colours[c],
                ms=7,
                mfc="none",
                mew=2,
                label=f"cluster {c} ({int(np.sum(lab == c))})",
            )
        ax.set_aspect("equal")
        ax.invert_yaxis()
        ax.set_xlabel(f"dx ({units})")
        ax.set_ylabel(f"dy ({units})")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        ax.set_title("Mean neighbourhood of each cluster", fontsize=9)
        fig.tight_layout()
        return fig

    def get_cluster_distance_maps(
        self, cluster_ids=None, max_distance=None, frame=None
    ):
        """Each centre's distance to each cluster's centroid, as maps.

        Parameters
        ----------
        cluster_ids : None, int or list of int
            None: all clusters; an int n: 0..n-1; a list: those.
        max_distance, frame
            As :meth:`get_map`.

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Last navigation axis ``"Cluster index"``; quantity
            ``"Distance to cluster centre"`` (in the units of the features
            clustered).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> nb.get_cluster_distance_maps().data.shape
        (2, 128, 128)
        """
        ids = self._cluster_ids(cluster_ids)
        d = np.asarray(self.learning_results.cluster_distances, dtype=float)
        maps = [
            self.get_map(d[c], max_distance, frame, "Distance to cluster centre")
            for c in ids
        ]
        out = self._stack_maps(maps, "Cluster index")
        out.metadata.set_item("Map.components", ids)
        out.metadata.General.title = (
            f"Distances to the cluster centres of {self.metadata.General.title}"
        )
        return out

    def plot_cluster_distances(
        self,
        cluster_ids=None,
        calibrate=True,
        same_window=True,
        with_centers=False,
        cmap="viridis",
        no_nans=False,
        per_row=3,
        axes_decor="all",
        title=None,
        **kwargs,
    ):
        """Draw each centre's distance to each cluster centroid as maps.

        Parameters
        ----------
        cluster_ids, calibrate, same_window, with_centers, no_nans, per_row, \
axes_decor, title, **kwargs
            See :meth:`plot_cluster_labels`.
        cmap : str or matplotlib.colors.Colormap
            Colormap of the distances.

        Returns
        -------
        matplotlib.figure.Figure or list of Figure
            ``(figure(s), centres figure)`` with ``with_centers``.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> fig = nb.plot_cluster_distances()
        >>> fig.axes[-1].get_ylabel()
        'Distance to cluster centre'
        """
        ids = self._cluster_ids(cluster_ids)
        max_distance, frame, scale_bar = self._view_options(kwargs)
        d = np.asarray(self.learning_results.cluster_distances, dtype=float)
        maps, titles = [], []
        for c in ids:
            m = self.get_map(d[c], max_distance, frame, "Distance to cluster centre")
            if no_nans:
                m.data = np.nan_to_num(m.data)
            maps.append(
                m if check_bool(calibrate, "calibrate") else self._uncalibrated(m)
            )
            titles.append(
                f"Distance to cluster {c}"
                + ("" if frame is None else f" (frame {frame})")
            )
        if title is None:
            title = self._view_title("Cluster distances")
        figs = self._draw_maps(
            maps,
            titles,
            check_bool(same_window, "same_window"),
            per_row,
            title,
            {"cmap": cmap, "axes_decor": axes_decor, "scale_bar": scale_bar},
        )
        if check_bool(with_centers, "with_centers"):
            return figs, self.plot_cluster_centres(ids)
        return figs

    def plot_cluster_results(
        self,
        centers_navigator="smart_auto",
        labels_navigator="smart_auto",
        centers_dim=2,
        labels_dim=2,
    ):
        """HyperSpy's clustering view with the labels and distances as maps.

        Draws the cluster map (:meth:`get_cluster_map`: every cluster in its
        class colour, the markers' colour, with a legend of the counts; a
        stack shows frame 0), then, as HyperSpy, the distances to each
        cluster's centroid (as maps, :meth:`get_cluster_distance_maps`) with
        a slider over the clusters and the cluster centres
        (``get_cluster_signals``) following it.

        Parameters
        ----------
        centers_navigator, labels_navigator, centers_dim, labels_dim
            As HyperSpy's (see :meth:`plot_decomposition_results`).

        Returns
        -------
        (matplotlib.image.AxesImage, hyperspy.api.signals.Signal2D, \
hyperspy.api.signals.BaseSignal)
            The cluster map drawn, the distance maps and the centres
            (HyperSpy returns None).

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> im, distances, centres = nb.plot_cluster_results()
        >>> im.axes.get_legend().get_title().get_text()
        'Cluster label'
        """
        frame = 0 if self.atoms.n_frames > 1 else None
        im = plot_map(
            self.get_cluster_map(frame=frame),
            title="Cluster map" + ("" if frame is None else " (frame 0)"),
        )
        maps, centres = self._plot_results(
            self.get_cluster_distance_maps(),
            self.get_cluster_signals(),
            labels_navigator,
            centers_navigator,
        )
        return im, maps, centres


def _node_classes(Z, labels):
    """Class of every node of linkage ``Z`` (leaves ``0 .. n - 1``, then the
    merges): the class all its rows share, or -1 where they differ."""
    n = len(labels)
    node = np.empty(2 * n - 1, dtype=np.int64)
    node[:n] = labels
    for j, (a, b) in enumerate(np.asarray(Z[:, :2], dtype=np.int64)):
        node[n + j] = node[a] if node[a] == node[b] else -1
    return node


class LazyAtomNeighbourhoods(LazySignal1D, AtomNeighbourhoods):
    """Lazy version of :class:`AtomNeighbourhoods` (data held as a dask array).

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
    >>> type(nb.as_lazy()).__name__
    'LazyAtomNeighbourhoods'
    """

    _lazy = True
