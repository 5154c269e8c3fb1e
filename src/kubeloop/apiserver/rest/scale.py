"""The ``scale`` subresource: an ``autoscaling/v1`` Scale view of a workload's replicas.

Reads build the Scale from the resource's scale paths (``spec.replicas``, ``status.replicas``, the
label selector); writes (PUT or any patch type) change only the spec replicas path of the object.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeloop.apiserver.machinery.errors import Cause, bad_request, conflict, invalid
from kubeloop.apiserver.registry.types import ResourceType, ScalePaths
from kubeloop.apiserver.rest import fields
from kubeloop.apiserver.rest.api import Api, WriteOptions
from kubeloop.apiserver.rest.patch import json_patch, merge_patch
from kubeloop.labels import format_selector

__all__ = ["managed_fields", "to_scale", "write"]

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
    result = await api.update(
        rt,
        namespace,
        name,
        updated,
        None,
        opts,
        guaranteed=True,
        managed_fields=lambda old: managed_fields(rt, old, replicas, opts.manager),
    )
    return to_scale(rt, result)


_SCALE_VERSION = "autoscaling/v1"


def managed_fields(rt: ResourceType, old: Obj, replicas: int, manager: str) -> list[Obj]:
    """``old``'s managedFields after ``manager`` wrote ``replicas`` through ``/scale``, as the real scale
    handler maps them: the Scale gets an entry for each entry owning the replicas (ToSubresource),
    keyed as its field manager decodes it (an Update's apiVersion ``autoscaling/v1``), none when no one
    owns them (then the write is not tracked: objects never applied are skipped); the Scale's Update
    gives a changed replicas to ``manager`` alone; back on the parent (ToParent) an entry that owns the
    replicas and whose key the Scale does not hold loses them, and each Scale entry left is added,
    without a time. As the keys of Updates never match (the parent's name its own apiVersion), an
    Update's entry owning the replicas loses them and comes back beside itself, time-less, also when
    the replicas did not change: two entries of one identity, the later (the timed one) winning the
    next time the entries are read."""
    paths = rt.scale or ScalePaths()
    path = tuple(f"f:{part}" for part in paths.spec_replicas.lstrip(".").split("."))
    parent = fields.entries(old["metadata"].get("managedFields") or [])
    scale = {fields.identity(dict(e, apiVersion=_SCALE_VERSION)) for e, owned in parent if path in owned}
    if scale and _get(old, paths.spec_replicas) != replicas:
        scale = {(manager, "Update", _SCALE_VERSION, "scale")}
    out = []
    for entry, owned in parent:
        key = fields.identity(entry)
        if path in owned:
            if key in scale:
                scale.discard(key)
            else:
                owned = owned - {path}
        out.append((entry, owned))
    for owner, operation, _, subresource in sorted(scale):
        added: Obj = {"manager": owner, "operation": operation, "apiVersion": rt.api_version}
        if subresource:
            added["subresource"] = subresource
        out.append((added, {path}))
    return fields.rebuild(out)
