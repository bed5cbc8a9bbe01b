"""Speed and memory of image series: frames per second, atoms per second, peak RSS.

Run: ``python benchmarks/bench_series.py [--frames 32] [--size 1024]
[--big-gib 6.5] [--big-spacing 20] [--skip-big]``

1. A stack of ``--frames`` frames of ``--size``² px (square lattice, 20 px
   spacing: ~2,600 atoms per 1024² frame, Poisson noise), ``find_atoms`` then
   ``refine_atoms``, each case in a fresh process:

   - ``serial, 1 core``: ``num_workers=1`` pinned to one core (``taskset -c
     0``): one frame after the other on one core, the baseline;
   - ``num_workers=1``: one frame after the other, each frame's numerics
     threaded over all cores;
   - ``num_workers=2``: two frames at a time (dask threads), one thread each;
   - ``LocalCluster``: a 2-worker ``dask.distributed`` cluster (processes,
     one thread each) on this machine, cluster start-up excluded.

   Each case runs twice: on the stack in memory (the cluster then receives
   every frame from this process), and on a lazy stack whose frames are made
   inside the dask graph (as if read from storage where they are processed).

2. A lazy stack larger than a quarter of this machine's memory
   (``--big-gib`` GiB of float32 frames, made frame by frame inside the dask
   graph, never held whole), found and refined chunk by chunk; peak resident
   memory of the process (``ru_maxrss``) against the stack's size.

Times are the median wall-clock seconds of three runs of each case (nothing
is cached between runs: every run finds and refines the whole stack again).
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings

import numpy as np


def _frames(n, size, seed=0):
    from hyperspy_localcryst.data.synthetic import make_lattice_image

    return np.stack(
        [
            make_lattice_image((size, size), spacing=20, seed=seed + k)[0].astype(
                np.float32
            )
            for k in range(n)
        ]
    )


def _generated(n, size):
    """A lazy stack whose frames are made inside the dask graph (like frames
    read from storage by whichever worker processes them)."""
    import dask.array as da

    from hyperspy_localcryst.data.synthetic import make_lattice_image
    from hyperspy_localcryst.signals.atomic_image import LazyAtomicImage

    def frame(block_info=None):
        k = block_info[None]["chunk-location"][0]
        img = make_lattice_image((size, size), spacing=20, seed=k)[0]
        return img.astype(np.float32)[None]

    chunks = ((1,) * n, (size,), (size,))
    return LazyAtomicImage(da.map_blocks(frame, chunks=chunks, dtype=np.float32))


def _run_case(case, n, size, lazy=False, repeats=3):
    """One case in this process; prints a JSON line."""
    warnings.filterwarnings("ignore")
    from hyperspy_localcryst.signals.atomic_image import AtomicImage

    s = _generated(n, size) if lazy else AtomicImage(_frames(n, size))
    kw = {"show_progressbar": False}
    if case in ("serial", "workers1"):
        kw["num_workers"] = 1
    elif case == "workers2":
        kw["num_workers"] = 2
    client = cluster = None
    if case == "cluster":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
        # warm the workers (imports, compiled kernels) outside the timing
        AtomicImage(_frames(2, 256)).find_atoms(**kw)
    # warm this process's compiled kernels on a small stack
    small = _generated(2, 256) if lazy else AtomicImage(_frames(2, 256))
    small.refine_atoms(small.find_atoms(**kw), **kw)
    find_s, refine_s = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        atoms = s.find_atoms(**kw)
        t1 = time.perf_counter()
        refined = s.refine_atoms(atoms, **kw)
        t2 = time.perf_counter()
        find_s.append(t1 - t0)
        refine_s.append(t2 - t1)
    if client is not None:
        client.close()
        cluster.close()
    print(
        json.dumps(
            {
                "case": case,
                "frames": n,
                "atoms": int(refined.n_atoms),
                "find_s": float(np.median(find_s)),
                "refine_s": float(np.median(refine_s)),
            }
        )
    )


def big_stack(gib, size, spacing=20):
    """A lazy stack of ``gib`` GiB whose frames are made inside the dask graph.

    One rendered lattice, rolled and Poisson-sampled per frame: the stack never
    exists whole. Returns ``(LazyAtomicImage, n_frames)``.
    """
    import dask.array as da

    from hyperspy_localcryst.data.synthetic import make_lattice_image
    from hyperspy_localcryst.signals.atomic_image import LazyAtomicImage

    n = int(np.ceil(gib * 2**30 / (size * size * 4)))
    base, _ = make_lattice_image((size, size), spacing=spacing, noise=None)

    def frame(block_info=None):
        k = block_info[None]["chunk-location"][0]
        rng = np.random.default_rng(k)
        shifted = np.roll(base, (k % 7, k % 5), axis=(0, 1))
        return rng.poisson(shifted).astype(np.float32)[None]

    data = da.map_blocks(frame, chunks=((1,) * n, (size,), (size,)), dtype=np.float32)
    return LazyAtomicImage(data), n


def _run_big(gib, size, spacing=20):
    """A lazily made stack of ``gib`` GiB, found and refined chunk by chunk."""
    warnings.filterwarnings("ignore")
    s, n = big_stack(gib, size, spacing)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    t0 = time.perf_counter()
    atoms = s.find_atoms(separation=spacing, show_progressbar=False)
    t1 = time.perf_counter()
    refined = s.refine_atoms(atoms, show_progressbar=False)
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(
        json.dumps(
            {
                "case": "big",
                "frames": n,
                "stack_mib": n * size * size * 4 / 2**20,
                "atoms": int(refined.n_atoms),
                "find_s": t1 - t0,
                "refine_s": t2 - t1,
                "rss_before_mib": rss0,
                "peak_rss_mib": peak,
                "memory_limit_mib": _memory_limit_mib(),
            }
        )
    )


def _memory_limit_mib():
    """This process's memory limit (cgroup v1 or v2) in MiB, or physical RAM."""
    limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for line in open("/proc/self/cgroup"):
        _, ctrl, path = line.strip().split(":", 2)
        for f in (
            f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"
            if "memory" in ctrl.split(",")
            else None,
            f"/sys/fs/cgroup{path}/memory.max" if ctrl == "" else None,
        ):
            try:
                value = open(f).read().strip() if f else "max"
            except OSError:
                continue
            if value != "max":
                limit = min(limit, int(value))
    return limit / 2**20


