"""A 5-frame series of a nanoparticle: per-frame atoms, tracks, drift, sum.

StatSTEM's hidden-Markov-model example (``example_HMM_input.mat``, GPL-3.0):
five 361 x 361 px frames (0.125 Å/px) of a round particle, with StatSTEM's own
reference column positions per frame. The frames are found and refined as one
stack (HyperSpy ``map``, one table for all frames), the columns are linked
from frame to frame, the drift is measured from the tracks and by
cross-correlation, the frames are summed after alignment, and the atoms in
each column are counted over the series by a hidden Markov model.

Figures (``examples/output/statstem_timeseries/`` by default):

1. frame 0 with the refined columns and StatSTEM's reference positions;
2. the trajectories of every column over the five frames (displacements
   exaggerated 20 times) and the drift per frame by both methods;
3. per frame: number of columns and mean integrated intensity, and our
   integrated intensity against StatSTEM's scattering cross-sections;
4. the aligned mean of the five frames;
5. the counting criterion (ICL of the HMM against the number of counts) and
   the cross-sections with each count's component;
6. frame 0 with the number of atoms of each column.

Run: ``python examples/statstem_timeseries.py [--data-dir DIR] [--out DIR]``
"""

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

import hyperspy.api as hs
import matplotlib.pyplot as plt
import numpy as np
from scipy.spatial import cKDTree

from hyperspy_localcryst.numerics.counting import count_atoms_series
from hyperspy_localcryst.signals.atomic_image import AtomicImage

NAME = "statstem_timeseries"
FILE = "statstem_HMM_example_timeseries.npz"


# where this script lives (the working folder in a notebook)
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
# data: ../shared/data/real next to the repository, then tests/data
DATA_DIRS = [
    HERE.parent.parent / "shared" / "data" / "real",
    HERE.parent / "tests" / "data",
]


def parse_args(description, n_clusters=False):
    """``--data-dir DIR`` (repeatable), ``--out DIR`` (and ``--n-clusters``);
    unknown arguments (a notebook kernel's) are ignored."""
    p = argparse.ArgumentParser(prog=f"{NAME}.py", description=description)
    p.add_argument("--data-dir", type=Path, action="append", help="data folder")
    p.add_argument("--out", type=Path, default=HERE / "output" / NAME)
    if n_clusters:
        p.add_argument("--n-clusters", type=int, default=None)
    args = p.parse_known_args()[0]
    args.data_dirs = args.data_dir or DATA_DIRS
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def find_file(data_dirs, *names):
    """The first of ``names`` found in ``data_dirs``; else say where to get
    it and exit with status 0 (a run without the optional data is no error)."""
    for folder in data_dirs:
        for n in names:
            if (Path(folder) / n).is_file():
                return Path(folder) / n
    print(f"{names[0]} not found in {data_dirs}: see shared/data/real/README.md")
    sys.exit(0)


def quiet():
    """Silence HyperSpy's and the fits' warnings and progress bars."""
    warnings.simplefilter("ignore")
    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    hs.preferences.General.show_progressbar = False


class Timer:
    """Prints the time of each step, and the total at the end."""

    def __init__(self):
        self.t0 = self.t = time.perf_counter()

    def __call__(self, what):
        now = time.perf_counter()
        print(f"  [{now - self.t:6.2f} s] {what}")
        self.t = now

    def total(self):
        return time.perf_counter() - self.t0


def extent(grid):
    """imshow extent (left, right, bottom, top) of an image grid, calibrated."""
    gx, gy = grid["x"], grid["y"]
    x0 = gx["offset"] - 0.5 * gx["scale"]
    y0 = gy["offset"] - 0.5 * gy["scale"]
    return (x0, x0 + gx["size"] * gx["scale"], y0 + gy["size"] * gy["scale"], y0)


def show_image(ax, data, grid, title=None, **kwargs):
    """The image in grey on calibrated axes (``atoms.grid``), percentile contrast."""
    data = np.asarray(data, float)
    lo, hi = np.nanpercentile(data, (0.5, 99.5))
    kwargs.setdefault("cmap", "gray")
    im = ax.imshow(data, extent=extent(grid), vmin=lo, vmax=hi, **kwargs)
    u = grid["x"]["units"]
    ax.set_xlabel(f"x ({u})")
    ax.set_ylabel(f"y ({u})")
    if title:
        ax.set_title(title, fontsize=10)
    return im


