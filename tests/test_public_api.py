"""Only HyperSpy's public API (issue 21, point 1).

TEMUL broke when HyperSpy 2 moved an internal module. The package reads
nothing private of HyperSpy: no ``hyperspy._*`` module, no underscore name
imported from HyperSpy, no undocumented registry; and it overrides none of
HyperSpy's private methods (only the class attributes ``_signal_type``,
``_signal_dimension`` and ``_lazy`` that HyperSpy's extension guide asks for).
"""

import ast
import pathlib

import numpy as np
import pytest
from hyperspy.signals import LazySignal1D, LazySignal2D, Signal1D, Signal2D
from sklearn.base import BaseEstimator, ClusterMixin, clone

import hyperspy_localcryst
from hyperspy_localcryst.data import synthetic_lattice
from hyperspy_localcryst.numerics.clustering import KMedians
from hyperspy_localcryst.signals.atom_neighbourhoods import (
    AtomNeighbourhoods,
    LazyAtomNeighbourhoods,
)
from hyperspy_localcryst.signals.atom_positions import (
    AtomPositions,
    LazyAtomPositions,
)
from hyperspy_localcryst.signals.atomic_image import AtomicImage, LazyAtomicImage

PACKAGE = pathlib.Path(hyperspy_localcryst.__file__).resolve().parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
#: the class attributes HyperSpy's extension guide tells a signal to set
EXTENSION_ATTRIBUTES = {"_signal_type", "_signal_dimension", "_lazy"}


def _private(name):
    return any(part.startswith("_") for part in name.split("."))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_hyperspy_import(path):
    tree = ast.parse(path.read_text())
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "hyperspy"
        ):
            if node.module.split(".")[0] != "hyperspy":
                continue  # hyperspy_localcryst
            if _private(node.module):
                bad.append(f"line {node.lineno}: from {node.module}")
            bad += [
                f"line {node.lineno}: {node.module}.{a.name}"
                for a in node.names
                if a.name.startswith("_") or a.name == "ALL_EXTENSIONS"
            ]
        elif isinstance(node, ast.Import):
            bad += [
                f"line {node.lineno}: import {a.name}"
                for a in node.names
                if a.name.split(".")[0] == "hyperspy" and _private(a.name)
            ]
    assert not bad, bad


def test_no_private_hyperspy_attribute_in_the_source():
    # names of HyperSpy internals the package once used (issue 21)
    banned = (
        "_deepcopy_with_new_data",
        "_assign_subclass",
        "_navigation_shape_in_array",
        "_signal_shape_in_array",
        "_get_cluster_algorithm",
        "ALL_EXTENSIONS",
        "._lazy",
    )
    hits = [
        f"{p.relative_to(PACKAGE)}: {b}"
        for p in SOURCES
        for b in banned
        if b in p.read_text()
    ]
    assert not hits, hits


@pytest.mark.parametrize(
    "cls, base",
    [
        (AtomicImage, Signal2D),
        (AtomPositions, Signal1D),
        (AtomNeighbourhoods, Signal1D),
        (LazyAtomicImage, LazySignal2D),
        (LazyAtomPositions, LazySignal1D),
        (LazyAtomNeighbourhoods, LazySignal1D),
    ],
)
def test_no_private_hyperspy_method_is_overridden(cls, base):
    # the class and the mixins it inherits its methods from (one module per
    # concern, e.g. signals/neighbourhoods/)
    ours = [c for c in cls.__mro__ if c.__module__.startswith("hyperspy_localcryst")]
    assert len(ours) >= 1
    overridden = {
        n
        for c in ours
        for n in vars(c)
        if n.startswith("_") and not n.startswith("__") and hasattr(base, n)
    }
    assert overridden <= EXTENSION_ATTRIBUTES, overridden - EXTENSION_ATTRIBUTES


