"""Property-based tests (hypothesis) over random lattices, noise, rotations,
calibrations and parameters.

Profiles (registered in ``tests/conftest.py``, chosen with the environment
variable ``HYPOTHESIS_PROFILE``):

- ``default``: 50 examples per property, fast enough for every suite run;
- ``thorough``: 500 examples per property. Run it with::

      HYPOTHESIS_PROFILE=thorough python -m pytest -p no:cacheprovider \\
          tests/test_properties.py

Both use ``deadline=None`` (a first call compiles kernels) and derandomised
example generation, so a run is reproducible. Images are 64-160 px so that an
example takes tens of milliseconds.

Properties:

1. ``find_atoms`` on random lattices (square/hexagonal/perovskite, spacing,
   rotation, width, brightness, noise, image size, calibration) raises only
   the documented errors; otherwise every position is inside the image, finite
   and in the axes' units.
2. Pixel results (finding, refinement, neighbourhood shapes) do not depend on
   the calibration's scale, offset or unit; calibrated lengths scale with it.
3. Finding and refinement do not depend on the detector gain (a power of two:
   the results are identical to the last bit) or an additive offset.
4. Refined atoms that converged lie inside the image; errors are finite and
   positive; every column of a failed fit is NaN but its seed position.
5. The angle metric is rotation invariant (neighbour vectors of every common
   centre, bond lengths and bond angles), for any rotation and translation.
6. Bad parameters of find_atoms/refine_atoms/get_neighbourhoods/
   cluster_analysis give a ValueError/TypeError naming the argument (or a
   documented phrase), nothing else.
7. Tracking a shifted copy of a table recovers the shift in calibrated units.
"""

import re
import warnings

import numpy as np
import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from hyperspy_localcryst.numerics.synthetic import lattice_positions, make_lattice_image
from hyperspy_localcryst.signals.atom_positions import make_atom_positions
from hyperspy_localcryst.signals.atomic_image import AtomicImage

# documented errors of finding on hard images (no lattice, tiny image...)
_FIND_ERRORS = (
    r"No atoms found|periodic separation|too small|larger than the image|"
    r"below 2 px|No local maximum"
)


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _atomic(data, scale=1.0, offset=(0.0, 0.0), units=""):
    s = AtomicImage(np.asarray(data, dtype=float))
    for ax, off in zip(s.axes_manager.signal_axes, offset):
        ax.scale, ax.offset, ax.units = scale, off, units
    return s


@st.composite
def lattices(draw, min_size=64, max_size=160):
    """(image, truth, parameters) of a random synthetic lattice."""
    lattice = draw(st.sampled_from(["square", "hexagonal", "perovskite"]))
    spacing = draw(st.floats(10.0, 20.0))
    ny = draw(st.integers(min_size, max_size))
    nx = draw(st.integers(min_size, max_size))
    sigma = draw(st.floats(0.15, 0.25)) * spacing
    peak = draw(st.floats(30.0, 1000.0))
    noise = draw(st.sampled_from(["poisson", "gaussian", None]))
    rotation = draw(st.floats(0.0, 90.0))
    seed = draw(st.integers(0, 2**16))
    peaks = (
        (peak, peak / draw(st.floats(1.5, 4.0))) if lattice == "perovskite" else None
    )
    img, truth = make_lattice_image(
        (ny, nx),
        spacing=spacing,
        sigma=sigma,
        peak=peak,
        lattice=lattice,
        rotation=rotation,
        sublattice_peaks=peaks,
        noise=noise,
        seed=seed,
    )
    return (
        img,
        truth,
        {
            "spacing": spacing,
            "lattice": lattice,
            "shape": (ny, nx),
            "noise": noise,
        },
    )


calibrations = st.tuples(
    st.floats(1e-3, 1e3).map(lambda v: float(v)),  # scale
    st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)),  # offsets
    st.sampled_from(["nm", "Å", "pm", "µm", ""]),
)


def _inside(table, shape):
    xp, yp = table.get_pixel_positions()
    ny, nx = shape
    return bool(
        np.all((xp >= -0.5) & (xp <= nx - 0.5) & (yp >= -0.5) & (yp <= ny - 0.5))
    )


