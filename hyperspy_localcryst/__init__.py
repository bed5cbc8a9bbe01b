"""Local crystallography for HyperSpy.

Find every atomic column in an atomically resolved STEM or STM image, refine
each position to sub-pixel precision and describe each atom by its
neighbourhood. The signal classes are registered with HyperSpy through
``hyperspy_extension.yaml``; use them with ``signal_type="atomic_image"``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hyperspy_localcryst")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
