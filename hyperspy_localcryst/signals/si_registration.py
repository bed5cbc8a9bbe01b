"""Where a spectrum image lies on the survey image the atoms were found in.

A spectrum image (SI) is any HyperSpy ``Signal1D`` with two navigation axes
(e.g. exspy's ``EELSSpectrum``). Its place on the survey is, in this order of
precedence:

1. ``region=(left, top, right, bottom)``, the SI's outer pixel edges in the
   survey's calibrated units (before ``rotation``), given by the user;
2. the region recorded in the SI file: DigitalMicrograph stores it as
   ``ImageTags.SI.Acquisition.Survey Image.Spectrum Image Rect`` = (top,
   left, bottom, right) in survey pixels;
3. the SI's own calibrated navigation axes, when they are in the survey's
   units (the SI's coordinates are then taken as survey coordinates).

``rotation`` (degrees, counter-clockwise as seen on the survey) turns the
SI's scan frame about the region's centre; ``shift`` (calibrated ``(dx,
dy)``, e.g. from :func:`estimate_si_shift` with the simultaneous HAADF)
moves it; :func:`estimate_si_registration` measures both when the rotation
is not known. The SI's own calibration is not needed: an uncalibrated SI works
with 1 or 2. The spectra at the atoms are in :mod:`.spectra`.
"""

import warnings

import numpy as np

from ..numerics import spectra as nsp
from ._grid import (
    axis_units,
    check_number,
    check_numbers,
    check_positive,
    pixel_scale,
    to_pixels,
)
from .positions._table import _is_table

__all__ = [
    "si_affine",
    "region_from_metadata",
    "register_atoms",
    "estimate_si_shift",
    "estimate_si_registration",
]

_RECT_KEY = "Spectrum Image Rect"


def _check_si(si):
    from hyperspy.signals import BaseSignal

    if not isinstance(si, BaseSignal):
        raise TypeError(f"`si` must be a HyperSpy signal, got {type(si).__name__}.")
    am = si.axes_manager
    if am.signal_dimension != 1 or am.navigation_dimension != 2:
        raise ValueError(
            "`si` must be a spectrum image: a Signal1D with two navigation axes "
            f"(x, y | energy); got dimensions {am.navigation_shape}|"
            f"{am.signal_shape}."
        )
    for ax in am.navigation_axes:
        if not ax.is_uniform:
            raise ValueError(f"The SI's navigation axis {ax.name!r} is not uniform.")
    ax_x, ax_y = am.navigation_axes
    return (int(ax_y.size), int(ax_x.size)), ax_x, ax_y


def region_from_metadata(si):
    """The SI's region on its survey image, if the file recorded it.

    Looks for DigitalMicrograph's ``Spectrum Image Rect`` (top, left, bottom,
    right; survey pixel edges, pixel ``i`` spanning ``i .. i + 1``) anywhere in
    ``si.original_metadata``.

    Parameters
    ----------
    si : hyperspy signal

    Returns
    -------
    tuple of float or None
        ``(left, top, right, bottom)`` in survey pixels with pixel centres at
        integers (this package's convention), or None.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> si = hs.signals.Signal1D(np.zeros((2, 3, 4)))
    >>> si.original_metadata.set_item(
    ...     "ImageList.TagGroup0.ImageTags.SI.Acquisition.Survey Image."
    ...     "Spectrum Image Rect", (10, 20, 30, 50))
    >>> region_from_metadata(si)
    (19.5, 9.5, 49.5, 29.5)
    """

    from hyperspy.signals import BaseSignal

    if not isinstance(si, BaseSignal):
        raise TypeError(f"`si` must be a HyperSpy signal, got {type(si).__name__}.")

    def walk(d):
        for k, v in d.items():
            if k == _RECT_KEY:
                return v
            if isinstance(v, dict):
                found = walk(v)
                if found is not None:
                    return found
        return None

    rect = walk(si.original_metadata.as_dictionary())
    if rect is None:
        return None
    try:
        top, left, bottom, right = (float(v) for v in rect)
    except (TypeError, ValueError):
        return None
    return (left - 0.5, top - 0.5, right - 0.5, bottom - 0.5)


