"""Sublattices by structure: sites of the local cell, locally normalised intensity.

A 1D mixture of the intensities of all atoms (``finding.label_by_intensity``)
splits an image by its slow gradients of thickness or height rather than by
atom type. Here the labels come from the crystal itself:

1. each atom's intensity is taken relative to a plane fitted to the atoms
   around it and divided by their spread (:func:`local_normalise`), which
   removes slow gradients;
2. the lattice translations are the neighbour displacement vectors ``v`` that
   take almost every atom onto another atom *of similar normalised
   intensity* (a positive correlation of the intensities at ``x`` and
   ``x + v``); the primitive cell is spanned by the two shortest
   non-collinear ones (:func:`find_translations`). Because the correlation
   of true translations varies (scan-line noise correlates neighbours along
   the fast scan direction), nested hypotheses (the translations above each
   correlation threshold, and geometry alone) are all built into sites and
   the cell whose site means give the lowest Bayesian information criterion
   of the normalised intensities wins;
3. atoms linked by ``±a1``, ``±a2`` (matched with vectors averaged over
   the neighbourhood, so slow strain or scan distortion does not break the
   links) form connected components; the offset of every component within
   the cell is propagated from its neighbours, and components with the same
   offset are one site (so fragments at vacancies, edges and defects join
   their site);
4. sites are merged into the requested number of sublattices by their mean
   normalised intensity (an optimal 1D partition), label 0 = brightest;
5. when more sublattices are asked for than the cell has sites, a weaker
   order inside one site (ABF of SrTiO3 [001]: Sr and Ti-O both dark beside
   the faint O, so the cation / O checkerboard wins the criterion) is sought
   among the atoms of each site, normalised among themselves; a split is
   kept only when it stands out from the same search on shuffled
   intensities, and the crystal then takes the larger cell.

Everything is in pixels (x = column, y = row) and never imports HyperSpy.
"""

import warnings

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import (
    breadth_first_order,
    connected_components,
    minimum_spanning_tree,
)

from ._checks import check_integer, check_number
from .translations import (
    _local_vectors,
    _match,
    _positions,
    _Tree,
    _wrap,
    find_translations,
    local_normalise,
)

__all__ = ["label_sublattices", "split_types"]


