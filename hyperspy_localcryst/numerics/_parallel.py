"""How many threads one call of the numerics may use.

Frames of an image stack are processed in parallel (dask threads, processes
or a distributed cluster), one frame per worker. Each frame's numerics then
run on one thread: threads inside a frame on top of frames in parallel would
oversubscribe the cores. :func:`limit_threads` sets the limit for the calling
thread only (numba's thread count is thread-local too), so frames processed
in parallel by dask's threads do not interfere.
"""

import os
import threading
from contextlib import contextmanager

import numba
import numpy as np

_LOCAL = threading.local()


#: Fewest query points for which a k-d tree query is split over threads:
#: below it, starting the threads (~0.3 ms a call, measured) costs more than
#: the query (a few µs a point), e.g. in loops over small groups.
THREADED_QUERY_POINTS = 4096


def query_workers(points):
    """``workers`` for a scipy k-d tree query of ``points``: every thread
    :func:`max_threads` allows for a large query, one for a small one.

    Examples
    --------
    >>> query_workers(np.zeros((10, 2))), query_workers(np.zeros(2))
    (1, 1)
    """
    n = len(points) if np.ndim(points) > 1 else 1
    return max_threads() if n >= THREADED_QUERY_POINTS else 1


def kd_query(tree, points, *args, **kwargs):
    """``tree.query(points, *args, **kwargs)`` on :func:`query_workers` threads.

    Examples
    --------
    >>> from scipy.spatial import cKDTree
    >>> pts = np.array([[0.0, 0.0], [3.0, 4.0]])
    >>> kd_query(cKDTree(pts), pts, k=2)[0][:, 1].tolist()
    [5.0, 5.0]
    """
    return tree.query(points, *args, workers=query_workers(points), **kwargs)


def nearest_distances(points, tree=None):
    """Distance of each point to its nearest other point (a k-d tree query,
    :func:`kd_query`): the one implementation behind every median
    nearest-neighbour distance of the package (default fit radius, marker
    sizes, tracking, cell weights, loading patterns, translations).

    Parameters
    ----------
    points : array_like, shape (n, d)
        At least two points.
    tree : scipy.spatial.cKDTree, optional
        A tree of ``points`` already built.

    Examples
    --------
    >>> nearest_distances(np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 5.0]])).tolist()
    [5.0, 1.0, 1.0]
    """
    from scipy.spatial import cKDTree

    if tree is None:
        tree = cKDTree(points)
    return kd_query(tree, points, k=2)[0][:, 1]


def max_threads():
    """Threads available to a numerics call in the current thread.

    Examples
    --------
    >>> with limit_threads(1):
    ...     max_threads()
    1
    """
    n = getattr(_LOCAL, "n", None)
    return n if n is not None else (os.cpu_count() or 1)


@contextmanager
def limit_threads(n):
    """Run the numerics in this thread on at most ``n`` threads.

    Parameters
    ----------
    n : int or None
        Thread limit; ``None`` leaves the current setting.

    Examples
    --------
    >>> import numba
    >>> with limit_threads(1):
    ...     numba.get_num_threads()
    1
    """
    if n is None:
        yield
        return
    n = max(1, int(n))
    old, old_numba = getattr(_LOCAL, "n", None), numba.get_num_threads()
    _LOCAL.n = n
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        _LOCAL.n = old
        numba.set_num_threads(old_numba)
