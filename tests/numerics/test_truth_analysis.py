"""Truth tests of the analysis modules: symmetry, modes, phases, defects,
sublattices.

Every expected value comes from the construction of the input (a point set
with a known symmetry, a lattice with a site removed at a known index) or
from an independent brute-force computation of the documented formula
(loops over all pairs instead of trees, dense weight matrices, exhaustive
searches). The inputs are small and asymmetric, so a swapped axis, a
dropped sign, an off-by-one or a moved threshold changes the answer.
"""

import itertools

import numpy as np
import pytest
from scipy import ndimage as ndi

from hyperspy_localcryst.numerics import (
    defects,
    modes,
    phases,
    sublattices,
    symmetry,
    translations,
)

# ---------------------------------------------------------------------------
# independent helpers
# ---------------------------------------------------------------------------


def _rot_image(deg):
    """Rotation by ``deg`` counter-clockwise as seen on the image (y down):
    +x goes to (cos, -sin)."""
    t = np.deg2rad(deg)
    e1 = np.array([np.cos(t), -np.sin(t)])
    e2 = np.array([np.sin(t), np.cos(t)])  # +y (down) goes 90 deg further
    return np.column_stack([e1, e2])


def _mirror_image(deg):
    """Reflection about the line at ``deg`` from +x (counter-clockwise on the
    image): 2 u u^T - I with u the line's direction in pixel coordinates."""
    t = np.deg2rad(deg)
    u = np.array([np.cos(t), -np.sin(t)])
    return 2 * np.outer(u, u) - np.eye(2)


def _set_residual_loops(a, b):
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    da = [min(np.sum((p - q) ** 2) for q in b) for p in a]
    db = [min(np.sum((p - q) ** 2) for p in a) for q in b]
    return np.sqrt((np.mean(da) + np.mean(db)) / 2)


# An asymmetric neighbourhood (no operation maps it onto itself).
V_ASYM = np.array([[3.1, 0.4], [-0.7, 2.2], [-2.5, -1.3], [0.9, -2.8], [1.7, 1.9]])


# ---------------------------------------------------------------------------
# symmetry.operation_matrix
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "deg"),
    [("2", 180.0), ("3", 120.0), ("4", 90.0), ("6", 60.0), ("R37", 37.0)],
)
def test_operation_matrix_rotations(name, deg):
    np.testing.assert_allclose(
        symmetry.operation_matrix(name), _rot_image(deg), atol=1e-12
    )


@pytest.mark.parametrize("deg", [0.0, 30.0, 45.0, 101.5, 170.0])
def test_operation_matrix_mirrors(deg):
    m = symmetry.operation_matrix(f"m{deg:g}")
    np.testing.assert_allclose(m, _mirror_image(deg), atol=1e-12)
    # the line's direction is fixed, its normal reversed
    t = np.deg2rad(deg)
    u = np.array([np.cos(t), -np.sin(t)])
    np.testing.assert_allclose(m @ u, u, atol=1e-12)


def test_operation_matrix_identity_and_bad_names():
    np.testing.assert_array_equal(symmetry.operation_matrix("1"), np.eye(2))
    for bad in ["", "5", "x", "Rabc", 3]:
        with pytest.raises(ValueError):
            symmetry.operation_matrix(bad)


# ---------------------------------------------------------------------------
# symmetry.set_residual / symmetry_residuals
# ---------------------------------------------------------------------------


def test_set_residual_brute_force_and_broadcast():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 4, 2))
    b = rng.normal(size=(3, 6, 2))
    got = symmetry.set_residual(a, b)
    assert got.shape == (3,)
    for i in range(3):
        assert got[i] == pytest.approx(_set_residual_loops(a[i], b[i]), rel=1e-12)
    # asymmetric in the sizes: the two directions both count
    one = np.array([[0.0, 0.0]])
    two = np.array([[0.0, 0.0], [3.0, 4.0]])
    # a->b: 0; b->a: (0 + 25) / 2
    assert float(symmetry.set_residual(one, two)) == pytest.approx(np.sqrt(25 / 4))


def _mirror_brute(v):
    ang = np.degrees(np.arctan2(-v[:, 1], v[:, 0]))
    best = (np.inf, None)
    for i in range(len(v)):
        for j in range(len(v)):
            axis = (ang[i] + ang[j]) / 2
            r = _set_residual_loops(v @ _mirror_image(axis).T, v)
            if r < best[0] - 1e-12:
                best = (r, np.mod(axis, 180.0))
    return best


def test_symmetry_residuals_asymmetric_brute_force():
    v = np.stack([V_ASYM, V_ASYM * [1.0, -1.0] + [0.0, 0.05]])
    r = symmetry.symmetry_residuals(v)
    for name, deg in {"2": 180, "3": 120, "4": 90, "6": 60}.items():
        for i in range(2):
            want = _set_residual_loops(v[i] @ _rot_image(deg).T, v[i])
            assert r[name][i] == pytest.approx(want, rel=1e-10)
    for i in range(2):
        res, axis = _mirror_brute(v[i])
        assert r["m"][i] == pytest.approx(res, rel=1e-10, abs=1e-12)
        assert r["mirror_axis"][i] == pytest.approx(axis, abs=1e-9)


def test_symmetry_residuals_exact_groups_and_mirror_axis():
    # a rectangle rotated by 20 deg (counter-clockwise on the image): 2mm with
    # mirrors at 20 and 110 deg
    rect = np.array([[2.0, 1.0], [-2.0, 1.0], [-2.0, -1.0], [2.0, -1.0]])
    v = rect @ _rot_image(20.0).T
    r = symmetry.symmetry_residuals(v)
    assert r["2"][0] == pytest.approx(0.0, abs=1e-12)
    assert r["4"][0] > 0.5
    assert r["m"][0] == pytest.approx(0.0, abs=1e-12)
    assert min(abs(r["mirror_axis"][0] - 20.0), abs(r["mirror_axis"][0] - 110.0)) < 1e-9
    assert symmetry.point_group(r, 1e-6).tolist() == ["2mm"]
    # an isosceles triangle with its apex at 20 deg: only the mirror at 20
    tri = np.array([[3.0, 0.0], [-1.0, 1.5], [-1.0, -1.5]]) @ _rot_image(20.0).T
    r = symmetry.symmetry_residuals(tri)
    assert r["m"][0] == pytest.approx(0.0, abs=1e-12)
    assert r["mirror_axis"][0] == pytest.approx(20.0, abs=1e-9)
    assert symmetry.point_group(r, 1e-6).tolist() == ["m"]
    # equilateral triangle: 3m; hexagon: 6mm; square: 4mm
    t3 = np.array([[np.cos(a), np.sin(a)] for a in np.deg2rad([10, 130, 250])])
    assert symmetry.point_group(symmetry.symmetry_residuals(t3), 1e-6).tolist() == [
        "3m"
    ]
    h6 = np.array([[np.cos(a), np.sin(a)] for a in np.deg2rad(np.arange(6) * 60 + 7)])
    assert symmetry.point_group(symmetry.symmetry_residuals(h6), 1e-6).tolist() == [
        "6mm"
    ]


def test_symmetry_residuals_known_breaking_magnitude():
    # square with the centre pushed by s along x: the 4-fold residual of the
    # shifted square is s*sqrt(2) (each rotated point lands s*sqrt(2) from
    # its partner, which is the nearest for small s)
    sq = np.array([[5.0, 0], [0, 5.0], [-5.0, 0], [0, -5.0]])
    for s in (0.1, 0.3):
        r = symmetry.symmetry_residuals(sq - [s, 0.0])
        assert r["4"][0] == pytest.approx(s * np.sqrt(2), rel=1e-9)
        assert r["2"][0] == pytest.approx(2 * s, rel=1e-9)
        assert r["m"][0] == pytest.approx(0.0, abs=1e-12)
        assert r["mirror_axis"][0] == pytest.approx(0.0, abs=1e-9)
    # the same along y: the mirror line is the y axis (90 deg)
    r = symmetry.symmetry_residuals(sq - [0.0, 0.2])
    assert r["mirror_axis"][0] == pytest.approx(90.0, abs=1e-9)


# ---------------------------------------------------------------------------
# symmetry.point_group
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kept", "want"),
    [
        ((), "1"),
        (("m",), "m"),
        (("2",), "2"),
        (("2", "m"), "2mm"),
        (("3",), "3"),
        (("3", "m"), "3m"),
        (("2", "4"), "4"),
        (("4",), "1"),  # a 4-fold without the 2-fold cannot be
        (("2", "4", "m"), "4mm"),
        (("6",), "6"),
        (("2", "3"), "6"),
        (("2", "3", "m"), "6mm"),
        (("6", "m"), "6mm"),
    ],
)
def test_point_group_table_at_the_tolerance(kept, want):
    tol = 0.2
    # kept operations exactly at the tolerance (<= keeps), others just above
    res = {k: (tol if k in kept else tol + 1e-9) for k in ("2", "3", "4", "6", "m")}
    assert symmetry.point_group(res, tol).tolist() == [want]
    # arrays and a per-entry tolerance broadcast
    res2 = {k: np.array([v, 1.0]) for k, v in res.items()}
    assert symmetry.point_group(res2, np.array([tol, 2.0])).tolist() == [
        want,
        "6mm",
    ]


# ---------------------------------------------------------------------------
# symmetry.find_variants
# ---------------------------------------------------------------------------

SQ = np.array([[1.0, 0], [0, 1], [-1, 0], [0, -1]])


def _polar_variants(s=0.1):
    base = SQ * [1.0, 1.05] - [s, 0.02]  # polar along x, slightly rectangular
    return [base @ _rot_image(d).T for d in (0, 90, 180, 270)]


def test_find_variants_rotations_exact():
    C = np.stack(_polar_variants() + [1.4 * SQ + [0.0, 0.03]])
    groups = symmetry.find_variants(C)
    assert len(groups) == 1
    g = groups[0]
    assert g["classes"] == [0, 1, 2, 3]
    assert g["operations"] == ["1", "R90", "R180", "R270"]
    np.testing.assert_allclose(g["residuals"], 0.0, atol=1e-12)
    want = [0.0] + [_set_residual_loops(C[0], C[m]) for m in (1, 2, 3)]
    np.testing.assert_allclose(g["difference"], want, rtol=1e-12)


def test_find_variants_mirror_only():
    # a chiral (asymmetric) neighbourhood and its mirror image about x: no
    # rotation maps one onto the other, the mirror m0 does
    a = V_ASYM
    b = a @ _mirror_image(0.0).T
    groups = symmetry.find_variants(np.stack([a, b]))
    assert len(groups) == 1
    assert groups[0]["classes"] == [0, 1]
    assert groups[0]["operations"] == ["1", "m0"]
    assert groups[0]["residuals"][1] == pytest.approx(0.0, abs=1e-12)
    assert groups[0]["difference"][1] == pytest.approx(_set_residual_loops(a, b))
    # mirror about 30 deg
    b = a @ _mirror_image(30.0).T
    groups = symmetry.find_variants(np.stack([a, b]))
    assert groups[0]["operations"] == ["1", "m30"]


def test_find_variants_relative_threshold():
    a = V_ASYM
    b0 = a @ _rot_image(90.0).T
    # perturb one point of the rotated copy: residual r, difference d
    pert = np.zeros_like(b0)
    pert[0] = [0.0, 0.35]
    b = b0 + pert
    d = _set_residual_loops(a, b)
    r = _set_residual_loops(a @ _rot_image(90.0).T, b)
    ratio = r / d
    assert 0.05 < ratio < 0.5
    lo, hi = 0.9 * ratio, 1.1 * ratio
    assert symmetry.find_variants(np.stack([a, b]), relative=lo) == []
    g = symmetry.find_variants(np.stack([a, b]), relative=hi)
    assert g[0]["operations"] == ["1", "R90"]
    assert g[0]["residuals"][1] == pytest.approx(r, rel=1e-10)
    assert g[0]["difference"][1] == pytest.approx(d, rel=1e-10)


def test_find_variants_noise_and_apart():
    C = np.stack(_polar_variants()[:2])
    d = _set_residual_loops(C[0], C[1])
    # distinct only when d > n_sigma * 2 * hypot(e0, e1)
    e = d / (3.0 * 2.0 * np.sqrt(2.0))  # exactly at the limit: not distinct
    assert symmetry.find_variants(C, noise=[e * 1.001, e * 1.001]) == []
    g = symmetry.find_variants(C, noise=[e * 0.999, e * 0.999])
    assert g[0]["operations"] == ["1", "R90"]
    # n_sigma scales the limit
    assert symmetry.find_variants(C, noise=[e * 0.65, e * 0.65], n_sigma=5.0) == []
    assert len(symmetry.find_variants(C, noise=[e * 0.55, e * 0.55], n_sigma=5.0)) == 1
    # one noisy class is enough (hypot of the two)
    assert symmetry.find_variants(C, noise=[0.0, e * np.sqrt(2) * 1.001]) == []
    # classes that live together are not variants
    together = np.array([[False, False], [False, False]])
    assert symmetry.find_variants(C, apart=together) == []
    # a class with NaN is never a variant
    C2 = np.stack(_polar_variants()[:3])
    C2[1, 0, 0] = np.nan
    g = symmetry.find_variants(C2)
    assert g[0]["classes"] == [0, 2]
    assert g[0]["operations"] == ["1", "R180"]


def test_find_variants_related_through_another_member():
    C = np.stack(_polar_variants()[:3])
    apart = ~np.eye(3, dtype=bool)
    apart[0, 2] = apart[2, 0] = False  # 0 and 2 share their surroundings
    g = symmetry.find_variants(C, apart=apart)
    assert g[0]["classes"] == [0, 1, 2]
    # the first is mapped onto the third directly all the same
    assert g[0]["operations"] == ["1", "R90", "R180"]
    assert g[0]["residuals"][2] == pytest.approx(0.0, abs=1e-12)
    assert g[0]["difference"][2] == pytest.approx(_set_residual_loops(C[0], C[2]))


def test_best_operation_prefers_rotation_within_tolerance():
    # a polar square: R180 and the mirror m90 both map it onto its reverse
    a = SQ * [1.0, 1.1] - [0.1, 0.0]
    b = a @ _rot_image(180.0).T
    assert symmetry._best_operation(a, b, 1e-9) == ("R180", pytest.approx(0.0))
    # a mirror must beat the best rotation by a factor 0.8
    c = V_ASYM
    m = c @ _mirror_image(0.0).T
    name, r = symmetry._best_operation(c, m, 0.0)
    assert name == "m0" and r == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------------
# modes: closed forms against loops
# ---------------------------------------------------------------------------

