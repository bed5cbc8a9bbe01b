"""Lattices of Gaussian columns with known positions: the sites
(:func:`lattice_positions`), the rendering (:func:`render_gaussians`) and a
noisy image with its truth (:func:`make_lattice_image`).

Positions are in pixels, ``x`` is the column and ``y`` the row; pixel
``image[r, c]`` has its centre at ``x = c``, ``y = r``. Plain numpy arrays;
nothing here imports HyperSpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numba
import numpy as np

from ...numerics._checks import (
    available_memory,
    check_array,
    check_integer,
    check_memory,
    check_number,
    check_numbers,
)

_LATTICES = ("square", "hexagonal", "perovskite")


_NOISES = ("poisson", "gaussian")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _check_shape(shape, name="shape", n_images=1) -> tuple[int, int]:
    """``(ny, nx)`` positive integers whose ``n_images`` float64 images fit in
    memory (refused before allocating, with the estimate)."""
    if not isinstance(shape, (tuple, list, np.ndarray)) or len(shape) != 2:
        raise ValueError(f"`{name}` must be a pair (ny, nx), got {shape!r:.60}.")
    try:
        ny, nx = (check_integer(v, name, type_error=ValueError) for v in shape)
    except ValueError:
        raise ValueError(
            f"`{name}` must be two positive integers, got {shape!r:.60}."
        ) from None
    if ny <= 0 or nx <= 0:
        raise ValueError(f"`{name}` must be two positive integers, got {shape!r}.")
    check_memory(
        8.0 * ny * nx * n_images,
        name,
        tuple(shape),
        f"{n_images} x {ny} x {nx} float64 image(s)",
        total=8.0 * ny * nx * n_images * 3,  # the image, noise and temporaries
    )
    return ny, nx


def _number(value, name, minimum=None, positive=False):
    """A finite number (TypeError for a non-number), positive or >= minimum."""
    v = check_number(value, name)
    if not math.isfinite(v):
        raise ValueError(f"`{name}` must be finite, got {value!r}.")
    if positive and v <= 0:
        raise ValueError(f"`{name}` must be a positive number, got {value!r}.")
    if minimum is not None and v < minimum:
        raise ValueError(f"`{name}` must be a non-negative number, got {value!r}.")
    return v


def _numbers(value, name, n, what):
    """``n`` finite numbers; ValueError (as this module has always raised)."""
    try:
        return check_numbers(value, name, n, what)
    except TypeError as e:
        raise ValueError(str(e)) from None


def _check_seed(seed):
    """A random seed as :func:`numpy.random.default_rng` takes it."""
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return seed
    return check_integer(seed, "seed", minimum=0)


def _check_sites(shape, spacing, margin, n_motif=2, margin_name="margin"):
    """Refuse a lattice with more sites than fit in memory: a tiny ``spacing``
    (or a huge margin around the image, named ``margin_name``)."""
    ny, nx = shape

    def sites(m):
        area = (nx + 2 * abs(m) + 2 * spacing) * (ny + 2 * abs(m) + 2 * spacing)
        return n_motif * area / (spacing * spacing)

    name, value = ("spacing", spacing)
    if 64.0 * sites(0.0) <= available_memory():  # the margin makes it too many
        name, value = margin_name, margin
    n = sites(margin)
    check_memory(24.0 * n, name, value, f"about {n:.3g} lattice sites", total=64.0 * n)


def _rotation_matrix(rotation_deg: float) -> np.ndarray:
    """Matrix mapping unrotated (u, v) to image (x, y), CCW as seen on screen."""
    t = math.radians(rotation_deg)
    c, s = math.cos(t), math.sin(t)
    return np.array([[c, s], [-s, c]])


def _unit_cell(lattice: str, spacing: float):
    """Return (a1, a2, motif, motif_sublattice) in unrotated image coordinates."""
    if lattice == "square":
        a1 = np.array([spacing, 0.0])
        a2 = np.array([0.0, spacing])
        motif = np.array([[0.0, 0.0]])
        sub = np.array([0])
    elif lattice == "hexagonal":
        a1 = np.array([spacing, 0.0])
        a2 = np.array([0.5 * spacing, 0.5 * math.sqrt(3.0) * spacing])
        motif = np.array([[0.0, 0.0]])
        sub = np.array([0])
    else:  # perovskite
        a = spacing * math.sqrt(2.0)
        a1 = np.array([a, 0.0])
        a2 = np.array([0.0, a])
        motif = np.array([[0.0, 0.0], [0.5 * a, 0.5 * a]])
        sub = np.array([0, 1])
    return a1, a2, motif, sub


def _n_sublattices(lattice: str) -> int:
    return 2 if lattice == "perovskite" else 1


def _per_atom(value, n: int, name: str) -> np.ndarray:
    arr = check_array(value, name)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    arr = arr.ravel()
    if arr.size != n:
        raise ValueError(
            f"`{name}` must be a scalar or have one value per atom ({n}), "
            f"got {arr.size} values."
        )
    return np.ascontiguousarray(arr)


# ---------------------------------------------------------------------------
# lattice
# ---------------------------------------------------------------------------
def lattice_positions(
    shape: tuple[int, int],
    spacing: float,
    lattice: str = "square",
    rotation: float = 0.0,
    origin: tuple[float, float] | None = None,
    margin: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of all lattice sites inside an image.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(ny, nx)``.
    spacing : float
        Nearest-neighbour distance in pixels. ``"square"``: lattice constant.
        ``"hexagonal"``: triangular lattice, nearest-neighbour distance.
        ``"perovskite"``: nearest A-B distance; the A (and B) sub-lattices
        are square with period ``spacing * sqrt(2)`` and B sits at the centre
        of each A cell.
    lattice : {"square", "hexagonal", "perovskite"}, default "square"
        Lattice type.
    rotation : float, default 0.0
        Rotation of the lattice in degrees, counter-clockwise **as seen on
        the displayed image** (y pointing down): the unrotated first lattice
        vector ``(spacing, 0)`` becomes
        ``spacing * (cos(rotation), -sin(rotation))``.
    origin : tuple of float, optional
        ``(x, y)`` of one lattice site (an A site for the perovskite).
        Default: the image centre ``((nx - 1) / 2, (ny - 1) / 2)``.
    margin : float, default 0.0
        Only sites with ``margin <= x <= nx - 1 - margin`` and
        ``margin <= y <= ny - 1 - margin`` are returned. A negative margin
        includes sites outside the image.

    Returns
    -------
    x, y : numpy.ndarray of float64
        Site positions (column, row) in pixels.
    sublattice : numpy.ndarray of int64
        Sub-lattice index per site (always 0 except for the perovskite, where
        0 = A and 1 = B). Sites are ordered by sub-lattice, then row, then
        column.

    Raises
    ------
    ValueError
        For an unknown ``lattice``, a non-positive ``spacing`` or an invalid
        ``shape``.

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import lattice_positions
    >>> x, y, sub = lattice_positions((5, 5), spacing=2.0, origin=(0.0, 0.0))
    >>> x.size
    9
    >>> x[:3], y[:3]
    (array([0., 2., 4.]), array([0., 0., 0.]))
    >>> x, y, sub = lattice_positions((64, 64), 10.0, lattice="perovskite")
    >>> sorted(set(sub.tolist()))
    [0, 1]
    """
    ny, nx = _check_shape(shape)
    if not isinstance(lattice, str) or lattice not in _LATTICES:
        raise ValueError(f"`lattice` must be one of {_LATTICES}, got {lattice!r:.60}.")
    spacing = _number(spacing, "spacing", positive=True)
    rotation = _number(rotation, "rotation")
    margin = _number(margin, "margin")
    if origin is None:
        ox, oy = 0.5 * (nx - 1), 0.5 * (ny - 1)
    else:
        ox, oy = _numbers(origin, "origin", 2, "(x, y)")
    _check_sites((ny, nx), spacing, margin)

    xmin, xmax = margin, nx - 1 - margin
    ymin, ymax = margin, ny - 1 - margin
    empty = (np.empty(0), np.empty(0), np.empty(0, dtype=np.int64))
    if xmin > xmax or ymin > ymax:
        return empty

    a1, a2, motif, motif_sub = _unit_cell(lattice, spacing)
    rot = _rotation_matrix(rotation)
    basis = rot @ np.column_stack([a1, a2])  # columns: rotated a1, a2
    motif = motif @ rot.T
    inv = np.linalg.inv(basis)

    corners = np.array(
        [[xmin, ymin], [xmax, ymin], [xmin, ymax], [xmax, ymax]]
    ) - np.array([ox, oy])
    eps = 1e-9 * max(1.0, spacing, abs(xmax), abs(ymax))
    xs, ys, subs = [], [], []
    for m, s in zip(motif, motif_sub):
        frac = (corners - m) @ inv.T
        i0, j0 = np.floor(frac.min(axis=0)).astype(int) - 1
        i1, j1 = np.ceil(frac.max(axis=0)).astype(int) + 1
        jj, ii = np.mgrid[j0 : j1 + 1, i0 : i1 + 1]
        px = ox + m[0] + basis[0, 0] * ii + basis[0, 1] * jj
        py = oy + m[1] + basis[1, 0] * ii + basis[1, 1] * jj
        keep = (
            (px >= xmin - eps)
            & (px <= xmax + eps)
            & (py >= ymin - eps)
            & (py <= ymax + eps)
        )
        px, py = px[keep], py[keep]
        order = np.lexsort((np.round(px, 6), np.round(py, 6)))
        xs.append(px[order])
        ys.append(py[order])
        subs.append(np.full(px.size, s, dtype=np.int64))
    if not xs:
        return empty
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(subs)


