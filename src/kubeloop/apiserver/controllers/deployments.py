"""The Deployment controller, as kube-controller-manager's: ReplicaSets named ``<deployment>-<hash>``
(``pod-template-hash`` label and selector from a hash of the template and ``collisionCount``), the one
whose template equals the Deployment's is the new one; RollingUpdate (``maxSurge`` rounded up,
``maxUnavailable`` down, as integers or percentages) or Recreate (old ReplicaSets to zero, then once
their Pods are gone the new one up); revisions (``deployment.kubernetes.io/revision`` on ReplicaSets and
the Deployment); old ReplicaSets past ``revisionHistoryLimit`` deleted once a rollout is complete; a
status summed from the ReplicaSets (so from Pods) with the Available and Progressing conditions
``kubectl rollout status`` reads, ``ProgressDeadlineExceeded`` when no Pod progressed for
``progressDeadlineSeconds``. Paused Deployments only keep their status."""

from __future__ import annotations

import copy
import math
import time
from typing import Any

from kubeloop.apiserver.controllers.objects import owned, owner_reference, set_condition, template_hash
from kubeloop.apiserver.controllers.runtime import Builtin
from kubeloop.apiserver.machinery import meta
from kubeloop.controller import Request, Result, map_to_owner

__all__ = ["DeploymentController"]

Obj = dict[str, Any]
COMPONENT = "deployment-controller"
HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX = "deployment.kubernetes.io/max-replicas"
_NOT_COPIED = {
    REVISION,
    DESIRED,
    MAX,
    "deployment.kubernetes.io/revision-history",
    "kubectl.kubernetes.io/last-applied-configuration",
    "deprecated.deployment.rollback.to",
}


def _without_hash(template: Obj) -> Obj:
    t = copy.deepcopy(template)
    (t.get("metadata") or {}).get("labels", {}).pop(HASH, None)
    return t


def _revision(rs: Obj) -> int:
    raw = (rs["metadata"].get("annotations") or {}).get(REVISION, "0")
    return int(raw) if raw.isdigit() else 0


def _replicas(obj: Obj) -> int:
    return int((obj.get("spec") or {}).get("replicas", 1))


def _status(obj: Obj, field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)


def _resolve(value: int | str | None, total: int, default: str, round_up: bool) -> int:
    value = default if value is None else value
    if isinstance(value, int):
        return value
    fraction = int(value.rstrip("%")) * total / 100
    return math.ceil(fraction) if round_up else math.floor(fraction)


