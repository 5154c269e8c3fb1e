"""Caches scoped from the ``Operator`` on the real API server: namespaces, per-kind label and field
selectors, a per-kind transform, a metadata-only owned kind, an uncached kind read from the server,
an index queried from ``ctx``, and a reconciled kind whose CRD is installed only after the operator
started (and deleted, and installed again) without the operator failing or waiting on it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from gadgets import Gadget, gadget

import kubeloop as kl
from kubeloop import crd
from kubeloop.client import Client
from kubeloop.resources import core_v1
from kubeloop.testing import Kubectl, run_operator, temporary_namespace, until, wait_for_crds
from kubeloop.testing.fixtures import Cluster

pytestmark = pytest.mark.usefixtures("gadget_crd")

RESOURCE = "gadgets.test.kubeloop.io"
LABEL = "scoped-test"


def gadget_of(cm: dict[str, Any]) -> list[str]:
    """The index function: the Gadget a ConfigMap names in its ``gadget`` annotation."""
    return [v for v in [((cm.get("metadata") or {}).get("annotations") or {}).get("gadget")] if v]


def without_annotations(obj: dict[str, Any]) -> dict[str, Any]:
    """The Gadgets' transform: their annotations are not kept."""
    obj["metadata"].pop("annotations", None)
    return obj


async def test_an_operator_caches_its_namespaces_selected_objects_metadata_and_reads_uncached_kinds_live(
    cluster: Cluster, kubectl: Kubectl, client: Client
) -> None:
    with (
        temporary_namespace(kubectl, "scoped-op-a") as a,
        temporary_namespace(kubectl, "scoped-op-b") as b,
        temporary_namespace(kubectl, "scoped-op-c") as c,
    ):
        operator = kl.Operator(
            "scoped-cache-test",
            namespaces=[a, b],
            cache={
                core_v1.ConfigMap: kl.CacheScope(
                    labels={LABEL: "yes"}, metadata_only=True, indexes={"gadget": gadget_of}
                ),
                Gadget: kl.CacheScope(fields={"metadata.name": "g"}, transform=without_annotations),
            },
            uncached=[core_v1.Secret],
        )
        seen: dict[tuple[str, int], dict[str, Any]] = {}

        @operator.reconcile(Gadget, owns=[core_v1.ConfigMap])
        async def reconcile(g: Gadget, ctx: kl.Context) -> None:
            name = g.metadata.name or ""
            secret = await ctx.get(core_v1.Secret, "settings")
            peers = await ctx.list(core_v1.ConfigMap, index="gadget", value=name)  # every namespace
            here = await ctx.list(core_v1.ConfigMap, ctx.request.namespace, index="gadget", value=name)
            seen[(f"{ctx.request.namespace}/{name}", g.spec.replicas)] = {
                "secret": None if secret is None else secret["data"],
                "peers": sorted(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in peers),
                "here": [p["metadata"]["name"] for p in here],
                "cached": sorted(c["metadata"]["name"] for c in await ctx.list(core_v1.ConfigMap)),
            }
            await ctx.apply(
                core_v1.ConfigMap(
                    metadata={
                        "name": f"{name}-child",
                        "labels": {LABEL: "yes"},
                        "annotations": {"gadget": name},
                    },
                    data={"replicas": str(g.spec.replicas)},
                )
            )

        for ns in (a, b, c):
            await client.create(
                {**gadget("g"), "metadata": {"name": "g", "namespace": ns, "annotations": {"note": "x"}}}
            )
            await client.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "unlabelled", "namespace": ns, "annotations": {"gadget": "g"}},
                }
            )
        await client.create({**gadget("other"), "metadata": {"name": "other", "namespace": a}})
        await client.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "settings", "namespace": a},
                "data": {"k": "dg=="},
            }
        )
        async with run_operator(operator, cluster.kubeconfig) as manager:
            await until(lambda: {(f"{a}/g", 1), (f"{b}/g", 1)} <= seen.keys(), what="gadgets of a and b")
            assert seen[(f"{a}/g", 1)]["secret"] == {"k": "dg=="}  # read from the server, not cached
            assert seen[(f"{b}/g", 1)]["secret"] is None
            kinds = {informer.resource.plural: informer for informer in manager.cache.informers}
            assert "secrets" not in kinds
            gadgets = kinds["gadgets"]
            assert gadgets.options.field_selector == "metadata.name=g"
            assert sorted(g["metadata"]["name"] for g in gadgets.list()) == ["g", "g"]  # not "other"
            assert all("annotations" not in g["metadata"] for g in gadgets.list())  # the transform
            configmaps = kinds["configmaps"]
            assert configmaps.options.label_selector == f"{LABEL}=yes"
            # Each pass records what it saw before it applies its child: wait for both children.
            await until(
                lambda: all(configmaps.get(ns, "g-child") is not None for ns in (a, b)),
                what="the children cached",
            )
            stored = [configmaps.get(ns, "g-child") for ns in (a, b)]
            assert all(cm is not None and set(cm) == {"apiVersion", "kind", "metadata"} for cm in stored)
            assert configmaps.get(a, "unlabelled") is None  # not selected: never sent to the process
            # Second pass: the index finds the child (and not the unlabelled ConfigMap naming the gadget).
            await client.patch(RESOURCE, "g", {"spec": {"replicas": 2}}, namespace=a)
            await until(lambda: (f"{a}/g", 2) in seen, what="the second pass")
            assert seen[(f"{a}/g", 2)]["peers"] == [f"{a}/g-child", f"{b}/g-child"]
            assert seen[(f"{a}/g", 2)]["here"] == ["g-child"]
            assert seen[(f"{a}/g", 2)]["cached"] == ["g-child"]
            # A deleted child is restored: its metadata-only watch event reconciles the owner.
            await client.delete("configmaps", "g-child", namespace=b)
            await until(
                lambda: kubectl("get", "configmap", "g-child", "-n", b, check=False).returncode == 0,
                what="the child restored",
            )
            await asyncio.sleep(1.0)
            assert not any(key.startswith(f"{c}/") for key, _ in seen)
            assert not any(key.endswith("/other") for key, _ in seen)  # not selected: never reconciled
            assert (await client.get("configmaps", "g-child", namespace=a))["data"] == {"replicas": "2"}
            assert kubectl("get", "configmap", "g-child", "-n", c, check=False).returncode != 0


