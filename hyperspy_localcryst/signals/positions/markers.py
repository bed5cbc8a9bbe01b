"""The atoms as HyperSpy markers: points coloured by a column and arrows
(``to_markers``, ``to_arrows``)."""

from __future__ import annotations

import numpy as np

from ...numerics import frames
from .. import _stack
from .._grid import (
    check_positive,
)
from ._table import _finite_positions


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
    size = check_positive(size, "size", "a positive marker size", noun="marker size")
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


class MarkersMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

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
        scale = check_positive(scale, "scale", "a positive number")
        _finite_positions(self, "to_arrows")
        offsets = np.column_stack([self.get_column("x"), self.get_column("y")])
        kwargs.setdefault("color", "yellow")
        return hs.plot.markers.Arrows(offsets, u * scale, v * scale, **kwargs)

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