def si_affine(grid, si, region=None, rotation=0.0, shift=None):
    """Affine map from SI pixels to survey pixels, and how it was found.

    Parameters
    ----------
    grid : dict
        The survey's grid (``atoms.grid``).
    si : hyperspy Signal1D with two navigation axes
    region : (left, top, right, bottom), optional
        Calibrated survey units; see the module docstring for the default.
    rotation : float
        Degrees, counter-clockwise on the survey.
    shift : (float, float), optional
        Calibrated ``(dx, dy)`` added to the SI's position.

    Returns
    -------
    affine : numpy.ndarray, shape (2, 3)
    info : dict
        ``region`` (calibrated), ``region_source`` ("user", "metadata",
        "si_axes"), ``rotation``, ``si_shape``, ``affine``.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> grid = {k: dict(size=100, scale=0.1, offset=0.0, units="nm", name=k)
    ...         for k in "xy"}
    >>> si = hs.signals.Signal1D(np.zeros((5, 4, 8)))
    >>> A, info = si_affine(grid, si, region=(1.0, 2.0, 3.0, 4.5))
    >>> A.round(3).tolist()
    [[5.0, 0.0, 12.5], [0.0, 5.0, 22.5]]
    """
    si_shape, ax_x, ax_y = _check_si(si)
    _check_grid(grid)
    pixel_scale(grid)  # refuses non-square pixels
    units = grid["x"]["units"]
    rotation = _angle(rotation, "rotation")
    src = "user"
    if region is not None:
        left, top, right, bottom = check_numbers(
            region, "region", 4, "(left, top, right, bottom)"
        )
        (lpx, rpx), (tpx, bpx) = to_pixels(grid, [left, right], [top, bottom])
        px_region = (float(lpx), float(tpx), float(rpx), float(bpx))
        si_units = axis_units(ax_x.units)
        if si_units and si_units == units:
            w = abs(right - left) / si_shape[1]
            if abs(w - abs(ax_x.scale)) > 0.05 * abs(ax_x.scale):
                warnings.warn(
                    f"The SI's x scale ({ax_x.scale:g} {si_units}) differs from "
                    f"`region`'s width per SI pixel ({w:g} {units}); using "
                    "`region`.",
                    stacklevel=3,
                )
    else:
        px_region = region_from_metadata(si)
        if px_region is not None:
            src = "metadata"
        else:
            su, sv = axis_units(ax_x.units), axis_units(ax_y.units)
            if not su:
                raise ValueError(
                    "The SI's navigation axes are uncalibrated and its file "
                    "records no region on the survey: give "
                    "`region=(left, top, right, bottom)` in the survey's units "
                    f"({units or 'pixels'})."
                )
            if su != units or sv != units:
                raise ValueError(
                    f"Mismatched units: the SI's navigation axes are in "
                    f"{su!r}/{sv!r}, the survey image in {units!r}. Convert one "
                    "(e.g. `si.axes_manager.convert_units('navigation', "
                    f"units={units!r})`) or give `region`."
                )
            src = "si_axes"
            edges = []
            for ax in (ax_x, ax_y):
                a = ax.offset - 0.5 * ax.scale
                b = ax.offset + (ax.size - 0.5) * ax.scale
                edges.append(sorted((a, b)))
            (left, right), (top, bottom) = edges
            lp, tp = to_pixels(grid, [left], [top])
            rp, bp = to_pixels(grid, [right], [bottom])
            px_region = (float(lp[0]), float(tp[0]), float(rp[0]), float(bp[0]))
    if shift is not None:
        dx, dy = check_numbers(shift, "shift", 2, "(dx, dy)")
        # per axis, signed: a flipped axis moves the other way in pixels
        dx, dy = dx / grid["x"]["scale"], dy / grid["y"]["scale"]
        px_region = (
            px_region[0] + dx,
            px_region[1] + dy,
            px_region[2] + dx,
            px_region[3] + dy,
        )
    A = nsp.region_transform(px_region, si_shape, rotation)
    # the region must lie on the survey (a little slack for rounding)
    ci, cj = np.array([-0.5, si_shape[1] - 0.5]), np.array([-0.5, si_shape[0] - 0.5])
    cx, cy = nsp.apply_affine(A, *np.meshgrid(ci, cj))
    nx, ny = grid["x"]["size"], grid["y"]["size"]
    tol = 1.0
    if (
        cx.min() < -0.5 - tol
        or cy.min() < -0.5 - tol
        or cx.max() > nx - 0.5 + tol
        or cy.max() > ny - 0.5 + tol
    ):
        cal = [
            (
                grid["x"]["offset"] + grid["x"]["scale"] * a,
                grid["y"]["offset"] + grid["y"]["scale"] * b,
            )
            for a, b in zip(cx.ravel(), cy.ravel())
        ]
        raise ValueError(
            f"The spectrum image's region ({src}) lies outside the survey image: "
            f"its corners are at {[tuple(round(v, 4) for v in c) for c in cal]} "
            f"({units or 'px'}), the survey spans x "
            f"{grid['x']['offset'] - 0.5 * grid['x']['scale']:g} .. "
            f"{grid['x']['offset'] + (nx - 0.5) * grid['x']['scale']:g}, y "
            f"{grid['y']['offset'] - 0.5 * grid['y']['scale']:g} .. "
            f"{grid['y']['offset'] + (ny - 0.5) * grid['y']['scale']:g}. Check "
            "`region`, `rotation`, `shift` and that the atoms come from the "
            "survey image of this SI."
        )
    gx, gy = grid["x"], grid["y"]
    info = {
        "region": [
            gx["offset"] + gx["scale"] * px_region[0],
            gy["offset"] + gy["scale"] * px_region[1],
            gx["offset"] + gx["scale"] * px_region[2],
            gy["offset"] + gy["scale"] * px_region[3],
        ],
        "region_source": src,
        "rotation": float(rotation),
        "si_shape": [int(v) for v in si_shape],
        "affine": A.tolist(),
        "units": units,
    }
    return A, info


