"""Built-in Kubernetes kinds, one module per group/version: ``from kubeloop.resources import apps_v1``.

Every kind and every structure nested in one is a ``TypedDict`` (generated from the pinned Kubernetes
version's OpenAPI by ``hack/generate-resources.py``): the objects stay the plain dicts the client and the
cache hold, and the type checker knows their keys. A kind's class is also its reference for
``owns=``/``watches=``/``ctx.get``, and calling it builds the dict with ``apiVersion`` and ``kind``::

    deployment = apps_v1.Deployment(metadata={"name": "web"}, spec={...})   # checked by mypy

``validate(kind, obj)`` checks an object against its kind at run time, when asked. Group/version modules
are imported on first use.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from kubeloop.resources._kind import Kind, kind_of
from kubeloop.resources._scalars import IntOrString, MicroTime, Quantity, RawExtension, Time
from kubeloop.resources._validate import validate

if TYPE_CHECKING:
    from kubeloop.resources import (
        apps_v1,
        batch_v1,
        coordination_v1,
        core_v1,
        events_v1,
        meta_v1,
        networking_v1,
        policy_v1,
        rbac_v1,
    )

__all__ = [
    "IntOrString",
    "Kind",
    "MicroTime",
    "Quantity",
    "RawExtension",
    "Time",
    "apps_v1",
    "batch_v1",
    "coordination_v1",
    "core_v1",
    "events_v1",
    "kind_of",
    "meta_v1",
    "networking_v1",
    "policy_v1",
    "rbac_v1",
    "validate",
]


def __getattr__(name: str) -> ModuleType:
    """``resources.apps_v1`` without importing every group/version when the package is imported."""
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from error
