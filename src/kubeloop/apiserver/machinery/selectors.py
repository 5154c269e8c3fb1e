"""Label and field selectors as the real server parses and matches them.

Label selectors are ``kubeloop.labels``' grammar, the one the cache uses too. Field selectors:
``path=v``, ``path==v``, ``path!=v`` over ``metadata.name``, ``metadata.namespace`` and the per-kind
fields the real server supports; any other field is a 400 worded as the real server words it for the
kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from kubeloop.apiserver.machinery.errors import bad_request
from kubeloop.labels import LabelSelector, SelectorError

__all__ = ["Selector", "field_selector", "label_selector"]

Obj = dict[str, Any]
Selector = Callable[[Obj], bool]

_KIND_FIELDS: dict[str, set[str]] = {
    "Pod": {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    },
    "Event": {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    "Secret": {"type"},
    "Service": {"spec.clusterIP", "spec.type"},
    "Namespace": {"status.phase"},
    "Node": {"spec.unschedulable"},
    "ReplicaSet": {"status.replicas"},
    "Job": {"status.successful"},
}
# Kinds whose field labels the real server converts with a function of their own (and custom
# resources): they word a refusal differently from the generic "... is not a known field selector".
_OWN_CONVERSION = {
    "Pod",
    "Node",
    "ReplicationController",
    "Event",
    "Namespace",
    "Secret",
    "Service",
    "CertificateSigningRequest",
}


def _field_check(path: str, op: str, value: str) -> Callable[[Obj], bool]:
    def check(obj: Obj) -> bool:
        return (_field_value(obj, path) == value) == (op != "!=")

    return check


def label_selector(text: str | None) -> Selector:
    """A predicate over objects for a label selector string (everything matches an empty one); 400 for
    one that does not parse (the grammar is ``kubeloop.labels``', shared with the cache)."""
    try:
        return LabelSelector.parse(text).matches
    except SelectorError as exc:
        raise bad_request(str(exc)) from exc


def _field_value(obj: Obj, path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if path == "source" and node is None:
        node = (obj.get("source") or {}).get("component")
    if isinstance(node, bool):
        return "true" if node else "false"
    return "" if node is None else str(node)


# events.k8s.io/v1 Events are stored as core Events: their field labels name the core fields
# (pkg/apis/events/v1's field label conversion).
_EVENTS_V1_FIELDS = {
    "metadata.name": "metadata.name",
    "metadata.namespace": "metadata.namespace",
    "reason": "reason",
    "type": "type",
    "reportingController": "reportingComponent",
    **{
        f"regarding.{f}": f"involvedObject.{f}"
        for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    },
}


def field_selector(text: str | None, kind: str, custom: bool = False, group: str = "") -> Selector:
    """A predicate for a field selector of objects of ``kind`` in ``group`` (``custom``: a custom
    resource's), matched against the object as stored; 400 for an unsupported field."""
    if not text or not text.strip():
        return lambda _obj: True
    if kind == "Event" and group == "events.k8s.io":
        return _events_v1_selector(text)
    allowed = {"metadata.name", "metadata.namespace"} | _KIND_FIELDS.get(kind, set())
    checks: list[Callable[[Obj], bool]] = []
    for path, op, value in _terms(text):
        if path not in allowed:
            raise bad_request(_unsupported(path, kind, custom))
        checks.append(_field_check(path, op, value))
    return lambda obj: all(check(obj) for check in checks)


def _terms(text: str) -> Iterator[tuple[str, str, str]]:
    """A field selector's terms as (field path, operator, value); 400 for a term that does not parse."""
    for term in text.split(","):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if m is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        path, op, value = m.groups()
        yield path, op, value


def _events_v1_selector(text: str) -> Selector:
    checks: list[Callable[[Obj], bool]] = []
    for path, op, value in _terms(text):
        if path not in _EVENTS_V1_FIELDS:
            raise bad_request(f"field label not supported: {path}")
        checks.append(_field_check(_EVENTS_V1_FIELDS[path], op, value))
    return lambda obj: all(check(obj) for check in checks)


def _unsupported(path: str, kind: str, custom: bool) -> str:
    if custom or kind in _OWN_CONVERSION:
        return f"field label not supported: {path}"
    if kind == "Job":
        return f'field label "{path}" not supported for Job'
    known = ", ".join(
        f'"{f}"' for f in ["metadata.name", "metadata.namespace", *sorted(_KIND_FIELDS.get(kind, ()))]
    )
    return f'"{path}" is not a known field selector: only {known}'
