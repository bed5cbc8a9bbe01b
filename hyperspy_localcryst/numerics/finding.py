"""Atom finding without a global lattice.

The paper's local finder (Belianinov et al. 2015): a *target* (one
representative atom) is cross-correlated over every pixel (normalised
cross-correlation, i.e. template matching), the correlation map is
thresholded, the connected blobs are filtered by a size histogram (point
artefacts dropped, merged blobs split) and the blob centroids are the atoms.
Two image-transform finders complement it (Laplacian of Gaussian and local
maxima), and :func:`consensus` keeps the atoms that several finders agree on.

Positions are in pixels, x = column, y = row, pixel centres at integers.
"""

import numpy as np
import scipy.fft
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage.filters import threshold_otsu

from ._checks import (
    _check_separation,
    _threshold,
    check_array,
    check_image,
    check_integer,
    check_number,
    check_positive,
    renamed,
)
from ._imaging import (
    _smooth_at,
    _unit_scale,
    histogram,
    in_strips,
    label_stats,
    local_maxima,
    normalise_correlation,
    window_min_at,
    window_variance,
)
from ._parallel import max_threads
from .separation import (
    _noise_std,
    _subpixel,
    central_separation,
)

__all__ = [
    "METHODS",
    "extract_target",
    "auto_target",
    "normalised_cross_correlation",
    "find_atoms",
    "find_atoms_template",
    "find_atoms_log",
    "find_atoms_local_max",
    "consensus",
    "label_by_intensity",
]

METHODS = ("template", "log", "local_max", "sparse")
# the LoG finder's noise floor, in standard deviations of the response's
# noise. Measured: on pairs of columns 3 widths apart (Poisson, peaks 140-200
# over 20, separation 6.7 px) the noise maxima reach about 10 and 5 / 6 / 7 /
# 8 let 328 / 212 / 86 / 46 of them through; on the real MoS2 image, 7 keeps
# all but 5 of 4224 columns, 8 loses 38 (faint S2 sites)
_LOG_NOISE_K = 7.0


def _half_width(separation):
    return max(2, int(round(0.4 * separation)))


def extract_target(image, x, y, half_width):
    """Cut a target (template) of ``2 * half_width + 1`` pixels around (x, y).

    Parameters
    ----------
    image : numpy.ndarray
        2D image.
    x, y : float
        Position of the representative atom, in pixels.
    half_width : int
        Half the template size in pixels.

    Returns
    -------
    numpy.ndarray
        The template.

    Examples
    --------
    >>> img = np.arange(100.0).reshape(10, 10)
    >>> extract_target(img, 5, 4, 1)
    array([[34., 35., 36.],
           [44., 45., 46.],
           [54., 55., 56.]])
    """
    img = check_array(image, "image", ndim=2)
    h = check_integer(half_width, "half_width", minimum=1)
    x, y = (check_number(v, n) for v, n in ((x, "x"), (y, "y")))
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(
            f"`x`, `y`: the target position (x={x}, y={y}) must be finite."
        )
    cx, cy = int(round(x)), int(round(y))
    if cx - h < 0 or cy - h < 0 or cx + h >= img.shape[1] or cy + h >= img.shape[0]:
        raise ValueError(
            f"`x`, `y`: the target at (x={x:g}, y={y:g}) with `half_width` {h} px "
            f"does not fit inside the image ({img.shape[1]} x {img.shape[0]} px)."
        )
    return np.array(img[cy - h : cy + h + 1, cx - h : cx + h + 1], dtype=np.float64)


