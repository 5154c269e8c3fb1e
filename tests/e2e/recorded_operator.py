"""The AppService operator as shipped, each reconcile recorded: a line ``start``/``end`` with the
object, this replica and the time, appended to ``$KUBELOOP_RECORD`` (the sharding test's checker
proves from all replicas' files that no object was reconciled by two at once). A reconcile first
waits ``$KUBELOOP_RECORD_DELAY`` seconds, as one calling a slow external service would, so an
overlap would show. ``$KUBELOOP_RECORD_QPS`` (test-only) holds its client to that many requests a second.
``$KUBELOOP_RECORD_CLOCK_SKEW`` (seconds, test-only) sets this replica's wall clock
that far off: the only wall time the sharding path reads is the Lease's ``acquireTime``/``renewTime``
stamp (everything else is on the monotonic clock, whose offset means nothing), so that stamp is what
a skewed machine changes; the records keep the true time for the checker. Run as
``kubeloop run recorded_operator:operator``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
from typing import Any

from appservice_operator.api.app_v1 import AppService
from appservice_operator.controllers import appservice as shipped

import kubeloop as kl
from kubeloop.client import Client, ClientSettings
from kubeloop.manager import _leader
from kubeloop.resources import apps_v1, core_v1

RECORD = os.environ.get("KUBELOOP_RECORD", os.devnull)
DELAY = float(os.environ.get("KUBELOOP_RECORD_DELAY", "0"))
REPLICA = os.environ.get("KUBELOOP_SHARD_IDENTITY", str(os.getpid()))
SKEW = dt.timedelta(seconds=float(os.environ.get("KUBELOOP_RECORD_CLOCK_SKEW", "0")))


class _SkewedDatetime(dt.datetime):
    """``datetime`` whose ``now`` is ``SKEW`` off: this replica's wall clock, as its Leases show it."""

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> _SkewedDatetime:
        return super().now(tz) + SKEW


if SKEW:
    _leader.datetime = _SkewedDatetime  # type: ignore[misc]

QPS = float(os.environ.get("KUBELOOP_RECORD_QPS", "0"))
"""Test-only: the QPS (and burst) of the replica's client, as ``kubeloop run`` makes it: a small budget
stands for one that the reconciles of a busy operator keep full."""

if QPS:
    _load = Client.load.__func__  # type: ignore[attr-defined]

    async def _load_held(cls: type[Client], *args: Any, settings: Any = None, **kwargs: Any) -> Client:
        held = settings or ClientSettings(qps=QPS, burst=max(1, int(QPS)))
        return await _load(cls, *args, settings=held, **kwargs)  # type: ignore[no-any-return]

    Client.load = classmethod(_load_held)  # type: ignore[method-assign, assignment]

operator = kl.Operator("appservice-operator")  # the same name: the same field manager and Leases
_fd = os.open(RECORD, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def record(app: AppService, what: str) -> None:
    """One line, written whole (O_APPEND) and at once: a SIGKILL right after loses nothing."""
    line = {"key": f"{app.metadata.namespace}/{app.metadata.name}", "replica": REPLICA, "what": what}
    os.write(_fd, (json.dumps({**line, "at": time.time()}) + "\n").encode())


@operator.reconcile(AppService, owns=[apps_v1.Deployment, core_v1.Service])
async def reconcile(app: AppService, ctx: kl.Context) -> kl.Result | None:
    """The shipped reconcile between a start and an end record."""
    record(app, "start")
    try:
        await asyncio.sleep(DELAY)
        return await shipped.reconcile_appservice(app, ctx)
    finally:
        record(app, "end")
