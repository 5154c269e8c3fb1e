"""Deletion semantics: finalizers and deletionTimestamp, owner-reference garbage collection
(background, foreground, orphan), namespace deletion; Service NodePort allocation: real and embedded."""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop.client import Client, InvalidError, NotFoundError
from kubeloop.testing import Kubectl, until


def cm(name: str, namespace: str, **extra: Any) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": namespace, **extra}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md}


def owned_by(owner: dict[str, Any]) -> list[dict[str, Any]]:
    md = owner["metadata"]
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": md["name"],
            "uid": md["uid"],
            "blockOwnerDeletion": True,
        }
    ]


async def gone(kube: Client, name: str, ns: str) -> bool:
    try:
        await kube.get("configmaps", name, namespace=ns)
    except NotFoundError:
        return True
    return False


async def test_finalizer_holds_object_until_removed(kube: Client, ns: str) -> None:
    await kube.create(cm("fin", ns, finalizers=["example.com/hold"]))
    await kube.delete("configmaps", "fin", namespace=ns)
    held = await kube.get("configmaps", "fin", namespace=ns)
    assert held["metadata"]["deletionTimestamp"]
    assert held["metadata"]["finalizers"] == ["example.com/hold"]
    await kube.patch("configmaps", "fin", {"metadata": {"finalizers": None}}, namespace=ns)
    assert await gone(kube, "fin", ns)


async def test_no_new_finalizers_while_deleting(kube: Client, ns: str) -> None:
    await kube.create(cm("fin2", ns, finalizers=["example.com/a"]))
    await kube.delete("configmaps", "fin2", namespace=ns)
    from kubeloop.client import ApiError

    with pytest.raises(ApiError) as err:
        await kube.patch(
            "configmaps",
            "fin2",
            {"metadata": {"finalizers": ["example.com/a", "example.com/b"]}},
            namespace=ns,
        )
    assert err.value.code in (403, 422)
    await kube.patch("configmaps", "fin2", {"metadata": {"finalizers": None}}, namespace=ns)


async def test_background_deletion_collects_dependents(kube: Client, ns: str) -> None:
    owner = await kube.create(cm("owner", ns))
    await kube.create(cm("dep", ns, ownerReferences=owned_by(owner)))
    await kube.delete("configmaps", "owner", namespace=ns, propagation_policy="Background")
    await until(lambda: gone(kube, "dep", ns), within=30)


async def test_foreground_deletion_waits_for_dependents(kube: Client, ns: str) -> None:
    owner = await kube.create(cm("fg-owner", ns))
    await kube.create(cm("fg-dep", ns, ownerReferences=owned_by(owner), finalizers=["example.com/slow"]))
    await kube.delete("configmaps", "fg-owner", namespace=ns, propagation_policy="Foreground")
    held = await kube.get("configmaps", "fg-owner", namespace=ns)
    assert "foregroundDeletion" in held["metadata"]["finalizers"]

    async def dependent_terminating() -> bool:
        dep = await kube.get("configmaps", "fg-dep", namespace=ns)
        return bool(dep["metadata"].get("deletionTimestamp"))

    await until(dependent_terminating, within=30)
    assert not await gone(kube, "fg-owner", ns)
    await kube.patch("configmaps", "fg-dep", {"metadata": {"finalizers": None}}, namespace=ns)
    await until(lambda: gone(kube, "fg-owner", ns), within=30)


async def test_orphan_deletion_keeps_dependents_without_owner_reference(kube: Client, ns: str) -> None:
    owner = await kube.create(cm("or-owner", ns))
    await kube.create(cm("or-dep", ns, ownerReferences=owned_by(owner)))
    await kube.delete("configmaps", "or-owner", namespace=ns, propagation_policy="Orphan")
    await until(lambda: gone(kube, "or-owner", ns), within=30)
    dep = await kube.get("configmaps", "or-dep", namespace=ns)
    assert not dep["metadata"].get("ownerReferences")


async def test_dependent_with_a_living_owner_survives(kube: Client, ns: str) -> None:
    first = await kube.create(cm("o1", ns))
    second = await kube.create(cm("o2", ns))
    await kube.create(cm("shared", ns, ownerReferences=owned_by(first) + owned_by(second)))
    await kube.delete("configmaps", "o1", namespace=ns)

    async def one_owner_left() -> bool:
        refs = (await kube.get("configmaps", "shared", namespace=ns))["metadata"].get("ownerReferences") or []
        return [r["name"] for r in refs] == ["o2"]

    await until(one_owner_left, within=30)


def test_namespace_deletion_empties_it(kctl: Kubectl) -> None:
    import uuid

    name = f"doomed-{uuid.uuid4().hex[:6]}"
    kctl("create", "namespace", name)
    kctl("create", "configmap", "inside", "-n", name)
    kctl("create", "secret", "generic", "s", "-n", name, "--from-literal=a=b")
    kctl("delete", "namespace", name, "--timeout=60s")
    assert kctl("get", "namespace", name, check=False).returncode != 0


async def test_create_in_terminating_namespace_is_forbidden(kube: Client, kctl: Kubectl) -> None:
    import uuid

    name = f"closing-{uuid.uuid4().hex[:6]}"
    kctl("create", "namespace", name)
    await kube.create(cm("stay", name, finalizers=["example.com/hold"]))
    await kube.delete("namespaces", name)
    from kubeloop.client import ForbiddenError

    with pytest.raises(ForbiddenError) as err:
        await kube.create(cm("late", name))
    assert "because it is being terminated" in err.value.message
    await until(lambda: _terminating(kube, name), within=30)
    await kube.patch("configmaps", "stay", {"metadata": {"finalizers": None}}, namespace=name)


async def _terminating(kube: Client, name: str) -> bool:
    try:
        got = await kube.get("configmaps", "stay", namespace=name)
    except NotFoundError:
        return True
    return bool(got["metadata"].get("deletionTimestamp"))


def service(name: str, ns: str, node_port: int | None) -> dict[str, Any]:
    port: dict[str, Any] = {"port": 80, "targetPort": 8080}
    if node_port is not None:
        port["nodePort"] = node_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "NodePort", "selector": {"app": name}, "ports": [port]},
    }


async def test_node_port_is_allocated_in_range(kube: Client, ns: str) -> None:
    created = await kube.create(service("auto", ns, None))
    port = created["spec"]["ports"][0]
    assert 30000 <= port["nodePort"] <= 32767
    assert port["protocol"] == "TCP"
    assert created["spec"]["clusterIP"]


async def test_node_port_taken_twice_is_invalid_already_allocated(kube: Client, ns: str) -> None:
    taken = await kube.create(service("first", ns, None))
    node_port = taken["spec"]["ports"][0]["nodePort"]
    with pytest.raises(InvalidError) as err:
        await kube.create(service("second", ns, node_port))
    assert err.value.code == 422
    assert err.value.message == (
        f'Service "second" is invalid: spec.ports[0].nodePort: Invalid value: {node_port}: '
        "provided port is already allocated"
    )
    assert [(c.reason, c.field) for c in err.value.causes] == [
        ("FieldValueInvalid", "spec.ports[0].nodePort")
    ]


async def test_node_port_out_of_range_is_invalid(kube: Client, ns: str) -> None:
    with pytest.raises(InvalidError) as err:
        await kube.create(service("low", ns, 80))
    assert err.value.causes[0].field == "spec.ports[0].nodePort"
    assert "provided port is not in the valid range" in err.value.causes[0].message
