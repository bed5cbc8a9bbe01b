"""Starting values and weights of the Gaussian refinement: each column's
background, amplitude and centre of mass (:func:`centre_of_mass`), the
columns' width (:func:`estimate_sigma`) and whether the noise follows the
counts (:func:`auto_weights`).

Positions are in pixels, x = column, y = row, pixel centres at integers.
"""

import math

import numpy as np
from numba import njit, prange

from ._checks import check_array, check_integer, check_number
from ._imaging import gain_exponent
from .noise import noise_follows_counts

__all__ = ["centre_of_mass", "estimate_sigma", "auto_weights"]


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
