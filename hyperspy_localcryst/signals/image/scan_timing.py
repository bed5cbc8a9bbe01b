"""The scan's timing from a file's metadata (``AtomicImage.get_scan_timing``).

A scanned image is recorded row by row: the time of a row is its index times
the line time (the pixels' dwell plus the flyback). With it, the shear and
slow-scan scale of a drifting scan
(:meth:`AtomPositions.estimate_scan_distortion`) become a drift velocity.
Each reader below knows one vendor's keys, as HyperSpy (RosettaSciIO) leaves
them in ``original_metadata``:

- Thermo Fisher Velox (``.emd``): ``Scan.LineTime``, ``Scan.DwellTime``,
  ``Scan.FrameTime`` (s);
- Gatan DigitalMicrograph (``.dm3``/``.dm4``, DigiScan):
  ``ImageList.TagGroup0.ImageTags.DigiScan`` ``Sample Time`` and ``Flyback``
  (µs): line time = width x sample time + flyback;
- FEI TIA (``.emi``/``.ser``): ``ObjectInfo.AcquireInfo`` ``FrameTime`` (s)
  over the rows, ``DwellTimePath`` (s);
- Nanonis STM (``.sxm``): ``nanonis_sxm_header.scan_time`` (s per line,
  forward and backward: a row of one direction every both passes) and
  ``scan_dir`` (``up``: the last row was recorded first, assuming the array
  is in display order, row 0 at the top of the field);
- otherwise HyperSpy's ``Acquisition_instrument.TEM.dwell_time`` x width
  (no flyback known: a lower bound of the line time).
"""

from __future__ import annotations

import math

__all__ = ["read_scan_timing"]


def _number(value):
    """A positive finite float from a metadata value (a number, a string, or
    the first of a list), else None."""
    if isinstance(value, (list, tuple)) and value:
        value = value[0]
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _get(tree, path):
    """``tree[path]`` of a nested dict by a dotted path, or None."""
    node = tree
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def read_scan_timing(original_metadata, metadata, width, height):
    """The scan timing of one image from its metadata dictionaries.

    Parameters
    ----------
    original_metadata, metadata : dict
        ``s.original_metadata.as_dictionary()`` and
        ``s.metadata.as_dictionary()``.
    width, height : int
        Pixels per row and rows.

    Returns
    -------
    dict
        ``line_time`` (s per row), ``frame_time`` (s), ``dwell_time`` (s per
        pixel, NaN if unknown), ``slow_direction`` (+1: rows recorded from
        the top, row 0 first; -1: from the bottom) and ``source`` (the keys
        read); an empty dict when the file records no timing.

    Examples
    --------
    >>> om = {"Scan": {"LineTime": 0.0025, "DwellTime": 8e-7, "FrameTime": 5.1}}
    >>> t = read_scan_timing(om, {}, 2048, 2048)
    >>> t["line_time"], t["source"]
    (0.0025, 'Velox Scan.LineTime')
    """
    om, md = original_metadata or {}, metadata or {}
    dwell = line = frame = None
    direction, source = 1, ""
    scan = _get(om, "Scan")
    digi = _get(om, "ImageList.TagGroup0.ImageTags.DigiScan")
    tia = _get(om, "ObjectInfo.AcquireInfo")
    sxm = _get(om, "nanonis_sxm_header")
    if isinstance(scan, dict) and _number(scan.get("LineTime")):
        line = _number(scan.get("LineTime"))
        dwell = _number(scan.get("DwellTime"))
        frame = _number(scan.get("FrameTime"))
        source = "Velox Scan.LineTime"
    elif isinstance(digi, dict) and _number(digi.get("Sample Time")):
        dwell = _number(digi.get("Sample Time")) * 1e-6
        fly = (_number(digi.get("Flyback")) or 0.0) * 1e-6
        line = width * dwell + fly
        source = "DigiScan Sample Time x width + Flyback"
    elif isinstance(tia, dict) and _number(tia.get("FrameTime")):
        frame = _number(tia.get("FrameTime"))
        line = frame / height
        dwell = _number(tia.get("DwellTimePath"))
        source = "TIA AcquireInfo.FrameTime / rows"
    elif isinstance(sxm, dict) and _number(sxm.get("scan_time")):
        # a row of one direction every forward + backward pass
        times = sxm.get("scan_time")
        times = times if isinstance(times, (list, tuple)) else [times]
        dwell = _number(times[0]) / width
        line = sum(_number(t) or 0.0 for t in times)
        if str(sxm.get("scan_dir", "")).strip().lower() == "up":
            direction = -1
        source = "Nanonis scan_time, scan_dir"
    else:
        d = _number(_get(md, "Acquisition_instrument.TEM.dwell_time"))
        if d is None:
            return {}
        dwell, line = d, d * width
        source = "dwell_time x width (no flyback: a lower bound)"
    return {
        "line_time": float(line),
        "frame_time": float(frame if frame is not None else line * height),
        "dwell_time": float(dwell) if dwell is not None else math.nan,
        "slow_direction": int(direction),
        "source": source,
    }
