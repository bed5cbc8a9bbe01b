"""The neighbourhood signal: one row of neighbour vectors per centre atom.

Data model
----------
``data`` has shape ``(n_centres, 2 k)``: row *i* is
``(dx1, dy1, dx2, dy2, ..., dxk, dyk)``, the vectors from centre *i* to its
``k`` neighbours in the image's calibrated units, ordered by the chosen
metric (see :mod:`hyperspy_localcryst.numerics.neighbourhoods`).

- Navigation axis ``atom``: a non-uniform axis whose values are the indices
  of the centre atoms in the per-atom table, so that ``inav`` slicing,
  clustering and saving keep the link from each row to its atom.
- Signal axis ``component``: index of the vector component;
  ``metadata.AtomNeighbourhoods.component_names`` names them.
- ``metadata.AtomNeighbourhoods``: ``metric``, ``n_neighbours``, ``radius``,
  ``border``, tolerances, ``units`` and ``atoms``, the whole per-atom table
  (:class:`AtomPositions`, every atom, since any atom can be a neighbour)
  with a ``rotation`` column (direction of each centre's first shell, deg)
  and ``neighbour_count``. The image grid lives in that table.

HyperSpy's learning (``decomposition``, ``cluster_analysis``,
``estimate_number_of_clusters``, ``plot_*``) runs on it unchanged and its
results are saved with the signal. Three defaults differ, for the physics:
clustering uses no preprocessing (HyperSpy's ``"norm"`` would scale every
neighbourhood to unit length and lose the bond lengths), ``"signal"`` is the
default source, and ``algorithm="kmedians"`` selects the paper's k-means
with component-wise median centroids.
"""

import warnings

import numpy as np
from hyperspy._signals.lazy_signal1d import LazySignal1D
from hyperspy.signals import Signal1D, Signal2D

from ..numerics import neighbourhoods as nbn
from ..numerics import statistics as st
from . import _stack
from ._grid import check_integer, check_number, pixel_scale
from .atom_positions import AtomPositions

__all__ = [
    "AtomNeighbourhoods",
    "LazyAtomNeighbourhoods",
    "make_neighbourhoods",
]

_KEY = "AtomNeighbourhoods"


def _extent(grid):
    """(xmin, xmax, ymin, ymax) of the imaged area (pixel edges), calibrated."""
    out = []
    for k in ("x", "y"):
        g = grid[k]
        a = g["offset"] - 0.5 * g["scale"]
        b = g["offset"] + (g["size"] - 0.5) * g["scale"]
        out += sorted((a, b))
    return tuple(out)


def make_neighbourhoods(
    atoms,
    n_neighbours=6,
    metric="distance",
    radius=None,
    exclude_border=True,
    border=None,
    angle_tolerance=10.0,
    distance_tolerance=0.1,
):
    """Neighbourhood signal of a per-atom table (see :meth:`get_neighbourhoods`).

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> nb = make_neighbourhoods(atoms, n_neighbours=4)
    >>> nb.axes_manager.signal_shape
    (8,)
    """
    grid = atoms.grid
    x, y = atoms.get_column("x"), atoms.get_column("y")
    frames = (
        atoms.get_column("frame").astype(int)
        if "frame" in atoms.columns
        else np.zeros(atoms.n_atoms, int)
    )
    parts, failed = [], []
    for f in np.unique(frames):
        sel = np.flatnonzero(frames == f)
        try:
            r = nbn.neighbour_vectors(
                x[sel],
                y[sel],
                n_neighbours=n_neighbours,
                metric=metric,
                radius=radius,
                exclude_border=exclude_border,
                extent=_extent(grid),
                border=border,
                angle_tolerance=angle_tolerance,
                distance_tolerance=distance_tolerance,
            )
        except ValueError as e:
            if len(np.unique(frames)) == 1:
                raise
            failed.append((int(f), str(e)))
            continue
        r.centres = sel[r.centres]
        r.indices = np.where(r.indices >= 0, sel[np.maximum(r.indices, 0)], -1)
        parts.append(r)
    if not parts:
        raise ValueError(
            f"No frame has neighbourhoods; frame {failed[0][0]}: {failed[0][1]}"
        )
    for f, e in failed:
        warnings.warn(
            f"Frame {f} has no neighbourhoods: {e}", RuntimeWarning, stacklevel=3
        )
    k = max(p.vectors.shape[1] for p in parts)

    def pad(a, fill):
        w = [(0, 0), (0, k - a.shape[1])] + [(0, 0)] * (a.ndim - 2)
        return np.pad(a, w, constant_values=fill)

    centres = np.concatenate([p.centres for p in parts])
    vectors = np.concatenate([pad(p.vectors, np.nan) for p in parts])
    rotation = np.concatenate([p.rotation for p in parts])
    counts = np.concatenate([p.counts for p in parts])

    units = grid["x"]["units"]
    rot_col = np.full(atoms.n_atoms, np.nan)
    rot_col[centres] = np.rad2deg(rotation)
    cnt_col = np.full(atoms.n_atoms, np.nan)
    cnt_col[centres] = counts
    table = atoms.add_columns(
        {"rotation": rot_col, "neighbour_count": cnt_col},
        {"rotation": "deg", "neighbour_count": ""},
    )
    s = AtomNeighbourhoods(
        vectors.reshape(len(centres), 2 * k),
        axes=[
            {"axis": centres.astype(float), "name": "atom", "navigate": True},
            {"size": 2 * k, "name": "component", "navigate": False},
        ],
    )
    s.metadata.General.title = f"Neighbourhoods ({metric}, k={k})"
    s.metadata.Signal.quantity = f"Neighbour vector ({units})" if units else ""
    md = {
        "metric": metric,
        "n_neighbours": int(k),
        "radius": "None" if radius is None else float(radius),
        "exclude_border": bool(exclude_border),
        "border": "auto" if border is None else float(border),
        "angle_tolerance": float(angle_tolerance),
        "distance_tolerance": float(distance_tolerance),
        "units": units,
        "component_names": [f"d{c}{j + 1}" for j in range(k) for c in "xy"],
    }
    for key, value in md.items():
        s.metadata.set_item(f"{_KEY}.{key}", value)
    s.metadata.set_item(f"{_KEY}.atoms", table)
    src = atoms.metadata.get_item("Source")
    if src is not None:
        s.metadata.set_item("Source", src)
    return s


