"""Honest PCA of neighbourhoods: centred modes, sizes in pm, polarity against
the noise, loading patterns with their scale (numerics/modes.py and the
AtomNeighbourhoods methods on it).

Truth: point sets built from lattices with known displacements (in pixels,
SCALE nm per pixel) and known per-atom noise; numpy's own SVD of the centred
matrix.
"""

import numpy as np
import pytest

from hyperspy_localcryst.data.synthetic import lattice_positions
from hyperspy_localcryst.numerics import modes as md
from hyperspy_localcryst.signals.atom_positions import make_atom_positions

SCALE = 0.02  # nm per pixel: 1 px = 20 pm
PM = SCALE * 1000
NOISE = 0.1  # px, per axis, every atom


def _atoms(x, y, size=512, error=NOISE, **extra):
    grid = {
        k: dict(size=size, scale=SCALE, offset=0.0, units="nm", name=k) for k in "xy"
    }
    e = np.full(x.size, error * SCALE)
    cols = {"x": x * SCALE, "y": y * SCALE, "x_err": e, "y_err": e, **extra}
    units = {"x": "nm", "y": "nm", "x_err": "nm", "y_err": "nm"}
    return make_atom_positions(cols, units, grid)


def _perovskite(shift, seed=1, noise=NOISE, shape=(512, 512)):
    """A/B perovskite [001] cations, B displaced by ``shift`` px, noisy."""
    x, y, sub = lattice_positions(shape, 16.0, "perovskite")
    rng = np.random.default_rng(seed)
    b = sub == 1
    x = x + shift[0] * b + rng.normal(0, noise, x.size)
    y = y + shift[1] * b + rng.normal(0, noise, y.size)
    atoms = _atoms(x, y, error=noise, sublattice=sub.astype(float))
    nb = atoms.get_neighbourhoods(n_neighbours=4)
    nb.decomposition(print_info=False)
    return nb, sub[nb.centre_indices]


# --------------------------------------------------------------- centring


def test_centred_ratios_sum_to_one_and_match_numpy_svd():
    nb, _ = _perovskite((1.2, -0.5))
    X = nb.data
    Xc = X - X.mean(axis=0)
    s = np.linalg.svd(Xc, compute_uv=False)
    truth = s**2 / np.sum(s**2)
    props = nb.get_mode_properties()
    np.testing.assert_allclose(props["explained_variance_ratio"], truth, rtol=1e-9)
    assert props["explained_variance_ratio"].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(nb.learning_results.mean.ravel(), X.mean(axis=0))
    # the mean is apart, not a mode; the model adds it back
    np.testing.assert_allclose(
        nb.get_mean_neighbourhood().ravel(), X.mean(axis=0), rtol=1e-12
    )
    assert not props["trivial"].any()
    np.testing.assert_allclose(nb.get_decomposition_model().data, X, atol=1e-12)


def test_uncentred_on_request_keeps_hyperspy_semantics():
    nb, _ = _perovskite((1.2, -0.5))
    nb.decomposition(centre=None, print_info=False)
    props = nb.get_mode_properties(2)
    assert props["trivial"][0]  # the first mode is the mean
    assert props["explained_variance_ratio"][0] > 0.99


def test_amplitude_in_pm_equals_an_independent_computation():
    nb, _ = _perovskite((1.2, -0.5))
    X = nb.data  # nm
    Xc = X - X.mean(axis=0)
    u, s, vt = np.linalg.svd(Xc, full_matrices=False)
    k = X.shape[1] // 2
    for i in range(3):
        part = np.outer(u[:, i] * s[i], vt[i]).reshape(len(X), k, 2)  # nm
        rms = np.sqrt(np.mean(np.sum(part**2, axis=2)))  # over centres, neighbours
        assert nb.get_mode_properties(3)["amplitude"][i] == pytest.approx(
            1000 * rms, rel=1e-9
        )
        per_centre = np.sqrt(np.mean(np.sum(part**2, axis=2), axis=1))
        t = nb.get_mode_amplitudes(i)
        assert t.units["amplitude"] == "pm"
        got = t.get_column("amplitude")
        np.testing.assert_allclose(np.abs(got), 1000 * per_centre, rtol=1e-9)
        # signed by the loading
        sign = np.sign(nb.learning_results.loadings[:, i])
        np.testing.assert_array_equal(np.sign(got), sign)


