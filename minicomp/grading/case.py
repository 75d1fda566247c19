"""Test cases: the ``@case`` decorator, loading a ``tests.py``, and outcomes.

An exercise's ``tests.py`` (written by the instructor, run only in the
grader) decorates functions of one argument, ``ex``, a proxy for the
student's module::

    @case(points=2, hidden=True, failure_message="check the sign")
    def relu_zero_input(ex):
        np.testing.assert_array_equal(ex.relu_backward(x, g), expected)

Keys are otter-grader's: ``name``, ``points``, ``hidden``,
``success_message``, ``failure_message``. Every run of a case ends in
exactly one of :data:`OUTCOMES`; anything but ``passed`` scores 0 for
that case only.

A ``tests.py`` may also declare, at module level, the imports its exercise
forbids (an exercise that says "plain NumPy")::

    FORBIDDEN_IMPORTS = ("minicomp",)                   # default reason
    FORBIDDEN_IMPORTS = {"minicomp": "write it in plain NumPy"}

:func:`load_exercise` returns them with the cases; every case also
carries them, so whoever runs the cases enforces them in the sandbox.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import os
import sys

from .. import validate

OUTCOMES = ("passed", "failed", "error", "timeout", "crashed", "syntax_error", "missing",
            "symlink")
DEFAULT_FORBID_REASON = "write it in plain NumPy"
UNFORBIDDABLE = ("numpy",)             # the worker's protocol needs it inside the sandbox
_order = itertools.count()


@dataclasses.dataclass(frozen=True)
class Case:
    """One test case of an exercise (see :func:`case`)."""

    func: object                       # f(ex) -> None; raises AssertionError to fail
    name: str
    points: float = 1.0
    hidden: bool = False
    success_message: str | None = None
    failure_message: str | None = None
    order: int = 0                     # definition order within the file
    forbidden_imports: tuple = ()      # ((package, reason), ...) of the exercise's tests.py

    def __call__(self, ex):
        return self.func(ex)


@dataclasses.dataclass
class CaseResult:
    """The outcome of one case on one submission."""

    name: str
    status: str                        # one of OUTCOMES
    score: float
    max_score: float
    hidden: bool
    message: str = ""                  # why (for the instructor's eyes)
    feedback: str = ""                 # what the student may see

    def __post_init__(self):
        assert self.status in OUTCOMES, self.status
        assert self.status == "passed" or self.score == 0, "only a pass scores"


def case(func=None, *, points=1, hidden=False, name=None,
         success_message=None, failure_message=None):
    """Declare a test case; usable as ``@case`` or ``@case(points=..., ...)``.

    Parameters
    ----------
    points : int or float
        Points for passing; a case scores all of them or 0.
    hidden : bool
        Hidden cases are dropped by ``minicomp release`` and reported to the
        student by name and status only.
    name : str, optional
        Display name (default: the function's name).
    success_message, failure_message : str, optional
        Shown to the student when the case passes / does not pass (for a
        hidden case, the failure message is all the student sees).

    Raises
    ------
    ValueError
        If ``points`` is negative or not finite.
    TypeError
        If the decorated object is not a function or a flag has the wrong type.

    Examples
    --------
    >>> @case(points=2, failure_message="look at x == 0")
    ... def relu_at_zero(ex):
    ...     pass
    >>> relu_at_zero.name, relu_at_zero.points, relu_at_zero.hidden
    ('relu_at_zero', 2.0, False)
    """
    if not isinstance(points, (int, float)) or isinstance(points, bool):
        raise TypeError(f"points must be a number, got {points!r}")
    if not (0 <= points < float("inf")):
        raise ValueError(f"points must be finite and >= 0, got {points!r}")
    if not isinstance(hidden, bool):
        raise TypeError(f"hidden must be True or False, got {hidden!r}")

    def wrap(f):
        if not callable(f):
            raise TypeError(f"@case decorates a function of `ex`, got {f!r}")
        return Case(f, name or f.__name__, float(points), hidden,
                    success_message, failure_message, next(_order))
    return wrap if func is None else wrap(func)


@dataclasses.dataclass(frozen=True)
class ExerciseConfig:
    """Module-level settings of an exercise's ``tests.py``."""

    forbidden_imports: dict = dataclasses.field(default_factory=dict)  # package -> reason
    grader_requires: tuple = ()      # pip requirements the grader's own expected values need


def load_cases(tests_path) -> list:
    """Run an instructor's ``tests.py`` (in the grader) and return its cases.

    The cases carry the file's ``FORBIDDEN_IMPORTS`` (see :func:`load_exercise`).
    """
    return load_exercise(tests_path)[0]


def _forbidden_imports(value, tests_path: str) -> dict:
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, (tuple, list)):
        pairs = [(v, DEFAULT_FORBID_REASON) for v in value]
    else:
        raise TypeError(f"FORBIDDEN_IMPORTS in {tests_path!r} must be a tuple of package "
                        f"names or a dict name -> reason, got {value!r}")
    out = {}
    for name, reason in pairs:
        if not isinstance(name, str) or not name.isidentifier() or not isinstance(reason, str):
            raise ValueError(f"FORBIDDEN_IMPORTS in {tests_path!r}: expected top-level package "
                             f"names (no dots) and str reasons, got {name!r}: {reason!r}")
        if name in UNFORBIDDABLE:
            raise ValueError(f"FORBIDDEN_IMPORTS in {tests_path!r} names {name!r}, which the "
                             "sandbox itself uses to send values; expected another package")
        out[name] = reason
    return out


