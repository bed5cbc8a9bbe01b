"""Point and line defects of a lattice of atoms: vacancies, interstitials,
dislocations (Belianinov, Kalinin et al., Nat. Commun. 6, 7801 (2015)).

All positions are in pixels (x = column, y = row). ``vectors`` are two
primitive translations of the structure (rows v1, v2, pixels), e.g. from
:func:`hyperspy_localcryst.numerics.lattice.find_lattice_vectors`: they map
every site of the cell onto the same site, so a cell with several sites
(perovskite A + B) is handled as it is.

Method
------
**Local translations.** Each atom looks for its partner at ``r + t`` for
``t`` in ``+v1, -v1, +v2, -v2``: the nearest atom within
``tolerance * |shortest translation|``. Each atom's *local* translation is
then the median of the matched vectors of itself and its 8 nearest atoms,
and the matching is repeated from ``r + t_local`` (twice). Smooth strain,
rotation and the field of a dislocation move the predictions with the
lattice, so they do not read as missing atoms.

**Vacancies** (:func:`find_vacancies`): a prediction ``r + t_local`` with no
atom within the tolerance (at most half the median nearest-neighbour
distance: in a cell of sites closer than the tolerance, the 12 adatoms of
Si(111)-7x7, the next site's atom would fill every empty one) is an empty
site; the empty predictions within that distance of each other are one
site, at their mean, and it is a vacancy
when at least ``min_votes`` atoms predict it and two of them face each
other (``+v1`` and ``-v1``, or ``+v2`` and ``-v2``). An atom at a straight
edge of the crystal predicts the site beyond it alone (one vote), a notch
of a ragged edge is seen from two sides at an angle; an empty site inside
the lattice is predicted by up to 4 atoms, from opposite sides. Sites outside the image
(``extent``) or within half a spacing of its border are dropped.

**Translation domains and antiphase boundaries** (in :func:`find_defects`):
regions of one lattice whose sites are shifted against each other by a
vector that is not one of its translations (an antiphase boundary; on a
surface, a step between terraces in different registry, as on the Si(111)-7x7
step image). *Core* atoms are those whose four local translations all land
on atoms (within half the nearest-neighbour distance, or beyond the image);
core atoms within 1.5 nearest-neighbour distances of each other are joined,
and the joined sets of at least 10 core atoms and 4 cells' worth are the
candidate domains. Two candidates are in one registry unless evidence
says otherwise: the translations of the core atoms of one, taken once to
three times, are aimed at the other; when most of at least 10 such targets
land on no atom (within a quarter of the nearest-neighbour distance: in a
cell of close sites a shifted target often lies within the full match
distance of some atom), the two are shifted. Candidates join in order of
support, never joining two that evidence keeps apart. Every atom then takes
the domain of its nearest core atom within two (longer) translations, else
none (-1). The boundary points are the midpoints of mutually nearest atoms
of two domains (each the other's nearest atom of that domain), within two
translations: pairs across the boundary's gap, however wide. Across such a
boundary each side predicts the other's gap, which is no empty site: a
vacancy must be seen from two opposite sides by atoms of one domain (an
atom of no domain may face any).

**Interstitials** (:func:`find_interstitials`): atoms that no atom's local
translation predicts and that are not related by a lattice translation
(within the tolerance) to any of their 8 nearest atoms, with at least 3
atoms within 1.5 times the longer translation (not a stray detection in
vacuum).

**Dislocations** (:func:`find_dislocations`): Burgers circuits on one
Bravais sublattice (the atoms of the most frequent label, or else the
largest set of atoms joined by mutual matches within half the tolerance of
the local translation: an atom of another site next to an empty site is
matched, but far from the local translation, and joins nothing). For the
circuits the matching tolerance is at most half the median nearest-neighbour
distance, and a link counts only where it closes a cell (the parallelogram
of the two translations from its ends): in a cell with several sites
closer than the tolerance (the 12 adatoms of Si(111)-7x7), a looser match,
or one near a core, where a site can sit one translation away from the
site half a Burgers vector along the cell, would join two sites into one
set. The
sublattice is triangulated (Delaunay; triangles with an edge longer than 2.5
times the longer translation are left out: the hull and holes); each edge
``d`` is given the integer lattice vector ``n = round(L^-1 d)`` with ``L``
the mean local translations of its two atoms, the same ``n`` (with opposite
sign) for the two triangles that share it. The sum of ``n`` around a
triangle is zero in a lattice, whatever its strain; around a core it is not.
Since the inner edges cancel, the sum of the triangles inside any closed
circuit is that circuit's Burgers vector: triangles with a non-zero sum
within ``merge_distance`` cells of each other are joined, their sums added
(a noise pair of opposite sums cancels and is dropped) and their centroid is
the core. ``b`` is an exact lattice vector ``n1 v1 + n2 v2`` of the given
``vectors``.

Convention: every circuit runs **counter-clockwise as seen on the displayed
image** (row 0 at the top), and ``b`` is the closure failure in the perfect
reference lattice from start to finish, ``b = sum of the reference steps``.
This is the FS/RH convention with the dislocation line pointing *into* the
screen (``+z = x cross y`` in pixel coordinates), so that the textbook field
of an edge dislocation along ``+z`` (Hirth & Lothe: ``u_x = b/2pi [theta +
sin(2 theta) / (4 (1 - nu))]``, ``theta = atan2(y, x)`` in pixel
coordinates) has Burgers vector ``+b``
(see :func:`hyperspy_localcryst.data.synthetic.dislocation_positions`).
"""

