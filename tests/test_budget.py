"""Line budgets (tinygrad-style): the engine stays small enough to read in one sitting."""
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "minicomp"
BUDGETS = {"tensor.py": 340, "functional.py": 200, "nn.py": 330, "optim.py": 200,
           "gradcheck.py": 100}


def code_lines(path):
    """Lines that are neither blank nor comments (docstrings count)."""
    return sum(1 for line in path.read_text().splitlines()
               if line.strip() and not line.strip().startswith("#"))


@pytest.mark.parametrize("name, budget", sorted(BUDGETS.items()))
def test_core_file_within_budget(name, budget):
    n = code_lines(PACKAGE / name)
    assert n <= budget, f"{name} has {n} code lines, budget {budget}: split by idea or simplify"


def test_every_module_under_300_code_lines_unless_budgeted():
    for path in PACKAGE.rglob("*.py"):
        if path.name not in BUDGETS:
            assert code_lines(path) <= 300, f"{path} has {code_lines(path)} code lines"
