"""Spectrum images and libraries against known truth: the numbers of issue 5.

Run from the repository root: ``python benchmarks/truth_spectra.py``

Uses the synthetic cases of ``tests/signals/test_spectra.py`` and
``tests/test_library.py``
(the tests assert thresholds; this prints the measured values):

1. atom -> SI pixel mapping error (max over matched atoms, SI pixels) for an
   offset SI and SIs turned by 17 and -35 degrees (region and rotation given);
2. correlation of the per-sublattice mean spectra with the true site spectra;
3. unknown rotation and drift estimated from the simultaneous HAADF
   (``estimate_si_registration``, full 360 degree search): angle and drift
   errors, mapping error after registration, time;
4. library built on one two-phase image, applied to a second one (other
   field of view, 23 degree rotation, dose, noise): adjusted Rand index on the
   bulk atoms, fraction of boundary atoms called unknown, fraction of an
   unseen (rectangular) phase called unknown.
"""

import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.simplefilter("ignore")

from sklearn.metrics import adjusted_rand_score  # noqa: E402

from hyperspy_localcryst.data.synthetic import (  # noqa: E402
    make_spectrum_image_pair,
    two_phase_positions,
)
from hyperspy_localcryst.signals.si_registration import (  # noqa: E402
    estimate_si_registration,
)
from tests import test_library as tl  # noqa: E402
from tests.signals import test_spectra as ts  # noqa: E402


def _mapping_error(atoms, r, t):
    ok, k = ts._match(*atoms.get_pixel_positions(), t["x"], t["y"])
    ok &= r.get_column("in_si").astype(bool)
    return float(
        np.hypot(
            r.get_column("si_x")[ok] - t["si_x"][k[ok]],
            r.get_column("si_y")[ok] - t["si_y"][k[ok]],
        ).max()
    ), int(ok.sum())


def mapping_and_spectra():
    print("1-2. mapping (region and rotation given) and sublattice spectra")
    for name in ts.CASES:
        p = ts._make_pair(name)
        atoms, si, t = p["atoms"], p["si"], p["truth"]
        r = atoms.register_to_spectrum_image(
            si, region=p["region"], rotation=p["rotation"]
        )
        err, n = _mapping_error(atoms, r, t)
        m = atoms.get_class_spectra(
            si, "sublattice", region=p["region"], rotation=p["rotation"]
        )
        corr = [np.corrcoef(m.data[c], t["site_spectra"][c])[0, 1] for c in range(2)]
        print(
            f"  {name:15s} rotation {p['rotation']:6.1f} deg: max mapping error "
            f"{err:.3f} SI px ({n} atoms in the SI); site spectra correlation "
            f"{corr[0]:.4f}, {corr[1]:.4f}"
        )


def registration():
    print("3. unknown rotation + drift (3, -2) survey px, full 360 deg search")
    x, y, phase = two_phase_positions((192, 192), spacing=14.0, seed=0)
    site = (np.asarray(phase) > 0).astype(int)
    region = (50.5, 40.5, 140.5, 150.5)
    drift = np.array([3.0, -2.0])
    for rotation in (-35.0, 0.0, 17.0, 120.0):
        survey, si, t = make_spectrum_image_pair(
            shape=(192, 192),
            si_shape=(36, 30),
            si_region=tuple(np.add(region, np.tile(drift, 2))),
            si_rotation=rotation,
            positions=(x, y, site),
            seed=1,
        )
        img = ts._survey_signal(survey)
        atoms = img.find_atoms()
        si = ts._si_signal(si, t["energy"])
        cal = tuple(v * ts.SCALE for v in region)
        t0 = time.perf_counter()
        reg = estimate_si_registration(atoms, img, t["haadf"], si, region=cal)
        dt = time.perf_counter() - t0
        r = atoms.register_to_spectrum_image(
            si, region=cal, rotation=reg["rotation"], shift=reg["shift"]
        )
        err, n = _mapping_error(atoms, r, t)
        d = np.array(reg["shift"]) / ts.SCALE - drift
        print(
            f"  true {rotation:6.1f} deg: found {reg['rotation']:8.3f} deg, drift "
            f"error ({d[0]:+.3f}, {d[1]:+.3f}) px, correlation {reg['score']:.3f}, "
            f"max mapping error {err:.3f} SI px ({n} atoms), {dt:.2f} s"
        )


def library():
    print("4. library: second image (23 deg, other FoV, dose, noise), unseen phase")
    for scaling in ("none", "nn"):
        lib, _ = tl._library(scaling)
        atoms, x, y, lab = tl._two_phase((224, 288), 23.0, 7, 100.0)
        res = lib.classify(atoms)
        cls = res.get_column("class").astype(int)
        t = tl._truth(res, x, y, lab)
        bulk = (t == 0) | (t == 1)
        truth_names = np.array(["square", "hexagonal"])[t[bulk]]
        pred = np.array(lib.names + ["unknown"])[cls[bulk]]
        ari = adjusted_rand_score(truth_names, pred)
        unseen = lib.classify(tl._unseen_phase()).metadata.Classification
        print(
            f"  scaling {scaling!r}: ARI {ari:.3f} on {bulk.sum()} bulk atoms, "
            f"accuracy {np.mean(truth_names == pred):.3f}, boundary atoms unknown "
            f"{np.mean(cls[t == 2] == -1):.2f}, unseen phase unknown "
            f"{unseen.fractions[-1]:.2f}"
        )


if __name__ == "__main__":
    mapping_and_spectra()
    registration()
    library()