# ---------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _render_axis_aligned(image, x, y, amp, sx, sy, truncate):  # pragma: no cover
    ny, nx = image.shape
    t2 = truncate * truncate
    wmax = 0
    # reaches are clipped to the image (a wider Gaussian is cut there anyway),
    # so a huge sigma neither allocates nor overflows the integer bounds
    for k in range(x.size):
        w = 2 * int(math.ceil(min(truncate * sx[k], nx + 1.0))) + 3
        if w > wmax:
            wmax = w
    qx = np.empty(wmax)
    ex = np.empty(wmax)
    for k in range(x.size):
        rx = min(truncate * sx[k], nx + 1.0)
        ry = min(truncate * sy[k], ny + 1.0)
        c0 = max(int(math.ceil(x[k] - rx)), 0)
        c1 = min(int(math.floor(x[k] + rx)), nx - 1)
        r0 = max(int(math.ceil(y[k] - ry)), 0)
        r1 = min(int(math.floor(y[k] + ry)), ny - 1)
        if c0 > c1 or r0 > r1:
            continue
        isx = 1.0 / sx[k]
        isy = 1.0 / sy[k]
        for c in range(c0, c1 + 1):
            d = (c - x[k]) * isx
            qx[c - c0] = d * d
            ex[c - c0] = math.exp(-0.5 * d * d)
        a = amp[k]
        for r in range(r0, r1 + 1):
            d = (r - y[k]) * isy
            q = d * d
            if q > t2:
                continue
            ey = a * math.exp(-0.5 * q)
            for c in range(c0, c1 + 1):
                if qx[c - c0] + q <= t2:
                    image[r, c] += ey * ex[c - c0]


