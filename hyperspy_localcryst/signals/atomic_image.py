"""The atomically resolved image signal.

:class:`AtomicImage` is a :class:`hyperspy.api.signals.Signal2D` with
``signal_type="atomic_image"``. Its methods are thin: they check the axes,
convert calibrated parameters to pixels once, call the numerics in
:mod:`hyperspy_localcryst.numerics` on each frame and wrap the results as
signals in calibrated units. Nothing here modifies the signal it is called
on.
"""

import numpy as np
from hyperspy.signals import (
    ComplexSignal2D,
    LazyComplexSignal2D,
    LazySignal2D,
    Signal2D,
)

from ._grid import (
    check_positive,
    grid_from_axes,
    pixel_scale,
)
from .frames import ImageFramesMixin, _check_frame_shapes
from .image.calibration import CalibrationMixin
from .image.finding import FindingMixin
from .image.preprocessing import PreprocessingMixin
from .image.refining import RefiningMixin
from .image.series import SeriesMixin

__all__ = [
    "AtomicImage",
    "LazyAtomicImage",
    "ComplexAtomicImage",
    "LazyComplexAtomicImage",
]


#: the aliases of ``atomic_image`` in hyperspy_extension.yaml
_SIGNAL_TYPE_ALIASES = ("atomic_resolution_image",)


class AtomicImage(
    ImageFramesMixin,
    PreprocessingMixin,
    FindingMixin,
    RefiningMixin,
    SeriesMixin,
    CalibrationMixin,
    Signal2D,
):
    """An atomically resolved image (HAADF/ABF/iDPC STEM, STM...).

    Load one with ``hs.load(path, signal_type="atomic_image")`` or convert a
    Signal2D with ``s.set_signal_type("atomic_image")``. The two signal axes
    must be uniform, with square pixels and the same units; navigation axes
    (time, tilt...) are processed frame by frame.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> s = synthetic_lattice(shape=(128, 128), seed=0)
    >>> s.metadata.Signal.signal_type
    'atomic_image'
    """

    _signal_type = "atomic_image"
    _signal_dimension = 2
    _lazy = False

    def __init__(self, *args, **kwargs):
        _check_frame_shapes(args[0] if args else kwargs.get("data"))
        super().__init__(*args, **kwargs)
        # an alias (``set_signal_type("atomic_resolution_image")``) is stored
        # as the canonical name, so saved files and comparisons see one name
        if self.metadata.get_item("Signal.signal_type") in _SIGNAL_TYPE_ALIASES:
            self.metadata.set_item("Signal.signal_type", self._signal_type)

    # --------------------------------------------------------------- helpers
    def _grid(self):
        grid = grid_from_axes(self.axes_manager.signal_axes)
        pixel_scale(grid)  # raises on non-square pixels
        return grid

    def _check_real(self):
        if np.iscomplexobj(self.data) or self.data.dtype.kind not in "biuf":
            raise TypeError(
                f"An AtomicImage needs real numbers, this one has dtype "
                f"{self.data.dtype}; take the amplitude or phase first."
            )

    def _length_to_px(self, value, name):
        if value is None:
            return None
        v = check_positive(
            value, name, "a length in the calibrated units of the axes", noun="length"
        )
        return v / pixel_scale(self._grid())

    def _source(self):
        src = {
            "title": str(self.metadata.General.title),
            "original_filename": str(
                self.metadata.get_item("General.original_filename", "")
            ),
        }
        timing = self.get_scan_timing()
        if timing:
            src["scan"] = timing
        return src


class LazyAtomicImage(LazySignal2D, AtomicImage):
    """Lazy version of :class:`AtomicImage`: data stays in a dask array.

    The finding and refinement methods load one frame at a time.

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> type(synthetic_lattice(shape=(64, 64), seed=0).as_lazy()).__name__
    'LazyAtomicImage'
    """

    _lazy = True


def _refused_on_complex(name):
    """A method of :class:`AtomicImage` that refuses complex data (TypeError)."""

    def method(self, *args, **kwargs):
        raise TypeError(
            f"`{name}` needs real numbers; this atomic_image holds complex values "
            f"(dtype {self.data.dtype}). Take the amplitude or the phase first "
            "(`s.amplitude`, `s.phase`: AtomicImages)."
        )

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (
        f"Refused on complex data: raises a TypeError (see :meth:`AtomicImage.{name}`)."
    )
    return method


class ComplexAtomicImage(ComplexSignal2D):
    """A complex image set to ``signal_type="atomic_image"`` (e.g. a wave).

    Atom finding and fitting need real numbers: every :class:`AtomicImage`
    method raises a ``TypeError`` that says to take the amplitude or the
    phase (which are :class:`AtomicImage` signals). Without this class
    HyperSpy would keep a plain ``ComplexSignal2D``, whose missing methods
    raise ``AttributeError``.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> s = hs.signals.Signal2D(np.ones((8, 8), dtype=complex))
    >>> s.set_signal_type("atomic_image")
    >>> type(s).__name__, type(s.amplitude).__name__
    ('ComplexAtomicImage', 'AtomicImage')
    >>> s.find_atoms()
    Traceback (most recent call last):
    ...
    TypeError: `find_atoms` needs real numbers; this atomic_image holds complex ...
    """

    _signal_type = "atomic_image"
    _signal_dimension = 2
    _lazy = False


class LazyComplexAtomicImage(LazyComplexSignal2D, ComplexAtomicImage):
    """Lazy version of :class:`ComplexAtomicImage`.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> s = hs.signals.Signal2D(np.ones((8, 8), dtype=complex))
    >>> s.set_signal_type("atomic_image")
    >>> type(s.as_lazy()).__name__
    'LazyComplexAtomicImage'
    """

    _lazy = True


# every public method, of the class and of the mixins it inherits them from
_OURS = [c for c in AtomicImage.__mro__ if c.__module__.startswith(__package__ or "")]
for _name in sorted(
    {n for c in _OURS for n, m in vars(c).items() if callable(m) and n[0] != "_"}
):
    setattr(ComplexAtomicImage, _name, _refused_on_complex(_name))
