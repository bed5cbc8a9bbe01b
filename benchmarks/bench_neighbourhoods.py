"""Speed of neighbourhood vectors and of learning on them.

Run: ``python benchmarks/bench_neighbourhoods.py [--atoms 1000000] [--learn 100000]``

1. ``neighbour_vectors`` on a jittered square lattice of ~``--atoms`` atoms,
   k = 6 and 12, both metrics (kd-tree query plus vectorised ordering).
2. On ``--learn`` neighbourhoods (12 neighbours, two phases): HyperSpy
   ``decomposition()`` (SVD), ``cluster_analysis`` with k-means and with the
   paper's k-medians, and the dendrogram's linkage of a 2,000-atom subsample.
Times are the best of ``--repeat`` runs, in seconds.
"""

import argparse
import os
import platform
import time
import warnings

import numpy as np

from hyperspy_localcryst.data.synthetic import two_phase_positions
from hyperspy_localcryst.numerics.neighbourhoods import neighbour_vectors
from hyperspy_localcryst.signals.atom_positions import make_atom_positions


def best(f, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def square_points(n_atoms, seed=0):
    side = int(np.ceil(np.sqrt(n_atoms)))
    yy, xx = np.mgrid[0:side, 0:side].astype(float)
    rng = np.random.default_rng(seed)
    x = xx.ravel() * 16 + rng.normal(0, 0.3, xx.size)
    y = yy.ravel() * 16 + rng.normal(0, 0.3, xx.size)
    return x, y


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--atoms", type=int, default=1_000_000)
    p.add_argument("--learn", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    warnings.filterwarnings("ignore")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )

    x, y = square_points(a.atoms)
    print(f"\nneighbour_vectors, {x.size:,} atoms (jittered square lattice)")
    print("| k | metric | time (s) | centres | atoms/s |")
    print("|---|---|---|---|---|")
    for k in (6, 12):
        for metric in ("distance", "angle"):
            t, nb = best(lambda: neighbour_vectors(x, y, k, metric), a.repeat)
            rate = x.size / t
            print(f"| {k} | {metric} | {t:.2f} | {len(nb.centres):,} | {rate:,.0f} |")

    # two phases, enough atoms for --learn centres
    side = int(np.sqrt(a.learn) * 16 * 1.08)
    xs, ys, _ = two_phase_positions((side, side), 16.0, rotation=17.0, jitter=0.3)
    grid = {
        k: dict(size=side, scale=0.01, offset=0.0, units="nm", name=k) for k in "xy"
    }
    atoms = make_atom_positions({"x": xs * 0.01, "y": ys * 0.01}, {}, grid)
    t_nb, nb = best(lambda: atoms.get_neighbourhoods(12, metric="angle"), 1)
    n = nb.axes_manager.navigation_size
    print(f"\nlearning on {n:,} neighbourhoods (12 neighbours, 24 components)")
    print("| step | time (s) |")
    print("|---|---|")
    print(f"| get_neighbourhoods (signal, angle metric) | {t_nb:.2f} |")
    t, _ = best(lambda: nb.decomposition(print_info=False), a.repeat)
    print(f"| decomposition (SVD) | {t:.2f} |")
    t, _ = best(lambda: nb.cluster_analysis(n_clusters=3), a.repeat)
    print(f"| cluster_analysis k-means (K=3, n_init=10) | {t:.2f} |")
    t, _ = best(
        lambda: nb.cluster_analysis(n_clusters=3, algorithm="kmedians"), a.repeat
    )
    print(f"| cluster_analysis k-medians (K=3, n_init=4) | {t:.2f} |")
    t, _ = best(lambda: nb.get_linkage(n_samples=2000), a.repeat)
    print(f"| linkage (Ward) of a 2,000-atom subsample | {t:.2f} |")
    t, _ = best(lambda: nb.get_cluster_map(), a.repeat)
    print(f"| cluster map raster ({side}x{side} px) | {t:.2f} |")


if __name__ == "__main__":
    main()
