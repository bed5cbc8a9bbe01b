"""Libraries of neighbourhood classes: save cluster centroids, classify new images.

A :class:`NeighbourhoodLibrary` holds, for each class (a phase or a site
found by clustering the neighbourhoods of one image), the centroid of its
neighbour vectors, its spread, a name and a free-text description
(material, phase), optionally its mean spectrum, together with everything
needed to compute comparable descriptors on another image: the neighbourhood
settings (metric, number of neighbours, radius, tolerances), the units and
the descriptors' scaling. It is saved as a HyperSpy file (``.hspy`` or
``.zspy``: the centroids are the data, navigation axis ``class``; the rest
is in ``metadata.NeighbourhoodLibrary``) and loaded back exactly.

:meth:`NeighbourhoodLibrary.classify` labels every centre atom of a new
image with its nearest centroid (or a stored scikit-learn classifier), with
a confidence, and labels ``-1`` ("unknown") an atom farther from its class
centroid than the class's threshold (``unknown_factor`` times the class's
RMS distance in the library image, at least 5 % of the library's
nearest-neighbour distance, or ``unknown_distance``).

Descriptor scaling: ``"none"`` keeps the neighbour vectors in calibrated
units; ``"nn"`` divides each image's vectors by that image's median
nearest-neighbour distance, so that a library made on one image classifies
another whose pixel size is off by a few percent (common between
microscopes and sessions). The image units must still agree.
"""

import json
import pathlib

import numpy as np

from ._docstrings import fill_doc
from ._library import (
    _SETTINGS,
    _check_model,
    _check_settings,
    _features,
    _nb_settings,
    _python,
    _reason,
    _reference_nn,
    _robust_centroids,
    _sklearn_class,
    _strings,
)
from .numerics._checks import check_array
from .signals._grid import check_bool, check_integer, check_number