def label_sublattices(
    x, y, intensity, n_sublattices=2, tolerance=0.25, n_neighbours=24
):
    """Label atoms by the site they occupy in the local cell.

    See the module docstring for the method. Slow gradients of intensity
    (thickness, focus, STM height drift) do not change the labels; intensity
    only decides which vectors are lattice translations (a statistic over
    all atoms), and which sites are merged and in which order.

    Parameters
    ----------
    x, y : array_like
        Positions (pixels).
    intensity : array_like
        One value per atom (fitted amplitude, integrated intensity, peak).
        NaN where unknown (a failed fit): such atoms are labelled by their
        site alone (-1 if the structure could not be used).
    n_sublattices : int, None or "auto", default 2
        Number of labels. Sites are merged by mean normalised intensity when
        the cell has more; ``None``/``"auto"``: one label per site found.
        When the cell has fewer sites, its sites are split by a significant
        order within them (``info["split"]`` says how); failing that, the
        atoms are split by their locally normalised intensity (with a
        warning).
    tolerance : float, default 0.25
        Match radius of the translation links, in units of the median
        nearest-neighbour distance.
    n_neighbours : int, default 24
        Window of the local normalisation (:func:`local_normalise`).

    Returns
    -------
    labels : numpy.ndarray of int
        0 = brightest sublattice; -1 for an atom without intensity when the
        structure could not be used.
    info : dict
        ``"a1"``, ``"a2"`` (cell vectors, pixels, each of shape (2,); NaN
        when the structure could not be used), ``"site_offsets"``
        (fractional offset of each site in the cell, the most populated site
        at the origin),
        ``"site_label"``, ``"site_size"``, ``"site_intensity"`` (mean
        normalised intensity), ``"site"`` (per atom), ``"q"`` (per-atom
        normalised intensity), ``"n_sites"``, ``"method"`` (``"structure"``
        or ``"local intensity"`` when the structure could not be used),
        ``"split"`` (only when sites were split by an order within them).

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:20, 0:24].reshape(2, -1) * 10.0
    >>> a_site = ((xx + yy) / 10) % 2 == 0
    >>> raw = np.where(a_site, 1.0, 0.6) * (1 + xx / xx.max())  # 2x gradient
    >>> raw = raw + np.random.default_rng(1).normal(0, 0.08, xx.size)
    >>> labels, info = label_sublattices(xx, yy, raw, 2)
    >>> bool(np.all(labels == np.where(a_site, 0, 1))), info["n_sites"]
    (True, 2)
    """
    xy, v = _positions(x, y, intensity)
    auto = n_sublattices is None or (
        isinstance(n_sublattices, str) and n_sublattices == "auto"
    )
    if not auto:
        n_sublattices = check_integer(n_sublattices, "n_sublattices", minimum=1)
        if n_sublattices > len(v):
            raise ValueError(
                f"Cannot split {len(v)} atom(s) into {n_sublattices} sublattices "
                "(`n_sublattices`)."
            )
    tolerance = check_number(tolerance, "tolerance")
    n = len(v)
    q = local_normalise(xy[:, 0], xy[:, 1], v, n_neighbours)
    info = {
        "a1": np.full(2, np.nan),
        "a2": np.full(2, np.nan),
        "q": q,
        "method": "structure",
    }
    if n < 8:
        return _fallback(q, n_sublattices, auto, info, "fewer than 8 atoms")
    t = find_translations(xy[:, 0], xy[:, 1], q)
    d0 = t["nn_distance"]
    info.update(nn_distance=d0)
    tree = _Tree(xy)
    known = np.isfinite(q)
    best = None
    for a1, a2 in _candidate_cells(t):
        site, site_off = _assign_sites(xy, tree, a1, a2, d0, tolerance)
        bic, mean_q = _site_bic(q, known, site, len(site_off))
        if best is None or bic < best[0] - 1e-9:
            best = (bic, a1, a2, site, site_off, mean_q)
    if best is None:
        return _fallback(q, n_sublattices, auto, info, "no lattice translations")
    _, a1, a2, site, site_off, mean_q = best
    info.update(a1=a1, a2=a2)
    n_sites = len(site_off)
    size = np.bincount(site, minlength=n_sites)
    info.update(n_sites=n_sites, site=site, site_size=size, site_intensity=mean_q)
    info["site_offsets"] = _wrap(site_off - site_off[np.argmax(size)])
    n_lab = n_sites if auto else n_sublattices
    if n_sites < n_lab:
        split = _split_sites(
            xy, tree, v, q, site, a1, a2, d0, tolerance, n_lab, n_neighbours
        )
        if split is not None:
            a1, a2, site, site_off, site_label, why = split
            n_sites = len(site_off)
            size = np.bincount(site, minlength=n_sites)
            mean_q = _site_means(q, known, site, n_sites)
            info.update(
                a1=a1,
                a2=a2,
                n_sites=n_sites,
                site=site,
                site_size=size,
                site_intensity=mean_q,
                site_label=site_label,
                split=why,
            )
            info["site_offsets"] = _wrap(site_off - site_off[np.argmax(size)])
            return site_label[site], info
    if n_sites < n_lab:
        return _fallback(
            q,
            n_sublattices,
            auto,
            info,
            f"the cell has {n_sites} site(s), fewer than `n_sublattices` = "
            f"{n_sublattices}",
        )
    site_label = _partition(mean_q, size, n_lab)
    info["site_label"] = site_label
    return site_label[site], info


