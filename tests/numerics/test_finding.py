"""Atom finding on synthetic lattices with known positions.

All images: point-sampled Gaussian columns (sigma 3.5 px unless stated), peak
200 counts above a background of 20 counts, Poisson noise. A found atom
matches a true one when they are mutual nearest neighbours closer than 3 px.
"""

import numpy as np
import pytest

from hyperspy_localcryst.data import synthetic_lattice
from hyperspy_localcryst.data.synthetic import (
    lattice_positions,
    make_lattice_image,
    render_gaussians,
)
from hyperspy_localcryst.numerics import finding
from hyperspy_localcryst.numerics.separation import estimate_separation

from .._helpers import label_agreement, match_one_to_one, near_edge

TOL = 3.0  # px
SHAPE = (192, 192)
METHODS = ["template", "log", "local_max", ["template", "log", "local_max"]]
LATTICES = {
    "square": {},
    "hexagonal": {},
    "perovskite": {"sublattice_peaks": (200, 60)},
}


def _lattice(lattice, seed=0, rotation=0.0, shape=SHAPE):
    return synthetic_lattice(
        shape=shape,
        spacing=20,
        lattice=lattice,
        rotation=rotation,
        seed=seed,
        return_truth=True,
        **LATTICES[lattice],
    )


def _check_complete(found_x, found_y, truth, shape):
    """Recall 1.0 one-to-one; unmatched finds only at the image edge."""
    t_match, f_matched = match_one_to_one(
        truth["x_px"], truth["y_px"], found_x, found_y, TOL
    )
    missing = np.flatnonzero(t_match < 0)
    assert len(missing) == 0, (
        f"{len(missing)} of {len(t_match)} true atoms not found, e.g. at "
        f"{np.c_[truth['x_px'], truth['y_px']][missing][:5].tolist()}"
    )
    extra = ~f_matched & ~near_edge(found_x, found_y, shape, TOL)
    assert not extra.any(), (
        f"{extra.sum()} false positives away from the edge, e.g. at "
        f"{np.c_[found_x, found_y][extra][:5].tolist()}"
    )


@pytest.mark.parametrize("lattice", list(LATTICES))
@pytest.mark.parametrize("method", METHODS, ids=lambda m: "+".join(np.atleast_1d(m)))
def test_every_atom_found(lattice, method):
    s, truth = _lattice(lattice)
    atoms = s.find_atoms(method=method)
    fx, fy = atoms.get_pixel_positions()
    _check_complete(fx, fy, truth, s.data.shape)
    if not isinstance(method, str):
        assert "votes" in atoms.columns
        assert np.all(atoms.get_column("votes") >= 2)  # majority of three


@pytest.mark.parametrize("lattice", list(LATTICES))
@pytest.mark.parametrize("method", METHODS, ids=lambda m: "+".join(np.atleast_1d(m)))
def test_every_atom_found_numerics(lattice, method):
    """The numerics layer directly, on a second noise realisation."""
    kw = LATTICES[lattice]
    img, truth = make_lattice_image(SHAPE, spacing=20, lattice=lattice, seed=5, **kw)
    found = finding.find_atoms(img, method=method)
    truth = {"x_px": truth["x"], "y_px": truth["y"]}
    _check_complete(found["x"], found["y"], truth, img.shape)


@pytest.mark.parametrize(
    "lattice,rotation",
    [
        ("square", 0.0),
        ("hexagonal", 0.0),
        ("perovskite", 0.0),
        ("square", 17.0),
        ("hexagonal", 17.0),
        ("perovskite", 17.0),
    ],
)
def test_estimate_separation(lattice, rotation):
    """Within 2 % of the nearest-neighbour distance (A-B for the perovskite)."""
    s, _ = _lattice(lattice, seed=2, rotation=rotation)
    sep = s.estimate_separation()  # calibrated: 20 px * 0.01 nm/px
    assert sep == pytest.approx(0.20, rel=0.02)
    sep_px = estimate_separation(s.data)
    assert sep_px == pytest.approx(20.0, rel=0.02)


def test_estimate_separation_other_spacing():
    img, _ = make_lattice_image((256, 256), spacing=13.0, sigma=2.5, seed=3)
    assert estimate_separation(img) == pytest.approx(13.0, rel=0.02)


def test_rotated_lattice_found():
    s, truth = _lattice("square", seed=3, rotation=17.0)
    fx, fy = s.find_atoms().get_pixel_positions()
    _check_complete(fx, fy, truth, s.data.shape)


# --------------------------------------------------------------- targets
def _central_atom(truth, sublattice=0):
    cx = np.median(truth["x_px"])
    cy = np.median(truth["y_px"])
    sel = np.flatnonzero(truth["sublattice"] == sublattice)
    k = sel[np.argmin(np.hypot(truth["x_px"][sel] - cx, truth["y_px"][sel] - cy))]
    return k


