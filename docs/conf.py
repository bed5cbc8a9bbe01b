"""Sphinx configuration of the hyperspy_localcryst documentation.

Build (from the repository root; see README.md, "Documentation")::

    pip install ".[docs]" && sphinx-build -W --keep-going -b html docs docs/_build/html

Add ``-D plot_gallery=0`` to skip running the gallery scripts (as
``tests/test_docs.py`` does). ``LOCALCRYST_GALLERY_DATA=DIR`` runs the gallery
on the data files in DIR (e.g. ``tests/data``, the CI-sized data) instead of
the scripts' default (``../shared/data/real`` when it exists, else
``tests/data``).

The gallery runs the scripts of ``examples/`` unchanged:

* they are copied into ``docs/_build/gallery_src`` next to a gallery header
  (``_templates/gallery_header.rst``), because ``examples/README.md`` would
  otherwise be taken as the header; each script is self-contained (its
  helpers are in it, so that it can be copied into a notebook as it is);
* each script gets ``--out _build/gallery_src/output/<name>`` and one
  ``--data-dir`` per data folder (through ``gallery_argv``: the staged copy
  cannot find the repository's folders from its own path), and
  :func:`png_scraper` puts the PNG figures the script saved there on its
  gallery page;
* a script whose data file is in neither folder (as its ``find_file`` calls
  name them) is shown but not run (it would print where to get the data and
  exit), with a note saying so;
* the staged copy gets an underline below the first docstring line (the page
  title); the script's ``__doc__``, which sphinx-gallery blanks, is given
  back; and ``sys.exit`` raises an error while the scripts run, so that a
  script exiting early fails the build loudly instead of ending it.

This module is also imported by sphinx-gallery as ``conf`` (its callables are
given by name, so that Sphinx can cache the configuration); everything with
side effects runs in :func:`setup`.
"""

import ast
import contextlib
import io
import os
import re
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
EXAMPLES = REPO / "examples"
GALLERY_SRC = DOCS / "_build" / "gallery_src"  # staged copies of the scripts
GALLERY_HEADER = DOCS / "_templates" / "gallery_header.rst"

# the data folders the example scripts look in by default, in their order
SHARED_DATA = REPO.parent / "shared" / "data" / "real"
TEST_DATA = REPO / "tests" / "data"

if str(DOCS) not in sys.path:  # this module, imported as `conf`
    sys.path.insert(0, str(DOCS))

# -- Project -----------------------------------------------------------------

project = "hyperspy_localcryst"
author = "hyperspy_localcryst developers"
copyright = "hyperspy_localcryst developers, GPL-3.0-or-later"
try:
    from hyperspy_localcryst import __version__ as release
except ImportError:  # not installed: the API pages then fail to import
    release = "unknown"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_templates", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]
# Unresolved Python cross-references (e.g. to HyperSpy, without network access
# for intersphinx) stay plain text; they are not errors.
nitpicky = False

# -- MyST (the markdown pages, including architecture/benchmarks/series.md) --

myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc + numpydoc --------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # types are in the numpydoc "Parameters" sections
autodoc_default_options = {"members": True, "show-inheritance": True}
numpydoc_show_class_members = False  # no tables of the inherited HyperSpy API
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- HTML ----------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"hyperspy_localcryst {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_sidebars = {"getting_started": [], "cli": []}

# -- sphinx-gallery ------------------------------------------------------------


def _data_dirs():
    """The folders the example scripts look in, in their order."""
    data = os.environ.get("LOCALCRYST_GALLERY_DATA")
    first = Path(data).resolve() if data else SHARED_DATA
    if not first.is_dir():
        first = TEST_DATA
    return list(dict.fromkeys([first.resolve(), TEST_DATA.resolve()]))