# loadings (n=3 centres, m=2 modes), factors (2k = 6 rows: k = 3 neighbours)
LOAD = np.array([[2.0, -0.5], [-1.0, 1.5], [np.nan, np.nan]])
FACT = np.array(
    [[0.3, -1.0], [0.6, 0.2], [-0.1, 0.5], [0.9, 0.0], [0.2, 2.0], [-0.4, -0.7]]
)


def test_mode_amplitudes_loops():
    per, rms = modes.mode_amplitudes(LOAD, FACT)
    k = 3
    for m in range(2):
        norm = np.sqrt(np.sum(FACT[:, m] ** 2))
        for n in range(2):
            disp = LOAD[n, m] * FACT[:, m].reshape(k, 2)  # neighbour displacements
            want = np.sign(LOAD[n, m]) * np.sqrt(np.mean(np.sum(disp**2, axis=1)))
            assert per[n, m] == pytest.approx(want, rel=1e-12)
            assert want == pytest.approx(LOAD[n, m] * norm / np.sqrt(k))
        assert np.isnan(per[2, m])
        assert rms[m] == pytest.approx(np.sqrt((per[0, m] ** 2 + per[1, m] ** 2) / 2))
    # a zero factor column: zero amplitude, not NaN
    per, rms = modes.mode_amplitudes(
        [[1.0, 2.0]], np.column_stack([FACT[:, 0], 0 * FACT[:, 0]])
    )
    assert per[0, 1] == 0.0 and rms[1] == 0.0


def test_net_shifts_loops():
    s = modes.net_shifts(LOAD[:2], FACT)
    assert s.shape == (2, 2, 2)
    for n in range(2):
        for m in range(2):
            disp = LOAD[n, m] * FACT[:, m].reshape(3, 2)
            np.testing.assert_allclose(s[n, m], -disp.mean(axis=0), rtol=1e-12)
    # a breathing mode carries no net shift
    breathe = np.array([[1.0], [0.0], [-1.0], [0.0], [0.0], [2.0], [0.0], [-2.0]])
    np.testing.assert_allclose(modes.net_shifts([[3.0]], breathe), 0.0, atol=1e-12)


def test_net_shift_noise_formula():
    ec = np.array([0.5, 0.0, 2.0])
    en = np.array([[1.0, 2.0, 0.0], [3.0, 0.0, 0.0], [0.1, 0.2, 0.3]])
    got = modes.net_shift_noise(ec, en)
    k = 3
    for i in range(3):
        var = ec[i] ** 2 + sum(e**2 for e in en[i]) / k**2
        assert got[i] == pytest.approx(np.sqrt(2 * var), rel=1e-12)
    with pytest.raises(ValueError):
        modes.net_shift_noise([1.0, 2.0], [[1.0, 1.0]])


def test_polar_modes_threshold_and_nan():
    s = np.zeros((4, 3, 2))
    s[:, 0, 0] = [3.0, -3.0, 3.0, -3.0]  # rms 3
    s[:, 1, 1] = [1.0, 1.0, -1.0, -1.0]  # rms 1
    s[:, 2, :] = [[0.3, 0.4]] * 4  # rms 0.5
    noise = np.array([1.0, 1.0, 1.0, 1.0])
    net, level, polar = modes.polar_modes(s, noise)
    np.testing.assert_allclose(net, [3.0, 1.0, 0.5], rtol=1e-12)
    assert level == pytest.approx(1.0)
    # net == n_sigma * level is not polar (strictly above)
    assert polar.tolist() == [False, False, False]
    net, level, polar = modes.polar_modes(s, noise, n_sigma=2.9)
    assert polar.tolist() == [True, False, False]
    net, level, polar = modes.polar_modes(s, noise, n_sigma=0.9)
    assert polar.tolist() == [True, True, False]
    # NaN rows of shifts and NaN noise are left out; RMS of the noise
    s2 = np.concatenate([s, np.full((1, 3, 2), np.nan)])
    noise2 = np.array([1.0, 2.0, np.nan, 2.0, 5.0])
    net, level, polar = modes.polar_modes(s2, noise2, n_sigma=1.0)
    np.testing.assert_allclose(net, [3.0, 1.0, 0.5], rtol=1e-12)
    assert level == pytest.approx(np.sqrt((1 + 4 + 4) / 3))
    assert polar.tolist() == [True, False, False]
    net, level, polar = modes.polar_modes(s, np.full(4, np.nan))
    assert np.isnan(level) and polar.tolist() == [False, False, False]


def test_loading_noise_loops():
    ec = np.array([0.5, 1.5])
    en = np.array([[1.0, 0.2, 0.7], [0.0, 2.0, 0.3]])
    got = modes.loading_noise(FACT, ec, en)
    for m in range(2):
        f = FACT[:, m] / np.linalg.norm(FACT[:, m])
        fj = f.reshape(3, 2)
        for n in range(2):
            var = sum(np.sum(fj[j] ** 2) * en[n, j] ** 2 for j in range(3))
            var += np.sum(fj.sum(axis=0) ** 2) * ec[n] ** 2
            assert got[n, m] == pytest.approx(np.sqrt(var), rel=1e-12)
    with pytest.raises(ValueError):
        modes.loading_noise(FACT, ec, en[:, :2])


def test_loading_noise_monte_carlo():
    # the loading of a centre on a unit mode, with random position errors
    rng = np.random.default_rng(0)
    f = FACT[:, 0] / np.linalg.norm(FACT[:, 0])
    ec, en = 0.7, np.array([0.2, 1.1, 0.4])
    rc = rng.normal(0, ec, (20000, 2))
    rj = rng.normal(0, 1, (20000, 3, 2)) * en[None, :, None]
    v = (rj - rc[:, None, :]).reshape(20000, 6)
    want = float(modes.loading_noise(f[:, None], [ec], [en])[0, 0])
    assert np.std(v @ f) == pytest.approx(want, rel=0.03)


def test_noise_excess_median_of_tail():
    # even size: tail is the second half
    assert modes.noise_excess(
        [9.0, 3.0, 2.2, 1.9], [1.0, 1.0, 1.0, 1.0]
    ) == pytest.approx(2.05)
    # odd size 5: tail starts at index 2 (three values), median is the middle
    assert modes.noise_excess(
        [9.0, 8.0, 4.0, 3.0, 6.0], [1.0, 1.0, 2.0, 1.0, 1.0]
    ) == pytest.approx(3.0)
    # below 1: clipped to 1
    assert modes.noise_excess([9.0, 3.0, 0.5, 0.4], [1.0, 1.0, 1.0, 1.0]) == 1.0
    # non-finite ratios left out; none left: NaN
    assert modes.noise_excess(
        [9.0, 3.0, 4.0, 6.0], [1.0, 1.0, np.nan, 2.0]
    ) == pytest.approx(3.0)
    assert np.isnan(modes.noise_excess([1.0, 1.0], [1.0, np.nan]))
    assert modes.noise_excess([5.0], [2.0]) == pytest.approx(2.5)


def _moran_dense(z, W):
    n = z.size
    z = z - 0.0
    s0 = W.sum()
    moran = n / s0 * (z @ W @ z) / np.sum(z**2)
    s1 = 0.5 * np.sum((W + W.T) ** 2)
    s2 = np.sum((W.sum(axis=0) + W.sum(axis=1)) ** 2)
    e = -1.0 / (n - 1)
    var = (n * n * s1 - n * s2 + 3 * s0**2) / ((n * n - 1) * s0**2) - e**2
    return moran, (moran - e) / np.sqrt(var)


def test_moran_dense_weights():
    rng = np.random.default_rng(5)
    n = 9
    z = rng.normal(size=n)
    z -= z.mean()
    pairs = np.array([[0, 1], [1, 2], [2, 5], [3, 4], [4, 8], [0, 6], [6, 7], [5, 8]])
    w = rng.uniform(0.2, 2.0, len(pairs))
    W = np.zeros((n, n))
    W[pairs[:, 0], pairs[:, 1]] = w
    W[pairs[:, 1], pairs[:, 0]] = w
    got = modes._moran(z, pairs, w)
    want = _moran_dense(z, W)
    assert got[0] == pytest.approx(want[0], rel=1e-12)
    assert got[1] == pytest.approx(want[1], rel=1e-12)
    assert modes._moran(z, pairs, 0 * w)[1] == 0.0


# ---------------------------------------------------------------------------
# modes.loading_pattern
# ---------------------------------------------------------------------------

_YY, _XX = np.mgrid[0:24, 0:26]
_XY = np.column_stack([_XX.ravel(), _YY.ravel()]).astype(float)


def test_loading_pattern_uniform_boundary():
    # |mean| / std just above and below 1
    base = np.where(np.arange(_XY.shape[0]) % 2 == 0, 1.0, -1.0)  # std 1, mean 0
    for mean, want in ((1.01, "uniform"), (0.99, None)):
        d = modes.loading_pattern(base + mean, _XY)
        assert d["uniformity"] == pytest.approx(mean / base.std(), rel=1e-9)
        if want:
            assert d["pattern"] == want
        else:
            assert d["pattern"] != "uniform"
    # constant loadings: uniform, inf
    d = modes.loading_pattern(np.ones(10), _XY[:10])
    assert d["pattern"] == "uniform" and d["uniformity"] == np.inf
    # fewer than 4 finite: noise, all NaN
    d = modes.loading_pattern([1.0, np.nan, 2.0, -1.0], _XY[:4])
    assert d["pattern"] == "noise" and np.isnan(d["uniformity"])


def test_loading_pattern_alternating_checkerboard_and_rows():
    checker = (-1.0) ** (_XX + _YY).ravel()
    d = modes.loading_pattern(checker, _XY)
    assert d["pattern"] == "alternating"
    assert d["spacing"] == pytest.approx(1.0)
    # Moran's I of a checkerboard over the 4 nearest neighbours is exactly -1
    assert d["morans_i"] == pytest.approx(-1.0, rel=1e-12)
    assert d["morans_z"] < -3
    assert d["top_share"] == pytest.approx(
        np.ceil(0.05 * checker.size) / checker.size, rel=1e-12
    )
    # rows alternate along y only: isotropic I is 0, the directional one finds it
    rows = (-1.0) ** _YY.ravel() + 0.0 * _XX.ravel()
    d = modes.loading_pattern(rows, _XY)
    assert d["pattern"] == "alternating"
    assert abs(d["morans_i"]) < 0.05


def test_loading_pattern_domains_scale():
    # stripes of width 6 px along x (domain walls along y): scale ~ width
    yy, xx = np.mgrid[0:30, 0:48]
    xy = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
    stripes = np.where(xx % 12 < 6, 1.0, -1.0).ravel()
    d = modes.loading_pattern(stripes, xy)
    assert d["pattern"] == "domains"
    assert d["morans_z"] > 3
    assert d["scale"] == pytest.approx(6.0, rel=0.12)
    # the scale is in pixels: doubling every distance doubles it
    d2 = modes.loading_pattern(stripes, 2.0 * xy)
    assert d2["scale"] == pytest.approx(2 * d["scale"], rel=1e-9)
    assert d2["spacing"] == pytest.approx(2.0)
    # a single wall: the correlation does not decay within max_shells=2
    half = np.where(xx < 24, 1.0, -1.0).ravel()
    d = modes.loading_pattern(half, xy, max_shells=2)
    assert d["pattern"] == "domains"


def test_domain_size_debye_formula():
    # one wall across a 40 x 40 grid: C(r) follows 1 - r L/(pi f(1-f))
    # closely enough that the fitted size is the area per wall length
    yy, xx = np.mgrid[0:40, 0:40]
    xy = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
    z = np.where(xx < 13, 1.0, -1.0).ravel()
    z = z - z.mean()
    pairs, dist = modes._pairs_within(xy, 6.5)
    size = modes._domain_size(z, pairs, dist, 1.0, 6)
    # area 1600 px^2, wall length 40 px: 40 px per unit wall
    assert size == pytest.approx(40.0, rel=0.25)


def test_loading_pattern_noise_and_localised():
    rng = np.random.default_rng(11)
    z = rng.normal(size=_XY.shape[0])
    d = modes.loading_pattern(z, _XY)
    assert d["pattern"] == "noise"
    assert abs(d["morans_z"]) < 3
    assert np.isnan(d["scale"])
    # same noise with 3 huge spikes: localised
    z2 = z.copy()
    z2[[10, 200, 400]] = [60.0, -70.0, 65.0]
    d = modes.loading_pattern(z2, _XY)
    assert d["pattern"] == "localised"
    assert d["top_share"] > 0.5
    # the spikes over a domain pattern: the domains are still seen
    stripes = np.where(_XX % 12 < 6, 1.0, -1.0).ravel()
    s2 = stripes.copy()
    s2[[10, 200, 400]] = [200.0, -210.0, 220.0]
    d = modes.loading_pattern(s2, _XY)
    assert d["top_share"] > 0.5
    assert d["pattern"] == "domains"


def test_loading_pattern_sublattice_and_per_group():
    g = ((_XX + _YY) % 2).ravel().astype(float)
    rng = np.random.default_rng(2)
    z = np.where(g == 0, 1.0, -1.0) + 0.5 * rng.normal(size=g.size)
    d = modes.loading_pattern(z, _XY, groups=g)
    assert d["pattern"] == "sublattice"
    zc = z - z.mean()
    between = sum((g == u).sum() * zc[g == u].mean() ** 2 for u in (0, 1))
    assert d["sublattice_share"] == pytest.approx(between / np.sum(zc**2), rel=1e-9)
    # without the groups it is an alternation
    assert modes.loading_pattern(z, _XY)["pattern"] == "alternating"
    # domains of opposite sign on the two sublattices: within each group
    dom = np.where(_XX % 12 < 6, 1.0, -1.0).ravel()
    z = np.where(g == 0, dom, -dom)
    d = modes.loading_pattern(z, _XY, groups=g)
    assert d["pattern"] == "domains"
    assert d["sublattice_share"] < 0.5
    assert modes.loading_pattern(z, _XY)["pattern"] == "alternating"
    # NaN group: left out
    g2 = g.copy()
    g2[:3] = np.nan
    assert modes.loading_pattern(z, _XY, groups=g2)["pattern"] == "domains"