@numba.njit(cache=True, nogil=True)
def _render_rotated(image, x, y, amp, sx, sy, theta, truncate):  # pragma: no cover
    ny, nx = image.shape
    t2 = truncate * truncate
    for k in range(x.size):
        ct = math.cos(theta[k])
        st = math.sin(theta[k])
        hx = truncate * math.sqrt((sx[k] * ct) ** 2 + (sy[k] * st) ** 2)
        hy = truncate * math.sqrt((sx[k] * st) ** 2 + (sy[k] * ct) ** 2)
        hx = min(hx, nx + 1.0)  # clipped to the image (see above)
        hy = min(hy, ny + 1.0)
        c0 = max(int(math.ceil(x[k] - hx)), 0)
        c1 = min(int(math.floor(x[k] + hx)), nx - 1)
        r0 = max(int(math.ceil(y[k] - hy)), 0)
        r1 = min(int(math.floor(y[k] + hy)), ny - 1)
        isx = 1.0 / sx[k]
        isy = 1.0 / sy[k]
        a = amp[k]
        for r in range(r0, r1 + 1):
            dy = r - y[k]
            for c in range(c0, c1 + 1):
                dx = c - x[k]
                # axes: u along (cos t, -sin t), v along (sin t, cos t)
                u = (dx * ct - dy * st) * isx
                v = (dx * st + dy * ct) * isy
                q = u * u + v * v
                if q <= t2:
                    image[r, c] += a * math.exp(-0.5 * q)


