"""Close columns: the separation estimate targets the smallest column distance,
and the sparse-representation finder separates overlapping columns.

Truth-based: synthetic scenes without symmetry (non-square images, rotated
lattices, unequal amplitudes, random pair orientations), Poisson noise. A
found atom matches a true one when they are mutual nearest neighbours closer
than 0.4 of the smallest true distance.
"""

import numpy as np
import pytest

from hyperspy_localcryst.data import synthetic_lattice
from hyperspy_localcryst.data.synthetic import (
    lattice_positions,
    make_lattice_image,
    render_gaussians,
)
from hyperspy_localcryst.numerics import finding
from hyperspy_localcryst.numerics.separation import (
    estimate_column_width,
    estimate_separation,
)
from hyperspy_localcryst.numerics.sparse import find_atoms_sparse, sparse_deconvolution

from .._helpers import match_one_to_one, near_edge

SHAPE = (176, 208)  # rows, cols: not square


def _complete(fx, fy, tx, ty, shape, tol, edge):
    """(missed interior truth atoms, found interior atoms matching nothing)."""
    t_match, f_matched = match_one_to_one(tx, ty, fx, fy, tol)
    missed = np.sum((t_match < 0) & ~near_edge(tx, ty, shape, edge))
    extra = np.sum(~f_matched & ~near_edge(fx, fy, shape, edge))
    return int(missed), int(extra)


def _dimers(gap_in_sigma, sigma=2.5, spacing=26.0, seed=0):
    """Pairs of columns ``gap_in_sigma`` widths apart (peaks 200 and 140,
    random orientations) on a rotated square lattice of pairs."""
    rng = np.random.default_rng(seed)
    x, y, _ = lattice_positions(SHAPE, spacing, "square", 11.0, margin=-6)
    ang = rng.uniform(0, np.pi, len(x))
    g = 0.5 * gap_in_sigma * sigma
    xs = np.r_[x + g * np.cos(ang), x - g * np.cos(ang)]
    ys = np.r_[y + g * np.sin(ang), y - g * np.sin(ang)]
    amp = np.r_[np.full(len(x), 200.0), np.full(len(x), 140.0)]
    clean = render_gaussians(SHAPE, xs, ys, amp, sigma, background=20.0)
    return rng.poisson(clean).astype(float), xs, ys, 2 * g


def _honeycomb(ratio=0.4, a=24.0, sigma=3.0, rotation=13.0, seed=1):
    """MoS2-like: bright A on a hexagonal lattice, B (``ratio`` as bright) at
    ``a / sqrt(3)`` from A in one of the three directions only."""
    x, y, _ = lattice_positions(SHAPE, a, "hexagonal", rotation, margin=-8)
    d = a / np.sqrt(3)
    # the lattice's vectors point at -rotation + k 60 deg (y down): the
    # centre of a triangle of A lies at 30 deg between two of them
    th = np.deg2rad(30.0 - rotation)
    xs, ys = np.r_[x, x + d * np.cos(th)], np.r_[y, y + d * np.sin(th)]
    amp = np.r_[np.full(len(x), 300.0), np.full(len(x), 300.0 * ratio)]
    clean = render_gaussians(SHAPE, xs, ys, amp, sigma, background=20.0)
    img = np.random.default_rng(seed).poisson(clean).astype(float)
    return img, xs, ys, d


# ------------------------------------------------------------ separation
@pytest.mark.parametrize("ratio", [0.4, 0.25])
def test_separation_is_the_dim_sublattice_distance_honeycomb(ratio):
    """MoS2-like honeycomb, B 0.4 or 0.25 as bright as A: the A-B distance
    (13.9 px), not the A-A period (24 px); within 3 %."""
    img, xs, ys, d = _honeycomb(ratio)
    xy = np.c_[xs, ys]
    nearest = np.min(
        np.hypot(*(xy[:, None] - xy[None]).T)[~np.eye(len(xs), dtype=bool)]
    )
    assert nearest == pytest.approx(d, rel=1e-6)  # the scene is what it says
    assert estimate_separation(img) == pytest.approx(d, rel=0.03)


