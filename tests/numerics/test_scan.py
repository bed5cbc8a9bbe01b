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

from .._helpers import calibrated_image


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


def _scanned(v, line_time, bottom_up=False, shape=(200, 220), scale=0.02):
    """A square lattice (16 px, turned by 12 deg) scanned row by row while
    the specimen drifts by ``v`` (nm/s): row ``r`` is recorded at
    ``r * line_time`` (``(H - 1 - r) * line_time`` bottom-up) and shows the
    lattice moved by ``v`` times that time; Poisson noise."""

    from hyperspy_localcryst.data.synthetic.lattices import render_gaussians

    _, truth = synthetic_lattice(
        shape=shape, spacing=16, rotation=12, seed=0, return_truth=True
    )
    x0, y0, amp = truth["x_px"], truth["y_px"], truth["amplitude"]
    v_px = np.asarray(v) / scale
    img = np.empty(shape)
    for r in range(shape[0]):
        t = ((shape[0] - 1 - r) if bottom_up else r) * line_time
        frame = render_gaussians(
            shape, x0 + v_px[0] * t, y0 + v_px[1] * t, amp, 2.0, background=20
        )
        img[r] = frame[r]
    s = calibrated_image(np.random.default_rng(5).poisson(img).astype(float), scale)
    return s


def test_drift_velocity_from_a_scan_recorded_row_by_row():
    """The drift (+0.03, -0.02) nm/s of a scan rendered row by row (each
    row the lattice at its own time; 10 ms a row, 0.02 nm pixels) comes
    back from the file's line time (Velox keys, kept by find_atoms) within
    2 % of its size on each axis (measured: 0.5 %); the same scan recorded
    bottom-up gives the same drift only when the timing says so (the wrong
    direction flips the sign); a line time given by hand overrides the
    file's."""
    v, lt = np.array([0.03, -0.02]), 0.01
    image = _scanned(v, lt)
    image.original_metadata.set_item("Scan.LineTime", lt)
    image.original_metadata.set_item("Scan.FrameTime", lt * 200)
    assert image.get_scan_timing()["source"] == "Velox Scan.LineTime"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = image.refine_atoms(image.find_atoms())
    assert atoms.metadata.Source.scan.line_time == lt
    d = atoms.estimate_scan_distortion()
    tol = 0.02 * np.hypot(*v)
    np.testing.assert_allclose(d["drift"], v, atol=tol)
    np.testing.assert_allclose(d["drift_per_frame"], v * lt * 200, atol=tol * 2)
    assert d["line_time"] == lt and d["timing_source"] == "Velox Scan.LineTime"
    # by hand: twice the line time halves the drift
    d2 = atoms.estimate_scan_distortion(scan_timing=2 * lt)
    np.testing.assert_allclose(d2["drift"], d["drift"] / 2, rtol=1e-12)
    # bottom-up
    up = _scanned(v, lt, bottom_up=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = up.refine_atoms(up.find_atoms())
    assert "scan" not in atoms.metadata.Source  # no timing in this file
    assert "drift" not in atoms.estimate_scan_distortion()
    timing = {"line_time": lt, "slow_direction": -1}
    d = atoms.estimate_scan_distortion(scan_timing=timing)
    np.testing.assert_allclose(d["drift"], v, atol=tol)
    wrong = atoms.estimate_scan_distortion(scan_timing=lt)
    np.testing.assert_allclose(wrong["drift"], -v, atol=2 * tol)
    with pytest.raises(ValueError, match="line_time"):
        atoms.estimate_scan_distortion(scan_timing={"frame_time": 1.0})
    with pytest.raises(ValueError, match="scan_timing"):
        atoms.estimate_scan_distortion(scan_timing=-1.0)


@pytest.mark.parametrize(
    "om,md,want",
    [
        (
            {"Scan": {"LineTime": 0.0025, "DwellTime": 8e-7, "FrameTime": 5.1}},
            {},
            (0.0025, 5.1, 8e-7, 1),
        ),
        (  # DigiScan: 100 px x 30 us + 400 us flyback, over 80 rows
            {
                "ImageList": {
                    "TagGroup0": {
                        "ImageTags": {
                            "DigiScan": {"Sample Time": 30.0, "Flyback": 400.0}
                        }
                    }
                }
            },
            {},
            (0.0034, 0.272, 3e-5, 1),
        ),
        (  # TIA: frame time over 80 rows
            {"ObjectInfo": {"AcquireInfo": {"FrameTime": 8.0, "DwellTimePath": 9e-5}}},
            {},
            (0.1, 8.0, 9e-5, 1),
        ),
        (  # Nanonis: forward and backward pass for each row, scanned up
            {"nanonis_sxm_header": {"scan_time": [0.5, 0.25], "scan_dir": "up"}},
            {},
            (0.75, 60.0, 0.005, -1),
        ),
        (  # HyperSpy's dwell time only: no flyback known
            {},
            {"Acquisition_instrument": {"TEM": {"dwell_time": 2e-6}}},
            (2e-4, 0.016, 2e-6, 1),
        ),
    ],
)
def test_scan_timing_of_each_vendor(om, md, want):
    """Each vendor's keys (100 px x 80 rows) give the line time, frame
    time, dwell and row order computed by hand in the comments."""
    from hyperspy_localcryst.signals.image.scan_timing import read_scan_timing

    t = read_scan_timing(om, md, 100, 80)
    got = (t["line_time"], t["frame_time"], t["dwell_time"], t["slow_direction"])
    np.testing.assert_allclose(got[:3], want[:3], rtol=1e-12)
    assert got[3] == want[3]
    assert read_scan_timing({"Scan": {"LineTime": "n/a"}}, {}, 100, 80) == {}
