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

import math
import warnings

import numpy as np
from numba import njit, prange
from scipy.spatial import cKDTree

from ._checks import check_array, check_bool, check_integer, check_number
from ._imaging import gain_exponent
from ._parallel import kd_query
from .noise import noise_follows_counts

__all__ = [
    "REFINED_COLUMNS",
    "FIT_STATUS",
    "auto_weights",
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
    "fit_status",
    "fit_radius",
)

_ROUND, _ELLIPTICAL = 0, 1
_POISSON, _UNIFORM = 0, 1

# Fit status codes (column ``fit_status``; see FIT_STATUS).
_S_OK = 0
_S_HELD = 1
_S_WINDOW = 2
_S_NONPOSITIVE = 3
_S_SINGULAR = 4
_S_BOUNDS = 5
_S_MOVED = 6
_S_FAINT = 7
_S_UNDETERMINED = 8
_S_OUTSIDE = 9
_S_NOT_FITTED = 10

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


# --------------------------------------------------------------------------
# Compiled kernels
# --------------------------------------------------------------------------
@njit(cache=True, nogil=True, fastmath=True)
def _gauss(model, p, dx, dy):
    if model == _ROUND:
        s2 = p[3] * p[3]
        return math.exp(-0.5 * (dx * dx + dy * dy) / s2)
    q = p[3] * dx * dx + 2.0 * p[4] * dx * dy + p[5] * dy * dy
    return math.exp(-0.5 * q)


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _gauss_factors(start, count, t0, k, out):
    """``out[o] = exp(-k (start + o - t0)**2)`` for ``o < count``.

    Three exponentials and a product recurrence outwards from the sample
    nearest ``t0``, instead of one exponential per sample (relative error
    ~1e-15); direct evaluation where the recurrence factors could overflow.
    """
    mid = min(max(int(math.floor(t0 - start + 0.5)), 0), count - 1)
    tm = start + mid - t0
    if k * (2.0 * abs(tm) + 1.0) * (count + 1) > 600.0:
        for o in range(count):
            t = start + o - t0
            out[o] = math.exp(-k * t * t)
        return
    c = math.exp(-2.0 * k)
    v = math.exp(-k * tm * tm)
    out[mid] = v
    q = math.exp(-k * (2.0 * tm + 1.0))
    u = v
    for o in range(mid + 1, count):
        u *= q
        q *= c
        out[o] = u
    q = math.exp(k * (2.0 * tm - 1.0))
    u = v
    for o in range(mid - 1, -1, -1):
        u *= q
        q *= c
        out[o] = u


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _add_peak(p, model, j0, j1, i0, i1, dst, dj, di, ex, ey):
    """Add atom ``p``'s peak (no background) on rows j0..j1, columns i0..i1.

    Pixel (j, i) goes to ``dst[j - dj, i - di]``; ``ex`` and ``ey`` are
    scratch vectors at least as long as the column and row ranges. The
    renderer of all atoms and each fit's removal of its own rendered peak
    both use this, so the two agree exactly.
    """
    if j1 <= j0 or i1 <= i0:
        return
    if model == _ROUND:
        k = 0.5 / (p[3] * p[3])
        _gauss_factors(i0, i1 - i0, p[0], k, ex)
        _gauss_factors(j0, j1 - j0, p[1], k, ey)
        amp = p[2]
        for j in range(j0, j1):
            f = amp * ey[j - j0]
            row = dst[j - dj]
            for i in range(i1 - i0):
                row[i + i0 - di] += f * ex[i]
    else:
        for j in range(j0, j1):
            for i in range(i0, i1):
                dst[j - dj, i - di] += p[2] * _gauss(model, p, i - p[0], j - p[1])


