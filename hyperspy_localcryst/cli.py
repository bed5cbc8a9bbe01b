"""Command line: ``localcryst analyse FILE...``, ``demo`` and ``find``.

``analyse`` runs the whole pipeline (load -> find -> refine -> neighbourhoods
-> PCA + k-means) on each file and writes, per file, the per-atom table, the
neighbourhood signal, the figures and a self-contained ``report.html`` (see
:mod:`hyperspy_localcryst.report`). ``demo`` does the same on the bundled
PbTiO3/SrRuO3 interface image. ``find`` only finds and refines.

Errors are one clear line on stderr and a non-zero exit status. Each result
folder is written aside and moved into place only when everything in it
succeeded (:mod:`hyperspy_localcryst._output`): a failed or interrupted run
leaves nothing partial, a folder localcryst did not write is never replaced,
and two runs never write the same result. With several files, a failed file
is reported and the others' results are kept. Ctrl-C is one line and exit
status 130; a closed standard output (``| head``) never stops a run.
"""

import contextlib
import errno
import logging
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

from ._arguments import (
    _clusters,
    _known_signal_types,
    _parser,
)
from ._output import (
    OutputError,
    abandon_all,
    check_destination,
    clean_stale,
)

__all__ = ["main", "console_main", "run_pipeline"]


def run_pipeline(
    signal,
    out_dir,
    separation=None,
    n_sublattices=2,
    model="round",
    overwrite=False,
    inputs=(),
):
    """``localcryst find``: :func:`hyperspy_localcryst.report.find` (the one
    pipeline lives in :mod:`hyperspy_localcryst.report`; see there).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "atoms"
    >>> run_pipeline(synthetic_lattice(shape=(128, 128), seed=0), out)["n_atoms"]
    49
    """
    from . import report

    return report.find(
        signal,
        out_dir,
        separation=separation,
        n_sublattices=n_sublattices,
        model=model,
        overwrite=overwrite,
        inputs=inputs,
    )


def _load_parameters():
    import inspect

    import hyperspy.api as hs

    return inspect.signature(hs.load).parameters


def _load(path, signal_type=None, index=None, allow_stack=False, reader=None):
    import hyperspy.api as hs
    import numpy as np

    if not Path(path).exists():
        raise ValueError(f"{path}: no such file.")
    if Path(path).is_dir():
        raise ValueError(f"{path} is a folder, not an image file.")
    kw = {"signal_type": signal_type} if signal_type else {}
    if reader:  # HyperSpy >= 2.4 calls it file_format (reader deprecated)
        kw["file_format" if "file_format" in _load_parameters() else "reader"] = reader
    hs_log = logging.getLogger("hyperspy")
    level = hs_log.level
    hs_log.setLevel(logging.CRITICAL)  # the reason is in our one-line error
    try:
        if Path(path).suffix.lower() == ".npy" and not reader:  # a bare array
            s = np.load(path, allow_pickle=False)
        else:
            s = hs.load(path, **kw)
    except Exception as e:  # any reader's failure: one line, not a traceback
        raise ValueError(f"{path} could not be read: {e}") from e
    finally:
        hs_log.setLevel(level)
    if isinstance(s, np.ndarray):
        if s.ndim < 2:
            raise ValueError(f"{path} is not an image (a {s.ndim}D array).")
        s = hs.signals.Signal2D(s)
        s.metadata.General.title = Path(path).stem
    if isinstance(s, list):
        images = [i for i, x in enumerate(s) if x.axes_manager.signal_dimension == 2]
        if index is not None:
            if not 0 <= index < len(s):
                raise ValueError(f"{path} holds {len(s)} signals; --index {index}.")
            s = s[index]
        elif len(images) == 1:
            s = s[images[0]]
        else:
            titles = "; ".join(
                f"{i}: {x.metadata.General.title}" for i, x in enumerate(s)
            )
            raise ValueError(
                f"{path} holds {len(s)} signals ({titles}); choose one with --index."
            )
    elif index not in (None, 0):
        raise ValueError(f"{path} holds 1 signal; --index {index}.")
    if s.axes_manager.signal_dimension != 2:
        raise ValueError(
            f"{path} is not an image "
            f"(signal dimension {s.axes_manager.signal_dimension})."
        )
    if s.axes_manager.navigation_dimension and not allow_stack:
        raise ValueError(
            f"{path} is an image stack; use `localcryst analyse` for stacks."
        )
    if s.data.dtype.kind not in "buif":
        raise ValueError(
            f"{path} holds {s.data.dtype} values, not real numbers; take the "
            "amplitude or phase (complex) or one channel (RGB) first."
        )
    if s.data.dtype.kind in "bui":  # raw counts: float for the fits
        s.change_dtype("float64")
    s.set_signal_type("atomic_image")
    return s