def test_target_array(small_lattice):
    s, truth = small_lattice
    k = _central_atom(truth)
    xi, yi = int(round(truth["x_px"][k])), int(round(truth["y_px"][k]))
    patch = np.array(s.data[yi - 7 : yi + 8, xi - 7 : xi + 8])
    atoms = s.find_atoms(target=patch)
    fx, fy = atoms.get_pixel_positions()
    _check_complete(fx, fy, truth, s.data.shape)
    assert atoms.metadata.AtomPositions.settings.n_targets == 1


def test_target_signal(small_lattice):
    s, truth = small_lattice
    k = _central_atom(truth)
    xi, yi = int(round(truth["x_px"][k])), int(round(truth["y_px"][k]))
    patch = s.isig[xi - 7 : xi + 8, yi - 7 : yi + 8]
    assert patch.axes_manager.signal_shape == (15, 15)
    fx, fy = s.find_atoms(target=patch).get_pixel_positions()
    _check_complete(fx, fy, truth, s.data.shape)


def test_target_calibrated_position(small_lattice):
    s, truth = small_lattice
    k = _central_atom(truth)
    target = (float(truth["x"][k]), float(truth["y"][k]))  # nm
    fx, fy = s.find_atoms(target=target).get_pixel_positions()
    _check_complete(fx, fy, truth, s.data.shape)


def _sublattice_of_truth(atoms, truth):
    fx, fy = atoms.get_pixel_positions()
    t_match, _ = match_one_to_one(truth["x_px"], truth["y_px"], fx, fy, TOL)
    assert np.all(t_match >= 0)
    return atoms.get_column("sublattice")[t_match]


def test_two_targets_label_the_sublattices(small_perovskite):
    """One target on an A (bright) and one on a B (dim) column.

    Each atom is labelled by the target it matches best; the labels must
    reproduce the A/B sublattices.
    """
    s, truth = small_perovskite
    ka = _central_atom(truth, 0)
    kb = _central_atom(truth, 1)
    targets = [
        (float(truth["x"][ka]), float(truth["y"][ka])),
        (float(truth["x"][kb]), float(truth["y"][kb])),
    ]
    atoms = s.find_atoms(target=targets)
    labels = _sublattice_of_truth(atoms, truth)
    assert set(np.unique(labels)) <= {0.0, 1.0}
    assert label_agreement(labels, truth["sublattice"]) >= 0.95


def test_two_patch_targets_label_the_sublattices(small_perovskite):
    """Same with two user-cut patches that include the neighbour shell.

    The normalised cross-correlation ignores brightness, so the two targets
    differ only through their neighbours (B around A, A around B): patches of
    half-width 0.7 x the A-B distance contain them.
    """
    s, truth = small_perovskite
    patches = []
    for sub in (0, 1):
        k = _central_atom(truth, sub)
        xi, yi = int(round(truth["x_px"][k])), int(round(truth["y_px"][k]))
        patches.append(s.isig[xi - 14 : xi + 15, yi - 14 : yi + 15])
    atoms = s.find_atoms(target=patches)
    labels = _sublattice_of_truth(atoms, truth)
    assert label_agreement(labels, truth["sublattice"]) >= 0.95


def test_n_sublattices_by_intensity(small_perovskite):
    s, truth = small_perovskite
    atoms = s.find_atoms(n_sublattices=2)
    labels = _sublattice_of_truth(atoms, truth)
    # 0 = brightest = A sites (truth sublattice 0): no permutation needed
    assert np.mean(labels == truth["sublattice"]) >= 0.95


def test_label_by_intensity_orders_brightest_first():
    rng = np.random.default_rng(0)
    v = np.r_[rng.normal(100, 5, 50), rng.normal(30, 5, 50), rng.normal(60, 3, 50)]
    lab = finding.label_by_intensity(v, 3)
    np.testing.assert_array_equal(lab, np.repeat([0, 2, 1], 50))


# ------------------------------------------------ merged blobs, artefacts
def _pair_image(gap=10.0, sigma=3.0, seed=0):
    """Square lattice (20 px) in which one atom is replaced by a close pair."""
    x, y, _ = lattice_positions((160, 160), 20, margin=10)
    k = np.argmin(np.hypot(x - 80, y - 80))
    xs = np.r_[np.delete(x, k), x[k] - gap / 2, x[k] + gap / 2]
    ys = np.r_[np.delete(y, k), y[k], y[k]]
    clean = render_gaussians((160, 160), xs, ys, 200.0, sigma, background=20.0)
    img = np.random.default_rng(seed).poisson(clean).astype(float)
    return img, xs, ys


