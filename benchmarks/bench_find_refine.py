#!/usr/bin/env python
"""Benchmark of atom finding and sub-pixel refinement against ground truth.

For every image size and two dose levels a synthetic square lattice (spacing
20 px, round Gaussian atoms of sigma 3.5 px, Poisson noise) is built with
:func:`hyperspy_localcryst.data.synthetic.make_lattice_image` and the
script measures, on that same image:

1. detection recall / precision of ``find_atoms`` (template method, with the
   separation given and estimated) and of ``trackpy.locate``;
2. position accuracy (RMS error per axis, ratio to the Cramer-Rao lower bound,
   mean error = bias) of ``refine_gaussians`` (round joint, round independent,
   elliptical), ``centre_of_mass``, ``trackpy.locate``, a per-atom
   ``scipy.optimize.curve_fit`` loop and atomap's 2D-Gaussian refinement;
3. speed in atoms/s (best of ``--repeat`` after one warm-up call);
4. peak memory (``tracemalloc`` peak, and the peak-RSS increase of a fresh
   subprocess, read from ``VmHWM`` on Linux, ``ru_maxrss`` elsewhere);
5. find + refine time next to ``trackpy.locate`` time.

Matching rules
--------------
A found atom matches a truth atom when they are within 3 px (one-to-one,
closest pairs first, with ``scipy.spatial.cKDTree``). Atoms whose centres lie
just outside the image (up to 6 sigma) are rendered, so their partial peaks
are found within ~1 px of the border, several px from their true (outside)
centre. A found atom that matches no truth atom inside the image, lies within
2 px of the image edge and has an outside-the-image truth atom within half a
spacing is *ignored* (counted neither as true nor as false positive).

Accuracy is computed on matched atoms whose true centre is at least 15 px
from the image edge.

By default each atom is displaced by a uniform random sub-pixel offset in
[-0.5, 0.5) px per axis (``--jitter 0.5``). Without it (``--jitter 0``) every
atom of the generator's lattice sits exactly on a half-integer pixel position,
where pixelation biases cancel by symmetry, while the Cramer-Rao bound is an
average over sub-pixel positions.

Run ``python benchmarks/bench_find_refine.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit
from scipy.spatial import cKDTree

from hyperspy_localcryst.data.synthetic import cramer_rao_bound, make_lattice_image
from hyperspy_localcryst.numerics.centroids import centre_of_mass
from hyperspy_localcryst.numerics.finding import find_atoms
from hyperspy_localcryst.numerics.refinement import refine_gaussians

SPACING = 20.0
SIGMA = 3.5
RADIUS = 0.5 * SPACING  # refinement window radius, px
MATCH_DIST = 3.0  # px
EDGE_IGNORE = 2.0  # px
EVAL_MARGIN = 15.0  # px
TRACKPY_DIAMETER = 15  # odd, ~ 2 * radius + 1 scaled to the atom size
DOSES = ((200.0, 20.0), (5000.0, 500.0))
CURVE_FIT_SUBSET = 500
ATOMAP_SUBSET = 200
RSS_STEPS = ("find", "refine_round", "refine_indep", "refine_ellip", "com")

REFINERS = {
    "refine round joint": dict(model="round"),
    "refine round indep.": dict(model="round", subtract_neighbours=False),
    "refine elliptical": dict(model="elliptical"),
}


# --------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------
def _pkg_version(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model():
    proc = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return proc or platform.machine()


def _git_describe():
    """Read-only ``git describe --always --dirty`` of the checkout, if any."""
    try:
        proc = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent,
        )
    except OSError:
        return None
    return proc.stdout.strip() or None


def machine_info():
    import numba

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    mem_gib = None
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "processor": platform.processor() or platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer_config": numba.config.THREADING_LAYER,
        "memory_gib": None if mem_gib is None else round(mem_gib, 1),
        "loadavg_at_start": None if load is None else [round(v, 2) for v in load],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            p: _pkg_version(p)
            for p in (
                "hyperspy_localcryst",
                "numpy",
                "scipy",
                "numba",
                "trackpy",
                "atomap",
                "hyperspy",
            )
        },
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "git": _git_describe(),
    }


# --------------------------------------------------------------------------
# synthetic data
# --------------------------------------------------------------------------
def make_image(size, peak, background, seed, jitter):
    """Image, truth inside the image and truth up to half a spacing outside."""
    rng = np.random.default_rng(seed + 1_000_003)

    def displacement(x, y, sub):
        if jitter <= 0:
            return 0.0, 0.0
        return (
            rng.uniform(-jitter, jitter, x.shape),
            rng.uniform(-jitter, jitter, y.shape),
        )

    image, ext = make_lattice_image(
        (size, size),
        spacing=SPACING,
        sigma=SIGMA,
        peak=peak,
        background=background,
        lattice="square",
        noise="poisson",
        seed=seed,
        displacement=displacement,
        margin=-0.5 * SPACING,
    )
    ex, ey = ext["x"], ext["y"]
    inside = (ex >= 0) & (ex <= size - 1) & (ey >= 0) & (ey <= size - 1)
    return image, (ex[inside], ey[inside]), (ex[~inside], ey[~inside])


# --------------------------------------------------------------------------
# matching and statistics
# --------------------------------------------------------------------------
def match_one_to_one(fx, fy, tx, ty, max_dist=MATCH_DIST):
    """Closest-first one-to-one matching; returns index arrays (found, truth)."""
    if len(fx) == 0 or len(tx) == 0:
        return np.empty(0, int), np.empty(0, int)
    ftree = cKDTree(np.column_stack([fx, fy]))
    ttree = cKDTree(np.column_stack([tx, ty]))
    sdm = ftree.sparse_distance_matrix(ttree, max_dist, output_type="ndarray")
    order = np.argsort(sdm["v"], kind="stable")
    used_f = np.zeros(len(fx), bool)
    used_t = np.zeros(len(tx), bool)
    fi, ti = [], []
    for i, j in zip(sdm["i"][order], sdm["j"][order]):
        if not (used_f[i] or used_t[j]):
            used_f[i] = used_t[j] = True
            fi.append(i)
            ti.append(j)
    return np.asarray(fi, int), np.asarray(ti, int)


def detection_stats(fx, fy, truth, outside, size):
    tx, ty = truth
    fi, ti = match_one_to_one(fx, fy, tx, ty)
    unmatched = np.ones(len(fx), bool)
    unmatched[fi] = False
    edge_dist = np.minimum.reduce([fx, fy, size - 1 - fx, size - 1 - fy])
    ignored = np.zeros(len(fx), bool)
    cand = unmatched & (edge_dist < EDGE_IGNORE)
    if np.any(cand) and len(outside[0]):
        otree = cKDTree(np.column_stack(outside))
        d, _ = otree.query(np.column_stack([fx[cand], fy[cand]]))
        ignored[np.flatnonzero(cand)[d <= 0.5 * SPACING]] = True
    n_tp = len(fi)
    n_counted = len(fx) - int(ignored.sum())
    interior = (
        (tx >= EVAL_MARGIN)
        & (tx <= size - 1 - EVAL_MARGIN)
        & (ty >= EVAL_MARGIN)
        & (ty <= size - 1 - EVAL_MARGIN)
    )
    return {
        "n_truth": len(tx),
        "n_found": len(fx),
        "n_ignored_edge": int(ignored.sum()),
        "n_matched": n_tp,
        "n_false_pos": n_counted - n_tp,
        "n_missed": len(tx) - n_tp,
        "recall": n_tp / len(tx) if len(tx) else math.nan,
        "precision": n_tp / n_counted if n_counted else math.nan,
        "recall_interior": (
            float(np.isin(np.flatnonzero(interior), ti).mean())
            if interior.any()
            else math.nan
        ),
        "_fi": fi,
        "_ti": ti,
        "_interior": interior,
    }


def accuracy(rx, ry, tx, ty, crlb):
    ex, ey = np.asarray(rx) - tx, np.asarray(ry) - ty
    n = len(ex)
    if n == 0:
        return {"n": 0, "crlb": crlb}
    rms_x = float(np.sqrt(np.mean(ex**2)))
    rms_y = float(np.sqrt(np.mean(ey**2)))
    return {
        "n": n,
        "crlb": crlb,
        "rms_x": rms_x,
        "rms_y": rms_y,
        "ratio_x": rms_x / crlb,
        "ratio_y": rms_y / crlb,
        "ratio_se": max(rms_x, rms_y) / crlb / math.sqrt(2 * n),
        "bias_x": float(np.mean(ex)),
        "bias_y": float(np.mean(ey)),
        "bias_se": max(rms_x, rms_y) / math.sqrt(n),
        "max_err": float(np.max(np.hypot(ex, ey))),
    }


# --------------------------------------------------------------------------
# timing / memory helpers
# --------------------------------------------------------------------------
def timed(fn, repeat, warmup=True):
    """Result of the warm-up call and best wall time of ``repeat`` calls."""
    result = fn() if warmup else None
    best = math.inf
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    if result is None:
        result = out
    return result, best


def tracemalloc_peak_mb(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def _run_step(step, image, x, y):
    if step == "find":
        return find_atoms(image, separation=SPACING)
    if step == "refine_round":
        return refine_gaussians(image, x, y, RADIUS)
    if step == "refine_indep":
        return refine_gaussians(image, x, y, RADIUS, subtract_neighbours=False)
    if step == "refine_ellip":
        return refine_gaussians(image, x, y, RADIUS, model="elliptical")
    if step == "com":
        return centre_of_mass(image, x, y, RADIUS)
    if step == "none":
        return None
    raise ValueError(step)


def _proc_status_kb(key):
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss():
    """Reset the kernel's peak-RSS counter (Linux >= 4.0); True on success."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def rss_child(step, npz):
    """Subprocess entry: load image + seeds, warm up on a crop, run ``step``.

    Prints the RSS before the step and the peak RSS during it. On Linux the
    peak-RSS counter (``VmHWM``) is reset just before the step, so the
    difference is the step's own peak. Elsewhere ``ru_maxrss`` is used, which
    after fork/exec starts at the parent's RSS and is then only a lower bound.
    """
    data = np.load(npz)
    image, x, y = data["image"], data["x"], data["y"]
    crop = image[:160, :160].copy()
    sel = (x < 150) & (y < 150)
    for s in RSS_STEPS:  # identical warm-ups (numba cache load) in every child
        _run_step(s, crop, x[sel], y[sel])
    if _reset_peak_rss() and _proc_status_kb("VmHWM") is not None:
        method = "VmHWM"
        before = _proc_status_kb("VmRSS")
        _run_step(step, image, x, y)
        after = _proc_status_kb("VmHWM")
    else:
        method = "ru_maxrss"
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        _run_step(step, image, x, y)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_kb": before, "after_kb": after, "method": method}))