def _assign_sites(xy, tree, a1, a2, d0, tolerance):
    """Site of every atom for the cell (a1, a2), and the sites' offsets."""
    n = len(xy)
    # translation graph with locally adapted vectors
    rows, cols = [], []
    loc = []
    for vec in (a1, a2):
        lv = _local_vectors(xy, tree, vec, d0, 0.35)
        loc.append(lv)
        j = _match(xy, tree, xy + lv, tolerance * d0)
        ok = np.flatnonzero(j >= 0)
        rows.append(ok)
        cols.append(j[ok])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    n_comp, comp = connected_components(graph, directed=False)
    # offsets between touching components, in the local cell
    basis = np.stack([loc[0], loc[1]], axis=2)  # (n, 2, 2): columns a1, a2
    det = basis[:, 0, 0] * basis[:, 1, 1] - basis[:, 0, 1] * basis[:, 1, 0]
    good = np.abs(det) > 1e-9
    basis[~good] = np.column_stack([a1, a2])
    inv = np.linalg.inv(basis)
    k = min(n, 9)
    idx = tree.neighbours(k)
    i_all = np.repeat(np.arange(n), k - 1)
    j_all = idx[:, 1:].ravel()
    frac = np.einsum("nij,nj->ni", inv[i_all], xy[j_all] - xy[i_all])
    frac = _wrap(frac)
    other = comp[i_all] != comp[j_all]
    ci, cj, fr = comp[i_all][other], comp[j_all][other], frac[other]
    sizes = np.bincount(comp, minlength=n_comp)
    offset = np.full((n_comp, 2), np.nan)
    if len(ci):
        key = ci.astype(np.int64) * n_comp + cj
        ukey, inv_key = np.unique(key, return_inverse=True)
        cnt = np.bincount(inv_key)
        ang = 2 * np.pi * fr
        mean = np.column_stack(
            [
                np.arctan2(
                    np.bincount(inv_key, np.sin(ang[:, d])),
                    np.bincount(inv_key, np.cos(ang[:, d])),
                )
                / (2 * np.pi)
                for d in range(2)
            ]
        )
        a, b = ukey // n_comp, ukey % n_comp
        # spanning tree that prefers well-supported pairs
        w = coo_matrix((1.0 / (1.0 + cnt), (a, b)), shape=(n_comp, n_comp))
        mst = minimum_spanning_tree(w.tocsr()).tocoo()
        tree_edges = coo_matrix(
            (np.ones(len(mst.row)), (mst.row, mst.col)), shape=(n_comp, n_comp)
        )
        sym = (tree_edges + tree_edges.T).tocsr()
        lookup = dict(zip(zip(a.tolist(), b.tolist()), range(len(a))))
        for start in np.argsort(-sizes):
            if np.isfinite(offset[start, 0]):
                continue
            offset[start] = 0.0
            order, pred = breadth_first_order(sym, start, directed=False)
            for c in order[1:]:
                p = pred[c]
                m = lookup.get((p, c))
                if m is not None:
                    offset[c] = offset[p] + mean[m]
                else:
                    offset[c] = offset[p] - mean[lookup[(c, p)]]
    offset[~np.isfinite(offset[:, 0])] = 0.0
    offset = _wrap(offset)
    # components with the same offset are one site
    cell = np.column_stack([a1, a2])
    site_of_comp = np.full(n_comp, -1)
    site_off = []
    for c in np.argsort(-sizes, kind="stable"):
        if site_off:
            diff = _wrap(np.array(site_off) - offset[c]) @ cell.T
            dist = np.hypot(diff[:, 0], diff[:, 1])
            s = int(np.argmin(dist))
            if dist[s] < 0.35 * d0:
                site_of_comp[c] = s
                continue
        site_of_comp[c] = len(site_off)
        site_off.append(offset[c])
    site_off = np.array(site_off)
    site = site_of_comp[comp]
    size = np.bincount(site, minlength=len(site_off))
    # sites far smaller than the largest are not sites of the cell (invented
    # or displaced atoms): give their atoms the nearest real site
    real = size >= 0.2 * size.max()
    if not real.all():
        keep = np.flatnonzero(real)
        for s in np.flatnonzero(~real):
            diff = _wrap(site_off[keep] - site_off[s]) @ cell.T
            site[site == s] = keep[np.argmin(np.hypot(diff[:, 0], diff[:, 1]))]
        remap = np.full(len(site_off), -1)
        remap[keep] = np.arange(len(keep))
        site = remap[site]
        site_off = site_off[keep]
    return site, site_off


