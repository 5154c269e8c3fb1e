"""Custom resources against their CRD's structural schema: pruning, defaulting, validation.

Role: what the real server does to a custom resource on every write, in the same order: unknown
fields are pruned (unless ``x-kubernetes-preserve-unknown-fields``), ``default`` values are filled in
where their parent exists, then the object is validated (types, ``minimum``/``maximum`` (and
exclusive), ``enum``, ``pattern``, ``minLength``/``maxLength``, ``minItems``/``maxItems``,
``required``, ``nullable``, ``x-kubernetes-int-or-string``) and ``x-kubernetes-validations`` CEL
rules (``cel``) are checked. All failures are reported together as one 422 Invalid with a cause per
field, as the real server does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kubeloop.apiserver.cel import evaluation as cel
from kubeloop.apiserver.cel.correlation import Correlated
from kubeloop.apiserver.machinery.errors import Cause
from kubeloop.apiserver.machinery.regex import go_regex
from kubeloop.apiserver.registry.types import ResourceType

__all__ = ["causes", "coerce", "default", "prepare", "prune", "prune_nulls", "schema_of", "validate"]

Obj = dict[str, Any]
_ROOT_KEEP = {"apiVersion", "kind", "metadata"}


def schema_of(rt: ResourceType) -> Obj | None:
    """The ``openAPIV3Schema`` of a custom resource's version, or None."""
    schema: Obj | None = ((rt.crd or {}).get("schema") or {}).get("openAPIV3Schema")
    return schema


def prepare(rt: ResourceType, obj: Obj) -> None:
    """Prune unknown fields and fill in defaults, in place."""
    schema = schema_of(rt)
    if schema:
        prune(obj, schema, root=True)
        prune_nulls(obj, schema)
        default(obj, schema)


def coerce(rt: ResourceType, obj: Obj) -> None:
    """Prune unknown fields, in place: what the real server does to an object converted to another
    version (its ``schemaCoercingConverter``; defaults are those of the version it was decoded in)."""
    schema = schema_of(rt)
    if schema:
        prune(obj, schema, root=True)
        prune_nulls(obj, schema)


def causes(
    rt: ResourceType, obj: Obj, old: Obj | None, *, status: bool = False, warnings: list[str] | None = None
) -> list[Cause]:
    """Every schema, scale-path, list-type and CEL failure of ``obj`` (CEL only when the schema passed),
    as the real strategies validate a create (``old`` None) or an update.

    On an update a failure of a value unchanged since ``old`` is ratcheted (v1.33): a schema failure
    is dropped, a CEL rule's is a warning (into ``warnings``); list-type duplicates count only if
    ``old`` had none. A ``status`` write (the status strategy) validates the schema of the status
    alone and the scale's status replicas; list types and CEL rules still run on the whole object."""
    schema = schema_of(rt)
    if not schema:
        return []
    if not status:
        found = validate(
            obj, schema, "", root=True, corr=None if old is None else Correlated(obj, old, schema)
        )
    else:
        found = _status_causes(obj, (old or {}).get("status"), (schema.get("properties") or {}).get("status"))
    if rt.scale is not None:
        if not status:
            found += _scale_causes(obj, rt.scale.spec_replicas)
        found += _scale_causes(obj, rt.scale.status_replicas)
    duplicates = _lists(obj, schema, "")
    if duplicates and (old is None or not _lists(old, schema, "")):
        found += duplicates
    if _has_rules(schema):
        if any(c.reason in _BLOCKING for c in found):
            found.append(Cause("FieldValueInvalid", f'Invalid value: "null": {_NOT_CHECKED}', "<nil>"))
        else:
            found += cel.check(obj, old, schema, warnings)
    return found


def _status_causes(obj: Obj, old: Any, schema: Any) -> list[Cause]:
    """The status's schema failures, as the real status validator words them: names relative to the
    status in messages, fields under ``status``."""
    if "status" not in obj or not isinstance(schema, dict):
        return []
    value = obj["status"]
    found = validate(value, schema, "", corr=Correlated(value, old, schema))
    return [
        dataclasses.replace(
            c, field="status" if c.field == "<root>" else f"status.{c.field}".replace(".[", "[")
        )
        for c in found
    ]


# Schema failures that keep the real server from running CEL rules (apiextensions hasBlockingErr).
_BLOCKING = {
    "FieldValueNotSupported",
    "FieldValueRequired",
    "FieldValueTooLong",
    "FieldValueTooMany",
    "FieldValueTypeInvalid",
}
_NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; correct the existing errors to "
    "complete validation"
)


