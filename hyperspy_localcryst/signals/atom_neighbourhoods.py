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

import numpy as np
from hyperspy.signals import LazySignal1D, Signal1D

from ..numerics import neighbourhoods as nbn
from ..numerics._checks import renamed
from ._grid import (
    check_number,
    pixel_scale,
)
from .atom_positions import AtomPositions
from .neighbourhoods import _KEY
from .neighbourhoods.cluster_plots import ClusterPlotsMixin
from .neighbourhoods.dendrogram import DendrogramMixin
from .neighbourhoods.learning import LearningMixin
from .neighbourhoods.learning_plots import LearningPlotsMixin
from .neighbourhoods.make import make_neighbourhoods
from .neighbourhoods.maps import MapsMixin
from .neighbourhoods.modes import ModesMixin
from .neighbourhoods.phases import PhasesMixin
from .neighbourhoods.site_classes import SiteClassesMixin
from .neighbourhoods.spectra import SpectraMixin
from .positions._table import _check_not_stacked, _check_rows, _name_positions, _rows

__all__ = [
    "AtomNeighbourhoods",
    "LazyAtomNeighbourhoods",
    "make_neighbourhoods",
]


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


class AtomNeighbourhoods(
    LearningMixin,
    SiteClassesMixin,
    PhasesMixin,
    DendrogramMixin,
    MapsMixin,
    ModesMixin,
    SpectraMixin,
    LearningPlotsMixin,
    ClusterPlotsMixin,
    Signal1D,
):
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

    @renamed(frame="basis")
    def get_vectors(self, basis="image"):
        """Neighbour vectors as an array of shape ``(n_centres, k, 2)``.

        Parameters
        ----------
        basis : {"image", "local"}
            The axes the vectors are given in. ``"local"``: as stored
            (rotated into each neighbourhood's own axes for the angle
            metric); ``"image"``: in the image's axes (rotation put back).
            (Its old name ``frame`` still works, with a ``FutureWarning``:
            a frame is an image of a stack everywhere else.)

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
        if not isinstance(basis, str) or basis not in ("image", "local"):
            raise ValueError(
                f"Unknown basis {basis!r:.60}: `basis` must be 'image' or 'local'."
            )
        order, k = self._pairs("get_vectors")
        v = self._table(order).reshape(-1, k, 2)
        if basis == "image" and self.metric == "angle":
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
