"""Sub-pixel refinement of atomic-column positions.

All atoms of an image are fitted in one compiled pass (numba, parallel over
atoms): no per-atom Python objects. Each atom is fitted in a circular window
centred on the pixel nearest to its current position. Overlapping neighbours
are removed from each window before the fit: after a first pass the model of
every atom is rendered once, and in the next passes each atom is fitted to the
data minus the model of all the *other* atoms (block-coordinate descent on the
joint model of the image). Passes repeat until no position moves by more than
``tol``. A crystal continues beyond the image: the columns centred just
outside it (up to the window radius beyond the outermost pixel centres) reach
into the edge atoms' windows, so the joint model holds them too, as context
columns on the sites that continue the lattice of the fitted atoms (and at
seeds whose fits land outside): round, of the atoms' median width, fitted in
every pass, never returned; one that its data do not support (amplitude below
twice its error, or centred inside) is dropped.

The fit maximises the Poisson likelihood (Fisher scoring, i.e. iteratively
reweighted least squares with weights ``1/model``, the model of the whole
window: the atom, its background and the neighbours' tails that were
subtracted, whose shot noise the window still holds), which reaches the
Cramér–Rao bound on shot-noise-limited images; the weights make the estimate
independent of the detector gain, so scaled counts work too. Images with
negative values (ABF, iDPC, STM heights, background-subtracted images) are
fitted by ordinary least squares (``weights="uniform"``).

Standard errors: with Poisson weights, the inverse Fisher information scaled
by the reduced chi-square; with least squares, the sandwich (heteroscedasticity
consistent) estimate, because the noise of such images still grows with the
signal (a background-subtracted HAADF image has shot noise), where the
chi-square-scaled inverse Fisher matrix of least squares underestimates the
position errors (by about 30 % for a peak ten times the background). Known
limitation: the errors of an atom treat its neighbours' models as known, so
where columns overlap strongly the true errors are larger (on a square lattice
by about 10 % at a spacing of 4.4 sigma and 25 % at 4 sigma; within 2 % from
4.8 sigma on).

Positions are in pixels, x = column, y = row, pixel centres at integers.
"""

import warnings

import numpy as np
from scipy.spatial import cKDTree

from ._checks import check_bool, check_integer, check_number
from ._fit_kernels import (
    _ELLIPTICAL,
    _POISSON,
    _ROUND,
    _S_BOUNDS,
    _S_FAINT,
    _S_HELD,
    _S_MOVED,
    _S_NONPOSITIVE,
    _S_NOT_FITTED,
    _S_OK,
    _S_OUTSIDE,
    _S_SINGULAR,
    _S_UNDETERMINED,
    _S_WINDOW,
    _UNIFORM,
    _context_sites,
    _fit_pass,
    _render_peaks,
    _render_radii,
    _sandwich_pass,
)
from ._imaging import gain_exponent
from ._joint_errors import (
    _joint_position_variance,
    _overlap_groups,
)
from ._parallel import nearest_distances
from .centroids import (
    _LEVEL_PULL,
    _check_inputs,
    _initial_params,
    _lsq_plane,
    _median_sigma,
    _plane_at,
    _seed_params,
    auto_weights,
)

__all__ = [
    "REFINED_COLUMNS",
    "FIT_STATUS",
    "refine_gaussians",
    "default_radius",
]

#: Columns returned by :func:`refine_gaussians`, in pixel units.
REFINED_COLUMNS = (
    "x",
    "y",
    "amplitude",
    "sigma_x",
    "sigma_y",
    "sigma_major",
    "sigma_minor",
    "ellipticity",
    "orientation",
    "background",
    "intensity",
    "residual",
    "snr",
    "x_err",
    "y_err",
    "converged",
    "fit_status",
    "fit_radius",
)


#: Meaning of each ``fit_status`` code returned by :func:`refine_gaussians`.
FIT_STATUS = {
    _S_OK: "converged",
    _S_HELD: "converged with the width held at its upper bound",
    _S_WINDOW: "window off the image (fewer pixels than parameters)",
    _S_NONPOSITIVE: "model not positive in the window (Poisson weights)",
    _S_SINGULAR: "singular Fisher matrix (parameters not determined)",
    _S_BOUNDS: "no step keeps a positive amplitude and a width inside its bounds",
    _S_MOVED: "moved farther than the window radius from its seed",
    _S_FAINT: "amplitude not significant (its error exceeds it)",
    _S_UNDETERMINED: "position error larger than the window radius",
    _S_OUTSIDE: "position outside the image",
    _S_NOT_FITTED: "not fitted",
}


