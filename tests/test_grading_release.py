"""Release secrecy, release safety, and the Gradescope autograder zip."""
import json
import os
import pathlib
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import zipfile

import pytest

from minicomp.grading import load_cases
from minicomp.grading.gradescope import PACKAGE_DIR, REQUIREMENTS, build_autograder
from minicomp.grading.release import build_release, check_hidden_only, release

REPO = pathlib.Path(__file__).resolve().parents[1]
EXERCISES = REPO / "exercises"
HEAD = "import numpy as np\nfrom minicomp.grading import case\n\n"
PUBLIC = "\n@case(points=1)\ndef pub(ex):\n    assert ex.f(1) == 2\n"


def exercise_tree(root, tests, readme="# x\n"):
    """A one-exercise source folder ``root/01_x`` with this tests.py."""
    folder = root / "01_x"
    folder.mkdir(parents=True)
    (folder / "exercise.py").write_text("def f(x):\n    ### BEGIN SOLUTION\n"
                                        "    return x + x\n    ### END SOLUTION\n")
    (folder / "tests.py").write_text(HEAD + textwrap.dedent(tests))
    (folder / "README.md").write_text(readme)
    return root


def snapshot(root):
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(pathlib.Path(root).rglob("*"))}


# --- secrecy: nothing only hidden cases reach survives ------------------------

@pytest.mark.parametrize("helpers, hidden_body, flagged", [
    ("def ref(x):\n    return 2 * x\n", "assert ex.f(3) == ref(3)", ["ref"]),
    ("SEED = 1234\n", "rng = np.random.default_rng(SEED)", ["SEED"]),
    ("from math import sqrt\n", "assert ex.f(4) == 2 * sqrt(16)", ["sqrt"]),
    ("class Oracle:\n    k = 2\n", "assert ex.f(1) == Oracle.k", ["Oracle"]),
    ("def inner(x):\n    return 2 * x\n\n\ndef outer(x):\n    return inner(x)\n",
     "assert ex.f(5) == outer(5)", ["inner", "outer"]),
    ("TABLE = {1: 2}\n\n\ndef look(x, table=TABLE):\n    return table[x]\n",
     "assert ex.f(1) == look(1)", ["TABLE", "look"]),
    ("ref = lambda x: 2 * x\n", "assert [ex.f(i) for i in range(2)] == [ref(i) for i in "
     "range(2)]", ["ref"]),
    ("def secret_fn(x):\n    return 2 * x\n", "assert ex.f(2) == globals()['secret_fn'](2)",
     ["secret_fn"]),
])
def test_definition_only_hidden_cases_use_is_refused(tmp_path, helpers, hidden_body, flagged):
    tests = (helpers + PUBLIC + "\n\n@case(points=1, hidden=True)\ndef hid(ex):\n"
             f"    {hidden_body}\n")
    src = exercise_tree(tmp_path / "src", tests)
    with pytest.raises(ValueError) as err:
        release(src, tmp_path / "out")
    message = str(err.value)
    assert "tests.py" in message and "hidden case(s) hid" in message
    assert "case(s) pub" not in message and all(f"{name} (line" in message for name in flagged)
    assert "HIDDEN TESTS" in message and "nothing was written" in message
    assert not (tmp_path / "out").exists()


def test_a_local_name_does_not_count_as_a_use_of_the_module_helper(tmp_path):
    tests = ("def ref(x):\n    return 2 * x\n\n\n@case\ndef pub(ex):\n    ref = 2\n"
             "    assert ex.f(1) == ref\n\n\n@case(hidden=True)\ndef hid(ex):\n"
             "    assert ex.f(3) == ref(3)\n")
    with pytest.raises(ValueError, match=r"ref \(line 4\) is used only by hidden case\(s\) hid"):
        check_hidden_only(HEAD + tests, "tests.py")


