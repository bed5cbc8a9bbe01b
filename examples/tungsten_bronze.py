"""Tetragonal tungsten bronze Ba5SmSn3Nb7O30: many site classes.

The closest redistributable analogue of the M1/M2 Mo-V-Te-Ta oxide catalyst
of Belianinov et al., Nat. Commun. 6, 7801 (2015): a complex oxide with
several cation and oxygen sublattices and pentagonal channels, seen along
[110] in an integrated-DPC (iDPC) image from 4D-STEM (SingleOrigin example
data, 1368 x 1364 px). The file has no calibration; the pixel size is the one
of the SingleOrigin notebook, 0.0659 A/px.

Figures (``examples/output/tungsten_bronze/`` by default):

1. the image and every column found;
2. the Ward dendrogram of the 6-neighbour neighbourhoods with the cut at K
   (the largest gap between merge heights for K = 4..8);
3. the cluster map on the whole image, and a zoom with the centre atoms of
   each cluster;
4. per cluster, the 2D histogram of its neighbour vectors;
5. per cluster, the power spectrum (FFT) of its positions: sharp spots for
   a periodic site class, a diffuse background for a disordered one.

Run: ``python examples/tungsten_bronze.py [--data-dir DIR] [--out DIR]
[--n-clusters K]``
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

from hyperspy_localcryst.plotting import categorical_colormap, class_colours

NAME = "tungsten_bronze"
FILE = "Ba5SmSn3Nb7O30_TTB_110_iDPC.tif"
PIXEL_NM = 0.013184941 / 2  # SingleOrigin notebook: 0.013184941*10/2 A


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


def overlay(ax, signal, alpha=0.55, **kwargs):
    """A map on the image grid (e.g. ``nb.get_cluster_map()``) over an image."""
    grid = {
        k: {"offset": a.offset, "scale": a.scale, "size": a.size}
        for k, a in zip("xy", signal.axes_manager.signal_axes)
    }
    return ax.imshow(
        np.asarray(signal.data, float),
        extent=extent(grid),
        alpha=alpha,
        interpolation="nearest",
        **kwargs,
    )


def cluster_legend(ax, sizes, **kwargs):
    """Legend 'cluster: atoms' with the cluster colours."""
    from matplotlib.patches import Patch

    handles = [
        Patch(color=c, label=f"{i}: {n}")
        for i, (c, n) in enumerate(zip(class_colours(len(sizes)), sizes))
    ]
    kwargs.setdefault("fontsize", 8)
    kwargs.setdefault("title", "cluster: atoms")
    kwargs.setdefault("title_fontsize", 8)
    ax.legend(handles=handles, **kwargs)


def top_merges(nb, n=8, **kwargs):
    """Heights of the last ``n`` merges of the dendrogram, highest first."""
    Z, _ = nb.get_linkage(**kwargs)
    return np.sort(Z[:, 2])[::-1][:n]


def k_from_dendrogram(nb, k_min=2, k_max=8, **kwargs):
    """K whose dendrogram cut sits in the largest gap between merge heights
    (cutting below the (K-1)-th highest merge gives K clusters). Returns
    (K, heights of the top merges)."""
    h = top_merges(nb, k_max + 1, **kwargs)
    ks = np.arange(k_min, k_max + 1)
    gaps = h[ks - 2] - h[ks - 1]
    return int(ks[np.argmax(gaps)]), h


def save(fig, out, name):
    """Save a figure as PNG in ``out`` and close it."""
    path = Path(out) / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"  wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return path


def load(path):
    img = hs.load(path)
    for ax, name in zip(img.axes_manager.signal_axes, "xy"):
        ax.name, ax.scale, ax.units, ax.offset = name, PIXEL_NM, "nm", 0.0
    img.metadata.General.title = "Ba5SmSn3Nb7O30 [110] iDPC"
    img.set_signal_type("atomic_image")
    return img


def zoom(ax, centre, half):
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] + half, centre[1] - half)


def main():
    args = parse_args(__doc__.splitlines()[0], n_clusters=True)
    path = find_file(args.data_dirs, FILE)
    quiet()
    t = Timer()
    out = args.out

    img = load(path)
    # The automatic separation (0.18 nm) is the typical cation distance; the
    # fainter oxygen and mixed columns sit closer, so give the smallest
    # distance explicitly and use the Laplacian-of-Gaussian finder, which
    # keeps faint columns next to bright ones.
    atoms = img.find_atoms(method="log", separation=0.12)
    atoms = img.refine_atoms(atoms)
    grid = atoms.grid
    conv = np.mean(atoms.get_column("converged") == 1)
    t(f"{atoms.n_atoms} columns found and refined ({conv:.1%} converged)")
    x, y = atoms.get_column("x"), atoms.get_column("y")
    mid = (float(np.median(x)), float(np.median(y)))

    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    for ax, half in zip(axes, (None, 1.2)):
        show_image(ax, img.data, grid)
        ax.scatter(x, y, s=3 if half is None else 14, c="r")
        if half:
            zoom(ax, mid, half)
    axes[0].set_title(f"{atoms.n_atoms} columns (LoG finder, refined)", fontsize=10)
    axes[1].set_title("zoom", fontsize=10)
    fig.tight_layout()
    save(fig, out, "1_atoms.png")

    # ------------------------------------------------------- neighbourhoods
    nb = atoms.get_neighbourhoods(n_neighbours=6, metric="distance")
    n_c = nb.axes_manager.navigation_size
    t(f"neighbourhoods: {n_c} centre atoms, k = 6")
    K, h = k_from_dendrogram(nb, 4, 8)
    print("  highest dendrogram merges:", np.round(h, 2), f"-> K = {K}")
    if args.n_clusters:
        K = args.n_clusters

    fig, ax = plt.subplots(figsize=(9, 4))
    nb.plot_dendrogram(n_clusters=K, ax=ax)
    ax.set_title(
        f"Ward dendrogram of the 6-neighbour neighbourhoods: cut at K = {K}",
        fontsize=10,
    )
    save(fig, out, "2_dendrogram.png")

    nb.cluster_analysis(n_clusters=K)
    labels = nb.get_cluster_labels(merged=True).data.astype(int)
    sizes = np.bincount(labels, minlength=K)
    t(f"k-means, K = {K}: sizes {sizes.tolist()}")

    cm, norm = categorical_colormap(K)
    colours = class_colours(K)
    centres = nb.get_centres()
    cx, cy = centres.get_column("x"), centres.get_column("y")
    fig = plt.figure(figsize=(13, 6.5))
    ax = fig.add_subplot(1, 2, 1)
    show_image(ax, img.data, grid, title=f"Cluster map (k-means, K = {K})")
    overlay(ax, nb.get_cluster_map(), cmap=cm, norm=norm, alpha=0.5)
    cluster_legend(ax, sizes, loc="upper right", framealpha=0.85)
    ax = fig.add_subplot(1, 2, 2)
    show_image(ax, img.data, grid, title="zoom: centre atoms by cluster")
    for i in range(K):
        m = labels == i
        ax.scatter(cx[m], cy[m], s=28, color=colours[i], edgecolors="k", lw=0.4)
    zoom(ax, mid, 1.2)
    fig.tight_layout()
    save(fig, out, "3_cluster_map.png")

    hist = nb.get_vector_histogram(bins=121, by_cluster=True)
    a0, a1 = hist.axes_manager.signal_axes
    ex = (
        a0.offset - a0.scale / 2,
        a0.offset + (a0.size - 0.5) * a0.scale,
        a1.offset + (a1.size - 0.5) * a1.scale,
        a1.offset - a1.scale / 2,
    )
    ncol = min(K, 4)
    nrow = -(-K // ncol)
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(3.2 * ncol, 3.3 * nrow), squeeze=False
    )
    for i, ax in enumerate(axes.ravel()):
        if i >= K:
            ax.axis("off")
            continue
        ax.imshow(np.sqrt(hist.data[i]), extent=ex, cmap="magma")
        ax.plot(0, 0, "+", color=colours[i], ms=10, mew=2)
        ax.set_title(f"cluster {i} ({sizes[i]} centres)", fontsize=9)
        ax.set_xlabel(f"dx ({a0.units})")
        ax.set_ylabel(f"dy ({a1.units})")
    fig.suptitle(
        "2D histogram of the 6 neighbour vectors of each cluster (sqrt counts)",
        fontsize=10,
    )
    fig.tight_layout()
    save(fig, out, "4_cluster_vector_histograms.png")

    fft = nb.get_cluster_fft()
    per = fft.metadata.Signal.periodicity
    a0, a1 = fft.axes_manager.signal_axes
    ex = (
        a0.offset,
        a0.offset + a0.size * a0.scale,
        a1.offset + a1.size * a1.scale,
        a1.offset,
    )
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(3.2 * ncol, 3.3 * nrow), squeeze=False
    )
    for i, ax in enumerate(axes.ravel()):
        if i >= K:
            ax.axis("off")
            continue
        p = np.log10(fft.data[i] + 1e-9 * fft.data[i].max())
        ax.imshow(p, extent=ex, cmap="inferno", vmin=np.percentile(p, 50))
        ax.set_xlim(-8, 8)
        ax.set_ylim(8, -8)
        ax.set_title(
            f"cluster {i} ({sizes[i]} centres)\npeak/median power {per[i]:.0f}",
            fontsize=9,
        )
        ax.set_xlabel(f"kx ({a0.units})")
    fig.suptitle("Power spectrum of each cluster's positions (log)", fontsize=10)
    fig.tight_layout()
    save(fig, out, "5_cluster_fft.png")
    print("  periodicity (peak/median power):", np.round(per, 0).tolist())
    print(f"done in {t.total():.1f} s")


if __name__ == "__main__":
    main()
