"""What the decoder refuses or reports, compared with the real kube-apiserver in the same test: values
of the wrong Go type, bad base64, unknown fields (warned and dropped; 400 under Strict; nothing under
Ignore), and patches whose result does not decode."""

from __future__ import annotations

from typing import Any

import pytest
from apiserver_twin import Twin, deployment


def with_container(name: str, **fields: Any) -> dict[str, Any]:
    body = deployment(name)
    body["spec"]["template"]["spec"]["containers"][0].update(fields)
    return body


@pytest.mark.parametrize(
    "body",
    [
        deployment("replicas-string", replicas="three"),
        deployment("replicas-float", replicas=1.5),
        deployment("replicas-overflow", replicas=3_000_000_000),
        with_container("tty-string", tty="yes"),
        with_container("port-string", ports=[{"containerPort": "80"}]),
        deployment("containers-object", template={"spec": {"containers": {"a": 1}}}),
        deployment("container-string", template={"spec": {"containers": ["x"]}}),
    ],
    ids=lambda b: b["metadata"]["name"],
)
async def test_wrong_go_type_in_a_deployment_is_refused_as_the_real_decoder_does(
    twin: Twin, tns: str, body: dict[str, Any]
) -> None:
    answer = await twin.same_refusal("POST", f"/apis/apps/v1/namespaces/{tns}/deployments", body)
    assert answer.status == 400


@pytest.mark.parametrize(
    ("resource", "body"),
    [
        ("configmaps", {"metadata": {"name": "label-number", "labels": {"a": 1}}}),
        ("configmaps", {"metadata": {"name": "data-string"}, "data": "x"}),
        ("configmaps", {"metadata": {"name": "data-number"}, "data": {"a": 1}}),
        ("configmaps", {"metadata": {"name": "binary"}, "binaryData": {"a": "eA==eA=="}}),
        ("secrets", {"metadata": {"name": "not-base64"}, "data": {"b": "not base64!"}}),
        ("secrets", {"metadata": {"name": "short"}, "data": {"b": "abc"}}),
    ],
    ids=lambda v: v if isinstance(v, str) else v["metadata"]["name"],
)
async def test_wrong_types_and_bad_base64_in_core_kinds_are_refused(
    twin: Twin, tns: str, resource: str, body: dict[str, Any]
) -> None:
    answer = await twin.same_refusal("POST", f"/api/v1/namespaces/{tns}/{resource}", body)
    assert answer.status == 400


async def test_metadata_that_is_not_an_object_is_refused(twin: Twin, tns: str) -> None:
    real, embedded = await twin.call("POST", f"/api/v1/namespaces/{tns}/configmaps", {"metadata": "x"})
    assert embedded.status_fields() == real.status_fields()


async def test_unknown_fields_are_dropped_with_one_warning_each_in_document_order(
    twin: Twin, tns: str
) -> None:
    path = f"/api/v1/namespaces/{tns}/configmaps"
    body = {"metadata": {"name": "warned", "bogusmeta": 1}, "bogus": 1, "data": {"a": "b"}}
    real, embedded = await twin.call("POST", path, body)
    assert (
        (embedded.status, embedded.warnings)
        == (real.status, real.warnings)
        == (
            201,
            ['299 - "unknown field \\"metadata.bogusmeta\\""', '299 - "unknown field \\"bogus\\""'],
        )
    )
    stored = await twin.call("GET", f"{path}/warned")
    assert [("bogus" in a.body, "bogusmeta" in a.body["metadata"]) for a in stored] == [(False, False)] * 2

    put = {"metadata": {"name": "warned"}, "bogus2": 1, "data": {"a": "c"}}
    real, embedded = await twin.call("PUT", f"{path}/warned", put)
    assert (embedded.status, embedded.warnings) == (real.status, real.warnings)
    real, embedded = await twin.call("PATCH", f"{path}/warned", {"bogus3": 1}, "application/merge-patch+json")
    assert (embedded.status, embedded.warnings) == (real.status, real.warnings)
    assert real.warnings == ['299 - "unknown field \\"bogus3\\""']


async def test_unknown_fields_in_a_deployment_are_warned_by_their_path(twin: Twin, tns: str) -> None:
    body = deployment("warned", bogusSpec=2)
    real, embedded = await twin.call("POST", f"/apis/apps/v1/namespaces/{tns}/deployments", body)
    assert (embedded.status, embedded.warnings) == (real.status, real.warnings)
    assert real.warnings == ['299 - "unknown field \\"spec.bogusSpec\\""']


