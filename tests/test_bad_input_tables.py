"""Issue 17, point 6, tables: every argument of the table signals is checked.

One table per class of bad argument, one row per method and argument of
:class:`AtomPositions` and :class:`AtomNeighbourhoods`: NaN/inf inside numbers
and tuples, wrong container types, non-bool for bool, float for int,
negative/zero/out-of-range values, strings for numbers, more
clusters/neighbours/sublattices than rows, unknown option strings and column
names, frames outside the stack, memory-heavy sizes and absurd marker sizes.
Each row asserts the exception type, that the message names the argument in
backticks, and that the signal is unchanged; memory cases also assert the
estimate in the message and that the refusal is immediate.
"""

import re
import time
import warnings

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_localcryst.data import synthetic_lattice
from hyperspy_localcryst.signals.atom_neighbourhoods import AtomNeighbourhoods
from hyperspy_localcryst.signals.atom_positions import make_atom_positions

from ._helpers import assert_unchanged, snapshot

NAN = float("nan")
INF = float("inf")
REGION = (0.0, 0.0, 1.2, 1.2)
#: a memory estimate as check_memory writes it, e.g. "needs 7.28 TiB"
ESTIMATE = re.compile(r"needs [\d.]+ (B|[KMGTPE]iB) of memory")


@pytest.fixture(scope="module")
def obj():
    """The signals the tables call, made once (every call leaves them as they
    are: the tests check it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        stack = hs.stack([synthetic_lattice((96, 96), seed=k) for k in (0, 1)])
        series = stack.find_atoms(show_progressbar=False)
        linked = series.link_frames()
        nb = atoms.get_neighbourhoods(4)
        learned = nb.deepcopy()
        learned.decomposition(print_info=False)
        learned.cluster_analysis(n_clusters=2)
        stack_nb = series.get_neighbourhoods(4)
        stack_nb.decomposition(print_info=False)
        stack_nb.cluster_analysis(n_clusters=2)
    return {
        "atoms": atoms,
        "series": series,
        "linked": linked,
        "disp": linked.get_displacements(),
        "nb": nb,
        "learned": learned,
        "stack_nb": stack_nb,
        "si": hs.signals.Signal1D(np.ones((16, 16, 10))),
    }


def _raises(signal, exc, name, call):
    """``call(signal)`` raises ``exc`` naming `name`; ``signal`` is unchanged.

    Returns the message.
    """
    before = snapshot(signal)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc) as info:
            call(signal)
    message = str(info.value)
    assert f"`{name}`" in message, message
    assert_unchanged(signal, before)
    return message


def _cases(rows):
    """``pytest.param``s of ``(id, fixture key, call, exception, name)`` rows."""
    return [
        pytest.param(key, call, exc, name, id=i) for i, key, call, exc, name in rows
    ]


def _n(o, key):
    """One zero per row of the neighbourhood signal ``key``."""
    return np.zeros(len(o[key].data))


def _run(obj, key, call, exc, name):
    s = obj[key]
    return _raises(s, exc, name, lambda sig: call(sig, obj))


# ============================================= NaN / inf in numbers and tuples
NON_FINITE = [
    (
        "to_markers-size-nan",
        "atoms",
        lambda s, o: s.to_markers(size=NAN),
        ValueError,
        "size",
    ),
    (
        "to_markers-size-inf",
        "atoms",
        lambda s, o: s.to_markers(size=INF),
        ValueError,
        "size",
    ),
    (
        "to_arrows-scale-nan",
        "disp",
        lambda s, o: s.to_arrows(scale=NAN),
        ValueError,
        "scale",
    ),
    (
        "to_arrows-scale-inf",
        "disp",
        lambda s, o: s.to_arrows(scale=INF),
        ValueError,
        "scale",
    ),
    (
        "link_frames-max_displacement-nan",
        "series",
        lambda s, o: s.link_frames(max_displacement=NAN),
        ValueError,
        "max_displacement",
    ),
    (
        "link_frames-max_displacement-inf",
        "series",
        lambda s, o: s.link_frames(max_displacement=INF),
        ValueError,
        "max_displacement",
    ),
    (
        "link_frames-shifts-nan",
        "series",
        lambda s, o: s.link_frames(shifts=[[NAN, 0.0], [0.0, 0.0]]),
        ValueError,
        "shifts",
    ),
    (
        "get_neighbourhoods-radius-nan",
        "atoms",
        lambda s, o: s.get_neighbourhoods(4, radius=NAN),
        ValueError,
        "radius",
    ),
    (
        "get_neighbourhoods-border-inf",
        "atoms",
        lambda s, o: s.get_neighbourhoods(4, border=INF),
        ValueError,
        "border",
    ),
    (
        "get_neighbourhoods-angle_tolerance-nan",
        "atoms",
        lambda s, o: s.get_neighbourhoods(4, angle_tolerance=NAN),
        ValueError,
        "angle_tolerance",
    ),
    (
        "fill_missing-value-nan",
        "learned",
        lambda s, o: s.fill_missing(NAN),
        ValueError,
        "value",
    ),
    (
        "fill_missing-value-inf",
        "learned",
        lambda s, o: s.fill_missing(INF),
        ValueError,
        "value",
    ),
    (
        "get_map-max_distance-nan",
        "learned",
        lambda s, o: s.get_map(_n(o, "learned"), max_distance=NAN),
        ValueError,
        "max_distance",
    ),
    (
        "get_map-max_distance-inf",
        "learned",
        lambda s, o: s.get_map(_n(o, "learned"), max_distance=INF),
        ValueError,
        "max_distance",
    ),
    (
        "get_cluster_map-max_distance-inf",
        "learned",
        lambda s, o: s.get_cluster_map(max_distance=INF),
        ValueError,
        "max_distance",
    ),
    (
        "get_spectral_map-max_distance-inf",
        "learned",
        lambda s, o: s.get_spectral_map(
            o["si"], window=(2, 5), max_distance=INF, region=REGION
        ),
        ValueError,
        "max_distance",
    ),
    (
        "get_vector_histogram-extent-nan",
        "learned",
        lambda s, o: s.get_vector_histogram(extent=(NAN, 1, -1, 1)),
        ValueError,
        "extent",
    ),
    (
        "get_vector_histogram-extent-inf",
        "learned",
        lambda s, o: s.get_vector_histogram(extent=(0, 1, 0, INF)),
        ValueError,
        "extent",
    ),
    (
        "get_vector_histogram-bins-nan",
        "learned",
        lambda s, o: s.get_vector_histogram(bins=(NAN, 10)),
        ValueError,
        "bins",
    ),
    (
        "get_cluster_fft-shape-nan",
        "learned",
        lambda s, o: s.get_cluster_fft(shape=(NAN, 64)),
        ValueError,
        "shape",
    ),
    (
        "plot_modes-scale-nan",
        "learned",
        lambda s, o: s.plot_modes(scale=NAN),
        ValueError,
        "scale",
    ),
    (
        "plot_modes-scale-inf",
        "learned",
        lambda s, o: s.plot_modes(scale=INF),
        ValueError,
        "scale",
    ),
]


@pytest.mark.parametrize("key, call, exc, name", _cases(NON_FINITE))
def test_non_finite_numbers(obj, key, call, exc, name):
    _run(obj, key, call, exc, name)


# ================================================== wrong container types
CONTAINERS = [
    (
        "add_columns-columns-str-values",
        "atoms",
        lambda s, o: s.add_columns({"q": "abc"}),
        TypeError,
        "columns",
    ),
    (
        "add_columns-units-not-str",
        "atoms",
        lambda s, o: s.add_columns({"q": np.ones(s.n_atoms)}, {"q": 3}),
        TypeError,
        "units",
    ),
    ("select-mask-set", "atoms", lambda s, o: s.select({1, 2}), TypeError, "mask"),
    (
        "select-mask-2d",
        "atoms",
        lambda s, o: s.select(np.ones((s.n_atoms, 1), bool)),
        TypeError,
        "mask",
    ),
    (
        "get_frame_statistics-columns-set",
        "atoms",
        lambda s, o: s.get_frame_statistics({"x"}),
        TypeError,
        "columns",
    ),
    (
        "get_frame_statistics-columns-int",
        "atoms",
        lambda s, o: s.get_frame_statistics(3),
        TypeError,
        "columns",
    ),
    (
        "link_frames-shifts-dict",
        "series",
        lambda s, o: s.link_frames(shifts={}),
        TypeError,
        "shifts",
    ),
    (
        "link_frames-shifts-scalar",
        "series",
        lambda s, o: s.link_frames(shifts=1),
        ValueError,
        "shifts",
    ),
    (
        "get_frame-index-list",
        "series",
        lambda s, o: s.get_frame([0]),
        TypeError,
        "index",
    ),
    (
        "get_class_spectra-column-dict",
        "atoms",
        lambda s, o: s.get_class_spectra(o["si"], {1: 2}, region=REGION),
        TypeError,
        "column",
    ),
    (
        "get_class_spectra-column-scalar",
        "atoms",
        lambda s, o: s.get_class_spectra(o["si"], 3, region=REGION),
        TypeError,
        "column",
    ),
    ("to_csv-path-dict", "atoms", lambda s, o: s.to_csv({}), ValueError, "path"),
    (
        "to_markers-cmap-int",
        "atoms",
        lambda s, o: s.to_markers(cmap=3),
        TypeError,
        "cmap",
    ),
    ("get_map-values-dict", "learned", lambda s, o: s.get_map({}), TypeError, "values"),
    (
        "get_map-values-none",
        "learned",
        lambda s, o: s.get_map(None),
        TypeError,
        "values",
    ),
    (
        "get_map-values-complex",
        "learned",
        lambda s, o: s.get_map(_n(o, "learned") + 1j),
        TypeError,
        "values",
    ),
    (
        "get_markers-values-str",
        "learned",
        lambda s, o: s.get_markers("abc"),
        TypeError,
        "values",
    ),
    (
        "plot_modes-components-set",
        "learned",
        lambda s, o: s.plot_modes({1}),
        TypeError,
        "components",
    ),
    (
        "plot_modes-components-str",
        "learned",
        lambda s, o: s.plot_modes("ab"),
        TypeError,
        "components",
    ),
    (
        "plot_dendrogram-ax-str",
        "learned",
        lambda s, o: s.plot_dendrogram(ax="a"),
        TypeError,
        "ax",
    ),
    (
        "get_vector_histogram-extent-set",
        "learned",
        lambda s, o: s.get_vector_histogram(extent={1, 2, 3, 4}),
        TypeError,
        "extent",
    ),
    (
        "get_vector_histogram-extent-str",
        "learned",
        lambda s, o: s.get_vector_histogram(extent="abcd"),
        TypeError,
        "extent",
    ),
    (
        "get_vector_histogram-bins-set",
        "learned",
        lambda s, o: s.get_vector_histogram(bins={10, 20}),
        ValueError,
        "bins",
    ),
    (
        "get_cluster_fft-shape-set",
        "learned",
        lambda s, o: s.get_cluster_fft(shape={64, 32}),
        ValueError,
        "shape",
    ),
    (
        "get_frame_statistics-values-dict",
        "stack_nb",
        lambda s, o: s.get_frame_statistics({"x": 1}),
        TypeError,
        "values",
    ),
    (
        "get_frame_statistics-values-scalar",
        "stack_nb",
        lambda s, o: s.get_frame_statistics(3),
        TypeError,
        "values",
    ),
    (
        "get_frame_statistics-names-str",
        "stack_nb",
        lambda s, o: s.get_frame_statistics("signal", names="ab"),
        TypeError,
        "names",
    ),
    (
        "get_cluster_spectra-labels-str",
        "learned",
        lambda s, o: s.get_cluster_spectra(o["si"], labels="a", region=REGION),
        TypeError,
        "labels",
    ),
    (
        "cluster_analysis-navigation_mask-str",
        "nb",
        lambda s, o: s.cluster_analysis(n_clusters=2, navigation_mask="a"),
        TypeError,
        "navigation_mask",
    ),
    (
        "cluster_analysis-navigation_mask-float",
        "nb",
        lambda s, o: s.cluster_analysis(n_clusters=2, navigation_mask=_n(o, "nb")),
        TypeError,
        "navigation_mask",
    ),
    (
        "cluster_analysis-signal_mask-str",
        "nb",
        lambda s, o: s.cluster_analysis(n_clusters=2, signal_mask="a"),
        TypeError,
        "signal_mask",
    ),
    (
        "cluster_analysis-algorithm-list",
        "nb",
        lambda s, o: s.cluster_analysis(n_clusters=2, algorithm=["kmeans"]),
        TypeError,
        "algorithm",
    ),
    (
        "cluster_analysis-cluster_source-int",
        "nb",
        lambda s, o: s.cluster_analysis(3, n_clusters=2),
        TypeError,
        "cluster_source",
    ),
    (
        "estimate_number_of_clusters-navigation_mask-set",
        "nb",
        lambda s, o: s.estimate_number_of_clusters(max_clusters=3, navigation_mask={1}),
        TypeError,
        "navigation_mask",
    ),
    (
        "estimate_number_of_clusters-algorithm-object",
        "nb",
        lambda s, o: s.estimate_number_of_clusters(max_clusters=3, algorithm=object()),
        TypeError,
        "algorithm",
    ),
    (
        "decomposition-navigation_mask-float",
        "nb",
        lambda s, o: s.decomposition(navigation_mask=0.5, print_info=False),
        TypeError,
        "navigation_mask",
    ),
    (
        "decomposition-algorithm-int",
        "nb",
        lambda s, o: s.decomposition(algorithm=3, print_info=False),
        TypeError,
        "algorithm",
    ),
]


@pytest.mark.parametrize("key, call, exc, name", _cases(CONTAINERS))
def test_wrong_containers(obj, key, call, exc, name):
    _run(obj, key, call, exc, name)


# ===================================================== non-bool for bool
NON_BOOL = [
    (
        "to_csv-overwrite",
        "atoms",
        lambda s, o: s.to_csv(None, overwrite="yes"),
        TypeError,
        "overwrite",
    ),
    (
        "get_neighbourhoods-exclude_border",
        "atoms",
        lambda s, o: s.get_neighbourhoods(4, exclude_border="no"),
        TypeError,
        "exclude_border",
    ),
    (
        "get_class_spectra-allow_empty",
        "atoms",
        lambda s, o: s.get_class_spectra(
            o["si"], "sublattice", allow_empty="no", region=REGION
        ),
        TypeError,
        "allow_empty",
    ),
    (
        "get_vector_histogram-by_cluster",
        "learned",
        lambda s, o: s.get_vector_histogram(by_cluster=1),
        TypeError,
        "by_cluster",
    ),
    (
        "get_cluster_fft-window",
        "learned",
        lambda s, o: s.get_cluster_fft(window="no"),
        TypeError,
        "window",
    ),
    (
        "decomposition-normalize_poissonian_noise",
        "nb",
        lambda s, o: s.decomposition(normalize_poissonian_noise="no"),
        TypeError,
        "normalize_poissonian_noise",
    ),
    (
        "cluster_analysis-return_info",
        "nb",
        lambda s, o: s.cluster_analysis(n_clusters=2, return_info="yes"),
        TypeError,
        "return_info",
    ),
    (
        "estimate_number_of_clusters-show_progressbar",
        "nb",
        lambda s, o: s.estimate_number_of_clusters(max_clusters=3, show_progressbar=1),
        TypeError,
        "show_progressbar",
    ),
]


@pytest.mark.parametrize("key, call, exc, name", _cases(NON_BOOL))
def test_non_bool_for_bool(obj, key, call, exc, name):
    _run(obj, key, call, exc, name)


# ============================================================ float for int
FLOAT_FOR_INT = [
    (
        "label_sublattices-n_sublattices",
        "atoms",
        lambda s, o: s.label_sublattices(2.0, "peak"),
        TypeError,
        "n_sublattices",
    ),
    (
        "label_sublattices-seed",
        "atoms",
        lambda s, o: s.label_sublattices(2, "peak", seed=1.5),
        TypeError,
        "seed",
    ),
    (
        "get_neighbourhoods-n_neighbours",
        "atoms",
        lambda s, o: s.get_neighbourhoods(4.0),
        ValueError,
        "n_neighbours",
    ),
    (
        "link_frames-memory",
        "series",
        lambda s, o: s.link_frames(memory=1.0),
        ValueError,
        "memory",
    ),
    ("get_frame-index", "series", lambda s, o: s.get_frame(1.0), TypeError, "index"),
    (
        "get_frame-index-tuple",
        "series",
        lambda s, o: s.get_frame((1.0,)),
        TypeError,
        "index",
    ),
    (
        "get_displacements-frame_a",
        "linked",
        lambda s, o: s.get_displacements(0.0),
        TypeError,
        "frame_a",
    ),
    (
        "get_displacements-frame_b",
        "linked",
        lambda s, o: s.get_displacements(0, 1.0),
        TypeError,
        "frame_b",
    ),
    (
        "get_map-frame",
        "stack_nb",
        lambda s, o: s.get_map(_n(o, "stack_nb"), frame=1.0),
        TypeError,
        "frame",
    ),
    (
        "plot_dendrogram-truncate",
        "learned",
        lambda s, o: s.plot_dendrogram(truncate=1.5),
        TypeError,
        "truncate",
    ),
    (
        "plot_dendrogram-n_clusters",
        "learned",
        lambda s, o: s.plot_dendrogram(2.0),
        TypeError,
        "n_clusters",
    ),
    (
        "get_linkage-n_samples",
        "learned",
        lambda s, o: s.get_linkage(n_samples=2.5),
        TypeError,
        "n_samples",
    ),
    (
        "get_linkage-seed",
        "learned",
        lambda s, o: s.get_linkage(seed=0.5),
        TypeError,
        "seed",
    ),
    (
        "plot_modes-components",
        "learned",
        lambda s, o: s.plot_modes(1.0),
        TypeError,
        "components",
    ),
    (
        "plot_modes-components-tuple",
        "learned",
        lambda s, o: s.plot_modes((1.0,)),
        TypeError,
        "components",
    ),
    (
        "get_loading_map-component",
        "learned",
        lambda s, o: s.get_loading_map(1.0),
        TypeError,
        "component",
    ),
    (
        "get_mode_properties-n_components",
        "learned",
        lambda s, o: s.get_mode_properties(2.0),
        TypeError,
        "n_components",
    ),
    (
        "get_vector_histogram-bins",
        "learned",
        lambda s, o: s.get_vector_histogram(bins=10.0),
        ValueError,
        "bins",
    ),
    (
        "get_cluster_fft-shape",
        "learned",
        lambda s, o: s.get_cluster_fft(shape=(64.0, 64)),
        ValueError,
        "shape",
    ),
    (
        "cluster_analysis-n_clusters",
        "nb",
        lambda s, o: s.cluster_analysis(n_clusters=2.0),
        TypeError,
        "n_clusters",
    ),
    (
        "cluster_analysis-number_of_components",
        "nb",
        lambda s, o: s.cluster_analysis(n_clusters=2, number_of_components=1.5),
        TypeError,
        "number_of_components",
    ),
    (
        "estimate_number_of_clusters-max_clusters",
        "nb",
        lambda s, o: s.estimate_number_of_clusters(max_clusters=3.0),
        TypeError,
        "max_clusters",
    ),
    (
        "estimate_number_of_clusters-n_ref",
        "nb",
        lambda s, o: s.estimate_number_of_clusters(max_clusters=3, n_ref=1.5),
        TypeError,
        "n_ref",
    ),
    (
        "decomposition-output_dimension",
        "nb",
        lambda s, o: s.decomposition(output_dimension=2.5, print_info=False),
        TypeError,
        "output_dimension",
    ),
]


@pytest.mark.parametrize("key, call, exc, name", _cases(FLOAT_FOR_INT))
def test_float_for_int(obj, key, call, exc, name):
    _run(obj, key, call, exc, name)


# ============================================ negative, zero, out of range
OUT_OF_RANGE = [
    (
        "to_markers-size-zero",
        "atoms",
        lambda s, o: s.to_markers(size=0),
        ValueError,
        "size",
    ),
    (
        "to_markers-size-negative",
        "atoms",
        lambda s, o: s.to_markers(size=-2),
        ValueError,
        "size",
    ),
    (
        "to_arrows-scale-zero",
        "disp",
        lambda s, o: s.to_arrows(scale=0),
        ValueError,
        "scale",
    ),
    (
        "to_arrows-scale-negative",
        "disp",
        lambda s, o: s.to_arrows(scale=-1),
        ValueError,
        "scale",
    ),
    (
        "label_sublattices-n_sublattices-zero",
        "atoms",
        lambda s, o: s.label_sublattices(0, "peak"),
        ValueError,
        "n_sublattices",
    ),
    (
        "label_sublattices-seed-negative",
        "atoms",
        lambda s, o: s.label_sublattices(2, "peak", seed=-1),
        ValueError,
        "seed",
    ),
    (
        "get_neighbourhoods-n_neighbours-zero",
        "atoms",
        lambda s, o: s.get_neighbourhoods(0),
        ValueError,
        "n_neighbours",
    ),
    (
        "get_neighbourhoods-radius-negative",
        "atoms",
        lambda s, o: s.get_neighbourhoods(4, radius=-1.0),
        ValueError,
        "radius",
    ),
    (
        "get_neighbourhoods-border-negative",
        "atoms",
        lambda s, o: s.get_neighbourhoods(4, border=-1.0),
        ValueError,
        "border",
    ),
    (
        "get_neighbourhoods-angle_tolerance-90",
        "atoms",
        lambda s, o: s.get_neighbourhoods(4, angle_tolerance=90.0),
        ValueError,
        "angle_tolerance",
    ),
    ("select-mask-index", "atoms", lambda s, o: s.select([0, 999]), ValueError, "mask"),
    (
        "get_class_spectra-column-length",
        "atoms",
        lambda s, o: s.get_class_spectra(o["si"], np.zeros(3), region=REGION),
        ValueError,
        "column",
    ),
    (
        "link_frames-max_displacement-zero",
        "series",
        lambda s, o: s.link_frames(max_displacement=0),
        ValueError,
        "max_displacement",
    ),
    (
        "link_frames-memory-negative",
        "series",
        lambda s, o: s.link_frames(memory=-1),
        ValueError,
        "memory",
    ),
    (
        "link_frames-shifts-shape",
        "series",
        lambda s, o: s.link_frames(shifts=np.zeros((3, 2))),
        ValueError,
        "shifts",
    ),
    (
        "get_frame-index-tuple-length",
        "series",
        lambda s, o: s.get_frame((0, 0)),
        ValueError,
        "index",
    ),
    (
        "plot_dendrogram-truncate-negative",
        "learned",
        lambda s, o: s.plot_dendrogram(truncate=-1),
        ValueError,
        "truncate",
    ),
    (
        "plot_dendrogram-n_clusters-zero",
        "learned",
        lambda s, o: s.plot_dendrogram(0),
        ValueError,
        "n_clusters",
    ),
    (
        "get_linkage-n_samples-one",
        "learned",
        lambda s, o: s.get_linkage(n_samples=1),
        ValueError,
        "n_samples",
    ),
    (
        "get_linkage-seed-negative",
        "learned",
        lambda s, o: s.get_linkage(seed=-1),
        ValueError,
        "seed",
    ),
    (
        "plot_modes-components-range",
        "learned",
        lambda s, o: s.plot_modes((0, 99)),
        ValueError,
        "components",
    ),
    (
        "plot_modes-scale-zero",
        "learned",
        lambda s, o: s.plot_modes(scale=0),
        ValueError,
        "scale",
    ),
    (
        "plot_modes-scale-negative",
        "learned",
        lambda s, o: s.plot_modes(scale=-1),
        ValueError,
        "scale",
    ),
    (
        "get_loading_map-component-range",
        "learned",
        lambda s, o: s.get_loading_map(99),
        ValueError,
        "component",
    ),
    (
        "get_mode_properties-n_components-zero",
        "learned",
        lambda s, o: s.get_mode_properties(0),
        ValueError,
        "n_components",
    ),
    (
        "get_vector_histogram-bins-zero",
        "learned",
        lambda s, o: s.get_vector_histogram(bins=0),
        ValueError,
        "bins",
    ),
    (
        "get_vector_histogram-extent-reversed",
        "learned",
        lambda s, o: s.get_vector_histogram(extent=(1, 0, 0, 1)),
        ValueError,
        "extent",
    ),
    (
        "get_cluster_fft-shape-zero",
        "learned",
        lambda s, o: s.get_cluster_fft(shape=(0, 64)),
        ValueError,
        "shape",
    ),
    (
        "get_map-max_distance-zero",
        "learned",
        lambda s, o: s.get_map(_n(o, "learned"), max_distance=0),
        ValueError,
        "max_distance",
    ),
    (
        "get_map-values-length",
        "learned",
        lambda s, o: s.get_map(np.arange(3)),
        ValueError,
        "values",
    ),
    (
        "get_frame_statistics-names-length",
        "stack_nb",
        lambda s, o: s.get_frame_statistics("signal", names=["a"]),
        ValueError,
        "names",
    ),
    (
        "cluster_analysis-n_clusters-zero",
        "nb",
        lambda s, o: s.cluster_analysis(n_clusters=0),
        ValueError,
        "n_clusters",
    ),
    (
        "cluster_analysis-navigation_mask-size",
        "nb",
        lambda s, o: s.cluster_analysis(
            n_clusters=2, navigation_mask=np.zeros(3, bool)
        ),
        ValueError,
        "navigation_mask",
    ),
    (
        "cluster_analysis-navigation_mask-all",
        "nb",
        lambda s, o: s.cluster_analysis(
            n_clusters=2, navigation_mask=np.ones(len(s.data), bool)
        ),
        ValueError,
        "navigation_mask",
    ),
    (
        "estimate_number_of_clusters-max_clusters-one",
        "nb",
        lambda s, o: s.estimate_number_of_clusters(max_clusters=1),
        ValueError,
        "max_clusters",
    ),
    (
        "estimate_number_of_clusters-n_ref-zero",
        "nb",
        lambda s, o: s.estimate_number_of_clusters(max_clusters=3, n_ref=0),
        ValueError,
        "n_ref",
    ),
    (
        "decomposition-output_dimension-zero",
        "nb",
        lambda s, o: s.decomposition(output_dimension=0, print_info=False),
        ValueError,
        "output_dimension",
    ),
]


@pytest.mark.parametrize("key, call, exc, name", _cases(OUT_OF_RANGE))
def test_negative_zero_out_of_range(obj, key, call, exc, name):
    _run(obj, key, call, exc, name)


# ========================================================= strings for numbers
STRINGS = [
    (
        "to_markers-size",
        "atoms",
        lambda s, o: s.to_markers(size="5"),
        TypeError,
        "size",
    ),
    (
        "to_arrows-scale",
        "disp",
        lambda s, o: s.to_arrows(scale="2"),
        TypeError,
        "scale",
    ),
    (
        "label_sublattices-n_sublattices",
        "atoms",
        lambda s, o: s.label_sublattices("2", "peak"),
        TypeError,
        "n_sublattices",
    ),
    (
        "get_neighbourhoods-n_neighbours",
        "atoms",
        lambda s, o: s.get_neighbourhoods("4"),
        ValueError,
        "n_neighbours",
    ),
    (
        "get_neighbourhoods-radius",
        "atoms",
        lambda s, o: s.get_neighbourhoods(4, radius="0.3"),
        TypeError,
        "radius",
    ),
    (
        "link_frames-max_displacement",
        "series",
        lambda s, o: s.link_frames(max_displacement="0.1"),
        TypeError,
        "max_displacement",
    ),
    (
        "link_frames-memory",
        "series",
        lambda s, o: s.link_frames(memory="1"),
        ValueError,
        "memory",
    ),
    ("get_frame-index", "series", lambda s, o: s.get_frame("1"), TypeError, "index"),
    (
        "get_map-max_distance",
        "learned",
        lambda s, o: s.get_map(_n(o, "learned"), max_distance="1"),
        TypeError,
        "max_distance",
    ),
    (
        "fill_missing-value",
        "learned",
        lambda s, o: s.fill_missing("0"),
        TypeError,
        "value",
    ),
    (
        "plot_modes-scale",
        "learned",
        lambda s, o: s.plot_modes(scale="2"),
        TypeError,
        "scale",
    ),
    (
        "plot_dendrogram-n_clusters",
        "learned",
        lambda s, o: s.plot_dendrogram("2"),
        TypeError,
        "n_clusters",
    ),
    (
        "plot_dendrogram-truncate",
        "learned",
        lambda s, o: s.plot_dendrogram(truncate="5"),
        TypeError,
        "truncate",
    ),
    (
        "get_linkage-n_samples",
        "learned",
        lambda s, o: s.get_linkage(n_samples="10"),
        TypeError,
        "n_samples",
    ),
    (
        "get_vector_histogram-bins",
        "learned",
        lambda s, o: s.get_vector_histogram(bins="10"),
        ValueError,
        "bins",
    ),
    (
        "get_loading_map-component",
        "learned",
        lambda s, o: s.get_loading_map("1"),
        TypeError,
        "component",
    ),
    (
        "get_mode_properties-n_components",
        "learned",
        lambda s, o: s.get_mode_properties("2"),
        TypeError,
        "n_components",
    ),
    (
        "cluster_analysis-n_clusters",
        "nb",
        lambda s, o: s.cluster_analysis(n_clusters="2"),
        TypeError,
        "n_clusters",
    ),
    (
        "estimate_number_of_clusters-max_clusters",
        "nb",
        lambda s, o: s.estimate_number_of_clusters(max_clusters="3"),
        TypeError,
        "max_clusters",
    ),
]


@pytest.mark.parametrize("key, call, exc, name", _cases(STRINGS))
def test_strings_for_numbers(obj, key, call, exc, name):
    _run(obj, key, call, exc, name)


# ========================= more clusters, neighbours, sublattices than rows
MORE_THAN_ROWS = [
    (
        "label_sublattices-n_sublattices",
        "atoms",
        lambda s, o: s.label_sublattices(1000, "peak"),
        ValueError,
        "n_sublattices",
    ),
    (
        "get_neighbourhoods-n_neighbours",
        "atoms",
        lambda s, o: s.get_neighbourhoods(1000),
        ValueError,
        "n_neighbours",
    ),
    (
        "cluster_analysis-n_clusters",
        "nb",
        lambda s, o: s.cluster_analysis(n_clusters=1000),
        ValueError,
        "n_clusters",
    ),
    (
        "cluster_analysis-n_clusters-kmedians",
        "nb",
        lambda s, o: s.cluster_analysis(n_clusters=1000, algorithm="kmedians"),
        ValueError,
        "n_clusters",
    ),
    (
        "cluster_analysis-n_clusters-masked",
        "nb",
        lambda s, o: s.cluster_analysis(
            n_clusters=len(s.data), navigation_mask=np.arange(len(s.data)) == 0
        ),
        ValueError,
        "n_clusters",
    ),
    (
        "cluster_analysis-number_of_components",
        "learned",
        lambda s, o: s.cluster_analysis(
            "decomposition", n_clusters=2, number_of_components=100
        ),
        ValueError,
        "number_of_components",
    ),
    (
        "estimate_number_of_clusters-max_clusters",
        "nb",
        lambda s, o: s.estimate_number_of_clusters(max_clusters=1000),
        ValueError,
        "max_clusters",
    ),
    (
        "estimate_number_of_clusters-max_clusters-default",
        "nb",
        lambda s, o: s.estimate_number_of_clusters(),  # 10 > the 9 centres
        ValueError,
        "max_clusters",
    ),
    (
        "estimate_number_of_clusters-max_clusters-silhouette",
        "nb",
        lambda s, o: s.estimate_number_of_clusters(
            max_clusters=len(s.data), metric="silhouette"
        ),
        ValueError,
        "max_clusters",
    ),
    (
        "plot_dendrogram-n_clusters",
        "learned",
        lambda s, o: s.plot_dendrogram(1000),
        ValueError,
        "n_clusters",
    ),
    (
        "get_mode_properties-n_components",
        "learned",
        lambda s, o: s.get_mode_properties(99),
        ValueError,
        "n_components",
    ),
]


@pytest.mark.parametrize("key, call, exc, name", _cases(MORE_THAN_ROWS))
def test_more_than_rows(obj, key, call, exc, name):
    message = _run(obj, key, call, exc, name)
    assert re.search(r"more than|larger than|at least", message), message


# ================================================== unknown option strings
UNKNOWN_OPTIONS = [
    (
        "get_neighbourhoods-metric",
        "atoms",
        lambda s, o: s.get_neighbourhoods(4, metric="foo"),
        ValueError,
        "metric",
    ),
    (
        "get_frame_statistics-statistic",
        "atoms",
        lambda s, o: s.get_frame_statistics(statistic="foo"),
        ValueError,
        "statistic",
    ),
    (
        "link_frames-shifts",
        "series",
        lambda s, o: s.link_frames(shifts="foo"),
        ValueError,
        "shifts",
    ),
    (
        "to_markers-cmap",
        "atoms",
        lambda s, o: s.to_markers(cmap="nope"),
        ValueError,
        "cmap",
    ),
    (
        "get_cluster_markers-cmap",
        "learned",
        lambda s, o: s.get_cluster_markers(cmap="nope"),
        ValueError,
        "cmap",
    ),
    (
        "get_vectors-basis",
        "learned",
        lambda s, o: s.get_vectors("foo"),
        ValueError,
        "basis",
    ),
    (
        "plot_modes-basis",
        "learned",
        lambda s, o: s.plot_modes(basis="image"),
        ValueError,
        "basis",
    ),
    (
        "get_linkage-source",
        "learned",
        lambda s, o: s.get_linkage(source="foo"),
        ValueError,
        "source",
    ),
    (
        "get_linkage-method",
        "learned",
        lambda s, o: s.get_linkage(method="foo"),
        ValueError,
        "method",
    ),
    (
        "plot_dendrogram-method",
        "learned",
        lambda s, o: s.plot_dendrogram(method="foo"),
        ValueError,
        "method",
    ),
    (
        "get_frame_statistics-nb-statistic",
        "stack_nb",
        lambda s, o: s.get_frame_statistics("signal", "foo"),
        ValueError,
        "statistic",
    ),
    (
        "cluster_analysis-cluster_source",
        "nb",
        lambda s, o: s.cluster_analysis("foo", n_clusters=2),
        ValueError,
        "cluster_source",
    ),
    (
        "cluster_analysis-cluster_source-no-results",
        "nb",
        lambda s, o: s.cluster_analysis("decomposition", n_clusters=2),
        ValueError,
        "cluster_source",
    ),
    (
        "cluster_analysis-source_for_centers",
        "nb",
        lambda s, o: s.cluster_analysis(n_clusters=2, source_for_centers="foo"),
        ValueError,
        "source_for_centers",
    ),
    (
        "cluster_analysis-preprocessing",
        "nb",
        lambda s, o: s.cluster_analysis(n_clusters=2, preprocessing="foo"),
        ValueError,
        "preprocessing",
    ),
    (
        "cluster_analysis-algorithm",
        "nb",
        lambda s, o: s.cluster_analysis(n_clusters=2, algorithm="foo"),
        ValueError,
        "algorithm",
    ),
    (
        "estimate_number_of_clusters-metric",
        "nb",
        lambda s, o: s.estimate_number_of_clusters(max_clusters=3, metric="foo"),
        ValueError,
        "metric",
    ),
    (
        "estimate_number_of_clusters-algorithm",
        "nb",
        lambda s, o: s.estimate_number_of_clusters(max_clusters=3, algorithm="foo"),
        ValueError,
        "algorithm",
    ),
    (
        "estimate_number_of_clusters-preprocessing",
        "nb",
        lambda s, o: s.estimate_number_of_clusters(max_clusters=3, preprocessing="foo"),
        ValueError,
        "preprocessing",
    ),
    (
        "estimate_number_of_clusters-n_clusters",
        "nb",
        lambda s, o: s.estimate_number_of_clusters(max_clusters=3, n_clusters=2),
        ValueError,
        "n_clusters",
    ),
    (
        "decomposition-algorithm",
        "nb",
        lambda s, o: s.decomposition(algorithm="foo", print_info=False),
        ValueError,
        "algorithm",
    ),
]


@pytest.mark.parametrize("key, call, exc, name", _cases(UNKNOWN_OPTIONS))
def test_unknown_options(obj, key, call, exc, name):
    _run(obj, key, call, exc, name)


# ================================================== unknown column names
UNKNOWN_COLUMNS = [
    ("get_column-name", "atoms", lambda s, o: s.get_column("nope"), ValueError, "name"),
    ("get_column-name-int", "atoms", lambda s, o: s.get_column(0), ValueError, "name"),
    (
        "get_column-name-list",
        "atoms",
        lambda s, o: s.get_column(["x"]),
        ValueError,
        "name",
    ),
    (
        "to_markers-colour_by",
        "atoms",
        lambda s, o: s.to_markers(colour_by="nope"),
        ValueError,
        "colour_by",
    ),
    (
        "to_markers-colour_by-int",
        "atoms",
        lambda s, o: s.to_markers(colour_by=3),
        ValueError,
        "colour_by",
    ),
    ("to_arrows-dx", "disp", lambda s, o: s.to_arrows(dx="nope"), ValueError, "dx"),
    ("to_arrows-dy", "disp", lambda s, o: s.to_arrows(dy=3), ValueError, "dy"),
    (
        "get_frame_statistics-columns",
        "atoms",
        lambda s, o: s.get_frame_statistics(["x", "nope"]),
        ValueError,
        "columns",
    ),
    (
        "label_sublattices-column",
        "atoms",
        lambda s, o: s.label_sublattices(2, "nope"),
        ValueError,
        "column",
    ),
    (
        "get_class_spectra-column",
        "atoms",
        lambda s, o: s.get_class_spectra(o["si"], "nope", region=REGION),
        ValueError,
        "column",
    ),
    (
        "get_frame_statistics-values",
        "stack_nb",
        lambda s, o: s.get_frame_statistics(["nope"]),
        ValueError,
        "values",
    ),
]


@pytest.mark.parametrize("key, call, exc, name", _cases(UNKNOWN_COLUMNS))
def test_unknown_columns(obj, key, call, exc, name):
    message = _run(obj, key, call, exc, name)
    assert "Unknown column" in message and "this table has" in message, message


# ======================================== frames outside the stack
FRAMES = [
    ("get_frame-index", "series", lambda s, o: s.get_frame(2), "index"),
    ("get_frame-index-negative", "series", lambda s, o: s.get_frame(-1), "index"),
    (
        "get_displacements-frame_a",
        "linked",
        lambda s, o: s.get_displacements(5),
        "frame_a",
    ),
    (
        "get_displacements-frame_b",
        "linked",
        lambda s, o: s.get_displacements(0, -1),
        "frame_b",
    ),
    (
        "get_map-frame",
        "stack_nb",
        lambda s, o: s.get_map(_n(o, "stack_nb"), frame=2),
        "frame",
    ),
    (
        "get_cluster_map-frame",
        "stack_nb",
        lambda s, o: s.get_cluster_map(frame=7),
        "frame",
    ),
    (
        "get_loading_map-frame",
        "stack_nb",
        lambda s, o: s.get_loading_map(0, frame=2),
        "frame",
    ),
]


@pytest.mark.parametrize(
    "key, call, name", [pytest.param(k, c, n, id=i) for i, k, c, n in FRAMES]
)
def test_frames_outside_the_stack_name_the_argument_and_range(obj, key, call, name):
    """A frame outside the stack names its own argument (not `index`) and the
    valid range of the two-frame stack."""
    message = _run(obj, key, call, ValueError, name)
    assert "0..1" in message, message


# ================================================== memory-heavy sizes
def _huge_grid(nb):
    """A copy whose image grid is 10⁵ × 10⁵ pixels (80 GB per map)."""
    out = nb.deepcopy()
    table = out.atoms
    for key in ("x", "y"):
        table.metadata.set_item(f"AtomPositions.grid.{key}.size", 10**5)
    out.metadata.set_item("AtomNeighbourhoods.atoms", table)
    return out


def _many_atoms(series, n=150_000):
    """Two frames of ``n`` random atoms each, on the series' grid."""
    rng = np.random.default_rng(0)
    g = series.grid
    w = g["x"]["size"] * g["x"]["scale"]
    return make_atom_positions(
        {
            "x": rng.uniform(0, w, 2 * n),
            "y": rng.uniform(0, w, 2 * n),
            "frame": np.repeat([0.0, 1.0], n),
        },
        series.units,
        g,
        navigation=series.navigation,
    )


