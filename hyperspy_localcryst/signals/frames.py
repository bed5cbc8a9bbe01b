"""The frame machinery of every signal: one function applied to every frame,
failed frames kept apart with their reasons, the frames' results pooled.

- an image or a stack (:class:`ImageFramesMixin` of ``AtomicImage``): HyperSpy's
  ``map`` over the frames, lazy chunks, a ``dask.distributed`` client, the
  frames' tables pooled with their navigation coordinates;
- a table pooled from a stack (``AtomPositions``, ``AtomNeighbourhoods``):
  :func:`map_table_frames` runs a function on the atoms of each frame
  (:func:`~hyperspy_localcryst.numerics.frames.frame_members` splits them),
  with the same rule for a frame that fails.
"""

from __future__ import annotations

import os
import uuid
import warnings

import numpy as np
from hyperspy.signals import (
    BaseSignal,
    LazySignal,
    LazySignal2D,
)

from ..numerics import refinement
from ..numerics._parallel import limit_threads
from ..numerics.frames import frame_members
from ._grid import (
    axis_units,
    check_bool,
    check_integer,
)
from .positions._table import make_atom_positions


# ----------------------------------------------------------------- per frame
# Module-level functions, so that dask can send them to other processes.
def _guarded(frame, frame_function, threads=None, **kwargs):
    """Run one frame's numerics; an exception becomes ``{"error": message}``."""
    # HyperSpy's map hands a ragged argument of a one-frame stack over
    # wrapped in a 0-d object array: unwrap it
    kwargs = {
        k: v[()]
        if isinstance(v, np.ndarray) and v.dtype == object and v.ndim == 0
        else v
        for k, v in kwargs.items()
    }
    try:
        with limit_threads(threads):
            return frame_function(frame, **kwargs)
    except (ValueError, TypeError, ArithmeticError, np.linalg.LinAlgError) as e:
        return {"error": f"{type(e).__name__}: {e}"}


def _failure_summary(errors, limit=8):
    """``"frame 0: reason (also frames 1, 2); frame 3: other"`` for ``(k, reason)``
    pairs, frames with the same reason grouped, in order of first failure."""
    groups = {}
    for k, reason in errors:
        groups.setdefault(str(reason), []).append(int(k))
    parts = []
    for reason, ks in list(groups.items())[:limit]:
        also = ""
        if len(ks) > 1:
            rest = ", ".join(map(str, ks[1:11])) + (" ..." if len(ks) > 11 else "")
            also = f" (also frame{'s' if len(ks) > 2 else ''} {rest})"
        parts.append(f"frame {ks[0]}: {reason}{also}")
    if len(groups) > limit:
        parts.append(f"and {len(groups) - limit} other reasons")
    return "; ".join(parts)


def map_table_frames(frame, function, what):
    """``function(rows)`` on the atoms of each frame of a pooled table.

    A frame whose numerics refuse it (``ValueError``) is left out, and the
    others are kept, with one ``RuntimeWarning`` that names each failed
    frame and why; only when every frame fails is it an error. A table of
    one frame raises its own error unchanged.

    Parameters
    ----------
    frame : numpy.ndarray of int
        Flat frame index of each atom.
    function : callable
        ``function(rows) -> result`` for the indices ``rows`` of one frame's
        atoms (the table's order).
    what : str
        What each frame gives, for the messages ("neighbourhoods").

    Returns
    -------
    list of (int, numpy.ndarray, object)
        ``(frame, rows, result)`` of every frame that worked, in frame order.

    Examples
    --------
    >>> import warnings
    >>> def first(rows):
    ...     if len(rows) < 2:
    ...         raise ValueError("too few atoms")
    ...     return int(rows[0])
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     done = map_table_frames(np.array([0, 0, 1, 2, 2]), first, "values")
    >>> [(f, r) for f, _, r in done], str(w[0].message)
    ([(0, 0), (2, 3)], '1 of 3 frames has no values: frame 1: too few atoms')
    """
    groups = [(f, rows) for f, rows, _ in frame_members(frame)]
    done, failed = [], []
    for f, rows in groups:
        try:
            done.append((f, rows, function(rows)))
        except ValueError as e:
            if len(groups) == 1:
                raise
            failed.append((f, str(e)))
    if not done:
        raise ValueError(f"No frame has {what}: {_failure_summary(failed)}")
    if failed:
        have = "has" if len(failed) == 1 else "have"
        warnings.warn(
            f"{len(failed)} of {len(groups)} frames {have} no {what}: "
            f"{_failure_summary(failed)}",
            RuntimeWarning,
            stacklevel=4,
        )
    return done


