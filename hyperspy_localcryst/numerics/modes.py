"""Modes of a centred PCA of neighbourhoods: size, polarity, spatial pattern.

A neighbourhood row is ``(dx1, dy1, ..., dxk, dyk)``: the vectors from a
centre atom to its ``k`` neighbours. A centred decomposition writes each row
as the mean neighbourhood plus ``sum_i l_ni f_i`` (loadings ``l``, factors
``f``). For each mode this module measures, on plain arrays:

- its share of the variance and its amplitude as a length
  (:func:`mode_amplitudes`: the RMS displacement of the neighbours it
  carries);
- the shift of each centre against its neighbours that it carries
  (:func:`net_shifts`) and the measurement noise of that shift
  (:func:`net_shift_noise`), so that a mode is called polar only when its
  net shift stands above the noise (:func:`polar_modes`);
- how its loadings are arranged over the image (:func:`loading_pattern`):
  ``"uniform"``, ``"sublattice"``, ``"localised"``, ``"alternating"``,
  ``"domains"`` (with the domain size) or ``"noise"``.

Nothing here imports HyperSpy. Positions are in pixels (``x`` = column,
``y`` = row); lengths come back in the units of the input.
"""

import numpy as np
from scipy.spatial import cKDTree

from ._checks import check_array, check_integer, check_number
from ._parallel import nearest_distances

__all__ = [
    "mode_amplitudes",
    "net_shifts",
    "net_shift_noise",
    "polar_modes",
    "loading_noise",
    "noise_excess",
    "loading_pattern",
    "PATTERNS",
    "mode_polarity",
]

#: Names :func:`loading_pattern` gives.
PATTERNS = ("uniform", "sublattice", "localised", "alternating", "domains", "noise")


def _modes(loadings, factors):
    """Loadings (n, m) and factors (2k, m) checked; factors scaled to unit
    length and the loadings by the same factor (any normalisation in)."""
    lo = check_array(loadings, "loadings", ndim=2)
    fa = check_array(factors, "factors", ndim=2, finite=True)
    if fa.shape[0] == 0 or fa.shape[0] % 2:
        raise ValueError(
            "`factors` must have an even, non-zero number of rows (dx1, dy1, dx2, "
            f"dy2, ...), got shape {fa.shape}."
        )
    if lo.shape[1] != fa.shape[1]:
        raise ValueError(
            f"`loadings` has {lo.shape[1]} components and `factors` {fa.shape[1]}; "
            "give the same modes (columns) in both."
        )
    norm = np.linalg.norm(fa, axis=0)
    safe = np.where(norm > 0, norm, 1.0)
    return lo * norm, fa / safe


def mode_amplitudes(loadings, factors):
    """Size of each mode as a length: the RMS displacement of the neighbours.

    Mode ``i`` moves the neighbours of centre ``n`` by ``l_ni f_i`` (``k``
    vectors); its amplitude at that centre is the RMS length of those
    displacements, ``l_ni |f_i| / sqrt(k)``, signed by the loading.

    Parameters
    ----------
    loadings : array_like, shape (n, m)
        Loadings of ``m`` modes over ``n`` centres (NaN rows, e.g. masked
        centres, are left out of the RMS).
    factors : array_like, shape (2 k, m)
        The modes, rows ordered ``(dx1, dy1, ..., dxk, dyk)``; any scaling
        (the product ``loadings @ factors.T`` is what counts).

    Returns
    -------
    per_centre : numpy.ndarray, shape (n, m)
        Signed amplitude of each mode at each centre, in the units of the
        neighbourhood vectors.
    rms : numpy.ndarray, shape (m,)
        RMS over the centres of ``per_centre``.

    Examples
    --------
    >>> f = np.array([[0.5], [0.5], [0.5], [0.5]])  # both neighbours shift (1, 1)/2
    >>> per_centre, rms = mode_amplitudes([[2.0], [-2.0]], f)
    >>> per_centre.ravel().round(3).tolist(), rms.round(3).tolist()
    ([1.414, -1.414], [1.414])
    """
    lo, fa = _modes(loadings, factors)
    k = fa.shape[0] // 2
    per_centre = lo / np.sqrt(k)
    rms = np.sqrt(np.nanmean(per_centre**2, axis=0))
    return per_centre, rms


