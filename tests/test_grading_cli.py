"""The grading verbs as an instructor uses them: bad input, report paths, signals.

Every bad invocation must stop before any work with exit 2 and one line
that names the option and the value, never a traceback; reports never go
into the submissions or the exercises; Ctrl-C or SIGTERM leaves no
sandbox folder and no student process behind.
"""
import contextlib
import csv
import json
import math
import os
import pathlib
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest

from minicomp.cli import main, user_error
from minicomp.grading import grade as grade_module
from minicomp.grading.grade import StudentResult, check, grade, student_ids, validate
from minicomp.grading.release import release
from minicomp.grading.sandbox import Limits

REPO = pathlib.Path(__file__).resolve().parents[1]
EXERCISES = REPO / "exercises"


def reference(name: str) -> bytes:
    """The reference solution of exercise ``name`` without its markers."""
    text = (EXERCISES / name / "exercise.py").read_text()
    return "".join(line for line in text.splitlines(keepends=True)
                   if "### BEGIN SOLUTION" not in line
                   and "### END SOLUTION" not in line).encode()


@pytest.fixture
def place(tmp_path):
    """tmp/ex/01_autograd (instructor's copy), tmp/subs/alice, tmp/empty, tmp/file.txt."""
    shutil.copytree(EXERCISES / "01_autograd", tmp_path / "ex" / "01_autograd",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "subs" / "alice" / "01_autograd").mkdir(parents=True)
    (tmp_path / "subs" / "alice" / "01_autograd" / "exercise.py").write_text("x = 1\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "outdir").mkdir()
    (tmp_path / "file.txt").write_text("not a folder\n")
    (tmp_path / "dirlink").symlink_to(tmp_path / "outdir")      # reports never go through
    (tmp_path / "filelink.csv").symlink_to(tmp_path / "file.txt")
    (tmp_path / "filelink.zip").symlink_to(tmp_path / "file.txt")
    return tmp_path


GRADE = "grade {tmp}/subs --exercises {ex} --quiet"
BAD = [   # (arguments, what the message must contain)
    ("train --epochs 0", ["--epochs", "=0"]),
    ("train --epochs -3", ["--epochs", "-3"]),
    ("train --epochs 2.5", ["--epochs", "2.5"]),
    ("train --epochs abc", ["--epochs", "abc"]),
    ("train --epochs inf", ["--epochs", "inf"]),
    ("train --epochs 10001", ["--epochs", "10001", "<= 10000"]),
    ("train --seed -1", ["--seed", "-1"]),
    ("train --seed nan", ["--seed", "nan"]),
    ("train --seed 4294967296", ["--seed", "4294967296"]),
    ("train --dataset cifar10", ["--dataset", "cifar10"]),
    ("train --save {tmp}/nowhere/model.npz", ["--save", "nowhere"]),
    ("train --save {tmp}/outdir.npz/", ["--save", "outdir.npz"]),
    ("train --epochs 1 --save {tmp}/pipe.npz", ["--save", "pipe.npz", "is a FIFO"]),
    ("bench cifar", ["cifar"]),
    ("bench", ["what"]),
    ("bench train --seeds 3", ["--seeds"]),
    ("release", ["src"]),
    ("release {tmp}/nope {tmp}/rel", ["src", "nope"]),
    ("release {ex} {tmp}/file.txt", ["out", "file.txt", "file"]),
    ("release {ex} {ex}/released", ["out", "released", "inside"]),
    ("release {tmp}/empty {tmp}/rel", ["src", "empty", "no tests.py"]),
    ("check {ex}/01_autograd --timeout inf", ["--timeout", "inf"]),
    ("check {ex}/01_autograd --timeout 0", ["--timeout", "=0"]),
    ("check {ex}/01_autograd --timeout -1", ["--timeout", "-1"]),
    ("check {ex}/01_autograd --timeout 3601", ["--timeout", "3601", "<= 3600"]),
    ("check {ex}/01_autograd --submission-timeout 86401", ["--submission-timeout", "86401"]),
    ("check {ex}/01_autograd --memory 64", ["--memory", "64", ">= 128"]),
    ("check {ex}/01_autograd --memory 1e9", ["--memory", "1000000000"]),
    ("check {tmp}/nope", ["path", "nope"]),
    ("check {tmp}/empty", ["path", "empty", "no tests.py"]),
    ("check {ex}/01_autograd", ["01_autograd", "instructor's copy", "minicomp validate"]),
    ("grade {tmp}/empty --exercises {ex} --out {tmp}/g.csv", ["no student folders", "empty"]),
    ("grade {tmp}/nope --exercises {ex} --out {tmp}/g.csv", ["submissions", "nope"]),
    (GRADE + " --out {tmp}/outdir", ["--out", "outdir", "is a directory"]),
    (GRADE + " --out {tmp}/file.txt/g.csv", ["--out", "file.txt", "is a file"]),
    (GRADE + " --out {tmp}/subs/g.csv", ["--out", "g.csv", "inside the submissions"]),
    (GRADE + " --out {tmp}/pipe.csv", ["--out", "pipe.csv", "is a FIFO"]),
    (GRADE + " --out {tmp}/g.csv --gradescope {ex}/gs", ["--gradescope", "gs",
                                                         "inside the exercises"]),
    (GRADE + " --out {tmp}/g.csv --gradescope {tmp}/file.txt", ["--gradescope", "file.txt"]),
    (GRADE + " --out {tmp}/g.csv --feedback {tmp}/subs/alice", ["--feedback", "alice",
                                                                "inside the submissions"]),
    (GRADE + " --out /dev/stdout", ["--out", "'/dev/stdout' is a symbolic link",
                                    "/proc/self/fd/1"]),
    (GRADE + " --out {tmp}/filelink.csv", ["--out", "filelink.csv", "symbolic link",
                                           "file.txt"]),
    (GRADE + " --out {tmp}/g.csv --feedback {tmp}/dirlink", ["--feedback", "dirlink",
                                                             "symbolic link", "outdir"]),
    (GRADE + " --out {tmp}/g.csv --gradescope {tmp}/dirlink", ["--gradescope", "dirlink",
                                                               "symbolic link"]),
    ("train --epochs 1 --save {tmp}/filelink.csv", ["--save", "filelink.csv", "symbolic link"]),
    ("gradescope {ex}/01_autograd {tmp}/filelink.zip", ["OUT", "filelink.zip",
                                                        "symbolic link"]),
    (GRADE + " --jobs 0", ["--jobs", "=0"]),
    (GRADE + " --jobs 65", ["--jobs", "65", "<= 64"]),
    (GRADE + " --timeout inf", ["--timeout", "inf"]),
    (GRADE + " --submission-timeout nan", ["--submission-timeout", "nan"]),
    (GRADE + " --hidden-visibility public", ["--hidden-visibility", "public"]),
    ("grade {tmp}/subs --exercises {tmp}/empty --out {tmp}/g.csv", ["exercises", "empty"]),
    ("grade {tmp}/subs --exercises {tmp}/nope --out {tmp}/g.csv", ["exercises", "nope"]),
    ("validate {tmp}/nope", ["exercises", "nope"]),
    ("validate {ex} --timeout nan", ["--timeout", "nan"]),
    ("validate {ex} --memory 0", ["--memory", "=0"]),
    ("validate {tmp}/empty", ["exercises", "empty"]),
    ("gradescope", ["EXERCISE"]),
    ("gradescope {tmp}/nope {tmp}/a.zip", ["EXERCISE", "nope"]),
    ("gradescope {ex} {tmp}/a.zip", ["EXERCISE", "folder of exercises", "01_autograd"]),
    ("gradescope {ex}/01_autograd {tmp}/a.zip --timeout inf", ["--timeout", "inf"]),
    ("gradescope {ex}/01_autograd {tmp}/a.zip --memory 2.5", ["--memory", "2.5"]),
    ("gradescope {ex}/01_autograd {tmp}/a.txt", ["OUT", "a.txt", ".zip"]),
    ("gradescope {ex}/01_autograd {tmp}/outdir.zip", ["OUT", "outdir.zip", "directory"]),
    ("gradescope {ex}/01_autograd {ex}/01_autograd/a.zip", ["OUT", "a.zip",
                                                            "inside the exercises"]),
    ("gradescope {ex}/01_autograd {tmp}/pipe.zip", ["OUT", "pipe.zip", "is a FIFO"]),
]
PIPES = ("pipe.npz", "pipe.csv", "pipe.zip")      # FIFOs: refused, never replaced by a file


def run_cli(argv) -> int:
    """``minicomp.cli.main(argv)``'s exit status, whether returned or raised."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("command, words", BAD, ids=[c for c, _ in BAD])
def test_bad_invocation_stops_before_any_work_with_one_clear_line(place, capsys, command,
                                                                    words):
    (place / "outdir.npz").mkdir()
    (place / "outdir.zip").mkdir()
    for name in PIPES:
        os.mkfifo(place / name)
    argv = command.format(tmp=place, ex=place / "ex").split()
    t0 = time.monotonic()
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 1
    for word in words:
        assert word in err, f"{word!r} not in {err!r}"
    assert time.monotonic() - t0 < 10
    assert not (place / "g.csv").exists() and not (place / "feedback").exists()
    assert not (place / "ex" / "released").exists() and not (place / "a.zip").exists()
    assert not (place / "rel").exists()
    assert all(stat.S_ISFIFO(os.lstat(place / name).st_mode) for name in PIPES)
    assert all((place / name).is_symlink() for name in ("dirlink", "filelink.csv",
                                                        "filelink.zip"))
    assert os.listdir(place / "outdir") == [] and os.path.islink("/dev/stdout")
    assert (place / "file.txt").read_text() == "not a folder\n"


@pytest.mark.parametrize("verb", ["grade", "train"])
def test_a_character_device_as_output_is_refused_before_any_work(place, capsys, monkeypatch,
                                                                  verb):
    """A copy of /dev/null (root only: mknod) is never replaced by the gradebook or model."""
    try:
        os.mknod(place / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except OSError as e:
        pytest.skip(f"cannot create a character device (root with CAP_MKNOD only): {e}")
    import minicomp.train

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the output was checked")
    monkeypatch.setattr(grade_module, "grade", no_work)
    monkeypatch.setattr(minicomp.train, "train_baseline", no_work)
    argv = {"grade": "grade {tmp}/subs --exercises {ex}/01_autograd --out {tmp}/null",
            "train": "train --epochs 1 --save {tmp}/null"}[verb]
    assert run_cli(argv.format(tmp=place, ex=place / "ex").split()) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"'{place / 'null'}' is a character device" in err
    assert stat.S_ISCHR(os.lstat(place / "null").st_mode)


def test_grade_one_exercise_folder_grades_only_that_exercise(tmp_path, capsys):
    folder = tmp_path / "subs" / "alice" / "01_autograd"
    folder.mkdir(parents=True)
    (folder / "exercise.py").write_bytes(reference("01_autograd"))
    (tmp_path / "subs" / "alice" / "02_importance").mkdir()
    assert main(["grade", str(tmp_path / "subs"), "--exercises", str(EXERCISES / "01_autograd"),
                 "--out", str(tmp_path / "out" / "g.csv"), "--quiet"]) == 0
    (row,) = csv.DictReader((tmp_path / "out" / "g.csv").open())
    assert list(row) == ["student_id", "raw_score", "max_score", "01_autograd"]
    assert row["raw_score"] == row["max_score"] == "10"
    assert "02_importance" not in (tmp_path / "out" / "feedback" / "alice.txt").read_text()


def test_check_a_whole_released_folder_counts_every_exercise(tmp_path, capsys):
    release(EXERCISES, tmp_path / "rel")
    assert main(["check", str(tmp_path / "rel")]) == 1
    out = capsys.readouterr().out
    names = sorted(p.parent.name for p in EXERCISES.glob("*/tests.py"))
    for name in names:
        assert f"{name}: public tests passed: 0/" in out
    assert out.rstrip().splitlines()[-1].startswith("public tests passed: 0/")
    assert "all tests passed" not in out


def test_check_of_a_marker_free_solution_runs(tmp_path, capsys):
    (tmp_path / "01_autograd").mkdir()
    shutil.copy(EXERCISES / "01_autograd" / "tests.py", tmp_path / "01_autograd")
    (tmp_path / "01_autograd" / "exercise.py").write_bytes(reference("01_autograd"))
    assert main(["check", str(tmp_path / "01_autograd" / "exercise.py")]) == 0
    assert "public tests passed: 3/3" in capsys.readouterr().out


@pytest.mark.parametrize("limits", [
    lambda: Limits(timeout=math.inf), lambda: Limits(submission_timeout=math.inf),
    lambda: Limits(timeout=float("nan")), lambda: Limits(timeout=7200),
    lambda: Limits(memory_mb=10)])
def test_library_refuses_bad_limits_before_any_work(place, limits, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("work started before the limits were checked")
    monkeypatch.setattr(grade_module, "probe", no_work)
    monkeypatch.setattr(grade_module, "run_exercise", no_work)
    for run in (lambda: grade(place / "subs", place / "ex", place / "g.csv",
                              limits=limits(), progress=False),
                lambda: check(place / "subs" / "alice", limits()),
                lambda: validate(place / "ex", limits=limits())):
        with pytest.raises(ValueError, match="timeout|memory"):
            run()


@pytest.mark.parametrize("jobs", [0, -1, 65, 2.0, True])
def test_library_refuses_bad_jobs(place, jobs):
    with pytest.raises((TypeError, ValueError), match="jobs"):
        grade(place / "subs", place / "ex", place / "g.csv", jobs=jobs, progress=False)


def test_student_ids_skip_names_that_could_escape_the_report_folders(tmp_path, capsys):
    for name in ("alice", ".hidden", "new\nline", "bob"):
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("a file, not a student")
    (tmp_path / "linked").symlink_to(tmp_path / "bob")
    assert student_ids(tmp_path) == ["alice", "bob", "linked"]
    assert "'new\\nline'" in capsys.readouterr().err


def test_report_writers_never_leave_their_folders(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "gs").mkdir()
    (tmp_path / "gs" / "alice").symlink_to(outside)       # planted: gs/alice -> outside
    alice = StudentResult("alice", [], 10.0)
    grade_module._write_outputs([alice], [], "header", tmp_path / "g.csv", tmp_path / "gs",
                                tmp_path / "fb", "after_published")
    assert not (tmp_path / "gs" / "alice").is_symlink() and not os.listdir(outside)
    assert (tmp_path / "gs" / "alice" / "results.json").is_file()
    for crafted in ("../escaped", "..", ".", "a/b", ""):
        with pytest.raises(ValueError, match="student_id"):
            grade_module._write_outputs([StudentResult(crafted, [], 1.0)], [], "h",
                                        tmp_path / "g.csv", tmp_path / "gs",
                                        tmp_path / "fb", "visible")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "escaped").exists()


def test_every_outcome_has_words_for_the_student():
    from minicomp.grading import OUTCOMES
    from minicomp.grading.report import WORDS
    assert set(WORDS) == set(OUTCOMES)


def test_user_errors_are_one_line_and_bugs_keep_their_traceback(place, monkeypatch, capsys):
    from minicomp import validate as v
    try:
        v.integer(0, "jobs", low=1)
    except ValueError as e:
        assert user_error(e)
    try:
        open(place / "nope.txt")
    except FileNotFoundError as e:
        assert user_error(e)
    try:
        None + 1
    except TypeError as e:
        assert not user_error(e)
    monkeypatch.setattr(grade_module, "read_student_files", None)   # a bug inside minicomp
    with pytest.raises(TypeError, match="not callable"):
        main(["validate", str(place / "ex")])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_grade_leaves_no_sandbox_and_no_student_process(tmp_path, signum):
    folder = tmp_path / "subs" / "looper" / "01_autograd"
    folder.mkdir(parents=True)
    (folder / "exercise.py").write_text("while True:\n    pass\n")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "minicomp", "grade", str(tmp_path / "subs"), "--exercises",
         str(EXERCISES / "01_autograd"), "--out", str(tmp_path / "out" / "g.csv"),
         "--timeout", "60", "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    students = []
    try:
        deadline = time.monotonic() + 60
        while not (loops := [p.parent for p in tmp.glob("minicomp-sandbox-*/exercise.py")
                             if _read(p).startswith(b"while")]):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.1)
        time.sleep(0.5)                                # the student's loop is running
        students = [int(p.name) for p in pathlib.Path("/proc").iterdir() if p.name.isdigit()
                    and str(loops[0]).encode() in _read(p / "cmdline")]
        assert students
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        time.sleep(0.5)
        alive = [pid for pid in students if _read(pathlib.Path("/proc", str(pid), "stat"))
                 .split(b") ")[-1][:1] not in (b"", b"Z")]      # gone, or a zombie
        for pid in alive:                              # leave no orphan, even on failure
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 128 + signum
    assert f"interrupted by {signal.Signals(signum).name}" in err and "Traceback" not in err
    assert not list(tmp.glob("minicomp-sandbox-*"))
    assert not alive, "a student process survived"


def _read(path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:                                    # the process is gone
        return b""


def test_gradescope_verb_builds_the_autograder(tmp_path, capsys):
    import zipfile
    assert main(["gradescope", str(EXERCISES / "01_autograd"), str(tmp_path / "ag.zip"),
                 "--timeout", "5"]) == 0
    assert "01_autograd" in capsys.readouterr().out
    with zipfile.ZipFile(tmp_path / "ag.zip") as z:
        assert "setup.sh" in z.namelist() and "run_autograder" in z.namelist()


# --- what the grader reads: never open to student code, links judged fairly ---------------

def fake_readable(monkeypatch, top):
    """Make ``top`` count as a folder the sandbox lets student code read."""
    from minicomp.grading import report
    real = os.path.realpath(top)
    monkeypatch.setattr(report, "readable_root", lambda p: real if os.path.realpath(p)
                        .startswith(real + os.sep) or os.path.realpath(p) == real else None)


@pytest.mark.parametrize("what", ["submissions", "--out", "--gradescope", "--feedback"])
def test_submissions_and_reports_under_a_readable_root_are_refused(place, monkeypatch,
                                                                   capsys, what):
    """N13: with the submissions in a venv made at the course root, one student's
    code read and ran another's exercise.py; the reports would be read next year."""
    venv = place / "venv" / "share"
    venv.mkdir(parents=True)
    fake_readable(monkeypatch, place / "venv")
    subs = place / "subs"
    if what == "submissions":
        subs = venv / "subs"
        shutil.copytree(place / "subs", subs)
    argv = ["grade", str(subs), "--exercises", str(place / "ex"), "--quiet",
            "--out", str(place / "g.csv")]
    if what != "submissions":
        argv[argv.index("--out") if what == "--out" else len(argv):] = \
            [what, str(venv / ("g.csv" if what == "--out" else "reports"))]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 1
    name = what.lstrip("-")
    assert f"{what if what != 'submissions' else name}=" in err and str(venv) in err
    assert f"lies under '{place / 'venv'}'" in err and "move it elsewhere" in err
    assert not (place / "g.csv").exists() and not list(venv.glob("*.csv"))
    with pytest.raises(ValueError, match="lies under"):       # the library, too
        kwargs = {"submissions": {}, "--out": {"out": venv / "g.csv"},
                  "--gradescope": {"gradescope": venv / "gs"},
                  "--feedback": {"feedback": venv / "fb"}}[what]
        grade(subs, place / "ex", **{"out": place / "g.csv", **kwargs}, progress=False)


def test_submissions_in_the_real_venv_are_refused(tmp_path):
    """The real roots: a folder under ``sys.prefix`` (the venv running the grader)."""
    try:
        top = tempfile.mkdtemp(prefix="minicomp-test-subs-", dir=sys.prefix)
    except OSError as e:
        pytest.skip(f"cannot write in {sys.prefix}: {e}")
    try:
        (pathlib.Path(top) / "alice" / "01_autograd").mkdir(parents=True)
        with pytest.raises(ValueError, match=r"submissions=.*lies under .*move it elsewhere"):
            grade(top, EXERCISES / "01_autograd", tmp_path / "g.csv", progress=False)
        assert not (tmp_path / "g.csv").exists()
    finally:
        shutil.rmtree(top)


def test_check_runs_a_student_folder_the_sandbox_can_read(place, monkeypatch, capsys):
    """Harmless: the student's own code, public cases, its own folder (documented)."""
    release(place / "ex", place / "rel")
    fake_readable(monkeypatch, place / "rel")
    assert main(["check", str(place / "rel" / "01_autograd")]) == 1
    assert "public tests passed: 0/" in capsys.readouterr().out


def test_only_hard_links_to_the_instructors_files_are_refused(place):
    """N16: a cp -al backup and a student's own hard-linked copy are ordinary files;
    a hard link to the instructor's solution or tests is refused, by name."""
    ex = place / "ex" / "01_autograd"
    subs = place / "subs"
    alice = subs / "alice" / "01_autograd"
    (alice / "exercise.py").write_bytes(reference("01_autograd"))
    os.link(alice / "exercise.py", alice / "exercise_backup.py")          # the student's own
    for sid, target, rel in (("mallory", ex / "exercise.py", "exercise.py"),
                             ("trudy", ex / "tests.py", "notes/tests.txt")):
        folder = subs / sid / "01_autograd"
        (folder / rel).parent.mkdir(parents=True)
        if rel != "exercise.py":
            (folder / "exercise.py").write_bytes(reference("01_autograd"))
        os.link(target, folder / rel)
    backup = place / "backup"                                   # cp -al subs backup
    for path in sorted(subs.rglob("*")):
        if path.is_dir():
            (backup / path.relative_to(subs)).mkdir(parents=True, exist_ok=True)
        else:
            os.link(path, backup / path.relative_to(subs))
    summary = grade(subs, ex, place / "out" / "g.csv", gradescope=place / "out" / "gs",
                    jobs=2, progress=False, limits=Limits(timeout=10))
    by_id = {s.student_id: s for s in summary["students"]}
    assert by_id["alice"].score == by_id["alice"].max_score > 0
    assert not by_id["alice"].refused
    for sid, rel in (("mallory", "01_autograd/exercise.py"),
                     ("trudy", "01_autograd/notes/tests.txt")):
        s = by_id[sid]
        assert s.score == 0
        assert {c.status for ex in s.exercises for c in ex.cases} == {"symlink"}
        doc = json.loads((place / "out" / "gs" / sid / "results.json").read_text())
        first = doc["tests"][0]["output"]
        assert first.startswith("[symlink] a hard link to the instructor's files in your "
                                "submission was refused"), first
        assert f"'{rel}' is a hard link to one of the instructor's files" in first
        assert "symbolic" not in first
    from minicomp.grading.report import summary_line
    assert "(2 refused unread" in summary_line(summary["students"], 1.0, "g.csv")


def test_a_tree_too_big_to_search_names_its_top_folder_and_what_to_do(tmp_path):
    from minicomp.grading.submission import MAX_SCANNED, read_submission
    student = tmp_path / "alice"
    (student / "01_x").mkdir(parents=True)
    (student / "01_x" / "exercise.py").write_text("x = 1\n")
    many = student / ".venv" / "lib"
    many.mkdir(parents=True)
    for k in range(MAX_SCANNED + 1):
        (many / f"f{k:05d}").touch()
    refused = read_submission(student, ["01_x"])["01_x"]
    assert refused.path == ".venv" and refused.kind == "too large"
    assert refused.message.startswith("'.venv' holds too many files and folders to check")
    assert "hand in only the exercise folders" in refused.message
    assert refused.words == "your submission was too large to check for links"
    shutil.rmtree(student / ".venv")
    (student / "01_x" / "cache").joinpath(*["d"] * 40).mkdir(parents=True)
    refused = read_submission(student, ["01_x"])["01_x"]
    assert refused.path == "01_x/cache" and "nested more than 32 levels" in refused.message


def test_the_summary_counts_refused_and_failed_submissions():
    from minicomp.grading.report import summary_line
    from minicomp.grading.submission import SymlinkRefused
    students = [StudentResult("a", [], 1.0), StudentResult("b", [], 1.0, error="autograder "
                "failed: X"), StudentResult("c", [], 1.0, refused={"01": SymlinkRefused("x")})]
    assert summary_line(students, 2.0, "g.csv") == (
        "graded 3 submissions in 2.0 s -> g.csv (1 refused unread, status symlink; "
        "1 autograder failed)")


BROKEN_TESTS = {"raises": "raise RuntimeError('boom in the instructor code')\n",
                "syntax": "def broken(:\n", "exits": "import sys\nsys.exit(3)\n"}


@pytest.mark.parametrize("kind", sorted(BROKEN_TESTS))
@pytest.mark.parametrize("verb", ["check", "gradescope", "grade", "validate"])
def test_a_tests_py_that_fails_to_run_is_one_line_naming_it(tmp_path, capsys, verb, kind):
    folder = tmp_path / "ex" / "01_x"
    folder.mkdir(parents=True)
    (folder / "tests.py").write_text(BROKEN_TESTS[kind])
    (folder / "exercise.py").write_text("x = 1\n")
    (tmp_path / "subs" / "alice" / "01_x").mkdir(parents=True)
    argv = {"check": ["check", str(folder)],
            "gradescope": ["gradescope", str(folder), str(tmp_path / "ag.zip")],
            "grade": ["grade", str(tmp_path / "subs"), "--exercises", str(folder), "--out",
                      str(tmp_path / "g.csv"), "--quiet"],
            "validate": ["validate", str(folder)]}[verb]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert f"'{folder / 'tests.py'}' failed to load" in err
    assert {"raises": "RuntimeError: boom", "syntax": "SyntaxError",
            "exits": "SystemExit: 3"}[kind] in err
    assert not (tmp_path / "ag.zip").exists() and not (tmp_path / "g.csv").exists()


@pytest.mark.parametrize("planted", ["feedback/alice.txt", "gs/alice", "gs/alice/results.json"])
def test_a_link_planted_among_the_reports_is_refused_before_grading(place, monkeypatch,
                                                                    planted):
    def no_work(*args, **kwargs):
        raise AssertionError("grading started before the report paths were checked")
    monkeypatch.setattr(grade_module, "grade_class", no_work)
    outside = place / "outside"
    outside.mkdir()
    (place / planted).parent.mkdir(parents=True, exist_ok=True)
    (place / planted).symlink_to(outside if planted == "gs/alice" else outside / "x")
    with pytest.raises(ValueError, match=f"'{place / planted}' is a symbolic link"):
        grade(place / "subs", place / "ex", place / "g.csv", gradescope=place / "gs",
              feedback=place / "feedback", progress=False)
    assert (place / planted).is_symlink() and os.listdir(outside) == []
    assert not (place / "g.csv").exists()
