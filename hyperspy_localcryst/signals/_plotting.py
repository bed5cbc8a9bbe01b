"""One look for every figure: the class palette, scale bars, labelled axes.

Every figure that shows classes (sublattices, site classes, phases, variants)
colours class ``i`` with ``class_colours(n)[i]``, so a class has the same
colour on the map, the markers, the dendrogram, the histograms and the
FFTs; ``-1`` ("none", "not assigned", outlier) is always :data:`NONE_COLOUR`.
"""

import numpy as np

from ..numerics._checks import check_integer

__all__ = ["NONE_COLOUR", "class_colours", "label_colours", "add_scale_bar"]

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
