"""Atoms and spectrum images: registration, per-atom and per-cluster spectra.

Known truth from ``make_spectrum_image_pair``: a perovskite survey image and a
spectrum image (SI) of the same atoms in which sublattice A has an edge at
456 eV and sublattice B one at 532 eV, the SI scanning an offset (and turned)
region with pixels larger than the survey's.
"""

import functools
import warnings

import hyperspy.api as hs
import numpy as np
import pytest
from scipy.spatial import cKDTree

from hyperspy_localcryst.data.synthetic import (
    edge_spectrum,
    make_spectrum_image_pair,
    two_phase_positions,
)
from hyperspy_localcryst.numerics import spectra as nsp
from hyperspy_localcryst.signals.si_registration import (
    estimate_si_registration,
    region_from_metadata,
)

SCALE = 0.01  # nm per survey pixel


def _survey_signal(survey):
    s = hs.signals.Signal2D(survey)
    for ax, name in zip(s.axes_manager.signal_axes, "xy"):
        ax.scale, ax.units, ax.name = SCALE, "nm", name
    s.set_signal_type("atomic_image")
    return s


def _si_signal(si, energy, scale=1.0, units=""):
    s = hs.signals.Signal1D(si)
    e = s.axes_manager.signal_axes[0]
    e.offset, e.scale, e.units, e.name = energy[0], energy[1] - energy[0], "eV", "E"
    for ax, name in zip(s.axes_manager.navigation_axes, "xy"):
        ax.scale, ax.units, ax.name = scale, units, name
    s.metadata.General.title = "synthetic SI"
    return s


def _with_background(si, a=1e9, r=3.0):
    """The SI plus a power-law background ``a E^-r`` (counts per channel):
    the synthetic edges have none, and a power law cannot be estimated on
    zero counts (neither by exspy nor by us)."""
    out = si.deepcopy()
    e = out.axes_manager.signal_axes[0].axis
    out.data = out.data + a * e**-r
    return out


def _match(found_x, found_y, tx, ty, tol=3.0):
    d, k = cKDTree(np.column_stack([tx, ty])).query(np.column_stack([found_x, found_y]))
    return d < tol, k


CASES = {
    # name: (SI region in survey px (left, top, right, bottom), rotation deg)
    "offset": ((40.5, 30.5, 150.5, 160.5), 0.0),
    "rotated_offset": ((35.5, 45.5, 145.5, 135.5), 17.0),
    "rotated_large": ((50.5, 40.5, 140.5, 150.5), -35.0),
}


@functools.lru_cache(maxsize=None)
def _make_pair(name):
    region, rotation = CASES[name]
    survey, si, truth = make_spectrum_image_pair(
        shape=(192, 192),
        si_shape=(36, 30),
        si_region=region,
        si_rotation=rotation,
        seed=1,
    )
    img = _survey_signal(survey)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = img.find_atoms().label_sublattices(2, column="peak")
    return {
        "atoms": atoms,
        "si": _si_signal(si, truth["energy"]),  # uncalibrated spatial axes
        "truth": truth,
        "region": tuple(v * SCALE for v in region),
        "rotation": rotation,
        "name": name,
    }


@pytest.fixture(params=list(CASES))
def pair(request):
    return _make_pair(request.param)


# ---------------------------------------------------------------- numerics
def test_region_transform_and_inverse():
    A = nsp.region_transform((9.5, 19.5, 29.5, 59.5), (4, 2), rotation=30.0)
    # SI pixel size along its axes: 10 x 10 survey px
    assert np.allclose(np.hypot(*A[:, 0]), 10) and np.allclose(np.hypot(*A[:, 1]), 10)
    # the region's centre is the centre of the SI grid
    cx, cy = nsp.apply_affine(A, [0.5], [1.5])
    assert np.allclose([cx[0], cy[0]], [19.5, 39.5])
    i, j = nsp.atoms_to_si_pixels(*nsp.apply_affine(A, [1.0, 0.3], [2.0, 3.7]), A)
    assert np.allclose(i, [1.0, 0.3]) and np.allclose(j, [2.0, 3.7])
    # +i points along (cos, -sin) of the rotation on the survey (CCW on screen)
    d = A[:, 0] / 10
    assert np.allclose(d, [np.cos(np.pi / 6), -np.sin(np.pi / 6)])


