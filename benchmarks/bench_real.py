"""The DEFAULT pipeline on the simulated corpus (with truth) and on real images.

For every scene of ``tests/data/corpus/`` (abTEM simulations, see
``benchmarks/make_corpus.py``) and every real file of ``../shared/data/real``
(or ``--real DIR``) this runs what ``localcryst analyse`` runs with its
defaults (``hyperspy_localcryst/report.py``)::

    atoms = s.find_atoms()
    atoms = s.refine_atoms(atoms)
    atoms = atoms.label_sublattices(n)      # when >= 10 atoms per type

and reports, per image: atoms found; against the truth (corpus only) columns
matched / missed / invented, recall, precision, atoms in vacuum, sublattice
accuracy (best one-to-one map of labels to site types), median position
error (pm); for every image the fraction of converged fits, the median
nearest-neighbour distance, the number of distinct warnings and the time.

Truth conventions (``evaluate``):

- *expected* columns: the site types a detector shows (``expected_sites`` in
  the scene's JSON, e.g. Sr and TiO in HAADF of SrTiO3 [001], every column in
  ABF); columns of the other types (``optional_sites``: O in HAADF) are
  "don't care": an atom on one is neither right nor wrong.
- matching: one-to-one (Hungarian, ``scipy.optimize.linear_sum_assignment``)
  within ``0.3 x`` the smallest distance between any two true columns.
- border: expected columns closer than 0.25 x the smallest expected-column
  distance to the image edge, and unmatched atoms there, are "don't care".
- invented: an atom matched to no true column, inside the border.
- in vacuum: an atom farther than the median nearest-neighbour column
  distance from every true column (non-periodic scenes only: in a periodic
  crystal the columns just outside the frame are not in the truth).
- sublattice accuracy: on matched expected columns, with ``n`` = number of
  expected site types, the fraction whose label maps to their site type
  under the best label -> type assignment.

A drift check (on by default, ``--no-drift`` to skip) builds a 6-frame periodic
series from the noise-free SrTiO3 [001] HAADF scene by exact Fourier shifts of
known amounts (up to 0.35 lattice spacings: beyond half a spacing a shift of a
perfect crystal is ambiguous), adds Poisson noise, and compares the
default ``AtomicImage.estimate_drift()`` with the known shifts.

Run from the repository root (2 cores: about 10 minutes with the real files)::

    nice -n 10 python benchmarks/bench_real.py --out /tmp/bench_real.md
    BENCH_PACKAGE_ROOT=/path/to/other/checkout python benchmarks/bench_real.py
    python benchmarks/bench_real.py --no-real --no-drift    # corpus only
"""

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
# the package of this source tree (not an installed copy); BENCH_PACKAGE_ROOT
# names another checkout to measure instead
sys.path.insert(0, os.environ.get("BENCH_PACKAGE_ROOT", str(ROOT)))
CORPUS = ROOT / "tests" / "data" / "corpus"
REAL = ROOT.parent / "shared" / "data" / "real"
if not REAL.exists():
    REAL = Path("/work/shared/data/real")


# ------------------------------------------------------------------ loading
def corpus_scenes(directory=CORPUS):
    """Names of the corpus scenes (one ``.json`` + ``.npz`` each), sorted."""
    return sorted(p.stem for p in Path(directory).glob("*.json"))


def load_scene(name, directory=CORPUS):
    """``(image, clean_or_None, meta)`` of one corpus scene."""
    directory = Path(directory)
    meta = json.loads((directory / f"{name}.json").read_text())
    with np.load(directory / f"{name}.npz") as z:
        image = z["image"].astype(np.float64)
        clean = z["clean"].astype(np.float64) if "clean" in z else None
    return image, clean, meta


def to_signal(image, scale_x=1.0, scale_y=1.0, units="px"):
    """An AtomicImage on axes (x = column, y = row) with the given scales."""
    from hyperspy_localcryst.signals.atomic_image import AtomicImage

    s = AtomicImage(np.asarray(image, dtype=np.float64))
    for ax, name, sc in zip(s.axes_manager.signal_axes, "xy", (scale_x, scale_y)):
        ax.name, ax.scale, ax.offset, ax.units = name, sc, 0.0, units
    return s


