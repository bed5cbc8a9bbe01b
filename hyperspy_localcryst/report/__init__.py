"""The whole pipeline on one image (or stack), written to a folder with a report.

:func:`analyse` runs find -> refine -> neighbourhoods -> decomposition +
clustering and writes, into a folder:

- ``atoms.csv``, ``atoms.hspy`` (or ``.zspy``): the refined per-atom table;
- ``neighbourhoods.hspy`` (or ``.zspy``): the neighbourhood signal with its
  decomposition and cluster results (``learning_results``,
  ``cluster_labels``...);
- PNG figures: ``atoms.png``, ``cluster_map.png``, ``dendrogram.png``,
  ``scree.png``, ``pca_modes.png``, ``loading_maps.png``,
  ``cluster_ffts.png``, ``neighbour_histograms.png`` (and, for a stack,
  ``cluster_fractions.png``);
- ``summary.json``: the parameters and key numbers;
- ``report.html``: one self-contained page (figures embedded) with the
  parameters used and the key numbers.

The command line (``localcryst analyse``, ``localcryst demo``) is a thin
shell over :func:`analyse`. Every random step is seeded, so the same input
and parameters give the same numbers.
"""

import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

from .._docstrings import fill_doc
from .._output import check_destination, result_folder
from ..numerics._checks import renamed
from ..signals._grid import (
    axis_units,
    check_at_most,
    check_bool,
    check_integer,
    check_n_sublattices,
    check_number,
)
from .figures import (
    FIGURES,
    _figures,
    _phase_figures,
    _polarisation_strain_figures,
)
from .page import write_report
from .steps import (
    _calibration,
    _defects_csv,
    _lattice_table,
    _mode_summary,
    _neighbourhoods,
    _phases,
    _polarisation_and_strain,
    _shell_count,
)

__all__ = ["analyse", "find", "write_report", "FIGURES"]


def _check_fitted(atoms):
    """Refuse a table in which no atom could be fitted (every ``converged`` 0):
    the image has no bright, Gaussian-like columns where atoms were found."""
    if not np.any(atoms.get_column("converged") == 1):
        raise ValueError(
            f"The Gaussian fit failed for all {atoms.n_atoms} atoms found: the image "
            "shows no bright, peaked columns there. Dark-atom images (ABF) must be "
            "inverted first; check the separation and the finder (`method`)."
        )


