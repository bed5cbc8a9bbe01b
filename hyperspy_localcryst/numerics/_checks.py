"""Argument checks shared by the numerics and the signal layer.

One implementation of each check, so that every public function refuses bad
input with the same kind of message, naming the argument and what was given.
The signal layer re-exports them from :mod:`hyperspy_localcryst.signals._grid`
(imports run from ``signals`` to ``numerics``, never back).

- :func:`check_number`, :func:`check_integer`, :func:`check_bool`: one value
  of a type (booleans are not numbers, floats are not integers, ``1`` and
  ``"no"`` are not booleans; numpy scalars are fine);
- :func:`check_numbers`: a fixed-length sequence of finite numbers (a tuple,
  list or array; not a dict, set or string);
- :func:`check_array`: an array of real numbers (not a string, dict, set or
  None; a given number of dimensions);
- :func:`check_at_most`: a count that the data cannot satisfy (more
  sublattices, clusters or neighbours than atoms);
- :func:`check_memory`: a request whose arrays would not fit in the memory
  available, refused before anything is allocated, with the estimate;
- :func:`renamed`: a keyword renamed for one name per concept, its old name
  still accepted for a while with a ``FutureWarning``.
"""

import functools
import numbers
import warnings

import numpy as np

__all__ = [
    "renamed",
    "check_number",
    "check_integer",
    "check_positive",
    "check_bool",
    "check_numbers",
    "check_array",
    "check_at_most",
    "check_per_atom",
    "check_indices",
    "check_frames",
    "check_xy",
    "check_memory",
    "format_bytes",
    "available_memory",
]


def check_number(value, name, what="a number"):
    """``value`` as a float, or a TypeError naming the argument ``name``.

    Booleans, strings, None and sequences are refused (``float("1")`` or
    ``True`` would otherwise pass silently).

    Examples
    --------
    >>> check_number(np.float32(0.5), "sigma")
    0.5
    >>> check_number("a", "sigma")
    Traceback (most recent call last):
    ...
    TypeError: `sigma` must be a number, got 'a'.
    """
    ok = isinstance(value, numbers.Real) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"
    )
    if not ok or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be {what}, got {value!r}.")
    return float(value)


def check_positive(value, name, what="a number", noun="number"):
    """``value`` as a positive, finite float, or an error naming ``name``.

    Parameters
    ----------
    value : object
        The argument.
    name : str
        Its name, quoted in the messages.
    what : str
        What a valid value is, for the TypeError of a non-number (e.g.
        ``"a length in calibrated units"``).
    noun : str
        The quantity, for the ValueError of zero, a negative, NaN or an
        infinity ("must be a positive {noun}").

    Examples
    --------
    >>> check_positive(np.float32(2.5), "sigma")
    2.5
    >>> check_positive(-1, "radius", noun="distance")
    Traceback (most recent call last):
    ...
    ValueError: `radius` must be a positive distance, got -1.
    """
    v = check_number(value, name, what)
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"`{name}` must be a positive {noun}, got {value!r:.60}.")
    return v


