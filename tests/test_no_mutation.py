"""Nothing lost, nothing changed.

1. No method changes the signal it is called on, nor a signal passed to it:
   data (and dtype), axes, metadata and original_metadata are compared with
   a deep snapshot after every public method of the three signal classes,
   the spectrum-image functions and the neighbourhood library (whose state
   is compared too). HyperSpy's learning methods store their results in
   ``learning_results`` by design; they must still leave data, axes and
   metadata alone.
2. Every result signal survives ``.hspy`` and ``.zspy`` round trips with its
   class, calibration, metadata and learning results, and still works after
   loading.
3. A failure in one frame of a stack, or in one file of a batch, reports that
   item and keeps the others' results.
"""

import copy
import io
import json
import warnings
from contextlib import redirect_stderr, redirect_stdout

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_localcryst import report
from hyperspy_localcryst.cli import main
from hyperspy_localcryst.data.synthetic import make_drift_stack, make_lattice_image
from hyperspy_localcryst.library import NeighbourhoodLibrary
from hyperspy_localcryst.signals.atom_neighbourhoods import AtomNeighbourhoods
from hyperspy_localcryst.signals.atom_positions import AtomPositions
from hyperspy_localcryst.signals.atomic_image import AtomicImage, LazyAtomicImage
from hyperspy_localcryst.signals.si_registration import (
    estimate_si_registration,
    estimate_si_shift,
)

from ._helpers import _equal, assert_unchanged, figures_not_rendered, snapshot


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _calibrate(s, scale=0.01):
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = scale, "nm"
    s.metadata.General.title = "lattice"
    s.metadata.set_item("Signal.quantity", "Counts")
    s.original_metadata.set_item("Detector.gain", 2.5)
    return s


@pytest.fixture(scope="module")
def world():
    """One image, one stack, their tables and learned neighbourhoods."""
    img, _ = make_lattice_image(
        (128, 128),
        spacing=16,
        sigma=3,
        lattice="perovskite",
        sublattice_peaks=(200, 80),
        seed=0,
    )
    image = _calibrate(AtomicImage(img))
    atoms = image.find_atoms()
    refined = _quiet(image.refine_atoms, atoms).label_sublattices(2, "peak")
    nb = refined.get_neighbourhoods(4, metric="angle")
    nb.decomposition(print_info=False)
    nb.cluster_analysis(n_clusters=2)
    frames, _ = make_drift_stack(n_frames=4, shape=(96, 96), seed=0)
    stack = _calibrate(AtomicImage(frames))
    t = stack.axes_manager.navigation_axes[0]
    t.name, t.units, t.scale, t.offset = "time", "s", 0.5, 10.0
    stack_atoms = stack.find_atoms(show_progressbar=False)
    linked = stack_atoms.link_frames()
    stack_nb = linked.get_neighbourhoods(4)
    stack_nb.cluster_analysis(n_clusters=2)
    # a spectrum image over part of the image (uncalibrated spatial axes,
    # calibrated energy, metadata of its own) and its simultaneous image
    rng = np.random.default_rng(0)
    si = hs.signals.Signal1D(rng.poisson(50.0, (16, 16, 60)).astype(float))
    e = si.axes_manager.signal_axes[0]
    e.name, e.units, e.offset, e.scale = "Energy loss", "eV", 400.0, 2.0
    si.metadata.General.title = "SI"
    si.original_metadata.set_item("Microscope.beam_energy", 200)
    haadf = hs.signals.Signal2D(img[20:100, 20:100].copy())
    library = NeighbourhoodLibrary.from_neighbourhoods(nb, names=["a", "b"])
    return {
        "image": image,
        "atoms": atoms,
        "refined": refined,
        "nb": nb,
        "si": si,
        "haadf": haadf,
        "library": library,
        "stack": stack,
        "stack_atoms": stack_atoms,
        "linked": linked,
        "stack_nb": stack_nb,
    }


@pytest.fixture
def w(world):
    """Deep copies, so that a test that (wrongly) changed one cannot leak."""
    out = {}
    for k, v in world.items():
        if k == "library":
            out[k] = copy.deepcopy(v)
            continue
        out[k] = v.deepcopy()
        if hasattr(v, "learning_results"):
            out[k].learning_results = copy.deepcopy(v.learning_results)
    return out


