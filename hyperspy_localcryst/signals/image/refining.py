"""Refining the columns: Gaussian fits of every column with its neighbours,
position errors and the warnings on overlap (``refine_atoms``)."""

from __future__ import annotations

import warnings

import numpy as np

from ..._docstrings import fill_doc
from ...numerics._checks import check_number
from ...numerics._parallel import nearest_distances
from ...numerics.frames import frame_groups
from ...numerics.one_frame import refine_frame
from ...numerics.refinement import default_radius
from .._grid import (
    check_bool,
    check_integer,
    pixel_scale,
    to_calibrated,
)
from ..atom_positions import AtomPositions
from ..frames import _record_failed, _status_counts
from .calibration import _check_same_grid
from .finding import _check_contrast

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
    nn = np.median(nearest_distances(pts))
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


class RefiningMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atomic_image.
    AtomicImage` (the class inherits them; see the module docstring)."""

    # ------------------------------------------------------------ refinement
    @fill_doc
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
        %(SHOW_PROGRESSBAR_ARG)s
            The bar runs over the frames of a stack.
        %(FRAME_WORKERS_ARG)s

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
                sep_px = 2.0 * default_radius(xp, yp)
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
            refine_frame,
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

    def integrate_columns(self, atoms, max_radius=None, background="auto"):
        """Scattering cross-section of every column: its Voronoi cell's sum.

        Each pixel goes to the nearest column closer than ``max_radius``;
        a column's ``cross_section`` is the sum of its pixels minus its
        background (:func:`hyperspy_localcryst.numerics.counting.
        voronoi_cross_sections`, StatSTEM's Voronoi integration). Unlike the
        ``intensity`` of a fitted Gaussian it assumes no column shape, so
        at low dose it does not inherit the fit's amplitude-width
        correlation: the better input for :meth:`AtomPositions.count_atoms`
        there.

        Parameters
        ----------
        atoms : AtomPositions
            The columns, on this image's grid (one table for a stack).
        max_radius : float, optional
            Calibrated distance a pixel must stay below; default ``sqrt(2)
            / 2`` times the median nearest-neighbour distance (the whole
            Voronoi cell of a square lattice, a capped one in vacuum).
        background : "auto", float or None
            Image units per pixel, subtracted from every pixel of the cells
            (the level of the vacuum or of the space between columns).
            ``"auto"`` (default): the median of the refined ``background``
            column over each frame's atoms (none without that column); None:
            raw sums (a constant background then adds ``background *
            cell_pixels``, which differs between cells of different sizes).

        Returns
        -------
        AtomPositions
            ``atoms`` with ``cross_section`` (the image's intensity summed
            over pixels, as ``intensity``) and ``cell_pixels``.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> image = synthetic_lattice(shape=(128, 128), spacing=16, seed=0)
        >>> atoms = image.refine_atoms(image.find_atoms())
        >>> with_cs = image.integrate_columns(atoms)
        >>> bool(np.all(with_cs.get_column("cross_section") > 0))
        True
        """
        from ...numerics.counting import voronoi_cross_sections

        if not isinstance(atoms, AtomPositions):
            raise TypeError(
                f"`atoms` must be an AtomPositions table, got {type(atoms).__name__}."
            )
        grid = self._grid()
        _check_same_grid(atoms.grid, grid)
        xp, yp = atoms.get_pixel_positions()
        frame = atoms.get_frames()
        if max_radius is None:
            nn = atoms._nn_distance()  # within frames, calibrated
            if not nn > 0:
                raise ValueError(
                    "No two columns in a frame to size the cells: give `max_radius`."
                )
            r_px = np.sqrt(0.5) * nn / pixel_scale(grid)
        else:
            r_px = self._length_to_px(max_radius, "max_radius")
        auto = isinstance(background, str)
        if auto and background != "auto":
            raise ValueError(
                "`background` must be 'auto', a number or None, got "
                f"{background!r:.60}."
            )
        refined_bg = (
            atoms.get_column("background") if "background" in atoms.columns else None
        )
        if not auto and background is not None:
            background = check_number(background, "background")
        sums = np.full(atoms.n_atoms, np.nan)
        npx = np.zeros(atoms.n_atoms)
        groups = frame_groups(frame, self.axes_manager.navigation_size or 1)
        for (k, img), sel in zip(self._frames(), groups):
            ok = sel[np.isfinite(xp[sel]) & np.isfinite(yp[sel])]
            bg = background
            if auto:
                level = np.array([]) if refined_bg is None else refined_bg[ok]
                level = level[np.isfinite(level)]
                bg = float(np.median(level)) if level.size else None
            s, n = voronoi_cross_sections(img, xp[ok], yp[ok], r_px, bg)
            sums[ok], npx[ok] = s, n
        return atoms.add_columns(
            {"cross_section": sums, "cell_pixels": npx},
            {"cross_section": self._iunits(), "cell_pixels": ""},
        )
