"""Detection significance, single-pixel outliers and the contrast of columns.

A finder proposes positions; whether a column is really there is a question
of signal against noise (the noise model: :mod:`.noise`). This module:

- :func:`significance`: the response of a matched filter (a Gaussian of the
  column's width minus its mean over the window, so a flat local background
  gives zero) at each atom, divided by the standard deviation of that
  response under the noise model: a significance in standard deviations
  ("sigma"). Pure noise gives values of order 1 (standard normal); the
  automatic threshold :func:`significance_threshold` allows
  :data:`FALSE_ALARMS` = 0.05 false atoms in a whole image of noise (4.5
  sigma for 128 x 128 px, 5 from about 600 x 600 px on).
- :func:`find_outliers`, :func:`replace_outliers`: single-pixel spikes (hot or
  dead pixels, cosmic rays): a discrete Laplacian far above the noise and
  far above that of every neighbour (a column a few pixels wide, a smooth
  image or a scan-line streak has neighbours with similar curvature),
  replaced by the 3 x 3 median.
- :func:`decide_contrast`: bright columns (HAADF) or dark ones (ABF, many STM
  and iDPC images), when two indicators on the matched-filter significance
  map agree: its skewness (sharp bright peaks on a broad background skew it
  positive, dips negative) and the strength of its maxima against its
  minima.

Positions are in pixels, x = column, y = row, pixel centres at integers.
"""

import numpy as np
from numba import njit, prange
from scipy import ndimage as ndi

from ._checks import check_array, check_number, check_positive, check_xy, renamed
from ._imaging import _reflect, in_strips, local_maxima
from ._parallel import kd_query
from .noise import (
    _as_image,
    _check_noise,
    _noise_terms,
    noise_variance,
)

__all__ = [
    "MIN_SIGNIFICANCE",
    "FALSE_ALARMS",
    "significance_threshold",
    "CONTRASTS",
    "significance_map",
    "significance",
    "find_outliers",
    "replace_outliers",
    "decide_contrast",
    "oriented",
    "column_sigma",
    "centred_outside",
]

#: Largest automatic detection threshold, in standard deviations of the
#: matched-filter response under the image's own noise (one-sided Gaussian
#: false-alarm probability 2.9e-7 per position).
MIN_SIGNIFICANCE = 5.0

#: Expected number of false atoms per image of pure noise that the automatic
#: threshold (:func:`significance_threshold`) allows.
FALSE_ALARMS = 0.05

#: Values of the ``contrast`` arguments.
CONTRASTS = ("auto", "bright", "dark")


def column_sigma(separation):
    """Width (Gaussian sigma, px) assumed for a column at a given separation.

    A fifth of the separation, as the Laplacian-of-Gaussian finder uses, at
    least 0.7 px.

    Examples
    --------
    >>> column_sigma(12.0)
    2.4
    """
    sep = check_positive(separation, "separation", "a number of pixels")
    return max(sep / 5.0, 0.7)


def _kernels(sigma):
    """1D Gaussian of the matched filter and the window's half-width."""
    half = max(2, int(np.ceil(2.5 * sigma)))
    g = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    return g, half


def _separable(img, kx, ky, halo):
    def filt(a):
        return ndi.correlate1d(
            ndi.correlate1d(a, ky, axis=0, mode="constant"),
            kx,
            axis=1,
            mode="constant",
        )

    return in_strips(filt, img, halo)