def test_loading_pattern_frames_do_not_pair_across():
    # two frames at the same positions: one with +stripes, one with -stripes;
    # within each frame domains, and pairs across frames would cancel them
    yy, xx = np.mgrid[0:20, 0:24]
    xy1 = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
    xy = np.concatenate([xy1, xy1])
    dom = np.where(xx % 12 < 6, 1.0, -1.0).ravel()  # balanced: f = 1/2
    z = np.concatenate([dom, -dom])
    fr = np.repeat([0.0, 1.0], xy1.shape[0])
    d = modes.loading_pattern(z, xy, frames=fr)
    assert d["pattern"] == "domains"
    assert modes.loading_pattern(z, xy)["pattern"] == "noise"
    d1 = modes.loading_pattern(dom, xy1)
    assert d["scale"] == pytest.approx(d1["scale"], rel=1e-9)
    # the fewest shells allowed (2): the frames are still set apart
    d = modes.loading_pattern(z, xy, frames=fr, max_shells=2)
    d1 = modes.loading_pattern(dom, xy1, max_shells=2)
    assert d["pattern"] == d1["pattern"] == "domains"
    assert d["scale"] == pytest.approx(d1["scale"], rel=1e-9)


# ---------------------------------------------------------------------------
# phases: compositions, co-occurrence, affinity against loops
# ---------------------------------------------------------------------------


def _scatter(n=40, seed=7):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 30, n)
    y = rng.uniform(0, 18, n)
    lab = rng.integers(-1, 3, n)
    return x, y, lab


def _composition_loops(x, y, lab, r, k):
    """Dense all-pairs count of the labelled atoms within ``r`` (no tree)."""
    fin = np.isfinite(x) & np.isfinite(y)
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    near = (d <= r) & fin[:, None] & fin[None, :] & (lab >= 0)[None, :]
    onehot = (lab[:, None] == np.arange(k)[None, :]).astype(float)
    comp = near.astype(float) @ onehot
    counts = comp.sum(axis=1)
    with np.errstate(invalid="ignore"):
        frac = comp / counts[:, None]
    frac[counts == 0] = np.nan
    return frac, counts


def test_site_composition_loops():
    x, y, lab = _scatter()
    x[5] = np.nan
    r = 6.3
    comp, counts = phases.site_composition(x, y, lab, r)
    want, wcount = _composition_loops(x, y, lab, r, 3)
    np.testing.assert_array_equal(counts, wcount)
    np.testing.assert_allclose(comp, want, rtol=1e-12)
    assert np.isnan(comp[5]).all() and counts[5] == 0
    # more columns on request
    comp5, _ = phases.site_composition(x, y, lab, r, n_classes=5)
    assert comp5.shape == (40, 5)
    np.testing.assert_allclose(comp5[:, :3], want, rtol=1e-12)
    np.testing.assert_array_equal(comp5[np.isfinite(comp5[:, 0]), 3:], 0.0)
    # no labelled atom: all NaN
    c0, n0 = phases.site_composition(x, y, np.full(40, -1), r, n_classes=2)
    assert c0.shape == (40, 2) and np.isnan(c0).all() and (n0 == 0).all()


def test_class_cooccurrence_loops():
    x, y, lab = _scatter(seed=8)
    comp, _ = phases.site_composition(x, y, lab, 5.0)
    M = phases.class_cooccurrence(comp, lab)
    for a in range(3):
        rows = [
            comp[i] for i in range(40) if lab[i] == a and np.isfinite(comp[i]).all()
        ]
        np.testing.assert_allclose(M[a], np.mean(rows, axis=0), rtol=1e-12)
    M5 = phases.class_cooccurrence(comp, lab, n_classes=4)
    assert M5.shape == (4, 3) and np.isnan(M5[3]).all()
    np.testing.assert_allclose(M5[:3], M, rtol=1e-12)


def test_class_affinity_formula():
    M = np.array([[0.6, 0.3, 0.05, 0.0], [0.35, 0.5, 0.1, 0.0], [0.2, 0.02, 0.7, 0.9]])
    A = phases.class_affinity(M)
    K = 3
    for a in range(K):
        for b in range(K):
            if a == b:
                assert A[a, b] == 1.0
                continue
            want = min(M[a, b] / M[b, b], M[b, a] / M[a, a])
            assert A[a, b] == pytest.approx(min(max(want, 0.0), 1.0), rel=1e-12)
    # clipped at 1; a class without atoms: NaN diagonal
    M2 = np.array([[0.2, 0.9], [0.8, 0.3]])
    assert phases.class_affinity(M2)[0, 1] == 1.0
    M3 = np.array([[0.5, 0.5], [np.nan, np.nan]])
    A3 = phases.class_affinity(M3)
    assert A3[0, 0] == 1.0 and np.isnan(A3[1, 1])
    M4 = np.array([[0.5, 0.5], [0.5, 0.0]])
    assert np.isnan(phases.class_affinity(M4)[1, 1])


def test_group_classes_blocks_at_min_affinity():
    A = np.array(
        [
            [1.0, 0.8, 0.1, 0.1],
            [0.8, 1.0, 0.1, 0.2],
            [0.1, 0.1, 1.0, 0.6],
            [0.1, 0.2, 0.6, 1.0],
        ]
    )
    g = phases._group_classes(A, 0.5)
    assert g.tolist()[0] == g.tolist()[1] and g[2] == g[3] and g[0] != g[2]
    # 0.6 pair split above its affinity, joined below
    g = phases._group_classes(A, 0.65)
    assert g[2] != g[3] and g[0] == g[1]
    g = phases._group_classes(A, 0.55)
    assert g[2] == g[3]
    # average linkage: the groups {0,1} and {2,3} join at mean 0.125
    g = phases._group_classes(A, 0.12)
    assert len(set(g.tolist())) == 1
    g = phases._group_classes(A, 0.13)
    assert len(set(g.tolist())) == 2
    # absent classes get -1; one class present: group 0
    A2 = A.copy()
    A2[1, 1] = np.nan
    assert phases._group_classes(A2, 0.5)[1] == -1
    one = np.full((2, 2), np.nan)
    one[0, 0] = 1.0
    assert phases._group_classes(one, 0.5).tolist() == [0, -1]


def test_default_radius_three_spacings_and_cell():
    rng = np.random.default_rng(1)
    j, i = np.mgrid[0:9, 0:11]
    x = 7.0 * i.ravel() + rng.uniform(-1e-3, 1e-3, i.size)
    y = 9.0 * j.ravel()
    # nearest-neighbour distance 7 for every atom: 3 * 7
    assert phases.default_radius(x, y) == pytest.approx(21.0, abs=0.01)
    # with site classes of period 4 along x: cell 28 px long: 1.5 * 28 = 42
    sc = i.ravel() % 4
    assert phases.default_radius(x, y, sc) == pytest.approx(42.0, abs=0.05)
    # NaN positions left out
    x2 = x.copy()
    x2[0] = np.nan
    assert phases.default_radius(x2, y) == pytest.approx(21.0, abs=0.01)
    with pytest.raises(ValueError):
        phases.default_radius([1.0, np.nan], [1.0, 2.0])


def test_interior_count_region_line_and_scatter():
    j, i = np.mgrid[0:6, 0:7]
    x = 5.0 * i.ravel() + 0.3 * j.ravel()
    y = 4.0 * j.ravel()
    allm = np.ones(x.size, bool)
    # every atom of a 2D patch has neighbours in two directions
    assert phases._interior_count(x, y, allm) == x.size
    # a line of atoms has none
    line = j.ravel() == 2
    assert phases._interior_count(x, y, line) == 0
    # fewer than 3 members: 0
    two = np.zeros(x.size, bool)
    two[:2] = True
    assert phases._interior_count(x, y, two) == 0
    # two adjacent lines: every atom has a neighbour along the line and one
    # across (not collinear)
    lines = (j.ravel() == 2) | (j.ravel() == 3)
    assert phases._interior_count(x, y, lines) == lines.sum()


def _two_phase_scene():
    # left: classes 0/1 alternating (a rock-salt-like phase), right: class 2
    j, i = np.mgrid[0:16, 0:30]
    x, y = 5.0 * i.ravel(), 4.0 * j.ravel()
    left = i.ravel() < 12
    sc = np.where(left, (i.ravel() + j.ravel()) % 2, 2)
    return x, y, sc, left


def test_find_phases_two_phases_truth():
    x, y, sc, left = _two_phase_scene()
    r = 9.5
    res = phases.find_phases(x, y, sc, radius=r)
    assert res.n_phases == 2
    # phase 0 is the one that wins more windows: the right (18 of 30 columns)
    assert res.classes == [[2], [0, 1]]
    assert res.class_phase.tolist() == [1, 1, 0]
    assert res.boundary_classes == []
    assert res.radius == r
    # brute-force compositions: each atom goes to the nearer phase mean
    comp, counts = _composition_loops(x, y, sc, r, 3)
    cent = np.array(
        [comp[sc == 2].mean(axis=0), comp[(sc == 0) | (sc == 1)].mean(axis=0)]
    )
    np.testing.assert_allclose(res.composition, cent, rtol=1e-12)
    dist = 0.5 * np.abs(comp[:, None, :] - cent[None]).sum(axis=2)
    np.testing.assert_array_equal(res.labels, dist.argmin(axis=1))
    # boundary: share of the other phase's mean in the window >= 1/4
    best = dist.argmin(axis=1)
    c1, c2 = cent[best], cent[1 - best]
    alpha = ((comp - c1) * (c2 - c1)).sum(axis=1) / ((c2 - c1) ** 2).sum(axis=1)
    np.testing.assert_array_equal(res.boundary, alpha >= 0.25)
    assert 0 < res.boundary.sum() < 0.3 * x.size
    # far from the boundary, no boundary atoms
    xb = 5.0 * 11.5
    assert not res.boundary[np.abs(x - xb) > r + 0.1].any()
    # a larger share gives fewer boundary atoms, exactly as the formula says
    res2 = phases.find_phases(x, y, sc, radius=r, boundary_share=0.4)
    np.testing.assert_array_equal(res2.boundary, alpha >= 0.4)
    assert "2 phase(s)" in res.reason


def test_find_phases_min_count_and_one_phase():
    x, y, sc, left = _two_phase_scene()
    # unlabelled atoms still get a phase when their window holds enough
    sc2 = sc.copy()
    sc2[::7] = -1
    r = 9.5
    comp, counts = _composition_loops(x, y, sc2, r, 3)
    res = phases.find_phases(x, y, sc2, radius=r, min_count=int(np.median(counts)))
    ok = counts >= int(np.median(counts))
    assert (res.labels[~ok] == -1).all()
    assert (res.labels[ok] >= 0).all()
    # the left phase alone: one phase, every class in it
    res = phases.find_phases(x[left], y[left], sc[left], radius=r)
    assert res.n_phases == 1 and res.classes == [[0, 1]]
    assert (res.labels >= 0).all() and not res.boundary.any()
    assert "one phase" in res.reason
    # nothing labelled
    res = phases.find_phases(x, y, np.full(x.size, -1), radius=r)
    assert res.n_phases == 0 and (res.labels == -1).all()
    assert res.composition.shape[0] == 0 and res.classes == []
    assert not res.boundary.any()


def test_find_phases_local_class_is_not_a_phase():
    x, y, sc, left = _two_phase_scene()
    # a line of class 3 atoms along the interface: a wall, not a phase
    i = np.rint(x / 5.0).astype(int)
    sc = sc.copy()
    sc[i == 12] = 3
    res = phases.find_phases(x, y, sc, radius=9.5)
    assert res.n_phases == 2
    assert res.boundary_classes == [3]
    assert res.class_phase[3] == -1
    assert "local classes" in res.reason
    # a small square region of class 3 (16 atoms < min_atoms 20): local;
    # with min_atoms 10 and min_interior 4 it is a phase
    j = np.rint(y / 4.0).astype(int)
    sc2 = np.where(left, (i + j) % 2, 2)
    patch = (i >= 22) & (i < 26) & (j >= 6) & (j < 10)
    sc2[patch] = 3
    res = phases.find_phases(x, y, sc2, radius=6.5)
    assert 3 in res.boundary_classes
    res = phases.find_phases(
        x, y, sc2, radius=6.5, min_atoms=4, min_fraction=0.01, min_interior=4
    )
    assert res.n_phases == 3 and [3] in res.classes


def test_find_phases_min_fraction():
    x, y, sc, left = _two_phase_scene()
    # right phase holds 288 of 480 labelled atoms (60 %): removed above that
    res = phases.find_phases(x, y, sc, radius=9.5, min_fraction=0.41)
    assert res.n_phases == 1
    res = phases.find_phases(x, y, sc, radius=9.5, min_fraction=0.39)
    assert res.n_phases == 2


def test_boundary_points_loops():
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 20, 30)
    y = rng.uniform(0, 12, 30)
    lab = (x > 9).astype(int) + (y > 7).astype(int) * 2
    lab[3] = -1
    r = 4.1
    b = phases.boundary_points(x, y, lab, max_distance=r)
    want = sorted(
        ((x[i] + x[j]) / 2, (y[i] + y[j]) / 2, min(lab[i], lab[j]), max(lab[i], lab[j]))
        for i in range(30)
        for j in range(i + 1, 30)
        if lab[i] >= 0
        and lab[j] >= 0
        and lab[i] != lab[j]
        and np.hypot(x[i] - x[j], y[i] - y[j]) <= r
    )
    got = sorted(zip(b["x"], b["y"], b["a"], b["b"]))
    assert len(got) == len(want) > 5
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-12)
    # default: 1.25 times the median nearest-neighbour distance
    xs = np.array([0.0, 2.0, 4.0, 6.5, 8.5, 10.5])
    # nn distances 2, 2, 2, 2, 2, 2 -> r = 2.5: the 2.5 gap 4 - 6.5 is kept
    b = phases.boundary_points(xs, np.zeros(6), [0, 0, 0, 1, 1, 1])
    assert b["x"].tolist() == [5.25] and b["a"].tolist() == [0]
    assert b["b"].tolist() == [1]
    b = phases.boundary_points(xs, np.zeros(6), [0, 0, 1, 1, 2, 2])
    assert sorted(zip(b["x"].tolist(), b["a"].tolist(), b["b"].tolist())) == [
        (3.0, 0, 1),
        (7.5, 1, 2),
    ]
    b = phases.boundary_points(xs, np.zeros(6), [0, 0, 1, 1, 2, 2], max_distance=2.6)
    assert sorted(b["x"].tolist()) == [3.0, 7.5]
    b = phases.boundary_points(xs, np.zeros(6), [2, 2, 2, 0, 0, 0], max_distance=2.4)
    assert b["x"].size == 0
    e = phases.boundary_points([0.0], [0.0], [1])
    assert e["x"].size == e["y"].size == e["a"].size == e["b"].size == 0