@pytest.mark.parametrize("peaks", [(400, 100), (800, 160)])
def test_separation_is_a_b_for_a_dim_perovskite_b(peaks):
    """B 4-5 times dimmer than A (beyond the old limit of 1/2.25): A-B."""
    img, truth = make_lattice_image(
        SHAPE, spacing=18.0, lattice="perovskite", rotation=7.0, seed=4,
        sublattice_peaks=peaks,
    )  # fmt: skip
    assert estimate_separation(img) == pytest.approx(18.0, rel=0.02)


@pytest.mark.parametrize("lattice", ["square", "hexagonal", "perovskite"])
def test_separation_of_a_noisy_lattice_is_not_a_noise_distance(lattice):
    """Peak 18 counts over a background of 20 (SNR 2.9 per pixel): the
    column distance within 3 %, not a distance between noise maxima."""
    for seed in range(2):
        img, _ = make_lattice_image(
            SHAPE, spacing=16.0, sigma=3.0, peak=18.0, lattice=lattice,
            rotation=21.0, seed=seed,
        )  # fmt: skip
        assert estimate_separation(img) == pytest.approx(16.0, rel=0.03)


def test_separation_of_noise_alone_is_refused():
    rng = np.random.default_rng(0)
    for _ in range(3):
        img = rng.poisson(20.0, SHAPE).astype(float)
        with pytest.raises(ValueError, match="periodic separation"):
            estimate_separation(img)


def test_column_width():
    """Isolated columns: within 10 % of the true sigma."""
    for sigma in (2.0, 3.5):
        img, _ = make_lattice_image(SHAPE, spacing=24.0, sigma=sigma, seed=2)
        assert estimate_column_width(img) == pytest.approx(sigma, rel=0.1)


# ---------------------------------------------------------------- sparse
@pytest.mark.parametrize("gap", [2.5, 3.0])
def test_sparse_separates_close_pairs(gap):
    """Pairs 2.5 and 3 widths apart, unequal, in all orientations: every
    column found and nothing else (given the separation)."""
    img, xs, ys, d = _dimers(gap)
    found = find_atoms_sparse(img, separation=d)
    missed, extra = _complete(
        found["x"], found["y"], xs, ys, img.shape, 0.4 * d, 0.5 * d
    )
    assert (missed, extra) == (0, 0)
    # the positions are right to a fraction of the pair distance
    t_match, _ = match_one_to_one(xs, ys, found["x"], found["y"], 0.4 * d)
    ok = t_match >= 0
    err = np.hypot(found["x"][t_match[ok]] - xs[ok], found["y"][t_match[ok]] - ys[ok])
    assert np.median(err) < 0.6


@pytest.mark.parametrize("lattice", ["square", "hexagonal", "perovskite"])
def test_sparse_finds_every_atom_of_a_lattice(lattice):
    """Default separation and threshold, rotated lattice, dim B (1/3.3)."""
    kw = {"sublattice_peaks": (200, 60)} if lattice == "perovskite" else {}
    img, t = make_lattice_image(
        SHAPE, spacing=20.0, lattice=lattice, rotation=17.0, seed=3, **kw
    )
    found = finding.find_atoms(img, method="sparse")
    assert _complete(found["x"], found["y"], t["x"], t["y"], img.shape, 6, 3) == (0, 0)


def test_sparse_ignores_hot_pixels():
    img, t = make_lattice_image(SHAPE, spacing=20.0, rotation=5.0, seed=6)
    rng = np.random.default_rng(1)
    hot = np.c_[t["x"] + 10.3, t["y"] + 9.7].astype(int)
    hot = hot[(hot[:, 0] < SHAPE[1] - 2) & (hot[:, 1] < SHAPE[0] - 2)]
    hot = hot[rng.choice(len(hot), 10, replace=False)]
    img[hot[:, 1], hot[:, 0]] = 5000.0
    found = find_atoms_sparse(img, 20.0)
    d = np.hypot(found["x"][:, None] - hot[:, 0], found["y"][:, None] - hot[:, 1])
    assert not np.any(d < 3)
    assert _complete(found["x"], found["y"], t["x"], t["y"], img.shape, 6, 3) == (0, 0)


