"""The local lattice: lattice parameters per sublattice and defects
(``get_lattice_parameters``, ``get_defects``)."""

from __future__ import annotations

import numpy as np

from ...numerics._checks import check_array
from .._grid import (
    check_number,
    to_calibrated,
)
from ._table import _finite_positions


class LatticeMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

    # ------------------------------------------------------------- lattice
    def get_lattice_parameters(self, sublattice=None):
        """Lattice parameters (a, b, gamma) measured from the atom positions.

        The two primitive translations of the structure are found from the
        neighbour vectors and fitted by least squares to all atoms at once
        (:func:`hyperspy_localcryst.numerics.lattice.find_lattice_vectors`),
        so their precision is far below a pixel. Pixels may be non-square:
        the vectors are converted with the scale of each axis.

        Parameters
        ----------
        sublattice : int, optional
            Only the atoms of this ``sublattice`` label. Default: all atoms;
            a translation must then map atoms onto atoms of the same type:
            a vector that joins unlike atoms, by the ``sublattice`` labels
            (when there are several) or by the fitted ``amplitude`` (the
            ``peak`` value of found atoms), is not one. In SrTiO3 [001] the
            Sr-Ti half-diagonal is not a translation.

        Returns
        -------
        dict
            ``a <= b`` and ``gamma`` (deg; 90 to 120, a reduced cell) with
            standard errors ``a_err``, ``b_err``, ``gamma_err`` (from the
            residual scatter of the fit, taken as independent: they hold for
            random position errors; a smooth distortion, e.g. of the scan,
            makes the residuals correlated and the errors optimistic, which
            ``residual_rms`` well above the position errors reveals),
            ``units``, ``a_vector`` and
            ``b_vector`` (calibrated x, y), ``orientation`` (deg, direction
            of ``a`` from +x towards +y), ``sublattice``, ``n_atoms``
            (fitted), ``n_outliers`` (left out), ``residual_rms`` (per axis,
            pixels).

        Raises
        ------
        ValueError
            For an unknown sublattice label, fewer than 6 atoms, or atoms that
            do not form a lattice.

        Examples
        --------
        A square lattice of 20 px at 0.01 nm/px, turned by 10 degrees:

        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> img = synthetic_lattice(shape=(160, 200), rotation=10.0, seed=0)
        >>> atoms = img.refine_atoms(img.find_atoms())
        >>> p = atoms.get_lattice_parameters()
        >>> round(p["a"], 3), round(p["b"], 3), round(p["gamma"]), p["units"]
        (0.2, 0.2, 90, 'nm')
        >>> p["a_err"] < 1e-3
        True
        """
        from ...numerics.lattice import find_lattice_vectors, lattice_parameters

        grid = self.grid
        x, y = self.get_pixel_positions()
        cols = self.columns
        labels = self.get_column("sublattice") if "sublattice" in cols else None
        keep = np.ones(x.size, dtype=bool)
        if sublattice is not None:
            k = check_number(sublattice, "sublattice", "a sublattice label (int)")
            present = (
                np.unique(labels[np.isfinite(labels)]) if labels is not None else []
            )
            if labels is None or k not in present:
                raise ValueError(
                    f"`sublattice` = {sublattice!r} is not a label of this table "
                    f"(labels: {[int(v) for v in present]}); label the atoms with "
                    "`label_sublattices` first or give None for all atoms."
                )
            keep = labels == k
        types = values = None
        if (
            labels is not None
            and len(np.unique(labels[keep & np.isfinite(labels)])) > 1
        ):
            types = labels[keep]
        for name in ("amplitude", "peak"):
            if name in cols:
                values = self.get_column(name)[keep]
                break
        groups = self.get_column("frame")[keep] if "frame" in cols else None
        fit = find_lattice_vectors(
            x[keep], y[keep], types=types, values=values, groups=groups
        )
        scale = (float(grid["x"]["scale"]), float(grid["y"]["scale"]))
        out = lattice_parameters(fit["vectors"], fit["covariance"], scale=scale)
        del out["covariance"]
        out.update(
            units=str(grid["x"]["units"] or ""),
            sublattice=None if sublattice is None else int(sublattice),
            n_atoms=fit["n_atoms"],
            n_outliers=fit["n_outliers"],
            residual_rms=fit["residual_rms"],
        )
        return out

    def get_defects(
        self,
        vectors=None,
        labels="auto",
        groups=None,
        tolerance=0.3,
        min_votes=2,
        merge_distance=1.5,
    ):
        """Vacancies, interstitials, dislocations and antiphase boundaries of
        the lattice the atoms form.

        Local translations predict each atom's neighbours: empty predicted
        sites are vacancies, atoms no translation predicts and off the
        lattice are interstitials, regions whose sites are shifted against
        each other by a vector that is not a translation are translation
        domains, with antiphase boundaries between them (on a surface, a
        step between terraces in different registry), and Burgers circuits
        on one Bravais sublattice find dislocation cores and their Burgers
        vectors
        (:func:`hyperspy_localcryst.numerics.defects.find_defects`; method,
        limits and the sign convention in its module notes: circuits
        counter-clockwise as seen on the displayed image, FS/RH with the line
        into the screen). Sites outside the image or within half a spacing of
        its border are not vacancies.

        Parameters
        ----------
        vectors : array_like, shape (2, 2), optional
            Two primitive translations (rows, calibrated x and y). Default:
            measured from the atoms (of each group), the ``sublattice`` labels
            telling types apart.
        labels : str or None
            Column of site or type labels (dislocation circuits on the most
            frequent label; measured translations map labels onto
            themselves). ``"auto"``: ``sublattice`` when the table has it.
        groups : str, optional
            Column of phase labels (-1: unassigned): each group is analysed
            with its own translations (``vectors`` not allowed then).
        tolerance : float
            Largest distance between a predicted site and the atom filling
            it, as a fraction of the shortest translation.
        min_votes : int
            Atoms that must predict an empty site (1 to 4).
        merge_distance : float
            Non-zero Burgers circuits within this many cells are one core.

        Returns
        -------
        pandas.DataFrame
            One row per defect: ``type`` (``vacancy``, ``interstitial``,
            ``dislocation``, ``antiphase_boundary``: one point of a boundary
            between translation domains), ``x``, ``y``, ``burgers_x``,
            ``burgers_y`` (calibrated; NaN but for dislocations), ``atom``
            (row of the interstitial atom in this table, else -1), ``group``
            and ``votes`` (atoms predicting a vacancy). ``attrs["units"]``
            holds the length unit, ``attrs["vectors"]`` the translations used
            per group (calibrated) and ``attrs["domain"]`` the translation
            domain of each atom of this table (-1 for none).

        Raises
        ------
        ValueError
            For a table of an image stack (a ``frame`` column: take one frame
            with ``get_frame``), NaN positions, or atoms that form no
            lattice.

        Examples
        --------
        Two sites removed from a synthetic square lattice (20 px, 0.01 nm/px):

        >>> import numpy as np
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(160, 200), seed=0).find_atoms()
        >>> x = atoms.get_column("x")
        >>> keep = np.ones(x.size, bool)
        >>> keep[[20, 41]] = False
        >>> d = atoms.select(keep).get_defects()
        >>> d["type"].tolist()
        ['vacancy', 'vacancy']
        >>> bool(np.allclose(d["x"], x[[20, 41]], atol=0.02))
        True
        """
        import pandas as pd

        from ...numerics.defects import find_defects

        cols = self.columns
        if "frame" in cols:
            raise ValueError(
                "`get_defects` works on the atoms of one image; this table holds "
                f"{self.n_frames} frames: take one with `atoms.get_frame(k)`."
            )
        _finite_positions(self, "get_defects")
        grid = self.grid
        sx, sy = float(grid["x"]["scale"]), float(grid["y"]["scale"])
        x, y = self.get_pixel_positions()
        if isinstance(labels, str) and labels == "auto":
            labels = "sublattice" if "sublattice" in cols else None
        lab = None if labels is None else self._values(labels, "labels")
        grp = None if groups is None else self._values(groups, "groups")
        if vectors is not None:
            v = check_array(vectors, "vectors", ndim=2, finite=True)
            if v.shape != (2, 2):
                raise ValueError(
                    f"`vectors` must have shape (2, 2) (rows, calibrated x and y), "
                    f"got {v.shape}."
                )
            vectors = v / [sx, sy]
        extent = (int(grid["y"]["size"]), int(grid["x"]["size"]))
        d = find_defects(
            x,
            y,
            vectors=vectors,
            labels=lab,
            groups=grp,
            extent=extent,
            tolerance=tolerance,
            min_votes=min_votes,
            merge_distance=merge_distance,
        )
        cx, cy = to_calibrated(grid, d["x"], d["y"])
        df = pd.DataFrame(
            {
                "type": d["type"].astype(str),
                "x": cx,
                "y": cy,
                "burgers_x": d["burgers_x"] * sx,
                "burgers_y": d["burgers_y"] * sy,
                "atom": d["atom"],
                "group": d["group"],
                "votes": d["votes"],
            }
        )
        df.attrs["units"] = str(grid["x"]["units"] or "")
        df.attrs["domain"] = d["domain"].tolist()
        df.attrs["vectors"] = {
            k: (np.asarray(v) * [sx, sy]).tolist() for k, v in d["vectors"].items()
        }
        return df
