"""Details of the numerics that the fresh seed-4 random sample of mutants found open.

Each test checks a documented rule or an invariance against truth known
independently of the code (a scene built with known geometry, a brute-force
count, a closed form), chosen so that one of the operator mutants that
survived the seed-4 sample fails it. ``mutation/mutants_sample_seed4.toml``
lists those mutants, and the equivalent ones with the reason and the
measurement.
"""

import numpy as np
import pytest

from hyperspy_localcryst.numerics import (
    _imaging,
    alignment,
    centroids,
    defects,
    detection,
    finding,
    phases,
    sublattices,
)


# ------------------------------------------------------------------ alignment
def test_solve_graph_drops_the_one_broken_pair_and_keeps_the_rest_exact():
    # four frames with known shifts; all six pairs measured exactly except
    # (1, 3), which is 6 px off. The documented rule drops the worst pair
    # while every frame stays connected: with (1, 3) left out the five
    # remaining pairs agree exactly, so the shifts are the true ones
    truth = np.array([[0.0, 0.0], [3.25, -1.5], [-2.0, 4.75], [7.5, 2.25]])
    edges = []
    for i in range(4):
        for j in range(i + 1, 4):
            sh = truth[j] - truth[i]
            if (i, j) == (1, 3):
                sh = sh + np.array([6.0, 0.0])
            edges.append((i, j, sh))
    shifts, dropped = alignment._solve_graph(4, edges, tol=1.0)
    np.testing.assert_allclose(shifts, truth, atol=1e-9)
    assert [(i, j) for i, j, _ in dropped] == [(1, 3)]
    # least squares on the complete graph of four frames leaves half the
    # error of the broken pair on it before it is dropped
    assert dropped[0][2] == pytest.approx(3.0, abs=1e-9)


def test_solve_graph_keeps_a_bridge_pair_that_would_split_the_frames():
    # a chain 0-1-2 and a triangle 2-3-4 broken at (2, 4): (2, 4) is dropped
    # (the triangle stays connected through 3), the chain pairs, bridges,
    # never are
    truth = np.array([[0.0, 0.0], [1.5, 2.0], [3.0, -1.0], [4.5, 0.5], [6.0, 1.0]])
    pairs = [(0, 1), (1, 2), (2, 3), (3, 4), (2, 4)]
    edges = [
        (i, j, truth[j] - truth[i] + (np.array([0.0, 5.0]) if (i, j) == (2, 4) else 0))
        for i, j in pairs
    ]
    shifts, dropped = alignment._solve_graph(5, edges, tol=1.0)
    np.testing.assert_allclose(shifts, truth, atol=1e-9)
    assert [(i, j) for i, j, _ in dropped] == [(2, 4)]
    assert alignment._connected(5, [e for e in edges if e[:2] != (2, 4)])
    assert not alignment._connected(5, [e for e in edges if e[:2] != (1, 2)])


# -------------------------------------------------------------------- defects
def test_interstitials_none_in_a_perfect_cell_of_ten_sites_whatever_comes_first():
    # a cell of 10 sites: every atom's 8 nearest atoms are of other sites
    # (none is a lattice translation away), so only "predicted by an atom's
    # translation" keeps a lattice atom from being an interstitial. No atom
    # of a perfect crystal is one, whichever atom is listed first; the one
    # added atom, 6 px from every site, is
    sites = np.array(
        [[0, 0], [7, 2], [14, 1], [3, 8], [11, 9], [18, 7], [5, 15], [13, 16]]
        + [[20, 13], [9, 4.5]],
        float,
    )
    v = np.array([[24.0, 0.0], [2.0, 22.0]])
    p = np.array(
        [s + a * v[0] + b * v[1] for a in range(6) for b in range(5) for s in sites]
    )
    extra = np.array([46.5, 41.0])
    assert np.hypot(*(p - extra).T).min() > 6.0
    centre = np.argsort(np.hypot(*(p - p.mean(axis=0)).T))[:3]
    for first in [0, *centre]:
        order = np.r_[first, np.delete(np.arange(len(p)), first)]
        q = np.vstack([p[order], extra])
        out = defects.find_interstitials(q[:, 0], q[:, 1], v, tolerance=0.1)
        assert np.flatnonzero(out).tolist() == [len(p)]


