"""Atom counting from column intensities (StatSTEM's method, without MATLAB).

The integrated intensity of a column (its scattering cross-section) grows
with the number of atoms in it. Over many columns the cross-sections form a
mixture of Gaussians, one per atom count, all with the same width (the
noise and the remaining variations are the same for every count). For each
number of components G from 1 to ``max_components`` a mixture with equal
widths is fitted by maximum likelihood (several starts), and G is chosen by
the Integrated Classification Likelihood,
``ICL = BIC + 2 * sum_i sum_k -t_ik ln t_ik`` (``BIC = -2 ln L + p ln n``,
``t_ik`` the posterior probability that column i belongs to component k):
the BIC with a penalty for columns that no component claims clearly, the
criterion StatSTEM uses (De Backer et al., Ultramicroscopy 134, 23 (2013);
Van Aert et al., Phys. Rev. B 87, 064107 (2013)). The curve is returned so it
can be shown: a flat minimum means the data do not decide.

Counts: the components sorted by their means are consecutive counts; the
count of the first is ``offset``, by default estimated from the means
(``round(mean_0 / step)``, step = the median spacing of the means: thin
samples, where the cross-section grows about linearly with the count). For
thick samples give the offset from a simulated library of cross-sections.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_array, check_integer

__all__ = ["count_atoms", "mixture_criteria"]


def _fit(v, g, seed, n_init):
    from sklearn.mixture import GaussianMixture

    gm = GaussianMixture(
        g,
        covariance_type="tied",
        n_init=n_init,
        random_state=seed,
        reg_covar=1e-9 * float(np.var(v)) + 1e-300,
        max_iter=500,
        tol=1e-6,
    ).fit(v[:, None])
    return gm


def mixture_criteria(values, max_components=10, seed=0, n_init=8):
    """Equal-width Gaussian mixtures of 1 to ``max_components`` components.

    Parameters
    ----------
    values : array_like
        One cross-section per column (NaN left out).
    max_components : int
        Most components tried (at most the number of values / 2).
    seed : int
        Seed of the k-means starts.
    n_init : int
        Starts per mixture (the best likelihood is kept).

    Returns
    -------
    dict
        ``components`` (1 .. G), ``log_likelihood``, ``bic``, ``icl`` (one
        value per G), ``best`` (the G of the smallest ICL) and ``models``
        (the fitted scikit-learn mixtures).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> v = np.r_[rng.normal(10, 1, 200), rng.normal(20, 1, 200)]
    >>> mixture_criteria(v, 4)["best"]
    2
    """
    v = check_array(values, "values").ravel()
    v = v[np.isfinite(v)]
    max_components = check_integer(max_components, "max_components", minimum=1)
    if v.size < 4:
        raise ValueError(f"Only {v.size} finite values: at least 4 are needed.")
    if np.ptp(v) == 0:
        raise ValueError("All values are equal: there is nothing to count.")
    top = min(max_components, v.size // 2)
    out = {"components": [], "log_likelihood": [], "bic": [], "icl": [], "models": []}
    n = v.size
    for g in range(1, top + 1):
        gm = _fit(v, g, seed, n_init)
        ll = float(gm.score(v[:, None]) * n)
        p = 2 * g  # g means, g - 1 weights, one common variance
        bic = -2 * ll + p * np.log(n)
        t = gm.predict_proba(v[:, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.nansum(np.where(t > 0, t * np.log(t), 0.0))
        out["components"].append(g)
        out["log_likelihood"].append(ll)
        out["bic"].append(float(bic))
        out["icl"].append(float(bic + 2 * entropy))
        out["models"].append(gm)
    out["best"] = int(out["components"][int(np.argmin(out["icl"]))])
    return out


def count_atoms(values, max_components=10, n_components=None, offset="auto", seed=0):
    """Number of atoms in each column from its cross-section.

    Parameters
    ----------
    values : array_like
        One cross-section (integrated intensity) per column; NaN gives a
        count of -1.
    max_components : int
        Most components tried by the ICL.
    n_components : int, optional
        Use this many components instead of the ICL's choice.
    offset : int or "auto"
        Count of the component with the smallest mean (see the module notes).
    seed : int
        Seed of the starts.

    Returns
    -------
    dict
        ``counts`` (int, -1 for NaN), ``probability`` (the posterior of the
        count given), ``n_components``, ``means``, ``sigma`` (the common
        width), ``weights``, ``offset`` and the criteria of
        :func:`mixture_criteria` (``components``, ``icl``, ``bic``,
        ``log_likelihood``).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> n = rng.integers(2, 6, 400)                 # 2 to 5 atoms per column
    >>> v = 10.0 * n + rng.normal(0, 1.5, n.size)   # cross-sections
    >>> r = count_atoms(v)
    >>> r["n_components"], r["offset"], float(np.mean(r["counts"] == n)) > 0.95
    (4, 2, True)
    """
    v_all = check_array(values, "values").ravel()
    ok = np.isfinite(v_all)
    crit = mixture_criteria(v_all[ok], max_components, seed=seed)
    if n_components is None:
        g = crit["best"]
    else:
        g = check_integer(n_components, "n_components", minimum=1)
        if g > len(crit["models"]):
            raise ValueError(
                f"`n_components` = {g} is more than the {len(crit['models'])} "
                "mixtures fitted (max_components, or half the number of values)."
            )
    gm = crit["models"][g - 1]
    order = np.argsort(gm.means_.ravel())
    means = gm.means_.ravel()[order]
    rank = np.empty(g, dtype=np.int64)
    rank[order] = np.arange(g)
    if isinstance(offset, str):
        if offset != "auto":
            raise ValueError(f"`offset` must be 'auto' or an integer, got {offset!r}.")
        step = float(np.median(np.diff(means))) if g > 1 else float(means[0])
        off = max(1, int(round(means[0] / step))) if step > 0 else 1
    else:
        off = check_integer(offset, "offset", minimum=0)
    t = gm.predict_proba(v_all[ok][:, None])
    k = t.argmax(axis=1)
    counts = np.full(v_all.size, -1, dtype=np.int64)
    prob = np.full(v_all.size, np.nan)
    counts[ok] = rank[k] + off
    prob[ok] = t[np.arange(len(k)), k]
    return {
        "counts": counts,
        "probability": prob,
        "n_components": int(g),
        "means": means,
        "sigma": float(np.sqrt(np.ravel(gm.covariances_)[0])),
        "weights": gm.weights_[order],
        "offset": int(off),
        **{key: crit[key] for key in ("components", "icl", "bic", "log_likelihood")},
    }
