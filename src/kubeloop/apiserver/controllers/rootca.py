"""The root CA publisher, as kube-controller-manager's: every active namespace has the
``kube-root-ca.crt`` ConfigMap with the server's CA, recreated when deleted and restored when changed."""

from __future__ import annotations

import copy
from typing import Any

from kubeloop.apiserver.controllers.runtime import Builtin, Runtime
from kubeloop.controller import Request, Result

__all__ = ["RootCAPublisher"]

Obj = dict[str, Any]
NAME = "kube-root-ca.crt"
_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
    "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
    "distributions of Kubernetes clusters."
)


class RootCAPublisher(Builtin):
    name = "root-ca-cert-publisher"

    def __init__(self, runtime: Runtime, ca_pem: str) -> None:
        super().__init__(runtime)
        self.ca_pem = ca_pem

    async def setup(self) -> None:
        self.namespaces = await self.runtime.informer(self.runtime.rt("", "v1", "namespaces"))
        self.cm_rt = self.runtime.rt("", "v1", "configmaps")
        self.configmaps = await self.runtime.informer(self.cm_rt)
        self.controller.watch(self.namespaces)
        self.controller.watch(
            self.configmaps,
            mapper=lambda cm: (
                [Request("", cm["metadata"]["namespace"])] if cm["metadata"]["name"] == NAME else []
            ),
        )

    async def reconcile(self, request: Request) -> Result | None:
        ns = self.namespaces.get("", request.name)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return None
        data = {"ca.crt": self.ca_pem}
        current = self.configmaps.get(request.name, NAME)
        if current is None:
            body = {
                "metadata": {"name": NAME, "annotations": {"kubernetes.io/description": _DESCRIPTION}},
                "data": data,
            }
            await self.runtime.create(self.cm_rt, request.name, body)
        elif current.get("data") != data:
            await self.runtime.update(self.cm_rt, dict(copy.deepcopy(current), data=data))
        return None
