"""The noise of an image, measured on the image itself.

- :func:`estimate_noise`: the noise of the image, from a fourth-order
  difference of neighbouring pixels (the kernel ``[1, -2, 1]`` outer
  ``[1, -2, 1]``, which cancels every smooth structure up to the terms in
  ``x^2 y^2``: the atoms barely enter it), robustly (median absolute value in
  bins of the local mean), as a variance model ``a + b * mean`` so that shot
  noise (variance proportional to the signal) and read-out noise (constant)
  are both described. A constant offset of each scan row or column cancels
  in the difference.
- :func:`noise_variance`: the model's pixel variance at given levels.
- :func:`noise_follows_counts`: whether the variance grows with the level
  (counts: Poisson weights in the refinement) or not.

Used by the detection tests (:mod:`.detection`), the finders' thresholds and
the refinement's weights.
"""

import numpy as np
from scipy import ndimage as ndi

from ._checks import check_image

__all__ = ["estimate_noise", "noise_variance", "noise_follows_counts"]

# the fourth-order difference kernel and its noise gain (sum of squares = 36)
_K1 = np.array([1.0, -2.0, 1.0])
_MAX_SAMPLES = 2_000_000
_N_BINS = 16
_MAD = 1.482602218505602  # 1 / Phi^-1(3/4): MAD -> standard deviation
# 1.4826 median |I - median3x3(I)| of white Gaussian noise, in pixel sd
_MEDIAN_WHITE = 0.86


def _as_image(image, name="image"):
    """The image checks of :func:`check_image`, a constant image allowed."""
    return check_image(image, name, allow_constant=True)


def estimate_noise(image):
    """Estimate the noise of an image from the image itself.

    Parameters
    ----------
    image : array_like
        2D image (any units, any offset).

    Returns
    -------
    dict
        ``a``, ``b``: the variance of a pixel whose local mean is ``m`` is
        ``a + b * m`` (floored at ``floor``), ``floor``; ``excess``: the
        factor (>= 1) by which noise correlated between neighbouring pixels
        (scan-line streaks) raises the variance seen at the scale of a few
        pixels (multiplies the variance of filter responses); ``sd``: the
        median standard deviation of a pixel over the image; ``levels``,
        ``variances``: the binned local means and robust variances the model
        was fitted to.

    Notes
    -----
    Each pixel's 3 x 3 neighbourhood gives the fourth-order difference
    ``d = (D2x D2y I) / 6`` (variance of white noise unchanged). Binned by the
    local 3 x 3 mean into 16 quantile bins, the variance of each bin is
    ``(1.4826 median |d|)^2``, robust to the few pixels at sharp structure
    and to outliers. A line ``a + b * m`` is fitted (weights proportional to
    1 / variance), through the origin when it would cross zero at a positive
    level (shot noise alone). A negative ``b`` is kept (e.g. an image that
    was reversed, whose noise falls with the level); the floor, a quarter of
    the smallest binned variance, keeps every variance positive.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> img = rng.normal(100.0, 3.0, (256, 256))
    >>> round(float(estimate_noise(img)["sd"]), 1)
    3.0
    >>> counts = rng.poisson(50.0, (256, 256)).astype(float)
    >>> noise = estimate_noise(counts)
    >>> round(float(noise_variance(noise, 50.0)), -1)
    50.0
    """
    img = _as_image(image)
    levels, var, d = _binned_variances(img)
    good = var > 0
    if not np.any(good):
        # quantised image without noise (e.g. flat areas): the smallest
        # non-zero difference sets the scale
        nz = np.abs(d[d != 0])
        v0 = float(np.min(nz) ** 2) if len(nz) else 1.0
        return _model(v0, 0.0, v0, levels, var, img)
    lv, vv = levels[good], var[good]
    a, b = float(np.median(vv)), 0.0
    if np.ptp(lv) > 0 and len(lv) >= 3:
        w = 1.0 / vv
        b_, a_ = np.polyfit(lv, vv, 1, w=w)
        if lv.min() >= 0 and a_ < 0:  # pure shot noise: through the origin
            a_ = 0.0
            b_ = float(np.sum(w**2 * lv * vv) / np.sum(w**2 * lv * lv))
        a, b = float(a_), float(b_)
    floor = 0.25 * float(np.min(vv))
    return _model(a, b, floor, levels, var, img)