def _required_files(script):
    """The data files a script asks its ``find_file`` for: one list per
    call, of which one file is needed (names given as string literals or as
    module-level string constants such as ``FILE``)."""
    tree = ast.parse(Path(script).read_text(encoding="utf-8"))
    consts = {
        t.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    calls = []
    for node in ast.walk(tree):
        func = getattr(node, "func", None)
        if getattr(func, "id", getattr(func, "attr", None)) != "find_file":
            continue
        names = []
        for a in node.args[1:]:
            if isinstance(a, ast.Constant) and isinstance(a.value, str):
                names.append(a.value)
            elif isinstance(a, ast.Name) and a.id in consts:
                names.append(consts[a.id])
        if names:
            calls.append(names)
    return calls


def _found(name, dirs):
    return any(d.is_dir() and next(d.rglob(name), None) is not None for d in dirs)


def _has_data(script):
    """Whether every ``find_file`` call of the script will find a file."""
    dirs = _data_dirs()
    return all(any(_found(n, dirs) for n in c) for c in _required_files(script))


def _gallery_scripts():
    """The example scripts that are gallery pages (not the helper module)."""
    return sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def _without_data():
    return [p.stem for p in _gallery_scripts() if not _has_data(p)]


def _titled(text):
    """The script with an underline below the first docstring line, so that
    the gallery page has a title (the code is unchanged)."""
    lines = text.splitlines(keepends=True)
    if (
        len(lines) > 1
        and lines[0].startswith('"""')
        and not re.match(r"^([=\-~^*#])\1{2,}\s*$", lines[1])
    ):
        title = lines[0][3:].rstrip("\n")
        lines.insert(1, "=" * len(title) + "\n")
    return "".join(lines)


def _stage_gallery():
    """Copy the scripts and the gallery header into ``GALLERY_SRC``."""
    GALLERY_SRC.mkdir(parents=True, exist_ok=True)
    wanted = {"GALLERY_HEADER.rst": GALLERY_HEADER.read_text(encoding="utf-8")}
    for p in _gallery_scripts():
        wanted[p.name] = _titled(p.read_text(encoding="utf-8"))
    for f in GALLERY_SRC.iterdir():
        if f.is_file() and f.name not in wanted:
            f.unlink()
    for name, text in wanted.items():
        f = GALLERY_SRC / name
        if not f.is_file() or f.read_text(encoding="utf-8") != text:
            f.write_text(text, encoding="utf-8")


class ExampleExit(RuntimeError):
    """Raised instead of exiting when a gallery script calls ``sys.exit``."""


def _exit_in_example(status=None):
    raise ExampleExit(
        f"the example called sys.exit({status!r}), most likely because a data "
        "file is missing that docs/conf.py (_required_files) did not expect"
    )


def _restore_exit(*args):
    sys.exit = getattr(sys.exit, "localcryst_original", sys.exit)


def gallery_argv(gallery_conf, script_vars):
    """Called by sphinx-gallery just before each script runs: its command-line
    arguments (``sys.argv[1:]``).

    Also gives the script its docstring back as ``__doc__`` (sphinx-gallery
    blanks it; the scripts use its first line as their ``--help`` text), and
    makes ``sys.exit`` raise an error instead of ending the whole build
    (restored when the gallery is done)."""
    src = Path(script_vars["src_file"])
    example_globals = script_vars.get("example_globals")
    if example_globals is not None and not example_globals.get("__doc__"):
        doc = ast.get_docstring(ast.parse(src.read_text(encoding="utf-8")))
        example_globals["__doc__"] = doc or src.stem
    if not hasattr(sys.exit, "localcryst_original"):
        _exit_in_example.localcryst_original = sys.exit
        sys.exit = _exit_in_example
    out = GALLERY_SRC / "output" / src.stem
    shutil.rmtree(out, ignore_errors=True)  # only this run's figures
    argv = ["--out", os.path.relpath(out, GALLERY_SRC)]  # cwd: GALLERY_SRC
    for d in _data_dirs():
        argv += ["--data-dir", str(d)]
    return argv


def png_scraper(block, block_vars, gallery_conf):
    """Image scraper: the PNG files the script saved, one full-width image
    each (the scripts' ``save`` closes every figure once written, so there
    is nothing left for the matplotlib scraper)."""
    from sphinx_gallery.scrapers import figure_rst

    out = GALLERY_SRC / "output" / Path(block_vars["src_file"]).stem
    pngs = sorted(out.glob("*.png")) if out.is_dir() else []
    done = block_vars.setdefault("localcryst_scraped", set())
    rst = ""
    for png in pngs:
        if png.name in done:
            continue
        done.add(png.name)
        dest = next(block_vars["image_path_iterator"])
        shutil.copyfile(png, dest)
        alt = f"Figure {png.stem.replace('_', ' ')}"
        rst += figure_rst([dest], gallery_conf["src_dir"], fig_titles=alt)
    return rst


def _run_pattern(skipped):
    """``filename_pattern``: the scripts that have their data."""
    runnable = [p.stem for p in _gallery_scripts() if p.stem not in skipped]
    if not runnable:
        return r"^$"  # matches no path: run nothing
    return r"[\\/](" + "|".join(re.escape(s) for s in runnable) + r")\.py$"


_SKIPPED = _without_data()

sphinx_gallery_conf = {
    "examples_dirs": os.path.relpath(GALLERY_SRC, DOCS),
    "gallery_dirs": "auto_examples",
    "filename_pattern": _run_pattern(_SKIPPED),
    "ignore_pattern": r"__init__\.py$",
    "image_scrapers": ("conf.png_scraper",),
    "reset_argv": "conf.gallery_argv",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
    "line_numbers": False,
}


def _note_missing_data(app, docname, source):
    """A note on the gallery page of a script that was not run."""
    name = docname.rpartition("/")[2]
    if not docname.startswith("auto_examples/") or name not in _SKIPPED:
        return
    if str(app.config.plot_gallery).strip().lower() in ("0", "false", "no", ""):
        return  # no script runs in such a build: nothing to explain
    dirs = " or ".join(f"``{d}``" for d in _data_dirs())
    calls = _required_files(EXAMPLES / f"{name}.py")
    files = ", ".join(f"``{n}``" for c in calls for n in c)
    note = (
        "\n.. note::\n\n"
        "   This example was not run when these pages were built: its data "
        f"({files}) was not under {dirs}. See *Data* in ``examples/README.md`` "
        "for where to get it; without it the script prints where to get the "
        "data and exits with status 0.\n\n"
    )
    text = source[0]
    anchor = text.find(".. code-block::")
    source[0] = text[:anchor] + note + text[anchor:] if anchor >= 0 else text + note


# -- the command-line help, rendered at build time ------------------------------


def _cli_help(args):
    """What ``localcryst ARGS`` prints (e.g. ``["demo", "--help"]``), 80 columns."""
    from hyperspy_localcryst.cli import main

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            try:
                main(list(args))
            except SystemExit:
                pass
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return buf.getvalue().rstrip()


def _localcryst_help_directive():
    from docutils import nodes
    from sphinx.util.docutils import SphinxDirective

    class LocalcrystHelp(SphinxDirective):
        """``.. localcryst-help:: [COMMAND]``: the ``--help`` text of the CLI."""

        optional_arguments = 1
        has_content = False

        def run(self):
            args = self.arguments[:1] + ["--help"]
            text = _cli_help(args)
            block = nodes.literal_block(text, text)
            block["language"] = "text"
            return [block]

    return LocalcrystHelp


# -- docstrings that docutils cannot parse, in files this site does not own -----

# (object name, text as written, text as rendered). Each is a no-op once the
# docstring itself is fixed; remove the entry then.
_DOCSTRING_FIXES = []  # (object name, old text, new text): none needed now


def _fix_docstrings(app, what, name, obj, options, lines):
    for target, old, new in _DOCSTRING_FIXES:
        if name == target:
            lines[:] = [line.replace(old, new) for line in lines]


def setup(app):
    _stage_gallery()
    app.add_directive("localcryst-help", _localcryst_help_directive())
    app.connect("source-read", _note_missing_data)
    app.connect("autodoc-process-docstring", _fix_docstrings)
    # after sphinx-gallery has run the scripts (its handler has priority 500)
    app.connect("builder-inited", _restore_exit, priority=900)
    app.connect("build-finished", _restore_exit)
    return {"parallel_read_safe": True}
