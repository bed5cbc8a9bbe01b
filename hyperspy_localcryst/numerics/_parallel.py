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

_LOCAL = threading.local()


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
