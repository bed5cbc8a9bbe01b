"""Defect identification on held-out synthetic scenes, through the default pipeline.

Each scene: an oblique cell not used by the tests (v1 = (12.5, -1.2),
v2 = (4.0, 13.0) px), about 40 x 40 cells on a non-square image, an edge
dislocation with the isotropic elastic field (Poisson ratio 0.3) about a core
placed at random (off every site), Burgers vector one lattice vector (a
different one per seed), 1.5 % of the sites removed at random; columns are
round Gaussians (sigma 2.3 px, peak 200 (or ``peak``) over 20 counts,
Poisson noise). The
atoms come from ``AtomicImage.find_atoms()`` then ``refine_atoms`` (defaults)
and the defects from ``AtomPositions.get_defects()`` (defaults). Reported per
noise seed: vacancy recall and precision (matched within 0.3 of the shortest
translation), the number of dislocations, the core error in cells (of the
mean cell length), ``|b_found| / |b_true|``, whether ``b`` has the true sign
(``b_found . b_true > 0``), the false interstitials and antiphase-boundary
points (one crystal: none); then a perfect
lattice and a lattice with a smooth 3 % strain gradient (no defect expected);
and a two-site cell (A + B at the centre, B at 0.4 of A's peak) with
vacancies on both sites and b = v1, labelled by ``label_sublattices(2)``.

Usage::

    python benchmarks/check_defects.py [n_seeds [peak]]
"""

import sys
import time
import warnings

import hyperspy.api as hs
import numpy as np
from scipy.spatial import cKDTree

from hyperspy_localcryst.data.synthetic import (
    dislocation_positions,
    render_gaussians,
)

V = np.array([[12.5, -1.2], [4.0, 13.0]])
SHAPE = (540, 600)
BURGERS = [(1, 0), (0, 1), (-1, 0), (1, -1), (0, -1), (-1, 1)]


def _image(x, y, seed, peak=200.0):
    clean = render_gaussians(SHAPE, x, y, peak, 2.3, background=20.0)
    img = np.random.default_rng(1000 + seed).poisson(clean).astype(float)
    s = hs.signals.Signal2D(img)
    s.set_signal_type("atomic_image")
    return s


def _defects(s):
    atoms = s.refine_atoms(s.find_atoms())
    return atoms, atoms.get_defects()


def _scene(seed):
    rng = np.random.default_rng(seed)
    core = np.array([SHAPE[1], SHAPE[0]]) * rng.uniform(0.3, 0.7, 2)
    burgers = BURGERS[seed % len(BURGERS)]
    t = dislocation_positions(
        SHAPE,
        V,
        burgers=burgers,
        core=tuple(core),
        vacancy_fraction=0.015,
        margin=7.0,
        seed=seed,
    )
    return t, burgers


