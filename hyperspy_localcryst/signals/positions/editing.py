"""New tables from a table: columns added, rows selected, tables joined
(``add_columns``, ``select``, ``concatenate``)."""

from __future__ import annotations

import numpy as np

from ...numerics._checks import check_array
from . import _KEY
from ._table import _is_signal, _is_table, make_atom_positions


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


class EditingMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

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
            if not _is_table(other):
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