def significance_map(image, sigma, noise=None, sign=1):
    """Matched-filter significance of a column centred on every pixel.

    Parameters
    ----------
    image : array_like
        2D image.
    sigma : float
        Gaussian width of a column, in pixels.
    noise : dict, optional
        Noise model (:func:`estimate_noise` of ``image`` when not given).
    sign : {1, -1}
        1 for bright columns (peaks), -1 for dark ones (dips).

    Returns
    -------
    numpy.ndarray
        Response of the zero-mean Gaussian filter (a Gaussian of width
        ``sigma`` minus its mean over a square window of half-width
        ``ceil(2.5 sigma)``, clipped to the image at its edges) divided by
        its standard deviation under the noise model, for each pixel.

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_lattice_image
    >>> img, truth = make_lattice_image((120, 100), spacing=20, sigma=3, seed=0)
    >>> z = significance_map(img, 3.0)
    >>> bool(z[int(truth["y"][0]), int(truth["x"][0])] > 5)
    True
    """
    img = _as_image(image)
    sig = check_positive(sigma, "sigma", "a width in pixels", noun="number of pixels")
    if sign not in (1, -1):
        raise ValueError(f"`sign` must be 1 (bright) or -1 (dark), got {sign!r}.")
    noise = _check_noise(noise, img)
    g, half = _kernels(sig)
    ones = np.ones(len(g))
    # the window is clipped at the image's edges (no reflected pixel counted
    # twice): the filter is g minus its mean over the part inside the image
    inside = np.ones_like(img)
    n_in = _separable(inside, ones, ones, half)
    c = _separable(inside, g, g, half) / n_in
    level = ndi.uniform_filter(img, 3, mode="reflect")
    v = noise_variance(noise, level)
    resp = _separable(img, g, g, half) - c * _separable(img, ones, ones, half)
    var = (
        _separable(v, g * g, g * g, half)
        - 2 * c * _separable(v, g, g, half)
        + c * c * _separable(v, ones, ones, half)
    )
    var = var * noise.get("excess", 1.0)
    return sign * resp / np.sqrt(np.maximum(var, 1e-300))


@renamed(neighbours="fit_neighbours")
def significance(
    image, x, y, sigma, noise=None, contrast="bright", fit_neighbours=True
):
    """Significance of each atom: its fitted amplitude over its noise.

    Parameters
    ----------
    image : array_like
        2D image.
    x, y : array_like
        Atom positions in pixels (every candidate: each is the others'
        neighbour).
    sigma : float
        Gaussian width of a column in pixels (e.g. :func:`column_sigma` of
        the separation).
    noise : dict, optional
        Noise model; :func:`estimate_noise` of ``image`` when not given.
    contrast : {"bright", "dark"}
        Columns are peaks or dips.
    fit_neighbours : bool
        True (default): in the window of half-width ``ceil(2.5 sigma)``
        around each atom, a weighted least-squares fit of a Gaussian of width
        ``sigma`` at the atom, a constant background and a Gaussian at each
        of the (up to 8) nearest other atoms whose tail reaches the window
        (those closer than ``1.5 sigma`` are the same column and left out);
        the significance is the atom's amplitude over its standard error
        under the noise model. A faint column beside bright ones (S beside
        Mo, O beside Ru) is measured above its own background, not above the
        mean of a window that holds its neighbours' tails. False: the
        matched filter of :func:`significance_map` (a Gaussian minus its
        mean over the window), interpolated at each atom. (Its old name
        ``neighbours`` still works, with a ``FutureWarning``.)

    Returns
    -------
    numpy.ndarray
        Significance of each atom in standard deviations of its amplitude
        under the noise model. Noise alone gives values of order 1; a column
        clearly above the noise, 5 or more.

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_lattice_image
    >>> img, truth = make_lattice_image((120, 100), spacing=20, sigma=3, seed=0)
    >>> z = significance(img, truth["x"], truth["y"], 3.0)
    >>> bool(z.min() > 5)
    True
    """
    img = _as_image(image)
    x, y = np.ascontiguousarray(check_xy(x, y).T)
    if contrast not in ("bright", "dark"):
        raise ValueError(f"`contrast` must be 'bright' or 'dark', got {contrast!r}.")
    if len(x) == 0:
        return np.empty(0)
    sign = 1 if contrast == "bright" else -1
    if not fit_neighbours:
        z = significance_map(img, sigma, noise, sign)
        return ndi.map_coordinates(z, [y, x], order=1, mode="nearest")
    sig = check_positive(sigma, "sigma", "a width in pixels", noun="number of pixels")
    noise = _check_noise(noise, img)
    return sign * _fitted_significance(img, noise, x, y, sig)


#: Most neighbouring columns modelled in a significance window.
_MAX_NEIGHBOURS = 8


