"""Details of the numerics that the third random sample of mutants found open.

As in ``test_numerics_details.py`` and ``test_numerics_details2.py``, each
test checks a property against truth known independently of the code (the
documented rule on a scene built with known geometry), chosen so that one of
the operator mutants that survived the seed-2 random sample fails it;
``mutation/mutants_sample_seed2.toml`` lists those mutants, and the
equivalent ones with the reason and the experiment.
"""

import numpy as np
import pytest

from hyperspy_localcryst.data.synthetic import make_lattice_image, render_gaussians
from hyperspy_localcryst.numerics import (
    _imaging,
    alignment,
    finding,
    point_patterns,
    spectra,
)
from hyperspy_localcryst.numerics.centroids import estimate_sigma
from hyperspy_localcryst.numerics.neighbourhoods import neighbour_vectors
from hyperspy_localcryst.numerics.refinement import refine_gaussians


# -------------------------------------------------------------------- finding
def test_local_max_drops_a_noise_bump_beside_a_single_column():
    # exactly two maxima: a column (amplitude 100) and a bump of amplitude 15,
    # whose prominence is under a quarter of the column's. The documented
    # rule (Otsu's threshold on log-prominence, at most a quarter of the
    # bright maxima's median) puts the threshold between them, so only the
    # column is kept, as with three or more maxima
    img = render_gaussians(
        (64, 80),
        np.array([20.0, 56.0]),
        np.array([30.0, 34.0]),
        np.array([100.0, 15.0]),
        2.5,
    )
    _, _, prom = finding._maxima(img, 12.0)
    assert len(prom) == 2 and prom.min() < 0.25 * prom.max()
    found = finding.find_atoms_local_max(img, 12.0)
    np.testing.assert_array_equal(found["x"], [20.0])
    np.testing.assert_array_equal(found["y"], [30.0])


# ------------------------------------------------------------- neighbourhoods
def test_a_gap_narrower_than_half_the_distance_tolerance_is_one_shell():
    # dimers 1 px long on a 4 x 3.28 cell: every atom has its partner at 1,
    # one atom of the next dimer at 3 and two at 3.28 (above and below).
    # 3 and 3.28 are 0.28 nearest-neighbour distances apart, less than half
    # of distance_tolerance = 0.6, so they are ONE shell, ordered clockwise
    # on screen from +x (y down): right, down, left, up
    cx, cy = np.meshgrid(np.arange(12) * 4.0, np.arange(14) * 3.28)
    x = np.concatenate([cx.ravel(), cx.ravel() + 1.0])
    y = np.concatenate([cy.ravel(), cy.ravel()])
    nb = neighbour_vectors(x, y, n_neighbours=4, distance_tolerance=0.6)
    assert len(nb.centres) > 100
    left = nb.centres < cx.size  # the left atom of its dimer
    assert left.any() and (~left).any()
    np.testing.assert_allclose(
        nb.vectors[left],
        np.broadcast_to(
            [[1.0, 0.0], [0.0, 3.28], [-3.0, 0.0], [0.0, -3.28]], (left.sum(), 4, 2)
        ),
    )
    np.testing.assert_allclose(
        nb.vectors[~left],
        np.broadcast_to(
            [[-1.0, 0.0], [3.0, 0.0], [0.0, 3.28], [0.0, -3.28]], ((~left).sum(), 4, 2)
        ),
    )


# ----------------------------------------------------------------- refinement
@pytest.mark.parametrize("sigma", [0.8, 1.2])
def test_estimate_sigma_of_columns_on_the_first_row_does_not_depend_on_the_flip(
    sigma,
):
    # two narrow columns centred on the first row (cut by the image edge):
    # the width estimate has no preferred direction, so the image turned
    # upside down, with the columns on the last row, gives the same width
    # (the window is symmetric about the column's pixel and clipped alike)
    img = render_gaussians(
        (40, 48),
        np.array([20.0, 30.0]),
        np.array([0.0, 0.3]),
        np.array([100.0, 60.0]),
        sigma,
        background=5.0,
    )
    up = estimate_sigma(img, [20.0, 30.0], [0.0, 0.3], 6)
    down = estimate_sigma(img[::-1], [20.0, 30.0], [39.0, 38.7], 6)
    assert up == pytest.approx(down, rel=1e-12, abs=0)


