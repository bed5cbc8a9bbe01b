"""Sub-pixel refinement of atomic-column positions.

All atoms of an image are fitted in one compiled pass (numba, parallel over
atoms): no per-atom Python objects. Each atom is fitted in a circular window
centred on the pixel nearest to its current position. Overlapping neighbours
are removed from each window before the fit: after a first pass the model of
every atom is rendered once, and in the next passes each atom is fitted to the
data minus the model of all the *other* atoms (block-coordinate descent on the
joint model of the image). Passes repeat until no position moves by more than
``tol``.

The fit maximises the Poisson likelihood (Fisher scoring, i.e. iteratively
reweighted least squares with weights ``1/model``), which reaches the
Cramér–Rao bound on shot-noise-limited images; the weights make the estimate
independent of the detector gain, so scaled counts work too. Images with
negative values (ABF, iDPC, STM heights, background-subtracted images) are
fitted by ordinary least squares (``weights="uniform"``).

Positions are in pixels, x = column, y = row, pixel centres at integers.
"""

import math

import numpy as np
from numba import njit, prange

__all__ = [
    "REFINED_COLUMNS",
    "refine_gaussians",
    "centre_of_mass",
    "estimate_sigma",
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
)

_ROUND, _ELLIPTICAL = 0, 1
_POISSON, _UNIFORM = 0, 1


# --------------------------------------------------------------------------
# Compiled kernels
# --------------------------------------------------------------------------
@njit(cache=True, fastmath=True)
def _gauss(model, p, dx, dy):
    if model == _ROUND:
        s2 = p[3] * p[3]
        return math.exp(-0.5 * (dx * dx + dy * dy) / s2)
    q = p[3] * dx * dx + 2.0 * p[4] * dx * dy + p[5] * dy * dy
    return math.exp(-0.5 * q)


@njit(cache=True, fastmath=True)
def _add_peak(p, model, j0, j1, i0, i1, dst, dj, di):
    """Add atom ``p``'s peak (no background) on rows j0..j1, columns i0..i1.

    Pixel (j, i) goes to ``dst[j - dj, i - di]``. The renderer of all atoms and
    each fit's removal of its own rendered peak both use this, so the two
    agree exactly.
    """
    if model == _ROUND:
        inv2s2 = 0.5 / (p[3] * p[3])
        ex = np.empty(i1 - i0)
        for i in range(i0, i1):
            t = i - p[0]
            ex[i - i0] = p[2] * math.exp(-t * t * inv2s2)
        for j in range(j0, j1):
            t = j - p[1]
            ey = math.exp(-t * t * inv2s2)
            for i in range(i0, i1):
                dst[j - dj, i - di] += ey * ex[i - i0]
    else:
        for j in range(j0, j1):
            for i in range(i0, i1):
                dst[j - dj, i - di] += p[2] * _gauss(model, p, i - p[0], j - p[1])


