"""``kubeloop --help`` and every command's ``--help`` read as plain text in a terminal: no
reStructuredText markup from the docstrings they are made of (the docs site renders the same
texts as Markdown, where single backquotes are code)."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from kubeloop.cli.main import cli


def commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from commands(sub, (*path, name))


@pytest.mark.parametrize("path", list(commands(cli)), ids=lambda p: " ".join(("kubeloop", *p)))
def test_the_help_has_no_restructuredtext_markup(path: tuple[str, ...]) -> None:
    shown = CliRunner().invoke(cli, [*path, "--help"], terminal_width=100)
    assert shown.exit_code == 0, shown.output
    for markup in ("``", ":class:", ":func:", ":meth:"):
        assert markup not in shown.output