def test_hidden_block_drops_its_helpers_and_shared_ones_stay(tmp_path):
    tests = """\
        def shared(x):
            return 2 * x


        @case
        def pub(ex):
            assert ex.f(1) == shared(1)


        ### BEGIN HIDDEN TESTS
        def only_hidden(x):
            return shared(x) + 0


        @case(hidden=True)
        def hid(ex):
            assert ex.f(7) == only_hidden(7)
        ### END HIDDEN TESTS
        """
    src = exercise_tree(tmp_path / "src", tests)
    release(src, tmp_path / "out")
    text = (tmp_path / "out" / "01_x" / "tests.py").read_text()
    assert "def shared" in text and "only_hidden" not in text and "def hid" not in text
    assert [c.name for c in load_cases(tmp_path / "out" / "01_x" / "tests.py")] == ["pub"]


@pytest.mark.parametrize("tests, match", [
    ("### BEGIN HIDDEN TESTS\nREF = 2\n### END HIDDEN TESTS\n\n\n@case\ndef pub(ex):\n"
     "    assert ex.f(1) == REF\n", "public case pub uses REF, not defined"),
    ("### BEGIN HIDDEN TESTS\n@case\ndef pub(ex):\n    assert ex.f(1) == 2\n"
     "### END HIDDEN TESTS\n", "public case pub would be dropped"),
    ("from math import *\n" + PUBLIC, "'import \\*' hides which names"),
])
def test_public_cases_keep_what_they_use(tmp_path, tests, match):
    src = exercise_tree(tmp_path / "src", tests)
    with pytest.raises(ValueError, match=match):
        release(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_files_without_cases_are_not_analysed(tmp_path):
    src = exercise_tree(tmp_path / "src", PUBLIC)
    (src / "01_x" / "helpers.py").write_text("from math import *\n\n\ndef unused():\n"
                                             "    return pi\n")
    assert "01_x/helpers.py" in build_release(src)


def test_real_release_keeps_no_hidden_only_helper(tmp_path):
    release(EXERCISES, tmp_path / "out")
    gone = {"01_autograd": ("numerical_grad", "softmax_ce", "RTOL", "ATOL"),
            "02_importance": ("reference_apoz", "reference_compact", "random_net",
                              "check_compact"),
            "03_quantization": ("scale_zero_point", "lib_quantize", "reference_qparams",
                                "expect_same_qparams")}
    for exercise, names in gone.items():
        released = tmp_path / "out" / exercise / "tests.py"
        text = released.read_text()
        assert not [n for n in names if re.search(rf"\b{n}\b", text)], exercise
        check_hidden_only(text, str(released))
        public = [c.name for c in load_cases(EXERCISES / exercise / "tests.py") if not c.hidden]
        cases = load_cases(released)
        assert [c.name for c in cases] == public and not any(c.hidden for c in cases)


# --- safety: never into, around or through the source ----------------------

@pytest.mark.parametrize("where", ["same", "inside", "parent", "symlink", "file",
                                   "link_in_out"])
def test_release_refuses_an_unsafe_out_and_writes_nothing(tmp_path, where):
    src = exercise_tree(tmp_path / "src", PUBLIC)
    out = {"same": src, "inside": src / "01_x" / "rel", "parent": tmp_path,
           "symlink": tmp_path / "link", "file": tmp_path / "a_file",
           "link_in_out": tmp_path / "out"}[where]
    if where == "symlink":
        (tmp_path / "empty").mkdir()
        out.symlink_to(tmp_path / "empty")
    if where == "file":
        out.write_text("not a folder")
    if where == "link_in_out":                     # out/01_x -> the source exercise
        out.mkdir()
        (out / "01_x").symlink_to(src / "01_x")
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="out"):
        release(src, out)
    assert snapshot(tmp_path) == before


def test_release_refuses_a_fifo_in_out_and_writes_nothing(tmp_path):
    src = exercise_tree(tmp_path / "src", PUBLIC)
    out = tmp_path / "out"
    (out / "01_x").mkdir(parents=True)
    os.mkfifo(out / "01_x" / "tests.py")            # a FIFO where a released file goes
    before = snapshot(out)
    with pytest.raises(ValueError, match=r"out: '.*01_x/tests\.py' is a FIFO"):
        release(src, out)
    assert snapshot(out) == before and stat.S_ISFIFO(os.lstat(out / "01_x" / "tests.py").st_mode)
    # a read-only file or folder in out: tests/test_bad_inputs_files.py (run as nobody)


