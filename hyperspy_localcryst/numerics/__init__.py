"""Numerics on plain numpy arrays (pixels, x = column, y = row).

Nothing in this sub-package imports HyperSpy: the signal layer in
:mod:`hyperspy_localcryst.signals` calls these functions and carries the
calibrations.
"""

import os as _os

# numba's OpenMP threads spin between parallel regions by default, which costs
# milliseconds per compiled call on small machines (measured: 8 ms -> 0.01 ms
# per call on 2 cores). A passive wait policy keeps the thread-safe OpenMP
# layer (dask may call us from several threads) without that cost. Only set
# when the user has not chosen otherwise.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