def test_cell_weights_areas():
    A = nsp.region_transform((-0.5, -0.5, 19.5, 19.5), (10, 10))  # 2 px per SI px
    x, y = np.array([5.0, 14.0]), np.array([5.0, 14.0])
    W = nsp.cell_weights(x, y, A, (10, 10), max_distance=1e9, subsample=4)
    assert np.isclose(W.sum(), 100.0)  # every SI pixel is shared out exactly
    Wr = nsp.cell_weights(x, y, A, (10, 10), cell="radius", radius=4.0, subsample=8)
    area = np.asarray(Wr.sum(axis=1)).ravel() * 4  # in survey px^2
    assert np.allclose(area, np.pi * 16, rtol=0.03)


def test_integrate_and_cluster_means_exact():
    rng = np.random.default_rng(0)
    spectra = rng.random((3, 4, 5))
    A = nsp.region_transform((-0.5, -0.5, 3.5, 2.5), (3, 4))
    W = nsp.cell_weights(
        [0.0, 3.0], [1.0, 1.0], A, (3, 4), max_distance=10, subsample=1
    )
    sums, area = nsp.integrate_cells(spectra, W)
    assert np.allclose(sums[0], spectra[:, :2].sum(axis=(0, 1)))
    assert np.allclose(area, [6, 6])
    means, n, tot = nsp.cluster_mean_spectra(sums, area, [0, 0])
    assert np.allclose(means[0], spectra.reshape(-1, 5).mean(axis=0))
    with pytest.raises(ValueError, match="Cluster\\(s\\) \\[1\\]"):
        nsp.cluster_mean_spectra(sums, area, [0, 0], n_clusters=2)
    m, _, _ = nsp.cluster_mean_spectra(sums, area, [0, 0], 2, allow_empty=True)
    assert np.isnan(m[1]).all()


def test_window_intensity_recovers_edge_above_power_law():
    e = np.arange(400.0, 600.0)
    edge = edge_spectrum(e, 456.0)
    s = 1e9 * e**-3.0 + 40 * edge
    got = nsp.window_intensity(s[None], e, (454, 486), (406, 451))
    want = 40 * edge[(e >= 454) & (e <= 486)].sum()
    assert abs(got[0] - want) < 0.02 * want


def test_estimate_si_shift_recovers_drift():
    survey, _, _ = make_spectrum_image_pair(shape=(128, 128), noise=None)
    A = nsp.region_transform((30.5, 20.5, 90.5, 100.5), (16, 12))
    # the simultaneous image was really recorded 3 px right, 3 px up
    haadf = survey[18:98, 34:94]
    (dx, dy), score = nsp.estimate_si_shift(survey, haadf, A, (16, 12), search=6)
    assert abs(dx - 3) < 0.3 and abs(dy + 3) < 0.3 and score > 0.9


def test_rotate_affine_matches_region_transform():
    region, shape = (9.5, 19.5, 29.5, 59.5), (4, 2)
    for angle in (-35.0, 17.0, 120.0):
        np.testing.assert_allclose(
            nsp.rotate_affine(nsp.region_transform(region, shape), angle, shape),
            nsp.region_transform(region, shape, angle),
            atol=1e-12,
        )


@pytest.mark.parametrize("rotation", [-35.0, 120.0])
def test_registration_estimates_unknown_rotation_and_drift(rotation):
    """The SI was turned by an angle no file records and drifted by (3, -2)
    survey px: searching all angles with the simultaneous HAADF recovers both,
    and the atoms then map into the SI within a fraction of an SI pixel."""
    x, y, phase = two_phase_positions((192, 192), spacing=14.0, seed=0)
    site = (np.asarray(phase) > 0).astype(int)
    region = (50.5, 40.5, 140.5, 150.5)  # recorded (before the drift)
    drift = np.array([3.0, -2.0])
    true_region = tuple(np.add(region, np.tile(drift, 2)))
    survey, si, t = make_spectrum_image_pair(
        shape=(192, 192),
        si_shape=(36, 30),
        si_region=true_region,
        si_rotation=rotation,
        positions=(x, y, site),
        seed=1,
    )
    img = _survey_signal(survey)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = img.find_atoms()
    si = _si_signal(si, t["energy"])
    cal_region = tuple(v * SCALE for v in region)
    reg = estimate_si_registration(atoms, img, t["haadf"], si, region=cal_region)
    assert abs(reg["rotation"] - rotation) < 0.5
    np.testing.assert_allclose(np.array(reg["shift"]) / SCALE, drift, atol=0.3)
    assert reg["score"] > 0.9
    r = atoms.register_to_spectrum_image(
        si, region=cal_region, rotation=reg["rotation"], shift=reg["shift"]
    )
    ok, k = _match(*atoms.get_pixel_positions(), t["x"], t["y"])
    inside = ok & r.get_column("in_si").astype(bool)
    err = np.hypot(
        r.get_column("si_x")[inside] - t["si_x"][k[inside]],
        r.get_column("si_y")[inside] - t["si_y"][k[inside]],
    )
    assert inside.sum() > 30 and err.max() < 0.25
    # without the estimate (rotation 0, no drift) the mapping is wrong
    r0 = atoms.register_to_spectrum_image(si, region=cal_region)
    err0 = np.hypot(
        r0.get_column("si_x")[inside] - t["si_x"][k[inside]],
        r0.get_column("si_y")[inside] - t["si_y"][k[inside]],
    )
    assert err0.max() > 3


