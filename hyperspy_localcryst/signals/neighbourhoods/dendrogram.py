"""The hierarchy of the neighbourhoods: Ward linkage and the dendrogram."""

from __future__ import annotations

import numpy as np

from ..._docstrings import fill_doc
from ...numerics import class_count, clustering
from .._grid import (
    check_at_most,
    check_bool,
    check_integer,
)


def _node_classes(Z, labels):
    """Class of every node of linkage ``Z`` (leaves ``0 .. n - 1``, then the
    merges): the class all its rows share, or -1 where they differ."""
    n = len(labels)
    node = np.empty(2 * n - 1, dtype=np.int64)
    node[:n] = labels
    for j, (a, b) in enumerate(np.asarray(Z[:, :2], dtype=np.int64)):
        node[n + j] = node[a] if node[a] == node[b] else -1
    return node


class DendrogramMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_neighbourhoods.
    AtomNeighbourhoods` (the class inherits them; see the module docstring)."""

    def _labels(self):
        n = self._n_rows()
        lr = self.learning_results
        if getattr(lr, "cluster_labels", None) is None:
            raise ValueError("No cluster results: run `cluster_analysis` first.")
        lab = np.asarray(lr.cluster_labels)
        if lab.ndim != 2 or lab.shape[1] != n:
            raise ValueError(
                f"The cluster results label {lab.shape[-1]} rows but this signal has "
                f"{n}: it was changed after `cluster_analysis`; run "
                "`cluster_analysis` on it again."
            )
        out = np.full(lab.shape[1], -1)
        for i, row in enumerate(lab):
            out[np.asarray(row, bool)] = i
        return out

    def _decomposition(self):
        """Learning results, checked to be a decomposition of these rows."""
        n_rows = self._n_rows()
        lr = self.learning_results
        if lr.loadings is None or lr.factors is None:
            raise ValueError("No decomposition results: run `decomposition` first.")
        n_comp = self.axes_manager.signal_size
        if lr.loadings.shape[0] != n_rows or lr.factors.shape[0] != n_comp:
            raise ValueError(
                f"The decomposition results are for {lr.loadings.shape[0]} rows x "
                f"{lr.factors.shape[0]} components but this signal has {n_rows} x "
                f"{n_comp}: it was changed after `decomposition`; run "
                "`decomposition` on it again."
            )
        return lr

    @staticmethod
    def _check_linkage_arguments(source, n_samples, method, seed):
        """The arguments of :meth:`get_linkage`, checked before any work."""
        if not isinstance(source, str) or source not in ("signal", "decomposition"):
            raise ValueError(
                f"Unknown source {source!r:.60}: `source` must be 'signal' or "
                "'decomposition'."
            )
        n_samples = check_integer(n_samples, "n_samples")
        if n_samples < 2:
            raise ValueError(
                f"`n_samples` = {n_samples}: the subsample size n_samples must be "
                ">= 2 (a linkage joins at least two rows)."
            )
        if not isinstance(method, str) or method not in clustering._LINKAGE_METHODS:
            raise ValueError(
                f"Unknown `method` {method!r:.60}: the linkage method must be one of "
                f"{', '.join(clustering._LINKAGE_METHODS)}."
            )
        if seed is not None:
            check_integer(seed, "seed", minimum=0)
        return n_samples

    def _source_matrix(self, source):
        if source == "signal":
            return self._table()
        lr = self._decomposition()
        n = lr.number_significant_components or lr.loadings.shape[1]
        return np.asarray(lr.loadings[:, :n])

    @fill_doc
    def get_linkage(
        self,
        source="signal",
        n_samples=2000,
        method="ward",
        seed=0,
        leave_out_isolated=True,
    ):
        """Hierarchical clustering (scipy linkage) of the neighbourhoods.

        Up to ``n_samples`` rows are clustered; larger data sets are
        represented by a random subsample of that many centres (seeded), so
        this stays quick on 100,000 atoms. Rows isolated in feature space
        (neighbourhoods at defects and edges, see
        :func:`~hyperspy_localcryst.numerics.class_count.isolated_rows`) are
        left out by default, as :meth:`find_site_classes` leaves them out of
        its splits: a few of them, far from every other row, would otherwise
        make the top merges of the tree (on the bundled PbTiO3/SrRuO3 image,
        17 such centres made a Ward cut into 3 clusters of 708, 8 and 7
        centres; without them 386, 179 and 141).

        Parameters
        ----------
        source : {"signal", "decomposition"}
            The neighbour vectors, or the loadings of the significant
            components of a previous decomposition.
        n_samples : int
            Largest number of rows clustered.
        method : str
            scipy linkage method (``"ward"``, ``"average"``, ...).
        %(SEED_ARG)s
            Here: the subsample.
        leave_out_isolated : bool
            Leave out the isolated rows (when at least two rows remain).

        Returns
        -------
        Z : numpy.ndarray
            scipy linkage matrix.
        rows : numpy.ndarray of int
            The rows (navigation indices) that were clustered.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> Z, rows = atoms.get_neighbourhoods(n_neighbours=4).get_linkage()
        >>> Z.shape[0] == len(rows) - 1
        True
        """
        Z, rows, _ = self._linkage(source, n_samples, method, seed, leave_out_isolated)
        return Z, rows

    def _linkage(self, source, n_samples, method, seed, leave_out_isolated):
        """:meth:`get_linkage`, and how many isolated rows it left out."""
        n_samples = self._check_linkage_arguments(source, n_samples, method, seed)
        X = self._source_matrix(source)
        if len(X) < 2:
            raise ValueError(
                "Hierarchical clustering needs at least 2 rows (centre atoms); this "
                f"signal has {len(X)} (e.g. from `nb.inav[k]`)."
            )
        ok = np.isfinite(X).all(axis=1)
        if not ok.all():
            raise ValueError(
                f"{int((~ok).sum())} row(s) have missing neighbours; use "
                "`fill_missing()` first."
            )
        leave_out_isolated = check_bool(leave_out_isolated, "leave_out_isolated")
        keep = np.arange(len(X))
        if leave_out_isolated:
            inliers = np.flatnonzero(~class_count.isolated_rows(X))
            if inliers.size >= 2:
                keep = inliers
        Z, idx = clustering.linkage_sample(
            X[keep], n_samples=n_samples, method=method, seed=seed
        )
        return Z, keep[idx], len(X) - len(keep)

    def plot_dendrogram(
        self,
        n_clusters=None,
        source="signal",
        n_samples=2000,
        method="ward",
        seed=0,
        ax=None,
        truncate=30,
        leave_out_isolated=True,
    ):
        """Dendrogram of the neighbourhoods, to choose the number of clusters.

        The y axis is the separation (linkage distance) at which clusters
        merge: a long vertical gap before a merge means well separated
        clusters. Large data sets are represented by a random subsample of
        ``n_samples`` centres (see :meth:`get_linkage`).

        Branches and leaf labels take the colour of the class their centres
        belong to, in the palette of every other figure
        (:func:`~hyperspy_localcryst.signals._plotting.class_colours`): the
        cluster results when there are some (e.g. from
        :meth:`find_site_classes`), else the cut into ``n_clusters``; a
        branch over centres of several classes is drawn dark grey. Every leaf
        is labelled with its number of centres, ``(n)``.

        Parameters
        ----------
        n_clusters : int, optional
            Draw the cut that gives this many clusters (at most the number
            of centres clustered).
        source, n_samples, method, seed, leave_out_isolated
            See :meth:`get_linkage` (the x label says how many isolated
            centres were left out).
        ax : matplotlib.axes.Axes, optional
        truncate : int
            Show only the last ``truncate`` merges (0 = all leaves).

        Returns
        -------
        matplotlib.axes.Axes

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> ax = atoms.get_neighbourhoods(n_neighbours=4).plot_dendrogram(2)
        >>> ax.get_ylabel()
        'cluster separation (linkage distance)'
        """
        import matplotlib.pyplot as plt
        from matplotlib.axes import Axes
        from matplotlib.colors import to_hex
        from matplotlib.lines import Line2D
        from scipy.cluster.hierarchy import dendrogram

        from .._plotting import class_colours

        if n_clusters is not None:
            n_clusters = check_integer(n_clusters, "n_clusters")
            if n_clusters < 1:
                raise ValueError(
                    f"`n_clusters` = {n_clusters} cannot cut the dendrogram: "
                    "n_clusters must be >= 1."
                )
        if ax is not None and not isinstance(ax, Axes):
            raise TypeError(f"`ax` must be a Matplotlib Axes or None, got {ax!r:.60}.")
        truncate = check_integer(truncate, "truncate", minimum=0)
        n_samples = self._check_linkage_arguments(source, n_samples, method, seed)
        if n_clusters is not None:
            m = min(n_samples, self._n_rows())  # the rows the linkage clusters
            check_at_most(n_clusters, "n_clusters", m, "centre atoms clustered")
        Z, rows, n_iso = self._linkage(
            source, n_samples, method, seed, leave_out_isolated
        )
        thr = None
        if n_clusters is not None:
            thr = clustering.linkage_threshold(Z, n_clusters)
        labels = self._dendrogram_labels(rows, Z, n_clusters)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        kw = {"truncate_mode": "lastp", "p": truncate} if truncate else {}
        node = _node_classes(Z, labels)
        n = len(rows)
        colours = class_colours(int(labels.max()) + 1 if len(labels) else 0)
        mixed = "#222222"

        drawn = set()

        def link_colour(i):
            c = node[i]
            drawn.add(int(c))
            return mixed if c < 0 else to_hex(colours[c])

        def leaf_label(i):  # every leaf in one format: its number of centres
            return f"({1 if i < n else int(Z[i - n, 3])})"

        tree = dendrogram(
            Z,
            ax=ax,
            no_labels=n > 60 and not truncate,
            link_color_func=link_colour,
            leaf_label_func=leaf_label,
            above_threshold_color=mixed,
            **kw,
        )
        for text, leaf in zip(ax.get_xticklabels(), tree["leaves"]):
            c = node[leaf]
            text.set_color(mixed if c < 0 else colours[c])
        present = np.unique(labels[labels >= 0])
        if present.size:
            ax.legend(
                handles=[
                    Line2D([], [], color=colours[c], lw=2, label=f"class {c}")
                    for c in present
                ]
                + [Line2D([], [], color=mixed, lw=2, label="mixed")] * (-1 in drawn),
                fontsize=7,
                loc="upper right",
                title="branch: centres of",
                title_fontsize=7,
            )
        if thr is not None:
            ax.axhline(thr, color="k", ls="--", lw=1)
        ax.set_ylabel("cluster separation (linkage distance)")
        sub = "" if len(rows) + n_iso == self._n_rows() else " (subsample)"
        iso = f"; {n_iso} isolated left out" if n_iso else ""
        ax.set_xlabel(f"{len(rows)} centre atoms{sub}{iso}")
        ax.set_title(f"{method} linkage of {self.metadata.General.title}")
        return ax

    def _dendrogram_labels(self, rows, Z, n_clusters):
        """Class of each clustered row: the cluster results when there are
        some (the classes of every other figure), else the cut of ``Z`` into
        ``n_clusters`` (label 0 the largest), else none (-1)."""
        lr = self.learning_results
        if getattr(lr, "cluster_labels", None) is not None:
            try:
                return self._labels()[rows]
            except ValueError:
                pass
        if n_clusters is not None:
            return clustering.cut_linkage(Z, n_clusters)
        return np.full(len(rows), -1)
