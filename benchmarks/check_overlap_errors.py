"""Reported position errors against the scatter, for columns of growing width.

Poisson lattices (``make_lattice_image``: 96 x 96 px, spacing 12 px, peak 200
over 50, 8 seeds) whose columns are 0.25 to 0.5 of the spacing wide, found
with the spacing given and refined by ``AtomicImage.refine_atoms``, with the
default window (half the nearest-neighbour distance, grown to 2.5 fitted
widths where that holds fewer) and with a fixed window of half the spacing.
Prints, per width and window: the windows used, the scatter of the inner
atoms over their median reported error in x and y, and the RMS error. The
numbers recorded at ``OVERLAP_WARNING`` (``signals/atomic_image.py``) and in
``tests/numerics/test_error_bars.py`` come from this script.

Usage::

    python benchmarks/check_overlap_errors.py
"""

import warnings

import numpy as np

from hyperspy_localcryst.data.synthetic import make_lattice_image
from hyperspy_localcryst.signals.atomic_image import AtomicImage


def main(n_seeds=8):
    for ratio in (0.25, 0.30, 0.36, 0.42, 0.5):
        for radius in (None, 6.0):
            dx, dy, ex, ey, fr = [], [], [], [], []
            for seed in range(n_seeds):
                img, t = make_lattice_image(
                    (96, 96),
                    spacing=12,
                    sigma=12 * ratio,
                    peak=200,
                    background=50,
                    seed=seed,
                    noise="poisson",
                )
                s = AtomicImage(img)
                atoms = s.find_atoms(separation=12.0)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fit = s.refine_atoms(atoms, radius=radius)
                x, y = fit.get_pixel_positions()
                ok = fit.get_column("converged") == 1
                inner = ok & (x > 20) & (x < 76) & (y > 20) & (y < 76)
                d = np.hypot(x[inner, None] - t["x"], y[inner, None] - t["y"])
                k = np.argmin(d, 1)
                dx.append(x[inner] - t["x"][k])
                dy.append(y[inner] - t["y"][k])
                ex.append(fit.get_column("x_err")[inner])
                ey.append(fit.get_column("y_err")[inner])
                fr.append(fit.get_column("fit_radius")[inner])
            dx, dy, ex, ey = map(np.concatenate, (dx, dy, ex, ey))
            window = "default" if radius is None else f"{radius:g} px"
            print(
                f"width {ratio:.2f} spacing, window {window} "
                f"(used {np.unique(np.concatenate(fr)).tolist()} px): scatter / "
                f"error x {np.std(dx) / np.median(ex):.3f}, "
                f"y {np.std(dy) / np.median(ey):.3f}; "
                f"RMS error {np.sqrt(np.mean(dx**2 + dy**2) / 2):.4f} px"
            )


if __name__ == "__main__":
    main()
