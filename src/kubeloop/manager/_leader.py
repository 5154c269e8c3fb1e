"""Lease-based leader election: at most one replica of an operator runs the leader-only work.

Role: the manager runs its controllers inside ``LeaderElector.run``; replicas that are not leading
keep polling the ``coordination.k8s.io/v1`` ``Lease`` and take over when the leader stops renewing
it. The algorithm is client-go's ``leaderelection`` with a ``LeaseLock``:

- Every attempt reads the Lease. If it is missing it is created; if another identity holds it, it is
  taken only once ``leaseDurationSeconds`` have passed *on the local clock* since this replica last
  saw the Lease's spec change (remote timestamps are never compared with local time, so clock skew
  between machines does not matter; only the rate of the clocks does).
- While another replica holds the Lease, a replica reads it every half retry period and makes its
  next attempt the moment the Lease it observed expires, so a crashed leader is replaced within
  ``lease_duration`` plus half a jittered retry period (how late it can see the last renewal) and
  one request; client-go polls at the retry period with up to 1.2x jitter, after the expiry too.
- Writes are ``replace`` with the ``resourceVersion`` that was read: a ``ConflictError`` means
  another replica wrote first, and this attempt lost the race, unless the Lease now holds this very
  write (its answer was lost and the client's retry met the 409): a write that failed is read
  back, and one that landed counts (otherwise, under connections cut every second, a leader whose
  renewals all landed lost its Lease).
- The leader renews every ``retry_period``. If ``renew_deadline`` passes since the last renewal that
  succeeded (counted from when that request was sent) without another success, or the Lease shows
  another holder, leadership is lost: the leader-only work is cancelled and ``run`` raises
  ``LeaderElectionLost``.
- When leading ends gracefully (``run`` cancelled or the work returned) and ``release_on_cancel`` is
  set, the Lease is released as client-go does (empty ``holderIdentity``, ``leaseDurationSeconds=1``)
  so a waiting replica takes over on its next poll instead of after a whole lease duration.

Guarantees: ``on_started_leading`` runs only after this replica's write of the Lease succeeded, and
is cancelled (and awaited) before ``run`` returns or raises. ``renew_deadline < lease_duration``
leaves the old leader ``lease_duration - renew_deadline`` seconds to stop its work before any other
replica can acquire the Lease.

Caveats: safety rests on ``renew_deadline`` being shorter than ``lease_duration`` by more than the
time the work takes to stop, and on clocks that run at about the same rate. ``leaseDurationSeconds``
is an integer on the server: ``lease_duration`` is rounded up to whole seconds there (at least 1).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from kubeloop.client import Client

from kubeloop.client.errors import AlreadyExistsError, ConflictError, NotFoundError
from kubeloop.clock import Clock, RealClock
from kubeloop.errors import KubeloopError

__all__ = [
    "LeaderElectionLost",
    "LeaderElectionOptions",
    "LeaderElector",
    "LeaderMetrics",
    "LeaseClient",
    "default_identity",
]

log = logging.getLogger("kubeloop.manager.leader")

LEASE = "coordination.k8s.io/v1/Lease"
# Each wait between attempts is ``retry_period * (1 + random() * JITTER)``, so replicas spread out.
JITTER = 0.2

Obj = dict[str, Any]


def default_identity() -> str:
    """``<hostname>_<random>``: unique per process even for two replicas on one host."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class LeaderElectionOptions:
    """How to elect a leader; durations are seconds on ``clock``.

    Constraints (checked): ``lease_duration > renew_deadline > retry_period * (1 + JITTER) > 0``.
    ``lease_duration > renew_deadline`` is the fencing: a leader that cannot renew stops its work
    before the Lease can expire for any other replica.
    ``lease_name`` and ``lease_namespace`` may be left empty in ``ManagerOptions.leader_election``
    (the manager names the Lease ``<name>-leader`` in its client's namespace); an elector needs both.
    """

    lease_name: str = ""
    lease_namespace: str = ""
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    """How long non-leaders wait after the last change they saw before taking the Lease."""
    renew_deadline: float = 10.0
    """How long the leader keeps trying to renew before it gives up leading."""
    retry_period: float = 2.0
    """The interval between attempts to acquire or renew."""
    release_on_cancel: bool = True
    """Release the Lease when leading ends gracefully, for an immediate hand-over."""
    takeover: bool = True
    """Take the Lease from another holder once it expired. ``False``: take only a Lease that names this
    identity already, written by another on its behalf (a sharder handing a stopped shard's objects
    over: ``kubeloop.manager._adoption``); otherwise ``run`` raises ``LeaderElectionLost`` at once."""
    exit_on_loss: bool = False
    """For the manager: end ``run()`` with ``LeaderElectionLost`` when the lease is lost (the process
    exits, as controller-runtime's does) instead of stopping the controllers and campaigning again."""
    clock: Clock = field(default_factory=RealClock)

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("identity must not be empty")
        if self.retry_period <= 0:
            raise ValueError(f"retry_period must be > 0, got {self.retry_period}")
        if self.renew_deadline <= self.retry_period * (1 + JITTER):
            raise ValueError(
                f"renew_deadline ({self.renew_deadline}) must exceed retry_period * {1 + JITTER} "
                f"({self.retry_period * (1 + JITTER)})"
            )
        if self.lease_duration <= self.renew_deadline:
            raise ValueError(
                f"lease_duration ({self.lease_duration}) must exceed renew_deadline ({self.renew_deadline})"
            )


