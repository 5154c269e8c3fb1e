"""OpenAPI v2 and v3 documents: the real server's (``bundled``) plus one schema per served CRD version.

kubectl reads them for ``apply`` (strategic merge keys, validation), ``explain`` and field
validation. Encoded documents are cached until the set of resources changes.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from kubeloop.apiserver.registry import bundled
from kubeloop.apiserver.registry.types import Registry, ResourceType

__all__ = [
    "PROTOBUF_V2",
    "v2",
    "v2_protobuf_header",
    "v3",
    "v3_index",
]

Obj = dict[str, Any]
_cache: dict[tuple[str, int, int], bytes] = {}
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def _def_name(rt: ResourceType) -> str:
    reversed_group = ".".join(reversed(rt.group.split(".")))
    return f"{reversed_group}.{rt.version}.{rt.kind}"


def _crd_schema(rt: ResourceType, ref_prefix: str) -> Obj:
    schema = copy.deepcopy(((rt.crd or {}).get("schema") or {}).get("openAPIV3Schema") or {"type": "object"})
    props = schema.setdefault("properties", {})
    props.setdefault(
        "apiVersion",
        {
            "type": "string",
            "description": "APIVersion defines the versioned schema of this representation of an object.",
        },
    )
    props.setdefault(
        "kind",
        {
            "type": "string",
            "description": "Kind is a string value representing the REST resource this object represents.",
        },
    )
    props["metadata"] = {"$ref": f"{ref_prefix}{_OBJECT_META}", "description": "Standard object's metadata."}
    schema["x-kubernetes-group-version-kind"] = [{"group": rt.group, "version": rt.version, "kind": rt.kind}]
    return schema


def _crds(registry: Registry) -> list[ResourceType]:
    return [rt for rt in registry.all() if rt.crd is not None]


def v2(registry: Registry) -> bytes:
    key = ("v2", id(registry), registry.changed)
    if key not in _cache:
        doc = dict(bundled.bundle()["v2"])
        defs = dict(doc["definitions"])
        for rt in _crds(registry):
            defs[_def_name(rt)] = _crd_schema(rt, "#/definitions/")
        doc["definitions"] = defs
        _cache.clear()
        _cache[key] = orjson.dumps(doc)
    return _cache[key]


PROTOBUF_V2 = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def v2_protobuf_header() -> bytes:
    """The OpenAPI v2 document in gnostic's protobuf encoding, with its ``swagger`` and ``info`` only
    (no paths or definitions: kubectl asks for it only to validate kinds /openapi/v3 does not have, and
    then finds no schema, as for a kind the real server does not serve)."""
    info = bundled.bundle()["v2"].get("info") or {}

    def field(number: int, text: str) -> bytes:
        data = text.encode()
        return bytes([number << 3 | 2, len(data)]) + data

    body = field(1, str(info.get("title", "Kubernetes"))) + field(2, str(info.get("version", "")))
    return field(1, "2.0") + bytes([2 << 3 | 2, len(body)]) + body


def v3_index(registry: Registry) -> Obj:
    paths = {name: {"serverRelativeURL": f"/openapi/v3/{name}"} for name in bundled.v3_paths()}
    for rt in _crds(registry):
        paths[f"apis/{rt.group}/{rt.version}"] = {
            "serverRelativeURL": f"/openapi/v3/apis/{rt.group}/{rt.version}"
        }
    return {"paths": paths}


def v3(registry: Registry, path: str) -> bytes | None:
    path = path.strip("/")
    key = (path, id(registry), registry.changed)
    if key in _cache:
        return _cache[key]
    base = bundled.v3_document(path)
    crds = [rt for rt in _crds(registry) if f"apis/{rt.group}/{rt.version}" == path]
    if base is None and not crds:
        return None
    if base is None:
        meta_doc = (bundled.v3_document("api/v1") or {})["components"]["schemas"]
        schemas = {k: v for k, v in meta_doc.items() if k.startswith("io.k8s.apimachinery.pkg.apis.meta.v1.")}
        base = {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "unversioned"},
            "paths": {},
            "components": {"schemas": schemas},
        }
    doc = copy.copy(base)
    doc["components"] = dict(base["components"], schemas=dict(base["components"]["schemas"]))
    doc["paths"] = dict(base.get("paths") or {})
    for rt in crds:
        doc["components"]["schemas"][_def_name(rt)] = _crd_schema(rt, "#/components/schemas/")
        doc["components"]["schemas"][_def_name(rt) + "List"] = _list_schema(rt)
        doc["paths"].update(_paths(rt))
    _cache[key] = orjson.dumps(doc)
    return _cache[key]


def _list_schema(rt: ResourceType) -> Obj:
    return {
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"},
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{_def_name(rt)}"}},
        },
        "x-kubernetes-group-version-kind": [
            {"group": rt.group, "version": rt.version, "kind": f"{rt.kind}List"}
        ],
    }


def _param(name: str, where: str = "query") -> Obj:
    return {"name": name, "in": where, "schema": {"type": "string", "uniqueItems": True}}


def _operation(rt: ResourceType, action: str, schema: str, params: list[str]) -> Obj:
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return {
        "operationId": f"{action}{rt.kind}",
        "parameters": [_param(p) for p in params],
        "responses": {"200": {"description": "OK", "content": content}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
    }


def _paths(rt: ResourceType) -> Obj:
    """Operations of a custom resource, enough for kubectl's GVK lookup and field-validation check."""
    base = f"/apis/{rt.group}/{rt.version}/"
    base += f"namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else rt.plural
    one, many = _def_name(rt), _def_name(rt) + "List"
    write = ["dryRun", "fieldManager", "fieldValidation"]
    scope = [_param("namespace", "path")] if rt.namespaced else []
    paths: Obj = {
        base: {
            "get": _operation(rt, "list", many, ["labelSelector", "fieldSelector", "limit", "continue"]),
            "post": _operation(rt, "post", one, write),
            "parameters": scope,
        },
        base + "/{name}": {
            "get": _operation(rt, "get", one, []),
            "put": _operation(rt, "put", one, write),
            "patch": _operation(rt, "patch", one, [*write, "force"]),
            "delete": _operation(rt, "delete", one, ["dryRun"]),
            "parameters": [_param("name", "path"), *scope],
        },
    }
    for sub in sorted(rt.subresources):
        paths[f"{base}/{{name}}/{sub}"] = {
            "get": _operation(rt, "get", one, []),
            "put": _operation(rt, "put", one, write),
            "patch": _operation(rt, "patch", one, [*write, "force"]),
            "parameters": [_param("name", "path"), *scope],
        }
    return paths
