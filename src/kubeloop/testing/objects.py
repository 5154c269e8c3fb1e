"""Small object builders for tests: the ConfigMap and the Deployment that many API tests create."""

from __future__ import annotations

from kubeloop.resources import apps_v1, core_v1

__all__ = ["configmap", "deployment"]

MAIN_CONTAINER: core_v1.Container = {"name": "main", "image": "example.com/main:1"}


def configmap(name: str, namespace: str, **data: str) -> core_v1.ConfigMap:
    """A ConfigMap ``name`` in ``namespace`` holding ``data``."""
    return core_v1.ConfigMap(metadata={"name": name, "namespace": namespace}, data=data)


def deployment(
    name: str, namespace: str, *containers: core_v1.Container, replicas: int = 1
) -> apps_v1.Deployment:
    """A Deployment ``name`` in ``namespace`` whose pods are labelled ``app: name``; ``containers``
    default to one named ``main``."""
    labels = {"app": name}
    return apps_v1.Deployment(
        metadata={"name": name, "namespace": namespace},
        spec={
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [core_v1.Container(**c) for c in containers or (MAIN_CONTAINER,)]},
            },
        },
    )
