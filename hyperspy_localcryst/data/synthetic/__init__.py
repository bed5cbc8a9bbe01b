"""Synthetic atomic-resolution images with known ground truth: the scenes of
the tests, the benchmarks and the examples.

- :mod:`.lattices`: lattices of Gaussian columns (:func:`lattice_positions`,
  :func:`render_gaussians`, :func:`make_lattice_image`);
- :mod:`.defects`: two phases and edge dislocations;
- :mod:`.bounds`: the Cramér-Rao bound of a column position;
- :mod:`.series`: image series with known drift;
- :mod:`.spectra`: spectrum images with known edges.

Everything here works on plain numpy arrays in pixel units and never imports
HyperSpy (the signals built from these scenes are in
:mod:`hyperspy_localcryst.data`).

Conventions
-----------
* Positions are in pixels, ``x`` is the column and ``y`` the row.
* Pixel centres sit at integer coordinates: pixel ``image[r, c]`` has its
  centre at ``x = c``, ``y = r``.
* Images are *point-sampled* Gaussians evaluated at the pixel centres (no
  integration over the pixel area), so that the model
  ``B + A * exp(-((X - x0)**2 + (Y - y0)**2) / (2 * sigma**2))`` evaluated on
  the integer grids ``Y, X = np.mgrid[:ny, :nx]`` *is* the noise-free image
  (up to the truncation of each Gaussian at ``truncate * sigma``).
* Angles are in degrees and counter-clockwise **as seen on the displayed
  image** (row 0 at the top, y pointing down). A vector pointing right
  (``+x``) rotated by +90 degrees points *up* on the screen, i.e. towards
  ``-y``. In image coordinates a rotation by ``theta`` maps ``(u, v)`` to
  ``(u cos(theta) + v sin(theta), -u sin(theta) + v cos(theta))``.
"""

from .bounds import cramer_rao_bound
from .defects import (
    dislocation_positions,
    edge_dislocation_displacement,
    two_phase_positions,
)
from .lattices import lattice_positions, make_lattice_image, render_gaussians
from .series import make_drift_stack
from .spectra import edge_spectrum, make_spectrum_image_pair

__all__ = [
    "lattice_positions",
    "render_gaussians",
    "make_lattice_image",
    "two_phase_positions",
    "dislocation_positions",
    "edge_dislocation_displacement",
    "cramer_rao_bound",
    "make_drift_stack",
    "edge_spectrum",
    "make_spectrum_image_pair",
]