def _pixels(table):
    return np.column_stack(table.get_pixel_positions())


# ------------------------------------------------------------ property 1
@given(
    lat=lattices(),
    cal=calibrations,
    method=st.sampled_from(["template", "log", "local_max", ["template", "log"]]),
    give_separation=st.booleans(),
)
def test_find_atoms_on_random_lattices(lat, cal, method, give_separation):
    img, truth, p = lat
    scale, offset, units = cal
    s = _atomic(img, scale, offset, units)
    before = s.data.copy()
    sep = p["spacing"] * (0.7 if p["lattice"] == "perovskite" else 0.9) * scale
    try:
        atoms = s.find_atoms(separation=sep if give_separation else None, method=method)
    except ValueError as e:
        assert re.search(_FIND_ERRORS, str(e)), e
        event("documented error")
        return
    finally:
        np.testing.assert_array_equal(s.data, before)
    event("atoms found")
    assert atoms.n_atoms >= 1
    assert _inside(atoms, p["shape"])
    for c in ("x", "y", "score", "peak", "sublattice"):
        assert np.all(np.isfinite(atoms.get_column(c))), c
    assert atoms.units["x"] == atoms.units["y"] == units
    assert atoms.grid["x"]["scale"] == scale and atoms.grid["x"]["units"] == units
    # the settings record the separation in the calibrated units
    used = float(atoms.metadata.AtomPositions.settings.separation)
    assert used > 0
    if give_separation:
        assert np.isclose(used, sep, rtol=1e-9)


# ------------------------------------------------------------ property 2
@given(lat=lattices(max_size=128), cal=calibrations)
def test_results_do_not_depend_on_the_calibration(lat, cal):
    img, truth, p = lat
    scale, offset, units = cal
    plain = _atomic(img)
    other = _atomic(img, scale, offset, units)
    try:
        ref = plain.find_atoms()
    except ValueError as e:
        assert re.search(_FIND_ERRORS, str(e)), e
        with pytest.raises(ValueError, match=_FIND_ERRORS):
            other.find_atoms()
        event("the same documented error")
        return
    event("atoms found")
    assert np.isclose(
        other.estimate_separation(), plain.estimate_separation() * scale, rtol=1e-12
    )
    found = other.find_atoms()
    assert found.n_atoms == ref.n_atoms
    np.testing.assert_allclose(_pixels(found), _pixels(ref), atol=1e-6, rtol=0)
    if ref.n_atoms < 2:
        return
    fit_ref = _quiet(plain.refine_atoms, ref)
    fit = _quiet(other.refine_atoms, found)
    np.testing.assert_array_equal(
        fit.get_column("converged"), fit_ref.get_column("converged")
    )
    ok = fit_ref.get_column("converged") == 1
    np.testing.assert_allclose(_pixels(fit)[ok], _pixels(fit_ref)[ok], atol=1e-6)
    for c in ("sigma_x", "sigma_major", "x_err"):
        np.testing.assert_allclose(
            fit.get_column(c)[ok], fit_ref.get_column(c)[ok] * scale, rtol=1e-6
        )
        assert fit.units[c] == units
    np.testing.assert_allclose(
        fit.get_column("amplitude")[ok], fit_ref.get_column("amplitude")[ok], rtol=1e-9
    )
    try:
        nb_ref = ref.get_neighbourhoods(4, metric="angle")
    except ValueError:
        return  # too few atoms or centres: the same error either way
    nb = found.get_neighbourhoods(4, metric="angle")
    common, i_ref, i = np.intersect1d(
        nb_ref.centre_indices, nb.centre_indices, return_indices=True
    )
    assert len(common) >= 0.9 * len(nb_ref.centre_indices)
    np.testing.assert_allclose(
        nb.data[i] / scale, nb_ref.data[i_ref], atol=1e-6 * p["spacing"]
    )
    assert nb.metadata.AtomNeighbourhoods.units == units


