"""Markers that draw the table of :meth:`AtomPositions.get_defects` on an image."""

import numpy as np

from ._grid import check_number, check_positive

__all__ = ["defect_markers"]

_COLUMNS = ("type", "x", "y", "burgers_x", "burgers_y")


def defect_markers(defects, size=None, burgers_scale=3.0):
    """HyperSpy markers for defects: vacancies, interstitials, dislocations,
    antiphase boundaries.

    Vacancies are open red circles (diameter ``size``), interstitials open
    cyan squares, the points of antiphase (translation) boundaries small
    orange dots, and dislocations a yellow dot at the core and a yellow line
    from it along the Burgers vector (``burgers_scale`` times its length, so
    it shows).

    Parameters
    ----------
    defects : pandas.DataFrame
        The table of :meth:`AtomPositions.get_defects` (calibrated ``x``,
        ``y``, ``burgers_x``, ``burgers_y``, ``type``).
    size : float, optional
        Diameter of the circles and squares in the image's calibrated units.
        Default: 0.8 times the shortest translation in ``defects.attrs["vectors"]``
        (1 without it).
    burgers_scale : float
        Length of the arrows over the length of the Burgers vectors.

    Returns
    -------
    list of hyperspy.api.plot.markers
        Add them with ``image.add_marker(markers, permanent=False)`` or
        ``image.plot(); image.add_marker(markers)``; types that are absent
        give no marker.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"type": ["vacancy", "dislocation"], "x": [1.0, 2.0],
    ...                    "y": [1.5, 0.5], "burgers_x": [float("nan"), 0.4],
    ...                    "burgers_y": [float("nan"), 0.0]})
    >>> [type(m).__name__ for m in defect_markers(df, size=0.2)]
    ['Circles', 'Lines', 'Circles']
    """
    import hyperspy.api as hs

    missing = [
        c for c in _COLUMNS if not hasattr(defects, "columns") or c not in defects
    ]
    if missing:
        raise ValueError(
            f"`defects` must be the table of `get_defects` (columns {list(_COLUMNS)}); "
            f"missing {missing}."
        )
    scale = check_number(burgers_scale, "burgers_scale")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"`burgers_scale` must be positive, got {burgers_scale!r}.")
    if size is None:
        vectors = getattr(defects, "attrs", {}).get("vectors") or {}
        lengths = [np.hypot(*np.asarray(v, float).T).min() for v in vectors.values()]
        size = 0.8 * min(lengths) if lengths else 1.0
    else:
        size = check_positive(
            size, "size", "a length in calibrated units", noun="length"
        )
    kind = defects["type"].astype(str).to_numpy()
    xy = defects[["x", "y"]].to_numpy(dtype=float)
    out = []
    style = dict(facecolors="none", linewidth=1.5, units="x")
    on = kind == "vacancy"
    if on.any():
        out.append(
            hs.plot.markers.Circles(
                offsets=xy[on], sizes=0.5 * size, edgecolors="red", **style
            )
        )
    on = kind == "interstitial"
    if on.any():
        out.append(
            hs.plot.markers.Squares(
                offsets=xy[on], widths=size, edgecolors="cyan", **style
            )
        )
    on = kind == "antiphase_boundary"
    if on.any():
        out.append(
            hs.plot.markers.Points(
                offsets=xy[on], sizes=0.15 * size, color="orange", units="x"
            )
        )
    on = kind == "dislocation"
    if on.any():
        b = defects[["burgers_x", "burgers_y"]].to_numpy(dtype=float)[on] * scale
        seg = np.stack([xy[on], xy[on] + b], axis=1)
        out.append(hs.plot.markers.Lines(segments=seg, colors="yellow", linewidth=2))
        out.append(
            hs.plot.markers.Circles(
                offsets=xy[on], sizes=0.3 * size, facecolors="yellow", units="x"
            )
        )
    return out
