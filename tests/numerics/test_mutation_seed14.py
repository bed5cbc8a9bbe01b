"""Details of the numerics that the random sample of seed 14 found open
(docs/mutation.md, "Seed 14"); ``mutation/mutants_sample_seed14.toml``
lists those mutants, the equivalent ones with the reason. Written after the
sample, so their kills are biased."""

import numpy as np

from hyperspy_localcryst.numerics import class_count, polarisation, sublattices


def test_four_reference_atoms_are_enough_to_close_a_triangle():
    """`cell_count` votes in every frame with at least 4 reference atoms: a
    centre inside a triangle of 3 reference atoms, with a 4th twice as far,
    has a closed cell of 3 (the next atom at least 1.15 times as far). With
    the triangle alone there is no next atom to close the shell, and
    nothing votes (the count is then 4, not closed)."""
    t = np.deg2rad(17.0)
    ang = t + np.deg2rad([90.0, 210.0, 330.0])
    tri = 8.0 * np.column_stack([np.cos(ang), np.sin(ang)])
    far = 16.0 * np.array([[np.cos(t - 0.3), np.sin(t - 0.3)]])
    p = np.r_[[[0.3, -0.2]], tri, far] + [40.0, 30.0]
    x, y = p[:, 0], p[:, 1]
    assert polarisation.cell_count(x, y, [0], [1, 2, 3, 4]) == (3, True)
    assert polarisation.cell_count(x, y, [0], [1, 2, 3]) == (4, False)


def test_kernel_density_modes_ignore_its_empty_tails():
    """`_n_modes` counts the local maxima of the kernel density on a grid: a
    grid reaching far beyond the data, where the density underflows to
    exactly zero, adds no maximum (a flat zero is no peak). One Gaussian
    cloud has one mode, two separated clouds two, on a grid 100 kernel
    widths wider than the data on each side."""
    rng = np.random.default_rng(0)
    one = rng.normal(0.0, 1.0, 300)
    two = np.r_[rng.normal(-4.0, 0.5, 150), rng.normal(4.0, 0.5, 150)]
    grid = np.linspace(-60.0, 60.0, 4001)
    assert class_count._kde(grid, one, 0.5)[[0, -1]].max() == 0.0  # underflow
    assert class_count._n_modes(one, 0.5, grid) == 1
    assert class_count._n_modes(two, 0.5, grid) == 2


# --------------------------------------------- exploration of sublattices.py
# (`--modules sublattices.py translations.py --sample 16 --seed 1401`, after
# the seed-14 tests: 6 / 16 killed; mutation/mutants_explore_sublattices.toml;
# biased, see docs/mutation.md)


def test_fallback_labels_an_atom_without_intensity_minus_one():
    """Fewer than 8 atoms: the structure cannot be used and the atoms are
    split by local intensity; an atom without a finite intensity then has
    no label, -1 (documented), not a sublattice."""
    import warnings

    x = np.array([0.0, 10, 20, 0, 10, 20, 5])
    y = np.array([0.0, 0, 0, 10, 10, 10, 5])
    v = np.array([1.0, 0.5, 1.0, 0.5, 1.0, 0.5, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels, info = sublattices.label_sublattices(x, y, v, 2)
    assert info["method"] == "local intensity"
    assert labels[-1] == -1
    assert set(labels[:-1].tolist()) == {0, 1}


def test_translation_candidates_are_distinct():
    """`find_translations` merges candidates that its mean shift brings
    within 0.3 of the nearest-neighbour distance of one another: on an
    oblique lattice (turned by 23 deg) with a checkerboard of intensities,
    no two candidates are that close. (A contract test; it does not kill
    the exploration's mutant of that merge, whose peaks never meet here.)"""
    i, j = np.mgrid[0:18, 0:16].reshape(2, -1).astype(float)
    t = np.deg2rad(23.0)
    cell = np.array([[11.0, 0.0], [3.0, 12.5]]) @ np.array(
        [[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]
    )
    xy = np.column_stack([i, j]) @ cell + np.random.default_rng(1).normal(
        0, 0.05, (i.size, 2)
    )
    q = np.where((i + j) % 2 == 0, 1.0, -1.0)
    r = sublattices.find_translations(xy[:, 0], xy[:, 1], q)
    c = r["candidates"]
    assert len(c) >= 4
    d = np.hypot(*(c[:, None, :] - c[None, :, :]).transpose(2, 0, 1))
    d[np.diag_indices(len(c))] = np.inf
    assert d.min() >= 0.3 * r["nn_distance"]


def test_split_types_leaves_types_alone_with_a_collinear_cell():
    """`split_types` needs a parent cell of two non-collinear vectors: with
    collinear ones (no cell) it returns the types unchanged and no split,
    whatever the intensities."""
    i, j = np.mgrid[0:12, 0:12].reshape(2, -1).astype(float)
    x, y = 10.0 * i, 10.0 * j
    v = np.where((i + j) % 2 == 0, 1.0, 0.6)
    types = np.zeros(i.size, dtype=int)
    new, splits = sublattices.split_types(x, y, v, types, [10.0, 0.0], [20.0, 0.0])
    assert np.array_equal(new, types) and splits == []
