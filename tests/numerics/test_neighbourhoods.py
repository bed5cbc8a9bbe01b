"""Neighbourhood vectors: ordering, rotation invariance, borders, clustering, PCA.

Truth comes from point sets built from lattices (known phase, boundary and
displacement per atom), and one end-to-end synthetic image.
"""

import hyperspy.api as hs
import numpy as np
import pytest
from scipy.spatial import cKDTree
from sklearn.metrics import adjusted_rand_score

from hyperspy_localcryst.data.synthetic import (
    lattice_positions,
    render_gaussians,
    two_phase_positions,
)
from hyperspy_localcryst.numerics.neighbourhoods import (
    neighbour_invariants,
    neighbour_vectors,
)
from hyperspy_localcryst.signals.atom_neighbourhoods import AtomNeighbourhoods
from hyperspy_localcryst.signals.atom_positions import make_atom_positions

SCALE = 0.01  # nm per pixel


def _table(x, y, size=512, **extra):
    grid = {
        k: dict(size=size, scale=SCALE, offset=0.0, units="nm", name=k) for k in "xy"
    }
    cols = {"x": np.asarray(x) * SCALE, "y": np.asarray(y) * SCALE, **extra}
    return make_atom_positions(cols, {"x": "nm", "y": "nm"}, grid)


def _lattice(lattice, spacing=16.0, rotation=0.0, jitter=0.0, seed=0, shape=(512, 512)):
    x, y, sub = lattice_positions(shape, spacing, lattice, rotation=rotation)
    rng = np.random.default_rng(seed)
    return x + rng.normal(0, jitter, x.size), y + rng.normal(0, jitter, y.size), sub


def _spread(vectors):
    """Largest deviation of any atom's vector from the median vector."""
    return float(np.abs(vectors - np.median(vectors, axis=0)).max())


EXTENT = (-0.5, 511.5, -0.5, 511.5)

# ----------------------------------------------------------------- ordering

SHELL_CLOSING = [
    ("square", 4),
    ("square", 8),
    ("square", 12),
    ("square", 20),
    ("hexagonal", 6),
    ("hexagonal", 12),
    ("hexagonal", 18),
    ("perovskite", 4),
    ("perovskite", 12),
]


@pytest.mark.parametrize("metric", ["distance", "angle"])
@pytest.mark.parametrize(("lattice", "k"), SHELL_CLOSING)
@pytest.mark.parametrize("rotation", [0.0, 31.0, 45.0])
def test_noise_never_permutes_the_vector(lattice, k, metric, rotation):
    # 2 % position noise: every atom of the lattice must give the same layout,
    # so its deviation from the median stays at the noise level (a swap of
    # two neighbours would move a component by about one spacing).
    x, y, _ = _lattice(lattice, rotation=rotation, jitter=0.32, seed=3)
    nb = neighbour_vectors(x, y, k, metric, extent=EXTENT)
    assert len(nb.centres) > 200
    assert _spread(nb.vectors) < 3.0  # px; 0.32 px noise, spacing 16 px


def test_distance_metric_orders_shells_then_clockwise():
    yy, xx = np.mgrid[0:11, 0:11].astype(float)
    nb = neighbour_vectors(xx.ravel(), yy.ravel(), 8, "distance")
    v = nb.vectors[0]
    r = np.hypot(v[:, 0], v[:, 1])
    np.testing.assert_allclose(r, [1, 1, 1, 1] + [np.sqrt(2)] * 4)
    # clockwise on screen (y down): atan2 increases within a shell
    for shell in (slice(0, 4), slice(4, 8)):
        t = np.unwrap(np.arctan2(v[shell, 1], v[shell, 0]))
        assert np.all(np.diff(t) > 0)


def test_angle_metric_collinear_neighbours_by_distance():
    yy, xx = np.mgrid[0:15, 0:15].astype(float)
    nb = neighbour_vectors(xx.ravel(), yy.ravel(), 12, "angle")
    v = nb.vectors[0]
    # first neighbour on +x, the collinear one at 2a right after it
    np.testing.assert_allclose(v[0], [1, 0], atol=1e-12)
    np.testing.assert_allclose(v[1], [2, 0], atol=1e-12)
    t = np.mod(np.arctan2(v[:, 1], v[:, 0]) + 1e-9, 2 * np.pi)
    assert np.all(np.diff(t) >= -1e-9)  # clockwise, ties by distance


