"""Tracking atoms through a movie: links, drift, affine maps, reshaping.

The synthetic movies are a square lattice (spacing 20 px, 45 x 45 = 2025
atoms) drifting by a known amount per frame plus a random component, with
0.3 px Gaussian jitter per atom and frame, 1 % of the atoms missing at random
in every frame, and all atoms of all frames pooled in a shuffled order.
"""

import itertools

import numpy as np
import pytest

from hyperspy_localcryst.numerics import tracking
from hyperspy_localcryst.numerics.tracking import (
    displacements,
    estimate_affine,
    estimate_shifts,
    link_frames,
    trajectories,
)

SPACING = 20.0


def make_movie(
    seed=0,
    n_side=45,
    n_frames=20,
    drift=(0.7, -0.4),
    drift_noise=0.2,
    jitter=0.3,
    missing=0.01,
):
    """Pooled, shuffled atoms of a drifting lattice with their true identity."""
    rng = np.random.default_rng(seed)
    grid = np.arange(n_side) * SPACING
    lattice = np.stack(np.meshgrid(grid, grid), axis=-1).reshape(-1, 2)
    steps = np.asarray(drift) + rng.normal(0.0, drift_noise, (n_frames, 2))
    steps[0] = 0.0
    shifts = np.cumsum(steps, axis=0)
    pos, frame, ident = [], [], []
    for k in range(n_frames):
        present = np.flatnonzero(rng.random(len(lattice)) >= missing)
        pos.append(
            lattice[present] + shifts[k] + rng.normal(0, jitter, (present.size, 2))
        )
        frame.append(np.full(present.size, k))
        ident.append(present)
    pos, frame, ident = map(np.concatenate, (pos, frame, ident))
    perm = rng.permutation(len(frame))
    return {
        "x": pos[perm, 0],
        "y": pos[perm, 1],
        "frame": frame[perm],
        "ident": ident[perm],
        "shifts": shifts,
        "n_frames": n_frames,
    }


def link_quality(track, frame, ident, max_gap=1):
    """(precision, recall) of the links between consecutive atoms of a track.

    A returned link joins two consecutive atoms (by frame) of one track; it is
    correct when both belong to the same true atom. Recall counts the correct
    links against the true links: consecutive appearances of one true atom at
    most ``max_gap`` frames apart.
    """
    order = np.lexsort((frame, track))
    same = track[order][1:] == track[order][:-1]
    a, b = order[:-1][same], order[1:][same]
    correct = np.count_nonzero(ident[a] == ident[b])
    precision = correct / max(a.size, 1)
    order = np.lexsort((frame, ident))
    f = frame[order]
    true = (ident[order][1:] == ident[order][:-1]) & (np.diff(f) <= max_gap)
    recall = correct / max(np.count_nonzero(true), 1)
    return precision, recall


def check_numbering(track, frame):
    """Tracks are 0..n-1 in order of first appearance (frame, then input)."""
    order = np.lexsort((np.arange(track.size), frame))
    _, first = np.unique(track[order], return_index=True)
    assert np.array_equal(np.unique(track), np.arange(track.max() + 1))
    assert np.all(np.diff(first) > 0)


# ---------------------------------------------------------------- link_frames
def test_links_small_drift_with_and_without_shifts():
    m = make_movie(seed=1)
    for shifts in (None, m["shifts"]):
        track = link_frames(m["x"], m["y"], m["frame"], 5.0, shifts=shifts)
        assert track.dtype == np.int64 and track.shape == m["x"].shape
        precision, recall = link_quality(track, m["frame"], m["ident"])
        assert precision >= 0.99
        assert recall >= 0.99
        check_numbering(track, m["frame"])


def test_large_drift_needs_shifts():
    # 14 px per frame: more than half the spacing, so without the predicted
    # drift the nearest atom is another column (or none within 8 px).
    m = make_movie(seed=2, drift=(13.0, -6.0), drift_noise=0.3)
    track = link_frames(m["x"], m["y"], m["frame"], 8.0)
    precision, recall = link_quality(track, m["frame"], m["ident"])
    assert recall < 0.1
    check_numbering(track, m["frame"])
    track = link_frames(m["x"], m["y"], m["frame"], 8.0, shifts=m["shifts"])
    precision, recall = link_quality(track, m["frame"], m["ident"])
    assert precision >= 0.99
    assert recall >= 0.99


