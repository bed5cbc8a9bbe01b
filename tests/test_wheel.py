"""The built wheel carries the extension file and registers our signals.

Builds the wheel from this source tree, checks its contents and entry point,
installs it into a fresh virtual environment (which sees the dependencies
installed in the environment running the tests through a ``.pth`` file) and
asks HyperSpy there which signal types it knows.
"""

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
    )
    (path,) = out.glob("hyperspy_localcryst-*.whl")
    return path


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "hyperspy_localcryst/hyperspy_extension.yaml" in names
    assert "hyperspy_localcryst/data/PbTiO3-SrRuO3_interface_HAADF.hspy" in names
    assert "hyperspy_localcryst/data/README.md" in names
    # test data stays out of the wheel
    assert not any(n.startswith("tests/") for n in names)
    ep = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(ep).decode()
    assert "[hyperspy.extensions]" in text
    assert "hyperspy_localcryst = hyperspy_localcryst" in text
    assert "localcryst = hyperspy_localcryst.__main__:main" in text
    assert wheel.stat().st_size < 2_000_000


def _venv_with_our_dependencies(path):
    """A fresh virtual environment that sees this environment's packages.

    ``venv --system-site-packages`` would expose the *base* interpreter's
    packages, which lack HyperSpy when the suite itself runs in a virtual
    environment (as `.ci/run` does). Instead, a ``.pth`` file adds this
    environment's site-packages after the new environment's own, so the wheel
    installed there shadows the copy under test here.
    """
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    py = path / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = dict.fromkeys(
        sysconfig.get_paths()[k] for k in ("purelib", "platlib")
    )  # ordered, unique
    Path(site, "_outer_environment.pth").write_text("\n".join(ours) + "\n")
    return py


def test_wheel_registers_signals(wheel, tmp_path):
    venv = tmp_path / "venv"
    py = _venv_with_our_dependencies(venv)
    subprocess.run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--force-reinstall",
            str(wheel),
        ],
        check=True,
    )
    code = (
        "import hyperspy_localcryst, hyperspy.api as hs\n"
        "from hyperspy.extensions import ALL_EXTENSIONS as E\n"
        "print(hyperspy_localcryst.__file__)\n"
        "print(sorted(E['signals']))\n"
        "s = hs.signals.Signal2D([[0., 1.], [1., 0.]])\n"
        "s.set_signal_type('atomic_image')\n"
        "print(type(s).__name__, type(s.as_lazy()).__name__)\n"
    )
    res = subprocess.run(
        [str(py), "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    lines = res.stdout.strip().splitlines()
    assert str(venv) in lines[0]  # the wheel's copy, not the source tree
    for name in (
        "AtomicImage",
        "LazyAtomicImage",
        "AtomPositions",
        "LazyAtomPositions",
        "AtomNeighbourhoods",
        "LazyAtomNeighbourhoods",
    ):
        assert f"'{name}'" in lines[1]
    assert lines[2] == "AtomicImage LazyAtomicImage"
