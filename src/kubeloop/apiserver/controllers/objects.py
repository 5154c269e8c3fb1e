"""What the built-in controllers read off objects and write onto them: controller references, pod
readiness and availability, conditions, label selectors."""

from __future__ import annotations

import copy
import time
from typing import Any

import orjson

from kubeloop.apiserver.machinery import meta, selectors

__all__ = [
    "active",
    "available",
    "controlled_by",
    "owned",
    "owner_reference",
    "pod_ready",
    "selector_of",
    "set_condition",
    "template_hash",
]

Obj = dict[str, Any]
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def owner_reference(owner: Obj) -> Obj:
    """A controller reference to ``owner`` that blocks its foreground deletion, as the controllers set."""
    md = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": md["name"],
        "uid": md["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controlled_by(obj: Obj, owner: Obj) -> bool:
    """Whether ``owner`` is ``obj``'s controller (by UID)."""
    uid = owner["metadata"].get("uid")
    return any(
        r.get("controller") and r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or ()
    )


def selector_of(owner: Obj) -> selectors.Selector:
    """``spec.selector`` (a LabelSelector) as a predicate; a missing selector matches nothing."""
    selector = (owner.get("spec") or {}).get("selector")
    if not selector:
        return lambda obj: False
    return selectors.label_selector(_selector_text(selector))


def _selector_text(selector: Obj) -> str:
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        else:
            parts.append(f"!{key}")
    return ",".join(parts)


def owned(candidates: list[Obj], owner: Obj) -> list[Obj]:
    """The ``candidates`` ``owner`` controls and selects, oldest first (then by name)."""
    match = selector_of(owner)
    found = [o for o in candidates if controlled_by(o, owner) and match(o)]
    return sorted(found, key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]))


def active(pod: Obj) -> bool:
    """Not terminating and not finished: counts toward a workload's replicas."""
    phase = (pod.get("status") or {}).get("phase")
    return not pod["metadata"].get("deletionTimestamp") and phase not in ("Succeeded", "Failed")


def _condition(obj: Obj, kind: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c.get("type") == kind:
            return dict(c)
    return None


def pod_ready(pod: Obj) -> bool:
    ready = _condition(pod, "Ready")
    return ready is not None and ready.get("status") == "True"


def available(pod: Obj, min_ready_seconds: int, now: float | None = None) -> bool:
    """Ready for at least ``min_ready_seconds`` (by the Ready condition's transition time)."""
    ready = _condition(pod, "Ready")
    if ready is None or ready.get("status") != "True":
        return False
    if not min_ready_seconds:
        return True
    since = ready.get("lastTransitionTime")
    clock = time.time() if now is None else now
    return isinstance(since, str) and meta.parse_time(since) + min_ready_seconds <= clock


def set_condition(
    status: Obj, kind: str, state: str, reason: str, message: str, *, update_time: bool = True
) -> None:
    """Set condition ``kind`` in ``status``; its transition time moves only when ``state`` changes;
    ``update_time``: the kind's conditions have ``lastUpdateTime`` (Deployments' do)."""
    conditions = [copy.copy(c) for c in status.get("conditions") or ()]
    stamp = meta.now()
    for c in conditions:
        if c.get("type") == kind:
            if c.get("status") != state:
                c["lastTransitionTime"] = stamp
            if update_time and (c.get("status"), c.get("reason"), c.get("message")) != (
                state,
                reason,
                message,
            ):
                c["lastUpdateTime"] = stamp
            c.update(status=state, reason=reason, message=message)
            break
    else:
        new = {"type": kind, "status": state, "lastUpdateTime": stamp, "lastTransitionTime": stamp}
        if not update_time:
            del new["lastUpdateTime"]
        conditions.append({**new, "reason": reason, "message": message})
    status["conditions"] = conditions


def template_hash(template: Obj, collision_count: int = 0) -> str:
    """FNV-1a (32 bit) of the template and the collision count, spelt with Kubernetes' safe alphabet
    (the value differs from Go's, which hashes Go's printing of the struct)."""
    h = 0x811C9DC5
    for byte in orjson.dumps(template, option=orjson.OPT_SORT_KEYS) + str(collision_count or "").encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_ALPHABET[int(d) % len(_ALPHABET)] for d in str(h))