@pytest.mark.parametrize("lattice", ["square", "hexagonal", "perovskite"])
def test_angle_metric_is_rotation_invariant(lattice):
    k = {"square": 12, "hexagonal": 12, "perovskite": 12}[lattice]
    ref = None
    for rotation in (0.0, 13.0, 45.0, 77.7, 120.0, 200.0):
        x, y, _ = _lattice(lattice, rotation=rotation, jitter=0.16, seed=1)
        nb = neighbour_vectors(x, y, k, "angle", extent=EXTENT)
        med = np.median(nb.vectors, axis=0)
        if ref is None:
            ref = med
        np.testing.assert_allclose(med, ref, atol=0.2)
        # the recovered rotation is the lattice's (modulo its symmetry)
        fold = {"square": 4, "hexagonal": 6, "perovskite": 4}[lattice]
        rot = -np.deg2rad(rotation)  # lattice rotation is CCW on screen
        if lattice == "perovskite":  # A-B bonds are the cell diagonals
            rot += np.pi / 4
        diff = np.angle(np.exp(1j * fold * (nb.rotation - rot)))
        assert np.abs(diff).max() < 0.1


def test_distance_metric_is_not_rotation_invariant():
    x0, y0, _ = _lattice("square")
    x1, y1, _ = _lattice("square", rotation=30.0)
    a = neighbour_vectors(x0, y0, 4, "distance", extent=EXTENT).vectors
    b = neighbour_vectors(x1, y1, 4, "distance", extent=EXTENT).vectors
    assert np.abs(np.median(a, 0) - np.median(b, 0)).max() > 1.0


# ------------------------------------------------------------------ borders


def test_border_atoms_are_neighbours_but_not_centres():
    x, y, _ = _lattice("square", jitter=0.1)
    nb = neighbour_vectors(x, y, 8, extent=EXTENT, border=40.0)
    cx, cy = x[nb.centres], y[nb.centres]
    edge = np.minimum.reduce([cx + 0.5, 511.5 - cx, cy + 0.5, 511.5 - cy])
    assert edge.min() >= 40.0
    # every atom within the border that sits next to a centre is a neighbour
    used = np.unique(nb.indices)
    border_atoms = np.flatnonzero(
        np.minimum.reduce([x + 0.5, 511.5 - x, y + 0.5, 511.5 - y]) < 40.0
    )
    assert np.isin(border_atoms, used).sum() > 50


def test_automatic_border_keeps_every_neighbourhood_inside():
    x, y, _ = _lattice("hexagonal", jitter=0.1)
    nb = neighbour_vectors(x, y, 12, "angle", extent=EXTENT)
    cx, cy = x[nb.centres], y[nb.centres]
    edge = np.minimum.reduce([cx + 0.5, 511.5 - cx, cy + 0.5, 511.5 - cy])
    reach = np.linalg.norm(nb.vectors, axis=-1).max(axis=1)
    assert np.all(edge >= reach)
    # and the atoms that are excluded really are near the edge
    out = np.setdiff1d(np.arange(len(x)), nb.centres)
    eo = np.minimum.reduce([x[out] + 0.5, 511.5 - x[out], y[out] + 0.5, 511.5 - y[out]])
    assert eo.max() < 2 * 16 + 16


def test_radius_mode_counts_vary_and_pad_with_nan():
    x, y, _ = _lattice("square", jitter=0.1)
    keep = np.ones(x.size, bool)
    centre = np.argmin(np.hypot(x - 256, y - 256))
    keep[centre] = False  # a vacancy
    nb = neighbour_vectors(x[keep], y[keep], None, radius=17.0, extent=EXTENT)
    assert set(np.unique(nb.counts)) == {3, 4}
    assert (nb.counts == 3).sum() == 4  # the vacancy's four neighbours
    assert np.isnan(nb.vectors[nb.counts == 3][:, 3]).all()
    assert (nb.indices[nb.counts == 3][:, 3] == -1).all()


# ---------------------------------------------------------------- invariants


def test_invariants_of_a_square_lattice_and_a_shifted_centre():
    yy, xx = np.mgrid[0:9, 0:9].astype(float)
    x, y = xx.ravel(), yy.ravel()
    nb = neighbour_vectors(x, y, 4)
    inv = neighbour_invariants(nb.vectors)
    np.testing.assert_allclose(inv["bond_lengths"], 1.0)
    np.testing.assert_allclose(inv["bond_angles"], 90.0)
    np.testing.assert_allclose(inv["polar"], 0.0, atol=1e-12)
    # shift one atom: its polar displacement is the shift
    i = 40
    x2 = x.copy()
    x2[i] += 0.1
    nb = neighbour_vectors(x2, y, 4)
    inv = neighbour_invariants(nb.vectors)
    row = np.flatnonzero(nb.centres == i)[0]
    np.testing.assert_allclose(inv["polar"][row], [0.1, 0.0], atol=1e-12)


# --------------------------------------------------------------- clustering