def test_registration_bad_arguments():
    survey, si, t = make_spectrum_image_pair(shape=(96, 96), si_shape=(8, 8), seed=0)
    img = _survey_signal(survey)
    atoms = img.find_atoms()
    si = _si_signal(si, t["energy"])
    region = (0.2, 0.2, 0.7, 0.7)
    for kw, exc, match in (
        ({"rotation_range": (10, -10)}, ValueError, "`rotation_range` must be"),
        ({"rotation_range": "any"}, TypeError, "`rotation_range` must be"),
        ({"rotation_step": 0}, ValueError, "`rotation_step` must be a positive"),
        ({"rotation_step": "1"}, TypeError, "`rotation_step` must be an angle"),
    ):
        with pytest.raises(exc, match=match):
            estimate_si_registration(atoms, img, t["haadf"], si, region, **kw)
    # a range of one angle is just estimate_si_shift at that angle
    one = estimate_si_registration(
        atoms, img, t["haadf"], si, region, rotation_range=(0, 0)
    )
    assert one["rotation"] == 0.0


# ------------------------------------------- registration and spectra (truth)
def test_mapping_within_one_si_pixel(pair):
    atoms, si, t = pair["atoms"], pair["si"], pair["truth"]
    r = atoms.register_to_spectrum_image(
        si, region=pair["region"], rotation=pair["rotation"]
    )
    ok, k = _match(*atoms.get_pixel_positions(), t["x"], t["y"])
    assert ok.sum() > 0.8 * len(t["x"])
    err = np.hypot(
        r.get_column("si_x")[ok] - t["si_x"][k[ok]],
        r.get_column("si_y")[ok] - t["si_y"][k[ok]],
    )
    # within one SI pixel is required; the atoms' own error is ~0.02 SI px
    assert err.max() < 0.25, (pair["name"], err.max())
    info = r.metadata.AtomPositions.spectrum_image
    assert info.region_source == "user"
    inside = r.get_column("in_si").astype(bool)
    ny, nx = si.axes_manager.navigation_shape[::-1]
    si_x, si_y = r.get_column("si_x"), r.get_column("si_y")
    assert ((si_x[inside] >= -0.5) & (si_x[inside] < nx - 0.5)).all()
    assert ((si_y[inside] >= -0.5) & (si_y[inside] < ny - 0.5)).all()
    assert inside.sum() > 20 and (~inside).sum() > 20


def test_sublattice_mean_spectra_recover_site_spectra(pair):
    atoms, si, t = pair["atoms"], pair["si"], pair["truth"]
    ok, k = _match(*atoms.get_pixel_positions(), t["x"], t["y"])
    sub = atoms.get_column("sublattice")
    assert np.mean(sub[ok] == t["site"][k[ok]]) == 1.0  # 0 = bright = site A
    m = atoms.get_class_spectra(
        si, "sublattice", region=pair["region"], rotation=pair["rotation"]
    )
    assert m.axes_manager.navigation_axes[0].name == "cluster"
    e_ax = m.axes_manager.signal_axes[0]
    assert (e_ax.offset, e_ax.scale, e_ax.units) == (400.0, 1.0, "eV")
    for c in range(2):
        r = np.corrcoef(m.data[c], t["site_spectra"][c])[0, 1]
        assert r >= 0.99, (pair["name"], c, r)
    assert min(m.metadata.ClassSpectra.n_atoms) > 20


