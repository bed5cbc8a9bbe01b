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

import argparse
import logging
import time
import warnings
from pathlib import Path

import hyperspy.api as hs
import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from hyperspy_localcryst.data import pto_sro_interface, synthetic_lattice
from hyperspy_localcryst.numerics.neighbourhoods import shell_count

NAME = "phases_symmetry_defects"


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


def save(fig, out, name):
    """Save a figure as PNG in ``out`` and close it."""
    path = Path(out) / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"  wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return path


def dots(ax, table, column, title, names=None):
    """Atoms coloured by an integer column (-1 grey), with a legend."""
    v = table.get_column(column).astype(int)
    x, y = table.get_column("x"), table.get_column("y")
    n = int(v.max()) + 1
    # matplotlib's tab10 without its grey, as the package's figures (grey: -1)
    tab10 = [c for i, c in enumerate(matplotlib.colormaps["tab10"].colors) if i != 7]
    colours = [tab10[i % len(tab10)] for i in range(max(n, 1))]
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
    args = parse_args(__doc__.splitlines()[0])
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
