"""The package's import structure: no import cycles, no private names across modules.

Every module of ``minicomp/`` is parsed with :mod:`ast` (nothing is
imported). An edge ``A -> B`` is drawn for every ``import`` / ``from ...
import`` statement in ``A`` -- at module level and inside functions alike
(a lazy import is still a dependency) -- that names module ``B``:

- ``import a.b.c`` and ``from a.b.c import name`` import ``a.b.c``;
- ``from a.b import X`` imports ``a.b.X`` when ``X`` is a module, else the
  package ``a.b`` (``X`` comes from its ``__init__``);
- parent packages are not edges: ``from .. import validate`` does run
  ``minicomp/__init__.py``, but counting it would make every submodule that
  ``__init__`` imports part of a trivial cycle.

A private name is ``_x`` (one leading underscore, not a dunder). Using one
from another minicomp module -- ``from M import _x``, ``M._x`` with ``M``
bound to a module by an import -- is an offence, also when a package reaches
into its own submodule. Both checks print every offence.

Two layering rules ride on the same graph: each file of
:mod:`minicomp.kernels` imports only the layers below it (``KERNEL_LAYERS``,
the diagram of ``minicomp/kernels/__init__.py``), and nothing outside
:mod:`minicomp.bench` imports it (timing lives there).
"""
from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "minicomp"


# minicomp.kernels, bottom to top: what each file may import (the layers below it)
KERNEL_LAYERS = {
    "reference": set(),
    "dispatch_cache": set(),                           # the decisions' file (stdlib only)
    "dispatch": {"dispatch_cache"},                    # dispatch by measurement (stdlib only)
    "reference_sparse": {"reference"},                 # naive twins of the new sparse designs
    "requant": {"reference"},
    "sparse_designs": {"dispatch_cache"},              # the Numba CSR designs
    "sparse": {"reference", "dispatch", "sparse_designs"},
    "reference_formats": {"reference"},                # naive twins of the format kernels
    "reference_int8": set(),                           # naive twins of the K-blocked int8 designs
    "nm": {"reference", "reference_formats"},
    "ternary": {"reference", "reference_formats"},
    "blocked": {"reference", "requant"},
    "madd": {"reference", "requant"},                  # go further (x86)
    "vnni": {"reference", "requant", "dispatch_cache"},   # go further (x86)
    "int8": {"reference", "requant", "blocked", "madd", "vnni", "dispatch"},   # the dispatcher
    "reference_fused": {"reference"},                  # naive twins of the whole-model kernels
    "fused": set(),                                    # whole models in one call (Numba)
    "fused_mlp": {"reference", "int8", "fused"},       # packing + running them
}


def modules(package: pathlib.Path = PACKAGE) -> dict[str, pathlib.Path]:
    """Dotted module name -> file, for every ``.py`` file of the package."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _base(module: str, path: pathlib.Path, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names (relative levels resolved)."""
    if not node.level:
        return node.module or ""
    package = module.split(".")
    package = package if path.name == "__init__.py" else package[:-1]   # the module's package
    package = package[:len(package) - node.level + 1]
    return ".".join(package + ([node.module] if node.module else []))


def imports(module: str, path: pathlib.Path, known: dict) -> list[tuple[str, str, int]]:
    """``(target module, imported name or "", line)`` for every import in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, "", node.lineno) for a in node.names if a.name in known]
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, path, node)
            for a in node.names:
                if f"{base}.{a.name}" in known:                 # a submodule
                    out.append((f"{base}.{a.name}", "", node.lineno))
                elif base in known:
                    out.append((base, a.name, node.lineno))
    return out


def graph(package: pathlib.Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules it imports (module-level and lazy imports alike)."""
    known = modules(package)
    return {m: {t for t, _, _ in imports(m, p, known) if t != m} for m, p in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[tuple[list[str], list[str]]]:
    """``(cycle [a, b, ..., a], all its modules)`` per strongly connected component.

    Components by Tarjan's algorithm; the cycle shown is the shortest one
    through the component's first module.
    """
    index, low, stack, on, sccs = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while not scc or scc[-1] != v:
                scc.append(stack.pop())
                on.discard(scc[-1])
            if len(scc) > 1:
                sccs.append(set(scc))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    found = []
    for scc in sccs:                                   # shortest way back to the start (BFS)
        start = min(scc)
        came, todo = {}, [start]
        while start not in came:
            v = todo.pop(0)
            for w in sorted(edges[v] & scc):
                if w not in came:
                    came[w] = v
                    todo.append(w)
        path = [start]
        while len(path) == 1 or path[-1] != start:
            path.append(came[path[-1]])
        found.append((path[::-1], sorted(scc)))
    return found


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(package: pathlib.Path = PACKAGE) -> list[tuple[str, int, str, str]]:
    """``(file, line, module, name)`` for every private name used across modules."""
    known, out = modules(package), []
    for module, path in known.items():
        rel = path.relative_to(package.parent).as_posix()
        tree = ast.parse(path.read_text(), str(path))
        bound = {}                                     # local name -> module it is bound to
        for target, name, line in imports(module, path, known):
            if name and _private(name) and target != module:
                out.append((rel, line, target, name))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname and a.name in known:
                        bound[a.asname] = a.name
                    elif not a.asname:
                        bound[a.name.split(".")[0]] = a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom):
                base = _base(module, path, node)
                for a in node.names:
                    if f"{base}.{a.name}" in known:
                        bound[a.asname or a.name] = f"{base}.{a.name}"
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            chain = _dotted(node.value)
            if chain is None or chain.split(".")[0] not in bound:
                continue
            head, *rest = chain.split(".")
            target = ".".join([bound[head], *rest])
            if target in known and target != module:
                out.append((rel, node.lineno, target, node.attr))
    return sorted(set(out))


