"""What the differential run (``test_apiserver_differential.py``) found, each kept as a regression test
that compares both servers: server-side apply's merge order, conflicts over maps it adds, atomic
selectors and pruning; JSON patch refusals; strategic merge order; updates conditional on a uid; the
Deployment strategy rule and a Service's type-dependent fields."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from apiserver_twin import Twin, deployment

APPLY = "application/apply-patch+yaml"


async def test_applied_list_items_keep_the_order_of_the_configuration(twin: Twin, tns: str) -> None:
    # Found by the differential run: the embedded server put new items first (as a strategic merge
    # patch does), so the causes of an invalid apply named other indices than the real server's.
    path = f"/apis/apps/v1/namespaces/{tns}/deployments/order?fieldManager="

    def deployment(*containers: str) -> dict[str, Any]:
        template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}}
        template["spec"]["containers"] = [{"name": c, "image": "nginx"} for c in containers]
        spec = {"selector": {"matchLabels": {"app": "x"}}, "template": template}
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "order"}, "spec": spec}

    orders = []
    for manager, containers in (("bob", ["c"]), ("alice", ["d", "e"]), ("alice", ["e", "c", "d"])):
        answers = await twin.call("PATCH", path + manager, deployment(*containers), APPLY)
        assert [a.status for a in answers] in ([201, 201], [200, 200]), answers
        orders.append(
            [[c["name"] for c in a.body["spec"]["template"]["spec"]["containers"]] for a in answers]
        )
    assert orders == [[["c"]] * 2, [["c", "d", "e"]] * 2, [["e", "c", "d"]] * 2]
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "order"}}
    path = f"/api/v1/namespaces/{tns}/services/order?fieldManager="
    service["spec"] = {"ports": [{"port": 80}]}
    await twin.call("PATCH", path + "bob", service, APPLY)
    service["spec"] = {"ports": [{"port": 0}]}
    refused = await twin.same_refusal("PATCH", path + "alice&force=true", service, APPLY)
    assert [c["field"] for c in refused.body["details"]["causes"]][:3] == [
        "spec.ports[0].name",
        "spec.ports[1].name",
        "spec.ports[1].port",
    ]


async def test_an_apply_conflicts_over_a_map_it_adds_that_another_manager_owns(twin: Twin, tns: str) -> None:
    # Found by the differential run: alice's empty `data: {}` owns .data; bob adding a key to the
    # map (absent from the stored Secret, which drops an empty map) conflicts with her over .data;
    # once the map holds a key, alice's empty map changes nothing and conflicts with no one.
    path = f"/api/v1/namespaces/{tns}/secrets/owned?fieldManager="

    def secret(extra: str, data: dict[str, str]) -> dict[str, Any]:
        md = {"name": "owned", "labels": {"extra": extra}}
        return {"apiVersion": "v1", "kind": "Secret", "metadata": md, "data": data}

    apply = APPLY
    assert [a.status for a in await twin.call("PATCH", path + "alice", secret("a", {}), apply)] == [201, 201]
    conflict = await twin.same_refusal("PATCH", path + "bob", secret("b", {"a": "eA=="}), apply)
    assert conflict.body["message"] == (
        'Apply failed with 2 conflicts: conflicts with "alice":\n- .data\n- .metadata.labels.extra'
    )
    answers = await twin.call("PATCH", path + "bob&force=true", secret("b", {"a": "eA=="}), apply)
    assert [a.status for a in answers] == [200, 200]
    answers = await twin.call("PATCH", path + "alice", secret("b", {}), apply)
    assert [a.status for a in answers] == [200, 200], answers
    assert [a.body["data"] for a in answers] == [{"a": "eA=="}] * 2


async def test_a_label_selector_is_applied_and_owned_as_a_whole(twin: Twin, tns: str) -> None:
    # Found by the differential run: the embedded server tracked the selector's keys, so an apply that
    # no longer sets it left an empty selector where the real server removes the atomic selector.
    path = f"/apis/apps/v1/namespaces/{tns}/deployments/atomic?fieldManager=bob"
    template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "n"}]}}
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "x"}}, "template": template}
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "atomic"}, "spec": spec}
    answers = await twin.call("PATCH", path, body, APPLY)
    assert [a.status for a in answers] == [201, 201]
    fields = [a.body["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:selector"] for a in answers]
    assert fields == [{}, {}]
    del spec["selector"]
    await twin.same_refusal("PATCH", path + "&force=true", body, APPLY)


async def test_an_update_naming_a_uid_is_conditional_on_it(twin: Twin, tns: str) -> None:
    # Found by the differential run: a PUT carrying the uid of a deleted object was a 404 (the real
    # server's store checks the uid first: 409), and one naming another uid overwrote the object.
    other = "11111111-2222-3333-4444-555555555555"
    for kind, extra in (("configmaps", {}), ("services", {"spec": {"ports": [{"port": 80}]}})):
        path = f"/api/v1/namespaces/{tns}/{kind}/uid"
        body = {"metadata": {"name": "uid", "uid": other}, **extra}
        await twin.same_refusal("PUT", path, body)
    created = await twin.call("POST", f"/api/v1/namespaces/{tns}/configmaps", {"metadata": {"name": "uid"}})
    body = {"metadata": {"name": "uid", "uid": other}, "data": {"a": "b"}}
    answers = await twin.call("PUT", f"/api/v1/namespaces/{tns}/configmaps/uid", body)
    refusals = [
        {**a.status_fields(), "message": a.body["message"].replace(c.body["metadata"]["uid"], "<own uid>")}
        for a, c in zip(answers, created, strict=True)
    ]
    assert refusals[1] == refusals[0]
    assert refusals[0]["http"] == 409
    assert refusals[0]["message"].endswith("UID in object meta: <own uid>")
    stored = await twin.call("GET", f"/api/v1/namespaces/{tns}/configmaps/uid")
    assert ["data" in a.body for a in stored] == [False, False]


async def test_an_apply_keeps_a_map_it_applied_empty_before_and_fills_now(twin: Twin, tns: str) -> None:
    # Found by the differential run: alice's `data: {}` owned .data as a leaf, and her next apply of
    # `data: {a: x}` pruned the whole map she no longer applied as empty (also a bad key with it).
    path = f"/api/v1/namespaces/{tns}/configmaps/refill?fieldManager=alice"

    def config_map(data: dict[str, str]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "refill"}, "data": data}

    assert [a.status for a in await twin.call("PATCH", path, config_map({}), APPLY)] == [201, 201]
    answers = await twin.call("PATCH", path, config_map({"a": "x"}), APPLY)
    assert [(a.status, a.body.get("data")) for a in answers] == [(200, {"a": "x"})] * 2
    await twin.same_refusal("PATCH", path, config_map({"bad key!": "x"}), APPLY)


async def test_a_json_patch_that_does_not_apply_is_a_bare_422(twin: Twin, tns: str) -> None:
    # Found by the differential run: the embedded server said why (`testing value … failed`, `doc is
    # missing key`); the real server answers any operation that does not apply without details.
    path = f"/api/v1/namespaces/{tns}/configmaps/patched"
    await twin.call("POST", f"/api/v1/namespaces/{tns}/configmaps", {"metadata": {"name": "patched"}})
    for operations in (
        [{"op": "test", "path": "/metadata/labels/extra", "value": "a"}],
        [{"op": "test", "path": "/metadata/name", "value": "other"}],
        [{"op": "replace", "path": "/data/missing", "value": "x"}],
        [{"op": "add", "path": "/spec/deep/er", "value": 1}],
        [{"op": "test", "path": "/data/none", "value": None}],
    ):
        real = await twin.same_refusal("PATCH", path, operations, "application/json-patch+json")
        assert real.body["message"] == "the server rejected our request due to an error in our request"
    answers = await twin.call(
        "PATCH",
        path,
        [{"op": "test", "path": "/metadata/none", "value": None}],
        "application/json-patch+json",
    )
    assert [a.status for a in answers] == [200, 200]


async def test_a_strategic_merge_patch_orders_items_as_the_real_server(twin: Twin, tns: str) -> None:
    # Found by the differential run: the patch's new ports were put before the ports it merged into.
    path = f"/api/v1/namespaces/{tns}/services/ordered"
    body = {"metadata": {"name": "ordered"}, "spec": {"ports": [{"port": 80}]}}
    await twin.call("POST", f"/api/v1/namespaces/{tns}/services", body)
    orders = []
    for ports in (
        [{"name": "a", "port": 80}, {"name": "b", "port": 81, "protocol": "UDP"}],
        [{"name": "c", "port": 82}, {"name": "a", "port": 80}],
    ):
        answers = await twin.call(
            "PATCH", path, {"spec": {"ports": ports}}, "application/strategic-merge-patch+json"
        )
        orders.append([[p["name"] for p in a.body["spec"]["ports"]] for a in answers])
    assert orders == [[["a", "b"]] * 2, [["c", "a", "b"]] * 2]


async def test_recreate_refuses_rolling_update_parameters_left_by_a_merge_patch(twin: Twin, tns: str) -> None:
    path = f"/apis/apps/v1/namespaces/{tns}/deployments"
    template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "n"}]}}
    spec = {"replicas": 0, "selector": {"matchLabels": {"app": "x"}}, "template": template}
    await twin.call("POST", path, {"metadata": {"name": "recreate"}, "spec": spec})
    merge = "application/merge-patch+json"
    await twin.same_refusal("PATCH", f"{path}/recreate", {"spec": {"strategy": {"type": "Recreate"}}}, merge)
    patch = {"spec": {"strategy": {"type": "Recreate", "rollingUpdate": None}}}
    answers = await twin.call("PATCH", f"{path}/recreate", patch, merge)
    assert [(a.status, a.body["metadata"]["generation"]) for a in answers] == [(200, 2)] * 2
    # A Deployment's generation also grows when only its annotations change (found by the run too).
    patch = {"metadata": {"annotations": {"note": "x"}}}
    answers = await twin.call("PATCH", f"{path}/recreate", patch, merge)
    assert [a.body["metadata"]["generation"] for a in answers] == [3, 3]


async def test_a_service_that_stops_being_a_node_port_drops_its_traffic_policy(twin: Twin, tns: str) -> None:
    path = f"/api/v1/namespaces/{tns}/services/policy?fieldManager=alice"
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "policy"}}
    service["spec"] = {"ports": [{"port": 80}], "type": "NodePort"}
    await twin.call("PATCH", path, service, APPLY)
    service["spec"] = {"ports": [{"port": 443}]}
    answers = await twin.call("PATCH", path + "&force=true", service, APPLY)
    assert [(a.body["spec"]["type"], a.body["spec"].get("externalTrafficPolicy")) for a in answers] == [
        ("ClusterIP", None)
    ] * 2


async def test_a_patch_result_that_does_not_decode_names_the_first_bad_field_in_key_order(
    twin: Twin, tns: str
) -> None:
    # Found by the differential run: Go decodes the patched object's JSON, whose keys are sorted, and
    # reports its first type error (`immutable` before `metadata.generation`); the embedded server
    # checked the fields in the stored object's order and named metadata.generation.
    path = f"/api/v1/namespaces/{tns}/configmaps"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typed"}, "immutable": True}
    assert [a.status for a in await twin.call("POST", path, body)] == [201, 201]
    patch = {"metadata": {"generation": "one"}, "immutable": "yes"}
    answers = await twin.call("PATCH", f"{path}/typed", patch, "application/merge-patch+json")
    assert [a.status for a in answers] == [422, 422]
    assert [a.body["message"].rsplit('": ', 1)[-1] for a in answers] == [
        "json: cannot unmarshal string into Go struct field ConfigMap.immutable of type bool"
    ] * 2


async def test_a_negative_scale_of_a_workload_is_an_invalid_scale(twin: Twin, tns: str) -> None:
    # Found by the differential run: the workload registries validate the Scale itself (ValidateScale)
    # before the workload, so the 422 names Scale.autoscaling; the embedded server named the Deployment.
    template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "n"}]}}
    spec = {"selector": {"matchLabels": {"app": "x"}}, "template": template}
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "scaled"}, "spec": spec}
    path = f"/apis/apps/v1/namespaces/{tns}/deployments"
    assert [a.status for a in await twin.call("POST", path, body)] == [201, 201]
    for method, scale, content_type in (
        ("PATCH", {"spec": {"replicas": -1}}, "application/merge-patch+json"),
        (
            "PUT",
            {
                "apiVersion": "autoscaling/v1",
                "kind": "Scale",
                "metadata": {"name": "scaled"},
                "spec": {"replicas": -2},
            },
            "application/json",
        ),
    ):
        refused = await twin.same_refusal(method, f"{path}/scaled/scale", scale, content_type)
        replicas = scale["spec"]["replicas"]
        assert refused.body["message"] == (
            f'Scale.autoscaling "scaled" is invalid: spec.replicas: Invalid value: {replicas}: '
            "must be greater than or equal to 0"
        )
        assert refused.body["details"]["kind"] == "Scale"


@contextlib.asynccontextmanager
async def scaled_widgets(twin: Twin, tns: str, group: str) -> AsyncIterator[str]:
    """A CRD of Widgets with a scale subresource (``.spec.size``) on both servers; their path in
    ``tns``."""
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    schema = {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}},
    }
    version = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
        "subresources": {"scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"}},
    }
    names = {"plural": "widgets", "singular": "widget", "kind": "Widget"}
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {"group": group, "scope": "Namespaced", "names": names, "versions": [version]},
    }
    await twin.call("POST", crds, crd)
    path = f"/apis/{group}/v1/namespaces/{tns}/widgets"
    try:
        deadline = time.monotonic() + 60
        while [a.status for a in await twin.call("GET", path)] != [200, 200]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        yield path
    finally:
        await twin.call("DELETE", f"{crds}/widgets.{group}")


async def test_a_scale_write_is_tracked_only_when_a_manager_owns_the_replicas(twin: Twin, tns: str) -> None:
    # Found by the differential run: the real scale handler gives the Scale the managedFields of its
    # parent's replicas; when no manager owns them, the Scale has none and an update of it is not
    # tracked (the field manager skips objects never applied): the parent's entries stay as they
    # were. The embedded server recorded the writer's Update and dropped the others' emptied entries;
    # a tracked scale write's entry names the subresource (it did not).
    async with scaled_widgets(twin, tns, "scaled.found.kubeloop.dev") as path:
        body = {"apiVersion": "scaled.found.kubeloop.dev/v1", "kind": "Widget", "metadata": {"name": "w"}}
        body["spec"] = {}
        answers = await twin.call("PATCH", f"{path}/w?fieldManager=bob", body, APPLY)
        assert [a.status for a in answers] == [201, 201]
        scale = {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {"name": "w", "namespace": tns},
            "spec": {"replicas": 3},
        }
        answers = await twin.call("PUT", f"{path}/w/scale?fieldManager=scaler", scale)
        assert [a.status for a in answers] == [200, 200]
        got = await twin.call("GET", f"{path}/w")
        assert [a.body["spec"]["size"] for a in got] == [3, 3]
        assert [[e["manager"] for e in a.body["metadata"]["managedFields"]] for a in got] == [["bob"]] * 2
        # Once a manager owns the replicas (bob applies a size), the scale write takes them over.
        body["spec"] = {"size": 2}
        answers = await twin.call("PATCH", f"{path}/w?fieldManager=bob&force=true", body, APPLY)
        assert [a.status for a in answers] == [200, 200]
        answers = await twin.call("PUT", f"{path}/w/scale?fieldManager=scaler", scale)
        assert [a.status for a in answers] == [200, 200]
        got = await twin.call("GET", f"{path}/w")
        entries = [
            [(e["manager"], e.get("subresource")) for e in a.body["metadata"]["managedFields"]] for a in got
        ]
        assert entries == [[("scaler", "scale")]] * 2


async def test_a_scale_write_gives_an_updates_replicas_back_to_it_in_an_entry_of_its_own(
    twin: Twin, tns: str
) -> None:
    # Found by the resumed long differential run (s2838-a, s2839-a: a Gizmo's GET after a scale to
    # the replicas it had). The real scale handler keys the Scale's entries as its field manager
    # decodes them (an Update's with apiVersion autoscaling/v1), so back on the parent no Update entry
    # owning the replicas finds its key: it loses them, and they come back in an entry of the same
    # manager, operation and subresource without a time, even when the replicas did not change. Two
    # entries of one identity, until the next write reads them (the later, timed one wins: the replicas
    # then belong to no one). The embedded server left an unchanged scale untracked.
    def owned(answers: Any) -> list[list[tuple[Any, ...]]]:
        """Each server's entries: whose, whether timed, whether owning the size."""
        return [
            [
                (
                    e["manager"],
                    e["operation"],
                    e.get("subresource"),
                    "time" in e,
                    "f:size" in e["fieldsV1"].get("f:spec", {}),
                )
                for e in a.body["metadata"]["managedFields"]
            ]
            for a in answers
        ]

    group = "rescaled.found.kubeloop.dev"
    async with scaled_widgets(twin, tns, group) as path:
        # A label: the creator's entry keeps a field besides the size on both servers (the real one
        # would keep its spec's '.' too: Field sets of updates, a listed difference).
        metadata = {"name": "w", "labels": {"app": "w"}}
        body = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": metadata, "spec": {"size": 1}}
        assert [a.status for a in await twin.call("POST", path, body)] == [201, 201]
        created = ("Python", "Update", None, True, False)
        steps: list[tuple[str, Any, list[tuple[Any, ...]] | None]] = [
            ("/scale", 1, [("Python", "Update", None, False, True), created]),
            ("/scale", 2, [created]),  # the duplicate read: the timed entry won, the replicas are no one's
            ("?fieldManager=alice", 3, None),
            ("/scale?fieldManager=scaler", 4, None),
            ("/scale?fieldManager=scaler", 4, None),
        ]
        for where, size, expected in steps:
            if "scale" in where:
                patch, content_type = {"spec": {"replicas": size}}, "application/merge-patch+json"
            else:
                patch, content_type = dict(body, spec={"size": size}), APPLY
            answers = await twin.call("PATCH", f"{path}/w{where}", patch, content_type)
            assert [a.status for a in answers] == [200, 200], answers
            got = owned(await twin.call("GET", f"{path}/w"))
            assert got[1] == got[0], where
            assert expected is None or got[0] == expected, got[0]


