"""What the report computes besides the signal methods: the phases step with
its polar shifts and defect rows, the lattice table, the calibration record,
the automatic neighbour count and the mode summary.
"""

import warnings

import numpy as np

from ..numerics import neighbourhoods as nbn
from ..numerics._parallel import kd_query
from ..numerics.frames import frame_members
from ..signals._grid import (
    small_length_unit,
    to_calibrated,
)
from .page import (
    _finite,
)

_DEFECT_COLUMNS = ("type", "x", "y", "burgers_x", "burgers_y", "atom")


def _phases(atoms, nb, stack):
    """Phases, symmetry, variants (``AtomNeighbourhoods.find_phases``), the
    per-atom columns ``site_class``, ``phase``, ``variant``,
    ``phase_boundary``, the summary keys and the boundary rows of the defect
    table."""
    import pandas as pd

    from ..numerics import phases as ph

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
    from ..numerics import phases as ph
    from ..numerics import symmetry as sy

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
    closed = np.zeros(len(centres), bool)
    for _, here, mine in frame_members(table.get_frames(), centres):
        if len(here) < k + 2:
            continue
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
            f"`n_neighbours` = {k} is more than the {atoms.n_atoms - 1} other atoms: "
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


def _polarisation_and_strain(atoms, shown):
    """The report's polarisation (the dimmer of two sublattices in its cell
    of the brighter, when each is the centre of the other's closed cell) and
    strain (each sublattice against its median lattice) steps: the table with
    ``polarisation_dx``/``_dy`` and the strain columns, the two tables for
    the figures (None when not measured) and their summary entries, each
    with one sentence of interpretation. Stacks: the figure frame only."""
    table = atoms.get_frame(shown) if shown is not None else atoms
    summary = {}
    pol = None
    labels = table.get_column("sublattice") if "sublattice" in table.columns else None
    kinds = [] if labels is None else sorted(set(labels[np.isfinite(labels)]))
    counts = [int(np.sum(labels == k)) for k in kinds]
    n_sites = _n_sites(atoms, shown)
    if len(kinds) == 2 and min(counts) >= 10 and n_sites != 2:
        how = (
            f"has {n_sites} sites, merged into the two sublattices by brightness "
            "(a superstructure of one type, e.g. a charge-density wave, or more "
            "types than sublattices)"
            if n_sites > 2
            else "has one site, split into the two sublattices by local brightness"
        )
        summary["polarisation"] = {
            "reason": f"not measured: the local cell {how}, so a sublattice is "
            "not one atom type on one lattice site and has no cell centre to be "
            "displaced from; label the types and call "
            "AtomPositions.get_polarisation if a displacement is meant"
        }
    elif len(kinds) == 2 and min(counts) >= 10:
        amp = np.abs(
            table.get_column("amplitude" if "amplitude" in table.columns else "peak")
        )
        med = [np.nanmedian(amp[labels == k]) for k in kinds]
        a_site, b_site = (kinds[0], kinds[1]) if med[0] >= med[1] else kinds[::-1]
        try:
            trial = table.get_polarisation(int(b_site), int(a_site))
        except ValueError as err:
            summary["polarisation"] = {"reason": f"not measured: {err}"}
        else:
            info = trial.metadata.AtomPositions.polarisation
            n_b = int(np.sum(labels == b_site))
            # a cell relation: most atoms of one sublattice sit inside a
            # closed cell of the other, near its centre (a displacement of a
            # quarter of the atom spacing is no polar shift: the labels do
            # not make cells, e.g. one lattice split in two by brightness)
            size = np.nanmedian(trial.get_column("magnitude"))
            spacing = table._nn_distance() or np.inf
            if (
                info.shell_closed
                and info.n_surrounded >= max(10, 0.5 * n_b)
                and size < 0.25 * spacing
            ):
                pol = trial
                summary["polarisation"] = _polarisation_summary(pol, info)
            else:
                summary["polarisation"] = {
                    "reason": f"not measured: {info.n_surrounded} of {n_b} atoms of "
                    f"sublattice {int(b_site)} sit inside a closed cell of "
                    f"sublattice {int(a_site)}, displaced by {size:.3g} "
                    f"{table.units.get('x', '')} (median) for an atom spacing of "
                    f"{spacing:.3g}: the two sublattices are not in a cell relation"
                }
    else:
        summary["polarisation"] = {
            "reason": "not measured: it needs two sublattices of at least 10 atoms "
            f"(this image has {len(kinds) or 1})"
        }
    try:
        strain = table.get_strain()
    except ValueError as err:
        strain = None
        summary["strain"] = {"reason": f"not measured: {err}"}
    else:
        summary["strain"] = _strain_summary(strain)
        if summary["strain"].get("n_measured", 0) == 0:
            strain = None
    # the per-atom columns, for atoms.csv (NaN where not measured)
    n = atoms.n_atoms
    rows = (
        np.arange(n) if shown is None else np.flatnonzero(atoms.get_frames() == shown)
    )
    new, units = {}, {}
    u = atoms.units.get("x", "")
    if pol is not None:
        idx = rows[
            np.flatnonzero(
                labels == int(pol.metadata.AtomPositions.polarisation.sublattice)
            )
        ]
        for c in ("dx", "dy"):
            col = np.full(n, np.nan)
            col[idx] = pol.get_column(c)
            new[f"polarisation_{c}"], units[f"polarisation_{c}"] = col, u
    if strain is not None:
        for c in ("exx", "eyy", "exy", "lattice_rotation", "a", "b", "strain_residual"):
            col = np.full(n, np.nan)
            col[rows] = strain.get_column(c)
            new[c], units[c] = col, strain.units[c]
    if new:
        atoms = atoms.add_columns(new, units)
    return atoms, pol, strain, summary


