"""Se-implanted monolayer MoS2: sublattices, dopants and vacancies.

HAADF-STEM survey image (60 kV, 1024 x 1024 px, 0.0127 nm/px; TEMUL example
data) of a MoS2 monolayer with implanted Se, point defects, a hole and
contamination. Local crystallography (Belianinov et al., Nat. Commun. 6,
7801 (2015)) applied to a 2D material:

* every Mo and S2 column is found (LoG finder, Mo-S separation 0.17 nm);
* the 3-neighbour neighbourhoods (the first shell of a honeycomb) tell the
  two sublattices apart by geometry alone -- Mo sees its three S2 in one
  triangle, S2 its three Mo in the opposite one -- and a third, small
  cluster collects the atoms whose neighbourhood fits neither (defects);
* a chalcogen site (by geometry) that is as bright as Mo is a Se dopant
  candidate (Se, Z = 34, in place of S, Z = 16);
* in radius mode an atom with fewer than three neighbours within 1.25
  Mo-S distances sits next to a vacancy (or an edge of the hole).

Figures (``examples/output/mos2_defects/`` by default): 1 atoms, 2 dendrogram,
3 cluster map, 4 per-cluster neighbour-vector histograms, 5 defect map.

Run: ``python examples/mos2_defects.py [--data-dir DIR] [--out DIR]``. Uses
the full 1024 x 1024 ``.dm3`` when present, else the 384 x 384 crop in
``tests/data``.
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

from hyperspy_localcryst.plotting import categorical_colormap, class_colours

NAME = "mos2_defects"
FULL = "MoS2_Se-implanted_monolayer_HAADF_60kV.dm3"
CROP = "MoS2_Se-implanted_monolayer_crop384.hspy"
MO_S = 0.17  # Mo-S projected distance in this file's calibration, nm


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


def zoom(ax, centre, half):
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] + half, centre[1] - half)


def busiest(x, y, radius):
    """Position with the most of the given points within ``radius``."""
    xy = np.column_stack([x, y])
    n = [len(i) for i in cKDTree(xy).query_ball_point(xy, radius)]
    j = int(np.argmax(n))
    return float(x[j]), float(y[j])


def merge_points(xy, tol):
    """Groups of points closer than ``tol``: their means and sizes."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    pairs = np.array(sorted(cKDTree(xy).query_pairs(tol)), dtype=int).reshape(-1, 2)
    n = len(xy)
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, lab = connected_components(g, directed=False)
    size = np.bincount(lab)
    mean = np.column_stack(
        [np.bincount(lab, xy[:, 0]) / size, np.bincount(lab, xy[:, 1]) / size]
    )
    return mean, size


