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

Every file is written with :func:`minicomp.atomic.atomic_open`. Where
reports go is checked before any grading (:func:`check_outputs`,
:func:`check_reports`): never into the submissions or the exercises, nor
under a folder student code may read (:func:`.roots.readable_root`), never
through a symbolic link, and a student id can only name a file directly
inside its report folder (:func:`report_path`).
"""
from __future__ import annotations

import csv
import io
import json
import os

from .. import validate
from ..atomic import atomic_open, check_existing
from .roots import readable_root

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
    extra = "".join(f", {report[k]}" for k in ("privileges", "seccomp") if report.get(k))
    warn = (" -- WARNING: file metadata outside the sandbox (modes, times, xattrs) is NOT "
            "protected" if str(report.get("seccomp", "")).startswith("no seccomp") else "")
    return (f"sandbox: Landlock ABI {ll.get('abi')} ({' + '.join(parts)}), "
            f"{report.get('namespaces', 'no namespaces')}{extra}, {rlimits}{warn}")


# what each outcome (case.OUTCOMES) means, as the student reads it
WORDS = {"passed": "passed", "failed": "failed", "error": "your code raised an error",
         "timeout": "timed out", "crashed": "your process crashed",
         "syntax_error": "syntax error in your file", "missing": "missing function or file",
         "symlink": "your submission was refused unread (a link in it, or too large "
                    "to check)"}


def printable(text: str) -> str:
    r"""``text`` with control characters shown as escapes (a student's ANSI codes
    could otherwise repaint a terminal showing the feedback, fake score included).

    >>> printable("ok\n\x1b[2Jtotal: 39 / 39\ttab")
    'ok\n\\x1b[2Jtotal: 39 / 39\ttab'
    """
    return "".join(ch if ch.isprintable() or ch in "\n\t" else repr(ch)[1:-1] for ch in text)


def _case_output(c, refused=None) -> str:
    words = refused.words if c.status == "symlink" and refused is not None else WORDS[c.status]
    return f"[{c.status}] {words}" + ("\n" + printable(c.feedback) if c.feedback else "")


def results_json(student, header: str, hidden_visibility: str = "after_published") -> dict:
    """Gradescope's ``results.json`` for one student, as a dict."""
    if hidden_visibility not in VISIBILITIES:
        raise ValueError(f"hidden_visibility must be one of {VISIBILITIES}, "
                         f"got {hidden_visibility!r}")
    tests, refused = [], getattr(student, "refused", {})
    for ex in student.exercises:
        for c in ex.cases:
            tests.append({"score": c.score, "max_score": c.max_score,
                          "status": "passed" if c.status == "passed" else "failed",
                          "name": f"{ex.exercise}: {c.name}",
                          "output": _case_output(c, refused.get(ex.exercise)),
                          "visibility": hidden_visibility if c.hidden else "visible"})
    output = header
    if student.error:
        output += f"\n{student.error}"
        tests.append({"score": 0.0, "max_score": 0.0, "status": "failed",
                      "name": "Autograder failed", "output": student.error,
                      "visibility": "visible"})
    seconds = getattr(student, "public_seconds", student.seconds)    # never the hidden phase
    return {"score": student.score, "execution_time": round(seconds, 3),
            "output": output, "visibility": "visible", "tests": tests}


def feedback_text(student, header: str) -> str:
    """Plain-text feedback for one student (hidden cases: name and status only)."""
    lines = [f"minicomp grader -- feedback for {student.student_id}", header, ""]
    if student.error:
        lines += [student.error, ""]
    for ex in student.exercises:
        lines.append(f"{ex.exercise}: {ex.score:g} / {ex.max_score:g}")
        if ex.exercise in getattr(student, "refused", {}):
            lines.append(f"  refused: {printable(student.refused[ex.exercise].message)}")
        for c in ex.cases:
            tag = " (hidden)" if c.hidden else ""
            lines.append(f"  {c.status:<12} {c.score:g}/{c.max_score:g}  {c.name}{tag}")
            lines += [f"      {line}" for line in printable(c.feedback).splitlines()[:30]]
        lines.append("")
    lines.append(f"total: {student.score:g} / {student.max_score:g}")
    return "\n".join(lines) + "\n"