async def test_a_strategic_merge_patch_matches_service_ports_by_port_alone(twin: Twin, tns: str) -> None:
    # Found by the differential run: a strategic merge patch merges a Service's ports by their
    # patchMergeKey (port), so a port with another protocol changes the existing item; the embedded
    # server matched by port and protocol (server-side apply's keys) and added a second port.
    path = f"/api/v1/namespaces/{tns}/services"
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "ports"},
        "spec": {"ports": [{"port": 80}]},
    }
    assert [a.status for a in await twin.call("POST", path, body)] == [201, 201]
    patch = {"spec": {"ports": [{"port": 80, "protocol": "UDP"}]}}
    answers = await twin.call("PATCH", f"{path}/ports", patch, "application/strategic-merge-patch+json")
    assert [a.status for a in answers] == [200, 200], answers
    assert [[(p["port"], p["protocol"]) for p in a.body["spec"]["ports"]] for a in answers] == [
        [(80, "UDP")]
    ] * 2


async def test_an_apply_that_stops_setting_a_secrets_data_removes_the_keys_its_string_data_made(
    twin: Twin, tns: str
) -> None:
    # Found by the long differential run: stringData becomes data after the field manager has run, so
    # the key it makes is owned by no one; an apply that no longer sets anything in data removes the
    # whole field (structured-merge-diff prunes the struct fields above what was applied before), with
    # that key. The embedded server removed only the keys the manager had applied and kept the other.
    # When another manager still owns a key, the field and the unowned key stay (on both).
    def secret(name: str, **fields: Any) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, **fields}

    path = f"/api/v1/namespaces/{tns}/secrets"
    for name, shared in (("alone", False), ("shared", True)):
        first = secret(name, data={"a": "eQ=="}, stringData={"a": "y", "b": "x"})
        answers = await twin.call("PATCH", f"{path}/{name}?fieldManager=alice", first, APPLY)
        assert [(a.status, a.body["data"]) for a in answers] == [(201, {"a": "eQ==", "b": "eA=="})] * 2
        if shared:
            answers = await twin.call(
                "PATCH", f"{path}/{name}?fieldManager=bob", secret(name, data={"c": ""}), APPLY
            )
            assert [a.status for a in answers] == [200, 200]
        answers = await twin.call("PATCH", f"{path}/{name}?fieldManager=alice", secret(name), APPLY)
        assert [a.status for a in answers] == [200, 200]
        data = {"b": "eA==", "c": ""} if shared else None
        assert [a.body.get("data") for a in answers] == [data] * 2


