"""HyperSpy's decomposition and BSS plots, with the loadings drawn as maps at
the atoms and the factors as neighbour-vector patterns."""

from __future__ import annotations

import numpy as np
from hyperspy.signals import Signal2D

from .._grid import (
    check_bool,
    check_integer,
)
from .._plotting import plot_map
from .maps import _check_grid


class LearningPlotsMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_neighbourhoods.
    AtomNeighbourhoods` (the class inherits them; see the module docstring)."""

    # ------------------------------------------- HyperSpy's views, as maps
    # HyperSpy draws loadings, BSS loadings and cluster labels against the
    # navigation index, here the atom index; on atom signals they are drawn
    # where the atoms are: per-centre values rasterised on the image grid
    # (:meth:`get_map`), in calibrated units, with a labelled colour bar or,
    # for cluster labels, the class colours and a legend.
    def _component_ids(self, comp_ids, n_max, results, name="comp_ids"):
        """HyperSpy's ``comp_ids``: None (all, or the decomposition's
        ``output_dimension``), an int n (0..n-1) or a list of indices."""
        if comp_ids is None:
            n = self.learning_results.output_dimension
            n = n if results == "decomposition" and n else n_max
            return list(range(min(int(n), n_max)))
        if isinstance(comp_ids, (int, np.integer)) and not isinstance(comp_ids, bool):
            comp_ids = range(check_integer(comp_ids, name, minimum=1))
        elif not isinstance(comp_ids, (list, tuple, range, np.ndarray)):
            raise TypeError(
                f"`{name}` must be None, a number of components or a list of "
                f"component indices, got {comp_ids!r:.60}."
            )
        ids = [check_integer(c, name) for c in comp_ids]
        if not ids or not all(0 <= c < n_max for c in ids):
            raise ValueError(f"`{name}` must be indices in 0..{n_max - 1}, got {ids}.")
        return ids

    def _view_options(self, kwargs, frame_default=True):
        """``max_distance``, ``frame`` and ``scale_bar`` from ``**kwargs``
        (the only extra arguments the views take); a stack's maps show
        frame 0 unless a ``frame`` is given."""
        unknown = set(kwargs) - {"max_distance", "frame", "scale_bar"}
        if unknown:
            raise TypeError(
                f"Unexpected keyword argument(s) {sorted(unknown)}: the map views "
                "take `max_distance`, `frame` and `scale_bar` besides HyperSpy's."
            )
        frame = kwargs.get("frame")
        if frame is None and frame_default and self.atoms.n_frames > 1:
            frame = 0
        return kwargs.get("max_distance"), frame, kwargs.get("scale_bar", False)

    @staticmethod
    def _stack_maps(maps, name):
        """Maps (same grid) as one signal whose last navigation axis,
        ``name``, runs over them."""
        import hyperspy.api as hs

        if len(maps) == 1:
            s = maps[0].deepcopy()
            out = Signal2D(
                s.data[None],
                axes=[{"size": 1, "name": name, "navigate": True}]
                + [
                    {
                        "size": a.size,
                        "scale": a.scale,
                        "offset": a.offset,
                        "units": a.units,
                        "name": a.name,
                        "navigate": a.navigate,
                    }
                    for a in reversed(s.axes_manager.navigation_axes)
                ]
                + [
                    {
                        "size": a.size,
                        "scale": a.scale,
                        "offset": a.offset,
                        "units": a.units,
                        "name": a.name,
                        "navigate": False,
                    }
                    for a in reversed(s.axes_manager.signal_axes)
                ],
            )
        else:
            out = hs.stack(
                maps, new_axis_name=name, stack_metadata=False, show_progressbar=False
            )
        for key in ("Signal", "Map"):
            if maps[0].metadata.has_item(key):
                out.metadata.set_item(key, maps[0].metadata.get_item(key))
        return out

    def _view_title(self, base):
        """``base of <title>``, or ``base`` for an untitled signal."""
        title = self.metadata.General.title
        return f"{base} of {title}" if title else base

    @staticmethod
    def _uncalibrated(signal):
        """A copy of a map in pixels (HyperSpy's ``calibrate=False``)."""
        s = signal.deepcopy()
        for ax in s.axes_manager.signal_axes:
            ax.scale, ax.offset, ax.units = 1.0, 0.0, "px"
        return s

    def _draw_maps(self, maps, titles, same_window, per_row, title, plot_kw):
        """One figure of panels (``same_window``) or one figure per map."""
        import matplotlib.pyplot as plt

        per_row = check_integer(per_row, "per_row", minimum=1)
        if not same_window:
            figs = []
            for m, t in zip(maps, titles):
                im = plot_map(m, title=t, **plot_kw)
                figs.append(im.axes.figure)
            return figs
        n = len(maps)
        cols = min(per_row, n)
        rows = -(-n // cols)
        fig, axes = plt.subplots(
            rows, cols, figsize=(4.6 * cols, 3.9 * rows), squeeze=False
        )
        for ax, m, t in zip(axes.ravel(), maps, titles):
            plot_map(m, ax=ax, title=t, **plot_kw)
        for ax in axes.ravel()[n:]:
            ax.axis("off")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig

    def _plot_loading_maps(
        self,
        results,
        comp_ids,
        calibrate,
        same_window,
        title,
        with_factors,
        cmap,
        no_nans,
        per_row,
        axes_decor,
        kwargs,
    ):
        loadings, _ = self._learned(results)
        ids = self._component_ids(comp_ids, loadings.shape[1], results)
        max_distance, frame, scale_bar = self._view_options(kwargs)
        what = "BSS loading" if results == "bss" else "Loading"
        maps, titles = [], []
        for c in ids:
            m = self.get_loading_map(c, max_distance, frame, results)
            if no_nans:
                m.data = np.nan_to_num(m.data)
            maps.append(
                m if check_bool(calibrate, "calibrate") else self._uncalibrated(m)
            )
            titles.append(
                f"{what} {c}" + ("" if frame is None else f" (frame {frame})")
            )
        if title is None:
            kind = "BSS loadings" if results == "bss" else "Decomposition loadings"
            title = self._view_title(kind)
        plot_kw = {
            "cmap": cmap,
            "axes_decor": axes_decor,
            "scale_bar": scale_bar,
            "symmetric": True,
        }
        figs = self._draw_maps(
            maps,
            titles,
            check_bool(same_window, "same_window"),
            per_row,
            title,
            plot_kw,
        )
        if check_bool(with_factors, "with_factors"):
            return figs, self.plot_modes(ids, results=results)
        return figs

    def plot_decomposition_loadings(
        self,
        comp_ids=None,
        calibrate=True,
        same_window=True,
        title=None,
        with_factors=False,
        cmap=None,
        no_nans=False,
        per_row=3,
        axes_decor="all",
        **kwargs,
    ):
        """Draw decomposition loadings as maps where the atoms are.

        HyperSpy's view, on the image grid: each component's loadings are
        rasterised at the centre atoms' calibrated positions
        (:meth:`get_loading_map`, nearest centre within ``max_distance``),
        axes in the image's units, colour bar ``"Loading (a.u.)"``
        (symmetric about 0). HyperSpy would draw them against the atom index.

        Parameters
        ----------
        comp_ids : None, int or list of int
            None: the decomposition's ``output_dimension`` components when it
            was given, else all; an int n: components 0..n-1; a list: those.
        calibrate : bool
            Calibrated axes (default) or pixels.
        same_window : bool
            One figure with a panel per component, or one figure each.
        title : str, optional
            Title of the figure (``same_window``).
        with_factors : bool
            Also draw the factors as neighbour-vector patterns
            (:meth:`plot_modes`).
        cmap : str or matplotlib.colors.Colormap, optional
            Default a diverging map (``"RdBu_r"``) centred on 0.
        no_nans : bool
            Draw 0 instead of NaN away from the atoms.
        per_row : int
            Panels per row (``same_window``).
        axes_decor : {"all", "ticks", "off", None}
            As HyperSpy's.
        **kwargs
            ``max_distance`` and ``frame`` (as :meth:`get_map`; a stack's
            maps show frame 0 unless given), ``scale_bar`` (bool).

        Returns
        -------
        matplotlib.figure.Figure or list of Figure
            ``(figure(s), factors figure)`` with ``with_factors``.

        See Also
        --------
        plot_decomposition_results, get_loading_maps, plot_modes

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> fig = nb.plot_decomposition_loadings(2)
        >>> [ax.get_title() for ax in fig.axes[:2]]  # then the colour bars
        ['Loading 0', 'Loading 1']
        """
        return self._plot_loading_maps(
            "decomposition",
            comp_ids,
            calibrate,
            same_window,
            title,
            with_factors,
            cmap,
            no_nans,
            per_row,
            axes_decor,
            kwargs,
        )

    def plot_bss_loadings(
        self,
        comp_ids=None,
        calibrate=True,
        same_window=True,
        title=None,
        with_factors=False,
        cmap=None,
        no_nans=False,
        per_row=3,
        axes_decor="all",
        **kwargs,
    ):
        """Draw blind source separation loadings as maps where the atoms are.

        As :meth:`plot_decomposition_loadings`, for the loadings of
        ``blind_source_separation`` (e.g. ICA); colour bar
        ``"BSS loading (a.u.)"``; ``with_factors`` draws the BSS factors
        as neighbour-vector patterns (:meth:`plot_modes` with
        ``results="bss"``).

        Parameters
        ----------
        comp_ids : None, int or list of int
            None: all BSS components; an int n: 0..n-1; a list: those.
        calibrate, same_window, title, with_factors, cmap, no_nans, per_row, \
axes_decor, **kwargs
            See :meth:`plot_decomposition_loadings`.

        Returns
        -------
        matplotlib.figure.Figure or list of Figure
            ``(figure(s), factors figure)`` with ``with_factors``.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> nb.blind_source_separation(2, print_info=False)
        >>> fig = nb.plot_bss_loadings()
        >>> fig.axes[-1].get_ylabel()
        'BSS loading (a.u.)'
        """
        return self._plot_loading_maps(
            "bss",
            comp_ids,
            calibrate,
            same_window,
            title,
            with_factors,
            cmap,
            no_nans,
            per_row,
            axes_decor,
            kwargs,
        )

    def plot_decomposition_factors(
        self, comp_ids=None, calibrate=True, same_window=True, title=None, **kwargs
    ):
        """Draw decomposition factors as neighbour-vector patterns.

        HyperSpy would draw each factor against the feature index (dx0, dy0,
        dx1, ...); on neighbourhoods a factor is a displacement of each
        neighbour, so it is drawn as arrows on the mean neighbourhood
        (:meth:`plot_modes`), with its share, amplitude, polarity and
        loading pattern in the title.

        Parameters
        ----------
        comp_ids : None, int or list of int
            None: the decomposition's ``output_dimension`` components when it
            was given, else all (at most 12); an int n: 0..n-1; a list: those.
        calibrate, same_window, title
            Accepted for HyperSpy's signature; the arrows are always in the
            image's units, in one figure, titled per mode.
        **kwargs
            ``scale``: the arrow length multiplier of :meth:`plot_modes`.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> len(nb.plot_decomposition_factors(2).axes)
        2
        """
        return self._plot_factor_patterns("decomposition", comp_ids, kwargs)

    def plot_bss_factors(
        self, comp_ids=None, calibrate=True, same_window=True, title=None, **kwargs
    ):
        """Draw blind source separation factors as neighbour-vector patterns.

        As :meth:`plot_decomposition_factors`, for the factors of
        ``blind_source_separation`` (e.g. ICA).

        Parameters
        ----------
        comp_ids : None, int or list of int
            None: all BSS components (at most 12); an int n: 0..n-1; a list.
        calibrate, same_window, title, **kwargs
            See :meth:`plot_decomposition_factors`.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> nb.blind_source_separation(2, print_info=False)
        >>> len(nb.plot_bss_factors().axes)
        2
        """
        return self._plot_factor_patterns("bss", comp_ids, kwargs)

    def _plot_factor_patterns(self, results, comp_ids, kwargs):
        unknown = set(kwargs) - {"scale"}
        if unknown:
            raise TypeError(
                f"Unexpected keyword argument(s) {sorted(unknown)}; the factor "
                "views take `scale` (arrow length multiplier)."
            )
        _, factors = self._learned(results)
        n = factors.shape[1]
        ids = self._component_ids(comp_ids, n, results)[:12]
        return self.plot_modes(ids, scale=kwargs.get("scale"), results=results)

    def get_loading_maps(
        self, comp_ids=None, results="decomposition", max_distance=None, frame=None
    ):
        """Loading maps of several components as one signal.

        Parameters
        ----------
        comp_ids : None, int or list of int
            As :meth:`plot_decomposition_loadings`.
        results : {"decomposition", "bss"}
            Decomposition or blind source separation loadings.
        max_distance, frame
            As :meth:`get_map` (a stack: every frame by default).

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Signal axes the image grid; the last navigation axis
            (``"Decomposition component index"`` or ``"BSS component
            index"``) runs over ``comp_ids`` (listed in
            ``metadata.Map.components``), after a stack's own axes.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> nb.get_loading_maps(3).data.shape
        (3, 128, 128)
        """
        loadings, _ = self._learned(results)
        ids = self._component_ids(comp_ids, loadings.shape[1], results)
        grid = self.atoms.grid
        n_frames = self.atoms.n_frames if frame is None else 1
        _check_grid(
            grid["y"]["size"],
            grid["x"]["size"],
            len(ids) * n_frames,
            "comp_ids",
            comp_ids,
            "the loading maps are a grid",
            "ask for fewer components or one `frame`",
        )
        maps = [self.get_loading_map(c, max_distance, frame, results) for c in ids]
        name = "BSS" if results == "bss" else "Decomposition"
        out = self._stack_maps(maps, f"{name} component index")
        out.metadata.set_item("Map.components", ids)
        out.metadata.General.title = (
            f"{'BSS' if results == 'bss' else 'Decomposition'} loading maps of "
            f"{self.metadata.General.title}"
        )
        return out

    def _plot_results(self, maps, factors, maps_navigator, factors_navigator):
        """HyperSpy's ``plot_*_results`` with maps: the maps with a slider
        over the component, the factors following the same index."""
        if maps_navigator == "smart_auto":
            maps_navigator = (
                "slider" if maps.axes_manager.navigation_dimension < 3 else "auto"
            )
        if factors_navigator == "smart_auto":
            factors_navigator = None
        maps.plot(navigator=maps_navigator)
        factors.plot(navigator=factors_navigator)
        comp = maps.axes_manager.navigation_axes[-1]
        follower = factors.axes_manager.navigation_axes[0]

        def follow(obj, index):
            if index < follower.size:
                follower.index = index

        comp.events.index_changed.connect(follow)
        return maps, factors

    def plot_decomposition_results(
        self,
        factors_navigator="smart_auto",
        loadings_navigator="smart_auto",
        factors_dim=2,
        loadings_dim=2,
    ):
        """HyperSpy's decomposition view with the loadings as maps.

        The loadings of each component are drawn as a map on the image grid
        (:meth:`get_loading_maps`; a slider runs over the components, and
        over the frames of a stack), the factors as HyperSpy draws them;
        moving the component slider moves the factors too.

        Parameters
        ----------
        factors_navigator, loadings_navigator : str, None or signal
            As HyperSpy's (``"smart_auto"``: a slider for the maps, none for
            the factors, which follow the maps' component).
        factors_dim, loadings_dim : int
            Accepted for HyperSpy's signature; the maps are images and the
            factors spectra.

        Returns
        -------
        (hyperspy.api.signals.Signal2D, hyperspy.api.signals.BaseSignal)
            The loading maps and the factors drawn (HyperSpy returns None).

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> maps, factors = nb.plot_decomposition_results()
        >>> maps.axes_manager.signal_shape
        (128, 128)
        """
        maps = self.get_loading_maps(None, "decomposition")
        factors = self.get_decomposition_factors()
        if maps.axes_manager.navigation_axes[-1].size < factors.axes_manager[0].size:
            factors = factors.inav[: maps.axes_manager.navigation_axes[-1].size]
        return self._plot_results(maps, factors, loadings_navigator, factors_navigator)

    def plot_bss_results(
        self,
        factors_navigator="smart_auto",
        loadings_navigator="smart_auto",
        factors_dim=2,
        loadings_dim=2,
    ):
        """HyperSpy's blind source separation view with the loadings as maps.

        As :meth:`plot_decomposition_results`, for the results of
        ``blind_source_separation`` (e.g. ICA).

        Parameters
        ----------
        factors_navigator, loadings_navigator, factors_dim, loadings_dim
            See :meth:`plot_decomposition_results`.

        Returns
        -------
        (hyperspy.api.signals.Signal2D, hyperspy.api.signals.BaseSignal)
            The BSS loading maps and the BSS factors drawn.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> nb.blind_source_separation(2, print_info=False)
        >>> maps, factors = nb.plot_bss_results()
        >>> maps.metadata.Signal.quantity
        'BSS loading (a.u.)'
        """
        maps = self.get_loading_maps(None, "bss")
        return self._plot_results(
            maps, self.get_bss_factors(), loadings_navigator, factors_navigator
        )
