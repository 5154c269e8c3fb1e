"""Adoption: a replica reconciles a stopped shard's objects as its own, at once, under their old label.

Role: beside the controllers of a sharded replica (``_manager`` runs it while the replica holds its own
shard Lease). When a shard stops (its Lease released, or not renewed for a lease duration), the sharder
hands its objects to a live replica, the adopter, by writing the adopter into the stopped shard's Lease
(``Sharder._fence``). The adopter, seeing that Lease name it (``Membership.handed_to``):

1. takes it as its own, by a write of its own with the resourceVersion it read (``LeaderElector`` with
   ``takeover=False``: only a Lease naming it; the first renewal that lands is when it starts);
2. admits the shard's objects in its worker (``ShardGate.adopted``) and adds the shard's label
   selector to its caches of the sharded kinds (``Informer.add_selector``: a list and a watch each,
   into the same stores). When it runs the sharder (the usual adopter), the sharder's store already
   names the shard's objects: they are queued at once, and a reconcile that comes before the list
   reads its object from the API server (``ShardGate.fetch``), so nothing waits for the lists (at
   10,000 objects on a busy server, 9 s). Otherwise each is queued as the list brings it;
3. renews the Lease while any of them is still labelled for the stopped shard: the sharder relabels
   them in the background (to the adopter, or through the drain to another replica), at its own pace;
4. once none is left, takes the selector out and releases the Lease.

So a failover takes the lease duration, the listing that finds the Lease expired and one Lease write
each way (and, on an adopter not running the sharder, one list per sharded kind), not one write per
object moved.

Guarantees, as the shard's own: the adopter reconciles the shard's objects only while it holds the
shard's Lease by its own renewals; one whose renewals fail for ``renew_deadline`` stops them (its
controllers are cancelled and started again: ``AdoptionLost``) before the Lease can expire for anyone
else, and the objects are handed over again once it has. The stopped replica, if it comes back, waits
for the Lease as for any holder: until the adopter released it, with none of its objects left to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping

from kubeloop.cache import Informer, ObjectKey
from kubeloop.client import Client
from kubeloop.errors import KubeloopError
from kubeloop.manager._leader import LeaderElectionLost, LeaderElectionOptions, LeaderElector
from kubeloop.manager._sharding import Membership, ShardGate

__all__ = ["AdoptionLost", "Adoptions"]

log = logging.getLogger("kubeloop.manager.sharding")


class AdoptionLost(KubeloopError):
    """The Lease of a shard this replica adopted was lost: the controllers must stop reconciling its
    objects (all are cancelled and started again) before it can expire for another replica."""


class Adoptions:
    """The shards handed to this replica (``gate.identity``), each held while any of its objects is
    still labelled for it; run with the controllers, until cancelled."""

    def __init__(
        self,
        client: Client,
        membership: Membership,
        gate: ShardGate,
        lease: Callable[[str], LeaderElectionOptions],
        informers: Iterable[tuple[Informer, Callable[[ObjectKey], None] | None]],
        known: Callable[[str], Mapping[str, list[ObjectKey]] | None] = lambda shard: None,
    ) -> None:
        """``client``: for the Leases; ``lease``: the options of the Lease of that name, held as this
        replica; ``informers``: the caches of the sharded kinds, each with how to queue a key of it for
        reconciling when its kind is reconciled (primary), else None; ``known``: the objects sealed to
        a shard by ``group/plural``, when this replica's sharder knows them (``Sharder.sealed_to``)."""
        self.client = client
        self.membership = membership
        self.gate = gate
        self.lease = lease
        self.known = known
        unique: dict[int, tuple[Informer, list[Callable[[ObjectKey], None]]]] = {}
        for informer, enqueue in informers:  # an informer shared by kinds: queued for each reconciler
            queues = unique.setdefault(id(informer), (informer, []))[1]
            if enqueue is not None:
                queues.append(enqueue)
        self.informers = list(unique.values())

    async def run(self) -> None:
        """Adopt each shard handed to this replica (seen at every listing of the Leases) until
        cancelled; ``AdoptionLost`` when one is lost while held."""
        held: dict[str, asyncio.Task[None]] = {}
        async with asyncio.TaskGroup() as group:
            while True:
                self.membership.listed.clear()
                for shard in self.membership.handed_to(self.gate.identity):
                    if shard not in held or held[shard].done():
                        held[shard] = group.create_task(self._adopt(shard), name=f"adopt {shard}")
                await self.membership.listed.wait()

    async def _adopt(self, shard: str) -> None:
        elector = LeaderElector(self.client, self.lease(f"{self.membership.prefix}{shard}"))
        started = False

        async def hold() -> None:
            nonlocal started
            started = True
            await self._hold(shard)

        try:
            await elector.run(hold)
        except LeaderElectionLost as lost:
            if started:
                raise AdoptionLost(f"shard {shard}'s objects: {lost}") from lost
            log.info("%s: shard %s not adopted: %s", self.gate.identity, shard, lost)

    async def _hold(self, shard: str) -> None:
        """Reconcile ``shard``'s objects until none is labelled for it; then let the elector release."""
        labels = self.gate.labels
        mine, theirs = labels.selector(self.gate.identity), labels.selector(shard)
        selectors = [
            (informer, (informer.options.label_selector or "").replace(mine, theirs), bool(queues))
            for informer, queues in self.informers
        ]
        self.gate.adopted.add(shard)
        unlisted: set[tuple[str, ObjectKey]] = set()
        try:
            # What the sharder knows is queued before the lists start (neither awaits, so neither
            # waits for the other), so a fault in it leaves no list running; the lists run in a task
            # group, which cancels and awaits them on every way out.
            known = self.known(shard)
            if known is not None:
                self._queue(known, unlisted)
                log.info(
                    "%s: adopted shard %s: %d object(s), reconciled here (known to its sharder; listing)",
                    self.gate.identity,
                    shard,
                    len(unlisted),
                )
            async with asyncio.TaskGroup() as listing:
                for informer, selector, _ in selectors:
                    listing.create_task(informer.add_selector(selector))
            self.gate.unlisted -= unlisted
            left = self._left(selectors, theirs)
            if known is None:
                log.info(
                    "%s: adopted shard %s: %d object(s), reconciled here", self.gate.identity, shard, left
                )
            while left:
                await self.membership.clock.sleep(1.0)
                left = self._left(selectors, theirs)
            log.info("%s: shard %s: every object relabelled; releasing its Lease", self.gate.identity, shard)
        finally:
            self.gate.adopted.discard(shard)
            self.gate.unlisted -= unlisted
            await asyncio.gather(*(informer.remove_selector(s) for informer, s, _ in selectors))

    def _queue(self, known: Mapping[str, list[ObjectKey]], queued: set[tuple[str, ObjectKey]]) -> None:
        """Queue each object of ``known`` for the reconcilers of its kind, marked unlisted for the gate
        (a reconcile before the list reads it from the API server); each is added to ``queued`` as it
        is marked, so that a fault part way leaves no mark the caller does not know of."""
        for informer, queues in self.informers:
            kind = f"{informer.resource.group}/{informer.resource.plural}"
            for key in known.get(kind, ()) if queues else ():
                if (kind, key) not in queued:
                    queued.add((kind, key))
                    self.gate.unlisted.add((kind, key))
                    for enqueue in queues:
                        enqueue(key)

    @staticmethod
    def _left(selectors: list[tuple[Informer, str, bool]], theirs: str) -> int:
        """How many objects of the reconciled kinds are still labelled for the shard."""
        return sum(len(informer.list(label_selector=theirs)) for informer, _, primary in selectors if primary)
