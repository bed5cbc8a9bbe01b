"""Local strain and lattice parameters from the atoms (``get_strain``).

The numerics (:mod:`hyperspy_localcryst.numerics.strain`) take positions in
one unit; here they get the calibrated positions, so that the strain is that
of the specimen whatever the pixels (non-square pixels, a flipped axis), and
lengths come back in the image's units.
"""

from __future__ import annotations

import numpy as np

from ...numerics import strain as nstrain
from ...numerics._checks import check_array, check_integer
from . import _KEY
from ._table import _finite_positions

_COLUMNS = ("exx", "eyy", "exy", "lattice_rotation", "a", "b", "strain_residual")


class StrainMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

    def get_strain(self, reference=None, sublattice=None, reach=1.5, by=None):
        """Strain, rotation and local lattice parameters of every atom.

        Each atom's vectors to its neighbours of the same sublattice are
        matched to the translations of a reference lattice, and one local
        deformation is fitted to them by least squares
        (:func:`hyperspy_localcryst.numerics.strain.local_deformation`): its
        small-strain tensor and rotation against the reference, the local
        lengths of the reference vectors, and the misfit of the fit as a
        quality measure. Vectors that join two sites of a basis (A to B in a
        perovskite) or cross a defect match no translation and are left out.

        Parameters
        ----------
        reference : None, array_like of bool, or array_like (2, 2)
            The unstrained lattice. None (default): the median lattice of
            the image (the strain of the median atom is zero). A boolean
            mask (one value per atom): the median lattice of that region,
            e.g. the substrate. Two vectors (rows a1, a2, calibrated units,
            x and y): that lattice, e.g. the bulk cell of a known material.
        sublattice : int, optional
            Only this ``sublattice`` label (the others get NaN). Default:
            every label on its own (each its own lattice), or all atoms
            without labels.
        reach : float
            Neighbours within ``reach`` times the longer reference vector
            (1.5: 8 neighbours on a square lattice).
        by : str, optional
            A column of group labels, e.g. ``"phase"`` (from
            :meth:`AtomNeighbourhoods.find_phases`): each group of each
            sublattice is its own lattice, with its own reference (the
            median lattice of the group, or of the group's part of a
            ``reference`` region), so two phases or twins are each measured
            against their own cell, not against a mix of both. Atoms with a
            negative or NaN label (boundaries, unassigned) get NaN;
            neighbours never come from another group.

        Returns
        -------
        AtomPositions
            The table with new columns ``exx``, ``eyy``, ``exy`` (strain
            along the image's axes; dimensionless), ``lattice_rotation``
            (deg, from +x towards +y; not ``rotation``, which is each
            neighbourhood's orientation), ``a``, ``b`` (local lengths of the reference
            vectors, calibrated units), ``strain_residual`` (RMS misfit of
            one deformation to the neighbour vectors, calibrated units: large
            at a dislocation core, a boundary or a wrong atom) and
            ``strain_neighbours`` (neighbours used; NaN values where fewer
            than 4, or where they lie on one side of the atom, as at the
            edge of the image or of a crystal: such a neighbourhood measures
            the deformation half-way to its neighbours).
            ``metadata.AtomPositions.strain`` records the reference vectors
            of each sublattice, and in ``skipped`` the sublattices that form
            no lattice (their atoms get NaN; only when none forms one is it
            an error).

        Examples
        --------
        A square lattice stretched by 1 % along x from its left to its right
        edge:

        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> image = synthetic_lattice(shape=(160, 200), spacing=16, seed=0,
        ...     displacement=lambda x, y, s: (0.01 * (x - 100) ** 2 / 400, 0 * y))
        >>> atoms = image.refine_atoms(image.find_atoms())
        >>> e = atoms.get_strain().get_column("exx")
        >>> x = atoms.get_column("x")
        >>> slope = np.polyfit(x[np.isfinite(e)], e[np.isfinite(e)], 1)[0]
        >>> round(float(slope) * 2.0, 2)  # per 200 px = 2 nm: 1 %
        0.01
        """
        _finite_positions(self, "get_strain")
        grid = self.grid
        scale = np.array([float(grid["x"]["scale"]), float(grid["y"]["scale"])])
        x, y = self.get_column("x"), self.get_column("y")
        xp, yp = self.get_pixel_positions()
        n = self.n_atoms
        labels = self.get_column("sublattice") if "sublattice" in self.columns else None
        groups = []
        if sublattice is not None:
            k = check_integer(sublattice, "sublattice")
            if labels is None or not np.any(labels == k):
                present = (
                    []
                    if labels is None
                    else sorted({int(v) for v in labels[np.isfinite(labels)]})
                )
                raise ValueError(
                    f"`sublattice` = {k} is not a label of this table (labels: "
                    f"{present}); label the atoms with `label_sublattices` first "
                    "or give None."
                )
            groups = [(k, np.flatnonzero(labels == k))]
        elif labels is not None and np.isfinite(labels).any():
            groups = [
                (int(k), np.flatnonzero(labels == k))
                for k in np.unique(labels[np.isfinite(labels)])
            ]
        else:
            groups = [(None, np.arange(n))]
        if by is not None:
            if not isinstance(by, str) or by not in self.columns:
                raise ValueError(
                    f"`by` must be a column of the table, got {by!r:.60} "
                    f"(columns: {self.columns})."
                )
            g = self.get_column(by)
            split = []
            for k, rows in groups:
                vals = g[rows]
                for v in np.unique(vals[np.isfinite(vals) & (vals >= 0)]):
                    key = f"{by} {v:g}" if k is None else f"{k}, {by} {v:g}"
                    split.append((key, rows[vals == v]))
            if not split:
                raise ValueError(f"No atom has a label of 0 or more in `{by}`.")
            groups = split
        region = given = None
        if reference is not None:
            arr = np.asarray(reference)
            if arr.dtype == bool:
                if arr.shape != (n,):
                    raise ValueError(
                        f"A `reference` region must have one value per atom ({n}), "
                        f"got shape {arr.shape}."
                    )
                region = arr
            else:
                given = check_array(reference, "reference", ndim=2)
                if given.shape != (2, 2):
                    raise ValueError(
                        "`reference` must be None, a boolean region (one value per "
                        "atom) or two lattice vectors (rows a1, a2, calibrated "
                        f"x, y), got shape {given.shape}."
                    )
        frame = self.get_frames()
        out = {c: np.full(n, np.nan) for c in _COLUMNS + ("strain_neighbours",)}
        record, skipped = {}, {}
        for k, rows in groups:
            if given is not None:
                ref = given
            else:
                from ...numerics.lattice import find_lattice_vectors

                try:
                    fit = find_lattice_vectors(xp[rows], yp[rows], groups=frame[rows])
                except ValueError as err:  # this sublattice forms no lattice
                    if len(groups) == 1:
                        raise
                    skipped["all" if k is None else str(k)] = str(err)
                    continue
                ref = fit["vectors"] * scale  # calibrated, each axis its scale
            r = nstrain.local_deformation(
                x[rows], y[rows], ref, frame=frame[rows], reach=reach
            )
            F = r["F"]
            if given is None:
                # the median lattice of the image, or of the region
                pick = np.isfinite(F[:, 0, 0])
                if region is not None:
                    pick &= region[rows]
                    if not pick.any():
                        raise ValueError(
                            f"The `reference` region holds no measured atom"
                            f"{'' if k is None else f' of sublattice {k}'}."
                        )
                F0 = np.median(F[pick], axis=0)
                F = F @ np.linalg.inv(F0)
                ref = ref @ F0.T
            comp = nstrain.strain_components(F, ref)
            for c in ("exx", "eyy", "exy", "a", "b"):
                out[c][rows] = comp[c]
            out["lattice_rotation"][rows] = comp["rotation"]
            out["strain_residual"][rows] = r["residual"]
            out["strain_neighbours"][rows] = np.where(
                np.isfinite(F[:, 0, 0]), r["n_neighbours"], np.nan
            )
            record["all" if k is None else str(k)] = np.asarray(ref).tolist()
        if not record:
            raise ValueError(
                "No sublattice forms a lattice: "
                + "; ".join(f"sublattice {k}: {e}" for k, e in skipped.items())
            )
        units = self.units.get("x", "")
        new = self.add_columns(
            out,
            {
                "exx": "",
                "eyy": "",
                "exy": "",
                "lattice_rotation": "deg",
                "a": units,
                "b": units,
                "strain_residual": units,
                "strain_neighbours": "",
            },
        )
        new.metadata.set_item(
            f"{_KEY}.strain",
            {
                "reference": "median"
                if reference is None
                else ("region" if region is not None else "given"),
                "vectors": record,
                "skipped": skipped,
                "reach": float(reach),
                "by": "" if by is None else by,
            },
        )
        return new
