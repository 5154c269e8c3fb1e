"""Status conditions: ``type/status/reason/message/observedGeneration/lastTransitionTime``.

``set_condition`` follows the Kubernetes API conventions (and apimachinery's
``meta.SetStatusCondition``): the transition time moves only when ``status`` changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import MutableMapping
from typing import Any, Literal

__all__ = ["ConditionStatus", "find_condition", "remove_condition", "set_condition"]

ConditionStatus = Literal["True", "False", "Unknown"]


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _conditions(status: MutableMapping[str, Any] | None) -> list[dict[str, Any]]:
    """``status["conditions"]``, without whatever is not a condition object (another writer's garbage)."""
    found = (status or {}).get("conditions")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def find_condition(status: MutableMapping[str, Any] | None, type: str) -> dict[str, Any] | None:
    """The condition of ``type`` in ``status["conditions"]``, or None."""
    for cond in _conditions(status):
        if cond.get("type") == type:
            return dict(cond)
    return None


def set_condition(
    status: MutableMapping[str, Any],
    type: str,
    condition_status: ConditionStatus | bool,
    reason: str,
    message: str = "",
    *,
    observed_generation: int | None = None,
) -> bool:
    """Set one condition in ``status["conditions"]``; returns whether anything changed."""
    value: str = (
        ("True" if condition_status else "False") if isinstance(condition_status, bool) else condition_status
    )
    conditions = _conditions(status)
    new: dict[str, Any] = {"type": type, "status": value, "reason": reason, "message": message}
    if observed_generation is not None:
        new["observedGeneration"] = observed_generation
    for i, old in enumerate(conditions):
        if old.get("type") != type:
            continue
        same_status = old.get("status") == value
        new["lastTransitionTime"] = old.get("lastTransitionTime") if same_status else _now()
        if not new["lastTransitionTime"]:
            new["lastTransitionTime"] = _now()
        if {k: old.get(k) for k in new} == new:
            return False
        conditions[i] = new
        status["conditions"] = conditions
        return True
    new["lastTransitionTime"] = _now()
    conditions.append(new)
    status["conditions"] = conditions
    return True


def remove_condition(status: MutableMapping[str, Any], type: str) -> bool:
    """Remove the condition of ``type`` from ``status["conditions"]``; returns whether there was one."""
    conditions = _conditions(status)
    kept = [c for c in conditions if c.get("type") != type]
    if len(kept) == len(conditions):
        return False
    status["conditions"] = kept
    return True
