"""Spectrum images with known edges, paired with an image of the same
area (:func:`edge_spectrum`, :func:`make_spectrum_image_pair`).

Positions are in pixels, ``x`` is the column and ``y`` the row; pixel
``image[r, c]`` has its centre at ``x = c``, ``y = r``. Plain numpy arrays;
nothing here imports HyperSpy.
"""

from __future__ import annotations

import numpy as np

from ...numerics._checks import (
    check_array,
    check_integer,
    check_memory,
    check_numbers,
)
from .lattices import (
    _check_seed,
    _check_shape,
    _number,
    lattice_positions,
    render_gaussians,
)


# ---------------------------------------------------------------------------
# survey image + spectrum image pair
# ---------------------------------------------------------------------------
def edge_spectrum(energy, onset, white_line=3.0, width=1.5, decay=60.0):
    """A core-loss edge without background: a smoothed step and a white line.

    Parameters
    ----------
    energy : array_like
        Channel energies (eV).
    onset : float
        Edge onset (eV).
    white_line : float
        Height of the peak just above the onset, relative to the step.
    width : float
        Width (eV) of the step and of the peak.
    decay : float
        The step decays as ``exp(-(E - onset) / decay)`` above the onset.

    Returns
    -------
    numpy.ndarray
        Non-negative, 0 well below the onset, step height 1.

    Examples
    --------
    >>> e = np.arange(440.0, 480.0)
    >>> s = edge_spectrum(e, 456.0)
    >>> float(s[0]) < 1e-3 < float(s.max())
    True
    """
    e = check_array(energy, "energy")
    onset = _number(onset, "onset")
    white_line = _number(white_line, "white_line")
    width = _number(width, "width", positive=True)
    decay = _number(decay, "decay", positive=True)
    z = (e - onset) / width
    step = 0.5 * (1.0 + np.tanh(z)) * np.exp(-np.maximum(e - onset, 0.0) / decay)
    peak = white_line * np.exp(-0.5 * ((e - onset - 2.0 * width) / width) ** 2)
    return step + peak


