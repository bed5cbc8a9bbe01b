"""The README's two set-up commands are the ones CI runs and the package provides.

`.ci/run` must run exactly the README's test command, inside a virtual
environment it creates itself (so a dependency the command does not install
fails CI rather than a new user's machine).
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text):
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def _readme_commands():
    return [
        ln.strip()
        for b in _bash_blocks((ROOT / "README.md").read_text())
        for ln in b.splitlines()
        if ln.strip()
    ]


def test_ci_runs_the_readme_test_command_in_a_fresh_venv():
    commands = _readme_commands()
    test_cmd = next(c for c in commands if "pytest" in c)
    assert test_cmd == 'pip install ".[test]" && pytest'
    script = (ROOT / ".ci" / "run").read_text()
    lines = [ln.strip() for ln in script.splitlines()]
    assert lines[1:].count(test_cmd) == 1
    assert "set -euo pipefail" in lines
    # a venv of its own, activated before the command, no system packages
    venv = next(i for i, ln in enumerate(lines) if re.search(r"-m venv ", ln))
    activate = next(i for i, ln in enumerate(lines) if ln.startswith("source "))
    assert venv < activate < lines.index(test_cmd)
    assert "--system-site-packages" not in script
    # the README's job is the first pip install and pytest run; the floor job
    # (tests/test_packaging.py) comes after it
    first_pip = next(i for i, ln in enumerate(lines) if ln.startswith("pip install"))
    assert first_pip == lines.index(test_cmd)


def test_readme_demo_command_is_a_console_script():
    commands = _readme_commands()
    demo = next(c for c in commands if c.endswith("localcryst demo"))
    assert demo == "pip install . && localcryst demo"
    pyproject = (ROOT / "pyproject.toml").read_text()
    scripts = pyproject.split("[project.scripts]")[1].split("\n[")[0]
    assert 'localcryst = "hyperspy_localcryst.__main__:main"' in scripts


def test_test_extra_declares_what_the_tests_import():
    """exspy (EELS spectra in the tests) and the tools the suite runs."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    test = re.search(r"\ntest = \[(.*?)\n\]", pyproject, flags=re.S).group(1)
    names = {
        re.split(r"[<>=\[ ;]", r)[0].lower()
        for r in re.findall(r'^\s*"([^"]+)"', test, flags=re.M)
    }
    assert {"pytest", "hypothesis", "ruff", "exspy", "sphinx"} <= names


def _declared(extras):
    pyproject = (ROOT / "pyproject.toml").read_text()
    blocks = [re.search(r"\ndependencies = \[(.*?)\n\]", pyproject, re.S).group(1)]
    for extra in extras:
        blocks.append(re.search(rf"\n{extra} = \[(.*?)\]", pyproject, re.S).group(1))
    names = set()
    for req in (r for b in blocks for r in re.findall(r'"([^"]+)"', b)):
        names.add(re.split(r"[<>=\[ ;]", req)[0])
        # "dask[array,distributed]": distributed comes as a declared extra
        names.update(re.findall(r"\[(.*?)\]", req)[0].split(",") if "[" in req else [])
    return {n.strip().lower().replace("_", "-") for n in names}


def _imports(folder):
    import ast

    names = set()
    for path in Path(folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_every_import_is_declared():
    """A module the package or the tests import comes from a distribution that
    pyproject.toml names directly (not one that happens to come along with
    another package), so a fresh environment built from the README has it."""
    import sys
    from importlib.metadata import packages_distributions

    dists = packages_distributions()
    local = {"hyperspy_localcryst", "tests", "conftest", "_helpers"}
    for folder, extras in (
        ("hyperspy_localcryst", ("eels",)),
        ("tests", ("test",)),
    ):
        declared = _declared(extras)
        missing = {}
        for name in _imports(ROOT / folder) - local - set(sys.stdlib_module_names):
            owners = {d.lower().replace("_", "-") for d in dists.get(name, [])}
            if not owners & declared:
                missing[name] = sorted(owners) or "not installed"
        assert not missing, f"{folder} imports undeclared modules: {missing}"
