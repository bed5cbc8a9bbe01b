"""Scan distortion of one image from its own lattice.

A STEM image is scanned row by row: x (the fast-scan direction) is sampled in
microseconds, y (the slow one) over seconds, so specimen drift during the
frame adds to every row an x offset and a y offset that grow with its row.
A steady drift maps a true position ``p`` to ``D p`` with

``D = [[1, s], [0, m]]`` acting on ``(x, y)``:

``s`` the shear (x shift per unit of y) and ``m`` the slow-scan scale. A
lattice whose true cell is known (a square or a rectangle: lengths ratio and
angle) fixes both: :func:`scan_distortion` finds ``s`` and ``m`` for which
``D^-1`` turns the measured lattice vectors into a cell with that ratio and
angle, and :func:`correct_positions` applies ``D^-1``. The fast-scan scale
is the calibration (``AtomicImage.calibrate``); it is not changed here.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from ._checks import check_array, check_number, check_positive

__all__ = ["scan_distortion", "correct_positions", "drift_velocity"]


def _cell(v):
    a, b = np.hypot(*v[0]), np.hypot(*v[1])
    cos = float(v[0] @ v[1] / (a * b))
    return a, b, np.degrees(np.arccos(np.clip(cos, -1, 1)))


def scan_distortion(vectors, ratio=1.0, angle=90.0):
    """Shear and slow-scan scale that make a measured cell the known one.

    Parameters
    ----------
    vectors : array_like, shape (2, 2)
        Measured lattice vectors (rows a, b; x, y in one unit per axis).
    ratio : float
        Known ``|b| / |a|`` (1 for a square or hexagonal cell).
    angle : float
        Known angle between ``a`` and ``b``, degrees (90 for a square or a
        rectangle, 60 or 120 for a hexagonal cell).

    Returns
    -------
    dict
        ``shear`` (s), ``slow_scale`` (m), ``matrix`` (D, measured = D true),
        ``correction`` (D^-1), ``vectors`` (the corrected a, b), ``a``,
        ``b``, ``gamma`` of the corrected cell, and ``measured`` (a, b,
        gamma before).

    Examples
    --------
    A square cell (10 px) turned by 20 degrees, sheared by 0.03 and
    compressed by 4 % along the slow-scan direction:

    >>> t = np.deg2rad(20)
    >>> true = 10 * np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    >>> D = np.array([[1, 0.03], [0, 0.96]])
    >>> r = scan_distortion(true @ D.T)
    >>> round(r["shear"], 6), round(r["slow_scale"], 6)
    (0.03, 0.96)
    """
    v = check_array(vectors, "vectors", ndim=2)
    if v.shape != (2, 2) or not np.all(np.isfinite(v)):
        raise ValueError(f"`vectors` must be two finite vectors (2, 2), got {v.shape}.")
    if abs(np.linalg.det(v)) < 1e-9 * np.sum(v**2):
        raise ValueError("The two `vectors` are collinear.")
    ratio = check_positive(ratio, "ratio", "a length ratio |b| / |a|")
    angle = check_number(angle, "angle", "an angle in degrees")
    if not 0 < angle < 180:
        raise ValueError(f"`angle` must be between 0 and 180 deg, got {angle}.")
    cos_t = np.cos(np.deg2rad(angle))

    def residual(q):
        s, m = q
        c = np.linalg.inv(np.array([[1.0, s], [0.0, m]]))
        w = v @ c.T
        a, b = np.hypot(*w[0]), np.hypot(*w[1])
        return [b / a - ratio, w[0] @ w[1] / (a * b) - cos_t]

    best = None
    for m0 in (1.0, 0.8, 1.25):  # two equations may have a second root
        fit = least_squares(residual, [0.0, m0], bounds=([-1, 0.2], [1, 5]))
        if best is None or (
            fit.cost < best.cost - 1e-18
            or (abs(fit.cost - best.cost) <= 1e-18 and abs(fit.x[0]) < abs(best.x[0]))
        ):
            best = fit
    s, m = best.x
    D = np.array([[1.0, s], [0.0, m]])
    C = np.linalg.inv(D)
    w = v @ C.T
    a, b, g = _cell(w)
    return {
        "shear": float(s),
        "slow_scale": float(m),
        "matrix": D,
        "correction": C,
        "vectors": w,
        "a": float(a),
        "b": float(b),
        "gamma": float(g),
        "measured": dict(zip(("a", "b", "gamma"), map(float, _cell(v)))),
        "misfit": float(np.sqrt(2 * best.cost)),
    }


def drift_velocity(shear, slow_scale, row_step, line_time):
    """The steady drift that gives a scan distortion, from the line time.

    A row recorded at time ``t = k * line_time`` (``k`` rows after the first)
    sees the specimen moved by ``v t``, so with ``y_s - y_0 = k * row_step``
    the scanned position is ``x_s = x + v_x t`` and ``y_s = y + v_y t``;
    solved for ``D = [[1, s], [0, m]]`` (:func:`scan_distortion`):

    ``v_x = s * row_step / (m * line_time)``,
    ``v_y = (1 - 1 / m) * row_step / line_time``.

    Parameters
    ----------
    shear, slow_scale : float
        ``s`` and ``m`` of :func:`scan_distortion`.
    row_step : float
        Calibrated step from one recorded row to the next: the y pixel size,
        negative when the rows were recorded from the bottom up.
    line_time : float
        Seconds per row (dwell of every pixel plus the flyback).

    Returns
    -------
    numpy.ndarray, shape (2,)
        ``(v_x, v_y)`` in calibrated units per second.

    Examples
    --------
    A drift of (+0.02, -0.01) nm/s, 0.01 nm rows of 2.5 ms each:

    >>> m = 1 / (1 - (-0.01) * 0.0025 / 0.01)
    >>> s = 0.02 * 0.0025 * m / 0.01
    >>> np.round(drift_velocity(s, m, 0.01, 0.0025), 6).tolist()
    [0.02, -0.01]
    """
    s = check_number(shear, "shear")
    m = check_positive(slow_scale, "slow_scale")
    step = check_number(row_step, "row_step")
    if step == 0:
        raise ValueError("`row_step` must not be 0.")
    lt = check_positive(line_time, "line_time")
    return np.array([s * step / (m * lt), (1.0 - 1.0 / m) * step / lt])


def correct_positions(x, y, correction, origin=(0.0, 0.0)):
    """Positions with the scan distortion removed: ``p' = C (p - o) + o``.

    Parameters
    ----------
    x, y : array_like
        Positions (the units of the vectors the correction came from).
    correction : array_like, shape (2, 2)
        ``D^-1`` of :func:`scan_distortion`.
    origin : (float, float)
        The position of the first scanned pixel (top-left), which the
        distortion leaves in place.

    Returns
    -------
    x, y : numpy.ndarray

    Examples
    --------
    >>> correct_positions([0.0, 1.0], [0.0, 2.0], [[1.0, -0.5], [0.0, 1.0]])
    (array([0., 0.]), array([0., 2.]))
    """
    C = check_array(correction, "correction", ndim=2)
    if C.shape != (2, 2):
        raise ValueError(f"`correction` must have shape (2, 2), got {C.shape}.")
    x = check_array(x, "x").ravel()
    y = check_array(y, "y").ravel()
    ox, oy = (float(o) for o in origin)
    px, py = x - ox, y - oy
    return C[0, 0] * px + C[0, 1] * py + ox, C[1, 0] * px + C[1, 1] * py + oy