def _site_means(q, known, site, n_sites):
    """Mean of the known ``q`` on each site (0 on a site without any)."""
    return np.bincount(site[known], q[known], minlength=n_sites) / np.maximum(
        np.bincount(site[known], minlength=n_sites), 1
    )


def _site_bic(q, known, site, n_sites):
    """Bayesian information criterion of the normalised intensities ``q``
    explained by one mean per site (a site must explain its variance), and
    the site means."""
    n_known = int(known.sum())
    mean_q = _site_means(q, known, site, n_sites)
    rss = float(np.sum((q[known] - mean_q[site[known]]) ** 2))
    bic = n_known * np.log(max(rss, 1e-300) / max(n_known, 1)) + n_sites * np.log(
        max(n_known, 2)
    )
    return bic, mean_q


def _best_cell(xy, q, tolerance, n_neighbours, parent=None):
    """Lowest-BIC cell of one point pattern: ``(bic_gain, a1, a2, site, off)``.

    ``bic_gain`` is the BIC of one site minus that of the best cell with more
    than one site (positive: the sites explain the intensities). With
    ``parent`` (a 2x2 matrix of cell vectors as columns) only cells whose
    vectors are translations of the parent lattice count, at most 4 times
    its area, with at least 8 atoms on each site.
    """
    t = find_translations(xy[:, 0], xy[:, 1], q)
    tree = _Tree(xy)
    known = np.isfinite(q)
    nk = int(known.sum())
    if nk < 8:
        return None
    bic0 = _site_bic(q, known, np.zeros(len(q), dtype=np.int64), 1)[0]
    best = None
    for a1, a2 in _candidate_cells(t):
        if parent is not None:
            f = np.linalg.solve(parent, np.column_stack([a1, a2]))
            # a superlattice of the parent, at most 4 times its cell
            if np.any(np.abs(f - np.round(f)) > 0.15) or abs(np.linalg.det(f)) > 4.5:
                continue
        site, off = _assign_sites(xy, tree, a1, a2, t["nn_distance"], tolerance)
        ns = len(off)
        if ns < 2 or (parent is not None and np.bincount(site).min() < 8):
            continue  # a sub-site of a few atoms fits the noise
        bic = _site_bic(q, known, site, ns)[0]
        if best is None or bic < best[0]:
            best = (bic, a1, a2, site, off)
    if best is None:
        return None
    return (bic0 - best[0],) + best[1:]


def _significant(gain, xy, v, tolerance, n_neighbours, parent, rng, n=39):
    """Whether ``gain`` stands out from the gains of ``n`` shuffles of ``v``.

    The raw intensities are shuffled among the atoms and normalised again
    (the local normalisation itself leaves spatial structure in few atoms).
    ``gain`` must beat every shuffle and their mean by 3 standard
    deviations: a search over cells finds order in noise, and its gains
    have a long tail.
    """
    known = np.flatnonzero(np.isfinite(v))
    null = []
    for i in range(n):
        vp = v.copy()
        vp[known] = v[rng.permutation(known)]
        qp = local_normalise(xy[:, 0], xy[:, 1], vp, n_neighbours)
        r = _best_cell(xy, qp, tolerance, n_neighbours, parent)
        g = r[0] if r is not None else 0.0
        if g >= gain:
            return False
        null.append(g)
        if i == 9 and gain <= np.mean(null) + 3 * np.std(null):
            return False  # clearly within the noise: spare the other shuffles
    return bool(gain > np.mean(null) + 3 * np.std(null))