def auto_target(image, separation, n_max=400):
    """Build a representative atom automatically.

    The average of the patches around the most prominent local maxima of the
    smoothed image (up to ``n_max`` of them), so that noise averages out and
    the target has the typical shape of a column. On large images the maxima
    are searched in the central region of 20 x 20 separations (about 400
    columns or more, at least 128 x 128 px): enough columns for the average,
    in a fraction of the time of the whole image.

    Parameters
    ----------
    image : numpy.ndarray
        2D image.
    separation : float
        Nearest-neighbour distance in pixels.
    n_max : int
        Maximum number of patches averaged.

    Returns
    -------
    numpy.ndarray
        Square template of ``2 * round(0.4 * separation) + 1`` pixels.

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_lattice_image
    >>> img, _ = make_lattice_image((128, 128), spacing=16, sigma=3, noise=None)
    >>> auto_target(img, 16).shape
    (13, 13)
    """
    img = check_image(image)
    sep = _check_separation(separation, img.shape)
    n_max = check_integer(n_max, "n_max", minimum=1)
    h = _half_width(sep)
    if 2 * h + 1 > min(img.shape):
        raise ValueError(
            f"`separation` {sep:g} px gives a target of {2 * h + 1} px, larger "
            f"than the image ({img.shape[1]} x {img.shape[0]} px)."
        )
    side = max(128, int(np.ceil(20 * sep)))
    r0 = max(0, (img.shape[0] - side) // 2)
    c0 = max(0, (img.shape[1] - side) // 2)
    img = img[r0 : r0 + side, c0 : c0 + side]
    y, x, prom = _maxima(img, sep)
    inside = (x >= h) & (y >= h) & (x < img.shape[1] - h) & (y < img.shape[0] - h)
    x, y, prom = x[inside], y[inside], prom[inside]
    if len(x) == 0:
        raise ValueError(
            f"No local maximum found to build a target from (image {img.shape[1]} "
            f"x {img.shape[0]} px, `separation` {sep:g} px): the image is too small "
            "for this separation; give a smaller `separation` or a `target`."
        )
    keep = np.argsort(prom)[::-1][:n_max]
    patches = [
        img[j - h : j + h + 1, i - h : i + h + 1] for i, j in zip(x[keep], y[keep])
    ]
    return np.mean(patches, axis=0)


def _maxima(img, sep, smooth=None):
    """Local maxima of the smoothed image and their prominence."""
    sigma = smooth if smooth is not None else max(sep / 8, 0.5)
    s = (
        img  # (a Gaussian of width 0 is the image itself)
        if sigma == 0
        else in_strips(lambda a: ndi.gaussian_filter(a, sigma), img, 4 * sigma + 1)
    )
    rows, cols = local_maxima(s, max(1, int(0.4 * sep)))
    # the lowest point of the square around each maximum (not the whole
    # minimum-filtered image)
    prom = s[rows, cols] - window_min_at(s, rows, cols, max(3, int(round(sep)) | 1))
    return rows, cols, prom


def normalised_cross_correlation(image, target):
    """Normalised cross-correlation of ``target`` at every pixel of ``image``.

    Values lie in [-1, 1]; 1 means the image around that pixel is an affine
    copy (any brightness and contrast) of the target. The map has the shape
    of the image; entry (row, col) refers to the target centred on that
    pixel.

    Parameters
    ----------
    image, target : numpy.ndarray
        2D arrays; the target must be smaller than the image.

    Returns
    -------
    numpy.ndarray
        Correlation map.

    Examples
    --------
    >>> img = np.zeros((9, 9)); img[4, 5] = 1
    >>> ncc = normalised_cross_correlation(img, img[2:7, 3:8])
    >>> np.unravel_index(np.argmax(ncc), ncc.shape)
    (np.int64(4), np.int64(5))
    """
    img = check_image(image)
    return _ncc_maps(img, [_check_target(img, target)])[0]


def _check_target(img, target):
    tgt = check_array(target, "target")
    if tgt.ndim != 2:
        raise ValueError(f"`target` must be 2D, got {tgt.ndim} dimension(s).")
    if tgt.shape[0] > img.shape[0] or tgt.shape[1] > img.shape[1]:
        raise ValueError(
            f"`target` ({tgt.shape[1]} x {tgt.shape[0]} px) is larger than the "
            f"image ({img.shape[1]} x {img.shape[0]} px)."
        )
    if not np.all(np.isfinite(tgt)) or np.ptp(tgt) == 0:
        raise ValueError("`target` must be finite and not constant.")
    return tgt


def _ncc_maps(img, targets):
    """Normalised cross-correlation maps of several targets (see
    :func:`normalised_cross_correlation`); the image's Fourier transform and
    window variance are computed once per template shape and shared.

    The correlation runs in single precision FFTs (the map is accurate to
    ~1e-4, far below the noise of any threshold on it); the window variance
    that normalises it is in double precision.
    """
    ny, nx = img.shape
    base = _unit_scale(img - img.mean())
    cache = {}
    maps = []
    for tgt in targets:
        th, tw = tgt.shape
        if (th, tw) not in cache:
            # reflect-pad so that the map has the image's shape and entry
            # (r, c) is the window centred on pixel (r, c) (for even sizes the
            # window starts th // 2 rows above, as in scikit-image's
            # match_template)
            dy, dx = th // 2, tw // 2
            pad = np.pad(base, ((dy, th - 1 - dy), (dx, tw - 1 - dx)), "reflect")
            shape = tuple(scipy.fft.next_fast_len(n, real=True) for n in pad.shape)
            spectrum = scipy.fft.rfft2(
                pad.astype(np.float32), s=shape, workers=max_threads()
            )
            # windows without contrast have no defined correlation: var = 0
            var = window_variance(pad, th, tw)
            cache[(th, tw)] = (spectrum, shape, var)
        spectrum, shape, var = cache[(th, tw)]
        t = _unit_scale(tgt - tgt.mean())
        t_ssd = float(np.sum(t * t))
        kernel = scipy.fft.rfft2(
            t[::-1, ::-1].astype(np.float32), s=shape, workers=max_threads()
        )
        full = scipy.fft.irfft2(spectrum * kernel, s=shape, workers=max_threads())
        num = full[th - 1 : th - 1 + ny, tw - 1 : tw - 1 + nx]
        maps.append(normalise_correlation(num, var, t_ssd))
    return maps


def _blobs(score, threshold, sep, min_area, max_area):
    """Centroids of the thresholded score map, filtered by a size histogram."""
    mask = score > threshold
    labels, n = ndi.label(mask)
    if n == 0:
        return np.empty(0), np.empty(0), np.empty(0)
    # centroid weighted by the correlation above the threshold
    area, sw, swx, swy, peak = (
        v[1:] for v in label_stats(labels, score - threshold, score, n)
    )
    med = np.median(area)
    good = (area >= min_area * med) & (area <= max_area * med)
    xs, ys, ss = [swx[good] / sw[good]], [swy[good] / sw[good]], [peak[good]]
    merged = area > max_area * med
    if np.any(merged):
        # Merged blobs: split them at the correlation maxima they contain.
        in_merged = np.concatenate([[False], merged])[labels]
        rows, cols = local_maxima(
            np.where(in_merged, score, -1.0), 0.4 * sep, threshold=threshold
        )
        xs.append(cols.astype(float))
        ys.append(rows.astype(float))
        ss.append(score[rows, cols])
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ss)


def _auto_threshold(values):
    """Otsu's threshold (scikit-image's, on a 256-bin histogram of the
    values, counted in parallel)."""
    values = values[np.isfinite(values)]
    if len(values) < 2 or np.ptp(values) == 0:
        return -np.inf
    lo, hi = float(values.min()), float(values.max())
    counts = histogram(values, lo, hi, 256)
    edges = np.linspace(lo, hi, 257)
    return float(threshold_otsu(hist=(counts, 0.5 * (edges[:-1] + edges[1:]))))


def find_atoms_template(
    image, separation, target=None, threshold="auto", min_area=0.25, max_area=2.5
):
    """The paper's target-search finder.

    Parameters
    ----------
    image : numpy.ndarray
        2D image.
    separation : float
        Smallest column separation, in pixels.
    target : numpy.ndarray or list of numpy.ndarray, optional
        One representative atom, or one per atom type. Built automatically
        with :func:`auto_target` if not given.
    threshold : float or "auto"
        Correlation threshold in [-1, 1]; ``"auto"`` takes Otsu's threshold
        of the correlation map.
    min_area, max_area : float
        Blobs smaller than ``min_area`` times the median blob area are point
        artefacts and dropped; blobs larger than ``max_area`` times it may
        hold merged atoms and are split at their correlation maxima (a blob
        with a single maximum stays one atom).

    Returns
    -------
    dict
        ``x``, ``y`` (pixels), ``score`` (peak correlation) and ``label`` (the
        index of the best-matching target).

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_lattice_image
    >>> img, truth = make_lattice_image((200, 200), spacing=20, sigma=3, seed=0)
    >>> found = find_atoms_template(img, 20)
    >>> len(truth["x"]), len(found["x"])  # also finds the cut atoms at the edges
    (81, 121)
    """
    img = check_image(image)
    sep = _check_separation(separation, img.shape)
    thr = _threshold(threshold, -1.0, 1.0)
    min_area = check_number(min_area, "min_area", "a fraction of the median area")
    max_area = check_number(max_area, "max_area", "a fraction of the median area")
    if not (np.isfinite(max_area) and 0 <= min_area < max_area):
        raise ValueError(
            "Need 0 <= `min_area` < `max_area` (finite fractions of the median), "
            f"got min_area={min_area}, max_area={max_area}."
        )
    if target is None:
        targets = [auto_target(img, sep)]
    elif isinstance(target, (list, tuple)):
        targets = list(target)
    else:
        targets = [target]
    if len(targets) == 0:
        raise ValueError("`target` is an empty list.")
    targets = [_check_target(img, t) for t in targets]
    maps = _ncc_maps(img, targets)
    score = maps[0] if len(maps) == 1 else np.max(maps, axis=0)
    if thr is None:
        thr = _auto_threshold(score.ravel())
    x, y, s = _blobs(score, thr, sep, min_area, max_area)
    ix = np.clip(np.round(x).astype(int), 0, img.shape[1] - 1)
    iy = np.clip(np.round(y).astype(int), 0, img.shape[0] - 1)
    label = _best_target(img, ix, iy, targets) if len(x) else np.empty(0, int)
    return {"x": x, "y": y, "score": s, "label": label}


def _best_target(img, ix, iy, targets):
    """Index of the target each atom resembles most, brightness included.

    The correlation map is blind to brightness and contrast (that is what lets
    one target find dim and bright columns alike), so atom types that differ
    mainly in intensity are told apart by the mean squared difference between
    each atom's patch and each target instead.
    """
    if len(targets) == 1:
        return np.zeros(len(ix), dtype=int)
    pad = max(max(t.shape) for t in targets) // 2 + 1
    big = np.pad(img, pad, mode="reflect")
    cost = np.empty((len(targets), len(ix)))
    for k, t in enumerate(targets):
        hy, hx = t.shape[0] // 2, t.shape[1] // 2
        oy, ox = np.mgrid[-hy : t.shape[0] - hy, -hx : t.shape[1] - hx]
        patches = big[iy[:, None, None] + pad + oy, ix[:, None, None] + pad + ox]
        cost[k] = np.mean((patches - t) ** 2, axis=(1, 2))
    return np.argmin(cost, axis=0)


def _prominence_threshold(prom):
    """Separate real columns from noise maxima by their prominence.

    Otsu's threshold on log-prominence, limited to at most a quarter of the
    median prominence of the upper half so that a dim sublattice is kept.
    """
    prom = prom[prom > 0]
    if len(prom) < 2:
        return 0.0
    lp = np.log(prom)
    thr = np.exp(threshold_otsu(lp)) if np.ptp(lp) > 0 else 0.0
    top = np.median(np.sort(prom)[len(prom) // 2 :])
    return float(min(thr, 0.25 * top))


def find_atoms_local_max(image, separation, threshold="auto"):
    """Local maxima of the lightly smoothed image, filtered by prominence.

    Parameters
    ----------
    image : numpy.ndarray
        2D image.
    separation : float
        Smallest column separation, in pixels; maxima closer than
        ``0.4 * separation`` are merged.
    threshold : float or "auto"
        Minimum prominence (height above the lowest pixel within one
        separation), in image units.

    Returns
    -------
    dict
        ``x``, ``y`` (pixels), ``score`` (prominence).

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_lattice_image
    >>> img, truth = make_lattice_image((200, 200), spacing=20, sigma=3, seed=0)
    >>> len(find_atoms_local_max(img, 20)["x"])
    121
    """
    img = check_image(image)
    sep = _check_separation(separation, img.shape)
    thr = _threshold(threshold)
    y, x, prom = _maxima(img, sep)
    thr = _prominence_threshold(prom) if thr is None else thr
    keep = prom > thr
    return {"x": x[keep].astype(float), "y": y[keep].astype(float), "score": prom[keep]}


def find_atoms_log(image, separation, threshold="auto"):
    """Maxima of the scale-normalised Laplacian of Gaussian response.

    The LoG at the scale of a column (``sigma = separation / 5``) enhances
    blobs of that size and suppresses slowly varying background.

    Parameters
    ----------
    image : numpy.ndarray
        2D image.
    separation : float
        Smallest column separation, in pixels.
    threshold : float or "auto"
        Minimum prominence of the LoG response; ``"auto"``: Otsu's threshold
        of the log-prominences (at most a quarter of the bright maxima's),
        and at least 7 times the noise of the response (the image's white
        noise, estimated from it, times the kernel's L2 norm).

    Returns
    -------
    dict
        ``x``, ``y`` (pixels; the response's maximum refined by a parabola
        along each axis), ``score`` (LoG response).

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_lattice_image
    >>> img, truth = make_lattice_image((200, 200), spacing=20, sigma=3, seed=0)
    >>> len(find_atoms_log(img, 20)["x"])
    121
    """
    img = check_image(image)
    sep = _check_separation(separation, img.shape)
    thr = _threshold(threshold)
    sig = max(sep / 5.0, 0.7)
    # the image's noise before the response exists (their work arrays, each
    # the size of the image, then never live at once)
    noise = _noise_std(img) if thr is None else None
    resp = in_strips(
        lambda a: ndi.gaussian_laplace(a, sig, mode="reflect"), img, 4 * sig + 1
    )
    resp *= -(sig**2)  # in place: no second image-sized array
    y, x, prom = _maxima(resp, sep, smooth=0)
    if thr is None:
        # and _LOG_NOISE_K times the noise of the response (white noise of
        # the image, estimated from it, times the kernel's L2 norm)
        h = int(np.ceil(4 * sig))
        delta = np.zeros((2 * h + 1, 2 * h + 1))
        delta[h, h] = 1.0
        norm = np.sqrt(np.sum((sig**2 * ndi.gaussian_laplace(delta, sig)) ** 2))
        thr = max(_prominence_threshold(prom), _LOG_NOISE_K * noise * norm)
    # a column is a peak of the response above its local level: a curved
    # background (an STM piezo bow) shifts the whole response by a constant,
    # so "above zero" would keep only the tallest peaks of a bowl
    level = _smooth_at(resp, 2.0 * sep, y, x)
    keep = (prom > thr) & (resp[y, x] > level)
    fx, fy = _subpixel(resp, y[keep], x[keep])
    return {"x": fx, "y": fy, "score": prom[keep]}


def consensus(results, separation, min_votes=None):
    """Keep the atoms that several finders agree on.

    Positions from different finders closer than ``separation / 3`` are the
    same atom; its position is the mean of theirs.

    Parameters
    ----------
    results : list of dict
        Outputs of the finders (each with ``x`` and ``y``).
    separation : float
        Smallest column separation, in pixels.
    min_votes : int, optional
        Number of finders that must agree; default a majority.

    Returns
    -------
    dict
        ``x``, ``y`` and ``votes``.

    Examples
    --------
    >>> a = {"x": np.array([1.0, 10.0]), "y": np.array([1.0, 10.0])}
    >>> b = {"x": np.array([1.2, 30.0]), "y": np.array([0.9, 30.0])}
    >>> consensus([a, b], separation=9, min_votes=2)["x"]
    array([1.1])
    """
    if not isinstance(results, (list, tuple)) or not all(
        isinstance(r, dict) and "x" in r and "y" in r for r in results
    ):
        raise TypeError(
            "`results` must be a list of finder outputs (dicts with 'x' and 'y'), "
            f"got {results!r:.60}."
        )
    n_f = len(results)
    if n_f == 0:
        raise ValueError("`results` is empty: give at least one finder's output.")
    separation = check_positive(separation, "separation", "a number of pixels")
    if min_votes is None:
        min_votes = n_f // 2 + 1
    min_votes = check_integer(min_votes, "min_votes")
    if not 1 <= min_votes <= n_f:
        raise ValueError(f"`min_votes` must lie in [1, {n_f}], got {min_votes}.")
    xy = np.concatenate(
        [
            np.column_stack(
                [check_array(r["x"], "results", 1), check_array(r["y"], "results", 1)]
            )
            for r in results
        ]
    )
    src = np.concatenate([np.full(len(r["x"]), k) for k, r in enumerate(results)])
    if len(xy) == 0:
        return {"x": np.empty(0), "y": np.empty(0), "votes": np.empty(0, int)}
    # single-linkage groups of points within the tolerance
    pairs = cKDTree(xy).query_pairs(separation / 3.0, output_type="ndarray")
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix(
        (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), (len(xy),) * 2
    )
    _, comp = connected_components(graph, directed=False)
    n_c = comp.max() + 1
    votes = np.zeros((n_c, n_f), bool)
    votes[comp, src] = True
    count = np.bincount(comp, minlength=n_c)
    mx = np.bincount(comp, xy[:, 0], n_c) / count
    my = np.bincount(comp, xy[:, 1], n_c) / count
    nv = votes.sum(axis=1)
    keep = nv >= min_votes
    return {"x": mx[keep], "y": my[keep], "votes": nv[keep]}


def find_atoms(image, separation=None, method=None, threshold="auto", **kwargs):
    """Find atomic columns with one finder or a consensus of several.

    Parameters
    ----------
    image : numpy.ndarray
        2D image.
    separation : float, optional
        Smallest column separation, in pixels; estimated with
        :func:`estimate_separation` if not given.
    method : str or list of str, optional
        Default ``"log"``, or ``"template"`` when a ``target`` is given.
        ``"log"`` (Laplacian of Gaussian), ``"template"`` (the
        paper's target search), ``"local_max"``, ``"sparse"``
        (:func:`~hyperspy_localcryst.numerics.sparse.find_atoms_sparse`:
        non-negative sparse deconvolution, separates overlapping columns,
        slower), or a list of them for a majority consensus. The default was
        chosen by measurement on synthetic lattices, a dim sublattice and
        the real files (``docs/architecture.md``): the LoG finds every
        column of all of them, where the template finder merges close or
        faint columns (PbTiO3/SrRuO3's Ru, MoS2's S2 sites, whole rows of
        the Atomap ADF image) and local maxima drop a dim sublattice.
    threshold : float or "auto"
        Passed to the finder(s).
    **kwargs
        Passed to :func:`find_atoms_template` (``target``, ``min_area``,
        ``max_area``) or to :func:`consensus` (``min_votes``).

    Returns
    -------
    dict
        ``x``, ``y`` in pixels and ``score``; ``label`` for several targets;
        ``votes`` for a consensus.

    Examples
    --------
    >>> from hyperspy_localcryst.data.synthetic import make_lattice_image
    >>> img, truth = make_lattice_image((200, 200), spacing=20, sigma=3, seed=0)
    >>> found = find_atoms(img, method=["template", "log", "local_max"])
    >>> len(found["x"]), int(found["votes"].min())
    (121, 3)
    """
    img = check_image(image)
    sep = central_separation(img) if separation is None else separation
    sep = _check_separation(sep, img.shape)
    if method is None:
        method = "template" if kwargs.get("target") is not None else "log"
    if not isinstance(method, (str, list, tuple)):
        raise TypeError(
            f"`method` must be a finder's name or a list of names, got {method!r}."
        )
    methods = [method] if isinstance(method, str) else list(method)
    if len(methods) == 0:
        raise ValueError("`method` is an empty list.")
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"Unknown `method` {m!r}; choose from {METHODS}.")
    min_votes = kwargs.pop("min_votes", None)
    results = []
    for m in methods:
        if m == "template":
            results.append(find_atoms_template(img, sep, threshold=threshold, **kwargs))
        elif m == "log":
            results.append(find_atoms_log(img, sep, threshold=threshold))
        elif m == "sparse":
            from .sparse import find_atoms_sparse

            results.append(find_atoms_sparse(img, sep, threshold=threshold))
        else:
            results.append(find_atoms_local_max(img, sep, threshold=threshold))
    if len(results) == 1:
        return results[0]
    return consensus(results, sep, min_votes=min_votes)


@renamed(n_types="n_sublattices")
def label_by_intensity(values, n_sublattices=2, seed=0):
    """Split atoms into ``n_sublattices`` sublattices by a 1D Gaussian mixture.

    Parameters
    ----------
    values : array_like
        One intensity per atom (e.g. the fitted amplitude or the peak value).
    n_sublattices : int
        Number of sublattices (atom types). Its old name ``n_types`` still
        works, with a ``FutureWarning``.
    seed : int
        Random state of the mixture fit, for reproducible labels.

    Returns
    -------
    numpy.ndarray
        Integer labels, 0 for the brightest class, ``n_sublattices - 1`` for the
        dimmest.

    Examples
    --------
    >>> label_by_intensity([10, 11, 1, 2, 10.5, 1.5])
    array([0, 0, 1, 1, 0, 1])
    """
    from sklearn.mixture import GaussianMixture

    v = check_array(values, "values").reshape(-1, 1)
    n_sublattices = check_integer(n_sublattices, "n_sublattices", minimum=1)
    seed = check_integer(seed, "seed", minimum=0, maximum=2**32 - 1)
    if len(v) < n_sublattices:
        raise ValueError(
            f"Cannot split {len(v)} atom(s) into {n_sublattices} sublattices "
            "(`n_sublattices`)."
        )
    if not np.all(np.isfinite(v)):
        raise ValueError("`values` contains NaN or infinite intensities.")
    if n_sublattices == 1:
        return np.zeros(len(v), dtype=int)
    gm = GaussianMixture(n_sublattices, random_state=seed, n_init=3).fit(v)
    raw = gm.predict(v)
    order = np.argsort(gm.means_.ravel())[::-1]
    rank = np.empty(n_sublattices, int)
    rank[order] = np.arange(n_sublattices)
    return rank[raw]
