"""Scan distortion of a single image from its own lattice
(``estimate_scan_distortion``, ``correct_scan_distortion``); the numerics
are :mod:`hyperspy_localcryst.numerics.scan`. The image itself is resampled
by :meth:`AtomicImage.correct_scan_distortion`."""

from __future__ import annotations

import numpy as np

from ...numerics import scan as nscan
from ...numerics._checks import check_number, check_positive
from . import _KEY


def _origin(grid):
    """Calibrated position of the first scanned pixel (row 0, column 0)."""
    return float(grid["x"]["offset"]), float(grid["y"]["offset"])


class ScanMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

    def estimate_scan_distortion(
        self, ratio=1.0, angle=90.0, sublattice=None, scan_timing=None
    ):
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
        scan_timing : dict or float, optional
            The scan's timing: the dict of :meth:`AtomicImage.get_scan_timing`
            or a line time in seconds. Default: the one the image's file
            recorded, kept by ``find_atoms`` in ``metadata.Source.scan``.

        Returns
        -------
        dict
            ``shear`` (x shift per unit of y), ``slow_scale``, ``matrix``
            (D), ``correction`` (D^-1), the corrected ``a``, ``b``, ``gamma``
            and the ``measured`` ones, ``units``. With a scan timing also
            ``line_time`` (s), ``drift`` (the steady drift that gives D,
            ``(v_x, v_y)`` in ``units`` per second:
            :func:`hyperspy_localcryst.numerics.scan.drift_velocity`),
            ``drift_per_frame`` (``drift`` times the frame time) and
            ``timing_source``.

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
        timing = self._scan_timing(scan_timing)
        if timing:
            step = self.grid["y"]["scale"] * timing["slow_direction"]
            drift = nscan.drift_velocity(
                r["shear"], r["slow_scale"], step, timing["line_time"]
            )
            r.update(
                line_time=timing["line_time"],
                drift=drift,
                drift_per_frame=drift * timing["frame_time"],
                timing_source=timing["source"],
            )
        return r

    def _scan_timing(self, given):
        """The scan timing: ``given`` (a dict or a line time in seconds) or
        the one recorded from the image's file (``metadata.Source.scan``);
        an empty dict when neither is known."""
        if given is None:
            rec = self.metadata.get_item("Source.scan")
            return rec.as_dictionary() if rec is not None else {}
        if isinstance(given, dict):
            if "line_time" not in given:
                raise ValueError(
                    "`scan_timing` must hold a `line_time` (the dict of "
                    "AtomicImage.get_scan_timing), or be a line time in seconds."
                )
            lt = check_positive(given["line_time"], "scan_timing['line_time']")
            rows = self.grid["y"]["size"]
            return {
                "line_time": lt,
                "frame_time": float(given.get("frame_time", lt * rows)),
                "slow_direction": -1 if given.get("slow_direction", 1) == -1 else 1,
                "source": str(given.get("source", "given")),
            }
        lt = check_positive(given, "scan_timing", "a line time in seconds")
        return {
            "line_time": lt,
            "frame_time": lt * self.grid["y"]["size"],
            "slow_direction": 1,
            "source": "given line time",
        }

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
