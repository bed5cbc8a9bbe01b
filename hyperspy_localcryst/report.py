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

import base64
import html
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

from ._output import check_destination, result_folder
from .numerics import neighbourhoods as nbn
from .numerics._parallel import kd_query
from .signals._grid import (
    axis_units,
    check_at_most,
    check_bool,
    check_integer,
    check_n_sublattices,
    check_number,
    to_calibrated,
)
from .signals._plotting import NONE_COLOUR, add_scale_bar, class_colours

__all__ = ["analyse", "write_report", "FIGURES"]

#: Figures of a report, in display order: file name -> caption.
FIGURES = {
    "atoms.png": "Refined atom positions on the image by sublattice, with the "
    "measured cell vectors a and b; cyan rings: atoms that are no neighbourhood "
    "centre (near the edge); red crosses: fits that did not converge",
    "cluster_map.png": "Site classes: each centre atom coloured by its class (the "
    "colours of every figure); grey: atoms near the edge, not centres",
    "phases.png": "Phases: site classes that live together (numerics.phases); "
    "black rings: boundary atoms (their window mixes in another phase)",
    "variants.png": "Symmetry variants: site classes one point operation maps "
    "onto each other (e.g. polar domains), with the operation of each",
    "polar.png": "Polar shifts: each centre of the dimmest atom type (the B "
    "site in HAADF; every centre when the atoms have one type) displaced from "
    "the centroid of its neighbours (a closed shell only), averaged over the "
    "phase window; arrows coloured by direction (domains show as colours)",
    "defects.png": "Defects: vacancies (red circles), interstitials (cyan "
    "squares), dislocations (yellow: core and Burgers vector x 3), antiphase "
    "boundaries between translation domains (orange dots), phase boundaries "
    "(magenta dots) and variant boundaries (white dots)",
    "dendrogram.png": "Ward dendrogram of the neighbour vectors, branches "
    "coloured by site class (dark grey: centres of several classes); leaves: "
    "(number of centres); isolated neighbourhoods (defects, edges) left out, as "
    "in the class count. Where the classes also use atom type or brightness, "
    "the geometry alone need not separate them",
    "scree.png": "Scree plot: explained variance of the centred PCA components",
    "pca_modes.png": "PCA modes (centred) drawn as arrows on the mean "
    "neighbourhood: share of the variance, RMS amplitude, polar against the "
    "noise or not, pattern of the loadings",
    "loading_maps.png": "Amplitude maps of the first PCA modes (RMS neighbour "
    "displacement at each centre, signed by the loading)",
    "cluster_ffts.png": "Power spectrum of each site class's centre positions, "
    "zoomed to 1.5 x the first-order lattice spot frequency",
    "neighbour_histograms.png": "Neighbour-vector histograms, per cluster",
    "cluster_fractions.png": "Cluster fractions per frame",
}


def _check_fitted(atoms):
    """Refuse a table in which no atom could be fitted (every ``converged`` 0):
    the image has no bright, Gaussian-like columns where atoms were found."""
    if not np.any(atoms.get_column("converged") == 1):
        raise ValueError(
            f"The Gaussian fit failed for all {atoms.n_atoms} atoms found: the image "
            "shows no bright, peaked columns there. Dark-atom images (ABF) must be "
            "inverted first; check the separation and the finder (`method`)."
        )


