"""The portal package's imports: each module stands on its own, arrows never go in a circle,
imports sit at the top of modules, and no code reaches into our dependencies' private parts."""
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "portal"

#: Private attributes of Flask, flask-babel, Werkzeug and peewee the portal once reached for.
PRIVATE_USES = re.compile(
    r"_cv_app|_get_cursor_wrapper|\.__data__|\.__rel__|\._dirty\b|_flask_babel|_app_ctx_stack"
    r"|\._meta\b|_get_current_object|getattr\([^)]*[\"']_[A-Za-z]")


def module_name(path):
    """``portal/core/db.py`` → ``portal.core.db``; a package's ``__init__`` is the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def parsed(path):
    """The module's syntax tree and its lines."""
    text = path.read_text(encoding="utf-8")
    return ast.parse(text, filename=str(path)), text.splitlines()


def imported_modules(name, path):
    """The portal modules ``name`` imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    tree, _lines = parsed(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in SOURCES else base
                       for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in SOURCES and target != name)
    return found


def find_cycle(graph):
    """One import cycle as a list of modules (first == last), or None."""
    state = {}  # module -> "open" while on the path, "done" once explored

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target, path + [target])
                if cycle:
                    return cycle
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [module])
            if cycle:
                return cycle
    return None


#: Run in a fresh interpreter: load the third-party libraries the portal uses once, then
#: import each portal module in a forked child that has no portal module loaded yet (an
#: interpreter per module would take a minute on a busy machine).
IMPORT_EACH = """
import importlib, os, sys, traceback
for library in sys.argv[1].split():
    importlib.import_module(library)
assert not [name for name in sys.modules if name.split(".")[0] == "portal"]
children = {}
for module in sys.argv[2:]:
    if len(children) >= (os.cpu_count() or 2):
        pid, status = os.wait()
        if os.waitstatus_to_exitcode(status):
            print("FAILED", children[pid], file=sys.stderr, flush=True)
        del children[pid]
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(module)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    children[pid] = module
for pid, module in children.items():
    if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]):
        print("FAILED", module, file=sys.stderr, flush=True)
"""


def third_party_libraries():
    """The top-level names of what the portal imports from outside itself."""
    names = set()
    for path in SOURCES.values():
        tree, _lines = parsed(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return sorted(names - {"portal"})


def test_every_module_imports_on_its_own():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH, " ".join(third_party_libraries()), *SOURCES],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0 and "FAILED" not in result.stderr, result.stderr


def test_no_import_cycle_among_portal_modules():
    graph = {name: imported_modules(name, path) for name, path in SOURCES.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def function_level_imports():
    """``path:line: text`` of every import inside a function without a comment saying why."""
    found = []
    for path in SOURCES.values():
        tree, lines = parsed(path)
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    line = lines[node.lineno - 1]
                    if not re.search(r"#\s*\S", line):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {line.strip()}")
    return sorted(set(found))


def test_imports_sit_at_the_top_of_modules():
    assert function_level_imports() == []


def private_uses():
    """``path:line: text`` of every use of a dependency's private attribute."""
    found = []
    for path in SOURCES.values():
        tree, lines = parsed(path)
        for number, line in enumerate(lines, 1):
            if PRIVATE_USES.search(line.split("#", 1)[0]):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
        for node in ast.walk(tree):
            # obj._name, except the module's own classes reaching their own attributes, and
            # os._exit (documented: how a forked child ends without the parent's cleanup)
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name)
                             and (node.value.id in ("self", "cls")
                                  or (node.value.id, node.attr) == ("os", "_exit")))):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
            # from flask.globals import _cv_app
            if (isinstance(node, ast.ImportFrom) and node.module
                    and not node.module.startswith("portal") and not node.level):
                found.extend(f"{path.relative_to(ROOT)}:{node.lineno}: import {alias.name}"
                             for alias in node.names if alias.name.startswith("_"))
    return sorted(set(found))


def test_no_private_attributes_of_dependencies():
    assert private_uses() == []


@pytest.mark.parametrize("line", [
    "app_ctx = _cv_app.get(None)",
    "return list(query._get_cursor_wrapper(cursor))",
    "data = instance.__data__",
    "instance._dirty.clear()",
    "meta = model._meta",
    "user = current_user._get_current_object()",
    'state = getattr(g, "_flask_babel", None)',
])
def test_the_private_attribute_check_sees_them(line):
    assert PRIVATE_USES.search(line)
