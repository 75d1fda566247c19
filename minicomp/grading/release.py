"""``minicomp release``: the student version of the exercises.

nbgrader's markers in ``.py`` files: a ``### BEGIN/END SOLUTION`` block
becomes ``# YOUR CODE HERE`` + ``raise NotImplementedError``; ``### BEGIN/END
HIDDEN TESTS`` blocks and ``@case(hidden=True)`` functions are dropped. All
is built and checked in memory before anything is written: no marker,
solution line or hidden case name survives; a top-level definition that
hidden cases reach (via helpers too) and public ones do not must sit in a
hidden block (:func:`check_hidden_only`); the released tests compile and
define all that public cases use (:func:`check_public_names`).
"""
from __future__ import annotations

import ast
import builtins
import os

from .. import validate
from ..atomic import atomic_open, check_new
from .case import find_exercises

SOLUTION = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
MARKERS = SOLUTION + HIDDEN
SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints"}
TEXT_SUFFIXES = (".py", ".md", ".txt")
DYNAMIC = {"globals", "vars", "eval", "exec"}    # name lookups the analysis cannot follow
KNOWN = set(dir(builtins)) | {"__file__", "__builtins__"}   # names every module has


def _blocks(lines, markers, path):
    """(begin, end) line indices of each marked block; ValueError if unbalanced."""
    (begin, end), blocks, start = markers, [], None
    for i, line in enumerate(lines):
        if line.strip() == begin and start is not None:
            raise ValueError(f"{path}:{i + 1}: {begin!r} inside the block opened at line "
                             f"{start + 1}")
        if line.strip() == end and start is None:
            raise ValueError(f"{path}:{i + 1}: {end!r} without {begin!r}")
        if line.strip() in markers:
            blocks, start = (blocks, i) if start is None else (blocks + [(start, i)], None)
    if start is not None:
        raise ValueError(f"{path}:{start + 1}: {begin!r} is never closed")
    return blocks


def _parse(text: str, path: str) -> ast.Module:
    """``ast.parse``, with a syntax error as a ValueError naming ``path``."""
    try:
        compile(text, path, "exec", dont_inherit=True)       # the errors ast.parse misses
        return ast.parse(text, path)
    except SyntaxError as e:
        raise ValueError(f"release: {path}:{e.lineno}: syntax error ({e.msg}); "
                         "nothing was written") from None


def strip_solutions(text: str, path: str = "<text>") -> str:
    """Replace every solution block by ``# YOUR CODE HERE`` + ``raise NotImplementedError``.

    Raises
    ------
    ValueError
        If a marker is unbalanced; the message names ``path`` and the line.

    Examples
    --------
    >>> print(strip_solutions('''def f(x):
    ...     ### BEGIN SOLUTION
    ...     return 2 * x
    ...     ### END SOLUTION
    ... '''), end="")
    def f(x):
        # YOUR CODE HERE
        raise NotImplementedError
    """
    lines = text.splitlines(keepends=True)
    out, last = [], 0
    for begin, end in _blocks(lines, SOLUTION, path):
        indent = lines[begin][:len(lines[begin]) - len(lines[begin].lstrip())]
        out += lines[last:begin] + [f"{indent}# YOUR CODE HERE\n",
                                    f"{indent}raise NotImplementedError\n"]
        last = end + 1
    return "".join(out + lines[last:])


