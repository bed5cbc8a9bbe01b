"""How ``contrast="auto"`` decides, image by image: the indicators of both tests.

For synthetic lattices (square and hexagonal, column width 2, 3 and 4 px at a
16 px spacing, bright and dark, Poisson at peak 200 and 20 over 20 with a 1.5x
gradient; noise-free and reversed-Poisson dark lattices), the simulated corpus
(``tests/data/corpus``), Atomap's ADF/ABF pair (``tests/data``), the real files
of ``../shared/data/real`` (when present) and pure Poisson noise, this prints
the separation, the decision of
:func:`hyperspy_localcryst.numerics.detection.decide_contrast` as
``find_atoms`` calls it (outliers replaced, the frame scaled by a power of
two, the column width of the separation) and its four indicators, and marks
every decision that differs from the known contrast with ``<-- WRONG``.

Usage (from the repository root)::

    python benchmarks/check_contrast.py [--real DIR]

See ``docs/user_guide/finding.md`` ("Contrast") for the rule; the thresholds
quoted in the docstring of ``decide_contrast`` come from this table.
"""

import argparse
import itertools
import warnings
from pathlib import Path

import hyperspy.api as hs
import numpy as np

from hyperspy_localcryst.data.synthetic import make_lattice_image
from hyperspy_localcryst.numerics import detection
from hyperspy_localcryst.numerics.one_frame import _cleaned, _unit
from hyperspy_localcryst.numerics.separation import estimate_separation

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
REAL = ROOT.parent / "shared" / "data" / "real"


def _first_frame(path, **kwargs):
    if str(path).endswith(".npy"):
        return np.load(path).astype(float)
    s = hs.load(path, **kwargs)
    if isinstance(s, list):
        s = s[0]
    d = np.asarray(s.data, float)
    return d[0] if d.ndim == 3 else d


def synthetic():
    """(name, known contrast, image) of the synthetic lattices."""
    rng = np.random.default_rng(1)
    xx = np.arange(160)[None, :]
    for lat, sig, peak in itertools.product(
        ("square", "hexagonal"), (2, 3, 4), (200, 20)
    ):
        img, _ = make_lattice_image(
            (160, 160), spacing=16, sigma=sig, seed=0, lattice=lat, peak=peak
        )
        grad = 1 + 0.5 * xx / 160
        name = f"{lat} sigma {sig} peak {peak}"
        yield name, "bright", rng.poisson(img * grad).astype(float)
        yield name, "dark", rng.poisson((img.max() - img + 20) * grad).astype(float)
    for lat, sig in itertools.product(("square", "hexagonal"), (2, 3, 4)):
        noisy, _ = make_lattice_image(
            (128, 128), spacing=16, sigma=sig, seed=0, lattice=lat
        )
        yield f"{lat} sigma {sig} reversed Poisson", "dark", noisy.max() - noisy + 50
        clean, _ = make_lattice_image(
            (128, 128), spacing=16, sigma=sig, seed=0, lattice=lat, noise=None
        )
        yield f"{lat} sigma {sig} noise-free", "bright", clean
        yield f"{lat} sigma {sig} noise-free", "dark", clean.max() - clean + 50


def measured(real):
    """(name, known contrast, image) of the corpus, Atomap's pair and the
    real files."""
    for f in sorted((DATA / "corpus").glob("*.npz")):
        c = "dark" if "abf" in f.stem else "bright"
        yield "corpus " + f.stem, c, np.load(f)["image"].astype(float)
    yield (
        "Atomap ADF",
        "bright",
        _first_frame(DATA / "test_ADF_cropped.hdf5", file_format="HSPY"),
    )
    yield (
        "Atomap ABF",
        "dark",
        _first_frame(DATA / "test_ABF_cropped.hdf5", file_format="HSPY"),
    )
    files = [
        ("TTB iDPC", "Ba5SmSn3Nb7O30_TTB_110_iDPC.tif", "bright"),
        ("EELS survey", "EELS_SI_titanate_interface/DMReader_Image_SI-Survey.dm3",
         "bright"),
        ("MoS2 HAADF", "MoS2_Se-implanted_monolayer_HAADF_60kV.dm3", "bright"),
        ("PbTiO3/SrRuO3", "PbTiO3-SrRuO3_interface_HAADF.hspy", "bright"),
        ("SrTiO3 HAADF", "SrTiO3_HAADF_TitanCubed80kV.emi", "bright"),
        ("TiSe2 STM", "STM/TiSe2_STM_topography_Zfwd.hspy", "?"),
        ("Si(111) 7x7 defects", "STM/Si111-7x7_STM_defects_spiepy.npy", "bright"),
        ("Si(111) 7x7 step", "STM/Si111-7x7_STM_step_edge_spiepy.npy", "bright"),
    ]  # fmt: skip
    for name, rel, c in files:
        if (real / rel).exists():
            yield name, c, _first_frame(real / rel)


def noise():
    rng = np.random.default_rng(3)
    for k in range(3):
        yield (
            f"Poisson noise, mean {5 + 20 * k}",
            "bright",
            rng.poisson(5 + 20 * k, (200, 200)).astype(float),
        )


def main(real=REAL):
    warnings.simplefilter("ignore")
    print(f"{'image':40s} {'known':6s} {'sep':>6s} decided  skew  ratio  sharp  band")
    for name, known, img in itertools.chain(synthetic(), measured(Path(real)), noise()):
        try:
            sep = 12.0 if name.startswith("Poisson") else estimate_separation(img)
        except ValueError:
            print(f"{name:40s} {known:6s} separation not found")
            continue
        clean, model, _ = _cleaned(img, True)
        c, info = detection.decide_contrast(
            _unit(clean), detection.column_sigma(sep), model, sep
        )
        flag = "" if known in ("?", c) else "  <-- WRONG"
        print(
            f"{name:40s} {known:6s} {sep:6.2f} {c:7s} {info['skewness']:5.2f} "
            f"{info['extrema_ratio']:6.2f} {info['sharpness_ratio']:6.2f} "
            f"{info['band_skewness']:5.2f}{flag}",
            flush=True,
        )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--real", default=str(REAL), help="folder of the real files")
    main(p.parse_args().real)