def test_kmedians_is_a_scikit_learn_estimator():
    km = KMedians(n_clusters=3, random_state=2)
    assert isinstance(km, BaseEstimator) and isinstance(km, ClusterMixin)
    assert clone(km).get_params() == km.get_params()
    # ClusterMixin's fit_predict: three separated groups, labelled apart
    X = np.concatenate([np.zeros(5), np.full(5, 10.0), np.full(5, 20.0)])[:, None]
    lab = km.fit_predict(X + np.arange(15)[:, None] * 1e-3)
    assert len(set(lab[:5])) == len(set(lab[5:10])) == len(set(lab[10:])) == 1
    assert len(set(lab)) == 3


def test_kmedians_reaches_hyperspy_as_an_estimator_object():
    atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    nb = atoms.get_neighbourhoods(n_neighbours=4)
    nb.cluster_analysis(n_clusters=2, algorithm="kmedians")
    by_name = nb.get_cluster_labels(merged=True).data
    assert nb.learning_results.cluster_algorithm == "kmedians"
    # the same as handing HyperSpy the estimator object ourselves
    nb.cluster_analysis(n_clusters=2, algorithm=KMedians(n_clusters=2))
    assert np.array_equal(nb.get_cluster_labels(merged=True).data, by_name)


EXAMPLES = sorted((PACKAGE.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_use_only_public_names(path):
    # an example is copied into a notebook as it is: no private module, no
    # underscore attribute (dunders aside), no helper module of the gallery
    tree = ast.parse(path.read_text())
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""] + [a.name for a in node.names]
            bad += [n for n in names if _private(n)]
        elif isinstance(node, ast.Import):
            bad += [a.name for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_") and not node.attr.startswith("__"):
                bad.append(f"line {node.lineno}: .{node.attr}")
    assert not bad, bad


def test_renamed_keywords_still_work_with_a_future_warning(tmp_path):
    """One name per concept (issue 23): ``n_sublattices`` (was ``n_types``),
    ``n_neighbours`` / ``n_clusters`` (were ``neighbours`` / ``clusters`` in
    ``report.analyse``), ``fit_neighbours`` (was ``neighbours``), ``basis``
    (was ``frame``, which means an image of a stack everywhere else). The old
    names give the same answer, with a FutureWarning; both names at once is a
    TypeError."""
    from hyperspy_localcryst import report
    from hyperspy_localcryst.numerics import detection, finding

    values = [10.0, 11.0, 1.0, 2.0, 10.5, 1.5, 5.0]
    new = finding.label_by_intensity(values, n_sublattices=3)
    with pytest.warns(FutureWarning, match="`n_types` of label_by_intensity"):
        old = finding.label_by_intensity(values, n_types=3)
    np.testing.assert_array_equal(old, new)
    assert sorted(set(new.tolist())) == [0, 1, 2]
    with pytest.raises(TypeError, match="give only `n_sublattices`"):
        finding.label_by_intensity(values, n_types=3, n_sublattices=3)

    s, truth = synthetic_lattice(shape=(96, 80), spacing=16, seed=1, return_truth=True)
    x, y = truth["x_px"], truth["y_px"]
    new = detection.significance(s.data, x, y, 3.0, fit_neighbours=False)
    with pytest.warns(FutureWarning, match="now called `fit_neighbours`"):
        old = detection.significance(s.data, x, y, 3.0, neighbours=False)
    np.testing.assert_array_equal(old, new)
    assert not np.array_equal(new, detection.significance(s.data, x, y, 3.0))

    nb = s.find_atoms().get_neighbourhoods(n_neighbours=4, metric="angle")
    with pytest.warns(FutureWarning, match="`frame` of get_vectors"):
        old = nb.get_vectors(frame="local")
    np.testing.assert_array_equal(old, nb.get_vectors(basis="local"))
    assert not np.allclose(old, nb.get_vectors(basis="image"))

    # report.analyse: the old names reach the new ones (their checks name
    # the new argument) before any work or any folder is made
    with pytest.warns(FutureWarning, match="`clusters` of analyse"):
        with pytest.raises(ValueError, match="`n_clusters` must be 'auto'"):
            report.analyse(s, tmp_path / "out", clusters=2.5)
    with pytest.raises(TypeError, match="give only `n_neighbours`"):
        report.analyse(s, tmp_path / "out", neighbours=4, n_neighbours=4)
    assert not (tmp_path / "out").exists()