# ------------------------------------------------------------ property 3
@given(
    lat=lattices(max_size=128),
    k=st.integers(-60, 60),
    offset=st.floats(-1e4, 1e4),
)
def test_results_do_not_depend_on_the_gain(lat, k, offset):
    img, truth, p = lat
    plain = _atomic(img)
    scaled = _atomic(np.ldexp(img, k))
    try:
        ref = plain.find_atoms()
    except ValueError as e:
        assert re.search(_FIND_ERRORS, str(e)), e
        with pytest.raises(ValueError, match=_FIND_ERRORS):
            scaled.find_atoms()
        event("the same documented error")
        return
    event("atoms found")
    found = scaled.find_atoms()
    np.testing.assert_array_equal(_pixels(found), _pixels(ref))  # to the last bit
    np.testing.assert_array_equal(
        found.get_column("peak"), np.ldexp(ref.get_column("peak"), k)
    )
    if ref.n_atoms >= 2:
        fit_ref = _quiet(plain.refine_atoms, ref)
        fit = _quiet(scaled.refine_atoms, found)
        np.testing.assert_array_equal(_pixels(fit), _pixels(fit_ref))
        np.testing.assert_array_equal(
            fit.get_column("amplitude"), np.ldexp(fit_ref.get_column("amplitude"), k)
        )
        np.testing.assert_array_equal(
            fit.get_column("x_err"), fit_ref.get_column("x_err")
        )
    # an additive offset: the correlation finder is blind to it (on images
    # with noise: a noise-free lattice has exact ties, e.g. two equal pixels
    # at a column half-way between them, that rounding breaks either way)
    if p["noise"] is None:
        return
    shifted = _atomic(img + offset)
    moved = shifted.find_atoms(
        separation=ref.metadata.AtomPositions.settings.separation
    )
    same = plain.find_atoms(separation=ref.metadata.AtomPositions.settings.separation)
    assert moved.n_atoms == same.n_atoms
    np.testing.assert_allclose(_pixels(moved), _pixels(same), atol=1e-3)


# ------------------------------------------------------------ property 4
@given(
    lat=lattices(),
    model=st.sampled_from(["round", "elliptical"]),
    weights=st.sampled_from(["auto", "uniform"]),
)
def test_refined_atoms_are_inside_and_honest(lat, model, weights):
    img, truth, p = lat
    s = _atomic(img, 0.02, (0.0, 0.0), "nm")
    try:
        atoms = s.find_atoms(separation=0.02 * 0.7 * p["spacing"])
    except ValueError as e:
        assert re.search(_FIND_ERRORS, str(e)), e
        event("no atoms (documented error)")
        return
    assume(atoms.n_atoms >= 2)
    try:
        fit = _quiet(s.refine_atoms, atoms, model=model, weights=weights)
    except ValueError as e:  # atoms closer than 2 px: documented
        assert "px apart" in str(e), e
        event("atoms closer than 2 px (documented error)")
        return
    ok = fit.get_column("converged") == 1
    event(f"converged fraction {np.floor(ok.mean() * 4) / 4:.2f}+")
    assert np.all(np.isfinite(fit.get_column("x"))) and np.all(
        np.isfinite(fit.get_column("y"))
    )
    assert _inside(fit.select(ok), p["shape"]) if ok.any() else True
    for c in ("x_err", "y_err", "sigma_x", "sigma_y", "amplitude", "residual"):
        v = fit.get_column(c)
        assert np.all(np.isfinite(v[ok])), c
        assert np.all(np.isnan(v[~ok])), c
    assert np.all(fit.get_column("x_err")[ok] > 0)
    assert np.all(fit.get_column("sigma_x")[ok] > 0)
    # failed fits keep their seed position
    np.testing.assert_allclose(_pixels(fit)[~ok], _pixels(atoms)[~ok], atol=1e-9)
    assert fit.units["x"] == fit.units["sigma_x"] == fit.units["x_err"] == "nm"
    assert fit.units["orientation"] == "deg"


# ------------------------------------------------------------ property 5
def _table(x, y, size, scale=0.01):
    grid = {
        k: {"size": size, "scale": scale, "offset": 0.0, "units": "nm", "name": k}
        for k in "xy"
    }
    return make_atom_positions(
        {"x": x * scale, "y": y * scale}, {"x": "nm", "y": "nm"}, grid
    )