__all__ = ["NeighbourhoodLibrary", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_KEY = "NeighbourhoodLibrary"
_SCALINGS = ("none", "nn")
_MODEL_PARTS = ("class", "params", "training", "labels")  # as to_signal writes


class NeighbourhoodLibrary:
    """Neighbourhood classes (centroids + settings) to classify other images.

    Build one with :meth:`from_neighbourhoods`, save it with :meth:`save`,
    read it with :meth:`load`, classify with :meth:`classify`.

    Parameters
    ----------
    centroids : array_like, shape (n_classes, n_components)
        Mean descriptor of each class (scaled as ``scaling`` says).
    names : list of str
        One name per class (e.g. ``"SrTiO3"``, ``"Sr site"``).
    settings : dict
        Neighbourhood settings: ``metric``, ``n_neighbours``, ``radius``,
        ``angle_tolerance``, ``distance_tolerance``, ``units``.
    scaling : {"none", "nn"}
        Descriptor scaling (see the module docstring).
    spread : array_like, shape (n_classes,)
        RMS distance of each class's members to its centroid (outliers left
        out, see :meth:`from_neighbourhoods`).
    reference_nn : float
        Median nearest-neighbour distance of the library image (calibrated;
        1.0 in ``"nn"`` scaling units).
    descriptions : list of str, optional
        Free text per class (material, phase, notes).
    counts : array_like of int, optional
        Atoms per class in the library image.
    spectra : hyperspy Signal1D, optional
        Mean spectrum per class (navigation axis ``cluster``), e.g. from
        :meth:`AtomNeighbourhoods.get_cluster_spectra`.
    model : dict, optional
        A stored scikit-learn classifier: ``{"class": "sklearn....",
        "params": {...}, "X": array, "y": array}`` (training samples); it is
        refitted on load (no pickle).
    source : str
        Where the library was made (title of the image).

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> nb = atoms.get_neighbourhoods(n_neighbours=4, metric="angle")
    >>> nb.cluster_analysis(n_clusters=1)
    >>> lib = NeighbourhoodLibrary.from_neighbourhoods(nb, names=["square"])
    >>> lib.names, lib.centroids.shape
    (['square'], (1, 8))
    """

    def __init__(
        self,
        centroids,
        names,
        settings,
        scaling="none",
        spread=None,
        reference_nn=1.0,
        descriptions=None,
        counts=None,
        spectra=None,
        model=None,
        source="",
    ):
        c = check_array(centroids, "centroids", ndim=2, finite=True)
        if c.shape[0] < 1 or c.shape[1] < 1:
            raise ValueError(
                f"`centroids` must be a finite (n_classes, n_components) array, "
                f"got shape {c.shape}."
            )
        k = c.shape[0]
        names = _strings(names, "names")
        if len(names) != k:
            raise ValueError(f"`names` has {len(names)} entries for {k} classes.")
        if len(set(names)) != k:
            raise ValueError(f"`names` must be unique, got {names}.")
        descriptions = (
            [""] * k if descriptions is None else _strings(descriptions, "descriptions")
        )
        if len(descriptions) != k:
            raise ValueError(
                f"`descriptions` has {len(descriptions)} entries for {k} classes."
            )
        if not isinstance(scaling, str) or scaling not in _SCALINGS:
            raise ValueError(f"`scaling` must be one of {_SCALINGS}, got {scaling!r}.")
        settings = _check_settings(settings)
        n_nb = settings["n_neighbours"]
        if 2 * n_nb != c.shape[1]:
            raise ValueError(
                f"`centroids` have {c.shape[1]} components for "
                f"n_neighbours={n_nb} in `settings` (needs 2 per neighbour)."
            )
        self.centroids = c
        self.names = names
        self.descriptions = [str(d) for d in descriptions]
        self.settings = settings
        self.scaling = scaling
        if spread is None:
            self.spread = np.zeros(k)
        else:
            self.spread = check_array(spread, "spread").ravel()
            if self.spread.shape != (k,):
                raise ValueError(
                    f"`spread` must have one value per class ({k}), got "
                    f"{self.spread.size}."
                )
            if not np.all(np.isfinite(self.spread) & (self.spread >= 0)):
                raise ValueError(
                    "`spread` must hold non-negative, finite distances, got "
                    f"{self.spread.tolist()!r:.80}."
                )
        self.reference_nn = check_number(reference_nn, "reference_nn", "a length")
        if not (np.isfinite(self.reference_nn) and self.reference_nn > 0):
            raise ValueError(f"`reference_nn` must be positive, got {reference_nn}.")
        if counts is None:
            self.counts = np.zeros(k, np.int64)
        else:
            n = check_array(counts, "counts").ravel()
            if n.shape != (k,) or not np.all((n >= 0) & (n == np.round(n))):
                raise ValueError(
                    f"`counts` must be one non-negative integer per class ({k}), got "
                    f"{n.tolist()!r:.80}."
                )
            self.counts = n.astype(np.int64)
        if spectra is not None:
            from hyperspy.signals import BaseSignal

            if not isinstance(spectra, BaseSignal):
                raise TypeError(
                    "`spectra` must be a HyperSpy signal with one spectrum per "
                    f"class, got {type(spectra).__name__}."
                )
        self.spectra = spectra
        self.model = None if model is None else _check_model(model, k, c.shape[1])
        if not isinstance(source, str):
            raise TypeError(f"`source` must be a string, got {source!r:.60}.")
        self.source = source
        self._fitted = None

    # ------------------------------------------------------------ building
    @classmethod
    @fill_doc
    def from_neighbourhoods(
        cls,
        nb,
        names=None,
        descriptions=None,
        labels=None,
        scaling="none",
        spectra=None,
        model=None,
        max_training=5000,
        seed=0,
    ):
        """A library from clustered neighbourhoods (or given labels).

        Each class's centroid is the mean of its members after leaving out
        outliers (members farther from the component-wise median than 3 ×
        the median member distance: boundary atoms, neighbourhoods with a
        swapped neighbour); its spread is their RMS distance to it.

        Parameters
        ----------
        nb : AtomNeighbourhoods
            With :meth:`~AtomNeighbourhoods.cluster_analysis` results, or
            pass ``labels``.
        names : list of str, optional
            Class names (default ``"class 0"``, ...).
        descriptions : list of str, optional
            Free text per class (material, phase).
        labels : array_like of int, optional
            One label per centre (negative: left out); default the cluster
            labels.
        scaling : {"none", "nn"}
            ``"nn"``: divide the vectors by the image's median
            nearest-neighbour distance (robust to calibration errors).
        spectra : hyperspy Signal1D, optional
            One mean spectrum per class (e.g. ``nb.get_cluster_spectra(si)``).
        model : scikit-learn classifier, optional
            Fitted here on (a sample of at most ``max_training``) centres;
            stored as class name, parameters and training samples.
        max_training : int
            Largest number of training samples stored with ``model``.
        %(SEED_ARG)s
            Here: the sample of atoms.

        Returns
        -------
        NeighbourhoodLibrary

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4, metric="angle")
        >>> lib = NeighbourhoodLibrary.from_neighbourhoods(
        ...     nb, labels=np.zeros(len(nb.data), int), names=["square"],
        ...     descriptions=["synthetic square lattice"], scaling="nn")
        >>> round(float(lib.centroids[0, 0]), 2)
        1.0
        """
        from hyperspy.signals import BaseSignal

        from .signals.atom_neighbourhoods import AtomNeighbourhoods

        if not isinstance(nb, AtomNeighbourhoods):
            raise TypeError(
                "`nb` must be an AtomNeighbourhoods signal (from "
                f"`get_neighbourhoods`), got {type(nb).__name__}."
            )
        if not isinstance(scaling, str) or scaling not in _SCALINGS:
            raise ValueError(f"`scaling` must be one of {_SCALINGS}, got {scaling!r}.")
        if names is not None:
            names = _strings(names, "names")
        if descriptions is not None:
            descriptions = _strings(descriptions, "descriptions")
        if spectra is not None and not isinstance(spectra, BaseSignal):
            raise TypeError(
                "`spectra` must be a HyperSpy signal with one spectrum per class "
                f"(e.g. `nb.get_cluster_spectra(si)`), got {type(spectra).__name__}."
            )
        max_training = check_integer(max_training, "max_training", minimum=1)
        seed = check_integer(seed, "seed", minimum=0)
        settings = _nb_settings(nb)
        X = _features(nb, scaling)
        if labels is None:
            lab = nb._labels()
        else:
            values = getattr(labels, "data", labels)
            if isinstance(values, (str, dict, set)):
                raise TypeError(
                    f"`labels` must be one integer per centre, got {labels!r:.60}."
                )
            try:
                lab = np.asarray(values, dtype=float).ravel()
            except (TypeError, ValueError):
                raise TypeError(
                    f"`labels` must be one integer per centre, got {labels!r:.60}."
                ) from None
            if lab.shape != (X.shape[0],):
                raise ValueError(
                    f"`labels` has {lab.size} values for {X.shape[0]} centres."
                )
            if not np.all(np.isnan(lab) | (lab == np.round(lab))):
                raise ValueError("`labels` must be integers.")
            lab = np.where(np.isfinite(lab), lab, -1).astype(np.int64)
        use = lab >= 0
        if not use.any():
            raise ValueError("No centre has a class label (all negative).")
        k = int(lab[use].max()) + 1
        counts = np.bincount(lab[use], minlength=k)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            raise ValueError(
                f"Class(es) {empty.tolist()} have no atoms: every class of a "
                "library needs members (relabel 0..K-1 without gaps)."
            )
        centroids, spread = _robust_centroids(X[use], lab[use], k)
        names = [f"class {i}" for i in range(k)] if names is None else list(names)
        if spectra is not None:
            n_sp = int(np.asarray(spectra.data).shape[0])
            if np.asarray(spectra.data).ndim != 2 or n_sp != k:
                raise ValueError(
                    f"`spectra` must hold one spectrum per class ({k}), got shape "
                    f"{np.asarray(spectra.data).shape}."
                )
        stored = None
        if model is not None:
            rng = np.random.default_rng(seed)
            idx = np.flatnonzero(use)
            if idx.size > max_training:
                idx = np.sort(rng.choice(idx, int(max_training), replace=False))
            cls_path = f"{type(model).__module__}.{type(model).__name__}"
            _sklearn_class(cls_path)  # only scikit-learn models
            params = model.get_params(deep=False)
            try:
                json.dumps(params)
            except TypeError:
                raise ValueError(
                    "The model's parameters must be plain values (numbers, "
                    "strings) to be stored; nested estimators are not supported."
                ) from None
            stored = {
                "class": cls_path,
                "params": params,
                "X": X[idx].copy(),
                "y": lab[idx].copy(),
            }
        ref = 1.0 if scaling == "nn" else _reference_nn(nb)
        return cls(
            centroids,
            names,
            settings,
            scaling=scaling,
            spread=spread,
            reference_nn=ref,
            descriptions=descriptions,
            counts=counts,
            spectra=spectra,
            model=stored,
            source=str(nb.metadata.General.title),
        )

    # -------------------------------------------------------------- access
    @property
    def n_classes(self):
        """Number of classes."""
        return int(self.centroids.shape[0])

    def __repr__(self):
        s = self.settings
        return (
            f"<NeighbourhoodLibrary: {self.n_classes} classes {self.names}, "
            f"{s['metric']} metric, k={s['n_neighbours']}, units "
            f"{s['units']!r}, scaling {self.scaling!r}>"
        )

    # ------------------------------------------------------------ file I/O
    def to_signal(self):
        """The library as a HyperSpy signal (what :meth:`save` writes).

        Examples
        --------
        >>> lib = NeighbourhoodLibrary(
        ...     np.zeros((1, 2)), ["a"], dict(metric="angle", n_neighbours=1,
        ...     radius="None", angle_tolerance=10.0, distance_tolerance=0.1,
        ...     units="nm"))
        >>> lib.to_signal().axes_manager.navigation_axes[0].name
        'class'
        """
        from hyperspy.signals import BaseSignal, Signal1D

        s = Signal1D(self.centroids.copy())
        s.axes_manager.navigation_axes[0].name = "class"
        s.axes_manager.signal_axes[0].name = "component"
        s.metadata.General.title = f"Neighbourhood library ({', '.join(self.names)})"
        md = {
            "format_version": FORMAT_VERSION,
            "names": list(self.names),
            "descriptions": list(self.descriptions),
            "settings": dict(self.settings),
            "scaling": self.scaling,
            "spread": self.spread.copy(),
            "reference_nn": self.reference_nn,
            "counts": self.counts.copy(),
            "source": self.source,
        }
        for k, v in md.items():
            s.metadata.set_item(f"{_KEY}.{k}", v)
        if self.spectra is not None:
            s.metadata.set_item(f"{_KEY}.spectra", self.spectra.deepcopy())
        if self.model is not None:
            m = self.model
            s.metadata.set_item(f"{_KEY}.model.class", m["class"])
            s.metadata.set_item(f"{_KEY}.model.params", json.dumps(m["params"]))
            s.metadata.set_item(
                f"{_KEY}.model.training", BaseSignal(np.asarray(m["X"], np.float64))
            )
            s.metadata.set_item(
                f"{_KEY}.model.labels", BaseSignal(np.asarray(m["y"], np.int64))
            )
        return s

    def save(self, path, overwrite=None):
        """Write the library to a ``.hspy`` or ``.zspy`` file.

        Parameters
        ----------
        path : str or pathlib.Path
        overwrite : bool, optional
            As HyperSpy's ``save`` (None: ask if the file exists).

        Examples
        --------
        >>> import tempfile, os
        >>> lib = NeighbourhoodLibrary(
        ...     np.ones((1, 2)), ["a"], dict(metric="angle", n_neighbours=1,
        ...     radius="None", angle_tolerance=10.0, distance_tolerance=0.1,
        ...     units="nm"))
        >>> path = os.path.join(tempfile.mkdtemp(), "lib.hspy")
        >>> lib.save(path)
        >>> NeighbourhoodLibrary.load(path).names
        ['a']
        """
        if not isinstance(path, (str, pathlib.Path)):
            raise TypeError(f"`path` must be a file path, got {path!r:.60}.")
        check_bool(overwrite, "overwrite", allow_none=True)
        path = pathlib.Path(path)
        if path.suffix not in (".hspy", ".zspy"):
            raise ValueError(
                f"`path`: library files are .hspy or .zspy, got {path.name!r}; "
                "HyperSpy formats keep the metadata exactly."
            )
        self.to_signal().save(path, overwrite=overwrite)

    @classmethod
    def load(cls, path):
        """Read a library written by :meth:`save`.

        Every failure is one ``ValueError`` naming the file: a file that is
        missing, not a readable library (truncated, text, another signal),
        written by an incompatible format version, or whose content is not a
        valid library (edited or damaged metadata or centroids: the reason
        follows the file's name).

        Parameters
        ----------
        path : str or pathlib.Path
            A ``.hspy`` or ``.zspy`` file.

        Returns
        -------
        NeighbourhoodLibrary

        Examples
        --------
        >>> import tempfile, os
        >>> import hyperspy.api as hs
        >>> path = os.path.join(tempfile.mkdtemp(), "x.hspy")
        >>> hs.signals.Signal1D(np.zeros((2, 3))).save(path)
        >>> NeighbourhoodLibrary.load(path)
        Traceback (most recent call last):
        ...
        ValueError: ... is not a neighbourhood library ...
        """
        import logging

        import hyperspy.api as hs

        if not isinstance(path, (str, pathlib.Path)):
            raise TypeError(f"`path` must be a file path, got {path!r:.60}.")
        p = pathlib.Path(path)
        if not p.is_file() and not (p.suffix == ".zspy" and p.is_dir()):
            raise ValueError(f"`path` {str(p)!r}: no such library file.")
        if p.suffix not in (".hspy", ".zspy"):
            raise ValueError(
                f"{str(p)!r} is not a readable localcryst library: libraries are "
                ".hspy or .zspy files written by `NeighbourhoodLibrary.save`."
            )
        log = logging.getLogger("hyperspy.io")  # it logs an error before raising
        level = log.level
        log.setLevel(logging.CRITICAL)
        try:
            s = hs.load(p)
        except Exception as e:  # truncated, not HDF5/zarr, ...: every reader error
            raise ValueError(
                f"{str(p)!r} is not a readable localcryst library (the file could "
                f"not be read: {type(e).__name__}: {e})."
            ) from e
        finally:
            log.setLevel(level)
        if isinstance(s, list):
            raise ValueError(
                f"{str(p)!r} is not a readable localcryst library (it holds "
                f"{len(s)} signals)."
            )
        return cls.from_signal(s, repr(str(p)))

    @classmethod
    def from_signal(cls, s, where="signal"):
        """The library stored in a signal made by :meth:`to_signal`.

        Parameters
        ----------
        s : hyperspy signal
        where : str
            What ``s`` is, quoted in the error (e.g. a file name).

        Raises a ``ValueError`` naming ``where`` for a signal that holds no
        valid library (no or damaged metadata, another format version).

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> NeighbourhoodLibrary.from_signal(hs.signals.Signal1D(np.zeros((2, 3))))
        Traceback (most recent call last):
        ...
        ValueError: signal is not a valid localcryst library: it is not a ...
        """
        from hyperspy.signals import BaseSignal

        if not isinstance(s, BaseSignal):
            raise TypeError(
                "`s` must be a HyperSpy signal made by `NeighbourhoodLibrary."
                f"to_signal`, got {type(s).__name__}."
            )
        try:
            return cls._from_signal(s)
        except MemoryError:
            raise
        except Exception as e:  # damaged or edited content: every reason, one error
            raise ValueError(
                f"{where} is not a valid localcryst library: {_reason(e)}"
            ) from e

    @classmethod
    def _from_signal(cls, s):
        md = s.metadata.get_item(_KEY)
        if md is None:
            raise ValueError(f"it is not a neighbourhood library (no metadata.{_KEY}).")
        version = md.get_item("format_version")
        if isinstance(version, np.generic):
            version = version.item()
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError(
                f"its `format_version` must be an integer, got {version!r:.60}."
            )
        if version != FORMAT_VERSION:
            raise ValueError(
                f"it is a library of format version {version}, this "
                f"hyperspy_localcryst reads version {FORMAT_VERSION}: rebuild the "
                "library with this version (or use the version that wrote it)."
            )
        d = _python(md.as_dictionary())
        missing = [
            k
            for k in ("names", "settings", "scaling", "spread", "reference_nn")
            + ("descriptions", "counts")
            if k not in d
        ]
        if missing:
            raise ValueError(f"its metadata.{_KEY} lacks {missing}.")
        spectra = md.get_item("spectra")
        if spectra is not None:
            spectra = spectra.deepcopy()  # HyperSpy restores it with its axes
        model = None
        if md.get_item("model") is not None:
            parts = {k: md.get_item(f"model.{k}") for k in _MODEL_PARTS}
            missing = [k for k, v in parts.items() if v is None]
            if missing:
                raise ValueError(f"its stored `model` lacks {missing}.")
            try:
                params = json.loads(parts["params"])
            except (TypeError, ValueError):
                raise ValueError(
                    "its stored `model` parameters are not JSON, got "
                    f"{parts['params']!r:.60}."
                ) from None
            model = {
                "class": parts["class"],
                "params": params,
                "X": getattr(parts["training"], "data", parts["training"]),
                "y": getattr(parts["labels"], "data", parts["labels"]),
            }
        data = s.data.compute() if hasattr(s.data, "compute") else s.data
        return cls(
            data,
            d["names"],
            d["settings"],
            scaling=d["scaling"],
            spread=d["spread"],
            reference_nn=d["reference_nn"],
            descriptions=d["descriptions"],
            counts=d["counts"],
            spectra=spectra,
            model=model,
            source=d.get("source", ""),
        )

    # -------------------------------------------------------- classifying
    def check_compatible(self, nb):
        """Raise a ``ValueError`` if ``nb`` was made with other settings or units.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4, metric="angle")
        >>> lib = NeighbourhoodLibrary.from_neighbourhoods(
        ...     nb, labels=np.zeros(len(nb.data), int))
        >>> lib.check_compatible(atoms.get_neighbourhoods(4, metric="distance"))
        Traceback (most recent call last):
        ...
        ValueError: The neighbourhoods do not match the library: metric ...
        """
        from .signals.atom_neighbourhoods import AtomNeighbourhoods

        if not isinstance(nb, AtomNeighbourhoods):
            raise TypeError(
                "`nb` must be an AtomNeighbourhoods signal (from "
                f"`get_neighbourhoods`), got {type(nb).__name__}."
            )
        got = _nb_settings(nb)
        bad = []
        for k in _SETTINGS + ("units",):
            a, b = self.settings[k], got[k]
            same = (
                np.isclose(float(a), float(b))
                if isinstance(a, (int, float)) and isinstance(b, (int, float))
                else a == b
            )
            if not same:
                bad.append(f"{k} is {b!r} (library: {a!r})")
        if bad:
            raise ValueError(
                "The neighbourhoods do not match the library: "
                + "; ".join(bad)
                + ". Compute them with the library's settings "
                "(`library.classify(atoms)` does) and calibrate the image in the "
                "library's units (`axes_manager.convert_units`)."
            )

    def get_neighbourhoods(self, atoms):
        """Neighbourhoods of ``atoms`` computed with the library's settings.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4, metric="angle")
        >>> lib = NeighbourhoodLibrary.from_neighbourhoods(
        ...     nb, labels=np.zeros(len(nb.data), int))
        >>> lib.get_neighbourhoods(atoms).metadata.AtomNeighbourhoods.metric
        'angle'
        """
        from .signals.atom_positions import AtomPositions

        if not isinstance(atoms, AtomPositions):
            raise TypeError(
                f"`atoms` must be an AtomPositions table, got {type(atoms).__name__}."
            )
        s = self.settings
        units = atoms.grid["x"]["units"]
        if units != s["units"]:
            raise ValueError(
                f"The image is calibrated in {units!r}, the library in "
                f"{s['units']!r}: convert the image's axes "
                f"(`axes_manager.convert_units(units={s['units']!r})`) before "
                "finding the atoms, or calibrate it."
            )
        radius = None if s["radius"] in (None, "None") else float(s["radius"])
        return atoms.get_neighbourhoods(
            n_neighbours=int(s["n_neighbours"]),
            metric=s["metric"],
            radius=radius,
            angle_tolerance=float(s["angle_tolerance"]),
            distance_tolerance=float(s["distance_tolerance"]),
        )

    def _fitted_model(self):
        if self.model is None:
            raise ValueError(
                "`method`='model': this library stores no scikit-learn model; use "
                "`method='centroid'`, or build the library with "
                "`from_neighbourhoods(..., model=...)`."
            )
        if self._fitted is None:
            est = _sklearn_class(self.model["class"])(**self.model["params"])
            est.fit(self.model["X"], self.model["y"])
            self._fitted = est
        return self._fitted

    def thresholds(self, unknown_factor=3.0, unknown_distance=None):
        """Largest distance to its centroid at which an atom is of a class.

        ``unknown_distance`` (descriptor units) for every class if given,
        else ``unknown_factor`` × the class's spread, at least 5 % of the
        library's nearest-neighbour distance.

        Examples
        --------
        >>> lib = NeighbourhoodLibrary(
        ...     np.ones((1, 2)), ["a"], dict(metric="angle", n_neighbours=1,
        ...     radius="None", angle_tolerance=10.0, distance_tolerance=0.1,
        ...     units="nm"), spread=[0.1], reference_nn=0.3)
        >>> lib.thresholds().round(3).tolist()
        [0.3]
        """
        f = check_number(unknown_factor, "unknown_factor")
        if not (np.isfinite(f) and f > 0):
            raise ValueError(
                f"`unknown_factor` must be positive and finite, got {unknown_factor}."
            )
        if unknown_distance is not None:
            d = check_number(unknown_distance, "unknown_distance", "a distance")
            if not (np.isfinite(d) and d > 0):
                raise ValueError(
                    "`unknown_distance` must be positive and finite, got "
                    f"{unknown_distance}."
                )
            return np.full(self.n_classes, d)
        return np.maximum(f * self.spread, 0.05 * self.reference_nn)

    def classify(
        self, data, method="centroid", unknown_factor=3.0, unknown_distance=None
    ):
        """Classify every centre atom of a new image against the library.

        Parameters
        ----------
        data : AtomPositions or AtomNeighbourhoods
            A per-atom table (neighbourhoods are computed with the library's
            settings) or neighbourhoods (refused unless made with the same
            settings and units).
        method : {"centroid", "model"}
            Nearest centroid, or the stored scikit-learn model's prediction.
        unknown_factor, unknown_distance
            See :meth:`thresholds`: an atom farther than its class's threshold
            from that class's centroid is ``-1`` ("unknown").

        Returns
        -------
        AtomPositions
            The centres (rows of the neighbourhoods) with columns ``class``
            (index into ``names``, -1 unknown), ``confidence`` (nearest
            centroid: ``1 - d1 / d2`` with ``d1``, ``d2`` the distances to
            the nearest and second-nearest centroids, 0 for unknown atoms;
            model: its predicted probability) and ``class_distance``
            (descriptor units). ``metadata.Classification`` has ``names``,
            ``fractions`` (per class, then ``unknown``), ``thresholds``.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4, metric="angle")
        >>> lib = NeighbourhoodLibrary.from_neighbourhoods(
        ...     nb, labels=np.zeros(len(nb.data), int), names=["square"])
        >>> other = synthetic_lattice(shape=(160, 128), seed=5).find_atoms()
        >>> res = lib.classify(other)
        >>> res.metadata.Classification.fractions
        [1.0, 0.0]
        """
        from scipy.spatial.distance import cdist

        from .signals.atom_neighbourhoods import AtomNeighbourhoods
        from .signals.atom_positions import AtomPositions

        if not isinstance(method, str) or method not in ("centroid", "model"):
            raise ValueError(f"Unknown `method` {method!r}; use 'centroid' or 'model'.")
        if method == "model":
            self._fitted_model()  # refused (no model) before the work
        self.thresholds(unknown_factor, unknown_distance)  # checked before the work
        if isinstance(data, AtomNeighbourhoods):
            nb = data
            self.check_compatible(nb)
        elif isinstance(data, AtomPositions):
            nb = self.get_neighbourhoods(data)
        else:
            raise TypeError(
                "`data` must be AtomPositions or AtomNeighbourhoods, got "
                f"{type(data).__name__}."
            )
        thr = self.thresholds(unknown_factor, unknown_distance)
        X = _features(nb, self.scaling)
        d = cdist(X, self.centroids)
        if method == "centroid":
            order = np.argsort(d, axis=1)
            best = order[:, 0]
            d1 = d[np.arange(len(X)), best]
            if self.n_classes > 1:
                d2 = d[np.arange(len(X)), order[:, 1]]
                with np.errstate(invalid="ignore", divide="ignore"):
                    conf = np.where(d2 > 0, 1.0 - d1 / d2, 0.0)
            else:
                conf = np.clip(1.0 - d1 / thr[0], 0.0, 1.0)
        elif method == "model":
            est = self._fitted_model()
            best = np.asarray(est.predict(X), dtype=np.int64)
            d1 = d[np.arange(len(X)), best]
            if hasattr(est, "predict_proba"):
                p = est.predict_proba(X)
                cols = {int(c): i for i, c in enumerate(est.classes_)}
                conf = p[np.arange(len(X)), [cols[int(b)] for b in best]]
            else:
                conf = np.ones(len(X))
        else:  # pragma: no cover - checked above
            raise ValueError(f"Unknown `method` {method!r}; use 'centroid' or 'model'.")
        unknown = d1 > thr[best]
        label = np.where(unknown, -1, best)
        conf = np.where(unknown, 0.0, conf)
        frac = np.bincount(label + 1, minlength=self.n_classes + 1) / max(len(X), 1)
        fractions = [float(f) for f in frac[1:]] + [float(frac[0])]
        units = "" if self.scaling == "nn" else self.settings["units"]
        out = nb.get_centres().add_columns(
            {"class": label, "confidence": conf, "class_distance": d1},
            {"class": "", "confidence": "", "class_distance": units},
        )
        out.metadata.set_item(
            "Classification",
            {
                "names": list(self.names),
                "fractions": fractions,
                "fraction_names": list(self.names) + ["unknown"],
                "thresholds": thr.tolist(),
                "method": method,
                "library_source": self.source,
            },
        )
        return out
