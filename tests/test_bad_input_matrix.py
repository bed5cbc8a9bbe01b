"""The bad-input matrix: every public method and the command line, one row per
kind of bad input.

Each case either raises a ``ValueError``/``TypeError`` whose message names the
offending argument (and leaves the input unchanged), or gives a documented,
honest result (asserted here value by value). ``tests/test_bad_input.py``
covers NaN/inf, constant, 1D, RGB and complex images, targets, separations,
radii, non-square pixels, mixed axis units, non-uniform axes and NaN seeds for
the finding and refinement side; this file covers the rest:

========================  ====================================================
input                     sections below
========================  ====================================================
integer images            uint16 / uint32 raw counts at their limits, int64
                          and float images far from order 1
negative values           iDPC / mean-removed, all-negative, STM heights, ABF
tiny images               smaller than the template or one lattice spacing
parameters                zero, negative, NaN, huge, wrong types, per method
axes and units            uncalibrated, flipped, zero scale, non-uniform,
                          nm vs Å vs pm (tables, drift, targets)
tables                    empty, single atom, duplicates, NaN positions
names                     unknown methods, metrics, algorithms, colormaps
learning                  before decomposition/clustering, bad K/components
stacks                    drift/alignment inputs, tables of other stacks
report / CLI              bad signals, files and options: one line, exit 1
========================  ====================================================
"""

import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_localcryst import report
from hyperspy_localcryst.cli import main
from hyperspy_localcryst.data.synthetic import make_drift_stack, make_lattice_image
from hyperspy_localcryst.numerics import finding
from hyperspy_localcryst.signals.atom_positions import make_atom_positions
from hyperspy_localcryst.signals.atomic_image import AtomicImage

from ._helpers import (
    assert_unchanged,
    figures_not_rendered,
    match_one_to_one,
    snapshot,
)

SEP = 0.16  # nm: the 16 px spacing of the fixtures at 0.01 nm/px


# ------------------------------------------------------------------ helpers
def _atomic(data, scale=0.01, units="nm"):
    s = AtomicImage(np.asarray(data))
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = scale, units
    return s


def _raises(obj, exc, match, call):
    """``call(obj)`` raises ``exc`` matching ``match``; ``obj`` is unchanged."""
    before = snapshot(obj)
    with pytest.raises(exc, match=match) as info:
        call(obj)
    assert_unchanged(obj, before)
    return info


def _quiet(func, *args, **kwargs):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


@pytest.fixture(scope="module")
def lattice():
    """128² square lattice (16 px, 0.01 nm/px), its truth (pixels), atoms."""
    img, truth = make_lattice_image((128, 128), spacing=16, sigma=3, seed=0)
    s = _atomic(img)
    return s, truth, s.find_atoms()


@pytest.fixture
def image(lattice):
    return lattice[0].deepcopy()


@pytest.fixture
def atoms(lattice):
    return lattice[2].deepcopy()


@pytest.fixture
def nb(lattice):
    return lattice[2].get_neighbourhoods(4)


@pytest.fixture(scope="module")
def _learned(lattice):
    nb = lattice[2].get_neighbourhoods(4)
    nb.decomposition(print_info=False)
    nb.cluster_analysis(n_clusters=2)
    return nb


@pytest.fixture
def learned(_learned):
    return _learned.deepcopy()


@pytest.fixture(scope="module")
def _stack():
    frames, truth = make_drift_stack(n_frames=4, shape=(96, 96), seed=0)
    s = _atomic(frames)
    return s, truth, s.find_atoms(show_progressbar=False)


@pytest.fixture
def stack(_stack):
    return _stack[0].deepcopy()


def _pixels(table):
    return np.column_stack(table.get_pixel_positions())


# ====================================================== integer images
def _integer_image(kind):
    """(integer image, float64 image of the same values) of the lattice."""
    img, _ = make_lattice_image((128, 128), spacing=16, sigma=3, seed=0)
    dtype, limit = {"uint16": (np.uint16, 65535), "uint32": (np.uint32, 2**32 - 1)}[
        kind.split("-")[0]
    ]
    if kind.endswith("scaled"):  # the brightest pixel at the type's limit
        raw = np.round(img / img.max() * limit)
    else:  # a background just below the limit (the brightest pixel at it)
        raw = img + (limit - img.max())
    assert raw.max() == limit
    return _atomic(raw.astype(dtype)), _atomic(raw.astype(np.float64))


@pytest.mark.parametrize(
    "kind", ["uint16-scaled", "uint16-offset", "uint32-scaled", "uint32-offset"]
)
@pytest.mark.parametrize("method", ["template", "log", "local_max"])
def test_integer_images_at_their_limit_find_like_floats(kind, method):
    """No overflow anywhere in the finders: the same atoms as the float copy."""
    s, f = _integer_image(kind)
    before = snapshot(s)
    found = s.find_atoms(separation=SEP, method=method)
    assert_unchanged(s, before)  # the integer data was not converted in place
    expected = f.find_atoms(separation=SEP, method=method)
    # every atom of the lattice whose centre is inside the image (7 x 7), at
    # least (the finders also report the columns centred half a pixel outside)
    _, truth = make_lattice_image((128, 128), spacing=16, sigma=3, seed=0)
    assert found.n_atoms == expected.n_atoms >= len(truth["x"])
    np.testing.assert_array_equal(found.data, expected.data)
    assert s.estimate_separation() == f.estimate_separation()
    assert abs(s.estimate_separation() - SEP) < 0.01


@pytest.mark.parametrize(
    "kind", ["uint16-scaled", "uint16-offset", "uint32-scaled", "uint32-offset"]
)
@pytest.mark.parametrize("model", ["round", "elliptical"])
def test_integer_images_at_their_limit_refine_like_floats(lattice, kind, model):
    s, f = _integer_image(kind)
    seeds = f.find_atoms(separation=SEP)
    fit = _quiet(s.refine_atoms, seeds, model=model)
    ref = _quiet(f.refine_atoms, seeds, model=model)
    np.testing.assert_array_equal(
        fit.get_column("converged"), ref.get_column("converged")
    )
    np.testing.assert_allclose(fit.data, ref.data, rtol=1e-9, atol=1e-12)
    ok = fit.get_column("converged") == 1
    assert ok.mean() > 0.6
    assert np.all(np.isfinite(fit.data[ok]))
    # the amplitudes are in the raw counts (no wrapped-around integers)
    assert np.all(fit.get_column("amplitude")[ok] > 0)
    # interior atoms are where the truth is
    truth = lattice[1]
    tm, _ = match_one_to_one(truth["x"], truth["y"], *fit.get_pixel_positions(), 2)
    assert np.all(tm >= 0)


@pytest.mark.parametrize("kind", ["uint16-scaled", "uint32-offset"])
def test_integer_images_at_their_limit_preprocess_like_floats(kind):
    s, f = _integer_image(kind)
    for call in (
        lambda x: x.normalise_contrast(),
        lambda x: x.denoise(),
        lambda x: x.denoise("median"),
        lambda x: x.remove_background(sigma=0.5),
    ):
        out, expected = call(s), call(f)
        assert out.data.dtype == np.float64
        assert np.all(np.isfinite(out.data))
        np.testing.assert_allclose(out.data, expected.data, rtol=1e-12, atol=1e-6)
    assert s.data.dtype == np.dtype(kind.split("-")[0])


@pytest.mark.parametrize(
    "make",
    [
        lambda img: (img / img.max() * 2**62).astype(np.int64),
        lambda img: img * 1e200,
        lambda img: img * 1e-200,
    ],
    ids=["int64-2**62", "float-1e200", "float-1e-200"],
)
def test_images_far_from_order_one_are_not_lost_in_single_precision(lattice, make):
    """Bug fixed: the single-precision FFTs overflowed (2**62, 1e200: "No atoms
    found", or one atom) or underflowed (1e-200: "no periodic separation")."""
    base, _, expected = lattice
    s = _atomic(make(base.data))
    assert abs(s.estimate_separation() - base.estimate_separation()) < 1e-3
    found = s.find_atoms()
    assert found.n_atoms == expected.n_atoms
    np.testing.assert_allclose(_pixels(found), _pixels(expected), atol=1e-6)
    fit = _quiet(s.refine_atoms, found)
    ref = _quiet(base.refine_atoms, expected)
    assert fit.get_column("converged").mean() == ref.get_column("converged").mean()
    ok = ref.get_column("converged") == 1
    np.testing.assert_allclose(
        _pixels(fit)[ok], _pixels(ref)[ok], atol=1e-6
    )  # gain-independent fit


