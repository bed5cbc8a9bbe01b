"""Details of the numerics that the fresh seed-5 random sample of mutants found open.

Each test checks a documented rule or contract against truth known
independently of the code (a scene built at the rule's threshold, a
brute-force count or search, a closed form), chosen so that one of the
operator mutants that survived the seed-5 sample fails it.
``mutation/mutants_sample_seed5.toml`` lists those mutants, and the
equivalent ones with the reason and the measurement.
"""

import itertools

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from hyperspy_localcryst.numerics import (
    centroids,
    class_count,
    clustering,
    detection,
    finding,
    lattice,
    sparse,
    sublattices,
    tracking,
    translations,
)
from hyperspy_localcryst.numerics.separation import _significant_maxima


# ------------------------------------------------------------------ detection
def test_centred_outside_reports_nothing_in_an_image_under_five_pixels_a_side():
    # documented: an image less than 5 px on a side is too small to fit a
    # column in, so nothing is reported there, whatever the separation (a
    # fitting window wider than the image is never tried). Every candidate of
    # a 4 x 4 image lies at its edge
    img = 1.0 + np.random.default_rng(0).random((4, 4))
    for sep in (12.0, 3.0):
        out = detection.centred_outside(img, [1.0, 2.0, 0.0], [1.0, 0.0, 3.0], sep)
        assert out.tolist() == [False, False, False]
    # a 4-pixel strip: its candidates are all at the edge too
    strip = 1.0 + np.random.default_rng(1).random((4, 30))
    assert detection.centred_outside(strip, [1.0], [1.0], 20.0).tolist() == [False]


# -------------------------------------------------------------------- finding
def test_log_noise_floor_is_seven_times_the_noise_of_the_response():
    # documented automatic threshold of find_atoms_log: at least 7 times the
    # image's white noise (estimated from it) times the L2 norm of the
    # kernel sigma**2 LoG. A +-1 checkerboard is what the (Immerkaer)
    # estimator reads as noise of sd 1.4826 * 16 / 6, while the LoG at
    # sigma = 2 px passes none of it (a factor exp(-pi**2 sigma**2) ~ 1e-17):
    # the floor is known in closed form and no noise maxima compete. Sixteen
    # equal columns (sd w = 2 px) have the LoG prominence (peak minus the
    # ring minimum at r**2 = 4 S, S = w**2 + sigma**2)
    # 2 sigma**2 A w**2 / S**2 (1 + e**-2); columns at 6 floor units are
    # dropped, at 8.5 kept
    sep = 10.0
    sig = sep / 5.0
    yy, xx = np.mgrid[:90, :100].astype(float)
    noise = 1.4826 * 16.0 / 6.0
    norm = 1.0 / (sig * np.sqrt(2.0 * np.pi))  # ||sigma**2 LoG||_2
    w = 2.0
    s2 = w**2 + sig**2
    per_amp = 2.0 * sig**2 * w**2 / s2**2 * (1.0 + np.exp(-2.0))
    cols = np.array(
        [(20.0 + 20 * i, 20.0 + 20 * j) for i in range(4) for j in range(4)]
    )
    for units, found in ((6.0, 0), (8.5, 16)):
        amp = units * noise * norm / per_amp
        img = 50.0 + (-1.0) ** (yy + xx)
        for cx, cy in cols:
            img += amp * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * w**2))
        res = finding.find_atoms_log(img, sep)
        assert len(res["x"]) == found
        if found:
            d, _ = cKDTree(cols).query(np.column_stack([res["x"], res["y"]]))
            assert d.max() < 0.01
            np.testing.assert_allclose(res["score"], units * noise * norm, rtol=0.03)


def test_significant_maxima_smooth_at_half_the_column_width():
    # documented step 2 of estimate_separation: maxima of the image smoothed
    # at half the column width w whose prominence exceeds 10 times the noise
    # of the smoothed image. Columns of sd w = 4 px and amplitude 3.5 on
    # white noise of sd 1: smoothed at 2 px the peak is 0.8 * 3.5 over a
    # noise of 1 / (2 sqrt(pi) 2) (about 20 noise units), smoothed at 0.5 px
    # about 6 (below 10). Every column is one maximum, nothing else is
    w = 4.0
    yy, xx = np.mgrid[:120, :130].astype(float)
    cols = np.array(
        [(18 + 23 * i + 3 * (j % 2), 18 + 21 * j) for i in range(5) for j in range(5)],
        float,
    )
    for seed in (0, 1):
        img = 100.0 + np.random.default_rng(seed).normal(0.0, 1.0, yy.shape)
        for cx, cy in cols:
            img += 3.5 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * w**2))
        x, y = _significant_maxima(img, w)
        assert len(x) == len(cols)
        d, k = cKDTree(np.column_stack([x, y])).query(cols)
        assert d.max() < 1.5
        assert len(set(k.tolist())) == len(cols)