def main(n_seeds=6, peak=200.0):
    warnings.simplefilter("ignore")
    spacing = float(np.hypot(*V.T).min())
    cell = float(np.hypot(*V.T).mean())
    print(f"peak {peak:g} counts over a background of 20 (Poisson)")
    print(
        "seed  burgers  atoms  vac_true  vac_found  recall  precision  "
        "n_disl  core_err_cells  |b|/|b_true|  sign_ok  interstitials  apb  seconds"
    )
    rows = []
    for seed in range(n_seeds):
        t, burgers = _scene(seed)
        t0 = time.perf_counter()
        atoms, df = _defects(_image(t["x"], t["y"], seed, peak))
        dt = time.perf_counter() - t0
        vac = df[df["type"] == "vacancy"]
        truth = np.column_stack([t["vacancy_x"], t["vacancy_y"]])
        found = vac[["x", "y"]].to_numpy()
        rec = float(np.mean(cKDTree(found).query(truth)[0] < 0.3 * spacing))
        prec = float(np.mean(cKDTree(truth).query(found)[0] < 0.3 * spacing))
        dis = df[df["type"] == "dislocation"]
        err = ratio = np.nan
        sign = False
        if len(dis):
            k = int(
                np.argmin(np.hypot(dis["x"] - t["core"][0], dis["y"] - t["core"][1]))
            )
            err = float(
                np.hypot(
                    dis["x"].iloc[k] - t["core"][0], dis["y"].iloc[k] - t["core"][1]
                )
                / cell
            )
            b = dis[["burgers_x", "burgers_y"]].to_numpy()[k]
            ratio = float(np.hypot(*b) / np.hypot(*t["burgers"]))
            sign = bool(b @ t["burgers"] > 0)
        n_int = int((df["type"] == "interstitial").sum())
        n_apb = int((df["type"] == "antiphase_boundary").sum())  # none: one domain
        rows.append((rec, prec, len(dis), err, ratio, sign, n_int))
        print(
            f"{seed:4d}  {str(burgers):8s} {atoms.n_atoms:6d}  {truth.shape[0]:8d}  "
            f"{len(found):9d}  {rec:6.3f}  {prec:9.3f}  {len(dis):6d}  "
            f"{err:14.2f}  {ratio:12.3f}  {str(sign):7s}  {n_int:13d}  {n_apb:3d}  "
            f"{dt:7.1f}"
        )
    r = np.array(rows, dtype=float)
    print(
        f"mean over {n_seeds} seeds: recall {r[:, 0].mean():.3f} (min "
        f"{r[:, 0].min():.3f}), precision {r[:, 1].mean():.3f} (min "
        f"{r[:, 1].min():.3f}), exactly one dislocation in "
        f"{int(np.sum(r[:, 2] == 1))}/{n_seeds}, core error max "
        f"{np.nanmax(r[:, 3]):.2f} cells, |b|/|b_true| {np.nanmin(r[:, 4]):.3f} to "
        f"{np.nanmax(r[:, 4]):.3f}, sign right {int(r[:, 5].sum())}/{n_seeds}"
    )
    two_site(n_seeds, peak)
    for name, strain in (("perfect", 0.0), ("3 % strain gradient", 0.03)):
        t = dislocation_positions(SHAPE, V, burgers=None, margin=7.0)
        x, y = t["x"], t["y"]
        x, y = x + strain * x**2 / (2 * SHAPE[1]), y + strain * x * y / SHAPE[1]
        keep = (x <= SHAPE[1] - 8) & (y <= SHAPE[0] - 8)
        _, df = _defects(_image(x[keep], y[keep], 99))
        counts = df["type"].value_counts().to_dict()
        print(f"{name}: {counts or 'no defects'}")


def two_site(n_seeds, peak):
    """A + B (B at the cell centre, 0.4 of A's peak), vacancies on both,
    b = v1, through find/refine/label_sublattices(2)/get_defects."""
    p = np.array([[16.0, 0.8], [-0.6, 17.5]])
    print(
        "two-site cell: seed  vac_A recall  vac_B recall  precision  n_disl  "
        "core_err_cells  b (px)  true b"
    )
    for seed in range(n_seeds):
        rng = np.random.default_rng(50 + seed)
        core = np.array([SHAPE[1], SHAPE[0]]) * rng.uniform(0.3, 0.7, 2)
        t = dislocation_positions(
            SHAPE,
            p,
            burgers=(1, 0),
            core=tuple(core),
            basis=((0.0, 0.0), (0.5, 0.5)),
            vacancy_fraction=0.015,
            margin=9.0,
            seed=50 + seed,
        )
        amp = np.where(t["site"] == 0, peak, 0.4 * peak)
        clean = render_gaussians(SHAPE, t["x"], t["y"], amp, 2.3, background=20.0)
        img = np.random.default_rng(2000 + seed).poisson(clean).astype(float)
        s = hs.signals.Signal2D(img)
        s.set_signal_type("atomic_image")
        atoms = s.refine_atoms(s.find_atoms())
        atoms = atoms.label_sublattices(2, column="amplitude")
        df = atoms.get_defects()
        vac = df[df["type"] == "vacancy"][["x", "y"]].to_numpy()
        tol = 0.3 * 16.0
        rec = []
        for site in (0, 1):
            on = t["vacancy_site"] == site
            tr = np.column_stack([t["vacancy_x"][on], t["vacancy_y"][on]])
            rec.append(float(np.mean(cKDTree(vac).query(tr)[0] < tol)))
        tr = np.column_stack([t["vacancy_x"], t["vacancy_y"]])
        prec = float(np.mean(cKDTree(tr).query(vac)[0] < tol))
        dis = df[df["type"] == "dislocation"]
        err = np.nan
        b = []
        if len(dis):
            err = float(
                np.hypot(dis["x"] - t["core"][0], dis["y"] - t["core"][1]).min()
                / np.hypot(*p.T).mean()
            )
            b = np.round(dis[["burgers_x", "burgers_y"]].to_numpy(), 2).tolist()
        print(
            f"{seed:18d}  {rec[0]:12.3f}  {rec[1]:12.3f}  {prec:9.3f}  "
            f"{len(dis):6d}  {err:14.2f}  {b}  {t['burgers'].tolist()}"
        )


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 6,
        float(sys.argv[2]) if len(sys.argv) > 2 else 200.0,
    )
