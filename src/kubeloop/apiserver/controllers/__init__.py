"""The control loops the server runs itself, since it has no controller manager: one module per loop.

- ``crds``: CRDs served as soon as they are stored; a deleted CRD's custom resources deleted.
- ``garbage_collector``: owner references (background, foreground, orphan).
- ``namespaces``: a terminating namespace emptied, then released.
- ``rootca``: the ``kube-root-ca.crt`` ConfigMap in every namespace.
- ``workloads``: Deployments, ReplicaSets and StatefulSets reported ready (no Pods yet).

Each loop (``loop.Loop``) runs on a task of its own over the store's events; ``Controllers`` starts
and stops them together.
"""

from __future__ import annotations

import asyncio

from kubeloop.apiserver.controllers.crds import CRDLoop
from kubeloop.apiserver.controllers.garbage_collector import GarbageCollector
from kubeloop.apiserver.controllers.loop import Loop
from kubeloop.apiserver.controllers.namespaces import NamespaceLoop
from kubeloop.apiserver.controllers.rootca import RootCAPublisher
from kubeloop.apiserver.controllers.workloads import WorkloadStatus
from kubeloop.apiserver.registry.types import Registry
from kubeloop.apiserver.rest.api import Api

__all__ = ["Controllers", "Loop"]


class Controllers:
    """Every control loop of the server over one ``Api``."""

    def __init__(self, api: Api, registry: Registry, ca_pem: str = "") -> None:
        self._crds = CRDLoop(api, registry)
        self.loops: list[Loop] = [
            self._crds,
            GarbageCollector(api, registry),
            NamespaceLoop(api, registry),
            WorkloadStatus(api, registry),
        ]
        if ca_pem:
            self.loops.append(RootCAPublisher(api, registry, ca_pem))

    def start(self) -> None:
        """Serve the stored CRDs, then start every loop (each subscribed before this returns)."""
        self._crds.serve_stored()
        for loop in self.loops:
            loop.start()

    async def stop(self) -> None:
        await asyncio.gather(*(loop.stop() for loop in self.loops))