def test_per_atom_spectra_signal(pair):
    atoms, si = pair["atoms"], pair["si"]
    sp = atoms.get_spectra(si, region=pair["region"], rotation=pair["rotation"])
    assert sp.axes_manager.navigation_axes[0].name == "atom"
    rows = np.asarray(sp.metadata.AtomSpectra.atom_indices)
    assert 20 < len(rows) < atoms.n_atoms
    assert sp.axes_manager.navigation_shape == (len(rows),)
    assert np.isfinite(sp.data).all()
    area = np.zeros(atoms.n_atoms)
    area[rows] = sp.metadata.AtomSpectra.area
    assert (area[rows] > 0).all()
    # the whole SI is shared out among the atoms' cells (up to the SI corners
    # farther than max_distance from every atom)
    ny, nx = si.axes_manager.navigation_shape[::-1]
    assert 0.97 * nx * ny <= area.sum() <= nx * ny + 1e-6
    total = np.nansum(sp.data, axis=0)
    assert total.sum() <= si.data.sum() + 1e-6
    assert total.sum() >= 0.97 * si.data.sum()
    # per-atom edge intensity: A atoms (site 0, Ti-L-like edge) carry it
    t = atoms.get_spectral_quantity(
        _with_background(si),
        edge="Ti_L3",
        region=pair["region"],
        rotation=pair["rotation"],
    )
    v, sub = t.get_column("Ti_L3"), t.get_column("sublattice")
    core = area > 0.8 * np.median(area[area > 0])
    assert np.nanmedian(v[core & (sub == 0)]) > 5 * abs(
        np.nanmedian(v[core & (sub == 1)])
    )


def test_per_atom_spectra_rows_are_the_atoms_in_the_si(pair):
    """One row per atom whose cell the SI covers, with its index: every atom
    inside the SI, plus the edge atoms whose cell reaches into it."""
    atoms, si = pair["atoms"], pair["si"]
    kw = {"region": pair["region"], "rotation": pair["rotation"]}
    sp = atoms.get_spectra(si, **kw)
    rows = np.asarray(sp.metadata.AtomSpectra.atom_indices)
    np.testing.assert_array_equal(sp.axes_manager["atom"].axis, rows)
    assert np.isfinite(sp.data).all() and (np.diff(rows) > 0).all()
    reg = atoms.register_to_spectrum_image(si, **kw)
    inside = np.flatnonzero(reg.get_column("in_si"))
    assert set(inside) <= set(rows)
    # the others lie outside, closer to the SI than their cell's reach (the
    # median nearest-neighbour distance), in SI pixels along its axes
    x, y = atoms.get_pixel_positions()
    nn = np.median(
        cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), 2)[0][:, 1]
    )
    A = np.asarray(reg.metadata.AtomPositions.spectrum_image.affine)
    px_size = np.hypot(*A[:, :2])  # survey px per SI px along i, j
    ny, nx = si.axes_manager.navigation_shape[::-1]
    out = np.setdiff1d(rows, inside)
    si_x, si_y = reg.get_column("si_x")[out], reg.get_column("si_y")[out]
    gap_x = np.maximum(np.maximum(-0.5 - si_x, si_x - (nx - 0.5)), 0) * px_size[0]
    gap_y = np.maximum(np.maximum(-0.5 - si_y, si_y - (ny - 0.5)), 0) * px_size[1]
    assert (np.hypot(gap_x, gap_y) <= nn + 1e-9).all()
    # the sums of the rows are the SI's (up to the corners no cell reaches)
    assert sp.data.sum() == pytest.approx(si.data.sum(), rel=0.03)
    # class spectra and edge columns still count every atom of the table
    t = atoms.get_spectral_quantity(
        _with_background(si), window=(454, 486), background=(406, 451), **kw
    )
    v = t.get_column("window_454_486")
    np.testing.assert_array_equal(np.flatnonzero(np.isfinite(v)), rows)