@pytest.mark.parametrize("rotation", [0.0, 23.0, 45.0, 71.0, 150.0])
def test_two_phases_recovered_at_any_rotation(rotation):
    x, y, truth = two_phase_positions((512, 512), 16.0, rotation=rotation, jitter=0.3)
    nb = _table(x, y).get_neighbourhoods(n_neighbours=12, metric="angle")
    t = truth[nb.centre_indices]
    bulk = t != 2
    nb.cluster_analysis(n_clusters=2)
    lab = nb.get_cluster_labels(merged=True).data
    assert adjusted_rand_score(t[bulk], lab[bulk]) >= 0.95
    # with a third cluster, the boundary atoms form their own
    nb.cluster_analysis(n_clusters=3)
    lab = nb.get_cluster_labels(merged=True).data
    smallest = np.argmin(np.bincount(lab))
    assert np.mean(t[lab == smallest] == 2) >= 0.9
    assert adjusted_rand_score(t[bulk], lab[bulk]) >= 0.95


def test_two_phases_end_to_end_from_an_image():
    from hyperspy_localcryst.data import synthetic_lattice

    x, y, truth = two_phase_positions((384, 384), 16.0, rotation=17.0)
    clean = render_gaussians((384, 384), x, y, amplitude=200.0, sigma=2.5)
    rng = np.random.default_rng(0)
    img = synthetic_lattice(shape=(384, 384), seed=0)  # for its axes
    img.data = rng.poisson(clean + 20.0).astype(float)
    atoms = img.refine_atoms(img.find_atoms())
    nb = atoms.get_neighbourhoods(n_neighbours=12, metric="angle")
    xp, yp = nb.get_centres().get_pixel_positions()
    d = np.hypot(xp[:, None] - x[None], yp[:, None] - y[None])
    t = truth[np.argmin(d, axis=1)]
    assert np.min(d, axis=1).max() < 1.0
    nb.cluster_analysis(n_clusters=2, algorithm="kmedians")
    lab = nb.get_cluster_labels(merged=True).data
    assert adjusted_rand_score(t[t != 2], lab[t != 2]) >= 0.95


def test_kmedians_and_kmeans_agree_on_clear_phases():
    x, y, truth = two_phase_positions((384, 384), 16.0, jitter=0.2)
    nb = _table(x, y, 384).get_neighbourhoods(n_neighbours=12, metric="angle")
    nb.cluster_analysis(n_clusters=2, algorithm="kmedians")
    a = nb.get_cluster_labels(merged=True).data
    assert nb.learning_results.cluster_algorithm == "kmedians"
    nb.cluster_analysis(n_clusters=2)
    b = nb.get_cluster_labels(merged=True).data
    t = truth[nb.centre_indices]
    assert adjusted_rand_score(a[t != 2], b[t != 2]) == 1.0
    # HyperSpy's estimator cannot run k-medians: refused, never swapped
    with pytest.raises(ValueError, match="cannot estimate K for 'kmedians'"):
        nb.estimate_number_of_clusters(max_clusters=4, algorithm="kmedians")
    k = nb.estimate_number_of_clusters(
        max_clusters=4, algorithm="kmeans", metric="elbow", show_progressbar=False
    )
    assert 2 <= int(k) <= 3


# ---------------------------------------------------------------------- PCA


def _antipolar(metric, jitter=0.1):
    # square lattice, rows shifted alternately by +-0.6 px along x
    x, y, _ = _lattice("square")
    row = np.rint((y - y.min()) / 16).astype(int)
    disp = np.where(row % 2 == 0, 0.6, -0.6)
    rng = np.random.default_rng(2)
    x = x + disp + rng.normal(0, jitter, x.size)
    y = y + rng.normal(0, jitter, y.size)
    err = np.full(x.size, jitter * SCALE)
    atoms = _table(x, y, x_err=err, y_err=err)
    return atoms.get_neighbourhoods(n_neighbours=4, metric=metric), disp


@pytest.mark.parametrize("metric", ["distance", "angle"])
def test_pca_loading_map_follows_an_antipolar_shift(metric):
    nb, disp = _antipolar(metric)
    nb.decomposition(print_info=False)
    props = nb.get_mode_properties(4)
    assert not props["trivial"].any()  # centred: no mode is the mean
    loading = nb.learning_results.loadings[:, 0]
    r = np.corrcoef(loading, disp[nb.centre_indices])[0, 1]
    assert abs(r) >= 0.9
    assert props["polar"][0]
    assert props["pattern"][0] == "alternating"
    # a centre 0.6 px off its row's neighbours (1 row in 2 of the 4 is the
    # other way): net shift 0.6 px = 6 pm
    assert props["net_shift"][0] == pytest.approx(0.6 * SCALE * 1000, rel=0.1)
    # the loading map carries the same numbers on the image grid
    m = nb.get_loading_map(0)
    xp, yp = nb.get_centres().get_pixel_positions()
    np.testing.assert_allclose(
        m.data[np.rint(yp).astype(int), np.rint(xp).astype(int)], loading
    )


