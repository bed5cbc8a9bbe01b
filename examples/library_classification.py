"""One neighbourhood library, two real images: PbTiO3/SrRuO3 and SrTiO3.

A library of neighbourhood classes is built on the PbTiO3/SrRuO3 interface
(bundled image, 0.015 nm/px): k-means (K = 3) on the 4-neighbour
neighbourhoods (angle metric: rotation removed) gives the non-polar SrRuO3
class and two polar PbTiO3 classes (named here by the median polar
displacement of their centres). It is saved to a ``.hspy`` file, loaded back,
and used to classify the PbTiO3/SrRuO3 image itself and the SrTiO3 [001] image
(another microscope, 80 kV, 0.01 nm/px): SrTiO3 is cubic and non-polar, so
its atoms should fall in the SrRuO3-like class. Descriptors are scaled by
each image's median nearest-neighbour distance (``scaling="nn"``), because the
stored pixel sizes of the two files disagree by several percent.

Figures (``examples/output/library_classification/`` by default):

1. the PbTiO3/SrRuO3 image with the library classes;
2. the SrTiO3 image classified with the library (class, unknown) and the
   confidence of each atom;
3. the class fractions of both images, and the class centroids (4 neighbour
   vectors each) with the mean neighbourhood of SrTiO3.

Run: ``python examples/library_classification.py [--data-dir DIR] [--out DIR]``
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

from hyperspy_localcryst.data import pto_sro_interface
from hyperspy_localcryst.library import NeighbourhoodLibrary
from hyperspy_localcryst.plotting import categorical_colormap, class_colours

NAME = "library_classification"
STO = "SrTiO3_HAADF_TitanCubed80kV.emi"
SETTINGS = {"n_neighbours": 4, "metric": "angle"}


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


def save(fig, out, name):
    """Save a figure as PNG in ``out`` and close it."""
    path = Path(out) / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"  wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return path


def class_map(res, nb):
    """Map of the classes (unknown = K) on the centres' Voronoi cells."""
    k = len(res.metadata.Classification.names)
    c = res.get_column("class")
    return nb.get_map(np.where(c < 0, k, c))


