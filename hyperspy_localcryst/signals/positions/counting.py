"""Atom counting from the refined column intensities (``count_atoms``) and
the figure of its criterion (``plot_count_criterion``); the numerics are
:mod:`hyperspy_localcryst.numerics.counting`."""

from __future__ import annotations

import numpy as np

from ...numerics import counting as ncount
from ...numerics._checks import check_integer
from . import _KEY


class CountingMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_positions.
    AtomPositions` (the class inherits them; see the module docstring)."""

    def count_atoms(
        self,
        column=None,
        max_components=10,
        n_components=None,
        offset="auto",
        sublattice=None,
        seed=0,
        method="auto",
    ):
        """Number of atoms in each column from its integrated intensity.

        The intensities of many columns form a mixture of equal-width
        Gaussians, one per atom count; the number of components is chosen
        by the Integrated Classification Likelihood (StatSTEM's method; see
        :mod:`hyperspy_localcryst.numerics.counting`), and each column gets
        the count of its most probable component, with that probability.
        In a series whose columns are linked over the frames
        (:meth:`link_frames`), each column's counts are the hidden states of
        a Markov chain (a hidden Markov model: StatSTEM's method for series),
        so every frame's evidence counts, and a column's count changes only
        where the intensities say so.

        Parameters
        ----------
        column : str, optional
            The cross-section. Default: ``cross_section`` (the Voronoi sums
            of :meth:`AtomicImage.integrate_columns`, the better one at low
            dose) when the table has it, else ``intensity`` (the integrated
            Gaussian of :meth:`AtomicImage.refine_atoms`).
        max_components : int
            Most counts (components) tried.
        n_components : int, optional
            Use this many components instead of the criterion's choice.
        offset : int or "auto"
            Count of the faintest component; "auto" extrapolates the spacing
            of the means to zero (thin samples; give it from a simulated
            library of cross-sections otherwise).
        sublattice : int, optional
            Count only the columns of this ``sublattice`` (columns of other
            elements scatter differently); the others get -1.
        seed : int
            Seed of the mixture fits' starts.
        method : {"auto", "mixture", "hmm"}
            ``"mixture"``: every column on its own (all frames' columns in
            one mixture); ``"hmm"``: the columns followed over the frames by
            their ``track`` (:func:`hyperspy_localcryst.numerics.counting.
            count_atoms_series`); ``"auto"`` (default): ``"hmm"`` for a
            stack with a ``track`` column, else ``"mixture"``.

        Returns
        -------
        AtomPositions
            The table with ``atom_count`` (-1: not counted) and
            ``count_probability``; ``metadata.AtomPositions.counting`` holds
            the ``method``, the criterion curve (``components``, ``icl``,
            ``bic``), the component ``means``, their common ``sigma``,
            ``weights`` (the share of each count) and the ``offset``; with
            the HMM also ``transition`` (row: count before, column: count
            after) and ``initial``.

        Examples
        --------
        A crystal of one thickness: one component.

        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> image = synthetic_lattice(shape=(128, 128), spacing=16, seed=0)
        >>> atoms = image.refine_atoms(image.find_atoms())
        >>> counted = atoms.count_atoms(max_components=4)
        >>> counted.metadata.AtomPositions.counting.n_components  # one thickness
        1
        """
        if column is None:
            column = "cross_section" if "cross_section" in self.columns else "intensity"
        if not isinstance(column, str) or column not in self.columns:
            raise ValueError(
                f"`column` must be a column of the table, got {column!r:.60}; "
                "refine the atoms first for `intensity`."
            )
        values = self.get_column(column).copy()
        use = np.ones(self.n_atoms, bool)
        if sublattice is not None:
            k = check_integer(sublattice, "sublattice")
            if "sublattice" not in self.columns or not np.any(
                self.get_column("sublattice") == k
            ):
                raise ValueError(f"`sublattice` = {k} is not a label of this table.")
            use = self.get_column("sublattice") == k
        values[~use] = np.nan
        if method not in ("auto", "mixture", "hmm"):
            raise ValueError(
                f"`method` must be 'auto', 'mixture' or 'hmm', got {method!r:.60}."
            )
        tracked = self.n_frames > 1 and "track" in self.columns
        if method == "hmm" and not tracked:
            raise ValueError(
                "`method` = 'hmm' needs a stack whose columns are linked over "
                "the frames: run `link_frames` first (a `track` column)."
            )
        hmm = method == "hmm" or (method == "auto" and tracked)
        kw = dict(
            max_components=max_components,
            n_components=n_components,
            offset=offset,
            seed=seed,
        )
        extra = {}
        if hmm:
            frames, tracks = self.get_frames(), self._tracks()
            ids, col = np.unique(tracks, return_inverse=True)
            grid = np.full((self.n_frames, len(ids)), np.nan)
            grid[frames, col] = values
            r = ncount.count_atoms_series(grid, **kw)
            r["counts"] = r["counts"][frames, col]
            r["probability"] = r["probability"][frames, col]
            r["counts"][~np.isfinite(values)] = -1
            r["probability"][~np.isfinite(values)] = np.nan
            done = r["counts"][r["counts"] >= 0] - r["offset"]
            r["weights"] = np.bincount(done, minlength=r["n_components"]) / max(
                done.size, 1
            )
            extra = {
                "transition": np.asarray(r["transition"]).tolist(),
                "initial": np.asarray(r["initial"]).tolist(),
                "n_tracks": int(np.sum(np.isfinite(grid).any(axis=0))),
            }
        else:
            r = ncount.count_atoms(values, **kw)
        out = self.add_columns(
            {
                "atom_count": r["counts"].astype(float),
                "count_probability": r["probability"],
            },
            {"atom_count": "", "count_probability": ""},
        )
        out.metadata.set_item(
            f"{_KEY}.counting",
            {
                "method": "hmm" if hmm else "mixture",
                "column": column,
                "sublattice": "all" if sublattice is None else int(sublattice),
                "n_components": r["n_components"],
                "chosen_by": "given" if n_components is not None else "ICL",
                "components": list(r["components"]),
                "icl": list(r["icl"]),
                "bic": list(r["bic"]),
                "means": r["means"].tolist(),
                "sigma": r["sigma"],
                "weights": r["weights"].tolist(),
                "offset": r["offset"],
                "units": self.units.get(column, ""),
                **extra,
            },
        )
        return out

    def plot_count_criterion(self):
        """The criterion curve and the fitted mixture of :meth:`count_atoms`.

        Returns
        -------
        matplotlib.figure.Figure
            Left: ICL and BIC against the number of components, the chosen
            one marked (a flat minimum: the data do not decide). Right: the
            histogram of the cross-sections with each component (its count)
            and their sum.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> image = synthetic_lattice(shape=(128, 128), spacing=16, seed=0)
        >>> atoms = image.refine_atoms(image.find_atoms())
        >>> counted = atoms.count_atoms(max_components=4)
        >>> len(counted.plot_count_criterion().axes)
        2
        """
        import matplotlib.pyplot as plt

        md = self.metadata.get_item(f"{_KEY}.counting")
        if md is None:
            raise ValueError("Count the atoms first (`count_atoms`).")
        md = md.as_dictionary()
        fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
        g = np.asarray(md["components"])
        a0.plot(g, md["icl"], "o-", label="ICL")
        a0.plot(g, md["bic"], "s--", label="BIC", alpha=0.7)
        a0.axvline(md["n_components"], color="k", lw=0.8, ls=":")
        a0.set_xlabel("number of components (atom counts)")
        a0.set_ylabel("criterion (lower is better)")
        a0.set_title(f"{md['n_components']} components ({md['chosen_by']})", fontsize=9)
        a0.legend(fontsize=8)
        v = self.get_column(md["column"])
        v = v[np.isfinite(v) & (self.get_column("atom_count") >= 0)]
        a1.hist(v, bins=max(10, int(np.sqrt(v.size)) * 2), density=True, color="0.75")
        xs = np.linspace(v.min(), v.max(), 400)
        total = np.zeros_like(xs)
        s = md["sigma"]
        for i, (m, w) in enumerate(zip(md["means"], md["weights"])):
            y = w * np.exp(-0.5 * ((xs - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))
            total += y
            a1.plot(xs, y, lw=1)
            a1.text(m, y.max(), str(md["offset"] + i), ha="center", va="bottom")
        a1.plot(xs, total, "k", lw=1.2)
        unit = f" ({md['units']})" if md["units"] else ""
        a1.set_xlabel(f"{md['column']}{unit}")
        a1.set_title("cross-sections and the mixture (labels: atom counts)", fontsize=9)
        return fig