def main():
    args = parse_args(__doc__.splitlines()[0], n_clusters=True)
    path = find_file(args.data_dirs, FULL, CROP)
    quiet()
    t = Timer()
    out = args.out

    raw = hs.load(path)
    raw.set_signal_type("atomic_image")
    # The raw counts sit on a large, uneven offset (~3e6); removing the smooth
    # background makes the `peak` of each column a usable brightness.
    img = raw.remove_background()
    atoms = img.find_atoms(separation=MO_S, method="log", n_sublattices=2)
    grid = atoms.grid
    shown = img.denoise(sigma=0.025).data  # for display only
    x, y = atoms.get_column("x"), atoms.get_column("y")
    bright = atoms.get_column("sublattice") == 0
    ny, nx = img.data.shape
    t(
        f"{path.name}: {nx} x {ny} px, {atoms.n_atoms} columns "
        f"({int(bright.sum())} bright, {int((~bright).sum())} faint)"
    )
    # No refine_atoms here: on this honeycomb of faint S2 columns the joint
    # Gaussian fit does not converge for ~40 % of the columns (see the
    # README); the LoG centroids are good enough for neighbourhoods.

    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    mid = (float(np.median(x)), float(np.median(y)))
    for ax, half in zip(axes, (None, 0.9)):
        show_image(ax, shown, grid)
        for m, c, name in ((bright, "tab:orange", "bright"), (~bright, "c", "faint")):
            ax.scatter(x[m], y[m], s=1.5 if half is None else 22, c=c, label=name)
        if half:
            zoom(ax, mid, half)
    axes[0].set_title(
        f"{atoms.n_atoms} columns, labelled by brightness (LoG finder)", fontsize=10
    )
    axes[1].legend(loc="upper right", fontsize=8, framealpha=0.85)
    axes[1].set_title("zoom", fontsize=10)
    fig.tight_layout()
    save(fig, out, "1_atoms.png")

    # ------------------------------------------------------- neighbourhoods
    nb = atoms.get_neighbourhoods(n_neighbours=3, metric="distance")
    t(f"neighbourhoods: {nb.axes_manager.navigation_size} centre atoms, k = 3")
    K, h = k_from_dendrogram(nb, 2, 6)
    print("  highest dendrogram merges:", np.round(h, 2), f"-> K = {K}")
    if args.n_clusters:
        K = args.n_clusters
    fig, ax = plt.subplots(figsize=(9, 4))
    nb.plot_dendrogram(n_clusters=K, ax=ax)
    ax.set_title(f"Ward dendrogram of the 3-neighbour neighbourhoods: cut at K = {K}")
    save(fig, out, "2_dendrogram.png")

    nb.cluster_analysis(n_clusters=K)
    labels = nb.get_cluster_labels(merged=True).data.astype(int)
    sizes = np.bincount(labels, minlength=K)
    centres = nb.get_centres()
    cx, cy = centres.get_column("x"), centres.get_column("y")
    cbright = centres.get_column("sublattice") == 0
    t(f"k-means, K = {K}: sizes {sizes.tolist()}")
    # name the clusters: the two largest are the sublattices, the one with
    # mostly bright atoms is Mo
    order = np.argsort(sizes)[::-1]
    frac = np.array([cbright[labels == i].mean() for i in range(K)])
    mo_c = order[0] if frac[order[0]] > frac[order[1]] else order[1]
    s_c = order[1] if mo_c == order[0] else order[0]
    names = {int(mo_c): "Mo sites", int(s_c): "S2 sites"}
    for i in range(K):
        n_b = int(np.sum(cbright[labels == i]))
        what = names.get(i, "unusual neighbourhood")
        print(f"  cluster {i}: {sizes[i]} centres, {n_b} bright -> {what}")

    # -------------------------------------------------------------- defects
    # First shell complete: 3 neighbours within 1.25 Mo-S distances (radius
    # mode; neighbour_count is NaN for atoms that are not centres).
    r_shell = 1.25 * MO_S
    nbr = atoms.get_neighbourhoods(n_neighbours=None, radius=r_shell)
    count = nbr.atoms.get_column("neighbour_count")
    vals, cnts = np.unique(count[np.isfinite(count)], return_counts=True)
    print(
        "  radius mode neighbour counts:",
        dict(zip(vals.astype(int).tolist(), cnts.tolist())),
    )
    # In a honeycomb the three first-shell vectors sum to zero, so an atom
    # with two of them points at its missing neighbour: -(v1 + v2). Where two
    # or more such atoms point at the same spot, that lattice site is empty.
    v = nbr.get_vectors()
    two = np.isfinite(v[:, :2]).all(axis=(1, 2)) & ~np.isfinite(v[:, 2:]).any(
        axis=(1, 2)
    )
    rc = nbr.get_centres()
    guess = np.column_stack([rc.get_column("x"), rc.get_column("y")])[two]
    guess -= v[two, :2].sum(axis=1)
    sites, votes = merge_points(guess, 0.35 * MO_S)
    vac_sites = sites[votes >= 2]
    print(
        f"  {int(two.sum())} atoms short of exactly one neighbour -> "
        f"{len(vac_sites)} vacancy sites seen by >= 2 neighbours"
    )

    # Se dopants: chalcogen sites (by geometry) with a complete shell, split
    # into two brightness classes; the brighter one is Se-substituted.
    idx = centres.get_column("atom").astype(int)
    is_s = (labels == s_c) & (count[idx] == 3)
    chalc = centres.select(is_s).label_sublattices(2, column="peak")
    se = chalc.get_column("sublattice") == 0
    pk = chalc.get_column("peak")
    mo_peak = np.median(centres.get_column("peak")[labels == mo_c])
    print(
        f"  Se candidates: {int(se.sum())} of {chalc.n_atoms} complete S2 sites, "
        f"brightness {np.median(pk[se]) / mo_peak:.2f} of Mo "
        f"(other S2: {np.median(pk[~se]) / mo_peak:.2f})"
    )
    t(f"{int(se.sum())} Se candidates, {len(vac_sites)} vacancy sites")
    sx, sy = chalc.get_column("x")[se], chalc.get_column("y")[se]
    # zoom on the busiest 1.6 nm of point defects (figures 3 and 5)
    zc = busiest(np.r_[sx, vac_sites[:, 0]], np.r_[sy, vac_sites[:, 1]], 0.8)

    # -------------------------------------------------------------- figures

    colours = class_colours(K)
    cm, norm = categorical_colormap(K)
    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    show_image(axes[0], shown, grid, title=f"Cluster map (k-means, K = {K})")
    overlay(axes[0], nb.get_cluster_map(), cmap=cm, norm=norm, alpha=0.45)
    cluster_legend(
        axes[0],
        sizes,
        loc="upper right",
        framealpha=0.85,
        title="cluster: centres",
    )
    show_image(axes[1], shown, grid, title="zoom: centre atoms by cluster")
    for i in range(K):
        m = labels == i
        axes[1].scatter(
            cx[m],
            cy[m],
            s=22,
            color=colours[i],
            label=f"{i}: {names.get(i, 'unusual')}",
        )
    axes[1].legend(loc="upper right", fontsize=8, framealpha=0.85)
    zoom(axes[1], zc, 1.3)
    fig.tight_layout()
    save(fig, out, "3_cluster_map.png")

    hist = nb.get_vector_histogram(bins=81, by_cluster=True)
    a0, a1 = hist.axes_manager.signal_axes
    ex = (
        a0.offset - a0.scale / 2,
        a0.offset + (a0.size - 0.5) * a0.scale,
        a1.offset + (a1.size - 0.5) * a1.scale,
        a1.offset - a1.scale / 2,
    )
    fig, axes = plt.subplots(1, K, figsize=(3.2 * K, 3.4), squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(np.sqrt(hist.data[i]), extent=ex, cmap="magma")
        ax.plot(0, 0, "+", color=colours[i], ms=10, mew=2)
        ax.set_title(f"{i}: {names.get(i, 'unusual')} ({sizes[i]})", fontsize=9)
        ax.set_xlabel(f"dx ({a0.units})")
    axes[0][0].set_ylabel(f"dy ({a1.units})")
    fig.suptitle("2D histograms of the 3 neighbour vectors per cluster", fontsize=10)
    fig.tight_layout()
    save(fig, out, "4_cluster_vector_histograms.png")

    fig, axes = plt.subplots(1, 2, figsize=(12, 6.2))
    for ax, half in zip(axes, (None, 1.3)):
        show_image(ax, shown, grid)
        big = half is None
        ax.scatter(
            sx,
            sy,
            s=14 if big else 90,
            facecolors="none",
            edgecolors="yellow",
            lw=1.0 if big else 1.6,
            label=f"bright S2 site: Se candidate ({int(se.sum())})",
        )
        ax.scatter(
            vac_sites[:, 0],
            vac_sites[:, 1],
            s=14 if big else 90,
            marker="s",
            facecolors="none",
            edgecolors="red",
            lw=1.0 if big else 1.6,
            label=f"empty site: vacancy ({len(vac_sites)})",
        )
        if not big:
            m = labels != mo_c
            m &= labels != s_c
            ax.scatter(
                cx[m],
                cy[m],
                s=150,
                facecolors="none",
                edgecolors="lime",
                lw=1.0,
                ls="--",
                label="unusual-neighbourhood cluster",
            )
            zoom(ax, zc, half)
    axes[0].set_title("Se candidates and vacancies", fontsize=10)
    axes[1].set_title("zoom", fontsize=10)
    axes[1].legend(loc="lower left", fontsize=7, framealpha=0.85)
    fig.tight_layout()
    save(fig, out, "5_defects.png")
    print(f"done in {t.total():.1f} s")


if __name__ == "__main__":
    main()
