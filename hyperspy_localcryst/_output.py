"""Result folders that never replace or delete what localcryst did not write.

Every result folder of the command line is written aside, in a hidden
temporary folder next to it, and moved into place only when complete. A
folder made this way carries a marker file (:data:`MARKER`) that lists the
files localcryst wrote into it. The rules, checked before any work starts
and again just before the move:

- a folder without that marker is never replaced, with or without
  ``--overwrite``: localcryst did not write it (an empty folder may receive
  a result: nothing in it can be lost);
- a marked folder is replaced only with ``overwrite=True``, only if it
  holds nothing but the files its marker lists, each unchanged since it was
  written (a user's ``notes.txt`` put in it later, or an edited
  ``atoms.csv``, keeps it), and never when it is, or contains, an input
  file or the current directory;
- two runs into the same result name never both write it: the second
  finds the first's lock (an OS file lock, released by the kernel even when
  the first is killed) and stops with a one-line error;
- an interrupted run (exception, Ctrl-C, SIGTERM) removes its temporary
  folder; a killed one (SIGKILL, power cut) leaves it behind, and the next
  run into the same folder removes it. An earlier result moved aside for
  replacement is moved back if the new one never arrived.

Folders are created with :func:`os.mkdir`, so they follow the user's umask.
The module is plain Python (no HyperSpy): it only moves folders.
"""

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path

__all__ = [
    "MARKER",
    "OutputError",
    "result_folder",
    "check_destination",
    "abandon_all",
    "clean_stale",
]

#: Name of the marker file inside every result folder localcryst writes.
MARKER = ".localcryst-result.json"
_CREATOR = "hyperspy_localcryst"
#: Hidden siblings: work in progress (tmp), a replaced result (old), locks.
_HIDDEN = re.compile(r"^\.localcryst-(tmp|old)-([0-9a-f]{8})-(.+)$")
_LOCK_PREFIX = ".localcryst-lock-"


class OutputError(ValueError):
    """A result folder cannot be written where asked (one line, says why)."""


# ----------------------------------------------------------------- locks
def _try_lock(fd):
    """Exclusive, non-blocking OS lock on an open file; False if held."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


class _Lock:
    """The lock of one result name in one folder: ``.localcryst-lock-<name>``.

    Held for a whole run. The kernel releases it when the process ends, however
    it ends, so a lock is never stale; the file itself is removed on release
    (and, when a killed run left it, by the next run that can take it).
    """

    def __init__(self, parent, name):
        self.path = Path(parent) / f"{_LOCK_PREFIX}{name}"
        self.fd = None

    def acquire(self):
        """Take the lock; False when another live process holds it."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            if not _try_lock(fd):
                os.close(fd)
                return False
            # The file may have been removed (and made anew) by its previous
            # holder between our open and our lock: then we hold a lock on a
            # dead file. Check that the path still names the file we locked.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()}\n".encode())
                return True
            os.close(fd)

    def holder(self):
        """The process id written by the holder, if readable."""
        with contextlib.suppress(OSError, ValueError):
            return int(self.path.read_text().split()[0])
        return None

    def release(self):
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # while held: nobody can take a dead file
        os.close(self.fd)
        self.fd = None


# ---------------------------------------------------------------- marker
def read_marker(folder):
    """The marker of a result folder written by localcryst, else None.

    Parameters
    ----------
    folder : str or pathlib.Path

    Returns
    -------
    dict or None
        ``created_by``, ``version``, ``command``, ``inputs``, ``created``,
        ``files`` (names relative to the folder) and ``sha256`` (of each
        file as written), or None when the folder has no valid marker.

    Examples
    --------
    >>> import tempfile
    >>> read_marker(tempfile.mkdtemp()) is None
    True
    """
    path = Path(folder) / MARKER
    try:
        if path.is_symlink() or not path.is_file():
            return None
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(info, dict) or info.get("created_by") != _CREATOR:
        return None
    for key, kind in (("files", list), ("folders", list), ("sha256", dict)):
        if not isinstance(info.get(key), kind):
            return None
    return info


