"""One look for every figure: the class palette, scale bars, labelled axes.

Every figure that shows classes (sublattices, site classes, phases, variants)
colours class ``i`` with ``class_colours(n)[i]``, so a class has the same
colour on the map, the markers, the dendrogram, the histograms and the
FFTs; ``-1`` ("none", "not assigned", outlier) is always :data:`NONE_COLOUR`.
"""

import numpy as np

from ..numerics._checks import check_integer

__all__ = [
    "NONE_COLOUR",
    "class_colours",
    "label_colours",
    "add_scale_bar",
    "categorical_colormap",
    "set_categorical",
    "plot_map",
]

#: Colour of label -1 ("none", "not assigned", outlier): a light grey that
#: no class takes.
NONE_COLOUR = (0.6, 0.6, 0.6, 1.0)

# tab10 without its grey (index 7), then tab20's light tints without theirs:
# 18 colours, none of them the grey of label -1.
_TAB10 = [0, 1, 2, 3, 4, 5, 6, 8, 9]
_TAB20_LIGHT = [1, 3, 5, 7, 9, 11, 13, 17, 19]


def class_colours(n):
    """RGBA colour of each class index ``0 .. n - 1``, the same in every figure.

    Matplotlib's ``tab10`` (without its grey), then the light tints of
    ``tab20`` (without theirs) for classes 9 to 17, then again from the
    start. Class ``i`` has the same colour whatever ``n`` is; grey is kept
    for label ``-1`` (:data:`NONE_COLOUR`, see :func:`label_colours`).

    Parameters
    ----------
    n : int
        Number of classes (>= 0).

    Returns
    -------
    numpy.ndarray, shape (n, 4)
        RGBA values in [0, 1].

    Examples
    --------
    >>> c = class_colours(12)
    >>> c.shape, bool((class_colours(3) == c[:3]).all())
    ((12, 4), True)
    >>> c[0].round(3).tolist()  # tab10 blue
    [0.122, 0.467, 0.706, 1.0]
    """
    from matplotlib import colormaps

    n = check_integer(n, "n", minimum=0)
    table = np.concatenate(
        [colormaps["tab10"].colors, colormaps["tab20"].colors], axis=0
    )[_TAB10 + [10 + i for i in _TAB20_LIGHT]]
    rgba = np.column_stack([table, np.ones(len(table))])
    return rgba[np.arange(n) % len(table)]


def label_colours(labels):
    """RGBA colour of each label: :func:`class_colours` for ``0, 1, ...``,
    :data:`NONE_COLOUR` for ``-1`` (and any negative label).

    Parameters
    ----------
    labels : array_like of int
        Class index per item (e.g. per atom).

    Returns
    -------
    numpy.ndarray, shape (len(labels), 4)

    Examples
    --------
    >>> c = label_colours([1, -1, 1])
    >>> bool((c[0] == class_colours(2)[1]).all()), tuple(c[1]) == NONE_COLOUR
    (True, True)
    """
    labels = np.asarray(labels)
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if not np.all(labels == np.round(labels)):
            raise ValueError("`labels` must be integer class indices (-1 for none).")
    labels = labels.astype(np.int64).ravel()
    out = np.tile(np.asarray(NONE_COLOUR), (labels.size, 1))
    ok = labels >= 0
    if ok.any():
        out[ok] = class_colours(int(labels[ok].max()) + 1)[labels[ok]]
    return out


def _round_length(target):
    """The largest 1, 2 or 5 times a power of ten not above ``target``."""
    exp = np.floor(np.log10(target))
    for m in (5, 2, 1):
        if m * 10**exp <= target:
            return float(m * 10**exp)
    return float(10**exp)


def add_scale_bar(ax, units, fraction=0.2, colour="white"):
    """A scale bar of a round length (1, 2 or 5 x 10^n ``units``) in the
    lower right of an image drawn in calibrated data coordinates.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes whose x axis is in ``units`` (the image drawn with its extent).
    units : str
        Length units of the label ("px" for an uncalibrated image).
    fraction : float
        Longest bar as a fraction of the visible width.
    colour : str
        Bar and label colour.

    Returns
    -------
    mpl_toolkits.axes_grid1.anchored_artists.AnchoredSizeBar
        The bar (in ``ax.artists``); its length is ``bar.length``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> _ = ax.imshow([[0, 1], [1, 0]], extent=(0, 7.3, 7.3, 0))
    >>> bar = add_scale_bar(ax, "nm")
    >>> bar.length, bar.txt_label.get_text()
    (1.0, '1 nm')
    >>> plt.close(fig)
    """
    from matplotlib import font_manager
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    x0, x1 = ax.get_xlim()
    length = _round_length(abs(x1 - x0) * fraction)
    y0, y1 = ax.get_ylim()
    bar = AnchoredSizeBar(
        ax.transData,
        length,
        f"{length:g} {units}",
        "lower right",
        pad=0.4,
        color=colour,
        frameon=True,
        size_vertical=abs(y1 - y0) / 150,
        fontproperties=font_manager.FontProperties(size=8),
    )
    bar.patch.set(facecolor="black", alpha=0.35, edgecolor="none")
    bar.length = length
    ax.add_artist(bar)
    return bar


