"""What the real server's decoder refuses or reports before anything else looks at a built-in object:
JSON values of the wrong type for the Go field (``json: cannot unmarshal …``), ``format: byte`` values
that are not base64 (``illegal base64 data at input byte N``), and fields the kind does not have
(dropped with a warning, or 400 under ``fieldValidation=Strict``).

The checks walk the real server's OpenAPI v2 definitions (``bundled``); the Go type names in the
messages (``DeploymentSpec``, ``[]v1.Container``, ``map[string]string``) come from the definition names
and property types. Like Go's decoder, the first type error in document order is the one reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from kubeloop.apiserver.machinery.errors import Cause, StatusError, bad_request
from kubeloop.apiserver.registry import bundled
from kubeloop.apiserver.registry.schemas import Node
from kubeloop.apiserver.registry.types import ResourceType

__all__ = ["check_types", "drop_unknown", "patch_error", "prefix", "strict_error"]

Obj = dict[str, Any]
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_B64 = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def prefix(rt: ResourceType) -> str:
    """How the real server starts a decoding error of ``rt``."""
    return f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '


_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def check_types(rt: ResourceType, obj: Obj) -> None:
    """400 BadRequest with Go's message for the first value of the wrong type: the whole object of a
    built-in kind; the metadata of a custom resource (the rest is its schema's to check)."""
    defs = bundled.v2_definitions()
    if rt.crd is not None:
        metadata = obj.get("metadata")
        error = (
            _object(metadata, defs[_OBJECT_META], defs, "ObjectMeta", [])
            if isinstance(metadata, dict)
            else None
        )
    else:
        name = bundled.definition_for(rt.group, rt.version, rt.kind)
        if name is None:
            return
        error = _object(obj, defs[name], defs, _short(name), [])
    if error is not None:
        raise bad_request(prefix(rt) + error)


def strict_error(rt: ResourceType, paths: list[str]) -> StatusError:
    listed = ", ".join(f'unknown field "{path}"' for path in paths)
    return bad_request(f"{prefix(rt)}strict decoding error: {listed}")


def patch_error(patched: Obj, error: StatusError) -> StatusError:
    """A patch whose result does not decode: the real server's 422 naming the whole patched object."""
    reason = error.message.split(": ", 1)[1] if ": " in error.message else error.message
    text = orjson.dumps(patched, option=orjson.OPT_SORT_KEYS).decode()
    quoted = orjson.dumps(text).decode()
    cause = Cause("FieldValueInvalid", f"Invalid value: {quoted}: {reason}", "patch")
    return StatusError(422, "Invalid", f' "" is invalid: patch: {cause.message}', causes=[cause])


def drop_unknown(value: Any, node: Node, root: bool = True) -> None:
    """Remove the fields ``node`` does not declare from ``value``, as Go's decoder does."""
    if isinstance(value, dict):
        closed = node.closed()
        for key in list(value):
            if root and key in ("apiVersion", "kind"):
                continue
            if closed and not node.has(key):
                del value[key]
            else:
                drop_unknown(value[key], node.field(key), False)
    elif isinstance(value, list):
        for item in value:
            drop_unknown(item, node.items(), False)


# -- the walk --------------------------------------------------------------------------------------


def _short(definition: str) -> str:
    return definition.rsplit(".", 1)[-1]


def _package(definition: str) -> str:
    parts = definition.split(".")
    return f"{parts[-2]}.{parts[-1]}"


def _resolve(schema: Obj, defs: Obj) -> tuple[Obj, str | None]:
    """The schema behind a ``$ref`` (and the definition's name)."""
    ref = schema.get("$ref") or ((schema.get("allOf") or [{}])[0]).get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return defs.get(name) or {}, name
    return schema, None


def _go_type(schema: Obj, defs: Obj) -> str:
    resolved, name = _resolve(schema, defs)
    kind = resolved.get("type")
    if name is not None and (kind == "object" or "properties" in resolved):
        return _package(name)
    if kind == "array":
        return "[]" + _go_type(resolved.get("items") or {}, defs)
    if kind == "object" and isinstance(resolved.get("additionalProperties"), dict):
        return "map[string]" + _go_type(resolved["additionalProperties"], defs)
    if kind == "integer":
        return str(resolved.get("format") or "int64")
    if kind == "number":
        return "float64"
    if kind == "boolean":
        return "bool"
    if name is not None:
        return _package(name)
    return "string" if kind == "string" else "interface {}"


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _mismatch(value: Any, schema: Obj, defs: Obj, struct: str, path: list[str]) -> str:
    return (
        f"json: cannot unmarshal {_json_kind(value)} into Go struct field {struct}.{'.'.join(path)} "
        f"of type {_go_type(schema, defs)}"
    )


def _object(value: Obj, schema: Obj, defs: Obj, struct: str, path: list[str]) -> str | None:
    props = schema.get("properties") or {}
    for key, child in value.items():
        if key in props:
            error = _value(child, props[key], defs, struct, [*path, key])
            if error is not None:
                return error
    return None


def _first(values: Iterable[Any], schema: Obj, defs: Obj, struct: str, path: list[str]) -> str | None:
    """The first decoding error among ``values`` of one schema (a list's items, a map's values)."""
    return next((e for v in values if (e := _value(v, schema, defs, struct, path)) is not None), None)


def _value(value: Any, schema: Obj, defs: Obj, struct: str, path: list[str]) -> str | None:
    """The decoding error of ``value`` against ``schema`` as the field ``struct``.``path``, or None."""
    if value is None:
        return None
    resolved, name = _resolve(schema, defs)
    kind = resolved.get("type")
    fmt = resolved.get("format")
    if fmt == "int-or-string" or (name is not None and kind == "string"):
        return None  # IntOrString, Quantity, Time...: their own decoders, left alone here
    if name is not None and kind is None and "properties" not in resolved:
        return None  # JSON, RawExtension, JSONSchemaPropsOrArray...: any value
    if name is not None or "properties" in resolved:
        if not isinstance(value, dict):
            return _mismatch(value, schema, defs, struct, path)
        return _object(value, resolved, defs, _short(name) if name else struct, path)
    if kind == "array":
        if not isinstance(value, list):
            return _mismatch(value, schema, defs, struct, path)
        return _first(value, resolved.get("items") or {}, defs, struct, path)
    if kind == "object":
        if not isinstance(value, dict):
            return _mismatch(value, schema, defs, struct, path)
        extra = resolved.get("additionalProperties")
        return _first(value.values(), extra, defs, struct, path) if isinstance(extra, dict) else None
    if kind == "string":
        if not isinstance(value, str):
            return _mismatch(value, schema, defs, struct, path)
        if fmt == "byte":
            return _base64_error(value)
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else _mismatch(value, schema, defs, struct, path)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _mismatch(value, schema, defs, struct, path)
        low, high = _INT_RANGES.get(str(fmt), _INT_RANGES["int64"])
        if isinstance(value, float) or not low <= value <= high:
            return (
                f"json: cannot unmarshal number {value} into Go struct field {struct}.{'.'.join(path)} "
                f"of type {fmt or 'int64'}"
            )
        return None
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return _mismatch(value, schema, defs, struct, path)
    return None


def _base64_error(text: str) -> str | None:
    """Go's ``base64.StdEncoding`` verdict on ``text``: None, or where the first illegal byte is."""
    data = text.encode()
    n, si = len(data), 0
    while si < n:
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return None
                return f"illegal base64 data at input byte {si - j}"
            c = chr(data[si])
            si += 1
            if c in _B64:
                j += 1
                continue
            if c in "\r\n":
                continue
            if c != "=" or j < 2:
                return f"illegal base64 data at input byte {si - 1}"
            if j == 2:  # "==" expected
                while si < n and chr(data[si]) in "\r\n":
                    si += 1
                if si == n:
                    return f"illegal base64 data at input byte {n}"
                if chr(data[si]) != "=":
                    return f"illegal base64 data at input byte {si - 1}"
                si += 1
            while si < n and chr(data[si]) in "\r\n":
                si += 1
            if si < n:
                return f"illegal base64 data at input byte {si}"
            return None
    return None
