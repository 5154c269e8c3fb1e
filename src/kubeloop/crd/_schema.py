"""The rewriter from pydantic's JSON Schema to a Kubernetes *structural* OpenAPI v3 schema.

pydantic emits JSON Schema 2020-12; a CRD needs the structural subset of OpenAPI v3 that the API
server prunes, defaults and validates with. The rewrite, node by node from the root:

- ``$ref`` and one-item ``allOf`` are inlined (recursive models are refused: a CRD schema is a tree);
- ``anyOf``/``oneOf`` with ``{"type": "null"}`` becomes ``nullable: true``; ``int | str`` becomes
  ``x-kubernetes-int-or-string: true``; ``int | float`` becomes ``number``; other unions are refused;
- numeric ``exclusiveMinimum``/``exclusiveMaximum`` become ``minimum`` + ``exclusiveMinimum: true``;
- ``const`` becomes a one-value ``enum``; a nullable enum moves under ``allOf`` (the server
  checks a null against a top-level ``enum``, and no enum matches a null); ``title``,
  ``examples``, ``readOnly``... are dropped;
- ``set[T]`` (``uniqueItems``) becomes ``x-kubernetes-list-type: set``;
- ``Any`` and ``dict[str, Any]`` become ``x-kubernetes-preserve-unknown-fields: true``; the
  ``additionalProperties: true`` that ``extra="allow"`` adds to models is dropped (the server prunes
  unknown fields; the Python model still keeps them);
- formats the API server does not know (or, like ``duration``, reads differently from pydantic)
  are dropped.

Anything else that a structural schema cannot hold raises ``CRDSchemaError`` naming the path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, get_args, get_origin

from pydantic import BaseModel, TypeAdapter
from pydantic.errors import PydanticInvalidForJsonSchema

from kubeloop.crd._errors import CRDSchemaError

__all__ = ["openapi_schema", "rewrite"]

# Formats kube-openapi's validator knows, minus "duration": pydantic writes ISO 8601 ("PT1H") where
# Kubernetes expects Go durations ("1h").
_FORMATS = frozenset(
    {
        "bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid", "uuid3",
        "uuid4", "uuid5", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor", "rgbcolor",
        "byte", "password", "date", "date-time", "datetime", "int32", "int64", "float", "double",
    }
)  # fmt: skip
_KEPT = frozenset(
    {
        "type", "format", "description", "default", "enum", "pattern", "minLength", "maxLength",
        "minItems", "maxItems", "minProperties", "maxProperties", "minimum", "maximum",
        "multipleOf", "required", "nullable",
    }
)  # fmt: skip
_DROPPED = frozenset(
    {"title", "examples", "example", "readOnly", "writeOnly", "deprecated", "$comment", "$schema", "$id"}
)
_TYPE_OF_VALUE: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)
_PRESERVE = "x-kubernetes-preserve-unknown-fields"
_INT_OR_STRING = "x-kubernetes-int-or-string"


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a pydantic model, with wire (alias) names.

    Works for any ``BaseModel``; ``crd.Model`` subclasses also carry their ``x-kubernetes-*``
    options. Raises ``CRDSchemaError`` naming the field path of the first construct that a
    structural schema cannot express.
    """
    try:
        raw = model.model_json_schema(by_alias=True, mode="validation")
    except PydanticInvalidForJsonSchema as exc:
        path, declaring = _locate_unschemable(model, model.__name__)
        raise CRDSchemaError(
            path,
            f"a type with no JSON Schema ({exc.message.splitlines()[0]})",
            suggestion="give the field a JSON type (str, int, float, bool, list, dict, a crd.Model) "
            "or Any, and keep Python-only values out of the resource",
            model=declaring,
        ) from exc
    return rewrite(raw, model.__name__)


def _locate_unschemable(model: type[BaseModel], path: str) -> tuple[str, str]:
    """The path of the first field of ``model`` (searching nested models) that has no JSON Schema,
    and the model declaring it; ``(path, "")`` when no single field is to blame."""
    for name, info in model.model_fields.items():
        field_path = f"{path}.{info.alias or name}"
        if info.annotation is None:
            continue
        try:
            TypeAdapter(info.annotation).json_schema(by_alias=True, mode="validation")
        except PydanticInvalidForJsonSchema:
            for nested, suffix in _models_in(info.annotation, ""):
                found, declaring = _locate_unschemable(nested, field_path + suffix)
                if declaring:
                    return found, declaring
            return field_path, model.__name__
        except Exception:  # a best-effort search: anything else is not the culprit
            continue
    return path, ""