import warnings

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import Delaunay, cKDTree

from ._checks import (
    check_array,
    check_integer,
    check_number,
    check_numbers,
    check_per_atom,
    check_xy,
)
from ._parallel import kd_query, nearest_distances

__all__ = [
    "find_vacancies",
    "find_interstitials",
    "find_dislocations",
    "find_defects",
]

#: Atoms (itself included) whose matched vectors give an atom's local
#: translation (median).
_LOCAL_K = 9
#: Rounds of matching from the local translations.
_ROUNDS = 2
#: Longest triangle edge used in Burgers circuits, in longer translations.
_MAX_EDGE = 2.5
#: An interstitial has at least this many atoms within 1.5 longer translations.
_MIN_SURROUNDING = 3
#: Core atoms closer than this many nearest-neighbour distances are in one
#: translation domain.
_LINK = 1.5
#: A translation domain holds at least this many core atoms, and this many
#: cells' worth.
_MIN_DOMAIN = 10
_DOMAIN_CELLS = 4
#: Targets of one domain that must miss the atoms of another (most of them)
#: for the two to be in different registries.
_MIN_EVIDENCE = 10


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------
def _check_vectors(vectors):
    v = check_array(vectors, "vectors", ndim=2, finite=True)
    if v.shape != (2, 2):
        raise ValueError(
            f"`vectors` must have shape (2, 2) (rows v1, v2 in pixels), got {v.shape}."
        )
    lengths = np.hypot(v[:, 0], v[:, 1])
    cross = abs(v[0, 0] * v[1, 1] - v[0, 1] * v[1, 0])
    if not np.all(lengths > 0) or cross < 1e-3 * lengths[0] * lengths[1]:
        raise ValueError(
            f"`vectors` must be two non-collinear, non-zero translations, got "
            f"{v.tolist()}."
        )
    return v


def _check_fraction(value, name, upper=0.5):
    v = check_number(value, name, "a fraction of the shortest translation")
    if not (0 < v < upper):
        raise ValueError(f"`{name}` must be between 0 and {upper}, got {value!r}.")
    return v


def _check_extent(extent):
    if extent is None:
        return None
    ny, nx = check_numbers(extent, "extent", length=2, what="(ny, nx) in pixels")
    if not (ny > 0 and nx > 0):
        raise ValueError(f"`extent` must be a positive (ny, nx), got {extent!r}.")
    return ny, nx


# ---------------------------------------------------------------------------
# local translations
# ---------------------------------------------------------------------------
def _translations(vectors):
    return np.array([vectors[0], -vectors[0], vectors[1], -vectors[1]])


def _local_translations(p, vectors, tol):
    """Per atom and translation (+v1, -v1, +v2, -v2): the local translation
    (n, 4, 2) and the matched atom (n, 4; -1 for none)."""
    n = p.shape[0]
    tree = cKDTree(p)
    glob = _translations(vectors)
    local = np.broadcast_to(glob, (n, 4, 2)).copy()
    k = min(_LOCAL_K, n)
    _, near = kd_query(tree, p, k=k)
    near = near.reshape(n, k)
    match = np.full((n, 4), -1, dtype=np.int64)
    for _ in range(_ROUNDS + 1):
        target = p[:, None, :] + local
        dist, j = kd_query(tree, target.reshape(-1, 2), distance_upper_bound=tol)
        ok = np.isfinite(dist).reshape(n, 4)
        j = np.where(ok, j.reshape(n, 4), -1)
        match = j
        d = np.where(ok[..., None], p[np.maximum(j, 0)] - p[:, None, :], np.nan)
        with warnings.catch_warnings():  # an atom with no matches: global
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(d[near], axis=1)
        local = np.where(np.isfinite(med), med, glob[None])
    return local, match


def _prepare(x, y, vectors, tolerance):
    p = check_xy(x, y)
    v = _check_vectors(vectors)
    frac = _check_fraction(tolerance, "tolerance")
    spacing = float(np.hypot(v[:, 0], v[:, 1]).min())
    return p, v, frac * spacing, spacing


def _inside(q, extent, p, spacing, tol):
    """Predictions inside the image minus half a spacing (or, without an
    extent, inside the atoms' bounding box plus the tolerance)."""
    if extent is None:
        lo, hi = p.min(axis=0) - tol, p.max(axis=0) + tol
    else:
        ny, nx = extent
        h = 0.5 * spacing
        lo, hi = np.array([h - 0.5, h - 0.5]), np.array([nx - 0.5 - h, ny - 0.5 - h])
    return np.all((q >= lo) & (q <= hi), axis=1)