def one_frame_gaps(m, track):
    """Of the atoms missing for exactly one frame, the fraction re-linked."""
    tx, _ = trajectories(m["x"], m["y"], m["frame"], m["ident"], m["n_frames"])
    truth_track = np.full(tx.shape, -1)
    truth_track[m["ident"], m["frame"]] = track
    here = ~np.isnan(tx)
    gap = here[:, :-2] & ~here[:, 1:-1] & here[:, 2:]
    assert np.count_nonzero(gap) > 100  # 1 % of 2025 atoms x 18 frames
    bridged = truth_track[:, :-2][gap] == truth_track[:, 2:][gap]
    return np.mean(bridged)


def test_memory_relinks_missing_atoms():
    m = make_movie(seed=3)
    track = link_frames(m["x"], m["y"], m["frame"], 5.0, memory=0)
    assert one_frame_gaps(m, track) == 0.0
    track = link_frames(m["x"], m["y"], m["frame"], 5.0, memory=1)
    assert one_frame_gaps(m, track) >= 0.99
    precision, recall = link_quality(track, m["frame"], m["ident"], max_gap=2)
    assert precision >= 0.99 and recall >= 0.99


def test_memory_moves_remembered_ends_by_the_shifts():
    m = make_movie(seed=4, drift=(13.0, -6.0))
    track = link_frames(m["x"], m["y"], m["frame"], 8.0, memory=1, shifts=m["shifts"])
    assert one_frame_gaps(m, track) >= 0.99
    precision, recall = link_quality(track, m["frame"], m["ident"], max_gap=2)
    assert precision >= 0.99 and recall >= 0.99


def test_memory_bridges_an_empty_frame():
    x = np.array([0.0, 5.0, 0.2, 5.1, 0.1, 5.2])
    y = np.zeros(6)
    frame = np.array([0, 0, 2, 2, 3, 3])
    assert np.array_equal(link_frames(x, y, frame, 1.0), [0, 1, 2, 3, 2, 3])
    assert np.array_equal(link_frames(x, y, frame, 1.0, memory=1), [0, 1, 0, 1, 0, 1])


def test_memory_competes_only_through_distance():
    # Track 0 ends in frame 1, track 1 was last seen in frame 0; the new atom
    # is closer to the older end, which wins.
    x = np.array([0.0, 3.0, 0.0, 2.0])
    y = np.zeros(4)
    frame = np.array([0, 0, 1, 2])
    track = link_frames(x, y, frame, 2.5, memory=1)
    assert np.array_equal(track, [0, 1, 0, 1])


def test_numbering_follows_frame_then_input_order():
    x = np.array([10.0, 0.0, 30.0, 0.1, 20.0, 10.2])
    y = np.zeros(6)
    frame = np.array([1, 0, 1, 1, 0, 1])
    track = link_frames(x, y, frame, 1.0)
    # frame 0: atom 1 -> 0, atom 4 -> 1; frame 1: atom 0 (x=10) new -> 2,
    # atom 2 new -> 3, atom 3 continues 0, atom 5 (x=10.2) new -> 4.
    assert np.array_equal(track, [2, 0, 3, 0, 1, 4])
    frame_f = frame.astype(float)  # integral floats, as in a table column
    assert np.array_equal(link_frames(x, y, frame_f, 1.0), track)


def test_optimal_assignment_beats_greedy():
    # Greedy (shortest first) takes B-a (0.5) then A-b (2.8): 8.09 px^2.
    # The optimum A-a, B-b costs 1 + 1.69 = 2.69 px^2.
    x = np.array([0.0, 1.5, 1.0, 2.8])
    y = np.zeros(4)
    frame = np.array([0, 0, 1, 1])
    assert np.array_equal(link_frames(x, y, frame, 3.0), [0, 1, 0, 1])


def test_assignment_links_as_many_as_possible():
    # A reaches only a; B reaches a (closer) and b: both must be linked.
    x = np.array([0.0, 3.0, 2.0, 5.0])
    y = np.zeros(4)
    frame = np.array([0, 0, 1, 1])
    assert np.array_equal(link_frames(x, y, frame, 2.2), [0, 1, 0, 1])


