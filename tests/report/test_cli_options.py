"""Command-line options for calibration, reader and contrast of `localcryst analyse`.

``--pixel-size``/``--units`` set the calibration of a file without one,
``--lattice-parameter`` corrects it against a known cell, ``--reader`` is passed
to ``hs.load``, ``--contrast`` to finding and refinement. The report shows the
calibration used and the measured lattice parameters. Truth: positions of a
rectangular cell drawn here on a non-square image.
"""

import functools
import json
import shutil

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_localcryst import report
from hyperspy_localcryst.cli import main
from hyperspy_localcryst.data.synthetic import render_gaussians
from hyperspy_localcryst.signals.atomic_image import AtomicImage

# a rectangular cell of 15 x 19 px turned by 9 deg (y down), one bright and
# one faint site: a at 15 px along (cos 9, sin 9)
A_PX, B_PX, TURN = 15.0, 19.0, 9.0


def _data(shape=(150, 190), seed=0):
    t = np.deg2rad(TURN)
    va = A_PX * np.array([np.cos(t), np.sin(t)])
    vb = B_PX * np.array([-np.sin(t), np.cos(t)])
    i, j = np.mgrid[-12:13, -12:13]
    base = i.ravel()[:, None] * va + j.ravel()[:, None] * vb
    centre = np.array([shape[1] / 2 + 0.3, shape[0] / 2 - 0.4])
    p = np.vstack([base, base + 0.5 * (va + vb)]) + centre
    amp = np.repeat([600.0, 250.0], len(base))
    ok = (
        (p[:, 0] > 3)
        & (p[:, 0] < shape[1] - 4)
        & (p[:, 1] > 3)
        & (p[:, 1] < shape[0] - 4)
    )
    img = render_gaussians(shape, p[ok, 0], p[ok, 1], amp[ok], 2.0, background=30.0)
    return np.random.default_rng(seed).poisson(img).astype(float)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    np.save(d / "raw.npy", _data())  # no calibration at all
    s = hs.signals.Signal2D(_data(seed=1))
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = 0.0206, "nm"  # true 0.02 nm/px: 3 % too large
    s.save(d / "off.hspy")
    return d


@pytest.fixture
def no_figures(monkeypatch):
    """The analysis without its figures (tests of what reaches the steps)."""
    from hyperspy_localcryst import report

    monkeypatch.setattr(report, "_figures", lambda *args, **kwargs: None)


def _summary(out, name):
    return json.loads((out / name / "summary.json").read_text())


def _analyse(files, tmp_path, name, *options):
    out = tmp_path / "r"
    status = main(
        ["analyse", str(files / name), "--out", str(out), "--no-progressbar"]
        + list(options)
    )
    return status, out


def test_pixel_size_and_units_calibrate_a_raw_array(
    files, tmp_path, capsys, no_figures
):
    status, out = _analyse(
        files, tmp_path, "raw.npy", "--pixel-size", "0.00659", "--units", "A"
    )
    assert status == 0
    said = capsys.readouterr().out
    assert "pixel size 0.00659 Å" in said and "lattice: a = 0.0988" in said
    s = _summary(out, "raw")
    assert s["calibration"]["pixel_size"] == [0.00659, 0.00659]
    assert s["calibration"]["units"] == "Å" and s["units"] == "Å"
    assert s["calibration"]["source"].startswith("pixel size given")
    # the cell measured on the atoms is the drawn one, in Å
    all_atoms = s["lattice"][0]
    assert all_atoms["atoms"] == "all atoms"
    assert all_atoms["a"] == pytest.approx(A_PX * 0.00659, rel=2e-3)
    assert all_atoms["b"] == pytest.approx(B_PX * 0.00659, rel=2e-3)
    assert all_atoms["gamma"] == pytest.approx(90, abs=0.3)
    assert all_atoms["orientation"] == pytest.approx(TURN, abs=0.3)
    page = (out / "raw" / "report.html").read_text()
    assert "Lattice parameters (measured)" in page and "0.00659 Å" in page


def test_lattice_parameter_corrects_the_file_calibration(
    files, tmp_path, capsys, no_figures
):
    a_nm, b_nm = A_PX * 0.02, B_PX * 0.02
    status, out = _analyse(
        files, tmp_path, "off.hspy", "--lattice-parameter", f"{a_nm},{b_nm}"
    )
    assert status == 0
    assert "correction factor 0.97" in capsys.readouterr().out
    s = _summary(out, "off")
    cal = s["calibration"]
    assert cal["source"] == "lattice parameter"
    assert cal["factor_x"] == pytest.approx(1 / 1.03, rel=1e-3)
    assert cal["pixel_size"][0] == pytest.approx(0.02, rel=1e-3)
    assert cal["original_scale"] == [0.0206, 0.0206]
    row = s["lattice"][0]
    assert row["a"] == pytest.approx(a_nm, rel=1e-3)
    assert row["b"] == pytest.approx(b_nm, rel=1e-3)
    # the atoms table is in the corrected calibration
    atoms = hs.load(out / "off" / "atoms.hspy")
    assert atoms.grid["x"]["scale"] == pytest.approx(0.02, rel=1e-3)
    page = (out / "off" / "report.html").read_text()
    assert "correction factor (lattice calibration)" in page