def main():
    args = parse_args(__doc__.splitlines()[0])
    sto_path = find_file(args.data_dirs, STO)
    quiet()
    t = Timer()
    out = args.out

    # ------------------------------------------------ library on PTO/SRO
    pto = pto_sro_interface()
    a_pto = pto.refine_atoms(pto.find_atoms(method="log", separation=0.2))
    nb = a_pto.get_neighbourhoods(**SETTINGS)
    K = 3
    nb.cluster_analysis(n_clusters=K)
    lab = nb.get_cluster_labels(merged=True).data.astype(int)
    polar = nb.get_invariants().get_column("polar")
    med = np.array([np.median(polar[lab == i]) for i in range(K)])
    order = np.argsort(med)  # least polar first
    names, desc = [""] * K, [""] * K
    for rank, i in enumerate(order):
        if rank == 0:
            names[i] = "SrRuO3-like (non-polar)"
            desc[i] = "PbTiO3/SrRuO3 image: SrRuO3 layer, centro-symmetric"
        else:
            names[i] = f"PbTiO3 polar {rank}"
            desc[i] = "PbTiO3/SrRuO3 image: polar PbTiO3, one checkerboard site"
    lib = NeighbourhoodLibrary.from_neighbourhoods(
        nb, names=names, descriptions=desc, scaling="nn"
    )
    path = out / "pto_sro_library.hspy"
    lib.save(path, overwrite=True)
    lib = NeighbourhoodLibrary.load(path)
    t(
        f"PbTiO3/SrRuO3: {a_pto.n_atoms} columns, {len(lab)} centres; library "
        f"saved and reloaded: {lib}"
    )
    for i in range(K):
        print(
            f"  class {i} {lib.names[i]!r}: {lib.counts[i]} centres, median polar "
            f"displacement {1000 * med[i]:.1f} pm, spread {lib.spread[i]:.3f} "
            "(fraction of the nearest-neighbour distance)"
        )

    res_pto = lib.classify(a_pto)
    fr_pto = np.round(res_pto.metadata.Classification.fractions, 3).tolist()
    t(f"PbTiO3/SrRuO3 classified: fractions {fr_pto}")

    # ------------------------------------------------ SrTiO3
    sto = hs.load(sto_path)
    sto.set_signal_type("atomic_image")
    a_sto = sto.refine_atoms(sto.find_atoms())
    res_sto = lib.classify(a_sto)
    nb_sto = lib.get_neighbourhoods(a_sto)
    fr = res_sto.metadata.Classification.fractions
    t(f"SrTiO3: {a_sto.n_atoms} columns, {len(nb_sto.data)} centres classified")
    for n, f in zip(res_sto.metadata.Classification.fraction_names, fr):
        print(f"  SrTiO3 {n}: {100 * f:.1f} %")
    conf = res_sto.get_column("confidence")
    print(f"  SrTiO3 median confidence {np.median(conf):.2f}")

    cm, norm = categorical_colormap(K + 1)
    colours = class_colours(K + 1)

    def legend(ax, res):
        from matplotlib.patches import Patch

        md = res.metadata.Classification
        ax.legend(
            handles=[
                Patch(color=colours[i], label=f"{n}: {100 * f:.0f} %")
                for i, (n, f) in enumerate(zip(md.fraction_names, md.fractions))
            ],
            fontsize=8,
            loc="upper right",
            framealpha=0.85,
        )

    fig, ax = plt.subplots(figsize=(13, 3.6))
    show_image(ax, pto.data, a_pto.grid, "PbTiO3/SrRuO3 with the library classes")
    overlay(ax, class_map(res_pto, nb), cmap=cm, norm=norm, alpha=0.5)
    legend(ax, res_pto)
    save(fig, out, "1_pto_sro_library_classes.png")

    fig, axes = plt.subplots(1, 2, figsize=(13, 6))
    show_image(axes[0], sto.data, a_sto.grid, "SrTiO3 classified with the library")
    overlay(axes[0], class_map(res_sto, nb_sto), cmap=cm, norm=norm, alpha=0.5)
    legend(axes[0], res_sto)
    show_image(axes[1], sto.data, a_sto.grid, "confidence (1 - d1/d2)")
    im = overlay(axes[1], nb_sto.get_map(conf), cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(im, ax=axes[1], fraction=0.04)
    fig.tight_layout()
    save(fig, out, "2_srtio3_classified.png")

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    xs = np.arange(K + 1)
    for j, (res, name) in enumerate(((res_pto, "PbTiO3/SrRuO3"), (res_sto, "SrTiO3"))):
        axes[0].bar(
            xs + 0.4 * j - 0.2,
            res.metadata.Classification.fractions,
            0.4,
            label=name,
            color=["C0", "C1"][j],
        )
    axes[0].set_xticks(xs, lib.names + ["unknown"], rotation=15, fontsize=8)
    axes[0].set_ylabel("fraction of centres")
    axes[0].legend(fontsize=8)
    axes[0].set_title("class fractions, one library", fontsize=10)
    ax = axes[1]
    for i in range(K):
        v = lib.centroids[i].reshape(-1, 2)
        ax.plot(v[:, 0], v[:, 1], "o", color=colours[i], ms=9, label=lib.names[i])
    # the library's "nn" scaling: vectors over the median first-neighbour distance
    X = nb_sto.data
    v = np.median(X / np.median(np.hypot(X[:, 0], X[:, 1])), axis=0).reshape(-1, 2)
    ax.plot(v[:, 0], v[:, 1], "k+", ms=12, mew=2, label="SrTiO3 median")
    ax.plot([0], [0], "kx")
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.set_xlabel("dx / nearest-neighbour distance")
    ax.set_ylabel("dy / nearest-neighbour distance")
    ax.legend(fontsize=7, loc="center")
    ax.set_title("class centroids (4 neighbours, local frame)", fontsize=10)
    fig.tight_layout()
    save(fig, out, "3_fractions_centroids.png")
    print(f"done in {t.total():.1f} s")


if __name__ == "__main__":
    main()
