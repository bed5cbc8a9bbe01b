"""Numerics on plain numpy arrays (pixels, x = column, y = row).

Nothing in this sub-package imports HyperSpy: the signal layer in
:mod:`hyperspy_localcryst.signals` calls these functions and carries the
calibrations.
"""
