"""Ratcheting's question, "is this value unchanged since the stored object?", answered as apiserver's
``CorrelatedObject`` answers it (the twin tests in test_apiserver_fidelity show the effect on both
servers; these are the corners a twin test would need many CRDs for)."""

from __future__ import annotations

from typing import Any

from kubeloop.apiserver.cel.correlation import Correlated

SLOTS: dict[str, Any] = {
    "type": "array",
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["name"],
    "items": {"type": "object", "properties": {"name": {"type": "string"}, "width": {"type": "integer"}}},
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "slots": SLOTS,
        "tags": {"type": "array", "items": {"type": "string"}},
        "size": {"type": "number"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def test_map_list_items_correlate_by_key_in_any_order() -> None:
    old = {"slots": [{"name": "a", "width": 1}, {"name": "b", "width": 2}]}
    new = {"slots": [{"name": "b", "width": 2}, {"name": "a", "width": 1}]}
    node = Correlated(new, old, SCHEMA)
    assert node.equal()
    first = node.key("slots")
    assert first is not None
    item = first.index(0)
    assert item is not None
    assert item.old == {"name": "b", "width": 2}
    added = Correlated({"slots": [{"name": "c", "width": 1}]}, {"slots": [{"name": "a", "width": 1}]}, SCHEMA)
    slots = added.key("slots")
    assert slots is not None
    assert slots.index(0) is None
    assert not added.equal()


def test_other_lists_are_compared_whole_and_their_items_do_not_correlate() -> None:
    same = Correlated({"tags": ["x", "y"]}, {"tags": ["x", "y"]}, SCHEMA)
    tags = same.key("tags")
    assert same.equal()
    assert tags is not None
    assert tags.index(0) is None
    assert not Correlated({"tags": ["y", "x"]}, {"tags": ["x", "y"]}, SCHEMA).equal()


def test_numbers_of_different_types_differ_and_absent_keys_do_not_correlate() -> None:
    assert not Correlated({"size": 1}, {"size": 1.0}, SCHEMA).equal()
    assert Correlated({"labels": {"a": "1"}}, {"labels": {"a": "1"}}, SCHEMA).equal()
    node = Correlated({"labels": {"a": "1"}}, {}, SCHEMA)
    assert node.key("labels") is None
    assert not node.equal()
    assert Correlated({"other": 1}, {"other": 1}, SCHEMA).key("other") is None  # no schema for it
