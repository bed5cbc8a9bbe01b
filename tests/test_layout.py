"""The package's layout stays one a newcomer can live in (issue 23).

- no import cycle between the package's modules, counting imports inside
  functions too (a lazy import hides a cycle; it does not remove it);
- no module over 900 lines;
- the method modules of a signal class (``signals/image/``,
  ``signals/positions/``, ``signals/neighbourhoods/``) never import the class's
  own module, which imports them;
- ``numerics`` never imports HyperSpy or the signal layer;
- the tests live in folders named after the package's parts
  (``tests/numerics``, ``tests/signals``, ``tests/report``, ``tests/data``);
  at the top of ``tests/`` only the tests of the package as a whole
  (packaging, style, layout, bad input everywhere, properties across steps).
"""

import ast
import pathlib
import re

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "hyperspy_localcryst"
MAX_LINES = 900


def _modules():
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name, path):
    """Every module of the package ``name`` imports, at any depth."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        found.update(c for c in candidates if c in MODULES and c != name)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    # the check below can fail: a graph with a cycle through a function-level
    # import is reported
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    assert len(MODULES) > 50  # the whole package was read
    assert _cycles(GRAPH) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_over_900_lines(name):
    n = len(MODULES[name].read_text().splitlines())
    assert n <= MAX_LINES, f"{name}: {n} lines"


@pytest.mark.parametrize(
    "methods, owner",
    [
        (
            "hyperspy_localcryst.signals.image",
            "hyperspy_localcryst.signals.atomic_image",
        ),
        (
            "hyperspy_localcryst.signals.positions",
            "hyperspy_localcryst.signals.atom_positions",
        ),
        (
            "hyperspy_localcryst.signals.neighbourhoods",
            "hyperspy_localcryst.signals.atom_neighbourhoods",
        ),
    ],
)
def test_method_modules_never_import_their_class(methods, owner):
    mine = [m for m in MODULES if m == methods or m.startswith(methods + ".")]
    assert len(mine) > 3
    assert not [m for m in mine if owner in GRAPH[m]]
    # and the class does inherit from them
    assert any(m in GRAPH[owner] for m in mine)


def test_numerics_never_import_hyperspy_or_the_signal_layer():
    bad = []
    for name, path in MODULES.items():
        if not name.startswith("hyperspy_localcryst.numerics"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            bad += [f"{name}: {n}" for n in names if n.split(".")[0] == "hyperspy"]
        bad += [
            f"{name}: {m}"
            for m in GRAPH[name]
            if not m.startswith("hyperspy_localcryst.numerics")
        ]
    assert not bad, bad


TESTS = pathlib.Path(__file__).resolve().parent
#: the tests of the package as a whole: they belong to no one part
WHOLE_PACKAGE_TESTS = {
    "test_bad_input.py",
    "test_bad_input_issue17.py",
    "test_bad_input_matrix.py",
    "test_bad_input_tables.py",
    "test_conventions.py",
    "test_direction.py",
    "test_docs.py",
    "test_layout.py",
    "test_library.py",
    "test_mutation_lists.py",
    "test_no_mutation.py",
    "test_packaging.py",
    "test_properties.py",
    "test_public_api.py",
    "test_readme.py",
    "test_real_data.py",
    "test_style.py",
    "test_wheel.py",
}


def test_tests_live_in_folders_named_after_the_package():
    """Each folder of tests names a part of the package (``report`` counts the
    command line, which is a thin layer over it); the top of ``tests/`` holds
    only the tests of the package as a whole, so a new test of one part goes
    into that part's folder."""
    folders = {
        p.parent.relative_to(TESTS).as_posix()
        for p in TESTS.rglob("test_*.py")
        if p.parent != TESTS
    }
    assert folders == {"numerics", "signals", "report", "data"}
    for folder in folders:
        assert (PACKAGE / folder).is_dir(), folder
        assert (TESTS / folder / "__init__.py").is_file(), folder
    top = {p.name for p in TESTS.glob("test_*.py")}
    assert top == WHOLE_PACKAGE_TESTS, sorted(top ^ WHOLE_PACKAGE_TESTS)


def _public_docs():
    """(qualified name, docstring) of every public function, class and method."""
    import importlib
    import inspect

    out = []
    for name in MODULES:
        if any(part.startswith("_") for part in name.split(".")[1:]):
            continue
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue
            out.append((f"{name}.{attr}", obj.__doc__ or ""))
            if inspect.isclass(obj):
                out += [
                    (f"{name}.{attr}.{m}", f.__doc__ or "")
                    for m, f in vars(obj).items()
                    if not m.startswith("_") and callable(f)
                ]
    return out


def test_shared_docstring_text_is_filled_and_not_written_again():
    """Every ``%(NAME)s`` snippet line is filled in (a placeholder left in a
    docstring would show in the help), and the progress-bar, worker and lazy
    arguments are described by the shared snippets, not written out again."""
    docs = _public_docs()
    assert len(docs) > 200
    left = [n for n, d in docs if re.search(r"^\s*%\([A-Z_]+\)s\s*$", d, re.M)]
    assert not left, left
    by_hand = [
        n
        for n, d in docs
        if re.search(r"^\s*(show_progressbar|lazy_output) : bool", d, re.M)
    ]
    assert not by_hand, by_hand
    # the snippets are in the filled text
    from hyperspy_localcryst.signals.atomic_image import AtomicImage

    doc = AtomicImage.find_atoms.__doc__
    assert "show_progressbar : None or bool" in doc
    assert "Frames processed in parallel (dask threads)" in doc
    with pytest.raises(KeyError, match="No docstring snippet"):
        from hyperspy_localcryst._docstrings import fill_doc

        def f():
            """Doc.

            %(NO_SUCH_ARG)s
            """

        fill_doc(f)