def _analyse_one(path, out, args, batch=()):
    """Load ``path`` (None: the bundled demo image) and analyse it into ``out``
    (written aside and moved into place: :mod:`hyperspy_localcryst._output`)."""
    from .report import analyse

    def log(msg):
        print(f"  {msg}", flush=True)

    # every file of the batch is an input: no result may replace a folder
    # holding any of them
    inputs = list(dict.fromkeys([_demo_file() if path is None else path, *batch]))
    clusters = _clusters(args.clusters)
    clean_stale(Path(out).parent)  # what killed runs left, even if we refuse
    check_destination(out, inputs, args.overwrite)  # refuse before reading
    if path is None:
        from .data import pto_sro_interface

        image = pto_sro_interface()
    else:
        image = _load(
            path, args.signal_type, args.index, allow_stack=True, reader=args.reader
        )
        if args.pixel_size is not None:
            image = _set_pixel_size(image, args.pixel_size, args.units)
    from .signals._grid import axis_units

    ax = image.axes_manager.signal_axes[0]
    log(f"pixel size {ax.scale:.6g} {axis_units(ax.units) or '(uncalibrated)'}")
    extra = {}
    if args.contrast is not None:
        extra["contrast"] = args.contrast
    if args.lattice_parameter is not None:
        extra["lattice_parameter"] = args.lattice_parameter
    return analyse(
        image,
        out,
        separation=args.separation,
        method=args.method.split("+") if "+" in args.method else args.method,
        n_neighbours=args.neighbours,
        metric=args.metric,
        n_clusters=clusters,
        n_sublattices=args.sublattices,
        file_format=args.format,
        seed=args.seed,
        preprocess=[] if args.preprocess == "none" else args.preprocess.split("+"),
        show_progressbar=False if args.no_progressbar else None,
        log=log,
        overwrite=args.overwrite,
        inputs=inputs,
        **extra,
    )


def _set_pixel_size(image, size, units):
    """The image with ``size`` per pixel on both axes (origin pixel kept), in
    ``units`` (default: the file's, else nm); the file's calibration is kept in
    ``metadata.Calibration``."""
    from .signals._grid import axis_units

    axes = image.axes_manager.signal_axes
    have = axis_units(axes[0].units)
    units = units or (have if have and have not in ("px", "pixels") else "nm")
    image.metadata.set_item(
        "Calibration",
        {
            "method": "pixel size given (--pixel-size)",
            "original_scale": [float(a.scale) for a in axes],
            "original_units": have,
            "units": units,
        },
    )
    for a in axes:
        a.offset = a.offset / a.scale * size if a.scale else 0.0
        a.scale = size
        a.units = units
    return image


def _demo_file():
    """Path of the bundled demo image (an input: never inside a replaced folder)."""
    from importlib import resources

    return Path(str(resources.files("hyperspy_localcryst.data"))) / (
        "PbTiO3-SrRuO3_interface_HAADF.hspy"
    )


def _say_summary(summary, out):
    err = summary["median_position_error"]
    print(
        f"  {summary['n_atoms']} atoms ({summary['n_refined']} refined, median "
        f"position error {'n/a' if err is None else f'{err:.2g}'} {summary['units']}),"
        f" {summary['n_clusters']} clusters "
        f"({', '.join(f'{f:.0%}' for f in summary['cluster_fractions'])})"
    )
    from .report.page import _pm

    for row in summary.get("lattice", [])[:1]:  # all atoms
        if "error" not in row:
            u = row["units"] or "px"
            print(
                f"  lattice: a = {_pm(row['a'], row['a_err'])} {u}, b = "
                f"{_pm(row['b'], row['b_err'])} {u}, gamma = "
                f"{_pm(row['gamma'], row['gamma_err'])} deg"
            )
    cal = summary.get("calibration", {})
    if "factor_x" in cal:
        print(f"  calibration: correction factor {cal['factor_x']:.4f}")
    print(f"  report: {(Path(out) / 'report.html').resolve()}")


