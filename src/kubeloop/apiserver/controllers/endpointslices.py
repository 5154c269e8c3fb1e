"""The EndpointSlice controller: a Service with a selector has one EndpointSlice (``<service>-`` +
5 characters, labels ``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by``,
controlled by the Service) listing every selected Pod with an IP (``ready``, ``serving`` and
``terminating`` conditions, ``nodeName``, ``targetRef``) and the Service's ports resolved to the
Pods' target ports (named ones through the container ports); Services without a selector are left to
their owners."""

from __future__ import annotations

import copy
from typing import Any

from kubeloop.apiserver.controllers.objects import controlled_by, owner_reference, pod_ready
from kubeloop.apiserver.controllers.runtime import Builtin
from kubeloop.cache import key_of
from kubeloop.controller import Request, Result, map_to_owner

__all__ = ["EndpointSliceController"]

Obj = dict[str, Any]
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER = "endpointslice-controller.k8s.io"


def _selects(service: Obj, pod: Obj) -> bool:
    selector = (service.get("spec") or {}).get("selector") or {}
    labels = pod["metadata"].get("labels") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _target_port(port: Obj, pods: list[Obj]) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    for pod in pods:
        for container in (pod.get("spec") or {}).get("containers") or ():
            for cp in container.get("ports") or ():
                if cp.get("name") == target:
                    return int(cp["containerPort"])
    return None


def _endpoint(pod: Obj) -> Obj:
    md, status = pod["metadata"], pod.get("status") or {}
    terminating = bool(md.get("deletionTimestamp"))
    ready = pod_ready(pod)
    endpoint: Obj = {
        "addresses": [status["podIP"]],
        "conditions": {"ready": ready and not terminating, "serving": ready, "terminating": terminating},
        "targetRef": {
            "kind": "Pod",
            "namespace": md.get("namespace"),
            "name": md["name"],
            "uid": md.get("uid"),
        },
    }
    if (pod.get("spec") or {}).get("nodeName"):
        endpoint["nodeName"] = pod["spec"]["nodeName"]
    return endpoint


class EndpointSliceController(Builtin):
    name = "endpointslice"

    async def setup(self) -> None:
        self.services = await self.runtime.informer(self.runtime.rt("", "v1", "services"))
        self.pods = await self.runtime.informer(self.runtime.rt("", "v1", "pods"))
        self.slice_rt = self.runtime.rt("discovery.k8s.io", "v1", "endpointslices")
        self.slices = await self.runtime.informer(self.slice_rt)
        self.controller.watch(self.services)
        self.controller.watch(self.pods, mapper=self._services_of)
        self.controller.watch(self.slices, mapper=map_to_owner("", "Service"))

    def _services_of(self, pod: Obj) -> list[Request]:
        namespace = pod["metadata"].get("namespace") or ""
        return [key_of(s) for s in self.services.list(namespace) if _selects(s, pod)]

    async def reconcile(self, request: Request) -> Result | None:
        service = self.services.get(request.namespace, request.name)
        if service is None or service["metadata"].get("deletionTimestamp"):
            return None
        if not (service.get("spec") or {}).get("selector"):
            return None
        pods = [
            p
            for p in self.pods.list(request.namespace)
            if _selects(service, p)
            and (p.get("status") or {}).get("podIP")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]
        pods.sort(key=lambda p: p["metadata"]["name"])
        ports = []
        for port in (service.get("spec") or {}).get("ports") or ():
            number = _target_port(port, pods)
            if number is not None:
                ports.append(
                    {"name": port.get("name", ""), "port": number, "protocol": port.get("protocol", "TCP")}
                )
        labels = dict(service["metadata"].get("labels") or {})
        labels.update({SERVICE_NAME: request.name, MANAGED_BY: CONTROLLER})
        wanted = {"addressType": "IPv4", "endpoints": [_endpoint(p) for p in pods], "ports": ports}
        mine = [
            s
            for s in self.slices.list(request.namespace)
            if controlled_by(s, service) and (s["metadata"].get("labels") or {}).get(MANAGED_BY) == CONTROLLER
        ]
        if not mine:
            body = {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "generateName": f"{request.name}-",
                    "labels": labels,
                    "ownerReferences": [owner_reference(service)],
                },
                **wanted,
            }
            await self.runtime.create(self.slice_rt, request.namespace, body)
            return None
        first, *extra = sorted(mine, key=lambda s: s["metadata"]["name"])
        for surplus in extra:
            await self.runtime.delete(self.slice_rt, surplus)
        current = {k: first.get(k) for k in wanted}
        if current != wanted or (first["metadata"].get("labels") or {}) != labels:
            updated = copy.deepcopy(first)
            updated.update(wanted)
            updated["metadata"]["labels"] = labels
            await self.runtime.update(self.slice_rt, updated)
        return None
