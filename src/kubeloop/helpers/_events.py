"""Events (``events.k8s.io/v1``) about objects, as ``kubectl describe`` and ``kubectl get events`` show.

``EventRecorder.record`` returns at once; the write happens on a background task (events are
best-effort: a failed write is logged, never raised into a reconcile). The same event about the
same object within ``series_window`` seconds is aggregated into the first one's ``series``
(count and last time) instead of creating a new object, as client-go's recorder does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import socket
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Literal

from kubeloop.client import Client, PatchType
from kubeloop.errors import KubeloopError

__all__ = ["EventRecorder", "EventType"]

log = logging.getLogger("kubeloop.events")

EventType = Literal["Normal", "Warning"]


def _micro_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class EventRecorder:
    """Records Events about objects on behalf of one controller."""

    def __init__(
        self, client: Client, controller: str, *, series_window: float = 360.0, max_tracked: int = 4096
    ) -> None:
        self.client = client
        self.controller = controller
        self.instance = f"{controller}-{socket.gethostname()}"
        self.series_window = series_window
        self._max_tracked = max_tracked
        self._seen: OrderedDict[tuple[str, ...], tuple[str, str, int, float]] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

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
        task = asyncio.create_task(self._write(dict(regarding), type, reason, note[:1024], action))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Wait for the events recorded so far to be written (or to fail)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _write(
        self, regarding: dict[str, Any], type: EventType, reason: str, note: str, action: str
    ) -> None:
        meta = regarding.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        key = (str(meta.get("uid")), type, reason, note, action)
        now = time.monotonic()
        seen = self._seen.get(key)
        try:
            if seen is not None and now - seen[3] < self.series_window:
                name, ns, count, first = seen
                count += 1
                self._seen[key] = (name, ns, count, first)
                await self.client.patch(
                    "events.k8s.io/v1/Event",
                    name,
                    {"series": {"count": count, "lastObservedTime": _micro_now()}},
                    type=PatchType.MERGE,
                    namespace=ns,
                )
                return
            name = f"{meta.get('name', 'object')}.{secrets.token_hex(8)}"
            event = {
                "apiVersion": "events.k8s.io/v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "eventTime": _micro_now(),
                "reportingController": self.controller,
                "reportingInstance": self.instance[:128],
                "action": action,
                "reason": reason,
                "note": note,
                "type": type,
                "regarding": {
                    "apiVersion": regarding.get("apiVersion"),
                    "kind": regarding.get("kind"),
                    "name": meta.get("name"),
                    "namespace": meta.get("namespace"),
                    "uid": meta.get("uid"),
                    "resourceVersion": meta.get("resourceVersion"),
                },
            }
            await self.client.create(event)
            self._seen[key] = (name, namespace, 1, now)
            while len(self._seen) > self._max_tracked:
                self._seen.popitem(last=False)
        except KubeloopError as exc:
            log.warning("could not record event %s/%s about %s: %s", type, reason, meta.get("name"), exc)
