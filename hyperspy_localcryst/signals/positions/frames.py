"""The frames of a table made from an image stack: their indices, one frame
as a table of its own, statistics per frame."""

from __future__ import annotations

import numpy as np

from ...numerics import frames
from .. import _stack
from .._grid import (
    check_integer,
)
from . import _KEY
from ._table import _check_not_stacked


def _check_statistic(statistic):
    """Refuse an unknown ``statistic`` of the per-frame statistics up front."""
    if not isinstance(statistic, str) or statistic not in frames._FRAME_STATISTICS:
        raise ValueError(
            f"Unknown `statistic` {statistic!r:.60}; choose from "
            f"{frames._FRAME_STATISTICS}."
        )
    return statistic


class TableFramesMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

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
