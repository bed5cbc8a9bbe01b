"""The signal layer: calibrations, immutability, laziness, stacks, tables, plots."""

import hyperspy.api as hs
import numpy as np
import pandas as pd
import pytest

from hyperspy_localcryst.data import synthetic_lattice
from hyperspy_localcryst.signals.atom_positions import AtomPositions
from hyperspy_localcryst.signals.atomic_image import AtomicImage, LazyAtomicImage

from .._helpers import (
    assert_unchanged,
    label_agreement,
    match_one_to_one,
    near_edge,
    snapshot,
)

SCALE = 0.01  # nm / px of the synthetic fixtures


def _matched_errors(atoms, truth, tol_px=3.0):
    """Calibrated errors (dx, dy) of the truth atoms; all must be found."""
    x, y = atoms.get_column("x"), atoms.get_column("y")
    t_match, f_matched = match_one_to_one(truth["x"], truth["y"], x, y, tol_px * SCALE)
    assert np.all(t_match >= 0), f"{np.sum(t_match < 0)} true atoms not found"
    return x[t_match] - truth["x"], y[t_match] - truth["y"], f_matched


# ------------------------------------------------------- calibrated output
def test_find_atoms_calibrated_positions(small_lattice):
    s, truth = small_lattice
    atoms = s.find_atoms()
    assert isinstance(atoms, AtomPositions)
    dx, dy, matched = _matched_errors(atoms, truth)
    # unmatched finds are partial atoms at the edge only
    fx, fy = atoms.get_pixel_positions()
    assert not np.any(~matched & ~near_edge(fx, fy, s.data.shape, 3))
    assert np.max(np.hypot(dx, dy)) < 1.5 * SCALE
    assert atoms.columns[:2] == ["x", "y"]
    for c in ("score", "peak", "sublattice"):
        assert c in atoms.columns
    assert "frame" not in atoms.columns
    assert atoms.units["x"] == "nm" and atoms.units["y"] == "nm"
    assert atoms.units["peak"] == "Intensity (counts)"
    assert atoms.units["sublattice"] == ""
    assert atoms.metadata.AtomPositions.settings.separation == pytest.approx(
        0.2, rel=0.02
    )


def test_refine_atoms_calibrated_positions_and_units(small_lattice):
    s, truth = small_lattice
    refined = s.refine_atoms()
    dx, dy, _ = _matched_errors(refined, truth)
    # a few CRB (0.037 px) at most
    assert np.sqrt(np.mean(dx**2)) < 0.1 * SCALE
    assert np.sqrt(np.mean(dy**2)) < 0.1 * SCALE
    expected_units = {
        "x": "nm",
        "y": "nm",
        "amplitude": "Intensity (counts)",
        "sigma_x": "nm",
        "sigma_y": "nm",
        "sigma_major": "nm",
        "sigma_minor": "nm",
        "ellipticity": "",
        "orientation": "deg",
        "background": "Intensity (counts)",
        "intensity": "Intensity (counts)",
        "residual": "Intensity (counts)",
        "snr": "",
        "x_err": "nm",
        "y_err": "nm",
        "converged": "",
    }
    for c, u in expected_units.items():
        assert refined.units[c] == u, c
    ok = refined.get_column("converged") == 1
    assert ok.mean() > 0.95
    sigma = refined.get_column("sigma_x")[ok]
    assert np.median(sigma) == pytest.approx(3.5 * SCALE, rel=0.02)
    assert np.median(refined.get_column("amplitude")[ok]) == pytest.approx(
        200, rel=0.03
    )
    assert np.median(refined.get_column("x_err")[ok]) == pytest.approx(
        0.037 * SCALE, rel=0.3
    )


def test_grid_metadata(small_lattice):
    s, _ = small_lattice
    atoms = s.find_atoms()
    for key, ax in zip(("x", "y"), s.axes_manager.signal_axes):
        g = atoms.grid[key]
        assert g["size"] == ax.size == 128
        assert g["scale"] == ax.scale == SCALE
        assert g["offset"] == ax.offset == 0.0
        assert g["units"] == ax.units == "nm"
        assert g["name"] == ax.name
    refined = s.refine_atoms(atoms)
    assert refined.grid == atoms.grid
    assert refined.metadata.AtomPositions.settings.step == "refine_atoms"
    assert refined.metadata.Source.title == s.metadata.General.title


