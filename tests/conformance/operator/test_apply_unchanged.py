"""``ctx.apply`` sends an owned child only when the apply would change something, on the real API
server and the embedded one: a pass whose desired state matches sends no request, and yet a value
someone else changed is put back, a field no longer applied is released, and a field someone else
took over (even with the same value put back) is applied again; an operator started again sends no
apply for the children its predecessor left as it wants them, and applies those changed or deleted
while it was down. Pruning around skipped applies is
test_pruning.py's (its ``shrink`` pass applies an unchanged child and prunes the other).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gadgets import Gadget, gadget

import kubeloop as kl
from kubeloop.client import Client, NotFoundError
from kubeloop.manager import Manager
from kubeloop.resources import core_v1
from kubeloop.testing import run_operator, until

RESOURCE = "gadgets.test.kubeloop.io"
MANAGER = "apply-test"


class Child:
    """An operator whose Gadget ``g`` has a ConfigMap ``g-cm`` (data ``a`` always, ``b`` unless
    ``spec.message`` is ``shrink``, a ``tier`` label, no annotations: an empty map the server drops)
    and a ConfigMap ``g-extra`` unless ``spec.message`` is ``prune``; each pass prunes. Each pass
    waits for ``hold`` and records the Gadget's ``again`` label and ``g-cm``'s resourceVersion as
    ``apply`` returned it."""

    def __init__(self, namespace: str) -> None:
        self.hold = asyncio.Event()
        self.hold.set()
        self.passes: list[tuple[str, str]] = []
        self.operator = kl.Operator(MANAGER, namespace=namespace)

        @self.operator.reconcile(Gadget, owns=[core_v1.ConfigMap])
        async def reconcile(g: Gadget, ctx: kl.Context) -> None:
            await self.hold.wait()
            data = {"a": "1"} if g.spec.message == "shrink" else {"a": "1", "b": "2"}
            meta = {"name": f"{g.metadata.name}-cm", "labels": {"tier": "web"}, "annotations": {}}
            (stored,) = await ctx.apply(core_v1.ConfigMap(metadata=meta, data=data))
            if g.spec.message != "prune":
                await ctx.apply(core_v1.ConfigMap(metadata={"name": f"{g.metadata.name}-extra"}))
            await ctx.prune()
            again = (g.metadata.labels or {}).get("again", "")
            self.passes.append((again, stored["metadata"]["resourceVersion"]))


def patches(manager: Manager) -> float:
    """PATCH requests the operator's client has sent (``rest_client_requests_total``)."""
    return sum(
        sample.value
        for family in manager.metrics.registry.collect()
        if family.name == "rest_client_requests"
        for sample in family.samples
        if sample.name == "rest_client_requests_total" and sample.labels.get("method") == "PATCH"
    )


async def child_of(api: Client, ns: str, name: str = "g") -> dict[str, Any]:
    found: dict[str, Any] = await api.get("configmaps", f"{name}-cm", namespace=ns)
    return found


async def pass_after(api: Client, ns: str, op: Child, again: str) -> None:
    """Label the Gadget ``again=<again>`` and wait for a pass that saw it."""
    await api.patch(RESOURCE, "g", {"metadata": {"labels": {"again": again}}}, namespace=ns)
    await until(lambda: any(a == again for a, _ in op.passes), what=f"a pass with again={again}")


async def started(api: Client, ns: str, op: Child) -> None:
    await api.create(gadget("g"), namespace=ns)
    await until(lambda: len(op.passes) >= 1, what="the first pass")


async def test_a_pass_whose_child_is_unchanged_sends_no_request(
    kubeconfig: Path, api: Client, ns: str
) -> None:
    op = Child(ns)
    async with run_operator(op.operator, kubeconfig) as manager:
        await started(api, ns, op)
        await pass_after(api, ns, op, "1")
        await pass_after(api, ns, op, "2")
        sent = patches(manager)
        live = await child_of(api, ns)
    assert len(op.passes) >= 3, op.passes
    assert sent == 2, f"{sent} PATCH requests for {len(op.passes)} passes: only the first should apply"
    assert op.passes[-1][1] == live["metadata"]["resourceVersion"], "apply returned the child as it is"


async def test_a_value_changed_by_someone_else_is_put_back(kubeconfig: Path, api: Client, ns: str) -> None:
    op = Child(ns)
    async with run_operator(op.operator, kubeconfig) as manager:
        await started(api, ns, op)
        before = patches(manager)
        await api.patch(
            "configmaps",
            "g-cm",
            {"data": {"a": "9"}, "metadata": {"labels": {"tier": "db"}}},
            namespace=ns,
            field_manager="intruder",
        )
        await until(
            lambda: _has(api, ns, data={"a": "1", "b": "2"}, tier="web"), what="data and label put back"
        )
        await api.patch("configmaps", "g-cm", {"metadata": {"ownerReferences": None}}, namespace=ns)
        await until(lambda: _owned(api, ns), what="the owner reference put back")
        # The server shows a repair before the operator's client has read its answer and counted it.
        await until(lambda: patches(manager) - before >= 2, within=10, what="two repair PATCHes counted")