def _median_width(params, mdl, ok):
    """Median width of the atoms ``ok`` (elliptical: the geometric mean of
    the two axes), the width of the context columns."""
    if mdl == _ROUND:
        w = params[ok, 3]
    else:
        a, b, c = params[ok, 3], params[ok, 4], params[ok, 5]
        w = (a * c - b * b) ** -0.25
    w = w[np.isfinite(w)]
    return float(np.median(w)) if len(w) else np.nan


def _render_model(others, params, mdl, radius, ok, ctx, ctx_ok):
    """The peaks of all atoms ``ok`` and context columns ``ctx_ok`` (round)."""
    _render_peaks(others, params, mdl, _render_radii(params, mdl, radius), ok, True)
    if ctx is not None and ctx_ok.any():
        radii = _render_radii(ctx, _ROUND, radius)
        _render_peaks(others, ctx, _ROUND, radii, ctx_ok, False)
    return others


def _fit_context(
    image, others, ctx, own, ctx_ok, width, weighting, radius, max_iter, tol
):
    """Refit the context columns ``ctx_ok`` from ``ctx`` among the rendered
    model ``others``, which holds them as ``own``; their width set to
    ``width``. A column stays when its fit converges, centred beyond the
    outermost pixel centres, with an amplitude of at least twice its error.
    Returns the new parameters (the old ones where a column goes), which
    columns stay and their position errors."""
    ny, nx = image.shape
    start = ctx.copy()
    start[:, 3] = width
    new, cov, _, st = _fit_pass(
        image,
        others,
        start,
        own,
        _ROUND,
        weighting,
        radius,
        np.full(len(ctx), width),
        max_iter,
        tol,
        ctx_ok,
        True,
    )
    x, y = new[:, 0], new[:, 1]
    beyond = (x < 0) | (y < 0) | (x > nx - 1) | (y > ny - 1)
    with np.errstate(invalid="ignore"):
        strong = new[:, 2] > 2.0 * np.sqrt(cov[:, 2])
    keep = ctx_ok & (st <= _S_HELD) & beyond & strong
    err = np.sqrt(np.nan_to_num(cov[:, :2], nan=0.0))
    return np.where(keep[:, None], new, ctx), keep, err


#: ``widen``: the window wanted, in fitted widths, and its largest growth.
_WIDEN, _MAX_WIDEN = 2.5, 1.5


