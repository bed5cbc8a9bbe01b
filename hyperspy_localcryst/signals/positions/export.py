"""Tables out and back in: a pandas table or CSV that round-trips into
``AtomPositions`` (``from_dataframe``, ``from_csv``), and the atoms as an
extended XYZ file (ASE, OVITO) or a projected-structure CIF (``to_extxyz``,
``to_cif``).

The structure files hold the field of view as one periodic P1 cell: ``a``
along the image's x, ``b`` along y (the image's extent), ``c`` a thickness
(the projection direction), every atom at ``z = c / 2``, in Å. Each atom's
element comes from ``symbols``: a dict of ``sublattice`` label to element, or
one element for all (``"X"``, a dummy atom, by default).
"""

from __future__ import annotations

import os
import re

import numpy as np

from .._grid import check_positive
from ._table import make_atom_positions

#: Length units -> Å
_ANGSTROM = {"nm": 10.0, "Å": 1.0, "A": 1.0, "angstrom": 1.0, "pm": 0.01, "µm": 1e4}
_HEADER = re.compile(r"^(.*?) \[(.*)\]$")


def _split_header(name):
    """``"x [nm]"`` -> ("x", "nm"); ``"snr"`` -> ("snr", "")."""
    m = _HEADER.match(str(name))
    return (m.group(1), m.group(2)) if m else (str(name), "")


def _grid_of(image):
    """The grid of an AtomicImage (or any signal with two signal axes)."""
    from .._grid import grid_from_axes

    return grid_from_axes(image.axes_manager.signal_axes)


def _default_grid(x, y, units):
    """A grid of scale 1 (in the table's units) that holds every atom: for a
    table without its image (maps then have one pixel per unit)."""
    g = {}
    for key, v in (("x", x), ("y", y)):
        top = float(np.nanmax(v)) if np.isfinite(v).any() else 0.0
        g[key] = {
            "size": int(np.ceil(max(top, 0.0))) + 1,
            "scale": 1.0,
            "offset": 0.0,
            "units": units,
            "name": key,
        }
    return g


def _open_new(path, overwrite):
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"`path` must be a file name, got {path!r:.60}.")
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(
            f"{path} exists; it is replaced only with overwrite=True."
        )
    return open(path, "w", encoding="utf-8")


def _elements(table, symbols):
    n = table.n_atoms
    if isinstance(symbols, str):
        return [symbols] * n
    if not isinstance(symbols, dict):
        raise TypeError(
            "`symbols` must be an element (str) or a dict of sublattice label to "
            f"element, got {symbols!r:.60}."
        )
    if "sublattice" not in table.columns:
        raise ValueError("`symbols` by sublattice needs a `sublattice` column.")
    lab = table.get_column("sublattice")
    out = []
    for v in lab:
        key = int(v) if np.isfinite(v) else None
        out.append(str(symbols.get(key, "X")))
    return out


class ExportMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

    @staticmethod
    def from_dataframe(df, units=None, grid=None, image=None):
        """An ``AtomPositions`` table from a :class:`pandas.DataFrame`.

        The inverse of :meth:`to_dataframe` (units and grid in
        ``df.attrs``) and of a CSV read back with :func:`pandas.read_csv`
        (headers ``name [unit]``, see :meth:`from_csv`).

        Parameters
        ----------
        df : pandas.DataFrame
            One row per atom, numeric columns, among them ``x`` and ``y``
            (calibrated).
        units : dict, optional
            Column name -> unit; default ``df.attrs["units"]``, else the
            units in the headers.
        grid : dict, optional
            The image grid (``x``, ``y``: size, scale, offset, units, name);
            default ``df.attrs["grid"]``, else the grid of ``image``, else a
            grid of scale 1 in the units of ``x`` that holds every atom.
        image : AtomicImage, optional
            The image the atoms come from, for its grid.

        Returns
        -------
        AtomPositions

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> from hyperspy_localcryst.signals.atom_positions import AtomPositions
        >>> atoms = synthetic_lattice(shape=(96, 96), seed=0).find_atoms()
        >>> back = AtomPositions.from_dataframe(atoms.to_dataframe())
        >>> bool(np.array_equal(back.data, atoms.data)), back.grid == atoms.grid
        (True, True)
        """
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise TypeError(
                f"`df` must be a pandas DataFrame, got {type(df).__name__}."
            )
        names, header_units = (
            zip(*(_split_header(c) for c in df.columns))
            if len(df.columns)
            else ((), ())
        )
        names = list(names)
        if "x" not in names or "y" not in names:
            raise ValueError(
                f"The table needs columns `x` and `y` (calibrated), got {names[:8]}."
            )
        if units is None:
            units = dict(df.attrs.get("units") or {}) or dict(zip(names, header_units))
        data = {}
        for col, name in zip(df.columns, names):
            v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
            if np.all(np.isnan(v)) and df[col].notna().any():
                raise ValueError(f"Column {col!r} is not numeric.")
            data[name] = v
        if grid is None:
            grid = df.attrs.get("grid")
        if grid is None and image is not None:
            grid = _grid_of(image)
        if grid is None:
            grid = _default_grid(data["x"], data["y"], units.get("x", ""))
        nav = df.attrs.get("navigation")
        return make_atom_positions(
            data,
            {k: str(units.get(k, "")) for k in data},
            grid,
            navigation=nav,
            title=str(df.attrs.get("title", "Atoms")),
        )

    @staticmethod
    def from_csv(path, image=None, grid=None):
        """An ``AtomPositions`` table read back from :meth:`to_csv`.

        Parameters
        ----------
        path : str or pathlib.Path
            A CSV whose headers read ``name [unit]`` (``atom`` is the index).
        image : AtomicImage, optional
            The image the atoms come from: its grid (a CSV does not hold it;
            without it the grid has one pixel per unit of ``x``).
        grid : dict, optional
            The grid itself, instead of ``image``.

        Returns
        -------
        AtomPositions

        Examples
        --------
        >>> import os, tempfile
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> from hyperspy_localcryst.signals.atom_positions import AtomPositions
        >>> image = synthetic_lattice(shape=(96, 96), seed=0)
        >>> atoms = image.find_atoms()
        >>> path = os.path.join(tempfile.mkdtemp(), "atoms.csv")
        >>> atoms.to_csv(path)
        >>> back = AtomPositions.from_csv(path, image=image)
        >>> bool(np.allclose(back.data, atoms.data)), back.units["x"]
        (True, 'nm')
        """
        import pandas as pd

        df = pd.read_csv(path)
        if len(df.columns) and str(df.columns[0]) == "atom":
            df = df.drop(columns="atom")
        return ExportMixin.from_dataframe(df, grid=grid, image=image)

    def _angstrom(self):
        u = self.units.get("x", "")
        if u not in _ANGSTROM:
            raise ValueError(
                f"Positions in {u or 'pixels'!r} cannot be written in Å: calibrate "
                "the image (a length unit: nm, Å, pm) first."
            )
        return _ANGSTROM[u]

    def _cell(self, thickness):
        f = self._angstrom()
        g = self.grid
        a = abs(g["x"]["scale"]) * g["x"]["size"] * f
        b = abs(g["y"]["scale"]) * g["y"]["size"] * f
        c = check_positive(thickness, "thickness", "a length in Å")
        x0 = (g["x"]["offset"] - 0.5 * g["x"]["scale"]) * f
        y0 = (g["y"]["offset"] - 0.5 * g["y"]["scale"]) * f
        x = self.get_column("x") * f - x0
        y = self.get_column("y") * f - y0
        if g["x"]["scale"] < 0:
            x = -x
        if g["y"]["scale"] < 0:
            y = -y
        return a, b, c, x, y

    def to_extxyz(self, path, symbols="X", thickness=10.0, overwrite=False):
        """Write the atoms as an extended XYZ file (ASE, OVITO), in Å.

        Parameters
        ----------
        path : str or pathlib.Path
            Output file (never replaced unless ``overwrite``).
        symbols : str or dict
            One element for all atoms, or ``{sublattice label: element}``
            (atoms of other labels: ``X``).
        thickness : float
            The cell's ``c`` (Å), along the projection.
        overwrite : bool

        Notes
        -----
        The cell is the field of view (``a`` along x, ``b`` along y) and
        periodic in-plane; ``pos`` are Cartesian Å from the image's corner,
        ``z = thickness / 2``; every numeric column of the table follows as a
        per-atom property (units in the comment line). ``ase.io.read(path)``
        gives an ``ase.Atoms``.

        Examples
        --------
        >>> import os, tempfile
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(96, 96), seed=0).find_atoms()
        >>> path = os.path.join(tempfile.mkdtemp(), "atoms.xyz")
        >>> atoms.to_extxyz(path, symbols="Sr")
        >>> open(path).readline().strip() == str(atoms.n_atoms)
        True
        """
        a, b, c, x, y = self._cell(thickness)
        els = _elements(self, symbols)
        extra = [k for k in self.columns if k not in ("x", "y")]
        values = {k: self.get_column(k) for k in extra}
        props = "species:S:1:pos:R:3" + "".join(f":{k}:R:1" for k in extra)
        units = " ".join(f"{k}={self.units.get(k) or '-'}" for k in extra)
        with _open_new(path, overwrite) as f:
            f.write(f"{self.n_atoms}\n")
            f.write(
                f'Lattice="{a:.6f} 0 0 0 {b:.6f} 0 0 0 {c:.6f}" '
                f'Properties={props} pbc="T T F" '
                f'source="hyperspy_localcryst" units="{units}"\n'
            )
            for i in range(self.n_atoms):
                rest = "".join(f" {values[k][i]:.10g}" for k in extra)
                f.write(f"{els[i]} {x[i]:.6f} {y[i]:.6f} {c / 2:.6f}{rest}\n")

    def to_cif(self, path, symbols="X", thickness=10.0, overwrite=False):
        """Write the atoms as a projected-structure CIF (P1, the field of
        view as the cell), in fractional coordinates.

        Parameters
        ----------
        path : str or pathlib.Path
            Output file (never replaced unless ``overwrite``).
        symbols : str or dict
            One element for all atoms, or ``{sublattice label: element}``.
        thickness : float
            The cell's ``c`` (Å), along the projection.
        overwrite : bool

        Examples
        --------
        >>> import os, tempfile
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(96, 96), seed=0).find_atoms()
        >>> path = os.path.join(tempfile.mkdtemp(), "atoms.cif")
        >>> atoms.to_cif(path, symbols="Sr")
        >>> "_symmetry_space_group_name_H-M 'P 1'" in open(path).read()
        True
        """
        a, b, c, x, y = self._cell(thickness)
        els = _elements(self, symbols)
        counts = {}
        with _open_new(path, overwrite) as f:
            f.write(
                "data_localcryst\n"
                "_audit_creation_method 'hyperspy_localcryst: projected structure "
                "of the atoms found in an image'\n"
                f"_cell_length_a {a:.6f}\n_cell_length_b {b:.6f}\n"
                f"_cell_length_c {c:.6f}\n_cell_angle_alpha 90\n"
                "_cell_angle_beta 90\n_cell_angle_gamma 90\n"
                "_symmetry_space_group_name_H-M 'P 1'\n"
                "_symmetry_Int_Tables_number 1\n"
                "loop_\n_atom_site_label\n_atom_site_type_symbol\n"
                "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
                "_atom_site_occupancy\n"
            )
            for i in range(self.n_atoms):
                counts[els[i]] = counts.get(els[i], 0) + 1
                f.write(
                    f"{els[i]}{counts[els[i]]} {els[i]} {x[i] / a:.6f} "
                    f"{y[i] / b:.6f} 0.500000 1\n"
                )
