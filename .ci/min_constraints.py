"""Print pip constraints that pin every declared dependency to its floor.

Reads ``pyproject.toml`` ([project] dependencies and the extras named on the
command line, default ``test``) and writes ``name==floor`` for every
requirement with a ``>=`` lower bound, so that ``pip install -c FILE
".[test]"`` installs the oldest versions this project claims to support
(`.ci/run`, the floor job). A requirement without a floor is an error: every
dependency must declare the oldest version that works.

``python .ci/min_constraints.py --check`` instead checks that the running
environment holds exactly those versions (after the install, so a floor pip
could not honour, or one a later install replaced, fails the job).
"""

import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def requirements(extras=("test",)):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return reqs


def floors(extras=("test",)):
    """``{name: floor}`` for each requirement; ValueError if one has no floor."""
    out = {}
    for req in requirements(extras):
        name = re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].strip().lower()
        match = re.search(r">=\s*([0-9][^,;\s]*)", req)
        if match is None:
            raise ValueError(f"{req!r} declares no '>=' floor")
        floor = match.group(1)
        if out.get(name, floor) != floor:
            raise ValueError(f"{name} has two floors: {out[name]} and {floor}")
        out[name] = floor
    return out


def check(extras=("test",)):
    """Names whose installed version is not the floor (empty: all at floor)."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    wrong = []
    for name, floor in sorted(floors(extras).items()):
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "not installed"
        if installed == "not installed" or Version(installed) != Version(floor):
            wrong.append(f"{name}: {installed}, floor {floor}")
    return wrong


def main(argv):
    argv = list(argv)
    if "--check" in argv:
        argv.remove("--check")
        wrong = check(tuple(argv) or ("test",))
        for line in wrong:
            print(f"not at its floor: {line}", file=sys.stderr)
        return 1 if wrong else 0
    for name, floor in sorted(floors(tuple(argv) or ("test",)).items()):
        print(f"{name}=={floor}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
