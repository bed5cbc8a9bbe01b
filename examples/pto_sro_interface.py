"""PbTiO3/SrRuO3 interface: two phases and polar displacements.

Local crystallography (Belianinov et al., Nat. Commun. 6, 7801 (2015)) of
the bundled HAADF-STEM image of a PbTiO3/SrRuO3 "supercrystal" (Hadjimichael
et al.; 1312 x 224 px, 0.015 nm/px). A curved metallic SrRuO3 layer (Sr and
Ru columns of similar brightness) runs between PbTiO3 (very bright Pb
columns, faint Ti columns): at the bottom of the frame and in its top-left
corner.

Figures (``examples/output/pto_sro_interface/`` by default):

1. the image and every column found, coloured by checkerboard type;
2. the dendrogram of the 4-neighbour neighbourhoods, with the cut at K;
3. the cluster map (k-means, K clusters) on the image;
4. the power spectrum (FFT) of each cluster's positions;
5. scree plot and the first PCA modes (centred: deviations from the mean
   neighbourhood, drawn in grey) as arrows, titled with their share of the
   variance, amplitude in pm, polar or not against the noise, and the pattern
   of their loadings;
6. the amplitude map (pm) of the mode with the largest net shift (the first
   polar mode when there is one), as computed and with the sign of one
   sublattice flipped (a domain map);
7. the polar displacement of every B column (Ti, Ru) from the centroid of
   its four A neighbours (``AtomPositions.get_polarisation``), as arrows with
   a key in pm, its vertical component as a map, and its average per
   cluster with standard errors;
8. the local strain (exx, eyy) and lattice rotation of every A column
   against the median lattice (``AtomPositions.get_strain``).

Run: ``python examples/pto_sro_interface.py [--out DIR] [--n-clusters K]``
"""

import argparse
import logging
import time
import warnings
from pathlib import Path

import hyperspy.api as hs
import matplotlib.pyplot as plt
import numpy as np
from scipy.spatial import cKDTree

from hyperspy_localcryst.data import pto_sro_interface
from hyperspy_localcryst.plotting import categorical_colormap, class_colours

NAME = "pto_sro_interface"


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


def draw_points(ax, points, **kwargs):
    """Draw a HyperSpy ``Points`` marker (e.g. ``nb.get_cluster_markers()``)
    on a plain matplotlib axes, with its offsets and colours."""
    k = points.kwargs
    xy = np.asarray(k["offsets"])
    colours = k.get("color", k.get("facecolors", "r"))
    kwargs.setdefault("s", 12)
    ax.scatter(xy[:, 0], xy[:, 1], c=colours, **kwargs)


def top_merges(nb, n=8, **kwargs):
    """Heights of the last ``n`` merges of the dendrogram, highest first."""
    Z, _ = nb.get_linkage(**kwargs)
    return np.sort(Z[:, 2])[::-1][:n]


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


def checkerboard(atoms, column="peak"):
    """1 where a column is dimmer than the mean of its 4 nearest neighbours.

    In a perovskite [001] projection with both A and B columns found, each
    column's four nearest neighbours are of the other kind, so this labels
    the two interpenetrating sublattices locally: Ti (dim) vs Pb in PbTiO3.
    (In SrRuO3 the two are nearly equally bright and the label is noisy.)
    """
    xy = np.column_stack([atoms.get_column("x"), atoms.get_column("y")])
    _, idx = cKDTree(xy).query(xy, k=5)
    v = atoms.get_column(column)
    return (v < v[idx[:, 1:]].mean(axis=1)).astype(float)


