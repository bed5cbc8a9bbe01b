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

from ._checks import check_integer, check_memory, check_number, check_numbers
from ._parallel import max_threads

__all__ = [
    "phase_correlation_shift",
    "frame_shifts",
    "scan_drift_matrix",
    "correct_scan_drift",
    "estimate_velocity",
    "warp_frame",
    "warped_mean",
    "sum_frames",
]

_REFERENCES = ("auto", "first", "previous", "mean")
# pixels per batch of FFTs (each complex work array stays below 64 MiB)
_BATCH_PIXELS = 1 << 22


# ---------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------
def _real(value, name: str) -> np.ndarray:
    """``value`` as a float64 array; ValueError for complex or non-numeric."""
    if value is None or isinstance(value, (str, bytes, dict, set)):
        raise ValueError(f"`{name}` must be a numeric array, got {value!r:.60}.")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):  # ragged
        raise ValueError(
            f"`{name}` must be a numeric array, got {value!r:.60}."
        ) from None
    if np.iscomplexobj(arr):
        raise ValueError(f"`{name}` must be real, got a complex array.")
    try:
        return arr.astype(np.float64, copy=False)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a numeric array, got {value!r:.60}."
        ) from None


def _finite(arr: np.ndarray, name: str) -> np.ndarray:
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    return arr


def _image(value, name: str) -> np.ndarray:
    arr = _real(value, name)
    if arr.ndim != 2:
        raise ValueError(f"`{name}` must be a 2D image, got {arr.ndim} dimension(s).")
    if arr.size == 0:
        raise ValueError(f"`{name}` must not be empty, got shape {arr.shape}.")
    return _finite(arr, name)


def _stack(value, name: str = "stack") -> np.ndarray:
    arr = _real(value, name)
    if arr.ndim != 3:
        raise ValueError(
            f"`{name}` must be 3D (n_frames, ny, nx), got {arr.ndim} dimension(s)."
        )
    if arr.size == 0:
        raise ValueError(f"`{name}` must not be empty, got shape {arr.shape}.")
    return _finite(arr, name)


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


def _vector(value, name: str) -> np.ndarray:
    try:
        return np.array(check_numbers(value, name, 2, "a pair (x, y)"))
    except TypeError as e:  # this module has always raised ValueError
        raise ValueError(str(e)) from None


def _time(value, name: str) -> float:
    try:
        value = check_number(value, name)
    except TypeError as e:
        raise ValueError(str(e)) from None
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative number, got {value!r}.")
    return value


