"""Finding the columns: the separation, the contrast (bright or dark), the
noise model and outliers of each frame, the finders and the significance
test (``estimate_separation``, ``find_atoms``)."""

from __future__ import annotations

import warnings

import numpy as np
from hyperspy.signals import (
    BaseSignal,
)

from ..._docstrings import fill_doc
from ...numerics import _checks, detection, finding
from ...numerics.one_frame import (
    _auto_contrast,
    _check_target_position,
    _cleaned,
    _frame_problem,
    _target_half_width,
    find_frame,
)
from ...numerics.separation import central_separation
from .._grid import (
    axis_units,
    check_bool,
    check_integer,
    check_number,
    check_numbers,
    pixel_scale,
    to_calibrated,
    to_pixels,
)
from ..frames import _failure_summary, _pool_frames


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


class FindingMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atomic_image.
    AtomicImage` (the class inherits them; see the module docstring)."""

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

    @fill_doc
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
        %(SHOW_PROGRESSBAR_ARG)s
            The bar runs over the frames of a stack.
        %(FRAME_WORKERS_ARG)s

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
            find_frame,
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
        # the separation each frame used, one number per frame (weighted by its
        # atoms in the median recorded below)
        seps = [
            (r.pop("separation"), len(r["x"])) for r in results if "separation" in r
        ]
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
        sep_used = np.repeat([s for s, _ in seps], [k for _, k in seps])
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