def test_sparse_deconvolution_conserves_intensity_and_position():
    """One column at (31, 17) on a 40 x 56 image: the coefficients sum to its
    volume and peak at its pixel (x = column, y = row)."""
    img = render_gaussians((40, 56), [31.0], [17.0], 80.0, 2.5)
    c = sparse_deconvolution(img, 2.5, 1e-3)
    assert c.shape == img.shape
    assert np.unravel_index(np.argmax(c), c.shape) == (17, 31)
    assert c.sum() == pytest.approx(2 * np.pi * 2.5**2 * 80.0, rel=0.03)


def test_sparse_signal_level_calibrated():
    s, truth = synthetic_lattice(
        shape=SHAPE, spacing=20, scale=0.02, seed=0, return_truth=True
    )
    atoms = s.find_atoms(method="sparse")
    fx, fy = atoms.get_pixel_positions()
    assert _complete(fx, fy, truth["x_px"], truth["y_px"], SHAPE, 6, 3) == (0, 0)
    assert atoms.metadata.AtomPositions.settings.method == "sparse"
    sep = float(atoms.metadata.AtomPositions.settings.separation)
    assert sep == pytest.approx(20 * 0.02, rel=0.02)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"sigma": -1.0}, "sigma"),
        ({"penalty": -2.0}, "penalty"),
        ({"max_iter": 0}, "max_iter"),
        ({"threshold": "high"}, "threshold"),
    ],
)
def test_sparse_bad_arguments(kw, match):
    img, _ = make_lattice_image((64, 80), spacing=16.0, seed=0)
    with pytest.raises(ValueError, match=match):
        find_atoms_sparse(img, 16.0, **kw)


def test_sparse_finder_ignores_a_large_detector_offset():
    # 30 columns (amplitude 100, sigma 2.5 px, oblique cell) with the same
    # noise on a background of 20 and on one of 20,000 (a detector offset
    # 200 times the columns): the finder works on the image scaled by a
    # power of two of its maximum, so on the offset image every column's
    # summed coefficients are about 0.09; they are atoms all the same, at
    # the same places
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(1)
    j, i = np.mgrid[0:5, 0:6].reshape(2, -1)
    x, y = 10 + 12.0 * i + 3.0 * j, 9 + 11.0 * j
    noise = rng.normal(0, 2.0, (64, 80))
    found = []
    for offset in (20.0, 20000.0):
        img = render_gaussians((64, 80), x, y, 100.0, 2.5, background=offset)
        f = find_atoms_sparse(img + noise, separation=11, sigma=2.5)
        d, k = cKDTree(np.c_[f["x"], f["y"]]).query(np.c_[x, y])
        inner = (x > 4) & (x < 75) & (y > 4) & (y < 59)
        assert np.all(d[inner] < 0.3), (offset, d[inner].max())
        found.append(np.c_[f["x"], f["y"]][k[inner]])
    np.testing.assert_allclose(found[0], found[1], atol=0.05)


def test_sparse_finder_finds_a_single_column():
    # one column (off-centre, sub-pixel) in an otherwise flat noisy frame:
    # one atom, where it is
    rng = np.random.default_rng(6)
    img = render_gaussians((48, 56), [30.3], [18.6], 150.0, 2.5, background=20.0)
    for frame in (img, rng.poisson(img).astype(float)):  # noise-free, Poisson
        found = find_atoms_sparse(frame, separation=12)
        assert len(found["x"]) == 1
        assert abs(found["x"][0] - 30.3) < 0.3 and abs(found["y"][0] - 18.6) < 0.3
