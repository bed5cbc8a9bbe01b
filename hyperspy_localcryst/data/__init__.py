"""Example data: a bundled real image and synthetic lattices with known truth.

Like ``hs.data``, each function returns a ready-to-use signal.
"""

from importlib import resources

import numpy as np

__all__ = [
    "pto_sro_interface",
    "synthetic_lattice",
    "synthetic_two_phase",
    "synthetic_series",
]


def pto_sro_interface(lazy=False):
    """The PbTiO3/SrRuO3 interface HAADF-STEM image (real data, 0.015 nm/px).

    Two phases and curved polar domains; 1312 x 224 px. By Hadjimichael et
    al., redistributed from TEMUL under GPL-3.0 (see the ``README.md`` in
    this folder).

    Parameters
    ----------
    lazy : bool
        Return a :class:`LazyAtomicImage`.

    Returns
    -------
    AtomicImage

    Examples
    --------
    >>> from hyperspy_localcryst.data import pto_sro_interface
    >>> s = pto_sro_interface()
    >>> s.axes_manager.signal_shape
    (1312, 224)
    """
    import hyperspy.api as hs

    from ..signals._grid import check_bool

    check_bool(lazy, "lazy")
    path = resources.files(__name__) / "PbTiO3-SrRuO3_interface_HAADF.hspy"
    with resources.as_file(path) as p:
        s = hs.load(p, signal_type="atomic_image", lazy=lazy)
        if lazy:
            s.compute()  # the file handle closes with the context
            s = s.as_lazy()
    s.metadata.General.title = "PbTiO3/SrRuO3 interface (HAADF)"
    return s


def synthetic_lattice(
    shape=(512, 512),
    spacing=20.0,
    sigma=3.5,
    peak=200.0,
    background=20.0,
    lattice="square",
    rotation=0.0,
    sublattice_peaks=None,
    displacement=None,
    noise="poisson",
    scale=0.01,
    units="nm",
    seed=None,
    return_truth=False,
):
    """A synthetic lattice image with known column positions.

    Point-sampled Gaussian columns on a constant background with Poisson
    noise; see
    :func:`hyperspy_localcryst.data.synthetic.make_lattice_image`. The
    pixel grid has ``scale`` per pixel (square pixels) and offset 0.

    Parameters
    ----------
    shape : tuple of int
        (rows, columns).
    spacing, sigma : float
        Nearest-neighbour distance and column width, in pixels.
    peak, background : float
        Column amplitude and background, in counts.
    lattice : {"square", "hexagonal", "perovskite"}
        Lattice type.
    rotation : float
        Rotation in degrees, counter-clockwise as displayed.
    sublattice_peaks : sequence of float, optional
        Amplitude per sublattice.
    displacement : callable, optional
        ``f(x, y, sublattice) -> (dx, dy)`` in pixels.
    noise : {"poisson", "gaussian", None}
        Noise model.
    scale : float
        Pixel size in ``units``.
    units : str
        Axis units.
    seed : int, optional
        Random seed.
    return_truth : bool
        Also return the true positions.

    Returns
    -------
    AtomicImage or (AtomicImage, dict)
        With ``return_truth``, a dict of arrays: ``x``, ``y`` (calibrated),
        ``x_px``, ``y_px``, ``amplitude``, ``sublattice``.

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> s, truth = synthetic_lattice(shape=(128, 128), seed=0, return_truth=True)
    >>> len(truth["x"])
    49
    """
    from .synthetic import make_lattice_image

    _check_options(scale, units, return_truth)
    img, t = make_lattice_image(
        shape=shape,
        spacing=spacing,
        sigma=sigma,
        peak=peak,
        background=background,
        lattice=lattice,
        rotation=rotation,
        sublattice_peaks=sublattice_peaks,
        displacement=displacement,
        noise=noise,
        seed=seed,
    )
    s = _atomic_image(img, scale, units, f"Synthetic {lattice} lattice")
    if not return_truth:
        return s
    truth = {
        "x": np.asarray(t["x"]) * scale,
        "y": np.asarray(t["y"]) * scale,
        "x_px": np.asarray(t["x"]),
        "y_px": np.asarray(t["y"]),
        "amplitude": np.asarray(t["amplitude"]),
        "sublattice": np.asarray(t["sublattice"]),
    }
    return s, truth


def _check_options(scale, units, return_truth):
    """The calibration and switches shared by the generators, checked first."""
    from ..signals._grid import check_bool, check_positive

    check_positive(scale, "scale", "a pixel size", noun="pixel size")
    if not isinstance(units, str):
        raise TypeError(f"`units` must be a string (e.g. 'nm'), got {units!r}.")
    check_bool(return_truth, "return_truth")


def _atomic_image(data, scale, units, title):
    """An AtomicImage with square calibrated pixels (offset 0) and a title."""
    import hyperspy.api as hs

    s = hs.signals.Signal2D(data)
    for ax, name in zip(s.axes_manager.signal_axes, ("x", "y")):
        ax.name, ax.scale, ax.units, ax.offset = name, scale, units, 0.0
    s.metadata.General.title = title
    s.metadata.Signal.quantity = "Intensity (counts)"
    s.set_signal_type("atomic_image")
    return s


