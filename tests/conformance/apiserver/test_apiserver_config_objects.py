"""Secrets and ConfigMaps as the real kube-apiserver keeps them, compared in the same test: stringData
merged into data, immutable ones refusing changes, a Secret's type fixed and the keys each type needs,
keys and the 1 MiB size checked; label and annotation rules on every kind."""

from __future__ import annotations

from typing import Any

import pytest
from apiserver_twin import Twin

MIB = 1024 * 1024


def secret(name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, **fields}


async def test_string_data_is_merged_into_data_on_create_update_and_patch(twin: Twin, tns: str) -> None:
    path = f"/api/v1/namespaces/{tns}/secrets"
    steps: list[tuple[str, str, Any, str]] = [
        ("POST", path, secret("s", stringData={"a": "hello"}, data={"b": "d29ybGQ="}), "application/json"),
        (
            "PUT",
            f"{path}/s",
            secret("s", stringData={"a": "bye"}, data={"b": "d29ybGQ="}),
            "application/json",
        ),
        ("PATCH", f"{path}/s", {"stringData": {"c": "x"}}, "application/merge-patch+json"),
    ]
    for method, url, body, content_type in steps:
        real, embedded = await twin.call(method, url, body, content_type)
        assert embedded.status == real.status < 300
        assert "stringData" not in embedded.body
        assert embedded.body["data"] == real.body["data"]
    stored = await twin.call("GET", f"{path}/s")
    assert [a.body["data"] for a in stored] == [{"a": "Ynll", "b": "d29ybGQ=", "c": "eA=="}] * 2


@pytest.mark.parametrize("kind", ["secrets", "configmaps"])
async def test_immutable_objects_refuse_changes_to_data_and_to_immutable(
    twin: Twin, tns: str, kind: str
) -> None:
    path = f"/api/v1/namespaces/{tns}/{kind}"
    await twin.call("POST", path, {"metadata": {"name": "frozen"}, "immutable": True, "data": {"b": "eA=="}})
    merge = "application/merge-patch+json"
    await twin.same_refusal("PATCH", f"{path}/frozen", {"data": {"b": "eQ=="}}, merge)
    await twin.same_refusal("PATCH", f"{path}/frozen", {"immutable": False}, merge)
    if kind == "configmaps":
        await twin.same_refusal("PATCH", f"{path}/frozen", {"binaryData": {"z": "eA=="}}, merge)
    real, embedded = await twin.call("PATCH", f"{path}/frozen", {"metadata": {"labels": {"a": "b"}}}, merge)
    assert embedded.status == real.status == 200


async def test_a_secret_type_never_changes_and_each_type_needs_its_keys(twin: Twin, tns: str) -> None:
    path = f"/api/v1/namespaces/{tns}/secrets"
    await twin.call("POST", path, secret("typed", type="Opaque"))
    await twin.same_refusal(
        "PATCH", f"{path}/typed", {"type": "kubernetes.io/tls"}, "application/merge-patch+json"
    )
    # The differential run found basic-auth's keys unchecked (the real server names both).
    await twin.same_refusal(
        "PATCH", f"{path}/typed", {"type": "kubernetes.io/basic-auth"}, "application/merge-patch+json"
    )
    for kind, data in (
        ("kubernetes.io/tls", {}),
        ("kubernetes.io/basic-auth", {}),
        ("kubernetes.io/ssh-auth", {"ssh-privatekey": ""}),
        ("kubernetes.io/dockerconfigjson", {}),
        ("kubernetes.io/service-account-token", {}),
    ):
        await twin.same_refusal("POST", path, secret("needs-keys", type=kind, data=data))
    real, embedded = await twin.call(
        "POST", path, secret("basic", type="kubernetes.io/basic-auth", data={"password": ""})
    )
    assert embedded.status == real.status == 201


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("secrets", secret("bad-key", data={"bad key!": "eA=="})),
        ("secrets", secret("too-big", stringData={"a": "x" * (MIB + 10)})),
        ("configmaps", {"metadata": {"name": "dot-key"}, "data": {"..a": "x"}}),
        ("configmaps", {"metadata": {"name": "too-big"}, "data": {"a": "x" * (MIB + 10)}}),
        ("configmaps", {"metadata": {"name": "dup"}, "data": {"a": "x"}, "binaryData": {"a": "eA=="}}),
    ],
    ids=lambda v: v if isinstance(v, str) else v["metadata"]["name"],
)
async def test_keys_and_total_size_are_checked(twin: Twin, tns: str, kind: str, body: dict[str, Any]) -> None:
    answer = await twin.same_refusal("POST", f"/api/v1/namespaces/{tns}/{kind}", body)
    assert answer.status == 422


@pytest.mark.parametrize(
    "metadata",
    [
        {"name": "Bad_Name"},
        {"name": "a" * 254},
        {"name": "bad-label-key", "labels": {"bad key!": "v"}},
        {"name": "empty-name-part", "labels": {"ok/": "v"}},
        {"name": "two-slashes", "labels": {"a/b/c": "x"}},
        {"name": "bad-label-value", "labels": {"k": "bad value!"}},
        {"name": "bad-prefix", "labels": {"Example.com/k": "v"}},
        {"name": "long-name-part", "labels": {"x" * 64: "v"}},
        {"name": "bad-annotation", "annotations": {"bad key": "v"}},
        {"name": "big-annotations", "annotations": {"a": "x" * (256 * 1024)}},
    ],
    ids=lambda m: m["name"][:20],
)
async def test_names_labels_and_annotations_are_checked_as_the_real_server_does(
    twin: Twin, tns: str, metadata: dict[str, Any]
) -> None:
    answer = await twin.same_refusal("POST", f"/api/v1/namespaces/{tns}/configmaps", {"metadata": metadata})
    assert answer.status == 422


async def test_labels_are_checked_on_update_too(twin: Twin, tns: str) -> None:
    path = f"/api/v1/namespaces/{tns}/configmaps"
    await twin.call("POST", path, {"metadata": {"name": "relabelled"}})
    patch = {"metadata": {"labels": {"k": "bad value!"}}}
    real, embedded = await twin.call("PATCH", f"{path}/relabelled", patch, "application/merge-patch+json")
    # The real server repeats the same cause a varying number of times on update (1, 2 or 4 were seen
    # for one request); the embedded one states it once (docs/apiserver.md). The distinct causes match.
    for answer in (real, embedded):
        assert (answer.status, answer.body["reason"]) == (422, "Invalid")
    distinct = [{(c["field"], c["message"]) for c in a.body["details"]["causes"]} for a in (real, embedded)]
    assert distinct[1] == distinct[0]
    stored = await twin.call("GET", f"{path}/relabelled")
    assert [a.body["metadata"].get("labels") for a in stored] == [None, None]


@pytest.mark.parametrize(
    ("kind", "name"),
    [("services", "1svc"), ("namespaces", "a.b")],
    ids=["service-dns1035", "namespace-label"],
)
async def test_names_follow_each_kinds_rule(twin: Twin, tns: str, kind: str, name: str) -> None:
    body: dict[str, Any] = {"metadata": {"name": name}}
    if kind == "services":
        body["spec"] = {"ports": [{"port": 80}]}
        await twin.same_refusal("POST", f"/api/v1/namespaces/{tns}/services", body)
    else:
        await twin.same_refusal("POST", "/api/v1/namespaces", body)
