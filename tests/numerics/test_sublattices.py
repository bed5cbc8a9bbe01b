"""Sublattices by structure against known truth.

Scenes: perovskite [001] (A/B checkerboard, B/A amplitude 0.6) and [110]
(Sr-O, Ti and O columns, amplitudes 1, 0.6, 0.25) on non-square images,
rotated by an odd angle, with a 2x slow gain gradient across the image and
Poisson noise. Per-atom intensities are measured from the noisy image (mean
over a disc around the jittered position), independently of the finder. The
global 1D mixture of intensities (the former default) fails on these scenes;
the labels by structure must be >= 98 % right.
"""

import warnings

import hyperspy.api as hs
import numpy as np
import pytest
from scipy.spatial import cKDTree

from hyperspy_localcryst.data.synthetic import render_gaussians
from hyperspy_localcryst.numerics import sublattices as sl
from hyperspy_localcryst.numerics.finding import label_by_intensity

ROT = 17.3  # degrees, counter-clockwise on screen


def _basis(kind):
    """Cell (columns a1, a2, pixels, rotated) and motif (fractional) + amplitudes."""
    if kind == "001":
        cell = np.array([[28.0, 0.0], [0.0, 28.0]])
        motif = np.array([[0.0, 0.0], [0.5, 0.5]])
        amp = np.array([1.0, 0.6])
    else:  # [110]: Sr-O at the corner, Ti above it at c/2, O beside Ti
        cell = np.array([[23.0, 0.0], [0.0, 32.5]])
        motif = np.array([[0.0, 0.0], [0.0, 0.5], [0.5, 0.5]])
        amp = np.array([1.0, 0.6, 0.25])
    t = np.radians(ROT)
    rot = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    return rot @ cell, motif, amp


def _scene(kind, shape=(300, 420), counts=10, seed=0, jitter=0.3):
    rng = np.random.default_rng(seed)
    ny, nx = shape
    basis, motif, amp = _basis(kind)
    n = int(max(nx, ny) / np.linalg.norm(basis, axis=0).min()) + 3
    ii, jj = np.mgrid[-n : n + 1, -n : n + 1].reshape(2, -1)
    origin = np.array([[nx / 2 + 3.3], [ny / 2 - 2.1]])
    pts = [basis @ np.stack([ii + m[0], jj + m[1]]) + origin for m in motif]
    site = np.repeat(np.arange(len(motif)), ii.size)
    x, y = np.concatenate(pts, axis=1)
    keep = (x > -12) & (x < nx + 11) & (y > -12) & (y < ny + 11)
    x, y, site = x[keep], y[keep], site[keep]
    sigma = 3.5 if kind == "001" else 3.0
    img = render_gaussians(shape, x, y, amp[site] * counts, sigma, 0.1 * counts)
    gain = 1 + 0.7 * np.arange(nx)[None, :] / nx + 0.3 * np.arange(ny)[:, None] / ny
    img = rng.poisson(img * gain).astype(float)  # 2x gradient corner to corner
    inside = (x >= 4) & (x <= nx - 5) & (y >= 4) & (y <= ny - 5)
    x, y, site = x[inside], y[inside], site[inside]
    mx = x + rng.normal(0, jitter, x.size)
    my = y + rng.normal(0, jitter, x.size)
    r = int(np.ceil(sigma))
    oy, ox = np.mgrid[-r : r + 1, -r : r + 1]
    disc = ox**2 + oy**2 <= sigma**2
    ix = np.clip(np.round(mx).astype(int)[:, None] + ox[disc], 0, nx - 1)
    iy = np.clip(np.round(my).astype(int)[:, None] + oy[disc], 0, ny - 1)
    return img, mx, my, img[iy, ix].mean(axis=1), site


def _same_lattice(vec, basis):
    """True when ``vec`` is a lattice vector of ``basis`` (within 0.1 cell)."""
    f = np.linalg.solve(basis, vec)
    return bool(np.all(np.abs(f - np.round(f)) < 0.1))


@pytest.mark.parametrize("kind, n", [("001", 2), ("110", 3)])
def test_structure_labels_beat_global_mixture(kind, n):
    img, x, y, inten, site = _scene(kind)
    labels, info = sl.label_sublattices(x, y, inten, n)
    assert np.mean(labels == site) >= 0.98
    # the global mixture is fooled by the gradient on the same scene
    assert np.mean(label_by_intensity(inten, n) == site) < 0.95
    # the cell found is the true primitive cell (same lattice, same area)
    basis, motif, _ = _basis(kind)
    a1, a2 = info["a1"], info["a2"]
    assert _same_lattice(a1, basis) and _same_lattice(a2, basis)
    area = abs(a1[0] * a2[1] - a1[1] * a2[0])
    assert area == pytest.approx(abs(np.linalg.det(basis)), rel=0.03)
    # each site's offset in the cell is the truth's, relative to site 0
    cell = np.column_stack([a1, a2])
    assert info["n_sites"] == n
    for s in range(n):
        sites = np.flatnonzero(info["site_label"] == s)
        assert len(sites) == 1
        found = cell @ (info["site_offsets"][sites[0]] - info["site_offsets"][0])
        ref = info["site_label"][0]
        true = basis @ (motif[s] - motif[ref])
        assert _same_lattice(found - true, basis)