def synthetic_two_phase(
    shape=(512, 512),
    spacing=20.0,
    phases=("square", "hexagonal"),
    rotation=0.0,
    jitter=0.0,
    sigma=3.5,
    peak=200.0,
    background=20.0,
    noise="poisson",
    scale=0.01,
    units="nm",
    seed=None,
    return_truth=False,
):
    """Two phases side by side with a straight boundary, and the truth per atom.

    The left half holds ``phases[0]``, the right half ``phases[1]``, both
    with nearest-neighbour distance ``spacing``, separated by a gap of one
    spacing, the whole rotated by ``rotation`` (see
    :func:`hyperspy_localcryst.data.synthetic.two_phase_positions`).
    Columns are point-sampled round Gaussians on a constant background.

    Parameters
    ----------
    shape : tuple of int
        (rows, columns).
    spacing, sigma : float
        Nearest-neighbour distance and column width, in pixels.
    phases : tuple of str
        Lattice of each half: ``"square"``, ``"hexagonal"``, ``"perovskite"``.
    rotation : float
        Degrees, counter-clockwise as displayed.
    jitter : float
        Standard deviation of random position noise per coordinate, pixels.
    peak, background : float
        Column amplitude and background, in counts.
    noise : {"poisson", "gaussian", None}
        Noise model (Gaussian: standard deviation ``sqrt(counts)``).
    scale : float
        Pixel size in ``units``.
    units : str
        Axis units.
    seed : int, optional
        Random seed (jitter and noise).
    return_truth : bool
        Also return the truth.

    Returns
    -------
    AtomicImage or (AtomicImage, dict)
        With ``return_truth``, a dict of arrays: ``x``, ``y`` (calibrated),
        ``x_px``, ``y_px`` and ``phase`` (0 = ``phases[0]``, 1 =
        ``phases[1]``, 2 = boundary atom).

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_two_phase
    >>> s, truth = synthetic_two_phase((256, 256), spacing=16, seed=0,
    ...                                return_truth=True)
    >>> sorted(set(truth["phase"].tolist()))
    [0, 1, 2]
    """
    from ..signals._grid import check_number
    from .synthetic import (
        render_gaussians,
        two_phase_positions,
    )
    from .synthetic.lattices import _check_seed, _number

    _check_options(scale, units, return_truth)
    if noise is not None and not (
        isinstance(noise, str) and noise in ("poisson", "gaussian")
    ):
        raise ValueError(
            f"`noise` must be 'poisson', 'gaussian' or None, got {noise!r:.60}."
        )
    for name, value in (("peak", peak), ("background", background)):
        v = check_number(value, name, "a number of counts")
        if not np.isfinite(v) or (noise is not None and v < 0):
            raise ValueError(
                f"`{name}` must be finite (and non-negative with noise), got {value}."
            )
    _number(sigma, "sigma", positive=True)  # before the positions are made
    rng = np.random.default_rng(_check_seed(seed))
    x, y, label = two_phase_positions(
        shape,
        spacing=spacing,
        phases=phases,
        rotation=rotation,
        jitter=jitter,
        seed=rng,
    )
    img = render_gaussians(shape, x, y, peak, sigma, background=background)
    if noise == "poisson":
        img = rng.poisson(img).astype(float)
    elif noise == "gaussian":
        img = img + rng.normal(size=img.shape) * np.sqrt(img)
    s = _atomic_image(img, scale, units, f"Synthetic {phases[0]} | {phases[1]}")
    if not return_truth:
        return s
    truth = {"x": x * scale, "y": y * scale, "x_px": x, "y_px": y, "phase": label}
    return s, truth


def synthetic_series(
    n_frames=20,
    shape=(256, 256),
    spacing=20.0,
    drift=(0.37, -0.23),
    frame_time=1.0,
    scale=0.01,
    units="nm",
    seed=None,
    return_truth=False,
    **kwargs,
):
    """A drifting image series (time stack) with the true positions per frame.

    See :func:`hyperspy_localcryst.data.synthetic.make_drift_stack` for
    the model (drift per frame, random walk, scan distortion, noise) and the
    other keyword arguments (``drift_jitter``, ``line_time``, ``pixel_time``,
    ``sigma``, ``peak``, ``background``, ``lattice``, ``noise``).

    Parameters
    ----------
    n_frames : int
        Number of frames.
    shape : tuple of int
        Frame shape (rows, columns).
    spacing : float
        Nearest-neighbour distance in pixels.
    drift : tuple of float
        (dx, dy) per frame in pixels.
    frame_time : float
        Seconds between frames (the ``time`` navigation axis' scale).
    scale : float
        Pixel size in ``units``.
    units : str
        Axis units.
    seed : int, optional
        Random seed.
    return_truth : bool
        Also return the truth of ``make_drift_stack`` (positions in pixels).
    **kwargs
        Passed to ``make_drift_stack``.

    Returns
    -------
    AtomicImage or (AtomicImage, dict)
        A stack with navigation axis ``time`` (s).

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_series
    >>> s = synthetic_series(n_frames=3, shape=(64, 64), seed=0)
    >>> s.axes_manager.navigation_shape, s.axes_manager.navigation_axes[0].name
    ((3,), 'time')
    """
    import inspect

    from .synthetic import make_drift_stack

    _check_options(scale, units, return_truth)
    allowed = set(inspect.signature(make_drift_stack).parameters) - {
        "n_frames",
        "shape",
        "spacing",
        "drift",
        "frame_time",
        "seed",
    }
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise TypeError(
            f"`{unknown[0]}` is not an argument of `synthetic_series`; the "
            f"keyword arguments passed on to `make_drift_stack` are {sorted(allowed)}."
        )
    stack, truth = make_drift_stack(
        n_frames=n_frames,
        shape=shape,
        spacing=spacing,
        drift=drift,
        frame_time=frame_time,
        seed=seed,
        **kwargs,
    )
    s = _atomic_image(stack, scale, units, "Synthetic drifting series")
    t = s.axes_manager.navigation_axes[0]
    t.name, t.scale, t.units = "time", frame_time, "s"
    return (s, truth) if return_truth else s
