"""Entry point of the ``kubeloop`` command: groups the sub-commands."""

from __future__ import annotations

import click

from kubeloop.cli.controlplane import UP_BANNER, controlplane, serve_until_signal
from kubeloop.cli.generate import generate
from kubeloop.cli.run import run
from kubeloop.testing.controlplane import ControlPlane, ControlPlaneOptions

__all__ = ["cli", "main"]


@click.group()
@click.version_option(package_name="kubeloop")
def cli() -> None:
    """kubeloop: write Kubernetes operators in Python."""


cli.add_command(controlplane)
cli.add_command(run)
cli.add_command(generate)


@cli.command()
def dev() -> None:
    """Start a local cluster for development and print how to use it (Ctrl-C stops it)."""
    plane = ControlPlane(ControlPlaneOptions(controller_manager=True, nodes=1))
    serve_until_signal(plane, UP_BANNER)


def main() -> None:
    """Run the CLI."""
    cli()


if __name__ == "__main__":
    main()
