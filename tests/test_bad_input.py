"""Bad input raises ValueError/TypeError naming the problem; input unchanged."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_localcryst.data import synthetic_lattice
from hyperspy_localcryst.numerics import centroids, finding, refinement
from hyperspy_localcryst.numerics.separation import estimate_separation
from hyperspy_localcryst.signals.atomic_image import AtomicImage

from ._helpers import assert_unchanged, snapshot


@pytest.fixture
def image():
    """96 x 96 square lattice, 16 px spacing, 0.01 nm/px."""
    return synthetic_lattice(shape=(96, 96), spacing=16, sigma=3, seed=0)


def _atomic(data, scale=0.01):
    s = hs.signals.Signal2D(data)
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = scale, "nm"
    s.set_signal_type("atomic_image")
    return s


def _raises(signal, exc, match, call):
    """``call(signal)`` raises ``exc`` matching ``match``; signal unchanged."""
    before = snapshot(signal)
    with pytest.raises(exc, match=match):
        call(signal)
    assert_unchanged(signal, before)


# ------------------------------------------------------------------ pixels
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.find_atoms(),
        lambda s: s.find_atoms(separation=0.16),
        lambda s: s.estimate_separation(),
    ],
    ids=["find", "find-sep", "estimate"],
)
def test_non_finite_pixels(image, bad, call):
    s = image.deepcopy()
    s.data[10, 20] = bad
    s.data[50, 5] = bad
    _raises(s, ValueError, r"2 NaN or infinite pixel", call)


def test_non_finite_pixels_refine(image):
    atoms = image.find_atoms()
    s = image.deepcopy()
    s.data[10, 20] = np.nan
    _raises(s, ValueError, "NaN or infinite", lambda s: s.refine_atoms(atoms))


@pytest.mark.parametrize("value", [0.0, 5.0], ids=["zero", "constant"])
@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.find_atoms(),
        lambda s: s.find_atoms(separation=0.16),
        lambda s: s.estimate_separation(),
        lambda s: s.refine_atoms(),
        lambda s: s.normalise_contrast(),
    ],
    ids=["find", "find-sep", "estimate", "refine", "normalise"],
)
def test_constant_image(value, call):
    s = _atomic(np.full((64, 64), value))
    _raises(s, ValueError, "constant", call)


def test_pure_noise_without_separation():
    """No lattice: the separation cannot be estimated, or nothing is found."""
    rng = np.random.default_rng(0)
    s = _atomic(rng.normal(100, 1, (96, 96)))
    _raises(
        s,
        ValueError,
        "No atoms found|periodic separation",
        lambda s: s.find_atoms(threshold=0.999),
    )


def test_no_atoms_found():
    rng = np.random.default_rng(0)
    s = _atomic(rng.normal(100, 1, (96, 96)))
    _raises(
        s,
        ValueError,
        r"No atoms found.*separation.*threshold",
        lambda s: s.find_atoms(separation=0.16, threshold=0.999),
    )


def test_no_atoms_found_lattice(image):
    _raises(
        image,
        ValueError,
        "No atoms found",
        lambda s: s.find_atoms(method="template", threshold=0.9999),
    )


# -------------------------------------------------------------- dimensions
def test_one_dimensional_signal():
    """A Signal1D cannot become an AtomicImage (signal_dimension 2 only)."""
    s = hs.signals.Signal1D(np.random.default_rng(0).random(100))
    s.set_signal_type("atomic_image")
    assert not isinstance(s, AtomicImage)
    assert not hasattr(s, "find_atoms")
    with pytest.raises(ValueError, match="signal dimension"):
        AtomicImage(np.random.default_rng(0).random(100))


@pytest.mark.parametrize("rows", [1, 2])
def test_line_shaped_image(rows):
    """Signal1D-shaped data in an AtomicImage: one or two rows of pixels."""
    s = AtomicImage(np.random.default_rng(0).random((rows, 100)))
    _raises(s, ValueError, "too small", lambda s: s.find_atoms())
    _raises(s, ValueError, "too small", lambda s: s.find_atoms(separation=5))


def test_numerics_reject_1d_arrays():
    line = np.random.default_rng(0).random(100)
    with pytest.raises(ValueError, match="2D image"):
        finding.find_atoms(line, separation=5)
    with pytest.raises(ValueError, match="2D image"):
        estimate_separation(line)
    with pytest.raises(ValueError, match="2D"):
        refinement.refine_gaussians(line, [5.0], [0.0], 3)
    with pytest.raises(ValueError, match="2D"):
        centroids.centre_of_mass(line, [5.0], [0.0], 3)


# ------------------------------------------------------------------ dtypes
def _rgb():
    data = np.random.default_rng(0).integers(0, 255, (64, 64, 3)).astype(np.uint8)
    s = hs.signals.Signal1D(data)
    s.change_dtype("rgb8")
    return s


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.find_atoms(),
        lambda s: s.estimate_separation(),
        lambda s: s.refine_atoms(),
        lambda s: s.normalise_contrast(),
        lambda s: s.denoise(),
    ],
    ids=["find", "estimate", "refine", "normalise", "denoise"],
)
def test_rgb_signal(call):
    s = _rgb()
    s.set_signal_type("atomic_image")
    assert isinstance(s, AtomicImage)
    _raises(s, TypeError, "real numbers", call)


def test_complex_signal(image):
    c = hs.signals.Signal2D(image.data + 1j * image.data)
    c.set_signal_type("atomic_image")
    # the yaml registers real dtypes only: a complex signal stays complex
    assert not isinstance(c, AtomicImage)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.find_atoms(),
        lambda s: s.estimate_separation(),
        lambda s: s.refine_atoms(),
        lambda s: s.normalise_contrast(),
        lambda s: s.remove_background(sigma=0.5),
    ],
    ids=["find", "estimate", "refine", "normalise", "background"],
)
def test_complex_atomic_image(image, call):
    s = AtomicImage(image.data + 1j * image.data)
    _raises(s, TypeError, "complex", call)


def test_complex_arrays_in_numerics(image):
    z = image.data + 1j
    with pytest.raises(TypeError, match="complex"):
        finding.find_atoms(z, separation=16)
    with pytest.raises(TypeError, match="real"):
        refinement.refine_gaussians(z, [20.0], [20.0], 5)


# ------------------------------------------------------------------ target
@pytest.mark.parametrize(
    "target",
    [
        np.random.default_rng(0).random((200, 200)),
        np.random.default_rng(0).random((97, 10)),
    ],
    ids=["square", "tall"],
)
def test_target_larger_than_image(image, target):
    _raises(
        image,
        ValueError,
        "larger than the image",
        lambda s: s.find_atoms(target=target),
    )


def test_target_signal_larger_than_image(image):
    big = synthetic_lattice(shape=(128, 128), spacing=16, sigma=3, seed=1)
    _raises(
        image, ValueError, "larger than the image", lambda s: s.find_atoms(target=big)
    )


@pytest.mark.parametrize(
    "target,match",
    [
        (np.ones(5), "2D array"),
        (np.ones((5, 5)), "not constant"),
        ((5.0, 5.0), "does not fit inside the image"),
    ],
    ids=["1d", "constant", "outside"],
)
def test_bad_target(image, target, match):
    _raises(image, ValueError, match, lambda s: s.find_atoms(target=target))


# -------------------------------------------------------------- separation
@pytest.mark.parametrize(
    "sep,match",
    [
        (0.0, "positive"),
        (-0.16, "positive"),
        (np.nan, "positive"),
        (np.inf, "positive"),
        (10.0, "larger than the image"),
        (0.96, "larger than the image"),
        (0.0001, "below 2 px"),
    ],
    ids=["zero", "negative", "nan", "inf", "huge", "image-size", "sub-pixel"],
)
def test_bad_separation(image, sep, match):
    _raises(
        image,
        ValueError,
        f"separation.*{match}|{match}.*separation|{match}",
        lambda s: s.find_atoms(separation=sep),
    )


@pytest.mark.parametrize("sep", [0.0, -3.0, np.nan, 500.0])
def test_bad_separation_numerics(image, sep):
    with pytest.raises(ValueError, match="separation"):
        finding.find_atoms(image.data, separation=sep)


@pytest.mark.parametrize("radius", [0.0, -0.05, np.nan])
def test_bad_radius(image, radius):
    atoms = image.find_atoms()
    _raises(image, ValueError, "radius", lambda s: s.refine_atoms(atoms, radius=radius))


# ---------------------------------------------------------------- options
@pytest.mark.parametrize(
    "call,match",
    [
        (lambda s: s.find_atoms(method="foo"), r"Unknown `method` 'foo'"),
        (lambda s: s.find_atoms(method=["template", "foo"]), r"Unknown `method` 'foo'"),
        (lambda s: s.find_atoms(method=[]), "empty"),
        (lambda s: s.refine_atoms(method="foo"), r"Unknown `method` 'foo'"),
        (lambda s: s.refine_atoms(model="foo"), r"`model`.*'foo'"),
        (lambda s: s.refine_atoms(weights="foo"), r"`weights`.*'foo'"),
        (lambda s: s.denoise(method="foo"), r"Unknown `method` 'foo'"),
        (lambda s: s.normalise_contrast((90, 10)), "percentiles"),
        (lambda s: s.find_atoms(threshold="foo"), "threshold"),
        (
            lambda s: s.find_atoms(method="template", threshold=2.0),
            "threshold",
        ),
        (lambda s: s.find_atoms(n_sublattices=0), "n_sublattices"),
        (lambda s: s.find_atoms(n_sublattices=-1), "n_sublattices"),
        (lambda s: s.find_atoms(min_area=3.0, max_area=2.0), "min_area"),
        (lambda s: s.find_atoms(method=["template", "log"], min_votes=3), "min_votes"),
    ],
    ids=[
        "method",
        "method-list",
        "method-empty",
        "refine-method",
        "model",
        "weights",
        "denoise-method",
        "percentiles",
        "threshold-str",
        "threshold-range",
        "n_sublattices-0",
        "n_sublattices-neg",
        "areas",
        "min_votes",
    ],
)
def test_bad_options(image, call, match):
    _raises(image, ValueError, match, call)


def test_label_sublattices_zero(image):
    atoms = image.find_atoms()
    before = snapshot(atoms)
    with pytest.raises(ValueError, match="at least 1"):
        atoms.label_sublattices(0, column="peak")
    with pytest.raises(ValueError, match="Unknown column"):
        atoms.label_sublattices(2, column="nope")
    assert_unchanged(atoms, before)


# ------------------------------------------------------------------- axes
@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.find_atoms(),
        lambda s: s.estimate_separation(),
        lambda s: s.refine_atoms(),
        lambda s: s.denoise(sigma=0.02),
    ],
    ids=["find", "estimate", "refine", "denoise"],
)
def test_non_square_pixels(image, call):
    s = image.deepcopy()
    s.axes_manager.signal_axes[1].scale = 0.02
    _raises(s, ValueError, "not square", call)


def test_different_units(image):
    s = image.deepcopy()
    s.axes_manager.signal_axes[1].units = "Å"
    _raises(s, ValueError, "different units", lambda s: s.find_atoms())


def test_non_uniform_axis(image):
    s = image.deepcopy()
    s.axes_manager.signal_axes[0].convert_to_non_uniform_axis()
    _raises(s, ValueError, "not uniform", lambda s: s.find_atoms())


# ------------------------------------------------------------------ tables
def test_nan_positions_in_table(image):
    atoms = image.find_atoms()
    x = atoms.get_column("x").copy()
    x[3] = np.nan
    bad = atoms.add_columns({"x": x})
    bad_before = snapshot(bad)
    _raises(image, ValueError, "NaN positions", lambda s: s.refine_atoms(bad))
    assert_unchanged(bad, bad_before)
    y = atoms.get_column("y").copy()
    y[0] = np.inf
    _raises(
        image,
        ValueError,
        "NaN positions",
        lambda s: s.refine_atoms(atoms.add_columns({"y": y})),
    )


def test_not_a_table(image):
    xy = np.zeros((3, 2))
    _raises(image, TypeError, "AtomPositions", lambda s: s.refine_atoms(xy))
    _raises(image, TypeError, "AtomPositions", lambda s: s.plot_atoms(xy))


def test_nan_positions_numerics(image):
    with pytest.raises(ValueError, match="NaN positions"):
        refinement.refine_gaussians(image.data, [20.0, np.nan], [20.0, 30.0], 5)
    with pytest.raises(ValueError, match="same length"):
        refinement.refine_gaussians(image.data, [20.0, 30.0], [20.0], 5)
