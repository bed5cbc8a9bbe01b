"""The atoms on a spectrum image (EELS): registration, spectra at the atoms
and by class, and spectral quantities at the atoms."""

from __future__ import annotations

from ...numerics._checks import check_array


class SpectraMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

    # ------------------------------------------------------ spectrum images
    def register_to_spectrum_image(self, si, region=None, rotation=0.0, shift=None):
        """The atoms' positions on a spectrum image's navigation grid.

        The SI (any Signal1D with two navigation axes, e.g. an exspy
        ``EELSSpectrum``) scanned a region of the survey image these atoms
        come from. The region is ``region`` if given, else the one recorded
        in the SI file (DigitalMicrograph's ``Spectrum Image Rect``), else
        the SI's own navigation calibration when it is in the survey's
        units (see :mod:`hyperspy_localcryst.signals.spectra`).

        Parameters
        ----------
        si : hyperspy Signal1D
            Spectrum image ``(x, y | energy)``; its spatial axes may be
            uncalibrated.
        region : (left, top, right, bottom), optional
            Outer edges of the SI's pixels on the survey, in the survey's
            calibrated units, before ``rotation``.
        rotation : float
            Degrees, counter-clockwise as seen on the survey: the SI's scan
            frame is turned by this about the region's centre.
        shift : (float, float), optional
            Calibrated ``(dx, dy)`` added to the region, e.g. the drift from
            :meth:`estimate_si_shift`.

        Returns
        -------
        AtomPositions
            With ``si_x``, ``si_y`` (SI pixels, centres at integers) and
            ``in_si``; the map in ``metadata.AtomPositions.spectrum_image``.

        Examples
        --------
        >>> import numpy as np
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> si = hs.signals.Signal1D(np.zeros((16, 16, 10)))
        >>> r = atoms.register_to_spectrum_image(si, region=(0.2, 0.2, 1.0, 1.0))
        >>> int(r.get_column("in_si").sum())
        16
        """
        from ..si_registration import register_atoms

        return register_atoms(self, si, region, rotation, shift)

    def get_spectra(
        self,
        si,
        region=None,
        rotation=0.0,
        shift=None,
        cell="voronoi",
        radius=None,
        max_distance=None,
        subsample=None,
        normalise=False,
    ):
        """Spectrum of every atom: the SI summed over the atom's cell.

        Each SI pixel is sampled by ``subsample²`` points; a point belongs to
        its nearest atom (``cell="voronoi"``, all atoms of the table, up to
        ``max_distance``) or to every atom within ``radius``
        (``cell="radius"``), so an SI pixel shared by two cells is split by
        area (:func:`hyperspy_localcryst.numerics.spectra.cell_weights`).

        Parameters
        ----------
        si, region, rotation, shift
            See :meth:`register_to_spectrum_image`.
        cell : {"voronoi", "radius"}
        radius : float, optional
            Calibrated, for ``cell="radius"``.
        max_distance : float, optional
            Calibrated; Voronoi cells end this far from their atom (default
            the median nearest-neighbour distance).
        subsample : int, optional
            Default: sampling points 1/8 of a neighbour distance apart.
        normalise : bool
            Divide each atom's sum by its cell area (in SI pixels): the mean
            spectrum of one SI pixel of the cell.

        Returns
        -------
        hyperspy Signal1D
            Same class as ``si`` (e.g. ``EELSSpectrum``, so that exspy's
            ``remove_background``, ``create_model`` and ``multifit`` run on
            it) and the SI's calibrated energy axis. One row per atom whose
            cell lies (in part) inside the SI, and only those: no NaN rows.
            The navigation axis ``atom`` is non-uniform, its values the
            atoms' row indices in this table, also in
            ``metadata.AtomSpectra.atom_indices``; map a per-row result back
            with ``values[sp.metadata.AtomSpectra.atom_indices]`` (e.g.
            ``self.get_column("x")[idx]``) or select rows by atom index with
            ``sp.inav[float(i)]``. ``metadata.AtomSpectra.area``: cell area
            in SI pixels of each row. An SI that holds no atom's cell is a
            ``ValueError``.

        Examples
        --------
        >>> import numpy as np
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> si = hs.signals.Signal1D(np.ones((16, 16, 10)))
        >>> sp = atoms.get_spectra(si, region=(0.0, 0.0, 0.6, 0.6))
        >>> sp.axes_manager.navigation_axes[0].name
        'atom'
        >>> idx = np.asarray(sp.metadata.AtomSpectra.atom_indices)
        >>> bool((sp.axes_manager["atom"].axis == idx).all())
        True
        >>> x_of_rows = atoms.get_column("x")[idx]  # each row's atom
        """
        from ..spectra import atom_spectra

        if cell == "voronoi" and max_distance is None and self.n_atoms < 2:
            raise ValueError(
                "A single atom has no neighbour distance to bound its Voronoi cell; "
                "give `max_distance` (calibrated)."
            )
        return atom_spectra(
            self,
            si,
            region=region,
            rotation=rotation,
            shift=shift,
            cell=cell,
            radius=radius,
            max_distance=max_distance,
            subsample=subsample,
            normalise=normalise,
        )

    def get_class_spectra(self, si, column="sublattice", allow_empty=False, **kwargs):
        """Mean spectrum of each class of atoms (e.g. each sublattice).

        The cell sums of the atoms of a class divided by their total cell
        area: the mean spectrum of one SI pixel of that class's cells.

        Parameters
        ----------
        si : hyperspy Signal1D
            Spectrum image, see :meth:`register_to_spectrum_image`.
        column : str or array_like
            Column of integer labels (NaN or negative: not used), or one
            label per atom.
        allow_empty : bool
            A class with no cell in the SI gives NaN instead of an error.
        **kwargs
            ``region``, ``rotation``, ``shift``, ``cell``, ``radius``,
            ``max_distance``, ``subsample`` as in :meth:`get_spectra`;
            ``names``.

        Returns
        -------
        hyperspy Signal1D
            Navigation axis ``cluster``; ``metadata.ClassSpectra`` has the
            atom counts and areas per class.

        Examples
        --------
        >>> import numpy as np
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> atoms = atoms.add_columns({"half": atoms.get_column("x") > 0.6})
        >>> si = hs.signals.Signal1D(np.ones((16, 16, 10)))
        >>> atoms.get_class_spectra(si, "half", region=(0, 0, 1.2, 1.2)).data.shape
        (2, 10)
        """
        from ..spectra import class_spectra

        if isinstance(column, str):
            labels = self._values(column, "column")
        else:
            msg = (
                "`column` must be a column name or one label per atom, got "
                f"{column!r:.60}."
            )
            try:
                labels = check_array(column, "column")
            except TypeError:
                raise TypeError(msg) from None
            if labels.ndim == 0:
                raise TypeError(msg)
            if labels.shape != (self.n_atoms,):
                raise ValueError(
                    f"`column` has {labels.size} labels for {self.n_atoms} atoms "
                    f"(shape {labels.shape}); give one label per atom or a column name."
                )
        return class_spectra(self, si, labels, allow_empty=allow_empty, **kwargs)

    def get_spectral_quantity(
        self, si, edge=None, window=None, background=None, name=None, **kwargs
    ):
        """Per-atom intensity of an edge (energy window) above a power law.

        The atom's cell-mean spectrum (see :meth:`get_spectra` with
        ``normalise=True``) through exspy's own steps
        (:func:`hyperspy_localcryst.signals.spectra.edge_intensity`):
        ``remove_background(signal_range=background,
        background_type="PowerLaw")``, then ``isig[window].integrate1D(-1)``.
        The quantity follows the energy axis: counts per SI pixel for a
        binned axis (exspy's ``EELSSpectrum``: ``integrate1D`` sums), counts
        x energy units per SI pixel for a non-binned one (Simpson's
        integral); the column's units say which.

        Parameters
        ----------
        si : hyperspy Signal1D
        edge : str, optional
            e.g. ``"Ti_L3"``, ``"O_K"``, ``"La_M5"``: onset from exspy's
            database; default ``window`` = onset - 2 eV .. onset + 30 eV
            (clipped to the axis), ``background`` = onset - 50 .. onset - 5
            eV.
        window, background : (float, float), optional
            In the energy axis's units.
        name : str, optional
            Column name (default the edge, or ``window_<start>_<end>``).
        **kwargs
            ``region``, ``rotation``, ``shift``, ``cell``, ``radius``,
            ``max_distance``, ``subsample`` as in :meth:`get_spectra`.

        Returns
        -------
        AtomPositions
            With the new column (NaN for atoms whose cell misses the SI,
            and, with a warning, for those without positive counts in a
            half of ``background``); draw it with
            ``to_markers(colour_by=name)`` or, per centre,
            ``nb.get_map(values)`` like a cluster map.

        Examples
        --------
        >>> import numpy as np
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> si = hs.signals.Signal1D(np.ones((16, 16, 10)))
        >>> t = atoms.get_spectral_quantity(si, window=(2, 5), name="w",
        ...                                 region=(0, 0, 1.2, 1.2))
        >>> float(np.nanmax(t.get_column("w")))  # not binned: integral 2 .. 4
        2.0
        >>> t.units["w"]
        'counts/SI px'
        """
        from ..spectra import spectral_quantity

        return spectral_quantity(
            self,
            si,
            edge=edge,
            window=window,
            background=background,
            name=name,
            **kwargs,
        )

    def estimate_si_shift(
        self, survey, haadf, si, region=None, rotation=0.0, search=None
    ):
        """Drift of a spectrum image against the survey, from its HAADF image.

        The image recorded simultaneously with the SI (e.g. HAADF) and the
        survey these atoms come from are resampled on one grid in the SI's
        frame, one survey pixel apart; their normalised cross-correlation
        over shifts of up to ``search`` gives the shift, refined by a
        parabola (:func:`hyperspy_localcryst.numerics.spectra.estimate_si_shift`).
        The same as the function
        :func:`hyperspy_localcryst.signals.si_registration.estimate_si_shift` with
        ``atoms=self``.

        Parameters
        ----------
        survey : hyperspy Signal2D
            The survey image these atoms were found in.
        haadf : hyperspy Signal2D or array
            The image recorded with the SI, covering exactly its pixels (any
            integer sub-sampling).
        si : hyperspy Signal1D
            Spectrum image, see :meth:`register_to_spectrum_image`.
        region, rotation
            As in :meth:`register_to_spectrum_image`.
        search : float, optional
            Largest shift, calibrated (default 1.5 SI pixels).

        Returns
        -------
        shift : tuple of float
            Calibrated ``(dx, dy)``; pass it as ``shift=`` to
            :meth:`register_to_spectrum_image`, :meth:`get_spectra` and the
            other spectrum-image methods.
        score : float
            Normalised correlation at the best shift (1: identical images).

        Examples
        --------
        >>> import numpy as np
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> img = synthetic_lattice(shape=(128, 128), noise=None)
        >>> atoms = img.find_atoms()
        >>> si = hs.signals.Signal1D(np.zeros((10, 10, 4)))
        >>> haadf = img.data[40:90, 32:82]  # 2 px right of the region below
        >>> (dx, dy), score = atoms.estimate_si_shift(
        ...     img, haadf, si, region=(0.295, 0.395, 0.795, 0.895))
        >>> round(dx, 3), round(dy, 3)
        (0.02, 0.0)
        """
        from ..si_registration import estimate_si_shift

        return estimate_si_shift(
            self, survey, haadf, si, region=region, rotation=rotation, search=search
        )

    def estimate_si_registration(
        self,
        survey,
        haadf,
        si,
        region=None,
        rotation_range=(-180.0, 180.0),
        rotation_step=None,
        search=None,
    ):
        """Rotation and drift of a spectrum image on the survey, from its HAADF.

        For an SI whose scan was turned against the survey's by an angle
        that the files do not record: trial rotations of the SI's frame
        about the region's centre, each with its best shift
        (:meth:`estimate_si_shift`), refined around the best trial. A field
        that repeats under a rotation (a perfect lattice) matches equally at
        its point-group rotations: narrow ``rotation_range`` there. The same
        as the function
        :func:`hyperspy_localcryst.signals.si_registration.estimate_si_registration`
        with ``atoms=self``.

        Parameters
        ----------
        survey : hyperspy Signal2D
            The survey image these atoms were found in.
        haadf : hyperspy Signal2D or array
            The image recorded with the SI, covering exactly its pixels.
        si : hyperspy Signal1D
            Spectrum image, see :meth:`register_to_spectrum_image`.
        region : (left, top, right, bottom), optional
            As in :meth:`register_to_spectrum_image`.
        rotation_range : (float, float)
            Degrees searched, counter-clockwise as seen on the survey.
        rotation_step : float, optional
            Degrees between trials; default the angle that moves the SI's
            corner by about 2 survey pixels (at most 5).
        search : float, optional
            Largest shift, calibrated (default 1.5 SI pixels).

        Returns
        -------
        dict
            ``rotation`` (degrees), ``shift`` (calibrated ``(dx, dy)``) and
            ``score`` (normalised correlation): pass ``rotation=`` and
            ``shift=`` to :meth:`register_to_spectrum_image` and the other
            spectrum-image methods.

        Examples
        --------
        >>> import numpy as np
        >>> import hyperspy.api as hs
        >>> from scipy import ndimage
        >>> from hyperspy_localcryst.data import synthetic_two_phase
        >>> from hyperspy_localcryst.numerics.spectra import (apply_affine,
        ...     rotate_affine)
        >>> from hyperspy_localcryst.signals.spectra import si_affine
        >>> survey = synthetic_two_phase(shape=(128, 128), noise=None, seed=0)
        >>> atoms = survey.find_atoms()
        >>> si = hs.signals.Signal1D(np.zeros((30, 30, 4)))
        >>> region = (0.345, 0.345, 0.945, 0.945)  # survey 0.01 nm/px
        >>> A0, _ = si_affine(atoms.grid, si, region)
        >>> sx, sy = apply_affine(rotate_affine(A0, 20.0, (30, 30)),
        ...                       *np.meshgrid(np.arange(30), np.arange(30)))
        >>> haadf = ndimage.map_coordinates(survey.data, [sy, sx], order=1)
        >>> reg = atoms.estimate_si_registration(survey, haadf, si, region,
        ...                                      rotation_range=(-45, 45))
        >>> round(reg["rotation"])
        20
        """
        from ..si_registration import estimate_si_registration

        return estimate_si_registration(
            self,
            survey,
            haadf,
            si,
            region=region,
            rotation_range=rotation_range,
            rotation_step=rotation_step,
            search=search,
        )