def check_integer(value, name, minimum=None, maximum=None, type_error=TypeError):
    """``value`` as an int (no silent truncation of 1.5), in ``[minimum, maximum]``.

    Parameters
    ----------
    value : object
        The argument.
    name : str
        Its name, quoted in the message.
    minimum, maximum : int, optional
        Inclusive bounds (ValueError outside).
    type_error : type
        Exception raised for a non-integer (the numerics of a few modules
        have always raised ValueError there).

    Examples
    --------
    >>> check_integer(np.int64(3), "n_neighbours", minimum=1)
    3
    >>> check_integer(1.5, "n_clusters")
    Traceback (most recent call last):
    ...
    TypeError: `n_clusters` must be an integer, got 1.5.
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
        raise type_error(f"`{name}` must be an integer, got {value!r}.")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}, got {v}.")
    if maximum is not None and v > maximum:
        raise ValueError(f"`{name}` must be at most {maximum}, got {v}.")
    return v


def check_bool(value, name, allow_none=False):
    """``value`` as a bool: True/False (or a numpy bool), nothing else.

    ``"no"``, ``0``, ``1`` or ``None`` where a switch is expected are refused
    (``"no"`` is truthy: it would silently mean yes). With ``allow_none``,
    None (e.g. "HyperSpy's preference" for ``show_progressbar``) is returned
    as it is.

    Examples
    --------
    >>> check_bool(np.True_, "exclude_border")
    True
    >>> check_bool("no", "exclude_border")
    Traceback (most recent call last):
    ...
    TypeError: `exclude_border` must be True or False, got 'no'.
    """
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        none = " True, False or None" if allow_none else " True or False"
        raise TypeError(f"`{name}` must be{none}, got {value!r:.60}.")
    return bool(value)


def check_numbers(value, name, length=None, what=None, finite=True):
    """A sequence of numbers (tuple, list or 1D array) as a tuple of floats.

    Parameters
    ----------
    value : sequence
        The argument.
    name : str
        Its name, quoted in the message.
    length : int, optional
        Required number of items.
    what : str, optional
        Description of the expected value, e.g. ``"(x, y)"``.
    finite : bool
        Refuse NaN and infinite items (ValueError).

    Examples
    --------
    >>> check_numbers([1, 2.5], "shift", 2)
    (1.0, 2.5)
    >>> check_numbers({"a": 1}, "target", 2, "(x, y)")
    Traceback (most recent call last):
    ...
    TypeError: `target` must be (x, y), a sequence of 2 numbers, got {'a': 1}.
    >>> check_numbers((np.nan, 0.5), "target", 2)
    Traceback (most recent call last):
    ...
    ValueError: `target` must hold finite numbers, got (nan, 0.5).
    """
    what = what or "a sequence of numbers"
    n = "" if length is None else f", a sequence of {length} numbers"
    msg = f"`{name}` must be {what}{n}, got {value!r:.80}."
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise TypeError(msg)
        items = list(value)
    elif isinstance(value, (tuple, list)):
        items = list(value)
    else:  # dict, set, str, scalar, generator...: refused, never iterated
        raise TypeError(msg)
    if length is not None and len(items) != length:
        raise TypeError(msg)
    try:
        out = tuple(check_number(v, name) for v in items)
    except TypeError:
        raise TypeError(msg) from None
    if finite and not all(np.isfinite(out)):
        raise ValueError(f"`{name}` must hold finite numbers, got {value!r:.80}.")
    return out


def check_array(value, name, ndim=None, finite=False):
    """``value`` as a float64 array, or an error naming the argument.

    Parameters
    ----------
    value : array_like
        The argument (list, tuple, numpy or dask array...).
    name : str
        Its name, quoted in the message.
    ndim : int or tuple of int, optional
        Allowed number(s) of dimensions (ValueError otherwise).
    finite : bool
        Refuse NaN and infinite values (ValueError).

    Examples
    --------
    >>> check_array([1, 2], "x")
    array([1., 2.])
    >>> check_array({"a": 1}, "x")
    Traceback (most recent call last):
    ...
    TypeError: `x` must be an array of real numbers, got {'a': 1}.
    """

    # the message only when needed: the repr of a large array costs ~10 ms
    def msg():
        return f"`{name}` must be an array of real numbers, got {value!r:.60}."

    if value is None or isinstance(value, (str, bytes, dict, set, frozenset)):
        raise TypeError(msg())
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):  # ragged sequences
        raise TypeError(msg()) from None
    if np.iscomplexobj(arr):
        raise TypeError(f"`{name}` must be real, got complex dtype {arr.dtype}.")
    if arr.dtype.kind not in "biuf":
        raise TypeError(msg())
    arr = arr.astype(np.float64, copy=False)
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if dims is not None and arr.ndim not in dims:
        raise ValueError(
            f"`{name}` must have {' or '.join(map(str, dims))} dimension(s), got "
            f"shape {arr.shape}."
        )
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    return arr


def check_xy(x, y, allow_nan=False, flatten=False):
    """Positions ``x``, ``y`` (one per atom) as an ``(n, 2)`` float64 array.

    Parameters
    ----------
    x, y : array_like
        Positions in pixels, one per atom, same length.
    allow_nan : bool
        Accept NaN (a missing position: the caller leaves it out); infinite
        positions are refused always.
    flatten : bool
        Accept arrays of any shape and flatten them (else 1D only).

    Examples
    --------
    >>> check_xy([0, 1.5], [2, 3]).tolist()
    [[0.0, 2.0], [1.5, 3.0]]
    >>> check_xy([0, 1], [0])
    Traceback (most recent call last):
    ...
    ValueError: `x` and `y` differ in length (2 and 1).
    """
    ndim = None if flatten else 1
    x = check_array(x, "x", ndim=ndim).ravel()
    y = check_array(y, "y", ndim=ndim).ravel()
    if x.shape != y.shape:
        raise ValueError(f"`x` and `y` differ in length ({x.size} and {y.size}).")
    pts = np.column_stack([x, y])
    bad = np.isinf(pts).any(axis=1) if allow_nan else ~np.isfinite(pts).all(axis=1)
    if bad.any():
        what = "infinite" if allow_nan else "NaN or infinite"
        raise ValueError(
            f"{int(bad.sum())} atom position(s) are {what} (first at index "
            f"{int(np.flatnonzero(bad)[0])}); leave those atoms out, e.g. with "
            "`atoms.select(np.isfinite(atoms.get_column('x')))`."
        )
    return pts


def check_indices(values, name, negative=False, ndim=None, n_atoms=None):
    """Integer indices or labels as int64 (integral floats, as in a table,
    accepted; NaN, fractions and, unless ``negative``, negatives refused;
    ``ndim`` as in :func:`check_array`), flattened. With ``n_atoms``, they
    must be rows of a table of that many atoms.

    Examples
    --------
    >>> check_indices([0.0, 2.0, 1], "frame").tolist()
    [0, 2, 1]
    >>> check_indices([0.5], "frame")
    Traceback (most recent call last):
    ...
    ValueError: `frame` must hold integers, got [0.5].
    """
    arr = check_array(values, name, ndim=ndim).ravel()
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise ValueError(f"`{name}` must hold integers, got {values!r:.60}.")
    if n_atoms is not None and arr.size and (arr.min() < 0 or arr.max() >= n_atoms):
        raise ValueError(f"`{name}` must be indices of atoms (0 .. {n_atoms - 1}).")
    if not negative and arr.size and arr.min() < 0:
        raise ValueError(f"`{name}` indices must be non-negative.")
    return arr.astype(np.int64)


def check_frames(frame, n):
    """The frame of each of ``n`` atoms as int64 (zeros for None: one image).

    Examples
    --------
    >>> check_frames(None, 3).tolist()
    [0, 0, 0]
    >>> check_frames([0, 1], 3)
    Traceback (most recent call last):
    ...
    ValueError: `frame` must have one value per atom (3).
    """
    if frame is None:
        return np.zeros(n, dtype=np.int64)
    out = check_indices(frame, "frame", ndim=1)
    if len(out) != n:
        raise ValueError(f"`frame` must have one value per atom ({n}).")
    return out


def check_per_atom(values, name, n):
    """An optional 1D array of one value per atom (None passes through).

    Examples
    --------
    >>> check_per_atom([0, 1, 1], "labels", 3).tolist()
    [0.0, 1.0, 1.0]
    >>> check_per_atom(None, "labels", 3) is None
    True
    """
    if values is None:
        return None
    v = check_array(values, name, ndim=1)
    if v.size != n:
        raise ValueError(f"`{name}` must have one value per atom ({n}), got {v.size}.")
    return v


def check_at_most(value, name, available, what):
    """Refuse a count the data cannot satisfy (``value > available``).

    Parameters
    ----------
    value : int
        The count asked for (already an int).
    name : str
        The argument's name.
    available : int
        How many there are.
    what : str
        What there are, e.g. ``"atoms found"``.

    Examples
    --------
    >>> check_at_most(2, "n_sublattices", 64, "atoms found")
    2
    >>> check_at_most(100, "n_sublattices", 64, "atoms found")
    Traceback (most recent call last):
    ...
    ValueError: `n_sublattices` = 100 is more than the 64 atoms found; ...
    """
    if value > available:
        raise ValueError(
            f"`{name}` = {value} is more than the {available} {what}; "
            f"give at most {available}."
        )
    return value


def format_bytes(n):
    """A byte count for people (binary units).

    Examples
    --------
    >>> format_bytes(819200000000)
    '763 GiB'
    >>> format_bytes(1536)
    '1.5 KiB'
    """
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            return f"{n:.3g} {unit}" if n < 1000 else f"{n:.0f} {unit}"
        n /= 1024


def available_memory():
    """Bytes of memory available now (psutil; ``inf`` when unknown).

    Examples
    --------
    >>> available_memory() > 0
    True
    """
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with dask
        return float("inf")
    return float(psutil.virtual_memory().available)


def check_memory(n_bytes, name, value, detail="", advice=None, total=None):
    """Refuse, before allocating, a request that needs more memory than free.

    Parameters
    ----------
    n_bytes : int or float
        Size of the request's largest array, in bytes (quoted).
    name : str
        The argument that sets it.
    value : object
        Its value, quoted.
    detail : str
        How the size comes about, e.g. ``"1024 SI pixels × 10000² points"``.
    advice : str, optional
        What to do instead (default: a smaller ``name``).
    total : int or float, optional
        Bytes of all the arrays of the request (default ``n_bytes``); it is
        what is compared with the available memory.

    Examples
    --------
    >>> check_memory(1e3, "bins", 10)
    >>> check_memory(8e18, "bins", 10**9, "a 10⁹ × 10⁹ grid")
    Traceback (most recent call last):
    ...
    ValueError: bins=1000000000 needs 6.94 EiB of memory (a 10⁹ × 10⁹ grid)...
    """
    total = float(n_bytes if total is None else total)
    free = available_memory()
    if total <= free:
        return
    size = f"{format_bytes(n_bytes)} of memory"
    if total > n_bytes:
        size += f" per array, {format_bytes(total)} in all"
    detail = f" ({detail})" if detail else ""
    raise ValueError(
        f"{name}={value!r} needs {size}{detail} but {format_bytes(free)} is "
        f"available: {advice or f'give a smaller `{name}`'}."
    )


def check_image(image, name="image", allow_constant=False):
    """Return ``image`` as a finite float64 2D array or raise a clear error.

    Parameters
    ----------
    image : array_like
        Candidate image.
    name : str
        Name used in the error messages.
    allow_constant : bool
        Accept an image without contrast (the noise estimate can measure
        one; finding atoms cannot).

    Returns
    -------
    numpy.ndarray
        A float64 copy-free view where possible.

    Examples
    --------
    >>> check_image(np.ones((4, 5)) * np.arange(5)).shape
    (4, 5)
    """
    arr = np.asarray(image)
    if np.iscomplexobj(arr):
        raise TypeError(f"`{name}` must be real-valued, got complex dtype {arr.dtype}.")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must be numeric, got dtype {arr.dtype}.")
    if arr.ndim != 2:
        raise ValueError(f"`{name}` must be a 2D image, got {arr.ndim} dimension(s).")
    if min(arr.shape) < 3:
        raise ValueError(f"`{name}` is too small ({arr.shape}); atoms need >= 3 px.")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        n_bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"`{name}` contains {n_bad} NaN or infinite pixel(s); replace them "
            "first (e.g. with the median) or crop them away."
        )
    if not allow_constant and np.ptp(arr) == 0:
        raise ValueError(f"`{name}` is constant: there is no contrast to find atoms.")
    return arr


def _check_separation(separation, shape):
    sep = check_number(separation, "separation", "a number of pixels")
    if not np.isfinite(sep) or sep <= 0:
        raise ValueError(
            f"`separation` must be a positive number of pixels, got {sep}."
        )
    if sep >= max(shape):
        raise ValueError(
            f"`separation` ({sep:g} px) is larger than the image ({shape[1]} x "
            f"{shape[0]} px)."
        )
    if sep < 2:
        raise ValueError(
            f"`separation` ({sep:g} px) is below 2 px: the image does not resolve "
            "the atoms."
        )
    return sep


def _threshold(threshold, lo=-np.inf, hi=np.inf):
    """``"auto"`` as None, else the threshold as a float in ``[lo, hi)``."""
    if isinstance(threshold, str) and threshold == "auto":
        return None
    if isinstance(threshold, str):
        raise ValueError(f"`threshold` must be a number or 'auto', got {threshold!r}.")
    thr = check_number(threshold, "threshold", "a number or 'auto'")
    if not lo <= thr < hi:
        raise ValueError(f"`threshold` must lie in [{lo:g}, {hi:g}), got {thr}.")
    return thr


def check_n_sublattices(n_sublattices, n_atoms, what="atoms to label"):
    """``n_sublattices`` as an int from 1 to the number of atoms to split.

    Shared by ``AtomicImage.find_atoms`` and
    ``AtomPositions.label_sublattices``: more types than atoms cannot be
    labelled (it used to give every atom type 0 without a word).

    Parameters
    ----------
    n_sublattices : int
        The argument.
    n_atoms : int
        Atoms there are to split.
    what : str
        How the atoms are called in the message.

    Returns
    -------
    int

    Examples
    --------
    >>> check_n_sublattices(2, 64)
    2
    >>> check_n_sublattices(100, 64)
    Traceback (most recent call last):
    ...
    ValueError: `n_sublattices` = 100 is more than the 64 atoms to label; ...
    """
    n = check_integer(n_sublattices, "n_sublattices", minimum=1)
    return check_at_most(n, "n_sublattices", int(n_atoms), what)


def renamed(**old_to_new):
    """Accept a keyword's old name, with a ``FutureWarning``, after a rename.

    One name per concept across the package (``n_sublattices``,
    ``n_neighbours``, ``basis``): a call that still uses the old name works,
    warns once per call site, and gives the value to the new name; both
    names at once is a ``TypeError``.

    Parameters
    ----------
    **old_to_new : str
        ``old="new"`` for each renamed keyword.

    Returns
    -------
    callable
        A decorator.

    Examples
    --------
    >>> @renamed(n_types="n_sublattices")
    ... def split(values, n_sublattices=2):
    ...     return n_sublattices
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     split([1, 2], n_types=3), w[0].category.__name__
    (3, 'FutureWarning')
    """

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{func.__name__}() got `{old}` and `{new}`; `{old}` "
                            f"is the old name of `{new}`: give only `{new}`."
                        )
                    warnings.warn(
                        f"`{old}` of {func.__name__}() is now called `{new}`; the "
                        f"old name will be removed in a future version.",
                        FutureWarning,
                        stacklevel=2,
                    )
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper

    return decorate
