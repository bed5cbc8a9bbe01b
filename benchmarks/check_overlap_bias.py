"""The refinement bias recorded by ``tests/test_properties.py::test_overlap_bias_case``.

The stored scene (``tests/data/refine_overlap_bias_case.npz``: a 5 x 5 square
lattice, spacing 11 px, width 0.25 spacing, peak 142 over 20, Poisson) is
rebuilt noise-free with its lattice continued beyond the frame, then refitted
on 40 Poisson draws with ``refine_gaussians`` (defaults, seeded at the truth):
the mean error per inner atom (bias) and the RMS error in units of the
isolated-column Cramér-Rao bound, with the truth atoms only (as the pipeline
fits them) and with the columns outside the frame added as seeds (they fail as
centred outside, and are modelled as context columns), at the window of half
the spacing (6 px); then with the truth atoms only at windows of 5 to 8 px
(the pipeline's first window on the stored image is 5 px: half the found
atoms' median distance, 10.89 px, rounded); and at 5 px with ``widen=True``,
as ``AtomicImage.refine_atoms`` fits by default (the window grown to 2.5
fitted widths, 7 px here, each atom keeping that fit where it converges).

Usage::

    python benchmarks/check_overlap_bias.py
"""

import warnings
from pathlib import Path

import numpy as np

from hyperspy_localcryst.data.synthetic import cramer_rao_bound, render_gaussians
from hyperspy_localcryst.numerics.refinement import refine_gaussians

CASE = Path(__file__).parents[1] / "tests" / "data" / "refine_overlap_bias_case.npz"


def main(n_draws=40):
    warnings.simplefilter("ignore")
    z = np.load(CASE)
    tx, ty, spacing = z["x"], z["y"], float(z["spacing"])
    gx, gy = np.meshgrid(np.arange(-1.0, 70, 11), np.arange(-1.5, 70, 11))
    ex, ey = gx.ravel(), gy.ravel()
    shape = z["image"].shape
    clean = render_gaussians(
        shape, ex, ey, np.full(ex.size, 142.0), float(z["width"]), background=20.0
    )
    print(
        "mean |stored image - rebuilt|:",
        round(float(np.abs(clean - z["image"]).mean()), 2),
        "(Poisson level ~",
        round(float(0.8 * np.sqrt(clean).mean()), 2),
        ")",
    )
    inner = (tx > 15) & (tx < 50) & (ty > 15) & (ty < 50)
    bound = cramer_rao_bound(142.0, 20.0, float(z["width"]), 0.5 * spacing)
    runs = [("truth atoms only", tx, ty, 0.5 * spacing, False)]
    runs += [("with outside", ex, ey, 0.5 * spacing, False)]
    runs += [(f"truth atoms only, window {r} px", tx, ty, r, False) for r in (5, 7, 8)]
    runs += [("truth atoms only, window 5 px widened (default)", tx, ty, 5, True)]
    for label, sx, sy, radius, widen in runs:
        idx = [
            int(np.argmin(np.hypot(sx - a, sy - b)))
            for a, b in zip(tx[inner], ty[inner])
        ]
        errors = []
        for seed in range(n_draws):
            img = np.random.default_rng(seed).poisson(clean).astype(float)
            f = refine_gaussians(
                img, sx.copy(), sy.copy(), radius, warn=False, widen=widen
            )
            errors.append(
                np.r_[f["x"][idx] - tx[inner], f["y"][idx] - ty[inner]] / bound
            )
        e = np.array(errors)
        rms = np.sqrt((e**2).mean(axis=1))
        print(
            f"{label}: bias x {np.round(e[:, :9].mean(0), 1)}, "
            f"bias y {np.round(e[:, 9:].mean(0), 1)} (bound units); RMS median "
            f"{np.median(rms):.2f}, max {rms.max():.2f}"
        )


if __name__ == "__main__":
    main()