# ===================================================== negative values
def _matched(table, truth, tol=2.0):
    tm, _ = match_one_to_one(truth["x"], truth["y"], *table.get_pixel_positions(), tol)
    return tm


@pytest.mark.parametrize(
    "transform",
    [
        lambda img, yy, xx: img - img.mean(),  # iDPC, mean removed
        lambda img, yy, xx: img - img.max() - 1.0,  # all negative
        lambda img, yy, xx: (img - img.mean()) * 1e-3 + 5e-5 * xx - 0.3,  # STM (nm)
    ],
    ids=["idpc", "all-negative", "stm-heights"],
)
def test_negative_valued_images_find_and_refine_every_atom(lattice, transform):
    base, truth, _ = lattice
    yy, xx = np.mgrid[:128, :128]
    s = _atomic(transform(base.data, yy, xx))
    assert s.data.min() < 0
    found = s.find_atoms()
    assert np.all(_matched(found, truth) >= 0)
    fit = _quiet(s.refine_atoms, found)  # weights "auto": least squares
    ok = fit.get_column("converged") == 1
    assert ok.mean() > 0.6
    tm = _matched(fit, truth)
    xp, yp = fit.get_pixel_positions()
    err = np.hypot(xp[tm] - truth["x"], yp[tm] - truth["y"])
    assert np.sqrt(np.mean(err**2)) < 0.15  # px, at the noise level


def test_stm_heights_after_background_removal(lattice):
    base, truth, _ = lattice
    yy, xx = np.mgrid[:128, :128]
    stm = _atomic((base.data - base.data.mean()) * 1e-3 + 2e-4 * xx - 0.3)
    flat = stm.remove_background()
    assert abs(flat.data.mean()) < 1e-3  # the gradient is gone
    assert np.all(_matched(flat.find_atoms(), truth) >= 0)


def test_poisson_weights_refuse_negative_images(lattice):
    base, _, seeds = lattice
    s = _atomic(base.data - base.data.mean())
    _raises(
        s,
        ValueError,
        r"`weights='poisson'` needs an image without negative values",
        lambda s: s.refine_atoms(seeds, weights="poisson"),
    )


def test_abf_dark_atoms_on_a_square_lattice(lattice):
    """A raw dark-column image of a square lattice (the fixture reversed, its
    photon noise reversed with it): the matched-filter map is nearly
    symmetric (its skewness alone would say "bright"), so contrast='auto'
    decides "dark" by the sharp minima, says so, and finds every column;
    the refinement fits them as dips; forced "bright", the finder takes the
    flat gaps, none of them a column."""
    base, truth, _ = lattice
    abf = _atomic(base.data.max() - base.data + 50)
    with pytest.warns(UserWarning, match="the minima are the sharp extrema"):
        found = abf.find_atoms()
    assert found.metadata.AtomPositions.settings.contrast == "dark"
    assert found.metadata.AtomPositions.settings.contrast_skewness > -0.25
    tm, fm = match_one_to_one(truth["x"], truth["y"], *found.get_pixel_positions(), 2.0)
    assert np.all(tm >= 0) and np.all(fm)  # every column, nothing else
    fit = _quiet(abf.refine_atoms, found)
    assert np.all(fit.get_column("converged") == 1)
    fx, fy = fit.get_pixel_positions()
    err = np.hypot(fx[tm] - truth["x"], fy[tm] - truth["y"])
    assert err.max() < 0.3  # px; the same columns bright: see test_refinement
    gaps = _quiet(abf.find_atoms, contrast="bright")
    assert np.all(_matched(gaps, truth) == -1)
    inverted = abf * -1
    assert isinstance(inverted, AtomicImage)
    assert np.all(_matched(_quiet(inverted.find_atoms), truth) >= 0)


# ========================================================= tiny images
@pytest.mark.parametrize("n", [3, 4, 8, 12])
@pytest.mark.parametrize(
    "call,match",
    [
        (lambda s: s.find_atoms(), "periodic separation"),
        (lambda s: s.estimate_separation(), "periodic separation"),
        (lambda s: s.remove_background(), "periodic separation"),
        (lambda s: s.find_atoms(separation=SEP), r"`separation` \(16 px\) is larger"),
        (lambda s: s.refine_atoms(), "periodic separation"),
    ],
    ids=["find", "estimate", "background", "find-sep", "refine"],
)
def test_images_smaller_than_one_lattice_spacing(image, n, call, match):
    _raises(image.isig[:n, :n], ValueError, match, call)


@pytest.mark.parametrize("n", [5, 8])
def test_images_smaller_than_the_template(image, n):
    """4 px separation: the 5 px template has no room for a local maximum."""
    _raises(
        image.isig[:n, :n],
        ValueError,
        r"image is too small for this separation.*`separation` or a `target`",
        lambda s: s.find_atoms(separation=0.04, method="template"),
    )


def test_tiny_images_pixelwise_steps_and_fits_are_honest(image):
    """Pixel-wise preprocessing works on any size; atoms cut by the edges of a
    20 px crop are found and either fitted or kept with converged = 0."""
    small = image.isig[:20, :20]
    assert small.normalise_contrast().data.shape == (20, 20)
    assert np.all(np.isfinite(small.denoise().data))
    # columns cut by the crop are not significant: keep every candidate
    found = small.find_atoms(separation=SEP, method="local_max", min_significance=None)
    fit = _quiet(small.refine_atoms, found)
    xp, yp = fit.get_pixel_positions()
    assert np.all((xp > -1) & (xp < 20) & (yp > -1) & (yp < 20))
    ok = fit.get_column("converged") == 1
    assert np.all(np.isfinite(fit.get_column("x_err")[ok]))
    assert np.all(np.isnan(fit.get_column("x_err")[~ok]))


# ====================================================== huge separations
@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda s: s.find_atoms(separation=1e300), ValueError, "larger than the image"),
        (lambda s: s.find_atoms(separation=1e-300), ValueError, "below 2 px"),
        (lambda s: s.denoise(sigma=1e6), ValueError, r"`sigma` .* wider than"),
        (lambda s: s.denoise("median", size=1e6), ValueError, r"`size` .* wider"),
        (lambda s: s.remove_background(sigma=1e6), ValueError, r"`sigma` .* wider"),
        (
            lambda s: s.refine_atoms(s.find_atoms(), radius=5.0),
            ValueError,
            r"`radius` \(5 = 500 px\) is wider than the image \(128 px\)",
        ),
    ],
    ids=["separation", "tiny-separation", "denoise", "median", "background", "radius"],
)
def test_huge_lengths_are_refused_not_hanging(image, call, exc, match):
    """Bug fixed: a Gaussian of sigma 1e8 px built an 8e8-tap kernel (a hang)."""
    _raises(image, exc, match, call)


def test_radius_with_neighbours_only_at_the_edge():
    """Bug fixed: a radius just below the spacing, within which only edge atoms
    (not centres) have a neighbour, raised IndexError in the shell search."""
    img, _ = make_lattice_image((96, 96), spacing=16, sigma=3, seed=0)
    # the columns cut by the frame too (the default leaves out those centred
    # outside it; here edge atoms must exist)
    ref = _atomic(img).find_atoms()
    found = finding.find_atoms(img, 16.0, method="log")
    scale = ref.grid["x"]["scale"]
    atoms = make_atom_positions(
        {"x": found["x"] * scale, "y": found["y"] * scale}, ref.units, ref.grid
    )
    _raises(
        atoms,
        ValueError,
        r"No centre atom has a neighbour within `radius`=0.15625",
        lambda a: a.get_neighbourhoods(None, radius=0.15625),
    )


def test_wide_gaussians_up_to_ten_images_are_the_mean(image):
    """A background wider than the image (allowed up to ten image sizes) is
    nearly the image mean."""
    flat = image.remove_background(sigma=10.0)  # 1000 px on a 128 px image
    np.testing.assert_allclose(flat.data, image.data - image.data.mean(), atol=2.0)
    assert abs(image.denoise(sigma=10.0).data.std()) < 2.0


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda n: n.get_vector_histogram(bins=10**6), r"bins gives a grid"),
        (lambda n: n.get_vector_histogram(bins=(10**5, 10**4)), r"bins gives a grid"),
        (lambda n: n.get_cluster_fft(shape=(10**5, 10**5)), r"shape gives a grid"),
    ],
    ids=["bins", "bins-pair", "fft-shape"],
)
def test_huge_grids_are_refused_not_out_of_memory(learned, call, match):
    """A typo (bins=10**6) asked for 8 TB and ended in a MemoryError."""
    _raises(learned, ValueError, match, call)


