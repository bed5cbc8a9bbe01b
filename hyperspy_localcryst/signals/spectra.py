"""Spectra at the atoms of a spectrum image (EELS): per atom, per class and
spectral quantities (edge intensities) at the atoms.

The signal layer of :mod:`hyperspy_localcryst.numerics.spectra`; where the
spectrum image lies on the survey image is in :mod:`.si_registration`.
"""

import warnings

import numpy as np
from hyperspy.signals import Signal1D

from ..numerics import spectra as nsp
from ._grid import (
    axis_units,
    check_bool,
    check_integer,
    check_numbers,
    check_positive,
    pixel_scale,
)
from .si_registration import (
    _check_atoms,
    _check_si,
    _length,
    _single_image,
    si_affine,
)

__all__ = [
    "atom_spectra",
    "class_spectra",
    "spectral_quantity",
    "edge_intensity",
    "edge_onset",
]


def _integrate(
    atoms, si, region, rotation, shift, cell, radius, max_distance, subsample
):
    _single_image(atoms)
    A, info = si_affine(atoms.grid, si, region, rotation, shift)
    scale = pixel_scale(atoms.grid)
    xp, yp = atoms.get_pixel_positions()
    r_px = _length(radius, "radius", scale)
    md_px = _length(max_distance, "max_distance", scale)
    if not isinstance(cell, str) or cell not in ("voronoi", "radius"):
        raise ValueError(f"Unknown `cell` {cell!r}; use 'voronoi' or 'radius'.")
    if cell == "radius" and radius is None:
        raise ValueError('`radius` (calibrated) is required for cell="radius".')
    if subsample is not None:
        subsample = check_integer(subsample, "subsample", minimum=1)
    W = nsp.cell_weights(
        xp,
        yp,
        A,
        info["si_shape"],
        cell=cell,
        radius=r_px,
        max_distance=md_px,
        subsample=subsample,
    )
    data = si.data
    if hasattr(data, "compute"):
        data = data.compute()
    sums, area = nsp.integrate_cells(data, W)
    info.update({"cell": cell, "radius": "None" if radius is None else float(radius)})
    return sums, area, info


def _spectra_signal(data, si, axis_name, title, extra_md, nav_values=None):
    sig_ax = si.axes_manager.signal_axes[0].get_axis_dictionary()
    sig_ax["navigate"] = False
    if nav_values is None:
        nav = {"size": data.shape[0], "name": axis_name, "navigate": True}
    else:  # non-uniform: the values are the rows' indices in another table
        nav = {"axis": np.asarray(nav_values, float), "name": axis_name}
        nav["navigate"] = True
    s = Signal1D(data, axes=[nav, sig_ax])
    md = si.metadata.as_dictionary()
    for key in ("Acquisition_instrument", "Sample"):
        if key in md:
            s.metadata.set_item(key, md[key])
    quantity = si.metadata.get_item("Signal.quantity")
    if quantity:
        s.metadata.set_item("Signal.quantity", quantity)
    stype = si.metadata.get_item("Signal.signal_type", "")
    if stype:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s.set_signal_type(stype)
    s.metadata.General.title = title
    for k, v in extra_md.items():
        s.metadata.set_item(k, v)
    return s


def atom_spectra(
    atoms,
    si,
    region=None,
    rotation=0.0,
    shift=None,
    cell="voronoi",
    radius=None,
    max_distance=None,
    subsample=None,
    normalise=False,
):
    """Spectrum of each atom whose cell the SI covers: the SI over the cell.

    See :meth:`AtomPositions.get_spectra`: one row per atom with a cell
    area > 0 inside the SI, the navigation axis ``atom`` holding the atoms'
    row indices in ``atoms`` (also ``metadata.AtomSpectra.atom_indices``).

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> si = hs.signals.Signal1D(np.ones((16, 16, 10)))
    >>> sp = atom_spectra(atoms, si, region=(0.0, 0.0, 0.6, 0.6))
    >>> idx = np.asarray(sp.metadata.AtomSpectra.atom_indices)
    >>> bool(len(idx) == sp.axes_manager.navigation_size < atoms.n_atoms)
    True
    >>> bool(np.isfinite(sp.data).all())
    True
    """
    normalise = check_bool(normalise, "normalise")
    sums, area, info = _integrate(
        atoms, si, region, rotation, shift, cell, radius, max_distance, subsample
    )
    keep = np.flatnonzero(area > 0)
    if keep.size == 0:
        raise ValueError(
            "No atom's cell lies inside the spectrum image: check `region`, "
            "`rotation`, `shift` and that the atoms come from this SI's survey."
        )
    sums, area = sums[keep], area[keep]
    data = sums / area[:, None] if normalise else sums.copy()
    title = si.metadata.get_item("General.title", "")
    info["normalise"] = bool(normalise)
    info["n_atoms_table"] = int(atoms.n_atoms)
    return _spectra_signal(
        data,
        si,
        "atom",
        f"Per-atom spectra of {title}".strip(),
        {"AtomSpectra": dict(info, area=area.tolist(), atom_indices=keep.tolist())},
        nav_values=keep,
    )


