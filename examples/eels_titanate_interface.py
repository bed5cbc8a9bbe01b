"""STEM-EELS across a titanate interface: atoms, neighbourhood clusters, spectra.

A 512 x 512 px survey image of a perovskite titanate interface, a 6 x 49 px
EELS spectrum image (SI, 350-861.5 eV: Ti L2,3, O K, La M4,5) recorded over a
strip of it, and the HAADF image recorded simultaneously with the SI (32 x 32
sub-pixels per SI pixel). pycroscopy SciFiDatasets, MIT licence. The spatial
axes are uncalibrated (survey pixels); the SI's region on the survey is read
from the SI file (DigitalMicrograph ``Spectrum Image Rect``).

Figures (``examples/output/eels_titanate_interface/`` by default):

1. the survey with the atoms coloured by neighbourhood cluster, the SI
   region from the file and the region shifted by the drift measured with
   the simultaneous HAADF;
2. the mean spectrum of each neighbourhood cluster (area-weighted over the
   atoms' Voronoi cells inside the SI), background-subtracted edges;
3. the SI strip: survey, cluster map and per-atom Ti L2,3, O K and La M4,5
   intensities drawn on the atoms' cells like the cluster map;
4. per-atom La M4,5 and Ti L2,3 intensity against depth (y), coloured by
   cluster.

Run: ``python examples/eels_titanate_interface.py [--data-dir DIR] [--out DIR]``
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

NAME = "eels_titanate_interface"
FOLDER = "EELS_SI_titanate_interface"
EDGES = {"Ti_L3": "Ti L2,3", "O_K": "O K", "La_M5": "La M4,5"}


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


def save(fig, out, name):
    """Save a figure as PNG in ``out`` and close it."""
    path = Path(out) / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"  wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return path


def rectangle(ax, region, rotation=0.0, **kwargs):
    from matplotlib.patches import Rectangle

    left, top, right, bottom = region
    ax.add_patch(
        Rectangle((left, top), right - left, bottom - top, fill=False, **kwargs)
    )


def main():
    args = parse_args(__doc__.splitlines()[0], n_clusters=True)
    d = [Path(p) / FOLDER for p in args.data_dirs]
    survey_path = find_file(d, "DMReader_Image_SI-Survey.dm3")
    si_path = find_file(d, "DMReader_SpectrumImage_SI-EELS.dm3")
    haadf_path = find_file(d, "DMReader_SI-HAADF.dm3")
    quiet()
    t = Timer()
    out = args.out

    survey = hs.load(survey_path)
    survey.change_dtype("float64")
    survey.set_signal_type("atomic_image")
    si = hs.load(si_path)
    haadf = hs.load(haadf_path)
    t(f"loaded: survey {survey.data.shape}, SI {si}, HAADF {haadf.data.shape}")

    atoms = survey.find_atoms()
    sep = survey.estimate_separation()
    t(f"{atoms.n_atoms} columns found (smallest separation {sep:.1f} px)")

    # ------------------------------------------------ registration
    reg = atoms.register_to_spectrum_image(si)
    info = reg.metadata.AtomPositions.spectrum_image
    shift, score = atoms.estimate_si_shift(survey, haadf, si)
    reg2 = atoms.register_to_spectrum_image(si, shift=shift)
    info2 = reg2.metadata.AtomPositions.spectrum_image
    A = np.asarray(info.affine)
    print(
        f"  SI region from the file ({info.region_source}): (left, top, right, "
        f"bottom) = {np.round(info.region, 1).tolist()} survey px; SI pixel = "
        f"{A[0, 0]:.3f} x {A[1, 1]:.3f} survey px"
    )
    print(
        f"  drift from the simultaneous HAADF: dx = {shift[0]:+.2f}, dy = "
        f"{shift[1]:+.2f} survey px (= {shift[0] / A[0, 0]:+.2f}, "
        f"{shift[1] / A[1, 1]:+.2f} SI px), correlation {score:.2f}"
    )
    # DigitalMicrograph scans the SI in the survey's frame (rotation 0); a
    # search of +-10 degrees shows what drift during the 49 SI rows does to it
    rot = atoms.estimate_si_registration(survey, haadf, si, rotation_range=(-10, 10))
    print(
        f"  rotation search +-10 deg: {rot['rotation']:+.1f} deg, correlation "
        f"{rot['score']:.2f} (vs {score:.2f} at 0 deg): drift during the SI "
        "acquisition (not modelled); rotation 0 and the shift are kept"
    )
    inside = reg2.get_column("in_si").astype(bool)
    print(f"  {int(inside.sum())} atoms inside the SI")

    # ------------------------------------------------ neighbourhood clusters
    nb = atoms.get_neighbourhoods(n_neighbours=8)
    K = args.n_clusters or 3
    nb.cluster_analysis(n_clusters=K)
    labels = nb.get_cluster_labels(merged=True).data.astype(int)
    sizes = np.bincount(labels, minlength=K)
    cy = nb.get_centres().get_column("y")
    med_y = [round(float(np.median(cy[labels == i]))) for i in range(K)]
    t(
        f"{len(labels)} centres, k-means K = {K} on 8-neighbour vectors: sizes "
        f"{sizes.tolist()}, median y {med_y} px"
    )
    cm, norm = categorical_colormap(K)

    fig, axes = plt.subplots(1, 2, figsize=(13, 6.5))
    grid = atoms.grid
    show_image(axes[0], survey.data, grid, "survey, atoms by neighbourhood cluster")
    overlay(axes[0], nb.get_cluster_map(), cmap=cm, norm=norm, alpha=0.45)
    rectangle(axes[0], info.region, color="w", lw=1.2, ls="--")
    rectangle(axes[0], info2.region, color="yellow", lw=1.2)
    cluster_legend(axes[0], sizes, loc="lower left", framealpha=0.85)
    axes[0].set_xlabel("x (survey px)")
    axes[0].set_ylabel("y (survey px)")
    # the simultaneous HAADF next to the survey crop on the SI's frame
    hd = haadf.data
    axes[1].imshow(hd, cmap="gray", aspect="auto", extent=(0, 6, 49, 0))
    axes[1].set_title(
        f"simultaneous HAADF ({hd.shape[1]} x {hd.shape[0]} px = 6 x 49 SI px)\n"
        f"drift vs survey: ({shift[0]:+.1f}, {shift[1]:+.1f}) survey px, "
        f"NCC {score:.2f}",
        fontsize=9,
    )
    axes[1].set_xlabel("SI x (px)")
    axes[1].set_ylabel("SI y (px)")
    axes[0].set_title(
        "survey with neighbourhood clusters; SI region from the file (white, "
        "dashed) and shifted by the HAADF drift (yellow)",
        fontsize=9,
    )
    fig.tight_layout()
    save(fig, out, "1_survey_clusters_si_region.png")

    # ------------------------------------------------ per-cluster spectra
    m = nb.get_cluster_spectra(si, shift=shift, allow_empty=True)
    cs = m.metadata.ClassSpectra
    e = m.axes_manager.signal_axes[0].axis
    print(
        "  atoms (area, SI px) per cluster in the SI:",
        cs.n_atoms,
        np.round(cs.area, 1).tolist(),
    )
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    colours = class_colours(K)
    for i in range(K):
        if not np.isfinite(m.data[i]).all():
            continue
        lab = f"cluster {i}: {cs.n_atoms[i]} atoms, {cs.area[i]:.0f} SI px"
        axes[0].plot(e, m.data[i], color=colours[i], lw=1, label=lab)
        # background (power law before each edge) removed, per edge
    for onset, name in ((456, "Ti L3"), (532, "O K"), (832, "La M5")):
        axes[0].axvline(onset, color="0.5", ls=":", lw=1)
        axes[0].text(onset + 3, axes[0].get_ylim()[1] * 0.95, name, fontsize=8)
    axes[0].set_xlabel("energy loss (eV)")
    axes[0].set_ylabel("counts per SI pixel")
    axes[0].set_title("mean spectrum of each neighbourhood cluster", fontsize=10)
    axes[0].legend(fontsize=8)
    # La M4,5 region: exspy removes a power law estimated at 780-825 eV
    for i in range(K):
        if not np.isfinite(m.data[i]).all():
            continue
        edge = m.inav[i].remove_background(
            signal_range=(780.0, 825.0),
            background_type="PowerLaw",
            show_progressbar=False,
        )
        la = e >= 780
        axes[1].plot(e[la], edge.data[la], color=colours[i], lw=1)
    axes[1].set_xlim(780, e.max())
    axes[1].set_ylim(-40, None)
    axes[1].axhline(0, color="k", lw=0.5)
    axes[1].set_title("La M4,5 above exspy's power law (780-825 eV)", fontsize=10)
    axes[1].set_xlabel("energy loss (eV)")
    fig.tight_layout()
    save(fig, out, "2_cluster_spectra.png")

    # ------------------------------------------------ per-atom spectra
    # one row per atom whose cell the SI covers; the axis holds the atom indices
    sp = atoms.get_spectra(si, shift=shift, normalise=True)
    rows = np.asarray(sp.metadata.AtomSpectra.atom_indices)
    print(
        f"  per-atom spectra: {sp} (atoms {rows.min()} .. {rows.max()} of the "
        f"table), {int(np.isnan(sp.data).sum())} NaN values"
    )

    # ------------------------------------------------ per-atom edge maps
    # exspy's edge intensity (power law removed, window summed: counts / SI px)
    table = atoms
    for edge in EDGES:
        table = table.get_spectral_quantity(si, edge=edge, shift=shift)
    vals = {edge: table.get_column(edge)[nb.centre_indices] for edge in EDGES}
    left, top, right, bottom = info2.region
    pad = 8
    fig, axes = plt.subplots(1, 2 + len(EDGES), figsize=(12, 8.5), sharey=True)
    show_image(axes[0], survey.data, grid, "survey")
    show_image(axes[1], survey.data, grid, "clusters")
    overlay(axes[1], nb.get_cluster_map(), cmap=cm, norm=norm, alpha=0.6)
    for ax, edge in zip(axes[2:], EDGES):
        show_image(ax, survey.data, grid)
        v = vals[edge]
        lim = np.nanpercentile(v, (2, 98))
        im = overlay(
            ax, nb.get_map(v), cmap="magma", vmin=lim[0], vmax=lim[1], alpha=0.85
        )
        fig.colorbar(im, ax=ax, fraction=0.1, pad=0.02, orientation="horizontal")
        ax.set_title(f"{EDGES[edge]} per atom", fontsize=10)
    for ax in axes:
        rectangle(ax, info2.region, color="yellow", lw=1)
        ax.set_xlabel("x (px)" if ax in axes[:2] else "")
        ax.set_xlim(left - pad, right + pad)
        ax.set_ylim(bottom + pad, top - pad)
        ax.set_ylabel("")
    axes[0].set_ylabel("y (px)")
    fig.tight_layout()
    save(fig, out, "3_edge_maps_per_atom.png")

    # ------------------------------------------------ depth profiles
    c = nb.get_centres()
    ok = np.isfinite(vals["La_M5"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, edge in zip(axes, ("La_M5", "Ti_L3")):
        for i in range(K):
            sel = ok & (labels == i)
            ax.scatter(
                c.get_column("y")[sel],
                vals[edge][sel],
                s=14,
                color=colours[i],
                label=f"cluster {i}",
            )
        ax.set_xlabel("y (survey px)")
        ax.set_ylabel(f"{EDGES[edge]} ({table.units[edge]})")
        ax.axhline(0, color="k", lw=0.5)
    axes[0].legend(fontsize=8)
    fig.suptitle("per-atom edge intensities across the interface", fontsize=10)
    fig.tight_layout()
    save(fig, out, "4_depth_profiles.png")
    for i in range(K):
        sel = ok & (labels == i)
        if sel.any():
            print(
                f"  cluster {i}: {int(sel.sum())} atoms in the SI, median La M4,5 "
                f"{np.median(vals['La_M5'][sel]):.0f}, Ti L2,3 "
                f"{np.median(vals['Ti_L3'][sel]):.0f}, O K "
                f"{np.median(vals['O_K'][sel]):.0f}"
            )
    print(f"done in {t.total():.1f} s")


if __name__ == "__main__":
    main()