def test_scopes_that_cannot_work_are_refused_when_the_operator_is_built() -> None:
    uncached_child = kl.Operator("refused", uncached=[core_v1.ConfigMap])

    @uncached_child.reconcile(Gadget, owns=[core_v1.ConfigMap])
    async def reconcile(g: Gadget, ctx: kl.Context) -> None: ...

    with pytest.raises(ValueError, match="ConfigMap is watched"):
        uncached_child._cache_options()
    metadata_primary = kl.Operator("refused", cache={Gadget: kl.CacheScope(metadata_only=True)})
    metadata_primary.reconcile(Gadget)(reconcile)
    with pytest.raises(ValueError, match="metadata-only"):
        metadata_primary._cache_options()
    with pytest.raises(ValueError, match="not both"):
        kl.Operator("refused", namespace="a", namespaces=["b"])


class LateSpec(crd.Model):
    size: int = 1


@crd.resource(group="late-op.kubeloop.io", version="v1")
class LateWidget(crd.CustomResource):
    """A kind whose CRD the test installs only after the operator runs."""

    spec: LateSpec


CRD_NAME = LateWidget.resource_info().crd_name


async def test_an_operator_started_before_its_crd_is_installed_reconciles_once_it_is_and_survives_deletion(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    def k(*args: str, stdin: str | None = None) -> Any:
        return asyncio.to_thread(kubectl, *args, input=stdin)

    await k("delete", "crd", CRD_NAME, "--ignore-not-found")
    operator = kl.Operator("late-crd-test", namespace=namespace)
    other: list[str] = []
    late: list[tuple[str, int]] = []

    @operator.reconcile(Gadget)
    async def gadgets(g: Gadget, ctx: kl.Context) -> None:
        other.append(g.metadata.name or "")

    @operator.reconcile(LateWidget)
    async def widgets(w: LateWidget, ctx: kl.Context) -> None:
        late.append((w.metadata.name or "", w.spec.size))

    widget = {"apiVersion": "late-op.kubeloop.io/v1", "kind": "LateWidget", "metadata": {"name": "w"}}

    async def create_widget(size: int) -> None:
        await k("create", "-n", namespace, "-f", "-", stdin=json.dumps({**widget, "spec": {"size": size}}))

    async def install() -> None:
        await k("apply", "-f", "-", stdin=crd.to_yaml([LateWidget]))
        await asyncio.to_thread(wait_for_crds, kubectl, CRD_NAME)

    async with run_operator(operator, cluster.kubeconfig) as manager:
        await k("apply", "-n", namespace, "-f", "-", stdin=json.dumps(gadget("other")))
        await until(lambda: "other" in other, what="the other kind reconciled meanwhile")
        try:
            await install()
            await create_widget(1)
            await until(lambda: ("w", 1) in late, within=20, what="the late kind reconciled")
        finally:
            await k("delete", "crd", CRD_NAME, "--ignore-not-found")
        try:
            await install()
            await create_widget(2)
            await until(lambda: ("w", 2) in late, within=20, what="reconciled again after a reinstall")
        finally:
            await k("delete", "crd", CRD_NAME, "--ignore-not-found")
        assert manager.cache.synced
