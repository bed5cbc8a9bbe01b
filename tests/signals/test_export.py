"""Tables out and back in (issue 20, point 7): a pandas table and a CSV that
round-trip into AtomPositions, an extended XYZ file and a projected CIF whose
numbers are checked against the table by an independent parser."""

import warnings

import numpy as np
import pandas as pd
import pytest

from hyperspy_localcryst.data import synthetic_lattice
from hyperspy_localcryst.data.synthetic import make_drift_stack
from hyperspy_localcryst.signals.atom_positions import AtomPositions
from hyperspy_localcryst.signals.atomic_image import AtomicImage


@pytest.fixture(scope="module")
def refined():
    image = synthetic_lattice(
        shape=(120, 150), lattice="perovskite", sublattice_peaks=(200, 90), seed=3
    )
    # an offset and a non-square, flipped-free grid make the truth asymmetric
    image.axes_manager.signal_axes[0].offset = 0.5
    image.axes_manager.signal_axes[1].offset = -0.2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = image.refine_atoms(image.find_atoms()).label_sublattices()
    return image, atoms


def test_dataframe_round_trip(refined):
    image, atoms = refined
    df = atoms.to_dataframe()
    back = AtomPositions.from_dataframe(df)
    np.testing.assert_array_equal(back.data, atoms.data)
    assert back.columns == atoms.columns and back.units == atoms.units
    assert back.grid == atoms.grid
    np.testing.assert_array_equal(
        back.get_pixel_positions()[0], atoms.get_pixel_positions()[0]
    )
    # a stack: the frames and navigation axes come back too
    frames, _ = make_drift_stack(n_frames=3, shape=(96, 96), seed=0)
    stack_atoms = AtomicImage(frames).find_atoms(show_progressbar=False)
    sback = AtomPositions.from_dataframe(stack_atoms.to_dataframe())
    assert sback.n_frames == 3 and sback.navigation == stack_atoms.navigation
    np.testing.assert_array_equal(sback.get_frames(), stack_atoms.get_frames())
    with pytest.raises(ValueError, match="columns `x` and `y`"):
        AtomPositions.from_dataframe(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(TypeError, match="pandas DataFrame"):
        AtomPositions.from_dataframe({"x": [1.0]})


def test_csv_round_trip(refined, tmp_path):
    image, atoms = refined
    path = tmp_path / "atoms.csv"
    atoms.to_csv(path)
    back = AtomPositions.from_csv(path, image=image)
    np.testing.assert_array_equal(back.data, atoms.data)  # repr: no rounding
    assert back.units == atoms.units and back.grid == atoms.grid
    # a derived column survives, and the table works on after the trip
    pol = back.get_polarisation()
    assert np.isfinite(pol.get_column("dx")).sum() > 10
    # without the image: a grid of one pixel per nm that holds the atoms
    alone = AtomPositions.from_csv(path)
    np.testing.assert_array_equal(alone.get_column("x"), atoms.get_column("x"))
    g = alone.grid["x"]
    assert g["scale"] == 1.0 and g["units"] == "nm"
    assert g["size"] > atoms.get_column("x").max()


def _read_extxyz(path):
    lines = open(path).read().splitlines()
    n = int(lines[0])
    head = lines[1]
    lattice = [float(v) for v in head.split('Lattice="')[1].split('"')[0].split()]
    props = head.split("Properties=")[1].split()[0].split(":")
    names = props[0::3]
    rows = [ln.split() for ln in lines[2 : 2 + n]]
    return n, np.array(lattice).reshape(3, 3), names, rows


def test_extxyz_in_angstrom_from_the_image_corner(refined, tmp_path):
    image, atoms = refined
    path = tmp_path / "atoms.xyz"
    atoms.to_extxyz(path, symbols={0: "Sr", 1: "Ti"}, thickness=3.905)
    n, lattice, names, rows = _read_extxyz(path)
    assert n == atoms.n_atoms
    ax, ay = image.axes_manager.signal_axes
    # the field of view in Å (nm x 10), independently from the axes
    assert lattice[0, 0] == pytest.approx(ax.size * ax.scale * 10)
    assert lattice[1, 1] == pytest.approx(ay.size * ay.scale * 10)
    assert lattice[2, 2] == pytest.approx(3.905)
    assert names[:2] == ["species", "pos"]
    el = np.array([r[0] for r in rows])
    lab = atoms.get_column("sublattice")
    assert set(el[lab == 0]) == {"Sr"} and set(el[lab == 1]) == {"Ti"}
    pos = np.array([[float(v) for v in r[1:4]] for r in rows])
    np.testing.assert_allclose(
        pos[:, 0], (atoms.get_column("x") - (ax.offset - ax.scale / 2)) * 10, atol=2e-6
    )
    np.testing.assert_allclose(
        pos[:, 1], (atoms.get_column("y") - (ay.offset - ay.scale / 2)) * 10, atol=2e-6
    )
    np.testing.assert_allclose(pos[:, 2], 3.905 / 2, atol=1e-6)
    # the table's other columns follow as properties, in order
    k = names.index("amplitude") - 2 + 4
    np.testing.assert_allclose(
        [float(r[k]) for r in rows], atoms.get_column("amplitude"), rtol=1e-9
    )
    with pytest.raises(FileExistsError):
        atoms.to_extxyz(path)


def test_cif_fractional_coordinates(refined, tmp_path):
    image, atoms = refined
    path = tmp_path / "atoms.cif"
    atoms.to_cif(path, symbols={0: "Sr", 1: "Ti"})
    text = open(path).read()
    a = float(text.split("_cell_length_a")[1].split()[0])
    b = float(text.split("_cell_length_b")[1].split()[0])
    sites = [ln.split() for ln in text.split("_atom_site_occupancy\n")[1].splitlines()]
    assert len(sites) == atoms.n_atoms
    fx = np.array([float(s[2]) for s in sites])
    fy = np.array([float(s[3]) for s in sites])
    ax, ay = image.axes_manager.signal_axes
    np.testing.assert_allclose(
        fx * a / 10 + ax.offset - ax.scale / 2, atoms.get_column("x"), atol=1e-5
    )
    np.testing.assert_allclose(
        fy * b / 10 + ay.offset - ay.scale / 2, atoms.get_column("y"), atol=1e-5
    )
    assert np.all((fx >= 0) & (fx <= 1) & (fy >= 0) & (fy <= 1))
    assert sites[0][0].startswith(sites[0][1])  # label = element + count
    # positions in pixels cannot be written in Å
    raw = AtomicImage(image.data).find_atoms()
    with pytest.raises(ValueError, match="cannot be written in Å"):
        raw.to_cif(tmp_path / "px.cif")
    unlabelled = AtomPositions.from_dataframe(
        atoms.to_dataframe().drop(columns="sublattice")
    )
    with pytest.raises(ValueError, match="needs a `sublattice` column"):
        unlabelled.to_cif(tmp_path / "s.cif", symbols={0: "Sr"})
