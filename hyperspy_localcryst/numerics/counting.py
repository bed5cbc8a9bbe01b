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

A series (:func:`count_atoms_series`): the same columns followed over the
frames of a time series. A column's count changes seldom from one frame to
the next, so its counts are the hidden states of a Markov chain observed
through the cross-sections (a hidden Markov model, StatSTEM's method for
series: De wael et al., Phys. Rev. Lett. 124, 106105 (2020)): Gaussian
emissions with one mean per count and one common width, one transition
matrix for all columns, fitted by the Baum-Welch algorithm (EM) from the
mixture of all frames' cross-sections, and each column's most probable
sequence of counts by the Viterbi algorithm. A column is counted with the
evidence of every frame instead of one.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_array, check_image, check_integer, check_positive, check_xy

__all__ = [
    "count_atoms",
    "count_atoms_series",
    "mixture_criteria",
    "voronoi_cross_sections",
]


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


def _offset(means, offset):
    """Count of the component with the smallest of the sorted ``means``:
    ``offset``, or with "auto" ``round(means[0] / step)`` (at least 1), step
    the median spacing of the means (the first mean alone with one)."""
    if isinstance(offset, str):
        if offset != "auto":
            raise ValueError(f"`offset` must be 'auto' or an integer, got {offset!r}.")
        step = float(np.median(np.diff(means))) if len(means) > 1 else float(means[0])
        return max(1, int(round(means[0] / step))) if step > 0 else 1
    return check_integer(offset, "offset", minimum=0)


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
    crit = mixture_criteria(v_all[np.isfinite(v_all)], max_components, seed=seed)
    return _mixture_counts(v_all, crit, n_components, offset)


def _mixture_counts(v_all, crit, n_components, offset):
    """:func:`count_atoms` from the fitted mixtures ``crit``."""
    ok = np.isfinite(v_all)
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
    off = _offset(means, offset)
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


def _emission_logs(v, means, sigma):
    """log N(v; means, sigma) of every value and state, (T, N, G); 0 where
    the value is missing (NaN: no evidence)."""
    z = (v[..., None] - means) / sigma
    logb = -0.5 * z * z - np.log(sigma * np.sqrt(2 * np.pi))
    return np.where(np.isfinite(v)[..., None], logb, 0.0)


def _forward_backward(logb, pi, A):
    """Scaled forward-backward of every column at once: ``gamma`` (T, N, G),
    ``xi`` summed over time and columns (G, G), and the log-likelihood."""
    T, N, G = logb.shape
    top = logb.max(axis=2, keepdims=True)
    b = np.exp(logb - top)
    alpha = np.empty((T, N, G))
    c = np.empty((T, N))
    a = pi * b[0]
    c[0] = a.sum(axis=1)
    alpha[0] = a / c[0][:, None]
    for t in range(1, T):
        a = (alpha[t - 1] @ A) * b[t]
        c[t] = a.sum(axis=1)
        alpha[t] = a / c[t][:, None]
    beta = np.ones((T, N, G))
    xi = np.zeros((G, G))
    for t in range(T - 2, -1, -1):
        nb = b[t + 1] * beta[t + 1]
        beta[t] = (nb @ A.T) / c[t + 1][:, None]
        xi += A * (alpha[t].T @ (nb / c[t + 1][:, None]))
    gamma = alpha * beta
    gamma /= gamma.sum(axis=2, keepdims=True)
    loglik = float(np.log(c).sum() + top.sum())
    return gamma, xi, loglik


def _viterbi(logb, pi, A):
    """Most probable state sequence of every column, (T, N)."""
    T, N, G = logb.shape
    with np.errstate(divide="ignore"):
        la, lp = np.log(A), np.log(pi)
    delta = lp + logb[0]
    back = np.empty((T, N, G), dtype=np.int64)
    for t in range(1, T):
        cand = delta[:, :, None] + la  # (N, from, to)
        back[t] = cand.argmax(axis=1)
        delta = cand.max(axis=1) + logb[t]
    path = np.empty((T, N), dtype=np.int64)
    path[-1] = delta.argmax(axis=1)
    for t in range(T - 1, 0, -1):
        path[t - 1] = back[t, np.arange(N), path[t]]
    return path


