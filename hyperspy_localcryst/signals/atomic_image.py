"""The atomically resolved image signal.

:class:`AtomicImage` is a :class:`hyperspy.api.signals.Signal2D` with
``signal_type="atomic_image"``. Its methods are thin: they check the axes,
convert calibrated parameters to pixels once, call the numerics in
:mod:`hyperspy_localcryst.numerics` on each frame and wrap the results as
signals in calibrated units. Nothing here modifies the signal it is called
on.
"""

import os
import threading
import uuid
import warnings
import zlib

import numpy as np
from hyperspy.signals import (
    BaseSignal,
    ComplexSignal2D,
    LazyComplexSignal2D,
    LazySignal,
    LazySignal2D,
    Signal2D,
)
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from ..numerics import _checks, detection, finding, refinement
from ..numerics._imaging import gain_exponent, gaussian_at
from ..numerics._parallel import kd_query, limit_threads
from ..numerics.frames import frame_groups
from ..numerics.noise import estimate_noise
from ..numerics.separation import ESTIMATE_PX, central_crop, central_separation
from . import _stack
from ._grid import (
    axis_units,
    check_bool,
    check_integer,
    check_n_sublattices,
    check_number,
    check_numbers,
    check_units,
    grid_from_axes,
    pixel_scale,
    to_calibrated,
    to_pixels,
)
from .atom_positions import AtomPositions, make_atom_positions

__all__ = [
    "AtomicImage",
    "LazyAtomicImage",
    "ComplexAtomicImage",
    "LazyComplexAtomicImage",
]

# Units of the refined columns: "length" = the image's axis units,
# "intensity" = the image's intensity units.
_REFINED_UNITS = {
    "x": "length",
    "y": "length",
    "amplitude": "intensity",
    "sigma_x": "length",
    "sigma_y": "length",
    "sigma_major": "length",
    "sigma_minor": "length",
    "ellipticity": "",
    "orientation": "deg",
    "background": "intensity",
    "intensity": "intensity",
    "residual": "intensity",
    "snr": "",
    "x_err": "length",
    "y_err": "length",
    "converged": "",
    "fit_status": "",
    "fit_radius": "length",
}
_LENGTH_COLUMNS = (
    "sigma_x",
    "sigma_y",
    "sigma_major",
    "sigma_minor",
    "x_err",
    "y_err",
    "fit_radius",
)


#: the aliases of ``atomic_image`` in hyperspy_extension.yaml
_SIGNAL_TYPE_ALIASES = ("atomic_resolution_image",)