async def test_an_update_owns_the_maps_it_adds_and_keeps_one_when_its_keys_are_taken(
    twin: Twin, tns: str
) -> None:
    # Found by the long differential run: an Update's entry owns each map it adds (`"."` under
    # f:data and f:labels, from structured-merge-diff's comparison with the Go zero value), so when an
    # apply takes the map's keys from it, it still owns the map (`f:data: {}`). The embedded server
    # recorded only the keys, and the entry lost f:data.
    body = {"metadata": {"name": "taken", "labels": {"a": "b"}}, "data": {"b": ""}}
    answers = await twin.call("POST", f"/api/v1/namespaces/{tns}/secrets", body)
    assert [a.status for a in answers] == [201, 201]
    created = [a.body["metadata"]["managedFields"][0]["fieldsV1"] for a in answers]
    assert created[0] == created[1]
    assert created[0]["f:data"] == {".": {}, "f:b": {}}
    applied = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "taken"}, "data": {"b": "eA=="}}
    path = f"/api/v1/namespaces/{tns}/secrets/taken?fieldManager=bob&force=true"
    answers = await twin.call("PATCH", path, applied, APPLY)
    assert [a.status for a in answers] == [200, 200]
    python = [
        next(e["fieldsV1"] for e in a.body["metadata"]["managedFields"] if e["manager"] != "bob")
        for a in answers
    ]
    assert python[0] == python[1]
    assert python[0]["f:data"] == {}