@njit(cache=True, parallel=True)
def _render_peaks(shape, params, model, radii, ok):
    """Sum of the Gaussian peaks (no background) of all atoms.

    Parallel over horizontal bands of the image: each band adds only its own
    rows of the atoms that overlap it, so no two threads write the same pixel.
    """
    ny, nx = shape
    out = np.zeros((ny, nx))
    cy_all = np.floor(params[:, 1] + 0.5)
    order = np.argsort(cy_all)
    cys = cy_all[order]
    rmax = radii.max() if radii.shape[0] > 0 else 0
    n_bands = max(1, min(64, ny // 16))
    edges = np.linspace(0, ny, n_bands + 1).astype(np.int64)
    for band in prange(n_bands):
        b0, b1 = edges[band], edges[band + 1]
        first = np.searchsorted(cys, b0 - rmax)
        last = np.searchsorted(cys, b1 + rmax, side="right")
        for q in range(first, last):
            k = order[q]
            if not ok[k]:
                continue
            p = params[k]
            r = radii[k]
            cx = int(np.floor(p[0] + 0.5))
            cy = int(cys[q])
            j0 = max(cy - r, b0)
            j1 = min(cy + r + 1, b1)
            i0 = max(cx - r, 0)
            i1 = min(cx + r + 1, nx)
            if j0 < j1 and i0 < i1:
                _add_peak(p, model, j0, j1, i0, i1, out, 0, 0)
    return out


@njit(cache=True, fastmath=True)
def _solve(F, g, n):
    """Solve F d = g in place by Cholesky; returns (d, ok)."""
    L = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1):
            s = F[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            if i == j:
                if s <= 0.0:
                    return np.zeros(n), False
                L[i, i] = math.sqrt(s)
            else:
                L[i, j] = s / L[j, j]
    z = np.zeros(n)
    for i in range(n):
        s = g[i]
        for k in range(i):
            s -= L[i, k] * z[k]
        z[i] = s / L[i, i]
    d = np.zeros(n)
    for i in range(n - 1, -1, -1):
        s = z[i]
        for k in range(i + 1, n):
            s -= L[k, i] * d[k]
        d[i] = s / L[i, i]
    return d, True


@njit(cache=True, fastmath=True)
def _invert_spd(F, n):
    inv = np.empty((n, n))
    e = np.zeros(n)
    for c in range(n):
        e[:] = 0.0
        e[c] = 1.0
        d, ok = _solve(F, e, n)
        if not ok:
            inv[:, :] = np.nan
            return inv
        inv[:, c] = d
    return inv


@njit(cache=True, fastmath=True)
def _accumulate_round(image, own, subtract, p, cx, cy, radius, poisson, ex, ey, F, g):
    """Fisher matrix (15 unique terms), score (5) and residual sums, round model.

    Scalar accumulators and a branch-free inner loop over each row's chord of
    the circular window, so the compiler can vectorise it.
    """
    ny, nx = image.shape
    x0, y0, amp, s, bg = p[0], p[1], p[2], p[3], p[4]
    s2 = s * s
    inv2s2 = 0.5 / s2
    for o in range(2 * radius + 1):
        t = cx - radius + o - x0
        ex[o] = math.exp(-t * t * inv2s2)
        t = cy - radius + o - y0
        ey[o] = math.exp(-t * t * inv2s2)
    f00 = f01 = f02 = f03 = f04 = 0.0
    f11 = f12 = f13 = f14 = 0.0
    f22 = f23 = f24 = f33 = f34 = f44 = 0.0
    g0 = g1 = g2 = g3 = g4 = 0.0
    rss = 0.0
    wrss = 0.0
    npix = 0
    mu_min = np.inf
    for j in range(max(cy - radius, 0), min(cy + radius + 1, ny)):
        oj = j - cy
        half = int(math.sqrt(radius * radius - oj * oj))
        i0 = max(cx - half, 0)
        i1 = min(cx + half + 1, nx)
        dy = j - y0
        eyj = ey[oj + radius]
        for i in range(i0, i1):
            oi = i - cx + radius
            d = image[j, i]
            if subtract:
                d -= own[oj + radius, oi]
            dx = i - x0
            e = eyj * ex[oi]
            ae = amp * e
            mu = bg + ae
            mu_min = min(mu_min, mu)
            w = 1.0 / mu if poisson else 1.0
            r2 = dx * dx + dy * dy
            j0 = ae * dx / s2
            j1 = ae * dy / s2
            j3 = ae * r2 / (s2 * s)
            res = d - mu
            wr = w * res
            rss += res * res
            wrss += wr * res
            g0 += wr * j0
            g1 += wr * j1
            g2 += wr * e
            g3 += wr * j3
            g4 += wr
            wj0 = w * j0
            wj1 = w * j1
            we = w * e
            wj3 = w * j3
            f00 += wj0 * j0
            f01 += wj0 * j1
            f02 += wj0 * e
            f03 += wj0 * j3
            f04 += wj0
            f11 += wj1 * j1
            f12 += wj1 * e
            f13 += wj1 * j3
            f14 += wj1
            f22 += we * e
            f23 += we * j3
            f24 += we
            f33 += wj3 * j3
            f34 += wj3
            f44 += w
            npix += 1
    F[0, 0], F[0, 1], F[0, 2], F[0, 3], F[0, 4] = f00, f01, f02, f03, f04
    F[1, 1], F[1, 2], F[1, 3], F[1, 4] = f11, f12, f13, f14
    F[2, 2], F[2, 3], F[2, 4], F[3, 3], F[3, 4], F[4, 4] = f22, f23, f24, f33, f34, f44
    for a in range(5):
        for b in range(a):
            F[a, b] = F[b, a]
    g[0], g[1], g[2], g[3], g[4] = g0, g1, g2, g3, g4
    return rss, wrss, npix, mu_min


@njit(cache=True, fastmath=True)
def _accumulate_elliptical(image, own, subtract, p, cx, cy, radius, poisson, F, g):
    """Fisher matrix, score and residual sums for the elliptical model."""
    ny, nx = image.shape
    J = np.zeros(7)
    F[:, :] = 0.0
    g[:] = 0.0
    rss = 0.0
    wrss = 0.0
    npix = 0
    mu_min = np.inf
    for j in range(max(cy - radius, 0), min(cy + radius + 1, ny)):
        oj = j - cy
        half = int(math.sqrt(radius * radius - oj * oj))
        dy = j - p[1]
        for i in range(max(cx - half, 0), min(cx + half + 1, nx)):
            d = image[j, i]
            if subtract:
                d -= own[oj + radius, i - cx + radius]
            dx = i - p[0]
            e = math.exp(
                -0.5 * (p[3] * dx * dx + 2.0 * p[4] * dx * dy + p[5] * dy * dy)
            )
            ae = p[2] * e
            mu = p[6] + ae
            mu_min = min(mu_min, mu)
            w = 1.0 / mu if poisson else 1.0
            J[0] = ae * (p[3] * dx + p[4] * dy)
            J[1] = ae * (p[4] * dx + p[5] * dy)
            J[2] = e
            J[3] = -0.5 * ae * dx * dx
            J[4] = -ae * dx * dy
            J[5] = -0.5 * ae * dy * dy
            J[6] = 1.0
            res = d - mu
            rss += res * res
            wrss += w * res * res
            npix += 1
            for a in range(7):
                wa = w * J[a]
                g[a] += wa * res
                for b in range(a + 1):
                    F[a, b] += wa * J[b]
    for a in range(7):
        for b in range(a):
            F[b, a] = F[a, b]
    return rss, wrss, npix, mu_min


@njit(cache=True, fastmath=True)
def _fit_one(image, others, p0, own0, model, weighting, radius, max_iter, tol):
    """Fit one atom by Fisher scoring.

    Returns (params, variances, n_pixels, ok, rms_residual).
    """
    ny, nx = image.shape
    npar = p0.shape[0]
    p = p0.copy()
    cx = int(np.floor(p0[0] + 0.5))
    cy = int(np.floor(p0[1] + 0.5))
    poisson = weighting == _POISSON
    F = np.zeros((npar, npar))
    g = np.zeros(npar)
    ex = np.empty(2 * radius + 1)
    ey = np.empty(2 * radius + 1)
    # Model of every other atom inside the window (the atom's own current
    # model is taken out of the rendered sum of all atoms).
    own = np.zeros((2 * radius + 1, 2 * radius + 1))
    subtract = others.shape[0] > 0
    if subtract:
        j0, j1 = max(cy - radius, 0), min(cy + radius + 1, ny)
        i0, i1 = max(cx - radius, 0), min(cx + radius + 1, nx)
        _add_peak(own0, model, j0, j1, i0, i1, own, cy - radius, cx - radius)
        for j in range(j0, j1):
            for i in range(i0, i1):
                a, b = j - cy + radius, i - cx + radius
                own[a, b] = others[j, i] - own[a, b]
    ok = True
    it = 0
    rss = wrss = 0.0
    n_pix = 0
    while True:
        if model == _ROUND:
            rss, wrss, n_pix, mu_min = _accumulate_round(
                image, own, subtract, p, cx, cy, radius, poisson, ex, ey, F, g
            )
        else:
            rss, wrss, n_pix, mu_min = _accumulate_elliptical(
                image, own, subtract, p, cx, cy, radius, poisson, F, g
            )
        if (poisson and mu_min <= 0.0) or n_pix <= npar:
            ok = False
            break
        if it >= max_iter:
            break
        it += 1
        step, solved = _solve(F, g, npar)
        if not solved:
            ok = False
            break
        # Safeguards: bounded position step, positive width and amplitude.
        width = p[3] if model == _ROUND else 1.0 / math.sqrt(max(p[3], p[5]))
        lim = 0.5 * width
        scale = 1.0
        for a in range(2):
            if abs(step[a]) * scale > lim:
                scale = lim / abs(step[a])
        valid = False
        trial = p
        for _ in range(30):
            trial = p + scale * step
            valid = trial[2] > 0.0
            # a column wider than its window is unconstrained by the data
            if model == _ROUND:
                valid = valid and 0.5 * p[3] < trial[3] < min(2.0 * p[3], radius)
            else:
                valid = (
                    valid
                    and trial[3] > 0.0
                    and trial[5] > 0.0
                    and trial[3] * trial[5] - trial[4] * trial[4] > 0.0
                    and 0.25 * p[3] < trial[3] < 4.0 * p[3]
                    and 0.25 * p[5] < trial[5] < 4.0 * p[5]
                    and min(trial[3], trial[5]) * radius * radius > 1.0
                )
            if valid:
                break
            scale *= 0.5
        if not valid:
            ok = False
            break
        p = trial
        if abs(p[0] - p0[0]) > radius or abs(p[1] - p0[1]) > radius:
            ok = False
            break
        if abs(scale * step[0]) < tol and abs(scale * step[1]) < tol:
            # converged: the Fisher matrix of this last step (within tol of
            # the solution) gives the errors
            break
    var = np.full(npar, np.nan)
    resid = np.nan
    if ok:
        inv = _invert_spd(F, npar)
        chi2 = wrss / (n_pix - npar)
        for a in range(npar):
            var[a] = inv[a, a] * chi2
        resid = math.sqrt(rss / n_pix)
        # A fit is only a fit if the data determine it: a significant peak,
        # a position known to better than the window, inside the image.
        r2 = float(radius * radius)
        if (
            not (var[2] < p[2] * p[2])
            or not (var[0] < r2)
            or not (var[1] < r2)
            or p[0] < -0.5
            or p[1] < -0.5
            or p[0] > nx - 0.5
            or p[1] > ny - 0.5
        ):
            ok = False
    return p, var, n_pix, ok, resid


@njit(cache=True, parallel=True)
def _fit_pass(
    image, others, params, own, model, weighting, radius, max_iter, tol, ok_in
):
    n, npar = params.shape
    out = params.copy()
    cov = np.full((n, npar), np.nan)
    resid = np.full(n, np.nan)
    ok = np.zeros(n, dtype=np.bool_)
    for k in prange(n):
        if not ok_in[k]:
            continue
        p, c, n_pix, good, rr = _fit_one(
            image, others, params[k], own[k], model, weighting, radius, max_iter, tol
        )
        if good:
            out[k] = p
            cov[k] = c
            resid[k] = rr
            ok[k] = True
    return out, cov, resid, ok


@njit(cache=True, parallel=True)
def _initial_params(image, x, y, radius):
    """Background (low quantile of the window ring) and peak amplitude."""
    ny, nx = image.shape
    n = x.shape[0]
    bg = np.empty(n)
    amp = np.empty(n)
    for k in prange(n):
        cx = int(np.floor(x[k] + 0.5))
        cy = int(np.floor(y[k] + 0.5))
        lo = np.inf
        ring_sum = 0.0
        ring_n = 0
        for j in range(max(cy - radius, 0), min(cy + radius + 1, ny)):
            for i in range(max(cx - radius, 0), min(cx + radius + 1, nx)):
                r2 = (i - cx) ** 2 + (j - cy) ** 2
                if r2 > radius * radius:
                    continue
                v = image[j, i]
                lo = min(lo, v)
                if r2 >= (radius - 1) ** 2:
                    ring_sum += v
                    ring_n += 1
        b = ring_sum / ring_n if ring_n > 0 else lo
        peak = image[min(max(cy, 0), ny - 1), min(max(cx, 0), nx - 1)]
        bg[k] = b
        amp[k] = max(peak - b, 1e-12 * max(abs(peak), 1.0))
    return bg, amp


@njit(cache=True, parallel=True)
def _centre_of_mass(image, x, y, radius, n_iter):
    ny, nx = image.shape
    n = x.shape[0]
    ox = x.copy()
    oy = y.copy()
    for k in prange(n):
        px = x[k]
        py = y[k]
        for _ in range(n_iter):
            cx = int(np.floor(px + 0.5))
            cy = int(np.floor(py + 0.5))
            lo = np.inf
            for j in range(max(cy - radius, 0), min(cy + radius + 1, ny)):
                for i in range(max(cx - radius, 0), min(cx + radius + 1, nx)):
                    if (i - cx) ** 2 + (j - cy) ** 2 <= radius * radius:
                        lo = min(lo, image[j, i])
            sw = 0.0
            sx = 0.0
            sy = 0.0
            for j in range(max(cy - radius, 0), min(cy + radius + 1, ny)):
                for i in range(max(cx - radius, 0), min(cx + radius + 1, nx)):
                    if (i - cx) ** 2 + (j - cy) ** 2 <= radius * radius:
                        w = image[j, i] - lo
                        sw += w
                        sx += w * i
                        sy += w * j
            if sw <= 0.0:
                break
            px = sx / sw
            py = sy / sw
        ox[k] = px
        oy[k] = py
    return ox, oy


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------
def _check_inputs(image, x, y, radius):
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"`image` must be 2D, got {image.ndim} dimensions.")
    if not np.issubdtype(image.dtype, np.number) or np.iscomplexobj(image):
        raise TypeError(f"`image` must be real-valued, got dtype {image.dtype}.")
    image = np.ascontiguousarray(image, dtype=np.float64)
    if not np.all(np.isfinite(image)):
        raise ValueError("`image` contains NaN or infinite pixels.")
    x = np.ascontiguousarray(x, dtype=np.float64).ravel()
    y = np.ascontiguousarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError("`x` and `y` must have the same length.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("`x` and `y` must be finite (NaN positions given).")
    if not np.isfinite(radius) or radius < 1:
        raise ValueError(f"`radius` must be at least 1 pixel, got {radius}.")
    return image, x, y, int(round(radius))


def centre_of_mass(image, x, y, radius, n_iter=3):
    """Refine positions by the background-subtracted centre of mass.

    The window is a disc of ``radius`` pixels centred on the pixel nearest to
    the current estimate; the window minimum is taken as background. The
    window is re-centred ``n_iter`` times.

    Parameters
    ----------
    image : numpy.ndarray
        2D image.
    x, y : array_like
        Starting positions in pixels (x = column, y = row).
    radius : float
        Window radius in pixels.
    n_iter : int
        Number of re-centring iterations.

    Returns
    -------
    x, y : numpy.ndarray
        Refined positions in pixels.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:21, :21]
    >>> img = np.exp(-((xx - 10.3) ** 2 + (yy - 9.8) ** 2) / 8)
    >>> cx, cy = centre_of_mass(img, [10], [10], radius=6)
    >>> round(float(cx[0]), 1), round(float(cy[0]), 1)
    (10.3, 9.8)
    """
    image, x, y, radius = _check_inputs(image, x, y, radius)
    if len(x) == 0:
        return x.copy(), y.copy()
    return _centre_of_mass(image, x, y, radius, int(n_iter))


def estimate_sigma(image, x, y, radius):
    """Estimate a typical Gaussian width (pixels) of the columns at ``x, y``.

    The median over atoms of the second moment of the background-subtracted
    intensity in a disc of half the window radius, where neighbours do not
    contribute yet.

    Parameters
    ----------
    image : numpy.ndarray
        2D image.
    x, y : array_like
        Positions in pixels.
    radius : float
        Fitting-window radius in pixels (about half the atom separation).

    Returns
    -------
    float
        The width ``sigma`` in pixels.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:41, :41]
    >>> img = np.exp(-((xx - 20) ** 2 + (yy - 20) ** 2) / (2 * 3.0**2))
    >>> round(estimate_sigma(img, [20], [20], radius=12), 0)
    3.0
    """
    image, x, y, radius = _check_inputs(image, x, y, radius)
    if len(x) == 0:
        raise ValueError("No positions given to estimate the column width from.")
    bg, amp = _initial_params(image, x, y, radius)
    # Half-maximum area of each peak: robust to tails of neighbours.
    sig = _half_max_sigma(image, x, y, bg, amp, radius)
    sig = sig[np.isfinite(sig)]
    if len(sig) == 0:
        return max(radius / 3.0, 0.5)
    return float(np.clip(np.median(sig), 0.5, radius))


@njit(cache=True, parallel=True)
def _half_max_sigma(image, x, y, bg, amp, radius):
    ny, nx = image.shape
    n = x.shape[0]
    out = np.full(n, np.nan)
    for k in prange(n):
        cx = int(np.floor(x[k] + 0.5))
        cy = int(np.floor(y[k] + 0.5))
        half = bg[k] + 0.5 * amp[k]
        count = 0
        for j in range(max(cy - radius, 0), min(cy + radius + 1, ny)):
            for i in range(max(cx - radius, 0), min(cx + radius + 1, nx)):
                if (i - cx) ** 2 + (j - cy) ** 2 <= radius * radius:
                    if image[j, i] >= half:
                        count += 1
        if count > 0:
            # area above half maximum of a Gaussian = 2 pi ln2 sigma^2
            out[k] = math.sqrt(count / (2.0 * math.pi * math.log(2.0)))
    return out


def refine_gaussians(
    image,
    x,
    y,
    radius,
    model="round",
    sigma=None,
    weights="auto",
    max_passes=3,
    max_iter=20,
    tol=1e-3,
    subtract_neighbours=True,
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
        ``"poisson"`` when the image has no negative pixels.
    max_passes : int
        Maximum number of passes in which the other atoms' models are
        subtracted (1 = every atom fitted alone). Passes stop when no atom
        moves by more than ``tol`` or a tenth of its standard error. Strongly
        overlapping columns (closer than about 3 sigma) need more passes.
    max_iter : int
        Maximum Fisher-scoring iterations per atom and pass.
    tol : float
        Convergence tolerance on the position, in pixels.
    subtract_neighbours : bool
        Subtract the model of the neighbours from each window (joint fit).

    Returns
    -------
    dict of numpy.ndarray
        One array per name in :data:`REFINED_COLUMNS`, in pixel units
        (``orientation`` in degrees, angle of the major axis from +x towards
        +y; ``intensity`` is the integrated peak, ``2 pi A sigma_x
        sigma_y``; ``x_err``/``y_err`` are the standard errors from the
        Fisher information scaled by the reduced chi-square; ``converged``
        is 1.0 or 0.0). Atoms whose fit failed keep their seed position,
        with ``converged = 0`` and NaN descriptors.

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
    if model not in ("round", "elliptical"):
        raise ValueError(f"`model` must be 'round' or 'elliptical', got {model!r}.")
    if weights not in ("auto", "poisson", "uniform"):
        raise ValueError(
            f"`weights` must be 'auto', 'poisson' or 'uniform', got {weights!r}."
        )
    if int(max_passes) < 1 or int(max_iter) < 1:
        raise ValueError("`max_passes` and `max_iter` must be at least 1.")
    n = len(x)
    if n == 0:
        return {c: np.empty(0) for c in REFINED_COLUMNS}
    if weights == "auto":
        weights = "poisson" if image.min() >= 0 else "uniform"
    weighting = _POISSON if weights == "poisson" else _UNIFORM
    if weighting == _POISSON:
        # A zero-count background would make the Poisson weights diverge.
        image = image + max(1e-9 * image.max(), 1e-12)

    if sigma is None:
        sigma = estimate_sigma(image, x, y, radius)
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"`sigma` must be positive, got {sigma}.")
    sigma = min(float(sigma), 0.8 * radius)  # widths stay below the window radius
    bg, amp = _initial_params(image, x, y, radius)
    params = np.column_stack([x, y, amp, np.full(n, sigma), bg])
    ok = np.ones(n, dtype=np.bool_)
    empty = np.zeros((0, 0))

    # With neighbour subtraction to follow, the first (independent) pass only
    # has to be good enough to model the neighbours: two iterations suffice.
    first_iter = (
        min(2, max_iter) if subtract_neighbours and max_passes > 1 else max_iter
    )
    params, cov, resid, ok_fit = _fit_pass(
        image, empty, params, params, _ROUND, weighting, radius, first_iter, tol, ok
    )
    ok = ok_fit
    mdl = _ROUND
    if model == "elliptical":
        prec = 1.0 / params[:, 3] ** 2
        params = np.column_stack([params[:, :3], prec, np.zeros(n), prec, params[:, 4]])
        mdl = _ELLIPTICAL
        if not subtract_neighbours or max_passes == 1:
            params, cov, resid, ok = _fit_pass(
                image, empty, params, params, mdl, weighting, radius, max_iter, tol, ok
            )
    if subtract_neighbours and max_passes > 1:
        for _ in range(max_passes - 1):
            rr = _render_radii(params, mdl, radius)
            others = _render_peaks(image.shape, params, mdl, rr, ok)
            new, cov, resid, ok_new = _fit_pass(
                image, others, params, params, mdl, weighting, radius, max_iter, tol, ok
            )
            keep = ok & ok_new
            shift = np.abs(new[keep, :2] - params[keep, :2])
            params = np.where(keep[:, None], new, params)
            ok = keep
            # Stop once no atom moves by more than tol or a tenth of its own
            # statistical error: further passes change nothing measurable.
            err = np.sqrt(cov[keep, :2])
            if np.all(shift < np.maximum(tol, 0.1 * err)):
                break
    return _to_columns(params, cov, resid, ok, mdl, x, y)


def _render_radii(params, mdl, radius):
    if mdl == _ROUND:
        s = params[:, 3]
    else:
        s = 1.0 / np.sqrt(np.minimum(params[:, 3], params[:, 5]))
    s = np.nan_to_num(s, nan=radius)
    return np.maximum(np.ceil(4.0 * s), radius + 1).astype(np.int64)


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