@given(
    lattice=st.sampled_from(["square", "hexagonal", "perovskite"]),
    spacing=st.floats(8.0, 20.0),
    rotation=st.floats(0.0, 360.0),
    turn=st.floats(-180.0, 180.0),
    shift=st.tuples(st.floats(-20.0, 20.0), st.floats(-20.0, 20.0)),
    jitter=st.floats(0.0, 0.03),
    shells=st.integers(1, 2),
    seed=st.integers(0, 2**16),
)
def test_angle_metric_is_rotation_invariant(
    lattice, spacing, rotation, turn, shift, jitter, shells, seed
):
    """Turning and moving every atom changes no neighbourhood of the angle
    metric, up to the lattice's own symmetry: each atom's frame is anchored on
    the first-shell direction nearest the image-wide mean orientation, which
    is defined modulo 360°/m (m first-shell neighbours), so a turn can anchor
    every atom on the next equivalent neighbour, one relabelling for the
    whole image. The bond invariants are unchanged outright. ``k`` closes
    whole shells (which members of a partly used shell are kept depends on
    noise, see docs/architecture.md)."""
    m = {"square": 4, "hexagonal": 6, "perovskite": 4}[lattice]
    k = {"square": (4, 8), "hexagonal": (6, 12), "perovskite": (4, 8)}[lattice][
        shells - 1
    ]
    size = 400  # the field: the atoms sit in its central 160 px
    x, y, _ = lattice_positions((160, 160), spacing, lattice, rotation)
    rng = np.random.default_rng(seed)
    x = x + jitter * spacing * rng.standard_normal(len(x)) + 120
    y = y + jitter * spacing * rng.standard_normal(len(y)) + 120
    c, sn = np.cos(np.deg2rad(turn)), np.sin(np.deg2rad(turn))
    cx = cy = 199.5
    xr = cx + c * (x - cx) - sn * (y - cy) + shift[0]
    yr = cy + sn * (x - cx) + c * (y - cy) + shift[1]
    a, b = _table(x, y, size), _table(xr, yr, size)
    # the same centres on both: no border rule (it depends on the field edges)
    nb_a = a.get_neighbourhoods(k, metric="angle", exclude_border=False)
    nb_b = b.get_neighbourhoods(k, metric="angle", exclude_border=False)
    # centres far from the pattern's edge have complete neighbourhoods in both
    r = np.hypot(x - 199.5, y - 199.5)
    inner = np.flatnonzero(r < 80 - 3 * spacing)
    assume(len(inner) >= 3)
    row_a = {c: i for i, c in enumerate(nb_a.centre_indices)}
    row_b = {c: i for i, c in enumerate(nb_b.centre_indices)}
    ra = [row_a[c] for c in inner]
    rb = [row_b[c] for c in inner]
    scale = 0.01  # nm per pixel of the tables
    tol = 1e-6 * spacing * scale
    va = nb_a.get_vectors("local")[ra]
    vb = nb_b.get_vectors("local")[rb]
    # one symmetry relabelling (a turn by 360°/m * j) for every atom
    mismatch = []
    for j in range(m):
        t = 2 * np.pi * j / m
        rot = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
        turned = va @ rot
        d = np.linalg.norm(vb[:, :, None, :] - turned[:, None, :, :], axis=-1)
        mismatch.append(max(d.min(axis=2).max(), d.min(axis=1).max()))
    j = int(np.argmin(mismatch))
    assert mismatch[j] < tol, (j, mismatch)
    if j == 0:  # the same anchor: the same vectors in the same order
        np.testing.assert_allclose(vb, va, atol=tol)
    ia, ib = nb_a.get_invariants(), nb_b.get_invariants()
    for n in range(1, k + 1):
        np.testing.assert_allclose(
            ib.get_column(f"bond_{n}")[rb], ia.get_column(f"bond_{n}")[ra], atol=tol
        )
        np.testing.assert_allclose(
            ib.get_column(f"bond_angle_{n}")[rb],
            ia.get_column(f"bond_angle_{n}")[ra],
            atol=1e-6,
        )


# ------------------------------------------------------------ property 6
_junk_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-5, 5),
    st.sampled_from(["a", None, True, [0.1], (1, 2)]),
)


