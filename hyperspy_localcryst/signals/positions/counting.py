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
        column="intensity",
        max_components=10,
        n_components=None,
        offset="auto",
        sublattice=None,
        seed=0,
    ):
        """Number of atoms in each column from its integrated intensity.

        The intensities of many columns form a mixture of equal-width
        Gaussians, one per atom count; the number of components is chosen
        by the Integrated Classification Likelihood (StatSTEM's method; see
        :mod:`hyperspy_localcryst.numerics.counting`), and each column gets
        the count of its most probable component, with that probability.

        Parameters
        ----------
        column : str
            The cross-section: ``intensity`` (the integrated Gaussian of
            :meth:`AtomicImage.refine_atoms`) by default.
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

        Returns
        -------
        AtomPositions
            The table with ``atom_count`` (-1: not counted) and
            ``count_probability``; ``metadata.AtomPositions.counting`` holds
            the criterion curve (``components``, ``icl``, ``bic``), the
            component ``means``, their common ``sigma``, ``weights`` and the
            ``offset``.

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
        r = ncount.count_atoms(
            values,
            max_components=max_components,
            n_components=n_components,
            offset=offset,
            seed=seed,
        )
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
