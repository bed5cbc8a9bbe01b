"""Spectra of a spectrum image (EELS) by site class and spectral maps at the
atoms."""

from __future__ import annotations

import numpy as np

from .maps import _check_length


class SpectraMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_neighbourhoods.
    AtomNeighbourhoods` (the class inherits them; see the module docstring)."""

    # ------------------------------------------------------ spectrum images
    def _atom_labels(self, labels=None):
        """Labels per atom of the full table (-1 for non-centres)."""
        lab = self._labels() if labels is None else self._per_centre(labels, "labels")
        full = np.full(self.atoms.n_atoms, -1.0)
        full[self.centre_indices] = np.where(np.isfinite(lab), lab, -1)
        return full

    def get_cluster_spectra(self, si, labels=None, allow_empty=False, **kwargs):
        """Mean spectrum of each neighbourhood cluster, from a spectrum image.

        Every atom of the table gets a cell (Voronoi, or a disc, see
        :meth:`AtomPositions.get_spectra`); the cells of the centres of
        cluster k are summed and divided by their total area (area-weighted
        mean: the spectrum of one SI pixel of that cluster's cells).

        Parameters
        ----------
        si : hyperspy Signal1D
            Spectrum image; see
            :meth:`AtomPositions.register_to_spectrum_image`.
        labels : array_like, optional
            One integer per centre (e.g. a library's classes); default the
            cluster labels of :meth:`cluster_analysis`.
        allow_empty : bool
            A cluster with no atom in the SI gives NaN instead of an error.
        **kwargs
            ``region``, ``rotation``, ``shift``, ``cell``, ``radius``,
            ``max_distance``, ``subsample``, ``names``.

        Returns
        -------
        hyperspy Signal1D
            Navigation axis ``cluster``, the SI's energy axis and class (e.g.
            ``EELSSpectrum``); ``metadata.ClassSpectra`` has ``n_atoms`` and
            ``area`` per cluster.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=1)
        >>> si = hs.signals.Signal1D(np.ones((16, 16, 10)))
        >>> nb.get_cluster_spectra(si, region=(0, 0, 1.2, 1.2)).data.shape
        (1, 10)
        """
        from ..spectra import class_spectra

        full = self._atom_labels(labels)
        n = None
        if labels is None:
            n = int(np.asarray(self.learning_results.cluster_labels).shape[0])
        return class_spectra(
            self.atoms, si, full, n_classes=n, allow_empty=allow_empty, **kwargs
        )

    def get_spectral_map(self, si, edge=None, window=None, max_distance=None, **kwargs):
        """Map of a spectral quantity at the centre atoms, like a cluster map.

        Each centre's value (:meth:`AtomPositions.get_spectral_quantity`)
        fills its Voronoi cell on the survey's grid (:meth:`get_map`), so it
        overlays the image exactly as :meth:`get_cluster_map` does.

        Parameters
        ----------
        si : hyperspy Signal1D
        edge, window
            See :meth:`AtomPositions.get_spectral_quantity`.
        max_distance : float, optional
            Of the map, as in :meth:`get_map`.
        **kwargs
            ``background``, ``name`` and the registration/cell arguments of
            :meth:`AtomPositions.get_spectra`.

        Returns
        -------
        hyperspy.api.signals.Signal2D
            On the survey's grid; NaN away from centres and outside the SI.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> si = hs.signals.Signal1D(np.ones((16, 16, 10)))
        >>> m = nb.get_spectral_map(si, window=(2, 5), region=(0, 0, 1.2, 1.2))
        >>> float(np.nanmax(m.data))  # not binned: the integral over 2 .. 4
        2.0
        """
        self._n_rows()
        if max_distance is not None:  # before the spectra are integrated
            max_distance = _check_length(max_distance, "max_distance")
        t = self.atoms.get_spectral_quantity(si, edge=edge, window=window, **kwargs)
        name = t.columns[-1]
        values = t.get_column(name)[self.centre_indices]
        unit = t.units.get(name, "")
        quantity = f"{name} ({unit})" if unit else name
        s = self.get_map(values, max_distance=max_distance, quantity=quantity)
        s.metadata.General.title = f"{name} at the centre atoms"
        return s