def test_auto_finds_the_sites_and_merging_orders_by_brightness():
    img, x, y, inten, site = _scene("110", seed=1)
    labels, info = sl.label_sublattices(x, y, inten, "auto")
    assert info["n_sites"] == 3 and np.mean(labels == site) >= 0.98
    two, _ = sl.label_sublattices(x, y, inten, 2)
    # O (faintest) alone is class 1; Sr-O and Ti (0.6) together are class 0
    assert np.mean(two == np.where(site == 2, 1, 0)) >= 0.98


def test_vacancies_and_invented_atoms_keep_their_site():
    img, x, y, inten, site = _scene("001", seed=2)
    rng = np.random.default_rng(5)
    keep = rng.random(x.size) > 0.05  # 5 % vacancies
    n_fake = int(0.02 * x.size)  # 2 % atoms at random places
    fx = rng.uniform(10, 410, n_fake)
    fy = rng.uniform(10, 290, n_fake)
    d, _ = cKDTree(np.c_[x, y]).query(np.c_[fx, fy])
    fx, fy = fx[d > 6], fy[d > 6]
    xx = np.r_[x[keep], fx]
    yy = np.r_[y[keep], fy]
    ii = np.r_[inten[keep], rng.uniform(inten.min(), inten.max(), fx.size)]
    labels, info = sl.label_sublattices(xx, yy, ii, 2)
    assert info["method"] == "structure"
    assert np.mean(labels[: keep.sum()] == site[keep]) >= 0.98


def test_a_single_site_lattice_is_split_with_a_warning_not_by_the_gradient():
    # square lattice, one atom type, intensity = a steep gradient + noise
    yy, xx = np.mgrid[0:18, 0:26].reshape(2, -1) * 12.0
    rng = np.random.default_rng(3)
    inten = 1.0 + xx / xx.max() * 3.0 + rng.normal(0, 0.05, xx.size)
    with pytest.warns(UserWarning, match="fewer than `n_sublattices`"):
        labels, info = sl.label_sublattices(xx, yy, inten, 2)
    assert info["n_sites"] == 1 and info["method"] == "local intensity"
    left = xx < xx.max() / 2  # the gradient would put one half in each class
    by_half = [np.mean(labels[half] == 0) for half in (left, ~left)]
    assert abs(by_half[0] - by_half[1]) < 0.2
    glob = label_by_intensity(inten, 2)
    assert abs(np.mean(glob[left] == 0) - np.mean(glob[~left] == 0)) > 0.8
    one, info1 = sl.label_sublattices(xx, yy, inten, "auto")
    assert info1["n_sites"] == 1 and np.all(one == 0)