def rss_deltas(image, x, y):
    """Peak extra RSS of each step, one fresh subprocess per step.

    Every child loads the image and seeds, warms all steps up on a small crop
    (loads the numba cache) and measures the step on the full image (see
    :func:`rss_child`). A first throw-away child makes sure the numba cache
    is populated, so that no child compiles.
    """
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        npz = os.path.join(tmp, "img.npz")
        np.savez(npz, image=image, x=x, y=y)
        for step in ("none",) + RSS_STEPS:
            proc = subprocess.run(
                [sys.executable, __file__, "--rss-child", step, npz],
                capture_output=True,
                text=True,
                check=False,
            )
            if step == "none":
                continue
            if proc.returncode != 0:
                out[step] = None
                tail = proc.stderr.strip().splitlines()[-1:]
                out[step + "_error"] = f"failed: {tail[0] if tail else proc.returncode}"
                continue
            rec = json.loads(proc.stdout.strip().splitlines()[-1])
            out[step] = (rec["after_kb"] - rec["before_kb"]) / 1024.0
            out["method"] = rec["method"]
    return out


# --------------------------------------------------------------------------
# comparison methods
# --------------------------------------------------------------------------
def _gauss2d(xy, x0, y0, amp, sigma, bg):
    dx = xy[0] - x0
    dy = xy[1] - y0
    return bg + amp * np.exp(-(dx * dx + dy * dy) / (2.0 * sigma * sigma))