def _per_frame(value, n: int, shape: tuple, name: str) -> np.ndarray:
    """``value`` as ``(n,) + shape`` float array (one shared value broadcast)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a numeric array, got {value!r:.60}."
        ) from None
    if arr.shape == shape:
        arr = np.broadcast_to(arr, (n,) + shape)
    if arr.shape != (n,) + shape:
        raise ValueError(
            f"`{name}` must have shape {(n,) + shape} (one per frame) or {shape}, "
            f"got {arr.shape}."
        )
    return _finite(arr, name)


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


def _parabolic(minus: np.ndarray, centre: np.ndarray, plus: np.ndarray):
    """Vertex offset (in samples, within +-0.5) of a parabola through 3 points."""
    curvature = minus - 2.0 * centre + plus
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = 0.5 * (minus - plus) / curvature
    return np.where(curvature < 0, np.clip(offset, -0.5, 0.5), 0.0)


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
    dy = _parabolic(fine[rows, iy - 1, ix], centre, fine[rows, iy + 1, ix])
    dx = _parabolic(fine[rows, iy, ix - 1], centre, fine[rows, iy, ix + 1])
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
    vy = iy - ny + _parabolic(ac[iy - 1, ix], ac[iy, ix], ac[iy + 1, ix])
    vx = ix - nx + _parabolic(ac[iy, ix - 1], ac[iy, ix], ac[iy, ix + 1])
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


# ---------------------------------------------------------------------------
# drift during the scan
# ---------------------------------------------------------------------------
def scan_drift_matrix(velocity, line_time: float = 0.0, pixel_time: float = 0.0):
    """Matrix ``M`` mapping positions at a frame's start to apparent positions.

    With the drift velocity ``v`` and pixel ``(r, c)`` acquired
    ``r * line_time + c * pixel_time`` after the frame start, an atom at
    ``q`` at the frame start is recorded at ``a`` with
    ``a = q + v * (a_y * line_time + a_x * pixel_time)``, hence ``a = M q``,
    ``M = inv(I - outer(v, (pixel_time, line_time)))``. ``M`` is also the
    affine matrix of :func:`warp_frame` that removes the scan distortion.

    Parameters
    ----------
    velocity : array_like
        ``(vx, vy)`` drift velocity in pixels per time unit.
    line_time, pixel_time : float, default 0.0
        Time between rows and between pixels of a row (same time unit).

    Returns
    -------
    numpy.ndarray
        ``(2, 2)`` matrix acting on column vectors ``(x, y)``.

    Raises
    ------
    ValueError
        For a non-finite velocity, negative times, or a drift so fast that
        the scan does not overtake it (``det(I - outer(...)) <= 0``).

    Examples
    --------
    >>> m = scan_drift_matrix((0.5, 0.0), line_time=0.01)
    >>> m  # x drifts 0.005 px per row: a shear
    array([[1.   , 0.005],
           [0.   , 1.   ]])
    """
    v = _vector(velocity, "velocity")
    line_time = _time(line_time, "line_time")
    pixel_time = _time(pixel_time, "pixel_time")
    inverse = np.eye(2) - np.outer(v, (pixel_time, line_time))
    det = float(np.linalg.det(inverse))
    if not det > 1e-6:
        raise ValueError(
            f"`velocity` {tuple(float(a) for a in v)} is too fast for "
            f"`line_time`={line_time:g}/`pixel_time`={pixel_time:g}: the scan "
            "does not overtake the drift "
            f"(det(I - v (pixel_time, line_time)) = {det:.3g})."
        )
    return np.linalg.inv(inverse)


def correct_scan_drift(
    x,
    y,
    velocity,
    frame_start_time=0.0,
    line_time: float = 0.0,
    pixel_time: float = 0.0,
):
    """Positions free of drift from apparent (recorded) positions.

    Computes ``q = a - v * (t_k + a_y * line_time + a_x * pixel_time)``
    with ``a = (x, y)`` and ``t_k = frame_start_time``: the positions the
    atoms had at time 0 when ``t_k`` is the frame's start measured from time
    0 (e.g. the start of frame 0), or at the frame's own start when
    ``frame_start_time = 0``. It is the exact inverse of the model of
    :func:`scan_drift_matrix` (no iteration needed: the acquisition time is a
    function of the recorded position).

    Parameters
    ----------
    x, y : array_like
        Apparent positions in pixels (same shape; NaN stays NaN).
    velocity : array_like
        ``(vx, vy)`` in pixels per time unit.
    frame_start_time : float or array_like, default 0.0
        Start time of the frame each position was recorded in; broadcast
        against ``x`` (e.g. shape ``(n_frames, 1)`` for ``(n_frames, n)``
        positions).
    line_time, pixel_time : float, default 0.0
        Time between rows and between pixels of a row.

    Returns
    -------
    qx, qy : numpy.ndarray
        Corrected positions, shape of ``x`` broadcast with
        ``frame_start_time``.

    Raises
    ------
    ValueError
        For mismatched shapes, a non-finite velocity or times, or negative
        ``line_time``/``pixel_time``.

    Examples
    --------
    >>> qx, qy = correct_scan_drift([10.0], [100.0], (0.5, -0.2), 2.0, 0.01)
    >>> qx, qy  # recorded 2 + 100 * 0.01 = 3 time units after time 0
    (array([8.5]), array([100.6]))
    """
    x = _real(x, "x")
    y = _real(y, "y")
    if x.shape != y.shape:
        raise ValueError(
            f"`x` and `y` must have the same shape, got x and y of shapes {x.shape} "
            f"and {y.shape}."
        )
    v = _vector(velocity, "velocity")
    line_time = _time(line_time, "line_time")
    pixel_time = _time(pixel_time, "pixel_time")
    t0 = _real(frame_start_time, "frame_start_time")
    if not np.all(np.isfinite(t0)):
        raise ValueError("`frame_start_time` contains NaN or infinite values.")
    try:
        t = t0 + y * line_time + x * pixel_time
    except ValueError:
        raise ValueError(
            f"`frame_start_time` of shape {t0.shape} does not broadcast against "
            f"`x` of shape {x.shape}."
        ) from None
    return x - v[0] * t, y - v[1] * t


def estimate_velocity(
    shifts, frame_times=None, line_time: float = 0.0, pixel_time: float = 0.0
):
    """Drift velocity from frame shifts: least-squares slope with its error.

    Fits ``shifts[:, i] = c_i + w_i * frame_times`` for x and y. The shifts
    measured between frames (:func:`frame_shifts`) are apparent translations
    ``M v t_k`` (see :func:`scan_drift_matrix`); with ``line_time`` or
    ``pixel_time`` given, the slope ``w`` is converted to the true velocity
    ``v = w / (1 + pixel_time * w_x + line_time * w_y)`` (the exact inverse
    of ``w = M v``), and its standard errors propagated to first order
    (through the factor too, which depends on ``w``, with the covariance of
    ``w_x`` and ``w_y`` from the fit residuals).

    Parameters
    ----------
    shifts : array_like
        ``(n_frames, 2)`` shifts ``(dx, dy)`` in pixels, finite,
        ``n_frames >= 2``.
    frame_times : array_like, optional
        ``(n_frames,)`` frame start times, not all equal. Default: the frame
        index (velocity in pixels per frame).
    line_time, pixel_time : float, default 0.0
        Scan timing in the units of ``frame_times``.

    Returns
    -------
    velocity : numpy.ndarray
        ``(vx, vy)`` in pixels per time unit.
    stderr : numpy.ndarray
        Standard errors of ``velocity`` from the fit residuals (NaN for two
        frames, where the line fits exactly). They assume independent errors
        of the shifts (measurement noise); a random-walk drift has
        correlated residuals, and its slope scatters more than this.

    Raises
    ------
    ValueError
        For shapes that do not match, fewer than 2 frames, non-finite values
        or equal frame times.

    Examples
    --------
    >>> t = np.arange(5) * 2.0
    >>> wobble = 0.05 * (-1) ** np.arange(5)  # +-0.05 px measurement error
    >>> shifts = np.column_stack([0.3 * t, -0.1 * t + wobble])
    >>> v, err = estimate_velocity(shifts, t)
    >>> v.round(4), err.round(4)
    (array([ 0.3, -0.1]), array([0.  , 0.01]))
    """
    shifts = _real(shifts, "shifts")
    if shifts.ndim != 2 or shifts.shape[1] != 2:
        raise ValueError(f"`shifts` must have shape (n_frames, 2), got {shifts.shape}.")
    n = shifts.shape[0]
    if n < 2:
        raise ValueError(f"`shifts` needs at least 2 frames, got {n}.")
    _finite(shifts, "shifts")
    if frame_times is None:
        t = np.arange(n, dtype=np.float64)
    else:
        t = _real(frame_times, "frame_times")
        if t.shape != (n,):
            raise ValueError(
                f"`frame_times` must have shape ({n},) like `shifts`, got {t.shape}."
            )
        _finite(t, "frame_times")
    line_time = _time(line_time, "line_time")
    pixel_time = _time(pixel_time, "pixel_time")
    tc = t - t.mean()
    sxx = float(tc @ tc)
    if sxx == 0:
        raise ValueError(
            f"`frame_times` must not all be equal, got {t.tolist()!r:.60}."
        )
    slope = tc @ (shifts - shifts.mean(axis=0)) / sxx
    residual = shifts - shifts.mean(axis=0) - np.outer(tc, slope)
    if n > 2:  # covariance of the slopes (w_x, w_y)
        cov = residual.T @ residual / (n - 2) / sxx
    else:
        cov = np.full((2, 2), np.nan)
    factor = 1.0 + pixel_time * slope[0] + line_time * slope[1]
    if not factor > 1e-6:
        raise ValueError(
            "the measured drift (`shifts`) is too fast for "
            f"`line_time`={line_time:g}/`pixel_time`={pixel_time:g} "
            f"(1 + pixel_time * w_x + line_time * w_y = {factor:.3g})."
        )
    # delta method: derivative of v = w / factor, with factor = 1 + p . w
    jac = np.eye(2) / factor - np.outer(slope, (pixel_time, line_time)) / factor**2
    stderr = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", jac, cov, jac), 0.0))
    return slope / factor, stderr


# ---------------------------------------------------------------------------
# resampling and summing
# ---------------------------------------------------------------------------
def warp_frame(
    image, matrix=None, translation=(0.0, 0.0), order: int = 1, cval: float = np.nan
) -> np.ndarray:
    """Resample a frame onto the reference grid: ``output[p] = image[M p + t]``.

    ``M`` and ``t`` map reference coordinates ``p = (x, y)`` to the frame's
    coordinates (``a = M p + t``), so an atom at ``p`` in the reference
    appears at ``p`` in the output. For a pure drift ``M = I`` and ``t`` is
    the frame's shift (:func:`frame_shifts`).

    Parameters
    ----------
    image : array_like
        2D frame, finite.
    matrix : array_like, optional
        ``(2, 2)`` matrix acting on ``(x, y)``; default identity.
    translation : array_like, default (0, 0)
        ``(tx, ty)`` in pixels.
    order : int, default 1
        Spline order (0-5) of :func:`scipy.ndimage.affine_transform`.
    cval : float, default NaN
        Value of output pixels whose source lies outside the frame's pixel
        centres ``[0, nx - 1] x [0, ny - 1]``.

    Returns
    -------
    numpy.ndarray
        ``float64`` image of the same shape.

    Raises
    ------
    ValueError
        For an image that is not 2D or not finite, a matrix that is not a
        finite 2 x 2, a bad translation or order.

    Examples
    --------
    >>> img = np.zeros((5, 6))
    >>> img[2, 3] = 1.0  # feature at x = 3, y = 2
    >>> out = warp_frame(img, translation=(1.0, 0.0))  # frame moved by +1 in x
    >>> np.argwhere(out == 1.0).tolist()  # back at x = 2 on the reference grid
    [[2, 2]]
    >>> bool(np.isnan(out[:, -1]).all())  # x = 5 would need x = 6 of the frame
    True
    """
    image = _image(image, "image")
    if matrix is None:
        m = np.eye(2)
    else:
        m = _real(matrix, "matrix")
        if m.shape != (2, 2) or not np.all(np.isfinite(m)):
            raise ValueError(
                f"`matrix` must be a finite 2 x 2 array, got {matrix!r:.80}."
            )
    t = _vector(translation, "translation")
    if isinstance(order, bool) or order not in range(6):
        raise ValueError(f"`order` must be an integer from 0 to 5, got {order!r}.")
    try:
        cval = check_number(cval, "cval")  # NaN (the default) and inf allowed
    except TypeError as e:
        raise ValueError(str(e)) from None
    # ndimage indexes (row, col) = (y, x): swap rows and columns of M and t
    return ndimage.affine_transform(
        image,
        m[::-1, ::-1],
        offset=t[::-1],
        output_shape=image.shape,
        output=np.float64,
        order=int(order),
        mode="constant",
        cval=float(cval),
        prefilter=order > 1,
    )


def sum_frames(stack, shifts=None, matrices=None, translations=None, order: int = 1):
    """Aligned mean of an image series, and how many frames cover each pixel.

    Every frame ``k`` is resampled with :func:`warp_frame` onto the grid of
    the reference (frame 0 for :func:`frame_shifts`), either by a pure
    translation ``shifts[k]`` or by the affine map ``a = matrices[k] p +
    translations[k]``; each output pixel is the mean over the frames whose
    source point lies inside them.

    Parameters
    ----------
    stack : array_like
        ``(n_frames, ny, nx)`` image series, finite.
    shifts : array_like, optional
        ``(n_frames, 2)`` shifts ``(dx, dy)``: frame ``k`` is the reference
        shifted by ``shifts[k]``. Not together with ``translations``.
    matrices : array_like, optional
        ``(n_frames, 2, 2)`` or one ``(2, 2)`` matrix for all frames; default
        identity.
    translations : array_like, optional
        ``(n_frames, 2)`` or one ``(2,)``; default zero.
    order : int, default 1
        Spline order of the resampling.

    With none of ``shifts``, ``matrices``, ``translations`` the frames are
    averaged as they are.

    Returns
    -------
    mean : numpy.ndarray
        ``(ny, nx)`` mean over the covering frames, NaN where none covers.
    count : numpy.ndarray of int64
        ``(ny, nx)`` number of frames covering each pixel.

    Raises
    ------
    ValueError
        For a stack that is not 3D or not finite, shifts, matrices or
        translations of the wrong length or shape or with NaN, or both
        ``shifts`` and ``translations``.

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_drift_stack
    >>> stack, truth = make_drift_stack(4, (64, 64), drift=(1.0, 0.0), seed=0)
    >>> mean, count = sum_frames(stack, shifts=truth["shifts"])
    >>> count[0, [0, 60, 61, 62, 63]]  # frame k lacks the last k columns
    array([4, 4, 3, 2, 1])
    """
    stack = _stack(stack)
    n = stack.shape[0]
    if shifts is not None and translations is not None:
        raise ValueError("give either `shifts` or `translations`, not both.")
    if shifts is not None:
        translations = shifts
        name = "shifts"
    else:
        name = "translations"
    if translations is None:
        trans = np.zeros((n, 2))
    else:
        trans = _per_frame(translations, n, (2,), name)
    if matrices is None:
        mats = np.broadcast_to(np.eye(2), (n, 2, 2))
    else:
        mats = _per_frame(matrices, n, (2, 2), "matrices")
    if isinstance(order, bool) or order not in range(6):
        raise ValueError(f"`order` must be an integer from 0 to 5, got {order!r}.")

    return warped_mean(stack, mats, trans, order=order)


def warped_mean(frames, matrices, translations, order: int = 1):
    """Mean of frames resampled with :func:`warp_frame`, one frame at a time.

    The loop behind :func:`sum_frames`, for any iterable of frames (e.g. a
    generator reading a lazy stack frame by frame), so that only one frame
    and the two accumulators are in memory.

    Parameters
    ----------
    frames : iterable of array_like
        2D frames, all of one shape, finite.
    matrices : array_like
        ``(n_frames, 2, 2)`` maps ``a = M p + t`` (see :func:`warp_frame`).
    translations : array_like
        ``(n_frames, 2)``.
    order : int, default 1
        Spline order of the resampling.

    Returns
    -------
    mean, count : numpy.ndarray
        As :func:`sum_frames`.

    Examples
    --------
    >>> frames = [np.ones((4, 4)), 3 * np.ones((4, 4))]
    >>> mean, count = warped_mean(frames, np.tile(np.eye(2), (2, 1, 1)),
    ...                           [(0.0, 0.0), (1.0, 0.0)])
    >>> mean[0].tolist(), count[0].tolist()
    ([2.0, 2.0, 2.0, 1.0], [2, 2, 2, 1])
    """
    for name, value in (
        ("frames", frames),
        ("matrices", matrices),
        ("translations", translations),
    ):
        if isinstance(value, (str, bytes, dict, set)) or not hasattr(value, "__iter__"):
            raise ValueError(
                f"`{name}` must be one entry per frame, got {value!r:.60}."
            )
    if isinstance(order, bool) or order not in range(6):
        raise ValueError(f"`order` must be an integer from 0 to 5, got {order!r}.")
    total = count = None
    for frame, m, t in zip(frames, matrices, translations):
        warped = warp_frame(frame, m, t, order=order, cval=np.nan)
        valid = np.isfinite(warped)
        if total is None:
            total = np.zeros(warped.shape)
            count = np.zeros(warped.shape, dtype=np.int64)
        total += np.where(valid, warped, 0.0)
        count += valid
    if total is None:
        raise ValueError("`frames` is empty.")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
    return mean, count
