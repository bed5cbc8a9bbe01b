"""Local crystallography for HyperSpy.

Find every atomic column in an atomically resolved STEM or STM image, refine
each position to sub-pixel precision and describe each atom by its
neighbourhood. The signal classes are registered with HyperSpy through
``hyperspy_extension.yaml``; use them with ``signal_type="atomic_image"``.
"""

__all__ = ["__version__"]


def __getattr__(name):
    # the version is looked up on first use: importing the package (and the
    # command line, whose Ctrl-C handling starts once it is imported) stays fast
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("hyperspy_localcryst")
        except PackageNotFoundError:  # a source tree that is not installed
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
