"""Refinement precision against the Cramér-Rao bound as columns overlap.

The property test ``tests/test_properties.py::test_refined_atoms_reach_the_
cramer_rao_bound`` draws widths up to 0.22 of the spacing. This script shows
why not further: on a hexagonal lattice (six overlapping neighbours; spacing
10 px, 64 x 64 px, peak 256 over 20, Poisson) it refines the scene of the
property test (its own ``make_scene``) for several noise seeds and widths and
prints the RMS of error / bound over the interior atoms, with the property's
allowance.

Usage::

    python benchmarks/check_overlap_width.py [n_seeds]
"""

import sys
import warnings

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1]))

import tests.test_properties as tp  # noqa: E402
from hyperspy_localcryst.data.synthetic import cramer_rao_bound  # noqa: E402


def main(n_seeds=8):
    warnings.simplefilter("ignore")
    for width in (0.20, 0.22, 0.24):
        ratios = []
        for seed in range(n_seeds):
            scene = tp.make_scene(
                "hexagonal", 10.0, (64, 64), width, 256.0, 1.0,
                noise="poisson", rotation=0.0, seed=seed, answer="lattice",
                too_large=1.0,
            )  # fmt: skip
            s = tp._atomic(scene.image, 0.02, (0.0, 0.0), "nm")
            atoms = s.find_atoms(separation=0.02 * scene.given_separation)
            fit = tp._quiet(s.refine_atoms, atoms, model="round", weights="auto")
            t = scene.truth
            fx, fy = fit.get_pixel_positions()
            m, _ = tp.match_one_to_one(t["x"], t["y"], fx, fy, 0.3 * scene.spacing)
            inner = scene.must_find() & (m >= 0)
            inner &= ~tp.near_edge(t["x"], t["y"], scene.shape, scene.spacing)
            j = m[inner]
            err = np.concatenate([fx[j] - t["x"][inner], fy[j] - t["y"][inner]])
            crb = cramer_rao_bound(256.0, 20.0, scene.sigma, window_radius=5.0)
            ratios.append(float(np.sqrt(np.mean((err / crb) ** 2))))
        allowed = 1.5 * (1 + 3 / np.sqrt(2 * len(err)))
        print(
            f"width {width:.2f} spacing: RMS error / CRB "
            f"{min(ratios):.2f}-{max(ratios):.2f} (mean {np.mean(ratios):.2f}) over "
            f"{n_seeds} seeds; the property allows {allowed:.2f}"
        )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