def _replicates(xy, q, sub_site, t_min=1.0, least=4):
    """Whether an order of sub-sites holds in each half of the region.

    A periodic order shows in the top, bottom, left and right halves alike:
    the brightest and the faintest sub-sites of the whole stay in that
    order, ``t_min`` standard errors apart, in every half. Bands, steps and
    slow variations that a superlattice cell happens to alias (a phase band
    every few rows) do not.
    """
    known = np.isfinite(q)
    n_sub = int(sub_site.max()) + 1
    whole = np.array([q[known & (sub_site == k)].mean() for k in range(n_sub)])
    hi, lo = int(np.argmax(whole)), int(np.argmin(whole))
    for axis in (0, 1):
        mid = np.median(xy[:, axis])
        for half in (xy[:, axis] < mid, xy[:, axis] >= mid):
            a = q[known & half & (sub_site == hi)]
            b = q[known & half & (sub_site == lo)]
            if min(len(a), len(b)) < least:
                return False
            se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
            if a.mean() - b.mean() < t_min * max(se, 1e-300):
                return False
    return True


def _candidate_split(xy, v, m, tolerance, n_neighbours, parent):
    """``(positions, normalised intensities, best cell)`` of the atoms ``m``
    (:func:`_best_cell` on them alone), or None when there are fewer than 16
    or their best cell gains nothing."""
    if len(m) < 16:
        return None
    sub = xy[m]
    qs = local_normalise(sub[:, 0], sub[:, 1], v[m], n_neighbours)
    r = _best_cell(sub, qs, tolerance, n_neighbours, parent)
    if r is None or r[0] <= 0:
        return None
    return sub, qs, r


def _split_holds(sub, qs, r, v_sub, tolerance, n_neighbours, parent, rng):
    """Whether a candidate split holds in every half and beats the shuffles."""
    return _replicates(sub, qs, r[3]) and _significant(
        r[0], sub, v_sub, tolerance, n_neighbours, parent, rng
    )


def split_types(x, y, intensity, types, a1, a2, tolerance=0.25, n_neighbours=24):
    """Atom types split where a periodic order lives inside one of them.

    Two labels merge sites of the cell by brightness; in ABF of SrTiO3
    [001] they are the cations and O, and Sr and Ti-O share a label: their
    difference is a checkerboard inside the cation type, weaker than the
    cation / O contrast. Each type is searched for the best cell of its own
    pattern (its intensities normalised among its atoms; a superlattice of
    ``(a1, a2)`` at most 4 times its area, 8 atoms on each sub-site), and is
    split when that order holds in every half of the region and stands out
    from the same search on shuffled intensities (as when
    :func:`label_sublattices` is asked for more labels than the cell has
    sites). One level: a new type is not searched again.

    Parameters
    ----------
    x, y : array_like
        Positions (pixels).
    intensity : array_like
        One value per atom (NaN where unknown).
    types : array_like of int
        Type of every atom (``-1``: none, left alone).
    a1, a2 : array_like
        Cell vectors of the structure the types come from (pixels).
    tolerance : float, default 0.25
        Match radius of the translation links (nearest-neighbour distances).
    n_neighbours : int, default 24
        Window of the local normalisation.

    Returns
    -------
    new_types : numpy.ndarray of int
        The types. A split type becomes two: its sub-sites are merged by
        mean intensity into a brighter kind, which keeps the type, and a
        fainter one, which takes the next free number.
    splits : list of dict
        One per split: ``"type"``, ``"new_type"``, ``"a1"``, ``"a2"`` (the
        cell of the order, pixels) and ``"gain"``.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:12, 0:14].reshape(2, -1) * 10.0
    >>> cation = ((xx + yy) / 10) % 2 == 0            # checkerboard
    >>> sr = cation & ((xx / 10) % 2 == 0)             # Sr / Ti-O inside it
    >>> level = np.where(cation, np.where(sr, 1.0, 0.94), 0.25)
    >>> inten = level + np.random.default_rng(0).normal(0, 0.01, xx.size)
    >>> types = np.where(cation, 0, 1)
    >>> new, splits = split_types(xx, yy, inten, types, [10.0, 10.0], [10.0, -10.0])
    >>> len(splits), len(np.unique(new))
    (1, 3)
    """
    xy, v = _positions(x, y, intensity)
    types = np.asarray(types).astype(np.int64).ravel()
    if types.size != len(v):
        raise ValueError(
            f"`types` must have one value per atom ({len(v)}), got {types.size}."
        )
    parent = np.column_stack([np.asarray(a1, float), np.asarray(a2, float)])
    new = types.copy()
    splits = []
    if not np.all(np.isfinite(parent)) or abs(np.linalg.det(parent)) < 1e-9:
        return new, splits
    rng = np.random.default_rng(0)
    for t in np.unique(types[types >= 0]):
        m = np.flatnonzero(types == t)
        found = _candidate_split(xy, v, m, tolerance, n_neighbours, parent)
        if found is None or not _split_holds(
            *found, v[m], tolerance, n_neighbours, parent, rng
        ):
            continue
        sub, qs, (gain, b1, b2, sub_site, _) = found
        # two kinds: the sub-sites merged by brightness (the Ti and the O
        # sites of a [110] cell are two of each)
        ns = int(sub_site.max()) + 1
        means = _site_means(qs, np.isfinite(qs), sub_site, ns)
        half = _partition(means, np.bincount(sub_site, minlength=ns), 2)[sub_site]
        first = int(new.max()) + 1
        new[m] = np.where(half == 0, t, first)
        splits.append(
            {
                "type": int(t),
                "new_type": first,
                "a1": np.asarray(b1, float),
                "a2": np.asarray(b2, float),
                "gain": float(gain),
            }
        )
    return new, splits


