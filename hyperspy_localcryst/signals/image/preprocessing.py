"""Contrast normalisation, denoising and background removal, frame by frame."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage as ndi

from ..._docstrings import fill_doc
from .._grid import (
    check_bool,
    check_integer,
    check_numbers,
)


def _normalise(img, lo, hi, stack=False):
    a, b = np.percentile(img, [lo, hi])
    if b <= a:
        if stack:  # one bad frame: NaN, the others kept
            warnings.warn(
                "A frame is constant between the percentiles: its contrast cannot "
                "be normalised and it is NaN in the result.",
                RuntimeWarning,
                stacklevel=2,
            )
            return np.full(np.shape(img), np.nan)
        raise ValueError("The image is constant: contrast cannot be normalised.")
    return np.clip((img - a) / (b - a), 0.0, 1.0)


def _gaussian(img, sigma):
    return ndi.gaussian_filter(np.asarray(img, dtype=float), sigma)


def _median(img, size):
    return ndi.median_filter(np.asarray(img, dtype=float), size)


def _subtract_background(img, sigma):
    img = np.asarray(img, dtype=float)
    return img - ndi.gaussian_filter(img, sigma)


class PreprocessingMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atomic_image.
    AtomicImage` (the class inherits them; see the module docstring)."""

    def _filter_width_px(self, value, name, times=1):
        """A width in pixels, refused beyond ``times`` the image size: a
        Gaussian of sigma 1e8 px builds a kernel of 8e8 taps (minutes and the
        memory of the machine); a wider one is the image mean anyway."""
        px = self._length_to_px(value, name)
        size = max(self.axes_manager.signal_shape)
        if px > times * size:
            limit = "the image" if times == 1 else f"{times} times the image"
            raise ValueError(
                f"`{name}` ({value:g} = {px:.4g} px) is wider than {limit} ({size} px)."
            )
        return px

    # -------------------------------------------------------- preprocessing
    @fill_doc
    def normalise_contrast(
        self,
        percentiles=(0.1, 99.9),
        show_progressbar=None,
        num_workers=None,
        lazy_output=None,
    ):
        """Scale each frame so the given percentiles map to 0 and 1.

        Values outside are clipped. Returns a new signal. In a stack, a
        constant frame cannot be scaled: it becomes NaN (with a
        ``RuntimeWarning``) and the other frames are kept; a single constant
        image is a ``ValueError``.

        Parameters
        ----------
        percentiles : tuple of float
            Lower and upper percentile.
        %(SHOW_PROGRESSBAR_ARG)s
        %(NUM_WORKERS_ARG)s
        %(LAZY_OUTPUT_ARG)s

        Returns
        -------
        AtomicImage

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(64, 64), seed=0).normalise_contrast((0, 100))
        >>> float(s.data.min()), float(s.data.max())
        (0.0, 1.0)
        """
        lo, hi = check_numbers(percentiles, "percentiles", 2, "a pair (low, high)")
        if not 0 <= lo < hi <= 100:
            raise ValueError(
                f"`percentiles` must satisfy 0 <= low < high <= 100, got {percentiles}."
            )
        self._check_real()
        stack = self.axes_manager.navigation_dimension > 0
        return self._map_new(
            _normalise,
            show_progressbar,
            num_workers,
            lazy_output,
            lo=lo,
            hi=hi,
            stack=stack,
        )

    @fill_doc
    def denoise(
        self,
        method="gaussian",
        sigma=None,
        size=None,
        show_progressbar=None,
        num_workers=None,
        lazy_output=None,
    ):
        """Remove noise with a Gaussian or a median filter.

        Parameters
        ----------
        method : {"gaussian", "median"}
            The filter.
        sigma : float, optional
            Gaussian width in calibrated units (at most ten times the image
            size); default one pixel.
        size : float, optional
            Median window in calibrated units (at most the image size);
            default three pixels.
        %(SHOW_PROGRESSBAR_ARG)s
        %(NUM_WORKERS_ARG)s
        %(LAZY_OUTPUT_ARG)s

        Returns
        -------
        AtomicImage

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(64, 64), seed=0)
        >>> bool(s.denoise().data.std() < s.data.std())
        True
        """
        self._check_real()
        if not isinstance(method, str) or method not in ("gaussian", "median"):
            raise ValueError(
                f"Unknown `method` {method!r}; choose 'gaussian' or 'median'."
            )
        # both widths are checked, whichever the method uses
        sigma_px = None if sigma is None else self._filter_width_px(sigma, "sigma", 10)
        size_px = None if size is None else self._filter_width_px(size, "size")
        if method == "gaussian":
            px = 1.0 if sigma_px is None else sigma_px
            return self._map_new(
                _gaussian, show_progressbar, num_workers, lazy_output, sigma=px
            )
        n = max(int(round(3.0 if size_px is None else size_px)), 1)
        return self._map_new(
            _median, show_progressbar, num_workers, lazy_output, size=n
        )

    @fill_doc
    def remove_background(
        self, sigma=None, show_progressbar=None, num_workers=None, lazy_output=None
    ):
        """Subtract a smooth background (a wide Gaussian blur of the image).

        Parameters
        ----------
        sigma : float, optional
            Width of the background in calibrated units, at most ten times
            the image size; default three times the atom separation
            (estimated if needed), limited to the image size.
        %(SHOW_PROGRESSBAR_ARG)s
        %(NUM_WORKERS_ARG)s
        %(LAZY_OUTPUT_ARG)s

        Returns
        -------
        AtomicImage
            The image minus its background; it can have negative values.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(64, 64), seed=0)
        >>> abs(float(s.remove_background(sigma=1.0).data.mean())) < 1
        True
        """
        self._check_real()
        if sigma is None:
            px = 3 * self._length_to_px(self.estimate_separation(), "separation")
            px = min(px, max(self.axes_manager.signal_shape))
        else:
            px = self._filter_width_px(sigma, "sigma", 10)
        return self._map_new(
            _subtract_background, show_progressbar, num_workers, lazy_output, sigma=px
        )

    def _map_new(
        self, function, show_progressbar=None, num_workers=None, lazy_output=None, **kw
    ):
        """``self.map(function)`` into a new float64 signal, with HyperSpy's
        ``show_progressbar``, ``num_workers`` and ``lazy_output`` checked."""
        check_bool(show_progressbar, "show_progressbar", allow_none=True)
        check_bool(lazy_output, "lazy_output", allow_none=True)
        if num_workers is not None:
            num_workers = check_integer(num_workers, "num_workers", minimum=1)
        return self.map(
            function,
            inplace=False,
            output_dtype=np.float64,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
            lazy_output=lazy_output,
            **kw,
        )
