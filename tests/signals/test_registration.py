"""Registration of the signal classes with HyperSpy and file round trips."""

import contextlib
import importlib.metadata
import io
import pathlib

import hyperspy.api as hs
import numpy as np
import pytest
import yaml

import hyperspy_localcryst
from hyperspy_localcryst.signals.atom_neighbourhoods import (
    AtomNeighbourhoods,
    LazyAtomNeighbourhoods,
)
from hyperspy_localcryst.signals.atom_positions import (
    AtomPositions,
    LazyAtomPositions,
)
from hyperspy_localcryst.signals.atomic_image import AtomicImage, LazyAtomicImage

PACKAGE_DIR = pathlib.Path(hyperspy_localcryst.__file__).resolve().parent
YAML_PATH = PACKAGE_DIR / "hyperspy_extension.yaml"


def _yaml_signals():
    with open(YAML_PATH) as f:
        return yaml.safe_load(f)["signals"]


def test_yaml_is_inside_the_package_directory():
    assert YAML_PATH.is_file()
    assert YAML_PATH.parent == PACKAGE_DIR
    # and it is reachable as package data, as HyperSpy reads it
    from importlib import resources

    res = resources.files("hyperspy_localcryst") / "hyperspy_extension.yaml"
    assert res.is_file()


def test_entry_point_group_hyperspy_extensions():
    eps = importlib.metadata.entry_points(group="hyperspy.extensions")
    ours = [ep for ep in eps if ep.name == "hyperspy_localcryst"]
    assert len(ours) == 1
    assert ours[0].value == "hyperspy_localcryst"


def _blank(declared):
    """A plain HyperSpy signal of the declared dimension, dtype and laziness."""
    shape = (3, 4, 5)[-(declared["signal_dimension"] + 1) :]
    dtype = complex if declared["dtype"] == "complex" else float
    base = hs.signals.BaseSignal(np.ones(shape, dtype=dtype))
    base = base.transpose(signal_axes=declared["signal_dimension"])
    return base.as_lazy() if declared["lazy"] else base


@pytest.mark.parametrize("name", list(_yaml_signals()))
def test_every_yaml_signal_is_registered(name):
    # registration seen through HyperSpy's public API: `set_signal_type`
    # (and each alias) turns a plain signal of the declared kind into ours
    declared = _yaml_signals()[name]
    module = importlib.import_module(declared["module"])
    cls = getattr(module, name)
    assert cls._signal_type == declared["signal_type"]
    assert cls._signal_dimension == declared["signal_dimension"]
    assert cls._lazy == declared["lazy"]
    for signal_type in [
        declared["signal_type"],
        *declared.get("signal_type_aliases", []),
    ]:
        s = _blank(declared)
        s.set_signal_type(signal_type)
        assert type(s) is cls, (signal_type, type(s))
        # an alias is stored as the canonical name
        assert s.metadata.Signal.signal_type == declared["signal_type"]


def test_every_signal_has_a_lazy_twin():
    signals = _yaml_signals()
    eager = {n: d for n, d in signals.items() if not d["lazy"]}
    assert {"AtomicImage", "AtomPositions", "AtomNeighbourhoods"} <= set(eager)
    for name, d in eager.items():
        twin = "Lazy" + name
        assert twin in signals, f"{name} has no lazy twin in the yaml"
        td = signals[twin]
        assert td["lazy"] is True
        for key in ("signal_type", "signal_dimension", "dtype"):
            assert td[key] == d[key]
        # the lazy twin understands the same aliases (hs.load(..., lazy=True))
        assert td.get("signal_type_aliases", []) == d.get("signal_type_aliases", [])
        # as_lazy / compute move between the twins
        s = _blank(d)
        s.set_signal_type(d["signal_type"])
        lazy = s.as_lazy()
        assert type(lazy).__name__ == twin
        lazy.compute()
        assert type(lazy).__name__ == name


def test_print_known_signal_types_lists_ours():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        hs.print_known_signal_types()
    text = out.getvalue()
    for name, d in _yaml_signals().items():
        if not d["lazy"]:
            assert name in text
            assert d["signal_type"] in text


def test_set_signal_type_gives_atomic_image():
    s = hs.signals.Signal2D(np.random.default_rng(0).random((32, 32)))
    s.set_signal_type("atomic_image")
    assert type(s) is AtomicImage
    assert s.metadata.Signal.signal_type == "atomic_image"


def test_signal_type_alias():
    s = hs.signals.Signal2D(np.random.default_rng(0).random((32, 32)))
    s.set_signal_type("atomic_resolution_image")
    assert type(s) is AtomicImage
    assert s.metadata.Signal.signal_type == "atomic_image"  # canonical, not the alias


