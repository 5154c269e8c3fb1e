"""Sharding across replicas, active-active: each replica reconciles its share of the primary objects.

Role: beside leader election in the manager. The design is kubernetes-controller-sharding's, run
inside the replicas themselves (no webhook, no extra Deployment: the API server is the only thing
the replicas share):

- **Membership.** Each replica holds a Lease of its own, ``<name>-shard-<identity>``, renewed as a
  leader's is (``LeaderElector``): its controllers run only while it holds it, and stop before it can
  expire (``renew_deadline < lease_duration``), so a replica cut off stops reconciling before anyone
  takes its objects. A graceful stop releases it (after the controllers stopped).
- **Assignment.** One replica, elected by the Lease ``<name>-sharder``, runs the ``Sharder``: it
  watches the primary objects (metadata only, all of them) and follows the shard Leases (every
  replica lists them every half retry period, and at the moment one would expire, so a newly elected
  sharder knows at once which shards stopped: ``Membership``), and places each object on a
  consistent-hash ring with bounded load
  (``_ring``) over the live shards. It records an assignment as the label
  ``shard.kubeloop.io/<name>: <identity>`` (so each replica's cache selects only its share) and the
  same in an annotation, the seal: a replica reconciles an object only when label and seal both name
  it, so a label edited by hand moves nothing (the sharder puts it back).
- **Hand-off with a drain.** To move an object from a live shard, the sharder adds the label
  ``drain.shard.kubeloop.io/<name>``; the owner, in the worker that holds the object's key (so no
  reconcile of it runs), removes label, seal and drain; only then, seeing it unassigned, does the
  sharder assign it to the new shard. An object of a shard that is gone (its Lease released, or not
  renewed for ``lease_duration`` on the sharder's clock) is assigned at once: that shard stopped
  before its Lease could expire. Before, the sharder fences that Lease: it takes it, with the
  ``resourceVersion`` it listed, so a shard that renewed just after the listing (it is alive) moves
  nothing, and one that comes back waits out a lease duration first. The moves are written through
  a client of their own, ``concurrency`` at a time, not behind the reconciles' writes and their QPS
  limit. Every write carries the ``resourceVersion`` it was decided on.

Guarantee: no object is reconciled by two replicas at once, as long as the replicas' clocks run at
about the same rate (the leader election's assumption). Owned children carry their owner's shard
label (``ctx.apply`` sets it), so they follow it when it is next reconciled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubeloop.cache import Informer, InformerOptions, Obj, key_of
from kubeloop.client import (
    AlreadyExistsError,
    ApiResource,
    Client,
    ConflictError,
    NotFoundError,
    PatchType,
)
from kubeloop.clock import Clock, RealClock
from kubeloop.errors import KubeloopError
from kubeloop.manager._ring import assign

__all__ = ["Membership", "ShardGate", "ShardLabels", "Sharder", "ShardingOptions", "shard_identity"]

log = logging.getLogger("kubeloop.manager.sharding")

LEASES = "leases.coordination.k8s.io"


def shard_identity() -> str:
    """``<hostname>-<random>``, usable as a label value and in a Lease name (the pod's name in a cluster)."""
    host = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().lower()).strip("-")[:40] or "replica"
    return f"{host}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class ShardingOptions:
    """Sharding of the primary objects over the replicas that run (``kubeloop run --shards auto``).

    The Leases (each replica's ``<name>-shard-<identity>``, the sharder's ``<name>-sharder``) live in
    ``lease_namespace`` (default: the client's); their timing is leader election's. ``epsilon``: a
    shard holds at most ``(1 + epsilon)`` times the average share.
    """

    identity: str = field(default_factory=shard_identity)
    lease_namespace: str = ""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    epsilon: float = 0.25
    concurrency: int = 16
    """Label writes the sharder has in flight at once."""
    clock: Clock = field(default_factory=RealClock)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", self.identity):
            raise ValueError(
                f"shard identity {self.identity!r} must be a DNS label (a label value and a name)"
            )


@dataclass(frozen=True)
class ShardLabels:
    """The keys an operator's sharding writes on its objects."""

    name: str

    @property
    def shard(self) -> str:
        """Label and annotation (the seal): the identity of the replica the object is assigned to."""
        return f"shard.kubeloop.io/{self.name}"

    @property
    def drain(self) -> str:
        """Label: the sharder asks the owner to let the object go."""
        return f"drain.shard.kubeloop.io/{self.name}"

    def selector(self, identity: str) -> str:
        """The label selector of one replica's share."""
        return f"{self.shard}={identity}"

    def of(self, obj: Obj) -> tuple[str | None, str | None, bool]:
        """(label, seal, draining) of ``obj``."""
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        seal = (meta.get("annotations") or {}).get(self.shard)
        return labels.get(self.shard), seal, self.drain in labels


