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
  sharder assign it to the new shard.
- **Failover by adoption.** The objects of a shard that stopped (its Lease released, or not renewed
  for ``lease_duration`` on the sharder's clock: that shard stopped reconciling before its Lease could
  expire) are handed over whole: the sharder fences its Lease to a live replica, the adopter (itself
  when it is live), with the ``resourceVersion`` it listed, so a shard that renewed just after the
  listing (it is alive) keeps them. The adopter takes the Lease by a write of its own, adds the
  stopped shard's label to its caches' selectors and reconciles those objects as its own, under their
  old label, while it holds that Lease (``_adoption``); a replica coming back with that identity
  waits for it as for any holder. Meanwhile the sharder relabels them in the background: to the
  adopter directly (it reconciles them under either label), or through the drain to where the ring
  puts them; once none is left, the adopter releases the Lease. So a failover takes the lease
  duration and a few requests, whatever the number of objects. The label writes go through a client
  of their own, ``concurrency`` at a time (and ``relabel_qps`` a second), not behind the reconciles'
  writes. Every write carries the ``resourceVersion`` it was decided on, and one decided on who holds
  a Lease lands while that Lease is valid on the sharder's clock, or not at all.

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
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from kubeloop.cache import Indexer, Informer, InformerEvent, InformerOptions, Obj, ObjectKey, key_of
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
from kubeloop.manager._record import Record, ShardLabels, State
from kubeloop.manager._ring import place

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
    relabel_qps: float | None = None
    """Label writes of the sharder a second (``None``: only ``concurrency`` bounds them). A stopped
    shard's objects are adopted whole, so relabelling them is background work: this keeps it from
    crowding the reconciles' requests out of the API server."""
    clock: Clock = field(default_factory=RealClock)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", self.identity):
            raise ValueError(
                f"shard identity {self.identity!r} must be a DNS label (a label value and a name)"
            )