def test_local_mean_loops():
    rng = np.random.default_rng(9)
    x = rng.uniform(0, 20, 25)
    y = rng.uniform(0, 10, 25)
    v = np.column_stack([rng.normal(size=25), rng.normal(size=25)])
    v[4, 1] = np.nan
    mask = rng.uniform(size=25) > 0.3
    r = 4.4
    m, c = phases.local_mean(x, y, v, r, mask=mask)
    for i in range(25):
        src = [
            j
            for j in range(25)
            if mask[j]
            and np.isfinite(v[j]).all()
            and np.hypot(x[i] - x[j], y[i] - y[j]) <= r
        ]
        assert c[i] == len(src)
        if src:
            np.testing.assert_allclose(m[i], v[src].mean(axis=0), rtol=1e-12)
        else:
            assert np.isnan(m[i]).all()
    m1, c1 = phases.local_mean(x, y, v[:, 0], r)
    assert m1.shape == (25,)
    for i in range(25):
        src = [j for j in range(25) if np.hypot(x[i] - x[j], y[i] - y[j]) <= r]
        assert m1[i] == pytest.approx(v[src, 0].mean(), rel=1e-12)


def test_unit_cell_oblique_motif():
    # oblique cell a1 = (9, 1), a2 = (2, 11); class 1 at (0.25, 0.5), class 2
    # at (0.6, 0.1)
    a1, a2 = np.array([9.0, 1.0]), np.array([2.0, 11.0])
    j, i = np.mgrid[0:8, 0:9]
    base = i.ravel()[:, None] * a1 + j.ravel()[:, None] * a2 + [5.0, 3.0]
    fr = {0: (0.0, 0.0), 1: (0.25, 0.5), 2: (0.6, 0.1)}
    pts, sc = [], []
    for c, (u, v) in fr.items():
        pts.append(base + u * a1 + v * a2)
        sc.append(np.full(len(base), c))
    p = np.concatenate(pts)
    sc = np.concatenate(sc)

    def vectors(xx, yy, types):
        return {"vectors": np.array([a1, a2])}

    cell = phases.unit_cell(p[:, 0], p[:, 1], sc, find_vectors=vectors)
    np.testing.assert_array_equal(cell["vectors"], [a1, a2])
    assert [m["site_class"] for m in cell["motif"]] == [0, 1, 2]
    for m in cell["motif"]:
        u, v = fr[m["site_class"]]
        assert m["fractional"] == pytest.approx((u, v), abs=1e-4)
        np.testing.assert_allclose(m["offset"], u * a1 + v * a2, atol=1e-3)
        assert m["n_atoms"] == len(base)


# ---------------------------------------------------------------------------
# sublattices
# ---------------------------------------------------------------------------


def _local_normalise_brute(x, y, v, nn):
    n = x.size
    k = min(nn + 1, n)
    lo_g, hi_g = np.nanpercentile(v, [25, 75])
    floor = max(1e-3 * (hi_g - lo_g), 1e-12 * np.nanmax(np.abs(v)))
    out = np.empty(n)
    for i in range(n):
        d = np.hypot(x - x[i], y - y[i])
        w = np.argsort(d, kind="stable")[:k]
        assert w[0] == i
        known = np.isfinite(v[w])
        A = np.column_stack([np.ones(k), x[w] - x[i], y[w] - y[i]])
        coef = np.linalg.lstsq(A[known], v[w][known], rcond=None)[0]
        res = v[w] - A @ coef
        q1, q3 = np.nanquantile(res, [0.25, 0.75])
        out[i] = (res[0] - 0.5 * (q1 + q3)) / max(q3 - q1, floor)
    return out


def test_local_normalise_brute_force():
    rng = np.random.default_rng(21)
    yy, xx = np.mgrid[0:7, 0:8].reshape(2, -1).astype(float)
    x = 10.0 * xx + rng.uniform(-1.5, 1.5, xx.size)
    y = 12.0 * yy + rng.uniform(-1.5, 1.5, xx.size)
    v = 3.0 + 0.05 * x - 0.02 * y + rng.normal(0, 1.0, xx.size)
    v[[5, 30]] = np.nan
    for nn in (24, 9):
        got = translations.local_normalise(x, y, v, n_neighbours=nn)
        want = _local_normalise_brute(x, y, v, nn)
        assert np.isnan(got[[5, 30]]).all()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # an additive ramp and a positive scale do not change it
    base = translations.local_normalise(x, y, v, 9)
    np.testing.assert_allclose(
        translations.local_normalise(x, y, 2.5 * v + 7 * x - 3 * y + 4, 9),
        base,
        rtol=1e-5,
        atol=1e-6,
    )
    assert translations.local_normalise(
        [0.0, 1.0], [0.0, 0.0], [1.0, 2.0]
    ).tolist() == [
        0.0,
        0.0,
    ]


def test_row_quantiles_against_numpy():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(6, 9))
    a[1, [2, 5]] = np.nan
    a[3, :8] = np.nan
    a[4, :] = np.nan
    lo, hi = translations._row_quantiles(a, (0.25, 0.75))
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        want = np.nanquantile(a, [0.25, 0.75], axis=1)
    np.testing.assert_allclose(lo, want[0], rtol=1e-12)
    np.testing.assert_allclose(hi, want[1], rtol=1e-12)


def _partition_brute(means, weights, n):
    k = len(means)
    best = (np.inf, None)
    for lab in itertools.product(range(n), repeat=k):
        if len(set(lab)) != n:
            continue
        lab = np.array(lab)
        cost = 0.0
        for g in range(n):
            m, w = means[lab == g], weights[lab == g]
            cost += np.sum(w * (m - np.sum(w * m) / np.sum(w)) ** 2)
        if cost < best[0] - 1e-12:
            best = (cost, lab)
    lab = best[1]
    # relabel: 0 = brightest group
    order = np.argsort([-means[lab == g].mean() for g in range(n)])
    remap = np.empty(n, int)
    remap[order] = np.arange(n)
    return remap[lab]


def test_partition_optimal_brute_force():
    rng = np.random.default_rng(4)
    for trial in range(6):
        k = 5
        means = rng.normal(size=k) * 2
        weights = rng.integers(1, 30, k)
        for n in (1, 2, 3):
            got = sublattices._partition(means, weights, n)
            np.testing.assert_array_equal(got, _partition_brute(means, weights, n))
    # the weights matter: a heavy middle site goes with its nearer side
    m = np.array([1.0, 0.52, 0.0])
    assert sublattices._partition(m, np.array([1, 1, 1]), 2).tolist() == [0, 0, 1]
    # {0, 1}{2}: 3 (0.12)^2 + (0.36)^2 = 0.173 > {0}{1, 2}: 0.52^2 / 2 = 0.135
    assert sublattices._partition(m, np.array([3, 1, 1]), 2).tolist() == [0, 1, 1]


def test_same_lattice_and_basis_of():
    b1 = np.column_stack([[10.0, 1.0], [2.0, 12.0]])
    uni = np.array([[1, 1], [0, 1]])  # det 1: the same lattice
    assert sublattices._same_lattice(b1, b1 @ uni)
    assert sublattices._same_lattice(b1, b1 @ np.array([[0, 1], [1, 0]]))
    assert not sublattices._same_lattice(b1, b1 @ np.array([[2, 0], [0, 1]]))
    # off by 0.1 of a cell: the same; by 0.2: not
    assert sublattices._same_lattice(b1, b1 @ np.array([[1.1, 0], [0, 1]]))
    assert not sublattices._same_lattice(b1, b1 @ np.array([[1.0, 0.2], [0, 1]]))
    # basis: two shortest non-collinear, the second reduced against the first
    vecs = np.array([[10.0, 0.0], [20.0, 1.0], [13.0, 11.0], [0.0, 30.0]])
    a1, a2 = sublattices._basis_of(vecs)
    np.testing.assert_allclose(a1, [10.0, 0.0])
    np.testing.assert_allclose(a2, [3.0, 11.0])
    assert sublattices._basis_of(vecs[:1]) is None
    assert sublattices._basis_of(np.array([[10.0, 0.0], [20.0, 1.0]])) is None


# An oblique three-site structure: cell a1 = (11, 1.5), a2 = (3, 13);
# sites at fractional (0, 0), (0.5, 0.2), (0.25, 0.6), bright, middle, dim.
_A1, _A2 = np.array([11.0, 1.5]), np.array([3.0, 13.0])
_SITES = [(0.0, 0.0), (0.5, 0.2), (0.25, 0.6)]


def _three_site(ni=10, nj=9, levels=(1.0, 0.8, 0.3), noise=0.03, seed=0):
    rng = np.random.default_rng(seed)
    j, i = np.mgrid[0:nj, 0:ni]
    base = i.ravel()[:, None] * _A1 + j.ravel()[:, None] * _A2 + [4.0, 3.0]
    pts, site = [], []
    for s, (u, v) in enumerate(_SITES):
        pts.append(base + u * _A1 + v * _A2)
        site.append(np.full(len(base), s))
    p = np.concatenate(pts)
    site = np.concatenate(site)
    grad = 1.0 + p[:, 0] / p[:, 0].max()  # 2x slow gradient along x
    inten = np.asarray(levels)[site] * grad + rng.normal(0, noise, len(site))
    return p[:, 0], p[:, 1], inten, site


def _lattice_equal(b_true, b):
    f = np.linalg.solve(b_true, b)
    return np.allclose(f, np.round(f), atol=0.05) and abs(
        abs(np.linalg.det(b)) - abs(np.linalg.det(b_true))
    ) < 0.05 * abs(np.linalg.det(b_true))


def test_find_translations_three_site_cell():
    x, y, inten, site = _three_site()
    q = translations.local_normalise(x, y, inten)
    t = translations.find_translations(x, y, q)
    b = np.column_stack([t["a1"], t["a2"]])
    assert _lattice_equal(np.column_stack([_A1, _A2]), b)
    # a1 is the shortest translation, a2 reduced against it
    assert np.hypot(*t["a1"]) <= np.hypot(*t["a2"]) + 1e-9
    proj = np.dot(t["a2"], t["a1"]) / np.dot(t["a1"], t["a1"])
    assert abs(proj) <= 0.5 + 1e-9
    # brute-force nearest-neighbour distance
    d = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
    np.fill_diagonal(d, np.inf)
    assert t["nn_distance"] == pytest.approx(np.median(d.min(axis=1)), rel=1e-9)
    # the vector from site 0 to site 1 matches geometrically but is not a
    # translation (it pairs bright with middle): find it among the candidates
    v01 = 0.5 * _A1 + 0.2 * _A2
    c = t["candidates"]
    hit = np.hypot(*(c - v01).T).min() < 1.0 or np.hypot(*(c + v01).T).min() < 1.0
    if hit:
        m = np.argmin(np.minimum(np.hypot(*(c - v01).T), np.hypot(*(c + v01).T)))
        assert not t["is_translation"][m]
    # every candidate flagged a translation is a lattice vector
    inv = np.linalg.inv(np.column_stack([_A1, _A2]))
    for v in c[t["is_translation"]]:
        f = inv @ v
        np.testing.assert_allclose(f, np.round(f), atol=0.08)
    # geometry alone (min_fraction above any): nothing is a translation
    t2 = translations.find_translations(x, y, q, min_fraction=1.01)
    assert not t2["is_translation"].any() and np.isnan(t2["a1"]).all()


def test_label_sublattices_three_sites_truth():
    x, y, inten, site = _three_site()
    labels, info = sublattices.label_sublattices(x, y, inten, 3)
    assert info["method"] == "structure"
    assert info["n_sites"] == 3
    np.testing.assert_array_equal(labels, site)  # 0 brightest, 2 dimmest
    b = np.column_stack([info["a1"], info["a2"]])
    assert _lattice_equal(np.column_stack([_A1, _A2]), b)
    np.testing.assert_array_equal(info["site_size"], [90, 90, 90])
    # site offsets (fractions of the found cell) as pixel vectors, relative to
    # site 0, equal the true ones modulo the lattice
    inv = np.linalg.inv(np.column_stack([_A1, _A2]))
    s_of = info["site"]
    off = {}
    for s in range(3):
        s_site = int(np.bincount(site[s_of == s]).argmax())
        off[s_site] = info["site_offsets"][s] @ np.array([info["a1"], info["a2"]])
    for s in (1, 2):
        rel = inv @ (off[s] - off[0])
        want = np.subtract(_SITES[s], _SITES[0])
        np.testing.assert_allclose((rel - want) - np.round(rel - want), 0.0, atol=0.02)
    # mean normalised intensity per site, brute force
    q = info["q"]
    for s in range(3):
        assert info["site_intensity"][s] == pytest.approx(q[s_of == s].mean())
    # two labels: the middle (0.8) joins the bright (1.0), the dim is alone
    two, info2 = sublattices.label_sublattices(x, y, inten, 2)
    np.testing.assert_array_equal(two, np.where(site == 2, 1, 0))
    # auto: one label per site
    auto, info3 = sublattices.label_sublattices(x, y, inten, "auto")
    np.testing.assert_array_equal(auto, site)
    one, _ = sublattices.label_sublattices(x, y, inten, 1)
    assert (one == 0).all()
    # the order follows the intensity: reversing the levels reverses labels
    x2, y2, inten2, site2 = _three_site(levels=(0.3, 0.8, 1.0))
    lab2, _ = sublattices.label_sublattices(x2, y2, inten2, 3)
    np.testing.assert_array_equal(lab2, 2 - site2)


def test_label_sublattices_vacancy_and_nan_intensity():
    x, y, inten, site = _three_site(seed=3)
    keep = np.ones(x.size, bool)
    keep[[40, 41, 130]] = False  # two atoms of site 0 and one of site 1 missing
    inten = inten.copy()
    inten[[7, 100]] = np.nan  # unknown intensity: labelled by the site alone
    labels, info = sublattices.label_sublattices(x[keep], y[keep], inten[keep], 3)
    np.testing.assert_array_equal(labels, site[keep])


def test_label_sublattices_fallbacks():
    # fewer than 8 atoms: local intensity, labels by a 1D split
    x = np.array([0.0, 10.0, 20.0, 0.0, 10.0, 20.0, 5.0])
    y = np.array([0.0, 0.0, 0.0, 10.0, 10.0, 10.0, 5.0])
    inten = np.array([5.0, 1.0, 5.2, 0.9, 5.1, 1.1, 4.9])
    with pytest.warns(UserWarning, match="fewer than 8 atoms"):
        labels, info = sublattices.label_sublattices(x, y, inten, 2)
    assert info["method"] == "local intensity"
    np.testing.assert_array_equal(labels, np.where(inten > 3, 0, 1))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one label: nothing is split, no warning
        one, info = sublattices.label_sublattices(x, y, inten, "auto")
    assert (one == 0).all() and info["n_sites"] == 0
    # a Bravais lattice has one site: 2 labels fall back, with a warning
    j, i = np.mgrid[0:9, 0:10]
    xx, yy = 11.0 * i.ravel() + 2.0 * j.ravel(), 13.0 * j.ravel()
    ii = np.random.default_rng(0).normal(1.0, 0.05, xx.size)
    with pytest.warns(UserWarning, match="fewer than `n_sublattices`"):
        labels, info = sublattices.label_sublattices(xx, yy, ii, 2)
    assert info["n_sites"] == 1 and info["method"] == "local intensity"
    one, info = sublattices.label_sublattices(xx, yy, ii, "auto")
    assert (one == 0).all() and info["n_sites"] == 1
    assert _lattice_equal(
        np.column_stack([[11.0, 0.0], [2.0, 13.0]]),
        np.column_stack([info["a1"], info["a2"]]),
    )