async def test_a_create_of_a_name_whose_object_is_being_deleted_says_so(twin: Twin, tns: str) -> None:
    # Found by the long differential run: the real store's 409 for a name taken by an object waiting
    # for its finalizers begins 'object is being deleted: '; the embedded server's did not.
    path = f"/api/v1/namespaces/{tns}/configmaps"
    held = {"metadata": {"name": "held", "finalizers": ["found.kubeloop.dev/hold"]}}
    assert [a.status for a in await twin.call("POST", path, held)] == [201, 201]
    assert [a.status for a in await twin.call("DELETE", f"{path}/held")] == [200, 200]
    try:
        refused = await twin.same_refusal("POST", path, {"metadata": {"name": "held"}})
        assert refused.body["message"] == 'object is being deleted: configmaps "held" already exists'
        await twin.call("POST", path, {"metadata": {"name": "free"}})
        refused = await twin.same_refusal("POST", path, {"metadata": {"name": "free"}})
        assert refused.body["message"] == 'configmaps "free" already exists'
    finally:
        release = {"metadata": {"finalizers": None}}
        await twin.call("PATCH", f"{path}/held", release, "application/merge-patch+json")


async def test_an_update_owns_a_services_fields_as_sent_not_as_the_registry_filled_them(
    twin: Twin, tns: str
) -> None:
    # Found by the long differential run: the real field manager runs in the handler, before the
    # Service registry allocates (cluster IPs, IP families, node ports) or drops what a new type no
    # longer has (externalTrafficPolicy, node ports). So the writer of a NodePort owns no allocated
    # field, and turning it into a ClusterIP (its port now UDP) leaves it owning externalTrafficPolicy
    # and the new port's nodePort, both gone from the object. The embedded server tracked the
    # registry's result.
    def owned(answer: Any) -> dict[str, Any]:
        [entry] = answer.body["metadata"]["managedFields"]
        spec = entry["fieldsV1"]["f:spec"]
        ports = {k: sorted(f for f in v if f != ".") for k, v in spec.pop("f:ports").items() if k != "."}
        return {"spec": sorted(spec), "ports": ports}

    path = f"/api/v1/namespaces/{tns}/services/sent"
    spec = {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 80}]}
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "sent"}, "spec": spec}
    answers = await twin.call("PUT", path, body)
    assert [a.status for a in answers] == [201, 201]
    tcp, udp = 'k:{"port":80,"protocol":"TCP"}', 'k:{"port":80,"protocol":"UDP"}'
    common = ["f:internalTrafficPolicy", "f:selector", "f:sessionAffinity", "f:type"]
    expected = {
        "spec": sorted([*common, "f:externalTrafficPolicy"]),
        "ports": {tcp: ["f:port", "f:protocol", "f:targetPort"]},
    }
    assert [owned(a) for a in answers] == [expected] * 2
    patch = {"spec": {"type": "ClusterIP", "ports": [{"port": 80, "targetPort": "http", "protocol": "UDP"}]}}
    strategic = "application/strategic-merge-patch+json"
    answers = await twin.call("PATCH", path, patch, strategic)
    assert [a.status for a in answers] == [200, 200], answers
    assert [("externalTrafficPolicy" in a.body["spec"], a.body["spec"]["ports"]) for a in answers] == [
        (False, [{"port": 80, "protocol": "UDP", "targetPort": "http"}])
    ] * 2
    expected["ports"] = {udp: ["f:nodePort", "f:port", "f:protocol", "f:targetPort"]}
    assert [owned(a) for a in answers] == [expected] * 2


