"""The per-atom table signal.

Data model
----------
``data`` has shape ``(n_atoms, n_columns)``: the navigation axis is the atom
(index), the signal axis is the column. Everything needed to read the table
lives in ``metadata.AtomPositions`` so that it survives copies, ``inav``
slicing and ``.hspy``/``.zspy`` round trips:

- ``columns``: column names (``x``, ``y``, descriptors...),
- ``units``: one unit string per column,
- ``grid``: the calibration of the image the atoms come from (``x`` and ``y``
  each with size, scale, offset, units, name), so that later steps can draw
  and rasterise without the image,
- ``navigation``: for image stacks, the navigation axes of the stack; the
  ``frame`` column then holds each atom's flat frame index,
- ``settings``: the parameters of the step that produced the table.

Positions ``x`` and ``y`` are in the image's calibrated units.

The signal axis names the columns: signal position *i* is column
``columns[round(axis.axis[i])]`` of the metadata list, the axis being made
with offset 0 and scale 1. HyperSpy's ``isig`` slices shift and scale the
axis (``isig[2:5]``: offset 2; ``isig[::2]``: scale 2), so the names follow
every slice and the ``.hspy``/``.zspy`` round trip. ``inav[k]`` (one row,
no navigation axis) is a one-atom table.

``hs.stack`` keeps only the first input's metadata (column names, units,
image grid), so a stacked table would name, scale or place the other
inputs' rows and columns wrongly. Every method refuses a signal made by
``hs.stack`` (recognised by the ``original_metadata.stack_elements`` that
HyperSpy records), whatever the axis, and a table with more than one
navigation axis: join tables with :meth:`AtomPositions.concatenate`
(columns matched by name, grids and units checked), or find the atoms on an
image stack.
"""

import os
import warnings

import numpy as np
from hyperspy.signals import LazySignal1D, Signal1D

from ..numerics import frames
from ..numerics._checks import check_array
from ..numerics._parallel import kd_query
from . import _stack
from ._grid import (
    check_bool,
    check_integer,
    check_memory,
    check_n_sublattices,
    check_number,
    check_units,
    to_calibrated,
    to_pixels,
)
from .neighbourhoods.make import make_neighbourhoods

__all__ = ["AtomPositions", "LazyAtomPositions", "make_atom_positions"]

_KEY = "AtomPositions"


def make_atom_positions(columns, units, grid, settings=None, navigation=None, title=""):
    """Build an :class:`AtomPositions` from named columns.

    Parameters
    ----------
    columns : dict of str to array_like
        Column name to values (one per atom), in calibrated units.
    units : dict of str to str
        Column name to unit.
    grid : dict
        Image grid (see :func:`hyperspy_localcryst.signals._grid.grid_from_axes`).
    settings : dict, optional
        Parameters of the step that made the table.
    navigation : list of dict, optional
        Navigation axes of the image stack the atoms come from.
    title : str
        Signal title.

    Returns
    -------
    AtomPositions

    Examples
    --------
    >>> grid = {k: dict(size=10, scale=0.1, offset=0.0, units="nm", name=k)
    ...         for k in "xy"}
    >>> t = make_atom_positions({"x": [0.1], "y": [0.2]}, {"x": "nm", "y": "nm"}, grid)
    >>> t.columns
    ['x', 'y']
    """
    names = list(columns)
    data = np.column_stack([np.asarray(columns[c], dtype=float) for c in names])
    if data.shape[0] == 0:
        raise ValueError("No atoms: a per-atom table needs at least one atom.")
    s = AtomPositions(data)
    s.metadata.General.title = title
    nav = s.axes_manager.navigation_axes[0]
    nav.name = "atom"
    sig = s.axes_manager.signal_axes[0]
    sig.name = "column"
    s.metadata.set_item(f"{_KEY}.columns", names)
    s.metadata.set_item(f"{_KEY}.units", [units.get(c, "") for c in names])
    s.metadata.set_item(f"{_KEY}.grid", grid)
    if settings:
        s.metadata.set_item(f"{_KEY}.settings", _plain(settings))
    if navigation:
        s.metadata.set_item(f"{_KEY}.navigation", list(navigation))
    return s


def _axis_name(axis):
    name = axis.name
    return name if isinstance(name, str) else "<undefined>"


def _name_positions(signal, n_names, listing):
    """Index into a metadata name list of every position of the signal axis.

    The signal axis of a table is made with offset 0 and scale 1, so its
    values are the indices of the names; HyperSpy's ``isig`` slices (integer,
    float or stepped) keep that true by shifting and scaling the axis.

    Parameters
    ----------
    signal : hyperspy signal
        A table (AtomPositions or AtomNeighbourhoods).
    n_names : int
        Length of the full name list in metadata.
    listing : str
        Where the names live (for messages), e.g.
        ``"metadata.AtomPositions.columns"``.

    Returns
    -------
    numpy.ndarray of int

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> _name_positions(atoms.isig[1:4], 5, "columns").tolist()
    [1, 2, 3]
    """
    _check_not_stacked(signal)
    am = signal.axes_manager
    if am.signal_dimension != 1:
        raise ValueError(
            f"This {type(signal).__name__} has {am.signal_dimension} signal axes; a "
            "table has exactly one (its columns)."
        )
    _check_not_transposed(signal)
    axis = am.signal_axes[0]
    values = np.asarray(axis.axis, dtype=float)
    pos = np.rint(values)
    ok = (
        values.size > 0
        and np.allclose(values, pos, rtol=0, atol=1e-6)
        and pos.min() >= 0
        and pos.max() < n_names
        and len(np.unique(pos)) == len(pos)
    )
    if not ok:
        shown = np.array2string(values[:6], separator=", ")
        raise ValueError(
            f"The signal axis {_axis_name(axis)!r} of this {type(signal).__name__} "
            f"(values {shown}{'...' if values.size > 6 else ''}) no longer maps onto "
            f"the {n_names} names in {listing}: its values must be the indices of "
            "the names (offset 0, scale 1 when made; `isig` slices keep that). Was "
            "the axis recalibrated, or were signals stacked along the signal axis?"
        )
    return pos.astype(np.int64)


def _check_rows(signal, advice):
    """Number of rows of a table; refuse layouts that are not one row per item.

    A table has one navigation axis (its rows) or none (a single row, from
    an integer ``inav`` index). ``advice`` ends the message for a table with
    extra navigation axes (e.g. built by hand); a signal made by ``hs.stack``
    is refused first (:func:`_check_not_stacked`).
    """
    _check_not_stacked(signal)
    am = signal.axes_manager
    nav = am.navigation_axes
    if len(nav) > 1:
        names = ", ".join(_axis_name(a) for a in nav)
        raise ValueError(
            f"This {type(signal).__name__} has {len(nav)} navigation axes ({names}), "
            "e.g. from stacking signals, which adds a new axis; a table has "
            f"one row per atom on a single navigation axis. {advice}"
        )
    _check_not_transposed(signal)
    return int(nav[0].size) if nav else 1


def _check_not_stacked(signal):
    """Refuse a signal made by ``hs.stack``, whatever the axis.

    ``hs.stack`` keeps only the first input's metadata and axes, so the
    column (component) names, units and image grid of the other inputs are
    lost and cannot be checked afterwards: stacked along the signal axis the
    names of the first input label the others' columns, along the atom axis
    the first input's units and grid are applied to every row. HyperSpy
    records every input's metadata in ``original_metadata.stack_elements``
    (its default ``stack_metadata=True``), which is how a stack is
    recognised. The message names what the class keeps (``_stack_kept``)
    and what to do instead (``_stack_advice``).

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> _check_not_stacked(atoms)
    >>> both = hs.stack([atoms, atoms], axis="atom", show_progressbar=False)
    >>> _check_not_stacked(both)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: This AtomPositions was made by `hs.stack` ...
    """
    elements = signal.original_metadata.get_item("stack_elements")
    if elements is None:
        return
    n = len(list(elements.keys())) if hasattr(elements, "keys") else "several"
    cls = type(signal)
    kept = getattr(cls, "_stack_kept", "metadata")
    advice = getattr(cls, "_stack_advice", "")
    raise ValueError(
        f"This {cls.__name__} was made by `hs.stack` (original_metadata."
        f"stack_elements records its {n} inputs), which keeps only the first "
        f"input's {kept}: the other inputs' are lost and cannot be checked, so "
        "its values cannot be trusted (their rows or columns would be named, "
        f"scaled or placed by the first input's). {advice}".rstrip()
    )


def _check_not_transposed(signal):
    am = signal.axes_manager
    nav, sig = am.navigation_axes, am.signal_axes
    if (nav and _axis_name(nav[0]) in ("column", "component")) or (
        sig and _axis_name(sig[0]) == "atom"
    ):
        raise ValueError(
            f"This {type(signal).__name__} is transposed (atoms on the signal axis); "
            "use the table as made, with atoms on the navigation axis."
        )


def _rows(signal, positions=None):
    """The data as a 2D array ``(n_rows, n_columns)`` (a single row included).

    ``positions`` (indices on the signal axis) picks columns before a lazy
    table is computed.
    """
    data = signal.data
    if data.ndim == 1:  # one row: HyperSpy removed the navigation axis
        data = data[None, :]
    if positions is not None:
        data = data[:, positions]
    return np.asarray(data, dtype=float)


_STACK_ADVICE = (
    "Join tables with `a.concatenate(b, ...)` (rows of `a`, then of each other "
    "table; columns matched by name, image grid and units checked), or find the "
    "atoms on an image stack (one table with a `frame` column)."
)


def _finite_positions(table, what):
    """Refuse NaN/infinite positions (kd-trees and markers cannot place them)."""
    bad = ~(np.isfinite(table.get_column("x")) & np.isfinite(table.get_column("y")))
    if bad.any():
        raise ValueError(
            f"{what}: {int(bad.sum())} atom position(s) are NaN or infinite (first at "
            f"index {int(np.argmax(bad))}); drop them first, e.g. with "
            "`atoms.select(np.isfinite(atoms.get_column('x')))`."
        )


