#!/usr/bin/env python
"""How the path users call scales with atoms and with frames (issue 22).

The scene of ``bench_signal_path.py`` (square lattice, spacing 20 px,
sigma 3.5 px, peak 200 over 20 counts, Poisson, sub-pixel jitter) as an
``atomic_image``; warm (one call first), the median of ``--repeat`` calls of
``s.refine_atoms(s.find_atoms())`` with every default:

* one image of each of ``--sizes`` (atoms grow as the area);
* a stack of each of ``--frames`` frames of ``--frame-size`` pixels (each
  frame its own scene: jitter and noise of its own seed).

Prints a Markdown table with the time per atom and per frame, and with
``--figure PATH`` draws both on log-log axes with a line of slope 1 through
the last point (linear scaling, which the measured times approach from above
as the fixed costs — the separation on a central crop, the noise model on
tiles — fade).

Usage::

    python benchmarks/bench_scaling.py [--sizes 512 1024 2048 4096]
        [--frames 1 4 16] [--frame-size 512] [--repeat 3] [--figure PATH]
"""

from __future__ import annotations

import argparse
import platform
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import hyperspy.api as hs  # noqa: E402
from bench_find_refine import make_image  # noqa: E402  (the same scene)
from bench_signal_path import BACKGROUND, PEAK, median_time  # noqa: E402


def _signal(data):
    s = hs.signals.Signal2D(np.asarray(data, dtype=np.float32))
    s.set_signal_type("atomic_image")
    return s


def _find_refine(s):
    return lambda: s.refine_atoms(s.find_atoms())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    p.add_argument("--frames", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--frame-size", type=int, default=512)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--figure", default=None, help="write the log-log plot here")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    print(f"machine: {platform.machine()}, python {platform.python_version()}")

    by_size = []
    for size in args.sizes:
        image, _, _ = make_image(size, PEAK, BACKGROUND, 7 * size, 0.5)
        atoms, t = median_time(_find_refine(_signal(image)), args.repeat)
        by_size.append((size, atoms.n_atoms, t))
    print("\n| image | atoms | find + refine (s) | µs per atom |")
    print("|---|---|---|---|")
    for size, n, t in by_size:
        print(f"| {size}² | {n} | {t:.2f} | {1e6 * t / n:.0f} |")

    by_frames = []
    fs = args.frame_size
    for n_frames in args.frames:
        frames = [
            make_image(fs, PEAK, BACKGROUND, 1000 + k, 0.5)[0] for k in range(n_frames)
        ]
        stack = np.stack(frames)
        atoms, t = median_time(_find_refine(_signal(stack)), args.repeat)
        by_frames.append((n_frames, atoms.n_atoms, t))
    print(f"\n| frames of {fs}² | atoms | find + refine (s) | s per frame |")
    print("|---|---|---|---|")
    for n_frames, n, t in by_frames:
        print(f"| {n_frames} | {n} | {t:.2f} | {t / n_frames:.3f} |")

    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
        for ax, rows, label in (
            (axes[0], by_size, "atoms (one image)"),
            (axes[1], by_frames, f"frames of {fs}²"),
        ):
            n = np.array([r[1] if rows is by_size else r[0] for r in rows], float)
            t = np.array([r[2] for r in rows])
            ax.loglog(n, t, "o-", label="find + refine, measured")
            ax.loglog(n, t[-1] * n / n[-1], "k--", lw=1, label="linear (slope 1)")
            ax.set_xlabel(label)
            ax.set_ylabel("time (s)")
            ax.legend(fontsize=8)
        fig.savefig(args.figure, dpi=110)
        print(f"\nfigure: {args.figure}")


if __name__ == "__main__":
    main()