def _recalibrated(s, scale=None, units=None, offset=None):
    out = s.deepcopy()
    for ax, off in zip(out.axes_manager.signal_axes, offset or (None, None)):
        if scale is not None:
            ax.scale = scale
        if units is not None:
            ax.units = units
        if off is not None:
            ax.offset = off
    return out


@pytest.mark.parametrize(
    "kw,factor,shift",
    [
        ({"scale": 0.1, "units": "Å"}, 10.0, (0.0, 0.0)),  # same pixels, in Å
        ({"scale": 0.02}, 2.0, (0.0, 0.0)),
        ({"offset": (1.5, -0.7)}, 1.0, (1.5, -0.7)),
    ],
    ids=["angstrom", "scale", "offset"],
)
def test_calibration_changes_positions_not_pixels(small_lattice, kw, factor, shift):
    s, _ = small_lattice
    s2 = _recalibrated(s, **kw)
    a1, a2 = s.find_atoms(), s2.find_atoms()
    assert a1.n_atoms == a2.n_atoms
    for p1, p2 in zip(a1.get_pixel_positions(), a2.get_pixel_positions()):
        np.testing.assert_allclose(p2, p1, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        a2.get_column("x"), factor * a1.get_column("x") + shift[0], atol=1e-9
    )
    np.testing.assert_allclose(
        a2.get_column("y"), factor * a1.get_column("y") + shift[1], atol=1e-9
    )
    if "units" in kw:
        assert a2.units["x"] == kw["units"]
    r1, r2 = s.refine_atoms(a1), s2.refine_atoms(a2)
    for p1, p2 in zip(r1.get_pixel_positions(), r2.get_pixel_positions()):
        np.testing.assert_allclose(p2, p1, rtol=0, atol=1e-7)
    for c in ("sigma_x", "sigma_major", "x_err"):
        np.testing.assert_allclose(
            r2.get_column(c), factor * r1.get_column(c), rtol=1e-6
        )
    np.testing.assert_allclose(r2.get_column("amplitude"), r1.get_column("amplitude"))
    assert s2.estimate_separation() == pytest.approx(factor * s.estimate_separation())


# ------------------------------------------------------------ immutability
@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.normalise_contrast(),
        lambda s: s.normalise_contrast((0, 100)),
        lambda s: s.denoise(),
        lambda s: s.denoise("gaussian", sigma=0.02),
        lambda s: s.denoise("median"),
        lambda s: s.denoise("median", size=0.05),
        lambda s: s.remove_background(),
        lambda s: s.remove_background(sigma=0.5),
    ],
    ids=[
        "normalise",
        "normalise-0-100",
        "denoise",
        "denoise-sigma",
        "median",
        "median-size",
        "background",
        "background-sigma",
    ],
)
def test_preprocessing_returns_new_signal(small_lattice, call):
    s, _ = small_lattice
    before = snapshot(s)
    out = call(s)
    assert_unchanged(s, before)
    assert isinstance(out, AtomicImage)
    assert out is not s
    assert not np.shares_memory(out.data, s.data)
    assert out.data.shape == s.data.shape
    assert not np.array_equal(out.data, s.data)
    for a, b in zip(s.axes_manager.signal_axes, out.axes_manager.signal_axes):
        assert (a.scale, a.offset, a.units) == (b.scale, b.offset, b.units)


def test_preprocessing_results(small_lattice):
    s, truth = small_lattice
    n = s.normalise_contrast((0, 100)).data
    assert n.min() == 0.0 and n.max() == 1.0
    assert s.denoise().data.std() < s.data.std()
    bg = s.remove_background(sigma=1.0).data
    assert abs(bg.mean()) < 1.0
    # the atoms are still where they were after each preprocessing step
    for out in (s.normalise_contrast(), s.denoise(), s.remove_background()):
        _matched_errors(out.find_atoms(), truth)


