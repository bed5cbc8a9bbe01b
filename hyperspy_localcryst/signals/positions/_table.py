"""The per-atom table's construction and the checks its methods share.

The table is built by its registered signal type (:func:`make_atom_positions`),
so the modules of :mod:`hyperspy_localcryst.signals.positions` use it without
importing :mod:`hyperspy_localcryst.signals.atom_positions`.
"""

import numpy as np
from hyperspy.signals import Signal1D

from . import _KEY


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
    s = Signal1D(data)
    # the class by its registered signal type (no import of atom_positions)
    s.set_signal_type("atom_positions")
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


def _is_table(value):
    """Whether ``value`` is an AtomPositions table (lazy or not), by its
    class's signal type."""
    return getattr(type(value), "_signal_type", None) == "atom_positions"
