"""The default pipeline held to the truth of the simulated corpus (issue 18).

The corpus (``tests/data/corpus/``, made by ``benchmarks/make_corpus.py`` with
abTEM multislice; see the README there) holds small SrTiO3 [001] and [110]
HAADF/ABF frames, a MoS2 monolayer at 60 kV, a 2 nm Au cuboctahedron in
vacuum along [110] and a low-dose frame, each with the true projected
column positions and site types. Every test runs the DEFAULT pipeline of
``localcryst analyse`` (``find_atoms()`` -> ``refine_atoms()`` ->
``label_sublattices(n)``) and compares with the truth using the evaluation of
``benchmarks/bench_real.py`` (one-to-one matching within 0.3 x the smallest
column distance; see its docstring).

Thresholds are the targets of issue 18 ("<= 2 % of columns missed, <= 3 % of
atoms off any column, <= 2 % in vacuum, >= 98 % converged, >= 98 % right
sublattices"). Where the current defaults miss a target, the test is marked
``xfail(strict=True)`` with the measured value, so that it fails loudly (and
must be unmarked) once the fix lands.
"""

import importlib.util
import inspect
import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from hyperspy_localcryst.signals.atom_positions import AtomPositions

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "corpus"

_spec = importlib.util.spec_from_file_location(
    "bench_real", ROOT / "benchmarks" / "bench_real.py"
)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@lru_cache(maxsize=None)
def result(name):
    """Default pipeline on one scene, evaluated (cached: each scene runs once)."""
    image, _, meta = bench.load_scene(name, CORPUS)
    atoms, info = bench.run_defaults(
        bench.scene_signal(image, meta), len(meta["expected_sites"])
    )
    assert info["error"] is None, info["error"]
    xy, conv, sub = bench.atom_arrays(atoms)
    res = bench.evaluate(meta, xy, conv, sub, image.shape)
    res["xy"], res["meta"] = xy, meta
    return res


# sublattices by structure (issue 18, point 5) flips the low-dose labels
_BY_STRUCTURE = (
    "method" in inspect.signature(AtomPositions.label_sublattices).parameters
)


def xfail(reason):
    return pytest.mark.xfail(strict=True, reason=f"issue 18: {reason}")


# ------------------------------------------------ the corpus and its truth
def test_corpus_is_small_and_complete():
    files = sorted(CORPUS.iterdir())
    total = sum(f.stat().st_size for f in files)
    assert total < 5e6
    names = bench.corpus_scenes(CORPUS)
    for must in ("sto001_haadf", "sto001_abf", "sto110_haadf", "sto110_abf",
                 "mos2_haadf", "au_np110_haadf", "sto001_haadf_lowdose"):  # fmt: skip
        assert must in names
    for name in names:
        image, _, meta = bench.load_scene(name, CORPUS)
        assert image.shape == tuple(meta["image_shape_rows_cols"])
        assert max(image.shape) <= 320
        assert meta["abtem_version"] and meta["licence"]


@pytest.mark.parametrize("name", ["sto001_haadf", "sto110_haadf", "mos2_haadf"])
def test_truth_sits_on_the_noise_free_columns(name):
    """Independent check of the truth convention (x = column, y = row):
    the intensity-weighted centre of the noise-free image in a small disc
    around each expected column is within 0.15 px of the recorded position
    (the images are not square, so an x/y swap fails)."""
    _, clean, meta = bench.load_scene(name, CORPUS)
    txy, site, expected = bench.truth_arrays(meta)
    ny, nx = clean.shape
    r = 0.25 * meta["min_column_distance_A"] / meta["pixel_size_x_A"]
    yy, xx = np.mgrid[0:ny, 0:nx]
    errs = []
    for x, y in txy[expected]:
        if not (3 * r < x < nx - 1 - 3 * r and 3 * r < y < ny - 1 - 3 * r):
            continue
        m = np.hypot(xx - x, yy - y) <= r
        w = clean[m] - clean[m].min()
        errs.append(np.hypot(*(np.c_[xx[m], yy[m]].T @ w / w.sum() - (x, y))))
    assert len(errs) > 10
    assert np.median(errs) < 0.15
    # and a transposed truth does not fit
    assert ny != nx