def _sub(args, pin=False):
    cmd = [sys.executable, __file__] + args
    if pin:
        cmd = ["taskset", "-c", "0"] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--big-gib", type=float, default=6.5)
    p.add_argument("--big-spacing", type=float, default=20)
    p.add_argument("--skip-big", action="store_true")
    p.add_argument("--lazy", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.case == "big":
        return _run_big(a.big_gib, a.size, a.big_spacing)
    if a.case:
        return _run_case(a.case, a.frames, a.size, lazy=a.lazy)

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, {mem:.1f} GiB"
    )
    names = {
        "serial": "serial, 1 core (`num_workers=1`, taskset)",
        "workers1": "`num_workers=1` (frames in turn, threads inside)",
        "workers2": "`num_workers=2` (dask threads)",
        "cluster": "2-worker `LocalCluster` (processes)",
    }
    for lazy in (False, True):
        common = ["--frames", str(a.frames), "--size", str(a.size)]
        common += ["--lazy"] if lazy else []
        rows = [
            _sub(["--case", case] + common, pin=case == "serial")
            for case in ("serial", "workers1", "workers2", "cluster")
        ]
        base = rows[0]["find_s"] + rows[0]["refine_s"]
        source = (
            "lazy, each frame made inside the dask graph (made again by every run)"
            if lazy
            else "in memory"
        )
        print(
            f"\n{a.frames} frames of {a.size}² px, {source}, "
            f"{rows[0]['atoms'] // a.frames:,} atoms per frame"
        )
        print(
            "| case | find (s) | refine (s) | total (s) | frames/s | atoms/s "
            "| speed-up vs serial |"
        )
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            total = r["find_s"] + r["refine_s"]
            print(
                f"| {names[r['case']]} | {r['find_s']:.2f} | {r['refine_s']:.2f} | "
                f"{total:.2f} | {r['frames'] / total:.2f} | "
                f"{r['atoms'] / total:,.0f} | {base / total:.2f} |"
            )
    if not a.skip_big:
        r = _sub(
            ["--case", "big", "--big-gib", str(a.big_gib), "--size", str(a.size)]
            + ["--big-spacing", str(a.big_spacing)]
        )
        print(
            f"\nlazy stack: {r['frames']} frames of {a.size}² float32 = "
            f"{r['stack_mib'] / 1024:.2f} GiB ({r['stack_mib'] / 1024 / mem:.0%} of "
            "RAM), made frame by frame"
        )
        print("| find (s) | refine (s) | atoms | RSS before (MiB) | peak RSS (MiB) |")
        print("|---|---|---|---|---|")
        print(
            f"| {r['find_s']:.0f} | {r['refine_s']:.0f} | {r['atoms']:,} | "
            f"{r['rss_before_mib']:.0f} | {r['peak_rss_mib']:.0f} |"
        )


if __name__ == "__main__":
    main()