# -------------------------------------------------------------------- lattice
def _share(sites, v):
    """Share of the occupied integer sites whose site + v is occupied."""
    occupied = {tuple(s) for s in sites.tolist()}
    return sum((a + v[0], b + v[1]) in occupied for a, b in sites.tolist()) / len(sites)


def test_lattice_candidates_need_pairs_from_three_tenths_of_the_sources():
    # documented (module notes, step 1): a histogram maximum is a candidate
    # translation when at least 0.3 of the sources have a partner near it.
    # An oblique lattice of 40 x 40 sites with random vacancies: a lattice
    # vector's support is the share of atoms whose site + v is occupied
    # (brute force on the integer sites). At 36 % occupancy the four shortest
    # vectors have 0.33-0.37 support and the lattice is found; at 22 % about
    # 0.2, under 0.3, and no lattice is
    v = np.array([[9.0, 1.5], [-2.0, 11.0]])
    i, j = np.mgrid[0:40, 0:40]
    grid = np.column_stack([i.ravel(), j.ravel()])
    rng = np.random.default_rng(2)
    for occupancy in (0.36, 0.22):
        sites = grid[np.sort(rng.permutation(len(grid))[: int(occupancy * len(grid))])]
        p = sites @ v + rng.normal(0.0, 0.1, (len(sites), 2))
        shares = [_share(sites, s) for s in ((1, 0), (0, 1), (1, 1), (1, -1))]
        if occupancy > 0.3:
            assert 0.3 < min(shares[:2]) and max(shares) < 0.45
            fit = lattice.find_lattice_vectors(p[:, 0], p[:, 1])
            got = fit["vectors"] @ np.linalg.inv(v)  # integer, unimodular
            np.testing.assert_allclose(got, np.round(got), atol=0.01)
            assert abs(np.linalg.det(np.round(got))) == 1.0
        else:
            assert max(shares) < 0.25
            with pytest.raises(ValueError, match="No two independent"):
                lattice.find_lattice_vectors(p[:, 0], p[:, 1])


# ----------------------------------------------------------------- refinement
def test_centre_of_mass_at_the_top_edge_is_the_brute_force_disc_centroid():
    # documented: the centroid, weighted by the image minus the window
    # minimum, of the disc of `radius` about the pixel nearest to the
    # estimate; one iteration, recomputed by brute force. Columns within the
    # radius of the top edge (their discs cut by row 0) and one far from it
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:24, :30].astype(float)
    img = 2.0 + rng.random((24, 30))
    img += 40.0 * np.exp(-((xx - 14.3) ** 2 + (yy - 1.2) ** 2) / 6.0)
    img += 40.0 * np.exp(-((xx - 6.0) ** 2 + (yy - 20.6) ** 2) / 6.0)
    radius = 4
    for x0, y0 in [(14.0, 1.0), (14.4, 2.4), (13.6, 0.2), (6.2, 20.0)]:
        cx, cy = np.floor(x0 + 0.5), np.floor(y0 + 0.5)
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
        wgt = np.where(disc, img - img[disc].min(), 0.0)
        want = ((wgt * xx).sum() / wgt.sum(), (wgt * yy).sum() / wgt.sum())
        gx, gy = centroids.centre_of_mass(img, [x0], [y0], radius, n_iter=1)
        assert gx[0] == pytest.approx(want[0], abs=1e-12)
        assert gy[0] == pytest.approx(want[1], abs=1e-12)


# --------------------------------------------------------------------- sparse
def test_clusters_of_a_map_whose_blur_underflows_are_three_empty_arrays():
    # positive coefficients whose blurred map has no maximum above 0 (the
    # smallest subnormal, blurred, rounds to 0): no atoms, and x, y and the
    # weights (one entry per atom) are all empty
    coef = np.zeros((20, 24))
    coef[9, 11] = 5e-324
    assert coef.max() > 0 and ndi.gaussian_filter(coef, 2.0).max() == 0.0
    x, y, mass = sparse._clusters(coef, 2.0, 10.0)
    assert len(x) == len(y) == len(mass) == 0