# ============================================================ no mutation
_IMAGE_CALLS = {
    "estimate_separation": lambda w: w["image"].estimate_separation(),
    "find_atoms": lambda w: w["image"].find_atoms(),
    "find_atoms-consensus": lambda w: w["image"].find_atoms(
        method=["template", "log", "local_max"], n_sublattices=2
    ),
    "find_atoms-target": lambda w: w["image"].find_atoms(
        target=[w["image"].isig[20:33, 20:33], (0.4, 0.4)]
    ),
    "refine_atoms": lambda w: w["image"].refine_atoms(w["atoms"]),
    "refine_atoms-elliptical": lambda w: w["image"].refine_atoms(
        w["atoms"], model="elliptical", weights="uniform"
    ),
    "refine_atoms-com": lambda w: w["image"].refine_atoms(w["atoms"], method="com"),
    "normalise_contrast": lambda w: w["image"].normalise_contrast(),
    "denoise": lambda w: w["image"].denoise(),
    "denoise-median": lambda w: w["image"].denoise("median", size=0.03),
    "remove_background": lambda w: w["image"].remove_background(),
    "plot_atoms": lambda w: w["image"].plot_atoms(w["refined"], colour_by="sublattice"),
    "stack-plot_atoms": lambda w: w["stack"].plot_atoms(w["stack_atoms"]),
    "stack-find_atoms": lambda w: w["stack"].find_atoms(show_progressbar=False),
    "stack-refine_atoms": lambda w: w["stack"].refine_atoms(
        w["stack_atoms"], show_progressbar=False
    ),
    "stack-lazy-find_atoms": lambda w: (
        w["stack"].as_lazy().find_atoms(show_progressbar=False)
    ),
    "estimate_drift": lambda w: w["stack"].estimate_drift(),
    "estimate_drift-previous": lambda w: w["stack"].estimate_drift(
        reference="previous"
    ),
    "estimate_drift-mean": lambda w: w["stack"].estimate_drift(reference="mean"),
    "estimate_drift-atoms": lambda w: w["stack"].estimate_drift(
        "atoms", atoms=w["stack_atoms"]
    ),
    "align_frames": lambda w: w["stack"].align_frames(),
    "align_frames-affine": lambda w: w["stack"].align_frames(
        model="affine", atoms=w["linked"]
    ),
    "sum_frames": lambda w: w["stack"].sum_frames(),
    "sum_frames-scan": lambda w: w["stack"].sum_frames(
        model="scan", pixel_time=1e-3, drift=w["stack"].estimate_drift()
    ),
    "image-correct_scan_distortion": lambda w: w["image"].correct_scan_distortion(
        w["refined"].estimate_scan_distortion(sublattice=0)
    ),
}


def _paired(table):
    """A copy of a perovskite table with each B pushed along the diagonal
    towards one A (0.35 of their distance): dumbbells."""
    shift = 0.35 * table._nn_distance() / np.sqrt(2)
    b = table.get_column("sublattice") == 1
    return table.add_columns(
        {"x": table.get_column("x") - shift * b, "y": table.get_column("y") - shift * b}
    )


