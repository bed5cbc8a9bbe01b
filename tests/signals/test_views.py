"""HyperSpy's own views on atom signals show the atoms where they are.

Loadings, BSS loadings, cluster labels and distances are drawn as maps on the
image grid; cluster maps are categorical in the markers' colours; every map
has a quantity; ``plot_atoms`` draws stacks with the navigator. Each test
checks values against a computation of its own (the atoms' own loadings,
labels, positions and the image's axes), not just shapes.
"""

import re
import warnings

import matplotlib

matplotlib.use("Agg")

import hyperspy.api as hs  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hyperspy_localcryst.data import synthetic_lattice  # noqa: E402
from hyperspy_localcryst.data.synthetic import make_lattice_image  # noqa: E402
from hyperspy_localcryst.signals._plotting import (  # noqa: E402
    NONE_COLOUR,
    class_colours,
    plot_map,
)
from hyperspy_localcryst.signals.atom_neighbourhoods import (  # noqa: E402
    AtomNeighbourhoods,
)
from hyperspy_localcryst.signals.atom_positions import (  # noqa: E402
    make_atom_positions,
)
from hyperspy_localcryst.signals.atomic_image import AtomicImage  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def image():
    # offset and scale that are not 0 and 1, so pixels and calibrated
    # coordinates cannot be confused
    s = synthetic_lattice(shape=(144, 160), spacing=14.0, sigma=3.0, seed=3)
    for ax in s.axes_manager.signal_axes:
        ax.offset = 0.37
    return s


@pytest.fixture(scope="module")
def learned(image):
    nb = image.find_atoms().get_neighbourhoods(n_neighbours=4)
    nb.decomposition(print_info=False)
    nb.cluster_analysis(n_clusters=3)
    return nb


def _centre_pixels(nb):
    """Row and column of the pixel under each centre atom, from the
    calibrated positions and the image grid (not from the package's
    conversion)."""
    c = nb.get_centres()
    g = nb.atoms.grid
    col = np.rint((c.get_column("x") - g["x"]["offset"]) / g["x"]["scale"])
    row = np.rint((c.get_column("y") - g["y"]["offset"]) / g["y"]["scale"])
    return row.astype(int), col.astype(int)


def _extent(image):
    x, y = image.axes_manager.signal_axes
    return [
        x.offset - x.scale / 2,
        x.offset + (x.size - 0.5) * x.scale,
        y.offset + (y.size - 0.5) * y.scale,
        y.offset - y.scale / 2,
    ]


def _images(fig):
    return [im for ax in fig.axes for im in ax.get_images()]


# ------------------------------------------------------------------ loadings
def test_loading_map_is_the_loading_under_each_atom(image, learned):
    loadings = learned.learning_results.loadings
    row, col = _centre_pixels(learned)
    for c in (0, 1, 3):
        m = learned.get_loading_map(c)
        np.testing.assert_array_equal(m.data[row, col], loadings[:, c])
        assert m.metadata.Signal.quantity == "Loading (a.u.)"
        for a, b in zip(m.axes_manager.signal_axes, image.axes_manager.signal_axes):
            assert (a.scale, a.offset, a.units, a.size) == (
                b.scale,
                b.offset,
                b.units,
                b.size,
            )


def test_plot_decomposition_loadings_draws_the_maps(image, learned):
    fig = learned.plot_decomposition_loadings([1, 2])
    ims = _images(fig)
    assert len(ims) == 2
    for im, c in zip(ims, (1, 2)):
        np.testing.assert_array_equal(
            np.ma.filled(im.get_array(), np.nan), learned.get_loading_map(c).data
        )
        np.testing.assert_allclose(im.get_extent(), _extent(image))
        assert im.axes.get_xlabel() == "x (nm)" and im.axes.get_ylabel() == "y (nm)"
        assert im.colorbar.ax.get_ylabel() == "Loading (a.u.)"
        # colour limits symmetric about 0: the sign of a loading shows
        lo, hi = im.get_clim()
        assert lo == -hi == -np.nanmax(np.abs(im.get_array()))
    # HyperSpy's comp_ids as an int: components 0..n-1; one figure each
    figs = learned.plot_decomposition_loadings(3, same_window=False)
    assert [f.axes[0].get_title() for f in figs] == [
        "Loading 0",
        "Loading 1",
        "Loading 2",
    ]
    # with_factors: the factors as neighbour-vector patterns (plot_modes)
    _, factors = learned.plot_decomposition_loadings(2, with_factors=True)
    assert len([ax for ax in factors.axes if ax.get_xlabel() == "dx (nm)"]) == 2


