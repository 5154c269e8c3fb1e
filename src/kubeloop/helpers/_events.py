"""Events (``events.k8s.io/v1``) about objects, as ``kubectl describe`` and ``kubectl get events`` show.

``EventRecorder.record`` returns at once; the write happens on a background task (events are
best-effort: a failed write is logged, never raised into a reconcile). The same event about the
same object within ``series_window`` seconds is aggregated into the first one's ``series``
(count and last time) instead of creating a new object, as client-go's recorder does; the writes
of one series go out in order, so a burst is one Event with the burst's count. A series keeps its
Event's name whatever its writes meet: a count whose Event is not there (its create failed) creates
it with the count so far, and one whose create only seemed to fail (the answer was lost) patches it,
so a series is one Event even when the API server or the network fails in between. What the server
would refuse is fitted first: the Event's name (the object's, cut so that the suffix fits in 253
characters) and its note (cut to 1024 bytes, not characters).

At most ``max_in_flight`` writes are under way at once (16; client-go's recorder writes one at a
time): a burst of Events queues here instead of opening a connection each, which under load made
connects time out and Events get lost.

A write that fails, whatever the error, is logged and counted (``failed``), never left as a task's
unretrieved exception. Whoever owns the client closes the recorder first (``close``: pending writes
get a deadline, then are cancelled); the manager does it for the recorders it hands out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import re
import secrets
import socket
import time
from collections import OrderedDict
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kubeloop.client import AlreadyExistsError, Client, ClientClosedError, NotFoundError, PatchType
from kubeloop.errors import KubeloopError

__all__ = ["EventRecorder", "EventType"]

log = logging.getLogger("kubeloop.events")

EventType = Literal["Normal", "Warning"]


def _micro_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True)
class _Series:
    """One Event: its name, what it is about and says (``key``, ``regarding``: enough to write its
    body again, ``EventRecorder._event``), when it started, its count and its pending write (None once
    written). A recorder keeps up to ``max_tracked`` of them, so they keep references to strings, not
    the body's dicts nor a finished task (2.4 kB a series before: 9.4 MiB at 4,096, what a process
    keeps once it has recorded that many Events, however few objects it is given)."""

    name: str
    namespace: str
    first: float
    key: tuple[str, ...] = field(repr=False)
    """(uid, type, reason, note, action)"""
    regarding: tuple[Any, ...] = field(repr=False)
    """(apiVersion, kind, name, namespace, uid, resourceVersion) of the object"""
    event_time: str = field(repr=False)
    count: int = 1
    write: asyncio.Task[None] | None = field(default=None, repr=False)


_NOT_IN_NAMES = re.compile(r"[^a-z0-9.-]+")
_NAME_LIMIT = 253
_NOTE_LIMIT = 1024  # bytes, as the server counts


def _event_name(regarding_name: object) -> str:
    """``<object name>.<16 hex>``, within 253 characters and a DNS subdomain whatever the object's name."""
    suffix = secrets.token_hex(8)
    stem = _NOT_IN_NAMES.sub("-", str(regarding_name or "object").lower())[: _NAME_LIMIT - len(suffix) - 1]
    stem = re.sub(r"[.-]{2,}", "-", stem).strip(".-") or "object"
    return f"{stem}.{suffix}"


def _cut_note(note: str) -> str:
    return note.encode()[:_NOTE_LIMIT].decode(errors="ignore")