def render_gaussians(
    shape: tuple[int, int],
    x,
    y,
    amplitude,
    sigma,
    background: float = 0.0,
    sigma_y=None,
    rotation=None,
    truncate: float = 6.0,
) -> np.ndarray:
    """Render a sum of point-sampled 2-D Gaussians on a pixel grid.

    Each Gaussian is
    ``A * exp(-u**2 / (2 * sigma**2) - v**2 / (2 * sigma_y**2))`` where
    ``(u, v)`` are the offsets from the centre along the Gaussian's own axes,
    evaluated at the integer pixel centres only where
    ``u**2 / sigma**2 + v**2 / sigma_y**2 <= truncate**2`` (for a round
    Gaussian: within a radius ``truncate * sigma`` of the centre).

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(ny, nx)``.
    x, y : array_like
        Centres (column, row) in pixels, one per atom. Centres outside the
        image are allowed; their tails are rendered.
    amplitude : float or array_like
        Peak height(s) above the background.
    sigma : float or array_like
        Standard deviation(s) in pixels (along ``x`` for an unrotated
        elliptical Gaussian).
    background : float, default 0.0
        Constant added to every pixel.
    sigma_y : float or array_like, optional
        Second standard deviation; default ``sigma`` (round Gaussians).
    rotation : float or array_like, optional
        Angle in degrees of the ``sigma`` axis, counter-clockwise as seen on
        the image (y down), i.e. the axis points along
        ``(cos(rotation), -sin(rotation))``. Only matters when
        ``sigma_y != sigma``.
    truncate : float, default 6.0
        Window radius in units of sigma.

    Returns
    -------
    numpy.ndarray
        ``float64`` image of shape ``shape``.

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import render_gaussians
    >>> img = render_gaussians((5, 7), [3.0], [2.0], 100.0, 1.0, background=10.0)
    >>> img.shape, float(img[2, 3]), float(img.min()) >= 10.0
    ((5, 7), 110.0, True)
    >>> round(float(img[2, 4]), 4)  # one pixel away: 100 * exp(-1/2) + 10
    70.6531
    """
    ny, nx = _check_shape(shape)
    x = np.ascontiguousarray(check_array(x, "x").ravel())
    y = np.ascontiguousarray(check_array(y, "y").ravel())
    if x.size != y.size:
        raise ValueError(
            f"`x` and `y` must have the same size, got {x.size} and {y.size} values."
        )
    n = x.size
    amp = _per_atom(amplitude, n, "amplitude")
    sx = _per_atom(sigma, n, "sigma")
    sy = sx.copy() if sigma_y is None else _per_atom(sigma_y, n, "sigma_y")
    truncate = _number(truncate, "truncate", positive=True)
    for name, arr in (("x", x), ("y", y), ("amplitude", amp)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"`{name}` contains NaN or infinite values.")
    for name, arr in (("sigma", sx), ("sigma_y", sy)):
        bad = ~(np.isfinite(arr) & (arr > 0))
        if bad.any():
            raise ValueError(
                f"`{name}` must be positive and finite, got {arr[bad][0]!r}."
            )
    background = _number(background, "background")

    image = np.full((ny, nx), background, dtype=np.float64)
    if n == 0:
        return image
    if rotation is None:
        theta = None
    else:
        theta = np.deg2rad(_per_atom(rotation, n, "rotation"))
        if not np.all(np.isfinite(theta)):
            raise ValueError("`rotation` contains NaN or infinite values.")
    if theta is None or np.all((theta == 0) | (sx == sy)):
        _render_axis_aligned(image, x, y, amp, sx, sy, truncate)
    else:
        _render_rotated(image, x, y, amp, sx, sy, theta, truncate)
    return image