@pytest.mark.parametrize("spacing, sigma, seed", [(14, 2.8, 2), (12, 2.4, 1)])
def test_refine_from_a_much_too_narrow_starting_width(spacing, sigma, seed):
    # `sigma` is only the starting width: on a noise-free lattice, started at
    # 0.4 times the true width (seeds 0.3 px off), every column converges
    # (fit_status 0, its width not held at a bound) to the true width and
    # position
    img, t = make_lattice_image(
        (96, 96),
        spacing=spacing,
        sigma=sigma,
        noise=None,
        seed=seed,
        peak=200.0,
        background=20.0,
    )
    rng = np.random.default_rng(seed)
    x = t["x"] + rng.normal(0, 0.3, len(t["x"]))
    y = t["y"] + rng.normal(0, 0.3, len(t["y"]))
    res = refine_gaussians(img, x, y, 0.45 * spacing, sigma=0.4 * sigma, warn=False)
    np.testing.assert_array_equal(res["fit_status"], 0)
    np.testing.assert_allclose(res["sigma_x"], sigma, rtol=0.03)
    np.testing.assert_allclose(res["x"], t["x"], atol=0.02)
    np.testing.assert_allclose(res["y"], t["y"], atol=0.02)


# -------------------------------------------------------------------- spectra
@pytest.mark.parametrize("sx, sy", [(33.0, 40.0), (34.0, 28.0)])
def test_si_shift_from_a_feature_in_the_first_si_column(sx, sy):
    # one bright spot on a flat background, seen only in the first SI column
    # (survey x 30.5..35.5): the template covers the whole SI, its first
    # column included, so the shift (1 px right, 2 px down) is found and the
    # normalised correlation is at most 1
    img = render_gaussians(
        (96, 96),
        np.array([sx]),
        np.array([sy]),
        np.array([100.0]),
        1.2,
        background=10.0,
    )
    A = spectra.region_transform((30.5, 20.5, 60.5, 70.5), (10, 6))
    haadf = img[23:73, 32:62]
    (dx, dy), score = spectra.estimate_si_shift(img, haadf, A, (10, 6), search=5)
    assert dx == pytest.approx(1.0, abs=0.15)
    assert dy == pytest.approx(2.0, abs=0.15)
    assert score <= 1.0 + 1e-9


# ---------------------------------------------- seed-3 survivors (afterwards)
@pytest.mark.parametrize("n, f", [(100, 4), (257, 8), (64, 3)])
def test_linear_weights_interpolate_from_the_bin_centres(n, f):
    # the documented bin centres (f - 1) / 2 + f k: a straight line sampled
    # at them comes back exactly between the first and the last centre, and
    # is held constant beyond
    m = n // f
    centres = (f - 1) / 2 + f * np.arange(m)
    got = _imaging._linear_weights(n, f, m) @ (3.0 + 0.25 * centres)
    want = 3.0 + 0.25 * np.clip(np.arange(n), centres[0], centres[-1])
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("method", ["local_max", "log"])
def test_find_atoms_runs_the_finder_it_names(method):
    img, _ = make_lattice_image((128, 128), spacing=16, sigma=2.5, seed=4)
    finder = {"local_max": finding.find_atoms_local_max, "log": finding.find_atoms_log}
    got = finding.find_atoms(img, 16, method=method)
    want = finder[method](img, 16)
    np.testing.assert_array_equal(got["x"], want["x"])
    np.testing.assert_array_equal(got["y"], want["y"])


@pytest.mark.parametrize("lattice", ["square", "hexagonal"])
@pytest.mark.parametrize("rotation", [0.0, 5.0, 17.0, 33.0])
def test_frame_alignment_sees_the_lattice_of_a_lattice_frame(lattice, rotation):
    # a frame of a 2-D lattice is periodic, with the spacing as its shortest
    # translation (frame_shifts then searches the lattice peak nearest the
    # guess instead of the whole correlation)
    img, _ = make_lattice_image(
        (128, 128),
        spacing=11.0,
        sigma=2.0,
        lattice=lattice,
        rotation=rotation,
        seed=3,
    )
    prepared = alignment._Prepared(img)
    assert prepared.vectors is not None
    assert prepared.lattice == pytest.approx(11.0, rel=0.05)


def test_nearest_point_ties_all_round_a_pixel():
    # the 12 integer points at distance 5 from a pixel centre ((+-5, 0),
    # (0, +-5), (+-3, +-4), (+-4, +-3)), numbered at random: every pixel
    # takes the value of its nearest point, ties to the lowest index, as a
    # brute-force comparison of squared distances
    rng = np.random.default_rng(5)
    ring = np.array(
        [(a, b) for a in range(-5, 6) for b in range(-5, 6) if a * a + b * b == 25]
    )
    assert len(ring) == 12
    pts = np.concatenate([ring + (20, 20), ring + (40, 18)]).astype(float)
    pts = pts[rng.permutation(len(pts))]
    values = rng.normal(size=len(pts))
    rows, cols = np.mgrid[10:30, 12:50]
    rows, cols = rows.ravel(), cols.ravel()
    got = point_patterns._nearest_tree(pts[:, 0], pts[:, 1], values, rows, cols, np.inf)
    d2 = (pts[:, 0, None] - cols) ** 2 + (pts[:, 1, None] - rows) ** 2
    np.testing.assert_array_equal(got, values[np.argmin(d2, axis=0)])
