"""``kubeloop controlplane build|up``: build the control-plane binaries, run a control plane."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType

import click

from kubeloop.errors import KubeloopError
from kubeloop.testing import assets
from kubeloop.testing.controlplane import ControlPlane, ControlPlaneOptions

__all__ = ["controlplane", "serve_until_signal"]


@click.group()
def controlplane() -> None:
    """Build and run a local Kubernetes control plane (etcd, kube-apiserver, ...)."""


@controlplane.command()
@click.argument("components", nargs=-1, type=click.Choice(sorted(assets.COMPONENTS)))
@click.option("--force", is_flag=True, help="Rebuild even when cached.")
def build(components: tuple[str, ...], force: bool) -> None:
    """Build the pinned components from their Go modules into the cache (reused when present)."""
    click.echo(f"versions: {assets.versions_manifest()}; cache: {assets.cache_dir()}")
    try:
        assets.build_all(components or None, progress=click.echo, force=force)
    except KubeloopError as exc:
        raise click.ClickException(str(exc)) from exc


class _Stop(Exception):
    """Raised from the SIGINT and SIGTERM handler to leave the serving loop."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def serve_until_signal(plane: ControlPlane, banner: str, kubeconfig_out: Path | None = None) -> None:
    """Keep ``plane`` up until Ctrl-C or SIGTERM; fail if one of its components dies.

    Both handlers are set here, as Go's signal.Notify does: Python leaves SIGINT ignored when the process
    started with it ignored (a background job of a non-interactive shell), and Ctrl-C then did nothing."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)
    try:
        with plane:
            kubeconfig = plane.kubeconfig
            if kubeconfig_out is not None:
                kubeconfig_out.write_bytes(kubeconfig.read_bytes())
                kubeconfig = kubeconfig_out
            click.echo(banner.format(kubeconfig=kubeconfig, server=plane.server, directory=plane.directory))
            sys.stdout.flush()
            while True:
                time.sleep(0.5)
                for proc in plane.processes:
                    proc.check_running()
    except _Stop:
        click.echo("stopped", err=True)
    except KubeloopError as exc:
        raise click.ClickException(str(exc)) from exc


UP_BANNER = """\
control plane up at {server}
kubeconfig: {kubeconfig}
data: {directory}
point kubectl at it:  export KUBECONFIG={kubeconfig}
                      kubectl get namespaces
Ctrl-C stops it and removes its data."""


@controlplane.command()
@click.option("--controller-manager/--no-controller-manager", default=True, show_default=True)
@click.option("--nodes", default=1, show_default=True, help="Fake kwok nodes (0: no scheduler, no kwok).")
@click.option("--port", type=int, default=None, help="kube-apiserver port (default: a free one).")
@click.option(
    "--kubeconfig-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the admin kubeconfig here.",
)
def up(controller_manager: bool, nodes: int, port: int | None, kubeconfig_out: Path | None) -> None:
    """Start a control plane, print its kubeconfig path, and stay up until interrupted."""
    plane = ControlPlane(
        ControlPlaneOptions(controller_manager=controller_manager, nodes=nodes, apiserver_port=port)
    )
    serve_until_signal(plane, UP_BANNER, kubeconfig_out)
