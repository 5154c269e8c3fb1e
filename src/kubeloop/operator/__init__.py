"""The operator facade: ``Operator`` (declare reconcile and cleanup functions, run) and ``Context``.

Role: the top of the runtime, above the manager, controllers and cache; what ``kubeloop``
re-exports for authors.
"""

from kubeloop.operator._context import Context
from kubeloop.operator._dependents import (
    PRIMARY_RESOURCE,
    PRIMARY_RESOURCE_TYPE,
    DependentWatches,
    controller_name,
    dependent_changed,
    owner_mapper,
)
from kubeloop.operator._kinds import KindLike, KindSpec, kind_spec
from kubeloop.operator._operator import Operator, ReconcileFn, TypedCleanupFn, TypedReconcileFn
from kubeloop.operator._scope import CacheScope
from kubeloop.operator._watch import Watch

__all__ = [
    "PRIMARY_RESOURCE",
    "PRIMARY_RESOURCE_TYPE",
    "CacheScope",
    "Context",
    "DependentWatches",
    "KindLike",
    "KindSpec",
    "Operator",
    "ReconcileFn",
    "TypedCleanupFn",
    "TypedReconcileFn",
    "Watch",
    "controller_name",
    "dependent_changed",
    "kind_spec",
    "owner_mapper",
]