def test_methods_leave_input_unchanged(small_lattice):
    s, _ = small_lattice
    before = snapshot(s)
    s.estimate_separation()
    assert_unchanged(s, before)
    atoms = s.find_atoms()
    assert_unchanged(s, before)
    atoms_before = snapshot(atoms)
    s.refine_atoms(atoms)
    s.refine_atoms(atoms, model="elliptical")
    s.refine_atoms(atoms, method="com")
    assert_unchanged(s, before)
    assert_unchanged(atoms, atoms_before)
    atoms.to_markers(colour_by="peak")
    atoms.to_dataframe()
    atoms.select(atoms.get_column("x") > 0.5)
    atoms.add_columns({"flag": np.ones(atoms.n_atoms)})
    atoms.label_sublattices(2, column="peak")
    assert_unchanged(atoms, atoms_before)
    s.plot_atoms(atoms)
    np.testing.assert_array_equal(s.data, before["data"])
    assert s.metadata.as_dictionary() == before["metadata"]


def test_refine_atoms_with_stale_input(small_lattice):
    """refine_atoms() without atoms finds them itself, same as explicit."""
    s, _ = small_lattice
    np.testing.assert_allclose(
        s.refine_atoms().data, s.refine_atoms(s.find_atoms()).data
    )


# --------------------------------------------------------------------- lazy
def test_lazy_gives_same_positions(small_lattice):
    s, _ = small_lattice
    lazy = s.as_lazy()
    assert isinstance(lazy, LazyAtomicImage)
    before = snapshot(s)
    a, al = s.find_atoms(), lazy.find_atoms()
    assert al.columns == a.columns
    np.testing.assert_allclose(
        np.c_[al.get_pixel_positions()], np.c_[a.get_pixel_positions()], atol=1e-6
    )
    r, rl = s.refine_atoms(a), lazy.refine_atoms(al)
    np.testing.assert_allclose(
        np.c_[rl.get_pixel_positions()], np.c_[r.get_pixel_positions()], atol=1e-6
    )
    assert lazy.estimate_separation() == pytest.approx(s.estimate_separation())
    assert isinstance(lazy, LazyAtomicImage)  # not computed in place
    assert_unchanged(s, before)


# -------------------------------------------------------------------- stack
def _stack():
    frames, truths = [], []
    for k in range(3):
        shift = (2.0 * k, 1.0 * k)
        s, t = synthetic_lattice(
            shape=(128, 128),
            spacing=20,
            seed=10 + k,
            displacement=lambda x, y, sub, d=shift: d,
            return_truth=True,
        )
        frames.append(s)
        truths.append(t)
    return hs.stack(frames), truths


def test_image_stack():
    stack, truths = _stack()
    assert isinstance(stack, AtomicImage)
    assert stack.data.shape == (3, 128, 128)
    atoms = stack.find_atoms()
    assert "frame" in atoms.columns
    frame = atoms.get_column("frame")
    assert set(np.unique(frame)) == {0.0, 1.0, 2.0}
    nav = atoms.metadata.AtomPositions.navigation
    assert len(nav) == 1 and nav[0]["size"] == 3
    refined = stack.refine_atoms(atoms)
    assert refined.columns.count("frame") == 1
    for k, truth in enumerate(truths):
        sel = refined.select(refined.get_column("frame") == k)
        dx, dy, _ = _matched_errors(sel, truth)
        assert np.sqrt(np.mean(dx**2 + dy**2)) < 0.1 * SCALE
        # the atoms of frame k are not those of another frame
        other = truths[(k + 1) % 3]
        x, y = sel.get_column("x"), sel.get_column("y")
        t_match, _ = match_one_to_one(other["x"], other["y"], x, y, 0.5 * SCALE)
        assert np.mean(t_match >= 0) < 0.1


