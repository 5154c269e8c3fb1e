"""Patches (JSON, merge, strategic merge), server-side apply ownership and conflicts, the scale
subresource, and kubectl apply/scale/patch: real and embedded alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from kubeloop.client import ApiError, Client, ConflictError, InvalidError, PatchType
from kubeloop.testing import Kubectl, objects
from kubeloop.testing.objects import configmap as cm


def deployment(name: str, namespace: str) -> dict[str, Any]:
    env, ports = [{"name": "A", "value": "1"}], [{"containerPort": 8080}]
    main = {**objects.MAIN_CONTAINER, "env": env, "ports": ports}
    return objects.deployment(name, namespace, main, {"name": "sidecar", "image": "example.com/sidecar:1"})


async def test_json_patch_operations_and_failed_test_op(kube: Client, ns: str) -> None:
    await kube.create(cm("jp", ns, a="1"))
    ops = [{"op": "add", "path": "/data/b", "value": "2"}, {"op": "remove", "path": "/data/a"}]
    patched = await kube.patch("configmaps", "jp", ops, type=PatchType.JSON, namespace=ns)
    assert patched["data"] == {"b": "2"}
    with pytest.raises(ApiError) as err:
        await kube.patch(
            "configmaps",
            "jp",
            [{"op": "test", "path": "/data/b", "value": "9"}],
            type=PatchType.JSON,
            namespace=ns,
        )
    assert err.value.code == 422


async def test_merge_patch_null_deletes_key(kube: Client, ns: str) -> None:
    await kube.create(cm("mp", ns, a="1", b="2"))
    patched = await kube.patch("configmaps", "mp", {"data": {"a": None, "c": "3"}}, namespace=ns)
    assert patched["data"] == {"b": "2", "c": "3"}


async def test_strategic_merge_merges_containers_env_and_ports_by_key(kube: Client, ns: str) -> None:
    await kube.create(deployment("smp", ns))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "example.com/main:2",
                            "env": [{"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 9090}],
                        },
                    ]
                }
            }
        }
    }
    patched = await kube.patch("deployments", "smp", patch, type=PatchType.STRATEGIC, namespace=ns)
    containers = patched["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["main", "sidecar"]
    assert containers[0]["image"] == "example.com/main:2"
    assert [e["name"] for e in containers[0]["env"]] == ["B", "A"]
    assert sorted(p["containerPort"] for p in containers[0]["ports"]) == [8080, 9090]


async def test_strategic_merge_delete_directive_removes_list_item(kube: Client, ns: str) -> None:
    await kube.create(deployment("smpdel", ns))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
    patched = await kube.patch("deployments", "smpdel", patch, type=PatchType.STRATEGIC, namespace=ns)
    assert [c["name"] for c in patched["spec"]["template"]["spec"]["containers"]] == ["main"]


async def test_apply_records_manager_and_conflicts_with_other_manager(kube: Client, ns: str) -> None:
    applied = await kube.apply(cm("ssa", ns, key="one"), field_manager="alice")
    owners = {e["manager"]: e["operation"] for e in applied["metadata"]["managedFields"]}
    assert owners == {"alice": "Apply"}
    with pytest.raises(ConflictError) as err:
        await kube.apply(cm("ssa", ns, key="two"), field_manager="bob")
    assert err.value.reason == "Conflict"
    assert [(c.reason, c.field) for c in err.value.causes] == [("FieldManagerConflict", ".data.key")]
    assert 'conflict with "alice"' in err.value.causes[0].message
    forced = await kube.apply(cm("ssa", ns, key="two"), field_manager="bob", force=True)
    assert forced["data"] == {"key": "two"}
    owners_after = {e["manager"] for e in forced["metadata"]["managedFields"]}
    assert owners_after == {"bob"}


async def test_apply_without_a_field_manager_is_invalid(kube: Client, ns: str) -> None:
    with pytest.raises(InvalidError) as err:
        await kube.apply(cm("nameless", ns, key="one"), field_manager="")
    assert [(c.reason, c.field) for c in err.value.causes] == [("FieldValueRequired", "fieldManager")]
    assert "is required for apply patch" in err.value.causes[0].message


async def test_apply_same_value_is_shared_without_conflict(kube: Client, ns: str) -> None:
    await kube.apply(cm("share", ns, key="v"), field_manager="alice")
    shared = await kube.apply(cm("share", ns, key="v", extra="x"), field_manager="bob")
    managers = sorted(e["manager"] for e in shared["metadata"]["managedFields"])
    assert managers == ["alice", "bob"]


async def test_apply_removes_fields_the_manager_stopped_applying(kube: Client, ns: str) -> None:
    await kube.apply(cm("prune", ns, keep="1", drop="2"), field_manager="alice")
    result = await kube.apply(cm("prune", ns, keep="1"), field_manager="alice")
    assert result["data"] == {"keep": "1"}


def node_port_service(name: str, namespace: str, *ports: tuple[int, int]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "NodePort",
            "selector": {"app": name},
            "ports": [
                {"name": f"port-{port}", "port": port, "targetPort": 80, "nodePort": node_port}
                for port, node_port in ports
            ],
        },
    }


async def test_apply_replaces_an_associative_list_item_the_manager_stopped_applying(
    kube: Client, ns: str
) -> None:
    # what an operator does when its custom resource's ports change (AppService: 80 -> 8080)
    await kube.apply(node_port_service("ports", ns, (80, 30402)), field_manager="op")
    result = await kube.apply(node_port_service("ports", ns, (8080, 30403)), field_manager="op")
    ports = [(p["name"], p["port"], p["nodePort"], p["protocol"]) for p in result["spec"]["ports"]]
    assert ports == [("port-8080", 8080, 30403, "TCP")]


async def test_apply_drops_one_of_two_containers(kube: Client, ns: str) -> None:
    await kube.apply(deployment("two", ns), field_manager="op")
    one = deployment("two", ns)
    del one["spec"]["template"]["spec"]["containers"][1]
    result = await kube.apply(one, field_manager="op")
    containers = result["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("main", "example.com/main:1")]


async def test_update_then_apply_conflicts_with_update_manager(kube: Client, ns: str) -> None:
    await kube.create(cm("upd", ns, key="a"), field_manager="editor")
    with pytest.raises(ConflictError) as err:
        await kube.apply(cm("upd", ns, key="b"), field_manager="applier")
    assert 'conflict with "editor"' in err.value.message


async def test_scale_subresource_reads_and_writes_replicas(kube: Client, ns: str) -> None:
    await kube.create(deployment("sc", ns))
    scale = await kube.get("deployments", "sc", namespace=ns, subresource="scale")
    assert scale["kind"] == "Scale"
    assert scale["spec"]["replicas"] == 1
    patched = await kube.patch(
        "deployments", "sc", {"spec": {"replicas": 4}}, namespace=ns, subresource="scale"
    )
    assert patched["kind"] == "Scale"
    assert patched["spec"]["replicas"] == 4
    assert (await kube.get("deployments", "sc", namespace=ns))["spec"]["replicas"] == 4


def test_kubectl_apply_twice_updates_image_and_scale(kctl: Kubectl, ns: str) -> None:
    manifest = deployment("kapply", ns)
    kctl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = "example.com/main:3"
    out = kctl("apply", "-f", "-", input=yaml.safe_dump(manifest)).stdout
    assert "configured" in out
    kctl("scale", "deployment/kapply", "-n", ns, "--replicas=3")
    got = kctl.json("get", "deployment", "kapply", "-n", ns)
    assert got["spec"]["replicas"] == 3
    assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "example.com/main:3"
    assert got["metadata"]["generation"] == 3
    assert "kubectl.kubernetes.io/last-applied-configuration" in got["metadata"]["annotations"]


def test_kubectl_server_side_apply_conflict_message(kctl: Kubectl, ns: str) -> None:
    kctl("create", "configmap", "kssa", "-n", ns, "--from-literal=k=1")
    proc = kctl("apply", "--server-side", "-f", "-", check=False, input=yaml.safe_dump(cm("kssa", ns, k="2")))
    assert proc.returncode != 0
    assert 'conflict with "kubectl-create"' in proc.stderr
    assert ".data.k" in proc.stderr
    kctl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump(cm("kssa", ns, k="2"))
    )
    assert kctl.json("get", "configmap", "kssa", "-n", ns)["data"] == {"k": "2"}


def test_kubectl_patch_types(kctl: Kubectl, ns: str) -> None:
    kctl("create", "configmap", "kp", "-n", ns, "--from-literal=a=1")
    kctl("patch", "configmap", "kp", "-n", ns, "--type=merge", "-p", json.dumps({"data": {"b": "2"}}))
    kctl(
        "patch",
        "configmap",
        "kp",
        "-n",
        ns,
        "--type=json",
        "-p",
        json.dumps([{"op": "remove", "path": "/data/a"}]),
    )
    assert kctl.json("get", "configmap", "kp", "-n", ns)["data"] == {"b": "2"}