def _fitted_significance(img, noise, x, y, sigma):
    """Amplitude over standard error of a Gaussian at each (x, y), fitted
    with a constant and the Gaussians of the nearest other positions in a
    window of half-width ceil(2.5 sigma), weights 1 / v: the noise model's
    variance at each pixel's 3 x 3 mean (reflected at the edges), times the
    model's excess. One compiled pass over the atoms (:func:`_significance_fits`)."""
    from scipy.spatial import cKDTree

    half = max(2, int(np.ceil(2.5 * sigma)))
    n = len(x)
    pts = np.column_stack([x, y])
    reach = half * np.sqrt(2) + 3 * sigma  # a Gaussian whose tail reaches in
    k = min(n, _MAX_NEIGHBOURS + 4)
    d, j = kd_query(
        cKDTree(pts), pts, k=list(range(1, k + 1)), distance_upper_bound=reach
    )
    ok = (d >= 1.5 * sigma) & np.isfinite(d)
    # the nearest _MAX_NEIGHBOURS of those (query sorts by distance)
    ok &= np.cumsum(ok, axis=1) <= _MAX_NEIGHBOURS
    rank = np.cumsum(ok, axis=1) - 1
    nb = np.full((n, _MAX_NEIGHBOURS), -1, dtype=np.int64)
    rows, cols = np.nonzero(ok)
    nb[rows, rank[rows, cols]] = j[rows, cols]
    return _significance_fits(
        np.ascontiguousarray(img, dtype=np.float64),
        *_noise_terms(noise),
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(y, dtype=np.float64),
        nb,
        float(sigma),
        half,
    )


@njit(cache=True, nogil=True, parallel=True)
def _significance_fits(img, a, b, floor, excess, x, y, nb, sigma, half):
    h, w = img.shape
    n = x.shape[0]
    m_nb = nb.shape[1]
    p = 2 + m_nb
    inv2s2 = 0.5 / sigma**2
    out = np.empty(n)
    for i in prange(n):
        M = np.zeros((p, p))
        rhs = np.zeros((p, 2))
        d = np.zeros(p)
        xn = np.empty(m_nb)
        yn = np.empty(m_nb)
        for q in range(m_nb):
            jq = nb[i, q]
            xn[q] = x[jq] if jq >= 0 else np.inf
            yn[q] = y[jq] if jq >= 0 else np.inf
        c0 = int(np.rint(x[i]))
        r0 = int(np.rint(y[i]))
        # separable Gaussians: exp(-(dx² + dy²) k) = ex[dx] ey[dy], per column
        nw = 2 * half + 1
        ex = np.zeros((p, nw))
        ey = np.zeros((p, nw))
        for t in range(nw):
            ex[0, t] = np.exp(-((c0 - half + t - x[i]) ** 2) * inv2s2)
            ey[0, t] = np.exp(-((r0 - half + t - y[i]) ** 2) * inv2s2)
            ex[1, t] = 1.0
            ey[1, t] = 1.0
            for q in range(m_nb):
                if np.isfinite(xn[q]):
                    ex[2 + q, t] = np.exp(-((c0 - half + t - xn[q]) ** 2) * inv2s2)
                    ey[2 + q, t] = np.exp(-((r0 - half + t - yn[q]) ** 2) * inv2s2)
        for dy in range(-half, half + 1):
            r = r0 + dy
            if r < 0 or r >= h:
                continue
            for dx in range(-half, half + 1):
                c = c0 + dx
                if c < 0 or c >= w:
                    continue
                # the 3 x 3 mean, reflected at the edges (scipy's "reflect")
                s3 = 0.0
                for u in range(-1, 2):
                    rr = r + u
                    rr = -rr - 1 if rr < 0 else (2 * h - rr - 1 if rr >= h else rr)
                    for t in range(-1, 2):
                        cc = c + t
                        cc = -cc - 1 if cc < 0 else (2 * w - cc - 1 if cc >= w else cc)
                        s3 += img[rr, cc]
                v = max(a + b * (s3 / 9.0), floor) * excess
                wt = 1.0 / v
                val = img[r, c]
                for u in range(p):
                    d[u] = ex[u, dx + half] * ey[u, dy + half]
                for u in range(p):
                    wd = wt * d[u]
                    rhs[u, 0] += wd * val
                    for t in range(u, p):
                        M[u, t] += wd * d[t]
        for u in range(p):
            for t in range(u):
                M[u, t] = M[t, u]
        # a neighbour absent or whose tail misses the image: its own unknown
        for u in range(2, p):
            if M[u, u] <= 1e-9 * M[0, 0]:
                for t in range(p):
                    M[u, t] = 0.0
                    M[t, u] = 0.0
                M[u, u] = 1.0
                rhs[u, 0] = 0.0
        rhs[0, 1] = 1.0
        sol = np.linalg.solve(M, rhs)
        out[i] = sol[0, 0] / np.sqrt(max(sol[0, 1], 1e-300))
    return out