def scene_signal(image, meta):
    """The corpus image as an AtomicImage calibrated in nm.

    A periodic supercell rarely gives exactly square pixels (MoS2: 0.1002 x
    0.1000 Å); the package refuses non-square pixels, so both axes get the
    geometric mean (the evaluation is in pixels and uses the true sizes).
    """
    sx, sy = meta["pixel_size_x_A"] / 10, meta["pixel_size_y_A"] / 10
    if abs(sx / sy - 1) < 0.01:
        sx = sy = float(np.sqrt(sx * sy))
    return to_signal(image, sx, sy, "nm")


def _plane_level(z):
    """Subtract the least-squares plane (STM topography)."""
    ny, nx = z.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    a = np.c_[xx.ravel(), yy.ravel(), np.ones(z.size)]
    coef = np.linalg.lstsq(a, z.ravel(), rcond=None)[0]
    return z - (a @ coef).reshape(z.shape)


MOS2 = "MoS2_Se-implanted_monolayer_HAADF_60kV.dm3"
TTB = "Ba5SmSn3Nb7O30_TTB_110_iDPC.tif"
SI_DEFECTS = "STM/Si111-7x7_STM_defects_spiepy.npy"
SI_STEP = "STM/Si111-7x7_STM_step_edge_spiepy.npy"
SURVEY = "EELS_SI_titanate_interface/DMReader_Image_SI-Survey.dm3"


def real_files(directory=REAL):
    """``(label, loader)`` for each real image; a loader returns an AtomicImage."""
    import hyperspy.api as hs

    d = Path(directory)

    def hs_image(path, scale=None):
        def load():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s = hs.load(d / path)
            if scale is not None:
                for ax in s.axes_manager.signal_axes:
                    ax.scale, ax.units = scale, "nm"
            s.set_signal_type("atomic_image")
            return s

        return load

    def npy_levelled(path):
        return lambda: to_signal(_plane_level(np.load(d / path).astype(float)))

    return [
        ("SrTiO3 HAADF .emi (1024²)", hs_image("SrTiO3_HAADF_TitanCubed80kV.emi")),
        ("PbTiO3/SrRuO3 HAADF .hspy", hs_image("PbTiO3-SrRuO3_interface_HAADF.hspy")),
        ("MoS2 HAADF .dm3 (1024²)", hs_image(MOS2)),
        ("TTB iDPC .tif (0.00659 nm)", hs_image(TTB, 0.00659)),
        ("STM TiSe2 .hspy", hs_image("STM/TiSe2_STM_topography_Zfwd.hspy")),
        ("STM Si(111) defects .npy (levelled)", npy_levelled(SI_DEFECTS)),
        ("STM Si(111) step .npy (levelled)", npy_levelled(SI_STEP)),
        ("EELS survey .dm3 (uncalibrated)", hs_image(SURVEY)),
    ]


# ----------------------------------------------------------------- pipeline
def run_defaults(s, n_sublattices=2):
    """The default pipeline of ``report.analyse``; returns (atoms, info)."""
    info = {"error": None}
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            atoms = s.find_atoms()
            info["t_find"] = time.perf_counter() - t
            atoms = s.refine_atoms(atoms)
            if n_sublattices > 1 and atoms.n_atoms >= 10 * n_sublattices:
                atoms = atoms.label_sublattices(n_sublattices)
        except Exception as e:  # a failure is a result of the benchmark
            atoms = None
            info["error"] = f"{type(e).__name__}: {e}"[:120]
    info["time"] = time.perf_counter() - t
    msgs = []
    for w in caught:
        if issubclass(w.category, (UserWarning, RuntimeWarning)):
            m = f"{w.category.__name__}: {w.message}"
            if m not in msgs:
                msgs.append(m)
    info["warnings"] = msgs
    return atoms, info


def atom_arrays(atoms):
    """Pixel positions, converged flags and sublattice labels (or None)."""
    x, y = atoms.get_pixel_positions()
    cols = atoms.columns
    conv = atoms.get_column("converged") if "converged" in cols else None
    sub = atoms.get_column("sublattice") if "sublattice" in cols else None
    return np.c_[x, y], conv, sub


# --------------------------------------------------------------- evaluation
def truth_arrays(meta):
    """Positions (px), site names and an ``expected`` mask of the true columns."""
    cols = meta["columns"]
    xy = np.array([[c["x_px"], c["y_px"]] for c in cols], dtype=float)
    site = np.array([c["site"] for c in cols])
    expected = np.isin(site, meta["expected_sites"])
    return xy, site, expected