def test_uncalibrated_loadings_are_in_pixels(image, learned):
    fig = learned.plot_decomposition_loadings([0], calibrate=False)
    im = _images(fig)[0]
    ny, nx = image.data.shape
    np.testing.assert_allclose(im.get_extent(), [-0.5, nx - 0.5, ny - 0.5, -0.5])
    assert im.axes.get_xlabel() == "x (px)"


def test_plot_decomposition_results_shows_maps_with_the_factors(image, learned):
    maps, factors = learned.plot_decomposition_results()
    n = learned.learning_results.factors.shape[1]
    assert maps.data.shape == (n,) + image.data.shape
    assert maps.axes_manager.navigation_axes[-1].name == (
        "Decomposition component index"
    )
    for c in range(n):
        np.testing.assert_array_equal(
            maps.inav[c].data, learned.get_loading_map(c).data
        )
    # the maps are what HyperSpy draws: an image of the grid, not a line
    drawn = [im for f in map(plt.figure, plt.get_fignums()) for im in _images(f)]
    assert any(im.get_array().shape == image.data.shape for im in drawn)
    # the factors follow the component shown
    maps.axes_manager.indices = (2,)
    assert factors.axes_manager.indices == (2,)
    np.testing.assert_allclose(
        factors.inav[2].data, learned.learning_results.factors[:, 2]
    )


def test_bad_view_arguments(learned):
    with pytest.raises(ValueError, match="comp_ids"):
        learned.plot_decomposition_loadings([99])
    with pytest.raises(TypeError, match="comp_ids"):
        learned.plot_decomposition_loadings("all")
    with pytest.raises(TypeError, match="max_distance"):
        learned.plot_decomposition_loadings(2, colour="red")
    with pytest.raises(ValueError, match="results"):
        learned.get_loading_map(0, results="ica")
    with pytest.raises(ValueError, match="blind_source_separation"):
        learned.get_loading_map(0, results="bss")
    with pytest.raises(ValueError, match="integer labels"):
        learned.get_map(np.full(len(learned.data), 0.5), categorical=True)
    with pytest.raises(TypeError, match="quantity"):
        learned.get_map(np.zeros(len(learned.data)), quantity=3)
    with pytest.raises(ValueError, match="axes_decor"):
        learned.plot_decomposition_loadings(2, axes_decor="some")
    with pytest.raises(ValueError, match="per_row"):
        learned.plot_decomposition_loadings(2, per_row=0)
    with pytest.raises(TypeError, match="calibrate"):
        learned.plot_decomposition_loadings(2, calibrate="yes")
    with pytest.raises(ValueError, match="cluster_ids"):
        learned.plot_cluster_labels([3])
    with pytest.raises(ValueError, match="stack of maps"):
        plot_map(learned.get_loading_maps(2))


