"""Image series with known drift (:func:`make_drift_stack`).

Positions are in pixels, ``x`` is the column and ``y`` the row; pixel
``image[r, c]`` has its centre at ``x = c``, ``y = r``. Plain numpy arrays;
nothing here imports HyperSpy.
"""

from __future__ import annotations

import numpy as np

from ...numerics._checks import (
    check_integer,
    check_memory,
)
from .lattices import (
    _LATTICES,
    _NOISES,
    _check_seed,
    _check_shape,
    _check_sites,
    _number,
    _numbers,
    lattice_positions,
    render_gaussians,
)


# ---------------------------------------------------------------------------
# drifting image series
# ---------------------------------------------------------------------------
def make_drift_stack(
    n_frames: int = 20,
    shape: tuple[int, int] = (256, 256),
    spacing: float = 20.0,
    drift: tuple[float, float] = (0.37, -0.23),
    drift_jitter: float = 0.0,
    line_time: float = 0.0,
    pixel_time: float = 0.0,
    frame_time: float = 1.0,
    sigma: float = 3.5,
    peak: float = 200.0,
    background: float = 20.0,
    lattice: str = "square",
    noise: str | None = "poisson",
    seed=None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Image series of one crystal drifting, with the positions in every frame.

    One fixed set of sites ``p`` (the sites of :func:`lattice_positions`,
    origin at the image centre, each moved by a random offset drawn uniformly
    in ``[-0.5, 0.5)`` pixel per coordinate so that no position sits on the
    pixel grid) is translated by ``shift_k`` at the start of frame ``k``:
    ``shift_k = k * drift + w_k``, where ``w_k`` is a Gaussian random walk
    with steps of standard deviation ``drift_jitter`` per coordinate
    (``shift_0 = (0, 0)``).

    Drift during the scan: the specimen moves with the constant velocity
    ``v = drift / frame_time`` (pixels per time unit), frame ``k`` starts at
    ``t_k = k * frame_time`` and its pixel (row ``r``, column ``c``) is
    acquired at ``t_k + r * line_time + c * pixel_time``. An atom is recorded
    where it was when the beam passed it, so its *apparent* position ``a``
    solves ``a = p + shift_k + v * (a_y * line_time + a_x * pixel_time)``
    (``= p + v * (t_k + a_y * line_time + a_x * pixel_time)`` without
    jitter), a linear 2 x 2 system solved exactly:
    ``a = M (p + shift_k)`` with
    ``M = inv(I - outer(v, (pixel_time, line_time)))``. With
    ``line_time = pixel_time = 0`` (the default) ``a = p + shift_k``.
    Atoms are round point-sampled Gaussians (see :func:`render_gaussians`)
    at the apparent positions; as in :func:`make_lattice_image`, atoms up to
    ``6 * sigma`` outside a frame are rendered too, so that edge atoms have
    the correct neighbour tails.

    Parameters
    ----------
    n_frames : int, default 20
        Number of frames, >= 1.
    shape : tuple of int, default (256, 256)
        Frame shape ``(ny, nx)``.
    spacing : float, default 20.0
        Nearest-neighbour distance in pixels (see :func:`lattice_positions`).
    drift : tuple of float, default (0.37, -0.23)
        ``(dx, dy)`` translation per frame, in pixels.
    drift_jitter : float, default 0.0
        Standard deviation (pixels) of the random-walk step added per frame
        and coordinate.
    line_time, pixel_time : float, default 0.0
        Time between two rows and between two pixels of a row, in the units
        of ``frame_time`` (>= 0). Both 0: every frame is a snapshot.
    frame_time : float, default 1.0
        Time between the starts of two frames (> 0).
    sigma : float, default 3.5
        Gaussian standard deviation of every atom, in pixels.
    peak : float, default 200.0
        Amplitude above background.
    background : float, default 20.0
        Constant background.
    lattice : {"square", "hexagonal", "perovskite"}, default "square"
        Lattice type.
    noise : {"poisson", "gaussian", None}, default "poisson"
        As in :func:`make_lattice_image`, independently in every frame.
    seed : int or numpy.random.Generator, optional
        Passed to :func:`numpy.random.default_rng`. The site offsets and the
        random walk are drawn before the noise, so the same seed gives the
        same positions with and without noise.

    Returns
    -------
    stack : numpy.ndarray
        ``float64`` array of shape ``(n_frames, ny, nx)``.
    truth : dict of numpy.ndarray
        ``"x"``, ``"y"``: apparent positions, shape ``(n_frames, n_sites)``,
        NaN where the atom is outside the frame (outside ``[0, nx - 1]`` or
        ``[0, ny - 1]``); the sites listed are those inside at least one
        frame. ``"id"``: index of each listed site among all sites rendered
        (stable for given arguments). ``"sublattice"``: per site.
        ``"site_x"``, ``"site_y"``: the positions ``p`` (frame-0 coordinates
        at time 0). ``"shifts"``: ``(n_frames, 2)`` translations
        ``shift_k`` (x, y) of the specimen at the start of each frame.
        ``"times"``: frame start times ``t_k``. ``"velocity"``: ``(2,)``
        drift velocity ``v`` in pixels per time unit. ``"scan_matrix"``:
        the 2 x 2 matrix ``M`` above.

    Raises
    ------
    ValueError
        For invalid arguments (the message names the argument), or when the
        drift is so fast that the scan would not overtake it
        (``det(I - outer(v, (pixel_time, line_time))) <= 0``).

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_drift_stack
    >>> stack, truth = make_drift_stack(5, (64, 64), spacing=16.0, seed=0)
    >>> stack.shape, stack.dtype
    ((5, 64, 64), dtype('float64'))
    >>> truth["shifts"][[0, 4]]
    array([[ 0.  ,  0.  ],
           [ 1.48, -0.92]])
    >>> d = truth["x"][4] - truth["x"][0]  # every atom moved by 4 * 0.37
    >>> bool(np.allclose(d[np.isfinite(d)], 1.48))
    True
    """
    n_frames = check_integer(n_frames, "n_frames", minimum=1, type_error=ValueError)
    ny, nx = _check_shape(shape)
    check_memory(
        8.0 * n_frames * ny * nx,
        "n_frames",
        n_frames,
        f"{n_frames} frames of {ny} x {nx} px",
        total=8.0 * n_frames * ny * nx * 3,
    )
    if not isinstance(lattice, str) or lattice not in _LATTICES:
        raise ValueError(f"`lattice` must be one of {_LATTICES}, got {lattice!r:.60}.")
    if noise is not None and (not isinstance(noise, str) or noise not in _NOISES):
        raise ValueError(
            f"`noise` must be one of {_NOISES} or None, got {noise!r:.60}."
        )
    spacing = _number(spacing, "spacing", positive=True)
    drift_v = np.array(_numbers(drift, "drift", 2, "a pair (dx, dy)"))
    _check_seed(seed)
    drift_jitter = _number(drift_jitter, "drift_jitter", minimum=0.0)
    line_time = _number(line_time, "line_time", minimum=0.0)
    pixel_time = _number(pixel_time, "pixel_time", minimum=0.0)
    frame_time = _number(frame_time, "frame_time", positive=True)
    sigma = _number(sigma, "sigma", positive=True)
    if sigma > max(ny, nx):
        raise ValueError(
            f"`sigma` ({sigma:g} px) is larger than the image ({nx} x {ny} px)."
        )
    peak, background = _number(peak, "peak"), _number(background, "background")
    # the drift moves the sites over the stack: the lattice spans the frames
    walk = n_frames * 6 * drift_jitter
    span = n_frames * np.abs(drift_v).max() + walk
    if span > 1e9:
        name, value = "drift", tuple(float(v) for v in drift_v)
        if walk > 0.5 * span:
            name, value = "drift_jitter", drift_jitter
        raise ValueError(
            f"`{name}` = {value} over {n_frames} frames moves the specimen up to "
            f"{span:.3g} px: far beyond any image; give a drift of a few pixels "
            "per frame."
        )
    _check_sites((ny, nx), spacing, span + 6 * sigma, margin_name="drift")
    for name, value in (("peak", peak), ("background", background)):
        if noise is not None and value < 0:
            raise ValueError(
                f"`{name}` must be non-negative when noise is added, got {value!r} "
                f"(`noise`={noise!r})."
            )

    velocity = drift_v / frame_time
    scan = np.eye(2) - np.outer(velocity, (pixel_time, line_time))
    det = float(np.linalg.det(scan))
    if not det > 1e-6:
        raise ValueError(
            f"`drift` {tuple(float(v) for v in drift_v)} is too fast for "
            f"`line_time`={line_time:g}/`pixel_time`={pixel_time:g}: the scan "
            "does not overtake the drift "
            f"(det(I - v (pixel_time, line_time)) = {det:.3g})."
        )
    matrix = np.linalg.inv(scan)

    rng = np.random.default_rng(seed)
    steps = np.zeros((n_frames, 2))
    if drift_jitter > 0 and n_frames > 1:
        steps[1:] = rng.normal(0.0, drift_jitter, (n_frames - 1, 2))
    times = np.arange(n_frames) * frame_time
    shifts = np.arange(n_frames)[:, None] * drift_v + np.cumsum(steps, axis=0)

    # sites p whose apparent position can come within the render reach of a
    # frame: p = inv(M) a - shift_k for a in the extended frame
    truncate = 6.0
    reach = truncate * sigma
    ex, ey = (-reach, nx - 1 + reach), (-reach, ny - 1 + reach)
    corners = np.array([[cx, cy] for cx in ex for cy in ey])
    back = corners @ scan.T  # inv(M) = scan
    lo = back.min(axis=0) - shifts.max(axis=0) - 1.0  # 1.0: the site offsets
    hi = back.max(axis=0) - shifts.min(axis=0) + 1.0
    x0, y0 = np.floor(lo)
    span = (hi[1] - y0 + 1) * (hi[0] - x0 + 1)
    cause = "line_time" if line_time else "pixel_time" if pixel_time else "drift"
    value = {"line_time": line_time, "pixel_time": pixel_time, "drift": drift}[cause]
    check_memory(
        8.0 * span,
        cause,
        value,
        f"the frames' scan-distorted area of {span:.3g} px²",
        total=8.0 * span * 3,
    )
    big = (int(np.ceil(hi[1] - y0)) + 1, int(np.ceil(hi[0] - x0)) + 1)
    px, py, sub = lattice_positions(
        big, spacing, lattice, origin=(0.5 * (nx - 1) - x0, 0.5 * (ny - 1) - y0)
    )
    n_all = px.size
    offsets = rng.uniform(-0.5, 0.5, (n_all, 2))
    sites = np.column_stack([px + x0, py + y0]) + offsets

    # apparent positions a = M (p + shift_k), shape (n_frames, n_all, 2)
    apparent = (sites[None, :, :] + shifts[:, None, :]) @ matrix.T
    ax, ay = apparent[..., 0], apparent[..., 1]
    render = (ax >= -reach) & (ax <= nx - 1 + reach)
    render &= (ay >= -reach) & (ay <= ny - 1 + reach)
    stack = np.empty((n_frames, ny, nx))
    for k in range(n_frames):
        m = render[k]
        stack[k] = render_gaussians(
            (ny, nx), ax[k, m], ay[k, m], peak, sigma, background, truncate=truncate
        )

    inside = (ax >= 0) & (ax <= nx - 1) & (ay >= 0) & (ay <= ny - 1)
    listed = np.flatnonzero(inside.any(axis=0))
    ins = inside[:, listed]
    truth = {
        "x": np.where(ins, ax[:, listed], np.nan),
        "y": np.where(ins, ay[:, listed], np.nan),
        "id": listed.astype(np.int64),
        "sublattice": sub[listed],
        "site_x": sites[listed, 0],
        "site_y": sites[listed, 1],
        "shifts": shifts,
        "times": times,
        "velocity": velocity,
        "scan_matrix": matrix,
    }

    if noise is not None:
        np.maximum(stack, 0.0, out=stack)
        if noise == "poisson":
            stack = rng.poisson(stack).astype(np.float64)
        else:
            stack = stack + rng.normal(0.0, np.sqrt(stack))
    return stack, truth
