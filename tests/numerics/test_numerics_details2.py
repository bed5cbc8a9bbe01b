"""More details of the numerics that the module tests did not pin down.

As in ``test_numerics_details.py``, each test checks a property against truth
known independently of the code (a brute-force numpy or scipy computation, a
count of pairs by definition, a scene built with known geometry, a documented
default), chosen so that one of the operator mutants that survived the second
random sample fails it; ``mutation/mutants_sample_seed1.toml`` lists those
mutants, and the equivalent ones with the reason and the experiment.
"""

import os
import threading

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage as ndi

from hyperspy_localcryst.data.synthetic import (
    make_lattice_image,
    render_gaussians,
    two_phase_positions,
)
from hyperspy_localcryst.numerics import (
    _fit_kernels,
    _imaging,
    finding,
    neighbourhoods,
    spectra,
)
from hyperspy_localcryst.numerics._parallel import limit_threads, max_threads
from hyperspy_localcryst.numerics.alignment import frame_shifts
from hyperspy_localcryst.numerics.centroids import estimate_sigma
from hyperspy_localcryst.numerics.separation import estimate_separation


# -------------------------------------------------------------------- _imaging
@pytest.mark.parametrize("rows, threads", [(300, 16), (700, 8), (1030, 3)])
def test_filters_in_strips_with_more_threads_than_strips(rows, threads):
    # more threads than strips of min_rows: the image is cut into
    # rows // min_rows strips (4, 10 and 3 here) and the result is still the
    # filter of the whole image, whatever the machine's core count
    img = np.random.default_rng(11).random((rows, 70))

    def filt(a):
        return ndi.gaussian_filter(a, 2.5)

    with limit_threads(threads):
        out = _imaging.in_strips(filt, img, 11, min_rows=64 if rows < 1000 else 256)
    np.testing.assert_array_equal(out, filt(img))