def class_spectra(
    atoms,
    si,
    labels,
    n_classes=None,
    names=None,
    region=None,
    rotation=0.0,
    shift=None,
    cell="voronoi",
    radius=None,
    max_distance=None,
    subsample=None,
    allow_empty=False,
    axis_name="cluster",
):
    """Mean spectrum (per SI pixel, area weighted) of each class of atoms.

    ``labels`` has one integer per atom of ``atoms`` (negative or NaN: not
    used). See :meth:`AtomNeighbourhoods.get_cluster_spectra`.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> si = hs.signals.Signal1D(np.ones((16, 16, 10)))
    >>> lab = (atoms.get_column("x") > 0.6).astype(int)
    >>> m = class_spectra(atoms, si, lab, region=(0.0, 0.0, 1.2, 1.2))
    >>> m.data.shape, bool(np.allclose(m.data, 1))
    ((2, 10), True)
    """
    _check_atoms(atoms)
    allow_empty = check_bool(allow_empty, "allow_empty")
    if not isinstance(axis_name, str) or not axis_name:
        raise TypeError(f"`axis_name` must be a non-empty string, got {axis_name!r}.")
    if n_classes is not None:
        n_classes = check_integer(n_classes, "n_classes", minimum=1)
    if names is not None and (
        not isinstance(names, (list, tuple))
        or not all(isinstance(n, str) for n in names)
    ):
        raise TypeError(f"`names` must be a list of strings, got {names!r:.60}.")
    values = getattr(labels, "data", labels)
    if isinstance(values, (str, dict, set)):
        raise TypeError(f"`labels` must be one integer per atom, got {labels!r:.60}.")
    try:
        lab = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise TypeError(
            f"`labels` must be one integer per atom, got {labels!r:.60}."
        ) from None
    if lab.shape != (atoms.n_atoms,):
        raise ValueError(f"`labels` has {lab.size} values for {atoms.n_atoms} atoms.")
    sums, area, info = _integrate(
        atoms, si, region, rotation, shift, cell, radius, max_distance, subsample
    )
    lab = np.where(np.isfinite(lab), lab, -1)
    means, n_atoms, tot = nsp.cluster_mean_spectra(
        sums, area, lab, n_classes, allow_empty=allow_empty
    )
    k = means.shape[0]
    if names is None:
        names = [f"{axis_name} {i}" for i in range(k)]
    names = [str(n) for n in names]
    if len(names) != k:
        raise ValueError(f"`names` has {len(names)} entries for {k} classes.")
    title = si.metadata.get_item("General.title", "")
    info.update({"names": names, "n_atoms": n_atoms.tolist(), "area": tot.tolist()})
    return _spectra_signal(
        means,
        si,
        axis_name,
        f"Mean spectrum per {axis_name} of {title}".strip(),
        {"ClassSpectra": info},
    )


