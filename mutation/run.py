"""Mutation testing: does the test suite notice deliberate bugs?

Each mutant changes one small piece of the package (a sign, an axis, a
factor, an index). The runner applies it in a private copy of the
repository, runs the tests that ought to notice, and records whether they
failed (the mutant is *killed*) or passed (it *survived*). The working tree is
never touched, so the runner can be used while others edit and test.

Two kinds of mutant:

- **Curated** mutants, kept in ``mutation/mutants_*.toml``: one table per
  mutant with ``id``, ``file``, ``find`` (exact text, occurring once),
  ``replace``, ``tests`` (files or node ids that should kill it), ``why`` and,
  for a mutant that cannot change behaviour, ``equivalent = "reason"``.
- **Sampled** mutants (``--sample N``): a seeded random sample of the
  operator mutations (``+``/``-``, ``*``/``/``, ``<``/``<=``, ``==``/``!=``,
  ``and``/``or``, a number changed, a unary minus dropped) over the
  computations in ``hyperspy_localcryst/numerics`` (argument checks,
  ``raise`` statements, strings and the synthetic-data generator excluded).
  Each is run against the tests of its module (``MODULE_TESTS``).

Usage (from the repository root)::

    python mutation/run.py                        # every curated mutant
    python mutation/run.py mutation/mutants_refinement.toml --only refinement-err-swap
    python mutation/run.py --no-curated --sample 60 --seed 0
    python mutation/run.py --list                 # what would run, no tests

Results go to ``mutation/results/<name>.json`` (ignored by git) and a
Markdown table is printed; ``docs/mutation.md`` records the latest score and
every survivor with its reason.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import pathlib
import queue
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "hyperspy_localcryst"

#: Tests that should notice a change in each numerics module (sampled mutants):
#: the module's own tests and every truth test that reaches it (directly or
#: through the signal layer). Missing files are skipped, so a test file may be
#: listed before it exists. The fast truth-test files come first: pytest runs
#: the files in this order with ``-x``, so most mutants die within seconds
#: (``tests/numerics/test_truth_sublattices.py``, for one module only, after them).
_FAST_TRUTH = [
    "tests/numerics/test_mutation_seed14.py",
    "tests/numerics/test_mutation_seed13.py",
    "tests/numerics/test_mutation_seed5.py",
    "tests/numerics/test_mutation_seed4.py",
    "tests/numerics/test_truth_analysis.py",
    "tests/numerics/test_truth_finding.py",
    "tests/numerics/test_truth_fitting.py",
]
MODULE_TESTS = {
    "finding.py": _FAST_TRUTH
    + [
        "tests/numerics/test_finding.py",
        "tests/test_direction.py",
        "tests/numerics/test_numerics_details.py",
        "tests/numerics/test_numerics_details2.py",
        "tests/numerics/test_numerics_details3.py",
        "tests/signals/test_calibrations.py",
        "tests/test_properties.py",
    ],
    "_imaging.py": _FAST_TRUTH
    + [
        "tests/numerics/test_finding.py",
        "tests/numerics/test_kernels.py",
        "tests/test_direction.py",
        "tests/numerics/test_numerics_details.py",
        "tests/numerics/test_numerics_details2.py",
        "tests/numerics/test_numerics_details3.py",
        "tests/signals/test_calibrations.py",
        "tests/test_properties.py",
    ],
    "refinement.py": ["tests/numerics/test_truth_refinement_rules.py"]
    + _FAST_TRUTH
    + [
        "tests/numerics/test_refinement.py",
        "tests/numerics/test_kernels.py",
        "tests/numerics/test_error_bars.py",
        "tests/test_direction.py",
        "tests/numerics/test_numerics_details.py",
        "tests/numerics/test_numerics_details2.py",
        "tests/numerics/test_numerics_details3.py",
        "tests/signals/test_calibrations.py",
        "tests/test_properties.py",
    ],
    "neighbourhoods.py": _FAST_TRUTH
    + [
        "tests/numerics/test_neighbourhoods.py",
        "tests/test_direction.py",
        "tests/numerics/test_numerics_details.py",
        "tests/numerics/test_numerics_details2.py",
        "tests/numerics/test_numerics_details3.py",
        "tests/signals/test_calibrations.py",
        "tests/test_properties.py",
    ],
    "clustering.py": ["tests/numerics/test_truth_statistics_rules.py"]
    + _FAST_TRUTH
    + [
        "tests/numerics/test_statistics.py",
        "tests/numerics/test_neighbourhoods.py",
        "tests/test_direction.py",
        "tests/numerics/test_numerics_details.py",
        "tests/numerics/test_numerics_details2.py",
        "tests/numerics/test_numerics_details3.py",
        "tests/signals/test_calibrations.py",
    ],
    "frames.py": ["tests/numerics/test_truth_statistics_rules.py"]
    + _FAST_TRUTH
    + [
        "tests/numerics/test_statistics.py",
        "tests/numerics/test_neighbourhoods.py",
        "tests/test_direction.py",
        "tests/numerics/test_numerics_details.py",
        "tests/numerics/test_numerics_details2.py",
        "tests/numerics/test_numerics_details3.py",
        "tests/signals/test_calibrations.py",
        "tests/signals/test_series.py",
    ],
    "tracking.py": _FAST_TRUTH
    + [
        "tests/numerics/test_tracking.py",
        "tests/test_direction.py",
        "tests/numerics/test_drift_errors.py",
        "tests/signals/test_calibrations.py",
        "tests/numerics/test_numerics_details2.py",
        "tests/numerics/test_numerics_details3.py",
        "tests/signals/test_series.py",
    ],
    "alignment.py": _FAST_TRUTH
    + [
        "tests/numerics/test_alignment.py",
        "tests/test_direction.py",
        "tests/numerics/test_drift_errors.py",
        "tests/numerics/test_numerics_details.py",
        "tests/numerics/test_numerics_details2.py",
        "tests/numerics/test_numerics_details3.py",
        "tests/signals/test_calibrations.py",
        "tests/signals/test_series.py",
    ],
    "sublattices.py": _FAST_TRUTH
    + [
        "tests/numerics/test_truth_sublattices.py",
        "tests/numerics/test_sublattices.py",
    ],
    "spectra.py": _FAST_TRUTH
    + [
        "tests/signals/test_spectra.py",
        "tests/signals/test_registration.py",
        "tests/signals/test_calibrations.py",
        "tests/numerics/test_numerics_details.py",
        "tests/numerics/test_numerics_details2.py",
        "tests/numerics/test_numerics_details3.py",
    ],
    "_parallel.py": _FAST_TRUTH
    + [
        "tests/numerics/test_numerics_details2.py",
        "tests/numerics/test_numerics_details3.py",
        "tests/numerics/test_kernels.py",
        "tests/numerics/test_finding.py",
        "tests/numerics/test_refinement.py",
        "tests/signals/test_series.py",
    ],
    "lattice.py": _FAST_TRUTH
    + [
        "tests/numerics/test_lattice.py",
        "tests/report/test_cli_options.py",
    ],
    "detection.py": _FAST_TRUTH
    + [
        "tests/numerics/test_detection.py",
        "tests/test_properties.py",
    ],
    "one_frame.py": _FAST_TRUTH
    + [
        "tests/numerics/test_detection.py",
        "tests/numerics/test_finding.py",
        "tests/signals/test_signals.py",
        "tests/numerics/test_refinement.py",
        "tests/signals/test_series.py",
    ],
    "noise.py": _FAST_TRUTH
    + [
        "tests/numerics/test_detection.py",
        "tests/numerics/test_refinement.py",
        "tests/test_properties.py",
    ],
    "sparse.py": _FAST_TRUTH
    + [
        "tests/numerics/test_sparse_finding.py",
    ],
    "modes.py": _FAST_TRUTH
    + [
        "tests/numerics/test_modes.py",
        "tests/numerics/test_statistics.py",
    ],
    "phases.py": _FAST_TRUTH
    + [
        "tests/numerics/test_phases.py",
        "tests/numerics/test_defects.py",
    ],
    "symmetry.py": _FAST_TRUTH
    + [
        "tests/numerics/test_phases.py",
        "tests/numerics/test_neighbourhoods.py",
    ],
    "defects.py": _FAST_TRUTH
    + [
        "tests/numerics/test_defects.py",
        "tests/numerics/test_phases.py",
    ],
    # the measurements of issue 20: each module's own truth tests
    "polarisation.py": ["tests/numerics/test_polarisation.py"],
    "strain.py": ["tests/numerics/test_strain.py"],
    "counting.py": ["tests/numerics/test_counting.py"],
    "scan.py": ["tests/numerics/test_scan.py"],
    "dumbbells.py": ["tests/numerics/test_dumbbells.py"],
    "tilts.py": ["tests/numerics/test_tilts.py"],
}

#: Modules split out of another test the same way as it (issue 23).
_SAME_TESTS = {
    "separation.py": "finding.py",
    "_fit_kernels.py": "refinement.py",
    "_joint_errors.py": "refinement.py",
    "centroids.py": "refinement.py",
    "class_count.py": "clustering.py",
    "point_patterns.py": "clustering.py",
    "warping.py": "alignment.py",
    "translations.py": "sublattices.py",
}
MODULE_TESTS.update({new: MODULE_TESTS[old] for new, old in _SAME_TESTS.items()})

#: Modules left out of the sample: argument checks (covered by the bad-input
#: tests) and the test-data generator (not part of an analysis).
SAMPLE_EXCLUDED = {"_checks.py", "synthetic.py", "__init__.py"}

_BINOPS = {
    ast.Add: ("+", "-"),
    ast.Sub: ("-", "+"),
    ast.Mult: ("*", "/"),
    ast.Div: ("/", "*"),
    ast.FloorDiv: ("//", "/"),
}
_CMPOPS = {
    ast.Lt: ("<", "<="),
    ast.LtE: ("<=", "<"),
    ast.Gt: (">", ">="),
    ast.GtE: (">=", ">"),
    ast.Eq: ("==", "!="),
    ast.NotEq: ("!=", "=="),
}


# --------------------------------------------------------------------------
# Mutants
# --------------------------------------------------------------------------


def load_curated(paths):
    """Curated mutants from TOML files, each checked against the source."""
    mutants = []
    for path in paths:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
        for m in doc.get("mutant", []):
            missing = {"id", "file", "find", "replace", "tests"} - set(m)
            if missing:
                raise SystemExit(
                    f"{path}: mutant {m.get('id')} lacks {sorted(missing)}"
                )
            source = (ROOT / m["file"]).read_text()
            n = source.count(m["find"])
            if n != 1:
                raise SystemExit(
                    f"{path}: mutant {m['id']}: `find` occurs {n} times in "
                    f"{m['file']} (must be exactly once)"
                )
            mutants.append(
                {
                    "id": m["id"],
                    "file": m["file"],
                    "mutated": source.replace(m["find"], m["replace"], 1),
                    "tests": list(m["tests"]),
                    "why": m.get("why", ""),
                    "equivalent": m.get("equivalent"),
                    "source": str(pathlib.Path(path).relative_to(ROOT)),
                }
            )
    ids = [m["id"] for m in mutants]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise SystemExit(f"duplicate mutant ids: {sorted(dup)}")
    return mutants


def _excluded_lines(tree):
    """Lines not to mutate: checks, raises, docstrings, decorators."""
    skip = set()

    def span(node):
        return range(node.lineno, (node.end_lineno or node.lineno) + 1)

    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name.startswith(("check", "_check")):
                skip.update(span(node))
            for dec in node.decorator_list:
                skip.update(span(dec))
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                skip.update(span(body[0]))
        elif isinstance(node, ast.Raise | ast.Assert | ast.JoinedStr):
            skip.update(span(node))
        elif isinstance(node, ast.If) and any(
            isinstance(s, ast.Raise) for s in node.body
        ):
            skip.update(span(node.test))
    return skip


def _candidates(path):
    """Every operator mutation of one file: (line, start, end, new, label)."""
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    skip = _excluded_lines(tree)
    out = []

    def one_line(node):
        return node.lineno == node.end_lineno and node.lineno not in skip

    def between(node, left, right, table, op):
        """The operator token between two operands, swapped by ``table``."""
        if type(op) not in table or not one_line(node):
            return
        line = lines[node.lineno - 1]
        a, b = left.end_col_offset, right.col_offset
        old, new = table[type(op)]
        seg = line[a:b]
        if seg.strip().strip("()") != old:
            return
        k = seg.find(old)
        out.append((node.lineno, a + k, a + k + len(old), new, f"{old}->{new}"))

    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp):
            between(node, node.left, node.right, _BINOPS, node.op)
        elif isinstance(node, ast.Compare) and len(node.ops) == 1:
            between(node, node.left, node.comparators[0], _CMPOPS, node.ops[0])
        elif isinstance(node, ast.BoolOp) and one_line(node):
            old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
            line = lines[node.lineno - 1]
            first, second = node.values[0], node.values[1]
            a, b = first.end_col_offset, second.col_offset
            seg = line[a:b]
            m = re.search(rf"\b{old}\b", seg)
            if m is None:
                continue
            out.append((node.lineno, a + m.start(), a + m.end(), new, f"{old}->{new}"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            if not one_line(node):
                continue
            line = lines[node.lineno - 1]
            a = node.col_offset
            if line[a] != "-":
                continue
            out.append((node.lineno, a, a + 1, "", "drop unary -"))
        elif (
            isinstance(node, ast.Constant)
            and type(node.value) in (int, float)
            and one_line(node)
        ):
            line = lines[node.lineno - 1]
            a, b = node.col_offset, node.end_col_offset
            src = line[a:b]
            if isinstance(node.value, int):
                new = str(node.value + 1)
            elif node.value == 0:
                new = "1.0"
            else:
                new = repr(node.value * 1.5)
            out.append((node.lineno, a, b, new, f"{src}->{new}"))
    return lines, sorted(set(out))


def sample_mutants(n, seed, modules=None):
    """A seeded random sample of ``n`` operator mutants over the numerics.

    ``modules`` (file names such as ``"phases.py"``) restricts the pool, for
    exploring one module; the score recorded in ``docs/mutation.md`` is always
    drawn from the whole pool (``modules=None``).
    """
    pool = []
    for path in sorted((ROOT / PACKAGE / "numerics").glob("*.py")):
        if path.name in SAMPLE_EXCLUDED:
            continue
        if modules and path.name not in modules:
            continue
        lines, cands = _candidates(path)
        for line_no, a, b, new, label in cands:
            pool.append((path, lines, line_no, a, b, new, label))
    rng = random.Random(seed)
    picked = rng.sample(pool, min(n, len(pool)))
    mutants = []
    for path, lines, line_no, a, b, new, label in sorted(
        picked, key=lambda p: (p[0].name, p[2], p[3])
    ):
        rel = str(path.relative_to(ROOT))
        mutated = list(lines)
        old_line = lines[line_no - 1]
        mutated[line_no - 1] = old_line[:a] + new + old_line[b:]
        mutants.append(
            {
                "id": f"sample-{path.stem}-L{line_no}-c{a}",
                "file": rel,
                "mutated": "".join(mutated),
                "tests": MODULE_TESTS.get(
                    path.name, ["tests/numerics/test_finding.py"]
                ),
                "why": f"line {line_no}: {label}: {old_line.strip()}",
                "equivalent": None,
                "source": f"sample(seed={seed})",
            }
        )
    return mutants, len(pool)


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------


def make_copy():
    """A private copy of the tracked and untracked (not ignored) files."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    dest = pathlib.Path(tempfile.mkdtemp(prefix="localcryst-mutation-"))
    for f in files:
        if not f:
            continue
        src = ROOT / f.decode()
        if not src.is_file():
            continue
        target = dest / f.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return dest