async def test_an_empty_map_of_bytes_is_a_change_of_an_immutable_config_map_or_secret(
    twin: Twin, tns: str
) -> None:
    # Found by the long differential run: Go keeps an empty binaryData (a map of []byte) that a write
    # sends, while the stored ConfigMap has none, so the real server refuses it on an immutable
    # ConfigMap (an empty data is no change). The embedded server dropped both before validating.
    path = f"/api/v1/namespaces/{tns}/configmaps"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "frozen"}, "immutable": True}
    assert [a.status for a in await twin.call("POST", path, dict(body, data={}, binaryData={}))] == [201, 201]
    message = (
        'ConfigMap "frozen" is invalid: binaryData: Forbidden: field is immutable when `immutable` is set'
    )
    for sent, content_type in (
        (dict(body, binaryData={}), APPLY),
        (dict(body, binaryData={}, data={}), "application/json"),
        ({"binaryData": {}}, "application/merge-patch+json"),
    ):
        method = "PUT" if content_type == "application/json" else "PATCH"
        query = "?fieldManager=alice&force=true" if content_type == APPLY else ""
        refused = await twin.same_refusal(method, f"{path}/frozen{query}", sent, content_type)
        assert refused.body["message"] == message
    answers = await twin.call("PUT", f"{path}/frozen", dict(body, data={}))
    assert [a.status for a in answers] == [200, 200]
    # A Secret's data is such a map too; an empty stringData makes no data.
    path = f"/api/v1/namespaces/{tns}/secrets"
    body["kind"] = "Secret"
    assert [a.status for a in await twin.call("POST", path, dict(body, data={}))] == [201, 201]
    refused = await twin.same_refusal("PUT", f"{path}/frozen", dict(body, data={}))
    assert refused.body["message"] == message.replace("ConfigMap", "Secret").replace("binaryData", "data")
    answers = await twin.call("PUT", f"{path}/frozen", dict(body, stringData={}))
    assert [a.status for a in answers] == [200, 200]