class _Terminated(BaseException):
    """Raised in the main thread by SIGTERM/SIGHUP, so that ``finally`` blocks
    remove the temporary folder as they do on Ctrl-C."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _interrupted_line(signum):
    return (
        f"localcryst: interrupted ({signal.Signals(signum).name}); the result being "
        "written was removed, complete results are kept."
    )


def _exit_now(signum, frame):
    """Signal handler of the console script: close the result folders being
    written (work folder removed, a result moved aside put back), say so in one
    line, and end the process at once. Nothing unwinds through the code that
    was running (numba, HDF5, BLAS threads), so nothing can crash on the way
    out; the exit status is 128 + the signal number (130 for Ctrl-C)."""
    for name in _STOP_SIGNALS:
        with contextlib.suppress(Exception):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    abandon_all()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    with contextlib.suppress(Exception):
        os.write(2, (_interrupted_line(signum) + "\n").encode())
    os._exit(128 + int(signum))


#: Signals that end a run: Ctrl-C, ``kill``, a closed terminal.
_STOP_SIGNALS = tuple(n for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))
#: True when running as the console script (see :func:`console_main`).
_CONSOLE = False


@contextlib.contextmanager
def _termination_as_exception():
    """SIGTERM/SIGHUP raise like Ctrl-C while ``main`` runs in a Python session;
    as the console script, every stop signal ends the process at once."""
    installed = {}
    if threading.current_thread() is threading.main_thread():

        def handler(signum, frame):
            raise _Terminated(signum)

        for name in _STOP_SIGNALS:
            sig = getattr(signal, name)
            if _CONSOLE:
                installed[sig] = signal.signal(sig, _exit_now)
            elif name != "SIGINT":  # Ctrl-C stays Python's KeyboardInterrupt
                installed[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        if not _CONSOLE:  # the console script keeps its handler to the end
            for sig, previous in installed.items():
                signal.signal(sig, previous)


class _SafeStream:
    """stdout/stderr that survive a closed reader (``localcryst ... | head -1``):
    once the pipe is gone, output is dropped and the run goes on, so a finished
    result is never thrown away for want of a terminal."""

    def __init__(self, stream):
        # no stream at all (started with `>&-`): write into the void
        self._stream = stream if stream is not None else open(os.devnull, "w")
        self.broken = False

    def _drop(self):
        self.broken = True
        with contextlib.suppress(Exception):  # also silence the final flush
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def _call(self, method, *args):
        """``stream.method(*args)``, or nothing once the reader has gone."""
        if self.broken:
            return None
        try:
            return getattr(self._stream, method)(*args)
        except (BrokenPipeError, ValueError):  # ValueError: closed file
            self._drop()
        except OSError as e:
            if e.errno != errno.EPIPE:
                raise
            self._drop()
        return None

    def write(self, text):
        written = self._call("write", text)
        return len(text) if written is None else written

    def flush(self):
        self._call("flush")

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def _safe_streams():
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _SafeStream(sys.stdout), _SafeStream(sys.stderr)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        sys.stdout, sys.stderr = saved


def main(argv=None):
    """Entry point of the ``localcryst`` console script.

    Ctrl-C (or SIGTERM/SIGHUP) ends the run with one line and exit status 130
    (143/129): the result being written is removed, results already complete
    are kept. A closed standard output (``| head``) never stops a run.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 when everything succeeded, 1 otherwise, 128 + the
        signal number when interrupted.

    Examples
    --------
    A failure is one line on stderr and a non-zero status:

    >>> main(["find", "no_such_file.dm4"])
    1
    """
    with _safe_streams(), _termination_as_exception():
        try:
            return _main(argv)
        except (KeyboardInterrupt, _Terminated) as e:
            signum = getattr(e, "signum", signal.SIGINT)
            print(_interrupted_line(signum), file=sys.stderr)
            return 128 + int(signum)


def _reserve_standard_descriptors():
    """Open the null device on standard descriptors 0-2 the shell closed
    (``localcryst ... >&-``): otherwise the next file opened (a lock, an HDF5
    file) would get descriptor 1, and anything a library prints would land
    in it."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            new = os.open(os.devnull, os.O_RDWR)
            if new != fd:
                os.dup2(new, fd)
                os.close(new)


def console_main():
    """Entry point of the ``localcryst`` console script: :func:`main`, with
    Ctrl-C, SIGTERM and SIGHUP ending the process at once after removing the
    result being written (one line, exit status 130, 143 or 129).

    Returns
    -------
    int
        The exit status.

    Examples
    --------
    >>> import subprocess, sys
    >>> subprocess.run([sys.executable, "-m", "hyperspy_localcryst", "find",
    ...                 "no_such_file.dm4"], capture_output=True).returncode
    1
    """
    global _CONSOLE
    _CONSOLE = True
    _reserve_standard_descriptors()
    try:
        return main()
    finally:
        _CONSOLE = False