def analyse(
    signal,
    out_dir,
    separation=None,
    method="log",
    neighbours="auto",
    metric="distance",
    clusters="auto",
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
    neighbours : "auto" or int
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
    clusters : "auto" or int
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
    seed : int
        Seed of every random step (dendrogram subsample, k-means).
    preprocess : sequence of {"background", "denoise"}
        Applied in order before finding: ``"background"`` subtracts a wide
        Gaussian blur (:meth:`AtomicImage.remove_background`, e.g. for STM
        height gradients and step edges), ``"denoise"`` a Gaussian denoise
        (:meth:`AtomicImage.denoise`). Figures show the preprocessed image.
    show_progressbar : bool, optional
        HyperSpy's progress bars for stacks.
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

    from .signals.atomic_image import AtomicImage

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
    neighbours = _auto_or_count(neighbours, "neighbours")
    check_integer(n_sublattices, "n_sublattices", minimum=1)
    check_integer(seed, "seed", minimum=0, maximum=2**32 - 1)
    check_bool(show_progressbar, "show_progressbar", allow_none=True)
    clusters = _auto_or_count(clusters, "clusters")
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
            neighbours=neighbours,
            metric=metric,
            clusters=clusters,
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
    log("finding atoms")
    atoms = signal.find_atoms(**find_kw)
    times["find_s"] = time.perf_counter() - t
    t = time.perf_counter()
    log(f"refining {atoms.n_atoms} atoms")
    atoms = signal.refine_atoms(atoms, **ckw, **kw)
    _check_fitted(atoms)
    if p["n_sublattices"] > 1:
        check_n_sublattices(p["n_sublattices"], atoms.n_atoms, "atoms found")
        if atoms.n_atoms >= 10 * p["n_sublattices"]:
            atoms = atoms.label_sublattices(
                p["n_sublattices"], column="amplitude", seed=p["seed"]
            )
        else:
            warnings.warn(
                f"Only {atoms.n_atoms} atoms for `n_sublattices` = "
                f"{p['n_sublattices']} (fewer than 10 per type): the sublattices "
                "are not labelled (all 0).",
                UserWarning,
                stacklevel=2,
            )
    times["refine_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log("measuring the lattice parameters")
    lattice = _lattice_table(atoms)
    times["lattice_s"] = time.perf_counter() - t

    t = time.perf_counter()
    n_neighbours, shell_closed = p["neighbours"], True
    if n_neighbours == "auto":
        n_neighbours, shell_closed = _shell_count(atoms)
    log(f"neighbourhoods (k = {n_neighbours}, {p['metric']} metric), PCA, site classes")
    nb = _neighbourhoods(atoms, n_neighbours, p["metric"])
    nb.decomposition(print_info=False)  # centred: modes deform the mean
    modes = nb.get_mode_properties(min(6, nb.learning_results.factors.shape[1]))
    n_centres = nb.axes_manager.navigation_size
    if p["clusters"] == "auto":
        found = nb.find_site_classes(max_classes=min(8, n_centres), seed=p["seed"])
        k, clusters_reason = found.n_classes, found.reason
    else:  # the user's number is used as given, or refused
        k = check_at_most(
            p["clusters"], "clusters", n_centres, "centre atoms (neighbourhoods)"
        )
        nb.cluster_analysis(n_clusters=k, random_state=p["seed"], n_init=10)
        clusters_reason = f"{k} given by the user (k-means)."
    if not shell_closed:
        warnings.warn(
            f"No shell of neighbours closes between 3 and 12 neighbours (a complex "
            f"or strongly distorted structure): k = {n_neighbours} (largest jump "
            "in neighbour distance) may split a shell, and which of its members "
            "a neighbourhood keeps can then make classes of its own; compare "
            "with other `neighbours`.",
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
    times["figures_s"] = time.perf_counter() - t
    summary["times_s"] = {key: round(v, 3) for key, v in times.items()}
    return summary


_DEFECT_COLUMNS = ("type", "x", "y", "burgers_x", "burgers_y", "atom")


def _phases(atoms, nb, stack):
    """Phases, symmetry, variants (``AtomNeighbourhoods.find_phases``), the
    per-atom columns ``site_class``, ``phase``, ``variant``,
    ``phase_boundary``, the summary keys and the boundary rows of the defect
    table."""
    import pandas as pd

    from .numerics import phases as ph

    if stack:
        n = atoms.n_atoms
        site = np.full(n, -1.0)
        site[nb.centre_indices] = nb.get_cluster_labels(merged=True).data
        minus = np.full(n, -1.0)
        atoms = atoms.add_columns(
            {
                "site_class": site,
                "phase": minus,
                "variant": minus,
                "variant_wall": np.zeros(n),
                "phase_boundary": np.zeros(n),
            }
        )
        summary = {
            "n_site_classes": int(site.max()) + 1,
            "n_phases": None,
            "phases_reason": "not computed for a stack: phases, variants and "
            "defects are found on one image (select a frame)",
            "variant_groups": [],
            "phases": [],
            "site_classes": [],
            "defects": {},
        }
        return atoms, summary, pd.DataFrame(columns=_DEFECT_COLUMNS)
    table = nb.find_phases()
    md = nb.metadata.AtomNeighbourhoods.phases.as_dictionary()
    table, polar = _polar_shifts(table, nb, md["radius"])
    xp, yp = table.get_pixel_positions()
    rows = []
    for name, column in (("phase_boundary", "phase"), ("variant_boundary", "variant")):
        b = ph.boundary_points(xp, yp, table.get_column(column).astype(int))
        bx, by = b["x"], b["y"]
        if column == "variant" and "variant_wall" in table.columns:
            # the centres on a wall between variants are the wall
            on = table.get_column("variant_wall") == 1
            bx, by = np.r_[bx, xp[on]], np.r_[by, yp[on]]
        bx, by = to_calibrated(table.grid, bx, by)
        rows.append(
            pd.DataFrame(
                {
                    "type": name,
                    "x": bx,
                    "y": by,
                    "burgers_x": np.nan,
                    "burgers_y": np.nan,
                    "atom": -1,
                }
            )
        )
    try:
        found = table.get_defects(groups="phase" if md["n_phases"] > 1 else None)
    except ValueError as err:  # no lattice to predict sites from
        warnings.warn(f"Defects not searched: {err}", UserWarning, stacklevel=2)
        found = pd.DataFrame(columns=_DEFECT_COLUMNS)
    rows.insert(0, found.loc[:, list(_DEFECT_COLUMNS)])
    rows = [r for r in rows if len(r)]
    defects = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=_DEFECT_COLUMNS)
    )
    summary = {
        "n_site_classes": len(md["site_classes"]),
        "n_phases": int(md["n_phases"]),
        "phases_reason": md["reason"],
        "variant_groups": [
            {
                "site_classes": g["site_classes"],
                "operations": g["operations"],
                "residuals": g["residuals"],
            }
            for g in md["variant_groups"]
        ],
        "boundary_classes": md["boundary_classes"],
        "phases": md["phases"],
        "site_classes": md["site_classes"],
        "defects": {str(k): int(v) for k, v in defects["type"].value_counts().items()},
        "polar": polar,
    }
    return table, summary, defects


def _polar_shifts(table, nb, radius):
    """Each centre's shift from the centroid of its neighbours (minus the
    mean of its neighbour vectors: in a perovskite [001] the B site's
    polar displacement from its A cage), averaged over the centres of one
    atom type within ``radius`` (calibrated): columns ``polar_dx``,
    ``polar_dy`` (calibrated; NaN on other atoms) and a summary dict. The
    type is the dimmest atom type (the B site in HAADF) when the atoms have
    types by the rule of :meth:`AtomNeighbourhoods.find_site_classes`
    (``types="auto"``: sublattices labelled by structure whose brightness
    differs); otherwise all centres (one kind of atom, or two equally bright
    sets of one lattice, whose dimmer half would be noise). Only centres
    whose k neighbours are a closed shell count: where the (k+1)-th nearest
    atom is as near as the k-th (k = 4 on a hexagonal phase, 6 on a square
    one, of a two-phase image) the centroid of a noise-chosen part of a shell
    is no polar shift. And only site classes whose neighbours, the shift
    taken off, are symmetric under a 2- or 3-fold rotation (median residual
    under a tenth of the nearest-neighbour distance): there the undistorted
    site sits at its neighbours' centroid (a strain or scan distortion, being
    affine, keeps it there), so the offset is a polar displacement; in a
    complex cell (a tungsten bronze, the Si(111) 7x7) the offset is the
    structure itself."""
    from .numerics import phases as ph
    from .numerics import symmetry as sy

    n = table.n_atoms
    centres = nb.centre_indices
    vectors = nb.get_vectors("image")
    shift = np.full((n, 2), np.nan)
    shift[centres] = -np.nanmean(vectors, axis=1)
    mask = np.zeros(n, bool)
    mask[centres] = _closed_shell(table, centres, vectors.shape[1])
    n_open = int(len(centres) - mask.sum())
    # centrosymmetric (2) or trigonal (3) up to the shift, per site class
    res = sy.symmetry_residuals(vectors + shift[centres][:, None, :])
    rot = np.fmin(res["2"], res["3"])
    tol = 0.1 * np.nanmedian(np.nanmin(np.hypot(vectors[..., 0], vectors[..., 1]), 1))
    sc = table.get_column("site_class")[centres]
    symmetric = np.zeros(len(centres), bool)
    for c in np.unique(sc):
        m = sc == c
        symmetric[m] = bool(np.nanmedian(rot[m]) <= tol)
    n_asymmetric = int((mask[centres] & ~symmetric).sum())
    mask[centres] &= symmetric
    which = "all centres"
    types = nb._centre_types("auto")  # None: no atom types the data support
    if types is not None and "amplitude" in table.columns:
        amp = table.get_column("amplitude")[centres]
        labels = [t for t in np.unique(types[types >= 0]) if (types == t).sum() > 5]
        if len(labels) > 1:
            dim = min(labels, key=lambda t: np.nanmedian(amp[types == t]))
            mask[centres] &= types == dim
            which = f"sublattice {int(dim)} (the dimmest)"
    xp, yp = table.get_pixel_positions()
    scale = abs(float(table.grid["x"]["scale"]))
    mean, count = ph.local_mean(xp, yp, shift, radius / scale, mask)
    mean[~mask] = np.nan
    table = table.add_columns({"polar_dx": mean[:, 0], "polar_dy": mean[:, 1]})
    size = np.hypot(mean[:, 0], mean[:, 1])
    errors = nb._atom_errors()
    noise = None
    if errors is not None and mask.any():
        # per-axis noise of one centre's shift, over the window's centres
        e = float(np.nanmedian(np.hypot(errors[0], np.nanmean(errors[1], axis=1))))
        noise = e / np.sqrt(max(float(np.median(count[mask])), 1.0))
    summary = {
        "atoms": which,
        "open_shell_centres": n_open,
        "asymmetric_centres": n_asymmetric,
        "window": float(radius),
        "median_shift": float(np.nanmedian(size[mask])) if mask.any() else None,
        "noise": noise,
        "mean_shift": [float(v) for v in np.nanmean(mean[mask], axis=0)]
        if mask.any()
        else None,
    }
    return table, summary


def _closed_shell(table, centres, k, jump=1.1):
    """Whether each centre's ``k`` nearest atoms (of its frame) are a closed
    shell: the (k+1)-th is at least ``jump`` times as far as the k-th."""
    from scipy.spatial import cKDTree

    xp, yp = table.get_pixel_positions()
    frames = table.get_frames()
    closed = np.zeros(len(centres), bool)
    for f in np.unique(frames[centres]):
        here = np.flatnonzero(frames == f)
        if len(here) < k + 2:
            continue
        mine = frames[centres] == f
        tree = cKDTree(np.c_[xp[here], yp[here]])
        d, _ = kd_query(tree, np.c_[xp[centres[mine]], yp[centres[mine]]], k + 2)
        closed[mine] = d[:, k + 1] >= jump * d[:, k]
    return closed


def _defects_csv(defects, path):
    """The defect table as CSV (one row per defect or boundary point)."""
    defects.loc[:, list(_DEFECT_COLUMNS)].to_csv(path, index=False)


def _mode_summary(nb, modes):
    """The PCA modes for summary.json: the mean neighbourhood's net shift and,
    per mode, share, amplitude, polarity against the noise and pattern."""
    mean = nb.get_mean_neighbourhood()
    factor, unit = nb._length_unit()
    shift = -mean.mean(axis=0) * factor  # the centre against its neighbours
    noise = modes["net_shift_noise"].iloc[0]
    rows = []
    for c, r in modes.iterrows():
        rows.append(
            {
                "component": int(c),
                "explained_variance_ratio": round(float(r.explained_variance_ratio), 5),
                "amplitude": round(float(r.amplitude), 4),
                "noise_amplitude": _finite(r.noise_amplitude),
                "polar": bool(r.polar),
                "net_shift": [
                    round(float(r.net_shift_x), 4),
                    round(float(r.net_shift_y), 4),
                ],
                "net_shift_rms": round(float(r.net_shift), 4),
                "net_shift_noise": _finite(r.net_shift_noise),
                "pattern": str(r.pattern),
                "scale": _finite(r.scale),
                "title": nb._mode_title(c, r).replace("\n", "; "),
            }
        )
    return {
        "centred": nb.learning_results.mean is not None,
        "units": unit,
        "mean_net_shift": [round(float(v), 4) for v in shift],
        "mean_net_shift_noise": _finite(noise),
        "modes": rows,
    }


def _mode_rows(summary):
    """Key-number rows of the PCA modes (older summaries: the ratios only)."""
    m = summary.get("modes")
    if not m:
        return [
            (
                "explained variance ratio (first components)",
                ", ".join(f"{v:.3g}" for v in summary["explained_variance_ratio"]),
            )
        ]
    u = m["units"]
    sx, sy = m["mean_net_shift"]
    noise = m["mean_net_shift_noise"]
    mean = f"net shift of the centre ({sx:.3g}, {sy:.3g}) {u}" + (
        f" (noise per centre {noise:.3g} {u})" if noise is not None else ""
    )
    return [
        (
            "PCA",
            "centred: modes are deviations from the mean neighbourhood"
            if m["centred"]
            else "uncentred",
        ),
        ("mean neighbourhood", mean),
        *((f"PCA mode {r['component']}", r["title"]) for r in m["modes"]),
    ]


def _finite(value):
    """A float for JSON, None for NaN or infinity."""
    value = float(value)
    return round(value, 4) if np.isfinite(value) else None


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
    from .data import synthetic_lattice

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


def _phases_html(summary):
    """The phases, site classes (with their symmetry), variants and defect
    counts of a summary, as HTML ('' for older summaries)."""
    if "n_phases" not in summary:
        return ""
    esc = html.escape
    items = [f"<p>{esc(str(summary.get('phases_reason', '')))}</p>"]
    sentences = [p.get("description", "") for p in summary.get("phases", [])]
    sentences += [c.get("description", "") for c in summary.get("site_classes", [])]
    if sentences:
        items.append(
            "<ul>" + "".join(f"<li>{esc(t)}</li>" for t in sentences) + "</ul>"
        )
    groups = summary.get("variant_groups", [])
    if groups:
        rows = "".join(
            f"<tr><td>{g}</td><td>{esc(', '.join(str(v) for v in grp['site_classes']))}"
            f"</td><td>{esc(', '.join(grp['operations']))}</td></tr>"
            for g, grp in enumerate(groups)
        )
        items.append(
            "<table><tr><th>variant group</th><th>site classes of each variant"
            "</th><th>operation mapping variant 0 onto each</th></tr>"
            f"{rows}</table>"
        )
    else:
        items.append(
            "<p>No symmetry variants (no site classes that live apart and "
            "that one point operation relates).</p>"
        )
    counts = summary.get("defects") or {}
    items.append(
        "<p>Defects and boundaries (<code>defects.csv</code>): "
        + esc(", ".join(f"{k} {v}" for k, v in counts.items()) or "none found")
        + ".</p>"
    )
    return "<h2>Phases, symmetry, variants, defects</h2>" + "".join(items)


def _phase_figures(signal, atoms, part, defects, out, plt):
    """phases.png, variants.png (when there are variants) and defects.png."""
    x, y = atoms.get_column("x"), atoms.get_column("y")
    phase = atoms.get_column("phase").astype(int)
    fig, ax = plt.subplots(figsize=_figsize(signal), layout="constrained")
    n = int(part.get("n_phases") or 0)
    names = [
        f"phase {i}: classes {', '.join(map(str, p['site_classes'])) or '-'}"
        for i, p in enumerate(part.get("phases", []))
    ]
    handles = _categorical_map(
        ax,
        signal,
        x,
        y,
        phase,
        names=names or None,
        title=f"Phases: {n}",
        others="no phase",
    )
    b = atoms.get_column("phase_boundary") > 0
    if b.any():
        handles.append(
            ax.scatter(
                x[b],
                y[b],
                s=_marker_size(ax, x, y) * 2.5,
                facecolors="none",
                edgecolors="black",
                linewidths=0.7,
                label=f"boundary atoms: {int(b.sum())}",
            )
        )
        ax.legend(handles=handles, fontsize=7, loc="upper right")
    _save(fig, out, "phases.png", plt)

    groups = part.get("variant_groups") or []
    if groups:
        variant = atoms.get_column("variant").astype(int)
        fig, ax = plt.subplots(figsize=_figsize(signal), layout="constrained")
        g0 = groups[0]
        names = [
            f"variant {i} ({op}): classes {', '.join(map(str, v))}"
            for i, (v, op) in enumerate(zip(g0["site_classes"], g0["operations"]))
        ]
        _categorical_map(
            ax,
            signal,
            x,
            y,
            variant,
            names=names,
            title=f"Symmetry variants (group 0 of {len(groups)})",
            others="no variant",
        )
        _save(fig, out, "variants.png", plt)

    polar = part.get("polar") or {}
    if "polar_dx" in atoms.columns and polar.get("median_shift"):
        dx, dy = atoms.get_column("polar_dx"), atoms.get_column("polar_dy")
        ok = np.isfinite(dx) & np.isfinite(dy)
        fig, ax = plt.subplots(figsize=_figsize(signal), layout="constrained")
        units = axis_units(signal.axes_manager.signal_axes[0].units) or "px"
        nn = _nearest_distance(x, y) or 1.0
        gain = 0.5 * nn / polar["median_shift"]
        noise = polar.get("noise")
        _image(
            ax,
            signal,
            f"Polar shift of {polar['atoms']} from its neighbours' centroid,\n"
            f"mean over {polar['window']:.3g} {units}; arrows x {gain:.3g}; median "
            f"{polar['median_shift']:.3g} {units}"
            + (f", noise {noise:.2g} {units}" if noise else ""),
        )
        angle = np.degrees(np.arctan2(-dy[ok], dx[ok])) % 360
        q = ax.quiver(
            x[ok],
            y[ok],
            gain * dx[ok],
            gain * dy[ok],
            angle,
            cmap="hsv",
            clim=(0, 360),
            angles="xy",
            scale_units="xy",
            scale=1,
            width=0.003,
        )
        fig.colorbar(q, ax=ax, fraction=0.03, pad=0.01).set_label(
            "direction (deg, counter-clockwise from +x)", fontsize=8
        )
        _save(fig, out, "polar.png", plt)

    fig, ax = plt.subplots(figsize=_figsize(signal), layout="constrained")
    _image(ax, signal, f"Defects and boundaries: {len(defects)} rows of defects.csv")
    size = _marker_size(ax, x, y)
    handles = []
    styles = {
        "phase_boundary": dict(s=size * 1.2, color="magenta", marker="."),
        "variant_boundary": dict(s=size * 1.2, color="white", marker="."),
        "antiphase_boundary": dict(s=size * 1.2, color="orange", marker="."),
        "vacancy": dict(
            s=size * 4, facecolors="none", edgecolors="red", linewidths=1.2
        ),
        "interstitial": dict(
            s=size * 4,
            marker="s",
            facecolors="none",
            edgecolors="cyan",
            linewidths=1.2,
        ),
        "dislocation": dict(s=size * 3, color="yellow", marker="o"),
    }
    for kind, style in styles.items():
        d = defects[defects["type"] == kind]
        if len(d):
            handles.append(
                ax.scatter(d["x"], d["y"], label=f"{kind}: {len(d)}", **style)
            )
        if kind == "dislocation" and len(d):
            ax.quiver(
                d["x"],
                d["y"],
                3 * d["burgers_x"],
                3 * d["burgers_y"],
                angles="xy",
                scale_units="xy",
                scale=1,
                color="yellow",
                width=0.004,
            )
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="upper right")
    _save(fig, out, "defects.png", plt)


