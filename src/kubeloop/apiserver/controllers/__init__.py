"""The control loops the server runs itself, since it has no controller manager, scheduler or kubelet:
one module per controller.

On kubeloop's own runtime (``runtime.Builtin``: informers over the store, a ``kubeloop.controller``
work queue with backoff each): ``nodes`` (simulated Nodes), ``scheduler``, ``kubelet`` (simulated),
``replicasets``, ``deployments``. On the store's event stream (``loop.Loop``, one task each):
``crds`` (CRDs served once stored; a deleted CRD's custom resources deleted), ``garbage_collector``
(owner references: background, foreground, orphan), ``namespaces`` (a terminating namespace emptied,
then released), ``rootca`` (``kube-root-ca.crt`` in every namespace), ``workloads`` (StatefulSets
reported ready without Pods). ``Controllers`` starts and stops them together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kubeloop.apiserver.controllers.crds import CRDLoop
from kubeloop.apiserver.controllers.deployments import DeploymentController
from kubeloop.apiserver.controllers.garbage_collector import GarbageCollector
from kubeloop.apiserver.controllers.kubelet import Kubelet
from kubeloop.apiserver.controllers.loop import Loop
from kubeloop.apiserver.controllers.namespaces import NamespaceLoop
from kubeloop.apiserver.controllers.nodes import NodeController
from kubeloop.apiserver.controllers.replicasets import ReplicaSetController
from kubeloop.apiserver.controllers.rootca import RootCAPublisher
from kubeloop.apiserver.controllers.runtime import Builtin, Runtime, SimulationOptions
from kubeloop.apiserver.controllers.scheduler import Scheduler
from kubeloop.apiserver.controllers.workloads import WorkloadStatus
from kubeloop.apiserver.registry.types import Registry
from kubeloop.apiserver.rest.api import Api

__all__ = ["Controllers", "Loop", "SimulationOptions"]

log = logging.getLogger("kubeloop.apiserver.controllers")


class Controllers:
    """Every control loop of the server over one ``Api``."""

    def __init__(
        self, api: Api, registry: Registry, ca_pem: str = "", options: SimulationOptions | None = None
    ) -> None:
        self.runtime = Runtime(api, registry, options or SimulationOptions())
        self.builtins: list[Builtin] = [
            cls(self.runtime)
            for cls in (NodeController, Scheduler, Kubelet, ReplicaSetController, DeploymentController)
        ]
        self._task: asyncio.Task[None] | None = None
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
        self._task = asyncio.create_task(self._run(), name="kubeloop-apiserver-controllers")

    async def _run(self) -> None:
        try:
            for builtin in self.builtins:
                await builtin.setup()
            async with asyncio.TaskGroup() as group:
                group.create_task(self.runtime.cache.run(), name="kubeloop-apiserver-informers")
                for builtin in self.builtins:
                    group.create_task(builtin.controller.run(), name=f"kubeloop-apiserver-{builtin.name}")
        except asyncio.CancelledError:
            raise
        except BaseException:
            log.exception("the built-in controllers stopped")
            raise

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await asyncio.gather(*(loop.stop() for loop in self.loops))