# ---------------------------------------------------------------------------
# defects
# ---------------------------------------------------------------------------

_V = np.array([[10.0, 1.0], [3.0, 12.0]])  # oblique, shortest 10.05 px


def _oblique(ni=9, nj=8, origin=(6.0, 5.0)):
    j, i = np.mgrid[0:nj, 0:ni]
    p = i.ravel()[:, None] * _V[0] + j.ravel()[:, None] * _V[1] + origin
    return p, i.ravel(), j.ravel()


def _site(p, i, j, a, b):
    return int(np.flatnonzero((i == a) & (j == b))[0])


def test_find_vacancies_interior_edge_corner():
    p, i, j = _oblique()
    gone = [_site(p, i, j, 4, 3), _site(p, i, j, 6, 0), _site(p, i, j, 0, 0)]
    keep = np.ones(len(p), bool)
    keep[gone] = False
    vx, vy, votes = defects.find_vacancies(p[keep, 0], p[keep, 1], _V)
    # interior (4 votes) and the bottom-edge site (3 votes, seen along +-v1);
    # the corner is seen from two sides at an angle: not a vacancy; sorted by
    # row (y) then column
    want = sorted([(p[gone[0]], 4), (p[gone[1]], 3)], key=lambda t: (t[0][1], t[0][0]))
    np.testing.assert_allclose(vx, [w[0][0] for w in want], atol=1e-9)
    np.testing.assert_allclose(vy, [w[0][1] for w in want], atol=1e-9)
    assert votes.tolist() == [w[1] for w in want]
    # min_votes 4: only the interior one
    vx, vy, votes = defects.find_vacancies(p[keep, 0], p[keep, 1], _V, min_votes=4)
    np.testing.assert_allclose(np.c_[vx, vy], p[gone[:1]], atol=1e-9)
    assert votes.tolist() == [4]
    # a perfect lattice has none (the sites beyond its edges are not vacancies)
    vx, vy, votes = defects.find_vacancies(p[:, 0], p[:, 1], _V, min_votes=1)
    assert vx.size == 0


def test_find_vacancies_pair_strain_and_tolerance():
    p, i, j = _oblique(ni=10, nj=9)
    # two neighbouring empty sites along v1: each seen by 3 atoms
    gone = [_site(p, i, j, 4, 4), _site(p, i, j, 5, 4)]
    keep = np.ones(len(p), bool)
    keep[gone] = False
    # a smooth 6 % strain along x over the field does not make vacancies
    q = p.copy()
    q[:, 0] = q[:, 0] * (1 + 0.06 * q[:, 0] / q[:, 0].max())
    vx, vy, votes = defects.find_vacancies(q[keep, 0], q[keep, 1], _V)
    np.testing.assert_allclose(np.c_[vx, vy], q[gone], atol=0.3)
    assert votes.tolist() == [3, 3]
    # an atom displaced from its site by 0.35 spacing: empty at tolerance 0.3,
    # filled at 0.4
    d = 0.35 * np.hypot(*_V[0])
    r = p.copy()
    s = _site(p, i, j, 3, 5)
    r[s] += [0.0, d]
    vx, vy, _ = defects.find_vacancies(r[:, 0], r[:, 1], _V, tolerance=0.3)
    np.testing.assert_allclose(np.c_[vx, vy], p[[s]], atol=1e-9)
    vx, _, _ = defects.find_vacancies(r[:, 0], r[:, 1], _V, tolerance=0.4)
    assert vx.size == 0


def test_find_vacancies_extent_border():
    p, i, j = _oblique(origin=(12.0, 11.0))
    s_in = _site(p, i, j, 3, 1)  # (45, 26)
    keep = np.ones(len(p), bool)
    keep[s_in] = False
    x, y = p[keep, 0], p[keep, 1]
    px, py = p[s_in]
    # the site is kept while it lies more than half a spacing inside the image
    h = 0.5 * np.hypot(*_V[0])
    ny_ok = int(np.ceil(py + h + 0.5 + 0.01))
    vx, _, _ = defects.find_vacancies(x, y, _V, extent=(ny_ok, 500))
    assert vx.tolist() == pytest.approx([px])
    vx, _, _ = defects.find_vacancies(x, y, _V, extent=(ny_ok - 1, 500))
    assert vx.size == 0
    nx_ok = int(np.ceil(px + h + 0.5 + 0.01))
    assert defects.find_vacancies(x, y, _V, extent=(500, nx_ok))[0].size == 1
    assert defects.find_vacancies(x, y, _V, extent=(500, nx_ok - 1))[0].size == 0


def test_find_interstitials_truth():
    p, i, j = _oblique()
    extra = np.array(
        [[p[_site(p, i, j, 4, 3), 0] + 4.6, p[_site(p, i, j, 4, 3), 1] + 5.3]]
    )
    near_site = p[_site(p, i, j, 2, 5)] + [0.8, -0.5]  # a duplicate: on the lattice
    stray = np.array([[-60.0, -60.0]])  # in vacuum: not an interstitial
    q = np.concatenate([p, extra, [near_site], stray])
    out = defects.find_interstitials(q[:, 0], q[:, 1], _V)
    assert np.flatnonzero(out).tolist() == [len(p)]
    # an atom 0.35 spacing off its (otherwise empty) site: interstitial at
    # tolerance 0.3, a displaced lattice atom at 0.4
    r = p.copy()
    s = _site(p, i, j, 5, 4)
    r[s] += [0.35 * np.hypot(*_V[0]), 0.0]
    assert np.flatnonzero(
        defects.find_interstitials(r[:, 0], r[:, 1], _V)
    ).tolist() == [s]
    assert not defects.find_interstitials(r[:, 0], r[:, 1], _V, tolerance=0.4).any()


def test_surrounded_sectors():
    p, i, j = _oblique()
    centre = p[_site(p, i, j, 4, 3)] + [3.0, 4.0]
    corner = p[_site(p, i, j, 0, 0)] - [1.0, 1.0]
    edge = p[_site(p, i, j, 4, 0)] - [0.0, 3.0]  # just above the top row
    reach = 2.0 * 12.4
    got = defects._surrounded(
        p, np.array([centre, corner, edge, [500.0, 500.0]]), reach
    )
    assert got.tolist() == [True, False, False, False]


@pytest.fixture(scope="module")
def dislocation_scene():
    from hyperspy_localcryst.data.synthetic import dislocation_positions

    v = np.array([[11.0, 0.0], [2.5, 14.0]])
    return {
        b: dislocation_positions((150, 170), v, burgers=b, margin=5)
        for b in [(1, 0), (0, -1), (1, 1)]
    }


@pytest.mark.parametrize("b", [(1, 0), (0, -1), (1, 1)])
def test_find_dislocations_burgers_and_core(dislocation_scene, b):
    t = dislocation_scene[b]
    v = np.asarray(t["vectors"], float)
    pos, burgers, n = defects.find_dislocations(t["x"], t["y"], v)
    assert n.tolist() == [list(b)]
    np.testing.assert_allclose(burgers, [np.asarray(b) @ v], atol=1e-12)
    np.testing.assert_allclose(burgers[0], t["burgers"], atol=1e-9)
    assert np.hypot(*(pos[0] - t["core"])) < 11.0
    # the core is dropped when the extent leaves it outside
    cx, cy = pos[0]
    assert defects.find_dislocations(
        t["x"], t["y"], v, extent=(150, int(np.floor(cx + 0.5)) - 1)
    )[0].shape == (0, 2)
    assert defects.find_dislocations(
        t["x"], t["y"], v, extent=(int(np.ceil(cy + 0.5)), 170)
    )[0].shape == (1, 2)
    assert defects.find_dislocations(
        t["x"], t["y"], v, extent=(int(np.floor(cy + 0.5)) - 1, 170)
    )[0].shape == (0, 2)


def test_find_dislocations_none_in_a_strained_lattice():
    p, i, j = _oblique(ni=12, nj=10)
    q = p.copy()
    q[:, 0] += 0.04 * (q[:, 1] - 40.0) ** 2 / 10  # smooth bending
    pos, b, n = defects.find_dislocations(q[:, 0], q[:, 1], _V)
    assert pos.shape == (0, 2) and n.shape == (0, 2)


def test_find_dislocations_labels_choose_the_sublattice(dislocation_scene):
    from hyperspy_localcryst.data.synthetic import dislocation_positions

    v = np.array([[11.0, 0.0], [2.5, 14.0]])
    t = dislocation_positions(
        (150, 170), v, burgers=(0, 1), margin=5, basis=((0.0, 0.0), (0.5, 0.5))
    )
    pos, b, n = defects.find_dislocations(t["x"], t["y"], v, labels=t["site"])
    assert n.tolist() == [[0, 1]]
    assert np.hypot(*(pos[0] - t["core"])) < 11.0


def test_find_defects_groups_and_measured_vectors():
    # group 0: the oblique lattice on the left with a vacancy; group 1: a
    # rectangular 9 x 11 px lattice on the right with an interstitial
    p0, i0, j0 = _oblique(ni=7, nj=8)
    gone = _site(p0, i0, j0, 3, 4)
    p0 = np.delete(p0, gone, axis=0)
    j, i = np.mgrid[0:8, 0:7]
    p1 = np.column_stack([9.0 * i.ravel() + 150.0, 11.0 * j.ravel() + 5.0])
    extra = p1[20] + [4.1, 5.2]
    p = np.concatenate([p0, p1, [extra], [[np.nan, np.nan]]])
    g = np.concatenate([np.zeros(len(p0)), np.ones(len(p1) + 1), [np.nan]])
    d = defects.find_defects(p[:, 0], p[:, 1], groups=g)
    assert d["type"].tolist() == ["vacancy", "interstitial"]
    vac_true = _oblique(ni=7, nj=8)[0][gone]
    np.testing.assert_allclose([d["x"][0], d["y"][0]], vac_true, atol=1e-6)
    assert d["x"][1] == extra[0] and d["y"][1] == extra[1]
    assert d["atom"].tolist() == [-1, len(p0) + len(p1)]
    assert d["group"].tolist() == [0.0, 1.0]
    assert d["votes"].tolist() == [4, 0]
    assert np.isnan(d["burgers_x"]).all() and np.isnan(d["burgers_y"]).all()
    assert sorted(d["vectors"]) == [0, 1]
    assert _lattice_equal(_V.T, d["vectors"][0].T)
    assert _lattice_equal(np.array([[9.0, 0.0], [0.0, 11.0]]), d["vectors"][1].T)
    # given vectors and groups: refused
    with pytest.raises(ValueError):
        defects.find_defects(p[:, 0], p[:, 1], vectors=_V, groups=g)


def test_find_defects_dislocation_row(dislocation_scene):
    t = dislocation_scene[(1, 1)]
    v = np.asarray(t["vectors"], float)
    d = defects.find_defects(t["x"], t["y"], vectors=v, extent=(150, 170))
    kinds = d["type"].tolist()
    assert kinds.count("dislocation") == 1
    k = kinds.index("dislocation")
    np.testing.assert_allclose([d["burgers_x"][k], d["burgers_y"][k]], t["burgers"])
    assert np.hypot(d["x"][k] - t["core"][0], d["y"][k] - t["core"][1]) < 11.0
    assert d["atom"][k] == -1 and d["votes"][k] == 0


@pytest.mark.parametrize("deg", [60, 90, 120, 180, 240, 270, 300])
def test_find_variants_every_rotation(deg):
    # an asymmetric neighbourhood and its copy rotated by deg: only R<deg> maps
    b = V_ASYM @ _rot_image(deg).T
    g = symmetry.find_variants(np.stack([V_ASYM, b]))
    assert g[0]["operations"] == ["1", f"R{deg}"]
    assert g[0]["residuals"][1] == pytest.approx(0.0, abs=1e-12)


def test_best_operation_rotation_within_tolerance_beats_a_better_mirror():
    # a polar neighbourhood, nearly symmetric about x: its mirror image about
    # the y axis (m90) is mapped exactly by m90 and within eps by R180
    a = np.array([[2.0, 0.0], [0.3, 2.1], [-1.6, 0.0], [0.3, -2.1], [1.0, 1.2]])
    a = np.concatenate([a, [[1.0, -1.2]]])
    a[4, 1] += 0.05  # m0 broken a little
    b = a @ _mirror_image(90.0).T
    eps = float(symmetry.set_residual(a @ symmetry.operation_matrix("R180").T, b))
    assert 0 < eps < 0.2
    assert symmetry._best_operation(a, b, eps)[0] == "R180"
    assert symmetry._best_operation(a, b, 2 * eps)[0] == "R180"
    name, r = symmetry._best_operation(a, b, 0.5 * eps)
    assert name == "m90" and r == pytest.approx(0.0, abs=1e-12)
    # default tolerance 0: the exact mirror wins
    assert symmetry._best_operation(a, b)[0] == "m90"
    assert symmetry._best_operation(V_ASYM, V_ASYM @ _mirror_image(0.0).T)[0] == "m0"


def test_mirror_axis_reported_in_0_180():
    # an isosceles triangle with its apex at -30 deg: mirror line at 150 deg
    tri = np.array([[3.0, 0.0], [-1.0, 1.5], [-1.0, -1.5]]) @ _rot_image(-30.0).T
    r = symmetry.symmetry_residuals(tri)
    assert r["m"][0] == pytest.approx(0.0, abs=1e-12)
    assert r["mirror_axis"][0] == pytest.approx(150.0, abs=1e-9)


def test_symmetry_residuals_several_neighbourhoods_independent():
    # three unrelated asymmetric neighbourhoods at once: each its own answer
    rng = np.random.default_rng(8)
    v = rng.normal(size=(3, 5, 2)) * 2
    r = symmetry.symmetry_residuals(v)
    for i in range(3):
        one = symmetry.symmetry_residuals(v[i])
        res, axis = _mirror_brute(v[i])
        assert r["m"][i] == pytest.approx(res, rel=1e-10)
        assert r["mirror_axis"][i] == pytest.approx(axis, abs=1e-9)
        for k in ("2", "3", "4", "6", "m", "mirror_axis"):
            assert r[k][i] == pytest.approx(one[k][0], rel=1e-12)