def net_shifts(loadings, factors):
    """Shift of each centre against its neighbours that each mode carries.

    A mode that moves every neighbour of a centre by ``-d`` moves the centre
    by ``+d`` against them: the net shift is minus the mean of the
    neighbour displacements, ``-l_ni sum_j f_ij / k``. Breathing, shear and
    strain modes carry none.

    Parameters
    ----------
    loadings, factors : array_like
        As in :func:`mode_amplitudes`.

    Returns
    -------
    numpy.ndarray, shape (n, m, 2)
        ``(x, y)`` shift of each centre per mode, in the units of the
        vectors.

    Examples
    --------
    >>> f = np.array([[-1.0], [0.5], [-1.0], [0.5]])  # neighbours move (-1, 0.5)
    >>> net_shifts([[1.0]], f)[0, 0].round(3).tolist()
    [1.0, -0.5]
    """
    lo, fa = _modes(loadings, factors)
    k = fa.shape[0] // 2
    vector_sum = fa.reshape(k, 2, -1).sum(axis=0)  # (2, m)
    return -lo[:, :, None] * vector_sum.T[None] / k


def net_shift_noise(centre_error, neighbour_error):
    """Noise of a centre's shift against its neighbours, from position errors.

    The net shift ``r_c - mean_j r_j`` has, per axis, the variance
    ``e_c**2 + sum_j e_j**2 / k**2`` (independent atoms, isotropic errors
    ``e`` per axis); the 2D RMS noise is ``sqrt(2)`` times its square root.

    Parameters
    ----------
    centre_error : array_like, shape (n,)
        Per-axis position error of each centre.
    neighbour_error : array_like, shape (n, k)
        Per-axis position errors of its neighbours.

    Returns
    -------
    numpy.ndarray, shape (n,)
        RMS length of the noise of each centre's net shift.

    Examples
    --------
    >>> float(net_shift_noise([0.0], [[1.0, 1.0, 1.0, 1.0]])[0])
    0.7071067811865476
    """
    ec = check_array(centre_error, "centre_error", ndim=1)
    en = check_array(neighbour_error, "neighbour_error", ndim=2)
    if en.shape[0] != ec.size:
        raise ValueError(
            f"`neighbour_error` has {en.shape[0]} rows for {ec.size} centres."
        )
    k = en.shape[1]
    return np.sqrt(2 * (ec**2 + np.sum(en**2, axis=1) / k**2))


