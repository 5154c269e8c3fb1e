"""kubeloop.manager: what runs an operator's controllers as one process.

``Manager`` runs the cache, the controllers and servers, configured by one ``ManagerOptions`` that
holds each component's options whole (``LeaderElectionOptions | None``, ``MetricsOptions``,
``ProbeOptions``, ``WebhookServerOptions``, ``EventOptions``). Leader election over a ``Lease``
(``LeaderElector``), the
Prometheus registry of controller-runtime's series (``Metrics``), the ``/metrics`` and
``/healthz``/``/readyz`` HTTP servers (``MetricsServer``, ``ProbeServer``), structured logs
(``configure_logging``); sharding across replicas, active-active (``ShardingOptions``, ``Sharder``,
``ShardGate``; see ``_sharding``). Imports ``kubeloop.cache``, ``kubeloop.client``, ``kubeloop.clock``,
``kubeloop.controller``, ``kubeloop.errors`` and ``kubeloop.queue`` (lower layers only).
"""

from kubeloop.manager._leader import (
    LeaderElectionLost,
    LeaderElectionOptions,
    LeaderElector,
    LeaderMetrics,
    LeaseClient,
    default_identity,
)
from kubeloop.manager._logging import KeyFilter, configure_logging
from kubeloop.manager._manager import Manager
from kubeloop.manager._metrics import Metrics, ReconcileResult
from kubeloop.manager._options import (
    DEFAULT_CERT_DIR,
    EventOptions,
    ManagerOptions,
    MetricsOptions,
    ProbeOptions,
    WebhookServerOptions,
)
from kubeloop.manager._probes import Check, MetricsServer, ProbeServer, parse_bind_address
from kubeloop.manager._ring import assign as shard_assignment
from kubeloop.manager._sharding import (
    Membership,
    Sharder,
    ShardGate,
    ShardingOptions,
    ShardLabels,
    shard_identity,
)

__all__ = [
    "DEFAULT_CERT_DIR",
    "Check",
    "EventOptions",
    "KeyFilter",
    "LeaderElectionLost",
    "LeaderElectionOptions",
    "LeaderElector",
    "LeaderMetrics",
    "LeaseClient",
    "Manager",
    "ManagerOptions",
    "Membership",
    "Metrics",
    "MetricsOptions",
    "MetricsServer",
    "ProbeOptions",
    "ProbeServer",
    "ReconcileResult",
    "ShardGate",
    "ShardLabels",
    "Sharder",
    "ShardingOptions",
    "WebhookServerOptions",
    "configure_logging",
    "default_identity",
    "parse_bind_address",
    "shard_assignment",
    "shard_identity",
]
