"""What the grader writes: the CSV gradebook, Gradescope ``results.json``, feedback.

* CSV: nbgrader's columns where they apply (``student_id, raw_score,
  max_score``) plus one column per exercise.
* ``results.json`` in exactly Gradescope's schema (top level ``score``,
  ``execution_time``, ``output``, ``visibility``, ``tests``; per test
  ``score``, ``max_score``, ``status`` -- ``"passed"``/``"failed"``, the
  only values Gradescope knows --, ``name``, ``output``, ``visibility``).
  A hidden case shows its name, status and the author's
  ``failure_message`` only: never its code, inputs or expected values.
* A plain-text feedback per student, with the same rule for hidden cases.

Every file is written with :func:`minicomp.atomic.atomic_open`.
"""
from __future__ import annotations

import csv
import io
import json

from ..atomic import atomic_open

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


def sandbox_line(report: dict, limits) -> str:
    """One line stating the isolation in force (and loudly when there is none)."""
    ll = report.get("landlock", {})
    rlimits = (f"rlimits (memory {limits.memory_mb} MB, files {limits.fsize_mb} MB, "
               f"{limits.nproc} processes), {limits.timeout:g} s per call")
    if not limits.isolate:
        return f"sandbox: {rlimits} only -- isolation switched OFF: the student code " \
               "can read and write any file its user can, and use the network"
    if not ll.get("filesystem"):
        return f"sandbox: {rlimits} only -- WARNING: Landlock is unavailable on this " \
               "system: the student code can read any file its user can"
    parts = ["filesystem"] + [k for k in ("network", "signals") if ll.get(k)]
    return (f"sandbox: Landlock ABI {ll.get('abi')} ({' + '.join(parts)}), "
            f"{report.get('namespaces', 'no namespaces')}, {rlimits}")


def _case_output(c) -> str:
    words = {"passed": "passed", "failed": "failed", "error": "your code raised an error",
             "timeout": "timed out", "crashed": "your process crashed",
             "syntax_error": "syntax error in your file",
             "missing": "missing function or file"}
    head = f"[{c.status}] {words[c.status]}"
    return head + ("\n" + c.feedback if c.feedback else "")


def results_json(student, header: str, hidden_visibility: str = "after_published") -> dict:
    """Gradescope's ``results.json`` for one student, as a dict."""
    if hidden_visibility not in VISIBILITIES:
        raise ValueError(f"hidden_visibility must be one of {VISIBILITIES}, "
                         f"got {hidden_visibility!r}")
    tests = []
    for ex in student.exercises:
        for c in ex.cases:
            tests.append({"score": c.score, "max_score": c.max_score,
                          "status": "passed" if c.status == "passed" else "failed",
                          "name": f"{ex.exercise}: {c.name}", "output": _case_output(c),
                          "visibility": hidden_visibility if c.hidden else "visible"})
    output = header
    if student.error:
        output += f"\n{student.error}"
        tests.append({"score": 0.0, "max_score": 0.0, "status": "failed",
                      "name": "Autograder failed", "output": student.error,
                      "visibility": "visible"})
    return {"score": student.score, "execution_time": round(student.seconds, 3),
            "output": output, "visibility": "visible", "tests": tests}


def feedback_text(student, header: str) -> str:
    """Plain-text feedback for one student (hidden cases: name and status only)."""
    lines = [f"minicomp grader -- feedback for {student.student_id}", header, ""]
    if student.error:
        lines += [student.error, ""]
    for ex in student.exercises:
        lines.append(f"{ex.exercise}: {ex.score:g} / {ex.max_score:g}")
        for c in ex.cases:
            tag = " (hidden)" if c.hidden else ""
            lines.append(f"  {c.status:<12} {c.score:g}/{c.max_score:g}  {c.name}{tag}")
            lines += [f"      {line}" for line in c.feedback.splitlines()[:30]]
        lines.append("")
    lines.append(f"total: {student.score:g} / {student.max_score:g}")
    return "\n".join(lines) + "\n"


def csv_text(students, exercise_names) -> str:
    """The gradebook: ``student_id, raw_score, max_score, <exercise>...``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student_id", "raw_score", "max_score", *exercise_names])
    for s in students:
        by_name = {ex.exercise: ex.score for ex in s.exercises}
        writer.writerow([s.student_id, f"{s.score:g}", f"{s.max_score:g}",
                         *(f"{by_name.get(n, 0.0):g}" for n in exercise_names)])
    return buf.getvalue()


def write_text(path, text: str) -> None:
    """Write ``text`` atomically (UTF-8)."""
    with atomic_open(path, "wb") as f:
        f.write(text.encode("utf-8", errors="replace"))


def write_json(path, doc: dict) -> None:
    """Write ``doc`` as JSON atomically."""
    write_text(path, json.dumps(doc, indent=2) + "\n")