def _has_rules(schema: Any) -> bool:
    if isinstance(schema, dict):
        return bool(schema.get("x-kubernetes-validations")) or any(_has_rules(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_rules(v) for v in schema)
    return False


def _scale_causes(obj: Obj, path: str) -> list[Cause]:
    """What the real server adds for a bad value at a scale subresource replicas path."""
    node: Any = obj
    field = "." + path
    go_type = {
        str: "string",
        float: "float64",
        bool: "bool",
        dict: "map[string]interface {}",
        list: "[]interface {}",
    }
    parts = path.split(".")
    for i, part in enumerate(parts):
        if node is None:
            return []
        if not isinstance(node, dict):  # Go's NestedInt64 names the path walked so far
            walked = "." + ".".join(parts[: i + 1])
            shown = f"{node} is of the type {go_type.get(type(node), 'interface {}')}"
            message = f"Invalid value: 0: {walked} accessor error: {shown}, expected map[string]interface{{}}"
            return [Cause("FieldValueInvalid", message, field)]
        if part not in node:
            return []
        node = node[part]
    if isinstance(node, int) and not isinstance(node, bool):
        if node < 0:
            return [
                Cause("FieldValueInvalid", f"Invalid value: {node}: should be a non-negative integer", field)
            ]
        return []
    return [
        Cause(
            "FieldValueInvalid",
            f"Invalid value: 0: {field} accessor error: {node} is of the type "
            f"{go_type.get(type(node), 'interface {}')}, expected int64",
            field,
        )
    ]


def prune(value: Any, schema: Obj, root: bool = False) -> None:
    """Drop fields the schema does not declare (keeps apiVersion, kind, metadata at the root)."""
    if schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is not None or (extra is None and not schema.get("x-kubernetes-preserve-unknown-fields")):
            for key in list(value):
                if root and key in _ROOT_KEEP:
                    continue
                if props is not None and key in props:
                    prune(value[key], props[key])
                elif isinstance(extra, dict):
                    prune(value[key], extra)
                elif not schema.get("x-kubernetes-preserve-unknown-fields") and not (
                    schema.get("x-kubernetes-embedded-resource") and key in _ROOT_KEEP
                ):
                    del value[key]
        elif isinstance(extra, dict):
            for child in value.values():
                prune(child, extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            prune(item, schema["items"])


def prune_nulls(value: Any, schema: Obj) -> None:
    """Drop the nulls of fields that are not ``nullable`` (a default then fills them in), as the real
    server's ``PruneNonNullableNullsWithoutDefaults`` and defaulting do: such a null is no error."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key in list(value):
            child = props.get(key) if key in props else extra if isinstance(extra, dict) else None
            if child is None:
                continue
            if value[key] is None:
                if not child.get("nullable"):
                    del value[key]
            else:
                prune_nulls(value[key], child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            prune_nulls(item, schema["items"])


def default(value: Any, schema: Obj) -> None:
    """Fill in ``default`` of missing properties wherever their parent object exists."""
    if isinstance(value, dict):
        for key, prop in (schema.get("properties") or {}).items():
            if key not in value and "default" in prop:
                value[key] = _copy(prop["default"])
            if key in value:
                default(value[key], prop)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, child in value.items():
                if key not in (schema.get("properties") or {}):
                    default(child, extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            default(item, schema["items"])


def _copy(value: Any) -> Any:
    import copy

    return copy.deepcopy(value)


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return "object" if isinstance(value, dict) else "array"
    return str(value)


def _type_ok(value: Any, expected: str, schema: Obj) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    return {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }.get(expected, lambda v: True)(value)


def validate(
    value: Any, schema: Obj, path: str, root: bool = False, corr: Correlated | None = None
) -> list[Cause]:
    """Every violation of ``schema`` by ``value`` at ``path`` (dotted, ``spec.ports[0].port``); with
    ``corr`` (an update's value correlated with its old one) none where the value is unchanged, as the
    real server's ratcheting validator."""
    causes = _violations(value, schema, path, root, corr)
    return [] if causes and corr is not None and corr.equal() else causes


def _violations(value: Any, schema: Obj, path: str, root: bool, corr: Correlated | None) -> list[Cause]:
    causes: list[Cause] = []
    field = path or "<root>"
    if value is None:
        if schema.get("nullable") or root:
            return causes
        causes.append(
            Cause(
                "FieldValueTypeInvalid",
                f'Invalid value: "null": {field} in body must be of type '
                f'{schema.get("type", "object")}: "null"',
                field,
            )
        )
        return causes
    expected = schema.get("type")
    if expected and not _type_ok(value, expected, schema):
        causes.append(
            Cause(
                "FieldValueTypeInvalid",
                f'Invalid value: "{cel.json_type_name(value)}": {field} in body must be '
                f'of type {expected}: "{cel.json_type_name(value)}"',
                field,
            )
        )
        return causes
    if "enum" in schema and value not in schema["enum"]:
        listed = ", ".join(_fmt(v) for v in schema["enum"])
        causes.append(
            Cause(
                "FieldValueNotSupported",
                f"Unsupported value: {_fmt(value)}: supported values: {listed}",
                field,
            )
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema:
            low = schema["minimum"]
            if value < low or (schema.get("exclusiveMinimum") and value == low):
                op = "greater than" if schema.get("exclusiveMinimum") else "greater than or equal to"
                causes.append(
                    Cause(
                        "FieldValueInvalid",
                        f"Invalid value: {_fmt(value)}: {field} in body should be {op} {low}",
                        field,
                    )
                )
        if "maximum" in schema:
            high = schema["maximum"]
            if value > high or (schema.get("exclusiveMaximum") and value == high):
                op = "less than" if schema.get("exclusiveMaximum") else "less than or equal to"
                causes.append(
                    Cause(
                        "FieldValueInvalid",
                        f"Invalid value: {_fmt(value)}: {field} in body should be {op} {high}",
                        field,
                    )
                )
        if "multipleOf" in schema and value % schema["multipleOf"]:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {_fmt(value)}: {field} in body should be a multiple of "
                    f"{schema['multipleOf']}",
                    field,
                )
            )
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append(
                Cause(
                    "FieldValueTooLong", f"Too long: may not be more than {schema['maxLength']} bytes", field
                )
            )
        if "minLength" in schema and len(value) < schema["minLength"]:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {_fmt(value)}: {field} in body should be at least {schema['minLength']} "
                    "chars long",
                    field,
                )
            )
        if "pattern" in schema and not go_regex(schema["pattern"]).search(value):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {_fmt(value)}: {field} in body should match '{schema['pattern']}'",
                    field,
                )
            )
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append(
                Cause(
                    "FieldValueTooMany",
                    f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
                    field,
                )
            )
        if "minItems" in schema and len(value) < schema["minItems"]:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {len(value)}: {field} in body should have at least {schema['minItems']} "
                    "items",
                    field,
                )
            )
        items = schema.get("items")
        if isinstance(items, dict):
            for n, item in enumerate(value):
                causes += validate(item, items, f"{path}[{n}]", corr=corr and corr.index(n))
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        if schema.get("x-kubernetes-embedded-resource"):
            causes += _embedded_resource(value, path)
        for req in schema.get("required") or ():
            if req not in value:
                sub = f"{path}.{req}" if path else req
                causes.append(Cause("FieldValueRequired", "Required value", sub))
        for key, child in value.items():
            if root and key in _ROOT_KEEP:
                continue
            sub = f"{path}.{key}" if path else key
            if key in props:
                causes += validate(child, props[key], sub, corr=corr and corr.key(key))
            elif isinstance(schema.get("additionalProperties"), dict):
                causes += validate(child, schema["additionalProperties"], sub, corr=corr and corr.key(key))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            causes.append(
                Cause(
                    "FieldValueTooMany",
                    f"Too many: {len(value)}: must have at most {schema['maxProperties']} items",
                    field,
                )
            )
    for sub in schema.get("allOf") or ():  # value validations of a structural schema (no types there)
        if isinstance(sub, dict):
            causes += [c for c in _violations(value, sub, path, root, corr) if c not in causes]
    return causes