class ShardGate:
    """A replica's side of the hand-off: whether a reconcile may run on an object, and the drain's
    acknowledgement. Called by the controller's worker holding the object's key."""

    def __init__(self, client: Client, labels: ShardLabels, identity: str) -> None:
        self.client = client
        self.labels = labels
        self.identity = identity
        self.adopted: set[str] = set()
        """Shards whose objects this replica reconciles as its own while it holds their Lease
        (``_adoption``): a stopped shard's, handed over by the sharder."""
        self.unlisted: set[tuple[str, ObjectKey]] = set()
        """Objects of adopted shards, known from this replica's sharder, that its caches have not
        listed yet (``_adoption``): a reconcile reads each from the API server (``fetch``) rather than
        wait for the list. Keyed by the resource's ``group/plural``."""

    async def fetch(self, informer: Informer, key: ObjectKey) -> Obj | None:
        """``key`` of ``informer``'s resource read from the API server (and recorded in the informer),
        when it is an adopted shard's object not yet listed; else None (it is not there)."""
        resource = informer.resource
        if (f"{resource.group}/{resource.plural}", key) not in self.unlisted:
            return None
        try:
            obj = await self.client.get(resource, key.name, namespace=key.namespace or None)
        except NotFoundError:
            return None
        informer.observe(obj)
        return obj

    async def admit(self, resource: ApiResource, obj: Obj, informer: Informer | None = None) -> bool:
        """Whether to reconcile ``obj`` now: assigned and sealed to this replica (or to a shard it
        adopted) and not draining. A draining object is let go here (label, seal and drain removed, at
        the resourceVersion read)."""
        label, seal, draining = self.labels.of(obj)
        if label is None or label != seal or (label != self.identity and label not in self.adopted):
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
        self.listed = asyncio.Event()
        """Set after every listing, and when the sharder hands a Lease over (adoptions clear it)."""
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
                self.listed.set()
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
        self.listed.set()

    def lease(self, identity: str) -> Obj | None:
        """``identity``'s shard Lease as last listed (or written by the sharder)."""
        return self._leases.get(identity)

    def next_look(self, period: float) -> float:
        """Seconds until the next listing: ``period``, or less when a live Lease would expire sooner
        (the listing is then due the moment it expires, if it was not renewed meanwhile)."""
        now = self.clock.now()
        expiries = [
            changed + duration - now
            for spec, changed, duration in self._seen.values()
            if spec.get("holderIdentity") and now - changed < duration
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

    def holder(self, identity: str) -> str | None:
        """Who may reconcile the objects assigned to ``identity`` now: the holder of its Lease while
        that is valid (changed less than its duration ago on this clock): its own replica, or the one
        it was handed to when it stopped; ``None`` when nobody may."""
        seen = self._seen.get(identity)
        if seen is None:
            return None
        spec, changed, duration = seen
        holder = spec.get("holderIdentity") or None
        return holder if holder is not None and self.clock.now() - changed < duration else None

    def valid_for(self, identity: str) -> float:
        """Seconds until ``identity``'s Lease, as last seen change, expires on this clock (0: not valid)."""
        seen = self._seen.get(identity)
        if seen is None or not seen[0].get("holderIdentity"):
            return 0.0
        return max(0.0, seen[1] + seen[2] - self.clock.now())

    def orphaned(self, identity: str) -> bool:
        """Whether nobody may reconcile the objects assigned to ``identity``: its Lease released or
        not renewed for its duration (its holder stopped reconciling before that), or never seen in
        ``lease_duration`` of watching."""
        if identity not in self._seen:
            return self.clock.now() - self.started >= self.lease_duration
        return self.holder(identity) is None

    def handed_to(self, identity: str) -> list[str]:
        """The other shards whose Lease names ``identity`` as holder, as last listed (handed over)."""
        return sorted(
            shard
            for shard, (spec, _, _) in self._seen.items()
            if shard != identity and spec.get("holderIdentity") == identity
        )


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
        # Its informers' stores are compact records (``Record``: ~190 bytes an object, not ~570) with
        # no namespace or owner index (nothing reads them so); what they list, and the own writes they
        # keep until the watch brings them back, is the assignment alone, its values the record's.
        scope = InformerOptions(metadata_only=True, intern_values=False, default_indexes=False)
        self.records: list[tuple[Informer, Record]] = []
        for resource, namespaces in resources:
            record = Record(resource, self.labels)
            store = replace(scope, namespaces=namespaces, transform=record.slim, store=_given(record))
            self.records.append((Informer(client, resource, store), record))
        self.informers = [informer for informer, _ in self.records]
        self._dirty = asyncio.Event()
        self._generation = 0
        """Counts the objects added or deleted (``_changed``)."""
        self._placed: tuple[tuple[str, ...], int, list[dict[str, dict[str, str]]]] | None = None
        """The ring's last answer (for each record: namespace -> name -> shard, the strings the
        record's own), with the live shards and the generation of the objects it was computed for: the
        ring depends only on those two sets."""
        self.moves = 0
        self.assignments = 0

    def _changed(self, event: InformerEvent) -> None:
        """An object added or deleted, or its assignment changed, calls for a pass; a write that left
        it alone (a status, a spec, another label: most of the events) does not. That it changed is
        also seen at the latest by the pass every retry period, as a write of its refused (409) is."""
        if event.type != "update":
            self._generation += 1
        if (
            event.type != "update"
            or event.old is None
            or self.labels.of(event.obj) != self.labels.of(event.old)
        ):
            self._dirty.set()

    @property
    def synced(self) -> bool:
        """Whether every sharded kind has been listed (the sharder knows every object)."""
        return all(informer.synced for informer in self.informers)

    def sealed_to(self, shard: str) -> dict[str, list[ObjectKey]]:
        """The objects sealed to ``shard`` as the sharder last saw them, by ``group/plural``: a stopped
        shard's, which its adopter (this replica) reconciles before its caches have listed them."""
        found: dict[str, list[ObjectKey]] = {}
        for informer, record in self.records:
            res = informer.resource
            entries = self._entries(informer, record)
            keys = [ObjectKey(ns, name) for ns, name, _, state in entries if state[1] == shard]
            found.setdefault(f"{res.group}/{res.plural}", []).extend(keys)
        return found

    def _entries(self, informer: Informer, record: Record) -> Iterator[tuple[str, str, str | None, State]]:
        """(namespace, name, resourceVersion, state) of each object of ``record``, the sharder's own
        writes that the watch has not brought back yet as written (``Informer.observe``)."""
        written: dict[str, dict[str, Obj]] = {}
        for key in informer.written():
            obj = informer.get(*key)
            if obj is not None:
                written.setdefault(key.namespace, {})[key.name] = obj
        for entry in record.items():
            if entry[1] not in written.get(entry[0], ()):
                yield entry
        for ns, named in written.items():
            for name, obj in named.items():
                yield ns, name, (obj.get("metadata") or {}).get("resourceVersion"), self.labels.of(obj)

    def _desired(self, generation: int) -> list[dict[str, dict[str, str]]]:
        """The ring's shard for each object (of ``generation``) over the live shards, by record,
        namespace and name: computed again only when the live shards changed or an object came or
        went (a pass every retry period otherwise hashed every object each time)."""
        alive = tuple(self.membership.alive())
        if self._placed is None or self._placed[:2] != (alive, generation):
            self._placed = None  # the old answer is not kept beside the new one while it is computed
            identities: dict[str, tuple[int, str, str]] = {}
            for i, (informer, record) in enumerate(self.records):
                res = informer.resource
                for ns, name, _, _ in self._entries(informer, record):
                    identities[f"{res.group}/{res.kind}/{ObjectKey(ns, name)}"] = (i, ns, name)
            placed: list[dict[str, dict[str, str]]] = [{} for _ in self.records]
            for (i, ns, name), shard in place(identities, alive, self.options.epsilon):
                placed[i].setdefault(ns, {})[name] = shard
            self._placed = (alive, generation, placed)
        return self._placed[2]

    async def run(self) -> None:
        """Watch and assign until cancelled."""
        for informer in self.informers:
            informer.add_handler(self._changed)
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
        """One pass: the shards nobody may reconcile handed over, then every object's assignment
        compared with the ring's, and the writes it takes."""
        await self._hand_over(
            state for informer, record in self.records for _, _, _, state in self._entries(informer, record)
        )
        desired = self._desired(self._generation)  # of the objects read next (no await in between)
        writes = []
        for (informer, record), placed in zip(self.records, desired, strict=True):
            for ns, name, version, state in self._entries(informer, record):
                action = self._decide(state, placed.get(ns, {}).get(name))
                if action is not None:
                    writes.append((informer, ObjectKey(ns, name), version, state, action))
        # ``concurrency`` writers take the writes in turn: not a task per write, which for the first
        # pass over 10,000 unassigned objects would be 10,000 tasks alive at once (their frames the
        # replica's high-water mark, kept by the allocator after they are gone).
        pending = iter(writes)

        async def writer() -> None:
            for informer, key, version, state, action in pending:
                await self._write(informer, key, version, state, *action)

        await asyncio.gather(*(writer() for _ in range(min(self.options.concurrency, len(writes)))))

    async def _hand_over(self, states: Iterable[State]) -> None:
        """Hand each shard that objects are sealed to and that nobody may reconcile (its replica
        stopped: Lease released or expired) to a live one, the adopter, by fencing its Lease to it
        (``_fence``): the adopter then reconciles them under their old label at once
        (``_adoption``), and they are relabelled in the background (``_decide``). The adopter is this
        replica when it is live (no listing to wait for), else the live shard holding fewest objects."""
        alive = self.membership.alive()
        if not alive:
            return
        load: Counter[str | None] = Counter()
        orphans: set[str] = set()
        for _, seal, _ in states:
            if seal is None:
                continue
            if self.membership.orphaned(seal):
                orphans.add(seal)
            else:
                load[self.membership.holder(seal)] += 1
        for shard in sorted(orphans):
            me = self.options.identity
            adopter = me if me in alive else min(alive, key=lambda a: (load[a], a))
            if await self._fence(shard, adopter):
                load[adopter] += 1

    async def _fence(self, identity: str, adopter: str) -> bool:
        """Write ``adopter`` into the Lease of ``identity``, found with nobody to reconcile its
        objects, with the resourceVersion listed: whether it landed. A write refused (409) means its
        replica renewed since the listing: it is alive, and nothing is handed over. The adopter renews
        the Lease while it holds the objects, so their replica, if it comes back, waits (as for any
        holder) until the adopter has let them all go and released it; an adopter that stops renewing
        loses them as a shard would its own (they are handed over again once the Lease expires).

        Without the resourceVersion, a shard whose renewals failed for a lease duration (so found
        orphaned) and then landed one just after the listing would reconcile its objects while the
        adopter did."""
        lease = self.membership.lease(identity)
        spec = dict((lease or {}).get("spec") or {})
        meta = (lease or {}).get("metadata") or {}
        name = meta.get("name") or f"{self.membership.prefix}{identity}"
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec.update(
            holderIdentity=adopter,
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
            log.info("sharder: shard %s not handed over (%s): it renewed", identity, exc.reason)
            return False
        self.membership.observe([written])
        log.info("sharder: shard %s stopped; its objects handed to %s (its Lease fenced)", identity, adopter)
        return True

    def _decide(self, state: State, want: str | None) -> tuple[str, str | None, str | None] | None:
        """What to write on an object in ``state``: ("assign", shard, relied), ("drain", None, None),
        ("undrain", None, None), or nothing; ``relied``: the shard whose Lease holder the decision
        rests on (the write must land while that Lease is valid)."""
        if want is None:
            return None
        label, seal, draining = state
        if label is None and seal is None:
            return ("assign", want, None)
        if label != seal:
            # Edited by hand (the seal is the sharder's record; a replica needs both to reconcile, so
            # nobody starts on it meanwhile, but one started before may run): back to whoever may
            # reconcile the sealed shard's objects, else (none sealed) onwards.
            if seal is None:
                return ("assign", want, None)
            holder = self.membership.holder(seal)
            return ("assign", holder, seal) if holder is not None else None
        assert label is not None
        holder = self.membership.holder(label)
        if holder is None:
            return None  # handed over first (``_hand_over``)
        if holder == want:
            if label != want:
                return ("assign", want, label)  # adopted: the label follows the adopter, which keeps it
            return ("undrain", None, None) if draining else None
        return None if draining else ("drain", None, None)

    async def _write(
        self,
        informer: Informer,
        key: ObjectKey,
        rv: str | None,
        state: State,
        action: str,
        shard: str | None,
        relied: str | None,
    ) -> None:
        """``action`` on the object ``key``, at the resourceVersion ``rv`` it was decided on in ``state``."""
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
        # A move that rests on who holds a Lease lands while that Lease is valid, or not at all: later,
        # the objects may have been handed to another replica meanwhile.
        bound = self.membership.valid_for(relied) if relied is not None else None
        try:
            async with asyncio.timeout(bound):
                updated = await self.client.patch(
                    informer.resource, key.name, patch, type=PatchType.MERGE, namespace=key.namespace or None
                )
        except ConflictError:
            self._dirty.set()  # changed meanwhile (an event that may not call for a pass): decide again
            return
        except (NotFoundError, TimeoutError):
            return  # deleted, or too late: decided again on the next pass
        informer.observe(updated)
        if action == "assign":
            self.assignments += 1
            old = state[0]
            if old:
                self.moves += 1
            log.info("sharder: %s assigned to %s%s", key, shard, f" (from {old})" if old else "")
        else:
            log.info("sharder: %s %s", key, "draining" if action == "drain" else "drain called off")


def _given(record: Record) -> Callable[[], Indexer]:
    """``InformerOptions.store`` for the informer that fills ``record``."""
    return lambda: record