def test_stack_frame_matches_single_image():
    stack, _ = _stack()
    atoms = stack.find_atoms()
    # a stack uses the separation of its first usable frame for every frame
    sep = float(atoms.metadata.AtomPositions.settings.separation)
    for k in range(3):
        single = stack.inav[k].find_atoms(separation=sep)
        sel = atoms.select(atoms.get_column("frame") == k)
        np.testing.assert_allclose(
            sel.get_column("x"), single.get_column("x"), atol=1e-9
        )


def test_plot_atoms_on_a_stack():
    """A stack is drawn with the navigator, its frames' atoms following it
    (values checked in test_views.py); a stack's atoms on one frame are
    refused."""
    stack, _ = _stack()
    atoms = stack.find_atoms()
    markers = stack.plot_atoms(atoms)
    assert len(markers.get_current_kwargs()["offsets"]) == int(
        (atoms.get_column("frame") == 0).sum()
    )
    with pytest.raises(ValueError, match="one image"):
        stack.inav[0].plot_atoms(atoms)


# ------------------------------------------------------------ table methods
def test_to_dataframe_and_csv(small_lattice, tmp_path):
    s, _ = small_lattice
    atoms = s.refine_atoms()
    df = atoms.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == atoms.columns
    assert len(df) == atoms.n_atoms
    assert df.index.name == "atom"
    assert df.attrs["units"] == atoms.units
    np.testing.assert_array_equal(df["x"].to_numpy(), atoms.get_column("x"))
    path = tmp_path / "atoms.csv"
    atoms.to_csv(path)
    header = path.read_text().splitlines()[0].split(",")
    assert header[:3] == ["atom", "x [nm]", "y [nm]"]
    assert "orientation [deg]" in header
    assert "converged" in header
    back = pd.read_csv(path, index_col=0)
    np.testing.assert_allclose(back["x [nm]"].to_numpy(), atoms.get_column("x"))
    np.testing.assert_allclose(
        back["amplitude [Intensity (counts)]"].to_numpy(),
        atoms.get_column("amplitude"),
    )


def test_select(small_lattice):
    s, _ = small_lattice
    atoms = s.find_atoms()
    mask = atoms.get_column("x") < 0.6
    sub = atoms.select(mask)
    assert isinstance(sub, AtomPositions)
    assert sub.n_atoms == mask.sum()
    assert sub.columns == atoms.columns
    assert sub.units == atoms.units
    assert sub.grid == atoms.grid
    np.testing.assert_array_equal(sub.get_column("x"), atoms.get_column("x")[mask])
    idx = sub_idx = np.array([0, 2, 4])
    by_index = atoms.select(sub_idx)
    np.testing.assert_array_equal(by_index.data, np.asarray(atoms.data)[idx])
    with pytest.raises(ValueError, match="entries"):
        atoms.select(np.ones(3, bool))


def test_add_columns(small_lattice):
    s, _ = small_lattice
    atoms = s.find_atoms()
    new = atoms.add_columns({"strain": np.arange(atoms.n_atoms)}, {"strain": "%"})
    assert new.columns == atoms.columns + ["strain"]
    assert new.units["strain"] == "%"
    np.testing.assert_array_equal(new.get_column("strain"), np.arange(atoms.n_atoms))
    # replacing a column keeps its unit and position
    x2 = atoms.get_column("x") + 1.0
    rep = atoms.add_columns({"x": x2})
    assert rep.columns == atoms.columns
    assert rep.units["x"] == "nm"
    np.testing.assert_array_equal(rep.get_column("x"), x2)
    assert "strain" not in atoms.columns
    with pytest.raises(ValueError, match="values for"):
        atoms.add_columns({"bad": [1.0, 2.0]})
    with pytest.raises(ValueError, match="Unknown column"):
        atoms.get_column("nope")


def test_label_sublattices(small_perovskite):
    s, truth = small_perovskite
    refined = s.refine_atoms()
    labelled = refined.label_sublattices(2, column="amplitude")
    x, y = labelled.get_pixel_positions()
    t_match, _ = match_one_to_one(truth["x_px"], truth["y_px"], x, y, 3.0)
    assert np.all(t_match >= 0)
    lab = labelled.get_column("sublattice")[t_match]
    # 0 = brightest = A (truth 0)
    assert np.mean(lab == truth["sublattice"]) >= 0.95
    assert label_agreement(lab, truth["sublattice"]) >= 0.95
    by_peak = s.find_atoms().label_sublattices(2, column="peak")
    assert set(np.unique(by_peak.get_column("sublattice"))) == {0.0, 1.0}


