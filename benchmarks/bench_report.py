#!/usr/bin/env python
"""``report.analyse`` (the whole ``localcryst analyse``) on one large image.

The scene of ``bench_signal_path.py`` (square lattice, spacing 20 px, sigma
3.5 px, peak 200 over 20 counts, Poisson) as an ``atomic_image``; two runs in
one process (the first compiles), each into a new temporary folder, with the
wall time and the report's own ``times_s`` per step.

Usage::

    python benchmarks/bench_report.py [--size 4096]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import hyperspy.api as hs  # noqa: E402
from bench_find_refine import make_image  # noqa: E402  (the same scene)

from hyperspy_localcryst import report  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=4096)
    args = p.parse_args(argv)
    image, _, _ = make_image(args.size, 200.0, 20.0, 7 * args.size, 0.5)
    s = hs.signals.Signal2D(image.astype(np.float32))
    s.set_signal_type("atomic_image")
    for run in ("first (compiles)", "second (warm)"):
        with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            summary = report.analyse(s, Path(d) / "out")
            dt = time.perf_counter() - t
        steps = ", ".join(f"{k} {v:.2f}" for k, v in summary["times_s"].items())
        print(f"{args.size}², {run}: {dt:.1f} s ({steps})")


if __name__ == "__main__":
    main()
