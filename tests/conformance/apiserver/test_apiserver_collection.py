"""What the control loops collect, on the real control plane and the embedded server alike: a
dependent whose owner never existed, a namespace held by its contents' finalizers (with the
conditions the namespace controller reports), a CRD whose custom resources hold finalizers (it stays
Terminating until they go, refusing new ones), a Deployment deleted in the foreground (its Pods go first)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import yaml

from kubeloop.client import Client, MethodNotAllowedError, NotFoundError
from kubeloop.testing import Kubectl, until, wait_for_crds

Obj = dict[str, Any]


async def exists(kube: Client, resource: str, name: str, namespace: str | None = None) -> bool:
    try:
        await kube.get(resource, name, namespace=namespace)
    except NotFoundError:
        return False
    return True


def condition(obj: Obj, kind: str) -> Obj | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or () if c["type"] == kind), None)


async def test_a_dependent_whose_owner_never_existed_is_collected(kube: Client, ns: str) -> None:
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": str(uuid.uuid4())}
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "orphaned", "ownerReferences": [ghost]},
    }
    await kube.create(body, namespace=ns)

    async def collected() -> bool:
        return not await exists(kube, "configmaps", "orphaned", ns)

    await until(collected, within=60, what="the dependent of a missing owner deleted")


async def test_a_namespace_waits_for_its_contents_finalizers(kctl: Kubectl, kube: Client) -> None:
    name = f"held-{uuid.uuid4().hex[:8]}"
    kctl("create", "namespace", name)
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "held", "finalizers": ["example.com/hold"]},
    }
    await kube.create(body, namespace=name)
    kctl("delete", "namespace", name, "--wait=false")

    wanted = [
        (
            "NamespaceDeletionDiscoveryFailure",
            "False",
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        (
            "NamespaceDeletionGroupVersionParsingFailure",
            "False",
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        (
            "NamespaceDeletionContentFailure",
            "False",
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
        (
            "NamespaceContentRemaining",
            "True",
            "SomeResourcesRemain",
            "Some resources are remaining: configmaps. has 1 resource instances",
        ),
        (
            "NamespaceFinalizersRemaining",
            "True",
            "SomeFinalizersRemain",
            "Some content in the namespace has finalizers remaining: "
            "example.com/hold in 1 resource instances",
        ),
    ]
    seen: list[Any] = []

    async def reported() -> bool:
        ns = await kube.get("namespaces", name)
        seen[:] = (ns.get("status") or {}).get("conditions") or []
        return [(c["type"], c["status"], c["reason"], c["message"]) for c in seen] == wanted

    try:
        await until(reported, within=60, what="the namespace reports what holds it")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; its conditions: {seen}") from None
    ns = await kube.get("namespaces", name)
    assert ns["status"]["phase"] == "Terminating"
    assert (await kube.get("configmaps", "held", namespace=name))["metadata"]["deletionTimestamp"]
    await kube.patch("configmaps", "held", {"metadata": {"finalizers": None}}, namespace=name)

    async def gone() -> bool:
        return not await exists(kube, "namespaces", name)

    await until(gone, within=60, what="the namespace gone once its content is")


def gadgets(group: str) -> Obj:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gadgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}
            ],
        },
    }


async def test_a_deleted_crd_waits_for_its_custom_resources_finalizers(
    kctl: Kubectl, kube: Client, ns: str
) -> None:
    group = f"g{uuid.uuid4().hex[:8]}.collection.kubeloop.dev"
    crd_name = f"gadgets.{group}"
    kctl("apply", "-f", "-", input=yaml.safe_dump(gadgets(group)))
    wait_for_crds(kctl, crd_name)
    body = {
        "apiVersion": f"{group}/v1",
        "kind": "Gadget",
        "metadata": {"name": "kept", "finalizers": ["example.com/hold"]},
    }
    kctl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(body))
    kctl("delete", "crd", crd_name, "--wait=false")

    async def terminating() -> bool:
        crd = await kube.get("customresourcedefinitions", crd_name)
        state = condition(crd, "Terminating")
        gadget = kctl.json("get", f"gadgets.{group}", "kept", "-n", ns, "-o", "json")
        return (
            state is not None
            and (state["status"], state["reason"]) == ("True", "InstanceDeletionInProgress")
            and bool(gadget["metadata"].get("deletionTimestamp"))
        )

    await until(terminating, within=60, what="the CRD Terminating and its resource being deleted")
    crd = await kube.get("customresourcedefinitions", crd_name)
    assert crd["metadata"]["finalizers"] == ["customresourcecleanup.apiextensions.k8s.io"]
    # No new custom resource while its CRD is terminating: the real handler's 405 before the body.
    with pytest.raises(MethodNotAllowedError) as refused:
        await kube.create(dict(body, metadata={"name": "late", "namespace": ns}))
    assert refused.value.status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "create not allowed while custom resource definition is terminating",
        "reason": "MethodNotAllowed",
        "details": {"group": group, "kind": "gadgets"},
        "code": 405,
    }
    kctl(
        "patch",
        f"gadgets.{group}",
        "kept",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":null}}',
    )

    async def gone() -> bool:
        return not await exists(kube, "customresourcedefinitions", crd_name)

    await until(gone, within=60, what="the CRD gone once its resources are")


async def test_a_deployment_deleted_in_the_foreground_goes_after_its_pods(
    kctl: Kubectl, kube: Client, ns: str
) -> None:
    kctl("create", "deployment", "fg", "-n", ns, "--image=app:1", "--replicas=2")
    kctl("rollout", "status", "deployment/fg", "-n", ns, "--timeout=90s")
    since = (await kube.list("pods", namespace=ns))["metadata"]["resourceVersion"]
    kctl("delete", "deployment", "fg", "-n", ns, "--cascade=foreground", "--wait=false")

    async def done() -> bool:
        pods = (await kube.list("pods", namespace=ns))["items"]
        sets = (await kube.list("replicasets", namespace=ns))["items"]
        return not pods and not sets and not await exists(kube, "deployments", "fg", ns)

    await until(done, within=90, what="pods, ReplicaSet and Deployment gone")
    deleted: dict[str, list[int]] = {"pods": [], "deployments": []}
    for resource in deleted:
        async for event in kube.watch(resource, namespace=ns, resource_version=since, timeout_seconds=2):
            if event.type == "DELETED":
                deleted[resource].append(int(event.resource_version))
    assert len(deleted["pods"]) == 2
    assert len(deleted["deployments"]) == 1
    assert max(deleted["pods"]) < deleted["deployments"][0], "the Deployment went before its pods"