def _check_grid(grid):
    """An image grid dictionary (``atoms.grid``): x and y with a positive
    integer ``size``, finite ``scale`` (non-zero) and ``offset``, ``units``."""
    keys = ("size", "scale", "offset", "units")
    if not isinstance(grid, dict) or not all(
        isinstance(grid.get(k), dict) and all(f in grid[k] for f in keys)
        for k in ("x", "y")
    ):
        raise TypeError(
            "`grid` must be an image grid dictionary (`atoms.grid`: x and y, each "
            f"with {', '.join(keys)}), got {grid!r:.60}."
        )
    for k in ("x", "y"):
        g = grid[k]
        size = check_number(g["size"], f"grid['{k}']['size']", "a number of pixels")
        scale = check_number(g["scale"], f"grid['{k}']['scale']", "a pixel size")
        offset = check_number(g["offset"], f"grid['{k}']['offset']")
        if not (np.isfinite(size) and size >= 1 and size == np.round(size)):
            raise ValueError(
                f"`grid['{k}']['size']` must be a positive number of pixels, got "
                f"{g['size']!r}."
            )
        if not (np.isfinite(scale) and scale != 0 and np.isfinite(offset)):
            raise ValueError(
                f"`grid['{k}']` must have a finite, non-zero scale and a finite "
                f"offset, got scale {g['scale']!r} and offset {g['offset']!r}."
            )


def _angle(value, name):
    """A finite angle in degrees."""
    v = check_number(value, name, "an angle in degrees")
    if not np.isfinite(v):
        raise ValueError(f"`{name}` must be a finite angle in degrees, got {value}.")
    return v


def _length(value, name, scale, zero=False):
    """A positive (or, with ``zero``, non-negative) finite calibrated length
    (None passes) in survey pixels."""
    if value is None:
        return None
    v = check_number(value, name, "a length in the survey's calibrated units")
    if not (np.isfinite(v) and (v > 0 or (zero and v == 0))):
        what = "non-negative" if zero else "positive"
        raise ValueError(f"`{name}` must be a {what}, finite length, got {value}.")
    return v / scale


def _check_atoms(atoms):
    # by the class's signal type: atom_positions imports this module
    if not _is_table(atoms):
        raise TypeError(
            f"`atoms` must be an AtomPositions table, got {type(atoms).__name__}."
        )


