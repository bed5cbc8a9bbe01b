"""The command line never deletes or replaces what it did not create (issue 17).

Most cases run the real ``localcryst`` command (the installed console script)
in a temporary folder that also holds files which must survive, and compare a
byte-level snapshot of that folder before and after; a few whose property is
a folder's or a name's, not a process's, call ``main`` in process (said in
their docstrings), and runs whose figures no test looks at build them without
rendering them (``tests/_helpers.py``: rendering is most of a report's
time). The cases are the ones a user met: ``--overwrite`` on the folder
holding the input, ``--out .``, an existing folder of the user's, two runs
into one result, Ctrl-C, SIGTERM, SIGKILL, a closed pipe, a full disk, the
umask.
"""

import errno
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_localcryst import _output, report
from hyperspy_localcryst._output import MARKER, OutputError, result_folder
from hyperspy_localcryst.cli import main
from hyperspy_localcryst.data.synthetic import make_lattice_image

from .._helpers import CONSOLE_NOT_RENDERING, figures_not_rendered

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="POSIX signals, umask and file modes"
)


def _command():
    exe = shutil.which("localcryst")
    return [exe] if exe else [sys.executable, "-m", "hyperspy_localcryst.cli"]


def _command_not_rendering():
    """The console script with the report's figures built but not rendered, for
    the tests of a real process that check no figure."""
    return [sys.executable, "-c", CONSOLE_NOT_RENDERING]


