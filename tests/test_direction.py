"""Direction and anisotropy in the truth (issue 24, point 1).

The suite's scenes were centrosymmetric, square and isotropic, so a sign
flip, an x/y swap or a transposed axis changed nothing the tests looked at
(a flipped sign of the neighbour vectors was caught by 1 test of 1,278).
Here every scene breaks these symmetries at once, so that such a mistake
fails a test of each step (finding, refinement, neighbourhoods, tracking,
alignment, maps); ``mutation/mutants_direction.toml`` lists the mistakes this
file alone catches:

* images of 150 rows x 220 columns (never square), calibrated axes with
  different offsets along x and y;
* a *polar* rectangular crystal: A sites on a 26 x 20 px cell, B sites moved
  from the cell centre by (+3, +2) px, so that +v != -v for every bond
  (A's nearest neighbour is at (-10, -8), B's at (+10, +8));
* a honeycomb (no site is a centre of symmetry) for the neighbour orderings;
* elliptical columns (sigma_x = 2.6 px, sigma_y = 1.7 px; a rotated one for
  the orientation's sign);
* scan-line noise (a random offset per row: anisotropic) on Poisson noise;
* drift with dx != dy, both non-zero, and affine maps with a non-symmetric
  matrix.

The truth is built here, independently of the code under test: positions
from the cell, expected neighbour vectors by brute force, expected shifts,
maps and spectra from their definitions (pixel centres at integers, x =
column, y = row). Images are rendered with ``render_gaussians`` (point-sampled
Gaussians, tested on its own in test_synthetic.py), from the definition of a
rotated ellipse, or are bilinear functions that linear interpolation
reproduces exactly.
"""

import numpy as np
import pytest

from hyperspy_localcryst.data.synthetic import render_gaussians
from hyperspy_localcryst.numerics import (
    alignment,
    centroids,
    finding,
    refinement,
    tracking,
    warping,
)
from hyperspy_localcryst.numerics.neighbourhoods import (
    neighbour_invariants,
    neighbour_vectors,
)
from hyperspy_localcryst.numerics.point_patterns import (
    point_pattern_fft,
    rasterise_nearest,
)
from hyperspy_localcryst.signals.atom_positions import make_atom_positions
from hyperspy_localcryst.signals.atomic_image import AtomicImage

from ._helpers import match_one_to_one, near_edge

SHAPE = (150, 220)  # (rows, columns): never square
CELL = (26.0, 20.0)  # rectangular cell a != b
POLAR = (3.0, 2.0)  # B moved from the cell centre: a polar motif
ORIGIN = (7.0, 5.0)  # an A site
SIGMA_X, SIGMA_Y = 2.6, 1.7  # elliptical columns
PEAKS = (220.0, 120.0)  # A bright, B dim
BACKGROUND = 20.0
SEP = 12.0  # px, below the shortest A-B distance (12.8 px)
SCALE = 0.02  # nm / px (square pixels: the package refuses others)
OFFSET = (1.5, -0.8)  # nm, x and y offsets differ

# convergence notes of the joint fit (edge columns cut by the frame) are not
# what these tests look at: they check the fitted values themselves
pytestmark = [
    pytest.mark.filterwarnings("ignore:The joint fit had not settled"),
    pytest.mark.filterwarnings("ignore:The fit did not converge"),
]


