"""Per-frame results of an image stack as signals on the stack's navigation axes.

A stack's atoms live in one pooled table (column ``frame`` = flat frame index,
C order over the navigation shape in array order). Statistics per frame
(cluster fractions, mean descriptors, drift) are ``(n_frames, m)`` arrays; this
module turns them into a :class:`hyperspy.api.signals.Signal1D` whose
navigation axes are the stack's own (time, tilt...), so that they plot and
slice like the stack.
"""

import numpy as np
from hyperspy.signals import Signal1D

__all__ = [
    "navigation_dicts",
    "navigation_shape",
    "navigation_axes",
    "n_frames",
    "stack_signal",
    "progress",
]


def navigation_dicts(navigation):
    """Plain axis dictionaries from stored navigation metadata (or ``None``).

    Examples
    --------
    >>> navigation_dicts([{"size": 3, "scale": 1.0, "offset": 0.0}])[0]["size"]
    3
    """
    if not navigation:
        return []
    return [
        d.as_dictionary() if hasattr(d, "as_dictionary") else dict(d)
        for d in navigation
    ]


def navigation_shape(navigation):
    """Shape of the stack's navigation in array order (slowest axis first).

    Examples
    --------
    >>> navigation_shape([{"size": 3}, {"size": 4}])
    (4, 3)
    """
    return tuple(int(d["size"]) for d in reversed(navigation_dicts(navigation)))


def navigation_axes(navigation):
    """Axis dictionaries for a new signal on the stack's navigation, array order.

    Examples
    --------
    >>> navigation_axes([{"_type": "UniformDataAxis", "size": 3}])
    [{'size': 3, 'navigate': True}]
    """
    return [
        {**{k: v for k, v in d.items() if k != "_type"}, "navigate": True}
        for d in reversed(navigation_dicts(navigation))
    ]


def n_frames(navigation):
    """Number of frames of a stack described by its navigation axes.

    Examples
    --------
    >>> n_frames([{"size": 3}, {"size": 4}])
    12
    >>> n_frames(None)
    1
    """
    return int(np.prod(navigation_shape(navigation)))


def stack_signal(values, navigation, names, units="", axis_name="column", title=""):
    """A Signal1D of per-frame values on the stack's navigation axes.

    Parameters
    ----------
    values : array_like
        Shape ``(n_frames, m)``, rows in flat frame order.
    navigation : list of dict
        The stack's navigation axes (``navigation_axes`` order, as stored in
        ``metadata.AtomPositions.navigation``); empty for a single image.
    names : list of str
        Name of each of the ``m`` values (stored in ``metadata.Signal.names``).
    units : str
        Units of the values.
    axis_name : str
        Name of the signal axis.
    title : str
        Signal title.

    Returns
    -------
    hyperspy.api.signals.Signal1D

    Examples
    --------
    >>> nav = [{"size": 4, "scale": 0.5, "offset": 0.0, "name": "time",
    ...         "units": "s", "navigate": True}]
    >>> s = stack_signal(np.zeros((4, 2)), nav, ["a", "b"])
    >>> s.axes_manager.navigation_axes[0].name, s.axes_manager.signal_shape
    ('time', (2,))
    """
    nav = navigation_dicts(navigation)
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[0] != n_frames(nav):
        raise ValueError(
            f"Per-frame values must have shape (n_frames={n_frames(nav)}, m), got "
            f"{values.shape}."
        )
    data = values.reshape(navigation_shape(nav) + values.shape[1:])
    axes = navigation_axes(nav)
    axes.append({"size": values.shape[1], "name": axis_name, "navigate": False})
    s = Signal1D(data, axes=axes)
    s.metadata.General.title = title
    s.metadata.set_item("Signal.names", [str(n) for n in names])
    s.metadata.set_item("Signal.quantity", units)
    return s


def progress(iterable, total, show_progressbar=None, desc=None):
    """``iterable`` under HyperSpy's progress bar (``show_progressbar=None``:
    ``hs.preferences.General.show_progressbar``, HyperSpy's convention).

    Examples
    --------
    >>> list(progress(iter([1, 2]), 2, show_progressbar=False))
    [1, 2]
    """
    from hyperspy.api import preferences
    from hyperspy.external.progressbar import progressbar

    if show_progressbar is None:
        show_progressbar = preferences.General.show_progressbar
    return progressbar(
        iterable, total=total, disable=not show_progressbar, desc=desc, leave=True
    )
