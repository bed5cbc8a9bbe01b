"""Shared fixtures: headless plotting, small synthetic lattices with truth, data.

Every test that plots runs with the Agg backend (no display). The synthetic
fixtures are cheap (a 128 x 128 image renders in milliseconds) and built
anew for each test, so a test that (wrongly) modified its input cannot leak
into another test.
"""

import pathlib

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from hyperspy_localcryst.data import synthetic_lattice  # noqa: E402

DATA_DIR = pathlib.Path(__file__).resolve().parent / "data"


def real_data_path(name):
    """Path of a file in ``tests/data``; fails the test clearly if missing."""
    path = DATA_DIR / name
    if not path.is_file():
        pytest.fail(f"Test data file {path} is missing (see tests/data/README.md).")
    return path


@pytest.fixture(scope="session")
def real_data():
    """Callable ``real_data(name) -> pathlib.Path`` into ``tests/data``."""
    return real_data_path


@pytest.fixture
def small_lattice():
    """128 x 128 square lattice, spacing 20 px, 0.01 nm/px, Poisson noise.

    Returns ``(signal, truth)``; ``truth`` has ``x``, ``y`` (nm), ``x_px``,
    ``y_px``, ``amplitude`` and ``sublattice``.
    """
    return synthetic_lattice(shape=(128, 128), spacing=20, seed=0, return_truth=True)


@pytest.fixture
def small_perovskite():
    """160 x 160 perovskite lattice (A-B distance 20 px), A bright, B dim."""
    return synthetic_lattice(
        shape=(160, 160),
        spacing=20,
        lattice="perovskite",
        sublattice_peaks=(200, 60),
        seed=1,
        return_truth=True,
    )


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure a test opened."""
    yield
    plt.close("all")


# ---------------------------------------------------------------- hypothesis
# Profiles of the property-based tests (tests/test_properties.py): "default"
# for every suite run, "thorough" (>= 500 examples per property) on demand:
#     HYPOTHESIS_PROFILE=thorough python -m pytest tests/test_properties.py
# deadline=None: a first example compiles numba kernels; derandomize: a run is
# reproducible (and no example database is written into the checkout).
import os  # noqa: E402

from hypothesis import HealthCheck, settings  # noqa: E402

_HYPOTHESIS_COMMON = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
}
settings.register_profile("default", max_examples=50, **_HYPOTHESIS_COMMON)
settings.register_profile("thorough", max_examples=500, **_HYPOTHESIS_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