def _rotation_best_brute(a, b):
    return min(
        _set_residual_loops(a @ _rot_image(d).T, b)
        for d in (0, 60, 90, 120, 180, 240, 270, 300)
    )


def _two_set_mirror_brute(a, b):
    aa = np.degrees(np.arctan2(-a[:, 1], a[:, 0]))
    ab = np.degrees(np.arctan2(-b[:, 1], b[:, 0]))
    return min(
        _set_residual_loops(a @ _mirror_image(ax).T, b)
        for i in range(len(a))
        for j in range(len(b))
        for ax in ((aa[i] + ab[j]) / 2, (aa[i] + ab[j]) / 2 + 90)
    )


def test_best_operation_mirror_must_be_clearly_better():
    # b moves from the rotated copy of a (t = 0) to its mirror image (t = 1):
    # a mirror that maps only a little better than the best rotation is not
    # reported, one that maps much better is
    a = V_ASYM
    rot, mir = a @ _rot_image(90.0).T, a @ _mirror_image(20.0).T
    near_equal, clearly = [], []
    for t in (0.6, 0.65, 0.9, 0.95):
        b = (1 - t) * rot + t * mir
        ratio = _two_set_mirror_brute(a, b) / _rotation_best_brute(a, b)
        if 0.88 < ratio < 0.97:
            near_equal.append(b)
        elif 0.2 < ratio < 0.6:
            clearly.append(b)
    assert len(near_equal) == 2 and len(clearly) == 2
    # the choice is geometric: the same at any scale of the vectors
    for scale in (1.0, 4.0):
        for b in near_equal:
            name = symmetry._best_operation(scale * a, scale * b, 0.0)[0]
            assert name.startswith("R")
        for b in clearly:
            name, r = symmetry._best_operation(scale * a, scale * b, 0.0)
            assert name.startswith("m")
            assert r == pytest.approx(scale * _two_set_mirror_brute(a, b), rel=1e-9)


def test_find_variants_default_relative_quarter():
    a = V_ASYM
    b0 = a @ _rot_image(90.0).T
    out = {}
    for s in np.linspace(0.05, 1.5, 59):
        b = b0.copy()
        b[0] += [0.0, s]
        ratio = _set_residual_loops(a @ _rot_image(90.0).T, b) / _set_residual_loops(
            a, b
        )
        out[float(s)] = (ratio, b)
    above = [b for r, b in out.values() if 0.27 < r < 0.35]
    below = [b for r, b in out.values() if 0.15 < r < 0.23]
    assert above and below
    for b in above:
        assert symmetry.find_variants(np.stack([a, b])) == []
    for b in below:
        assert symmetry.find_variants(np.stack([a, b]))[0]["operations"] == ["1", "R90"]


def test_net_shifts_small_and_zero_factors():
    # any scaling of the factors: only loadings @ factors.T counts, also for
    # factors shorter than 1; a zero mode shifts nothing
    f = np.array([[0.1, 0.0], [0.05, 0.0], [0.2, 0.0], [-0.05, 0.0]])  # |f| < 1
    s = modes.net_shifts([[3.0, 2.0]], f)
    np.testing.assert_allclose(s[0, 0], -3.0 * np.array([0.3, 0.0]) / 2, atol=1e-12)
    np.testing.assert_array_equal(s[0, 1], [0.0, 0.0])
    per, rms = modes.mode_amplitudes([[3.0, 2.0]], f)
    assert per[0, 0] == pytest.approx(3.0 * np.sqrt(0.055) / np.sqrt(2))
    assert per[0, 1] == 0.0
    # the same modes with factors scaled by 0.01 and loadings by 100
    s2 = modes.net_shifts([[300.0, 200.0]], f / 100)
    np.testing.assert_allclose(s2, s, atol=1e-12)


def test_polar_modes_default_three_sigma():
    s = np.zeros((4, 2, 2))
    s[:, 0, 0] = [3.2, -3.2, 3.2, -3.2]
    s[:, 1, 0] = [2.8, -2.8, 2.8, -2.8]
    net, level, polar = modes.polar_modes(s, np.ones(4))
    assert polar.tolist() == [True, False]


def test_domain_size_inf_and_nan_cases():
    # z = +-1, mean 0, var 1; the pairs are given with their distances
    z = np.array([1.0, 1.0, -1.0, -1.0])
    like, unlike = [0, 1], [0, 2]

    def shells(cs):
        pairs, d = [], []
        for b, c in enumerate(cs, start=1):
            n_like = int(round((c + 1) / 2 * 100))
            pairs += [like] * n_like + [unlike] * (100 - n_like)
            d += [float(b)] * 100
        return np.array(pairs), np.array(d)

    # correlation rising with distance: no decay, inf
    p, d = shells([-0.4, 0.2])
    assert modes._domain_size(z, p, d, 1.0, 6) == np.inf
    # decaying, but towards a negative intercept: inf
    p, d = shells([-0.5, -0.9])
    assert modes._domain_size(z, p, d, 1.0, 6) == np.inf
    # a single shell: no slope, NaN
    p, d = shells([0.6])
    assert np.isnan(modes._domain_size(z, p, d, 1.0, 6))
    # fewer than 10 pairs in a shell: the shell is not used
    p, d = shells([0.8, 0.5])
    keep = np.r_[np.arange(100), np.arange(100, 109)]
    assert np.isnan(modes._domain_size(z, p[keep], d[keep], 1.0, 6))
    # two shells: Debye, 1 / (pi f (1 - f) (-slope / c0)), f = 1/2
    slope, c0 = -0.3, 1.1
    size = modes._domain_size(z, p, d, 1.0, 6)
    assert size == pytest.approx(1.0 / (np.pi * 0.25 * (-slope / c0)), rel=1e-9)
    # max_shells 1: only the first shell counts
    assert np.isnan(modes._domain_size(z, p, d, 1.0, 1))


def test_loading_pattern_domains_amplitude_modulated():
    # stripes of width 6 with amplitudes 0.5..1.5: the size is still the width
    yy, xx = np.mgrid[0:30, 0:48]
    xy = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
    amp = np.random.default_rng(3).uniform(0.5, 1.5, xx.size)
    z = np.where(xx % 12 < 6, 1.0, -1.0).ravel() * amp
    d = modes.loading_pattern(z, xy)
    assert d["pattern"] == "domains"
    assert d["scale"] == pytest.approx(6.0, rel=0.15)
    # a single wall with 2 shells: the area per wall length, 48 x 30 / 30
    half = np.where(xx < 24, 1.0, -1.0).ravel()
    d = modes.loading_pattern(half, xy, max_shells=2)
    assert d["scale"] == pytest.approx(48.0, rel=0.3)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_loading_pattern_white_noise_is_noise(seed):
    z = np.random.default_rng(100 + seed).normal(size=_XY.shape[0])
    d = modes.loading_pattern(z, _XY)
    assert d["pattern"] == "noise"
    zc = z - z.mean()
    W = np.zeros((z.size, z.size))
    dist = np.hypot(*(_XY[:, None, :] - _XY[None, :, :]).transpose(2, 0, 1))
    W[(dist > 0) & (dist < 1.3)] = 1.0
    moran, zscore = _moran_dense(zc, W)
    assert d["morans_i"] == pytest.approx(moran, rel=1e-9)
    assert d["morans_z"] == pytest.approx(zscore, rel=1e-9)


def test_loading_pattern_default_n_sigma():
    # a weak domain pattern under noise, z-score between 3 and 4.5
    rng = np.random.default_rng(0)
    dom = np.where(_XX % 12 < 6, 1.0, -1.0).ravel()
    noise = rng.normal(size=dom.size)
    W = np.zeros((dom.size, dom.size))
    dist = np.hypot(*(_XY[:, None, :] - _XY[None, :, :]).transpose(2, 0, 1))
    W[(dist > 0) & (dist < 1.3)] = 1.0
    hits = 0
    for a in np.linspace(0.4, 0.6, 21):
        z = a * dom + noise
        zscore = _moran_dense(z - z.mean(), W)[1]
        if 3.3 < zscore < 4.2:
            assert modes.loading_pattern(z, _XY)["pattern"] == "domains"
            assert modes.loading_pattern(z, _XY, n_sigma=4.5)["pattern"] == "noise"
            hits += 1
    assert hits >= 1