def test_no_import_cycles():
    found = cycles(graph())
    assert not found, "import cycles:\n" + "\n".join(
        f"{' -> '.join(c)} (component {', '.join(m)})" for c, m in found)


def test_no_private_names_across_modules():
    found = private_uses()
    assert not found, "private names used across modules:\n" + "\n".join(
        f"{f}:{line}: {t}.{n}" for f, line, t, n in found)


def test_kernels_import_only_the_layers_below():
    edges, bad = graph(), []
    assert {m.split(".")[-1] for m in edges if m.startswith("minicomp.kernels.")} == set(
        KERNEL_LAYERS), "a new kernels/ file: give it a layer in KERNEL_LAYERS"
    for name, below in KERNEL_LAYERS.items():
        for target in sorted(edges[f"minicomp.kernels.{name}"]):
            inside = target.startswith("minicomp.kernels.")
            if (inside and target.split(".")[-1] not in below) or (
                    not inside and target != "minicomp.validate"):
                bad.append(f"minicomp/kernels/{name}.py imports {target}")
    print("\n".join(bad))
    assert not bad, "kernels import above their layer:\n" + "\n".join(bad)


def test_nothing_outside_bench_imports_it():
    # timing lives in minicomp.bench; the CLI loads a benchmark by name (importlib); the
    # tour is a benchmark of every technique and times with bench.timing, openly
    found = []
    for module, path in modules().items():
        if module.startswith(("minicomp.bench", "minicomp.tour")):
            continue
        for target, _, line in imports(module, path, modules()):
            if target.startswith("minicomp.bench"):
                found.append((path.relative_to(ROOT).as_posix(), line, target))
    assert not found, "\n".join(f"{f}:{line}: imports {t}" for f, line, t in found)


def test_the_checks_see_what_they_must():
    # a hand-made graph: a -> b -> c -> a is one cycle, d -> a is not in it
    found = cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert found == [(["a", "b", "c", "a"], ["a", "b", "c"])]
    assert cycles({"a": {"b"}, "b": set()}) == []
    edges = graph()
    assert "minicomp.kernels.reference" in edges["minicomp.kernels.sparse"]
    assert "minicomp.validate" in edges["minicomp.kernels.reference"]     # from .. import validate
    assert "minicomp" not in edges["minicomp.kernels.reference"]


def test_the_checks_on_a_hand_made_package(tmp_path):
    # a.py defines _x, _y; b.py takes both from a (3 ways) and a imports b lazily:
    # one cycle a <-> b, and 3 offences in b.py plus one in sub/__init__.py
    files = {"__init__.py": "from . import a\n",
             "a.py": "_x = _y = 1\ndef f():\n    from . import b\n    return b\n",
             "b.py": ("from .a import _x\nfrom . import a\nimport pkg.a as A\n"
                      "u = a._y\nv = A._y + _x\n"),
             "sub/__init__.py": "from .c import _z, public\nfrom .. import a\n",
             "sub/c.py": "_z = public = 1\nw = _z\n"}          # own private name: fine
    for name, text in files.items():
        (tmp_path / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / name).write_text(text)
    edges = graph(tmp_path / "pkg")
    assert edges["pkg.sub"] == {"pkg.sub.c", "pkg.a"}       # from .. import a: not pkg
    assert cycles(edges) == [(["pkg.a", "pkg.b", "pkg.a"], ["pkg.a", "pkg.b"])]
    assert private_uses(tmp_path / "pkg") == [
        ("pkg/b.py", 1, "pkg.a", "_x"), ("pkg/b.py", 4, "pkg.a", "_y"),
        ("pkg/b.py", 5, "pkg.a", "_y"), ("pkg/sub/__init__.py", 1, "pkg.sub.c", "_z")]