def surge_and_unavailable(d: Obj) -> tuple[int, int]:
    """``maxSurge`` and ``maxUnavailable`` of a RollingUpdate Deployment, resolved against its replicas."""
    rolling = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    replicas = _replicas(d)
    surge = _resolve(rolling.get("maxSurge"), replicas, "25%", True)
    unavailable = _resolve(rolling.get("maxUnavailable"), replicas, "25%", False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def _recreate(d: Obj) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate"


class DeploymentController(Builtin):
    name = "deployment"

    async def setup(self) -> None:
        self.d_rt = self.runtime.rt("apps", "v1", "deployments")
        self.rs_rt = self.runtime.rt("apps", "v1", "replicasets")
        self.deployments = await self.runtime.informer(self.d_rt)
        self.sets = await self.runtime.informer(self.rs_rt)
        self.controller.watch(self.deployments)
        self.controller.watch(self.sets, mapper=map_to_owner("apps", "Deployment"))

    async def reconcile(self, request: Request) -> Result | None:
        d = self.deployments.get(request.namespace, request.name)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return None
        sets = await self.runtime.claim(self.rs_rt, self.sets.list(request.namespace), d)
        template = (d.get("spec") or {}).get("template") or {}
        new = next(
            (rs for rs in sets if _without_hash((rs.get("spec") or {}).get("template") or {}) == template),
            None,
        )
        old = [rs for rs in sets if rs is not new]
        progress = ""
        if not (d.get("spec") or {}).get("paused"):
            if _recreate(d):
                new, progress = await self._recreate(d, new, old)
            else:
                new, progress = await self._rolling(d, new, old)
            if new is not None:
                await self._stamp_revision(d, new, old)
        deadline = await self._sync_status(d, new, old, progress)
        sets = owned(self.sets.list(request.namespace), d)
        if new is not None and self._complete(d, sets, new):
            await self._cleanup(d, [rs for rs in sets if rs["metadata"]["name"] != new["metadata"]["name"]])
        return deadline

    # -- the new ReplicaSet --------------------------------------------------------------------------

    async def _new_set(self, d: Obj, old: list[Obj], replicas: int) -> Obj:
        spec = d.get("spec") or {}
        collisions = int((d.get("status") or {}).get("collisionCount") or 0)
        template = copy.deepcopy(spec.get("template") or {})
        digest = template_hash(template, collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH] = digest
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH] = digest
        surge = surge_and_unavailable(d)[0] if not _recreate(d) else 0
        annotations = {
            k: v for k, v in (d["metadata"].get("annotations") or {}).items() if k not in _NOT_COPIED
        }
        annotations.update(
            {
                REVISION: str(max((_revision(rs) for rs in old), default=0) + 1),
                DESIRED: str(_replicas(d)),
                MAX: str(_replicas(d) + surge),
            }
        )
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{d['metadata']['name']}-{digest}",
                "namespace": d["metadata"].get("namespace"),
                "labels": dict(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [owner_reference(d)],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                "selector": selector,
                "template": template,
            },
        }
        created = await self.runtime.create(self.rs_rt, d["metadata"].get("namespace"), body)
        if replicas:
            await self._scaled(d, created, 0, replicas)
        return created

    async def _scaled(self, d: Obj, rs: Obj, old: int, new: int) -> None:
        direction = "up" if new > old else "down"
        message = f"Scaled {direction} replica set {rs['metadata']['name']} from {old} to {new}"
        await self.runtime.record(d, "ScalingReplicaSet", message, COMPONENT)

    async def _stamp_revision(self, d: Obj, new: Obj, old: list[Obj]) -> None:
        """The new ReplicaSet has the highest revision (a rollback to an old template renumbers it) and
        the Deployment carries it."""
        revision = max((_revision(rs) for rs in old), default=0) + 1
        if _revision(new) < revision:
            new = copy.deepcopy(new)
            new["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
            new = await self.runtime.update(self.rs_rt, new)
        wanted = str(_revision(new))
        if (d["metadata"].get("annotations") or {}).get(REVISION) != wanted:
            latest = self.deployments.get(d["metadata"].get("namespace") or "", d["metadata"]["name"]) or d
            stamped = copy.deepcopy(latest)
            stamped["metadata"].setdefault("annotations", {})[REVISION] = wanted
            # Through /status, as the real controller: the main resource would bump the generation.
            await self.runtime.update(self.d_rt, stamped, "status")

    async def _scale(self, d: Obj, rs: Obj, replicas: int) -> Obj:
        surge = 0 if _recreate(d) else surge_and_unavailable(d)[0]
        annotations = rs["metadata"].get("annotations") or {}
        wanted = {DESIRED: str(_replicas(d)), MAX: str(_replicas(d) + surge)}
        if _replicas(rs) == replicas and all(annotations.get(k) == v for k, v in wanted.items()):
            return rs
        scaled = copy.deepcopy(rs)
        scaled["spec"]["replicas"] = replicas
        scaled["metadata"].setdefault("annotations", {}).update(wanted)
        updated = await self.runtime.update(self.rs_rt, scaled)
        if _replicas(rs) != replicas:
            await self._scaled(d, rs, _replicas(rs), replicas)
        return updated

    # -- strategies ----------------------------------------------------------------------------------

    async def _recreate(self, d: Obj, new: Obj | None, old: list[Obj]) -> tuple[Obj | None, str]:
        scaled_down = False
        for rs in old:
            if _replicas(rs):
                await self._scale(d, rs, 0)
                scaled_down = True
        if scaled_down or any(_status(rs, "replicas") for rs in old):
            return new, "ReplicaSetUpdated"
        if new is None:
            created = await self._new_set(d, old, _replicas(d))
            return created, "NewReplicaSetCreated"
        return await self._scale(d, new, _replicas(d)), ""

    async def _rolling(self, d: Obj, new: Obj | None, old: list[Obj]) -> tuple[Obj | None, str]:
        replicas = _replicas(d)
        surge, unavailable = surge_and_unavailable(d)
        all_sets = [*old, *([new] if new is not None else [])]
        current = sum(_replicas(rs) for rs in all_sets)
        room = max(replicas + surge - current, 0)
        if new is None:
            return await self._new_set(d, old, min(room, replicas)), "NewReplicaSetCreated"
        progress = ""
        if _replicas(new) > replicas:
            new = await self._scale(d, new, replicas)
            progress = "ReplicaSetUpdated"
        elif _replicas(new) < replicas and room:
            new = await self._scale(d, new, _replicas(new) + min(room, replicas - _replicas(new)))
            progress = "ReplicaSetUpdated"
        # Old ReplicaSets down, keeping replicas - maxUnavailable available (unhealthy ones first).
        total = sum(_replicas(rs) for rs in [*old, new])
        min_available = replicas - unavailable
        new_unavailable = _replicas(new) - _status(new, "availableReplicas")
        budget = total - min_available - new_unavailable
        for rs in sorted(old, key=lambda r: r["metadata"].get("creationTimestamp", "")):
            unhealthy = _replicas(rs) - _status(rs, "availableReplicas")
            cut = min(budget, unhealthy)
            if cut > 0:
                await self._scale(d, rs, _replicas(rs) - cut)
                budget -= cut
                progress = "ReplicaSetUpdated"
        available = sum(_status(rs, "availableReplicas") for rs in [*old, new])
        budget = available - min_available - new_unavailable
        for rs in sorted(old, key=lambda r: r["metadata"].get("creationTimestamp", "")):
            latest = self.sets.get(rs["metadata"].get("namespace") or "", rs["metadata"]["name"]) or rs
            cut = min(budget, _replicas(latest))
            if cut > 0:
                await self._scale(d, latest, _replicas(latest) - cut)
                budget -= cut
                progress = "ReplicaSetUpdated"
        return new, progress

    # -- status and history ----------------------------------------------------------------------------

    def _complete(self, d: Obj, sets: list[Obj], new: Obj) -> bool:
        replicas = _replicas(d)
        return (
            _status(new, "replicas") == replicas
            and sum(_status(rs, "replicas") for rs in sets) == replicas
            and _status(new, "availableReplicas") == replicas
        )

    async def _sync_status(self, d: Obj, new: Obj | None, old: list[Obj], progress: str) -> Result | None:
        """Write the status; a Result to check the progress deadline again when one is running."""
        ns = d["metadata"].get("namespace") or ""
        sets = owned(self.sets.list(ns), d)
        new = next(
            (rs for rs in sets if new is not None and rs["metadata"]["name"] == new["metadata"]["name"]), new
        )
        replicas = _replicas(d)
        available = sum(_status(rs, "availableReplicas") for rs in sets)
        counts = {
            "replicas": sum(_status(rs, "replicas") for rs in sets),
            "updatedReplicas": _status(new, "replicas") if new is not None else 0,
            "readyReplicas": sum(_status(rs, "readyReplicas") for rs in sets),
            "availableReplicas": available,
            "unavailableReplicas": max(replicas - available, 0),
        }
        status = copy.deepcopy(d.get("status") or {})
        for field, value in counts.items():
            if value:
                status[field] = value
            else:
                status.pop(field, None)
        status["observedGeneration"] = d["metadata"].get("generation", 1)
        min_available = replicas - (0 if _recreate(d) else surge_and_unavailable(d)[1])
        if available >= min_available:
            set_condition(
                status,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        else:
            set_condition(
                status,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        name = new["metadata"]["name"] if new is not None else ""
        if (d.get("spec") or {}).get("paused"):
            set_condition(status, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
        elif new is not None and self._complete(d, sets, new):
            set_condition(
                status,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{name}" has successfully progressed.',
            )
        elif progress == "NewReplicaSetCreated":
            set_condition(
                status, "Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{name}"'
            )
        elif new is not None and (
            progress or _progressed(d.get("status") or {}, status) or not _has(status, "Progressing")
        ):
            _drop(status, "Progressing")  # lastUpdateTime moves with every progress, as in the Go controller
            set_condition(
                status, "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.'
            )
            _keep_transition(status, d.get("status") or {}, "Progressing")
        elif new is not None and _timed_out(d, status):
            set_condition(
                status,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{name}" has timed out progressing.',
            )
        if status != d.get("status"):
            latest = self.deployments.get(ns, d["metadata"]["name"]) or d
            await self.runtime.update(self.d_rt, dict(latest, status=status), "status")
        return _until_deadline(d, status)

    async def _cleanup(self, d: Obj, old: list[Obj]) -> None:
        limit = (d.get("spec") or {}).get("revisionHistoryLimit", 10)
        idle = [
            rs
            for rs in old
            if not _replicas(rs)
            and not _status(rs, "replicas")
            and not rs["metadata"].get("deletionTimestamp")
        ]
        for rs in sorted(idle, key=_revision)[: max(len(idle) - int(limit), 0)]:
            await self.runtime.delete(self.rs_rt, rs)


def _progressed(old: Obj, new: Obj) -> bool:
    """More Pods updated, ready or available than before: what the Go controller counts as progress."""
    return any(
        int(new.get(k) or 0) > int(old.get(k) or 0)
        for k in ("updatedReplicas", "readyReplicas", "availableReplicas")
    )


def _drop(status: Obj, kind: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or () if c.get("type") != kind]


def _keep_transition(status: Obj, old: Obj, kind: str) -> None:
    """A condition that stays True keeps its lastTransitionTime."""
    before = next((c for c in old.get("conditions") or () if c.get("type") == kind), None)
    for c in status["conditions"]:
        if c["type"] == kind and before is not None and before.get("status") == c["status"]:
            c["lastTransitionTime"] = before["lastTransitionTime"]


def _progress_condition(status: Obj) -> Obj | None:
    return next((c for c in status.get("conditions") or () if c.get("type") == "Progressing"), None)


def _deadline_left(d: Obj, status: Obj) -> float | None:
    """Seconds until the rollout times out (None: no rollout is running or it timed out already)."""
    condition = _progress_condition(status)
    if condition is None or condition.get("reason") in ("NewReplicaSetAvailable", "ProgressDeadlineExceeded"):
        return None
    if condition.get("status") != "True" or not condition.get("lastUpdateTime"):
        return None
    deadline = int((d.get("spec") or {}).get("progressDeadlineSeconds") or 600)
    return meta.parse_time(condition["lastUpdateTime"]) + deadline - time.time()


def _timed_out(d: Obj, status: Obj) -> bool:
    left = _deadline_left(d, status)
    return left is not None and left <= 0


def _until_deadline(d: Obj, status: Obj) -> Result | None:
    left = _deadline_left(d, status)
    return None if left is None else Result(requeue_after=max(left, 0.0) + 1.0)


def _has(status: Obj, kind: str) -> bool:
    return any(c.get("type") == kind for c in status.get("conditions") or ())