def curve_fit_loop(image, xs, ys, radius):
    """Per-atom unweighted least-squares fit in a disc of ``radius`` px."""
    r = int(round(radius))
    off = np.arange(-r, r + 1)
    oy, ox = np.meshgrid(off, off, indexing="ij")
    disc = ox**2 + oy**2 <= r * r
    ox, oy = ox[disc], oy[disc]
    ny, nx = image.shape
    out_x = np.array(xs, dtype=float)
    out_y = np.array(ys, dtype=float)
    n_fail = 0
    for k in range(len(xs)):
        cx = int(np.floor(xs[k] + 0.5))
        cy = int(np.floor(ys[k] + 0.5))
        px, py = cx + ox, cy + oy
        ok = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
        px, py = px[ok], py[ok]
        z = image[py, px]
        p0 = (xs[k], ys[k], z.max() - z.min(), radius / 3.0, z.min())
        try:
            popt, _ = curve_fit(
                _gauss2d, np.vstack([px, py]).astype(float), z, p0=p0, maxfev=2000
            )
        except (RuntimeError, ValueError):
            n_fail += 1
            continue
        out_x[k], out_y[k] = popt[0], popt[1]
    return out_x, out_y, n_fail


def run_atomap(image, xs, ys, radius):
    import atomap.api as am

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sub = am.Sublattice(np.column_stack([xs, ys]), image)
        sub.refine_atom_positions_using_2d_gaussian(
            mask_radius=radius, show_progressbar=False
        )
    return np.asarray(sub.x_position, float), np.asarray(sub.y_position, float)


