"""Small object builders for tests: the ConfigMap that many API tests create."""

from __future__ import annotations

from typing import Any

from kubeloop.resources import core_v1

__all__ = ["configmap"]


def configmap(name: str, namespace: str, **data: str) -> dict[str, Any]:
    """A ConfigMap ``name`` in ``namespace`` holding ``data``."""
    return core_v1.ConfigMap(metadata={"name": name, "namespace": namespace}, data=data)