def test_assignment_minimises_the_sum_of_squares_not_of_another_power():
    """Two ends A, B and two atoms a, b, every pair a candidate: direct links
    A-a (1 px) and B-b (3 px), or crossed links A-b and B-a (d px each).
    With d = 2.3 the direct links cost less in squares (10 against 10.58
    px^2) but more in cubes (28 against 24.3); with d = 2.05 the crossed
    links cost less in squares (8.41) but more in plain distances (4.1
    against 4). The documented least squares pick the direct links in the
    first scene and the crossed ones in the second. Not symmetric: an x/y
    swap of the scene keeps the answer."""
    A, a = np.array([10.0, 10.0]), np.array([11.0, 10.0])
    up = np.array([np.cos(np.deg2rad(100)), np.sin(np.deg2rad(100))])
    # B: d px from a and 3 px from b (solved for each d)
    for d, B, expected in (
        (2.3, [12.54725196, 11.70176713], [0, 1, 0, 1]),
        (2.05, [12.56302264, 11.32644647], [0, 1, 1, 0]),
    ):
        b, B = A + d * up, np.array(B)
        assert np.hypot(*(B - a)) == pytest.approx(d, abs=1e-6)
        assert np.hypot(*(B - b)) == pytest.approx(3.0, abs=1e-6)
        pos = np.array([A, B, a, b])
        frame = np.array([0, 0, 1, 1])
        for xy in (pos, pos[:, ::-1]):
            track = link_frames(xy[:, 0], xy[:, 1], frame, 3.5)
            assert track.tolist() == expected, d


def brute_force(ends, atoms, max_d):
    """Best (most links, then least squared distance) matching by enumeration."""
    d2 = ((ends[:, None] - atoms[None]) ** 2).sum(-1)
    if len(ends) > len(atoms):
        d2 = d2.T
    ok = d2 <= max_d**2
    best = (0, 0.0)
    for perm in itertools.permutations(range(d2.shape[1]), d2.shape[0]):
        pairs = [(i, j) for i, j in enumerate(perm) if ok[i, j]]
        key = (len(pairs), sum(d2[i, j] for i, j in pairs))
        if key[0] > best[0] or (key[0] == best[0] and key[1] < best[1]):
            best = key
    return best


def achieved(ends, atoms, track):
    n = len(ends)
    linked = np.flatnonzero(track[n:] < n)
    d2 = ((atoms[linked] - ends[track[n:][linked]]) ** 2).sum(-1)
    return linked.size, d2.sum()


def test_assignment_matches_brute_force():
    rng = np.random.default_rng(5)
    for _ in range(60):
        ends = rng.uniform(0, 4, (rng.integers(1, 6), 2))
        atoms = rng.uniform(0, 4, (rng.integers(1, 6), 2))
        pos = np.concatenate([ends, atoms])
        frame = np.repeat([0, 1], [len(ends), len(atoms)])
        track = link_frames(pos[:, 0], pos[:, 1], frame, 1.5)
        n, cost = achieved(ends, atoms, track)
        n_best, cost_best = brute_force(ends, atoms, 1.5)
        assert n == n_best
        assert cost == pytest.approx(cost_best, abs=1e-9)


def test_sparse_solver_agrees_with_dense(monkeypatch):
    rng = np.random.default_rng(6)
    ends = rng.uniform(0, 30, (150, 2))
    atoms = np.concatenate([ends[:140] + rng.normal(0, 1.0, (140, 2)), ends[:5]])
    pos = np.concatenate([ends, atoms])
    frame = np.repeat([0, 1], [len(ends), len(atoms)])
    # Large max_displacement: one big component with ties at distance zero.
    dense = link_frames(pos[:, 0], pos[:, 1], frame, 4.0)
    monkeypatch.setattr(tracking, "_DENSE_LIMIT", 0)
    sparse = link_frames(pos[:, 0], pos[:, 1], frame, 4.0)
    n_d, cost_d = achieved(ends, atoms, dense)
    n_s, cost_s = achieved(ends, atoms, sparse)
    assert n_d == n_s
    assert cost_s == pytest.approx(cost_d, rel=1e-9, abs=1e-9)
    # at least as many links as the truth holds: the first 140 atoms each
    # linked to its own end where within 4 px is a valid assignment (the last
    # 5 are copies of ends 0-4), and the solver maximises the links first
    own = np.hypot(*(atoms[:140] - ends[:140]).T) < 4.0
    assert n_d >= own.sum()
    assert np.array_equal(dense, sparse)


