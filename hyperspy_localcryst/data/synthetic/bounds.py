"""The Cramér-Rao bound of a column position: the best precision any
unbiased estimator reaches on a Gaussian column under Poisson noise
(:func:`cramer_rao_bound`), the yardstick of the refinement's tests.

Positions are in pixels, ``x`` is the column and ``y`` the row; pixel
``image[r, c]`` has its centre at ``x = c``, ``y = r``. Plain numpy arrays;
nothing here imports HyperSpy.
"""

from __future__ import annotations

import math

import numpy as np

from ...numerics._checks import (
    check_integer,
    check_memory,
    check_number,
)


# ---------------------------------------------------------------------------
# Cramér-Rao bound
# ---------------------------------------------------------------------------
def cramer_rao_bound(
    peak: float,
    background: float,
    sigma: float,
    window_radius: float | None = None,
    n_params: int = 5,
) -> float:
    """Cramér-Rao lower bound on the x (= y) position of an isolated atom.

    The atom is a round point-sampled Gaussian
    ``mu = B + A exp(-((X - x0)**2 + (Y - y0)**2) / (2 sigma**2))`` with
    Poisson noise. The Fisher information
    ``I_ij = sum_pixels (d mu / d theta_i) (d mu / d theta_j) / mu`` is summed
    over the pixels whose centres lie within ``window_radius`` of the atom
    centre, for the parameters ``theta = (x0, y0, A, sigma, B)[:n_params]``
    (the remaining ones are treated as known). The bound is
    ``sqrt((I^-1)[0, 0])``, root-mean-square averaged over a 4 x 4 grid of
    sub-pixel centre offsets (and over x and y).

    Parameters
    ----------
    peak : float
        Amplitude ``A`` above background (expected counts), > 0.
    background : float
        Background ``B`` (expected counts per pixel), >= 0. For
        ``background == 0`` the background is treated as known (the limit
        ``B -> 0+`` of the bound, where the Fisher information on ``B``
        diverges).
    sigma : float
        Gaussian standard deviation in pixels, > 0.
    window_radius : float, optional
        Radius of the (circular) fitting window in pixels; default
        ``8 * sigma`` (effectively infinite).
    n_params : {2, 3, 4, 5}, default 5
        Number of free parameters: 2 = position only, 5 = position,
        amplitude, width and background.

    Returns
    -------
    float
        Lower bound on the standard deviation of the x coordinate, in pixels.

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import cramer_rao_bound
    >>> crb = cramer_rao_bound(200.0, 20.0, 3.5)
    >>> 0.02 < crb < 0.06
    True
    >>> # zero background, position only: sigma / sqrt(total counts)
    >>> n_photons = 2 * np.pi * 3.5**2 * 200.0
    >>> crb0 = cramer_rao_bound(200.0, 0.0, 3.5, n_params=2)
    >>> round(float(crb0 * np.sqrt(n_photons)), 3)
    3.5
    """
    peak = check_number(peak, "peak")
    background = check_number(background, "background")
    sigma = check_number(sigma, "sigma")
    if not np.isfinite(peak) or peak <= 0:
        raise ValueError(f"`peak` must be positive, got {peak!r}.")
    if not np.isfinite(background) or background < 0:
        raise ValueError(f"`background` must be non-negative, got {background!r}.")
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"`sigma` must be positive, got {sigma!r}.")
    window = window_radius
    if window_radius is None:
        window_radius = 8.0 * sigma
    window_radius = check_number(window_radius, "window_radius")
    if not np.isfinite(window_radius) or window_radius <= 0:
        raise ValueError(f"`window_radius` must be positive, got {window_radius!r}.")
    named = ("sigma", sigma) if window is None else ("window_radius", window_radius)
    check_memory(
        8.0 * 16 * (2 * math.ceil(window_radius) + 3) ** 2,
        *named,
        "16 sub-pixel positions of the window",
    )
    n_params = check_integer(n_params, "n_params", 2, 5, type_error=ValueError)
    n_free = n_params
    if background == 0 and n_free == 5:
        n_free = 4  # B -> 0+: Fisher information on B diverges, B known

    half = int(math.ceil(window_radius)) + 1
    grid = np.arange(-half, half + 1, dtype=np.float64)
    offsets = (np.arange(4) + 0.5) / 4.0
    var_sum = 0.0
    n_var = 0
    for ox in offsets:
        for oy in offsets:
            dx = grid[None, :] - ox
            dy = grid[:, None] - oy
            r2 = dx * dx + dy * dy
            inwin = r2 <= window_radius * window_radius
            dx = np.broadcast_to(dx, r2.shape)[inwin]
            dy = np.broadcast_to(dy, r2.shape)[inwin]
            r2 = r2[inwin]
            g = np.exp(-0.5 * r2 / sigma**2)
            mu = background + peak * g
            ok = mu > 0
            derivs = np.stack(
                [
                    peak * g * dx / sigma**2,
                    peak * g * dy / sigma**2,
                    g,
                    peak * g * r2 / sigma**3,
                    np.ones_like(g),
                ]
            )[:n_free, ok]
            fisher = (derivs / mu[ok]) @ derivs.T
            try:
                cov = np.linalg.inv(fisher)
            except np.linalg.LinAlgError:
                raise ValueError(
                    "Fisher matrix is singular: `window_radius` too small for "
                    f"{n_params} free parameters (`n_params`), got {window_radius!r}."
                ) from None
            if not (cov[0, 0] > 0 and cov[1, 1] > 0):
                raise ValueError(
                    "Fisher matrix is ill-conditioned: `window_radius` too small "
                    f"for {n_params} free parameters (`n_params`), got "
                    f"{window_radius!r}."
                )
            var_sum += cov[0, 0] + cov[1, 1]
            n_var += 2
    return float(math.sqrt(var_sum / n_var))