def csv_cell(text: str) -> str:
    r"""``text`` made inert for a spreadsheet: a leading ``'`` when, leading spaces
    aside, it starts with ``=``, ``+``, ``-``, ``@``, or with a tab or CR (OWASP).

    >>> [csv_cell(s) for s in ("alice", "=1+1", " =1+1", "-x", "\t=1", "a=1")]
    ['alice', "'=1+1", "' =1+1", "'-x", "'\t=1", 'a=1']
    """
    risky = text[:1] in ("\t", "\r") or text.lstrip()[:1] in ("=", "+", "-", "@")
    return "'" + text if risky else text


def csv_text(students, exercise_names) -> str:
    """The gradebook: ``student_id, raw_score, max_score, <exercise>...``
    (ids and exercise names through :func:`csv_cell`: no cell is a formula)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student_id", "raw_score", "max_score", *map(csv_cell, exercise_names)])
    for s in students:
        by_name = {ex.exercise: ex.score for ex in s.exercises}
        writer.writerow([csv_cell(s.student_id), f"{s.score:g}", f"{s.max_score:g}",
                         *(f"{by_name.get(n, 0.0):g}" for n in exercise_names)])
    return buf.getvalue()


def summary_line(students, seconds: float, out) -> str:
    """What ``minicomp grade`` prints at the end: how many graded, refused, failed.

    A submission is "refused unread" when any of its exercises is (status
    ``symlink``: a link, a hard link to the instructor's files, too large).

    >>> summary_line([], 1.25, "g.csv")
    'graded 0 submissions in 1.2 s -> g.csv (0 refused unread, status symlink; 0 autograder failed)'
    """
    refused = sum(bool(getattr(s, "refused", None)) and not s.error for s in students)
    failed = sum(bool(s.error) for s in students)
    return (f"graded {len(students)} submissions in {seconds:.1f} s -> {out} ({refused} "
            f"refused unread, status symlink; {failed} autograder failed)")


def write_text(path, text: str) -> None:
    """Write ``text`` atomically (UTF-8); see :func:`minicomp.atomic.check_target` for
    the paths refused (a device, a FIFO, a read-only file: never replaced)."""
    with atomic_open(path, "wb", where="write_text") as f:
        f.write(text.encode("utf-8", errors="replace"))


def write_json(path, doc: dict) -> None:
    """Write ``doc`` as JSON atomically."""
    write_text(path, json.dumps(doc, indent=2) + "\n")


def output_path(path, name: str, *, folder: bool = False, forbidden=None) -> str:
    """``path`` checked as where to write a file (or a ``folder``); its absolute path.

    Parameters
    ----------
    path : str or os.PathLike
    name : str
        How the caller spells the argument (``"out"``, ``"--gradescope"``).
    folder : bool
        ``path`` is a folder to fill (it may exist), not a file.
    forbidden : dict of str to path, optional
        ``{label: folder}`` that ``path`` must not lie in, symlinks resolved
        (e.g. ``{"submissions": subs}``: students could plant a link there).

    Raises
    ------
    ValueError
        A file expected and ``path`` is a directory, or the reverse; a
        parent that is a file or not writable; ``path`` inside a forbidden
        folder; ``path`` a symbolic link (a folder would be written through,
        a file replaced); a file expected and ``path`` exists but is not a
        regular file (a device, a FIFO, a socket: it would be replaced).
    PermissionError
        A file expected and ``path`` is a file this process may not write.

    Examples
    --------
    >>> output_path("/tmp", "out")
    Traceback (most recent call last):
        ...
    ValueError: out='/tmp' is a directory; expected a file path such as '/tmp/grades.csv'
    """
    text = validate.path(path, name)
    full = os.path.abspath(text)
    if not folder and os.path.isdir(full):
        example = os.path.join(text, "grades.csv")
        raise ValueError(f"{name}={text!r} is a directory; expected a file path such as "
                         f"{example!r}")
    if folder and os.path.islink(full):
        raise ValueError(f"{name}={text!r} is a symbolic link (to {os.readlink(full)!r}); "
                         "expected a real folder (files would be written into the link's "
                         "target): name the folder itself")
    if folder and os.path.exists(full) and not os.path.isdir(full):
        raise ValueError(f"{name}={text!r} is a file; expected a folder")
    if not folder:
        check_existing(text, name=name)         # a device, a FIFO, a read-only file
    existing = full if folder else os.path.dirname(full)
    while not os.path.lexists(existing):            # the folders that will be created
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"{name}={text!r}: {existing!r} is a file, so the folder cannot "
                         "be created; expected a path under a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{name}={text!r}: the folder {existing!r} is not writable")
    real = os.path.realpath(full)
    for label, root in (forbidden or {}).items():
        top = os.path.realpath(root)
        if real == top or real.startswith(top.rstrip(os.sep) + os.sep):
            raise ValueError(f"{name}={text!r} is inside the {label} folder {root!r}; "
                             "expected a place outside it (files there would be "
                             "overwritten, or a planted symlink followed)")
    return full


MAX_ID = 200                            # bytes of a student id (folder name)


def safe_id(student_id) -> bool:
    """Whether ``student_id`` can name a report file: no separator, not hidden, printable,
    at most :data:`MAX_ID` characters (a file name holds 255 bytes, suffix included).

    >>> [safe_id(s) for s in ("alice", "s-01_b", "../x", ".env", "a/b", "", "a\\nb", "x" * 201)]
    [True, True, False, False, False, False, False, False]
    """
    return (isinstance(student_id, str) and student_id != "" and student_id[0] != "."
            and len(student_id.encode("utf-8", "replace")) <= MAX_ID
            and student_id.isprintable() and "/" not in student_id
            and "\\" not in student_id)


def report_path(folder, student_id: str, suffix: str = "") -> str:
    """``folder/<student_id><suffix>``, refused (ValueError) unless it stays in ``folder``.

    >>> report_path("feedback", "alice", ".txt")
    'feedback/alice.txt'
    >>> report_path("feedback", "../grades", ".txt")
    Traceback (most recent call last):
        ...
    ValueError: student_id='../grades' cannot name a report file; expected ...
    """
    if not safe_id(student_id):
        raise ValueError(f"student_id={student_id!r} cannot name a report file; expected "
                         "a folder name without separators, not starting with '.'")
    return os.path.join(os.fspath(folder), student_id + suffix)


def check_outputs(submissions, exercises_root, out, gradescope=None, feedback=None,
                  names=("out", "gradescope", "feedback")) -> tuple:
    """``(out, gradescope, feedback)`` checked by :func:`output_path`, absolute.

    ``feedback`` defaults to ``feedback/`` next to ``out``; none may lie in
    ``submissions`` or ``exercises_root``, nor under a folder the sandbox
    lets student code read (:func:`.roots.readable_root`: a later run's
    students would read the reports). ``names`` spell the three in messages
    (the CLI passes its options).
    """
    forbidden = {"submissions": submissions, "exercises": exercises_root}
    out = output_path(out, names[0], forbidden=forbidden)
    if gradescope is not None:
        gradescope = output_path(gradescope, names[1], folder=True, forbidden=forbidden)
    feedback = feedback or os.path.join(os.path.dirname(out), "feedback")
    feedback = output_path(feedback, names[2], folder=True, forbidden=forbidden)
    for name, path in zip(names, (out, gradescope, feedback)):
        if path is not None:
            refuse_readable(path, name, "the reports")
    return out, gradescope, feedback


def refuse_readable(path, name: str, what: str) -> None:
    """ValueError if student code may read ``path`` (it lies under a sandbox root).

    ``name`` spells the argument, ``what`` says what ``path`` holds.
    """
    root = readable_root(path)
    if root is not None:
        raise ValueError(f"{name}={os.fspath(path)!r} lies under {root!r}, which the sandbox "
                         f"lets student code read ({what} would be open to every "
                         "student's code); expected a folder outside it: move it elsewhere")


def check_reports(student_ids, gradescope, feedback) -> None:
    """Refuse, before grading, a student's report path that would not be written safely.

    ``feedback/<id>.txt`` and ``gradescope/<id>/results.json`` as
    :func:`minicomp.atomic.check_existing` checks them (a symbolic link, a
    device, a read-only file), and ``gradescope/<id>`` if it is a link or
    no folder.
    """
    for sid in student_ids:
        check_existing(report_path(feedback, sid, ".txt"), name="feedback file")
        if gradescope is None:
            continue
        folder = report_path(gradescope, sid)
        if os.path.islink(folder) or (os.path.lexists(folder) and not os.path.isdir(folder)):
            raise ValueError(f"gradescope: {folder!r} is a symbolic link or a file; expected "
                             "a folder (or nothing): remove it")
        check_existing(os.path.join(folder, "results.json"), name="gradescope file")
