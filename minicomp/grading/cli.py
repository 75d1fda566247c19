"""Argparse wiring of ``minicomp release | check | grade | validate``.

:func:`add_commands` adds the four verbs to ``minicomp``'s sub-parsers;
each handler calls one function of :mod:`minicomp.grading` and prints.
"""
from __future__ import annotations

import argparse

from .report import VISIBILITIES
from .sandbox import Limits


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _limits(args) -> Limits:
    return Limits(timeout=args.timeout, submission_timeout=args.submission_timeout,
                  memory_mb=args.memory, isolate=not args.no_isolation)


def _add_limits(p, positive_int) -> None:
    p.add_argument("--timeout", type=_positive_float, default=10.0, metavar="S",
                   help="wall-clock seconds per call into student code (default 10)")
    p.add_argument("--submission-timeout", type=_positive_float, default=120.0, metavar="S",
                   help="wall-clock seconds per exercise of a submission (default 120)")
    p.add_argument("--memory", type=positive_int, default=1024, metavar="MB",
                   help="address-space limit of a student process (default 1024)")
    p.add_argument("--no-isolation", action="store_true",
                   help="no namespaces/Landlock (rlimits only); said in every report")


def _cmd_release(args) -> int:
    from .release import release
    written = release(args.src, args.out)
    print(f"released {len(written)} files to {args.out}")
    return 0


def _cmd_check(args) -> int:
    from .grade import check
    text, passed, total = check(args.path, _limits(args))
    print(text)
    return 0 if passed == total else 1


def _cmd_grade(args) -> int:
    from .grade import grade
    summary = grade(args.submissions, exercises=args.exercises, out=args.out,
                    gradescope=args.gradescope, feedback=args.feedback, jobs=args.jobs,
                    limits=_limits(args), hidden_visibility=args.hidden_visibility,
                    progress=not args.quiet)
    students = summary["students"]
    failed = [s.student_id for s in students if s.error]
    print(f"graded {len(students)} submissions in {summary['seconds']:.1f} s -> {args.out}")
    if failed:
        print(f"autograder failed for: {', '.join(failed)} (scored 0; see their feedback)")
    return 0


def _cmd_validate(args) -> int:
    from .grade import validate
    ok, lines = validate(args.exercises, invert=args.invert, limits=_limits(args))
    print("\n".join(lines))
    what = "released stubs score zero" if args.invert else "reference solutions score full marks"
    print(f"{what}: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


def add_commands(sub, positive_int) -> None:
    """Add the grading verbs to the ``minicomp`` sub-parsers ``sub``."""
    p = sub.add_parser("release", help="write the student version of the exercises")
    p.add_argument("src", help="the instructor's exercises/ folder")
    p.add_argument("out", help="output folder for the student version")
    p.set_defaults(func=_cmd_release)

    p = sub.add_parser("check", help="student: run the public tests on your exercise")
    p.add_argument("path", help="an exercise folder (or its exercise.py)")
    _add_limits(p, positive_int)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("grade", help="instructor: grade every submission, sandboxed")
    p.add_argument("submissions", help="folder of <student_id>/<exercise>/exercise.py")
    p.add_argument("--exercises", default="exercises",
                   help="the instructor's exercises/ with hidden tests (default: exercises)")
    p.add_argument("--out", default="grades.csv", help="CSV gradebook (default grades.csv)")
    p.add_argument("--gradescope", metavar="DIR",
                   help="write DIR/<student_id>/results.json (Gradescope's schema)")
    p.add_argument("--feedback", metavar="DIR",
                   help="feedback texts (default: feedback/ next to --out)")
    p.add_argument("--jobs", type=positive_int, default=1, help="students in parallel")
    p.add_argument("--hidden-visibility", choices=VISIBILITIES, default="after_published",
                   help="Gradescope visibility of hidden cases (default after_published)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_limits(p, positive_int)
    p.set_defaults(func=_cmd_grade)

    p = sub.add_parser("validate", help="reference solutions get full marks (--invert: "
                                        "released stubs get zero)")
    p.add_argument("exercises", nargs="?", default="exercises")
    p.add_argument("--invert", action="store_true", help="check the released stubs instead")
    _add_limits(p, positive_int)
    p.set_defaults(func=_cmd_validate)