def _nn_cap(p, tol):
    """``tol``, at most half the median nearest-neighbour distance of ``p``:
    where a cell holds sites closer than the tolerance, an atom within it
    can be the neighbouring site's."""
    if p.shape[0] < 2:
        return tol
    nn = float(np.median(nearest_distances(p)))
    return min(tol, 0.5 * nn)


def _vacancies(
    p, occupied, v, tol, spacing, min_votes, extent, local=None, domain=None
):
    if p.shape[0] == 0:
        return np.empty(0), np.empty(0), np.empty(0, dtype=np.int64)
    if local is None:
        local, _ = _local_translations(p, v, tol)
    pred = (p[:, None, :] + local).reshape(-1, 2)
    voter = np.repeat(np.arange(p.shape[0]), 4)
    direction = np.tile(np.arange(4), p.shape[0])
    # a site is filled by an atom within the tolerance, but no farther than
    # half the nearest-neighbour distance: in a cell of close sites (the 12
    # adatoms of Si(111)-7x7, 11 px apart in a 44 px cell, tolerance 13 px)
    # the next site's atom would fill every empty one
    near = _nn_cap(p, tol)
    dist, _ = kd_query(cKDTree(occupied), pred, distance_upper_bound=near)
    empty = ~np.isfinite(dist)
    pred, voter, direction = pred[empty], voter[empty], direction[empty]
    if pred.shape[0] == 0:
        return np.empty(0), np.empty(0), np.empty(0, dtype=np.int64)
    pairs = cKDTree(pred).query_pairs(near, output_type="ndarray")
    m = pred.shape[0]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), (m, m))
    nc, lab = connected_components(graph, directed=False)
    counts = np.bincount(lab, minlength=nc).astype(float)
    cx = np.bincount(lab, pred[:, 0], nc) / counts
    cy = np.bincount(lab, pred[:, 1], nc) / counts
    pairs = np.unique(np.column_stack([lab, voter]), axis=0)
    votes = np.bincount(pairs[:, 0], minlength=nc)
    # seen from both sides along +-v1 or +-v2: not a notch of a ragged edge;
    # and, with translation domains, by two atoms of one domain: across a
    # translation boundary each side predicts the other's gap (its sites are
    # shifted), which is no empty site of either
    # (an atom of no domain, -1, may face any)
    dom = np.zeros(p.shape[0], np.int64) if domain is None else domain + 1
    nd = int(dom.max()) + 1
    seen = np.zeros((nc, nd, 4), dtype=bool)
    seen[lab, dom[voter], direction] = True
    seen |= seen[:, :1]
    enclosed = (seen[..., 0] & seen[..., 1]) | (seen[..., 2] & seen[..., 3])
    enclosed = enclosed.any(axis=1)
    keep = (
        (votes >= min_votes)
        & enclosed
        & _inside(np.column_stack([cx, cy]), extent, p, spacing, tol)
    )
    order = np.lexsort((cx[keep], cy[keep]))
    return cx[keep][order], cy[keep][order], votes[keep][order]


