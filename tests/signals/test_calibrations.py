"""Calibrated outputs against values computed independently (issue 24, point 3).

Every test builds a case with a known answer on a grid with a non-trivial
calibration (pixel size 0.05 nm, offsets 1.3 nm and -0.7 nm, units nm; where
the package supports it, a flipped axis: the same pixel size with a negative
scale) and compares the package's *values* with the answer derived by hand
from the truth: positions, widths and errors of atoms, neighbour vectors and
their histogram, map and FFT axes (with numpy's own frequency convention),
per-atom and per-class spectra (sums and means of the right SI pixels), edge
intensities (the documented channel sum times the channel width), drifts.
Never the program's output as an expectation, never a correlation or a shape
alone.

Pixel convention (numerics): ``x`` = column, ``y`` = row, pixel centres at
integers; calibrated = ``offset + scale * pixel`` per axis.
"""

import io
import warnings

import hyperspy.api as hs
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree

from hyperspy_localcryst.data.synthetic import (
    cramer_rao_bound,
    make_drift_stack,
    make_lattice_image,
)
from hyperspy_localcryst.numerics import point_patterns
from hyperspy_localcryst.signals.atom_positions import make_atom_positions
from hyperspy_localcryst.signals.atomic_image import AtomicImage
from hyperspy_localcryst.signals.si_registration import (
    estimate_si_registration,
    estimate_si_shift,
)

S = 0.05  # nm per pixel (absolute)
OX, OY = 1.3, -0.7  # nm
UNITS = "nm"

# (x scale, y scale): square pixels, and the y axis flipped (supported: see
# tests/test_bad_input_matrix.py::test_flipped_axis_keeps_positions_inside_the_image)
SCALES = {"plain": (S, S), "flipped_y": (S, -S)}
SCALES_X = dict(SCALES, flipped_x=(-S, S))


# --------------------------------------------------------------------- helpers
def cal(px, py, sx, sy, ox=OX, oy=OY):
    """Pixel -> calibrated, by hand."""
    return ox + sx * np.asarray(px, float), oy + sy * np.asarray(py, float)


def grid(nx, ny, sx, sy, ox=OX, oy=OY, units=UNITS):
    return {
        "x": dict(size=nx, scale=sx, offset=ox, units=units, name="x"),
        "y": dict(size=ny, scale=sy, offset=oy, units=units, name="y"),
    }


def table(px, py, g, extra=None):
    """AtomPositions at pixel positions ``px, py`` of grid ``g``."""
    x, y = cal(
        px, py, g["x"]["scale"], g["y"]["scale"], g["x"]["offset"], g["y"]["offset"]
    )
    cols = {"x": x, "y": y}
    units = {"x": UNITS, "y": UNITS}
    for k, v in (extra or {}).items():
        cols[k] = np.asarray(v, float)
        units[k] = ""
    return make_atom_positions(cols, units, g)


def image(data, sx, sy, ox=OX, oy=OY):
    s = AtomicImage(np.asarray(data, float))
    ax, ay = s.axes_manager.signal_axes
    ax.scale, ax.offset, ax.units = sx, ox, UNITS
    ay.scale, ay.offset, ay.units = sy, oy, UNITS
    return s


def match(found_x, found_y, true_x, true_y):
    """For each true position the distance to, and index of, the nearest found."""
    d, j = cKDTree(np.column_stack([found_x, found_y])).query(
        np.column_stack([true_x, true_y])
    )
    return d, j


def rect_lattice(nx=128, ny=96, ax=8, ay=12, x0=2.25, y0=3.25):
    """Pixel positions of a rectangular lattice (periods ax, ay px) in the image.

    A quarter pixel off the pixel centres, so that the bilinear splat of the
    FFT damps the harmonics: zero frequency, then the first spots, are the
    unique maxima of the power spectrum.
    """
    yy, xx = np.mgrid[y0:ny:ay, x0:nx:ax]
    return xx.ravel().astype(float), yy.ravel().astype(float)


# ------------------------------------------------------------ atom positions
@pytest.fixture(scope="module")
def lattice_image():
    img, truth = make_lattice_image(
        (96, 112), spacing=16, sigma=2.5, peak=500, background=20, seed=3
    )
    return img, truth


@pytest.mark.parametrize("sx, sy", SCALES_X.values(), ids=list(SCALES_X))
def test_find_and_refine_columns_are_calibrated(lattice_image, sx, sy):
    img, truth = lattice_image
    s = image(img, sx, sy)
    tx, ty = cal(truth["x"], truth["y"], sx, sy)

    # the separation, in and out, is calibrated (16 px)
    assert s.estimate_separation() == pytest.approx(16 * S, rel=0.05)
    found = s.find_atoms(separation=16 * S)
    assert found.units["x"] == found.units["y"] == UNITS
    assert found.metadata.AtomPositions.settings.separation == pytest.approx(16 * S)
    d, _ = match(found.get_column("x"), found.get_column("y"), tx, ty)
    assert d.max() < S  # the finder's centroids: within a pixel

    ref = _refine(s, found)
    ok = ref.get_column("converged") == 1
    d, j = match(ref.get_column("x")[ok], ref.get_column("y")[ok], tx, ty)
    assert d.max() < 0.1 * S
    # per-axis signs: the refined x, y of the atom nearest to each true atom
    np.testing.assert_allclose(ref.get_column("x")[ok][j], tx, atol=0.1 * S)
    np.testing.assert_allclose(ref.get_column("y")[ok][j], ty, atol=0.1 * S)
    # widths: 2.5 px in calibrated units (positive whatever the axis sign)
    for c in ("sigma_x", "sigma_y", "sigma_major", "sigma_minor"):
        v = ref.get_column(c)[ok]
        assert np.median(v) == pytest.approx(2.5 * S, rel=0.03), c
        assert ref.units[c] == UNITS
    # standard errors: the Cramér-Rao bound of these atoms, calibrated
    crb = cramer_rao_bound(500.0, 20.0, 2.5) * S
    for c in ("x_err", "y_err"):
        e = np.median(ref.get_column(c)[ok])
        assert 0.7 * crb < e < 1.6 * crb, (c, e, crb)
        assert ref.units[c] == UNITS
    # the scatter about the truth agrees with the errors (within a factor 2)
    dx = ref.get_column("x")[ok][j] - tx
    assert 0.5 < np.sqrt(np.mean(dx**2)) / crb < 2.0


