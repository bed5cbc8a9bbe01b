"""Two phases through the whole default pipeline (issue 19's target).

Two kinds of scene, each through ``report.analyse`` with every default, the
``phase`` column of ``atoms.csv`` against the truth on atoms more than 3
spacings from the boundary (ARI >= 0.95 asked), and the number of site
classes (>= 3 asked for the perovskite):

- square | hexagonal: ``data.synthetic_two_phase`` (spacing 16 px, 448 x
  512), rotated by ``rotation``;
- non-polar | polar perovskite: A 300, B 150 counts over 20, spacing 16 px,
  352 x 448, rotated by ``rotation``, the B columns of the right part (x >
  0.58 of the width) moved by ``shift`` px.

Usage::

    python benchmarks/check_two_phases.py
"""

import numpy as np
from check_variants import analyse, perovskite  # the same scenes and runs
from scipy.spatial import cKDTree
from sklearn.metrics import adjusted_rand_score

from hyperspy_localcryst.data import synthetic_two_phase


def square_hexagonal(rotation, seed):
    s, truth = synthetic_two_phase(
        shape=(448, 512), spacing=16.0, rotation=rotation, seed=seed, return_truth=True
    )
    summary, atoms, x, y, dt = analyse(s)
    scale = s.axes_manager[0].scale
    txy = np.c_[truth["x"], truth["y"]] / scale
    d, j = cKDTree(txy).query(np.c_[x, y])
    lab = np.asarray(truth["phase"])[j]
    phase = atoms["phase"].to_numpy()
    # distance to the boundary: to the nearest true atom of the other phase
    other = {k: cKDTree(txy[np.asarray(truth["phase"]) == k]) for k in np.unique(lab)}
    to_b = np.array(
        [other[1 - k].query(p)[0] if k < 2 else 0 for k, p in zip(lab, np.c_[x, y])]
    )
    keep = (lab < 2) & (phase >= 0) & (to_b > 3 * 16)
    return summary, adjusted_rand_score(lab[keep], phase[keep]), keep.mean(), dt


def perovskite_interface(rotation, shift, seed):
    H, W = 352, 448
    c, s_ = np.cos(np.radians(rotation)), np.sin(np.radians(rotation))

    def polar(x, y):
        return x > 0.58 * W

    def disp(x, y, sub):
        on = polar(x, y) & (sub == 1)
        return np.where(on, shift * c, 0.0), np.where(on, -shift * s_, 0.0)

    summary, atoms, x, y, dt = analyse(perovskite((H, W), disp, rotation, seed))
    phase = atoms["phase"].to_numpy()
    keep = (np.abs(x - 0.58 * W) > 3 * 16) & (phase >= 0)
    ari = adjusted_rand_score(polar(x, y)[keep].astype(int), phase[keep])
    return summary, ari, keep.mean(), dt


def main():
    print("| scene | rotation (deg) | shift (px) | seed | phases | site classes "
          "| ARI away from the boundary | atoms counted | s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for rotation, seed in ((13.0, 3), (0.0, 4), (31.0, 5)):
        summary, ari, frac, dt = square_hexagonal(rotation, seed)
        print(
            f"| square / hexagonal | {rotation} | – | {seed} | {summary['n_phases']} "
            f"| {summary['n_site_classes']} | {ari:.3f} | {frac:.2f} | {dt:.1f} |"
        )
    for rotation, shift, seed in ((0.0, 1.2, 4), (11.0, 1.0, 6), (23.0, 1.5, 7)):
        summary, ari, frac, dt = perovskite_interface(rotation, shift, seed)
        print(
            f"| non-polar / polar perovskite | {rotation} | {shift} | {seed} "
            f"| {summary['n_phases']} | {summary['n_site_classes']} | {ari:.3f} "
            f"| {frac:.2f} | {dt:.1f} |"
        )


if __name__ == "__main__":
    main()