def _translation_domains(p, occupied, local, v, tol, spacing, extent):
    """Translation domain of each atom (-1: none), see the module notes."""
    n = p.shape[0]
    dom = np.full(n, -1, dtype=np.int64)
    if n < 3:
        return dom
    near = _nn_cap(p, tol)
    tree = cKDTree(p)
    nn = float(np.median(nearest_distances(p, tree)))
    occ = cKDTree(occupied)

    def filled(q, reach=near):  # each target has an atom, or lies beyond the image
        d, _ = kd_query(occ, q, distance_upper_bound=reach)
        return np.isfinite(d) | ~_inside(q, extent, p, spacing, tol)

    # core atoms: all four translations land on atoms
    core = filled((p[:, None, :] + local).reshape(-1, 2)).reshape(n, 4).all(axis=1)
    ci = np.flatnonzero(core)
    if ci.size < 2:
        return dom
    pairs = cKDTree(p[ci]).query_pairs(_LINK * nn, output_type="ndarray")
    m = ci.size
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), (m, m))
    nc, comp = connected_components(graph, directed=False)
    # a domain holds a few cells' worth of core atoms
    if extent is None:
        area = float(np.prod(np.ptp(p, axis=0)))
    else:
        area = float(extent[0] * extent[1])
    per_cell = abs(float(np.linalg.det(v))) * n / max(area, 1.0)
    sizes = np.bincount(comp, minlength=nc)
    big = sizes >= max(_MIN_DOMAIN, _DOMAIN_CELLS * per_cell)
    if big.sum() < 2:
        dom[ci[big[comp]]] = 0
    else:
        # domains in one registry (parted by a band of unmatched atoms: scan
        # jitter, a row of vacancies) are one: the translations of one,
        # taken once to three times, land on atoms of the other
        label = np.where(big[comp], comp, -1)
        own = np.full(n, -1, dtype=np.int64)
        own[ci] = label
        src = ci[label >= 0]
        hits, misses = np.zeros((nc, nc)), np.zeros((nc, nc))
        ctree = cKDTree(p[ci])
        for k in range(1, 4):
            q = (p[src][:, None, :] + k * local[src]).reshape(-1, 2)
            d, j = kd_query(ctree, q, distance_upper_bound=_LINK * nn)
            ok = np.isfinite(d)
            a = np.repeat(own[src], 4)[ok]
            b = own[ci[j[ok]]]
            # half the match distance: in a cell of close sites (the 12
            # adatoms of Si(111)-7x7) a shifted target often lies within
            # the full one of some atom
            hit = filled(q[ok], 0.5 * near)
            other = (b >= 0) & (b != a)
            np.add.at(hits, (a[other], b[other]), hit[other])
            np.add.at(misses, (a[other], b[other]), ~hit[other])
        root = _merge_domains(np.flatnonzero(big), hits + hits.T, misses + misses.T)
        dom[ci[label >= 0]] = root[label[label >= 0]]
    # every atom joins the domain of its nearest core atom within two cells
    keep = dom >= 0
    if not keep.any():
        return dom
    longer = float(np.hypot(v[:, 0], v[:, 1]).max())
    d, j = kd_query(cKDTree(p[keep]), p, distance_upper_bound=2 * longer)
    ok = np.isfinite(d)
    out = np.full(n, -1, dtype=np.int64)
    out[ok] = dom[keep][j[ok]]
    _, out[ok] = np.unique(out[ok], return_inverse=True)
    # largest first
    counts = np.bincount(out[ok])
    rank = np.empty_like(counts)
    rank[np.argsort(-counts, kind="stable")] = np.arange(counts.size)
    out[ok] = rank[out[ok]]
    return out


def _merge_domains(ids, hits, misses):
    """Join the components ``ids`` into domains: two are in different
    registries only on evidence (most of at least ``_MIN_EVIDENCE`` targets
    of one miss the atoms of the other); the others join, the best-supported
    pairs first, never joining two that evidence keeps apart (a fragment
    touching both sides of a boundary would otherwise bridge them).
    Returns the domain root of every component index."""
    root = np.arange(hits.shape[0])
    apart = (misses > hits) & (misses >= _MIN_EVIDENCE)
    members = {int(i): {int(i)} for i in ids}
    score = hits - misses
    order = sorted(
        ((score[a, b], a, b) for a in ids for b in ids if a < b), reverse=True
    )
    for _, a, b in order:
        ra, rb = root[a], root[b]
        if ra == rb or apart[np.ix_(list(members[ra]), list(members[rb]))].any():
            continue
        members[ra] |= members.pop(rb)
        root[list(members[ra])] = ra
    return root


def _domain_boundary(p, dom, longer):
    """Points of the boundaries between translation domains: the midpoints
    of mutually nearest atoms of two domains (each the other's nearest atom
    of that domain) within two longer translations: pairs across the
    boundary's gap, however wide (a step between terraces is wider than a
    neighbour distance), and none from deep inside a domain."""
    ok = np.flatnonzero(dom >= 0)
    labels = np.unique(dom[ok])
    out = []
    for a in labels:
        for b in labels[labels > a]:
            ia, ib = ok[dom[ok] == a], ok[dom[ok] == b]
            da, ja = kd_query(cKDTree(p[ib]), p[ia], distance_upper_bound=2 * longer)
            _, jb = kd_query(cKDTree(p[ia]), p[ib])
            hit = np.isfinite(da)
            hit[hit] &= jb[ja[hit]] == np.flatnonzero(hit)
            out.append(0.5 * (p[ia[hit]] + p[ib[ja[hit]]]))
    if not out:
        return np.empty(0), np.empty(0)
    pts = np.concatenate(out)
    order = np.lexsort((pts[:, 0], pts[:, 1]))
    return pts[order, 0], pts[order, 1]