def test_pca_of_a_uniform_sublattice_shift_follows_the_sublattice():
    x, y, sub = _lattice("perovskite", jitter=0.1, seed=4)
    disp = np.where(sub == 1, 0.6, 0.0)
    err = np.full(x.size, 0.1 * SCALE)
    atoms = _table(x + disp, y, sublattice=sub.astype(float), x_err=err, y_err=err)
    nb = atoms.get_neighbourhoods(n_neighbours=4)
    nb.decomposition(print_info=False)
    props = nb.get_mode_properties(3)
    r = np.corrcoef(nb.learning_results.loadings[:, 0], disp[nb.centre_indices])
    assert abs(r[0, 1]) >= 0.9
    assert props["polar"][0]
    assert props["pattern"][0] == "sublattice"


def test_breathing_mode_is_not_polar():
    # alternate atoms (checkerboard) see their neighbours closer / farther
    x, y, _ = _lattice("square")
    rng = np.random.default_rng(0)
    scale = 1 + 0.03 * rng.standard_normal(x.size)
    nb = _table(x, y).get_neighbourhoods(n_neighbours=4)
    v = nb.get_vectors()
    s = AtomNeighbourhoods(
        (v * scale[nb.centre_indices, None, None]).reshape(len(v), -1),
    )
    s.metadata.set_item("AtomNeighbourhoods", nb.metadata.AtomNeighbourhoods)
    s.decomposition(print_info=False)
    props = s.get_mode_properties(2)
    assert props["explained_variance_ratio"][0] > 0.9  # the breathing mode
    assert not props["polar"][0]
    assert props["net_shift"][0] < 1e-3 * props["amplitude"][0]


# ---------------------------------------------------------- signal features


def test_centres_map_back_to_the_atoms():
    x, y, _ = _lattice("square", jitter=0.1)
    atoms = _table(x, y)
    nb = atoms.get_neighbourhoods(n_neighbours=8)
    c = nb.get_centres()
    idx = c.get_column("atom").astype(int)
    np.testing.assert_array_equal(idx, nb.centre_indices)
    np.testing.assert_allclose(c.get_column("x"), atoms.get_column("x")[idx])
    # vectors are calibrated: neighbour minus centre, in nm
    v = nb.get_vectors()
    assert 0.15 < np.median(np.linalg.norm(v[:, 0], axis=-1)) < 0.17
    # slicing keeps the link
    part = nb.inav[10:20]
    np.testing.assert_array_equal(part.centre_indices, nb.centre_indices[10:20])
    np.testing.assert_array_equal(
        part.get_centres().get_column("atom"), idx[10:20].astype(float)
    )


def test_image_frame_vectors_undo_the_rotation():
    x, y, _ = _lattice("hexagonal", rotation=20.0, jitter=0.1)
    atoms = _table(x, y)
    a = atoms.get_neighbourhoods(6, metric="angle").get_vectors("image")
    b = atoms.get_neighbourhoods(6, metric="distance").get_vectors("image")

    # same neighbours, possibly in another order: compare sorted by angle
    def key(v):
        t = np.mod(np.arctan2(v[..., 1], v[..., 0]), 2 * np.pi)
        return np.take_along_axis(v, np.argsort(t, axis=1)[..., None], axis=1)

    np.testing.assert_allclose(key(a), key(b), atol=1e-9)


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_learning_results_survive_round_trip(tmp_path, ext):
    x, y, truth = two_phase_positions((384, 384), 16.0, jitter=0.2)
    nb = _table(x, y, 384).get_neighbourhoods(n_neighbours=12, metric="angle")
    nb.decomposition(print_info=False)
    nb.cluster_analysis(n_clusters=3)
    path = tmp_path / f"nb.{ext}"
    nb.save(path)
    back = hs.load(path)
    assert type(back) is AtomNeighbourhoods
    np.testing.assert_array_equal(back.centre_indices, nb.centre_indices)
    np.testing.assert_allclose(
        back.learning_results.factors, nb.learning_results.factors
    )
    np.testing.assert_array_equal(
        back.get_cluster_labels(merged=True).data,
        nb.get_cluster_labels(merged=True).data,
    )
    assert back.atoms.columns == nb.atoms.columns
    np.testing.assert_allclose(np.asarray(back.atoms.data), np.asarray(nb.atoms.data))
    np.testing.assert_allclose(back.get_cluster_map().data, nb.get_cluster_map().data)