class LeaderElectionLost(KubeloopError):
    """This replica was leading and no longer is (renewal failed or another replica took over)."""


class LeaseClient(Protocol):
    """The verbs the elector needs; ``kubeloop.client.Client`` is one."""

    async def get(self, ref: str, name: str, *, namespace: str | None = None) -> Obj: ...

    async def create(self, obj: Obj) -> Obj: ...

    async def replace(self, obj: Obj) -> Obj: ...


class LeaderMetrics(Protocol):
    """Told of every change of leading (``leader_election_master_status``); must not raise."""

    def leader_status(self, name: str, leading: bool) -> None: ...


class LeaderElector:
    """Elects this replica leader through a Lease, and runs leader-only work while it leads.

    Use::

        elector = LeaderElector(client, LeaderElectionOptions("my-operator", "ops"))
        try:
            await elector.run(run_controllers)   # returns when run_controllers returns
        except LeaderElectionLost:
            ...                                  # run_controllers was cancelled; run again to campaign

    Cancel the task running ``run`` to stop gracefully: the work is cancelled, then the Lease is
    released (when ``release_on_cancel``). Caller duty: one ``run`` at a time per elector.
    """

    def __init__(
        self, client: LeaseClient, options: LeaderElectionOptions, *, metrics: LeaderMetrics | None = None
    ) -> None:
        if not options.lease_name or not options.lease_namespace:
            raise ValueError("leader election needs a lease_name and a lease_namespace")
        self.options = options
        self._client = client
        self._clock = options.clock
        self._metrics = metrics
        self._lease_seconds = max(1, math.ceil(options.lease_duration))
        self._running = False
        self._leading = asyncio.Event()
        self._observed_spec: Obj | None = None
        self._observed_time = 0.0
        self._last_renew = 0.0
        self._leader_identity: str | None = None
        if metrics is not None:
            metrics.leader_status(options.lease_name, False)

    @property
    def identity(self) -> str:
        return self.options.identity

    @property
    def is_leader(self) -> bool:
        """Whether this replica leads now (its last renewal is within ``renew_deadline``)."""
        return self._leading.is_set()

    @property
    def leader_identity(self) -> str | None:
        """The holder of the Lease as last observed (this replica's identity when it leads), or
        ``None`` when nobody holds it or it has not been read yet."""
        return self._leader_identity

    async def wait_until_leading(self) -> None:
        """Return once this replica leads (at once if it does already)."""
        await self._leading.wait()

    async def run(self, on_started_leading: Callable[[], Awaitable[None]]) -> None:
        """Acquire the Lease, then run ``on_started_leading()`` while renewing it.

        Returns when the work returns (after releasing the Lease); re-raises what the work raises;
        raises ``LeaderElectionLost`` when leadership is lost (the work is cancelled first). On
        cancellation the work is cancelled and the Lease released before ``CancelledError`` goes on.
        """
        if self._running:
            raise RuntimeError("LeaderElector.run is already running")
        self._running = True
        try:
            try:
                await self._acquire()
            except asyncio.CancelledError:
                # An acquiring write may have landed just as we were cancelled: release if ours.
                await self._release_if_wanted()
                raise
            await self._lead(on_started_leading)
        finally:
            self._running = False
            self._set_leading(False)

    # -- the loops ---------------------------------------------------------------------------

    async def _acquire(self) -> None:
        opts = self.options
        log.info("%s: trying to acquire lease %s/%s", opts.identity, opts.lease_namespace, opts.lease_name)
        while True:
            if await self._attempt(self._clock.now() + opts.renew_deadline):
                self._set_leading(True)
                log.info("%s: acquired lease %s/%s", opts.identity, opts.lease_namespace, opts.lease_name)
                return
            if not opts.takeover:
                raise LeaderElectionLost(
                    f"{opts.identity}: lease {opts.lease_namespace}/{opts.lease_name} is not handed to it"
                    f" (held by {self._leader_identity or 'nobody'})"
                )
            await self._clock.sleep(self._until_next_attempt())

    async def _lead(self, on_started_leading: Callable[[], Awaitable[None]]) -> None:
        work = asyncio.create_task(_call(on_started_leading), name=f"leader:{self.options.lease_name}")
        renew = asyncio.create_task(self._renew(), name=f"leader-renew:{self.options.lease_name}")
        try:
            await asyncio.wait({work, renew}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            self._set_leading(False)
            await _cancel_and_wait(work, renew)
            await self._release_if_wanted()
            raise
        if renew.done():
            # Renewing ended: leadership is lost (or the renew loop failed unexpectedly).
            self._set_leading(False)
            await _cancel_and_wait(work)
            renew.result()  # re-raise an unexpected error of the renew loop
            raise LeaderElectionLost(
                f"{self.identity}: lost lease {self.options.lease_namespace}/{self.options.lease_name}"
            )
        # The work ended first: stop renewing, then hand the Lease over. A cancel meanwhile (the
        # manager, stopping, cancels what runs the elector once the controllers returned) waits for
        # the hand-over, the release bounded by renew_deadline, as a cancel during the work does:
        # cut short, it left the Lease held, and the replica's objects waited out a lease duration.
        self._set_leading(False)
        handover = asyncio.ensure_future(self._hand_over(renew))
        try:
            await asyncio.shield(handover)
        except asyncio.CancelledError:
            await handover
            raise
        finally:
            work.result()

    async def _hand_over(self, renew: asyncio.Task[None]) -> None:
        await _cancel_and_wait(renew)
        await self._release_if_wanted()

    async def _renew(self) -> None:
        """Renew until leadership is lost; return then."""
        opts = self.options
        while True:
            await self._clock.sleep(self._jittered())
            while True:
                deadline = self._last_renew + opts.renew_deadline
                if self._clock.now() >= deadline:
                    log.warning(
                        "%s: failed to renew lease %s/%s within %.1fs",
                        opts.identity,
                        opts.lease_namespace,
                        opts.lease_name,
                        opts.renew_deadline,
                    )
                    return
                if await self._attempt(deadline):
                    break
                holder = self._leader_identity
                if holder is not None and holder != opts.identity:
                    log.warning(
                        "%s: lease %s/%s is now held by %s", opts.identity, opts.lease_namespace,
                        opts.lease_name, holder,
                    )  # fmt: skip
                    return
                await self._clock.sleep(min(opts.retry_period, max(0.0, deadline - self._clock.now())))

    # -- one attempt -------------------------------------------------------------------------

    async def _attempt(self, deadline: float) -> bool:
        """``_try_acquire_or_renew`` cut off at ``deadline`` on the clock; API failures are a ``False``."""
        attempt = asyncio.create_task(self._try_acquire_or_renew())
        current = asyncio.current_task()
        cancelling = current.cancelling() if current is not None else 0
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            attempt.cancel()

        timer = self._clock.call_at(deadline, expire)
        try:
            return await attempt
        except asyncio.CancelledError:
            if not expired or (current is not None and current.cancelling() > cancelling):
                raise  # we were cancelled ourselves
            log.info("%s: lease request did not finish in time", self.identity)
            return False
        except KubeloopError as e:
            log.warning("%s: lease request failed: %s", self.identity, e)
            return False
        finally:
            timer.cancel()

    async def _try_acquire_or_renew(self) -> bool:
        opts = self.options
        sent = self._clock.now()
        stamp = _micro_time()
        try:
            lease = await self._client.get(LEASE, opts.lease_name, namespace=opts.lease_namespace)
        except NotFoundError:
            spec = self._spec(stamp, acquire_time=stamp, transitions=0)
            obj = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": opts.lease_name, "namespace": opts.lease_namespace},
                "spec": spec,
            }
            try:
                created = await self._client.create(obj)
            except KubeloopError as exc:
                if not await self._landed(spec):
                    if isinstance(exc, AlreadyExistsError):
                        return False  # another replica created it first
                    raise
                created = obj
            self._observe(created.get("spec") or spec)
            self._last_renew = sent
            return True

        old: Obj = lease.get("spec") or {}
        self._observe(old)
        holder = old.get("holderIdentity") or ""
        now = self._clock.now()
        if holder != opts.identity and not opts.takeover:
            return False  # not handed to this replica
        if holder and holder != opts.identity and self._observed_valid(now):
            return False  # held by another replica and not expired by our clock
        transitions = int(old.get("leaseTransitions") or 0)
        if holder == opts.identity and self.is_leader:  # a renewal keeps acquireTime and the count
            spec = self._spec(stamp, acquire_time=old.get("acquireTime") or stamp, transitions=transitions)
        else:
            spec = self._spec(stamp, acquire_time=stamp, transitions=transitions + 1)
        try:
            updated = await self._client.replace({**lease, "spec": spec})
        except KubeloopError as exc:
            # The write may have landed with its answer lost (a connection reset after the server
            # applied it; the client's retry then meets 409): the Lease then holds it, and it counts.
            if not await self._landed(spec):
                if isinstance(exc, ConflictError):
                    return False  # another replica wrote first
                raise
            updated = {"spec": spec}
        self._observe(updated.get("spec") or spec)
        self._last_renew = sent
        return True

    async def _landed(self, spec: Obj) -> bool:
        """Whether the Lease holds ``spec``, a write of ours whose answer did not come (its holder and
        renewTime, this replica's identity and a microsecond stamp, name that one write)."""
        opts = self.options
        try:
            lease = await self._client.get(LEASE, opts.lease_name, namespace=opts.lease_namespace)
        except KubeloopError:
            return False
        now: Obj = lease.get("spec") or {}
        mine = all(now.get(k) == spec[k] for k in ("holderIdentity", "renewTime"))
        if mine:
            log.info("%s: lease write landed though its answer was lost", self.identity)
        return mine

    def _spec(self, renew_time: str, *, acquire_time: str, transitions: int) -> Obj:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self._lease_seconds,
            "acquireTime": acquire_time,
            "renewTime": renew_time,
            "leaseTransitions": transitions,
        }

    def _observe(self, spec: Obj) -> None:
        """Note the Lease's spec; the observed time moves only when the spec changed."""
        if spec != self._observed_spec:
            self._observed_spec = spec
            self._observed_time = self._clock.now()
        holder = spec.get("holderIdentity") or None
        if holder != self._leader_identity:
            log.info("%s: lease %s is held by %s", self.identity, self.options.lease_name, holder or "nobody")
            self._leader_identity = holder

    def _observed_valid(self, now: float) -> bool:
        return self._observed_expiry() > now

    def _observed_expiry(self) -> float:
        """When the Lease as last observed expires on this replica's clock: the lease duration after
        this replica saw its spec change (client-go's observedTime)."""
        spec = self._observed_spec or {}
        seconds = spec.get("leaseDurationSeconds") or self._lease_seconds
        return self._observed_time + float(seconds)

    def _until_next_attempt(self) -> float:
        """How long a replica that is not leading waits before its next attempt.

        While another replica holds the Lease, it reads it every half retry period, so it notes the
        holder's last renewal soon after it was written (the lease duration counts from then), and
        it tries again the moment that Lease expires on its clock instead of at the first read
        after: a crashed leader is replaced within the lease duration plus half a jittered retry
        period and a request. Otherwise (nobody holds it, or the attempt failed) it waits a retry
        period.
        """
        holder = self._leader_identity
        if holder is None or holder == self.identity:
            return self._jittered()
        wait = self._jittered() / 2
        until_expiry = self._observed_expiry() - self._clock.now()
        return min(wait, until_expiry) if until_expiry > 0 else wait

    # -- release -----------------------------------------------------------------------------

    async def _release_if_wanted(self) -> None:
        """Give up the Lease if it is ours, bounded by ``renew_deadline``; failures are logged."""
        if not self.options.release_on_cancel:
            return
        try:
            async with asyncio.timeout(self.options.renew_deadline):
                await self._release()
        except (KubeloopError, TimeoutError) as e:
            log.warning("%s: failed to release lease %s: %s", self.identity, self.options.lease_name, e)

    async def _release(self) -> None:
        opts = self.options
        try:
            lease = await self._client.get(LEASE, opts.lease_name, namespace=opts.lease_namespace)
        except NotFoundError:
            return
        old: Obj = lease.get("spec") or {}
        if old.get("holderIdentity") != opts.identity:
            return
        stamp = _micro_time()
        spec = {
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
            "acquireTime": stamp,
            "renewTime": stamp,
            "leaseTransitions": int(old.get("leaseTransitions") or 0),
        }
        try:
            updated = await self._client.replace({**lease, "spec": spec})
        except ConflictError:
            return  # changed meanwhile: it is no longer ours to release
        self._observe(updated.get("spec") or spec)
        log.info("%s: released lease %s/%s", opts.identity, opts.lease_namespace, opts.lease_name)

    # -- helpers -----------------------------------------------------------------------------

    def _jittered(self) -> float:
        return self.options.retry_period * (1 + random.random() * JITTER)

    def _set_leading(self, leading: bool) -> None:
        if leading == self._leading.is_set():
            return
        if leading:
            self._leading.set()
        else:
            self._leading.clear()
            log.info("%s: stopped leading %s", self.identity, self.options.lease_name)
        if self._metrics is not None:
            self._metrics.leader_status(self.options.lease_name, leading)


async def _call(fn: Callable[[], Awaitable[None]]) -> None:
    await fn()


async def _cancel_and_wait(*tasks: asyncio.Task[Any]) -> None:
    """Cancel ``tasks`` and wait until they have finished; their results are left in them."""
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks)


def _micro_time() -> str:
    """Now as a Kubernetes ``MicroTime``: RFC 3339 with microseconds, in UTC."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


if TYPE_CHECKING:

    def _client_is_a_lease_client(client: Client) -> LeaseClient:
        return client
