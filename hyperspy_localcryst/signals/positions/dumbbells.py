"""Dumbbells: pairs of close columns as a table of their own
(``get_dumbbells``); the numerics are
:mod:`hyperspy_localcryst.numerics.dumbbells`. The positions are refined
jointly by :meth:`AtomicImage.refine_atoms` (overlapping columns are fitted
together, their neighbours' tails subtracted) before they are paired."""

from __future__ import annotations

import numpy as np

from ...numerics import dumbbells as ndb
from ._table import _finite_positions, make_atom_positions


class DumbbellsMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

    def get_dumbbells(self, ratio=0.75, max_separation=None):
        """Pairs of close columns: their centre, separation and orientation.

        Two atoms are a dumbbell when each is the other's nearest neighbour
        and that distance is below ``ratio`` times each one's distance to
        its second-nearest atom (see
        :func:`hyperspy_localcryst.numerics.dumbbells.find_dumbbells`).

        Parameters
        ----------
        ratio : float
            How clearly a pair must stand out (below 1).
        max_separation : float, optional
            Largest separation, calibrated units.

        Raises
        ------
        ValueError
            When no pair stands out.

        Returns
        -------
        AtomPositions
            One row per pair: ``x``, ``y`` (its centre), ``separation``,
            ``orientation`` (deg, the pair's axis from +x towards +y, in
            (-90, 90]), ``direction`` (deg, from the brighter to the dimmer
            column by ``amplitude``, or ``peak``, in (-180, 180]),
            ``separation_err``, ``orientation_err`` (from ``x_err``,
            ``y_err``; NaN for a table that was not refined), ``first``,
            ``second`` (the two atoms' rows in this table) and ``frame`` for
            a stack. Same grid, units and navigation as this table.

        Examples
        --------
        Each B column of a perovskite pushed towards one of its A neighbours
        (A-B 20 px at (14.1, 14.1) px, shifted by (-5, -5) px: 12.9 px):

        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> image = synthetic_lattice(shape=(160, 160), spacing=20, seed=0,
        ...     lattice="perovskite", sublattice_peaks=(200, 120),
        ...     displacement=lambda x, y, s: (-5.0 * (s == 1), -5.0 * (s == 1)))
        >>> pairs = image.refine_atoms(image.find_atoms()).get_dumbbells()
        >>> round(float(np.median(pairs.get_column("separation"))) / 0.01, 1)
        12.9
        """
        _finite_positions(self, "get_dumbbells")
        x, y = self.get_column("x"), self.get_column("y")
        cols = self.columns
        errs = {}
        if "x_err" in cols and "y_err" in cols:
            errs = {
                "x_err": self.get_column("x_err"),
                "y_err": self.get_column("y_err"),
            }
        values = None
        for name in ("amplitude", "peak"):
            if name in cols:
                values = np.abs(self.get_column(name))
                break
        frame = self.get_frames()
        r = ndb.find_dumbbells(
            x,
            y,
            ratio=ratio,
            max_separation=max_separation,
            frame=frame,
            values=values,
            **errs,
        )
        if len(r["first"]) == 0:
            raise ValueError(
                "No dumbbells: no two columns are each other's nearest neighbour "
                f"closer than {ratio:g} times their next neighbours (a plain "
                "lattice has none; were the close columns found apart? see "
                "`find_atoms(separation=...)`)."
            )
        u = self.units.get("x", "")
        columns = {
            "x": r["x"],
            "y": r["y"],
            "separation": r["separation"],
            "orientation": r["orientation"],
            "direction": r["direction"],
            "separation_err": r["separation_err"],
            "orientation_err": r["orientation_err"],
            "first": r["first"].astype(float),
            "second": r["second"].astype(float),
        }
        units = {
            "x": u,
            "y": u,
            "separation": u,
            "orientation": "deg",
            "direction": "deg",
            "separation_err": u,
            "orientation_err": "deg",
            "first": "",
            "second": "",
        }
        if self.n_frames > 1:
            columns["frame"] = frame[r["first"]].astype(float)
            units["frame"] = ""
        return make_atom_positions(
            columns,
            units,
            self.grid,
            settings={"step": "get_dumbbells", "ratio": float(ratio)},
            navigation=self.navigation or None,
            title=f"Dumbbells of {self.metadata.General.title}",
        )