def polar_modes(shifts, noise, n_sigma=3.0):
    """Which modes carry a net shift above the measurement noise.

    A mode is polar when the RMS over the centres of the net shift it
    carries (:func:`net_shifts`) exceeds ``n_sigma`` times the RMS noise of
    a centre's net shift (:func:`net_shift_noise`). The modes share the
    centres' net-shift variance between them, so in noise no mode carries
    more than the noise itself and none passes ``n_sigma`` > 1.

    Parameters
    ----------
    shifts : array_like, shape (n, m, 2)
    noise : array_like, shape (n,)
        NaN for unknown errors (left out).
    n_sigma : float
        Positive.

    Returns
    -------
    net_shift : numpy.ndarray, shape (m,)
        RMS length of the net shift of each mode.
    noise_level : float
        RMS noise of a centre's net shift (NaN when no errors are known).
    polar : numpy.ndarray of bool, shape (m,)
        ``net_shift > n_sigma * noise_level`` (all False without errors).

    Examples
    --------
    >>> s = np.zeros((4, 2, 2))
    >>> s[:, 0, 0] = [5.0, -5.0, 5.0, -5.0]  # mode 0 shifts centres by 5
    >>> s[:, 1, 1] = [0.5, -0.5, 0.5, -0.5]  # mode 1 by 0.5
    >>> net, level, polar = polar_modes(s, np.ones(4))
    >>> net.tolist(), level, polar.tolist()
    ([5.0, 0.5], 1.0, [True, False])
    """
    s = check_array(shifts, "shifts", ndim=3)
    if s.shape[2] != 2:
        raise ValueError(f"`shifts` must have shape (n, m, 2), got {s.shape}.")
    e = check_array(noise, "noise", ndim=1)
    if e.size != s.shape[0]:
        raise ValueError(f"`noise` has {e.size} values for {s.shape[0]} centres.")
    n_sigma = check_number(n_sigma, "n_sigma", "a positive number")
    if not (np.isfinite(n_sigma) and n_sigma > 0):
        raise ValueError(f"`n_sigma` must be positive and finite, got {n_sigma}.")
    rows = np.isfinite(s).all(axis=(1, 2))
    net = np.sqrt(np.mean(np.sum(s[rows] ** 2, axis=2), axis=0))
    known = e[rows & np.isfinite(e)]
    level = float(np.sqrt(np.mean(known**2))) if known.size else np.nan
    polar = net > n_sigma * level if np.isfinite(level) else np.zeros(net.size, bool)
    return net, level, polar


def loading_noise(factors, centre_error, neighbour_error):
    """Noise of each centre's loading on each mode, from position errors.

    The loading of centre ``n`` on a unit mode ``f`` is ``f . (v_n - mean)``
    with ``v_nj = r_j - r_c``: its variance is
    ``sum_j |f_j|**2 e_j**2 + |sum_j f_j|**2 e_c**2`` (independent atoms,
    isotropic per-axis errors ``e``). A mode of pure noise has loadings of
    this size; :func:`mode_amplitudes` of it is ``sqrt(mean / k)``.

    Parameters
    ----------
    factors : array_like, shape (2 k, m)
        The modes (any scaling: they are taken as unit vectors).
    centre_error : array_like, shape (n,)
    neighbour_error : array_like, shape (n, k)
        Per-axis position errors of each centre and of its neighbours.

    Returns
    -------
    numpy.ndarray, shape (n, m)
        Standard deviation of each centre's loading (units of the vectors).

    Examples
    --------
    >>> f = np.array([[1.0], [0.0], [1.0], [0.0]])  # both neighbours along x
    >>> loading_noise(f, [1.0], [[0.0, 0.0]]).round(3).tolist()  # the centre's error
    [[1.414]]
    """
    _, fa = _modes(np.zeros((1, np.shape(factors)[-1])), factors)
    ec = check_array(centre_error, "centre_error", ndim=1)
    en = check_array(neighbour_error, "neighbour_error", ndim=2)
    k = fa.shape[0] // 2
    if en.shape != (ec.size, k):
        raise ValueError(
            f"`neighbour_error` must have shape ({ec.size}, {k}) (centres, "
            f"neighbours), got {en.shape}."
        )
    f = fa.reshape(k, 2, -1)
    per_neighbour = np.sum(f**2, axis=1)  # (k, m)
    net = np.sum(f.sum(axis=0) ** 2, axis=0)  # (m,)
    var = en**2 @ per_neighbour + ec[:, None] ** 2 * net[None]
    return np.sqrt(var)