def test_reader_is_passed_to_hs_load(files, tmp_path, capsys, no_figures):
    """Atomap saves HSPY files as .hdf5, which hs.load reads only with
    reader="HSPY"."""
    src = files / "off.hspy"
    h5 = tmp_path / "atomap.hdf5"
    shutil.copy(src, h5)
    calls = []
    real = hs.load

    @functools.wraps(real)  # keeps hs.load's signature
    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    import hyperspy.api

    mp = pytest.MonkeyPatch()
    mp.setattr(hyperspy.api, "load", spy)
    try:
        status = main(
            ["analyse", str(h5), "--out", str(tmp_path / "r"), "--reader", "HSPY"]
            + ["--no-progressbar"]
        )
    finally:
        mp.undo()
    assert status == 0
    # HyperSpy >= 2.4 names it file_format (reader is deprecated)
    assert calls and calls[0].get("file_format") == "HSPY"
    assert _summary(tmp_path / "r", "atomap")["n_atoms"] > 100
    status = main(
        ["analyse", str(h5), "--out", str(tmp_path / "q"), "--reader", "NoSuch"]
    )
    err = capsys.readouterr().err
    assert status == 1 and "could not be read" in err and "Traceback" not in err


def test_contrast_is_passed_only_when_given(files, tmp_path, monkeypatch, no_figures):
    """`contrast` reaches find_atoms and refine_atoms as a keyword when the
    user gives it, and is absent otherwise (finders without the argument
    still work)."""
    seen = {"find": [], "refine": []}
    find, refine = AtomicImage.find_atoms, AtomicImage.refine_atoms

    def spy_find(self, *args, **kwargs):
        seen["find"].append(kwargs.pop("contrast", None))
        return find(self, *args, **kwargs)

    def spy_refine(self, *args, **kwargs):
        seen["refine"].append(kwargs.pop("contrast", None))
        return refine(self, *args, **kwargs)

    monkeypatch.setattr(AtomicImage, "find_atoms", spy_find)
    monkeypatch.setattr(AtomicImage, "refine_atoms", spy_refine)
    # twice each: the compile warm-up on a tiny image (the same settings; the
    # first run of the process), then the image
    monkeypatch.setattr(report, "_COMPILED", set())
    status, _ = _analyse(files, tmp_path, "off.hspy", "--contrast", "bright")
    assert status == 0
    assert seen == {"find": ["bright"] * 2, "refine": ["bright"] * 2}
    seen["find"].clear(), seen["refine"].clear()
    report._COMPILED.clear()
    status, _ = _analyse(files, tmp_path, "off.hspy", "--overwrite")
    assert status == 0
    assert seen == {"find": [None] * 2, "refine": [None] * 2}


@pytest.mark.parametrize(
    "options, message",
    [
        (["--pixel-size", "-1"], "--pixel-size: must be a positive number"),
        (["--pixel-size", "abc"], "--pixel-size: must be a positive number"),
        (["--pixel-size", "1", "--units", "furlong"], "--units: must be one of"),
        (["--units", "nm"], "--units gives the units of --pixel-size"),
        (["--lattice-parameter", "0"], "--lattice-parameter: must be a positive"),
        (["--lattice-parameter", "1,2,3"], "--lattice-parameter: must be a positive"),
        (["--lattice-parameter", "x"], "--lattice-parameter: must be a positive"),
        (["--contrast", "sideways"], "--contrast: invalid choice"),
    ],
)
def test_bad_values_are_one_line(files, tmp_path, capsys, options, message):
    status = main(
        ["analyse", str(files / "off.hspy"), "--out", str(tmp_path / "r")] + options
    )
    err = capsys.readouterr().err
    assert status == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_help_documents_the_options(capsys):
    assert main(["analyse", "--help"]) == 0
    text = capsys.readouterr().out
    for option in (
        "--pixel-size",
        "--units",
        "--reader",
        "--contrast",
        "--lattice-parameter",
        "HSPY",
        "auto,bright,dark",
    ):
        assert option in text, option


def test_pixel_size_then_lattice_parameter_keep_the_file_calibration(
    files, tmp_path, no_figures
):
    """A raw array given 0.0206 nm/px, then corrected against the cell: the
    report names the file's own (absent) calibration and the correction."""
    status, out = _analyse(
        files,
        tmp_path,
        "raw.npy",
        *("--pixel-size", "0.0206", "--units", "nm"),
        *("--lattice-parameter", f"{A_PX * 0.02},{B_PX * 0.02}"),
    )
    assert status == 0
    cal = _summary(out, "raw")["calibration"]
    assert cal["original_scale"] == [1.0, 1.0] and cal["original_units"] == ""
    assert cal["factor_x"] == pytest.approx(1 / 1.03, rel=1e-3)
    assert cal["pixel_size"][1] == pytest.approx(0.02, rel=1e-3)
    page = (out / "raw" / "report.html").read_text()
    assert "<td>1 (uncalibrated)</td>" in page


def test_lattice_parameter_on_an_uncalibrated_file_says_what_to_do(
    files, tmp_path, capsys
):
    status, out = _analyse(files, tmp_path, "raw.npy", "--lattice-parameter", "0.3")
    err = capsys.readouterr().err
    assert status == 1 and "--pixel-size 0.01 --units nm" in err
    assert "Traceback" not in err and not (out / "raw").exists()