def _check_frame_shapes(data):
    """Refuse, clearly, a list (or object array) of frames of different sizes.

    A HyperSpy signal is one rectangular array: frames of different sizes
    cannot be one stack (numpy's and HyperSpy's own errors do not say so).
    """
    if isinstance(data, (list, tuple)) or (
        isinstance(data, np.ndarray) and data.dtype == object
    ):
        items = list(np.ravel(np.asarray(data, dtype=object))) if len(data) else []
        shapes = {np.shape(f) for f in items}
        if len(shapes) > 1 and all(len(sh) == 2 for sh in shapes):
            sizes = ", ".join(f"{sh[1]}x{sh[0]}" for sh in sorted(shapes))
            raise ValueError(
                f"The frames have different sizes ({sizes} px) and cannot form one "
                "AtomicImage stack. Crop them to a common size (e.g. "
                "`s.isig[:width, :height]`) before stacking, or process each frame "
                "as its own AtomicImage."
            )


def _status_counts(cols):
    """'12 moved farther than ..., 3 frame failed' from the refined columns."""
    status = cols.get("fit_status")
    bad = cols["converged"] == 0
    if status is None:
        return f"{int(bad.sum())} frame failed"
    status = np.where(np.isnan(status), -1, status)[bad].astype(int)
    codes, counts = np.unique(status, return_counts=True)
    names = {**refinement.FIT_STATUS, -1: "frame failed"}
    return ", ".join(f"{c} {names.get(k, k)}" for k, c in zip(codes, counts))


def _record_failed(table, results):
    """List the frames whose step failed in the table's metadata."""
    failed = [(k, r["error"]) for k, r in enumerate(results) if "error" in r]
    if failed:
        table.metadata.set_item("AtomPositions.failed_frames", [k for k, _ in failed])
        table.metadata.set_item(
            "AtomPositions.failed_reasons", [str(e) for _, e in failed]
        )


def _pool_frames(results):
    """Concatenate per-frame column dicts, adding the flat ``frame`` index."""
    ok = [(k, r) for k, r in enumerate(results) if "error" not in r and r]
    if not ok:
        return None
    names = list(ok[0][1])
    table = {c: np.concatenate([np.asarray(r[c], float) for _, r in ok]) for c in names}
    table["frame"] = np.concatenate(
        [np.full(len(r[names[0]]), k, dtype=float) for k, r in ok]
    )
    return table


def _navigation_columns(nav_axes, frame, taken):
    """Calibrated navigation coordinate of each atom, one column per axis."""
    shape = tuple(ax.size for ax in sorted(nav_axes, key=lambda a: a.index_in_array))
    idx = np.unravel_index(frame.astype(int), shape)
    cols, units = {}, {}
    for i, ax in enumerate(nav_axes):
        name = str(ax.name)
        if (
            ax.name in (None, "<undefined>")
            or not name.isidentifier()
            or name in taken
            or name in cols
        ):
            name = f"nav{i}"
        cols[name] = np.asarray(ax.axis, dtype=float)[idx[ax.index_in_array]]
        units[name] = axis_units(ax.units)
    return cols, units


def _distributed_client():
    """The active ``dask.distributed`` client, if any."""
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover - distributed is a dependency
        return None
    try:
        return default_client()
    except ValueError:
        return None


class ImageFramesMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atomic_image.
    AtomicImage` (the class inherits them; see the module docstring)."""

    def _frames(self):
        """Yield (flat frame index, 2D float array) for every navigation index."""
        self._check_real()
        nav_shape = tuple(self.axes_manager.navigation_shape[::-1])
        if len(nav_shape) == 0:
            yield 0, np.asarray(self.data, dtype=np.float64)
            return
        for k, idx in enumerate(np.ndindex(*nav_shape)):
            yield k, np.asarray(self.data[idx], dtype=np.float64)

    def _navigation(self):
        return [ax.get_axis_dictionary() for ax in self.axes_manager.navigation_axes]

    # ------------------------------------------------------- frame machinery
    def _run_frames(
        self, function, show_progressbar=None, num_workers=None, iterating=None, **kw
    ):
        """Apply ``function(frame, **kw)`` to every frame; list of results.

        A single image is processed directly and errors propagate. A stack
        goes through HyperSpy's :meth:`map` (``ragged=True``): one task per
        frame (per chunk for lazy data), dask's threads by default, a
        ``dask.distributed`` client when one is active, HyperSpy's progress
        bar. Each frame's numerics then run on one thread when frames run in
        parallel. An exception in one frame becomes ``{"error": message}``
        for that frame (the caller warns and keeps the others); when every
        frame fails, a ValueError lists every frame's reason.
        """
        self._check_real()
        check_bool(show_progressbar, "show_progressbar", allow_none=True)
        if num_workers is not None:
            num_workers = check_integer(
                num_workers, "num_workers", minimum=1, type_error=ValueError
            )
        iterating = iterating or {}  # name -> object array of navigation shape
        if self.axes_manager.navigation_dimension == 0:
            data = self.data.compute() if isinstance(self, LazySignal) else self.data
            kw.update({k: v[()] for k, v in iterating.items()})
            return [function(np.asarray(data), **kw)]
        n_frames = self.axes_manager.navigation_size
        # frames run in parallel: share the cores out between them
        cores = os.cpu_count() or 1
        if _distributed_client():
            threads = 1
        elif num_workers == 1:
            threads = None
        else:
            threads = max(1, cores // min(num_workers or cores, n_frames))
        mapped = self._frames_as_lazy().map(
            _guarded,
            frame_function=function,
            threads=threads,
            inplace=False,
            ragged=True,
            lazy_output=False,
            output_signal_size=(),
            output_dtype=object,
            show_progressbar=show_progressbar,
            num_workers=None if num_workers is None else int(num_workers),
            **{k: BaseSignal(v, ragged=True) for k, v in iterating.items()},
            **kw,
        )
        results = list(np.asarray(mapped.data, dtype=object).ravel())
        errors = [(k, r["error"]) for k, r in enumerate(results) if "error" in r]
        if len(errors) == n_frames:
            raise ValueError(f"Every frame failed; {_failure_summary(errors)}")
        for k, e in errors:
            warnings.warn(
                f"Frame {k} ({self._frame_label(k)}) failed and has no atoms: {e}",
                RuntimeWarning,
                stacklevel=3,
            )
        return results

    def _frames_as_lazy(self):
        """The stack as a lazy signal, one frame per chunk, without copying.

        A lazy stack is returned as it is (mapped chunk by chunk). An
        in-memory stack is wrapped as a dask array whose chunks are views of
        its frames: HyperSpy's ``as_lazy`` (``dask.array.from_array``) first
        copies the whole stack and hashes it to name the chunks, serial work
        of about 13 ms per 4 MB frame before any frame is processed.
        """
        if isinstance(self, LazySignal):
            return self
        import dask.array as da

        data = self.data
        am = self.axes_manager
        nav_shape = data.shape[: am.navigation_dimension]
        sig_dim = am.signal_dimension
        name = f"localcryst-frames-{uuid.uuid4().hex}"
        graph = {
            (name, *idx) + (0,) * sig_dim: data[tuple(slice(i, i + 1) for i in idx)]
            for idx in np.ndindex(*nav_shape)
        }
        chunks = tuple((1,) * n for n in nav_shape) + tuple(
            (n,) for n in data.shape[len(nav_shape) :]
        )
        # only the frames are mapped: a plain lazy 2D signal of the same
        # navigation shape (HyperSpy's public constructor) is all `map` needs
        return LazySignal2D(
            da.Array(graph, name, chunks, meta=np.empty((0,) * data.ndim, data.dtype))
        )

    def _frame_label(self, k):
        axes = self.axes_manager.navigation_axes
        coords, units = _navigation_columns(axes, np.array([k]), set())
        return ", ".join(
            f"{name}={v[0]:g} {units[name]}".strip() for name, v in coords.items()
        )

    def _make_table(self, table, units, settings, results):
        """Wrap pooled frame columns as AtomPositions with the stack's metadata."""
        grid = self._grid()
        if self.axes_manager.navigation_dimension == 0:
            table.pop("frame", None)
        else:
            coords, coord_units = _navigation_columns(
                self.axes_manager.navigation_axes, table["frame"], set(table)
            )
            table.update(coords)
            units.update(coord_units)
        out = make_atom_positions(
            table,
            units,
            grid,
            settings=settings,
            navigation=self._navigation() or None,
            title=f"Atoms of {self.metadata.General.title}".strip(),
        )
        out.metadata.set_item("Source", self._source())
        _record_failed(out, results)
        return out
