"""Atom finding without a global lattice.

The paper's local finder (Belianinov et al. 2015): a *target* (one
representative atom) is cross-correlated over every pixel (normalised
cross-correlation, i.e. template matching), the correlation map is
thresholded, the connected blobs are filtered by a size histogram (point
artefacts dropped, merged blobs split) and the blob centroids are the atoms.
Two image-transform finders complement it (Laplacian of Gaussian and local
maxima), and :func:`consensus` keeps the atoms that several finders agree on.

Positions are in pixels, x = column, y = row, pixel centres at integers.
"""

import numpy as np
import scipy.fft
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage.filters import threshold_otsu

from ._checks import check_array, check_integer, check_number
from ._imaging import (
    gain_exponent,
    histogram,
    in_strips,
    label_stats,
    local_maxima,
    normalise_correlation,
    ring_max,
    window_min_at,
    window_variance,
)
from ._parallel import kd_query, max_threads
from .detection import estimate_noise, noise_variance

__all__ = [
    "METHODS",
    "estimate_separation",
    "central_crop",
    "central_separation",
    "estimate_column_width",
    "extract_target",
    "auto_target",
    "normalised_cross_correlation",
    "find_atoms",
    "find_atoms_template",
    "find_atoms_log",
    "find_atoms_local_max",
    "consensus",
    "label_by_intensity",
]

METHODS = ("template", "log", "local_max", "sparse")
# the LoG finder's noise floor, in standard deviations of the response's
# noise. Measured: on pairs of columns 3 widths apart (Poisson, peaks 140-200
# over 20, separation 6.7 px) the noise maxima reach about 10 and 5 / 6 / 7 /
# 8 let 328 / 212 / 86 / 46 of them through; on the real MoS2 image, 7 keeps
# all but 5 of 4224 columns, 8 loses 38 (faint S2 sites)
_LOG_NOISE_K = 7.0


def check_image(image, name="image"):
    """Return ``image`` as a finite float64 2D array or raise a clear error.

    Parameters
    ----------
    image : array_like
        Candidate image.
    name : str
        Name used in the error messages.

    Returns
    -------
    numpy.ndarray
        A float64 copy-free view where possible.

    Examples
    --------
    >>> check_image(np.ones((4, 5)) * np.arange(5)).shape
    (4, 5)
    """
    arr = np.asarray(image)
    if np.iscomplexobj(arr):
        raise TypeError(f"`{name}` must be real-valued, got complex dtype {arr.dtype}.")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must be numeric, got dtype {arr.dtype}.")
    if arr.ndim != 2:
        raise ValueError(f"`{name}` must be a 2D image, got {arr.ndim} dimension(s).")
    if min(arr.shape) < 3:
        raise ValueError(f"`{name}` is too small ({arr.shape}); atoms need >= 3 px.")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        n_bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"`{name}` contains {n_bad} NaN or infinite pixel(s); replace them "
            "first (e.g. with the median) or crop them away."
        )
    if np.ptp(arr) == 0:
        raise ValueError(f"`{name}` is constant: there is no contrast to find atoms.")
    return arr


def _check_separation(separation, shape):
    sep = check_number(separation, "separation", "a number of pixels")
    if not np.isfinite(sep) or sep <= 0:
        raise ValueError(
            f"`separation` must be a positive number of pixels, got {sep}."
        )
    if sep >= max(shape):
        raise ValueError(
            f"`separation` ({sep:g} px) is larger than the image ({shape[1]} x "
            f"{shape[0]} px)."
        )
    if sep < 2:
        raise ValueError(
            f"`separation` ({sep:g} px) is below 2 px: the image does not resolve "
            "the atoms."
        )
    return sep


#: Longest side, in pixels, of the central crop on which :func:`find_atoms`
#: estimates the separation: a global statistic, and a 1024 x 1024 crop holds
#: hundreds of columns at any separation the finders accept there. On a 2048²
#: frame the crop saves 3/4 of the cost, on a 4096² one 15/16, on an 8192²
#: one the gigabytes of the whole image's autocorrelation.
ESTIMATE_PX = 1024


def central_crop(image, side=ESTIMATE_PX):
    """The central crop of ``image`` at most ``side`` pixels on a side (a view).

    Examples
    --------
    >>> central_crop(np.zeros((3000, 500)), 1024).shape
    (1024, 500)
    """
    ny, nx = np.shape(image)
    h, w = min(ny, int(side)), min(nx, int(side))
    y0, x0 = (ny - h) // 2, (nx - w) // 2
    return image[y0 : y0 + h, x0 : x0 + w]


def central_separation(image):
    """The separation the finders use when none is given:
    :func:`estimate_separation` of :func:`central_crop` of the image (a
    global statistic; the crop bounds its cost and memory on large images).

    Examples
    --------
    >>> from hyperspy_localcryst.numerics.synthetic import make_lattice_image
    >>> img, _ = make_lattice_image((256, 256), spacing=16, sigma=3, noise=None)
    >>> round(central_separation(img), 0)
    16.0
    """
    return estimate_separation(central_crop(image))


