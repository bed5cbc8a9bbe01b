"""Truth tests of the analysis modules: symmetry, modes, phases, defects,
sublattices.

Every expected value comes from the construction of the input (a point set
with a known symmetry, a lattice with a site removed at a known index) or
from an independent brute-force computation of the documented formula
(loops over all pairs instead of trees, dense weight matrices, exhaustive
searches). The inputs are small and asymmetric, so a swapped axis, a
dropped sign, an off-by-one or a moved threshold changes the answer.
"""

import numpy as np
import pytest

from hyperspy_localcryst.numerics import modes, symmetry

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
