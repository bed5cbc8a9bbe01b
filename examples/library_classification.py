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

import hyperspy.api as hs
import numpy as np
from _common import (
    Timer,
    cluster_cmap,
    cluster_colours,
    find_file,
    overlay,
    parse_args,
    plt,
    quiet,
    save,
    show_image,
)

from hyperspy_localcryst.data import pto_sro_interface
from hyperspy_localcryst.library import NeighbourhoodLibrary

NAME = "library_classification"
STO = "SrTiO3_HAADF_TitanCubed80kV.emi"
SETTINGS = {"n_neighbours": 4, "metric": "angle"}


def class_map(res, nb):
    """Map of the classes (unknown = K) on the centres' Voronoi cells."""
    k = len(res.metadata.Classification.names)
    c = res.get_column("class")
    return nb.get_map(np.where(c < 0, k, c))


def main():
    args = parse_args(NAME, __doc__.splitlines()[0])
    sto_path = find_file(args.data_dir, STO)
    quiet()
    t = Timer()
    out = args.out

    # ------------------------------------------------ library on PTO/SRO
    pto = pto_sro_interface()
    a_pto = pto.refine_atoms(pto.find_atoms(method="log", separation=0.2))
    nb = a_pto.get_neighbourhoods(**SETTINGS)
    K = 3
    nb.cluster_analysis(n_clusters=K)
    lab = nb._labels()
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

    cm, norm = cluster_cmap(K + 1)
    colours = cluster_colours(K + 1)

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
    from hyperspy_localcryst.library import _features

    v = np.median(_features(nb_sto, "nn"), axis=0).reshape(-1, 2)
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