def main():
    args = parse_args(__doc__.splitlines()[0], n_clusters=True)
    quiet()
    t = Timer()
    out = args.out

    img = pto_sro_interface()
    grid_img = img.axes_manager.signal_axes
    # The automatic separation (0.25 nm) is the typical A-B distance, not the
    # smallest one: given it, the finders miss faint Ti columns squeezed
    # between bright Pb. The shortest A-B distances are 0.22 nm: ask for 0.2.
    atoms = img.find_atoms(method="log", separation=0.2)
    atoms = img.refine_atoms(atoms)
    atoms = atoms.add_columns({"sublattice": checkerboard(atoms)})
    grid = atoms.grid
    t(f"{atoms.n_atoms} columns found and refined")
    print(f"  image {grid_img[0].size} x {grid_img[1].size} px")

    # ---------------------------------------------------------------- atoms
    fig, ax = plt.subplots(figsize=(12, 2.9))
    show_image(ax, img.data, grid, title=f"{atoms.n_atoms} columns (LoG finder)")
    sub = atoms.get_column("sublattice")
    for v, c, label in ((0, "tab:orange", "brighter"), (1, "tab:cyan", "dimmer")):
        m = sub == v
        ax.scatter(
            atoms.get_column("x")[m],
            atoms.get_column("y")[m],
            s=4,
            c=c,
            label=f"{label} than its 4 neighbours",
        )
    ax.legend(loc="upper right", fontsize=7, markerscale=3, framealpha=0.8)
    save(fig, out, "1_atoms.png")

    # ------------------------------------------------------- neighbourhoods
    nb = atoms.get_neighbourhoods(n_neighbours=4, metric="distance")
    n_c = nb.axes_manager.navigation_size
    t(f"neighbourhoods: {n_c} centre atoms, k = 4")
    h = top_merges(nb)
    print("  highest dendrogram merges:", np.round(h, 3))
    K = args.n_clusters
    if K is None:
        # The two highest merges stand apart from a continuum of lower ones
        # (0.71, 0.48 | 0.38, 0.33, ...): three clusters.
        K = 3

    fig, ax = plt.subplots(figsize=(9, 4))
    nb.plot_dendrogram(n_clusters=K, ax=ax)
    ax.set_title(f"Ward dendrogram, 4-neighbour neighbourhoods: cut at K = {K}")
    save(fig, out, "2_dendrogram.png")

    nb.cluster_analysis(n_clusters=K)
    labels = nb.get_cluster_labels(merged=True).data.astype(int)
    sizes = np.bincount(labels, minlength=K)
    t(f"k-means, K = {K}: sizes {sizes.tolist()}")

    fig, axes = plt.subplots(2, 1, figsize=(12, 5.6))
    cm, norm = categorical_colormap(K)
    show_image(axes[0], img.data, grid, title=f"Cluster map (k-means, K = {K})")
    overlay(axes[0], nb.get_cluster_map(), cmap=cm, norm=norm, alpha=0.5)
    cluster_legend(axes[0], sizes, loc="upper right", framealpha=0.8)
    show_image(axes[1], img.data, grid, title="Centre atoms coloured by cluster")
    draw_points(axes[1], nb.get_cluster_markers(), s=5)
    fig.tight_layout()
    save(fig, out, "3_cluster_map.png")

    fft = nb.get_cluster_fft()
    per = fft.metadata.Signal.periodicity
    ax0, ax1 = fft.axes_manager.signal_axes
    fig, axes = plt.subplots(1, K, figsize=(3.3 * K, 3.4), squeeze=False)
    for i, ax in enumerate(axes[0]):
        p = np.log10(fft.data[i] + 1e-12 * fft.data[i].max())
        ex = (
            ax0.offset,
            ax0.offset + ax0.size * ax0.scale,
            ax1.offset + ax1.size * ax1.scale,
            ax1.offset,
        )
        ax.imshow(p, extent=ex, cmap="inferno", vmin=np.percentile(p, 50))
        ax.set_xlim(-6, 6)
        ax.set_ylim(6, -6)
        ax.set_title(
            f"cluster {i} ({sizes[i]} atoms)\npeak/median {per[i]:.0f}", fontsize=9
        )
        ax.set_xlabel(f"kx ({ax0.units})")
    axes[0][0].set_ylabel(f"ky ({ax1.units})")
    fig.suptitle("Power spectrum of each cluster's positions (log)", fontsize=10)
    fig.tight_layout()
    save(fig, out, "4_cluster_fft.png")

    # ------------------------------------------------------------------ PCA
    nb.decomposition(print_info=False)
    props = nb.get_mode_properties(8)
    print(props.round(4).to_string())
    ax = nb.plot_scree_plot(n=12)
    ax.figure.set_size_inches(5, 3.6)
    ax.set_title("Scree plot: PCA of the 4-neighbour neighbourhoods", fontsize=9)
    save(ax.figure, out, "5a_scree.png")
    mfig = nb.plot_modes((0, 1, 2, 3))
    fix_mode_axes(mfig)
    save(mfig, out, "5b_pca_modes.png")

    polar = props[props["polar"]]
    c = int(polar.index[0]) if len(polar) else int(props["net_shift"].idxmax())
    r = props.loc[c]
    print(
        f"  mode {c}: {'polar' if r.polar else 'non-polar'}, net shift "
        f"{r.net_shift:.3g} {r.units} ({r.net_shift / r.net_shift_noise:.2g} x "
        f"noise), pattern {r.pattern}"
    )
    # a centre with a positive loading moves by (net_shift_x, net_shift_y)
    down = r.net_shift_y > 0
    centres = nb.get_centres()
    sign = np.where(centres.get_column("sublattice") == 1, 1.0, -1.0)
    amp = nb.get_mode_amplitudes(c).get_column("amplitude")
    fig, axes = plt.subplots(2, 1, figsize=(12, 5.6))
    for ax, vals, title in (
        (
            axes[0],
            amp,
            f"Amplitude of mode {c} ({r.units}): "
            f"{'polar' if r.polar else 'non-polar'} against the noise, {r.pattern}",
        ),
        (
            axes[1],
            sign * amp,
            f"Mode {c} amplitude x (+1 dimmer, -1 brighter column): red = dimmer "
            f"(Ti) column displaced {'down' if down else 'up'} against its "
            "neighbours",
        ),
    ):
        show_image(ax, img.data, grid, title=title)
        lim = np.nanpercentile(np.abs(vals), 98)
        im = overlay(
            ax, nb.get_map(vals), cmap="RdBu_r", vmin=-lim, vmax=lim, alpha=0.6
        )
        fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03)
    fig.tight_layout()
    save(fig, out, "6_polar_mode_loading.png")

    # ---------------------------------------------------- polar displacement
    # Sublattices by structure (A and B sites continue across the coherent
    # interface, whatever their brightness): the A site is the brighter on
    # average (Pb); each B column's displacement from the centroid of its
    # four A neighbours, with errors from the refinement.
    typed = atoms.label_sublattices()
    site = typed.get_column("sublattice")
    amp = typed.get_column("amplitude")
    a_site = int(np.nanargmax([np.nanmedian(amp[site == k]) for k in (0, 1)]))
    pol = typed.get_polarisation(sublattice=1 - a_site, reference=a_site)
    info = pol.metadata.AtomPositions.polarisation
    units = grid["x"]["units"]
    t(
        f"polarisation: {info.n_surrounded} B columns with a whole A cell "
        f"(k = {info.n_neighbours}); median dx_err, dy_err "
        f"{np.nanmedian(pol.get_column('dx_err')) * 1000:.1f}, "
        f"{np.nanmedian(pol.get_column('dy_err')) * 1000:.1f} pm"
    )
    # averages per cluster (the phases of the cluster map): the cluster of
    # each B column that is a centre of the neighbourhoods
    cluster = np.full(typed.n_atoms, np.nan)
    cluster[nb.centre_indices] = labels
    pol = pol.add_columns({"cluster": cluster[site == 1 - a_site]})
    stats = pol.get_statistics(["dx", "dy"], by="cluster")
    print("  displacement per cluster (pm; count):")
    for k, r in stats[stats.dx_count > 0].iterrows():
        print(
            f"    cluster {k}: dx {1000 * r.dx_mean:+.1f} +/- {1000 * r.dx_sem:.1f}, "
            f"dy {1000 * r.dy_mean:+.1f} +/- {1000 * r.dy_sem:.1f} "
            f"({int(r.dx_count)} columns)"
        )
    fig, axes = plt.subplots(2, 1, figsize=(12, 5.6))
    pol.plot_polarisation(img, ax=axes[0], colour_by="angle")
    axes[0].set_title(
        "Displacement of each B column (Ti, Ru) from the centroid of its four A "
        "(Pb, Sr) neighbours",
        fontsize=9,
    )
    dy_map = pol.get_map("dy")
    lim = np.nanpercentile(np.abs(dy_map.data), 98)
    show_image(
        axes[1],
        img.data,
        grid,
        title=f"dy of each B cell ({units}; + = B displaced down)",
    )
    im = overlay(axes[1], dy_map, cmap="PuOr_r", vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=axes[1], pad=0.01, fraction=0.03)
    fig.tight_layout()
    save(fig, out, "7_polar_displacement.png")
    # --------------------------------------------------------------- strain
    # Each A column's local lattice against the median lattice of the image
    # (its 8 nearest A neighbours; the strain_residual column flags the atoms
    # one deformation does not describe): exx, eyy and the lattice rotation.
    strain = typed.get_strain(sublattice=a_site)
    a_cols = strain.select(strain.get_column("sublattice") == a_site)
    ref = strain.metadata.AtomPositions.strain.vectors[str(a_site)]
    misfit = np.nanmedian(a_cols.get_column("strain_residual")) * 1000
    t(
        "strain: reference cell "
        + ", ".join(f"{np.hypot(*v):.4f} {units}" for v in ref)
        + f"; median misfit {misfit:.1f} pm"
    )
    fig, axes = plt.subplots(3, 1, figsize=(12, 7.8))
    for ax, (col, label) in zip(
        axes,
        (
            ("exx", "exx (%)"),
            ("eyy", "eyy (%)"),
            ("lattice_rotation", "lattice rotation (deg, from +x towards +y)"),
        ),
    ):
        m = a_cols.get_map(col)
        if col != "lattice_rotation":
            m.data *= 100
        lim = np.nanpercentile(np.abs(m.data), 98)
        show_image(ax, img.data, grid, title=f"{label} of each A (Pb, Sr) column")
        im = overlay(ax, m, cmap="RdBu_r", vmin=-lim, vmax=lim, alpha=0.7)
        fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03)
    fig.tight_layout()
    save(fig, out, "8_strain.png")
    print(f"done in {t.total():.1f} s")


if __name__ == "__main__":
    main()