def match(truth_xy, found_xy, radius):
    """One-to-one pairs ``(i_truth, j_found)`` within ``radius`` (Hungarian)."""
    if len(truth_xy) == 0 or len(found_xy) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    d = np.hypot(*(truth_xy[:, None, :] - found_xy[None, :, :]).transpose(2, 0, 1))
    big = 1e6
    cost = np.where(d <= radius, d, big)
    i, j = linear_sum_assignment(cost)
    keep = cost[i, j] < big
    return i[keep], j[keep]


def sublattice_accuracy(labels, sites):
    """Best one-to-one map labels -> site names; fraction right (NaN if none)."""
    if labels is None or len(labels) == 0:
        return float("nan")
    ul, us = np.unique(labels), np.unique(sites)
    conf = np.array([[np.sum((labels == a) & (sites == b)) for b in us] for a in ul])
    r, c = linear_sum_assignment(-conf)
    return float(conf[r, c].sum() / len(labels))


def evaluate(meta, found_xy, converged=None, labels=None, shape=None):
    """Found / missed / invented etc. of one result against the scene's truth."""
    txy, site, expected = truth_arrays(meta)
    ny, nx = shape if shape is not None else meta["image_shape_rows_cols"]
    d_all = cKDTree(txy).query(txy, 2)[0][:, 1]
    radius = 0.3 * d_all.min()
    e_xy = txy[expected]
    d_exp = cKDTree(e_xy).query(e_xy, 2)[0][:, 1] if len(e_xy) > 1 else d_all
    margin = 0.25 * d_exp.min()

    def inside(xy):
        return (
            (xy[:, 0] >= margin - 0.5)
            & (xy[:, 0] <= nx - 0.5 - margin)
            & (xy[:, 1] >= margin - 0.5)
            & (xy[:, 1] <= ny - 0.5 - margin)
        )

    found_xy = np.asarray(found_xy, float).reshape(-1, 2)
    it, jf = match(txy, found_xy, radius)
    counted = expected & inside(txy)
    matched_t = np.zeros(len(txy), bool)
    matched_t[it] = True
    matched_f = np.zeros(len(found_xy), bool)
    matched_f[jf] = True
    tp_pairs = counted[it]
    n_tp = int(tp_pairs.sum())
    n_missed = int((counted & ~matched_t).sum())
    invented = ~matched_f & inside(found_xy)
    n_inv = int(invented.sum())
    n_true = int(counted.sum())
    sx, sy = meta["pixel_size_x_A"], meta["pixel_size_y_A"]
    dd = found_xy[jf[tp_pairs]] - txy[it[tp_pairs]]
    err_pm = np.hypot(dd[:, 0] * sx, dd[:, 1] * sy) * 100
    nn_col = np.median(d_all)
    vacuum = None  # only where the scene has vacuum (not a periodic crystal)
    if not meta.get("periodic", True):
        dist = cKDTree(txy).query(found_xy)[0] if len(found_xy) else np.zeros(0)
        vacuum = int(np.sum(dist > nn_col))
    by_site = {
        st: float(np.mean(matched_t[counted & (site == st)]))
        for st in meta["expected_sites"]
        if np.any(counted & (site == st))
    }
    n_types = len(meta["expected_sites"])
    acc = float("nan")
    if labels is not None and n_types > 1 and n_tp:
        acc = sublattice_accuracy(np.asarray(labels)[jf[tp_pairs]], site[it[tp_pairs]])
    return {
        "n_found": len(found_xy),
        "n_true": n_true,
        "matched": n_tp,
        "missed": n_missed,
        "invented": n_inv,
        "recall": n_tp / n_true if n_true else float("nan"),
        "recall_by_site": by_site,
        "precision": n_tp / (n_tp + n_inv) if (n_tp + n_inv) else float("nan"),
        "vacuum": vacuum,
        "vacuum_fraction": (
            vacuum / len(found_xy) if vacuum is not None and len(found_xy) else None
        ),
        "sublattice_accuracy": acc,
        "median_error_pm": float(np.median(err_pm)) if len(err_pm) else float("nan"),
        "converged": float(np.mean(converged == 1)) if converged is not None else 0.0,
        "radius_px": radius,
        "margin_px": margin,
    }


def run_scene(name, directory=CORPUS):
    """Default pipeline on one corpus scene, evaluated against its truth."""
    image, _, meta = load_scene(name, directory)
    n_types = len(meta["expected_sites"])
    atoms, info = run_defaults(scene_signal(image, meta), n_types)
    if atoms is None:
        return {"n_found": 0, **info}
    xy, conv, sub = atom_arrays(atoms)
    res = evaluate(meta, xy, conv, sub, image.shape)
    res.update(info)
    res["nn_nm"] = _nn(xy, meta["pixel_size_x_A"] / 10)
    res.update(class_agreement(atoms, xy, meta))
    return res


