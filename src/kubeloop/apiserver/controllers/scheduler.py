"""The scheduler: a Pod of ``default-scheduler`` without a node is bound to a Ready, schedulable
Node whose labels match its ``nodeSelector`` and required node affinity (label expressions and
``metadata.name`` fields, as DaemonSet Pods use) and whose NoSchedule/NoExecute taints it tolerates,
the one running fewest Pods; with no such Node it is marked ``PodScheduled=False``
(``Unschedulable``) and tried again when Nodes change."""

from __future__ import annotations

import copy
from typing import Any

from kubeloop.apiserver.controllers.objects import active, set_condition
from kubeloop.apiserver.controllers.runtime import Builtin
from kubeloop.cache import key_of
from kubeloop.controller import Request, Result

__all__ = ["Scheduler"]

Obj = dict[str, Any]


def _tolerates(pod: Obj, taint: Obj) -> bool:
    if taint.get("effect") not in ("NoSchedule", "NoExecute"):
        return True
    for tol in (pod.get("spec") or {}).get("tolerations") or ():
        if tol.get("effect") not in (None, "", taint.get("effect")):
            continue
        if tol.get("operator") == "Exists" and tol.get("key") in (None, "", taint.get("key")):
            return True
        if tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def _requirement(value: str | None, req: Obj) -> bool:
    op, values = req.get("operator"), req.get("values") or []
    if op == "In":
        return value in values
    if op == "NotIn":
        return value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    return False


def _affinity(pod: Obj, node: Obj) -> bool:
    """The required node affinity: some term whose label expressions and fields (metadata.name) match."""
    required = (((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    labels = node["metadata"].get("labels") or {}
    fields = {"metadata.name": node["metadata"]["name"]}
    return not terms or any(
        all(_requirement(labels.get(r.get("key", "")), r) for r in term.get("matchExpressions") or ())
        and all(_requirement(fields.get(r.get("key", "")), r) for r in term.get("matchFields") or ())
        for term in terms
    )


def fits(pod: Obj, node: Obj) -> bool:
    """Whether ``pod`` may run on ``node``: Ready, schedulable, selector and required node affinity
    matched, taints tolerated."""
    spec, labels = node.get("spec") or {}, node["metadata"].get("labels") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or ()
    )
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    return (
        ready
        and not spec.get("unschedulable")
        and all(labels.get(k) == v for k, v in selector.items())
        and _affinity(pod, node)
        and all(_tolerates(pod, t) for t in spec.get("taints") or ())
    )


class Scheduler(Builtin):
    name = "scheduler"
    workers = 1

    async def setup(self) -> None:
        self.pods_rt = self.runtime.rt("", "v1", "pods")
        self.pods = await self.runtime.informer(self.pods_rt)
        self.nodes = await self.runtime.informer(self.runtime.rt("", "v1", "nodes"))
        self.controller.watch(self.pods, predicates=[lambda e: e.type != "delete"])
        self.controller.watch(self.nodes, mapper=lambda _: self._unscheduled())

    def _unscheduled(self) -> list[Request]:
        return [key_of(p) for p in self.pods.list() if not (p.get("spec") or {}).get("nodeName")]

    async def reconcile(self, request: Request) -> Result | None:
        pod = self.pods.get(request.namespace, request.name)
        if pod is None or not active(pod):
            return None
        spec = pod.get("spec") or {}
        if spec.get("nodeName") or spec.get("schedulerName", "default-scheduler") != "default-scheduler":
            return None
        nodes = self.nodes.list()
        fitting = [n for n in nodes if fits(pod, n)]
        if not fitting:
            status = copy.deepcopy(pod.get("status") or {})
            message = (
                f"0/{len(nodes)} nodes are available: "
                f"{len(nodes)} node(s) didn't match Pod's node affinity/selector."
            )
            set_condition(status, "PodScheduled", "False", "Unschedulable", message, update_time=False)
            if status != pod.get("status"):
                await self.runtime.update(self.pods_rt, dict(pod, status=status), "status")
            return None
        load = {n["metadata"]["name"]: 0 for n in fitting}
        for other in self.pods.list():
            node = (other.get("spec") or {}).get("nodeName")
            if node in load and active(other):
                load[node] += 1
        chosen = min(load, key=lambda n: (load[n], n))
        bound = copy.deepcopy(pod)
        bound["spec"]["nodeName"] = chosen
        bound = await self.runtime.update(self.pods_rt, bound)
        status = copy.deepcopy(bound.get("status") or {})
        set_condition(status, "PodScheduled", "True", "", "", update_time=False)
        for c in status["conditions"]:
            if c["type"] == "PodScheduled":
                c.pop("reason"), c.pop("message")
                c["lastProbeTime"] = None
        await self.runtime.update(self.pods_rt, dict(bound, status=status), "status")
        return None