# ----------------------------------------------------------------- statistics
def test_median_walk_is_the_numpy_median_from_any_previous_centre():
    # the incremental median of one cluster, walked from any previous centre
    # (with `below` members under it, counted here) equals numpy.median of
    # the members; small clusters often hold the column's smallest value
    rng = np.random.default_rng(7)
    for _ in range(40):
        n = int(rng.integers(3, 12))
        vals = np.round(rng.uniform(1.0, 9.0, (1, n)), 1)
        order = np.argsort(vals[0], kind="stable")[None, :]
        s = vals[:, order[0]]
        labels = rng.integers(0, 3, n)
        for k in range(3):
            members = vals[0, labels == k]
            if members.size == 0:
                continue
            for centre in np.r_[members, 0.5, 9.5, members + 0.05]:
                below = int((members < centre).sum())
                got = clustering._median_walk(
                    s, order, labels, 0, k, members.size, centre, below
                )
                assert got == np.median(members)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_two_modes_of_one_value_and_a_repeated_one_are_the_two_values(n):
    # one value and n - 1 copies of another: the median and 80th-percentile
    # cuts leave the upper side empty, the 20th-percentile cut (documented
    # third start) splits the two values. The two fitted means are the two
    # values (about the column mean), with a deep dip between them
    p = np.r_[-2.0, np.full(n - 1, 3.0)]
    mu, _, w, dip, labels = class_count._two_modes(p[:, None])
    lo, hi = np.sort(mu[0])
    assert lo == pytest.approx(-2.0 - p.mean(), abs=1e-6)
    assert hi == pytest.approx(3.0 - p.mean(), abs=1e-6)
    assert sorted(w[0] * n) == pytest.approx([1.0, n - 1.0], abs=1e-6)
    assert dip[0] < 0.1
    assert len(set(labels[1:, 0].tolist())) == 1 and labels[0, 0] != labels[1, 0]


# ---------------------------------------------------------------- sublattices
def test_small_site_is_merged_into_the_nearest_real_site():
    # a square cell (10 px) with sites A (0, 0) and B (5, 5), and one row of
    # extra atoms 3 px below the A atoms: 12 atoms of 300, a site smaller
    # than 0.2 of the largest, which the documented rule gives to the
    # nearest real site: A, 3 px away (B is sqrt(5**2 + 2**2) = 5.4 px away)
    i, j = np.mgrid[0:12, 0:12]
    a = np.column_stack([10.0 * i.ravel(), 10.0 * j.ravel()]) + 3.0
    b = a + 5.0
    extra = a[j.ravel() == 6] + [0.0, 3.0]
    xy = np.vstack([a, b, extra])
    site, off = sublattices._assign_sites(
        xy,
        translations._Tree(xy),
        np.array([10.0, 0.0]),
        np.array([0.0, 10.0]),
        50**0.5,
        0.25,
    )
    na = len(a)
    assert len(off) == 2
    assert set(site[:na].tolist()) == {site[0]}
    assert set(site[na : 2 * na].tolist()) == {site[na]} != {site[0]}
    assert set(site[2 * na :].tolist()) == {site[0]}


# ------------------------------------------------------------------- tracking
def _brute_links(pred, pos, max_d):
    """Most links, then least summed squared distance, by trying every
    choice of atom (or none) per end."""
    d2 = ((pred[:, None] - pos[None]) ** 2).sum(-1)
    options = [[-1, *np.flatnonzero(d2[i] <= max_d**2)] for i in range(len(pred))]
    best, links = None, None
    for pick in itertools.product(*options):
        used = [a for a in pick if a >= 0]
        if len(set(used)) < len(used):
            continue
        key = (len(used), -sum(d2[i, a] for i, a in enumerate(pick) if a >= 0))
        if best is None or key > best:
            best, links = key, {(i, a) for i, a in enumerate(pick) if a >= 0}
    return links


def test_assign_links_each_end_and_atom_once_at_the_least_cost():
    # four separate groups of two ends and two atoms, each end within reach
    # of both atoms of its group: one-to-one links, the brute-force optimum
    pred, pos = [], []
    for dx, dy in [(0, 0), (30, 0), (0, 30), (30, 30)]:
        pred += [(dx + 0.0, dy + 0.0), (dx + 2.0, dy + 0.3)]
        pos += [(dx + 1.2, dy + 0.4), (dx + 2.9, dy - 0.2)]
    pred, pos = np.array(pred), np.array(pos)
    i, j = tracking._assign(pred, pos, 2.5)
    assert len(set(i.tolist())) == len(i) and len(set(j.tolist())) == len(j)
    assert set(zip(i.tolist(), j.tolist())) == _brute_links(pred, pos, 2.5)