def test_signal_method_finds_labels_and_records_the_cell():
    img, x, y, inten, site = _scene("001", shape=(220, 300), counts=20, seed=4)
    s = hs.signals.Signal2D(img)
    for ax, off in zip(s.axes_manager.signal_axes, (1.5, -0.7)):
        ax.scale, ax.offset, ax.units = 0.02, off, "nm"
    s.set_signal_type("atomic_image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = s.find_atoms()
        lab = atoms.label_sublattices()  # default: structure, column "peak"
        old = atoms.label_sublattices(method="intensity", column="peak")
    px, py = atoms.get_pixel_positions()
    d, j = cKDTree(np.c_[x, y]).query(np.c_[px, py])
    ok = d < 3
    assert ok.sum() >= 0.95 * len(x)
    got = lab.get_column("sublattice")[ok]
    assert np.mean(got == site[j[ok]]) >= 0.98
    rec = lab.metadata.AtomPositions.settings.sublattices
    assert rec.method == "structure" and rec.column == "peak" and rec.n_sites == 2
    basis, _, _ = _basis("001")
    a1_px = np.asarray(rec.a1) / 0.02  # square pixels, same scale on x and y
    assert _same_lattice(a1_px, basis)
    assert np.linalg.norm(a1_px) == pytest.approx(28.0, rel=0.02)
    # method="intensity" is the former global mixture of the column
    peak = atoms.get_column("peak")
    assert np.array_equal(
        old.get_column("sublattice"), label_by_intensity(peak, 2).astype(float)
    )
    assert old.metadata.AtomPositions.settings.sublattices.method == "intensity"


def test_bad_arguments_are_named():
    img, x, y, inten, site = _scene("001", shape=(120, 150))
    with pytest.raises(ValueError, match="n_sublattices"):
        sl.label_sublattices(x, y, inten, 0)
    with pytest.raises(ValueError, match="intensity"):
        sl.label_sublattices(x, y, inten[:-1], 2)
    s = hs.signals.Signal2D(img)
    s.set_signal_type("atomic_image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = s.find_atoms()
    with pytest.raises(ValueError, match="method"):
        atoms.label_sublattices(method="brightness")
    with pytest.raises(ValueError, match="auto"):
        atoms.label_sublattices("auto", method="intensity")


def test_atoms_without_intensity_get_their_site():
    img, x, y, inten, site = _scene("110", seed=6)
    lost = np.random.default_rng(7).random(x.size) < 0.3  # 30 % failed fits
    inten = np.where(lost, np.nan, inten)
    labels, info = sl.label_sublattices(x, y, inten, 3)
    assert info["method"] == "structure"
    assert np.mean(labels[lost] == site[lost]) >= 0.98
    assert np.mean(labels[~lost] == site[~lost]) >= 0.98


def _abf001(seed, cation_step=0.03, noise=0.01, cells=(4, 5), b=20.0):
    """ABF-like [001] perovskite: Sr, Ti-O (a little fainter) and two O per cell.

    Cell a = 20 px by ``b`` (square by default, as SrTiO3), rotated by ROT,
    with a 2x gain gradient across the image; the cations outshine O by far,
    so the cation / O checkerboard explains almost all of the contrast and
    the weaker Sr / Ti-O order (``cation_step``, 3 noise widths per atom)
    lives inside one of its sites, as on the ABF corpus scene.
    """
    rng = np.random.default_rng(seed)
    j, i = np.mgrid[0 : cells[0], 0 : cells[1]].reshape(2, -1)
    motif = {"Sr": (0.0, 0.0), "TiO": (0.5, 0.5), "O1": (0.5, 0.0), "O2": (0.0, 0.5)}
    amp = {"Sr": 1.0, "TiO": 1.0 - cation_step, "O1": 0.25, "O2": 0.25}
    c, s = np.cos(np.radians(ROT)), np.sin(np.radians(ROT))
    xs, ys, inten, kind = [], [], [], []
    for name, (fu, fv) in motif.items():
        u, v = (i + fu) * 20.0, (j + fv) * b
        xs.append(30 + c * u - s * v)
        ys.append(30 + s * u + c * v)
        inten.append(np.full(u.size, amp[name]))
        kind += ["O" if name.startswith("O") else name] * u.size
    x, y, inten = np.concatenate(xs), np.concatenate(ys), np.concatenate(inten)
    x = x + rng.normal(0, 0.3, x.size)
    y = y + rng.normal(0, 0.3, y.size)
    gain = 1.0 + (x - x.min()) / np.ptp(x)
    return x, y, gain * (inten + rng.normal(0, noise, x.size)), np.array(kind)


@pytest.mark.parametrize("seed", [0, 1, 2, 4])  # seed 3: the best cell has 4 sites
def test_a_weaker_order_inside_one_site_splits_it_when_more_labels_are_asked(seed):
    # ABF [001]: the best cell is cation / O (2 sites); 3 labels need Sr and
    # Ti-O apart, an order found inside the cation site
    x, y, inten, kind = _abf001(seed)
    labels, info = sl.label_sublattices(x, y, inten, 2)
    assert info["n_sites"] == 2  # two labels: the checkerboard is enough
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning
        labels, info = sl.label_sublattices(x, y, inten, 3)
    assert info["method"] == "structure" and "split" in info
    assert info["n_sites"] == 4
    # the cell is the true one (20 x 20 px), not the checkerboard's
    cell = np.column_stack([info["a1"], info["a2"]])
    assert abs(np.linalg.det(cell)) == pytest.approx(400, rel=0.03)
    truth = {"Sr": 0, "TiO": 1, "O": 2}  # label 0 = brightest
    assert np.mean(labels == np.array([truth[k] for k in kind])) >= 0.98
    # the two O sites of the cell, (1/2, 0) and (0, 1/2), share a label
    o = kind == "O"
    assert len(np.unique(info["site"][o])) == 2 and len(np.unique(labels[o])) == 1


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_noise_inside_a_site_is_not_split_into_sublattices(seed):
    # the same lattice with Sr = Ti-O: no order inside the cation site, and
    # the O site is noise too; asking for 3 labels must not invent a
    # superlattice from the noise: it falls back, and says so
    x, y, inten, kind = _abf001(seed, cation_step=0.0)
    with pytest.warns(UserWarning, match="fewer than `n_sublattices`"):
        labels, info = sl.label_sublattices(x, y, inten, 3)
    assert info["method"] == "local intensity" and "split" not in info


def test_a_twelve_site_cell_four_neighbour_distances_wide_is_found():
    # as the 12 adatoms of Si(111)-7x7 (cell 4.0 nearest-neighbour distances):
    # an oblique cell 4.4-4.5 d0 wide with 12 sites at random offsets, one
    # intensity level per site, a 2x gradient; the cell and all 12 sites
    # must be found (the translations were sought only up to 3.6 d0 before)
    a1, a2 = np.array([41.0, 3.0]), np.array([17.0, 38.0])
    rng = np.random.default_rng(5)
    motif = []
    while len(motif) < 12:  # no two sites closer than 9 px, periodically
        f = rng.uniform(0, 1, 2)
        p = f[0] * a1 + f[1] * a2
        images = [
            p - s - i * a1 - j * a2
            for s in motif
            for i in (-1, 0, 1)
            for j in (-1, 0, 1)
        ]
        if not images or np.min(np.hypot(*np.array(images).T)) >= 9.0:
            motif.append(p)
    j, i = np.mgrid[0:9, 0:10].reshape(2, -1)
    base = i[:, None] * a1 + j[:, None] * a2
    xy = np.concatenate([base + s for s in motif]) + rng.normal(0, 0.2, (12 * 90, 2))
    site = np.repeat(np.arange(12), 90)
    d0 = np.median(cKDTree(xy).query(xy, 2)[0][:, 1])
    assert np.hypot(*a1) / d0 > 4.0 and np.hypot(*a2) / d0 > 4.0
    level = np.linspace(1.0, 0.45, 12)[site]
    inten = level * (1 + xy[:, 0] / xy[:, 0].max()) + rng.normal(0, 0.02, len(xy))
    labels, info = sl.label_sublattices(xy[:, 0], xy[:, 1], inten, "auto")
    assert info["method"] == "structure" and info["n_sites"] == 12
    cell = np.column_stack([info["a1"], info["a2"]])
    assert sl._same_lattice(cell, np.column_stack([a1, a2]))
    # one label per site, brightest first
    np.testing.assert_array_equal(labels, site)


@pytest.mark.parametrize("seed", [0, 1, 2, 4])  # seed 3: the cell has 4 sites
def test_split_types_finds_the_order_two_labels_merge(seed):
    # two labels of the ABF-like [001] scene: cations and O; the cation
    # label holds Sr and Ti-O as a checkerboard: split_types parts them
    x, y, inten, kind = _abf001(seed)
    two, info = sl.label_sublattices(x, y, inten, 2)
    assert info["n_sites"] == 2
    new, splits = sl.split_types(x, y, inten, two, info["a1"], info["a2"])
    assert len(splits) == 1 and splits[0]["type"] == 0
    assert splits[0]["new_type"] == 2
    # brighter kind keeps the type: Sr stays 0, Ti-O becomes 2, O stays 1
    truth = np.select([kind == "Sr", kind == "TiO"], [0, 2], 1)
    assert np.mean(new == truth) >= 0.98
    cell = np.column_stack([splits[0]["a1"], splits[0]["a2"]])
    assert abs(np.linalg.det(cell)) == pytest.approx(400, rel=0.03)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_types_leaves_noise_and_bands_alone(seed):
    x, y, inten, kind = _abf001(seed, cation_step=0.0)
    two, info = sl.label_sublattices(x, y, inten, 2)
    new, splits = sl.split_types(x, y, inten, two, info["a1"], info["a2"])
    assert splits == [] and np.array_equal(new, two)
    # bands: the cations 5 % brighter on three lattice rows of ten (0, 3, 4:
    # irregular, as the PbTiO3 / SrRuO3 layers), which a cell of a few rows
    # aliases well enough to beat the shuffles; the order does not hold in
    # each half of the image, so the type is not split
    c, s = np.cos(np.radians(ROT)), np.sin(np.radians(ROT))
    row = np.floor((-s * (x - 30) + c * (y - 30)) / 10 + 0.25)  # half rows
    banded = inten * np.where(np.isin(row, [0, 3, 4]) & (kind != "O"), 1.05, 1.0)
    two, info = sl.label_sublattices(x, y, banded, 2)
    assert info["n_sites"] == 2
    new, splits = sl.split_types(x, y, banded, two, info["a1"], info["a2"])
    assert splits == []


def test_split_types_refuses_types_of_the_wrong_length():
    x, y, inten, kind = _abf001(0)
    with pytest.raises(ValueError, match="one value per atom"):
        sl.split_types(x, y, inten, np.zeros(3, int), [20.0, 0.0], [0.0, 20.0])