def _main(argv):
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (1, one line)
        return e.code if isinstance(e.code, int) else 1
    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    # file-version notices of old .hspy files are not the user's concern here
    warnings.filterwarnings("ignore", message="Loading old file version")
    # deprecations inside HyperSpy's extensions (e.g. exspy's imports), which
    # the user of the command can do nothing about
    warnings.filterwarnings("ignore", message=r"Importing `\w+` from `hyperspy\.")
    if args.command in ("analyse", "analyze", "demo"):
        if getattr(args, "units", None) and args.pixel_size is None:
            print(
                "localcryst: error: --units gives the units of --pixel-size; give "
                "--pixel-size too (see `localcryst analyse --help`)",
                file=sys.stderr,
            )
            return 1
        return _main_analyse(args)
    try:
        out = Path(args.out or _stem(args.file) + "_atoms")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clean_stale(out.absolute().parent)
            check_destination(out, [args.file], args.overwrite)  # before reading
            image = _load(args.file)
            summary = run_pipeline(
                image,
                out,
                args.separation,
                args.sublattices,
                args.model,
                overwrite=args.overwrite,
                inputs=[args.file],
            )
        from .report import is_user_warning

        shown = [str(w.message) for w in caught if is_user_warning(w.category)]
        for text in dict.fromkeys(shown):  # each once, one line each
            print(f"localcryst: warning: {text}", file=sys.stderr)
    except (ValueError, TypeError, OSError) as e:
        print(f"localcryst: error: {_os_message(e)}", file=sys.stderr)
        return 1
    except Exception as e:  # a bug: still one line, not a traceback
        print(f"localcryst: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(
        f"{summary['n_atoms']} atoms found in {summary['find_s']:.2f} s and refined "
        f"in {summary['refine_s']:.2f} s (separation {summary['separation']:.4g} "
        f"{summary['units']}, median position error "
        f"{summary['median_position_error']:.2g} {summary['units']})."
    )
    print(f"Results in {out.resolve()}: atoms.png, atoms.csv, atoms.hspy")
    return 0


def _os_message(e):
    """An OSError as one line a user can act on (``[Errno 28] ...`` otherwise)."""
    if isinstance(e, OSError) and not isinstance(e, OutputError) and e.strerror:
        where = f": {e.filename}" if e.filename else ""
        return f"{e.strerror}{where}"
    return str(e)


def _stem(path):
    """A file's name without extension, usable as a folder name: never ``.``,
    ``..`` or hidden (``..npy`` would otherwise name the output folder itself
    or its parent, and ``.localcryst-*`` a work folder)."""
    stem = Path(path).with_suffix("").name.lstrip(".")
    return stem or "image"


def _result_names(files):
    """One result-folder name per input file, unique within the batch (case
    folded, for case-insensitive file systems): the file name without its
    extension, with ``_<position>`` added where two files share a name."""
    stems = [_stem(f) for f in files]
    shared = {
        s.casefold()
        for s in stems
        if [t.casefold() for t in stems].count(s.casefold()) > 1
    }
    taken, names = set(), []
    for i, stem in enumerate(stems):
        name = f"{stem}_{i}" if stem.casefold() in shared else stem
        while name.casefold() in taken or (
            name != stem and name.casefold() in {t.casefold() for t in stems}
        ):
            name += f"_{i}"
        taken.add(name.casefold())
        names.append(name)
    return names


def _main_analyse(args):
    # per-frame warnings are summarised in the report, not printed one by one
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    if args.command == "demo":
        jobs = [("PbTiO3/SrRuO3 interface (bundled)", None, Path(args.out))]
    else:
        jobs = [
            (f, f, Path(args.out) / name)
            for f, name in zip(args.files, _result_names(args.files))
        ]
    if getattr(args, "signal_type", None):
        known = _known_signal_types()
        if args.signal_type not in known:
            print(
                f"localcryst: error: unknown --signal-type {args.signal_type!r}; "
                f"known: {', '.join(sorted(known))}.",
                file=sys.stderr,
            )
            return 1
    failed = 0
    for k, (label, path, out) in enumerate(jobs):
        print(f"[{k + 1}/{len(jobs)}] {label}", flush=True)
        t = time.perf_counter()
        try:
            summary = _analyse_one(path, out, args, batch=getattr(args, "files", ()))
        except Exception as e:  # one file's failure never ends the batch
            failed += 1
            if not isinstance(e, (ValueError, TypeError, OSError, RuntimeError)):
                e = f"{type(e).__name__}: {e}"  # unexpected: say what it was
            e = _os_message(e) if isinstance(e, OSError) else str(e)
            msg = e if e.startswith(str(label)) else f"{label}: {e}"
            print(f"localcryst: error: {msg}", file=sys.stderr, flush=True)
            continue
        _say_summary(summary, out)
        print(f"  done in {time.perf_counter() - t:.1f} s", flush=True)
    if failed:
        rest = (
            "no result was written."
            if failed == len(jobs)
            else "the others' results are complete."
        )
        print(
            f"localcryst: {failed} of {len(jobs)} file(s) failed; {rest}",
            file=sys.stderr,
        )
    return 1 if failed else 0