@fill_doc
@renamed(neighbours="n_neighbours", clusters="n_clusters")
def analyse(
    signal,
    out_dir,
    separation=None,
    method="log",
    n_neighbours="auto",
    metric="distance",
    n_clusters="auto",
    n_sublattices=2,
    file_format="hspy",
    seed=0,
    preprocess=(),
    show_progressbar=None,
    log=None,
    overwrite=False,
    inputs=(),
    contrast=None,
    lattice_parameter=None,
):
    """Run the whole pipeline on ``signal`` and write results, figures and report.

    The result folder is written aside and moved into place when complete
    (:func:`hyperspy_localcryst._output.result_folder`): a failure or Ctrl-C
    leaves ``out_dir`` as it was, and nothing localcryst did not write is
    ever replaced.

    Parameters
    ----------
    signal : AtomicImage
        An image or a stack of images (navigation axes: frames are pooled
        for the neighbourhood statistics; figures show one frame, the first
        whose atoms were found, named in their titles and in the summary's
        ``figure_frame``). A frame that fails (NaN pixels, constant) is
        left out with a warning, listed in ``failed_frames`` /
        ``failed_reasons``; only when every frame fails is it an error.
    out_dir : str or pathlib.Path
        The result folder. It must not exist yet (its parent is created when
        needed), be empty, or hold an earlier, unchanged localcryst result
        (replaced only with ``overwrite=True``). A folder localcryst did not
        write, or one holding an input file or the current folder, is
        refused (:class:`~hyperspy_localcryst._output.OutputError`, a
        ValueError).
    separation : float, optional
        Smallest column distance in calibrated units (estimated if None).
    method : str or list of str
        Finder (see :meth:`AtomicImage.find_atoms`).
    n_neighbours : "auto" or int
        Neighbours per neighbourhood; "auto" takes the first count (3 or
        more) that closes a shell of neighbours
        (:func:`~hyperspy_localcryst.numerics.neighbourhoods.shell_count`:
        4 on perovskite [001], 6 on a hexagonal lattice, 3 on MoS2), so that
        no neighbourhood keeps a noise-chosen part of a shell.
    metric : {"distance", "angle"}
        Neighbour ordering (see :meth:`AtomPositions.get_neighbourhoods`).
        "distance" (default) keeps the image frame, so neighbourhoods that
        differ by a rotation (the two sites of a honeycomb, rotated domains)
        are different classes; "angle" removes each neighbourhood's rotation.
    n_clusters : "auto" or int
        Number of neighbourhood classes; "auto" (default) lets the data
        decide (:meth:`AtomNeighbourhoods.find_site_classes`): a class is
        split only where its neighbourhoods are bimodal beyond chance and
        beyond the measurement noise of the refined positions, so K = 1 is a
        possible answer and the summary's ``clusters_reason`` says why K is
        what it is. A number runs k-means with that K; a number larger than
        the number of centre atoms is refused (ValueError), never lowered.
    n_sublattices : int
        Atom types labelled by fitted amplitude (``sublattice`` column); 1
        for none. More than the atoms found is refused; with fewer than ten
        atoms per type the labelling is skipped with a warning.
    file_format : {"hspy", "zspy"}
        Format of the saved signals.
    %(SEED_ARG)s
        Here: every random step of the report (dendrogram subsample, k-means).
    preprocess : sequence of {"background", "denoise"}
        Applied in order before finding: ``"background"`` subtracts a wide
        Gaussian blur (:meth:`AtomicImage.remove_background`, e.g. for STM
        height gradients and step edges), ``"denoise"`` a Gaussian denoise
        (:meth:`AtomicImage.denoise`). Figures show the preprocessed image.
    %(SHOW_PROGRESSBAR_ARG)s
        The bars run over the frames of a stack.
    log : callable, optional
        Called with one line of text per step (e.g. ``print``).
    overwrite : bool
        Replace an earlier localcryst result in ``out_dir``.
    inputs : sequence of str or pathlib.Path
        Files the signal was read from: never inside a replaced folder, and
        recorded in the folder's marker.
    contrast : {"auto", "bright", "dark"}, optional
        Passed to :meth:`AtomicImage.find_atoms` and
        :meth:`AtomicImage.refine_atoms` (only when given).
    lattice_parameter : float or (float, float), optional
        Known lattice parameter(s) in the image's units: before the analysis
        the image is recalibrated against them
        (:meth:`AtomicImage.calibrate`, one factor for both axes, measured on
        the atoms found with the same settings).

    Returns
    -------
    dict
        The parameters and key numbers (also in ``summary.json``), with
        ``figure_frame`` (flat index of the frame the figures show; None for
        a single image), ``failed_frames`` and ``failed_reasons``,
        ``calibration`` (pixel size and units used, where they came from,
        the correction factor of a lattice calibration) and ``lattice``
        (measured a, b, gamma with standard errors: all atoms, then each
        sublattice).

    Examples
    --------
    >>> import tempfile, matplotlib
    >>> matplotlib.use("Agg")
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> out = tempfile.mkdtemp()
    >>> summary = analyse(synthetic_lattice(shape=(160, 160), seed=0), out)
    >>> summary["n_atoms"], summary["n_clusters"] >= 1
    (49, True)
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..signals.atomic_image import AtomicImage

    if not isinstance(signal, AtomicImage):
        complex_hint = (
            " (this one holds complex values: take `s.amplitude` or `s.phase`)"
            if np.iscomplexobj(getattr(signal, "data", None))
            else ""
        )
        raise TypeError(
            "`signal` must be an AtomicImage (e.g. "
            "`s.set_signal_type('atomic_image')` on a real-valued image), got "
            f"{type(signal).__name__}{complex_hint}."
        )
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"`out_dir` must be a path, got {out_dir!r:.60}.")
    check_bool(overwrite, "overwrite")
    if isinstance(inputs, (str, os.PathLike)) or not all(
        isinstance(p, (str, os.PathLike)) for p in inputs
    ):
        raise TypeError(f"`inputs` must be a list of paths, got {inputs!r:.60}.")
    if not isinstance(file_format, str) or file_format not in ("hspy", "zspy"):
        raise ValueError(
            f"`file_format` must be 'hspy' or 'zspy', got {file_format!r}."
        )
    if not isinstance(metric, str) or metric not in ("angle", "distance"):
        raise ValueError(f"`metric` must be 'angle' or 'distance', got {metric!r}.")
    n_neighbours = _auto_or_count(n_neighbours, "n_neighbours")
    check_integer(n_sublattices, "n_sublattices", minimum=1)
    check_integer(seed, "seed", minimum=0, maximum=2**32 - 1)
    check_bool(show_progressbar, "show_progressbar", allow_none=True)
    n_clusters = _auto_or_count(n_clusters, "n_clusters")
    if isinstance(preprocess, str):
        preprocess = [preprocess]
    elif isinstance(preprocess, (list, tuple)):
        preprocess = list(preprocess)
    else:
        raise TypeError(
            "`preprocess` must be a sequence of 'background' / 'denoise', got "
            f"{preprocess!r:.60}."
        )
    unknown = [p for p in preprocess if p not in ("background", "denoise")]
    if unknown:
        raise ValueError(
            f"`preprocess` steps must be 'background' or 'denoise', got {unknown}."
        )
    if log is not None and not callable(log):
        raise TypeError(f"`log` must be a function (e.g. print) or None, got {log!r}.")
    log = log or (lambda msg: None)
    if contrast is not None and (
        not isinstance(contrast, str) or contrast not in ("auto", "bright", "dark")
    ):
        raise ValueError(
            f"`contrast` must be 'auto', 'bright' or 'dark', got {contrast!r:.60}."
        )
    if lattice_parameter is not None:
        lattice_parameter = _check_lattice_parameter(lattice_parameter)
    check_destination(out_dir, inputs, overwrite)  # refuse before any work
    with result_folder(out_dir, inputs, overwrite, command="analyse") as tmp:
        return _analyse_into(
            tmp,
            signal,
            plt,
            log,
            separation=separation,
            method=method,
            n_neighbours=n_neighbours,
            metric=metric,
            n_clusters=n_clusters,
            n_sublattices=n_sublattices,
            file_format=file_format,
            seed=seed,
            preprocess=preprocess,
            show_progressbar=show_progressbar,
            contrast=contrast,
            lattice_parameter=lattice_parameter,
        )


def _auto_or_count(value, name):
    """``"auto"``, or a positive integer (ValueError naming ``name``)."""
    if isinstance(value, str) and value == "auto":
        return value
    try:
        return check_integer(value, name, minimum=1)
    except TypeError:
        raise ValueError(
            f"`{name}` must be 'auto' or a positive int, got {value!r}."
        ) from None


def _check_lattice_parameter(value):
    """One positive length or two, as a float or a tuple of two floats."""
    many = isinstance(value, (list, tuple, np.ndarray))
    values = list(np.ravel(value)) if many else [value]
    if len(values) not in (1, 2):
        raise ValueError(
            "`lattice_parameter` must be one length or two (a, b), got "
            f"{len(values)} values."
        )
    out = [check_number(v, "lattice_parameter", "a length") for v in values]
    if not all(np.isfinite(v) and v > 0 for v in out):
        raise ValueError(
            f"`lattice_parameter` must be positive lengths, got {value!r:.60}."
        )
    return tuple(out) if many else out[0]


def is_user_warning(category):
    """Whether a warning of ``category`` is about the user's data or call
    (UserWarning, RuntimeWarning) and so goes into the summary and onto stderr.

    A library's deprecation notice is not, even when its class also derives
    from UserWarning (pyparsing >= 3.3's PyparsingDeprecationWarning, which
    matplotlib < 3.11 triggers once per process: it made the first and a second
    run of the same process disagree)."""
    return issubclass(category, (UserWarning, RuntimeWarning)) and not issubclass(
        category, (DeprecationWarning, PendingDeprecationWarning)
    )


def _find_and_refine(signal, find_kw, refine_kw, n_sublattices, seed, log, t0):
    """The first steps of every pipeline (:func:`analyse` and :func:`find`):
    find, refine, check the fits and label ``n_sublattices`` sublattices by
    fitted amplitude (only with at least 10 atoms per type; fewer are left
    unlabelled, all 0, with a warning). Returns the table and the
    ``find_s``/``refine_s`` times (``t0``: when the step began)."""
    times = {}
    log("finding atoms")
    atoms = signal.find_atoms(**find_kw)
    times["find_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    log(f"refining {atoms.n_atoms} atoms")
    atoms = signal.refine_atoms(atoms, **refine_kw)
    _check_fitted(atoms)
    if n_sublattices > 1:
        check_n_sublattices(n_sublattices, atoms.n_atoms, "atoms found")
        if atoms.n_atoms >= 10 * n_sublattices:
            atoms = atoms.label_sublattices(
                n_sublattices, column="amplitude", seed=seed
            )
        else:
            warnings.warn(
                f"Only {atoms.n_atoms} atoms for `n_sublattices` = "
                f"{n_sublattices} (fewer than 10 per type): the sublattices "
                "are not labelled (all 0).",
                UserWarning,
                stacklevel=3,
            )
    times["refine_s"] = time.perf_counter() - t
    return atoms, times


def find(
    signal,
    out_dir,
    separation=None,
    n_sublattices=2,
    model="round",
    overwrite=False,
    inputs=(),
):
    """Find and refine the atoms of ``signal`` and write the table and one
    figure (``localcryst find``): the first steps of :func:`analyse`.

    The folder is written aside and moved into place when complete; nothing
    localcryst did not write is ever replaced (see
    :func:`hyperspy_localcryst._output.result_folder`).

    Parameters
    ----------
    signal : AtomicImage
        A single image (no navigation axes).
    out_dir : str or pathlib.Path
        The result folder: new, empty, or an earlier localcryst result
        (replaced only with ``overwrite=True``).
    separation : float, optional
        Smallest column separation in calibrated units (estimated if None).
    n_sublattices : int
        Atom types to label by fitted amplitude (as in :func:`analyse`: only
        with at least 10 atoms per type).
    model : {"round", "elliptical"}
        Gaussian model of the refinement.
    overwrite : bool
        Replace an earlier localcryst result in ``out_dir``.
    inputs : sequence of str or pathlib.Path
        Files the image was read from (never inside a replaced folder).

    Returns
    -------
    dict
        Key numbers: atoms found, median position error, timings.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "atoms"
    >>> summary = find(synthetic_lattice(shape=(128, 128), seed=0), out)
    >>> summary["n_atoms"], (out / "atoms.csv").exists()
    (49, True)
    """
    check_destination(out_dir, inputs, overwrite)  # refuse before any work
    with result_folder(out_dir, inputs, overwrite, command="find") as tmp:
        return _find_into(Path(tmp), signal, separation, n_sublattices, model)


def _find_into(out_dir, signal, separation, n_sublattices, model):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    atoms, times = _find_and_refine(
        signal,
        {"separation": separation},
        {"model": model},
        n_sublattices,
        0,
        lambda msg: None,
        time.perf_counter(),
    )
    atoms.to_csv(out_dir / "atoms.csv")
    atoms.save(out_dir / "atoms.hspy", overwrite=True)
    signal.plot_atoms(atoms, colour_by="sublattice", cmap="coolwarm")
    plt.gcf().savefig(out_dir / "atoms.png", dpi=150)  # a single image: one figure
    plt.close("all")
    err = np.hypot(atoms.get_column("x_err"), atoms.get_column("y_err"))
    return {
        "n_atoms": atoms.n_atoms,
        "separation": float(atoms.metadata.AtomPositions.settings.separation),
        "units": atoms.units["x"],
        "median_position_error": float(np.nanmedian(err)),
        **times,
    }


def _analyse_into(out_dir, signal, plt, log, **p):
    """Run the pipeline and write everything into the (fresh) folder ``out_dir``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = _analyse(
            signal,
            Path(out_dir),
            plt,
            log,
            **p,
        )
    messages = []
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if is_user_warning(w.category) and text not in messages:
            messages.append(text)
    summary["warnings"] = messages
    (Path(out_dir) / "summary.json").write_text(json.dumps(summary, indent=2))
    write_report(out_dir, summary)
    return summary


