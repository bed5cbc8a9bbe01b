"""The report's figures read as an expert expects (issue 19, point 8).

One class has one colour in every figure (map, markers, dendrogram, FFTs),
categorical legends count what they show, maps have labelled axes and a scale
bar, the per-class FFTs are zoomed to the lattice spots, and the atoms that
are no centre or whose fit failed are drawn and counted.

The scene: a rectangular cell (a = 13 px along x, b = 18 px along y, 0.02
nm/px) with a bright A column and a dim B column that sits 1.3 px right of
the cell centre in the left half of the image and 1.3 px left of it in the
right half: two polar domains, no mirror or x/y symmetry.
"""

import csv
import re

import hyperspy.api as hs
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_hex
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
from scipy.cluster import hierarchy
from scipy.spatial import cKDTree

from hyperspy_localcryst import report
from hyperspy_localcryst.data.synthetic import render_gaussians
from hyperspy_localcryst.signals._plotting import (
    NONE_COLOUR,
    add_scale_bar,
    class_colours,
    label_colours,
)

A_PX, B_PX, SCALE, SHAPE = 13.0, 18.0, 0.02, (150, 190)
#: Matplotlib's tab10 without its grey, written out: the truth of the palette.
TAB10 = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
]
MIXED = "#222222"


def _scene(seed=0):
    ny, nx = SHAPE
    i, j = np.meshgrid(np.arange(-2, nx // A_PX + 3), np.arange(-2, ny // B_PX + 3))
    ax_, ay_ = 4.0 + i.ravel() * A_PX, 5.0 + j.ravel() * B_PX
    shift = np.where(ax_ < nx / 2, 1.3, -1.3)
    x = np.concatenate([ax_, ax_ + A_PX / 2 + shift])
    y = np.concatenate([ay_, ay_ + B_PX / 2])
    kind = np.r_[np.zeros(ax_.size, int), np.ones(ax_.size, int)]
    img = render_gaussians(
        SHAPE, x, y, np.where(kind == 0, 300.0, 120.0), 2.2, background=20.0
    )
    s = hs.signals.Signal2D(np.random.default_rng(seed).poisson(img).astype(float))
    for a in s.axes_manager.signal_axes:
        a.scale, a.units = SCALE, "nm"
    s.set_signal_type("atomic_image")
    inside = (x >= -0.5) & (x <= nx - 0.5) & (y >= -0.5) & (y <= ny - 0.5)
    return s, x[inside] * SCALE, y[inside] * SCALE, kind[inside]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The report of the scene, with the figures kept open for inspection."""
    figures = {}
    save = report.figures._save

    def keep(fig, out, name, plt_):
        figures[name] = fig
        fig.savefig(out / name, dpi=40)

    s, x, y, kind = _scene()
    out = tmp_path_factory.mktemp("figs") / "report"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report.figures, "_save", keep)
        summary = report.analyse(s, out, n_clusters=2)
    assert report.figures._save is save
    with open(out / "atoms.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    table = {
        k.split(" [")[0]: np.array([float(r[k] or "nan") for r in rows])
        for k in rows[0]
    }
    nb = hs.load(out / "neighbourhoods.hspy")
    yield {
        "summary": summary,
        "figures": figures,
        "table": table,
        "nb": nb,
        "truth": (x, y, kind),
        "out": out,
    }
    for fig in figures.values():
        plt.close(fig)


def _centre_labels(nb):
    """Class (cluster index) and atom index of each centre, from the saved
    neighbourhood signal."""
    lab = np.asarray(nb.learning_results.cluster_labels, bool)
    labels = np.argmax(lab, axis=0)
    centres = np.rint(nb.axes_manager.navigation_axes[0].axis).astype(int)
    return labels, centres


def _hex(c):
    return to_hex(c, keep_alpha=False)


def _atom_axes(fig):
    return fig.axes[0]


# ------------------------------------------------------------------ palette
def test_class_colours_are_fixed_per_index_and_never_grey():
    c = class_colours(20)
    assert [_hex(v) for v in c[:9]] == TAB10
    assert [_hex(v) for v in class_colours(3)] == TAB10[:3]  # independent of n
    assert len({_hex(v) for v in c[:18]}) == 18 and _hex(c[18]) == TAB10[0]
    assert _hex(NONE_COLOUR) not in {_hex(v) for v in c}
    assert [_hex(v) for v in label_colours([2, -1, 0])] == [
        TAB10[2],
        _hex(NONE_COLOUR),
        TAB10[0],
    ]
    with pytest.raises(ValueError, match="integer class"):
        label_colours([0.5])


def test_one_colour_per_class_in_map_markers_dendrogram_and_ffts(run):
    nb, table = run["nb"], run["table"]
    labels, centres = _centre_labels(nb)
    assert set(labels) == {0, 1}
    by_position = {
        (round(table["x"][i], 6), round(table["y"][i], 6)): -1
        for i in range(len(table["x"]))
    }
    for i, c in zip(centres, labels):
        by_position[(round(table["x"][i], 6), round(table["y"][i], 6))] = int(c)
    expected = {-1: _hex(NONE_COLOUR), 0: TAB10[0], 1: TAB10[1]}

    # the map: every drawn dot has the colour of its atom's class
    ax = _atom_axes(run["figures"]["cluster_map.png"])
    n_drawn = 0
    for coll in ax.collections:
        colour = _hex(coll.get_facecolor()[0]) if len(coll.get_offsets()) else None
        for px, py in coll.get_offsets():
            assert colour == expected[by_position[(round(px, 6), round(py, 6))]]
            n_drawn += 1
    assert n_drawn == len(table["x"])

    # the markers of the signal layer
    m = nb.get_cluster_markers()
    drawn = [_hex(c) for c in np.asarray(m.kwargs["color"])]
    assert drawn == [expected[c] for c in labels]

    # the dendrogram: leaves and branches coloured by the class of all the
    # centres under them (all centres are clustered: fewer than 2000)
    ax = run["figures"]["dendrogram.png"].axes[0]
    Z = hierarchy.linkage(nb.data, method="ward")
    tree = hierarchy.dendrogram(Z, truncate_mode="lastp", p=30, no_plot=True)
    root, nodes = hierarchy.to_tree(Z, rd=True)
    leaf_colours = []
    for leaf in tree["leaves"]:
        members = nodes[leaf].pre_order()
        classes = set(labels[members].tolist())
        leaf_colours.append(expected[classes.pop()] if len(classes) == 1 else MIXED)
    assert [_hex(t.get_color()) for t in ax.get_xticklabels()] == leaf_colours
    branch = {_hex(c) for coll in ax.collections for c in coll.get_colors()}
    assert branch <= {TAB10[0], TAB10[1], MIXED}
    assert {TAB10[0], TAB10[1]} & set(leaf_colours) <= branch

    # the FFT and histogram titles
    for name in ("cluster_ffts.png", "neighbour_histograms.png"):
        titles = [a for a in run["figures"][name].axes if a.get_title()]
        assert [_hex(a.title.get_color()) for a in titles] == TAB10[:2]


def test_dendrogram_leaves_are_counts_of_centres(run):
    ax = run["figures"]["dendrogram.png"].axes[0]
    texts = [t.get_text() for t in ax.get_xticklabels()]
    assert len(texts) == 30 and all(re.fullmatch(r"\(\d+\)", t) for t in texts)
    assert sum(int(t[1:-1]) for t in texts) == run["summary"]["n_centres"]


# ------------------------------------------------------------------ legends
def test_categorical_legends_count_each_class(run):
    labels, centres = _centre_labels(run["nb"])
    n_atoms = len(run["table"]["x"])
    legend = _atom_axes(run["figures"]["cluster_map.png"]).get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        f"class 0: {np.sum(labels == 0)}",
        f"class 1: {np.sum(labels == 1)}",
        f"not a centre (border): {n_atoms - len(centres)}",
    ]
    # sublattices: the bright A columns are sublattice 0, by the truth
    x, y, kind = run["truth"]
    t = run["table"]
    nearest = cKDTree(np.column_stack([x, y])).query(np.column_stack([t["x"], t["y"]]))
    assert np.median(nearest[0]) < 0.05 * A_PX * SCALE  # the columns were found
    ok = t["converged"] == 1
    assert (t["sublattice"][ok] == kind[nearest[1]][ok]).all()
    n_a = int(np.sum(t["sublattice"] == 0))
    n_b = int(np.sum(t["sublattice"] == 1))
    assert n_a + n_b == n_atoms
    texts = [
        tx.get_text()
        for tx in _atom_axes(run["figures"]["atoms.png"]).get_legend().get_texts()
    ]
    assert texts[:2] == [f"sublattice 0 (brightest): {n_a}", f"sublattice 1: {n_b}"]


def test_categorical_map_names_counts_and_none(tmp_path):
    s, *_ = _scene()
    fig, ax = plt.subplots()
    handles = report.figures._categorical_map(
        ax,
        s,
        [0.3, 0.5, 0.9, 1.1, 2.0],
        [0.2, 1.5, 0.4, 2.2, 1.0],
        [2, 0, 2, -1, 2],
        names=["Pb", "Ti", "Ru"],
        title="phases",
        others="unknown",
    )
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Pb: 1",
        "Ti: 0",
        "Ru: 3",
        "unknown: 1",
    ]
    assert [_hex(h.get_facecolor()[0]) for h in handles if len(h.get_offsets())] == [
        TAB10[0],
        TAB10[2],
        _hex(NONE_COLOUR),
    ]
    assert handles[2].get_offsets()[:, 0].tolist() == [0.3, 0.9, 2.0]
    with pytest.raises(ValueError, match="one value per atom"):
        report.figures._categorical_map(ax, s, [0.1], [0.1, 0.2], [0])
    plt.close(fig)


# ------------------------------------------------------ axes, scale, colour
@pytest.mark.parametrize("name", ["atoms.png", "cluster_map.png", "loading_maps.png"])
def test_maps_have_labelled_axes_and_a_round_scale_bar(run, name):
    fig = run["figures"][name]
    image_axes = [a for a in fig.axes if a.images and a.get_xlabel().startswith("x")]
    assert image_axes
    width = SHAPE[1] * SCALE
    for ax in image_axes:
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("x (nm)", "y (nm)")
        bars = [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
        assert len(bars) == 1
        length = bars[0].length
        assert 0.04 * width < length <= 0.2 * width  # 3.8 nm wide: 0.5 nm
        mantissa = length / 10 ** np.floor(np.log10(length))
        assert np.isclose(mantissa, [1, 2, 5]).any()
        assert bars[0].txt_label.get_text() == f"{length:g} nm"
    if name == "loading_maps.png":
        # the amplitude maps' colour bars name the quantity and its unit
        bars = [a for a in fig.axes if a.get_ylabel() == "amplitude (pm)"]
        assert len(bars) == len(image_axes)


def test_scale_bar_length_is_round_and_in_data_units():
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((4, 4)), extent=(0, 370, 370, 0))
    bar = add_scale_bar(ax, "pm")
    assert (bar.length, bar.txt_label.get_text()) == (50.0, "50 pm")
    plt.close(fig)


# ------------------------------------------------------------------- FFTs
def test_cluster_ffts_zoom_to_the_first_order_spots(run):
    k1 = 1 / (A_PX * SCALE)  # 1 / 0.26 nm: the largest first-order frequency
    axes = [a for a in run["figures"]["cluster_ffts.png"].axes if a.get_title()]
    assert len(axes) == 2
    for ax in axes:
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        assert np.isclose(x0, -x1) and np.isclose(y1, -y0)
        assert k1 < x1 < 2 * k1 and k1 < y0 < 2 * k1  # spots in, |k| > 2 k1 out
        assert 1.35 * k1 < x1 < 1.65 * k1 and np.isclose(x1, y0)  # 1.5 x, measured
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("kx (1/nm)", "ky (1/nm)")
        # the view shows lattice spots: peaks away from k = 0 far above the
        # median power of the view
        im = ax.images[0]
        power, ex = 10.0 ** np.ma.getdata(im.get_array()), im.get_extent()
        ny, nx = power.shape
        kx = ex[0] + (np.arange(nx) + 0.5) * (ex[1] - ex[0]) / nx
        ky = ex[3] + (np.arange(ny) + 0.5) * (ex[2] - ex[3]) / ny
        KX, KY = np.meshgrid(kx, ky)
        view = (abs(KX) < x1) & (abs(KY) < y0)
        spots = view & (np.hypot(KX, KY) > 0.5 * k1)
        assert power[spots].max() > 100 * np.median(power[view])
    bars = [a for a in run["figures"]["cluster_ffts.png"].axes if a.get_ylabel()]
    assert sum(a.get_ylabel() == "log10 power (a.u.)" for a in bars) == 2


# ------------------------------------------------- border, unconverged, times
def test_border_and_unconverged_atoms_are_counted_and_drawn(run):
    t, summary = run["table"], run["summary"]
    n_unconverged = int(np.sum(t["converged"] == 0))
    assert n_unconverged > 0  # the scene cuts columns at the edges
    # the border rule, independently: a centre lies farther from the image
    # edge than its farthest (k-th) neighbour plus half the median
    # nearest-neighbour distance
    pts = np.column_stack([t["x"], t["y"]])
    k = summary["n_neighbours"]
    d = cKDTree(pts).query(pts, k=k + 1)[0]
    lo, hi = -0.5 * SCALE, (np.array(SHAPE[::-1]) - 0.5) * SCALE
    edge = np.min(np.column_stack([pts - lo, hi - pts]), axis=1)
    n_border = int(np.sum(edge < d[:, k] + 0.5 * np.median(d[:, 1])))
    assert (summary["n_unconverged"], summary["n_border"]) == (n_unconverged, n_border)

    ax = _atom_axes(run["figures"]["atoms.png"])
    texts = [tx.get_text() for tx in ax.get_legend().get_texts()]
    assert texts[-2:] == [
        f"not a centre (neighbourhood crosses the edge): {n_border}",
        f"fit not converged: {n_unconverged}",
    ]
    crosses = next(c for c in ax.collections if c.get_label().startswith("fit not"))
    failed = pts[t["converged"] == 0]
    assert sorted(map(tuple, np.round(crosses.get_offsets(), 9))) == sorted(
        map(tuple, np.round(failed, 9))
    )
    html = (run["out"] / "report.html").read_text()
    assert f"<td>{n_border}</td>" in html and f"<td>{n_unconverged}</td>" in html


def test_compile_time_is_reported_apart(run):
    times = run["summary"]["times_s"]
    assert list(times)[:3] == ["compile_s", "find_s", "refine_s"]
    assert times["compile_s"] >= 0  # 0 when an earlier test compiled
    html = (run["out"] / "report.html").read_text()
    line = re.search(r"times without compilation \(s\)</th><td>([^<]*)<", html)
    assert line and "compile" not in line.group(1) and "refine" in line.group(1)
    assert "numba compilation" in html


def test_compile_warm_up_runs_once_per_process_and_kind(monkeypatch):
    s, *_ = _scene()
    monkeypatch.setattr(report, "_COMPILED", set())
    calls = []
    find = type(s).find_atoms

    def spy(self, *args, **kwargs):
        calls.append(self.data.dtype)
        return find(self, *args, **kwargs)

    monkeypatch.setattr(type(s), "find_atoms", spy)
    assert report._compile_time(s, None) > 0
    assert calls == [np.dtype(float)]  # the tiny image, in the image's dtype
    assert report._compile_time(s, None) == 0.0 and len(calls) == 1
    s.change_dtype("uint16")
    assert report._compile_time(s, None) > 0
    assert calls == [np.dtype(float), np.dtype("uint16")]


def test_dendrogram_without_cluster_results_colours_its_own_cut(run):
    nb = run["nb"].deepcopy()
    nb.learning_results.cluster_labels = None
    fig, ax = plt.subplots()
    nb.plot_dendrogram(n_clusters=2, ax=ax)
    Z = hierarchy.linkage(nb.data, method="ward")
    raw = hierarchy.fcluster(Z, 2, criterion="maxclust")
    big = np.bincount(raw).argmax()  # class 0: the larger group
    labels = np.where(raw == big, 0, 1)
    tree = hierarchy.dendrogram(Z, truncate_mode="lastp", p=30, no_plot=True)
    _, nodes = hierarchy.to_tree(Z, rd=True)
    expected = []
    for leaf in tree["leaves"]:
        classes = set(labels[nodes[leaf].pre_order()].tolist())
        expected.append(TAB10[classes.pop()] if len(classes) == 1 else MIXED)
    assert [_hex(t.get_color()) for t in ax.get_xticklabels()] == expected
    assert set(expected) == {TAB10[0], TAB10[1]}  # a cut never mixes a leaf
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["class 0", "class 1"]
    plt.close(fig)


def test_cluster_markers_use_the_palette_beyond_seven_classes_and_grey(run):
    nb = run["nb"].deepcopy()
    n = nb.axes_manager.navigation_size
    labels = np.arange(n) % 10 - 1  # -1 (in no cluster), 0 .. 8
    onehot = np.zeros((9, n), bool)
    onehot[labels[labels >= 0], np.flatnonzero(labels >= 0)] = True
    nb.learning_results.cluster_labels = onehot
    drawn = [_hex(c) for c in np.asarray(nb.get_cluster_markers().kwargs["color"])]
    assert drawn == [_hex(NONE_COLOUR) if c < 0 else TAB10[c] for c in labels]


def test_map_dots_are_sized_by_the_nearest_neighbour_distance():
    # a dot a third of the nearest-neighbour distance d across, or up to half
    # of it where a third is under 6 points (dense images: 4,000 columns).
    # Axes of 4 in (288 pt) for 10 units: d in points is 28.8 d.
    from hyperspy_localcryst.report.figures import _marker_size

    # d -> dot diameter (pt): 28.8/3; half of 2.88; half of 7.2; capped at 6
    for d, diameter in ((1.0, 9.6), (0.1, 1.44), (0.25, 3.6), (0.5, 6.0)):
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.set_position([0, 0, 1, 1])
        ax.set_xlim(0, 10)
        ax.set_ylim(0, 10)
        x, y = np.meshgrid(np.arange(0, 10, d), np.arange(0, 10, d))
        area = _marker_size(ax, x.ravel(), y.ravel())
        assert np.sqrt(area) == pytest.approx(diameter, rel=1e-6), d
        plt.close(fig)