def refine_gaussians(
    image,
    x,
    y,
    radius,
    model="round",
    sigma=None,
    weights="auto",
    max_passes=5,
    max_iter=20,
    tol=1e-3,
    subtract_neighbours=True,
    warn=True,
    level="auto",
    widen=False,
):
    """Fit a 2D Gaussian on a constant background to every atom at once.

    Parameters
    ----------
    image : numpy.ndarray
        2D image, not modified.
    x, y : array_like
        Seed positions in pixels (x = column, y = row, pixel centres at
        integers).
    radius : float
        Radius of the circular fitting window in pixels; about half the
        nearest-neighbour distance is a good choice.
    model : {"round", "elliptical"}
        ``"round"``: one width. ``"elliptical"``: two widths and an
        orientation (a round fit is done first and seeds it).
    sigma : float, optional
        Starting width in pixels; estimated from the image if not given.
    weights : {"auto", "poisson", "uniform"}
        ``"poisson"`` maximises the Poisson likelihood (reaches the
        Cramér–Rao bound for shot noise; independent of the detector gain);
        ``"uniform"`` is ordinary least squares; ``"auto"`` takes
        ``"poisson"`` when the image has no negative pixels and its noise
        grows with its level (:func:`auto_weights`).
    max_passes : int
        Maximum number of passes in which the other atoms' models are
        subtracted (1 = every atom fitted alone). After each pass only the
        atoms that moved by more than ``tol`` or a tenth of their standard
        error, and their neighbours, are refitted; passes stop when none
        moved. Strongly overlapping columns need more passes; a
        ``RuntimeWarning`` says when more than 1 % of the atoms had not
        settled, i.e. their last pass moved them by more than their standard
        error (the passes converge about geometrically, so further passes
        would move them by as much again). In the joint passes a round
        column's width stays below 1.2 times its independent fit (or the
        median of those): free widths drift on real images, wider peaks on a
        sinking background. Known limitation: on images whose intensity
        between the columns the model cannot describe (STM topographs, iDPC)
        the passes still do not settle, and the warning says so.
    max_iter : int
        Maximum Fisher-scoring iterations per atom and pass.
    tol : float
        Convergence tolerance on the position, in pixels.
    subtract_neighbours : bool
        Subtract the model of the neighbours from each window (joint fit),
        including the columns centred just beyond the image edges (context
        columns on the sites continuing the lattice, fitted but not
        returned; left out, they pulled the edge atoms outward).
    level : {"auto", "plane", "none"}
        ``"plane"`` fits the columns on the image minus its least-squares
        plane, so that each window's background is that plane plus a
        constant instead of a constant: an STM topograph tilted by many
        times its atomic corrugation (20 Å across the Si(111)-7x7 step
        image against 1 Å) otherwise pulls the fits uphill, most at the
        edges, where the window is cut. ``background`` is reported with the
        plane added back (the level under the column). Least squares only:
        under Poisson weights the pixels' variances are the counts, which a
        subtracted plane would change. ``"auto"``: with least squares
        (``weights`` ``"uniform"``, or ``"auto"`` on an image that is not
        counts: topographs, dark columns fitted as dips), ``"plane"`` where
        the plane would pull the columns by more than 0.05 px (its slope
        times the squared median width over the median amplitude: 1.2 px on
        the Si(111) step image; a crop of an untilted lattice, whose plane
        only follows the crop's content, is left as it is), else
        ``"none"``; ``"none"`` with Poisson weights. ``"plane"`` turns
        ``weights`` ``"auto"`` into ``"uniform"``.
    widen : bool
        Let the window grow for wide columns (the default of
        :meth:`~hyperspy_localcryst.signals.AtomicImage.refine_atoms`, whose
        ``radius`` is then half the nearest-neighbour distance): when the
        median fitted width ``w`` of the converged atoms exceeds ``radius /
        2.5``, the columns are fitted again in a window of ``min(2.5 w, 1.5
        radius)`` pixels, and each atom keeps that fit where it converged,
        else the first. A window of half the column distance holds only
        1.2 widths of an ABF or STM column: on Atomap's raw ABF image 0.80 of
        the cation columns lay within 0.5 px of the simultaneous ADF's, 0.975
        with the wider window; the atoms whose wider fit fails (22 of 362 there)
        keep the first.
    warn : bool
        Emit the RuntimeWarning of a joint fit that has not settled. False
        for internal checks, which may run in worker threads, where
        ``warnings.catch_warnings`` is not safe (the threads' saved filters
        can be restored out of order and silence later warnings).

    Returns
    -------
    dict of numpy.ndarray
        One array per name in :data:`REFINED_COLUMNS`, in pixel units
        (``orientation`` in degrees, angle of the major axis from +x towards
        +y; ``intensity`` is the integrated peak, ``2 pi A sigma_x
        sigma_y``; ``x_err``/``y_err`` are the standard errors: for
        Poisson weights from the Fisher information scaled by the reduced
        chi-square, for least squares the sandwich estimate, valid for any
        per-pixel noise; where neighbours reach into a column's window (their
        peak above 5 % of its amplitude there, joint fit only) the position
        errors are those of the column and its overlapping neighbours fitted
        together, the neighbours' parameters free (a local joint covariance:
        otherwise columns 4 widths apart would have errors 25 % too small);
        ``converged`` is 1.0 or 0.0; ``fit_radius`` the window radius of
        the fit kept (pixels; see ``widen``); ``fit_status`` is the reason, a
        code of
        :data:`FIT_STATUS`: 0 converged; 1 converged with the width held at
        its upper bound (the window radius, or in the joint passes 1.2 times
        the independent width; the errors are then those at that width);
        failures: 2 window off the image, 3 model not positive in the window
        (Poisson weights), 4 singular Fisher matrix, 5 no step keeps a
        positive amplitude and a width inside its bounds, 6 moved farther
        than the window radius from its seed, 7 amplitude not significant
        (its error exceeds it), 8 position error larger than the window
        radius, 9 position outside the image, 10
        not fitted). Atoms whose fit failed keep their seed position, with
        ``converged = 0`` and NaN descriptors.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:40, :40]
    >>> img = 10 + 100 * np.exp(-((xx - 19.6) ** 2 + (yy - 20.2) ** 2) / (2 * 9))
    >>> fit = refine_gaussians(img, [20], [20], radius=8)
    >>> round(float(fit["x"][0]), 3), round(float(fit["y"][0]), 3)
    (19.6, 20.2)
    >>> round(float(fit["sigma_x"][0]), 3)
    3.0
    """
    image, x, y, radius = _check_inputs(image, x, y, radius)
    widen = check_bool(widen, "widen")
    warn = check_bool(warn, "warn")
    if isinstance(weights, str) and weights == "auto":
        # decided once for the image, not again for a grown window
        weights = "uniform" if level == "plane" else auto_weights(image)
    kw = dict(
        model=model,
        sigma=sigma,
        weights=weights,
        max_passes=max_passes,
        max_iter=max_iter,
        tol=tol,
        subtract_neighbours=subtract_neighbours,
        level=level,
    )
    out, unsettled = _refine_window(image, x, y, radius, **kw)
    ok = out["converged"] == 1
    if widen and ok.any():
        w = float(np.median(out["sigma_major"][ok]))
        wide = int(round(min(_WIDEN * w, _MAX_WIDEN * radius)))
        if radius < wide <= max(image.shape):
            second, unsettled2 = _refine_window(image, x, y, wide, **kw)
            keep = second["converged"] == 1
            out = {c: np.where(keep, second[c], out[c]) for c in out}
            unsettled = np.where(keep, unsettled2, unsettled)
            ok = out["converged"] == 1
    if warn and ok.any() and np.mean(unsettled[ok]) > 0.01:
        # said once, of the fits kept (not of a first window's fits that the
        # grown window replaced)
        warnings.warn(
            f"The joint fit had not settled after max_passes={max_passes}: "
            f"for {int(unsettled[ok].sum())} of {int(ok.sum())} atoms further "
            "passes would move the position by more than its reported "
            "standard error (its last pass moved it by more than that). "
            "Strongly overlapping columns need more passes; on images whose "
            "background between the columns a Gaussian-per-column model "
            "cannot describe, more passes can instead drift (widths grow, "
            "the background sinks): check the widths before trusting them.",
            RuntimeWarning,
            stacklevel=2,
        )
    return out