_TABLE_CALLS = {
    "get_column": lambda w: w["refined"].get_column("x"),
    "get_pixel_positions": lambda w: w["refined"].get_pixel_positions(),
    "add_columns": lambda w: w["refined"].add_columns(
        {"x": np.zeros(w["refined"].n_atoms)}
    ),
    "select": lambda w: w["refined"].select(w["refined"].get_column("sublattice") == 0),
    "label_sublattices": lambda w: w["refined"].label_sublattices(3, "amplitude"),
    "get_neighbourhoods": lambda w: w["refined"].get_neighbourhoods(4),
    "get_neighbourhoods-angle-radius": lambda w: w["refined"].get_neighbourhoods(
        None, metric="angle", radius=0.2
    ),
    "to_dataframe": lambda w: w["refined"].to_dataframe(),
    "to_csv": lambda w: w["refined"].to_csv(None),
    "to_markers": lambda w: w["refined"].to_markers(colour_by="sublattice"),
    "get_frames": lambda w: w["stack_atoms"].get_frames(),
    "get_frame": lambda w: w["stack_atoms"].get_frame(2),
    "get_frame_statistics": lambda w: w["stack_atoms"].get_frame_statistics(),
    "link_frames": lambda w: w["stack_atoms"].link_frames(),
    "link_frames-shifts": lambda w: w["stack_atoms"].link_frames(
        shifts=w["stack"].estimate_drift()
    ),
    "estimate_drift": lambda w: w["linked"].estimate_drift(),
    "get_trajectories": lambda w: w["linked"].get_trajectories(),
    "get_displacements": lambda w: w["linked"].get_displacements(0, 3),
    "to_arrows": lambda w: w["linked"].get_displacements().to_arrows(scale=10),
    "stack-to_markers": lambda w: w["linked"].to_markers(colour_by="track"),
    "stack-get_neighbourhoods": lambda w: w["linked"].get_neighbourhoods(4),
    "get_polarisation": lambda w: w["refined"].get_polarisation(1, 0),
    "plot_polarisation": lambda w: (
        w["refined"].get_polarisation(1, 0).plot_polarisation(w["image"])
    ),
    "get_map": lambda w: w["refined"].get_map("peak"),
    "stack-get_map": lambda w: w["stack_atoms"].get_map("peak"),
    "get_statistics": lambda w: w["refined"].get_statistics("x", by="sublattice"),
    "get_strain": lambda w: w["refined"].get_strain(),
    "count_atoms": lambda w: w["refined"].count_atoms(max_components=3),
    "get_dumbbells": lambda w: _paired(w["refined"]).get_dumbbells(),
    "estimate_scan_distortion": lambda w: w["refined"].estimate_scan_distortion(
        sublattice=0
    ),
    "correct_scan_distortion": lambda w: w["refined"].correct_scan_distortion(
        w["refined"].estimate_scan_distortion(sublattice=0)
    ),
    "stack-get_strain": lambda w: w["stack_atoms"].get_strain(),
}

_NB_CALLS = {
    "atoms": lambda w: w["nb"].atoms,
    "get_centres": lambda w: w["nb"].get_centres(),
    "get_vectors": lambda w: w["nb"].get_vectors("image"),
    "get_missing_mask": lambda w: w["nb"].get_missing_mask(),
    "fill_missing": lambda w: w["nb"].fill_missing(),
    "get_linkage": lambda w: w["nb"].get_linkage(),
    "plot_dendrogram": lambda w: w["nb"].plot_dendrogram(2),
    "get_map": lambda w: w["nb"].get_map(np.arange(len(w["nb"].data))),
    "get_cluster_map": lambda w: w["nb"].get_cluster_map(),
    "get_loading_map": lambda w: w["nb"].get_loading_map(1),
    "get_markers": lambda w: w["nb"].get_markers(np.arange(len(w["nb"].data))),
    "get_cluster_markers": lambda w: w["nb"].get_cluster_markers(),
    "get_cluster_fft": lambda w: w["nb"].get_cluster_fft(),
    "get_vector_histogram": lambda w: w["nb"].get_vector_histogram(by_cluster=True),
    "get_mode_properties": lambda w: w["nb"].get_mode_properties(),
    "plot_modes": lambda w: w["nb"].plot_modes(),
    "get_invariants": lambda w: w["nb"].get_invariants(),
    "plot_decomposition_loadings": lambda w: w["nb"].plot_decomposition_loadings(
        2, with_factors=True
    ),
    "plot_decomposition_results": lambda w: w["nb"].plot_decomposition_results(),
    "get_loading_maps": lambda w: w["nb"].get_loading_maps(2),
    "plot_cluster_labels": lambda w: w["nb"].plot_cluster_labels(with_centers=True),
    "plot_cluster_distances": lambda w: w["nb"].plot_cluster_distances(),
    "plot_cluster_results": lambda w: w["nb"].plot_cluster_results(),
    "get_cluster_distance_maps": lambda w: w["nb"].get_cluster_distance_maps(),
    "stack-plot_cluster_labels": lambda w: w["stack_nb"].plot_cluster_labels(),
    "get_cluster_fractions": lambda w: w["stack_nb"].get_cluster_fractions(),
    "get_frame_statistics": lambda w: w["stack_nb"].get_frame_statistics("invariants"),
    "stack-get_cluster_map": lambda w: w["stack_nb"].get_cluster_map(),
    "decomposition": lambda w: w["nb"].decomposition(print_info=False),
    "cluster_analysis": lambda w: w["nb"].cluster_analysis(n_clusters=3),
    "cluster_analysis-kmedians": lambda w: w["nb"].cluster_analysis(
        n_clusters=2, algorithm="kmedians"
    ),
    "estimate_number_of_clusters": lambda w: w["nb"].estimate_number_of_clusters(
        max_clusters=3, metric="elbow", show_progressbar=False
    ),
}

