"""How often does ``count_classes`` split noise, and what does it find?

Three checks of the default class count (``find_site_classes`` /
``numerics.class_count.count_classes``):

1. false splits: single clouds (Gaussian 250 x 6 and 60 x 8, uniform, one
   uniform axis of +-4 sigma, a linear gradient of +-5 sigma; 20 draws each):
   the fraction given more than one class;
2. power: 1000 rows of 8 dimensions with a fraction (50, 10, 3 %) shifted by
   3, 4 or 6 sigma along one axis (6 draws each): the classes found;
3. the corpus (``tests/data/corpus``): the default pipeline, k = the first
   closed shell, image-frame neighbourhoods, ``find_site_classes``, and the
   adjusted Rand index of the classes against the true site types.

Usage::

    python benchmarks/check_site_classes.py

Figures of 2026-12-06 are in the closing note of that day and in
``docs/user_guide/learning.md``.
"""

import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

from hyperspy_localcryst.numerics.class_count import count_classes

sys.path.insert(0, str(Path(__file__).parent))
import bench_real as br  # noqa: E402


def cloud(kind, n, d, rng):
    X = rng.normal(size=(n, d))
    if kind == "uniform":
        X = rng.uniform(-1, 1, size=(n, d))
    elif kind == "uniform axis":
        X[:, 0] = rng.uniform(-4, 4, n)
    elif kind == "gradient":
        X[:, 0] += np.linspace(-5, 5, n)
    return X


def false_splits():
    for kind, n, d in (
        ("gauss", 250, 6),
        ("gauss", 60, 8),
        ("uniform", 1000, 8),
        ("uniform axis", 1000, 8),
        ("gradient", 1000, 8),
    ):
        split = [
            count_classes(cloud(kind, n, d, np.random.default_rng(s)), seed=s).n_classes
            > 1
            for s in range(20)
        ]
        print(f"{kind:13s} {n:5d} x {d:2d}: split in {np.mean(split):.0%} of 20")


def power():
    for sep in (3, 4, 6):
        for frac in (0.5, 0.1, 0.03):
            ks = []
            for s in range(6):
                X = np.random.default_rng(s).normal(size=(1000, 8))
                X[: int(1000 * frac), 0] += sep
                ks.append(count_classes(X, seed=s).n_classes)
            print(f"shift {sep} sigma, {frac:4.0%} of rows: classes {ks}")


def corpus():
    for name in br.corpus_scenes():
        image, _, meta = br.load_scene(name)
        atoms, _ = br.run_defaults(br.scene_signal(image, meta), 2)
        xy, _, _ = br.atom_arrays(atoms)
        k, closed, nb, found = br.default_classes(atoms)
        txy, site, _ = br.truth_arrays(meta)
        ci = nb.centre_indices
        d = np.hypot(*(txy[:, None] - txy[None]).transpose(2, 0, 1))
        nn = np.median(np.sort(d, axis=1)[:, 1])
        i, j = br.match(txy, xy[ci], 0.3 * nn)
        ari = adjusted_rand_score(site[i], found.labels[j])
        print(
            f"{name:26s} k={k}{'' if closed else ' (open)'} centres={len(ci)} "
            f"classes={found.n_classes} sites={sorted(set(site[i].tolist()))} "
            f"ARI={ari:.3f}"
        )


if __name__ == "__main__":
    false_splits()
    power()
    corpus()
