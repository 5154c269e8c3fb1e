"""StatefulSet status without Pods: reported ready at once (``status.replicas = readyReplicas =
availableReplicas = updatedReplicas = currentReplicas = spec.replicas``, ``observedGeneration``), so
operators waiting for readiness proceed. Deployments and ReplicaSets have real controllers
(``deployments``, ``replicasets``)."""

from __future__ import annotations

from kubeloop.apiserver.controllers.loop import MANAGER, Loop
from kubeloop.apiserver.machinery.meta import now
from kubeloop.apiserver.storage import Event

__all__ = ["WorkloadStatus"]

WORKLOADS = {"apps/statefulsets"}


class WorkloadStatus(Loop):
    name = "workload-status"

    def wants(self, event: Event) -> bool:
        return (
            event.key[0] in WORKLOADS
            and event.type != "DELETED"
            and not event.obj["metadata"].get("deletionTimestamp")
        )

    async def handle(self, event: Event) -> None:
        obj = event.obj
        rt = self.rt_of_storage(event.key[0])
        if rt is None:
            return
        md = obj["metadata"]
        replicas = (obj.get("spec") or {}).get("replicas", 1)
        status = dict(obj.get("status") or {})
        wanted = {
            "observedGeneration": md.get("generation", 1),
            "replicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
        if rt.kind != "ReplicaSet":
            wanted["updatedReplicas"] = replicas
        if rt.kind == "ReplicaSet":
            wanted["fullyLabeledReplicas"] = replicas
        if rt.kind == "StatefulSet":
            wanted["currentReplicas"] = replicas
        if all(status.get(k) == v for k, v in wanted.items()):
            return
        status.update(wanted)
        if rt.kind == "Deployment":
            stamp = now()
            status["conditions"] = [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                    "message": "Deployment has minimum availability.",
                    "lastUpdateTime": stamp,
                    "lastTransitionTime": stamp,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable",
                    "message": f'ReplicaSet "{md["name"]}" has successfully progressed.',
                    "lastUpdateTime": stamp,
                    "lastTransitionTime": stamp,
                },
            ]
        new = dict(obj, status=status)
        await self.api.update(rt, md.get("namespace"), md["name"], new, "status", MANAGER)
