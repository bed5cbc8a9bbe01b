"""Print pip constraints that pin every declared dependency to its floor.

Reads ``pyproject.toml`` ([project] dependencies and the extras named on the
command line, default ``test``) and writes ``name==floor`` for every
requirement with a ``>=`` lower bound, so that ``pip install -c FILE
".[test]"`` installs the oldest versions this project claims to support
(`.ci/run`, the floor job). A requirement without a floor is an error: every
dependency must declare the oldest version that works.
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


def main(argv):
    extras = tuple(argv) or ("test",)
    for name, floor in sorted(floors(extras).items()):
        print(f"{name}=={floor}")


if __name__ == "__main__":
    main(sys.argv[1:])