def _image_array(value, name):
    """A 2D image (array or signal) as a float array, or an error naming it."""
    data = getattr(value, "data", value)
    if isinstance(data, (str, dict, set)) or data is None:
        raise TypeError(f"`{name}` must be a 2D image, got {value!r:.60}.")
    try:
        arr = np.asarray(data.compute() if hasattr(data, "compute") else data, float)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a 2D image, got {value!r:.60}.") from None
    if arr.ndim != 2:
        raise ValueError(f"`{name}` must be a 2D image, got shape {arr.shape}.")
    return arr


def _single_image(atoms):
    _check_atoms(atoms)
    if atoms.n_frames > 1:
        raise ValueError(
            "The per-atom table comes from an image stack; use the table of the "
            "survey image (`atoms.get_frame(k)`)."
        )


def register_atoms(atoms, si, region=None, rotation=0.0, shift=None):
    """The atoms' positions on the SI's navigation grid (see the module doc).

    Returns
    -------
    AtomPositions
        With columns ``si_x``, ``si_y`` (SI pixels, centres at integers) and
        ``in_si`` (1 inside the SI, else 0); the registration in
        ``metadata.AtomPositions.spectrum_image``.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> si = hs.signals.Signal1D(np.zeros((16, 16, 10)))
    >>> r = register_atoms(atoms, si, region=(0.2, 0.2, 1.0, 1.0))
    >>> int(r.get_column("in_si").sum())
    16
    """
    _single_image(atoms)
    A, info = si_affine(atoms.grid, si, region, rotation, shift)
    xp, yp = atoms.get_pixel_positions()
    i, j = nsp.atoms_to_si_pixels(xp, yp, A)
    ny, nx = info["si_shape"]
    inside = (i >= -0.5) & (i < nx - 0.5) & (j >= -0.5) & (j < ny - 0.5)
    out = atoms.add_columns(
        {"si_x": i, "si_y": j, "in_si": inside.astype(float)},
        {"si_x": "px", "si_y": "px", "in_si": ""},
    )
    out.metadata.set_item("AtomPositions.spectrum_image", info)
    return out


def estimate_si_shift(atoms, survey, haadf, si, region=None, rotation=0.0, search=None):
    """Drift of the SI against the survey, from the simultaneous HAADF image.

    Also the method :meth:`AtomPositions.estimate_si_shift`
    (``atoms.estimate_si_shift(survey, haadf, si)``), which calls this.

    Parameters
    ----------
    atoms : AtomPositions
        From the survey (for its grid).
    survey : hyperspy Signal2D
        The survey image.
    haadf : hyperspy Signal2D or array
        The image recorded with the SI, covering exactly its pixels (any
        integer sub-sampling).
    si : spectrum image
    region, rotation
        As in :func:`si_affine`.
    search : float, optional
        Largest shift, calibrated (default 1.5 SI pixels).

    Returns
    -------
    shift : tuple of float
        Calibrated ``(dx, dy)``; pass it as ``shift=`` to the other calls.
    score : float
        Normalised correlation at the best shift.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> img = synthetic_lattice(shape=(128, 128), noise=None)
    >>> atoms = img.find_atoms()
    >>> si = hs.signals.Signal1D(np.zeros((10, 10, 4)))
    >>> haadf = img.data[40:90, 32:82]  # 2 px right of the region below
    >>> (dx, dy), score = estimate_si_shift(atoms, img, haadf, si,
    ...                                     region=(0.295, 0.395, 0.795, 0.895))
    >>> round(dx, 3), round(dy, 3)
    (0.02, 0.0)
    """
    _check_atoms(atoms)
    A, info = si_affine(atoms.grid, si, region, rotation)
    scale = pixel_scale(atoms.grid)
    s = _length(search, "search", scale, zero=True)
    shift_px, score = nsp.estimate_si_shift(
        _image_array(survey, "survey"),
        _image_array(haadf, "haadf"),
        A,
        info["si_shape"],
        search=s,
    )
    sx, sy = (float(atoms.grid[k]["scale"]) for k in ("x", "y"))
    return (float(shift_px[0] * sx), float(shift_px[1] * sy)), score


