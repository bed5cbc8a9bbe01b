"""One frame, found and refined with every default step: the algorithm the signal
methods (:meth:`~hyperspy_localcryst.signals.atomic_image.AtomicImage.find_atoms`,
``refine_atoms``) apply to each frame of an image or a stack.

- :func:`find_frame`: the frame's noise model and single-pixel outliers (from
  the frame itself, remembered for the last few frames by content), the
  contrast (bright or dark columns), the finder, the significance test, the
  candidates centred outside the frame, the smoothed ``peak`` at each atom
  and, when asked, the sublattice labels by intensity;
- :func:`refine_frame`: the Gaussian (or centre-of-mass) refinement of given
  seeds on the cleaned frame, dark columns as dips.

Positions are in pixels, x = column, y = row, pixel centres at integers.
"""

from __future__ import annotations

import threading
import zlib

import numpy as np

from . import _checks, centroids, detection, finding, refinement
from ._checks import check_n_sublattices
from ._imaging import gain_exponent, gaussian_at
from .noise import estimate_noise
from .refinement import default_radius
from .separation import ESTIMATE_PX, central_crop, central_separation

__all__ = ["find_frame", "refine_frame"]


def _target_half_width(sep_px):
    """Half the side of a target cut at a position (as ``auto_target``)."""
    return max(2, int(round(0.4 * sep_px)))


def _check_target_position(spec, half, nx, ny):
    """A ``target`` position must leave a whole target inside the image."""
    _, xp, yp, label = spec
    cx, cy = int(round(xp)), int(round(yp))
    if half <= cx < nx - half and half <= cy < ny - half:
        return
    outside = not (0 <= cx < nx and 0 <= cy < ny)
    where = "outside the image" if outside else f"within {half} px of the image's edges"
    size = f"a target of {2 * half + 1} x {2 * half + 1} px" if half else "a target"
    margin = f", at least {half} px from its edges" if half else ""
    raise ValueError(
        f"`target` {label} lies {where} (pixel x={xp:.4g}, y={yp:.4g}): {size} "
        f"around it does not fit inside the image ({nx} x {ny} px); give the "
        f"calibrated position of an atom of this image{margin}."
    )


def _unit(img):
    """The frame divided by a power of two (exact) to order 1, so that the
    noise variances of images in any units neither overflow nor underflow."""
    return np.ldexp(img, -gain_exponent(img))


#: The contrast is decided on a central crop of this many separations on a
#: side (at least 512 px, at most ``ESTIMATE_PX``): some 500 columns.
CONTRAST_SEPARATIONS = 24


#: The noise model is fitted to a mosaic of ``NOISE_TILES`` x ``NOISE_TILES``
#: tiles of ``NOISE_TILE_PX`` pixels spread over the frame (every intensity
#: level the frame has, 262,144 pixels; the tiles' seams are 1 % of them and
#: the model's binned medians ignore them).
NOISE_TILES = 4


NOISE_TILE_PX = 128


def _contrast_crop(img, sep_px):
    side = min(ESTIMATE_PX, max(512, CONTRAST_SEPARATIONS * sep_px))
    return central_crop(img, side)


def _noise_sample(img):
    """``img`` when it has at most ``(NOISE_TILES * NOISE_TILE_PX)²`` pixels,
    else the mosaic of tiles spread evenly over it."""
    ny, nx = img.shape
    t, n = NOISE_TILE_PX, NOISE_TILES
    if ny * nx <= (n * t) ** 2 or ny < n * t or nx < n * t:
        return img
    ys = np.linspace(0, ny - t, n).astype(int)
    xs = np.linspace(0, nx - t, n).astype(int)
    return np.block([[img[a : a + t, b : b + t] for b in xs] for a in ys])


#: The last few frames cleaned (key: content digest and options), so that
#: find_atoms (separation, contrast, finding) and refine_atoms on the same
#: image clean it and model its noise once: (noise model, outlier rows,
#: columns, replacement values).
_CLEAN_MEMO = {}


_CLEAN_MEMO_SIZE = 4


_CLEAN_LOCK = threading.Lock()


def _digest(img):
    """Shape, type and two checksums of the pixels (20 ms for 4096² float32;
    a cryptographic hash takes 3 times as long)."""
    a = memoryview(np.ascontiguousarray(img)).cast("B")
    return (img.shape, img.dtype.str, zlib.crc32(a), zlib.adler32(a))


def _cleaned(img, replace_outliers):
    """The frame with single-pixel outliers replaced, the noise model of
    ``_unit`` of it (from tiles spread over it, ``_noise_sample``) and the number
    of outliers. Remembered for the last few frames (by content)."""
    key = (_digest(img), bool(replace_outliers))
    with _CLEAN_LOCK:
        hit = _CLEAN_MEMO.get(key)
    if hit is None:
        hit = _clean(img, replace_outliers)
        with _CLEAN_LOCK:
            _CLEAN_MEMO[key] = hit
            while len(_CLEAN_MEMO) > _CLEAN_MEMO_SIZE:
                _CLEAN_MEMO.pop(next(iter(_CLEAN_MEMO)))
    noise, iy, ix, values = hit
    if len(iy):
        img = img.astype(values.dtype, copy=True)
        img[iy, ix] = values
    return img, noise, len(iy)


