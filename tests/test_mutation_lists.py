"""The mutation runner's lists stay valid as the code changes.

``mutation/run.py`` applies each curated mutant by finding its exact text in
the source; a refactor that changes that text would silently drop the mutant
from the score. These tests fail instead, and check that the runner's
operator sampling still finds mutants in every numerics module.
"""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location(
        "mutation_run", ROOT / "mutation" / "run.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_curated_mutant_applies_once(runner):
    files = sorted((ROOT / "mutation").glob("mutants_*.toml"))
    assert files, "no curated mutant lists in mutation/"
    mutants = runner.load_curated(files)
    assert len(mutants) >= 50
    for m in mutants:
        original = (ROOT / m["file"]).read_text()
        assert m["mutated"] != original, m["id"]
        assert len(m["mutated"].splitlines()) >= len(original.splitlines()) - 5
        for target in m["tests"]:
            assert (ROOT / target.split("::")[0]).is_file(), (m["id"], target)


def test_sampled_mutants_cover_the_numerics(runner):
    mutants, pool = runner.sample_mutants(400, seed=0)
    assert pool > 1000
    # every module of the map has candidates (a small one may miss a sample)
    everything, _ = runner.sample_mutants(pool, seed=0)
    files = {pathlib.Path(m["file"]).name for m in everything}
    for name in runner.MODULE_TESTS:
        assert name in files, name
    for m in mutants:
        original = (ROOT / m["file"]).read_text().splitlines()
        mutated = m["mutated"].splitlines()
        changed = [i for i, (a, b) in enumerate(zip(original, mutated)) if a != b]
        assert len(changed) == 1 and len(original) == len(mutated), m["id"]
        # argument checks and error messages are not sampled
        assert "raise" not in mutated[changed[0]], m["id"]