def test_cluster_map_markers_fft_and_histograms():
    x, y, truth = two_phase_positions((384, 384), 16.0, jitter=0.2)
    nb = _table(x, y, 384).get_neighbourhoods(n_neighbours=12, metric="angle")
    nb.cluster_analysis(n_clusters=3)
    lab = nb.get_cluster_labels(merged=True).data
    m = nb.get_cluster_map()
    assert m.axes_manager.signal_shape == (384, 384)
    ax = m.axes_manager.signal_axes[0]
    assert (ax.scale, ax.units) == (SCALE, "nm")
    xp, yp = nb.get_centres().get_pixel_positions()
    np.testing.assert_array_equal(
        m.data[np.rint(yp).astype(int), np.rint(xp).astype(int)], lab
    )
    assert np.isnan(m.data).any()  # the excluded border is not painted
    assert len(nb.get_cluster_markers().kwargs["offsets"]) == len(lab)
    # FFT: the two phases are periodic, the boundary class is not
    fft = nb.get_cluster_fft()
    assert fft.axes_manager.navigation_shape == (3,)
    assert fft.axes_manager.signal_axes[0].units == "1/nm"
    score = fft.metadata.Signal.periodicity
    boundary = int(np.argmin(np.bincount(lab)))
    bulk = [i for i in range(3) if i != boundary]
    assert min(score[i] for i in bulk) > score[boundary]
    # histograms: all vectors counted, split by cluster on a common extent
    h = nb.get_vector_histogram(bins=41)
    assert h.data.sum() == 12 * len(lab)
    assert h.axes_manager.signal_axes[0].units == "nm"
    hc = nb.get_vector_histogram(bins=41, by_cluster=True)
    np.testing.assert_allclose(hc.data.sum(axis=0), h.data)
    # a 50-neighbour histogram peaks at the lattice vectors (pair correlation)
    nb50 = _table(*_lattice("square", jitter=0.2)[:2]).get_neighbourhoods(50)
    h50 = nb50.get_vector_histogram(bins=161)
    iy, ix = np.unravel_index(np.argmax(h50.data), h50.data.shape)
    peak = (
        h50.axes_manager.signal_axes[0].axis[ix],
        h50.axes_manager.signal_axes[1].axis[iy],
    )
    assert min(abs(abs(p) - 0.16) for p in peak) < 0.01


def test_dendrogram_and_linkage():
    x, y, truth = two_phase_positions((384, 384), 16.0, jitter=0.2)
    nb = _table(x, y, 384).get_neighbourhoods(n_neighbours=12, metric="angle")
    Z, rows = nb.get_linkage(n_samples=300)
    assert len(rows) == 300 and Z.shape == (299, 4)
    ax = nb.plot_dendrogram(n_clusters=2, n_samples=300)
    assert "separation" in ax.get_ylabel()
    # cutting the tree in two gives the two phases
    from hyperspy_localcryst.numerics.clustering import cut_linkage

    t = truth[nb.centre_indices[rows]]
    lab = cut_linkage(Z, 2)
    assert adjusted_rand_score(t[t != 2], lab[t != 2]) >= 0.95


def test_invariants_signal_and_modes_figure():
    nb, _ = _antipolar("distance")
    inv = nb.get_invariants()
    assert {"bond_1", "bond_angle_1", "polar_x", "polar_y", "polar"} <= set(inv.columns)
    # the antipolar shift is 0.6 px: centres are 0.6 px off their neighbours
    np.testing.assert_allclose(
        np.median(np.abs(inv.get_column("polar_x"))), 0.6 * SCALE, rtol=0.2
    )
    nb.decomposition(print_info=False)
    fig = nb.plot_modes((0, 1))
    assert len(fig.axes) == 2
    # the titles come from get_mode_properties, computed or given (the rows
    # of a longer table are those of a shorter one)
    props = nb.get_mode_properties(4)
    given = nb.plot_modes((0, 1), properties=props)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [ax.get_title() for ax in given.axes]
    assert titles == [nb._mode_title(c, props.iloc[c]) for c in (0, 1)]
    with pytest.raises(ValueError, match="properties"):
        nb.plot_modes((0, 3), properties=props.iloc[:2])


def test_radius_mode_needs_complete_rows_for_learning():
    x, y, _ = _lattice("square", jitter=0.1)
    keep = np.ones(x.size, bool)
    keep[np.argmin(np.hypot(x - 256, y - 256))] = False
    nb = _table(x[keep], y[keep]).get_neighbourhoods(None, radius=0.17)
    assert nb.get_missing_mask().sum() == 4
    with pytest.raises(ValueError, match="fewer than 4 neighbours"):
        nb.decomposition()
    nb.decomposition(navigation_mask=nb.get_missing_mask(), print_info=False)
    filled = nb.fill_missing()
    assert np.isfinite(filled.data).all()
    assert np.isnan(nb.data).any()  # the original is untouched
    # the vacancy's neighbours are the rows farthest from the typical one
    dist = np.linalg.norm(filled.data - np.median(filled.data, axis=0), axis=1)
    far = set(np.argsort(dist)[-4:])
    assert far == set(np.flatnonzero(nb.get_missing_mask()))
    filled.cluster_analysis(n_clusters=2)