# ---------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------
def find_vacancies(x, y, vectors, tolerance=0.3, min_votes=2, extent=None):
    """Empty lattice sites: where the local lattice predicts an atom and none lies.

    See the module notes for the method.

    Parameters
    ----------
    x, y : array_like
        Atom positions in pixels (x = column, y = row), all finite.
    vectors : array_like, shape (2, 2)
        Two primitive translations (rows v1, v2, pixels) of the structure.
    tolerance : float
        Largest distance, as a fraction of the shortest translation, between a
        predicted site and an atom that fills it (0 to 0.5).
    min_votes : int
        Atoms that must predict an empty site for it to be a vacancy (1 to 4;
        2 leaves out the sites beyond a straight edge of the crystal).
    extent : (int, int), optional
        Image shape ``(ny, nx)``: sites outside it or within half a spacing
        of its border are dropped. Default: sites outside the atoms' bounding
        box (plus the tolerance) are dropped.

    Returns
    -------
    vx, vy : numpy.ndarray
        Vacancy positions (pixels), sorted by row then column.
    votes : numpy.ndarray of int
        Atoms that predicted each.

    Examples
    --------
    A rectangular 10 x 13 px lattice with the site (40, 26) removed:

    >>> import numpy as np
    >>> j, i = np.mgrid[0:7, 0:9]
    >>> x, y = 10.0 * i.ravel(), 13.0 * j.ravel()
    >>> keep = ~((x == 40) & (y == 26))
    >>> vx, vy, votes = find_vacancies(x[keep], y[keep], [[10, 0], [0, 13]])
    >>> vx.tolist(), vy.tolist(), votes.tolist()
    ([40.0], [26.0], [4])
    """
    p, v, tol, spacing = _prepare(x, y, vectors, tolerance)
    min_votes = check_integer(min_votes, "min_votes", minimum=1, maximum=4)
    extent = _check_extent(extent)
    return _vacancies(p, p, v, tol, spacing, min_votes, extent)


def _interstitials(p, v, tol, local, match):
    n = p.shape[0]
    predicted = np.zeros(n, dtype=bool)
    predicted[match[match >= 0]] = True
    longer = float(np.hypot(v[:, 0], v[:, 1]).max())
    tree = cKDTree(p)
    counts = tree.query_ball_point(p, 1.5 * longer, return_length=True) - 1
    out = ~predicted & (counts >= _MIN_SURROUNDING)
    k = min(_LOCAL_K, n)
    for i in np.nonzero(out)[0]:
        _, near = kd_query(tree, p[i], k=k)
        for j in np.atleast_1d(near)[1:]:
            basis = np.array([local[j, 0], local[j, 2]])  # rows: +v1, +v2
            d = p[i] - p[j]
            m = np.round(np.linalg.solve(basis.T, d))
            if np.hypot(*(d - m @ basis)) < tol:
                out[i] = False
                break
    return out


def find_interstitials(x, y, vectors, tolerance=0.3):
    """Atoms off the lattice: predicted by no atom and lattice-related to none.

    See the module notes for the method.

    Parameters
    ----------
    x, y : array_like
        Atom positions in pixels, all finite.
    vectors : array_like, shape (2, 2)
        Two primitive translations (rows v1, v2, pixels) of the structure.
    tolerance : float
        Largest distance, as a fraction of the shortest translation, between a
        predicted site and an atom that fills it (0 to 0.5).

    Returns
    -------
    numpy.ndarray of bool
        True for the interstitial atoms.

    Examples
    --------
    A rectangular lattice with an extra atom at (43.5, 31.0):

    >>> import numpy as np
    >>> j, i = np.mgrid[0:7, 0:9]
    >>> x = np.append(10.0 * i.ravel(), 43.5)
    >>> y = np.append(13.0 * j.ravel(), 31.0)
    >>> np.nonzero(find_interstitials(x, y, [[10, 0], [0, 13]]))[0].tolist()
    [63]
    """
    p, v, tol, _ = _prepare(x, y, vectors, tolerance)
    if p.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    local, match = _local_translations(p, v, tol)
    return _interstitials(p, v, tol, local, match)


def _bravais(p, local, match, labels, tol):
    """Atoms of one Bravais sublattice: the largest set joined by mutually
    matched translations within half the tolerance of the local ones (of
    the most frequent label, with labels)."""
    n = p.shape[0]
    cand = np.ones(n, dtype=bool)
    if labels is not None:
        lab, counts = np.unique(labels[np.isfinite(labels)], return_counts=True)
        if lab.size:
            cand = labels == lab[np.argmax(counts)]
    i = np.repeat(np.arange(n), 4)
    j = match.ravel()
    back = np.tile(np.array([1, 0, 3, 2]), n)  # the opposite translation
    # mutual matches only: a displaced atom between two sublattices (within
    # the tolerance of both) joins neither
    ok = (j >= 0) & cand[i] & cand[np.maximum(j, 0)]
    ok &= match[np.maximum(j, 0), back] == i
    mutual = np.where(ok.reshape(n, 4), match, -1)
    # and close to the local translation: an atom of another site that sits
    # next to an empty site of this one is matched, but far from it
    dev = p[np.maximum(j, 0)] - p[i] - local.reshape(-1, 2)
    ok &= np.hypot(dev[:, 0], dev[:, 1]) < 0.5 * tol
    # and on a closed cell: the link, the two links of the other translation
    # from its ends and the link between their far ends make a
    # parallelogram. Near a core, a cell with several close sites can put
    # another site one translation away (the 7 x 7 adatoms, a site half a
    # Burgers vector along the cell); such a link closes no cell, and one
    # would join two sites into one 'sublattice'
    closed = np.zeros((n, 4), dtype=bool)
    for k, others in ((0, (2, 3)), (1, (2, 3)), (2, (0, 1)), (3, (0, 1))):
        a = mutual[:, k]
        for o in others:
            b = mutual[:, o]
            far = np.where(a >= 0, mutual[np.maximum(a, 0), o], -1)
            back_far = np.where(b >= 0, mutual[np.maximum(b, 0), k], -1)
            closed[:, k] |= (a >= 0) & (b >= 0) & (far >= 0) & (far == back_far)
    ok &= closed.ravel()
    graph = coo_matrix((np.ones(ok.sum()), (i[ok], j[ok])), (n, n))
    _, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp[cand], minlength=comp.max() + 1)
    return np.nonzero(cand & (comp == np.argmax(sizes)))[0]


