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

import hyperspy.api as hs
import numpy as np
from _common import (
    Timer,
    cluster_cmap,
    cluster_colours,
    cluster_legend,
    find_file,
    k_from_dendrogram,
    overlay,
    parse_args,
    plt,
    quiet,
    save,
    show_image,
)

NAME = "tungsten_bronze"
FILE = "Ba5SmSn3Nb7O30_TTB_110_iDPC.tif"
PIXEL_NM = 0.013184941 / 2  # SingleOrigin notebook: 0.013184941*10/2 A


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
    args = parse_args(NAME, __doc__.splitlines()[0], n_clusters=True)
    path = find_file(args.data_dir, FILE)
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

    cm, norm = cluster_cmap(K)
    colours = cluster_colours(K)
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
