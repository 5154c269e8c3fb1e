"""Built-in Kubernetes kinds, one module per group/version: ``from kubeloop.resources import apps_v1``.

Each kind is a ``Kind``: a reference for ``owns=``/``watches=`` and a builder of plain dicts.
"""

from kubeloop.resources import (
    apps_v1,
    batch_v1,
    coordination_v1,
    core_v1,
    events_v1,
    networking_v1,
    policy_v1,
    rbac_v1,
)
from kubeloop.resources._kind import Kind

__all__ = [
    "Kind",
    "apps_v1",
    "batch_v1",
    "coordination_v1",
    "core_v1",
    "events_v1",
    "networking_v1",
    "policy_v1",
    "rbac_v1",
]