def _dislocations(p, v, local, idx, merge):
    empty = (np.empty((0, 2)), np.empty((0, 2), dtype=np.int64))
    if idx.size < 3:
        return empty
    q = p[idx]
    try:
        tri = Delaunay(q).simplices
    except Exception:  # collinear or too few atoms: no circuits
        return empty
    a, b, c = q[tri[:, 0]], q[tri[:, 1]], q[tri[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (
        c[:, 0] - a[:, 0]
    )
    # counter-clockwise on the displayed image (y down) = negative cross
    tri = np.where((cross > 0)[:, None], tri[:, [0, 2, 1]], tri)
    longer = float(np.hypot(v[:, 0], v[:, 1]).max())
    basis_local = local[idx][:, [0, 2], :]  # (m, 2 rows: +v1, +v2, 2)
    total = np.zeros((tri.shape[0], 2))
    good = np.ones(tri.shape[0], dtype=bool)
    for s, e in ((0, 1), (1, 2), (2, 0)):
        i, j = tri[:, s], tri[:, e]
        d = q[j] - q[i]
        good &= np.hypot(d[:, 0], d[:, 1]) <= _MAX_EDGE * longer
        # one basis per edge, symmetric in its two atoms, so shared edges cancel
        lb = 0.5 * (basis_local[i] + basis_local[j])
        total += np.round(np.linalg.solve(np.transpose(lb, (0, 2, 1)), d[..., None]))[
            ..., 0
        ]
    nonzero = good & np.any(total != 0, axis=1)
    if not nonzero.any():
        return empty
    centroid = q[tri[nonzero]].mean(axis=1)
    sums = total[nonzero]
    pairs = cKDTree(centroid).query_pairs(merge * longer, output_type="ndarray")
    m = centroid.shape[0]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), (m, m))
    nc, lab = connected_components(graph, directed=False)
    pos, burgers = [], []
    for k in range(nc):
        s = sums[lab == k].sum(axis=0)
        if np.any(s != 0):
            pos.append(centroid[lab == k].mean(axis=0))
            burgers.append(s)
    if not pos:
        return empty
    pos, burgers = np.array(pos), np.array(burgers).astype(np.int64)
    # a circuit is closed only where atoms surround the core: one at the
    # edge of the atoms (the image border, vacuum) is not read
    keep = _surrounded(q, pos, 2.0 * longer)
    if not keep.any():
        return empty
    return pos[keep], burgers[keep]


def _circuits(p, v, labels, tol, merge, matched=None):
    """Cores and Burgers indices: circuits on one Bravais sublattice, matched
    within half the nearest-neighbour distance at most (where the cell holds
    several sites closer than the tolerance, a wider match could land on the
    neighbouring site and join two sites into one 'sublattice').
    ``matched``: the ``(local, match)`` of :func:`_local_translations` at
    ``tol``, reused where that cap leaves ``tol`` as it is."""
    cap = _nn_cap(p, tol)
    if matched is None or cap < tol:
        matched = _local_translations(p, v, cap)
    local, match = matched
    return _dislocations(p, v, local, _bravais(p, local, match, labels, cap), merge)


def _surrounded(q, pos, reach, sectors=6):
    """Whether each position has atoms ``q`` within ``reach`` in every one of
    ``sectors`` equal angular sectors around it."""
    tree = cKDTree(q)
    out = np.zeros(len(pos), dtype=bool)
    for i, nbrs in enumerate(tree.query_ball_point(pos, reach)):
        if not nbrs:
            continue
        d = q[nbrs] - pos[i]
        ang = np.arctan2(d[:, 1], d[:, 0])
        bins = np.floor((ang + np.pi) / (2 * np.pi / sectors)).astype(int) % sectors
        out[i] = np.unique(bins).size == sectors
    return out


