"""The compiled kernels of the Gaussian refinement (numba, parallel over
atoms): the peak model and its rendering, the Fisher-scoring fit of one
window, the passes over every atom and the sandwich errors. Called by
:mod:`.refinement`; no per-atom Python objects.

Positions are in pixels, x = column, y = row, pixel centres at integers.
"""

import math

import numpy as np
from numba import njit, prange
from scipy.spatial import cKDTree

from ._parallel import kd_query, nearest_distances

# Fit status codes (column ``fit_status``; see FIT_STATUS).
# the peak models and weightings, as the kernels take them
_ROUND, _ELLIPTICAL = 0, 1
_POISSON, _UNIFORM = 0, 1
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


def _render_radii(params, mdl, radius):
    if mdl == _ROUND:
        s = params[:, 3]
    else:
        s = 1.0 / np.sqrt(np.minimum(params[:, 3], params[:, 5]))
    s = np.nan_to_num(s, nan=radius)
    return np.maximum(np.ceil(4.0 * s), radius + 1).astype(np.int64)


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
    d_nn = float(np.median(nearest_distances(pts, tree)))
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