def significance_threshold(n_pixels, false_alarms=FALSE_ALARMS):
    """Automatic detection threshold for an image of ``n_pixels`` pixels.

    The one-sided Gaussian tail that leaves ``false_alarms`` expected false
    atoms in an image of pure noise, a Bonferroni bound over its positions:
    the zero-mean matched filter decorrelates within about a pixel (the
    maximum of :func:`significance_map` over 512 x 512 noise images was
    measured at 4.1-5.3 sigma, about that of 200,000 independent values), so
    every pixel counts as a position. Between 3 and
    :data:`MIN_SIGNIFICANCE` sigma.

    Parameters
    ----------
    n_pixels : int
        Number of pixels searched.
    false_alarms : float
        Expected number of false atoms allowed in a pure-noise image.

    Returns
    -------
    float
        Threshold in sigma.

    Examples
    --------
    >>> round(significance_threshold(128 * 128), 2)
    4.52
    >>> significance_threshold(1024 * 1024)
    5.0
    """
    from scipy.stats import norm

    n = max(int(n_pixels), 1)
    fa = check_number(false_alarms, "false_alarms")
    if not 0 < fa < 1:
        raise ValueError(f"`false_alarms` must lie in (0, 1), got {fa}.")
    return float(np.clip(norm.isf(fa / n), 3.0, MIN_SIGNIFICANCE))


def find_outliers(image, noise=None, threshold=8.0, isolation=4.0):
    """Single-pixel outliers: hot or dead pixels, cosmic rays.

    A spike of height ``h`` on a smooth image gives the discrete Laplacian
    ``L = 8 I - (sum of the 8 neighbours) = 8 h`` at its pixel and only
    ``-h`` at each neighbour; a column several pixels wide, a smooth image or
    a streak along a scan line give similar values at a pixel and its
    neighbours.

    Parameters
    ----------
    image : array_like
        2D image.
    noise : dict, optional
        Noise model; :func:`estimate_noise` of ``image`` when not given.
    threshold : float
        ``|L|`` must exceed ``threshold`` standard deviations of ``L`` under
        the noise model (a spike about ``threshold`` pixel standard
        deviations high) ...
    isolation : float
        ... and ``isolation`` times the largest ``|L|`` of its 8 neighbours
        (8 for a lone spike, about 2.5 at the centre of a column of width
        1 px). Two adjacent spikes hide each other: single pixels only.

    Returns
    -------
    numpy.ndarray of bool
        True at outliers.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> img = rng.poisson(20.0, (64, 80)).astype(float)
    >>> img[10, 30] = 500.0
    >>> np.argwhere(find_outliers(img)).tolist()
    [[10, 30]]
    """
    img = _as_image(image)
    noise = _check_noise(noise, img)
    thr = check_number(threshold, "threshold")
    iso = check_number(isolation, "isolation")
    return _outlier_mask(
        np.ascontiguousarray(img, dtype=np.float64),
        *_noise_terms(noise),
        float(thr),
        float(iso),
    )


@njit(cache=True, nogil=True)
def _abs_laplacian(img, r, c):
    """``|9 I - 9 (3 x 3 mean)|`` at (r, c), reflected at the edges, and the
    3 x 3 mean."""
    h, w = img.shape
    s3 = 0.0
    for u in range(-1, 2):
        rr = _reflect(r + u, h)
        for t in range(-1, 2):
            s3 += img[rr, _reflect(c + t, w)]
    mean = s3 / 9.0
    return abs(9.0 * img[r, c] - 9.0 * mean), mean


@njit(cache=True, nogil=True, parallel=True)
def _outlier_mask(img, a, b, floor, excess, thr, iso):
    """The test of :func:`find_outliers` in one compiled pass: a pixel whose
    ``|L|`` exceeds ``thr`` standard deviations, then ``iso`` times the
    ``|L|`` of each of its 8 neighbours."""
    h, w = img.shape
    out = np.zeros((h, w), dtype=np.bool_)
    for r in prange(h):
        for c in range(w):
            al, mean = _abs_laplacian(img, r, c)
            sd = np.sqrt(72.0 * max(a + b * mean, floor) * excess)
            if not al > thr * sd:
                continue
            ok = True
            for u in range(-1, 2):
                rr = _reflect(r + u, h)
                for t in range(-1, 2):
                    if u == 0 and t == 0:
                        continue
                    an, _ = _abs_laplacian(img, rr, _reflect(c + t, w))
                    if not al > iso * an:
                        ok = False
                        break
                if not ok:
                    break
            out[r, c] = ok
    return out