def test_huge_radius_and_border(atoms):
    for kw in ({"radius": 1e6}, {"border": 1e6}):
        _raises(atoms, ValueError, "border", lambda a: a.get_neighbourhoods(4, **kw))
    # without the border, a huge radius is every other atom: honest, complete
    nb = atoms.get_neighbourhoods(None, radius=1e6, exclude_border=False)
    assert nb.n_neighbours == atoms.n_atoms - 1
    assert not nb.get_missing_mask().any()


# ======================================= zero, negative, NaN parameters
_ZNN = [0.0, -1.0, np.nan]


@pytest.mark.parametrize("v", _ZNN, ids=["zero", "negative", "nan"])
@pytest.mark.parametrize(
    "call,match",
    [
        (lambda s, v: s.denoise(sigma=v), "`sigma` must be a positive length"),
        (lambda s, v: s.denoise("median", size=v), "`size` must be a positive"),
        (lambda s, v: s.remove_background(sigma=v), "`sigma` must be a positive"),
        (lambda s, v: s.find_atoms(separation=v), "`separation` must be a positive"),
        (
            lambda s, v: (
                s.normalise_contrast((v, 99))
                if v != 0
                else s.normalise_contrast((50, 50))
            ),
            "percentiles",
        ),
    ],
    ids=["denoise", "median", "background", "find", "normalise"],
)
def test_image_parameters_zero_negative_nan(image, v, call, match):
    _raises(image, ValueError, match, lambda s: call(s, v))


@pytest.mark.parametrize(
    "call,match",
    [
        (
            lambda s, a: s.refine_atoms(a, max_passes=0),
            "`max_passes` must be at least 1",
        ),
        (
            lambda s, a: s.refine_atoms(a, max_passes=-2),
            "`max_passes` must be at least 1",
        ),
        (lambda s, a: s.refine_atoms(a, radius=-0.1), "`radius` must be a positive"),
        (
            lambda s, a: s.find_atoms(n_sublattices=-1),
            "`n_sublattices` must be at least",
        ),
        (lambda s, a: s.find_atoms(min_area=np.nan), "min_area"),
        (lambda s, a: s.find_atoms(threshold=np.nan), "`threshold` must lie in"),
        (
            lambda s, a: s.find_atoms(method=["log", "template"], min_votes=0),
            "min_votes",
        ),
    ],
    ids=["passes-0", "passes-neg", "radius", "sublattices", "area", "thr", "votes"],
)
def test_find_refine_parameters_zero_negative_nan(image, atoms, call, match):
    _raises(image, ValueError, match, lambda s: call(s, atoms))


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"n_neighbours": 0}, "`n_neighbours` must be at least 1"),
        ({"n_neighbours": -3}, "`n_neighbours` must be at least 1"),
        ({"radius": 0.0}, "`radius` must be a positive distance"),
        ({"radius": -0.2}, "`radius` must be a positive distance"),
        ({"radius": np.nan}, "`radius` must be a positive distance"),
        ({"border": -0.1}, "`border` must be a non-negative distance"),
        ({"border": np.nan}, "`border` must be a non-negative distance"),
        ({"angle_tolerance": -1.0}, "`angle_tolerance` must be in"),
        ({"angle_tolerance": np.nan}, "`angle_tolerance` must be in"),
        ({"angle_tolerance": 90.0}, "`angle_tolerance` must be in"),
        ({"distance_tolerance": -0.1}, "`distance_tolerance` must be in"),
        ({"distance_tolerance": np.nan}, "`distance_tolerance` must be in"),
        ({"distance_tolerance": 1.0}, "`distance_tolerance` must be in"),
    ],
)
def test_neighbourhood_parameters_zero_negative_nan(atoms, kw, match):
    _raises(
        atoms,
        ValueError,
        match,
        lambda a: a.get_neighbourhoods(**{"n_neighbours": 4, **kw}),
    )


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda a: a.to_markers(size=0), "`size` must be a positive marker size"),
        (lambda a: a.to_markers(size=-2), "`size` must be a positive marker size"),
        (lambda a: a.to_markers(size=np.nan), "`size` must be a positive marker size"),
        (
            lambda a: a.label_sublattices(0, "peak"),
            "`n_sublattices` must be at least 1",
        ),
        (
            lambda a: a.label_sublattices(2, "peak", seed=-1),
            "`seed` must be at least 0",
        ),
        (lambda a: a.get_frame(-1), r"Frame `index` -1 is outside 0..0"),
        (lambda a: a.get_frame(1), r"Frame `index` 1 is outside 0..0"),
    ],
    ids=["size-0", "size-neg", "size-nan", "labels-0", "seed", "frame-neg", "frame"],
)
def test_table_parameters_zero_negative_nan(atoms, call, match):
    _raises(atoms, ValueError, match, call)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda n: n.get_map(np.zeros(25), max_distance=0), "`max_distance` must be a"),
        (
            lambda n: n.get_map(np.zeros(25), max_distance=-1),
            "`max_distance` must be a",
        ),
        (lambda n: n.get_map(np.zeros(25), max_distance=np.nan), "`max_distance`"),
        (lambda n: n.get_cluster_fft(shape=(0, 0)), "shape must be two positive"),
        (lambda n: n.get_cluster_fft(shape=(-5, 5)), "shape must be two positive"),
        (lambda n: n.get_vector_histogram(bins=0), "bins must be >= 1"),
        (lambda n: n.get_vector_histogram(bins=-1), "bins must be >= 1"),
        (lambda n: n.get_vector_histogram(extent=(0, 0, 0, 0)), "extent must be four"),
        (lambda n: n.get_vector_histogram(extent=(np.nan, 1, -1, 1)), "extent must"),
        (lambda n: n.get_linkage(n_samples=0), "n_samples must be >= 2"),
        (lambda n: n.get_linkage(n_samples=1), "n_samples must be >= 2"),
        (lambda n: n.plot_dendrogram(0), "n_clusters must be >= 1"),
        (lambda n: n.get_loading_map(-1), r"`component` -1 is out of range \(0..7\)"),
        (lambda n: n.get_mode_properties(0), "`n_components` must be at least 1"),
    ],
)
def test_neighbourhood_signal_parameters_zero_negative_nan(learned, call, match):
    _raises(learned, ValueError, match, call)


@pytest.mark.parametrize("k", [0, -1], ids=["zero", "negative"])
@pytest.mark.parametrize("algorithm", [None, "kmedians"])
def test_bad_number_of_clusters(nb, k, algorithm):
    _raises(
        nb,
        ValueError,
        f"`n_clusters` must be at least 1, got {k}",
        lambda n: n.cluster_analysis(n_clusters=k, algorithm=algorithm),
    )


@pytest.mark.parametrize("algorithm", [None, "kmedians"])
def test_more_clusters_than_centres(nb, algorithm):
    _raises(
        nb,
        ValueError,
        r"`n_clusters` \(1000\) is larger than the number of centre atoms \(25\)",
        lambda n: n.cluster_analysis(n_clusters=1000, algorithm=algorithm),
    )


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda s: s.estimate_drift(upsample=0), "`upsample` must be at least 1"),
        (lambda s: s.align_frames(order=-1), "`order` must be an integer from 0 to 5"),
        (lambda s: s.align_frames(order=9), "`order` must be an integer from 0 to 5"),
        (
            lambda s: s.sum_frames(model="scan", pixel_time=-1),
            "`pixel_time` must be a non",
        ),
        (lambda s: s.sum_frames(drift=np.full((4, 2), np.nan)), "`drift` has NaN"),
        (lambda s: s.align_frames(drift=np.zeros((3, 2))), r"`drift` must hold \(dx"),
    ],
)
def test_stack_parameters_zero_negative_nan(stack, call, match):
    _raises(stack, ValueError, match, call)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"max_displacement": 0}, "`max_displacement` must be a positive length"),
        ({"max_displacement": -1.0}, "`max_displacement` must be a positive length"),
        ({"max_displacement": np.nan}, "`max_displacement` must be a positive length"),
        ({"memory": -1}, "`memory` must be at least 0"),
        ({"shifts": np.full((4, 2), np.nan)}, "`shifts` contains NaN"),
    ],
)
def test_tracking_parameters_zero_negative_nan(_stack, kw, match):
    _raises(_stack[2].deepcopy(), ValueError, match, lambda a: a.link_frames(**kw))


