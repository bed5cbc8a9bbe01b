"""Example data: a bundled real image and synthetic lattices with known truth.

Like ``hs.data``, each function returns a ready-to-use signal.
"""

from importlib import resources

import numpy as np

__all__ = ["pto_sro_interface", "synthetic_lattice"]


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
    :func:`hyperspy_localcryst.numerics.synthetic.make_lattice_image`. The
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
    import hyperspy.api as hs

    from ..numerics.synthetic import make_lattice_image

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
    s = hs.signals.Signal2D(img)
    for ax, name in zip(s.axes_manager.signal_axes, ("x", "y")):
        ax.name, ax.scale, ax.units, ax.offset = name, scale, units, 0.0
    s.metadata.General.title = f"Synthetic {lattice} lattice"
    s.metadata.Signal.quantity = "Intensity (counts)"
    s.set_signal_type("atomic_image")
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
