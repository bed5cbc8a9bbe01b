"""Make the simulated regression corpus in ``tests/data/corpus/`` with abTEM.

A development tool, not part of the package: abTEM is *not* a dependency of
hyperspy_localcryst. Install it into a development environment
(``pip install abtem==1.0.11``) and run, from the repository root::

    nice -n 10 python benchmarks/make_corpus.py            # every scene
    nice -n 10 python benchmarks/make_corpus.py sto001 mos2 # some scenes
    python benchmarks/make_corpus.py lowdose        # the low-dose frame only
    python benchmarks/make_corpus.py --import-shared  # copy the earlier frame

Every parameter and seed is below (``SCENES``); the output is deterministic
for a given abTEM version. Each scene writes

- ``<name>.npz``: ``image`` (float32, the frame to analyse: Poisson counts, or
  the noise-free intensity where the scene has no noise) and ``clean``
  (float32, the noise-free intensity as a fraction of the incident beam);
  for two-detector scenes one file per detector;
- ``<name>.json``: the truth and every simulation parameter: pixel size
  (Å, x and y), units, voltage, convergence and detector angles, sampling,
  thickness, dose, seed, abTEM version, timing, licence, and one record per
  projected column: ``x_px`` (column), ``y_px`` (row) with pixel centres at
  integers, ``site`` (e.g. ``"Sr"``, ``"TiO"``, ``"O"``, ``"SrO"``, ``"Ti"``,
  ``"Mo"``, ``"S2"``, ``"Au"``), ``n_atoms``, ``elements``.

The images are multislice (PRISM) simulations: Lobato potentials, infinite
projection, no frozen phonons (static lattice), an aberration-free probe of
the given convergence blurred by a Gaussian source of ``source_sigma_A``
(partial spatial coherence), then Fourier-interpolated to about
``pixel_A`` per pixel. Periodic cells (interpolation 1) are exact; the
nanoparticle uses PRISM interpolation 2 (its cell is mostly vacuum).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "corpus"

A_STO = 3.905  # SrTiO3 cubic lattice parameter, Å
A_MOS2 = 3.19  # MoS2 in-plane lattice parameter, Å
C_MOS2_SS = 3.19  # S–S distance along c within one layer (sulphur planes ±1.595 Å)
A_AU = 4.078  # Au fcc lattice parameter, Å

LICENCE = (
    "Simulated for hyperspy_localcryst with abTEM (GPL-3.0) by "
    "benchmarks/make_corpus.py; the images and truth are released with the "
    "project (GPL-3.0-or-later)."
)

# name -> parameters. Angles in mrad, lengths in Å, dose in electrons/Å².
SCENES = {
    "sto001": dict(
        structure="sto001",
        repeats=(5, 4, 8),  # x, y cells; z cells (8 x 3.905 = 3.1 nm)
        energy=200e3,
        semiangle=21.4,
        detectors={"haadf": (70.0, 150.0), "abf": (11.0, 21.0)},
        sampling=0.05,
        slice_thickness=A_STO / 2,
        interpolation=1,
        pixel_A=0.1,
        source_sigma_A=0.3,
        dose=5e5,
        shift_A=(0.41, 0.83),
        seed=1,
    ),
    "sto110": dict(
        structure="sto110",
        repeats=(3, 4, 5),  # x = [1-10] (a√2), y = [001] (a), z = [110] (5 x 5.52 Å)
        energy=200e3,
        semiangle=21.4,
        detectors={"haadf": (70.0, 150.0), "abf": (11.0, 21.0)},
        sampling=0.05,
        slice_thickness=A_STO * np.sqrt(2) / 4,
        interpolation=1,
        pixel_A=0.1,
        source_sigma_A=0.3,
        dose=5e5,
        shift_A=(0.57, 0.36),
        seed=2,
    ),
    "mos2": dict(
        structure="mos2",
        repeats=(6, 4, 1),  # orthogonal cells a x a√3
        energy=60e3,
        semiangle=30.0,
        detectors={"haadf": (80.0, 200.0)},
        sampling=0.05,
        slice_thickness=1.0,
        interpolation=1,
        pixel_A=0.1,
        source_sigma_A=0.35,
        dose=2e5,
        shift_A=(0.93, 0.44),
        seed=3,
    ),
    "au_np110": dict(
        structure="au_np110",
        repeats=None,
        cluster=dict(length=7, cutoff=2),  # ase.cluster.Octahedron: cuboctahedron
        vacuum_A=(6.0, 7.5),  # x, y vacuum added on each side (non-square cell)
        energy=200e3,
        semiangle=25.0,
        detectors={"haadf": (70.0, 130.0)},
        sampling=0.06,  # antialiasing limit 139 mrad at 200 kV
        slice_thickness=1.5,
        interpolation=2,
        pixel_A=0.12,
        source_sigma_A=0.3,
        dose=2e5,
        shift_A=(0.0, 0.0),
        seed=4,
    ),
}
# the site types each detector shows: "expected" columns must be found; the
# others ("optional", e.g. O in HAADF) are neither required nor wrong
EXPECTED = {
    ("sto001", "haadf"): ["Sr", "TiO"],
    ("sto001", "abf"): ["Sr", "TiO", "O"],
    ("sto110", "haadf"): ["SrO", "Ti"],
    ("sto110", "abf"): ["SrO", "Ti", "O"],
    ("mos2", "haadf"): ["Mo", "S2"],
    ("au_np110", "haadf"): ["Au"],
}
# the low-dose frame reuses a scene's noise-free image with another dose
LOW_DOSE = dict(source="sto001_haadf", dose=3e4, seed=5, name="sto001_haadf_lowdose")


def srtio3_cubic():
    from ase import Atoms

    return Atoms(
        "SrTiO3",
        scaled_positions=[
            (0, 0, 0),
            (0.5, 0.5, 0.5),
            (0.5, 0.5, 0),
            (0.5, 0, 0.5),
            (0, 0.5, 0.5),
        ],
        cell=[A_STO] * 3,
        pbc=True,
    )


def build(p):
    """The ASE atoms of a scene, with the beam along z."""
    from ase import Atoms
    from ase.build import cut, mx2

    s = p["structure"]
    if s == "sto001":
        atoms = srtio3_cubic() * p["repeats"]
    elif s == "sto110":
        unit = cut(srtio3_cubic(), a=(1, -1, 0), b=(0, 0, 1), c=(1, 1, 0))
        # the same crystal in the standard frame: a along x, b along y, c along z
        unit = Atoms(
            unit.get_chemical_symbols(),
            scaled_positions=unit.get_scaled_positions(),
            cell=unit.cell.lengths(),
            pbc=True,
        )
        atoms = unit * p["repeats"]
    elif s == "mos2":
        from abtem import orthogonalize_cell

        layer = mx2("MoS2", kind="2H", a=A_MOS2, thickness=C_MOS2_SS, vacuum=2.0)
        atoms = orthogonalize_cell(layer) * p["repeats"]
    elif s == "au_np110":
        from ase.cluster import Octahedron

        atoms = Octahedron("Au", latticeconstant=A_AU, **p["cluster"])
        # beam along [110]: rotate [110] onto z, then [1-10] onto x
        atoms.rotate((1, 1, 0), (0, 0, 1), rotate_cell=False)
        probe = Atoms("H", positions=[(1.0, -1.0, 0.0)])
        probe.rotate((1, 1, 0), (0, 0, 1), rotate_cell=False)
        atoms.rotate(probe.positions[0], (1, 0, 0), rotate_cell=False)
        pos = atoms.positions
        vx, vy = p["vacuum_A"]
        pos -= pos.min(axis=0)
        ext = pos.max(axis=0)
        atoms.positions = pos + (vx, vy, 2.0)
        atoms.cell = [ext[0] + 2 * vx, ext[1] + 2 * vy, ext[2] + 4.0]
        atoms.pbc = True
    else:
        raise ValueError(s)
    atoms.positions[:, :2] += p["shift_A"]
    atoms.wrap()
    return atoms


def columns_of(atoms, tol=0.05):
    """Group atoms into projected columns: (x_A, y_A, elements dict) each."""
    cell = np.diag(atoms.cell)[:2]
    xy = np.mod(atoms.positions[:, :2], cell)
    key = np.round(xy / tol).astype(int)
    # merge across the periodic seam
    n = np.round(cell / tol).astype(int)
    key = np.mod(key, n)
    cols = {}
    for k, (x, y), sym in zip(map(tuple, key), xy, atoms.get_chemical_symbols()):
        c = cols.setdefault(k, {"xy": [], "el": {}})
        c["xy"].append((x, y))
        c["el"][sym] = c["el"].get(sym, 0) + 1
    out = []
    for c in cols.values():
        xy0 = np.asarray(c["xy"])
        # circular mean on the periodic cell (columns on the seam)
        ang = xy0 / cell * 2 * np.pi
        mean = np.mod(
            np.arctan2(np.sin(ang).mean(0), np.cos(ang).mean(0)) / (2 * np.pi) * cell,
            cell,
        )
        out.append((mean[0], mean[1], c["el"]))
    return out


def site_name(el, structure):
    if structure == "sto001":
        return {"Sr": "Sr", "Ti": "TiO", "O": "O"}[
            "Sr" if "Sr" in el else ("Ti" if "Ti" in el else "O")
        ]
    if structure == "sto110":
        return "SrO" if "Sr" in el else ("Ti" if "Ti" in el else "O")
    if structure == "mos2":
        return "Mo" if "Mo" in el else "S2"
    return "Au"


def simulate(name, p):
    import abtem

    abtem.config.set({"device": "cpu", "fft": "fftw"})
    t0 = time.perf_counter()
    atoms = build(p)
    potential = abtem.Potential(
        atoms,
        sampling=p["sampling"],
        slice_thickness=p["slice_thickness"],
        parametrization="lobato",
        projection="infinite",
    )
    s_matrix = abtem.SMatrix(
        potential=potential,
        energy=p["energy"],
        semiangle_cutoff=p["semiangle"],
        interpolation=p["interpolation"],
    )
    nyquist = s_matrix.dummy_probes().aperture.nyquist_sampling
    scan = abtem.GridScan(
        start=(0, 0), end=potential.extent, sampling=0.9 * nyquist, endpoint=False
    )
    detectors = [abtem.AnnularDetector(*a) for a in p["detectors"].values()]
    t1 = time.perf_counter()
    # lazy=False: one computation for all detectors
    meas = s_matrix.scan(scan=scan, detectors=detectors, lazy=False)
    meas = meas if isinstance(meas, list) else [meas]
    t2 = time.perf_counter()
    extent = np.asarray(potential.extent)
    gpts = np.round(extent / p["pixel_A"]).astype(int)
    out = {}
    for det, m in zip(p["detectors"], meas):
        m = m.interpolate(gpts=tuple(gpts))
        if p["source_sigma_A"]:
            m = m.gaussian_filter(p["source_sigma_A"])
        out[det] = np.asarray(m.array, dtype=np.float64).T  # [row = y, col = x]
    t3 = time.perf_counter()
    dx, dy = extent / gpts
    cols = columns_of(atoms)
    records = []
    for i, (x, y, el) in enumerate(sorted(cols, key=lambda c: (c[1], c[0]))):
        records.append(
            {
                "id": i,
                "x_px": x / dx,
                "y_px": y / dy,
                "x_A": x,
                "y_A": y,
                "site": site_name(el, p["structure"]),
                "elements": el,
                "n_atoms": int(sum(el.values())),
            }
        )
    meta = {
        "generator": "benchmarks/make_corpus.py (abTEM PRISM)",
        "abtem_version": abtem.__version__,
        "scene": name,
        "parameters": {k: v for k, v in p.items() if k != "detectors"},
        "n_atoms": len(atoms),
        "cell_A": np.diag(atoms.cell).tolist(),
        "periodic": p["structure"] != "au_np110",
        "image_shape_rows_cols": [int(gpts[1]), int(gpts[0])],
        "pixel_size_x_A": float(dx),
        "pixel_size_y_A": float(dy),
        "units": "Å (pixel sizes); positions in pixels",
        "convention": (
            "image[row, col]; x_px = column, y_px = row, pixel centres at "
            "integers; pixel (r, c) shows the probe at x = c*dx, y = r*dy"
        ),
        "energy_eV": p["energy"],
        "semiangle_cutoff_mrad": p["semiangle"],
        "potential_sampling_A": list(potential.sampling),
        "scan_sampling_A": list(scan.sampling),
        "scan_gpts": list(scan.gpts),
        "frozen_phonons": 0,
        "source_size_sigma_A": p["source_sigma_A"],
        "licence": LICENCE,
        "timings_s": {
            "setup": round(t1 - t0, 2),
            "simulation": round(t2 - t1, 2),
            "postprocess": round(t3 - t2, 2),
        },
        "n_columns": len(records),
        "columns": records,
    }
    return out, meta


def annotate(meta, scene, det):
    """Add the expected / optional site types and the column distances."""
    from scipy.spatial import cKDTree

    sites = sorted({c["site"] for c in meta["columns"]})
    exp = EXPECTED[(scene, det)]
    xy = np.array([[c["x_A"], c["y_A"]] for c in meta["columns"]])
    nn = cKDTree(xy).query(xy, 2)[0][:, 1]
    meta["expected_sites"] = exp
    meta["optional_sites"] = [s for s in sites if s not in exp]
    meta["min_column_distance_A"] = float(nn.min())
    meta["median_nn_column_distance_A"] = float(np.median(nn))
    return meta


def simulate_incoherent(name, p, scale=0.004):
    """Fallback: incoherent HAADF model, no multislice (seconds, not minutes).

    image = |aberration-free probe|^2 (convergence ``semiangle``) convolved with
    sum_i Z_i^1.7 delta(r - r_i) over the atoms, then the Gaussian source blur;
    ``scale`` sets the fraction of the beam on one Au atom's peak. Used when
    the multislice run is too slow for the machine (``--incoherent``); the
    JSON says ``"model": "incoherent"``.
    """
    import abtem
    from abtem.core.energy import energy2wavelength
    from scipy.ndimage import gaussian_filter

    t0 = time.perf_counter()
    atoms = build(p)
    extent = np.diag(atoms.cell)[:2]
    gpts = np.round(extent / p["pixel_A"]).astype(int)
    dx, dy = extent / gpts
    kx = np.fft.fftfreq(gpts[0], dx)[:, None]
    ky = np.fft.fftfreq(gpts[1], dy)[None, :]
    lam = energy2wavelength(p["energy"])
    aperture = (np.hypot(kx, ky) * lam <= p["semiangle"] / 1e3).astype(float)
    probe = np.abs(np.fft.ifft2(aperture)) ** 2
    probe /= probe.max()
    w = atoms.numbers.astype(float) ** 1.7
    x, y = atoms.positions[:, 0], atoms.positions[:, 1]
    ft = np.zeros(tuple(gpts), complex)
    for xi, yi, wi in zip(x, y, w):  # exact Fourier deposit of each atom
        ft += wi * np.exp(-2j * np.pi * (kx * xi + ky * yi))
    img = np.fft.ifft2(np.fft.fft2(probe) * ft).real
    img = gaussian_filter(img, p["source_sigma_A"] / np.array([dx, dy]), mode="wrap")
    img = np.clip(img, 0, None) / (79.0**1.7) * scale
    out = {"haadf": img.T}
    cols = columns_of(atoms)
    records = [
        {"id": i, "x_px": cx / dx, "y_px": cy / dy, "x_A": cx, "y_A": cy,
         "site": site_name(el, p["structure"]), "elements": el,
         "n_atoms": int(sum(el.values()))}
        for i, (cx, cy, el) in enumerate(sorted(cols, key=lambda c: (c[1], c[0])))
    ]  # fmt: skip
    meta = {
        "generator": "benchmarks/make_corpus.py (incoherent HAADF model)",
        "model": "incoherent: |probe|^2 * sum Z^1.7 delta, no multislice",
        "abtem_version": abtem.__version__,
        "scene": name,
        "parameters": {k: v for k, v in p.items() if k != "detectors"},
        "n_atoms": len(atoms),
        "cell_A": np.diag(atoms.cell).tolist(),
        "periodic": False,
        "image_shape_rows_cols": [int(gpts[1]), int(gpts[0])],
        "pixel_size_x_A": float(dx),
        "pixel_size_y_A": float(dy),
        "units": "Å (pixel sizes); positions in pixels",
        "convention": (
            "image[row, col]; x_px = column, y_px = row, pixel centres at "
            "integers; pixel (r, c) shows the probe at x = c*dx, y = r*dy"
        ),
        "energy_eV": p["energy"],
        "semiangle_cutoff_mrad": p["semiangle"],
        "frozen_phonons": 0,
        "source_size_sigma_A": p["source_sigma_A"],
        "licence": LICENCE,
        "timings_s": {"total": round(time.perf_counter() - t0, 2)},
        "n_columns": len(records),
        "columns": records,
    }
    return out, meta


def add_noise(clean, p_area_A2, dose, seed):
    """Poisson counts: ``clean`` (fraction of the beam) x dose x pixel area."""
    rng = np.random.default_rng(seed)
    return rng.poisson(clean * dose * p_area_A2).astype(np.float32)


def write(name, det, clean, meta, dose, seed):
    area = meta["pixel_size_x_A"] * meta["pixel_size_y_A"]
    image = add_noise(clean, area, dose, seed) if dose else clean.astype(np.float32)
    m = dict(meta)
    m["name"] = f"{name}_{det}"
    m["detector"] = det
    annotate(m, name, det)
    m["detector_mrad"] = (
        list(SCENES[name]["detectors"][det]) if name in SCENES else None
    )
    m["dose_e_per_A2"] = dose
    m["noise"] = f"Poisson, numpy default_rng(seed={seed})" if dose else "none"
    m["noise_seed"] = seed
    m["mean_counts_per_px"] = float(image.mean()) if dose else None
    np.savez_compressed(
        OUT / f"{name}_{det}.npz", image=image, clean=clean.astype(np.float32)
    )
    (OUT / f"{name}_{det}.json").write_text(json.dumps(m, indent=1))
    print(f"  wrote {name}_{det}: {image.shape}, mean counts {image.mean():.4g}")


def main(names):
    OUT.mkdir(parents=True, exist_ok=True)
    for name in [n for n in names if n in SCENES]:
        p = SCENES[name]
        t = time.perf_counter()
        images, meta = simulate(name, p)
        print(f"{name}: {meta['timings_s']} ({time.perf_counter() - t:.1f} s)")
        for det, clean in images.items():
            write(name, det, clean, meta, p["dose"], p["seed"])
    if LOW_DOSE["source"].split("_")[0] in names or "lowdose" in names:
        src = LOW_DOSE["source"]
        base, det = src.rsplit("_", 1)
        meta = json.loads((OUT / f"{src}.json").read_text())
        clean = np.load(OUT / f"{src}.npz")["clean"].astype(np.float64)
        meta["scene"] = base
        ld = LOW_DOSE["name"]
        area = meta["pixel_size_x_A"] * meta["pixel_size_y_A"]
        image = add_noise(clean, area, LOW_DOSE["dose"], LOW_DOSE["seed"])
        meta.update(
            name=ld,
            dose_e_per_A2=LOW_DOSE["dose"],
            noise_seed=LOW_DOSE["seed"],
            noise=f"Poisson, numpy default_rng(seed={LOW_DOSE['seed']})",
            mean_counts_per_px=float(image.mean()),
        )
        # the noise-free image is in the source scene's file
        np.savez_compressed(OUT / f"{ld}.npz", image=image)
        (OUT / f"{ld}.json").write_text(json.dumps(meta, indent=1))
        print(f"  wrote {ld}: mean counts {image.mean():.4g}")


SHARED = Path("/work/shared/data/simulated")


def import_shared(directory=SHARED):
    """Copy the project's earlier SrTiO3 [001] frozen-phonon noisy frame.

    ``sto_001_fp4_noisy`` (abTEM 1.0.11 PRISM, 200 kV, 4 frozen phonons,
    0.3 Å source, Poisson at 5e4 e/Å², one Sr column removed and two columns
    displaced; see ``/work/shared/data/simulated/README.md``) converted to
    this corpus's format: site ``Ti+O`` renamed ``TiO``; the removed column
    (no atoms) is left out of the truth, so an atom found there is invented.
    """
    src = json.loads((directory / "sto_001_fp4_noisy.json").read_text())
    image = np.load(directory / "sto_001_fp4_noisy.npy").astype(np.float32)
    cols = []
    for c in src["columns"]:
        if c["n_atoms"] == 0:
            continue
        c = dict(c, site={"Ti+O": "TiO"}.get(c["site"], c["site"]))
        cols.append(c)
    meta = {k: v for k, v in src.items() if k != "columns"}
    meta.update(
        scene="sto001",
        name="sto001_fp4_shared_haadf",
        detector="haadf",
        source=str(directory / "sto_001_fp4_noisy.npy"),
        generator=src["generator"] + " (earlier project simulation, copied)",
        periodic=True,
        noise=f"Poisson at {src['dose_e_per_A2']:g} e/Å² (in the source file)",
        licence=LICENCE,
        n_columns=len(cols),
        columns=cols,
    )
    annotate(meta, "sto001", "haadf")
    np.savez_compressed(OUT / "sto001_fp4_shared_haadf.npz", image=image)
    (OUT / "sto001_fp4_shared_haadf.json").write_text(json.dumps(meta, indent=1))


def reannotate():
    """Rewrite the derived truth fields of the existing JSON files (no simulation)."""
    for path in sorted(OUT.glob("*.json")):
        meta = json.loads(path.read_text())
        annotate(meta, meta["scene"], meta["detector"])
        path.write_text(json.dumps(meta, indent=1))


if __name__ == "__main__":
    if sys.argv[1:] == ["--annotate"]:
        reannotate()
    elif sys.argv[1:2] == ["--incoherent"]:
        for name in sys.argv[2:]:
            images, meta = simulate_incoherent(name, SCENES[name])
            for det, clean in images.items():
                write(
                    name, det, clean, meta, SCENES[name]["dose"], SCENES[name]["seed"]
                )
    elif sys.argv[1:] == ["--import-shared"]:
        import_shared()
    else:
        main(sys.argv[1:] or list(SCENES))
