"""Sparse-representation atom finder (the seeds' third prong).

The image is modelled as a sum of copies of one column profile (a Gaussian
of the columns' width) at a sparse set of pixels with non-negative weights,
``image - background = h * c + noise``, and ``c`` is found by non-negative
sparse deconvolution: the L1-penalised least-squares problem

    minimise 0.5 ||y - h * c||**2 + lam ||c||_1  subject to  c >= 0

solved by FISTA (Beck & Teboulle 2009) with FFT convolutions. Columns are
then the weighted centroids of the clusters of non-zero coefficients. Two
overlapping columns whose sum has a single maximum after smoothing, which
thresholded correlation merges into one blob, remain two clusters of
coefficients, down to about twice their width apart.

Positions are in pixels, x = column, y = row, pixel centres at integers.
"""

import numpy as np
import scipy.fft
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from ._checks import (
    _check_separation,
    _threshold,
    check_image,
    check_integer,
    check_number,
)
from ._imaging import _smooth, in_strips, local_maxima
from ._parallel import kd_query, max_threads
from .separation import _noise_std, estimate_column_width

__all__ = ["find_atoms_sparse", "sparse_deconvolution"]


def find_atoms_sparse(
    image, separation, threshold="auto", sigma=None, max_iter=300, penalty=3.0
):
    """Find columns by non-negative sparse deconvolution of the image.

    1. Single-pixel outliers (more than 8 noise standard deviations from
       the median of their 3 x 3 neighbourhood) are replaced by that median:
       a hot pixel cannot be represented by the column profile and would
       otherwise become a heavy coefficient.
    2. The background, a grey opening of the image smoothed at the column
       width, with a square of twice the separation, smoothed at one
       separation, is subtracted.
    3. :func:`sparse_deconvolution` by a Gaussian of width ``sigma`` (FISTA,
       L1 penalty ``penalty`` times the noise of the profile-filtered image,
       non-negative coefficients).
    4. Atoms are the local maxima, at least ``0.4 separation`` apart, of
       the coefficient map blurred at ``min(sigma, separation / 4)`` (which
       joins the pieces of one column whose profile, probe tails included,
       differs from the Gaussian model); each takes the positive
       coefficients nearest to it within half the separation, and lies at
       their weighted centroid, with their sum (the column's integrated
       intensity) as ``score``.
    5. Atoms lighter than ``threshold`` are dropped.

    Parameters
    ----------
    image : numpy.ndarray
        2D image, bright columns.
    separation : float
        Smallest column separation, in pixels.
    threshold : float or "auto"
        Smallest integrated intensity of a column (image units times
        pixels); ``"auto"``: 5 times the standard deviation of a column's
        integrated intensity due to the image noise (``2 sqrt(pi) sigma``
        times the pixel noise, estimated from the image), and at least 5 %
        of the 90th percentile of the atoms' intensities.
    sigma : float, optional
        Gaussian width of the column profile in pixels; default
        :func:`~hyperspy_localcryst.numerics.separation.estimate_column_width`,
        at most ``separation / 2``.
    max_iter : int
        FISTA iterations (each two FFTs of the padded image).
    penalty : float
        L1 weight in units of the noise of the profile-filtered image.

    Returns
    -------
    dict
        ``x``, ``y`` (pixels) and ``score`` (integrated intensity).

    Examples
    --------
    Two columns of width 3 px only 7 px apart (2.3 widths: one blob after
    any smoothing) next to a single one:

    >>> from hyperspy_localcryst.data.synthetic import render_gaussians
    >>> x, y = np.array([20.0, 27.0, 45.0]), np.array([30.0, 31.0, 20.0])
    >>> img = render_gaussians((50, 64), x, y, 100.0, 3.0, background=10.0)
    >>> found = find_atoms_sparse(img, separation=7, sigma=3.0)
    >>> order = np.argsort(found["x"])
    >>> np.round(found["x"][order]).tolist(), np.round(found["y"][order]).tolist()
    ([20.0, 27.0, 45.0], [30.0, 31.0, 20.0])
    """
    img = check_image(image)
    sep = _check_separation(separation, img.shape)
    thr = _threshold(threshold, 0.0)
    if sigma is None:
        sig = min(estimate_column_width(img), 0.5 * sep)
    else:
        sig = check_number(sigma, "sigma", "a width in pixels")
        if not (np.isfinite(sig) and 0.3 <= sig <= max(img.shape)):
            raise ValueError(
                f"`sigma` must be a column width in pixels between 0.3 and the "
                f"image size, got {sig}."
            )
    max_iter = check_integer(max_iter, "max_iter", minimum=1)
    penalty = check_number(penalty, "penalty", "a multiple of the noise")
    if not (np.isfinite(penalty) and penalty >= 0):
        raise ValueError(f"`penalty` must be a finite number >= 0, got {penalty}.")
    # work on the image scaled by a power of two (exact): the result does not
    # depend on the detector's gain
    e = int(np.frexp(np.max(np.abs(img)))[1])
    work = np.ldexp(img, -e)
    noise = _noise_std(work)
    work = _remove_outliers(work, noise)
    work = work - _background(work, sig, sep)
    # the noise of the profile-filtered image: noise * ||h||_2
    lam = penalty * noise / (2.0 * np.sqrt(np.pi) * sig)
    coef = sparse_deconvolution(work, sig, lam, max_iter)
    x, y, mass = _clusters(coef, sig, sep)
    ny, nx = img.shape
    inside = (x > -1) & (y > -1) & (x < nx) & (y < ny)
    x, y, mass = (
        np.clip(x[inside], 0, nx - 1),
        np.clip(y[inside], 0, ny - 1),
        mass[inside],
    )
    if thr is None:
        floor = 5.0 * 2.0 * np.sqrt(np.pi) * sig * noise
        if len(mass):
            floor = max(floor, 0.05 * float(np.percentile(mass, 90)))
    else:
        floor = np.ldexp(thr, -e)
    keep = mass > floor
    return {"x": x[keep], "y": y[keep], "score": np.ldexp(mass[keep], e)}