# ============================================================ wrong types
@pytest.mark.parametrize(
    "call,exc,match",
    [
        (
            lambda s: s.find_atoms(separation="a"),
            TypeError,
            "`separation` must be a len",
        ),
        (lambda s: s.find_atoms(separation=[0.1]), TypeError, "`separation` must be"),
        (lambda s: s.find_atoms(separation=True), TypeError, "`separation` must be"),
        (
            lambda s: s.find_atoms(n_sublattices="two"),
            TypeError,
            "`n_sublattices` must",
        ),
        (lambda s: s.find_atoms(n_sublattices=1.5), TypeError, "`n_sublattices` must"),
        (lambda s: s.find_atoms(n_sublattices=None), TypeError, "`n_sublattices` must"),
        (
            lambda s: s.find_atoms(threshold=None),
            TypeError,
            "`threshold` must be a num",
        ),
        (
            lambda s: s.find_atoms(min_area="a"),
            TypeError,
            "`min_area` must be a number",
        ),
        (lambda s: s.find_atoms(method=5), TypeError, "`method` must be a finder's"),
        (lambda s: s.find_atoms(target="abc"), TypeError, "`target` must be a 2D"),
        (
            lambda s: s.find_atoms(method=["log", "template"], min_votes="a"),
            TypeError,
            "`min_votes` must be an integer",
        ),
        (lambda s: s.refine_atoms("x"), TypeError, "`atoms` must be an AtomPositions"),
        (lambda s: s.refine_atoms(radius="a"), TypeError, "`radius` must be a length"),
        (
            lambda s: s.refine_atoms(max_passes=1.5),
            TypeError,
            "`max_passes` must be an",
        ),
        (
            lambda s: s.refine_atoms(subtract_neighbours="no"),
            TypeError,
            "`subtract_neighbours` must be True or False",
        ),
        (lambda s: s.normalise_contrast(5), TypeError, "`percentiles` must be a pair"),
        (lambda s: s.normalise_contrast((1, 2, 3)), TypeError, "`percentiles` must be"),
        (lambda s: s.normalise_contrast(("a", "b")), TypeError, "`percentiles` must"),
        (lambda s: s.denoise(sigma="a"), TypeError, "`sigma` must be a length"),
        (lambda s: s.remove_background(sigma=[1]), TypeError, "`sigma` must be a len"),
        (
            lambda s: s.plot_atoms(np.zeros((3, 2))),
            TypeError,
            "`atoms` must be an Atom",
        ),
    ],
)
def test_image_methods_wrong_types(image, call, exc, match):
    _raises(image, exc, match, call)


def test_refine_and_plot_refuse_a_neighbourhood_signal(image, nb):
    for call in (lambda s: s.refine_atoms(nb), lambda s: s.plot_atoms(nb)):
        _raises(image, TypeError, "got AtomNeighbourhoods", call)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda a: a.select("abc"), TypeError, "`mask` must be a boolean mask"),
        (lambda a: a.select([0.5, 1.5]), TypeError, "`mask` must be a boolean mask"),
        (lambda a: a.select(None), TypeError, "`mask` must be a boolean mask"),
        (lambda a: a.select([0, 999]), ValueError, r"`mask` has atom indices outside"),
        (lambda a: a.select(np.ones(3, bool)), ValueError, "`mask` has 3 entries"),
        (lambda a: a.add_columns("x"), TypeError, "`columns` must be a dict"),
        (lambda a: a.add_columns({"q": 1.0}), ValueError, "Column 'q' has 1 values"),
        (lambda a: a.add_columns({"q": ["a"] * 81}), TypeError, "'q' must hold number"),
        (lambda a: a.add_columns({3: np.ones(81)}), TypeError, "Column names must be"),
        (
            lambda a: a.add_columns({"q": np.ones(81)}, ["nm"]),
            TypeError,
            "`units` must be a dict",
        ),
        (lambda a: a.get_column(0), ValueError, "Unknown column 0"),
        (lambda a: a.label_sublattices("two", "peak"), TypeError, "`n_sublattices` mu"),
        (lambda a: a.label_sublattices(1.5, "peak"), TypeError, "`n_sublattices` mu"),
        (lambda a: a.label_sublattices(2, 3), ValueError, "Unknown column 3"),
        (lambda a: a.label_sublattices(2, "peak", seed="a"), TypeError, "`seed` must"),
        (
            lambda a: a.get_neighbourhoods("4"),
            ValueError,
            "`n_neighbours` must be an int",
        ),
        (lambda a: a.get_neighbourhoods(2.5), ValueError, "`n_neighbours` must be an "),
        (
            lambda a: a.get_neighbourhoods(4, radius="a"),
            TypeError,
            "`radius` must be a",
        ),
        (
            lambda a: a.get_neighbourhoods(4, border="a"),
            TypeError,
            "`border` must be a",
        ),
        (
            lambda a: a.get_neighbourhoods(4, distance_tolerance="a"),
            TypeError,
            "`distance_tolerance` must be a number",
        ),
        (
            lambda a: a.link_frames(max_displacement="a"),
            TypeError,
            "`max_displacement`",
        ),
        (
            lambda a: a.link_frames(memory="a"),
            ValueError,
            "`memory` must be an integer",
        ),
        (lambda a: a.link_frames(shifts=5), ValueError, "`shifts` must have shape"),
        (lambda a: a.get_frame("a"), TypeError, "`index` must be an integer"),
        (lambda a: a.get_frame(0.5), TypeError, "`index` must be an integer"),
        (lambda a: a.get_frame(None), TypeError, "`index` must be an integer"),
        (lambda a: a.get_frame((0, 0)), ValueError, "`index` needs 0 navigation"),
        (lambda a: a.get_frame_statistics([]), ValueError, "`columns` is empty"),
        (lambda a: a.to_markers(size="a"), TypeError, "`size` must be a positive"),
        (lambda a: a.to_csv(5), ValueError, "Invalid file path"),
        (lambda a: a.get_displacements(), ValueError, "No `track` column"),
        (lambda a: a.get_trajectories(), ValueError, "No `track` column"),
        (lambda a: a.estimate_drift(), ValueError, "No `track` column"),
    ],
)
def test_table_methods_wrong_types(atoms, call, exc, match):
    _raises(atoms, exc, match, call)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda n: n.get_loading_map(1.5), TypeError, "`component` must be an integer"),
        (lambda n: n.get_loading_map("1"), TypeError, "`component` must be an integer"),
        (
            lambda n: n.get_loading_map(None),
            TypeError,
            "`component` must be an integer",
        ),
        (lambda n: n.plot_modes(("a",)), TypeError, "`components` must be an integer"),
        (lambda n: n.get_mode_properties("2"), TypeError, "`n_components` must be an"),
        (lambda n: n.get_mode_properties(2.5), TypeError, "`n_components` must be an"),
        (lambda n: n.fill_missing("a"), TypeError, "`value` must be a number"),
        (lambda n: n.get_map("abc"), TypeError, "`values` must be numbers"),
        (lambda n: n.get_map(np.arange(3)), ValueError, "`values` has 3 values for 25"),
        (lambda n: n.get_markers(np.arange(3)), ValueError, "`values` has 3 values"),
        (lambda n: n.get_cluster_fft(shape="a"), ValueError, r"shape must be a pair"),
        (
            lambda n: n.get_cluster_fft(shape=(64.5, 64)),
            ValueError,
            "shape must be two",
        ),
        (lambda n: n.get_vector_histogram(bins="a"), ValueError, "bins must be an int"),
        (lambda n: n.get_vector_histogram(bins=2.5), ValueError, "bins must be an int"),
        (lambda n: n.get_map(np.zeros(25), frame=3), ValueError, "Frame `frame` 3 is"),
        (
            lambda n: n.cluster_analysis(n_clusters=1.5),
            TypeError,
            "`n_clusters` must b",
        ),
        (
            lambda n: n.cluster_analysis(n_clusters="2"),
            TypeError,
            "`n_clusters` must b",
        ),
        (lambda n: n.cluster_analysis(n_clusters=None), TypeError, "`n_clusters` must"),
        (
            lambda n: n.get_frame_statistics(np.zeros(3)),
            ValueError,
            "`values` has 3 rows for 25 centre atoms",
        ),
    ],
)
def test_neighbourhood_methods_wrong_types(learned, call, exc, match):
    _raises(learned, exc, match, call)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda s: s.estimate_drift(upsample="a"), TypeError, "`upsample` must be an"),
        (lambda s: s.estimate_drift(upsample=2.5), TypeError, "`upsample` must be an"),
        (
            lambda s: s.align_frames(drift="a"),
            ValueError,
            r"`drift` must hold \(dx, dy",
        ),
        (lambda s: s.align_frames(model="affine"), TypeError, "needs `atoms`"),
        (lambda s: s.estimate_drift("atoms", atoms="x"), TypeError, "needs `atoms`"),
    ],
)
def test_stack_methods_wrong_types(stack, call, exc, match):
    _raises(stack, exc, match, call)


