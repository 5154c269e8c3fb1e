"""CRUD, resourceVersion semantics, generation, dry-run and error bodies: real and embedded alike."""

from __future__ import annotations

import pytest

from kubeloop.client import (
    AlreadyExistsError,
    Client,
    ConflictError,
    InvalidError,
    NotFoundError,
    Preconditions,
)
from kubeloop.testing.objects import configmap as cm
from kubeloop.testing.objects import deployment


async def test_create_get_replace_delete_round_trip(kube: Client, ns: str) -> None:
    created = await kube.create(cm("a", ns, k="1"))
    md = created["metadata"]
    assert md["uid"]
    assert md["creationTimestamp"]
    assert md["resourceVersion"]
    assert md["managedFields"][0]["operation"] == "Update"
    got = await kube.get("configmaps", "a", namespace=ns)
    assert got["data"] == {"k": "1"}
    got["data"]["k"] = "2"
    replaced = await kube.replace(got)
    assert int(replaced["metadata"]["resourceVersion"]) > int(md["resourceVersion"])
    await kube.delete("configmaps", "a", namespace=ns)
    with pytest.raises(NotFoundError) as err:
        await kube.get("configmaps", "a", namespace=ns)
    assert err.value.reason == "NotFound"
    assert err.value.details["name"] == "a"
    assert err.value.details["kind"] == "configmaps"


async def test_create_twice_is_already_exists(kube: Client, ns: str) -> None:
    await kube.create(cm("twice", ns))
    with pytest.raises(AlreadyExistsError) as err:
        await kube.create(cm("twice", ns))
    assert err.value.code == 409
    assert err.value.reason == "AlreadyExists"


async def test_generate_name_appends_five_characters(kube: Client, ns: str) -> None:
    obj = cm("", ns)
    obj["metadata"] = {"generateName": "gen-", "namespace": ns}
    created = await kube.create(obj)
    name = created["metadata"]["name"]
    assert name.startswith("gen-")
    assert len(name) == len("gen-") + 5


async def test_invalid_name_is_422_with_metadata_name_cause(kube: Client, ns: str) -> None:
    with pytest.raises(InvalidError) as err:
        await kube.create(cm("Not_Valid", ns))
    assert err.value.code == 422
    assert [c.field for c in err.value.causes] == ["metadata.name"]
    assert err.value.causes[0].reason == "FieldValueInvalid"


async def test_create_in_missing_namespace_is_not_found(kube: Client) -> None:
    with pytest.raises(NotFoundError) as err:
        await kube.create(cm("x", "no-such-namespace-here"))
    assert err.value.details["kind"] == "namespaces"


async def test_stale_resource_version_is_conflict(kube: Client, ns: str) -> None:
    stale = await kube.create(cm("c", ns, n="0"))
    await kube.replace(dict(stale, data={"n": "1"}))
    with pytest.raises(ConflictError) as err:
        await kube.replace(dict(stale, data={"n": "2"}))
    assert err.value.reason == "Conflict"
    assert "the object has been modified" in err.value.message
    assert (await kube.get("configmaps", "c", namespace=ns))["data"] == {"n": "1"}


async def test_noop_update_keeps_resource_version(kube: Client, ns: str) -> None:
    created = await kube.create(cm("same", ns, a="1"))
    again = await kube.replace(created)
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_generation_moves_only_with_spec(kube: Client, ns: str) -> None:
    created = await kube.create(deployment("gen", ns))
    assert created["metadata"]["generation"] == 1
    labelled = await kube.patch("deployments", "gen", {"metadata": {"labels": {"x": "y"}}}, namespace=ns)
    assert labelled["metadata"]["generation"] == 1
    scaled = await kube.patch("deployments", "gen", {"spec": {"replicas": 3}}, namespace=ns)
    assert scaled["metadata"]["generation"] == 2


async def test_status_subresource_separates_spec_and_status(kube: Client, ns: str) -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "st", "namespace": ns},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "selector": {"app": "st"}},
    }
    created = await kube.create(svc)
    lb = {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}
    changed = dict(created, status=lb, spec=dict(created["spec"], selector={"app": "other"}))
    updated = await kube.replace(changed, subresource="status")
    assert updated["spec"]["selector"] == {"app": "st"}
    stored = {"loadBalancer": {"ingress": [{"ip": "192.0.2.10", "ipMode": "VIP"}]}}  # ipMode defaulted
    assert updated["status"] == stored
    main = dict(updated, status={"loadBalancer": {}})
    after = await kube.replace(main)
    assert after["status"] == stored


async def test_dry_run_create_stores_nothing(kube: Client, ns: str) -> None:
    result = await kube.create(cm("dry", ns, a="1"), dry_run=True)
    assert result["data"] == {"a": "1"}
    with pytest.raises(NotFoundError):
        await kube.get("configmaps", "dry", namespace=ns)


async def test_delete_with_wrong_uid_precondition_is_conflict(kube: Client, ns: str) -> None:
    await kube.create(cm("pre", ns))
    with pytest.raises(ConflictError) as err:
        await kube.delete("configmaps", "pre", namespace=ns, preconditions=Preconditions(uid="not-the-uid"))
    assert err.value.message.startswith(
        'Operation cannot be fulfilled on ConfigMap "pre": the UID in the precondition'
    )
    await kube.get("configmaps", "pre", namespace=ns)


async def test_delete_returns_success_status_for_configmaps(kube: Client, ns: str) -> None:
    created = await kube.create(cm("gone", ns))
    result = await kube.delete("configmaps", "gone", namespace=ns)
    assert result["kind"] == "Status"
    assert result["status"] == "Success"
    assert result["details"]["uid"] == created["metadata"]["uid"]


async def test_delete_collection_by_label(kube: Client, ns: str) -> None:
    for name, tier in (("d1", "a"), ("d2", "a"), ("d3", "b")):
        obj = cm(name, ns)
        obj["metadata"]["labels"] = {"tier": tier}
        await kube.create(obj)
    await kube.delete_collection("configmaps", namespace=ns, label_selector="tier=a")
    left = await kube.list("configmaps", namespace=ns, label_selector="tier")
    assert [i["metadata"]["name"] for i in left["items"]] == ["d3"]
