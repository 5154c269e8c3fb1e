"""JSON patches from two documents: applying the patch to the old document gives the new one."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeloop.webhook import json_patch


def apply(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """A minimal RFC 6902 applier for add/remove/replace (enough for what json_patch emits)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")[1:]]
        if not tokens:
            doc = op["value"]
            continue
        parent = doc
        for token in tokens[:-1]:
            parent = parent[int(token)] if isinstance(parent, list) else parent[token]
        last: Any = int(tokens[-1]) if isinstance(parent, list) else tokens[-1]
        if op["op"] == "remove":
            del parent[last]
        elif op["op"] == "add" and isinstance(parent, list):
            parent.insert(last, op["value"])
        else:
            if op["op"] == "replace":
                assert last in parent if isinstance(parent, dict) else last < len(parent)
            parent[last] = op["value"]
    return doc


CASES = {
    "same": ({"a": 1}, {"a": 1}),
    "add-member": ({"spec": {}}, {"spec": {"size": 1}}),
    "remove-member": ({"spec": {"size": 1, "x": 2}}, {"spec": {"size": 1}}),
    "replace-scalar": ({"spec": {"size": 1}}, {"spec": {"size": 3}}),
    "int-to-float": ({"v": 1}, {"v": 1.0}),
    "int-to-bool": ({"v": 1}, {"v": True}),
    "list-element": ({"l": [{"a": 1}, {"a": 2}]}, {"l": [{"a": 1}, {"a": 3}]}),
    "list-grows": ({"l": [1, 2]}, {"l": [1, 2, 3]}),
    "list-shrinks": ({"l": [1, 2, 3]}, {"l": [3]}),
    "escaped-keys": ({"m": {"a/b": 1, "c~d": 2}}, {"m": {"a/b": 2, "c~d": 3, "e/~f": 4}}),
    "type-change": ({"x": {"a": 1}}, {"x": [1]}),
}


@pytest.mark.parametrize(("old", "new"), CASES.values(), ids=CASES.keys())
def test_applying_the_patch_to_the_old_document_gives_the_new_one(old: Any, new: Any) -> None:
    ops = json_patch(old, new)
    result = apply(old, ops)
    assert result == new
    assert [type(v) for v in _leaves(result)] == [type(v) for v in _leaves(new)]


def _leaves(doc: Any) -> list[Any]:
    if isinstance(doc, dict):
        return [leaf for key in sorted(doc) for leaf in _leaves(doc[key])]
    if isinstance(doc, list):
        return [leaf for item in doc for leaf in _leaves(item)]
    return [doc]


def test_equal_documents_give_an_empty_patch() -> None:
    assert json_patch({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}) == []


def test_a_changed_field_gives_one_replace_at_its_escaped_path() -> None:
    assert json_patch({"metadata": {"labels": {"app/x": "a"}}}, {"metadata": {"labels": {"app/x": "b"}}}) == [
        {"op": "replace", "path": "/metadata/labels/app~1x", "value": "b"}
    ]
