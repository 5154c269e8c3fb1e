"""The ``scale`` subresource: an ``autoscaling/v1`` Scale view of a workload's replicas.

Reads build the Scale from the resource's scale paths (``spec.replicas``, ``status.replicas``, the
label selector); writes (PUT or any patch type) change only the spec replicas path of the object.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeloop.apiserver.machinery.errors import Cause, bad_request, conflict, invalid
from kubeloop.apiserver.registry.types import ResourceType, ScalePaths
from kubeloop.apiserver.rest.api import Api, WriteOptions
from kubeloop.apiserver.rest.patch import json_patch, merge_patch
from kubeloop.labels import format_selector

__all__ = ["to_scale", "write"]

Obj = dict[str, Any]


def _get(obj: Obj, path: str) -> Any:
    node: Any = obj
    for part in path.lstrip(".").split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _set(obj: Obj, path: str, value: Any) -> None:
    parts = path.lstrip(".").split(".")
    node = obj
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _selector(obj: Obj, paths: ScalePaths) -> str | None:
    if paths.label_selector is None:
        return None
    value = _get(obj, paths.label_selector)
    if isinstance(value, str):
        return value
    selector = (obj.get("spec") or {}).get("selector")
    if not isinstance(selector, dict):
        return None
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}  # a ReplicationController's plain map
    return format_selector(selector)


def to_scale(rt: ResourceType, obj: Obj) -> Obj:
    paths = rt.scale or ScalePaths()
    md = obj["metadata"]
    status: Obj = {"replicas": _get(obj, paths.status_replicas) or 0}
    selector = _selector(obj, paths)
    if selector:
        status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md
        },
        "spec": {"replicas": _get(obj, paths.spec_replicas) or 0},
        "status": status,
    }


async def write(
    api: Api,
    rt: ResourceType,
    namespace: str | None,
    name: str,
    body: Any,
    method: str,
    content_type: str,
    opts: WriteOptions,
) -> Obj:
    """Apply a Scale PUT or patch to the object's replicas; returns the resulting Scale."""
    paths = rt.scale or ScalePaths()
    current = api.get(rt, namespace, name)
    scale = to_scale(rt, current)
    if method == "PUT":
        new_scale = body
    elif content_type == "application/json-patch+json":
        new_scale = json_patch(scale, body)
    else:
        new_scale = merge_patch(scale, body)
    replicas = (new_scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int):
        raise bad_request("spec.replicas must be an integer")
    if rt.crd is None and replicas < 0:  # the workload registries' ValidateScale, before anything else
        why = f"Invalid value: {replicas}: must be greater than or equal to 0"
        raise invalid("Scale", "autoscaling", name, [Cause("FieldValueInvalid", why, "spec.replicas")])
    want_rv = (new_scale.get("metadata") or {}).get("resourceVersion")
    if method == "PUT" and want_rv and want_rv != current["metadata"]["resourceVersion"]:
        raise conflict(
            rt.plural,
            rt.group,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    updated = copy.deepcopy(current)
    _set(updated, paths.spec_replicas, replicas)
    if method == "PUT" and want_rv:
        updated["metadata"]["resourceVersion"] = want_rv
    else:
        updated["metadata"].pop("resourceVersion", None)
    # The real scale handler maps the parent's managedFields to the Scale's and back: when no manager
    # owns the replicas, the Scale has none and a non-apply write to it is not tracked (the field
    # manager's skip of objects never applied), so managedFields stay as they were.
    untracked = not any(
        _owns(entry, paths.spec_replicas) for entry in current["metadata"].get("managedFields") or ()
    )
    result = await api.update(
        rt, namespace, name, updated, None, opts, guaranteed=True, untracked=untracked, tracked_as="scale"
    )
    return to_scale(rt, result)


def _owns(entry: Obj, path: str) -> bool:
    """Whether a managedFields ``entry`` owns the field at ``path`` (``spec.replicas``)."""
    node: Any = entry.get("fieldsV1") or {}
    for part in path.lstrip(".").split("."):
        node = node.get(f"f:{part}") if isinstance(node, dict) else None
    return node is not None