async def test_an_unsupported_strategy_quotes_its_rolling_update_as_a_pointer(twin: Twin, tns: str) -> None:
    # Found by the long differential run: Go renders the refused strategy with its rollingUpdate
    # pointer, nil or an address (a Deployment keeps the defaulted one when only the type changes);
    # the embedded server always said nil. Addresses differ from run to run: compared without them.
    path = f"/apis/apps/v1/namespaces/{tns}/deployments"
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "pointer"},
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "c", "image": "n"}]},
            },
        },
    }
    assert [a.status for a in await twin.call("POST", path, body)] == [201, 201]
    merge = "application/merge-patch+json"
    shown = []
    for patch in (
        {"spec": {"strategy": {"type": "Bogus"}}},
        {"spec": {"strategy": {"type": "Bogus", "rollingUpdate": None}}},
    ):
        answers = await twin.call("PATCH", f"{path}/pointer", patch, merge)
        assert [a.status for a in answers] == [422, 422]
        messages = [
            re.sub(r"\(0x[0-9a-f]+\)", "(0x)", a.body["details"]["causes"][0]["message"]) for a in answers
        ]
        assert messages[0] == messages[1]
        shown.append(messages[0].split("RollingUpdate:")[1].split("}")[0])
    assert shown == ["(*apps.RollingUpdateDeployment)(0x)", "(*apps.RollingUpdateDeployment)(nil)"]