class AtomNeighbourhoods(Signal1D):
    """Neighbour vectors of every centre atom; HyperSpy learning runs on it.

    Made by :meth:`AtomPositions.get_neighbourhoods`. See the module
    docstring for the data model.

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
    >>> nb.metadata.Signal.signal_type
    'atom_neighbourhoods'
    """

    _signal_type = "atom_neighbourhoods"
    _signal_dimension = 1
    _lazy = False

    # ---------------------------------------------------------------- access
    @property
    def atoms(self):
        """The whole per-atom table the neighbourhoods come from."""
        t = self.metadata.get_item(f"{_KEY}.atoms")
        if t is None:
            raise ValueError(
                "This signal has no metadata.AtomNeighbourhoods.atoms table; it was "
                "not made by `get_neighbourhoods`."
            )
        if not isinstance(t, AtomPositions):
            # copies and files keep a signal in metadata as a BaseSignal
            table = AtomPositions(np.asarray(t.data))
            table.metadata.add_dictionary(t.metadata.as_dictionary())
            table.metadata.Signal.signal_type = "atom_positions"
            table.axes_manager.navigation_axes[0].name = "atom"
            table.axes_manager.signal_axes[0].name = "column"
            t = table
        return t

    @property
    def centre_indices(self):
        """Index in :attr:`atoms` of the centre atom of each row."""
        return np.rint(self.axes_manager.navigation_axes[0].axis).astype(int)

    @property
    def n_neighbours(self):
        """Number of neighbour vectors per row."""
        return self.axes_manager.signal_shape[0] // 2

    @property
    def metric(self):
        """The ordering, ``"distance"`` or ``"angle"``."""
        return self.metadata.get_item(f"{_KEY}.metric")

    def get_centres(self):
        """The per-atom table of the centres, in the order of the rows.

        An ``atom`` column gives each centre's index in the full table.

        Returns
        -------
        AtomPositions

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.get_centres().n_atoms == int(nb.axes_manager.navigation_size)
        True
        """
        idx = self.centre_indices
        t = self.atoms.select(idx)
        return t.add_columns({"atom": idx.astype(float)}, {"atom": ""})

    def get_vectors(self, frame="image"):
        """Neighbour vectors as an array of shape ``(n_centres, k, 2)``.

        Parameters
        ----------
        frame : {"image", "local"}
            ``"local"``: as stored (rotated for the angle metric);
            ``"image"``: in the image's axes (rotation put back).

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> atoms.get_neighbourhoods(n_neighbours=4).get_vectors().shape[1:]
        (4, 2)
        """
        if frame not in ("image", "local"):
            raise ValueError(f"Unknown frame {frame!r}; use 'image' or 'local'.")
        v = np.asarray(self.data, dtype=float).reshape(-1, self.n_neighbours, 2)
        if frame == "image" and self.metric == "angle":
            rot = self.atoms.get_column("rotation")[self.centre_indices]
            v = nbn.rotate_vectors(v, np.deg2rad(rot))
        return v

    def get_missing_mask(self):
        """Boolean per row: True where an atom has fewer than ``k`` neighbours.

        Only ``radius`` mode leaves missing (NaN) entries. Pass it as
        ``navigation_mask`` to HyperSpy's learning, or use
        :meth:`fill_missing`.

        Returns
        -------
        numpy.ndarray of bool

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> int(atoms.get_neighbourhoods(n_neighbours=4).get_missing_mask().sum())
        0
        """
        return ~np.isfinite(np.asarray(self.data)).all(axis=1)

    def fill_missing(self, value=0.0):
        """A copy with missing neighbour vectors set to ``value``.

        With the default 0 a missing neighbour becomes a vector onto the
        centre itself, which no real neighbour has, so learning sees a
        missing neighbour as a difference of one bond length.

        Parameters
        ----------
        value : float

        Returns
        -------
        AtomNeighbourhoods

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=None, radius=0.3)
        >>> bool(np.isfinite(nb.fill_missing().data).all())
        True
        """
        value = check_number(value, "value")
        s = self.deepcopy()
        s.data = np.where(np.isfinite(s.data), s.data, value)
        return s

    def _check_complete(self, navigation_mask):
        bad = self.get_missing_mask()
        if navigation_mask is not None and not isinstance(navigation_mask, str):
            m = np.asarray(
                getattr(navigation_mask, "data", navigation_mask), bool
            ).ravel()
            if m.shape == bad.shape:
                bad = bad & ~m
        if bad.any():
            raise ValueError(
                f"{int(bad.sum())} centre atom(s) have fewer than {self.n_neighbours} "
                "neighbours (NaN entries, radius mode); learning needs complete rows: "
                "use `nb.fill_missing()` or `navigation_mask=nb.get_missing_mask()`."
            )

    # --------------------------------------------------------------- learning
    def decomposition(self, *args, navigation_mask=None, **kwargs):
        """HyperSpy's decomposition, after checking there are no missing entries.

        See :meth:`hyperspy.api.signals.BaseSignal.decomposition`. PCA of
        neighbourhoods: the factors are modes (deformations of the mean
        neighbourhood, see :meth:`get_mode_properties`), the loadings are
        per centre atom (see :meth:`get_map`).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> nb.learning_results.factors.shape
        (8, 8)
        """
        self._check_complete(navigation_mask)
        return super().decomposition(*args, navigation_mask=navigation_mask, **kwargs)

    def _get_cluster_algorithm(self, algorithm, **kwargs):
        # HyperSpy looks algorithms up here (also once per K when estimating
        # the number of clusters); "kmedians" is the paper's k-means variant.
        if isinstance(algorithm, str) and algorithm.lower() == "kmedians":
            return st.KMedians(**kwargs)
        from hyperspy.learn._mva import cluster_algorithms

        if isinstance(algorithm, str) and algorithm not in cluster_algorithms:
            known = ["kmedians"] + [a for a in cluster_algorithms if a]
            raise ValueError(
                f"Unknown `algorithm` {algorithm!r}; choose from {known} or pass an "
                "object with a `fit` method."
            )
        return super()._get_cluster_algorithm(algorithm, **kwargs)

    def cluster_analysis(
        self,
        cluster_source="signal",
        source_for_centers=None,
        preprocessing=None,
        number_of_components=None,
        navigation_mask=None,
        algorithm=None,
        **kwargs,
    ):
        """HyperSpy's cluster analysis with neighbourhood-friendly defaults.

        Same as :meth:`hyperspy.api.signals.BaseSignal.cluster_analysis`
        except: ``cluster_source`` defaults to ``"signal"``, ``preprocessing``
        to None (raw squared Euclidean distances between neighbourhoods, as
        in the paper), and ``algorithm="kmedians"`` runs
        :class:`~hyperspy_localcryst.numerics.statistics.KMedians` (k-means
        with component-wise median centroids). Get the labels with
        ``get_cluster_labels(merged=True)`` (HyperSpy's numbering, not
        sorted by size).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2, algorithm="kmedians")
        >>> nb.get_cluster_labels(merged=True).data.shape == (len(nb.data),)
        True
        """
        self._check_complete(navigation_mask)
        if "n_clusters" in kwargs:
            k = check_integer(kwargs["n_clusters"], "n_clusters", minimum=1)
            n = self.axes_manager.navigation_size
            if navigation_mask is not None and not isinstance(navigation_mask, str):
                m = np.asarray(getattr(navigation_mask, "data", navigation_mask), bool)
                n = int((~m).sum()) if m.size == n else n
            if k > n:
                raise ValueError(
                    f"`n_clusters` ({k}) is larger than the number of centre atoms "
                    f"({n})."
                )
            kwargs["n_clusters"] = k
        if algorithm in (None, "kmeans"):
            kwargs.setdefault("n_init", 10)
        if algorithm in (None, "kmeans", "kmedians", "minibatchkmeans"):
            kwargs.setdefault("random_state", 0)
        return super().cluster_analysis(
            cluster_source,
            source_for_centers=source_for_centers,
            preprocessing=preprocessing,
            number_of_components=number_of_components,
            navigation_mask=navigation_mask,
            algorithm=algorithm,
            **kwargs,
        )

    def estimate_number_of_clusters(
        self,
        cluster_source="signal",
        max_clusters=10,
        preprocessing=None,
        navigation_mask=None,
        algorithm=None,
        metric="gap",
        **kwargs,
    ):
        """HyperSpy's estimate of K with the defaults of :meth:`cluster_analysis`.

        ``algorithm="kmedians"`` is accepted but K is then estimated with
        k-means (HyperSpy's estimator only runs its own algorithms); on
        separated clusters both give the same K. See
        :meth:`hyperspy.api.signals.BaseSignal.estimate_number_of_clusters`.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> k = nb.estimate_number_of_clusters(
        ...     max_clusters=3, metric="elbow", show_progressbar=False
        ... )
        >>> 1 <= int(k) <= 3
        True
        """
        self._check_complete(navigation_mask)
        if algorithm == "kmedians":
            algorithm = "kmeans"  # HyperSpy's estimator accepts only its own
        if algorithm in (None, "kmeans", "minibatchkmeans"):
            kwargs.setdefault("random_state", 0)
        return super().estimate_number_of_clusters(
            cluster_source,
            max_clusters=max_clusters,
            preprocessing=preprocessing,
            navigation_mask=navigation_mask,
            algorithm=algorithm,
            metric=metric,
            **kwargs,
        )

    def _labels(self):
        lr = self.learning_results
        if getattr(lr, "cluster_labels", None) is None:
            raise ValueError("No cluster results: run `cluster_analysis` first.")
        lab = np.asarray(lr.cluster_labels)
        out = np.full(lab.shape[1], -1)
        for i, row in enumerate(lab):
            out[np.asarray(row, bool)] = i
        return out

    def _source_matrix(self, source):
        if source == "signal":
            return np.asarray(self.data, dtype=float)
        if source == "decomposition":
            lr = self.learning_results
            if lr.loadings is None:
                raise ValueError("No decomposition results: run `decomposition` first.")
            n = lr.number_significant_components or lr.loadings.shape[1]
            return np.asarray(lr.loadings[:, :n])
        raise ValueError(f"Unknown source {source!r}; use 'signal' or 'decomposition'.")

    def get_linkage(self, source="signal", n_samples=2000, method="ward", seed=0):
        """Hierarchical clustering (scipy linkage) of the neighbourhoods.

        Up to ``n_samples`` rows are clustered; larger data sets are
        represented by a random subsample of that many centres (seeded), so
        this stays quick on 100,000 atoms.

        Parameters
        ----------
        source : {"signal", "decomposition"}
            The neighbour vectors, or the loadings of the significant
            components of a previous decomposition.
        n_samples : int
            Largest number of rows clustered.
        method : str
            scipy linkage method (``"ward"``, ``"average"``, ...).
        seed : int
            Random state of the subsample.

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
        X = self._source_matrix(source)
        ok = np.isfinite(X).all(axis=1)
        if not ok.all():
            raise ValueError(
                f"{int((~ok).sum())} row(s) have missing neighbours; use "
                "`fill_missing()` first."
            )
        return st.linkage_sample(X, n_samples=n_samples, method=method, seed=seed)

    def plot_dendrogram(
        self,
        n_clusters=None,
        source="signal",
        n_samples=2000,
        method="ward",
        seed=0,
        ax=None,
        truncate=30,
    ):
        """Dendrogram of the neighbourhoods, to choose the number of clusters.

        The y axis is the separation (linkage distance) at which clusters
        merge: a long vertical gap before a merge means well separated
        clusters. Large data sets are represented by a random subsample of
        ``n_samples`` centres (see :meth:`get_linkage`).

        Parameters
        ----------
        n_clusters : int, optional
            Draw the cut that gives this many clusters.
        source, n_samples, method, seed
            See :meth:`get_linkage`.
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
        from scipy.cluster.hierarchy import dendrogram

        Z, rows = self.get_linkage(source, n_samples, method, seed)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        kw = {"truncate_mode": "lastp", "p": truncate} if truncate else {}
        thr = None
        if n_clusters is not None:
            thr = st.linkage_threshold(Z, n_clusters)
            kw["color_threshold"] = thr
        dendrogram(Z, ax=ax, no_labels=len(rows) > 60 and not truncate, **kw)
        if thr is not None:
            ax.axhline(thr, color="k", ls="--", lw=1)
        ax.set_ylabel("cluster separation (linkage distance)")
        sub = "" if len(rows) == self.axes_manager.navigation_size else " (subsample)"
        ax.set_xlabel(f"{len(rows)} centre atoms{sub}")
        ax.set_title(f"{method} linkage of {self.metadata.General.title}")
        return ax

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
        out = st.label_fractions(self._centre_frames(), labels, atoms.n_frames, k)
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
            Names of the values (stored in ``metadata.Signal.names``).

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
        units, auto = "", None
        if isinstance(values, str) and values == "invariants":
            inv = self.get_invariants()
            known = set(self.atoms.columns) | {"atom"}
            extra = [c for c in inv.columns if c not in known]
            return inv.get_frame_statistics(extra, statistic)
        if isinstance(values, (str, list)) and values not in ("loadings", "signal"):
            return self.get_centres().get_frame_statistics(values, statistic)
        if isinstance(values, str) and values == "loadings":
            lr = self.learning_results
            if lr.loadings is None:
                raise ValueError("No decomposition results: run `decomposition` first.")
            v = np.asarray(lr.loadings)
            v = v[:, : lr.number_significant_components or v.shape[1]]
            auto = [f"loading {i}" for i in range(v.shape[1])]
        elif isinstance(values, str):
            v = np.asarray(self.data, dtype=float)
            auto = list(self.metadata.AtomNeighbourhoods.component_names)
            units = self.atoms.units.get("x", "")
        else:
            v = np.asarray(getattr(values, "data", values), dtype=float)
        n_c = self.axes_manager.navigation_size
        v = v.reshape(len(v), -1) if v.ndim else v
        if v.shape[0] != n_c:
            raise ValueError(f"`values` has {v.shape[0]} rows for {n_c} centre atoms.")
        if names is None:
            names = auto or [f"value {i}" for i in range(v.shape[1])]
        atoms = self.atoms
        out = st.per_frame(self._centre_frames(), v, atoms.n_frames, statistic)
        return _stack.stack_signal(
            out,
            atoms.navigation,
            names,
            units=units,
            axis_name="value",
            title=f"{statistic} per frame of {self.metadata.General.title}",
        )

    # ------------------------------------------------------------------ maps
    def _per_centre(self, values, name):
        try:
            v = np.asarray(getattr(values, "data", values), dtype=float).ravel()
        except (TypeError, ValueError):
            raise TypeError(
                f"`{name}` must be numbers, one per centre atom, got {values!r:.60}."
            ) from None
        n = self.axes_manager.navigation_size
        if v.shape != (n,):
            raise ValueError(f"`{name}` has {v.size} values for {n} centre atoms.")
        return v

    def get_map(self, values, max_distance=None, frame=None):
        """Rasterise per-centre values on the image's calibrated grid.

        Each pixel takes the value of its nearest centre atom (Voronoi
        cells); pixels farther than ``max_distance`` from every centre are
        NaN. For a stack, each frame's centres make that frame's map.

        Parameters
        ----------
        values : array_like or signal
            One value per centre (row), e.g. cluster labels or loadings.
        max_distance : float, optional
            Calibrated units; default the median nearest-neighbour distance.
        frame : int or tuple of int, optional
            For a stack: one frame (flat index or navigation indices); by
            default every frame, as a stack on the source's navigation axes.

        Returns
        -------
        hyperspy.api.signals.Signal2D
            On the grid of the source image (same axes and units).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.get_map(np.arange(len(nb.data))).data.shape
        (128, 128)
        """
        v = self._per_centre(values, "values")
        atoms = self.atoms
        grid = atoms.grid
        xp, yp = self.get_centres().get_pixel_positions()
        if max_distance is None:
            r = np.linalg.norm(self.get_vectors("local"), axis=-1)
            max_distance = float(np.nanmedian(r[:, 0])) if r.size else np.inf
        else:
            max_distance = check_number(max_distance, "max_distance", "a length")
            if not max_distance > 0:  # 0 would give a map of NaN only
                raise ValueError(
                    f"`max_distance` must be a positive length, got {max_distance}."
                )
        md_px = max_distance / pixel_scale(grid)
        shape = (grid["y"]["size"], grid["x"]["size"])
        n = atoms.n_frames
        groups = st.frame_groups(self._centre_frames(), n)
        wanted = range(n) if frame is None else [atoms._flat_frame(frame)]
        maps = np.full((len(wanted),) + shape, np.nan)
        for i, k in enumerate(wanted):
            sel = groups[k]
            if len(sel):
                maps[i] = st.rasterise_nearest(
                    xp[sel], yp[sel], v[sel], shape, max_distance=md_px
                )
        nav = atoms.navigation if frame is None and n > 1 else []
        data = maps.reshape(_stack.navigation_shape(nav) + shape)
        axes = _stack.navigation_axes(nav)
        for key in ("y", "x"):
            g = grid[key]
            axes.append(
                {
                    "size": g["size"],
                    "scale": g["scale"],
                    "offset": g["offset"],
                    "units": g["units"],
                    "name": g["name"],
                    "navigate": False,
                }
            )
        return Signal2D(data, axes=axes)

    def get_cluster_map(self, max_distance=None, frame=None):
        """The cluster label of the nearest centre atom at every pixel.

        ``max_distance`` and ``frame`` as in :meth:`get_map` (a stack gives
        one map per frame).

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Labels 0..K-1 as ``get_cluster_labels(merged=True)``, NaN away
            from atoms.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> float(np.nanmax(nb.get_cluster_map().data)) <= 1
        True
        """
        s = self.get_map(self._labels(), max_distance, frame)
        s.metadata.General.title = "Cluster map"
        return s

    def get_loading_map(self, component, max_distance=None, frame=None):
        """Loading of one decomposition component at every pixel (nearest atom).

        ``max_distance`` and ``frame`` as in :meth:`get_map`.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> nb.get_loading_map(1).data.shape
        (128, 128)
        """
        s = self.get_map(self._loading(component), max_distance, frame)
        s.metadata.General.title = f"Loading map of component {component}"
        return s

    def _loading(self, component):
        lr = self.learning_results
        if lr.loadings is None:
            raise ValueError("No decomposition results: run `decomposition` first.")
        component = check_integer(component, "component")
        if not 0 <= component < lr.loadings.shape[1]:
            raise ValueError(
                f"`component` {component} is out of range "
                f"(0..{lr.loadings.shape[1] - 1})."
            )
        return np.asarray(lr.loadings[:, component])

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

    def get_cluster_markers(self, cmap="tab10", size=None, **kwargs):
        """Centre atoms as markers coloured by cluster.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> type(nb.get_cluster_markers()).__name__
        'Points'
        """
        from .atom_positions import _colormap

        cm = _colormap(cmap)
        colours = cm(np.mod(self._labels(), cm.N))
        return self.get_centres().to_markers(size=size, color=colours, **kwargs)

    def get_cluster_fft(self, shape=None, window=True):
        """Per cluster, the power spectrum of its centre atoms' point pattern.

        Sharp spots mean a periodic site class; a diffuse ring means
        disordered positions (e.g. a boundary). ``metadata.Signal``
        ``periodicity`` lists the peak-to-median power ratio per cluster.

        Parameters
        ----------
        shape : tuple of int, optional
            FFT size (ny, nx); default the image shape.
        window : bool
            Apply a Hann window.

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Navigation axis ``cluster``; signal axes in inverse image units,
            zero frequency at the centre.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2)
        >>> nb.get_cluster_fft().axes_manager.navigation_shape
        (2,)
        """
        lab = self._labels()
        grid = self.atoms.grid
        if shape is None:
            shape = (grid["y"]["size"], grid["x"]["size"])
        xp, yp = self.get_centres().get_pixel_positions()
        spectra, score = [], []
        for i in range(int(lab.max()) + 1):
            m = lab == i
            p = st.point_pattern_fft(xp[m], yp[m], shape, window=window)
            spectra.append(p)
            score.append(float(st.fft_periodicity(p)))
        s = Signal2D(np.stack(spectra))
        s.axes_manager.navigation_axes[0].name = "cluster"
        ps = pixel_scale(grid)
        units = grid["x"]["units"]
        for ax, n in zip(s.axes_manager.signal_axes, (shape[1], shape[0])):
            ax.scale = 1.0 / (n * ps)
            ax.offset = -(n // 2) / (n * ps)
            ax.units = f"1/{units}" if units else ""
        s.axes_manager.signal_axes[0].name = "kx"
        s.axes_manager.signal_axes[1].name = "ky"
        s.metadata.General.title = "Power spectrum of each cluster's positions"
        s.metadata.set_item("Signal.periodicity", score)
        return s

    def get_vector_histogram(self, bins=101, extent=None, by_cluster=False):
        """2D histogram of all neighbour vectors (image frame), calibrated.

        With many neighbours (e.g. 50) this is the 2D pair-correlation
        function of the atom positions.

        Parameters
        ----------
        bins : int or (int, int)
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
        v = self.get_vectors("image")
        counts, extent = st.vector_histogram(v, bins=bins, extent=extent)
        if by_cluster:
            lab = self._labels()
            counts = np.stack(
                [
                    st.vector_histogram(v[lab == i], bins=bins, extent=extent)[0]
                    for i in range(int(lab.max()) + 1)
                ]
            )
        s = Signal2D(counts)
        ny, nx = counts.shape[-2:]
        units = self.metadata.get_item(f"{_KEY}.units", "")
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
        return s

    # ----------------------------------------------------------------- modes
    def get_mode_properties(self, n_components=None):
        """Polar character of each decomposition mode.

        For each factor (a deformation of the neighbourhood, laid out as the
        rows) reports the vector sum of its neighbour shifts and
        ``polarity`` = ``|sum| / sum of |shifts|``: a polar mode moves the centre
        against its neighbours (non-zero sum), a non-polar one deforms the
        neighbourhood symmetrically. A polar mode's loadings are ``"ferro"``
        when mostly of one sign within each sublattice (the ``sublattice``
        column of the atoms, when there is one), ``"antipolar"`` otherwise.
        A mode nearly parallel to the mean neighbourhood (the first one of an
        uncentred decomposition) is marked ``trivial``.

        Parameters
        ----------
        n_components : int, optional
            Default: all.

        Returns
        -------
        pandas.DataFrame
            One row per component: ``explained_variance_ratio``,
            ``vector_sum_x``, ``vector_sum_y``, ``polarity``, ``polar``,
            ``arrangement``, ``trivial``.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> bool(nb.get_mode_properties(3)["trivial"][0])
        True
        """
        import pandas as pd

        lr = self.learning_results
        if lr.factors is None:
            raise ValueError("No decomposition results: run `decomposition` first.")
        n_max = lr.factors.shape[1]
        n = (
            n_max
            if n_components is None
            else check_integer(n_components, "n_components", 1)
        )
        if n > n_max:
            raise ValueError(
                f"`n_components` ({n}) is more than the {n_max} components of the "
                "decomposition."
            )
        mean = np.nanmean(np.asarray(self.data, float), axis=0)
        ev = lr.explained_variance
        ratio = ev / ev.sum() if ev is not None and ev.sum() > 0 else np.full(n, np.nan)
        c = self.get_centres()
        groups = (
            c.get_column("sublattice")
            if "sublattice" in c.columns
            else np.zeros(c.n_atoms)
        )
        rows = []
        for i in range(n):
            f = np.asarray(lr.factors[:, i])
            p = st.mode_polarity(f)
            cos = abs(f @ mean) / (np.linalg.norm(f) * np.linalg.norm(mean) + 1e-300)
            rows.append(
                {
                    "explained_variance_ratio": float(ratio[i]),
                    "vector_sum_x": p["vector_sum"][0],
                    "vector_sum_y": p["vector_sum"][1],
                    "polarity": p["polarity"],
                    "polar": p["polar"],
                    "arrangement": self._arrangement(lr.loadings[:, i], groups)
                    if p["polar"]
                    else "non-polar",
                    "trivial": bool(cos > 0.9),
                }
            )
        df = pd.DataFrame(rows)
        df.index.name = "component"
        return df

    @staticmethod
    def _arrangement(loadings, groups):
        # Loadings are compared within each sublattice (``groups``): in a
        # two-sublattice crystal a uniform relative shift gives opposite
        # loadings on the two kinds of centre, which is still a ferro (polar)
        # arrangement.
        kinds = {
            st.loading_arrangement(loadings[groups == g])
            for g in np.unique(groups[np.isfinite(groups)])
            if (groups == g).sum() > 1
        }
        return "ferro" if kinds == {"ferro"} else "antipolar"

    def plot_modes(self, components=None, scale=None, frame="local"):
        """Draw decomposition modes as arrows on the mean neighbourhood.

        Parameters
        ----------
        components : sequence of int, optional
            Default: the first four (all, when there are fewer).
        scale : float, optional
            Arrow length multiplier; default makes the longest arrow a third
            of the nearest-neighbour distance.
        frame : {"local"}
            Modes live in the stored frame (rotated for the angle metric).

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
        >>> len(nb.plot_modes((1, 2)).axes)
        2
        """
        import matplotlib.pyplot as plt

        lr = self.learning_results
        if lr.factors is None:
            raise ValueError("No decomposition results: run `decomposition` first.")
        if frame != "local":
            raise ValueError(f"Unknown `frame` {frame!r}; modes are drawn in 'local'.")
        n_max = lr.factors.shape[1]
        if components is None:
            components = tuple(range(min(4, n_max)))
        if isinstance(components, (int, np.integer)):
            components = (components,)
        components = [check_integer(c, "components") for c in components]
        if not components or not all(0 <= c < n_max for c in components):
            raise ValueError(
                f"`components` must be one or more of 0..{n_max - 1}, got {components}."
            )
        props = self.get_mode_properties()
        k = self.n_neighbours
        mean = np.nanmean(np.asarray(self.data, float), axis=0).reshape(k, 2)
        nn = float(np.nanmin(np.linalg.norm(mean, axis=1)))
        units = self.metadata.get_item(f"{_KEY}.units", "")
        fig, axes = plt.subplots(
            1, len(components), figsize=(3.2 * len(components), 3.4), squeeze=False
        )
        for ax, c in zip(axes[0], components):
            f = np.asarray(lr.factors[:, c]).reshape(k, 2)
            sc = scale or (nn / 3) / max(np.abs(f).max(), 1e-300)
            ax.plot(mean[:, 0], mean[:, 1], "o", color="0.6", ms=5)
            ax.plot([0], [0], "k+", ms=8)
            ax.quiver(
                mean[:, 0],
                mean[:, 1],
                sc * f[:, 0],
                sc * f[:, 1],
                angles="xy",
                scale_units="xy",
                scale=1,
                color="C3",
                width=0.012,
            )
            r = props.iloc[c]
            tips = np.concatenate([mean, mean + sc * f, [[0.0, 0.0]]])
            pad = 0.15 * np.ptp(tips, axis=0).max()
            ax.set_xlim(tips[:, 0].min() - pad, tips[:, 0].max() + pad)
            ax.set_ylim(tips[:, 1].min() - pad, tips[:, 1].max() + pad)
            ax.set_title(
                f"mode {c}: {100 * r.explained_variance_ratio:.2g} %\n"
                f"{r.arrangement}{' (trivial)' if r.trivial else ''}",
                fontsize=9,
            )
            ax.set_aspect("equal")
            ax.invert_yaxis()
            ax.set_xlabel(f"dx ({units})")
        axes[0][0].set_ylabel(f"dy ({units})")
        fig.tight_layout()
        return fig

    # ------------------------------------------------------------- invariants
    def get_invariants(self):
        """Per-centre scalars: sorted bond lengths and angles, polar displacement.

        Returns
        -------
        AtomPositions
            The centres (as :meth:`get_centres`) with columns ``bond_1`` ...
            ``bond_k`` (sorted lengths), ``bond_angle_1`` ... (angles in
            degrees between angularly adjacent bonds, sorted), ``polar_x``,
            ``polar_y`` (displacement of the centre from the centroid of its
            neighbours, image frame) and ``polar`` (its length).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> inv = atoms.get_neighbourhoods(n_neighbours=4).get_invariants()
        >>> float(np.median(inv.get_column("bond_angle_1"))) > 80
        True
        """
        inv = nbn.neighbour_invariants(self.get_vectors("image"))
        k = self.n_neighbours
        units = self.metadata.get_item(f"{_KEY}.units", "")
        cols, u = {}, {}
        for j in range(k):
            cols[f"bond_{j + 1}"] = inv["bond_lengths"][:, j]
            u[f"bond_{j + 1}"] = units
        for j in range(k):
            cols[f"bond_angle_{j + 1}"] = inv["bond_angles"][:, j]
            u[f"bond_angle_{j + 1}"] = "deg"
        cols["polar_x"], cols["polar_y"] = inv["polar"][:, 0], inv["polar"][:, 1]
        cols["polar"] = np.hypot(cols["polar_x"], cols["polar_y"])
        u.update(polar_x=units, polar_y=units, polar=units)
        return self.get_centres().add_columns(cols, u)

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
        from .spectra import class_spectra

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
        >>> float(np.nanmax(m.data))
        4.0
        """
        t = self.atoms.get_spectral_quantity(si, edge=edge, window=window, **kwargs)
        name = t.columns[-1]
        values = t.get_column(name)[self.centre_indices]
        s = self.get_map(values, max_distance=max_distance)
        s.metadata.General.title = f"{name} at the centre atoms"
        return s


class LazyAtomNeighbourhoods(LazySignal1D, AtomNeighbourhoods):
    """Lazy version of :class:`AtomNeighbourhoods` (data held as a dask array).

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
    >>> type(nb.as_lazy()).__name__
    'LazyAtomNeighbourhoods'
    """

    _lazy = True
