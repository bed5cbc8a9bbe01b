"""Columns followed from frame to frame: links, drift, trajectories and
displacements (``link_frames``, ``estimate_drift``, ``get_trajectories``,
``get_displacements``)."""

from __future__ import annotations

import numpy as np

from ...numerics import frames
from ...numerics._checks import check_array, check_integer
from ...numerics._parallel import nearest_distances
from .. import _stack
from .._grid import (
    check_memory,
    check_positive,
    check_units,
)
from . import _KEY
from ._table import _finite_positions, _is_signal, _plain


class TrackingMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

    # -------------------------------------------------------------- tracking
    def _nn_distance(self):
        """Median nearest-neighbour distance within frames (0 if no pair)."""

        xy = np.column_stack([self.get_column("x"), self.get_column("y")])
        d = []
        for rows in frames.frame_groups(self.get_frames(), self.n_frames):
            p = xy[rows]
            if len(p) > 1:
                d.append(nearest_distances(p))
        return float(np.median(np.concatenate(d))) if d else 0.0

    def link_frames(self, max_displacement=None, memory=0, shifts="auto"):
        """Link each atom to its successor in the next frame (tracks).

        One-to-one links minimising the squared displacements, solved
        exactly (see :func:`hyperspy_localcryst.numerics.tracking.link_frames`).

        Parameters
        ----------
        max_displacement : float, optional
            Largest move between frames, calibrated units, after the drift is
            removed. Default 0.3 × the median nearest-neighbour distance.
        memory : int
            Frames an atom may be missing and still continue its track.
        shifts : "auto", None, array_like or signal
            Drift of each frame relative to frame 0 (calibrated, shape
            ``(n_frames, 2)``, or the ``(n_frames, 4)`` result of
            :meth:`estimate_drift` or
            :meth:`AtomicImage.estimate_drift`). ``"auto"``: link once with a
            wide search (0.45 × the nearest-neighbour distance), measure the
            drift from those links, link again with it. ``None``: no drift.

        Returns
        -------
        AtomPositions
            With a ``track`` column (0 .. n_tracks - 1).

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> stack = hs.stack([synthetic_lattice((96, 96), seed=k) for k in (0, 1)])
        >>> atoms = stack.find_atoms(show_progressbar=False).link_frames()
        >>> int(atoms.get_column("track").max()) + 1 == atoms.get_frame(0).n_atoms
        True
        """
        from ...numerics import tracking

        scale = abs(float(self.grid["x"]["scale"]))
        if max_displacement is not None:
            md = check_positive(
                max_displacement, "max_displacement", "a length", noun="length"
            )
        memory = check_integer(memory, "memory", minimum=0, type_error=ValueError)
        sh_px = None
        if isinstance(shifts, str):
            if shifts != "auto":
                raise ValueError(
                    f"`shifts` must be 'auto', None or an array, got {shifts!r}."
                )
        elif shifts is not None:
            sh_px = self._shifts_in_pixels(shifts, scale)
        if max_displacement is not None:  # before the neighbour distances
            self._check_link_memory(md)
        _finite_positions(self, "link_frames")
        nn = self._nn_distance()
        if nn == 0:
            raise ValueError("Tracking needs frames with at least two atoms.")
        if max_displacement is None:
            md = 0.3 * nn
            self._check_link_memory(md)
        xp, yp = self.get_pixel_positions()
        frame = self.get_frames()
        if isinstance(shifts, str):
            wide = tracking.link_frames(xp, yp, frame, 0.45 * nn / scale, memory)
            sh_px, _ = tracking.estimate_shifts(xp, yp, frame, wide, self.n_frames)
            sh_px = np.nan_to_num(sh_px)
        track = tracking.link_frames(xp, yp, frame, md / scale, memory, sh_px)
        out = self.add_columns({"track": track}, {"track": ""})
        settings = dict(_plain({"max_displacement": md, "memory": int(memory)}))
        out.metadata.set_item(f"{_KEY}.tracking", settings)
        return out

    def _shifts_in_pixels(self, shifts, scale):
        """``shifts`` (array or drift signal, calibrated) as ``(n_frames, 2)``
        pixels, checked."""
        if _is_signal(shifts) and list(shifts.metadata.get_item("Signal.names", []))[
            :2
        ] == ["dx", "dy"]:
            check_units(
                shifts.metadata.get_item("Signal.quantity"),
                self.grid["x"]["units"],
                "shifts",
            )
        arr = check_array(shifts.data if _is_signal(shifts) else shifts, "shifts")
        n = self.n_frames
        if arr.ndim < 2 or arr.shape[-1] < 2 or arr.size != n * arr.shape[-1]:
            raise ValueError(
                f"`shifts` must have shape (n_frames, 2) = ({n}, 2) (one (dx, dy) per "
                f"frame, calibrated), got shape {arr.shape}."
            )
        # per axis, signed: the inverse of the drift's pixel -> calibrated
        axes = [float(self.grid[k]["scale"]) for k in ("x", "y")]
        return arr.reshape(n, -1)[:, :2] / axes

    def _check_link_memory(self, md):
        """Refuse a ``max_displacement`` whose candidate links would not fit.

        Every atom is a candidate for every atom of the next frame within
        ``md``: about ``n × min(n, n × π md² / area)`` pairs per frame pair
        at the table's density (``n`` atoms per frame, ``area`` the image's),
        each held in a few arrays (about 64 bytes).
        """
        g = self.grid
        area = abs(g["x"]["scale"] * g["y"]["scale"]) * g["x"]["size"] * g["y"]["size"]
        n = self.n_atoms / max(self.n_frames, 1)
        pairs = n * min(n, n * np.pi * md**2 / area)
        check_memory(
            64.0 * pairs,
            "max_displacement",
            md,
            f"about {pairs:.3g} candidate links per pair of frames",
            advice="give a `max_displacement` below the atom spacing (the default "
            "is 0.3 times the nearest-neighbour distance)",
        )

    def _tracks(self):
        if "track" not in self.columns:
            self._not_sliced_away("track", "Tracking methods")
            raise ValueError("No `track` column: run `link_frames` first.")
        return self.get_column("track").astype(np.int64)

    def estimate_drift(self):
        """Drift of every frame relative to frame 0, from the linked atoms.

        The median displacement of the tracks each frame shares with frame 0
        (see :func:`hyperspy_localcryst.numerics.tracking.estimate_shifts`).

        Returns
        -------
        hyperspy.api.signals.Signal1D
            On the stack's navigation axes; values ``dx``, ``dy``,
            ``dx_err``, ``dy_err`` in calibrated units.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> stack = hs.stack([synthetic_lattice((96, 96), seed=k) for k in (0, 1)])
        >>> atoms = stack.find_atoms(show_progressbar=False).link_frames()
        >>> atoms.estimate_drift().data.shape
        (2, 4)
        """
        from ...numerics import tracking

        xp, yp = self.get_pixel_positions()
        sh, err = tracking.estimate_shifts(
            xp, yp, self.get_frames(), self._tracks(), self.n_frames
        )
        # per axis: a flipped axis (negative scale) flips that component of
        # the drift; standard errors are lengths (never negative)
        sx, sy = (float(self.grid[k]["scale"]) for k in ("x", "y"))
        return _stack.stack_signal(
            np.column_stack([sh, err]) * [sx, sy, abs(sx), abs(sy)],
            self.navigation,
            ["dx", "dy", "dx_err", "dy_err"],
            units=self.grid["x"]["units"],
            axis_name="drift",
            title=f"Drift of {self.metadata.General.title}",
        )

    def get_trajectories(self):
        """Position of every track in every frame.

        Returns
        -------
        hyperspy.api.signals.Signal2D
            Navigation axis ``track``; signal axes ``coordinate`` (x, y) and
            ``frame`` (the stack's axis when it has one navigation axis, else
            the flat frame index); calibrated positions, NaN where the track
            has no atom.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> stack = hs.stack([synthetic_lattice((96, 96), seed=k) for k in (0, 1)])
        >>> atoms = stack.find_atoms(show_progressbar=False).link_frames()
        >>> atoms.get_trajectories().axes_manager.signal_shape
        (2, 2)
        """
        from hyperspy.signals import Signal2D

        from ...numerics import tracking

        tx, ty = tracking.trajectories(
            self.get_column("x"),
            self.get_column("y"),
            self.get_frames(),
            self._tracks(),
            self.n_frames,
        )
        nav = self.navigation
        frame_axis = {"size": self.n_frames, "name": "frame", "navigate": False}
        if len(nav) == 1:
            frame_axis.update(
                {
                    k: nav[0][k]
                    for k in ("scale", "offset", "units", "name")
                    if k in nav[0]
                }
            )
        units = self.grid["x"]["units"]
        s = Signal2D(
            np.stack([tx, ty], axis=-1),
            axes=[
                {"size": tx.shape[0], "name": "track", "navigate": True},
                frame_axis,
                {"size": 2, "name": "coordinate", "navigate": False},
            ],
        )
        s.metadata.General.title = f"Trajectories of {self.metadata.General.title}"
        s.metadata.set_item("Signal.quantity", f"Position ({units})")
        return s

    def get_displacements(self, frame_a=0, frame_b=None):
        """Displacement of every tracked atom between two frames.

        Parameters
        ----------
        frame_a, frame_b : int or tuple of int
            Frames (flat index or navigation indices); default frame 0 and
            the last frame.

        Returns
        -------
        AtomPositions
            One row per track present in both frames, at its position in
            ``frame_a``, with ``dx``, ``dy`` (calibrated) and ``track``;
            draw it with :meth:`to_arrows`.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> stack = hs.stack([synthetic_lattice((96, 96), seed=k) for k in (0, 1)])
        >>> atoms = stack.find_atoms(show_progressbar=False).link_frames()
        >>> "dx" in atoms.get_displacements().columns
        True
        """
        from ...numerics import tracking

        a = self._flat_frame(frame_a, "frame_a")
        b = self._flat_frame(
            self.n_frames - 1 if frame_b is None else frame_b, "frame_b"
        )
        d = tracking.displacements(
            self.get_column("x"),
            self.get_column("y"),
            self.get_frames(),
            self._tracks(),
            a,
            b,
        )
        if len(d["x"]) == 0:
            raise ValueError(f"No track is present in both frames {a} and {b}.")
        out = self.select(d["index_a"]).add_columns(
            {"dx": d["dx"], "dy": d["dy"]},
            {"dx": self.units["x"], "dy": self.units["y"]},
        )
        out.metadata.General.title = f"Displacements from frame {a} to {b}"
        return out
