"""The control loops the server runs itself, since it has no controller manager, scheduler or kubelet:
one module per controller, each a ``runtime.Builtin`` on kubeloop's own runtime (informers over the
store, a ``kubeloop.controller`` work queue with backoff and requeue):

- ``clusterroles``: aggregated ClusterRoles filled with the rules of the roles they select;
- ``crds``: CRDs served once Established; a deleted CRD's custom resources deleted before it goes;
- ``garbage_collector``: owner references (background, foreground, orphan, dangling owners);
- ``namespaces``: a terminating namespace emptied, then released;
- ``rootca``: ``kube-root-ca.crt`` in every namespace;
- ``nodes``, ``scheduler``, ``kubelet``: the simulated cluster (Nodes, Pods bound and run);
- ``replicasets``, ``deployments``, ``statefulsets``, ``daemonsets``, ``jobs``: workloads → Pods;
- ``endpointslices``: Services → EndpointSlices.

``Controllers`` starts and stops them together; any of them failing or ending stops them all with
the reason (``Controllers.task``), and the server with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kubeloop.apiserver.controllers.clusterroles import ClusterRoleAggregation
from kubeloop.apiserver.controllers.crds import CRDController
from kubeloop.apiserver.controllers.daemonsets import DaemonSetController
from kubeloop.apiserver.controllers.deployments import DeploymentController
from kubeloop.apiserver.controllers.endpointslices import EndpointSliceController
from kubeloop.apiserver.controllers.garbage_collector import GarbageCollector
from kubeloop.apiserver.controllers.jobs import JobController
from kubeloop.apiserver.controllers.kubelet import Kubelet
from kubeloop.apiserver.controllers.namespaces import NamespaceController
from kubeloop.apiserver.controllers.nodes import NodeController
from kubeloop.apiserver.controllers.replicasets import ReplicaSetController
from kubeloop.apiserver.controllers.rootca import RootCAPublisher
from kubeloop.apiserver.controllers.runtime import Builtin, Runtime, SimulationOptions
from kubeloop.apiserver.controllers.scheduler import Scheduler
from kubeloop.apiserver.controllers.statefulsets import StatefulSetController
from kubeloop.apiserver.registry.types import Registry
from kubeloop.apiserver.rest.api import Api
from kubeloop.tasks import Supervisor, leaves

__all__ = ["Builtin", "Controllers", "SimulationOptions"]

log = logging.getLogger("kubeloop.apiserver.controllers")


class Controllers:
    """Every control loop of the server over one ``Api``."""

    def __init__(
        self, api: Api, registry: Registry, ca_pem: str = "", options: SimulationOptions | None = None
    ) -> None:
        runtime = self.runtime = Runtime(api, registry, options or SimulationOptions())
        self._crds = CRDController(runtime)
        self.builtins: list[Builtin] = [
            self._crds,
            GarbageCollector(runtime),
            NamespaceController(runtime),
            NodeController(runtime),
            Scheduler(runtime),
            Kubelet(runtime),
            ReplicaSetController(runtime),
            DeploymentController(runtime),
            StatefulSetController(runtime),
            DaemonSetController(runtime),
            JobController(runtime),
            EndpointSliceController(runtime),
            ClusterRoleAggregation(runtime),
        ]
        if ca_pem:
            self.builtins.append(RootCAPublisher(runtime, ca_pem))
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Serve the stored CRDs (before the server takes requests), then start every controller."""
        self._crds.serve_stored()
        self._task = asyncio.create_task(self._run(), name="kubeloop-apiserver-controllers")

    @property
    def task(self) -> asyncio.Task[None]:
        """The task running them all: it ends with the reason if any of them fails or ends (the server
        then stops), and only by ``stop()`` otherwise."""
        if self._task is None:
            raise RuntimeError("controllers not started")
        return self._task

    async def _run(self) -> None:
        for builtin in self.builtins:
            await builtin.setup()
        supervisor = Supervisor(lambda: self._stopping)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(
                    supervisor.run("the informers", self.runtime.cache.run()),
                    name="kubeloop-apiserver-informers",
                )
                for builtin in self.builtins:
                    name = f"kubeloop-apiserver-{builtin.name}"
                    group.create_task(
                        supervisor.run(f"controller {builtin.name}", builtin.controller.run()), name=name
                    )
                    if type(builtin).feed is not Builtin.feed:
                        group.create_task(
                            supervisor.run(f"controller {builtin.name}'s feed", builtin.feed()),
                            name=f"{name}-feed",
                        )
        except BaseExceptionGroup as failed:
            errors = list(leaves(failed))
            for error in errors:
                log.error("the built-in controllers stopped: %s: %s", type(error).__name__, error)
            raise errors[0] from None

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
