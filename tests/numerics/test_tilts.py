"""Octahedral rotations from O columns against a known truth (issue 20, 4).

Truth: a perovskite [001] cell turned by an odd angle, B at the centres of
the A cells, each B's octahedron rotated about the beam by +theta or -theta
in a checkerboard (corner-sharing), with its O columns moved rigidly; the
expected rotation of each B is the written-down +-theta."""

import warnings

import numpy as np
import pytest
from scipy.spatial import cKDTree

from hyperspy_localcryst.data.synthetic import render_gaussians
from hyperspy_localcryst.numerics import tilts

from .._helpers import calibrated_image

A = 15.6  # B-B distance, px
TURN = 17.0


def _structure(theta=4.0, n=9, centre=(130.0, 120.0)):
    t = np.deg2rad(TURN)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    i, j = np.mgrid[-n : n + 1, -n : n + 1]
    ij = np.column_stack([i.ravel(), j.ravel()]).astype(float)
    b = ij * A @ rot.T + centre
    a_sites = (ij + 0.5) * A @ rot.T + centre
    sign = np.where((ij.sum(axis=1) % 2) == 0, 1.0, -1.0)
    s = np.deg2rad(theta) * sign
    # each B owns the O to its +x and +y (of the cell): rigidly rotated
    ex = np.column_stack([np.cos(s), np.sin(s)]) @ rot.T * (A / 2)
    ey = np.column_stack([-np.sin(s), np.cos(s)]) @ rot.T * (A / 2)
    o = np.r_[b + ex, b + ey]
    return b, a_sites, o, sign


def test_exact_checkerboard_rotation():
    b, _, o, sign = _structure(theta=4.0)
    p = np.r_[b, o]
    r = tilts.octahedral_tilts(
        p[:, 0], p[:, 1], np.arange(len(b)), np.arange(len(b), len(p))
    )
    ok = np.isfinite(r["tilt"])
    assert ok.sum() > 250
    # within 0.05 deg of +-4 (the shared O of a neighbour is rotated about
    # the neighbour: 3.983 deg seen from this B, a second-order difference)
    np.testing.assert_allclose(r["tilt"][ok], 4.0 * sign[ok], atol=0.05)
    assert r["staggered"] == pytest.approx(4.0, abs=0.02) or r[
        "staggered"
    ] == pytest.approx(-4.0, abs=0.02)
    assert abs(r["uniform"]) < 0.1  # the two colours are not exactly equal in number
    # the parity is the checkerboard of the truth (up to which colour is 0)
    par = r["parity"][ok]
    assert len(set(zip(par, sign[ok]))) == 2
    # no rotation: zero everywhere
    b0, _, o0, _ = _structure(theta=0.0)
    p0 = np.r_[b0, o0]
    r0 = tilts.octahedral_tilts(
        p0[:, 0], p0[:, 1], np.arange(len(b0)), np.arange(len(b0), len(p0))
    )
    assert np.nanmax(np.abs(r0["tilt"])) < 1e-9
    with pytest.raises(ValueError, match="indices of atoms"):
        tilts.octahedral_tilts(p[:, 0], p[:, 1], [0, 10**6], [1, 2, 3, 4])