REGION = (0.2, 0.2, 1.0, 1.0)  # nm: where the SI lies on the image

_SPECTRA_CALLS = {
    "register_to_spectrum_image": lambda w: w["refined"].register_to_spectrum_image(
        w["si"], region=REGION, rotation=10.0, shift=(0.01, 0.0)
    ),
    "get_spectra": lambda w: w["refined"].get_spectra(w["si"], region=REGION),
    "get_spectra-radius": lambda w: w["refined"].get_spectra(
        w["si"], region=REGION, cell="radius", radius=0.05, normalise=True
    ),
    "get_class_spectra": lambda w: w["refined"].get_class_spectra(
        w["si"], "sublattice", region=REGION
    ),
    "get_spectral_quantity": lambda w: w["refined"].get_spectral_quantity(
        w["si"], window=(440, 460), background=(410, 430), region=REGION
    ),
    "get_cluster_spectra": lambda w: w["nb"].get_cluster_spectra(
        w["si"], region=REGION
    ),
    "get_spectral_map": lambda w: w["nb"].get_spectral_map(
        w["si"], window=(440, 460), region=REGION
    ),
    "estimate_si_shift": lambda w: estimate_si_shift(
        w["refined"], w["image"], w["haadf"], w["si"], region=REGION
    ),
    "estimate_si_registration": lambda w: estimate_si_registration(
        w["refined"], w["image"], w["haadf"], w["si"], REGION, (-5, 5)
    ),
    "method-estimate_si_shift": lambda w: w["refined"].estimate_si_shift(
        w["image"], w["haadf"], w["si"], region=REGION
    ),
    "method-estimate_si_registration": lambda w: w["refined"].estimate_si_registration(
        w["image"], w["haadf"], w["si"], REGION, (-5, 5)
    ),
    "library-from_neighbourhoods": lambda w: NeighbourhoodLibrary.from_neighbourhoods(
        w["nb"], spectra=w["nb"].get_cluster_spectra(w["si"], region=REGION)
    ),
    "library-classify-atoms": lambda w: w["library"].classify(w["refined"]),
    "library-classify-nb": lambda w: w["library"].classify(w["nb"]),
}

_LEARNING = ("decomposition", "cluster_analysis", "estimate_number_of_clusters")


def _learning_snapshot(signal):
    lr = signal.learning_results
    return {
        k: copy.deepcopy(getattr(lr, k, None))
        for k in ("factors", "loadings", "explained_variance", "cluster_labels")
    }


_ALL_CALLS = {**_IMAGE_CALLS, **_TABLE_CALLS, **_NB_CALLS, **_SPECTRA_CALLS}


def _library_snapshot(lib):
    return copy.deepcopy(lib.__dict__)


@pytest.mark.parametrize("name", list(_ALL_CALLS))
def test_no_method_changes_any_signal_it_touches(w, name):
    """Every signal of the world (the caller and its arguments) is unchanged,
    down to the dtype, the axes and both metadata trees; the library too."""
    call = _ALL_CALLS[name]
    lib = w.pop("library")
    lib_before = _library_snapshot(lib)
    before = {k: snapshot(v) for k, v in w.items()}
    learned = {k: _learning_snapshot(v) for k, v in w.items() if k.endswith("nb")}
    result = _quiet(call, {**w, "library": lib})
    for k, v in w.items():
        assert_unchanged(v, before[k])
    assert _equal(_library_snapshot(lib), lib_before)
    if not any(name.startswith(p) for p in _LEARNING):
        for k, snap in learned.items():
            assert _equal(_learning_snapshot(w[k]), snap), k
    # the result is a new object, never the input itself
    assert all(result is not v for v in w.values())
    if isinstance(result, hs.signals.BaseSignal):
        assert all(not np.shares_memory(result.data, v.data) for v in w.values())


