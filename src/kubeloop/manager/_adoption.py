"""Adoption: a replica reconciles a stopped shard's objects as its own, at once, under their old label.

Role: beside the controllers of a sharded replica (``_manager`` runs it while the replica holds its own
shard Lease). When a shard stops (its Lease released, or not renewed for a lease duration), the sharder
hands its objects to a live replica, the adopter, by writing the adopter into the stopped shard's Lease
(``Sharder._fence``). The adopter, seeing that Lease name it (``Membership.handed_to``):

1. takes it as its own, by a write of its own with the resourceVersion it read (``LeaderElector`` with
   ``takeover=False``: only a Lease naming it; the first renewal that lands is when it starts);
2. adds the shard's label selector to its caches of the sharded kinds (``Informer.add_selector``: a
   list and a watch each, into the same stores) and admits the shard's objects in its worker
   (``ShardGate.adopted``): they are listed, so each is reconciled at once, whatever their number;
3. renews the Lease while any of them is still labelled for the stopped shard: the sharder relabels
   them in the background (to the adopter, or through the drain to another replica), at its own pace;
4. once none is left, takes the selector out and releases the Lease.

So a failover takes the lease duration, the listing that finds the Lease expired, one Lease write
each way and one list per sharded kind, not one write per object moved.

Guarantees, as the shard's own: the adopter reconciles the shard's objects only while it holds the
shard's Lease by its own renewals; one whose renewals fail for ``renew_deadline`` stops them (its
controllers are cancelled and started again: ``AdoptionLost``) before the Lease can expire for anyone
else, and the objects are handed over again once it has. The stopped replica, if it comes back, waits
for the Lease as for any holder: until the adopter released it, with none of its objects left to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from kubeloop.cache import Informer
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
        informers: Iterable[tuple[Informer, bool]],
    ) -> None:
        """``client``: for the Leases; ``lease``: the options of the Lease of that name, held as this
        replica; ``informers``: the caches of the sharded kinds, each with whether it is of a
        reconciled (primary) kind."""
        self.client = client
        self.membership = membership
        self.gate = gate
        self.lease = lease
        unique: dict[int, tuple[Informer, bool]] = {}
        for informer, primary in informers:  # an informer shared by kinds: primary if it is one's
            unique[id(informer)] = (informer, primary or unique.get(id(informer), (informer, False))[1])
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
            (informer, (informer.options.label_selector or "").replace(mine, theirs), primary)
            for informer, primary in self.informers
        ]
        self.gate.adopted.add(shard)
        try:
            await asyncio.gather(*(informer.add_selector(s) for informer, s, _ in selectors))
            left = self._left(selectors, theirs)
            log.info("%s: adopted shard %s: %d object(s), reconciled here", self.gate.identity, shard, left)
            while left:
                await self.membership.clock.sleep(1.0)
                left = self._left(selectors, theirs)
            log.info("%s: shard %s: every object relabelled; releasing its Lease", self.gate.identity, shard)
        finally:
            self.gate.adopted.discard(shard)
            await asyncio.gather(*(informer.remove_selector(s) for informer, s, _ in selectors))

    @staticmethod
    def _left(selectors: list[tuple[Informer, str, bool]], theirs: str) -> int:
        """How many objects of the reconciled kinds are still labelled for the shard."""
        return sum(len(informer.list(label_selector=theirs)) for informer, _, primary in selectors if primary)
