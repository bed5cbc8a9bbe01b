"""Maps of per-atom values on the image's calibrated grid: each pixel takes the
value of its nearest atom (:func:`rasterise`, shared by
:meth:`AtomPositions.get_map` and :meth:`AtomNeighbourhoods.get_map`)."""

from __future__ import annotations

import numpy as np
from hyperspy.signals import Signal2D

from ...numerics import frames, point_patterns
from ...numerics._checks import check_per_atom, format_bytes
from .. import _stack
from .._grid import check_bool, check_integer, check_memory, check_positive, pixel_scale
from .._plotting import set_categorical


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
    if cells > point_patterns.MAX_GRID_CELLS:
        raise ValueError(
            f"{name}={value!r:.60} needs {format_bytes(8.0 * cells)} of memory per "
            f"array ({detail}; at most {point_patterns.MAX_GRID_CELLS:,} cells, "
            f"1 GiB, are allowed): {advice}."
        )
    check_memory(
        8.0 * cells, name, value, detail, advice=advice, total=8.0 * cells * n_arrays
    )


def _check_length(value, name):
    """A positive, finite length (calibrated units), or an error naming ``name``."""
    return check_positive(value, name, "a length", noun="length")


def rasterise(
    table,
    values,
    max_distance,
    frame=None,
    quantity="Value",
    categorical=False,
    names=None,
    step=1,
    grid_name="metadata.AtomPositions.grid",
):
    """Rasterise one value per row of ``table`` on its image grid.

    Parameters
    ----------
    table : AtomPositions
        The atoms (positions, frames, grid and navigation of the source).
    values : numpy.ndarray
        One value per row of ``table`` (checked by the caller).
    max_distance : float
        Calibrated units, positive (``numpy.inf``: no limit); pixels farther
        from every atom are NaN.
    frame, quantity, categorical, names, step
        As in :meth:`AtomPositions.get_map`.
    grid_name : str
        Where the grid is, for the message of a grid too large.

    Returns
    -------
    hyperspy.api.signals.Signal2D

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(64, 64), seed=0).find_atoms()
    >>> m = rasterise(atoms, np.arange(atoms.n_atoms, dtype=float), np.inf)
    >>> m.data.shape, bool(np.isfinite(m.data).all())
    ((64, 64), True)
    """
    step = check_integer(step, "step", minimum=1)
    if not isinstance(quantity, str):
        raise TypeError(f"`quantity` must be a string, got {quantity!r:.60}.")
    categorical = check_bool(categorical, "categorical")
    v = values
    if categorical:
        finite = v[np.isfinite(v)]
        if not np.all(finite == np.round(finite)):
            raise ValueError(
                "`values` must be integer labels (-1 for none) for a categorical map."
            )
    grid = table.grid
    n = table.n_frames
    wanted = range(n) if frame is None else [table._flat_frame(frame, "frame")]
    shape = (grid["y"]["size"], grid["x"]["size"])
    out_shape = tuple(-(-n_px // step) for n_px in shape)
    if len(wanted) > 1 and out_shape[0] * out_shape[1] <= point_patterns.MAX_GRID_CELLS:
        name, value, advice = "frame", frame, "map one frame with `frame`=k"
    else:
        name, value = grid_name, shape
        advice = "the image is too large to rasterise; bin it first or use `step`"
    _check_grid(*out_shape, len(wanted), name, value, "the image gives maps", advice)
    xp, yp = table.get_pixel_positions()
    # pixel (r, c) of the map is pixel (r * step, c * step) of the image
    md_px = max_distance / pixel_scale(grid) / step
    xp, yp = xp / step, yp / step
    groups = frames.frame_groups(table.get_frames(), n)
    maps = np.full((len(wanted),) + out_shape, np.nan)
    for i, k in enumerate(wanted):
        sel = groups[k]
        if len(sel):
            maps[i] = point_patterns.rasterise_nearest(
                xp[sel], yp[sel], v[sel], out_shape, max_distance=md_px
            )
    nav = table.navigation if frame is None and n > 1 else []
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


class MapsMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

    def get_map(
        self,
        values,
        max_distance=None,
        frame=None,
        quantity=None,
        categorical=False,
        names=None,
        step=1,
    ):
        """Rasterise a column (or one value per atom) on the image's grid.

        Each pixel takes the value of its nearest atom (Voronoi cells);
        pixels farther than ``max_distance`` from every atom are NaN. For a
        stack, each frame's atoms make that frame's map. The map of a
        polarisation table (:meth:`get_polarisation`) shows the displacement
        of each B cell, e.g. ``pol.get_map("dy")``.

        Parameters
        ----------
        values : str or array_like
            A column name, or one value per atom.
        max_distance : float, optional
            Calibrated units, positive and finite; default the median
            nearest-neighbour distance of the atoms.
        frame : int or tuple of int, optional
            For a stack: one frame (flat index or navigation indices); by
            default every frame, as a stack on the source's navigation axes.
        quantity : str, optional
            What the values are, with their units (the colour bar's label);
            default the column's name and units.
        categorical : bool
            The values are integer labels (-1: none), drawn in class colours
            (see :meth:`AtomNeighbourhoods.get_map`).
        names : sequence of str, optional
            With ``categorical``: the name of each label 0, 1, ...
        step : int
            Every ``step``-th pixel along both axes (a positive integer).

        Returns
        -------
        hyperspy.api.signals.Signal2D
            On the grid of the source image (same axes and units; the scale
            ``step`` times the image's), with ``metadata.Signal.quantity``.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(96, 80), seed=0).find_atoms()
        >>> m = atoms.get_map("peak")
        >>> m.data.shape, m.metadata.Signal.quantity
        ((96, 80), 'peak (Intensity (counts))')
        """
        if max_distance is not None:  # 0 would give a map of NaN only
            max_distance = _check_length(max_distance, "max_distance")
        if isinstance(values, str):
            v = self.get_column(values)
            if quantity is None:
                unit = self.units.get(values, "")
                quantity = f"{values} ({unit})" if unit else values
        elif values is None:
            raise TypeError("`values` must be a column name or one value per atom.")
        else:
            v = check_per_atom(values, "values", self.n_atoms)
        if quantity is None:
            quantity = "Value"
        if max_distance is None:
            max_distance = self._nn_distance() or np.inf
        return rasterise(
            self, v, max_distance, frame, quantity, categorical, names, step
        )
