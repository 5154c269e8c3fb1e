"""Pruning deletes only what a reconcile declares gone, on the real API server and the embedded one.

A pass that returns early, requeues, raises, or applies only part of its children leaves every child
alone; ``ctx.prune()`` after the applies deletes the children the pass did not declare, never one whose
apply the server refused, nor an object this operator did not apply.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gadgets import Gadget, gadget

import kubeloop as kl
from kubeloop.client import ApiError, Client
from kubeloop.helpers import owner_reference
from kubeloop.resources import core_v1
from kubeloop.testing import run_operator, until

RESOURCE = "gadgets.test.kubeloop.io"
MODES = ["early", "requeue", "error", "partial", "partial-error"]


def children_operator(namespace: str, passes: dict[str, list[str]]) -> kl.Operator:
    """Gadget ``<name>`` has ConfigMaps ``<name>-a`` and ``<name>-b``; ``spec.message`` picks how a pass
    ends (see the cases below); ``passes[name]`` records each pass's message."""
    operator = kl.Operator("prune-test", namespace=namespace)

    def child(g: Gadget, suffix: str, **labels: str) -> dict[str, object]:
        return core_v1.ConfigMap(metadata={"name": f"{g.metadata.name}-{suffix}", "labels": labels})

    @operator.reconcile(Gadget, owns=[core_v1.ConfigMap])
    async def reconcile(g: Gadget, ctx: kl.Context) -> kl.Result | None:
        mode = g.spec.message
        passes.setdefault(g.metadata.name or "", []).append(mode)
        if mode == "early":
            return None
        if mode == "requeue":
            return kl.Result(requeue_after=0.2)
        if mode == "error":
            raise RuntimeError("not yet")
        if mode in ("", "shrink", "refused"):
            await ctx.apply(child(g, "a"))
            if mode == "":
                await ctx.apply(child(g, "b"))
            if mode == "refused":
                try:
                    await ctx.apply(child(g, "b", bad="not valid!"))
                except ApiError as exc:
                    ctx.log.info("refused as the test wants: %s", exc)
                    passes[g.metadata.name or ""].append(f"refused with {exc.code}")
            await ctx.prune()
            return None
        await ctx.apply(child(g, "a"))  # partial, partial-error: the pass stops before -b
        if mode == "partial-error":
            raise RuntimeError("half done")
        return None

    return operator


async def children(api: Client, namespace: str, name: str) -> dict[str, str]:
    """The ConfigMaps named ``<name>-*``: name → uid."""
    items = (await api.list("configmaps", namespace=namespace))["items"]
    return {
        i["metadata"]["name"]: i["metadata"]["uid"]
        for i in items
        if i["metadata"]["name"].startswith(f"{name}-")
    }


async def has_children(api: Client, namespace: str, name: str, *names: str, exactly: bool = False) -> bool:
    found = set(await children(api, namespace, name))
    return found == set(names) if exactly else set(names) <= found


async def set_mode(api: Client, namespace: str, name: str, mode: str) -> None:
    await api.patch(RESOURCE, name, {"spec": {"message": mode}}, namespace=namespace)


async def test_a_pass_that_does_not_call_prune_deletes_no_child(
    kubeconfig: Path, api: Client, ns: str
) -> None:
    passes: dict[str, list[str]] = {}
    async with run_operator(children_operator(ns, passes), kubeconfig):
        for mode in MODES:
            await api.create(gadget(mode), namespace=ns)
        for mode in MODES:
            await until(
                lambda mode=mode: has_children(api, ns, mode, f"{mode}-a", f"{mode}-b"),
                what=f"children of {mode}",
            )
        before = {mode: await children(api, ns, mode) for mode in MODES}
        for mode in MODES:
            await set_mode(api, ns, mode, mode)
        for mode in MODES:
            await until(lambda mode=mode: mode in passes.get(mode, ()), what=f"a {mode} pass")
        # A second pass of each key: the first one (and anything done after it) has finished by then.
        for mode in MODES:
            await api.patch(RESOURCE, mode, {"metadata": {"labels": {"again": "1"}}}, namespace=ns)
        for mode in MODES:
            await until(lambda mode=mode: passes[mode].count(mode) >= 2, what=f"two {mode} passes")
        after = {mode: await children(api, ns, mode) for mode in MODES}
    lost = {mode: sorted(set(before[mode].items()) - set(after[mode].items())) for mode in MODES}
    assert lost == {mode: [] for mode in MODES}, f"children deleted or replaced: {lost}"


async def test_prune_deletes_only_undeclared_children_this_operator_applied(
    kubeconfig: Path, api: Client, ns: str
) -> None:
    passes: dict[str, list[str]] = {}
    async with run_operator(children_operator(ns, passes), kubeconfig):
        await api.create(gadget("fleet"), namespace=ns)
        await until(lambda: has_children(api, ns, "fleet", "fleet-a", "fleet-b"), what="two children")
        owner = await api.get(RESOURCE, "fleet", namespace=ns)
        # Controlled by the Gadget too, but created by someone else: not this operator's to prune.
        foreign = core_v1.ConfigMap(
            metadata={"name": "fleet-mine", "ownerReferences": [owner_reference(owner)]}
        )
        await api.create(foreign, namespace=ns)
        before = await children(api, ns, "fleet")
        await set_mode(api, ns, "fleet", "shrink")
        await until(
            lambda: has_children(api, ns, "fleet", "fleet-a", "fleet-mine", exactly=True),
            what="fleet-b pruned",
        )
    after = await children(api, ns, "fleet")
    assert after == {k: v for k, v in before.items() if k != "fleet-b"}


# The embedded server does not validate labels on apply to an existing object (only on create), so the
# refusal this test needs happens on the real server only.
@pytest.mark.parametrize("kubeconfig", ["controlplane"], indirect=True)
async def test_prune_keeps_a_child_whose_apply_the_server_refused(
    kubeconfig: Path, api: Client, ns: str
) -> None:
    passes: dict[str, list[str]] = {}
    async with run_operator(children_operator(ns, passes), kubeconfig):
        await api.create(gadget("fleet"), namespace=ns)
        await until(lambda: has_children(api, ns, "fleet", "fleet-a", "fleet-b"), what="two children")
        before = await children(api, ns, "fleet")
        await set_mode(api, ns, "fleet", "refused")
        await until(lambda: passes["fleet"].count("refused") >= 1, what="a refused pass")
        await api.patch(RESOURCE, "fleet", {"metadata": {"labels": {"again": "1"}}}, namespace=ns)
        await until(lambda: passes["fleet"].count("refused") >= 2, what="two refused passes")
        after = await children(api, ns, "fleet")
    assert "refused with 422" in passes["fleet"], passes["fleet"]
    assert after == before, "a child whose apply the server refused is not pruned"
