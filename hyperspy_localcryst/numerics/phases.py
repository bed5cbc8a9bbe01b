"""Phases from site classes: which classes live together, and where.

A *site class* is a class of neighbourhoods ("the Ti site of the polar
phase", :func:`~hyperspy_localcryst.numerics.class_count.count_classes`). A
*phase* is a set of site classes that occur together in space. Each atom's
**composition** is the share of every site class among the labelled atoms
within ``radius`` (a few cells) of it (:func:`site_composition`); averaged
over the atoms of one class it says what surrounds that class
(:func:`class_cooccurrence`). The sites of one crystal surround each other
as much as themselves; classes of two phases meet only along their
boundary (:func:`class_affinity`). :func:`find_phases` groups the classes
by that affinity, then gives every atom the phase nearest to its window's
mix and flags boundary atoms.
:func:`unit_cell` gives a phase's primitive cell and its motif of classes.

Everything is in pixels (x = column, y = row); labels ``-1`` mean "none".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from ._checks import check_array, check_integer, check_number, check_positive
from ._parallel import kd_query, nearest_distances

__all__ = [
    "PhaseResult",
    "class_affinity",
    "class_cooccurrence",
    "default_radius",
    "local_mean",
    "find_phases",
    "boundary_points",
    "site_composition",
    "unit_cell",
]


def _xy_labels(x, y, labels):
    x = check_array(x, "x").ravel()
    y = check_array(y, "y").ravel()
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same length, got {x.size} and {y.size}"
        )
    lab = np.asarray(labels)
    if lab.shape != x.shape:
        raise ValueError(
            f"labels must have one value per atom ({x.size}), got shape {lab.shape}"
        )
    if lab.size and not np.issubdtype(lab.dtype, np.integer):
        if not np.all(np.isfinite(lab)) or not np.all(lab == np.round(lab)):
            raise ValueError("labels must be integers (-1 for none)")
        lab = lab.astype(np.int64)
    return x, y, lab.astype(np.int64)


def _distance(value, name):
    """A positive, finite distance in pixels."""
    return check_positive(value, name, "a distance in pixels", noun="distance")


def default_radius(x, y, site_classes=None):
    """The composition radius: a few cells.

    Three nearest-neighbour distances (about 25 to 40 atoms on the common
    lattices, enough to count each site class within a few per cent), or
    1.5 times the longest side of the primitive cell when that is longer
    (a complex cell, e.g. a tungsten bronze, must be whole in every window,
    or the windows see where in the cell they are, not which phase).

    Parameters
    ----------
    x, y : array_like
        Positions (pixels).
    site_classes : array_like of int, optional
        Site class per atom: the cell is measured with them as atom types
        (:func:`~hyperspy_localcryst.numerics.lattice.find_lattice_vectors`).

    Returns
    -------
    float
        The radius in pixels.

    Examples
    --------
    >>> import numpy as np
    >>> j, i = np.mgrid[0:10, 0:10]
    >>> default_radius(7.0 * i.ravel(), 7.0 * j.ravel())
    21.0
    """
    p = np.column_stack([check_array(x, "x").ravel(), check_array(y, "y").ravel()])
    ok = np.isfinite(p).all(axis=1)
    if ok.sum() < 2:
        raise ValueError("At least 2 atoms with finite positions are needed.")
    q = p[ok]
    d = nearest_distances(q)
    r = 3.0 * float(np.median(d))
    if site_classes is not None:
        from .lattice import find_lattice_vectors

        lab = np.asarray(site_classes).ravel()[ok]
        keep = lab >= 0
        try:
            v = find_lattice_vectors(q[keep, 0], q[keep, 1], lab[keep])["vectors"]
        except ValueError:
            return r
        r = max(r, 1.5 * float(np.hypot(v[:, 0], v[:, 1]).max()))
    return r


def site_composition(x, y, labels, radius, n_classes=None):
    """Share of each site class among the labelled atoms around every atom.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Positions (pixels).
    labels : array_like of int, shape (n,)
        Site class per atom, ``-1`` for none (not counted).
    radius : float
        Window radius (pixels); the atom itself is counted.
    n_classes : int, optional
        Number of columns; default ``labels.max() + 1``.

    Returns
    -------
    composition : numpy.ndarray, shape (n, n_classes)
        Fractions (rows sum to 1; NaN where the window holds no labelled
        atom).
    counts : numpy.ndarray of int, shape (n,)
        Labelled atoms in each window.

    Examples
    --------
    Two classes alternating along a row:

    >>> import numpy as np
    >>> x = np.arange(6.0); y = np.zeros(6)
    >>> c, n = site_composition(x, y, [0, 1, 0, 1, 0, 1], radius=1.5)
    >>> c[2].round(3).tolist(), int(n[2])
    ([0.333, 0.667], 3)
    """
    x, y, lab = _xy_labels(x, y, labels)
    r = _distance(radius, "radius")
    k = int(lab.max()) + 1 if lab.size and lab.max() >= 0 else 0
    if n_classes is not None:
        k = max(k, check_integer(n_classes, "n_classes", minimum=0))
    n = x.size
    comp = np.zeros((n, k))
    ok = np.isfinite(x) & np.isfinite(y)
    idx = np.flatnonzero(ok)
    if k == 0 or idx.size == 0:
        return np.full((n, k), np.nan), np.zeros(n, dtype=np.int64)
    tree = cKDTree(np.column_stack([x[idx], y[idx]]))
    pairs = tree.query_pairs(r, output_type="ndarray")
    a, b = idx[pairs[:, 0]], idx[pairs[:, 1]]
    la, lb = lab[a], lab[b]
    m = lb >= 0
    np.add.at(comp, (a[m], lb[m]), 1.0)
    m = la >= 0
    np.add.at(comp, (b[m], la[m]), 1.0)
    own = ok & (lab >= 0)
    comp[own, lab[own]] += 1.0
    counts = comp.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        comp = comp / counts[:, None]
    comp[counts == 0] = np.nan
    return comp, counts.astype(np.int64)


@dataclass
class PhaseResult:
    """Result of :func:`find_phases`.

    Attributes
    ----------
    n_phases : int
        Number of phases (0 is the largest).
    labels : numpy.ndarray of int, shape (n,)
        Phase per atom; -1 where the window held too few labelled atoms.
    boundary : numpy.ndarray of bool, shape (n,)
        Atoms whose window is a mix with at least ``boundary_share`` of
        another phase.
    classes : list of list of int
        Site classes of each phase.
    class_phase : numpy.ndarray of int
        Phase of each site class (-1 for a class with no atoms).
    composition : numpy.ndarray, shape (n_phases, n_classes)
        Mean window composition of each phase (over its classes' atoms).
    radius : float
        Window radius used (pixels).
    reason : str
        Why that many phases.
    boundary_classes : list of int
        Local site classes: found only at defects or where phases meet
        (their group fills fewer than ``min_atoms`` windows of its own).
    """

    n_phases: int
    labels: np.ndarray
    boundary: np.ndarray
    classes: list
    class_phase: np.ndarray
    composition: np.ndarray
    radius: float
    reason: str = ""
    boundary_classes: list = field(default_factory=list)


def class_cooccurrence(composition, labels, n_classes=None):
    """Mean composition around the atoms of each site class.

    Parameters
    ----------
    composition : array_like, shape (n, k)
        From :func:`site_composition`.
    labels : array_like of int, shape (n,)
        Site class per atom (-1 for none).
    n_classes : int, optional
        Rows of the result; default ``k``.

    Returns
    -------
    numpy.ndarray, shape (n_classes, k)
        Row ``a``: the mean share of each class in the windows of class
        ``a``'s atoms (NaN for a class without atoms).

    Examples
    --------
    >>> import numpy as np
    >>> comp = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    >>> class_cooccurrence(comp, [0, 1, 2]).tolist()
    [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]
    """
    comp = check_array(composition, "composition")
    if comp.ndim != 2:
        raise ValueError(f"composition must be 2D (n, k), got shape {comp.shape}")
    lab = np.asarray(labels).astype(np.int64).ravel()
    if lab.size != comp.shape[0]:
        raise ValueError(
            f"labels must have one value per row of composition ({comp.shape[0]}), "
            f"got {lab.size}"
        )
    k = comp.shape[1] if n_classes is None else int(n_classes)
    out = np.full((k, comp.shape[1]), np.nan)
    for a in range(k):
        m = (lab == a) & np.isfinite(comp).all(axis=1)
        if m.any():
            out[a] = comp[m].mean(axis=0)
    return out


def class_affinity(M):
    """How much two site classes live together, from their co-occurrence.

    ``A[a, b] = min(M[a, b] / M[b, b], M[b, a] / M[a, a])``: class ``b`` is
    as common around ``a``'s atoms as around its own, and the other way
    round. 1 for the sites of one crystal (each surrounds the other as much
    as itself), near 0 for classes of two phases (they meet only along the
    boundary), and small for a class found only at scattered defects (it is
    rare around the bulk, though the bulk surrounds it) or for a class two
    phases share, measured against the phase that holds less of it.

    Parameters
    ----------
    M : array_like, shape (K, K)
        From :func:`class_cooccurrence`.

    Returns
    -------
    numpy.ndarray, shape (K, K)
        Symmetric, in [0, 1] (NaN for classes without atoms).

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    >>> class_affinity(M).round(2).tolist()
    [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    M = check_array(M, "M")
    if M.ndim != 2 or M.shape[0] > M.shape[1]:
        raise ValueError(f"M must have shape (K, K), got {M.shape}")
    K = M.shape[0]
    M = M[:, :K]
    d = np.diag(M)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = M / d[None, :]  # r[a, b] = M[a, b] / M[b, b]
    A = np.minimum(r, r.T)
    A = np.clip(A, 0.0, 1.0)
    A[np.diag_indices(K)] = np.where(np.isfinite(d) & (d > 0), 1.0, np.nan)
    return A


def _group_classes(A, min_affinity):
    """Average-linkage groups of classes with affinity above
    ``min_affinity``."""
    from scipy.cluster.hierarchy import fcluster, linkage

    present = np.flatnonzero(np.isfinite(np.diag(A)))
    groups = np.full(A.shape[0], -1, dtype=np.int64)
    if present.size == 0:
        return groups
    if present.size == 1:
        groups[present] = 0
        return groups
    D = 1.0 - np.nan_to_num(A[np.ix_(present, present)], nan=0.0)
    iu = np.triu_indices(present.size, 1)
    Z = linkage(D[iu], method="average")
    groups[present] = fcluster(Z, t=1.0 - min_affinity, criterion="distance") - 1
    return groups


def find_phases(
    x,
    y,
    site_classes,
    radius=None,
    min_affinity=0.5,
    min_count=5,
    boundary_share=0.25,
    min_atoms=20,
    min_fraction=0.05,
    min_interior=10,
    min_coherence=0.6,
):
    """Group site classes into phases by where they occur together.

    Each atom's window (``radius``) gives the share of every site class
    around it (:func:`site_composition`); averaged over a class's atoms it
    says what surrounds that class (:func:`class_cooccurrence`), and
    :func:`class_affinity` how much two classes live together. Classes with
    an affinity of at least ``min_affinity`` (average linkage) form one
    group: the sites of one crystal always do, classes of two phases do
    not. A group must be a region to be a phase: a group whose classes hold
    fewer than ``min_atoms`` atoms or ``min_fraction`` of all labelled
    atoms, or fewer than ``min_interior`` atoms with neighbours of the group
    in two directions (a line of atoms, like a domain wall, has none), or
    which is the nearest in composition to fewer than ``min_atoms``
    windows, or whose region (the atoms nearest to it) holds fewer than 2/3
    as many atoms of its own classes as of another phase's (a patch of that
    phase's crystal rich in local classes: the Se-implanted MoS2 monolayer's
    defect-dense patches, 0.17 against 0.40; a class two phases share, such
    as the SrRuO3 site classed with PbTiO3's, gives about 0.5 against 0.5),
    or whose atoms (those it is nearest to) do not form regions
    (fewer than ``min_coherence`` of them have at least four of their six
    nearest atoms in the same phase: a class scattered among another
    phase's atoms in clusters of about one cell, such as the substituted
    sites of a doped crystal, gives 0.4-0.6; clusters two cells across
    0.7-0.8, a compact patch of 4 x 5 atoms 0.7-0.8, the phases of real
    interfaces 0.84-0.96), holds *local* classes (found only at defects,
    scattered, or where phases or domains meet), not a phase. Groups are
    dropped one at a time (the one nearest to the fewest windows first)
    and the tests repeated, since every atom of a dropped group takes
    another phase; the reason says which test each group failed. Every atom
    then takes the phase whose mean window composition (over the atoms of
    its classes) is nearest to its own window's (total
    variation), so a class two phases share (the B site of two perovskites
    that differ in A) is placed by its surroundings; atoms whose window is
    a mix with at least ``boundary_share`` of another phase are boundary
    atoms.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Positions (pixels) of all atoms.
    site_classes : array_like of int, shape (n,)
        Site class per atom, -1 where none (atoms that are not neighbourhood
        centres still get a phase from their window). To keep symmetry
        variants in one phase, pass each variant's class as its group's
        first class.
    radius : float, optional
        Composition window (pixels); default :func:`default_radius`.
    min_affinity : float
        Least affinity of the classes of one phase (0 < min_affinity < 1).
    min_count : int
        Fewest labelled atoms in a window for the atom to get a phase.
    boundary_share : float
        Least share of another phase in a boundary atom's window.
    min_atoms : int
        Fewest windows a phase must win, and fewest atoms of its classes.
    min_fraction : float
        Least share of the labelled atoms that a phase's classes hold.
    min_interior : int
        Fewest atoms of a phase's classes with neighbours of those classes
        in two directions (a region, not a line such as a domain wall).
    min_coherence : float
        Least share of a phase's atoms with at least four of their six
        nearest atoms in the same phase (0 switches the test off).

    Returns
    -------
    PhaseResult

    Examples
    --------
    Site classes 0 and 1 alternate on the left, class 2 fills the right:

    >>> import numpy as np
    >>> j, i = np.mgrid[0:30, 0:40]
    >>> x, y = 5.0 * i.ravel(), 5.0 * j.ravel()
    >>> sc = np.where(i.ravel() < 20, (i.ravel() + j.ravel()) % 2, 2)
    >>> result = find_phases(x, y, sc)
    >>> result.n_phases, result.classes
    (2, [[0, 1], [2]])
    >>> int(result.labels[0]), int(result.labels[-1])
    (0, 1)
    """
    x, y, lab = _xy_labels(x, y, site_classes)
    min_count = check_integer(min_count, "min_count", minimum=1)
    min_atoms = check_integer(min_atoms, "min_atoms", minimum=1)
    min_interior = check_integer(min_interior, "min_interior", minimum=0)
    min_fraction = check_number(min_fraction, "min_fraction", "a fraction")
    if not 0 <= min_fraction < 1:
        raise ValueError(f"min_fraction must be in [0, 1), got {min_fraction}")
    min_coherence = check_number(min_coherence, "min_coherence", "a fraction")
    if not 0 <= min_coherence <= 1:
        raise ValueError(f"min_coherence must be in [0, 1], got {min_coherence}")
    amin = check_number(min_affinity, "min_affinity", "a number between 0 and 1")
    if not 0 < amin < 1:
        raise ValueError(f"min_affinity must be between 0 and 1, got {min_affinity}")
    share = check_number(boundary_share, "boundary_share", "a fraction")
    if not 0 < share < 1:
        raise ValueError(
            f"boundary_share must be between 0 and 1, got {boundary_share}"
        )
    if radius is None:
        radius = default_radius(x, y)
    comp, counts = site_composition(x, y, lab, radius)
    n, k = comp.shape
    labels = np.full(n, -1, dtype=np.int64)
    M = class_cooccurrence(comp, lab, k)
    A = class_affinity(M) if k else np.zeros((0, 0))
    groups = _group_classes(A, amin)
    if k == 0 or (groups < 0).all():
        return PhaseResult(
            0,
            labels,
            np.zeros(n, bool),
            [],
            groups,
            np.zeros((0, k)),
            float(radius),
            "no labelled atoms",
        )
    n_groups = int(groups.max()) + 1
    ok = (counts >= min_count) & np.isfinite(comp).all(axis=1)
    # atoms of each group's own classes; a phase holds at least ``least``
    own_atoms = np.bincount(groups[lab[lab >= 0]].clip(0), minlength=n_groups) * (
        np.bincount(groups[groups >= 0], minlength=n_groups) > 0
    )
    least = max(min_atoms, min_fraction * int((lab >= 0).sum()))
    interior = np.array(
        [
            _interior_count(x, y, np.isin(lab, np.flatnonzero(groups == g)))
            for g in range(n_groups)
        ]
    )
    near = _nearest_six(x, y)
    why = {}  # group -> why it is not a phase
    # mean window composition of each group (over its classes' atoms)
    alive = np.ones(n_groups, dtype=bool)
    while True:
        cent = np.full((n_groups, k), np.nan)
        for g in range(n_groups):
            m = ok & (lab >= 0) & np.isin(lab, np.flatnonzero(groups == g))
            if m.any() and alive[g]:
                cent[g] = comp[m].mean(axis=0)
        dist = 0.5 * np.abs(comp[:, None, :] - cent[None, :, :]).sum(axis=2)
        dist = np.where(np.isfinite(dist), dist, np.inf)
        best = dist.argmin(axis=1)
        size = np.bincount(best[ok], minlength=n_groups)
        coherence = _coherence(np.where(ok, best, -1), near, n_groups)
        # each group's region (the labelled atoms nearest to it): the share
        # of its own classes' atoms and the largest share of another living
        # group's
        own = np.zeros(n_groups)
        other = np.zeros(n_groups)
        rival = np.full(n_groups, -1, dtype=np.int64)
        for g in np.flatnonzero(alive):
            there = groups[lab[ok & (best == g) & (lab >= 0)]]
            if there.size:
                part = np.bincount(there[there >= 0], minlength=n_groups)
                part = part / there.size
                own[g] = part[g]
                rest = np.where(alive & (np.arange(n_groups) != g), part, -1.0)
                rival[g] = int(rest.argmax())
                other[g] = max(rest[rival[g]], 0.0)
        foreign = other > 1.5 * own
        # each test of a region, per group: failed, and why in words
        tests = [
            (own_atoms < least, lambda g: f"{own_atoms[g]} atoms < {least:.0f}"),
            (
                interior < min_interior,
                lambda g: (
                    f"{interior[g]} with neighbours of the group in two "
                    f"directions < {min_interior}"
                ),
            ),
            (size < min_atoms, lambda g: f"nearest to {size[g]} windows < {min_atoms}"),
            (
                coherence < min_coherence,
                lambda g: (
                    f"scattered: {coherence[g]:.2f} of its atoms with 4 of "
                    f"their 6 nearest in its phase < {min_coherence:g}"
                ),
            ),
            (
                foreign,
                lambda g: (
                    f"its region holds {own[g]:.2f} of its own classes' atoms, "
                    f"less than 2/3 of the {other[g]:.2f} of classes "
                    f"{', '.join(map(str, np.flatnonzero(groups == rival[g])))}"
                ),
            ),
        ]
        weak = alive & np.logical_or.reduce([failed for failed, _ in tests])
        if not weak.any() or alive.sum() == 1:
            break
        g = int(np.flatnonzero(weak)[np.argmin(size[weak])])
        alive[g] = False
        why[g] = "; ".join(text(g) for failed, text in tests if failed[g])
    order = np.argsort(np.where(alive, -size, 1), kind="stable")
    n_phases = int(alive.sum())
    rank = np.full(n_groups, -1, dtype=np.int64)
    rank[order[:n_phases]] = np.arange(n_phases)
    labels[ok] = rank[best[ok]]
    class_phase = np.where(groups >= 0, rank[np.maximum(groups, 0)], -1)
    # boundary: the window as a mix of its phase's mean and the nearest
    # other phase's holds at least ``share`` of the other
    boundary = np.zeros(n, dtype=bool)
    if n_phases > 1:
        idx = np.flatnonzero(ok)
        d_sorted = np.sort(dist[idx], axis=1)
        second = np.argsort(dist[idx], axis=1)[:, 1]
        c1, c2 = cent[best[idx]], cent[second]
        w = comp[idx]
        span = ((c2 - c1) ** 2).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            alpha = ((w - c1) * (c2 - c1)).sum(axis=1) / span
        alpha = np.where(np.isfinite(d_sorted[:, 1]) & (span > 0), alpha, 0.0)
        boundary[idx] = alpha >= share
    local_classes = [int(c) for c in np.flatnonzero((groups >= 0) & (class_phase < 0))]
    classes = [
        [int(c) for c in np.flatnonzero(class_phase == f)] for f in range(n_phases)
    ]
    mean_comp = np.full((n_phases, k), np.nan)
    for g in range(n_groups):
        if rank[g] >= 0:
            mean_comp[rank[g]] = cent[g]
    off = ~np.eye(len(A), dtype=bool)
    if n_groups == 1:
        low = np.nanmin(A[off]) if off.any() else 1.0
        reason = (
            f"all {len(classes[0])} site classes live together (average-linkage "
            f"affinity >= {amin:g}; lowest pair {low:.2f}): one phase"
        )
    else:
        between = groups[:, None] != groups[None, :]
        within = (groups[:, None] == groups[None, :]) & off
        reason = (
            f"{n_groups} groups of site classes that live apart (average-linkage "
            f"affinity between groups below {amin:g}: highest pair "
            f"{np.nanmax(A[between]):.2f}; within a group lowest pair "
            f"{np.nanmin(A[within]) if within.any() else 1.0:.2f})"
        )
        if local_classes:
            parts = [
                f"{', '.join(map(str, np.flatnonzero(groups == g)))} ({text})"
                for g, text in sorted(why.items())
            ]
            reason += (
                "; local classes (defects, substitutions, walls or boundaries), "
                f"not a phase: {'; '.join(parts)}"
            )
        reason += f": {n_phases} phase(s)"
    return PhaseResult(
        n_phases,
        labels,
        boundary,
        classes,
        class_phase,
        mean_comp,
        float(radius),
        reason,
        local_classes,
    )


def _nearest_six(x, y):
    """Indices of each atom's six nearest atoms (-1 where there are fewer
    or the position is not finite)."""
    n = len(x)
    near = np.full((n, 6), -1, dtype=np.int64)
    idx = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if idx.size < 2:
        return near
    k = min(7, idx.size)
    _, j = kd_query(
        cKDTree(np.column_stack([x[idx], y[idx]])),
        np.column_stack([x[idx], y[idx]]),
        k=k,
    )
    near[idx, : k - 1] = idx[j[:, 1:]]
    return near


def _coherence(labels, near, n_groups):
    """Per group, the share of its atoms with at least four of their six
    nearest atoms (``near``, -1 for none) carrying the same label; 1 for a
    group without atoms."""
    out = np.ones(n_groups)
    valid = near >= 0
    same = ((labels[np.maximum(near, 0)] == labels[:, None]) & valid).sum(axis=1)
    for g in range(n_groups):
        m = labels == g
        if m.any():
            out[g] = float((same[m] >= 4).mean())
    return out


def _interior_count(x, y, members):
    """Atoms of ``members`` with member neighbours in two directions (at
    least 30 degrees apart) within 1.5 times the members' median
    nearest-neighbour distance: the interior of a 2D region; a line of
    atoms (a wall) or scattered atoms (defects) have (almost) none."""
    idx = np.flatnonzero(members & np.isfinite(x) & np.isfinite(y))
    if idx.size < 3:
        return 0
    p = np.column_stack([x[idx], y[idx]])
    tree = cKDTree(p)
    d, j = kd_query(tree, p, k=min(7, idx.size))
    r = 1.5 * float(np.median(d[:, 1]))
    v = p[j[:, 1:]] - p[:, None, :]  # (m, 6, 2)
    ok = d[:, 1:] <= r
    u = v / np.maximum(np.hypot(v[..., 0], v[..., 1]), 1e-300)[..., None]
    cross = np.abs(
        u[:, :, None, 0] * u[:, None, :, 1] - u[:, :, None, 1] * u[:, None, :, 0]
    )
    pair = ok[:, :, None] & ok[:, None, :] & (cross > 0.5)
    return int(pair.any(axis=(1, 2)).sum())


def unit_cell(x, y, site_classes, find_vectors=None):
    """Primitive cell of a set of atoms and the site classes in it (the motif).

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Positions (pixels) of the atoms of one phase.
    site_classes : array_like of int, shape (n,)
        Site class per atom (-1 for none): a translation maps every atom
        onto one of the same class.
    find_vectors : callable, optional
        ``f(x, y, types) -> dict`` with ``"vectors"`` (2, 2); default
        :func:`~hyperspy_localcryst.numerics.lattice.find_lattice_vectors`.

    Returns
    -------
    dict
        ``vectors`` (2, 2) pixels, rows a1, a2; ``motif``: one dict per site
        class present with ``site_class``, ``fractional`` (u, v in [0, 1):
        the class's position in the cell relative to the first class, a
        circular mean) and ``offset`` (x, y in pixels, = u a1 + v a2) and
        ``n_atoms``.

    Examples
    --------
    A centred rectangular motif: class 1 at (1/2, 1/2) of a 10 x 14 cell:

    >>> import numpy as np
    >>> j, i = np.mgrid[0:12, 0:12]
    >>> xa, ya = 10.0 * i.ravel(), 14.0 * j.ravel()
    >>> x = np.concatenate([xa, xa + 5]); y = np.concatenate([ya, ya + 7])
    >>> sc = np.repeat([0, 1], xa.size)
    >>> cell = unit_cell(x, y, sc)
    >>> [m["fractional"] for m in cell["motif"]]
    [(0.0, 0.0), (0.5, 0.5)]
    """
    x, y, lab = _xy_labels(x, y, site_classes)
    if find_vectors is None:
        from .lattice import find_lattice_vectors as find_vectors
    keep = np.isfinite(x) & np.isfinite(y) & (lab >= 0)
    fit = find_vectors(x[keep], y[keep], lab[keep])
    v = np.asarray(fit["vectors"], dtype=float)
    inv = np.linalg.inv(v.T)
    classes = [int(c) for c in np.unique(lab[keep])]
    # Origin: an atom of the first class near the middle.
    first = np.flatnonzero(keep & (lab == classes[0]))
    cx, cy = np.median(x[first]), np.median(y[first])
    o = first[np.argmin(np.hypot(x[first] - cx, y[first] - cy))]
    motif = []
    for c in classes:
        m = keep & (lab == c)
        d = np.column_stack([x[m] - x[o], y[m] - y[o]])
        f = d @ inv.T  # fractional coordinates
        ang = 2 * np.pi * f
        u = np.arctan2(np.sin(ang).mean(axis=0), np.cos(ang).mean(axis=0))
        u = np.mod(u / (2 * np.pi), 1.0)
        u = np.where(np.isclose(u, 1.0, atol=1e-9) | np.isclose(u, 0, atol=1e-9), 0, u)
        u = tuple(float(round(a, 4)) for a in u)
        motif.append(
            {
                "site_class": c,
                "fractional": u,
                "offset": tuple(float(a) for a in np.asarray(u) @ v),
                "n_atoms": int(m.sum()),
            }
        )
    return {"vectors": v, "motif": motif}


def boundary_points(x, y, labels, max_distance=None):
    """Points of the boundaries between labels: midpoints of unlike neighbours.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Positions (pixels).
    labels : array_like of int, shape (n,)
        Phase or variant per atom (-1: none, never a side of a boundary).
    max_distance : float, optional
        Largest neighbour distance (pixels); default 1.25 times the median
        nearest-neighbour distance.

    Returns
    -------
    dict
        ``x``, ``y`` (midpoints, pixels), ``a``, ``b`` (the two labels, a < b)
        of every pair of neighbours with different labels.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(6.0); y = np.zeros(6)
    >>> b = boundary_points(x, y, [0, 0, 0, 1, 1, 1])
    >>> b["x"].tolist(), b["a"].tolist(), b["b"].tolist()
    ([2.5], [0], [1])
    """
    x, y, lab = _xy_labels(x, y, labels)
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y) & (lab >= 0))
    empty = {k: np.zeros(0) for k in ("x", "y")}
    empty.update(a=np.zeros(0, np.int64), b=np.zeros(0, np.int64))
    if ok.size < 2:
        return empty
    p = np.column_stack([x[ok], y[ok]])
    tree = cKDTree(p)
    if max_distance is None:
        d = nearest_distances(p, tree)
        r = 1.25 * float(np.median(d))
    else:
        r = _distance(max_distance, "max_distance")
    pairs = tree.query_pairs(r, output_type="ndarray")
    i, j = ok[pairs[:, 0]], ok[pairs[:, 1]]
    m = lab[i] != lab[j]
    i, j = i[m], j[m]
    return {
        "x": (x[i] + x[j]) / 2,
        "y": (y[i] + y[j]) / 2,
        "a": np.minimum(lab[i], lab[j]),
        "b": np.maximum(lab[i], lab[j]),
    }


