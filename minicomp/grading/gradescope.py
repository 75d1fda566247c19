"""``minicomp gradescope``: a ready Gradescope autograder zip for one exercise.

Gradescope unpacks the zip into ``/autograder/source`` and runs ``setup.sh``
there once, as root and with network, while it builds the image. For each
upload it runs ``run_autograder`` with the student's files in
``/autograder/submission`` and reads ``/autograder/results/results.json``.

The zip::

    setup.sh                 apt: python3 + venv; pip-installs minicomp_package/
                             into /autograder/venv (a regular, non-editable install)
    run_autograder           finds the upload, grades it with `minicomp grade
                             --gradescope`, copies the student's results.json
    minicomp_package/        pyproject.toml (numpy and tqdm: what grading imports)
                             + minicomp/, the source of the minicomp that built the zip
    exercises/<name>/        the instructor's folder: tests.py with its hidden cases,
                             README.md, data files -- not exercise.py (the solution)

Why the package travels in the zip: the image cannot reach our repository, so
it grades with exactly the minicomp that built the zip. The reference
solution stays out: the grader never needs it, and where Landlock is missing
(some Docker images) the student's process could read any file the grader can.
The zip is for the instructor only (it holds the hidden tests): upload it
to Gradescope, never to students.

References: Gradescope autograder specification
(gradescope/autograder_samples, docs/specs.md).
"""
from __future__ import annotations

import os
import re
import shlex
import stat
import zipfile

from .. import __version__
from .. import validate as v
from ..atomic import atomic_open, check_new
from .case import load_exercise
from .report import VISIBILITIES
from .roots import PACKAGE_DIR                  # minicomp/

REQUIREMENTS = ("numpy>=2.0", "tqdm>=4.60")     # what `minicomp grade` imports
SKIP = ("__pycache__", ".pyc", ".pyo")
STAMP = (1980, 1, 1, 0, 0, 0)                    # fixed times: the same inputs, the same zip

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "minicomp"
version = "@VERSION@"
description = "minicomp, packed by `minicomp gradescope` for a Gradescope autograder"
requires-python = ">=3.10"
dependencies = [@REQUIREMENTS@]

[project.scripts]
minicomp = "minicomp.cli:main"

[tool.setuptools.packages.find]
include = ["minicomp*"]

