"""Image series: drift between frames, alignment and summing
(``estimate_drift``, ``align_frames``, ``sum_frames``)."""

from __future__ import annotations

import warnings

import numpy as np
from hyperspy.signals import (
    BaseSignal,
)

from ..._docstrings import fill_doc
from ...numerics import warping
from ...numerics.one_frame import _frame_problem
from .. import _stack
from .._grid import (
    check_bool,
    check_integer,
    check_number,
    check_units,
)
from ..atom_positions import AtomPositions
from ..frames import _failure_summary
from .calibration import _check_same_grid


def _warp(frame, matrix, translation, order):
    if not np.all(np.isfinite(translation)):  # a frame without drift
        return np.full(np.shape(frame), np.nan)
    return warping.warp_frame(
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


class SeriesMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atomic_image.
    AtomicImage` (the class inherits them; see the module docstring)."""

    # ------------------------------------------------------------ alignment
    def _stack_only(self, what):
        if self.axes_manager.navigation_dimension == 0:
            raise ValueError(f"{what} needs an image stack (navigation axes).")

    @fill_doc
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
        %(SHOW_PROGRESSBAR_ARG)s
            The bar runs over the frames (``"xcorr"``).

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
        >>> from hyperspy_localcryst.signals.atomic_image import AtomicImage
        >>> from hyperspy_localcryst.data.synthetic import make_drift_stack
        >>> frames, truth = make_drift_stack(n_frames=3, shape=(128, 128), seed=0)
        >>> s = AtomicImage(frames)
        >>> drift = s.estimate_drift()
        >>> bool(np.allclose(drift.data[:, :2], truth["shifts"], atol=0.1))
        True
        """
        from ...numerics import alignment

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
        from ...numerics import tracking

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
            v, _ = warping.estimate_velocity(
                shifts[good], np.flatnonzero(good) * ft, lt, pt
            )
            mats[:] = warping.scan_drift_matrix(v, lt, pt)
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

    @fill_doc
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
            (:func:`~hyperspy_localcryst.numerics.warping.scan_drift_matrix`).
        atoms : AtomPositions, optional
            Atoms of this stack (``"affine"``, or to measure the drift).
        line_time, pixel_time, frame_time : float, optional
            Scan timing for ``"scan"`` (one time unit). ``pixel_time``
            defaults to ``metadata.Acquisition_instrument.TEM.dwell_time``,
            ``line_time`` to ``nx × pixel_time``, ``frame_time`` to
            ``ny × line_time``.
        order : int
            Spline order of the resampling.
        %(SHOW_PROGRESSBAR_ARG)s
            Bars of the drift estimate and of the resampling.
        %(NUM_WORKERS_ARG)s
            Here: the frames resampled in parallel (HyperSpy's ``map``).
        %(LAZY_OUTPUT_ARG)s

        Returns
        -------
        AtomicImage
            Same axes; NaN where a frame does not cover the reference
            frame's field of view. The maps used are in
            ``metadata.Alignment``.

        Examples
        --------
        >>> from hyperspy_localcryst.signals.atomic_image import AtomicImage
        >>> from hyperspy_localcryst.data.synthetic import make_drift_stack
        >>> frames, _ = make_drift_stack(n_frames=3, shape=(128, 128), seed=0)
        >>> aligned = AtomicImage(frames).align_frames()
        >>> aligned.data.shape
        (3, 128, 128)
        """
        order = warping.check_order(order)
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

    @fill_doc
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
        %(SHOW_PROGRESSBAR_ARG)s
            Bars of the drift estimate and of the summation.

        Returns
        -------
        AtomicImage
            The mean image; ``metadata.Alignment`` holds the per-frame maps
            and ``n_frames``.

        Examples
        --------
        >>> from hyperspy_localcryst.signals.atomic_image import AtomicImage
        >>> from hyperspy_localcryst.data.synthetic import make_drift_stack
        >>> frames, _ = make_drift_stack(n_frames=4, shape=(128, 128), seed=0)
        >>> mean = AtomicImage(frames).sum_frames()
        >>> mean.axes_manager.navigation_dimension, bool(np.isfinite(mean.data).all())
        (0, True)
        """

        order = warping.check_order(order)
        crop = check_bool(crop, "crop")
        check_bool(show_progressbar, "show_progressbar", allow_none=True)
        mats, trans = self._frame_maps(
            drift, model, atoms, line_time, pixel_time, frame_time, show_progressbar
        )
        good = _warn_no_drift(trans, "are left out of the mean")
        n = self.axes_manager.navigation_size
        bar = _stack.progress(self._frames(), n, show_progressbar, "Sum")
        frames = (img for k, img in bar if good[k])  # one in memory
        mean, count = warping.warped_mean(frames, mats[good], trans[good], order=order)
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