@st.composite
def parameters(draw, good, bad):
    """Valid keyword arguments with up to two of them replaced by bad ones
    (none in about a third of the examples, so that the success path is
    exercised too)."""
    kwargs = {name: draw(strategy) for name, strategy in good.items()}
    corrupt = draw(st.sets(st.sampled_from(sorted(bad)), max_size=2))
    for name in corrupt:
        kwargs[name] = draw(bad[name])
    return kwargs


def _names_the_problem(error, names):
    text = str(error)
    return any(f"`{n}`" in text for n in names) or re.search(_FIND_ERRORS, text)


def _outcome(error):
    """A short label of an outcome, for hypothesis' statistics."""
    return f"{type(error).__name__}: {str(error)[:40]}"


@pytest.fixture(scope="module")
def sample():
    img, _ = make_lattice_image((96, 96), spacing=16, sigma=3, seed=0)
    s = _atomic(img, 0.01, (0.0, 0.0), "nm")
    atoms = s.find_atoms()
    nb = atoms.get_neighbourhoods(4)
    return s, atoms, nb


_FIND_GOOD = {
    "separation": st.one_of(st.none(), st.floats(0.08, 0.4)),
    "threshold": st.one_of(st.just("auto"), st.floats(0.0, 0.9)),
    "method": st.sampled_from(["template", "log", "local_max", ["template", "log"]]),
    "n_sublattices": st.integers(1, 3),
    "min_area": st.floats(0.0, 0.5),
}
_FIND_BAD = {
    "separation": _junk_numbers,
    "threshold": _junk_numbers,
    "method": st.sampled_from(["foo", 3, None, ["log", "x"], []]),
    "n_sublattices": st.sampled_from([0, -2, 1.5, "2", None]),
    "min_area": _junk_numbers,
}


@given(kw=parameters(_FIND_GOOD, _FIND_BAD))
def test_find_atoms_bad_parameters_give_documented_errors(sample, kw):
    s = sample[0]
    try:
        atoms = s.find_atoms(**kw)
    except (ValueError, TypeError) as e:
        assert _names_the_problem(e, list(kw) + ["max_area"]), repr(e)
        event(_outcome(e))
        return
    event("atoms found")
    assert _inside(atoms, (96, 96))
    assert np.all(np.isfinite(atoms.data))


_REFINE_GOOD = {
    "radius": st.one_of(st.none(), st.floats(0.02, 0.2)),
    "model": st.sampled_from(["round", "elliptical"]),
    "weights": st.sampled_from(["auto", "poisson", "uniform"]),
    "method": st.sampled_from(["gaussian", "com"]),
    "max_passes": st.integers(1, 4),
}
_REFINE_BAD = {
    "radius": _junk_numbers,
    "model": st.sampled_from(["f", None, 1]),
    "weights": st.sampled_from(["bar", None, 1]),
    "method": st.sampled_from(["baz", None]),
    "max_passes": st.sampled_from([0, -1, 1.5, "3", None]),
}


@given(kw=parameters(_REFINE_GOOD, _REFINE_BAD))
def test_refine_atoms_bad_parameters_give_documented_errors(sample, kw):
    s, atoms, _ = sample
    try:
        fit = _quiet(s.refine_atoms, atoms, **kw)
    except (ValueError, TypeError) as e:
        assert _names_the_problem(e, list(kw)), repr(e)
        event(_outcome(e))
        return
    event("refined")
    assert np.all(np.isfinite(fit.get_column("x")))
    if kw["method"] == "gaussian":
        ok = fit.get_column("converged") == 1
        assert not ok.any() or _inside(fit.select(ok), (96, 96))
        assert np.all(np.isnan(fit.get_column("x_err")[~ok]))


_NB_GOOD = {
    "n_neighbours": st.one_of(st.none(), st.integers(1, 8)),
    "metric": st.sampled_from(["distance", "angle"]),
    "radius": st.one_of(st.none(), st.floats(0.1, 0.3)),
    "border": st.one_of(st.none(), st.floats(0.0, 0.2)),
    "angle_tolerance": st.floats(0.0, 30.0),
}
_NB_BAD = {
    "n_neighbours": st.sampled_from([0, -2, 30, 2.5, "4"]),
    "metric": st.sampled_from(["foo", None]),
    "radius": _junk_numbers,
    "border": _junk_numbers,
    "angle_tolerance": _junk_numbers,
}