# --------------------------------------------------------------- polarity


def test_polar_perovskite_gives_a_polar_mode_with_the_right_shift():
    shift = np.array([1.2, -0.5])  # px, B against A: a flip or x/y swap fails
    nb, sub = _perovskite(shift)
    props = nb.get_mode_properties(4)
    assert props["polar"].tolist() == [True, False, False, False]
    assert props["pattern"][0] == "sublattice"
    assert props["units"][0] == "pm"
    # B centres: their shift against their A neighbours is +shift; the mean
    # carries the part common to all centres, the mode the rest
    mean_shift = -nb.get_mean_neighbourhood().mean(axis=0) * 1000  # pm
    t = nb.get_mode_amplitudes(0)
    b = sub == 1
    on_b = np.array([t.get_column("shift_x")[b], t.get_column("shift_y")[b]])
    np.testing.assert_allclose(
        on_b.mean(axis=1) + mean_shift, shift * PM, atol=0.03 * PM
    )
    on_a = np.array([t.get_column("shift_x")[~b], t.get_column("shift_y")[~b]])
    np.testing.assert_allclose(
        on_a.mean(axis=1) + mean_shift, -shift * PM, atol=0.03 * PM
    )
    # the mode's net shift is about |shift| (centres of both kinds move)
    assert props["net_shift"][0] == pytest.approx(np.hypot(*shift) * PM, rel=0.05)
    direction = np.array([props["net_shift_x"][0], props["net_shift_y"][0]])
    cos = abs(direction @ shift) / (np.linalg.norm(direction) * np.hypot(*shift))
    assert cos > 0.999
    # the noise of a centre's net shift: sqrt(2 (e^2 + 4 e^2 / 16)) = 1.58 e,
    # and the smallest modes show no more scatter than the errors say
    excess = props["noise_excess"][0]
    assert 1.0 <= excess < 1.1
    assert props["net_shift_noise"][0] == pytest.approx(
        np.sqrt(2 * 1.25) * NOISE * PM * excess, rel=1e-6
    )


def test_flat_perovskite_with_noise_has_no_polar_mode():
    nb, _ = _perovskite((0.0, 0.0), noise=0.3)
    props = nb.get_mode_properties()
    assert not props["polar"].any()
    # every mode is noise: its amplitude is what position noise predicts
    np.testing.assert_allclose(
        props["amplitude"][:4], props["noise_amplitude"][:4], rtol=0.15
    )
    assert set(props["pattern"]) == {"noise"}


def test_without_position_errors_polarity_is_untested():
    x, y, sub = lattice_positions((256, 256), 16.0, "perovskite")
    grid = {
        k: dict(size=256, scale=SCALE, offset=0.0, units="nm", name=k) for k in "xy"
    }
    rng = np.random.default_rng(0)
    atoms = make_atom_positions(
        {"x": (x + rng.normal(0, 0.1, x.size)) * SCALE, "y": y * SCALE},
        {"x": "nm", "y": "nm"},
        grid,
    )
    nb = atoms.get_neighbourhoods(n_neighbours=4)
    nb.decomposition(print_info=False)
    props = nb.get_mode_properties(2)
    assert not props["polar"].any()
    assert np.isnan(props["net_shift_noise"]).all()
    assert "untested" in nb._mode_title(0, props.iloc[0])