def test_exspy_runs_on_per_atom_spectra_without_warnings(caplog):
    """exspy's remove_background, create_model and multifit on per-atom
    spectra: no NaN row, so no warning and no logged error."""
    pair = _make_pair("rotated_offset")
    atoms = pair["atoms"]
    si = _with_background(pair["si"])
    si.set_signal_type("EELS")
    si.set_microscope_parameters(
        beam_energy=200.0, convergence_angle=20.0, collection_angle=30.0
    )
    kw = {"region": pair["region"], "rotation": pair["rotation"]}
    sp = atoms.get_spectra(si, normalise=True, **kw)
    assert type(sp).__name__ == "EELSSpectrum"
    with warnings.catch_warnings(record=True) as caught, caplog.at_level("WARNING"):
        warnings.simplefilter("always")
        clean = sp.remove_background(
            signal_range=(406.0, 451.0),
            background_type="PowerLaw",
            show_progressbar=False,
        )
        few = sp.inav[:6]
        m = few.create_model(auto_background=False, auto_add_edges=False)
        pl = hs.model.components1D.PowerLaw()
        m.append(pl)
        pl.estimate_parameters(few, 406.0, 451.0, only_current=False)
        m.set_signal_range(406.0, 451.0)
        m.multifit(show_progressbar=False)
    assert not [str(w.message) for w in caught]
    logged = [r.getMessage() for r in caplog.records if "Numexpr" not in r.getMessage()]
    assert not logged
    assert np.isfinite(clean.data).all()
    assert (
        np.isfinite(pl.r.map["values"]).all() and np.isfinite(pl.A.map["values"]).all()
    )
    # the fitted power law describes the pre-edge to within the noise
    fit = m.as_signal(show_progressbar=False).isig[406.0:451.0].data
    data = few.isig[406.0:451.0].data
    assert np.median(np.abs(fit - data) / np.sqrt(np.abs(data) + 1)) < 3


def test_neighbourhood_cluster_spectra_two_phases():
    """Neighbourhood clusters (square | hexagonal) carry their phase's spectrum."""
    shape = (224, 224)
    x, y, lab = two_phase_positions(shape, 16.0)
    phase = (x > 0.5 * (shape[1] - 1)).astype(int)
    survey, si, t = make_spectrum_image_pair(
        shape=shape,
        positions=(x, y, phase),
        sublattice_peaks=(150.0, 150.0),
        si_region=(20.5, 30.5, 200.5, 190.5),
        si_shape=(32, 36),
        si_rotation=8.0,
        probe_sigma=3.0,
        seed=3,
    )
    atoms = _survey_signal(survey).find_atoms()
    nb = atoms.get_neighbourhoods(n_neighbours=12, metric="angle")
    # three classes: square bulk, hexagonal bulk and the boundary between them
    # (whose neighbourhoods are neither, and whose cells straddle both phases)
    nb.cluster_analysis(n_clusters=3)
    region = (20.5 * SCALE, 30.5 * SCALE, 200.5 * SCALE, 190.5 * SCALE)
    m = nb.get_cluster_spectra(_si_signal(si, t["energy"]), region=region, rotation=8.0)
    assert m.axes_manager.navigation_shape == (3,)
    corr = np.corrcoef(np.vstack([m.data, t["site_spectra"]]))[:3, 3:]
    best = corr.argmax(axis=0)  # the cluster that best matches each phase
    assert best[0] != best[1]
    assert corr[best, [0, 1]].min() >= 0.99, corr
    # the spectral map overlays the image like the cluster map
    smap = nb.get_spectral_map(
        _with_background(_si_signal(si, t["energy"])),
        edge="O_K",
        region=region,
        rotation=8.0,
    )
    assert smap.data.shape == nb.get_cluster_map().data.shape


# ------------------------------------------------------- region from files
def test_region_from_dm_metadata_and_calibrated_axes():
    pair = _make_pair("offset")
    atoms, si = pair["atoms"], pair["si"]
    left, top, right, bottom = (v / SCALE for v in pair["region"])
    dm = si.deepcopy()
    # DigitalMicrograph: (top, left, bottom, right), pixel i spans i .. i + 1
    dm.original_metadata.set_item(
        "ImageList.TagGroup0.ImageTags.SI.Acquisition.Survey Image.Spectrum Image Rect",
        (top + 0.5, left + 0.5, bottom + 0.5, right + 0.5),
    )
    assert np.allclose(region_from_metadata(dm), (left, top, right, bottom))
    ref = atoms.register_to_spectrum_image(si, region=pair["region"])
    r1 = atoms.register_to_spectrum_image(dm)
    assert r1.metadata.AtomPositions.spectrum_image.region_source == "metadata"
    # an SI calibrated in the survey's units needs no region
    cal = si.deepcopy()
    ny, nx = si.axes_manager.navigation_shape[::-1]
    for ax, lo, hi, n in zip(
        cal.axes_manager.navigation_axes, (left, top), (right, bottom), (nx, ny)
    ):
        ax.units = "nm"
        ax.scale = (hi - lo) * SCALE / n
        ax.offset = lo * SCALE + 0.5 * ax.scale
    r2 = atoms.register_to_spectrum_image(cal)
    assert r2.metadata.AtomPositions.spectrum_image.region_source == "si_axes"
    for r in (r1, r2):
        assert np.allclose(r.get_column("si_x"), ref.get_column("si_x"))
        assert np.allclose(r.get_column("si_y"), ref.get_column("si_y"))


