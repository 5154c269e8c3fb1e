"""kubeloop's operator_sdk.util.k8s_status module: the conditions it accepts (operator-sdk's checks)
and how it merges a status (fields over, conditions by type, lastTransitionTime kept while the status
stays). Its runs against an API server: tests/conformance/ansible."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import pytest

from kubeloop.ansible import COLLECTIONS


def module() -> ModuleType:
    path = COLLECTIONS / "ansible_collections/operator_sdk/util/plugins/modules/k8s_status.py"
    spec = importlib.util.spec_from_file_location("k8s_status", path)
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


K8S_STATUS = module()


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("x", "`conditions` must be a list of objects"),
        ({"type": "A"}, "Condition `status` must be set"),
        ({"type": "A", "status": "Maybe"}, 'must be one of "True", "False", "Unknown", not Maybe'),
        ({"type": "A", "status": "True", "reason": "two words"}, "must be a single, CamelCase word"),
        ({"type": "A", "status": "True", "lastTransitionTime": "yesterday"}, "RFC 3339"),
        ({"type": "A", "status": "True", "colour": "red"}, "colour: not a field of a condition"),
    ],
)
def test_conditions_the_api_conventions_refuse_are_refused(condition: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        K8S_STATUS.checked_condition(condition)


def test_a_boolean_status_becomes_its_string() -> None:
    assert K8S_STATUS.checked_condition({"type": "A", "status": True})["status"] == "True"


def test_fields_merge_over_and_conditions_by_type_keeping_their_time_while_the_status_stays() -> None:
    old = {
        "phase": "Old",
        "kept": 1,
        "conditions": [
            {"type": "A", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "B", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        ],
    }
    new = {
        "phase": "New",
        "conditions": [
            {"type": "A", "status": "True", "message": "same status"},
            {"type": "B", "status": "False"},
            {"type": "C", "status": "Unknown"},
        ],
    }
    merged = K8S_STATUS.merged_status(old, new, "2026-12-05T00:00:00Z")
    assert (merged["phase"], merged["kept"]) == ("New", 1)
    times = {c["type"]: c["lastTransitionTime"] for c in merged["conditions"]}
    assert times == {"A": "2026-01-01T00:00:00Z", "B": "2026-12-05T00:00:00Z", "C": "2026-12-05T00:00:00Z"}
    assert merged["conditions"][0]["message"] == "same status"
