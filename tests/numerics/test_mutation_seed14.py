"""Details of the numerics that the random sample of seed 14 found open
(docs/mutation.md, "Seed 14"); ``mutation/mutants_sample_seed14.toml``
lists those mutants, the equivalent ones with the reason. Written after the
sample, so their kills are biased."""

import numpy as np

from hyperspy_localcryst.numerics import class_count, polarisation


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