def _lattice_table(atoms):
    """Measured lattice parameters of all atoms, then of each sublattice; a
    measurement that fails is a row with its reason (never a failed run)."""
    rows = []
    labels = atoms.get_column("sublattice") if "sublattice" in atoms.columns else None
    subs = [] if labels is None else np.unique(labels[np.isfinite(labels)])
    for sub in [None] + ([int(v) for v in subs] if len(subs) > 1 else []):
        name = "all atoms" if sub is None else f"sublattice {sub}"
        try:
            m = atoms.get_lattice_parameters(sublattice=sub)
        except ValueError as e:
            rows.append({"atoms": name, "error": str(e)})
            continue
        rows.append(
            {
                "atoms": name,
                **{
                    k: m[k]
                    for k in (
                        "a",
                        "a_err",
                        "b",
                        "b_err",
                        "gamma",
                        "gamma_err",
                        "orientation",
                        "units",
                        "n_atoms",
                        "residual_rms",
                        "a_vector",
                        "b_vector",
                    )
                },
            }
        )
    return rows


def _calibration(signal, units):
    """The pixel size used and where it came from (file, user, lattice)."""
    ax = signal.axes_manager.signal_axes
    md = signal.metadata.get_item("Calibration")
    md = md.as_dictionary() if md is not None else {}
    out = {
        "pixel_size": [float(ax[0].scale), float(ax[1].scale)],
        "units": units,
        "source": md.get("method", "file"),
    }
    for key in ("original_scale", "factor_x", "factor_y", "lattice_parameter"):
        if key in md:
            value = md[key]
            out[key] = list(value) if isinstance(value, (list, tuple)) else value
    if "original_scale" in md:
        out["original_units"] = str(
            md.get("original_units", md.get("previous_units", units)) or ""
        )
    if "measured" in md:
        out["measured_before"] = dict(md["measured"])
    return out


