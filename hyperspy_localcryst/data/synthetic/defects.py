"""Scenes with known defects: two phases side by side
(:func:`two_phase_positions`) and edge dislocations
(:func:`dislocation_positions`, :func:`edge_dislocation_displacement`).

Positions are in pixels, ``x`` is the column and ``y`` the row; pixel
``image[r, c]`` has its centre at ``x = c``, ``y = r``. Plain numpy arrays;
nothing here imports HyperSpy.
"""

from __future__ import annotations

import math

import numpy as np

from ...numerics._checks import (
    check_array,
    check_integer,
)
from .lattices import (
    _LATTICES,
    _check_seed,
    _check_shape,
    _check_sites,
    _number,
    _numbers,
    _rotation_matrix,
    lattice_positions,
)


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