class AtomicImage(Signal2D):
    """An atomically resolved image (HAADF/ABF/iDPC STEM, STM...).

    Load one with ``hs.load(path, signal_type="atomic_image")`` or convert a
    Signal2D with ``s.set_signal_type("atomic_image")``. The two signal axes
    must be uniform, with square pixels and the same units; navigation axes
    (time, tilt...) are processed frame by frame.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> s = synthetic_lattice(shape=(128, 128), seed=0)
    >>> s.metadata.Signal.signal_type
    'atomic_image'
    """

    _signal_type = "atomic_image"
    _signal_dimension = 2
    _lazy = False

    def __init__(self, *args, **kwargs):
        _check_frame_shapes(args[0] if args else kwargs.get("data"))
        super().__init__(*args, **kwargs)
        # an alias (``set_signal_type("atomic_resolution_image")``) is stored
        # as the canonical name, so saved files and comparisons see one name
        if self.metadata.get_item("Signal.signal_type") in _SIGNAL_TYPE_ALIASES:
            self.metadata.set_item("Signal.signal_type", self._signal_type)

    # --------------------------------------------------------------- helpers
    def _grid(self):
        grid = grid_from_axes(self.axes_manager.signal_axes)
        pixel_scale(grid)  # raises on non-square pixels
        return grid

    def _check_real(self):
        if np.iscomplexobj(self.data) or self.data.dtype.kind not in "biuf":
            raise TypeError(
                f"An AtomicImage needs real numbers, this one has dtype "
                f"{self.data.dtype}; take the amplitude or phase first."
            )

    def _frames(self):
        """Yield (flat frame index, 2D float array) for every navigation index."""
        self._check_real()
        nav_shape = tuple(self.axes_manager.navigation_shape[::-1])
        if len(nav_shape) == 0:
            yield 0, np.asarray(self.data, dtype=np.float64)
            return
        for k, idx in enumerate(np.ndindex(*nav_shape)):
            yield k, np.asarray(self.data[idx], dtype=np.float64)

    def _navigation(self):
        return [ax.get_axis_dictionary() for ax in self.axes_manager.navigation_axes]

    def _length_to_px(self, value, name):
        if value is None:
            return None
        v = check_number(value, name, "a length in the calibrated units of the axes")
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"`{name}` must be a positive length, got {value}.")
        return v / pixel_scale(self._grid())

    def _filter_width_px(self, value, name, times=1):
        """A width in pixels, refused beyond ``times`` the image size: a
        Gaussian of sigma 1e8 px builds a kernel of 8e8 taps (minutes and the
        memory of the machine); a wider one is the image mean anyway."""
        px = self._length_to_px(value, name)
        size = max(self.axes_manager.signal_shape)
        if px > times * size:
            limit = "the image" if times == 1 else f"{times} times the image"
            raise ValueError(
                f"`{name}` ({value:g} = {px:.4g} px) is wider than {limit} ({size} px)."
            )
        return px

    def _source(self):
        return {
            "title": str(self.metadata.General.title),
            "original_filename": str(
                self.metadata.get_item("General.original_filename", "")
            ),
        }

    # -------------------------------------------------------- preprocessing
    def normalise_contrast(
        self,
        percentiles=(0.1, 99.9),
        show_progressbar=None,
        num_workers=None,
        lazy_output=None,
    ):
        """Scale each frame so the given percentiles map to 0 and 1.

        Values outside are clipped. Returns a new signal. In a stack, a
        constant frame cannot be scaled: it becomes NaN (with a
        ``RuntimeWarning``) and the other frames are kept; a single constant
        image is a ``ValueError``.

        Parameters
        ----------
        percentiles : tuple of float
            Lower and upper percentile.
        show_progressbar : bool, optional
            For a stack; default HyperSpy's preference.
        num_workers : int, optional
            Frames processed in parallel (HyperSpy's ``map``); default
            HyperSpy's (dask's) choice.
        lazy_output : bool, optional
            Return a lazy signal (HyperSpy's ``map``); default lazy only for
            a lazy stack.

        Returns
        -------
        AtomicImage

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(64, 64), seed=0).normalise_contrast((0, 100))
        >>> float(s.data.min()), float(s.data.max())
        (0.0, 1.0)
        """
        lo, hi = check_numbers(percentiles, "percentiles", 2, "a pair (low, high)")
        if not 0 <= lo < hi <= 100:
            raise ValueError(
                f"`percentiles` must satisfy 0 <= low < high <= 100, got {percentiles}."
            )
        self._check_real()
        stack = self.axes_manager.navigation_dimension > 0
        return self._map_new(
            _normalise,
            show_progressbar,
            num_workers,
            lazy_output,
            lo=lo,
            hi=hi,
            stack=stack,
        )

    def denoise(
        self,
        method="gaussian",
        sigma=None,
        size=None,
        show_progressbar=None,
        num_workers=None,
        lazy_output=None,
    ):
        """Remove noise with a Gaussian or a median filter.

        Parameters
        ----------
        method : {"gaussian", "median"}
            The filter.
        sigma : float, optional
            Gaussian width in calibrated units (at most ten times the image
            size); default one pixel.
        size : float, optional
            Median window in calibrated units (at most the image size);
            default three pixels.
        show_progressbar : bool, optional
            For a stack; default HyperSpy's preference.
        num_workers : int, optional
            Frames processed in parallel (HyperSpy's ``map``); default
            HyperSpy's (dask's) choice.
        lazy_output : bool, optional
            Return a lazy signal (HyperSpy's ``map``); default lazy only for
            a lazy stack.

        Returns
        -------
        AtomicImage

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(64, 64), seed=0)
        >>> bool(s.denoise().data.std() < s.data.std())
        True
        """
        self._check_real()
        if not isinstance(method, str) or method not in ("gaussian", "median"):
            raise ValueError(
                f"Unknown `method` {method!r}; choose 'gaussian' or 'median'."
            )
        # both widths are checked, whichever the method uses
        sigma_px = None if sigma is None else self._filter_width_px(sigma, "sigma", 10)
        size_px = None if size is None else self._filter_width_px(size, "size")
        if method == "gaussian":
            px = 1.0 if sigma_px is None else sigma_px
            return self._map_new(
                _gaussian, show_progressbar, num_workers, lazy_output, sigma=px
            )
        n = max(int(round(3.0 if size_px is None else size_px)), 1)
        return self._map_new(
            _median, show_progressbar, num_workers, lazy_output, size=n
        )

    def remove_background(
        self, sigma=None, show_progressbar=None, num_workers=None, lazy_output=None
    ):
        """Subtract a smooth background (a wide Gaussian blur of the image).

        Parameters
        ----------
        sigma : float, optional
            Width of the background in calibrated units, at most ten times
            the image size; default three times the atom separation
            (estimated if needed), limited to the image size.
        show_progressbar : bool, optional
            For a stack; default HyperSpy's preference.
        num_workers : int, optional
            Frames processed in parallel (HyperSpy's ``map``); default
            HyperSpy's (dask's) choice.
        lazy_output : bool, optional
            Return a lazy signal (HyperSpy's ``map``); default lazy only for
            a lazy stack.

        Returns
        -------
        AtomicImage
            The image minus its background; it can have negative values.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(64, 64), seed=0)
        >>> abs(float(s.remove_background(sigma=1.0).data.mean())) < 1
        True
        """
        self._check_real()
        if sigma is None:
            px = 3 * self._length_to_px(self.estimate_separation(), "separation")
            px = min(px, max(self.axes_manager.signal_shape))
        else:
            px = self._filter_width_px(sigma, "sigma", 10)
        return self._map_new(
            _subtract_background, show_progressbar, num_workers, lazy_output, sigma=px
        )

    def _map_new(
        self, function, show_progressbar=None, num_workers=None, lazy_output=None, **kw
    ):
        """``self.map(function)`` into a new float64 signal, with HyperSpy's
        ``show_progressbar``, ``num_workers`` and ``lazy_output`` checked."""
        check_bool(show_progressbar, "show_progressbar", allow_none=True)
        check_bool(lazy_output, "lazy_output", allow_none=True)
        if num_workers is not None:
            num_workers = check_integer(num_workers, "num_workers", minimum=1)
        return self.map(
            function,
            inplace=False,
            output_dtype=np.float64,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
            lazy_output=lazy_output,
            **kw,
        )

    # --------------------------------------------------------------- finding
    def estimate_separation(self):
        """Estimate the smallest distance between atomic columns.

        The distance between neighbouring columns, not the lattice period:
        the nearest-neighbour distances of the image's significant local
        maxima, cross-checked with its autocorrelation, so that a dim
        sublattice visible above the noise (MoS2's S2 sites, a perovskite's B
        sites) sets it; see
        :func:`hyperspy_localcryst.numerics.separation.estimate_separation`.
        For a stack, of the first usable frame: frames where it fails (NaN
        pixels, constant) are skipped with a ``RuntimeWarning`` naming them;
        only when every frame fails is it an error (naming the reasons).

        Returns
        -------
        float
            Separation in the calibrated units of the signal axes.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(256, 256), spacing=20, scale=0.01, seed=0)
        >>> round(s.estimate_separation(), 2)
        0.2
        """
        scale = pixel_scale(self._grid())
        if self.axes_manager.navigation_dimension == 0:
            _, img = next(self._frames())
            return central_separation(img) * scale
        return self._stack_separation(warn=True) * scale

    def find_atoms(
        self,
        separation=None,
        method=None,
        target=None,
        threshold="auto",
        n_sublattices=1,
        min_area=0.25,
        max_area=2.5,
        min_votes=None,
        contrast="auto",
        min_significance="auto",
        replace_outliers=True,
        show_progressbar=None,
        num_workers=None,
    ):
        """Find every atomic column, without assuming a lattice.

        By default the maxima of the scale-normalised Laplacian of Gaussian
        (LoG), which, measured on synthetic lattices, a dim sublattice and
        real images, finds close and faint columns that the paper's template
        search (``method="template"``: a target cross-correlated over the
        image, the correlation map thresholded, blobs filtered by a size
        histogram) merges or misses. See
        :mod:`hyperspy_localcryst.numerics.finding`.

        Parameters
        ----------
        separation : float, optional
            Smallest column separation in calibrated units; estimated with
            :meth:`estimate_separation` when not given (for a stack, once, on
            the first usable frame, and used for every frame).
        method : str or list of str
            Default: ``"template"`` when a `target` is given, else ``"log"``.
            ``"log"``, ``"template"``, ``"local_max"``, ``"sparse"``
            (non-negative sparse deconvolution by the column profile: resolves
            overlapping columns down to about 2.5 widths apart, slower), or a
            list of them for a majority consensus.
        target : array, signal, (x, y) or list of those, optional
            Representative atom(s): a 2D array or signal, or the calibrated
            position of an atom in this image. Several targets label the atoms
            by the best-matching one (``sublattice`` column). Chosen
            automatically when not given.
        threshold : float or "auto"
            Correlation threshold (template) or prominence (others).
        n_sublattices : int
            Split the atoms into this many types by peak intensity (Gaussian
            mixture); 0 = brightest. At most the number of atoms found (in a
            stack, a frame with fewer atoms fails). Ignored when several
            targets are given.
        min_area, max_area : float
            Blob-size filter of the template finder, as fractions of the
            median blob area.
        min_votes : int, optional
            Finders that must agree in a consensus (default: a majority).
        contrast : {"auto", "bright", "dark"}
            Columns are bright peaks (HAADF) or dark dips (ABF, many STM and
            iDPC images; found as the peaks of the reversed image).
            ``"auto"`` decides from the image (the skewness and the extrema
            of its matched-filter significance map, or, where that map is
            nearly symmetric as on square lattices of broad columns, which
            extrema are sharp; see
            :func:`~hyperspy_localcryst.numerics.detection.decide_contrast`;
            in a stack on each
            frame as it is found, ``"mixed"`` when frames differ), records
            the decision in the settings metadata (``contrast``) and, when
            it decides ``"dark"``, says so with a ``UserWarning``.
        min_significance : "auto", float or None
            Drop the atoms whose significance (the ``significance`` column)
            is below this many sigma; ``None`` or 0 keeps every candidate.
            ``"auto"``: the threshold that leaves 0.05 expected false atoms
            in a frame of pure noise (4.5 sigma for 128 x 128 px, 5 from
            about 600 x 600 px on; see
            :func:`hyperspy_localcryst.numerics.detection.significance_threshold`),
            recorded as ``significance_threshold`` in the settings.
        replace_outliers : bool
            Replace single-pixel outliers (hot/dead pixels, cosmic rays; see
            :func:`hyperspy_localcryst.numerics.detection.find_outliers`) by
            their 3 x 3 median before finding; their number is stored as
            ``n_outliers`` in the settings metadata and reported with a
            ``UserWarning``.
        show_progressbar : bool, optional
            HyperSpy's progress bar over the frames of a stack (default: the
            HyperSpy preference).
        num_workers : int, optional
            Frames processed in parallel (dask threads). Default: one per
            core, each frame then single-threaded; ``1`` processes the frames
            one after another, each on all cores. With a
            ``dask.distributed`` client active, the frames run on its
            workers instead (see ``docs/series.md``).

        Returns
        -------
        AtomPositions
            Columns ``x``, ``y`` (calibrated), ``score``, ``peak`` (smoothed
            image value), ``sublattice``, ``significance`` (matched-filter
            response of the column above its local background divided by its
            standard deviation under the image's own noise, units
            ``sigma``; see
            :func:`hyperspy_localcryst.numerics.detection.significance`);
            ``votes`` for a consensus; ``frame`` for a stack.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(128, 128), spacing=20, seed=0)
        >>> atoms = s.find_atoms()
        >>> atoms.n_atoms
        49
        """
        grid = self._grid()
        scale = pixel_scale(grid)
        n_sublattices = check_integer(n_sublattices, "n_sublattices", minimum=1)
        if method is None:
            method = "log" if target is None else "template"
        if not isinstance(method, (str, list, tuple)):
            raise TypeError(
                f"`method` must be a finder's name or a list of names, got {method!r}."
            )
        methods = [method] if isinstance(method, str) else list(method)
        if isinstance(threshold, str):
            if threshold != "auto":
                raise ValueError(
                    f"`threshold` must be a number or 'auto', got {threshold!r}."
                )
        else:
            check_number(threshold, "threshold", "a number or 'auto'")
        min_area = check_number(min_area, "min_area")
        max_area = check_number(max_area, "max_area")
        # checked whatever the method (they are the template finder's)
        if not (np.isfinite(max_area) and 0 <= min_area < max_area):
            raise ValueError(
                "Need 0 <= `min_area` < `max_area` (finite fractions of the median), "
                f"got min_area={min_area}, max_area={max_area}."
            )
        if min_votes is not None:
            min_votes = check_integer(
                min_votes, "min_votes", minimum=1, maximum=max(len(methods), 1)
            )
        for m in methods:
            if m not in finding.METHODS:
                raise ValueError(
                    f"Unknown `method` {m!r}; choose from {list(finding.METHODS)} "
                    "or a list of them."
                )
        contrast = _check_contrast(contrast)
        min_sig = _check_min_significance(min_significance)
        replace_outliers = check_bool(replace_outliers, "replace_outliers")
        sep_px = (
            self._length_to_px(separation, "separation")
            if separation is not None
            else self._stack_separation(clean=replace_outliers)
        )
        skewness = None
        if sep_px is not None:  # refused before any work (as the finders do)
            _checks._check_separation(sep_px, (grid["y"]["size"], grid["x"]["size"]))
        if contrast == "auto" and self.axes_manager.navigation_dimension == 0:
            if sep_px is None:
                # (no name kept for the cleaned copy: it would live on, a
                # second image in memory, through the whole find)
                sep_px = central_separation(
                    _cleaned(
                        _checks.check_image(next(self._frames())[1]),
                        replace_outliers,
                    )[0]
                )
            contrast, skewness = self._decide_contrast(sep_px, replace_outliers)
        results = self._run_frames(
            _find_frame,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
            sep_px=sep_px,
            method=method,
            targets=self._target_spec(target, grid, sep_px),
            threshold=threshold,
            n_sublattices=n_sublattices,
            min_area=min_area,
            max_area=max_area,
            min_votes=min_votes,
            contrast=contrast,
            min_significance=min_sig,
            replace_outliers=replace_outliers,
        )
        info = [r.pop("detection") for r in results if "detection" in r]
        if contrast == "auto":  # a stack: decided on each frame as it is found
            decided = sorted({d["contrast"] for d in info})
            n_dark = sum(d["contrast"] == "dark" for d in info)
            contrast = decided[0] if len(decided) == 1 else "mixed"
            if n_dark:
                warnings.warn(
                    f"contrast='auto' decided that the columns are dark (dips, as "
                    f"in ABF) in {n_dark} of {len(info)} frame(s): there they are "
                    "found as minima. Pass contrast='bright' (or 'dark') to "
                    "treat every frame alike.",
                    UserWarning,
                    stacklevel=2,
                )
        n_outliers = int(sum(d["n_outliers"] for d in info))
        n_weak = int(sum(d["n_below"] for d in info))
        n_outside = int(sum(d.get("n_outside", 0) for d in info))
        best_weak = max((d["best_below"] for d in info), default=np.nan)
        thr_used = float(np.nanmax([d["threshold"] for d in info] or [0.0]))
        if n_outliers:
            warnings.warn(
                f"{n_outliers} single-pixel outlier(s) (hot/dead pixels) were "
                "replaced by their 3 x 3 median before finding (settings "
                "`n_outliers`); pass `replace_outliers=False` to keep them.",
                UserWarning,
                stacklevel=2,
            )
        table = _pool_frames(results)
        n = 0 if table is None else len(table["x"])
        if n == 0:
            weak = (
                f" {n_weak} candidate(s) were below `min_significance`="
                f"{min_significance!r} ({thr_used:.3g} sigma; the strongest "
                f"{best_weak:.3g} sigma): the image's noise "
                "explains them. Lower `min_significance` (None keeps every "
                "candidate) only if you expect columns that faint."
                if n_weak
                else ""
            )
            raise ValueError(
                f"No atoms found (contrast={contrast!r}).{weak} Check `separation` "
                "(the smallest column distance, in "
                f"{grid['x']['units'] or 'calibrated units'}), `contrast`, lower "
                "`threshold`, or try another `method`."
            )
        table["x"], table["y"] = to_calibrated(grid, table["x"], table["y"])
        sep_used = table.pop("separation")
        units = {
            "x": grid["x"]["units"],
            "y": grid["y"]["units"],
            "peak": self._iunits(),
            "significance": "sigma",
        }
        settings = {
            "step": "find_atoms",
            "contrast": contrast,
            "contrast_skewness": np.nan if skewness is None else float(skewness),
            "min_significance": (
                min_sig if isinstance(min_sig, str) else float(min_sig or 0.0)
            ),
            "significance_threshold": thr_used,
            "n_below_significance": n_weak,
            "n_centred_outside": n_outside,
            "n_outliers": n_outliers,
            "method": method if isinstance(method, str) else "+".join(method),
            "separation": float(np.median(sep_used) * scale),
            "threshold": threshold,
            "n_sublattices": n_sublattices,
            "n_targets": 0
            if target is None
            else len(target)
            if isinstance(target, list)
            else 1,
        }
        return self._make_table(table, units, settings, results)

    def _make_table(self, table, units, settings, results):
        """Wrap pooled frame columns as AtomPositions with the stack's metadata."""
        grid = self._grid()
        if self.axes_manager.navigation_dimension == 0:
            table.pop("frame", None)
        else:
            coords, coord_units = _navigation_columns(
                self.axes_manager.navigation_axes, table["frame"], set(table)
            )
            table.update(coords)
            units.update(coord_units)
        out = make_atom_positions(
            table,
            units,
            grid,
            settings=settings,
            navigation=self._navigation() or None,
            title=f"Atoms of {self.metadata.General.title}".strip(),
        )
        out.metadata.set_item("Source", self._source())
        _record_failed(out, results)
        return out

    # ------------------------------------------------------- frame machinery
    def _run_frames(
        self, function, show_progressbar=None, num_workers=None, iterating=None, **kw
    ):
        """Apply ``function(frame, **kw)`` to every frame; list of results.

        A single image is processed directly and errors propagate. A stack
        goes through HyperSpy's :meth:`map` (``ragged=True``): one task per
        frame (per chunk for lazy data), dask's threads by default, a
        ``dask.distributed`` client when one is active, HyperSpy's progress
        bar. Each frame's numerics then run on one thread when frames run in
        parallel. An exception in one frame becomes ``{"error": message}``
        for that frame (the caller warns and keeps the others); when every
        frame fails, a ValueError lists every frame's reason.
        """
        self._check_real()
        check_bool(show_progressbar, "show_progressbar", allow_none=True)
        if num_workers is not None:
            num_workers = check_integer(
                num_workers, "num_workers", minimum=1, type_error=ValueError
            )
        iterating = iterating or {}  # name -> object array of navigation shape
        if self.axes_manager.navigation_dimension == 0:
            data = self.data.compute() if isinstance(self, LazySignal) else self.data
            kw.update({k: v[()] for k, v in iterating.items()})
            return [function(np.asarray(data), **kw)]
        n_frames = self.axes_manager.navigation_size
        # frames run in parallel: share the cores out between them
        cores = os.cpu_count() or 1
        if _distributed_client():
            threads = 1
        elif num_workers == 1:
            threads = None
        else:
            threads = max(1, cores // min(num_workers or cores, n_frames))
        mapped = self._frames_as_lazy().map(
            _guarded,
            frame_function=function,
            threads=threads,
            inplace=False,
            ragged=True,
            lazy_output=False,
            output_signal_size=(),
            output_dtype=object,
            show_progressbar=show_progressbar,
            num_workers=None if num_workers is None else int(num_workers),
            **{k: BaseSignal(v, ragged=True) for k, v in iterating.items()},
            **kw,
        )
        results = list(np.asarray(mapped.data, dtype=object).ravel())
        errors = [(k, r["error"]) for k, r in enumerate(results) if "error" in r]
        if len(errors) == n_frames:
            raise ValueError(f"Every frame failed; {_failure_summary(errors)}")
        for k, e in errors:
            warnings.warn(
                f"Frame {k} ({self._frame_label(k)}) failed and has no atoms: {e}",
                RuntimeWarning,
                stacklevel=3,
            )
        return results

    def _frames_as_lazy(self):
        """The stack as a lazy signal, one frame per chunk, without copying.

        A lazy stack is returned as it is (mapped chunk by chunk). An
        in-memory stack is wrapped as a dask array whose chunks are views of
        its frames: HyperSpy's ``as_lazy`` (``dask.array.from_array``) first
        copies the whole stack and hashes it to name the chunks, serial work
        of about 13 ms per 4 MB frame before any frame is processed.
        """
        if isinstance(self, LazySignal):
            return self
        import dask.array as da

        data = self.data
        am = self.axes_manager
        nav_shape = data.shape[: am.navigation_dimension]
        sig_dim = am.signal_dimension
        name = f"localcryst-frames-{uuid.uuid4().hex}"
        graph = {
            (name, *idx) + (0,) * sig_dim: data[tuple(slice(i, i + 1) for i in idx)]
            for idx in np.ndindex(*nav_shape)
        }
        chunks = tuple((1,) * n for n in nav_shape) + tuple(
            (n,) for n in data.shape[len(nav_shape) :]
        )
        # only the frames are mapped: a plain lazy 2D signal of the same
        # navigation shape (HyperSpy's public constructor) is all `map` needs
        return LazySignal2D(
            da.Array(graph, name, chunks, meta=np.empty((0,) * data.ndim, data.dtype))
        )

    def _frame_label(self, k):
        axes = self.axes_manager.navigation_axes
        coords, units = _navigation_columns(axes, np.array([k]), set())
        return ", ".join(
            f"{name}={v[0]:g} {units[name]}".strip() for name, v in coords.items()
        )

    def _target_spec(self, target, grid, sep_px=None):
        """Targets as arrays, or ("position", x_px, y_px, label) cut from each
        frame; a position must leave the target (sized from ``sep_px`` when
        known) inside the image."""
        if target is None:
            return None
        items = target if isinstance(target, list) else [target]
        if len(items) == 0:
            raise ValueError("`target` is an empty list.")
        kinds = (
            "a 2D array, a 2D signal, an (x, y) position in calibrated units or a "
            "list of those"
        )
        out = []
        for t in items:
            if isinstance(t, (str, bytes, dict, set, frozenset)) or t is None:
                raise TypeError(f"`target` must be {kinds}, got {t!r:.80}.")
            if isinstance(t, BaseSignal):
                if t.axes_manager.signal_dimension != 2:
                    raise ValueError("A target signal must be a 2D image.")
                _check_target_grid(t, grid)
                out.append(np.asarray(t.data, dtype=float))
            elif isinstance(t, tuple) and len(t) == 2 and np.ndim(t[0]) == 0:
                x, y = check_numbers(t, "target", 2, "an (x, y) position")
                xp, yp = to_pixels(grid, [x], [y])
                units = grid["x"]["units"] or "px"
                spec = (
                    "position",
                    float(xp[0]),
                    float(yp[0]),
                    f"({x:g}, {y:g}) {units}",
                )
                half = 0 if sep_px is None else _target_half_width(sep_px)
                _check_target_position(spec, half, grid["x"]["size"], grid["y"]["size"])
                out.append(spec)
            else:
                try:
                    arr = np.asarray(t, dtype=float)
                except (TypeError, ValueError):
                    raise TypeError(
                        f"`target` must be {kinds}, got {t!r:.80}."
                    ) from None
                if arr.ndim != 2:
                    raise ValueError(
                        "`target` must be a 2D array, a 2D signal, an (x, y) position "
                        "in calibrated units, or a list of those; got shape "
                        f"{arr.shape}."
                    )
                out.append(arr)
        return out

    def _stack_separation(self, warn=False, clean=False):
        """One separation (pixels) for every frame of a stack, or None for an image.

        Estimated on the first frame where it can be (a frame of NaN or
        constant pixels is skipped, with a warning if ``warn``), so that every
        frame is searched with the same scale (and the autocorrelation is
        computed once, not per frame). Every frame failing is an error.
        ``clean``: single-pixel outliers replaced first (a strong hot pixel
        dominates the autocorrelation).
        """
        if self.axes_manager.navigation_dimension == 0:
            return None
        errors = []
        for k, img in self._frames():  # one frame in memory at a time
            try:
                if clean:
                    img = _cleaned(_checks.check_image(img), True)[0]
                sep = central_separation(img)
            except (ValueError, TypeError, ArithmeticError) as e:
                errors.append((k, f"{type(e).__name__}: {e}"))
                continue
            for j, e in errors if warn else ():
                warnings.warn(
                    f"Frame {j} ({self._frame_label(j)}) was skipped: the "
                    f"separation could not be estimated there ({e}); it is "
                    f"estimated on frame {k} ({self._frame_label(k)}).",
                    RuntimeWarning,
                    stacklevel=3,
                )
            return sep
        raise ValueError(
            "Could not estimate the atom separation: every frame failed; "
            f"{_failure_summary(errors)}. Give `separation`."
        )

    def _decide_contrast(self, sep_px, replace_outliers=True):
        """``contrast="auto"``: bright or dark columns, decided on the first
        usable frame; a dark decision is announced with a UserWarning."""
        errors = []
        for k, img in self._frames():
            if _frame_problem(img):
                errors.append(k)
                continue
            contrast, info = _auto_contrast(img, sep_px, replace_outliers)
            break
        else:
            return "bright", np.nan
        skew = info["skewness"]
        if contrast == "dark":
            if info["test"] == 1:
                why = (
                    f"skewness of the matched-filter map {skew:.2f}, minima "
                    "stronger than maxima"
                )
            else:
                why = (
                    "the minima are the sharp extrema: sharpness ratio "
                    f"{info['sharpness_ratio']:.2f}, band-passed skewness "
                    f"{info['band_skewness']:.2f}"
                )
            warnings.warn(
                "contrast='auto' decided that the columns are dark (dips, as in "
                f"ABF; {why}): they are found as minima and fitted as "
                "dips. Pass contrast='bright' if the columns are the bright peaks.",
                UserWarning,
                stacklevel=3,
            )
        return contrast, skew

    def _iunits(self):
        q = self.metadata.get_item("Signal.quantity", "")
        return str(q) if q else "a.u."

    # ------------------------------------------------------------ refinement
    def refine_atoms(
        self,
        atoms=None,
        method="gaussian",
        model="round",
        radius=None,
        weights="auto",
        subtract_neighbours=True,
        max_passes=5,
        contrast="auto",
        replace_outliers=True,
        level="auto",
        show_progressbar=None,
        num_workers=None,
    ):
        """Refine atom positions to sub-pixel precision and describe each atom.

        All atoms are fitted in one compiled pass; overlapping neighbours are
        subtracted from each fitting window (a joint fit). See
        :func:`hyperspy_localcryst.numerics.refinement.refine_gaussians`.

        Parameters
        ----------
        atoms : AtomPositions, optional
            Seeds; found with :meth:`find_atoms` when not given.
        method : {"gaussian", "com"}
            2D Gaussian fit, or background-subtracted centre of mass (which
            only updates ``x`` and ``y``).
        model : {"round", "elliptical"}
            Gaussian model; the elliptical one adds widths along two axes and
            their orientation (a tilt proxy).
        radius : float, optional
            Fitting-window radius in calibrated units (at most the image
            size); default half the median nearest-neighbour distance of the
            atoms (of a single atom: half the separation it was found with),
            grown to 2.5 fitted column widths (at most 1.5 times) where the
            columns are wider than that window holds, each atom keeping the
            wider fit where it converges (column ``fit_radius``; see
            ``widen`` in
            :func:`~hyperspy_localcryst.numerics.refinement.refine_gaussians`).
        weights : {"auto", "poisson", "uniform"}
            Poisson maximum likelihood or least squares (``"auto"``: Poisson
            when the image has no negative values).
        subtract_neighbours : bool
            Joint fit: remove the model of the neighbours from each window.
        max_passes : int
            Maximum number of joint passes.
        contrast : {"auto", "bright", "dark"}
            Bright columns are fitted as peaks, ``b + A g``; dark ones as dips,
            ``b - A g`` (least squares on the negated image), so that
            ``amplitude`` and ``intensity`` are the depth and the integrated
            depth of the dip, as positive numbers, and ``background`` the
            level around it. ``"auto"``: the ``contrast`` recorded by
            :meth:`find_atoms` in the table's settings, else decided from the
            image as there (with a ``UserWarning`` when dark). Dark columns
            need ``weights`` ``"auto"`` or ``"uniform"``.
        replace_outliers : bool
            Replace single-pixel outliers (hot/dead pixels) by their 3 x 3
            median before fitting, so that a spike next to a column does not
            pull its fit; their number is stored as ``n_outliers`` in the
            settings metadata.
        level : {"auto", "plane", "none"}
            ``"plane"``: fit on the image minus its least-squares plane, so
            that a tilted topograph does not pull the fits uphill
            (``background`` keeps the plane); least squares only, and it
            makes ``weights="auto"`` least squares. ``"auto"``: a
            least-squares fit (an image that is not counts, dark columns) is
            levelled where the plane would pull the columns by more than
            0.05 px (slope x width**2 / amplitude); see
            :func:`~hyperspy_localcryst.numerics.refinement.refine_gaussians`.
        show_progressbar : bool, optional
            HyperSpy's progress bar over the frames of a stack (default: the
            HyperSpy preference).
        num_workers : int, optional
            Frames processed in parallel (dask threads). Default: one per
            core, each frame then single-threaded; ``1`` processes the frames
            one after another, each on all cores. With a
            ``dask.distributed`` client active, the frames run on its
            workers instead (see ``docs/series.md``).

        Returns
        -------
        AtomPositions
            The input columns with ``x``, ``y`` refined, plus ``amplitude``,
            ``sigma_x``, ``sigma_y``, ``sigma_major``, ``sigma_minor``,
            ``ellipticity``, ``orientation`` (degrees of the major axis from
            +x towards +y), ``background``, ``intensity`` (integrated peak),
            ``residual`` (RMS of the fit), ``snr`` (amplitude / residual),
            ``x_err``, ``y_err`` (standard errors), ``fit_radius`` (the
            window of the fit kept), ``converged`` and
            ``fit_status`` (why a fit failed: 0 converged, 1 converged with
            the width held at its bound, 2-10 failures, named in
            :data:`hyperspy_localcryst.numerics.refinement.FIT_STATUS`; NaN
            where a whole frame failed). Atoms whose fit fails keep their
            seed positions with ``converged`` = 0, and a ``RuntimeWarning``
            counts them per reason. For dark columns ``amplitude`` is the
            (positive) depth of the dip.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(128, 128), spacing=20, seed=0)
        >>> refined = s.refine_atoms()
        >>> "x_err" in refined.columns
        True
        """
        if method not in ("gaussian", "com"):
            raise ValueError(
                f"Unknown `method` {method!r}; choose 'gaussian' or 'com'."
            )
        if model not in ("round", "elliptical"):
            raise ValueError(
                f"Unknown `model` {model!r}; choose 'round' or 'elliptical'."
            )
        if weights not in ("auto", "poisson", "uniform"):
            raise ValueError(
                f"Unknown `weights` {weights!r}; choose 'auto', 'poisson' or 'uniform'."
            )
        if level not in ("auto", "plane", "none"):
            raise ValueError(
                f"Unknown `level` {level!r}; choose 'auto', 'plane' or 'none'."
            )
        if level == "plane" and weights == "poisson":
            raise ValueError(
                "`level='plane'` needs least squares: use weights='auto' or "
                "'uniform' (Poisson weights are the counts a plane would change)."
            )
        grid = self._grid()
        scale = pixel_scale(grid)
        if atoms is None:
            atoms = self.find_atoms(
                show_progressbar=show_progressbar, num_workers=num_workers
            )
        if not isinstance(atoms, AtomPositions):
            raise TypeError(
                f"`atoms` must be an AtomPositions table, got {type(atoms).__name__}."
            )
        max_passes = check_integer(max_passes, "max_passes", minimum=1)
        subtract_neighbours = check_bool(subtract_neighbours, "subtract_neighbours")
        contrast = _check_contrast(contrast)
        replace_outliers = check_bool(replace_outliers, "replace_outliers")
        _check_same_grid(atoms.grid, grid)
        xp, yp = atoms.get_pixel_positions()
        if not (np.all(np.isfinite(xp)) and np.all(np.isfinite(yp))):
            raise ValueError("`atoms` contains NaN positions; drop them with `select`.")
        frame = atoms.get_frames()  # refuses a table whose `frame` was sliced off
        key = np.column_stack([frame, xp, yp])
        n_dup = len(key) - len(np.unique(key, axis=0))
        if n_dup:
            raise ValueError(
                f"`atoms` has {n_dup} duplicate(s) (atoms at the same position in "
                "the same frame), whose fits would share one column; remove them "
                "first."
            )
        nav_shape = tuple(self.axes_manager.navigation_shape[::-1])
        n_frames = int(np.prod(nav_shape)) if nav_shape else 1
        if frame.min() < 0 or frame.max() >= n_frames:
            raise ValueError(
                f"`atoms` has frame indices up to {frame.max()} but this image has "
                f"{n_frames} frame(s)."
            )
        groups = frame_groups(frame, n_frames)
        seeds = np.empty(nav_shape, dtype=object)
        for idx, sel in zip(np.ndindex(*nav_shape), groups):
            seeds[idx] = np.column_stack([xp[sel], yp[sel]])
        prior = atoms.metadata.get_item("AtomPositions.settings.contrast", None)
        if contrast == "auto" and prior in ("bright", "dark"):
            contrast = str(prior)
        elif contrast == "auto":
            try:
                sep_px = 2.0 * _default_radius(xp, yp)
                contrast, _ = self._decide_contrast(sep_px, replace_outliers)
            except (ValueError, ArithmeticError):
                contrast = "bright"  # too few atoms, or a frame too small to tell
        if contrast == "dark" and weights == "poisson":
            raise ValueError(
                "Dark columns (contrast='dark') are fitted as dips by least squares: "
                "use weights='auto' or 'uniform', or contrast='bright'."
            )
        fit_kwargs = {
            "model": model,
            "weights": weights,
            "max_passes": max_passes,
            "subtract_neighbours": subtract_neighbours,
            "level": level,
        }
        sep_found = atoms.metadata.get_item("AtomPositions.settings.separation", None)
        if radius is None and len(xp) < 2 and sep_found:
            # a single atom has no neighbour to size the window: half the
            # separation it was found with
            radius = 0.5 * float(sep_found)
        results = self._run_frames(
            _refine_frame,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
            iterating={"seeds": seeds},
            radius_px=None
            if radius is None
            else self._filter_width_px(radius, "radius"),
            method=method,
            fit_kwargs=fit_kwargs,
            contrast=contrast,
            replace_outliers=replace_outliers,
        )
        n_outliers = int(sum(r.pop("n_outliers", 0) for r in results))
        cols = {}
        for sel, res in zip(groups, results):
            if "error" in res:
                res = {"converged": np.zeros(len(sel))} if method != "com" else {}
            for c, v in res.items():
                cols.setdefault(c, np.full(atoms.n_atoms, np.nan))[sel] = v
        # failed frames keep their seeds
        for c, v in (("x", xp), ("y", yp)):
            col = cols.setdefault(c, np.full(atoms.n_atoms, np.nan))
            bad = np.isnan(col)
            col[bad] = v[bad]
        cols["x"], cols["y"] = to_calibrated(grid, cols["x"], cols["y"])
        for c in _LENGTH_COLUMNS:
            if c in cols:
                cols[c] = cols[c] * scale
        if "converged" in cols:
            n_bad = int(np.sum(cols["converged"] == 0))
            if n_bad:
                warnings.warn(
                    f"The fit did not converge for {n_bad} of {atoms.n_atoms} atoms; "
                    "they keep their seed positions (column `converged` = 0; "
                    f"`fit_status` gives the reason): {_status_counts(cols)}.",
                    RuntimeWarning,
                    stacklevel=2,
                )
            _warn_overlap(cols)
        iu = self._iunits()
        lu = grid["x"]["units"]
        units = {
            c: {"length": lu, "intensity": iu}.get(u, u)
            for c, u in _REFINED_UNITS.items()
            if c in cols
        }
        out = atoms.add_columns(cols, units)
        _record_failed(out, results)
        settings = dict(atoms.metadata.get_item("AtomPositions.settings", {}) or {})
        if hasattr(settings, "as_dictionary"):
            settings = settings.as_dictionary()
        settings.update(
            {
                "step": "refine_atoms",
                "refine_method": method,
                "model": model,
                "radius": "auto" if radius is None else float(radius),
                "weights": weights,
                "subtract_neighbours": bool(subtract_neighbours),
                "refine_contrast": contrast,
                "level": level,
                "n_outliers_refine": n_outliers,
            }
        )
        out.metadata.set_item("AtomPositions.settings", settings)
        return out

    # ------------------------------------------------------------ alignment
    def _stack_only(self, what):
        if self.axes_manager.navigation_dimension == 0:
            raise ValueError(f"{what} needs an image stack (navigation axes).")

    def estimate_drift(
        self,
        method="xcorr",
        reference="auto",
        upsample=20,
        atoms=None,
        show_progressbar=None,
    ):
        """Drift of every frame of a stack relative to a reference frame.

        The reference is frame 0, or, when frame 0 cannot be used (NaN
        pixels, constant), the first usable frame
        (``metadata.Drift.reference_frame``); only when every frame fails is
        it an error, listing the reasons.

        Parameters
        ----------
        method : {"xcorr", "atoms"}
            ``"xcorr"``: sub-pixel cross-correlation of the frames
            (:func:`hyperspy_localcryst.numerics.alignment.frame_shifts`,
            upsampled DFT); ``"atoms"``: the median displacement of the
            atoms tracked between frames (``atoms`` from this stack, linked
            with :meth:`AtomPositions.link_frames` if not yet), immune to
            contrast changes and precise to ~σ/√N.
        reference : {"auto", "first", "previous", "mean"}
            For ``"xcorr"``
            (:func:`~hyperspy_localcryst.numerics.alignment.frame_shifts`):
            ``"auto"`` (default) measures each frame against the previous
            one, with closure checks against the frame before that and
            against the reference frame, combined by least squares (follows
            any total drift on a periodic image as long as the drift between
            two frames stays below 0.4 lattice spacings); ``"first"``:
            against the reference frame only; ``"previous"``: the steps
            accumulated without checks; ``"mean"``: ``"auto"``, then each
            frame against the aligned mean. On a periodic image a shift is
            known only up to a lattice vector: the lattice peak nearest the
            expected shift is taken, and a step longer than 0.4 spacings, or
            a pair of frames that breaks the closure, gives a
            ``RuntimeWarning``.
        upsample : int
            Sub-pixel upsampling of the correlation peak.
        atoms : AtomPositions, optional
            For ``method="atoms"``; with ``"xcorr"``, a check: the
            cross-correlation drift is compared with the atoms' drift
            (linked if not yet) and a ``RuntimeWarning`` names the frames
            where they differ by more than 1 px (or 5 standard errors).
        show_progressbar : bool, optional
            A progress bar over the frames (``"xcorr"``); default HyperSpy's
            preference (``hs.preferences.General.show_progressbar``).

        Returns
        -------
        hyperspy.api.signals.Signal1D
            On the stack's navigation axes: ``dx``, ``dy``, ``dx_err``,
            ``dy_err`` (calibrated; errors NaN for ``"xcorr"``). Pass it to
            :meth:`align_frames`, :meth:`sum_frames` or
            :meth:`AtomPositions.link_frames`. A frame that cannot be
            correlated (NaN pixels, constant) gets NaN shifts and a
            ``RuntimeWarning``, and is listed in
            ``metadata.Drift.failed_frames``; the other frames are kept (with
            ``"previous"``, the next frame is compared with the last good
            one).

        Examples
        --------
        >>> from hyperspy_localcryst.numerics.synthetic import make_drift_stack
        >>> frames, truth = make_drift_stack(n_frames=3, shape=(128, 128), seed=0)
        >>> s = AtomicImage(frames)
        >>> drift = s.estimate_drift()
        >>> bool(np.allclose(drift.data[:, :2], truth["shifts"], atol=0.1))
        True
        """
        from ..numerics import alignment

        self._stack_only("estimate_drift")
        if atoms is not None and not isinstance(atoms, AtomPositions):
            raise TypeError(
                "This step needs `atoms` to be an AtomPositions table (of this "
                f"stack), got {type(atoms).__name__}."
            )
        grid = self._grid()
        sx, sy = (float(grid[k]["scale"]) for k in ("x", "y"))
        if method == "atoms":
            return self._linked(atoms, "`method='atoms'`").estimate_drift()
        if method != "xcorr":
            raise ValueError(f"Unknown `method` {method!r}; choose 'xcorr' or 'atoms'.")
        if reference not in ("auto", "first", "previous", "mean"):
            raise ValueError(
                f"Unknown `reference` {reference!r}; choose 'auto', 'first', "
                "'previous' or 'mean'."
            )
        upsample = check_integer(upsample, "upsample", minimum=1)
        alignment.check_upsample(upsample, self.axes_manager.signal_shape)
        check_bool(show_progressbar, "show_progressbar", allow_none=True)
        all_frames = _stack.progress(
            self._frames(),
            self.axes_manager.navigation_size,
            show_progressbar,
            "Drift",
        )
        failed = []  # (frame, reason)
        if reference == "mean":
            frames = np.stack([f for _, f in all_frames])
            for k, f in enumerate(frames):
                problem = _frame_problem(f)
                if problem:
                    failed.append(
                        (k, problem + "; the mean is made of the other frames")
                    )
            good = np.ones(len(frames), bool)
            good[[k for k, _ in failed]] = False
            if not good.any():
                self._every_frame_failed(failed)
            shifts = np.full((len(frames), 2), np.nan)
            if good.sum() == 1:
                shifts[good] = 0.0
            else:
                shifts[good] = alignment.frame_shifts(frames[good], "mean", upsample)
            ref_k = int(np.flatnonzero(good)[0])
        elif reference == "auto":  # one frame at a time, a few kept
            good = []

            def usable():
                for k, img in all_frames:
                    problem = _frame_problem(img)
                    if problem:
                        failed.append((k, problem))
                        continue
                    good.append(k)
                    yield img

            measured = alignment._auto_shifts(usable(), upsample)
            if not good:
                self._every_frame_failed(failed)
            shifts = np.full((self.axes_manager.navigation_size, 2), np.nan)
            shifts[good] = measured[: len(good)]
            ref_k = good[0]
        else:  # one frame in memory at a time (besides the reference)
            shifts, ref, ref_k, total = [], None, None, np.zeros(2)
            for k, img in all_frames:
                if ref is None:  # the first usable frame is the reference
                    problem = _frame_problem(img)
                    if problem:
                        failed.append((k, problem))
                        shifts.append(np.full(2, np.nan))
                    else:
                        ref, ref_k = img, k
                        shifts.append(np.zeros(2))
                    continue
                try:
                    step = alignment.phase_correlation_shift(ref, img, upsample)
                except ValueError as e:
                    failed.append((k, str(e)))
                    shifts.append(np.full(2, np.nan))
                    continue  # 'previous': the next frame is compared with ref
                if reference == "previous":
                    total = total + np.asarray(step)
                    ref = img
                else:
                    total = np.asarray(step)
                shifts.append(total)
            if ref is None:
                self._every_frame_failed(failed)
            shifts = np.array(shifts)
        against = (
            ""
            if ref_k == 0
            else f"; the drift is measured against frame {ref_k} "
            f"({self._frame_label(ref_k)}), the first usable frame"
        )
        for k, reason in failed:
            warnings.warn(
                f"Frame {k} ({self._frame_label(k)}) failed and has no drift "
                f"(NaN): {reason}{against if k < ref_k else ''}",
                RuntimeWarning,
                stacklevel=2,
            )
        if atoms is not None:
            self._check_against_atoms(shifts, atoms, sx, sy)
        errors = np.full_like(shifts, np.nan)
        out = _stack.stack_signal(
            np.column_stack([shifts, errors]) * [sx, sy, abs(sx), abs(sy)],
            self._navigation(),
            ["dx", "dy", "dx_err", "dy_err"],
            units=grid["x"]["units"],
            axis_name="drift",
            title=f"Drift of {self.metadata.General.title}",
        )
        out.metadata.set_item("Drift.reference_frame", ref_k)
        if failed:
            out.metadata.set_item("Drift.failed_frames", [k for k, _ in failed])
        return out

    def _check_against_atoms(self, shifts, atoms, sx, sy):
        """Warn where the cross-correlation drift (pixels) and the atoms'
        drift differ by more than 1 px or 5 standard errors."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = self._linked(atoms, "`atoms`").estimate_drift()
        data = np.asarray(ref.data, float).reshape(len(shifts), -1)
        by_atoms = data[:, :2] / [sx, sy]
        err = np.nan_to_num(data[:, 2:4] / [abs(sx), abs(sy)])
        both = np.all(np.isfinite(shifts) & np.isfinite(by_atoms), axis=1)
        rel = shifts - shifts[both][0] - (by_atoms - by_atoms[both][0])
        off = both & np.any(np.abs(rel) > np.maximum(1.0, 5.0 * err), axis=1)
        if off.any():
            k = int(np.flatnonzero(off)[0])
            warnings.warn(
                f"The cross-correlation drift differs from the atoms' drift in "
                f"frame(s) {np.flatnonzero(off).tolist()[:10]} (frame {k}: "
                f"{tuple(np.round(rel[k], 2).tolist())} px): on a periodic image "
                "one of them may have taken a wrong lattice peak; compare with "
                "`estimate_drift('atoms', atoms=atoms)`.",
                RuntimeWarning,
                stacklevel=3,
            )

    def _every_frame_failed(self, failed):
        raise ValueError(
            f"Every frame failed: no drift can be measured; {_failure_summary(failed)}."
        )

    def _linked(self, atoms, what):
        """``atoms`` checked to come from this stack, linked if not yet."""
        if not isinstance(atoms, AtomPositions):
            raise TypeError(f"{what} needs `atoms` (AtomPositions of this stack).")
        _check_same_grid(atoms.grid, self._grid())
        n = self.axes_manager.navigation_size
        if atoms.n_frames != n:
            raise ValueError(
                f"`atoms` come from {atoms.n_frames} frame(s) but this stack has {n}; "
                "find the atoms on this stack."
            )
        if "track" in atoms.columns:
            return atoms
        # frames without atoms (failed) are gaps that tracks must bridge
        empty = np.ones(n, bool)
        empty[atoms.get_frames()] = False
        runs = np.diff(np.flatnonzero(np.diff(np.r_[0, empty.astype(int), 0])))[::2]
        return atoms.link_frames(memory=int(runs.max(initial=0)))

    def _frame_maps(
        self,
        drift,
        model,
        atoms,
        line_time,
        pixel_time,
        frame_time,
        show_progressbar=None,
    ):
        """Per-frame affine maps (matrices, translations) in pixels: a = M p + t."""
        from ..numerics import alignment, tracking

        self._stack_only("Frame alignment")
        if atoms is not None and not isinstance(atoms, AtomPositions):
            raise TypeError(
                "This step needs `atoms` to be an AtomPositions table (of this "
                f"stack), got {type(atoms).__name__}."
            )
        for name, v in (
            ("line_time", line_time),
            ("pixel_time", pixel_time),
            ("frame_time", frame_time),
        ):  # checked whatever the model (a typo is never ignored)
            if v is not None:
                t = check_number(v, name, "a time")
                if not (np.isfinite(t) and t >= 0):
                    raise ValueError(f"`{name}` must be a non-negative time, got {v}.")
        grid = self._grid()
        scales = [float(grid[k]["scale"]) for k in ("x", "y")]  # per axis, signed
        n = self.axes_manager.navigation_size
        if not isinstance(model, str) or model not in ("rigid", "affine", "scan"):
            raise ValueError(
                f"Unknown `model` {model!r}; choose 'rigid', 'affine' or 'scan'."
            )
        if model == "affine":
            atoms = self._linked(atoms, "`model='affine'`")
            xp, yp = atoms.get_pixel_positions()
            tx, ty = tracking.trajectories(
                xp, yp, atoms.get_frames(), atoms._tracks(), n
            )
            # reference: the first frame with atoms (a failed frame has none)
            counts = np.isfinite(tx).sum(axis=0)
            if not np.any(counts >= 3):
                raise ValueError(
                    "`atoms` has no frame with 3 or more tracked atoms: no affine "
                    "map can be fitted."
                )
            ref = int(np.argmax(counts >= 3))
            mats, trans = np.tile(np.eye(2), (n, 1, 1)), np.full((n, 2), np.nan)
            trans[ref] = 0.0
            for k in range(n):
                ok = np.isfinite(tx[:, ref]) & np.isfinite(tx[:, k])
                if k == ref or ok.sum() < 3:
                    continue  # too few common tracks: NaN, left out with a warning
                try:
                    mats[k], trans[k], _ = tracking.estimate_affine(
                        tx[ok, ref], ty[ok, ref], tx[ok, k], ty[ok, k]
                    )
                except ValueError:  # collinear tracks
                    mats[k], trans[k] = np.eye(2), np.nan
            return mats, trans
        if drift is None:
            drift = (
                self.estimate_drift("atoms", atoms=atoms)
                if atoms is not None
                else self.estimate_drift(show_progressbar=show_progressbar)
            )
        if isinstance(drift, BaseSignal) and list(
            drift.metadata.get_item("Signal.names", [])
        )[:2] == ["dx", "dy"]:
            check_units(
                drift.metadata.get_item("Signal.quantity"), grid["x"]["units"], "drift"
            )
        try:
            shifts = np.asarray(getattr(drift, "data", drift), float).reshape(n, -1)
        except (TypeError, ValueError):
            raise ValueError(
                f"`drift` must hold (dx, dy) for each of the {n} frames, got "
                f"{np.shape(getattr(drift, 'data', drift))}."
            ) from None
        if shifts.shape[1] < 2:
            raise ValueError(
                f"`drift` must hold (dx, dy) for each of the {n} frames, got shape "
                f"{np.shape(getattr(drift, 'data', drift))}."
            )
        infinite = np.flatnonzero(np.isinf(shifts[:, :2]).any(axis=1))
        if infinite.size:
            raise ValueError(
                f"`drift` has infinite shifts for frame(s) {infinite.tolist()} "
                f"(frame {infinite[0]}: {tuple(shifts[infinite[0], :2].tolist())}): "
                "NaN marks a frame without a drift (left out), inf is no shift; "
                "give finite shifts or NaN."
            )
        shifts = shifts[:, :2] / scales
        good = np.all(np.isfinite(shifts), axis=1)
        if good.sum() < (2 if model == "scan" else 1):
            why = (
                "the scan model needs two frames with a drift"
                if good.any()
                else "no frame can be aligned"
            )
            raise ValueError(
                f"`drift` has NaN shifts for {int((~good).sum())} of the {n} frames; "
                f"{why}: estimate it another way."
            )
        mats = np.tile(np.eye(2), (n, 1, 1))
        if model == "scan":  # the velocity from the frames with a drift
            lt, pt, ft = self._scan_times(line_time, pixel_time, frame_time)
            v, _ = alignment.estimate_velocity(
                shifts[good], np.flatnonzero(good) * ft, lt, pt
            )
            mats[:] = alignment.scan_drift_matrix(v, lt, pt)
        return mats, shifts

    def _scan_times(self, line_time, pixel_time, frame_time):
        """Scan timing: arguments, else metadata, else a continuous raster."""
        if pixel_time is None:
            for key in (
                "Acquisition_instrument.TEM.dwell_time",
                "Acquisition_instrument.SEM.dwell_time",
            ):
                if self.metadata.has_item(key):
                    pixel_time = float(self.metadata.get_item(key))
                    break
        if pixel_time is None and line_time is None:
            raise ValueError(
                "`model='scan'` needs the scan timing: give `pixel_time` (dwell "
                "time) and/or `line_time`, in the units of `frame_time`, or set "
                "metadata Acquisition_instrument.TEM.dwell_time."
            )
        ny, nx = tuple(self.axes_manager.signal_shape[::-1])
        pt = 0.0 if pixel_time is None else check_number(pixel_time, "pixel_time")
        lt = nx * pt if line_time is None else check_number(line_time, "line_time")
        ft = ny * lt if frame_time is None else check_number(frame_time, "frame_time")
        for name, v in (("pixel_time", pt), ("line_time", lt), ("frame_time", ft)):
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"`{name}` must be a non-negative time, got {v}.")
        if ft <= 0:
            raise ValueError("`frame_time` must be positive.")
        return lt, pt, ft

    def align_frames(
        self,
        drift=None,
        model="rigid",
        atoms=None,
        line_time=None,
        pixel_time=None,
        frame_time=None,
        order=1,
        show_progressbar=None,
        num_workers=None,
        lazy_output=None,
    ):
        """Resample every frame onto the reference frame's grid (drift, scan).

        The reference is the frame whose drift is zero: frame 0, or the
        first usable frame when frame 0 cannot be used (see
        :meth:`estimate_drift`). A frame without a drift (NaN shifts: its
        correlation failed) is NaN in the result, with a ``RuntimeWarning``,
        and listed in ``metadata.Alignment.skipped_frames``.

        Parameters
        ----------
        drift : signal or array_like, optional
            From :meth:`estimate_drift` (calibrated ``dx``, ``dy`` per frame;
            NaN: a frame without a drift, skipped; infinite shifts are
            refused). Default: estimated, from ``atoms`` when given, else by
            cross-correlation.
        model : {"rigid", "affine", "scan"}
            ``"rigid"``: translate each frame. ``"affine"``: an affine map
            per frame fitted to the tracked ``atoms`` against the first frame
            with atoms (drift
            plus the shear/scale that drift during the scan, or scan noise,
            causes; lattice-based). ``"scan"``: the linear-drift scan model:
            the drift velocity (from the shifts and ``frame_time``) and the
            scan timing give the distortion of every frame
            (:func:`~hyperspy_localcryst.numerics.alignment.scan_drift_matrix`).
        atoms : AtomPositions, optional
            Atoms of this stack (``"affine"``, or to measure the drift).
        line_time, pixel_time, frame_time : float, optional
            Scan timing for ``"scan"`` (one time unit). ``pixel_time``
            defaults to ``metadata.Acquisition_instrument.TEM.dwell_time``,
            ``line_time`` to ``nx × pixel_time``, ``frame_time`` to
            ``ny × line_time``.
        order : int
            Spline order of the resampling.
        show_progressbar : bool, optional
            Progress bars of the drift estimate and the resampling; default
            HyperSpy's preference (``hs.preferences.General.show_progressbar``).
        num_workers : int, optional
            Frames resampled in parallel (HyperSpy's ``map``).
        lazy_output : bool, optional
            Return a lazy stack (HyperSpy's ``map``); default lazy only for a
            lazy stack.

        Returns
        -------
        AtomicImage
            Same axes; NaN where a frame does not cover the reference
            frame's field of view. The maps used are in
            ``metadata.Alignment``.

        Examples
        --------
        >>> from hyperspy_localcryst.numerics.synthetic import make_drift_stack
        >>> frames, _ = make_drift_stack(n_frames=3, shape=(128, 128), seed=0)
        >>> aligned = AtomicImage(frames).align_frames()
        >>> aligned.data.shape
        (3, 128, 128)
        """
        order = _check_order(order)
        check_bool(show_progressbar, "show_progressbar", allow_none=True)
        check_bool(lazy_output, "lazy_output", allow_none=True)
        if num_workers is not None:
            num_workers = check_integer(num_workers, "num_workers", minimum=1)
        mats, trans = self._frame_maps(
            drift, model, atoms, line_time, pixel_time, frame_time, show_progressbar
        )
        good = _warn_no_drift(trans, "are NaN in the aligned stack")
        out = self.map(
            _warp,
            matrix=_per_frame_signal(mats, self),
            translation=_per_frame_signal(trans, self),
            order=order,
            inplace=False,
            output_dtype=np.float64,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
            lazy_output=lazy_output,
        )
        _set_alignment(out, model, mats, trans)
        if not good.all():
            out.metadata.set_item(
                "Alignment.skipped_frames", np.flatnonzero(~good).tolist()
            )
        return out

    def sum_frames(
        self,
        drift=None,
        model="rigid",
        atoms=None,
        line_time=None,
        pixel_time=None,
        frame_time=None,
        order=1,
        crop=True,
        show_progressbar=None,
    ):
        """Aligned mean of the frames, as the paper's images were made.

        Frames are aligned as in :meth:`align_frames` (rigid cross-
        correlation by default) and averaged one at a time (a lazy stack is
        never loaded whole).

        Parameters
        ----------
        drift, model, atoms, line_time, pixel_time, frame_time, order
            See :meth:`align_frames`.
        crop : bool
            Keep only the rectangle covered by every frame (calibrated
            offsets adjusted); otherwise the full grid of the reference
            frame, each pixel the mean of the frames covering it (NaN where
            none).
        show_progressbar : bool, optional
            Progress bars of the drift estimate and the summation; default
            HyperSpy's preference (``hs.preferences.General.show_progressbar``).

        Returns
        -------
        AtomicImage
            The mean image; ``metadata.Alignment`` holds the per-frame maps
            and ``n_frames``.

        Examples
        --------
        >>> from hyperspy_localcryst.numerics.synthetic import make_drift_stack
        >>> frames, _ = make_drift_stack(n_frames=4, shape=(128, 128), seed=0)
        >>> mean = AtomicImage(frames).sum_frames()
        >>> mean.axes_manager.navigation_dimension, bool(np.isfinite(mean.data).all())
        (0, True)
        """
        from ..numerics import alignment

        order = _check_order(order)
        crop = check_bool(crop, "crop")
        check_bool(show_progressbar, "show_progressbar", allow_none=True)
        mats, trans = self._frame_maps(
            drift, model, atoms, line_time, pixel_time, frame_time, show_progressbar
        )
        good = _warn_no_drift(trans, "are left out of the mean")
        n = self.axes_manager.navigation_size
        bar = _stack.progress(self._frames(), n, show_progressbar, "Sum")
        frames = (img for k, img in bar if good[k])  # one in memory
        mean, count = alignment.warped_mean(
            frames, mats[good], trans[good], order=order
        )
        rows, cols = slice(None), slice(None)
        if crop:
            box = _covered_box(count == good.sum())
            if box is None:
                raise ValueError("No pixel is covered by every frame; use crop=False.")
            rows, cols = box
        out = self.inav[(0,) * self.axes_manager.navigation_dimension].deepcopy()
        out = out.isig[cols, rows]  # isig: x first
        out.data = mean[rows, cols].astype(np.float64)
        out.metadata.General.title = f"Aligned mean of {self.metadata.General.title}"
        _set_alignment(out, model, mats, trans)
        out.metadata.set_item("Alignment.n_frames", int(good.sum()))
        if not good.all():
            out.metadata.set_item(
                "Alignment.skipped_frames", np.flatnonzero(~good).tolist()
            )
        return out

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
        from ..numerics.lattice import calibration_factors

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


class LazyAtomicImage(LazySignal2D, AtomicImage):
    """Lazy version of :class:`AtomicImage`: data stays in a dask array.

    The finding and refinement methods load one frame at a time.

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> type(synthetic_lattice(shape=(64, 64), seed=0).as_lazy()).__name__
    'LazyAtomicImage'
    """

    _lazy = True


def _refused_on_complex(name):
    """A method of :class:`AtomicImage` that refuses complex data (TypeError)."""

    def method(self, *args, **kwargs):
        raise TypeError(
            f"`{name}` needs real numbers; this atomic_image holds complex values "
            f"(dtype {self.data.dtype}). Take the amplitude or the phase first "
            "(`s.amplitude`, `s.phase`: AtomicImages)."
        )

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (
        f"Refused on complex data: raises a TypeError (see :meth:`AtomicImage.{name}`)."
    )
    return method


class ComplexAtomicImage(ComplexSignal2D):
    """A complex image set to ``signal_type="atomic_image"`` (e.g. a wave).

    Atom finding and fitting need real numbers: every :class:`AtomicImage`
    method raises a ``TypeError`` that says to take the amplitude or the
    phase (which are :class:`AtomicImage` signals). Without this class
    HyperSpy would keep a plain ``ComplexSignal2D``, whose missing methods
    raise ``AttributeError``.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> s = hs.signals.Signal2D(np.ones((8, 8), dtype=complex))
    >>> s.set_signal_type("atomic_image")
    >>> type(s).__name__, type(s.amplitude).__name__
    ('ComplexAtomicImage', 'AtomicImage')
    >>> s.find_atoms()
    Traceback (most recent call last):
    ...
    TypeError: `find_atoms` needs real numbers; this atomic_image holds complex ...
    """

    _signal_type = "atomic_image"
    _signal_dimension = 2
    _lazy = False


class LazyComplexAtomicImage(LazyComplexSignal2D, ComplexAtomicImage):
    """Lazy version of :class:`ComplexAtomicImage`.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> s = hs.signals.Signal2D(np.ones((8, 8), dtype=complex))
    >>> s.set_signal_type("atomic_image")
    >>> type(s.as_lazy()).__name__
    'LazyComplexAtomicImage'
    """

    _lazy = True


for _name, _member in list(vars(AtomicImage).items()):  # every public method
    if callable(_member) and not _name.startswith("_"):
        setattr(ComplexAtomicImage, _name, _refused_on_complex(_name))


# ----------------------------------------------------------------- per frame
# Module-level functions, so that dask can send them to other processes.
def _guarded(frame, frame_function, threads=None, **kwargs):
    """Run one frame's numerics; an exception becomes ``{"error": message}``."""
    # HyperSpy's map hands a ragged argument of a one-frame stack over
    # wrapped in a 0-d object array: unwrap it
    kwargs = {
        k: v[()]
        if isinstance(v, np.ndarray) and v.dtype == object and v.ndim == 0
        else v
        for k, v in kwargs.items()
    }
    try:
        with limit_threads(threads):
            return frame_function(frame, **kwargs)
    except (ValueError, TypeError, ArithmeticError, np.linalg.LinAlgError) as e:
        return {"error": f"{type(e).__name__}: {e}"}


def _failure_summary(errors, limit=8):
    """``"frame 0: reason (also frames 1, 2); frame 3: other"`` for ``(k, reason)``
    pairs, frames with the same reason grouped, in order of first failure."""
    groups = {}
    for k, reason in errors:
        groups.setdefault(str(reason), []).append(int(k))
    parts = []
    for reason, ks in list(groups.items())[:limit]:
        also = ""
        if len(ks) > 1:
            rest = ", ".join(map(str, ks[1:11])) + (" ..." if len(ks) > 11 else "")
            also = f" (also frame{'s' if len(ks) > 2 else ''} {rest})"
        parts.append(f"frame {ks[0]}: {reason}{also}")
    if len(groups) > limit:
        parts.append(f"and {len(groups) - limit} other reasons")
    return "; ".join(parts)


def _check_order(order):
    """The spline order of the resampling, checked before any work."""
    if isinstance(order, (bool, np.bool_)) or not isinstance(order, (int, np.integer)):
        raise TypeError(
            f"`order`: order must be an integer from 0 to 5, got {order!r}."
        )
    if not 0 <= order <= 5:
        raise ValueError(f"`order`: order must be an integer from 0 to 5, got {order}.")
    return int(order)


def _frame_problem(img):
    """Why a frame cannot be correlated or averaged (None if it can)."""
    if not np.all(np.isfinite(img)):
        return "it has NaN or infinite pixels"
    if np.ptp(img) == 0:
        return "it is constant"
    return None


def _frame_array(frame):
    img = np.asarray(frame, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"A frame must be 2D, got shape {img.shape}.")
    return img


def _check_frame_shapes(data):
    """Refuse, clearly, a list (or object array) of frames of different sizes.

    A HyperSpy signal is one rectangular array: frames of different sizes
    cannot be one stack (numpy's and HyperSpy's own errors do not say so).
    """
    if isinstance(data, (list, tuple)) or (
        isinstance(data, np.ndarray) and data.dtype == object
    ):
        items = list(np.ravel(np.asarray(data, dtype=object))) if len(data) else []
        shapes = {np.shape(f) for f in items}
        if len(shapes) > 1 and all(len(sh) == 2 for sh in shapes):
            sizes = ", ".join(f"{sh[1]}x{sh[0]}" for sh in sorted(shapes))
            raise ValueError(
                f"The frames have different sizes ({sizes} px) and cannot form one "
                "AtomicImage stack. Crop them to a common size (e.g. "
                "`s.isig[:width, :height]`) before stacking, or process each frame "
                "as its own AtomicImage."
            )


def _target_half_width(sep_px):
    """Half the side of a target cut at a position (as ``auto_target``)."""
    return max(2, int(round(0.4 * sep_px)))


def _check_target_position(spec, half, nx, ny):
    """A ``target`` position must leave a whole target inside the image."""
    _, xp, yp, label = spec
    cx, cy = int(round(xp)), int(round(yp))
    if half <= cx < nx - half and half <= cy < ny - half:
        return
    outside = not (0 <= cx < nx and 0 <= cy < ny)
    where = "outside the image" if outside else f"within {half} px of the image's edges"
    size = f"a target of {2 * half + 1} x {2 * half + 1} px" if half else "a target"
    margin = f", at least {half} px from its edges" if half else ""
    raise ValueError(
        f"`target` {label} lies {where} (pixel x={xp:.4g}, y={yp:.4g}): {size} "
        f"around it does not fit inside the image ({nx} x {ny} px); give the "
        f"calibrated position of an atom of this image{margin}."
    )


def _check_contrast(contrast):
    if not isinstance(contrast, str) or contrast not in detection.CONTRASTS:
        raise ValueError(
            f"`contrast` must be one of {list(detection.CONTRASTS)}, got {contrast!r}."
        )
    return contrast


def _check_min_significance(value):
    if value is None or (isinstance(value, str) and value == "auto"):
        return value
    v = check_number(value, "min_significance", "a number of sigma, 'auto' or None")
    if not np.isfinite(v) or v < 0:
        raise ValueError(
            f"`min_significance` must be a finite number >= 0 (sigma) or None, got {v}."
        )
    return v if v > 0 else None


def _unit(img):
    """The frame divided by a power of two (exact) to order 1, so that the
    noise variances of images in any units neither overflow nor underflow."""
    return np.ldexp(img, -gain_exponent(img))


#: The contrast is decided on a central crop of this many separations on a
#: side (at least 512 px, at most ``ESTIMATE_PX``): some 500 columns.
CONTRAST_SEPARATIONS = 24
#: The noise model is fitted to a mosaic of ``NOISE_TILES`` x ``NOISE_TILES``
#: tiles of ``NOISE_TILE_PX`` pixels spread over the frame (every intensity
#: level the frame has, 262,144 pixels; the tiles' seams are 1 % of them and
#: the model's binned medians ignore them).
NOISE_TILES = 4
NOISE_TILE_PX = 128


def _contrast_crop(img, sep_px):
    side = min(ESTIMATE_PX, max(512, CONTRAST_SEPARATIONS * sep_px))
    return central_crop(img, side)


def _noise_sample(img):
    """``img`` when it has at most ``(NOISE_TILES * NOISE_TILE_PX)²`` pixels,
    else the mosaic of tiles spread evenly over it."""
    ny, nx = img.shape
    t, n = NOISE_TILE_PX, NOISE_TILES
    if ny * nx <= (n * t) ** 2 or ny < n * t or nx < n * t:
        return img
    ys = np.linspace(0, ny - t, n).astype(int)
    xs = np.linspace(0, nx - t, n).astype(int)
    return np.block([[img[a : a + t, b : b + t] for b in xs] for a in ys])


#: The last few frames cleaned (key: content digest and options), so that
#: find_atoms (separation, contrast, finding) and refine_atoms on the same
#: image clean it and model its noise once: (noise model, outlier rows,
#: columns, replacement values).
_CLEAN_MEMO = {}
_CLEAN_MEMO_SIZE = 4
_CLEAN_LOCK = threading.Lock()


def _digest(img):
    """Shape, type and two checksums of the pixels (20 ms for 4096² float32;
    a cryptographic hash takes 3 times as long)."""
    a = memoryview(np.ascontiguousarray(img)).cast("B")
    return (img.shape, img.dtype.str, zlib.crc32(a), zlib.adler32(a))


def _cleaned(img, replace_outliers):
    """The frame with single-pixel outliers replaced, the noise model of
    ``_unit`` of it (from tiles spread over it, ``_noise_sample``) and the number
    of outliers. Remembered for the last few frames (by content)."""
    key = (_digest(img), bool(replace_outliers))
    with _CLEAN_LOCK:
        hit = _CLEAN_MEMO.get(key)
    if hit is None:
        hit = _clean(img, replace_outliers)
        with _CLEAN_LOCK:
            _CLEAN_MEMO[key] = hit
            while len(_CLEAN_MEMO) > _CLEAN_MEMO_SIZE:
                _CLEAN_MEMO.pop(next(iter(_CLEAN_MEMO)))
    noise, iy, ix, values = hit
    if len(iy):
        img = img.astype(values.dtype, copy=True)
        img[iy, ix] = values
    return img, noise, len(iy)


def _clean(img, replace_outliers):
    unit = _unit(img)
    noise = estimate_noise(_noise_sample(unit))
    none = np.zeros(0, np.int64)
    if not replace_outliers:
        return noise, none, none, img[none, none]
    mask = detection.find_outliers(unit, noise)
    if not mask.any():
        return noise, none, none, img[none, none]
    iy, ix = np.nonzero(mask)
    clean = detection.replace_outliers(img, mask)
    # the spikes may have set the scale of _unit: the model of the clean frame
    return estimate_noise(_noise_sample(_unit(clean))), iy, ix, clean[iy, ix]


def _auto_contrast(img, sep_px, replace_outliers=True):
    """``(contrast, info)`` of one frame (see ``detection.decide_contrast``)."""
    img = _checks.check_image(img)
    img, noise, _ = _cleaned(img, replace_outliers)
    contrast, info = detection.decide_contrast(
        _contrast_crop(_unit(img), sep_px),
        detection.column_sigma(sep_px),
        noise,
        sep_px,
    )
    return contrast, info


def _find_frame(
    frame,
    sep_px,
    method,
    targets,
    threshold,
    n_sublattices,
    min_area,
    max_area,
    min_votes,
    contrast="bright",
    min_significance=None,
    replace_outliers=False,
):
    """Find the atoms of one frame: columns in pixels (plus ``separation``)
    and a ``detection`` summary (outliers, candidates below significance)."""
    raw = _checks.check_image(_frame_array(frame))
    raw, noise, n_outliers = _cleaned(raw, replace_outliers)
    estimated = sep_px is None
    if estimated:
        sep_px = central_separation(raw)
    if contrast == "auto":
        contrast = _auto_contrast(raw, sep_px, False)[0]
    img = detection.oriented(raw, contrast)
    if estimated and contrast == "dark":
        # the raw image's maxima were the gaps between the dark columns
        sep_px = central_separation(img)
    if targets is not None:
        half = _target_half_width(sep_px)
        for t in targets:
            if isinstance(t, tuple):
                _check_target_position(t, half, img.shape[1], img.shape[0])
        flip = raw.min() + raw.max()
        targets = [
            finding.extract_target(img, t[1], t[2], half)
            if isinstance(t, tuple)
            else (t if contrast == "bright" else flip - np.asarray(t, float))
            for t in targets
        ]
    kwargs = {}
    if "template" in ([method] if isinstance(method, str) else method):
        kwargs = {"target": targets, "min_area": min_area, "max_area": max_area}
    found = finding.find_atoms(
        img, sep_px, method=method, threshold=threshold, min_votes=min_votes, **kwargs
    )
    sig = detection.significance(
        _unit(raw),
        found["x"],
        found["y"],
        detection.column_sigma(sep_px),
        noise,
        contrast,
    )
    if isinstance(min_significance, str):
        thr = detection.significance_threshold(raw.size)
    else:
        thr = 0.0 if min_significance is None else min_significance
    keep = sig >= thr if min_significance is not None else np.ones(len(sig), bool)
    weak = sig[~keep]
    # a maximum on the outermost pixels of a column centred beyond the edge
    # is not a column of the image: a Gaussian fit of each candidate within
    # half a separation of the edge says where its centre lies
    outside = detection.centred_outside(img, found["x"], found["y"], sep_px)
    n_outside = int(np.sum(outside & keep))
    keep &= ~outside
    found = {k: np.asarray(v)[keep] for k, v in found.items()}
    sig = sig[keep]
    x, y = found["x"], found["y"]
    ix = np.clip(np.round(x).astype(int), 0, raw.shape[1] - 1)
    iy = np.clip(np.round(y).astype(int), 0, raw.shape[0] - 1)
    # the smoothed image at the atoms only (not a second whole-image filter)
    peak = gaussian_at(raw, iy, ix, max(sep_px / 10, 0.5))
    if targets is not None and len(targets) > 1:
        label = found["label"].astype(float)
    elif n_sublattices > 1 and len(x):  # none left: "No atoms found" instead
        check_n_sublattices(n_sublattices, len(x), "atoms found")
        depth = peak if contrast == "bright" else -peak
        label = finding.label_by_intensity(depth, n_sublattices).astype(float)
    else:
        label = np.zeros(len(x))
    score = found.get("score", found.get("votes", np.ones(len(x))))
    cols = {"x": x, "y": y, "score": score, "peak": peak, "sublattice": label}
    if "votes" in found:
        cols["votes"] = found["votes"]
    cols["significance"] = sig
    cols["separation"] = np.full(len(x), sep_px)
    cols["detection"] = {
        "n_outliers": n_outliers,
        "n_below": int(len(weak)),
        "n_outside": n_outside,
        "best_below": float(weak.max()) if len(weak) else np.nan,
        "threshold": float(thr),
        "contrast": contrast,
    }
    return cols


def _refine_frame(
    frame,
    seeds,
    radius_px,
    method,
    fit_kwargs,
    contrast="bright",
    replace_outliers=False,
):
    """Refine the seeds (n, 2 pixel array) of one frame: columns in pixels
    (plus ``n_outliers``, the single-pixel outliers replaced)."""
    img = _frame_array(frame)
    seeds = np.asarray(seeds, dtype=float).reshape(-1, 2)
    if len(seeds) == 0:
        return {}
    n_outliers = 0
    if replace_outliers and _frame_problem(img) is None:
        img, _, n_outliers = _cleaned(img, True)
    if contrast == "dark":
        # dips b - A g: least squares on the negated image
        img = -img
        fit_kwargs = dict(fit_kwargs, weights="uniform")
    xp, yp = seeds[:, 0], seeds[:, 1]
    r_px = radius_px if radius_px is not None else _default_radius(xp, yp)
    if method == "com":
        fx, fy = refinement.centre_of_mass(img, xp, yp, r_px)
        out = {"x": fx, "y": fy}
    else:
        # the default window (half the column distance) grows for wide columns
        widen = radius_px is None
        out = refinement.refine_gaussians(img, xp, yp, r_px, widen=widen, **fit_kwargs)
        if contrast == "dark":
            out["background"] = -out["background"]
    out["n_outliers"] = n_outliers
    return out


def _status_counts(cols):
    """'12 moved farther than ..., 3 frame failed' from the refined columns."""
    status = cols.get("fit_status")
    bad = cols["converged"] == 0
    if status is None:
        return f"{int(bad.sum())} frame failed"
    status = np.where(np.isnan(status), -1, status)[bad].astype(int)
    codes, counts = np.unique(status, return_counts=True)
    names = {**refinement.FIT_STATUS, -1: "frame failed"}
    return ", ".join(f"{c} {names.get(k, k)}" for k, c in zip(codes, counts))


def _record_failed(table, results):
    """List the frames whose step failed in the table's metadata."""
    failed = [(k, r["error"]) for k, r in enumerate(results) if "error" in r]
    if failed:
        table.metadata.set_item("AtomPositions.failed_frames", [k for k, _ in failed])
        table.metadata.set_item(
            "AtomPositions.failed_reasons", [str(e) for _, e in failed]
        )


def _pool_frames(results):
    """Concatenate per-frame column dicts, adding the flat ``frame`` index."""
    ok = [(k, r) for k, r in enumerate(results) if "error" not in r and r]
    if not ok:
        return None
    names = list(ok[0][1])
    table = {c: np.concatenate([np.asarray(r[c], float) for _, r in ok]) for c in names}
    table["frame"] = np.concatenate(
        [np.full(len(r[names[0]]), k, dtype=float) for k, r in ok]
    )
    return table


def _navigation_columns(nav_axes, frame, taken):
    """Calibrated navigation coordinate of each atom, one column per axis."""
    shape = tuple(ax.size for ax in sorted(nav_axes, key=lambda a: a.index_in_array))
    idx = np.unravel_index(frame.astype(int), shape)
    cols, units = {}, {}
    for i, ax in enumerate(nav_axes):
        name = str(ax.name)
        if (
            ax.name in (None, "<undefined>")
            or not name.isidentifier()
            or name in taken
            or name in cols
        ):
            name = f"nav{i}"
        cols[name] = np.asarray(ax.axis, dtype=float)[idx[ax.index_in_array]]
        units[name] = axis_units(ax.units)
    return cols, units


def _distributed_client():
    """The active ``dask.distributed`` client, if any."""
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover - distributed is a dependency
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _warp(frame, matrix, translation, order):
    from ..numerics import alignment

    if not np.all(np.isfinite(translation)):  # a frame without drift
        return np.full(np.shape(frame), np.nan)
    return alignment.warp_frame(
        np.asarray(frame, float), np.reshape(matrix, (2, 2)), translation, order
    )


def _warn_no_drift(translations, consequence):
    """Frames with a drift (NaN shifts: their correlation failed); warn about
    the others."""
    good = np.all(np.isfinite(translations), axis=1)
    if not good.all():
        warnings.warn(
            f"Frames {np.flatnonzero(~good).tolist()} have no drift (NaN shifts) and "
            f"{consequence}.",
            RuntimeWarning,
            stacklevel=3,
        )
    return good


def _per_frame_signal(values, image):
    """Per-frame arrays as a signal that iterates with ``image``'s navigation."""
    shape = tuple(image.axes_manager.navigation_shape[::-1])
    values = np.asarray(values, float)
    data = values.reshape(shape + values.shape[1:])
    s = BaseSignal(data)
    return s.transpose(signal_axes=values.ndim - 1)


def _set_alignment(signal, model, mats, trans):
    scales = [float(ax.scale) for ax in signal.axes_manager.signal_axes]  # x, y
    signal.metadata.set_item("Alignment.model", model)
    signal.metadata.set_item("Alignment.matrices", np.asarray(mats).tolist())
    signal.metadata.set_item(
        "Alignment.translations", (np.asarray(trans) * scales).tolist()
    )


def _covered_box(full):
    """A large rectangle (row and column slices) inside the True region.

    Starts from the region's bounding box and drops the edge row or column
    with the most uncovered pixels until none is left (the region covered
    by every frame is convex for affine maps, so this converges on it).
    """
    r, c = np.flatnonzero(full.any(axis=1)), np.flatnonzero(full.any(axis=0))
    if r.size == 0:
        return None
    r0, r1, c0, c1 = r[0], r[-1] + 1, c[0], c[-1] + 1
    while r0 < r1 and c0 < c1:
        sub = ~full[r0:r1, c0:c1]
        if not sub.any():
            return slice(r0, r1), slice(c0, c1)
        edges = [sub[0].sum(), sub[-1].sum(), sub[:, 0].sum(), sub[:, -1].sum()]
        worst = int(np.argmax(edges))
        if worst == 0:
            r0 += 1
        elif worst == 1:
            r1 -= 1
        elif worst == 2:
            c0 += 1
        else:
            c1 -= 1
    return None


def _normalise(img, lo, hi, stack=False):
    a, b = np.percentile(img, [lo, hi])
    if b <= a:
        if stack:  # one bad frame: NaN, the others kept
            warnings.warn(
                "A frame is constant between the percentiles: its contrast cannot "
                "be normalised and it is NaN in the result.",
                RuntimeWarning,
                stacklevel=2,
            )
            return np.full(np.shape(img), np.nan)
        raise ValueError("The image is constant: contrast cannot be normalised.")
    return np.clip((img - a) / (b - a), 0.0, 1.0)


def _gaussian(img, sigma):
    return ndi.gaussian_filter(np.asarray(img, dtype=float), sigma)


def _median(img, size):
    return ndi.median_filter(np.asarray(img, dtype=float), size)


def _subtract_background(img, sigma):
    img = np.asarray(img, dtype=float)
    return img - ndi.gaussian_filter(img, sigma)


#: Median fitted width (sigma) over median nearest-neighbour distance above
#: which the reported position errors fall short of the scatter. Measured on
#: Poisson lattices (spacing 12 px, 8 images of 96 x 96 px each, x and y):
#: scatter / median error in a window of half the spacing 1.0, 1.0-1.2,
#: 1.4-1.5 and 2.0-2.1 for true widths 0.25, 0.30, 0.36 and 0.42 of the
#: spacing; in the default window, grown to 2.5 fitted widths, 0.93-0.96,
#: 1.2-1.25, 1.13-1.18 and 0.89-0.98 (RMS error 0.055, 0.11, 0.20 and
#: 0.38 px, against 0.063, 0.16, 0.49 and 0.79 px;
#: ``python benchmarks/check_overlap_errors.py``, 2026-12-07). The joint fit
#: (widths capped) reports those widths as 0.24, 0.28, 0.32-0.33 and 0.30-0.34.
OVERLAP_WARNING = 0.27


def _warn_overlap(cols):
    """Warn when the converged columns overlap so much that the Gaussian
    decomposition trades positions between neighbours."""
    ok = cols.get("converged", np.zeros(0)) == 1
    if "sigma_major" not in cols or ok.sum() < 3:
        return
    x, y = cols["x"][ok], cols["y"][ok]
    frames = cols.get("frame")
    pts = np.column_stack([x, y] + ([] if frames is None else [frames[ok] * 1e12]))
    d, _ = kd_query(cKDTree(pts), pts, k=2)
    nn = np.median(d[:, 1])
    ratio = float(np.nanmedian(cols["sigma_major"][ok]) / nn) if nn > 0 else 0.0
    if ratio > OVERLAP_WARNING:
        warnings.warn(
            f"The columns are {ratio:.2f} of their nearest-neighbour distance wide "
            f"(median fitted sigma; above {OVERLAP_WARNING}): the Gaussian-per-column "
            "model trades positions between overlapping neighbours, and the "
            "reported errors can fall short of the true scatter (measured on "
            "simulated lattices, default window: 1.2 times for columns 0.30 of the "
            "spacing wide, 1.15 at 0.36; in a window of half the spacing 1.2, 1.45 "
            "and 2.1 at 0.30, 0.36 and 0.42; fitted widths understate such "
            "overlaps). Treat x_err/y_err as lower bounds.",
            RuntimeWarning,
            stacklevel=3,
        )


def _default_radius(x, y):
    if len(x) < 2:
        raise ValueError(
            "Cannot choose a fitting radius from a single atom; give `radius`."
        )
    d, _ = kd_query(cKDTree(np.column_stack([x, y])), np.column_stack([x, y]), k=2)
    nn = np.median(d[:, 1])
    if nn < 2:
        raise ValueError(
            f"The atoms are {nn:.2g} px apart (median): duplicates or an image that "
            "does not resolve them. Give `radius` or remove the duplicates."
        )
    return max(nn / 2.0, 1.5)


def _check_target_grid(target, grid):
    """A calibrated target signal must have this image's pixel size and units
    (it is used pixel for pixel); an uncalibrated one is a plain array."""
    axes = target.axes_manager.signal_axes
    units = [axis_units(ax.units) for ax in axes]
    if not any(units) and all(ax.scale == 1 for ax in axes):
        return
    scale = pixel_scale(grid)
    ok = all(u == grid["x"]["units"] for u in units) and all(
        np.isclose(abs(ax.scale), scale, rtol=1e-6) for ax in axes
    )
    if not ok:
        raise ValueError(
            f"The `target` signal has pixels of {axes[0].scale:g} {units[0]} but the "
            f"image has {scale:g} {grid['x']['units']}; a target is matched pixel for "
            "pixel: cut it from an image with the same calibration (or pass its "
            "array, `target.data`)."
        )


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