def _env(copy):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy) + os.pathsep + env.get("PYTHONPATH", "")
    env["NUMBA_CACHE_DIR"] = str(copy / ".numba-cache")
    env["MPLBACKEND"] = "Agg"
    return env


def check_copy_is_imported(copy):
    """Fail unless the copy, not the installed package, is what tests import."""
    out = subprocess.run(
        [sys.executable, "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"],
        cwd=copy,
        env=_env(copy),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not pathlib.Path(out).resolve().is_relative_to(copy.resolve()):
        raise SystemExit(f"tests would import {out}, not the copy in {copy}")


def run_tests(copy, tests, timeout):
    """Run pytest on ``tests`` in the copy: (status, seconds, first failure)."""
    tests = [t for t in tests if (copy / t.split("::")[0]).exists()]
    if not tests:
        return "no-tests", 0.0, ""
    # -n 0: no xdist workers (the mutants already run in parallel, and -x
    # under xdist ends with exit status 2, "interrupted", not 1)
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0"]
    cmd += ["-p", "no:cacheprovider"]
    cmd += ["-W", "ignore::DeprecationWarning", *tests]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(
            cmd,
            cwd=copy,
            env=_env(copy),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        # not a kill: nothing failed, the tests ran out of time
        return "timeout", time.perf_counter() - t0, "timeout"
    dt = time.perf_counter() - t0
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", r.stdout, re.M)
    last = " ".join(r.stdout.strip().splitlines()[-1:])
    first = failed[0] if failed else last
    if r.returncode == 0:
        return "survived", dt, ""
    if r.returncode == 1:
        return "killed", dt, first
    if r.returncode < 0:
        # the test process died of a signal (a segmentation fault of a
        # compiled kernel the mutant made write out of bounds): the suite
        # fails loudly, so the mutant is noticed
        return "killed", dt, f"crash (signal {-r.returncode})"
    # not a kill either: pytest could not run the tests (collection or usage
    # error, interrupted)
    tail = (r.stdout + r.stderr).strip().splitlines()[-3:]
    return "error", dt, " | ".join(tail)


def apply(copy, mutant):
    """Write the mutant into the copy; returns a function that restores it."""
    path = copy / mutant["file"]
    original = path.read_bytes()
    st = path.stat()
    path.write_text(mutant["mutated"])

    def restore():
        path.write_bytes(original)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    return restore


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*", help="curated TOML files (default: all)")
    p.add_argument("--only", nargs="+", default=None, help="mutant ids to run")
    p.add_argument("--no-curated", action="store_true")
    p.add_argument("--sample", type=int, default=0, help="sampled mutants")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--jobs", type=int, default=1, help="mutants run at once")
    p.add_argument(
        "--skip-tests", nargs="+", default=[], help="test files left out of every run"
    )
    p.add_argument(
        "--modules",
        nargs="+",
        default=None,
        help="restrict the sample to these numerics files (exploration only; "
        "the recorded score samples every module)",
    )
    p.add_argument("--list", action="store_true", help="list mutants, run nothing")
    p.add_argument("--name", default=None, help="results file name")
    args = p.parse_args(argv)

    mutants = []
    if not args.no_curated:
        files = args.files or sorted((ROOT / "mutation").glob("mutants_*.toml"))
        mutants += load_curated([pathlib.Path(f).resolve() for f in files])
    pool = None
    if args.sample:
        sampled, pool = sample_mutants(args.sample, args.seed, args.modules)
        mutants += sampled
    if args.only:
        mutants = [m for m in mutants if m["id"] in set(args.only)]
    for m in mutants:
        m["tests"] = [t for t in m["tests"] if t.split("::")[0] not in args.skip_tests]
    if args.list:
        for m in mutants:
            print(f"{m['id']:50s} {m['file']}  {m['why']}")
        if pool is not None:
            print(f"(sampled from {pool} candidate operator mutants)")
        return 0
    if not mutants:
        raise SystemExit("no mutants selected")

    copies = [make_copy() for _ in range(max(1, args.jobs))]
    print(f"copies: {', '.join(map(str, copies))}", flush=True)
    results = [None] * len(mutants)
    try:
        for copy in copies:
            check_copy_is_imported(copy)
        if not args.no_baseline:
            union = sorted({t for m in mutants for t in m["tests"]})
            status, dt, first = run_tests(copies[0], union, args.timeout * 4)
            print(f"baseline ({len(union)} test targets): {status} in {dt:.0f} s")
            if status != "survived":
                raise SystemExit(f"the unmutated tests fail: {first}")
        free = queue.Queue()
        for copy in copies:
            free.put(copy)
        done = iter(range(1, len(mutants) + 1))
        lock = threading.Lock()

        def one(i):
            m = mutants[i]
            copy = free.get()
            try:
                restore = apply(copy, m)
                try:
                    status, dt, first = run_tests(copy, m["tests"], args.timeout)
                finally:
                    restore()
            finally:
                free.put(copy)
            row = {k: m[k] for k in ("id", "file", "why", "equivalent", "source")}
            row.update(status=status, seconds=round(dt, 1), caught_by=first)
            row["tests"] = m["tests"]
            results[i] = row
            with lock:
                n = next(done)
                print(
                    f"[{n}/{len(mutants)}] {m['id']}: {status} ({dt:.0f} s) {first}",
                    flush=True,
                )

        with ThreadPoolExecutor(len(copies)) as pool_:
            list(pool_.map(one, range(len(mutants))))
    finally:
        for copy in copies:
            shutil.rmtree(copy, ignore_errors=True)

    name = args.name or time.strftime("run-%Y%m%d-%H%M%S")
    outdir = ROOT / "mutation" / "results"
    outdir.mkdir(exist_ok=True)
    (outdir / f"{name}.json").write_text(json.dumps(results, indent=1))
    print()
    print(summary(results, pool))
    return 0


def summary(results, pool=None):
    """Markdown: the score, then every survivor with its reason."""
    eq = [r for r in results if r["equivalent"]]
    live = [r for r in results if not r["equivalent"]]
    killed = [r for r in live if r["status"] == "killed"]
    surv = [r for r in live if r["status"] == "survived"]
    undecided = [r for r in live if r["status"] in ("timeout", "error")]
    lines = [
        f"mutants: {len(results)} ({len(eq)} equivalent); "
        f"non-equivalent killed {len(killed)}/{len(live)}"
        + (f" = {100 * len(killed) / len(live):.0f} %" if live else "")
        + (
            f"; {len(undecided)} undecided (timeout or error, not counted as kills)"
            if undecided
            else ""
        ),
    ]
    if pool is not None:
        lines.append(f"(sampled mutants drawn from {pool} candidates)")
    lines += ["", "| mutant | status | caught by | what |", "|---|---|---|---|"]
    for r in results:
        status = "equivalent" if r["equivalent"] else r["status"]
        what = r["why"].replace("|", "\\|")
        lines.append(f"| `{r['id']}` | {status} | {r['caught_by']} | {what} |")
    if surv:
        lines += ["", "Survivors:"] + [f"- `{r['id']}`: {r['why']}" for r in surv]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