def test_integer_image_is_not_converted_in_place():
    img, _ = make_lattice_image((96, 96), spacing=16, sigma=3, seed=0)
    s = _calibrate(AtomicImage(np.round(img / img.max() * 65535).astype(np.uint16)))
    before = snapshot(s)
    atoms = s.find_atoms()
    _quiet(s.refine_atoms, atoms)
    s.normalise_contrast()
    s.remove_background()
    assert_unchanged(s, before)
    assert s.data.dtype == np.uint16


def test_lazy_stack_stays_lazy_and_unchanged(world):
    lazy = world["stack"].as_lazy()
    assert isinstance(lazy, LazyAtomicImage)
    before = np.asarray(lazy.data.compute())
    atoms = lazy.find_atoms(show_progressbar=False)
    _quiet(lazy.refine_atoms, atoms, show_progressbar=False)
    assert isinstance(lazy, LazyAtomicImage) and lazy._lazy
    np.testing.assert_array_equal(lazy.data.compute(), before)


# ============================================================= round trips
def _results(world):
    image, refined, nb = world["image"], world["refined"], world["nb"]
    stack, linked, stack_nb = world["stack"], world["linked"], world["stack_nb"]
    radius_nb = world["atoms"].get_neighbourhoods(None, radius=0.2).fill_missing()
    mask = np.zeros(radius_nb.axes_manager.navigation_size, bool)
    mask[:3] = True  # rows left out of the learning: the mask is saved too
    radius_nb.decomposition(print_info=False, navigation_mask=mask)
    return {
        "normalise_contrast": image.normalise_contrast(),
        "denoise": image.denoise(),
        "remove_background": image.remove_background(sigma=0.5),
        "find_atoms": world["atoms"],
        "refine_atoms": refined,
        "neighbourhoods+learning": nb,
        "neighbourhoods-radius+mask": radius_nb,
        "get_centres": nb.get_centres(),
        "get_invariants": nb.get_invariants(),
        "get_cluster_map": nb.get_cluster_map(),
        "get_polarisation": refined.get_polarisation(1, 0),
        "get_strain": refined.get_strain(),
        "table-get_map": refined.get_map("peak"),
        "get_loading_map": nb.get_loading_map(1),
        "get_cluster_fft": nb.get_cluster_fft(),
        "get_vector_histogram": nb.get_vector_histogram(by_cluster=True),
        "align_frames": stack.align_frames(),
        "sum_frames": stack.sum_frames(),
        "image-estimate_drift": stack.estimate_drift(),
        "stack-find_atoms": world["stack_atoms"],
        "link_frames": linked,
        "table-estimate_drift": linked.estimate_drift(),
        "get_trajectories": linked.get_trajectories(),
        "get_displacements": linked.get_displacements(),
        "get_frame_statistics": linked.get_frame_statistics(["x", "peak"]),
        "stack-neighbourhoods": stack_nb,
        "get_cluster_fractions": stack_nb.get_cluster_fractions(),
        "stack-get_cluster_map": stack_nb.get_cluster_map(),
        "register_to_spectrum_image": refined.register_to_spectrum_image(
            world["si"], region=REGION, rotation=10.0
        ),
        "get_spectra": refined.get_spectra(world["si"], region=REGION),
        "get_class_spectra": refined.get_class_spectra(
            world["si"], "sublattice", region=REGION
        ),
        "get_spectral_quantity": refined.get_spectral_quantity(
            world["si"], window=(440, 460), region=REGION
        ),
        "get_cluster_spectra": nb.get_cluster_spectra(world["si"], region=REGION),
        "get_spectral_map": nb.get_spectral_map(
            world["si"], window=(440, 460), region=REGION
        ),
        "library-classify": world["library"].classify(refined),
    }