def find_dislocations(
    x, y, vectors, labels=None, tolerance=0.3, merge_distance=1.5, extent=None
):
    """Dislocation cores and Burgers vectors from Burgers circuits.

    See the module notes for the method and the sign convention (circuits
    counter-clockwise as seen on the displayed image, ``b`` = closure failure
    from start to finish in the reference lattice: FS/RH with the line into
    the screen).

    Parameters
    ----------
    x, y : array_like
        Atom positions in pixels, all finite.
    vectors : array_like, shape (2, 2)
        Two primitive translations (rows v1, v2, pixels) of the structure.
    labels : array_like, optional
        Site or type label per atom: the circuits run on the most frequent
        label only. Default: the largest set of atoms joined by translations.
    tolerance : float
        Matching tolerance as a fraction of the shortest translation (0 to
        0.5).
    merge_distance : float
        Triangles with a non-zero Burgers sum within this many (longer)
        translations of each other are one core (0.5 to 10).
    extent : (int, int), optional
        Image shape ``(ny, nx)``: cores outside it are dropped.

    Returns
    -------
    positions : numpy.ndarray, shape (m, 2)
        Core positions (x, y) in pixels.
    burgers : numpy.ndarray, shape (m, 2)
        Burgers vectors (x, y) in pixels, exact lattice vectors
        ``n1 v1 + n2 v2``.
    indices : numpy.ndarray of int, shape (m, 2)
        ``(n1, n2)`` of each Burgers vector.

    Examples
    --------
    An oblique lattice (11 x 14 px cells) with an edge dislocation of
    Burgers vector ``-v1`` at (134.3, 113.6):

    >>> import numpy as np
    >>> from hyperspy_localcryst.data.synthetic import dislocation_positions
    >>> v = np.array([[11.0, 0.0], [2.5, 14.0]])
    >>> t = dislocation_positions((220, 260), v, burgers=(-1, 0), margin=5)
    >>> pos, b, n = find_dislocations(t["x"], t["y"], v)
    >>> n.tolist(), b.tolist()
    ([[-1, 0]], [[-11.0, 0.0]])
    >>> bool(np.hypot(*(pos[0] - t["core"])) < 11.0)
    True
    """
    p, v, tol, _ = _prepare(x, y, vectors, tolerance)
    labels = check_per_atom(labels, "labels", p.shape[0])
    merge = check_number(merge_distance, "merge_distance", "a number of cells")
    if not 0.5 <= merge <= 10:
        raise ValueError(f"`merge_distance` must be 0.5 to 10 cells, got {merge}.")
    extent = _check_extent(extent)
    if p.shape[0] == 0:
        return np.empty((0, 2)), np.empty((0, 2)), np.empty((0, 2), dtype=np.int64)
    pos, n = _circuits(p, v, labels, tol, merge)
    if extent is not None and pos.shape[0]:
        ny, nx = extent
        ok = (pos[:, 0] >= -0.5) & (pos[:, 0] <= nx - 0.5)
        ok &= (pos[:, 1] >= -0.5) & (pos[:, 1] <= ny - 0.5)
        pos, n = pos[ok], n[ok]
    return pos, n @ v, n


