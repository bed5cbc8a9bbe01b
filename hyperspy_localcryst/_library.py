"""The parts of :class:`~hyperspy_localcryst.library.NeighbourhoodLibrary`
that are not the class: the settings a library records from the
neighbourhoods, the features it classifies (neighbour vectors, scaled by the
nearest-neighbour distance or not), the checks of a saved model and the
robust class centroids.
"""

import importlib

import numpy as np

from .numerics._checks import check_array
from .signals._grid import check_integer, check_number

_SETTINGS = (
    "metric",
    "n_neighbours",
    "radius",
    "angle_tolerance",
    "distance_tolerance",
)


def _nb_settings(nb):
    md = nb.metadata.get_item("AtomNeighbourhoods")
    if md is None:
        raise TypeError(
            "`nb` must be an AtomNeighbourhoods signal (from `get_neighbourhoods`)."
        )
    out = {}
    for k in _SETTINGS:
        v = md.get_item(k)
        if isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    out["n_neighbours"] = int(out["n_neighbours"])
    out["radius"] = "None" if out["radius"] in (None, "None") else float(out["radius"])
    out["units"] = str(md.get_item("units", ""))
    return out


def _reference_nn(nb):
    """Median length of each centre's first neighbour vector."""
    v = nb._table()  # 2D (n_centres, 2k) also for one row; refuses stacks
    r = np.hypot(v[:, 0], v[:, 1])
    r = r[np.isfinite(r)]
    if r.size == 0:
        raise ValueError("The neighbourhoods have no finite first neighbour vector.")
    return float(np.median(r))


def _features(nb, scaling):
    X = nb._table()  # 2D (n_centres, 2k) also for one row; refuses stacks
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} centre(s) have missing neighbours (radius mode); "
            "use `nb.fill_missing()` first."
        )
    if scaling == "nn":
        X = X / _reference_nn(nb)
    return X


def _python(v):
    """Metadata values as plain Python (numpy scalars and arrays converted)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [_python(e) for e in v]
    if isinstance(v, dict):
        return {k: _python(e) for k, e in v.items()}
    return v


def _strings(value, name):
    """A list of strings (one per class), refusing a bare string, dict or set."""
    if not isinstance(value, (list, tuple, np.ndarray)) or not all(
        isinstance(v, str) for v in value
    ):
        raise TypeError(
            f"`{name}` must be a list of strings (one per class), got {value!r:.60}."
        )
    return [str(v) for v in value]


def _check_settings(settings):
    """The neighbourhood settings of a library, each checked and named."""
    if not isinstance(settings, dict):
        raise TypeError(f"`settings` must be a dict, got {settings!r:.60}.")
    missing = [s for s in _SETTINGS + ("units",) if s not in settings]
    if missing:
        raise ValueError(f"`settings` lacks {missing}.")
    out = _python(dict(settings))
    if not isinstance(out["metric"], str) or out["metric"] not in ("distance", "angle"):
        raise ValueError(
            "`settings['metric']` must be 'distance' or 'angle', got "
            f"{out['metric']!r:.60}."
        )
    out["n_neighbours"] = check_integer(
        out["n_neighbours"], "settings['n_neighbours']", minimum=1
    )
    if out["radius"] not in (None, "None"):
        r = check_number(out["radius"], "settings['radius']", "a length or 'None'")
        if not (np.isfinite(r) and r > 0):
            raise ValueError(
                f"`settings['radius']` must be a positive length or 'None', got "
                f"{out['radius']!r}."
            )
    for key in ("angle_tolerance", "distance_tolerance"):
        v = check_number(out[key], f"settings['{key}']")
        if not (np.isfinite(v) and v >= 0):
            raise ValueError(
                f"`settings['{key}']` must be a non-negative number, got {out[key]!r}."
            )
    if not isinstance(out["units"], str):
        raise TypeError(
            f"`settings['units']` must be a string, got {out['units']!r:.60}."
        )
    return out


def _check_model(model, n_classes, n_components):
    """A stored model: ``{"class", "params", "X", "y"}``, each checked."""
    keys = ("class", "params", "X", "y")
    if not isinstance(model, dict) or any(k not in model for k in keys):
        raise TypeError(
            '`model` must be a dict with "class", "params", "X" and "y" (see '
            f"`from_neighbourhoods`), got {model!r:.60}."
        )
    _sklearn_class_name(model["class"])
    if not isinstance(model["params"], dict):
        raise TypeError(
            f"`model['params']` must be a dict, got {model['params']!r:.60}."
        )
    X = check_array(model["X"], "model['X']", ndim=2, finite=True)
    y = check_array(model["y"], "model['y']", ndim=1, finite=True)
    if X.shape[1] != n_components or len(y) != len(X) or len(X) == 0:
        raise ValueError(
            f"`model` must hold training samples with {n_components} components "
            f"and one label each, got `model['X']` of shape {X.shape} and "
            f"{len(y)} labels."
        )
    if not np.all((y >= 0) & (y < n_classes) & (y == np.round(y))):
        raise ValueError(f"`model['y']` must hold class indices 0 .. {n_classes - 1}.")
    return {
        "class": model["class"],
        "params": model["params"],
        "X": X,
        "y": y.astype(np.int64),
    }


def _reason(e):
    """An exception as the reason after "not a valid library: " (one line)."""
    text = str(e).strip() or type(e).__name__
    if not isinstance(e, (ValueError, TypeError)):  # KeyError...: say which
        text = f"{type(e).__name__}: {text}"
    return text if text.endswith(".") else text + "."


def _sklearn_class_name(path):
    if not isinstance(path, str) or not path.startswith("sklearn."):
        raise ValueError(
            "Only scikit-learn models can be stored in a library (`model`), got "
            f"{path!r:.60}."
        )
    return path


def _sklearn_class(path):
    module, _, name = _sklearn_class_name(path).rpartition(".")
    return getattr(importlib.import_module(module), name)


def _robust_centroids(X, lab, k, cut=3.0):
    """Centroid and RMS spread of each class, without its outliers.

    Start from the component-wise median of the members; members farther than
    ``cut`` × the median member distance (boundary atoms, neighbourhoods
    with a swapped neighbour) are left out; the centroid is the mean of the
    others and the spread their RMS distance to it.
    """
    order = np.argsort(lab, kind="stable")
    bounds = np.searchsorted(lab[order], np.arange(k + 1))
    med = np.stack(
        [np.median(X[order[bounds[i] : bounds[i + 1]]], axis=0) for i in range(k)]
    )
    d = np.linalg.norm(X - med[lab], axis=1)
    md = np.array([np.median(d[order[bounds[i] : bounds[i + 1]]]) for i in range(k)])
    keep = d <= cut * np.maximum(md[lab], 1e-300)
    n = np.bincount(lab[keep], minlength=k)
    sums = np.zeros((k, X.shape[1]))
    np.add.at(sums, lab[keep], X[keep])
    centroids = np.where(n[:, None] > 0, sums / np.maximum(n, 1)[:, None], med)
    d2 = ((X[keep] - centroids[lab[keep]]) ** 2).sum(axis=1)
    spread = np.sqrt(np.bincount(lab[keep], weights=d2, minlength=k) / np.maximum(n, 1))
    return centroids, spread
