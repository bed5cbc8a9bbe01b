"""Synthetic atomic-resolution images with known ground truth.

Everything here works on plain numpy arrays in pixel units and never imports
HyperSpy.

Conventions
-----------
* Positions are in pixels, ``x`` is the column and ``y`` the row.
* Pixel centres sit at integer coordinates: pixel ``image[r, c]`` has its
  centre at ``x = c``, ``y = r``.
* Images are *point-sampled* Gaussians evaluated at the pixel centres (no
  integration over the pixel area), so that the model
  ``B + A * exp(-((X - x0)**2 + (Y - y0)**2) / (2 * sigma**2))`` evaluated on
  the integer grids ``Y, X = np.mgrid[:ny, :nx]`` *is* the noise-free image
  (up to the truncation of each Gaussian at ``truncate * sigma``).
* Angles are in degrees and counter-clockwise **as seen on the displayed
  image** (row 0 at the top, y pointing down). A vector pointing right
  (``+x``) rotated by +90 degrees points *up* on the screen, i.e. towards
  ``-y``. In image coordinates a rotation by ``theta`` maps ``(u, v)`` to
  ``(u cos(theta) + v sin(theta), -u sin(theta) + v cos(theta))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numba
import numpy as np

from ._checks import (
    available_memory,
    check_array,
    check_integer,
    check_memory,
    check_number,
    check_numbers,
)

__all__ = [
    "lattice_positions",
    "render_gaussians",
    "make_lattice_image",
    "two_phase_positions",
    "dislocation_positions",
    "edge_dislocation_displacement",
    "cramer_rao_bound",
    "make_drift_stack",
    "edge_spectrum",
    "make_spectrum_image_pair",
]

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
    >>> from hyperspy_localcryst.numerics.synthetic import lattice_positions
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
    >>> from hyperspy_localcryst.numerics.synthetic import render_gaussians
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
    >>> from hyperspy_localcryst.numerics.synthetic import make_lattice_image
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


def two_phase_positions(
    shape: tuple[int, int] = (512, 512),
    spacing: float = 20.0,
    phases: tuple[str, str] = ("square", "hexagonal"),
    rotation: float = 0.0,
    jitter: float = 0.0,
    n_boundary_neighbours: int = 12,
    seed=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two lattices side by side with a straight boundary, and the truth per atom.

    The left half holds ``phases[0]``, the right half ``phases[1]`` (both with
    nearest-neighbour distance ``spacing``), separated by a gap of one
    ``spacing`` along the vertical line through the image centre; then the
    whole point set is rotated by ``rotation`` about the image centre (so the
    boundary turns too) and cropped to the image; ``jitter`` is added last, so
    the same arguments with and without jitter list the same atoms.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(ny, nx)``.
    spacing : float
        Nearest-neighbour distance of both phases, in pixels.
    phases : tuple of str
        Lattice of each half (``"square"``, ``"hexagonal"``, ``"perovskite"``).
    rotation : float
        Degrees, counter-clockwise as seen on the image.
    jitter : float
        Standard deviation of Gaussian noise added to each coordinate.
    n_boundary_neighbours : int
        An atom is a *boundary* atom when its this many nearest (noise-free)
        neighbours include one of the other phase, or lie at other distances
        than in the bulk of its phase (the gap at the boundary).
    seed : int or numpy.random.Generator, optional
        For the jitter.

    Returns
    -------
    x, y : numpy.ndarray
        Positions in pixels.
    label : numpy.ndarray of int
        0 = ``phases[0]``, 1 = ``phases[1]``, 2 = boundary.

    Examples
    --------
    >>> x, y, label = two_phase_positions((256, 256), spacing=16.0)
    >>> sorted(set(label.tolist()))
    [0, 1, 2]
    """
    from scipy.spatial import cKDTree

    ny, nx = _check_shape(shape)
    spacing = _number(spacing, "spacing", positive=True)
    rotation = _number(rotation, "rotation")
    jitter = _number(jitter, "jitter", minimum=0.0)
    _check_seed(seed)
    if (
        not isinstance(phases, (tuple, list))
        or len(phases) != 2
        or not all(isinstance(p, str) and p in _LATTICES for p in phases)
    ):
        raise ValueError(
            f"`phases` must be two lattices from {_LATTICES}, got {phases!r:.60}."
        )
    n_boundary_neighbours = check_integer(
        n_boundary_neighbours, "n_boundary_neighbours", minimum=1
    )
    cx, cy = 0.5 * (nx - 1), 0.5 * (ny - 1)
    big = int(np.ceil(np.hypot(nx, ny))) + 2 * int(np.ceil(min(spacing, 1e9)))
    if spacing >= big:
        raise ValueError(
            f"`spacing` ({spacing:g} px) is larger than the image ({nx} x {ny} px)."
        )
    xs, ys, ph = [], [], []
    for i, lattice in enumerate(phases):
        x, y, _ = lattice_positions((big, big), spacing, lattice, origin=(0.0, 0.0))
        x = x - 0.5 * (big - 1) + cx
        y = y - 0.5 * (big - 1) + cy
        keep = x <= cx - 0.5 * spacing if i == 0 else x >= cx + 0.5 * spacing
        xs.append(x[keep])
        ys.append(y[keep])
        ph.append(np.full(int(keep.sum()), i))
    x, y, ph = np.concatenate(xs), np.concatenate(ys), np.concatenate(ph)
    k = n_boundary_neighbours
    if k >= x.size:
        raise ValueError(
            f"`n_boundary_neighbours` ({k}) must be below the number of sites "
            f"({x.size})."
        )
    d, nbr = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=k + 1)
    # bulk shell distances of each phase: an atom far from the boundary
    label = ph.copy()
    for i in range(len(phases)):
        members = np.flatnonzero(ph == i)
        px = cx + (0.25 if i else -0.25) * big
        far = members[np.argmin(np.hypot(x[members] - px, y[members] - cy))]
        bulk = d[far]
        differs = np.abs(d - bulk).max(axis=1) > 0.05 * spacing
        mixed = (ph[nbr[:, 1:]] != i).any(axis=1)
        label[(ph == i) & (differs | mixed)] = 2
    rot = _rotation_matrix(rotation)
    u = np.column_stack([x - cx, y - cy]) @ rot.T
    x, y = u[:, 0] + cx, u[:, 1] + cy
    inside = (x >= 0) & (x <= nx - 1) & (y >= 0) & (y <= ny - 1)
    x, y, label = x[inside], y[inside], label[inside]
    if jitter:
        rng = np.random.default_rng(seed)
        x = x + rng.normal(0.0, jitter, x.size)
        y = y + rng.normal(0.0, jitter, y.size)
    return x, y, label


