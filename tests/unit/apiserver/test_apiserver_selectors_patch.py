"""Selectors, the three patch formats and field ownership, as pure functions."""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop.apiserver import StatusError
from kubeloop.apiserver.machinery.selectors import field_selector, label_selector
from kubeloop.apiserver.registry import schemas
from kubeloop.apiserver.rest.fields import apply, field_set, track_update
from kubeloop.apiserver.rest.patch import json_patch, merge_patch, strategic_merge


def obj(labels: dict[str, str] | None = None, **top: Any) -> dict[str, Any]:
    return {"metadata": {"name": "n", "namespace": "ns", "labels": labels or {}}, **top}


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("a=1", {"a": "1"}, True),
        ("a=1", {"a": "2"}, False),
        ("a!=1", {}, True),
        ("a in (1, 2)", {"a": "2"}, True),
        ("a notin (1,2)", {"a": "3"}, True),
        ("a,!b", {"a": "x"}, True),
        ("a,!b", {"a": "x", "b": "y"}, False),
        ("", {}, True),
    ],
    ids=["eq", "eq-miss", "neq-missing", "in", "notin", "exists-not-exists", "not-exists-miss", "empty"],
)
def test_label_selector(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert label_selector(selector)(obj(labels)) is matches


def test_field_selector_on_metadata_and_kind_fields() -> None:
    pod = obj(status={"phase": "Running"})
    assert field_selector("metadata.name=n,status.phase=Running", "Pod")(pod)
    assert not field_selector("metadata.namespace!=ns", "Pod")(pod)


def test_field_selector_rejects_unknown_field() -> None:
    with pytest.raises(StatusError) as err:
        field_selector("spec.x=1", "ConfigMap")
    assert err.value.code == 400


def test_malformed_label_selector_is_bad_request() -> None:
    with pytest.raises(StatusError) as err:
        label_selector("a in (")
    assert err.value.code == 400


def test_merge_patch_rfc7386() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None, "d": 3}, "l": [2]}) == {
        "a": {"c": 2, "d": 3},
        "l": [2],
    }


def test_json_patch_ops_and_escaping() -> None:
    doc = {"metadata": {"annotations": {"a/b": "1"}}, "list": [1, 2]}
    out = json_patch(
        doc,
        [
            {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "2"},
            {"op": "add", "path": "/list/-", "value": 3},
            {"op": "move", "from": "/list/0", "path": "/first"},
            {"op": "test", "path": "/first", "value": 1},
        ],
    )
    assert out == {"metadata": {"annotations": {"a/b": "2"}}, "list": [2, 3], "first": 1}
    assert doc["list"] == [1, 2]  # the input is not modified


def test_json_patch_remove_missing_path_is_invalid() -> None:
    with pytest.raises(StatusError) as err:
        json_patch({"a": 1}, [{"op": "remove", "path": "/b"}])
    assert err.value.code == 422


DEPLOYMENT = schemas.for_builtin("apps", "v1", "Deployment")
SERVICE = schemas.for_builtin("", "v1", "Service")


def test_strategic_merge_keys_come_from_openapi() -> None:
    containers = DEPLOYMENT.field("spec").field("template").field("spec").field("containers")
    assert containers.list_keys == ("name",)
    assert containers.items().field("ports").list_keys[0] == "containerPort"
    assert SERVICE.field("spec").field("ports").list_keys[0] == "port"
    assert DEPLOYMENT.field("metadata").field("finalizers").is_set


def test_strategic_merge_by_name_and_delete_directive() -> None:
    current = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
                        {"name": "b", "image": "b:1"},
                    ],
                    "volumes": [{"name": "v1"}],
                }
            }
        }
    }
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "a", "image": "a:2", "env": [{"name": "X", "value": "2"}]},
                        {"name": "b", "$patch": "delete"},
                    ],
                    "volumes": [{"name": "v2"}],
                }
            }
        }
    }
    out = strategic_merge(current, patch, DEPLOYMENT)["spec"]["template"]["spec"]
    assert out["containers"] == [{"name": "a", "image": "a:2", "env": [{"name": "X", "value": "2"}]}]
    assert [v["name"] for v in out["volumes"]] == ["v2", "v1"]


def test_strategic_merge_replaces_lists_without_merge_key() -> None:
    current = {"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["x", "y"]}]}}}}
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["z"]}]}}}}
    assert strategic_merge(current, patch, DEPLOYMENT)["spec"]["template"]["spec"]["containers"][0][
        "args"
    ] == ["z"]


def test_field_set_uses_list_keys() -> None:
    paths = field_set({"spec": {"ports": [{"port": 80, "protocol": "TCP"}]}}, SERVICE)
    assert ("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}', "f:protocol") in paths


def test_update_takes_changed_fields_from_other_managers() -> None:
    cm = schemas.Node(None)
    old = {"metadata": {"name": "x"}, "data": {"a": "1", "b": "1"}}
    old["metadata"]["managedFields"] = track_update(None, old, "first", "v1", cm, None, False)
    new = {"metadata": dict(old["metadata"]), "data": {"a": "2", "b": "1"}}
    managed = track_update(old, new, "second", "v1", cm, None, False)
    owners = {e["manager"]: e["fieldsV1"] for e in managed}
    assert owners["second"] == {"f:data": {"f:a": {}}}
    assert owners["first"] == {"f:data": {"f:b": {}}}


def test_apply_conflict_then_force() -> None:
    cm = schemas.Node(None)
    first = apply(
        None,
        {"metadata": {"name": "x"}, "data": {"k": "1"}},
        "alice",
        "v1",
        cm,
        force=False,
        subresource=None,
        has_status=False,
    )
    with pytest.raises(StatusError) as err:
        apply(
            first,
            {"metadata": {"name": "x"}, "data": {"k": "2"}},
            "bob",
            "v1",
            cm,
            force=False,
            subresource=None,
            has_status=False,
        )
    assert err.value.code == 409
    assert [(c.reason, c.field) for c in err.value.causes] == [("FieldManagerConflict", ".data.k")]
    forced = apply(
        first,
        {"metadata": {"name": "x"}, "data": {"k": "2"}},
        "bob",
        "v1",
        cm,
        force=True,
        subresource=None,
        has_status=False,
    )
    assert forced["data"] == {"k": "2"}
    assert [e["manager"] for e in forced["metadata"]["managedFields"]] == ["bob"]