def test_errors_too_small_for_the_scatter_are_scaled_up():
    # the atoms scatter by 0.3 px but claim 0.1 px: the smallest modes show
    # 3 x the propagated noise, and a 0.5 px sublattice shift (5 x the claimed
    # but 1.7 x the real noise of a centre's net shift) is not polar
    x, y, sub = lattice_positions((512, 512), 16.0, "perovskite")
    rng = np.random.default_rng(7)
    b = sub == 1
    xs = x + 0.5 * b + rng.normal(0, 0.3, x.size)
    ys = y + rng.normal(0, 0.3, y.size)
    nb = _atoms(xs, ys, error=0.1, sublattice=sub.astype(float)).get_neighbourhoods(4)
    nb.decomposition(print_info=False)
    props = nb.get_mode_properties()
    assert props["noise_excess"][0] == pytest.approx(3.0, rel=0.1)
    assert not props["polar"].any()
    # with the true errors the same shift is 1.7 x noise too: not polar
    nb = _atoms(xs, ys, error=0.3, sublattice=sub.astype(float)).get_neighbourhoods(4)
    nb.decomposition(print_info=False)
    props = nb.get_mode_properties()
    assert props["noise_excess"][0] == pytest.approx(1.0, abs=0.1)
    assert not props["polar"].any()


def test_noise_excess_by_hand():
    assert md.noise_excess([5.0, 4.0, 3.0, 2.0], [1.0, 1.0, 1.0, 1.0]) == 2.5
    assert md.noise_excess([5.0, 0.5], [1.0, 1.0]) == 1.0  # never below 1
    assert np.isnan(md.noise_excess([5.0, 0.5], [np.nan, np.nan]))
    with pytest.raises(ValueError, match="same non-zero length"):
        md.noise_excess([1.0], [1.0, 2.0])


def test_polar_modes_against_noise_by_hand():
    rng = np.random.default_rng(3)
    s = np.zeros((200, 2, 2))
    s[:, 0] = rng.choice([-1, 1], 200)[:, None] * [3.1, 0.0]  # 3.1 x noise
    s[:, 1] = rng.choice([-1, 1], 200)[:, None] * [0.0, 2.9]
    net, level, polar = md.polar_modes(s, np.ones(200), n_sigma=3)
    np.testing.assert_allclose(net, [3.1, 2.9])
    assert level == 1.0 and polar.tolist() == [True, False]


# --------------------------------------------------------------- patterns


def _grid(lattice="square", shape=(400, 400), spacing=10.0):
    x, y, _ = lattice_positions(shape, spacing, lattice)
    return x, y, np.column_stack([x, y])


@pytest.mark.parametrize("lattice", ["square", "hexagonal"])
def test_alternating_pattern(lattice):
    x, y, xy = _grid(lattice)
    rng = np.random.default_rng(0)
    rows = np.rint(y / np.min(np.diff(np.unique(np.round(y, 3))))).astype(int)
    loadings = np.where(rows % 2 == 0, 1.0, -1.0) + 0.3 * rng.normal(size=x.size)
    out = md.loading_pattern(loadings, xy)
    assert out["pattern"] == "alternating"
    assert np.isnan(out["scale"])