def _analyse(signal, out, plt, log, *, show_progressbar, **p):
    """The steps of :func:`analyse` (warnings are collected by the caller)."""
    times = {}
    stack = signal.axes_manager.navigation_dimension > 0
    kw = {"show_progressbar": show_progressbar} if stack else {}

    times["compile_s"] = _compile_time(signal, p["contrast"])
    t = time.perf_counter()
    for step in p["preprocess"]:
        log(f"preprocessing: {step}")
        if step == "background":
            signal = signal.remove_background(**kw)
        else:
            signal = signal.denoise("gaussian", **kw)
    # `contrast` is passed only when given (older finders have no such argument)
    ckw = {} if p["contrast"] is None else {"contrast": p["contrast"]}
    find_kw = {"separation": p["separation"], "method": p["method"], **ckw, **kw}
    if p["lattice_parameter"] is not None:
        if axis_units(signal.axes_manager.signal_axes[0].units) in ("", "px"):
            raise ValueError(
                "The image has no length units, so `lattice_parameter` cannot be "
                "compared with it: set an approximate pixel size and units first "
                "(command line: --pixel-size 0.01 --units nm)."
            )
        log("calibrating against the lattice parameter")
        signal = signal.calibrate(
            p["lattice_parameter"], atoms=signal.find_atoms(**find_kw)
        )
        c = signal.metadata.Calibration
        ax = signal.axes_manager.signal_axes[0]
        log(f"correction factor {c.factor_x:.4f}: pixel size {ax.scale:.6g} {ax.units}")
    atoms, step_times = _find_and_refine(
        signal, find_kw, {**ckw, **kw}, p["n_sublattices"], p["seed"], log, t
    )
    times.update(step_times)

    t = time.perf_counter()
    log("measuring the lattice parameters")
    lattice = _lattice_table(atoms)
    times["lattice_s"] = time.perf_counter() - t

    t = time.perf_counter()
    n_neighbours, shell_closed = p["n_neighbours"], True
    if n_neighbours == "auto":
        n_neighbours, shell_closed = _shell_count(atoms)
    log(f"neighbourhoods (k = {n_neighbours}, {p['metric']} metric), PCA, site classes")
    nb = _neighbourhoods(atoms, n_neighbours, p["metric"])
    nb.decomposition(print_info=False)  # centred: modes deform the mean
    modes = nb.get_mode_properties(min(6, nb.learning_results.factors.shape[1]))
    n_centres = nb.axes_manager.navigation_size
    if p["n_clusters"] == "auto":
        found = nb.find_site_classes(max_classes=min(8, n_centres), seed=p["seed"])
        k, clusters_reason = found.n_classes, found.reason
    else:  # the user's number is used as given, or refused
        k = check_at_most(
            p["n_clusters"], "n_clusters", n_centres, "centre atoms (neighbourhoods)"
        )
        nb.cluster_analysis(n_clusters=k, random_state=p["seed"], n_init=10)
        clusters_reason = f"{k} given by the user (k-means)."
    if not shell_closed:
        warnings.warn(
            f"No shell of neighbours closes between 3 and 12 neighbours (a complex "
            f"or strongly distorted structure): k = {n_neighbours} (largest jump "
            "in neighbour distance) may split a shell, and which of its members "
            "a neighbourhood keeps can then make classes of its own; compare "
            "with other `n_neighbours` (`--neighbours` on the command line).",
            UserWarning,
            stacklevel=2,
        )
    labels = nb.get_cluster_labels(merged=True).data.astype(int)
    times["neighbourhoods_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log("phases, symmetry, variants and boundaries")
    atoms, phase_summary, defects = _phases(atoms, nb, stack)
    times["phases_s"] = time.perf_counter() - t

    # figures show one good frame: the first with centre atoms (a failed frame
    # has none), named in the titles and the summary
    md = atoms.metadata.get_item("AtomPositions")
    failed = [int(k) for k in (md.get_item("failed_frames", []) or [])]
    reasons = [str(r) for r in (md.get_item("failed_reasons", []) or [])]
    shown = int(nb.get_centres().get_frames().min()) if stack else None

    t = time.perf_counter()
    log("polarisation and strain")
    atoms, pol, strain, measured = _polarisation_and_strain(atoms, shown)
    times["polarisation_strain_s"] = time.perf_counter() - t

    atoms.to_csv(out / "atoms.csv")
    _defects_csv(defects, out / "defects.csv")
    if not stack:
        nb.get_symmetry().to_csv(out / "symmetry.csv", index=False)
    atoms.save(out / f"atoms.{p['file_format']}", overwrite=True)
    nb.save(out / f"neighbourhoods.{p['file_format']}", overwrite=True)

    t = time.perf_counter()
    log("drawing figures")
    units = atoms.units["x"] or (
        "px" if atoms.grid["x"]["scale"] == 1 else "uncalibrated units"
    )
    settings = atoms.metadata.AtomPositions.settings
    err = np.hypot(atoms.get_column("x_err"), atoms.get_column("y_err"))
    ok = np.isfinite(err)
    sizes = np.bincount(labels, minlength=k)
    summary = {
        "title": signal.metadata.General.title,
        "parameters": {
            **p,
            "separation": "estimated" if p["separation"] is None else p["separation"],
            "separation_used": float(settings.separation)
            if "separation" in settings
            else None,
            "method": p["method"]
            if isinstance(p["method"], str)
            else "+".join(p["method"]),
            "preprocess": "+".join(p["preprocess"]) or "none",
            "contrast": p["contrast"] or "finder default",
            "lattice_parameter": "none (calibration as loaded)"
            if p["lattice_parameter"] is None
            else p["lattice_parameter"],
        },
        "image_shape": list(signal.axes_manager.signal_shape),
        "n_frames": int(max(signal.axes_manager.navigation_size, 1)),
        "units": units,
        "n_atoms": int(atoms.n_atoms),
        "n_refined": int(ok.sum()),
        "median_position_error": float(np.median(err[ok])) if ok.any() else None,
        "n_centres": int(nb.axes_manager.navigation_size),
        # shown in atoms.png, never silently dropped: atoms that are no centre
        # (their neighbourhood crosses the edge) and fits that did not converge
        "n_border": int(atoms.n_atoms - len(np.unique(nb.centre_indices))),
        "n_unconverged": int(np.sum(atoms.get_column("converged") != 1)),
        "n_neighbours": int(n_neighbours),
        "n_clusters": int(k),
        "clusters_reason": clusters_reason,
        "cluster_sizes": sizes.tolist(),
        "cluster_fractions": (sizes / max(sizes.sum(), 1)).round(4).tolist(),
        **phase_summary,
        **measured,
        "calibration": _calibration(signal, units),
        "lattice": lattice,
        "figure_frame": shown,
        "failed_frames": failed,
        "failed_reasons": reasons,
        "explained_variance_ratio": modes["explained_variance_ratio"].round(5).tolist(),
        "modes": _mode_summary(nb, modes),
    }
    _figures(
        signal,
        atoms,
        nb,
        k,
        sizes,
        out,
        plt,
        p["seed"],
        shown,
        lattice,
        summary["parameters"]["separation_used"],
        modes,
    )

    if not stack:
        _phase_figures(signal, atoms, phase_summary, defects, out, plt)
    _polarisation_strain_figures(signal, pol, strain, summary, out, plt, shown)
    times["figures_s"] = time.perf_counter() - t
    summary["times_s"] = {key: round(v, 3) for key, v in times.items()}
    return summary


#: (data type, contrast) of the runs whose kernels this process compiled.
_COMPILED = set()


def _compile_time(signal, contrast):
    """Seconds of the pipeline's compiled steps (find, refine, lattice,
    neighbourhoods, site classes, phases, defects, the maps and histograms
    of the figures) on
    a tiny synthetic image of the same data type: the first run in a process
    compiles its numba kernels (or loads them from numba's cache) here, so
    the timed steps after it measure the work alone. 0 when an earlier run
    of this process did it (same data type and contrast); it never fails the
    run."""
    from ..data import synthetic_lattice

    key = (np.dtype(signal.data.dtype).str, contrast)
    if key in _COMPILED:
        return 0.0  # compiled by an earlier run in this process
    _COMPILED.add(key)
    t = time.perf_counter()
    tiny = synthetic_lattice(shape=(128, 128), spacing=12.0, sigma=2.5, seed=0)
    data = tiny.data
    if contrast == "dark":
        data = data.max() + data.min() - data
    dtype = np.dtype(signal.data.dtype)
    if dtype.kind in "uif":
        tiny.data = data.astype(dtype)
    ckw = {} if contrast is None else {"contrast": contrast}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atoms = tiny.refine_atoms(tiny.find_atoms(**ckw), **ckw)
            atoms.get_lattice_parameters()
            nb = atoms.get_neighbourhoods(n_neighbours=4)
            nb.find_site_classes(max_classes=2, seed=0)
            nb.find_phases().get_defects()
            nb.get_cluster_map()
            nb.get_vector_histogram(bins=11)
    except (ValueError, RuntimeError, np.linalg.LinAlgError):
        pass  # still compiled what ran; the real image decides
    return time.perf_counter() - t
