"""``grade`` runs the public cases of the whole class first, then the hidden ones.

Why (N12): a hidden case hands the hidden inputs to the student's code,
which could leave a trace -- file access times -- that a later public case
reads back and raises in its message, shown to the student. So no public
case may run after any hidden one, for any exercise and any student (the
hidden inputs are the same for the whole class). Results are merged back
into ``tests.py``'s order; times, scores and the report files are what they
were with one phase.
"""
import csv
import json
import pathlib
import threading
import time

import pytest

from minicomp.cli import main
from minicomp.grading import load_cases, phases
from minicomp.grading.case import CaseResult
from minicomp.grading.grade import grade
from minicomp.grading.release import build_release
from minicomp.grading.run import ExerciseResult
from minicomp.grading.sandbox import Limits

REPO = pathlib.Path(__file__).resolve().parents[1]
EXERCISES = REPO / "exercises"
NAMES = sorted(p.name for p in EXERCISES.iterdir() if (p / "tests.py").is_file())

# hidden case first, so that the merge back into tests.py's order is visible
TESTS = '''from minicomp.grading import case


@case(hidden=True, points=2, failure_message="think about zero")
def hidden_first(ex):
    assert ex.f(0) == 0


@case
def public_second(ex):
    assert ex.f(1) == 1
'''


@pytest.fixture
def course(tmp_path):
    """Two exercises (each: a hidden case, then a public one) and three students."""
    for ex in ("ex_a", "ex_b"):
        (tmp_path / "exercises" / ex).mkdir(parents=True)
        (tmp_path / "exercises" / ex / "tests.py").write_text(TESTS)
    for sid, body in (("alice", "x"), ("bob", "0"), ("carol", "x")):
        for ex in ("ex_a", "ex_b"):
            folder = tmp_path / "subs" / sid / ex
            folder.mkdir(parents=True)
            (folder / "exercise.py").write_text(f"STUDENT = {sid!r}\n\n\ndef f(x):\n"
                                                f"    return {body}\n")
    return tmp_path


def recorder(monkeypatch, pause: float = 0.0):
    """Replace run_exercise by a fake that passes every case and logs each call."""
    calls, lock = [], threading.Lock()

    def fake(exercise, cases, files, limits, which="all", **kwargs):
        student = files["exercise.py"].split(b"'")[1].decode()
        with lock:
            calls.append((student, exercise, which, limits.submission_timeout))
        if which == "public":
            time.sleep(pause)
        chosen = [c for c in cases if which == "all" or c.hidden == (which == "hidden")]
        results = [CaseResult(c.name, "passed", c.points, c.points, c.hidden) for c in chosen]
        return ExerciseResult(exercise, results, {"phase": which})
    monkeypatch.setattr(phases, "run_exercise", fake)
    return calls


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_public_phase_runs_before_every_hidden_phase(course, monkeypatch, jobs):
    calls = recorder(monkeypatch)
    summary = grade(course / "subs", course / "exercises", course / "out" / "g.csv",
                    gradescope=course / "out" / "gs", jobs=jobs, progress=False,
                    limits=Limits(timeout=5))
    kinds = [which for _, _, which, _ in calls]
    assert sorted(kinds) == ["hidden"] * 6 + ["public"] * 6          # 3 students x 2 exercises
    assert kinds == ["public"] * 6 + ["hidden"] * 6, calls            # a barrier between
    assert {(s, e) for s, e, w, _ in calls if w == "hidden"} == \
        {(s, e) for s, e, w, _ in calls if w == "public"}
    # results back in tests.py's order, in student order, with every field
    students = summary["students"]
    assert [s.student_id for s in students] == ["alice", "bob", "carol"]
    for s in students:
        assert [ex.exercise for ex in s.exercises] == ["ex_a", "ex_b"]
        for ex in s.exercises:
            assert [c.name for c in ex.cases] == ["hidden_first", "public_second"]
            assert [c.hidden for c in ex.cases] == [True, False]
        assert s.score == s.max_score == 6 and s.seconds > 0 and not s.error
    doc = json.loads((course / "out" / "gs" / "bob" / "results.json").read_text())
    assert [t["name"] for t in doc["tests"]] == ["ex_a: hidden_first", "ex_a: public_second",
                                                 "ex_b: hidden_first", "ex_b: public_second"]