# ------------------------------------------------------------------ detection
def test_centred_outside_checks_only_candidates_within_half_a_separation():
    # two columns centred 0.6 px beyond the right edge (x = 49.6) and one
    # inside. A candidate on the flank 5 px in (under half the 12 px
    # separation) is fitted and found centred outside; one 7 px in lies
    # beyond the documented band and is never reported, whatever its fit
    yy, xx = np.mgrid[:40, :50]
    img = 10 + 100 * np.exp(-((xx - 49.6) ** 2 + (yy - 30) ** 2) / 8.0)
    img += 100 * np.exp(-((xx - 49.6) ** 2 + (yy - 8) ** 2) / 8.0)
    img += 100 * np.exp(-((xx - 20.3) ** 2 + (yy - 20.2) ** 2) / 8.0)
    out = detection.centred_outside(img, [44.0, 42.0, 20.0], [30, 8, 20], 12.0)
    assert out.tolist() == [True, False, False]


# -------------------------------------------------------------------- finding
def test_linear_weights_are_a_partition_of_unity_for_any_bin_count():
    # interpolation weights of every pixel sum to 1 (a constant stays
    # constant), also with a single bin, where every pixel takes it alone
    for n, f, m in [(37, 4, 9), (16, 8, 2), (11, 3, 1), (5, 2, 1)]:
        w = _imaging._linear_weights(n, f, m)
        assert w.shape == (n, m)
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
        assert w.min() >= 0.0
    np.testing.assert_array_equal(_imaging._linear_weights(6, 3, 1), np.ones((6, 1)))


def test_blobs_keep_a_blob_of_exactly_min_area_times_the_median():
    # four square blobs of 4 x 4 = 16 px, one of 2 x 2 = 4 px and one single
    # pixel; median area 16. With min_area = 0.25 the 4 px blob is not
    # smaller than a quarter of the median and is kept (at its centre); the
    # single pixel is dropped
    score = np.zeros((40, 48))
    corners = [(3, 4), (3, 30), (22, 6), (24, 33)]
    for r, c in corners:
        score[r : r + 4, c : c + 4] = 0.9
    score[14:16, 20:22] = 0.8
    score[35, 40] = 0.95
    x, y, s = finding._blobs(score, 0.5, 10.0, 0.25, 2.5)
    got = sorted(zip(np.round(x, 9), np.round(y, 9), s))
    want = sorted([(c + 1.5, r + 1.5, 0.9) for r, c in corners] + [(20.5, 14.5, 0.8)])
    assert got == want


def test_best_target_tells_a_column_from_its_upside_down_copy():
    # two targets that differ only by a vertical flip (a bright lobe above
    # or below the column) and an image made of exact copies of each: every
    # atom's patch equals its own target, so it takes that label
    yy, xx = np.mgrid[-4:5, -4:5]
    core = np.exp(-(xx**2 + yy**2) / 4.0)
    up = core + 0.6 * np.exp(-((xx - 1) ** 2 + (yy + 2.5) ** 2) / 2.0)
    down = up[::-1, :]
    img = np.zeros((40, 52))
    atoms = [(8, 9, 0), (30, 12, 1), (20, 25, 1), (10, 40, 0), (31, 43, 1)]
    for r, c, k in atoms:
        img[r - 4 : r + 5, c - 4 : c + 5] = (up, down)[k]
    ix = np.array([c for _, c, _ in atoms])
    iy = np.array([r for r, _, _ in atoms])
    label = finding._best_target(img, ix, iy, [up, down])
    assert label.tolist() == [k for _, _, k in atoms]


def test_label_by_intensity_accepts_every_seed_numpy_accepts():
    # the documented seed is the mixture's random state: numpy and
    # scikit-learn accept 0 .. 2**32 - 1, so the largest one must work (and
    # split the two obvious groups), and 2**32 is refused
    values = [10.0, 11.0, 1.0, 2.0, 10.5, 1.5]
    for seed in (0, 2**32 - 1):
        np.testing.assert_array_equal(
            finding.label_by_intensity(values, seed=seed), [0, 0, 1, 1, 0, 1]
        )
    with pytest.raises(ValueError):
        finding.label_by_intensity(values, seed=2**32)