class ShardGate:
    """A replica's side of the hand-off: whether a reconcile may run on an object, and the drain's
    acknowledgement. Called by the controller's worker holding the object's key."""

    def __init__(self, client: Client, labels: ShardLabels, identity: str) -> None:
        self.client = client
        self.labels = labels
        self.identity = identity

    async def admit(self, resource: ApiResource, obj: Obj, informer: Informer | None = None) -> bool:
        """Whether to reconcile ``obj`` now: assigned and sealed to this replica and not draining. A
        draining object is let go here (label, seal and drain removed, at the resourceVersion read)."""
        label, seal, draining = self.labels.of(obj)
        if label != self.identity or seal != self.identity:
            return False
        if draining:
            meta = obj.get("metadata") or {}
            patch = {
                "metadata": {
                    "resourceVersion": meta.get("resourceVersion"),
                    "labels": {self.labels.shard: None, self.labels.drain: None},
                    "annotations": {self.labels.shard: None},
                }
            }
            try:
                updated = await self.client.patch(
                    resource,
                    meta.get("name", ""),
                    patch,
                    type=PatchType.MERGE,
                    namespace=meta.get("namespace"),
                )
            except (ConflictError, NotFoundError):
                return False  # changed meanwhile: the next event tells what it is now
            if informer is not None:
                informer.observe(updated)
            log.info("%s: let %s go to be moved", self.identity, key_of(obj))
            return False
        return True

    def child_labels(self, owner: Obj) -> dict[str, str]:
        """The labels a child of ``owner`` carries to follow it: its shard label, when it has one."""
        label, _, _ = self.labels.of(owner)
        return {self.labels.shard: label} if label else {}


class Membership:
    """The live shards, from their Leases as this process observed them (on its own clock: a Lease is
    live while its spec changed less than its duration ago, as leader election judges a leader)."""

    def __init__(self, prefix: str, clock: Clock, lease_duration: float) -> None:
        self.prefix = prefix
        self.clock = clock
        self.lease_duration = lease_duration
        self.started = clock.now()
        self.changed = asyncio.Event()
        """Set when the live shards change (the sharder clears it)."""
        self._seen: dict[str, tuple[Any, float, float]] = {}
        """identity -> (spec, local time it last changed, its duration)"""
        self._leases: dict[str, Obj] = {}
        """identity -> its Lease as last listed (the sharder fences it with its resourceVersion)"""
        self.namespace = ""
        """Where the shard Leases are (set by ``run``)."""

    async def run(self, client: Client, namespace: str, period: float) -> None:
        """List the Leases of ``namespace`` every ``period`` seconds, and also the moment a live one
        would expire (``next_look``), until cancelled. Every replica runs this, not only the sharder's:
        one elected sharder then knows at once which shards stopped.

        A Lease's expiry is no event (nothing is written; a watch would tell nothing then), and only a
        read made at that moment can tell it was not renewed just before (the owner may still be
        reconciling): so the listing is timed to it, and a stopped shard is found gone within one
        request of its expiry rather than up to ``period`` after."""
        self.namespace = namespace
        told: list[str] = []
        while True:
            try:
                page = await client.list(LEASES, namespace=namespace)
                self.observe(page.get("items") or ())
                # Compared with what was last told, not with alive() just before the listing: that is
                # judged on the clock too, and an expiry already shows there (it never woke the sharder).
                alive = self.alive()
                if alive != told:
                    log.info("live shards: %s", ", ".join(alive) or "none")
                    told = alive
                    self.changed.set()
            except KubeloopError as exc:
                log.warning("listing the shard Leases failed: %s", exc)
            await self.clock.sleep(self.next_look(period))

    def observe(self, leases: Iterable[Obj]) -> None:
        """Note the shard Leases of one listing (others are left as last seen: a Lease deleted by hand
        expires like one not renewed, and its replica recreates it meanwhile if alive)."""
        now = self.clock.now()
        for lease in leases:
            name = (lease.get("metadata") or {}).get("name") or ""
            if not name.startswith(self.prefix):
                continue
            identity = name[len(self.prefix) :]
            spec = lease.get("spec") or {}
            duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
            old = self._seen.get(identity)
            changed = now if old is None or old[0] != spec else old[1]
            self._seen[identity] = (spec, changed, duration)
            self._leases[identity] = lease

    def lease(self, identity: str) -> Obj | None:
        """``identity``'s shard Lease as last listed (or written by the sharder)."""
        return self._leases.get(identity)

    def next_look(self, period: float) -> float:
        """Seconds until the next listing: ``period``, or less when a live Lease would expire sooner
        (the listing is then due the moment it expires, if it was not renewed meanwhile)."""
        now = self.clock.now()
        expiries = [
            changed + duration - now
            for identity, (spec, changed, duration) in self._seen.items()
            if spec.get("holderIdentity") == identity and now - changed < duration
        ]
        return max(0.0, min([period, *expiries]))

    def alive(self) -> list[str]:
        """The identities holding their Lease now."""
        now = self.clock.now()
        return sorted(
            identity
            for identity, (spec, changed, duration) in self._seen.items()
            if spec.get("holderIdentity") == identity and now - changed < duration
        )

    def gone(self, identity: str) -> bool:
        """Whether ``identity``'s replica has stopped reconciling for sure: its Lease released,
        expired or fenced by the sharder (held by another), or never seen in ``lease_duration`` of
        watching."""
        seen = self._seen.get(identity)
        now = self.clock.now()
        if seen is None:
            return now - self.started >= self.lease_duration
        spec, changed, duration = seen
        return spec.get("holderIdentity") != identity or now - changed >= duration