def edge_dislocation_displacement(dx, dy, burgers, poisson=0.3, length=1.0):
    """Isotropic elastic displacement of a straight edge dislocation.

    The textbook field (Hirth & Lothe) of an edge dislocation along
    ``+z = x cross y`` (into the screen in pixel coordinates, y down), in
    the frame of ``x'`` along ``b`` and ``y' = z cross x'``::

        u_x' = b / 2pi [theta + x'y' / (2 (1 - nu) r^2)]
        u_y' = -b / 2pi [(1 - 2 nu) / (4 (1 - nu)) ln(r^2 / length^2)
                         + (x'^2 - y'^2) / (4 (1 - nu) r^2)]

    with ``theta = atan2(y', x')`` (cut along ``-x'``, where ``u_x'`` jumps
    by ``b``). In the FS/RH convention with the line along ``+z`` its
    Burgers vector is ``+b``: a circuit counter-clockwise on the displayed
    image sums the reference lattice steps to ``+b``.

    Parameters
    ----------
    dx, dy : array_like
        Positions relative to the core, pixels.
    burgers : (float, float)
        Burgers vector ``b`` (x, y) in pixels.
    poisson : float
        Poisson ratio (-1 to 0.5, exclusive).
    length : float
        Length in the logarithm (a constant shift of ``u_y'``).

    Returns
    -------
    ux, uy : numpy.ndarray
        Displacements in pixels (zero at the core itself).

    Examples
    --------
    >>> ux, uy = edge_dislocation_displacement([-5.0, -5.0], [-1e-9, 1e-9], (2.0, 0))
    >>> round(float(ux[1] - ux[0]), 6)  # the jump across the cut is b
    2.0
    """
    dx = check_array(dx, "dx")
    dy = check_array(dy, "dy")
    bx, by = _numbers(burgers, "burgers", 2, "(bx, by) in pixels")
    nu = _number(poisson, "poisson")
    if not -1 < nu < 0.5:
        raise ValueError(f"`poisson` must be between -1 and 0.5, got {poisson!r}.")
    length = _number(length, "length", positive=True)
    b = math.hypot(bx, by)
    shape = np.broadcast(dx, dy).shape
    if b == 0:
        return np.zeros(shape), np.zeros(shape)
    ex, ey = bx / b, by / b
    xp = dx * ex + dy * ey
    yp = -dx * ey + dy * ex
    r2 = xp * xp + yp * yp
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.arctan2(yp, xp)
        ua = b / (2 * np.pi) * (theta + xp * yp / (2 * (1 - nu) * r2))
        ub = (
            -b
            / (2 * np.pi)
            * (
                (1 - 2 * nu) / (4 * (1 - nu)) * np.log(r2 / length**2)
                + (xp * xp - yp * yp) / (4 * (1 - nu) * r2)
            )
        )
    core = r2 == 0
    ua = np.where(core, 0.0, ua)
    ub = np.where(core, 0.0, ub)
    return ua * ex - ub * ey, ua * ey + ub * ex


