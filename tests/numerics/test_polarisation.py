"""Polar displacements between sublattices against a known truth (issue 20, 1).

Truth is built here from an explicit perovskite [001] cell (A at the cell
corners, B at its centre) turned by an odd angle on a non-square image, with
B displaced by a field that is neither symmetric nor separable (so a sign
flip, an x/y swap or a transposed axis fails): the expected displacement of
each B is its own shift (the A are not displaced), computed from the truth
with numpy, not by the package.
"""

import warnings

import numpy as np
import pytest
from scipy.spatial import cKDTree

from hyperspy_localcryst.data.synthetic import render_gaussians
from hyperspy_localcryst.numerics import polarisation as npol

from .._helpers import calibrated_image

SCALE = 0.02  # nm per pixel: 1 px = 20 pm
TURN = 13.0  # degrees


def _field(x, y):
    """B shift (px) at ideal position x, y: up to ~0.9 px (18 pm), polar
    along +x on the left, along -y at the bottom."""
    return 0.9 * np.sin(x / 70.0 + 0.4), -0.6 * np.cos(y / 45.0) + 0.2


def _scene(shape=(210, 250), a=19.0, seed=0, shift=_field, peaks=(400.0, 160.0)):
    """Noisy image and truth (px): A at the corners, B at the centres."""
    ny, nx = shape
    t = np.deg2rad(TURN)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    n = int(np.hypot(nx, ny) / a) + 2
    i, j = np.mgrid[-n : n + 1, -n : n + 1]
    f = np.column_stack([i.ravel(), j.ravel()]).astype(float)
    centre = np.array([nx / 2 + 0.3, ny / 2 - 0.2])
    pa = (f * a) @ rot.T + centre
    pb = ((f + 0.5) * a) @ rot.T + centre
    sx, sy = shift(pb[:, 0], pb[:, 1])
    db = np.column_stack([np.broadcast_to(sx, len(pb)), np.broadcast_to(sy, len(pb))])
    pb = pb + db
    x = np.r_[pa[:, 0], pb[:, 0]]
    y = np.r_[pa[:, 1], pb[:, 1]]
    site = np.r_[np.zeros(len(pa), int), np.ones(len(pb), int)]
    amp = np.where(site == 0, peaks[0], peaks[1])
    keep = (x > -15) & (x < nx + 15) & (y > -15) & (y < ny + 15)
    clean = 30.0 + render_gaussians(shape, x[keep], y[keep], amp[keep], 2.6)
    img = np.random.default_rng(seed).poisson(clean).astype(float)
    shift_all = np.r_[np.zeros((len(pa), 2)), db]
    # every rendered atom (some centred just outside the image are found)
    return img, {
        "x": x[keep],
        "y": y[keep],
        "site": site[keep],
        "shift": shift_all[keep],
    }


def _signal(img):
    s = calibrated_image(img, SCALE)
    return s


def _matched(table, truth):
    """Index into the truth of each row of ``table`` (nearest) and whether it
    is within 1.5 px (a fit at the very edge of the image may wander)."""
    xp, yp = table.get_pixel_positions()
    d, j = cKDTree(np.c_[truth["x"], truth["y"]]).query(np.c_[xp, yp])
    near = d < 1.5
    assert near.mean() > 0.98
    return j, near


# ------------------------------------------------------------------ numerics
def test_exact_displacements_signs_and_axes():
    """On exact positions the displacement is the B shift itself, component
    by component (a swap of x and y, or a sign, fails: the shifts differ in
    size and sign across the scene)."""
    img, truth = _scene()
    x, y, site = truth["x"], truth["y"], truth["site"]
    b, a = np.flatnonzero(site == 1), np.flatnonzero(site == 0)
    r = npol.cell_displacements(x, y, b, a)
    assert r["n_neighbours"] == 4 and r["closed"]
    ok = r["surrounded"]
    assert ok.sum() > 80
    np.testing.assert_allclose(r["dx"][ok], truth["shift"][b[ok], 0], atol=1e-9)
    np.testing.assert_allclose(r["dy"][ok], truth["shift"][b[ok], 1], atol=1e-9)
    assert np.ptp(truth["shift"][b[ok], 0]) > 1.0  # the field varies in sign
    assert np.ptp(truth["shift"][b[ok], 1]) > 0.8
    # the cell's atoms are the 4 A around each B (independent check)
    d = np.hypot(
        x[r["neighbours"][ok]] - x[b[ok], None], y[r["neighbours"][ok]] - y[b[ok], None]
    )
    assert np.all(site[r["neighbours"][ok]] == 0)
    assert d.max() < 19.0 / np.sqrt(2) + 1.25  # the shifts are < 1.2 px