def replace_outliers(image, mask):
    """A copy of ``image`` with the pixels of ``mask`` set to their 3 x 3 median.

    The median ignores the other outliers when they are adjacent (a cluster
    of hot pixels).

    Examples
    --------
    >>> img = np.arange(25.0).reshape(5, 5)
    >>> img[2, 2] = 1000.0
    >>> float(replace_outliers(img, img > 100)[2, 2])
    12.0
    """
    img = _as_image(image)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != img.shape:
        raise ValueError(
            f"`mask` has shape {mask.shape}, the image {img.shape}: they must match."
        )
    out = img.copy()
    if not mask.any():
        return out
    clean = np.where(mask, np.nan, img)
    pad = np.pad(clean, 1, mode="reflect")
    iy, ix = np.nonzero(mask)
    win = np.stack(
        [pad[iy + dy, ix + dx] for dy in range(3) for dx in range(3)], axis=1
    )
    fallback = np.median(img[~mask]) if (~mask).any() else 0.0
    ok = np.isfinite(win).any(axis=1)
    vals = np.full(len(iy), fallback)
    vals[ok] = np.nanmedian(win[ok], axis=1)
    out[iy, ix] = vals
    return out


def decide_contrast(image, sigma, noise=None, separation=None):
    """Are the columns bright peaks or dark dips?

    Two tests, either of which decides ``"dark"``; noise, flat images and
    ambiguous patterns stay ``"bright"``.

    1. On the matched-filter significance map (edges of one window left
       out), two indicators must agree:

       - its skewness: sharp peaks on a broad background skew it positive,
         sharp dips negative; ``"dark"`` needs it below -0.25 (raw ABF: -0.4
         to -2; a two-phase HAADF survey: -0.11);
       - the extrema ratio: the median significance of the strongest local
         maxima over that of the strongest local minima (as many of each as
         columns fit in the image at ``separation``, each at least half a
         separation apart); ``"dark"`` needs it below 1. Rare deep holes
         (the corner holes of an STM Si(111)-7x7 image) skew the map but do
         not outnumber the atoms.

    2. On a square lattice of broad columns the matched filter sees the gaps
       between four columns as columns too, and the map is nearly symmetric
       (skewness -0.02 for dark columns of width 0.25 separations without
       photon noise). The columns are still the *sharp* extrema and the gaps
       the flat ones: on the image smoothed at half the column width, minus
       its blur over one separation (slow gradients of thickness or height
       removed; a border of two separations left out),

       - the sharpness ratio: the median absolute Laplacian at the strongest
         local maxima over that at the strongest local minima (as many as
         above); ``"dark"`` needs it below 0.5 (dark lattices of width up
         to 0.28 separations without photon noise or at high dose:
         0.01-0.5; bright lattices 1.5 and more; real HAADF and iDPC
         images 2-47; STM: TiSe2 0.86, the corner holes of Si(111)-7x7
         0.8-1.2);
       - the skewness of that band-passed image, which must be below -0.3
         (dark lattices: -0.33 to -2.4; the Si(111)-7x7 step image -0.28
         with sharpness 1.2; pure noise within 0.15 of 0).

    An image of fewer than about 9 columns (3 x 3 separations) says too
    little: it stays ``"bright"``; give ``contrast`` explicitly there.

    Parameters
    ----------
    image : array_like
        2D image.
    sigma : float
        Gaussian width of a column, in pixels.
    noise : dict, optional
        Noise model; :func:`estimate_noise` of ``image`` when not given.
    separation : float, optional
        Column separation in pixels; default ``5 * sigma``.

    Returns
    -------
    contrast : str
        ``"bright"`` or ``"dark"``.
    info : dict
        ``skewness`` and ``extrema_ratio`` (test 1), ``sharpness_ratio`` and
        ``band_skewness`` (test 2), and ``test``: the test that decided
        ``"dark"`` (1, or 2 where test 1 did not), 0 for ``"bright"``.

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_lattice_image
    >>> img, _ = make_lattice_image(
    ...     (120, 100), spacing=15, sigma=2, lattice="hexagonal", seed=0
    ... )
    >>> decide_contrast(img, 3.0)[0], decide_contrast(img.max() - img, 3.0)[0]
    ('bright', 'dark')
    """
    img = _as_image(image)
    sig = check_number(sigma, "sigma", "a width in pixels")
    sep = 5.0 * sig if separation is None else check_number(separation, "separation")
    if not (np.isfinite(sep) and sep > 0):
        raise ValueError(f"`separation` must be a positive number, got {sep}.")
    z = significance_map(img, sig, noise)
    _, half = _kernels(sig)
    if min(z.shape) > 4 * half + 4:
        z = z[half:-half, half:-half]
    skew = _skewness(z)
    n = max(1, int(z.size / sep**2))
    md = max(1, int(round(sep / 2)))
    (r1, c1), (r2, c2) = _strongest_extrema(z, md, n)
    ratio = _median_ratio(z[r1, c1], -z[r2, c2])
    sharp, band_skew = _sharpness(img, sig, sep, md)
    test1 = skew < -0.25 and ratio < 1.0
    test2 = sharp < 0.5 and band_skew < -0.3
    # fewer than ~9 columns' worth of image: too little to tell, stay bright
    enough = z.size >= 9 * sep**2
    info = {
        "skewness": skew,
        "extrema_ratio": ratio,
        "sharpness_ratio": sharp,
        "band_skewness": band_skew,
        "test": (1 if test1 else 2 if test2 else 0) if enough else 0,
    }
    return ("dark" if info["test"] else "bright"), info