def test_evaluation_counts_known_mistakes():
    """The metric itself: from the true positions, drop 3 columns, add 2
    invented atoms between columns, shift the rest by 0.1 px in x."""
    _, _, meta = bench.load_scene("sto001_abf", CORPUS)
    txy, site, expected = bench.truth_arrays(meta)
    rng = np.random.default_rng(0)
    base = bench.evaluate(meta, txy, np.ones(len(txy)), None)
    keep = np.ones(len(txy), bool)
    interior = np.flatnonzero(
        (txy[:, 0] > 40) & (txy[:, 0] < 150) & (txy[:, 1] > 40) & (txy[:, 1] < 110)
    )
    drop = rng.choice(interior, 3, replace=False)
    keep[drop] = False
    fake = np.array([[60.3, 71.1], [101.9, 52.6]])  # between columns
    found = np.r_[txy[keep] + (0.1, 0.0), fake]
    res = bench.evaluate(meta, found, np.ones(len(found)), None)
    assert res["missed"] == base["missed"] + 3 == 3
    assert res["invented"] == 2
    assert res["median_error_pm"] == pytest.approx(0.1 * meta["pixel_size_x_A"] * 100)
    # swapped x/y: the truth is not symmetric, most columns are off
    swapped = bench.evaluate(meta, txy[:, ::-1], np.ones(len(txy)), None)
    assert swapped["recall"] < 0.8
    # the best label permutation: labels that are a relabelling of the sites
    # score 1, random labels do not
    perm = {"Sr": 2, "TiO": 0, "O": 1}
    lab = np.array([perm[s] for s in site])
    assert bench.sublattice_accuracy(lab, site) == 1.0
    assert bench.sublattice_accuracy(rng.integers(0, 3, len(site)), site) < 0.6


# ---------------------------------------------------------- the defaults
def test_sto001_haadf_columns():
    r = result("sto001_haadf")
    assert r["recall"] >= 0.98, r
    assert r["precision"] >= 0.97, r


def test_sto001_haadf_sublattices():
    r = result("sto001_haadf")
    assert r["sublattice_accuracy"] >= 0.98, r


def test_sto001_haadf_precise():
    r = result("sto001_haadf")
    assert r["median_error_pm"] <= 5.0, r


def test_sto001_abf_columns():
    r = result("sto001_abf")
    assert r["recall"] >= 0.98, r
    assert r["precision"] >= 0.97, r


@pytest.mark.parametrize("name", ["sto001_abf", "sto110_abf", "sto110_haadf"])
def test_perovskite_sublattices(name):
    # issue 18, point 5: >= 98 % right on [001] and [110], HAADF and raw ABF,
    # with n = the site types the detector shows (3 in ABF [001]: Sr, Ti-O
    # and O, where the cation / O checkerboard alone has only 2 sites and
    # Sr / Ti-O is an order inside its cation site: 0.833 by the intensity
    # fallback before that order was sought)
    r = result(name)
    assert r["sublattice_accuracy"] >= 0.98, r