def _two_integers(value, name):
    if not isinstance(value, (tuple, list, np.ndarray)) or len(value) != 2:
        raise TypeError(f"`{name}` must be two integers (n1, n2), got {value!r:.60}.")
    return np.array([check_integer(k, name) for k in value], dtype=np.int64)


def dislocation_positions(
    shape,
    vectors,
    burgers=(1, 0),
    core=None,
    poisson=0.3,
    basis=((0.0, 0.0),),
    vacancy_fraction=0.0,
    margin=0.0,
    seed=None,
):
    """Sites of a lattice with an edge dislocation and vacancies, and the truth.

    The sites ``origin + (i + f1) v1 + (j + f2) v2`` (origin at the image
    centre, ``(f1, f2)`` each site of ``basis``) are moved by the isotropic
    elastic field of an edge dislocation
    (:func:`edge_dislocation_displacement`) with Burgers vector
    ``b = n1 v1 + n2 v2`` about ``core``; the sites inside the image minus
    ``margin`` are kept, and a random ``vacancy_fraction`` of them removed.
    Every site of the cell is moved by the same field, so each one carries
    the same dislocation.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(ny, nx)``.
    vectors : array_like, shape (2, 2)
        Lattice translations (rows v1, v2) in pixels.
    burgers : (int, int) or None
        ``(n1, n2)`` of the Burgers vector; None: no dislocation.
    core : (float, float), optional
        Core position (x, y) in pixels. Default: the image centre plus
        ``0.37 v1 + 0.29 v2`` (off every site and cell centre).
    poisson : float
        Poisson ratio.
    basis : sequence of (float, float)
        Fractional positions of the sites of the cell, e.g.
        ``((0, 0), (0.5, 0.5))`` for a perovskite-like A + B cell.
    vacancy_fraction : float
        Share of the kept sites removed (0 to 0.5).
    margin : float
        Sites closer than this to the image border (pixels) are left out.
    seed : int or numpy.random.Generator, optional
        For the vacancies.

    Returns
    -------
    dict
        ``x``, ``y``, ``site`` (index into ``basis``) of the atoms;
        ``vacancy_x``, ``vacancy_y``, ``vacancy_site`` of the removed sites
        (displaced positions); ``core`` (x, y); ``burgers`` (x, y) in pixels
        (FS/RH, line into the screen: see
        :func:`edge_dislocation_displacement`), ``burgers_indices``
        ``(n1, n2)``; ``vectors``.

    Examples
    --------
    >>> t = dislocation_positions((200, 240), [[11.0, 0.0], [2.0, 14.0]],
    ...                           vacancy_fraction=0.02, seed=0)
    >>> t["burgers"].tolist(), t["vacancy_x"].size
    ([11.0, 0.0], 7)
    """
    ny, nx = _check_shape(shape)
    v = check_array(vectors, "vectors", ndim=2, finite=True)
    if v.shape != (2, 2) or abs(np.linalg.det(v)) < 1e-9:
        raise ValueError(
            f"`vectors` must be two non-collinear translations (2, 2), got "
            f"{v.tolist()}."
        )
    n12 = (
        np.zeros(2, np.int64) if burgers is None else _two_integers(burgers, "burgers")
    )
    b = n12 @ v
    if core is None:
        c = np.array([0.5 * (nx - 1), 0.5 * (ny - 1)]) + 0.37 * v[0] + 0.29 * v[1]
        cx, cy = float(c[0]), float(c[1])
    else:
        cx, cy = _numbers(core, "core", 2, "(x, y) in pixels")
    f = check_array(basis, "basis", ndim=2, finite=True)
    if f.shape[1] != 2 or f.shape[0] < 1:
        raise ValueError(f"`basis` must be a sequence of (f1, f2), got {basis!r:.60}.")
    frac = _number(vacancy_fraction, "vacancy_fraction", minimum=0.0)
    if frac > 0.5:
        raise ValueError(f"`vacancy_fraction` must be 0 to 0.5, got {frac}.")
    margin = _number(margin, "margin", minimum=0.0)
    spacing = float(np.sqrt(abs(np.linalg.det(v)) / f.shape[0]))
    _check_sites((ny, nx), spacing, 3 * spacing, n_motif=1)
    rng = np.random.default_rng(_check_seed(seed))

    origin = np.array([0.5 * (nx - 1), 0.5 * (ny - 1)])
    corners = np.array([[0, 0], [nx, 0], [0, ny], [nx, ny]], float) - origin
    ij = corners @ np.linalg.inv(v)
    lo = np.floor(ij.min(axis=0)).astype(int) - 3
    hi = np.ceil(ij.max(axis=0)).astype(int) + 3
    jj, ii = np.mgrid[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1]
    xs, ys, sites = [], [], []
    for s, (f1, f2) in enumerate(f):
        r = origin + np.column_stack([ii.ravel() + f1, jj.ravel() + f2]) @ v
        ux, uy = edge_dislocation_displacement(
            r[:, 0] - cx, r[:, 1] - cy, tuple(b), poisson, length=float(nx + ny)
        )
        xs.append(r[:, 0] + ux)
        ys.append(r[:, 1] + uy)
        sites.append(np.full(r.shape[0], s, dtype=np.int64))
    x, y, site = np.concatenate(xs), np.concatenate(ys), np.concatenate(sites)
    keep = (x >= margin) & (x <= nx - 1 - margin) & (y >= margin)
    keep &= y <= ny - 1 - margin
    x, y, site = x[keep], y[keep], site[keep]
    gone = np.zeros(x.size, dtype=bool)
    gone[rng.choice(x.size, int(round(frac * x.size)), replace=False)] = True
    return {
        "x": x[~gone],
        "y": y[~gone],
        "site": site[~gone],
        "vacancy_x": x[gone],
        "vacancy_y": y[gone],
        "vacancy_site": site[gone],
        "core": np.array([cx, cy]),
        "burgers": b.astype(float),
        "burgers_indices": n12,
        "vectors": v,
    }


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
    >>> from hyperspy_localcryst.numerics.synthetic import cramer_rao_bound
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
    >>> from hyperspy_localcryst.numerics.synthetic import make_drift_stack
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


