"""Argparse wiring of ``minicomp release | check | grade | validate | gradescope``.

:func:`add_commands` adds the verbs to ``minicomp``'s sub-parsers; each
handler checks its paths, calls one function of :mod:`minicomp.grading`
and prints. Numbers are checked while parsing, within the bounds of
:mod:`.grade` (``--timeout`` <= 3600 s per call, ``--submission-timeout``
<= 86400 s, ``--memory`` 128 to 65536 MB, ``--jobs`` 1 to 64).

While ``check``, ``grade`` or ``validate`` run, SIGINT (Ctrl-C), SIGTERM
and SIGHUP (the terminal closed) kill every student process and remove
every sandbox folder (:func:`.sandbox.close_all`), then exit with 130 /
143 / 129 and a message. A grader killed by ``SIGKILL`` takes its student
processes with it all the same (see :func:`.worker._tie_to_grader`).
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading

from ..validate import int_option, number_option
from . import sandbox
from .grade import MAX_CALL_SECONDS, MAX_JOBS, MAX_SUBMISSION_SECONDS, MEMORY_MB
from .report import VISIBILITIES, summary_line


def _limits(args) -> sandbox.Limits:
    return sandbox.Limits(timeout=args.timeout, submission_timeout=args.submission_timeout,
                          memory_mb=args.memory, isolate=not args.no_isolation)


def _add_limits(p, isolation: bool = True) -> None:
    p.add_argument("--timeout", type=number_option("--timeout", MAX_CALL_SECONDS),
                   default=10.0, metavar="S", help="wall-clock seconds per call into student "
                   f"code, at most {MAX_CALL_SECONDS:g} (default 10)")
    p.add_argument("--submission-timeout", default=120.0, metavar="S",
                   type=number_option("--submission-timeout", MAX_SUBMISSION_SECONDS),
                   help="wall-clock seconds per exercise of a submission, at most "
                        f"{MAX_SUBMISSION_SECONDS:g} (default 120)")
    p.add_argument("--memory", type=int_option("--memory", *MEMORY_MB), default=1024,
                   metavar="MB", help="address-space limit of a student process, "
                   f"{MEMORY_MB[0]} to {MEMORY_MB[1]} (default 1024)")
    if isolation:
        p.add_argument("--no-isolation", action="store_true",
                       help="no namespaces/Landlock (rlimits only); said in every report")


def _add_visibility(p) -> None:
    p.add_argument("--hidden-visibility", choices=VISIBILITIES, default="after_published",
                   help="Gradescope visibility of hidden cases (default after_published)")


@contextlib.contextmanager
def _cleanup_on_signal(verb: str):
    """On SIGINT / SIGTERM / SIGHUP: kill every student process, remove its folder, exit."""
    signals = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
               if hasattr(signal, name)]

    def stop(signum, frame):
        for s in signals:
            signal.signal(s, signal.SIG_IGN)
        name = signal.Signals(signum).name
        try:
            sandbox.close_all(refuse_new=True)     # and no new student process
            done = "student processes killed, sandbox folders removed, no report written"
        except Exception as e:  # noqa: BLE001 -- exit anyway, and say what was left
            done = f"cleaning up failed ({type(e).__name__}: {e})"
        finally:                       # os.write: stderr's buffer may be mid-write
            os.write(2, f"\nminicomp {verb}: interrupted by {name}; {done}\n".encode())
            os._exit(128 + signum)     # now: grading threads must not start new sandboxes
    if threading.current_thread() is not threading.main_thread():
        yield                          # signals can only be handled in the main thread
        return
    previous = {s: signal.signal(s, stop) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _cmd_release(args) -> int:
    from .release import release               # it refuses an out in or around src
    from .report import output_path
    output_path(args.out, "out", folder=True)  # not a file, its folder writable: before work
    written = release(args.src, args.out)
    print(f"released {len(written)} files to {args.out}")
    return 0


def _cmd_check(args) -> int:
    from .grade import check
    with _cleanup_on_signal("check"):
        text, passed, total = check(args.path, _limits(args))
    print(text)
    return 0 if passed == total else 1


def _cmd_grade(args) -> int:
    from .grade import find_exercises, grade
    from .report import check_outputs
    root, _ = find_exercises(args.exercises, "--exercises")
    check_outputs(args.submissions, root, args.out, args.gradescope, args.feedback,
                  names=("--out", "--gradescope", "--feedback"))
    with _cleanup_on_signal("grade"):
        summary = grade(args.submissions, exercises=args.exercises, out=args.out,
                        gradescope=args.gradescope, feedback=args.feedback, jobs=args.jobs,
                        limits=_limits(args), hidden_visibility=args.hidden_visibility,
                        progress=not args.quiet)
    students = summary["students"]
    failed = [s.student_id for s in students if s.error]
    print(summary_line(students, summary["seconds"], args.out))
    if failed:
        print(f"autograder failed for: {', '.join(failed)} (scored 0; see their feedback)")
    return 0


def _cmd_validate(args) -> int:
    from .grade import validate
    with _cleanup_on_signal("validate"):
        ok, lines = validate(args.exercises, invert=args.invert, limits=_limits(args))
    print("\n".join(lines))
    what = "released stubs score zero" if args.invert else "reference solutions score full marks"
    print(f"{what}: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


def _cmd_gradescope(args) -> int:
    from .grade import find_exercises
    from .report import output_path
    root, names = find_exercises(args.exercise, "EXERCISE")
    if not os.path.isfile(os.path.join(args.exercise, "tests.py")):
        raise ValueError(f"EXERCISE={args.exercise!r} is a folder of exercises "
                         f"({', '.join(names)}); expected one exercise folder, e.g. "
                         f"{os.path.join(args.exercise, names[0])!r}")
    if not args.out.endswith(".zip"):
        raise ValueError(f"OUT={args.out!r}; expected a .zip file name, e.g. autograder.zip")
    out = output_path(args.out, "OUT", forbidden={"exercises": root})
    from .gradescope import build_autograder       # lazily: only this verb needs it
    written = build_autograder(args.exercise, out, timeout=args.timeout,
                               submission_timeout=args.submission_timeout,
                               memory_mb=args.memory, hidden_visibility=args.hidden_visibility)
    print(f"wrote the Gradescope autograder of {names[0]} to {written}")
    return 0


def add_commands(sub) -> None:
    """Add the grading verbs to the ``minicomp`` sub-parsers ``sub``."""
    p = sub.add_parser("release", help="write the student version of the exercises")
    p.add_argument("src", help="the instructor's exercises/ folder")
    p.add_argument("out", help="output folder for the student version (outside src)")
    p.set_defaults(func=_cmd_release)

    p = sub.add_parser("check", help="student: run the public tests on your exercise")
    p.add_argument("path", help="an exercise folder (or its exercise.py), or a folder of them")
    _add_limits(p)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("grade", help="instructor: grade every submission, sandboxed")
    p.add_argument("submissions", help="folder of <student_id>/<exercise>/exercise.py")
    p.add_argument("--exercises", default="exercises",
                   help="the instructor's exercises/ with hidden tests, or one exercise "
                        "folder to grade only it (default: exercises)")
    p.add_argument("--out", default="grades.csv", help="CSV gradebook (default grades.csv)")
    p.add_argument("--gradescope", metavar="DIR",
                   help="write DIR/<student_id>/results.json (Gradescope's schema)")
    p.add_argument("--feedback", metavar="DIR",
                   help="feedback texts (default: feedback/ next to --out)")
    p.add_argument("--jobs", type=int_option("--jobs", 1, MAX_JOBS), default=1, metavar="N",
                   help=f"students in parallel, 1 to {MAX_JOBS} (default 1)")
    _add_visibility(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_limits(p)
    p.set_defaults(func=_cmd_grade)

    p = sub.add_parser("validate", help="reference solutions get full marks (--invert: "
                                        "released stubs get zero)")
    p.add_argument("exercises", nargs="?", default="exercises",
                   help="the exercises/ folder, or one exercise folder (default: exercises)")
    p.add_argument("--invert", action="store_true", help="check the released stubs instead")
    _add_limits(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("gradescope", help="instructor: a Gradescope autograder .zip for "
                                          "one exercise")
    p.add_argument("exercise", metavar="EXERCISE", help="one exercise folder, e.g. "
                                                        "exercises/01_autograd")
    p.add_argument("out", metavar="OUT.zip", help="the autograder to upload")
    _add_visibility(p)
    _add_limits(p, isolation=False)
    p.set_defaults(func=_cmd_gradescope)