async def test_prune_after_a_skipped_apply_keeps_that_child_and_deletes_the_other(
    kubeconfig: Path, api: Client, ns: str
) -> None:
    op = Child(ns)
    async with run_operator(op.operator, kubeconfig) as manager:
        await started(api, ns, op)
        await pass_after(api, ns, op, "1")
        kept = (await child_of(api, ns))["metadata"]["uid"]
        before = patches(manager)
        await api.patch(RESOURCE, "g", {"spec": {"message": "prune"}}, namespace=ns)
        await until(lambda: _gone(api, ns, "g-extra"), what="g-extra pruned")
        await pass_after(api, ns, op, "2")
        sent = patches(manager) - before
        assert (await child_of(api, ns))["metadata"]["uid"] == kept, "g-cm was deleted or replaced"
    assert sent == 0, f"{sent} PATCH requests: g-cm is unchanged, g-extra only deleted"


async def test_a_field_no_longer_applied_is_released(kubeconfig: Path, api: Client, ns: str) -> None:
    op = Child(ns)
    async with run_operator(op.operator, kubeconfig):
        await started(api, ns, op)
        await until(lambda: _has(api, ns, data={"a": "1", "b": "2"}, tier="web"), what="the child")
        await api.patch(RESOURCE, "g", {"spec": {"message": "shrink"}}, namespace=ns)
        await until(lambda: _has(api, ns, data={"a": "1"}, tier="web"), what="data.b removed")


async def test_a_field_taken_over_and_put_back_is_applied_again(
    kubeconfig: Path, api: Client, ns: str
) -> None:
    op = Child(ns)
    async with run_operator(op.operator, kubeconfig) as manager:
        await started(api, ns, op)
        await pass_after(api, ns, op, "1")
        op.hold.clear()
        for value in ("9", "1"):  # the intruder now owns data.a, whose value is ours again
            changed = await api.patch(
                "configmaps", "g-cm", {"data": {"a": value}}, namespace=ns, field_manager="intruder"
            )
        informer = await manager.cache.informer("v1/ConfigMap")
        rv = changed["metadata"]["resourceVersion"]
        await until(
            lambda: (informer.get(ns, "g-cm") or {})["metadata"]["resourceVersion"] == rv,
            what="the operator's cache at the intruder's last change",
        )
        before = patches(manager)
        op.hold.set()
        await pass_after(api, ns, op, "2")
        sent = patches(manager) - before
        live = await child_of(api, ns)
    assert sent >= 1, "the apply that takes data.a back was not sent"
    assert "f:a" in _fields_of(live, MANAGER).get("f:data", {}), live["metadata"]["managedFields"]


async def test_a_restarted_operator_applies_only_the_children_changed_or_deleted_while_it_was_down(
    kubeconfig: Path, api: Client, ns: str
) -> None:
    first = Child(ns)
    async with run_operator(first.operator, kubeconfig):
        for name in ("a", "b", "c"):
            await api.create(gadget(name), namespace=ns)
        await until(lambda: len(first.passes) >= 3, what="a pass of each Gadget")
    await api.patch("configmaps", "a-cm", {"data": {"a": "9"}}, namespace=ns, field_manager="intruder")
    await api.delete("configmaps", "b-cm", namespace=ns)
    again = Child(ns)
    async with run_operator(again.operator, kubeconfig) as manager:
        await until(lambda: len(again.passes) >= 3, what="a pass of each Gadget after the restart")
        await until(
            lambda: patches(manager) >= 2 and _has(api, ns, data={"a": "1", "b": "2"}, tier="web", name="a"),
            what="a-cm put back",
        )
        await until(lambda: _has(api, ns, data={"a": "1", "b": "2"}, tier="web", name="b"), what="b-cm made")
        sent = patches(manager)
    assert sent == 2, f"{sent} PATCH requests: only a-cm (changed) and b-cm (deleted) needed an apply"


def _fields_of(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    for entry in obj["metadata"].get("managedFields") or ():
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            fields: dict[str, Any] = entry.get("fieldsV1") or {}
            return fields
    return {}


async def _has(api: Client, ns: str, *, data: dict[str, str], tier: str, name: str = "g") -> bool:
    try:
        live = await child_of(api, ns, name)
    except NotFoundError:
        return False
    return live.get("data") == data and (live["metadata"].get("labels") or {}).get("tier") == tier


async def _owned(api: Client, ns: str) -> bool:
    live = await child_of(api, ns)
    return any(ref.get("controller") for ref in live["metadata"].get("ownerReferences") or ())


async def _gone(api: Client, ns: str, name: str) -> bool:
    names = [i["metadata"]["name"] for i in (await api.list("configmaps", namespace=ns))["items"]]
    return name not in names