# ----------------------------------------------------------------------- BSS
@pytest.fixture(scope="module")
def two_sources():
    """A checkerboard square lattice whose left half has sublattice 0
    shifted along x and whose right half has sublattice 1 shifted along
    45 degrees, by independent (Laplacian) amounts per 3 x 3 block of
    atoms. The two displacement patterns are not orthogonal, so PCA mixes
    them; ICA on the loadings must find each in its own region."""
    rng = np.random.default_rng(1)
    n, a, scale = 30, 0.4, 0.02
    gy, gx = np.mgrid[0:n, 0:n]
    sub = ((gx + gy) % 2).ravel()
    left = gx.ravel() < n // 2
    amp = rng.laplace(0, 0.005, 100 * 100)[(gy // 3 * 100 + gx // 3).ravel()]
    direction = np.where(left[:, None], [1.0, 0.0], [np.sqrt(0.5), np.sqrt(0.5)])
    moved = np.where(left, sub == 0, sub == 1)
    d = amp[:, None] * direction * moved[:, None]
    size = int((n + 1) * a / scale) + 1
    grid = {
        k: {"size": size, "scale": scale, "offset": 0.0, "units": "nm", "name": k}
        for k in "xy"
    }
    atoms = make_atom_positions(
        {
            "x": (gx.ravel() + 1.0) * a + d[:, 0],
            "y": (gy.ravel() + 1.0) * a + d[:, 1],
            "sublattice": sub,
        },
        {"x": "nm", "y": "nm", "sublattice": ""},
        grid,
    )
    nb = atoms.get_neighbourhoods(n_neighbours=4)
    nb.decomposition(print_info=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastICA's convergence warnings
        nb.blind_source_separation(2, on_loadings=True, print_info=False)
    return nb, left[nb.centre_indices]


def _left_share(loading, left):
    e = loading**2
    return e[left].sum() / e.sum()


def test_bss_loading_maps_localise_each_source(two_sources):
    nb, left = two_sources
    props = nb.get_mode_properties(results="bss")
    angle = np.degrees(np.arctan2(props["net_shift_y"], props["net_shift_x"]))
    # the component that shifts centres along x is the left half's ...
    x_mode = int(np.argmin(np.abs(np.sin(np.radians(angle)))))
    diagonal = 1 - x_mode
    assert abs(abs(np.sin(np.radians(angle[diagonal]))) - np.sqrt(0.5)) < 0.05
    row, col = _centre_pixels(nb)
    shares = []
    for c in (x_mode, diagonal):
        m = nb.get_loading_map(c, results="bss")
        assert m.metadata.Signal.quantity == "BSS loading (a.u.)"
        values = m.data[row, col]  # the map under each centre: its loading
        np.testing.assert_array_equal(values, nb.learning_results.bss_loadings[:, c])
        shares.append(_left_share(values, left))
    # ... and the 45-degree one the right half's
    assert shares[0] > 0.95 and shares[1] < 0.05
    # the decomposition's own components mix the two regions
    for c in (0, 1):
        assert 0.2 < _left_share(nb.get_loading_map(c).data[row, col], left) < 0.8


def test_bss_views(two_sources):
    nb, _ = two_sources
    fig = nb.plot_bss_loadings()
    ims = _images(fig)
    assert [im.colorbar.ax.get_ylabel() for im in ims] == ["BSS loading (a.u.)"] * 2
    for c, im in enumerate(ims):
        np.testing.assert_array_equal(
            np.ma.filled(im.get_array(), np.nan),
            nb.get_loading_map(c, results="bss").data,
        )
    maps, factors = nb.plot_bss_results()
    assert maps.axes_manager.navigation_axes[-1].name == "BSS component index"
    np.testing.assert_allclose(factors.data, nb.learning_results.bss_factors.T)
    # the BSS modes drawn as neighbour-vector patterns
    fig = nb.plot_modes((0, 1), results="bss")
    assert len(fig.axes) == 2
    # HyperSpy's factor views draw the same patterns, not the feature index:
    # with scale 1 the arrows are the factor's values themselves
    for view, f in (
        (nb.plot_bss_factors, nb.learning_results.bss_factors),
        (nb.plot_decomposition_factors, nb.learning_results.factors),
    ):
        fig = view([1], scale=1.0)
        assert len(fig.axes) == 1
        q = fig.axes[0].collections[0]  # the neighbours' arrows
        drawn = np.sort(np.r_[q.U, q.V])
        np.testing.assert_allclose(drawn, np.sort(f[:, 1]), atol=1e-12)
    with pytest.raises(TypeError, match="scale"):
        nb.plot_bss_factors(1, colour="red")
    t = nb.get_mode_amplitudes(1, results="bss")
    assert t.n_atoms == len(nb.data)


# ------------------------------------------------------------------ clusters
def _drawn_rgba(im):
    return im.to_rgba(im.get_array())


def test_cluster_map_colours_are_the_marker_colours(learned):
    labels = learned.get_cluster_labels(merged=True).data.astype(int)
    m = learned.get_cluster_map()
    assert m.metadata.Signal.quantity == "Cluster label"
    row, col = _centre_pixels(learned)
    np.testing.assert_array_equal(m.data[row, col], labels)
    im = plot_map(m)
    rgba = _drawn_rgba(im)[row, col]
    markers = np.asarray(learned.get_cluster_markers().kwargs["color"])
    np.testing.assert_allclose(rgba, markers, atol=1 / 255)
    # label k in class_colours(n)[k], whatever the markers
    for k in range(3):
        np.testing.assert_allclose(
            rgba[labels == k],
            np.tile(class_colours(3)[k], ((labels == k).sum(), 1)),
            atol=1 / 255,
        )
    # a legend of the labels with their atom counts, no continuous colour bar
    legend = im.axes.get_legend()
    assert legend.get_title().get_text() == "Cluster label"
    counts = {}
    for text in legend.get_texts():
        k, n = re.fullmatch(r"(\d+) \((\d+)\)", text.get_text()).groups()
        counts[int(k)] = int(n)
    assert counts == {k: int((labels == k).sum()) for k in range(3)}
    for patch, k in zip(legend.get_patches(), sorted(counts)):
        np.testing.assert_allclose(patch.get_facecolor(), class_colours(3)[k])
    assert len(im.axes.figure.axes) == 1  # no colour bar


def test_hyperspys_own_plot_of_a_label_map_draws_the_marker_colours(learned, tmp_path):
    """``m.plot()`` (HyperSpy's, no argument): a LabelMap, so each atom's
    pixel is drawn in its marker's colour, not a continuous 0-2 scale; it
    stays a LabelMap through a save and load."""
    import hyperspy.api as hs
    import matplotlib.pyplot as plt

    from hyperspy_localcryst.signals.label_map import LabelMap

    labels = learned.get_cluster_labels(merged=True).data.astype(int)
    m = learned.get_cluster_map()
    assert type(m) is LabelMap and m.n_labels() == 3
    plt.close("all")
    m.plot()
    ims = [im for f in map(plt.figure, plt.get_fignums()) for im in _images(f)]
    assert len(ims) == 1
    row, col = _centre_pixels(learned)
    np.testing.assert_array_equal(m.data[row, col], labels)
    rgba = _drawn_rgba(ims[0])[row, col]
    markers = np.asarray(learned.get_cluster_markers().kwargs["color"])
    np.testing.assert_allclose(rgba, markers, atol=1 / 255)
    plt.close("all")
    m.save(tmp_path / "map.hspy")
    back = hs.load(tmp_path / "map.hspy")
    assert type(back) is LabelMap and back.metadata.Map.counts == m.metadata.Map.counts


def test_categorical_map_of_any_labels(learned):
    """Sublattice (or site-class, phase) maps: categorical like clusters."""
    sub = learned.get_centres().get_column("sublattice").astype(int)
    sub[:5] = -1  # none
    m = learned.get_map(sub, categorical=True, quantity="Sublattice")
    assert m.metadata.Map.counts == np.bincount(sub[sub >= 0]).tolist()
    assert m.metadata.Map.unassigned == 5
    im = plot_map(m)
    row, col = _centre_pixels(learned)
    rgba = _drawn_rgba(im)[row, col]
    np.testing.assert_allclose(rgba[:5], np.tile(NONE_COLOUR, (5, 1)), atol=1 / 255)
    texts = [t.get_text() for t in im.axes.get_legend().get_texts()]
    assert texts[-1] == "none (5)"


def test_plot_cluster_labels_one_map_per_cluster(learned):
    labels = learned.get_cluster_labels(merged=True).data.astype(int)
    row, col = _centre_pixels(learned)
    fig = learned.plot_cluster_labels()
    ims = _images(fig)
    assert len(ims) == 3
    for k, im in enumerate(ims):
        rgba = _drawn_rgba(im)[row, col]
        np.testing.assert_allclose(
            rgba[labels == k],
            [class_colours(3)[k]] * int((labels == k).sum()),
            atol=1 / 255,
        )
        np.testing.assert_allclose(
            rgba[labels != k], [NONE_COLOUR] * int((labels != k).sum()), atol=1 / 255
        )
        texts = [t.get_text() for t in im.axes.get_legend().get_texts()]
        n = int((labels == k).sum())
        assert texts == [f"{k} ({n})", f"other clusters ({len(labels) - n})"]
    _, centres = learned.plot_cluster_labels([0], with_centers=True)
    assert centres.axes[0].get_xlabel() == "dx (nm)"


def test_plot_cluster_results_shows_maps(image, learned):
    im, distances, centres = learned.plot_cluster_results()
    labels = learned.get_cluster_labels(merged=True).data.astype(int)
    row, col = _centre_pixels(learned)
    np.testing.assert_array_equal(im.get_array()[row, col], labels)
    np.testing.assert_allclose(im.get_extent(), _extent(image))
    d = learned.learning_results.cluster_distances
    assert distances.data.shape == (3,) + image.data.shape
    for k in range(3):
        np.testing.assert_allclose(distances.inav[k].data[row, col], d[k])
    distances.axes_manager.indices = (1,)
    assert centres.axes_manager.indices == (1,)
    fig = learned.plot_cluster_distances()
    assert _images(fig)[0].colorbar.ax.get_ylabel() == "Distance to cluster centre"


# ---------------------------------------------------------------- quantities
def test_every_map_has_a_quantity(learned, two_sources):
    nb = learned
    si = hs.signals.Signal1D(np.ones((16, 16, 10)))
    maps = {
        "get_map": lambda: nb.get_map(np.arange(len(nb.data))),
        "get_cluster_map": nb.get_cluster_map,
        "get_loading_map": lambda: nb.get_loading_map(0),
        "get_loading_maps": lambda: nb.get_loading_maps(2),
        "get_cluster_distance_maps": nb.get_cluster_distance_maps,
        "get_spectral_map": lambda: nb.get_spectral_map(
            si, window=(2, 5), region=(0.4, 0.4, 1.6, 1.6)
        ),
    }
    # every public method of the atom signals that returns a map is here
    names = {
        n
        for n in dir(AtomNeighbourhoods)
        if not n.startswith("_")
        and n.startswith("get_")
        and n.endswith(("map", "maps"))
    }
    assert names == set(maps)
    other = {
        "get_cluster_fft": nb.get_cluster_fft,
        "get_vector_histogram": nb.get_vector_histogram,
        "bss loading map": lambda: two_sources[0].get_loading_map(0, results="bss"),
    }
    for name, call in {**maps, **other}.items():
        s = call()
        assert isinstance(s, hs.signals.Signal2D), name
        q = s.metadata.get_item("Signal.quantity", "")
        assert isinstance(q, str) and q, name
    assert (
        nb.get_map(
            np.zeros(len(nb.data)), quantity="Displacement (pm)"
        ).metadata.Signal.quantity
        == "Displacement (pm)"
    )


# ------------------------------------------------------------------- stacks
@pytest.fixture(scope="module")
def stack():
    """Three frames of a square lattice turned by 0, 10 and 20 degrees."""
    frames = [
        make_lattice_image((96, 96), spacing=16, sigma=2.5, rotation=r, seed=k)[0]
        for k, r in enumerate((0, 10, 20))
    ]
    s = AtomicImage(np.stack(frames))
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = 0.02, "nm"
    s.axes_manager.navigation_axes[0].name = "time"
    return s, s.find_atoms(separation=0.22, show_progressbar=False)


def test_loading_maps_of_a_stack_are_per_frame(stack):
    s, atoms = stack
    nb = atoms.get_neighbourhoods(n_neighbours=4)
    nb.decomposition(print_info=False)
    maps, _ = nb.plot_decomposition_results()
    n = nb.learning_results.factors.shape[1]
    assert maps.data.shape == (n, 3) + s.data.shape[1:]
    assert [a.name for a in maps.axes_manager.navigation_axes] == [
        "time",
        "Decomposition component index",
    ]
    frame = nb.get_centres().get_column("frame").astype(int)
    row, col = _centre_pixels(nb)
    loadings = nb.learning_results.loadings
    for k in range(3):
        sel = frame == k
        for c in (0, 1):
            np.testing.assert_array_equal(
                maps.data[c, k][row[sel], col[sel]], loadings[sel, c]
            )
    # the matplotlib views show one frame, and say which
    fig = nb.plot_decomposition_loadings([0], frame=2)
    im = _images(fig)[0]
    sel = frame == 2
    np.testing.assert_array_equal(im.get_array()[row[sel], col[sel]], loadings[sel, 0])
    assert im.axes.get_title() == "Loading 0 (frame 2)"


def test_plot_atoms_on_a_stack_follows_the_navigator(stack):
    s, atoms = stack
    markers = s.plot_atoms(atoms)
    frame = atoms.get_column("frame")
    xy = np.column_stack([atoms.get_column("x"), atoms.get_column("y")])
    seen = []
    for k in (2, 0, 1):
        s.axes_manager.indices = (k,)
        offsets = np.asarray(markers.get_current_kwargs()["offsets"])
        np.testing.assert_array_equal(offsets, xy[frame == k])
        seen.append(len(offsets))
    assert len(set(seen)) > 1 or not np.array_equal(xy[frame == 0], xy[frame == 1])
    # a stack's atoms on one frame, or one image's atoms on a stack: refused
    with pytest.raises(ValueError, match="stack of 3 frames"):
        s.inav[0].plot_atoms(atoms)
    with pytest.raises(ValueError, match="navigation shape"):
        s.plot_atoms(s.inav[0].find_atoms(separation=0.22))
