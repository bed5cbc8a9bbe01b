"""Is the "not settled" warning of ``refine_atoms`` true on a real image?

Runs the default ``find_atoms`` -> ``refine_atoms`` (5 passes), notes how many
atoms the warning names, refines the same atoms with 30 passes and counts the
atoms that move by more than their reported error (``hypot(x_err, y_err)``).
A ``.npy`` (STM heights) is levelled by a plane fit first.

Usage::

    python benchmarks/check_settled.py FILE [FILE ...]

Figures of 2026-12-06 are in ``docs/architecture.md`` (refinement).
"""

import re
import sys
import warnings

import hyperspy.api as hs
import numpy as np

from hyperspy_localcryst.signals.atomic_image import AtomicImage


def load(path):
    if path.endswith(".npy"):
        d = np.load(path).astype(float)
        yy, xx = np.mgrid[: d.shape[0], : d.shape[1]]
        a = np.c_[np.ones(d.size), xx.ravel(), yy.ravel()]
        plane = a @ np.linalg.lstsq(a, d.ravel(), rcond=None)[0]
        return AtomicImage(d - plane.reshape(d.shape))
    return hs.load(path, signal_type="atomic_image")


def check(path):
    s = load(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        atoms = s.find_atoms()
        short = s.refine_atoms(atoms)
    said = [str(w.message) for w in caught if "settled" in str(w.message)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        long = s.refine_atoms(atoms, max_passes=30)
    ok = (short.get_column("converged") == 1) & (long.get_column("converged") == 1)
    moved = np.hypot(
        long.get_column("x") - short.get_column("x"),
        long.get_column("y") - short.get_column("y"),
    )[ok]
    err = np.hypot(short.get_column("x_err"), short.get_column("y_err"))[ok]
    named = re.search(r"for (\d+ of \d+)", said[0]).group(1) if said else "none"
    print(
        f"{path.split('/')[-1]}: warning names {named}; 30 passes move "
        f"{int(np.sum(moved > err))} of {int(ok.sum())} by more than their error"
    )


if __name__ == "__main__":
    for p in sys.argv[1:]:
        check(p)
