"""The Sphinx documentation builds without a warning (``sphinx-build -W``).

The gallery scripts are not run here (``-D plot_gallery=0``): the full build,
gallery included, is the documented command in README.md ("Documentation").
The docs are built from a copy of ``docs/`` and ``examples/`` in a temporary
folder, as from a clean checkout, so nothing is written into the repository.
Skipped when the documentation tools (``pip install ".[docs]"``) are missing.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# the `docs` extra of pyproject.toml, as importable modules
DOCS_MODULES = (
    "sphinx",
    "numpydoc",
    "sphinx_gallery",
    "myst_parser",
    "pydata_sphinx_theme",
)

# build outputs of a previous documented build, not sources
_NOT_SOURCES = shutil.ignore_patterns(
    "_build", "auto_examples", "sg_execution_times.rst", "__pycache__", "output"
)


def test_docs_build_without_warnings(tmp_path):
    for module in DOCS_MODULES:
        pytest.importorskip(module, reason=f"{module} missing: pip install '.[docs]'")
    src = tmp_path / "repo"
    shutil.copytree(REPO / "docs", src / "docs", ignore=_NOT_SOURCES)
    shutil.copytree(REPO / "examples", src / "examples", ignore=_NOT_SOURCES)
    out = tmp_path / "html"
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-D",
        "plot_gallery=0",
        "-b",
        "html",
        str(src / "docs"),
        str(out),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, (
        f"sphinx-build failed (exit {run.returncode}):\n{run.stderr[-6000:]}"
    )
    for page in (
        "index.html",
        "getting_started.html",
        "cli.html",
        "user_guide/refinement.html",
        "reference/signals.html",
        "auto_examples/index.html",
        "auto_examples/srtio3.html",
        "architecture.html",
        "benchmarks.html",
        "series.html",
    ):
        assert (out / page).is_file(), f"{page} was not built"
    assert not (src / "docs" / "auto_examples" / "srtio3.py.md5").exists(), (
        "the gallery scripts ran although plot_gallery=0"
    )
    signals = (out / "reference" / "signals.html").read_text(encoding="utf-8")
    assert "refine_atoms" in signals and "get_neighbourhoods" in signals