def test_edge_atoms_have_no_cell():
    """A B whose A atoms lie on one side (the image edge) is NaN, not the
    shift towards the centroid of a half cell."""
    img, truth = _scene()
    x, y, site = truth["x"], truth["y"], truth["site"]
    b, a = np.flatnonzero(site == 1), np.flatnonzero(site == 0)
    r = npol.cell_displacements(x, y, b, a)
    # independent rule: an inside B has an A within 0.8 a in each quadrant of
    # the turned cell
    t = np.deg2rad(TURN)
    inside = []
    for i in b:
        v = np.c_[x[a] - x[i], y[a] - y[i]]
        u = v @ np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        near = np.hypot(*v.T) < 0.8 * 19.0
        q = {(sx, sy) for sx, sy in zip(np.sign(u[near, 0]), np.sign(u[near, 1]))}
        inside.append(len(q) == 4)
    np.testing.assert_array_equal(r["surrounded"], inside)
    assert np.all(np.isnan(r["dx"][~r["surrounded"]]))


def test_error_propagation_formula():
    """dx_err**2 = x_err[B]**2 + sum(x_err[A]**2) / 16, per axis."""
    img, truth = _scene()
    x, y, site = truth["x"], truth["y"], truth["site"]
    rng = np.random.default_rng(3)
    xe, ye = rng.uniform(0.01, 0.05, len(x)), rng.uniform(0.06, 0.1, len(x))
    b, a = np.flatnonzero(site == 1), np.flatnonzero(site == 0)
    r = npol.cell_displacements(x, y, b, a, x_err=xe, y_err=ye)
    ok = r["surrounded"]
    nb = r["neighbours"][ok]
    want_x = np.sqrt(xe[b[ok]] ** 2 + (xe[nb] ** 2).sum(1) / 16)
    want_y = np.sqrt(ye[b[ok]] ** 2 + (ye[nb] ** 2).sum(1) / 16)
    np.testing.assert_allclose(r["dx_err"][ok], want_x, rtol=1e-12)
    np.testing.assert_allclose(r["dy_err"][ok], want_y, rtol=1e-12)
    assert np.all(np.isnan(r["dx_err"][~ok]))


def test_cell_count_hexagonal_and_frames():
    """3 for a site at the centre of a triangle of a hexagonal lattice; cells
    never take atoms of another frame (a second frame shifted by half a cell
    would otherwise give every centre a wrong cell)."""
    h = 10.0
    i, j = np.mgrid[0:12, 0:12].astype(float)
    ax = (i + 0.5 * j) * h
    ay = j * h * np.sqrt(3) / 2
    cx, cy = ax + 0.5 * h + 0.3, ay + h * np.sqrt(3) / 6 - 0.2  # up triangles
    x = np.r_[ax.ravel(), cx.ravel()]
    y = np.r_[ay.ravel(), cy.ravel()]
    a, c = np.arange(ax.size), np.arange(ax.size, x.size)
    r = npol.cell_displacements(x, y, c, a)
    assert r["n_neighbours"] == 3
    ok = r["surrounded"]
    np.testing.assert_allclose(r["dx"][ok], 0.3, atol=1e-9)
    np.testing.assert_allclose(r["dy"][ok], -0.2, atol=1e-9)
    # two frames, the second shifted: pooled without frames the cells mix
    x2, y2 = np.r_[x, x + 0.5 * h], np.r_[y, y]
    frame = np.r_[np.zeros(x.size, int), np.ones(x.size, int)]
    a2, c2 = np.r_[a, a + x.size], np.r_[c, c + x.size]
    r2 = npol.cell_displacements(x2, y2, c2, a2, frame=frame)
    ok2 = r2["surrounded"]
    np.testing.assert_allclose(r2["dx"][ok2], 0.3, atol=1e-9)
    assert np.all(frame[r2["neighbours"][ok2]] == frame[c2[ok2], None])


