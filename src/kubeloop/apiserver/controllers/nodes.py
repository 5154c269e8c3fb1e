"""Simulated Nodes, as kwok's: ``SimulationOptions.nodes`` Nodes (``kubeloop-node-<i>``, annotated
``kubeloop.dev/simulated``) created at start and kept Ready with capacity, addresses and node info.
Nodes without the annotation (created by a user) are left alone, and their Pods never run."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from kubeloop.apiserver.controllers.runtime import Builtin
from kubeloop.apiserver.machinery import meta
from kubeloop.client.errors import AlreadyExistsError
from kubeloop.controller import Request, Result

__all__ = ["SIMULATED", "NodeController", "node_name"]

Obj = dict[str, Any]
SIMULATED = "kubeloop.dev/simulated"
KUBELET_VERSION = "v1.33.0"
_CAPACITY = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "100Gi"}


def node_name(index: int) -> str:
    return f"kubeloop-node-{index}"


def _node(index: int) -> Obj:
    name = node_name(index)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {SIMULATED: "true", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                "type": "kubeloop",
            },
        },
        "spec": {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"]},
    }


def _status(node: Obj, index: int, old: Obj) -> Obj:
    stamp = meta.now()
    by_type = {c.get("type"): c for c in old.get("conditions") or ()}

    def condition(kind: str, status: str, reason: str, message: str) -> Obj:
        prev = by_type.get(kind) or {}
        since = prev.get("lastTransitionTime") if prev.get("status") == status else stamp
        return {
            "type": kind,
            "status": status,
            "lastHeartbeatTime": prev.get("lastHeartbeatTime") or stamp,
            "lastTransitionTime": since or stamp,
            "reason": reason,
            "message": message,
        }

    return {
        "capacity": dict(_CAPACITY),
        "allocatable": dict(_CAPACITY),
        "phase": "Running",
        "conditions": [
            condition(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition(
                "PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"
            ),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": f"172.18.0.{index + 2}"},
            {"type": "Hostname", "address": node["metadata"]["name"]},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "architecture": "amd64",
            "bootID": "",
            "containerRuntimeVersion": "kubeloop://simulated",
            "kernelVersion": "",
            "kubeProxyVersion": "",
            "kubeletVersion": KUBELET_VERSION,
            "machineID": "",
            "operatingSystem": "linux",
            "osImage": "kubeloop simulated node",
            "systemUUID": "",
        },
    }


class NodeController(Builtin):
    """Creates the simulated Nodes and keeps their status Ready (as kwok's node stages)."""

    name = "nodes"
    workers = 1

    async def setup(self) -> None:
        self.nodes_rt = self.runtime.rt("", "v1", "nodes")
        self.nodes = await self.runtime.informer(self.nodes_rt)
        self.controller.watch(self.nodes)
        for i in range(self.runtime.options.nodes):
            if self.runtime.store.get((self.nodes_rt.storage, "", node_name(i))) is None:
                with contextlib.suppress(AlreadyExistsError):
                    await self.runtime.create(self.nodes_rt, None, _node(i))

    async def reconcile(self, request: Request) -> Result | None:
        node = self.nodes.get("", request.name)
        if node is None or (node["metadata"].get("annotations") or {}).get(SIMULATED) != "true":
            return None
        index = int(node["spec"].get("podCIDR", "10.244.0.0/24").split(".")[2])
        old = node.get("status") or {}
        status = _status(node, index, old)
        if _comparable(status) == _comparable(old):
            return None
        await self.runtime.update(self.nodes_rt, dict(copy.deepcopy(node), status=status), "status")
        return None


def _comparable(status: Obj) -> Obj:
    out = dict(status)
    out["conditions"] = [
        {k: v for k, v in c.items() if k not in ("lastHeartbeatTime", "lastTransitionTime")}
        for c in status.get("conditions") or ()
    ]
    return out
