"""The report's polarisation and strain (issue 20, point 8): measured when
they apply, each with its figure and one sentence that states the truth of
the scene (direction, sign, size), and written into atoms.csv."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from hyperspy_localcryst import report
from hyperspy_localcryst.data import synthetic_lattice

from .._helpers import calibrated_image


def _run(tmp_path, shift, lattice="perovskite", name="out"):
    s = synthetic_lattice(
        shape=(200, 240),
        spacing=14,
        sigma=2.6,
        lattice=lattice,
        sublattice_peaks=(300, 120) if lattice == "perovskite" else None,
        background=30,
        displacement=lambda x, y, sub: (shift[0] * (sub == 1), shift[1] * (sub == 1)),
        scale=0.02,
        seed=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = report.analyse(s, tmp_path / name, n_clusters=2)
    return s, summary, tmp_path / name


def test_polar_perovskite_gives_a_net_displacement_and_its_direction(tmp_path):
    """B shifted by (-0.25, +0.6) px = (-5, +12) pm: the report finds a net
    polar displacement pointing down and slightly left (112.6 deg from +x
    towards +y), within the stated standard error, and the same values in
    atoms.csv as get_polarisation gives."""
    s, summary, out = _run(tmp_path, (-0.25, 0.6))
    p = summary["polarisation"]
    assert p["net_polar"] and p["unit"] == "pm" and p["n_neighbours"] == 4
    mean, sem = np.array(p["mean"]), np.array(p["sem"])
    np.testing.assert_allclose(mean, [-5.0, 12.0], atol=max(1.0, 4 * sem.max()))
    assert "a net displacement towards 113°" in p["sentence"]
    assert (out / "polarisation.png").is_file() and (out / "strain.png").is_file()
    page = (out / "report.html").read_text()
    assert "Polarisation and strain" in page and "a net displacement" in page
    table = pd.read_csv(out / "atoms.csv")
    b = table["sublattice"] == p["sublattice"]
    dy = table.loc[b, "polarisation_dy [nm]"].to_numpy()
    assert np.nanmedian(dy) * 1000 == pytest.approx(12.0, abs=1.5)
    assert np.all(np.isnan(table.loc[~b, "polarisation_dy [nm]"]))
    assert "rotation [deg]" in table and "lattice_rotation [deg]" in table
    # strain: a homogeneous crystal, so every value is noise around zero
    st = summary["strain"]
    for c in ("exx", "eyy", "exy"):
        lo, hi = st["ranges"][c]
        assert -0.01 < lo < 0 < hi < 0.01
    assert json.loads((out / "summary.json").read_text())["strain"]["n_measured"] > 100


def test_centred_perovskite_and_one_sublattice(tmp_path):
    """Without a shift the sentence says no net displacement; a square lattice
    of one type has no polarisation (the reason is given) but a strain map."""
    _, summary, out = _run(tmp_path, (0.0, 0.0), name="centred")
    assert not summary["polarisation"]["net_polar"]
    assert "no net displacement" in summary["polarisation"]["sentence"]
    _, summary, out = _run(tmp_path, (0.0, 0.0), lattice="square", name="square")
    assert summary["polarisation"]["reason"].startswith("not measured")
    assert not (out / "polarisation.png").exists()
    assert (out / "strain.png").is_file() and "Against the median lattice" in (
        summary["strain"]["sentence"]
    )


def test_a_superstructure_of_one_type_is_not_a_polarisation(tmp_path):
    """One atom type on a square lattice whose brightness has a 2 x 2 order
    (four levels, as a charge-density wave in STM): the structure finds the
    four-site cell, the two sublattices merge two sites each, so no
    sublattice is one type on one site and the report measures no
    polarisation; it says why, and strain is still measured."""

    from hyperspy_localcryst.data.synthetic.lattices import render_gaussians

    j, i = np.mgrid[0:15, 0:17].reshape(2, -1)
    amp = np.array([[300.0, 270.0], [240.0, 210.0]])[j % 2, i % 2]
    img = render_gaussians(
        (230, 260), 12 + 14.0 * i, 10 + 14.0 * j, amp, 2.6, background=30
    )
    s = calibrated_image(np.random.default_rng(3).poisson(img).astype(float), 0.02)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = report.analyse(s, tmp_path / "cdw", n_clusters=2)
    reason = summary["polarisation"]["reason"]
    assert reason.startswith("not measured: the local cell has 4 sites")
    assert not (tmp_path / "cdw" / "polarisation.png").exists()
    assert summary["strain"]["n_measured"] > 100
