"""The whole pipeline at scale: time and peak memory of every step.

Run: ``python benchmarks/bench_scale.py [--case image|stack|both]
[--size 4096] [--stack-gib 6.5] [--stack-spacing 40]``

1. ``image``: one synthetic 4096² px image (square lattice, 20 px spacing,
   Poisson noise: ~42,000 columns) through find -> refine -> neighbourhoods
   (k = 6, angle metric) -> PCA -> k-means (K = 3) -> cluster map, and the
   whole ``localcryst analyse`` pipeline with its figures and report
   (``hyperspy_localcryst.report.analyse``).
2. ``stack``: a lazy stack larger than a quarter of this machine's memory
   (frames made inside the dask graph, see ``bench_series.big_stack``)
   through find -> refine -> pooled neighbourhoods -> PCA -> k-means ->
   cluster fractions per frame.

Each case runs in a fresh process; peak memory is the process's
``ru_maxrss`` after each step (it only grows), next to the size of the data.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings


def _rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


class _Steps:
    def __init__(self):
        self.rows = []
        self.t = time.perf_counter()

    def __call__(self, name, **extra):
        now = time.perf_counter()
        self.rows.append(
            {"step": name, "s": now - self.t, "peak_rss_mib": _rss_mib(), **extra}
        )
        self.t = now


def _pipeline(s, steps, k=3, **kw):
    atoms = s.find_atoms(**kw)
    steps("find_atoms", atoms=int(atoms.n_atoms))
    atoms = s.refine_atoms(
        atoms, **{k_: v for k_, v in kw.items() if k_ != "separation"}
    )
    steps("refine_atoms")
    nb = atoms.get_neighbourhoods(n_neighbours=6, metric="angle")
    steps("get_neighbourhoods", centres=int(nb.axes_manager.navigation_size))
    nb.decomposition(print_info=False)
    steps("decomposition")
    nb.cluster_analysis(n_clusters=k, random_state=0, n_init=3)
    steps("cluster_analysis")
    return atoms, nb


def _run_image(size):
    warnings.filterwarnings("ignore")
    from hyperspy_localcryst.data import synthetic_lattice
    from hyperspy_localcryst.report import analyse

    rss0 = _rss_mib()
    s = synthetic_lattice(shape=(size, size), spacing=20, seed=0)
    s.change_dtype("float32")
    steps = _Steps()
    _, nb = _pipeline(s, steps)
    nb.get_cluster_map()
    steps("get_cluster_map")
    with tempfile.TemporaryDirectory() as out:
        summary = analyse(s, out, n_neighbours=6, n_clusters=3)
    steps("report.analyse (whole, with figures)", atoms=summary["n_atoms"])
    print(
        json.dumps(
            {
                "case": "image",
                "image_mib": s.data.nbytes / 2**20,
                "rss_start_mib": rss0,
                "steps": steps.rows,
            }
        )
    )


def _run_stack(gib, spacing):
    warnings.filterwarnings("ignore")
    sys.path.insert(0, os.path.dirname(__file__))
    from bench_series import big_stack

    rss0 = _rss_mib()
    s, n = big_stack(gib, 1024, spacing)
    steps = _Steps()
    _, nb = _pipeline(s, steps, separation=spacing, show_progressbar=False)
    nb.get_cluster_fractions()
    steps("get_cluster_fractions")
    print(
        json.dumps(
            {
                "case": "stack",
                "frames": n,
                "stack_mib": n * 1024 * 1024 * 4 / 2**20,
                "rss_start_mib": rss0,
                "steps": steps.rows,
            }
        )
    )


def _print(r):
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    if r["case"] == "image":
        print(f"\nimage: {r['image_mib']:.0f} MiB of float32 data")
    else:
        print(
            f"\nlazy stack: {r['frames']} frames of 1024² float32 = "
            f"{r['stack_mib'] / 1024:.2f} GiB ({r['stack_mib'] / mem:.0%} of RAM)"
        )
    print(f"RSS at start: {r['rss_start_mib']:.0f} MiB")
    print("| step | time (s) | peak RSS so far (MiB) | count |")
    print("|---|---|---|---|")
    for st in r["steps"]:
        count = st.get("atoms", st.get("centres", ""))
        count = f"{count:,}" if count != "" else ""
        print(f"| {st['step']} | {st['s']:.1f} | {st['peak_rss_mib']:.0f} | {count} |")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--case", default="both", choices=("image", "stack", "both"))
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--stack-gib", type=float, default=6.5)
    p.add_argument("--stack-spacing", type=float, default=40)
    p.add_argument("--run", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.run == "image":
        return _run_image(a.size)
    if a.run == "stack":
        return _run_stack(a.stack_gib, a.stack_spacing)
    cases = ("image", "stack") if a.case == "both" else (a.case,)
    for case in cases:
        cmd = [sys.executable, __file__, "--run", case, "--size", str(a.size)]
        cmd += [
            "--stack-gib",
            str(a.stack_gib),
            "--stack-spacing",
            str(a.stack_spacing),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        _print(json.loads(out.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
