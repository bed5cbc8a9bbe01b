"""Drift within and between frames as a geometric map: the scan-drift affine map
of a frame (:func:`scan_drift_matrix`, :func:`correct_scan_drift`,
:func:`estimate_velocity`), frames warped onto the reference
(:func:`warp_frame`) and summed (:func:`sum_frames`, :func:`warped_mean`).
The shifts between frames are measured in :mod:`.alignment`.

Positions are in pixels, x = column, y = row, pixel centres at integers.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import ndimage

from ._checks import check_number, check_numbers

__all__ = [
    "scan_drift_matrix",
    "correct_scan_drift",
    "estimate_velocity",
    "warp_frame",
    "warped_mean",
    "sum_frames",
    "check_order",
]


# ---------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------
def check_order(order):
    """The spline order of a resampling: an integer from 0 to 5.

    Parameters
    ----------
    order : int
        Spline order of :func:`scipy.ndimage.map_coordinates` (0 nearest,
        1 linear, 3 cubic).

    Returns
    -------
    int

    Examples
    --------
    >>> check_order(np.int64(3))
    3
    >>> check_order(1.5)
    Traceback (most recent call last):
    ...
    ValueError: `order` must be an integer from 0 to 5, got 1.5.
    """
    if (
        isinstance(order, (bool, np.bool_))
        or not isinstance(order, numbers.Integral)
        or not 0 <= order <= 5
    ):
        raise ValueError(f"`order` must be an integer from 0 to 5, got {order!r}.")
    return int(order)


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
    order = check_order(order)
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
    order = check_order(order)

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
    order = check_order(order)
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