def _embedded_resource(value: Obj, path: str) -> list[Cause]:
    """An ``x-kubernetes-embedded-resource`` object needs ``apiVersion`` and ``kind`` (strings, not empty),
    as apiextensions' ``validateEmbeddedResource`` says."""
    found = []
    for key in ("apiVersion", "kind"):
        sub = f"{path}.{key}" if path else key
        if key not in value:
            found.append(Cause("FieldValueRequired", "Required value: must not be empty", sub))
        elif not isinstance(value[key], str):
            found.append(
                Cause("FieldValueInvalid", f"Invalid value: {_fmt(value[key])}: must be a string", sub)
            )
        elif not value[key]:
            found.append(Cause("FieldValueInvalid", 'Invalid value: "": must not be empty', sub))
    return found


def _lists(value: Any, schema: Obj, path: str) -> list[Cause]:
    """Every ``x-kubernetes-list-type`` failure in ``value``, as apiextensions' listtype validation
    (after the schema's: it is ratcheted as a whole, by the old object's)."""
    found: list[Cause] = []
    if isinstance(value, list):
        found += _duplicates(value, schema, path)
        if isinstance(schema.get("items"), dict):
            for n, item in enumerate(value):
                found += _lists(item, schema["items"], f"{path}[{n}]")
    elif isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            sub = f"{path}.{key}" if path else key
            if key in props:
                found += _lists(child, props[key], sub)
            elif isinstance(extra, dict):
                found += _lists(child, extra, sub)
    return found


def _duplicates(items: list[Any], schema: Obj, path: str) -> list[Cause]:
    """``x-kubernetes-list-type`` ``set`` (equal items) and ``map`` (equal keys): each repeat is the real
    ``Duplicate value`` at its index."""
    kind = schema.get("x-kubernetes-list-type")
    keys = schema.get("x-kubernetes-list-map-keys") or ()
    if kind not in ("set", "map"):
        return []
    seen: list[Any] = []
    found = []
    for n, item in enumerate(items):
        if kind == "map" and isinstance(item, dict):
            identity: Any = {k: item[k] for k in keys if k in item}
            shown = _go_map(identity)
        else:
            identity, shown = item, _fmt(item)
        if identity in seen:
            found.append(Cause("FieldValueDuplicate", f"Duplicate value: {shown}", f"{path}[{n}]"))
        else:
            seen.append(identity)
    return found


def _go_map(keys: Obj) -> str:
    """Go's ``%#v`` of a ``map[string]interface {}`` of scalars (keys sorted, as Go prints maps)."""
    import json

    inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(keys.items()))
    return f"map[string]interface {{}}{{{inner}}}"
