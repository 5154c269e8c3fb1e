"""The queue package imports only the standard library and the bottom layers ``kubeloop.clock``,
``kubeloop.tokenbucket`` and ``kubeloop.errors``.

import-linter's layers contract keeps it below the controller; this keeps it beside the cache
(which it must not import either) and above nothing but the bottom layer.
"""

import ast
import sys
from pathlib import Path

import kubeloop.clock
import kubeloop.queue

ALLOWED_KUBELOOP = {"kubeloop.clock", "kubeloop.errors", "kubeloop.tokenbucket"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def outside_allowed(path: Path, own_package: str) -> set[str]:
    bad = set()
    for name in imported_modules(path):
        top = name.split(".")[0]
        if name == "__future__" or (top in sys.stdlib_module_names and top != "kubeloop"):
            continue
        if name in ALLOWED_KUBELOOP or name.startswith(own_package + "."):
            continue
        bad.add(name)
    return bad


def test_the_queue_package_imports_only_the_standard_library_and_the_bottom_layers():
    package = Path(kubeloop.queue.__file__).parent
    problems = {path.name: outside_allowed(path, "kubeloop.queue") for path in package.glob("*.py")}
    assert {name: bad for name, bad in problems.items() if bad} == {}


def test_the_clock_imports_only_the_standard_library_and_errors():
    path = Path(kubeloop.clock.__file__)
    assert outside_allowed(path, "kubeloop.clock") == set()