def run_trackpy(image):
    import trackpy as tp

    tp.quiet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = tp.locate(image, TRACKPY_DIAMETER)
    return df["x"].to_numpy(float), df["y"].to_numpy(float)


# --------------------------------------------------------------------------
# benchmark
# --------------------------------------------------------------------------
def bench_one(size, peak, background, args, comparisons, log):
    seed = 10_000 * size + int(peak)
    image, truth, outside = make_image(size, peak, background, seed, args.jitter)
    tx, ty = truth
    crlb = cramer_rao_bound(peak, background, SIGMA)
    repeat = args.repeat if size <= 2048 else min(args.repeat, args.repeat_large)
    dose = f"{peak:g}/{background:g}"
    det_rows, acc_rows, speed = [], [], {}

    # ---- detection -------------------------------------------------------
    finds = {}
    for label, sep in (("find sep=20", SPACING), ("find sep=None", None)):
        res, t = timed(lambda s=sep: find_atoms(image, separation=s), repeat)
        st = detection_stats(res["x"], res["y"], truth, outside, size)
        finds[label] = (res, st)
        det_rows.append(
            {
                "size": size,
                "dose": dose,
                "finder": label,
                **{k: v for k, v in st.items() if not k.startswith("_")},
                "time_s": t,
                "atoms_per_s": len(res["x"]) / t,
            }
        )
        speed[label] = t
        log(f"  {size} {dose} {label}: {t:.3f} s, {len(res['x'])} atoms")

    try:
        (tpx, tpy), t = timed(lambda: run_trackpy(image), repeat)
        st = detection_stats(tpx, tpy, truth, outside, size)
        det_rows.append(
            {
                "size": size,
                "dose": dose,
                "finder": f"trackpy locate d={TRACKPY_DIAMETER}",
                **{k: v for k, v in st.items() if not k.startswith("_")},
                "time_s": t,
                "atoms_per_s": len(tpx) / t,
            }
        )
        speed["trackpy"] = t
        sel = st["_interior"][st["_ti"]]
        acc = accuracy(
            tpx[st["_fi"][sel]],
            tpy[st["_fi"][sel]],
            tx[st["_ti"][sel]],
            ty[st["_ti"][sel]],
            crlb,
        )
        acc_rows.append(
            {
                "size": size,
                "dose": dose,
                "method": f"trackpy locate d={TRACKPY_DIAMETER}",
                **acc,
                "time_s": t,
                "atoms_per_s": len(tpx) / t,
                "note": "own detections",
            }
        )
        log(f"  {size} {dose} trackpy: {t:.3f} s")
    except Exception as exc:  # noqa: BLE001 - report any failure
        speed["trackpy"] = None
        det_rows.append(
            {
                "size": size,
                "dose": dose,
                "finder": "trackpy",
                "error": f"failed: {exc!r}",
            }
        )

    # ---- refinement seeded with the sep=20 detections --------------------
    found, st = finds["find sep=20"]
    fx, fy = found["x"], found["y"]
    sel = st["_interior"][st["_ti"]]
    eval_f = st["_fi"][sel]  # indices into found
    eval_t = st["_ti"][sel]  # indices into truth
    variants = dict(REFINERS)
    for label, kw in variants.items():
        res, t = timed(
            lambda kw=kw: refine_gaussians(image, fx, fy, RADIUS, **kw), repeat
        )
        acc = accuracy(res["x"][eval_f], res["y"][eval_f], tx[eval_t], ty[eval_t], crlb)
        acc["converged_frac"] = float(np.mean(res["converged"][eval_f]))
        acc_rows.append(
            {
                "size": size,
                "dose": dose,
                "method": label,
                **acc,
                "time_s": t,
                "atoms_per_s": len(fx) / t,
                "note": f"all {len(fx)} found atoms refined",
            }
        )
        speed[label] = t
        log(f"  {size} {dose} {label}: {t:.4f} s")
    (cx, cy), t = timed(lambda: centre_of_mass(image, fx, fy, RADIUS), repeat)
    acc = accuracy(cx[eval_f], cy[eval_f], tx[eval_t], ty[eval_t], crlb)
    acc_rows.append(
        {
            "size": size,
            "dose": dose,
            "method": "centre_of_mass",
            **acc,
            "time_s": t,
            "atoms_per_s": len(fx) / t,
            "note": f"all {len(fx)} found atoms",
        }
    )
    speed["centre_of_mass"] = t

    # ---- slow comparisons on subsets --------------------------------------
    if comparisons:
        rng = np.random.default_rng(seed)
        k = min(CURVE_FIT_SUBSET, len(eval_f))
        pick = np.sort(rng.choice(len(eval_f), size=k, replace=False))
        sf, stt = eval_f[pick], eval_t[pick]
        try:
            curve_fit_loop(image, fx[sf[:10]], fy[sf[:10]], RADIUS)  # warm-up
            t0 = time.perf_counter()
            qx, qy, n_fail = curve_fit_loop(image, fx[sf], fy[sf], RADIUS)
            t = time.perf_counter() - t0
            acc = accuracy(qx, qy, tx[stt], ty[stt], crlb)
            acc_rows.append(
                {
                    "size": size,
                    "dose": dose,
                    "method": "scipy curve_fit loop",
                    **acc,
                    "time_s": t,
                    "atoms_per_s": k / t,
                    "note": f"subset of {k} atoms, {n_fail} failed fits",
                }
            )
            log(f"  {size} {dose} curve_fit: {t:.2f} s for {k}")
        except Exception as exc:  # noqa: BLE001
            acc_rows.append(
                {
                    "size": size,
                    "dose": dose,
                    "method": "scipy curve_fit loop",
                    "error": f"failed: {exc!r}",
                }
            )
        # atomap: a contiguous patch of atoms around the image centre
        c = 0.5 * (size - 1)
        d = np.hypot(tx[eval_t] - c, ty[eval_t] - c)
        k = min(ATOMAP_SUBSET, len(eval_f))
        patch = np.argsort(d, kind="stable")[:k]
        af, at = eval_f[patch], eval_t[patch]
        try:
            run_atomap(image, fx[af[:5]], fy[af[:5]], RADIUS)  # warm-up
            t0 = time.perf_counter()
            ax, ay = run_atomap(image, fx[af], fy[af], RADIUS)
            t = time.perf_counter() - t0
            acc = accuracy(ax, ay, tx[at], ty[at], crlb)
            acc_rows.append(
                {
                    "size": size,
                    "dose": dose,
                    "method": "atomap 2D Gaussian",
                    **acc,
                    "time_s": t,
                    "atoms_per_s": k / t,
                    "note": f"central patch of {k} atoms, mask_radius={RADIUS:g}",
                }
            )
            log(f"  {size} {dose} atomap: {t:.2f} s for {k}")
        except Exception as exc:  # noqa: BLE001
            msg = str(exc).strip().splitlines()
            acc_rows.append(
                {
                    "size": size,
                    "dose": dose,
                    "method": "atomap 2D Gaussian",
                    "error": f"failed: {type(exc).__name__}: {msg[-1] if msg else ''}",
                }
            )

    # ---- find + refine vs trackpy ----------------------------------------
    vs = {
        "size": size,
        "dose": dose,
        "n_atoms": len(fx),
        "find_s": speed["find sep=20"],
        "refine_joint_s": speed["refine round joint"],
        "refine_indep_s": speed["refine round indep."],
        "find_refine_joint_s": speed["find sep=20"] + speed["refine round joint"],
        "find_refine_indep_s": speed["find sep=20"] + speed["refine round indep."],
        "trackpy_s": speed.get("trackpy"),
    }
    # ---- memory (one dose level per size) --------------------------------
    mem = None
    if peak == DOSES[0][0] and not args.no_memory:
        mem = {"size": size}
        mem["find_tracemalloc_mb"] = tracemalloc_peak_mb(
            lambda: find_atoms(image, separation=SPACING)
        )
        for label, kw in variants.items():
            mem[label + "_tracemalloc_mb"] = tracemalloc_peak_mb(
                lambda kw=kw: refine_gaussians(image, fx, fy, RADIUS, **kw)
            )
        mem["centre_of_mass_tracemalloc_mb"] = tracemalloc_peak_mb(
            lambda: centre_of_mass(image, fx, fy, RADIUS)
        )
        mem["image_mb"] = image.nbytes / 2**20
        mem["rss_delta_mb"] = rss_deltas(image, fx, fy)
        log(f"  {size} memory done")
    return det_rows, acc_rows, vs, mem


