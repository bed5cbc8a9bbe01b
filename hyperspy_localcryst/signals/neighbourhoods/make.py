"""The neighbourhood signal of a per-atom table: the neighbour vectors of every
centre atom, frame by frame (:func:`make_neighbourhoods`, behind
:meth:`~hyperspy_localcryst.signals.atom_positions.AtomPositions.get_neighbourhoods`).
"""

import numpy as np
from hyperspy.signals import Signal1D

from ...numerics import neighbourhoods as nbn
from .._grid import check_bool, check_number
from ..frames import map_table_frames
from . import _KEY


def _extent(grid):
    """(xmin, xmax, ymin, ymax) of the imaged area (pixel edges), calibrated."""
    out = []
    for k in ("x", "y"):
        g = grid[k]
        a = g["offset"] - 0.5 * g["scale"]
        b = g["offset"] + (g["size"] - 0.5) * g["scale"]
        out += sorted((a, b))
    return tuple(out)


def make_neighbourhoods(
    atoms,
    n_neighbours=6,
    metric="distance",
    radius=None,
    exclude_border=True,
    border=None,
    angle_tolerance=10.0,
    distance_tolerance=0.1,
):
    """Neighbourhood signal of a per-atom table (see :meth:`get_neighbourhoods`).

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> nb = make_neighbourhoods(atoms, n_neighbours=4)
    >>> nb.axes_manager.signal_shape
    (8,)
    """
    # the arguments, once for all frames (a stack's frames would each fail)
    if not isinstance(metric, str) or metric not in nbn.METRICS:
        raise ValueError(
            f"Unknown metric {metric!r:.60}: `metric` must be one of {nbn.METRICS}."
        )
    nbn._check_parameters(
        n_neighbours, metric, radius, angle_tolerance, distance_tolerance
    )
    check_bool(exclude_border, "exclude_border")
    if border is not None:
        b = check_number(border, "border", "a length")
        if not (np.isfinite(b) and b >= 0):
            raise ValueError(f"`border` must be a non-negative distance, got {b!r}.")
    grid = atoms.grid
    x, y = atoms.get_column("x"), atoms.get_column("y")

    def one_frame(sel):
        return nbn.neighbour_vectors(
            x[sel],
            y[sel],
            n_neighbours=n_neighbours,
            metric=metric,
            radius=radius,
            exclude_border=exclude_border,
            extent=_extent(grid),
            border=border,
            angle_tolerance=angle_tolerance,
            distance_tolerance=distance_tolerance,
        )

    parts = []
    for _, sel, r in map_table_frames(atoms.get_frames(), one_frame, "neighbourhoods"):
        r.centres = sel[r.centres]
        r.indices = np.where(r.indices >= 0, sel[np.maximum(r.indices, 0)], -1)
        parts.append(r)
    k = max(p.vectors.shape[1] for p in parts)

    def pad(a, fill):
        w = [(0, 0), (0, k - a.shape[1])] + [(0, 0)] * (a.ndim - 2)
        return np.pad(a, w, constant_values=fill)

    centres = np.concatenate([p.centres for p in parts])
    vectors = np.concatenate([pad(p.vectors, np.nan) for p in parts])
    rotation = np.concatenate([p.rotation for p in parts])
    counts = np.concatenate([p.counts for p in parts])

    units = grid["x"]["units"]
    rot_col = np.full(atoms.n_atoms, np.nan)
    rot_col[centres] = np.rad2deg(rotation)
    cnt_col = np.full(atoms.n_atoms, np.nan)
    cnt_col[centres] = counts
    table = atoms.add_columns(
        {"rotation": rot_col, "neighbour_count": cnt_col},
        {"rotation": "deg", "neighbour_count": ""},
    )
    s = Signal1D(
        vectors.reshape(len(centres), 2 * k),
        axes=[
            {"axis": centres.astype(float), "name": "atom", "navigate": True},
            {"size": 2 * k, "name": "component", "navigate": False},
        ],
    )
    # the class by its registered signal type: this module is imported by
    # atom_positions, which atom_neighbourhoods imports (no import cycle)
    s.set_signal_type("atom_neighbourhoods")
    s.metadata.General.title = f"Neighbourhoods ({metric}, k={k})"
    s.metadata.Signal.quantity = f"Neighbour vector ({units})" if units else ""
    md = {
        "metric": metric,
        "n_neighbours": int(k),
        "radius": "None" if radius is None else float(radius),
        "exclude_border": bool(exclude_border),
        "border": "auto" if border is None else float(border),
        "angle_tolerance": float(angle_tolerance),
        "distance_tolerance": float(distance_tolerance),
        "units": units,
        "component_names": [f"d{c}{j + 1}" for j in range(k) for c in "xy"],
    }
    for key, value in md.items():
        s.metadata.set_item(f"{_KEY}.{key}", value)
    s.metadata.set_item(f"{_KEY}.atoms", table)
    src = atoms.metadata.get_item("Source")
    if src is not None:
        s.metadata.set_item("Source", src)
    return s