def _refine(s, atoms, **kwargs):
    """refine_atoms without its convergence warnings (edge atoms)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return s.refine_atoms(atoms, **kwargs)


@pytest.mark.parametrize("sx, sy", SCALES.values(), ids=list(SCALES))
def test_filter_widths_are_calibrated(lattice_image, sx, sy):
    """Calibrated widths = scipy's filters with the widths in pixels."""
    img, _ = lattice_image
    s = image(img, sx, sy)
    np.testing.assert_allclose(
        s.denoise(sigma=1.5 * S).data, ndimage.gaussian_filter(img, 1.5), atol=1e-9
    )
    np.testing.assert_allclose(  # default: one pixel
        s.denoise().data, ndimage.gaussian_filter(img, 1.0), atol=1e-9
    )
    np.testing.assert_allclose(
        s.denoise("median", size=5 * S).data, ndimage.median_filter(img, 5)
    )
    np.testing.assert_allclose(
        s.remove_background(sigma=4 * S).data,
        img - ndimage.gaussian_filter(img, 4.0),
        atol=1e-9,
    )
    out = s.denoise(sigma=1.5 * S)
    ax, ay = out.axes_manager.signal_axes
    assert (ax.scale, ax.offset, ay.scale, ay.offset) == (sx, OX, sy, OY)


@pytest.mark.parametrize("sx, sy", SCALES.values(), ids=list(SCALES))
def test_targets_at_calibrated_positions_label_the_sublattices(sx, sy):
    # the A atom at the image centre (50, 50) sits on a pixel centre, so the
    # target cut around it is centred on it (a target is cut around the
    # nearest pixel; an atom off a pixel centre would shift every centroid)
    img, truth = make_lattice_image(
        (101, 101),
        spacing=14,
        sigma=2.2,
        lattice="perovskite",
        sublattice_peaks=(300, 90),
        noise=None,
    )
    s = image(img, sx, sy)
    tx, ty = cal(truth["x"], truth["y"], sx, sy)
    lab = truth["sublattice"]
    # one A and one B atom near the centre, given by their calibrated positions
    d = np.hypot(truth["x"] - 50, truth["y"] - 50)
    a = np.flatnonzero(lab == 0)[np.argmin(d[lab == 0])]
    b = np.flatnonzero(lab == 1)[np.argmin(d[lab == 1])]
    assert (truth["x"][a], truth["y"][a]) == (50, 50)
    found = s.find_atoms(
        separation=14 * S,
        target=[(float(tx[a]), float(ty[a])), (float(tx[b]), float(ty[b]))],
    )
    inner = (
        np.minimum.reduce([truth["x"], truth["y"], 100 - truth["x"], 100 - truth["y"]])
        > 5
    )
    dist, j = match(found.get_column("x"), found.get_column("y"), tx, ty)
    assert np.all(dist[inner] < 0.5 * S)
    np.testing.assert_array_equal(found.get_column("sublattice")[j], lab)
    assert set(lab) == {0, 1}


@pytest.mark.parametrize("sx, sy", SCALES_X.values(), ids=list(SCALES_X))
def test_pixel_positions_csv_and_markers(sx, sy):
    px = np.array([3.0, 10.25, 17.5, 30.0])
    py = np.array([4.0, 9.75, 21.0, 2.5])
    g = grid(40, 30, sx, sy)
    t = table(px, py, g, {"k": [1, 2, 3, 4]})
    x, y = cal(px, py, sx, sy)
    np.testing.assert_allclose(t.get_column("x"), x, rtol=0, atol=1e-12)
    np.testing.assert_allclose(t.get_column("y"), y, rtol=0, atol=1e-12)
    gx, gy = t.get_pixel_positions()
    np.testing.assert_allclose(gx, px, atol=1e-9)
    np.testing.assert_allclose(gy, py, atol=1e-9)

    df = pd.read_csv(io.StringIO(t.to_csv(None)))
    assert list(df.columns) == ["atom", f"x [{UNITS}]", f"y [{UNITS}]", "k"]
    np.testing.assert_allclose(df[f"x [{UNITS}]"], x, atol=1e-12)
    np.testing.assert_allclose(df[f"y [{UNITS}]"], y, atol=1e-12)

    m = t.to_markers()
    np.testing.assert_allclose(np.asarray(m.kwargs["offsets"]), np.c_[x, y])
    # default size: 0.3 x the median nearest-neighbour distance, calibrated
    p = np.c_[px, py] * S
    nn = np.median(cKDTree(p).query(p, k=2)[0][:, 1])
    assert np.asarray(m.kwargs["sizes"]).ravel()[0] == pytest.approx(0.3 * nn)
    assert m.kwargs.get("units") == "x"

    # a single atom (no neighbour): 3 pixels, calibrated
    one = table(px[:1], py[:1], g).to_markers()
    assert np.asarray(one.kwargs["sizes"]).ravel()[0] == pytest.approx(3 * S)


