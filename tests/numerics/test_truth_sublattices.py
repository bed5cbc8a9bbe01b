"""Truth tests of ``numerics.sublattices``: every expected value comes from the
construction of the scene or an independent brute force of the documented rule.

The scenes are oblique (no mirror, no 90 degree symmetry), with sites of
different intensities, jitter, vacancies and a slow intensity gradient.
"""

import warnings

import numpy as np
import pytest
from scipy.spatial import cKDTree

from hyperspy_localcryst.numerics import sublattices, translations

# ---------------------------------------------------------------------------
# neighbour distance, quantiles, local normalisation
# ---------------------------------------------------------------------------


def test_nn_distance_median_of_nonzero_and_coincident():
    rng = np.random.default_rng(3)
    j, i = np.mgrid[0:5, 0:6]
    # sub-pixel spacing: every distance is below 1 pixel
    xy = np.column_stack([0.4 * i.ravel() + 0.1 * j.ravel(), 0.55 * j.ravel()])
    xy = xy + rng.uniform(-0.03, 0.03, xy.shape)
    xy = np.vstack([xy, xy[[4, 17]]])  # two atoms counted twice
    d = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    nn = d.min(axis=1)
    want = np.median(nn[nn > 0])
    got = translations._nn_distance(cKDTree(xy), xy)
    assert got == pytest.approx(want, rel=1e-12)
    assert want < 0.5  # the scene really is sub-pixel
    same = np.zeros((4, 2)) + [3.0, 5.0]
    with pytest.raises(ValueError, match="coincide"):
        translations._nn_distance(cKDTree(same), same)
    with pytest.raises(ValueError, match="coincide"):
        translations.find_translations(same[:, 0], same[:, 1], [1.0, 2.0, 3.0, 4.0])


def test_row_quantiles_every_count_and_level():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(11, 10))
    for r in range(11):
        a[r, rng.permutation(10)[: 10 - r]] = np.nan  # r finite values in row r
    qs = (0.1, 0.25, 0.5, 0.75, 0.9)
    got = translations._row_quantiles(a, qs)
    for r in range(11):
        row = a[r][np.isfinite(a[r])]
        for g, q in zip(got, qs):
            if row.size == 0:
                assert np.isnan(g[r])
            else:
                assert g[r] == pytest.approx(np.quantile(row, q), rel=1e-12, abs=1e-15)


def _local_normalise_brute(xy, v, nn):
    n = len(xy)
    k = min(nn + 1, n)
    lo_g, hi_g = np.nanpercentile(v, [25, 75])
    floor = max(1e-3 * (hi_g - lo_g), 1e-12 * np.nanmax(np.abs(v)))
    out = np.empty(n)
    for i in range(n):
        d = np.hypot(*(xy - xy[i]).T)
        w = np.argsort(d, kind="stable")[:k]
        known = np.isfinite(v[w])
        A = np.column_stack([np.ones(k), xy[w] - xy[i]])
        coef = np.linalg.lstsq(A[known], v[w][known], rcond=None)[0]
        res = np.where(known, v[w] - A @ coef, np.nan)
        q1, q3 = np.nanquantile(res, [0.25, 0.75])
        out[i] = (res[0] - 0.5 * (q1 + q3)) / max(q3 - q1, floor)
    return out


def test_local_normalise_smallest_window():
    # the smallest allowed window (n_neighbours=2: the atom and two others)
    rng = np.random.default_rng(8)
    j, i = np.mgrid[0:4, 0:5]
    xy = np.column_stack([9.0 * i.ravel() + 2.0 * j.ravel(), 11.0 * j.ravel()])
    xy = xy + rng.uniform(-2.0, 2.0, xy.shape)
    v = 2.0 + 0.1 * xy[:, 0] + rng.normal(0, 1.0, len(xy))
    for nn in (2, 3, 5):
        got = translations.local_normalise(xy[:, 0], xy[:, 1], v, n_neighbours=nn)
        want = _local_normalise_brute(xy, v, nn)
        # three atoms: the plane passes through all of them (q = 0 up to the
        # 1e-9 regularisation of the fit, divided by the 1e-3 IQR floor)
        tol = 5e-3 if nn == 2 else 1e-5
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=tol)
    with pytest.raises(ValueError):
        translations.local_normalise(xy[:, 0], xy[:, 1], v, n_neighbours=1)