# ---------------------------------------------------------------------------
# survey image + spectrum image pair
# ---------------------------------------------------------------------------
def edge_spectrum(energy, onset, white_line=3.0, width=1.5, decay=60.0):
    """A core-loss edge without background: a smoothed step and a white line.

    Parameters
    ----------
    energy : array_like
        Channel energies (eV).
    onset : float
        Edge onset (eV).
    white_line : float
        Height of the peak just above the onset, relative to the step.
    width : float
        Width (eV) of the step and of the peak.
    decay : float
        The step decays as ``exp(-(E - onset) / decay)`` above the onset.

    Returns
    -------
    numpy.ndarray
        Non-negative, 0 well below the onset, step height 1.

    Examples
    --------
    >>> e = np.arange(440.0, 480.0)
    >>> s = edge_spectrum(e, 456.0)
    >>> float(s[0]) < 1e-3 < float(s.max())
    True
    """
    e = check_array(energy, "energy")
    onset = _number(onset, "onset")
    white_line = _number(white_line, "white_line")
    width = _number(width, "width", positive=True)
    decay = _number(decay, "decay", positive=True)
    z = (e - onset) / width
    step = 0.5 * (1.0 + np.tanh(z)) * np.exp(-np.maximum(e - onset, 0.0) / decay)
    peak = white_line * np.exp(-0.5 * ((e - onset - 2.0 * width) / width) ** 2)
    return step + peak