def _n_sites(atoms, shown):
    """Sites of the local cell that the structure labelling found (of the
    frame ``shown`` of a stack), 2 when the labels did not come from it."""
    rec = atoms.metadata.get_item("AtomPositions.settings.sublattices")
    if rec is None or rec.get_item("n_sites") is None:
        return 2
    n_sites = np.atleast_1d(np.asarray(rec.get_item("n_sites")))
    frames = rec.get_item("frames")
    if frames is not None and shown is not None:
        where = np.flatnonzero(np.asarray(frames) == shown)
        if len(where) == 0:
            return 2
        return int(n_sites[where[0]])
    return int(n_sites[0])


def _polarisation_summary(pol, info):
    """Median, mean and error of the displacements, and one sentence."""
    f, unit = small_length_unit(pol.units.get("dx", ""))
    dx, dy = pol.get_column("dx") * f, pol.get_column("dy") * f
    ok = np.isfinite(dx) & np.isfinite(dy)
    n = int(ok.sum())
    mean = np.array([dx[ok].mean(), dy[ok].mean()])
    sem = np.array([dx[ok].std(ddof=1), dy[ok].std(ddof=1)]) / np.sqrt(max(n, 1))
    err = (
        np.array(
            [
                np.nanmedian(pol.get_column("dx_err")),
                np.nanmedian(pol.get_column("dy_err")),
            ]
        )
        * f
    )
    mag = float(np.median(np.hypot(dx[ok], dy[ok])))
    net = bool(np.hypot(*mean) > 3 * np.hypot(*sem))
    angle = float(np.degrees(np.arctan2(mean[1], mean[0])))
    noise = (
        ""
        if not np.all(np.isfinite(err))
        else (f" (position errors give {err[0]:.2g}, {err[1]:.2g} {unit} per axis)")
    )
    sentence = (
        f"{n} atoms of sublattice {info.sublattice} sit in a closed cell of "
        f"{info.n_neighbours} atoms of sublattice {info.reference}; their "
        f"displacement from the cell centre has a median size of {mag:.2g} "
        f"{unit}{noise} and a mean of ({mean[0]:+.2g}, {mean[1]:+.2g}) ± "
        f"({sem[0]:.1g}, {sem[1]:.1g}) {unit}: "
        + (
            f"a net displacement towards {angle:.0f}° (from +x towards +y): a "
            "polarisation, or a uniform artefact of specimen mistilt or scan "
            "distortion, which shift light and heavy columns apart too; compare "
            "with a region known to be non-polar."
            if net
            else "no net displacement beyond its standard error (non-polar, or "
            "domains that cancel: see the arrows)."
        )
    )
    return {
        "sublattice": int(info.sublattice),
        "reference": int(info.reference),
        "n_neighbours": int(info.n_neighbours),
        "n_measured": n,
        "unit": unit,
        "median_magnitude": mag,
        "mean": mean.round(4).tolist(),
        "sem": sem.round(4).tolist(),
        "median_error": err.round(4).tolist(),
        "net_polar": net,
        "sentence": sentence,
    }


def _strain_summary(strain):
    """Ranges (2nd to 98th percentile) of the strain and rotation, the
    reference cell and the misfit, and one sentence."""
    e = {c: strain.get_column(c) for c in ("exx", "eyy", "exy", "lattice_rotation")}
    ok = np.isfinite(e["exx"])
    n = int(ok.sum())
    if n == 0:
        return {"n_measured": 0, "reason": "not measured: no atom has 4 neighbours"}
    f, unit = small_length_unit(strain.units.get("a", ""))
    rng = {c: np.percentile(v[ok], [2, 98]).tolist() for c, v in e.items()}
    misfit = float(np.nanmedian(strain.get_column("strain_residual"))) * f
    turn = rng["lattice_rotation"]
    md = strain.metadata.AtomPositions.strain.as_dictionary()
    cells = []
    for k, v in md["vectors"].items():
        a, b = np.hypot(*np.asarray(v, float).T)
        cells.append(f"{a:.4g} × {b:.4g} {strain.units.get('a', '')}")
    sentence = (
        f"Against the median lattice ({'; '.join(cells)}), {n} atoms: exx spans "
        f"{100 * rng['exx'][0]:+.2f} to {100 * rng['exx'][1]:+.2f} %, eyy "
        f"{100 * rng['eyy'][0]:+.2f} to {100 * rng['eyy'][1]:+.2f} % and the "
        f"lattice turns by {turn[0]:+.2f} to {turn[1]:+.2f}° "
        f"(2nd to 98th percentile); one deformation per neighbourhood misses the "
        f"neighbours by {misfit:.2g} {unit} (median), a measure of the noise."
    )
    if md.get("skipped"):
        sentence += (
            f" Sublattice {', '.join(md['skipped'])} forms no lattice of its own "
            "and is left out."
        )
    return {
        "n_measured": n,
        "ranges": {c: [round(v, 6) for v in r] for c, r in rng.items()},
        "median_misfit": misfit,
        "misfit_unit": unit,
        "reference_cells": md["vectors"],
        "sentence": sentence,
    }