_RESULT_NAMES = [
    "normalise_contrast",
    "denoise",
    "remove_background",
    "find_atoms",
    "refine_atoms",
    "neighbourhoods+learning",
    "neighbourhoods-radius+mask",
    "get_centres",
    "get_invariants",
    "get_cluster_map",
    "get_polarisation",
    "get_strain",
    "table-get_map",
    "get_loading_map",
    "get_cluster_fft",
    "get_vector_histogram",
    "align_frames",
    "sum_frames",
    "image-estimate_drift",
    "stack-find_atoms",
    "link_frames",
    "table-estimate_drift",
    "get_trajectories",
    "get_displacements",
    "get_frame_statistics",
    "stack-neighbourhoods",
    "get_cluster_fractions",
    "stack-get_cluster_map",
    "register_to_spectrum_image",
    "get_spectra",
    "get_class_spectra",
    "get_spectral_quantity",
    "get_cluster_spectra",
    "get_spectral_map",
    "library-classify",
]


@pytest.fixture(scope="module")
def results(world):
    out = _quiet(_results, world)
    assert sorted(out) == sorted(_RESULT_NAMES)
    return out


def _comparable_metadata(signal):
    md = signal.metadata.as_dictionary()
    general = dict(md.get("General", {}))
    for key in ("FileIO", "original_filename", "load_from_file"):
        general.pop(key, None)  # written by the save itself
    md["General"] = general
    md.pop("tmp_parameters", None)
    return md


_LR_KEYS = (
    "factors",
    "loadings",
    "explained_variance",
    "explained_variance_ratio",
    "decomposition_algorithm",
    "poissonian_noise_normalized",
    "number_significant_components",
    "navigation_mask",
    "signal_mask",
    "cluster_labels",
    "cluster_centers",
    "cluster_centroid_signals",
    "cluster_algorithm",
    "number_of_clusters",
)


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
@pytest.mark.parametrize("name", _RESULT_NAMES)
def test_every_result_survives_a_round_trip(results, tmp_path, name, ext):
    s = results[name]
    path = tmp_path / f"{name}.{ext}"
    s.save(path)
    back = hs.load(path)
    assert type(back) is type(s)
    assert back.metadata.Signal.signal_type == s.metadata.Signal.signal_type
    np.testing.assert_array_equal(np.asarray(back.data), np.asarray(s.data))
    assert back.data.dtype == s.data.dtype
    assert _equal(back.axes_manager.as_dictionary(), s.axes_manager.as_dictionary())
    assert _equal(_comparable_metadata(back), _comparable_metadata(s))
    assert _equal(
        back.original_metadata.as_dictionary(), s.original_metadata.as_dictionary()
    )
    for key in _LR_KEYS:
        a, b = (
            getattr(s.learning_results, key, None),
            getattr(back.learning_results, key, None),
        )
        assert _equal(
            np.asarray(b) if isinstance(b, list) else b,
            np.asarray(a) if isinstance(a, list) else a,
        ), key


def test_loaded_signals_still_work(results, world, tmp_path):
    """After a round trip the table still meets its image, the neighbourhoods
    still map onto the grid with their learned labels."""
    for ext in ("hspy", "zspy"):
        results["refine_atoms"].save(tmp_path / f"a.{ext}")
        results["neighbourhoods+learning"].save(tmp_path / f"nb.{ext}")
        table = hs.load(tmp_path / f"a.{ext}")
        nb = hs.load(tmp_path / f"nb.{ext}")
        assert isinstance(table, AtomPositions) and isinstance(nb, AtomNeighbourhoods)
        assert table.units == results["refine_atoms"].units
        assert table.grid == results["refine_atoms"].grid
        refit = _quiet(world["image"].refine_atoms, table)
        assert refit.n_atoms == table.n_atoms
        original = results["neighbourhoods+learning"]
        np.testing.assert_array_equal(
            nb.get_cluster_map().data, original.get_cluster_map().data
        )
        np.testing.assert_array_equal(nb.atoms.data, original.atoms.data)
        assert nb.atoms.columns == original.atoms.columns
        np.testing.assert_array_equal(nb.centre_indices, original.centre_indices)
        assert nb.get_mode_properties().equals(original.get_mode_properties())
        lazy = hs.load(tmp_path / f"a.{ext}", lazy=True)
        assert type(lazy).__name__ == "LazyAtomPositions"
        np.testing.assert_array_equal(lazy.data.compute(), table.data)


