"""What the differential run (test_apiserver_differential.py) found the embedded server answering
differently from the real kube-apiserver, one case each, compared in the same test: the request's own
checks that come before the object is looked up (patch media types, delete options, selectors,
resourceVersion), dry-run status codes, Services (create on update, ports, the deleted object, their
status), list items, and server-side apply (kind required, emptied metadata, managedFields order)."""

from __future__ import annotations

from typing import Any

import pytest
from apiserver_twin import Twin

APPLY = "application/apply-patch+yaml"


def service(name: str, *ports: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": {"ports": list(ports)}}


async def test_a_dry_run_create_is_201_and_stores_nothing(twin: Twin, tns: str) -> None:
    path = f"/api/v1/namespaces/{tns}/configmaps"
    real, embedded = await twin.call("POST", f"{path}?dryRun=All", {"metadata": {"name": "dry"}})
    assert embedded.status == real.status == 201
    assert [a.status for a in await twin.call("GET", f"{path}/dry")] == [404, 404]


@pytest.mark.parametrize(
    ("method", "query", "body", "content_type"),
    [
        ("PATCH", "", {"data": {}}, "application/strategic-patch+json"),
        ("DELETE", "?propagationPolicy=Sometimes", None, "application/json"),
    ],
    ids=["unknown-patch-type", "bad-propagation-policy"],
)
async def test_the_requests_own_checks_come_before_the_lookup(
    twin: Twin, tns: str, method: str, query: str, body: Any, content_type: str
) -> None:
    answer = await twin.same_status(
        method, f"/api/v1/namespaces/{tns}/configmaps/missing{query}", body, content_type
    )
    assert answer.status in (415, 422)


async def test_delete_options_in_the_body_leave_the_query_unread(twin: Twin, tns: str) -> None:
    options = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": "1"}}
    answer = await twin.same_status(
        "DELETE", f"/api/v1/namespaces/{tns}/configmaps/missing?propagationPolicy=Sometimes", options
    )
    assert answer.status == 404


@pytest.mark.parametrize(
    "query",
    [
        "labelSelector=a%3Db%2C",
        "labelSelector=%2Ca",
        "labelSelector=a%3Db%2C%2Cc",
        "resourceVersion=abc",
        "watch=1&resourceVersion=abc",
    ],
    ids=["trailing-comma", "leading-comma", "double-comma", "list-version", "watch-version"],
)
async def test_selectors_and_versions_that_do_not_parse(twin: Twin, tns: str, query: str) -> None:
    answer = await twin.same_status("GET", f"/api/v1/namespaces/{tns}/configmaps?{query}")
    assert answer.status in (400, 500)


@pytest.mark.parametrize("resource", ["services", "secrets", "configmaps"])
async def test_unsupported_field_selectors_are_worded_per_kind(twin: Twin, tns: str, resource: str) -> None:
    answer = await twin.same_status(
        "GET", f"/api/v1/namespaces/{tns}/{resource}?fieldSelector=spec.bogus%3Dx"
    )
    assert answer.status == 400


async def test_a_service_selected_by_type_is_listed(twin: Twin, tns: str) -> None:
    await twin.call("POST", f"/api/v1/namespaces/{tns}/services", service("typed", {"port": 80}))
    answers = await twin.call("GET", f"/api/v1/namespaces/{tns}/services?fieldSelector=spec.type%3DClusterIP")
    assert [[i["metadata"]["name"] for i in a.body["items"]] for a in answers] == [["typed"]] * 2


async def test_list_items_of_built_in_kinds_carry_no_kind(twin: Twin, tns: str) -> None:
    await twin.call("POST", f"/api/v1/namespaces/{tns}/configmaps", {"metadata": {"name": "listed"}})
    query = "fieldSelector=metadata.name%3Dlisted"
    real, embedded = await twin.call("GET", f"/api/v1/namespaces/{tns}/configmaps?{query}")
    assert sorted(embedded.body["items"][0]) == sorted(real.body["items"][0]) == ["metadata"]


async def test_an_update_of_a_missing_service_creates_it_and_a_delete_answers_with_it(
    twin: Twin, tns: str
) -> None:
    path = f"/api/v1/namespaces/{tns}/services/put"
    real, embedded = await twin.call("PUT", path, service("put", {"port": 80}))
    assert embedded.status == real.status == 201
    assert embedded.body["status"] == real.body["status"] == {"loadBalancer": {}}
    real, embedded = await twin.call("DELETE", path)
    assert (embedded.status, embedded.body["kind"]) == (real.status, real.body["kind"]) == (200, "Service")


@pytest.mark.parametrize(
    "ports",
    [
        [{"port": 70000}],
        [{"port": 0}],
        [{"port": 80}, {"port": 81}],
        [{"name": "a", "port": 80}, {"name": "a", "port": 81}],
    ],
    ids=["port-too-high", "port-zero", "names-required", "duplicate-names"],
)
async def test_service_ports_are_validated(twin: Twin, tns: str, ports: list[dict[str, Any]]) -> None:
    answer = await twin.same_refusal("POST", f"/api/v1/namespaces/{tns}/services", service("ported", *ports))
    assert answer.status == 422


async def test_a_zero_target_port_takes_the_port(twin: Twin, tns: str) -> None:
    body = service("target", {"port": 80, "targetPort": 0})
    real, embedded = await twin.call("POST", f"/api/v1/namespaces/{tns}/services", body)
    assert [a.body["spec"]["ports"][0]["targetPort"] for a in (real, embedded)] == [80, 80]


@pytest.mark.parametrize(
    "body",
    [
        {"apiVersion": "v1", "metadata": {"name": "applied"}},
        {"kind": "ConfigMap", "metadata": {"name": "applied"}},
    ],
    ids=["no-kind", "no-api-version"],
)
async def test_an_apply_needs_a_kind_and_an_api_version(twin: Twin, tns: str, body: dict[str, Any]) -> None:
    path = f"/api/v1/namespaces/{tns}/configmaps/applied?fieldManager=a"
    answer = await twin.same_status("PATCH", path, body, APPLY)
    assert answer.status == 400


async def test_applies_keep_the_real_order_of_managers_and_drop_what_they_emptied(
    twin: Twin, tns: str
) -> None:
    path = f"/api/v1/namespaces/{tns}/configmaps/shared"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared", "labels": {"a": "b"}}}
    held = {**cm, "metadata": {**cm["metadata"], "finalizers": ["example.com/hold"]}}
    await twin.call("PATCH", f"{path}?fieldManager=bob", held, APPLY)
    await twin.call(
        "PATCH",
        f"{path}?fieldManager=alice",
        {**cm, "metadata": {"name": "shared"}, "data": {"x": "y"}},
        APPLY,
    )
    real, embedded = await twin.call("PATCH", f"{path}?fieldManager=bob", cm, APPLY)
    shown = [
        ([e["manager"] for e in a.body["metadata"]["managedFields"]], "finalizers" in a.body["metadata"])
        for a in (real, embedded)
    ]
    assert shown == [(["alice", "bob"], False)] * 2


async def test_a_create_is_validated_before_the_name_is_found_taken(twin: Twin, tns: str) -> None:
    path = f"/api/v1/namespaces/{tns}/configmaps"
    await twin.call("POST", path, {"metadata": {"name": "taken"}})
    answer = await twin.same_status("POST", path, {"metadata": {"name": "taken"}, "data": {"bad key!": "x"}})
    assert answer.status == 422


async def test_a_json_patch_removing_a_missing_key_is_refused_as_the_real_server_words_it(
    twin: Twin, tns: str
) -> None:
    path = f"/api/v1/namespaces/{tns}/configmaps"
    await twin.call("POST", path, {"metadata": {"name": "unlabelled", "labels": {"other": "x"}}})
    remove = [{"op": "remove", "path": "/metadata/labels/extra"}]
    answer = await twin.same_refusal("PATCH", f"{path}/unlabelled", remove, "application/json-patch+json")
    assert answer.status == 422


async def test_apply_conflicts_name_appliers_and_updaters_as_the_real_server_does(
    twin: Twin, tns: str
) -> None:
    path = f"/api/v1/namespaces/{tns}/configmaps/contested"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "contested"}}
    await twin.call("PATCH", f"{path}?fieldManager=alice", {**cm, "data": {"a": "1", "b": "1"}}, APPLY)
    await twin.call("PATCH", path, {"data": {"b": "2"}}, "application/merge-patch+json")
    for data in ({"a": "3"}, {"a": "3", "b": "3"}):  # one conflict (an applier), two (an applier, an updater)
        answers = await twin.call("PATCH", f"{path}?fieldManager=bob", {**cm, "data": data}, APPLY)
        # The real server lists several causes in Go's map order (docs/apiserver.md): compared as a set.
        shown = [
            (a.status, a.body["message"], sorted(map(str, a.body["details"]["causes"]))) for a in answers
        ]
        assert shown[1] == shown[0]
        assert shown[0][0] == 409


@pytest.mark.parametrize(
    ("patch", "content_type"),
    [
        ([{"op": "replace", "path": "/metadata/name", "value": "renamed"}], "application/json-patch+json"),
        ({"metadata": {"name": "renamed"}}, "application/merge-patch+json"),
    ],
    ids=["json", "merge"],
)
async def test_a_patch_may_not_rename_the_object(twin: Twin, tns: str, patch: Any, content_type: str) -> None:
    path = f"/api/v1/namespaces/{tns}/secrets"
    await twin.call("POST", path, {"metadata": {"name": "named"}})
    answer = await twin.same_refusal("PATCH", f"{path}/named", patch, content_type)
    assert answer.status == 400
