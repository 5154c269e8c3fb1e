"""The TARGET of ``kubeloop run|dev|generate`` (``package.module:operator``) that a new user gets
wrong is named with what to give instead: a file path (the module it names), a module not found
(where it was looked for), a module without an ``operator``, a name that is something else."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pytest

from kubeloop.cli.run import load_operator


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory, the current one, with ``src/targets_pkg/operator.py`` (an operator, a
    function) and ``src/targets_pkg/broken.py`` (imports a module that is not installed)."""
    package = tmp_path / "src" / "targets_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "operator.py").write_text(
        "import kubeloop as kl\n\noperator = kl.Operator('targets')\n\ndef helper() -> None: ...\n"
    )
    (package / "broken.py").write_text("import no_such_dependency_of_targets\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_operator adds the project's directories
    for name in [m for m in sys.modules if m.startswith("targets_pkg")]:
        monkeypatch.delitem(sys.modules, name)
    return tmp_path


def refused(target: str) -> str:
    with pytest.raises(click.ClickException) as raised:
        load_operator(target)
    return raised.value.message


def test_the_operator_is_found_by_module_and_name(project: Path) -> None:
    assert load_operator("targets_pkg.operator").name == "targets"
    assert load_operator("targets_pkg.operator:operator").name == "targets"


@pytest.mark.parametrize(
    "path", ["src/targets_pkg/operator.py", "./src/targets_pkg/operator.py"], ids=["relative", "dot"]
)
def test_a_file_path_is_named_with_the_module_it_means(project: Path, path: str) -> None:
    assert refused(path) == (
        f"{path!r} is a file: TARGET is the module to import and the Operator's name in it,"
        " targets_pkg.operator:operator"
    )
    absolute = str(project / "src/targets_pkg/operator.py")
    assert refused(f"{absolute}:operator").endswith(" in it, targets_pkg.operator:operator")


def test_a_module_not_found_says_where_it_was_looked_for(project: Path) -> None:
    assert refused("no_such_targets_pkg.operator") == (
        "cannot import 'no_such_targets_pkg.operator': No module named 'no_such_targets_pkg'"
        f" (looked in {project}, {project / 'src'} and the installed packages)"
    )


def test_a_dependency_missing_in_the_module_is_named_as_it_is(project: Path) -> None:
    assert refused("targets_pkg.broken") == (
        "cannot import 'targets_pkg.broken': No module named 'no_such_dependency_of_targets'"
    )


def test_a_module_without_the_name_says_what_target_is(project: Path) -> None:
    assert refused("targets_pkg") == (
        "module 'targets_pkg' has no 'operator': TARGET is package.module:name, the name of the"
        " kubeloop.Operator after the colon (default: operator)"
    )


def test_a_name_that_is_no_operator_says_what_it_is(project: Path) -> None:
    assert refused("targets_pkg.operator:helper") == (
        "'targets_pkg.operator:helper' is a function, not a kubeloop.Operator"
    )
