"""The DaemonSet controller: one Pod per Node whose labels match the template's ``nodeSelector`` and
whose taints it tolerates, pinned by required node affinity on ``metadata.name`` (bound by the
scheduler, as the real controller's Pods are) with the tolerations it adds; Pods on Nodes that no
longer qualify and extra ones deleted; a RollingUpdate replaces Pods of an old template one at a time
once the others are Ready; status counts from Pods and Nodes (``desiredNumberScheduled``,
``currentNumberScheduled``, ``numberReady``, ``numberAvailable``, ``updatedNumberScheduled``,
``numberMisscheduled``)."""

from __future__ import annotations

import copy
from typing import Any

from kubeloop.apiserver.controllers.objects import active, available, pod_ready, template_hash
from kubeloop.apiserver.controllers.replicasets import PodOwner
from kubeloop.apiserver.controllers.scheduler import fits
from kubeloop.cache import key_of
from kubeloop.controller import Request, Result

__all__ = ["DaemonSetController"]

Obj = dict[str, Any]
REVISION = "controller-revision-hash"
COMPONENT = "daemonset-controller"
_TOLERATIONS = [
    {"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": effect}
    for taint, effect in (
        ("not-ready", "NoExecute"),
        ("unreachable", "NoExecute"),
        ("disk-pressure", "NoSchedule"),
        ("memory-pressure", "NoSchedule"),
        ("pid-pressure", "NoSchedule"),
        ("unschedulable", "NoSchedule"),
    )
]


def _node_of(pod: Obj) -> str:
    name = (pod.get("spec") or {}).get("nodeName")
    if name:
        return str(name)
    required = (((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or ():
        for field in term.get("matchFields") or ():
            if field.get("key") == "metadata.name" and field.get("values"):
                return str(field["values"][0])
    return ""


class DaemonSetController(PodOwner):
    name = "daemonset"
    plural, kind = "daemonsets", "DaemonSet"

    async def setup(self) -> None:
        await super().setup()
        self.nodes = await self.runtime.informer(self.runtime.rt("", "v1", "nodes"))
        self.controller.watch(self.nodes, mapper=lambda _: [key_of(ds) for ds in self.workloads.list()])

    def _template(self, ds: Obj, node: str, revision: str) -> Obj:
        template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
        template.setdefault("metadata", {}).setdefault("labels", {})[REVISION] = revision
        spec = template.setdefault("spec", {})
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
                    ]
                }
            }
        }
        tolerations = spec.setdefault("tolerations", [])
        tolerations += [t for t in _TOLERATIONS if t not in tolerations]
        return template

    async def reconcile(self, request: Request) -> Result | None:
        ds = self.workloads.get(request.namespace, request.name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return None
        spec = ds.get("spec") or {}
        revision = template_hash(spec.get("template") or {})
        probe = self._template(ds, "", revision)
        wanted = {
            n["metadata"]["name"]
            for n in self.nodes.list()
            if fits({"spec": dict(probe["spec"], affinity={})}, n)
        }
        pods = [p for p in await self.pods.of(ds) if active(p)]
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            by_node.setdefault(_node_of(pod), []).append(pod)
        for node in sorted(wanted - by_node.keys()):
            await self.pods.create(ds, self._template(ds, node, revision), 1, f"{request.name}-", COMPONENT)
        for node, on_node in by_node.items():
            surplus = on_node if node not in wanted else on_node[1:]
            await self.pods.delete(ds, surplus, len(surplus), COMPONENT)
        current = [by_node[n][0] for n in wanted if n in by_node]
        if all(pod_ready(p) for p in current) and len(current) == len(wanted):
            stale = [p for p in current if (p["metadata"].get("labels") or {}).get(REVISION) != revision]
            await self.pods.delete(ds, stale[:1], 1, COMPONENT)
        min_ready = int(spec.get("minReadySeconds") or 0)
        status = dict(ds.get("status") or {})
        status.update(
            desiredNumberScheduled=len(wanted),
            currentNumberScheduled=len(current),
            numberMisscheduled=sum(len(v) for n, v in by_node.items() if n not in wanted),
            numberReady=sum(pod_ready(p) for p in current),
            numberAvailable=sum(available(p, min_ready) for p in current),
            updatedNumberScheduled=sum(
                (p["metadata"].get("labels") or {}).get(REVISION) == revision for p in current
            ),
            observedGeneration=ds["metadata"].get("generation", 1),
        )
        unavailable = len(wanted) - status["numberAvailable"]
        for field, value in (
            ("numberAvailable", status["numberAvailable"]),
            ("numberUnavailable", unavailable),
        ):
            if value:
                status[field] = value
            else:
                status.pop(field, None)
        if status != ds.get("status"):
            await self.runtime.update(self.workload_rt, dict(ds, status=status), "status")
        return None
