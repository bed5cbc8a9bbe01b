"""Details of the numerics that the fresh seed-13 random sample of mutants
found open (docs/mutation.md, "Seed 13").

Each test checks a documented rule against truth known independently of the
code, chosen so that one of the operator mutants that survived the sample
fails it; ``mutation/mutants_sample_seed13.toml`` lists those mutants.
Written after the sample, so their kills are biased.
"""

import numpy as np

from hyperspy_localcryst.numerics import strain as ns
from hyperspy_localcryst.numerics import sublattices


def test_strain_refit_drops_only_the_far_tail_of_gaussian_noise():
    """The robust refit of `local_deformation` leaves out vectors that miss
    the first fit by more than 3.5 standard deviations, the standard
    deviation read from the median misfit as a Rayleigh median (median = sd
    x sqrt(2 ln 2) = 1.1774 sd). With Gaussian position noise (no outlier)
    a vector's misfit is beyond 3.5 sd with probability exp(-3.5^2 / 2) =
    0.2 %: an inner atom of a square lattice keeps 7.9 or more of its 8
    neighbours on average. Reading the median as 1.77 sd (the mutant) puts
    the cut at 2.3 sd and drops 6 % of the vectors (7.5 kept)."""
    rng = np.random.default_rng(4)
    i, j = np.mgrid[0:40, 0:40].reshape(2, -1).astype(float)
    p = np.column_stack([12.0 * i, 12.0 * j]) + rng.normal(0, 0.25, (i.size, 2))
    r = ns.local_deformation(p[:, 0], p[:, 1], [[12.0, 0.0], [0.0, 12.0]])
    inner = (i > 1) & (i < 38) & (j > 1) & (j < 38)
    kept = r["n_neighbours"][inner]
    assert kept.max() == 8
    assert kept.mean() >= 7.9


class _OneIdentity:
    """An rng whose 15th permutation is the identity (a shuffle that
    reproduces the observed arrangement, hence the observed gain exactly;
    after the early stop at the 10th) and whose others are random."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.calls = 0

    def permutation(self, x):
        self.calls += 1
        return np.asarray(x) if self.calls == 15 else self.rng.permutation(x)


def test_a_shuffle_that_ties_the_gain_is_not_beaten():
    """`_significant` documents that the observed gain must beat every
    shuffle: a shuffle that reproduces the observed arrangement ties it,
    and a tie is not a win, so the order is not significant. The same
    order with random shuffles only is significant (the control)."""
    rng = np.random.default_rng(0)
    i, j = np.mgrid[0:12, 0:12].reshape(2, -1).astype(float)
    xy = np.column_stack([10.0 * i, 10.0 * j]) + rng.normal(0, 0.05, (i.size, 2))
    v = np.where((i + j) % 2 == 0, 1.0, 0.7) + rng.normal(0, 0.02, i.size)
    q = sublattices.local_normalise(xy[:, 0], xy[:, 1], v, 24)
    gain = sublattices._best_cell(xy, q, 0.25, 24)[0]
    assert gain > 0
    control = sublattices._significant(
        gain, xy, v, 0.25, 24, None, np.random.default_rng(1)
    )
    assert control
    tied = sublattices._significant(gain, xy, v, 0.25, 24, None, _OneIdentity(1))
    assert not tied


def _em_start(z, cut, floor, iterations):
    """One start of the two-Gaussian EM of `class_count._two_modes_column`
    written again with numpy: split at ``cut``, widths 4 floors, the same
    updates and stop; returns the fit and its log-likelihood."""
    lo, hi = z[z <= cut], z[z > cut]
    m0, m1 = lo.mean(), hi.mean()
    sd0 = sd1 = 4.0 * floor
    w0, w1 = lo.size / z.size, hi.size / z.size
    for _ in range(iterations):
        d0 = w0 / sd0 * np.exp(-0.5 * ((z - m0) / sd0) ** 2)
        d1 = w1 / sd1 * np.exp(-0.5 * ((z - m1) / sd1) ** 2)
        t = d0 + d1
        a0 = np.where(t > 1e-300, d0 / np.where(t > 1e-300, t, 1.0), 0.5)
        r0s, r1s = max(a0.sum(), 1e-12), max((1 - a0).sum(), 1e-12)
        n0, n1 = (a0 * z).sum() / r0s, ((1 - a0) * z).sum() / r1s
        sd0 = max(np.sqrt((a0 * (z - n0) ** 2).sum() / r0s), floor)
        sd1 = max(np.sqrt(((1 - a0) * (z - n1) ** 2).sum() / r1s), floor)
        w0, w1 = r0s / z.size, r1s / z.size
        moved = max(abs(n0 - m0), abs(n1 - m1))
        m0, m1 = n0, n1
        if moved < 1e-5:
            break
    d = w0 / sd0 * np.exp(-0.5 * ((z - m0) / sd0) ** 2) + w1 / sd1 * np.exp(
        -0.5 * ((z - m1) / sd1) ** 2
    )
    return (m0, m1), float(np.log(np.maximum(d, 1e-300)).sum())


def test_two_modes_keeps_the_likeliest_of_its_three_starts():
    """`_two_modes_column` starts its EM from splits at the 0.5, 0.2 and
    0.8 quantiles and keeps the fit of the highest likelihood. On clouds of
    three groups (40, 120 and 60 values), where the starts end in
    different local optima, the means it returns are those of the likeliest
    start, computed here independently."""
    from hyperspy_localcryst.numerics import class_count

    checked = 0
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        z = np.r_[
            rng.normal(-3, 0.5, 40), rng.normal(0, 0.5, 120), rng.normal(3.2, 0.5, 60)
        ]
        z = (z - z.min()) / (z.max() - z.min())
        q = np.sort(z)
        fits = [
            _em_start(z, q[int(f * (z.size - 1))], 1e-3, class_count._EM_ITERATIONS)
            for f in (0.5, 0.2, 0.8)
        ]
        lls = sorted(ll for _, ll in fits)
        if lls[-1] - lls[-2] < 1e-3:
            continue  # two starts end in the same optimum: no choice to check
        best = max(fits, key=lambda f: f[1])[0]
        got = class_count._two_modes_column(z, 1e-3)[:2]
        np.testing.assert_allclose(got, best, atol=1e-4)
        checked += 1
    assert checked >= 10
