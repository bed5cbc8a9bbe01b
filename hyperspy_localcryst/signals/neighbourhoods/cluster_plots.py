"""HyperSpy's cluster plots, with labels and distances drawn as maps at the
atoms and the centres as neighbour-vector patterns."""

from __future__ import annotations

import warnings

import numpy as np

from .._grid import (
    check_bool,
)
from .._plotting import plot_map
from . import _KEY


class ClusterPlotsMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_neighbourhoods.
    AtomNeighbourhoods` (the class inherits them; see the module docstring)."""

    def _cluster_ids(self, cluster_ids):
        n = int(self.learning_results.number_of_clusters or 0)
        self._labels()  # clustering done, on these rows
        if cluster_ids is None:
            return list(range(n))
        return self._component_ids(cluster_ids, n, "clusters", "cluster_ids")

    def plot_cluster_labels(
        self,
        cluster_ids=None,
        calibrate=True,
        same_window=True,
        with_centers=False,
        cmap=None,
        no_nans=False,
        per_row=3,
        axes_decor="all",
        title=None,
        **kwargs,
    ):
        """Draw each cluster's atoms as a map, in the cluster's colour.

        HyperSpy's view, on the image grid: for each cluster, the pixels
        nearest its centre atoms are drawn in the cluster's class colour
        (that of :meth:`get_cluster_markers`), those of other clusters'
        atoms grey, with a legend of the counts. HyperSpy would draw the
        labels against the atom index. :meth:`plot_cluster_results` draws
        all clusters on one map.

        Parameters
        ----------
        cluster_ids : None, int or list of int
            None: all clusters; an int n: 0..n-1; a list: those.
        calibrate, same_window, no_nans, per_row, axes_decor, title, **kwargs
            See :meth:`plot_decomposition_loadings`.
        with_centers : bool
            Also draw the clusters' mean neighbourhoods (neighbour-vector
            patterns, class colours).
        cmap : None
            Accepted for HyperSpy's signature; clusters always take their
            class colours.

        Returns
        -------
        matplotlib.figure.Figure or list of Figure
            ``(figure(s), centres figure)`` with ``with_centers``.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> fig = nb.plot_cluster_labels()
        >>> len(fig.axes)
        2
        """
        ids = self._cluster_ids(cluster_ids)
        max_distance, frame, scale_bar = self._view_options(kwargs)
        lab = self._labels()
        maps, titles = [], []
        for c in ids:
            m = self.get_map(
                np.where(lab == c, c, -1),
                max_distance,
                frame,
                "Cluster label",
                categorical=True,
            )
            m.metadata.set_item("Map.none_name", "other clusters")
            if no_nans:
                m.data = np.nan_to_num(m.data, nan=-1)
            maps.append(
                m if check_bool(calibrate, "calibrate") else self._uncalibrated(m)
            )
            titles.append(
                f"Cluster {c}" + ("" if frame is None else f" (frame {frame})")
            )
        if title is None:
            title = self._view_title("Cluster labels")
        figs = self._draw_maps(
            maps,
            titles,
            check_bool(same_window, "same_window"),
            per_row,
            title,
            {"axes_decor": axes_decor, "scale_bar": scale_bar},
        )
        if check_bool(with_centers, "with_centers"):
            return figs, self.plot_cluster_centres(ids)
        return figs

    def plot_cluster_centres(self, cluster_ids=None):
        """The mean neighbourhood of each cluster, in its class colour.

        Each cluster's mean neighbour vectors (stored frame, NaN for missing
        neighbours left out) are drawn as points around the centre (``+``),
        in the colour of the cluster's markers and maps.

        Parameters
        ----------
        cluster_ids : None, int or list of int
            None: all clusters; an int n: 0..n-1; a list: those.

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
        >>> nb.cluster_analysis(n_clusters=2)
        >>> len(nb.plot_cluster_centres().axes[0].lines)
        3
        """
        import matplotlib.pyplot as plt

        from .._plotting import class_colours

        ids = self._cluster_ids(cluster_ids)
        lab = self._labels()
        v = self.get_vectors("local")
        colours = class_colours(max(ids) + 1)
        units = self.metadata.get_item(f"{_KEY}.units", "") or "px"
        fig, ax = plt.subplots(figsize=(4.6, 4.2))
        ax.plot([0], [0], "k+", ms=9)
        for c in ids:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an empty class
                mean = np.nanmean(v[lab == c], axis=0)
            ax.plot(
                mean[:, 0],
                mean[:, 1],
                "o",
                color=colours[c],
                ms=7,
                mfc="none",
                mew=2,
                label=f"cluster {c} ({int(np.sum(lab == c))})",
            )
        ax.set_aspect("equal")
        ax.invert_yaxis()
        ax.set_xlabel(f"dx ({units})")
        ax.set_ylabel(f"dy ({units})")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        ax.set_title("Mean neighbourhood of each cluster", fontsize=9)
        fig.tight_layout()
        return fig

    def get_cluster_distance_maps(
        self, cluster_ids=None, max_distance=None, frame=None
    ):
        """Each centre's distance to each cluster's centroid, as maps.

        Parameters
        ----------
        cluster_ids : None, int or list of int
            None: all clusters; an int n: 0..n-1; a list: those.
        max_distance, frame
            As :meth:`get_map`.

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Last navigation axis ``"Cluster index"``; quantity
            ``"Distance to cluster centre"`` (in the units of the features
            clustered).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> nb.get_cluster_distance_maps().data.shape
        (2, 128, 128)
        """
        ids = self._cluster_ids(cluster_ids)
        d = np.asarray(self.learning_results.cluster_distances, dtype=float)
        maps = [
            self.get_map(d[c], max_distance, frame, "Distance to cluster centre")
            for c in ids
        ]
        out = self._stack_maps(maps, "Cluster index")
        out.metadata.set_item("Map.components", ids)
        out.metadata.General.title = (
            f"Distances to the cluster centres of {self.metadata.General.title}"
        )
        return out

    def plot_cluster_distances(
        self,
        cluster_ids=None,
        calibrate=True,
        same_window=True,
        with_centers=False,
        cmap="viridis",
        no_nans=False,
        per_row=3,
        axes_decor="all",
        title=None,
        **kwargs,
    ):
        """Draw each centre's distance to each cluster centroid as maps.

        Parameters
        ----------
        cluster_ids, calibrate, same_window, with_centers, no_nans, per_row, \
axes_decor, title, **kwargs
            See :meth:`plot_cluster_labels`.
        cmap : str or matplotlib.colors.Colormap
            Colormap of the distances.

        Returns
        -------
        matplotlib.figure.Figure or list of Figure
            ``(figure(s), centres figure)`` with ``with_centers``.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> fig = nb.plot_cluster_distances()
        >>> fig.axes[-1].get_ylabel()
        'Distance to cluster centre'
        """
        ids = self._cluster_ids(cluster_ids)
        max_distance, frame, scale_bar = self._view_options(kwargs)
        d = np.asarray(self.learning_results.cluster_distances, dtype=float)
        maps, titles = [], []
        for c in ids:
            m = self.get_map(d[c], max_distance, frame, "Distance to cluster centre")
            if no_nans:
                m.data = np.nan_to_num(m.data)
            maps.append(
                m if check_bool(calibrate, "calibrate") else self._uncalibrated(m)
            )
            titles.append(
                f"Distance to cluster {c}"
                + ("" if frame is None else f" (frame {frame})")
            )
        if title is None:
            title = self._view_title("Cluster distances")
        figs = self._draw_maps(
            maps,
            titles,
            check_bool(same_window, "same_window"),
            per_row,
            title,
            {"cmap": cmap, "axes_decor": axes_decor, "scale_bar": scale_bar},
        )
        if check_bool(with_centers, "with_centers"):
            return figs, self.plot_cluster_centres(ids)
        return figs

    def plot_cluster_results(
        self,
        centers_navigator="smart_auto",
        labels_navigator="smart_auto",
        centers_dim=2,
        labels_dim=2,
    ):
        """HyperSpy's clustering view with the labels and distances as maps.

        Draws the cluster map (:meth:`get_cluster_map`: every cluster in its
        class colour, the markers' colour, with a legend of the counts; a
        stack shows frame 0), then, as HyperSpy, the distances to each
        cluster's centroid (as maps, :meth:`get_cluster_distance_maps`) with
        a slider over the clusters and the cluster centres
        (``get_cluster_signals``) following it.

        Parameters
        ----------
        centers_navigator, labels_navigator, centers_dim, labels_dim
            As HyperSpy's (see :meth:`plot_decomposition_results`).

        Returns
        -------
        (matplotlib.image.AxesImage, hyperspy.api.signals.Signal2D, \
hyperspy.api.signals.BaseSignal)
            The cluster map drawn, the distance maps and the centres
            (HyperSpy returns None).

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> im, distances, centres = nb.plot_cluster_results()
        >>> im.axes.get_legend().get_title().get_text()
        'Cluster label'
        """
        frame = 0 if self.atoms.n_frames > 1 else None
        im = plot_map(
            self.get_cluster_map(frame=frame),
            title="Cluster map" + ("" if frame is None else " (frame 0)"),
        )
        maps, centres = self._plot_results(
            self.get_cluster_distance_maps(),
            self.get_cluster_signals(),
            labels_navigator,
            centers_navigator,
        )
        return im, maps, centres