def test_no_order_is_invented_inside_the_sites_of_a_small_haadf_frame():
    # SrTiO3 [001] HAADF, 20 Sr and 20 Ti-O columns: 3 labels asked, and no
    # third type. The columns cut by the frame differ in brightness, and a
    # cell 12 times the true one (sub-sites of 1-4 atoms) "explained" that
    # before sub-sites needed 8 atoms and cells at most 4 times the parent;
    # now it falls back to the intensity split, with a warning
    from hyperspy_localcryst.numerics import sublattices as sl

    image, _, meta = bench.load_scene("sto001_haadf", CORPUS)
    s = bench.scene_signal(image, meta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = s.refine_atoms(s.find_atoms())
    x, y = atoms.get_pixel_positions()
    with pytest.warns(UserWarning, match="fewer than `n_sublattices`"):
        _, info = sl.label_sublattices(x, y, atoms.get_column("amplitude"), 3)
    assert info["method"] == "local intensity" and "split" not in info


def test_sto110_haadf_close_columns():
    r = result("sto110_haadf")
    assert r["recall"] >= 0.98, r
    assert r["precision"] >= 0.97, r


def test_sto110_abf_columns():
    r = result("sto110_abf")
    assert r["recall"] >= 0.98, r
    assert r["precision"] >= 0.97, r


def test_mos2_finds_mo_and_s2():
    r = result("mos2_haadf")
    assert r["recall_by_site"]["Mo"] >= 0.98, r
    assert r["recall_by_site"]["S2"] >= 0.98, r
    assert r["precision"] >= 0.97, r


def test_nanoparticle_no_atoms_in_vacuum():
    r = result("au_np110_haadf")
    assert r["vacuum_fraction"] <= 0.02, r
    assert r["recall"] >= 0.98, r


def test_low_dose_frame():
    r = result("sto001_haadf_lowdose")
    assert r["recall"] >= 0.98, r
    assert r["precision"] >= 0.97, r


@pytest.mark.xfail(
    not _BY_STRUCTURE,
    strict=True,
    reason="issue 18: labels by global amplitude: 0.944 right on the low-dose "
    "frame (1.000 with the sublattices-by-structure default)",
)
def test_low_dose_sublattices():
    r = result("sto001_haadf_lowdose")
    assert r["sublattice_accuracy"] >= 0.98, r


@pytest.mark.parametrize(
    "name",
    [
        # every fit converges: the candidates on the outermost pixels of
        # columns centred beyond the frame (8 of 48 on [001], 12 of 62 on
        # [110], whose fits could only land outside) are no longer found
        "sto001_haadf",
        "sto001_abf",
        "sto110_haadf",
        "mos2_haadf",
        "au_np110_haadf",
    ],
)
def test_fits_converge(name):
    assert result(name)["converged"] >= 0.98, result(name)


def test_meta_records_the_simulation():
    meta = json.loads((CORPUS / "mos2_haadf.json").read_text())
    assert meta["energy_eV"] == 60e3
    assert {c["site"] for c in meta["columns"]} == {"Mo", "S2"}


def test_drift_on_a_periodic_series():
    """Default image-based drift on 6 frames of the SrTiO3 [001] scene shifted
    by known amounts (< 0.35 lattice spacings), Poisson noise: within 0.3 px."""
    d = bench.run_drift(CORPUS)
    assert d["max_err_px"] <= 0.3, d


@pytest.mark.parametrize("name", ["sto001_abf", "sto110_abf"])
def test_report_site_classes_of_raw_abf_are_the_site_types(name, tmp_path):
    # issue 18 (done when): ABF neighbourhood classes match the site types,
    # ARI >= 0.8, with every default of `localcryst analyse` (2 sublattice
    # labels). Two labels merge Sr with Ti-O in [001] (cations / O) and Ti
    # with O in [110]; the order inside that label is found by structure
    # (`split_types`), so the classes are Sr, Ti-O, O and Sr-O, Ti, O
    # (ARI 0.74 and 0.66 before: 2 classes)
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score

    from hyperspy_localcryst import report

    image, _, meta = bench.load_scene(name, CORPUS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = report.analyse(bench.scene_signal(image, meta), tmp_path / "o")
    atoms = pd.read_csv(tmp_path / "o" / "atoms.csv")
    x = atoms[[c for c in atoms.columns if c.startswith("x [")][0]].to_numpy()
    y = atoms[[c for c in atoms.columns if c.startswith("y [")][0]].to_numpy()
    found = np.c_[x / meta["pixel_size_x_A"], y / meta["pixel_size_y_A"]] * 10
    txy, site, _ = bench.truth_arrays(meta)
    radius = 0.3 * meta["min_column_distance_A"] / meta["pixel_size_x_A"]
    i, j = bench.match(txy, found, radius)
    cls = atoms["site_class"].to_numpy()[j]
    centre = cls >= 0
    assert centre.sum() >= 20
    assert summary["n_site_classes"] == 3, summary["clusters_reason"]
    assert adjusted_rand_score(site[i][centre], cls[centre]) >= 0.8