def estimate_separation(image, min_separation=3.0):
    """Estimate the smallest distance between atomic columns, in pixels.

    The distance between neighbouring columns, not the dominant lattice
    period: a dim sublattice (the S2 sites of MoS2, the B sites of a
    perovskite, O columns in ABF) sets it as soon as it is visible above the
    noise.

    1. The column width: the half-maximum radius of the central peak of the
       image's autocorrelation (white noise, which adds only at zero lag, is
       left out; see :func:`estimate_column_width`).
    2. The significant local maxima of the image smoothed at half that width
       (little more than the columns' own width, so that close columns stay
       separate maxima where the noise allows; pairs closer than about 3
       widths, whose sum has hardly a dip, are not resolved), at least 1.2
       widths apart: prominence above the lowest value within two widths of
       more than 10 times the noise of the smoothed image (the noise is
       estimated from the image; pure noise gives no such maxima) and more
       than 1 % of the image's contrast. Sub-pixel positions by parabolas.
       Maxima within two widths of the image edge are left out (a column cut
       by the edge peaks on the edge, closer to its neighbours).
    3. The median of their nearest-neighbour distances (at least half of
       them within 15 % of it, and at least six maxima: otherwise there is
       no typical distance and a ValueError says so), refined to the mean
       of all pair distances within 15 % of it (nearest-neighbour distances
       of noisy positions are biased low; pair distances are not).
    4. Cross-check with the autocorrelation: when its ring-maximum profile
       has a maximum within 8 % of that distance, the distance of that peak
       (sub-pixel, from the 2D autocorrelation) is returned (more precise on
       large, regular lattices); otherwise the distance of step 3.

    It needs no lattice model. On a small image with fewer than six such
    maxima away from the edge, the first maximum of the autocorrelation's
    ring-maximum profile is returned instead.

    Parameters
    ----------
    image : numpy.ndarray
        2D image.
    min_separation : float
        Distances below this (pixels) are not considered.

    Returns
    -------
    float
        Separation in pixels.

    Raises
    ------
    ValueError
        When fewer than three significant maxima are found (an image of
        noise, or no resolved columns): give `separation` explicitly.

    Examples
    --------
    >>> from hyperspy_localcryst.numerics.synthetic import make_lattice_image
    >>> img, _ = make_lattice_image((256, 256), spacing=16, sigma=3, noise=None)
    >>> round(estimate_separation(img), 0)
    16.0

    A perovskite whose B columns are 4 times dimmer than A: the A-B distance
    (20 px), not the A-A period (28.3 px).

    >>> img, _ = make_lattice_image(
    ...     (192, 160), spacing=20, sigma=3.5, lattice="perovskite",
    ...     sublattice_peaks=(400, 100), seed=1)
    >>> round(estimate_separation(img), 0)
    20.0
    """
    img = check_image(image)
    min_separation = check_number(min_separation, "min_separation", "pixels")
    if not (np.isfinite(min_separation) and min_separation > 0):
        raise ValueError(
            f"`min_separation` must be a positive number of pixels, got "
            f"{min_separation}."
        )
    try:
        return _estimate_separation(img, min_separation)
    except ValueError as bright:
        # dark columns (ABF, dips): the maxima of the bright network between
        # them need not be regular; the dips are
        try:
            return _estimate_separation(img.min() + img.max() - img, min_separation)
        except ValueError:
            raise bright from None


def _estimate_separation(img, min_separation):
    """:func:`estimate_separation` of checked arguments, bright columns."""
    sub, rmax = _autocorrelation(img)
    width = _width_from_autocorrelation(sub, rmax)
    x, y = _significant_maxima(img, width)
    n_all = len(x)
    # a column cut by the image edge has its maximum on the edge, closer to
    # its neighbours than the column is
    m = 2 * width
    inside = (x >= m) & (y >= m) & (x <= img.shape[1] - 1 - m)
    inside &= y <= img.shape[0] - 1 - m
    if n_all < 3:
        raise ValueError(
            "Could not find a periodic separation in the image: fewer than three "
            "significant maxima above the noise (an image of noise, or columns "
            "not resolved); give `separation` explicitly."
        )
    if inside.sum() < 6:
        # a small image with only a few columns: the first ring maximum of
        # the autocorrelation (as good as it gets on a few columns)
        return _first_ring_peak(sub, rmax, min_separation)
    x, y = x[inside], y[inside]
    xy = np.column_stack([x, y])
    tree = cKDTree(xy)
    dist, _ = kd_query(tree, xy, k=2)
    nn = dist[:, 1]
    nn = nn[nn >= min_separation]
    d = float(np.median(nn)) if len(nn) else 0.0
    # columns have a typical distance; maxima of noise that passed the test
    # have not
    if len(nn) < 6 or np.mean(np.abs(nn - d) < 0.15 * d) < 0.5:
        raise ValueError(
            f"Could not find a periodic separation in the image: the {len(nn)} "
            "significant maxima have no typical nearest-neighbour distance (an "
            "image of noise, or too few columns); give `separation` explicitly."
        )
    pairs = tree.query_pairs(1.2 * d, output_type="ndarray")
    pd = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)
    for _ in range(3):
        near = pd[(pd > 0.85 * d) & (pd < 1.15 * d) & (pd >= min_separation)]
        if len(near) == 0:
            break
        d = float(np.mean(near))
    # cross-check with the autocorrelation's ring maxima
    prof = ring_max(sub, rmax)
    prof = prof / prof[0]
    best = None
    for k in range(max(int(np.ceil(min_separation)), 1), rmax - 1):
        if prof[k] > prof[k - 1] and prof[k] >= prof[k + 1] and prof[k] > 0.05:
            if abs(k - d) <= 0.08 * d + 1 and (
                best is None or abs(k - d) < abs(best - d)
            ):
                best = k
        if k > 1.2 * d + 2:
            break
    if best is not None:
        r = _refine_peak_distance(sub, best, rmax)
        if abs(r - d) <= 0.08 * d:
            return r
    return d


def _first_ring_peak(sub, rmax, min_separation):
    """Distance of the first maximum of the autocorrelation's ring-maximum
    profile beyond ``min_separation`` (sub-pixel), or a ValueError."""
    prof = ring_max(sub, rmax)
    prof = prof / prof[0]
    for k in range(max(int(np.ceil(min_separation)), 1), rmax - 1):
        if prof[k] > prof[k - 1] and prof[k] >= prof[k + 1] and prof[k] > 0.05:
            a, b, c = prof[k - 1], prof[k], prof[k + 1]
            return _refine_peak_distance(sub, k + _parabola(a, b, c), rmax)
    raise ValueError(
        "Could not find a periodic separation in the image (no autocorrelation "
        "maximum); give `separation` explicitly."
    )