def test_stack_neighbours_stay_within_their_frame():
    x, y, _ = _lattice("square", jitter=0.1, shape=(256, 256))
    n = x.size
    atoms = make_atom_positions(
        {
            "x": np.concatenate([x, x + 0.05]) * SCALE,
            "y": np.concatenate([y, y]) * SCALE,
            "frame": np.repeat([0.0, 1.0], n),
        },
        {"x": "nm", "y": "nm"},
        {k: dict(size=256, scale=SCALE, offset=0.0, units="nm", name=k) for k in "xy"},
    )
    nb = atoms.get_neighbourhoods(4)
    frames = atoms.get_column("frame")
    assert set(np.unique(frames[nb.centre_indices])) == {0.0, 1.0}
    # no neighbour at 0.05 px (the other frame's copy)
    assert np.linalg.norm(nb.get_vectors(), axis=-1).min() > 0.1


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "x", "y", "match"),
    [
        ({"n_neighbours": 6}, [0, 1, 2], [0, 0, 1], "at least 7 are needed"),
        ({"n_neighbours": 0}, [0, 1, 2], [0, 0, 1], "at least 1"),
        ({"n_neighbours": 2.5}, [0, 1, 2], [0, 0, 1], "integer"),
        ({"n_neighbours": 1, "metric": "bogus"}, [0, 1], [0, 0], "Unknown metric"),
        ({"n_neighbours": 1}, [0, 1, np.nan], [0, 0, 1], "NaN"),
        ({"n_neighbours": 1}, [0, 1, 1], [0, 0, 0], "share a position"),
        ({"n_neighbours": 1, "radius": -1.0}, [0, 1], [0, 0], "radius"),
        ({"n_neighbours": None, "radius": 0.1}, [0, 1], [0, 0], "No atom has"),
    ],
)
def test_bad_input_is_named(kwargs, x, y, match):
    with pytest.raises(ValueError, match=match):
        neighbour_vectors(np.asarray(x, float), np.asarray(y, float), **kwargs)


def test_all_atoms_on_the_border_is_an_error():
    x, y, _ = _lattice("square", shape=(48, 48))
    with pytest.raises(ValueError, match="within the border"):
        _table(x, y, 48).get_neighbourhoods(8)


def test_signal_bad_input():
    x, y, _ = _lattice("square", shape=(128, 128))
    atoms = _table(x, y, 128)
    with pytest.raises(ValueError, match="Unknown metric"):
        atoms.get_neighbourhoods(4, metric="nearest")
    nb = atoms.get_neighbourhoods(4)
    with pytest.raises(ValueError, match="cluster_analysis"):
        nb.get_cluster_map()
    with pytest.raises(ValueError, match="decomposition"):
        nb.get_mode_properties()
    with pytest.raises(ValueError, match="values for"):
        nb.get_map(np.zeros(3))
    with pytest.raises(ValueError, match="basis"):
        nb.get_vectors("world")


# ---------------------------------------------------------------------------
# shell_count and find_site_classes
# ---------------------------------------------------------------------------
def _honeycomb(n=14):
    a1, a2 = np.array([1.0, 0.0]), np.array([0.5, 3**0.5 / 2])
    cells = np.array([i * a1 + j * a2 for i in range(n) for j in range(n)])
    second = cells + (a1 + a2) / 3
    return np.r_[cells, second]


@pytest.mark.parametrize(
    "kind, expected",
    [("square", 4), ("hexagonal", 6), ("honeycomb", 3), ("rectangular", 4)],
)
def test_shell_count_closes_the_first_shell(kind, expected):
    """The count that closes the first shell of 3 or more, also with 3 %
    position noise: square 4, hexagonal 6, honeycomb 3 (MoS2), rectangular
    b = 1.1 a: 2 + 2."""
    from hyperspy_localcryst.numerics.neighbourhoods import shell_count

    rng = np.random.default_rng(0)
    if kind == "honeycomb":
        xy = _honeycomb()
    else:
        yy, xx = np.mgrid[0:14, 0:14].astype(float)
        if kind == "hexagonal":
            xx = xx + 0.5 * (yy % 2)
            yy = yy * 3**0.5 / 2
        if kind == "rectangular":
            yy = yy * 1.1
        xy = np.c_[xx.ravel(), yy.ravel()]
    xy = xy + rng.normal(0, 0.03, xy.shape)
    assert shell_count(xy[:, 0], xy[:, 1]) == (expected, True)