# --------------------------------------------------------------------------
# markdown
# --------------------------------------------------------------------------
def _fmt(v, spec):
    if v is None:
        return "n/a"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan"
    return format(v, spec)


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def tables_markdown(det, acc, vs, mem, crlbs):
    out = []
    out.append("### Detection (match radius 3 px, one-to-one)\n")
    rows = []
    for r in det:
        if "error" in r:
            rows.append([r["size"], r["dose"], r["finder"], r["error"]] + [""] * 9)
            continue
        rows.append(
            [
                r["size"],
                r["dose"],
                r["finder"],
                r["n_truth"],
                r["n_found"],
                r["n_ignored_edge"],
                r["n_false_pos"],
                r["n_missed"],
                _fmt(r["recall"], ".4f"),
                _fmt(r["precision"], ".4f"),
                _fmt(r["recall_interior"], ".4f"),
                _fmt(r["time_s"], ".3f"),
                _fmt(r["atoms_per_s"], ",.0f"),
            ]
        )
    out.append(
        md_table(
            [
                "size",
                "peak/bg",
                "finder",
                "truth",
                "found",
                "edge ignored",
                "false pos",
                "missed",
                "recall",
                "precision",
                "recall (>=15 px)",
                "time (s)",
                "atoms/s",
            ],
            rows,
        )
    )
    out.append("\n### Position accuracy (atoms >= 15 px from the edge)\n")
    out.append(
        "CRLB per axis (5 free parameters, Poisson, default window 8 sigma; "
        "ratios below use it): "
        + ", ".join(f"peak/bg {k}: {v:.5f} px" for k, v in crlbs.items())
        + f". Same bound for a {RADIUS:g}-px window: "
        + ", ".join(
            f"{pk:g}/{bg:g}: {cramer_rao_bound(pk, bg, SIGMA, RADIUS):.5f} px"
            for pk, bg in DOSES
        )
        + ".\n"
    )
    rows = []
    for r in acc:
        if "error" in r:
            rows.append([r["size"], r["dose"], r["method"], r["error"]] + [""] * 11)
            continue
        rows.append(
            [
                r["size"],
                r["dose"],
                r["method"],
                r["n"],
                _fmt(r["rms_x"], ".5f"),
                _fmt(r["rms_y"], ".5f"),
                _fmt(r["ratio_x"], ".3f"),
                _fmt(r["ratio_y"], ".3f"),
                _fmt(r["ratio_se"], ".3f"),
                _fmt(r["bias_x"], "+.5f"),
                _fmt(r["bias_y"], "+.5f"),
                _fmt(r["bias_se"], ".5f"),
                _fmt(r["max_err"], ".3f"),
                _fmt(r["atoms_per_s"], ",.0f"),
                r.get("note", ""),
            ]
        )
    out.append(
        md_table(
            [
                "size",
                "peak/bg",
                "method",
                "n",
                "RMS x (px)",
                "RMS y (px)",
                "RMS x/CRLB",
                "RMS y/CRLB",
                "+- (1 s.e.)",
                "bias x (px)",
                "bias y (px)",
                "bias s.e.",
                "max err (px)",
                "atoms/s",
                "note",
            ],
            rows,
        )
    )
    out.append("\n### find + refine vs trackpy.locate on the same image\n")
    rows = []
    for r in vs:
        tp_s = r["trackpy_s"]
        rows.append(
            [
                r["size"],
                r["dose"],
                r["n_atoms"],
                _fmt(r["find_s"], ".3f"),
                _fmt(r["refine_joint_s"], ".4f"),
                _fmt(r["refine_indep_s"], ".4f"),
                _fmt(r["find_refine_joint_s"], ".3f"),
                _fmt(r["find_refine_indep_s"], ".3f"),
                _fmt(tp_s, ".3f"),
                "n/a" if tp_s is None else _fmt(r["find_refine_joint_s"] / tp_s, ".2f"),
                "n/a"
                if tp_s is None
                else ("yes" if r["find_refine_joint_s"] < tp_s else "no"),
            ]
        )
    out.append(
        md_table(
            [
                "size",
                "peak/bg",
                "atoms",
                "find (s)",
                "refine joint (s)",
                "refine indep. (s)",
                "find+joint (s)",
                "find+indep. (s)",
                "trackpy locate (s)",
                "(find+joint)/trackpy",
                "find+joint faster?",
            ],
            rows,
        )
    )
    if mem:
        out.append("\n### Peak memory (peak/bg 200/20), MB\n")
        out.append(
            "tracemalloc: peak of Python/numpy allocations during the call "
            "(numba-internal allocations are not traced). RSS: peak resident "
            "memory during the step minus the resident memory before it, in a "
            "fresh subprocess that holds the image and seeds and has loaded the "
            "compiled code (Linux VmHWM reset via /proc/self/clear_refs; "
            "ru_maxrss is not usable here: after fork/exec it starts at the "
            "parent's RSS).\n"
        )
        rows = []
        for m in mem:
            rss = m["rss_delta_mb"]
            rows.append(
                [
                    m["size"],
                    _fmt(m["image_mb"], ".1f"),
                    _fmt(m["find_tracemalloc_mb"], ".1f"),
                    _fmt(rss.get("find"), ".1f"),
                    _fmt(m["refine round joint_tracemalloc_mb"], ".1f"),
                    _fmt(rss.get("refine_round"), ".1f"),
                    _fmt(m["refine round indep._tracemalloc_mb"], ".1f"),
                    _fmt(rss.get("refine_indep"), ".1f"),
                    _fmt(m["refine elliptical_tracemalloc_mb"], ".1f"),
                    _fmt(rss.get("refine_ellip"), ".1f"),
                    _fmt(m["centre_of_mass_tracemalloc_mb"], ".1f"),
                    _fmt(rss.get("com"), ".1f"),
                ]
            )
        out.append(
            md_table(
                [
                    "size",
                    "image",
                    "find tracemalloc",
                    "find RSS",
                    "joint tracemalloc",
                    "joint RSS",
                    "indep. tracemalloc",
                    "indep. RSS",
                    "ellip. tracemalloc",
                    "ellip. RSS",
                    "CoM tracemalloc",
                    "CoM RSS",
                ],
                rows,
            )
        )
    return "\n".join(out)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    p.add_argument("--quick", action="store_true", help="only sizes 512 and 1024")
    p.add_argument("--repeat", type=int, default=3, help="timing repeats (best)")
    p.add_argument(
        "--repeat-large",
        type=int,
        default=1,
        help="cap on the repeats for sizes above 2048 (keeps the run short)",
    )
    p.add_argument("--out", default="benchmarks/results/find_refine.json")
    p.add_argument(
        "--all-comparisons",
        action="store_true",
        help="run the slow curve_fit / atomap comparisons at every size "
        "(default: sizes <= 1024 only)",
    )
    p.add_argument(
        "--jitter",
        type=float,
        default=0.5,
        help="uniform random sub-pixel displacement amplitude per axis (px); "
        "0 = perfect lattice on half-integer pixel positions",
    )
    p.add_argument("--no-memory", action="store_true", help="skip memory runs")
    p.add_argument(
        "--rss-child", nargs=2, metavar=("STEP", "NPZ"), help=argparse.SUPPRESS
    )
    args = p.parse_args(argv)

    if args.rss_child:
        rss_child(*args.rss_child)
        return 0

    sizes = [512, 1024] if args.quick else args.sizes
    info = machine_info()
    print("## Machine\n")
    print(
        f"processor: {info['processor']} ({info['cpu_model']}), "
        f"os.cpu_count(): {info['cpu_count']}, numba threads: "
        f"{info['numba_threads']}, memory: {info['memory_gib']} GiB, "
        f"load average at start: {info['loadavg_at_start']}"
    )
    print(
        f"platform: {info['platform']}, Python {info['python']}, "
        f"git: {info['git']}, date: {info['date']}"
    )
    print(
        "versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + "\n"
    )
    print(
        f"sizes {sizes}, repeat {args.repeat} (sizes > 2048: "
        f"{min(args.repeat, args.repeat_large)}), jitter {args.jitter} px, "
        f"spacing {SPACING:g} px, sigma {SIGMA} px, refine radius {RADIUS:g} px\n",
        flush=True,
    )

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    det, acc, vs, mem = [], [], [], []
    for size in sizes:
        comparisons = args.all_comparisons or size <= 1024
        for peak, bg in DOSES:
            d, a, v, m = bench_one(size, peak, bg, args, comparisons, log)
            det += d
            acc += a
            vs.append(v)
            if m is not None:
                mem.append(m)
    total = time.perf_counter() - t_start
    crlbs = {f"{pk:g}/{bg:g}": cramer_rao_bound(pk, bg, SIGMA) for pk, bg in DOSES}
    md = tables_markdown(det, acc, vs, mem, crlbs)
    print(md)
    print(f"\nTotal benchmark time: {total:.0f} s")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": info,
        "args": vars(args) | {"sizes": sizes},
        "settings": {
            "spacing": SPACING,
            "sigma": SIGMA,
            "radius": RADIUS,
            "match_dist": MATCH_DIST,
            "edge_ignore": EDGE_IGNORE,
            "eval_margin": EVAL_MARGIN,
            "trackpy_diameter": TRACKPY_DIAMETER,
            "crlb": crlbs,
        },
        "detection": det,
        "accuracy": acc,
        "find_refine_vs_trackpy": vs,
        "memory": mem,
        "total_time_s": total,
        "markdown": md,
    }
    out.write_text(json.dumps(_jsonable(payload), indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