def load_exercise(tests_path) -> tuple:
    """Run an instructor's ``tests.py`` (in the grader): its cases and its settings.

    Returns
    -------
    (list of Case, ExerciseConfig)
        The cases in definition order, each carrying the forbidden imports.

    Raises
    ------
    FileNotFoundError
        If ``tests_path`` does not exist.
    ValueError
        If running it raises (any exception, a syntax error or ``sys.exit``
        included: the message names the file and the error), it declares no
        case, two cases share a name, or ``FORBIDDEN_IMPORTS`` names
        something that is no top-level package.
    TypeError
        If ``FORBIDDEN_IMPORTS`` is neither a tuple/list nor a dict.
    """
    tests_path = os.fspath(tests_path)
    if not os.path.isfile(tests_path):
        raise FileNotFoundError(f"tests_path: no test file {tests_path!r}")
    mod_name = f"_minicomp_tests_{abs(hash(os.path.abspath(tests_path)))}"
    spec = importlib.util.spec_from_file_location(mod_name, tests_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # noqa: BLE001 -- the instructor's code: say where
        raise ValueError(f"tests_path: {tests_path!r} failed to load: {type(e).__name__}: "
                         f"{e}; expected a tests.py that runs") from None
    finally:
        sys.modules.pop(mod_name, None)
    cases = sorted((v for v in vars(module).values() if isinstance(v, Case)),
                   key=lambda c: c.order)
    if not cases:
        raise ValueError(f"tests_path: {tests_path!r} declares no @case")
    names = [c.name for c in cases]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"tests_path: {tests_path!r} has duplicate case names {dupes}")
    requires = getattr(module, "GRADER_REQUIRES", ())
    if isinstance(requires, str) or not isinstance(requires, (tuple, list)) or not all(
            isinstance(r, str) and r.strip() and '"' not in r for r in requires):
        raise TypeError(f"GRADER_REQUIRES in {tests_path!r} is {requires!r}; expected a tuple "
                        "of pip requirement strings, e.g. ('ml_dtypes>=0.4',)")
    config = ExerciseConfig(_forbidden_imports(getattr(module, "FORBIDDEN_IMPORTS", ()),
                                               tests_path), tuple(requires))
    forbid = tuple(sorted(config.forbidden_imports.items()))
    return [dataclasses.replace(c, forbidden_imports=forbid) for c in cases], config


def find_exercises(path, name: str = "exercises") -> tuple:
    """``(root, names)``: ``path`` is a folder of exercises, or one exercise folder.

    One exercise folder (one holding a ``tests.py``) gives its parent and
    its own name alone; a folder of exercises gives itself and every
    sub-folder with a ``tests.py``, sorted.

    Raises
    ------
    FileNotFoundError
        ``path`` is not a directory.
    ValueError
        No ``tests.py`` in it nor in any of its sub-folders.
    """
    path = os.path.normpath(validate.path(path, name))
    if os.path.isfile(os.path.join(path, "tests.py")):
        root, only = os.path.split(os.path.abspath(path))
        return root, [only]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{name}: {path!r} is not a directory")
    names = sorted(d for d in os.listdir(path)
                   if os.path.isfile(os.path.join(path, d, "tests.py")))
    if not names:
        raise ValueError(f"{name}: no tests.py in {path!r} nor in any <exercise>/ under it; "
                         "expected an exercise folder or a folder of them")
    return path, names