def noise_excess(amplitudes, noise_amplitudes):
    """How much more scatter the data show than the propagated errors.

    Fitted position errors leave out scan noise and model errors. The
    smallest modes of a centred PCA carry what no structure explains, so
    their amplitude over what the propagated errors predict
    (:func:`loading_noise`) measures the excess: the median of that ratio
    over the smaller half of the modes, at least 1. (If the smallest modes
    still hold structure, e.g. after ``output_dimension`` cut the noise
    off, the excess is overestimated: fewer modes are called polar.)

    Parameters
    ----------
    amplitudes : array_like, shape (m,)
        RMS amplitude of every mode, largest first (:func:`mode_amplitudes`).
    noise_amplitudes : array_like, shape (m,)
        What pure position noise gives along each mode.

    Returns
    -------
    float
        The factor (>= 1) by which to scale the propagated noise; NaN when
        the noise is unknown.

    Examples
    --------
    >>> noise_excess([9.0, 3.0, 2.2, 1.9], [1.0, 1.0, 1.0, 1.0])
    2.05
    >>> noise_excess([9.0, 3.0, 1.0, 0.9], [1.0, 1.0, 1.0, 1.0])
    1.0
    """
    a = check_array(amplitudes, "amplitudes", ndim=1)
    e = check_array(noise_amplitudes, "noise_amplitudes", ndim=1)
    if a.shape != e.shape or a.size == 0:
        raise ValueError(
            "`amplitudes` and `noise_amplitudes` must have the same non-zero "
            f"length, got {a.size} and {e.size}."
        )
    tail = slice(a.size // 2, None)
    ratio = a[tail] / e[tail]
    ratio = ratio[np.isfinite(ratio)]
    if ratio.size == 0:
        return np.nan
    return float(max(1.0, np.median(ratio)))


def _pairs_within(xy, radius):
    """Index pairs (i < j) of centres closer than ``radius``, and their distances."""
    pairs = cKDTree(xy).query_pairs(radius, output_type="ndarray")
    d = np.linalg.norm(xy[pairs[:, 0]] - xy[pairs[:, 1]], axis=1)
    return pairs, d


def _domain_size(z, pairs, d, spacing, max_shells):
    """Domain size from the linear decay of the loading correlation.

    Two-phase media (Debye): ``C(r) = C(0) (1 - L_A r / (pi f (1 - f)))``
    for ``r`` well below the domain size, ``L_A`` the wall length per area
    and ``f`` the share of one sign. Returns ``1 / L_A``, the area per unit
    length of wall: the width of stripe domains; inf when the correlation
    does not decay within ``max_shells`` spacings.
    """
    var = np.mean(z**2)
    shell = np.rint(d / spacing).astype(int)
    r, c, w = [], [], []
    for b in range(1, max_shells + 1):
        sel = shell == b
        if sel.sum() < 10:
            continue
        cb = np.mean(z[pairs[sel, 0]] * z[pairs[sel, 1]]) / var
        if len(r) >= 2 and cb < 0.25 * c[0]:
            break
        r.append(d[sel].mean())
        c.append(cb)
        w.append(sel.sum())
    if len(r) < 2:
        return np.nan
    slope, c0 = np.polyfit(r, c, 1, w=np.sqrt(w))
    if slope >= 0 or c0 <= 0:
        return np.inf
    f = np.mean(z > 0)
    return float(1.0 / (np.pi * f * (1 - f) * (-slope / c0)))


#: Bond directions (rad, modulo pi) along which alternation is looked for.
_DIRECTIONS = np.deg2rad(np.arange(0, 180, 15))


def _norm_sf(x):
    from scipy.special import ndtr

    return float(ndtr(-x))


def _norm_isf(p):
    from scipy.special import ndtri

    return float(-ndtri(p))


def _moran(z, pairs, w):
    """Moran's I of ``z`` over symmetric pair weights ``w`` and its z-score
    (normal approximation)."""
    n = z.size
    w_sum = 2.0 * w.sum()
    if w_sum <= 0:
        return np.nan, 0.0
    moran = n / w_sum * 2 * np.sum(w * z[pairs[:, 0]] * z[pairs[:, 1]]) / np.sum(z**2)
    degree = np.bincount(pairs.ravel(), np.repeat(w, 2), minlength=n)
    s1, s2 = 4 * np.sum(w**2), np.sum((2 * degree) ** 2)
    expected = -1.0 / (n - 1)
    var = (n * n * s1 - n * s2 + 3 * w_sum**2) / ((n * n - 1) * w_sum**2)
    var -= expected**2
    return float(moran), float((moran - expected) / np.sqrt(max(var, 1e-300)))


def loading_pattern(
    loadings, positions, groups=None, frames=None, n_sigma=3.0, max_shells=6
):
    """Name the arrangement of a mode's loadings over the image.

    In this order:

    - ``"uniform"``: most centres carry the same sign, ``|mean| > std``
      (possible for an uncentred decomposition, or within a group);
    - ``"sublattice"``: the sign follows ``groups`` (e.g. the ``sublattice``
      column): the group means explain more than half of the variance;
    - ``"localised"``: a few centres carry the mode: the 5 % largest
      ``|loading - mean|`` hold more than half of the sum of squares (about a
      fifth for Gaussian loadings): defects, edges, misfitted atoms, unless
      the other centres, judged without them, show one of the spatial
      patterns below;
    - ``"alternating"``: neighbouring centres have opposite signs: Moran's I
      over the first shell (pairs closer than 1.3 nearest-neighbour
      spacings) is ``n_sigma`` below its null mean, or, for alternation
      along one direction only (rows of opposite sign), Moran's I of the
      bonds along one of 12 directions (weights ``cos**4`` of the angle) is
      below it at the same level after a Bonferroni correction;
    - ``"domains"``: Moran's I positive beyond ``n_sigma``; the size of the
      domains (area per unit length of domain wall, the width of stripe
      domains) comes from the linear decay of the loading correlation with
      distance over up to ``max_shells`` spacings (Debye's relation);
    - ``"noise"``: no spatial structure beyond ``n_sigma``.

    With ``groups``, the last three are judged within each group (the
    structured pattern of most centres wins; ``"noise"`` only when every
    group is noise): a shift of one sublattice against the
    other that reverses from domain to domain has opposite signs on the two
    sublattices, which over all centres would read as alternation.

    Parameters
    ----------
    loadings : array_like, shape (n,)
        NaN entries (masked centres) are left out; with fewer than 4 left
        the pattern is ``"noise"`` (nothing can be significant).
    positions : array_like, shape (n, 2)
        Centre positions ``(x, y)`` in pixels.
    groups : array_like, shape (n,), optional
        A label per centre (sublattice).
    frames : array_like, shape (n,), optional
        Frame of each centre in a stack: pairs only within a frame.
    n_sigma : float
        Significance of Moran's I (normal approximation).
    max_shells : int
        Farthest distance, in spacings, of the correlation used for the
        domain size.

    Returns
    -------
    dict
        ``pattern`` (one of :data:`PATTERNS`), ``morans_i``, ``morans_z``,
        ``scale`` (domain size in pixels for ``"domains"``, inf when larger
        than the correlation reaches, else NaN), ``spacing`` (median
        nearest-neighbour distance of the centres, pixels), ``uniformity``
        (``|mean| / std``), ``sublattice_share`` (variance share of the
        group means, NaN without groups) and ``top_share`` (share of the sum
        of squares held by the 5 % largest loadings).

    Examples
    --------
    >>> yy, xx = np.mgrid[0:40, 0:40]
    >>> xy = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
    >>> loading_pattern((-1.0) ** (xx + yy).ravel(), xy)["pattern"]
    'alternating'
    >>> stripes = np.where(xx % 10 < 5, 1.0, -1.0).ravel()  # 5 px wide
    >>> d = loading_pattern(stripes, xy)
    >>> d["pattern"], round(d["scale"], 1)
    ('domains', 5.5)
    """
    a = check_array(loadings, "loadings", ndim=1)
    xy = check_array(positions, "positions", ndim=2)
    if xy.shape != (a.size, 2):
        raise ValueError(
            f"`positions` must have shape ({a.size}, 2) to match `loadings`, got "
            f"{xy.shape}."
        )
    n_sigma = check_number(n_sigma, "n_sigma", "a positive number")
    if not (np.isfinite(n_sigma) and n_sigma > 0):
        raise ValueError(f"`n_sigma` must be positive and finite, got {n_sigma}.")
    max_shells = check_integer(max_shells, "max_shells", minimum=2)
    keep = np.isfinite(a) & np.isfinite(xy).all(axis=1)
    g = None
    if groups is not None:
        g = check_array(groups, "groups", ndim=1)
        if g.size != a.size:
            raise ValueError(f"`groups` has {g.size} values for {a.size} loadings.")
        keep &= np.isfinite(g)
        g = g[keep]
    fr = None
    if frames is not None:
        fr = check_array(frames, "frames", ndim=1)
        if fr.size != a.size:
            raise ValueError(f"`frames` has {fr.size} values for {a.size} loadings.")
        fr = fr[keep]
    a, xy = a[keep], xy[keep]
    out = {
        "pattern": "noise",
        "morans_i": np.nan,
        "morans_z": np.nan,
        "scale": np.nan,
        "spacing": np.nan,
        "uniformity": np.nan,
        "sublattice_share": np.nan,
        "top_share": np.nan,
    }
    if a.size < 4:  # nothing can be significant
        return out
    sd = float(a.std())
    out["uniformity"] = abs(float(a.mean())) / sd if sd > 0 else np.inf
    if sd == 0 or out["uniformity"] > 1:
        out["pattern"] = "uniform"
        return out
    z = a - a.mean()
    top = np.argsort(z**2)[::-1][: max(1, int(np.ceil(0.05 * z.size)))]
    out["top_share"] = float(np.sum(z[top] ** 2) / max(np.sum(z**2), 1e-300))
    localised = out["top_share"] > 0.5
    if localised:  # the rest may still hold structure: judge it without them
        rest = np.ones(z.size, bool)
        rest[top] = False
        xy = xy[rest]
        z = z[rest] - z[rest].mean()
        g = None if g is None else g[rest]
        fr = None if fr is None else fr[rest]
    out.update(_structure(z, xy, g, fr, n_sigma, max_shells))
    if localised and out["pattern"] in ("noise", "sublattice"):
        out["pattern"], out["scale"] = "localised", np.nan
    return out


def _structure(z, xy, g, fr, n_sigma, max_shells):
    """The sublattice test, then the spatial pattern (per sublattice)."""
    out = {}
    if g is not None:
        labels = np.unique(g)
        if labels.size > 1:
            between = sum(
                (g == u).sum() * z[g == u].mean() ** 2 for u in labels if (g == u).any()
            )
            out["sublattice_share"] = float(between / max(np.sum(z**2), 1e-300))
            if out["sublattice_share"] > 0.5:
                out["pattern"] = "sublattice"
                return out
    if fr is not None:
        # frames side by side, far apart: one tree, no pair across frames
        # (the pair radius is at most max_shells + 0.5 spacings <= that many spans)
        step = (max_shells + 2) * (np.ptp(xy, axis=0).max() + 1)
        xy = xy + np.column_stack([fr * step, np.zeros(len(xy))])
    if g is None or np.unique(g).size == 1:
        out.update(_spatial_pattern(z, xy, n_sigma, max_shells))
        return out
    # each sublattice on its own: a polar domain pattern of a shift of one
    # sublattice against the other has opposite signs on the two, which
    # would read as alternation over all centres
    found = [
        (
            int((g == u).sum()),
            _spatial_pattern(z[g == u], xy[g == u], n_sigma, max_shells),
        )
        for u in np.unique(g)
        if (g == u).sum() >= 4
    ]
    if not found:
        return out
    # structure seen in one sublattice is not undone by noise in another
    weight = {}
    for count, f in found:
        weight[f["pattern"]] = weight.get(f["pattern"], 0) + count
    if len(weight) > 1:
        weight.pop("noise", None)
    pattern = max(weight, key=weight.get)
    best = max((c, i) for i, (c, f) in enumerate(found) if f["pattern"] == pattern)
    out.update(found[best[1]][1])
    if pattern == "domains":
        scales = [(c, f["scale"]) for c, f in found if f["pattern"] == "domains"]
        total = sum(c for c, _ in scales)
        out["scale"] = float(sum(c * v for c, v in scales) / total)
    return out


def _spatial_pattern(z, xy, n_sigma, max_shells):
    """``"alternating"``, ``"domains"`` (with the size) or ``"noise"`` of the
    centred loadings ``z`` at ``xy`` (see :func:`loading_pattern`)."""
    out = {"pattern": "noise", "morans_i": np.nan, "morans_z": np.nan}
    out["scale"] = np.nan
    nn = nearest_distances(xy)
    spacing = float(np.median(nn))
    out["spacing"] = spacing
    pairs, d = _pairs_within(xy, (max_shells + 0.5) * spacing)
    first = d < 1.3 * spacing
    if not first.any() or not np.any(z):
        return out
    z = z - z.mean()
    p1 = pairs[first]
    moran, zscore = _moran(z, p1, np.ones(len(p1)))
    out["morans_i"], out["morans_z"] = moran, zscore
    # alternation along one direction (rows of opposite sign) cancels in the
    # isotropic I: look along each bond direction too (Bonferroni over them)
    dxy = xy[p1[:, 1]] - xy[p1[:, 0]]
    theta = np.arctan2(dxy[:, 1], dxy[:, 0])
    directional = [_moran(z, p1, np.cos(theta - phi) ** 4)[1] for phi in _DIRECTIONS]
    threshold = _norm_isf(_norm_sf(n_sigma) / len(_DIRECTIONS))
    if zscore < -n_sigma or min(directional) < -threshold:
        out["pattern"] = "alternating"
    elif zscore > n_sigma:
        out["pattern"] = "domains"
        out["scale"] = _domain_size(z, pairs, d, spacing, max_shells)
    return out


def mode_polarity(factor):
    """Net displacement of a PCA mode of neighbourhood vectors.

    Parameters
    ----------
    factor : array_like, shape (2 m,)
        A mode (PCA factor) of the stacked neighbour vectors, laid out as
        ``(dx1, dy1, dx2, dy2, ...)``.

    Returns
    -------
    dict
        ``vector_sum``: ``(sum dx_j, sum dy_j)``; ``polarity``:
        ``|sum v_j| / sum |v_j|`` in [0, 1] (1 for a uniform shift of all
        neighbours, 0 for a breathing or other centro-symmetric mode, 0 for
        an all-zero mode); ``polar``: ``polarity > 0.25`` (geometry only:
        whether a mode of the data is polar is decided against the noise by
        :func:`~hyperspy_localcryst.numerics.modes.polar_modes`).

    Examples
    --------
    >>> mode_polarity([1.0, 0.0, 1.0, 0.0])["polarity"]
    1.0
    >>> mode_polarity([1.0, 0.0, -1.0, 0.0])["polar"]
    False
    """
    f = check_array(factor, "factor")
    if f.ndim != 1 or f.size == 0 or f.size % 2:
        raise ValueError(
            "factor must be 1D with an even, non-zero length "
            f"(dx1, dy1, dx2, dy2, ...), got shape {f.shape}"
        )
    if not np.isfinite(f).all():
        raise ValueError("factor contains NaN or infinite values")
    v = f.reshape(-1, 2)
    s = v.sum(axis=0)
    total = float(np.hypot(v[:, 0], v[:, 1]).sum())
    polarity = float(np.hypot(s[0], s[1]) / total) if total > 0 else 0.0
    polarity = min(polarity, 1.0)
    return {
        "vector_sum": (float(s[0]), float(s[1])),
        "polarity": polarity,
        "polar": bool(polarity > 0.25),
    }