def make_spectrum_image_pair(
    shape=(192, 192),
    spacing=14.0,
    lattice="perovskite",
    sigma=2.5,
    sublattice_peaks=(200.0, 80.0),
    background=20.0,
    si_region=None,
    si_shape=(40, 40),
    si_rotation=0.0,
    energy=None,
    site_spectra=None,
    probe_sigma=None,
    dose=200.0,
    positions=None,
    subsample=3,
    noise="poisson",
    seed=None,
):
    """A survey image and a spectrum image (SI) of the same atoms, with truth.

    The survey is a lattice image (:func:`make_lattice_image`'s model). The
    SI scans the rectangle ``si_region`` of the survey (outer pixel edges,
    survey pixels, before rotation) with ``si_shape`` pixels, its frame
    turned by ``si_rotation`` about the rectangle's centre (see
    :func:`hyperspy_localcryst.numerics.spectra.region_transform`). Each SI
    pixel records ``sum over atoms of g(r) * site_spectra[site]``, ``g`` a
    round Gaussian probe/scattering footprint of width ``probe_sigma`` around
    each atom, averaged over ``subsample²`` points of the SI pixel, times
    ``dose``, with Poisson noise.

    Parameters
    ----------
    shape, spacing, lattice, sigma, sublattice_peaks, background
        Survey image (pixels), as :func:`make_lattice_image`; the site of an
        atom is its sub-lattice.
    si_region : (float, float, float, float), optional
        ``(left, top, right, bottom)``; default the central 60 % of the survey.
    si_shape : (int, int)
        ``(ny, nx)`` of the SI.
    si_rotation : float
        Degrees, counter-clockwise as seen on the survey.
    energy : array_like, optional
        Channel energies; default 400..599 eV in 1 eV channels.
    site_spectra : array_like, shape (n_sites, n_energy), optional
        Spectrum of each site; default :func:`edge_spectrum` with onsets 456
        eV (site 0) and 532 eV (site 1), like Ti L3 and O K.
    probe_sigma : float, optional
        Survey pixels; default ``0.2 * spacing``.
    dose : float
        Counts scale of the SI.
    positions : (x, y, site), optional
        Use these atoms (survey pixels, integer sites) instead of a lattice;
        they are rendered in the survey with ``sublattice_peaks[site]``.
    subsample : int
        Points per SI pixel and axis.
    noise : {"poisson", None}
    seed : int, optional

    Returns
    -------
    survey : numpy.ndarray, shape ``shape``
    si : numpy.ndarray, shape ``si_shape + (n_energy,)``
    truth : dict
        ``x``, ``y``, ``site`` (atoms inside the survey, survey pixels),
        ``si_x``, ``si_y`` (the same atoms in SI pixels), ``affine`` (SI to
        survey pixels, (2, 3)), ``energy``, ``site_spectra``, ``haadf``
        (the image recorded with the SI: the survey's model sampled on the
        SI's scan with ``subsample`` pixels per SI pixel and axis, Poisson
        noise like the survey).

    Examples
    --------
    >>> survey, si, t = make_spectrum_image_pair(shape=(64, 64), si_shape=(8, 8),
    ...                                          seed=0)
    >>> survey.shape, si.shape, t["site_spectra"].shape
    ((64, 64), (8, 8, 200), (2, 200))
    """
    from scipy import ndimage
    from scipy.spatial import cKDTree

    from .spectra import (
        apply_affine,
        atoms_to_si_pixels,
        region_transform,
        si_pixel_centres,
    )

    ny, nx = _check_shape(shape)
    if noise is not None and not (isinstance(noise, str) and noise == "poisson"):
        raise ValueError(f"`noise` must be 'poisson' or None, got {noise!r:.60}.")
    spacing = _number(spacing, "spacing", positive=True)
    sigma = _number(sigma, "sigma", positive=True)
    background = _number(background, "background", minimum=0.0)
    dose = _number(dose, "dose", minimum=0.0)
    si_rotation = _number(si_rotation, "si_rotation")
    _check_seed(seed)
    probe_name = "probe_sigma" if probe_sigma is not None else "spacing"
    if probe_sigma is None:
        probe_sigma = 0.2 * spacing
    probe_sigma = _number(probe_sigma, "probe_sigma")
    if not probe_sigma > 0:
        raise ValueError(f"`probe_sigma` must be positive, got {probe_sigma!r}.")
    if not isinstance(si_shape, (tuple, list, np.ndarray)) or len(si_shape) != 2:
        raise TypeError(f"`si_shape` must be a pair (ny, nx), got {si_shape!r:.60}.")
    sny, snx = (check_integer(v, "si_shape", minimum=1) for v in si_shape)
    subsample = check_integer(subsample, "subsample", minimum=1)
    check_memory(
        8.0 * sny * snx * subsample**2,
        "subsample",
        subsample,
        f"{sny * snx} SI pixels × {subsample}² points, per array",
        total=80.0 * sny * snx * subsample**2,
    )
    if energy is None:
        energy = np.arange(400.0, 600.0, 1.0)
    energy = check_array(energy, "energy", ndim=1, finite=True)
    check_memory(
        8.0 * sny * snx * energy.size, "si_shape", tuple(si_shape), "the SI's counts"
    )
    if site_spectra is None:
        site_spectra = np.stack(
            [edge_spectrum(energy, 456.0), edge_spectrum(energy, 532.0)]
        )
    site_spectra = np.atleast_2d(check_array(site_spectra, "site_spectra"))
    if site_spectra.shape[1] != energy.size:
        raise ValueError(
            f"`site_spectra` has {site_spectra.shape[1]} channels for "
            f"{energy.size} energies (`energy`)."
        )
    if si_region is None:
        si_region = (0.2 * nx - 0.5, 0.2 * ny - 0.5, 0.8 * nx - 0.5, 0.8 * ny - 0.5)
    si_region = check_numbers(si_region, "si_region", 4, "(left, top, right, bottom)")
    A = region_transform(si_region, si_shape, si_rotation)
    for name, value in (("sigma", sigma), (probe_name, probe_sigma)):
        if value > max(ny, nx):
            what = (
                "" if name != "spacing" else f" (the default probe_sigma, 0.2 × {name})"
            )
            raise ValueError(
                f"`{name}` gives a width of {value:g} px{what}, larger than the "
                f"image ({nx} x {ny} px)."
            )
    reach = 6.0 * max(sigma, probe_sigma)
    if positions is None:
        x, y, site = lattice_positions(
            (ny, nx), spacing, lattice, margin=-(reach + spacing)
        )
    else:
        if not isinstance(positions, (tuple, list)) or len(positions) != 3:
            raise TypeError(
                "`positions` must be (x, y, site), three arrays of one value per "
                f"atom, got {positions!r:.60}."
            )
        x, y, site = (check_array(v, "positions", finite=True) for v in positions)
        x, y, site = x.ravel(), y.ravel(), site.ravel()
        if not (x.size == y.size == site.size) or x.size == 0:
            raise ValueError(
                "`positions` must be (x, y, site) of the same, non-zero length, got "
                f"{x.size}, {y.size} and {site.size} values."
            )
        if not np.all(site == np.round(site)):
            raise ValueError("`positions`: the sites must be integers.")
        site = site.astype(np.int64)
    peaks = check_array(sublattice_peaks, "sublattice_peaks", finite=True).ravel()
    if site.max() >= len(site_spectra) or site.max() >= len(peaks) or site.min() < 0:
        raise ValueError(
            "every site of `positions` needs a spectrum in `site_spectra` and a "
            "peak in `sublattice_peaks` (sites 0 .. "
            f"{min(len(site_spectra), len(peaks)) - 1}), got sites "
            f"{int(site.min())} .. {int(site.max())}."
        )
    render = (
        (x >= -reach) & (x <= nx - 1 + reach) & (y >= -reach) & (y <= ny - 1 + reach)
    )
    survey = render_gaussians(
        (ny, nx),
        x[render],
        y[render],
        peaks[site[render]],
        sigma,
        background=background,
        truncate=6.0,
    )
    px, py, pixel = si_pixel_centres(A, si_shape, subsample)
    pairs = cKDTree(np.column_stack([px, py])).sparse_distance_matrix(
        cKDTree(np.column_stack([x, y])), 5.0 * probe_sigma, output_type="ndarray"
    )
    g = np.exp(-0.5 * (pairs["v"] / probe_sigma) ** 2) / subsample**2
    n_pix = int(np.prod(si_shape))
    # weight of each (SI pixel, site): sum of the footprints of that site's atoms
    w = np.zeros((n_pix, len(site_spectra)))
    np.add.at(w, (pixel[pairs["i"]], site[pairs["j"]]), g)
    si = dose * (w @ site_spectra)
    # the simultaneous image (e.g. HAADF): the survey's model sampled on the
    # SI's scan, ``subsample`` x ``subsample`` pixels per SI pixel
    f = int(subsample)
    jj, ii = np.mgrid[0 : si_shape[0] * f, 0 : si_shape[1] * f]
    hx, hy = apply_affine(A, (ii + 0.5) / f - 0.5, (jj + 0.5) / f - 0.5)
    haadf = ndimage.map_coordinates(survey, [hy, hx], order=1, mode="nearest")
    rng = np.random.default_rng(seed)
    if noise == "poisson":
        survey = rng.poisson(np.maximum(survey, 0)).astype(np.float64)
        si = rng.poisson(np.maximum(si, 0)).astype(np.float64)
        haadf = rng.poisson(np.maximum(haadf, 0)).astype(np.float64)
    inside = (x >= 0) & (x <= nx - 1) & (y >= 0) & (y <= ny - 1)
    si_x, si_y = atoms_to_si_pixels(x[inside], y[inside], A)
    truth = {
        "x": x[inside],
        "y": y[inside],
        "site": site[inside],
        "si_x": si_x,
        "si_y": si_y,
        "affine": A,
        "energy": energy,
        "site_spectra": site_spectra,
        "haadf": haadf,
    }
    return survey, si.reshape(tuple(si_shape) + (energy.size,)), truth
