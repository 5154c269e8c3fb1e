"""The controller: informer events → de-duplicated keys → N workers running one reconcile each.

Role: between the cache (events, reads) and the manager (which starts and stops controllers).

Guarantees:

- One key is never reconciled by two workers at once (the queue's guarantee); keys of events
  that arrive while a key is reconciled run once more afterwards.
- Live events come before the initial list's (lower priority, ``initial_priority``), so a restart
  does not delay what just changed behind thousands of unchanged objects.
- Outcome of a reconcile → what happens next, as in controller-runtime:
  ``None``/``Result()`` forgets the key's backoff; ``Result(requeue_after=s)`` reconciles again
  after ``s`` seconds; ``Result(requeue=True)`` and any exception retry with per-key exponential
  backoff; ``TerminalError`` is recorded and not retried. A reconcile that runs longer than
  ``reconcile_timeout`` (on the queue's clock) is cancelled and retried like an error. A reconcile
  that returns something else is an error. A reconcile that raises a ``BaseException`` other than
  an ``Exception`` (a stray ``asyncio.CancelledError`` while its worker is not being cancelled, say)
  is retried like an error too, and counted as a panic. Nothing a reconcile does stops the
  workers or the other keys (``KeyboardInterrupt`` and ``SystemExit`` excepted: they end the process).
- ``run()`` fails (an ``ExceptionGroup`` holding a ``StoppedError``) if a worker ends while the
  controller is not stopping (a worker cancelled by code that does not own it), so the manager
  exits instead of running without it.
- ``shutdown()`` stops handing out keys and waits (up to a timeout) for running reconciles.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from kubeloop.cache import Informer, InformerEvent
from kubeloop.clock import timeout
from kubeloop.controller._mappers import Mapper, map_to_self
from kubeloop.controller._predicates import Predicate
from kubeloop.controller._types import Reconciler, Request, Result
from kubeloop.errors import KubeloopError, TerminalError
from kubeloop.queue import LOW, NORMAL, QueueOptions, QueueShutDown, RateLimitingQueue
from kubeloop.tasks import Supervisor

__all__ = ["Controller", "ControllerOptions", "ReconcileMetrics", "ReconcileOutcome", "current_request"]

ReconcileOutcome = Literal["success", "error", "requeue", "requeue_after"]

log = logging.getLogger("kubeloop.controller")

current_request: contextvars.ContextVar[Request | None] = contextvars.ContextVar(
    "current_request", default=None
)
"""The key being reconciled by the current task (None outside reconciles); log records carry it."""


class ReconcileMetrics(Protocol):
    """What a controller reports; the manager implements it with Prometheus series."""

    def reconcile_started(self, controller: str) -> None:
        """A worker started a reconcile."""

    def reconcile_finished(
        self,
        controller: str,
        result: ReconcileOutcome,
        seconds: float,
        *,
        terminal: bool = False,
        panic: bool = False,
    ) -> None:
        """A reconcile ended: ``result`` is success, error, requeue or requeue_after; ``panic``: the
        error was a ``BaseException`` that is not an ``Exception``."""


class _NoMetrics:
    def reconcile_started(self, controller: str) -> None:
        pass

    def reconcile_finished(
        self,
        controller: str,
        result: ReconcileOutcome,
        seconds: float,
        *,
        terminal: bool = False,
        panic: bool = False,
    ) -> None:
        pass


@dataclass(frozen=True)
class ControllerOptions:
    """Settings of one controller; ``queue.name`` defaults to the controller's name.

    ``max_concurrent_reconciles`` defaults to 10, not controller-runtime's 1: a worker is a coroutine
    waiting on the network, so ten cost next to nothing, and a few keys that are slow (a reconcile
    awaiting something, a request that hangs until its timeout) then leave the others their workers;
    the client's QPS limit, not the worker count, bounds the load on the API server, and one key is
    still never reconciled twice at once (kopf reconciles every object concurrently, kube-rs has no
    limit by default).
    """

    max_concurrent_reconciles: int = 10
    reconcile_timeout: float | None = 600.0
    queue: QueueOptions = field(default_factory=QueueOptions)
    initial_priority: int = LOW
    """The queue priority of keys from an informer's initial list (and of the stored objects a late
    handler is given): ``LOW`` by default, so live events go first after a start or a take-over;
    ``NORMAL`` treats them alike (first come, first served)."""


@dataclass(frozen=True)
class _Watch:
    informer: Informer
    mapper: Mapper
    predicates: tuple[Predicate, ...]


class Controller:
    """Runs ``reconciler`` for the keys that watched events map to."""

    def __init__(
        self,
        name: str,
        reconciler: Reconciler,
        options: ControllerOptions | None = None,
        *,
        metrics: ReconcileMetrics | None = None,
    ) -> None:
        self.name = name
        self.reconciler = reconciler
        self.options = options or ControllerOptions()
        queue_options = self.options.queue
        if not queue_options.name:
            queue_options = dataclasses.replace(queue_options, name=name)
        self.queue: RateLimitingQueue[Request] = RateLimitingQueue(queue_options)
        self.metrics: ReconcileMetrics = metrics or _NoMetrics()
        self._watches: list[_Watch] = []
        self._workers: list[asyncio.Task[None]] = []

    @property
    def informers(self) -> list[Informer]:
        """The informers this controller watches (the manager waits for them to sync)."""
        return [w.informer for w in self._watches]

    def watch(
        self, informer: Informer, mapper: Mapper = map_to_self, predicates: Sequence[Predicate] = ()
    ) -> None:
        """For each event of ``informer`` passing all ``predicates``, enqueue the keys ``mapper`` gives."""
        watch = _Watch(informer, mapper, tuple(predicates))
        self._watches.append(watch)
        informer.add_handler(lambda event: self._on_event(watch, event))

    def _on_event(self, watch: _Watch, event: InformerEvent) -> None:
        if not all(p(event) for p in watch.predicates):
            return
        requests: Iterable[Request] = watch.mapper(event.obj)
        if event.type == "update" and event.old is not None and watch.mapper is not map_to_self:
            requests = {*requests, *watch.mapper(event.old)}  # a child moved from one owner to another
        for request in requests:
            self.queue.add(request, priority=self.options.initial_priority if event.initial else NORMAL)

    def enqueue(self, request: Request, *, after: float | None = None) -> None:
        """Reconcile ``request`` (now, or after ``after`` seconds)."""
        if after:
            self.queue.add_after(request, after)
        else:
            self.queue.add(request)

    async def run(self) -> None:
        """Run the workers until ``shutdown()`` lets them finish, or until cancelled; fails with a
        ``StoppedError`` (in the ``TaskGroup``'s ``ExceptionGroup``) if a worker ends otherwise."""
        supervisor = Supervisor(lambda: self.queue.shutting_down)
        async with asyncio.TaskGroup() as group:
            self._workers = [
                group.create_task(
                    supervisor.run(f"controller {self.name}: worker {i}", self._worker()),
                    name=f"{self.name} worker {i}",
                )
                for i in range(self.options.max_concurrent_reconciles)
            ]

    async def shutdown(self, grace: float = 30.0) -> None:
        """Stop handing out keys; wait up to ``grace`` seconds for running reconciles, then cancel them."""
        await self.queue.shutdown()
        if self._workers:
            _, pending = await asyncio.wait(self._workers, timeout=grace)
            for worker in pending:
                worker.cancel()

    async def _worker(self) -> None:
        while True:
            try:
                async with self.queue.get() as request:
                    await self._reconcile(request)
            except QueueShutDown:
                return

    async def _reconcile(self, request: Request) -> None:
        token = current_request.set(request)
        self.metrics.reconcile_started(self.name)
        clock = self.queue.options.clock
        started = clock.now()
        outcome: ReconcileOutcome = "error"
        terminal = panic = False
        try:
            async with timeout(clock, self.options.reconcile_timeout):
                result = await self.reconciler(request)
            if result is None:
                result = Result()
            if not isinstance(result, Result):
                raise TypeError(f"reconcile returned {result!r}; expected None or kubeloop.Result")
        except TerminalError as exc:
            terminal = True
            self.queue.forget(request)
            log.error("reconcile failed permanently, not retrying: %s", exc, extra=self._extra(request))
        except TimeoutError:
            self.queue.add_rate_limited(request)
            log.error(
                "reconcile timed out after %.0f s; retrying with backoff",
                self.options.reconcile_timeout,
                extra=self._extra(request),
            )
        except Exception as exc:
            self.queue.add_rate_limited(request)
            retries = self.queue.num_requeues(request)
            log.error(
                "reconcile failed (%d retries); retrying with backoff: %s: %s",
                retries,
                type(exc).__name__,
                exc,
                extra=self._extra(request),
                exc_info=not isinstance(exc, KubeloopError),
            )
        except BaseException as exc:
            task = asyncio.current_task()
            if isinstance(exc, KeyboardInterrupt | SystemExit) or (task is not None and task.cancelling()):
                # The process is ending, or this worker is being cancelled (shutdown, or the lease was
                # lost): let it, keeping the key to run again should workers restart (a no-op once
                # the queue is shutting down).
                self.queue.add(request)
                raise
            panic = True
            self.queue.add_rate_limited(request)
            log.error(
                "reconcile raised %s, which is not an Exception (its worker is not being cancelled); "
                "retrying with backoff",
                type(exc).__name__,
                extra=self._extra(request),
                exc_info=True,
            )
        else:
            if result.requeue_after:
                outcome = "requeue_after"
                self.queue.forget(request)
                self.queue.add_after(request, result.requeue_after)
            elif result.requeue:
                outcome = "requeue"
                self.queue.add_rate_limited(request)
            else:
                outcome = "success"
                self.queue.forget(request)
        finally:
            current_request.reset(token)
        seconds = clock.now() - started
        self.metrics.reconcile_finished(self.name, outcome, seconds, terminal=terminal, panic=panic)

    def _extra(self, request: Request) -> dict[str, str]:
        return {"controller": self.name, "key": str(request)}