# =================================================== axes and units
def test_uncalibrated_image_gives_pixel_tables(lattice):
    """No calibration: positions in pixels, empty length units, 'a.u.'
    intensities; the report says 'px'."""
    base, truth, expected = lattice
    s = AtomicImage(base.data.copy())
    found = s.find_atoms(separation=16)
    # the calibrated image found at the same separation (0.16 nm = 16 px)
    expected = base.find_atoms(separation=0.16)
    np.testing.assert_allclose(_pixels(found), _pixels(expected), atol=1e-9)
    np.testing.assert_allclose(found.get_column("x"), _pixels(expected)[:, 0])
    assert found.units["x"] == found.units["y"] == "" and found.units["peak"] == "a.u."
    fit = _quiet(s.refine_atoms, found)
    assert fit.units["sigma_x"] == "" and fit.units["amplitude"] == "a.u."
    nb = fit.get_neighbourhoods(4)
    assert nb.metadata.AtomNeighbourhoods.units == ""
    bond = np.hypot(nb.data[:, 0], nb.data[:, 1])
    np.testing.assert_allclose(np.median(bond), 16, atol=0.5)  # pixels


def test_uncalibrated_report_says_px(lattice, tmp_path, monkeypatch):
    """Numbers and figure axes say px, never HyperSpy's '<undefined>'."""
    from matplotlib.axes import Axes

    labels = []
    set_xlabel = Axes.set_xlabel

    def record(ax, label, *args, **kwargs):
        labels.append(str(label))
        return set_xlabel(ax, label, *args, **kwargs)

    monkeypatch.setattr(Axes, "set_xlabel", record)
    figures_not_rendered(monkeypatch)  # the labels are set before rendering
    s = AtomicImage(lattice[0].data.copy())
    summary = report.analyse(s, tmp_path, n_clusters=2, n_neighbours=4)
    assert summary["units"] == "px"
    assert labels and not any("undefined" in lab for lab in labels), labels
    assert "x (px)" in labels and "kx (1/px)" in labels and "dx (px)" in labels


def test_flipped_axis_keeps_positions_inside_the_image(lattice):
    base, _, expected = lattice
    s = base.deepcopy()
    s.axes_manager.signal_axes[1].scale = -0.01
    s.axes_manager.signal_axes[1].offset = 1.27
    found = s.find_atoms()
    np.testing.assert_allclose(_pixels(found), _pixels(expected), atol=1e-9)
    assert np.all((found.get_column("y") >= -0.005) & (found.get_column("y") <= 1.275))
    nb = found.get_neighbourhoods(4)
    nb.cluster_analysis(n_clusters=1)
    cmap = nb.get_cluster_map()
    assert cmap.axes_manager.signal_axes[1].scale == -0.01
    assert np.isfinite(cmap.data).sum() > 0.3 * cmap.data.size


@pytest.mark.parametrize("scale", [0.0, np.nan, np.inf])
def test_zero_or_non_finite_scale(image, scale):
    image.axes_manager.signal_axes[0].scale = scale
    image.axes_manager.signal_axes[1].scale = scale
    for call in (
        lambda s: s.find_atoms(),
        lambda s: s.estimate_separation(),
        lambda s: s.refine_atoms(),
        lambda s: s.denoise(sigma=0.02),
    ):
        _raises(image, ValueError, "zero or non-finite scale", call)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.estimate_separation(),
        lambda s: s.refine_atoms(),
        lambda s: s.denoise(sigma=0.02),
        lambda s: s.remove_background(),
    ],
    ids=["estimate", "refine", "denoise", "background"],
)
def test_non_uniform_axis_everywhere(image, call):
    image.axes_manager.signal_axes[1].convert_to_non_uniform_axis()
    _raises(image, ValueError, "not uniform", call)


def test_non_uniform_axis_pixelwise_steps_work(image):
    """Pixel-wise steps need no calibration: the same values as on the image."""
    s = image.deepcopy()
    s.axes_manager.signal_axes[1].convert_to_non_uniform_axis()
    np.testing.assert_array_equal(s.denoise().data, image.denoise().data)
    np.testing.assert_array_equal(
        s.normalise_contrast().data, image.normalise_contrast().data
    )


@pytest.mark.parametrize("units", ["Å", "pm"])
def test_tables_are_not_converted_between_units(image, atoms, units):
    """One rule: a table meets only an image in its own units (refuse, never
    convert); converting the image's axes to the table's units makes them
    match again."""
    other = image.deepcopy()
    other.axes_manager.convert_units(units=units)
    match = (
        rf"`atoms` are in nm but this image is in {units}.*convert_units\(units='nm'\)"
    )
    for call in (lambda s: s.refine_atoms(atoms), lambda s: s.plot_atoms(atoms)):
        _raises(other, ValueError, match, call)
    # and the other way round: a table in Å/pm on the image in nm
    table = other.find_atoms()
    _raises(
        image,
        ValueError,
        rf"`atoms` are in {units} but this image is in nm",
        lambda s: s.refine_atoms(table),
    )
    back = other.deepcopy()
    back.axes_manager.convert_units(units="nm")
    fit = _quiet(back.refine_atoms, atoms)
    assert fit.units["x"] == "nm" and fit.n_atoms == atoms.n_atoms


def test_same_numbers_other_unit_label_is_refused(image, atoms):
    s = image.deepcopy()
    for ax in s.axes_manager.signal_axes:
        ax.units = "Å"  # 0.01 Å per pixel: another grid altogether
    _raises(
        s,
        ValueError,
        "`atoms` are in nm but this image is in Å",
        lambda s: s.refine_atoms(atoms),
    )


@pytest.mark.parametrize("units,factor", [("nm", 1.0), ("Å", 10.0), ("pm", 1000.0)])
def test_results_are_consistent_across_length_units(lattice, units, factor):
    """nm, Å and pm calibrations of one image give the same pixels and lengths
    that differ by the unit factor only."""
    base = lattice[0]
    expected = base.find_atoms(separation=SEP)
    s = _atomic(base.data, scale=0.01 * factor, units=units)
    found = s.find_atoms(separation=SEP * factor)
    np.testing.assert_allclose(_pixels(found), _pixels(expected), atol=1e-9)
    assert found.units["x"] == units
    assert (
        abs(s.estimate_separation() - base.estimate_separation() * factor)
        < 1e-9 * factor
    )
    fit = _quiet(s.refine_atoms, found)
    ref = _quiet(base.refine_atoms, expected)
    ok = ref.get_column("converged") == 1
    for c in ("x", "sigma_x", "x_err"):
        np.testing.assert_allclose(
            fit.get_column(c)[ok], ref.get_column(c)[ok] * factor, rtol=1e-6
        )
    inv = fit.get_neighbourhoods(4).get_invariants()
    ref_inv = ref.get_neighbourhoods(4).get_invariants()
    np.testing.assert_allclose(
        inv.get_column("bond_1"), ref_inv.get_column("bond_1") * factor, rtol=1e-9
    )
    assert inv.units["bond_1"] == units


def test_drift_in_other_units_is_refused(_stack):
    s, _, atoms = _stack
    drift = s.estimate_drift()
    in_a = drift.deepcopy()
    in_a.data *= 10
    in_a.metadata.Signal.quantity = "Å"
    _raises(
        s.deepcopy(),
        ValueError,
        "`drift` is in Å but the image is in nm",
        lambda x: x.align_frames(drift=in_a),
    )
    _raises(
        s.deepcopy(),
        ValueError,
        "`drift` is in Å but the image is in nm",
        lambda x: x.sum_frames(drift=in_a),
    )
    _raises(
        atoms.deepcopy(),
        ValueError,
        "`shifts` is in Å but the image is in nm",
        lambda a: a.link_frames(shifts=in_a),
    )
    # in the right units the same drift is accepted
    assert "track" in atoms.link_frames(shifts=drift).columns