@pytest.mark.parametrize("shape, th, tw", [((150, 37), 5, 4), ((70, 23), 7, 1)])
def test_window_variance_as_plain_python(shape, th, tw):
    # compiled and as plain Python (numpy checks every index there, so a
    # read past the image raises): the sums of squared deviations of every
    # window, by definition
    a = np.random.default_rng(12).normal(50.0, 5.0, shape)
    win = sliding_window_view(a, (th, tw))
    ref = ((win - win.mean(axis=(2, 3), keepdims=True)) ** 2).sum(axis=(2, 3))
    np.testing.assert_allclose(
        _imaging.window_variance(a, th, tw), ref, rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(
        _imaging.window_variance.py_func(a, th, tw), ref, rtol=1e-9, atol=1e-9
    )


def test_histogram_of_values_beyond_its_range():
    # as numpy.histogram(values, nbins, (lo, hi)): values outside the range
    # are not counted (the package passes the data's own range; the kernel's
    # contract is numpy's)
    v = np.random.default_rng(15).normal(size=20_001)
    for lo, hi, nbins in [(-1.0, 0.5, 64), (0.3, 2.0, 7), (-5.0, -0.25, 256)]:
        counts = _imaging.histogram(v, lo, hi, nbins)
        ref, _ = np.histogram(v, nbins, (lo, hi))
        assert counts.sum() == ((v >= lo) & (v <= hi)).sum()
        assert np.abs(counts - ref).max() <= 1  # a value on an edge: either side


def test_numerics_use_every_core_by_default():
    # outside limit_threads (in a fresh thread: the limit is thread-local),
    # a numerics call may use all the machine's cores
    seen = []
    t = threading.Thread(target=lambda: seen.append(max_threads()))
    t.start()
    t.join()
    assert seen == [os.cpu_count()]
    with limit_threads(3):
        assert max_threads() == 3


# -------------------------------------------------------------------- finding
def test_wide_smooth_of_a_non_square_image():
    # 384 rows x 512 columns, binned by 4: the interpolation back to full
    # resolution must follow each axis's own length
    yy, xx = np.mgrid[:384, :512]
    img = 0.01 * (xx - 200.0) ** 2 / 50 + 3 * np.sin(yy / 90)
    img = img + np.random.default_rng(13).normal(0, 5, img.shape)
    smooth = _imaging._smooth(img, 32)
    ref = ndi.gaussian_filter(img, 32)
    assert smooth.shape == img.shape
    inner = (slice(96, -96), slice(96, -96))
    assert np.abs(smooth - ref)[inner].max() < 0.05 * np.ptp(ref[inner])


def test_estimate_separation_of_a_non_square_image():
    # the background removal of a 300 x 420 image bins it (sigma 26 px)
    img, _ = make_lattice_image(
        (300, 420), spacing=13.7, sigma=13.7 / 6, noise=None, rotation=11.0
    )
    assert estimate_separation(img) == pytest.approx(13.7, abs=0.05)


def test_consensus_of_finders_that_found_nothing():
    # no finder found an atom: the consensus has no atom either (as for
    # finders whose atoms all lack the votes)
    empty = {"x": np.empty(0), "y": np.empty(0)}
    for results in ([empty], [empty, empty, empty]):
        out = finding.consensus(results, separation=8.0)
        assert {k: len(v) for k, v in out.items()} == {"x": 0, "y": 0, "votes": 0}
    one = {"x": np.array([3.0]), "y": np.array([4.0])}
    out = finding.consensus([one, empty, empty], separation=8.0)
    assert {k: len(v) for k, v in out.items()} == {"x": 0, "y": 0, "votes": 0}


# -------------------------------------------------------------- neighbourhoods
def test_radius_memory_estimate_covers_the_pairs(monkeypatch):
    # A radius query keeps every pair within the radius: before it runs, the
    # memory those pairs need (at least a 2-vector and an index, 24 bytes
    # each) must be what is checked against the available memory. The check
    # is intercepted here, so that nothing large is ever allocated.
    yy, xx = np.mgrid[0:40, 0:55]
    x = xx.ravel() * 3.0 + 0.2 * np.sin(yy.ravel())
    y = yy.ravel() * 2.5
    radius = 11.0
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    pairs = int((d <= radius).sum() - len(x))  # ordered pairs, self excluded

    class Checked(Exception):
        pass

    seen = []

    def spy(n_bytes, name, value, *args, **kwargs):
        seen.append((n_bytes, name, value))
        raise Checked

    monkeypatch.setattr(neighbourhoods, "check_memory", spy)
    with pytest.raises(Checked):
        neighbourhoods.neighbour_vectors(x, y, n_neighbours=None, radius=radius)
    ((n_bytes, name, value),) = seen
    assert (name, value) == ("radius", radius)
    # and not far beyond them (a feasible radius must not be refused)
    assert 24 * pairs <= n_bytes <= 4 * 24 * pairs


# -------------------------------------------------------------------- spectra
def test_radius_cell_memory_estimate_covers_the_pairs(monkeypatch):
    # cell="radius" stores every (atom, sampling point) pair within the
    # radius; SI pixels of 4 x 3 survey pixels sampled 2 x 2 times: the
    # memory checked up front must cover the pairs counted by brute force
    # (24 bytes each: a row, a column and a weight)
    yy, xx = np.mgrid[0:6, 0:7]
    x = 10.0 + 9.0 * xx.ravel()
    y = 8.0 + 8.5 * yy.ravel()
    A = spectra.region_transform((0.0, 0.0, 80.0, 60.0), (20, 20))
    px, py, _ = spectra.si_pixel_centres(A, (20, 20), 2)
    radius = 6.5
    d = np.hypot(x[:, None] - px[None, :], y[:, None] - py[None, :])
    pairs = int((d <= radius).sum())

    class Checked(Exception):
        pass

    seen = []

    check = spectra.check_memory

    def spy(n_bytes, name, value, *args, **kwargs):
        if name != "radius":  # the sampling points' own check
            return check(n_bytes, name, value, *args, **kwargs)
        seen.append((n_bytes, name, value))
        raise Checked

    monkeypatch.setattr(spectra, "check_memory", spy)
    with pytest.raises(Checked):
        spectra.cell_weights(
            x, y, A, (20, 20), cell="radius", radius=radius, subsample=2
        )
    ((n_bytes, name, value),) = seen
    assert (name, value) == ("radius", radius)
    # and not far beyond them (a feasible radius must not be refused)
    assert 24 * pairs <= n_bytes <= 2 * 24 * pairs


# ----------------------------------------------------------------- refinement
@pytest.mark.parametrize("sigma, x0, y0", [(2.0, 20.3, 14.6), (1.4, 9.8, 25.2)])
def test_estimate_sigma_of_a_single_column(sigma, x0, y0):
    # one Gaussian column on a background: its width is measured (from the
    # area above half maximum, 2 pi ln2 sigma^2), not guessed from the window
    yy, xx = np.mgrid[:36, :41]
    img = 7.0 + 90.0 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2))
    est = estimate_sigma(img, [x0], [y0], radius=9)
    assert est == pytest.approx(sigma, rel=0.1)


# ------------------------------------------------------------------ alignment
def test_frame_shifts_default_upsampling_is_the_documented_one():
    # documented: ``upsample : int, default 20``; a non-periodic scene
    # (smoothed noise, 96 x 120) Fourier-shifted by known sub-pixel amounts
    rng = np.random.default_rng(14)
    img = ndi.gaussian_filter(rng.normal(size=(96, 120)), 2.0, mode="wrap")
    truth = np.array([[0.0, 0.0], [0.35, -1.15], [-2.6, 0.45], [1.05, 2.3]])
    f = np.fft.fft2(img)
    ky = np.fft.fftfreq(img.shape[0])[:, None]
    kx = np.fft.fftfreq(img.shape[1])[None, :]
    stack = np.stack(
        [
            np.fft.ifft2(f * np.exp(-2j * np.pi * (kx * dx + ky * dy))).real
            for dx, dy in truth
        ]
    )
    default = frame_shifts(stack)
    np.testing.assert_array_equal(default, frame_shifts(stack, upsample=20))
    # the default reference is "auto" (least squares over the frame pairs);
    # each frame measured directly against frame 0 ("first") is one
    # phase correlation each, within 1/40 px here (measured 0.0249 px, the
    # same at upsample 100: the estimator's own error, not the grid's)
    first = frame_shifts(stack, reference="first")
    np.testing.assert_array_equal(
        first, frame_shifts(stack, reference="first", upsample=20)
    )
    np.testing.assert_allclose(first, truth, atol=1 / 40)
    # "auto" combines pairs (to the previous frame, the one before, frame 0),
    # each with an error of that size: measured 0.0303 px
    np.testing.assert_allclose(default, truth, atol=1.5 / 40)


