"""Precision of the default signal-level path against the Cramér–Rao bound.

``s.refine_atoms(s.find_atoms())`` with every default (the path users call),
on 512 x 512 synthetic square lattices (spacing 20 px, round Gaussian columns
of sigma 3.5 px, each displaced by a random sub-pixel offset, uniform in
[-0.5, 0.5) px per axis), Poisson noise, three images per dose; the RMS
error per axis over the atoms at least 15 px from the edge, divided by
``cramer_rao_bound(peak, background, 3.5)``. Issue 18's target: at most 1.05.

Run from the repository root::

    python benchmarks/check_default_precision.py
"""

import warnings

import hyperspy.api as hs
import numpy as np
from scipy.spatial import cKDTree

from hyperspy_localcryst.data.synthetic import cramer_rao_bound, make_lattice_image


def measure(peak, background, seeds=(0, 1, 2), shape=(512, 512)):
    """RMS error per axis (px), its ratio to the bound, the bias, the count."""
    errors = []
    for seed in seeds:
        rng = np.random.default_rng(seed)

        def jitter(x, y, s, rng=rng):
            n = np.size(x)
            return rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n)

        img, truth = make_lattice_image(
            shape, peak=peak, background=background, seed=seed, displacement=jitter
        )
        s = hs.signals.Signal2D(img.astype(float))
        s.set_signal_type("atomic_image")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atoms = s.refine_atoms(s.find_atoms())
        x, y = atoms.get_pixel_positions()
        tx, ty = truth["x"], truth["y"]
        d, i = cKDTree(np.c_[x, y]).query(np.c_[tx, ty])
        ny, nx = shape
        inner = (tx >= 15) & (tx <= nx - 16) & (ty >= 15) & (ty <= ny - 16) & (d < 3)
        errors.append(np.c_[x[i[inner]] - tx[inner], y[i[inner]] - ty[inner]])
    e = np.concatenate(errors)
    rms = np.sqrt((e**2).mean(axis=0))
    return rms, rms / cramer_rao_bound(peak, background, 3.5), e.mean(axis=0), len(e)


def main():
    print("| peak / background | atoms | RMS x, y (px) | / CRB x, y | bias x, y (px) |")
    print("|---|---|---|---|---|")
    for peak, bg in ((200, 20), (5000, 500)):
        rms, ratio, bias, n = measure(peak, bg)
        print(
            f"| {peak} / {bg} | {n} | {rms[0]:.5f}, {rms[1]:.5f} | "
            f"{ratio[0]:.3f}, {ratio[1]:.3f} | {bias[0]:+.5f}, {bias[1]:+.5f} |"
        )


if __name__ == "__main__":
    main()