def _strongest_extrema(field, min_distance, n, border=0):
    """``[(rows, cols) of maxima, (rows, cols) of minima]``: the ``n``
    strongest local maxima and minima of ``field``, ``min_distance`` apart,
    those within ``border`` pixels of the edge left out."""
    out = []
    for sign in (1, -1):
        rows, cols = local_maxima(sign * field, min_distance)
        if border:
            keep = (rows >= border) & (rows < field.shape[0] - border)
            keep &= (cols >= border) & (cols < field.shape[1] - border)
            rows, cols = rows[keep], cols[keep]
        out.append((rows[:n], cols[:n]))
    return out


def _median_ratio(top, bottom):
    """Median of ``top`` over median of ``bottom`` (an empty set counts 0;
    infinite when the bottom median is not positive)."""
    med = [float(np.median(v)) if len(v) else 0.0 for v in (top, bottom)]
    return med[0] / med[1] if med[1] > 0 else np.inf


def _skewness(values):
    """Sample skewness of an array (0 for a constant one)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v - v.mean()
    s2 = float(np.mean(v**2))
    return float(np.mean(v**3) / s2**1.5) if s2 > 0 else 0.0


def _sharpness(img, sigma, separation, min_distance):
    """``(sharpness ratio, band skewness)`` of :func:`decide_contrast`.

    The image smoothed at ``sigma / 2`` minus its blur at ``separation``;
    the strongest maxima and minima of that band-passed image (as many as
    columns fit, ``min_distance`` apart, outside a border of two
    separations when the image is large enough) and the median absolute
    Laplacian of the smoothed image at each set.
    """
    smooth = ndi.gaussian_filter(img, sigma / 2.0)
    band = smooth - ndi.gaussian_filter(img, separation)
    lap = ndi.laplace(smooth)
    m = int(2 * separation)
    inner = min(band.shape) > 4 * m
    core = band[m:-m, m:-m] if inner else band
    n = max(1, int(core.size / separation**2))
    (r1, c1), (r2, c2) = _strongest_extrema(band, min_distance, n, m if inner else 0)
    sharp = _median_ratio(np.abs(lap[r1, c1]), np.abs(lap[r2, c2]))
    return sharp, _skewness(core)


def oriented(image, contrast):
    """The image with columns as peaks: itself, or reversed for dark columns.

    ``min + max - image`` keeps the range (and non-negative values
    non-negative), so finders that need positive data work unchanged.

    Examples
    --------
    >>> oriented(np.array([[0.0, 1.0], [3.0, 4.0]]), "dark").tolist()
    [[4.0, 3.0], [1.0, 0.0]]
    """
    if contrast not in ("bright", "dark"):
        raise ValueError(f"`contrast` must be 'bright' or 'dark', got {contrast!r}.")
    img = np.asarray(image, dtype=np.float64)
    if contrast == "bright":
        return img
    return (img.min() + img.max()) - img


#: Candidates this many separations or less from the frame's outermost pixel
#: centres are checked by :func:`centred_outside`.
_EDGE_BAND = 0.5


def centred_outside(image, x, y, separation):
    """Which candidates at the image's edge are columns centred outside it.

    A column whose centre lies beyond the edge shows only its flank, and a
    finder puts its maximum on or near the outermost pixels. The candidates
    within half a separation of the outermost pixel centres (or half a
    pixel, if more) are fitted with their neighbours within 3
    separations (the neighbours' neighbours shape their fits too) and the
    refinement's five passes, as the refinement fits them (round Gaussians on constant
    backgrounds, neighbours subtracted, window of half the separation; least
    squares, blind to an offset and a gain; see
    :func:`hyperspy_localcryst.numerics.refinement.refine_gaussians`); one
    is centred outside when its fit converges to a centre beyond the
    outermost pixel centres (half-columns centred in the outer half pixel
    are not told from those just outside), lands outside the frame, or runs
    off by more than its window. Such a column is not in the image: its
    refinement could only place it outside. An image less than 5 pixels on
    a side is too small to fit a column in: nothing is reported there,
    whatever the separation.

    Parameters
    ----------
    image : array_like
        2D image with bright columns (orient a dark image first, see
        :func:`oriented`).
    x, y : array_like
        Candidate positions in pixels.
    separation : float
        Smallest column distance in pixels (sets the fitting window).

    Returns
    -------
    numpy.ndarray of bool
        True where a candidate is centred outside the frame.

    Examples
    --------
    >>> yy, xx = np.mgrid[:40, :50]
    >>> img = 10 + 100 * np.exp(-((xx - 49.6) ** 2 + (yy - 30) ** 2) / 8.0)
    >>> img += 100 * np.exp(-((xx - 48.6) ** 2 + (yy - 8) ** 2) / 8.0)
    >>> centred_outside(img, [49, 49], [30, 8], 12.0).tolist()
    [True, False]
    """
    from ._fit_kernels import _S_MOVED, _S_OUTSIDE
    from .centroids import auto_weights
    from .refinement import refine_gaussians

    img = _as_image(image)
    x = check_array(x, "x", ndim=1, finite=True)
    y = check_array(y, "y", ndim=1, finite=True)
    sep = check_number(separation, "separation", "a number of pixels")
    ny, nx = img.shape
    out = np.zeros(len(x), bool)
    band = max(0.5, _EDGE_BAND * sep)
    edge = (x < band) | (y < band) | (x > nx - 1 - band) | (y > ny - 1 - band)
    if not np.any(edge) or min(nx, ny) < 5:
        return out
    # the edge candidates and their neighbours, fitted together as the
    # refinement would (neighbours subtracted, widths from the group)
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([x, y]))
    near = np.zeros(len(x), bool)
    for nb in tree.query_ball_point(np.column_stack([x[edge], y[edge]]), 3.0 * sep):
        near[nb] = True
    radius = max(1.5, 0.5 * sep)
    # least squares: blind to an offset and a gain, as the finder is (no
    # warnings.catch_warnings here: this runs in the frames' worker threads);
    # levelled as the refinement's defaults level: where they fit by least
    # squares (a topograph, or dark columns turned into peaks), by the rule of
    # level="auto" (a plane that would pull the columns), never for counts
    fit = refine_gaussians(
        img,
        x[near],
        y[near],
        radius,
        weights="uniform",
        max_passes=5,
        warn=False,
        level="auto" if auto_weights(img) == "uniform" else "none",
    )
    # outside, or within the outer half pixel (centres there are not told
    # from those just outside: two fits of one such column, e.g. of the
    # raw dips and of the inverted image, land either side of the edge)
    fx, fy, st = fit["x"], fit["y"], fit["fit_status"]
    beyond = (st <= 1) & ((fx < 0) | (fy < 0) | (fx > nx - 1) | (fy > ny - 1))
    out = np.zeros(len(x), bool)
    # (a fit that runs off by more than the window from an edge seed
    # follows the flank outward)
    out[near] = beyond | (st == _S_OUTSIDE) | (st == _S_MOVED)
    return edge & out
