"""Scan distortion of a single image from its own lattice
(``estimate_scan_distortion``, ``correct_scan_distortion``); the numerics
are :mod:`hyperspy_localcryst.numerics.scan`. The image itself is resampled
by :meth:`AtomicImage.correct_scan_distortion`."""

from __future__ import annotations

import numpy as np

from ...numerics import scan as nscan
from ...numerics._checks import check_number
from . import _KEY


def _origin(grid):
    """Calibrated position of the first scanned pixel (row 0, column 0)."""
    return float(grid["x"]["offset"]), float(grid["y"]["offset"])


class ScanMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

    def estimate_scan_distortion(self, ratio=1.0, angle=90.0, sublattice=None):
        """The shear and slow-scan scale of the image, from its lattice.

        Specimen drift during the scan maps a true position ``p`` to
        ``D p`` with ``D = [[1, s], [0, m]]`` (x the fast-scan direction):
        the lattice vectors fitted to all atoms
        (:meth:`get_lattice_parameters`) fix ``s`` and ``m`` when the true
        cell's shape is known.

        Parameters
        ----------
        ratio : float
            Known ``|b| / |a|`` of the cell (1: square or hexagonal).
        angle : float
            Known angle between ``a`` and ``b`` (deg): 90 square or
            rectangular, 120 hexagonal.
        sublattice : int, optional
            Fit the lattice of this ``sublattice`` only.

        Returns
        -------
        dict
            ``shear`` (x shift per unit of y), ``slow_scale``, ``matrix``
            (D), ``correction`` (D^-1), the corrected ``a``, ``b``, ``gamma``
            and the ``measured`` ones, ``units``.

        Examples
        --------
        A square lattice drifting during the scan (shear 0.02, slow-scan
        scale 0.97):

        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> image = synthetic_lattice(shape=(160, 160), spacing=16, rotation=12,
        ...     displacement=lambda x, y, s: (0.02 * y, -0.03 * y), seed=0)
        >>> d = image.refine_atoms(image.find_atoms()).estimate_scan_distortion()
        >>> round(d["shear"], 2), round(d["slow_scale"], 2)
        (0.02, 0.97)
        """
        p = self.get_lattice_parameters(sublattice=sublattice)
        v = np.array([p["a_vector"], p["b_vector"]], dtype=float)
        r = nscan.scan_distortion(v, ratio=ratio, angle=angle)
        r["units"] = p["units"]
        return r

    def correct_scan_distortion(self, distortion):
        """The table with the scan distortion removed from its positions.

        Parameters
        ----------
        distortion : dict
            From :meth:`estimate_scan_distortion` (``correction``, D^-1).

        Returns
        -------
        AtomPositions
            ``x``, ``y`` corrected (the first scanned pixel stays in place);
            the other columns unchanged. The distortion is recorded in
            ``metadata.AtomPositions.scan_distortion``.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> image = synthetic_lattice(shape=(160, 160), spacing=16, rotation=12,
        ...     displacement=lambda x, y, s: (0.02 * y, -0.03 * y), seed=0)
        >>> atoms = image.refine_atoms(image.find_atoms())
        >>> fixed = atoms.correct_scan_distortion(atoms.estimate_scan_distortion())
        >>> p = fixed.get_lattice_parameters()
        >>> round(p["gamma"], 1), round(p["b"] / p["a"], 3)
        (90.0, 1.0)
        """
        if not isinstance(distortion, dict) or "correction" not in distortion:
            raise TypeError(
                "`distortion` must be the dict of `estimate_scan_distortion` "
                "(with its `correction`)."
            )
        C = np.asarray(distortion["correction"], dtype=float)
        x, y = nscan.correct_positions(
            self.get_column("x"), self.get_column("y"), C, origin=_origin(self.grid)
        )
        out = self.add_columns({"x": x, "y": y})
        out.metadata.set_item(
            f"{_KEY}.scan_distortion",
            {
                "shear": float(check_number(distortion.get("shear", np.nan), "shear")),
                "slow_scale": float(distortion.get("slow_scale", np.nan)),
                "correction": C.tolist(),
            },
        )
        return out
