"""The ``Table`` ``kubectl get`` asks for (``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``).

Custom resources use their CRD's ``additionalPrinterColumns`` (JSONPath evaluated here) after Name,
and Age when the CRD declares no columns, as the real server does. A few built-in kinds have printers
with the real server's columns (``pkg/printers/internalversion``), priority-1 columns being the ones
``kubectl get -o wide`` adds; the rest get Name and Created At.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from kubeloop.apiserver.registry.convert import as_core_event
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.labels import SelectorError, format_selector

__all__ = ["jsonpath", "to_table", "wants_table"]

Obj = dict[str, Any]


class Column(NamedTuple):
    """One column of a Table: its definition and how to compute its cell from an object."""

    name: str
    type: str
    format: str
    cell: Callable[[Obj], Any]
    priority: int = 0


def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration`` (what the AGE column shows)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _age(value: Any) -> Any:
    """The time since a Time or MicroTime string, as ``kubectl get`` shows it."""
    if not isinstance(value, str):
        return "<unknown>" if value is None else value
    try:
        then = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return human_duration((dt.datetime.now(dt.UTC) - then).total_seconds())


_NAME = Column("Name", "string", "name", lambda o: o["metadata"]["name"])
_CREATED = Column("Created At", "date", "", lambda o: o["metadata"].get("creationTimestamp"))
_AGE = Column("Age", "string", "", lambda o: _age(o["metadata"].get("creationTimestamp")))


def wants_table(accept: str) -> bool:
    return "as=Table" in accept.replace(" ", "")


_TOKEN = re.compile(
    r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_.]+)\s*==\s*['\"]([^'\"]*)['\"]\)\]|\[\*\]"
)


def jsonpath(obj: Any, path: str) -> list[Any]:
    """Results of a simple JSONPath (``.a.b``, ``[0]``, ``[*]``, ``[?(@.type=="Ready")]``)."""
    text = path.strip().lstrip("{").rstrip("}")
    if text.startswith("$"):
        text = text[1:]
    nodes = [obj]
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            return []
        pos = m.end()
        field, index, fkey, fval = m.groups()
        out: list[Any] = []
        for node in nodes:
            if field is not None and isinstance(node, dict) and field in node:
                out.append(node[field])
            elif index is not None and isinstance(node, list) and int(index) < len(node):
                out.append(node[int(index)])
            elif fkey is not None and isinstance(node, list):
                for item in node:
                    if str(_dig(item, fkey.split("."))) == fval:
                        out.append(item)
            elif m.group(0) == "[*]" and isinstance(node, list):
                out.extend(node)
        nodes = out
    return nodes


def _dig(node: Any, parts: list[str]) -> Any:
    for part in parts:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _crd_columns(rt: ResourceType) -> list[Column]:
    columns = (rt.crd or {}).get("additionalPrinterColumns")
    if not columns:
        return [_NAME, _AGE]
    out: list[Column] = [_NAME]
    for col in columns:
        path = col["jsonPath"]
        kind = col.get("type", "string")

        def cell(obj: Obj, path: str = path, kind: str = kind) -> Any:
            found = jsonpath(obj, path)
            if not found:
                return None
            value = found[0]
            if kind == "date":
                return _age(value)
            if kind == "string" and not isinstance(value, str):
                import orjson

                return orjson.dumps(value).decode() if isinstance(value, dict | list) else str(value)
            return value

        out.append(Column(col["name"], kind, col.get("format", ""), cell, col.get("priority", 0)))
    return out


def _ports(obj: Obj) -> str:
    parts = []
    for p in (obj.get("spec") or {}).get("ports") or []:
        s = f"{p.get('port')}"
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        parts.append(f"{s}/{p.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _ready_pods(obj: Obj) -> str:
    statuses = (obj.get("status") or {}).get("containerStatuses") or []
    total = len((obj.get("spec") or {}).get("containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _format_labels(labels: dict[str, str] | None) -> str:
    """``labels.FormatLabels``: sorted ``k=v`` pairs, ``<none>`` when empty."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def _format_selector(selector: Obj | None) -> str:
    """``metav1.FormatLabelSelector``: requirements sorted by key, ``<none>`` when empty."""
    try:
        return format_selector(selector) or "<none>"
    except SelectorError:
        return "<error>"