def edge_onset(edge):
    """Onset energy (eV) of an ionisation edge such as ``"Ti_L3"`` (via exspy).

    Examples
    --------
    >>> edge_onset("O_K")
    532.0
    """
    if not isinstance(edge, str) or "_" not in edge:
        raise ValueError(f"`edge` must be like 'Ti_L3' or 'O_K', got {edge!r}.")
    try:
        from exspy.material import elements
    except ImportError:  # pragma: no cover
        raise ImportError(
            "Edge names need exspy (`pip install exspy`); give `window=` instead."
        ) from None
    el, shell = edge.split("_", 1)
    try:
        be = elements[el].Atomic_properties.Binding_energies[shell]
    except (AttributeError, KeyError):
        raise ValueError(
            f"Unknown edge {edge!r}: exspy's database has no {shell} edge of {el}."
        ) from None
    return float(be["onset_energy (eV)"])


def spectral_quantity(
    atoms,
    si,
    edge=None,
    window=None,
    background=None,
    name=None,
    width=30.0,
    region=None,
    rotation=0.0,
    shift=None,
    cell="voronoi",
    radius=None,
    max_distance=None,
    subsample=None,
):
    """Per-atom intensity of an energy window (an edge) above a power law.

    See :meth:`AtomPositions.get_spectral_quantity`.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> si = hs.signals.Signal1D(np.ones((16, 16, 10)))
    >>> t = spectral_quantity(atoms, si, window=(2, 5), region=(0, 0, 1.2, 1.2))
    >>> float(np.nanmax(t.get_column("window_2_5")))  # not binned: integral 2..4
    2.0
    """
    _check_si(si)
    _check_atoms(atoms)
    energy = si.axes_manager.signal_axes[0].axis
    width = check_positive(width, "width", "an energy width", noun="energy width")
    if window is not None:
        window = check_numbers(window, "window", 2, "(start, end)")
    if background is not None:
        background = check_numbers(background, "background", 2, "(start, end)")
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"`name` must be a non-empty string, got {name!r:.60}.")
    if edge is not None:
        onset = edge_onset(edge)
        if window is None:
            window = (onset - 2.0, min(onset + width, float(energy.max())))
        if background is None:
            background = (max(onset - 50.0, float(energy.min())), onset - 5.0)
        if name is None:
            name = edge
    if window is None:
        raise ValueError("Give `edge` (e.g. 'Ti_L3') or `window=(start, end)`.")
    if name is None:
        name = f"window_{window[0]:g}_{window[1]:g}"
    e_axis = si.axes_manager.signal_axes[0]
    _check_energy_window(e_axis, window, "window")
    if background is not None:
        _check_energy_window(e_axis, background, "background", n_min=2)
    sums, area, info = _integrate(
        atoms, si, region, rotation, shift, cell, radius, max_distance, subsample
    )
    ok = area > 0
    values = np.full(atoms.n_atoms, np.nan)
    if ok.any():
        means = _spectra_signal(sums[ok] / area[ok, None], si, "atom", "", {})
        values[ok] = edge_intensity(means, window, background)
    out = atoms.add_columns({name: values}, {name: _intensity_units(si)})
    info.update(
        {
            "window": [float(v) for v in window],
            "background": "None"
            if background is None
            else [float(v) for v in background],
        }
    )
    out.metadata.set_item(f"AtomPositions.spectral_quantities.{name}", info)
    return out


def _intensity_units(si):
    """Units of :func:`edge_intensity` per SI pixel: counts for a binned
    energy axis (exspy's EELS), counts x energy units otherwise."""
    ax = si.axes_manager.signal_axes[0]
    units = axis_units(ax.units)
    if ax.is_binned or not units:
        return "counts/SI px"
    return f"counts {units}/SI px"


def _check_energy_window(energy, win, name, n_min=1):
    """A (start, end) window inside the energy axis with ``n_min`` channels
    in ``isig[start:end]``."""
    lo, hi = check_numbers(win, name, 2, "(start, end)")
    if not hi > lo:
        raise ValueError(f"`{name}` {tuple(win)!r}: end must exceed start.")
    e = energy.axis
    emin, emax = float(np.min(e)), float(np.max(e))
    if lo < emin - 1e-9 or hi > emax + 1e-9:
        raise ValueError(
            f"`{name}` {tuple(win)} is outside the energy axis ({emin:g} .. {emax:g})."
        )
    # the channels of isig[lo:hi] (HyperSpy's float slicing, end excluded)
    i0 = energy.value2index(min(max(lo, emin), emax))
    i1 = energy.value2index(min(max(hi, emin), emax))
    if i1 - i0 < n_min:
        raise ValueError(
            f"`{name}` {tuple(win)} holds {max(i1 - i0, 0)} channel(s) of the "
            f"energy axis; it needs at least {n_min}."
        )
    return lo, hi


