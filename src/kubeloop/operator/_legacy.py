"""``Operator.run``'s keywords of the last release (``leader_election=True``, ``metrics_bind_address=``,
``webhook_local=``, ...), turned into the ``ManagerOptions`` they meant, with a ``DeprecationWarning``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kubeloop._deprecated import warn_deprecated
from kubeloop.manager import LeaderElectionOptions, ManagerOptions, MetricsOptions, ProbeOptions

__all__ = ["from_keywords"]

_LEASE = ("lease_duration", "renew_deadline", "retry_period")
_WEBHOOK = {"webhook_bind_address": "bind_address", "webhook_cert_dir": "cert_dir", "webhook_local": "local"}


def from_keywords(options: ManagerOptions, keywords: dict[str, Any]) -> ManagerOptions:
    """``options`` changed as the old keywords say; ``TypeError`` for a keyword that never existed."""
    if not keywords:
        return options
    rest = dict(keywords)
    warn_deprecated(
        f"Operator.run({', '.join(f'{k}=...' for k in sorted(rest))})",
        "Operator.run(ManagerOptions(...))",
        stacklevel=4,
    )
    lease = {name: rest.pop(name) for name in _LEASE if name in rest}
    namespace = rest.pop("leader_election_namespace", None)
    leading = rest.pop("leader_election", options.leader_election)
    if isinstance(leading, bool):
        leading = (options.leader_election or LeaderElectionOptions()) if leading else None
    if leading is not None:
        leading = replace(leading, **lease, lease_namespace=namespace or leading.lease_namespace)
    webhook = {new: rest.pop(old) for old, new in _WEBHOOK.items() if old in rest}
    metrics = rest.pop("metrics_bind_address", None)
    probes = rest.pop("health_probe_bind_address", None)
    return replace(
        options,
        leader_election=leading,
        metrics=MetricsOptions(metrics) if metrics is not None else options.metrics,
        probes=ProbeOptions(probes) if probes is not None else options.probes,
        webhook_server=replace(options.webhook_server, **webhook),
        **rest,
    )