def _pod_template_column(name: str, field: str) -> Column:
    """Containers or Images of a workload's pod template, comma-joined (``-o wide``)."""

    def cell(o: Obj) -> str:
        containers = (((o.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        return ",".join(str(c.get(field, "")) for c in containers)

    return Column(name, "string", "", cell, 1)


def _readiness_gates(o: Obj) -> str:
    gates = (o.get("spec") or {}).get("readinessGates") or []
    if not gates:
        return "<none>"
    wanted = {g.get("conditionType") for g in gates}
    conditions = (o.get("status") or {}).get("conditions") or []
    met = sum(1 for c in conditions if c.get("type") in wanted and c.get("status") == "True")
    return f"{met}/{len(gates)}"


def _node_status(o: Obj) -> str:
    ready = next(
        (c for c in (o.get("status") or {}).get("conditions") or () if c.get("type") == "Ready"), None
    )
    status = "Ready" if ready is not None and ready.get("status") == "True" else "NotReady"
    if ready is None:
        status = "Unknown"
    return status + (",SchedulingDisabled" if (o.get("spec") or {}).get("unschedulable") else "")


def _node_roles(o: Obj) -> str:
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix) :] for k in o["metadata"].get("labels") or {} if k.startswith(prefix))
    return ",".join(roles) or "<none>"


def _node_info(o: Obj, field: str) -> str:
    return str(((o.get("status") or {}).get("nodeInfo") or {}).get(field) or "<unknown>")


def _node_address(o: Obj, kind: str) -> str:
    found = [
        a.get("address", "") for a in (o.get("status") or {}).get("addresses") or () if a.get("type") == kind
    ]
    return ",".join(found) or "<none>"


def _event_seen(o: Obj) -> tuple[str, str, int]:
    """An Event's (last seen, first seen, count) as the real printer derives them, series included."""
    first = _age(o.get("firstTimestamp") or o.get("eventTime"))
    last = _age(o["lastTimestamp"]) if o.get("lastTimestamp") else first
    series = o.get("series")
    if series:
        return _age(series.get("lastObservedTime")), first, int(series.get("count", 0))
    return last, first, int(o.get("count") or 1)


def _event_object(o: Obj) -> str:
    involved = o.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    return f"{kind}/{involved['name']}" if involved.get("name") else kind


def _event_source(o: Obj) -> str:
    source = o.get("source") or {}
    component = source.get("component") or o.get("reportingComponent") or ""
    instance = source.get("host") or o.get("reportingInstance") or ""
    if not component:
        return ""
    return f"{component}, {instance}" if instance else component


def _event(cell: Callable[[Obj], Any]) -> Callable[[Obj], Any]:
    """A cell computed from the core ``v1`` form, so both Event APIs print alike (as on the real server)."""
    return lambda o: cell(as_core_event(o))