def test_set_signal_type_atom_positions():
    s = hs.signals.Signal1D(np.zeros((5, 2)))
    s.set_signal_type("atom_positions")
    assert type(s) is AtomPositions


def test_load_with_signal_type(real_data):
    s = hs.load(
        real_data("MoS2_Se-implanted_monolayer_crop384.hspy"),
        signal_type="atomic_image",
    )
    assert type(s) is AtomicImage
    assert s.axes_manager.signal_shape == (384, 384)
    lazy = hs.load(
        real_data("MoS2_Se-implanted_monolayer_crop384.hspy"),
        signal_type="atomic_image",
        lazy=True,
    )
    assert type(lazy) is LazyAtomicImage
    lazy.compute()
    assert type(lazy) is AtomicImage
    np.testing.assert_array_equal(lazy.data, s.data)


def test_as_lazy_and_compute(small_lattice):
    s, _ = small_lattice
    lazy = s.as_lazy()
    assert type(lazy) is LazyAtomicImage
    assert isinstance(lazy, AtomicImage)
    lazy.compute()
    assert type(lazy) is AtomicImage
    np.testing.assert_array_equal(lazy.data, s.data)


def test_atom_positions_as_lazy(small_lattice):
    s, _ = small_lattice
    atoms = s.find_atoms()
    lazy = atoms.as_lazy()
    assert type(lazy) is LazyAtomPositions
    assert lazy.columns == atoms.columns
    lazy.compute()
    assert type(lazy) is AtomPositions


def test_set_signal_type_atom_neighbourhoods_and_lazy(small_lattice):
    s = hs.signals.Signal1D(np.zeros((5, 4)))
    s.set_signal_type("atom_neighbourhoods")
    assert type(s) is AtomNeighbourhoods
    img, _ = small_lattice
    nb = img.find_atoms().get_neighbourhoods(n_neighbours=4)
    assert type(nb) is AtomNeighbourhoods
    lazy = nb.as_lazy()
    assert type(lazy) is LazyAtomNeighbourhoods
    lazy.compute()
    assert type(lazy) is AtomNeighbourhoods


def _assert_same_table(a, b):
    assert type(b) is AtomPositions
    assert b.columns == a.columns
    assert b.units == a.units
    assert b.grid == a.grid
    assert b.n_atoms == a.n_atoms
    np.testing.assert_array_equal(np.asarray(b.data), np.asarray(a.data))
    for c in a.columns:
        np.testing.assert_array_equal(b.get_column(c), a.get_column(c))
    # positions still map to the same pixels
    for pa, pb in zip(a.get_pixel_positions(), b.get_pixel_positions()):
        np.testing.assert_allclose(pb, pa, rtol=0, atol=1e-12)


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_atom_positions_round_trip(small_lattice, tmp_path, ext):
    s, _ = small_lattice
    refined = s.refine_atoms(s.find_atoms())
    # a NaN in a column must survive too
    amp = refined.get_column("amplitude").copy()
    amp[0] = np.nan
    refined = refined.add_columns({"amplitude": amp})
    path = tmp_path / f"atoms.{ext}"
    refined.save(path)
    back = hs.load(path)
    _assert_same_table(refined, back)
    assert back.metadata.Signal.signal_type == "atom_positions"
    settings = back.metadata.get_item("AtomPositions.settings")
    assert settings is not None
    assert settings.get_item("step") == "refine_atoms"


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_atom_positions_stack_round_trip(tmp_path, ext):
    from hyperspy_localcryst.data import synthetic_lattice

    stack = hs.stack(
        [synthetic_lattice(shape=(96, 96), spacing=16, sigma=3, seed=k) for k in (0, 1)]
    )
    atoms = stack.find_atoms()
    assert "frame" in atoms.columns
    path = tmp_path / f"stack_atoms.{ext}"
    atoms.save(path)
    back = hs.load(path)
    _assert_same_table(atoms, back)
    nav = back.metadata.get_item("AtomPositions.navigation")
    assert nav is not None and len(nav) == 1


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_atomic_image_round_trip(small_lattice, tmp_path, ext):
    s, _ = small_lattice
    path = tmp_path / f"image.{ext}"
    s.save(path)
    back = hs.load(path)
    assert type(back) is AtomicImage
    assert back.metadata.Signal.signal_type == "atomic_image"
    np.testing.assert_array_equal(back.data, s.data)
    for a, b in zip(s.axes_manager.signal_axes, back.axes_manager.signal_axes):
        for attr in ("scale", "offset", "units", "name"):
            assert getattr(b, attr) == getattr(a, attr)
    # the reloaded image gives the same atoms
    np.testing.assert_allclose(back.find_atoms().data, s.find_atoms().data)
    lazy = hs.load(path, lazy=True)
    assert type(lazy) is LazyAtomicImage