def edge_intensity(spectra, window, background=None):
    """Edge intensity of each spectrum, as exspy computes it.

    ``spectra.remove_background(signal_range=background,
    background_type="PowerLaw")`` (HyperSpy's fast power-law estimate, as
    exspy's EELS tutorials use it) and then
    ``.isig[start:end].integrate1D(-1)``: for a binned energy axis (exspy's
    ``EELSSpectrum``) the sum of the counts in the window's channels, for a
    non-binned one the integral over energy (Simpson's rule), in counts x
    energy units. The window's channels are those of HyperSpy's float
    slicing ``isig[start:end]`` (end excluded).

    Parameters
    ----------
    spectra : hyperspy Signal1D
        Any navigation shape, e.g. per-atom spectra from
        :meth:`AtomPositions.get_spectra`.
    window : (float, float)
        Integration window, energy units.
    background : (float, float), optional
        Pre-edge window of the power-law fit (positive energies); None:
        integrate without background subtraction.

    Returns
    -------
    numpy.ndarray
        One value per spectrum, of the navigation shape (a scalar array for
        a single spectrum).

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> e = np.arange(400.0, 600.0, 0.5)
    >>> s = hs.signals.Signal1D(1e9 * e**-3 + 2.0 * (e >= 500))
    >>> s.set_signal_type("EELS")
    >>> ax = s.axes_manager.signal_axes[0]
    >>> ax.offset, ax.scale, ax.units = 400.0, 0.5, "eV"
    >>> # 20 channels of 2 counts: 40; HyperSpy's fast power-law estimate
    >>> # leaves 0.2 counts of the background's curvature in the window
    >>> round(float(edge_intensity(s, (510, 520), (440, 490))), 1)
    39.8
    """
    from hyperspy.signal import BaseSignal

    if (
        not isinstance(spectra, BaseSignal)
        or spectra.axes_manager.signal_dimension != 1
    ):
        raise TypeError(
            f"`spectra` must be a HyperSpy Signal1D, got {type(spectra).__name__}."
        )
    energy = spectra.axes_manager.signal_axes[0]
    lo, hi = _check_energy_window(energy, window, "window")
    s = spectra
    bad = np.zeros(spectra.axes_manager.navigation_shape[::-1], bool)
    if background is not None:
        b0, b1 = _check_energy_window(energy, background, "background", n_min=2)
        if b0 <= 0:
            raise ValueError(
                "`background` needs at least 2 channels at positive energies, got "
                f"{tuple(background)}."
            )
        # HyperSpy's estimate takes the logarithm of the counts of the two
        # halves of the window: one spectrum without positive counts there
        # makes it fail for all. Such spectra get NaN (and a warning).
        i1, i4 = energy.value_range_to_indices(b0, b1)
        i4 = i4 - 1 if (i1 + i4) % 2 else i4
        i3 = (i1 + i4) // 2
        data = np.asarray(spectra.data)
        with np.errstate(invalid="ignore"):
            h1 = data[..., i1:i3].sum(axis=-1)
            h2 = data[..., i3 : max(i4, i3 + 1)].sum(axis=-1)
            bad = ~((h1 > 0) & (h2 > 0) & np.isfinite(h1) & np.isfinite(h2))
        if bad.any():
            warnings.warn(
                f"{int(bad.sum())} of {bad.size} spectra have no positive counts in "
                f"a half of `background` {tuple(background)}: no power law can "
                "be estimated there; their intensity is NaN.",
                stacklevel=2,
            )
            s = spectra.deepcopy()
            s.data[bad] = 1.0  # any positive spectrum; its result is dropped
        s = s.remove_background(
            signal_range=(b0, b1),
            background_type="PowerLaw",
            fast=True,
            show_progressbar=False,
        )
    values = np.asarray(s.isig[lo:hi].integrate1D(-1).data, dtype=float)
    values = values.reshape(bad.shape)
    values[bad] = np.nan
    return values
