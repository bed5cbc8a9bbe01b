"""abTEM simulation for atom counting: SrTiO3 [001] whose Sr columns hold a
random number of atoms (the top ones removed), HAADF by PRISM.

Run (abTEM 1.0.11 from PyPI, not a dependency of the project):
``python benchmarks/simulate_counting.py --out tests/data/sto_counting``
writes ``.npy`` (the image, float32) and ``.json`` (pixel size, parameters,
one record per Sr column: x_px, y_px, n_atoms). The image is periodic;
pixel (row r, col c) has its centre at x_px = c, y_px = r.
"""

import argparse
import json
import time

import numpy as np
from make_corpus import A_STO, srtio3_cubic  # the corpus's SrTiO3 cell


def scan_image(s_matrix, potential, detector, sampling, dose, rng):
    """PRISM scan, Fourier-interpolated to 0.1 Å, Poisson noise at ``dose``
    e/Å² (0: none), as image[row = y, col = x] (abTEM arrays are (x, y)).
    Returns the float32 image, its pixel size (Å) and the seconds simulated."""
    import abtem

    scan = abtem.GridScan(start=(0, 0), end=potential.extent, sampling=sampling)
    t = time.perf_counter()
    image = s_matrix.scan(scan=scan, detectors=detector).compute()
    seconds = time.perf_counter() - t
    image = image.interpolate(sampling=0.1)
    data = np.asarray(image.array, dtype=np.float64)
    px = float(image.sampling[0])
    if dose > 0:
        data = rng.poisson(data / data.mean() * dose * px * px).astype(np.float64)
    return data.T.astype(np.float32), px, seconds


def save(out, img, meta):
    """``out``.npy (the image) and ``out``.json (``meta``), and one line."""
    np.save(out + ".npy", img)
    with open(out + ".json", "w") as f:
        json.dump(meta, f, indent=1)
    seconds = meta["timings_s"]["simulation"]
    px = meta["pixel_size_A"]
    print(f"{img.shape} px of {px:.4f} Å, simulated in {seconds:.0f} s")


def main():
    import abtem

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--cells", type=int, default=8)
    p.add_argument("--thickness", type=int, default=10, help="unit cells along z")
    p.add_argument("--min-atoms", type=int, default=5)
    p.add_argument("--dose", type=float, default=2e5, help="e/Å² (0: noise-free)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    t0 = time.perf_counter()
    a = A_STO
    unit = srtio3_cubic()
    n, nz = args.cells, args.thickness
    atoms = unit * (n, n, nz)
    rng = np.random.default_rng(args.seed)
    # each Sr column keeps its lowest k atoms (k from min-atoms to nz)
    sr = np.flatnonzero(atoms.numbers == 38)
    xy = np.round(atoms.positions[sr, :2] / a).astype(int)
    remove, records = [], []
    for key in sorted({tuple(v) for v in xy}):
        rows = sr[(xy[:, 0] == key[0]) & (xy[:, 1] == key[1])]
        rows = rows[np.argsort(atoms.positions[rows, 2])]
        k = int(rng.integers(args.min_atoms, nz + 1))
        remove.extend(rows[k:].tolist())
        records.append({"i": int(key[0]), "j": int(key[1]), "n_atoms": k})
    del atoms[remove]
    potential = abtem.Potential(
        atoms,
        sampling=0.05,
        slice_thickness=a / 2,
        parametrization="lobato",
        projection="infinite",
    )
    s_matrix = abtem.SMatrix(
        potential=potential, energy=200e3, semiangle_cutoff=21.4, interpolation=1
    )
    detector = abtem.AnnularDetector(inner=70, outer=150)
    t1 = time.perf_counter()
    img, px, seconds = scan_image(s_matrix, potential, detector, 0.248, args.dose, rng)
    t2 = t1 + seconds
    for r in records:
        r["x_px"] = r["i"] * a / px
        r["y_px"] = r["j"] * a / px
    meta = {
        "generator": "benchmarks/simulate_counting.py (abTEM PRISM, interpolation=1)",
        "abtem_version": abtem.__version__,
        "structure": "SrTiO3 [001], Sr columns of random height (top atoms removed)",
        "cells": [n, n, nz],
        "pixel_size_A": px,
        "energy_eV": 200e3,
        "semiangle_cutoff_mrad": 21.4,
        "detector_mrad": [70.0, 150.0],
        "dose_e_per_A2": args.dose,
        "seed": args.seed,
        "convention": "image[row, col]; row = y, col = x; periodic",
        "sr_columns": records,
        "timings_s": {"setup": t1 - t0, "simulation": t2 - t1},
    }
    save(args.out, img, meta)


if __name__ == "__main__":
    main()
