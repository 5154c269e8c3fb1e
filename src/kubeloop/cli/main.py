"""Entry point of the ``kubeloop`` command: groups the sub-commands."""

from __future__ import annotations

import click

from kubeloop.cli.controlplane import controlplane
from kubeloop.cli.create import create
from kubeloop.cli.dev import dev
from kubeloop.cli.generate import generate
from kubeloop.cli.init import init
from kubeloop.cli.olm import olm
from kubeloop.cli.run import run

__all__ = ["cli", "main"]


@click.group()
@click.version_option(package_name="kubeloop")
def cli() -> None:
    """kubeloop: write Kubernetes operators in Python."""


cli.add_command(controlplane)
cli.add_command(run)
cli.add_command(generate)
cli.add_command(init)
cli.add_command(create)
cli.add_command(dev)
cli.add_command(olm)


def main() -> None:
    """Run the CLI."""
    cli()


if __name__ == "__main__":
    main()