def _shell_count(atoms):
    """Neighbour count closing a shell (``shell_count``), from the frame with
    the most atoms (one frame of a stack stands for all: neighbourhoods are
    compared across frames, so they must have the same k); (6, False) for
    fewer than 6 atoms."""
    x, y = atoms.get_column("x"), atoms.get_column("y")
    frames = atoms.get_frames()
    first = frames == np.bincount(frames.astype(int)).argmax()
    if first.sum() < 6:
        return 6, False
    return nbn.shell_count(x[first], y[first])


def _neighbourhoods(atoms, k, metric):
    """Neighbourhoods of the atoms away from the border; on an image too small
    for two such centres, of every atom (with a warning), rather than none."""
    if k > atoms.n_atoms - 1:
        raise ValueError(
            f"`neighbours` = {k} is more than the {atoms.n_atoms - 1} other atoms: "
            f"{atoms.n_atoms} atom(s) found; at least {k + 1} are needed."
        )
    try:
        nb = atoms.get_neighbourhoods(n_neighbours=k, metric=metric)
        n = nb.axes_manager.navigation_size
        if n >= 2:
            return nb
        reason = f"Only {n} atom lies far enough from the edges to be a centre."
    except ValueError as e:
        if "border" not in str(e):
            raise
        reason = str(e)
    # a small image: every atom is near an edge. Keep them all as centres
    # (their neighbourhoods lean inwards) rather than give no result.
    warnings.warn(
        f"{reason} Every atom is used as a centre instead (exclude_border=False): "
        "neighbourhoods of edge atoms are one-sided.",
        UserWarning,
        stacklevel=3,
    )
    nb = atoms.get_neighbourhoods(n_neighbours=k, metric=metric, exclude_border=False)
    if nb.axes_manager.navigation_size < 2:
        raise ValueError(
            f"Only {atoms.n_atoms} atom(s) found: too few for neighbourhood statistics."
        )
    return nb