@pytest.mark.parametrize("method", ["template", "log", "local_max"])
def test_merged_pair_both_found(method):
    """Two columns 10 px apart (3.3 sigma) in a lattice of 20 px.

    Their correlation blobs merge into one of about 1.6x the median area. The
    template finder splits blobs larger than ``max_area`` times the median at
    their correlation maxima; the default (2.5) is set for real images, where a
    lower value also splits weak neighbouring columns (MoS2 S sites), so a
    close pair needs ``max_area=1.5``.
    """
    img, xs, ys = _pair_image()
    kwargs = {"max_area": 1.5} if method == "template" else {}
    found = finding.find_atoms(img, method=method, **kwargs)
    t_match, _ = match_one_to_one(xs, ys, found["x"], found["y"], TOL)
    assert t_match[-1] >= 0 and t_match[-2] >= 0, "the close pair was not split"
    assert np.all(t_match >= 0)


def test_hot_pixels_are_not_atoms():
    """Single hot pixels (25x the column peak) between the columns."""
    img, truth = make_lattice_image((192, 192), spacing=20, seed=0)
    rng = np.random.default_rng(0)
    cells = np.c_[truth["x"] + 10, truth["y"] + 10]
    cells = cells[(cells[:, 0] < 185) & (cells[:, 1] < 185)]
    hot = cells[rng.choice(len(cells), 12, replace=False)].astype(int)
    img[hot[:, 1], hot[:, 0]] = 5000.0
    found = finding.find_atoms(img, method="template")
    d = np.hypot(found["x"][:, None] - hot[:, 0], found["y"][:, None] - hot[:, 1])
    assert not np.any(d < TOL), "a hot pixel was reported as an atom"
    _check_complete(
        found["x"], found["y"], {"x_px": truth["x"], "y_px": truth["y"]}, img.shape
    )


def test_hot_pixels_signal_level(small_lattice):
    s, truth = small_lattice
    s = s.deepcopy()
    s.data[30, 30] = 5000.0  # between columns (23.5 and 43.5)
    s.data[90, 50] = 5000.0
    fx, fy = s.find_atoms(method="template").get_pixel_positions()
    assert not np.any(np.hypot(fx - 30, fy - 30) < TOL)
    assert not np.any(np.hypot(fx - 50, fy - 90) < TOL)
    _check_complete(fx, fy, truth, s.data.shape)


def test_consensus_min_votes():
    a = {"x": np.array([1.0, 10.0, 20.0]), "y": np.array([1.0, 10.0, 20.0])}
    b = {"x": np.array([1.5, 30.0]), "y": np.array([0.5, 30.0])}
    c = {"x": np.array([1.2, 10.3]), "y": np.array([1.2, 9.8])}
    out = finding.consensus([a, b, c], separation=9)
    order = np.argsort(out["x"])
    np.testing.assert_allclose(out["x"][order], [(1 + 1.5 + 1.2) / 3, 10.15])
    np.testing.assert_array_equal(out["votes"][order], [3, 2])
    out1 = finding.consensus([a, b, c], separation=9, min_votes=1)
    assert len(out1["x"]) == 4


# ------------------------------------------------------ the default finder
def test_default_finds_a_dim_sublattice_with_the_automatic_separation():
    """Perovskite, B 4.5 times dimmer than A (beyond the old automatic
    separation's limit of 1/2.25), rotated, not square: with every default
    (separation estimated, default method) every A and B column is found."""
    img, truth = make_lattice_image(
        (176, 208), spacing=18.0, lattice="perovskite", rotation=9.0, seed=7,
        sublattice_peaks=(720, 160),
    )  # fmt: skip
    found = finding.find_atoms(img)
    _check_complete(
        found["x"], found["y"], {"x_px": truth["x"], "y_px": truth["y"]}, img.shape
    )
    assert np.sum(truth["sublattice"] == 1) > 30  # the B columns are there


def test_default_method_with_targets_is_the_template_search(small_perovskite):
    """Targets only mean something to the template search: given targets,
    the default method uses them (and labels the atoms by them)."""
    s, truth = small_perovskite
    k0, k1 = _central_atom(truth, 0), _central_atom(truth, 1)
    targets = [
        (float(truth["x"][k0]), float(truth["y"][k0])),
        (float(truth["x"][k1]), float(truth["y"][k1])),
    ]
    atoms = s.find_atoms(target=targets)
    assert atoms.metadata.AtomPositions.settings.method == "template"
    assert set(np.unique(atoms.get_column("sublattice"))) == {0.0, 1.0}
    assert s.find_atoms().metadata.AtomPositions.settings.method == "log"
