"""Polar displacements between sublattices (``get_polarisation``), their
arrow plot with a scale in pm (``plot_polarisation``) and averages per group
(``get_statistics``).

The numerics (:mod:`hyperspy_localcryst.numerics.polarisation`) work in
pixels; here the table's positions go to pixels and the displacements come
back in the calibrated units of the image's axes, each axis with its own
scale (a flipped axis flips its component, as it flips the positions).
"""

from __future__ import annotations

import numpy as np

from ...numerics import polarisation as npol
from ...numerics._checks import check_integer
from .._grid import check_bool, check_positive, small_length_unit
from . import _KEY
from ._table import _finite_positions


def _label_rows(table, column, label, name):
    """Indices of the atoms whose ``column`` is ``label``, or a clear error."""
    if not isinstance(column, str) or column not in table.columns:
        raise ValueError(
            f"`column` must be a column of the table holding the labels, got "
            f"{column!r:.60}; label the sublattices first "
            "(`atoms.label_sublattices()`)."
        )
    label = check_integer(label, name)
    values = table.get_column(column)
    rows = np.flatnonzero(values == label)
    if rows.size == 0:
        present = sorted({int(v) for v in values[np.isfinite(values)]})
        raise ValueError(
            f"No atom has `{column}` = {label} (`{name}`); labels present: {present}."
        )
    return rows


def _two_label_rows(table, column, labels, names, what):
    """The rows of two different labels of ``column`` (each named as its
    argument), for a method ``what`` that needs finite positions."""
    rows = [_label_rows(table, column, k, name) for k, name in zip(labels, names)]
    if np.intersect1d(*rows).size:
        raise ValueError(f"`{names[0]}` and `{names[1]}` must be different labels.")
    _finite_positions(table, what)
    return rows


class PolarisationMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

    def get_polarisation(
        self, sublattice=1, reference=0, n_neighbours="auto", column="sublattice"
    ):
        """Displacement of each atom of ``sublattice`` from its cell's centre.

        The cell of an atom is its ``n_neighbours`` nearest atoms of
        ``reference`` (the A cell around a B column in a perovskite [001]:
        four A), and its displacement is its position minus their centroid:
        the polar displacement of the B cation, in the calibrated units of
        the image. Atoms whose cell does not surround them (image edges,
        interfaces where the reference atoms lie on one side) get NaN (see
        :mod:`hyperspy_localcryst.numerics.polarisation`).

        Parameters
        ----------
        sublattice : int
            Label (in ``column``) of the displaced atoms, e.g. the B site.
        reference : int
            Label of the atoms that make the cells, e.g. the A site.
        n_neighbours : int or "auto"
            Reference atoms per cell; "auto": the count that closes their
            first shell around the centres (4 in perovskite [001]).
        column : str
            The labels' column (``label_sublattices`` writes
            ``sublattice``).

        Returns
        -------
        AtomPositions
            The atoms of ``sublattice``, every column kept, plus ``dx``,
            ``dy`` (calibrated units of ``x``; + along the axes: +y is down
            in an image), ``magnitude``, ``angle`` (deg, from +x towards
            +y), ``dx_err``, ``dy_err`` (standard errors from the positions'
            ``x_err``/``y_err`` of the atom and its cell; NaN for a table
            that was not refined) and ``surrounded`` (1 where the cell
            surrounds the atom). ``metadata.AtomPositions.polarisation``
            records the labels, the count and whether it closes a shell.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> image = synthetic_lattice(  # B (sublattice 1) shifted 0.6 px along +x
        ...     shape=(160, 160), lattice="perovskite", sublattice_peaks=(200, 90),
        ...     displacement=lambda x, y, sub: (0.6 * (sub == 1), 0.0), seed=0)
        >>> atoms = image.refine_atoms(image.find_atoms()).label_sublattices()
        >>> pol = atoms.get_polarisation(sublattice=1, reference=0)
        >>> px = image.axes_manager[0].scale  # nm per pixel
        >>> round(float(np.nanmedian(pol.get_column("dx"))) / px, 1)
        0.6
        """
        rows_b, rows_a = _two_label_rows(
            self,
            column,
            (sublattice, reference),
            ("sublattice", "reference"),
            "get_polarisation",
        )
        grid = self.grid
        sx, sy = float(grid["x"]["scale"]), float(grid["y"]["scale"])
        xp, yp = self.get_pixel_positions()
        errs = {}
        if "x_err" in self.columns and "y_err" in self.columns:
            errs = {
                "x_err": self.get_column("x_err") / abs(sx),
                "y_err": self.get_column("y_err") / abs(sy),
            }
        r = npol.cell_displacements(
            xp,
            yp,
            rows_b,
            rows_a,
            n_neighbours=n_neighbours,
            frame=self.get_frames(),
            **errs,
        )
        dx, dy = r["dx"] * sx, r["dy"] * sy
        units = self.units.get("x", "")
        cols = {
            "dx": dx,
            "dy": dy,
            "magnitude": np.hypot(dx, dy),
            "angle": np.rad2deg(np.arctan2(dy, dx)),
            "dx_err": r["dx_err"] * abs(sx),
            "dy_err": r["dy_err"] * abs(sy),
            "surrounded": r["surrounded"].astype(float),
        }
        out = self.select(rows_b).add_columns(
            cols,
            {
                "dx": units,
                "dy": units,
                "magnitude": units,
                "angle": "deg",
                "dx_err": units,
                "dy_err": units,
                "surrounded": "",
            },
        )
        out.metadata.set_item(
            f"{_KEY}.polarisation",
            {
                "sublattice": int(sublattice),
                "reference": int(reference),
                "column": column,
                "n_neighbours": r["n_neighbours"],
                "shell_closed": r["closed"],
                "n_surrounded": int(r["surrounded"].sum()),
            },
        )
        out.metadata.General.title = (
            f"Displacement of {column} {sublattice} from its {column} {reference} cell"
        )
        return out

    def get_statistics(self, columns, by=None):
        """Mean, standard deviation, standard error and count of columns,
        overall or per group (a phase, a region, a sublattice).

        Parameters
        ----------
        columns : str or list of str
            Columns to summarise (NaN values are left out).
        by : str, optional
            A column of integer labels (e.g. ``"phase"`` from
            ``AtomNeighbourhoods.get_phases``, or a region mask added with
            ``add_columns``); NaN labels are left out.

        Returns
        -------
        pandas.DataFrame
            One row per group (``by``'s label as index; one row ``"all"``
            without ``by``), columns ``<name>_mean``, ``<name>_std``,
            ``<name>_sem`` (std / sqrt(count)) and ``<name>_count`` per column.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(96, 96), seed=0).find_atoms()
        >>> atoms.get_statistics("peak").columns.tolist()[:2]
        ['peak_mean', 'peak_std']
        """
        import pandas as pd

        if isinstance(columns, str):
            columns = [columns]
        if not isinstance(columns, (list, tuple)) or not columns:
            raise TypeError("`columns` must be a column name or a list of them.")
        values = {c: self._values(c, "columns") for c in columns}
        if by is None:
            groups = {"all": np.arange(self.n_atoms)}
        else:
            lab = self._values(by, "by")
            ok = np.isfinite(lab)
            if np.any(lab[ok] != np.round(lab[ok])):
                raise ValueError(f"`by` = {by!r}: its values must be integer labels.")
            groups = {int(g): np.flatnonzero(lab == g) for g in np.unique(lab[ok])}
        rows = {}
        for g, idx in groups.items():
            row = {}
            for c, v in values.items():
                w = v[idx]
                w = w[np.isfinite(w)]
                sd = float(np.std(w, ddof=1)) if w.size > 1 else np.nan
                row[f"{c}_mean"] = float(np.mean(w)) if w.size else np.nan
                row[f"{c}_std"] = sd
                row[f"{c}_sem"] = sd / np.sqrt(w.size) if w.size > 1 else np.nan
                row[f"{c}_count"] = int(w.size)
            rows[g] = row
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = by or "group"
        return out

    def plot_polarisation(
        self,
        image=None,
        scale="auto",
        key=None,
        colour_by="angle",
        ax=None,
        show_cells=False,
    ):
        """Arrows of the displacements over the image, with a scale in pm.

        Parameters
        ----------
        image : AtomicImage, optional
            Drawn underneath (the image the table was found on).
        scale : float or "auto"
            Arrow length on the image per unit of displacement; "auto" makes
            the 95th percentile of the magnitudes 0.6 times the median
            nearest-neighbour distance of the atoms.
        key : float, optional
            Length of the key arrow, in pm when the image is calibrated in
            nm or Å (else in its units); default a round number near the
            median magnitude.
        colour_by : {"angle", "magnitude"}
            The arrows' colour: direction (cyclic colours) or size.
        ax : matplotlib.axes.Axes, optional
        show_cells : bool
            Also mark the atoms whose cell does not surround them (grey
            crosses).

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> image = synthetic_lattice(
        ...     shape=(120, 120), lattice="perovskite", sublattice_peaks=(200, 90),
        ...     displacement=lambda x, y, sub: (0.5 * (sub == 1), 0.0), seed=0)
        >>> atoms = image.refine_atoms(image.find_atoms()).label_sublattices()
        >>> fig = atoms.get_polarisation().plot_polarisation(image)
        >>> len(fig.axes)  # the image and the colour bar
        2
        """
        import matplotlib.pyplot as plt

        for c in ("dx", "dy"):
            if c not in self.columns:
                raise ValueError(
                    "`plot_polarisation` draws a table from `get_polarisation` "
                    f"(no column {c!r})."
                )
        if not isinstance(colour_by, str) or colour_by not in ("angle", "magnitude"):
            raise ValueError(
                f"`colour_by` must be 'angle' or 'magnitude', got {colour_by!r:.60}."
            )
        show_cells = check_bool(show_cells, "show_cells")
        x, y = self.get_column("x"), self.get_column("y")
        dx, dy = self.get_column("dx"), self.get_column("dy")
        mag = np.hypot(dx, dy)
        ok = np.isfinite(mag)
        if not ok.any():
            raise ValueError("No atom has a displacement (no cell surrounds any).")
        units = self.units.get("x", "") or "px"
        factor, shown = small_length_unit(units)
        if isinstance(scale, str):
            if scale != "auto":
                raise ValueError(f"`scale` must be 'auto' or a number, got {scale!r}.")
            d_nn = self._nn_distance() or 1.0
            top = float(np.percentile(mag[ok], 95)) or 1.0
            scale = 0.6 * d_nn / top
        else:
            scale = check_positive(scale, "scale", "a positive number")
        if key is None:
            med = float(np.median(mag[ok])) * factor
            key = float(10 ** np.floor(np.log10(med))) if med > 0 else 1.0
            for m in (5, 2):
                if m * key <= med * 1.5:
                    key *= m
                    break
        else:
            key = check_positive(key, "key", f"a length in {shown}")
        g = self.grid
        if ax is None:
            aspect = g["y"]["size"] / g["x"]["size"]
            fig, ax = plt.subplots(
                figsize=(9.0, min(9.0, max(3.0, 8.0 * aspect + 1.4)))
            )
        else:
            fig = ax.figure
        if image is not None:
            gx, gy = g["x"], g["y"]
            ext = [
                gx["offset"] - 0.5 * gx["scale"],
                gx["offset"] + (gx["size"] - 0.5) * gx["scale"],
                gy["offset"] + (gy["size"] - 0.5) * gy["scale"],
                gy["offset"] - 0.5 * gy["scale"],
            ]
            ax.imshow(np.asarray(image.data), cmap="gray", extent=ext)
        if colour_by == "angle":
            c, cmap, clim, label = (
                np.rad2deg(np.arctan2(dy, dx))[ok],
                "hsv",
                (-180, 180),
                "direction (deg, from +x towards +y)",
            )
        else:
            c, cmap = mag[ok] * factor, "viridis"
            clim, label = (0, float(np.percentile(c, 99))), f"|displacement| ({shown})"
        q = ax.quiver(
            x[ok],
            y[ok],
            dx[ok] * scale,
            dy[ok] * scale,
            c,
            cmap=cmap,
            angles="xy",
            scale_units="xy",
            scale=1.0,
            width=0.0025,
            headwidth=4,
            pivot="tail",
        )
        q.set_clim(*clim)
        fig.colorbar(q, ax=ax, fraction=0.046, pad=0.02, label=label)
        ax.quiverkey(  # under the axes, right: clear of the title
            q,
            0.85,
            -0.09,
            key / factor * scale,
            f"{key:g} {shown}",
            labelpos="E",
            coordinates="axes",
        )
        if show_cells and (~ok).any():
            ax.plot(x[~ok], y[~ok], "x", color="0.6", ms=4, label="no cell")
        ax.set_xlabel(f"x ({units})")
        ax.set_ylabel(f"y ({units})")
        if image is None and not ax.images:
            ax.set_aspect("equal")
            ax.invert_yaxis()  # image convention: +y down
        ax.set_title(self.metadata.General.title, fontsize=9)
        return fig
