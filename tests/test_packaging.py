"""Packaging promises: true floors, the floor job, one version, the changelog,
pre-commit.

* every dependency declares a ``>=`` floor, and `.ci/run` has a second job that
  installs exactly those floors in a fresh virtual environment and runs the demo
  and a subset of the tests (`.ci/min_constraints.py` writes the pins);
* the version is written once, in ``pyproject.toml``; ``__version__`` reads the
  installed metadata;
* the changelog is kept with towncrier (fragments in ``changelog.d/``);
* pre-commit runs ruff check and ruff format, at a ruff the test extra allows.
"""

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _min_constraints():
    spec = importlib.util.spec_from_file_location(
        "min_constraints", ROOT / ".ci" / "min_constraints.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _v(text):
    """'2024.12' -> (2024, 12): release numbers compare as tuples."""
    return tuple(int(x) for x in re.findall(r"\d+", text))


EXTRAS = tuple(PYPROJECT["project"]["optional-dependencies"])


def test_every_dependency_declares_a_floor():
    """Runtime, test and every other extra; a package named twice (sphinx in
    test and docs) has one floor, so the floor job pins one version."""
    floors = _min_constraints().floors(EXTRAS)  # ValueError otherwise
    assert {"hyperspy", "numpy", "zarr", "numcodecs", "trackpy"} <= set(floors)


def test_floors_are_at_least_what_hyperspy_requires():
    """HyperSpy 2.5 (the floor: its scree API) itself needs these."""
    floors = _min_constraints().floors(("test",))
    needs = {
        "hyperspy": "2.5",
        "numpy": "1.25",
        "dask": "2024.12",
        "rosettasciio": "0.12",
        "scipy": "1.10",
        "matplotlib": "3.6",
    }
    for name, least in needs.items():
        assert _v(floors[name]) >= _v(least), (name, floors[name])


def test_constraints_pin_every_floor(capsys):
    mc = _min_constraints()
    assert mc.main([]) == 0
    pins = dict(ln.split("==") for ln in capsys.readouterr().out.split())
    project = PYPROJECT["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["test"]
    names = {re.split(r"[<>=\[; ]", r)[0].lower() for r in declared}
    assert set(pins) == names
    assert pins["hyperspy"] == "2.5"
    assert pins["dask"] == "2024.12"  # dask[array,distributed]: the name only
    assert "numcodecs" in pins and "zarr" in pins


def test_a_requirement_without_floor_is_refused(monkeypatch):
    mc = _min_constraints()
    monkeypatch.setattr(mc, "requirements", lambda extras=(): ["numpy>=1.25", "x"])
    with pytest.raises(ValueError, match="'x' declares no '>=' floor"):
        mc.floors()


def _ci_lines():
    return [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]


def test_ci_floor_job_installs_the_floors_in_a_fresh_venv():
    """After the README's job: another venv, the floors as constraints, a check
    that they were installed, the demo and a subset of the tests in it."""
    lines = _ci_lines()
    readme = lines.index('pip install ".[test]" && pytest')
    job = lines[readme + 1 :]

    def at(pattern):
        hits = [i for i, ln in enumerate(job) if re.search(pattern, ln)]
        assert hits, f"no line of the floor job matches {pattern!r}"
        return hits[0]

    steps = [
        at(r'-m venv "\$floor/venv"'),
        at(r'^source "\$floor/venv/bin/activate"'),
        at(r"^python \.ci/min_constraints\.py > \"\$floor/constraints\.txt\"$"),
        at(r'^pip install .*-c "\$floor/constraints\.txt" "\.\[test\]"$'),
        at(r"^python \.ci/min_constraints\.py --check$"),
        at(r"^localcryst demo --out "),
        at(r"-m pytest .*\\$"),
    ]
    assert steps == sorted(steps)
    # the README job's failure stops the script before the floor job
    assert re.fullmatch(r'status=\$\?; \[ "\$status" -eq 0 \] \|\| exit .*', job[2])
    assert "--system-site-packages" not in "\n".join(job)


def test_version_is_written_once():
    """``[project] version`` is the one place; no module or config repeats it."""
    version = PYPROJECT["project"]["version"]
    assert "version" not in PYPROJECT["project"].get("dynamic", [])
    literal = re.compile(
        r"""(__version__|\bversion|\brelease)\s*[:=]\s*["']"""
        + re.escape(version)
        + r"""["']"""
    )
    files = [
        *(ROOT / "hyperspy_localcryst").rglob("*.py"),
        *(ROOT / "docs").glob("*.py"),
        *ROOT.glob("*.cfg"),
        *ROOT.glob("*.py"),
    ]
    repeats = [str(p) for p in files if literal.search(p.read_text())]
    assert not repeats, f"the version is hard-coded in {repeats}"
    text = (ROOT / "pyproject.toml").read_text()
    assert len(re.findall(r'^version = "', text, flags=re.M)) == 1


def test_installed_version_is_the_declared_one():
    from importlib.metadata import version

    import hyperspy_localcryst

    assert hyperspy_localcryst.__version__ == version("hyperspy_localcryst")
    if Path(hyperspy_localcryst.__file__).resolve().parents[1] == ROOT:
        # installed from this tree (CI): the metadata is this pyproject's
        assert hyperspy_localcryst.__version__ == PYPROJECT["project"]["version"]


def _towncrier():
    return PYPROJECT["tool"]["towncrier"]


def test_changelog_fragments_have_a_known_type():
    cfg = _towncrier()
    types = {t["directory"] for t in cfg["type"]}
    fragments = [
        p for p in (ROOT / cfg["directory"]).iterdir() if not p.name.startswith(".")
    ]
    assert fragments, "changelog.d/ holds the fragments of the next release"
    for p in fragments:
        m = re.fullmatch(r"(\d+|\+[\w-]+)\.(\w+)(\.\d+)?\.md", p.name)
        assert m and m.group(2) in types, p.name
    changelog = (ROOT / cfg["filename"]).read_text()
    assert cfg["start_string"].strip() in changelog
    assert "## 0.1.0" in changelog


def test_towncrier_drafts_the_next_release():
    """The test extra installs towncrier; without it (a bare checkout) skip."""
    towncrier = shutil.which("towncrier")
    if towncrier is None:
        pytest.skip("towncrier is not installed (it is in the test extra)")
    run = subprocess.run(
        [towncrier, "build", "--draft", "--version", "9.9.9"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "## 9.9.9" in run.stdout
    for p in (ROOT / _towncrier()["directory"]).glob("*.md"):
        first = p.read_text().strip().splitlines()[0]
        assert first[:60] in run.stdout, p.name


def test_pre_commit_runs_ruff_at_an_allowed_version():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    (repo,) = [r for r in config["repos"] if r["repo"].endswith("/ruff-pre-commit")]
    assert {h["id"] for h in repo["hooks"]} == {"ruff-check", "ruff-format"}
    # at least the test extra's ruff floor (tests/test_style.py runs that ruff)
    floor = _min_constraints().floors(("test",))["ruff"]
    assert _v(repo["rev"]) >= _v(floor)


def test_deprecation_warnings_are_not_the_users():
    """A library's deprecation notice stays out of summary.json and stderr,
    even when its class also derives from UserWarning (pyparsing >= 3.3 with
    matplotlib < 3.11, as at the floors)."""
    from hyperspy_localcryst.report import is_user_warning

    class LibraryDeprecation(UserWarning, DeprecationWarning):
        pass

    assert is_user_warning(UserWarning)
    assert is_user_warning(RuntimeWarning)
    assert not is_user_warning(LibraryDeprecation)
    assert not is_user_warning(DeprecationWarning)
