"""The StatefulSet controller: Pods ``<name>-<ordinal>`` for ordinals 0 … replicas-1 (hostname, the
governing Service as subdomain, the ``statefulset.kubernetes.io/pod-name``, ``apps.kubernetes.io/pod-index``
and ``controller-revision-hash`` labels); ``OrderedReady`` creates each only once every lower ordinal
is Running and Ready and removes the highest first, one at a time (``Parallel``: all at once); a
RollingUpdate replaces Pods of an old revision from the highest ordinal down to ``partition``, one at
a time once all are Ready; status counted from the Pods, with ``currentRevision`` becoming
``updateRevision`` once every Pod has it (what ``kubectl rollout status`` waits for). No
ControllerRevisions or PersistentVolumeClaims are created."""

from __future__ import annotations

from typing import Any

from kubeloop.apiserver.controllers.objects import active, available, pod_ready, template_hash
from kubeloop.apiserver.controllers.replicasets import PodOwner, pod_from_template
from kubeloop.controller import Request, Result

__all__ = ["StatefulSetController"]

Obj = dict[str, Any]
REVISION = "controller-revision-hash"
COMPONENT = "statefulset-controller"


def _ordinal(sts: Obj, pod: Obj) -> int | None:
    prefix = f"{sts['metadata']['name']}-"
    name = pod["metadata"]["name"]
    suffix = name[len(prefix) :] if name.startswith(prefix) else ""
    return int(suffix) if suffix.isdigit() else None


def _running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and pod_ready(pod)


class StatefulSetController(PodOwner):
    name = "statefulset"
    plural, kind = "statefulsets", "StatefulSet"

    def _pod(self, sts: Obj, ordinal: int, revision: str) -> Obj:
        spec = sts.get("spec") or {}
        name = f"{sts['metadata']['name']}-{ordinal}"
        pod = pod_from_template(sts, spec.get("template") or {}, "")
        md = pod["metadata"]
        del md["generateName"]
        md["name"] = name
        md["labels"].update(
            {
                "statefulset.kubernetes.io/pod-name": name,
                "apps.kubernetes.io/pod-index": str(ordinal),
                REVISION: revision,
            }
        )
        pod["spec"]["hostname"] = name
        if spec.get("serviceName"):
            pod["spec"]["subdomain"] = spec["serviceName"]
        return pod

    async def reconcile(self, request: Request) -> Result | None:
        sts = self.workloads.get(request.namespace, request.name)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return None
        spec = sts.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        revision = f"{sts['metadata']['name']}-{template_hash(spec.get('template') or {})}"
        pods: dict[int, Obj] = {}
        for pod in await self.pods.of(sts):
            ordinal = _ordinal(sts, pod)
            if ordinal is not None:
                pods[ordinal] = pod
        await self._scale(sts, pods, replicas, ordered, revision)
        await self._update(sts, pods, replicas, revision)
        return await self._status(sts, revision)

    async def _scale(
        self, sts: Obj, pods: dict[int, Obj], replicas: int, ordered: bool, revision: str
    ) -> None:
        for ordinal in range(replicas):
            pod = pods.get(ordinal)
            if pod is None:
                pod = self._pod(sts, ordinal, revision)
                await self.runtime.create(self.pods.rt, sts["metadata"]["namespace"], pod)
                names = pod["metadata"]["name"], sts["metadata"]["name"]
                message = "create Pod {} in StatefulSet {} successful".format(*names)
                await self.runtime.record(sts, "SuccessfulCreate", message, COMPONENT)
                if ordered:
                    return
            elif ordered and not _running_and_ready(pod):
                return
        condemned = sorted((o for o in pods if o >= replicas), reverse=True)
        if ordered:
            if condemned and not any(pods[o]["metadata"].get("deletionTimestamp") for o in condemned):
                await self.pods.delete(sts, [pods[condemned[0]]], 1, COMPONENT)
            return
        await self.pods.delete(
            sts, [pods[o] for o in condemned if active(pods[o])], len(condemned), COMPONENT
        )

    async def _update(self, sts: Obj, pods: dict[int, Obj], replicas: int, revision: str) -> None:
        strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        current = [pods.get(o) for o in range(replicas)]
        if not all(p is not None and _running_and_ready(p) for p in current):
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        for ordinal in range(replicas - 1, partition - 1, -1):
            pod = pods[ordinal]
            if (pod["metadata"].get("labels") or {}).get(REVISION) != revision:
                await self.pods.delete(sts, [pod], 1, COMPONENT)
                return

    async def _status(self, sts: Obj, revision: str) -> Result | None:
        spec = sts.get("spec") or {}
        pods = [p for p in await self.pods.of(sts) if active(p) and _ordinal(sts, p) is not None]
        min_ready = int(spec.get("minReadySeconds") or 0)
        old = sts.get("status") or {}
        updated = sum((p["metadata"].get("labels") or {}).get(REVISION) == revision for p in pods)
        current_revision = old.get("currentRevision") or revision
        if updated == int(spec.get("replicas", 1)) == len(pods):
            current_revision = revision
        status = dict(old)
        status.update(
            observedGeneration=sts["metadata"].get("generation", 1),
            replicas=len(pods),
            readyReplicas=sum(pod_ready(p) for p in pods),
            availableReplicas=sum(available(p, min_ready) for p in pods),
            currentReplicas=sum(
                (p["metadata"].get("labels") or {}).get(REVISION) == current_revision for p in pods
            ),
            updatedReplicas=updated,
            currentRevision=current_revision,
            updateRevision=revision,
            collisionCount=int(old.get("collisionCount") or 0),
        )
        for field in ("readyReplicas", "availableReplicas", "currentReplicas", "updatedReplicas"):
            if not status[field]:
                del status[field]
        if status != old:
            await self.runtime.update(self.workload_rt, dict(sts, status=status), "status")
        if status.get("readyReplicas", 0) > status.get("availableReplicas", 0):
            return Result(requeue_after=1.0)
        return None
