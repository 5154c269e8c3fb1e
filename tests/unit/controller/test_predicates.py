"""``not_status_only``: which update events reconcile the object."""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop.cache import InformerEvent
from kubeloop.controller import not_status_only

BASE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Gadget",
    "metadata": {"name": "g", "resourceVersion": "1", "labels": {"a": "1"}, "managedFields": [{"m": 1}]},
    "spec": {"size": 1},
    "status": {"ready": 0},
}


def changed(**parts: Any) -> dict[str, Any]:
    new = {**BASE, **{k: v for k, v in parts.items() if k != "meta"}}
    new["metadata"] = {**BASE["metadata"], **parts.get("meta", {})}
    return {k: v for k, v in new.items() if v is not None}


@pytest.mark.parametrize(
    ("new", "passes"),
    [
        (changed(status={"ready": 1}), False),
        (changed(status=None), False),
        (changed(meta={"resourceVersion": "2", "managedFields": []}), False),
        (changed(spec={"size": 2}), True),
        (changed(spec=None), True),
        (changed(extra={"x": 1}), True),
        (changed(meta={"labels": {"a": "2"}}), True),
        (changed(meta={"annotations": {"b": "1"}}), True),
        (changed(meta={"labels": None}), True),
    ],
    ids=[
        "status",
        "status-gone",
        "rv-and-managed-fields",
        "spec",
        "spec-gone",
        "new-field",
        "label",
        "annotation-added",
        "labels-none",
    ],
)
def test_an_update_passes_unless_only_status_and_volatile_metadata_changed(
    new: dict[str, Any], passes: bool
) -> None:
    assert not_status_only(InformerEvent("update", new, BASE)) is passes
    assert not_status_only(InformerEvent("update", BASE, new)) is passes


def test_adds_and_deletes_always_pass() -> None:
    assert not_status_only(InformerEvent("add", BASE))
    assert not_status_only(InformerEvent("delete", BASE))


def test_an_object_without_metadata_compares_as_empty_metadata() -> None:
    bare = {k: v for k, v in BASE.items() if k != "metadata"}
    assert not not_status_only(InformerEvent("update", {**bare, "metadata": {}}, bare))
    assert not_status_only(InformerEvent("update", {**bare, "metadata": {"name": "g"}}, bare))