def test_the_submission_time_limit_counts_both_phases(course, monkeypatch):
    calls = recorder(monkeypatch, pause=0.3)
    grade(course / "subs", course / "exercises", course / "out" / "g.csv", progress=False,
          limits=Limits(timeout=5, submission_timeout=60))
    for student, exercise, which, budget in calls:
        if which == "public":
            assert budget == 60
        else:                  # what the public phase of that exercise left
            assert 59.0 < budget <= 60 - 0.3, (student, exercise, budget)


def test_a_grader_error_in_the_hidden_phase_is_autograder_failed(course, monkeypatch):
    calls = recorder(monkeypatch)
    passing = phases.run_exercise

    def hidden_breaks(exercise, cases, files, limits, which="all", **kwargs):
        if which == "hidden" and b"bob" in files["exercise.py"]:
            raise RuntimeError("disk on fire")
        return passing(exercise, cases, files, limits, which=which, **kwargs)
    monkeypatch.setattr(phases, "run_exercise", hidden_breaks)
    summary = grade(course / "subs", course / "exercises", course / "out" / "g.csv",
                    jobs=2, progress=False, limits=Limits(timeout=5))
    by_id = {s.student_id: s for s in summary["students"]}
    assert by_id["bob"].score == 0 and "autograder failed: RuntimeError: disk on fire" in \
        by_id["bob"].error
    assert by_id["alice"].score == by_id["carol"].score == 6
    assert [w for _, _, w, _ in calls] == ["public"] * 6 + ["hidden"] * 4


def test_real_sandbox_two_phases_merge_in_order_and_hide_hidden_output(course):
    summary = grade(course / "subs", course / "exercises", course / "out" / "g.csv",
                    gradescope=course / "out" / "gs", jobs=2, progress=False,
                    limits=Limits(timeout=10))
    scores = {s.student_id: [(c.name, c.status) for ex in s.exercises for c in ex.cases]
              for s in summary["students"]}
    assert scores["bob"] == [("hidden_first", "passed"), ("public_second", "failed")] * 2
    assert scores["alice"] == [("hidden_first", "passed"), ("public_second", "passed")] * 2
    rows = list(csv.DictReader((course / "out" / "g.csv").open()))
    assert [(r["student_id"], r["raw_score"], r["max_score"]) for r in rows] == [
        ("alice", "6", "6"), ("bob", "4", "6"), ("carol", "6", "6")]
    doc = json.loads((course / "out" / "gs" / "bob" / "results.json").read_text())
    assert doc["tests"][0]["visibility"] == "after_published"
    assert doc["tests"][0]["output"] == "[passed] passed"
    assert "assert" in doc["tests"][1]["output"] or "failed" in doc["tests"][1]["output"]


def test_cli_grades_the_real_exercises_as_before(tmp_path):
    """Reference solutions: full marks; released stubs: zero; cases in tests.py's order."""
    released = build_release(EXERCISES)
    for name in NAMES:
        ref = "".join(line for line in (EXERCISES / name / "exercise.py").read_text()
                      .splitlines(keepends=True) if "### BEGIN SOLUTION" not in line
                      and "### END SOLUTION" not in line)
        for sid, text in (("ref", ref), ("stub", released[f"{name}/exercise.py"].decode())):
            (tmp_path / "subs" / sid / name).mkdir(parents=True)
            (tmp_path / "subs" / sid / name / "exercise.py").write_text(text)
    out = tmp_path / "out"
    assert main(["grade", str(tmp_path / "subs"), "--exercises", str(EXERCISES), "--out",
                 str(out / "grades.csv"), "--gradescope", str(out / "gs"), "--jobs", "2",
                 "--quiet"]) == 0
    rows = {r["student_id"]: r for r in csv.DictReader((out / "grades.csv").open())}
    cases = {name: load_cases(EXERCISES / name / "tests.py") for name in NAMES}
    total = sum(c.points for v in cases.values() for c in v)
    assert float(rows["ref"]["raw_score"]) == float(rows["ref"]["max_score"]) == total
    assert float(rows["stub"]["raw_score"]) == 0
    for name in NAMES:
        assert float(rows["ref"][name]) == sum(c.points for c in cases[name])
        assert float(rows["stub"][name]) == 0
    expected = [(f"{n}: {c.name}", "after_published" if c.hidden else "visible")
                for n in NAMES for c in cases[n]]
    for sid in ("ref", "stub"):
        doc = json.loads((out / "gs" / sid / "results.json").read_text())
        assert [(t["name"], t["visibility"]) for t in doc["tests"]] == expected
        assert doc["execution_time"] > 0
    feedback = (out / "feedback" / "stub.txt").read_text()
    assert "(hidden)" in feedback and f"total: 0 / {total:g}" in feedback
