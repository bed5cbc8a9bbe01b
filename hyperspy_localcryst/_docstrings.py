"""Docstring text shared by many functions and methods, written once.

A docstring names a snippet on a line of its own, ``%(NAME)s`` at the indent
of a parameter, and :func:`fill_doc` replaces the line by the snippet,
re-indented. Lines that follow at the indent of a description continue the
snippet's description (what is particular to that method). Only whole-line
placeholders are replaced, so a ``%`` elsewhere in a docstring ("5 %") is
left alone. HyperSpy's own snippets (``SHOW_PROGRESSBAR_ARG``,
``NUM_WORKERS_ARG``, ``LAZY_OUTPUT_ARG`` of :mod:`hyperspy.docstrings.signal`)
describe the arguments that go to HyperSpy's ``map`` unchanged, so that they
read the same here as in HyperSpy.
"""

import re
import textwrap

from hyperspy.docstrings.signal import (
    LAZY_OUTPUT_ARG,
    NUM_WORKERS_ARG,
    SHOW_PROGRESSBAR_ARG,
)

__all__ = ["fill_doc", "SNIPPETS"]

#: The frames of a stack, each found or refined by the numerics of one frame
FRAME_WORKERS_ARG = """num_workers : int, optional
    Frames processed in parallel (dask threads). Default: one per
    core, each frame then single-threaded; ``1`` processes the frames
    one after another, each on all cores. With a ``dask.distributed``
    client active, the frames run on its workers instead (see
    ``docs/series.md``)."""

#: Every random step of the package draws from numpy's ``default_rng(seed)``
SEED_ARG = """seed : int, default 0
    Seed of the random steps (``numpy.random.default_rng``), so that
    the same call on the same data gives the same result."""

#: name -> text; the first line is the parameter line, the rest its description
SNIPPETS = {
    "SHOW_PROGRESSBAR_ARG": SHOW_PROGRESSBAR_ARG,
    "NUM_WORKERS_ARG": NUM_WORKERS_ARG,
    "LAZY_OUTPUT_ARG": LAZY_OUTPUT_ARG,
    "FRAME_WORKERS_ARG": FRAME_WORKERS_ARG,
    "SEED_ARG": SEED_ARG,
}

_PLACEHOLDER = re.compile(r"^([ \t]*)%\(([A-Z_]+)\)s[ \t]*$", re.M)


def _expand(match):
    indent, name = match.group(1), match.group(2)
    if name not in SNIPPETS:
        raise KeyError(f"No docstring snippet {name!r}; known: {sorted(SNIPPETS)}.")
    first, _, rest = SNIPPETS[name].strip("\n").partition("\n")
    body = textwrap.indent(textwrap.dedent(rest), indent + "    ")
    return indent + first.strip() + ("\n" + body if body else "")


def fill_doc(obj):
    """Replace each ``%(NAME)s`` line of ``obj.__doc__`` by the snippet ``NAME``.

    Parameters
    ----------
    obj : function or class
        Its docstring is filled in place.

    Returns
    -------
    obj
        The same object (usable as a decorator).

    Examples
    --------
    >>> @fill_doc
    ... def f(show_progressbar=None):
    ...     '''Do it.
    ...
    ...     Parameters
    ...     ----------
    ...     %(SHOW_PROGRESSBAR_ARG)s
    ...     '''
    >>> print(f.__doc__.splitlines()[4].strip())
    show_progressbar : None or bool
    """
    if obj.__doc__:
        obj.__doc__ = _PLACEHOLDER.sub(_expand, obj.__doc__)
    return obj