def test_release_of_a_folder_without_exercises_is_refused(tmp_path):
    (tmp_path / "src" / "notes").mkdir(parents=True)
    (tmp_path / "src" / "notes" / "README.md").write_text("# no tests.py anywhere\n")
    with pytest.raises(ValueError, match=r"src: no tests.py in '.*src' nor in any <exercise>/"):
        release(tmp_path / "src", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_release_into_its_own_source_exits_2(tmp_path):
    src = exercise_tree(tmp_path / "src", PUBLIC)
    before = snapshot(src)
    proc = subprocess.run([sys.executable, "-m", "minicomp", "release", str(src), str(src)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2 and "source" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot(src) == before


@pytest.mark.parametrize("name, data", [
    ("notes.txt", b"caf\xe9 au lait\n"),            # Latin-1, not UTF-8
    ("README.md", b"\xff\xfe# x\n"),
    ("blob.py", b"x = 1\n\x00\x01\x02"),
])
def test_binary_or_non_utf8_text_is_refused_by_name(tmp_path, name, data):
    src = exercise_tree(tmp_path / "src", PUBLIC)
    (src / "01_x" / name).write_bytes(data)
    with pytest.raises(ValueError, match=f"{name} is binary or not UTF-8"):
        release(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_symlink_in_source_is_refused(tmp_path):
    src = exercise_tree(tmp_path / "src", PUBLIC)
    (src / "01_x" / "data.txt").symlink_to("/etc/hostname")
    with pytest.raises(ValueError, match="data.txt is a symlink"):
        build_release(src)


def test_release_over_an_older_release_replaces_its_files_and_keeps_others(tmp_path):
    src = exercise_tree(tmp_path / "src", PUBLIC)
    out = tmp_path / "out"
    release(src, out)
    (out / "01_x" / "README.md").write_text("stale\n")
    (out / "01_x" / "extra.txt").write_text("mine\n")
    written = release(src, out)
    assert (out / "01_x" / "README.md").read_text() == "# x\n"
    assert (out / "01_x" / "extra.txt").read_text() == "mine\n"
    assert sorted(os.path.relpath(p, out) for p in written) == [
        "01_x/README.md", "01_x/exercise.py", "01_x/tests.py"]


# --- the Gradescope autograder zip -----------------------------------------

@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gradescope")
    path = build_autograder(EXERCISES / "01_autograd", tmp / "zips" / "ag.zip", timeout=5)
    with zipfile.ZipFile(path) as z:
        z.extractall(tmp / "unzipped")
        infos = {i.filename: i for i in z.infolist()}
    return {"path": path, "infos": infos, "source": tmp / "unzipped"}


def test_zip_holds_scripts_package_and_instructor_tests(autograder):
    infos = autograder["infos"]
    for script in ("setup.sh", "run_autograder"):
        assert stat.S_IMODE(infos[script].external_attr >> 16) == 0o755
        assert subprocess.run(["bash", "-n", autograder["source"] / script]).returncode == 0
    package = {str(p.relative_to(PACKAGE_DIR)) for p in pathlib.Path(PACKAGE_DIR).rglob("*.py")
               if "__pycache__" not in p.parts}
    assert {n[len("minicomp_package/minicomp/"):] for n in infos
            if n.startswith("minicomp_package/minicomp/")} == package
    assert "minicomp_package/pyproject.toml" in infos
    tests = (autograder["source"] / "exercises" / "01_autograd" / "tests.py").read_text()
    assert "hidden=True" in tests and "numerical_grad" in tests
    assert "exercises/01_autograd/exercise.py" not in infos      # the solution stays home
    assert not [n for n in infos if "__pycache__" in n or n.endswith(".pyc")]


def test_grading_imports_only_the_packed_requirements():
    code = ("import sys, minicomp.cli, minicomp.grading.grade, minicomp.grading.worker\n"
            "from minicomp.grading import load_cases\n"
            f"for e in {sorted(p.name for p in EXERCISES.iterdir() if p.is_dir())!r}:\n"
            f"    load_cases({str(EXERCISES)!r} + '/' + e + '/tests.py')\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names)"
            "))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    found = {m for m in eval(out) if not m.startswith("_")} - {"minicomp", "cython_runtime"}
    assert found <= {r.split(">")[0].split("=")[0] for r in REQUIREMENTS}, found


def test_packed_minicomp_installs_with_pip(autograder, tmp_path):
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--no-build-isolation", "--no-index", "--target", str(target),
                           str(autograder["source"] / "minicomp_package")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    code = "import minicomp.grading.grade, minicomp; print(minicomp.__file__)"
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, "
                          f"{str(target)!r}); {code}"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.stdout.strip() == str(target / "minicomp" / "__init__.py"), out.stderr


def run_autograder(autograder, tmp_path, upload):
    """Simulate Gradescope: /autograder -> tmp_path, ``upload`` fills submission/."""
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    shutil.copytree(autograder["source"], root / "source")
    upload(root / "submission")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "MINICOMP_PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=180)
    return proc, json.loads((root / "results" / "results.json").read_text())


def solution() -> str:
    text = (EXERCISES / "01_autograd" / "exercise.py").read_text()
    return "".join(line for line in text.splitlines(keepends=True)
                   if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def put(relpath, text=None):
    def upload(sub):
        (sub / relpath).parent.mkdir(parents=True, exist_ok=True)
        (sub / relpath).write_text(solution() if text is None else text)
    return upload


@pytest.mark.parametrize("upload", [put("exercise.py"), put("01_autograd/exercise.py"),
                                    put("my_work/exercise.py")],
                         ids=["bare", "folder", "any_folder"])
def test_run_autograder_grades_the_upload_at_full_score(autograder, tmp_path, upload):
    proc, doc = run_autograder(autograder, tmp_path, upload)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(doc) == {"score", "execution_time", "output", "visibility", "tests"}
    assert doc["score"] == 10 and len(doc["tests"]) == 7
    assert all(t["status"] == "passed" for t in doc["tests"])


def test_run_autograder_refuses_symlinks_and_ambiguous_or_missing_uploads(autograder, tmp_path):
    def two(sub):
        put("a/exercise.py")(sub)
        put("b/exercise.py")(sub)

    def link(sub):
        put("real/exercise.py")(sub)
        (sub / "exercise.py").symlink_to(sub / "real" / "exercise.py")

    def crafted_link(sub):           # a terminal escape and a newline in the link's name
        put("real/exercise.py")(sub)
        (sub / "x\x1b[2J\nscore: 10").symlink_to(sub / "real" / "exercise.py")

    def folder(sub):
        (sub / "exercise.py").mkdir()
        put("exercise.py/solution.py")(sub)
    for k, (upload, why) in enumerate([(two, "2 files named exercise.py"),
                                       (link, "symbolic link (exercise.py)"),
                                       (crafted_link, "symbolic link (x\\x1b[2J\\nscore: 10)"),
                                       (folder, "exercise.py in your upload is a folder, "
                                                "not a file"),
                                       (put("a/b/exercise.py"), "no exercise.py")]):
        proc, doc = run_autograder(autograder, tmp_path / str(k), upload)
        assert doc["score"] == 0 and why in doc["output"].splitlines()[0], doc["output"]
        assert "\x1b" not in doc["output"]
        assert len(doc["tests"]) == 7
        assert all(t["output"].startswith("[missing]") for t in doc["tests"])


def test_build_autograder_refuses_a_fifo_as_out_zip_before_packing(tmp_path):
    os.mkfifo(tmp_path / "ag.zip")
    with pytest.raises(ValueError, match=r"build_autograder: '.*ag\.zip' is a FIFO"):
        build_autograder(EXERCISES / "01_autograd", tmp_path / "ag.zip")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "ag.zip").st_mode)
    assert os.listdir(tmp_path) == ["ag.zip"]


def test_build_autograder_and_release_refuse_a_symlink_target(tmp_path):
    (tmp_path / "real.zip").write_bytes(b"keep")
    (tmp_path / "ag.zip").symlink_to(tmp_path / "real.zip")
    with pytest.raises(ValueError, match=r"build_autograder: '.*ag\.zip' is a symbolic link "
                                         r"\(to '.*real\.zip'\)"):
        build_autograder(EXERCISES / "01_autograd", tmp_path / "ag.zip")
    assert (tmp_path / "ag.zip").is_symlink() and (tmp_path / "real.zip").read_bytes() == b"keep"
    (tmp_path / "rel" / "01_autograd").mkdir(parents=True)
    (tmp_path / "rel" / "01_autograd" / "tests.py").symlink_to(tmp_path / "real.zip")
    with pytest.raises(ValueError, match="symlink"):
        release(EXERCISES, tmp_path / "rel")
    assert (tmp_path / "real.zip").read_bytes() == b"keep"


@pytest.mark.parametrize("bad, match", [
    (lambda t: build_autograder(t / "nothing", t / "a.zip"), "has no tests.py"),
    (lambda t: build_autograder(EXERCISES / "01_autograd",
                                EXERCISES / "01_autograd" / "ag.zip"), "inside the exercise"),
    (lambda t: build_autograder(EXERCISES / "01_autograd", t / "ag.tar"), "expected a .zip"),
    (lambda t: build_autograder(EXERCISES / "01_autograd", t / "a.zip", timeout=0),
     "timeout=0.0"),
])
def test_build_autograder_refuses_with_a_named_reason(tmp_path, bad, match):
    (tmp_path / "nothing").mkdir()
    before = snapshot(EXERCISES / "01_autograd")
    with pytest.raises(ValueError, match=match):
        bad(tmp_path)
    assert not list(tmp_path.glob("*.zip")) and snapshot(EXERCISES / "01_autograd") == before


@pytest.mark.parametrize("src, out, error, pattern", [
    (EXERCISES, "", ValueError, "release: out=''; expected a non-empty path"),
    (None, "x", TypeError, "release: src is a NoneType"),
    (EXERCISES, None, TypeError, "release: out is a NoneType"),
])
def test_release_checks_its_paths_before_anything(tmp_path, monkeypatch, src, out, error,
                                                  pattern):
    monkeypatch.chdir(tmp_path)                   # '' would have meant "here"
    with pytest.raises(error, match=pattern):
        release(src, out)
    assert list(tmp_path.iterdir()) == []


def test_validate_invert_is_a_flag():
    from minicomp.grading.grade import validate
    with pytest.raises(TypeError, match="validate: invert=1 .int.; expected True or False"):
        validate(EXERCISES / "01_autograd", invert=1)


# --- GRADER_REQUIRES: packages the grader's expected values need --------------

def test_autograder_adds_the_exercises_grader_requirements(tmp_path):
    path = build_autograder(EXERCISES / "08_formats", tmp_path / "ag08.zip", timeout=5)
    with zipfile.ZipFile(path) as z:
        pyproject = z.read("minicomp_package/pyproject.toml").decode()
    assert '"ml_dtypes>=0.4"' in pyproject
    assert all(f'"{r}"' in pyproject for r in REQUIREMENTS)
    from minicomp.grading.case import load_exercise
    assert load_exercise(EXERCISES / "01_autograd" / "tests.py")[1].grader_requires == ()


def test_grade_refuses_an_exercise_whose_oracle_is_not_installed(tmp_path):
    from minicomp.grading.grade import load_exercises
    src = exercise_tree(tmp_path / "src", "GRADER_REQUIRES = ('no_such_oracle_xq>=1.0',)\n"
                        + PUBLIC)
    with pytest.raises(ValueError, match=r"needs 'no_such_oracle_xq>=1.0'.*pip install"):
        load_exercises(src)
    (src / "01_x" / "tests.py").write_text(HEAD + "GRADER_REQUIRES = 'numpy'\n" + PUBLIC)
    with pytest.raises(TypeError, match="GRADER_REQUIRES"):
        load_exercises(src)
    (src / "01_x" / "tests.py").write_text(HEAD + "GRADER_REQUIRES = ('numpy>=2',)\n" + PUBLIC)
    assert [c.name for c in load_exercises(src)[1]["01_x"]] == ["pub"]
