"""Conditions in a status another writer left in a bad shape: found or set without raising."""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop.helpers import find_condition, set_condition


@pytest.mark.parametrize(
    "conditions",
    ["Ready", 7, {"type": "Ready"}, [1, "x", None], [{"type": "Other", "status": "True"}, "x"]],
    ids=["string", "number", "object", "list-of-scalars", "list-with-a-scalar"],
)
def test_conditions_that_are_not_a_list_of_objects_are_replaced_keeping_the_objects(conditions: Any) -> None:
    status: dict[str, Any] = {"conditions": conditions}
    assert find_condition(status, "Ready") is None
    assert set_condition(status, "Ready", True, "Done", "all good")
    kept = [c for c in conditions if isinstance(c, dict)] if isinstance(conditions, list) else []
    assert status["conditions"][: len(kept)] == kept
    ready = status["conditions"][-1]
    assert (ready["type"], ready["status"], ready["reason"], ready["message"]) == (
        "Ready",
        "True",
        "Done",
        "all good",
    )
    assert find_condition(status, "Ready") == ready
