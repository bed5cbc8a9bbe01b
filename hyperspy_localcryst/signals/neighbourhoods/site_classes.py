"""Site classes: how many kinds of neighbourhood the image holds, with the
reason for every split made or refused (``find_site_classes``)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.spatial import cKDTree

from ..._docstrings import fill_doc
from ...numerics import class_count
from ...numerics._checks import check_array
from ...numerics._parallel import kd_query
from ...numerics.frames import frame_members
from .._grid import (
    check_at_most,
    check_integer,
)
from . import _KEY


class _FixedLabels:
    """A clustering 'estimator' whose labels are already known (HyperSpy's
    cluster_analysis stores them as its results)."""

    def __init__(self, labels):
        self.labels = np.asarray(labels)

    def fit(self, X, y=None):
        self.labels_ = self.labels
        return self

    def __repr__(self):
        return "site classes"


def _types_differ(kinds, amplitude):
    """Whether atom types differ in brightness: some two types' median
    amplitudes lie at least one pooled robust spread apart (sites that a
    doubled cell of one kind of atom makes look alike, and are not used as
    types). True without amplitudes."""
    if amplitude is None:
        return True
    stats = []
    for t in np.unique(kinds[kinds >= 0]):
        a = amplitude[(kinds == t) & np.isfinite(amplitude)]
        if a.size < 3:
            continue
        m = float(np.median(a))
        stats.append((m, 1.4826 * float(np.median(np.abs(a - m)))))
    for i in range(len(stats)):
        for j in range(i + 1, len(stats)):
            (m1, s1), (m2, s2) = stats[i], stats[j]
            if abs(m1 - m2) >= np.hypot(s1, s2):
                return True
    return False


def _typed_by_structure(atoms):
    """Whether the atoms' ``sublattice`` column holds sites of the structure
    (not the local-intensity split used when the cell has fewer sites)."""
    rec = atoms.metadata.get_item("AtomPositions.settings.sublattices", None)
    if rec is None or "sublattice" not in atoms.columns:
        return False
    by = rec.get_item("labelled_by", None) if hasattr(rec, "get_item") else None
    by = [by] if isinstance(by, str) else list(by if by is not None else [])
    return bool(by) and all(b == "structure" for b in by)


def _count_by_type(X, noise, kinds, extra=None, open_shell=None, **kw):
    """Classes counted within each atom type (``kinds``; None: one type),
    then, with ``extra`` (brightness columns and their noise), within each
    geometric class by brightness; classes numbered by size over all;
    rows without a type join the nearest class centroid. ``open_shell``
    (per row) refuses geometric splits between neighbourhoods that cut a
    shell."""
    n = len(X)
    if kinds is None:
        kinds = np.zeros(n, dtype=np.int64)
    labels = np.full(n, -1, dtype=np.int64)
    cents, reasons, splits, outliers = [], [], [], np.zeros(n, bool)
    few = 2 * kw["min_size"]

    def count(rows, F, E, what, cut=None):
        if rows.size < few:
            return np.zeros(rows.size, dtype=np.int64), f"{what}: too few to split"
        res = class_count.count_classes(
            F[rows],
            None if E is None else E[rows],
            open_shell=None if cut is None else cut[rows],
            **kw,
        )
        splits.extend(dict(sp, what=what) for sp in res.splits)
        outliers[rows] |= res.outliers
        return res.labels, f"{what}: {res.reason}"

    n_types = len(np.unique(kinds[kinds >= 0]))
    for t in np.unique(kinds[kinds >= 0]):
        rows = np.flatnonzero(kinds == t)
        name = f"type {t}" if n_types > 1 else "geometry"
        lab, why = count(rows, X, noise, name, open_shell)
        reasons.append(why)
        for g in np.unique(lab[lab >= 0]):
            sub = rows[lab == g]
            if extra is not None:
                lab2, why2 = count(
                    sub, extra[0], extra[1], f"{name} class {g}, brightness"
                )
                if lab2.max() > 0:
                    reasons.append(why2)
            else:
                lab2 = np.zeros(sub.size, dtype=np.int64)
            for h in np.unique(lab2[lab2 >= 0]):
                members = sub[lab2 == h]
                labels[members] = len(cents)
                cents.append(X[members].mean(axis=0))
            labels[sub[lab2 < 0]] = -1
    C = np.array(cents)
    rest = np.flatnonzero((labels < 0) & np.isfinite(X).all(axis=1))
    if rest.size:
        d = ((X[rest][:, None, :] - C[None]) ** 2).sum(axis=2)
        labels[rest] = d.argmin(axis=1)
    size = np.bincount(labels[labels >= 0], minlength=len(C))
    order = np.argsort(-size, kind="stable")
    rank = np.empty(len(C), dtype=np.int64)
    rank[order] = np.arange(len(C))
    labels = np.where(labels >= 0, rank[np.maximum(labels, 0)], -1)
    how = f"within each of {n_types} atom types" if n_types > 1 else "by geometry"
    if extra is not None:
        how += ", then by brightness within each"
    reason = f"{len(C)} classes, counted {how}: " + "; ".join(reasons)
    return class_count.ClassCount(
        n_classes=len(C),
        labels=labels,
        centroids=C[order],
        outliers=outliers,
        splits=splits,
        reason=reason,
    )


class SiteClassesMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_neighbourhoods.
    AtomNeighbourhoods` (the class inherits them; see the module docstring)."""

    def _atom_errors(self):
        """Per-axis position errors of each centre ``(n,)`` and of its
        neighbours ``(n, k)`` (in the order of :meth:`_pairs`), calibrated.

        An atom's error is the isotropic ``sqrt((x_err**2 + y_err**2) / 2)``;
        the neighbour is the atom the image-frame vector points at. None when
        the atoms carry no errors (not refined).
        """
        atoms = self.atoms
        if not {"x_err", "y_err"} <= set(atoms.columns):
            return None
        e = np.sqrt(
            (atoms.get_column("x_err") ** 2 + atoms.get_column("y_err") ** 2) / 2
        )
        if not np.isfinite(e).any():
            return None
        e = np.where(np.isfinite(e), e, np.nanmedian(e))
        centres = self.centre_indices
        neighbour, v = self._neighbour_indices()
        en = np.where(np.isfinite(v[..., 0]), e[neighbour], np.nan)
        return e[centres], en

    def _feature_noise(self):
        """Standard deviation of every value from the atoms' position errors.

        Each vector component's noise is ``sqrt(e_c**2 + e_n**2)`` with ``e``
        an atom's isotropic error (centre and neighbour, see
        :meth:`_atom_errors`). None when the atoms carry no errors.
        """
        errors = self._atom_errors()
        if errors is None:
            return None
        ec, en = errors
        order, k = self._pairs("the measurement noise")
        sd = np.sqrt(ec[:, None] ** 2 + en**2)  # (n, k)
        out = np.empty((len(ec), 2 * k))
        out[:, order] = np.repeat(sd, 2, axis=1)
        return out

    @fill_doc
    def find_site_classes(
        self,
        max_classes=8,
        n_sigma=3.0,
        min_size=10,
        max_dip=0.7,
        seed=0,
        types="auto",
        contrast=True,
    ):
        """Classes of neighbourhoods that the data support, and why that many.

        The number of classes is not a choice here: a class is split in two
        only where its neighbourhoods form two modes (a clear dip in density
        along the best of a few directions, deeper than a Gaussian cloud of
        the same size and shape shows by chance) that lie farther apart than
        ``n_sigma`` times the measurement noise, propagated from the atoms'
        position errors ``x_err``, ``y_err``
        (:func:`~hyperspy_localcryst.numerics.class_count.count_classes`). A
        single crystal gives one class per distinct site (e.g. 2 on SrTiO3
        [001]: the A and B sites), a unimodal cloud gives 1, and noise never
        makes a class. Neighbourhoods isolated in feature space (defects,
        edges) join the nearest class and are counted in the reason. A split
        between two groups of neighbourhoods that both, for most of their
        centres, cut a shell (the next neighbour within 5 % of the last,
        :func:`~hyperspy_localcryst.numerics.neighbourhoods.open_shell`) is
        not made: which members of the shell they keep is then decided by
        noise (a square phase beside a hexagonal one, with the hexagonal
        ``k`` = 6, keeps 2 of its 4 second neighbours).

        With ``contrast`` (default), the contrast of each column to its
        neighbours joins the vectors, so that chemically different columns in
        the same geometry (the A sites of PbTiO3 and SrRuO3) are different
        classes when the data support it.

        With ``types`` (by default the atoms' ``sublattice`` column, when
        there is one: the atom types found by
        :meth:`~hyperspy_localcryst.signals.AtomPositions.label_sublattices`,
        which use intensity), the classes are counted within each type, so a
        site class is one type in one environment: in a polar perovskite the
        A site of one domain and the B site of the opposite domain have the
        same neighbour vectors, and only the type tells them apart.

        The labels are stored as HyperSpy cluster results (k-means started
        from the classes found), so :meth:`get_cluster_labels`,
        :meth:`get_cluster_map`, :meth:`get_cluster_fft` and the plots work
        as after :meth:`cluster_analysis`; class 0 is the largest. The
        number, the reason and every split tried are kept in
        ``metadata.AtomNeighbourhoods.site_classes``.

        Parameters
        ----------
        max_classes : int
            Most classes.
        n_sigma : float
            Least separation of two classes, in measurement-noise units.
        min_size : int
            Fewest centres in a class.
        max_dip : float
            Largest density between two modes relative to the lower peak.
        %(SEED_ARG)s
        types : "auto", str, array_like or None
            Atom type of every atom of the table (``-1`` for none), or the
            name of a column holding it; ``"auto"``: the ``sublattice``
            column when its labels are sites of the structure (not the
            local-intensity split made when the cell has fewer sites than
            asked) that differ in brightness (median amplitudes at least
            one pooled robust spread apart: not two rows of one kind of
            atom), a label split in two where a periodic order lives inside
            it (:func:`~hyperspy_localcryst.numerics.sublattices.split_types`:
            two labels of an ABF [001] perovskite are cations and O, and Sr
            and Ti-O are a checkerboard inside the cations); ``None``:
            geometry alone.
        contrast : bool
            Add each centre's brightness, when the atoms were refined: the
            log of its fitted ``amplitude``, and its contrast to its
            neighbours (minus the median log amplitude of its neighbours): a
            Pb and a Sr column in the same environment differ in both. The
            noise of each is measured from the data (the scatter between
            each centre and its nearest centre of the same type), and they
            enter the class count in those noise units, like the vectors; a
            slow thickness or height gradient is a continuum, not two
            modes, so it makes no class.

        Returns
        -------
        ClassCount
            ``n_classes``, ``labels``, ``reason`` and the splits tried (see
            :class:`~hyperspy_localcryst.numerics.class_count.ClassCount`).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(160, 160), seed=0)
        >>> atoms = s.refine_atoms(s.find_atoms())
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> result = nb.find_site_classes()
        >>> result.n_classes
        1
        >>> nb.metadata.AtomNeighbourhoods.site_classes.n_classes
        1
        """
        self._n_rows()
        max_classes = check_integer(max_classes, "max_classes", minimum=1)
        X = self._table()
        if not np.isfinite(X).all():
            raise ValueError(
                "Some neighbourhoods have missing (NaN) vectors (`radius` mode); "
                "fill them first with `nb.fill_missing()` or use `n_neighbours`."
            )
        check_at_most(max_classes, "max_classes", len(X), "centre atoms")
        kinds = self._centre_types(types)
        kw = dict(
            max_classes=max_classes,
            min_size=min_size,
            max_dip=max_dip,
            n_sigma=n_sigma,
            seed=seed,
        )
        noise = self._feature_noise()
        extra = self._contrast_feature(kinds, noise) if contrast else None
        used_contrast = extra is not None
        cut = self._open_shell()
        if kinds is None and extra is None:
            result = class_count.count_classes(X, noise, open_shell=cut, **kw)
        else:
            result = _count_by_type(X, noise, kinds, extra, open_shell=cut, **kw)
        self.cluster_analysis(
            n_clusters=result.n_classes,
            algorithm=_FixedLabels(result.labels),
            random_state=seed,
        )
        # as after a named algorithm: no estimator object (its start
        # centroids cannot be written to a file)
        self.learning_results.cluster_algorithm = None
        lab = self._labels()
        result.labels = lab
        self.metadata.set_item(
            f"{_KEY}.site_classes",
            {
                "n_classes": int(result.n_classes),
                "reason": result.reason,
                "n_outliers": int(result.outliers.sum()),
                "n_sigma": float(n_sigma),
                "max_classes": int(max_classes),
                "types": "none" if kinds is None else self._types_name(types),
                "type_splits": [
                    {"type": sp["type"], "new_type": sp["new_type"]}
                    for sp in (getattr(self, "_type_splits", None) or [])
                ]
                if kinds is not None
                else [],
                "contrast": bool(used_contrast),
                "class_types": [
                    -1
                    if kinds is None or not (lab == c).any()
                    else int(np.bincount(np.maximum(kinds[lab == c], 0)).argmax())
                    for c in range(int(result.n_classes))
                ],
                "splits": [
                    {k: v for k, v in sp.items() if k != "sizes"}
                    for sp in result.splits
                ],
            },
        )
        return result

    def _open_shell(self):
        """Whether each centre's neighbourhood cuts a shell (its next
        neighbour within 5 % of its last,
        :func:`~hyperspy_localcryst.numerics.neighbourhoods.open_shell`),
        per frame; None where the frame has too few atoms."""
        from ...numerics.neighbourhoods import open_shell

        atoms = self.atoms
        k = self.get_vectors("image").shape[1]
        xy = np.column_stack([atoms.get_column("x"), atoms.get_column("y")])
        centres = self.centre_indices
        out = np.zeros(len(centres), dtype=bool)
        for _, members, rows in frame_members(atoms.get_frames(), centres):
            if members.size < k + 2:
                return None
            local = np.searchsorted(members, centres[rows])
            out[rows] = open_shell(xy[members, 0], xy[members, 1], k, local)
        return out

    def _neighbour_indices(self):
        """Atom index of every neighbour of every centre (n_centres, k): the
        atom where the image-frame vector points (the vectors are not stored
        with their indices)."""
        atoms = self.atoms
        centres = self.centre_indices
        v = self.get_vectors("image")  # (n, k, 2) in calibrated units
        xy = np.column_stack([atoms.get_column("x"), atoms.get_column("y")])
        neighbour = np.zeros(v.shape[:2], dtype=np.int64)
        for _, members, rows in frame_members(atoms.get_frames(), centres):
            tree = cKDTree(xy[members])
            target = xy[centres[rows]][:, None, :] + np.nan_to_num(v[rows])
            neighbour[rows] = members[kd_query(tree, target)[1]]
        return neighbour, v

    def _contrast_feature(self, kinds, noise):
        """Each centre's log amplitude and log contrast to its neighbours,
        each in the units of the vectors' noise, and their noise columns;
        None when not measurable."""
        atoms = self.atoms
        if "amplitude" not in atoms.columns:
            return None
        amp = atoms.get_column("amplitude")
        with np.errstate(invalid="ignore", divide="ignore"):
            la = np.where(amp > 0, np.log(amp), np.nan)
        neighbour, _ = self._neighbour_indices()
        centres = self.centre_indices
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            cols = [la[centres], la[centres] - np.nanmedian(la[neighbour], axis=1)]
        g = 1.0 if noise is None else float(np.nanmedian(noise))
        if not (np.isfinite(g) and g > 0):
            return None
        xy = np.column_stack([atoms.get_column("x"), atoms.get_column("y")])[centres]
        kind = np.zeros(len(centres), dtype=np.int64) if kinds is None else kinds
        by_frame = [rows for _, _, rows in frame_members(atoms.get_frames(), centres)]
        out = []
        for c in cols:
            good = np.isfinite(c)
            if good.sum() < 20:
                return None
            # noise: differences to the nearest centre of the same type
            diffs = []
            for t in np.unique(kind):
                for in_frame in by_frame:
                    rows = in_frame[(kind[in_frame] == t) & good[in_frame]]
                    if rows.size < 3:
                        continue
                    j = kd_query(cKDTree(xy[rows]), xy[rows], k=2)[1][:, 1]
                    diffs.append(c[rows] - c[rows[j]])
            if not diffs:
                return None
            d = np.concatenate(diffs)
            sd = 1.4826 * float(np.median(np.abs(d - np.median(d)))) / np.sqrt(2)
            if not (np.isfinite(sd) and sd > 0):
                return None
            out.append(np.where(good, c, np.nanmedian(c)) * (g / sd))
        return np.column_stack(out), np.full((len(centres), len(out)), g)

    def _types_name(self, types):
        if isinstance(types, str):
            return "sublattice" if types == "auto" else types
        return "given"

    def _centre_types(self, types):
        """Atom type of each centre (None: geometry alone)."""
        atoms = self.atoms
        self._type_splits = []  # what _split_types split, for the metadata
        if types is None:
            return None
        if isinstance(types, str):
            name = "sublattice" if types == "auto" else types
            if types == "auto" and not _typed_by_structure(atoms):
                return None
            if name not in atoms.columns:
                raise ValueError(
                    f"`types` names a column {name!r:.40} the atoms do not have; "
                    f"they have {list(atoms.columns)}."
                )
            t = atoms.get_column(name)
        else:
            t = check_array(types, "types").ravel()
            if t.size != atoms.n_atoms:
                raise ValueError(
                    f"`types` must have one value per atom ({atoms.n_atoms}), got "
                    f"{t.size}."
                )
        t = np.where(np.isfinite(t), t, -1)
        if np.any(t != np.round(t)):
            raise ValueError("`types` must be integer labels (-1 for none).")
        t = t.astype(np.int64)[self.centre_indices]
        if len(np.unique(t[t >= 0])) < 2:
            return None
        if types == "auto":
            t = self._split_types(t)
        if types == "auto" and not _types_differ(
            t,
            atoms.get_column("amplitude")[self.centre_indices]
            if "amplitude" in atoms.columns
            else None,
        ):
            return None
        return t

    def _split_types(self, t):
        """Centre types with a periodic order inside a type split off
        (:func:`~hyperspy_localcryst.numerics.sublattices.split_types`: Sr
        and Ti-O share the cation label of a two-label ABF [001] image);
        one frame only, with the cell of the structure labels."""
        from ...numerics.sublattices import split_types

        atoms = self.atoms
        rec = atoms.metadata.get_item("AtomPositions.settings.sublattices", None)
        if rec is None or atoms.n_frames > 1:
            return t
        rec = rec.as_dictionary() if hasattr(rec, "as_dictionary") else dict(rec)
        column = rec.get("column", "amplitude")
        a1 = np.asarray(rec.get("a1", [np.nan] * 2), float).ravel()
        a2 = np.asarray(rec.get("a2", [np.nan] * 2), float).ravel()
        if column not in atoms.columns or a1.size != 2 or a2.size != 2:
            return t
        g = atoms.grid
        scale = np.array([g["x"]["scale"], g["y"]["scale"]], float)
        x, y = atoms.get_pixel_positions()
        every = np.full(atoms.n_atoms, -1, dtype=np.int64)
        lab = atoms.get_column("sublattice")
        every[np.isfinite(lab)] = lab[np.isfinite(lab)].astype(np.int64)
        # find_site_classes and find_phases (class brightness) both ask; the
        # search and its shuffles run once for the same labels and cell
        key = (column, tuple(a1), tuple(a2), every.tobytes())
        cached = getattr(self, "_split_cache", None)
        if cached is not None and cached[0] == key:
            new, splits = cached[1]
        else:
            new, splits = split_types(
                x, y, atoms.get_column(column), every, a1 / scale, a2 / scale
            )
            self._split_cache = (key, (new, splits))
        self._type_splits = splits
        return new[self.centre_indices] if splits else t

    # ------------------------------------------------ phases, symmetry, variants
    def _class_inputs(self):
        """Site class per centre (running :meth:`find_site_classes` when there
        are no cluster results), the image-frame vectors and the per-centre
        vector noise (per axis; NaN without position errors)."""
        if getattr(self.learning_results, "cluster_labels", None) is None:
            self.find_site_classes()
        lab = self._labels()
        v = self.get_vectors("image")
        sd = self._feature_noise()
        if sd is None:
            e = np.full(len(lab), np.nan)
        else:
            e = np.sqrt(np.nanmean(sd**2, axis=1))
        return lab, v, e
