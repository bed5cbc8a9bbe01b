"""abTEM simulations for the dumbbell and octahedral-tilt checks (issue 20):

- ``--structure si110``: Si viewed along [110], HAADF. Each projected
  column pair (a dumbbell) is ``a / 4`` = 1.358 Å apart, along [001].
- ``--structure sto_tilted``: SrTiO3 [001] whose TiO6 octahedra are turned
  about [001] by ``+-theta`` in a checkerboard (a0a0c+, the same turn in
  every layer), ABF (detector from half to the whole convergence angle),
  so the O columns show as dark dots. The Ti columns stay put; each
  equatorial O column moves by ``(a / 2) tan(theta)`` across its Ti-Ti bond.

Run (abTEM 1.0.11 from PyPI, not a dependency of the project):
``python benchmarks/simulate_dumbbells_tilts.py --structure si110
--out tests/data/si110_abtem`` writes ``.npy`` (the image, float32) and
``.json`` (pixel size, parameters, one record per projected column: x_px,
y_px, element and, for the tilts, the sign of its octahedron's turn). The
image is periodic; pixel (row r, col c) has its centre at x_px = c,
y_px = r.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from simulate_counting import save, scan_image  # noqa: E402


def silicon_110(cells, thickness):
    """Si along [110]: x = [1-10] (a / sqrt 2), y = [001] (a), z = [110]."""
    from ase import Atoms

    a = 5.431
    cubic = np.array(
        [
            (0, 0, 0),
            (0, 0.5, 0.5),
            (0.5, 0, 0.5),
            (0.5, 0.5, 0),
            (0.25, 0.25, 0.25),
            (0.25, 0.75, 0.75),
            (0.75, 0.25, 0.75),
            (0.75, 0.75, 0.25),
        ]
    )
    # the orthorhombic cell (a/sqrt2, a, a/sqrt2) spanned by [1-10]/2, [001],
    # [110]/2: four cubic cells' atoms folded into it
    e1 = np.array([1, -1, 0]) / np.sqrt(2)
    e2 = np.array([0, 0, 1.0])
    e3 = np.array([1, 1, 0]) / np.sqrt(2)
    size = np.array([a / np.sqrt(2), a, a / np.sqrt(2)])
    pos = []
    for shift in np.ndindex(2, 2, 2):
        for p in cubic + np.array(shift):
            r = p * a
            q = np.array([r @ e1, r @ e2, r @ e3]) % size
            pos.append(q)
    pos = np.unique(np.round(np.array(pos), 6) % np.round(size, 6), axis=0)
    unit = Atoms(
        "Si" * len(pos), positions=pos, cell=size.tolist(), pbc=True
    )  # 4 atoms
    return unit * (cells[0], cells[1], thickness), a


def sto_tilted(cells, thickness, theta_deg):
    """SrTiO3 [001] with TiO6 turned by +-theta in a checkerboard (a0a0c+)."""
    from ase import Atoms

    a = 3.905
    d = a / 2 * np.tan(np.deg2rad(theta_deg))
    sym, pos, turn = [], [], []
    nx, ny = cells
    for i in range(nx):
        for j in range(ny):
            for k in range(thickness):
                sign = 1 if (i + j) % 2 == 0 else -1
                sym += ["Sr", "Ti", "O"]
                pos += [
                    (i * a, j * a, k * a),
                    ((i + 0.5) * a, (j + 0.5) * a, (k + 0.5) * a),
                ]
                pos += [((i + 0.5) * a, (j + 0.5) * a, k * a)]  # apical O
                # the equatorial O to +x of this Ti (between Ti(i) and
                # Ti(i+1)): Ti(i) turned by sign*theta moves it by sign*d
                # along +y; the O above (+y) by -sign*d... (the turn of a
                # vector (a/2, 0) by +theta points it to +y)
                sym += ["O", "O"]
                pos += [((i + 1.0) * a, (j + 0.5) * a + sign * d, (k + 0.5) * a)]
                pos += [((i + 0.5) * a - sign * d, (j + 1.0) * a, (k + 0.5) * a)]
                turn += [0, sign, 0, 0, 0]
    atoms = Atoms(sym, positions=pos, cell=[nx * a, ny * a, thickness * a], pbc=True)
    atoms.wrap()
    return atoms, a, np.array(turn)


def main():
    import abtem

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--structure", choices=("si110", "sto_tilted"), required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--thickness", type=int, default=8, help="cells along the beam")
    p.add_argument("--theta", type=float, default=6.0, help="octahedral turn, deg")
    p.add_argument("--dose", type=float, default=2e5, help="e/Å² (0: noise-free)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    t0 = time.perf_counter()
    if args.structure == "si110":
        atoms, a = silicon_110((4, 3), args.thickness)
        detector = abtem.AnnularDetector(inner=60, outer=120)
        semiangle, energy = 25.0, 300e3
        slice_thickness = a / np.sqrt(2) / 2
        turn = np.zeros(len(atoms), int)
    else:
        atoms, a, turn = sto_tilted((4, 4), args.thickness, args.theta)
        semiangle, energy = 21.4, 200e3
        detector = abtem.AnnularDetector(inner=semiangle / 2, outer=semiangle)
        slice_thickness = a / 2
    potential = abtem.Potential(
        atoms,
        sampling=0.05,
        slice_thickness=slice_thickness,
        parametrization="lobato",
        projection="infinite",
    )
    s_matrix = abtem.SMatrix(
        potential=potential,
        energy=energy,
        semiangle_cutoff=semiangle,
        interpolation=1,
    )
    t1 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    img, px, seconds = scan_image(s_matrix, potential, detector, 0.2, args.dose, rng)
    t2 = t1 + seconds
    # one record per projected column
    xy = np.round(atoms.positions[:, :2], 4)
    records = []
    for key in sorted({tuple(v) for v in xy}):
        rows = np.flatnonzero((xy[:, 0] == key[0]) & (xy[:, 1] == key[1]))
        els = sorted(set(atoms.get_chemical_symbols()[r] for r in rows))
        records.append(
            {
                "x_px": key[0] / px,
                "y_px": key[1] / px,
                "elements": "".join(els),
                "n_atoms": len(rows),
                "turn": int(turn[rows].max() or turn[rows].min()),
            }
        )
    meta = {
        "generator": "benchmarks/simulate_dumbbells_tilts.py (abTEM PRISM, "
        "interpolation=1)",
        "abtem_version": abtem.__version__,
        "structure": args.structure,
        "lattice_parameter_A": a,
        "theta_deg": args.theta if args.structure == "sto_tilted" else None,
        "thickness_cells": args.thickness,
        "pixel_size_A": px,
        "energy_eV": energy,
        "semiangle_cutoff_mrad": semiangle,
        "detector_mrad": [float(detector.inner), float(detector.outer)],
        "dose_e_per_A2": args.dose,
        "seed": args.seed,
        "convention": "image[row, col]; row = y, col = x; periodic",
        "columns": records,
        "timings_s": {"setup": t1 - t0, "simulation": t2 - t1},
    }
    save(args.out, img, meta)


if __name__ == "__main__":
    main()