def _refine_window(
    image,
    x,
    y,
    radius,
    model,
    sigma,
    weights,
    max_passes,
    max_iter,
    tol,
    subtract_neighbours,
    level,
):
    """:func:`refine_gaussians` in one window of ``radius`` (whole pixels,
    checked): the columns and, per atom, whether its joint fit had not
    settled (its last pass moved it by more than its error and ``tol``)."""
    if not isinstance(model, str) or model not in ("round", "elliptical"):
        raise ValueError(f"`model` must be 'round' or 'elliptical', got {model!r}.")
    if not isinstance(weights, str) or weights not in ("auto", "poisson", "uniform"):
        raise ValueError(
            f"`weights` must be 'auto', 'poisson' or 'uniform', got {weights!r}."
        )
    max_passes = check_integer(max_passes, "max_passes", minimum=1)
    max_iter = check_integer(max_iter, "max_iter", minimum=1)
    tol = check_number(tol, "tol", "a distance in pixels")
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"`tol` must be a non-negative distance, got {tol}.")
    subtract_neighbours = check_bool(subtract_neighbours, "subtract_neighbours")
    if sigma is not None:
        sigma = check_number(sigma, "sigma", "a width in pixels")
    n = len(x)
    if n == 0:
        return {c: np.empty(0) for c in REFINED_COLUMNS}, np.zeros(0, dtype=bool)
    if weights == "poisson" and image.min() < 0:
        raise ValueError(
            "`weights='poisson'` needs an image without negative values (minimum "
            f"{image.min():.4g}); use weights='uniform' (least squares) or 'auto'."
        )
    if not isinstance(level, str) or level not in ("auto", "plane", "none"):
        raise ValueError(f"`level` must be 'auto', 'plane' or 'none', got {level!r}.")
    auto_level = level == "auto" and weights == "uniform"
    if level == "auto":
        level = "none"  # least squares: decided below, from the plane's pull
    if level == "plane" and weights == "poisson":
        raise ValueError(
            "`level='plane'` needs least squares (weights='uniform'): under Poisson "
            "weights the subtracted plane would change the pixels' variances."
        )
    # A power of two brings the image to order 1, exactly: the squared model
    # values of the Fisher information neither overflow (raw counts near
    # 2**32) nor underflow (tiny units), and the fit does not depend on the
    # detector gain; the intensity columns are scaled back at the end.
    gain = gain_exponent(image)
    image = np.ldexp(image, -gain)
    plane = np.zeros(3)
    if level == "plane" or auto_level:
        plane = _lsq_plane(image)
    weighting = _POISSON if weights == "poisson" else _UNIFORM
    if weighting == _POISSON and image.min() <= 0:
        # A zero-count background would make the Poisson weights diverge.
        image = image + max(1e-9 * image.max(), 1e-12)

    given_sigma = sigma is not None
    bg, amp = _initial_params(image, x, y, radius)
    if sigma is None:
        sigma = _median_sigma(image, x, y, bg, amp, radius)
    if auto_level:
        # A Gaussian of amplitude A and width s on a slope g moves by about
        # g s**2 / A: level only where the plane would pull the columns by
        # more than _LEVEL_PULL px (a tilted topograph), not where its slope
        # is that of the image's content (a crop of a lattice, a particle)
        a_med = float(np.nanmedian(np.abs(amp))) if n else 0.0
        pull = np.hypot(plane[1], plane[2]) * min(sigma, radius) ** 2
        if not (a_med > 0 and pull > _LEVEL_PULL * a_med):
            plane = np.zeros(3)
    if np.any(plane):
        ny, nx = image.shape
        image = image - (
            plane[0]
            + plane[1] * np.arange(nx)[None, :]
            + plane[2] * np.arange(ny)[:, None]
        )
        bg, amp = _initial_params(image, x, y, radius)
        if not given_sigma:  # measured again on the levelled image
            sigma = _median_sigma(image, x, y, bg, amp, radius)
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"`sigma` must be positive, got {sigma}.")
    sigma = min(float(sigma), 0.8 * radius)  # widths stay below the window radius
    bg, amp = _seed_params(image, x, y, radius)
    params = np.column_stack([x, y, amp, np.full(n, sigma), bg])
    ok = np.ones(n, dtype=np.bool_)
    empty = np.zeros((0, 0))

    # With neighbour subtraction to follow, the first (independent) pass only
    # has to be good enough to model the neighbours and to bound the widths
    # of the joint passes: three Fisher-scoring steps from the found
    # positions (one left faint columns too narrow for that bound; the
    # joint passes then need fewer iterations, so three cost no more).
    first_iter = 3 if subtract_neighbours and max_passes > 1 else max_iter
    wmax = np.full(n, float(radius))
    params, cov, resid, status = _fit_pass(
        image,
        empty,
        params,
        params,
        _ROUND,
        weighting,
        radius,
        wmax,
        first_iter,
        tol,
        ok,
        False,  # (context: one compiled signature, not two)
    )
    ok = status <= _S_HELD
    if first_iter < max_iter and not ok.all():
        # one step from a poor seed can fail where the converged fit would not
        retry, cov_r, resid_r, st_r = _fit_pass(
            image,
            empty,
            params,
            params,
            _ROUND,
            weighting,
            radius,
            wmax,
            max_iter,
            tol,
            ~ok,
            False,  # (context: one compiled signature, not two)
        )
        again = ~ok
        params = np.where(again[:, None], retry, params)
        cov = np.where(again[:, None], cov_r, cov)
        resid = np.where(again, resid_r, resid)
        status = np.where(again, st_r, status)
        ok = status <= _S_HELD
    # Subtracting the neighbours' tails narrows a peak, it cannot widen it:
    # in the joint passes of the round model each width stays below 1.2
    # times its independent fit (or the median of those, or the seed width,
    # if larger: one step from the seed can leave a faint column narrow; an
    # elliptical column's
    # major axis may well be wider than that round fit, so it keeps the
    # window radius as its bound). Free widths drift there on real images (wider
    # peaks on a sinking background, positions following), a Gaussian per
    # column with a constant background not describing the intensity between
    # the columns; the cap stops that drift.
    if model == "round" and ok.any():
        w1 = np.where(ok, params[:, 3], np.nan)
        wmax = np.minimum(radius, 1.2 * np.fmax(w1, max(np.nanmedian(w1), sigma)))
        wmax = np.nan_to_num(wmax, nan=float(radius))
    mdl = _ROUND
    if model == "elliptical":
        prec = 1.0 / params[:, 3] ** 2
        params = np.column_stack([params[:, :3], prec, np.zeros(n), prec, params[:, 4]])
        mdl = _ELLIPTICAL
        if not subtract_neighbours or max_passes == 1:
            params, cov, resid, st = _fit_pass(
                image,
                empty,
                params,
                params,
                mdl,
                weighting,
                radius,
                wmax,
                max_iter,
                tol,
                ok,
                False,  # (context: one compiled signature, not two)
            )
            status = np.where(ok, st, status)
            ok = status <= _S_HELD
    last_move = None  # each atom's move in the last pass, if passes ran out
    ctx = ctx_ok = None  # context columns centred beyond the edges
    if subtract_neighbours and max_passes > 1:
        others = np.empty_like(image)
        last = np.zeros_like(params)  # each atom's change in the last pass
        active = ok.copy()  # atoms refitted in this pass
        pairs = None
        if cov.shape != params.shape:  # round first pass, elliptical from here
            cov = np.full_like(params, np.nan)
        # A crystal continues beyond the image: the columns centred just
        # outside it show their flanks along the edges. Left out of the
        # model, they entered the edge atoms' windows as a raised background
        # on one side, pulled those atoms outward and narrower (0.1 px,
        # twice the Cramér-Rao bound, at 4 widths' spacing) and, through
        # the subtracted models, the next rows too (0.05 px). They are
        # modelled as context columns on the sites that continue the
        # lattice beyond the edges: round, the median width of the atoms,
        # fitted in every pass like the atoms, never reported.
        # Seeds whose first fit landed outside the image (status 9), or that
        # lie beyond the outermost pixel centres and failed, are such columns
        # too: they stay failed, but are modelled.
        ctx_x, ctx_y = _context_sites(
            params[ok, 0], params[ok, 1], x, y, image.shape, radius
        )
        ny, nx = image.shape
        beyond = (x < 0) | (y < 0) | (x > nx - 1) | (y > ny - 1)
        outside = (status == _S_OUTSIDE) | (beyond & ~ok)
        ctx_x = np.concatenate([x[outside], ctx_x])
        ctx_y = np.concatenate([y[outside], ctx_y])
        if len(ctx_x):
            w_ctx = _median_width(params, _ROUND, ok)
            c_bg, c_amp = _seed_params(image, ctx_x, ctx_y, radius)
            ctx = np.column_stack(
                [ctx_x, ctx_y, c_amp, np.full(len(ctx_x), w_ctx), c_bg]
            )
            ctx_ok = np.ones(len(ctx), dtype=np.bool_)
            _render_model(others, params, _ROUND, radius, ok, None, None)
            absent = ctx.copy()
            absent[:, 2] = 0.0  # not in the rendered model yet
            ctx, ctx_ok, _ = _fit_context(
                image,
                others,
                ctx,
                absent,
                ctx_ok,
                w_ctx,
                weighting,
                radius,
                max_iter,
                tol,
            )
        for k in range(max_passes - 1):
            rr = _render_radii(params, mdl, radius)
            _render_model(others, params, mdl, radius, ok, ctx, ctx_ok)
            new, cov_new, resid_new, st_new = _fit_pass(
                image,
                others,
                params,
                params,
                mdl,
                weighting,
                radius,
                wmax,
                max_iter,
                tol,
                ok & active,
                False,  # (context: one compiled signature, not two)
            )
            ctx_moved = None
            if ctx is not None and ctx_ok.any():
                ctx_new, ctx_keep, ctx_err = _fit_context(
                    image,
                    others,
                    ctx,
                    ctx,
                    ctx_ok,
                    _median_width(params, mdl, ok),
                    weighting,
                    radius,
                    max_iter,
                    tol,
                )
                step = np.abs(ctx_new[:, :2] - ctx[:, :2])
                ctx_moved = ctx_ok & (
                    ~ctx_keep | np.any(step >= np.maximum(tol, 0.1 * ctx_err), 1)
                )
                ctx, ctx_ok = ctx_new, ctx_keep
            # atoms not refitted keep their parameters, errors and residuals
            ok_new = st_new <= _S_HELD
            keep = ok & (ok_new | ~active)
            status = np.where(ok & active, st_new, status)
            cov = np.where(active[:, None], cov_new, cov)
            resid = np.where(active, resid_new, resid)
            change = np.where((active & keep)[:, None], new - params, 0.0)
            # All atoms are updated together (Jacobi); strongly overlapping
            # columns then overshoot each other and oscillate. An atom whose
            # position change reverses direction moves only half way (damping
            # its oscillation while leaving steady convergence untouched).
            reverse = np.sum(change[:, :2] * last[:, :2], axis=1) < 0
            change[reverse] *= 0.5
            last = change
            params = params + change
            ok = keep
            # An atom has settled when it moved by less than tol or a tenth of
            # its statistical error; only atoms that moved, or whose
            # neighbours moved, are refitted in the next pass.
            err = np.sqrt(np.nan_to_num(cov[:, :2], nan=0.0))
            moved = ok & np.any(np.abs(change[:, :2]) >= np.maximum(tol, 0.1 * err), 1)
            if not np.any(moved) and (ctx_moved is None or not ctx_moved.any()):
                break
            if k == max_passes - 2:
                # The passes converge about geometrically, each move at most
                # half the previous one, so the moves still to come add up to
                # at most the last one: an atom has not settled when its last
                # move exceeds its reported standard error (and ``tol``),
                # judged once the errors are final (below)
                last_move = np.where(ok, np.hypot(change[:, 0], change[:, 1]), 0.0)
                break
            if np.mean(moved[ok]) > 0.5:
                active = ok.copy()  # most atoms: no neighbour search needed
                continue
            if pairs is None:
                reach = float(radius + rr.max())
                tree = cKDTree(params[:, :2])
                pairs = tree.query_pairs(reach, output_type="ndarray")
            active = moved.copy()
            active[pairs[moved[pairs[:, 0]], 1]] = True
            active[pairs[moved[pairs[:, 1]], 0]] = True
            if ctx_moved is not None and ctx_moved.any():
                # the atoms whose windows a moved (or dropped) context column
                # reaches
                for near in tree.query_ball_point(ctx[ctx_moved, :2], reach):
                    active[near] = True
            active &= ok
    joint = subtract_neighbours and max_passes > 1
    faint = status == _S_FAINT
    if joint and mdl == _ROUND and faint.any() and ok.sum() >= 3:
        # A faint column beside bright ones (S2 beside Mo) can have a
        # significant amplitude and still fail as "not significant": its free
        # width trades with its amplitude and background. Such columns are
        # fitted once more among the fitted others with the width at most the
        # median fitted width (held there if it would grow: status 1).
        _render_model(others, params, mdl, radius, ok, ctx, ctx_ok)
        w_med = float(np.median(params[ok, 3]))
        retry = params.copy()
        retry[faint, 3] = np.minimum(retry[faint, 3], w_med)
        absent = retry.copy()
        absent[:, 2] = 0.0  # their own peaks are not in the rendered model
        new, cov_new, resid_new, st_new = _fit_pass(
            image,
            others,
            retry,
            absent,
            mdl,
            weighting,
            radius,
            np.full(n, w_med),
            max_iter,
            tol,
            faint,
            False,  # (context: one compiled signature, not two)
        )
        good = faint & (st_new <= _S_HELD)
        params = np.where(good[:, None], new, params)
        cov = np.where(good[:, None], cov_new, cov)
        resid = np.where(good, resid_new, resid)
        status = np.where(good, st_new, status)
        ok = ok | good
    if joint:
        _render_model(others, params, mdl, radius, ok, ctx, ctx_ok)
    if weighting == _UNIFORM:
        # Least squares: the errors are the sandwich at the final parameters
        # (the passes' chi-square-scaled ones assume the same noise on every
        # pixel, which shot noise is not).
        sandwich = _sandwich_pass(
            image,
            others if joint else empty,
            params,
            mdl,
            radius,
            ok,
            status == _S_HELD,
        )
        cov = np.where(np.isfinite(sandwich), sandwich, cov)
    if joint and ok.any():
        # The errors above treat the neighbours' models as known; where
        # neighbours reach into an atom's window their own uncertainty adds
        # to its position's (25 % on a lattice 4 widths apart): there the
        # position variances are those of the atom and its overlapping
        # neighbours fitted together (a local joint covariance).
        ptr, idx = _overlap_groups(params, mdl, radius, ok)
        jv = _joint_position_variance(
            image, others, params, mdl, weighting, radius, status == _S_HELD, ptr, idx
        )
        cov[:, :2] = np.where(np.isfinite(jv) & ok[:, None], jv, cov[:, :2])
    unsettled = np.zeros(n, dtype=bool)
    if last_move is not None:
        err = np.hypot(*np.sqrt(np.nan_to_num(cov[:, :2], nan=0.0)).T)
        unsettled = ok & (last_move > np.maximum(tol, err))
    out = _to_columns(params, cov, resid, ok, mdl, x, y)
    out["fit_status"] = status.astype(np.float64)
    out["fit_radius"] = np.full(n, float(radius))
    out["background"] = out["background"] + _plane_at(plane, out["x"], out["y"])
    for c in ("amplitude", "background", "intensity", "residual"):
        out[c] = np.ldexp(out[c], gain)
    return out, unsettled