def _columns_by_name(table, columns, units, grid, navigation, name):
    """The rows of ``table`` (the argument ``name``) with the given columns in
    order, after checking its units, image grid and stack navigation against
    the table it is joined to (for :meth:`AtomPositions.concatenate`)."""
    try:  # the table's own checks (hs.stack, layout), named
        have, have_units = table.columns, table.units
        have_grid, have_navigation = table.grid, table.navigation
        data = table._table()
    except ValueError as e:
        raise ValueError(f"`{name}`: {e}") from None
    missing = [c for c in columns if c not in have]
    extra = [c for c in have if c not in columns]
    if missing or extra:
        full = list(table.metadata.get_item(f"{_KEY}.columns", []))
        sliced = [c for c in missing if c in full]
        parts = []
        if missing:
            note = f" ({sliced} left out by an `isig` slice)" if sliced else ""
            parts.append(f"lacks the column(s) {missing}{note}")
        if extra:
            parts.append(f"has column(s) {extra} that this table lacks")
        raise ValueError(
            f"`{name}` {' and '.join(parts)}; tables are joined column by column "
            f"(by name) and need the same columns: this table has {columns}, "
            f"`{name}` has {have}. Add the columns with `add_columns` or leave them "
            "out of both with `isig`."
        )
    for c in columns:
        if have_units[c] != units[c]:
            raise ValueError(
                f"`{name}` has column {c!r} in {have_units[c] or 'no units'!r} but "
                f"this table has it in {units[c] or 'no units'!r}: lengths are "
                "never converted between units (a silent factor of 10 is the worst "
                "kind of wrong answer). Find both tables on images in the same units "
                "(e.g. convert an image's axes with `axes_manager.convert_units`)."
            )
    _check_same_table_grid(have_grid, grid, name)
    _check_same_navigation(have_navigation, navigation, name)
    return data[:, [have.index(c) for c in columns]]


def _check_same_table_grid(other, grid, name):
    """Refuse a table (``name``) from another image grid than ``grid``."""
    for k in ("x", "y"):
        go, gs = other[k], grid[k]
        same = (
            str(go.get("units", "")) == str(gs.get("units", ""))
            and int(go["size"]) == int(gs["size"])
            and np.isclose(float(go["scale"]), float(gs["scale"]), rtol=1e-9, atol=0)
            and np.isclose(
                float(go["offset"]),
                float(gs["offset"]),
                rtol=1e-9,
                atol=1e-9 * abs(float(gs["scale"])),
            )
        )
        if not same:
            raise ValueError(
                f"`{name}` comes from another image grid ({k}: size {go['size']}, "
                f"scale {float(go['scale']):g} {go.get('units', '')}, offset "
                f"{float(go['offset']):g}) than this table ({k}: size {gs['size']}, "
                f"scale {float(gs['scale']):g} {gs.get('units', '')}, offset "
                f"{float(gs['offset']):g}): its positions would be drawn and turned "
                "into pixels on the wrong grid. Join only tables of the same image "
                "(for several images, find the atoms on an image stack); lengths "
                "are never converted between units."
            )


def _check_same_navigation(other, navigation, name):
    """Refuse a table (``name``) from another image stack than ``navigation``."""

    def key(axes):
        out = []
        for d in axes:
            row = []
            for k in ("name", "size", "scale", "offset", "units", "axis"):
                v = d.get(k)
                if isinstance(v, (list, tuple, np.ndarray)):
                    v = tuple(np.round(np.asarray(v, dtype=float), 12).tolist())
                elif isinstance(v, (float, np.floating)):
                    v = round(float(v), 12)
                elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                    v = int(v)
                row.append(v)
            out.append(tuple(row))
        return out

    if key(other) != key(navigation):

        def show(axes):
            if not axes:
                return "a single image"
            return "a stack of " + " x ".join(
                f"{d.get('size')} ({d.get('name')})" for d in axes
            )

        raise ValueError(
            f"`{name}` comes from {show(other)} but this table from "
            f"{show(navigation)} (metadata.AtomPositions.navigation differs): "
            "their `frame` columns would not mean the same frames. Join only tables "
            "of the same image or image stack."
        )


def _colormap(cmap):
    """A Matplotlib colormap from its name (or itself), else a clear error."""
    from matplotlib import colormaps
    from matplotlib.colors import Colormap

    if isinstance(cmap, Colormap):
        return cmap
    if not isinstance(cmap, str):
        raise TypeError(
            f"`cmap` must be a Matplotlib colormap or its name, got {cmap!r:.60}."
        )
    if cmap not in colormaps:
        raise ValueError(f"Unknown `cmap` {cmap!r}; use a Matplotlib colormap name.")
    return colormaps[cmap]


#: Largest marker size per ``units`` of HyperSpy's markers: 10 times the
#: image in data units (``"x"``, ``"y"``, ``"xy"``; set from the grid), 10
#: axes in ``"width"``/``"height"``, 100 inches on the display. Larger sizes
#: are typos (``size=1e12`` made Matplotlib draw for minutes).
_MAX_MARKER_SIZE = {
    "points": 7200.0,
    "inches": 100.0,
    "dots": 30000.0,
    "width": 10.0,
    "height": 10.0,
}


def _check_marker_size(size, units, grid):
    """``size`` as a positive marker size no larger than 10 times the image."""
    size = check_number(size, "size", "a positive marker size")
    if not np.isfinite(size) or size <= 0:
        raise ValueError(f"`size` must be a positive marker size, got {size}.")
    if units in ("x", "y", "xy"):
        extent = max(abs(g["scale"]) * g["size"] for g in (grid["x"], grid["y"]))
        limit, what = 10 * extent, f"10 times the image ({extent:.4g} wide)"
    elif isinstance(units, str) and units in _MAX_MARKER_SIZE:
        limit = _MAX_MARKER_SIZE[units]
        what = (
            "100 inches on the display"
            if units in ("points", "inches", "dots")
            else "10 axes"
        )
    else:
        return size  # other units: HyperSpy's markers check them
    if size > limit:
        raise ValueError(
            f"`size` = {size:g} ({units}) is larger than {what}: at most {limit:.4g}; "
            "a marker that large covers the image and takes minutes to draw."
        )
    return size


def _check_statistic(statistic):
    """Refuse an unknown ``statistic`` of the per-frame statistics up front."""
    if not isinstance(statistic, str) or statistic not in frames._FRAME_STATISTICS:
        raise ValueError(
            f"Unknown `statistic` {statistic!r:.60}; choose from "
            f"{frames._FRAME_STATISTICS}."
        )
    return statistic


def _is_signal(value):
    """A HyperSpy signal (its data is the value), without importing HyperSpy's
    private base class."""
    return hasattr(value, "axes_manager") and hasattr(value, "data")


def _plain(d):
    """Settings as values HyperSpy can save (no None, arrays as lists)."""
    out = {}
    for k, v in d.items():
        if v is None:
            v = "None"
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, (list, tuple)):
            v = [str(e) if not isinstance(e, (int, float, str)) else e for e in v]
        elif not isinstance(v, (int, float, str, bool, np.number)):
            v = str(v)
        out[k] = v
    return out