def _split_sites(xy, tree, v, q, site, a1, a2, d0, tolerance, n_lab, n_neighbours):
    """Split sites of the cell (a1, a2) by the structure within each site.

    When the best cell has fewer sites than the labels asked for, two kinds
    of column can share a site because another contrast dominates (ABF of
    SrTiO3 [001]: Sr and Ti-O columns are both dark beside the faint O, and
    the checkerboard of cations and O wins). Within the atoms of one site,
    normalised among themselves, the weaker order shows: the site is split
    by the best cell of its own pattern (a superlattice of the parent cell).
    A split is made only when its order holds in each half of the region
    (:func:`_replicates`: not bands or steps that a larger cell aliases) and
    its gain stands out from the gains of the same search on the site's
    intensities shuffled among its atoms (:func:`_significant`; a search
    over cells finds some order in pure noise: about one noise pattern in
    six gains on 50 atoms). Sites are
    tried in order of gain, until ``n_lab`` groups exist. The whole crystal
    then takes the superlattice cell; its sites keep the label of the group
    most of their atoms are in.

    Returns ``(a1, a2, site, site_offsets, site_label, why)`` or None.
    """
    parent = np.column_stack([a1, a2])
    group = site.copy()
    cell = None
    n_groups = int(group.max()) + 1
    rng = np.random.default_rng(0)  # the permutations: same answer every run
    while n_groups < n_lab:
        found = []
        for g in range(n_groups):
            m = np.flatnonzero(group == g)
            c = _candidate_split(xy, v, m, tolerance, n_neighbours, parent)
            if c is not None:
                found.append((c[2][0], g, m, c))
        best = None
        for _, g, m, c in sorted(found, key=lambda f: -f[0]):
            if _split_holds(*c, v[m], tolerance, n_neighbours, parent, rng):
                best = (g, m, c[2])
                break
        if best is None:
            break
        g, m, (gain, b1, b2, sub_site, _) = best
        new = n_groups + sub_site - 1  # sub-site 0 keeps the group's index
        group[m] = np.where(sub_site == 0, g, new)
        n_groups = int(group.max()) + 1
        cell = (b1, b2)
        parent = np.column_stack(cell)  # a further split refines this cell
    if cell is None or n_groups < n_lab:
        return None
    b1, b2 = cell
    s_site, s_off = _assign_sites(xy, tree, b1, b2, d0, tolerance)
    ns = len(s_off)
    # label of each site of the superlattice: its atoms' majority group
    counts = np.zeros((ns, n_groups), int)
    np.add.at(counts, (s_site, group), 1)
    site_group = counts.argmax(axis=1)
    gm = _site_means(q, np.isfinite(q), group, n_groups)
    gs = np.bincount(group, minlength=n_groups)
    g_label = _partition(gm, gs, n_lab)
    why = (
        f"the best cell has {int(site.max()) + 1} site(s); sites split by the "
        f"order within them into {n_groups} groups on a {ns}-site cell"
    )
    return b1, b2, s_site, s_off, g_label[site_group], why


