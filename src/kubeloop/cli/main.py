"""Entry point of the ``kubeloop`` command: groups the sub-commands."""

from __future__ import annotations

import click

__all__ = ["cli", "main"]


@click.group()
@click.version_option(package_name="kubeloop")
def cli() -> None:
    """kubeloop: write Kubernetes operators in Python."""


def main() -> None:
    """Run the CLI."""
    cli()