@given(kw=parameters(_NB_GOOD, _NB_BAD))
def test_get_neighbourhoods_bad_parameters_give_documented_errors(sample, kw):
    atoms = sample[1]
    try:
        nb = atoms.get_neighbourhoods(**kw)
    except (ValueError, TypeError) as e:
        assert _names_the_problem(e, list(kw)) or re.search(
            r"Unknown metric|atom\(s\) given; at least|lie within the border", str(e)
        ), repr(e)
        event(_outcome(e))
        return
    event("neighbourhoods")
    assert nb.axes_manager.navigation_size >= 1
    finite = np.isfinite(nb.data)
    assert finite.any()  # some centre has a neighbour
    # missing neighbours (radius mode) are NaN, flagged, and come last
    np.testing.assert_array_equal(nb.get_missing_mask(), ~finite.all(axis=1))
    count = finite[:, 0::2].sum(axis=1)
    assert np.all(finite[:, 0::2] == (np.arange(nb.n_neighbours) < count[:, None]))
    if kw["radius"] is not None:
        length = np.hypot(nb.data[:, 0::2], nb.data[:, 1::2])
        assert np.all(length[np.isfinite(length)] <= kw["radius"] * (1 + 1e-9))


_CLUSTER_GOOD = {
    "n_clusters": st.integers(1, 9),
    "algorithm": st.sampled_from([None, "kmeans", "kmedians", "agglomerative"]),
}
_CLUSTER_BAD = {
    "n_clusters": st.sampled_from([0, -3, 40, 1.5, "2", None]),
    "algorithm": st.sampled_from(["nope", "KMeans"]),
}


@given(kw=parameters(_CLUSTER_GOOD, _CLUSTER_BAD))
def test_cluster_analysis_bad_parameters_give_documented_errors(sample, kw):
    nb = sample[2].deepcopy()
    try:
        nb.cluster_analysis(**kw)
    except (ValueError, TypeError) as e:
        assert _names_the_problem(e, list(kw)), repr(e)
        event(_outcome(e))
        return
    event("clustered")
    labels = nb.get_cluster_labels(merged=True).data
    assert labels.shape == (nb.axes_manager.navigation_size,)
    assert set(np.unique(labels)) <= set(range(kw["n_clusters"]))


# ------------------------------------------------------------ property 7
@given(
    spacing=st.floats(10.0, 20.0),
    rotation=st.floats(0.0, 90.0),
    shift=st.tuples(st.floats(-0.25, 0.25), st.floats(-0.25, 0.25)),
    scale=st.floats(1e-3, 1e3),
    seed=st.integers(0, 2**16),
)
def test_tracking_recovers_a_shift_in_calibrated_units(
    spacing, rotation, shift, scale, seed
):
    x, y, _ = lattice_positions((128, 128), spacing, "square", rotation)
    rng = np.random.default_rng(seed)
    x = x + 0.02 * spacing * rng.standard_normal(len(x))
    y = y + 0.02 * spacing * rng.standard_normal(len(y))
    dx, dy = shift[0] * spacing, shift[1] * spacing  # pixels
    grid = {
        k: {"size": 128, "scale": scale, "offset": 0.0, "units": "nm", "name": k}
        for k in "xy"
    }
    nav = [{"size": 2, "scale": 1.0, "offset": 0.0, "units": "s", "name": "time"}]
    table = make_atom_positions(
        {
            "x": np.concatenate([x, x + dx]) * scale,
            "y": np.concatenate([y, y + dy]) * scale,
            "frame": np.repeat([0.0, 1.0], len(x)),
        },
        {"x": "nm", "y": "nm"},
        grid,
        navigation=nav,
    )
    linked = table.link_frames()
    track = linked.get_column("track")
    np.testing.assert_array_equal(track[: len(x)], track[len(x) :])
    drift = linked.estimate_drift()
    np.testing.assert_allclose(
        drift.data[1, :2], [dx * scale, dy * scale], rtol=1e-9, atol=1e-12 * scale
    )
    assert drift.metadata.Signal.quantity == "nm"