# ================================================= one failure, others kept
def test_one_bad_frame_keeps_the_other_frames_drift(world):
    """A frame that cannot be correlated: NaN drift and a warning naming it;
    the other frames keep the drift of the clean stack. Summing and aligning
    leave it out (warned, recorded)."""
    stack = world["stack"].deepcopy()
    clean = stack.estimate_drift()
    stack.data[2] = np.nan
    with pytest.warns(RuntimeWarning, match=r"Frame 2 \(time=11 s\) failed"):
        drift = stack.estimate_drift()
    assert np.isnan(drift.data[2, :2]).all()
    # the default drift combines steps between frames (issue 18): without
    # frame 2 its pairs differ, the drift of the others agrees to 0.01 px
    np.testing.assert_allclose(
        drift.data[[0, 1, 3], :2], clean.data[[0, 1, 3], :2], atol=0.01 * 0.01
    )
    with pytest.warns(RuntimeWarning, match="Frame 2"):
        prev = stack.estimate_drift(reference="previous")
    assert np.isnan(prev.data[2, :2]).all()
    # frame 3 is compared with frame 1, the last good one: still the drift
    np.testing.assert_allclose(prev.data[3, :2], clean.data[3, :2], atol=0.01 * 0.2)
    # reference="mean": the mean is made of the good frames, frame 2 is NaN
    with pytest.warns(RuntimeWarning, match=r"Frame 2 \(time=11 s\) failed"):
        by_mean = stack.estimate_drift(reference="mean")
    assert np.isnan(by_mean.data[2, :2]).all()
    np.testing.assert_allclose(
        by_mean.data[[0, 1, 3], :2], clean.data[[0, 1, 3], :2], atol=0.01 * 0.2
    )
    with pytest.warns(RuntimeWarning, match=r"Frames \[2\] have no drift"):
        mean = stack.sum_frames(drift=drift)
    assert mean.metadata.Alignment.n_frames == 3
    assert list(mean.metadata.Alignment.skipped_frames) == [2]
    assert np.all(np.isfinite(mean.data))
    three = _calibrate(AtomicImage(world["stack"].data[[0, 1, 3]]))
    reference = three.sum_frames(drift=drift.data[[0, 1, 3]])
    np.testing.assert_allclose(mean.data, reference.data)
    with pytest.warns(RuntimeWarning, match=r"Frames \[2\] have no drift"):
        aligned = stack.align_frames(drift=drift)
    assert np.isnan(aligned.data[2]).all()
    assert np.isfinite(aligned.data[[0, 1, 3]]).mean() > 0.95
    # the reference frame itself bad (issue 17): frame 1 becomes the reference,
    # frame 0 has no drift, the others keep theirs (relative to frame 1)
    bad0 = world["stack"].deepcopy()
    bad0.data[0] = 1.0
    for reference in ("first", "previous", "mean"):
        with pytest.warns(RuntimeWarning, match=r"Frame 0 \(time=10 s\) failed"):
            d = bad0.estimate_drift(reference=reference)
        assert np.isnan(d.data[0, :2]).all() and d.metadata.Drift.reference_frame == 1
        np.testing.assert_allclose(
            d.data[1:, :2], clean.data[1:, :2] - clean.data[1, :2], atol=0.01 * 0.2
        )


def test_one_bad_frame_keeps_the_others_through_the_table_steps(world):
    """A frame without atoms (its finding failed): neighbourhoods, tracking,
    drift and statistics keep the other frames and say what is missing."""
    stack = world["stack"].deepcopy()
    stack.data[1] = 7.0  # constant: finding fails in this frame only
    with pytest.warns(RuntimeWarning, match=r"Frame 1 \(time=10.5 s\) failed"):
        atoms = stack.find_atoms(show_progressbar=False)
    assert list(atoms.metadata.AtomPositions.failed_frames) == [1]
    good = world["stack_atoms"]
    for k in (0, 2, 3):
        np.testing.assert_array_equal(atoms.get_frame(k).data, good.get_frame(k).data)
    nb = atoms.get_neighbourhoods(4)
    assert set(nb.get_centres().get_frames().tolist()) == {0, 2, 3}
    stats = atoms.get_frame_statistics(["x"], "count")
    assert stats.data[1, 0] == 0 and np.all(stats.data[[0, 2, 3], 0] > 0)
    linked = atoms.link_frames(memory=1)  # tracks continue across the gap
    with pytest.warns(RuntimeWarning, match="share fewer than 3 tracks"):
        drift = linked.estimate_drift()
    assert np.isnan(drift.data[1, :2]).all()
    clean = world["linked"].estimate_drift()
    np.testing.assert_allclose(
        drift.data[[0, 2, 3], :2], clean.data[[0, 2, 3], :2], atol=1e-3
    )
    # the failed frame is still recorded after every derived table
    for table in (linked, nb.atoms, atoms.select(atoms.get_column("x") > 0)):
        assert list(table.metadata.AtomPositions.failed_frames) == [1]


