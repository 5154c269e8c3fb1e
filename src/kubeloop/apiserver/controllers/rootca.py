"""The root CA publisher: every namespace gets the ``kube-root-ca.crt`` ConfigMap with the server's CA
(kube-controller-manager does this on a real cluster)."""

from __future__ import annotations

from kubeloop.apiserver.controllers.loop import MANAGER, Loop
from kubeloop.apiserver.registry.types import Registry
from kubeloop.apiserver.rest.api import Api
from kubeloop.apiserver.storage import Event

__all__ = ["RootCAPublisher"]


class RootCAPublisher(Loop):
    name = "root-ca-publisher"

    def __init__(self, api: Api, registry: Registry, ca_pem: str) -> None:
        super().__init__(api, registry)
        self.ca_pem = ca_pem

    async def resume(self) -> None:
        for ns in self.store.list("/namespaces"):
            await self.guarded(self._publish_root_ca, ns["metadata"]["name"])

    def wants(self, event: Event) -> bool:
        return event.key[0] == "/namespaces" and event.type == "ADDED"

    async def handle(self, event: Event) -> None:
        await self._publish_root_ca(event.obj["metadata"]["name"])

    async def _publish_root_ca(self, namespace: str) -> None:
        """The ``kube-root-ca.crt`` ConfigMap every namespace gets (kube-controller-manager does this)."""
        rt = self.registry.get("", "v1", "configmaps")
        if rt is None or self.api.store.get(("/configmaps", namespace, "kube-root-ca.crt")) is not None:
            return
        body = {
            "metadata": {
                "name": "kube-root-ca.crt",
                "annotations": {
                    "kubernetes.io/description": "Contains a CA bundle that can be used to verify the "
                    "kube-apiserver when using internal endpoints such as the internal service IP or "
                    "kubernetes.default.svc. No other "
                    "usage is guaranteed across distributions of Kubernetes clusters."
                },
            },
            "data": {"ca.crt": self.ca_pem},
        }
        await self.api.create(rt, namespace, body, MANAGER)
