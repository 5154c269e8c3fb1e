"""A custom resource's status written through its model, on the real API server and the embedded one:
the fields a reconcile sets (a new status model or a field of the parsed one) are written after the
pass; fields it leaves unset, and the conditions ``ctx.set_condition`` keeps, stay as they are. Reads
of the kind through ``ctx`` come back as the model. A built-in kind's status is written through its
status TypedDict (``ctx.status_as``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gadgets import GadgetSpec, gadget

import kubeloop as kl
from kubeloop import crd
from kubeloop.client import Client
from kubeloop.resources import apps_v1, core_v1
from kubeloop.testing import run_operator, until

RESOURCE = "gadgets.test.kubeloop.io"


class GadgetStatus(crd.Model):
    """What the operator reports, and a field another writer owns."""

    replicas_seen: int = 0
    owner: str = ""
    conditions: list[dict[str, Any]] = crd.Field(default_factory=list)


@crd.resource(group="test.kubeloop.io", version="v1", kind="Gadget")
class TypedGadget(crd.CustomResource):
    """Gadget with a status model."""

    spec: GadgetSpec
    status: GadgetStatus | None = None


async def status_of(api: Client, namespace: str, name: str) -> dict[str, Any]:
    status: dict[str, Any] = (await api.get(RESOURCE, name, namespace=namespace)).get("status") or {}
    return status


async def test_the_fields_a_reconcile_sets_on_its_status_model_are_written_beside_the_rest(
    kubeconfig: Path, api: Client, ns: str
) -> None:
    operator = kl.Operator("typed-status-test", namespace=ns)

    read: list[object] = []

    @operator.reconcile(TypedGadget)
    async def reconcile(g: TypedGadget, ctx: kl.Context) -> None:
        read.extend([await ctx.get(TypedGadget, g.metadata.name or ""), *await ctx.list(TypedGadget)])
        if g.spec.message == "bump" and g.status is not None:
            g.status.replicas_seen += 10  # a field of the parsed status, changed in place
        else:
            g.status = GadgetStatus(replicas_seen=g.spec.replicas)  # owner and conditions left unset
        ctx.set_condition("Ready", True, "Seen", g.spec.message)

    async def seen(expected: int, message: str) -> bool:
        status = await status_of(api, ns, "typed")
        ready = [c for c in status.get("conditions") or () if c["type"] == "Ready"]
        return status.get("replicasSeen") == expected and [c["message"] for c in ready] == [message]

    await api.create(gadget("typed", replicas=2, message="first"), namespace=ns)
    # Another writer's field, there before the operator starts.
    await api.patch(RESOURCE, "typed", {"status": {"owner": "someone"}}, namespace=ns, subresource="status")
    async with run_operator(operator, kubeconfig):
        await until(lambda: seen(2, "first"), what="replicasSeen 2 and Ready 'first'")
        await api.patch(RESOURCE, "typed", {"spec": {"replicas": 3, "message": "bump"}}, namespace=ns)
        await until(lambda: seen(12, "bump"), what="replicasSeen bumped to 12 and Ready 'bump'")
    status = await status_of(api, ns, "typed")
    assert status["owner"] == "someone", status  # never set by the reconcile: left alone
    assert read, "no reads"
    assert all(isinstance(r, TypedGadget) for r in read), read  # ctx.get/list of a model: the model


async def test_a_built_in_kinds_status_is_written_through_its_typed_view(
    kubeconfig: Path, api: Client, ns: str
) -> None:
    operator = kl.Operator("typed-builtin-status-test", namespace=ns)
    refused: list[str] = []

    @operator.reconcile(core_v1.Service)
    async def reconcile(service: core_v1.Service, ctx: kl.Context) -> None:
        try:
            ctx.status_as(apps_v1.DeploymentStatus)
        except TypeError as e:
            refused.append(str(e))
        status = ctx.status_as(core_v1.ServiceStatus)
        status["loadBalancer"] = {"ingress": [{"ip": "192.0.2.10"}]}
        ctx.set_condition("Ready", True, "Published")

    await api.create(
        core_v1.Service(
            metadata={"name": "lb", "namespace": ns},
            spec={"type": "LoadBalancer", "selector": {"app": "lb"}, "ports": [{"port": 80}]},
        )
    )

    async def published() -> bool:
        status = (await api.get(core_v1.Service, "lb", namespace=ns)).get("status") or {}
        ingress = status.get("loadBalancer", {}).get("ingress") or []
        ready = [c["reason"] for c in status.get("conditions") or () if c["type"] == "Ready"]
        return [i.get("ip") for i in ingress] == ["192.0.2.10"] and ready == ["Published"]

    async with run_operator(operator, kubeconfig):
        await until(published, what="the Service's status written: its ingress IP and Ready")
    assert refused, "status_as(apps_v1.DeploymentStatus) accepted for a Service"
    assert "DeploymentStatus is not the status of Service" in refused[0], refused
