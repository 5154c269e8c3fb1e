"""``ctx.apply(..., concurrently=True)`` sends its objects at once, on the real API server and the
embedded one: the pass has them all in flight together (one after another without it) and gets
them back stored, in the order given; an object the server refuses is raised as its own error
(not a group) once the others are stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gadgets import Gadget, gadget

import kubeloop as kl
from kubeloop.client import Client, InvalidError
from kubeloop.resources import core_v1
from kubeloop.testing import run_operator, until


class Children:
    """An operator whose Gadget ``g`` has three ConfigMaps ``g-0``..``g-2`` applied in one call (the
    middle one named as the server refuses when ``spec.message`` is ``refuse``); it records the
    names each call returned, or the error it raised, and the most applies in flight at once."""

    def __init__(self, namespace: str, *, concurrently: bool) -> None:
        self.returned: list[list[str]] = []
        self.raised: list[BaseException] = []
        self.in_flight = self.most_in_flight = 0
        self.operator = kl.Operator("apply-concurrently", namespace=namespace)

        @self.operator.reconcile(Gadget, owns=[core_v1.ConfigMap])
        async def reconcile(g: Gadget, ctx: kl.Context) -> None:
            names = [f"{g.metadata.name}-{i}" for i in range(3)]
            if g.spec.message == "refuse":
                names[1] = "Refused_Name"
            children = [
                core_v1.ConfigMap(metadata={"name": n}, data={"i": str(i)}) for i, n in enumerate(names)
            ]
            try:
                stored = await ctx.apply(*children, concurrently=concurrently)
            except BaseException as exc:
                self.raised.append(exc)
                raise
            self.returned.append([c["metadata"]["name"] for c in stored])

    def count(self, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
        """Count the applies the operator's client has in flight."""
        apply = client.apply

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                return await apply(*args, **kwargs)
            finally:
                self.in_flight -= 1

        monkeypatch.setattr(client, "apply", counted)


@pytest.mark.parametrize("concurrently", [True, False], ids=["concurrently", "one-after-another"])
async def test_the_objects_of_one_call_are_in_flight_together_only_when_asked(
    kubeconfig: Path, api: Client, ns: str, concurrently: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = Children(ns, concurrently=concurrently)
    async with run_operator(op.operator, kubeconfig) as manager:
        op.count(manager.client, monkeypatch)
        await api.create(gadget("g"), namespace=ns)
        await until(lambda: bool(op.returned), what="a pass that applied its children")
    assert op.returned[0] == ["g-0", "g-1", "g-2"], "returned in the order given"
    assert op.most_in_flight == (3 if concurrently else 1)
    for i in range(3):
        assert (await api.get("configmaps", f"g-{i}", namespace=ns))["data"] == {"i": str(i)}


async def test_a_refused_object_is_raised_as_its_own_error_and_the_others_are_stored(
    kubeconfig: Path, api: Client, ns: str
) -> None:
    op = Children(ns, concurrently=True)
    async with run_operator(op.operator, kubeconfig):
        await api.create(gadget("g", message="refuse"), namespace=ns)
        await until(lambda: bool(op.raised), what="a pass that raised")
        assert isinstance(op.raised[0], InvalidError), repr(op.raised[0])
        for name in ("g-0", "g-2"):
            assert (await api.get("configmaps", name, namespace=ns))["metadata"]["name"] == name