def _models_in(annotation: Any, suffix: str) -> list[tuple[type[BaseModel], str]]:
    """The models inside ``annotation``, each with its path suffix (``[*]`` per list or map level)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, suffix)]
    container = get_origin(annotation) in (list, set, frozenset, dict, Mapping, Sequence)
    return [
        found
        for arg in get_args(annotation)
        for found in _models_in(arg, suffix + "[*]" if container else suffix)
    ]


def rewrite(json_schema: Mapping[str, Any], root: str = "") -> dict[str, Any]:
    """Rewrite a JSON Schema document (with its ``$defs``) into a structural schema.

    ``root`` prefixes the field paths in errors (usually the model's name).
    """
    document = dict(json_schema)
    defs = document.pop("$defs", {})
    return _Rewriter(defs, root).node(document, root, ())


def _value_type(value: Any) -> str | None:
    for python_type, name in _TYPE_OF_VALUE:
        if isinstance(value, python_type):
            return name
    return None


def _describe(branch: Mapping[str, Any]) -> str:
    if "$ref" in branch:
        return str(branch["$ref"]).rsplit("/", 1)[-1]
    return str(branch.get("type", "untyped"))


class _Rewriter:
    def __init__(self, defs: Mapping[str, Any], root: str) -> None:
        self.defs = defs
        self.root = root

    def fail(self, path: str, problem: str, suggestion: str, stack: tuple[str, ...] = ()) -> CRDSchemaError:
        """The error for ``path``; ``stack[-1]``, when set, is the model declaring the field."""
        return CRDSchemaError(
            path or self.root or "<root>", problem, suggestion=suggestion, model=stack[-1] if stack else ""
        )

    def node(self, schema: Mapping[str, Any], path: str, stack: tuple[str, ...]) -> dict[str, Any]:
        """Rewrite one schema node; ``stack`` holds the ``$defs`` being inlined above it."""
        s = dict(schema)
        if "$ref" in s:
            ref = str(s.pop("$ref"))
            name = ref.rsplit("/", 1)[-1]
            if not ref.startswith("#/$defs/") or name not in self.defs:
                raise self.fail(
                    path,
                    f"unresolvable reference {ref!r}",
                    "declare the field's type as a pydantic model or a plain type",
                    stack,
                )
            if name in stack:
                raise self.fail(
                    path,
                    f"recursive model {name!r}: a CRD schema must be a finite tree",
                    "declare one model per level down to a fixed depth, or type the recursive field as "
                    "dict[str, Any] (kept as is by the server) and validate it in Python",
                    stack,
                )
            # The field's own keywords (description, default, x-kubernetes-*) win over the model's.
            return self.node({**self.defs[name], **s}, path, (*stack, name))
        if "allOf" in s:
            parts = s.pop("allOf")
            if len(parts) != 1:
                raise self.fail(
                    path,
                    "allOf of several schemas (model intersection) is not supported",
                    "declare one model that inherits the fields of all of them",
                    stack,
                )
            return self.node({**parts[0], **s}, path, stack)
        nullable = bool(s.pop("nullable", False))
        for junctor in ("anyOf", "oneOf"):
            if junctor in s:
                branches = s.pop(junctor)
                s.pop("discriminator", None)
                non_null = [b for b in branches if b != {"type": "null"}]
                nullable = nullable or len(non_null) < len(branches)
                merged = self.union(non_null, s, path, stack)
                return self.finish(merged, nullable)
        return self.finish(self.plain(s, path, stack), nullable)

    def finish(self, node: dict[str, Any], nullable: bool) -> dict[str, Any]:
        if nullable:
            node["nullable"] = True
        if node.get("nullable") and "enum" in node:
            # The API server checks a null against ``enum`` and no enum can match a null (not even one
            # listing null); under ``allOf`` the enum is checked for every value but null.
            node["allOf"] = [{"enum": [v for v in node.pop("enum") if v is not None]}]
        if node.get("default", 0) is None:
            del node["default"]
        return dict(sorted(node.items()))

    def union(
        self, branches: list[dict[str, Any]], rest: dict[str, Any], path: str, stack: tuple[str, ...]
    ) -> dict[str, Any]:
        if len(branches) == 1:
            return self.node({**branches[0], **rest}, path, stack)
        kinds = sorted(_describe(b) for b in branches)
        plain = all(set(b) == {"type"} for b in branches)
        if plain and kinds == ["integer", "string"]:
            return self.node({**rest, _INT_OR_STRING: True}, path, stack)
        if plain and kinds == ["integer", "number"]:
            return self.node({**rest, "type": "number"}, path, stack)
        if sum(1 for b in branches if "$ref" in b or b.get("type") == "object") >= 2:
            problem = f"union of object types ({' | '.join(kinds)}) is not supported"
            suggestion = (
                "declare one model with an optional field per variant (e.g. `cat: Cat | None = None`, "
                "`dog: Dog | None = None`) and a CEL rule that exactly one is set"
            )
        else:
            problem = f"union of {' | '.join(kinds)} is not supported"
            suggestion = (
                "pick one type for the field; int | str is allowed (int-or-string), and Any keeps "
                "any JSON value (x-kubernetes-preserve-unknown-fields)"
            )
        raise self.fail(
            path,
            problem + " (a structural schema has one type per field; int | str is the exception)",
            suggestion,
            stack,
        )

    def plain(self, s: dict[str, Any], path: str, stack: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "prefixItems" in s:
            raise self.fail(
                path,
                "tuples (prefixItems) are not supported",
                "use list[T] with min_length/max_length, or a model with named fields",
                stack,
            )
        for key, value in s.items():
            if key in _DROPPED or key in ("properties", "items", "additionalProperties", "uniqueItems"):
                continue
            if key.startswith("x-kubernetes-") or key in _KEPT:
                out[key] = value
            elif key == "const":
                out["enum"] = [value]
            elif key in ("exclusiveMinimum", "exclusiveMaximum"):
                self.exclusive(out, s, key, value)
            elif key == "format":
                pass
            else:
                raise self.fail(
                    path,
                    f"JSON Schema keyword {key!r} has no structural-schema equivalent",
                    "drop that constraint, or state it as a CEL rule: "
                    "crd.Field(x_kubernetes_validations=[crd.Rule('<expression on self>', message=...)])",
                    stack,
                )
        fmt = s.get("format")
        if fmt is not None:
            if fmt in _FORMATS:
                out["format"] = fmt
            else:
                out.pop("format", None)
        if "enum" in out:
            values = list(out["enum"])
            if None in values:
                values.remove(None)
                out["nullable"] = True
            out["enum"] = values
            if "type" not in out:
                types = {_value_type(v) for v in values}
                if len(types) != 1 or None in types:
                    raise self.fail(
                        path,
                        f"enum values of mixed types {values!r} are not supported",
                        "use values of one type (all strings or all integers)",
                        stack,
                    )
                out["type"] = types.pop()
        if out.get(_INT_OR_STRING):
            out.pop("type", None)
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        kind = out.get("type")
        if isinstance(kind, list):
            raise self.fail(path, f"a list of types {kind!r} is not supported", "use one type", stack)
        if kind == "object" or "properties" in s or "additionalProperties" in s:
            self.object(out, s, path, stack)
        elif kind == "array" or "items" in s:
            self.array(out, s, path, stack)
        if "type" not in out and not out.get(_INT_OR_STRING):
            if set(out) - {"description", "default", "nullable", _PRESERVE}:
                raise self.fail(
                    path,
                    "a field without a type must be Any (x-kubernetes-preserve-unknown-fields)",
                    "annotate the field with a concrete type, or with Any and no constraints",
                    stack,
                )
            out[_PRESERVE] = True
        self.check_list_keys(out, path, stack)
        return out

    def exclusive(self, out: dict[str, Any], s: Mapping[str, Any], key: str, value: Any) -> None:
        if isinstance(value, bool):  # already the OpenAPI 3.0 form
            out[key] = value
            return
        bound = "minimum" if key == "exclusiveMinimum" else "maximum"
        inclusive = s.get(bound)
        tighter = inclusive is None or (value >= inclusive if bound == "minimum" else value <= inclusive)
        if tighter:
            out[bound] = value
            out[key] = True

    def object(self, out: dict[str, Any], s: Mapping[str, Any], path: str, stack: tuple[str, ...]) -> None:
        out["type"] = "object"
        properties = s.get("properties")
        extra = s.get("additionalProperties")
        if s.get("patternProperties") or s.get("propertyNames"):
            raise self.fail(
                path,
                "constraints on map keys are not supported (keys are strings)",
                "use dict[str, T], and check the keys with a CEL rule if needed, e.g. "
                "crd.Rule(\"self.all(k, k.matches('^[a-z]+$'))\")",
                stack,
            )
        if properties is not None:
            out["properties"] = {
                name: self.node(sub, f"{path}.{name}", stack) for name, sub in properties.items()
            }
            return
        if extra is True or extra == {}:
            out[_PRESERVE] = True
        elif isinstance(extra, Mapping):
            value = self.node(extra, f"{path}[*]", stack)
            if value == {_PRESERVE: True}:
                out[_PRESERVE] = True
            else:
                out["additionalProperties"] = value
        elif not out.get(_PRESERVE) and "x-kubernetes-embedded-resource" not in out:
            # An object with no declared fields at all: keep what is sent rather than prune it all.
            out[_PRESERVE] = True

    def array(self, out: dict[str, Any], s: Mapping[str, Any], path: str, stack: tuple[str, ...]) -> None:
        out["type"] = "array"
        items = s.get("items", {})
        out["items"] = self.node(items if isinstance(items, Mapping) else {}, f"{path}[*]", stack)
        if s.get("uniqueItems"):
            if out["items"].get("type") in ("object", "array"):
                raise self.fail(
                    path,
                    "a set of objects or lists is not supported",
                    "use list[Model] with x_kubernetes_list_type='map' and "
                    "x_kubernetes_list_map_keys=[<the key fields>]",
                    stack,
                )
            out.setdefault("x-kubernetes-list-type", "set")

    def check_list_keys(self, out: Mapping[str, Any], path: str, stack: tuple[str, ...]) -> None:
        list_type = out.get("x-kubernetes-list-type")
        keys = out.get("x-kubernetes-list-map-keys")

        def fail(where: str, problem: str, suggestion: str) -> CRDSchemaError:
            return self.fail(where, problem, suggestion, stack)

        if keys is not None and list_type != "map":
            raise fail(
                path,
                "x-kubernetes-list-map-keys needs x-kubernetes-list-type='map'",
                "add x_kubernetes_list_type='map' to the field",
            )
        if list_type is None:
            return
        if out.get("type") != "array":
            raise fail(
                path,
                "x-kubernetes-list-type is only for lists",
                "remove x_kubernetes_list_type from the field",
            )
        items = out["items"]
        if list_type == "map":
            if not keys:
                raise fail(
                    path,
                    "x-kubernetes-list-type='map' needs x-kubernetes-list-map-keys",
                    "add x_kubernetes_list_map_keys=[<the item fields that identify an item>]",
                )
            if items.get("type") != "object":
                raise fail(
                    path,
                    "x-kubernetes-list-type='map' needs object items",
                    "use a list of models, or x_kubernetes_list_type='set' for scalar items",
                )
            required = set(items.get("required", ()))
            for key in keys:
                prop = items.get("properties", {}).get(key)
                if prop is None:
                    raise fail(
                        path,
                        f"list map key {key!r} is not a field of the items",
                        f"name item fields by their wire names: {sorted(items.get('properties', {}))}",
                    )
                if key not in required and "default" not in prop:
                    raise fail(
                        f"{path}[*].{key}",
                        "a list map key must be required or have a default",
                        "declare the key field without a default (required), or give it a default",
                    )
        elif list_type == "set" and items.get("type") in ("object", "array"):
            raise fail(
                path,
                "x-kubernetes-list-type='set' needs scalar items",
                "use x_kubernetes_list_type='map' with keys, or 'atomic'",
            )
