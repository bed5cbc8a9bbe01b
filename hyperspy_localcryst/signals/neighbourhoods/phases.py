"""Symmetry of each neighbourhood and of each class, phases, variants and the
walls between them (``get_symmetry``, ``find_phases``)."""

from __future__ import annotations

import warnings

import numpy as np

from .._grid import (
    check_number,
    check_positive,
)
from . import _KEY


def _positive_sigma(n_sigma):
    """``n_sigma`` checked: a positive, finite number."""
    ns = check_positive(n_sigma, "n_sigma", "a number of standard deviations")
    return ns


def _mean_neighbourhood(v, passes=2):
    """Mean of neighbourhoods ``v`` (n, k, 2) as point sets: each member's
    neighbours are matched one to one to the running mean before averaging,
    so a neighbour order that differs between members (an open shell, near
    ties in distance) does not blur the mean."""
    from scipy.optimize import linear_sum_assignment

    v = np.asarray(v, dtype=float)
    if len(v) == 0:
        return np.full(v.shape[1:], np.nan)
    ref = np.nanmean(v, axis=0)
    ref = v[np.argmin(((v - ref) ** 2).sum(axis=(1, 2)))]  # a member
    n, k = v.shape[:2]
    for _ in range(passes):
        cost = np.nan_to_num(
            ((v[:, :, None, :] - ref[None, None, :, :]) ** 2).sum(axis=3), nan=1e300
        )
        # where every neighbour's nearest mean point is its own (a
        # permutation), that matching is the optimal one (each term is at
        # its minimum); the others are solved one by one
        near = cost.argmin(axis=2)
        perm = (np.sort(near, axis=1) == np.arange(k)).all(axis=1)
        matched = np.empty_like(v)
        rows = np.flatnonzero(perm)
        matched[rows[:, None], near[rows]] = v[rows]
        for i in np.flatnonzero(~perm):
            r, c = linear_sum_assignment(cost[i])
            matched[i, c] = v[i, r]
        ref = np.nanmean(matched, axis=0)
    return ref


def _cell_text(cell, units):
    if not cell:
        return "no cell measured"
    return (
        f"cell a = {cell['a']:.4g} {units}, b = {cell['b']:.4g} {units}, "
        f"gamma = {cell['gamma']:.1f} deg, {len(cell['motif'])} site class(es) per cell"
    )


def _phase_sentence(f, classes, n_atoms, cell, units):
    """One sentence saying what a phase is."""
    names = ", ".join(str(c) for c in classes) or "none"
    return (
        f"Phase {f}: {int(n_atoms)} atoms, site classes {names}; "
        f"{_cell_text(cell.get('cell'), units)}."
    )


def _class_sentence(k, row, phase, variant, units, brightness=None):
    """One sentence saying what a site class is."""
    where = (
        f"of phase {int(phase)}"
        if phase >= 0
        else "found only locally (at defects or where phases meet)"
    )
    text = (
        f"Site class {k}: {int(row.n_centres)} centres {where}, nearest "
        f"neighbour {row.nearest:.4g} {units}, point group {row.point_group}"
    )
    if brightness is not None and np.isfinite(brightness):
        text += f", {brightness:.2f} x the median brightness of its atom type"
    if row.broken:
        text += f" (broken: {row.broken})"
    if variant:
        gi, i = variant[0]
        text += f"; variant {i} of variant group {gi}"
    return text + "."


class PhasesMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_neighbourhoods.
    AtomNeighbourhoods` (the class inherits them; see the module docstring)."""

    def get_symmetry(self, n_sigma=4.0):
        """Point symmetry of every neighbourhood, with its breaking magnitude.

        For each centre and each operation (rotations by 180, 120, 90 and 60
        degrees, ``"2"``, ``"3"``, ``"4"``, ``"6"``; the best mirror,
        ``"m"``), the residual is the root-mean-square distance between the
        operated neighbours and the nearest measured ones
        (:func:`~hyperspy_localcryst.numerics.symmetry.symmetry_residuals`),
        in calibrated units: zero for an exact symmetry, about twice the
        vectors' noise for a symmetric site measured with noise, and the
        symmetry-breaking magnitude otherwise (a polar shift ``d`` of the
        centre gives ``2 d`` for ``"2"`` and ``1.41 d`` for ``"4"``). An
        operation is kept when its residual is at most ``n_sigma`` times the
        per-axis noise of the vectors (from the atoms' position errors): with
        ``n_sigma = 4``, 99 % of noisy but symmetric sites of 3 to 6
        neighbours keep all their operations (measured by simulation).

        Parameters
        ----------
        n_sigma : float
            Tolerance in units of the vectors' noise (per axis).

        Returns
        -------
        pandas.DataFrame
            One row per centre: ``atom``, ``x``, ``y``, ``site_class``,
            ``residual_2``, ``residual_3``, ``residual_4``, ``residual_6``,
            ``residual_m``, ``mirror_axis`` (degrees from +x,
            counter-clockwise as seen on the image), ``noise`` (per axis) and
            ``point_group`` (``"1"``, ``"2"``, ``"m"``, ``"2mm"``, ``"3m"``,
            ``"4mm"``, ``"6mm"``...; ``""`` without noise).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(160, 160), seed=0)
        >>> atoms = s.refine_atoms(s.find_atoms())
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> sym = nb.get_symmetry()
        >>> sym["point_group"].value_counts().index[0]
        '4mm'
        """
        import pandas as pd

        from ...numerics import symmetry as sy

        ns = _positive_sigma(n_sigma)
        lab, v, e = self._class_inputs()
        r = sy.symmetry_residuals(v)
        c = self.get_centres()
        df = pd.DataFrame(
            {
                "atom": self.centre_indices,
                "x": c.get_column("x"),
                "y": c.get_column("y"),
                "site_class": lab,
            }
        )
        for name in ("2", "3", "4", "6", "m"):
            df[f"residual_{name}"] = r[name]
        df["mirror_axis"] = r["mirror_axis"]
        df["noise"] = e
        pg = sy.point_group(r, ns * e)
        df["point_group"] = np.where(np.isfinite(e), pg, "")
        return df

    def get_class_symmetry(self, n_sigma=4.0):
        """Point symmetry of each site class's mean neighbourhood.

        The residuals of :meth:`get_symmetry`, on the mean vectors of each
        class; an operation is kept within ``n_sigma`` times the standard
        error of the mean vectors (the centres' noise over the square root of
        their number), so a small but significant distortion shared by many
        centres breaks the symmetry, and the residual says by how much.

        Parameters
        ----------
        n_sigma : float
            Tolerance in units of the mean vectors' standard error.

        Returns
        -------
        pandas.DataFrame
            One row per class: ``n_centres``, ``point_group``, the
            ``residual_*`` columns and ``mirror_axis`` (as in
            :meth:`get_symmetry`), ``noise`` (standard error per axis),
            ``nearest`` (mean nearest-neighbour distance) and ``broken``
            (the rotations and mirror not kept, with their residuals, as
            text).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(160, 160), seed=0)
        >>> atoms = s.refine_atoms(s.find_atoms())
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.get_class_symmetry()["point_group"].tolist()
        ['4mm']
        """

        ns = _positive_sigma(n_sigma)
        return self._class_table(*self._class_inputs(), ns)[0]

    def _class_table(self, lab, v, e, ns):
        """The table of :meth:`get_class_symmetry`, each class's mean
        neighbourhood (K, k, 2) and the standard error of its vectors (K,)."""
        import pandas as pd

        from ...numerics import symmetry as sy

        K = int(lab.max()) + 1 if lab.size else 0
        units = self.metadata.get_item(f"{_KEY}.units", "") or "px"
        rows, means, errors = [], [], []
        for k in range(K):
            m = lab == k
            C = _mean_neighbourhood(v[m])
            se = float(np.sqrt(np.nanmean(e[m] ** 2) / m.sum()))
            means.append(C)
            errors.append(se)
            r = sy.symmetry_residuals(C)
            tol = ns * se if np.isfinite(se) else 0.0
            pg = str(sy.point_group(r, tol)[0])
            broken = [
                f"{name} by {float(r[name][0]):.3g} {units}".rstrip()
                for name in ("2", "3", "4", "6", "m")
                if float(r[name][0]) > tol
            ]
            row = {"n_centres": int(m.sum()), "point_group": pg}
            row.update(
                {f"residual_{n}": float(r[n][0]) for n in ("2", "3", "4", "6", "m")}
            )
            row["mirror_axis"] = float(r["mirror_axis"][0])
            row["noise"] = se
            row["nearest"] = float(np.nanmin(np.hypot(C[:, 0], C[:, 1])))
            row["broken"] = ", ".join(broken)
            rows.append(row)
        df = pd.DataFrame(rows)
        df.index.name = "site_class"
        return df, np.array(means), np.array(errors)

    def find_phases(
        self,
        radius=None,
        min_affinity=0.5,
        boundary_share=0.25,
        n_sigma=3.0,
        relative=0.25,
    ):
        """Phases, symmetry variants and unit cells from the site classes.

        1. **Variants.** Site classes of one atom type, each holding at
           least 5 % of the centres (domains, not the scattered
           surroundings of defects), alike in brightness (median
           amplitudes within their robust spreads combined: other columns
           in a turned geometry are no variant), that live apart (their
           affinity, see below, is under ``min_affinity``) and whose
           mean neighbourhoods one point operation maps onto each other
           (within ``relative`` times their difference or ``n_sigma`` times
           the noise) are variants of one
           class (:func:`~hyperspy_localcryst.numerics.symmetry.find_variants`),
           e.g. the 90-degree polar domains of a ferroelectric. Groups of
           variants in one phase whose members co-occur one to one (the A
           and B sites of each domain) are merged, so every atom of a domain
           gets the same variant index.
        2. **Phases.** With each variant counted as its group's first class,
           classes that live together form one phase
           (:func:`~hyperspy_localcryst.numerics.phases.find_phases`): each
           is as common around the other's atoms as around its own, within
           ``min_affinity``, counted in windows of ``radius`` (default
           :func:`~hyperspy_localcryst.numerics.phases.default_radius`: a
           few cells). One crystal gives one phase; a
           group of classes that fills no windows of its own holds local
           (defect or boundary) classes; every atom takes the phase nearest
           to its window's mix of classes, and atoms whose window mixes in
           at least ``boundary_share`` of another phase are boundary atoms.
        3. **Unit cells.** Each phase's primitive cell and motif of site
           classes (:func:`~hyperspy_localcryst.numerics.phases.unit_cell`).

        Runs :meth:`find_site_classes` first when there are no cluster
        results. The summary (phases with their classes, cells and a sentence
        each; variant groups with their operations; the reason) is kept in
        ``metadata.AtomNeighbourhoods.phases``.

        Parameters
        ----------
        radius : float, optional
            Composition window, in calibrated units.
        min_affinity : float
            Least affinity of the classes of one phase (0 to 1).
        boundary_share : float
            Least share of another phase in a boundary atom's window.
        n_sigma : float
            Noise multiple within which two mean neighbourhoods are the same.
        relative : float
            Largest residual of a variant operation, relative to the
            difference of the two classes.

        Returns
        -------
        AtomPositions
            All atoms, with the columns ``site_class`` (-1 where the atom is
            not a centre), ``phase`` (-1 unassigned), ``variant`` (-1 where
            its class has no variants or the centre lies on a wall between
            variants, else the index of its variant), ``variant_wall`` (1 for
            a centre on a wall: its neighbours come from two domains, so its
            neighbourhood lies at least 35 % of the way from its own class
            to the same type's class of another variant) and
            ``phase_boundary`` (1 for boundary atoms, else 0).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(160, 160), seed=0)
        >>> atoms = s.refine_atoms(s.find_atoms())
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> table = nb.find_phases()
        >>> int(table.get_column("phase").max()) + 1
        1
        >>> nb.metadata.AtomNeighbourhoods.phases.n_phases
        1
        """
        from ...numerics import phases as ph
        from ...numerics import symmetry as sy

        atoms = self.atoms
        if atoms.n_frames > 1:
            raise ValueError(
                "find_phases works on one image: select a frame first "
                "(atoms.get_frame(i).get_neighbourhoods(...))."
            )
        for name, value in (
            ("min_affinity", min_affinity),
            ("boundary_share", boundary_share),
        ):
            val = check_number(value, name, "a fraction")
            if not 0 < val < 1:
                raise ValueError(f"`{name}` must be between 0 and 1, got {value}.")
        ns = _positive_sigma(n_sigma)
        lab, v, e = self._class_inputs()
        grid = atoms.grid
        scale = abs(float(grid["x"]["scale"]))
        xp, yp = atoms.get_pixel_positions()
        n = atoms.n_atoms
        site = np.full(n, -1, dtype=np.int64)
        site[self.centre_indices] = lab
        if radius is None:
            r_px = ph.default_radius(xp, yp, site)
        else:
            r = check_positive(
                radius, "radius", "a distance in calibrated units", noun="distance"
            )
            r_px = r / scale
        K = int(lab.max()) + 1 if lab.size else 0
        comp, _ = ph.site_composition(xp, yp, site, r_px, K)
        M = ph.class_cooccurrence(comp, site, K)
        apart = np.nan_to_num(ph.class_affinity(M), nan=1.0) < min_affinity
        # only atoms of one type can be variants of each other
        ct = self.metadata.get_item(f"{_KEY}.site_classes.class_types", None)
        if ct is not None and len(ct) == K:
            ct = np.asarray(ct)
            apart &= ct[:, None] == ct[None, :]
        # the classes' symmetry (get_class_symmetry's defaults), mean
        # neighbourhoods and their standard errors
        sym, C, se = self._class_table(lab, v, e, 4.0)
        # variants are regions (domains): classes at scattered defects,
        # related by the defect's own symmetry, are not
        sizes = np.bincount(lab[lab >= 0], minlength=K)
        big = sizes >= max(20, 0.05 * len(lab))
        apart &= big[:, None] & big[None, :]
        # nor are classes of unlike brightness (other columns, another
        # chemistry: the bright and faint columns of one geometry), their
        # medians farther apart than their spreads combined
        b, b_sd = self._class_brightness(lab, K, spread=True)
        unlike = np.abs(b[:, None] - b[None, :]) > np.hypot(b_sd[:, None], b_sd)
        apart &= ~unlike
        groups = sy.find_variants(
            C, np.nan_to_num(se), apart, n_sigma=ns, relative=relative
        )
        reduced = np.arange(K)
        for g in groups:
            reduced[g["classes"]] = g["classes"][0]
        site_reduced = np.where(site >= 0, reduced[np.maximum(site, 0)], -1)
        result = ph.find_phases(
            xp, yp, site_reduced, r_px, min_affinity, boundary_share=boundary_share
        )
        class_phase = np.where(reduced >= 0, result.class_phase[reduced], -1)
        variant_groups = self._merge_variant_groups(groups, class_phase, M)
        variant = np.full(n, -1, dtype=np.int64)
        for g in variant_groups:
            for i, members in enumerate(g["site_classes"]):
                variant[np.isin(site, members)] = i
        wall = np.zeros(n, dtype=bool)
        wall[self.centre_indices] = self._variant_walls(
            lab, v, e, C, ct, variant_groups
        )
        variant[wall] = -1
        table = atoms.add_columns(
            {
                "site_class": site.astype(float),
                "phase": result.labels.astype(float),
                "variant": variant.astype(float),
                "variant_wall": wall.astype(float),
                "phase_boundary": result.boundary.astype(float),
            },
            {
                "site_class": "",
                "phase": "",
                "variant": "",
                "variant_wall": "",
                "phase_boundary": "",
            },
        )
        units = self.metadata.get_item(f"{_KEY}.units", "") or "px"
        phases = []
        for f in range(result.n_phases):
            classes = [int(c) for c in np.flatnonzero(class_phase == f)]
            members = result.labels == f
            # the cell of the phase's own classes, variants counted as their
            # group's first class (a domain's cell, not one of all domains)
            own = np.isin(site, classes)
            cell = self._phase_cell(
                xp, yp, site_reduced, members & ~result.boundary & own
            )
            phases.append(
                {
                    "site_classes": classes,
                    "n_atoms": int(members.sum()),
                    "n_boundary": int((members & result.boundary).sum()),
                    **cell,
                    "description": _phase_sentence(
                        f, classes, members.sum(), cell, units
                    ),
                }
            )
        bright = self._class_brightness(lab, K)
        classes_info = []
        for k in range(K):
            row = sym.iloc[k]
            vg = [
                (gi, i)
                for gi, g in enumerate(variant_groups)
                for i, mem in enumerate(g["site_classes"])
                if k in mem
            ]
            classes_info.append(
                {
                    "n_centres": int(row.n_centres),
                    "phase": int(class_phase[k]),
                    "point_group": str(row.point_group),
                    "broken": str(row.broken),
                    "variant_group": vg[0][0] if vg else -1,
                    "variant": vg[0][1] if vg else -1,
                    "brightness": float(bright[k]),
                    "description": _class_sentence(
                        k, row, class_phase[k], vg, units, bright[k]
                    ),
                }
            )
        self.metadata.set_item(
            f"{_KEY}.phases",
            {
                "n_phases": int(result.n_phases),
                "reason": result.reason,
                "radius": float(r_px * scale),
                "phases": phases,
                "site_classes": classes_info,
                "variant_groups": variant_groups,
                "boundary_classes": [int(c) for c in np.flatnonzero(class_phase < 0)],
            },
        )
        return table

    def _class_brightness(self, lab, K, spread=False):
        """Median fitted amplitude of each class over the median of its atom
        type's centres (NaN without amplitudes); with ``spread``, also the
        robust spread (1.4826 MAD) of that ratio over the class's centres."""
        atoms = self.atoms
        out, sd = np.full(K, np.nan), np.full(K, np.nan)
        if "amplitude" not in atoms.columns:
            return (out, sd) if spread else out
        amp = atoms.get_column("amplitude")[self.centre_indices]
        kinds = self._centre_types("auto")
        kinds = np.zeros(len(lab), dtype=np.int64) if kinds is None else kinds
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for k in range(K):
                m = lab == k
                if m.any():
                    t = np.bincount(np.maximum(kinds[m], 0)).argmax()
                    r = amp[m] / np.nanmedian(amp[kinds == t])
                    out[k] = np.nanmedian(r)
                    sd[k] = 1.4826 * np.nanmedian(np.abs(r - out[k]))
        return (out, sd) if spread else out

    @staticmethod
    def _variant_walls(lab, v, e, C, ct, variant_groups, share=0.35, n_sigma=6.0):
        """Centres on a wall between variants: nearer, by a share of at least
        ``share`` of the way, to the same type's class of another variant
        than to their own (their neighbours come from two domains).

        A centre's distance to a class is the root-mean-square distance
        between its neighbours and the class's mean neighbourhood, matched
        one to one; the centre is on a wall when ``d_own / (d_own +
        d_other) > share`` for the nearest other variant. Only variants
        whose mean neighbourhoods lie ``n_sigma`` times the centres' vector
        noise apart are tested (closer ones cannot be told apart per
        centre), and only with the classes' atom types known."""
        from scipy.optimize import linear_sum_assignment

        wall = np.zeros(len(lab), dtype=bool)
        if ct is None or not variant_groups:
            return wall
        ct = np.asarray(ct)
        if len(ct) != len(C) or np.all(ct < 0):  # types unknown
            return wall

        def dist(a, b):
            cost = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
            r, c = linear_sum_assignment(np.nan_to_num(cost, nan=1e300))
            return float(np.sqrt(cost[r, c].mean()))

        noise = float(np.nanmedian(e)) if np.isfinite(e).any() else 0.0
        for g in variant_groups:
            variants = g["site_classes"]
            for i, members in enumerate(variants):
                for c in members:
                    others = [
                        o
                        for j, vj in enumerate(variants)
                        if j != i
                        for o in vj
                        if ct[o] == ct[c]
                    ]
                    others = [o for o in others if dist(C[c], C[o]) > n_sigma * noise]
                    if not others:
                        continue
                    for r in np.flatnonzero(lab == c):
                        own = dist(v[r], C[c])
                        other = min(dist(v[r], C[o]) for o in others)
                        wall[r] = own > share * (own + other)
        return wall

    @staticmethod
    def _merge_variant_groups(groups, class_phase, M):
        """Variant groups as lists of variants (each a list of classes) with
        the operation of each variant; groups of one phase with as many
        variants, whose members co-occur one to one, are merged."""
        out = [
            {
                "site_classes": [[c] for c in g["classes"]],
                "operations": list(g["operations"]),
                "residuals": list(g["residuals"]),
            }
            for g in groups
        ]
        merged = True
        while merged:
            merged = False
            for a in range(len(out)):
                for b in range(a + 1, len(out)):
                    ga, gb = out[a], out[b]
                    m = len(ga["site_classes"])
                    if m != len(gb["site_classes"]):
                        continue
                    pa = {int(class_phase[c]) for v in ga["site_classes"] for c in v}
                    pb = {int(class_phase[c]) for v in gb["site_classes"] for c in v}
                    if pa != pb:
                        continue
                    # co-occurrence of variant i of a with variant j of b
                    S = np.array(
                        [
                            [
                                np.nansum(M[np.ix_(va, vb)])
                                + np.nansum(M[np.ix_(vb, va)])
                                for vb in gb["site_classes"]
                            ]
                            for va in ga["site_classes"]
                        ]
                    )
                    match = S.argmax(axis=1)
                    if len(set(match.tolist())) != m:
                        continue
                    ga["site_classes"] = [
                        sorted(va + gb["site_classes"][j])
                        for va, j in zip(ga["site_classes"], match)
                    ]
                    del out[b]
                    merged = True
                    break
                if merged:
                    break
        for g in out:
            g["residuals"] = [float(r) for r in g["residuals"]]
        return out

    def _phase_cell(self, xp, yp, site, members):
        from ...numerics import phases as ph

        keep = members & (site >= 0)
        units = self.metadata.get_item(f"{_KEY}.units", "") or "px"
        if keep.sum() < 6:
            return {"cell": None, "cell_reason": f"only {int(keep.sum())} atoms"}
        try:
            cell = ph.unit_cell(xp[keep], yp[keep], site[keep])
        except ValueError as err:
            return {"cell": None, "cell_reason": str(err)}
        g = self.atoms.grid
        v = cell["vectors"] * [abs(float(g["x"]["scale"])), abs(float(g["y"]["scale"]))]
        a, b = (float(np.hypot(*row)) for row in v)
        gamma = float(np.degrees(np.arccos(np.clip(v[0] @ v[1] / (a * b), -1.0, 1.0))))
        return {
            "cell": {
                "a1": [float(t) for t in v[0]],
                "a2": [float(t) for t in v[1]],
                "a": a,
                "b": b,
                "gamma": gamma,
                "units": units,
                "motif": [
                    {
                        "site_class": m["site_class"],
                        "fractional": list(m["fractional"]),
                        "offset": [
                            float(t)
                            for t in np.asarray(m["offset"])
                            @ np.diag(
                                [
                                    abs(float(g["x"]["scale"])),
                                    abs(float(g["y"]["scale"])),
                                ]
                            )
                        ],
                        "n_atoms": m["n_atoms"],
                    }
                    for m in cell["motif"]
                ],
            },
            "cell_reason": "",
        }
