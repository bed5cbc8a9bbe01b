"""Compiled and threaded image kernels for the finders: window variance,
correlation normalisation, histogram, blob statistics, ring maxima, local
maxima, filters in strips.

Each replaces a general library call that was the bottleneck of
:mod:`.finding` on large images (profiled at 2048² px): scikit-image's
cumulative-sum window sums, ``scipy.ndimage`` label statistics (which sort
every pixel), ``numpy.maximum.at`` and ``peak_local_max``'s spacing search.

Arrays are indexed (row, column); positions are pixel indices.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit, prange
from scipy import ndimage as ndi

from ._parallel import max_threads

_POOL = None


def gain_exponent(a):
    """Exponent of the power of two just above the largest magnitude of ``a``.

    Dividing by ``2**gain_exponent(a)`` (``np.ldexp(a, -e)``) brings ``a`` to
    order 1 exactly (only the exponents change): single-precision FFTs and
    squared model values then neither overflow (raw counts near 2**32) nor
    underflow (tiny units), and results do not depend on the detector gain.
    0 for an empty, all-zero or non-finite array.

    Examples
    --------
    >>> gain_exponent(np.array([3.0, -5.0])), gain_exponent(np.zeros(2))
    (3, 0)
    """
    # the largest magnitude without a temporary |a| (a 4096² frame: 50 ms)
    m = max(float(np.max(a)), -float(np.min(a))) if np.size(a) else 0.0
    return int(np.frexp(m)[1]) if m > 0 and np.isfinite(m) else 0


#: Most rows of one strip of :func:`in_strips` beyond the one-per-core split:
#: a large image is cut into more strips than cores, so the filters'
#: temporaries never hold more than a few strips at once.
STRIP_ROWS = 1024


def in_strips(filt, image, halo, min_rows=256):
    """Apply a local filter to horizontal strips of ``image`` in threads.

    ``filt`` maps an array to an array of the same shape and must only look
    ``halo`` rows or fewer away from each pixel (e.g. a Gaussian truncated
    at 4 sigma: ``halo = 4 sigma + 1``). Each strip is filtered with
    ``halo`` extra rows on each side that are then dropped, so the result
    equals ``filt(image)`` exactly; scipy.ndimage releases the GIL, so the
    strips run in parallel on all cores. Strips are at least ``min_rows``
    and, on a large image, at most about :data:`STRIP_ROWS` rows; each is
    written straight into the result, so the memory beyond the result is a
    few strips, not a second image.
    """
    n_threads = max_threads()
    ny = image.shape[0]
    n = min(n_threads, ny // max(min_rows, 1))
    if n < 2:
        return filt(image)
    n = max(n, -(-ny // STRIP_ROWS))
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(os.cpu_count())
    halo = int(np.ceil(halo))
    edges = np.linspace(0, ny, n + 1).astype(int)
    out = []  # the result, made by the first strip done (its dtype)
    lock = threading.Lock()

    def run(k):
        a, b = edges[k], edges[k + 1]
        lo, hi = max(a - halo, 0), min(b + halo, ny)
        part = filt(image[lo:hi])[a - lo : b - lo]
        with lock:
            if not out:
                out.append(np.empty((ny,) + part.shape[1:], dtype=part.dtype))
        out[0][a:b] = part

    def worker(t):  # max_threads() strips at a time
        for k in range(t, n, n_threads):
            run(k)

    list(_POOL.map(worker, range(n_threads)))
    return out[0]


@njit(cache=True, nogil=True, parallel=True)
def window_variance(a, th, tw):
    """Sum of squared deviations from the mean over every ``th`` x ``tw`` window.

    Output ``[r, c]`` is ``sum((w - w.mean())**2)`` for the window
    ``w = a[r:r + th, c:c + tw]`` (the "valid" windows), by running sums in
    double precision: exact horizontal sums per row, vertical running sums
    restarted every 64 rows so that rounding cannot accumulate across the
    image. Windows whose variance is at the rounding level of their sum of
    squares (no contrast) get exactly 0.
    """
    ny, nx = a.shape
    oy, ox = ny - th + 1, nx - tw + 1
    out = np.empty((oy, ox))
    block = 64
    n_blocks = (oy + block - 1) // block
    inv_n = 1.0 / (th * tw)
    for blk in prange(n_blocks):
        r0 = blk * block
        r1 = min(r0 + block, oy)
        rows = r1 - r0 + th - 1
        # horizontal window sums of the rows this block needs
        h1 = np.empty((rows, ox))
        h2 = np.empty((rows, ox))
        for q in range(rows):
            r = r0 + q
            s1 = 0.0
            s2 = 0.0
            for c in range(tw):
                v = a[r, c]
                s1 += v
                s2 += v * v
            h1[q, 0] = s1
            h2[q, 0] = s2
            for c in range(1, ox):
                v_in = a[r, c + tw - 1]
                v_out = a[r, c - 1]
                s1 += v_in - v_out
                s2 += v_in * v_in - v_out * v_out
                h1[q, c] = s1
                h2[q, c] = s2
        s1 = np.zeros(ox)
        s2 = np.zeros(ox)
        for q in range(th):
            for c in range(ox):
                s1[c] += h1[q, c]
                s2[c] += h2[q, c]
        for r in range(r0, r1):
            q = r - r0
            if q > 0:
                for c in range(ox):
                    s1[c] += h1[q + th - 1, c] - h1[q - 1, c]
                    s2[c] += h2[q + th - 1, c] - h2[q - 1, c]
            for c in range(ox):
                var = s2[c] - s1[c] * s1[c] * inv_n
                out[r, c] = var if var > 1e-12 * s2[c] else 0.0
    return out


@njit(cache=True, nogil=True, parallel=True)
def normalise_correlation(num, var, t_ssd):
    """``num / sqrt(var * t_ssd)`` clipped to [-1, 1]; 0 where ``var`` is 0."""
    ny, nx = num.shape
    out = np.zeros((ny, nx))
    for r in prange(ny):
        for c in range(nx):
            v = var[r, c]
            if v > 0.0:
                q = num[r, c] / np.sqrt(v * t_ssd)
                out[r, c] = min(max(q, -1.0), 1.0)
    return out


@njit(cache=True, nogil=True, parallel=True)
def histogram(values, lo, hi, nbins):
    """Counts of ``values`` in ``nbins`` equal bins over [lo, hi] (the last bin
    closed), as ``numpy.histogram(values, nbins, (lo, hi))``, in parallel."""
    n = values.shape[0]
    n_chunks = 16
    counts = np.zeros((n_chunks, nbins), dtype=np.int64)
    scale = nbins / (hi - lo) if hi > lo else 0.0
    for ch in prange(n_chunks):
        for k in range(ch * n // n_chunks, (ch + 1) * n // n_chunks):
            v = values[k]
            if v < lo or v > hi:
                continue
            b = int((v - lo) * scale)
            counts[ch, min(b, nbins - 1)] += 1
    return counts.sum(axis=0)


@njit(cache=True, nogil=True)
def label_stats(labels, weights, values, n):
    """Per-label pixel count, weight sums and maximum value.

    Returns ``area``, ``sw``, ``swx``, ``swy`` (sums of the weights and of
    the weights times column and row) and ``vmax`` (maximum of ``values``),
    each of length ``n + 1`` (label 0 is the background).
    """
    ny, nx = labels.shape
    area = np.zeros(n + 1)
    sw = np.zeros(n + 1)
    swx = np.zeros(n + 1)
    swy = np.zeros(n + 1)
    vmax = np.full(n + 1, -np.inf)
    for r in range(ny):
        for c in range(nx):
            k = labels[r, c]
            if k == 0:
                continue
            w = weights[r, c]
            area[k] += 1.0
            sw[k] += w
            swx[k] += w * c
            swy[k] += w * r
            if values[r, c] > vmax[k]:
                vmax[k] = values[r, c]
    return area, sw, swx, swy, vmax


@njit(cache=True, nogil=True)
def ring_max(a, r_max):
    """Maximum of ``a`` over each ring of integer radius about its centre.

    ``a`` has shape ``(2 r_max + 1, 2 r_max + 1)``; pixel ``(i, j)`` is on
    ring ``round(hypot(i - r_max, j - r_max))``. Returns ``r_max + 1`` values.
    """
    prof = np.full(r_max + 1, -np.inf)
    for i in range(2 * r_max + 1):
        for j in range(2 * r_max + 1):
            k = int(np.round(np.hypot(i - r_max, j - r_max)))
            if k <= r_max and a[i, j] > prof[k]:
                prof[k] = a[i, j]
    return prof


@njit(cache=True, nogil=True)
def _suppress_greedy(rows, cols, md, ny, nx):
    """In rank order, keep a maximum unless a kept one lies at Chebyshev
    distance < ``md``."""
    taken = np.zeros((ny, nx), np.bool_)
    keep = np.zeros(len(rows), np.bool_)
    for k in range(len(rows)):
        r, c = rows[k], cols[k]
        free = True
        for i in range(max(r - md + 1, 0), min(r + md, ny)):
            for j in range(max(c - md + 1, 0), min(c + md, nx)):
                if taken[i, j]:
                    free = False
                    break
            if not free:
                break
        if free:
            keep[k] = True
            taken[r, c] = True
    return keep


def local_maxima(image, min_distance, threshold=None):
    """Local maxima at least ``min_distance`` px apart (Chebyshev distance).

    The same maxima as ``skimage.feature.peak_local_max(image, min_distance,
    threshold_abs=threshold, exclude_border=False)``: a pixel that equals the
    maximum of its ``2 min_distance + 1`` square neighbourhood and exceeds
    the threshold (default: the image minimum); of maxima closer than
    ``min_distance`` (plateaus) the brightest, then the first in raster
    order, is kept.
    Without ``peak_local_max``'s spacing search over all maxima, which
    dominated its run time.

    Returns
    -------
    rows, cols : numpy.ndarray
        Indices of the maxima, brightest first.
    """
    md = max(1, int(min_distance))
    thr = image.min() if threshold is None else threshold
    size = 2 * md + 1
    # the test per strip: a boolean mask, not a second image of maxima
    peak = in_strips(
        lambda a: a == ndi.maximum_filter(a, size=size, mode="nearest"), image, md
    )
    peak &= image > thr
    rows, cols = np.nonzero(peak)
    order = np.argsort(-image[rows, cols], kind="stable")
    rows, cols = rows[order], cols[order]
    # maxima closer than md (Chebyshev; plateaus, e.g. the flat zero-count
    # vacuum of a low-dose frame: 10 million such pairs made the former pair
    # list take seconds): keep them greedily in rank order
    keep = _suppress_greedy(rows, cols, md, image.shape[0], image.shape[1])
    rows, cols = rows[keep], cols[keep]
    return rows, cols


def window_min_at(image, rows, cols, size):
    """``scipy.ndimage.minimum_filter(image, size=size)`` at the pixels
    ``(rows, cols)`` only: the minimum of the ``size`` x ``size`` square
    (``size`` odd) around each, clipped to the image — which is what the
    filter's default ``"reflect"`` (and ``"nearest"``) edges give, since
    the mirrored pixels lie in the clipped square.

    Examples
    --------
    >>> img = np.arange(20.0).reshape(4, 5)
    >>> window_min_at(img, np.array([0, 3]), np.array([0, 4]), 3).tolist()
    [0.0, 13.0]
    """
    return _window_min_at(
        np.ascontiguousarray(image, dtype=np.float64),
        np.ascontiguousarray(rows, dtype=np.int64),
        np.ascontiguousarray(cols, dtype=np.int64),
        int(size) // 2,
    )


@njit(cache=True, nogil=True, parallel=True)
def _window_min_at(img, rows, cols, half):
    ny, nx = img.shape
    out = np.empty(rows.shape[0])
    for i in prange(rows.shape[0]):
        m = np.inf
        for r in range(max(rows[i] - half, 0), min(rows[i] + half + 1, ny)):
            for c in range(max(cols[i] - half, 0), min(cols[i] + half + 1, nx)):
                if img[r, c] < m:
                    m = img[r, c]
        out[i] = m
    return out


def gaussian_at(image, rows, cols, sigma, truncate=4.0):
    """``scipy.ndimage.gaussian_filter(image, sigma, truncate=truncate)`` at
    the pixels ``(rows, cols)`` only (``mode="reflect"``, the same kernel):
    the smoothed value at a few thousand atoms without smoothing the whole
    image. Equal to the whole-image filter there to rounding (1e-15).

    Examples
    --------
    >>> from scipy import ndimage as ndi
    >>> img = np.arange(30.0).reshape(5, 6) ** 2
    >>> r, c = np.array([0, 4]), np.array([5, 2])
    >>> bool(np.allclose(gaussian_at(img, r, c, 1.5),
    ...                  ndi.gaussian_filter(img, 1.5)[r, c], rtol=1e-14))
    True
    """
    img = np.ascontiguousarray(image, dtype=np.float64)
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1)
    w = np.exp(-0.5 / float(sigma) ** 2 * x**2)
    w /= w.sum()
    return _gaussian_at(
        img,
        np.ascontiguousarray(rows, dtype=np.int64),
        np.ascontiguousarray(cols, dtype=np.int64),
        w,
    )


@njit(cache=True, nogil=True)
def _reflect(i, n):
    """Index ``i`` folded into ``[0, n)`` as scipy.ndimage's ``"reflect"``
    (d c b a | a b c d | d c b a)."""
    i = i % (2 * n)
    return 2 * n - 1 - i if i >= n else i


@njit(cache=True, nogil=True, parallel=True)
def _gaussian_at(img, rows, cols, w):
    ny, nx = img.shape
    r = (w.shape[0] - 1) // 2
    out = np.empty(rows.shape[0])
    for i in prange(rows.shape[0]):
        acc = 0.0
        for dx in range(-r, r + 1):  # scipy's order: along y, then along x
            x = _reflect(cols[i] + dx, nx)
            col = 0.0
            for dy in range(-r, r + 1):
                col += w[dy + r] * img[_reflect(rows[i] + dy, ny), x]
            acc += w[dx + r] * col
        out[i] = acc
    return out


def _unit_scale(a):
    """``a`` divided by the power of two nearest above its largest magnitude
    (:func:`._imaging.gain_exponent`): the FFTs here run in single precision."""
    return np.ldexp(a, -gain_exponent(a))


def _smooth(img, sigma):
    """Gaussian-like blur of any width in linear time: three box filters of
    width ``2 sigma + 1`` (variance ``3 (w**2 - 1) / 12 ~ sigma**2``). Wide
    blurs are computed on an image binned by up to ``sigma / 8`` and
    interpolated back: the result is smooth on that scale anyway."""
    binned = _binned_smooth(img, sigma)
    if binned is not None:
        f, small = binned
        # separable linear interpolation back to full resolution
        return _linear_weights(img.shape[0], f, small.shape[0]) @ (
            small @ _linear_weights(img.shape[1], f, small.shape[1]).T
        )
    w = max(3, int(round(2 * sigma)) | 1)

    def blur(a):
        for _ in range(3):
            a = ndi.uniform_filter(a, w, mode="reflect")
        return a

    return in_strips(blur, img, 3 * (w // 2))


def _binned_smooth(img, sigma):
    """For a wide blur (``sigma`` >= 16 px, the image at least 8 bins wide):
    the bin size ``f`` and :func:`_smooth` of the image binned by ``f``
    (whole bins only); else None."""
    f = max(1, int(sigma // 8))
    if not (f > 1 and min(img.shape) >= 8 * f):
        return None
    ny, nx = (img.shape[0] // f) * f, (img.shape[1] // f) * f
    # bins of whole rows first (a view of the contiguous rows, no copy of the
    # image), then of columns
    rows = np.ascontiguousarray(img[:ny]).reshape(ny // f, f, -1).sum(axis=1)
    small = rows[:, :nx].reshape(ny // f, nx // f, f).sum(axis=2) / (f * f)
    return f, _smooth(small, sigma / f)


def _smooth_at(img, sigma, rows, cols):
    """``_smooth(img, sigma)[rows, cols]``, without the whole smoothed image
    when the blur is wide (binned): the binned blur is interpolated at the
    points only, with the weights of :func:`_linear_weights`."""
    binned = _binned_smooth(img, sigma)
    if binned is None:
        return _smooth(img, sigma)[rows, cols]
    f, small = binned
    (k0, w0), (k1, w1) = (
        _linear_pair(np.asarray(i), f, m) for i, m in zip((rows, cols), small.shape)
    )
    return (1 - w0) * ((1 - w1) * small[k0, k1] + w1 * small[k0, k1 + 1]) + w0 * (
        (1 - w1) * small[k0 + 1, k1] + w1 * small[k0 + 1, k1 + 1]
    )


def _linear_pair(i, f, m):
    """For pixels ``i``: the first of the two of ``m`` (> 1) bins of ``f``
    pixels that :func:`_linear_weights` interpolates from, and the weight
    of the second."""
    t = np.clip((i - (f - 1) / 2) / f, 0, m - 1)
    k = np.minimum(np.floor(t).astype(int), m - 2)
    return k, t - k


def _linear_weights(n, f, m):
    """(n, m) matrix interpolating linearly from ``m`` bins of ``f`` pixels
    (centres at ``(f - 1) / 2 + f k``) to ``n`` pixels, constant beyond the
    first and last centre."""
    w = np.zeros((n, m))
    if m == 1:
        w[:, 0] = 1.0
        return w
    k, frac = _linear_pair(np.arange(n), f, m)
    w[np.arange(n), k] = 1 - frac
    w[np.arange(n), k + 1] = frac
    return w


def parabolic_vertex(a, b, c, limit=0.5, maximum_only=False):
    """Offset of the vertex of the parabola through ``(-1, a), (0, b), (1, c)``
    from the middle sample: ``(a - c) / (2 (a - 2 b + c))``, clipped to
    ``+-limit``; 0 where the three samples are collinear (or, with
    ``maximum_only``, where the parabola has no maximum). Vectorised.

    The one sub-sample peak interpolation of the package (finders, the
    separation estimate, frame shifts, spectrum-image shifts).

    Examples
    --------
    >>> float(parabolic_vertex(1.0, 3.0, 2.0))  # peak between 0 and +1
    0.16666666666666666
    >>> float(parabolic_vertex(1.0, 0.0, 1.0, maximum_only=True))  # a minimum
    0.0
    """
    a, b, c = np.asarray(a), np.asarray(b), np.asarray(c)
    den = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        off = 0.5 * (a - c) / den
    ok = den < 0 if maximum_only else den != 0
    return np.where(ok, np.clip(off, -limit, limit), 0.0)