def test_target_signal_with_another_calibration_is_refused(image):
    target = image.isig[20:33, 20:33].deepcopy()
    in_a = target.deepcopy()
    in_a.axes_manager.convert_units(units="Å")  # same pixels, other unit
    coarse = target.deepcopy()
    for ax in coarse.axes_manager.signal_axes:
        ax.scale = 0.02  # other pixel size: the template would be the wrong size
    for t in (in_a, coarse):
        _raises(
            image,
            ValueError,
            "The `target` signal has pixels of",
            lambda s: s.find_atoms(target=t),
        )
    # same calibration, or a bare (uncalibrated) signal: as the array (this
    # patch is not centred on a column, so its matches are not significant:
    # every candidate is kept)
    expected = image.find_atoms(target=target.data, min_significance=None)
    for t in (target, hs.signals.Signal2D(target.data)):
        found = image.find_atoms(target=t, min_significance=None)
        np.testing.assert_array_equal(found.data, expected.data)


# ================================================================ tables
def test_empty_tables(atoms, _stack):
    grid = atoms.grid
    with pytest.raises(ValueError, match="No atoms: a per-atom table needs"):
        make_atom_positions({"x": [], "y": []}, {}, grid)
    for mask in (np.zeros(atoms.n_atoms, bool), []):
        _raises(atoms, ValueError, "`mask` selects no atom", lambda a: a.select(mask))
    # a stack with an empty frame: the frame's table is an error, its
    # statistics are honest (count 0, mean NaN)
    table = _stack[2]
    sel = table.select(table.get_frames() != 2)
    with pytest.raises(ValueError, match="Frame 2 has no atoms"):
        sel.get_frame(2)
    count = sel.get_frame_statistics(["x"], "count")
    n = np.bincount(table.get_frames(), minlength=4)
    np.testing.assert_array_equal(count.data[:, 0], [n[0], n[1], 0, n[3]])
    mean = sel.get_frame_statistics(["x"], "mean")
    assert np.isnan(mean.data[2, 0]) and np.all(np.isfinite(mean.data[[0, 1, 3], 0]))


@pytest.fixture
def one_atom():
    yy, xx = np.mgrid[:64, :64]
    return _atomic(10 + 100 * np.exp(-((xx - 30.3) ** 2 + (yy - 33.7) ** 2) / 18))


@pytest.mark.parametrize(
    "kw",
    [{"method": "template", "threshold": 0.5}, {"method": "local_max"}],
    ids=["template", "local_max"],
)
def test_single_atom(one_atom, kw):
    """One atom is found and fitted (the window half the separation, or a
    given radius). The template
    finder needs a threshold here: its automatic (Otsu) threshold splits a
    population of many atoms from the background and means nothing for one."""
    found = one_atom.find_atoms(separation=SEP, **kw)
    assert found.n_atoms == 1
    np.testing.assert_allclose(_pixels(found), [[30.3, 33.7]], atol=0.5)
    # no neighbour to size the window: half the separation it was found with
    alone = one_atom.refine_atoms(found)
    assert alone.metadata.AtomPositions.settings.radius == pytest.approx(SEP / 2)
    np.testing.assert_allclose(_pixels(alone), [[30.3, 33.7]], atol=1e-3)
    fit = one_atom.refine_atoms(found, radius=0.06)
    np.testing.assert_allclose(_pixels(fit), [[30.3, 33.7]], atol=1e-3)
    com = one_atom.refine_atoms(found, radius=0.06, method="com")
    np.testing.assert_allclose(_pixels(com), [[30.3, 33.7]], atol=0.05)
    for call, match in (
        (lambda a: a.get_neighbourhoods(4), "1 atom\\(s\\) given; at least 5"),
        (lambda a: a.get_neighbourhoods(None, radius=0.3), "at least 2"),
        (lambda a: a.label_sublattices(2, "peak"), "`n_sublattices` = 2 is more"),
        (lambda a: a.link_frames(), "at least two atoms"),
    ):
        _raises(found, ValueError, match, call)
    m = found.to_markers()  # no neighbour distance: 3 pixels
    np.testing.assert_allclose(m.kwargs["sizes"], 0.03)
    assert found.to_csv(None).count("\n") == 2  # header + the atom


def test_single_centre_neighbourhood(nb):
    one = nb.inav[:1]
    _raises(
        one,
        ValueError,
        "navigation_size < 2",
        lambda n: n.decomposition(print_info=False),
    )
    _raises(one, ValueError, "at least 2 rows", lambda n: n.get_linkage())


def test_duplicate_positions(image, atoms):
    dup = atoms.select(np.concatenate([np.arange(atoms.n_atoms), [5, 7]]))
    for kw in ({}, {"radius": 0.06}):
        _raises(
            image,
            ValueError,
            r"`atoms` has 2 duplicate\(s\)",
            lambda s: s.refine_atoms(dup, **kw),
        )
    for kw in ({}, {"metric": "angle"}, {"radius": 0.2, "n_neighbours": None}):
        _raises(
            dup,
            ValueError,
            r"2 pair\(s\) of atoms share a position",
            lambda a: a.get_neighbourhoods(**{"n_neighbours": 4, **kw}),
        )


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize(
    "call",
    [
        lambda a, s: a.get_neighbourhoods(4),
        lambda a, s: a.to_markers(),
        lambda a, s: a.link_frames(),
        lambda a, s: s.plot_atoms(a),
        lambda a, s: s.refine_atoms(a),
    ],
    ids=["neighbourhoods", "markers", "link", "plot", "refine"],
)
def test_nan_positions_everywhere(image, atoms, bad, call):
    x = atoms.get_column("x").copy()
    x[3] = bad
    table = atoms.add_columns({"x": x})
    before = snapshot(table)
    with pytest.raises(
        ValueError, match=r"NaN (or infinite )?positions?|position\(s\) are NaN"
    ):
        call(table, image)
    assert_unchanged(table, before)


def test_nan_values_are_honest(atoms, learned):
    """NaN in a descriptor: labels NaN with a warning; CSV writes NaN; a map of
    NaN values is NaN."""
    peak = atoms.get_column("peak").copy()
    peak[:2] = np.nan
    table = atoms.add_columns({"peak": peak})
    with pytest.warns(UserWarning, match="2 atom\\(s\\) have no finite 'peak'"):
        lab = table.label_sublattices(2, "peak")
    assert np.isnan(lab.get_column("sublattice")[:2]).all()
    assert np.isfinite(lab.get_column("sublattice")[2:]).all()
    assert table.to_csv(None).splitlines()[1].split(",")[4] == ""  # NaN: empty
    assert np.isnan(learned.get_map(np.full(25, np.nan)).data).all()


def test_missing_neighbours_are_honest(atoms):
    """Radius mode without the border rule: edge atoms have fewer neighbours.
    Their vectors and trailing bonds are NaN (as many finite as
    ``neighbour_count``), learning refuses them until filled or masked, and
    the histogram counts only real vectors."""
    nb = atoms.get_neighbourhoods(None, radius=0.23, exclude_border=False)
    missing = nb.get_missing_mask()
    assert 0 < missing.sum() < len(missing)
    inv = nb.get_invariants()
    count = inv.get_column("neighbour_count")
    bonds = np.column_stack(
        [inv.get_column(f"bond_{j + 1}") for j in range(nb.n_neighbours)]
    )
    np.testing.assert_array_equal(np.isfinite(bonds).sum(axis=1), count)
    np.testing.assert_array_equal(count < nb.n_neighbours, missing)
    _raises(
        nb,
        ValueError,
        r"fewer than 8 neighbours.*fill_missing",
        lambda n: n.decomposition(print_info=False),
    )
    _raises(
        nb,
        ValueError,
        r"fewer than 8 neighbours",
        lambda n: n.cluster_analysis(n_clusters=2),
    )
    _raises(
        nb,
        ValueError,
        r"missing neighbours; use `fill_missing\(\)`",
        lambda n: n.get_linkage(),
    )
    hist = nb.get_vector_histogram()
    assert hist.data.sum() == np.isfinite(nb.data).sum() // 2
    masked = nb.deepcopy()
    masked.decomposition(print_info=False, navigation_mask=missing)
    assert masked.learning_results.loadings.shape[0] == len(missing)