def _to_columns(params, cov, resid, ok, mdl, x0, y0):
    n = params.shape[0]
    out = {}
    if mdl == _ROUND:
        sx = sy = smaj = smin = params[:, 3]
        orient = np.zeros(n)
        bg = params[:, 4]
    else:
        a, b, c = params[:, 3], params[:, 4], params[:, 5]
        det = a * c - b * b
        # covariance matrix = inverse of the precision matrix
        cxx, cyy, cxy = c / det, a / det, -b / det
        tr, dd = cxx + cyy, np.sqrt(((cxx - cyy) / 2) ** 2 + cxy**2)
        smaj = np.sqrt(tr / 2 + dd)
        smin = np.sqrt(np.maximum(tr / 2 - dd, 0))
        sx, sy = np.sqrt(cxx), np.sqrt(cyy)
        orient = np.degrees(0.5 * np.arctan2(2 * cxy, cxx - cyy))
        bg = params[:, 6]
    amp = params[:, 2]
    out["x"] = np.where(ok, params[:, 0], x0)
    out["y"] = np.where(ok, params[:, 1], y0)
    out["amplitude"] = amp
    out["sigma_x"] = sx
    out["sigma_y"] = sy
    out["sigma_major"] = smaj
    out["sigma_minor"] = smin
    out["ellipticity"] = smaj / smin
    out["orientation"] = orient
    out["background"] = bg
    out["intensity"] = 2 * np.pi * amp * smaj * smin
    out["residual"] = resid
    with np.errstate(divide="ignore", invalid="ignore"):
        out["snr"] = amp / resid
    out["x_err"] = np.sqrt(cov[:, 0])
    out["y_err"] = np.sqrt(cov[:, 1])
    out["converged"] = ok.astype(np.float64)
    for k in out:
        if k not in ("x", "y", "converged"):
            out[k] = np.where(ok, out[k], np.nan)
    return out


def default_radius(x, y):
    """The default fitting radius: half the median nearest-neighbour distance
    of the atoms (at least 1.5 px).

    Parameters
    ----------
    x, y : array_like
        Positions in pixels (at least two atoms).

    Returns
    -------
    float
        Radius in pixels.

    Raises
    ------
    ValueError
        For a single atom, or atoms less than 2 px apart (median).

    Examples
    --------
    >>> float(default_radius([0.0, 10.0, 20.0], [5.0, 5.0, 5.0]))
    5.0
    """
    if len(x) < 2:
        raise ValueError(
            "Cannot choose a fitting radius from a single atom; give `radius`."
        )
    nn = np.median(nearest_distances(np.column_stack([x, y])))
    if nn < 2:
        raise ValueError(
            f"The atoms are {nn:.2g} px apart (median): duplicates or an image that "
            "does not resolve them. Give `radius` or remove the duplicates."
        )
    return max(nn / 2.0, 1.5)
