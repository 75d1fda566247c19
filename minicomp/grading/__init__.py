"""Exercises and a safe autograder: ``@case``, release, check, grade, validate, gradescope.

The format (``exercises/README.md``) keeps what instructors know: nbgrader's
``### BEGIN/END SOLUTION`` and ``### BEGIN/END HIDDEN TESTS`` markers,
otter-grader's case keys (``name, points, hidden, success_message,
failure_message``), an nbgrader-style CSV and Gradescope's ``results.json``.
What breaks in those tools is fixed by design:

* test bodies run in the grader (:mod:`.run`), the student's functions in a
  fresh sandboxed ``python -I`` process (:mod:`.sandbox`, :mod:`.worker`,
  :mod:`.landlock`): an endless loop, a crash or ``sys.exit`` costs the
  cases it touches and nothing more;
* only plain data comes back (:mod:`.protocol`, no pickle), compared with
  the grader's own NumPy: a lying ``__eq__``, an ndarray subclass or a
  patched ``numpy.testing`` earns nothing;
* hidden cases never reach the student process or its feedback;
* students are graded in parallel and the reports are always written
  (:mod:`.grade`, :mod:`.report`), never into the submissions or the
  exercises, and never through a crafted student id;
* every verb of :mod:`.cli` checks its numbers and paths before any work;
  ``check``, ``grade`` and ``validate`` take one exercise folder or a
  folder of them, and on Ctrl-C or SIGTERM kill every student process and
  remove its folder before exiting.

References: nbgrader (jupyter/nbgrader, issues #427, #1379, #917, #174);
otter-grader (ucbds-infra/otter-grader, #723); Gradescope autograder
specification (gradescope/autograder_samples, docs/specs.md); Linux
Landlock (Documentation/userspace-api/landlock.rst).
Deviations: exercises are plain ``.py`` files, not notebooks; Linux only
for isolation (elsewhere: rlimits, and every report says so).
"""
from .case import OUTCOMES, Case, CaseResult, case, load_cases

__all__ = ["OUTCOMES", "Case", "CaseResult", "case", "load_cases"]