def _contents(folder):
    """Every entry below ``folder`` (files, folders, links), as POSIX paths
    relative to it; symbolic links are listed, never followed."""
    folder = Path(folder)
    out = []
    for root, dirs, files in os.walk(folder):  # does not follow links
        rel = Path(root).relative_to(folder)
        for name in dirs + files:
            entry = (rel / name).as_posix()
            if entry != MARKER:
                out.append(entry)
    return sorted(out)


def _digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _digests(folder, names):
    """SHA-256 of each regular file among ``names`` (links are not files)."""
    folder = Path(folder)
    return {
        n: _digest(folder / n)
        for n in names
        if (folder / n).is_file() and not (folder / n).is_symlink()
    }


def _folders(folder, names):
    """The real folders (not links) among ``names``."""
    folder = Path(folder)
    return sorted(
        n for n in names if (folder / n).is_dir() and not (folder / n).is_symlink()
    )


def _write_marker(folder, command, inputs, complete):
    from . import __version__

    files = _contents(folder) if complete else []
    info = {
        "created_by": _CREATOR,
        "version": __version__,
        "command": command,
        "inputs": [str(Path(p).resolve()) for p in inputs],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "complete": complete,
        "files": files,
        "folders": _folders(folder, files),
        "sha256": _digests(folder, files),
    }
    path = Path(folder) / MARKER
    path.write_text(json.dumps(info, indent=1), encoding="utf-8")


# ------------------------------------------------------------ the checks
def _within(path, folder):
    """True when ``path`` is ``folder`` or lies inside it (resolved)."""
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True


def _short(names, n=3):
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def check_destination(out, inputs=(), overwrite=False):
    """Refuse a result folder that may not be written or replaced.

    Parameters
    ----------
    out : str or pathlib.Path
        The result folder (it need not exist).
    inputs : sequence of str or pathlib.Path
        The files the run reads: a folder that is or contains one of them is
        never replaced.
    overwrite : bool
        Whether an earlier localcryst result may be replaced.

    Raises
    ------
    OutputError
        One line naming the folder, why, and what to do.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> mine = pathlib.Path(tempfile.mkdtemp())
    >>> check_destination(mine / "new")  # free: fine
    >>> _ = (mine / "notes.txt").write_text("my notes")
    >>> try:
    ...     check_destination(mine, overwrite=True)
    ... except OutputError as e:
    ...     print(str(e).split("; ")[0].endswith("not written by localcryst"))
    True
    """
    out = Path(os.path.abspath(out))  # messages name the folder unambiguously
    if not (out.exists() or out.is_symlink()):
        return
    other = "choose another output folder"
    if out.is_symlink():
        raise OutputError(
            f"{out} is a symbolic link; localcryst writes results only into folders "
            f"it creates; {other}."
        )
    if not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder; {other}.")
    if _within(Path.cwd(), out):
        raise OutputError(
            f"{out} is the current folder or contains it; localcryst never replaces "
            f"it; {other}."
        )
    held = [str(p) for p in inputs if _within(p, out)]
    if held:
        raise OutputError(
            f"{out} holds the input {_short(held)}; localcryst never replaces a "
            f"folder that holds its input; {other}."
        )
    if not any(out.iterdir()):
        return  # an empty folder: nothing in it can be lost
    marker = read_marker(out)
    if marker is None:
        raise OutputError(
            f"{out} exists and was not written by localcryst; it is never replaced "
            f"(not even with overwrite); {other}."
        )
    foreign = sorted(set(_contents(out)) - set(marker["files"]))
    if foreign:
        raise OutputError(
            f"{out} holds files localcryst did not write ({_short(foreign)}); it is "
            f"not replaced; move them out or {other}."
        )
    # each entry must still be what was written: the same bytes for a file,
    # a real folder for a folder (a link or a user's file in its place is not)
    written, folders = marker["sha256"], set(marker["folders"])
    now = _digests(out, list(written))
    changed = sorted(
        n
        for n in marker["files"]
        if (n in written and now.get(n) != written[n])
        or (n in folders and n not in _folders(out, [n]))
        or (n not in written and n not in folders)
        or (out / n).is_symlink()
    )
    changed = [n for n in changed if (out / n).exists() or (out / n).is_symlink()]
    if changed:
        raise OutputError(
            f"{out} holds files changed since localcryst wrote them "
            f"({_short(changed)}); it is not replaced; {other}."
        )
    if not overwrite:
        raise OutputError(
            f"{out} holds an earlier localcryst result; use --overwrite "
            "(overwrite=True) to replace "
            f"it, or {other}."
        )


