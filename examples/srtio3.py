"""SrTiO3 [001]: neighbour-vector histograms, pair correlation, two sublattices.

A HAADF-STEM image of single-crystal SrTiO3 (FEI Titan Cubed, 80 kV, 1024 x
1024 px, 0.01 nm/px; openNCEM example data). Both the bright Sr and the
fainter Ti-O columns are found, on a centred square pattern (Sr-Ti(O) =
a / sqrt(2) = 0.276 nm).

Figures (``examples/output/srtio3/`` by default):

1. the image with the columns, labelled Sr / Ti-O by their fitted amplitude
   (two-component Gaussian mixture);
2. the 2D histograms of all neighbour vectors for 6 neighbours and for 50
   neighbours (the latter is the 2D pair correlation function);
3. the Ward dendrogram of the 8-neighbour neighbourhoods (a closed shell of
   a square pattern: 4 + 4), cut at the largest gap;
4. the k-means cluster map, compared with the intensity labels;
5. the scree plot, the first PCA modes (centred) as arrows on the mean
   neighbourhood, and the amplitude map of mode 0 in pm;
6. the scan distortion of each sublattice (the cubic cell is square): the
   columns as scanned and corrected, and the drift velocity from the file's
   line time; the corrected columns are written as extended XYZ and CIF.

Run: ``python examples/srtio3.py [--data-dir DIR] [--out DIR]``
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

NAME = "srtio3"
FILE = "SrTiO3_HAADF_TitanCubed80kV.emi"


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


def fix_mode_axes(fig, pad=1.35):
    """Give every panel of ``nb.plot_modes`` room for its outer atoms and arrows."""
    for ax in fig.axes:
        xs, ys = [], []
        for line in ax.lines:
            xs.extend(np.asarray(line.get_xdata(), float))
            ys.extend(np.asarray(line.get_ydata(), float))
        for arrows in ax.collections:  # the tips of the quiver arrows
            if hasattr(arrows, "U"):
                tips = arrows.get_offsets() + np.column_stack([arrows.U, arrows.V])
                xs.extend(tips[:, 0])
                ys.extend(tips[:, 1])
        r = pad * max(np.max(np.abs(xs)), np.max(np.abs(ys)))
        ax.set_xlim(-r, r)
        ax.set_ylim(r, -r)


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


def show_histogram(ax, hist, title, half=None):
    a0, a1 = hist.axes_manager.signal_axes
    ex = (
        a0.offset - a0.scale / 2,
        a0.offset + (a0.size - 0.5) * a0.scale,
        a1.offset + (a1.size - 0.5) * a1.scale,
        a1.offset - a1.scale / 2,
    )
    im = ax.imshow(np.log10(1 + hist.data), extent=ex, cmap="magma")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(f"dx ({a0.units})")
    ax.set_ylabel(f"dy ({a1.units})")
    if half:
        zoom(ax, (0, 0), half)
    return im


def main():
    args = parse_args(__doc__.splitlines()[0], n_clusters=True)
    path = find_file(args.data_dirs, FILE)
    quiet()
    t = Timer()
    out = args.out

    img = hs.load(path)
    img.set_signal_type("atomic_image")
    atoms = img.find_atoms()
    atoms = img.refine_atoms(atoms)
    atoms = atoms.label_sublattices(2, column="amplitude")
    grid = atoms.grid
    sub = atoms.get_column("sublattice")
    t(
        f"{atoms.n_atoms} columns found and refined; Sr (brighter) "
        f"{int(np.sum(sub == 0))}, Ti-O {int(np.sum(sub == 1))}, "
        f"unlabelled (fit failed) {int(np.sum(np.isnan(sub)))}"
    )

    x, y = atoms.get_column("x"), atoms.get_column("y")
    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    for ax, half in zip(axes, (None, 1.0)):
        show_image(ax, img.data, grid)
        for v, c, name in ((0, "tab:orange", "Sr"), (1, "tab:cyan", "Ti-O")):
            m = sub == v
            ax.scatter(x[m], y[m], s=3 if half is None else 25, c=c, label=name)
        if half:
            zoom(ax, (float(np.median(x)), float(np.median(y))), half)
    axes[0].set_title(f"{atoms.n_atoms} columns, labelled by amplitude", fontsize=10)
    axes[1].legend(loc="upper right", fontsize=8, framealpha=0.85)
    axes[1].set_title("zoom", fontsize=10)
    fig.tight_layout()
    save(fig, out, "1_atoms_sublattices.png")

    # ------------------------------------------- neighbour-vector histograms
    nb6 = atoms.get_neighbourhoods(n_neighbours=6)
    nb50 = atoms.get_neighbourhoods(n_neighbours=50)
    t(
        f"neighbourhoods: {nb6.axes_manager.navigation_size} centres (k = 6), "
        f"{nb50.axes_manager.navigation_size} centres (k = 50)"
    )
    h6 = nb6.get_vector_histogram(bins=201, extent=(-0.5, 0.5, -0.5, 0.5))
    h50 = nb50.get_vector_histogram(bins=301)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    show_histogram(axes[0], h6, "6 neighbours (log counts)")
    show_histogram(axes[1], h50, "50 neighbours: 2D pair correlation (log counts)")
    fig.tight_layout()
    save(fig, out, "2_vector_histograms.png")

    # ------------------------------------------------------------ clusters
    nb = atoms.get_neighbourhoods(n_neighbours=8)
    K, hts = k_from_dendrogram(nb, 2, 6)
    print("  highest dendrogram merges:", np.round(hts, 3), f"-> K = {K}")
    if args.n_clusters:
        K = args.n_clusters
    fig, ax = plt.subplots(figsize=(9, 4))
    nb.plot_dendrogram(n_clusters=K, ax=ax)
    ax.set_title(
        f"Ward dendrogram of the 8-neighbour neighbourhoods: cut at K = {K}",
        fontsize=10,
    )
    save(fig, out, "3_dendrogram.png")

    csub = nb.get_centres().get_column("sublattice")
    ok = np.isfinite(csub)

    def compare(labels):
        table = np.array(
            [[np.sum((labels == i) & (csub == j)) for j in (0, 1)] for i in range(K)]
        )
        return table, table.max(axis=1).sum() / ok.sum()

    # the paper's variant first: k-means with component-wise median centroids
    nb.cluster_analysis(n_clusters=K, algorithm="kmedians")
    _, agree_med = compare(nb.get_cluster_labels(merged=True).data.astype(int))
    nb.cluster_analysis(n_clusters=K)  # scikit-learn k-means, for the figures
    labels = nb.get_cluster_labels(merged=True).data.astype(int)
    sizes = np.bincount(labels, minlength=K)
    table, agree = compare(labels)
    t(f"k-means, K = {K}: sizes {sizes.tolist()}")
    print("  clusters (rows) vs amplitude labels Sr, Ti-O (columns):")
    print("  " + str(table).replace("\n", "\n  "))
    print(
        f"  agreement with the amplitude labels: k-means {agree:.1%}, "
        f"k-medians {agree_med:.1%}"
    )

    cm, norm = categorical_colormap(K)
    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    for ax, half in zip(axes, (None, 1.0)):
        show_image(ax, img.data, grid)
        overlay(ax, nb.get_cluster_map(), cmap=cm, norm=norm, alpha=0.5)
        if half:
            zoom(ax, (float(np.median(x)), float(np.median(y))), half)
    axes[0].set_title(
        f"k-means on 8-neighbour vectors, K = {K}: {agree:.0%} agree with the "
        "amplitude labels",
        fontsize=9,
    )
    cluster_legend(axes[1], sizes, loc="upper right", framealpha=0.85)
    axes[1].set_title("zoom", fontsize=10)
    fig.tight_layout()
    save(fig, out, "4_cluster_map.png")

    # ------------------------------------------------------------------ PCA
    nb.decomposition(print_info=False)
    props = nb.get_mode_properties(6)
    print(props.round(4).to_string())
    ax = nb.plot_scree_plot(n=16)
    ax.figure.set_size_inches(5, 3.6)
    ax.set_title("Scree plot: PCA of the 8-neighbour neighbourhoods", fontsize=9)
    save(ax.figure, out, "5a_scree.png")
    mfig = nb.plot_modes((0, 1, 2, 3))
    fix_mode_axes(mfig)
    save(mfig, out, "5b_pca_modes.png")

    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    show_image(ax, img.data, grid)
    r = props.loc[0]
    amp = nb.get_mode_amplitudes(0).get_column("amplitude")
    lim = np.nanpercentile(np.abs(amp), 98)
    im = overlay(ax, nb.get_map(amp), cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=ax, fraction=0.04, label=r.units)
    ax.set_title(
        f"PCA mode 0 ({100 * r.explained_variance_ratio:.0f} % of the variance, "
        f"{r.amplitude:.2g} {r.units} RMS), amplitude per centre:\n"
        f"{r.pattern}; {'polar' if r.polar else 'non-polar'} (net shift "
        f"{r.net_shift:.2g} {r.units} = {r.net_shift / r.net_shift_noise:.1f} x "
        "the noise)",
        fontsize=9,
    )
    save(fig, out, "5c_amplitude_map_mode0.png")

    # ------------------------------------------ scan distortion and export
    # SrTiO3 is cubic: the Sr lattice must be square. What is not is the
    # scan's shear and slow-scan scale; with the line time in the file
    # (TIA: frame time / rows) they are a drift velocity.
    print(f"  scan timing from the file: {img.get_scan_timing()}")
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, lab, name in zip(axes, (0, 1), ("Sr", "Ti-O")):
        d = atoms.estimate_scan_distortion(ratio=1.0, angle=90.0, sublattice=lab)
        m, v = d["measured"], np.asarray(d["drift"]) * 1000  # pm/s
        print(
            f"  {name}: measured cell {m['a']:.4f} x {m['b']:.4f} nm at "
            f"{m['gamma']:.2f} deg -> shear {d['shear']:+.4f}, slow-scan scale "
            f"{d['slow_scale']:.4f}; drift ({v[0]:+.1f}, {v[1]:+.1f}) pm/s, "
            f"{np.round(np.asarray(d['drift_per_frame']), 3).tolist()} nm per frame"
        )
        fixed = atoms.correct_scan_distortion(d)
        for table, style, what in (
            (atoms, "o", "as scanned"),
            (fixed, "+", "corrected"),
        ):
            sel = table.get_column("sublattice") == lab
            ax.plot(
                table.get_column("x")[sel],
                table.get_column("y")[sel],
                style,
                ms=3,
                mfc="none",
                label=what,
            )
        p = fixed.get_lattice_parameters(sublattice=lab)
        ax.set_title(
            f"{name}: drift ({v[0]:+.1f}, {v[1]:+.1f}) pm/s\ncorrected cell "
            f"{p['a']:.4f} x {p['b']:.4f} nm at {p['gamma']:.2f} deg",
            fontsize=9,
        )
        ax.set_aspect("equal")
        ax.invert_yaxis()
        ax.legend(fontsize=8)
    save(fig, out, "6_scan_distortion.png")
    # the corrected columns as a projected structure (Å, elements by label)
    fixed = atoms.correct_scan_distortion(
        atoms.estimate_scan_distortion(ratio=1.0, angle=90.0, sublattice=0)
    )
    fixed.to_extxyz(out / "srtio3_columns.xyz", symbols={0: "Sr", 1: "Ti"})
    fixed.to_cif(out / "srtio3_columns.cif", symbols={0: "Sr", 1: "Ti"})
    print(f"  wrote {out / 'srtio3_columns.xyz'} and .cif")
    print(f"done in {t.total():.1f} s")


if __name__ == "__main__":
    main()
