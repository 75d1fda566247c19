"""Every Examples section in the package's docstrings runs and prints what it says."""
import doctest
import importlib
import pkgutil

import pytest

import minicomp

MODULES = ["minicomp"] + sorted(m.name for m in pkgutil.walk_packages(
    minicomp.__path__, "minicomp.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    failures, _ = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert failures == 0, f"{name}: {failures} docstring example(s) failed"
