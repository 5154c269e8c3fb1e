"""kubeloop: Kubernetes operators in Python — write the reconcile, kubeloop does the rest.

The public facade::

    import kubeloop as kl
    from kubeloop import crd
    from kubeloop.resources import apps_v1, core_v1

    operator = kl.Operator("appservice-operator")

    @operator.reconcile(AppService, owns=[apps_v1.Deployment, core_v1.Service])
    async def reconcile(app: AppService, ctx: kl.Context) -> kl.Result | None: ...

Sub-packages by layer (bottom up): ``errors``, ``clock``/``gvk``/``labels``, ``client``,
``cache``/``queue``/``helpers``/``resources``, ``controller``, ``manager``, ``webhook``, ``operator``,
``testing``, ``cli``; ``crd`` for custom resource models (docs/architecture.md).

The names below are imported on first use, so ``import kubeloop.client`` (or the embedded API
server) does not load the whole runtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubeloop.controller import Request, Result
    from kubeloop.errors import KubeloopError, TerminalError
    from kubeloop.gvk import GroupVersionKind, GroupVersionResource
    from kubeloop.operator import CacheScope, Context, Operator, Watch

__all__ = [
    "CacheScope",
    "Context",
    "GroupVersionKind",
    "GroupVersionResource",
    "KubeloopError",
    "Operator",
    "Request",
    "Result",
    "TerminalError",
    "Watch",
]

_HOMES = {
    "CacheScope": "kubeloop.operator",
    "Context": "kubeloop.operator",
    "Operator": "kubeloop.operator",
    "Request": "kubeloop.controller",
    "Result": "kubeloop.controller",
    "GroupVersionKind": "kubeloop.gvk",
    "GroupVersionResource": "kubeloop.gvk",
    "KubeloopError": "kubeloop.errors",
    "TerminalError": "kubeloop.errors",
    "Watch": "kubeloop.operator",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kubeloop' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
