#!/usr/bin/env python
"""The path users call, side by side with ``trackpy.locate`` (issue 22).

A synthetic square lattice (spacing 20 px, round Gaussian columns of sigma
3.5 px, peak 200 over a background of 20 counts, Poisson noise, each column
displaced by a uniform sub-pixel offset) as an ``atomic_image`` signal; in
one run, warm (one call first), the median of ``--repeat`` calls of

* ``s.refine_atoms(s.find_atoms())`` with every default;
* ``s.find_atoms()`` alone;
* ``trackpy.locate(image, 15)`` (trackpy's defaults otherwise);

and the precision of the refined positions against the truth (RMS error per
axis over the Cramér-Rao bound, columns at least 15 px inside the image).

Usage::

    python benchmarks/bench_signal_path.py [--sizes 2048 4096] [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import hyperspy.api as hs  # noqa: E402
from bench_find_refine import (  # noqa: E402  (the same scene and matching)
    SIGMA,
    accuracy,
    make_image,
    match_one_to_one,
    run_trackpy,
)

from hyperspy_localcryst.data.synthetic import cramer_rao_bound  # noqa: E402

PEAK, BACKGROUND = 200.0, 20.0


def median_time(fn, repeat):
    """Result of a warm-up call and the median wall time of ``repeat`` calls.
    The frames cleaned before are forgotten before each call (as for a new
    image: ``find_atoms`` then ``refine_atoms`` clean it once, not once per
    repeat)."""
    from hyperspy_localcryst.numerics import one_frame as image_finding

    image_finding._CLEAN_MEMO.clear()
    out = fn()
    times = []
    for _ in range(repeat):
        image_finding._CLEAN_MEMO.clear()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{__import__('os').cpu_count()} cores, python {platform.python_version()}"
    )
    print(
        "| size | atoms | find + refine (s) | find (s) | trackpy.locate (s) "
        "| trackpy / ours | RMS / CRB (x, y) |"
    )
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        image, (tx, ty), _ = make_image(size, PEAK, BACKGROUND, 7 * size, 0.5)
        s = hs.signals.Signal2D(image.astype(np.float32))
        s.set_signal_type("atomic_image")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atoms, t_all = median_time(
                lambda: s.refine_atoms(s.find_atoms()), args.repeat
            )
            _, t_find = median_time(lambda: s.find_atoms(), args.repeat)
        _, t_tp = median_time(lambda: run_trackpy(image), args.repeat)
        x, y = atoms.get_pixel_positions()
        fi, ti = match_one_to_one(x, y, tx, ty)
        inner = (
            (tx[ti] > 15) & (tx[ti] < size - 16) & (ty[ti] > 15) & (ty[ti] < size - 16)
        )
        crlb = cramer_rao_bound(PEAK, BACKGROUND, SIGMA)
        acc = accuracy(x[fi][inner], y[fi][inner], tx[ti][inner], ty[ti][inner], crlb)
        print(
            f"| {size}² | {atoms.n_atoms} | {t_all:.2f} | {t_find:.2f} | {t_tp:.2f} "
            f"| {t_tp / t_all:.2f} | {acc['ratio_x']:.3f}, {acc['ratio_y']:.3f} |"
        )


if __name__ == "__main__":
    main()
