"""Atoms and spectrum images, on plain arrays (survey pixels, SI pixels).

A spectrum image (SI, e.g. STEM-EELS or EDS) is acquired on its own scan grid:
a region of the survey image, sampled by ``(ny, nx)`` SI pixels that may be
larger than the survey's pixels, non-square, and turned relative to the
survey's scan. Here that geometry is one affine map from SI pixels to survey
pixels (:func:`region_transform`), with which atoms are mapped into the SI
(:func:`atoms_to_si_pixels`), each atom's cell (Voronoi cell or a disc) is
sampled on the SI grid (:func:`cell_weights`) and the spectra are integrated
(:func:`integrate_cells`), averaged per class (:func:`cluster_mean_spectra`)
or reduced to an edge intensity (:func:`window_intensity`).

Nothing here imports HyperSpy.

Conventions
-----------
* Survey positions are in survey pixels, ``x`` the column and ``y`` the row,
  pixel centres at integers (pixel ``image[r, c]`` spans ``c - 0.5 .. c + 0.5``).
* SI positions are in SI pixels ``(i, j)`` = (column, row) of the SI's
  navigation grid, pixel centres at integers; the spectra array has shape
  ``(ny, nx, n_energy)`` (HyperSpy's data order of a Signal1D with two
  navigation axes).
* An affine map is a ``(2, 3)`` array ``A``: ``survey = A[:, :2] @ (i, j) +
  A[:, 2]``.
* Angles are in degrees, counter-clockwise as seen on the displayed image
  (y down), as in :mod:`hyperspy_localcryst.data.synthetic`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from ._checks import (
    available_memory,
    check_array,
    check_bool,
    check_integer,
    check_memory,
    check_number,
    check_numbers,
)
from ._imaging import parabolic_vertex
from ._parallel import kd_query, nearest_distances

__all__ = [
    "region_transform",
    "invert_affine",
    "apply_affine",
    "atoms_to_si_pixels",
    "si_pixel_centres",
    "cell_weights",
    "integrate_cells",
    "cluster_mean_spectra",
    "window_intensity",
    "estimate_si_shift",
    "rotate_affine",
    "estimate_si_rotation",
    "default_rotation_step",
    "rotation_trials",
]


def _finite(value, name):
    v = check_number(value, name)
    if not math.isfinite(v):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    return v


def _positive(value, name):
    v = _finite(value, name)
    if v <= 0:
        raise ValueError(f"`{name}` must be positive, got {value!r}")
    return v


def _si_shape(si_shape):
    if not isinstance(si_shape, (tuple, list, np.ndarray)) or len(si_shape) != 2:
        raise TypeError(f"`si_shape` must be a pair (ny, nx), got {si_shape!r:.60}")
    ny, nx = (check_integer(v, "si_shape", minimum=1) for v in si_shape)
    return ny, nx


#: Bytes per sampling point of :func:`cell_weights` (coordinates, SI pixel
#: index, kd-tree query results and temporaries: about ten 8-byte arrays).
_BYTES_PER_POINT = 80


def _check_subsample(subsample, n_pixels):
    """``subsample`` as an int >= 1 whose sampling points fit in memory (the
    SI's own size is named when one point per pixel is already too many)."""
    s = check_integer(subsample, "subsample", minimum=1)
    points = float(n_pixels) * s * s
    too_big = _BYTES_PER_POINT * float(n_pixels) > available_memory()
    check_memory(
        8.0 * points,
        "si_shape" if too_big else "subsample",
        f"{n_pixels} pixels" if too_big else s,
        f"{n_pixels} SI pixels × {s}² points, per coordinate array",
        total=_BYTES_PER_POINT * points,
    )
    return s


def _affine(A):
    A = check_array(A, "affine")
    if A.shape != (2, 3) or not np.isfinite(A).all():
        raise ValueError(f"`affine` must be a finite (2, 3) array, got shape {A.shape}")
    if abs(np.linalg.det(A[:, :2])) < 1e-12:
        raise ValueError("`affine` is singular (zero area SI pixels).")
    return A


def region_transform(region, si_shape, rotation=0.0):
    """Affine map from SI pixels to survey pixels, from the scanned region.

    The SI scanned a rectangle of the survey image: before rotation its outer
    pixel edges are ``left, top, right, bottom`` (survey pixels); the SI's
    scan frame is then turned by ``rotation`` about the rectangle's centre.
    SI pixel ``(i, j)`` (column, row) has its centre at the centre of the
    ``(i, j)``-th of the ``nx × ny`` cells of that rectangle.

    Parameters
    ----------
    region : sequence of 4 float
        ``(left, top, right, bottom)`` in survey pixels (pixel edges: a region
        covering survey pixels 0..9 is ``(-0.5, ..., 9.5, ...)``).
    si_shape : (int, int)
        ``(ny, nx)`` of the SI's navigation grid.
    rotation : float
        Degrees, counter-clockwise as seen on the survey: the SI's +i
        direction in the survey is ``(cos, -sin)`` of it.

    Returns
    -------
    numpy.ndarray, shape (2, 3)
        ``A`` with ``survey = A[:, :2] @ (i, j) + A[:, 2]``.

    Examples
    --------
    >>> A = region_transform((-0.5, -0.5, 9.5, 19.5), (2, 2))
    >>> apply_affine(A, [0.0, 1.0], [0.0, 1.0])
    (array([2., 7.]), array([ 4.5, 14.5]))
    """
    left, top, right, bottom = check_numbers(
        region, "region", 4, "(left, top, right, bottom)"
    )
    if right <= left or bottom <= top:
        raise ValueError(
            f"`region` (left, top, right, bottom) = {tuple(region)} has no area: "
            "right must exceed left and bottom must exceed top."
        )
    ny, nx = _si_shape(si_shape)
    t = math.radians(_finite(rotation, "rotation"))
    c, s = math.cos(t), math.sin(t)
    R = np.array([[c, s], [-s, c]])
    w, h = right - left, bottom - top
    sx, sy = w / nx, h / ny
    centre = np.array([0.5 * (left + right), 0.5 * (top + bottom)])
    A = np.empty((2, 3))
    A[:, :2] = R @ np.diag([sx, sy])
    A[:, 2] = centre + R @ np.array([0.5 * sx - 0.5 * w, 0.5 * sy - 0.5 * h])
    return A


def invert_affine(A):
    """The inverse affine map (survey pixels to SI pixels).

    Examples
    --------
    >>> A = region_transform((-0.5, -0.5, 9.5, 19.5), (2, 2), rotation=30)
    >>> B = invert_affine(A)
    >>> np.allclose(apply_affine(B, *apply_affine(A, [1.0], [0.0])), [[1.0], [0.0]])
    True
    """
    A = _affine(A)
    M = np.linalg.inv(A[:, :2])
    out = np.empty((2, 3))
    out[:, :2] = M
    out[:, 2] = -M @ A[:, 2]
    return out


def apply_affine(A, x, y):
    """Apply a (2, 3) affine map to positions.

    Examples
    --------
    >>> apply_affine([[1, 0, 5], [0, 2, 0]], [1.0], [1.0])
    (array([6.]), array([2.]))
    """
    A = check_array(A, "A", ndim=2)
    x = check_array(x, "x")
    y = check_array(y, "y")
    if A.shape != (2, 3):
        raise ValueError(f"`A` must be a (2, 3) affine map, got shape {A.shape}.")
    return (
        A[0, 0] * x + A[0, 1] * y + A[0, 2],
        A[1, 0] * x + A[1, 1] * y + A[1, 2],
    )


def atoms_to_si_pixels(x, y, affine):
    """Atom positions (survey pixels) in SI pixel coordinates.

    Parameters
    ----------
    x, y : array_like
        Survey pixels.
    affine : array_like, shape (2, 3)
        SI pixels to survey pixels (:func:`region_transform`).

    Returns
    -------
    i, j : numpy.ndarray
        SI column and row (pixel centres at integers); an atom is inside
        the SI when ``-0.5 <= i < nx - 0.5`` and ``-0.5 <= j < ny - 0.5``.

    Examples
    --------
    >>> A = region_transform((-0.5, -0.5, 9.5, 19.5), (2, 2))
    >>> atoms_to_si_pixels([2.0], [14.5], A)
    (array([0.]), array([1.]))
    """
    return apply_affine(invert_affine(affine), x, y)


def si_pixel_centres(affine, si_shape, subsample=1):
    """Survey positions of SI pixel centres (or of ``subsample²`` points each).

    Parameters
    ----------
    affine : array_like, shape (2, 3)
    si_shape : (int, int)
    subsample : int
        Points per SI pixel along each axis (a regular grid over the pixel's
        area).

    Returns
    -------
    x, y : numpy.ndarray, shape (ny * nx * subsample**2,)
        Survey pixels, ordered by SI pixel (row-major), then sub-point.
    pixel : numpy.ndarray of int
        Flat SI pixel index (``j * nx + i``) of each point.

    Examples
    --------
    >>> A = region_transform((-0.5, -0.5, 3.5, 1.5), (1, 2))
    >>> x, y, p = si_pixel_centres(A, (1, 2), subsample=2)
    >>> x.tolist(), p.tolist()
    ([0.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0, 3.0], [0, 0, 0, 0, 1, 1, 1, 1])
    """
    ny, nx = _si_shape(si_shape)
    s = _check_subsample(subsample, ny * nx)
    sub = (np.arange(s) + 0.5) / s - 0.5
    jj, ii = np.mgrid[0:ny, 0:nx]
    bb, aa = np.meshgrid(sub, sub, indexing="ij")
    i = (ii.ravel()[:, None] + aa.ravel()[None, :]).ravel()
    j = (jj.ravel()[:, None] + bb.ravel()[None, :]).ravel()
    pixel = np.repeat(np.arange(ny * nx), s * s)
    x, y = apply_affine(_affine(affine), i, j)
    return x, y, pixel


def _nn_distance(x, y):
    if len(x) < 2:
        return np.inf
    p = np.column_stack([x, y])
    d = nearest_distances(p)
    return float(np.median(d))


def cell_weights(
    x,
    y,
    affine,
    si_shape,
    cell="voronoi",
    radius=None,
    max_distance=None,
    subsample=None,
):
    """How much of each SI pixel lies in each atom's cell (sparse matrix).

    Every SI pixel is sampled by ``subsample × subsample`` points. For
    ``cell="voronoi"`` each point belongs to its nearest atom (the Voronoi
    cells of all atoms), unless it is farther than ``max_distance`` from every
    atom; for ``cell="radius"`` it belongs to every atom within ``radius``
    (discs may overlap). The weight of (atom, SI pixel) is the fraction of
    the pixel's points in the atom's cell, so a row sums to the cell's area
    inside the SI, in SI pixels.

    Parameters
    ----------
    x, y : array_like, shape (n_atoms,)
        Atom positions in survey pixels (all atoms, so cells are bounded by
        every neighbour).
    affine : array_like, shape (2, 3)
        SI pixels to survey pixels.
    si_shape : (int, int)
        ``(ny, nx)`` of the SI.
    cell : {"voronoi", "radius"}
    radius : float, optional
        Disc radius in survey pixels (``cell="radius"``).
    max_distance : float, optional
        Voronoi cells end this far from their atom (survey pixels); default
        the median nearest-neighbour distance of the atoms.
    subsample : int, optional
        Sampling points per SI pixel and axis; default: enough for a point
        spacing of at most 1/8 of the nearest-neighbour distance (1..16).
        A value whose points would not fit in the available memory is
        refused up front (ValueError with the estimate).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n_atoms, ny * nx)

    Examples
    --------
    >>> A = region_transform((-0.5, -0.5, 3.5, 0.5), (1, 4))
    >>> W = cell_weights([0.0, 3.0], [0.0, 0.0], A, (1, 4), subsample=1,
    ...                  max_distance=5)
    >>> W.toarray().tolist()
    [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]
    """
    x = check_array(x, "x").ravel()
    y = check_array(y, "y").ravel()
    if x.shape != y.shape or x.size == 0:
        raise ValueError("`x` and `y` must be non-empty and of equal length.")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("Atom positions `x`, `y` contain NaN or infinite values.")
    ny, nx = _si_shape(si_shape)
    A = _affine(affine)
    if not isinstance(cell, str) or cell not in ("voronoi", "radius"):
        raise ValueError(f"Unknown `cell` {cell!r}; use 'voronoi' or 'radius'.")
    if radius is not None:
        radius = _positive(radius, "radius")
    if max_distance is not None:
        max_distance = _positive(max_distance, "max_distance")
    if subsample is not None:
        subsample = _check_subsample(subsample, ny * nx)
    nn = _nn_distance(x, y)
    if subsample is None:
        pix = max(np.hypot(*A[:, 0]), np.hypot(*A[:, 1]))
        subsample = int(np.clip(np.ceil(8 * pix / nn), 1, 16)) if np.isfinite(nn) else 1
    px, py, pixel = si_pixel_centres(A, (ny, nx), subsample)
    w = 1.0 / subsample**2
    atoms = cKDTree(np.column_stack([x, y]))
    n = x.size
    if cell == "voronoi":
        if max_distance is None:
            max_distance = nn
        md = _finite(max_distance, "max_distance")
        if md <= 0:
            raise ValueError(f"`max_distance` must be positive, got {max_distance!r}")
        d, k = kd_query(atoms, np.column_stack([px, py]), distance_upper_bound=md)
        ok = np.isfinite(d)
        rows, cols = k[ok], pixel[ok]
    elif cell == "radius":
        if radius is None:
            raise ValueError('`radius` is required for cell="radius".')
        r = radius
        # every (atom, point) pair within r is stored: refuse a radius whose
        # pairs cannot fit (a disc holds pi r² s² / (SI pixel area) points)
        area = abs(np.linalg.det(A[:, :2]))
        per_atom = min(px.size, math.pi * r * r * subsample**2 / area + 1)
        check_memory(
            24.0 * n * per_atom,
            "radius",
            radius,
            f"{n} atoms × up to {per_atom:.3g} sampling points each",
        )
        points = cKDTree(np.column_stack([px, py]))
        pairs = atoms.sparse_distance_matrix(points, r, output_type="ndarray")
        rows, cols = pairs["i"].astype(np.int64), pixel[pairs["j"]]
    else:
        raise ValueError(f"Unknown `cell` {cell!r}; use 'voronoi' or 'radius'.")
    W = sparse.coo_matrix(
        (np.full(rows.size, w), (rows, cols)), shape=(n, ny * nx)
    ).tocsr()
    W.sum_duplicates()
    return W


def _spectra2d(spectra):
    s = np.asarray(spectra)
    if s.ndim != 3:
        raise ValueError(
            f"`spectra` must have shape (ny, nx, n_energy), got {s.shape}."
        )
    if np.iscomplexobj(s):
        raise TypeError("`spectra` must be real, got complex values.")
    s = s.reshape(-1, s.shape[-1]).astype(np.float64, copy=False)
    if not np.isfinite(s).all():
        raise ValueError(
            "`spectra` contain NaN or infinite values; mask or fill them first."
        )
    return s


def integrate_cells(spectra, weights):
    """Sum of the spectra over each atom's cell.

    Parameters
    ----------
    spectra : array_like, shape (ny, nx, n_energy)
    weights : scipy.sparse matrix, shape (n_atoms, ny * nx)
        From :func:`cell_weights`.

    Returns
    -------
    sums : numpy.ndarray, shape (n_atoms, n_energy)
        Integrated spectra (counts of the SI pixels, weighted by the fraction
        of each pixel in the cell).
    area : numpy.ndarray, shape (n_atoms,)
        Cell area inside the SI, in SI pixels (0: the atom's cell misses the
        SI).

    Examples
    --------
    >>> A = region_transform((-0.5, -0.5, 3.5, 0.5), (1, 4))
    >>> W = cell_weights([0.0, 3.0], [0.0, 0.0], A, (1, 4), subsample=1,
    ...                  max_distance=5)
    >>> s, a = integrate_cells(np.arange(8.0).reshape(1, 4, 2), W)
    >>> s.tolist(), a.tolist()
    ([[2.0, 4.0], [10.0, 12.0]], [2.0, 2.0])
    """
    S = _spectra2d(spectra)
    if not (sparse.issparse(weights) or isinstance(weights, np.ndarray)):
        raise TypeError(
            "`weights` must be the sparse matrix of `cell_weights`, got "
            f"{type(weights).__name__}."
        )
    if weights.ndim != 2 or weights.shape[1] != S.shape[0]:
        raise ValueError(
            f"`weights` cover {weights.shape[1]} SI pixels, `spectra` has {S.shape[0]}."
        )
    sums = np.asarray(weights @ S)
    area = np.asarray(weights.sum(axis=1)).ravel()
    return sums, area


def cluster_mean_spectra(sums, area, labels, n_clusters=None, allow_empty=False):
    """Mean spectrum per SI pixel of each class of atoms (area weighted).

    ``mean_k = sum of the cell sums of the atoms labelled k / their total
    cell area``: the spectrum of one SI pixel's worth of class-k cells. Atoms
    with a cell partly outside the SI count with the part inside.

    Parameters
    ----------
    sums, area : numpy.ndarray
        From :func:`integrate_cells`.
    labels : array_like of int, shape (n_atoms,)
        Class of each atom, ``0 .. n_clusters - 1``; negative: not used.
    n_clusters : int, optional
        Default ``labels.max() + 1``.
    allow_empty : bool
        A class whose atoms have no cell area in the SI gives NaN instead of
        an error.

    Returns
    -------
    means : numpy.ndarray, shape (n_clusters, n_energy)
    n_atoms : numpy.ndarray of int, shape (n_clusters,)
        Atoms of each class with a cell in the SI.
    total_area : numpy.ndarray, shape (n_clusters,)
        SI pixels in each class's cells.

    Examples
    --------
    >>> sums = np.array([[2.0, 4.0], [10.0, 12.0], [6.0, 6.0]])
    >>> m, n, a = cluster_mean_spectra(sums, np.array([2.0, 2.0, 2.0]), [0, 1, 1])
    >>> m.tolist(), n.tolist()
    ([[1.0, 2.0], [4.0, 4.5]], [1, 2])
    """
    sums = check_array(sums, "sums", ndim=2)
    area = check_array(area, "area").ravel()
    lab = check_array(labels, "labels")
    if lab.dtype.kind == "f":
        if not np.all(np.isnan(lab) | (np.isfinite(lab) & (lab == np.round(lab)))):
            raise ValueError("`labels` must be integers.")
        lab = np.where(np.isnan(lab), -1, lab)
    lab = lab.astype(np.int64).ravel()
    if lab.shape != area.shape or sums.shape[0] != area.size:
        raise ValueError(
            f"`labels` has {lab.size} entries for {area.size} atoms "
            f"({sums.shape[0]} spectra)."
        )
    allow_empty = check_bool(allow_empty, "allow_empty")
    if n_clusters is None:
        k = int(lab.max()) + 1 if lab.size else 0
        if k < 1:
            raise ValueError("`labels` has no class (all negative).")
    else:
        k = check_integer(n_clusters, "n_clusters", minimum=1)
    check_memory(8.0 * k * max(sums.shape[-1], 1), "n_clusters", k)
    use = (lab >= 0) & (lab < k) & (area > 0)
    L = sparse.coo_matrix(
        (np.ones(int(use.sum())), (lab[use], np.flatnonzero(use))),
        shape=(k, area.size),
    ).tocsr()
    total = np.asarray(L @ sums)
    tot_area = np.bincount(lab[use], weights=area[use], minlength=k)
    n_atoms = np.bincount(lab[use], minlength=k)
    empty = np.flatnonzero(tot_area == 0)
    if empty.size and not allow_empty:
        raise ValueError(
            f"Cluster(s) {empty.tolist()} have no atom whose cell lies in the "
            "spectrum image: no mean spectrum. Check the region, or pass "
            "`allow_empty=True` to get NaN for them."
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        means = total / tot_area[:, None]
    means[empty] = np.nan
    return means, n_atoms, tot_area


def window_intensity(spectra, energy, window, background=None):
    """Integrated intensity in an energy window, optionally above a power law.

    With ``background``, ``A E^-r`` is fitted (least squares on log counts)
    to each spectrum in the background window and subtracted before
    integrating, as for an EELS core-loss edge.

    Parameters
    ----------
    spectra : array_like, shape (n, n_energy)
    energy : array_like, shape (n_energy,)
        Channel energies (increasing).
    window : (float, float)
        Integration window (inclusive), same units as ``energy``.
    background : (float, float), optional
        Pre-edge window for the power-law fit; needs positive energies.

    Returns
    -------
    numpy.ndarray, shape (n,)
        ``sum over the window channels of (I - background) * channel width``.

    Examples
    --------
    >>> e = np.arange(100.0, 200.0)
    >>> s = 1e6 * e[None, :] ** -2.0 + 5.0 * (e >= 150)
    >>> round(float(window_intensity(s, e, (150, 159), (120, 145))[0]), 3)
    50.0
    """
    S = check_array(spectra, "spectra")
    if S.ndim == 1:
        S = S[None, :]
    e = check_array(energy, "energy", finite=True).ravel()
    if S.ndim != 2 or S.shape[1] != e.size:
        raise ValueError(
            f"`spectra` must be (n, {e.size}) to match `energy`, got {S.shape}."
        )

    def chans(win, name):
        lo, hi = check_numbers(win, name, 2, "(start, end)")
        if not hi > lo:
            raise ValueError(f"`{name}` {win!r}: end must exceed start.")
        if lo < e.min() - 1e-9 or hi > e.max() + 1e-9:
            raise ValueError(
                f"`{name}` {tuple(win)} is outside the energy axis "
                f"({e.min():g} .. {e.max():g})."
            )
        m = (e >= lo) & (e <= hi)
        if m.sum() < 1:
            raise ValueError(f"`{name}` {tuple(win)} contains no channel.")
        return m

    m = chans(window, "window")
    de = np.gradient(e) if e.size > 1 else np.ones(1)
    signal = S[:, m]
    if background is not None:
        b = chans(background, "background")
        if b.sum() < 2 or e[b].min() <= 0:
            raise ValueError(
                "`background` needs at least 2 channels at positive energies."
            )
        lx = np.log(e[b])
        ly = np.log(np.maximum(S[:, b], 1e-12 * max(np.abs(S).max(), 1e-300)))
        xm = lx.mean()
        slope = ((lx - xm) * (ly - ly.mean(axis=1, keepdims=True))).sum(axis=1)
        slope /= ((lx - xm) ** 2).sum()
        icpt = ly.mean(axis=1) - slope * xm
        model = np.exp(icpt[:, None] + slope[:, None] * np.log(e[m])[None, :])
        signal = signal - model
    return signal @ de[m]


def estimate_si_shift(survey, haadf, affine, si_shape, search=None):
    """Refine the SI's position on the survey with its simultaneous image.

    The image recorded with the SI (e.g. HAADF, same scan; it may sample each
    SI pixel with several sub-pixels) and the survey are both resampled on
    one grid in the SI's frame, one survey pixel apart (the survey over the
    region grown by ``search`` on each side); their normalised
    cross-correlation (:func:`skimage.feature.match_template`) gives the
    shift, refined to a fraction of a pixel by a parabola. Drift between the
    survey and the SI appears as this shift.

    Parameters
    ----------
    survey : array_like, shape (Ny, Nx)
    haadf : array_like, shape (fy * ny, fx * nx)
        The simultaneous image, covering exactly the SI's pixels.
    affine : array_like, shape (2, 3)
        Current SI-pixel to survey-pixel map.
    si_shape : (int, int)
        ``(ny, nx)`` of the SI.
    search : float, optional
        Largest shift tried along each SI axis, survey pixels (default 1.5
        SI pixels).

    Returns
    -------
    shift : numpy.ndarray, shape (2,)
        ``(dx, dy)`` in survey pixels to add to ``affine[:, 2]``.
    score : float
        Normalised correlation at the best shift (1 = identical images).

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_lattice_image
    >>> img, _ = make_lattice_image((96, 96), spacing=12.0, noise=None)
    >>> A = region_transform((30.5, 20.5, 60.5, 70.5), (10, 6))
    >>> haadf = img[23:73, 32:62]  # the SI really was 1 px right, 2 px down
    >>> (dx, dy), score = estimate_si_shift(img, haadf, A, (10, 6), search=5)
    >>> round(float(dx), 1), round(float(dy), 1), score > 0.99
    (1.0, 2.0, True)
    """
    from scipy import ndimage
    from skimage.feature import match_template

    survey = check_array(survey, "survey")
    haadf = check_array(haadf, "haadf")
    if survey.ndim != 2 or haadf.ndim != 2:
        raise ValueError("`survey` and `haadf` must be 2D images.")
    if not (np.isfinite(survey).all() and np.isfinite(haadf).all()):
        raise ValueError("`survey` and `haadf` must be finite.")
    A = _affine(affine)
    ny, nx = _si_shape(si_shape)
    hy, hx = haadf.shape
    fx, fy = hx / nx, hy / ny  # HAADF pixels per SI pixel
    su, sv = np.hypot(*A[:, 0]), np.hypot(*A[:, 1])  # survey pixels per SI pixel
    if search is None:
        search = 1.5 * max(su, sv)
    search = _finite(search, "search")
    if search < 0:
        raise ValueError(f"`search` must be non-negative, got {search}.")
    du, dv = 1.0 / su, 1.0 / sv  # grid step: one survey pixel, in SI pixels
    mu, mv = int(np.ceil(search * du * su)), int(np.ceil(search * dv * sv))
    cells = (nx * su + 2 * mu + 1) * (ny * sv + 2 * mv + 1)  # resampled survey
    too_big = 56.0 * (nx * su + 1) * (ny * sv + 1) > available_memory()
    check_memory(
        8.0 * cells,
        "si_shape" if too_big else "search",
        (ny, nx) if too_big else search,
        f"a {ny * sv + 2 * mv + 1:.0f} x {nx * su + 2 * mu + 1:.0f} px search area",
        total=56.0 * cells,  # coordinates, samples and the correlation map
    )
    iu = np.arange(-0.5 + 0.5 * du, nx - 0.5, du)
    jv = np.arange(-0.5 + 0.5 * dv, ny - 0.5, dv)
    if len(iu) < 2 or len(jv) < 2:
        raise ValueError("The SI region is smaller than 2 survey pixels.")
    # template: the simultaneous image averaged over one survey pixel
    hs = ndimage.uniform_filter(
        haadf, (max(1, int(round(fy * dv))), max(1, int(round(fx * du))))
    )
    gj, gi = np.meshgrid(jv, iu, indexing="ij")
    tmpl = ndimage.map_coordinates(
        hs, [(gj + 0.5) * fy - 0.5, (gi + 0.5) * fx - 0.5], order=1, mode="nearest"
    )
    if np.ptp(tmpl) == 0:
        raise ValueError("`haadf` is constant: nothing to register.")
    iu2 = np.concatenate(
        [iu[0] - du * np.arange(mu, 0, -1), iu, iu[-1] + du * np.arange(1, mu + 1)]
    )
    jv2 = np.concatenate(
        [jv[0] - dv * np.arange(mv, 0, -1), jv, jv[-1] + dv * np.arange(1, mv + 1)]
    )
    J2, I2 = np.meshgrid(jv2, iu2, indexing="ij")
    x, y = apply_affine(A, I2, J2)
    img = ndimage.map_coordinates(survey, [y, x], order=1, mode="nearest")
    ncc = match_template(img, tmpl)
    a, b = np.unravel_index(int(np.argmax(ncc)), ncc.shape)
    off = np.array([b, a], dtype=np.float64)
    for axis, k in ((1, b), (0, a)):
        if 0 < k < ncc.shape[axis] - 1:
            line = ncc[a, :] if axis == 1 else ncc[:, b]
            cm, c0, cp = line[k - 1], line[k], line[k + 1]
            off[0 if axis == 1 else 1] += float(
                parabolic_vertex(cm, c0, cp, np.inf, maximum_only=True)
            )
    shift_si = np.array([(off[0] - mu) * du, (off[1] - mv) * dv])
    return A[:, :2] @ shift_si, float(ncc[a, b])


def rotate_affine(affine, rotation, si_shape):
    """``affine`` with the SI's frame turned by ``rotation`` about its centre.

    The centre of the SI grid (SI pixel ``((nx - 1) / 2, (ny - 1) / 2)``)
    stays where it is on the survey, as with :func:`region_transform`'s
    ``rotation``: ``rotate_affine(region_transform(r, sh), a, sh)`` equals
    ``region_transform(r, sh, a)``.

    Examples
    --------
    >>> A0 = region_transform((10.5, 20.5, 50.5, 40.5), (10, 20))
    >>> A = rotate_affine(A0, 30.0, (10, 20))
    >>> bool(np.allclose(A, region_transform((10.5, 20.5, 50.5, 40.5), (10, 20), 30)))
    True
    """
    A = _affine(affine)
    ny, nx = _si_shape(si_shape)
    t = math.radians(_finite(rotation, "rotation"))
    c, s = math.cos(t), math.sin(t)
    R = np.array([[c, s], [-s, c]])
    mid = np.array([0.5 * (nx - 1), 0.5 * (ny - 1)])
    centre = A[:, :2] @ mid + A[:, 2]
    out = np.empty((2, 3))
    out[:, :2] = R @ A[:, :2]
    out[:, 2] = centre - out[:, :2] @ mid
    return out


def default_rotation_step(affine, si_shape):
    """Degrees that move the SI's corner by about 2 survey pixels (at most 5).

    Examples
    --------
    >>> A = region_transform((-0.5, -0.5, 99.5, 99.5), (10, 10))
    >>> round(default_rotation_step(A, (10, 10)), 3)
    1.621
    """
    A = _affine(affine)
    ny, nx = _si_shape(si_shape)
    corner = 0.5 * math.hypot(*(A[:, :2] @ np.array([nx, ny])))
    return min(5.0, math.degrees(2.0 / max(corner, 1.0)))


def rotation_trials(low, high, step):
    """Evenly spaced trial rotations from ``low`` to ``high`` (degrees), at
    most ``step`` apart; a range of a full turn or more leaves out ``high``
    (the same rotation as ``low``).

    Examples
    --------
    >>> rotation_trials(-10.0, 10.0, 5.0).tolist()
    [-10.0, -5.0, 0.0, 5.0, 10.0]
    >>> rotation_trials(-180.0, 180.0, 90.0).tolist()
    [-180.0, -90.0, 0.0, 90.0]
    """
    low, high = _finite(low, "low"), _finite(high, "high")
    step = _positive(step, "step")
    n = max(math.ceil((high - low) / step), 0)
    check_memory(8.0 * (n + 1), "step", step, f"{n + 1} trial rotations")
    rotations = low + (high - low) * np.arange(n + 1) / max(n, 1)
    return rotations[:-1] if high - low >= 360.0 else rotations


def estimate_si_rotation(
    survey, haadf, affine, si_shape, rotations=None, search=None, refine=True
):
    """Rotation and shift of the SI on the survey, from its simultaneous image.

    For each trial rotation of the SI's frame about its centre
    (:func:`rotate_affine`), :func:`estimate_si_shift` gives the best shift
    and its normalised correlation; the best trial is then refined on a grid
    eight times finer (± one trial step) and by a parabola through the
    scores. A field that repeats under a rotation (a perfect lattice under
    its point-group rotations) matches equally well at each of them: give
    ``rotations`` around the expected angle there; an interface, a defect
    or the edge of a particle makes the answer unique.

    Parameters
    ----------
    survey, haadf, si_shape, search
        As in :func:`estimate_si_shift`.
    affine : array_like, shape (2, 3)
        SI-pixel to survey-pixel map at rotation 0 (e.g.
        :func:`region_transform` of the recorded region).
    rotations : array_like of float, optional
        Trial rotations in degrees, evenly spaced; default -180 to 180 in
        steps at which the SI's corner moves by about 2 survey pixels
        (at most 5 degrees).
    refine : bool, default True
        Refine around the best trial (otherwise the best trial itself).

    Returns
    -------
    rotation : float
        Degrees, counter-clockwise as seen on the survey.
    shift : numpy.ndarray, shape (2,)
        ``(dx, dy)`` in survey pixels to add to the rotated affine's
        translation.
    score : float
        Normalised correlation at the best rotation and shift.

    Examples
    --------
    >>> from scipy import ndimage
    >>> from hyperspy_localcryst.data.synthetic import two_phase_positions
    >>> from hyperspy_localcryst.data.synthetic import render_gaussians
    >>> x, y, _ = two_phase_positions((128, 128), spacing=10.0, seed=0)
    >>> img = render_gaussians((128, 128), x, y, 100.0, 2.0, background=10.0)
    >>> A0 = region_transform((34.5, 34.5, 94.5, 94.5), (30, 30))
    >>> A = rotate_affine(A0, 12.0, (30, 30))  # the SI was turned by 12 degrees
    >>> jj, ii = np.mgrid[0:30, 0:30]
    >>> sx, sy = apply_affine(A, ii, jj)
    >>> haadf = ndimage.map_coordinates(img, [sy, sx], order=1)
    >>> rot, shift, score = estimate_si_rotation(img, haadf, A0, (30, 30),
    ...                                          rotations=np.arange(-30, 31, 2.0))
    >>> abs(rot - 12.0) < 0.3, bool(np.abs(shift).max() < 0.3)
    (True, True)
    """
    A0 = _affine(affine)
    refine = check_bool(refine, "refine")
    if rotations is None:
        rotations = rotation_trials(-180.0, 180.0, default_rotation_step(A0, si_shape))
    if isinstance(rotations, (str, dict, set)):
        raise TypeError(
            f"`rotations` must be angles in degrees, got {rotations!r:.60}."
        )
    try:
        rotations = np.asarray(rotations, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise TypeError(
            f"`rotations` must be angles in degrees, got {rotations!r:.60}."
        ) from None
    if rotations.size == 0 or not np.isfinite(rotations).all():
        raise ValueError("`rotations` must be one or more finite angles (degrees).")

    def trial(r):
        return estimate_si_shift(
            survey, haadf, rotate_affine(A0, r, si_shape), si_shape, search
        )

    scores = np.array([trial(r)[1] for r in rotations])
    best = float(rotations[int(np.argmax(scores))])
    if refine and rotations.size > 1:
        step = float(np.median(np.abs(np.diff(np.sort(rotations)))))
        fine = best + step * np.arange(-8, 9) / 8.0
        fscores = np.array([trial(r)[1] for r in fine])
        k = int(np.argmax(fscores))
        best = float(fine[k])
        if 0 < k < len(fine) - 1:
            cm, c0, cp = fscores[k - 1], fscores[k], fscores[k + 1]
            vertex = parabolic_vertex(cm, c0, cp, np.inf, maximum_only=True)
            best += float(vertex) * (step / 8.0)
    best = float(best)
    shift, score = trial(best)
    return best, shift, score