def test_bad_input():
    x, y = np.arange(6.0), np.zeros(6)
    with pytest.raises(ValueError, match="indices of atoms"):
        npol.cell_displacements(x, y, [0, 9], [1, 2])
    with pytest.raises(ValueError, match="at least one atom"):
        npol.cell_displacements(x, y, [], [1, 2])
    with pytest.raises(ValueError, match="'auto' or a count"):
        npol.cell_displacements(x, y, [0], [1, 2], n_neighbours="many")
    with pytest.raises(ValueError, match="both `x_err` and `y_err`"):
        npol.cell_displacements(x, y, [0], [1, 2], x_err=np.ones(6))


# ------------------------------------------------------------- signal layer
def test_signal_recovers_displacements_within_2_5_pm_and_errors_match():
    """find + refine + label_sublattices + get_polarisation, all defaults, on
    noisy images: B displacements up to 18 pm recovered with an RMS error per
    axis <= 2.5 pm, no bias, and the reported dx_err, dy_err within 10 % of
    the scatter over noise realisations (pooled over the atoms)."""
    err, rep = [], []
    for seed in range(4):
        img, truth = _scene(seed=seed)
        s = _signal(img)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atoms = s.refine_atoms(s.find_atoms()).label_sublattices()
        # the dimmer sublattice is B (independently: the truth's site)
        j, near = _matched(atoms, truth)
        lab = atoms.get_column("sublattice")
        is_b = (truth["site"][j] == 1) & near
        b_label = int(np.bincount(lab[is_b].astype(int)).argmax())
        pol = atoms.get_polarisation(sublattice=b_label, reference=1 - b_label)
        assert pol.units["dx"] == "nm" and pol.units["angle"] == "deg"
        jb, near_b = _matched(pol, truth)
        ok = np.isfinite(pol.get_column("dx")) & near_b
        assert ok.sum() > 80
        want = truth["shift"][jb[ok]] * SCALE  # nm
        got = np.c_[pol.get_column("dx")[ok], pol.get_column("dy")[ok]]
        err.append(got - want)
        rep.append(np.c_[pol.get_column("dx_err")[ok], pol.get_column("dy_err")[ok]])
        # magnitude and angle from the components (independent formula)
        np.testing.assert_allclose(
            pol.get_column("magnitude")[ok], np.hypot(got[:, 0], got[:, 1])
        )
        np.testing.assert_allclose(
            pol.get_column("angle")[ok], np.degrees(np.arctan2(got[:, 1], got[:, 0]))
        )
    err, rep = np.concatenate(err), np.concatenate(rep)
    rms_pm = np.sqrt(np.mean(err**2, axis=0)) * 1000
    assert np.all(rms_pm <= 2.5), rms_pm
    assert np.all(np.abs(err.mean(axis=0)) * 1000 < 0.4)
    ratio = err.std(axis=0) / np.sqrt(np.mean(rep**2, axis=0))
    assert np.all(np.abs(ratio - 1) < 0.1), ratio


def test_flipped_axis_flips_the_component():
    """An image whose y axis runs upwards (negative scale) reports dy with the
    opposite sign, as its positions: displacements are in the axes' frame."""
    img, truth = _scene(shift=lambda x, y: (0.0 * x, 0.0 * y + 0.8))
    s = _signal(img)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = s.refine_atoms(s.find_atoms()).label_sublattices()
    lab = atoms.get_column("sublattice")
    j, near = _matched(atoms, truth)
    b = int(np.bincount(lab[(truth["site"][j] == 1) & near].astype(int)).argmax())
    dy = np.nanmedian(atoms.get_polarisation(b, 1 - b).get_column("dy"))
    assert dy == pytest.approx(0.8 * SCALE, abs=0.003)
    ay = s.axes_manager.signal_axes[1]
    ay.scale, ay.offset = -SCALE, (img.shape[0] - 1) * SCALE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms2 = s.refine_atoms(s.find_atoms()).label_sublattices()
    lab2 = atoms2.get_column("sublattice")
    j2, near2 = _matched(atoms2, truth)
    b2 = int(np.bincount(lab2[(truth["site"][j2] == 1) & near2].astype(int)).argmax())
    dy2 = np.nanmedian(atoms2.get_polarisation(b2, 1 - b2).get_column("dy"))
    assert dy2 == pytest.approx(-0.8 * SCALE, abs=0.003)