@pytest.mark.parametrize("width", [40.0, 80.0])
@pytest.mark.parametrize("angle", [0.0, 30.0])
def test_two_domain_pattern_and_its_size(width, angle):
    # stripes of two domains (+ and -), ``width`` px wide, walls at ``angle``
    x, y, xy = _grid()
    t = np.deg2rad(angle)
    u = x * np.cos(t) + y * np.sin(t)
    rng = np.random.default_rng(1)
    loadings = np.where((u // width) % 2 == 0, 1.0, -0.7) + 0.3 * rng.normal(
        size=x.size
    )
    out = md.loading_pattern(loadings, xy)
    assert out["pattern"] == "domains"
    assert out["scale"] == pytest.approx(width, rel=0.3)


def test_uniform_and_sublattice_and_noise_patterns():
    x, y, xy = _grid("perovskite")
    _, _, sub = lattice_positions((400, 400), 10.0, "perovskite")
    rng = np.random.default_rng(2)
    assert md.loading_pattern(1.0 + 0.3 * rng.normal(size=x.size), xy)["pattern"] == (
        "uniform"
    )
    follows = np.where(sub == 1, 1.0, -1.2) + 0.3 * rng.normal(size=x.size)
    out = md.loading_pattern(follows, xy, groups=sub)
    assert out["pattern"] == "sublattice" and out["sublattice_share"] > 0.9
    # without the groups the same loadings alternate between neighbours
    assert md.loading_pattern(follows, xy)["pattern"] == "alternating"
    assert md.loading_pattern(rng.normal(size=x.size), xy)["pattern"] == "noise"
    # a few centres (misfitted atoms in one corner) carry the mode
    few = 0.1 * rng.normal(size=x.size)
    few[np.argsort(np.hypot(x - 350, y - 350))[:20]] = 5.0
    assert md.loading_pattern(few, xy)["pattern"] == "localised"
    # ... unless the other centres, without them, show a pattern of their own
    few += np.where((x // 80) % 2 == 0, 0.3, -0.3)
    out = md.loading_pattern(few, xy)
    assert out["pattern"] == "domains" and out["top_share"] > 0.5
    assert out["scale"] == pytest.approx(80, rel=0.3)
    # domains on one sublattice, noise on the other: domains (B sublattice
    # spacing 10 sqrt(2) px, stripes 80 px wide)
    stripes = np.where((x // 80) % 2 == 0, 1.0, -1.0)
    mixed = np.where(sub == 1, stripes, 0.0) + 0.3 * rng.normal(size=x.size)
    out = md.loading_pattern(mixed, xy, groups=sub)
    assert out["pattern"] == "domains"
    assert out["scale"] == pytest.approx(80, rel=0.3)


def test_polar_domains_named_with_their_size_in_pm():
    # B displaced by +-(1.0, -0.4) px in stripe domains 128 px wide: over all
    # centres A and B have opposite signs, within each sublattice the
    # loadings follow the domains
    width = 128.0
    x, y, sub = lattice_positions((512, 512), 16.0, "perovskite")
    rng = np.random.default_rng(4)
    sign = np.where((x // width) % 2 == 0, 1.0, -1.0) * (sub == 1)
    xs = x + 1.0 * sign + rng.normal(0, NOISE, x.size)
    ys = y - 0.4 * sign + rng.normal(0, NOISE, y.size)
    nb = _atoms(xs, ys, sublattice=sub.astype(float)).get_neighbourhoods(4)
    nb.decomposition(print_info=False)
    props = nb.get_mode_properties(3)
    assert props["polar"][0]
    assert props["pattern"][0] == "domains"
    assert props["scale"][0] == pytest.approx(width * PM, rel=0.3)
    assert "domains ~" in nb._mode_title(0, props.iloc[0])
    # a centre of either kind moves by +-(1.0, -0.4) px against its neighbours
    assert props["net_shift"][0] == pytest.approx(np.hypot(1.0, 0.4) * PM, rel=0.1)


def test_bad_arguments_are_refused():
    xy = np.zeros((10, 2))
    with pytest.raises(ValueError, match="`positions` must have shape"):
        md.loading_pattern(np.zeros(5), xy)
    few = md.loading_pattern([1.0, np.nan, 2.0, 3.0], np.arange(8.0).reshape(4, 2))
    assert few["pattern"] == "noise"  # 3 centres: nothing is significant
    with pytest.raises(ValueError, match="`n_sigma`"):
        md.loading_pattern(np.zeros(10), xy, n_sigma=-1)
    with pytest.raises(TypeError, match="`loadings`"):
        md.loading_pattern("abc", xy)
    with pytest.raises(ValueError, match="`groups` has 3"):
        md.loading_pattern(np.zeros(10), xy, groups=[1, 2, 3])
    with pytest.raises(ValueError, match="even"):
        md.mode_amplitudes(np.zeros((4, 1)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="same modes"):
        md.net_shifts(np.zeros((4, 2)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="`noise` has"):
        md.polar_modes(np.zeros((4, 1, 2)), np.ones(3))
    with pytest.raises(ValueError, match="`neighbour_error` must have shape"):
        md.loading_noise(np.ones((4, 1)), np.ones(3), np.ones((3, 3)))
    nb, _ = _perovskite((1.2, -0.5), shape=(256, 256))
    with pytest.raises(ValueError, match="`n_sigma` must be positive"):
        nb.get_mode_properties(n_sigma=0)
    with pytest.raises(TypeError, match="`n_sigma`"):
        nb.get_mode_properties(n_sigma="3")
    with pytest.raises(ValueError, match="out of range"):
        nb.get_mode_amplitudes(99)