# --------------------------------------------------------------- cleanup
def _remove_stale(parent, own_name):
    """Remove what killed runs left in ``parent``: work folders, lock files, and
    results moved aside for replacement (moved back when nothing replaced them).
    Only names localcryst makes are touched, and only when no live run holds
    their lock (``own_name``'s lock is held by the caller)."""
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return
    for path in entries:
        m = _HIDDEN.match(path.name)
        if m is None or path.is_symlink() or not path.is_dir():
            continue
        kind, name = m.group(1), m.group(3)
        lock = None
        if name != own_name:
            lock = _Lock(parent, name)
            if not lock.acquire():
                continue  # a live run owns it
        try:
            if kind == "tmp":
                # work in progress of a dead run: ours if it is empty or marked
                if read_marker(path) is not None or not any(path.iterdir()):
                    shutil.rmtree(path, ignore_errors=True)
            elif read_marker(path) is not None:
                target = Path(parent) / name
                if target.exists() or target.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:  # the replacement never arrived: restore the old result
                    os.rename(path, target)
        except OSError:
            pass
        finally:
            if lock is not None:
                lock.release()
    for path in entries:
        if path.name.startswith(_LOCK_PREFIX) and path.is_file():
            name = path.name[len(_LOCK_PREFIX) :]
            if name == own_name:
                continue
            lock = _Lock(parent, name)
            if lock.acquire():  # nobody holds it: a leftover of a killed run
                lock.release()


def clean_stale(folder):
    """Remove what killed localcryst runs left in ``folder`` (their hidden work
    folders and lock files; a result that was being replaced is put back).

    Only names localcryst makes are touched, and only those no live run holds.

    Parameters
    ----------
    folder : str or pathlib.Path
        An output folder (nothing happens if it does not exist).

    Examples
    --------
    >>> import tempfile
    >>> clean_stale(tempfile.mkdtemp())  # nothing left behind: nothing to do
    """
    if Path(folder).is_dir():
        _remove_stale(folder, None)


def _sibling(parent, kind, name):
    return Path(parent) / f".localcryst-{kind}-{secrets.token_hex(4)}-{name}"


def _fresh_sibling(parent, kind, name):
    """A new hidden folder ``.localcryst-<kind>-<random>-<name>`` in ``parent``,
    made with os.mkdir (follows the umask; never an existing folder)."""
    while True:
        path = _sibling(parent, kind, name)
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        return path


def _unused_sibling(parent, kind, name):
    """A free hidden name (only runs holding ``name``'s lock make such names)."""
    while True:
        path = _sibling(parent, kind, name)
        if not (path.exists() or path.is_symlink()):
            return path


