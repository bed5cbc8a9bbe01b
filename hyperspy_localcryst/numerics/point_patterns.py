"""Point patterns on the image grid: histograms of neighbour vectors
(:func:`vector_histogram`), the periodicity of a set of positions
(:func:`point_pattern_fft`, :func:`fft_periodicity`) and per-atom maps
(:func:`rasterise_nearest`).

Positions are in pixels, ``x`` is the column and ``y`` the row; pixel
``image[r, c]`` has its centre at ``x = c``, ``y = r``; images are arrays of
shape ``(ny, nx)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from scipy import fft as sp_fft
from scipy.spatial import cKDTree

from ._checks import (
    check_array,
    check_bool,
    check_number,
)
from ._parallel import kd_query, max_threads
from .clustering import _int_arg

__all__ = [
    "vector_histogram",
    "point_pattern_fft",
    "fft_periodicity",
    "rasterise_nearest",
]


#: Largest 2D grid (cells) a histogram or spectrum is made on: 2**27 cells
#: of float64 are 1 GiB per array; beyond, an argument typo (bins=10**6)
#: would end in a MemoryError or in swapping instead of a clear error.
MAX_GRID_CELLS = 2**27


def _check_grid_size(ny, nx, name):
    if ny * nx > MAX_GRID_CELLS:
        raise ValueError(
            f"{name} gives a grid of {ny} x {nx} = {ny * nx:,} cells, more than "
            f"{MAX_GRID_CELLS:,} (1 GiB per array); use fewer"
        )


def _shape_arg(shape) -> tuple[int, int]:
    if not isinstance(shape, (tuple, list, np.ndarray)):
        raise ValueError(f"shape must be a pair (ny, nx), got {shape!r:.60}")
    try:
        ny, nx = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a pair (ny, nx), got {shape!r}") from None
    if ny <= 0 or nx <= 0 or (ny, nx) != tuple(shape):
        raise ValueError(f"shape must be two positive integers, got {shape!r}")
    _check_grid_size(ny, nx, "shape")
    return ny, nx


def _coordinates(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = check_array(x, "x")
    y = check_array(y, "y")
    if x.ndim != 1:
        raise ValueError(f"x must be 1D, got shape {x.shape}")
    if y.shape != x.shape:
        raise ValueError(f"y must have the shape of x {x.shape}, got {y.shape}")
    return x, y


# ---------------------------------------------------------------------------
# vector histogram
# ---------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _max_abs_finite(v):
    """Largest absolute component of the rows of ``v`` that are finite."""
    m = 0.0
    for i in range(v.shape[0]):
        a = v[i, 0]
        b = v[i, 1]
        if np.isfinite(a) and np.isfinite(b):
            m = max(m, abs(a), abs(b))
    return m


@njit(cache=True, nogil=True)
def _bin_index(v, lo, norm, edges, nbins):
    # as numpy.histogram for equal bins: estimate, then correct by the edges
    i = int((v - lo) * norm)
    if i >= nbins:
        i = nbins - 1
    if i < 0:
        i = 0
    if v < edges[i]:
        i -= 1
    elif i < nbins - 1 and v >= edges[i + 1]:
        i += 1
    return i


@njit(cache=True, nogil=True, parallel=True)
def _histogram2d(v, xedges, yedges, n_chunks):
    n = v.shape[0]
    nx = xedges.shape[0] - 1
    ny = yedges.shape[0] - 1
    xlo, xhi = xedges[0], xedges[nx]
    ylo, yhi = yedges[0], yedges[ny]
    xnorm = nx / (xhi - xlo)
    ynorm = ny / (yhi - ylo)
    counts = np.zeros((n_chunks, ny, nx), dtype=np.int64)
    for ch in prange(n_chunks):
        for i in range(ch * n // n_chunks, (ch + 1) * n // n_chunks):
            a = v[i, 0]
            b = v[i, 1]
            # NaN fails every comparison
            if a >= xlo and a <= xhi and b >= ylo and b <= yhi:
                ix = _bin_index(a, xlo, xnorm, xedges, nx)
                iy = _bin_index(b, ylo, ynorm, yedges, ny)
                counts[ch, iy, ix] += 1
    out = np.zeros((ny, nx))
    for ch in range(n_chunks):
        out += counts[ch]
    return out


def vector_histogram(vectors, bins=101, extent=None):
    """2D histogram of 2D vectors (e.g. all neighbour vectors of all atoms).

    Bins follow :func:`numpy.histogram2d` exactly (half-open bins, the last
    bin closed; vectors outside ``extent`` are not counted) but are counted
    in one compiled parallel pass without temporary arrays.

    Parameters
    ----------
    vectors : array_like, shape (..., 2)
        Vectors ``(dx, dy)`` in pixels along the last axis. Rows with a NaN
        or infinite component are ignored.
    bins : int or (int, int), default 101
        Number of bins, or ``(nx, ny)`` along dx and dy.
    extent : (xmin, xmax, ymin, ymax) or None
        Outer bin edges. ``None``: symmetric about 0, ``±1.05 m`` on both
        axes with ``m`` the largest absolute component of the finite vectors
        (``±1`` when there is none or all are zero).

    Returns
    -------
    counts : numpy.ndarray of float64, shape (ny, nx)
        Counts; row ``i`` is the dy bin, column ``j`` the dx bin (so
        ``imshow(counts, origin="lower", extent=extent)`` draws the vectors).
    extent : tuple of float
        ``(xmin, xmax, ymin, ymax)`` of the bin edges.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.array([[1.0, 0.0], [0.0, -1.0], [np.nan, 2.0]])
    >>> counts, extent = vector_histogram(v, bins=3)
    >>> float(counts.sum()), extent
    (2.0, (-1.05, 1.05, -1.05, 1.05))
    >>> counts.tolist()
    [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """
    try:
        v = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("vectors must be a real numeric array") from None
    if v.ndim < 1 or v.shape[-1] != 2:
        raise ValueError(f"vectors must have shape (..., 2), got {v.shape}")
    v = np.ascontiguousarray(v.reshape(-1, 2))
    if np.ndim(bins) == 0:
        nx = ny = _int_arg(bins, "bins", 1)
    else:
        if len(bins) != 2:
            raise ValueError(f"bins must be an int or a pair (nx, ny), got {bins!r}")
        nx = _int_arg(bins[0], "bins", 1)
        ny = _int_arg(bins[1], "bins", 1)
    _check_grid_size(ny, nx, "bins")
    if extent is None:
        m = float(_max_abs_finite(v)) if v.shape[0] else 0.0
        h = 1.05 * m if m > 0 else 1.0
        extent = (-h, h, -h, h)
    else:
        try:
            extent = tuple(float(e) for e in extent)
        except (TypeError, ValueError):
            raise ValueError(
                f"extent must be (xmin, xmax, ymin, ymax), got {extent!r}"
            ) from None
        if (
            len(extent) != 4
            or not np.isfinite(extent).all()
            or not (extent[1] > extent[0] and extent[3] > extent[2])
        ):
            raise ValueError(
                "extent must be four finite numbers (xmin, xmax, ymin, ymax) "
                f"with xmax > xmin and ymax > ymin, got {extent!r}"
            )
    xedges = np.linspace(extent[0], extent[1], nx + 1)
    yedges = np.linspace(extent[2], extent[3], ny + 1)
    # one private histogram per chunk (at most 128 MiB of them in all)
    n_chunks = 1 if v.shape[0] < 1 << 16 else max(1, min(16, (1 << 24) // (nx * ny)))
    counts = _histogram2d(v, xedges, yedges, n_chunks)
    return counts, extent


# ---------------------------------------------------------------------------
# periodicity of point patterns
# ---------------------------------------------------------------------------
def _splat(x, y, shape):
    """Bilinear splat of points (weight 1 each) onto a zero image."""
    ny, nx = shape
    inside = (x >= 0) & (x <= nx - 1) & (y >= 0) & (y <= ny - 1)
    x = x[inside]
    y = y[inside]
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = x - x0
    fy = y - y0
    x0 = x0.astype(np.intp)
    y0 = y0.astype(np.intp)
    # one spare row and column take the zero weights of points on the far
    # edge; the four corners' weights in one pass (one image-sized array)
    w = nx + 1
    idx = y0 * w + x0
    acc = np.bincount(
        np.concatenate([idx, idx + 1, idx + w, idx + w + 1]),
        np.concatenate([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy]),
        minlength=(ny + 1) * w,
    ).astype(np.float64, copy=False)  # (integer when there are no points)
    return acc.reshape(ny + 1, w)[:ny, :nx]


def point_pattern_fft(x, y, shape, window=True):
    """Power spectrum of a point pattern (e.g. atom positions).

    Each point is splatted with bilinear weights onto the 4 pixels around it
    in a zero image of ``shape`` (points outside the image, or NaN, are
    ignored), the image is multiplied by a 2D Hann window when ``window``,
    and ``|F|²`` of its 2D FFT is returned with zero frequency at
    ``(ny // 2, nx // 2)`` (``numpy.fft.fftshift``). A lattice with period
    ``a`` pixels along x gives spots ``nx / a`` pixels left and right of the
    centre; along y, ``ny / a`` pixels above and below.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Point positions in pixels (x = column, y = row).
    shape : (int, int)
        ``(ny, nx)`` of the image and of the spectrum.
    window : bool, default True
        Multiply by a Hann window (suppresses the edge streaks).

    Returns
    -------
    numpy.ndarray of float64, shape (ny, nx)
        Power spectrum, zero frequency at ``(ny // 2, nx // 2)``.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[4:60:8, 4:60:4] + 0.5  # periods 8 (y) and 4 (x)
    >>> p = point_pattern_fft(xx.ravel(), yy.ravel(), (64, 64))
    >>> p.shape, int(np.argmax(p[32, 33:])) + 1, int(np.argmax(p[33:, 32])) + 1
    ((64, 64), 16, 8)
    """
    x, y = _coordinates(x, y)
    shape = _shape_arg(shape)
    window = check_bool(window, "window")
    ny, nx = shape
    img = _splat(x, y, shape)
    if window:  # the separable Hann window, in place
        img *= np.hanning(ny)[:, None]
        img *= np.hanning(nx)
    # the input is real: half the spectrum (rfft2), the other half by
    # Hermitian symmetry, P(-k) = P(k); assembled straight into the centred
    # (fftshift) order, so no more than ~2 image-sized arrays live at once
    f = sp_fft.rfft2(img, workers=max_threads())
    del img
    half = np.square(f.real)
    half += np.square(f.imag)
    del f
    ky = (np.arange(ny) - ny // 2) % ny  # frequency index of each output row
    kx = (np.arange(nx) - nx // 2) % nx  # ... and column
    stored = kx <= nx // 2
    power = np.empty((ny, nx))
    power[:, stored] = half[np.ix_(ky, kx[stored])]
    power[:, ~stored] = half[np.ix_(-ky % ny, nx - kx[~stored])]
    return power


def fft_periodicity(power, exclude_radius=3):
    """Peak-to-median score of a centred power spectrum.

    The maximum of ``power`` outside a disc of ``exclude_radius`` pixels
    around the centre ``(ny // 2, nx // 2)`` divided by the median outside
    that disc. Sharp Bragg spots of a periodic pattern give a large score
    (hundreds or more); a random (Poisson) point set gives a small one
    (about ``log(ny * nx)``, ~10-30, since its power is exponentially
    distributed).

    Parameters
    ----------
    power : array_like, shape (ny, nx)
        Non-negative finite power spectrum, e.g. from
        :func:`point_pattern_fft`.
    exclude_radius : float, default 3
        Radius in pixels of the excluded zero-frequency disc (pixels at a
        distance ``<= exclude_radius`` are excluded).

    Returns
    -------
    float
        The score; ``inf`` when the median is 0 and the maximum is not,
        ``0.0`` when both are 0.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[2:64:4, 2:64:4].astype(float) + 0.3
    >>> lattice = fft_periodicity(point_pattern_fft(xx.ravel(), yy.ravel(), (64, 64)))
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.uniform(0, 63, (2, xx.size))
    >>> random = fft_periodicity(point_pattern_fft(x, y, (64, 64)))
    >>> bool(lattice > 10 * random)
    True
    """
    p = check_array(power, "power")
    if p.ndim != 2:
        raise ValueError(f"power must be 2D, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("power contains NaN or infinite values")
    r = check_number(exclude_radius, "exclude_radius", "a radius in pixels")
    if not np.isfinite(r) or r < 0:
        raise ValueError(
            f"exclude_radius must be a finite number >= 0, got {exclude_radius!r}"
        )
    ny, nx = p.shape
    yy, xx = np.ogrid[:ny, :nx]
    outside = (yy - ny // 2) ** 2 + (xx - nx // 2) ** 2 > r * r
    if not outside.any():
        raise ValueError(
            f"exclude_radius={exclude_radius} excludes every pixel of power "
            f"(shape {p.shape})"
        )
    vals = p[outside]  # a copy: its median may reorder it
    peak = float(vals.max())
    med = float(np.median(vals, overwrite_input=True))
    if med > 0:
        return peak / med
    return float("inf") if peak > 0 else 0.0


# ---------------------------------------------------------------------------
# nearest-point maps
# ---------------------------------------------------------------------------
_MAX_CANDIDATES = 256


_MAX_CELLS = 1024


@njit(cache=True, nogil=True, parallel=True)
def _nearest_tiles(sx, sy, sidx, start, grid, values, rc, tile, max_d, out, hard):
    """Nearest point of every pixel, tile by tile.

    The nearest point of every pixel of a tile with centre ``c`` and
    half-diagonal ``h`` lies within ``rc + 2 h`` of ``c``, where ``rc`` is
    the distance from ``c`` to its nearest point: those candidates are taken
    from the grid of cells (points ``sx, sy`` sorted by cell, cell ``i`` holds
    ``start[i]:start[i + 1]``) and compared exactly at each pixel (ties: the
    lowest index ``sidx``). Tiles with too many candidates are flagged in
    ``hard`` and left for a k-d tree.
    """
    ny, nx = out.shape
    nty, ntx = rc.shape
    gx0, gy0, g = grid[0], grid[1], grid[2]
    ncx = int(grid[3])
    ncy = int(grid[4])
    max_d2 = max_d * max_d
    for ty in prange(nty):
        cand_x = np.empty(_MAX_CANDIDATES)
        cand_y = np.empty(_MAX_CANDIDATES)
        cand_i = np.empty(_MAX_CANDIDATES, dtype=np.int64)
        r0 = ty * tile
        r1 = min(r0 + tile, ny)
        for tx in range(ntx):
            c0 = tx * tile
            c1 = min(c0 + tile, nx)
            cx = 0.5 * (c0 + c1 - 1)
            cy = 0.5 * (r0 + r1 - 1)
            h = 0.5 * np.sqrt((c1 - c0 - 1.0) ** 2 + (r1 - r0 - 1.0) ** 2)
            if rc[ty, tx] - h > max_d * (1.0 + 1e-9) + 1e-9:
                # every pixel of the tile is farther than max_d from all points
                for r in range(r0, r1):
                    for c in range(c0, c1):
                        out[r, c] = np.nan
                continue
            radius = (rc[ty, tx] + 2.0 * h) * (1.0 + 1e-9) + 1e-9
            rad2 = radius * radius
            i0 = max(int(np.floor((cx - radius - gx0) / g)), 0)
            i1 = min(int(np.floor((cx + radius - gx0) / g)), ncx - 1)
            j0 = max(int(np.floor((cy - radius - gy0) / g)), 0)
            j1 = min(int(np.floor((cy + radius - gy0) / g)), ncy - 1)
            if i1 < i0 or j1 < j0 or (i1 - i0 + 1) * (j1 - j0 + 1) > _MAX_CELLS:
                hard[ty, tx] = True
                continue
            nc = 0
            full = False
            for j in range(j0, j1 + 1):
                for k in range(start[j * ncx + i0], start[j * ncx + i1 + 1]):
                    dx = sx[k] - cx
                    dy = sy[k] - cy
                    if dx * dx + dy * dy <= rad2:
                        if nc == _MAX_CANDIDATES:
                            full = True
                            break
                        cand_x[nc] = sx[k]
                        cand_y[nc] = sy[k]
                        cand_i[nc] = sidx[k]
                        nc += 1
                if full:
                    break
            if full or nc == 0:
                hard[ty, tx] = True
                continue
            for r in range(r0, r1):
                for c in range(c0, c1):
                    best = np.inf
                    bi = -1
                    for m in range(nc):
                        dx = cand_x[m] - c
                        dy = cand_y[m] - r
                        d = dx * dx + dy * dy
                        if d < best or (d == best and cand_i[m] < bi):
                            best = d
                            bi = cand_i[m]
                    out[r, c] = values[bi] if best <= max_d2 else np.nan


def _nearest_tree(x, y, values, rows, cols, max_d):
    """Values at pixels (rows, cols) of their nearest points by k-d tree
    (duplicate points reduced to their lowest index; exact ties between
    distinct points go to the lowest index)."""
    pts, first = np.unique(np.column_stack([x, y]), axis=0, return_index=True)
    tree = cKDTree(pts)
    k = min(8, len(pts))
    q = np.column_stack([cols, rows]).astype(np.float64)
    _, j = kd_query(tree, q, k=k)
    j = j.reshape(len(q), k)
    d2 = (pts[j, 0] - q[:, :1]) ** 2 + (pts[j, 1] - q[:, 1:]) ** 2
    d2min = d2.min(axis=1)
    tied = d2 == d2min[:, None]
    best = np.where(tied, first[j], np.iinfo(np.intp).max).min(axis=1)
    if k < len(pts):
        # more than k equidistant points possible: look at all of them
        for i in np.flatnonzero(tied.all(axis=1)):
            near = tree.query_ball_point(q[i], np.sqrt(d2min[i]) * (1 + 1e-9))
            near = np.asarray(near, dtype=np.intp)
            dd = (pts[near, 0] - q[i, 0]) ** 2 + (pts[near, 1] - q[i, 1]) ** 2
            best[i] = first[near[dd == d2min[i]]].min()
    res = values[best]
    res[d2min > max_d * max_d] = np.nan
    return res


def rasterise_nearest(x, y, values, shape, max_distance=None):
    """Map of the value of the nearest point at every pixel (Voronoi map).

    Pixel ``[r, c]`` (centre at ``x = c``, ``y = r``) takes the value of the
    point nearest to its centre, exactly (squared distances compared in
    double precision); a pixel equidistant from several points takes the
    value of the one with the lowest index. Use it to draw any per-atom
    quantity (strain, cluster label, polarisation) as an image.

    The image is cut into tiles of about one point spacing. The distance
    from a tile's centre to its nearest point (k-d tree) bounds where the
    nearest points of all the tile's pixels can be; those few candidates,
    taken from a grid of cells, are compared at every pixel (compiled,
    parallel over rows of tiles). Tiles with too many candidates (far from
    strongly clustered points) fall back to a k-d tree query per pixel.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Finite point positions in pixels (x = column, y = row); points may
        lie outside the image.
    values : array_like, shape (n,)
        Value of each point; NaN values appear as NaN in the map.
    shape : (int, int)
        ``(ny, nx)`` of the map.
    max_distance : float or None, default None
        Pixels farther than this (in pixels) from every point are NaN;
        ``None``: no limit.

    Returns
    -------
    numpy.ndarray of float64, shape (ny, nx)
        The map.

    Examples
    --------
    >>> rasterise_nearest([0.0, 3.0], [0.0, 0.0], [1.0, 2.0], (1, 5)).tolist()
    [[1.0, 1.0, 2.0, 2.0, 2.0]]
    >>> rasterise_nearest([0.0], [0.0], [7.0], (1, 4), max_distance=2).tolist()
    [[7.0, 7.0, 7.0, nan]]
    """
    x, y = _coordinates(x, y)
    if x.size == 0:
        raise ValueError("x and y must hold at least one point")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite (no NaN positions)")
    try:
        values = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("values must be real numbers") from None
    if values.shape != x.shape:
        raise ValueError(
            f"values must have the shape of x {x.shape}, got {values.shape}"
        )
    ny, nx = _shape_arg(shape)
    if max_distance is None:
        max_d = np.inf
    else:
        max_d = check_number(max_distance, "max_distance", "a distance or None")
        if np.isnan(max_d) or max_d < 0:
            raise ValueError(f"max_distance must be >= 0 or None, got {max_distance!r}")
    n = x.size
    # tiles of about one point spacing, cells holding ~2 points each
    tile = int(np.clip(np.sqrt(ny * nx / n), 2, 32))
    gx0, gy0 = float(x.min()), float(y.min())
    w, h = float(x.max()) - gx0, float(y.max()) - gy0
    g = max(np.sqrt(2.0 * w * h / n), w / 2048, h / 2048, 1.0)
    ncx, ncy = int(w // g) + 1, int(h // g) + 1
    ix = np.minimum((x - gx0) // g, ncx - 1).astype(np.intp)
    iy = np.minimum((y - gy0) // g, ncy - 1).astype(np.intp)
    cell = iy * ncx + ix
    order = np.argsort(cell, kind="stable")
    start = np.zeros(ncy * ncx + 1, dtype=np.int64)
    np.cumsum(np.bincount(cell, minlength=ncy * ncx), out=start[1:])
    # distance from every tile centre to its nearest point
    tree = cKDTree(np.column_stack([x, y]))
    r0 = np.arange(0, ny, tile)
    c0 = np.arange(0, nx, tile)
    cy = 0.5 * (r0 + np.minimum(r0 + tile, ny) - 1)
    cx = 0.5 * (c0 + np.minimum(c0 + tile, nx) - 1)
    qy, qx = np.meshgrid(cy, cx, indexing="ij")
    rc = kd_query(tree, np.column_stack([qx.ravel(), qy.ravel()]))[0]
    rc = rc.reshape(qy.shape)
    out = np.empty((ny, nx))
    hard = np.zeros(rc.shape, dtype=np.bool_)
    grid = np.array([gx0, gy0, g, ncx, ncy], dtype=np.float64)
    _nearest_tiles(
        x[order], y[order], order, start, grid, values, rc, tile, max_d, out, hard
    )
    if hard.any():
        mask = np.repeat(np.repeat(hard, tile, axis=0), tile, axis=1)[:ny, :nx]
        rows, cols = np.nonzero(mask)
        out[rows, cols] = _nearest_tree(x, y, values, rows, cols, max_d)
    return out