MEMORY = [
    (
        "get_vector_histogram-bins",
        lambda o: o["learned"],
        lambda s: s.get_vector_histogram(bins=10**6),
        "bins",
    ),
    (
        "get_vector_histogram-bins-pair",
        lambda o: o["learned"],
        lambda s: s.get_vector_histogram(bins=(10**5, 10**4)),
        "bins",
    ),
    (
        "get_vector_histogram-bins-by_cluster",
        lambda o: o["learned"],
        lambda s: s.get_vector_histogram(bins=10**5, by_cluster=True),
        "bins",
    ),
    (
        "get_cluster_fft-shape",
        lambda o: o["learned"],
        lambda s: s.get_cluster_fft(shape=(10**6, 10**6)),
        "shape",
    ),
    (
        "get_cluster_fft-default-shape-huge-grid",
        lambda o: _huge_grid(o["learned"]),
        lambda s: s.get_cluster_fft(),
        "shape",
    ),
    (
        "get_map-huge-grid",
        lambda o: _huge_grid(o["learned"]),
        lambda s: s.get_map(np.zeros(len(s.data))),
        "metadata.AtomNeighbourhoods.atoms.metadata.AtomPositions.grid",
    ),
    (
        "get_cluster_map-huge-grid",
        lambda o: _huge_grid(o["learned"]),
        lambda s: s.get_cluster_map(),
        "metadata.AtomNeighbourhoods.atoms.metadata.AtomPositions.grid",
    ),
    (
        "get_loading_map-huge-grid",
        lambda o: _huge_grid(o["learned"]),
        lambda s: s.get_loading_map(0),
        "metadata.AtomNeighbourhoods.atoms.metadata.AtomPositions.grid",
    ),
    (
        "get_map-huge-grid-stack",
        lambda o: _huge_grid(o["stack_nb"]),
        lambda s: s.get_map(np.zeros(len(s.data))),
        "metadata.AtomNeighbourhoods.atoms.metadata.AtomPositions.grid",
    ),
    (
        "link_frames-max_displacement",
        lambda o: _many_atoms(o["series"]),
        lambda s: s.link_frames(max_displacement=1e6, shifts=None),
        "max_displacement",
    ),
    (
        "estimate_number_of_clusters-metric",
        lambda o: AtomNeighbourhoods(np.zeros((10**6, 4))),
        lambda s: s.estimate_number_of_clusters(max_clusters=3, metric="gap"),
        "metric",
    ),
]


