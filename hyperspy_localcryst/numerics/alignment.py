"""Drift in image series: measure frame shifts, undo scan distortion, sum frames.

Everything here works on plain numpy arrays in pixel units and never imports
HyperSpy. Positions are ``(x, y)`` = (column, row), pixel centres at integer
coordinates; ``scipy.ndimage`` works in (row, column) order, so matrices and
offsets are swapped once, inside :func:`warp_frame`.

Model
-----
A specimen drifts with the constant velocity ``v`` (pixels per time unit).
Frame ``k`` starts at ``t_k``; its pixel (row ``r``, column ``c``) is acquired
at ``t_k + r * line_time + c * pixel_time``. An atom at ``q`` at the start of
the frame is recorded where the beam met it, at the *apparent* position

``a = q + v * (a_y * line_time + a_x * pixel_time)``, i.e. ``a = M q`` with
``M = inv(I - outer(v, (pixel_time, line_time)))``

(:func:`scan_drift_matrix`; :func:`correct_scan_drift` inverts it
explicitly). With ``q = p + v * t_k`` for the position ``p`` at time 0, frame
``k`` is frame 0 translated by ``M v t_k``: the scan shear is the same in
every frame, so :func:`frame_shifts` measures the *apparent* translations
``M v t_k``; :func:`estimate_velocity` turns their slope back into ``v``.

Workflow
--------
::

    shifts = frame_shifts(stack)
    v, v_err = estimate_velocity(shifts, times, line_time, pixel_time)
    m = scan_drift_matrix(v, line_time, pixel_time)
    mean, count = sum_frames(stack, matrices=m, translations=shifts)

``sum_frames(stack, shifts)`` alone aligns the frames on frame 0 (keeping its
scan shear); with ``matrices=m`` and ``translations=shifts`` the mean shows
the undistorted specimen at time 0 (``output[p] = frame_k[M p + shifts_k]``).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.fft
from scipy import ndimage

from ._checks import check_integer, check_memory
from ._imaging import parabolic_vertex
from ._parallel import max_threads
from .warping import (
    _image,
    _stack,
    sum_frames,
)

__all__ = [
    "phase_correlation_shift",
    "frame_shifts",
]

_REFERENCES = ("auto", "first", "previous", "mean")
# pixels per batch of FFTs (each complex work array stays below 64 MiB)
_BATCH_PIXELS = 1 << 22


def check_upsample(value, shape=None) -> int:
    """``upsample`` as an int >= 1 whose refinement grid fits in memory.

    The refinement samples ``m ≈ 1.5 × upsample`` points per axis: its
    arrays take ``16 m (ny + nx) + 24 m²`` bytes per frame, so an
    ``upsample`` of 10⁶ would need tens of TiB; refused before any
    allocation (ValueError with the estimate) when ``shape`` is given.

    Examples
    --------
    >>> check_upsample(20, (128, 128))
    20
    >>> check_upsample(10**7, (128, 128))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: upsample=10000000 needs ... of memory (...)...
    """
    value = check_integer(value, "upsample", minimum=1, type_error=ValueError)
    if shape is not None:
        m = 2 * (int(np.ceil(0.75 * value)) + 1) + 1
        ny, nx = shape[-2:]
        check_memory(
            16.0 * m * (ny + nx) + 24.0 * m * m,
            "upsample",
            value,
            f"a {m} x {m} refinement grid per frame",
        )
    return value


# ---------------------------------------------------------------------------
# shift measurement
# ---------------------------------------------------------------------------
def _spectra(frames: np.ndarray, window: np.ndarray | None) -> np.ndarray:
    """FFT of frames ``(n, ny, nx)``, mean-subtracted, optionally windowed.

    With a window the weighted mean is subtracted, so that a constant offset
    of the other image does not correlate with the windowed one.
    """
    if window is None:
        centred = frames - frames.mean(axis=(-2, -1), keepdims=True)
    else:
        wmean = (frames * window).sum(axis=(-2, -1), keepdims=True) / window.sum()
        centred = (frames - wmean) * window
    return scipy.fft.fft2(centred, axes=(-2, -1), workers=max_threads())


def _correlation_peaks(
    ref_spectra: np.ndarray,
    spectra: np.ndarray,
    upsample: int,
    radius: float,
):
    """Shifts ``(n, 2)`` (x, y) of ``spectra`` relative to ``ref_spectra``.

    The cross-power spectrum is transformed back and the peak pixel of the
    correlation located (the local maximum nearest zero among those within
    ``_BLOCK * radius`` that are at least ``_PEAK`` of the highest there: on
    a periodic image, the lattice peak nearest zero); then the correlation
    is evaluated by a matrix-multiply DFT on a grid of step ``1 / upsample``
    pixel around that pixel (Guizar-Sicairos et al., Opt. Lett. 33, 156
    (2008)) and the best grid point is refined by a parabola through its
    neighbours.
    """
    n, ny, nx = spectra.shape
    cross = spectra * np.conj(ref_spectra)
    corr = scipy.fft.ifft2(cross, axes=(-2, -1), workers=max_threads()).real
    # the lattice peak nearest zero
    r = int(min(np.ceil(_BLOCK * radius), (min(ny, nx) - 1) // 2))
    offsets = np.arange(-r, r + 1)
    block = corr[:, offsets % ny][:, :, offsets % nx]
    dist2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    disc = dist2 <= (_BLOCK * radius) ** 2
    block = np.where(disc, block, -np.inf)
    # peaks: local maxima at least _PEAK of the highest (not the slope
    # of a peak beyond the block's edge); the nearest zero wins
    top = block.reshape(n, -1).max(axis=1)[:, None, None]
    peaks = (block == ndimage.maximum_filter(block, size=(1, 3, 3))) & (
        block >= top - (1.0 - _PEAK) * np.abs(top)
    )
    peaks[:, ~disc] = False
    rank = np.where(peaks, dist2, np.iinfo(np.int64).max)
    by, bx = np.unravel_index(rank.reshape(n, -1).argmin(axis=1), disc.shape)
    py, px = offsets[by].astype(np.float64), offsets[bx].astype(np.float64)

    # sample grid around the coarse peak: step 1/upsample, half width 0.75 px
    # (plus one step so that the parabola always has both neighbours)
    half = int(np.ceil(0.75 * upsample)) + 1
    steps = np.arange(-half, half + 1) / upsample
    sy = py[:, None] + steps  # (n, m)
    sx = px[:, None] + steps
    fy = scipy.fft.fftfreq(ny)
    fx = scipy.fft.fftfreq(nx)
    ey = np.exp(2j * np.pi * sy[:, :, None] * fy)  # (n, m, ny)
    ex = np.exp(2j * np.pi * fx[:, None] * sx[:, None, :])  # (n, nx, m)
    fine = (ey @ (cross @ ex)).real  # (n, m, m): [frame, y sample, x sample]

    m = steps.size
    inner = fine[:, 1:-1, 1:-1].reshape(n, -1).argmax(axis=1)
    iy, ix = np.unravel_index(inner, (m - 2, m - 2))
    iy, ix = iy + 1, ix + 1
    rows = np.arange(n)
    centre = fine[rows, iy, ix]
    dy = parabolic_vertex(
        fine[rows, iy - 1, ix], centre, fine[rows, iy + 1, ix], maximum_only=True
    )
    dx = parabolic_vertex(
        fine[rows, iy, ix - 1], centre, fine[rows, iy, ix + 1], maximum_only=True
    )
    shift_x = sx[rows, ix] + dx / upsample
    shift_y = sy[rows, iy] + dy / upsample
    return np.column_stack([shift_x, shift_y])


def _shifts_to(
    references: np.ndarray, frames: np.ndarray, upsample: int, offset: int = 0
):
    """Shifts of ``frames`` ``(n, ny, nx)`` relative to ``references``, each
    the lattice-safe pairwise shift of :func:`_pair_shift`.

    ``references`` is one image ``(ny, nx)`` for all frames or one per frame.
    Warns when a shift is ambiguous (see :func:`_pair_shift`).
    """
    shared = references.ndim == 2
    ref_prep = _Prepared(references) if shared else None
    out = np.empty((frames.shape[0], 2))
    ambiguous = []
    for k, frame in enumerate(frames):
        ref = ref_prep if shared else _Prepared(references[k], like=ref_prep)
        if ref_prep is None:
            ref_prep = ref  # one lattice for the whole series
        out[k], sure = _pair_shift(ref, _Prepared(frame, like=ref), upsample)
        if not sure:
            ambiguous.append(k + offset)
    if ambiguous:
        _warn_ambiguous(ambiguous, ref_prep.lattice)
    return out


def _warn_ambiguous(which, lattice):
    warnings.warn(
        f"frame shifts: {len(which)} shift(s) (frames {which[:10]}"
        f"{' ...' if len(which) > 10 else ''}) are more than "
        f"{_SURE:.2f} of the lattice spacing ({lattice:.3g} px): on a periodic "
        "image a shift is known only up to a lattice vector, and the one "
        "nearest zero was taken. Use reference='auto' (steps between "
        "consecutive frames), or check against the atoms' drift "
        "(AtomPositions.estimate_drift).",
        RuntimeWarning,
        stacklevel=4,
    )


# ---------------------------------------------------------------------------
# lattice-safe pairwise shifts
# ---------------------------------------------------------------------------
# a shift nearer zero than this fraction of the lattice spacing is
# unambiguous (a lattice peak one spacing away is then clearly farther)
_SURE = 0.4
# the lattice peak is searched within this fraction of the spacing
_SEARCH = 0.45
# the block searched around it (x _SEARCH) and the height of a peak in it
_BLOCK = 1.7
_PEAK = 0.7
# smallest overlap (fraction of the frame) of the coarse search of
# non-periodic frames
_MIN_OVERLAP = 0.25


def _lattice_vectors(f: np.ndarray):
    """Two shortest non-collinear translations of the image's lattice (px,
    sub-pixel, rows ``(x, y)``), or None when the image is not periodic.

    Peaks of the windowed, high-passed autocorrelation within a quarter of
    the frame, at least 0.2 of its value one pixel from the centre (which
    excludes the white-noise spike at zero) and 0.6 of the highest such
    peak.
    """
    ny, nx = f.shape
    g = f - ndimage.gaussian_filter(f, max(ny, nx) / 16.0)
    g = (g - g.mean()) * np.outer(np.hanning(ny), np.hanning(nx))
    spec = scipy.fft.rfft2(g, (2 * ny, 2 * nx))
    ac = np.fft.fftshift(scipy.fft.irfft2(np.abs(spec) ** 2, (2 * ny, 2 * nx)))
    near = ac[ny, nx - 1] + ac[ny, nx + 1] + ac[ny - 1, nx] + ac[ny + 1, nx]
    if not near > 0:
        return None
    ac = ac * (4.0 / near)
    yy, xx = np.ogrid[-ny:ny, -nx:nx]
    rr = np.hypot(yy, xx)
    peak = (ac == ndimage.maximum_filter(ac, 5)) & (rr > 2.5) & (ac > 0.2)
    peak &= (rr < min(ny, nx) / 4.0) & (yy >= 0)  # one of each +- pair
    iy, ix = np.nonzero(peak)
    if iy.size == 0:
        return None
    keep = ac[iy, ix] >= 0.6 * ac[iy, ix].max()
    iy, ix = iy[keep], ix[keep]
    order = np.argsort(np.hypot(iy - ny, ix - nx))
    iy, ix = iy[order], ix[order]
    vy = (
        iy
        - ny
        + parabolic_vertex(
            ac[iy - 1, ix], ac[iy, ix], ac[iy + 1, ix], maximum_only=True
        )
    )
    vx = (
        ix
        - nx
        + parabolic_vertex(
            ac[iy, ix - 1], ac[iy, ix], ac[iy, ix + 1], maximum_only=True
        )
    )
    vec = np.column_stack([vx, vy])
    first = vec[0]
    cross = np.abs(first[0] * vec[:, 1] - first[1] * vec[:, 0])
    norms = np.hypot(first[0], first[1]) * np.hypot(vec[:, 0], vec[:, 1])
    other = np.flatnonzero(cross > 0.3 * norms)
    if other.size == 0:
        return None
    return np.array([first, vec[other[0]]])


class _Prepared:
    """One frame ready for pairwise shifts: the frame (mean removed, unit
    variance), its lattice (shortest translation ``lattice``, px, or None)
    and, for a frame without a lattice, the spectra of its smoothed copy for
    the coarse search of :func:`_masked_ncc`. ``like``: a frame of the same
    series whose lattice is used (one lattice for all frames)."""

    def __init__(self, frame: np.ndarray, like=None):
        f = np.asarray(frame, dtype=np.float64)
        f = (f - f.mean()) / f.std()
        self.frame = f
        self.vectors = _lattice_vectors(f) if like is None else like.vectors
        v = self.vectors
        self.lattice = None if v is None else float(np.hypot(*v[0]))
        self.low = None
        if v is None:  # the coarse search needs a lattice-free image
            ny, nx = f.shape
            self.pad = (
                scipy.fft.next_fast_len(2 * ny - 1, True),
                scipy.fft.next_fast_len(2 * nx - 1, True),
            )
            low = ndimage.gaussian_filter(f, 1.0)
            self.low = scipy.fft.rfft2(low, self.pad)
            self.low2 = scipy.fft.rfft2(low * low, self.pad)


def _masked_ncc(a: _Prepared, b: _Prepared):
    """Overlap-normalised correlation (Padfield, IEEE Trans. Image Process.
    21, 2706 (2012)) of two non-periodic frames for every integer shift with
    an overlap of at least ``_MIN_OVERLAP``: the best integer shift (x, y).
    Unlike a circular correlation it does not favour small shifts, and the
    overlap weight sqrt(overlap) keeps small overlaps from winning by noise.
    """
    ny, nx = a.frame.shape
    pad = a.pad
    ones = scipy.fft.rfft2(np.ones((ny, nx)), pad)

    def inv(x):
        return scipy.fft.irfft2(x, pad, workers=max_threads())

    sy = np.rint(scipy.fft.fftfreq(pad[0], 1.0 / pad[0])).astype(int)
    sx = np.rint(scipy.fft.fftfreq(pad[1], 1.0 / pad[1])).astype(int)
    n = np.outer(np.clip(ny - np.abs(sy), 0, None), np.clip(nx - np.abs(sx), 0, None))
    n = n.astype(np.float64)
    valid = n >= _MIN_OVERLAP * ny * nx
    safe = np.where(valid, n, 1.0)
    cross = inv(np.conj(a.low) * b.low)
    sa, sb = inv(np.conj(a.low) * ones), inv(np.conj(ones) * b.low)
    sa2, sb2 = inv(np.conj(a.low2) * ones), inv(np.conj(ones) * b.low2)
    with np.errstate(all="ignore"):
        va = np.clip(sa2 - sa**2 / safe, 0, None)
        vb = np.clip(sb2 - sb**2 / safe, 0, None)
        r = (cross - sa * sb / safe) / np.sqrt(va * vb) * np.sqrt(safe)
    r = np.where(valid & np.isfinite(r), r, -np.inf)
    iy, ix = np.unravel_index(np.argmax(r), r.shape)
    return np.array([sx[ix], sy[iy]], dtype=np.float64)


def _overlap(a: np.ndarray, b: np.ndarray, shift):
    """Crops of ``a`` and ``b`` that overlap when ``b`` is ``a`` moved by the
    integer ``shift`` (x, y)."""
    ny, nx = a.shape
    cx, cy = (int(v) for v in shift)
    ya, yb = slice(max(0, -cy), ny - max(0, cy)), slice(max(0, cy), ny + min(0, cy))
    xa, xb = slice(max(0, -cx), nx - max(0, cx)), slice(max(0, cx), nx + min(0, cx))
    return a[ya, xa], b[yb, xb]


def _fast_below(n: int) -> int:
    """The largest 5-smooth number <= ``n`` and >= 0.9 ``n`` (else ``n``)."""
    for m in range(n, int(0.9 * n) - 1, -1):
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
    return n


def _refine(a: np.ndarray, b: np.ndarray, start, radius: float, upsample: int, smooth):
    """Sub-pixel shift: the highest correlation peak within ``radius`` of the
    integer shift ``start``, on the overlapping crops (no wrap-around), both
    smoothed by a Gaussian of ``smooth`` px: a matched filter against shot
    noise (the same symmetric filter on both images moves no peak; without
    it a low-dose periodic pair has peaks of nearly equal height at every
    lattice vector)."""
    ca, cb = _overlap(a, b, start)
    # trimmed to sizes with fast FFTs (at most a few rows and columns)
    ny, nx = (_fast_below(v) for v in ca.shape)
    # smoothed before the window (smoothing the windowed, circular images in
    # the cross-power spectrum instead biased an integer shift by 0.013 px)
    ca = ndimage.gaussian_filter(ca[:ny, :nx], smooth)
    cb = ndimage.gaussian_filter(cb[:ny, :nx], smooth)
    window = np.outer(np.hanning(ny), np.hanning(nx))
    ref = _spectra(ca[None], window)
    img = _spectra(cb[None], None)
    return start + _correlation_peaks(ref, img, upsample, radius)[0]


def _pair_shift(a: _Prepared, b: _Prepared, upsample: int, guess=None):
    """Shift of frame ``b`` relative to frame ``a``: ``(shift, sure)``.

    Periodic frames: the correlation has a peak at every lattice vector and,
    in a circular correlation of finite fields, they are of nearly equal
    height, so the highest is often one far away (the old failure). The peak
    is searched only within ``_SEARCH`` lattice spacings of ``guess``
    (default zero: the lattice peak nearest zero), on frames smoothed by a
    matched Gaussian. ``sure`` is False when the shift found is more than
    ``_SURE`` of the spacing from ``guess`` (a larger true shift cannot be
    excluded). Non-periodic frames: the coarse shift of the overlap-
    normalised correlation (:func:`_masked_ncc`), then refined; always sure.
    """
    if a.vectors is None or b.vectors is None:
        coarse = _masked_ncc(a, b) if a.low is not None and b.low is not None else 0
        return _refine(a.frame, b.frame, np.zeros(2) + coarse, 3.0, upsample, 1.0), True
    lattice = a.lattice
    start = np.zeros(2) if guess is None else np.rint(guess)
    radius, smooth = max(1.5, _SEARCH * lattice), max(1.0, lattice / 8.0)
    shift = _refine(a.frame, b.frame, start, radius, upsample, smooth)
    ref = np.zeros(2) if guess is None else np.asarray(guess, float)
    return shift, bool(np.hypot(*(shift - ref)) <= _SURE * lattice)


def _solve_graph(n: int, edges: list, tol: float = 1.0):
    """Shifts of ``n`` frames (frame 0 fixed) from pairwise measurements.

    ``edges``: ``(i, j, shift_ij)``. Least squares; while a pair disagrees
    with the solution by more than ``tol`` px (closure broken, e.g.
    shift(0->2) != shift(0->1) + shift(1->2)), the worst pair is dropped if
    every frame stays connected. Returns ``(shifts, dropped)``.
    """
    edges = list(edges)
    dropped = []
    while True:
        rows = np.zeros((len(edges), n))
        for e, (i, j, _) in enumerate(edges):
            rows[e, j] += 1.0
            rows[e, i] -= 1.0
        d = np.array([sh for _, _, sh in edges])
        sol = np.linalg.lstsq(rows[:, 1:], d, rcond=None)[0]
        shifts = np.vstack([np.zeros((1, 2)), sol])
        res = np.hypot(*(rows @ shifts - d).T)
        # worst first; a tie (frame 0 joined by two pairs only: least squares
        # splits the error of a broken closure evenly between them, and
        # rounding would decide) leaves out the pair spanning more frames,
        # a closure check rather than a step of the chain
        span = np.array([abs(j - i) for i, j, _ in edges])
        for e in np.lexsort((-span, -np.round(res, 9))):
            if res[e] <= tol:
                return shifts, dropped
            rest = edges[:e] + edges[e + 1 :]
            if _connected(n, rest):
                dropped.append((edges[e][0], edges[e][1], float(res[e])))
                edges = rest
                break
        else:
            return shifts, dropped


def _connected(n: int, edges: list) -> bool:
    seen, todo, nb = {0}, [0], {}
    for i, j, _ in edges:
        nb.setdefault(i, []).append(j)
        nb.setdefault(j, []).append(i)
    while todo:
        for j in nb.get(todo.pop(), []):
            if j not in seen:
                seen.add(j)
                todo.append(j)
    return len(seen) == n


def _auto_shifts(frames, upsample: int):
    """Shifts of an iterable of frames relative to the first
    (``reference="auto"`` of :func:`frame_shifts`).

    Every frame is measured against the previous one (small steps: the
    lattice peak nearest zero is the right one while the drift between two
    frames stays below ``_SURE`` of a lattice spacing), and, as closure
    checks, against the frame before that and against the first, each
    searched around the shift the steps predict, as long as that shift is
    also unambiguous. The pairs are combined by least squares
    (:func:`_solve_graph`), pairs that break the closure left out. Only the
    first and the last two frames are in memory. RuntimeWarnings: a step
    longer than ``_SURE`` of the spacing (ambiguous), pairs left out.
    """
    first, recent, edges, chain = None, [], [], [np.zeros(2)]
    ambiguous = []
    n = 0
    for k, frame in enumerate(frames):
        prep = _Prepared(frame, like=first)
        n = k + 1
        if first is None:
            first = prep
            recent = [prep]
            continue
        step, sure = _pair_shift(recent[-1], prep, upsample)
        if not sure:
            ambiguous.append(k)
        edges.append((k - 1, k, step))
        chain.append(chain[-1] + step)
        lattice = prep.lattice
        checks = []
        if k >= 2 and len(recent) == 2:
            checks.append((k - 2, recent[0]))
        if k >= 3:
            checks.append((0, first))
        for i, p in checks:
            guess = chain[k] - chain[i]
            if lattice is not None and np.hypot(*guess) > _SURE * lattice:
                continue  # as ambiguous as the step; no independent check
            shift, _ = _pair_shift(p, prep, upsample, guess=guess if lattice else None)
            edges.append((i, k, shift))
        recent = (recent + [prep])[-2:]
    if n <= 1:  # no frame, or one: nothing to measure
        return np.zeros((n, 2))
    shifts, dropped = _solve_graph(n, edges)
    if dropped:
        pairs = ", ".join(f"{i}->{j} ({r:.2f} px)" for i, j, r in dropped[:6])
        warnings.warn(
            f"frame shifts: {len(dropped)} pair(s) of frames disagreed with the "
            f"others (closure broken) and were left out: {pairs}.",
            RuntimeWarning,
            stacklevel=3,
        )
    if ambiguous:
        _warn_ambiguous(ambiguous, first.lattice)
    return shifts


def phase_correlation_shift(reference, image, upsample: int = 20):
    """Sub-pixel translation of ``image`` relative to ``reference``.

    ``image`` is approximately ``reference`` shifted by ``(dx, dy)``: a
    feature at ``(x, y)`` in ``reference`` is at ``(x + dx, y + dy)`` in
    ``image``. Both images are smoothed by a Gaussian matched to the
    lattice (spacing / 8, at least 1 px; a matched filter against shot
    noise); the reference, less its weighted mean, is multiplied by a 2D
    Hann window, the image has its mean subtracted; their cross-correlation
    (by FFT) is located to one pixel and refined by an upsampled
    matrix-multiply DFT on a grid of step ``1 / upsample`` pixel within
    +-0.75 pixel of that peak (Guizar-Sicairos, Thurman & Fienup, Opt. Lett.
    33, 156 (2008)), and finally by a parabola through the best grid point
    and its neighbours.

    Periodic images (a lattice found in the autocorrelation): the
    correlation has a peak at every lattice vector and, for a circular
    correlation of finite fields, of nearly equal height, so that on a
    low-dose image the highest was often several lattice vectors away (a
    real ABF series was off by 48 px). Only the pixels within 0.45 lattice
    spacings of zero are searched: the lattice peak nearest zero. A shift
    found beyond 0.4 spacings is ambiguous (a larger true shift by a lattice
    vector cannot be told from it on a periodic image) and gives a
    ``RuntimeWarning``; measure long series with ``frame_shifts`` (steps
    between consecutive frames). Non-periodic images: the coarse shift is
    the maximum of the overlap-normalised correlation (any shift leaving a
    quarter of the frame), then refined the same way.

    The cross-power spectrum is not normalised to unit magnitude (pure
    *phase* correlation): whitening gives the shot noise at high frequencies
    the weight of the signal.

    Parameters
    ----------
    reference, image : array_like
        2D images of the same shape, finite, not constant.
    upsample : int, default 20
        Upsampling factor of the refinement (1: parabolic fit on the pixel
        grid only).

    Returns
    -------
    dx, dy : float
        Shift in pixels along x (columns) and y (rows).

    Raises
    ------
    ValueError
        For images that are not 2D, of different shapes, not finite or
        constant, or ``upsample < 1``.

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_drift_stack
    >>> stack, truth = make_drift_stack(3, (128, 128), noise=None, seed=0)
    >>> dx, dy = phase_correlation_shift(stack[0], stack[2])
    >>> truth["shifts"][2]
    array([ 0.74, -0.46])
    >>> bool(abs(dx - 0.74) < 0.05 and abs(dy + 0.46) < 0.05)
    True
    """
    reference = _image(reference, "reference")
    image = _image(image, "image")
    if image.shape != reference.shape:
        raise ValueError(
            f"`image` shape {image.shape} differs from `reference` shape "
            f"{reference.shape}."
        )
    upsample = check_upsample(upsample, image.shape)
    for name, arr in (("reference", reference), ("image", image)):
        if np.ptp(arr) == 0:
            raise ValueError(f"`{name}` is constant: no shift can be measured.")
    dx, dy = _shifts_to(reference, image[None], upsample)[0]
    return float(dx), float(dy)


def frame_shifts(stack, reference: str = "auto", upsample: int = 20) -> np.ndarray:
    """Translation of every frame of a series relative to frame 0.

    Parameters
    ----------
    stack : array_like
        ``(n_frames, ny, nx)`` image series, finite.
    reference : {"auto", "first", "previous", "mean"}, default "auto"
        ``"auto"``: each frame against the previous one (steps of less than
        0.4 lattice spacings are unambiguous on a periodic image, however
        far the series drifts in total), checked against the frame before
        that and against frame 0 wherever the shift the steps predict is
        itself unambiguous; the pairs are combined by least squares, and a
        pair that breaks the closure (shift(0->2) != shift(0->1) +
        shift(1->2) by more than 1 px) is left out with a
        ``RuntimeWarning``. ``"first"``: each frame against frame 0 (on a
        periodic image only right while the drift stays below 0.4 lattice
        spacings). ``"previous"``: the steps accumulated, without checks.
        ``"mean"``: the ``"auto"`` shifts, then every frame measured again
        against the aligned mean (:func:`sum_frames`, less noisy), near its
        first shift. Steps longer than 0.4 spacings are ambiguous and give a
        ``RuntimeWarning`` (the lattice peak nearest zero is taken).
    upsample : int, default 20
        See :func:`phase_correlation_shift`.

    Returns
    -------
    numpy.ndarray
        ``(n_frames, 2)`` shifts ``(dx, dy)``; frame ``k`` is approximately
        frame 0 shifted by ``shifts[k]``, and ``shifts[0] == (0, 0)``.

    Raises
    ------
    ValueError
        For a stack that is not 3D or not finite, a frame that is constant,
        an unknown ``reference`` or ``upsample < 1``.

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_drift_stack
    >>> stack, truth = make_drift_stack(6, (128, 128), seed=1)
    >>> shifts = frame_shifts(stack, reference="previous")
    >>> shifts.shape
    (6, 2)
    >>> bool(np.abs(shifts - truth["shifts"]).max() < 0.05)
    True
    """
    stack = _stack(stack)
    if reference not in _REFERENCES:
        raise ValueError(
            f"`reference` must be one of {_REFERENCES}, got {reference!r:.60}."
        )
    upsample = check_upsample(upsample, stack.shape)
    flat = stack.reshape(stack.shape[0], -1)
    constant = np.flatnonzero(flat.max(axis=1) == flat.min(axis=1))
    if constant.size:
        raise ValueError(
            f"`stack` frame {int(constant[0])} is constant: no shift can be measured."
        )
    n = stack.shape[0]
    shifts = np.zeros((n, 2))
    if n == 1:
        return shifts
    if reference == "auto":
        return _auto_shifts(stack, upsample)
    if reference == "previous":
        shifts[1:] = np.cumsum(_shifts_to(stack[:-1], stack[1:], upsample, 1), axis=0)
        return shifts
    if reference == "first":
        shifts[1:] = _shifts_to(stack[0], stack[1:], upsample, 1)
        return shifts
    shifts = _auto_shifts(stack, upsample)  # "mean"
    mean, _ = sum_frames(stack, shifts=shifts)
    mean = np.where(np.isfinite(mean), mean, np.nanmean(mean))
    ref = _Prepared(mean)
    to_mean = np.array(
        [
            _pair_shift(ref, _Prepared(f, like=ref), upsample, s)[0]
            for f, s in zip(stack, shifts)
        ]
    )
    return to_mean - to_mean[0]
