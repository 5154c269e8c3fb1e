"""kubeloop.manager: what runs an operator's controllers as one process.

Leader election over a ``Lease`` (``LeaderElector``), the Prometheus registry of controller-runtime's
series (``Metrics``), and the ``/metrics`` and ``/healthz``/``/readyz`` HTTP servers
(``MetricsServer``, ``ProbeServer``). Imports ``kubeloop.client``, ``kubeloop.clock``,
``kubeloop.errors`` and ``kubeloop.queue`` (lower layers only).
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
from kubeloop.manager._manager import Manager, ManagerOptions
from kubeloop.manager._metrics import Metrics, ReconcileResult
from kubeloop.manager._probes import Check, MetricsServer, ProbeServer, parse_bind_address

__all__ = [
    "Check",
    "KeyFilter",
    "LeaderElectionLost",
    "LeaderElectionOptions",
    "LeaderElector",
    "LeaderMetrics",
    "LeaseClient",
    "Manager",
    "ManagerOptions",
    "Metrics",
    "MetricsServer",
    "ProbeServer",
    "ReconcileResult",
    "configure_logging",
    "default_identity",
    "parse_bind_address",
]
