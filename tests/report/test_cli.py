"""The command line and the report: `localcryst analyse`, `demo`, `find`."""

import csv
import json
import re
import shutil
import subprocess
from html import escape as esc

import hyperspy.api as hs
import numpy as np
import pytest
from scipy.spatial import cKDTree

from hyperspy_localcryst import report
from hyperspy_localcryst.cli import main
from hyperspy_localcryst.data import pto_sro_interface
from hyperspy_localcryst.data.synthetic import lattice_positions, make_lattice_image

from .._helpers import figures_not_rendered, match_one_to_one, near_edge
from ..test_real_data import column_density

EXPECTED_FIGURES = [
    "atoms.png",
    "cluster_map.png",
    "phases.png",
    "polar.png",
    "polarisation.png",
    "strain.png",
    "defects.png",
    "dendrogram.png",
    "scree.png",
    "pca_modes.png",
    "loading_maps.png",
    "cluster_ffts.png",
    "neighbour_histograms.png",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "report"
    assert main(["demo", "--out", str(out), "--no-progressbar"]) == 0
    return out


def _image_file(path, shape=(160, 160), spacing=14, seed=0, stack=0):
    if stack:
        data = np.stack(
            [
                make_lattice_image(shape, spacing=spacing, seed=seed + k)[0]
                for k in range(stack)
            ]
        )
    else:
        data = make_lattice_image(shape, spacing=spacing, seed=seed)[0]
    s = hs.signals.Signal2D(data)
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = 0.02, "nm"
    s.save(path, overwrite=True)
    return path


def _numbers(summary):
    return {k: v for k, v in summary.items() if k not in ("times_s",)}


def _csv(path):
    """The columns of an atoms.csv as float arrays (NaN where empty), by
    header."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    # an empty field is a missing value (e.g. the fit of a failed atom)
    return {k: np.array([float(r[k] or "nan") for r in rows]) for k in rows[0]}


def _assert_csv_is_the_truth(path, shape=(160, 160), spacing=14, scale=0.02):
    """The atoms a result's atoms.csv lists against the truth of the images
    ``_image_file`` writes (the same lattice in every frame): every truth atom
    found, one to one within 0.3 spacing, in every frame; every atom found is
    a truth atom or, at the edge, a column centred up to 4 sigma outside the
    frame (within 0.3 spacing of where its site meets the frame). Returns
    the number of atoms listed."""
    table = _csv(path)
    x, y = table["x [nm]"] / scale, table["y [nm]"] / scale  # px (offset 0)
    frames = table.get("frame", np.zeros(len(x)))
    _, truth = make_lattice_image(shape, spacing=spacing)
    sigma = 3.5  # make_lattice_image's default width
    sx, sy, _ = lattice_positions(shape, spacing, margin=-4 * sigma)
    ny, nx = shape
    clipped = np.column_stack([np.clip(sx, 0, nx - 1), np.clip(sy, 0, ny - 1)])
    for k in np.unique(frames):
        fx, fy = x[frames == k], y[frames == k]
        truth_match, found_matched = match_one_to_one(
            truth["x"], truth["y"], fx, fy, 0.3 * spacing
        )
        assert np.all(truth_match >= 0), (k, np.mean(truth_match >= 0))
        edge = near_edge(fx, fy, shape, 0.5 * spacing)
        assert np.all(found_matched[~edge]), k
        d, _ = cKDTree(clipped).query(np.column_stack([fx[edge], fy[edge]]))
        assert np.all(d < 0.3 * spacing), k
    return len(x)


def test_demo_writes_every_output(demo):
    for name in EXPECTED_FIGURES + [
        "atoms.csv",
        "atoms.hspy",
        "neighbourhoods.hspy",
        "summary.json",
        "report.html",
    ]:
        assert (demo / name).stat().st_size > 0, name
    summary = json.loads((demo / "summary.json").read_text())
    table = _csv(demo / "atoms.csv")
    n = len(table["x [nm]"])
    # the CSV, the summary and the page list the same atoms
    assert summary["n_atoms"] == n
    page = (demo / "report.html").read_text()
    assert f"<th>atoms found</th><td>{n}</td>" in page
    # the bundled PbTiO3/SrRuO3 image against its own lattice: the density of
    # columns from the image's Fourier transform (two {110} spots, both the A
    # and B columns), independent of the finder (see tests/test_real_data.py)
    s = pto_sro_interface()
    ax, ay = s.axes_manager.signal_axes
    scale = ax.scale
    density, d_ab = column_density(s.data, 12, 35)  # per px², A-B distance px
    ny, nx = s.data.shape
    x = (table["x [nm]"] - ax.offset) / scale  # px
    y = (table["y [nm]"] - ay.offset) / scale
    # columns a whole A-B distance inside the frame: the expected number
    # within 3 % (measured 0.998; the default template finder, which misses
    # the faint B columns of the SrRuO3 layers, gives 0.90)
    inner = ~near_edge(x, y, (ny, nx), d_ab)
    expected = density * (nx - 2 * d_ab) * (ny - 2 * d_ab)
    assert inner.sum() == pytest.approx(expected, rel=0.03)
    # all of them: every column centred half an A-B distance inside the
    # frame, and those centred up to half an A-B distance outside (their
    # tails show at the edge)
    # and those nearer the frame whose fits do not land outside its outermost
    # pixel centres (the others are left out by design)
    assert (
        density * (nx - d_ab) * (ny - d_ab) <= n <= density * (nx + d_ab) * (ny + d_ab)
    )
    # nothing tuned: 4 neighbours close the first shell of perovskite [001],
    # and K is what the data support, with its reason in the summary and on
    # the page (on this strip the neighbourhoods form one mode: PbTiO3 and
    # SrRuO3 differ in brightness far more than in geometry)
    assert summary["n_neighbours"] == 4
    assert summary["parameters"]["separation"] == "estimated"
    k = summary["n_clusters"]
    assert summary["clusters_reason"].startswith(f"{k} class")
    assert len(summary["cluster_fractions"]) == k
    assert esc(summary["clusters_reason"]) in page
    assert abs(sum(summary["cluster_fractions"]) - 1) < 1e-3
    # the summary's error is the CSV's, a fraction of the pixel size
    err = np.hypot(table["x_err [nm]"], table["y_err [nm]"])
    assert summary["median_position_error"] == pytest.approx(
        np.nanmedian(err), rel=1e-12
    )
    assert 0 < summary["median_position_error"] < scale
    assert page.count("data:image/png;base64,") == len(EXPECTED_FIGURES)
    nb = hs.load(demo / "neighbourhoods.hspy")
    assert nb.learning_results.loadings is not None
    assert nb.get_cluster_labels(merged=True).data.shape == (summary["n_centres"],)


def test_rerun_gives_identical_numbers(demo, tmp_path, monkeypatch):
    figures_not_rendered(monkeypatch)  # the numbers are compared, not figures
    again = tmp_path / "again"
    assert main(["demo", "--out", str(again), "--no-progressbar"]) == 0
    a = json.loads((demo / "summary.json").read_text())
    b = json.loads((again / "summary.json").read_text())
    assert _numbers(a) == _numbers(b)
    assert (demo / "atoms.csv").read_bytes() == (again / "atoms.csv").read_bytes()


def test_analyse_batch_keeps_good_files_and_reports_bad_ones(
    tmp_path, capsys, monkeypatch
):
    figures_not_rendered(monkeypatch)  # the batch's results are checked, not figures
    good = _image_file(tmp_path / "lattice.hspy")
    line = tmp_path / "line.hspy"
    hs.signals.Signal1D(np.arange(50.0)).save(line)
    out = tmp_path / "results"
    status = main(
        ["analyse", str(good), str(line), str(tmp_path / "missing.dm4")]
        + ["--out", str(out), "--clusters", "2", "--neighbours", "4"]
    )
    err = capsys.readouterr().err
    assert status == 1
    assert "line.hspy is not an image (signal dimension 1)" in err
    assert "missing.dm4: no such file" in err
    assert "2 of 3 file(s) failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["lattice"]
    summary = json.loads((out / "lattice" / "summary.json").read_text())
    assert summary["n_atoms"] == _assert_csv_is_the_truth(out / "lattice" / "atoms.csv")
    assert summary["n_clusters"] == 2
    assert summary["parameters"]["n_neighbours"] == 4


def test_analyse_stack_pools_frames(tmp_path, monkeypatch):
    # figures built, not rendered: that a stack's report makes the fractions
    # figure is checked here (its name saved), its rendering by the eager
    # stacks of test_bad_input_issue17.test_report_uses_a_good_frame
    figures_not_rendered(monkeypatch)
    stack = _image_file(tmp_path / "stack.hspy", stack=3)
    out = tmp_path / "out"
    argv = ["analyse", str(stack), "--out", str(out), "--no-progressbar"]
    assert main(argv + ["--clusters", "2"]) == 0
    summary = json.loads((out / "stack" / "summary.json").read_text())
    assert summary["n_frames"] == 3
    assert summary["n_atoms"] == _assert_csv_is_the_truth(out / "stack" / "atoms.csv")
    assert (out / "stack" / "cluster_fractions.png").exists()


def test_no_progressbar_also_silences_preprocessing(tmp_path, capfd, monkeypatch):
    """`--no-progressbar` reaches every step of a stack, preprocessing too
    (with the bars on, HyperSpy's tqdm bars are printed). Figures are built,
    not rendered (rendering a PNG prints no bar)."""
    figures_not_rendered(monkeypatch)
    stack = _image_file(tmp_path / "stack.hspy", stack=3)
    argv = ["analyse", str(stack), "--preprocess", "background+denoise"]
    argv += ["--clusters", "2"]
    assert main(argv + ["--out", str(tmp_path / "a"), "--no-progressbar"]) == 0
    assert "it/s" not in capfd.readouterr().err
    assert main(argv + ["--out", str(tmp_path / "b")]) == 0
    assert "it/s" in capfd.readouterr().err


def test_failure_leaves_no_folder_that_looks_complete(tmp_path, monkeypatch, capsys):
    good = _image_file(tmp_path / "lattice.hspy")
    out = tmp_path / "results"

    def broken(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(report, "_figures", broken)
    assert main(["analyse", str(good), "--out", str(out)]) == 1
    assert "figure failed" in capsys.readouterr().err
    # no result, no temporary folder, and not the --out folder the run made
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [good]


def test_existing_results_need_overwrite(tmp_path, capsys, monkeypatch):
    figures_not_rendered(monkeypatch)  # the result folders are checked, not figures
    good = _image_file(tmp_path / "lattice.hspy")
    argv = ["analyse", str(good), "--out", str(tmp_path / "r"), "--clusters", "2"]
    assert main(argv) == 0
    assert main(argv) == 1
    assert "holds an earlier localcryst result; use --overwrite" in (
        capsys.readouterr().err
    )
    assert main(argv + ["--overwrite"]) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--clusters", "0"], "--clusters must be 'auto' or a positive integer"),
        (["--clusters", "many"], "--clusters must be 'auto' or a positive integer"),
        (["--method", "magic"], "method"),
    ],
)
def test_bad_options_are_one_clear_line(tmp_path, capsys, args, message):
    good = _image_file(tmp_path / "lattice.hspy")
    status = main(["analyse", str(good), "--out", str(tmp_path / "r")] + args)
    err = capsys.readouterr().err
    assert status == 1
    assert message in err
    assert len(err.strip().splitlines()) == 2  # the error, then the batch summary
    assert "Traceback" not in err


def test_help_lists_every_option():
    text = subprocess.run(
        ["localcryst", "analyse", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in (
        "--signal-type",
        "--separation",
        "--neighbours",
        "--metric",
        "--clusters",
        "--out",
        "--method",
        "--format",
        "--seed",
        "--overwrite",
    ):
        assert option in text
    top = subprocess.run(
        ["localcryst", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert all(c in top for c in ("analyse", "demo", "find"))


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _figures_loaded(chromium, page):
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu"]
        + ["--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    total = int(re.search(r'data-figures="(\d+)"', body).group(1))
    loaded = int(re.search(r'data-figures-loaded="(\d+)"', body).group(1))
    return total, loaded


@pytest.mark.skipif(
    _chromium() is None,
    reason="Chromium is not installed (Debian: apt-get install chromium); "
    ".ci/run installs it",
)
def test_report_renders_every_figure_in_a_browser(demo, tmp_path):
    chromium = _chromium()
    total, loaded = _figures_loaded(chromium, demo / "report.html")
    assert total == len(EXPECTED_FIGURES)
    assert loaded == total
    # the check can fail: a report with one corrupt figure is caught
    page = (demo / "report.html").read_text()
    broken = tmp_path / "report.html"
    broken.write_text(page.replace("base64,iVBOR", "base64,AAAA", 1))
    assert _figures_loaded(chromium, broken) == (total, total - 1)


def test_small_image_and_preprocessing_give_a_documented_result(tmp_path, monkeypatch):
    figures_not_rendered(monkeypatch)  # the summary is checked, not figures
    from hyperspy_localcryst.data import synthetic_lattice

    small = synthetic_lattice(shape=(30, 30), spacing=12, seed=0)
    summary = report.analyse(
        small, tmp_path, n_clusters=1, n_neighbours=4, preprocess=["background"]
    )
    assert summary["parameters"]["preprocess"] == "background"
    assert summary["n_centres"] == summary["n_atoms"]  # every atom kept as centre
    assert any("exclude_border=False" in w for w in summary["warnings"])
    assert "Warnings" in (tmp_path / "report.html").read_text()
    with pytest.raises(ValueError, match="`preprocess` steps"):
        report.analyse(small, tmp_path, preprocess=["sharpen"])
    with pytest.raises(ValueError, match="`n_clusters`"):
        report.analyse(small, tmp_path, n_clusters=0)


def test_analyse_lazy_stack_and_large_image_figures(tmp_path, monkeypatch):
    from hyperspy_localcryst.data import synthetic_series

    lazy = synthetic_series(n_frames=3, shape=(128, 128), spacing=14, seed=0).as_lazy()
    # figures draw the first frame only, strided to DISPLAY_PX per side
    monkeypatch.setattr(report.figures, "DISPLAY_PX", 64)
    summary = report.analyse(lazy, tmp_path, n_clusters=2, n_neighbours=4)
    assert summary["n_frames"] == 3
    assert lazy._lazy  # nothing was loaded into the input
    assert report.figures._display(np.zeros((2, 128, 100))).shape == (64, 50)
    assert (tmp_path / "cluster_fractions.png").exists()
