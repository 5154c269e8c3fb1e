"""The cache's memory savers: ``Interner`` (equal values held once) and ``slim_managed_fields``'s shared
lists, on objects decoded as the informer decodes them (orjson: a new object per value)."""

from __future__ import annotations

import copy
import gc
from typing import Any

import orjson

from kubeloop.cache import Interner, slim_managed_fields


def pod(i: int) -> dict[str, Any]:
    """A Pod as the server sends it, decoded from JSON: every value its own object."""
    decoded: dict[str, Any] = orjson.loads(
        orjson.dumps(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"web-{i}",
                    "namespace": "prod",
                    "uid": f"uid-{i}",
                    "resourceVersion": str(1000 + i),
                    "labels": {"app": "web", "pod-template-hash": "7d9c5b6f4d"},
                    "annotations": {"note": "x" * (Interner.max_length + 1)},
                    "managedFields": [
                        {"manager": "kubelet", "operation": "Update", "fieldsV1": {"f:status": {}}}
                    ],
                },
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example.com/team/web:1.27.3",
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            "args": ["--port=8080", "--verbose"],
                        }
                    ],
                    "enableServiceLinks": True,
                    "priority": 0,
                },
            }
        )
    )
    return decoded


def test_equal_short_values_of_different_objects_are_one_object_and_the_content_is_unchanged() -> None:
    interner = Interner()
    a, b = pod(1), pod(2)
    a_before, b_before = copy.deepcopy(a), copy.deepcopy(b)
    assert a["metadata"]["namespace"] is not b["metadata"]["namespace"]  # as decoded
    assert interner(a) is a
    assert interner(b) is b
    assert (a, b) == (a_before, b_before)
    ca, cb = a["spec"]["containers"][0], b["spec"]["containers"][0]
    assert a["metadata"]["namespace"] is b["metadata"]["namespace"]
    assert a["metadata"]["labels"]["app"] is b["metadata"]["labels"]["app"]
    assert ca["image"] is cb["image"]
    assert ca["args"][1] is cb["args"][1]  # in lists too
    assert ca["ports"][0]["containerPort"] is cb["ports"][0]["containerPort"]  # integers too
    assert ca["ports"][0] is not cb["ports"][0]  # the dicts and lists stay each object's own
    assert b["spec"]["enableServiceLinks"] is True


def test_names_uids_versions_and_long_strings_keep_their_own_objects() -> None:
    interner = Interner()
    a, b = pod(1), pod(1)  # equal in everything
    interner(a)
    interner(b)
    for field in ("name", "uid", "resourceVersion"):
        assert a["metadata"][field] == b["metadata"][field]
        assert a["metadata"][field] is not b["metadata"][field]
    assert a["metadata"]["annotations"]["note"] is not b["metadata"]["annotations"]["note"]
    fa, fb = a["metadata"]["managedFields"][0], b["metadata"]["managedFields"][0]
    assert fa["manager"] is fb["manager"]  # an entry's own values are shared
    assert a["spec"]["containers"][0]["image"] is b["spec"]["containers"][0]["image"]


def test_values_no_cached_object_holds_any_more_leave_the_table_when_it_has_doubled() -> None:
    interner = Interner()
    kept = interner(pod(0))
    for i in range(1, 3000):  # unique values (web-i's labels) that churn, as timestamps and pod IPs do
        obj = pod(i)
        obj["metadata"]["labels"]["app"] = f"app-{i}"
        interner(obj)
        del obj
    gc.collect()
    assert len(interner) < 1100  # swept at 1,024 entries and again at twice what was left
    again = interner(pod(1))
    assert again["metadata"]["namespace"] is kept["metadata"]["namespace"]  # what is still held stays
    assert again["spec"]["containers"][0]["image"] is kept["spec"]["containers"][0]["image"]


def test_slim_managed_fields_gives_objects_with_equal_managers_one_list_equal_to_the_entries_kept() -> None:
    a, b, c = pod(1), pod(2), pod(3)
    c["metadata"]["managedFields"][0]["manager"] = "kubectl"
    for obj in (a, b, c):
        slim_managed_fields(obj)
    assert a["metadata"]["managedFields"] == [{"manager": "kubelet", "operation": "Update"}]
    assert a["metadata"]["managedFields"] is b["metadata"]["managedFields"]
    assert c["metadata"]["managedFields"] == [{"manager": "kubectl", "operation": "Update"}]
    odd = pod(4)
    odd["metadata"]["managedFields"][0]["manager"] = ["not", "a", "string"]  # unhashable: kept as it is
    assert slim_managed_fields(odd)["metadata"]["managedFields"] == [
        {"manager": ["not", "a", "string"], "operation": "Update"}
    ]
