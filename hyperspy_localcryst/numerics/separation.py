"""The smallest distance between atomic columns and their width, estimated from
the image without a lattice model.

- :func:`estimate_separation`: the distance between neighbouring columns
  (not the dominant lattice period: a dim sublattice sets it as soon as it is
  visible above the noise), from the significant maxima of the image and its
  autocorrelation.
- :func:`central_separation`: the same on the central
  :data:`ESTIMATE_PX`-pixel crop (:func:`central_crop`), the estimate every
  finder and signal method uses when no separation is given (a global
  statistic; the crop bounds its cost on large images).
- :func:`estimate_column_width`: the columns' Gaussian width from the central
  peak of the autocorrelation.

Positions are in pixels, x = column, y = row, pixel centres at integers.
"""

import numpy as np
import scipy.fft
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from ._checks import (
    check_image,
    check_positive,
)
from ._imaging import (
    _smooth,
    _unit_scale,
    in_strips,
    local_maxima,
    parabolic_vertex,
    ring_max,
    window_min_at,
)
from ._parallel import max_threads, nearest_distances
from .noise import estimate_noise, noise_variance

#: Longest side, in pixels, of the central crop on which :func:`find_atoms`
#: estimates the separation: a global statistic, and a 1024 x 1024 crop holds
#: hundreds of columns at any separation the finders accept there. On a 2048²
#: frame the crop saves 3/4 of the cost, on a 4096² one 15/16, on an 8192²
#: one the gigabytes of the whole image's autocorrelation.
ESTIMATE_PX = 1024

__all__ = [
    "ESTIMATE_PX",
    "central_crop",
    "central_separation",
    "estimate_separation",
    "estimate_column_width",
]


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
    >>> from hyperspy_localcryst.data.synthetic import make_lattice_image
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
    >>> from hyperspy_localcryst.data.synthetic import make_lattice_image
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
    min_separation = check_positive(
        min_separation, "min_separation", "pixels", noun="number of pixels"
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
    nn = nearest_distances(xy, tree)
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
            return _refine_peak_distance(
                sub, k + float(parabolic_vertex(a, b, c)), rmax
            )
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
    >>> from hyperspy_localcryst.data.synthetic import make_lattice_image
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
    # :func:`.noise.estimate_noise` times the kernel's L2 norm
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
        dx = float(parabolic_vertex(w[1, 0], w[1, 1], w[1, 2]))
        dy = float(parabolic_vertex(w[0, 1], w[1, 1], w[2, 1]))
    else:
        dx = dy = 0.0
    return float(np.hypot(ix + dx - rmax, iy + dy - rmax))


#: Sub-pixel offsets of maxima are clipped to +-0.49 px: a position is never
#: exactly on a pixel boundary, where the pixel nearest to it (the
#: refinement's window centre) would depend on rounding (a peak centred
#: between two pixels of a noise-free image, after a calibration round trip).
_SUBPIXEL_LIMIT = 0.49


def _subpixel(resp, rows, cols):
    """Positions of maxima of ``resp`` at (rows, cols) refined by a parabola
    through three samples along each axis (none on the image border)."""
    ny, nx = resp.shape
    r = np.clip(rows, 1, ny - 2)
    c = np.clip(cols, 1, nx - 2)
    dx = np.where(
        c == cols,
        parabolic_vertex(resp[r, c - 1], resp[r, c], resp[r, c + 1], _SUBPIXEL_LIMIT),
        0,
    )
    dy = np.where(
        r == rows,
        parabolic_vertex(resp[r - 1, c], resp[r, c], resp[r + 1, c], _SUBPIXEL_LIMIT),
        0,
    )
    return cols + dx, rows + dy