def _clean(img, replace_outliers):
    unit = _unit(img)
    noise = estimate_noise(_noise_sample(unit))
    none = np.zeros(0, np.int64)
    if not replace_outliers:
        return noise, none, none, img[none, none]
    mask = detection.find_outliers(unit, noise)
    if not mask.any():
        return noise, none, none, img[none, none]
    iy, ix = np.nonzero(mask)
    clean = detection.replace_outliers(img, mask)
    # the spikes may have set the scale of _unit: the model of the clean frame
    return estimate_noise(_noise_sample(_unit(clean))), iy, ix, clean[iy, ix]


def _auto_contrast(img, sep_px, replace_outliers=True):
    """``(contrast, info)`` of one frame (see ``detection.decide_contrast``)."""
    img = _checks.check_image(img)
    img, noise, _ = _cleaned(img, replace_outliers)
    contrast, info = detection.decide_contrast(
        _contrast_crop(_unit(img), sep_px),
        detection.column_sigma(sep_px),
        noise,
        sep_px,
    )
    return contrast, info


def find_frame(
    frame,
    sep_px,
    method,
    targets,
    threshold,
    n_sublattices,
    min_area,
    max_area,
    min_votes,
    contrast="bright",
    min_significance=None,
    replace_outliers=False,
):
    """Find the atoms of one frame with every default step.

    The frame's noise model and single-pixel outliers (replaced by their
    3 x 3 median when ``replace_outliers``), the contrast (``"auto"``:
    :func:`.detection.decide_contrast`), the finder
    (:func:`.finding.find_atoms`), the significance of each candidate
    (:func:`.detection.significance`), the candidates centred outside the
    frame (:func:`.detection.centred_outside`), the smoothed ``peak`` at each
    atom and, with ``n_sublattices`` > 1, labels by intensity.

    Parameters
    ----------
    frame : array_like
        The 2D frame.
    sep_px : float or None
        Smallest column separation in pixels (None: estimated on the frame,
        :func:`.separation.central_separation`).
    method, targets, threshold, min_area, max_area, min_votes
        As :func:`.finding.find_atoms` (``targets``: a list of arrays or of
        ``(name, x, y, label)`` pixel positions, or None).
    n_sublattices : int
        Labels by peak intensity (1: all 0).
    contrast : {"bright", "dark", "auto"}
        Columns as peaks or dips.
    min_significance : "auto", float or None
        Candidates below this many sigma are dropped (``"auto"``:
        :func:`.detection.significance_threshold` of the frame's size).
    replace_outliers : bool
        Replace single-pixel outliers first.

    Returns
    -------
    dict
        Per-atom arrays ``x``, ``y`` (pixels), ``score``, ``peak``,
        ``sublattice``, ``significance`` (and ``votes`` for a consensus);
        ``separation``, the separation used (pixels, one number); and
        ``detection``, a summary (outliers replaced, candidates below the
        threshold and their best significance, the threshold, those centred
        outside, the contrast used).

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_lattice_image
    >>> img, truth = make_lattice_image((128, 128), spacing=16, sigma=2.5, seed=0)
    >>> cols = find_frame(img, None, "log", None, "auto", 1, 0.25, 2.5, None)
    >>> len(cols["x"]) == len(truth["x"]), round(cols["separation"])
    (True, 16)
    """
    raw = _checks.check_image(_frame_array(frame))
    raw, noise, n_outliers = _cleaned(raw, replace_outliers)
    estimated = sep_px is None
    if estimated:
        sep_px = central_separation(raw)
    if contrast == "auto":
        contrast = _auto_contrast(raw, sep_px, False)[0]
    img = detection.oriented(raw, contrast)
    if estimated and contrast == "dark":
        # the raw image's maxima were the gaps between the dark columns
        sep_px = central_separation(img)
    if targets is not None:
        half = _target_half_width(sep_px)
        for t in targets:
            if isinstance(t, tuple):
                _check_target_position(t, half, img.shape[1], img.shape[0])
        flip = raw.min() + raw.max()
        targets = [
            finding.extract_target(img, t[1], t[2], half)
            if isinstance(t, tuple)
            else (t if contrast == "bright" else flip - np.asarray(t, float))
            for t in targets
        ]
    kwargs = {}
    if "template" in ([method] if isinstance(method, str) else method):
        kwargs = {"target": targets, "min_area": min_area, "max_area": max_area}
    found = finding.find_atoms(
        img, sep_px, method=method, threshold=threshold, min_votes=min_votes, **kwargs
    )
    sig = detection.significance(
        _unit(raw),
        found["x"],
        found["y"],
        detection.column_sigma(sep_px),
        noise,
        contrast,
    )
    if isinstance(min_significance, str):
        thr = detection.significance_threshold(raw.size)
    else:
        thr = 0.0 if min_significance is None else min_significance
    keep = sig >= thr if min_significance is not None else np.ones(len(sig), bool)
    weak = sig[~keep]
    # a maximum on the outermost pixels of a column centred beyond the edge
    # is not a column of the image: a Gaussian fit of each candidate within
    # half a separation of the edge says where its centre lies
    outside = detection.centred_outside(img, found["x"], found["y"], sep_px)
    n_outside = int(np.sum(outside & keep))
    keep &= ~outside
    found = {k: np.asarray(v)[keep] for k, v in found.items()}
    sig = sig[keep]
    x, y = found["x"], found["y"]
    ix = np.clip(np.round(x).astype(int), 0, raw.shape[1] - 1)
    iy = np.clip(np.round(y).astype(int), 0, raw.shape[0] - 1)
    # the smoothed image at the atoms only (not a second whole-image filter)
    peak = gaussian_at(raw, iy, ix, max(sep_px / 10, 0.5))
    if targets is not None and len(targets) > 1:
        label = found["label"].astype(float)
    elif n_sublattices > 1 and len(x):  # none left: "No atoms found" instead
        check_n_sublattices(n_sublattices, len(x), "atoms found")
        depth = peak if contrast == "bright" else -peak
        label = finding.label_by_intensity(depth, n_sublattices).astype(float)
    else:
        label = np.zeros(len(x))
    score = found.get("score", found.get("votes", np.ones(len(x))))
    cols = {"x": x, "y": y, "score": score, "peak": peak, "sublattice": label}
    if "votes" in found:
        cols["votes"] = found["votes"]
    cols["significance"] = sig
    cols["separation"] = float(sep_px)  # one number for the frame
    cols["detection"] = {
        "n_outliers": n_outliers,
        "n_below": int(len(weak)),
        "n_outside": n_outside,
        "best_below": float(weak.max()) if len(weak) else np.nan,
        "threshold": float(thr),
        "contrast": contrast,
    }
    return cols