_BUILTIN: dict[str, list[Column]] = {
    "ConfigMap": [
        _NAME,
        Column("Data", "string", "", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
        _AGE,
    ],
    "Secret": [
        _NAME,
        Column("Type", "string", "", lambda o: o.get("type", "Opaque")),
        Column("Data", "string", "", lambda o: len(o.get("data") or {})),
        _AGE,
    ],
    "Namespace": [
        _NAME,
        Column("Status", "string", "", lambda o: (o.get("status") or {}).get("phase", "")),
        _AGE,
    ],
    "Deployment": [
        _NAME,
        Column(
            "Ready",
            "string",
            "",
            lambda o: (
                f"{(o.get('status') or {}).get('readyReplicas', 0)}/"
                f"{(o.get('spec') or {}).get('replicas', 0)}"
            ),
        ),
        Column("Up-to-date", "integer", "", lambda o: (o.get("status") or {}).get("updatedReplicas", 0)),
        Column("Available", "integer", "", lambda o: (o.get("status") or {}).get("availableReplicas", 0)),
        _AGE,
        _pod_template_column("Containers", "name"),
        _pod_template_column("Images", "image"),
        Column(
            "Selector", "string", "", lambda o: _format_selector((o.get("spec") or {}).get("selector")), 1
        ),
    ],
    "ReplicaSet": [
        _NAME,
        Column("Desired", "integer", "", lambda o: (o.get("spec") or {}).get("replicas", 0)),
        Column("Current", "integer", "", lambda o: (o.get("status") or {}).get("replicas", 0)),
        Column("Ready", "integer", "", lambda o: (o.get("status") or {}).get("readyReplicas", 0)),
        _AGE,
        _pod_template_column("Containers", "name"),
        _pod_template_column("Images", "image"),
        Column(
            "Selector", "string", "", lambda o: _format_selector((o.get("spec") or {}).get("selector")), 1
        ),
    ],
    "Node": [
        _NAME,
        Column("Status", "string", "", _node_status),
        Column("Roles", "string", "", _node_roles),
        _AGE,
        Column("Version", "string", "", lambda o: _node_info(o, "kubeletVersion")),
        Column("Internal-IP", "string", "", lambda o: _node_address(o, "InternalIP"), 1),
        Column("External-IP", "string", "", lambda o: _node_address(o, "ExternalIP"), 1),
        Column("OS-Image", "string", "", lambda o: _node_info(o, "osImage"), 1),
        Column("Kernel-Version", "string", "", lambda o: _node_info(o, "kernelVersion"), 1),
        Column("Container-Runtime", "string", "", lambda o: _node_info(o, "containerRuntimeVersion"), 1),
    ],
    "Service": [
        _NAME,
        Column("Type", "string", "", lambda o: (o.get("spec") or {}).get("type", "")),
        Column("Cluster-IP", "string", "", lambda o: (o.get("spec") or {}).get("clusterIP", "<none>")),
        Column("External-IP", "string", "", lambda o: "<none>"),
        Column("Port(s)", "string", "", _ports),
        _AGE,
        Column("Selector", "string", "", lambda o: _format_labels((o.get("spec") or {}).get("selector")), 1),
    ],
    "Pod": [
        _NAME,
        Column("Ready", "string", "", _ready_pods),
        Column("Status", "string", "", lambda o: (o.get("status") or {}).get("phase", "")),
        Column("Restarts", "string", "", lambda o: "0"),
        _AGE,
        Column("IP", "string", "", lambda o: (o.get("status") or {}).get("podIP") or "<none>", 1),
        Column("Node", "string", "", lambda o: (o.get("spec") or {}).get("nodeName") or "<none>", 1),
        Column(
            "Nominated Node",
            "string",
            "",
            lambda o: (o.get("status") or {}).get("nominatedNodeName") or "<none>",
            1,
        ),
        Column("Readiness Gates", "string", "", _readiness_gates, 1),
    ],
    "Event": [
        Column("Last Seen", "string", "", _event(lambda o: _event_seen(o)[0])),
        Column("Type", "string", "", _event(lambda o: o.get("type", ""))),
        Column("Reason", "string", "", _event(lambda o: o.get("reason", ""))),
        Column("Object", "string", "", _event(_event_object)),
        Column(
            "Subobject",
            "string",
            "",
            _event(lambda o: (o.get("involvedObject") or {}).get("fieldPath", "")),
            1,
        ),
        Column("Source", "string", "", _event(_event_source), 1),
        Column("Message", "string", "", _event(lambda o: str(o.get("message", "")).strip())),
        Column("First Seen", "string", "", _event(lambda o: _event_seen(o)[1]), 1),
        Column("Count", "string", "", _event(lambda o: _event_seen(o)[2]), 1),
        Column("Name", "string", "name", _event(lambda o: o["metadata"]["name"]), 1),
    ],
}


def to_table(
    rt: ResourceType, items: list[Obj], resource_version: str, include_object: str = "Metadata"
) -> Obj:
    """A ``meta.k8s.io/v1`` Table of ``items``; each row carries the object's metadata (or object)."""
    columns = _crd_columns(rt) if rt.crd is not None else _BUILTIN.get(rt.kind, [_NAME, _CREATED])
    definitions = [
        {"name": c.name, "type": c.type, "format": c.format, "description": "", "priority": c.priority}
        for c in columns
    ]
    rows = []
    for obj in items:
        if include_object == "Object":
            embedded: Any = obj
        elif include_object == "None":
            embedded = None
        else:
            embedded = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append({"cells": [c.cell(obj) for c in columns], "object": embedded})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