def test_loading_pattern_small_sets_and_exact_uniformity():
    # exactly 4 finite loadings are judged
    xy4 = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    d = modes.loading_pattern([5.0, 5.1, 4.9, 5.0], xy4)
    assert d["pattern"] == "uniform"
    assert d["uniformity"] == pytest.approx(5.0 / np.std([5.0, 5.1, 4.9, 5.0]))
    # |mean| / std exactly 1 is not uniform (strictly above)
    checker = np.where((_XX + _YY).ravel() % 2 == 0, 0.0, 2.0)
    d = modes.loading_pattern(checker, _XY)
    assert d["uniformity"] == 1.0
    assert d["pattern"] == "alternating"
    # the 5 % largest of 16 is one value
    rng = np.random.default_rng(6)
    z = rng.normal(size=16)
    xy = np.column_stack([np.arange(16) % 4, np.arange(16) // 4]).astype(float)
    d = modes.loading_pattern(z, xy)
    zc = z - z.mean()
    assert d["top_share"] == pytest.approx(np.max(zc**2) / np.sum(zc**2), rel=1e-12)


def test_loading_pattern_localised_threshold():
    # one spike over weak noise, its share of the sum of squares ~0.6
    rng = np.random.default_rng(12)
    base = rng.normal(size=_XY.shape[0])
    n_top = int(np.ceil(0.05 * base.size))
    for spike, want in ((0.0, "noise"),):
        assert modes.loading_pattern(base, _XY)["pattern"] == want
    found = 0
    for spike in np.linspace(5, 60, 56):
        z = base.copy()
        z[300] = spike
        zc = z - z.mean()
        share = np.sort(zc**2)[::-1][:n_top].sum() / np.sum(zc**2)
        if 0.55 < share < 0.7:
            d = modes.loading_pattern(z, _XY)
            assert d["top_share"] == pytest.approx(share, rel=1e-9)
            assert d["pattern"] == "localised"
            found += 1
        elif 0.3 < share < 0.45:
            assert modes.loading_pattern(z, _XY)["pattern"] == "noise"
            found += 1
    assert found >= 2


def test_loading_pattern_sublattice_share_three_groups_and_threshold():
    rng = np.random.default_rng(7)
    g = (_XX.ravel() % 3).astype(float)  # three sublattices, columns
    means = np.array([1.0, -0.2, -0.8])
    shares = []
    for noise in np.linspace(0.3, 1.6, 27):
        z = means[g.astype(int)] + noise * rng.normal(size=g.size)
        zc = z - z.mean()
        between = sum((g == u).sum() * zc[g == u].mean() ** 2 for u in (0, 1, 2))
        share = between / np.sum(zc**2)
        d = modes.loading_pattern(z, _XY, groups=g)
        assert d["sublattice_share"] == pytest.approx(share, rel=1e-9)
        if share > 0.5:
            assert d["pattern"] == "sublattice"
        else:
            assert d["pattern"] != "sublattice"
        shares.append(share)
    assert min(shares) < 0.45 and max(shares) > 0.6
    assert any(0.5 < s < 0.7 for s in shares)


def test_loading_pattern_groups_most_centres_win():
    # rows 0-17: domains; rows 18-23: a checkerboard; each its own group,
    # plus two centres in a group too small to judge
    g = np.where(_YY.ravel() < 18, 0.0, 1.0)
    dom = np.where(_XX % 12 < 6, 1.0, -1.0).ravel()
    chk = (-1.0) ** (_XX + _YY).ravel()
    z = np.where(g == 0, dom, chk)
    g[[0, 1]] = 2.0
    d = modes.loading_pattern(z, _XY, groups=g)
    assert d["pattern"] == "domains"
    # the other way round: the checkerboard holds most centres
    g2 = np.where(_YY.ravel() < 6, 0.0, 1.0)
    z2 = np.where(g2 == 0, dom, chk)
    assert modes.loading_pattern(z2, _XY, groups=g2)["pattern"] == "alternating"


def test_loading_pattern_groups_noise_and_scale_average():
    rng = np.random.default_rng(9)
    g = np.where(_YY.ravel() < 12, 0.0, 1.0)
    # noise in every group: noise
    d = modes.loading_pattern(rng.normal(size=g.size), _XY, groups=g)
    assert d["pattern"] == "noise"
    # domains of two widths in the two groups: the size is the count-weighted
    # mean of each group's own size
    narrow = np.where(_XX % 8 < 4, 1.0, -1.0).ravel()
    wide = np.where(_XX % 16 < 8, 1.0, -1.0).ravel()
    g2 = np.where(_YY.ravel() < 8, 0.0, 1.0)  # 208 and 416 centres
    z = np.where(g2 == 0, narrow, wide)
    d = modes.loading_pattern(z, _XY, groups=g2)
    assert d["pattern"] == "domains"
    s0 = modes.loading_pattern(z[g2 == 0], _XY[g2 == 0])
    s1 = modes.loading_pattern(z[g2 == 1], _XY[g2 == 1])
    assert s0["pattern"] == s1["pattern"] == "domains"
    assert s0["scale"] < s1["scale"]
    want = (208 * s0["scale"] + 416 * s1["scale"]) / 624
    assert d["scale"] == pytest.approx(want, rel=1e-9)
    # the other outputs are those of the largest group; its Moran's I is that
    # of its own centred loadings (the group means are left out)
    z3 = np.where(g2 == 0, narrow + 0.4, wide - 0.3)
    d = modes.loading_pattern(z3, _XY, groups=g2)
    sel = g2 == 1
    zg = z3[sel] - z3[sel].mean()
    xy = _XY[sel]
    dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    W = ((dist > 0) & (dist < 1.3)).astype(float)
    moran, zscore = _moran_dense(zg, W)
    assert d["morans_i"] == pytest.approx(moran, rel=1e-9)
    assert d["morans_z"] == pytest.approx(zscore, rel=1e-9)


def test_loading_pattern_spacing_is_median_nearest_neighbour():
    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 30, (120, 2))
    z = rng.normal(size=120)
    d = modes.loading_pattern(z, xy)
    dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(dist, np.inf)
    assert d["spacing"] == pytest.approx(np.median(dist.min(axis=1)), rel=1e-12)
    W = (dist < 1.3 * d["spacing"]).astype(float)
    moran, zscore = _moran_dense(z - z.mean(), W)
    assert d["morans_i"] == pytest.approx(moran, rel=1e-9)


def test_site_composition_edge_cases():
    x = np.array([0.0, 1.0, 2.5, 7.0])
    y = np.array([0.0, 0.5, 0.0, 1.0])
    # a single class (0): every window is all class 0
    c, n = phases.site_composition(x, y, [0, -1, 0, 0], 2.0)
    assert c.shape == (4, 1)
    np.testing.assert_array_equal(c[:, 0], [1.0, 1.0, 1.0, 1.0])
    assert n.tolist() == [1, 2, 1, 1]
    # no labelled atom and no n_classes: no columns
    c, n = phases.site_composition(x, y, [-1, -1, -1, -1], 2.0)
    assert c.shape == (4, 0) and n.tolist() == [0, 0, 0, 0]
    # n_classes 0 is allowed (the labels decide)
    c, n = phases.site_composition(x, y, [1, 0, 1, 1], 2.0, n_classes=0)
    assert c.shape == (4, 2)
    np.testing.assert_allclose(c[0], [0.5, 0.5])
    # one atom with a finite position: it counts itself
    c, n = phases.site_composition([np.nan, 3.0], [0.0, 0.0], [1, 1], 2.0)
    assert np.isnan(c[0]).all() and c[1].tolist() == [0.0, 1.0]
    assert n.tolist() == [0, 1]


def test_default_radius_random_points_and_labelled_subset():
    rng = np.random.default_rng(13)
    x, y = rng.uniform(0, 50, 60), rng.uniform(0, 40, 60)
    d = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
    np.fill_diagonal(d, np.inf)
    assert phases.default_radius(x, y) == pytest.approx(
        3.0 * np.median(d.min(axis=1)), rel=1e-12
    )
    # the cell is measured on the labelled atoms only (-1: none): class 0 on
    # every fourth column of a 7 x 9 px lattice: cell 28 px, radius 42
    j, i = np.mgrid[0:9, 0:12]
    xx, yy = 7.0 * i.ravel(), 9.0 * j.ravel()
    sc = np.where(i.ravel() % 4 == 0, 0, -1)
    assert phases.default_radius(xx, yy, sc) == pytest.approx(42.0, abs=0.05)


def _check_phases_brute(res, x, y, sc, r, share=0.25, min_count=5):
    """Phase means, labels and boundary of ``res`` against brute force, for
    the classes of each phase as found."""
    k = int(sc.max()) + 1
    comp, counts = _composition_loops(x, y, sc, r, k)
    ok = (counts >= min_count) & np.isfinite(comp).all(axis=1)
    cent = np.array([comp[ok & np.isin(sc, cls)].mean(axis=0) for cls in res.classes])
    np.testing.assert_allclose(res.composition, cent, rtol=1e-12)
    dist = 0.5 * np.abs(comp[:, None, :] - cent[None]).sum(axis=2)
    best = dist.argmin(axis=1)
    np.testing.assert_array_equal(res.labels[ok], best[ok])
    assert (res.labels[~ok] == -1).all()
    second = np.argsort(dist, axis=1)[:, 1]
    c1, c2 = cent[best], cent[second]
    alpha = ((comp - c1) * (c2 - c1)).sum(axis=1) / ((c2 - c1) ** 2).sum(axis=1)
    np.testing.assert_array_equal(res.boundary, ok & (alpha >= share))
    return comp, counts


def test_find_phases_shared_class_placed_by_surroundings():
    # left: classes 0/1 alternate; right: classes 2/1: class 1 is shared
    j, i = np.mgrid[0:16, 0:30]
    x, y = 5.0 * i.ravel(), 4.0 * j.ravel()
    left = i.ravel() < 14
    alt = (i.ravel() + j.ravel()) % 2
    sc = np.where(alt == 1, 1, np.where(left, 0, 2))
    r = 9.5
    res = phases.find_phases(x, y, sc, radius=r)
    assert res.n_phases == 2
    _check_phases_brute(res, x, y, sc, r)
    # away from the interface every atom, class 1 included, takes its side
    far = np.abs(x - 67.5) > 2 * r
    side = res.labels[far & ~left][0]
    assert (res.labels[far & left] == 1 - side).all()
    assert (res.labels[far & ~left] == side).all()
    assert res.boundary.any()


def test_find_phases_min_count_default_five():
    x, y, sc, left = _two_phase_scene()
    rng = np.random.default_rng(5)
    sc = np.where(rng.uniform(size=sc.size) < 0.35, sc, -1)
    r = 6.5
    res = phases.find_phases(x, y, sc, radius=r, min_atoms=5, min_interior=0)
    comp, counts = _composition_loops(x, y, sc, r, 3)
    assert (counts == 5).any() and (counts == 4).any()
    assert (res.labels[counts >= 5] >= 0).all()
    assert (res.labels[counts < 5] == -1).all()


def _patch_scene(n_patch_rows, n_patch_cols, drop_corner=False):
    x, y, sc, left = _two_phase_scene()
    i = np.rint(x / 5.0).astype(int)
    j = np.rint(y / 4.0).astype(int)
    patch = (i >= 20) & (i < 20 + n_patch_cols) & (j >= 5) & (j < 5 + n_patch_rows)
    if drop_corner:
        patch &= ~((i == 20) & (j == 5))
    sc = sc.copy()
    sc[patch] = 3
    return x, y, sc, patch


def test_find_phases_min_atoms_and_min_fraction_defaults():
    r = 5.5  # the four nearest neighbours and the atom itself
    # 20 atoms of class 3 (min_atoms 20): a phase; 19: a local class
    x, y, sc, patch = _patch_scene(4, 5)
    assert patch.sum() == 20
    res = phases.find_phases(x, y, sc, radius=r, min_fraction=0.01)
    assert res.n_phases == 3 and [3] in res.classes
    _check_phases_brute(res, x, y, sc, r)
    x, y, sc, patch = _patch_scene(4, 5, drop_corner=True)
    res = phases.find_phases(x, y, sc, radius=r, min_fraction=0.01)
    assert res.n_phases == 2 and res.boundary_classes == [3]
    _check_phases_brute(res, x, y, sc, r)  # its atoms go to a live phase
    # min_fraction 0.05 of 480 labelled atoms = 24: 30 atoms are a phase,
    # 20 are not
    x, y, sc, patch = _patch_scene(5, 6)
    assert patch.sum() == 30
    res = phases.find_phases(x, y, sc, radius=r)
    assert res.n_phases == 3
    x, y, sc, patch = _patch_scene(4, 5)
    res = phases.find_phases(x, y, sc, radius=r)
    assert res.n_phases == 2 and res.boundary_classes == [3]


def test_find_phases_wall_needs_interior_and_absent_class():
    # a straight wall of 16 + 16 atoms (two columns apart? no: one column)
    j, i = np.mgrid[0:30, 0:30]
    x, y = 5.0 * i.ravel(), 4.0 * j.ravel()
    sc = np.where(i.ravel() < 15, 0, 2)
    sc[i.ravel() == 15] = 3  # 30 atoms in a line
    res = phases.find_phases(x, y, sc, radius=5.5, min_fraction=0.01)
    assert res.boundary_classes == [3] and res.n_phases == 2
    _check_phases_brute(res, x, y, sc, 5.5)
    # class 1 has no atom: no phase
    assert res.class_phase[1] == -1 and res.class_phase[3] == -1
    assert sorted(res.classes) == [[0], [2]]
    # with min_interior 0 the wall is still no region: none of its atoms has
    # four of its six nearest atoms on the wall (min_coherence)
    res = phases.find_phases(x, y, sc, radius=5.5, min_fraction=0.01, min_interior=0)
    assert res.n_phases == 2 and res.boundary_classes == [3]
    # with both tests off the wall is a phase
    res = phases.find_phases(
        x, y, sc, radius=5.5, min_fraction=0.01, min_interior=0, min_coherence=0
    )
    assert res.n_phases == 3 and res.class_phase[1] == -1


def test_find_phases_scattered_class_is_not_a_phase():
    """A doped crystal: a quarter of the sites of one class are substituted
    (class 2) in small clusters of a cell or two (where a random field
    correlated over one cell is highest), scattered over the whole crystal:
    they form no region, so one phase, class 2 local. The same number of
    class-2 atoms in one compact block is a phase. The coherence is
    checked against a loop over the atoms."""
    j, i = np.mgrid[0:28, 0:36]
    field = ndi.gaussian_filter(
        np.random.default_rng(0).normal(size=(28, 36)), 1.0
    ).ravel()
    # an oblique cell, jittered so that no two distances tie
    jitter = np.random.default_rng(1).uniform(-0.2, 0.2, (2, i.size))
    x = 5.0 * i.ravel() + 0.3 * j.ravel() + jitter[0]
    y = 4.0 * j.ravel() + jitter[1]
    sc = (i.ravel() + j.ravel()) % 2
    hot = (sc == 1) & (field > np.quantile(field, 0.75))
    doped = np.where(hot, 2, sc)
    res = phases.find_phases(x, y, doped)
    assert res.n_phases == 1 and res.classes == [[0, 1]]
    assert res.boundary_classes == [2] and "scattered" in res.reason
    # without the test the substitutions win windows of their own
    loose = phases.find_phases(x, y, doped, min_coherence=0)
    assert loose.n_phases == 2
    near = phases._nearest_six(x, y)
    for g in range(loose.n_phases):
        m = np.flatnonzero(loose.labels == g)
        brute = np.mean(
            [
                sum(
                    loose.labels[k] == g
                    for k in np.argsort(np.hypot(x - x[a], y - y[a]))[1:7]
                )
                >= 4
                for a in m
            ]
        )
        got = phases._coherence(loose.labels, near, loose.n_phases)[g]
        assert got == pytest.approx(brute, abs=1e-12)
    assert phases._coherence(loose.labels, near, 2)[1] < 0.6
    # the same number of substitutions as one block on the right: a phase
    block = sc.copy()
    right = np.flatnonzero((sc == 1) & (i.ravel() >= 18))
    block[right[: hot.sum()]] = 2
    res = phases.find_phases(x, y, block)
    assert res.n_phases == 2 and [2] in res.classes


def test_find_phases_default_min_affinity_half():
    # classes 0 and 1 in blocks of two columns: they live together only
    # partly; grouped when their affinity is at least 1/2
    j, i = np.mgrid[0:20, 0:24]
    x, y = 5.0 * i.ravel(), 5.0 * j.ravel()
    found = {}
    for width in (1, 2, 3):
        sc = (i.ravel() // width) % 2
        r = 10.5
        comp, _ = _composition_loops(x, y, sc, r, 2)
        M = np.array([comp[sc == a].mean(axis=0) for a in (0, 1)])
        aff = min(M[0, 1] / M[1, 1], M[1, 0] / M[0, 0])
        found[width] = aff
        res = phases.find_phases(x, y, sc, radius=r, min_interior=0)
        if aff >= 0.5:
            assert res.classes == [[0, 1]]
        else:
            assert res.classes != [[0, 1]]
        res2 = phases.find_phases(x, y, sc, radius=r, min_affinity=0.9, min_interior=0)
        if aff < 0.9:
            assert len(res2.classes) != 1 or res2.classes != [[0, 1]]
    assert any(0.5 <= a < 0.75 for a in found.values())


def test_interior_count_distance_and_angle_rules():
    line = [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (4.0, 0.0)]

    def count(extra, scale=1.0):
        p = np.array(line + [extra]) * scale
        return phases._interior_count(p[:, 0], p[:, 1], np.ones(len(p), bool))

    # median nearest-neighbour distance 1: neighbours within 1.5 count
    assert count((2.0, 1.4)) == 1  # (2, 0) sees along x and up
    assert count((2.0, 1.5)) == 1  # exactly 1.5: still a neighbour
    assert count((2.0, 1.6)) == 0
    # the rule is in units of the spacing, and directions are angles
    for s in (0.5, 3.0):
        assert count((2.0, 1.4), s) == 1
        assert count((2.0, 1.6), s) == 0
    # three atoms in an L: each sees the other two at >= 45 degrees
    el = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert phases._interior_count(el[:, 0], el[:, 1], np.ones(3, bool)) == 3
    # a zigzag line (bonds 11 degrees apart): no interior, at any scale
    zz = np.column_stack([np.arange(8.0), 0.1 * (np.arange(8) % 2)])
    for s in (0.5, 1.0, 3.0):
        assert phases._interior_count(s * zz[:, 0], s * zz[:, 1], np.ones(8, bool)) == 0
    # a patch at spacing 0.5: every atom inside
    j, i = np.mgrid[0:4, 0:5]
    assert (
        phases._interior_count(0.5 * i.ravel(), 0.5 * j.ravel(), np.ones(20, bool))
        == 20
    )


def test_find_phases_reason_numbers():
    import re

    x, y, sc, left = _two_phase_scene()
    r = 9.5
    res = phases.find_phases(x, y, sc, radius=r)
    comp, _ = _composition_loops(x, y, sc, r, 3)
    M = np.array([comp[sc == a].mean(axis=0) for a in range(3)])
    A = np.array(
        [
            [
                1.0 if a == b else min(M[a, b] / M[b, b], M[b, a] / M[a, a])
                for b in range(3)
            ]
            for a in range(3)
        ]
    ).clip(0, 1)
    hi = float(re.search(r"highest pair ([0-9.]+)", res.reason).group(1))
    lo = float(re.search(r"lowest pair ([0-9.]+)", res.reason).group(1))
    assert hi == pytest.approx(max(A[0, 2], A[1, 2]), abs=0.006)
    assert lo == pytest.approx(A[0, 1], abs=0.006)
    res = phases.find_phases(x[left], y[left], sc[left], radius=r)
    comp, _ = _composition_loops(x[left], y[left], sc[left], r, 2)
    M = np.array([comp[sc[left] == a].mean(axis=0) for a in range(2)])
    low = min(M[0, 1] / M[1, 1], M[1, 0] / M[0, 0])
    lo = float(re.search(r"lowest pair ([0-9.]+)", res.reason).group(1))
    assert lo == pytest.approx(min(low, 1.0), abs=0.006)
    assert "all 2 site classes" in res.reason


def _interior_brute(p):
    n = len(p)
    d = np.hypot(*(p[:, None, :] - p[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    r = 1.5 * np.median(d.min(axis=1))
    count = 0
    for i in range(n):
        near = [j for j in np.argsort(d[i])[:6] if d[i, j] <= r]
        dirs = [(p[j] - p[i]) / d[i, j] for j in near]
        if any(
            abs(a[0] * b[1] - a[1] * b[0]) > 0.5 for a in dirs for b in dirs
        ):  # at least 30 degrees apart
            count += 1
    return count


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_interior_count_random_sets(seed):
    rng = np.random.default_rng(seed)
    # a noisy line, a noisy strip and scattered points, all together
    t = np.arange(30.0)
    line = np.column_stack([t, 0.15 * rng.normal(size=30)])
    strip = np.column_stack([rng.uniform(0, 12, 40), 10 + rng.uniform(0, 2.5, 40)])
    p = np.concatenate([line, strip]) * 2.7
    got = phases._interior_count(p[:, 0], p[:, 1], np.ones(len(p), bool))
    assert got == _interior_brute(p)
    sub = rng.uniform(size=len(p)) < 0.7
    got = phases._interior_count(p[:, 0], p[:, 1], sub)
    assert got == _interior_brute(p[sub])


def test_boundary_points_two_atoms_and_default_distance():
    b = phases.boundary_points([0.0, 3.0], [1.0, 5.0], [2, 0])
    assert b["x"].tolist() == [1.5] and b["y"].tolist() == [3.0]
    assert b["a"].tolist() == [0] and b["b"].tolist() == [2]
    rng = np.random.default_rng(17)
    x, y = rng.uniform(0, 20, 40), rng.uniform(0, 15, 40)
    lab = (x > 10).astype(int)
    d = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
    np.fill_diagonal(d, np.inf)
    r = 1.25 * np.median(d.min(axis=1))
    b = phases.boundary_points(x, y, lab)
    want = sorted(
        ((x[i] + x[j]) / 2, (y[i] + y[j]) / 2)
        for i in range(40)
        for j in range(i + 1, 40)
        if lab[i] != lab[j] and d[i, j] <= r
    )
    assert len(want) >= 2
    np.testing.assert_allclose(sorted(zip(b["x"], b["y"])), want, rtol=1e-12)


def test_row_quantiles_short_rows():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 6))
    for r, n_finite in enumerate((2, 3, 4, 5, 6)):
        a[r, n_finite:] = np.nan
    lo, hi = translations._row_quantiles(a, (0.25, 0.75))
    want = np.nanquantile(a, [0.25, 0.75], axis=1)
    np.testing.assert_allclose(lo, want[0], rtol=1e-12)
    np.testing.assert_allclose(hi, want[1], rtol=1e-12)


def test_local_normalise_smallest_window():
    # two neighbours: the plane through three atoms fits exactly, so every
    # atom sits on its local plane (0, up to the regularisation)
    rng = np.random.default_rng(8)
    x, y = rng.uniform(0, 20, 15), rng.uniform(0, 20, 15)
    v = rng.normal(size=15)
    got = translations.local_normalise(x, y, v, n_neighbours=2)
    np.testing.assert_allclose(got, 0.0, atol=1e-3)


def test_find_translations_nn_distance_brute_force():
    rng = np.random.default_rng(10)
    for scale in (0.3, 7.0):
        x, y = rng.uniform(0, 10, 50) * scale, rng.uniform(0, 8, 50) * scale
        t = translations.find_translations(x, y, rng.normal(size=50))
        d = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
        np.fill_diagonal(d, np.inf)
        assert t["nn_distance"] == pytest.approx(np.median(d.min(axis=1)), rel=1e-12)


def test_find_interstitials_needs_three_atoms_around():
    p, i, j = _oblique()
    corner = p[_site(p, i, j, 0, 0)]
    reach = 1.5 * np.hypot(*_V[1])
    for off, want in (((-6.0, -3.0), True), ((-6.0, -5.0), False)):
        e = corner + off
        assert (np.hypot(*(p - e).T) <= reach).sum() == (3 if want else 2)
        # off the lattice: no site within the tolerance
        f = np.linalg.solve(_V.T, e - corner)
        site = np.round(f) @ _V + corner
        assert np.hypot(*(site - e)) > 0.3 * np.hypot(*_V[0])
        q = np.concatenate([p, [e]])
        out = defects.find_interstitials(q[:, 0], q[:, 1], _V)
        assert np.flatnonzero(out).tolist() == ([len(p)] if want else [])


def test_find_interstitials_at_the_start_of_the_list():
    # the index of the atom does not matter (index 0 and 1)
    p, i, j = _oblique()
    extra = p[_site(p, i, j, 4, 3)] + [4.6, 5.3]
    for at in (0, 1):
        q = np.insert(p, at, extra, axis=0)
        out = defects.find_interstitials(q[:, 0], q[:, 1], _V)
        assert np.flatnonzero(out).tolist() == [at]


def test_defects_local_translations_follow_strong_bending():
    # the lattice turns by up to 25 degrees across the field: the repeated
    # local matching follows it, so only the real empty site is found
    p, i, j = _oblique(ni=14, nj=10)
    th = np.deg2rad(25.0) * (p[:, 0] / p[:, 0].max()) ** 2
    c, s = np.cos(th), np.sin(th)
    q = np.column_stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1]])
    gone = _site(p, i, j, 10, 5)
    keep = np.ones(len(p), bool)
    keep[gone] = False
    vx, vy, votes = defects.find_vacancies(q[keep, 0], q[keep, 1], _V)
    np.testing.assert_allclose(np.c_[vx, vy], q[[gone]], atol=0.6)
    assert votes.tolist() == [4]
    assert not defects.find_interstitials(q[keep, 0], q[keep, 1], _V).any()


