"""The simulated kubelet, as kwok's pod stages: a Pod bound to a simulated Node becomes Running and
Ready ``SimulationOptions.pod_start_delay`` seconds after the kubelet first sees it, with a pod IP
from the Node's ``podCIDR`` (the Node's IP with ``hostNetwork``), container statuses (init containers
terminated with Completed, the others running) and the conditions a kubelet writes; a Job's Pod then
completes (``Succeeded``, exit code 0) after the same delay; a terminating Pod is deleted at once
(``gracePeriodSeconds: 0``: nothing runs, so nothing needs the grace period). Pods of other Nodes are
left alone."""

from __future__ import annotations

import asyncio
import copy
import hashlib
from typing import Any

from kubeloop.apiserver.controllers.nodes import SIMULATED
from kubeloop.apiserver.controllers.runtime import Builtin
from kubeloop.apiserver.machinery import meta
from kubeloop.cache import key_of
from kubeloop.controller import Request, Result

__all__ = ["Kubelet"]

Obj = dict[str, Any]


def _condition(kind: str, status: str, since: str, reason: str = "") -> Obj:
    c: Obj = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
    if reason:
        c["reason"] = reason
    return c


def _container_id(pod: Obj, name: str) -> str:
    digest = hashlib.sha256(f"{pod['metadata'].get('uid')}/{name}".encode()).hexdigest()
    return f"kubeloop://{digest}"


def _terminated(pod: Obj, container: Obj, started: str, finished: str) -> Obj:
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "containerID": _container_id(pod, container["name"]),
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": started,
                "finishedAt": finished,
                "containerID": _container_id(pod, container["name"]),
            }
        },
        "lastState": {},
    }


def running_status(pod: Obj, node: Obj, pod_ip: str) -> Obj:
    """The status a kubelet reports for ``pod`` once its containers run on ``node``."""
    stamp = meta.now()
    status = copy.deepcopy(pod.get("status") or {})
    host_ip = _node_ip(node)
    scheduled = next(
        (c for c in status.get("conditions") or () if c.get("type") == "PodScheduled"),
        _condition("PodScheduled", "True", stamp),
    )
    spec = pod.get("spec") or {}
    status.update(
        phase="Running",
        conditions=[
            _condition("PodReadyToStartContainers", "True", stamp),
            _condition("Initialized", "True", stamp),
            _condition("Ready", "True", stamp),
            _condition("ContainersReady", "True", stamp),
            scheduled,
        ],
        hostIP=host_ip,
        hostIPs=[{"ip": host_ip}],
        podIP=pod_ip,
        podIPs=[{"ip": pod_ip}],
        startTime=status.get("startTime") or stamp,
        containerStatuses=[
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "containerID": _container_id(pod, c["name"]),
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": stamp}},
                "lastState": {},
            }
            for c in spec.get("containers") or ()
        ],
    )
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [_terminated(pod, c, stamp, stamp) for c in spec["initContainers"]]
    return status


def completed_status(pod: Obj) -> Obj:
    """``pod``'s status once every container exited 0 (a Job's Pod)."""
    stamp = meta.now()
    status = copy.deepcopy(pod.get("status") or {})
    started = status.get("startTime") or stamp
    status["phase"] = "Succeeded"
    for c in status.get("conditions") or ():
        if c["type"] in ("Ready", "ContainersReady"):
            c.update(status="False", reason="PodCompleted", lastTransitionTime=stamp)
        elif c["type"] == "PodReadyToStartContainers":
            c.update(status="False", lastTransitionTime=stamp)
    status["containerStatuses"] = [
        _terminated(pod, c, started, stamp) for c in (pod.get("spec") or {}).get("containers") or ()
    ]
    return status


def _node_ip(node: Obj) -> str:
    for address in (node.get("status") or {}).get("addresses") or ():
        if address.get("type") == "InternalIP":
            return str(address["address"])
    return ""


def _owned_by_job(pod: Obj) -> bool:
    return any(r.get("kind") == "Job" for r in pod["metadata"].get("ownerReferences") or ())


class Kubelet(Builtin):
    """The kubelet of every simulated Node."""

    name = "kubelet"
    workers = 1  # pod IPs are allocated from what the previous reconcile wrote

    async def setup(self) -> None:
        self.pods_rt = self.runtime.rt("", "v1", "pods")
        self.pods = await self.runtime.informer(self.pods_rt)
        self.nodes = await self.runtime.informer(self.runtime.rt("", "v1", "nodes"))
        self.controller.watch(self.pods, predicates=[lambda e: e.type != "delete"])
        self.controller.watch(self.nodes, mapper=self._pods_on)
        self._seen: dict[tuple[str, str, str, str], float] = {}

    def _pods_on(self, node: Obj) -> list[Request]:
        name = node["metadata"]["name"]
        return [key_of(p) for p in self.pods.list() if (p.get("spec") or {}).get("nodeName") == name]

    def _wait(self, pod: Obj) -> float:
        """Seconds left before the simulated containers change state (counted from first sight)."""
        now = asyncio.get_running_loop().time()
        md = pod["metadata"]
        key = (
            md.get("namespace", ""),
            md["name"],
            md.get("uid", ""),
            (pod.get("status") or {}).get("phase", ""),
        )
        first = self._seen.setdefault(key, now)
        return max(first + self.runtime.options.pod_start_delay - now, 0.0)

    async def reconcile(self, request: Request) -> Result | None:
        pod = self.pods.get(request.namespace, request.name)
        if pod is None:
            self._forget(request)
            return None
        node = self.nodes.get("", (pod.get("spec") or {}).get("nodeName") or "")
        if node is None or (node["metadata"].get("annotations") or {}).get(SIMULATED) != "true":
            return None
        md, status = pod["metadata"], pod.get("status") or {}
        if md.get("deletionTimestamp"):
            if not md.get("finalizers"):
                await self.runtime.delete(self.pods_rt, pod, grace_period=0)
            return None
        phase = status.get("phase")
        if phase in ("Succeeded", "Failed") or (phase == "Running" and not _owned_by_job(pod)):
            self._forget(request)
            return None
        wait = self._wait(pod)
        if wait:
            return Result(requeue_after=wait)
        if phase == "Running":
            new = completed_status(pod)
        else:
            new = running_status(pod, node, self._pod_ip(pod, node))
        await self.runtime.update(self.pods_rt, dict(pod, status=new), "status")
        return None

    def _forget(self, request: Request) -> None:
        for key in [k for k in self._seen if k[:2] == request]:
            del self._seen[key]

    def _pod_ip(self, pod: Obj, node: Obj) -> str:
        if (pod.get("spec") or {}).get("hostNetwork"):
            return _node_ip(node)
        name = node["metadata"]["name"]
        used = {
            (p.get("status") or {}).get("podIP")
            for p in self.pods.list()
            if (p.get("spec") or {}).get("nodeName") == name
        }
        prefix = (node.get("spec") or {}).get("podCIDR", "10.244.0.0/24").rsplit(".", 1)[0]
        for host in range(2, 255):
            candidate = f"{prefix}.{host}"
            if candidate not in used:
                return candidate
        return f"{prefix}.255"