def make_spectrum_image_pair(
    shape=(192, 192),
    spacing=14.0,
    lattice="perovskite",
    sigma=2.5,
    sublattice_peaks=(200.0, 80.0),
    background=20.0,
    si_region=None,
    si_shape=(40, 40),
    si_rotation=0.0,
    energy=None,
    site_spectra=None,
    probe_sigma=None,
    dose=200.0,
    positions=None,
    subsample=3,
    noise="poisson",
    seed=None,
):
    """A survey image and a spectrum image (SI) of the same atoms, with truth.

    The survey is a lattice image (:func:`make_lattice_image`'s model). The
    SI scans the rectangle ``si_region`` of the survey (outer pixel edges,
    survey pixels, before rotation) with ``si_shape`` pixels, its frame
    turned by ``si_rotation`` about the rectangle's centre (see
    :func:`hyperspy_localcryst.numerics.spectra.region_transform`). Each SI
    pixel records ``sum over atoms of g(r) * site_spectra[site]``, ``g`` a
    round Gaussian probe/scattering footprint of width ``probe_sigma`` around
    each atom, averaged over ``subsample²`` points of the SI pixel, times
    ``dose``, with Poisson noise.

    Parameters
    ----------
    shape, spacing, lattice, sigma, sublattice_peaks, background
        Survey image (pixels), as :func:`make_lattice_image`; the site of an
        atom is its sub-lattice.
    si_region : (float, float, float, float), optional
        ``(left, top, right, bottom)``; default the central 60 % of the survey.
    si_shape : (int, int)
        ``(ny, nx)`` of the SI.
    si_rotation : float
        Degrees, counter-clockwise as seen on the survey.
    energy : array_like, optional
        Channel energies; default 400..599 eV in 1 eV channels.
    site_spectra : array_like, shape (n_sites, n_energy), optional
        Spectrum of each site; default :func:`edge_spectrum` with onsets 456
        eV (site 0) and 532 eV (site 1), like Ti L3 and O K.
    probe_sigma : float, optional
        Survey pixels; default ``0.2 * spacing``.
    dose : float
        Counts scale of the SI.
    positions : (x, y, site), optional
        Use these atoms (survey pixels, integer sites) instead of a lattice;
        they are rendered in the survey with ``sublattice_peaks[site]``.
    subsample : int
        Points per SI pixel and axis.
    noise : {"poisson", None}
    seed : int, optional

    Returns
    -------
    survey : numpy.ndarray, shape ``shape``
    si : numpy.ndarray, shape ``si_shape + (n_energy,)``
    truth : dict
        ``x``, ``y``, ``site`` (atoms inside the survey, survey pixels),
        ``si_x``, ``si_y`` (the same atoms in SI pixels), ``affine`` (SI to
        survey pixels, (2, 3)), ``energy``, ``site_spectra``, ``haadf``
        (the image recorded with the SI: the survey's model sampled on the
        SI's scan with ``subsample`` pixels per SI pixel and axis, Poisson
        noise like the survey).

    Examples
    --------
    >>> survey, si, t = make_spectrum_image_pair(shape=(64, 64), si_shape=(8, 8),
    ...                                          seed=0)
    >>> survey.shape, si.shape, t["site_spectra"].shape
    ((64, 64), (8, 8, 200), (2, 200))
    """
    from scipy import ndimage
    from scipy.spatial import cKDTree

    from ...numerics.spectra import (
        apply_affine,
        atoms_to_si_pixels,
        region_transform,
        si_pixel_centres,
    )

    ny, nx = _check_shape(shape)
    if noise is not None and not (isinstance(noise, str) and noise == "poisson"):
        raise ValueError(f"`noise` must be 'poisson' or None, got {noise!r:.60}.")
    spacing = _number(spacing, "spacing", positive=True)
    sigma = _number(sigma, "sigma", positive=True)
    background = _number(background, "background", minimum=0.0)
    dose = _number(dose, "dose", minimum=0.0)
    si_rotation = _number(si_rotation, "si_rotation")
    _check_seed(seed)
    probe_name = "probe_sigma" if probe_sigma is not None else "spacing"
    if probe_sigma is None:
        probe_sigma = 0.2 * spacing
    probe_sigma = _number(probe_sigma, "probe_sigma")
    if not probe_sigma > 0:
        raise ValueError(f"`probe_sigma` must be positive, got {probe_sigma!r}.")
    if not isinstance(si_shape, (tuple, list, np.ndarray)) or len(si_shape) != 2:
        raise TypeError(f"`si_shape` must be a pair (ny, nx), got {si_shape!r:.60}.")
    sny, snx = (check_integer(v, "si_shape", minimum=1) for v in si_shape)
    subsample = check_integer(subsample, "subsample", minimum=1)
    check_memory(
        8.0 * sny * snx * subsample**2,
        "subsample",
        subsample,
        f"{sny * snx} SI pixels × {subsample}² points, per array",
        total=80.0 * sny * snx * subsample**2,
    )
    if energy is None:
        energy = np.arange(400.0, 600.0, 1.0)
    energy = check_array(energy, "energy", ndim=1, finite=True)
    check_memory(
        8.0 * sny * snx * energy.size, "si_shape", tuple(si_shape), "the SI's counts"
    )
    if site_spectra is None:
        site_spectra = np.stack(
            [edge_spectrum(energy, 456.0), edge_spectrum(energy, 532.0)]
        )
    site_spectra = np.atleast_2d(check_array(site_spectra, "site_spectra"))
    if site_spectra.shape[1] != energy.size:
        raise ValueError(
            f"`site_spectra` has {site_spectra.shape[1]} channels for "
            f"{energy.size} energies (`energy`)."
        )
    if si_region is None:
        si_region = (0.2 * nx - 0.5, 0.2 * ny - 0.5, 0.8 * nx - 0.5, 0.8 * ny - 0.5)
    si_region = check_numbers(si_region, "si_region", 4, "(left, top, right, bottom)")
    A = region_transform(si_region, si_shape, si_rotation)
    for name, value in (("sigma", sigma), (probe_name, probe_sigma)):
        if value > max(ny, nx):
            what = (
                "" if name != "spacing" else f" (the default probe_sigma, 0.2 × {name})"
            )
            raise ValueError(
                f"`{name}` gives a width of {value:g} px{what}, larger than the "
                f"image ({nx} x {ny} px)."
            )
    reach = 6.0 * max(sigma, probe_sigma)
    if positions is None:
        x, y, site = lattice_positions(
            (ny, nx), spacing, lattice, margin=-(reach + spacing)
        )
    else:
        if not isinstance(positions, (tuple, list)) or len(positions) != 3:
            raise TypeError(
                "`positions` must be (x, y, site), three arrays of one value per "
                f"atom, got {positions!r:.60}."
            )
        x, y, site = (check_array(v, "positions", finite=True) for v in positions)
        x, y, site = x.ravel(), y.ravel(), site.ravel()
        if not (x.size == y.size == site.size) or x.size == 0:
            raise ValueError(
                "`positions` must be (x, y, site) of the same, non-zero length, got "
                f"{x.size}, {y.size} and {site.size} values."
            )
        if not np.all(site == np.round(site)):
            raise ValueError("`positions`: the sites must be integers.")
        site = site.astype(np.int64)
    peaks = check_array(sublattice_peaks, "sublattice_peaks", finite=True).ravel()
    if site.max() >= len(site_spectra) or site.max() >= len(peaks) or site.min() < 0:
        raise ValueError(
            "every site of `positions` needs a spectrum in `site_spectra` and a "
            "peak in `sublattice_peaks` (sites 0 .. "
            f"{min(len(site_spectra), len(peaks)) - 1}), got sites "
            f"{int(site.min())} .. {int(site.max())}."
        )
    render = (
        (x >= -reach) & (x <= nx - 1 + reach) & (y >= -reach) & (y <= ny - 1 + reach)
    )
    survey = render_gaussians(
        (ny, nx),
        x[render],
        y[render],
        peaks[site[render]],
        sigma,
        background=background,
        truncate=6.0,
    )
    px, py, pixel = si_pixel_centres(A, si_shape, subsample)
    pairs = cKDTree(np.column_stack([px, py])).sparse_distance_matrix(
        cKDTree(np.column_stack([x, y])), 5.0 * probe_sigma, output_type="ndarray"
    )
    g = np.exp(-0.5 * (pairs["v"] / probe_sigma) ** 2) / subsample**2
    n_pix = int(np.prod(si_shape))
    # weight of each (SI pixel, site): sum of the footprints of that site's atoms
    w = np.zeros((n_pix, len(site_spectra)))
    np.add.at(w, (pixel[pairs["i"]], site[pairs["j"]]), g)
    si = dose * (w @ site_spectra)
    # the simultaneous image (e.g. HAADF): the survey's model sampled on the
    # SI's scan, ``subsample`` x ``subsample`` pixels per SI pixel
    f = int(subsample)
    jj, ii = np.mgrid[0 : si_shape[0] * f, 0 : si_shape[1] * f]
    hx, hy = apply_affine(A, (ii + 0.5) / f - 0.5, (jj + 0.5) / f - 0.5)
    haadf = ndimage.map_coordinates(survey, [hy, hx], order=1, mode="nearest")
    rng = np.random.default_rng(seed)
    if noise == "poisson":
        survey = rng.poisson(np.maximum(survey, 0)).astype(np.float64)
        si = rng.poisson(np.maximum(si, 0)).astype(np.float64)
        haadf = rng.poisson(np.maximum(haadf, 0)).astype(np.float64)
    inside = (x >= 0) & (x <= nx - 1) & (y >= 0) & (y <= ny - 1)
    si_x, si_y = atoms_to_si_pixels(x[inside], y[inside], A)
    truth = {
        "x": x[inside],
        "y": y[inside],
        "site": site[inside],
        "si_x": si_x,
        "si_y": si_y,
        "affine": A,
        "energy": energy,
        "site_spectra": site_spectra,
        "haadf": haadf,
    }
    return survey, si.reshape(tuple(si_shape) + (energy.size,)), truth
