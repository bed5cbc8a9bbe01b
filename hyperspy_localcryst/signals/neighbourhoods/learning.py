"""Decomposition and clustering of the neighbourhoods: HyperSpy's learning with
the defaults the physics needs (no preprocessing, the paper's k-medians)."""

from __future__ import annotations

import numpy as np

from ...numerics import clustering
from .._grid import (
    check_at_most,
    check_bool,
    check_integer,
    check_memory,
)
from ..positions._table import _is_signal

#: Clustering algorithms and preprocessing HyperSpy's ``cluster_analysis``
#: and ``estimate_number_of_clusters`` take by name (its documented lists),
#: plus the paper's ``"kmedians"``; any object with ``fit`` (``fit_transform``
#: for preprocessing) is passed on.
_CLUSTER_ALGORITHMS = (
    "kmeans",
    "agglomerative",
    "minibatchkmeans",
    "spectralclustering",
)


_PREPROCESSING = ("norm", "standard", "minmax")


_SOURCES = ("signal", "decomposition", "bss")


_METRICS = ("gap", "elbow", "silhouette")


#: HyperSpy's decomposition algorithms by name (its documented list).
_DECOMPOSITION_ALGORITHMS = (
    "SVD",
    "MLPCA",
    "sklearn_pca",
    "NMF",
    "sparse_pca",
    "mini_batch_sparse_pca",
    "RPCA",
    "ORPCA",
    "ORNMF",
)


class LearningMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_neighbourhoods.
    AtomNeighbourhoods` (the class inherits them; see the module docstring)."""

    def _navigation_mask(self, navigation_mask, n):
        """``navigation_mask`` as a flat boolean array over the ``n`` rows
        (True: left out), or None; refuses anything else."""
        if navigation_mask is None:
            return None
        data = navigation_mask.data if _is_signal(navigation_mask) else navigation_mask
        msg = (
            "`navigation_mask` must be None or a boolean array (or signal) with one "
            f"value per centre atom ({n}), True to leave the centre out, got "
            f"{navigation_mask!r:.60}."
        )
        if isinstance(data, (str, bytes, dict, set, frozenset)):
            raise TypeError(msg)
        try:
            m = np.asarray(data)
        except (TypeError, ValueError):  # ragged sequences
            raise TypeError(msg) from None
        if m.dtype != bool:
            raise TypeError(msg)
        if m.size != n:
            raise ValueError(
                f"`navigation_mask` has {m.size} values (shape {m.shape}) for {n} "
                "centre atoms; give one per centre atom."
            )
        m = m.ravel()
        if int((~m).sum()) < 2:
            raise ValueError(
                f"`navigation_mask` leaves {int((~m).sum())} of the {n} centre atoms; "
                "learning needs at least 2 (True leaves a centre out)."
            )
        return m

    def _learning_rows(self, navigation_mask):
        """Check the rows learning uses: at least two, a valid mask, complete.

        Returns the mask (flat boolean or None) and the number of rows used.
        """
        n = self._n_rows()
        if n < 2:
            raise ValueError(
                "Learning needs at least 2 centre atoms (HyperSpy: navigation_size "
                f"< 2); this signal has {n} row (e.g. from `nb.inav[k]`)."
            )
        mask = self._navigation_mask(navigation_mask, n)
        bad = self.get_missing_mask()
        if mask is not None:
            bad = bad & ~mask
        if bad.any():
            try:
                fewer = f"fewer than {self.n_neighbours} neighbours"
            except ValueError:  # components sliced apart: no whole vectors
                fewer = "missing neighbours"
            raise ValueError(
                f"{int(bad.sum())} centre atom(s) have {fewer} "
                "(NaN entries, radius mode); learning needs complete rows: "
                "use `nb.fill_missing()` or `navigation_mask=nb.get_missing_mask()`."
            )
        return mask, n if mask is None else int((~mask).sum())

    def _signal_mask(self, signal_mask):
        """``signal_mask`` as a flat boolean array over the components, or None."""
        if signal_mask is None:
            return None
        n = self.axes_manager.signal_size
        data = signal_mask.data if _is_signal(signal_mask) else signal_mask
        try:
            m = None if isinstance(data, (str, dict, set)) else np.asarray(data)
        except (TypeError, ValueError):
            m = None
        if m is None or m.dtype != bool or m.size != n:
            raise TypeError(
                "`signal_mask` must be None or a boolean array with one value per "
                f"component ({n}), True to leave the component out, got "
                f"{signal_mask!r:.60}."
            )
        if m.all():
            raise ValueError("`signal_mask` leaves out every component.")
        return m.ravel()

    def _check_source(self, source, name):
        """A clustering source: 'signal', 'decomposition', 'bss' (with their
        results) or a signal with one row per centre."""
        if _is_signal(source):
            nav = source.axes_manager.navigation_size
            if nav != self._n_rows():
                raise ValueError(
                    f"`{name}` has {nav} rows (navigation size) for "
                    f"{self._n_rows()} centre atoms."
                )
            return source
        if not isinstance(source, str) or source not in _SOURCES:
            exc = ValueError if isinstance(source, str) else TypeError
            raise exc(
                f"Unknown cluster source {source!r:.60}: `{name}` must be one of "
                f"{_SOURCES} or a signal with one row per centre atom."
            )
        lr = self.learning_results
        if source == "decomposition":
            try:
                self._decomposition()
            except ValueError as e:
                raise ValueError(f"`{name}` = 'decomposition': {e}") from None
        if source == "bss" and getattr(lr, "bss_loadings", None) is None:
            raise ValueError(
                f"`{name}` = 'bss' needs blind source separation results: run "
                "`blind_source_separation` first."
            )
        return source

    def _check_number_of_components(self, number_of_components, source):
        if number_of_components is None:
            return None
        k = check_integer(number_of_components, "number_of_components", minimum=1)
        if isinstance(source, str) and source == "decomposition":
            n = self.learning_results.loadings.shape[1]
            check_at_most(k, "number_of_components", n, "decomposition components")
        return k

    def _check_learning_kwargs(self, kwargs):
        """Check the HyperSpy keywords we know, in place."""
        if "signal_mask" in kwargs:
            kwargs["signal_mask"] = self._signal_mask(kwargs["signal_mask"])
        for key in ("return_info", "print_info"):
            if key in kwargs:
                check_bool(kwargs[key], key)
        if "show_progressbar" in kwargs:
            check_bool(kwargs["show_progressbar"], "show_progressbar", allow_none=True)

    # --------------------------------------------------------------- learning
    def decomposition(self, *args, navigation_mask=None, **kwargs):
        """HyperSpy's decomposition, centred, after checking its arguments and rows.

        Rows with missing neighbours are refused (fill or mask them), as are
        a ``navigation_mask`` that is not one boolean per centre and unknown
        ``algorithm`` names. See
        :meth:`hyperspy.api.signals.BaseSignal.decomposition`. PCA of
        neighbourhoods: the factors are modes (deformations of the mean
        neighbourhood, see :meth:`get_mode_properties`), the loadings are
        per centre atom (see :meth:`get_map`).

        One default differs from HyperSpy's: the SVD is centred
        (``centre="navigation"``: the mean neighbourhood is subtracted first,
        kept in ``learning_results.mean`` and returned by
        :meth:`get_mean_neighbourhood`), so the modes are deviations from the
        mean and their explained variance ratios are shares of the variance,
        not of the mean's energy. Pass ``centre=None`` for HyperSpy's
        uncentred SVD (its first mode is then nearly the mean itself).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> nb.learning_results.factors.shape, nb.learning_results.centre
        ((8, 8), 'navigation')
        """
        mask, _ = self._learning_rows(navigation_mask)
        algorithm = args[1] if len(args) > 1 else kwargs.get("algorithm", "SVD")
        poisson = args[0] if args else kwargs.get("normalize_poissonian_noise")
        if (
            len(args) < 4
            and "centre" not in kwargs
            and isinstance(algorithm, str)
            and algorithm == "SVD"
            and not poisson
        ):
            kwargs["centre"] = "navigation"
        if isinstance(algorithm, str):
            if algorithm not in _DECOMPOSITION_ALGORITHMS:
                raise ValueError(
                    f"`algorithm` {algorithm!r} not recognised; choose from "
                    f"{list(_DECOMPOSITION_ALGORITHMS)} or pass an object with "
                    "`fit_transform` (or `fit` and `transform`)."
                )
        elif not (
            hasattr(algorithm, "fit_transform")
            or (hasattr(algorithm, "fit") and hasattr(algorithm, "transform"))
        ):
            raise TypeError(
                f"`algorithm` must be one of {list(_DECOMPOSITION_ALGORITHMS)} or an "
                f"object with `fit_transform`, got {algorithm!r:.60}."
            )
        if "normalize_poissonian_noise" in kwargs:
            key = "normalize_poissonian_noise"
            check_bool(kwargs[key], key)
        if kwargs.get("output_dimension") is not None:
            check_integer(kwargs["output_dimension"], "output_dimension", minimum=1)
        self._check_learning_kwargs(kwargs)
        return super().decomposition(*args, navigation_mask=mask, **kwargs)

    def get_decomposition_model(self, components=None, *args, **kwargs):
        """HyperSpy's decomposition model, with the mean of a centred SVD added.

        See :meth:`hyperspy.api.signals.BaseSignal.get_decomposition_model`
        (HyperSpy 2.5 cannot add back a mean over the centres, the default
        here: it is added here).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> bool(np.allclose(nb.get_decomposition_model().data, nb.data))
        True
        """
        lr = self.learning_results
        mean = lr.mean
        n_sig = self.axes_manager.signal_size
        if mean is None or np.shape(mean) != (1, n_sig):
            return super().get_decomposition_model(components, *args, **kwargs)
        lr.mean = None
        try:
            rec = super().get_decomposition_model(components, *args, **kwargs)
        finally:
            lr.mean = mean
        rec.data = rec.data + np.asarray(mean).reshape(
            (1,) * len(self.axes_manager.navigation_shape) + (n_sig,)
        )
        return rec

    def get_mean_neighbourhood(self):
        """The mean neighbourhood, which the centred modes deform.

        The mean a centred decomposition subtracted (``learning_results.mean``,
        over the centres it used), or the mean of the complete rows when there
        is none (uncentred or no decomposition).

        Returns
        -------
        numpy.ndarray, shape (k, 2)
            Mean ``(dx, dy)`` of each neighbour, calibrated units, in the
            stored frame (rotated for the angle metric).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.get_mean_neighbourhood().shape
        (4, 2)
        """
        order, k = self._pairs("get_mean_neighbourhood")
        mean = getattr(self.learning_results, "mean", None)
        if mean is not None and np.size(mean) == self.axes_manager.signal_size:
            m = np.asarray(mean, dtype=float).ravel()
        else:
            m = np.nanmean(self._table(), axis=0)
        return m[order].reshape(k, 2)

    @staticmethod
    def _check_algorithm(algorithm, estimate=False):
        """A clustering algorithm HyperSpy (or we) can run, checked up front."""
        known = (
            [*_CLUSTER_ALGORITHMS] if estimate else ["kmedians", *_CLUSTER_ALGORITHMS]
        )
        if algorithm is None:
            return None
        if estimate and isinstance(algorithm, str) and algorithm == "kmedians":
            raise ValueError(
                "HyperSpy's `estimate_number_of_clusters` runs only its own "
                f"algorithms ({known}), so it cannot estimate K for 'kmedians'; use "
                "algorithm='kmeans' (on separated clusters the same K), or "
                "`find_site_classes`, which counts classes against the position noise."
            )
        if isinstance(algorithm, str):
            if algorithm not in known:
                objects = "" if estimate else " or pass an object with a `fit` method"
                raise ValueError(
                    f"Unknown `algorithm` {algorithm!r}; choose from {known}{objects}."
                )
            return algorithm
        if estimate:
            raise TypeError(
                f"`algorithm` must be one of {known} (HyperSpy's estimate runs only "
                f"its own algorithms), got {algorithm!r:.60}."
            )
        if not hasattr(algorithm, "fit"):
            raise TypeError(
                f"`algorithm` must be one of {known} or an object with a `fit` "
                f"method, got {algorithm!r:.60}."
            )
        return algorithm

    @staticmethod
    def _check_preprocessing(preprocessing, estimate=False):
        if preprocessing is None or (
            isinstance(preprocessing, str) and preprocessing in _PREPROCESSING
        ):
            return preprocessing
        if isinstance(preprocessing, str) or estimate:
            raise ValueError(
                f"Unknown `preprocessing` {preprocessing!r:.60}; choose from "
                f"{[None, *_PREPROCESSING]}"
                + ("." if estimate else " or pass an object with `fit_transform`.")
            )
        if not hasattr(preprocessing, "fit_transform"):
            raise TypeError(
                f"`preprocessing` must be one of {[None, *_PREPROCESSING]} or an "
                f"object with `fit_transform`, got {preprocessing!r:.60}."
            )
        return preprocessing

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
        :class:`~hyperspy_localcryst.numerics.clustering.KMedians` (k-means
        with component-wise median centroids). Get the labels with
        ``get_cluster_labels(merged=True)`` (HyperSpy's numbering, not
        sorted by size). Every argument is checked before HyperSpy runs.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.cluster_analysis(n_clusters=2, algorithm="kmedians")
        >>> nb.get_cluster_labels(merged=True).data.shape == (len(nb.data),)
        True
        """
        mask, n = self._learning_rows(navigation_mask)
        self._check_source(cluster_source, "cluster_source")
        if source_for_centers is not None:
            self._check_source(source_for_centers, "source_for_centers")
        self._check_preprocessing(preprocessing)
        number_of_components = self._check_number_of_components(
            number_of_components, cluster_source
        )
        self._check_algorithm(algorithm)
        self._check_learning_kwargs(kwargs)
        if "n_clusters" in kwargs:
            k = check_integer(kwargs["n_clusters"], "n_clusters", minimum=1)
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
        name = algorithm
        if algorithm == "kmedians":
            # the paper's k-medians, handed to HyperSpy as the scikit-learn
            # estimator object its `algorithm` documents
            algorithm = clustering.KMedians(**kwargs)
            kwargs = {}
        out = super().cluster_analysis(
            cluster_source,
            source_for_centers=source_for_centers,
            preprocessing=preprocessing,
            number_of_components=number_of_components,
            navigation_mask=mask,
            algorithm=algorithm,
            **kwargs,
        )
        if name == "kmedians":
            self.learning_results.cluster_algorithm = "kmedians"
        return out

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

        HyperSpy's estimator runs only its own algorithms by name, so
        ``algorithm="kmedians"`` raises :class:`ValueError` (use ``"kmeans"``,
        which gives the same K on separated clusters, or
        :meth:`find_site_classes`). ``max_clusters`` may not
        exceed the number of centre atoms used (one less for
        ``metric="silhouette"``). See
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
        mask, n = self._learning_rows(navigation_mask)
        self._check_source(cluster_source, "cluster_source")
        self._check_preprocessing(preprocessing, estimate=True)
        self._check_algorithm(algorithm, estimate=True)
        if not isinstance(metric, str) or metric not in _METRICS:
            raise ValueError(
                f"Unknown `metric` {metric!r:.60}; choose from {_METRICS}."
            )
        max_clusters = check_integer(max_clusters, "max_clusters", minimum=2)
        if metric == "silhouette":  # scores need one centre more than clusters
            check_at_most(
                max_clusters,
                "max_clusters",
                n - 1,
                f"clusters the silhouette can score on {n} centre atoms",
            )
        else:
            check_at_most(max_clusters, "max_clusters", n, "centre atoms")
        if "n_clusters" in kwargs:
            raise ValueError(
                "`n_clusters` is what `estimate_number_of_clusters` estimates; give "
                "`max_clusters` instead."
            )
        kwargs["number_of_components"] = self._check_number_of_components(
            kwargs.get("number_of_components"), cluster_source
        )
        if "n_ref" in kwargs:
            kwargs["n_ref"] = check_integer(kwargs["n_ref"], "n_ref", minimum=1)
        self._check_learning_kwargs(kwargs)
        if metric != "silhouette":  # HyperSpy's within-cluster distances: n x n
            check_memory(
                8.0 * n * n,
                "metric",
                metric,
                f"the pairwise distances of {n} centre atoms, for K = 1",
                advice="leave centres out with `navigation_mask`, use "
                "metric='silhouette', or choose K from `plot_dendrogram`, which "
                "subsamples",
            )
        if algorithm in (None, "kmeans", "minibatchkmeans"):
            kwargs.setdefault("random_state", 0)
        return super().estimate_number_of_clusters(
            cluster_source,
            max_clusters=max_clusters,
            preprocessing=preprocessing,
            navigation_mask=mask,
            algorithm=algorithm,
            metric=metric,
            **kwargs,
        )