# --------------------------------------------------------------- plotting
def _collections_with(ax, n):
    return [c for c in ax.collections if len(c.get_offsets()) == n]


def test_to_markers(small_perovskite):
    s, _ = small_perovskite
    atoms = s.find_atoms(n_sublattices=2)
    m = atoms.to_markers(colour_by="sublattice", cmap="viridis", size=5)
    assert type(m).__name__ == "Points"
    assert isinstance(m, hs.plot.markers.Points)
    offsets = np.asarray(m.kwargs["offsets"])
    np.testing.assert_allclose(
        offsets, np.c_[atoms.get_column("x"), atoms.get_column("y")]
    )
    colors = np.asarray(m.kwargs["color"])
    assert colors.shape == (atoms.n_atoms, 4)
    lab = atoms.get_column("sublattice")
    # one colour per sublattice, different between the two
    assert len({tuple(c) for c in colors[lab == 0]}) == 1
    assert not np.allclose(colors[lab == 0][0], colors[lab == 1][0])
    single = atoms.to_markers()
    assert tuple(np.atleast_1d(single.kwargs["color"])) == ("red",)


def test_plot_atoms_headless(small_perovskite):
    import matplotlib

    assert matplotlib.get_backend().lower() == "agg"
    s, _ = small_perovskite
    atoms = s.find_atoms(n_sublattices=2)
    s.plot_atoms(atoms, colour_by="sublattice")
    ax = s._plot.signal_plot.ax
    cols = _collections_with(ax, atoms.n_atoms)
    assert len(cols) == 1
    np.testing.assert_allclose(
        np.sort(cols[0].get_offsets()[:, 0]), np.sort(atoms.get_column("x"))
    )
    facecolors = cols[0].get_facecolors()
    edgecolors = cols[0].get_edgecolors()
    shown = facecolors if len(facecolors) == atoms.n_atoms else edgecolors
    assert len({tuple(c) for c in np.round(shown, 6)}) == 2
    ax.figure.canvas.draw()


def test_plot_atoms_after_refine(small_lattice):
    s, _ = small_lattice
    refined = s.refine_atoms()
    s.plot_atoms(refined, colour_by="amplitude", size=4)
    ax = s._plot.signal_plot.ax
    assert len(_collections_with(ax, refined.n_atoms)) == 1
    ax.figure.canvas.draw()


# ----------------------------------------------------------- wrong grid
def test_refine_atoms_from_other_grid_raises(small_lattice):
    s, _ = small_lattice
    other = synthetic_lattice(shape=(160, 160), spacing=20, seed=3)
    atoms = other.find_atoms()
    before = snapshot(s)
    with pytest.raises(ValueError, match="another image grid"):
        s.refine_atoms(atoms)
    assert_unchanged(s, before)
    moved = _recalibrated(s, offset=(0.3, 0.0))
    with pytest.raises(ValueError, match="another image grid"):
        moved.refine_atoms(s.find_atoms())
    rescaled = _recalibrated(s, scale=0.02)
    with pytest.raises(ValueError, match="another image grid"):
        rescaled.refine_atoms(s.find_atoms())
    with pytest.raises(ValueError, match="another image grid"):
        rescaled.plot_atoms(s.find_atoms())


def test_default_markers_scale_with_the_lattice(small_lattice):
    """Without a size, markers are 0.3 x the nearest-neighbour distance wide,
    in the image's units, so they mark atoms without covering the image."""
    s, _ = small_lattice  # 20 px spacing at 0.01 nm/px
    m = s.find_atoms().to_markers()
    assert m.kwargs["units"] == "x"
    np.testing.assert_allclose(m.kwargs["sizes"], 0.3 * 0.2, rtol=0.02)