def test_empty_and_single_frame():
    track = link_frames([], [], [], 2.0)
    assert track.dtype == np.int64 and track.shape == (0,)
    track = link_frames([3.0, 1.0, 2.0], [0.0, 0.0, 0.0], [0, 0, 0], 2.0)
    assert np.array_equal(track, [0, 1, 2])
    # a single frame that is not frame 0
    track = link_frames([3.0, 1.0], [0.0, 0.0], [4, 4], 2.0, shifts=np.zeros((5, 2)))
    assert np.array_equal(track, [0, 1])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"x": [0.0, 1.0, 2.0]}, "x"),
        ({"y": [0.0]}, "y"),
        ({"frame": [0, 1, 2]}, "frame"),
        ({"x": [0.0, np.nan]}, "x"),
        ({"y": [np.inf, 0.0]}, "y"),
        ({"frame": [0, -1]}, "frame"),
        ({"frame": [0.0, 0.5]}, "frame"),
        ({"max_displacement": -1.0}, "max_displacement"),
        ({"max_displacement": 0.0}, "max_displacement"),
        ({"max_displacement": np.inf}, "max_displacement"),
        ({"max_displacement": np.nan}, "max_displacement"),
        ({"memory": -1}, "memory"),
        ({"memory": 1.5}, "memory"),
        ({"shifts": np.zeros((2, 3))}, "shifts"),
        ({"shifts": np.zeros((1, 2))}, "shifts"),
        ({"shifts": np.zeros(4)}, "shifts"),
        ({"shifts": [[0.0, 0.0], [np.nan, 0.0]]}, "shifts"),
    ],
)
def test_link_frames_bad_input(kwargs, name):
    args = {
        "x": [0.0, 1.0],
        "y": [0.0, 1.0],
        "frame": [0, 1],
        "max_displacement": 2.0,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=f"`{name}`"):
        link_frames(**args)


# ------------------------------------------------------------ estimate_shifts
def test_estimate_shifts_recovers_drift():
    m = make_movie(seed=7)
    track = link_frames(m["x"], m["y"], m["frame"], 5.0)
    shifts, errors = estimate_shifts(m["x"], m["y"], m["frame"], track)
    assert shifts.shape == errors.shape == (m["n_frames"], 2)
    assert np.array_equal(shifts[0], [0.0, 0.0])
    assert np.array_equal(errors[0], [0.0, 0.0])
    # every frame's shift within 0.05 px of the truth (measured against
    # frame 0 directly, so the error does not accumulate)
    error = np.abs(shifts - m["shifts"])
    assert np.max(error) < 0.05
    assert np.all(error[1:] < 4 * errors[1:])
    # error of a median of ~2000 differences: ~1.2533 * 0.3 * sqrt(2 / 2000)
    assert np.all((errors[1:] > 0.005) & (errors[1:] < 0.03))
    # a second pass with the measured drift gives the same links
    again = link_frames(m["x"], m["y"], m["frame"], 5.0, shifts=shifts)
    assert np.array_equal(again, track)


def test_estimate_shifts_falls_back_to_earlier_frame():
    base = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    move = {0: (0.0, 0.0), 1: (1.0, 0.0), 2: (2.0, 1.0)}
    # frame 1 keeps only tracks 0 and 1: frame 2 must be measured from frame 0.
    keep = {0: [0, 1, 2, 3], 1: [0, 1], 2: [0, 1, 2, 3]}
    x, y, frame, track = [], [], [], []
    for k, tracks in keep.items():
        for t in tracks:
            x.append(base[t, 0] + move[k][0])
            y.append(base[t, 1] + move[k][1])
            frame.append(k)
            track.append(t)
    with pytest.warns(RuntimeWarning, match="fewer than 3"):
        shifts, errors = estimate_shifts(x, y, frame, track)
    assert np.all(np.isnan(shifts[1])) and np.all(np.isnan(errors[1]))
    assert np.allclose(shifts[2], [2.0, 1.0])
    assert np.allclose(errors[2], 0.0)


def test_estimate_shifts_nan_without_common_tracks():
    x = np.zeros(6)
    y = np.arange(6.0)
    frame = [0, 0, 0, 2, 2, 2]
    with pytest.warns(RuntimeWarning, match="NaN"):
        shifts, _ = estimate_shifts(x, y, frame, [0, 1, 2, 3, 4, 5], n_frames=4)
    assert shifts.shape == (4, 2)
    assert np.array_equal(shifts[0], [0.0, 0.0])
    assert np.all(np.isnan(shifts[1:]))


