"""Sublattice labels from the positions' translational order and the
columns' intensities (``label_sublattices``)."""

from __future__ import annotations

import warnings

import numpy as np

from ..._docstrings import fill_doc
from ...numerics.frames import frame_members
from .._grid import (
    check_integer,
    check_n_sublattices,
)
from . import _KEY
from ._table import _plain


class SublatticesMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

    @fill_doc
    def label_sublattices(
        self, n_sublattices=2, column=None, seed=0, method="structure"
    ):
        """Label atom types (sublattices), 0 = brightest.

        Parameters
        ----------
        n_sublattices : int, None or "auto", default 2
            Number of atom types. ``None``/``"auto"`` (structure only): one
            type per site of the cell found.
        column : str, optional
            Intensity column, e.g. ``"amplitude"`` or ``"intensity"`` after
            refinement, ``"peak"`` after finding. Default: the first of
            ``"amplitude"``, ``"intensity"``, ``"peak"`` in the table.
        %(SEED_ARG)s
            Here: the mixture fit (``method="intensity"``, and the structure
            method's fallback).
        method : {"structure", "intensity"}, default "structure"
            ``"structure"``: the sites of the local cell (atoms linked by
            the lattice translations, found from the positions and the
            locally normalised intensity), merged by mean intensity
            (:func:`hyperspy_localcryst.numerics.sublattices.label_sublattices`);
            slow gradients of thickness or height do not change the labels.
            When the cell has fewer sites than ``n_sublattices``, a site is
            split by a significant order within it (ABF of SrTiO3 [001]:
            Sr and Ti-O apart, on the true cell; the sentence is recorded
            as ``split``); failing that, the atoms are split by locally
            normalised intensity, with a warning.
            ``"intensity"``: a 1D Gaussian mixture of the column's values
            over the whole image (the former behaviour).

        Returns
        -------
        AtomPositions
            With a ``sublattice`` column: 0 = brightest type. An atom
            without a finite intensity (a failed fit) gets the label of its
            site with the structure method, NaN otherwise.
            ``metadata.AtomPositions.settings.sublattices`` records the
            method, the column and, for the structure method, the cell
            vectors (``a1``, ``a2``, calibrated units; one row per frame of
            a stack), the number of sites and their fractional offsets.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> img = synthetic_lattice(shape=(128, 160), lattice="perovskite",
        ...                         sublattice_peaks=(200, 80), seed=0)
        >>> atoms = img.find_atoms().label_sublattices(2, column="peak")
        >>> sorted(set(atoms.get_column("sublattice").tolist()))
        [0.0, 1.0]
        >>> atoms.metadata.AtomPositions.settings.sublattices.method
        'structure'
        """
        from ...numerics import sublattices as sl
        from ...numerics.finding import label_by_intensity

        if not isinstance(method, str) or method not in ("structure", "intensity"):
            raise ValueError(
                f"`method` must be 'structure' or 'intensity', got {method!r:.60}."
            )
        auto = n_sublattices is None or (
            isinstance(n_sublattices, str) and n_sublattices == "auto"
        )
        if auto and method == "intensity":
            raise ValueError(
                "`n_sublattices` = 'auto' needs method='structure'; give a "
                "number of sublattices for method='intensity'."
            )
        if not auto:
            n_sublattices = check_integer(n_sublattices, "n_sublattices", minimum=1)
        if seed is not None:
            seed = check_integer(seed, "seed", minimum=0, maximum=2**32 - 1)
        if column is None:
            have = [c for c in ("amplitude", "intensity", "peak") if c in self.columns]
            if not have:
                raise ValueError(
                    "No intensity column ('amplitude', 'intensity' or 'peak') in "
                    f"this table ({self.columns}); give one as `column`."
                )
            column = have[0]
        v = self._values(column, "column")
        good = np.isfinite(v)
        lab = np.full(self.n_atoms, np.nan)
        check_n_sublattices(
            1 if auto else n_sublattices,
            int(good.sum()),
            f"atoms with a finite {column!r}",
        )
        if not good.all():
            warnings.warn(
                f"{int((~good).sum())} atom(s) have no finite {column!r}; their "
                "sublattice is "
                + (
                    "NaN."
                    if method == "intensity"
                    else "that of their site (NaN if the structure is not used)."
                ),
                stacklevel=2,
            )
        record = {"method": method, "column": column}
        if method == "intensity":
            lab[good] = label_by_intensity(v[good], n_sublattices, seed=seed)
        else:
            x, y = self.get_pixel_positions()
            frames = self.get_frames()
            g = self.grid
            sx, sy = g["x"]["scale"], g["y"]["scale"]
            per_frame = []
            for f, sel, _ in frame_members(frames, np.flatnonzero(good)):
                if np.isfinite(v[sel]).sum() < (1 if auto else n_sublattices):
                    continue
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    labels, info = sl.label_sublattices(
                        x[sel], y[sel], v[sel], "auto" if auto else n_sublattices
                    )
                for w in caught:
                    warnings.warn(
                        (f"Frame {int(f)}: " if self.n_frames > 1 else "")
                        + str(w.message),
                        w.category,
                        stacklevel=2,
                    )
                lab[sel] = np.where(labels >= 0, labels, np.nan)
                per_frame.append(
                    {
                        "frame": int(f),
                        "method": info["method"],
                        "a1": [float(info["a1"][0] * sx), float(info["a1"][1] * sy)],
                        "a2": [float(info["a2"][0] * sx), float(info["a2"][1] * sy)],
                        "n_sites": int(info.get("n_sites", 0)),
                        "site_offsets": np.asarray(
                            info.get("site_offsets", np.empty((0, 2))), float
                        ).tolist(),
                        "site_label": np.asarray(
                            info.get("site_label", []), int
                        ).tolist(),
                        "split": info.get("split", ""),
                    }
                )
            if per_frame:
                one = len(per_frame) == 1

                def field(name, dtype=float):
                    vals = [np.asarray(p[name], dtype) for p in per_frame]
                    return vals[0] if one else np.array(vals)

                record.update(
                    units=g["x"].get("units", ""),
                    a1=field("a1"),
                    a2=field("a2"),
                    n_sites=int(per_frame[0]["n_sites"])
                    if one
                    else field("n_sites", int),
                    labelled_by=per_frame[0]["method"]
                    if one
                    else [p["method"] for p in per_frame],
                )
                if one:
                    record["site_offsets"] = np.asarray(
                        per_frame[0]["site_offsets"], float
                    ).reshape(-1, 2)
                    record["site_label"] = np.asarray(per_frame[0]["site_label"], int)
                    if per_frame[0]["split"]:
                        record["split"] = per_frame[0]["split"]
                else:
                    record["frames"] = np.array([p["frame"] for p in per_frame])
        out = self.add_columns({"sublattice": lab}, {"sublattice": ""})
        settings = out.metadata.get_item(f"{_KEY}.settings")
        settings = settings.as_dictionary() if settings is not None else {}
        settings["sublattices"] = _plain(record)  # a copy: self keeps its own
        out.metadata.set_item(f"{_KEY}.settings", settings)
        return out