class AtomPositions(Signal1D):
    """One row per atom: calibrated positions and descriptors as columns.

    Made by :meth:`AtomicImage.find_atoms` and :meth:`AtomicImage.refine_atoms`.
    See the module docstring for the data model.

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> img = synthetic_lattice(shape=(128, 128), seed=0)
    >>> atoms = img.find_atoms()
    >>> atoms.columns[:2]
    ['x', 'y']
    """

    _signal_type = "atom_positions"
    _signal_dimension = 1
    _lazy = False
    #: What ``hs.stack`` keeps of its first input only (see
    #: :func:`_check_not_stacked`), and what to do instead.
    _stack_kept = "column names, units and image grid"
    _stack_advice = _STACK_ADVICE

    # ---------------------------------------------------------------- access
    def _column_positions(self):
        """Index in ``metadata.AtomPositions.columns`` of each signal position."""
        names = list(self.metadata.get_item(f"{_KEY}.columns", []))
        return _name_positions(self, len(names), f"metadata.{_KEY}.columns")

    @property
    def columns(self):
        """Column names, in order.

        They follow the signal axis: after ``atoms.isig[2:5]`` they are the
        names of columns 2 to 4 of the full list in
        ``metadata.AtomPositions.columns``.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> atoms.isig[1:3].columns
        ['y', 'score']
        """
        names = list(self.metadata.get_item(f"{_KEY}.columns", []))
        return [str(names[i]) for i in self._column_positions()]

    @property
    def units(self):
        """Mapping of column name to unit.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> atoms.units["x"]
        'nm'
        """
        names = list(self.metadata.get_item(f"{_KEY}.columns", []))
        units = list(self.metadata.get_item(f"{_KEY}.units", []))
        units += [""] * (len(names) - len(units))
        return {str(names[i]): str(units[i]) for i in self._column_positions()}

    @property
    def grid(self):
        """Calibration of the image the atoms come from (dictionary)."""
        _check_not_stacked(self)
        g = self.metadata.get_item(f"{_KEY}.grid")
        if g is None:
            raise ValueError(
                "This table has no image grid in metadata.AtomPositions.grid; it "
                "was not made by hyperspy_localcryst."
            )
        return g.as_dictionary() if hasattr(g, "as_dictionary") else dict(g)

    @property
    def n_atoms(self):
        """Number of atoms (rows); 1 for a single row (``atoms.inav[k]``).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> atoms.inav[3].n_atoms
        1
        """
        return _check_rows(self, _STACK_ADVICE)

    def _table(self, positions=None):
        """The table as a 2D array ``(n_atoms, n_columns)``, single rows included.

        Every access to the data goes through here: it refuses signals made
        by ``hs.stack`` and layouts that are not one row per atom (a new
        navigation axis, transposed tables).
        """
        _check_rows(self, _STACK_ADVICE)
        return _rows(self, positions)

    def get_column(self, name):
        """Values of one column as a numpy array.

        Parameters
        ----------
        name : str
            Column name, one of :attr:`columns`.

        Returns
        -------
        numpy.ndarray

        Raises
        ------
        ValueError
            For a name that is not one of :attr:`columns` (the message names
            the argument and lists the columns).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> atoms.get_column("x").shape == (atoms.n_atoms,)
        True
        """
        return self._values(name, "name")

    def _values(self, name, argument):
        """Values of column ``name``, given as the argument ``argument``."""
        return self._table([self._column_position(name, argument)])[:, 0]

    def _column_position(self, name, argument):
        """Signal position of column ``name``, or an error naming ``argument``."""
        cols = self.columns
        if not isinstance(name, str) or name not in cols:
            sliced = ""
            if isinstance(name, str) and name in list(
                self.metadata.get_item(f"{_KEY}.columns", [])
            ):
                sliced = f" ({name!r} was left out by an `isig` slice)"
            kind = "" if isinstance(name, str) else " (column names are strings)"
            raise ValueError(
                f"Unknown column {name!r:.60} for `{argument}`{kind}; this table has "
                f"{cols}{sliced}."
            )
        return cols.index(name)

    def get_pixel_positions(self):
        """Positions in pixels of the source image (x = column, y = row).

        Returns
        -------
        x, y : numpy.ndarray

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> x_px, y_px = atoms.get_pixel_positions()
        >>> bool((x_px >= -0.5).all() and (x_px <= 127.5).all())
        True
        """
        return to_pixels(self.grid, self.get_column("x"), self.get_column("y"))

    # ------------------------------------------------------------- editing
    def add_columns(self, columns, units=None):
        """A new table with extra (or replaced) columns.

        Parameters
        ----------
        columns : dict of str to array_like
            One value per atom for each new column.
        units : dict of str to str, optional
            Units of the new columns.

        Returns
        -------
        AtomPositions

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> atoms.add_columns({"flag": np.ones(atoms.n_atoms)}).columns[-1]
        'flag'
        """
        if not isinstance(columns, dict):
            raise TypeError(
                "`columns` must be a dict of column name to values, got "
                f"{type(columns).__name__}."
            )
        if units is not None and not isinstance(units, dict):
            raise TypeError(
                f"`units` must be a dict of column name to unit, got {units!r:.60}."
            )
        units = units or {}
        for name, unit in units.items():
            if not isinstance(unit, str):
                raise TypeError(
                    f"`units` must map column names to unit strings; {name!r} has "
                    f"{unit!r:.40}."
                )
        old = self.columns
        old_units = self.units
        values = {c: self.get_column(c) for c in old}
        new_units = dict(old_units)
        for name, v in columns.items():
            if not isinstance(name, str) or not name:
                raise TypeError(
                    f"Column names must be non-empty strings, got {name!r:.40} (a key "
                    "of `columns`)."
                )
            try:
                v = check_array(v, "columns").ravel()
            except TypeError:
                raise TypeError(
                    f"Column {name!r} must hold numbers (`columns` maps each name to "
                    f"one real number per atom), got {v!r:.40}."
                ) from None
            if v.shape != (self.n_atoms,):
                raise ValueError(
                    f"Column {name!r} has {v.size} values for {self.n_atoms} atoms "
                    "(`columns` needs one value per atom)."
                )
            values[name] = v
            new_units[name] = units.get(name, old_units.get(name, ""))
        return self._derive(values, new_units)

    def select(self, mask):
        """A new table with the atoms where ``mask`` is true (or at indices).

        Parameters
        ----------
        mask : array_like of bool or int
            Boolean mask over atoms, or atom indices.

        Returns
        -------
        AtomPositions

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> atoms.select(atoms.get_column("x") < 0.5).n_atoms < atoms.n_atoms
        True
        """
        got = (
            f"an array of shape {mask.shape} and dtype {mask.dtype}"
            if isinstance(mask, np.ndarray)
            else f"{mask!r:.80}"
        )
        bad = TypeError(
            "`mask` must be a boolean mask over the atoms or a 1D array of atom "
            f"indices, got {got}."
        )
        if mask is None or isinstance(mask, (str, bytes, dict, set, frozenset)):
            raise bad
        try:
            idx = np.asarray(mask.data if _is_signal(mask) else mask)
        except (TypeError, ValueError):  # ragged sequences
            raise bad from None
        if idx.size == 0 and idx.dtype != bool:
            idx = idx.astype(np.int64)
        if idx.dtype.kind not in "biu" or idx.ndim != 1:
            raise bad
        if idx.dtype == bool and idx.shape != (self.n_atoms,):
            raise ValueError(f"`mask` has {idx.size} entries for {self.n_atoms} atoms.")
        if (
            idx.dtype != bool
            and idx.size
            and (idx.min() < -self.n_atoms or idx.max() >= self.n_atoms)
        ):
            raise ValueError(
                f"`mask` has atom indices outside 0..{self.n_atoms - 1}: "
                f"{idx.min()}..{idx.max()}."
            )
        if (idx.dtype == bool and not idx.any()) or idx.size == 0:
            raise ValueError("`mask` selects no atom; a table needs at least one.")
        values = {c: self.get_column(c)[idx] for c in self.columns}
        return self._derive(values, self.units)

    def _derive(self, values, units):
        s = make_atom_positions(
            values,
            units,
            self.grid,
            navigation=self.metadata.get_item(f"{_KEY}.navigation"),
            title=self.metadata.General.title,
        )
        for key in ("settings", "failed_frames", "failed_reasons"):
            value = self.metadata.get_item(f"{_KEY}.{key}")
            if value is not None:
                s.metadata.set_item(f"{_KEY}.{key}", value)
        orig = self.metadata.get_item("Source")
        if orig is not None:
            s.metadata.set_item("Source", orig)
        return s

    def concatenate(self, *others):
        """One table with the rows of this table, then those of each other.

        The way to join tables (``hs.stack`` of tables is refused: it keeps
        only the first table's column names, units and grid). Every table
        must come from the same image grid (size, scale, offset and units of
        ``x`` and ``y``), the same stack navigation (if any), and have the
        same set of columns with the same units. The other tables' columns
        are taken by name, so ``isig``-sliced or reordered tables line up;
        the result has this table's column order, grid, navigation,
        settings and ``failed_frames``. Lengths are never converted: a table
        in nm and one in Å are refused.

        The positions stay those of the one image grid: join tables of the
        same image (parts of a table, atoms found separately, e.g. one
        sublattice each) or of the same image stack. Tables of different
        images would put their atoms on top of each other; for several
        images, stack the images and find the atoms on the stack.

        Parameters
        ----------
        *others : AtomPositions
            Tables whose rows follow this table's, in order.

        Returns
        -------
        AtomPositions
            ``n_atoms`` = the sum of the tables' (a copy of this table when
            no other is given).

        Raises
        ------
        TypeError
            For an argument that is not an :class:`AtomPositions`.
        ValueError
            Naming the argument (``others[i]``): another image grid or stack
            navigation, a column missing or extra (by name), a column in
            other units; or for a signal made by ``hs.stack``.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> left = atoms.get_column("x") < 0.6
        >>> a, b = atoms.select(left), atoms.select(~left)
        >>> both = a.concatenate(b.isig[::-1])  # columns taken by name
        >>> both.n_atoms == atoms.n_atoms, both.columns == atoms.columns
        (True, True)
        >>> x = np.concatenate([a.get_column("x"), b.get_column("x")])
        >>> bool((both.get_column("x") == x).all())
        True
        """
        columns = self.columns
        units = self.units
        grid = self.grid
        navigation = self.navigation
        parts = [self._table()]
        for i, other in enumerate(others):
            name = f"others[{i}]"
            if not isinstance(other, AtomPositions):
                raise TypeError(
                    f"`{name}` must be an AtomPositions table, got "
                    f"{type(other).__name__}."
                )
            parts.append(
                _columns_by_name(other, columns, units, grid, navigation, name)
            )
        data = np.concatenate(parts, axis=0)
        values = {c: data[:, j] for j, c in enumerate(columns)}
        return self._derive(values, units)

    def label_sublattices(
        self, n_sublattices=2, column=None, seed=0, method="structure"
    ):
        """Label atom types (sublattices), 0 = brightest.

        Parameters
        ----------
        n_sublattices : int, None or "auto", default 2
            Number of atom types. ``None``/``"auto"`` (structure only): one
            type per site of the cell found.
        column : str, optional
            Intensity column, e.g. ``"amplitude"`` or ``"intensity"`` after
            refinement, ``"peak"`` after finding. Default: the first of
            ``"amplitude"``, ``"intensity"``, ``"peak"`` in the table.
        seed : int
            Random state of the mixture fit (``method="intensity"``, and the
            structure method's fallback), for reproducible labels.
        method : {"structure", "intensity"}, default "structure"
            ``"structure"``: the sites of the local cell (atoms linked by
            the lattice translations, found from the positions and the
            locally normalised intensity), merged by mean intensity
            (:func:`hyperspy_localcryst.numerics.sublattices.label_sublattices`);
            slow gradients of thickness or height do not change the labels.
            When the cell has fewer sites than ``n_sublattices``, a site is
            split by a significant order within it (ABF of SrTiO3 [001]:
            Sr and Ti-O apart, on the true cell; the sentence is recorded
            as ``split``); failing that, the atoms are split by locally
            normalised intensity, with a warning.
            ``"intensity"``: a 1D Gaussian mixture of the column's values
            over the whole image (the former behaviour).

        Returns
        -------
        AtomPositions
            With a ``sublattice`` column: 0 = brightest type. An atom
            without a finite intensity (a failed fit) gets the label of its
            site with the structure method, NaN otherwise.
            ``metadata.AtomPositions.settings.sublattices`` records the
            method, the column and, for the structure method, the cell
            vectors (``a1``, ``a2``, calibrated units; one row per frame of
            a stack), the number of sites and their fractional offsets.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> img = synthetic_lattice(shape=(128, 160), lattice="perovskite",
        ...                         sublattice_peaks=(200, 80), seed=0)
        >>> atoms = img.find_atoms().label_sublattices(2, column="peak")
        >>> sorted(set(atoms.get_column("sublattice").tolist()))
        [0.0, 1.0]
        >>> atoms.metadata.AtomPositions.settings.sublattices.method
        'structure'
        """
        from ..numerics import sublattices as sl
        from ..numerics.finding import label_by_intensity

        if not isinstance(method, str) or method not in ("structure", "intensity"):
            raise ValueError(
                f"`method` must be 'structure' or 'intensity', got {method!r:.60}."
            )
        auto = n_sublattices is None or (
            isinstance(n_sublattices, str) and n_sublattices == "auto"
        )
        if auto and method == "intensity":
            raise ValueError(
                "`n_sublattices` = 'auto' needs method='structure'; give a "
                "number of sublattices for method='intensity'."
            )
        if not auto:
            n_sublattices = check_integer(n_sublattices, "n_sublattices", minimum=1)
        if seed is not None:
            seed = check_integer(seed, "seed", minimum=0, maximum=2**32 - 1)
        if column is None:
            have = [c for c in ("amplitude", "intensity", "peak") if c in self.columns]
            if not have:
                raise ValueError(
                    "No intensity column ('amplitude', 'intensity' or 'peak') in "
                    f"this table ({self.columns}); give one as `column`."
                )
            column = have[0]
        v = self._values(column, "column")
        good = np.isfinite(v)
        lab = np.full(self.n_atoms, np.nan)
        check_n_sublattices(
            1 if auto else n_sublattices,
            int(good.sum()),
            f"atoms with a finite {column!r}",
        )
        if not good.all():
            warnings.warn(
                f"{int((~good).sum())} atom(s) have no finite {column!r}; their "
                "sublattice is "
                + (
                    "NaN."
                    if method == "intensity"
                    else "that of their site (NaN if the structure is not used)."
                ),
                stacklevel=2,
            )
        record = {"method": method, "column": column}
        if method == "intensity":
            lab[good] = label_by_intensity(v[good], n_sublattices, seed=seed)
        else:
            x, y = self.get_pixel_positions()
            frames = self.get_frames()
            g = self.grid
            sx, sy = g["x"]["scale"], g["y"]["scale"]
            per_frame = []
            for f in np.unique(frames[good]):
                sel = np.flatnonzero(frames == f)
                if np.isfinite(v[sel]).sum() < (1 if auto else n_sublattices):
                    continue
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    labels, info = sl.label_sublattices(
                        x[sel], y[sel], v[sel], "auto" if auto else n_sublattices
                    )
                for w in caught:
                    warnings.warn(
                        (f"Frame {int(f)}: " if self.n_frames > 1 else "")
                        + str(w.message),
                        w.category,
                        stacklevel=2,
                    )
                lab[sel] = np.where(labels >= 0, labels, np.nan)
                per_frame.append(
                    {
                        "frame": int(f),
                        "method": info["method"],
                        "a1": [float(info["a1"][0] * sx), float(info["a1"][1] * sy)],
                        "a2": [float(info["a2"][0] * sx), float(info["a2"][1] * sy)],
                        "n_sites": int(info.get("n_sites", 0)),
                        "site_offsets": np.asarray(
                            info.get("site_offsets", np.empty((0, 2))), float
                        ).tolist(),
                        "site_label": np.asarray(
                            info.get("site_label", []), int
                        ).tolist(),
                        "split": info.get("split", ""),
                    }
                )
            if per_frame:
                one = len(per_frame) == 1

                def field(name, dtype=float):
                    vals = [np.asarray(p[name], dtype) for p in per_frame]
                    return vals[0] if one else np.array(vals)

                record.update(
                    units=g["x"].get("units", ""),
                    a1=field("a1"),
                    a2=field("a2"),
                    n_sites=int(per_frame[0]["n_sites"])
                    if one
                    else field("n_sites", int),
                    labelled_by=per_frame[0]["method"]
                    if one
                    else [p["method"] for p in per_frame],
                )
                if one:
                    record["site_offsets"] = np.asarray(
                        per_frame[0]["site_offsets"], float
                    ).reshape(-1, 2)
                    record["site_label"] = np.asarray(per_frame[0]["site_label"], int)
                    if per_frame[0]["split"]:
                        record["split"] = per_frame[0]["split"]
                else:
                    record["frames"] = np.array([p["frame"] for p in per_frame])
        out = self.add_columns({"sublattice": lab}, {"sublattice": ""})
        settings = out.metadata.get_item(f"{_KEY}.settings")
        settings = settings.as_dictionary() if settings is not None else {}
        settings["sublattices"] = _plain(record)  # a copy: self keeps its own
        out.metadata.set_item(f"{_KEY}.settings", settings)
        return out

    # ---------------------------------------------------------------- stacks
    @property
    def navigation(self):
        """Navigation axes (dicts) of the stack the atoms come from; [] if none."""
        _check_not_stacked(self)
        return _stack.navigation_dicts(self.metadata.get_item(f"{_KEY}.navigation"))

    @property
    def n_frames(self):
        """Number of frames of the source stack (1 for a single image)."""
        return _stack.n_frames(self.navigation)

    def get_frames(self):
        """Flat frame index of every atom (zeros for a single image).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> int(atoms.get_frames().max())
        0
        """
        if "frame" in self.columns:
            return self.get_column("frame").astype(np.int64)
        self._not_sliced_away("frame", "Per-frame methods")
        return np.zeros(self.n_atoms, np.int64)

    def _not_sliced_away(self, name, what):
        """Refuse when column ``name`` exists but an ``isig`` slice left it out."""
        if name in list(self.metadata.get_item(f"{_KEY}.columns", [])):
            raise ValueError(
                f"{what} need the {name!r} column, which an `isig` slice left out of "
                f"this table (columns {self.columns}); keep it in the slice."
            )

    def get_frame(self, index):
        """The table of one frame of a stack.

        Parameters
        ----------
        index : int or tuple of int
            Flat frame index, or the navigation indices (in HyperSpy's
            ``inav`` order: fastest axis first).

        Returns
        -------
        AtomPositions
            The frame's atoms (still with the ``frame`` column).

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> stack = hs.stack([synthetic_lattice((96, 96), seed=k) for k in (0, 1)])
        >>> atoms = stack.find_atoms(show_progressbar=False)
        >>> set(atoms.get_frame(1).get_column("frame").tolist())
        {1.0}
        """
        k = self._flat_frame(index, "index")
        sel = np.flatnonzero(self.get_frames() == k)
        if len(sel) == 0:
            raise ValueError(f"Frame {k} has no atoms.")
        return self.select(sel)

    def _flat_frame(self, index, name):
        """Flat frame index of ``index`` (flat, or a tuple of navigation
        indices in ``inav`` order), checked, for the argument ``name``."""
        n = self.n_frames
        if isinstance(index, tuple):
            shape = _stack.navigation_shape(self.navigation)
            if len(index) != len(shape):
                raise ValueError(
                    f"`{name}` needs {len(shape)} navigation indices, got {index}."
                )
            # inav order (fastest first) -> array order (slowest first)
            idx = tuple(check_integer(i, name) for i in reversed(index))
            if any(not 0 <= i < n for i, n in zip(idx, shape)):
                raise ValueError(
                    f"Frame `{name}` {index} is outside the navigation shape "
                    f"{tuple(reversed(shape))} (indices from 0)."
                )
            return int(np.ravel_multi_index(idx, shape))
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(
                f"`{name}` must be an integer (flat frame index) or a tuple of "
                f"navigation indices, got {index!r:.60}."
            )
        k = int(index)
        if not 0 <= k < n:
            raise ValueError(
                f"Frame `{name}` {k} is outside 0..{n - 1} (the flat frame indices of "
                f"this table's {n} frame(s))."
            )
        return k

    def get_frame_statistics(self, columns=None, statistic="mean"):
        """A statistic of columns in every frame, on the stack's navigation axes.

        Parameters
        ----------
        columns : list of str, optional
            Columns (default: every column except ``frame`` and the
            navigation coordinates).
        statistic : {"mean", "median", "std", "min", "max", "count"}
            NaN values are ignored; frames without atoms give NaN (0 for
            ``"count"``).

        Returns
        -------
        hyperspy.api.signals.Signal1D
            Navigation axes of the stack, signal axis ``column``; the column
            names are in ``metadata.Signal.names``.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> stack = hs.stack([synthetic_lattice((96, 96), seed=k) for k in (0, 1)])
        >>> atoms = stack.find_atoms(show_progressbar=False)
        >>> atoms.get_frame_statistics(["peak"], "count").data.ravel().tolist()
        [25.0, 25.0]
        """
        return self._frame_statistics(columns, statistic, "columns")

    def _frame_statistics(self, columns, statistic, argument):
        """:meth:`get_frame_statistics`, the columns given as ``argument``."""
        _check_statistic(statistic)
        skip = {"frame"} | {str(d.get("name")) for d in self.navigation}
        if columns is None:
            columns = [c for c in self.columns if c not in skip]
        elif isinstance(columns, str):
            columns = [columns]
        elif not isinstance(columns, (list, tuple)):
            raise TypeError(
                f"`{argument}` must be a column name or a list of them, got "
                f"{columns!r:.60}."
            )
        if len(columns) == 0:
            raise ValueError(f"`{argument}` is empty: name at least one column.")
        positions = [self._column_position(c, argument) for c in columns]
        columns = list(columns)
        values = self._table(positions)
        out = frames.per_frame(self.get_frames(), values, self.n_frames, statistic)
        return _stack.stack_signal(
            out,
            self.navigation,
            columns,
            axis_name="column",
            title=f"{statistic} per frame of {self.metadata.General.title}",
        )

    # -------------------------------------------------------------- tracking
    def _nn_distance(self):
        """Median nearest-neighbour distance within frames (0 if no pair)."""
        from scipy.spatial import cKDTree

        xy = np.column_stack([self.get_column("x"), self.get_column("y")])
        d = []
        for rows in frames.frame_groups(self.get_frames(), self.n_frames):
            p = xy[rows]
            if len(p) > 1:
                d.append(kd_query(cKDTree(p), p, k=2)[0][:, 1])
        return float(np.median(np.concatenate(d))) if d else 0.0

    def link_frames(self, max_displacement=None, memory=0, shifts="auto"):
        """Link each atom to its successor in the next frame (tracks).

        One-to-one links minimising the squared displacements, solved
        exactly (see :func:`hyperspy_localcryst.numerics.tracking.link_frames`).

        Parameters
        ----------
        max_displacement : float, optional
            Largest move between frames, calibrated units, after the drift is
            removed. Default 0.3 × the median nearest-neighbour distance.
        memory : int
            Frames an atom may be missing and still continue its track.
        shifts : "auto", None, array_like or signal
            Drift of each frame relative to frame 0 (calibrated, shape
            ``(n_frames, 2)``, or the ``(n_frames, 4)`` result of
            :meth:`estimate_drift` or
            :meth:`AtomicImage.estimate_drift`). ``"auto"``: link once with a
            wide search (0.45 × the nearest-neighbour distance), measure the
            drift from those links, link again with it. ``None``: no drift.

        Returns
        -------
        AtomPositions
            With a ``track`` column (0 .. n_tracks - 1).

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> stack = hs.stack([synthetic_lattice((96, 96), seed=k) for k in (0, 1)])
        >>> atoms = stack.find_atoms(show_progressbar=False).link_frames()
        >>> int(atoms.get_column("track").max()) + 1 == atoms.get_frame(0).n_atoms
        True
        """
        from ..numerics import tracking

        scale = abs(float(self.grid["x"]["scale"]))
        if max_displacement is not None:
            md = check_number(max_displacement, "max_displacement", "a length")
            if not np.isfinite(md) or md <= 0:
                raise ValueError(
                    "`max_displacement` must be a positive length, got "
                    f"{max_displacement}."
                )
        if isinstance(memory, (bool, np.bool_)) or not isinstance(
            memory, (int, np.integer)
        ):
            raise ValueError(f"`memory` must be an integer, got {memory!r:.60}.")
        if memory < 0:
            raise ValueError(f"`memory` must be >= 0, got {memory}.")
        sh_px = None
        if isinstance(shifts, str):
            if shifts != "auto":
                raise ValueError(
                    f"`shifts` must be 'auto', None or an array, got {shifts!r}."
                )
        elif shifts is not None:
            sh_px = self._shifts_in_pixels(shifts, scale)
        if max_displacement is not None:  # before the neighbour distances
            self._check_link_memory(md)
        _finite_positions(self, "link_frames")
        nn = self._nn_distance()
        if nn == 0:
            raise ValueError("Tracking needs frames with at least two atoms.")
        if max_displacement is None:
            md = 0.3 * nn
            self._check_link_memory(md)
        xp, yp = self.get_pixel_positions()
        frame = self.get_frames()
        if isinstance(shifts, str):
            wide = tracking.link_frames(xp, yp, frame, 0.45 * nn / scale, memory)
            sh_px, _ = tracking.estimate_shifts(xp, yp, frame, wide, self.n_frames)
            sh_px = np.nan_to_num(sh_px)
        track = tracking.link_frames(xp, yp, frame, md / scale, memory, sh_px)
        out = self.add_columns({"track": track}, {"track": ""})
        settings = dict(_plain({"max_displacement": md, "memory": int(memory)}))
        out.metadata.set_item(f"{_KEY}.tracking", settings)
        return out

    def _shifts_in_pixels(self, shifts, scale):
        """``shifts`` (array or drift signal, calibrated) as ``(n_frames, 2)``
        pixels, checked."""
        if _is_signal(shifts) and list(shifts.metadata.get_item("Signal.names", []))[
            :2
        ] == ["dx", "dy"]:
            check_units(
                shifts.metadata.get_item("Signal.quantity"),
                self.grid["x"]["units"],
                "shifts",
            )
        arr = check_array(shifts.data if _is_signal(shifts) else shifts, "shifts")
        n = self.n_frames
        if arr.ndim < 2 or arr.shape[-1] < 2 or arr.size != n * arr.shape[-1]:
            raise ValueError(
                f"`shifts` must have shape (n_frames, 2) = ({n}, 2) (one (dx, dy) per "
                f"frame, calibrated), got shape {arr.shape}."
            )
        # per axis, signed: the inverse of the drift's pixel -> calibrated
        axes = [float(self.grid[k]["scale"]) for k in ("x", "y")]
        return arr.reshape(n, -1)[:, :2] / axes

    def _check_link_memory(self, md):
        """Refuse a ``max_displacement`` whose candidate links would not fit.

        Every atom is a candidate for every atom of the next frame within
        ``md``: about ``n × min(n, n × π md² / area)`` pairs per frame pair
        at the table's density (``n`` atoms per frame, ``area`` the image's),
        each held in a few arrays (about 64 bytes).
        """
        g = self.grid
        area = abs(g["x"]["scale"] * g["y"]["scale"]) * g["x"]["size"] * g["y"]["size"]
        n = self.n_atoms / max(self.n_frames, 1)
        pairs = n * min(n, n * np.pi * md**2 / area)
        check_memory(
            64.0 * pairs,
            "max_displacement",
            md,
            f"about {pairs:.3g} candidate links per pair of frames",
            advice="give a `max_displacement` below the atom spacing (the default "
            "is 0.3 times the nearest-neighbour distance)",
        )

    def _tracks(self):
        if "track" not in self.columns:
            self._not_sliced_away("track", "Tracking methods")
            raise ValueError("No `track` column: run `link_frames` first.")
        return self.get_column("track").astype(np.int64)

    def estimate_drift(self):
        """Drift of every frame relative to frame 0, from the linked atoms.

        The median displacement of the tracks each frame shares with frame 0
        (see :func:`hyperspy_localcryst.numerics.tracking.estimate_shifts`).

        Returns
        -------
        hyperspy.api.signals.Signal1D
            On the stack's navigation axes; values ``dx``, ``dy``,
            ``dx_err``, ``dy_err`` in calibrated units.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> stack = hs.stack([synthetic_lattice((96, 96), seed=k) for k in (0, 1)])
        >>> atoms = stack.find_atoms(show_progressbar=False).link_frames()
        >>> atoms.estimate_drift().data.shape
        (2, 4)
        """
        from ..numerics import tracking

        xp, yp = self.get_pixel_positions()
        sh, err = tracking.estimate_shifts(
            xp, yp, self.get_frames(), self._tracks(), self.n_frames
        )
        # per axis: a flipped axis (negative scale) flips that component of
        # the drift; standard errors are lengths (never negative)
        sx, sy = (float(self.grid[k]["scale"]) for k in ("x", "y"))
        return _stack.stack_signal(
            np.column_stack([sh, err]) * [sx, sy, abs(sx), abs(sy)],
            self.navigation,
            ["dx", "dy", "dx_err", "dy_err"],
            units=self.grid["x"]["units"],
            axis_name="drift",
            title=f"Drift of {self.metadata.General.title}",
        )

    def get_trajectories(self):
        """Position of every track in every frame.

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Navigation axis ``track``; signal axes ``coordinate`` (x, y) and
            ``frame`` (the stack's axis when it has one navigation axis, else
            the flat frame index); calibrated positions, NaN where the track
            has no atom.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> stack = hs.stack([synthetic_lattice((96, 96), seed=k) for k in (0, 1)])
        >>> atoms = stack.find_atoms(show_progressbar=False).link_frames()
        >>> atoms.get_trajectories().axes_manager.signal_shape
        (2, 2)
        """
        from hyperspy.signals import Signal2D

        from ..numerics import tracking

        tx, ty = tracking.trajectories(
            self.get_column("x"),
            self.get_column("y"),
            self.get_frames(),
            self._tracks(),
            self.n_frames,
        )
        nav = self.navigation
        frame_axis = {"size": self.n_frames, "name": "frame", "navigate": False}
        if len(nav) == 1:
            frame_axis.update(
                {
                    k: nav[0][k]
                    for k in ("scale", "offset", "units", "name")
                    if k in nav[0]
                }
            )
        units = self.grid["x"]["units"]
        s = Signal2D(
            np.stack([tx, ty], axis=-1),
            axes=[
                {"size": tx.shape[0], "name": "track", "navigate": True},
                frame_axis,
                {"size": 2, "name": "coordinate", "navigate": False},
            ],
        )
        s.metadata.General.title = f"Trajectories of {self.metadata.General.title}"
        s.metadata.set_item("Signal.quantity", f"Position ({units})")
        return s

    def get_displacements(self, frame_a=0, frame_b=None):
        """Displacement of every tracked atom between two frames.

        Parameters
        ----------
        frame_a, frame_b : int or tuple of int
            Frames (flat index or navigation indices); default frame 0 and
            the last frame.

        Returns
        -------
        AtomPositions
            One row per track present in both frames, at its position in
            ``frame_a``, with ``dx``, ``dy`` (calibrated) and ``track``;
            draw it with :meth:`to_arrows`.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> stack = hs.stack([synthetic_lattice((96, 96), seed=k) for k in (0, 1)])
        >>> atoms = stack.find_atoms(show_progressbar=False).link_frames()
        >>> "dx" in atoms.get_displacements().columns
        True
        """
        from ..numerics import tracking

        a = self._flat_frame(frame_a, "frame_a")
        b = self._flat_frame(
            self.n_frames - 1 if frame_b is None else frame_b, "frame_b"
        )
        d = tracking.displacements(
            self.get_column("x"),
            self.get_column("y"),
            self.get_frames(),
            self._tracks(),
            a,
            b,
        )
        if len(d["x"]) == 0:
            raise ValueError(f"No track is present in both frames {a} and {b}.")
        out = self.select(d["index_a"]).add_columns(
            {"dx": d["dx"], "dy": d["dy"]},
            {"dx": self.units["x"], "dy": self.units["y"]},
        )
        out.metadata.General.title = f"Displacements from frame {a} to {b}"
        return out

    def to_arrows(self, dx="dx", dy="dy", scale=1.0, **kwargs):
        """Arrows from each atom, e.g. displacements, for an image plot.

        Parameters
        ----------
        dx, dy : str
            Columns with the arrow components (calibrated units).
        scale : float
            Arrow length = ``scale`` × the vector (exaggerate small
            displacements with a large value); positive and finite.
        **kwargs
            Passed to :class:`hyperspy.api.plot.markers.Arrows`.

        Returns
        -------
        hyperspy.api.plot.markers.Arrows

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(96, 96), seed=0).find_atoms()
        >>> atoms = atoms.add_columns({"dx": np.ones(atoms.n_atoms),
        ...                            "dy": np.zeros(atoms.n_atoms)})
        >>> type(atoms.to_arrows()).__name__
        'Arrows'
        """
        import hyperspy.api as hs

        u = self._values(dx, "dx")
        v = self._values(dy, "dy")
        scale = check_number(scale, "scale", "a positive number")
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"`scale` must be a positive, finite number, got {scale}.")
        _finite_positions(self, "to_arrows")
        offsets = np.column_stack([self.get_column("x"), self.get_column("y")])
        kwargs.setdefault("color", "yellow")
        return hs.plot.markers.Arrows(offsets, u * scale, v * scale, **kwargs)

    # -------------------------------------------------------- neighbourhoods
    def get_neighbourhoods(
        self,
        n_neighbours=6,
        metric="distance",
        radius=None,
        exclude_border=True,
        border=None,
        angle_tolerance=10.0,
        distance_tolerance=0.1,
    ):
        """Neighbour vectors of every atom, as a signal for HyperSpy's learning.

        Step 4 of local crystallography (Belianinov et al. 2015): each centre
        atom is described by the vectors to its ``k`` nearest neighbours (the
        next shell fills in when ``k`` exceeds the first), in calibrated
        units. Atoms near the image edge are not centres but remain
        neighbours. In image stacks (a ``frame`` column), neighbours are
        searched within each frame.

        Parameters
        ----------
        n_neighbours : int or None
            ``k``. Counts that close a shell give the same vector for every
            atom of a perfect lattice: square 4, 8, 12, 20; hexagonal 6, 12,
            18; honeycomb 3, 9, 12. With ``radius`` it caps the count
            (``None``: every neighbour within ``radius``).
        metric : {"distance", "angle"}
            ``"distance"``: sorted by distance, equal distances (within
            ``distance_tolerance``) clockwise by angle from a direction common
            to all atoms. ``"angle"``: rotation removed (first shell turned so
            its anchor neighbour points along +x), then clockwise, collinear
            neighbours (within ``angle_tolerance``) by distance. Rotation
            invariant.
        radius : float, optional
            Only neighbours within this calibrated distance; the count varies
            per atom and missing vectors are NaN (see
            :meth:`AtomNeighbourhoods.fill_missing`).
        exclude_border : bool
            Exclude atoms near the edge from the centres.
        border : float, optional
            Calibrated width of the excluded border. Default: per atom, its
            farthest neighbour's distance plus half a nearest-neighbour
            distance, so no neighbour can be outside the image.
        angle_tolerance : float
            Degrees.
        distance_tolerance : float
            Relative.

        Returns
        -------
        AtomNeighbourhoods

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(256, 256), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4, metric="angle")
        >>> (np.round(np.median(nb.data, axis=0)[:2], 2) + 0.0).tolist()  # first: +x
        [0.2, 0.0]
        """
        return make_neighbourhoods(
            self,
            n_neighbours=n_neighbours,
            metric=metric,
            radius=radius,
            exclude_border=exclude_border,
            border=border,
            angle_tolerance=angle_tolerance,
            distance_tolerance=distance_tolerance,
        )

    # -------------------------------------------------------------- export
    def to_dataframe(self):
        """The table as a :class:`pandas.DataFrame` (one row per atom).

        Units are kept in ``DataFrame.attrs["units"]``.

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> df = synthetic_lattice(shape=(128, 128), seed=0).find_atoms().to_dataframe()
        >>> list(df.columns[:2])
        ['x', 'y']
        """
        import pandas as pd

        df = pd.DataFrame(self._table(), columns=self.columns)
        df.index.name = "atom"
        df.attrs["units"] = self.units
        return df

    def to_csv(self, path, overwrite=False, **kwargs):
        """Write the table to a CSV file whose header carries the units.

        Column headers read ``name [unit]`` (``name`` alone when unitless).

        Parameters
        ----------
        path : str, pathlib.Path or None
            Output file; ``None`` returns the CSV text instead.
        overwrite : bool
            Replace an existing file (by default an existing file is never
            replaced: ``FileExistsError``).
        **kwargs
            Passed to :meth:`pandas.DataFrame.to_csv`.

        Returns
        -------
        str or None
            The CSV text when ``path`` is None.

        Examples
        --------
        >>> import tempfile, os
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> path = os.path.join(tempfile.mkdtemp(), "atoms.csv")
        >>> atoms.to_csv(path)
        >>> open(path).readline().startswith("atom,x [")
        True
        """
        check_bool(overwrite, "overwrite")
        if not (
            path is None
            or isinstance(path, (str, os.PathLike))
            or callable(getattr(path, "write", None))
        ):
            raise ValueError(
                f"Invalid file path {path!r:.60}: `path` must be a file name (str or "
                "pathlib.Path), a writable file object or None."
            )
        if (
            isinstance(path, (str, os.PathLike))  # not a buffer (pandas checks)
            and not overwrite
            and os.path.lexists(path)
        ):
            raise FileExistsError(
                f"{path} exists; `to_csv` replaces a file only with overwrite=True."
            )
        df = self.to_dataframe()
        u = self.units
        df.columns = [f"{c} [{u[c]}]" if u.get(c) else c for c in df.columns]
        return df.to_csv(path, **kwargs)  # path None: the text itself

    # ------------------------------------------------------------ plotting
    def to_markers(self, colour_by=None, cmap="viridis", size=None, **kwargs):
        """Atoms as :class:`hyperspy.api.plot.markers.Points` for an image.

        Parameters
        ----------
        colour_by : str, optional
            Column whose values set the colour (e.g. ``"sublattice"``); a
            single colour when not given.
        cmap : str
            Matplotlib colormap for ``colour_by``.
        size : float, optional
            Marker size in points (or in the ``units`` given in ``kwargs``);
            a positive number no larger than 100 inches on the display (10
            times the image in data units ``"x"``, ``"y"``, ``"xy"``). When
            not given, each marker's diameter is 0.3 times the median
            nearest-neighbour distance of the atoms, in the image's
            calibrated units, so it scales with the field of view and with
            zooming. For a stack the markers are ragged: each frame of the
            image shows its own atoms.
        **kwargs
            Passed to ``Points``.

        Returns
        -------
        hyperspy.api.plot.markers.Points

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> img = synthetic_lattice(shape=(128, 128), seed=0)
        >>> m = img.find_atoms().to_markers()
        >>> type(m).__name__
        'Points'
        """
        import hyperspy.api as hs
        from matplotlib.colors import Normalize

        cm = _colormap(cmap)
        v = None if colour_by is None else self._values(colour_by, "colour_by")
        if size is not None:
            size = _check_marker_size(size, kwargs.get("units", "points"), self.grid)
        _finite_positions(self, "to_markers")
        offsets = np.column_stack([self.get_column("x"), self.get_column("y")])
        if size is None:
            nn = self._nn_distance()  # within frames: a stack's frames overlap
            g = self.grid
            pixel = abs(float(g["x"]["scale"]))
            kwargs.setdefault("units", "x")
            size = 0.3 * nn if nn > 0 else 3 * pixel
        if colour_by is None:
            colors = kwargs.pop("color", "red")
        else:
            finite = v[np.isfinite(v)]
            lo, hi = (finite.min(), finite.max()) if len(finite) else (0.0, 1.0)
            norm = Normalize(lo, hi if hi > lo else lo + 1)
            colors = cm(norm(np.nan_to_num(v, nan=lo)))
        if self.n_frames > 1:
            # a stack: ragged markers that follow the image's navigation
            offsets = self._per_frame_ragged(offsets)
            if colour_by is not None or not isinstance(colors, str):
                colors = self._per_frame_ragged(np.asarray(colors))
        return hs.plot.markers.Points(
            offsets=offsets, sizes=size, color=colors, **kwargs
        )

    def _per_frame_ragged(self, rows):
        """Object array of the stack's navigation shape with each frame's rows."""
        shape = _stack.navigation_shape(self.navigation)
        out = np.empty(shape, dtype=object)
        groups = frames.frame_groups(self.get_frames(), self.n_frames)
        for idx, sel in zip(np.ndindex(*shape), groups):
            out[idx] = rows[sel]
        return out

    # ------------------------------------------------------ spectrum images
    def register_to_spectrum_image(self, si, region=None, rotation=0.0, shift=None):
        """The atoms' positions on a spectrum image's navigation grid.

        The SI (any Signal1D with two navigation axes, e.g. an exspy
        ``EELSSpectrum``) scanned a region of the survey image these atoms
        come from. The region is ``region`` if given, else the one recorded
        in the SI file (DigitalMicrograph's ``Spectrum Image Rect``), else
        the SI's own navigation calibration when it is in the survey's
        units (see :mod:`hyperspy_localcryst.signals.spectra`).

        Parameters
        ----------
        si : hyperspy Signal1D
            Spectrum image ``(x, y | energy)``; its spatial axes may be
            uncalibrated.
        region : (left, top, right, bottom), optional
            Outer edges of the SI's pixels on the survey, in the survey's
            calibrated units, before ``rotation``.
        rotation : float
            Degrees, counter-clockwise as seen on the survey: the SI's scan
            frame is turned by this about the region's centre.
        shift : (float, float), optional
            Calibrated ``(dx, dy)`` added to the region, e.g. the drift from
            :meth:`estimate_si_shift`.

        Returns
        -------
        AtomPositions
            With ``si_x``, ``si_y`` (SI pixels, centres at integers) and
            ``in_si``; the map in ``metadata.AtomPositions.spectrum_image``.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> si = hs.signals.Signal1D(np.zeros((16, 16, 10)))
        >>> r = atoms.register_to_spectrum_image(si, region=(0.2, 0.2, 1.0, 1.0))
        >>> int(r.get_column("in_si").sum())
        16
        """
        from .spectra import register_atoms

        return register_atoms(self, si, region, rotation, shift)

    def get_spectra(
        self,
        si,
        region=None,
        rotation=0.0,
        shift=None,
        cell="voronoi",
        radius=None,
        max_distance=None,
        subsample=None,
        normalise=False,
    ):
        """Spectrum of every atom: the SI summed over the atom's cell.

        Each SI pixel is sampled by ``subsample²`` points; a point belongs to
        its nearest atom (``cell="voronoi"``, all atoms of the table, up to
        ``max_distance``) or to every atom within ``radius``
        (``cell="radius"``), so an SI pixel shared by two cells is split by
        area (:func:`hyperspy_localcryst.numerics.spectra.cell_weights`).

        Parameters
        ----------
        si, region, rotation, shift
            See :meth:`register_to_spectrum_image`.
        cell : {"voronoi", "radius"}
        radius : float, optional
            Calibrated, for ``cell="radius"``.
        max_distance : float, optional
            Calibrated; Voronoi cells end this far from their atom (default
            the median nearest-neighbour distance).
        subsample : int, optional
            Default: sampling points 1/8 of a neighbour distance apart.
        normalise : bool
            Divide each atom's sum by its cell area (in SI pixels): the mean
            spectrum of one SI pixel of the cell.

        Returns
        -------
        hyperspy Signal1D
            Same class as ``si`` (e.g. ``EELSSpectrum``, so that exspy's
            ``remove_background``, ``create_model`` and ``multifit`` run on
            it) and the SI's calibrated energy axis. One row per atom whose
            cell lies (in part) inside the SI, and only those: no NaN rows.
            The navigation axis ``atom`` is non-uniform, its values the
            atoms' row indices in this table, also in
            ``metadata.AtomSpectra.atom_indices``; map a per-row result back
            with ``values[sp.metadata.AtomSpectra.atom_indices]`` (e.g.
            ``self.get_column("x")[idx]``) or select rows by atom index with
            ``sp.inav[float(i)]``. ``metadata.AtomSpectra.area``: cell area
            in SI pixels of each row. An SI that holds no atom's cell is a
            ``ValueError``.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> si = hs.signals.Signal1D(np.ones((16, 16, 10)))
        >>> sp = atoms.get_spectra(si, region=(0.0, 0.0, 0.6, 0.6))
        >>> sp.axes_manager.navigation_axes[0].name
        'atom'
        >>> idx = np.asarray(sp.metadata.AtomSpectra.atom_indices)
        >>> bool((sp.axes_manager["atom"].axis == idx).all())
        True
        >>> x_of_rows = atoms.get_column("x")[idx]  # each row's atom
        """
        from .spectra import atom_spectra

        if cell == "voronoi" and max_distance is None and self.n_atoms < 2:
            raise ValueError(
                "A single atom has no neighbour distance to bound its Voronoi cell; "
                "give `max_distance` (calibrated)."
            )
        return atom_spectra(
            self,
            si,
            region=region,
            rotation=rotation,
            shift=shift,
            cell=cell,
            radius=radius,
            max_distance=max_distance,
            subsample=subsample,
            normalise=normalise,
        )

    def get_class_spectra(self, si, column="sublattice", allow_empty=False, **kwargs):
        """Mean spectrum of each class of atoms (e.g. each sublattice).

        The cell sums of the atoms of a class divided by their total cell
        area: the mean spectrum of one SI pixel of that class's cells.

        Parameters
        ----------
        si : hyperspy Signal1D
            Spectrum image, see :meth:`register_to_spectrum_image`.
        column : str or array_like
            Column of integer labels (NaN or negative: not used), or one
            label per atom.
        allow_empty : bool
            A class with no cell in the SI gives NaN instead of an error.
        **kwargs
            ``region``, ``rotation``, ``shift``, ``cell``, ``radius``,
            ``max_distance``, ``subsample`` as in :meth:`get_spectra`;
            ``names``.

        Returns
        -------
        hyperspy Signal1D
            Navigation axis ``cluster``; ``metadata.ClassSpectra`` has the
            atom counts and areas per class.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> atoms = atoms.add_columns({"half": atoms.get_column("x") > 0.6})
        >>> si = hs.signals.Signal1D(np.ones((16, 16, 10)))
        >>> atoms.get_class_spectra(si, "half", region=(0, 0, 1.2, 1.2)).data.shape
        (2, 10)
        """
        from .spectra import class_spectra

        if isinstance(column, str):
            labels = self._values(column, "column")
        else:
            msg = (
                "`column` must be a column name or one label per atom, got "
                f"{column!r:.60}."
            )
            try:
                labels = check_array(column, "column")
            except TypeError:
                raise TypeError(msg) from None
            if labels.ndim == 0:
                raise TypeError(msg)
            if labels.shape != (self.n_atoms,):
                raise ValueError(
                    f"`column` has {labels.size} labels for {self.n_atoms} atoms "
                    f"(shape {labels.shape}); give one label per atom or a column name."
                )
        return class_spectra(self, si, labels, allow_empty=allow_empty, **kwargs)

    def get_spectral_quantity(
        self, si, edge=None, window=None, background=None, name=None, **kwargs
    ):
        """Per-atom intensity of an edge (energy window) above a power law.

        The atom's cell-mean spectrum (see :meth:`get_spectra` with
        ``normalise=True``) through exspy's own steps
        (:func:`hyperspy_localcryst.signals.spectra.edge_intensity`):
        ``remove_background(signal_range=background,
        background_type="PowerLaw")``, then ``isig[window].integrate1D(-1)``.
        The quantity follows the energy axis: counts per SI pixel for a
        binned axis (exspy's ``EELSSpectrum``: ``integrate1D`` sums), counts
        x energy units per SI pixel for a non-binned one (Simpson's
        integral); the column's units say which.

        Parameters
        ----------
        si : hyperspy Signal1D
        edge : str, optional
            e.g. ``"Ti_L3"``, ``"O_K"``, ``"La_M5"``: onset from exspy's
            database; default ``window`` = onset - 2 eV .. onset + 30 eV
            (clipped to the axis), ``background`` = onset - 50 .. onset - 5
            eV.
        window, background : (float, float), optional
            In the energy axis's units.
        name : str, optional
            Column name (default the edge, or ``window_<start>_<end>``).
        **kwargs
            ``region``, ``rotation``, ``shift``, ``cell``, ``radius``,
            ``max_distance``, ``subsample`` as in :meth:`get_spectra`.

        Returns
        -------
        AtomPositions
            With the new column (NaN for atoms whose cell misses the SI,
            and, with a warning, for those without positive counts in a
            half of ``background``); draw it with
            ``to_markers(colour_by=name)`` or, per centre,
            ``nb.get_map(values)`` like a cluster map.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> si = hs.signals.Signal1D(np.ones((16, 16, 10)))
        >>> t = atoms.get_spectral_quantity(si, window=(2, 5), name="w",
        ...                                 region=(0, 0, 1.2, 1.2))
        >>> float(np.nanmax(t.get_column("w")))  # not binned: integral 2 .. 4
        2.0
        >>> t.units["w"]
        'counts/SI px'
        """
        from .spectra import spectral_quantity

        return spectral_quantity(
            self,
            si,
            edge=edge,
            window=window,
            background=background,
            name=name,
            **kwargs,
        )

    def estimate_si_shift(
        self, survey, haadf, si, region=None, rotation=0.0, search=None
    ):
        """Drift of a spectrum image against the survey, from its HAADF image.

        The image recorded simultaneously with the SI (e.g. HAADF) and the
        survey these atoms come from are resampled on one grid in the SI's
        frame, one survey pixel apart; their normalised cross-correlation
        over shifts of up to ``search`` gives the shift, refined by a
        parabola (:func:`hyperspy_localcryst.numerics.spectra.estimate_si_shift`).
        The same as the function
        :func:`hyperspy_localcryst.signals.spectra.estimate_si_shift` with
        ``atoms=self``.

        Parameters
        ----------
        survey : hyperspy Signal2D
            The survey image these atoms were found in.
        haadf : hyperspy Signal2D or array
            The image recorded with the SI, covering exactly its pixels (any
            integer sub-sampling).
        si : hyperspy Signal1D
            Spectrum image, see :meth:`register_to_spectrum_image`.
        region, rotation
            As in :meth:`register_to_spectrum_image`.
        search : float, optional
            Largest shift, calibrated (default 1.5 SI pixels).

        Returns
        -------
        shift : tuple of float
            Calibrated ``(dx, dy)``; pass it as ``shift=`` to
            :meth:`register_to_spectrum_image`, :meth:`get_spectra` and the
            other spectrum-image methods.
        score : float
            Normalised correlation at the best shift (1: identical images).

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> img = synthetic_lattice(shape=(128, 128), noise=None)
        >>> atoms = img.find_atoms()
        >>> si = hs.signals.Signal1D(np.zeros((10, 10, 4)))
        >>> haadf = img.data[40:90, 32:82]  # 2 px right of the region below
        >>> (dx, dy), score = atoms.estimate_si_shift(
        ...     img, haadf, si, region=(0.295, 0.395, 0.795, 0.895))
        >>> round(dx, 3), round(dy, 3)
        (0.02, 0.0)
        """
        from .spectra import estimate_si_shift

        return estimate_si_shift(
            self, survey, haadf, si, region=region, rotation=rotation, search=search
        )

    def estimate_si_registration(
        self,
        survey,
        haadf,
        si,
        region=None,
        rotation_range=(-180.0, 180.0),
        rotation_step=None,
        search=None,
    ):
        """Rotation and drift of a spectrum image on the survey, from its HAADF.

        For an SI whose scan was turned against the survey's by an angle
        that the files do not record: trial rotations of the SI's frame
        about the region's centre, each with its best shift
        (:meth:`estimate_si_shift`), refined around the best trial. A field
        that repeats under a rotation (a perfect lattice) matches equally at
        its point-group rotations: narrow ``rotation_range`` there. The same
        as the function
        :func:`hyperspy_localcryst.signals.spectra.estimate_si_registration`
        with ``atoms=self``.

        Parameters
        ----------
        survey : hyperspy Signal2D
            The survey image these atoms were found in.
        haadf : hyperspy Signal2D or array
            The image recorded with the SI, covering exactly its pixels.
        si : hyperspy Signal1D
            Spectrum image, see :meth:`register_to_spectrum_image`.
        region : (left, top, right, bottom), optional
            As in :meth:`register_to_spectrum_image`.
        rotation_range : (float, float)
            Degrees searched, counter-clockwise as seen on the survey.
        rotation_step : float, optional
            Degrees between trials; default the angle that moves the SI's
            corner by about 2 survey pixels (at most 5).
        search : float, optional
            Largest shift, calibrated (default 1.5 SI pixels).

        Returns
        -------
        dict
            ``rotation`` (degrees), ``shift`` (calibrated ``(dx, dy)``) and
            ``score`` (normalised correlation): pass ``rotation=`` and
            ``shift=`` to :meth:`register_to_spectrum_image` and the other
            spectrum-image methods.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from scipy import ndimage
        >>> from hyperspy_localcryst.data import synthetic_two_phase
        >>> from hyperspy_localcryst.numerics.spectra import (apply_affine,
        ...     rotate_affine)
        >>> from hyperspy_localcryst.signals.spectra import si_affine
        >>> survey = synthetic_two_phase(shape=(128, 128), noise=None, seed=0)
        >>> atoms = survey.find_atoms()
        >>> si = hs.signals.Signal1D(np.zeros((30, 30, 4)))
        >>> region = (0.345, 0.345, 0.945, 0.945)  # survey 0.01 nm/px
        >>> A0, _ = si_affine(atoms.grid, si, region)
        >>> sx, sy = apply_affine(rotate_affine(A0, 20.0, (30, 30)),
        ...                       *np.meshgrid(np.arange(30), np.arange(30)))
        >>> haadf = ndimage.map_coordinates(survey.data, [sy, sx], order=1)
        >>> reg = atoms.estimate_si_registration(survey, haadf, si, region,
        ...                                      rotation_range=(-45, 45))
        >>> round(reg["rotation"])
        20
        """
        from .spectra import estimate_si_registration

        return estimate_si_registration(
            self,
            survey,
            haadf,
            si,
            region=region,
            rotation_range=rotation_range,
            rotation_step=rotation_step,
            search=search,
        )

    # ------------------------------------------------------------- lattice
    def get_lattice_parameters(self, sublattice=None):
        """Lattice parameters (a, b, gamma) measured from the atom positions.

        The two primitive translations of the structure are found from the
        neighbour vectors and fitted by least squares to all atoms at once
        (:func:`hyperspy_localcryst.numerics.lattice.find_lattice_vectors`),
        so their precision is far below a pixel. Pixels may be non-square:
        the vectors are converted with the scale of each axis.

        Parameters
        ----------
        sublattice : int, optional
            Only the atoms of this ``sublattice`` label. Default: all atoms;
            a translation must then map atoms onto atoms of the same type:
            a vector that joins unlike atoms, by the ``sublattice`` labels
            (when there are several) or by the fitted ``amplitude`` (the
            ``peak`` value of found atoms), is not one. In SrTiO3 [001] the
            Sr-Ti half-diagonal is not a translation.

        Returns
        -------
        dict
            ``a <= b`` and ``gamma`` (deg; 90 to 120, a reduced cell) with
            standard errors ``a_err``, ``b_err``, ``gamma_err`` (from the
            residual scatter of the fit, taken as independent: they hold for
            random position errors; a smooth distortion, e.g. of the scan,
            makes the residuals correlated and the errors optimistic, which
            ``residual_rms`` well above the position errors reveals),
            ``units``, ``a_vector`` and
            ``b_vector`` (calibrated x, y), ``orientation`` (deg, direction
            of ``a`` from +x towards +y), ``sublattice``, ``n_atoms``
            (fitted), ``n_outliers`` (left out), ``residual_rms`` (per axis,
            pixels).

        Raises
        ------
        ValueError
            For an unknown sublattice label, fewer than 6 atoms, or atoms that
            do not form a lattice.

        Examples
        --------
        A square lattice of 20 px at 0.01 nm/px, turned by 10 degrees:

        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> img = synthetic_lattice(shape=(160, 200), rotation=10.0, seed=0)
        >>> atoms = img.refine_atoms(img.find_atoms())
        >>> p = atoms.get_lattice_parameters()
        >>> round(p["a"], 3), round(p["b"], 3), round(p["gamma"]), p["units"]
        (0.2, 0.2, 90, 'nm')
        >>> p["a_err"] < 1e-3
        True
        """
        from ..numerics.lattice import find_lattice_vectors, lattice_parameters

        grid = self.grid
        x, y = self.get_pixel_positions()
        cols = self.columns
        labels = self.get_column("sublattice") if "sublattice" in cols else None
        keep = np.ones(x.size, dtype=bool)
        if sublattice is not None:
            k = check_number(sublattice, "sublattice", "a sublattice label (int)")
            present = (
                np.unique(labels[np.isfinite(labels)]) if labels is not None else []
            )
            if labels is None or k not in present:
                raise ValueError(
                    f"`sublattice` = {sublattice!r} is not a label of this table "
                    f"(labels: {[int(v) for v in present]}); label the atoms with "
                    "`label_sublattices` first or give None for all atoms."
                )
            keep = labels == k
        types = values = None
        if (
            labels is not None
            and len(np.unique(labels[keep & np.isfinite(labels)])) > 1
        ):
            types = labels[keep]
        for name in ("amplitude", "peak"):
            if name in cols:
                values = self.get_column(name)[keep]
                break
        groups = self.get_column("frame")[keep] if "frame" in cols else None
        fit = find_lattice_vectors(
            x[keep], y[keep], types=types, values=values, groups=groups
        )
        scale = (float(grid["x"]["scale"]), float(grid["y"]["scale"]))
        out = lattice_parameters(fit["vectors"], fit["covariance"], scale=scale)
        del out["covariance"]
        out.update(
            units=str(grid["x"]["units"] or ""),
            sublattice=None if sublattice is None else int(sublattice),
            n_atoms=fit["n_atoms"],
            n_outliers=fit["n_outliers"],
            residual_rms=fit["residual_rms"],
        )
        return out

    def get_defects(
        self,
        vectors=None,
        labels="auto",
        groups=None,
        tolerance=0.3,
        min_votes=2,
        merge_distance=1.5,
    ):
        """Vacancies, interstitials, dislocations and antiphase boundaries of
        the lattice the atoms form.

        Local translations predict each atom's neighbours: empty predicted
        sites are vacancies, atoms no translation predicts and off the
        lattice are interstitials, regions whose sites are shifted against
        each other by a vector that is not a translation are translation
        domains, with antiphase boundaries between them (on a surface, a
        step between terraces in different registry), and Burgers circuits
        on one Bravais sublattice find dislocation cores and their Burgers
        vectors
        (:func:`hyperspy_localcryst.numerics.defects.find_defects`; method,
        limits and the sign convention in its module notes: circuits
        counter-clockwise as seen on the displayed image, FS/RH with the line
        into the screen). Sites outside the image or within half a spacing of
        its border are not vacancies.

        Parameters
        ----------
        vectors : array_like, shape (2, 2), optional
            Two primitive translations (rows, calibrated x and y). Default:
            measured from the atoms (of each group), the ``sublattice`` labels
            telling types apart.
        labels : str or None
            Column of site or type labels (dislocation circuits on the most
            frequent label; measured translations map labels onto
            themselves). ``"auto"``: ``sublattice`` when the table has it.
        groups : str, optional
            Column of phase labels (-1: unassigned): each group is analysed
            with its own translations (``vectors`` not allowed then).
        tolerance : float
            Largest distance between a predicted site and the atom filling
            it, as a fraction of the shortest translation.
        min_votes : int
            Atoms that must predict an empty site (1 to 4).
        merge_distance : float
            Non-zero Burgers circuits within this many cells are one core.

        Returns
        -------
        pandas.DataFrame
            One row per defect: ``type`` (``vacancy``, ``interstitial``,
            ``dislocation``, ``antiphase_boundary``: one point of a boundary
            between translation domains), ``x``, ``y``, ``burgers_x``,
            ``burgers_y`` (calibrated; NaN but for dislocations), ``atom``
            (row of the interstitial atom in this table, else -1), ``group``
            and ``votes`` (atoms predicting a vacancy). ``attrs["units"]``
            holds the length unit, ``attrs["vectors"]`` the translations used
            per group (calibrated) and ``attrs["domain"]`` the translation
            domain of each atom of this table (-1 for none).

        Raises
        ------
        ValueError
            For a table of an image stack (a ``frame`` column: take one frame
            with ``get_frame``), NaN positions, or atoms that form no
            lattice.

        Examples
        --------
        Two sites removed from a synthetic square lattice (20 px, 0.01 nm/px):

        >>> import numpy as np
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(160, 200), seed=0).find_atoms()
        >>> x = atoms.get_column("x")
        >>> keep = np.ones(x.size, bool)
        >>> keep[[20, 41]] = False
        >>> d = atoms.select(keep).get_defects()
        >>> d["type"].tolist()
        ['vacancy', 'vacancy']
        >>> bool(np.allclose(d["x"], x[[20, 41]], atol=0.02))
        True
        """
        import pandas as pd

        from ..numerics.defects import find_defects

        cols = self.columns
        if "frame" in cols:
            raise ValueError(
                "`get_defects` works on the atoms of one image; this table holds "
                f"{self.n_frames} frames: take one with `atoms.get_frame(k)`."
            )
        _finite_positions(self, "get_defects")
        grid = self.grid
        sx, sy = float(grid["x"]["scale"]), float(grid["y"]["scale"])
        x, y = self.get_pixel_positions()
        if isinstance(labels, str) and labels == "auto":
            labels = "sublattice" if "sublattice" in cols else None
        lab = None if labels is None else self._values(labels, "labels")
        grp = None if groups is None else self._values(groups, "groups")
        if vectors is not None:
            v = check_array(vectors, "vectors", ndim=2, finite=True)
            if v.shape != (2, 2):
                raise ValueError(
                    f"`vectors` must have shape (2, 2) (rows, calibrated x and y), "
                    f"got {v.shape}."
                )
            vectors = v / [sx, sy]
        extent = (int(grid["y"]["size"]), int(grid["x"]["size"]))
        d = find_defects(
            x,
            y,
            vectors=vectors,
            labels=lab,
            groups=grp,
            extent=extent,
            tolerance=tolerance,
            min_votes=min_votes,
            merge_distance=merge_distance,
        )
        cx, cy = to_calibrated(grid, d["x"], d["y"])
        df = pd.DataFrame(
            {
                "type": d["type"].astype(str),
                "x": cx,
                "y": cy,
                "burgers_x": d["burgers_x"] * sx,
                "burgers_y": d["burgers_y"] * sy,
                "atom": d["atom"],
                "group": d["group"],
                "votes": d["votes"],
            }
        )
        df.attrs["units"] = str(grid["x"]["units"] or "")
        df.attrs["domain"] = d["domain"].tolist()
        df.attrs["vectors"] = {
            k: (np.asarray(v) * [sx, sy]).tolist() for k, v in d["vectors"].items()
        }
        return df


class LazyAtomPositions(LazySignal1D, AtomPositions):
    """Lazy version of :class:`AtomPositions` (data held as a dask array).

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> type(atoms.as_lazy()).__name__
    'LazyAtomPositions'
    """

    _lazy = True
