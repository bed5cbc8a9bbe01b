"""The boundary between calibrated signals and pixel numerics.

An image's *grid* is the calibration of its two signal axes (size, scale,
offset, units, name), stored as a plain dictionary so that it travels in the
metadata of the per-atom table and survives copies, slicing and saving.
Pixel positions (x = column, y = row, centres at integers) convert to
calibrated ones as ``offset + scale * pixel``.
"""

import numpy as np

# One implementation of each argument check, shared with the numerics.
from ..numerics._checks import (
    check_at_most,
    check_bool,
    check_integer,
    check_memory,
    check_n_sublattices,
    check_number,
    check_numbers,
    check_positive,
)

__all__ = [
    "small_length_unit",
    "grid_from_axes",
    "to_pixels",
    "to_calibrated",
    "pixel_scale",
    "check_number",
    "check_integer",
    "check_bool",
    "check_numbers",
    "check_positive",
    "check_at_most",
    "check_memory",
    "check_units",
    "check_n_sublattices",
    "axis_units",
]


def axis_units(units):
    """An axis' units as a string, "" where HyperSpy has none (its traits
    ``Undefined``, shown as ``<undefined>``).

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> axis_units(hs.signals.Signal2D(np.zeros((2, 2))).axes_manager[0].units)
    ''
    >>> axis_units("nm")
    'nm'
    """
    return units if isinstance(units, str) and units != "<undefined>" else ""


def check_units(have, want, name):
    """Refuse lengths in other units than the image's (no silent factor of 10).

    Empty units (uncalibrated, or not recorded) are not compared.

    Examples
    --------
    >>> check_units("nm", "nm", "drift")
    >>> check_units("Å", "nm", "drift")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `drift` is in Å but the image is in nm; convert one of them first...
    """
    have, want = str(have or ""), str(want or "")
    if have and want and have != want:
        raise ValueError(
            f"`{name}` is in {have} but the image is in {want}; convert one of them "
            "first (lengths are not converted between units)."
        )


def grid_from_axes(signal_axes):
    """Grid dictionary of two signal axes (x first, then y).

    Parameters
    ----------
    signal_axes : tuple of hyperspy axes
        ``signal.axes_manager.signal_axes``.

    Returns
    -------
    dict
        ``{"x": {...}, "y": {...}}`` with keys size, scale, offset, units,
        name.

    Examples
    --------
    >>> import hyperspy.api as hs, numpy as np
    >>> s = hs.signals.Signal2D(np.zeros((4, 6)))
    >>> grid_from_axes(s.axes_manager.signal_axes)["x"]["size"]
    6
    """
    out = {}
    for key, ax in zip(("x", "y"), signal_axes):
        if not ax.is_uniform:
            raise ValueError(
                f"The signal axis {ax.name!r} is not uniform; atom positions need a "
                "uniform pixel grid (convert it with `axis.convert_to_uniform_axis()`)."
            )
        if not (np.isfinite(ax.offset) and np.isfinite(ax.scale) and ax.scale != 0):
            what = (
                "non-finite offset"
                if np.isfinite(ax.scale) and ax.scale
                else ("zero or non-finite scale")
            )
            raise ValueError(
                f"The signal axis {ax.name!r} has a {what} (offset {ax.offset!r}, "
                f"scale {ax.scale!r}); atom positions need a finite offset and a "
                "finite, non-zero scale (set `axis.offset` / `axis.scale`)."
            )
        out[key] = {
            "size": int(ax.size),
            "scale": float(ax.scale),
            "offset": float(ax.offset),
            "units": axis_units(ax.units),
            "name": str(ax.name) if isinstance(ax.name, str) else key,
        }
    if out["x"]["units"] != out["y"]["units"]:
        raise ValueError(
            f"The x and y axes have different units ({out['x']['units']!r} and "
            f"{out['y']['units']!r}); convert them to the same unit first."
        )
    return out


#: Units of a length -> (factor, unit) small lengths (displacements, mode
#: sizes) are shown in: pm for images in nm or Å, nm for µm.
_SMALL_UNITS = {
    "nm": (1000.0, "pm"),
    "Å": (100.0, "pm"),
    "A": (100.0, "pm"),
    "angstrom": (100.0, "pm"),
    "pm": (1.0, "pm"),
    "µm": (1000.0, "nm"),
    "um": (1000.0, "nm"),
}


def small_length_unit(units):
    """``(factor, unit)`` to show small lengths in: pm for nm or Å.

    Examples
    --------
    >>> small_length_unit("nm")
    (1000.0, 'pm')
    >>> small_length_unit("")
    (1.0, 'px')
    """
    units = str(units or "")
    return _SMALL_UNITS.get(units, (1.0, units or "px"))


def pixel_scale(grid):
    """The (square) pixel size of a grid, in its calibrated units.

    Parameters
    ----------
    grid : dict
        Grid dictionary from :func:`grid_from_axes`.

    Returns
    -------
    float
        The pixel size.

    Examples
    --------
    >>> g = {"x": {"scale": 0.1}, "y": {"scale": 0.1}}
    >>> pixel_scale(g)
    0.1
    """
    sx, sy = float(grid["x"]["scale"]), float(grid["y"]["scale"])
    if sx == 0 or sy == 0 or not np.isfinite(sx * sy):
        raise ValueError("The image axes have a zero or non-finite scale.")
    if abs(abs(sx) - abs(sy)) > 1e-6 * max(abs(sx), abs(sy)):
        raise ValueError(
            f"Pixels are not square (x scale {sx:g}, y scale {sy:g}); distances in "
            "pixels would be ambiguous. Rescale the image to square pixels first."
        )
    return abs(sx)


#: Pixel positions are rounded to this many decimals (1e-9 px, a
#: thousandth of a femtometre at 0.01 nm/px): the round trip pixels ->
#: calibrated -> pixels then gives back the same bits whatever the
#: calibration, so that no result depends on the pixel size (a 1e-14 px
#: difference could tip a fit of a crowded, noisy window into another pass).
_DECIMALS = 9


def to_pixels(grid, x, y):
    """Calibrated positions to pixel positions (rounded to 1e-9 px).

    Examples
    --------
    >>> g = {"x": {"scale": 0.5, "offset": 1.0}, "y": {"scale": 0.5, "offset": 0.0}}
    >>> to_pixels(g, [2.0], [1.0])
    (array([2.]), array([2.]))
    """
    gx, gy = grid["x"], grid["y"]
    return (
        np.round((np.asarray(x, dtype=float) - gx["offset"]) / gx["scale"], _DECIMALS),
        np.round((np.asarray(y, dtype=float) - gy["offset"]) / gy["scale"], _DECIMALS),
    )


def to_calibrated(grid, x, y):
    """Pixel positions to calibrated positions.

    Examples
    --------
    >>> g = {"x": {"scale": 0.5, "offset": 1.0}, "y": {"scale": 0.5, "offset": 0.0}}
    >>> to_calibrated(g, [2.0], [2.0])
    (array([2.]), array([1.]))
    """
    gx, gy = grid["x"], grid["y"]
    return (
        gx["offset"] + gx["scale"] * np.asarray(x, dtype=float),
        gy["offset"] + gy["scale"] * np.asarray(y, dtype=float),
    )
