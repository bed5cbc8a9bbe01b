"""Scan distortion from the image's own lattice (issue 20, point 6).

Truth: a cell of known shape, turned by an odd angle, distorted by a drift
matrix D = [[1, s], [0, m]] written down here; the estimate must give s and
m back, the corrected positions the undistorted truth, and the resampled
image atoms where the corrected table puts them."""

import warnings

import numpy as np
import pytest
from scipy.spatial import cKDTree

from hyperspy_localcryst.data import synthetic_lattice
from hyperspy_localcryst.numerics import scan


def _rot(deg):
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


@pytest.mark.parametrize(
    "ratio,angle,turn,s,m",
    [
        (1.0, 90.0, 23.0, -0.025, 1.04),
        (1.3, 90.0, -8.0, 0.04, 0.95),
        (1.0, 120.0, 11.0, 0.015, 1.02),
    ],
)
def test_exact_shear_and_scale(ratio, angle, turn, s, m):
    g = np.deg2rad(angle)
    true = np.array([[1.0, 0.0], [ratio * np.cos(g), ratio * np.sin(g)]]) * 12.0
    true = true @ _rot(turn).T
    D = np.array([[1.0, s], [0.0, m]])
    r = scan.scan_distortion(true @ D.T, ratio=ratio, angle=angle)
    assert r["shear"] == pytest.approx(s, abs=1e-8)
    assert r["slow_scale"] == pytest.approx(m, abs=1e-8)
    np.testing.assert_allclose(r["vectors"], true, atol=1e-7)
    assert r["gamma"] == pytest.approx(angle, abs=1e-6)
    assert r["b"] / r["a"] == pytest.approx(ratio, abs=1e-8)


def test_correct_positions_and_bad_input():
    C = np.linalg.inv([[1.0, 0.1], [0.0, 0.9]])
    x, y = np.array([3.0, -1.0]), np.array([2.0, 5.0])
    got = scan.correct_positions(x, y, C, origin=(1.0, 2.0))
    want = (C @ np.vstack([x - 1.0, y - 2.0])) + [[1.0], [2.0]]
    np.testing.assert_allclose(np.vstack(got), want)
    with pytest.raises(ValueError, match="collinear"):
        scan.scan_distortion([[1, 0], [2, 0]])
    with pytest.raises(ValueError, match="between 0 and 180"):
        scan.scan_distortion([[1, 0], [0, 1]], angle=200)


def test_signal_estimate_correct_and_resample():
    """A drifting scan (s = 0.02, m = 0.97) of a square lattice turned by 12
    deg, Poisson noise: s and m within 0.002, the corrected positions within
    0.12 px RMS of the undistorted truth, and the atoms found on the
    resampled image within 0.15 px of the corrected table."""
    s_true, m_true = 0.02, 0.97
    kw = dict(shape=(200, 220), spacing=16, rotation=12, seed=4, return_truth=True)
    image, truth = synthetic_lattice(
        displacement=lambda x, y, s: (s_true * y, (m_true - 1) * y), **kw
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = image.refine_atoms(image.find_atoms())
    d = atoms.estimate_scan_distortion()
    assert d["shear"] == pytest.approx(s_true, abs=2e-3)
    assert d["slow_scale"] == pytest.approx(m_true, abs=2e-3)
    assert d["measured"]["gamma"] != pytest.approx(90, abs=0.5)  # it was distorted
    fixed = atoms.correct_scan_distortion(d)
    assert fixed.metadata.AtomPositions.scan_distortion.shear == d["shear"]
    # the undistorted truth: ideal = D^-1 p (origin at pixel 0)
    D = np.array([[1, s_true], [0, m_true]])
    ideal = np.linalg.solve(D, np.vstack([truth["x_px"], truth["y_px"]])).T
    xp, yp = fixed.get_pixel_positions()
    dist, j = cKDTree(ideal).query(np.c_[xp, yp])
    assert np.sqrt(np.mean(dist**2)) < 0.12
    p = fixed.get_lattice_parameters()
    assert p["gamma"] == pytest.approx(90.0, abs=0.1)
    assert p["b"] / p["a"] == pytest.approx(1.0, abs=2e-3)
    # the image, resampled: its atoms are the corrected table's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = image.correct_scan_distortion(d)
        found = again.refine_atoms(again.find_atoms())
    fx, fy = found.get_pixel_positions()
    dist, _ = cKDTree(np.c_[xp, yp]).query(np.c_[fx, fy])
    inner = (fx > 10) & (fx < 200) & (fy > 10) & (fy < 180)
    assert np.median(dist[inner]) < 0.15
    assert again.metadata.ScanDistortion.slow_scale == d["slow_scale"]
    with pytest.raises(TypeError, match="estimate_scan_distortion"):
        atoms.correct_scan_distortion({"shear": 0.1})