class Sharder:
    """Assigns the objects of ``resources`` to the live shards (see the module docstring); run by the
    replica holding the ``<name>-sharder`` Lease, until cancelled."""

    def __init__(
        self,
        client: Client,
        name: str,
        resources: Iterable[tuple[ApiResource, tuple[str, ...]]],
        options: ShardingOptions,
        membership: Membership,
    ) -> None:
        """``resources``: each sharded resource with the namespaces it is watched in (none: all)."""
        self.client = client
        self.labels = ShardLabels(name)
        self.options = options
        self.membership = membership
        self.informers = [
            Informer(client, resource, InformerOptions(metadata_only=True, namespaces=namespaces))
            for resource, namespaces in resources
        ]
        self._dirty = asyncio.Event()
        self.moves = 0
        self.assignments = 0

    async def run(self) -> None:
        """Watch and assign until cancelled."""
        for informer in self.informers:
            informer.add_handler(lambda _event: self._dirty.set())
        async with asyncio.TaskGroup() as group:
            for informer in self.informers:
                group.create_task(informer.run(), name=f"sharder informer {informer.resource.plural}")
            await asyncio.gather(*(i.wait_synced() for i in self.informers))
            log.info("sharder: watching %d kind(s)", len(self.informers))
            while True:
                self._dirty.clear()
                self.membership.changed.clear()
                try:
                    await self.step()
                except KubeloopError as exc:
                    log.warning("sharder: %s; retrying", exc)
                await self._next()

    async def _next(self) -> None:
        """Wait for a change of the objects or of the live shards, or a retry period (Leases expire
        without an event)."""
        waits = [
            asyncio.ensure_future(self._dirty.wait()),
            asyncio.ensure_future(self.membership.changed.wait()),
        ]
        try:
            await asyncio.wait(waits, timeout=self.options.retry_period, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        await self.options.clock.sleep(0.05)  # let a burst of events coalesce

    async def step(self) -> None:
        """One pass: every object's assignment compared with the ring's, and the writes it takes."""
        alive = self.membership.alive()
        objects: dict[str, tuple[Informer, Obj]] = {}
        for informer in self.informers:
            res = informer.resource
            for obj in informer.list():
                objects[f"{res.group}/{res.kind}/{key_of(obj)}"] = (informer, obj)
        desired = assign(objects, alive, self.options.epsilon)
        writes = []
        for identity, (informer, obj) in objects.items():
            action = self._decide(obj, desired.get(identity))
            if action is not None:
                writes.append((informer, obj, action))
        # The objects of a shard found gone move only once its Lease is fenced (see ``_fence``).
        gone = {self._gone_owner(obj) for _, obj, (action, _) in writes if action == "assign"} - {None}
        fenced = {owner for owner in gone if owner is not None and await self._fence(owner)}
        writes = [w for w in writes if w[2][0] != "assign" or self._gone_owner(w[1]) in (None, *fenced)]
        limit = asyncio.Semaphore(self.options.concurrency)

        async def one(informer: Informer, obj: Obj, action: tuple[str, str | None]) -> None:
            async with limit:
                await self._write(informer, obj, *action)

        await asyncio.gather(*(one(*write) for write in writes))

    def _gone_owner(self, obj: Obj) -> str | None:
        """The shard that may reconcile ``obj`` (label and seal name it), when it is found gone."""
        label, seal, _ = self.labels.of(obj)
        return label if label is not None and label == seal and self.membership.gone(label) else None

    async def _fence(self, identity: str) -> bool:
        """Take the Lease of ``identity``, found gone, for this sharder, with the resourceVersion listed,
        so that its replica cannot hold it again (and reconcile) while its objects move: whether the
        Lease is fenced. A write refused (409) means the replica renewed since the listing: it is alive
        and nothing moves. The replica, if it comes back, waits out the fence's lease duration (as for
        any holder) before it reconciles again, with no objects left to it: rebalancing gives it a share.

        Without it, a shard whose renewals failed for a lease duration (so found gone) and then landed
        one just after the listing would start reconciling its objects again while they were moving."""
        lease = self.membership.lease(identity)
        spec = dict((lease or {}).get("spec") or {})
        if lease is not None and spec.get("holderIdentity") not in (identity, "", None):
            return True  # held by another already (fenced before): this replica does not reconcile
        meta = (lease or {}).get("metadata") or {}
        name = meta.get("name") or f"{self.membership.prefix}{identity}"
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec.update(
            holderIdentity=self.options.identity,
            renewTime=now,
            acquireTime=now,
            leaseDurationSeconds=max(1, math.ceil(self.options.lease_duration)),
        )
        metadata: dict[str, Any] = {"name": name, "namespace": self.membership.namespace}
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}
        written: Obj | None = None
        try:
            if lease is not None:
                with contextlib.suppress(NotFoundError):  # deleted (by hand): created below
                    versioned = {**metadata, "resourceVersion": meta.get("resourceVersion")}
                    written = await self.client.replace({**body, "metadata": versioned})
            if written is None:  # its replica, if alive, creates it first: AlreadyExists
                written = await self.client.create(body)
        except (ConflictError, AlreadyExistsError) as exc:
            log.info("sharder: shard %s not fenced (%s): not moving its objects yet", identity, exc.reason)
            return False
        self.membership.observe([written])
        log.info("sharder: shard %s gone; its Lease fenced, its objects move", identity)
        return True

    def _decide(self, obj: Obj, want: str | None) -> tuple[str, str | None] | None:
        """What to write on ``obj``: ("assign", shard), ("drain", None), ("undrain", None), or nothing."""
        if want is None:
            return None
        label, seal, draining = self.labels.of(obj)
        if label is None and seal is None:
            return ("assign", want)
        if label != seal:
            # Edited by hand (the seal is the sharder's record; a replica needs both to reconcile, so
            # nobody starts on it meanwhile): back to the sealed owner while it lives, else onwards.
            if seal is not None and seal in self.membership.alive():
                return ("assign", seal)
            if seal is None or self.membership.gone(seal):
                return ("assign", want)
            return None
        owner = label or ""
        if owner == want:
            return ("undrain", None) if draining else None
        if self.membership.gone(owner):
            return ("assign", want)  # its replica stopped before its Lease could expire
        if owner in self.membership.alive() and not draining:
            return ("drain", None)
        return None

    async def _write(self, informer: Informer, obj: Obj, action: str, shard: str | None) -> None:
        meta = obj.get("metadata") or {}
        rv = meta.get("resourceVersion")
        labels = self.labels
        if action == "assign":
            patch = {
                "metadata": {
                    "resourceVersion": rv,
                    "labels": {labels.shard: shard, labels.drain: None},
                    "annotations": {labels.shard: shard},
                }
            }
        elif action == "drain":
            patch = {"metadata": {"resourceVersion": rv, "labels": {labels.drain: "true"}}}
        else:
            patch = {"metadata": {"resourceVersion": rv, "labels": {labels.drain: None}}}
        try:
            updated = await self.client.patch(
                informer.resource,
                meta.get("name", ""),
                patch,
                type=PatchType.MERGE,
                namespace=meta.get("namespace"),
            )
        except (ConflictError, NotFoundError):
            return  # changed meanwhile: decided again on the next pass
        informer.observe(updated)
        if action == "assign":
            self.assignments += 1
            old = labels.of(obj)[0]
            if old:
                self.moves += 1
            log.info("sharder: %s assigned to %s%s", key_of(obj), shard, f" (from {old})" if old else "")
        else:
            log.info("sharder: %s %s", key_of(obj), "draining" if action == "drain" else "drain called off")