# ============================================================ names
@pytest.mark.parametrize(
    "call,match",
    [
        (lambda a: a.get_neighbourhoods(4, metric="foo"), "Unknown metric 'foo'"),
        (lambda a: a.get_neighbourhoods(4, metric=None), "Unknown metric None"),
        (
            lambda a: a.get_frame_statistics(statistic="foo"),
            "Unknown `statistic` 'foo'",
        ),
        (lambda a: a.get_frame_statistics(["nope"]), "Unknown column 'nope'"),
        (lambda a: a.link_frames(shifts="foo"), "`shifts` must be 'auto', None"),
        (lambda a: a.to_markers(colour_by="nope"), "Unknown column 'nope'"),
        (
            lambda a: a.to_markers(colour_by="peak", cmap="nope"),
            "Unknown `cmap` 'nope'",
        ),
        (lambda a: a.to_arrows(), "Unknown column 'dx'"),
    ],
)
def test_unknown_names_tables(atoms, call, match):
    _raises(atoms, ValueError, match, call)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda n: n.cluster_analysis(n_clusters=2, algorithm="foo"), "Unknown `algor"),
        (lambda n: n.cluster_analysis("foo", n_clusters=2), "cluster source"),
        (lambda n: n.decomposition(algorithm="foo", print_info=False), "foo' not rec"),
        (lambda n: n.get_vectors("foo"), "Unknown basis 'foo'"),
        (lambda n: n.get_linkage(method="foo"), "method must be one of"),
        (lambda n: n.get_linkage(source="foo"), "Unknown source 'foo'"),
        (lambda n: n.plot_modes(basis="foo"), "Unknown `basis` 'foo'"),
        (lambda n: n.get_frame_statistics("signal", "foo"), "Unknown `statistic`"),
        (lambda n: n.get_frame_statistics("nope"), "Unknown column 'nope'"),
        (lambda n: n.get_cluster_markers(cmap="nope"), "Unknown `cmap` 'nope'"),
    ],
)
def test_unknown_names_neighbourhoods(learned, call, match):
    """Bugs fixed: an unknown clustering algorithm gave HyperSpy's
    UnboundLocalError, an unknown colormap a KeyError."""
    _raises(learned, ValueError, match, call)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda s: s.estimate_drift(reference="foo"), "Unknown `reference` 'foo'"),
        (lambda s: s.align_frames(model="foo"), "Unknown `model` 'foo'"),
        (lambda s: s.estimate_drift("foo"), "Unknown `method` 'foo'"),
    ],
)
def test_unknown_names_stacks(stack, call, match):
    _raises(stack, ValueError, match, call)


# ===================================================== learning state
@pytest.mark.parametrize(
    "call,match",
    [
        (lambda n: n.get_cluster_map(), "No cluster results"),
        (lambda n: n.get_cluster_markers(), "No cluster results"),
        (lambda n: n.get_cluster_fft(), "No cluster results"),
        (lambda n: n.get_cluster_fractions(), "No cluster results"),
        (lambda n: n.get_vector_histogram(by_cluster=True), "No cluster results"),
        (lambda n: n.get_loading_map(0), "No decomposition results"),
        (lambda n: n.plot_modes(), "No decomposition results"),
        (lambda n: n.get_mode_properties(), "No decomposition results"),
        (lambda n: n.get_frame_statistics(), "No decomposition results"),
        (lambda n: n.get_linkage("decomposition"), "No decomposition results"),
    ],
)
def test_learning_results_needed_first(nb, call, match):
    _raises(nb, ValueError, match, call)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda n: n.get_loading_map(8), r"`component` 8 is out of range \(0..7\)"),
        (lambda n: n.get_loading_map(99), r"`component` 99 is out of range"),
        (lambda n: n.plot_modes((0, 99)), r"`components` must be one or more of 0..7"),
        (lambda n: n.plot_modes(()), r"`components` must be one or more of 0..7"),
        (lambda n: n.plot_modes((-1,)), r"`components` must be one or more of 0..7"),
        (lambda n: n.get_mode_properties(99), r"`n_components` \(99\) is more than"),
    ],
)
def test_components_out_of_range(learned, call, match):
    """Bugs fixed: IndexError (plot_modes, get_mode_properties, a float
    component) and a silently empty table (n_components <= 0)."""
    _raises(learned, ValueError, match, call)


def test_plot_modes_default_with_few_components(nb):
    """Three centres give three components: the default draws all three
    (it asked for four and raised IndexError before)."""
    small = nb.inav[:3]
    small.decomposition(print_info=False)
    assert small.learning_results.factors.shape[1] == 3
    assert len(small.plot_modes().axes) == 3


# ================================================================ stacks
def test_tables_of_another_stack_are_refused(stack, _stack):
    single = stack.inav[0].find_atoms()
    _raises(
        stack,
        ValueError,
        r"`atoms` come from 1 frame\(s\) but this stack has 4",
        lambda s: s.estimate_drift("atoms", atoms=single),
    )
    _raises(
        stack.inav[0],
        ValueError,
        "frame indices up to 3",
        lambda s: s.refine_atoms(_stack[2]),
    )


def test_alignment_of_a_single_image(image):
    for call in (
        lambda s: s.estimate_drift(),
        lambda s: s.align_frames(),
        lambda s: s.sum_frames(),
    ):
        _raises(image, ValueError, "needs an image stack", call)


# ============================================================== report
@pytest.mark.parametrize(
    "signal,exc,match",
    [
        (lambda s: s.data, TypeError, "`signal` must be an AtomicImage"),
        (lambda s: hs.signals.Signal2D(s.data), TypeError, "got Signal2D"),
        (lambda s: hs.signals.Signal2D(s.data + 1j), TypeError, "`signal` must be"),
    ],
    ids=["array", "signal2d", "complex"],
)
def test_report_refuses_what_is_not_an_atomic_image(
    image, tmp_path, signal, exc, match
):
    with pytest.raises(exc, match=match):
        report.analyse(signal(image), tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kw,exc,match",
    [
        ({"n_neighbours": 0}, ValueError, "`n_neighbours` must be at least 1"),
        (
            {"n_neighbours": "4"},
            ValueError,
            "`n_neighbours` must be 'auto' or a positive",
        ),
        ({"n_sublattices": 0}, ValueError, "`n_sublattices` must be at least 1"),
        ({"seed": -1}, ValueError, "`seed` must be at least 0"),
        ({"seed": "a"}, TypeError, "`seed` must be an integer"),
        ({"metric": "foo"}, ValueError, "`metric` must be 'angle' or 'distance'"),
        ({"n_clusters": True}, ValueError, "`n_clusters` must be 'auto' or a positive"),
        ({"n_clusters": 2.5}, ValueError, "`n_clusters` must be 'auto' or a positive"),
        ({"file_format": "tiff"}, ValueError, "`file_format` must be 'hspy' or 'zspy'"),
        ({"preprocess": "sharpen"}, ValueError, "`preprocess` steps must be"),
        ({"method": "foo"}, ValueError, r"Unknown `method` 'foo'"),
        ({"separation": -1.0}, ValueError, "`separation` must be a positive length"),
    ],
)
def test_report_bad_options(image, tmp_path, kw, exc, match):
    before = snapshot(image)
    with pytest.raises(exc, match=match):
        report.analyse(image, tmp_path, **kw)
    assert_unchanged(image, before)
    assert not (tmp_path / "summary.json").exists()


