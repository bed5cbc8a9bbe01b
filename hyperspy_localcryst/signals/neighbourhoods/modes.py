"""The principal modes as displacement patterns: their physical properties,
amplitudes, plots and the rotation-invariant descriptors."""

from __future__ import annotations

import numpy as np

from ...numerics import modes
from ...numerics import neighbourhoods as nbn
from ...numerics._checks import renamed
from .._grid import (
    check_integer,
    check_number,
    check_positive,
    pixel_scale,
    small_length_unit,
)
from . import _KEY


class ModesMixin:
    """Methods of :class:`~hyperspy_localcryst.signals.atom_neighbourhoods.
    AtomNeighbourhoods` (the class inherits them; see the module docstring)."""

    # ----------------------------------------------------------------- modes
    def _length_unit(self):
        """Factor and name of the unit mode sizes are shown in: pm for images
        in nm or Å, else the units of the vectors."""
        return small_length_unit(self.metadata.get_item(f"{_KEY}.units", ""))

    def _mode_arrays(self, results="decomposition"):
        """Loadings (n, m) and factors (2k, m) of the decomposition (or BSS),
        the factors' rows in ``(dx1, dy1, ...)`` order, and the rows used."""
        loadings, factors = self._learned(results)
        order, _ = self._pairs("the modes")
        loadings = np.asarray(loadings, dtype=float)
        factors = np.asarray(factors, dtype=float)[order]
        used = np.isfinite(loadings).all(axis=1)
        return loadings, factors, used

    def get_mode_properties(
        self, n_components=None, n_sigma=3.0, results="decomposition"
    ):
        """Share, size, polarity and spatial pattern of each decomposition mode.

        The modes of the (default, centred) decomposition are deformations of
        the mean neighbourhood (:meth:`get_mean_neighbourhood`). For each:

        - ``explained_variance_ratio``: its share of the variance of the rows
          about the mean (for a centred SVD the ratios of all modes sum to 1;
          for ``centre=None``, shares of the rows' energy, the mean's
          included);
        - ``amplitude``: the RMS displacement of the neighbours it carries over
          the centres (loadings x factor), in ``units`` (pm when the image is
          in nm or Å); per centre see :meth:`get_mode_amplitudes`;
        - ``noise_amplitude``: the amplitude a mode of pure position noise
          would have along this one: propagated from the atoms' ``x_err``,
          ``y_err`` (NaN when the atoms were not refined), times
          ``noise_excess``;
        - ``noise_excess``: how much more scatter the smallest modes show than
          the propagated errors predict (at least 1; scan noise and model
          errors that the fit's errors leave out,
          :func:`~hyperspy_localcryst.numerics.modes.noise_excess`); it
          scales ``noise_amplitude`` and ``net_shift_noise``;
        - ``net_shift_x``, ``net_shift_y``: the shift of a centre against its
          neighbours that the mode carries (minus the mean of the neighbour
          displacements) at a centre with a positive loading of RMS size;
          ``net_shift`` its length (the RMS over the centres);
        - ``net_shift_noise``: the RMS noise of a centre's net shift,
          propagated from the atoms' position errors ``x_err``, ``y_err``
          (NaN when the atoms were not refined), times ``noise_excess``;
        - ``polar``: ``net_shift > n_sigma * net_shift_noise``: the mode moves
          centres against their neighbours by more than the noise (the modes
          share the net-shift variance, so a mode of noise never passes;
          False without errors);
        - ``vector_sum_x``, ``vector_sum_y``, ``polarity``: geometry of the
          unit factor
          (:func:`~hyperspy_localcryst.numerics.modes.mode_polarity`);
        - ``pattern``: how the loadings are arranged over the image:
          ``"uniform"``, ``"sublattice"`` (the sign follows the ``sublattice``
          column: a shift of one sublattice against the other),
          ``"localised"`` (a few centres carry it: defects, edges, misfits),
          ``"alternating"`` (neighbouring centres opposite), ``"domains"`` or
          ``"noise"``
          (:func:`~hyperspy_localcryst.numerics.modes.loading_pattern`);
          ``morans_i`` is the first-shell spatial autocorrelation behind it.
          A mode whose variance is less than twice ``noise_amplitude**2`` is
          ``"noise"`` whatever its arrangement (position noise alone makes
          the net shifts of neighbouring centres alternate);
        - ``top_share``: the share of the mode's sum of squares that the 5 %
          centres of largest loading hold (about 0.2 for Gaussian loadings;
          above 0.5 a few centres dominate the mode, whatever the pattern of
          the others);
        - ``scale``: for ``"domains"``, the domain size (area per unit length
          of domain wall: the width of stripe domains) in ``units``; inf when
          larger than the correlation reaches; else NaN;
        - ``trivial``: for an uncentred decomposition, the mode is nearly
          parallel to the mean (its first mode); always False when centred
          (a centred mode along the mean is a breathing mode);
        - ``units``: the unit of the lengths.

        Parameters
        ----------
        n_components : int, optional
            Default: all.
        n_sigma : float
            Significance of a polar mode's net shift and of a pattern.
        results : {"decomposition", "bss"}
            The modes of the decomposition, or the components of the blind
            source separation (``blind_source_separation``, e.g. ICA, run
            on the decomposition): the same properties of each BSS factor
            with its loadings (the shares are then of the variance about
            the decomposition's mean; independent components need not be
            orthogonal, so they need not sum to 1).

        Returns
        -------
        pandas.DataFrame
            One row per component, the columns above.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> s = synthetic_lattice(shape=(128, 128), seed=0)
        >>> nb = s.refine_atoms(s.find_atoms()).get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> props = nb.get_mode_properties(3)
        >>> bool(props["polar"].any()), props["pattern"][0]
        (False, 'noise')
        """
        import pandas as pd

        from ...numerics import modes as md

        lr = self._decomposition()
        n_max = self._learned(results)[1].shape[1]
        n = (
            n_max
            if n_components is None
            else check_integer(n_components, "n_components", 1)
        )
        if n > n_max:
            raise ValueError(
                f"`n_components` ({n}) is more than the {n_max} components of the "
                "decomposition."
            )
        n_sigma = check_number(n_sigma, "n_sigma", "a positive number")
        if not (np.isfinite(n_sigma) and n_sigma > 0):
            raise ValueError(f"`n_sigma` must be positive and finite, got {n_sigma}.")
        loadings, factors, used = self._mode_arrays(results)
        order, k = self._pairs("get_mode_properties")
        mean = self.get_mean_neighbourhood().ravel()
        rows = self._table(order)[used]
        centre = 0.0
        if lr.mean is not None and np.size(lr.mean) == self.axes_manager.signal_size:
            centre = np.asarray(lr.mean, dtype=float).ravel()[order]
        total = float(np.mean(np.sum((rows - centre) ** 2, axis=1)))
        factor, unit = self._length_unit()
        _, amplitude = md.mode_amplitudes(loadings[used], factors)
        ratio = amplitude**2 * k / total if total > 0 else np.full(n_max, np.nan)
        # what pure position noise gives along each mode, scaled by the excess
        # scatter the smallest modes show over the propagated errors
        errors = self._atom_errors()
        noise_amplitude, excess = np.full(n_max, np.nan), np.nan
        noise = np.full(int(used.sum()), np.nan)
        if errors is not None:
            sd = md.loading_noise(factors, errors[0][used], errors[1][used])
            noise_amplitude = np.sqrt(np.nanmean(sd**2, axis=0) / k)
            excess = md.noise_excess(amplitude, noise_amplitude)
            noise_amplitude = noise_amplitude * excess
            noise = md.net_shift_noise(errors[0][used], errors[1][used]) * excess
        loadings, factors = loadings[:, :n], factors[:, :n]
        shifts = md.net_shifts(loadings[used], factors)  # (n_used, n, 2)
        net, level, polar = md.polar_modes(shifts, noise, n_sigma)
        c = self.get_centres()
        xp, yp = c.get_pixel_positions()
        groups = c.get_column("sublattice") if "sublattice" in c.columns else None
        frames = c.get_frames() if self.atoms.n_frames > 1 else None
        to_units = pixel_scale(self.atoms.grid) * factor
        out = []
        for i in range(n):
            norm = max(np.linalg.norm(factors[:, i]), 1e-300)
            p = modes.mode_polarity(factors[:, i] / norm)
            # the net shift of a centre whose loading is +RMS
            rms = np.sqrt(np.mean(loadings[used, i] ** 2))
            shift = md.net_shifts([[rms]], factors[:, i : i + 1])[0, 0]
            pat = md.loading_pattern(
                loadings[:, i],
                np.column_stack([xp, yp]),
                groups=groups,
                frames=frames,
                n_sigma=n_sigma,
            )
            if amplitude[i] ** 2 < 2 * noise_amplitude[i] ** 2:
                # no more variance than twice the position noise gives: position
                # noise alone anticorrelates neighbouring centres' net shifts
                pat = {**pat, "pattern": "noise", "scale": np.nan}
            # only an uncentred mode can be the mean; centred, a mode along
            # the mean is a physical breathing (scale) mode
            cos = abs(factors[:, i] @ mean) / (norm * np.linalg.norm(mean) + 1e-300)
            cos = cos if lr.mean is None else 0.0
            out.append(
                {
                    "explained_variance_ratio": float(ratio[i]),
                    "amplitude": float(amplitude[i] * factor),
                    "noise_amplitude": float(noise_amplitude[i] * factor),
                    "net_shift_x": float(shift[0] * factor),
                    "net_shift_y": float(shift[1] * factor),
                    "net_shift": float(net[i] * factor),
                    "net_shift_noise": float(level * factor),
                    "noise_excess": float(excess),
                    "polar": bool(polar[i]),
                    "vector_sum_x": p["vector_sum"][0],
                    "vector_sum_y": p["vector_sum"][1],
                    "polarity": p["polarity"],
                    "pattern": pat["pattern"],
                    "morans_i": pat["morans_i"],
                    "top_share": pat["top_share"],
                    "scale": float(pat["scale"] * to_units),
                    "trivial": bool(cos > 0.9),
                    "units": unit,
                }
            )
        df = pd.DataFrame(out)
        df.index.name = "component"
        return df

    def get_mode_amplitudes(self, component, results="decomposition"):
        """Size of one mode at every centre, as a length.

        Parameters
        ----------
        component : int
            Index of the decomposition component.
        results : {"decomposition", "bss"}
            A decomposition mode or a blind source separation component.

        Returns
        -------
        AtomPositions
            The centres' table (:meth:`get_centres`) with the columns
            ``amplitude`` (the RMS displacement of the neighbours the mode
            carries at the centre, signed by its loading) and ``shift_x``,
            ``shift_y`` (the shift of the centre against its neighbours the
            mode carries), in the units of :meth:`get_mode_properties` (pm
            for images in nm or Å); NaN for centres the decomposition left
            out.

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> t = nb.get_mode_amplitudes(0)
        >>> t.units["amplitude"], t.n_atoms == len(nb.data)
        ('pm', True)
        """
        from ...numerics import modes as md

        column = self._loading(component, results)
        _, factors, _ = self._mode_arrays(results)
        i = int(component)
        per_centre, _ = md.mode_amplitudes(column[:, None], factors[:, i : i + 1])
        shift = md.net_shifts(column[:, None], factors[:, i : i + 1])[:, 0]
        factor, unit = self._length_unit()
        return self.get_centres().add_columns(
            {
                "amplitude": per_centre[:, 0] * factor,
                "shift_x": shift[:, 0] * factor,
                "shift_y": shift[:, 1] * factor,
            },
            {"amplitude": unit, "shift_x": unit, "shift_y": unit},
        )

    @staticmethod
    def _length(value, unit):
        """``value unit`` with 3 digits, pm beyond 1000 written in nm."""
        if unit == "pm" and abs(value) >= 1000:
            return f"{value / 1000:.3g} nm"
        return f"{value:.3g} {unit}"

    @classmethod
    def _mode_title(cls, c, r):
        """Title of mode ``c`` (a row ``r`` of :meth:`get_mode_properties`)."""
        if not np.isfinite(r.net_shift_noise):
            polar = "polarity untested (no position errors)"
        else:
            polar = (
                f"{'polar' if r.polar else 'non-polar'}: net shift "
                f"{cls._length(r.net_shift, r.units)} "
                f"({r.net_shift / r.net_shift_noise:.2g}\u00d7 noise)"
            )
        pattern = r.pattern
        if pattern == "domains":
            pattern += (
                f" ~{cls._length(r.scale, r.units)}"
                if np.isfinite(r.scale)
                else " (larger than the field)"
            )
        if pattern != "localised" and r.top_share > 0.5:
            pattern += f" (5 % of centres hold {r.top_share:.0%})"
        return (
            f"mode {c}: {100 * r.explained_variance_ratio:.1f} %, "
            f"{r.amplitude:.3g} {r.units} RMS\n{polar}\n{pattern}"
            f"{' (trivial)' if r.trivial else ''}"
        )

    @renamed(frame="basis")
    def plot_modes(
        self,
        components=None,
        scale=None,
        basis="local",
        results="decomposition",
        properties=None,
    ):
        """Draw decomposition modes as arrows on the mean neighbourhood.

        The mean neighbourhood (:meth:`get_mean_neighbourhood`) is drawn in
        grey, the mode's displacements as red arrows from it. Each title gives
        the mode's share of the variance, its amplitude (RMS neighbour
        displacement, pm for images in nm or Å), whether it is polar against
        the noise (with its net shift) and the pattern of its loadings (with
        the domain size), from :meth:`get_mode_properties`.

        Parameters
        ----------
        components : sequence of int, optional
            Default: the first four (all, when there are fewer).
        scale : float, optional
            Arrow length multiplier (positive); default makes the longest
            arrow a third of the nearest-neighbour distance.
        basis : {"local"}
            Modes live in the stored axes (rotated for the angle metric).
            (Its old name ``frame`` still works, with a ``FutureWarning``.)
        results : {"decomposition", "bss"}
            Draw the decomposition's modes, or the components of the blind
            source separation (``blind_source_separation``, e.g. ICA).
        properties : pandas.DataFrame, optional
            The table :meth:`get_mode_properties` returned for these
            ``results`` (with a row for each drawn component), when it was
            already computed: the titles are taken from it instead of
            computing it again.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
        >>> nb.decomposition(print_info=False)
        >>> len(nb.plot_modes((1, 2)).axes)
        2
        """
        import matplotlib.pyplot as plt

        if not isinstance(basis, str) or basis != "local":
            raise ValueError(
                f"Unknown `basis` {basis!r:.60}; modes are drawn in 'local'."
            )
        if scale is not None:
            scale = check_positive(scale, "scale", "a positive number or None")
        if components is not None and not isinstance(components, (int, np.integer)):
            if not isinstance(components, (list, tuple, np.ndarray)) or (
                np.ndim(components) != 1
            ):
                raise TypeError(
                    "`components` must be a component index or a sequence of them, "
                    f"got {components!r:.60}."
                )
        _, factors = self._learned(results)
        order, k = self._pairs("plot_modes")
        n_max = factors.shape[1]
        if components is None:
            components = tuple(range(min(4, n_max)))
        if isinstance(components, (int, np.integer)):
            components = (components,)
        components = [check_integer(c, "components") for c in components]
        if not components or not all(0 <= c < n_max for c in components):
            raise ValueError(
                f"`components` must be one or more of 0..{n_max - 1}, got {components}."
            )
        if properties is None:
            props = self.get_mode_properties(max(components) + 1, results=results)
        elif len(properties) > max(components) and "amplitude" in properties:
            props = properties
        else:
            raise ValueError(
                "`properties` must be the table of `get_mode_properties` with a "
                f"row for each component drawn (up to {max(components)})."
            )
        mean = self.get_mean_neighbourhood()
        nn = float(np.nanmin(np.linalg.norm(mean, axis=1)))
        units = self.metadata.get_item(f"{_KEY}.units", "") or "px"
        fig, axes = plt.subplots(
            1, len(components), figsize=(3.4 * len(components), 3.8), squeeze=False
        )
        for ax, c in zip(axes[0], components):
            f = np.asarray(factors[order, c]).reshape(k, 2)
            sc = scale or (nn / 3) / max(np.abs(f).max(), 1e-300)
            ax.plot(mean[:, 0], mean[:, 1], "o", color="0.6", ms=5)
            ax.plot([0], [0], "k+", ms=8)
            ax.quiver(
                mean[:, 0],
                mean[:, 1],
                sc * f[:, 0],
                sc * f[:, 1],
                angles="xy",
                scale_units="xy",
                scale=1,
                color="C3",
                width=0.012,
            )
            # the centre's shift against its neighbours that the mode carries
            centre = -sc * f.sum(axis=0) / k
            ax.quiver(
                0.0,
                0.0,
                centre[0],
                centre[1],
                angles="xy",
                scale_units="xy",
                scale=1,
                color="C0",
                width=0.012,
            )
            r = props.iloc[c]
            tips = np.concatenate([mean, mean + sc * f, [[0.0, 0.0], centre]])
            pad = 0.15 * np.ptp(tips, axis=0).max()
            ax.set_xlim(tips[:, 0].min() - pad, tips[:, 0].max() + pad)
            ax.set_ylim(tips[:, 1].min() - pad, tips[:, 1].max() + pad)
            ax.set_title(self._mode_title(c, r), fontsize=8)
            ax.set_aspect("equal")
            ax.invert_yaxis()
            ax.set_xlabel(f"dx ({units})")
        axes[0][0].set_ylabel(f"dy ({units})")
        fig.text(
            0.5,
            0.005,
            "grey: mean neighbourhood; red: mode (neighbour shifts, scaled); "
            "blue: the centre's shift against them",
            ha="center",
            va="bottom",
            fontsize=8,
        )
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        return fig

    # ------------------------------------------------------------- invariants
    def get_invariants(self):
        """Per-centre scalars: sorted bond lengths and angles, polar displacement.

        Returns
        -------
        AtomPositions
            The centres (as :meth:`get_centres`) with columns ``bond_1`` ...
            ``bond_k`` (sorted lengths), ``bond_angle_1`` ... (angles in
            degrees between angularly adjacent bonds, sorted), ``polar_x``,
            ``polar_y`` (displacement of the centre from the centroid of its
            neighbours, image frame) and ``polar`` (its length).

        Examples
        --------
        >>> from hyperspy_localcryst.data import synthetic_lattice
        >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
        >>> inv = atoms.get_neighbourhoods(n_neighbours=4).get_invariants()
        >>> float(np.median(inv.get_column("bond_angle_1"))) > 80
        True
        """
        vectors = self.get_vectors("image")
        inv = nbn.neighbour_invariants(vectors)
        k = vectors.shape[1]
        units = self.metadata.get_item(f"{_KEY}.units", "") or "px"
        cols, u = {}, {}
        for j in range(k):
            cols[f"bond_{j + 1}"] = inv["bond_lengths"][:, j]
            u[f"bond_{j + 1}"] = units
        for j in range(k):
            cols[f"bond_angle_{j + 1}"] = inv["bond_angles"][:, j]
            u[f"bond_angle_{j + 1}"] = "deg"
        cols["polar_x"], cols["polar_y"] = inv["polar"][:, 0], inv["polar"][:, 1]
        cols["polar"] = np.hypot(cols["polar_x"], cols["polar_y"])
        u.update(polar_x=units, polar_y=units, polar=units)
        return self.get_centres().add_columns(cols, u)