def sparse_deconvolution(image, sigma, penalty, max_iter=300, tol=1e-4):
    """Non-negative sparse deconvolution of ``image`` by a Gaussian.

    FISTA on ``0.5 ||image - h * c||**2 + penalty * sum(c)``, ``c >= 0``,
    where ``h`` is a Gaussian of width ``sigma`` with unit sum (so that
    ``c`` holds integrated intensities and the gradient's Lipschitz constant
    is 1). Convolutions by FFT of the image reflect-padded by 4 sigma.

    Parameters
    ----------
    image : numpy.ndarray
        2D image with its background removed.
    sigma : float
        Gaussian width of the profile, pixels.
    penalty : float
        L1 weight (image units).
    max_iter : int
        Maximum number of iterations.
    tol : float
        Stop when an iteration changes the coefficients by less than ``tol``
        times their sum (L1 norms).

    Returns
    -------
    numpy.ndarray
        Coefficients, the image's shape, float32.

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import render_gaussians
    >>> img = render_gaussians((32, 40), [12.0], [20.0], 50.0, 2.0)
    >>> c = sparse_deconvolution(img, 2.0, 0.01)
    >>> np.unravel_index(np.argmax(c), c.shape)
    (np.int64(20), np.int64(12))
    >>> bool(abs(c.sum() / (2 * np.pi * 2.0**2 * 50.0) - 1) < 0.05)  # the volume
    True
    """
    img = np.asarray(image, dtype=np.float64)
    pad = int(np.ceil(4 * sigma)) + 1
    ny, nx = img.shape
    big = np.pad(img, pad, mode="reflect")
    shape = tuple(scipy.fft.next_fast_len(n, real=True) for n in big.shape)
    # the unit-sum Gaussian's transfer function (periodic, real, <= 1)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    h = np.exp(-2.0 * np.pi**2 * sigma**2 * (fx**2 + fy**2)).astype(np.float32)
    h2 = h * h
    w = max_threads()
    y = np.zeros(shape, np.float32)
    y[: big.shape[0], : big.shape[1]] = big
    # outside the padded image the data are unknown: zero, and the
    # coefficients there are not used
    b = scipy.fft.irfft2(scipy.fft.rfft2(y, workers=w) * h, s=shape, workers=w)
    b = b.astype(np.float32)
    lam = np.float32(penalty)
    c = np.zeros(shape, np.float32)
    z = c.copy()
    t = 1.0
    for _ in range(max_iter):
        grad = scipy.fft.irfft2(scipy.fft.rfft2(z, workers=w) * h2, s=shape, workers=w)
        c_new = z - grad
        c_new += b
        c_new -= lam
        np.maximum(c_new, 0, out=c_new)
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        diff = c_new - c
        change = float(np.abs(diff).sum())
        z = c_new + np.float32((t - 1.0) / t_new) * diff
        c, t = c_new, t_new
        total = float(c.sum())
        if total > 0 and change < tol * total:
            break
    return c[pad : pad + ny, pad : pad + nx]


def _remove_outliers(img, noise):
    """Pixels more than 8 noise standard deviations from the median of
    their 3 x 3 neighbourhood, replaced by that median."""
    if noise <= 0:
        return img
    med = in_strips(lambda a: ndi.median_filter(a, size=3, mode="reflect"), img, 1)
    bad = np.abs(img - med) > 8.0 * noise
    if not bad.any():
        return img
    return np.where(bad, med, img)


def _background(img, sigma, sep):
    """Grey opening of the image smoothed at ``sigma`` with a square of
    about twice the separation, smoothed at one separation."""
    s = in_strips(lambda a: ndi.gaussian_filter(a, sigma), img, 4 * sigma + 1)
    size = int(round(2 * sep)) | 1
    half = size // 2
    low = in_strips(lambda a: ndi.minimum_filter(a, size=size), s, half)
    opened = in_strips(lambda a: ndi.maximum_filter(a, size=size), low, half)
    return _smooth(opened, sep)


def _clusters(coef, sigma, sep):
    """Atoms from the coefficient map: the local maxima of the map blurred
    at ``min(sigma, sep / 4)`` at least ``0.4 sep`` apart, each taking the
    positive coefficients nearest to it (within ``sep / 2``); weighted
    centroids and summed weights."""
    if not np.any(coef > 0):
        return np.empty(0), np.empty(0), np.empty(0)
    blur = min(sigma, 0.25 * sep)
    b = in_strips(lambda a: ndi.gaussian_filter(a, blur), coef, 4 * blur + 1)
    rows, cols = local_maxima(b, max(1, int(0.4 * sep)), threshold=0.0)
    if len(rows) == 0:
        return np.empty(0), np.empty(0), np.empty(0)
    pr, pc = np.nonzero(coef > 0)
    w = coef[pr, pc].astype(np.float64)
    _, owner = kd_query(
        cKDTree(np.column_stack([cols, rows])),
        np.column_stack([pc, pr]),
        distance_upper_bound=0.5 * sep,
    )
    ok = owner < len(rows)
    n = len(rows)
    mass = np.bincount(owner[ok], w[ok], n)
    good = mass > 0
    x = np.bincount(owner[ok], w[ok] * pc[ok], n)[good] / mass[good]
    y = np.bincount(owner[ok], w[ok] * pr[ok], n)[good] / mass[good]
    return x, y, mass[good]