# ------------------------------------------------------------ neighbourhoods
@pytest.fixture(scope="module", params=list(SCALES), ids=list(SCALES))
def rect_nb(request):
    """Neighbourhoods (k = 4) of a rectangular lattice, periods 8 and 12 px."""
    sx, sy = SCALES[request.param]
    g = grid(128, 96, sx, sy)
    px, py = rect_lattice()
    atoms = table(px, py, g)
    nb = atoms.get_neighbourhoods(n_neighbours=4, border=10.5 * S)
    return nb, atoms, px, py, sx, sy


def test_neighbour_vectors_and_border_are_calibrated(rect_nb):
    nb, atoms, px, py, sx, sy = rect_nb
    # centres: at least `border` (10.5 px) from the edges of the image's
    # pixels, -0.5 .. 127.5 and -0.5 .. 95.5 px (x = 10.25 is 10.75 px in)
    edge = np.minimum.reduce([px + 0.5, 127.5 - px, py + 0.5, 95.5 - py])
    want = np.flatnonzero(edge >= 10.5)
    assert 10.25 in px[want] and 2.25 not in px[want]
    np.testing.assert_array_equal(np.sort(nb.centre_indices), want)

    # vectors: by brute force, the 4 nearest neighbours in calibrated units
    x, y = cal(px, py, sx, sy)
    v = nb.get_vectors("image")
    assert v.shape == (len(want), 4, 2)
    for row, c in zip(v, nb.centre_indices):
        d = np.hypot(x - x[c], y - y[c])
        near = np.argsort(d)[1:5]
        hand = np.c_[x[near] - x[c], y[near] - y[c]]
        key = lambda a: np.lexsort(np.round(a.T, 9))  # noqa: E731
        np.testing.assert_allclose(row[key(row)], hand[key(hand)], atol=1e-12)
    # i.e. (±8 px, 0) and (0, ±12 px) times the scale
    assert sorted(np.round(np.abs(v[0]).max(axis=0) / S, 9)) == [8.0, 12.0]

    inv = nb.get_invariants()
    bonds = np.c_[[inv.get_column(f"bond_{j}") for j in range(1, 5)]].T
    np.testing.assert_allclose(bonds, [[8 * S, 8 * S, 12 * S, 12 * S]] * len(want))
    assert inv.units["bond_1"] == UNITS
    np.testing.assert_allclose(inv.get_column("polar"), 0, atol=1e-12)


def test_vector_histogram_extent_and_counts(rect_nb):
    nb, atoms, px, py, sx, sy = rect_nb
    h = nb.get_vector_histogram(bins=(41, 31))
    # default extent: ±1.05 x the largest component (12 px), calibrated
    m = 1.05 * 12 * S
    ax, ay = h.axes_manager.signal_axes
    assert (ax.name, ay.name, ax.units, ay.units) == ("dx", "dy", UNITS, UNITS)
    assert ax.scale == pytest.approx(2 * m / 41)
    assert ay.scale == pytest.approx(2 * m / 31)
    assert ax.offset == pytest.approx(-m + m / 41)
    assert ay.offset == pytest.approx(-m + m / 31)
    # counts: numpy's histogram of the hand vectors on the same edges
    x, y = cal(px, py, sx, sy)
    hand = []
    for c in nb.centre_indices:
        d = np.hypot(x - x[c], y - y[c])
        for n in np.argsort(d)[1:5]:
            hand.append((x[n] - x[c], y[n] - y[c]))
    hand = np.array(hand)
    want, _, _ = np.histogram2d(
        hand[:, 1], hand[:, 0], bins=(31, 41), range=[[-m, m], [-m, m]]
    )
    np.testing.assert_array_equal(h.data, want)
    # the bin at (+8 px, 0) holds one vector per centre
    i = int(np.floor((8 * S + m) / (2 * m / 41)))
    j = int(np.floor((0 + m) / (2 * m / 31)))
    assert h.data[j, i] == len(nb.centre_indices)
    assert ax.offset + i * ax.scale == pytest.approx(8 * S, abs=ax.scale / 2)


