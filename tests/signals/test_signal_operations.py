"""Result signals under HyperSpy operations: isig/inav slices, stacks, save/load.

Truth: the raw arrays of the unsliced signals (``np.array(signal.data)``,
whose column ``i`` is name ``i`` of the metadata list as made), the positions
of the synthetic scene, and its geometry: a centre atom plus each of its
neighbour vectors lands exactly on an atom of the table, which a wrong centre
(noisy positions: no two centres have the same vectors) cannot do. The scene
is a rotated perovskite lattice on a non-square image, so no two columns and
no two centres could be swapped without a difference.

``hs.stack`` keeps only the first input's metadata, so every signal it makes
is refused (the fault matrix of issue 17 point 4: each case below used to
give silently wrong names, units or pixels); ``AtomPositions.concatenate``
joins tables, its truth the raw arrays of the unsliced input tables.
"""

import re
import warnings

import hyperspy.api as hs
import numpy as np
import pytest
from scipy.spatial import cKDTree

from hyperspy_localcryst.data import synthetic_lattice
from hyperspy_localcryst.signals._grid import to_pixels
from hyperspy_localcryst.signals.atom_neighbourhoods import AtomNeighbourhoods
from hyperspy_localcryst.signals.atom_positions import (
    AtomPositions,
    make_atom_positions,
)

from .._helpers import match_one_to_one

#: The one error for any signal made by ``hs.stack`` (tables and neighbourhoods)
STACKED = (
    r"made by `hs.stack` \(original_metadata.stack_elements records its \d+ "
    r"inputs\), which keeps only the first input's {kept}: the other inputs' are "
    r"lost and cannot be checked, so its values cannot be trusted.*{advice}"
)
STACK_MSG = STACKED.format(
    kept="column names, units and image grid",
    advice=re.escape("a.concatenate(b, ...)") + ".*image stack",
)
NB_STACK_MSG = STACKED.format(
    kept="component names, units, atom table and image grid",
    advice="compute the neighbourhoods once from one pooled table.*"
    + re.escape("AtomPositions.concatenate"),
)
SI_REGION = (0.0, 0.0, 1.6, 1.4)