@pytest.mark.parametrize(
    "kind, nx, ny, expected",
    [
        ("square", 4, 7, 4),
        ("square", 6, 6, 4),
        ("hexagonal", 6, 6, 6),
        ("hexagonal", 9, 5, 6),
        ("honeycomb", 5, 5, 3),
    ],
)
def test_shell_count_of_a_small_crystal(kind, nx, ny, expected):
    """A crystal of a few cells (a nanoparticle) has hardly an atom whose
    twelve neighbours all lie inside it; its first shell must still close at
    the count of its lattice (each count measured on the atoms that keep that
    many neighbours), not at the smaller count of its edge atoms."""
    from hyperspy_localcryst.numerics.neighbourhoods import shell_count

    if kind == "honeycomb":
        a1, a2 = np.array([1.0, 0.0]), np.array([0.5, 3**0.5 / 2])
        cells = np.array([i * a1 + j * a2 for i in range(nx) for j in range(ny)])
        xy = np.r_[cells, cells + (a1 + a2) / 3]
    else:
        yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
        if kind == "hexagonal":
            xx = xx + 0.5 * (yy % 2)
            yy = yy * 3**0.5 / 2
        xy = np.c_[xx.ravel(), yy.ravel()]
    xy = xy + np.random.default_rng(2).normal(0, 0.02, xy.shape)
    assert shell_count(xy[:, 0], xy[:, 1]) == (expected, True)


def test_shell_count_without_a_shell():
    """Random points close no shell: the largest jump is taken, not closed."""
    from hyperspy_localcryst.numerics.neighbourhoods import shell_count

    xy = np.random.default_rng(1).uniform(0, 30, (600, 2))
    k, closed = shell_count(xy[:, 0], xy[:, 1])
    assert not closed and 3 <= k <= 12


def _polar_perovskite(shift):
    """Refined atoms of a perovskite whose B columns are displaced by
    ``shift`` (px) from the centre of the A cell."""
    from hyperspy_localcryst.data import synthetic_lattice

    s, truth = synthetic_lattice(
        shape=(200, 220),
        spacing=16.0,
        lattice="perovskite",
        sublattice_peaks=(300.0, 150.0),
        displacement=lambda x, y, sub: (
            np.where(sub == 1, shift[0], 0.0),
            np.where(sub == 1, shift[1], 0.0),
        ),
        seed=4,
        return_truth=True,
    )
    return s.refine_atoms(s.find_atoms(separation=0.12)), truth


def test_find_site_classes_polar_perovskite():
    """A polar perovskite (B displaced by (1.2, -0.5) px, no symmetry): the A
    and B neighbourhoods differ by twice that, far beyond the refined
    positions' noise: two classes, exactly the two sublattices. Without the
    displacement the two sites have the same neighbourhood: one class by
    geometry, two by brightness."""
    atoms, truth = _polar_perovskite((1.2, -0.5))
    nb = atoms.get_neighbourhoods(n_neighbours=4)
    result = nb.find_site_classes()
    assert result.n_classes == 2, result.reason
    # the sublattice of every centre, from the truth
    t = np.c_[truth["x"], truth["y"]]  # calibrated, like the atoms
    xy = np.c_[atoms.get_column("x"), atoms.get_column("y")][nb.centre_indices]
    d = np.hypot(*(xy[:, None, :] - t[None]).transpose(2, 0, 1))
    sub = np.asarray(truth["sublattice"])[d.argmin(axis=1)]
    assert adjusted_rand_score(sub, result.labels) == 1.0
    md = nb.metadata.AtomNeighbourhoods.site_classes
    assert md.n_classes == 2 and md.reason == result.reason
    # the noise used is the propagated position error: each vector's
    # sqrt(e_centre**2 + e_neighbour**2), the neighbours found here apart
    noise = nb._feature_noise()
    e = np.sqrt((atoms.get_column("x_err") ** 2 + atoms.get_column("y_err") ** 2) / 2)
    xy_all = np.c_[atoms.get_column("x"), atoms.get_column("y")]
    c = nb.centre_indices
    _, near = cKDTree(xy_all).query(xy_all[c], k=5)
    want = np.sort(np.sqrt(e[c, None] ** 2 + e[near[:, 1:]] ** 2), axis=1)
    got = np.sort(noise, axis=1)
    np.testing.assert_allclose(got[:, ::2], want, rtol=1e-12)
    np.testing.assert_allclose(got[:, 1::2], want, rtol=1e-12)
    flat, truth = _polar_perovskite((0.0, 0.0))
    nb = flat.get_neighbourhoods(n_neighbours=4)
    assert nb.find_site_classes(contrast=False).n_classes == 1
    # ... but the A columns are twice as bright as the B columns: with the
    # brightness (default) the two sites are two classes, exactly the
    # sublattices
    result = nb.find_site_classes()
    assert result.n_classes == 2, result.reason
    t = np.c_[truth["x"], truth["y"]]
    xy = np.c_[flat.get_column("x"), flat.get_column("y")][nb.centre_indices]
    d = np.hypot(*(xy[:, None, :] - t[None]).transpose(2, 0, 1))
    sub = np.asarray(truth["sublattice"])[d.argmin(axis=1)]
    assert adjusted_rand_score(sub, result.labels) == 1.0
    assert "brightness" in result.reason