# ---------------------------------------------------------------------------
# candidate vectors and translations of a perfect oblique lattice
# ---------------------------------------------------------------------------

_B1, _B2 = np.array([11.0, 0.0]), np.array([-3.0, 12.5])


def _rot(deg):
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def _lattice(rot_deg, ni=11, nj=10):
    j, i = np.mgrid[0:nj, 0:ni]
    b1, b2 = _rot(rot_deg) @ _B1, _rot(rot_deg) @ _B2
    xy = i.ravel()[:, None] * b1 + j.ravel()[:, None] * b2 + [140.0, 130.0]
    return xy, b1, b2


def _expected_vectors(b1, b2, d0, r_max):
    """Lattice vectors with 0.5 d0 < |v| <= r_max, one of each +-pair (y > 0,
    or y == 0 and x > 0), sorted by length."""
    out = []
    for m in range(-8, 9):
        for n in range(-8, 9):
            v = m * b1 + n * b2
            r = np.hypot(*v)
            if 0.5 * d0 < r <= r_max + 1e-9:
                if v[1] > 1e-9 or (abs(v[1]) <= 1e-9 and v[0] > 0):
                    out.append(v)
    out = np.array(out)
    return out[np.argsort(np.hypot(*out.T))]


@pytest.mark.parametrize(
    "deg, scale", [(0.0, 1.0), (0.0, 1 / 16), (33.0, 1.0), (78.0, 1.0), (141.0, 1.0)]
)
def test_find_translations_perfect_lattice_every_field(deg, scale):
    xy, b1, b2 = _lattice(deg)
    xy, b1, b2 = xy * scale, b1 * scale, b2 * scale  # 1/16: sub-pixel cell
    d0 = min(np.hypot(*b1), np.hypot(*b2), np.hypot(*(b1 + b2)), np.hypot(*(b1 - b2)))
    q = np.random.default_rng(int(deg)).normal(size=len(xy))  # no site contrast
    t = translations.find_translations(xy[:, 0], xy[:, 1], q)
    assert t["nn_distance"] == pytest.approx(d0, rel=1e-9)
    want = _expected_vectors(b1, b2, d0, 4.6 * d0)
    c = t["candidates"]
    assert c.shape == want.shape
    np.testing.assert_allclose(c, want, atol=1e-6 * scale)
    # every lattice vector takes every atom with an inside target onto an atom
    np.testing.assert_allclose(t["fraction"], 1.0)
    assert t["is_translation"].all()  # no intensity contrast: geometry alone
    assert np.all(np.abs(t["correlation"]) < 0.4)
    # a1: the shortest; a2: the next non-collinear one, reduced against a1
    np.testing.assert_allclose(t["a1"], want[0], atol=1e-6 * scale)
    v = want[1]
    a2 = v - np.round(np.dot(v, want[0]) / np.dot(want[0], want[0])) * want[0]
    np.testing.assert_allclose(t["a2"], a2, atol=1e-6 * scale)
    assert t["min_fraction"] == 0.6


# ---------------------------------------------------------------------------
# a three-site oblique structure with vacancies and interstitials
# ---------------------------------------------------------------------------

_C1, _C2 = np.array([13.0, 2.0]), np.array([4.0, 14.0])
# site 1 lies exactly along +x from site 0 (their offsets differ in x only)
_OFF = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 7.5]])
_LEVELS = np.array([1.0, 0.7, 0.35, 0.6])  # last: interstitials