#: Longest side, in pixels, of the images drawn in figures: larger images are
#: shown with a stride (a figure is 9 inches at 110 dpi, ~1,000 px wide;
#: drawing a 4096² map at full resolution costs gigabytes of RGBA buffers and
#: seconds of resampling for nothing).
DISPLAY_PX = 1100


def _display_step(shape):
    """The stride that brings an image of ``shape`` (..., ny, nx) to at most
    :data:`DISPLAY_PX` pixels per side."""
    return max(1, int(np.ceil(max(shape[-2:]) / DISPLAY_PX)))


def _display(data):
    """First frame of an image-shaped array (stack maps are per frame), strided
    down to at most :data:`DISPLAY_PX` per side for drawing."""
    data = np.asarray(data)
    data = data.reshape((-1,) + data.shape[-2:])[0]
    step = _display_step(data.shape)
    return data[::step, ::step]


def _map_data(values):
    """A one-frame map signal, ready to draw (see :func:`_display`)."""
    return _display(values.data)


def _extent(signal):
    ax = signal.axes_manager.signal_axes
    return (
        ax[0].offset - 0.5 * ax[0].scale,
        ax[0].offset + (ax[0].size - 0.5) * ax[0].scale,
        ax[1].offset + (ax[1].size - 0.5) * ax[1].scale,
        ax[1].offset - 0.5 * ax[1].scale,
    )


def _figsize(signal, rows=1, width=9.0):
    nx, ny = signal.axes_manager.signal_shape
    return (width, min(max(width * ny / nx * rows, 2.4), 12.0) + 0.6)


def _image(ax, signal, title, frame=None):
    """Draw one frame (flat index ``frame`` of a stack; lazy-safe) in grey,
    with x and y labelled in the image's units and a scale bar."""
    first = signal
    nav = signal.axes_manager.navigation_shape  # inav order
    if nav:
        idx = np.unravel_index(frame or 0, nav[::-1])[::-1]  # flat (C) -> inav
        first = signal.inav[tuple(int(i) for i in idx)]
    data = np.asarray(first.data)  # a lazy frame is computed
    img = _display(data).astype(float)
    lo, hi = np.nanpercentile(img, [0.5, 99.5])
    ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, extent=_extent(signal))
    ax.set_title(title, fontsize=9)
    units = axis_units(signal.axes_manager.signal_axes[0].units) or "px"
    ax.set_xlabel(f"x ({units})")
    ax.set_ylabel(f"y ({units})")
    add_scale_bar(ax, units)


def _nearest_distance(x, y):
    """Median nearest-neighbour distance of the finite points (None for
    fewer than 2)."""
    from scipy.spatial import cKDTree

    pts = np.column_stack([x, y])
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) < 2:
        return None
    return float(np.median(kd_query(cKDTree(pts), pts, k=2)[0][:, 1]))


def _marker_size(ax, x, y):
    """Dot area (points²) for atoms at ``x, y`` on ``ax``: a dot a third of
    the median nearest-neighbour distance ``d`` across, however large the
    image, or up to half of it where a third is under 6 points (a third
    was too small to tell the colours apart on 4,000 MoS2 columns, and half
    hides the columns of a sparser lattice)."""
    d = _nearest_distance(x, y)
    if d is None:
        return 20.0
    box = ax.get_position()
    w, h = ax.figure.get_size_inches() * 72 * (box.width, box.height)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    per_unit = min(w / abs(x1 - x0), h / abs(y1 - y0))
    d_pt = d * per_unit
    return float(np.clip(min(d_pt / 2, max(d_pt / 3, 6.0)) ** 2, 1.0, 400.0))


def _legend(ax, handles, title=None):
    """One legend to the right of the axes (never over the atoms)."""
    sizes = [h.get_sizes()[0] for h in handles if len(h.get_sizes())]
    scale = float(np.sqrt(30 / min(sizes))) if sizes else 1.0  # legend dots: 30
    return ax.legend(
        handles=handles,
        title=title,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        fontsize=7,
        title_fontsize=7,
        markerscale=scale,
        frameon=False,
    )


def _class_features_beyond_geometry(nb):
    """What the site classes used besides the neighbour vectors ("atom
    type and brightness"), or "" (the dendrogram clusters the vectors)."""
    key = "AtomNeighbourhoods.site_classes"
    if not nb.metadata.has_item(key):
        return ""
    used = []
    if str(nb.metadata.get_item(f"{key}.types", "none")) != "none":
        used.append("atom type")
    if bool(nb.metadata.get_item(f"{key}.contrast", False)):
        used.append("brightness")
    return " and ".join(used)


def _categorical_map(
    ax, image_signal, x, y, labels, names=None, title="", others=None, frame=None
):
    """A categorical map: the image in grey, one dot per atom coloured by its
    class, and a legend with one entry per class (name and count).

    Class ``i`` is drawn in ``class_colours(n)[i]``, the colour it has in
    every figure (:func:`~hyperspy_localcryst.signals._plotting.class_colours`);
    label ``-1`` is drawn grey as ``others`` ("not assigned"). Used for the
    sublattices, the site classes, and by anyone drawing phases or variants
    (one call per figure).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    image_signal : AtomicImage
        The image drawn underneath (its axes give the units, labels and
        scale bar); of a stack, the frame ``frame``.
    x, y : array_like
        Calibrated positions of the atoms to draw.
    labels : array_like of int
        Class per atom, ``0 .. n - 1``, or ``-1`` for none.
    names : sequence of str, optional
        Name of each class (default ``"class i"``); its length sets the
        number of classes listed (a class with no atom gets a count of 0).
    title : str
        Axes title.
    others : str, optional
        Legend name of label ``-1`` (default ``"not assigned"``); listed only
        when some atom has it.
    frame : int, optional
        Flat frame index of a stack to draw.

    Returns
    -------
    list of matplotlib.collections.PathCollection
        One scatter per legend entry (classes in order, then ``-1``): add
        your own handles and call ``ax.legend`` again to extend the legend.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> s = synthetic_lattice(shape=(64, 64), seed=0)
    >>> fig, ax = plt.subplots()
    >>> h = _categorical_map(ax, s, [0.1, 0.3, 0.5], [0.2, 0.2, 0.4], [0, 1, -1],
    ...                      names=["Sr", "Ti"])
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['Sr: 1', 'Ti: 1', 'not assigned: 1']
    >>> plt.close(fig)
    """
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    labels = np.asarray(labels).astype(np.int64).ravel()
    if not (len(x) == len(y) == len(labels)):
        raise ValueError(
            f"`x`, `y` and `labels` must have one value per atom, got {len(x)}, "
            f"{len(y)} and {len(labels)}."
        )
    n = max(int(labels.max()) + 1 if labels.size else 0, len(names or ()))
    names = list(names) if names else [f"class {i}" for i in range(n)]
    names += [f"class {i}" for i in range(len(names), n)]
    _image(ax, image_signal, title, frame)
    size = _marker_size(ax, x, y)
    colours = class_colours(n)
    handles = []
    for i in range(n):
        m = labels == i
        handles.append(
            ax.scatter(
                x[m],
                y[m],
                s=size,
                color=colours[i],
                linewidths=0,
                label=f"{names[i]}: {int(m.sum())}",
            )
        )
    m = labels < 0
    if m.any():
        handles.append(
            ax.scatter(
                x[m],
                y[m],
                s=size,
                color=NONE_COLOUR,
                linewidths=0,
                label=f"{others or 'not assigned'}: {int(m.sum())}",
            )
        )
    _legend(ax, handles)
    return handles