def _frame_problem(img):
    """Why a frame cannot be correlated or averaged (None if it can)."""
    if not np.all(np.isfinite(img)):
        return "it has NaN or infinite pixels"
    if np.ptp(img) == 0:
        return "it is constant"
    return None


def _frame_array(frame):
    img = np.asarray(frame, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"A frame must be 2D, got shape {img.shape}.")
    return img


def refine_frame(
    frame,
    seeds,
    radius_px,
    method,
    fit_kwargs,
    contrast="bright",
    replace_outliers=False,
):
    """Refine the seeds of one frame: Gaussian fits (or centres of mass).

    Parameters
    ----------
    frame : array_like
        The 2D frame.
    seeds : array_like, shape (n, 2)
        Starting positions ``(x, y)`` in pixels.
    radius_px : float or None
        Window radius in pixels (None: :func:`.refinement.default_radius`,
        grown for wide columns).
    method : {"gaussian", "com"}
        :func:`.refinement.refine_gaussians` or
        :func:`.centroids.centre_of_mass`.
    fit_kwargs : dict
        Passed to :func:`.refinement.refine_gaussians`.
    contrast : {"bright", "dark"}
        Dark columns are fitted as dips (least squares on the negated frame).
    replace_outliers : bool
        Fit the frame with its single-pixel outliers replaced.

    Returns
    -------
    dict
        The columns of :func:`.refinement.refine_gaussians` (``x``, ``y``
        only for ``"com"``), in pixels, and ``n_outliers``; empty for no
        seeds.

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_lattice_image
    >>> img, truth = make_lattice_image((96, 96), spacing=16, sigma=2.5, seed=0)
    >>> seeds = np.column_stack([truth["x"], truth["y"]]) + 0.3
    >>> out = refine_frame(img, seeds, None, "gaussian", {})
    >>> bool(np.median(np.abs(out["x"] - truth["x"])) < 0.1)
    True
    """
    img = _frame_array(frame)
    seeds = np.asarray(seeds, dtype=float).reshape(-1, 2)
    if len(seeds) == 0:
        return {}
    n_outliers = 0
    if replace_outliers and _frame_problem(img) is None:
        img, _, n_outliers = _cleaned(img, True)
    if contrast == "dark":
        # dips b - A g: least squares on the negated image
        img = -img
        fit_kwargs = dict(fit_kwargs, weights="uniform")
    xp, yp = seeds[:, 0], seeds[:, 1]
    r_px = radius_px if radius_px is not None else default_radius(xp, yp)
    if method == "com":
        fx, fy = centroids.centre_of_mass(img, xp, yp, r_px)
        out = {"x": fx, "y": fy}
    else:
        # the default window (half the column distance) grows for wide columns
        widen = radius_px is None
        out = refinement.refine_gaussians(img, xp, yp, r_px, widen=widen, **fit_kwargs)
        if contrast == "dark":
            out["background"] = -out["background"]
    out["n_outliers"] = n_outliers
    return out