class EventRecorder:
    """Records Events about objects on behalf of one controller."""

    def __init__(
        self,
        client: Client,
        controller: str,
        *,
        series_window: float = 360.0,
        max_tracked: int = 4096,
        max_in_flight: int = 16,
    ) -> None:
        self.client = client
        self.controller = controller
        self.instance = f"{controller}-{socket.gethostname()}"
        self.series_window = series_window
        self._max_tracked = max_tracked
        self._seen: OrderedDict[tuple[str, ...], _Series] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._closed = False
        self.failed = 0
        """Writes that failed (logged), cancelled by ``close`` or dropped after it."""

    def record(
        self,
        regarding: Mapping[str, Any],
        type: EventType,
        reason: str,
        note: str,
        *,
        action: str = "Reconcile",
    ) -> None:
        """Record an event about ``regarding`` (an object read from the server) in the background."""
        if self._closed:
            self.failed += 1
            log.debug("event %s/%s not recorded: the recorder is closed", type, reason)
            return
        note = _cut_note(note)
        meta = regarding.get("metadata") or {}
        key = (str(meta.get("uid")), type, reason, note, action)
        now = time.monotonic()
        self._forget_before(now - self.series_window)
        series = self._seen.get(key)
        write: Coroutine[Any, Any, None]
        if series is not None:
            series.count += 1
            write = self._count(series, series.count)
        else:
            about = (regarding.get("apiVersion"), regarding.get("kind"), meta.get("name"))
            series = _Series(
                _event_name(meta.get("name")),
                meta.get("namespace") or "default",
                now,
                key,
                (*about, meta.get("namespace"), meta.get("uid"), meta.get("resourceVersion")),
                _micro_now(),
            )
            self._seen[key] = series
            while len(self._seen) > self._max_tracked:
                self._seen.popitem(last=False)
            write = self._create(self._event(series))
        task = asyncio.create_task(self._after(series.write, write))
        series.write = task
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._written, series))

    def _written(self, series: _Series, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if series.write is task:
            series.write = None

    def _forget_before(self, started: float) -> None:
        """Drop the series that started before ``started`` (the oldest first: they are kept in the
        order they started): the same Event after the window is a new series in any case."""
        while self._seen:
            oldest = next(iter(self._seen.values()))
            if oldest.first >= started:
                return
            self._seen.popitem(last=False)

    @property
    def tracked(self) -> int:
        """The series kept to aggregate into (those started within ``series_window``, at most
        ``max_tracked``)."""
        return len(self._seen)

    @property
    def pending(self) -> int:
        """Writes recorded and not done yet."""
        return len(self._tasks)

    async def flush(self) -> None:
        """Wait for the events recorded so far to be written (or to fail). Cancelling the wait (a
        timeout) leaves the writes running: ``close`` cancels and counts them."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def close(self, grace: float) -> None:
        """Stop recording; wait up to ``grace`` s for the pending writes, then cancel the rest (each
        counted in ``failed``). Idempotent; call it before the client closes."""
        self._closed = True
        try:
            async with asyncio.timeout(grace):
                await self.flush()
        except TimeoutError:
            pending = list(self._tasks)
            log.warning("%s: %d event write(s) dropped after %.1f s", self.controller, len(pending), grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            self.failed += len(pending)

    async def _after(self, previous: asyncio.Task[None] | None, write: Coroutine[Any, Any, None]) -> None:
        """Run ``write`` once ``previous`` (the series' last write) is done; whatever it raises is
        logged and counted here, so that no task ends with an exception nobody retrieves."""
        try:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            await self._slots.acquire()
        except BaseException:
            write.close()  # never started: no "coroutine was never awaited"
            raise
        try:
            await write
        except ClientClosedError as exc:
            self.failed += 1
            log.debug("event not recorded: %s", exc)
        except Exception as exc:
            self.failed += 1
            log.warning("could not record an event: %s: %s", type(exc).__name__, exc)
        finally:
            self._slots.release()

    def _event(self, series: _Series) -> dict[str, Any]:
        """The body of ``series``' Event, as its first write sends it."""
        _, type, reason, note, action = series.key
        fields = ("apiVersion", "kind", "name", "namespace", "uid", "resourceVersion")
        return {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": series.name, "namespace": series.namespace},
            "eventTime": series.event_time,
            "reportingController": self.controller,
            "reportingInstance": self.instance[:128],
            "action": action,
            "reason": reason,
            "note": note,
            "type": type,
            "regarding": dict(zip(fields, series.regarding, strict=True)),
        }

    async def _create(self, event: dict[str, Any]) -> None:
        try:
            await self.client.create(event)
        except AlreadyExistsError:
            pass  # made by a create whose answer was lost
        except ClientClosedError:
            raise
        except KubeloopError as exc:
            self.failed += 1
            log.warning(
                "could not record event %s/%s about %s: %s",
                event["type"],
                event["reason"],
                event["regarding"]["name"],
                exc,
            )

    async def _count(self, series: _Series, count: int) -> None:
        observed = {"count": count, "lastObservedTime": _micro_now()}
        try:
            await self.client.patch(
                "events.k8s.io/v1/Event",
                series.name,
                {"series": observed},
                type=PatchType.MERGE,
                namespace=series.namespace,
            )
        except NotFoundError:
            await self._create({**self._event(series), "series": observed})  # its create failed
        except ClientClosedError:
            raise
        except KubeloopError as exc:
            self.failed += 1
            log.warning("could not count event %s (%d): %s", series.name, count, exc)