# ----------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def small():
    survey, si, t = make_spectrum_image_pair(shape=(96, 96), si_shape=(10, 10), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = _survey_signal(survey).find_atoms()
    return atoms, _si_signal(si, t["energy"])


def test_region_outside_survey_is_refused(small):
    atoms, si = small
    with pytest.raises(ValueError, match="lies outside the survey image"):
        atoms.get_spectra(si, region=(0.5, 0.5, 1.5, 1.5))
    with pytest.raises(ValueError, match="lies outside the survey image"):
        atoms.register_to_spectrum_image(si, region=(-2.0, -2.0, -1.0, -1.0))
    with pytest.raises(ValueError, match="lies outside"):  # turned out of it
        atoms.register_to_spectrum_image(si, region=(0.0, 0.0, 0.95, 0.95), rotation=30)
    with pytest.raises(ValueError, match="no area"):
        atoms.register_to_spectrum_image(si, region=(0.5, 0.5, 0.2, 0.9))


def test_uncalibrated_or_mismatched_si_is_refused(small):
    atoms, si = small
    with pytest.raises(ValueError, match="uncalibrated"):
        atoms.get_spectra(si)
    um = si.deepcopy()
    for ax in um.axes_manager.navigation_axes:
        ax.units, ax.scale = "µm", 1e-4
    with pytest.raises(ValueError, match="Mismatched units.*'µm'.*'nm'"):
        atoms.get_spectra(um)


def test_bad_si_and_arguments(small):
    atoms, si = small
    with pytest.raises(ValueError, match="two navigation axes"):
        atoms.get_spectra(si.inav[0], region=(0.1, 0.1, 0.5, 0.5))
    with pytest.raises(TypeError, match="`si` must be a HyperSpy signal"):
        atoms.get_spectra(np.zeros((4, 4, 10)), region=(0.1, 0.1, 0.5, 0.5))
    with pytest.raises(ValueError, match="`radius`"):
        atoms.get_spectra(si, region=(0.1, 0.1, 0.5, 0.5), cell="radius")
    with pytest.raises(ValueError, match="Unknown `cell`"):
        atoms.get_spectra(si, region=(0.1, 0.1, 0.5, 0.5), cell="hexagon")
    with pytest.raises(ValueError, match="`window`.*outside the energy axis"):
        atoms.get_spectral_quantity(si, window=(900, 950), region=(0.1, 0.1, 0.5, 0.5))
    with pytest.raises(ValueError, match="Unknown edge"):
        atoms.get_spectral_quantity(si, edge="Ti_Q9", region=(0.1, 0.1, 0.5, 0.5))
    nan = si.deepcopy()
    nan.data[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        atoms.get_spectra(nan, region=(0.1, 0.1, 0.5, 0.5))


def test_empty_cluster_is_refused(small):
    atoms, si = small
    # class 1 only holds atoms outside the SI region
    lab = (atoms.get_column("x") > 0.6).astype(int)
    with pytest.raises(ValueError, match=r"Cluster\(s\) \[1\].*allow_empty"):
        atoms.get_class_spectra(si, lab, region=(0.05, 0.05, 0.45, 0.45))
    m = atoms.get_class_spectra(
        si, lab, region=(0.05, 0.05, 0.45, 0.45), allow_empty=True
    )
    assert np.isnan(m.data[1]).all() and np.isfinite(m.data[0]).all()


def test_inputs_unchanged(small):
    from tests._helpers import assert_unchanged, snapshot

    atoms, si = small
    before_a, before_s = snapshot(atoms), snapshot(si)
    atoms.get_spectra(si, region=(0.1, 0.1, 0.5, 0.5))
    atoms.register_to_spectrum_image(si, region=(0.1, 0.1, 0.5, 0.5))
    assert_unchanged(atoms, before_a)
    assert_unchanged(si, before_s)


def test_edge_intensity_is_exspys_and_nan_where_no_power_law():
    """``edge_intensity`` = exspy's remove_background + integrate1D; a
    spectrum without counts in the pre-edge gets NaN and a warning, the
    others keep exspy's values."""
    from hyperspy_localcryst.signals.spectra import edge_intensity

    e = np.arange(400.0, 600.0, 0.5)
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 2.0, 5)[:, None] * 1e9
    data = a * e**-3.0 + rng.uniform(1, 5, 5)[:, None] * (e >= 500)
    s = hs.signals.Signal1D(data)
    s.set_signal_type("EELS")
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units = 400.0, 0.5, "eV"
    want = (
        s.remove_background(
            signal_range=(440.0, 490.0),
            background_type="PowerLaw",
            show_progressbar=False,
        )
        .isig[505.0:530.0]
        .integrate1D(-1)
        .data
    )
    got = edge_intensity(s, (505.0, 530.0), (440.0, 490.0))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    bad = s.deepcopy()
    bad.data[2] = 0.0
    with pytest.warns(UserWarning, match="1 of 5 spectra"):
        got = edge_intensity(bad, (505.0, 530.0), (440.0, 490.0))
    assert np.isnan(got[2]) and np.isfinite(np.delete(got, 2)).all()
    np.testing.assert_allclose(np.delete(got, 2), np.delete(want, 2), rtol=1e-6)
    # without background: the sum of the window's counts (binned axis)
    np.testing.assert_allclose(
        edge_intensity(s, (505.0, 530.0)), data[:, 210:260].sum(axis=1), rtol=1e-12
    )


def test_titanate_per_atom_spectra_no_nan_and_exspy_clean(real_data, caplog):
    """The real STEM-EELS SI (titanate interface, tests/data copy, 350-600 eV)
    and the 926 atoms found on its survey: per-atom spectra only for the 85
    atoms whose cell the SI covers (the rest used to be NaN rows: 841
    warnings from exspy's multifit), exspy runs on them without a warning,
    and the edge column is exspy's own intensity on the same windows."""
    atoms = hs.load(real_data("titanate_interface_survey_atoms.hspy"))
    si = hs.load(real_data("titanate_interface_EELS_SI_350-600eV.hspy"))
    assert type(si).__name__ == "EELSSpectrum" and atoms.n_atoms == 926
    sp = atoms.get_spectra(si, normalise=True)
    rows = np.asarray(sp.metadata.AtomSpectra.atom_indices)
    assert sp.axes_manager.navigation_shape == (85,) and len(rows) == 85
    assert np.isfinite(sp.data).all()
    inside = np.flatnonzero(atoms.register_to_spectrum_image(si).get_column("in_si"))
    assert len(inside) == 65 and set(inside) <= set(rows)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level("WARNING"):
        warnings.simplefilter("always")
        sp.remove_background(
            signal_range=(400.0, 450.0),
            background_type="PowerLaw",
            show_progressbar=False,
        )
        m = sp.create_model(auto_background=False, auto_add_edges=False)
        pl = hs.model.components1D.PowerLaw()
        m.append(pl)
        pl.estimate_parameters(sp, 400.0, 450.0, only_current=False)
        m.set_signal_range(400.0, 450.0)
        m.multifit(show_progressbar=False)
    assert not [str(w.message) for w in caught]
    assert not [r.getMessage() for r in caplog.records if "Numexpr" not in r.msg]
    # Ti L2,3 per atom: exspy's remove_background + integrate1D, in counts
    t = atoms.get_spectral_quantity(si, edge="Ti_L3")
    assert t.units["Ti_L3"] == "counts/SI px"
    md = t.metadata.AtomPositions.spectral_quantities.Ti_L3
    (w0, w1), (b0, b1) = md.window, md.background
    want = (
        sp.remove_background(
            signal_range=(b0, b1), background_type="PowerLaw", show_progressbar=False
        )
        .isig[w0:w1]
        .integrate1D(-1)
        .data
    )
    v = t.get_column("Ti_L3")
    np.testing.assert_allclose(v[rows], want, rtol=1e-6)
    assert np.isnan(np.delete(v, rows)).all()
