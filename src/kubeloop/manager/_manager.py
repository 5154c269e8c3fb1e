"""The manager: runs the cache, the controllers, the probe and metrics servers, and leader election.

Role: the process-level runtime under the operator facade (controller-runtime's Manager).

Guarantees:

- ``/healthz`` answers as soon as the manager runs; ``/readyz`` only once every informer of the
  cache has synced.
- Controllers start only after the informers they watch have synced, and, with leader
  election, only while this replica leads. Losing the Lease (renewals failing for
  ``renew_deadline``, e.g. while the API server or etcd restarts, or another holder) cancels the
  controllers' workers, and awaits them, before the Lease can expire for another replica (fencing:
  ``renew_deadline < lease_duration``, checked by ``LeaderElectionOptions``); the caches keep
  running and the replica campaigns again, restarting the controllers once it leads. With
  ``exit_on_loss`` the loss instead raises ``LeaderElectionLost`` out of ``run()``, as
  controller-runtime's does.
- ``stop()`` is graceful: controllers stop taking keys and running reconciles get
  ``graceful_shutdown_timeout`` seconds to finish; then the Events they recorded get as long again
  to be written (the rest are dropped); then the Lease is released, informers and servers stop, and
  ``run()`` returns. However ``run()`` ends, no Event write of the manager's recorders is left
  pending, so the client can be closed after it.
- Anything else that ends the cache, an informer, a controller or one of its workers before
  ``stop()`` ends ``run()`` with that error (``StoppedError`` when the task just ended), logged
  first: the process must exit non-zero and be restarted, never run on without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any

from kubeloop.cache import Cache, Informer, ObjectKey
from kubeloop.client import ApiResource, Client
from kubeloop.controller import Controller
from kubeloop.helpers import EventRecorder
from kubeloop.manager._adoption import AdoptionLost, Adoptions
from kubeloop.manager._leader import LeaderElectionLost, LeaderElectionOptions, LeaderElector
from kubeloop.manager._metrics import Metrics
from kubeloop.manager._options import ManagerOptions
from kubeloop.manager._probes import MetricsServer, ProbeServer
from kubeloop.manager._sharding import Membership, Sharder, ShardGate, ShardLabels
from kubeloop.tasks import Supervisor, leaves

__all__ = ["Manager"]

log = logging.getLogger("kubeloop.manager")


class Manager:
    """Owns the shared cache and the controllers of one process."""

    def __init__(self, client: Client, options: ManagerOptions, *, metrics: Metrics | None = None) -> None:
        self.client = client
        self.options = options
        self.metrics = metrics or Metrics()
        self.cache = Cache(client, options.cache)
        self.controllers: list[Controller] = []
        self.servers: list[AbstractAsyncContextManager[Any]] = []
        self.probes = ProbeServer(options.probes.bind_address)
        self.metrics_server = MetricsServer(self.metrics, options.metrics.bind_address)
        self.elector: LeaderElector | None = None
        self.sharded: list[tuple[ApiResource, tuple[str, ...]]] = []
        """With sharding: the resources the sharder assigns, each with the namespaces it is watched in."""
        self.shard_gate: ShardGate | None = None
        self.sharder: Sharder | None = None
        self.shard_informers: list[tuple[Informer, Callable[[ObjectKey], None] | None]] = []
        """With sharding: the caches of the sharded kinds, each with how to queue a key of it for
        reconciling when its kind is reconciled (not only owned); a shard adopted adds its selector
        to them."""
        self._adoptions: Adoptions | None = None
        if options.sharding is not None:
            self.shard_gate = ShardGate(client, ShardLabels(options.name), options.sharding.identity)
        self._recorders: list[EventRecorder] = []
        self._events: Client | None = None
        """The recorders' client: Events have a rate limit of their own (``ManagerOptions.events``)."""
        self._stopping = asyncio.Event()
        self._started = asyncio.Event()

    def add(self, controller: Controller) -> None:
        """Run ``controller`` with this manager (before ``run()``)."""
        self.controllers.append(controller)

    def add_server(self, server: AbstractAsyncContextManager[Any]) -> None:
        """Run ``server`` (entered as an async context manager, e.g. the webhook server) on every
        replica, leader or not: started with the probe and metrics servers, stopped after the
        controllers have shut down."""
        self.servers.append(server)

    def event_recorder(self, name: str) -> EventRecorder:
        """An Event recorder reporting as ``name``; its pending writes are flushed (or, past the
        graceful shutdown timeout, dropped) before ``run()`` returns.

        Its Events go out on a client of their own, shared by the manager's recorders and limited
        by ``options.events``, not by the manager's client: a burst of Events never holds back the
        reconciles' requests (controller-runtime's recorder has a client of its own too)."""
        if self._events is None:
            events = self.options.events
            settings = replace(self.client.transport.settings, qps=events.qps, burst=events.burst)
            self._events = self.client.with_settings(settings)
        recorder = EventRecorder(self._events, name)
        self._recorders.append(recorder)
        return recorder

    @property
    def started(self) -> asyncio.Event:
        """Set once the servers listen and the cache runs."""
        return self._started

    def stop(self) -> None:
        """Ask ``run()`` to shut down gracefully; safe from a signal handler."""
        self._stopping.set()

    async def run(self) -> None:
        """Run everything until ``stop()``; see the module docstring for the order of things."""
        self.probes.add_healthz_check("ping", lambda: True)
        self.probes.add_readyz_check("informers-synced", lambda: self.cache.synced)
        for controller in self.controllers:
            self.metrics.controller_started(controller.name, controller.options.max_concurrent_reconciles)
        async with self.metrics_server, self.probes, contextlib.AsyncExitStack() as servers:
            for server in self.servers:
                await servers.enter_async_context(server)
            try:
                await self._run_tasks()
            except BaseExceptionGroup as failed:
                errors = list(leaves(failed))
                for error in errors:
                    log.error("%s: exiting: %s: %s", self.options.name, type(error).__name__, error)
                raise errors[0] from None
            finally:
                await self._close_recorders(0.0)  # failing or cancelled: drop what is still pending
                if self._events is not None:
                    await self._events.close()

    async def _run_tasks(self) -> None:
        """The cache and the controllers as tasks of one group until ``stop()``; any of them ending
        first fails the group (see ``Supervisor``), which cancels and awaits the other."""
        supervisor = Supervisor(self._stopping.is_set)
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(supervisor.run("the cache", self.cache.run()), name="cache"),
                group.create_task(supervisor.run("the controllers", self._lead_or_run()), name="controllers"),
            ]
            self._started.set()
            await self._stopping.wait()
            log.info("%s: shutting down", self.options.name)
            await self._shutdown_controllers()
            await self._close_recorders(self.options.graceful_shutdown_timeout)
            for task in tasks:
                task.cancel()

    async def _lead_or_run(self) -> None:
        if self.options.sharding is not None:
            await self._run_sharded()
            return
        lease = self.options.lease(self.client.namespace)
        if lease is None:
            await self._run_controllers()
            return
        self.elector = LeaderElector(self.client, lease, metrics=self.metrics)
        await self._campaign(self.elector, self._run_controllers, exit_on_loss=lease.exit_on_loss)

    async def _campaign(
        self,
        elector: LeaderElector,
        work: Callable[[], Awaitable[None]],
        *,
        exit_on_loss: bool = False,
        stopped: str = "controllers stopped, caches kept",
    ) -> None:
        """Run ``work`` while ``elector`` holds its Lease, campaigning again after each loss (``stopped``
        says what the loss stopped, in the log)."""
        lease = elector.options.lease_name
        while True:
            try:
                await elector.run(work)
                return
            except LeaderElectionLost as lost:
                if exit_on_loss:
                    raise
                self.metrics.leader_lost_once(lease)
                log.warning(
                    "%s: leadership lost (%s); %s; campaigning again", self.options.name, lost, stopped
                )

    async def _run_sharded(self) -> None:
        """Active-active: the controllers run while this replica holds its shard Lease, and the sharder
        while it holds the sharder Lease (see ``_sharding``)."""
        sharding = self.options.sharding
        assert sharding is not None
        namespace = sharding.lease_namespace or self.client.namespace
        identity = sharding.identity

        def lease(name: str) -> LeaderElectionOptions:
            return LeaderElectionOptions(
                lease_name=name,
                lease_namespace=namespace,
                identity=identity,
                lease_duration=sharding.lease_duration,
                renew_deadline=sharding.renew_deadline,
                retry_period=sharding.retry_period,
                clock=sharding.clock,
            )

        membership = Membership(f"{self.options.name}-shard-", sharding.clock, sharding.lease_duration)
        log.info("%s: sharded, as shard %s", self.options.name, identity)
        # The Leases get a client of their own, not held back by the QPS limit that the reconciles'
        # writes fill: a renewal queued behind a burst of them would miss its deadline, the shard would
        # stop, its objects move, and that burst of moves would starve the other shards' renewals.
        # The sharder's label writes get one too: a failover moves a dead shard's objects, one PATCH
        # each, and behind the reconciles' writes (the new owner's among them, in the same process) at
        # 50 per second they took most of a minute; ShardingOptions.concurrency bounds them instead.
        transport = self.client.transport
        unlimited = replace(transport.settings, qps=None)
        leases = self.client.with_settings(unlimited)
        qps = sharding.relabel_qps
        moves = self.client.with_settings(  # relabel_qps is the sharder's, whatever the kinds moved
            replace(transport.settings, qps=qps, burst=max(1, int(qps or 1)), qps_per_kind=False)
        )
        self.elector = LeaderElector(
            leases, lease(f"{self.options.name}-shard-{identity}"), metrics=self.metrics
        )
        sharder = LeaderElector(leases, lease(f"{self.options.name}-sharder"), metrics=self.metrics)
        assert self.shard_gate is not None
        self._adoptions = Adoptions(
            leases,
            membership,
            self.shard_gate,
            lambda name: replace(lease(name), takeover=False),
            self.shard_informers,
            self._sealed_to,
        )
        async with leases, moves, asyncio.TaskGroup() as group:
            group.create_task(membership.run(leases, namespace, sharding.retry_period / 2), name="shards")
            group.create_task(self._campaign(self.elector, self._run_controllers), name="shard lease")
            group.create_task(
                self._campaign(
                    sharder, lambda: self._run_sharder(moves, membership), stopped="sharder stopped"
                ),
                name="sharder lease",
            )

    def _sealed_to(self, shard: str) -> dict[str, list[ObjectKey]] | None:
        """The objects sealed to ``shard``, when this replica runs the sharder and it has listed them."""
        sharder = self.sharder
        return sharder.sealed_to(shard) if sharder is not None and sharder.synced else None

    async def _run_sharder(self, client: Client, membership: Membership) -> None:
        sharding = self.options.sharding
        assert sharding is not None
        self.sharder = Sharder(client, self.options.name, self.sharded, sharding, membership)
        log.info("%s: %s runs the sharder", self.options.name, sharding.identity)
        try:
            await self.sharder.run()
        finally:
            self.sharder = None

    async def _run_controllers(self) -> None:
        if not self.controllers:  # only servers (e.g. webhooks): run until stopped
            await self._stopping.wait()
            return
        await asyncio.gather(*(i.wait_synced() for c in self.controllers for i in c.informers))
        # The synced caches are long-lived and acyclic (freed by reference counting when replaced):
        # keep the cyclic collector from walking them again and again.
        gc.collect()
        gc.freeze()
        log.info("%s: caches synced; starting %d controller(s)", self.options.name, len(self.controllers))
        if self.elector is not None:
            role = "reconciling the share of shard" if self.options.sharding is not None else "leading as"
            log.info("%s: %s %s", self.options.name, role, self.elector.identity)
        supervisor = Supervisor(self._stopping.is_set)
        while True:
            try:
                async with asyncio.TaskGroup() as group:
                    for controller in self.controllers:
                        name = f"controller {controller.name}"
                        group.create_task(supervisor.run(name, controller.run()), name=name)
                    if self._adoptions is not None:
                        group.create_task(self._adoptions.run(), name="adoptions")
                return
            except* AdoptionLost as lost:
                # Its objects' reconciles are cancelled with the rest, before its Lease can expire.
                log.warning("%s: %s; controllers restarted", self.options.name, lost.exceptions[0])

    async def _close_recorders(self, grace: float) -> None:
        await asyncio.gather(*(r.close(grace) for r in self._recorders))

    async def _shutdown_controllers(self) -> None:
        grace = self.options.graceful_shutdown_timeout
        await asyncio.gather(*(c.shutdown(grace) for c in self.controllers))