def _same_lattice(b1, b2):
    """Whether the cells (columns) b1 and b2 span the same lattice."""
    f = np.linalg.solve(b1, b2)
    return bool(np.all(np.abs(f - np.round(f)) < 0.15)) and abs(
        abs(np.linalg.det(b1)) - abs(np.linalg.det(b2))
    ) < 0.15 * abs(np.linalg.det(b1))


def _basis_of(vectors):
    """Two shortest non-collinear vectors (reduced), or None."""
    if len(vectors) < 2:
        return None
    a1 = vectors[0]
    for v in vectors[1:]:
        s = abs(a1[0] * v[1] - a1[1] * v[0]) / (np.hypot(*a1) * np.hypot(*v))
        if s > 0.3:
            return a1, v - np.round(np.dot(v, a1) / np.dot(a1, a1)) * a1
    return None


def _candidate_cells(t):
    """Nested cell hypotheses: translations = candidates with an intensity
    correlation above each threshold (the rule of :func:`find_translations`
    first, then each gap between sorted correlations, then geometry alone)."""
    cand, geo = t["candidates"], t["fraction"] >= t["min_fraction"]
    corr = t["correlation"]
    sets = [t["is_translation"]]
    for tau in np.unique(corr[geo]):
        sets.append(geo & (corr >= tau))
    sets.append(geo)
    cells = []
    for sel in sets:
        basis = _basis_of(cand[sel])
        if basis is None:
            continue
        b = np.column_stack(basis)
        if abs(np.linalg.det(b)) < 1e-9:
            continue
        if any(_same_lattice(np.column_stack(c), b) for c in cells):
            continue
        cells.append(basis)
        if len(cells) == 5:
            break
    return cells


def _partition(means, weights, n):
    """Optimal split of sites into ``n`` groups by mean (brightest = 0)."""
    order = np.argsort(-means)
    m, w = means[order], weights[order].astype(float)
    k = len(m)
    cw = np.r_[0, np.cumsum(w)]
    cm = np.r_[0, np.cumsum(w * m)]
    cm2 = np.r_[0, np.cumsum(w * m * m)]

    def cost(i, j):  # sites i..j-1
        ww = cw[j] - cw[i]
        return cm2[j] - cm2[i] - (cm[j] - cm[i]) ** 2 / ww

    best = np.full((n + 1, k + 1), np.inf)
    arg = np.zeros((n + 1, k + 1), int)
    best[0, 0] = 0.0
    for g in range(1, n + 1):
        for j in range(g, k + 1):
            for i in range(g - 1, j):
                c = best[g - 1, i] + cost(i, j)
                if c < best[g, j]:
                    best[g, j], arg[g, j] = c, i
    lab_sorted = np.empty(k, int)
    j = k
    for g in range(n, 0, -1):
        i = arg[g, j]
        lab_sorted[i:j] = g - 1
        j = i
    out = np.empty(k, int)
    out[order] = lab_sorted
    return out


def _fallback(q, n_sublattices, auto, info, why):
    from .finding import label_by_intensity

    n_lab = 1 if auto else n_sublattices
    info.update(method="local intensity", reason=why)
    info.setdefault("n_sites", 0)
    if n_lab > 1:
        warnings.warn(
            f"Sublattices by structure: {why}; the atoms are split by their "
            "locally normalised intensity instead.",
            UserWarning,
            stacklevel=3,
        )
    if n_lab == 1:
        return np.zeros(len(q), dtype=int), info
    labels = np.full(len(q), -1)
    known = np.isfinite(q)
    labels[known] = label_by_intensity(q[known], n_lab)
    return labels, info