[tool.setuptools.package-data]
"*" = ["*"]
"""

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image.
# It installs the minicomp that travels in this zip (the image cannot reach
# our repository) into a virtualenv, with its dependencies from PyPI.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip
python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
    echo "minicomp needs Python >= 3.10, this image has $(python3 -V 2>&1):" \\
         "choose Ubuntu 22.04 or newer in the autograder settings" >&2; exit 1; }
python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --upgrade pip
"$ROOT/venv/bin/python" -m pip install "$HERE/minicomp_package"
"$ROOT/venv/bin/python" -I -m minicomp --version
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope autograder of exercise @EXERCISE@, written by `minicomp gradescope`.
# The upload may be a bare exercise.py, the folder @EXERCISE@/exercise.py, or
# any one exercise.py at depth <= 2; an upload holding a symlink is refused.
# To try it elsewhere: AUTOGRADER_ROOT=<a copy of /autograder> and
# MINICOMP_PYTHON=<a python with minicomp installed>.
set -uo pipefail
EXERCISE=@EXERCISE_Q@
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${MINICOMP_PYTHON:-$ROOT/venv/bin/python}"
UPLOAD="$ROOT/submission"
mkdir -p "$ROOT/results"
WORK="$(mktemp -d)" || exit 1
trap 'rm -rf -- "$WORK"' EXIT
mkdir -p "$WORK/subs/student"
cd "$WORK" || exit 1

note=""
pick=""
link="$(find "$UPLOAD" -maxdepth 2 -type l -print -quit 2>/dev/null)"
odd="$(find "$UPLOAD" -maxdepth 2 -name exercise.py ! -type f -print -quit 2>/dev/null)"
mapfile -d '' found < <(find "$UPLOAD" -maxdepth 2 -type f -name exercise.py -print0 2>/dev/null)
if [ -n "$link" ]; then
    note="your upload holds a symbolic link (${link#"$UPLOAD"/}); upload regular files only"
else
    for want in "$UPLOAD/exercise.py" "$UPLOAD/$EXERCISE/exercise.py"; do
        for f in "${found[@]}"; do
            if [ -z "$pick" ] && [ "$f" = "$want" ]; then pick="$f"; fi
        done
    done
    if [ -z "$pick" ] && [ "${#found[@]}" -eq 1 ]; then pick="${found[0]}"; fi
    if [ -z "$pick" ] && [ "${#found[@]}" -eq 0 ] && [ -d "$odd" ]; then
        note="${odd#"$UPLOAD"/} in your upload is a folder, not a file: upload the file"
        note="$note exercise.py itself, or the folder $EXERCISE/ that holds it"
    elif [ -z "$pick" ] && [ "${#found[@]}" -eq 0 ] && [ -n "$odd" ]; then
        note="${odd#"$UPLOAD"/} in your upload is not a regular file: upload exercise.py"
    elif [ -z "$pick" ] && [ "${#found[@]}" -eq 0 ]; then
        note="no exercise.py in your upload: upload exercise.py, or the folder $EXERCISE/"
    elif [ -z "$pick" ]; then
        note="${#found[@]} files named exercise.py in your upload: upload exactly one"
    fi
fi
if [ -n "$pick" ]; then
    mkdir -p "$WORK/subs/student/$EXERCISE"
    cp -- "$pick" "$WORK/subs/student/$EXERCISE/exercise.py"
fi

"$PYTHON" -I -m minicomp grade "$WORK/subs" --exercises "$ROOT/source/exercises/$EXERCISE" \
    --out "$WORK/out/grades.csv" --gradescope "$WORK/out/gradescope" \
    --feedback "$WORK/out/feedback" --timeout @TIMEOUT@ --submission-timeout @BUDGET@ \
    --memory @MEMORY@ --hidden-visibility @VISIBILITY@ --quiet >"$WORK/grade.log" 2>&1
status=$?
cat "$WORK/grade.log"                # the instructor sees it in the autograder output
"$PYTHON" -I - "$WORK/out/gradescope/student/results.json" "$ROOT/results/results.json" \
    "$note" "$status" <<'PY'
import json, sys
src, dst, note, status = sys.argv[1:5]


def printable(text):   # as minicomp's report.printable; newlines too: the note is one line
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


try:
    with open(src, encoding="utf-8") as f:
        doc = json.load(f)
except (OSError, ValueError):        # never show the log: it may quote hidden tests
    doc = {"score": 0.0, "execution_time": 0.0, "visibility": "visible", "tests": [],
           "output": f"autograder failed (minicomp grade exited with {status}); "
                     "please tell your instructor"}
if note:                             # it may quote the upload's own file names
    doc["output"] = printable(note) + "\n" + doc["output"]
with open(dst, "w", encoding="utf-8") as f:
    json.dump(doc, f, indent=2)
PY
[ -f "$WORK/out/gradescope/student/results.json" ]
"""


def _files(folder: str, skip=()) -> list:
    """``(path, name in the zip)`` of the regular files under ``folder``; no symlinks."""
    out = []
    for here, dirs, files in os.walk(folder):
        for link in filter(os.path.islink, (os.path.join(here, n) for n in dirs + files)):
            raise ValueError(f"build_autograder: {link!r} is a symlink; the zip takes "
                             "regular files only")
        dirs[:] = sorted(d for d in dirs if d not in SKIP and not d.startswith("."))
        for name in sorted(files):
            path = os.path.join(here, name)
            if not (name.startswith(".") or name.endswith(SKIP) or
                    os.path.relpath(path, folder) in skip):
                out.append((path, os.path.relpath(path, folder).replace(os.sep, "/")))
    return out


def _add(z: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, STAMP)
    info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, data)