async def test_an_apply_that_stops_setting_a_ports_protocol_and_target_removes_both(
    twin: Twin, tns: str
) -> None:
    # Found by the long differential run: the port's item is found by its keys (port, protocol); the
    # embedded server removed the protocol bob no longer applies first, then could not find the item
    # to remove his targetPort from, and kept `http` where the real server defaults it to the port.
    path = f"/api/v1/namespaces/{tns}/services/keys?fieldManager=bob"
    service: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "keys"}}
    service["spec"] = {
        "selector": {"app": "x"},
        "ports": [{"protocol": "TCP", "port": 80, "targetPort": "http"}],
    }
    assert [a.status for a in await twin.call("PATCH", path, service, APPLY)] == [201, 201]
    service["spec"] = {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81, "protocol": "UDP"}]}
    answers = await twin.call("PATCH", path + "&force=true", service, APPLY)
    assert [a.status for a in answers] == [200, 200]
    ports = [
        sorted((p["port"], p["protocol"], p["targetPort"]) for p in a.body["spec"]["ports"]) for a in answers
    ]
    assert ports == [[(80, "TCP", 80), (81, "UDP", 81)]] * 2


async def test_an_apply_naming_another_object_conflicts_before_its_name_is_checked(
    twin: Twin, tns: str
) -> None:
    # Found by the long differential run (s3338-s3340): an apply whose body names `s_a` (an invalid
    # name) at the path of `s-a`, changing a field another manager owns. The real server merges first,
    # so its conflicts are the answer (409); only a merge that succeeds meets the name check (400).
    # The embedded server checked the name before merging.
    path = f"/apis/apps/v1/namespaces/{tns}/deployments/s-a?fieldManager="
    body = deployment("s-a", replicas=1)
    assert [a.status for a in await twin.call("PATCH", path + "bob", body, APPLY)] == [201, 201]
    renamed = deployment("s_a", replicas=2)
    conflict = await twin.same_refusal("PATCH", path + "alice", renamed, APPLY)
    assert conflict.body["message"] == 'Apply failed with 1 conflict: conflict with "bob": .spec.replicas'
    for query in ("alice&force=true", "bob"):
        refused = await twin.same_refusal("PATCH", path + query, renamed, APPLY)
        assert (
            refused.body["message"] == "the name of the object (s_a) does not match the name on the URL (s-a)"
        )


