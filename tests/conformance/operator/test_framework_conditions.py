"""The framework takes back the Ready=False it wrote once the error is gone, on the real API server
and the embedded one; a Ready condition the author wrote is the author's."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from gadgets import Gadget, gadget

import kubeloop as kl
from kubeloop.client import Client
from kubeloop.testing import run_operator, until

RESOURCE = "gadgets.test.kubeloop.io"


async def ready(api: Client, namespace: str, name: str) -> dict[str, Any] | None:
    obj = await api.get(RESOURCE, name, namespace=namespace)
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), None)


async def has_ready(api: Client, namespace: str, name: str, reason: str | None) -> bool:
    found = await ready(api, namespace, name)
    return (found or {}).get("reason") == reason if reason is not None else found is None


async def test_a_pass_that_succeeds_clears_the_ready_false_the_framework_set(
    kubeconfig: Path, api: Client, ns: str
) -> None:
    operator = kl.Operator("conditions-test", namespace=ns)
    passes: dict[str, list[str]] = {}

    @operator.reconcile(Gadget)
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        passes.setdefault(g.metadata.name or "", []).append(g.spec.message)
        if g.spec.message == "fail":
            raise RuntimeError("not yet")
        if g.spec.message == "author":
            ctx.set_condition("Ready", False, "Waiting", "the author's own condition")
        # any other message: done, without a word about Ready

    async def set_spec(name: str, spec: dict[str, object]) -> None:
        await api.patch(RESOURCE, name, {"spec": spec}, namespace=ns)

    async with run_operator(operator, kubeconfig):
        await api.create(gadget("failing", message="fail"), namespace=ns)
        await api.create(gadget("invalid", replicas=9), namespace=ns)  # the model allows at most 5
        await api.create(gadget("authored", message="author"), namespace=ns)
        await until(lambda: has_ready(api, ns, "failing", "ReconcileError"), what="failing: ReconcileError")
        await until(lambda: has_ready(api, ns, "invalid", "InvalidSpec"), what="invalid: InvalidSpec")
        await until(lambda: has_ready(api, ns, "authored", "Waiting"), what="authored: Waiting")

        await set_spec("failing", {"message": "fixed"})
        await set_spec("invalid", {"replicas": 2})
        await set_spec("authored", {"message": "quiet"})
        await until(lambda: has_ready(api, ns, "failing", None), what="failing: ReconcileError cleared")
        await until(lambda: has_ready(api, ns, "invalid", None), what="invalid: InvalidSpec cleared")
        await until(lambda: "quiet" in passes.get("authored", ()), what="a quiet pass of authored")
        await api.patch(RESOURCE, "authored", {"metadata": {"labels": {"again": "1"}}}, namespace=ns)
        await until(lambda: passes["authored"].count("quiet") >= 2, what="two quiet passes of authored")
        assert await has_ready(api, ns, "authored", "Waiting"), "the author's condition is kept"


async def test_a_status_write_for_an_object_deleted_meanwhile_is_dropped_not_retried_on_the_main_resource(
    kubeconfig: Path, api: Client, ns: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression (found by the chaos suite): the status subresource's 404 for a deleted object sent
    the write to the main resource, which the generated RBAC forbids (403), and the pass failed."""
    operator = kl.Operator("status-after-delete-test", namespace=ns)
    passes: list[str] = []

    @operator.reconcile(Gadget)
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        passes.append(g.metadata.name or "")
        await api.delete(RESOURCE, g.metadata.name or "", namespace=ns)
        ctx.status["seen"] = True  # written after the pass, when the object is gone

    with caplog.at_level(logging.ERROR, logger="kubeloop"):
        async with run_operator(operator, kubeconfig):
            await api.create(gadget("short-lived"), namespace=ns)
            await until(lambda: passes == ["short-lived"], what="one pass")
            await asyncio.sleep(2.0)  # a failed pass would be logged and retried by now
    assert [r.getMessage() for r in caplog.records if "reconcile failed" in r.getMessage()] == []
    assert passes == ["short-lived"]