def _case_flag(node):
    """True: hidden ``@case`` (``hidden=`` but a literal False); False: public; else None."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    if any(k.arg == "hidden" and not (isinstance(k.value, ast.Constant) and k.value.value
                                      is False) for d in node.decorator_list
           if isinstance(d, ast.Call) for k in d.keywords):
        return True
    names = {getattr(f, "id", getattr(f, "attr", None)) for f in
             (d.func if isinstance(d, ast.Call) else d for d in node.decorator_list)}
    return False if "case" in names else None


def strip_hidden(text: str, path: str = "<text>") -> str:
    """Drop hidden-test blocks and every ``@case(hidden=True)`` function."""
    lines = text.splitlines(keepends=True)
    drop = {i for begin, end in _blocks(lines, HIDDEN, path) for i in range(begin, end + 1)}
    for node in ast.walk(_parse(text, path)):
        if _case_flag(node):
            drop.update(range(min(d.lineno for d in node.decorator_list) - 1, node.end_lineno))
    return "".join(line for i, line in enumerate(lines) if i not in drop)


# --- which module-level names each top-level statement uses -------------------

def _scope(nodes):
    """Names read and bound in one scope, and the scopes nested in it."""
    loads, stores, nested, declared = set(), set(), [], set()
    stack = list(nodes)
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            if not isinstance(n, ast.Lambda):
                stores.add(n.name)
                stack += n.decorator_list
            if isinstance(n, ast.ClassDef):
                stack += n.bases + [k.value for k in n.keywords]
            else:                                  # defaults, annotations: evaluated here
                stack += [x for x in [*n.args.defaults, *n.args.kw_defaults, *(
                    a.annotation for a in _args(n)), getattr(n, "returns", None)] if x]
            nested.append(n)
        elif isinstance(n, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            nested.append(n)
        elif isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else stores).add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            stores.update((a.asname or a.name).split(".")[0] for a in n.names)
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            declared.update(n.names)
        else:                                      # except ... as e, match captures
            stores.update([n.name] if isinstance(getattr(n, "name", None), str) else [])
            stack.extend(ast.iter_child_nodes(n))
    return loads, stores, nested, declared


def _args(node) -> list:                          # the ast.arg of a function or lambda
    a = node.args
    return [x for x in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg] if x]


def _free(node) -> set:
    """Names a nested scope (function, class, lambda, comprehension) reads from outside."""
    if isinstance(node, ast.ClassDef):             # methods do not see the class's names
        loads, stores, nested, declared = _scope(node.body)
        return (loads - (stores - declared)) | set().union(*map(_free, nested))
    params, body = set(), list(ast.iter_child_nodes(node))     # a comprehension
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        params = {a.arg for a in _args(node)}
        body = node.body if isinstance(node.body, list) else [node.body]
    loads, stores, nested, declared = _scope(body)
    return (loads | set().union(*map(_free, nested))) - ((stores | params) - declared)


def _analyse(text: str, path: str) -> tuple:
    """``(node, defines, uses)`` and case flag of each top-level statement (none if no case)."""
    tree = _parse(text, path)
    flags = [_case_flag(node) for node in tree.body]
    if all(f is None for f in flags):
        return [], []
    stmts = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            raise ValueError(f"release: {path}:{node.lineno}: 'import *' hides which names "
                             "the cases use; import the names explicitly")
        loads, stores, nested, _ = _scope([node])
        stmts.append((node, stores, loads | set().union(*map(_free, nested))))
    return stmts, flags


def _span(node) -> range:
    """1-based line numbers of a statement, decorators included."""
    return range(min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]),
                 node.end_lineno + 1)


def _reach(roots, stmts, dynamic=DYNAMIC) -> set:
    """Indices of the statements ``roots`` need; ``dynamic`` lookups need them all."""
    seen, todo = set(), list(roots)
    while todo:
        i = todo.pop()
        if i not in seen:
            seen.add(i)
            todo += [j for j, (_, defines, _) in enumerate(stmts)
                     if defines & stmts[i][2] or stmts[i][2] & dynamic]
    return seen


def check_hidden_only(text: str, path: str = "<text>") -> None:
    """ValueError naming each top-level definition only hidden cases use, outside a
    hidden block, with ``path`` and those hidden cases."""
    stmts, flags = _analyse(text, path)
    inside = {n for b, e in _blocks(text.splitlines(), HIDDEN, path)
              for n in range(b + 2, e + 1)}                      # 1-based, markers out
    hid = [set(_span(node)) <= inside for node, _, _ in stmts]
    public = _reach([i for i, (_, d, _) in enumerate(stmts) if not hid[i] and (
        flags[i] is False or (flags[i] is None and not d))], stmts, dynamic=set())
    users = {}
    for i in (i for i, f in enumerate(flags) if f):
        for j in _reach([i], stmts) - public:
            users.setdefault(j, []).append(stmts[i][0].name)
    bad = [f"{', '.join(sorted(stmts[j][1])) or 'a statement'} (line {_span(stmts[j][0])[0]})"
           f" is used only by hidden case(s) {', '.join(names)}"
           for j, names in sorted(users.items()) if flags[j] is None and not hid[j]]
    if bad:
        raise ValueError(f"release: {path}: " + "; ".join(bad) + f"; move each between "
                         f"{HIDDEN[0]!r} and {HIDDEN[1]!r}; nothing was written")


def check_public_names(text: str, released: str, path: str = "<text>") -> None:
    """ValueError (naming ``path``, the case and the name) unless ``released``
    compiles, keeps every public case of ``text`` and defines all they use."""
    before = {n.name for n in _parse(text, path).body if _case_flag(n) is False}
    stmts, flags = _analyse(released, path)
    after = [i for i, f in enumerate(flags) if f is False]
    for lost in sorted(before - {stmts[i][0].name for i in after}):
        raise ValueError(f"release: {path}: public case {lost} would be dropped (inside "
                         "a hidden block? mark it hidden=True); nothing was written")
    defined = KNOWN.union(*(d for _, d, _ in stmts))
    for i in after:
        for j in sorted(_reach([i], stmts)):
            missing = sorted(stmts[j][2] - defined)
            if missing:
                raise ValueError(f"release: {path}: public case {stmts[i][0].name} uses "
                                 f"{', '.join(missing)}, not defined in the released file "
                                 "(is it inside a hidden block?); nothing was written")


# --- building and writing the release -----------------------------------------

def _secrets(text: str, path: str) -> list:
    """Text that must not reach the students: solution lines and hidden names."""
    lines = text.splitlines()
    inside = {i for b, e in _blocks(lines, SOLUTION, path) + _blocks(lines, HIDDEN, path)
              for i in range(b + 1, e)}
    outside = {lines[i].strip() for i in range(len(lines)) if i not in inside}
    secret = [lines[i].strip() for i in sorted(inside)
              if len(lines[i].strip()) >= 8 and not lines[i].strip().startswith("#")
              and lines[i].strip() not in outside]
    return secret + [f"def {n.name}(" for n in ast.walk(_parse(text, path)) if _case_flag(n)]


def _text(data: bytes, path: str) -> str:
    """``data`` decoded as UTF-8, or a ValueError naming ``path``."""
    try:
        if b"\0" in data:
            raise UnicodeDecodeError("utf-8", data, data.index(0), data.index(0) + 1, "NUL")
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"release: {path} is binary or not UTF-8 (byte {data[e.start]:#04x} at "
                         f"offset {e.start}), expected UTF-8 text; nothing written") from None


def build_release(src) -> dict:
    """The student version of ``src`` as ``{relative path: bytes}``, checked.

    Raises
    ------
    ValueError
        No exercise in ``src`` (no ``tests.py`` in it nor in a sub-folder), an
        unbalanced marker, a surviving secret, a definition only hidden cases
        use outside a hidden block, a name a public case would lose, a
        ``.py``/``.md``/``.txt`` file that is not UTF-8, a symlink.
    FileNotFoundError
        If ``src`` is not a directory.
    """
    src = validate.path(src, "src", where="release")
    find_exercises(src, "src")                 # refused as grade, check, validate refuse it
    released, secrets = {}, []
    for folder, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for link in filter(os.path.islink, (os.path.join(folder, n) for n in files + dirs)):
            raise ValueError(f"release: {link} is a symlink; release copies regular files "
                             "only; nothing was written")
        for name in sorted(f for f in files if not f.startswith(".") and f[-4:] != ".pyc"):
            rel = os.path.relpath(path := os.path.join(folder, name), src)
            with open(path, "rb") as f:
                data = f.read()
            if name.endswith(TEXT_SUFFIXES):
                text = _text(data, path)
                if name.endswith(".py"):
                    secrets += [(rel, s) for s in _secrets(text, path)]
                    check_hidden_only(text, path)
                    out = strip_hidden(strip_solutions(text, path), path)
                    check_public_names(text, out, path)
                    text = out
                data = text.encode("utf-8")
            released[rel] = data
    for rel, data in released.items():
        text = data.decode("utf-8", errors="replace")
        for marker in MARKERS if rel.endswith(".py") else ():   # docs may show them
            if marker in text:
                raise ValueError(f"release: marker {marker!r} survives in {rel}")
        for origin, secret in secrets:
            if secret in text:
                raise ValueError(f"release: {secret!r} from {origin} (solution or hidden "
                                 f"test) would survive in {rel}; nothing was written")
        if rel.endswith(".py"):
            _parse(text, rel)                                 # it still compiles
    return released


def _refuse_out(src: str, out: str, released: dict) -> None:
    """An error unless ``released`` can be written under ``out``, touching only ``out``."""
    if os.path.islink(out) or (os.path.exists(out) and not os.path.isdir(out)):
        raise ValueError(f"out: {out!r} is a symlink or an existing file, expected a folder")
    s, o = os.path.realpath(src), os.path.realpath(out)
    how = "is" if s == o else "lies inside" if o.startswith(os.path.join(s, "")) else \
        "contains" if s.startswith(os.path.join(o, "")) else ""
    if how:
        raise ValueError(f"out: {out!r} {how} the source {src!r} (real paths); releasing "
                         "there would overwrite the solutions and hidden tests")
    for rel in released:
        parts, path = rel.split(os.sep), out
        for k, part in enumerate(parts):
            path, last = os.path.join(path, part), k == len(parts) - 1
            if os.path.islink(path) or (os.path.exists(path) and os.path.isdir(path) == last):
                raise ValueError(f"out: {path!r} is a symlink or a {'folder' if last else 'file'}"
                                 f" in the way of {rel}; release writes through neither")
        check_new(path, where="out")        # a device, a FIFO, a read-only file or folder


def release(src, out) -> list:
    """Write the student version of the exercises in ``src`` to ``out``; return the paths.

    Built and checked in memory, every target checked first: nothing is written if
    anything is refused. Over an older release each file replaces its namesake.

    Raises
    ------
    ValueError
        What :func:`build_release` refuses; an ``out`` that is a symlink, a file,
        is, lies in or holds ``src`` (real paths); a link, file, device or FIFO in the way.
    PermissionError
        A file, or the folder it goes in (or would be created in), not writable.
    """
    src = os.path.normpath(validate.path(src, "src", where="release"))
    out = os.path.normpath(validate.path(out, "out", where="release"))
    _refuse_out(src, out, {})
    released = build_release(src)
    _refuse_out(src, out, released)
    for rel, data in released.items():
        os.makedirs(os.path.dirname(os.path.join(out, rel)), exist_ok=True)
        with atomic_open(os.path.join(out, rel), where="release") as f:
            f.write(data)
    return [os.path.join(out, rel) for rel in released]