def run(args, cwd, **kwargs):
    """The real command, as a user types it."""
    return subprocess.run(
        _command() + [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def snapshot(root):
    """Every file and folder below ``root``: kind, mode and content hash."""
    root = Path(root)
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        st = p.lstat()
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            out[rel] = ("dir", st.st_mode)
        else:
            out[rel] = ("file", st.st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def hidden_leftovers(folder):
    return [p.name for p in Path(folder).iterdir() if p.name.startswith(".localcryst")]


def one_error_line(stderr):
    lines = [ln for ln in stderr.splitlines() if ln.startswith("localcryst: error:")]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture(scope="module")
def image_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "img.hspy"
    s = hs.signals.Signal2D(make_lattice_image((128, 128), spacing=14, seed=3)[0])
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = 0.02, "nm"
    s.save(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def earlier_find(tmp_path_factory, image_bytes):
    """An earlier `localcryst find` result, made once by the real command; tests
    copy it (byte for byte, so its marker stays valid) instead of re-running."""
    work = tmp_path_factory.mktemp("earlier")
    (work / "img.hspy").write_bytes(image_bytes)
    res = run(["find", "img.hspy", "--out", "res"], cwd=work)
    assert res.returncode == 0, res.stderr
    return work / "res"


def copy_result(template, dest):
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template, dest)
    return dest


#: A command that fails fast after the output checks (the file is missing):
#: every run first cleans what killed runs left in the output folder.
def quick_failing_run(cwd, out):
    res = run(["find", "missing.hspy", "--out", out], cwd=cwd)
    assert res.returncode == 1 and "missing.hspy: no such file" in res.stderr
    return res


@pytest.fixture
def user(tmp_path, image_bytes):
    """A user's working folder: raw data beside notes, both irreplaceable."""
    (tmp_path / "sample1").mkdir()
    (tmp_path / "sample1" / "sample1.hspy").write_bytes(image_bytes)
    (tmp_path / "sample1" / "notes.txt").write_text("only copy of my notes\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "img.hspy").write_bytes(image_bytes)
    (tmp_path / "data" / "raw2.dat").write_bytes(b"\x00\x01raw")
    (tmp_path / "mydata").mkdir()
    (tmp_path / "mydata" / "thesis.txt").write_text("chapter 1\n")
    return tmp_path


# ------------------------------------------------------------- point 1
@pytest.mark.parametrize("overwrite", [False, True])
def test_analyse_never_replaces_the_folder_of_its_input(user, overwrite):
    before = snapshot(user)
    res = run(
        ["analyse", "sample1/sample1.hspy", "--out", "."]
        + (["--overwrite"] if overwrite else []),
        cwd=user,
    )
    assert res.returncode == 1
    line = one_error_line(res.stderr)
    assert str(user / "sample1") in line and "input" in line
    assert snapshot(user) == before


def test_find_never_replaces_the_data_folder(user):
    before = snapshot(user)
    res = run(["find", "data/img.hspy", "--out", "data", "--overwrite"], cwd=user)
    assert res.returncode == 1
    assert "holds the input" in one_error_line(res.stderr)
    assert snapshot(user) == before


@pytest.mark.parametrize("overwrite", [False, True])
def test_demo_never_replaces_a_users_folder(user, overwrite):
    before = snapshot(user)
    res = run(
        ["demo", "--out", "mydata"] + (["--overwrite"] if overwrite else []), cwd=user
    )
    assert res.returncode == 1
    line = one_error_line(res.stderr)
    assert "mydata" in line and "not written by localcryst" in line
    assert snapshot(user) == before


@pytest.mark.parametrize("command", ["demo", "find"])
def test_out_dot_never_empties_the_working_folder(user, command):
    work = user / "mydata"
    before = snapshot(user)
    args = ["--out", ".", "--overwrite"]
    if command == "find":
        args = [str(user / "data" / "img.hspy")] + args
    res = run([command] + args, cwd=work)
    assert res.returncode == 1
    assert "current folder" in one_error_line(res.stderr)
    assert "Errno" not in res.stderr
    assert snapshot(user) == before


def test_out_that_contains_the_working_folder_is_refused(user):
    before = snapshot(user)
    res = run(["demo", "--out", "..", "--overwrite"], cwd=user / "mydata")
    assert res.returncode == 1
    assert snapshot(user) == before


def test_symlinked_or_file_destination_is_refused(user):
    (user / "link").symlink_to(user / "mydata", target_is_directory=True)
    (user / "afile").write_text("x")
    before = snapshot(user)
    for out, why in (("link", "symbolic link"), ("afile", "not a folder")):
        res = run(["find", "data/img.hspy", "--out", out, "--overwrite"], cwd=user)
        assert res.returncode == 1
        assert why in one_error_line(res.stderr)
    assert snapshot(user) == before


def test_overwrite_replaces_only_an_untouched_earlier_result(user, earlier_find):
    marker = json.loads((earlier_find / MARKER).read_text())
    assert marker["created_by"] == "hyperspy_localcryst"
    assert sorted(marker["files"]) == ["atoms.csv", "atoms.hspy", "atoms.png"]
    copy_result(earlier_find, user / "res")

    # again without --overwrite: a one-line refusal, nothing changes
    before = snapshot(user)
    res = run(["find", "data/img.hspy", "--out", "res"], cwd=user)
    assert res.returncode == 1
    assert "use --overwrite" in one_error_line(res.stderr)
    assert snapshot(user) == before

    # a file the user added, or a result file the user edited, keeps it
    (user / "res" / "my_notes.txt").write_text("mine\n")
    before = snapshot(user)
    res = run(["find", "data/img.hspy", "--out", "res", "--overwrite"], cwd=user)
    assert res.returncode == 1
    assert "my_notes.txt" in one_error_line(res.stderr)
    assert snapshot(user) == before
    (user / "res" / "my_notes.txt").unlink()
    with open(user / "res" / "atoms.csv", "a") as f:
        f.write("# checked by hand\n")
    before = snapshot(user)
    res = run(["find", "data/img.hspy", "--out", "res", "--overwrite"], cwd=user)
    assert res.returncode == 1
    assert "changed since localcryst wrote them (atoms.csv)" in res.stderr
    assert snapshot(user) == before

    # an untouched earlier result is replaced; the user's files are not touched
    shutil.rmtree(user / "res")
    copy_result(earlier_find, user / "res")
    others = {k: v for k, v in snapshot(user).items() if not k.startswith("res")}
    res = run(["find", "data/img.hspy", "--out", "res", "--overwrite"], cwd=user)
    assert res.returncode == 0, res.stderr
    assert {k: v for k, v in snapshot(user).items() if not k.startswith("res")} == (
        others
    )
    new = json.loads((user / "res" / MARKER).read_text())
    assert new["inputs"] == [str(user / "data" / "img.hspy")]  # the new result
    assert hidden_leftovers(user) == []


def test_unmarked_folder_with_result_names_is_refused(user):
    fake = user / "out" / "img"
    fake.mkdir(parents=True)
    (fake / "atoms.csv").write_text("my own table\n")
    before = snapshot(user)
    res = run(["analyse", "data/img.hspy", "--out", "out", "--overwrite"], cwd=user)
    assert res.returncode == 1
    assert "not written by localcryst" in one_error_line(res.stderr)
    assert snapshot(user) == before


# ------------------------------------------------------------- point 2
def test_a_run_holding_the_result_name_blocks_a_second(user):
    """A live run owns its result name (an OS lock): a second run into the same
    name stops at once with one line, whatever its --overwrite."""
    lock = _output._Lock(user / "R", "img")
    (user / "R").mkdir()
    assert lock.acquire()
    try:
        before = snapshot(user)
        res = run(["analyse", "data/img.hspy", "--out", "R", "--overwrite"], cwd=user)
        assert res.returncode == 1
        line = one_error_line(res.stderr)
        assert "being written by another localcryst run" in line
        assert f"process {os.getpid()}" in line
        assert snapshot(user) == before
    finally:
        lock.release()
    assert hidden_leftovers(user / "R") == []


def test_two_concurrent_runs_never_both_claim_one_result(user, image_bytes):
    (user / "A").mkdir()
    (user / "B").mkdir()
    (user / "A" / "img.hspy").write_bytes(image_bytes)
    b, truth_b = make_lattice_image((128, 128), spacing=16, seed=9)  # another image
    hs.signals.Signal2D(b).save(user / "B" / "img.hspy")
    truth_a = make_lattice_image((128, 128), spacing=14, seed=3)[1]  # the fixture's
    truth = {"A": truth_a, "B": truth_b}
    argv = ["--out", "R", "--clusters", "2", "--no-progressbar"]
    procs = [
        subprocess.Popen(
            _command_not_rendering() + ["analyse", f"{d}/img.hspy"] + argv,
            cwd=user,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for d in "AB"
    ]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    assert codes == [0, 1], results
    winner = "AB"[[r[2] for r in results].index(0)]
    loser_err = next(r[1] for r in results if r[2] == 1)
    assert "R/img" in loser_err
    assert (
        "being written by another localcryst run" in loser_err
        or "use --overwrite" in loser_err
    )
    # the one result left is the winner's, complete: its atoms sit on the
    # winner's columns (spacing 14 px), not on the loser's (16 px)
    xp, yp = hs.load(user / "R" / "img" / "atoms.hspy").get_pixel_positions()
    found = np.column_stack([xp, yp])

    def recall(t):
        want = np.column_stack([t["x"], t["y"]])  # pixels
        d = np.linalg.norm(want[:, None] - found[None], axis=-1).min(axis=1)
        return float(np.mean(d < 1.0))

    loser = "B" if winner == "A" else "A"
    assert recall(truth[winner]) == 1.0 and recall(truth[loser]) < 0.5
    assert json.loads((user / "R" / "img" / MARKER).read_text())["inputs"] == [
        str(user / winner / "img.hspy")
    ]
    assert hidden_leftovers(user / "R") == []


# ------------------------------------------------------------- point 3
#: A small analysis (the image of the `user` fixture) into R/img.
SMALL = ["analyse", "data/img.hspy", "--out", "R", "--clusters", "2"]
SMALL += ["--neighbours", "4", "--no-progressbar"]


def _start_and_signal(cwd, sig, wait_for, args=("demo", "--out", "R/demo")):
    p = subprocess.Popen(
        _command() + list(args) + ["--no-progressbar"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = ""
    while wait_for not in seen:
        line = p.stdout.readline()
        assert line, f"run ended before {wait_for!r}: {p.communicate()}"
        seen += line
    time.sleep(0.3)
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=120)
    return p.returncode, stderr


@pytest.mark.parametrize(
    "sig, status, wait_for",
    [
        (signal.SIGINT, 130, "drawing figures"),
        (signal.SIGTERM, 143, "refining"),
    ],
)
def test_interrupt_is_one_line_and_leaves_nothing(user, sig, status, wait_for):
    before = snapshot(user)
    code, stderr = _start_and_signal(user, sig, wait_for)
    assert code == status, stderr
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines == [
        f"localcryst: interrupted ({sig.name}); the result being written was "
        "removed, complete results are kept."
    ]
    # nothing partial: not the result, not a work folder, not a lock
    assert snapshot(user) == before


def test_interrupted_replacement_keeps_the_earlier_result(user, earlier_find):
    """Ctrl-C while --overwrite replaces an earlier result: the earlier result
    stays, byte for byte."""
    copy_result(earlier_find, user / "R" / "img")
    before = snapshot(user)
    code, stderr = _start_and_signal(
        user, signal.SIGINT, "drawing figures", SMALL + ["--overwrite"]
    )
    assert code == 130, stderr
    assert snapshot(user) == before


def test_next_run_removes_what_a_killed_run_left(user):
    code, _ = _start_and_signal(user, signal.SIGKILL, "finding atoms", SMALL)
    assert code == -signal.SIGKILL
    left = sorted(hidden_leftovers(user / "R"))
    assert any(n.startswith(".localcryst-tmp-") for n in left), left
    (user / "R" / "mine.txt").write_text("keep me\n")
    quick_failing_run(user, "R/other")
    assert sorted(p.name for p in (user / "R").iterdir()) == ["mine.txt"]
    assert (user / "R" / "mine.txt").read_text() == "keep me\n"


def test_a_live_runs_work_folder_is_not_removed(user):
    """Another run's work in progress (its lock held) survives a cleanup."""
    parent = user / "R"
    parent.mkdir()
    lock = _output._Lock(parent, "busy")
    assert lock.acquire()
    try:
        work = _output._fresh_sibling(parent, "tmp", "busy")
        _output._write_marker(work, "analyse", [], complete=False)
        (work / "atoms.csv").write_text("half written")
        quick_failing_run(user, "R/other")
        assert (work / "atoms.csv").read_text() == "half written"
    finally:
        lock.release()


def test_replaced_result_is_restored_if_its_replacement_never_arrived(
    user, earlier_find
):
    """A run killed between moving the old result aside and moving the new one
    in: the next run puts the old result back instead of deleting it."""
    copy_result(earlier_find, user / "R" / ".localcryst-old-0123abcd-res")
    quick_failing_run(user, "R/other")
    assert sorted(p.name for p in (user / "R").iterdir()) == ["res"]
    assert snapshot(user / "R" / "res") == snapshot(earlier_find)


def test_result_folders_follow_the_umask(user):
    res = run(
        ["find", "data/img.hspy", "--out", "new/res"],
        cwd=user,
        preexec_fn=lambda: os.umask(0o027),  # not the usual 022: it must matter
    )
    assert res.returncode == 0, res.stderr
    for folder in (user / "new", user / "new" / "res"):
        assert folder.stat().st_mode & 0o777 == 0o750
    assert (user / "new" / "res" / "atoms.csv").stat().st_mode & 0o777 == 0o640


def test_closed_stdout_never_discards_a_finished_result(user):
    """``localcryst analyse f --out o | head -1``: the reader goes away after the
    first line; the analysis still completes and is kept, and nothing about a
    broken pipe is printed."""
    p = subprocess.Popen(
        _command_not_rendering()
        + ["analyse", "data/img.hspy", "--out", "o", "--clusters", "2"]
        + ["--no-progressbar"],
        cwd=user,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = p.stdout.readline()
    p.stdout.close()  # like `head -1` exiting
    stderr = p.stderr.read().decode()
    p.wait(timeout=300)
    assert first.startswith(b"[1/1]")
    assert p.returncode == 0, stderr
    assert "Broken pipe" not in stderr and "Errno 32" not in stderr
    assert "Traceback" not in stderr
    assert (user / "o" / "img" / "report.html").stat().st_size > 0
    assert json.loads((user / "o" / "img" / MARKER).read_text())["complete"]


# ----------------------------------------------------------- in process
def test_full_disk_keeps_the_earlier_result(user, earlier_find, monkeypatch, capsys):
    """The disk fills while a figure is saved: one line, no partial result, the
    earlier result intact."""
    import matplotlib.figure

    copy_result(earlier_find, user / "R")
    before = snapshot(user)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    argv = ["find", str(user / "data" / "img.hspy"), "--out", str(user / "R")]
    assert main(argv + ["--overwrite"]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Errno" not in err
    assert snapshot(user) == before


def test_ctrl_c_in_process_returns_130(user, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "analyse", interrupted)
    before = snapshot(user)
    status = main(["analyse", str(user / "data" / "img.hspy"), "--out", str(user)])
    assert status == 130
    assert "interrupted (SIGINT)" in capsys.readouterr().err
    assert snapshot(user) == before


def test_interrupted_swap_puts_the_old_result_back(tmp_path, monkeypatch):
    """Ctrl-C between moving the earlier result aside and moving the new one in
    restores the earlier one."""
    out = tmp_path / "res"
    with result_folder(out) as tmp:
        (tmp / "a.txt").write_text("first")
    before = snapshot(tmp_path)
    real_rename = os.rename

    def rename(src, dst):
        if Path(src).name.startswith(".localcryst-tmp-"):
            raise KeyboardInterrupt
        return real_rename(src, dst)

    monkeypatch.setattr(_output.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        with result_folder(out, overwrite=True) as tmp:
            (tmp / "a.txt").write_text("second")
    monkeypatch.setattr(_output.os, "rename", real_rename)
    assert snapshot(tmp_path) == before


def test_failed_work_leaves_the_destination_as_it_was(tmp_path):
    with pytest.raises(RuntimeError):
        with result_folder(tmp_path / "new" / "res") as tmp:
            (tmp / "a.txt").write_text("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []  # the parent it made is gone too


def test_check_destination_messages_name_the_folder(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    _output.check_destination(folder)  # empty: nothing to lose, accepted
    (folder / "mine.txt").write_text("x")
    with pytest.raises(OutputError, match=f"{folder} exists and was not written"):
        _output.check_destination(folder, overwrite=True)
    np.save(folder / "in.npy", np.zeros(3))
    with pytest.raises(OutputError, match=f"{folder} holds the input"):
        _output.check_destination(folder, inputs=[folder / "in.npy"], overwrite=True)


def test_an_empty_folder_receives_the_result(user, monkeypatch, capsys):
    """(In process: the property is the folder's.)"""
    (user / "empty").mkdir()
    monkeypatch.chdir(user)
    assert main(["find", "data/img.hspy", "--out", "empty"]) == 0, (
        capsys.readouterr().err
    )
    assert sorted(p.name for p in (user / "empty").iterdir()) == [
        MARKER,
        "atoms.csv",
        "atoms.hspy",
        "atoms.png",
    ]
    assert hidden_leftovers(user) == []


@pytest.mark.parametrize(
    "files",
    [
        ["a/img.hspy", "b/img.hspy", "img_0.hspy"],
        ["a/img.hspy", "b/img.hspy", "img_1.hspy", "img_0.hspy"],
        ["a/IMG.hspy", "b/img.dm4"],
        ["x.hspy", "y.emi", "x.dm4"],
    ],
)
def test_a_batch_never_writes_two_files_into_one_result(files):
    """Within one batch, --overwrite must not replace the result of an earlier
    file: every file gets its own name (also on case-insensitive disks)."""
    from hyperspy_localcryst.cli import _result_names

    names = _result_names(files)
    assert len({n.casefold() for n in names}) == len(files)
    for f, n in zip(files, names):
        assert n.startswith(Path(f).with_suffix("").name)


def test_to_csv_never_replaces_an_existing_file(tmp_path):
    from hyperspy_localcryst.data import synthetic_lattice

    atoms = synthetic_lattice(shape=(96, 96), seed=0).find_atoms()
    path = tmp_path / "atoms.csv"
    path.write_text("my own table\n")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        atoms.to_csv(path)
    assert path.read_text() == "my own table\n"
    with pytest.raises(TypeError, match="overwrite"):
        atoms.to_csv(path, overwrite="yes")
    atoms.to_csv(path, overwrite=True)
    assert path.read_text().startswith("atom,x [nm]")


def test_python_api_follows_the_same_rules(user):
    """report.analyse and cli.run_pipeline write result folders the same way
    as the command line: a user's folder is refused, an earlier result is
    replaced only with overwrite=True."""
    from hyperspy_localcryst.cli import run_pipeline
    from hyperspy_localcryst.data import synthetic_lattice

    image = synthetic_lattice(shape=(96, 96), spacing=16, seed=1)
    before = snapshot(user)
    for call in (
        lambda: report.analyse(image, user / "mydata", n_clusters=2, n_neighbours=4),
        lambda: run_pipeline(image, user / "data", overwrite=True),
    ):
        with pytest.raises(OutputError, match="not written by localcryst"):
            call()
    assert snapshot(user) == before
    out = user / "api"
    first = run_pipeline(image, out)
    assert read_marker_files(out) == ["atoms.csv", "atoms.hspy", "atoms.png"]
    with pytest.raises(OutputError, match="use --overwrite"):
        run_pipeline(image, out)
    again = run_pipeline(image, out, overwrite=True)
    assert again["n_atoms"] == first["n_atoms"]
    assert hidden_leftovers(user) == []


def read_marker_files(folder):
    return sorted(json.loads((Path(folder) / MARKER).read_text())["files"])


def test_write_report_never_replaces_an_existing_page(tmp_path):
    page = tmp_path / "report.html"
    page.write_text("<p>my own page</p>")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        report.write_report(tmp_path, {"title": "t", "parameters": {}})
    assert page.read_text() == "<p>my own page</p>"
    report.write_report(tmp_path, {"title": "t", "parameters": {}}, overwrite=True)
    assert "Local crystallography: t" in page.read_text()


# ------------------------------------------- held-out fault-matrix findings
def test_a_user_file_in_place_of_a_result_folder_is_never_replaced(
    user, monkeypatch, capsys
):
    """A result folder (atoms.zspy) that the user replaced by a file or a link
    makes the result 'changed': --overwrite refuses, nothing is lost. (In
    process, figures not rendered: the property is the result folder's.)"""
    figures_not_rendered(monkeypatch)
    monkeypatch.chdir(user)
    argv = ["analyse", "data/img.hspy", "--out", "R", "--format", "zspy"]
    argv += ["--clusters", "2", "--no-progressbar"]
    assert main(argv) == 0, capsys.readouterr().err
    capsys.readouterr()
    zspy = user / "R" / "img" / "atoms.zspy"
    assert zspy.is_dir()
    shutil.rmtree(zspy)
    zspy.write_text("user text\n")
    before = snapshot(user)
    assert main(argv + ["--overwrite"]) == 1
    assert "changed since localcryst wrote them (atoms.zspy)" in (
        capsys.readouterr().err
    )
    assert snapshot(user) == before
    zspy.unlink()
    zspy.symlink_to(user / "mydata", target_is_directory=True)
    before = snapshot(user)
    assert main(argv + ["--overwrite"]) == 1
    assert "atoms.zspy" in one_error_line(capsys.readouterr().err)
    assert snapshot(user) == before


@pytest.mark.parametrize("order", ["result input first", "result input last"])
def test_no_result_replaces_a_folder_holding_another_input_of_the_batch(
    user, earlier_find, order
):
    copy_result(earlier_find, user / "R" / "img")
    files = ["data/img.hspy", "R/img/atoms.hspy"]
    if order == "result input first":
        files = files[::-1]
    before = snapshot(user)
    res = run(["analyse", *files, "--out", "R", "--overwrite"], cwd=user)
    assert res.returncode == 1
    assert "holds the input" in res.stderr
    # the earlier result holding an input is untouched (the other file's
    # result, R/atoms, may be written)
    after = snapshot(user)
    assert {k: v for k, v in after.items() if k in before} == before


def test_odd_file_names_stay_inside_the_output_folder(user, monkeypatch, capsys):
    """(In process, figures not rendered: the property is the result names.)"""
    names = ["..npy", "...npy", ".hidden.npy"]
    for name in names:
        np.save(user / "x.npy", make_lattice_image((96, 96), spacing=16, seed=2)[0])
        (user / "x.npy").rename(user / name)
    figures_not_rendered(monkeypatch)
    monkeypatch.chdir(user)
    status = main(["analyse", *names, "--out", "R/sub"] + SMALL[4:])
    assert status == 0, capsys.readouterr().err
    results = sorted((user / "R" / "sub").iterdir())
    assert len(results) == 3 and all(p.is_dir() for p in results)
    assert not any(p.name.startswith(".") for p in results)
    assert all((p / MARKER).is_file() for p in results)
    assert sorted(p.name for p in (user / "R").iterdir()) == ["sub"]


def test_our_hidden_names_cannot_be_result_folders(user):
    before = snapshot(user)
    res = run(
        ["find", "data/img.hspy", "--out", "R/.localcryst-tmp-0123abcd-x"], cwd=user
    )
    assert res.returncode == 1
    assert "cannot be a result folder" in one_error_line(res.stderr)
    assert snapshot(user) == before


def test_closed_stdout_and_stderr_never_stop_a_run(user):
    cmd = shlex.join(_command_not_rendering() + SMALL) + " >&- 2>&-"
    res = subprocess.run(cmd, shell=True, cwd=user, timeout=300)
    assert res.returncode == 0
    assert json.loads((user / "R" / "img" / MARKER).read_text())["complete"]


def test_a_refused_run_still_removes_what_a_killed_run_left(user):
    (user / "R").mkdir()
    work = user / "R" / ".localcryst-tmp-0123abcd-img"
    work.mkdir()
    _output._write_marker(work, "analyse", [], complete=False)
    (user / "R" / ".localcryst-lock-img").write_text("99999\n")
    (user / "R" / "img").mkdir()
    (user / "R" / "img" / "mine.txt").write_text("mine")
    res = run(["analyse", "data/img.hspy", "--out", "R"], cwd=user)
    assert res.returncode == 1  # R/img is the user's: refused
    assert sorted(p.name for p in (user / "R").iterdir()) == ["img"]
    assert (user / "R" / "img" / "mine.txt").read_text() == "mine"


@pytest.mark.parametrize("delay", [0.3, 0.8])
def test_ctrl_c_while_starting_is_one_line(user, delay):
    """A Ctrl-C while the command imports HyperSpy and loads the file."""
    before = snapshot(user)
    p = subprocess.Popen(
        _command() + ["analyse", "data/img.hspy", "--out", "R"],
        cwd=user,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    _, stderr = p.communicate(timeout=120)
    assert p.returncode == 130, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("localcryst: interrupted (SIGINT)")
    assert snapshot(user) == before