def _baum_welch(v, means, sigma, pi, max_iter, tol):
    """EM of a Gaussian-emission HMM with one common width, from the given
    means, width and initial distribution (a transition matrix of 0.9 on
    the diagonal to start). Returns the fit sorted by mean."""
    T, N = v.shape
    G = len(means)
    means, pi = means.copy(), pi.copy()
    A = np.full((G, G), 0.1 / G) + 0.9 * np.eye(G)
    A /= A.sum(axis=1, keepdims=True)
    seen = np.isfinite(v)
    vz = np.where(seen, v, 0.0)
    floor = 1e-6 * (float(np.nanstd(v)) or 1.0)
    old, n_iter = -np.inf, 0
    for n_iter in range(1, max_iter + 1):
        gamma, xi, loglik = _forward_backward(_emission_logs(v, means, sigma), pi, A)
        pi = np.maximum(gamma[0].mean(axis=0), 1e-300)
        pi /= pi.sum()
        if G > 1:
            A = np.maximum(xi, 1e-300)
            A /= A.sum(axis=1, keepdims=True)
        w = gamma * seen[..., None]
        wk = w.sum(axis=(0, 1))
        ok = wk > 0
        means[ok] = (w * vz[..., None]).sum(axis=(0, 1))[ok] / wk[ok]
        resid = (vz[..., None] - means) ** 2 * w
        sigma = max(float(np.sqrt(resid.sum() / max(w.sum(), 1e-300))), floor)
        if loglik - old < tol * abs(loglik):
            break
        old = loglik
    order = np.argsort(means)
    means, pi, A = means[order], pi[order], A[np.ix_(order, order)]
    logb = _emission_logs(v, means, sigma)
    gamma, _, loglik = _forward_backward(logb, pi, A)
    n_obs = int(seen.sum())
    n_par = G + 1 + (G - 1) + G * (G - 1)
    bic = -2 * loglik + n_par * np.log(max(n_obs, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.nansum(np.where(gamma > 0, gamma * np.log(gamma), 0.0))
    return {
        "means": means,
        "sigma": sigma,
        "initial": pi,
        "transition": A,
        "logb": logb,
        "gamma": gamma,
        "log_likelihood": loglik,
        "bic": float(bic),
        "icl": float(bic + 2 * ent),
        "n_iter": int(n_iter),
    }


def count_atoms_series(
    values,
    max_components=10,
    n_components=None,
    offset="auto",
    seed=0,
    max_iter=500,
    tol=1e-9,
):
    """Counts of columns followed over a series, by a hidden Markov model.

    See the module notes. For each number of counts (states) ``G`` from 1
    to ``max_components`` the equal-width mixture of all frames'
    cross-sections pooled (:func:`mixture_criteria`) starts a Baum-Welch fit
    of the means, the common width, the initial distribution and the
    transition matrix to the sequences; ``G`` is the minimum of the HMM's
    Integrated Classification Likelihood (its BIC, with ``G`` means, one
    width, ``G - 1`` initial and ``G (G - 1)`` transition parameters, plus
    twice the entropy of the state posteriors). The time correlation
    resolves counts that one frame's mixture cannot. Viterbi then gives
    each column's most probable sequence of counts.

    Parameters
    ----------
    values : array_like, shape (n_frames, n_columns)
        Cross-section of each column (the same column along axis 1) in each
        frame; NaN where a column is missing in a frame (no evidence there:
        its count follows from the frames around it).
    max_components : int
        Most counts tried.
    n_components : int, optional
        Use this many counts instead of the criterion's choice.
    offset : int or "auto"
        Count of the faintest state, as :func:`count_atoms` (from the HMM's
        means with "auto").
    seed : int
        Seed of the mixtures' starts.
    max_iter : int
        Most EM iterations per ``G``.
    tol : float
        Stop when the log-likelihood gains less than ``tol`` times its size.

    Returns
    -------
    dict
        ``counts`` (int, shape of ``values``; -1 for a column without any
        value), ``probability`` (posterior of the count given, from all
        frames), ``transition`` (G x G, row = count before, column = count
        after, in count order), ``initial``, ``means``, ``sigma``,
        ``offset``, ``n_components``, ``log_likelihood``, ``n_iter``, the
        criterion curve ``components``, ``icl``, ``bic``, and ``mixture``
        (the per-frame :func:`count_atoms` of the pooled values with the
        same number of components: counts that ignore time).

    Examples
    --------
    Columns of 2 to 5 atoms, 40 of them losing one half-way, over 6 frames,
    measured with noise 0.4 of the step between counts (one frame's mixture
    cannot tell the counts apart):

    >>> rng = np.random.default_rng(0)
    >>> n = np.repeat(rng.integers(2, 6, (1, 300)), 6, axis=0)
    >>> n[3:, np.flatnonzero(n[0] >= 3)[:40]] -= 1
    >>> v = 10.0 * n + rng.normal(0, 4.0, n.shape)
    >>> r = count_atoms_series(v, max_components=6)
    >>> r["n_components"], r["offset"]
    (4, 2)
    >>> hmm = float(np.mean(r["counts"] == n))
    >>> alone = float(np.mean(r["mixture"]["counts"].reshape(n.shape) == n))
    >>> hmm > 0.97, alone < 0.9
    (True, True)
    """
    v = check_array(values, "values", ndim=2)
    max_iter = check_integer(max_iter, "max_iter", minimum=1)
    if v.shape[0] < 2:
        raise ValueError("A series needs at least 2 frames (`values` rows).")
    crit = mixture_criteria(v.ravel()[np.isfinite(v.ravel())], max_components, seed)
    models = crit["models"]
    if n_components is None:
        tried = range(1, len(models) + 1)
    else:
        g = check_integer(n_components, "n_components", minimum=1)
        if g > len(models):
            raise ValueError(
                f"`n_components` = {g} is more than the {len(models)} mixtures "
                "fitted (max_components, or half the number of values)."
            )
        tried = [g]
    fits = []
    for g in tried:
        gm = models[g - 1]
        order = np.argsort(gm.means_.ravel())
        fits.append(
            _baum_welch(
                v,
                gm.means_.ravel()[order],
                float(np.sqrt(np.ravel(gm.covariances_)[0])),
                gm.weights_[order],
                max_iter,
                tol,
            )
        )
    best = min(fits, key=lambda f: f["icl"]) if n_components is None else fits[0]
    G = len(best["means"])
    off = _offset(best["means"], offset)
    path = _viterbi(best["logb"], best["initial"], best["transition"])
    prob = np.take_along_axis(best["gamma"], path[..., None], axis=2)[..., 0]
    counts = path + off
    none = ~np.isfinite(v).any(axis=0)
    counts[:, none] = -1
    prob[:, none] = np.nan
    return {
        "counts": counts,
        "probability": prob,
        "transition": best["transition"],
        "initial": best["initial"],
        "means": best["means"],
        "sigma": best["sigma"],
        "offset": int(off),
        "n_components": int(G),
        "log_likelihood": best["log_likelihood"],
        "n_iter": best["n_iter"],
        "components": np.array([len(f["means"]) for f in fits]),
        "icl": np.array([f["icl"] for f in fits]),
        "bic": np.array([f["bic"] for f in fits]),
        "mixture": _mixture_counts(v.ravel(), crit, G, offset),
    }


def voronoi_cross_sections(image, x, y, max_radius, background=None, rows=256):
    """Scattering cross-section of each column: the intensity of its
    Voronoi cell.

    Every pixel belongs to the nearest column when that column is closer
    than ``max_radius``; a column's cross-section is the sum of its pixels minus
    its background times their number (StatSTEM's Voronoi integration). It
    needs no model of the column's shape, so it does not share the
    amplitude-width correlation of a fitted Gaussian at low dose, and the
    cells of close columns never overlap (the sum of all cross-sections is
    the image's intensity above background).

    Parameters
    ----------
    image : array_like, 2D
        The image (x = column, y = row).
    x, y : array_like
        Column positions, pixels.
    max_radius : float
        Distance from its column that a pixel must stay below (pixels): caps the cells
        at the edges of a crystal and in vacuum.
    background : float or array_like, optional
        Per column (or one for all), in image units per pixel; none by
        default.
    rows : int
        Rows of the image handled at once (bounds the memory).

    Returns
    -------
    sums : numpy.ndarray
        Cross-section of each column (image units x pixels).
    n_pixels : numpy.ndarray of int
        Pixels in each column's cell.

    Examples
    --------
    Two columns 6 px apart, each a 1-pixel spike of 10 on a background of 1:

    >>> img = np.ones((9, 15))
    >>> img[4, 4] += 10
    >>> img[4, 10] += 10
    >>> sums, n = voronoi_cross_sections(img, [4, 10], [4, 4], 3.0, background=1)
    >>> sums.tolist(), n.tolist()
    ([10.0, 10.0], [25, 25])
    """
    from scipy.spatial import cKDTree

    from ._parallel import kd_query

    img = check_image(image, allow_constant=True)
    pts = check_xy(x, y)
    r = check_positive(max_radius, "max_radius")
    rows = check_integer(rows, "rows", minimum=1)
    n = len(pts)
    sums = np.zeros(n)
    npx = np.zeros(n, dtype=np.int64)
    if n == 0:
        return sums, npx
    tree = cKDTree(pts)
    H, W = img.shape
    lo = max(0, int(np.floor(pts[:, 1].min() - r)))
    hi = min(H, int(np.ceil(pts[:, 1].max() + r)) + 1)
    xs = np.arange(W, dtype=np.float64)
    for r0 in range(lo, hi, rows):
        r1 = min(hi, r0 + rows)
        yy = np.repeat(np.arange(r0, r1, dtype=np.float64), W)
        xx = np.tile(xs, r1 - r0)
        d, lab = kd_query(tree, np.column_stack([xx, yy]), distance_upper_bound=r)
        inside = np.isfinite(d)
        sums += np.bincount(
            lab[inside], weights=img[r0:r1].ravel()[inside], minlength=n
        )
        npx += np.bincount(lab[inside], minlength=n)
    if background is not None:
        bg = np.broadcast_to(check_array(background, "background"), (n,))
        sums = sums - bg * npx
    return sums, npx