# ------------------------------------------------------------ the folder
@contextlib.contextmanager
def result_folder(out, inputs=(), overwrite=False, command="analyse"):
    """Write a result folder aside and move it into place when complete.

    Yields a temporary folder to write into; when the ``with`` block ends
    without an exception it gets a marker listing its files and replaces
    ``out`` (which must be free, or an earlier localcryst result with
    ``overwrite=True``; see :func:`check_destination`). On an exception,
    Ctrl-C included, the temporary folder is removed and ``out`` is left as
    it was.

    Parameters
    ----------
    out : str or pathlib.Path
        The result folder. Its parent is created if needed.
    inputs : sequence of str or pathlib.Path
        Files the run reads (never inside a replaced folder).
    overwrite : bool
        Replace an earlier localcryst result.
    command : str
        Recorded in the marker.

    Yields
    ------
    pathlib.Path
        The temporary folder.

    Raises
    ------
    OutputError
        Before any work: ``out`` may not be written, or another run is
        writing it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "result"
    >>> with result_folder(out) as tmp:
    ...     _ = (tmp / "a.txt").write_text("hello")
    >>> sorted(p.name for p in out.iterdir())
    ['.localcryst-result.json', 'a.txt']
    >>> read_marker(out)["files"]
    ['a.txt']
    """
    out = Path(os.path.abspath(out))
    parent, name = out.parent, out.name
    if not name or name.startswith(".localcryst-"):  # "/" or our own hidden names
        raise OutputError(
            f"{out} cannot be a result folder; choose another output folder."
        )
    created = not (parent.exists() or parent.is_symlink())
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(
            f"{parent} exists and is not a folder; choose another output folder."
        ) from None
    except OSError as e:
        raise OutputError(
            f"cannot create {parent}: {e.strerror or e}; choose another output folder."
        ) from None
    lock = _Lock(parent, name)
    try:
        acquired = lock.acquire()
    except OSError as e:
        raise OutputError(
            f"cannot write into {parent}: {e.strerror or e}; choose another output "
            "folder."
        ) from None
    if not acquired:
        pid = lock.holder()
        raise OutputError(
            f"{out} is being written by another localcryst run"
            + (f" (process {pid})" if pid else "")
            + "; wait for it to finish or choose another output folder."
        )
    run = _Run(out, lock, created)
    _ACTIVE.add(run)
    try:
        _remove_stale(parent, name)
        check_destination(out, inputs, overwrite)
        run.tmp = _fresh_sibling(parent, "tmp", name)
        _write_marker(run.tmp, command, inputs, complete=False)
        yield run.tmp
        _write_marker(run.tmp, command, inputs, complete=True)
        check_destination(out, inputs, overwrite)  # nothing changed meanwhile?
        if out.exists() and any(out.iterdir()):  # an earlier result: aside
            run.old = _unused_sibling(parent, "old", name)
            os.rename(out, run.old)
        elif out.exists() and os.name == "nt":  # POSIX renames onto an empty one
            os.rmdir(out)
        os.rename(run.tmp, out)
        run.tmp = None
    finally:
        run.close()


#: Result folders being written by this process (for :func:`abandon_all`).
_ACTIVE = set()


class _Run:
    """The state of one result folder being written, so that it can be closed
    from the ``finally`` of :func:`result_folder` or from a signal handler."""

    def __init__(self, out, lock, created):
        self.out, self.lock, self.created = out, lock, created
        self.tmp = self.old = None

    def close(self):
        """Remove the work folder, put back (or remove) a result moved aside,
        release the lock, and remove the parent folder if this run made it and
        it is empty."""
        _ACTIVE.discard(self)
        try:
            if self.tmp is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
            if self.old is not None:
                if self.out.exists():
                    shutil.rmtree(self.old, ignore_errors=True)
                else:  # the new result never arrived: put the old one back
                    with contextlib.suppress(OSError):
                        os.rename(self.old, self.out)
        finally:
            self.tmp = self.old = None
            self.lock.release()
            if self.created:  # (rmdir fails, harmlessly, unless empty)
                with contextlib.suppress(OSError):
                    self.out.parent.rmdir()


def abandon_all():
    """Close every result folder this process is writing, as on an error.

    For a signal handler that ends the process at once (``os._exit``):
    work folders are removed and results moved aside are put back, without
    unwinding through the code that was running when the signal came.

    Examples
    --------
    >>> abandon_all()  # nothing is being written: nothing to do
    """
    for run in list(_ACTIVE):
        with contextlib.suppress(Exception):
            run.close()