def _save(fig, out, name, plt):
    fig.savefig(out / name, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _panels(plt, k, columns=4):
    """A figure with one panel per class, at most ``columns`` per row; the
    ``k`` axes in class order (spare cells of the last row hidden)."""
    cols, rows = min(k, columns), -(-k // columns)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(3.1 * cols + 0.6, 3.3 * rows),
        squeeze=False,
        layout="constrained",
    )
    axes = axes.ravel()
    for ax in axes[k:]:
        ax.set_axis_off()
    return fig, axes[:k]


def _first_order_frequency(lattice, separation):
    """Largest first-order spot frequency (1 / the d-spacing of the cell's
    (10) and (01) planes) of the first measured cell; else 1 / separation;
    else None. Calibrated inverse units."""
    row = next((r for r in lattice or () if "a_vector" in r), None)
    if row is not None:
        cell = np.array([row["a_vector"], row["b_vector"]], dtype=float)
        if np.all(np.isfinite(cell)) and abs(np.linalg.det(cell)) > 0:
            return float(np.linalg.norm(np.linalg.inv(cell).T, axis=1).max())
    if separation:
        return 1.0 / float(separation)
    return None


def _figures(
    signal,
    atoms,
    nb,
    k,
    sizes,
    out,
    plt,
    seed,
    frame=None,
    lattice=(),
    separation=None,
    modes=None,
):
    """Draw the report's figures; maps of a stack show the flat frame ``frame``."""
    colours = class_colours(k)
    frame_note = ""
    if frame is not None:
        label = signal._frame_label(frame)
        frame_note = f" (frame {frame}{': ' + label if label else ''})"
    in_frame = atoms.get_frames() == (frame or 0)
    x, y = atoms.get_column("x")[in_frame], atoms.get_column("y")[in_frame]
    centres = np.zeros(atoms.n_atoms, bool)
    centres[nb.centre_indices] = True
    atom_class = np.full(atoms.n_atoms, -1)
    atom_class[nb.centre_indices] = nb.get_cluster_labels(merged=True).data.astype(int)

    # atoms: sublattices, border atoms (not centres), fits that failed
    fig, ax = plt.subplots(figsize=_figsize(signal), layout="constrained")
    if "sublattice" in atoms.columns:
        sub = atoms.get_column("sublattice")[in_frame]
        sub = np.where(np.isfinite(sub), sub, -1).astype(int)
    else:
        sub = np.zeros(len(x), int)
    n_sub = int(sub.max()) + 1 if sub.size else 1
    names = (
        [f"sublattice {i}" + (" (brightest)" if i == 0 else "") for i in range(n_sub)]
        if n_sub > 1
        else ["atoms"]
    )
    handles = _categorical_map(
        ax,
        signal,
        x,
        y,
        sub,
        names=names,
        title=f"{int(in_frame.sum())} atoms{frame_note}",
        others="no sublattice",
        frame=frame,
    )
    size = _marker_size(ax, x, y)
    border = ~centres[in_frame]
    handles.append(
        ax.scatter(
            x[border],
            y[border],
            s=size * 2.5,
            facecolors="none",
            edgecolors="cyan",
            linewidths=0.7,
            label=f"not a centre (neighbourhood crosses the edge): {int(border.sum())}",
        )
    )
    failed = atoms.get_column("converged")[in_frame] != 1
    handles.append(
        ax.scatter(
            x[failed],
            y[failed],
            s=size * 2.5,
            marker="x",
            color="red",
            linewidths=1.2,
            label=f"fit not converged: {int(failed.sum())}",
        )
    )
    _legend(ax, handles)
    _draw_cell(ax, atoms.get_frame(frame) if frame is not None else atoms, lattice)
    _save(fig, out, "atoms.png", plt)

    fig, ax = plt.subplots(figsize=_figsize(signal), layout="constrained")
    how = (
        "classes the data support"
        if nb.metadata.has_item("AtomNeighbourhoods.site_classes")
        else "k-means"
    )
    _categorical_map(
        ax,
        signal,
        x,
        y,
        atom_class[in_frame],
        names=[f"class {i}" for i in range(k)],
        title=f"Site classes ({how}): K = {k}{frame_note}",
        others="not a centre (border)",
        frame=frame,
    )
    _save(fig, out, "cluster_map.png", plt)

    fig, ax = plt.subplots(figsize=(8, 3.8))
    nb.plot_dendrogram(n_clusters=k, ax=ax, seed=seed)
    cut = f" (dashed: the Ward cut at K = {k})" if k > 1 else ""
    also = _class_features_beyond_geometry(nb)
    also = f"\ngeometry only: the site classes also use {also}" if also else ""
    ax.set_title(
        f"Ward dendrogram of the neighbourhoods{cut}, coloured by site class{also}",
        fontsize=9,
    )
    _save(fig, out, "dendrogram.png", plt)

    ax = nb.plot_scree_plot(n=min(20, nb.axes_manager.signal_size))
    ax.figure.set_size_inches(5, 3.6)
    ax.set_title("Scree plot", fontsize=9)
    _save(ax.figure, out, "scree.png", plt)

    n_comp = min(4, nb.learning_results.factors.shape[1])
    comps = tuple(range(n_comp))
    if modes is None:
        modes = nb.get_mode_properties(n_comp)
    _save(nb.plot_modes(comps, properties=modes), out, "pca_modes.png", plt)

    fig, axes = plt.subplots(
        len(comps),
        1,
        figsize=_figsize(signal, rows=len(comps)),
        squeeze=False,
        layout="constrained",
    )
    for ax, c in zip(axes[:, 0], comps):
        r = modes.iloc[c]
        title = nb._mode_title(c, r).replace("\n", "; ")
        _image(ax, signal, f"Amplitude of {title}{frame_note}", frame)
        amplitude = nb.get_mode_amplitudes(c).get_column("amplitude")
        # rasterised at display resolution only (the pixels of the full map)
        step = _display_step(signal.axes_manager.signal_shape[::-1])
        vals = _map_data(nb.get_map(amplitude, frame=frame, step=step))
        lim = np.nanpercentile(np.abs(vals), 98) or 1.0
        im = ax.imshow(
            vals, cmap="RdBu_r", vmin=-lim, vmax=lim, alpha=0.6, extent=_extent(signal)
        )
        fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01).set_label(
            f"amplitude ({r.units})", fontsize=8
        )

    _save(fig, out, "loading_maps.png", plt)

    k1 = _first_order_frequency(lattice, separation)
    # only the frequencies drawn (1.5 x the first-order spots, and one more
    # sample so that the image fills the view) are kept
    dk = max(1.0 / (a.size * a.scale) for a in signal.axes_manager.signal_axes)
    fft = nb.get_cluster_fft(max_frequency=None if k1 is None else 1.5 * k1 + dk)
    a0, a1 = fft.axes_manager.signal_axes
    ex = (a0.low_value, a0.high_value, a1.high_value, a1.low_value)
    k_units = axis_units(a0.units) or "1/px"
    # the view: 1.5 k1, within the whole spectrum's range (n samples of
    # 1 / (n pixel size), zero at n // 2) along each axis
    lims = [
        min(1.5 * k1, a.scale * (n - 1 - n // 2), a.scale * (n // 2))
        if k1 is not None
        else None
        for a, n in zip((a0, a1), signal.axes_manager.signal_shape)
    ]
    fig, axes = _panels(plt, k)
    for i, ax in enumerate(axes):
        p = np.log10(fft.data[i] + 1e-12 * max(fft.data[i].max(), 1e-300))
        im = ax.imshow(p, extent=ex, cmap="inferno", vmin=np.percentile(p, 50))
        if k1 is not None:  # zoom to the lattice spots, within the Nyquist range
            ax.set_xlim(-lims[0], lims[0])
            ax.set_ylim(lims[1], -lims[1])
        ax.set_title(f"class {i} ({sizes[i]} centres)", fontsize=8, color=colours[i])
        ax.set_xlabel(f"kx ({k_units})", fontsize=7)
        ax.set_ylabel(f"ky ({k_units})", fontsize=7)
        ax.tick_params(labelsize=7)
        bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        bar.set_label("log10 power (a.u.)", fontsize=7)
        bar.ax.tick_params(labelsize=6)
    _save(fig, out, "cluster_ffts.png", plt)

    hist = nb.get_vector_histogram(bins=81, by_cluster=True)
    h0, h1 = hist.axes_manager.signal_axes
    ex = (h0.low_value, h0.high_value, h1.high_value, h1.low_value)
    h_units = axis_units(h0.units) or "px"
    fig, axes = _panels(plt, k)
    for i, ax in enumerate(axes):
        im = ax.imshow(np.log1p(hist.data[i]), extent=ex, cmap="magma")
        ax.set_title(f"class {i}", fontsize=8, color=colours[i])
        ax.set_xlabel(f"dx ({h_units})", fontsize=7)
        ax.set_ylabel(f"dy ({h_units})", fontsize=7)
        ax.tick_params(labelsize=7)
        bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        bar.set_label("log(1 + neighbour count)", fontsize=7)
        bar.ax.tick_params(labelsize=6)
    _save(fig, out, "neighbour_histograms.png", plt)

    if atoms.n_frames > 1:
        frac = nb.get_cluster_fractions()
        nav = frac.axes_manager.navigation_axes
        xs = nav[0].axis if nav else np.arange(frac.data.shape[0])
        fig, ax = plt.subplots(figsize=(7, 3.4), layout="constrained")
        data = np.asarray(frac.data).reshape(len(xs), -1)
        for i in range(data.shape[1]):
            ax.plot(xs, data[:, i], "o-", color=colours[i], label=f"class {i}")
        u = axis_units(nav[0].units) if nav else ""
        ax.set_xlabel(
            (f"{nav[0].name} ({u})" if u else str(nav[0].name)) if nav else "frame"
        )
        ax.set_ylabel("fraction of centre atoms")
        ax.legend(fontsize=7)
        _save(fig, out, "cluster_fractions.png", plt)


def _draw_cell(ax, atoms, lattice):
    """The measured cell vectors a (yellow) and b (green) of the first
    measured cell in ``lattice``, from the atom nearest the middle."""
    row = next((r for r in lattice or () if "a_vector" in r), None)
    if row is None or atoms.n_atoms == 0:
        return
    x, y = atoms.get_column("x"), atoms.get_column("y")
    i = int(np.nanargmin(np.hypot(x - np.nanmedian(x), y - np.nanmedian(y))))
    for key, colour in (("a", "yellow"), ("b", "lime")):
        vx, vy = row[f"{key}_vector"]
        ax.annotate(
            "",
            xy=(x[i] + vx, y[i] + vy),
            xytext=(x[i], y[i]),
            arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.5},
        )
        ax.text(x[i] + 1.1 * vx, y[i] + 1.1 * vy, key, color=colour, fontsize=9)


def write_report(out_dir, summary, overwrite=False):
    """Write ``report.html``: the figures in ``out_dir`` (embedded) and the numbers.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Folder holding the figures of :data:`FIGURES`.
    summary : dict
        As returned by :func:`analyse`.
    overwrite : bool
        Replace an existing ``report.html`` (by default an existing file is
        never replaced: ``FileExistsError``).

    Returns
    -------
    pathlib.Path
        The report's path.

    Examples
    --------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> write_report(out, {"title": "empty", "parameters": {}}).name
    'report.html'
    """
    check_bool(overwrite, "overwrite")
    out = Path(out_dir)
    if not overwrite and (out / "report.html").exists():
        raise FileExistsError(
            f"{out / 'report.html'} exists; `write_report` replaces it only with "
            "overwrite=True."
        )
    esc = html.escape
    rows = "".join(
        f"<tr><th>{esc(str(key))}</th><td>{esc(str(v))}</td></tr>"
        for key, v in summary.get("parameters", {}).items()
    )
    numbers = []
    if "n_atoms" in summary:
        err = summary.get("median_position_error")
        numbers += [
            ("image", " x ".join(map(str, summary["image_shape"])) + " px"),
            ("frames", summary["n_frames"]),
            ("atoms found", summary["n_atoms"]),
            ("atoms refined", summary["n_refined"]),
            (
                "median position error (fit)",
                "n/a" if err is None else f"{err:.3g} {summary['units']}",
            ),
            ("centre atoms (neighbourhoods)", summary["n_centres"]),
            (
                "atoms that are no centre (neighbourhood crosses the image edge; "
                "cyan rings in atoms.png)",
                summary.get("n_border", "n/a"),
            ),
            (
                "atoms whose fit did not converge (red crosses in atoms.png)",
                summary.get("n_unconverged", "n/a"),
            ),
            (
                "frame shown in the figures",
                "the image"
                if summary.get("figure_frame") is None
                else summary["figure_frame"],
            ),
            (
                "failed frames",
                "; ".join(
                    f"{k}: {r}"
                    for k, r in zip(
                        summary.get("failed_frames", []),
                        summary.get("failed_reasons", []),
                    )
                )
                or "none",
            ),
            ("neighbours per neighbourhood", summary.get("n_neighbours", "")),
            ("clusters K", summary["n_clusters"]),
            ("why K", summary.get("clusters_reason", "")),
            (
                "cluster fractions",
                ", ".join(
                    f"{i}: {f:.1%}" for i, f in enumerate(summary["cluster_fractions"])
                ),
            ),
            *_mode_rows(summary),
            (
                "numba compilation (s; first run in a process, on a tiny image)",
                f"{summary['times_s']['compile_s']:.2f}"
                if "compile_s" in summary["times_s"]
                else "n/a",
            ),
            (
                "times without compilation (s)",
                ", ".join(
                    f"{k[:-2]} {v:.2f}"
                    for k, v in summary["times_s"].items()
                    if k != "compile_s"
                ),
            ),
        ]
    key_rows = "".join(
        f"<tr><th>{esc(str(a))}</th><td>{esc(str(b))}</td></tr>" for a, b in numbers
    )
    lattice_html = _lattice_html(summary) + _phases_html(summary)
    warn = summary.get("warnings") or []
    warn_html = (
        "<h2>Warnings</h2><ul>" + "".join(f"<li>{esc(w)}</li>" for w in warn) + "</ul>"
        if warn
        else ""
    )
    figs = []
    for name, caption in FIGURES.items():
        path = out / name
        if not path.exists():
            continue
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        figs.append(
            f'<figure><img alt="{esc(caption)}" data-file="{name}" '
            f'src="data:image/png;base64,{data}"><figcaption>{esc(caption)} '
            f"(<code>{name}</code>)</figcaption></figure>"
        )
    title = esc(str(summary.get("title") or "image"))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Local crystallography report: {title}</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
th {{ background: #f4f4f4; font-weight: normal; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; }}
figcaption {{ color: #444; font-size: 0.9em; }}
</style></head><body>
<h1>Local crystallography: {title}</h1>
<p>find &rarr; refine &rarr; neighbourhoods &rarr; PCA, site classes &rarr;
phases, symmetry, variants, defects, by hyperspy_localcryst. Files in this
folder: <code>atoms.csv</code> (with <code>site_class</code>,
<code>phase</code>, <code>variant</code>, <code>variant_wall</code>,
<code>phase_boundary</code>),
<code>defects.csv</code>, the per-atom table and the neighbourhood signal
(HyperSpy files), the PNG figures below, <code>summary.json</code>.</p>
<h2>Key numbers</h2><table>{key_rows}</table>
{lattice_html}
<h2>Parameters</h2><table>{rows}</table>
{warn_html}
<h2>Figures</h2>
{"".join(figs)}
<script>
// for automated checks: how many figures the browser decoded
window.addEventListener("load", () => {{
  const imgs = Array.from(document.images);
  document.body.dataset.figures = imgs.length;
  document.body.dataset.figuresLoaded = imgs.filter(
    (i) => i.complete && i.naturalWidth > 0).length;
}});
</script>
</body></html>
"""
    path = out / "report.html"
    # "x" mode: never replaces a file that appeared meanwhile
    with open(path, "w" if overwrite else "x", encoding="utf-8") as f:
        f.write(page)
    return path


def _lattice_html(summary):
    """The calibration used and the measured lattice parameters, as HTML."""
    esc = html.escape
    cal = summary.get("calibration")
    lattice = summary.get("lattice")
    if not cal and not lattice:
        return ""
    parts = []
    if cal:
        u = cal.get("units") or "px"
        sx, sy = cal["pixel_size"]
        size = f"{sx:.6g} {u}" if sx == sy else f"x {sx:.6g}, y {sy:.6g} {u}"
        rows = [("pixel size used", size), ("calibration from", cal.get("source"))]
        if "original_scale" in cal:
            ox, oy = cal["original_scale"]
            rows.append(
                (
                    "pixel size in the file",
                    (f"{ox:.6g}" if ox == oy else f"x {ox:.6g}, y {oy:.6g}")
                    + f" {cal.get('original_units') or '(uncalibrated)'}",
                )
            )
        if "factor_x" in cal:
            fx, fy = cal["factor_x"], cal["factor_y"]
            rows.append(
                (
                    "correction factor (lattice calibration)",
                    f"{fx:.5f}" if fx == fy else f"x {fx:.5f}, y {fy:.5f}",
                )
            )
            lp = cal.get("lattice_parameter")
            rows.append(
                ("lattice parameter given", f"{', '.join(f'{v:g}' for v in lp)} {u}")
            )
            m = cal.get("measured_before")
            if m:
                rows.append(
                    (
                        "lattice measured before the correction",
                        f"a = {m['a']:.5g}, b = {m['b']:.5g} {u}, gamma = "
                        f"{m['gamma']:.2f} deg",
                    )
                )
        parts.append(
            "<h2>Calibration</h2><table>"
            + "".join(
                f"<tr><th>{esc(str(a))}</th><td>{esc(str(b))}</td></tr>"
                for a, b in rows
            )
            + "</table>"
        )
    if lattice:
        head = (
            "<tr><th>atoms</th><th>a</th><th>b</th><th>gamma (deg)</th>"
            "<th>direction of a (deg from +x to +y)</th><th>atoms fitted</th>"
            "<th>misfit of one lattice (rms, px)</th></tr>"
        )
        body = []
        for r in lattice:
            if "error" in r:
                body.append(
                    f"<tr><td>{esc(r['atoms'])}</td><td colspan=6>not measured: "
                    f"{esc(r['error'])}</td></tr>"
                )
                continue
            u = r.get("units") or "px"
            cells = [
                r["atoms"],
                f"{_pm(r['a'], r['a_err'])} {u}",
                f"{_pm(r['b'], r['b_err'])} {u}",
                _pm(r["gamma"], r["gamma_err"]),
                f"{r['orientation']:.2f}",
                r["n_atoms"],
                f"{r['residual_rms']:.2g}",
            ]
            body.append(
                "<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in cells) + "</tr>"
            )
        parts.append(
            "<h2>Lattice parameters (measured)</h2><p>Primitive cell of the "
            "atoms (a &le; b, reduced cell), fitted by least squares to all "
            "atoms; &plusmn; one standard error from the fit residuals. A misfit "
            "well above the position errors means the lattice is not one "
            "(scan distortion, domains, several phases): the values are then "
            "averages and the errors optimistic.</p>"
            f"<table>{head}{''.join(body)}</table>"
        )
    return "\n".join(parts)


def _pm(value, err):
    """``value ± err`` with the value given to the error's precision."""
    if not (err > 0 and np.isfinite(err)):
        return f"{value:.5g}"
    digits = max(0, -int(np.floor(np.log10(err))))
    return f"{value:.{digits}f} ± {err:.{digits}f}"
