"""Defects on the real images: counts and a figure per file.

The default pipeline of ``localcryst analyse`` up to the sublattices
(``find_atoms()``, ``refine_atoms``, ``label_sublattices(2, column="amplitude")``)
then ``AtomPositions.get_defects()`` with its defaults. Each figure shows the
image with the atoms (small dots), vacancies (red circles), interstitials
(cyan squares) and dislocations (yellow arrows along b, scaled x3).

Usage::

    python benchmarks/check_defects_real.py OUT_DIR [DATA_DIR]
"""

import sys
import time
import warnings
from pathlib import Path

import hyperspy.api as hs
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FILES = {
    "MoS2_Se": "MoS2_Se-implanted_monolayer_HAADF_60kV.dm3",
    "SrTiO3": "SrTiO3_HAADF_TitanCubed80kV.emi",
    "PTO_SRO": "PbTiO3-SrRuO3_interface_HAADF.hspy",
}


def run(path, out, name):
    s = hs.load(path, signal_type="atomic_image")
    t0 = time.perf_counter()
    atoms = s.refine_atoms(s.find_atoms())
    atoms = atoms.label_sublattices(2, column="amplitude")
    t1 = time.perf_counter()
    df = atoms.get_defects()
    t2 = time.perf_counter()
    counts = df["type"].value_counts().to_dict()
    print(
        f"{name}: {atoms.n_atoms} atoms, {counts or 'no defects'}; vectors "
        f"{np.round(df.attrs['vectors'][0], 4).tolist()} {df.attrs['units']}; "
        f"find+refine+label {t1 - t0:.1f} s, defects {t2 - t1:.2f} s"
    )
    dis = df[df["type"] == "dislocation"]
    for _, r in dis.iterrows():
        print(
            f"  dislocation at ({r.x:.3f}, {r.y:.3f}) b = ({r.burgers_x:.4f}, "
            f"{r.burgers_y:.4f}) {df.attrs['units']}"
        )
    ax_x, ax_y = s.axes_manager.signal_axes
    ext = [
        ax_x.offset - 0.5 * ax_x.scale,
        ax_x.offset + (ax_x.size - 0.5) * ax_x.scale,
        ax_y.offset + (ax_y.size - 0.5) * ax_y.scale,
        ax_y.offset - 0.5 * ax_y.scale,
    ]
    h, w = s.data.shape
    fig, ax = plt.subplots(figsize=(12, 12 * h / w + 0.5))
    ax.imshow(s.data, cmap="gray", extent=ext)
    ax.plot(atoms.get_column("x"), atoms.get_column("y"), ".", ms=1.5, c="lime")
    v = df[df["type"] == "vacancy"]
    ax.plot(v["x"], v["y"], "o", mfc="none", mec="red", ms=9, mew=1.5)
    i = df[df["type"] == "interstitial"]
    ax.plot(i["x"], i["y"], "s", mfc="none", mec="cyan", ms=9, mew=1.5)
    if len(dis):
        ax.quiver(
            dis["x"],
            dis["y"],
            3 * dis["burgers_x"],
            3 * dis["burgers_y"],
            color="yellow",
            angles="xy",
            scale_units="xy",
            scale=1,
            width=0.004,
        )
    ax.set_title(f"{name}: {counts}")
    fig.tight_layout()
    fig.savefig(out / f"defects_{name}.png", dpi=110)
    plt.close(fig)
    df.to_csv(out / f"defects_{name}.csv", index=False)


def main(out, data):
    warnings.simplefilter("ignore")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, f in FILES.items():
        run(Path(data) / f, out, name)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "/work/shared/data/real")
