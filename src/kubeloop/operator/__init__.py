"""The operator facade: ``Operator`` (declare reconcile and cleanup functions, run) and ``Context``.

Role: the top of the runtime, above the manager, controllers and cache; what ``kubeloop``
re-exports for authors.
"""

from kubeloop.operator._context import Context
from kubeloop.operator._kinds import KindLike, KindSpec, kind_spec
from kubeloop.operator._operator import Operator, ReconcileFn
from kubeloop.operator._scope import CacheScope

__all__ = ["CacheScope", "Context", "KindLike", "KindSpec", "Operator", "ReconcileFn", "kind_spec"]