def estimate_column_width(image):
    """Estimate the Gaussian width (sigma, pixels) of the atomic columns.

    From the central peak of the image's autocorrelation (mean and a smooth
    background removed): the autocorrelation of a Gaussian of width ``s`` is
    a Gaussian of width ``s * sqrt(2)``. Its half-maximum radius is measured
    between the zero-lag value extrapolated from lags 1 and 2 (white noise
    adds to lag 0 only) and the first minimum of the radial mean. The result
    is at least 1 px.

    Parameters
    ----------
    image : numpy.ndarray
        2D image.

    Returns
    -------
    float
        Column width (Gaussian sigma) in pixels; typically 10-15 % low on
        lattices whose columns overlap, 5 % on isolated columns.

    Examples
    --------
    >>> from hyperspy_localcryst.numerics.synthetic import make_lattice_image
    >>> img, _ = make_lattice_image((256, 192), spacing=24, sigma=3, noise=None)
    >>> bool(2.5 < estimate_column_width(img) < 3.5)
    True
    """
    img = check_image(image)
    sub, rmax = _autocorrelation(img)
    return _width_from_autocorrelation(sub, rmax)


def _autocorrelation(img):
    """Centred autocorrelation (zero lag at ``[rmax, rmax]``) of the image
    with its mean and a smooth background removed, and ``rmax``."""
    ny, nx = img.shape
    # high-pass: remove what varies over a quarter of the image
    img = img - _smooth(img, max(ny, nx) / 16.0)
    img = _unit_scale(img - img.mean())
    # window to suppress the edge discontinuity; it also makes the circular
    # (unpadded) autocorrelation equal to the linear one at the short lags
    # that matter here
    win = np.outer(np.hanning(ny), np.hanning(nx)).astype(np.float32)
    # single precision halves the cost; the peak positions do not notice
    f = scipy.fft.rfft2(img.astype(np.float32) * win, workers=max_threads())
    f = (f * f.conj()).real
    ac = scipy.fft.irfft2(f, s=(ny, nx), workers=max_threads())
    rmax = max(int(min(min(ny, nx) // 2 - 1, 256)), 3)
    lag = np.arange(-rmax, rmax + 1)
    sub = ac[np.ix_(lag % ny, lag % nx)].astype(np.float64)
    return sub, rmax


def _width_from_autocorrelation(sub, rmax):
    """Column sigma from the central autocorrelation peak (see
    :func:`estimate_column_width`)."""
    yy, xx = np.mgrid[-rmax : rmax + 1, -rmax : rmax + 1]
    ri = np.rint(np.hypot(xx, yy)).astype(int).ravel()
    mean = np.bincount(ri, sub.ravel()) / np.maximum(np.bincount(ri), 1)
    p1, p2 = mean[1], mean[2]
    # a Gaussian in r**2: ln p(r) = a - r**2 / (4 s**2)
    p0 = p1 * (p1 / p2) ** (1 / 3) if 0 < p2 < p1 else max(p1, mean[0])
    k = 1
    while k + 1 < len(mean) and mean[k + 1] < mean[k]:
        k += 1
    half = 0.5 * (p0 + mean[k])
    below = np.flatnonzero(mean[1 : k + 1] < half)
    if len(below) == 0 or p0 <= mean[k]:
        return 1.0
    j = below[0] + 1
    lo = p0 if j == 1 else mean[j - 1]
    rh = (j - 1) + (lo - half) / (lo - mean[j]) if lo > mean[j] else float(j)
    # half-maximum radius of exp(-r**2 / (4 s**2)): 2 s sqrt(ln 2)
    return float(max(rh / (2.0 * np.sqrt(np.log(2.0))), 1.0))


def _noise_std(img):
    """Standard deviation of white noise in ``img``: median absolute response
    of the 3x3 Laplacian-like kernel that cancels planes and, to first order,
    smooth structure (Immerkaer 1996), scaled to a Gaussian standard
    deviation."""
    k = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
    r = in_strips(lambda a: np.abs(ndi.convolve(a, k, mode="reflect")), img, 1)
    # the median of the inside pixels, in place (no copy of an image): the
    # border's pixels (an even count; images are at least 3 x 3 px) made half
    # -inf and half +inf leave it as it is
    border = np.ones(r.shape, bool)
    border[1:-1, 1:-1] = False
    idx = np.flatnonzero(border)
    r.ravel()[idx[: len(idx) // 2]] = -np.inf
    r.ravel()[idx[len(idx) // 2 :]] = np.inf
    return float(1.4826 * np.median(r.ravel(), overwrite_input=True) / 6.0)


def _significant_maxima(img, width):
    """Sub-pixel positions of the local maxima of ``img`` smoothed at half
    the column ``width`` that stand out of the noise (see
    :func:`estimate_separation`, step 2)."""
    # order 1 (exact, powers of two): the noise variance of an image near
    # 1e200 would overflow; the maxima kept do not depend on the gain
    img = _unit_scale(img)
    t = max(0.5 * width, 0.5)
    sm = in_strips(lambda a: ndi.gaussian_filter(a, t), img, 4 * t + 1)
    # maxima above the slowly varying background: on a tilted surface (STM)
    # the columns on the slope are no maxima of the image itself
    hp = sm - _smooth(sm, 3.0 * width)
    rows, cols = local_maxima(hp, max(1, int(round(1.2 * width))))
    prom = hp[rows, cols] - window_min_at(
        hp, rows, cols, max(3, int(round(4 * width)) | 1)
    )
    # noise of the smoothed image at each maximum's level (shot noise grows
    # with the signal; a vacuum of a few counts is not noise-free, as the
    # median difference of its zeros would say): the pixel noise of
    # :func:`.detection.estimate_noise` times the kernel's L2 norm
    model = estimate_noise(img)
    pixel_var = noise_variance(model, sm[rows, cols] - 0.5 * prom)
    noise = np.sqrt(pixel_var) / (2.0 * np.sqrt(np.pi) * t)
    # and 1 % of the strongest local contrast (not of the image's range,
    # which a tilt or a step of the surface can dominate)
    top = np.percentile(prom, 99) if len(prom) else 0.0
    # the maximum itself above the background too: a noise maximum in the
    # dip the high-pass leaves around a bright column gains the dip's depth
    keep = (prom > np.maximum(10.0 * noise, 0.01 * top)) & (
        hp[rows, cols] > 5.0 * noise
    )
    return _subpixel(hp, rows[keep], cols[keep])


def _parabolas(a, b, c):
    """Vectorised :func:`_parabola`, clipped to +-0.49 px: a position is
    never exactly on a pixel boundary, where the pixel nearest to it (the
    refinement's window centre) would depend on rounding (a peak centred
    between two pixels of a noise-free image, after a calibration round
    trip)."""
    den = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(den != 0, 0.5 * (a - c) / den, 0.0)
    return np.clip(off, -0.49, 0.49)


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


def _refine_peak_distance(ac, r0, rmax):
    # only the square that holds the ring around r0 is needed
    h = min(rmax, int(np.ceil(r0)) + 3)
    ac = ac[rmax - h : rmax + h + 1, rmax - h : rmax + h + 1]
    rmax = h
    yy, xx = np.mgrid[-h : h + 1, -h : h + 1]
    r = np.hypot(xx, yy)
    ring = np.abs(r - r0) < 1.5
    vals = np.where(ring, ac, -np.inf)
    iy, ix = np.unravel_index(np.argmax(vals), ac.shape)
    if 1 <= iy < ac.shape[0] - 1 and 1 <= ix < ac.shape[1] - 1:
        w = ac[iy - 1 : iy + 2, ix - 1 : ix + 2]
        dx = _parabola(w[1, 0], w[1, 1], w[1, 2])
        dy = _parabola(w[0, 1], w[1, 1], w[2, 1])
    else:
        dx = dy = 0.0
    return float(np.hypot(ix + dx - rmax, iy + dy - rmax))


def _parabola(a, b, c):
    den = a - 2 * b + c
    return 0.0 if den == 0 else float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))


def _half_width(separation):
    return max(2, int(round(0.4 * separation)))


def extract_target(image, x, y, half_width):
    """Cut a target (template) of ``2 * half_width + 1`` pixels around (x, y).

    Parameters
    ----------
    image : numpy.ndarray
        2D image.
    x, y : float
        Position of the representative atom, in pixels.
    half_width : int
        Half the template size in pixels.

    Returns
    -------
    numpy.ndarray
        The template.

    Examples
    --------
    >>> img = np.arange(100.0).reshape(10, 10)
    >>> extract_target(img, 5, 4, 1)
    array([[34., 35., 36.],
           [44., 45., 46.],
           [54., 55., 56.]])
    """
    img = check_array(image, "image", ndim=2)
    h = check_integer(half_width, "half_width", minimum=1)
    x, y = (check_number(v, n) for v, n in ((x, "x"), (y, "y")))
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(
            f"`x`, `y`: the target position (x={x}, y={y}) must be finite."
        )
    cx, cy = int(round(x)), int(round(y))
    if cx - h < 0 or cy - h < 0 or cx + h >= img.shape[1] or cy + h >= img.shape[0]:
        raise ValueError(
            f"`x`, `y`: the target at (x={x:g}, y={y:g}) with `half_width` {h} px "
            f"does not fit inside the image ({img.shape[1]} x {img.shape[0]} px)."
        )
    return np.array(img[cy - h : cy + h + 1, cx - h : cx + h + 1], dtype=np.float64)


def auto_target(image, separation, n_max=400):
    """Build a representative atom automatically.

    The average of the patches around the most prominent local maxima of the
    smoothed image (up to ``n_max`` of them), so that noise averages out and
    the target has the typical shape of a column. On large images the maxima
    are searched in the central region of 20 x 20 separations (about 400
    columns or more, at least 128 x 128 px): enough columns for the average,
    in a fraction of the time of the whole image.

    Parameters
    ----------
    image : numpy.ndarray
        2D image.
    separation : float
        Nearest-neighbour distance in pixels.
    n_max : int
        Maximum number of patches averaged.

    Returns
    -------
    numpy.ndarray
        Square template of ``2 * round(0.4 * separation) + 1`` pixels.

    Examples
    --------
    >>> from hyperspy_localcryst.numerics.synthetic import make_lattice_image
    >>> img, _ = make_lattice_image((128, 128), spacing=16, sigma=3, noise=None)
    >>> auto_target(img, 16).shape
    (13, 13)
    """
    img = check_image(image)
    sep = _check_separation(separation, img.shape)
    n_max = check_integer(n_max, "n_max", minimum=1)
    h = _half_width(sep)
    if 2 * h + 1 > min(img.shape):
        raise ValueError(
            f"`separation` {sep:g} px gives a target of {2 * h + 1} px, larger "
            f"than the image ({img.shape[1]} x {img.shape[0]} px)."
        )
    side = max(128, int(np.ceil(20 * sep)))
    r0 = max(0, (img.shape[0] - side) // 2)
    c0 = max(0, (img.shape[1] - side) // 2)
    img = img[r0 : r0 + side, c0 : c0 + side]
    y, x, prom = _maxima(img, sep)
    inside = (x >= h) & (y >= h) & (x < img.shape[1] - h) & (y < img.shape[0] - h)
    x, y, prom = x[inside], y[inside], prom[inside]
    if len(x) == 0:
        raise ValueError(
            f"No local maximum found to build a target from (image {img.shape[1]} "
            f"x {img.shape[0]} px, `separation` {sep:g} px): the image is too small "
            "for this separation; give a smaller `separation` or a `target`."
        )
    keep = np.argsort(prom)[::-1][:n_max]
    patches = [
        img[j - h : j + h + 1, i - h : i + h + 1] for i, j in zip(x[keep], y[keep])
    ]
    return np.mean(patches, axis=0)


def _maxima(img, sep, smooth=None):
    """Local maxima of the smoothed image and their prominence."""
    sigma = smooth if smooth is not None else max(sep / 8, 0.5)
    s = (
        img  # (a Gaussian of width 0 is the image itself)
        if sigma == 0
        else in_strips(lambda a: ndi.gaussian_filter(a, sigma), img, 4 * sigma + 1)
    )
    rows, cols = local_maxima(s, max(1, int(0.4 * sep)))
    # the lowest point of the square around each maximum (not the whole
    # minimum-filtered image)
    prom = s[rows, cols] - window_min_at(s, rows, cols, max(3, int(round(sep)) | 1))
    return rows, cols, prom


def normalised_cross_correlation(image, target):
    """Normalised cross-correlation of ``target`` at every pixel of ``image``.

    Values lie in [-1, 1]; 1 means the image around that pixel is an affine
    copy (any brightness and contrast) of the target. The map has the shape
    of the image; entry (row, col) refers to the target centred on that
    pixel.

    Parameters
    ----------
    image, target : numpy.ndarray
        2D arrays; the target must be smaller than the image.

    Returns
    -------
    numpy.ndarray
        Correlation map.

    Examples
    --------
    >>> img = np.zeros((9, 9)); img[4, 5] = 1
    >>> ncc = normalised_cross_correlation(img, img[2:7, 3:8])
    >>> np.unravel_index(np.argmax(ncc), ncc.shape)
    (np.int64(4), np.int64(5))
    """
    img = check_image(image)
    return _ncc_maps(img, [_check_target(img, target)])[0]


def _check_target(img, target):
    tgt = check_array(target, "target")
    if tgt.ndim != 2:
        raise ValueError(f"`target` must be 2D, got {tgt.ndim} dimension(s).")
    if tgt.shape[0] > img.shape[0] or tgt.shape[1] > img.shape[1]:
        raise ValueError(
            f"`target` ({tgt.shape[1]} x {tgt.shape[0]} px) is larger than the "
            f"image ({img.shape[1]} x {img.shape[0]} px)."
        )
    if not np.all(np.isfinite(tgt)) or np.ptp(tgt) == 0:
        raise ValueError("`target` must be finite and not constant.")
    return tgt


def _ncc_maps(img, targets):
    """Normalised cross-correlation maps of several targets (see
    :func:`normalised_cross_correlation`); the image's Fourier transform and
    window variance are computed once per template shape and shared.

    The correlation runs in single precision FFTs (the map is accurate to
    ~1e-4, far below the noise of any threshold on it); the window variance
    that normalises it is in double precision.
    """
    ny, nx = img.shape
    base = _unit_scale(img - img.mean())
    cache = {}
    maps = []
    for tgt in targets:
        th, tw = tgt.shape
        if (th, tw) not in cache:
            # reflect-pad so that the map has the image's shape and entry
            # (r, c) is the window centred on pixel (r, c) (for even sizes the
            # window starts th // 2 rows above, as in scikit-image's
            # match_template)
            dy, dx = th // 2, tw // 2
            pad = np.pad(base, ((dy, th - 1 - dy), (dx, tw - 1 - dx)), "reflect")
            shape = tuple(scipy.fft.next_fast_len(n, real=True) for n in pad.shape)
            spectrum = scipy.fft.rfft2(
                pad.astype(np.float32), s=shape, workers=max_threads()
            )
            # windows without contrast have no defined correlation: var = 0
            var = window_variance(pad, th, tw)
            cache[(th, tw)] = (spectrum, shape, var)
        spectrum, shape, var = cache[(th, tw)]
        t = _unit_scale(tgt - tgt.mean())
        t_ssd = float(np.sum(t * t))
        kernel = scipy.fft.rfft2(
            t[::-1, ::-1].astype(np.float32), s=shape, workers=max_threads()
        )
        full = scipy.fft.irfft2(spectrum * kernel, s=shape, workers=max_threads())
        num = full[th - 1 : th - 1 + ny, tw - 1 : tw - 1 + nx]
        maps.append(normalise_correlation(num, var, t_ssd))
    return maps


def _blobs(score, threshold, sep, min_area, max_area):
    """Centroids of the thresholded score map, filtered by a size histogram."""
    mask = score > threshold
    labels, n = ndi.label(mask)
    if n == 0:
        return np.empty(0), np.empty(0), np.empty(0)
    # centroid weighted by the correlation above the threshold
    area, sw, swx, swy, peak = (
        v[1:] for v in label_stats(labels, score - threshold, score, n)
    )
    med = np.median(area)
    good = (area >= min_area * med) & (area <= max_area * med)
    xs, ys, ss = [swx[good] / sw[good]], [swy[good] / sw[good]], [peak[good]]
    merged = area > max_area * med
    if np.any(merged):
        # Merged blobs: split them at the correlation maxima they contain.
        in_merged = np.concatenate([[False], merged])[labels]
        rows, cols = local_maxima(
            np.where(in_merged, score, -1.0), 0.4 * sep, threshold=threshold
        )
        xs.append(cols.astype(float))
        ys.append(rows.astype(float))
        ss.append(score[rows, cols])
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ss)


def _auto_threshold(values):
    """Otsu's threshold (scikit-image's, on a 256-bin histogram of the
    values, counted in parallel)."""
    values = values[np.isfinite(values)]
    if len(values) < 2 or np.ptp(values) == 0:
        return -np.inf
    lo, hi = float(values.min()), float(values.max())
    counts = histogram(values, lo, hi, 256)
    edges = np.linspace(lo, hi, 257)
    return float(threshold_otsu(hist=(counts, 0.5 * (edges[:-1] + edges[1:]))))


def find_atoms_template(
    image, separation, target=None, threshold="auto", min_area=0.25, max_area=2.5
):
    """The paper's target-search finder.

    Parameters
    ----------
    image : numpy.ndarray
        2D image.
    separation : float
        Smallest column separation, in pixels.
    target : numpy.ndarray or list of numpy.ndarray, optional
        One representative atom, or one per atom type. Built automatically
        with :func:`auto_target` if not given.
    threshold : float or "auto"
        Correlation threshold in [-1, 1]; ``"auto"`` takes Otsu's threshold
        of the correlation map.
    min_area, max_area : float
        Blobs smaller than ``min_area`` times the median blob area are point
        artefacts and dropped; blobs larger than ``max_area`` times it may
        hold merged atoms and are split at their correlation maxima (a blob
        with a single maximum stays one atom).

    Returns
    -------
    dict
        ``x``, ``y`` (pixels), ``score`` (peak correlation) and ``label`` (the
        index of the best-matching target).

    Examples
    --------
    >>> from hyperspy_localcryst.numerics.synthetic import make_lattice_image
    >>> img, truth = make_lattice_image((200, 200), spacing=20, sigma=3, seed=0)
    >>> found = find_atoms_template(img, 20)
    >>> len(truth["x"]), len(found["x"])  # also finds the cut atoms at the edges
    (81, 121)
    """
    img = check_image(image)
    sep = _check_separation(separation, img.shape)
    thr = _threshold(threshold, -1.0, 1.0)
    min_area = check_number(min_area, "min_area", "a fraction of the median area")
    max_area = check_number(max_area, "max_area", "a fraction of the median area")
    if not (np.isfinite(max_area) and 0 <= min_area < max_area):
        raise ValueError(
            "Need 0 <= `min_area` < `max_area` (finite fractions of the median), "
            f"got min_area={min_area}, max_area={max_area}."
        )
    if target is None:
        targets = [auto_target(img, sep)]
    elif isinstance(target, (list, tuple)):
        targets = list(target)
    else:
        targets = [target]
    if len(targets) == 0:
        raise ValueError("`target` is an empty list.")
    targets = [_check_target(img, t) for t in targets]
    maps = _ncc_maps(img, targets)
    score = maps[0] if len(maps) == 1 else np.max(maps, axis=0)
    if thr is None:
        thr = _auto_threshold(score.ravel())
    x, y, s = _blobs(score, thr, sep, min_area, max_area)
    ix = np.clip(np.round(x).astype(int), 0, img.shape[1] - 1)
    iy = np.clip(np.round(y).astype(int), 0, img.shape[0] - 1)
    label = _best_target(img, ix, iy, targets) if len(x) else np.empty(0, int)
    return {"x": x, "y": y, "score": s, "label": label}


def _best_target(img, ix, iy, targets):
    """Index of the target each atom resembles most, brightness included.

    The correlation map is blind to brightness and contrast (that is what lets
    one target find dim and bright columns alike), so atom types that differ
    mainly in intensity are told apart by the mean squared difference between
    each atom's patch and each target instead.
    """
    if len(targets) == 1:
        return np.zeros(len(ix), dtype=int)
    pad = max(max(t.shape) for t in targets) // 2 + 1
    big = np.pad(img, pad, mode="reflect")
    cost = np.empty((len(targets), len(ix)))
    for k, t in enumerate(targets):
        hy, hx = t.shape[0] // 2, t.shape[1] // 2
        oy, ox = np.mgrid[-hy : t.shape[0] - hy, -hx : t.shape[1] - hx]
        patches = big[iy[:, None, None] + pad + oy, ix[:, None, None] + pad + ox]
        cost[k] = np.mean((patches - t) ** 2, axis=(1, 2))
    return np.argmin(cost, axis=0)


def _threshold(threshold, lo=-np.inf, hi=np.inf):
    """``"auto"`` as None, else the threshold as a float in ``[lo, hi)``."""
    if isinstance(threshold, str) and threshold == "auto":
        return None
    if isinstance(threshold, str):
        raise ValueError(f"`threshold` must be a number or 'auto', got {threshold!r}.")
    thr = check_number(threshold, "threshold", "a number or 'auto'")
    if not lo <= thr < hi:
        raise ValueError(f"`threshold` must lie in [{lo:g}, {hi:g}), got {thr}.")
    return thr


def _prominence_threshold(prom):
    """Separate real columns from noise maxima by their prominence.

    Otsu's threshold on log-prominence, limited to at most a quarter of the
    median prominence of the upper half so that a dim sublattice is kept.
    """
    prom = prom[prom > 0]
    if len(prom) < 2:
        return 0.0
    lp = np.log(prom)
    thr = np.exp(threshold_otsu(lp)) if np.ptp(lp) > 0 else 0.0
    top = np.median(np.sort(prom)[len(prom) // 2 :])
    return float(min(thr, 0.25 * top))


def find_atoms_local_max(image, separation, threshold="auto"):
    """Local maxima of the lightly smoothed image, filtered by prominence.

    Parameters
    ----------
    image : numpy.ndarray
        2D image.
    separation : float
        Smallest column separation, in pixels; maxima closer than
        ``0.4 * separation`` are merged.
    threshold : float or "auto"
        Minimum prominence (height above the lowest pixel within one
        separation), in image units.

    Returns
    -------
    dict
        ``x``, ``y`` (pixels), ``score`` (prominence).

    Examples
    --------
    >>> from hyperspy_localcryst.numerics.synthetic import make_lattice_image
    >>> img, truth = make_lattice_image((200, 200), spacing=20, sigma=3, seed=0)
    >>> len(find_atoms_local_max(img, 20)["x"])
    121
    """
    img = check_image(image)
    sep = _check_separation(separation, img.shape)
    thr = _threshold(threshold)
    y, x, prom = _maxima(img, sep)
    thr = _prominence_threshold(prom) if thr is None else thr
    keep = prom > thr
    return {"x": x[keep].astype(float), "y": y[keep].astype(float), "score": prom[keep]}


def find_atoms_log(image, separation, threshold="auto"):
    """Maxima of the scale-normalised Laplacian of Gaussian response.

    The LoG at the scale of a column (``sigma = separation / 5``) enhances
    blobs of that size and suppresses slowly varying background.

    Parameters
    ----------
    image : numpy.ndarray
        2D image.
    separation : float
        Smallest column separation, in pixels.
    threshold : float or "auto"
        Minimum prominence of the LoG response; ``"auto"``: Otsu's threshold
        of the log-prominences (at most a quarter of the bright maxima's),
        and at least 7 times the noise of the response (the image's white
        noise, estimated from it, times the kernel's L2 norm).

    Returns
    -------
    dict
        ``x``, ``y`` (pixels; the response's maximum refined by a parabola
        along each axis), ``score`` (LoG response).

    Examples
    --------
    >>> from hyperspy_localcryst.numerics.synthetic import make_lattice_image
    >>> img, truth = make_lattice_image((200, 200), spacing=20, sigma=3, seed=0)
    >>> len(find_atoms_log(img, 20)["x"])
    121
    """
    img = check_image(image)
    sep = _check_separation(separation, img.shape)
    thr = _threshold(threshold)
    sig = max(sep / 5.0, 0.7)
    # the image's noise before the response exists (their work arrays, each
    # the size of the image, then never live at once)
    noise = _noise_std(img) if thr is None else None
    resp = in_strips(
        lambda a: ndi.gaussian_laplace(a, sig, mode="reflect"), img, 4 * sig + 1
    )
    resp *= -(sig**2)  # in place: no second image-sized array
    y, x, prom = _maxima(resp, sep, smooth=0)
    if thr is None:
        # and _LOG_NOISE_K times the noise of the response (white noise of
        # the image, estimated from it, times the kernel's L2 norm)
        h = int(np.ceil(4 * sig))
        delta = np.zeros((2 * h + 1, 2 * h + 1))
        delta[h, h] = 1.0
        norm = np.sqrt(np.sum((sig**2 * ndi.gaussian_laplace(delta, sig)) ** 2))
        thr = max(_prominence_threshold(prom), _LOG_NOISE_K * noise * norm)
    # a column is a peak of the response above its local level: a curved
    # background (an STM piezo bow) shifts the whole response by a constant,
    # so "above zero" would keep only the tallest peaks of a bowl
    level = _smooth_at(resp, 2.0 * sep, y, x)
    keep = (prom > thr) & (resp[y, x] > level)
    fx, fy = _subpixel(resp, y[keep], x[keep])
    return {"x": fx, "y": fy, "score": prom[keep]}


def _subpixel(resp, rows, cols):
    """Positions of maxima of ``resp`` at (rows, cols) refined by a parabola
    through three samples along each axis (none on the image border)."""
    ny, nx = resp.shape
    r = np.clip(rows, 1, ny - 2)
    c = np.clip(cols, 1, nx - 2)
    dx = np.where(c == cols, _parabolas(resp[r, c - 1], resp[r, c], resp[r, c + 1]), 0)
    dy = np.where(r == rows, _parabolas(resp[r - 1, c], resp[r, c], resp[r + 1, c]), 0)
    return cols + dx, rows + dy


def consensus(results, separation, min_votes=None):
    """Keep the atoms that several finders agree on.

    Positions from different finders closer than ``separation / 3`` are the
    same atom; its position is the mean of theirs.

    Parameters
    ----------
    results : list of dict
        Outputs of the finders (each with ``x`` and ``y``).
    separation : float
        Smallest column separation, in pixels.
    min_votes : int, optional
        Number of finders that must agree; default a majority.

    Returns
    -------
    dict
        ``x``, ``y`` and ``votes``.

    Examples
    --------
    >>> a = {"x": np.array([1.0, 10.0]), "y": np.array([1.0, 10.0])}
    >>> b = {"x": np.array([1.2, 30.0]), "y": np.array([0.9, 30.0])}
    >>> consensus([a, b], separation=9, min_votes=2)["x"]
    array([1.1])
    """
    if not isinstance(results, (list, tuple)) or not all(
        isinstance(r, dict) and "x" in r and "y" in r for r in results
    ):
        raise TypeError(
            "`results` must be a list of finder outputs (dicts with 'x' and 'y'), "
            f"got {results!r:.60}."
        )
    n_f = len(results)
    if n_f == 0:
        raise ValueError("`results` is empty: give at least one finder's output.")
    separation = check_number(separation, "separation", "a number of pixels")
    if not (np.isfinite(separation) and separation > 0):
        raise ValueError(f"`separation` must be a positive number, got {separation}.")
    if min_votes is None:
        min_votes = n_f // 2 + 1
    min_votes = check_integer(min_votes, "min_votes")
    if not 1 <= min_votes <= n_f:
        raise ValueError(f"`min_votes` must lie in [1, {n_f}], got {min_votes}.")
    xy = np.concatenate(
        [
            np.column_stack(
                [check_array(r["x"], "results", 1), check_array(r["y"], "results", 1)]
            )
            for r in results
        ]
    )
    src = np.concatenate([np.full(len(r["x"]), k) for k, r in enumerate(results)])
    if len(xy) == 0:
        return {"x": np.empty(0), "y": np.empty(0), "votes": np.empty(0, int)}
    # single-linkage groups of points within the tolerance
    pairs = cKDTree(xy).query_pairs(separation / 3.0, output_type="ndarray")
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix(
        (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), (len(xy),) * 2
    )
    _, comp = connected_components(graph, directed=False)
    n_c = comp.max() + 1
    votes = np.zeros((n_c, n_f), bool)
    votes[comp, src] = True
    count = np.bincount(comp, minlength=n_c)
    mx = np.bincount(comp, xy[:, 0], n_c) / count
    my = np.bincount(comp, xy[:, 1], n_c) / count
    nv = votes.sum(axis=1)
    keep = nv >= min_votes
    return {"x": mx[keep], "y": my[keep], "votes": nv[keep]}


def find_atoms(image, separation=None, method=None, threshold="auto", **kwargs):
    """Find atomic columns with one finder or a consensus of several.

    Parameters
    ----------
    image : numpy.ndarray
        2D image.
    separation : float, optional
        Smallest column separation, in pixels; estimated with
        :func:`estimate_separation` if not given.
    method : str or list of str, optional
        Default ``"log"``, or ``"template"`` when a ``target`` is given.
        ``"log"`` (Laplacian of Gaussian), ``"template"`` (the
        paper's target search), ``"local_max"``, ``"sparse"``
        (:func:`~hyperspy_localcryst.numerics.sparse.find_atoms_sparse`:
        non-negative sparse deconvolution, separates overlapping columns,
        slower), or a list of them for a majority consensus. The default was
        chosen by measurement on synthetic lattices, a dim sublattice and
        the real files (``docs/architecture.md``): the LoG finds every
        column of all of them, where the template finder merges close or
        faint columns (PbTiO3/SrRuO3's Ru, MoS2's S2 sites, whole rows of
        the Atomap ADF image) and local maxima drop a dim sublattice.
    threshold : float or "auto"
        Passed to the finder(s).
    **kwargs
        Passed to :func:`find_atoms_template` (``target``, ``min_area``,
        ``max_area``) or to :func:`consensus` (``min_votes``).

    Returns
    -------
    dict
        ``x``, ``y`` in pixels and ``score``; ``label`` for several targets;
        ``votes`` for a consensus.

    Examples
    --------
    >>> from hyperspy_localcryst.numerics.synthetic import make_lattice_image
    >>> img, truth = make_lattice_image((200, 200), spacing=20, sigma=3, seed=0)
    >>> found = find_atoms(img, method=["template", "log", "local_max"])
    >>> len(found["x"]), int(found["votes"].min())
    (121, 3)
    """
    img = check_image(image)
    sep = central_separation(img) if separation is None else separation
    sep = _check_separation(sep, img.shape)
    if method is None:
        method = "template" if kwargs.get("target") is not None else "log"
    if not isinstance(method, (str, list, tuple)):
        raise TypeError(
            f"`method` must be a finder's name or a list of names, got {method!r}."
        )
    methods = [method] if isinstance(method, str) else list(method)
    if len(methods) == 0:
        raise ValueError("`method` is an empty list.")
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"Unknown `method` {m!r}; choose from {METHODS}.")
    min_votes = kwargs.pop("min_votes", None)
    results = []
    for m in methods:
        if m == "template":
            results.append(find_atoms_template(img, sep, threshold=threshold, **kwargs))
        elif m == "log":
            results.append(find_atoms_log(img, sep, threshold=threshold))
        elif m == "sparse":
            from .sparse import find_atoms_sparse

            results.append(find_atoms_sparse(img, sep, threshold=threshold))
        else:
            results.append(find_atoms_local_max(img, sep, threshold=threshold))
    if len(results) == 1:
        return results[0]
    return consensus(results, sep, min_votes=min_votes)


def label_by_intensity(values, n_types=2, seed=0):
    """Split atoms into ``n_types`` classes by a 1D Gaussian mixture.

    Parameters
    ----------
    values : array_like
        One intensity per atom (e.g. the fitted amplitude or the peak value).
    n_types : int
        Number of atom types.
    seed : int
        Random state of the mixture fit, for reproducible labels.

    Returns
    -------
    numpy.ndarray
        Integer labels, 0 for the brightest class, ``n_types - 1`` for the
        dimmest.

    Examples
    --------
    >>> label_by_intensity([10, 11, 1, 2, 10.5, 1.5])
    array([0, 0, 1, 1, 0, 1])
    """
    from sklearn.mixture import GaussianMixture

    v = check_array(values, "values").reshape(-1, 1)
    n_types = check_integer(n_types, "n_types", minimum=1)
    seed = check_integer(seed, "seed", minimum=0, maximum=2**32 - 1)
    if len(v) < n_types:
        raise ValueError(
            f"Cannot split {len(v)} atom(s) into {n_types} types (`n_types`)."
        )
    if not np.all(np.isfinite(v)):
        raise ValueError("`values` contains NaN or infinite intensities.")
    if n_types == 1:
        return np.zeros(len(v), dtype=int)
    gm = GaussianMixture(n_types, random_state=seed, n_init=3).fit(v)
    raw = gm.predict(v)
    order = np.argsort(gm.means_.ravel())[::-1]
    rank = np.empty(n_types, int)
    rank[order] = np.arange(n_types)
    return rank[raw]
