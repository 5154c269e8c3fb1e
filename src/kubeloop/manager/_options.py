"""The settings of a manager: one frozen object per component, held whole by ``ManagerOptions``.

Each setting is declared once, here or in ``LeaderElectionOptions``, and passed as its object (as the
queue's ``QueueOptions`` is): the CLI, ``Operator.run`` and the manager never copy fields between
classes. An empty ``name``, lease name or namespace, or a ``cache`` of ``None``, means "the default of
whoever runs it": the operator's name, ``<name>-leader`` in the client's namespace, the operator's cache
settings (see ``with_defaults``).

::

    ManagerOptions(
        leader_election=LeaderElectionOptions(lease_duration=30, renew_deadline=20),
        metrics=MetricsOptions(bind_address="127.0.0.1:0"),
        webhook_server=WebhookServerOptions(local=True),
    )
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from kubeloop.cache import CacheOptions
from kubeloop.manager._leader import LeaderElectionOptions
from kubeloop.manager._sharding import ShardingOptions

__all__ = [
    "DEFAULT_CERT_DIR",
    "EventOptions",
    "ManagerOptions",
    "MetricsOptions",
    "ProbeOptions",
    "WebhookServerOptions",
]

DEFAULT_CERT_DIR = Path("/tmp/k8s-webhook-server/serving-certs")
"""Where controller-runtime (and so kubebuilder's manifests) mount the webhook serving certificate."""


@dataclass(frozen=True)
class MetricsOptions:
    """The ``/metrics`` server; ``bind_address`` ``"0"`` disables it."""

    bind_address: str = ":8080"


@dataclass(frozen=True)
class ProbeOptions:
    """The ``/healthz`` and ``/readyz`` server; ``bind_address`` ``"0"`` disables it."""

    bind_address: str = ":8081"


@dataclass(frozen=True)
class EventOptions:
    """The Events that the manager's recorders write (``ctx.event``, ``Manager.event_recorder``).

    They go out on a client of their own, held to ``qps`` a second with bursts of ``burst`` (``qps``
    ``None``: not limited), so that they never take the reconciles' turn: the client's QPS limit
    (``ClientSettings.qps``) covers the operator's own reads and writes only. controller-runtime does
    the same: its event recorder has a clientset, so a rate limiter, of its own. The defaults are the
    client's (50 a second, bursts of 100).
    """

    qps: float | None = 50.0
    burst: int = 100


@dataclass(frozen=True)
class WebhookServerOptions:
    """The webhook server, run when the operator declares webhooks.

    It serves ``cert_name``/``key_name`` of ``cert_dir`` (reloaded when they change, checked every
    ``poll_interval`` seconds). ``local`` is for running out of cluster: a fresh CA and serving
    certificate for the loopback address go into a temporary directory (``cert_dir`` is ignored), and
    the webhook configurations (and the conversion of converted kinds' CRDs) point at this process
    while it runs; they are deleted on exit.
    """

    bind_address: str = ":9443"
    cert_dir: str | Path = DEFAULT_CERT_DIR
    cert_name: str = "tls.crt"
    key_name: str = "tls.key"
    poll_interval: float = 1.0
    local: bool = False


@dataclass(frozen=True)
class ManagerOptions:
    """Settings of one manager; ``name`` names the Lease (``<name>-leader``) and the logs.

    ``leader_election`` ``None`` runs the controllers at once, on every replica; with options, only
    while this replica holds the Lease. ``graceful_shutdown_timeout``: seconds running reconciles get
    to finish after ``stop()``.
    """

    name: str = ""
    leader_election: LeaderElectionOptions | None = None
    metrics: MetricsOptions = field(default_factory=MetricsOptions)
    probes: ProbeOptions = field(default_factory=ProbeOptions)
    webhook_server: WebhookServerOptions = field(default_factory=WebhookServerOptions)
    cache: CacheOptions | None = None
    graceful_shutdown_timeout: float = 30.0
    events: EventOptions = field(default_factory=EventOptions)
    sharding: ShardingOptions | None = None
    """Share the primary objects among the replicas that run, active-active (``leader_election`` is
    then not used: each replica holds a shard Lease of its own instead)."""

    def with_defaults(self, name: str, cache: CacheOptions) -> ManagerOptions:
        """These options with an empty ``name`` and a ``None`` ``cache`` filled in."""
        return replace(self, name=self.name or name, cache=self.cache if self.cache is not None else cache)

    def lease(self, namespace: str) -> LeaderElectionOptions | None:
        """The leader election settings with the Lease named ``<name>-leader`` and placed in
        ``namespace`` where they leave it empty; ``None`` without leader election."""
        if self.leader_election is None:
            return None
        return replace(
            self.leader_election,
            lease_name=self.leader_election.lease_name or f"{self.name}-leader",
            lease_namespace=self.leader_election.lease_namespace or namespace,
        )
