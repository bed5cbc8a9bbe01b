"""The position errors of columns that overlap, from the joint model of each
column with its neighbours (compiled, parallel over atoms).

Positions are in pixels, x = column, y = row, pixel centres at integers.
"""

import math

import numpy as np
from numba import njit, prange
from scipy.spatial import cKDTree

from ._fit_kernels import (
    _POISSON,
    _ROUND,
    _elliptical_jacobian,
)

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