# ---------------------------------------------------------------------------
# full synthetic images
# ---------------------------------------------------------------------------
def make_lattice_image(
    shape: tuple[int, int] = (512, 512),
    spacing: float = 20.0,
    sigma: float = 3.5,
    peak: float = 200.0,
    background: float = 20.0,
    lattice: str = "square",
    rotation: float = 0.0,
    sublattice_peaks: Sequence[float] | None = None,
    displacement: Callable | None = None,
    noise: str | None = "poisson",
    seed=None,
    margin: float | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Synthetic atomic-resolution image of a crystal lattice with ground truth.

    Atoms are round point-sampled Gaussians (see :func:`render_gaussians`) on
    the sites of :func:`lattice_positions` (origin at the image centre). Sites
    whose (displaced) centres lie up to ``6 * sigma`` (the render truncation,
    so at least 4 sigma) outside the image are rendered too, so that atoms
    near the edges have the correct neighbour tails, but only the atoms whose
    centres lie inside the image minus ``margin`` are listed in ``truth``.

    Parameters
    ----------
    shape : tuple of int, default (512, 512)
        Image shape ``(ny, nx)``.
    spacing : float, default 20.0
        Nearest-neighbour distance in pixels (see :func:`lattice_positions`).
    sigma : float, default 3.5
        Gaussian standard deviation of every atom, in pixels.
    peak : float, default 200.0
        Amplitude above background of sub-lattice 0 (of all sub-lattices when
        ``sublattice_peaks`` is not given).
    background : float, default 20.0
        Constant background.
    lattice : {"square", "hexagonal", "perovskite"}, default "square"
        Lattice type.
    rotation : float, default 0.0
        Lattice rotation in degrees, counter-clockwise as seen on the image.
    sublattice_peaks : sequence of float, optional
        Amplitude per sub-lattice, e.g. ``(200, 80)`` for a perovskite with
        dimmer B sites. Overrides ``peak``.
    displacement : callable, optional
        ``f(x, y, sublattice) -> (dx, dy)``, called once with the arrays of
        ideal positions and sub-lattice indices; returns displacements in
        pixels (arrays or scalars) added to the ideal positions.
    noise : {"poisson", "gaussian", None}, default "poisson"
        ``"poisson"``: Poisson sample of the noise-free image;
        ``"gaussian"``: add ``N(0, sqrt(image))``; ``None``: noise-free.
    seed : int or numpy.random.Generator, optional
        Passed to :func:`numpy.random.default_rng`.
    margin : float, optional
        Atoms are listed in ``truth`` when ``margin <= x <= nx - 1 - margin``
        and ``margin <= y <= ny - 1 - margin``. Default 0 (all atoms whose
        centres are within the span of the pixel centres).

    Returns
    -------
    image : numpy.ndarray
        ``float64`` image.
    truth : dict of numpy.ndarray
        ``"x"``, ``"y"`` (displaced positions), ``"ideal_x"``, ``"ideal_y"``,
        ``"amplitude"``, ``"sigma"`` and ``"sublattice"``, one entry per atom
        listed.

    Raises
    ------
    ValueError
        For invalid arguments (unknown ``lattice`` or ``noise``, non-positive
        ``spacing`` or ``sigma``, too few ``sublattice_peaks``, negative
        intensities with noise).

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_lattice_image
    >>> img, truth = make_lattice_image((128, 128), spacing=16.0, seed=0)
    >>> img.shape, img.dtype
    ((128, 128), dtype('float64'))
    >>> sorted(truth)
    ['amplitude', 'ideal_x', 'ideal_y', 'sigma', 'sublattice', 'x', 'y']
    >>> clean, t = make_lattice_image((64, 64), spacing=16.0, noise=None)
    >>> bool(np.all(t["x"] >= 0) and np.all(t["x"] <= 63))
    True
    """
    ny, nx = _check_shape(shape)
    if not isinstance(lattice, str) or lattice not in _LATTICES:
        raise ValueError(f"`lattice` must be one of {_LATTICES}, got {lattice!r:.60}.")
    spacing = _number(spacing, "spacing", positive=True)
    sigma = _number(sigma, "sigma", positive=True)
    if sigma > max(ny, nx):
        raise ValueError(
            f"`sigma` ({sigma:g} px) is larger than the image ({nx} x {ny} px)."
        )
    rotation = _number(rotation, "rotation")
    _check_seed(seed)
    if noise is not None and (not isinstance(noise, str) or noise not in _NOISES):
        raise ValueError(
            f"`noise` must be one of {_NOISES} or None, got {noise!r:.60}."
        )
    if displacement is not None and not callable(displacement):
        raise TypeError(
            "`displacement` must be a function f(x, y, sublattice), got "
            f"{displacement!r:.60}."
        )
    n_sub = _n_sublattices(lattice)
    peak = _number(peak, "peak")  # checked even when sublattice_peaks overrides it
    if sublattice_peaks is None:
        peaks = np.full(n_sub, peak)
    else:
        if not isinstance(sublattice_peaks, (tuple, list, np.ndarray)):
            raise TypeError(
                "`sublattice_peaks` must be a sequence of numbers (one per "
                f"sublattice), got {sublattice_peaks!r:.60}."
            )
        peaks = check_array(sublattice_peaks, "sublattice_peaks").ravel()
        if peaks.size < n_sub:
            raise ValueError(
                f"`sublattice_peaks` needs {n_sub} value(s) for lattice "
                f"{lattice!r}, got {sublattice_peaks!r:.60}."
            )
        if not np.all(np.isfinite(peaks)):
            raise ValueError(
                "`sublattice_peaks` must hold finite numbers, got "
                f"{sublattice_peaks!r:.60}."
            )
    background = _number(background, "background")
    given = ("peak", peak) if sublattice_peaks is None else ("sublattice_peaks", peaks)
    for name, value in (given, ("background", background)):
        if noise is not None and np.any(np.asarray(value) < 0):
            raise ValueError(
                f"`{name}` must be non-negative when noise is added, got "
                f"{value!r:.60} (`noise`={noise!r})."
            )
    margin = 0.0 if margin is None else _number(margin, "margin")
    truncate = 6.0

    # ideal sites, generously outside the image (displacements may move them)
    reach = truncate * sigma
    ix, iy, sub = lattice_positions(
        (ny, nx), spacing, lattice, rotation, margin=-(reach + float(spacing))
    )
    if displacement is not None:
        out = displacement(ix.copy(), iy.copy(), sub.copy())
        try:
            dx, dy = out
            x = ix + np.broadcast_to(np.asarray(dx, dtype=np.float64), ix.shape)
            y = iy + np.broadcast_to(np.asarray(dy, dtype=np.float64), iy.shape)
        except (TypeError, ValueError):
            raise ValueError(
                "`displacement` must return (dx, dy), numbers or arrays of one "
                f"value per site ({ix.size}), got {out!r:.60}."
            ) from None
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ValueError("`displacement` returned NaN or infinite displacements.")
    else:
        x, y = ix.copy(), iy.copy()

    render = (x >= -reach) & (x <= nx - 1 + reach)
    render &= (y >= -reach) & (y <= ny - 1 + reach)
    amp = peaks[sub]
    image = render_gaussians(
        (ny, nx),
        x[render],
        y[render],
        amp[render],
        sigma,
        background=background,
        truncate=truncate,
    )

    inside = (x >= margin) & (x <= nx - 1 - margin)
    inside &= (y >= margin) & (y <= ny - 1 - margin)
    truth = {
        "x": x[inside],
        "y": y[inside],
        "ideal_x": ix[inside],
        "ideal_y": iy[inside],
        "amplitude": amp[inside],
        "sigma": np.full(int(inside.sum()), sigma),
        "sublattice": sub[inside],
    }

    if noise is not None:
        rng = np.random.default_rng(seed)
        np.maximum(image, 0.0, out=image)  # guard against -0.0 round-off
        if noise == "poisson":
            image = rng.poisson(image).astype(np.float64)
        else:
            image = image + rng.normal(0.0, np.sqrt(image))
    return image, truth