def _binned_variances(img):
    """Local means and robust noise variances of an image in quantile bins.

    Each pixel's 3 x 3 fourth-order difference ``d = (D2x D2y I) / 6``
    (variance of white noise unchanged), binned by the local 3 x 3 mean into
    ``_N_BINS`` quantile bins: each bin's mean level and variance
    ``(1.4826 median |d|)^2``. Returns ``levels``, ``variances`` and the
    (sampled) differences."""
    d = (
        img[:-2, :-2]
        - 2 * img[:-2, 1:-1]
        + img[:-2, 2:]
        - 2 * (img[1:-1, :-2] - 2 * img[1:-1, 1:-1] + img[1:-1, 2:])
        + img[2:, :-2]
        - 2 * img[2:, 1:-1]
        + img[2:, 2:]
    ) / 6.0
    m = ndi.uniform_filter(img, 3, mode="nearest")[1:-1, 1:-1]
    step = int(np.ceil(np.sqrt(d.size / _MAX_SAMPLES)))
    d = d[::step, ::step].ravel()
    m = m[::step, ::step].ravel()
    order = np.argsort(m, kind="stable")
    groups = np.array_split(order, _N_BINS)
    levels = np.array([np.mean(m[g]) for g in groups])
    var = np.array([(_MAD * np.median(np.abs(d[g]))) ** 2 for g in groups])
    return levels, var, d


def noise_follows_counts(image):
    """Whether an image's noise grows with its level as counts' noise does.

    Counts' variance is their level: from the darkest third of the local
    levels to the brightest third (:func:`estimate_noise`'s bins, medians of
    each third) it grows by the ratio of the levels, ``r``. The image is
    taken for counts when its measured variance grows by at least
    ``sqrt(r)`` (half of that, on a log scale), or when ``r < 2`` (a level
    range so small next to its offset that Poisson weights are nearly
    uniform, and the noise cannot tell), or when the dark third has no noise
    at all and the bright third has. Not counts: a topograph stored as
    positive heights (its noise does not follow the height), a processed
    image whose noise falls with the level.

    Parameters
    ----------
    image : array_like
        2D image with no negative pixel, at least 3 x 3 pixels.

    Returns
    -------
    bool

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> lam = np.linspace(5.0, 500.0, 64)[None, :] * np.ones((64, 1))
    >>> noise_follows_counts(rng.poisson(lam).astype(float))
    True
    >>> noise_follows_counts(lam + rng.normal(0.0, 3.0, lam.shape))
    False
    """
    img = _as_image(image)
    levels, var, _ = _binned_variances(img)
    third = max(1, _N_BINS // 3)
    lo, hi = np.median(levels[:third]), np.median(levels[-third:])
    v_lo, v_hi = np.median(var[:third]), np.median(var[-third:])
    if v_lo <= 0:
        return bool(v_hi > 0)
    if lo > 0 and hi < 2 * lo:
        return True
    return bool(lo > 0 and v_hi * v_hi >= v_lo * v_lo * hi / lo)


def _model(a, b, floor, levels, var, img=None):
    out = {"a": a, "b": b, "floor": floor, "levels": levels, "variances": var}
    out["excess"] = 1.0 if img is None else _excess(img, out)
    out["sd"] = float(np.sqrt(np.median(noise_variance(out, levels))))
    return out


def _excess(img, noise):
    """Variance of the noise between neighbouring pixels not seen by the
    fourth-order difference (e.g. STM scan-line streaks, smooth along x):
    from the deviation of each pixel from its 3 x 3 median, whose median
    absolute value is 0.86 pixel standard deviations for white noise.
    1 for white noise; never below 1."""
    step = int(np.ceil(np.sqrt(img.size / _MAX_SAMPLES)))
    # the 3 x 3 median of each interior pixel (scipy's filter: one frame of
    # memory, where a stack of the nine shifted views took twenty)
    med = ndi.median_filter(img, size=3, mode="nearest")[1:-1:step, 1:-1:step]
    r = img[1:-1:step, 1:-1:step] - med
    sd = np.sqrt(noise_variance(noise, med))
    ratio = _MAD * float(np.median(np.abs(r) / sd)) / _MEDIAN_WHITE
    return max(1.0, ratio**2)


def noise_variance(noise, level):
    """Variance of the noise at a local mean ``level`` under a noise model.

    Parameters
    ----------
    noise : dict
        From :func:`estimate_noise`.
    level : float or numpy.ndarray
        Local mean of the image.

    Returns
    -------
    float or numpy.ndarray
        ``max(a + b * level, floor)``.

    Examples
    --------
    >>> noise_variance({"a": 1.0, "b": 2.0, "floor": 0.5}, np.array([-1.0, 3.0]))
    array([0.5, 7. ])
    """
    return np.maximum(noise["a"] + noise["b"] * np.asarray(level), noise["floor"])


def _noise_terms(noise):
    """``(a, b, floor, excess)`` of a noise model, as floats for the compiled
    kernels: a pixel's variance is ``max(a + b * level, floor) * excess``."""
    return (
        float(noise["a"]),
        float(noise["b"]),
        float(noise["floor"]),
        float(noise.get("excess", 1.0)),
    )


def _check_noise(noise, img):
    if noise is None:
        return estimate_noise(img)
    if not isinstance(noise, dict) or not {"a", "b", "floor"} <= set(noise):
        raise TypeError(
            "`noise` must be a noise model from `estimate_noise` (a dict with "
            f"'a', 'b' and 'floor'), got {noise!r:.80}."
        )
    return noise
