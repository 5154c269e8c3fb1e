"""Objects between API versions that share one storage bucket.

Role: ``rest`` and ``watch`` read objects through ``to_version`` and ``rest`` stores them through
``to_storage``. Most resources keep one shape across versions (only ``apiVersion``/``kind`` are
relabelled); ``events.k8s.io/v1`` Events are stored as core ``v1`` Events, as on the real server, so an
event recorded through either API is read through both (``kubectl get events``, ``kubectl describe``).
Field names follow Kubernetes' own conversion (``pkg/apis/events/v1``): ``regarding`` ↔
``involvedObject``, ``note`` ↔ ``message``, ``reportingController`` ↔ ``reportingComponent``,
``deprecatedSource``/``deprecatedFirstTimestamp``/``deprecatedLastTimestamp``/``deprecatedCount`` ↔
``source``/``firstTimestamp``/``lastTimestamp``/``count``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubeloop.apiserver.registry.types import ResourceType

__all__ = ["SHARED_STORAGE", "as_core_event", "to_storage", "to_version"]

Obj = dict[str, Any]

SHARED_STORAGE = {("events.k8s.io", "events"): "/events"}
"""(group, plural) → the storage bucket of another group it shares."""

_EVENTS_TO_CORE = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_CORE_TO_EVENTS = {v: k for k, v in _EVENTS_TO_CORE.items()}


def _renamed(obj: Obj, names: dict[str, str], api_version: str) -> Obj:
    out = {names.get(k, k): v for k, v in obj.items()}
    out["apiVersion"], out["kind"] = api_version, "Event"
    return out


def to_version(rt: ResourceType, obj: Obj) -> Obj:
    """``obj`` (as stored, or as another version of its bucket) as ``rt``'s version serves it."""
    if obj.get("apiVersion") == rt.api_version and obj.get("kind") == rt.kind:
        return obj
    if rt.kind == "Event" and rt.group == "events.k8s.io" and obj.get("apiVersion") == "v1":
        out = _renamed(obj, _CORE_TO_EVENTS, rt.api_version)
        out.setdefault("eventTime", None)  # not omitempty in events/v1: Go writes a zero time as null
        return out
    if rt.kind == "Event" and rt.group == "" and obj.get("apiVersion") == "events.k8s.io/v1":
        return _renamed(obj, _EVENTS_TO_CORE, "v1")
    return dict(obj, apiVersion=rt.api_version, kind=rt.kind)


def to_storage(rt: ResourceType, obj: Obj) -> Obj:
    """``obj`` in ``rt``'s version as it is stored."""
    if rt.kind == "Event" and rt.group == "events.k8s.io":
        return _renamed(obj, _EVENTS_TO_CORE, "v1")
    return obj


def as_core_event(obj: Obj) -> Obj:
    """An Event of either API in its core ``v1`` form (other objects unchanged)."""
    if obj.get("apiVersion") == "events.k8s.io/v1" and obj.get("kind") == "Event":
        return _renamed(obj, _EVENTS_TO_CORE, "v1")
    return obj
