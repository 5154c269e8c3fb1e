"""The manager's command-line flags (controller-runtime's names), and the one ``ManagerOptions`` built
from them; every default is read from the options classes, where it is declared."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kubeloop.manager import (
    LeaderElectionOptions,
    ManagerOptions,
    MetricsOptions,
    ProbeOptions,
    ShardingOptions,
    WebhookServerOptions,
)

__all__ = ["ENV", "manager_flags", "manager_options"]

ENV = {"auto_envvar_prefix": "KUBELOOP", "show_default": True}
"""Context settings of a command taking these flags: each can be set as ``KUBELOOP_<FLAG>`` too."""

_F = TypeVar("_F", bound=Callable[..., Any])


def _default(cls: type, name: str) -> Any:
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


def manager_flags(*, webhooks: bool = True) -> Callable[[_F], _F]:
    """Add the manager's flags (and the webhook server's, with ``webhooks``) to a click command."""
    flags = [
        click.option(
            "--leader-elect", is_flag=True, help="Run controllers only while holding the leader Lease."
        ),
        click.option("--leader-election-namespace", default=None, help="Default: the client's namespace."),
        click.option(
            "--lease-duration", type=float, default=_default(LeaderElectionOptions, "lease_duration")
        ),
        click.option(
            "--renew-deadline", type=float, default=_default(LeaderElectionOptions, "renew_deadline")
        ),
        click.option("--retry-period", type=float, default=_default(LeaderElectionOptions, "retry_period")),
        click.option(
            "--shards",
            type=click.Choice(["auto"]),
            default=None,
            help="'auto': share the reconciled objects among the replicas that run, active-active, each "
            "announcing itself with a Lease (the lease flags time them; --leader-elect is then not used).",
        ),
        click.option(
            "--shard-identity",
            default=None,
            help="This replica's name among the shards (a DNS label; default: hostname and a random suffix).",
        ),
        click.option(
            "--shard-relabel-qps",
            type=float,
            default=None,
            help="Label writes a second of the replica assigning the objects (default: 16 in flight, "
            "no rate): a stopped replica's objects are adopted at once and relabelled in the background.",
        ),
        click.option(
            "--metrics-bind-address", default=_default(MetricsOptions, "bind_address"), help="'0' disables."
        ),
        click.option(
            "--health-probe-bind-address",
            default=_default(ProbeOptions, "bind_address"),
            help="'0' disables.",
        ),
    ]
    if webhooks:
        flags += [
            click.option(
                "--webhook-bind-address",
                default=_default(WebhookServerOptions, "bind_address"),
                help="Where the webhook server listens (when the operator declares webhooks).",
            ),
            click.option(
                "--webhook-cert-dir",
                type=click.Path(file_okay=False, path_type=Path),
                default=_default(WebhookServerOptions, "cert_dir"),
                help="Directory of the webhook server's tls.crt and tls.key (reloaded when they change).",
            ),
            click.option(
                "--webhook-local",
                is_flag=True,
                help="Out of cluster: issue a loopback CA and certificate, and point the webhook "
                "configurations (and CRD conversion) at this process while it runs. "
                "Ignores --webhook-cert-dir.",
            ),
        ]

    def decorate(command: _F) -> _F:
        for flag in reversed(flags):
            command = flag(command)
        return command

    return decorate


def manager_options(flags: dict[str, Any]) -> ManagerOptions:
    """The ``ManagerOptions`` the flags of ``manager_flags`` say; takes them out of ``flags``."""
    lease = {name: flags.pop(name) for name in ("lease_duration", "renew_deadline", "retry_period")}
    namespace = flags.pop("leader_election_namespace") or ""
    leader = LeaderElectionOptions(lease_namespace=namespace, **lease) if flags.pop("leader_elect") else None
    sharding = None
    identity = flags.pop("shard_identity")
    relabel_qps = flags.pop("shard_relabel_qps")
    if flags.pop("shards") == "auto":
        sharding = ShardingOptions(
            lease_namespace=namespace,
            relabel_qps=relabel_qps,
            **lease,
            **({"identity": identity} if identity else {}),
        )
        leader = None
    webhook = WebhookServerOptions()
    if "webhook_bind_address" in flags:
        webhook = WebhookServerOptions(
            bind_address=flags.pop("webhook_bind_address"),
            cert_dir=flags.pop("webhook_cert_dir"),
            local=flags.pop("webhook_local"),
        )
    return ManagerOptions(
        leader_election=leader,
        metrics=MetricsOptions(flags.pop("metrics_bind_address")),
        probes=ProbeOptions(flags.pop("health_probe_bind_address")),
        webhook_server=webhook,
        sharding=sharding,
    )