def test_estimate_shifts_bad_input():
    with pytest.raises(ValueError, match="`track`"):
        estimate_shifts([0.0, 1.0], [0.0, 1.0], [0, 0], [0, 0])  # one frame twice
    with pytest.raises(ValueError, match="`track`"):
        estimate_shifts([0.0, 1.0], [0.0, 1.0], [0, 0], [0])
    with pytest.raises(ValueError, match="`n_frames`"):
        estimate_shifts([0.0, 1.0], [0.0, 1.0], [0, 3], [0, 0], n_frames=2)


# ------------------------------------------------------------ estimate_affine
def test_estimate_affine_exact_on_noise_free_points():
    rng = np.random.default_rng(8)
    ref = rng.uniform(0, 500, (50, 2))
    matrix = np.array([[1.02, 0.03], [-0.01, 0.98]])
    translation = np.array([4.5, -7.25])
    p = ref @ matrix.T + translation
    m, t, rms = estimate_affine(ref[:, 0], ref[:, 1], p[:, 0], p[:, 1])
    assert np.allclose(m, matrix, rtol=0, atol=1e-12)
    assert np.allclose(t, translation, rtol=0, atol=1e-9)
    assert rms < 1e-9
    # three points are enough
    m, t, rms = estimate_affine(ref[:3, 0], ref[:3, 1], p[:3, 0], p[:3, 1])
    assert np.allclose(m, matrix, atol=1e-10) and np.allclose(t, translation)


def test_estimate_affine_rms_of_noisy_points():
    rng = np.random.default_rng(9)
    ref = rng.uniform(0, 500, (5000, 2))
    p = ref + [1.0, 2.0] + rng.normal(0, 0.5, ref.shape)
    m, t, rms = estimate_affine(ref[:, 0], ref[:, 1], p[:, 0], p[:, 1])
    assert rms == pytest.approx(0.5 * np.sqrt(2), rel=0.03)
    assert np.allclose(m, np.eye(2), atol=1e-3)
    assert np.allclose(t, [1.0, 2.0], atol=0.1)