async def test_strict_field_validation_refuses_unknown_fields_and_ignore_says_nothing(
    twin: Twin, tns: str
) -> None:
    path = f"/api/v1/namespaces/{tns}/configmaps"
    strict = {"metadata": {"name": "strict", "bogusmeta": 1}, "bogus": 1}
    await twin.same_refusal("POST", f"{path}?fieldValidation=Strict", strict)
    await twin.same_refusal(
        "POST", f"{path}?fieldValidation=Strict", {"metadata": {"name": "strict"}, "b": 1}
    )
    real, embedded = await twin.call(
        "POST", f"{path}?fieldValidation=Ignore", {"metadata": {"name": "ignored"}, "bogus": 1}
    )
    assert (embedded.status, embedded.warnings) == (real.status, real.warnings) == (201, [])


async def test_a_patch_whose_result_does_not_decode_is_invalid_naming_the_patch(twin: Twin, tns: str) -> None:
    path = f"/api/v1/namespaces/{tns}/configmaps"
    await twin.call("POST", path, {"metadata": {"name": "patched"}, "data": {"a": "b"}})
    for patch, query in (({"data": {"x": 1}}, ""), ({"bogus": 1}, "?fieldValidation=Strict")):
        real, embedded = await twin.call(
            "PATCH", f"{path}/patched{query}", patch, "application/merge-patch+json"
        )
        # The message quotes the whole patched object as Go serialises it (field order, managedFields):
        # the embedded server's quote differs (see docs/apiserver.md); the rest must match.
        for answer in (real, embedded):
            assert answer.status == 422
            assert answer.body["reason"] == "Invalid"
            assert answer.body["message"].startswith(' "" is invalid: patch: Invalid value: "{')
        assert [c["field"] for c in embedded.body["details"]["causes"]] == ["patch"]
        assert embedded.body["message"].rsplit('}": ', 1)[1] == real.body["message"].rsplit('}": ', 1)[1]
    after = await twin.call("GET", f"{path}/patched")
    assert [a.body["data"] for a in after] == [{"a": "b"}] * 2


@pytest.mark.parametrize(
    "size",
    [int(1.6 * 1024 * 1024), 3 * 1024 * 1024 + 100],
    ids=["over-the-storage-limit", "over-the-body-limit"],
)
async def test_objects_too_large_are_refused_as_the_real_server_does(twin: Twin, tns: str, size: int) -> None:
    body = {
        "metadata": {"name": "huge"},
        "spec": {"containers": [{"name": "c", "image": "x", "args": ["x" * size]}]},
    }
    await twin.same_refusal("POST", f"/api/v1/namespaces/{tns}/pods", body)


def _field(number: int, data: bytes) -> bytes:
    """A length-delimited protobuf field (lengths here stay under 128: one byte)."""
    assert len(data) < 128
    return bytes([number << 3 | 2, len(data)]) + data


def _protobuf(api_version: str, kind: str, message: bytes) -> bytes:
    """A Kubernetes protobuf body: the magic prefix and a runtime.Unknown envelope."""
    type_meta = _field(1, api_version.encode()) + _field(2, kind.encode())
    return b"k8s\x00" + _field(1, type_meta) + _field(2, message)


async def test_protobuf_delete_options_of_the_core_group_are_decoded_as_the_real_server_does(
    twin: Twin, tns: str
) -> None:
    """client-go sends a DeleteOptions as ``v1`` protobuf (helm uninstall deleting its release Secrets):
    a wrong uid precondition is the same Conflict on both servers, the right one deletes."""
    path = f"/api/v1/namespaces/{tns}/configmaps/pb"
    real, embedded = await twin.call(
        "POST", f"/api/v1/namespaces/{tns}/configmaps", {"metadata": {"name": "pb"}}
    )
    assert (real.status, embedded.status) == (201, 201)

    def options(uid: str) -> bytes:
        return _protobuf("v1", "DeleteOptions", _field(2, _field(1, uid.encode())))

    refused = await twin.call("DELETE", path, options("wrong"), "application/vnd.kubernetes.protobuf")
    statuses = []
    for created, answer in zip((real, embedded), refused, strict=True):
        fields = answer.status_fields()
        fields["message"] = fields["message"].replace(created.body["metadata"]["uid"], "UID")
        statuses.append(fields)
    assert statuses[1] == statuses[0]
    assert statuses[0]["code"] == 409
    for server, created in (("real", real), ("embedded", embedded)):
        raw = getattr(twin, server)
        answer = await raw.call(
            "DELETE", path, options(created.body["metadata"]["uid"]), "application/vnd.kubernetes.protobuf"
        )
        assert answer.status == 200, (server, answer.body)
        assert (await raw.call("GET", path)).status == 404
