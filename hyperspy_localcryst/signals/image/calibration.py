"""Calibrating the pixel size against a known lattice parameter
(``calibrate``), removing a scan distortion (``correct_scan_distortion``)
and drawing the atoms on the image (``plot_atoms``)."""

from __future__ import annotations

import warnings

import numpy as np

from .. import _stack
from .._grid import (
    check_bool,
    check_number,
    grid_from_axes,
)
from ..atom_positions import AtomPositions


def _check_plot_navigation(image, atoms):
    """The atoms of a single image for an image, or of this stack (same
    navigation shape) for a stack: ragged markers follow its navigation."""
    shape = tuple(image.axes_manager.navigation_shape[::-1])
    have = _stack.navigation_shape(atoms.navigation)
    if shape == have:
        return
    if not shape:
        raise ValueError(
            f"`atoms` come from a stack of {atoms.n_frames} frames but this is one "
            "image; plot the stack they come from, or pick this frame's atoms "
            "with `atoms.select(atoms.get_column('frame') == k)`."
        )
    raise ValueError(
        f"This stack has navigation shape {shape} (array order) but `atoms` come "
        f"from {'one image' if not have else f'a stack of shape {have}'}; find "
        "the atoms on this stack (`find_atoms` on it gives each frame's), or plot "
        "one frame (`inav`) with that frame's atoms."
    )


def _check_same_grid(a, b):
    ua, ub = a["x"]["units"], b["x"]["units"]
    if ua != ub:
        hint = (
            f" (e.g. `image.axes_manager.convert_units(units='{ua}')`)"
            if ua and ub
            else ""
        )
        raise ValueError(
            f"`atoms` are in {ua or 'uncalibrated units'} but this image is in "
            f"{ub or 'uncalibrated units'}; tables are not converted between units. "
            "Find the atoms on this image, or first convert the image's axes to the "
            f"table's units{hint}."
        )
    for k in ("x", "y"):
        ga, gb = a[k], b[k]
        same = (
            int(ga["size"]) == int(gb["size"])
            and np.isclose(ga["scale"], gb["scale"], rtol=1e-6)
            and np.isclose(
                ga["offset"], gb["offset"], rtol=1e-6, atol=1e-9 * abs(gb["scale"])
            )
            and ga["units"] == gb["units"]
        )
        if not same:
            raise ValueError(
                f"The atoms come from another image grid ({k}: size {ga['size']}, "
                f"scale {ga['scale']:g} {ga['units']}, offset {ga['offset']:g}) than "
                f"this image ({k}: size {gb['size']}, scale {gb['scale']:g} "
                f"{gb['units']}, offset {gb['offset']:g})."
            )


class CalibrationMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atomic_image.
    AtomicImage` (the class inherits them; see the module docstring)."""

    # -------------------------------------------------------------- plotting
    def plot_atoms(self, atoms, colour_by=None, cmap="viridis", size=None, **kwargs):
        """Plot the image with the atoms drawn as markers.

        On a stack (navigation axes, e.g. a time series) the image is drawn
        with HyperSpy's navigator, and the markers follow the navigation
        index: each frame shows its own atoms (``frame`` column, as
        ``find_atoms`` on the stack gives them).

        Parameters
        ----------
        atoms : AtomPositions
            The atoms (from this image, or from this stack).
        colour_by : str, optional
            Column that sets the marker colour, e.g. ``"sublattice"``.
        cmap : str
            Colormap for ``colour_by``.
        size : float, optional
            Marker size in points.
        **kwargs
            Passed to :meth:`plot` (e.g. ``navigator``).

        Returns
        -------
        hyperspy.api.plot.markers.Points
            The markers drawn (ragged on a stack: ``get_current_kwargs()``
            gives the current frame's).

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(128, 128), seed=0)
        >>> m = s.plot_atoms(s.find_atoms(), colour_by="sublattice")
        >>> type(m).__name__
        'Points'
        """
        if not isinstance(atoms, AtomPositions):
            raise TypeError(
                f"`atoms` must be an AtomPositions table, got {type(atoms).__name__}."
            )
        if colour_by is not None and (
            not isinstance(colour_by, str) or colour_by not in atoms.columns
        ):
            raise ValueError(
                f"`colour_by` must be a column of `atoms` ({atoms.columns}), got "
                f"{colour_by!r:.60}."
            )
        if size is not None:
            v = check_number(size, "size", "a marker size in points")
            if not (np.isfinite(v) and 0 < v <= 1e4):
                raise ValueError(
                    f"`size` must be a marker size in points (0 to 10000), got {size}."
                )
        _check_plot_navigation(self, atoms)
        _check_same_grid(atoms.grid, self._grid())
        markers = atoms.to_markers(colour_by=colour_by, cmap=cmap, size=size)
        self.plot(**kwargs)  # after the markers: no figure is left on an error
        self.add_marker(markers)
        return markers

    # ------------------------------------------------------------ calibration
    def calibrate(
        self,
        lattice_parameter,
        atoms=None,
        sublattice=None,
        angle=None,
        directions=None,
        anisotropic=False,
        units=None,
    ):
        """A copy of the image whose pixel size makes the lattice the known one.

        The lattice is measured from the atoms
        (:meth:`AtomPositions.get_lattice_parameters`) and the scales (and
        offsets) of the two signal axes are multiplied by the correction
        factor, so that the measured lattice parameter equals
        ``lattice_parameter``. The signal it is called on is not changed.

        Parameters
        ----------
        lattice_parameter : float or (float, float)
            Known ``a`` (one value: ``a = b``, e.g. a cubic perovskite seen
            along [001]) or ``(a, b)``, in the image's units (or in
            ``units``). Without ``directions``, ``a`` is the shorter vector of
            the measured reduced cell.
        atoms : AtomPositions, optional
            Atoms of this image (found, or better refined). Default: found
            and refined here with the default settings.
        sublattice : int, optional
            Measure the lattice of this sublattice label only (default: all
            atoms, translations between atoms of the same type).
        angle : float, optional
            Known angle between ``a`` and ``b`` in degrees; with
            ``anisotropic`` it separates x and y for cells at 45 degrees.
        directions : (float, float), optional
            Approximate directions of ``a`` and ``b`` in the image (degrees
            from +x towards +y), when the order by length is not the right
            one (e.g. a square cell distorted by the scan).
        anisotropic : bool
            Correct x and y by separate factors (the pixels become
            non-square; the analysis methods need square pixels, so use it
            to measure the scan distortion, then resample). Default: one
            factor for both axes.
        units : str, optional
            Units of ``lattice_parameter`` for an uncalibrated image (e.g.
            ``"nm"``); for a calibrated one they must be the image's (lengths
            are not converted between units).

        Returns
        -------
        AtomicImage
            The recalibrated copy. ``metadata.Calibration`` records
            ``factor_x``, ``factor_y`` (new scale / previous scale), the
            ``previous_scale`` and ``previous_offset`` (x, y), the
            ``original_scale`` and ``original_units`` (of the file, kept
            through repeated calibrations), the ``units``, the ``lattice_parameter`` and
            ``angle`` given, and the ``measured`` lattice (a, b, gamma with
            errors, before the correction).

        Raises
        ------
        ValueError
            For atoms of another image, an uncalibrated image without
            ``units``, units that differ from the image's, or a lattice that
            cannot be measured.

        Warns
        -----
        UserWarning
            When the correction exceeds 20 %: the measured cell may not be
            the one given (a sublattice, a centred cell).

        Examples
        --------
        An image whose stored pixel size is 4 % too large:

        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> img = synthetic_lattice(shape=(150, 170), spacing=18.0, scale=0.0104,
        ...                         rotation=7.0, seed=1)
        >>> fixed = img.calibrate(0.18)  # the true cell: 18 px of 0.01 nm
        >>> round(fixed.axes_manager[0].scale, 5)
        0.01
        >>> round(fixed.metadata.Calibration.factor_x, 3)
        0.962
        >>> img.axes_manager[0].scale  # unchanged
        0.0104
        """
        from ...numerics.lattice import calibration_factors

        check_bool(anisotropic, "anisotropic")
        grid = grid_from_axes(self.axes_manager.signal_axes)
        have = grid["x"]["units"]
        if units is not None:
            if not isinstance(units, str) or not units.strip() or units == "px":
                raise ValueError(
                    f"`units` must name a length unit (e.g. 'nm'), got {units!r:.60}."
                )
            if have and have not in ("px", "pixels") and have != units:
                raise ValueError(
                    f"`units` is {units} but the image is in {have}; give "
                    f"`lattice_parameter` in {have} (lengths are not converted "
                    "between units)."
                )
        elif not have or have in ("px", "pixels"):
            raise ValueError(
                "This image is uncalibrated; give the units of `lattice_parameter` "
                "with `units` (e.g. units='nm')."
            )
        if atoms is None:
            atoms = self.refine_atoms(self.find_atoms())
        elif not isinstance(atoms, AtomPositions):
            raise TypeError(
                f"`atoms` must be an AtomPositions table, got {type(atoms).__name__}."
            )
        else:
            _check_same_grid(atoms.grid, grid)
        measured = atoms.get_lattice_parameters(sublattice=sublattice)
        vectors = np.array([measured["a_vector"], measured["b_vector"]])
        f = calibration_factors(
            vectors,
            lattice_parameter,
            angle=angle,
            directions=directions,
            anisotropic=anisotropic,
        )
        fx, fy = f["factor_x"], f["factor_y"]
        if max(abs(np.log(fx)), abs(np.log(fy))) > np.log(1.2) and have not in (
            "",
            "px",
            "pixels",
        ):
            warnings.warn(
                f"The calibration changes the pixel size by a factor {fx:.4g} (x), "
                f"{fy:.4g} (y): check that the measured cell (a = "
                f"{measured['a']:.4g}, b = {measured['b']:.4g} {have}, gamma = "
                f"{measured['gamma']:.1f} deg) is the cell you gave, not a "
                "sublattice's or a centred one (see `sublattice`).",
                UserWarning,
                stacklevel=2,
            )
        out = self.deepcopy()
        ax_x, ax_y = out.axes_manager.signal_axes
        previous = {
            "previous_scale": [float(ax_x.scale), float(ax_y.scale)],
            "previous_offset": [float(ax_x.offset), float(ax_y.offset)],
            "previous_units": have,
        }
        old = self.metadata.get_item("Calibration.original_scale")
        previous["previous_method"] = str(
            self.metadata.get_item("Calibration.method", "file")
        )
        for ax, factor in ((ax_x, fx), (ax_y, fy)):
            ax.scale = ax.scale * factor
            ax.offset = ax.offset * factor
            if units is not None:
                ax.units = units
        lp = (
            [float(v) for v in lattice_parameter]
            if isinstance(lattice_parameter, (list, tuple, np.ndarray))
            else [float(lattice_parameter)]
        )
        out.metadata.set_item(
            "Calibration",
            {
                "method": "lattice parameter",
                "factor_x": float(fx),
                "factor_y": float(fy),
                **previous,
                "original_scale": list(old)
                if old is not None
                else previous["previous_scale"],
                "original_units": str(
                    self.metadata.get_item("Calibration.original_units", have)
                    if old is not None
                    else have
                ),
                "units": units or have,
                "lattice_parameter": lp,
                "angle": None if angle is None else float(angle),
                "anisotropic": bool(anisotropic),
                "sublattice": None if sublattice is None else int(sublattice),
                "measured": {
                    k: measured[k]
                    for k in ("a", "b", "gamma", "a_err", "b_err", "gamma_err")
                },
            },
        )
        return out

    def get_scan_timing(self):
        """The scan's timing as the file recorded it: line time, frame time.

        Read from the vendor's keys in ``original_metadata`` (Velox, Digital
        Micrograph DigiScan, TIA, Nanonis) or from
        ``metadata.Acquisition_instrument.TEM.dwell_time`` (see
        :mod:`hyperspy_localcryst.signals.image.scan_timing`). The atoms
        found on this image keep it in ``metadata.Source.scan``, and
        :meth:`AtomPositions.estimate_scan_distortion` turns the distortion
        into a drift velocity with it.

        Returns
        -------
        dict
            ``line_time`` (s per row), ``frame_time`` (s), ``dwell_time``
            (s, NaN if unknown), ``slow_direction`` (+1: row 0 recorded
            first; -1: the last row first) and ``source`` (the keys read);
            empty when the file records no timing.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> image = synthetic_lattice(shape=(128, 128), seed=0)
        >>> image.get_scan_timing()
        {}
        >>> image.metadata.set_item("Acquisition_instrument.TEM.dwell_time", 2e-6)
        >>> round(image.get_scan_timing()["line_time"], 6)  # 128 x 2 us
        0.000256
        """
        from .scan_timing import read_scan_timing

        ax, ay = self.axes_manager.signal_axes
        return read_scan_timing(
            self.original_metadata.as_dictionary(),
            self.metadata.as_dictionary(),
            int(ax.size),
            int(ay.size),
        )

    def correct_scan_distortion(self, distortion, order=1, fill="median"):
        """The image resampled without its scan distortion.

        Parameters
        ----------
        distortion : dict
            From :meth:`AtomPositions.estimate_scan_distortion` (``matrix``
            D in calibrated units: measured = D true, the first scanned pixel
            fixed).
        order : int
            Spline order of the resampling (0-5).
        fill : "median" or float
            Value of the pixels whose source lies outside the image: the
            frame's median (so that atoms can be found on the result: finding
            refuses NaN), or a number (``numpy.nan`` to mark them).

        Returns
        -------
        AtomicImage
            Same axes.
            Atoms found on it sit where
            :meth:`AtomPositions.correct_scan_distortion` puts the atoms of
            the original. ``metadata.ScanDistortion`` records the correction.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> image = synthetic_lattice(shape=(160, 160), spacing=16, rotation=12,
        ...     displacement=lambda x, y, s: (0.02 * y, -0.03 * y), seed=0)
        >>> d = image.refine_atoms(image.find_atoms()).estimate_scan_distortion()
        >>> fixed = image.correct_scan_distortion(d)
        >>> fixed.data.shape
        (160, 160)
        """
        from ...numerics import warping

        if not isinstance(distortion, dict) or "matrix" not in distortion:
            raise TypeError(
                "`distortion` must be the dict of `estimate_scan_distortion` "
                "(with its `matrix`)."
            )
        order = warping.check_order(order)
        D = np.asarray(distortion["matrix"], dtype=float)
        ax, ay = self.axes_manager.signal_axes
        S = np.diag([ax.scale, ay.scale])
        D_px = np.linalg.inv(S) @ D @ S  # pixel (0, 0) is the first scanned
        if isinstance(fill, str):
            if fill != "median":
                raise ValueError(f"`fill` must be 'median' or a number, got {fill!r}.")

            def one(frame):
                out = warping.warp_frame(frame, matrix=D_px, order=order)
                return np.where(np.isfinite(out), out, np.nanmedian(frame))

        else:
            cval = float(check_number(fill, "fill"))

            def one(frame):
                return warping.warp_frame(frame, matrix=D_px, order=order, cval=cval)

        out = self.map(one, inplace=False, show_progressbar=False)
        out.metadata.set_item(
            "ScanDistortion",
            {
                "shear": float(distortion.get("shear", np.nan)),
                "slow_scale": float(distortion.get("slow_scale", np.nan)),
                "matrix": D.tolist(),
            },
        )
        return out