def test_estimate_affine_bad_input():
    with pytest.raises(ValueError, match="`x_ref`"):
        estimate_affine([0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="collinear"):
        line = np.arange(5.0)
        estimate_affine(line, 2 * line, line, line)
    with pytest.raises(ValueError, match="`y`"):
        estimate_affine([0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0])
    with pytest.raises(ValueError, match="`x`"):
        estimate_affine([0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, np.nan, 0.0], [0.0] * 3)


# --------------------------------------------------------------- trajectories
TINY = {
    # track 0 in frames 0, 1, 2; track 1 in frames 0, 2; track 2 only frame 1
    "x": np.array([5.0, 1.0, 1.5, 9.0, 2.0, 5.5]),
    "y": np.array([0.0, 1.0, 1.0, 3.0, 1.0, 0.5]),
    "frame": np.array([2, 0, 1, 1, 2, 0]),
    "track": np.array([1, 0, 0, 2, 0, 1]),
}


def test_trajectories_tiny_example():
    tx, ty = trajectories(**TINY)
    nan = np.nan
    assert tx.shape == ty.shape == (3, 3)
    np.testing.assert_array_equal(
        tx, [[1.0, 1.5, 2.0], [5.5, nan, 5.0], [nan, 9.0, nan]]
    )
    np.testing.assert_array_equal(
        ty, [[1.0, 1.0, 1.0], [0.5, nan, 0.0], [nan, 3.0, nan]]
    )
    tx, ty = trajectories(**TINY, n_frames=5)
    assert tx.shape == (3, 5) and np.all(np.isnan(tx[:, 3:]))
    tx, ty = trajectories([], [], [], [])
    assert tx.shape == (0, 0)


def test_trajectories_roundtrip_on_movie():
    m = make_movie(seed=10, n_side=10, n_frames=5)
    tx, ty = trajectories(m["x"], m["y"], m["frame"], m["ident"])
    assert tx.shape == (100, 5)
    assert np.count_nonzero(~np.isnan(tx)) == m["x"].size
    assert np.array_equal(tx[m["ident"], m["frame"]], m["x"])
    assert np.array_equal(ty[m["ident"], m["frame"]], m["y"])


def test_trajectories_bad_input():
    with pytest.raises(ValueError, match="`track`"):
        trajectories([0.0, 1.0], [0.0, 0.0], [0, 0], [1, 1])
    with pytest.raises(ValueError, match="`track`"):
        trajectories([0.0, 1.0], [0.0, 0.0], [0, 0], [0, -1])
    with pytest.raises(ValueError, match="`n_frames`"):
        trajectories([0.0], [0.0], [2], [0], n_frames=2)


def test_displacements_tiny_example():
    d = displacements(**TINY, frame_a=0, frame_b=2)
    assert set(d) == {"x", "y", "dx", "dy", "track", "index_a", "index_b"}
    np.testing.assert_array_equal(d["track"], [0, 1])
    np.testing.assert_array_equal(d["index_a"], [1, 5])
    np.testing.assert_array_equal(d["index_b"], [4, 0])
    np.testing.assert_array_equal(d["x"], [1.0, 5.5])
    np.testing.assert_array_equal(d["y"], [1.0, 0.5])
    np.testing.assert_allclose(d["dx"], [1.0, -0.5])
    np.testing.assert_allclose(d["dy"], [0.0, -0.5])
    d = displacements(**TINY, frame_a=1, frame_b=0)
    np.testing.assert_array_equal(d["track"], [0])
    np.testing.assert_allclose([d["dx"][0], d["dy"][0]], [-0.5, 0.0])
    d = displacements(**TINY, frame_a=0, frame_b=7)
    assert all(v.size == 0 for v in d.values())


def test_displacements_of_linked_movie_give_the_drift():
    m = make_movie(seed=11, n_side=20)
    track = link_frames(m["x"], m["y"], m["frame"], 5.0)
    d = displacements(m["x"], m["y"], m["frame"], track, 3, 4)
    step = m["shifts"][4] - m["shifts"][3]
    # one displacement per atom present in both frames (the truth: 393)
    n3 = np.unique(m["ident"][m["frame"] == 3])
    n4 = np.unique(m["ident"][m["frame"] == 4])
    both = np.intersect1d(n3, n4).size
    assert 0.99 * both <= d["dx"].size <= min(n3.size, n4.size)
    assert np.median(d["dx"]) == pytest.approx(step[0], abs=0.1)
    assert np.median(d["dy"]) == pytest.approx(step[1], abs=0.1)
    assert np.array_equal(m["frame"][d["index_a"]], np.full(d["dx"].size, 3))
    assert np.array_equal(track[d["index_b"]], d["track"])


def test_displacements_bad_input():
    with pytest.raises(ValueError, match="`frame_a`"):
        displacements(**TINY, frame_a=-1, frame_b=0)
    with pytest.raises(ValueError, match="`frame_b`"):
        displacements(**TINY, frame_a=0, frame_b=1.5)
    with pytest.raises(ValueError, match="`track`"):
        displacements([0.0, 1.0], [0.0, 0.0], [0, 0], [1, 1], 0, 0)


def test_sparse_solver_agrees_with_dense_when_atoms_are_left_over(monkeypatch):
    # more atoms than ends in one big component: some atoms (the first of
    # the component among them: index 0, far from every end but within
    # reach of several) stay unlinked; the sparse problem's dummies must not
    # turn into links
    rng = np.random.default_rng(8)
    ends = rng.uniform(0, 30, (140, 2))
    extra = np.array([[15.0, 15.0]]) + rng.uniform(-12, 12, (12, 2))
    atoms = np.concatenate([extra[:1], ends + rng.normal(0, 0.5, (140, 2)), extra[1:]])
    pos = np.concatenate([ends, atoms])
    frame = np.repeat([0, 1], [len(ends), len(atoms)])
    dense = link_frames(pos[:, 0], pos[:, 1], frame, 4.0)
    monkeypatch.setattr(tracking, "_DENSE_LIMIT", 0)
    sparse = link_frames(pos[:, 0], pos[:, 1], frame, 4.0)
    assert np.array_equal(dense, sparse)
    n_d, cost_d = achieved(ends, atoms, dense)
    assert n_d == len(ends)  # every end linked, 12 atoms left over
    assert len(np.unique(dense)) == len(ends) + 12  # 12 new tracks
