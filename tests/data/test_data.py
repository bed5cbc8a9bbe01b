"""hyperspy_localcryst.data: the bundled image and the synthetic generators."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from hyperspy_localcryst.data import (
    pto_sro_interface,
    synthetic_lattice,
    synthetic_series,
    synthetic_two_phase,
)
from hyperspy_localcryst.signals.atomic_image import AtomicImage


def _matched(found_x, found_y, true_x, true_y, radius):
    d, _ = cKDTree(np.column_stack([found_x, found_y])).query(
        np.column_stack([true_x, true_y])
    )
    return d < radius


def test_bundled_image_is_calibrated():
    s = pto_sro_interface()
    assert isinstance(s, AtomicImage)
    ax = s.axes_manager.signal_axes
    assert ax[0].units == ax[1].units == "nm"
    assert ax[0].scale == pytest.approx(ax[1].scale)
    assert 0.01 < ax[0].scale < 0.02


def test_two_phase_truth_matches_what_is_found():
    s, truth = synthetic_two_phase(
        (256, 256), spacing=16, rotation=12, seed=1, return_truth=True
    )
    assert s.axes_manager.signal_axes[0].units == "nm"
    assert set(truth["phase"].tolist()) == {0, 1, 2}
    np.testing.assert_allclose(truth["x"], truth["x_px"] * 0.01)
    atoms = s.find_atoms(separation=0.16)
    inside = (truth["x_px"] > 8) & (truth["x_px"] < 248)
    inside &= (truth["y_px"] > 8) & (truth["y_px"] < 248)
    ok = _matched(
        atoms.get_column("x"),
        atoms.get_column("y"),
        truth["x"][inside],
        truth["y"][inside],
        0.02,
    )
    assert ok.mean() > 0.97
    with pytest.raises(ValueError, match="noise"):
        synthetic_two_phase((64, 64), noise="speckle")


def test_series_has_a_time_axis_and_truth_per_frame():
    s, truth = synthetic_series(
        n_frames=4, shape=(96, 96), frame_time=0.5, seed=2, return_truth=True
    )
    t = s.axes_manager.navigation_axes[0]
    assert (t.name, t.units, t.scale, t.size) == ("time", "s", 0.5, 4)
    assert truth["x"].shape[0] == 4
    np.testing.assert_allclose(truth["shifts"][1], (0.37, -0.23), atol=1e-12)


def test_synthetic_lattice_is_reproducible():
    a = synthetic_lattice(shape=(64, 64), seed=3)
    b = synthetic_lattice(shape=(64, 64), seed=3)
    np.testing.assert_array_equal(a.data, b.data)