def test_one_bad_frame_in_the_report_keeps_the_others(world, tmp_path, monkeypatch):
    figures_not_rendered(monkeypatch)  # no figure is checked here
    stack = world["stack"].deepcopy()
    stack.data[1] = np.nan
    summary = report.analyse(stack, tmp_path, n_clusters=2, n_neighbours=4)
    assert summary["n_frames"] == 4
    assert summary["n_atoms"] == sum(
        world["stack_atoms"].get_frame(k).n_atoms for k in (0, 2, 3)
    )
    assert any("Frame 1 (time=10.5 s) failed" in w for w in summary["warnings"])
    table = hs.load(tmp_path / "atoms.hspy")
    assert list(table.metadata.AtomPositions.failed_frames) == [1]
    assert set(table.get_frames().tolist()) == {0, 2, 3}


def test_one_bad_file_in_a_batch_keeps_the_others(tmp_path, monkeypatch):
    """Good, unreadable, complex and good files: both good results are
    complete, each bad file is one line. (Figures built, not rendered.)"""
    figures_not_rendered(monkeypatch)
    img, _ = make_lattice_image((96, 96), spacing=14, seed=0)
    good = hs.signals.Signal2D(img)
    good.save(tmp_path / "first.hspy")
    (tmp_path / "broken.hspy").write_text("not a file")
    np.save(tmp_path / "complex.npy", img + 1j)
    good.save(tmp_path / "last.hspy")
    files = [str(tmp_path / n) for n in ("first.hspy", "broken.hspy", "complex.npy")]
    files.append(str(tmp_path / "last.hspy"))
    out = tmp_path / "results"
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        status = main(
            ["analyse", *files, "--out", str(out), "--clusters", "2"]
            + ["--neighbours", "4", "--no-progressbar"]
        )
    lines = err.getvalue().strip().splitlines()
    assert status == 1
    assert len(lines) == 3, lines
    assert "broken.hspy could not be read" in lines[0]
    assert "complex.npy holds complex128 values" in lines[1]
    assert lines[2] == (
        "localcryst: 2 of 4 file(s) failed; the others' results are complete."
    )
    assert sorted(p.name for p in out.iterdir()) == ["first", "last"]
    _, truth = make_lattice_image((96, 96), spacing=14, seed=0)
    for name in ("first", "last"):
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["n_atoms"] == len(truth["x"])  # the lattice's 7 x 7
        assert (out / name / "report.html").stat().st_size > 0


def test_an_unexpected_error_in_one_file_keeps_the_batch(tmp_path, monkeypatch):
    """Even a bug (an exception that is not a ValueError...) in one file is one
    line; the next file is still analysed."""
    img, _ = make_lattice_image((96, 96), spacing=14, seed=0)
    for name in ("a", "b"):
        hs.signals.Signal2D(img).save(tmp_path / f"{name}.hspy")
    calls = []
    original = report.analyse

    def flaky(signal, out_dir, **kw):
        calls.append(out_dir)
        if len(calls) == 1:
            raise IndexError("index 7 is out of bounds")
        return original(signal, out_dir, **kw)

    monkeypatch.setattr(report, "analyse", flaky)
    figures_not_rendered(monkeypatch)  # no figure is checked here
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        status = main(
            ["analyse", str(tmp_path / "a.hspy"), str(tmp_path / "b.hspy")]
            + ["--out", str(tmp_path / "r"), "--clusters", "1", "--neighbours", "4"]
        )
    lines = err.getvalue().strip().splitlines()
    assert status == 1
    assert lines[0].endswith("a.hspy: IndexError: index 7 is out of bounds")
    assert "Traceback" not in err.getvalue()
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["b"]
