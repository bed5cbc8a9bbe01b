"""Phases, symmetry, variants and defects with the default settings.

The steps of the paper's title, on the bundled PbTiO3/SrRuO3 HAADF image
(Hadjimichael et al.): site classes the data support (by atom type, geometry
and brightness), grouped into phases by where they live together, the point
symmetry of each class and what breaks it, and the defects the local lattice
predicts. Then the same calls on a synthetic polar perovskite in four
90-degree domains (known truth), where the site classes are symmetry
variants of one phase.

Figures (``examples/output/phases_symmetry_defects/`` by default):

1. site classes and phases on the image (boundary atoms ringed);
2. defects and phase boundaries on the image;
3. the four-domain perovskite: site classes, and the variants with the
   rotation that maps the first onto each.

Run: ``python examples/phases_symmetry_defects.py [--out DIR]``
"""

import numpy as np
from _common import Timer, parse_args, plt, quiet, save, show_image

from hyperspy_localcryst.data import pto_sro_interface, synthetic_lattice
from hyperspy_localcryst.numerics.neighbourhoods import shell_count
from hyperspy_localcryst.signals._plotting import class_colours

NAME = "phases_symmetry_defects"


def dots(ax, table, column, title, names=None):
    """Atoms coloured by an integer column (-1 grey), with a legend."""
    v = table.get_column(column).astype(int)
    x, y = table.get_column("x"), table.get_column("y")
    n = int(v.max()) + 1
    colours = class_colours(max(n, 1))
    for i in range(n):
        m = v == i
        label = (names[i] if names else f"{column} {i}") + f": {int(m.sum())}"
        ax.scatter(x[m], y[m], s=5, color=colours[i], label=label)
    m = v < 0
    if m.any():
        ax.scatter(x[m], y[m], s=3, color="0.6", label=f"none: {int(m.sum())}")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7, markerscale=2.5, framealpha=0.8)


def analyse(atoms):
    """Sublattices, neighbourhoods (the first closed shell), site classes,
    phases; returns the neighbourhoods and the table with the new columns."""
    atoms = atoms.label_sublattices(2, column="amplitude")
    x, y = atoms.get_pixel_positions()
    k, _ = shell_count(x, y)
    nb = atoms.get_neighbourhoods(n_neighbours=k)
    result = nb.find_site_classes()
    print(f"  {result.n_classes} site classes: {result.reason[:160]}...")
    table = nb.find_phases()
    md = nb.metadata.AtomNeighbourhoods.phases.as_dictionary()
    print(f"  {md['n_phases']} phase(s): {md['reason']}")
    for p in md["phases"]:
        print("   ", p["description"])
    for c in md["site_classes"]:
        print("   ", c["description"])
    for g in md["variant_groups"]:
        print("    variants:", g["site_classes"], "operations:", g["operations"])
    return nb, table


def main():
    args = parse_args(NAME, __doc__.splitlines()[0])
    quiet()
    t = Timer()
    out = args.out

    # ------------------------------------------------- the real interface
    img = pto_sro_interface()
    atoms = img.refine_atoms(img.find_atoms())
    t(f"{atoms.n_atoms} columns found and refined (defaults)")
    nb, table = analyse(atoms)
    t("site classes, phases, symmetry")
    print(nb.get_class_symmetry()[["n_centres", "point_group", "broken"]])

    fig, axes = plt.subplots(2, 1, figsize=(12, 5.8))
    show_image(axes[0], img.data, table.grid)
    dots(axes[0], table, "site_class", "Site classes (type, geometry, brightness)")
    show_image(axes[1], img.data, table.grid)
    dots(axes[1], table, "phase", "Phases: site classes that live together")
    b = table.get_column("phase_boundary") > 0
    axes[1].scatter(
        table.get_column("x")[b],
        table.get_column("y")[b],
        s=16,
        facecolors="none",
        edgecolors="k",
        linewidths=0.6,
    )
    fig.tight_layout()
    save(fig, out, "1_classes_and_phases.png")

    defects = table.get_defects(groups="phase")
    t(f"defects: {defects['type'].value_counts().to_dict()}")
    fig, ax = plt.subplots(figsize=(12, 2.9))
    show_image(ax, img.data, table.grid, title="Defects (red: vacancy) and phases")
    ax.scatter(
        table.get_column("x")[b],
        table.get_column("y")[b],
        s=4,
        color="magenta",
        label="phase boundary atoms",
    )
    v = defects[defects["type"] == "vacancy"]
    ax.scatter(
        v["x"], v["y"], s=60, facecolors="none", edgecolors="red", label="vacancy"
    )
    ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
    save(fig, out, "2_defects.png")

    # ------------------------------- synthetic: four 90-degree polar domains
    H, W = 384, 416
    shifts = np.array([(1.2, 0.0), (0.0, -1.2), (-1.2, 0.0), (0.0, 1.2)])

    def domain(x, y):
        return (x > 0.45 * W).astype(int) + 2 * (y > 0.55 * H).astype(int)

    def displacement(x, y, sub):
        d = shifts[domain(x, y)]
        return np.where(sub == 1, d[:, 0], 0.0), np.where(sub == 1, d[:, 1], 0.0)

    s = synthetic_lattice(
        shape=(H, W),
        spacing=16.0,
        lattice="perovskite",
        sublattice_peaks=(300.0, 150.0),
        displacement=displacement,
        seed=4,
    )
    print("four polar domains (synthetic, B shifted by 1.2 px):")
    nb4, table4 = analyse(s.refine_atoms(s.find_atoms()))
    t("four-domain perovskite analysed")
    group = nb4.metadata.AtomNeighbourhoods.phases.variant_groups[0]
    names = [f"variant {i} ({op})" for i, op in enumerate(group["operations"])]
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    for ax in axes:
        show_image(ax, s.data, table4.grid)
    dots(axes[0], table4, "site_class", "Site classes (A and B of each domain)")
    dots(axes[1], table4, "variant", "Variants of one phase", names=names)
    fig.tight_layout()
    save(fig, out, "3_variants.png")


if __name__ == "__main__":
    main()