@njit(cache=True, nogil=True, parallel=True)
def _render_peaks(out, params, model, radii, ok, clear):
    """Sum of the Gaussian peaks (no background) of all atoms, into ``out``.

    Parallel over horizontal bands of the image: each band zeroes (unless
    ``clear`` is False: the peaks are then added to what ``out`` holds) and
    adds only its own rows of the atoms that overlap it, so no two threads
    write the same pixel. ``out`` is reused from pass to pass (allocating a
    fresh image each time costs more than the rendering: page faults).
    """
    ny, nx = out.shape
    cy_all = np.floor(params[:, 1] + 0.5)
    order = np.argsort(cy_all)
    cys = cy_all[order]
    rmax = radii.max() if radii.shape[0] > 0 else 0
    n_bands = max(1, min(64, ny // 16))
    edges = np.linspace(0, ny, n_bands + 1).astype(np.int64)
    for band in prange(n_bands):
        ex = np.empty(2 * rmax + 1)
        ey = np.empty(2 * rmax + 1)
        b0, b1 = edges[band], edges[band + 1]
        if clear:
            out[b0:b1] = 0.0
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
            _add_peak(p, model, j0, j1, i0, i1, out, 0, 0, ex, ey)
    return out


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _cholesky(F, n, L):
    """Lower Cholesky factor of the SPD matrix ``F`` into ``L``; False if not SPD."""
    for i in range(n):
        for j in range(i + 1):
            s = F[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            if i == j:
                if not s > 0.0:
                    return False
                L[i, i] = math.sqrt(s)
            else:
                L[i, j] = s / L[j, j]
    return True


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _cholesky_solve(L, g, n, out):
    """Solve ``L L^T out = g`` (forward then back substitution)."""
    for i in range(n):
        s = g[i]
        for k in range(i):
            s -= L[i, k] * out[k]
        out[i] = s / L[i, i]
    for i in range(n - 1, -1, -1):
        s = out[i]
        for k in range(i + 1, n):
            s -= L[k, i] * out[k]
        out[i] = s / L[i, i]


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _inverse_diagonal(L, n, W, out):
    """Diagonal of ``(L L^T)^-1`` = column sums of squares of ``L^-1`` (in ``W``)."""
    for c in range(n):
        for i in range(n):
            if i < c:
                W[i, c] = 0.0
                continue
            s = 1.0 if i == c else 0.0
            for k in range(c, i):
                s -= L[i, k] * W[k, c]
            W[i, c] = s / L[i, i]
    for c in range(n):
        s = 0.0
        for i in range(c, n):
            s += W[i, c] * W[i, c]
        out[c] = s


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _sandwich_variance(D, X, Y, E, n, p, model, L, npar, W, M, Z, out, hold=False):
    """Variances of a least-squares fit that hold whatever the noise is.

    ``L`` is the Cholesky factor of ``F = sum J J^T`` at ``p`` (``E`` holds
    the round model's Gaussian there). Ordinary least squares assumes the
    same noise on every pixel; on shot-noise images (background-subtracted
    HAADF, ABF) the noise is largest on the peak, exactly where the position
    is measured, and ``chi2 F^-1`` underestimates the errors (by ~30 % for a
    peak ten times the background). The sandwich ``F^-1 (sum_k J_k J_k^T
    r_k^2 / (1 - h_k)) F^-1`` is the variance of the estimate for any
    per-pixel noise (``h_k = J_k^T F^-1 J_k`` is the leverage of pixel
    ``k``; dividing by ``1 - h_k`` makes the squared residuals unbiased,
    HC2). It is summed in whitened form: with ``z_k = L^-1 J_k``,
    ``h_k = |z_k|^2`` and the variance is ``L^-T (sum_k z_k z_k^T r_k^2 /
    (1 - h_k)) L^-1``. ``Z`` (``npar + 2`` rows of the window's length) holds
    the whitened Jacobian, one row per parameter, then the residuals and the
    leverages, so that every step is a loop over the pixels (vectorised).
    """
    res, lev = Z[npar], Z[npar + 1]
    if model == _ROUND:
        inv_s2 = 1.0 / (p[3] * p[3])
        inv_s3 = inv_s2 / p[3]
        for q in range(n):
            dx = X[q] - p[0]
            dy = Y[q] - p[1]
            e = E[q]
            ae = p[2] * e
            Z[0, q] = ae * dx * inv_s2
            Z[1, q] = ae * dy * inv_s2
            Z[2, q] = e
            Z[3, q] = ae * (dx * dx + dy * dy) * inv_s3
            Z[4, q] = 1.0
            res[q] = D[q] - p[4] - ae
    else:
        for q in range(n):
            dx = X[q] - p[0]
            dy = Y[q] - p[1]
            res[q] = D[q] - _elliptical_jacobian(p, dx, dy, Z[:, q])
    if hold:  # the width is fixed at its bound (L is then that of _hold_width)
        Z[3, :n] = 0.0
    # whiten (forward substitution, row by row) and sum the leverages
    lev[:n] = 0.0
    for i in range(npar):
        zi = Z[i]
        for k in range(i):
            c = L[i, k]
            zk = Z[k]
            for q in range(n):
                zi[q] -= c * zk[q]
        c = 1.0 / L[i, i]
        for q in range(n):
            zi[q] *= c
            lev[q] += zi[q] * zi[q]
    for q in range(n):
        res[q] = res[q] * res[q] / max(1.0 - lev[q], 1e-3)
    for a in range(npar):
        za = Z[a]
        for b in range(a + 1):
            zb = Z[b]
            s = 0.0
            for q in range(n):
                s += za[q] * zb[q] * res[q]
            M[a, b] = s
            M[b, a] = s
    # W = L^-1 (lower triangular); the variance of parameter a is
    # (W^T M W)[a, a] = sum over i, j >= a of W[i, a] M[i, j] W[j, a]
    _inverse_diagonal(L, npar, W, out)
    for a in range(npar):
        s = 0.0
        for i in range(a, npar):
            t = 0.0
            for j in range(a, npar):
                t += M[i, j] * W[j, a]
            s += W[i, a] * t
        out[a] = s


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _load_window(
    image, others, own_p, model, cx, cy, radius, own, D, X, Y, N, lo, hi, ex, ey
):
    """Gather an atom's circular window into flat arrays; return its size.

    The window is the disc of ``radius`` pixels around pixel (``cx``, ``cy``),
    clipped to the image. Pixel ``k`` has value ``D[k]`` at column ``X[k]``,
    row ``Y[k]``; window row ``a`` (image row ``cy - radius + a``) holds the
    columns ``cx - radius + lo[a] <= i < cx - radius + hi[a]``, stored in
    order. With ``others`` (the rendered sum of all atoms) given, ``D`` is the
    data minus every *other* atom's model ``N``: ``others`` minus this atom's
    own peak ``own_p``, rendered into the scratch window ``own`` (with the
    scratch vectors ``ex``, ``ey``) exactly as the renderer drew it. ``N`` is
    zero without ``others``.
    """
    ny, nx = image.shape
    subtract = others.shape[0] > 0
    if subtract:
        own[:, :] = 0.0
        j0, j1 = max(cy - radius, 0), min(cy + radius + 1, ny)
        i0, i1 = max(cx - radius, 0), min(cx + radius + 1, nx)
        _add_peak(own_p, model, j0, j1, i0, i1, own, cy - radius, cx - radius, ex, ey)
    k = 0
    for a in range(2 * radius + 1):
        j = cy - radius + a
        lo[a] = 0
        hi[a] = 0
        if j < 0 or j >= ny:
            continue
        half = int(math.sqrt(radius * radius - (a - radius) * (a - radius)))
        b0 = max(radius - half, radius - cx)
        b1 = min(radius + half + 1, nx - cx + radius)
        if b1 <= b0:
            continue
        lo[a] = b0
        hi[a] = b1
        i0 = cx - radius
        for b in range(b0, b1):
            o = others[j, i0 + b] - own[a, b] if subtract else 0.0
            D[k] = image[j, i0 + b] - o
            N[k] = o
            X[k] = i0 + b
            Y[k] = j
            k += 1
    return k


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _accumulate_round(
    D, X, Y, E, N, n, lo, hi, p, cx, cy, radius, poisson, ex, ey, F, g
):
    """Fisher matrix (15 unique terms), score (5) and residual sums, round model.

    The Gaussian is separable, so its values on the window come from one
    factor per column and per row (``ex``, ``ey``) into ``E``; the main loop
    then runs over the flat window with scalar accumulators and no branches,
    so the compiler vectorises it (``error_model="numpy"`` removes the
    division-by-zero check that would otherwise prevent that). Returns
    ``(rss, wrss, mu_min)``: residual sum of squares, its weighted version
    and the smallest value in the window of the whole model (the
    neighbours' included), which the Poisson weights need positive.
    """
    x0, y0, amp, s, bg = p[0], p[1], p[2], p[3], p[4]
    inv_s2 = 1.0 / (s * s)
    inv_s3 = inv_s2 / s
    m = 2 * radius + 1
    _gauss_factors(cx - radius, m, x0, 0.5 * inv_s2, ex)
    _gauss_factors(cy - radius, m, y0, 0.5 * inv_s2, ey)
    q = 0
    for a in range(m):
        b0, b1 = lo[a], hi[a]
        if b1 <= b0:
            continue
        eyj = ey[a]
        for b in range(b0, b1):
            E[q] = eyj * ex[b]
            q += 1
    f00 = f01 = f02 = f03 = f04 = 0.0
    f11 = f12 = f13 = f14 = 0.0
    f22 = f23 = f24 = f33 = f34 = f44 = 0.0
    g0 = g1 = g2 = g3 = g4 = 0.0
    rss = 0.0
    wrss = 0.0
    tot_min = np.inf
    for q in range(n):
        dx = X[q] - x0
        dy = Y[q] - y0
        e = E[q]
        ae = amp * e
        mu = bg + ae
        # Poisson: the variance is the whole model, the neighbours' included
        tot = mu + N[q]
        tot_min = min(tot_min, tot)
        w = 1.0 / tot if poisson else 1.0
        r2 = dx * dx + dy * dy
        j0 = ae * dx * inv_s2
        j1 = ae * dy * inv_s2
        j3 = ae * r2 * inv_s3
        res = D[q] - mu
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
    F[0, 0], F[0, 1], F[0, 2], F[0, 3], F[0, 4] = f00, f01, f02, f03, f04
    F[1, 1], F[1, 2], F[1, 3], F[1, 4] = f11, f12, f13, f14
    F[2, 2], F[2, 3], F[2, 4], F[3, 3], F[3, 4], F[4, 4] = f22, f23, f24, f33, f34, f44
    for a in range(5):
        for b in range(a):
            F[a, b] = F[b, a]
    g[0], g[1], g[2], g[3], g[4] = g0, g1, g2, g3, g4
    return rss, wrss, tot_min


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _elliptical_jacobian(p, dx, dy, J):
    """Elliptical model at offset ``(dx, dy)`` from its centre: fills ``J``
    with its derivatives by the 7 parameters and returns the model value."""
    e = math.exp(-0.5 * (p[3] * dx * dx + 2.0 * p[4] * dx * dy + p[5] * dy * dy))
    ae = p[2] * e
    J[0] = ae * (p[3] * dx + p[4] * dy)
    J[1] = ae * (p[4] * dx + p[5] * dy)
    J[2] = e
    J[3] = -0.5 * ae * dx * dx
    J[4] = -ae * dx * dy
    J[5] = -0.5 * ae * dy * dy
    J[6] = 1.0
    return p[6] + ae


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _accumulate_elliptical(D, X, Y, N, n, p, poisson, J, F, g):
    """Fisher matrix, score and residual sums for the elliptical model."""
    F[:, :] = 0.0
    g[:] = 0.0
    rss = 0.0
    wrss = 0.0
    mu_min = np.inf
    for q in range(n):
        dx = X[q] - p[0]
        dy = Y[q] - p[1]
        mu = _elliptical_jacobian(p, dx, dy, J)
        mu_min = min(mu_min, mu + N[q])
        w = 1.0 / (mu + N[q]) if poisson else 1.0
        res = D[q] - mu
        rss += res * res
        wrss += w * res * res
        for c in range(7):
            wa = w * J[c]
            g[c] += wa * res
            for d in range(c + 1):
                F[c, d] += wa * J[d]
    for c in range(7):
        for d in range(c):
            F[d, c] = F[c, d]
    return rss, wrss, mu_min


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _hold_width(F, M, npar):
    """``M`` = ``F`` with the width (parameter 3) fixed: its row and column
    zero, its diagonal one."""
    for a in range(npar):
        for b in range(npar):
            M[a, b] = 0.0 if (a == 3 or b == 3) else F[a, b]
    M[3, 3] = 1.0


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _fit_one(
    image,
    others,
    p0,
    own0,
    model,
    weighting,
    radius,
    wmax,
    max_iter,
    tol,
    scratch,
    context=False,
):
    """Fit one atom by Fisher scoring.

    ``scratch`` is the calling thread's work space (see :func:`_scratch`),
    reused from atom to atom. ``wmax`` is the largest width (pixels) the
    column may take. A ``context`` column (round model, a column centred
    beyond the edge whose flank reaches into the image) keeps its width
    ``p0[3]`` and may lie outside the image. Returns (params, variances,
    n_pixels, status, rms_residual), ``status`` one of the codes of
    :data:`FIT_STATUS`.
    """
    ny, nx = image.shape
    npar = p0.shape[0]
    own, flat, vecs, small, mats, zbuf, ibuf = scratch
    D, X, Y, E, N = flat[0], flat[1], flat[2], flat[3], flat[4]
    ex, ey = vecs[0], vecs[1]
    J, g, step, trial = small[0], small[1], small[2], small[3]
    F, L = mats[0], mats[1]
    lo, hi = ibuf[0], ibuf[1]
    p = p0.copy()
    cx = int(np.floor(p0[0] + 0.5))
    cy = int(np.floor(p0[1] + 0.5))
    poisson = weighting == _POISSON
    n_pix = _load_window(
        image, others, own0, model, cx, cy, radius, own, D, X, Y, N, lo, hi, ex, ey
    )
    status = _S_OK
    held = False  # the last step held the width at its bound
    it = 0
    rss = wrss = 0.0
    while True:
        if model == _ROUND:
            rss, wrss, mu_min = _accumulate_round(
                D, X, Y, E, N, n_pix, lo, hi, p, cx, cy, radius, poisson, ex, ey, F, g
            )
        else:
            rss, wrss, mu_min = _accumulate_elliptical(
                D, X, Y, N, n_pix, p, poisson, J, F, g
            )
        if n_pix <= npar:
            status = _S_WINDOW
            break
        if poisson and mu_min <= 0.0:
            status = _S_NONPOSITIVE
            break
        if it >= max_iter:
            break
        it += 1
        if not _cholesky(F, npar, L):
            status = _S_SINGULAR
            break
        _cholesky_solve(L, g, npar, step)
        held = model == _ROUND and (context or p[3] + step[3] > wmax)
        if held:
            # The width would leave its bound: hold it (approaching the bound
            # half way) and solve for the other parameters, so that a width
            # at its bound does not freeze the position.
            M = mats[3]
            _hold_width(F, M, npar)
            for a in range(npar):
                J[a] = 0.0 if a == 3 else g[a]
            if not _cholesky(M, npar, L):
                status = _S_SINGULAR
                break
            _cholesky_solve(L, J, npar, step)
            step[3] = 0.0 if context else 0.5 * (wmax - p[3])
        # Safeguards: bounded position step, positive width and amplitude.
        width = p[3] if model == _ROUND else 1.0 / math.sqrt(max(p[3], p[5]))
        lim = 0.5 * width
        scale = 1.0
        for a in range(2):
            if abs(step[a]) * scale > lim:
                scale = lim / abs(step[a])
        valid = False
        for _ in range(30):
            for a in range(npar):
                trial[a] = p[a] + scale * step[a]
            valid = trial[2] > 0.0
            # a column wider than its window is unconstrained by the data
            if context:
                pass  # the width is held
            elif model == _ROUND:
                valid = valid and 0.5 * p[3] < trial[3] <= min(2.0 * p[3], wmax)
            else:
                valid = (
                    valid
                    and trial[3] > 0.0
                    and trial[5] > 0.0
                    and trial[3] * trial[5] - trial[4] * trial[4] > 0.0
                    and 0.25 * p[3] < trial[3] < 4.0 * p[3]
                    and 0.25 * p[5] < trial[5] < 4.0 * p[5]
                    and min(trial[3], trial[5]) * wmax * wmax > 1.0
                )
            if valid:
                break
            scale *= 0.5
        if not valid:
            status = _S_BOUNDS
            break
        p[:] = trial
        if abs(p[0] - p0[0]) > radius or abs(p[1] - p0[1]) > radius:
            status = _S_MOVED
            break
        # converged: the position within tol and the width(s) within a
        # relative tol (the shape of an elliptical column converges more
        # slowly than its centre); the Fisher matrix of this last step gives
        # the errors
        shape_done = True
        if model == _ELLIPTICAL:
            shape_done = (
                abs(scale * step[3]) < tol * p[3]
                and abs(scale * step[5]) < tol * p[5]
                and abs(scale * step[4]) < tol * math.sqrt(p[3] * p[5])
            )
        if abs(scale * step[0]) < tol and abs(scale * step[1]) < tol and shape_done:
            break
    var = np.full(npar, np.nan)
    resid = np.nan
    if status == _S_OK:
        # The inverse Fisher information scaled by the reduced chi-square:
        # with Poisson weights the errors (the chi-square is 1 for pure shot
        # noise, else the detector gain); with least squares only a guide for
        # the passes, the reported errors come from _sandwich_pass.
        # A width held at its bound is not a free parameter: the errors of
        # the others are those with the width fixed.
        if held:
            _hold_width(F, mats[3], npar)
            if _cholesky(mats[3], npar, L):
                _inverse_diagonal(L, npar, mats[2], var)
            var[3] = np.nan
            status = _S_HELD
        elif _cholesky(F, npar, L):
            _inverse_diagonal(L, npar, mats[2], var)
        chi2 = wrss / (n_pix - npar)
        for a in range(npar):
            var[a] *= chi2
        resid = math.sqrt(rss / n_pix)
        # A fit is only a fit if the data determine it: a significant peak,
        # a position known to better than the window, inside the image.
        r2 = float(radius * radius)
        if not (var[2] < p[2] * p[2]):
            status = _S_FAINT
        elif not (var[0] < r2) or not (var[1] < r2):
            status = _S_UNDETERMINED
        elif context:
            pass  # centred outside by definition
        elif p[0] < -0.5 or p[1] < -0.5 or p[0] > nx - 0.5 or p[1] > ny - 0.5:
            status = _S_OUTSIDE
    return p, var, n_pix, status, resid


@njit(cache=True, nogil=True)
def _scratch(radius, npar):
    """Work space of one thread for :func:`_fit_one`: the atom's own rendered
    peak, the flat window (values, columns, rows, Gaussian, the neighbours'
    model), the separable Gaussian factors, Jacobian, score, step and trial
    parameters, the Fisher matrix, its Cholesky factor and inverse and the
    sandwich's middle, the rows of :func:`_sandwich_variance` (whitened
    Jacobian, residuals, leverages), and the chord bounds of the window
    rows."""
    m = 2 * radius + 1
    return (
        np.zeros((m, m)),
        np.zeros((5, m * m)),
        np.zeros((2, m)),
        np.zeros((4, npar)),
        np.zeros((4, npar, npar)),
        np.zeros((npar + 2, m * m)),
        np.zeros((2, m), dtype=np.int64),
    )


@njit(cache=True, nogil=True, parallel=True)
def _fit_pass(
    image,
    others,
    params,
    own,
    model,
    weighting,
    radius,
    wmax,
    max_iter,
    tol,
    ok_in,
    context,
):
    n, npar = params.shape
    out = params.copy()
    cov = np.full((n, npar), np.nan)
    resid = np.full(n, np.nan)
    status = np.full(n, _S_NOT_FITTED, dtype=np.int64)
    # blocks of atoms, each with its own scratch space (no allocation per atom)
    block = 64
    n_blocks = (n + block - 1) // block
    for blk in prange(n_blocks):
        scratch = _scratch(radius, npar)
        for k in range(blk * block, min((blk + 1) * block, n)):
            if not ok_in[k]:
                continue
            p, c, n_pix, st, rr = _fit_one(
                image,
                others,
                params[k],
                own[k],
                model,
                weighting,
                radius,
                wmax[k],
                max_iter,
                tol,
                scratch,
                context,
            )
            status[k] = st
            if st <= _S_HELD:
                out[k] = p
                cov[k] = c
                resid[k] = rr
    return out, cov, resid, status


@njit(cache=True, nogil=True, parallel=True)
def _sandwich_pass(image, others, params, model, radius, ok, held):
    """Least-squares variances of the atoms ``ok`` at ``params``.

    Each atom's window is loaded as in the fit (``others``: the rendered
    model of all atoms at ``params``, or empty) and its variances computed
    by :func:`_sandwich_variance`; NaN where the Fisher matrix is singular.
    """
    n, npar = params.shape
    var = np.full((n, npar), np.nan)
    block = 64
    n_blocks = (n + block - 1) // block
    for blk in prange(n_blocks):
        own, flat, vecs, small, mats, zbuf, ibuf = _scratch(radius, npar)
        D, X, Y, E, N = flat[0], flat[1], flat[2], flat[3], flat[4]
        ex, ey = vecs[0], vecs[1]
        J, g = small[0], small[1]
        F, L = mats[0], mats[1]
        lo, hi = ibuf[0], ibuf[1]
        for k in range(blk * block, min((blk + 1) * block, n)):
            if not ok[k]:
                continue
            p = params[k]
            cx = int(np.floor(p[0] + 0.5))
            cy = int(np.floor(p[1] + 0.5))
            n_pix = _load_window(
                image, others, p, model, cx, cy, radius, own, D, X, Y, N, lo, hi, ex, ey
            )
            if n_pix <= npar:
                continue
            if model == _ROUND:
                _accumulate_round(
                    D, X, Y, E, N, n_pix, lo, hi, p, cx, cy, radius, False, ex, ey, F, g
                )
            else:
                _accumulate_elliptical(D, X, Y, N, n_pix, p, False, J, F, g)
            W, M = mats[2], mats[3]
            if held[k]:
                _hold_width(F, M, npar)
                F[:, :] = M
            if _cholesky(F, npar, L):
                _sandwich_variance(
                    D, X, Y, E, n_pix, p, model, L, npar, W, M, zbuf, var[k], held[k]
                )
                if held[k]:
                    var[k, 3] = np.nan
    return var


# Most neighbours that enter an atom's local joint covariance.
_JOINT_MAX_NEIGHBOURS = 8
# A neighbour enters when its peak reaches this fraction of the atom's
# amplitude somewhere in the atom's window.
_JOINT_OVERLAP = 0.05


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _peak_jacobian(p, model, dx, dy, J):
    """Derivatives of the peak (no background) by the parameters into ``J``
    (the background's entry zero)."""
    if model == _ROUND:
        inv_s2 = 1.0 / (p[3] * p[3])
        e = math.exp(-0.5 * (dx * dx + dy * dy) * inv_s2)
        ae = p[2] * e
        J[0] = ae * dx * inv_s2
        J[1] = ae * dy * inv_s2
        J[2] = e
        J[3] = ae * (dx * dx + dy * dy) * inv_s2 / p[3]
        J[4] = 0.0
    else:
        _elliptical_jacobian(p, dx, dy, J)
        J[6] = 0.0


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _lu_inverse(A, n, inv, work):
    """Inverse of the ``n x n`` matrix ``A`` into ``inv`` by Gauss-Jordan
    elimination with partial pivoting (``work``: an ``n x n`` copy); False
    if singular."""
    for i in range(n):
        for j in range(n):
            work[i, j] = A[i, j]
            inv[i, j] = 1.0 if i == j else 0.0
    for c in range(n):
        piv = c
        best = abs(work[c, c])
        for i in range(c + 1, n):
            if abs(work[i, c]) > best:
                best = abs(work[i, c])
                piv = i
        if not best > 0.0:
            return False
        if piv != c:
            for j in range(n):
                work[c, j], work[piv, j] = work[piv, j], work[c, j]
                inv[c, j], inv[piv, j] = inv[piv, j], inv[c, j]
        d = 1.0 / work[c, c]
        for j in range(n):
            work[c, j] *= d
            inv[c, j] *= d
        for i in range(n):
            if i == c:
                continue
            f = work[i, c]
            if f == 0.0:
                continue
            for j in range(n):
                work[i, j] -= f * work[c, j]
                inv[i, j] -= f * inv[c, j]
    return True


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _in_window(i, j, cx, cy, radius, nx, ny):
    """Whether pixel (column ``i``, row ``j``) is in the window of
    :func:`_load_window` centred on pixel (``cx``, ``cy``)."""
    if i < 0 or j < 0 or i >= nx or j >= ny:
        return False
    d = j - cy
    if d < -radius or d > radius:
        return False
    half = int(math.sqrt(radius * radius - d * d))
    return -half <= i - cx <= half


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _group_jacobian(params, nb_idx, g0, m, model, held, i, j, Jb, near):
    """Peak derivatives of the group's atoms at pixel (``i``, ``j``) into the
    rows of ``Jb`` (a held width's zero); ``near[b]`` False where atom ``b``'s
    peak is negligible there (beyond 6 widths)."""
    for b in range(m):
        pb = params[nb_idx[g0 + b]]
        dx = i - pb[0]
        dy = j - pb[1]
        if model == _ROUND:
            far = dx * dx + dy * dy > 36.0 * pb[3] * pb[3]
        else:
            far = pb[3] * dx * dx + 2.0 * pb[4] * dx * dy + pb[5] * dy * dy > 36.0
        near[b] = not far
        if far:
            Jb[b, :] = 0.0
            continue
        _peak_jacobian(pb, model, dx, dy, Jb[b])
        if held[nb_idx[g0 + b]]:
            Jb[b, 3] = 0.0


@njit(cache=True, nogil=True, parallel=True)
def _joint_position_variance(
    image, others, params, model, weighting, radius, held, nb_ptr, nb_idx
):
    """Position variances of atoms with overlapping neighbours, their
    neighbours' parameters free.

    The joint passes solve, for every atom ``a``, the estimating equations
    ``sum over its window of w_q G_a(q) r_a(q) = 0`` (``G_a``: the derivatives
    of ``a``'s model, ``r_a``: data minus ``a``'s background minus all peaks,
    ``w_q``: 1 or the Poisson weight). For atom ``k`` (``nb_idx[nb_ptr[k]]``)
    and its overlapping neighbours (the rest of ``nb_idx[nb_ptr[k]:nb_ptr[k +
    1]]``) these equations are stacked: ``A`` is minus their derivative by
    all the parameters of the group (the neighbours' peaks enter every
    window they reach), ``u_q = sum_a w_q G_a(q)`` the sensitivity to pixel
    ``q``'s noise, and the covariance is ``A^-1 B A^-T`` with ``B = sum_q u_q
    u_q^T v_q``: ``v_q`` the squared residual over ``1 - h_q`` (least squares,
    HC2 with the leverage ``h_q = H_q^T A^-1 u_q``) or the model times the
    group's reduced chi-square (Poisson). Only the rows of ``k``'s position
    are needed: ``var = sum_q (A^-1 u_q)_x^2 v_q``. ``others`` is the
    rendered sum of all peaks at ``params``. NaN where ``A`` is singular or
    an atom has no group.
    """
    ny, nx = image.shape
    n, npar = params.shape
    bgi = npar - 1
    var = np.full((n, 2), np.nan)
    maxg = 1
    for k in range(n):
        maxg = max(maxg, nb_ptr[k + 1] - nb_ptr[k])
    P_max = maxg * npar
    block = 16
    n_blocks = (n + block - 1) // block
    for blk in prange(n_blocks):
        A = np.zeros((P_max, P_max))
        Ainv = np.zeros((P_max, P_max))
        work = np.zeros((P_max, P_max))
        Jb = np.zeros((maxg, npar))
        u = np.zeros(P_max)
        t = np.zeros(P_max)
        cxs = np.zeros(maxg, dtype=np.int64)
        cys = np.zeros(maxg, dtype=np.int64)
        inw = np.zeros(maxg, dtype=np.int64)
        near = np.zeros(maxg, dtype=np.bool_)
        for k in range(blk * block, min((blk + 1) * block, n)):
            g0 = nb_ptr[k]
            m = nb_ptr[k + 1] - g0
            if m < 2:
                continue
            P = m * npar
            i_lo, i_hi, j_lo, j_hi = nx, -1, ny, -1
            for a in range(m):
                pa = params[nb_idx[g0 + a]]
                cxs[a] = int(np.floor(pa[0] + 0.5))
                cys[a] = int(np.floor(pa[1] + 0.5))
                i_lo = min(i_lo, max(cxs[a] - radius, 0))
                i_hi = max(i_hi, min(cxs[a] + radius, nx - 1))
                j_lo = min(j_lo, max(cys[a] - radius, 0))
                j_hi = max(j_hi, min(cys[a] + radius, ny - 1))
            # pass 1: A, and the weighted residual sum for the chi-square;
            # every (window, pixel) pair once
            A[:P, :P] = 0.0
            wrss = 0.0
            n_obs = 0
            for a in range(m):
                bg_a = params[nb_idx[g0 + a], bgi]
                for dj in range(-radius, radius + 1):
                    j = cys[a] + dj
                    if not 0 <= j < ny:
                        continue
                    half = int(math.sqrt(radius * radius - dj * dj))
                    for i in range(max(cxs[a] - half, 0), min(cxs[a] + half + 1, nx)):
                        _group_jacobian(
                            params, nb_idx, g0, m, model, held, i, j, Jb, near
                        )
                        mu = bg_a + others[j, i]
                        w = 1.0 / mu if weighting == _POISSON else 1.0
                        r = image[j, i] - mu
                        wrss += w * r * r
                        n_obs += 1
                        for c in range(npar):
                            ga = w * (1.0 if c == bgi else Jb[a, c])
                            row = A[a * npar + c]
                            for b in range(m):
                                if not near[b]:
                                    continue
                                for d in range(npar):
                                    row[b * npar + d] += ga * Jb[b, d]
                            row[a * npar + bgi] += ga
            for a in range(m):
                if held[nb_idx[g0 + a]]:
                    A[a * npar + 3, :P] = 0.0
                    A[:P, a * npar + 3] = 0.0
                    A[a * npar + 3, a * npar + 3] = 1.0
            if n_obs <= P or not _lu_inverse(A, P, Ainv, work):
                continue
            chi2 = wrss / (n_obs - P)
            # pass 2: the middle of the sandwich along k's position rows;
            # each pixel once, at the first window that holds it, with the
            # sum over the windows that hold it (u is zero outside their
            # parameter blocks)
            sx = 0.0
            sy = 0.0
            for a in range(m):
                for dj in range(-radius, radius + 1):
                    j = cys[a] + dj
                    if not 0 <= j < ny:
                        continue
                    half = int(math.sqrt(radius * radius - dj * dj))
                    for i in range(max(cxs[a] - half, 0), min(cxs[a] + half + 1, nx)):
                        seen = False
                        for b in range(a):
                            if _in_window(i, j, cxs[b], cys[b], radius, nx, ny):
                                seen = True
                                break
                        if seen:
                            continue
                        if weighting != _POISSON:  # the leverage needs all
                            _group_jacobian(
                                params, nb_idx, g0, m, model, held, i, j, Jb, near
                            )
                        n_in = 0
                        for b in range(a, m):
                            if b == a or _in_window(
                                i, j, cxs[b], cys[b], radius, nx, ny
                            ):
                                if weighting == _POISSON:  # u needs these only
                                    pb = params[nb_idx[g0 + b]]
                                    _peak_jacobian(
                                        pb, model, i - pb[0], j - pb[1], Jb[b]
                                    )
                                    if held[nb_idx[g0 + b]]:
                                        Jb[b, 3] = 0.0
                                mu = params[nb_idx[g0 + b], bgi] + others[j, i]
                                w = 1.0 / mu if weighting == _POISSON else 1.0
                                for c in range(npar):
                                    u[n_in * npar + c] = w * (
                                        1.0 if c == bgi else Jb[b, c]
                                    )
                                inw[n_in] = b
                                n_in += 1
                        # t = A^-1 u over the rows needed: k's position
                        # (rows 0, 1), or all of them for the leverage
                        n_rows = 2 if weighting == _POISSON else P
                        for c in range(n_rows):
                            s = 0.0
                            for e in range(n_in):
                                col = inw[e] * npar
                                for d in range(npar):
                                    s += Ainv[c, col + d] * u[e * npar + d]
                            t[c] = s
                        mu = params[nb_idx[g0 + a], bgi] + others[j, i]
                        if weighting == _POISSON:
                            v = mu * chi2
                        else:
                            h = t[a * npar + bgi]
                            for b in range(m):
                                if not near[b]:
                                    continue
                                for d in range(npar):
                                    h += Jb[b, d] * t[b * npar + d]
                            r = image[j, i] - mu
                            v = r * r / max(1.0 - h, 1e-3)
                        sx += t[0] * t[0] * v
                        sy += t[1] * t[1] * v
            var[k, 0] = sx
            var[k, 1] = sy
    return var


def _context_sites(px, py, sx, sy, shape, radius):
    """Lattice sites just beyond the edges, where columns outside the image
    may reach into it.

    The fitted atoms ``(px, py)`` continue their own lattice: for an atom
    within 1.5 nearest-neighbour distances of the edge and each neighbour
    within that distance, the site on the far side of the atom (its mirror
    image ``2 a - b``). Sites kept: centred beyond the outermost pixel
    centres, at most ``radius`` beyond them (the flank of a column farther
    out hardly enters an atom's window, and its own window holds no
    pixels), and farther than half a neighbour distance from every seed
    ``(sx, sy)`` and every site kept before. Returns (x, y).
    """
    ny, nx = shape
    empty = (np.empty(0), np.empty(0))
    if len(px) < 2:
        return empty
    pts = np.column_stack([px, py])
    tree = cKDTree(pts)
    d_nn = float(np.median(kd_query(tree, pts, k=2)[0][:, 1]))
    if not np.isfinite(d_nn) or d_nn <= 0:
        return empty
    reach = 1.5 * d_nn
    margin = np.minimum.reduce([px, py, nx - 1 - px, ny - 1 - py])
    parents = np.flatnonzero(margin < reach)
    if len(parents) == 0:
        return empty
    cand = []
    for a, nbrs in zip(parents, tree.query_ball_point(pts[parents], reach)):
        nbrs = [b for b in nbrs if b != a]
        if nbrs:
            cand.append(2.0 * pts[a] - pts[nbrs])
    if not cand:
        return empty
    g = np.concatenate(cand)
    beyond = np.hypot(
        np.maximum(np.maximum(-g[:, 0], g[:, 0] - (nx - 1)), 0.0),
        np.maximum(np.maximum(-g[:, 1], g[:, 1] - (ny - 1)), 0.0),
    )
    g = g[(beyond > 0) & (beyond <= radius)]
    if len(g) == 0:
        return empty
    seeds = cKDTree(np.column_stack([sx, sy]))
    g = g[kd_query(seeds, g)[0] > 0.5 * d_nn]
    if len(g) == 0:
        return empty
    g = g[np.lexsort((g[:, 0], g[:, 1]))]  # order-independent choice
    keep = np.ones(len(g), dtype=bool)
    for i, near in enumerate(cKDTree(g).query_ball_point(g, 0.5 * d_nn)):
        if keep[i]:
            keep[[j for j in near if j > i]] = False
    return g[keep, 0].copy(), g[keep, 1].copy()


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


def _overlap_groups(params, mdl, radius, ok):
    """Each atom's overlapping neighbours, for :func:`_joint_position_variance`.

    A neighbour overlaps when its peak reaches ``_JOINT_OVERLAP`` times the
    atom's amplitude somewhere in the atom's window (at most
    ``_JOINT_MAX_NEIGHBOURS``, the strongest). Returns CSR arrays: atom
    ``k``'s group is ``idx[ptr[k]:ptr[k + 1]]``, ``k`` first; an atom without
    overlapping neighbours has only itself.
    """
    n = params.shape[0]
    if mdl == _ROUND:
        s = params[:, 3]
    else:
        s = np.minimum(params[:, 3], params[:, 5]) ** -0.5
    s = np.where(ok, np.nan_to_num(s, nan=0.0), 0.0)
    amp = np.where(ok, params[:, 2], 0.0)
    reach = radius + np.sqrt(2.0 * np.log(1.0 / _JOINT_OVERLAP)) * s.max()
    pos = np.nan_to_num(params[:, :2])
    pairs = cKDTree(pos).query_pairs(float(reach), output_type="ndarray")
    ptr = np.zeros(n + 1, dtype=np.int64)
    if len(pairs) == 0:
        ptr[1:] = np.cumsum(np.ones(n, dtype=np.int64))
        return ptr, np.arange(n, dtype=np.int64)
    k = np.concatenate([pairs[:, 0], pairs[:, 1]])
    j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    d = np.hypot(*(pos[k] - pos[j]).T)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.maximum(d - radius, 0.0) / s[j]
        level = amp[j] * np.exp(-0.5 * gap**2) / amp[k]
    keep = ok[k] & ok[j] & (level > _JOINT_OVERLAP)
    k, j, level = k[keep], j[keep], level[keep]
    order = np.lexsort((-level, k))
    k, j = k[order], j[order]
    start = np.searchsorted(k, np.arange(n))
    rank = np.arange(len(k)) - start[k]
    sel = rank < _JOINT_MAX_NEIGHBOURS
    k, j = k[sel], j[sel]
    counts = np.bincount(k, minlength=n) + 1
    ptr[1:] = np.cumsum(counts)
    idx = np.empty(ptr[-1], dtype=np.int64)
    idx[ptr[:-1]] = np.arange(n)
    slot = ptr[k] + 1 + (np.arange(len(k)) - np.searchsorted(k, k))
    idx[slot] = j
    return ptr, idx


@njit(cache=True, nogil=True, parallel=True)
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


@njit(cache=True, nogil=True, parallel=True)
def _seed_params(image, x, y, radius):
    """Starting background and amplitude of the fit, robust to neighbours.

    The background is a low quantile (20 %) of the window's outer ring,
    which neighbours' tails raise only in part; the amplitude is the centre
    pixel above it, but at least half the brightest pixel within a third of
    the radius (a seed a pixel or two off a sharp peak, or a dim column
    between bright ones, would otherwise start at an amplitude near zero,
    where the position is undetermined and the first steps wander).
    """
    ny, nx = image.shape
    n = x.shape[0]
    bg = np.empty(n)
    amp = np.empty(n)
    inner = max(radius / 3.0, 1.0)
    for k in prange(n):
        cx = int(np.floor(x[k] + 0.5))
        cy = int(np.floor(y[k] + 0.5))
        ring = np.empty((2 * radius + 1) * (2 * radius + 1))
        m = 0
        lo = np.inf
        top = -np.inf
        for j in range(max(cy - radius, 0), min(cy + radius + 1, ny)):
            for i in range(max(cx - radius, 0), min(cx + radius + 1, nx)):
                r2 = (i - cx) ** 2 + (j - cy) ** 2
                if r2 > radius * radius:
                    continue
                v = image[j, i]
                lo = min(lo, v)
                if r2 <= inner * inner:
                    top = max(top, v)
                if r2 >= (radius - 1) ** 2:
                    ring[m] = v
                    m += 1
        if m > 0:
            b = np.sort(ring[:m])[int(0.2 * (m - 1))]
        else:
            b = lo
        peak = image[min(max(cy, 0), ny - 1), min(max(cx, 0), nx - 1)]
        bg[k] = b
        a = max(peak - b, 0.5 * (top - b))
        amp[k] = max(a, 1e-12 * max(abs(peak), 1.0))
    return bg, amp


@njit(cache=True, nogil=True, parallel=True)
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
    x = np.ascontiguousarray(check_array(x, "x")).ravel()
    y = np.ascontiguousarray(check_array(y, "y")).ravel()
    if x.shape != y.shape:
        raise ValueError("`x` and `y` must have the same length.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("`x` and `y` must be finite (NaN positions given).")
    radius = check_number(radius, "radius", "a number of pixels")
    if not np.isfinite(radius) or radius < 1:
        raise ValueError(f"`radius` must be at least 1 pixel, got {radius}.")
    if radius > max(image.shape):
        raise ValueError(
            f"`radius` ({radius:g} px) is larger than the image "
            f"({image.shape[1]} x {image.shape[0]} px)."
        )
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
    n_iter = check_integer(n_iter, "n_iter", minimum=1)
    if len(x) == 0:
        return x.copy(), y.copy()
    return _centre_of_mass(image, x, y, radius, n_iter)


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
    return _median_sigma(image, x, y, bg, amp, radius)


#: Atoms used at most by :func:`_median_sigma` (a median of this many is
#: stable to well under 1 %; more only costs time).
_SIGMA_SAMPLE = 2000


def _median_sigma(image, x, y, bg, amp, radius):
    """Median half-maximum width over (an evenly spread sample of) the atoms."""
    if len(x) > _SIGMA_SAMPLE:
        take = np.linspace(0, len(x) - 1, _SIGMA_SAMPLE).astype(np.int64)
        x, y, bg, amp = x[take], y[take], bg[take], amp[take]
    # Half-maximum area of each peak: robust to tails of neighbours.
    sig = _half_max_sigma(image, x, y, bg, amp, radius)
    sig = sig[np.isfinite(sig)]
    if len(sig) == 0:
        return max(radius / 3.0, 0.5)
    return float(np.clip(np.median(sig), 0.5, radius))


@njit(cache=True, nogil=True, parallel=True)
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


#: ``level="auto"``: least-squares fits are levelled where the image's plane
#: would pull a column by more than this (pixels, ``slope * sigma**2 / A``).
_LEVEL_PULL = 0.05

#: ``widen``: the window wanted, in fitted widths, and its largest growth.
_WIDEN, _MAX_WIDEN = 2.5, 1.5

#: Largest centre crop (pixels a side) whose noise decides ``weights="auto"``.
_NOISE_CROP = 256


def auto_weights(image):
    """The weights ``"auto"`` picks for an image: ``"poisson"`` or ``"uniform"``.

    Poisson weights (each pixel's variance its expected value) are right for
    counts; least squares for anything else. Counts are never negative, and
    they are whole numbers or their noise grows with the level:
    ``"poisson"`` when the image has no negative pixel and its centre (at
    most 256 x 256 pixels) holds only whole numbers or has noise that grows
    with the level as counts' does
    (:func:`hyperspy_localcryst.numerics.noise.noise_follows_counts`),
    else ``"uniform"``. A topograph stored as positive heights (an STM image
    in metres) has noise that does not follow its height: least squares.

    Parameters
    ----------
    image : numpy.ndarray
        2D image.

    Returns
    -------
    str
        ``"poisson"`` or ``"uniform"``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> auto_weights(rng.poisson(40.0, (64, 64)).astype(float))
    'poisson'
    >>> auto_weights(rng.normal(0.0, 1.0, (64, 64)))
    'uniform'
    >>> heights = np.linspace(0.5, 5.0, 64) + rng.normal(0.0, 0.1, (64, 64))
    >>> auto_weights(1e-9 * heights)  # positive, noise independent of height
    'uniform'
    """
    image = np.asarray(image, dtype=float)
    if image.min() < 0:
        return "uniform"
    ny, nx = image.shape
    j0, i0 = max(0, (ny - _NOISE_CROP) // 2), max(0, (nx - _NOISE_CROP) // 2)
    crop = image[j0 : j0 + _NOISE_CROP, i0 : i0 + _NOISE_CROP]
    if min(crop.shape) < 3 or np.all(crop == np.round(crop)):
        return "poisson"  # too small to tell, or whole numbers: counts
    # brought to order 1 first (no overflow at 1e200, no underflow at 1e-200)
    crop = np.ldexp(crop, -gain_exponent(crop))
    return "poisson" if noise_follows_counts(crop) else "uniform"


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


def _lsq_plane(image):
    """Least-squares plane ``(c, gx, gy)`` of an image: ``c + gx x + gy y``.

    On a full grid the centred coordinates are orthogonal to the constant
    and to each other, so each coefficient is one projection.
    """
    ny, nx = image.shape
    xc = np.arange(nx) - 0.5 * (nx - 1)
    yc = np.arange(ny) - 0.5 * (ny - 1)
    gx = float(image.mean(axis=0) @ xc / (xc @ xc)) if nx > 1 else 0.0
    gy = float(image.mean(axis=1) @ yc / (yc @ yc)) if ny > 1 else 0.0
    c = float(image.mean()) - gx * 0.5 * (nx - 1) - gy * 0.5 * (ny - 1)
    return np.array([c, gx, gy])


def _plane_at(plane, x, y):
    """The plane ``(c, gx, gy)`` at pixel positions ``x``, ``y``."""
    return plane[0] + plane[1] * np.asarray(x, float) + plane[2] * np.asarray(y, float)


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