@pytest.mark.parametrize("poisson", [False, True])
def test_elliptical_fisher_sums_match_numpy(poisson):
    # The Fisher matrix, score and residual sums of the elliptical model
    # (parameters x, y, amplitude, the precision matrix a, b, c, background)
    # against numpy: the Jacobian by central differences of the model, the
    # sums by definition. Compiled and as plain Python (numpy checks every
    # index there). A rotated, elongated column off the pixel grid.
    rng = np.random.default_rng(16)
    yy, xx = np.mgrid[0:13, 0:11]
    X, Y = xx.ravel().astype(float), yy.ravel().astype(float)
    p = np.array([5.3, 6.6, 80.0, 0.30, -0.08, 0.12, 12.0])

    def model(q):
        dx, dy = X - q[0], Y - q[1]
        return q[6] + q[2] * np.exp(
            -0.5 * (q[3] * dx * dx + 2 * q[4] * dx * dy + q[5] * dy * dy)
        )

    N = rng.uniform(0.0, 3.0, X.size)  # the neighbours' model in the window
    mu = model(p)
    D = rng.poisson(mu + N).astype(float) - N
    Jn = np.empty((X.size, 7))
    for k in range(7):
        h = 1e-6 * max(abs(p[k]), 1.0)
        e = np.zeros(7)
        e[k] = h
        Jn[:, k] = (model(p + e) - model(p - e)) / (2 * h)
    w = 1.0 / (mu + N) if poisson else np.ones(X.size)
    res = D - mu
    F_ref = Jn.T @ (w[:, None] * Jn)
    g_ref = Jn.T @ (w * res)
    for fn in (
        _fit_kernels._accumulate_elliptical,
        _fit_kernels._accumulate_elliptical.py_func,
    ):
        J, F, g = np.zeros(7), np.zeros((7, 7)), np.zeros(7)
        rss, wrss, mu_min = fn(D, X, Y, N, X.size, p, poisson, J, F, g)
        np.testing.assert_allclose(F, F_ref, rtol=1e-6, atol=1e-9 * np.abs(F_ref).max())
        np.testing.assert_allclose(g, g_ref, rtol=1e-6, atol=1e-9 * np.abs(g_ref).max())
        assert rss == pytest.approx(np.sum(res**2), rel=1e-10)
        assert wrss == pytest.approx(np.sum(w * res**2), rel=1e-10)
        # the smallest value of the whole model in the window, the
        # neighbours' included (the Poisson weights 1 / (mu + N) need it
        # positive), not of this column's model alone
        assert mu_min == pytest.approx((mu + N).min(), rel=1e-12)


@pytest.mark.parametrize("dx, dy", [(1.3, -2.7), (-0.35, 1.8), (2.25, 0.4)])
def test_si_shift_to_a_fraction_of_a_pixel(dx, dy):
    # the simultaneous image really was (dx, dy) survey pixels from where the
    # affine map puts it, a fraction of a pixel off the grid (spline shift):
    # the sub-pixel refinement must find it
    img, _ = make_lattice_image((96, 96), spacing=12.0, noise=None)
    A = spectra.region_transform((30.5, 20.5, 60.5, 70.5), (10, 6))
    haadf = ndi.shift(img, (-dy, -dx), order=5, mode="nearest")[21:71, 31:61]
    (ex, ey), score = spectra.estimate_si_shift(img, haadf, A, (10, 6), search=5)
    assert ex == pytest.approx(dx, abs=0.05)
    assert ey == pytest.approx(dy, abs=0.05)
    assert score > 0.98


@pytest.mark.parametrize("rotation", [12.1, -7.37])
def test_si_rotation_between_the_fine_trials(rotation):
    # trials every 2 degrees, refined on a 0.25 degree grid: an SI turned by
    # an angle between the fine trials is found by the parabola through them
    x, y, _ = two_phase_positions((128, 140), spacing=10.0, seed=0)
    img = render_gaussians((128, 140), x, y, 100.0, 2.0, background=10.0)
    A0 = spectra.region_transform((34.5, 34.5, 94.5, 94.5), (30, 30))
    A = spectra.rotate_affine(A0, rotation, (30, 30))
    jj, ii = np.mgrid[0:30, 0:30]
    sx, sy = spectra.apply_affine(A, ii, jj)
    haadf = ndi.map_coordinates(img, [sy, sx], order=3)
    rot, shift, score = spectra.estimate_si_rotation(
        img, haadf, A0, (30, 30), rotations=np.arange(-30, 31, 2.0)
    )
    assert rot == pytest.approx(rotation, abs=0.04)
    assert np.abs(shift).max() < 0.05
    assert score > 0.99