def test_signal_tilts_from_an_image():
    """An image with A, B and weak O columns (theta = 5 deg), Poisson noise:
    the B rotations (labels from the truth) are +-5 within 0.6 deg RMS, the
    checkerboard amplitude within 0.3 deg, and an x/y swap of the image
    (a transposed axis) flips the sense of rotation."""
    b, a_sites, o, sign = _structure(theta=5.0)
    shape = (240, 260)
    pts = np.r_[a_sites, b, o]
    site = np.r_[np.zeros(len(a_sites)), np.ones(len(b)), np.full(len(o), 2.0)]
    amp = np.r_[
        np.full(len(a_sites), 400.0), np.full(len(b), 260.0), np.full(len(o), 120.0)
    ]
    keep = np.all((pts > -10) & (pts < [shape[1] + 10, shape[0] + 10]), axis=1)
    clean = 20.0 + render_gaussians(shape, pts[keep, 0], pts[keep, 1], amp[keep], 1.8)
    img = np.random.default_rng(0).poisson(clean).astype(float)

    def measure(image_data, swap=False):
        s = calibrated_image(image_data, 0.025)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atoms = s.refine_atoms(s.find_atoms(separation=0.15))
        xp, yp = atoms.get_pixel_positions()
        truth = pts[keep][:, ::-1] if swap else pts[keep]
        d, j = cKDTree(truth).query(np.c_[xp, yp])
        lab = np.where(d < 1.5, site[keep][j], np.nan)
        t = atoms.add_columns({"sublattice": lab}).get_octahedral_tilts(1, 2)
        tx, ty = t.get_pixel_positions()
        d, jb = cKDTree(truth).query(np.c_[tx, ty])
        sgn = np.r_[np.zeros(len(a_sites)), sign, np.zeros(len(o))][keep][jb]
        return t, sgn

    t, sgn = measure(img)
    tilt = t.get_column("tilt")
    ok = np.isfinite(tilt)
    assert ok.sum() > 150 and t.units["tilt"] == "deg"
    assert np.sqrt(np.mean((tilt[ok] - 5.0 * sgn[ok]) ** 2)) < 0.6
    md = t.metadata.AtomPositions.tilts
    assert abs(md.staggered) == pytest.approx(5.0, abs=0.3)
    # transposed image: every B turns the other way
    t2, sgn2 = measure(img.T.copy(), swap=True)
    tilt2 = t2.get_column("tilt")
    ok2 = np.isfinite(tilt2)
    assert np.sqrt(np.mean((tilt2[ok2] + 5.0 * sgn2[ok2]) ** 2)) < 0.6


def test_abtem_abf_of_tilted_srtio3_with_every_default():
    """Physics: abTEM ABF of SrTiO3 [001] whose TiO6 octahedra are turned
    by +-6 deg in a checkerboard (a0a0c+; `benchmarks/simulate_dumbbells_
    tilts.py`, 200 kV, 21.4 mrad, ABF 10.7-21.4 mrad, Poisson), tiled 3 x 3
    (the simulation is periodic). With every default the dark contrast is
    seen, the O columns are found, `label_sublattices(3)` gives Sr, Ti-O
    and O apart (labels 0, 1, 2 by darkness), and each Ti's rotation comes
    back with the truth's sign within 0.3 deg RMS (measured 0.13 deg; the
    checkerboard amplitude 6.11 deg)."""
    from .._helpers import abtem_tiled

    s, tx, ty, cols, meta = abtem_tiled("sto_tilted_abf_abtem")
    theta = meta["theta_deg"]
    kind = np.array([c["elements"] for c in cols])
    turn = np.array([c["turn"] for c in cols])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = s.refine_atoms(s.find_atoms())
    assert atoms.metadata.AtomPositions.settings.contrast == "dark"
    x, y = atoms.get_pixel_positions()
    dist, j = cKDTree(np.c_[tx, ty]).query(np.c_[x, y])
    assert np.all(dist < 0.5)  # every column found is a true one
    assert np.sum(kind[j] == "O") >= 0.97 * np.sum(kind == "O")
    labels = atoms.label_sublattices(3).get_column("sublattice")
    want = np.select([kind[j] == "Sr", kind[j] == "OTi"], [0, 1], 2)
    assert np.array_equal(labels, want)
    t = atoms.label_sublattices(3).get_octahedral_tilts(1, 2)
    tilt = t.get_column("tilt")
    bx, by = t.get_pixel_positions()
    _, jb = cKDTree(np.c_[tx, ty]).query(np.c_[bx, by])
    ok = np.isfinite(tilt)
    assert ok.sum() >= 0.9 * np.sum(kind == "OTi")
    err = tilt[ok] - theta * turn[jb][ok]
    assert np.sqrt(np.mean(err**2)) < 0.3
    md = t.metadata.AtomPositions.tilts
    assert abs(abs(md.staggered) - theta) < 0.25 and abs(md.uniform) < 0.1