def test_find_vacancies_on_the_bounding_box_edges():
    # rectangular lattice: empty sites in the first and last row and column
    # (not corners) lie on the atoms' bounding box: still vacancies
    v = np.array([[10.0, 0.0], [0.0, 12.0]])
    j, i = np.mgrid[0:7, 0:8]
    p = np.column_stack([10.0 * i.ravel() + 3.0, 12.0 * j.ravel() + 2.0])
    for a, b in ((3, 0), (4, 6), (0, 3), (7, 2)):
        gone = int(np.flatnonzero((i.ravel() == a) & (j.ravel() == b))[0])
        keep = np.ones(len(p), bool)
        keep[gone] = False
        vx, vy, votes = defects.find_vacancies(p[keep, 0], p[keep, 1], v)
        np.testing.assert_allclose(np.c_[vx, vy], p[[gone]], atol=1e-9)
        assert votes.tolist() == [3]


def test_find_translations_shortest_first():
    # a Bravais lattice whose shortest translation is steep: a1 = (2, 10)
    b1, b2 = np.array([2.0, 10.0]), np.array([13.0, 1.0])
    j, i = np.mgrid[0:12, 0:10]
    p = i.ravel()[:, None] * b2 + j.ravel()[:, None] * b1
    q = np.random.default_rng(0).normal(size=len(p))
    t = translations.find_translations(p[:, 0], p[:, 1], q)
    assert np.allclose(t["a1"], b1, atol=0.05) or np.allclose(t["a1"], -b1, atol=0.05)
    assert _lattice_equal(
        np.column_stack([b1, b2]), np.column_stack([t["a1"], t["a2"]])
    )
    lengths = np.hypot(*t["candidates"].T)
    assert np.all(np.diff(lengths) >= 0)


def _translation_scores_brute(x, y, q, cand, tol=0.3):
    """Fraction matched and intensity correlation of every candidate, with
    dense distances (the rules of find_translations: a target is inside the
    crystal when its third-nearest atom lies within 1.6 spacings; atoms within
    half a spacing of the bounding box take no part in the correlations)."""
    xy = np.column_stack([x, y])
    D = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(D, np.inf)
    d0 = np.median(D.min(axis=1))
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    cut = np.any((xy - lo < 0.5 * d0) | (hi - xy < 0.5 * d0), axis=1)
    qq = np.where(cut, np.nan, q)
    frac, corr = np.zeros(len(cand)), np.zeros(len(cand))
    for m, v in enumerate(cand):
        dt = np.hypot(*((xy + v)[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
        inside = np.sort(dt, axis=1)[:, 2] < 1.6 * d0
        j = dt.argmin(axis=1)
        matched = dt[np.arange(len(xy)), j] <= tol * d0
        frac[m] = matched[inside].mean()
        use = inside & matched
        qa, qb = qq[use], qq[j[use]]
        known = np.isfinite(qa) & np.isfinite(qb)
        corr[m] = np.corrcoef(qa[known], qb[known])[0, 1]
    return d0, frac, corr


def test_find_translations_scores_brute_force():
    x, y, inten, site = _three_site(ni=7, nj=6, seed=4)
    rng = np.random.default_rng(4)
    x = x + rng.normal(0, 0.5, x.size)
    y = y + rng.normal(0, 0.5, y.size)
    q = translations.local_normalise(x, y, inten)
    t = translations.find_translations(x, y, q)
    d0, frac, corr = _translation_scores_brute(x, y, q, t["candidates"])
    assert t["nn_distance"] == pytest.approx(d0, rel=1e-12)
    np.testing.assert_allclose(t["fraction"], frac, rtol=1e-12)
    np.testing.assert_allclose(t["correlation"], corr, rtol=1e-9, atol=1e-12)
    # partly matched candidates exist (the jitter moves some beyond 0.3 d0)
    assert np.any((frac > 0.6) & (frac < 0.97))
    # translations: matched by at least 60 % and correlated at least half as
    # well as the best one (this cell's intensities are far from noise)
    geo = frac >= 0.6
    best = corr[geo].max()
    np.testing.assert_array_equal(t["is_translation"], geo & (corr >= 0.5 * best))
    assert _lattice_equal(
        np.column_stack([_A1, _A2]), np.column_stack([t["a1"], t["a2"]])
    )


def test_find_translations_skips_collinear_candidates():
    # a1 short and turned by 30 degrees, a2 longer than 2 a1: the candidate
    # 2 a1 comes before a2 and is collinear with a1, so it is not the second
    # vector
    t30, t115 = np.deg2rad(30.0), np.deg2rad(115.0)
    b1 = 5.0 * np.array([np.cos(t30), np.sin(t30)])
    b2 = 12.5 * np.array([np.cos(t115), np.sin(t115)])
    j, i = np.mgrid[0:8, 0:16]
    p = i.ravel()[:, None] * b1 + j.ravel()[:, None] * b2
    q = np.random.default_rng(1).normal(size=len(p))
    t = translations.find_translations(p[:, 0], p[:, 1], q)
    assert np.hypot(*t["a1"]) == pytest.approx(5.0, abs=0.05)
    assert _lattice_equal(
        np.column_stack([b1, b2]), np.column_stack([t["a1"], t["a2"]])
    )
    # a2 is reduced against a1: |a2 . a1| <= |a1|^2 / 2
    assert abs(np.dot(t["a2"], t["a1"])) <= 0.5 * np.dot(t["a1"], t["a1"]) + 0.1


def test_find_vacancies_extent_half_spacing_margin():
    # pixel centres at integers: the image spans -0.5 .. n - 0.5; a site is
    # kept when at least half a spacing (h) inside that
    v = np.array([[10.0, 0.0], [0.0, 12.0]])
    h = 5.0
    j, i = np.mgrid[0:6, 0:7]
    for dy, keep_it in ((0.1, True), (-0.1, False)):
        # the empty site (3, 0) in the first row, h - 0.5 + dy from the top
        oy = h - 0.5 + dy
        p = np.column_stack([10.0 * i.ravel() + 20.0, 12.0 * j.ravel() + oy])
        gone = int(np.flatnonzero((i.ravel() == 3) & (j.ravel() == 0))[0])
        keep = np.ones(len(p), bool)
        keep[gone] = False
        vx, vy, _ = defects.find_vacancies(p[keep, 0], p[keep, 1], v, extent=(200, 200))
        assert (vx.size == 1) == keep_it
        # the same at the bottom: the site (3, 5) at ny - 0.5 - h - dy
        gone = int(np.flatnonzero((i.ravel() == 3) & (j.ravel() == 5))[0])
        keep = np.ones(len(p), bool)
        keep[gone] = False
        ny = p[gone, 1] + 0.5 + h + dy
        vx, vy, _ = defects.find_vacancies(p[keep, 0], p[keep, 1], v, extent=(ny, 200))
        assert (vx.size == 1) == keep_it
        # and the columns: site (0, 2) at h - 0.5 + dy from the left
        px = h - 0.5 + dy
        p2 = np.column_stack([10.0 * i.ravel() + px, 12.0 * j.ravel() + 20.0])
        gone = int(np.flatnonzero((i.ravel() == 0) & (j.ravel() == 2))[0])
        keep = np.ones(len(p2), bool)
        keep[gone] = False
        vx, _, _ = defects.find_vacancies(
            p2[keep, 0], p2[keep, 1], v, extent=(200, 200), min_votes=1
        )
        assert (vx.size == 1) == keep_it


def test_defects_empty_input_and_an_atom_nobody_predicts():
    vx, vy, votes = defects.find_vacancies([], [], _V)
    assert vx.size == vy.size == votes.size == 0
    assert defects.find_interstitials([], [], _V).size == 0
    # the four neighbours (+-v1, +-v2) of one atom are missing: no atom
    # predicts it, but it sits on the lattice (a translation from its other
    # neighbours): not an interstitial; its four neighbours' sites are empty
    p, i, j = _oblique()
    gone = [_site(p, i, j, a, b) for a, b in ((3, 3), (5, 3), (4, 2), (4, 4))]
    keep = np.ones(len(p), bool)
    keep[gone] = False
    assert not defects.find_interstitials(p[keep, 0], p[keep, 1], _V).any()
    vx, vy, votes = defects.find_vacancies(p[keep, 0], p[keep, 1], _V)
    got = sorted(zip(np.round(vx, 6), np.round(vy, 6)))
    assert got == sorted(zip(np.round(p[gone, 0], 6), np.round(p[gone, 1], 6)))


def test_find_phases_single_class_and_smallest_settings():
    j, i = np.mgrid[0:12, 0:14]
    x, y = 5.0 * i.ravel(), 4.0 * j.ravel()
    sc = np.zeros(x.size, int)
    res = phases.find_phases(x, y, sc, radius=5.5)
    assert res.n_phases == 1 and res.classes == [[0]]
    assert res.class_phase.tolist() == [0]
    np.testing.assert_allclose(res.composition, [[1.0]])
    comp, counts = _composition_loops(x, y, sc, 5.5, 1)
    np.testing.assert_array_equal(res.labels, np.where(counts >= 5, 0, -1))
    # the smallest allowed settings: one labelled atom in a window is enough
    sc2 = np.where(i.ravel() % 3 == 0, 0, -1)
    res = phases.find_phases(x, y, sc2, radius=5.5, min_count=1, min_atoms=1)
    comp, counts = _composition_loops(x, y, sc2, 5.5, 1)
    np.testing.assert_array_equal(res.labels, np.where(counts >= 1, 0, -1))
