"""``kubeloop run MODULE:OPERATOR``: run an operator out of cluster against a kubeconfig."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import click

from kubeloop.errors import KubeloopError
from kubeloop.manager import configure_logging
from kubeloop.operator import Operator
from kubeloop.webhook import DEFAULT_CERT_DIR

__all__ = ["load_operator", "run"]


def load_operator(target: str) -> Operator:
    """Import ``module:attribute`` (the current directory and ``src/`` are on the path)."""
    module_name, _, attr = target.partition(":")
    for extra in (Path.cwd() / "src", Path.cwd()):
        if extra.is_dir() and str(extra) not in sys.path:
            sys.path.insert(0, str(extra))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.ClickException(f"cannot import {module_name!r}: {exc}") from exc
    found = getattr(module, attr or "operator", None)
    if not isinstance(found, Operator):
        raise click.ClickException(f"{target!r} is not a kubeloop.Operator (got {type(found).__name__})")
    return found


@click.command()
@click.argument("target")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    default=None,
    help="Default: $KUBECONFIG, ~/.kube/config.",
)
@click.option("--leader-elect", is_flag=True, help="Run controllers only while holding the leader Lease.")
@click.option("--leader-election-namespace", default=None)
@click.option("--metrics-bind-address", default=":8080", show_default=True, help="'0' disables.")
@click.option("--health-probe-bind-address", default=":8081", show_default=True, help="'0' disables.")
@click.option("--namespace", default=None, help="Watch only this namespace.")
@click.option("--log-level", default="INFO", show_default=True)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--lease-duration", type=float, default=15.0, show_default=True)
@click.option("--renew-deadline", type=float, default=10.0, show_default=True)
@click.option("--retry-period", type=float, default=2.0, show_default=True)
@click.option(
    "--webhook-bind-address",
    default=":9443",
    show_default=True,
    help="Where the webhook server listens (when the operator declares webhooks).",
)
@click.option(
    "--webhook-cert-dir",
    type=click.Path(file_okay=False),
    default=str(DEFAULT_CERT_DIR),
    show_default=True,
    help="Directory of the webhook server's tls.crt and tls.key (reloaded when they change).",
)
@click.option(
    "--webhook-local",
    is_flag=True,
    help="Out of cluster: issue a loopback CA and certificate, and point the webhook configurations "
    "(and CRD conversion) at this process while it runs. Ignores --webhook-cert-dir.",
)
def run(
    target: str,
    kubeconfig: str | None,
    leader_elect: bool,
    leader_election_namespace: str | None,
    metrics_bind_address: str,
    health_probe_bind_address: str,
    namespace: str | None,
    log_level: str,
    log_format: str,
    lease_duration: float,
    renew_deadline: float,
    retry_period: float,
    webhook_bind_address: str,
    webhook_cert_dir: str,
    webhook_local: bool,
) -> None:
    """Run the operator TARGET (``package.module:operator``) until SIGTERM or Ctrl-C."""
    configure_logging(log_level, "json" if log_format == "json" else "text")
    operator = load_operator(target)
    if namespace:
        operator.namespace = namespace
    try:
        asyncio.run(
            operator.run(
                kubeconfig,
                leader_election=leader_elect,
                metrics_bind_address=metrics_bind_address,
                health_probe_bind_address=health_probe_bind_address,
                leader_election_namespace=leader_election_namespace,
                lease_duration=lease_duration,
                renew_deadline=renew_deadline,
                retry_period=retry_period,
                webhook_bind_address=webhook_bind_address,
                webhook_cert_dir=webhook_cert_dir,
                webhook_local=webhook_local,
            )
        )
    except KubeloopError as exc:
        raise click.ClickException(str(exc)) from exc
