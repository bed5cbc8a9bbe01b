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

from hyperspy.signals import LazySignal1D, Signal1D

from ._grid import (
    check_bool,
    to_pixels,
)
from .neighbourhoods.make import make_neighbourhoods
from .positions import _KEY
from .positions._table import (
    _STACK_ADVICE,
    _check_not_stacked,
    _check_rows,
    _name_positions,
    _rows,
    make_atom_positions,
)
from .positions.counting import CountingMixin
from .positions.dumbbells import DumbbellsMixin
from .positions.editing import EditingMixin
from .positions.export import ExportMixin
from .positions.frames import TableFramesMixin
from .positions.lattice import LatticeMixin
from .positions.maps import MapsMixin
from .positions.markers import MarkersMixin
from .positions.polarisation import PolarisationMixin
from .positions.scan import ScanMixin
from .positions.spectra import SpectraMixin
from .positions.strain import StrainMixin
from .positions.sublattices import SublatticesMixin
from .positions.tilts import TiltsMixin
from .positions.tracking import TrackingMixin

__all__ = ["AtomPositions", "LazyAtomPositions", "make_atom_positions"]


class AtomPositions(
    EditingMixin,
    SublatticesMixin,
    TableFramesMixin,
    TrackingMixin,
    MarkersMixin,
    SpectraMixin,
    LatticeMixin,
    PolarisationMixin,
    StrainMixin,
    CountingMixin,
    ScanMixin,
    DumbbellsMixin,
    TiltsMixin,
    MapsMixin,
    ExportMixin,
    Signal1D,
):
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
        >>> import numpy as np
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

        Units, the image grid (and a stack's navigation axes) are kept in
        ``DataFrame.attrs`` (``units``, ``grid``, ``navigation``, ``title``), so
        that :meth:`from_dataframe` turns it back into the same table.

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
        df.attrs["grid"] = self.grid
        if self.navigation:
            df.attrs["navigation"] = self.navigation
        df.attrs["title"] = self.metadata.General.title
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
