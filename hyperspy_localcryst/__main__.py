"""The ``localcryst`` console script (and ``python -m hyperspy_localcryst``).

Kept apart from :mod:`hyperspy_localcryst.cli` so that the first thing the
command does, before importing anything heavy, is to make Ctrl-C, SIGTERM and
SIGHUP end it with one line (exit status 130, 143, 129) instead of a
traceback; :func:`hyperspy_localcryst.cli.console_main` then installs the
handler that also removes the result being written.
"""

import os
import signal
import sys


def _stopped_while_starting(signum, frame):
    os.write(
        2,
        f"localcryst: interrupted ({signal.Signals(signum).name}) while starting; "
        "nothing was written.\n".encode(),
    )
    os._exit(128 + int(signum))


def main():
    """Run the command line (see :func:`hyperspy_localcryst.cli.console_main`).

    Returns
    -------
    int
        The exit status.

    Examples
    --------
    >>> import subprocess, sys
    >>> subprocess.run([sys.executable, "-m", "hyperspy_localcryst", "--help"],
    ...                capture_output=True).returncode
    0
    """
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stopped_while_starting)
    from .cli import console_main

    return console_main()


if __name__ == "__main__":
    sys.exit(main())