# --------------------------------------------------------------------- phases
def test_phases_give_a_phase_to_windows_of_exactly_min_count_labelled_atoms():
    # a sheared 9 x 7 grid (5 x 4 px cells, x shifted 0.3 px per row: the
    # 6.17 px diagonal is inside the 6.5 px window, the 6.64 px one not),
    # column 2 unlabelled. The documented rule: an atom gets a phase when its
    # window holds at least ``min_count`` labelled atoms (itself included),
    # counted here by brute force; windows of exactly min_count count
    j, i = np.mgrid[0:7, 0:9]
    x, y = 5.0 * i.ravel() + 0.3 * j.ravel(), 4.0 * j.ravel()
    lab = np.where(i.ravel() == 2, -1, (i.ravel() + j.ravel()) % 2)
    d = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
    count = ((d <= 6.5) & (lab[None] >= 0)).sum(axis=1)
    assert {3, 4, 5, 7} == set(count.tolist())
    for min_count in (4, 5, 6):
        res = phases.find_phases(x, y, lab, radius=6.5, min_count=min_count)
        assert res.n_phases == 1
        np.testing.assert_array_equal(res.labels, np.where(count >= min_count, 0, -1))


# ----------------------------------------------------------------- refinement
def test_seed_params_start_from_the_nearest_pixel_above_the_ring_quantile():
    # documented start of every fit: the background is the 20 % quantile of
    # the window's outer ring, the amplitude the nearest pixel (round half
    # up) above it. A sharp column exactly on pixel (17, 12) on a tilted
    # background, seeds up to half a pixel off it; ring and quantile are
    # recomputed here by brute force
    yy, xx = np.mgrid[:30, :36].astype(float)
    img = 5.0 + 0.3 * xx + 0.2 * yy
    img += 80.0 * np.exp(-((xx - 17) ** 2 + (yy - 12) ** 2) / (2 * 1.2**2))
    radius = 5
    for sx, sy in [(17.0, 12.0), (17.4, 11.7), (16.5, 12.49), (16.6, 11.5)]:
        bg, amp = centroids._seed_params(img, np.array([sx]), np.array([sy]), radius)
        r2 = (xx - 17) ** 2 + (yy - 12) ** 2
        ring = np.sort(img[(r2 <= radius**2) & (r2 >= (radius - 1) ** 2)])
        b = ring[int(0.2 * (len(ring) - 1))]
        assert bg[0] == pytest.approx(b, rel=1e-12)
        assert amp[0] == pytest.approx(img[12, 17] - b, rel=1e-12)


def test_estimate_sigma_of_a_cut_column_is_mirror_symmetric():
    # a column cut by the left edge and the same image mirrored (cut by the
    # right edge), transposed (top edge) and both: the half-maximum area
    # counts the same pixels, so the widths agree exactly
    yy, xx = np.mgrid[:31, :41].astype(float)
    img = 3.0 + 50.0 * np.exp(-((xx - 2) ** 2 + (yy - 13) ** 2) / (2 * 2.5**2))
    img += 30.0 * np.exp(-((xx - 25) ** 2 + (yy - 20) ** 2) / (2 * 2.0**2))
    s = centroids.estimate_sigma(img, [2.0], [13.0], 6)
    assert 1.5 < s < 2.7
    assert centroids.estimate_sigma(img[:, ::-1], [38.0], [13.0], 6) == s
    assert centroids.estimate_sigma(img.T, [13.0], [2.0], 6) == s
    assert centroids.estimate_sigma(img.T[::-1], [13.0], [38.0], 6) == s


# ---------------------------------------------------------------- sublattices
def test_candidate_cells_take_a_candidate_of_exactly_min_fraction_as_geometric():
    # candidates sorted by length: the half diagonal (5, 5) takes exactly
    # min_fraction = 0.6 of the atoms onto atoms (geometric: "at least"), but
    # pairs bright with dim; (10, 0) and (0, 10) are the translations. The
    # cells are the translations' square cell and, from the geometric
    # candidates, the centred cell (5, 5), (5, -5)
    t = {
        "candidates": np.array([[5.0, 5.0], [10.0, 0.0], [0.0, 10.0]]),
        "fraction": np.array([3 / 5, 1.0, 1.0]),
        "min_fraction": 0.6,
        "correlation": np.array([-0.9, 0.9, 0.9]),
        "is_translation": np.array([False, True, True]),
    }
    cells = sublattices._candidate_cells(t)
    got = [np.round(np.array(c), 12).tolist() for c in cells]
    assert got == [[[10.0, 0.0], [0.0, 10.0]], [[5.0, 5.0], [5.0, -5.0]]]