@pytest.fixture(scope="module")
def scene():
    """Refined atoms and neighbourhoods of a rotated perovskite, with raw arrays.

    Shared by the module: tests work on slices, copies or reloads, never on
    these objects themselves (learning runs on deep copies).
    """
    img, truth = synthetic_lattice(
        shape=(150, 170),
        spacing=20,
        lattice="perovskite",
        sublattice_peaks=(200, 80),
        rotation=7,
        seed=3,
        return_truth=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few fits do not converge: irrelevant
        atoms = img.refine_atoms(img.find_atoms(), model="elliptical")
    atoms = atoms.label_sublattices(2, column="peak")  # no constant column
    nb = atoms.get_neighbourhoods(4)
    nb_angle = atoms.get_neighbourhoods(4, metric="angle")
    return {
        "img": img,
        "truth": truth,
        "atoms": atoms,
        "names": list(atoms.metadata.AtomPositions.columns),
        "units": list(atoms.metadata.AtomPositions.units),
        "raw": np.array(atoms.data),
        "nb": nb,
        "nb_angle": nb_angle,
        "nb_raw": np.array(nb.data),
        "nb_centres": np.rint(nb.axes_manager.navigation_axes[0].axis).astype(int),
    }


@pytest.fixture(scope="module")
def frames():
    """A two-frame image stack's linked table and its raw array."""
    stack = hs.stack(
        [synthetic_lattice((128, 128), spacing=20, seed=k) for k in (0, 1)]
    )
    atoms = stack.find_atoms(show_progressbar=False).link_frames()
    return {
        "stack": stack,
        "atoms": atoms,
        "names": list(atoms.metadata.AtomPositions.columns),
        "raw": np.array(atoms.data),
    }


def _column(scene, name, rows=slice(None)):
    """Truth: column ``name`` of the unsliced table's raw array."""
    return scene["raw"][rows, scene["names"].index(name)]


def _assert_linked(nb, xy):
    """Every centre plus each of its neighbour vectors lands on an atom."""
    c = nb.get_centres()
    v = nb.get_vectors("image")
    ends = np.stack(
        [
            c.get_column("x")[:, None] + v[..., 0],
            c.get_column("y")[:, None] + v[..., 1],
        ],
        axis=-1,
    ).reshape(-1, 2)
    ends = ends[np.isfinite(ends).all(axis=1)]
    d, _ = cKDTree(xy).query(ends)
    assert d.max() < 1e-9


def _atom_xy(scene):
    return np.column_stack([_column(scene, "x"), _column(scene, "y")])


def test_scene_is_the_truth(scene):
    """The unsliced table matches the synthetic positions (anchors the truth)."""
    t = scene["truth"]
    m, _ = match_one_to_one(
        t["x"], t["y"], _column(scene, "x"), _column(scene, "y"), tol=0.03
    )
    assert (m >= 0).mean() > 0.95
    assert scene["names"][:2] == ["x", "y"]
    # no two columns alike: a swap could not pass by coincidence
    raw = scene["raw"]
    for i in range(raw.shape[1]):
        for j in range(i):
            assert not np.allclose(raw[:, i], raw[:, j], equal_nan=True)
    _assert_linked(scene["nb"], _atom_xy(scene))


# ---------------------------------------------------------- isig on tables
ISIG = [
    (slice(2, 5), [2, 3, 4]),
    (slice(None, None, 2), "step2"),
    (slice(1, None, 3), "from1step3"),
    (slice(None, None, -1), "reversed"),
    (slice(2.0, 5.0), [2, 3, 4]),  # float: calibrated values, = indices here
    (slice(1.0, 9.0, 2), [1, 3, 5, 7]),
    (slice(0, 2), [0, 1]),
]


def _expected(n, spec):
    """Integer positions of a slice spec (a list, or a name for n-dependent ones)."""
    if not isinstance(spec, str):
        return list(spec)
    return {
        "step2": list(range(0, n, 2)),
        "from1step3": list(range(1, n, 3)),
        "reversed": list(range(n - 1, -1, -1)),
    }[spec]


@pytest.mark.parametrize("sl, spec", ISIG, ids=[str(s[0]) for s in ISIG])
def test_isig_columns_follow_the_slice(scene, sl, spec):
    names, raw = scene["names"], scene["raw"]
    pos = _expected(len(names), spec)
    t = scene["atoms"].isig[sl]
    assert isinstance(t, AtomPositions)
    assert t.columns == [names[i] for i in pos]
    assert t.units == {names[i]: scene["units"][i] for i in pos}
    for i in pos:
        np.testing.assert_array_equal(t.get_column(names[i]), raw[:, i])
    for name in set(names) - set(t.columns):
        with pytest.raises(ValueError, match=re.escape(str(t.columns))):
            t.get_column(name)
    df = t.to_dataframe()
    assert list(df.columns) == [names[i] for i in pos]
    np.testing.assert_array_equal(df.to_numpy(), raw[:, pos])
    header = t.to_csv(None).splitlines()[0].split(",")
    assert [h.split(" [")[0] for h in header[1:]] == [names[i] for i in pos]
    # editing gives a fresh table with the right values
    mask = raw[:, 0] > np.median(raw[:, 0])
    sel = t.select(mask)
    np.testing.assert_array_equal(np.asarray(sel.data), raw[mask][:, pos])
    added = t.add_columns({"flag": np.arange(t.n_atoms)})
    assert added.columns == [names[i] for i in pos] + ["flag"]
    for i in pos:
        np.testing.assert_array_equal(added.get_column(names[i]), raw[:, i])


def test_isig_score_not_x(scene):
    """The measured defect: isig[2:5] gave `score` for `x`."""
    t = scene["atoms"].isig[2:5]
    np.testing.assert_array_equal(t.get_column("score"), _column(scene, "score"))
    with pytest.raises(ValueError, match=r"'x'.*\['score', 'peak', 'sublattice'\]"):
        t.get_column("x")


def test_isig_methods_on_kept_positions(scene):
    names = scene["names"]
    t = scene["atoms"].isig[0:5]  # x, y, score, peak, sublattice
    grid = scene["atoms"].grid
    xp, yp = t.get_pixel_positions()
    ex, ey = to_pixels(grid, _column(scene, "x"), _column(scene, "y"))
    np.testing.assert_allclose(xp, ex)
    np.testing.assert_allclose(yp, ey)
    m = t.to_markers()
    np.testing.assert_allclose(m.kwargs["offsets"], _atom_xy(scene))
    # the neighbourhoods depend only on x, y: same as from the whole table
    nb = t.get_neighbourhoods(4)
    np.testing.assert_array_equal(np.asarray(nb.data), scene["nb_raw"])
    _assert_linked(nb, _atom_xy(scene))
    # by intensity alone: the default (structure) needs the positions
    lab = (
        scene["atoms"].isig[2:5].label_sublattices(2, column="peak", method="intensity")
    )
    assert lab.columns == ["score", "peak", "sublattice"]
    truth = scene["truth"]
    mt, _ = match_one_to_one(
        truth["x"], truth["y"], _column(scene, "x"), _column(scene, "y"), 0.03
    )
    got = lab.get_column("sublattice")[mt[mt >= 0]]
    assert np.mean(got == truth["sublattice"][mt >= 0]) > 0.95
    # without x the positions are refused, naming the columns
    with pytest.raises(ValueError, match="Unknown column 'x'"):
        scene["atoms"].isig[2:5].get_neighbourhoods(4)
    with pytest.raises(ValueError, match="Unknown column 'x'"):
        scene["atoms"].isig[2:5].to_markers()
    assert names[4] == "sublattice"


def test_isig_integer_is_not_a_table(scene):
    """HyperSpy turns an integer isig into a plain signal: no table methods."""
    s = scene["atoms"].isig[2]
    assert not isinstance(s, AtomPositions)
    np.testing.assert_array_equal(np.asarray(s.data), scene["raw"][:, 2])


def test_fancy_isig_and_inav_are_refused_by_hyperspy(scene):
    with pytest.raises(IndexError):
        scene["atoms"].isig[[0, 2]]
    with pytest.raises(IndexError):
        scene["atoms"].inav[[0, 2]]
    with pytest.raises(IndexError):
        scene["nb"].inav[[0, 2]]


def test_recalibrated_or_signal_stacked_axis_refused(scene):
    t = scene["atoms"].deepcopy()
    t.axes_manager.signal_axes[0].scale = 0.5
    with pytest.raises(ValueError, match="no longer maps"):
        t.get_column("x")
    wide = hs.stack(
        [scene["atoms"], scene["atoms"]], axis="column", show_progressbar=False
    )
    with pytest.raises(ValueError, match=STACK_MSG):
        wide.columns
    with pytest.raises(ValueError, match="transposed"):
        scene["atoms"].T.get_column("x")


# ---------------------------------------------------------- inav on tables
def test_single_row_table(scene, tmp_path):
    k = 3
    atoms = scene["atoms"]
    row = atoms.inav[k]
    assert np.asarray(row.data).ndim == 1  # HyperSpy removed the atom axis
    assert row.n_atoms == 1
    assert row.columns == scene["names"]
    for name in scene["names"]:
        np.testing.assert_array_equal(row.get_column(name), _column(scene, name, [k]))
    df = row.to_dataframe()
    np.testing.assert_array_equal(df.to_numpy(), scene["raw"][k : k + 1])
    assert len(row.to_csv(None).splitlines()) == 2
    row.to_csv(tmp_path / "row.csv")
    np.testing.assert_array_equal(
        row.select([0]).get_column("x"), _column(scene, "x", [k])
    )
    np.testing.assert_array_equal(
        row.select(np.array([True])).get_column("y"), _column(scene, "y", [k])
    )
    with pytest.raises(ValueError, match="selects no atom"):
        row.select(np.array([False]))
    added = row.add_columns({"flag": [7.0]})
    assert added.get_column("flag").tolist() == [7.0]
    np.testing.assert_array_equal(added.get_column("x"), _column(scene, "x", [k]))
    assert row.label_sublattices(1, column="peak").get_column(
        "sublattice"
    ).tolist() == [0.0]
    with pytest.raises(ValueError, match=r"`n_sublattices` = 2 is more than"):
        row.label_sublattices(2, column="peak")
    xp, yp = row.get_pixel_positions()
    ex, ey = to_pixels(atoms.grid, _column(scene, "x", [k]), _column(scene, "y", [k]))
    np.testing.assert_allclose([xp[0], yp[0]], [ex[0], ey[0]])
    m = row.to_markers(colour_by="peak")
    np.testing.assert_allclose(m.kwargs["offsets"], _atom_xy(scene)[k : k + 1])
    arrows = row.add_columns({"dx": [0.1], "dy": [0.0]}).to_arrows()
    assert type(arrows).__name__ == "Arrows"
    assert row.get_frames().tolist() == [0]
    assert row.get_frame(0).n_atoms == 1
    stats = row.get_frame_statistics(["x", "peak"])
    np.testing.assert_allclose(
        stats.data.ravel(), [_column(scene, "x")[k], _column(scene, "peak")[k]]
    )
    with pytest.raises(ValueError, match=r"1 atom\(s\) given; at least"):
        row.get_neighbourhoods(4)
    with pytest.raises(ValueError, match="two atoms"):
        row.link_frames()


def test_single_row_into_atomic_image(scene):
    """refine_atoms and plot_atoms take a one-row table (a.inav[k])."""
    img, truth = scene["img"], scene["truth"]
    x, y = _column(scene, "x"), _column(scene, "y")
    k = int(np.argmin(np.hypot(x - 0.85, y - 0.75)))  # an atom far from the edges
    row = scene["atoms"].inav[k]
    # one atom has no neighbour to size the window: half the separation it
    # was found with
    alone = img.refine_atoms(row)
    sep = row.metadata.AtomPositions.settings.separation
    assert alone.metadata.AtomPositions.settings.radius == pytest.approx(sep / 2)
    for r in (alone, img.refine_atoms(row, radius=0.06)):
        assert r.n_atoms == 1
        dx = truth["x"] - r.get_column("x")[0]
        d = np.hypot(dx, truth["y"] - r.get_column("y")[0])
        assert d.min() < 0.3 * 0.01  # 0.3 px of the truth
    img.plot_atoms(row)


def test_single_row_spectra(scene):
    si = hs.signals.Signal1D(np.ones((16, 16, 10)))
    row = scene["atoms"].inav[3]
    with pytest.raises(ValueError, match="max_distance"):
        row.get_spectra(si, region=SI_REGION)
    sp = row.get_spectra(si, region=SI_REGION, max_distance=0.05)
    assert sp.data.shape == (1, 10)
    reg = row.register_to_spectrum_image(si, region=SI_REGION)
    assert reg.n_atoms == 1 and "in_si" in reg.columns


INAV = [slice(2, 9), slice(None, None, 3), slice(5, None), slice(-4, None)]


@pytest.mark.parametrize("sl", INAV, ids=[str(s) for s in INAV])
def test_inav_slices_of_a_table(scene, sl):
    rows = np.arange(scene["raw"].shape[0])[sl]
    t = scene["atoms"].inav[sl]
    assert t.n_atoms == len(rows)
    for name in scene["names"]:
        np.testing.assert_array_equal(t.get_column(name), _column(scene, name, rows))
    np.testing.assert_array_equal(t.to_dataframe().to_numpy(), scene["raw"][rows])
    sel = t.select(np.arange(len(rows))[::2])
    np.testing.assert_array_equal(sel.get_column("x"), _column(scene, "x", rows[::2]))
    si = hs.signals.Signal1D(np.ones((16, 16, 10)))
    sp = t.get_spectra(si, region=SI_REGION)
    inside = t.register_to_spectrum_image(si, region=SI_REGION).get_column("in_si")
    assert sp.data.shape == (len(sp.metadata.AtomSpectra.atom_indices), 10)
    assert set(np.flatnonzero(inside)) <= set(sp.metadata.AtomSpectra.atom_indices)


def test_inav_then_isig(scene):
    t = scene["atoms"].inav[4].isig[5:8]
    names = scene["names"]
    assert t.columns == names[5:8]
    for name in names[5:8]:
        np.testing.assert_array_equal(t.get_column(name), _column(scene, name, [4]))


# -------------------------------------------------------------- frames
def test_stack_table_slices_keep_frames(frames):
    atoms, names, raw = frames["atoms"], frames["names"], frames["raw"]
    fcol = raw[:, names.index("frame")]
    t = atoms.inav[::2]
    rows = np.arange(len(raw))[::2]
    np.testing.assert_array_equal(t.get_frames(), fcol[rows])
    f1 = t.get_frame(1)
    np.testing.assert_array_equal(
        f1.get_column("x"), raw[rows][fcol[rows] == 1, names.index("x")]
    )
    stats = t.get_frame_statistics(["x"], "count")
    assert stats.data.ravel().tolist() == [
        float((fcol[rows] == 0).sum()),
        float((fcol[rows] == 1).sum()),
    ]
    relinked = t.link_frames()
    assert relinked.estimate_drift().data.shape == (2, 4)
    assert relinked.get_trajectories().axes_manager.signal_shape == (2, 2)
    assert relinked.get_displacements().n_atoms > 0
    markers = t.to_markers()
    assert markers.kwargs["offsets"].shape == (2,)
    # a single row of a stack table keeps its frame
    k = int(np.flatnonzero(fcol == 1)[0])
    assert atoms.inav[k].get_frame(1).n_atoms == 1


def test_stack_table_isig_without_frame_refused(frames):
    atoms, names = frames["atoms"], frames["names"]
    assert names.index("frame") == 6 and names.index("track") == 8
    no_frame = atoms.isig[:6]
    for call in (
        no_frame.get_frames,
        lambda: no_frame.get_frame(1),
        lambda: no_frame.get_frame_statistics(["x"]),
        no_frame.to_markers,
        no_frame.get_neighbourhoods,
        lambda: frames["stack"].refine_atoms(no_frame),
    ):
        with pytest.raises(ValueError, match="'frame' column"):
            call()
    no_track = atoms.isig[:8]
    assert no_track.get_frame(1).n_atoms == int((frames["raw"][:, 6] == 1).sum())
    with pytest.raises(ValueError, match="'track' column"):
        no_track.estimate_drift()


# -------------------------------------------------------------- stacks
def _stack(signals, **kwargs):
    return hs.stack(signals, show_progressbar=False, **kwargs)


def _xy_table(scene, factor=1.0, units="nm", scale=1.0):
    """The scene's x, y as a new table: lengths times ``factor`` in ``units``,
    on the scene's image grid with pixels ``scale`` times as large (the same
    image in other units, or another image's calibration)."""
    grid = scene["atoms"].grid
    grid = {
        k: {
            **grid[k],
            "scale": grid[k]["scale"] * factor * scale,
            "offset": grid[k]["offset"] * factor * scale,
            "units": units,
        }
        for k in "xy"
    }
    return make_atom_positions(
        {c: _column(scene, c) * factor * scale for c in "xy"},
        {"x": units, "y": units},
        grid,
    )


#: The fault matrix (issue 17 point 4): each stack used to be silently wrong.
FAULTS = {
    # names of the first (score, peak) on the second's data (x, y)
    "columns reordered": lambda s: _stack(
        [s["atoms"].isig[2:4], s["atoms"].isig[0:2]], axis="column"
    ),
    # x, y, score named x, y, score, peak, sublattice, amplitude
    "columns repeated": lambda s: _stack(
        [s["atoms"].isig[0:3], s["atoms"].isig[0:3]], axis="column"
    ),
    # rows of x_err, y_err named x, y
    "other columns as rows": lambda s: _stack(
        [s["atoms"].isig[0:2], s["atoms"].isig[16:18]], axis="atom"
    ),
    # Å rows read as nm (10x too large)
    "nm with Å": lambda s: _stack(
        [_xy_table(s), _xy_table(s, factor=10.0, units="Å")], axis="atom"
    ),
    # the first image's pixel size applied to the second's rows
    "two image grids": lambda s: _stack(
        [_xy_table(s), _xy_table(s, scale=2.0)], axis="atom"
    ),
    "new axis": lambda s: _stack([s["atoms"], s["atoms"]]),
    "new axis, one of them": lambda s: _stack([s["atoms"], s["atoms"]]).inav[:, 1],
}


@pytest.mark.parametrize("case", list(FAULTS))
def test_hs_stack_of_tables_is_refused(scene, case):
    s = FAULTS[case](scene)
    assert isinstance(s, AtomPositions)
    assert s.original_metadata.has_item("stack_elements")
    calls = {
        "columns": lambda: s.columns,
        "units": lambda: s.units,
        "grid": lambda: s.grid,
        "navigation": lambda: s.navigation,
        "n_atoms": lambda: s.n_atoms,
        "get_column": lambda: s.get_column("x"),
        "get_pixel_positions": s.get_pixel_positions,
        "to_dataframe": s.to_dataframe,
        "get_neighbourhoods": lambda: s.get_neighbourhoods(4),
        "concatenate": lambda: s.concatenate(scene["atoms"]),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=STACK_MSG):
            call()


def test_hs_stack_of_neighbourhoods_along_components_is_refused(scene):
    """The case of the fault matrix: names dx2..dy3 on the data dx2, dy2, dx1, dy1."""
    nb = scene["nb"]
    s = _stack([nb.isig[2:4], nb.isig[0:2]], axis="component")
    for call in (
        lambda: s.component_names,
        s.get_vectors,
        s.get_centres,
        lambda: s.n_neighbours,
        lambda: s.atoms,
        lambda: s.metric,
    ):
        with pytest.raises(ValueError, match=NB_STACK_MSG):
            call()


def test_stacked_table_stays_refused_after_save(scene, tmp_path):
    """The record of the inputs is saved with the signal: still refused."""
    for ext in ("hspy", "zspy"):
        path = tmp_path / f"stacked.{ext}"
        FAULTS["columns reordered"](scene).save(path)
        with pytest.raises(ValueError, match=STACK_MSG):
            hs.load(path).columns


def test_stack_new_axis_refused_by_every_table_method(scene):
    atoms, img = scene["atoms"], scene["img"]
    s = _stack([atoms, atoms])
    si = hs.signals.Signal1D(np.ones((16, 16, 10)))
    calls = {
        "columns": lambda: s.columns,
        "units": lambda: s.units,
        "grid": lambda: s.grid,
        "n_atoms": lambda: s.n_atoms,
        "n_frames": lambda: s.n_frames,
        "get_column": lambda: s.get_column("x"),
        "get_pixel_positions": s.get_pixel_positions,
        "to_dataframe": s.to_dataframe,
        "to_csv": lambda: s.to_csv(None),
        "select": lambda: s.select([0]),
        "add_columns": lambda: s.add_columns({"f": [1.0]}),
        "concatenate": lambda: s.concatenate(atoms),
        "label_sublattices": lambda: s.label_sublattices(2, column="peak"),
        "get_neighbourhoods": lambda: s.get_neighbourhoods(4),
        "to_markers": s.to_markers,
        "to_arrows": lambda: s.to_arrows("x", "y"),
        "get_frames": s.get_frames,
        "get_frame": lambda: s.get_frame(0),
        "get_frame_statistics": lambda: s.get_frame_statistics(["x"]),
        "link_frames": s.link_frames,
        "register_to_spectrum_image": lambda: s.register_to_spectrum_image(
            si, region=SI_REGION
        ),
        "get_spectra": lambda: s.get_spectra(si, region=SI_REGION),
        "refine_atoms": lambda: img.refine_atoms(s, radius=0.06),
        "plot_atoms": lambda: img.plot_atoms(s),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=STACK_MSG):
            call()
    # as an argument of concatenate: the error names the argument
    with pytest.raises(ValueError, match=r"^`others\[1\]`: .*" + STACK_MSG):
        atoms.concatenate(atoms, s)


def test_extra_navigation_axis_without_stack_record_refused(scene):
    """A table with a second navigation axis but no record of `hs.stack`
    (e.g. `stack_metadata=False`) is still not one row per atom."""
    s = _stack([scene["atoms"], scene["atoms"]], stack_metadata=False)
    assert not s.original_metadata.has_item("stack_elements")
    with pytest.raises(ValueError, match=r"2 navigation axes.*a\.concatenate"):
        s.get_column("x")


# ---------------------------------------------------------- concatenate
def _halves(scene):
    x = _column(scene, "x")
    left = x < np.median(x)
    return left, scene["atoms"].select(left), scene["atoms"].select(~left)


def _snapshot(table):
    return np.array(table.data), table.metadata.as_dictionary()


def test_concatenate_values_are_the_inputs_rows(scene):
    raw, names = scene["raw"], scene["names"]
    left, a, b = _halves(scene)
    before = [_snapshot(t) for t in (a, b)]
    both = a.concatenate(b)
    assert isinstance(both, AtomPositions)
    assert both.columns == names
    assert both.units == dict(zip(names, scene["units"]))
    assert both.grid == scene["atoms"].grid
    assert both.metadata.AtomPositions.settings.as_dictionary() == (
        scene["atoms"].metadata.AtomPositions.settings.as_dictionary()
    )
    assert not both.original_metadata.has_item("stack_elements")
    expected = np.concatenate([raw[left], raw[~left]])
    np.testing.assert_array_equal(np.asarray(both.data), expected)
    for i, name in enumerate(names):
        np.testing.assert_array_equal(both.get_column(name), expected[:, i])
    # the inputs are unchanged
    for t, (data, md) in zip((a, b), before):
        np.testing.assert_array_equal(np.asarray(t.data), data)
        assert t.metadata.as_dictionary() == md
    # downstream: the same neighbourhoods as from the original table
    nb = both.get_neighbourhoods(4)
    _assert_linked(nb, expected[:, :2])
    np.testing.assert_array_equal(
        np.sort(np.asarray(nb.data), axis=0), np.sort(scene["nb_raw"], axis=0)
    )
    # three pieces, and single rows (no navigation axis)
    pieces = (
        scene["atoms"]
        .inav[:10]
        .concatenate(scene["atoms"].inav[10], scene["atoms"].inav[11:])
    )
    np.testing.assert_array_equal(pieces.to_dataframe().to_numpy(), raw)
    # no other: a new table equal to this one
    alone = a.concatenate()
    assert alone is not a
    np.testing.assert_array_equal(np.asarray(alone.data), raw[left])


REORDERED = {
    "isig reversed": (lambda t: t.isig[::-1], None),
    "isig 2:6 both": (lambda t: t.isig[2:6], slice(2, 6)),
    "isig step 2 both": (lambda t: t.isig[::2], slice(None, None, 2)),
    "isig 2:6 and reversed 5..2": (lambda t: t.isig[5:1:-1], slice(2, 6)),
    "names in another order": (
        lambda t: make_atom_positions(
            {c: t.get_column(c) for c in reversed(t.columns)}, t.units, t.grid
        ),
        None,
    ),
}


@pytest.mark.parametrize("case", list(REORDERED))
def test_concatenate_lines_up_columns_by_name(scene, case):
    make, both_slice = REORDERED[case]
    raw, names = scene["raw"], scene["names"]
    left, a, b = _halves(scene)
    pos = list(range(len(names)))
    if both_slice is not None:  # the same slice of both tables
        a = a.isig[both_slice]
        pos = pos[both_slice]
    other = make(b)
    assert other.columns != a.columns or both_slice is not None
    for first, second, rows in ((a, other, (left, ~left)), (other, a, (~left, left))):
        got = first.concatenate(second)
        assert got.columns == first.columns  # this table's order
        expected = np.concatenate([raw[rows[0]], raw[rows[1]]])
        for name in got.columns:
            i = names.index(name)
            assert i in pos
            np.testing.assert_array_equal(got.get_column(name), expected[:, i])


def test_concatenate_refuses_missing_and_extra_columns(scene):
    _, a, b = _halves(scene)
    with pytest.raises(
        ValueError,
        match=r"`others\[0\]` lacks the column\(s\) \['score', "
        r".*'fit_status', 'fit_radius'\] "
        r"\(\['score', .*\] left out by an `isig` slice\)",
    ):
        a.concatenate(b.isig[0:2])
    with pytest.raises(ValueError, match=r"`others\[1\]` has column\(s\) \['flag'\]"):
        a.concatenate(b, b.add_columns({"flag": np.zeros(b.n_atoms)}))
    with pytest.raises(
        ValueError,
        match=r"`others\[0\]` lacks the column\(s\) \['y'\] \(\['y'\] left out",
    ):
        a.isig[0:3].concatenate(b.isig[::2].isig[0:2])  # x, score


def test_concatenate_refuses_other_units_and_grids(scene):
    nm = _xy_table(scene)
    with pytest.raises(
        ValueError,
        match=r"`others\[0\]` has column 'x' in 'Å' but this table has it in "
        r"'nm': lengths are never converted",
    ):
        nm.concatenate(_xy_table(scene, factor=10.0, units="Å"))
    # same units, another pixel size: the pixel positions would be 2x off
    with pytest.raises(
        ValueError, match=r"`others\[0\]` comes from another image grid \(x: .*scale"
    ):
        nm.concatenate(_xy_table(scene, scale=2.0))
    other_size = _xy_table(scene)
    other_size.metadata.AtomPositions.grid.x.size = 99
    with pytest.raises(
        ValueError, match=r"`others\[1\]` comes from another image grid"
    ):
        nm.concatenate(nm, other_size)
    # a unit differing only in a column that is not a length is also refused
    flagged = scene["atoms"].add_columns({"f": np.zeros(scene["atoms"].n_atoms)})
    with pytest.raises(
        ValueError, match=r"column 'f' in 'K' but this table has it in 'no units'"
    ):
        flagged.concatenate(
            flagged.add_columns({"f": flagged.get_column("f")}, {"f": "K"})
        )


def test_concatenate_refuses_other_types(scene):
    for bad in (scene["nb"], np.zeros((3, 19)), None):
        with pytest.raises(TypeError, match=r"`others\[0\]` must be an AtomPositions"):
            scene["atoms"].concatenate(bad)


def test_concatenate_frames_of_one_stack(frames):
    atoms, raw, names = frames["atoms"], frames["raw"], frames["names"]
    fcol = raw[:, names.index("frame")]
    f0, f1 = atoms.get_frame(0), atoms.get_frame(1)
    both = f1.concatenate(f0)
    expected = np.concatenate([raw[fcol == 1], raw[fcol == 0]])
    np.testing.assert_array_equal(np.asarray(both.data), expected)
    assert both.navigation == atoms.navigation
    assert both.get_frame_statistics(["x"], "count").data.ravel().tolist() == [
        float((fcol == 0).sum()),
        float((fcol == 1).sum()),
    ]
    # the same columns and grid but a single image: another navigation
    single = make_atom_positions(
        {c: atoms.get_column(c) for c in atoms.columns}, atoms.units, atoms.grid
    )
    with pytest.raises(
        ValueError,
        match=r"`others\[0\]` comes from a single image but this table from a "
        r"stack of 2",
    ):
        atoms.concatenate(single)


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_concatenate_survives_save_and_load(scene, tmp_path, ext):
    raw, names = scene["raw"], scene["names"]
    left, a, b = _halves(scene)
    # inputs read from files (one isig-sliced) join like the originals
    b.isig[::-1].save(tmp_path / f"b.{ext}")
    loaded_b = hs.load(tmp_path / f"b.{ext}")
    both = a.concatenate(loaded_b)
    both.save(tmp_path / f"both.{ext}")
    t = hs.load(tmp_path / f"both.{ext}")
    assert isinstance(t, AtomPositions)
    assert t.columns == names
    assert t.grid == scene["atoms"].grid
    expected = np.concatenate([raw[left], raw[~left]])
    for i, name in enumerate(names):
        np.testing.assert_array_equal(t.get_column(name), expected[:, i])
    xp, yp = t.get_pixel_positions()
    ex, ey = to_pixels(scene["atoms"].grid, expected[:, 0], expected[:, 1])
    np.testing.assert_allclose(xp, ex)
    np.testing.assert_allclose(yp, ey)


def test_concatenate_lazy(scene):
    left, a, b = _halves(scene)
    got = a.as_lazy().concatenate(b.as_lazy().isig[::-1])
    expected = np.concatenate([scene["raw"][left], scene["raw"][~left]])
    np.testing.assert_array_equal(np.asarray(got.data), expected)


def test_stack_neighbourhoods_along_atom_axis_refused_by_hyperspy(scene):
    """Different atom tables: concatenation is not meaningful; HyperSpy refuses."""
    nb = scene["nb"]
    for axis in (0, "atom"):
        with pytest.raises(ValueError, match="non-uniform"):
            hs.stack([nb, nb], axis=axis)


def test_stack_neighbourhoods_new_axis_refused_by_every_method(scene):
    nb = scene["nb"]
    s = _stack([nb, nb])
    si = hs.signals.Signal1D(np.ones((16, 16, 10)))
    calls = {
        "atoms": lambda: s.atoms,
        "component_names": lambda: s.component_names,
        "n_neighbours": lambda: s.n_neighbours,
        "metric": lambda: s.metric,
        "fill_missing": s.fill_missing,
        "centre_indices": lambda: s.centre_indices,
        "get_centres": s.get_centres,
        "get_vectors": s.get_vectors,
        "get_missing_mask": s.get_missing_mask,
        "decomposition": lambda: s.deepcopy().decomposition(print_info=False),
        "cluster_analysis": lambda: s.deepcopy().cluster_analysis(n_clusters=2),
        "estimate_number_of_clusters": lambda: s.deepcopy().estimate_number_of_clusters(
            max_clusters=3, metric="elbow", show_progressbar=False
        ),
        "get_linkage": s.get_linkage,
        "plot_dendrogram": s.plot_dendrogram,
        "get_cluster_fractions": s.get_cluster_fractions,
        "get_frame_statistics": lambda: s.get_frame_statistics("signal"),
        "get_map": lambda: s.get_map(np.zeros(50)),
        "get_cluster_map": s.get_cluster_map,
        "get_loading_map": lambda: s.get_loading_map(0),
        "get_markers": lambda: s.get_markers(np.zeros(50)),
        "get_cluster_markers": s.get_cluster_markers,
        "get_cluster_fft": s.get_cluster_fft,
        "get_vector_histogram": s.get_vector_histogram,
        "get_mode_properties": s.get_mode_properties,
        "plot_modes": s.plot_modes,
        "get_invariants": s.get_invariants,
        "get_cluster_spectra": lambda: s.get_cluster_spectra(si, region=SI_REGION),
        "get_spectral_map": lambda: s.get_spectral_map(
            si, window=(2, 5), region=SI_REGION
        ),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=NB_STACK_MSG):
            call()
    # one signal of the stack keeps the record: refused too
    with pytest.raises(ValueError, match=NB_STACK_MSG):
        s.inav[:, 1].get_vectors()


def test_stack_neighbourhoods_along_components_refused(scene):
    nb = scene["nb"]
    wide = _stack([nb, nb], axis="component")
    with pytest.raises(ValueError, match=NB_STACK_MSG):
        wide.get_vectors()


# ------------------------------------------------- isig on neighbourhoods
def test_nb_isig_breaking_pairs(scene):
    """The measured defect: nb.isig[1:5] paired dy1 with dx2."""
    nb = scene["nb"]
    s = nb.isig[1:5]
    names = ["dy1", "dx2", "dy2", "dx3"]
    assert s.component_names == names
    for call in (
        s.get_vectors,
        lambda: s.n_neighbours,
        s.get_vector_histogram,
        s.get_invariants,
        lambda: s.get_frame_statistics("invariants"),
    ):
        with pytest.raises(ValueError, match=re.escape(str(names))):
            call()
    # methods that do not need pairs keep working
    xy = _atom_xy(scene)
    c = s.get_centres()
    np.testing.assert_array_equal(c.get_column("x"), xy[scene["nb_centres"], 0])
    assert not s.get_missing_mask().any()
    np.testing.assert_array_equal(
        np.asarray(s.fill_missing().data), scene["nb_raw"][:, 1:5]
    )
    st = s.get_frame_statistics("signal")
    assert st.metadata.Signal.names == names
    np.testing.assert_allclose(st.data.ravel(), scene["nb_raw"][:, 1:5].mean(axis=0))
    d = s.deepcopy()
    d.decomposition(print_info=False)
    assert d.learning_results.factors.shape == (4, 4)
    for call in (d.get_mode_properties, d.plot_modes):
        with pytest.raises(ValueError, match=re.escape(str(names))):
            call()
    assert d.get_loading_map(0).data.shape == (150, 170)
    d.cluster_analysis(n_clusters=2)
    lab = d.get_cluster_labels(merged=True).data
    cmap = d.get_cluster_map()  # default distance without whole vectors
    xp, yp = c.get_pixel_positions()
    at = cmap.data[np.rint(yp).astype(int), np.rint(xp).astype(int)]
    np.testing.assert_array_equal(at, lab)
    assert d.get_cluster_fft().axes_manager.navigation_shape == (2,)
    Z, rows = d.get_linkage()
    assert len(rows) == len(lab)


@pytest.mark.parametrize(
    "sl, pos",
    [
        (slice(2, 6), [2, 3, 4, 5]),
        (slice(2.0, 6.0), [2, 3, 4, 5]),
        (slice(None, None, -1), [0, 1, 2, 3, 4, 5, 6, 7]),  # put back in order
        (slice(4, None), [4, 5, 6, 7]),
    ],
    ids=["2:6", "2.0:6.0", "::-1", "4:"],
)
def test_nb_isig_whole_pairs(scene, sl, pos):
    """Whole (dx, dy) pairs, in any order: vectors are the right neighbours.

    ``pos``: the raw columns of the vectors, in neighbour order.
    """
    nb, raw = scene["nb"], scene["nb_raw"]
    s = nb.isig[sl]
    k = len(pos) // 2
    assert s.n_neighbours == k
    v = s.get_vectors()
    np.testing.assert_array_equal(v, raw[:, pos].reshape(-1, k, 2))
    _assert_linked(s, _atom_xy(scene))
    inv = s.get_invariants()
    np.testing.assert_allclose(
        inv.get_column("bond_1"), np.linalg.norm(v, axis=-1).min(axis=1)
    )
    h = s.get_vector_histogram(bins=11)
    assert int(h.data.sum()) == k * len(raw)


def test_nb_isig_reversed_modes_as_unsliced(scene):
    a, b = scene["nb"].deepcopy(), scene["nb"].isig[::-1]
    a.decomposition(print_info=False)
    b.decomposition(print_info=False)
    pa, pb = a.get_mode_properties(4), b.get_mode_properties(4)
    np.testing.assert_allclose(pa["polarity"], pb["polarity"], atol=1e-8)
    np.testing.assert_allclose(
        np.abs(pa["vector_sum_x"]), np.abs(pb["vector_sum_x"]), atol=1e-10
    )
    assert len(b.plot_modes((0, 1)).axes) == 2


def test_nb_isig_step_refused(scene):
    s = scene["nb"].isig[::2]
    assert s.component_names == ["dx1", "dx2", "dx3", "dx4"]
    with pytest.raises(ValueError, match="no partner"):
        s.get_vectors()


# ------------------------------------------------- inav on neighbourhoods
def _nb_rows(scene, sl):
    return np.arange(len(scene["nb_raw"]))[sl]


@pytest.mark.parametrize(
    "sl", [slice(2, 9), slice(None, None, 3), slice(-5, None)], ids=str
)
def test_nb_inav_slices_keep_centres(scene, sl):
    nb, raw = scene["nb"], scene["nb_raw"]
    rows = _nb_rows(scene, sl)
    s = nb.inav[sl]
    centres = scene["nb_centres"][rows]
    np.testing.assert_array_equal(s.centre_indices, centres)
    c = s.get_centres()
    np.testing.assert_array_equal(c.get_column("atom"), centres)
    for name in scene["names"]:
        np.testing.assert_array_equal(c.get_column(name), _column(scene, name, centres))
    np.testing.assert_array_equal(s.get_vectors(), raw[rows].reshape(-1, 4, 2))
    _assert_linked(s, _atom_xy(scene))
    inv = s.get_invariants()
    np.testing.assert_array_equal(inv.get_column("atom"), centres)
    m = s.get_markers(np.arange(len(rows)))
    np.testing.assert_allclose(m.kwargs["offsets"], _atom_xy(scene)[centres])
    values = np.arange(len(rows), dtype=float)
    mp = s.get_map(values)
    xp, yp = c.get_pixel_positions()
    np.testing.assert_array_equal(
        mp.data[np.rint(yp).astype(int), np.rint(xp).astype(int)], values
    )
    st = s.get_frame_statistics("signal")
    np.testing.assert_allclose(st.data.ravel(), raw[rows].mean(axis=0))


def test_nb_inav_float_slice_selects_centre_indices(scene):
    """Float inav values are the centre atoms' indices (non-uniform axis)."""
    centres = scene["nb_centres"]
    lo, hi = float(centres[3]), float(centres[9])
    s = scene["nb"].inav[lo:hi]
    want = centres[(centres >= lo) & (centres < hi)]
    np.testing.assert_array_equal(s.get_centres().get_column("atom"), want)
    _assert_linked(s, _atom_xy(scene))


def test_nb_inav_slice_learning(scene):
    s = scene["nb"].inav[::2]
    rows = _nb_rows(scene, slice(None, None, 2))
    s.decomposition(print_info=False)
    assert s.learning_results.loadings.shape[0] == len(rows)
    assert s.get_loading_map(1).data.shape == (150, 170)
    assert len(s.get_mode_properties(2)) == 2
    s.cluster_analysis(n_clusters=2)
    lab = s.get_cluster_labels(merged=True).data
    xp, yp = s.get_centres().get_pixel_positions()
    cmap = s.get_cluster_map()
    np.testing.assert_array_equal(
        cmap.data[np.rint(yp).astype(int), np.rint(xp).astype(int)], lab
    )
    fr = s.get_cluster_fractions()
    np.testing.assert_allclose(fr.data, np.bincount(lab, minlength=2) / len(lab))
    assert s.get_cluster_markers().kwargs["offsets"].shape == (len(rows), 2)
    ax = s.plot_dendrogram(2)
    assert f"{len(rows)} centre atoms" in ax.get_xlabel()


def test_learning_results_of_other_rows_refused(scene):
    full = scene["nb"].deepcopy()
    full.cluster_analysis(n_clusters=2)
    full.decomposition(print_info=False)
    s = scene["nb"].inav[2:9]
    s.learning_results = full.learning_results
    for call in (s.get_cluster_map, s.get_cluster_fft):
        with pytest.raises(ValueError, match="cluster_analysis"):
            call()
    for call in (lambda: s.get_loading_map(0), s.get_mode_properties):
        with pytest.raises(ValueError, match="decomposition"):
            call()


def test_nb_single_row(scene):
    nb, raw = scene["nb"], scene["nb_raw"]
    k = 5
    row = nb.inav[k]
    assert np.asarray(row.data).ndim == 1
    assert row.n_neighbours == 4
    assert row.component_names == [f"d{c}{j}" for j in range(1, 5) for c in "xy"]
    # the distance metric's vectors are in the image frame: no centre needed
    np.testing.assert_array_equal(row.get_vectors(), raw[k].reshape(1, 4, 2))
    np.testing.assert_array_equal(row.get_vectors("local"), raw[k].reshape(1, 4, 2))
    assert row.get_missing_mask().tolist() == [False]
    np.testing.assert_array_equal(np.asarray(row.fill_missing().data), raw[k])
    assert int(row.get_vector_histogram(bins=11).data.sum()) == 4
    # HyperSpy removed the axis holding the centre's index: the centre is found
    # again as the one atom whose neighbours lie at the row's vectors
    centre = scene["nb_centres"][k]
    assert row.centre_indices.tolist() == [centre]
    c = row.get_centres()
    assert c.get_column("atom").tolist() == [centre]
    for i, name in enumerate(scene["names"]):
        np.testing.assert_array_equal(c.get_column(name), scene["raw"][[centre], i])
    _assert_linked(row, _atom_xy(scene))
    assert row.get_invariants().n_atoms == 1
    m = row.get_map([1.0])
    assert np.nanmax(m.data) == 1.0
    row.get_markers([1.0])
    for call in (
        lambda: row.deepcopy().decomposition(print_info=False),
        lambda: row.deepcopy().cluster_analysis(n_clusters=1),
        lambda: row.deepcopy().estimate_number_of_clusters(max_clusters=2),
        row.get_linkage,
        row.plot_dendrogram,
    ):
        with pytest.raises(ValueError, match=r"at least 2 (centre atoms|rows)"):
            call()
    # a one-row slice keeps the link
    one = nb.inav[k : k + 1]
    c = one.get_centres()
    assert c.get_column("atom").tolist() == [scene["nb_centres"][k]]
    _assert_linked(one, _atom_xy(scene))


def test_nb_single_row_angle_metric(scene):
    nb = scene["nb_angle"]
    raw = np.array(nb.data)
    row = nb.inav[2]
    np.testing.assert_array_equal(row.get_vectors("local"), raw[2].reshape(1, 4, 2))
    # every row's centre is recovered from its (rotated) vectors
    for k in range(nb.axes_manager.navigation_size):
        assert nb.inav[k].centre_indices.tolist() == [nb.centre_indices[k]]
    np.testing.assert_allclose(
        row.get_vectors("image"), nb.get_vectors("image")[2:3], atol=1e-12
    )
    one = nb.inav[2:3]
    np.testing.assert_allclose(
        one.get_vectors("image"), nb.get_vectors("image")[2:3], atol=1e-12
    )
    _assert_linked(nb.inav[1:6], _atom_xy(scene))


# -------------------------------------------------------------- save/load
TABLE_CASES = {
    "isig 2:5": (lambda a: a.isig[2:5], slice(None), [2, 3, 4]),
    "isig ::2": (lambda a: a.isig[::2], slice(None), "step2"),
    "isig ::-1": (lambda a: a.isig[::-1], slice(None), "reversed"),
    "inav 3": (lambda a: a.inav[3], [3], None),
    "inav 2:9": (lambda a: a.inav[2:9], slice(2, 9), None),
    "inav ::3 isig 1:4": (
        lambda a: a.inav[::3].isig[1:4],
        slice(None, None, 3),
        [1, 2, 3],
    ),
}


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
@pytest.mark.parametrize("case", list(TABLE_CASES))
def test_table_round_trip(scene, tmp_path, ext, case):
    make, rows, spec = TABLE_CASES[case]
    names = scene["names"]
    pos = list(range(len(names))) if spec is None else _expected(len(names), spec)
    path = tmp_path / f"t.{ext}"
    make(scene["atoms"]).save(path)
    t = hs.load(path)
    assert isinstance(t, AtomPositions)
    assert t.columns == [names[i] for i in pos]
    for i in pos:
        np.testing.assert_array_equal(t.get_column(names[i]), scene["raw"][rows, i])
    assert t.grid == scene["atoms"].grid
    if "x" in t.columns and "y" in t.columns:
        xp, _ = t.get_pixel_positions()
        assert len(xp) == t.n_atoms
        t.to_markers()


NB_CASES = {
    "isig 2:6": (lambda n: n.isig[2:6], slice(None), [2, 3, 4, 5]),
    "isig 1:5": (lambda n: n.isig[1:5], slice(None), [1, 2, 3, 4]),
    "inav 2:9": (lambda n: n.inav[2:9], slice(2, 9), list(range(8))),
    "inav ::3": (lambda n: n.inav[::3], slice(None, None, 3), list(range(8))),
    "inav 4": (lambda n: n.inav[4], [4], list(range(8))),
}


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
@pytest.mark.parametrize("case", list(NB_CASES))
def test_nb_round_trip(scene, tmp_path, ext, case):
    make, rows, pos = NB_CASES[case]
    raw = scene["nb_raw"]
    path = tmp_path / f"nb.{ext}"
    make(scene["nb"]).save(path)
    s = hs.load(path)
    assert isinstance(s, AtomNeighbourhoods)
    full = scene["nb"].metadata.AtomNeighbourhoods.component_names
    assert s.component_names == [full[i] for i in pos]
    np.testing.assert_array_equal(s.atoms.to_dataframe()["x"], _column(scene, "x"))
    if case == "isig 1:5":
        with pytest.raises(ValueError, match="no partner"):
            s.get_vectors()
        return
    k = len(pos) // 2
    np.testing.assert_array_equal(s.get_vectors(), raw[rows][:, pos].reshape(-1, k, 2))
    centres = scene["nb_centres"][rows]
    np.testing.assert_array_equal(s.get_centres().get_column("atom"), centres)
    _assert_linked(s, _atom_xy(scene))


def test_lazy_slices(scene):
    """The lazy twins follow the same rules (data computed on access)."""
    la, ln = scene["atoms"].as_lazy(), scene["nb"].as_lazy()
    row = la.inav[3]
    np.testing.assert_array_equal(row.get_column("peak"), _column(scene, "peak", [3]))
    t = la.isig[2:5]
    assert t.columns == scene["names"][2:5]
    np.testing.assert_array_equal(t.get_column("score"), _column(scene, "score"))
    with pytest.raises(ValueError, match="left out by an `isig` slice"):
        t.get_column("x")
    s = ln.isig[2:6].inav[2:9]
    np.testing.assert_array_equal(
        s.get_vectors(), scene["nb_raw"][2:9, 2:6].reshape(-1, 2, 2)
    )
    np.testing.assert_array_equal(
        s.get_centres().get_column("atom"), scene["nb_centres"][2:9]
    )
    with pytest.raises(ValueError, match=re.escape("['dy1', 'dx2', 'dy2', 'dx3']")):
        ln.isig[1:5].get_vectors()
    with pytest.raises(ValueError, match=STACK_MSG):
        _stack([la, la]).get_column("x")


def test_nb_single_row_of_an_ideal_lattice_is_refused():
    """On a noise-free lattice every inner atom has the same vectors: the row's
    centre cannot be told, and the methods that need it say so."""
    grid = {k: dict(size=100, scale=0.1, offset=0.0, units="nm", name=k) for k in "xy"}
    gx, gy = np.meshgrid(np.arange(1.0, 10.0), np.arange(1.0, 10.0))
    atoms = make_atom_positions(
        {"x": gx.ravel(), "y": gy.ravel() * 0.8}, {"x": "nm", "y": "nm"}, grid
    )
    nb = atoms.get_neighbourhoods(4)
    row = nb.inav[3]
    for call in (lambda: row.centre_indices, row.get_centres):
        with pytest.raises(ValueError, match=r"atoms fit equally.*inav\[k:k \+ 1\]"):
            call()
    assert nb.inav[3:4].get_centres().n_atoms == 1