@pytest.mark.parametrize(
    "make, call, name", [pytest.param(m, c, n, id=i) for i, m, c, n in MEMORY]
)
def test_memory_heavy_requests_are_refused_with_an_estimate(obj, make, call, name):
    """Refused before anything is allocated: the message gives the memory it
    would take, names what sets it, and the refusal takes no time."""
    signal = make(obj)
    start = time.perf_counter()
    with pytest.raises(ValueError) as info:
        call(signal)
    elapsed = time.perf_counter() - start
    message = str(info.value)
    assert ESTIMATE.search(message), message
    assert f"{name}=" in message or f"`{name}`" in message, message
    assert elapsed < 2.0, elapsed


# ============================================ marker sizes that never draw
@pytest.mark.parametrize(
    "key, call",
    [
        pytest.param("atoms", lambda s, o: s.to_markers(size=1e12), id="to_markers"),
        pytest.param(
            "atoms",
            lambda s, o: s.to_markers(size=1e3, units="x"),  # image: 1.28 wide
            id="to_markers-data-units",
        ),
        pytest.param(
            "learned",
            lambda s, o: s.get_markers(_n(o, "learned"), size=1e9),
            id="get_markers",
        ),
        pytest.param(
            "learned",
            lambda s, o: s.get_cluster_markers(size=1e9),
            id="cluster-markers",
        ),
    ],
)
def test_absurd_marker_sizes_are_refused(obj, key, call):
    """``size=1e12`` made Matplotlib draw for minutes; it is refused at once."""
    start = time.perf_counter()
    message = _run(obj, key, call, ValueError, "size")
    assert time.perf_counter() - start < 2.0
    assert "at most" in message, message