def grid_of(image):
    """The grid (``atoms.grid``'s form) of a HyperSpy image's two axes."""
    axes = image.axes_manager.signal_axes
    keys = ("size", "scale", "offset", "units", "name")
    return {k: {f: getattr(a, f) for f in keys} for k, a in zip("xy", axes)}


def save(fig, out, name):
    """Save a figure as PNG in ``out`` and close it."""
    path = Path(out) / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"  wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return path


def load(path):
    """The series as an AtomicImage stack in Å, and StatSTEM's reference."""
    d = np.load(path)
    s = AtomicImage(np.asarray(d["frames"], dtype=np.float64))
    dx = float(d["dx_A"])
    for ax in s.axes_manager.signal_axes:
        # StatSTEM (MATLAB, 1-based): the centre of pixel c is at (c + 1) dx
        ax.scale, ax.offset, ax.units = dx, dx, "Å"
    t = s.axes_manager.navigation_axes[0]
    t.name, t.units = "frame", ""
    s.metadata.General.title = "StatSTEM HMM example series"
    return s, d["coordinates_A"], d["scattering_cross_sections"]


def main():
    args = parse_args(__doc__.splitlines()[0])
    quiet()
    timer = Timer()
    s, ref, cross = load(find_file(args.data_dirs, FILE))
    n = s.axes_manager.navigation_size
    timer(f"loaded {n} frames of {s.axes_manager.signal_shape} px")

    # low dose (a few counts per column): many true columns stand only 2-5
    # sigma above the noise, below the default significance threshold, which
    # guards an unknown image against invented atoms; here the particle is
    # known, so every local maximum is kept
    atoms = s.find_atoms(method="local_max", separation=2.0, min_significance=None)
    refined = s.refine_atoms(atoms).link_frames()
    timer(f"found and refined {refined.n_atoms} columns in {n} frames, linked")

    counts = refined.get_frame_statistics("x", "count").data[:, 0]
    print("  columns per frame:", counts.astype(int).tolist(), "(StatSTEM: 117 each)")
    x, y, f = (refined.get_column(c) for c in ("x", "y", "frame"))
    dist, match = [], []
    for k in range(n):
        d, j = cKDTree(ref[k, :, :2]).query(np.column_stack([x[f == k], y[f == k]]))
        dist.append(d)
        match.append(j)
    dist = np.concatenate(dist)
    print(
        f"  distance to StatSTEM's positions: median {np.median(dist):.3f} Å, "
        f"{np.mean(dist < 0.5):.1%} within 0.5 Å"
    )
    n_tracks = int(refined.get_column("track").max()) + 1
    print(f"  {n_tracks} tracks for {int(counts.max())} columns per frame")

    drift_atoms = refined.estimate_drift()
    drift_xcorr = s.estimate_drift()
    print("  drift (Å), atoms:", np.round(drift_atoms.data[:, :2], 3).tolist())
    print("  drift (Å), xcorr:", np.round(drift_xcorr.data[:, :2], 3).tolist())
    mean = s.sum_frames(drift=drift_atoms)
    timer("drift measured, frames summed")

    grid = refined.grid
    fig, ax = plt.subplots(figsize=(6, 6))
    show_image(ax, s.data[0], grid, "Frame 0: refined columns (red), StatSTEM (+)")
    sel = f == 0
    ax.plot(x[sel], y[sel], "o", mfc="none", mec="red", ms=7)
    ax.plot(ref[0, :, 0], ref[0, :, 1], "+", color="cyan", ms=6)
    save(fig, args.out, "1_frame0_atoms.png")

    traj = refined.get_trajectories().data  # (track, frame, xy)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 5))
    show_image(a1, mean.data, grid_of(mean), "Trajectories (displacement × 20)")
    start = traj[:, 0, :]
    for tr in traj:
        ok = np.isfinite(tr[:, 0])
        if ok.sum() > 1:
            p = tr[ok]
            a1.plot(
                p[0, 0] + 20 * (p[:, 0] - p[0, 0]),
                p[0, 1] + 20 * (p[:, 1] - p[0, 1]),
                "-",
                color="yellow",
                lw=0.8,
            )
    a1.plot(start[:, 0], start[:, 1], ".", color="red", ms=3)
    frames = np.arange(n)
    for d, lab, m in (
        (drift_atoms, "tracked atoms", "o-"),
        (drift_xcorr, "xcorr", "s--"),
    ):
        a2.plot(frames, d.data[:, 0], m, label=f"dx, {lab}")
        a2.plot(frames, d.data[:, 1], m, label=f"dy, {lab}")
    a2.set_xlabel("frame")
    a2.set_ylabel("drift relative to frame 0 (Å)")
    a2.legend(fontsize=8)
    save(fig, args.out, "2_trajectories_drift.png")

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    inten = refined.get_frame_statistics("intensity", "mean").data[:, 0]
    a1.plot(frames, counts, "o-", label="columns found")
    a1.set_xlabel("frame")
    a1.set_ylabel("columns")
    a1b = a1.twinx()
    a1b.plot(frames, inten, "s--", color="C1", label="mean intensity")
    a1b.set_ylabel("mean integrated intensity (a.u.)")
    a1.set_title("Per frame (signals on the stack's frame axis)", fontsize=10)
    ours = refined.get_column("intensity")
    theirs = np.concatenate([cross[k][match[k]] for k in range(n)])
    ok = np.isfinite(ours) & (dist < 0.5)
    r = np.corrcoef(ours[ok], theirs[ok])[0, 1]
    a2.plot(theirs[ok], ours[ok], ".", ms=3)
    a2.set_xlabel("StatSTEM scattering cross-section")
    a2.set_ylabel("our integrated intensity")
    a2.set_title(f"Per column, all frames: r = {r:.3f}", fontsize=10)
    print(f"  intensity vs StatSTEM cross-section: r = {r:.3f}")
    save(fig, args.out, "3_per_frame.png")

    fig, ax = plt.subplots(figsize=(6, 6))
    show_image(ax, mean.data, grid_of(mean), f"Aligned mean of {n} frames")
    save(fig, args.out, "4_aligned_mean.png")

    # atom counting over the series: the columns linked over the frames are
    # counted by a hidden Markov model (StatSTEM's method for series); the
    # same model on StatSTEM's own cross-sections gives the counts to compare
    # the cross-sections: each column's Voronoi cell summed (the fitted
    # Gaussians' integrals trade amplitude against width at this dose)
    counted = s.integrate_columns(refined).count_atoms()  # HMM on the tracks
    md = counted.metadata.AtomPositions.counting
    theirs_hmm = count_atoms_series(cross)
    cs = counted.get_column("cross_section")
    r_cs = np.corrcoef(cs[ok], theirs[ok])[0, 1]
    print(f"  Voronoi cross-section vs StatSTEM cross-section: r = {r_cs:.3f}")
    ours_n = counted.get_column("atom_count")
    theirs_n = np.concatenate([theirs_hmm["counts"][k][match[k]] for k in range(n)])
    same = np.mean(ours_n[ok] == theirs_n[ok])
    print(
        f"  counts ({md.method}): {md.n_components} states from "
        f"{md.offset} atoms; on StatSTEM's cross-sections "
        f"{theirs_hmm['n_components']} states from {theirs_hmm['offset']}; the "
        f"same count for {same:.1%} of the matched columns, within one for "
        f"{np.mean(np.abs(ours_n[ok] - theirs_n[ok]) <= 1):.1%}"
    )
    fig = counted.plot_count_criterion()
    save(fig, args.out, "5_count_criterion.png")
    fig, ax = plt.subplots(figsize=(6, 6))
    show_image(ax, s.data[0], grid, "Frame 0: atoms per column (HMM over frames)")
    sel = (f == 0) & (ours_n >= 0)
    sc = ax.scatter(x[sel], y[sel], c=ours_n[sel], s=18, cmap="viridis")
    fig.colorbar(sc, ax=ax, label="atoms")
    save(fig, args.out, "6_counts_frame0.png")
    hs.preferences.General.show_progressbar = True
    print(f"done in {timer.total():.1f} s; figures in {args.out}")


if __name__ == "__main__":
    main()
