"""The ReplicaSet controller: as many active Pods from ``spec.template`` as ``spec.replicas`` (created
with a controller reference; extra ones deleted, unscheduled, pending and not-ready Pods first, newest
first), and a status counted from the Pods: ``replicas``, ``fullyLabeledReplicas``, ``readyReplicas``,
``availableReplicas`` (Ready for ``minReadySeconds``), ``observedGeneration``."""

from __future__ import annotations

import copy
from typing import Any

from kubeloop.apiserver.controllers.objects import (
    active,
    available,
    owner_reference,
    pod_ready,
)
from kubeloop.apiserver.controllers.runtime import Builtin, Runtime
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.cache import Informer
from kubeloop.controller import Request, Result, map_to_owner

__all__ = ["PodOwner", "Pods", "ReplicaSetController", "pod_from_template"]

Obj = dict[str, Any]
COMPONENT = "replicaset-controller"


def pod_from_template(owner: Obj, template: Obj, generate_name: str) -> Obj:
    """A Pod of ``template`` controlled by ``owner``."""
    tmd = template.get("metadata") or {}
    md: Obj = {
        "generateName": generate_name,
        "namespace": owner["metadata"].get("namespace"),
        "labels": dict(tmd.get("labels") or {}),
        "ownerReferences": [owner_reference(owner)],
    }
    if tmd.get("annotations"):
        md["annotations"] = dict(tmd["annotations"])
    if tmd.get("finalizers"):
        md["finalizers"] = list(tmd["finalizers"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": md,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def _deletion_rank(pod: Obj) -> tuple[int, int, int, str]:
    """Pods to delete first sort first: unscheduled, pending, not ready, then the newest."""
    status = pod.get("status") or {}
    created = pod["metadata"].get("creationTimestamp", "")
    return (
        1 if (pod.get("spec") or {}).get("nodeName") else 0,
        1 if status.get("phase") == "Running" else 0,
        1 if pod_ready(pod) else 0,
        "".join(chr(0x10FFFF - ord(ch)) for ch in created),
    )


class Pods:
    """The Pods of workloads: who owns which, creating from a template, deleting the least useful."""

    def __init__(self, runtime: Runtime, rt: ResourceType, informer: Informer) -> None:
        self.runtime, self.rt, self.informer = runtime, rt, informer

    async def of(self, owner: Obj) -> list[Obj]:
        """Pods ``owner`` controls and selects, oldest first (matching orphans adopted)."""
        return await self.runtime.claim(
            self.rt, self.informer.list(owner["metadata"].get("namespace") or ""), owner
        )

    async def create(self, owner: Obj, template: Obj, count: int, generate_name: str, component: str) -> None:
        for _ in range(count):
            pod = pod_from_template(owner, template, generate_name)
            await self.create_one(owner, pod, component)

    async def create_one(self, owner: Obj, pod: Obj, component: str) -> None:
        """Create ``pod`` for ``owner``, with the ``SuccessfulCreate`` Event its controller records."""
        created = await self.runtime.create(self.rt, owner["metadata"].get("namespace"), pod)
        await self.runtime.record(
            owner, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}", component
        )

    async def delete(self, owner: Obj, pods: list[Obj], count: int, component: str) -> None:
        """Delete the ``count`` least useful of ``pods``, with ``SuccessfulDelete`` Events."""
        for pod in sorted(pods, key=_deletion_rank)[:count]:
            if await self.runtime.delete(self.rt, pod) is not None:
                await self.runtime.record(
                    owner, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}", component
                )


class PodOwner(Builtin):
    """A controller of one workload kind that owns Pods: its informer (``workloads``) and ``pods``,
    reconciled on changes of either."""

    group, plural, kind = "apps", "", ""

    async def setup(self) -> None:
        self.workload_rt = self.runtime.rt(self.group, "v1", self.plural)
        self.workloads = await self.runtime.informer(self.workload_rt)
        pods_rt = self.runtime.rt("", "v1", "pods")
        self.pods = Pods(self.runtime, pods_rt, await self.runtime.informer(pods_rt))
        self.controller.watch(self.workloads)
        self.controller.watch(self.pods.informer, mapper=map_to_owner(self.group, self.kind))


class ReplicaSetController(PodOwner):
    name = "replicaset"
    plural, kind = "replicasets", "ReplicaSet"

    async def reconcile(self, request: Request) -> Result | None:
        rs = self.workloads.get(request.namespace, request.name)
        if rs is None:
            return None
        spec = rs.get("spec") or {}
        pods = [p for p in await self.pods.of(rs) if active(p)]
        if not rs["metadata"].get("deletionTimestamp"):
            diff = len(pods) - int(spec.get("replicas", 1))
            if diff < 0:
                await self.pods.create(
                    rs, spec.get("template") or {}, -diff, f"{rs['metadata']['name']}-", COMPONENT
                )
            elif diff > 0:
                await self.pods.delete(rs, pods, diff, COMPONENT)
        min_ready = int(spec.get("minReadySeconds") or 0)
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        status = dict(rs.get("status") or {})
        status.update(
            replicas=len(pods),
            fullyLabeledReplicas=sum(
                all((p["metadata"].get("labels") or {}).get(k) == v for k, v in template_labels.items())
                for p in pods
            ),
            readyReplicas=sum(pod_ready(p) for p in pods),
            availableReplicas=sum(available(p, min_ready) for p in pods),
            observedGeneration=rs["metadata"].get("generation", 1),
        )
        for field in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
            if not status[field]:
                del status[field]  # omitempty, as the real status
        if status != rs.get("status"):
            await self.runtime.update(self.workload_rt, dict(rs, status=status), "status")
        if status.get("readyReplicas", 0) > status.get("availableReplicas", 0):
            return Result(requeue_after=1.0)
        return None
