"""Octahedral rotations from the oxygen columns of a perovskite viewed along
[001] (ABF or iDPC images, where O columns show), on arrays in pixels.

Around each B column the four nearest O columns sit, in the ideal structure,
half-way to the four B neighbours. A rotation of the BO6 octahedron about the
beam by ``theta`` turns each B-O vector by ``theta`` away from the B-B line
it belongs to. For each O neighbour ``k`` of a B, the far B' is the B
nearest ``B + 2 (O - B)``, and

``tilt_k = angle(O - B) - angle(B' - B)``;

the B's rotation is the mean over its O neighbours (at least 3 found whose
far B lies where expected). Corner-sharing octahedra turn in opposite senses,
so a rotation shows as a checkerboard of ``+theta`` and ``-theta`` over the B
lattice (anti-phase in the plane); the checkerboard's ``parity`` of each B
(from its lattice indices) gives the staggered amplitude
``median(tilt * (-1)^parity)``, against the ``uniform`` part
``mean(tilt)`` (a rotation of the whole image, or a lattice misfit; a mean,
since the tilts of a checkerboard are two equal groups).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ._checks import check_indices, check_xy
from ._parallel import kd_query
from .lattice import find_lattice_vectors

__all__ = ["octahedral_tilts"]


def octahedral_tilts(x, y, b_sites, o_sites, tolerance=0.25):
    """Rotation of each BO6 octahedron about the beam, from its O columns.

    Parameters
    ----------
    x, y : array_like
        Positions of every atom, pixels.
    b_sites, o_sites : array_like of int
        Indices of the B columns and of the O columns.
    tolerance : float
        Largest distance of a far B from ``B + 2 (O - B)``, as a fraction of
        the B-B distance.

    Returns
    -------
    dict
        ``tilt`` (deg, per B, from +x towards +y; NaN with fewer than 3 O
        neighbours matched), ``n_oxygen`` (matched), ``parity`` (0 or 1, the
        checkerboard of the B lattice; -1 where unknown), ``staggered`` and
        ``uniform`` (deg, see the module notes), ``b_vectors`` (the B lattice
        vectors, pixels).

    Examples
    --------
    B on a 10 px square lattice, O half-way, octahedra turned by +-3 deg in
    a checkerboard:

    >>> i, j = np.mgrid[0:8, 0:8]
    >>> b = np.column_stack([10.0 * i.ravel(), 10.0 * j.ravel()])
    >>> s = np.where((i + j).ravel() % 2 == 0, 1, -1) * np.deg2rad(3)
    >>> ox = b + 5 * np.column_stack([np.cos(s), np.sin(s)])  # O to the +x
    >>> oy = b + 5 * np.column_stack([-np.sin(s), np.cos(s)])  # O to the +y
    >>> p = np.r_[b, ox, oy]
    >>> r = octahedral_tilts(p[:, 0], p[:, 1], np.arange(64), np.arange(64, 192))
    >>> round(r["staggered"], 2)
    3.0
    """
    pts = check_xy(x, y)
    n = len(pts)
    b = check_indices(b_sites, "b_sites", ndim=1, n_atoms=n)
    o = check_indices(o_sites, "o_sites", ndim=1, n_atoms=n)
    if len(b) < 6 or len(o) < 4:
        raise ValueError("At least 6 B and 4 O columns are needed.")
    pb, po = pts[b], pts[o]
    fit = find_lattice_vectors(pb[:, 0], pb[:, 1])
    vec = fit["vectors"]
    d_bb = float(np.hypot(*vec.T).min())
    tree_b = cKDTree(pb)
    d, j = kd_query(cKDTree(po), pb, k=min(4, len(po)))
    v = po[j] - pb[:, None, :]  # (nb, 4, 2)
    far_d, far = kd_query(tree_b, pb[:, None, :] + 2 * v)
    u = pb[far] - pb[:, None, :]
    ok = (far_d < tolerance * d_bb) & (far != np.arange(len(pb))[:, None])
    ok &= d < 0.75 * d_bb
    ang = np.arctan2(v[..., 1], v[..., 0]) - np.arctan2(u[..., 1], u[..., 0])
    ang = (ang + np.pi) % (2 * np.pi) - np.pi
    count = ok.sum(axis=1)
    with np.errstate(invalid="ignore"):
        tilt = np.degrees(np.where(ok, ang, 0.0).sum(axis=1) / count)
    tilt[count < 3] = np.nan
    # checkerboard parity of each B from its lattice indices
    f = np.linalg.solve(vec.T, (pb - pb[0]).T).T
    idx = np.round(f)
    on = np.all(np.abs(f - idx) < 0.25, axis=1)
    parity = np.where(on, (idx.sum(axis=1).astype(np.int64)) % 2, -1)
    good = np.isfinite(tilt) & (parity >= 0)
    sign = np.where(parity == 0, 1.0, -1.0)
    staggered = float(np.median(tilt[good] * sign[good])) if good.any() else np.nan
    uniform = float(np.mean(tilt[good])) if good.any() else np.nan
    return {
        "tilt": tilt,
        "n_oxygen": count,
        "parity": parity,
        "staggered": staggered,
        "uniform": uniform,
        "b_vectors": vec,
    }
