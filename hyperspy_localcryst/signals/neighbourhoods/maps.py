"""Maps, markers, FFTs and histograms of per-centre values in the image's
frame, and per-frame statistics of a stack."""

from __future__ import annotations

import numpy as np
from hyperspy.signals import Signal2D

from ...numerics import frames, point_patterns
from ...numerics._checks import check_array
from .. import _stack
from .._grid import (
    check_bool,
    check_integer,
    check_numbers,
    pixel_scale,
)
from ..positions._table import _is_signal
from ..positions.frames import _check_statistic
from ..positions.maps import _check_grid, _check_length, rasterise
from . import _KEY


def _check_shape(shape):
    """An FFT ``shape`` as two positive integers ``(ny, nx)``."""
    if not isinstance(shape, (tuple, list, np.ndarray)) or len(shape) != 2:
        raise ValueError(
            f"`shape` = {shape!r:.60}: the FFT shape must be a pair (ny, nx) of "
            "positive integers."
        )
    if (
        not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_))
            for n in shape
        )
        or min(shape) < 1
    ):
        raise ValueError(
            f"`shape` = {tuple(shape)!r:.60}: the FFT shape must be two positive "
            "integers (ny, nx)."
        )
    return int(shape[0]), int(shape[1])


def _check_bins(bins):
    """Histogram ``bins`` (an int or a pair) as ``(nx, ny)``."""
    pair = bins if isinstance(bins, (tuple, list, np.ndarray)) else (bins, bins)
    ok = len(pair) == 2 and all(
        isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_))
        for n in pair
    )
    if not ok:
        raise ValueError(
            f"`bins` = {bins!r:.60}: the numbers of bins must be an integer or a "
            "pair (nx, ny) of integers."
        )
    if min(pair) < 1:
        raise ValueError(f"`bins` = {bins!r:.60}: the numbers of bins must be >= 1.")
    return int(pair[0]), int(pair[1])


def _check_extent(extent):
    """A histogram ``extent`` as four finite, increasing edges."""
    e = check_numbers(extent, "extent", 4, "(xmin, xmax, ymin, ymax)", finite=False)
    if not (np.isfinite(e).all() and e[1] > e[0] and e[3] > e[2]):
        raise ValueError(
            f"`extent` = {extent!r:.80}: the histogram extent must be four finite "
            "numbers (xmin, xmax, ymin, ymax) with xmax > xmin and ymax > ymin."
        )
    return e


class MapsMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_neighbourhoods.
    AtomNeighbourhoods` (the class inherits them; see the module docstring)."""

    # ---------------------------------------------------------------- stacks
    def _centre_frames(self):
        return self.atoms.get_frames()[self.centre_indices]

    def get_cluster_fractions(self):
        """Fraction of each frame's centre atoms in each cluster.

        One clustering of the pooled neighbourhoods of all frames gives
        labels that mean the same in every frame; this follows them through
        the stack (phase fractions against time, tilt...).

        Returns
        -------
        hyperspy.api.signals.Signal1D
            Navigation axes of the stack (none for a single image), signal
            axis ``cluster``; each spectrum sums to 1 (NaN for frames without
            centres).

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> stack = hs.stack([synthetic_lattice((128, 128), seed=k) for k in (0, 1)])
        >>> nb = stack.find_atoms(show_progressbar=False).get_neighbourhoods(4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> np.allclose(nb.get_cluster_fractions().data.sum(-1), 1)
        True
        """
        labels = self._labels()
        k = int(np.asarray(self.learning_results.cluster_labels).shape[0])
        atoms = self.atoms
        out = frames.label_fractions(self._centre_frames(), labels, atoms.n_frames, k)
        return _stack.stack_signal(
            out,
            atoms.navigation,
            [f"cluster {i}" for i in range(k)],
            axis_name="cluster",
            title=f"Cluster fractions of {self.metadata.General.title}",
        )

    def get_frame_statistics(self, values="loadings", statistic="mean", names=None):
        """A statistic of per-centre values in every frame of the stack.

        Parameters
        ----------
        values : {"loadings", "signal", "invariants"}, str, list, array or signal
            ``"loadings"``: decomposition loadings (significant components);
            ``"signal"``: the neighbour vectors; ``"invariants"``: bond
            lengths, angles and polar displacement (:meth:`get_invariants`);
            other strings or a list of them: columns of the centres' table;
            otherwise an array of shape ``(n_centres,)`` or
            ``(n_centres, m)``.
        statistic : {"mean", "median", "std", "min", "max", "count"}
            Computed over each frame's centres, NaN ignored.
        names : list of str, optional
            Names of the values, one per value (stored in
            ``metadata.Signal.names``).

        Returns
        -------
        hyperspy.api.signals.Signal1D
            Navigation axes of the stack, one spectrum of ``m`` values.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> stack = hs.stack([synthetic_lattice((128, 128), seed=k) for k in (0, 1)])
        >>> nb = stack.find_atoms(show_progressbar=False).get_neighbourhoods(4)
        >>> nb.get_frame_statistics("signal").axes_manager.signal_shape
        (8,)
        """
        _check_statistic(statistic)
        if names is not None and (
            not isinstance(names, (list, tuple))
            or not all(isinstance(n, str) for n in names)
        ):
            raise TypeError(
                f"`names` must be a list of strings (one per value), got {names!r:.60}."
            )
        units, auto = "", None
        if isinstance(values, (list, tuple)) and all(
            isinstance(v, str) for v in values
        ):
            values = list(values)  # column names of the centres' table
        if isinstance(values, str) and values == "invariants":
            inv = self.get_invariants()
            known = set(self.atoms.columns) | {"atom"}
            extra = [c for c in inv.columns if c not in known]
            return self._renamed(inv.get_frame_statistics(extra, statistic), names)
        if isinstance(values, list) or (
            isinstance(values, str) and values not in ("loadings", "signal")
        ):
            out = self.get_centres()._frame_statistics(values, statistic, "values")
            return self._renamed(out, names)
        if isinstance(values, str) and values == "loadings":
            lr = self._decomposition()
            v = np.asarray(lr.loadings)
            v = v[:, : lr.number_significant_components or v.shape[1]]
            auto = [f"loading {i}" for i in range(v.shape[1])]
        elif isinstance(values, str):
            v = self._table()
            auto = self.component_names
            units = self.atoms.units.get("x", "")
        else:
            v = check_array(values.data if _is_signal(values) else values, "values")
            if v.ndim == 0:
                raise TypeError(
                    "`values` must be 'loadings', 'signal', 'invariants', column "
                    "names or an array with one row per centre atom, got "
                    f"{values!r:.60}."
                )
        n_c = self._n_rows()
        if v.ndim > 2:
            raise ValueError(
                f"`values` must have shape (n_centres,) or (n_centres, m) = ({n_c}, "
                f"m), got shape {v.shape}."
            )
        v = v.reshape(len(v), -1)
        if v.shape[0] != n_c:
            raise ValueError(f"`values` has {v.shape[0]} rows for {n_c} centre atoms.")
        if names is None:
            names = auto or [f"value {i}" for i in range(v.shape[1])]
        elif len(names) != v.shape[1]:
            raise ValueError(
                f"`names` has {len(names)} names for {v.shape[1]} values per centre."
            )
        atoms = self.atoms
        out = frames.per_frame(self._centre_frames(), v, atoms.n_frames, statistic)
        return _stack.stack_signal(
            out,
            atoms.navigation,
            names,
            units=units,
            axis_name="value",
            title=f"{statistic} per frame of {self.metadata.General.title}",
        )

    @staticmethod
    def _renamed(signal, names):
        """Per-frame statistics of columns, renamed by ``names`` when given."""
        if names is None:
            return signal
        have = list(signal.metadata.get_item("Signal.names", []))
        if len(names) != len(have):
            raise ValueError(
                f"`names` has {len(names)} names for {len(have)} values per centre."
            )
        signal.metadata.set_item("Signal.names", [str(n) for n in names])
        return signal

    # ------------------------------------------------------------------ maps
    def _per_centre(self, values, name):
        try:
            v = check_array(values.data if _is_signal(values) else values, name)
        except TypeError:
            raise TypeError(
                f"`{name}` must be numbers, one per centre atom, got {values!r:.60}."
            ) from None
        v = v.ravel()
        n = self._n_rows()
        if v.shape != (n,):
            raise ValueError(f"`{name}` has {v.size} values for {n} centre atoms.")
        return v

    def get_map(
        self,
        values,
        max_distance=None,
        frame=None,
        quantity="Value",
        categorical=False,
        names=None,
        step=1,
    ):
        """Rasterise per-centre values on the image's calibrated grid.

        Each pixel takes the value of its nearest centre atom (Voronoi
        cells); pixels farther than ``max_distance`` from every centre are
        NaN. For a stack, each frame's centres make that frame's map.

        Parameters
        ----------
        values : array_like or signal
            One value per centre (row), e.g. cluster labels or loadings.
        max_distance : float, optional
            Calibrated units, positive and finite; default the median
            nearest-neighbour distance.
        frame : int or tuple of int, optional
            For a stack: one frame (flat index or navigation indices); by
            default every frame, as a stack on the source's navigation axes.
        quantity : str
            What the values are, with their units (``metadata.Signal.quantity``,
            the colour bar's label), e.g. ``"Displacement (pm)"``.
        categorical : bool
            The values are integer class labels (-1: none), e.g. sublattice,
            site class or phase: the map is marked categorical
            (:func:`~hyperspy_localcryst.signals._plotting.set_categorical`),
            so :func:`~hyperspy_localcryst.signals._plotting.plot_map` draws
            each label in its class colour (the markers' colour) with a
            legend of the atom counts.
        names : sequence of str, optional
            With ``categorical``: the name of each label 0, 1, ...
        step : int
            Every ``step``-th pixel along both axes (a positive integer): the
            map of the whole image is ``step``² times smaller and its pixels
            are those of the full map, ``full.data[..., ::step, ::step]`` —
            a quick map to draw a large image at screen resolution.

        Returns
        -------
        hyperspy.api.signals.Signal2D
            On the grid of the source image (same axes and units; the scale
            ``step`` times the image's), with ``metadata.Signal.quantity``.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.get_map(np.arange(len(nb.data))).data.shape
        (128, 128)
        >>> nb.get_map(np.arange(len(nb.data)), step=4).data.shape
        (32, 32)
        """
        v = self._per_centre(values, "values")
        if max_distance is not None:  # 0 would give a map of NaN only
            max_distance = _check_length(max_distance, "max_distance")
        else:
            try:
                r = np.linalg.norm(self.get_vectors("local"), axis=-1)[:, 0]
            except ValueError:  # components sliced apart: the atoms' own spacing
                r = np.array([self.atoms._nn_distance() or np.nan])
            r = r[np.isfinite(r)]
            max_distance = float(np.median(r)) if r.size else np.inf
        return rasterise(
            self.get_centres(),
            v,
            max_distance,
            frame,
            quantity,
            categorical,
            names,
            step,
            grid_name=f"metadata.{_KEY}.atoms.metadata.AtomPositions.grid",
        )

    def get_cluster_map(self, max_distance=None, frame=None):
        """The cluster label of the nearest centre atom at every pixel.

        ``max_distance`` and ``frame`` as in :meth:`get_map` (a stack gives
        one map per frame).

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Labels 0..K-1 as ``get_cluster_labels(merged=True)``, NaN away
            from atoms; categorical (``metadata.Map``: names and atom counts
            of the labels, quantity ``"Cluster label"``), so
            :func:`~hyperspy_localcryst.signals._plotting.plot_map` and
            :meth:`plot_cluster_results` draw each cluster in the colour of
            :meth:`get_cluster_markers`, with a legend.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> float(np.nanmax(nb.get_cluster_map().data)) <= 1
        True
        """
        s = self.get_map(
            self._labels(), max_distance, frame, "Cluster label", categorical=True
        )
        s.metadata.General.title = "Cluster map"
        return s

    def get_loading_map(
        self, component, max_distance=None, frame=None, results="decomposition"
    ):
        """Loading of one component at every pixel (nearest atom).

        ``max_distance`` and ``frame`` as in :meth:`get_map`.

        Parameters
        ----------
        component : int
            Index of the component.
        max_distance, frame
            See :meth:`get_map`.
        results : {"decomposition", "bss"}
            Read the decomposition's loadings, or those of the blind source
            separation (``blind_source_separation``, e.g. ICA).

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Quantity ``"Loading (a.u.)"`` (``"BSS loading (a.u.)"``).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> nb.get_loading_map(1).data.shape
        (128, 128)
        """
        what = "BSS loading" if results == "bss" else "Loading"
        s = self.get_map(
            self._loading(component, results), max_distance, frame, f"{what} (a.u.)"
        )
        s.metadata.General.title = f"{what} map of component {component}"
        return s

    def _learned(self, results="decomposition"):
        """Loadings (n_rows, m) and factors (n_components, m) of the
        decomposition or of the blind source separation, checked to be of
        these rows and components."""
        if not isinstance(results, str) or results not in ("decomposition", "bss"):
            raise ValueError(
                f"Unknown `results` {results!r:.60}: 'decomposition' or 'bss'."
            )
        lr = self._decomposition()
        if results == "decomposition":
            return np.asarray(lr.loadings), np.asarray(lr.factors)
        if lr.bss_loadings is None or lr.bss_factors is None:
            raise ValueError(
                "No blind source separation results: run `blind_source_separation` "
                "after `decomposition` first."
            )
        loadings, factors = np.asarray(lr.bss_loadings), np.asarray(lr.bss_factors)
        if loadings.shape[0] != lr.loadings.shape[0] or (
            factors.shape[0] != lr.factors.shape[0]
        ):
            raise ValueError(
                "The blind source separation results do not match the "
                "decomposition; run `blind_source_separation` again."
            )
        return loadings, factors

    def _loading(self, component, results="decomposition"):
        loadings, _ = self._learned(results)
        component = check_integer(component, "component")
        if not 0 <= component < loadings.shape[1]:
            raise ValueError(
                f"`component` {component} is out of range (0..{loadings.shape[1] - 1})."
            )
        return np.asarray(loadings[:, component])

    def get_markers(self, values, cmap="viridis", size=None, **kwargs):
        """Centre atoms as markers coloured by per-centre values.

        Parameters
        ----------
        values : array_like or signal
            One value per centre.
        cmap : str
        size : float, optional
            See :meth:`AtomPositions.to_markers`.
        **kwargs
            Passed to ``Points``.

        Returns
        -------
        hyperspy.api.plot.markers.Points

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> type(nb.get_markers(np.zeros(len(nb.data)))).__name__
        'Points'
        """
        v = self._per_centre(values, "values")
        c = self.get_centres().add_columns({"_value": v})
        return c.to_markers(colour_by="_value", cmap=cmap, size=size, **kwargs)

    def get_cluster_markers(self, cmap=None, size=None, **kwargs):
        """Centre atoms as markers coloured by cluster.

        Parameters
        ----------
        cmap : str or matplotlib.colors.Colormap, optional
            Colours by cluster index. Default: the class palette of every
            figure (:func:`~hyperspy_localcryst.signals._plotting.class_colours`;
            a centre in no cluster is grey), so the markers match the
            report's maps and :meth:`plot_dendrogram`.
        size : float, optional
            Marker size (see :meth:`AtomPositions.to_markers`).
        **kwargs
            Passed to :meth:`AtomPositions.to_markers`.

        Returns
        -------
        hyperspy.api.plot.markers.Points

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> type(nb.get_cluster_markers()).__name__
        'Points'
        """
        from .._plotting import label_colours
        from ..positions.markers import _colormap

        labels = self._labels()
        if cmap is None:
            colours = label_colours(labels)
        else:
            cm = _colormap(cmap)
            colours = cm(np.mod(labels, cm.N))
        return self.get_centres().to_markers(size=size, color=colours, **kwargs)

    def get_cluster_fft(self, shape=None, window=True, max_frequency=None):
        """Per cluster, the power spectrum of its centre atoms' point pattern.

        Sharp spots mean a periodic site class; a diffuse ring means
        disordered positions (e.g. a boundary). ``metadata.Signal``
        ``periodicity`` lists the peak-to-median power ratio per cluster.

        Parameters
        ----------
        shape : tuple of int, optional
            FFT size (ny, nx); default the image shape. Refused (with the
            memory it would take) beyond 2**27 cells or the memory available.
        window : bool
            Apply a Hann window.
        max_frequency : float, optional
            Keep only the frequencies with ``|kx|`` and ``|ky|`` up to this
            (inverse calibrated units, positive), e.g. 1.5 × the first-order
            spots: a small signal for a large image (the periodicity scores
            are still those of the whole spectrum). Default: every frequency.

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Navigation axis ``cluster``; signal axes in inverse image units,
            zero frequency at the centre (axis value 0 at index ``n // 2`` of
            the whole spectrum's ``n``).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> nb.get_cluster_fft().axes_manager.navigation_shape
        (2,)
        >>> step = nb.get_cluster_fft().axes_manager.signal_axes[0].scale  # 1/nm
        >>> nb.get_cluster_fft(max_frequency=12 * step).data.shape  # 12 steps
        (2, 25, 25)
        """
        window = check_bool(window, "window")
        if max_frequency is not None:
            max_frequency = _check_length(max_frequency, "max_frequency")
        lab = self._labels()
        grid = self.atoms.grid
        if shape is None:
            shape = (grid["y"]["size"], grid["x"]["size"])
        else:
            shape = _check_shape(shape)
        n_clusters = int(lab.max()) + 1
        # one power spectrum per cluster, plus the complex FFT of one (2 arrays)
        _check_grid(*shape, n_clusters + 2, "shape", shape, "shape gives a grid")
        xp, yp = self.get_centres().get_pixel_positions()
        ps = pixel_scale(grid)
        # the kept window: whole-spectrum index n // 2 is zero frequency
        keep = []
        for n in shape:
            half = n // 2
            if max_frequency is not None:
                half = min(half, int(np.floor(max_frequency * n * ps + 1e-9)))
            keep.append(slice(n // 2 - half, min(n, n // 2 + half + 1)))
        spectra, score = [], []
        for i in range(n_clusters):
            m = lab == i
            p = point_patterns.point_pattern_fft(xp[m], yp[m], shape, window=window)
            score.append(float(point_patterns.fft_periodicity(p)))
            # (a copy of the kept window, so the whole spectrum is freed)
            spectra.append(p if max_frequency is None else p[tuple(keep)].copy())
            del p
        s = Signal2D(np.stack(spectra))
        s.axes_manager.navigation_axes[0].name = "cluster"
        units = grid["x"]["units"]
        for ax, n, cut in zip(
            s.axes_manager.signal_axes, (shape[1], shape[0]), (keep[1], keep[0])
        ):
            ax.scale = 1.0 / (n * ps)
            ax.offset = (cut.start - n // 2) / (n * ps)
            ax.units = f"1/{units}" if units else ""
        s.axes_manager.signal_axes[0].name = "kx"
        s.axes_manager.signal_axes[1].name = "ky"
        s.metadata.General.title = "Power spectrum of each cluster's positions"
        s.metadata.Signal.quantity = "Power (a.u.)"
        s.metadata.set_item("Signal.periodicity", score)
        return s

    def get_vector_histogram(self, bins=101, extent=None, by_cluster=False):
        """2D histogram of all neighbour vectors (image frame), calibrated.

        With many neighbours (e.g. 50) this is the 2D pair-correlation
        function of the atom positions.

        Parameters
        ----------
        bins : int or (int, int)
            Number of bins, or ``(nx, ny)``; refused (with the memory it
            would take) beyond 2**27 cells or the memory available.
        extent : tuple of float, optional
            ``(xmin, xmax, ymin, ymax)`` in calibrated units; symmetric
            about 0 and covering all vectors by default.
        by_cluster : bool
            One histogram per cluster (navigation axis ``cluster``), on a
            common extent.

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Counts; axes ``dx`` and ``dy`` in the image's units.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> h = nb.get_vector_histogram(bins=21)
        >>> int(h.data.sum()) == 4 * len(nb.data)
        True
        """
        by_cluster = check_bool(by_cluster, "by_cluster")
        nx, ny = _check_bins(bins)
        if extent is not None:
            extent = _check_extent(extent)
        lab = self._labels() if by_cluster else None
        n_hist = int(lab.max()) + 2 if by_cluster else 1
        _check_grid(ny, nx, n_hist, "bins", bins, "bins gives a grid")
        v = self.get_vectors("image")
        counts, extent = point_patterns.vector_histogram(
            v, bins=(nx, ny), extent=extent
        )
        if by_cluster:
            counts = np.stack(
                [
                    point_patterns.vector_histogram(
                        v[lab == i], bins=bins, extent=extent
                    )[0]
                    for i in range(int(lab.max()) + 1)
                ]
            )
        s = Signal2D(counts)
        ny, nx = counts.shape[-2:]
        units = self.metadata.get_item(f"{_KEY}.units", "") or "px"
        for ax, (lo, hi, n, name) in zip(
            s.axes_manager.signal_axes,
            ((extent[0], extent[1], nx, "dx"), (extent[2], extent[3], ny, "dy")),
        ):
            ax.scale = (hi - lo) / n
            ax.offset = lo + 0.5 * (hi - lo) / n
            ax.units = units
            ax.name = name
        if by_cluster:
            s.axes_manager.navigation_axes[0].name = "cluster"
        s.metadata.General.title = "Neighbour-vector histogram"
        s.metadata.Signal.quantity = "Counts"
        return s
