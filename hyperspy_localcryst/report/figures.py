"""The report's figures: the atoms, the classes, the modes, the phases, drawn
at display resolution (:data:`DISPLAY_PX`) and saved once each.
"""

import numpy as np

from ..numerics._parallel import nearest_distances
from ..signals._grid import (
    axis_units,
)
from ..signals._plotting import NONE_COLOUR, add_scale_bar, class_colours

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
    "polarisation.png": "Polarisation: each atom of the dimmer sublattice "
    "displaced from the centroid of its closed cell of the brighter one (the B "
    "cation in its A cell), arrows coloured by direction, key in pm "
    "(AtomPositions.get_polarisation)",
    "strain.png": "Strain against the median lattice: exx, eyy (%) and the "
    "lattice rotation (deg) of each atom from its neighbour translations "
    "(AtomPositions.get_strain); blank: atoms with fewer than 4 neighbours",
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

    pts = np.column_stack([x, y])
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) < 2:
        return None
    return float(np.median(nearest_distances(pts)))


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


def _polarisation_strain_figures(signal, pol, strain, summary, out, plt, shown):
    """polarisation.png (when measured) and strain.png (when measured), each
    with its colour bar, key and the summary's sentence as caption."""
    import textwrap

    if pol is not None:
        fig, ax = plt.subplots(figsize=_figsize(signal), layout="constrained")
        _image(ax, signal, "", frame=shown)
        pol.plot_polarisation(ax=ax)
        sentence = summary["polarisation"]["sentence"]
        ax.set_title("\n".join(textwrap.wrap(sentence, 110)), fontsize=8)
        _save(fig, out, "polarisation.png", plt)
    if strain is None:
        return
    sub = strain.get_column("sublattice") if "sublattice" in strain.columns else None
    # the sublattice with most measured atoms (every atom without labels)
    ok = np.isfinite(strain.get_column("exx"))
    if sub is not None and np.isfinite(sub[ok]).any():
        best = np.bincount(sub[ok & np.isfinite(sub)].astype(int)).argmax()
        strain = strain.select(sub == best)
        which = f" (sublattice {best})"
    else:
        which = ""
    step = _display_step(signal.axes_manager.signal_shape[::-1])
    nx, ny = signal.axes_manager.signal_shape
    if ny / nx > 0.5:  # squarish: three panels side by side
        fig, axes = plt.subplots(
            1,
            3,
            figsize=(15.0, min(15.0 / 3 * ny / nx + 1.4, 9.0)),
            layout="constrained",
            squeeze=False,
        )
    else:  # wide: stacked
        fig, axes = plt.subplots(
            3, 1, figsize=_figsize(signal, rows=3), layout="constrained", squeeze=False
        )
    for ax, (col, label, unit, factor) in zip(
        axes.ravel(),
        (
            ("exx", "exx", "%", 100.0),
            ("eyy", "eyy", "%", 100.0),
            ("lattice_rotation", "lattice rotation, from +x towards +y", "deg", 1.0),
        ),
    ):
        m = strain.get_map(col, frame=shown, step=step)
        data = _display(m.data) * factor
        finite = data[np.isfinite(data)]
        lim = float(np.percentile(np.abs(finite), 98)) if finite.size else 1.0
        _image(ax, signal, f"{label} ({unit}){which}", frame=shown)
        im = ax.imshow(
            data, cmap="RdBu_r", vmin=-lim, vmax=lim, alpha=0.75, extent=_extent(signal)
        )
        fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01).set_label(unit, fontsize=8)
    sentence = summary["strain"]["sentence"]
    fig.suptitle("\n".join(textwrap.wrap(sentence, 120)), fontsize=8)
    _save(fig, out, "strain.png", plt)