def find_defects(
    x,
    y,
    vectors=None,
    labels=None,
    groups=None,
    extent=None,
    tolerance=0.3,
    min_votes=2,
    merge_distance=1.5,
):
    """Vacancies, interstitials and dislocations of one or several lattices.

    See the module notes for the methods and the Burgers-vector convention.

    Parameters
    ----------
    x, y : array_like
        Atom positions in pixels; atoms with NaN positions are left out.
    vectors : array_like, shape (2, 2), optional
        Two primitive translations (rows, pixels). Default: measured from the
        atoms (of each group) by
        :func:`hyperspy_localcryst.numerics.lattice.find_lattice_vectors`
        (with ``labels`` as types).
    labels : array_like, optional
        Site or type label per atom: the dislocation circuits run on the most
        frequent label, and the measured translations map labels onto
        themselves.
    groups : array_like, optional
        Phase label per atom (-1 or NaN: unassigned, not analysed): each group
        is analysed on its own, with its own translations (``vectors`` is then
        not allowed); a group whose translations cannot be measured (too few
        atoms, no lattice) is left out with a warning. Sites are empty only
        where no atom, of any group, lies.
    extent : (int, int), optional
        Image shape ``(ny, nx)``, see :func:`find_vacancies`.
    tolerance, min_votes, merge_distance
        See :func:`find_vacancies` and :func:`find_dislocations`.

    Returns
    -------
    dict of numpy.ndarray
        One entry per defect: ``type`` (``"vacancy"``, ``"interstitial"``,
        ``"dislocation"``, ``"antiphase_boundary"``: one point of a boundary
        between translation domains), ``x``, ``y`` (pixels), ``burgers_x``,
        ``burgers_y`` (pixels; NaN but for dislocations), ``atom`` (index of
        the interstitial atom in the input, else -1), ``group``, ``votes``
        (atoms predicting a vacancy, else 0); ``vectors``: a dict of the
        translations used per group; and ``domain``: the translation domain
        of each input atom (numbered over all groups, largest first within
        a group; -1 for none).

    Examples
    --------
    A rectangular lattice with one empty site and one extra atom:

    >>> import numpy as np
    >>> j, i = np.mgrid[0:9, 0:11]
    >>> x, y = 10.0 * i.ravel(), 13.0 * j.ravel()
    >>> keep = ~((x == 40) & (y == 26))
    >>> x, y = np.append(x[keep], 73.5), np.append(y[keep], 70.0)
    >>> d = find_defects(x, y)
    >>> d["type"].tolist(), d["x"].tolist(), d["atom"].tolist()
    (['vacancy', 'interstitial'], [40.0, 73.5], [-1, 98])
    """
    p_all = check_xy(x, y, allow_nan=True)
    n = p_all.shape[0]
    labels = check_per_atom(labels, "labels", n)
    g = check_per_atom(groups, "groups", n)
    if vectors is not None:
        if g is not None:
            raise ValueError(
                "Give either `vectors` or `groups` (each group gets its own "
                "measured translations), not both."
            )
        vectors = _check_vectors(vectors)
    frac = _check_fraction(tolerance, "tolerance")
    min_votes = check_integer(min_votes, "min_votes", minimum=1, maximum=4)
    merge = check_number(merge_distance, "merge_distance", "a number of cells")
    if not 0.5 <= merge <= 10:
        raise ValueError(f"`merge_distance` must be 0.5 to 10 cells, got {merge}.")
    extent = _check_extent(extent)
    finite = np.all(np.isfinite(p_all), axis=1)
    if g is None:
        g = np.zeros(n)
    g = np.where(np.isfinite(g), g, -1)
    occupied = p_all[finite]
    rows = {k: [] for k in ("type", "x", "y", "bx", "by", "atom", "group", "votes")}
    used = {}
    domain = np.full(n, -1, dtype=np.int64)
    n_domains = 0

    def add(kind, px, py, bx, by, atom, group, votes):
        m = len(px)
        rows["type"] += [kind] * m
        rows["x"] += list(px)
        rows["y"] += list(py)
        rows["bx"] += list(bx) if bx is not None else [np.nan] * m
        rows["by"] += list(by) if by is not None else [np.nan] * m
        rows["atom"] += list(atom) if atom is not None else [-1] * m
        rows["group"] += [group] * m
        rows["votes"] += list(votes) if votes is not None else [0] * m

    for group in np.unique(g[finite & (g >= 0)]):
        sel = np.nonzero(finite & (g == group))[0]
        p = p_all[sel]
        lab = None if labels is None else labels[sel]
        v = vectors
        if v is None:
            from .lattice import find_lattice_vectors

            try:
                v = find_lattice_vectors(p[:, 0], p[:, 1], types=lab)["vectors"]
            except ValueError as e:
                if groups is None:
                    raise
                warnings.warn(
                    f"Group {group:g} ({sel.size} atoms) is left out: {e}",
                    UserWarning,
                    stacklevel=2,
                )
                continue
        key = int(group) if float(group).is_integer() else float(group)
        used[key] = np.asarray(v, dtype=float)
        spacing = float(np.hypot(v[:, 0], v[:, 1]).min())
        tol = frac * spacing
        local, match = _local_translations(p, v, tol)
        dom = _translation_domains(p, occupied, local, v, tol, spacing, extent)
        vx, vy, votes = _vacancies(
            p, occupied, v, tol, spacing, min_votes, extent, local=local, domain=dom
        )
        add("vacancy", vx, vy, None, None, None, key, votes)
        bx, by = _domain_boundary(p, dom, float(np.hypot(v[:, 0], v[:, 1]).max()))
        add("antiphase_boundary", bx, by, None, None, None, key, None)
        domain[sel] = np.where(dom >= 0, dom + n_domains, -1)
        n_domains += int(dom.max()) + 1
        inter = np.nonzero(_interstitials(p, v, tol, local, match))[0]
        add("interstitial", p[inter, 0], p[inter, 1], None, None, sel[inter], key, None)
        pos, nb = _circuits(p, v, lab, tol, merge, (local, match))
        if extent is not None and pos.shape[0]:
            ny, nx = extent
            ok = (pos[:, 0] >= -0.5) & (pos[:, 0] <= nx - 0.5)
            ok &= (pos[:, 1] >= -0.5) & (pos[:, 1] <= ny - 0.5)
            pos, nb = pos[ok], nb[ok]
        b = nb @ v if pos.shape[0] else np.empty((0, 2))
        add("dislocation", pos[:, 0], pos[:, 1], b[:, 0], b[:, 1], None, key, None)
    return {
        "type": np.array(rows["type"], dtype=object),
        "x": np.array(rows["x"], dtype=float),
        "y": np.array(rows["y"], dtype=float),
        "burgers_x": np.array(rows["bx"], dtype=float),
        "burgers_y": np.array(rows["by"], dtype=float),
        "atom": np.array(rows["atom"], dtype=np.int64),
        "group": np.array(rows["group"], dtype=float),
        "votes": np.array(rows["votes"], dtype=np.int64),
        "vectors": used,
        "domain": domain,
    }