def test_map_statistics_and_plot():
    """The map holds each atom's value at its pixel; the statistics equal
    numpy's per group; the plot's arrows point along (dx, dy) and its key
    arrow is ``key`` pm long on the displacement scale."""
    import matplotlib

    matplotlib.use("Agg")
    img, truth = _scene()
    s = _signal(img)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = s.refine_atoms(s.find_atoms()).label_sublattices()
    j, near = _matched(atoms, truth)
    lab = atoms.get_column("sublattice")
    b = int(np.bincount(lab[(truth["site"][j] == 1) & near].astype(int)).argmax())
    pol = atoms.get_polarisation(b, 1 - b)
    m = pol.get_map("dx")
    assert m.data.shape == img.shape
    assert m.axes_manager.signal_axes[0].scale == SCALE
    xp, yp = pol.get_pixel_positions()
    dx = pol.get_column("dx")
    at = m.data[np.round(yp).astype(int), np.round(xp).astype(int)]
    ok = np.isfinite(dx)
    np.testing.assert_array_equal(at[ok], dx[ok])
    assert m.metadata.Signal.quantity == "dx (nm)"
    # statistics per group: left and right halves
    half = (pol.get_column("x") > pol.get_column("x").mean()).astype(float)
    st = pol.add_columns({"half": half}).get_statistics(["dx", "dy"], by="half")
    for g in (0, 1):
        v = dx[(half == g) & ok]
        assert st.loc[g, "dx_mean"] == pytest.approx(v.mean())
        assert st.loc[g, "dx_std"] == pytest.approx(v.std(ddof=1))
        assert st.loc[g, "dx_sem"] == pytest.approx(v.std(ddof=1) / np.sqrt(v.size))
        assert st.loc[g, "dx_count"] == v.size
    # the plot
    fig = pol.plot_polarisation(s, scale=20.0, key=10.0)
    ax = fig.axes[0]
    q = [c for c in ax.collections if type(c).__name__ == "Quiver"][0]
    np.testing.assert_allclose(q.U, dx[ok] * 20.0)
    np.testing.assert_allclose(q.V, pol.get_column("dy")[ok] * 20.0)
    key = [a for a in ax.artists + ax.get_children() if type(a).__name__ == "QuiverKey"]
    assert key and key[0].U == pytest.approx(10.0 / 1000 * 20.0)
    assert key[0].label == "10 pm"
    with pytest.raises(ValueError, match="get_polarisation"):
        atoms.plot_polarisation()


def test_signal_bad_input_names_the_argument():
    img, truth = _scene(shape=(120, 120))
    s = _signal(img)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = s.find_atoms()
    atoms = found.label_sublattices()
    with pytest.raises(
        ValueError, match=r"No atom has `sublattice` = 5 \(`sublattice`\)"
    ):
        atoms.get_polarisation(sublattice=5)
    with pytest.raises(ValueError, match="must be different labels"):
        atoms.get_polarisation(sublattice=0, reference=0)
    with pytest.raises(ValueError, match="label the sublattices first"):
        found.add_columns({"s": np.zeros(found.n_atoms)}).get_polarisation(
            column="phase"
        )
    with pytest.raises(TypeError, match="`reference` must be an integer"):
        atoms.get_polarisation(reference=0.5)
    with pytest.raises(ValueError, match="'auto' or a count"):
        atoms.get_polarisation(n_neighbours="all")
    # a table that was found, not refined: displacements, errors NaN
    pol = atoms.get_polarisation()
    assert np.isfinite(pol.get_column("dx")).any()
    assert np.all(np.isnan(pol.get_column("dx_err")))
    with pytest.raises(ValueError, match="`colour_by` must be"):
        pol.plot_polarisation(colour_by="size")
    with pytest.raises(ValueError, match="`max_distance` must be a positive length"):
        pol.get_map("dx", max_distance=0)
    with pytest.raises(ValueError, match="values for|one value per atom"):
        pol.get_map(np.ones(3))
    with pytest.raises(ValueError, match="integer labels"):
        pol.get_statistics("dx", by="x")