def test_cluster_fft_frequency_axes(rect_nb):
    nb, atoms, px, py, sx, sy = rect_nb
    nb.cluster_analysis(n_clusters=1)
    fft = nb.get_cluster_fft()
    kx_ax, ky_ax = fft.axes_manager.signal_axes
    assert (kx_ax.units, ky_ax.units) == (f"1/{UNITS}", f"1/{UNITS}")
    # numpy's convention for the shifted frequencies, d = the pixel size
    np.testing.assert_allclose(
        kx_ax.axis, np.fft.fftshift(np.fft.fftfreq(128, d=S)), rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(
        ky_ax.axis, np.fft.fftshift(np.fft.fftfreq(96, d=S)), rtol=0, atol=1e-9
    )
    p = fft.data[0]
    # zero frequency: the global maximum of a power spectrum of positive weights
    j0, i0 = np.unravel_index(np.argmax(p), p.shape)
    assert kx_ax.axis[i0] == pytest.approx(0, abs=1e-12)
    assert ky_ax.axis[j0] == pytest.approx(0, abs=1e-12)
    # first spots of the lattice: k = 1 / a along each axis, a = 8 and 12 px
    row = np.where(np.abs(np.arange(128) - i0) > 3, p[j0], 0)
    col = np.where(np.abs(np.arange(96) - j0) > 3, p[:, i0], 0)
    kx = abs(kx_ax.axis[np.argmax(row)])
    ky = abs(ky_ax.axis[np.argmax(col)])
    assert abs(kx - 1 / (8 * S)) <= 0.5 * kx_ax.scale, (kx, 1 / (8 * S))
    assert abs(ky - 1 / (12 * S)) <= 0.5 * ky_ax.scale, (ky, 1 / (12 * S))
    # an explicit (odd) FFT size changes the sampling of k, not where the
    # spots are; zero frequency is then the pixel n // 2
    big = nb.get_cluster_fft(shape=(119, 161))
    bx, by = big.axes_manager.signal_axes
    np.testing.assert_allclose(
        bx.axis, np.fft.fftshift(np.fft.fftfreq(161, d=S)), rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(
        by.axis, np.fft.fftshift(np.fft.fftfreq(119, d=S)), rtol=0, atol=1e-9
    )
    q = big.data[0]
    j0, i0 = np.unravel_index(np.argmax(q), q.shape)
    assert (j0, i0) == (119 // 2, 161 // 2)
    assert bx.axis[i0] == pytest.approx(0, abs=1e-12)
    row = np.where(np.abs(np.arange(161) - i0) > 3, q[j0], 0)
    assert abs(abs(bx.axis[np.argmax(row)]) - 1 / (8 * S)) <= 0.5 * bx.scale
    col = np.where(np.abs(np.arange(119) - j0) > 3, q[:, i0], 0)
    assert abs(abs(by.axis[np.argmax(col)]) - 1 / (12 * S)) <= 0.5 * by.scale


def test_point_pattern_fft_convention():
    """Spots nx / a bins from (ny // 2, nx // 2); values = |DFT|² by hand."""
    # odd and even sizes; periods 4 (x) and 3 (y) px
    ny, nx = 27, 40
    yy, xx = np.mgrid[1:ny:3, 2:nx:4].astype(float)
    n = xx.size
    p = point_patterns.point_pattern_fft(xx.ravel(), yy.ravel(), (ny, nx), window=False)
    # zero frequency at (ny // 2, nx // 2): the squared number of points
    assert p[ny // 2, nx // 2] == pytest.approx(n**2)
    fx = np.fft.fftshift(np.fft.fftfreq(nx))  # cycles per pixel
    fy = np.fft.fftshift(np.fft.fftfreq(ny))
    # direct DFT of unit points at the (integer) positions
    ph = np.exp(
        -2j
        * np.pi
        * (
            fx[None, None, :] * xx.ravel()[:, None, None]
            + fy[None, :, None] * yy.ravel()[:, None, None]
        )
    ).sum(axis=0)
    np.testing.assert_allclose(p, np.abs(ph) ** 2, rtol=1e-9, atol=1e-6)
    # the first spots: nx / 4 bins left and right, ny / 3 above and below
    # (a point lattice's harmonics are as strong as zero frequency)
    assert p[ny // 2, nx // 2 + nx // 4] == pytest.approx(n**2)
    assert p[ny // 2, nx // 2 - nx // 4] == pytest.approx(n**2)
    assert p[ny // 2 + ny // 3, nx // 2] == pytest.approx(n**2)
    assert p[ny // 2 - ny // 3, nx // 2] == pytest.approx(n**2)
    assert fx[nx // 2 + nx // 4] == pytest.approx(1 / 4)
    assert fy[ny // 2 - ny // 3] == pytest.approx(-1 / 3)
    assert p[ny // 2, nx // 2 + nx // 4 - 1] < 1e-6 * n**2

    # fractional positions: bilinear weights on the 4 pixels, Hann window
    x = np.array([2.25, 7.5, 11.0])
    y = np.array([3.5, 1.75, 8.0])
    img = np.zeros((10, 13))
    for a, b in zip(x, y):
        a0, b0 = int(a), int(b)
        fa, fb = a - a0, b - b0
        img[b0, a0] += (1 - fa) * (1 - fb)
        img[b0, a0 + 1] += fa * (1 - fb)
        img[b0 + 1, a0] += (1 - fa) * fb
        img[b0 + 1, a0 + 1] += fa * fb
    img *= np.outer(np.hanning(10), np.hanning(13))
    want = np.fft.fftshift(np.abs(np.fft.fft2(img)) ** 2)
    got = point_patterns.point_pattern_fft(x, y, (10, 13))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------- maps
def test_map_axes_values_and_max_distance(rect_nb):
    nb, atoms, px, py, sx, sy = rect_nb
    c = nb.centre_indices
    values = 2.0 + 1.5 * np.arange(len(c))
    for m in (nb.get_map(values), nb.get_map(values, max_distance=0.2)):
        ax, ay = m.axes_manager.signal_axes
        assert (ax.size, ax.scale, ax.offset, ax.units) == (128, sx, OX, UNITS)
        assert (ay.size, ay.scale, ay.offset, ay.units) == (96, sy, OY, UNITS)
        # the pixel at each centre's calibrated position holds its value
        x, y = cal(px[c], py[c], sx, sy)
        cols = np.rint((x - OX) / sx).astype(int)
        rows = np.rint((y - OY) / sy).astype(int)
        np.testing.assert_array_equal(m.data[rows, cols], values)
        # 3 px right of a centre (0.15 nm): still its cell; 4 px right
        # (3.75 px from it, 4.25 px from the next centre): its cell, 5 px
        # right: the next centre's (each row of centres runs left to right)
        np.testing.assert_array_equal(m.data[rows, cols + 3], values)
        np.testing.assert_array_equal(m.data[rows, cols + 4], values)
        nxt = np.flatnonzero(np.diff(rows) == 0)  # a centre to the right
        np.testing.assert_array_equal(m.data[rows[nxt], cols[nxt] + 5], values[nxt + 1])
    # 5 px (0.25 nm) below a centre: inside the default max_distance (the
    # first neighbour distance, 8 px), outside max_distance = 0.2 nm (4 px)
    below = nb.get_map(values).data[rows + 5, cols]
    np.testing.assert_array_equal(below, values)
    assert np.isnan(nb.get_map(values, max_distance=0.2).data[rows + 5, cols]).all()
    np.testing.assert_array_equal(
        nb.get_map(values, max_distance=0.3).data[rows + 5, cols], values
    )


@pytest.mark.parametrize("step", [2, 3, 5])
def test_map_step_samples_the_full_map(rect_nb, step):
    """``step`` gives the full map's pixels [::step, ::step] (128 x 96 is not
    a multiple of 3 or 5: the last, partial step is kept), on axes whose
    values are those pixels' calibrated positions, with the same cut."""
    nb, atoms, px, py, sx, sy = rect_nb
    values = 2.0 + 1.5 * np.arange(len(nb.centre_indices))
    for kw in ({}, {"max_distance": 0.2}):
        full = nb.get_map(values, **kw)
        m = nb.get_map(values, step=step, **kw)
        np.testing.assert_array_equal(m.data, full.data[::step, ::step])
        for a, f in zip(m.axes_manager.signal_axes, full.axes_manager.signal_axes):
            np.testing.assert_allclose(a.axis, f.axis[::step], rtol=0, atol=1e-12)
            assert a.units == f.units
    with pytest.raises(ValueError, match="step"):
        nb.get_map(values, step=0)


# ----------------------------------------------------------------------- drift
@pytest.fixture(scope="module")
def drift_stack():
    frames, truth = make_drift_stack(
        n_frames=3, shape=(96, 96), spacing=16, drift=(6.3, -4.1), noise=None, seed=0
    )
    return frames, truth


@pytest.mark.parametrize("sx, sy", SCALES_X.values(), ids=list(SCALES_X))
def test_drift_is_calibrated_per_axis(drift_stack, sx, sy):
    frames, truth = drift_stack
    s = image(frames, sx, sy)
    t = s.axes_manager.navigation_axes[0]
    t.name, t.scale, t.offset, t.units = "time", 0.5, 2.0, "s"
    want = truth["shifts"] * [sx, sy]  # calibrated (dx, dy) of each frame
    d = s.estimate_drift()
    # on the stack's calibrated navigation axis
    (dt,) = d.axes_manager.navigation_axes
    assert (dt.name, dt.scale, dt.offset, dt.units) == ("time", 0.5, 2.0, "s")
    np.testing.assert_allclose(d.data[:, :2], want, atol=0.1 * S)

    # atoms: refined, linked with the calibrated drift (larger than the default
    # max_displacement: a wrong conversion leaves the frames unlinked)
    atoms = _refine(
        s,
        s.find_atoms(separation=16 * S, show_progressbar=False),
        show_progressbar=False,
    )
    # converged atoms at least 6 px inside their frame (edge fits are biased)
    xp, yp = atoms.get_pixel_positions()
    keep = (atoms.get_column("converged") == 1) & (
        np.minimum.reduce([xp, yp, 95 - xp, 95 - yp]) >= 6
    )
    atoms = atoms.select(keep)
    linked = atoms.link_frames(shifts=want)
    n0 = int(np.sum(atoms.get_frames() == 0))
    tracks = linked.get_column("track")
    frames_of = linked.get_frames()
    in_all = [t for t in np.unique(tracks) if len(set(frames_of[tracks == t])) == 3]
    assert len(in_all) >= n0 // 2
    da = linked.estimate_drift()
    np.testing.assert_allclose(da.data[:, :2], want, atol=0.05 * S)
    assert np.all(da.data[1:, 2:] >= 0)  # standard errors are lengths
    np.testing.assert_allclose(
        s.estimate_drift("atoms", atoms=linked).data[:, :2], want, atol=0.05 * S
    )
    disp = linked.get_displacements(0, 2)
    np.testing.assert_allclose(disp.get_column("dx"), want[2, 0], atol=0.1 * S)
    np.testing.assert_allclose(disp.get_column("dy"), want[2, 1], atol=0.1 * S)

    # aligned mean: its atoms are where frame 0's are (calibrated), and its
    # axes keep the calibration of the cropped pixels
    mean = s.sum_frames(drift=want)
    np.testing.assert_allclose(
        mean.metadata.Alignment.translations, want, rtol=0, atol=1e-12
    )
    ax, ay = mean.axes_manager.signal_axes
    assert (ax.scale, ay.scale) == (sx, sy)
    # the crop starts at a whole pixel of the reference frame
    kx, ky = (ax.offset - OX) / sx, (ay.offset - OY) / sy
    assert kx == pytest.approx(round(kx)) and ky == pytest.approx(round(ky))
    found = _refine(mean, mean.find_atoms(separation=16 * S))
    tx, ty = cal(truth["x"][0], truth["y"][0], sx, sy)
    inside = (
        np.abs(tx - (ax.offset + 0.5 * (ax.size - 1) * sx)) < (ax.size / 2 - 6) * S
    ) & (np.abs(ty - (ay.offset + 0.5 * (ay.size - 1) * sy)) < (ay.size / 2 - 6) * S)
    d, _ = match(found.get_column("x"), found.get_column("y"), tx[inside], ty[inside])
    assert inside.sum() >= 9
    assert d.max() < 0.15 * S


# -------------------------------------------------------------------- spectra
# Survey: 80 x 72 px; atoms on a square lattice of 8 px at 4 + 8 i, 4 + 8 j
# (Voronoi cells: 8 x 8 px squares with edges at multiples of 8). The SI
# scans survey px 18 .. 50 (x) and 8 .. 48 (y) with 16 x 10 SI pixels of
# 2 x 4 survey px, so every SI pixel lies in exactly one cell: in rows
# y = 12 .. 44, the atoms at x = 28, 36, 44 have 4 x 2 = 8 SI px in the SI,
# the one at x = 20 has 6 (its cell is cut by the SI's edge), the one at
# x = 52 (outside the SI) 2, the others none.
SURVEY = (80, 72)  # nx, ny
REGION_PX = (18.0, 8.0, 50.0, 48.0)  # left, top, right, bottom (survey px)
SI_NY, SI_NX = 10, 16
SI_PX = (2.0, 4.0)  # survey px per SI pixel along x, y
E0, DE, NE = 470.0, 0.5, 240  # energy axis (eV)
ONSET = 531.0  # the step of every spectrum starts at this channel


def _si_arrays():
    """Spectra ``A E^-3 + H [E >= 531]`` with A, H known per SI pixel."""
    jj, ii = np.mgrid[0:SI_NY, 0:SI_NX]
    a = 1e8 * (1 + 0.1 * ((ii + 3 * jj) % 5))
    h = 1.0 + ii + 10.0 * jj
    e = E0 + DE * np.arange(NE)
    data = a[..., None] * e**-3.0 + h[..., None] * (e >= ONSET)
    return data, a, h, e


def _si(kind="plain"):
    """The SI as an EELSSpectrum (energy axis calibrated), navigation
    uncalibrated unless ``kind == "si_axes"``."""
    data, *_ = _si_arrays()
    si = hs.signals.Signal1D(data)
    si.set_signal_type("EELS")
    ex = si.axes_manager.signal_axes[0]
    ex.offset, ex.scale, ex.units, ex.name = E0, DE, "eV", "Energy loss"
    si.metadata.General.title = "SI"
    if kind == "si_axes":  # the SI's own axes in the survey's units
        ax, ay = si.axes_manager.navigation_axes
        ax.offset, ax.scale, ax.units = OX + S * (REGION_PX[0] + 1), 2 * S, UNITS
        ay.offset, ay.scale, ay.units = OY + S * (REGION_PX[1] + 2), 4 * S, UNITS
    if kind == "metadata":  # DigitalMicrograph: (top, left, bottom, right),
        # survey pixel i spanning i .. i + 1
        left, top, right, bottom = REGION_PX
        si.original_metadata.set_item(
            "ImageList.TagGroup0.ImageTags.SI.Acquisition.Survey Image."
            "Spectrum Image Rect",
            (top + 0.5, left + 0.5, bottom + 0.5, right + 0.5),
        )
    return si


def _survey_atoms(sy=S):
    xx, yy = np.meshgrid(4.0 + 8 * np.arange(10), 4.0 + 8 * np.arange(9))
    px, py = xx.ravel(), yy.ravel()
    return table(px, py, grid(*SURVEY, S, sy)), px, py


def _region(sy=S, px_region=REGION_PX):
    left, top, right, bottom = px_region
    (l_, r_), (t_, b_) = cal([left, right], [top, bottom], S, sy)
    return (float(l_), float(t_), float(r_), float(b_))


def _hand_cells(px, py, left=REGION_PX[0], top=REGION_PX[1]):
    """Per atom: the SI pixels (flat indices) of its cell, by geometry."""
    jj, ii = np.mgrid[0:SI_NY, 0:SI_NX]
    cx = left + SI_PX[0] * (ii.ravel() + 0.5)  # SI pixel centres, survey px
    cy = top + SI_PX[1] * (jj.ravel() + 0.5)
    owner = np.argmin(np.hypot(cx[:, None] - px, cy[:, None] - py), axis=1)
    return [np.flatnonzero(owner == k) for k in range(len(px))]


@pytest.fixture(scope="module")
def hand():
    """Hand sums, areas, mean step heights and edge intensities per atom."""
    data, a, h, e = _si_arrays()
    atoms, px, py = _survey_atoms()
    cells = _hand_cells(px, py)
    flat, hflat = data.reshape(-1, NE), h.ravel()
    sums = np.array([flat[c].sum(axis=0) for c in cells])
    area = np.array([len(c) for c in cells], float)
    mean_h = np.array([hflat[c].mean() if len(c) else np.nan for c in cells])
    return {"sums": sums, "area": area, "mean_h": mean_h, "e": e, "px": px, "py": py}


@pytest.mark.parametrize(
    "source, sy, shift",
    [
        ("user", S, None),
        ("si_axes", S, None),
        ("metadata", S, None),
        ("user", S, (6, -2)),
        ("user", -S, None),
        ("user", -S, (6, -2)),
    ],
    ids=["user", "si_axes", "metadata", "user-shift", "flipped_y", "flipped_y-shift"],
)
def test_registration_maps_atoms_to_si_pixels(source, sy, shift):
    atoms, px, py = _survey_atoms(sy)
    si = _si(source)
    region = _region(sy) if source == "user" else None
    dx, dy = (0, 0) if shift is None else shift  # survey px
    cal_shift = None if shift is None else (dx * S, dy * sy)
    r = atoms.register_to_spectrum_image(si, region=region, shift=cal_shift)
    # SI pixel centres at integers: i = (x - left) / 2 - 0.5, j = (y - top) / 4 - 0.5
    i = (px - REGION_PX[0] - dx) / SI_PX[0] - 0.5
    j = (py - REGION_PX[1] - dy) / SI_PX[1] - 0.5
    np.testing.assert_allclose(r.get_column("si_x"), i, atol=1e-9)
    np.testing.assert_allclose(r.get_column("si_y"), j, atol=1e-9)
    inside = (i >= -0.5) & (i < SI_NX - 0.5) & (j >= -0.5) & (j < SI_NY - 0.5)
    np.testing.assert_array_equal(r.get_column("in_si"), inside)
    info = r.metadata.AtomPositions.spectrum_image
    left, top, right, bottom = REGION_PX
    want = _region(sy, (left + dx, top + dy, right + dx, bottom + dy))
    np.testing.assert_allclose(info.region, want, atol=1e-9)


@pytest.mark.parametrize("normalise", [False, True])
def test_atom_spectra_are_the_cells_sums(hand, normalise):
    atoms, _, _ = _survey_atoms()
    si = _si()
    sp = atoms.get_spectra(si, region=_region(), normalise=normalise)
    assert type(sp).__name__ == "EELSSpectrum"
    ex = sp.axes_manager.signal_axes[0]
    assert (ex.offset, ex.scale, ex.units, ex.size) == (E0, DE, "eV", NE)
    assert sp.axes_manager.navigation_axes[0].name == "atom"
    # only the atoms whose cell the SI covers, with their row indices
    ok = hand["area"] > 0
    idx = np.asarray(sp.metadata.AtomSpectra.atom_indices)
    np.testing.assert_array_equal(idx, np.flatnonzero(ok))
    np.testing.assert_array_equal(sp.axes_manager["atom"].axis, idx)
    area = np.asarray(sp.metadata.AtomSpectra.area)
    np.testing.assert_allclose(area, hand["area"][ok], rtol=1e-12)  # SI pixels
    assert sorted(set(np.round(area, 9))) == [2.0, 6.0, 8.0]
    want = hand["sums"][ok] / (hand["area"][ok, None] if normalise else 1)
    np.testing.assert_allclose(sp.data, want, rtol=1e-12)
    assert np.isfinite(sp.data).all()
    # the documented radius cells: discs of 1 SI pixel (2 px) around each atom
    # hold its own SI pixels only (no SI pixel centre is nearer than 1 px)


def test_class_and_cluster_spectra_are_area_weighted_means(hand):
    atoms, px, py = _survey_atoms()
    si = _si()
    lab = ((px // 8 + py // 8) % 2).astype(int)  # checkerboard
    m = atoms.get_class_spectra(si, lab, region=_region())
    ok = hand["area"] > 0
    for k in (0, 1):
        sel = ok & (lab == k)
        want = hand["sums"][sel].sum(axis=0) / hand["area"][sel].sum()
        np.testing.assert_allclose(m.data[k], want, rtol=1e-12)
    md = m.metadata.ClassSpectra
    np.testing.assert_array_equal(md.n_atoms, [np.sum(ok & (lab == k)) for k in (0, 1)])
    np.testing.assert_allclose(
        md.area, [hand["area"][lab == k].sum() for k in (0, 1)], rtol=1e-12
    )
    ex = m.axes_manager.signal_axes[0]
    assert (ex.offset, ex.scale, ex.units) == (E0, DE, "eV")

    # per cluster of the neighbourhood centres: only the centres' cells count
    nb = atoms.get_neighbourhoods(n_neighbours=4)
    c = nb.centre_indices
    clab = (px[c] > 30).astype(int)
    cm = nb.get_cluster_spectra(si, labels=clab, region=_region())
    for k in (0, 1):
        sel = c[(clab == k) & ok[c]]
        want = hand["sums"][sel].sum(axis=0) / hand["area"][sel].sum()
        np.testing.assert_allclose(cm.data[k], want, rtol=1e-12)


def _hand_intensity(hand, window):
    """Mean step height x the number of channels of ``si.isig[start:end]``
    (HyperSpy's float slicing: nearest channel, end excluded): the sum of the
    counts of a binned (EELS) axis above the background."""
    e = hand["e"]
    i0, i1 = (int(round((v - E0) / DE)) for v in window)
    return hand["mean_h"] * np.sum(e[i0:i1] >= ONSET)


def _exspy_intensity(si, hand, window, background):
    """exspy's own edge intensity of the hand cell-mean spectra: its
    documented ``remove_background`` + ``integrate1D`` on the same windows."""
    ok = hand["area"] > 0
    s = hs.signals.Signal1D(hand["sums"][ok] / hand["area"][ok, None])
    s.set_signal_type("EELS")
    ex = s.axes_manager.signal_axes[0]
    ex.offset, ex.scale, ex.units = E0, DE, "eV"
    assert ex.is_binned
    s = s.remove_background(
        signal_range=background, background_type="PowerLaw", show_progressbar=False
    )
    out = np.full(len(ok), np.nan)
    out[ok] = s.isig[window[0] : window[1]].integrate1D(-1).data
    return out


def test_spectral_quantity_is_exspys_edge_intensity(hand):
    atoms, px, py = _survey_atoms()
    si = _si()
    t = atoms.get_spectral_quantity(
        si, window=(540.25, 550.25), background=(490, 525), region=_region()
    )
    name = "window_540.25_550.25"
    # binned EELS axis: counts (exspy's integrate1D sums), not counts x eV
    assert t.units[name] == "counts/SI px"
    got = t.get_column(name)
    want = _exspy_intensity(si, hand, (540.25, 550.25), (490, 525))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_array_equal(np.isnan(got), hand["area"] == 0)
    # = 20 channels x the mean step height, up to the power-law estimate's
    # bias (HyperSpy's fast two-area estimate, not a least-squares fit)
    hand_v = _hand_intensity(hand, (540.25, 550.25))
    np.testing.assert_allclose(hand_v, 20 * hand["mean_h"], rtol=1e-12)
    np.testing.assert_allclose(got, hand_v, rtol=0.01)

    # an edge by name: onset 532 eV (O K), window onset - 2 .. onset + 30,
    # power law fitted at onset - 50 .. onset - 5 (docs/spectra.md)
    t = atoms.get_spectral_quantity(si, edge="O_K", region=_region())
    got = t.get_column("O_K")
    np.testing.assert_allclose(
        got, _exspy_intensity(si, hand, (530.0, 562.0), (482.0, 527.0)), rtol=1e-6
    )
    np.testing.assert_allclose(got, 62 * hand["mean_h"], rtol=0.01)
    md = t.metadata.AtomPositions.spectral_quantities.O_K
    assert list(md.window) == [530.0, 562.0] and list(md.background) == [482.0, 527.0]

    # not binned (a plain Signal1D): HyperSpy integrates over energy (Simpson)
    plain = hs.signals.Signal1D(si.data)
    plain.axes_manager.signal_axes[0].update_from(
        si.axes_manager.signal_axes[0], ("offset", "scale", "units")
    )
    t = atoms.get_spectral_quantity(
        plain, window=(540.25, 550.25), background=(490, 525), region=_region()
    )
    assert t.units[name] == "counts eV/SI px"
    # 20 channels: Simpson over 19 intervals of 0.5 eV of the step
    np.testing.assert_allclose(t.get_column(name), 9.5 * hand["mean_h"], rtol=0.01)

    # the map: each centre's value on its Voronoi cell of the survey grid
    nb = atoms.get_neighbourhoods(n_neighbours=4)
    c = nb.centre_indices
    sm = nb.get_spectral_map(
        si, window=(540.25, 550.25), background=(490, 525), region=_region()
    )
    ax, ay = sm.axes_manager.signal_axes
    assert (ax.size, ax.scale, ax.offset, ax.units) == (SURVEY[0], S, OX, UNITS)
    assert (ay.size, ay.scale, ay.offset, ay.units) == (SURVEY[1], S, OY, UNITS)
    rows, cols = py[c].astype(int), px[c].astype(int)
    want = _exspy_intensity(si, hand, (540.25, 550.25), (490, 525))[c]
    np.testing.assert_allclose(sm.data[rows, cols], want, rtol=1e-6)
    np.testing.assert_allclose(sm.data[rows + 3, cols - 3], want, rtol=1e-6)
    assert np.isfinite(want).sum() >= 6 and np.isnan(want).sum() >= 6


@pytest.mark.parametrize("sy", [S, -S], ids=["plain", "flipped_y"])
def test_si_shift_is_calibrated(sy):
    img, _ = make_lattice_image((96, 96), spacing=12.0, noise=None)
    survey = image(img, S, sy)
    atoms = survey.find_atoms(separation=12 * S)
    si = hs.signals.Signal1D(np.zeros((10, 6, 4)))
    # the SI's nominal region: survey px 30.5 .. 60.5 (x), 20.5 .. 70.5 (y);
    # it really was 1 px right and 2 px down
    region = _region(sy, (30.5, 20.5, 60.5, 70.5))
    haadf = img[23:73, 32:62]
    (dx, dy), score = estimate_si_shift(
        atoms, survey, haadf, si, region=region, search=5 * S
    )
    assert score > 0.99
    assert dx == pytest.approx(1 * S, abs=0.05 * S)
    assert dy == pytest.approx(2 * sy, abs=0.05 * S)
    # the methods are the functions
    assert atoms.estimate_si_shift(survey, haadf, si, region=region, search=5 * S) == (
        (dx, dy),
        score,
    )
    reg = estimate_si_registration(
        atoms, survey, haadf, si, region=region, rotation_range=(-1, 1), search=5 * S
    )
    assert (
        atoms.estimate_si_registration(
            survey, haadf, si, region=region, rotation_range=(-1, 1), search=5 * S
        )
        == reg
    )
    assert reg["shift"][0] == pytest.approx(1 * S, abs=0.1 * S)
    assert reg["shift"][1] == pytest.approx(2 * sy, abs=0.1 * S)
    # registered with that shift, the atoms land where the HAADF saw them
    r = atoms.register_to_spectrum_image(si, region=region, shift=(dx, dy))
    xp, yp = atoms.get_pixel_positions()
    np.testing.assert_allclose(r.get_column("si_x"), (xp - 31.5) / 5 - 0.5, atol=0.02)
    np.testing.assert_allclose(r.get_column("si_y"), (yp - 22.5) / 5 - 0.5, atol=0.02)


def test_cluster_fft_max_frequency_keeps_the_window_of_the_whole_spectrum(rect_nb):
    """A cropped spectrum is the whole one's window |k| <= max_frequency, on
    the same frequencies (odd and even sizes), with the whole spectrum's
    periodicity scores."""
    nb, atoms, px, py, sx, sy = rect_nb
    nb.cluster_analysis(n_clusters=2, random_state=0)
    for shape in (None, (119, 161)):
        whole = nb.get_cluster_fft(shape=shape)
        kmax = 1.5 / (8 * S)  # past the first spots along x (k = 1 / 8 px)
        cut = nb.get_cluster_fft(shape=shape, max_frequency=kmax)
        wx, wy = whole.axes_manager.signal_axes
        cx, cy = cut.axes_manager.signal_axes
        ix = np.flatnonzero(np.abs(wx.axis) <= kmax + 1e-12)
        iy = np.flatnonzero(np.abs(wy.axis) <= kmax + 1e-12)
        assert 0 < len(ix) < wx.size and 0 < len(iy) < wy.size
        np.testing.assert_allclose(cx.axis, wx.axis[ix], rtol=0, atol=1e-9)
        np.testing.assert_allclose(cy.axis, wy.axis[iy], rtol=0, atol=1e-9)
        np.testing.assert_array_equal(cut.data, whole.data[:, iy][:, :, ix])
        assert cut.metadata.Signal.periodicity == whole.metadata.Signal.periodicity
    # a window wider than the spectrum keeps all of it
    wide = nb.get_cluster_fft(max_frequency=10 / S)
    np.testing.assert_array_equal(wide.data, nb.get_cluster_fft().data)
    with pytest.raises(ValueError, match="max_frequency"):
        nb.get_cluster_fft(max_frequency=0)