def _scene(seed=1, interstitials=True, jitter=0.15, vac=(20, 75, 150)):
    rng = np.random.default_rng(seed)
    j, i = np.mgrid[0:8, 0:9]
    base = i.ravel()[:, None] * _C1 + j.ravel()[:, None] * _C2 + [5.0, 4.0]
    ideal = np.concatenate([base + o for o in _OFF])
    site = np.repeat(np.arange(3), len(base))
    keep = np.ones(len(ideal), bool)
    keep[list(vac)] = False
    p, site = ideal[keep], site[keep]
    if interstitials:  # 0.54 d0 from a site-2 position, far from the others
        p = np.vstack([p, base[[30, 41, 52]] + _OFF[2] + [3.2, 0.8]])
        site = np.r_[site, [-1, -1, -1]]
    p = p + rng.normal(0, jitter, p.shape)
    inten = _LEVELS[site] * (1 + p[:, 0] / p[:, 0].max())  # 2x slow gradient
    inten = inten + rng.normal(0, 0.03, len(p))
    return p, inten, site, ideal


def _nearest_ideal_site(points, ideal):
    sites = np.repeat(np.arange(3), len(ideal) // 3)
    d = np.hypot(*(points[:, None] - ideal[None]).transpose(2, 0, 1))
    return sites[np.argmin(d, axis=1)]


def _same_lattice(b_true, b):
    f = np.linalg.solve(b_true, b)
    return np.allclose(f, np.round(f), atol=0.05) and abs(
        abs(np.linalg.det(b)) - abs(np.linalg.det(b_true))
    ) < 0.05 * abs(np.linalg.det(b_true))


@pytest.fixture(scope="module")
def three_site():
    p, inten, site, ideal = _scene()
    labels, info = sublattices.label_sublattices(p[:, 0], p[:, 1], inten, 3)
    return p, inten, site, ideal, labels, info


def test_label_sublattices_three_sites_every_field(three_site):
    p, inten, site, ideal, labels, info = three_site
    real = site >= 0
    assert info["method"] == "structure"
    assert info["n_sites"] == 3
    np.testing.assert_array_equal(labels[real], site[real])
    # interstitials join the nearest real site (site 2 here)
    want_int = _nearest_ideal_site(p[~real], ideal)
    np.testing.assert_array_equal(want_int, 2)
    np.testing.assert_array_equal(labels[~real], want_int)
    assert _same_lattice(
        np.column_stack([_C1, _C2]), np.column_stack([info["a1"], info["a2"]])
    )
    # per-site sizes: 72 cells minus the vacancies, plus the interstitials
    s_of = info["site"]
    true_of_site = [
        int(np.bincount(site[real][s_of[real] == s]).argmax()) for s in range(3)
    ]
    assert sorted(true_of_site) == [0, 1, 2]
    want_size = {0: 71, 1: 71, 2: 71 + 3}
    for s in range(3):
        assert info["site_size"][s] == want_size[true_of_site[s]]
        assert info["site_label"][s] == true_of_site[s]
        np.testing.assert_array_equal(s_of[real] == s, site[real] == true_of_site[s])
    # site offsets: fractional, of the found cell, relative to the largest site
    cell = np.column_stack([info["a1"], info["a2"]])
    big = int(np.argmax(info["site_size"]))
    np.testing.assert_allclose(info["site_offsets"][big], 0.0, atol=1e-12)
    assert np.all(np.abs(info["site_offsets"]) <= 0.5)
    for s in range(3):
        rel = np.linalg.solve(cell, _OFF[true_of_site[s]] - _OFF[true_of_site[big]])
        d = (info["site_offsets"][s] - rel) - np.round(info["site_offsets"][s] - rel)
        assert np.hypot(*(cell @ d)) < 0.3
    # mean normalised intensity per site (atoms with a finite q)
    q = info["q"]
    np.testing.assert_allclose(q, translations.local_normalise(p[:, 0], p[:, 1], inten))
    for s in range(3):
        assert info["site_intensity"][s] == pytest.approx(q[s_of == s].mean(), rel=1e-9)
    assert info["nn_distance"] == pytest.approx(
        np.median(
            np.sort(np.hypot(*(p[:, None] - p[None]).transpose(2, 0, 1)), 1)[:, 1]
        ),
        rel=1e-12,
    )


def test_label_sublattices_two_labels_merge_by_intensity(three_site):
    p, inten, site, ideal, labels3, info3 = three_site
    real = site >= 0
    # 1.0 / 0.7 / 0.35: the 0.7 site is nearer the bright one
    two, info = sublattices.label_sublattices(p[:, 0], p[:, 1], inten, 2)
    np.testing.assert_array_equal(two[real], np.where(site[real] == 2, 1, 0))
    np.testing.assert_array_equal(two[~real], 1)
    auto, info_a = sublattices.label_sublattices(p[:, 0], p[:, 1], inten, "auto")
    np.testing.assert_array_equal(auto, labels3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one, info1 = sublattices.label_sublattices(p[:, 0], p[:, 1], inten, 1)
    assert (one == 0).all() and info1["n_sites"] == 3


def test_scale_and_shift_do_not_change_results():
    """Positions in other units (x 1/16, sub-pixel spacing) and another
    origin: every length scales, every label and fraction stays."""
    p, inten, site, ideal = _scene(seed=4, interstitials=False)
    s, shift = 1.0 / 16.0, np.array([-7.3, 2.9])
    p2 = p * s + shift
    q1 = translations.local_normalise(p[:, 0], p[:, 1], inten)
    q2 = translations.local_normalise(p2[:, 0], p2[:, 1], inten)
    np.testing.assert_allclose(q2, q1, rtol=1e-6, atol=1e-7)
    t1 = translations.find_translations(p[:, 0], p[:, 1], q1)
    t2 = translations.find_translations(p2[:, 0], p2[:, 1], q2)
    assert t2["nn_distance"] == pytest.approx(s * t1["nn_distance"], rel=1e-9)
    np.testing.assert_allclose(
        t2["candidates"], s * t1["candidates"], rtol=1e-6, atol=1e-9
    )
    np.testing.assert_allclose(t2["fraction"], t1["fraction"])
    np.testing.assert_allclose(t2["correlation"], t1["correlation"], atol=1e-6)
    np.testing.assert_array_equal(t2["is_translation"], t1["is_translation"])
    np.testing.assert_allclose(t2["a1"], s * t1["a1"], rtol=1e-6)
    np.testing.assert_allclose(t2["a2"], s * t1["a2"], rtol=1e-6)
    # the translations are lattice vectors; a site-to-site vector is not
    inv = np.linalg.inv(np.column_stack([_C1, _C2]))
    for v in t1["candidates"][t1["is_translation"]]:
        f = inv @ v
        np.testing.assert_allclose(f, np.round(f), atol=0.05)
    l1, i1 = sublattices.label_sublattices(p[:, 0], p[:, 1], inten, 3)
    l2, i2 = sublattices.label_sublattices(p2[:, 0], p2[:, 1], inten, 3)
    np.testing.assert_array_equal(l1, site)
    np.testing.assert_array_equal(l2, site)
    np.testing.assert_array_equal(i2["site"], i1["site"])
    np.testing.assert_allclose(i2["site_offsets"], i1["site_offsets"], atol=1e-6)
    np.testing.assert_allclose(i2["a1"], s * i1["a1"], rtol=1e-6)


def test_site_zero_at_origin_and_one_known_intensity():
    """Docstring: ``site_offsets`` has site 0 at the origin; a site mean
    uses the atoms with a known intensity only (here: a single one)."""
    p, inten, site, ideal = _scene(seed=6, interstitials=False, vac=(20, 21, 75))
    inten = inten.copy()
    dim = np.flatnonzero(site == 2)
    inten[dim[1:]] = np.nan  # one dim atom keeps its intensity
    labels, info = sublattices.label_sublattices(p[:, 0], p[:, 1], inten, 3)
    np.testing.assert_allclose(info["site_offsets"][0], 0.0, atol=1e-12)
    s_of = info["site"]
    sizes = np.bincount(site)
    for s in range(3):
        true_s = int(np.bincount(site[s_of == s]).argmax())
        np.testing.assert_array_equal(s_of == s, site == true_s)
        assert info["site_size"][s] == sizes[true_s]
        qs = info["q"][s_of == s]
        assert info["site_intensity"][s] == pytest.approx(np.nanmean(qs), rel=1e-9)
    np.testing.assert_array_equal(np.isfinite(info["q"]), np.isfinite(inten))
    np.testing.assert_array_equal(labels[site < 2], site[site < 2])


def test_wrap_and_basis_of_cross_product():
    np.testing.assert_allclose(
        translations._wrap(np.array([1.3, -0.7, 0.2, -2.45, 0.6])),
        [0.3, 0.3, 0.2, -0.45, -0.4],
        atol=1e-12,
    )
    # a1 = (10, -3); (20, -6.2) is almost 2 a1 (collinear), (3, 11) is not
    vecs = np.array([[10.0, -3.0], [20.0, -6.2], [3.0, 11.0], [13.0, 8.0]])
    a1, a2 = sublattices._basis_of(vecs)
    np.testing.assert_allclose(a1, [10.0, -3.0])
    np.testing.assert_allclose(a2, [3.0, 11.0])


@pytest.mark.parametrize("scale", [1.0, 12.0])
def test_find_translations_elongated_jittered_lattice(scale):
    """|a2| > 2 |a1| at 39 degrees: the candidates 2 a1 (jittered, almost
    collinear with a1) come before a2 and must not be taken as a2, in any
    unit of length."""
    rng = np.random.default_rng(12)
    b1, b2 = np.array([5.0, 4.0]), np.array([-7.0, 12.0])
    j, i = np.mgrid[0:9, 0:16]
    xy = i.ravel()[:, None] * b1 + j.ravel()[:, None] * b2 + [80.0, 5.0]
    xy = (xy + rng.normal(0, 0.2, xy.shape)) * scale
    q = rng.normal(size=len(xy))
    t = translations.find_translations(xy[:, 0], xy[:, 1], q)
    np.testing.assert_allclose(t["a1"], scale * b1, atol=0.1 * scale)
    np.testing.assert_allclose(t["a2"], scale * b2, atol=0.1 * scale)
    # the geometric rule at exactly min_fraction (">="): 1.0 keeps the
    # vectors that take every inside atom onto an atom
    t1 = translations.find_translations(xy[:, 0], xy[:, 1], q, min_fraction=1.0)
    np.testing.assert_array_equal(t1["is_translation"], t1["fraction"] >= 1.0)
    assert t1["is_translation"].any()


def test_find_translations_half_the_largest_correlation():
    """Docstring: a translation correlates at least half as well as the best
    one. q = A[i] + B[j] (62 % / 38 % of the variance): vectors along a2
    share A, along a1 share B; other vectors share nothing."""
    rng = np.random.default_rng(0)
    b1, b2 = np.array([9.0, 1.0]), np.array([-2.0, 10.5])
    j, i = np.mgrid[0:28, 0:30]
    xy = i.ravel()[:, None] * b1 + j.ravel()[:, None] * b2 + [80.0, 5.0]
    A = rng.normal(0, 1, 30)
    A = (A - A.mean()) / A.std() * np.sqrt(0.62)
    B = rng.normal(0, 1, 28)
    B = (B - B.mean()) / B.std() * np.sqrt(0.38)
    q = A[i.ravel()] + B[j.ravel()]
    t = translations.find_translations(xy[:, 0], xy[:, 1], q)
    f = np.linalg.solve(np.column_stack([b1, b2]), t["candidates"].T).T
    np.testing.assert_allclose(f, np.round(f), atol=1e-6)
    f = np.round(f).astype(int)
    along = (f[:, 0] == 0) | (f[:, 1] == 0)
    corr, r_max = t["correlation"], t["correlation"].max()
    # the scene: along-axis correlations in (0.5, 0.75) r_max or above,
    # the others well below half
    assert np.all(corr[along] > 0.55 * r_max)
    assert np.any(corr[along] < 0.7 * r_max)
    assert np.all(corr[~along] < 0.4 * r_max)
    np.testing.assert_allclose(t["fraction"], 1.0)
    np.testing.assert_array_equal(t["is_translation"], along)
    np.testing.assert_allclose(t["a1"], b1, atol=1e-9)
    np.testing.assert_allclose(t["a2"], b2, atol=1e-9)


def test_no_shared_displacement_falls_back():
    """Six isolated pairs in six directions and five lone atoms: no
    displacement is shared by many atoms, no candidate, no translation."""
    m = 6
    ang = np.deg2rad(np.arange(m) * 30.0 + 7)
    L = 5 + 0.5 * np.arange(m)
    cx, cy = (np.arange(m) % 3) * 60.0, (np.arange(m) // 3) * 60.0
    p = np.vstack(
        [
            np.column_stack([cx, cy]),
            np.column_stack([cx + L * np.cos(ang), cy + L * np.sin(ang)]),
            np.column_stack([200 + np.arange(5) * 50.0, np.full(5, 150.0)]),
        ]
    )
    t = translations.find_translations(p[:, 0], p[:, 1], np.sin(np.arange(17.0)))
    assert t["candidates"].shape == (0, 2)
    assert t["fraction"].shape == t["correlation"].shape == (0,)
    assert t["is_translation"].shape == (0,)
    assert np.isnan(t["a1"]).all() and np.isnan(t["a2"]).all()
    inten = np.r_[np.full(6, 5.0), np.full(6, 1.0), np.full(5, 3.0)]
    with pytest.warns(UserWarning, match="no lattice translations"):
        labels, info = sublattices.label_sublattices(p[:, 0], p[:, 1], inten, 2)
    assert info["method"] == "local intensity" and info["n_sites"] == 0
    assert np.isnan(info["a1"]).all()
    # split by intensity: the bright partners against the dim ones
    np.testing.assert_array_equal(labels[:6], 0)
    np.testing.assert_array_equal(labels[6:12], 1)


def test_label_sublattices_under_slow_strain():
    """A smooth distortion that breaks ~40 % of the links by the global cell
    vectors: the locally adapted vectors keep every atom on its site."""
    j, i = np.mgrid[0:9, 0:10]
    base = i.ravel()[:, None] * _C1 + j.ravel()[:, None] * _C2
    p = np.concatenate([base + o for o in _OFF])
    site = np.repeat(np.arange(3), len(base))
    d = p - p.mean(axis=0)
    amp = 0.0015
    p = p + np.column_stack([amp * d[:, 0] * np.abs(d[:, 0]), amp * d[:, 0] * d[:, 1]])
    rng = np.random.default_rng(0)
    inten = _LEVELS[site] * (1 + p[:, 0] / p[:, 0].max()) + rng.normal(0, 0.03, len(p))
    labels, info = sublattices.label_sublattices(p[:, 0], p[:, 1], inten, 3)
    # the scene really breaks global links (construction check)
    dd, _ = cKDTree(p).query(p + _C1)
    near = dd < 30
    assert np.mean(dd[near] > 0.25 * info["nn_distance"]) > 0.3
    assert info["n_sites"] == 3
    np.testing.assert_array_equal(labels, site)
    np.testing.assert_array_equal(info["site_size"], [90, 90, 90])


def test_interstitials_join_the_nearest_site():
    """Site offsets far from half a cell; three interstitials 3.2 px from a
    site-0 position (each its own tiny 'site') are given the nearest site."""
    off = np.array([[0.0, 0.0], [4.5, 0.0], [2.0, 6.0]])
    rng = np.random.default_rng(2)
    j, i = np.mgrid[0:8, 0:9]
    base = i.ravel()[:, None] * _C1 + j.ravel()[:, None] * _C2 + [5.0, 4.0]
    ideal = np.concatenate([base + o for o in off])
    site = np.repeat(np.arange(3), len(base))
    keep = np.ones(len(ideal), bool)
    keep[[20, 21, 75]] = False  # sizes 70, 71, 72
    ex = base[[30, 41, 52]] + off[0] + [-2.5, 2.0]
    p = np.vstack([ideal[keep], ex]) + rng.normal(0, 0.15, (keep.sum() + 3, 2))
    site = np.r_[site[keep], [-1, -1, -1]]
    inten = _LEVELS[site] * (1 + p[:, 0] / p[:, 0].max())
    inten = inten + rng.normal(0, 0.03, len(p))
    # truth: the nearest ideal position, clearly nearer than any other site
    d = np.hypot(*(ex[:, None] - ideal[None]).transpose(2, 0, 1))
    per_site = np.stack(
        [
            d[:, site_ideal].min(axis=1)
            for site_ideal in np.split(np.arange(len(ideal)), 3)
        ]
    )
    want = per_site.argmin(axis=0)
    assert np.all(np.sort(per_site, axis=0)[1] > 1.3 * per_site.min(axis=0))
    labels, info = sublattices.label_sublattices(p[:, 0], p[:, 1], inten, 3)
    np.testing.assert_array_equal(labels[site >= 0], site[site >= 0])
    np.testing.assert_array_equal(labels[site < 0], want)
    assert info["n_sites"] == 3


def test_one_label_never_warns():
    """One label: nothing is split, so no fallback warning (few atoms, or
    no translation at all)."""
    x = np.array([0.0, 10.0, 20.0, 0.0, 10.0, 20.0, 5.0])
    y = np.array([0.0, 0.0, 0.0, 10.0, 10.0, 10.0, 5.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one, info = sublattices.label_sublattices(
            x, y, [5.0, 1, 5.2, 0.9, 5.1, 1.1, 4.9], 1
        )
    np.testing.assert_array_equal(one, 0)
    assert info["method"] == "local intensity" and info["n_sites"] == 0
    # no cell measured: the documented cell vectors are two NaN components
    for key in ("a1", "a2"):
        assert info[key].shape == (2,) and np.isnan(info[key]).all(), key
    with pytest.warns(UserWarning, match="fewer than 8 atoms"):
        two, _ = sublattices.label_sublattices(
            x, y, [5.0, 1, 5.2, 0.9, 5.1, 1.1, 4.9], 2
        )
    np.testing.assert_array_equal(two, [0, 1, 0, 1, 0, 1, 0])


def test_documented_defaults_and_constant_intensity():
    """``tolerance`` 0.3 (find_translations) and ``n_neighbours`` 24
    (local_normalise) are the defaults: the scene is chosen so that the
    neighbouring values give other results. A constant intensity carries no
    information: no correlation, translations by geometry alone."""
    rng = np.random.default_rng(9)
    j, i = np.mgrid[0:10, 0:11]
    xy = i.ravel()[:, None] * _B1 + j.ravel()[:, None] * _B2 + [40.0, 5.0]
    xy = xy + rng.normal(0, 1.8, xy.shape)  # heavy jitter: many links near 0.3 d0
    q = rng.normal(size=len(xy))
    t = translations.find_translations(xy[:, 0], xy[:, 1], q)
    t3 = translations.find_translations(xy[:, 0], xy[:, 1], q, tolerance=0.3)
    t45 = translations.find_translations(xy[:, 0], xy[:, 1], q, tolerance=0.45)
    np.testing.assert_array_equal(t["fraction"], t3["fraction"])
    assert len(t45["fraction"]) != len(t["fraction"]) or np.any(
        t45["fraction"] != t["fraction"]
    )
    v = 1.0 + 0.02 * xy[:, 0] + rng.normal(0, 0.5, len(xy))
    q24 = translations.local_normalise(xy[:, 0], xy[:, 1], v)
    np.testing.assert_array_equal(
        q24, translations.local_normalise(xy[:, 0], xy[:, 1], v, 24)
    )
    assert np.any(q24 != translations.local_normalise(xy[:, 0], xy[:, 1], v, 25))
    xy, _, _ = _lattice(0.0)
    tc = translations.find_translations(xy[:, 0], xy[:, 1], np.full(len(xy), 1.0))
    np.testing.assert_array_equal(tc["correlation"], 0.0)
    np.testing.assert_array_equal(tc["is_translation"], tc["fraction"] >= 0.6)
    assert tc["is_translation"].any()


def test_find_translations_correlation_brute_force_edges_excluded():
    """On a perfect lattice every atom ``i`` with an atom at ``x_i + v`` is a
    pair; atoms within half a neighbour distance of the bounding box (columns
    cut by the image edge) take no part in the correlations."""
    xy, b1, b2 = _lattice(0.0)
    d0 = np.hypot(*b1)
    rng = np.random.default_rng(17)
    q = rng.normal(size=len(xy))
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    cut = np.any((xy - lo < 0.5 * d0) | (hi - xy < 0.5 * d0), axis=1)
    # the oblique edge: some edge atoms are 6 px (0.55 d0) from the box
    assert np.any(np.isclose(xy[:, 0] - lo[0], 6.0))
    q[cut] += 5.0 * rng.normal(size=cut.sum())  # biased edge intensities
    t = translations.find_translations(xy[:, 0], xy[:, 1], q)
    key = {tuple(np.round(p, 6)): k for k, p in enumerate(xy)}
    for v, corr in zip(t["candidates"], t["correlation"]):
        pairs = [
            (k, key[tuple(np.round(p + v, 6))])
            for k, p in enumerate(xy)
            if tuple(np.round(p + v, 6)) in key
        ]
        a, b = np.array(pairs).T
        use = ~cut[a] & ~cut[b]
        assert corr == pytest.approx(np.corrcoef(q[a[use]], q[b[use]])[0, 1], abs=1e-9)


def _checkerboard_translations(contrast, seed=0):
    """find_translations on a 24 x 20 square grid (10 px) whose A and B
    sites (a checkerboard) differ by ``2 * contrast`` in units of the
    intensity noise; with the standard error ``1 / sqrt(pairs)`` of the best
    candidate's correlation, counted here from the grid."""
    yy, xx = np.mgrid[0:20, 0:24].reshape(2, -1) * 10.0
    bright = ((xx + yy) / 10) % 2 == 0
    q = np.where(bright, contrast, -contrast)
    q = q + np.random.default_rng(seed).normal(0, 1, xx.size)
    t = translations.find_translations(xx, yy, q)
    geometric = t["fraction"] >= 0.6
    best = np.argmax(np.where(geometric, t["correlation"], -np.inf))
    v = t["candidates"][best]
    # pairs: atoms off the outer rows (whose intensities are left out, cut
    # by the edge) whose target, also off them, is a site of the grid
    inner = (xx > 0) & (xx < 230) & (yy > 0) & (yy < 190)
    tx, ty = xx + v[0], yy + v[1]
    pairs = np.sum(inner & (tx > 0) & (tx < 230) & (ty > 0) & (ty < 190))
    return t, t["correlation"][best], 1.0 / np.sqrt(pairs)


def test_find_translations_trusts_intensity_beyond_three_standard_errors():
    """The intensity decides which candidates are translations only when the
    best correlation is significant: at least 3 standard errors (and 0.1).
    At 3.5 standard errors the checkerboard's cell (10, 10), (10, -10) is
    found; at 2.5 (above the 0.1 floor) the intensity is noise and the grid's
    square cell of 10 px is the answer."""
    t, r, se = _checkerboard_translations(0.3)
    assert 3 * se < r < 4 * se, (r, se)  # the scene is where it should be
    cell = np.abs(np.r_[t["a1"], t["a2"]])
    np.testing.assert_allclose(cell, 10.0, atol=0.5)
    t, r, se = _checkerboard_translations(0.2, seed=1)
    assert 0.1 < r < 3 * se, (r, se)
    cell = sorted(np.round(np.abs(np.r_[t["a1"], t["a2"]])).tolist())
    assert cell == [0.0, 0.0, 10.0, 10.0]