# ---------------------------------------------------------------- the truth
def polar_sites(shape=SHAPE, margin=20.0, origin=ORIGIN):
    """A and B sites of the polar rectangular crystal within ``margin`` of
    the image; ``(x, y, sublattice)`` in pixels."""
    ny, nx = shape
    a, b = CELL
    i = np.arange(-4, int(nx // a) + 5)
    j = np.arange(-4, int(ny // b) + 5)
    jj, ii = np.meshgrid(j, i, indexing="ij")
    ax = origin[0] + a * ii.ravel()
    ay = origin[1] + b * jj.ravel()
    x = np.concatenate([ax, ax + 0.5 * a + POLAR[0]])
    y = np.concatenate([ay, ay + 0.5 * b + POLAR[1]])
    sub = np.repeat([0, 1], ax.size)
    keep = (x >= -margin) & (x <= nx - 1 + margin)
    keep &= (y >= -margin) & (y <= ny - 1 + margin)
    return x[keep], y[keep], sub[keep]


def inside(x, y, shape=SHAPE):
    ny, nx = shape
    return (x >= 0) & (x <= nx - 1) & (y >= 0) & (y <= ny - 1)


def polar_image(seed=0, shift=(0.0, 0.0), jitter=True, noise=True):
    """The polar crystal with elliptical columns, scan-line and Poisson noise.

    Returns the image and the truth (atoms inside the image; ``all_x``,
    ``all_y``: every rendered site)."""
    rng = np.random.default_rng(seed)
    x, y, sub = polar_sites()
    if jitter:  # random sub-pixel positions: no rounding bias of the finders
        x = x + rng.uniform(-0.5, 0.5, x.size)
        y = y + rng.uniform(-0.5, 0.5, y.size)
    x, y = x + shift[0], y + shift[1]
    amp = np.where(sub == 0, *PEAKS)
    img = render_gaussians(
        SHAPE, x, y, amp, SIGMA_X, background=BACKGROUND, sigma_y=SIGMA_Y
    )
    if noise:
        img = img + rng.normal(0.0, 3.0, (SHAPE[0], 1))  # one offset per row
        img = rng.poisson(np.maximum(img, 0.0)).astype(np.float64)
    ins = inside(x, y)
    truth = {"x": x[ins], "y": y[ins], "sub": sub[ins], "all_x": x, "all_y": y}
    return img, truth


def honeycomb(spacing=12.0, rotation_deg=0.0, shape=(150, 220)):
    """Honeycomb sites (bond length ``s = spacing``). A's bonds are, in image
    coordinates (y down), (0, s) (straight down on screen) and
    (+-s sqrt(3)/2, -s/2) (up-right, up-left); B's the opposite ones. Rotated
    by ``rotation_deg`` about the image centre (counter-clockwise as
    displayed). Returns ``(x, y, sub)``."""
    ny, nx = shape
    s = spacing
    a1 = np.array([s * np.sqrt(3.0), 0.0])
    a2 = np.array([s * np.sqrt(3.0) / 2, 1.5 * s])
    n = int(max(nx, ny) / s) + 4
    jj, ii = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij")
    p = ii.ravel()[:, None] * a1 + jj.ravel()[:, None] * a2
    pts = np.concatenate([p, p + [0.0, s]])
    sub = np.repeat([0, 1], len(p))
    t = np.deg2rad(rotation_deg)
    rot = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    centre = np.array([0.5 * (nx - 1) + 0.37, 0.5 * (ny - 1) - 0.21])
    pts = pts @ rot.T + centre
    keep = inside(pts[:, 0], pts[:, 1], shape)
    return pts[keep, 0], pts[keep, 1], sub[keep]


def brute_neighbours(x, y, k):
    """Indices of the ``k`` nearest other points of every point (brute force)."""
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def calibrate(px, axis):
    """Pixel coordinate to calibrated (``axis`` 0 = x, 1 = y)."""
    return OFFSET[axis] + SCALE * np.asarray(px, dtype=float)


def signal(data):
    """An AtomicImage with the calibrated axes of this module."""
    s = AtomicImage(np.asarray(data, dtype=float))
    for ax, off in zip(s.axes_manager.signal_axes, OFFSET):
        ax.scale = SCALE
        ax.offset = off
        ax.units = "nm"
    return s


def grid(shape=SHAPE):
    ny, nx = shape
    return {
        k: {"size": n, "scale": SCALE, "offset": o, "units": "nm", "name": k}
        for k, n, o in (("x", nx, OFFSET[0]), ("y", ny, OFFSET[1]))
    }


def table(x_px, y_px, **extra):
    """AtomPositions of pixel positions on :func:`grid`."""
    cols = {"x": calibrate(x_px, 0), "y": calibrate(y_px, 1), **extra}
    return make_atom_positions(cols, {"x": "nm", "y": "nm"}, grid())


def assert_found(fx, fy, truth, tol=1.0, bias=0.25, edge=6.0, spurious=2):
    """Every truth atom away from the edges is found within ``tol`` px; the
    mean error per axis is below ``bias`` px (an off-by-one row or column
    fails); at most ``spurious`` finds away from the edges match no site."""
    tx, ty = truth["x"], truth["y"]
    t_match, f_matched = match_one_to_one(tx, ty, fx, fy, tol)
    inner = ~near_edge(tx, ty, SHAPE, edge)
    assert np.all(t_match[inner] >= 0), (
        f"{np.sum(t_match[inner] < 0)} of {inner.sum()} inner atoms not found"
    )
    ok = t_match >= 0
    dx = fx[t_match[ok]] - tx[ok]
    dy = fy[t_match[ok]] - ty[ok]
    assert abs(dx.mean()) < bias and abs(dy.mean()) < bias, (dx.mean(), dy.mean())
    stray = ~f_matched & ~near_edge(fx, fy, SHAPE, edge)
    assert stray.sum() <= spurious, (fx[stray], fy[stray])
    return t_match


# ------------------------------------------------------------------ finding
@pytest.mark.parametrize("method", ["template", "log", "local_max"])
def test_finders_recover_the_polar_rectangular_crystal(method):
    img, truth = polar_image(seed=1)
    found = finding.find_atoms(img, SEP, method=method)
    assert_found(found["x"], found["y"], truth)


def test_consensus_of_finders_on_the_polar_crystal():
    img, truth = polar_image(seed=2)
    found = finding.find_atoms(img, SEP, method=["template", "log", "local_max"])
    assert_found(found["x"], found["y"], truth)


def _elliptical_target(rows=9, cols=13):
    """A non-square target (rows != cols), its atom at the centre pixel
    (row ``rows // 2``, column ``cols // 2``)."""
    return render_gaussians(
        (rows, cols), [cols // 2], [rows // 2], 100.0, SIGMA_X, 10.0, sigma_y=SIGMA_Y
    )


def test_template_finder_with_a_non_square_target():
    # a map shifted by the difference of the target's half sizes (2 px)
    # would show as a bias
    img, truth = polar_image(seed=3)
    found = finding.find_atoms_template(img, SEP, target=_elliptical_target())
    assert_found(found["x"], found["y"], truth, bias=0.2)


def test_template_finder_splits_merged_columns_at_their_maxima():
    # every third A site of the rectangular cell holds a pair of columns
    # 6.1 px apart along (5.6, 2.4); with a single-column target and a low
    # threshold each pair's correlation blob is one blob of about twice the
    # median area, split at its two maxima, which must land on both columns
    x, y, sub = polar_sites(margin=10.0)
    x, y = x[sub == 0], y[sub == 0]
    pair = np.arange(x.size) % 3 == 0
    px = np.concatenate([x[~pair], x[pair] - 2.8, x[pair] + 2.8])
    py = np.concatenate([y[~pair], y[pair] - 1.2, y[pair] + 1.2])
    rng = np.random.default_rng(1)
    img = rng.poisson(render_gaussians(SHAPE, px, py, 2000.0, 1.6, 200.0))
    target = render_gaussians((11, 11), [5], [5], 200.0, 1.6, 20.0)
    found = finding.find_atoms_template(
        img.astype(float), SEP, target=target, threshold=0.27, max_area=1.6
    )
    ins = inside(px, py)
    assert_found(found["x"], found["y"], {"x": px[ins], "y": py[ins]}, spurious=0)


def test_two_targets_label_the_sublattices():
    # targets cut from the image at a known A and a known B atom: the label
    # of every atom follows the target it resembles, i.e. its sublattice
    img, truth = polar_image(seed=4, jitter=False)
    tx, ty, sub = truth["x"], truth["y"], truth["sub"]
    h = 5
    ia = np.flatnonzero((sub == 0) & (tx > 150) & (ty > 60) & (ty < 100))[0]
    ib = np.flatnonzero((sub == 1) & (tx > 150) & (ty > 60) & (ty < 100))[0]
    targets = [finding.extract_target(img, tx[i], ty[i], h) for i in (ia, ib)]
    # the patch is the image around (x, y): row y, column x
    cx, cy = int(round(tx[ia])), int(round(ty[ia]))
    np.testing.assert_array_equal(
        targets[0], img[cy - h : cy + h + 1, cx - h : cx + h + 1]
    )
    found = finding.find_atoms_template(img, SEP, target=targets)
    t_match = assert_found(found["x"], found["y"], truth)
    ok = t_match >= 0
    assert np.mean(found["label"][t_match[ok]] == sub[ok]) > 0.97


def test_atomic_image_find_atoms_calibrated():
    img, truth = polar_image(seed=5, jitter=False)
    s = signal(img)
    tx, ty, sub = truth["x"], truth["y"], truth["sub"]
    ia = np.flatnonzero((sub == 0) & (tx > 150) & (ty > 60) & (ty < 100))[0]
    ib = np.flatnonzero((sub == 1) & (tx > 150) & (ty > 60) & (ty < 100))[0]
    targets = [
        (float(calibrate(tx[i], 0)), float(calibrate(ty[i], 1))) for i in (ia, ib)
    ]
    atoms = s.find_atoms(separation=SEP * SCALE, target=targets)
    fx, fy = atoms.get_column("x"), atoms.get_column("y")
    # calibrated = offset + scale * pixel, per axis
    px = (fx - OFFSET[0]) / SCALE
    py = (fy - OFFSET[1]) / SCALE
    np.testing.assert_allclose(atoms.get_pixel_positions()[0], px, atol=1e-9)
    np.testing.assert_allclose(atoms.get_pixel_positions()[1], py, atol=1e-9)
    t_match = assert_found(px, py, truth)
    ok = t_match >= 0
    lab = atoms.get_column("sublattice")[t_match[ok]]
    assert np.mean(lab == sub[ok]) > 0.97
    # the peak column is the (smoothed) image at the atom: A bright, B dim
    peak = atoms.get_column("peak")[t_match[ok]]
    assert np.median(peak[sub[ok] == 0]) > np.median(peak[sub[ok] == 1]) + 40
    # and the markers sit at the calibrated positions (x first)
    m = atoms.to_markers()
    np.testing.assert_allclose(m.kwargs["offsets"], np.column_stack([fx, fy]))


# --------------------------------------------------------------- refinement
def _interior(x, y, d=8.0):
    return ~near_edge(x, y, SHAPE, d)


def test_refined_elliptical_widths_match_each_axis():
    img, truth = polar_image(seed=6)
    rng = np.random.default_rng(60)
    tx, ty = truth["x"], truth["y"]
    sx0 = tx + rng.uniform(-0.8, 0.8, tx.size)  # seeds off the truth
    sy0 = ty + rng.uniform(-0.8, 0.8, ty.size)
    fit = refinement.refine_gaussians(
        img, sx0, sy0, radius=5.0, model="elliptical", max_passes=10
    )
    keep = _interior(tx, ty) & (fit["converged"] == 1)
    assert keep.sum() > 60
    dx, dy = fit["x"][keep] - tx[keep], fit["y"][keep] - ty[keep]
    assert np.sqrt(np.mean(dx**2)) < 0.12 and np.sqrt(np.mean(dy**2)) < 0.12
    assert abs(dx.mean()) < 0.04 and abs(dy.mean()) < 0.04
    assert np.median(fit["sigma_x"][keep]) == pytest.approx(SIGMA_X, abs=0.12)
    assert np.median(fit["sigma_y"][keep]) == pytest.approx(SIGMA_Y, abs=0.12)
    # the major axis lies along x (orientation ~ 0, not +-90)
    assert np.median(np.abs(fit["orientation"][keep])) < 8.0
    for sub, peak in enumerate(PEAKS):
        sel = keep & (truth["sub"] == sub)
        assert np.median(fit["amplitude"][sel]) == pytest.approx(peak, rel=0.1)


def test_round_fit_positions_on_the_non_square_image():
    img, truth = polar_image(seed=7)
    tx, ty = truth["x"], truth["y"]
    fit = refinement.refine_gaussians(
        img, np.round(tx), np.round(ty), radius=5.0, max_passes=10
    )
    keep = _interior(tx, ty)
    dx, dy = fit["x"][keep] - tx[keep], fit["y"][keep] - ty[keep]
    assert np.sqrt(np.mean(dx**2 + dy**2)) < 0.2
    com_x, com_y = centroids.centre_of_mass(img, np.round(tx), np.round(ty), 4.0)
    assert abs(np.mean(com_x[keep] - tx[keep])) < 0.1
    assert abs(np.mean(com_y[keep] - ty[keep])) < 0.1


@pytest.mark.parametrize("angle", [30.0, -55.0])
def test_rotated_ellipse_orientation_sign(angle):
    # columns whose major axis points along (cos a, -sin a): turned by a
    # counter-clockwise as displayed (y down), i.e. by -a from +x towards
    # +y, the convention of the fit's orientation. Rendered here from that
    # definition (u along the major axis, v along the minor one).
    s_major, s_minor = 3.2, 1.6
    xs = np.array([20.3, 60.7, 100.2, 20.6, 60.1, 100.8])
    ys = np.array([20.4, 19.8, 20.1, 52.2, 51.7, 52.6])
    t = np.deg2rad(angle)
    r, c = np.mgrid[:72, :122].astype(float)
    img = np.full(r.shape, 10.0)
    for x0, y0 in zip(xs, ys):
        u = (c - x0) * np.cos(t) - (r - y0) * np.sin(t)
        v = (c - x0) * np.sin(t) + (r - y0) * np.cos(t)
        img += 150.0 * np.exp(-0.5 * ((u / s_major) ** 2 + (v / s_minor) ** 2))
    fit = refinement.refine_gaussians(
        img, np.round(xs), np.round(ys), 7.0, "elliptical"
    )
    np.testing.assert_allclose(fit["x"], xs, atol=0.02)
    np.testing.assert_allclose(fit["y"], ys, atol=0.02)
    np.testing.assert_allclose(fit["orientation"], -angle, atol=1.0)
    np.testing.assert_allclose(fit["sigma_major"], s_major, atol=0.05)
    np.testing.assert_allclose(fit["sigma_minor"], s_minor, atol=0.05)
    # widths along the image axes: the covariance projected on x and on y
    cxx = (s_major * np.cos(t)) ** 2 + (s_minor * np.sin(t)) ** 2
    cyy = (s_major * np.sin(t)) ** 2 + (s_minor * np.cos(t)) ** 2
    np.testing.assert_allclose(fit["sigma_x"], np.sqrt(cxx), atol=0.05)
    np.testing.assert_allclose(fit["sigma_y"], np.sqrt(cyy), atol=0.05)


def test_atomic_image_refine_atoms_elliptical_calibrated():
    img, truth = polar_image(seed=8)
    s = signal(img)
    tx, ty = truth["x"], truth["y"]
    seeds = table(np.round(tx), np.round(ty))
    out = s.refine_atoms(seeds, model="elliptical", radius=5.0 * SCALE, max_passes=10)
    keep = _interior(tx, ty) & (out.get_column("converged") == 1)
    fx = (out.get_column("x") - OFFSET[0]) / SCALE
    fy = (out.get_column("y") - OFFSET[1]) / SCALE
    assert np.sqrt(np.mean((fx - tx)[keep] ** 2 + (fy - ty)[keep] ** 2)) < 0.2
    sig_x = np.median(out.get_column("sigma_x")[keep])
    sig_y = np.median(out.get_column("sigma_y")[keep])
    assert sig_x == pytest.approx(SIGMA_X * SCALE, abs=0.12 * SCALE)
    assert sig_y == pytest.approx(SIGMA_Y * SCALE, abs=0.12 * SCALE)


# ----------------------------------------------------------- neighbourhoods
def _jittered_polar(seed=0, jitter=0.15):
    x, y, sub = polar_sites(margin=-0.0)
    rng = np.random.default_rng(seed)
    return x + rng.normal(0, jitter, x.size), y + rng.normal(0, jitter, y.size), sub


@pytest.mark.parametrize("metric", ["distance", "angle"])
@pytest.mark.parametrize("k", [1, 3, 6])
def test_vectors_point_from_centre_to_neighbour(metric, k):
    x, y, sub = _jittered_polar()
    nb = neighbour_vectors(x, y, k, metric, extent=(0, 219, 0, 149))
    expected = brute_neighbours(x, y, k)[nb.centres]
    np.testing.assert_array_equal(np.sort(nb.indices, 1), np.sort(expected, 1))
    v = nb.vectors
    if metric == "angle":  # back to the image frame
        c, s = np.cos(nb.rotation)[:, None], np.sin(nb.rotation)[:, None]
        v = np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], -1)
    want = np.stack(
        [x[nb.indices] - x[nb.centres, None], y[nb.indices] - y[nb.centres, None]], -1
    )
    np.testing.assert_allclose(v, want, atol=1e-9)
    if metric == "distance":
        # the polar motif: A's nearest neighbour lies up-left (-10, -8), B's
        # down-right (+10, +8)
        a = sub[nb.centres] == 0
        np.testing.assert_allclose(np.median(v[a, 0], axis=0), (-10.0, -8.0), atol=0.3)
        np.testing.assert_allclose(np.median(v[~a, 0], axis=0), (10.0, 8.0), atol=0.3)
        # rotation: the direction of the nearest neighbour, atan2(dy, dx)
        np.testing.assert_allclose(
            nb.rotation, np.arctan2(want[:, 0, 1], want[:, 0, 0]), atol=1e-12
        )


def _winding(v):
    """Full turns made going through the vectors in order and back to the
    first, each step measured as an increase of atan2(dy, dx) in [0, 2 pi):
    1 for vectors in clockwise order on screen (y down), m - 1 for m vectors
    in counter-clockwise order."""
    t = np.arctan2(v[..., 1], v[..., 0])
    steps = np.mod(
        np.diff(np.concatenate([t, t[..., :1]], axis=-1), axis=-1), 2 * np.pi
    )
    return steps.sum(axis=-1) / (2 * np.pi)


@pytest.mark.parametrize("k", [3, 9])
def test_distance_metric_orders_each_shell_clockwise_on_screen(k):
    # honeycomb: shells of 3 (bonds) and 6 (second neighbours); with y down,
    # clockwise on screen is increasing atan2(dy, dx): going once through a
    # shell in the output order turns exactly once (the reverse order turns
    # m - 1 times)
    x, y, sub = honeycomb()
    nb = neighbour_vectors(x, y, k, "distance")
    r = np.hypot(nb.vectors[..., 0], nb.vectors[..., 1])
    shells = [slice(0, 3)] + ([slice(3, 9)] if k == 9 else [])
    for sh in shells:
        rs = r[:, sh]
        np.testing.assert_allclose(rs, np.broadcast_to(rs[:, :1], rs.shape))
        np.testing.assert_allclose(_winding(nb.vectors[:, sh]), 1.0, atol=1e-9)
    # one starting direction for every atom: the same site, the same layout
    for s in (0, 1):
        v = nb.vectors[sub[nb.centres] == s]
        np.testing.assert_allclose(v, np.broadcast_to(v[0], v.shape), atol=1e-9)
    # A's bonds and B's bonds are opposite (a honeycomb site is no centre of
    # symmetry): the truth sets
    bonds = {0: [(0.0, 12.0), (-6 * np.sqrt(3), -6.0), (6 * np.sqrt(3), -6.0)]}
    bonds[1] = [(-a, -b) for a, b in bonds[0]]
    for s in (0, 1):
        got = nb.vectors[sub[nb.centres] == s][0, :3]
        got = sorted(map(tuple, np.round(got, 6)))
        assert got == sorted(map(tuple, np.round(bonds[s], 6)))


@pytest.mark.parametrize("rotation", [17.0, -40.0])
def test_angle_metric_local_and_image_frames(rotation):
    x, y, sub = honeycomb(rotation_deg=rotation)
    nb = neighbour_vectors(x, y, 3, "angle")
    v = nb.vectors
    # local frame: the anchor neighbour along +x, the others clockwise
    np.testing.assert_allclose(v[:, 0, 1], 0.0, atol=1e-9)
    np.testing.assert_allclose(v[:, 0, 0], 12.0, atol=1e-9)
    np.testing.assert_allclose(_winding(v), 1.0, atol=1e-9)
    # ... at 120 degrees: (cos 120, sin 120) with y down is clockwise
    np.testing.assert_allclose(
        v[:, 1], np.broadcast_to([-6.0, 6 * np.sqrt(3)], v[:, 1].shape), atol=1e-9
    )
    # the rotation is the anchor's direction in the image, one of the bonds
    bond = np.stack(
        [x[nb.indices[:, 0]] - x[nb.centres], y[nb.indices[:, 0]] - y[nb.centres]], -1
    )
    np.testing.assert_allclose(
        np.mod(nb.rotation - np.arctan2(bond[:, 1], bond[:, 0]) + np.pi, 2 * np.pi),
        np.pi,
        atol=1e-9,
    )
    # a bond of A, rotated by the lattice rotation (counter-clockwise as
    # displayed, i.e. -rotation in atan2 terms): (0, 12) -> 90 - rotation
    a = sub[nb.centres] == 0
    directions = np.rad2deg(np.arctan2(bond[a, 1], bond[a, 0]))
    allowed = np.array([90.0, 210.0, 330.0]) - rotation
    diff = np.mod(directions[:, None] - allowed[None, :] + 180, 360) - 180
    assert np.all(np.min(np.abs(diff), axis=1) < 1e-6)


def test_centres_respect_a_non_square_extent():
    x, y, _ = _jittered_polar(seed=1)
    extent = (-0.5, 219.5, -0.5, 149.5)
    nb = neighbour_vectors(x, y, 3, extent=extent, border=30.0)
    edge = np.minimum.reduce(
        [x - extent[0], extent[1] - x, y - extent[2], extent[3] - y]
    )
    np.testing.assert_array_equal(nb.centres, np.flatnonzero(edge >= 30.0))
    # default: the atoms' bounding box, and a border of the farthest
    # neighbour plus half the median nearest-neighbour distance
    nb = neighbour_vectors(x, y, 3)
    idx = brute_neighbours(x, y, 3)
    d = np.hypot(x[idx] - x[:, None], y[idx] - y[:, None])
    need = d.max(axis=1) + 0.5 * np.median(d[:, 0])
    box = np.minimum.reduce([x - x.min(), x.max() - x, y - y.min(), y.max() - y])
    np.testing.assert_array_equal(nb.centres, np.flatnonzero(box >= need))


def test_polar_displacement_has_the_sign_of_the_motif():
    x, y, sub = _jittered_polar(seed=2, jitter=0.05)
    nb = neighbour_vectors(x, y, 3, extent=(0, 219, 0, 149))
    inv = neighbour_invariants(nb.vectors)
    idx = brute_neighbours(x, y, 3)[nb.centres]
    centroid = np.stack([x[idx].mean(1), y[idx].mean(1)], -1)
    want = np.stack([x[nb.centres], y[nb.centres]], -1) - centroid
    np.testing.assert_allclose(inv["polar"], want, atol=1e-9)
    # A sits right of and below (y down) its bonds' centroid: (+4/3, +4/3);
    # B the opposite way
    a = sub[nb.centres] == 0
    np.testing.assert_allclose(np.median(inv["polar"][a], 0), (4 / 3, 4 / 3), atol=0.1)
    np.testing.assert_allclose(
        np.median(inv["polar"][~a], 0), (-4 / 3, -4 / 3), atol=0.1
    )


def test_neighbourhood_signal_vectors_invariants_calibrated():
    x, y, sub = _jittered_polar(seed=3)
    atoms = table(x, y, sublattice=sub.astype(float))
    for metric in ("distance", "angle"):
        nb = atoms.get_neighbourhoods(n_neighbours=3, metric=metric)
        c = nb.centre_indices
        idx = brute_neighbours(x, y, 3)[c]
        want = np.stack([x[idx] - x[c, None], y[idx] - y[c, None]], -1) * SCALE
        got = nb.get_vectors("image")
        # the same vectors, in any order within a row
        key = lambda a: np.sort(a[..., 0] * 1e3 + a[..., 1], axis=1)  # noqa: E731
        np.testing.assert_allclose(key(got), key(want), atol=1e-9)
    inv = nb.get_invariants()
    centroid = np.stack([x[idx].mean(1), y[idx].mean(1)], -1)
    polar = (np.stack([x[c], y[c]], -1) - centroid) * SCALE
    np.testing.assert_allclose(inv.get_column("polar_x"), polar[:, 0], atol=1e-9)
    np.testing.assert_allclose(inv.get_column("polar_y"), polar[:, 1], atol=1e-9)


# ----------------------------------------------------------------- tracking
DRIFT = np.array([[0.0, 0.0], [3.1, -1.7], [5.9, -3.6], [9.4, -5.2], [12.2, -6.5]])


def _movie(seed=0, jitter=0.08):
    """The polar crystal's atoms in 5 frames drifting by DRIFT (dx != dy),
    pooled and shuffled, with their identity."""
    rng = np.random.default_rng(seed)
    x0, y0, _ = polar_sites(margin=-3.0)
    xs, ys, fs, ids = [], [], [], []
    for k, (dx, dy) in enumerate(DRIFT):
        xs.append(x0 + dx + rng.normal(0, jitter, x0.size))
        ys.append(y0 + dy + rng.normal(0, jitter, x0.size))
        fs.append(np.full(x0.size, k))
        ids.append(np.arange(x0.size))
    x, y, f, ident = map(np.concatenate, (xs, ys, fs, ids))
    perm = rng.permutation(x.size)
    return x[perm], y[perm], f[perm], ident[perm]


def _same_partition(track, ident):
    pairs = set(zip(track.tolist(), ident.tolist()))
    assert len(pairs) == len(set(track.tolist())) == len(set(ident.tolist()))


def test_link_frames_follows_a_drift_larger_than_the_search():
    x, y, f, ident = _movie()
    # 3.5 px per frame, the search 1.5 px: only the right prediction links
    track = tracking.link_frames(x, y, f, 1.5, shifts=DRIFT)
    _same_partition(track, ident)
    # the drift transposed (dy, dx) or reversed links nothing right
    for wrong in (DRIFT[:, ::-1], -DRIFT):
        bad = tracking.link_frames(x, y, f, 1.5, shifts=wrong)
        assert len(set(bad.tolist())) > 2 * len(set(ident.tolist()))


def test_shifts_displacements_trajectories_have_the_drift_sign():
    x, y, f, ident = _movie(seed=1)
    shifts, err = tracking.estimate_shifts(x, y, f, ident)
    np.testing.assert_allclose(shifts, DRIFT, atol=0.03)
    assert np.all(err[1:] < 0.02)
    d = tracking.displacements(x, y, f, ident, 1, 3)
    np.testing.assert_array_equal(d["track"], np.sort(np.unique(ident)))
    np.testing.assert_allclose(np.median(d["dx"]), DRIFT[3, 0] - DRIFT[1, 0], atol=0.03)
    np.testing.assert_allclose(np.median(d["dy"]), DRIFT[3, 1] - DRIFT[1, 1], atol=0.03)
    # per atom: position in frame 3 minus position in frame 1
    for key, pos in (("dx", x), ("dy", y)):
        np.testing.assert_allclose(d[key], pos[d["index_b"]] - pos[d["index_a"]])
    np.testing.assert_array_equal(f[d["index_a"]], 1)
    np.testing.assert_array_equal(f[d["index_b"]], 3)
    np.testing.assert_allclose(d["x"], x[d["index_a"]])
    np.testing.assert_allclose(d["y"], y[d["index_a"]])
    tx, ty = tracking.trajectories(x, y, f, ident)
    assert tx.shape == (ident.max() + 1, len(DRIFT))
    np.testing.assert_array_equal(tx[ident, f], x)
    np.testing.assert_array_equal(ty[ident, f], y)


def test_estimate_affine_non_symmetric_matrix():
    x, y, _ = polar_sites(margin=-2.0)
    m = np.array([[1.02, 0.035], [-0.012, 0.97]])  # shear in one direction only
    t = np.array([4.2, -2.5])
    p = np.column_stack([x, y]) @ m.T + t
    matrix, translation, rms = tracking.estimate_affine(x, y, p[:, 0], p[:, 1])
    np.testing.assert_allclose(matrix, m, atol=1e-10)
    np.testing.assert_allclose(translation, t, atol=1e-8)
    assert rms < 1e-8


# ---------------------------------------------------------------- alignment
def bilinear(x, y):
    """A bilinear function (linear interpolation reproduces it exactly) that
    is neither symmetric in x and y nor under a sign change."""
    return 40.0 + 0.31 * x - 0.53 * y + 0.0021 * x * y


def bilinear_frame(matrix=np.eye(2), translation=(0.0, 0.0), shape=SHAPE):
    """Frame ``a = M p + t`` of the specimen ``bilinear(p)``: pixel ``a`` shows
    ``bilinear(inv(M) (a - t))``."""
    ny, nx = shape
    r, c = np.mgrid[:ny, :nx].astype(float)
    inv = np.linalg.inv(matrix)
    px = inv[0, 0] * (c - translation[0]) + inv[0, 1] * (r - translation[1])
    py = inv[1, 0] * (c - translation[0]) + inv[1, 1] * (r - translation[1])
    return bilinear(px, py)


@pytest.mark.parametrize(
    ("matrix", "translation"),
    [
        (np.eye(2), (3.25, -1.5)),
        (np.array([[1.0, 0.06], [0.0, 1.0]]), (-2.0, 4.75)),
        (np.array([[0.98, 0.0], [0.04, 1.03]]), (1.5, 2.25)),
    ],
)
def test_warp_frame_maps_reference_to_frame(matrix, translation):
    frame = bilinear_frame(matrix, translation)
    out = warping.warp_frame(frame, matrix, translation)
    ny, nx = SHAPE
    r, c = np.mgrid[:ny, :nx].astype(float)
    ax = matrix[0, 0] * c + matrix[0, 1] * r + translation[0]
    ay = matrix[1, 0] * c + matrix[1, 1] * r + translation[1]
    eps = 1e-6
    inside_ = (ax >= eps) & (ax <= nx - 1 - eps) & (ay >= eps) & (ay <= ny - 1 - eps)
    outside_ = (ax < -eps) | (ax > nx - 1 + eps) | (ay < -eps) | (ay > ny - 1 + eps)
    # exact for a translation; the xy term of a sheared frame is not bilinear
    # any more: linear interpolation is then off by < 0.0021 / 4
    np.testing.assert_allclose(out[inside_], bilinear(c, r)[inside_], atol=1e-3)
    assert np.all(np.isnan(out[outside_]))


def test_sum_frames_bilinear_exact_and_coverage():
    shifts = np.array([[0.0, 0.0], [2.5, -1.25], [-1.75, 2.75]])
    stack = np.stack([bilinear_frame(translation=t) for t in shifts])
    mean, count = warping.sum_frames(stack, shifts=shifts)
    ny, nx = SHAPE
    r, c = np.mgrid[:ny, :nx].astype(float)
    want_count = np.zeros(SHAPE, int)
    for dx, dy in shifts:
        want_count += (
            (c + dx >= 0) & (c + dx <= nx - 1) & (r + dy >= 0) & (r + dy <= ny - 1)
        )
    np.testing.assert_array_equal(count, want_count)
    ok = count > 0
    np.testing.assert_allclose(mean[ok], bilinear(c, r)[ok], atol=1e-8)
    # an affine map per frame: the same with matrices and translations
    m = np.array([[1.0, 0.05], [-0.02, 1.0]])
    stack = np.stack([bilinear_frame(m, t) for t in shifts])
    mean, count = warping.sum_frames(stack, matrices=m, translations=shifts)
    full = count == 3
    assert full.sum() > 0.8 * ny * nx
    np.testing.assert_allclose(mean[full], bilinear(c, r)[full], atol=1e-3)


def _lattice_frame(shift, seed=None, shape=SHAPE):
    x, y, sub = polar_sites(shape)
    img = render_gaussians(
        shape, x + shift[0], y + shift[1], np.where(sub == 0, *PEAKS), 2.4, 20.0
    )
    if seed is not None:
        img = np.random.default_rng(seed).poisson(img).astype(np.float64)
    return img


@pytest.mark.parametrize("upsample", [20, 1])
def test_phase_correlation_shift_sign_and_axes(upsample):
    # the docstring: a feature at (x, y) in the reference is at
    # (x + dx, y + dy) in the image
    ref = _lattice_frame((0.0, 0.0), seed=0)
    for true in [(2.37, -1.62), (-4.3, 0.8), (0.45, 3.9)]:
        img = _lattice_frame(true, seed=1)
        dx, dy = alignment.phase_correlation_shift(ref, img, upsample=upsample)
        tol = 0.05 if upsample > 1 else 0.1
        assert (dx, dy) == pytest.approx(true, abs=tol)


@pytest.mark.parametrize("reference", ["first", "previous", "mean"])
def test_frame_shifts_sign_and_axes(reference):
    stack = np.stack([_lattice_frame(d, seed=k) for k, d in enumerate(DRIFT[:4])])
    shifts = alignment.frame_shifts(stack, reference=reference)
    np.testing.assert_allclose(shifts, DRIFT[:4], atol=0.06)


def _apparent(q, v, line_time, pixel_time, t0=0.0, n_iter=200):
    """Where an atom at ``q`` (at the frame start ``t0``) is recorded: the beam
    meets it at ``a = q + v * (a_y * line_time + a_x * pixel_time)`` (fixed
    point, from the physical model, not from the package's matrix)."""
    q = np.asarray(q, float)
    a = q.copy()
    for _ in range(n_iter):
        a = q + np.outer(a[:, 1] * line_time + a[:, 0] * pixel_time, v)
    return a


def test_scan_drift_matrix_and_correction_follow_the_scan():
    v = np.array([0.9, -0.35])  # px per time unit, dx != dy
    lt, pt = 0.004, 0.00007
    q = np.column_stack([[10.0, 200.0, 35.0, 150.0], [5.0, 20.0, 140.0, 90.0]])
    a = _apparent(q, v, lt, pt)
    m = warping.scan_drift_matrix(v, lt, pt)
    np.testing.assert_allclose(q @ m.T, a, atol=1e-9)
    # only the rows' timing: x is sheared by the rows, not y by the columns
    m_rows = warping.scan_drift_matrix(v, line_time=lt)
    g = 1.0 / (1.0 - v[1] * lt)
    np.testing.assert_allclose(m_rows, [[1.0, v[0] * lt * g], [0.0, g]], atol=1e-12)
    # the correction takes recorded positions back to the frame start...
    qx, qy = warping.correct_scan_drift(a[:, 0], a[:, 1], v, 0.0, lt, pt)
    np.testing.assert_allclose(np.column_stack([qx, qy]), q, atol=1e-9)
    # ... and with the frame's start time t0, to time 0
    t0 = 3.0
    a = _apparent(q + t0 * v, v, lt, pt)
    qx, qy = warping.correct_scan_drift(a[:, 0], a[:, 1], v, t0, lt, pt)
    np.testing.assert_allclose(np.column_stack([qx, qy]), q, atol=1e-9)


def test_estimate_velocity_recovers_the_true_velocity():
    v = np.array([0.42, -0.27])
    lt, pt = 0.003, 0.0002
    times = np.arange(6) * 2.5
    # frame k is frame 0 translated by the apparent motion of a point:
    # where the origin's trajectory is recorded at t_k
    shifts = np.array([_apparent([t * v], v, lt, pt)[0] for t in times])
    vel, err = warping.estimate_velocity(shifts, times, lt, pt)
    np.testing.assert_allclose(vel, v, atol=1e-9)
    vel, _ = warping.estimate_velocity(shifts, times)  # apparent slope
    np.testing.assert_allclose(vel, shifts[1] / times[1], atol=1e-9)


def _drift_stack(shape=SHAPE):
    frames = np.stack([_lattice_frame(d, seed=10 + k) for k, d in enumerate(DRIFT[:4])])
    s = signal(frames)
    return s


def test_atomic_image_drift_is_calibrated_with_the_drift_sign():
    s = _drift_stack()
    drift = s.estimate_drift()
    np.testing.assert_allclose(drift.data[:, :2], DRIFT[:4] * SCALE, atol=0.05 * SCALE)
    atoms = s.refine_atoms(s.find_atoms(separation=SEP * SCALE), radius=5 * SCALE)
    linked = atoms.link_frames()
    d_atoms = s.estimate_drift(method="atoms", atoms=linked)
    np.testing.assert_allclose(d_atoms.data[:, :2], DRIFT[:4] * SCALE, atol=0.1 * SCALE)
    disp = linked.get_displacements(1, 3)
    np.testing.assert_allclose(
        np.median(disp.get_column("dx")),
        (DRIFT[3, 0] - DRIFT[1, 0]) * SCALE,
        atol=0.1 * SCALE,
    )
    np.testing.assert_allclose(
        np.median(disp.get_column("dy")),
        (DRIFT[3, 1] - DRIFT[1, 1]) * SCALE,
        atol=0.1 * SCALE,
    )
    arrows = disp.to_arrows()
    np.testing.assert_allclose(arrows.kwargs["U"], disp.get_column("dx"))
    np.testing.assert_allclose(arrows.kwargs["V"], disp.get_column("dy"))
    # trajectories: (track, frame, (x, y)) in calibrated units
    traj = linked.get_trajectories().data
    with np.errstate(invalid="ignore"):
        step = np.nanmedian(traj[:, 1:] - traj[:, :1], axis=0)
    np.testing.assert_allclose(step, (DRIFT[1:4] - DRIFT[0]) * SCALE, atol=0.1 * SCALE)


def test_atomic_image_align_and_sum_frames():
    s = _drift_stack()
    drift = DRIFT[:4] * SCALE
    aligned = s.align_frames(drift)
    clean = _lattice_frame((0.0, 0.0))
    ny, nx = SHAPE
    for k in range(4):
        a = aligned.data[k]
        # frame k covers the reference pixels p with p + shift_k inside it
        dx, dy = DRIFT[k]
        c0, c1 = max(0, int(np.ceil(-dx))), nx - 1 - max(0, int(np.ceil(dx)))
        r0, r1 = max(0, int(np.ceil(-dy))), ny - 1 - max(0, int(np.ceil(dy)))
        box = a[r0 + 1 : r1, c0 + 1 : c1]
        assert np.isfinite(box).all()
        ref = clean[r0 + 1 : r1, c0 + 1 : c1]
        # linear interpolation and Poisson noise, but no misplaced column
        assert np.corrcoef(box.ravel(), ref.ravel())[0, 1] > 0.97
    mean = s.sum_frames(drift)
    # cropped to the pixels every frame covers: columns up to nx-1-max dx,
    # rows from -min dy: the calibrated offsets move accordingly
    c_last = nx - 1 - int(np.ceil(DRIFT[:4, 0].max()))
    r_first = int(np.ceil(-DRIFT[:4, 1].min()))
    ax_x, ax_y = mean.axes_manager.signal_axes
    assert ax_x.offset == pytest.approx(OFFSET[0])
    assert ax_x.size == c_last + 1
    assert ax_y.offset == pytest.approx(OFFSET[1] + r_first * SCALE)
    assert ax_y.size == ny - r_first
    ref = clean[r_first:, : c_last + 1]
    assert np.corrcoef(mean.data.ravel(), ref.ravel())[0, 1] > 0.99


# --------------------------------------------------------------------- maps
def brute_map(x, y, values, shape, max_distance=np.inf):
    ny, nx = shape
    r, c = np.mgrid[:ny, :nx]
    d2 = (x[:, None, None] - c) ** 2 + (y[:, None, None] - r) ** 2
    near = np.argmin(d2, axis=0)  # lowest index on ties
    out = values[near].astype(float)
    out[np.min(d2, axis=0) > max_distance**2] = np.nan
    return out


@pytest.mark.parametrize("crowded", [False, True])
def test_rasterise_nearest_value_follows_the_nearest_point(crowded):
    shape = (47, 83)
    rng = np.random.default_rng(5)
    if crowded:
        # 600 points on a short vertical line at the right edge: the tiles on
        # the left have too many candidates and fall back to a k-d tree
        x = 78.0 + rng.uniform(0.0, 0.5, 600)
        y = rng.uniform(3.0, 43.0, 600)
    else:
        x = rng.uniform(-5, 88, 60)
        y = rng.uniform(-3, 50, 60)
    values = x + 100.0 * y  # asymmetric: a transpose or a flip changes it
    got = rasterise_nearest(x, y, values, shape)
    np.testing.assert_array_equal(got, brute_map(x, y, values, shape))
    got = rasterise_nearest(x, y, values, shape, max_distance=6.0)
    np.testing.assert_array_equal(got, brute_map(x, y, values, shape, 6.0))


def own_power_spectrum(x, y, shape, window=True):
    """Bilinear splat, Hann window, |FFT|^2, zero frequency at (ny//2, nx//2)."""
    ny, nx = shape
    img = np.zeros(shape)
    for px, py in zip(x, y):
        if not (0 <= px <= nx - 1 and 0 <= py <= ny - 1):
            continue
        c, r = int(np.floor(px)), int(np.floor(py))
        fx, fy = px - c, py - r
        for dr, dc, w in (
            (0, 0, (1 - fx) * (1 - fy)),
            (0, 1, fx * (1 - fy)),
            (1, 0, (1 - fx) * fy),
            (1, 1, fx * fy),
        ):
            if r + dr < ny and c + dc < nx:
                img[r + dr, c + dc] += w
    if window:
        img = img * np.hanning(ny)[:, None] * np.hanning(nx)[None, :]
    f = np.fft.fft2(img)
    power = np.abs(f) ** 2
    return np.roll(power, (ny // 2, nx // 2), axis=(0, 1))


@pytest.mark.parametrize("window", [True, False])
def test_point_pattern_fft_matches_its_definition(window):
    shape = (47, 64)  # odd rows: a half-pixel centring error shows
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 63, 25)
    y = rng.uniform(0, 46, 25)
    got = point_pattern_fft(x, y, shape, window=window)
    np.testing.assert_allclose(got, own_power_spectrum(x, y, shape, window), atol=1e-9)


def test_point_pattern_fft_rectangular_lattice_spots():
    # A sites only: a rectangular lattice of period 26 px along x and 20 px
    # along y on a 140 x 234 px grid: spots 234 / 26 = 9 px left and right
    # of the centre, 140 / 20 = 7 px above and below (and their harmonics)
    shape = (140, 234)
    x, y, sub = polar_sites(shape, margin=0.0)
    a = sub == 0
    p = point_pattern_fft(x[a], y[a], shape)
    cy, cx = 70, 117
    row, col = p[cy, cx + 3 : cx + 30], p[cy + 3 : cy + 30, cx]
    assert p[cy, cx + 9] > 0.99 * row.max() and p[cy, cx - 9] > 0.99 * row.max()
    assert p[cy + 7, cx] > 0.99 * col.max() and p[cy - 7, cx] > 0.99 * col.max()
    assert p[cy, cx + 7] < 1e-3 * row.max() and p[cy + 9, cx] < 1e-3 * col.max()


def test_neighbourhood_maps_and_cluster_fft_calibrated():
    x, y, sub = _jittered_polar(seed=4, jitter=0.1)
    atoms = table(x, y)
    nb = atoms.get_neighbourhoods(n_neighbours=3)
    c = nb.centre_indices
    values = calibrate(x[c], 0)  # the x of each centre: asymmetric
    md = 9.0 * SCALE
    m = nb.get_map(values, max_distance=md)
    ax_x, ax_y = m.axes_manager.signal_axes
    assert (ax_x.size, ax_y.size) == (SHAPE[1], SHAPE[0])
    assert ax_x.offset == pytest.approx(OFFSET[0])
    assert ax_y.offset == pytest.approx(OFFSET[1])
    assert ax_x.scale == pytest.approx(SCALE) and ax_y.scale == pytest.approx(SCALE)
    want = brute_map(x[c], y[c], values, SHAPE, 9.0)
    np.testing.assert_allclose(m.data, want, atol=1e-12)
    # clusters: A and B centres (their neighbourhoods are opposite)
    nb.cluster_analysis(n_clusters=2)
    lab = np.asarray(nb.get_cluster_labels(merged=True).data)
    assert len(set(zip(lab.tolist(), sub[c].tolist()))) == 2
    cmap = nb.get_cluster_map(max_distance=md)
    np.testing.assert_allclose(cmap.data, brute_map(x[c], y[c], lab, SHAPE, 9.0))
    fft = nb.get_cluster_fft()
    kx, ky = fft.axes_manager.signal_axes
    assert (kx.size, ky.size) == (SHAPE[1], SHAPE[0])
    assert kx.scale == pytest.approx(1.0 / (SHAPE[1] * SCALE))
    assert ky.scale == pytest.approx(1.0 / (SHAPE[0] * SCALE))
    assert kx.offset == pytest.approx(-(SHAPE[1] // 2) * kx.scale)
    assert ky.offset == pytest.approx(-(SHAPE[0] // 2) * ky.scale)
    markers = nb.get_markers(values)
    np.testing.assert_allclose(
        markers.kwargs["offsets"],
        np.column_stack([calibrate(x[c], 0), calibrate(y[c], 1)]),
    )