def categorical_colormap(n):
    """Discrete colormap and norm of labels ``-1 .. n - 1``.

    Label ``k`` is drawn exactly in ``class_colours(n)[k]`` (the colour of
    the markers, the report and the dendrogram), ``-1`` in
    :data:`NONE_COLOUR`; each integer falls in its own bin, so no colour is
    interpolated.

    Parameters
    ----------
    n : int
        Number of classes (>= 1).

    Returns
    -------
    (matplotlib.colors.ListedColormap, matplotlib.colors.BoundaryNorm)

    Examples
    --------
    >>> cmap, norm = categorical_colormap(3)
    >>> bool((np.asarray(cmap(norm(2))) == class_colours(3)[2]).all())
    True
    >>> tuple(cmap(norm(-1))) == NONE_COLOUR
    True
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap

    n = check_integer(n, "n", minimum=1)
    colours = np.vstack([np.asarray(NONE_COLOUR)[None], class_colours(n)])
    # away from atoms (NaN): transparent
    cmap = ListedColormap(colours, name="localcryst_classes").with_extremes(
        bad=(0, 0, 0, 0)
    )
    norm = BoundaryNorm(np.arange(n + 2) - 1.5, cmap.N)
    return cmap, norm


def set_categorical(signal, labels, quantity, names=None, none_name="none"):
    """Mark a map signal as categorical: integer labels, one colour each.

    Records in ``metadata.Map`` that the values are class labels
    (``categorical``), the ``names`` of labels ``0 .. n - 1`` and the
    number of atoms (``counts``) with each label in ``labels``, and sets
    ``metadata.Signal.quantity``; :func:`plot_map` then draws the map with
    :func:`categorical_colormap` and a legend.

    Parameters
    ----------
    signal : hyperspy.api.signals.Signal2D
        The map (changed in place and returned, as a
        :class:`~hyperspy_localcryst.signals.label_map.LabelMap`, whose
        ``plot()`` draws the class colours).
    labels : array_like of int
        The per-atom labels the map was made from (-1: none).
    quantity : str
        What the labels are, e.g. ``"Cluster label"``.
    names : sequence of str, optional
        Name of each label; default ``"0"``, ``"1"``, ...
    none_name : str
        Legend name of label -1.

    Returns
    -------
    hyperspy.api.signals.Signal2D

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> s = set_categorical(hs.signals.Signal2D(np.zeros((2, 2))), [0, 1, 1], "Class")
    >>> s.metadata.Map.counts, s.metadata.Signal.quantity
    ([1, 2], 'Class')
    """
    labels = np.asarray(labels, dtype=float).ravel()
    labels = np.where(np.isfinite(labels), labels, -1).astype(np.int64)
    n = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
    if names is None:
        names = [str(i) for i in range(n)]
    names = [str(x) for x in names]
    if len(names) < n:
        raise ValueError(f"`names` has {len(names)} names for {n} labels.")
    counts = np.bincount(labels[labels >= 0], minlength=len(names))
    signal.metadata.set_item("Signal.quantity", str(quantity))
    signal.metadata.set_item("Map.categorical", True)
    signal.metadata.set_item("Map.names", names)
    signal.metadata.set_item("Map.counts", [int(c) for c in counts])
    signal.metadata.set_item("Map.unassigned", int(np.sum(labels < 0)))
    signal.metadata.set_item("Map.none_name", str(none_name))
    if signal.axes_manager.signal_dimension == 2:
        # a LabelMap: HyperSpy's own plot() then draws the class colours
        signal.set_signal_type("atom_label_map")
    return signal


def _axis_label(axis):
    from ._grid import axis_units

    name = axis.name if isinstance(axis.name, str) else ""
    units = axis_units(axis.units)
    return f"{name} ({units})" if units else name


def plot_map(
    signal,
    ax=None,
    cmap=None,
    title=None,
    symmetric=None,
    colorbar=True,
    scale_bar=False,
    axes_decor="all",
):
    """Draw a map signal on its calibrated image grid.

    The image is drawn with its calibrated extent (pixel centres at
    ``offset + scale * index``), the axes labelled with their names and
    units. A map marked categorical (:func:`set_categorical`, e.g.
    :meth:`AtomNeighbourhoods.get_cluster_map`) is drawn with
    :func:`categorical_colormap` (each label in its class colour, the
    markers' colour) and a legend of the labels with their atom counts
    (labels no atom has are left out of the legend);
    any other map gets a colour bar labelled with
    ``metadata.Signal.quantity``.

    Parameters
    ----------
    signal : hyperspy.api.signals.Signal2D
        A map without navigation axes (pick one of a stack with ``inav``).
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    cmap : str or matplotlib.colors.Colormap, optional
        Continuous maps only; default ``"RdBu_r"`` for symmetric ones, else
        ``"viridis"``.
    title : str, optional
        Default the signal's title.
    symmetric : bool, optional
        Colour limits symmetric about 0 (loadings); default when the values
        take both signs.
    colorbar : bool
        Colour bar (continuous) or legend (categorical).
    scale_bar : bool
        Add a scale bar (:func:`add_scale_bar`).
    axes_decor : {"all", "ticks", "off", None}
        As HyperSpy's ``plot_*_loadings``: labels and ticks, ticks only,
        nothing, or ticks without labels.

    Returns
    -------
    matplotlib.image.AxesImage
        The image drawn (``im.axes``, ``im.axes.figure``).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import hyperspy.api as hs
    >>> s = hs.signals.Signal2D(np.arange(12.0).reshape(3, 4))
    >>> s.axes_manager[0].scale = s.axes_manager[1].scale = 0.5
    >>> s.metadata.Signal.quantity = "Loading (a.u.)"
    >>> im = plot_map(s)
    >>> im.get_extent()
    [-0.25, 1.75, 1.25, -0.25]
    >>> im.colorbar.ax.get_ylabel()
    'Loading (a.u.)'
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if signal.axes_manager.signal_dimension != 2:
        raise ValueError("`signal` must be a map (two signal axes).")
    if signal.axes_manager.navigation_dimension:
        raise ValueError(
            "`signal` is a stack of maps; draw one of them (`signal.inav[i]`)."
        )
    if axes_decor not in ("all", "ticks", "off", None):
        raise ValueError(
            "`axes_decor` must be 'all', 'ticks', 'off' or None, got "
            f"{axes_decor!r:.60}."
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    xa, ya = signal.axes_manager.signal_axes
    data = np.asarray(signal.data, dtype=float)
    extent = (
        xa.offset - 0.5 * xa.scale,
        xa.offset + (xa.size - 0.5) * xa.scale,
        ya.offset + (ya.size - 0.5) * ya.scale,
        ya.offset - 0.5 * ya.scale,
    )
    md = signal.metadata
    quantity = md.get_item("Signal.quantity", "") or ""
    categorical = bool(md.get_item("Map.categorical", False))
    if categorical:
        names = list(md.get_item("Map.names", []))
        finite = data[np.isfinite(data)]
        n = max(len(names), int(finite.max()) + 1 if finite.size else 0, 1)
        names += [str(i) for i in range(len(names), n)]
        cm, norm = categorical_colormap(n)
        im = ax.imshow(data, cmap=cm, norm=norm, extent=extent, interpolation="nearest")
        if colorbar:
            counts = list(md.get_item("Map.counts", []))
            counts += [None] * (n - len(counts))
            colours = class_colours(n)
            handles = [
                Patch(
                    color=colours[i],
                    label=names[i]
                    if counts[i] is None
                    else f"{names[i]} ({counts[i]})",
                )
                for i in range(n)
                if counts[i] != 0
            ]
            if md.get_item("Map.unassigned", 0) or (finite < 0).any():
                k = md.get_item("Map.unassigned", None)
                label = md.get_item("Map.none_name", "none")
                label = label if k is None else f"{label} ({k})"
                handles.append(Patch(color=NONE_COLOUR, label=label))
            ax.legend(
                handles=handles,
                title=quantity or None,
                loc="upper left",
                bbox_to_anchor=(1.02, 1.0),
                fontsize=8,
                title_fontsize=8,
                frameon=False,
            )
    else:
        finite = data[np.isfinite(data)]
        if symmetric is None:
            symmetric = bool(finite.size and finite.min() < 0 < finite.max())
        kw = {}
        if symmetric and finite.size:
            lim = float(np.abs(finite).max()) or 1.0
            kw = {"vmin": -lim, "vmax": lim}
        if cmap is None:
            cmap = "RdBu_r" if symmetric else "viridis"
        im = ax.imshow(data, cmap=cmap, extent=extent, interpolation="nearest", **kw)
        if colorbar:
            cb = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
            cb.set_label(quantity)
            im.colorbar = cb
    ax.set_title(signal.metadata.General.title if title is None else title, fontsize=9)
    if axes_decor == "all":
        ax.set_xlabel(_axis_label(xa))
        ax.set_ylabel(_axis_label(ya))
    elif axes_decor == "off":
        ax.axis("off")
    elif axes_decor is None:
        ax.set_xticklabels([])
        ax.set_yticklabels([])
    if scale_bar:
        from ._grid import axis_units

        add_scale_bar(ax, axis_units(xa.units) or "px")
    return im