def test_linkage_leaves_out_isolated_neighbourhoods():
    """Rows shifted alternately by +-0.6 px (two classes of neighbourhood)
    and 6 atoms moved 5 px off their sites (defects: their neighbourhoods,
    and their neighbours', lie far from every other). Ward's top merge then
    splits off the defects; with the isolated rows left out (the default,
    as the class count does) the cut into 2 gives the two row classes."""
    from scipy.cluster.hierarchy import fcluster

    from hyperspy_localcryst.numerics.class_count import isolated_rows

    x, y, _ = _lattice("square")
    row = np.rint((y - y.min()) / 16).astype(int)
    rng = np.random.default_rng(4)
    x = x + np.where(row % 2 == 0, 0.6, -0.6) + rng.normal(0, 0.1, x.size)
    y = y + rng.normal(0, 0.1, y.size)
    inner = np.flatnonzero((x > 100) & (x < 400) & (y > 100) & (y < 400))
    moved = rng.choice(inner, 6, replace=False)
    x[moved] += 5.0 * np.cos(np.arange(6))
    y[moved] += 5.0 * np.sin(np.arange(6))
    nb = _table(x, y).get_neighbourhoods(n_neighbours=4)
    X = nb.data.reshape(nb.data.shape[0], -1)
    iso = isolated_rows(X)
    centre = nb.centre_indices
    assert np.isin(moved, centre[iso]).all()  # every moved centre is isolated
    assert 6 <= iso.sum() <= 6 * 5  # ... and at most its 4 neighbours too
    truth = row[centre] % 2
    Z, rows = nb.get_linkage(leave_out_isolated=False)
    assert len(rows) == len(centre)
    all_rows = fcluster(Z, 2, "maxclust")
    assert min(np.bincount(all_rows)[1:]) <= iso.sum()  # the defects split off
    Z, rows = nb.get_linkage()
    np.testing.assert_array_equal(rows, np.flatnonzero(~iso))
    cut = fcluster(Z, 2, "maxclust")
    assert adjusted_rand_score(truth[rows], cut) == 1.0
    ax = nb.plot_dendrogram(2)
    assert ax.get_xlabel() == f"{len(rows)} centre atoms; {iso.sum()} isolated left out"


def test_open_shell_marks_the_counts_that_cut_a_shell():
    """Square lattice: k = 4 and 8 close a shell, 5, 6 and 7 cut one (the
    second shell of 4 at sqrt 2); hexagonal: 6 closes, 4 cuts. Interior atoms
    only (an edge atom's shells are cut by the edge)."""
    from hyperspy_localcryst.numerics.neighbourhoods import open_shell

    yy, xx = np.mgrid[0:11, 0:11]
    x, y = 1.3 * xx.ravel(), 1.3 * yy.ravel()
    inner = np.flatnonzero((xx.ravel() % 10 > 2) & (yy.ravel() % 10 > 2))
    for k, cut in ((4, False), (5, True), (6, True), (7, True), (8, False)):
        assert (open_shell(x, y, k, inner) == cut).all(), k
    hx = np.array(
        [(i + 0.5 * (j % 2), j * 3**0.5 / 2) for i in range(11) for j in range(11)]
    )
    mid = np.flatnonzero(np.hypot(hx[:, 0] - 5, hx[:, 1] - 4.3) < 2.5)
    assert open_shell(hx[:, 0], hx[:, 1], 4, mid).all()
    assert not open_shell(hx[:, 0], hx[:, 1], 6, mid).any()
    with pytest.raises(ValueError, match="tolerance"):
        open_shell(x, y, 4, tolerance=1.0)
    # the (k + 1)-th neighbour must exist: k + 2 atoms at least, else a
    # clear error (not a shell judged against missing, infinite distances)
    line = np.arange(6.0)
    assert not open_shell(line, 0 * line, 4).any()  # 6 atoms: each has 5
    with pytest.raises(ValueError, match="at least 6"):
        open_shell(line[:5], 0 * line[:5], 4)


def test_shell_count_of_a_near_tie_does_not_swap_with_a_few_atoms():
    """The 2072 columns found on the tungsten-bronze iDPC image (tests/data):
    no shell closes, and the two largest jumps of the median neighbour
    distance, after the 6th and the 7th neighbour, are within 1 % of each
    other. Which was larger changed with 3 atoms fewer (k 7 -> 6, and the
    report's site classes 11 -> 2); of jumps within 3 % of the largest the
    last is taken, so k is 7 whichever 3 to 10 atoms go."""
    from pathlib import Path

    from hyperspy_localcryst.numerics.neighbourhoods import shell_count

    d = np.load(Path(__file__).parents[1] / "data" / "ttb_110_atoms.npz")
    x, y = d["x"].astype(float), d["y"].astype(float)
    assert shell_count(x, y) == (7, False)
    rng = np.random.default_rng(0)
    for n_gone in (3, 3, 3, 5, 10):
        keep = np.ones(x.size, bool)
        keep[rng.choice(x.size, n_gone, replace=False)] = False
        assert shell_count(x[keep], y[keep]) == (7, False)
