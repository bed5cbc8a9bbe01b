"""Octahedral rotations from the O columns of a perovskite along [001]
(``get_octahedral_tilts``); the numerics are
:mod:`hyperspy_localcryst.numerics.tilts`."""

from __future__ import annotations

import numpy as np

from ...numerics import tilts as ntilts
from . import _KEY
from .polarisation import _two_label_rows


class TiltsMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

    def get_octahedral_tilts(self, b_sublattice, o_sublattice, column="sublattice"):
        """Rotation of each BO6 octahedron about the beam from its O columns.

        For each B column, each of its four nearest O columns gives the angle
        between the B-O vector and the B-B line it lies on; their mean is the
        octahedron's rotation (see
        :mod:`hyperspy_localcryst.numerics.tilts`). Needs an image where O
        columns show (ABF, iDPC) and labels for the B and O columns.

        Parameters
        ----------
        b_sublattice, o_sublattice : int
            Labels (in ``column``) of the B and the O columns.
        column : str
            The labels' column.

        Returns
        -------
        AtomPositions
            The B columns with ``tilt`` (deg, from +x towards +y in the
            image's calibrated axes; NaN with fewer than 3 O matched),
            ``n_oxygen`` and ``tilt_parity`` (the checkerboard of the B
            lattice, 0 or 1; -1 unknown). ``metadata.AtomPositions.tilts``
            holds ``staggered`` (the checkerboard amplitude: corner-sharing
            octahedra turn in opposite senses) and ``uniform`` (deg).

        Examples
        --------
        >>> from hyperspy_localcryst.signals.atom_positions import (
        ...     make_atom_positions)
        >>> i, j = np.mgrid[0:8, 0:8]
        >>> b = np.column_stack([10.0 * i.ravel(), 10.0 * j.ravel()])
        >>> s = np.where((i + j).ravel() % 2 == 0, 1, -1) * np.deg2rad(4)
        >>> ox = b + 5 * np.column_stack([np.cos(s), np.sin(s)])
        >>> oy = b + 5 * np.column_stack([-np.sin(s), np.cos(s)])
        >>> p = np.r_[b, ox, oy] * 0.01  # nm
        >>> lab = np.r_[np.zeros(64), np.ones(128)]
        >>> grid = {k: {"size": 80, "scale": 0.01, "offset": 0.0, "units": "nm",
        ...             "name": k} for k in "xy"}
        >>> cols = {"x": p[:, 0], "y": p[:, 1], "sublattice": lab}
        >>> t = make_atom_positions(cols, {"x": "nm", "y": "nm"}, grid)
        >>> tilts = t.get_octahedral_tilts(0, 1)
        >>> round(tilts.metadata.AtomPositions.tilts.staggered, 2)
        3.99
        """
        rows_b, rows_o = _two_label_rows(
            self,
            column,
            (b_sublattice, o_sublattice),
            ("b_sublattice", "o_sublattice"),
            "get_octahedral_tilts",
        )
        g = self.grid
        sx, sy = float(g["x"]["scale"]), float(g["y"]["scale"])
        xp, yp = self.get_pixel_positions()
        # pixel-sized numbers with the physical aspect and the axes' senses
        x, y = xp * sx / abs(sx), yp * sy / abs(sx)
        frames = self.get_frames()
        if len(np.unique(frames)) > 1:
            raise ValueError(
                "`get_octahedral_tilts` works on one image: pick a frame with "
                "`get_frame(k)`."
            )
        r = ntilts.octahedral_tilts(x, y, rows_b, rows_o)
        out = self.select(rows_b).add_columns(
            {
                "tilt": r["tilt"],
                "n_oxygen": r["n_oxygen"].astype(float),
                "tilt_parity": r["parity"].astype(float),
            },
            {"tilt": "deg", "n_oxygen": "", "tilt_parity": ""},
        )
        out.metadata.set_item(
            f"{_KEY}.tilts",
            {
                "b_sublattice": int(b_sublattice),
                "o_sublattice": int(o_sublattice),
                "staggered": r["staggered"],
                "uniform": r["uniform"],
                "n_measured": int(np.isfinite(r["tilt"]).sum()),
            },
        )
        return out