def test_checked_arguments_still_work(obj):
    """The checks refuse only bad values: good ones of every kind still run."""
    atoms, linked, learned = obj["atoms"], obj["linked"], obj["learned"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.ravel(atoms.to_markers(size=np.float32(5)).kwargs["sizes"]) == [5]
        assert np.ravel(atoms.to_markers(size=1.0, units="x").kwargs["sizes"]) == [1]
        drift = obj["series"].link_frames().estimate_drift()
        assert "track" in obj["series"].link_frames(shifts=drift).columns
        assert linked.get_displacements(np.int64(0), (1,)).n_atoms > 0
        assert type(obj["disp"].to_arrows(scale=np.float64(10))).__name__ == "Arrows"
        names = ["a", "b"]
        stats = obj["stack_nb"].get_frame_statistics(("x", "y"), names=names)
        assert list(stats.metadata.Signal.names) == names
        mask = np.zeros(len(learned.data), bool)
        mask[0] = True
        nb = obj["nb"].deepcopy()
        nb.cluster_analysis(n_clusters=2, navigation_mask=mask, algorithm="kmedians")
        k = nb.estimate_number_of_clusters(
            max_clusters=len(nb.data), metric="elbow", show_progressbar=False
        )
        assert 1 <= int(k) <= len(nb.data)
        ax = learned.plot_dendrogram(n_clusters=len(learned.data), truncate=0)
        assert ax.get_ylabel().startswith("cluster separation")
        fig = learned.plot_modes(np.array([1, 2]), scale=2.0)
        assert len(fig.axes) == 2
        assert learned.get_vector_histogram(bins=(11, 21)).data.shape == (21, 11)
        assert learned.get_cluster_fft(shape=np.array([32, 48])).data.shape[1:] == (
            32,
            48,
        )


def test_maps_of_every_frame_beyond_memory_name_frame(obj, monkeypatch):
    """All frames' maps that would not fit (each one would): the message
    gives the estimate and advises `frame`; one frame still maps."""
    from hyperspy_localcryst.numerics import _checks

    nb = obj["stack_nb"]
    one_map = 8.0 * 96 * 96
    monkeypatch.setattr(_checks, "available_memory", lambda: 1.5 * one_map)
    message = _raises(nb, ValueError, "frame", lambda s: s.get_map(_n(obj, "stack_nb")))
    assert ESTIMATE.search(message) and "frame=None" in message, message
    assert nb.get_map(_n(obj, "stack_nb"), frame=1).data.shape == (96, 96)