async def test_a_change_of_a_services_cluster_ip_alone_is_a_change_of_its_cluster_ips(
    twin: Twin, tns: str
) -> None:
    # Found by the long differential run (s3635-b): a JSON patch replacing spec.clusterIP and nothing
    # else. The real registry reads a changed clusterIP beside clusterIPs as they were as a change of
    # both (normalizeClusterIPs), which validation refuses; the embedded server compared clusterIPs
    # alone and stored the new clusterIP beside the old clusterIPs (200).
    path = f"/api/v1/namespaces/{tns}/services"
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ip"}}
    body["spec"] = {"ports": [{"port": 80}]}
    assert [a.status for a in await twin.call("POST", path, body)] == [201, 201]
    for patch, content_type in (
        ([{"op": "replace", "path": "/spec/clusterIP", "value": "10.0.0.1"}], "application/json-patch+json"),
        ({"spec": {"clusterIP": "10.0.0.1"}}, "application/merge-patch+json"),
    ):
        refused = await twin.same_refusal("PATCH", f"{path}/ip", patch, content_type)
        assert refused.body["details"]["causes"] == [
            {
                "reason": "FieldValueInvalid",
                "message": 'Invalid value: []string{"10.0.0.1"}: may not change once set',
                "field": "spec.clusterIPs[0]",
            }
        ]


async def test_a_port_a_patch_adds_gets_a_node_port_none_of_the_services_ports_holds(
    twin: Twin, tns: str
) -> None:
    # Found by the long differential run (session 14, s2752-b, s2753-b): a strategic merge patch adding
    # a port to a NodePort Service puts it first; the embedded server gave it the lowest free node
    # port, which was the Service's own other port's (free but for this Service), then refused that
    # port's as taken (422). The real allocator reserves the ports' own node ports first.
    used: set[int] = set()
    for answer in await twin.call("GET", "/api/v1/services"):
        used |= {p.get("nodePort") for s in answer.body["items"] for p in s["spec"].get("ports") or []}
    first = next(port for port in range(30000, 32768) if port not in used)  # the embedded server's next
    path = f"/api/v1/namespaces/{tns}/services"
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "np"}}
    body["spec"] = {"type": "NodePort", "ports": [{"name": "a", "port": 80, "nodePort": first}]}
    assert [a.status for a in await twin.call("POST", path, body)] == [201, 201]
    patch = {"spec": {"ports": [{"name": "b", "port": 81}]}}
    answers = await twin.call("PATCH", f"{path}/np", patch, "application/strategic-merge-patch+json")
    assert [a.status for a in answers] == [200, 200], answers
    for answer in answers:
        ports = {p["name"]: p["nodePort"] for p in answer.body["spec"]["ports"]}
        assert ports["a"] == first != ports["b"], ports