def class_agreement(atoms, xy, meta):
    """The report's default site classes (2 sublattice labels, k closing the
    first shell) against the true site types: their number and the adjusted
    Rand index on the centres matched to an expected column."""
    from sklearn.metrics import adjusted_rand_score

    if atoms.n_atoms < 20:
        return {"n_classes": None, "class_ari": float("nan")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        two = atoms.label_sublattices(2)
        try:
            _, _, nb, found = default_classes(two)
        except ValueError:
            return {"n_classes": None, "class_ari": float("nan")}
    txy, site, expected = truth_arrays(meta)
    centres = xy[nb.centre_indices]
    radius = 0.3 * cKDTree(txy).query(txy, 2)[0][:, 1].min()
    it, jc = match(txy, centres, radius)
    keep = expected[it]
    ari = float("nan")
    if keep.sum() > 1 and len(set(site[it[keep]])) > 1:
        ari = adjusted_rand_score(site[it[keep]], found.labels[jc[keep]])
    return {"n_classes": found.n_classes, "class_ari": ari}


def _nn(xy, scale):
    if len(xy) < 2:
        return float("nan")
    return float(np.median(cKDTree(xy).query(xy, 2)[0][:, 1]) * scale)


def run_real(label, loader):
    s = loader()
    atoms, info = run_defaults(s, 2)
    scale = s.axes_manager.signal_axes[0].scale
    units = s.axes_manager.signal_axes[0].units
    res = {"n_found": 0, **info}
    if atoms is not None:
        xy, conv, _ = atom_arrays(atoms)
        res["n_found"] = len(xy)
        res["converged"] = float(np.mean(conv == 1)) if conv is not None else 0.0
        res["nn"] = f"{_nn(xy, scale):.3g} {units}"
        res.update(site_classes(atoms))
    return res


def default_classes(atoms):
    """The report's default neighbourhood classes: k closing the first shell,
    image-frame ordering, the classes the data support. Returns
    ``(k, closed, neighbourhoods, ClassCount)``."""
    from hyperspy_localcryst.numerics.neighbourhoods import shell_count

    k, closed = shell_count(atoms.get_column("x"), atoms.get_column("y"))
    nb = atoms.get_neighbourhoods(n_neighbours=k, metric="distance")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = nb.find_site_classes()
    return k, closed, nb, found


def site_classes(atoms):
    """:func:`default_classes` as table entries, with their time."""
    t = time.perf_counter()
    try:
        k, closed, _, found = default_classes(atoms)
    except ValueError as e:
        return {"k": "–", "classes": f"error: {e}"[:60], "t_classes": 0.0}
    return {
        "k": f"{k}" + ("" if closed else " (open)"),
        "classes": found.n_classes,
        "t_classes": time.perf_counter() - t,
    }


# -------------------------------------------------------------------- drift
DRIFT_SHIFTS = np.array(
    [[0.0, 0.0], [2.3, -1.7], [5.1, 3.6], [8.4, 6.2], [-4.6, 10.7], [11.2, -9.5]]
)  # (dx, dy) px of the content, all < 0.35 x the lattice spacing (39 px): on a
# perfectly periodic image a shift is only defined modulo the lattice


def drift_series(scene="sto001_haadf", dose=5e5, seed=7, directory=CORPUS):
    """Frames of a periodic scene translated by DRIFT_SHIFTS (exact, Fourier)."""
    _, clean, meta = load_scene(scene, directory)
    ky = np.fft.fftfreq(clean.shape[0])[:, None]
    kx = np.fft.fftfreq(clean.shape[1])[None, :]
    f = np.fft.fft2(clean)
    rng = np.random.default_rng(seed)
    area = meta["pixel_size_x_A"] * meta["pixel_size_y_A"]
    frames = []
    for dx, dy in DRIFT_SHIFTS:
        fr = np.fft.ifft2(f * np.exp(-2j * np.pi * (kx * dx + ky * dy))).real
        frames.append(rng.poisson(np.clip(fr, 0, None) * dose * area))
    return np.asarray(frames, float), meta


def run_drift(directory=CORPUS):
    from hyperspy_localcryst.signals.atomic_image import AtomicImage

    frames, meta = drift_series(directory=directory)
    s = AtomicImage(frames)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = s.estimate_drift().data[:, :2]
    err = np.hypot(*(d - DRIFT_SHIFTS).T)
    return {
        "max_err_px": float(err.max()),
        "errors_px": err,
        "time": time.perf_counter() - t,
    }


# ------------------------------------------------------------------- output
def _f(v, fmt="{:.3g}"):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    return fmt.format(v)


def corpus_table(rows):
    head = (
        "| scene | true | found | matched | missed | invented | recall | precision "
        "| in vacuum | sublattice acc. | converged | median err (pm) | warnings "
        "| time (s) | site classes (ARI) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    out = []
    for name, r in rows:
        if r.get("error"):
            out.append(f"| {name} | – | – | – | – | – | – | – | – | – | – | – | "
                       f"error: {r['error']} | {r['time']:.1f} | – |")  # fmt: skip
            continue
        out.append(
            f"| {name} | {r['n_true']} | {r['n_found']} | {r['matched']} | "
            f"{r['missed']} | {r['invented']} | {_f(r['recall'], '{:.3f}')} | "
            f"{_f(r['precision'], '{:.3f}')} | {_f(r['vacuum'], '{}')} | "
            f"{_f(r['sublattice_accuracy'], '{:.3f}')} | "
            f"{_f(r['converged'], '{:.3f}')} | {_f(r['median_error_pm'], '{:.1f}')} | "
            f"{len(r['warnings'])} | {r['time']:.1f} | "
            f"{_f(r.get('n_classes'), '{}')} ({_f(r.get('class_ari'), '{:.2f}')}) |"
        )
    return head + "\n".join(out) + "\n"


def real_table(rows):
    head = (
        "| file | found | converged | median NN distance | warnings | time (s) "
        "| k | site classes | classes time (s) |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    out = []
    for label, r in rows:
        if r.get("error"):
            n_warn = len(r["warnings"])
            out.append(f"| {label} | error: {r['error']} | – | – | "
                       f"{n_warn} | {r['time']:.1f} | – | – | – |")  # fmt: skip
            continue
        out.append(
            f"| {label} | {r['n_found']} | {_f(r.get('converged'), '{:.3f}')} | "
            f"{r.get('nn', '–')} | {len(r['warnings'])} | {r['time']:.1f} | "
            f"{r.get('k', '–')} | {r.get('classes', '–')} | "
            f"{r.get('t_classes', float('nan')):.1f} |"
        )
    return head + "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="also write the Markdown tables to this file")
    ap.add_argument("--corpus", default=str(CORPUS))
    ap.add_argument("--real", default=str(REAL))
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--no-corpus", action="store_true")
    ap.add_argument("--no-drift", action="store_true")
    ap.add_argument("--scenes", nargs="*", help="only these corpus scenes")
    ap.add_argument("--warnings", action="store_true", help="list the warnings")
    a = ap.parse_args(argv)
    text = []
    rows = []
    names = [] if a.no_corpus else (a.scenes or corpus_scenes(a.corpus))
    for name in names:
        r = run_scene(name, a.corpus)
        rows.append((name, r))
        print(f"{name}: {r.get('n_found')} atoms, {r['time']:.1f} s", flush=True)
    if names:
        text.append("### Simulated corpus (truth known)\n\n" + corpus_table(rows))
    if not a.no_drift:
        d = run_drift(a.corpus)
        text.append(
            "### Drift on a periodic series\n\n"
            f"6 frames of `sto001_haadf` shifted by known amounts up to "
            f"{np.abs(DRIFT_SHIFTS).max():.1f} px (lattice spacing 39 px), Poisson "
            "noise at 5e5 e/Å²; "
            f"default `estimate_drift()`: max error {d['max_err_px']:.3g} px "
            f"(per frame: {', '.join(f'{e:.2g}' for e in d['errors_px'])}), "
            f"{d['time']:.1f} s.\n"
        )
    if not a.no_real:
        rrows = []
        for label, loader in real_files(a.real):
            r = run_real(label, loader)
            rrows.append((label, r))
            print(f"{label}: {r['n_found']} atoms, {r['time']:.1f} s", flush=True)
        text.append("### Real files (no truth)\n\n" + real_table(rrows))
        rows = rows + rrows
    if a.warnings:
        w = ["### Warnings\n"]
        for name, r in rows:
            for m in r.get("warnings", []):
                w.append(f"- {name}: {m[:200]}")
        text.append("\n".join(w) + "\n")
    md = "\n".join(text)
    print(md)
    if a.out:
        Path(a.out).write_text(md)


if __name__ == "__main__":
    main()