def estimate_si_registration(
    atoms,
    survey,
    haadf,
    si,
    region=None,
    rotation_range=(-180.0, 180.0),
    rotation_step=None,
    search=None,
):
    """Rotation and drift of the SI on the survey, from the simultaneous HAADF.

    Also the method :meth:`AtomPositions.estimate_si_registration`
    (``atoms.estimate_si_registration(survey, haadf, si)``), which calls this.

    For an SI whose scan was turned against the survey's by an angle that
    the files do not record: trial rotations of the SI's frame about the
    region's centre, each with the best shift
    (:func:`estimate_si_shift`), refined around the best trial
    (:func:`hyperspy_localcryst.numerics.spectra.estimate_si_rotation`). A
    field that repeats under a rotation (a perfect lattice) matches equally
    at its point-group rotations: narrow ``rotation_range`` around the
    expected angle there; an interface, defect or particle edge in the SI's
    field makes the answer unique.

    Parameters
    ----------
    atoms : AtomPositions
        From the survey (for its grid).
    survey : hyperspy Signal2D
        The survey image.
    haadf : hyperspy Signal2D or array
        The image recorded with the SI, covering exactly its pixels.
    si : spectrum image
    region
        As in :func:`si_affine` (default: from the file or the SI's axes).
    rotation_range : (float, float)
        Degrees searched, counter-clockwise as seen on the survey.
    rotation_step : float, optional
        Degrees between trials; default the angle that moves the SI's
        corner by about 2 survey pixels (at most 5).
    search : float, optional
        Largest shift, calibrated (default 1.5 SI pixels).

    Returns
    -------
    dict
        ``rotation`` (degrees), ``shift`` (calibrated ``(dx, dy)``) and
        ``score`` (normalised correlation; 1 = identical images): pass
        ``rotation=`` and ``shift=`` to
        :meth:`AtomPositions.register_to_spectrum_image` and the other calls.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> from scipy import ndimage
    >>> from hyperspy_localcryst.data import synthetic_two_phase
    >>> from hyperspy_localcryst.numerics.spectra import (apply_affine,
    ...     rotate_affine)
    >>> survey = synthetic_two_phase(shape=(128, 128), noise=None, seed=0)
    >>> atoms = survey.find_atoms()
    >>> si = hs.signals.Signal1D(np.zeros((30, 30, 4)))
    >>> region = (0.345, 0.345, 0.945, 0.945)  # survey 0.01 nm/px
    >>> A0, _ = si_affine(atoms.grid, si, region)
    >>> sx, sy = apply_affine(rotate_affine(A0, 20.0, (30, 30)),
    ...                       *np.meshgrid(np.arange(30), np.arange(30)))
    >>> haadf = ndimage.map_coordinates(survey.data, [sy, sx], order=1)
    >>> reg = estimate_si_registration(atoms, survey, haadf, si, region,
    ...                                rotation_range=(-45, 45))
    >>> round(reg["rotation"]), max(abs(v) for v in reg["shift"]) < 0.005
    (20, True)
    """
    _check_atoms(atoms)
    A0, info = si_affine(atoms.grid, si, region, 0.0)
    lo, hi = check_numbers(
        rotation_range, "rotation_range", 2, "(low, high) in degrees"
    )
    if not hi >= lo:
        raise ValueError(
            f"`rotation_range` must be finite with high >= low, got {rotation_range}."
        )
    if hi - lo > 360.0:
        raise ValueError(
            f"`rotation_range` {rotation_range} spans {hi - lo:g} degrees; a full "
            "turn (360) covers every rotation."
        )
    si_shape = info["si_shape"]
    if rotation_step is None:
        rotation_step = nsp.default_rotation_step(A0, si_shape)
    step = check_positive(
        rotation_step, "rotation_step", "an angle in degrees", noun="angle"
    )
    rotations = nsp.rotation_trials(lo, hi, step)
    scale = pixel_scale(atoms.grid)
    s = _length(search, "search", scale, zero=True)
    rot, shift_px, score = nsp.estimate_si_rotation(
        _image_array(survey, "survey"),
        _image_array(haadf, "haadf"),
        A0,
        si_shape,
        rotations=rotations,
        search=s,
    )
    return {
        "rotation": float(rot),
        "shift": (
            float(shift_px[0] * atoms.grid["x"]["scale"]),
            float(shift_px[1] * atoms.grid["y"]["scale"]),
        ),
        "score": float(score),
    }