def build_autograder(exercise_dir, out_zip, *, timeout: float = 10.0,
                     submission_timeout: float = 120.0, memory_mb: int = 1024,
                     hidden_visibility: str = "after_published",
                     requirements=REQUIREMENTS) -> str:
    """Write a Gradescope autograder zip for one exercise (atomically).

    Parameters
    ----------
    exercise_dir : path
        One instructor exercise folder, holding ``tests.py`` (hidden cases
        included: the zip is for Gradescope, never for students).
    out_zip : path
        The ``.zip`` to write; not inside ``exercise_dir``. Its folder is
        created if needed; an existing file is replaced.
    timeout, submission_timeout : float
        Seconds per call into student code, and per submission
        (``minicomp grade --timeout / --submission-timeout``).
    memory_mb : int
        Address-space limit of the student process.
    hidden_visibility : str
        Gradescope visibility of hidden cases, one of ``VISIBILITIES``.
    requirements : sequence of str
        pip requirements of the packed minicomp (default: what grading imports);
        the exercise's ``GRADER_REQUIRES`` (in its ``tests.py``: packages its
        expected values need, e.g. ``ml_dtypes``) are added.

    Returns
    -------
    str
        The absolute path of the zip written.

    Raises
    ------
    ValueError
        ``exercise_dir`` without ``tests.py`` (or whose tests do not load),
        with a name unfit for a folder, or holding a symlink; ``out_zip``
        not a ``.zip``, a directory, inside ``exercise_dir``, or an existing
        non-regular file (a device, a FIFO: never replaced); a bad limit.
    PermissionError
        ``out_zip``, or the folder it goes in (or would be created in), not writable.
    """
    where = "build_autograder"
    folder = os.path.abspath(v.path(exercise_dir, "exercise_dir", where=where))
    out = os.path.abspath(v.path(out_zip, "out_zip", where=where))
    name = os.path.basename(folder)
    if not os.path.isfile(os.path.join(folder, "tests.py")):
        raise ValueError(f"{where}: exercise_dir={os.fspath(exercise_dir)!r} has no tests.py; "
                         "expected one exercise folder, e.g. exercises/01_autograd")
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        raise ValueError(f"{where}: exercise_dir={name!r}; expected a folder name of letters, "
                         "digits, '_', '-' and '.'")
    real = os.path.realpath(folder)
    if os.path.realpath(out) == real or os.path.realpath(out).startswith(real + os.sep):
        raise ValueError(f"{where}: out_zip={os.fspath(out_zip)!r} is inside the exercise "
                         f"folder {os.fspath(exercise_dir)!r}; write it elsewhere")
    if not out.endswith(".zip") or os.path.isdir(out):
        raise ValueError(f"{where}: out_zip={os.fspath(out_zip)!r}; expected a .zip file name")
    check_new(out, where=where)          # a device, a FIFO, a read-only file or folder
    timeout = v.number(timeout, "timeout", low=0, low_open=True, where=where)
    budget = v.number(submission_timeout, "submission_timeout", low=0, low_open=True,
                      where=where)
    memory_mb = v.integer(memory_mb, "memory_mb", low=128, where=where)
    v.choice(hidden_visibility, "hidden_visibility", VISIBILITIES, where=where)
    if isinstance(requirements, str) or not all(isinstance(r, str) and r.strip() and '"' not in r
                                                for r in requirements):
        raise ValueError(f"{where}: requirements={requirements!r}; expected a list of pip "
                         "requirement strings")
    _, config = load_exercise(os.path.join(folder, "tests.py"))   # fail here, not on Gradescope
    requirements = (*requirements, *(r for r in config.grader_requires if r not in requirements))
    run = (RUN_AUTOGRADER.replace("@EXERCISE_Q@", shlex.quote(name))
           .replace("@EXERCISE@", name).replace("@TIMEOUT@", f"{timeout:g}")
           .replace("@BUDGET@", f"{budget:g}").replace("@MEMORY@", str(memory_mb))
           .replace("@VISIBILITY@", hidden_visibility))
    pyproject = (PYPROJECT.replace("@VERSION@", __version__)
                 .replace("@REQUIREMENTS@", ", ".join(f'"{r}"' for r in requirements)))
    exercise = _files(folder, skip={"exercise.py"})
    package = _files(PACKAGE_DIR)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with atomic_open(out, where=where) as f, zipfile.ZipFile(f, "w") as z:
        _add(z, "setup.sh", SETUP_SH.encode(), executable=True)
        _add(z, "run_autograder", run.encode(), executable=True)
        _add(z, "minicomp_package/pyproject.toml", pyproject.encode())
        for path, rel in package:
            with open(path, "rb") as src:
                _add(z, f"minicomp_package/minicomp/{rel}", src.read())
        for path, rel in exercise:
            with open(path, "rb") as src:
                _add(z, f"exercises/{name}/{rel}", src.read())
    return out