def local_mean(x, y, values, radius, mask=None):
    """Mean of per-atom values over the atoms within ``radius`` of each atom.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Positions (pixels).
    values : array_like, shape (n,) or (n, d)
        Values to average (NaN rows are left out).
    radius : float
        Window radius (pixels).
    mask : array_like of bool, shape (n,), optional
        Atoms whose values enter the means (default all); every atom gets a
        mean of the masked atoms around it.

    Returns
    -------
    mean : numpy.ndarray, shape of ``values``
        NaN where no masked atom lies in the window.
    count : numpy.ndarray of int, shape (n,)
        Masked atoms averaged.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(5.0); y = np.zeros(5)
    >>> m, n = local_mean(x, y, [0.0, 1, 2, 3, 4], radius=1.5)
    >>> m.tolist(), n.tolist()
    ([0.5, 1.0, 2.0, 3.0, 3.5], [2, 3, 3, 3, 2])
    """
    x = check_array(x, "x").ravel()
    y = check_array(y, "y").ravel()
    v = check_array(values, "values")
    one = v.ndim == 1
    v = v.reshape(len(v), -1)
    if v.shape[0] != x.size:
        raise ValueError(
            f"values must have one row per atom ({x.size}), got {v.shape[0]}"
        )
    r = _distance(radius, "radius")
    use = np.ones(x.size, bool) if mask is None else np.asarray(mask, bool).ravel()
    use = use & np.isfinite(v).all(axis=1) & np.isfinite(x) & np.isfinite(y)
    out = np.full(v.shape, np.nan)
    count = np.zeros(x.size, dtype=np.int64)
    src = np.flatnonzero(use)
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if src.size:
        tree = cKDTree(np.column_stack([x[src], y[src]]))
        for i, nbrs in zip(
            ok, tree.query_ball_point(np.column_stack([x[ok], y[ok]]), r)
        ):
            if nbrs:
                out[i] = v[src[nbrs]].mean(axis=0)
                count[i] = len(nbrs)
    return (out[:, 0] if one else out), count