def test_report_never_writes_into_a_users_folder(image, tmp_path):
    """`out_dir` is the result folder: a user's non-empty folder is refused
    before any work, and nothing in it changes."""
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not written by localcryst"):
        report.analyse(image, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    with pytest.raises(TypeError, match="`out_dir` must be a path"):
        report.analyse(image, 3)


# ================================================================== CLI
def _cli(argv):
    """Run ``main(argv)``; (status, stdout, stderr lines)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue().strip().splitlines()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    img, _ = make_lattice_image((96, 96), spacing=14, seed=0)
    good = hs.signals.Signal2D(img)
    for ax in good.axes_manager.signal_axes:
        ax.scale, ax.units = 0.02, "nm"
    good.save(d / "good.hspy")
    good.save(d / "good2.hspy")
    nan = img.copy()
    nan[3, 3] = np.nan
    arrays = {
        "line.npy": np.arange(50.0),
        "complex.npy": img + 1j,
        "nan.npy": nan,
        "constant.npy": np.ones((64, 64)),
        "tiny.npy": img[:4, :4],
        "binary.npy": img > img.mean(),
        "uint16.npy": np.round(img / img.max() * 65535).astype(np.uint16),
        "uint32.npy": np.round(img / img.max() * (2**32 - 1)).astype(np.uint32),
        "negative.npy": img - img.mean(),
    }
    for name, a in arrays.items():
        np.save(d / name, a)
    np.save(d / "object.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    (d / "text.hspy").write_text("not an HDF5 file")
    (d / "empty.hspy").write_bytes(b"")
    (d / "garbage.npy").write_text("garbage")
    (d / "unknown.xyz").write_text("garbage")
    (d / "folder").mkdir()
    return d


_BAD_FILES = [
    ("line.npy", r"line.npy is not an image \(a 1D array\)"),
    ("complex.npy", "complex.npy holds complex128 values, not real numbers"),
    ("nan.npy", "contains 1 NaN or infinite pixel"),
    ("constant.npy", "is constant: there is no contrast"),
    ("tiny.npy", "periodic separation"),
    ("binary.npy", "The Gaussian fit failed for all"),
    ("object.npy", "object.npy could not be read: Object arrays"),
    ("text.hspy", "text.hspy could not be read"),
    ("empty.hspy", "empty.hspy could not be read"),
    ("garbage.npy", "garbage.npy could not be read"),
    ("unknown.xyz", "unknown.xyz could not be read"),
    ("folder", "folder is a folder, not an image file"),
    ("missing.dm4", "missing.dm4: no such file"),
]


@pytest.mark.parametrize("name,message", _BAD_FILES, ids=[n for n, _ in _BAD_FILES])
def test_cli_bad_files_are_one_line_and_exit_1(files, tmp_path, name, message):
    """Bug fixed: a complex .npy gave an AttributeError traceback; unreadable
    files added HyperSpy's log line; a 1D .npy said 'The signal dimension
    cannot be greater than the number of axes'."""
    status, _, err = _cli(["find", str(files / name), "--out", str(tmp_path / "f")])
    assert status == 1
    assert len(err) == 1 and err[0].startswith("localcryst: error: ")
    assert re.search(message, err[0]), err
    status, _, err = _cli(
        ["analyse", str(files / name), "--out", str(tmp_path / "a")]
        + ["--clusters", "2", "--neighbours", "4", "--no-progressbar"]
    )
    assert status == 1
    assert len(err) == 2, err  # the error, then the batch summary
    assert re.search(message, err[0]), err
    assert err[1] == "localcryst: 1 of 1 file(s) failed; no result was written."
    assert not any("Traceback" in line for line in err)
    assert not (tmp_path / "f").exists()
    assert not (tmp_path / "a").exists() or list((tmp_path / "a").iterdir()) == []


@pytest.mark.parametrize("name", ["uint16.npy", "uint32.npy", "negative.npy"])
def test_cli_raw_counts_and_negative_images_work(files, tmp_path, name, monkeypatch):
    figures_not_rendered(monkeypatch)  # the summary is checked, not figures
    status, out, err = _cli(
        ["analyse", str(files / name), "--out", str(tmp_path), "--clusters", "1"]
        + ["--neighbours", "4", "--no-progressbar"]
    )
    assert status == 0, err
    summary = json.loads((tmp_path / name[:-4] / "summary.json").read_text())
    # the truth of the `files` image: its 7 x 7 columns (no column within 2.4
    # sigma of the frame outside it)
    _, truth = make_lattice_image((96, 96), spacing=14, seed=0)
    assert summary["n_atoms"] == len(truth["x"]) and summary["units"] == "px"


_BAD_OPTIONS = [
    (["--separation", "-1"], "argument --separation: must be a positive number"),
    (["--separation", "nan"], "argument --separation: must be a positive number"),
    (["--separation", "abc"], "argument --separation: must be a positive number"),
    (["--separation", "0"], "argument --separation: must be a positive number"),
    (["--neighbours", "0"], "argument --neighbours: must be 'auto' or a positive"),
    (["--neighbours", "abc"], "argument --neighbours: must be 'auto' or a positive"),
    (["--sublattices", "0"], "argument --sublattices: must be a positive integer"),
    (["--sublattices", "-1"], "argument --sublattices: must be a positive integer"),
    (["--seed", "-1"], "argument --seed: must be a non-negative integer"),
    (["--seed", "abc"], "argument --seed: must be a non-negative integer"),
    (["--index", "-1"], "argument --index: must be a non-negative integer"),
    (["--format", "tiff"], "argument --format: invalid choice: 'tiff'"),
    (["--metric", "foo"], "argument --metric: invalid choice: 'foo'"),
    (["--preprocess", "sharpen"], "argument --preprocess: invalid choice"),
    (["--bogus"], "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize("opts,message", _BAD_OPTIONS)
def test_cli_bad_options_are_one_line_and_exit_1(files, tmp_path, opts, message):
    """Usage errors: one line and status 1 (argparse printed the whole usage
    and exited with 2 through SystemExit)."""
    status, out, err = _cli(
        ["analyse", str(files / "good.hspy"), "--out", str(tmp_path)] + opts
    )
    assert status == 1
    assert len(err) == 1, err
    assert re.match(r"localcryst( analyse)?: error: ", err[0]) and message in err[0]
    assert re.search(r"\(see `localcryst( analyse)? --help`\)$", err[0])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv,message",
    [
        (["bogus"], "localcryst: error: argument COMMAND: invalid choice: 'bogus'"),
        ([], "localcryst: error: the following arguments are required: COMMAND"),
        (["analyse"], "localcryst analyse: error: the following arguments are requir"),
        (["find", "x.hspy", "--model", "foo"], "argument --model: invalid choice"),
        (["find", "x.hspy", "--sublattices", "0"], "argument --sublattices: must be"),
        (["find", "x.hspy", "--separation", "-2"], "argument --separation: must be"),
    ],
)
def test_cli_usage_errors(argv, message):
    status, _, err = _cli(argv)
    assert status == 1 and len(err) == 1 and message in err[0]


def test_cli_semantic_option_errors(files, tmp_path):
    """Options valid for the parser but not for the file: one line per file."""
    for opts, message in (
        (["--index", "5"], "good.hspy holds 1 signal; --index 5."),
        (["--separation", "100"], "is larger than the image"),
        (["--neighbours", "500"], "at least 501 are needed"),
        (["--method", "template+foo"], "Unknown `method` 'foo'"),
        (["--method", "+"], "Unknown `method` ''"),
        (["--clusters", "0"], "--clusters must be 'auto' or a positive integer"),
    ):
        status, _, err = _cli(
            ["analyse", str(files / "good.hspy"), "--out", str(tmp_path / "o")] + opts
        )
        assert status == 1 and len(err) == 2 and message in err[0], (opts, err)


def test_cli_unknown_signal_type_is_refused_before_any_file(
    files, tmp_path, monkeypatch
):
    """HyperSpy only warns about an unknown signal_type and loads a plain
    signal; the command refuses it once, names the known ones, writes nothing."""
    figures_not_rendered(monkeypatch)  # the status is checked, not figures
    out = tmp_path / "o"
    status, stdout, err = _cli(
        ["analyse", str(files / "good.hspy"), "--out", str(out)]
        + ["--signal-type", "nonsense"]
    )
    assert status == 1 and stdout == "" and len(err) == 1
    assert "unknown --signal-type 'nonsense'; known: " in err[0]
    assert "atomic_image" in err[0] and "EELS" in err[0]
    assert not out.exists()
    status, _, err = _cli(
        ["analyse", str(files / "good.hspy"), "--out", str(out)]
        + ["--signal-type", "atomic_image"]
    )
    assert status == 0, err


def test_cli_find_prints_warnings_as_single_lines(files, tmp_path):
    status, out, err = _cli(
        ["find", str(files / "good.hspy"), "--out", str(tmp_path / "f")]
    )
    assert status == 0
    assert all(line.startswith("localcryst: warning: ") for line in err)
    # the `files` image's 7 x 7 columns (its truth)
    _, truth = make_lattice_image((96, 96), spacing=14, seed=0)
    assert f"{len(truth['x'])} atoms found" in out
