"""CEL types of CRD schemas, as kube-apiserver declares them for ``x-kubernetes-validations`` rules
(``apiserver/pkg/cel/common.SchemaDeclType``): an object's properties become fields (names escaped,
unescapable ones left out), ``additionalProperties`` a map, ``items`` a list, int-or-string ``dyn``;
with the worst-case sizes the cost estimator uses (``maxItems``/``maxLength``/``maxProperties`` when
declared, else what fits in a 3 MiB request) and each type's smallest serialized size.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BOOL", "DYN", "INT", "MAX_REQUEST_BYTES", "UNKNOWN", "Decl", "Type", "escape", "schema_decl"]

MAX_REQUEST_BYTES = 3 * 1024 * 1024


@dataclass(frozen=True)
class Type:
    """A CEL type: ``kind`` (int, uint, double, bool, string, bytes, null, list, map, object, dyn,
    duration, timestamp, type, error, param, unknown), its ``params`` and an object's ``name``.

    ``unknown`` is what this checker cannot tell (an undeclared library function's result): it takes
    anything, like ``dyn``, and no error is ever reported about it."""

    kind: str
    params: tuple[Type, ...] = ()
    name: str = ""

    def __str__(self) -> str:
        if self.kind == "object":
            return self.name
        if self.kind == "param":
            return self.name
        if self.kind == "error":
            return "!error!"
        if self.kind == "list":
            return f"list({self.params[0]})"
        if self.kind == "map":
            return f"map({self.params[0]}, {self.params[1]})"
        if self.kind == "type" and self.params:
            return f"type({self.params[0]})"
        if self.kind == "optional":
            return f"optional_type({self.params[0]})"
        return self.kind

    @property
    def loose(self) -> bool:
        """Takes any type (dyn, error, unknown)."""
        return self.kind in ("dyn", "error", "unknown")


INT, UINT, DOUBLE, BOOL = Type("int"), Type("uint"), Type("double"), Type("bool")
STRING, BYTES, NULL, DYN = Type("string"), Type("bytes"), Type("null"), Type("dyn")
DURATION, TIMESTAMP, ERROR, UNKNOWN = Type("duration"), Type("timestamp"), Type("error"), Type("unknown")


def list_of(elem: Type) -> Type:
    return Type("list", (elem,))


def map_of(key: Type, value: Type) -> Type:
    return Type("map", (key, value))


@dataclass(eq=False)
class Decl:
    """A schema node's CEL type with what the cost estimator needs: ``max_elements`` (the largest
    length of a string, list or map there, 0 for scalars and objects) and ``min_size`` (its smallest
    JSON serialization); ``fields`` of an object, ``elem`` of a list or map."""

    type: Type
    max_elements: int = 0
    min_size: int = 1
    fields: dict[str, Decl] = field(default_factory=dict)
    elem: Decl | None = None


_RESERVED = frozenset(
    (
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    )
)
_IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*\Z")


def escape(name: str) -> str | None:
    """A property's name as CEL rules see it (``apiserver/pkg/cel.Escape``); None when it has none."""
    if name in _RESERVED:
        return f"__{name}__"
    out = name.replace("__", "__underscores__").replace(".", "__dot__").replace("-", "__dash__")
    out = out.replace("/", "__slash__")
    return out if _IDENT.match(out) else None


_names = itertools.count(1)


def schema_decl(schema: dict[str, Any], root: bool) -> Decl | None:
    """The CEL type of ``schema`` (``root``: a resource's root, given apiVersion, kind and metadata);
    None where the real server has none (an array without items, an unknown type)."""
    return _decl(schema, root, f"selfType{next(_names)}")


def _decl(s: dict[str, Any], root: bool, name: str) -> Decl | None:
    if s.get("x-kubernetes-int-or-string"):
        most = _string_bound(s) if s.get("maxLength") is not None else MAX_REQUEST_BYTES - 2
        return Decl(DYN, most, 1)
    if root:
        s = _with_type_and_meta(s)
    kind = s.get("type")
    if kind == "array":
        items = s.get("items")
        if not isinstance(items, dict):
            return None
        elem = _decl(items, bool(items.get("x-kubernetes-embedded-resource")), f"{name}.@idx")
        if elem is None:
            return None
        most = _count(s.get("maxItems"), (MAX_REQUEST_BYTES - 2) // (elem.min_size + 1))
        return Decl(list_of(elem.type), most, 2, elem=elem)
    if kind == "object":
        extra = s.get("additionalProperties")
        if isinstance(extra, dict):
            values = _decl(extra, bool(extra.get("x-kubernetes-embedded-resource")), f"{name}.@elem")
            if values is None:
                return None
            most = _count(s.get("maxProperties"), (MAX_REQUEST_BYTES - 2) // (values.min_size + 6))
            return Decl(map_of(STRING, values.type), most, 2, elem=values)
        fields: dict[str, Decl] = {}
        required = set(s.get("required") or ())
        min_size = 2
        for prop, sub in (s.get("properties") or {}).items():
            escaped = escape(prop)
            decl = _decl(sub, bool(sub.get("x-kubernetes-embedded-resource")), f"{name}.{escaped or prop}")
            if decl is None:
                continue
            if escaped is not None:
                fields[escaped] = decl
            if prop in required and "default" not in sub:
                min_size += len(prop) + decl.min_size + 4
        return Decl(Type("object", name=name), 0, min_size, fields=fields)
    if kind == "string":
        fmt = s.get("format")
        if fmt == "byte":
            return Decl(BYTES, _count(s.get("maxLength"), MAX_REQUEST_BYTES - 2), 2)
        if fmt in _FORMATS:
            return Decl(*_FORMATS[fmt])
        if s.get("maxLength") is not None:
            most = _string_bound(s)
        elif s.get("enum"):
            most = max((len(v) for v in s["enum"] if isinstance(v, str)), default=0)
        else:
            most = MAX_REQUEST_BYTES - 2
        return Decl(STRING, most, 2)
    if kind in _SCALARS:
        return Decl(*_SCALARS[kind])
    return None


# (type, largest length, smallest JSON size) of formatted strings (RFC 3339, quoted) and scalars.
_FORMATS = {"duration": (DURATION, 32, 3), "date": (TIMESTAMP, 12, 12), "date-time": (TIMESTAMP, 32, 21)}
_SCALARS = {"boolean": (BOOL, 0, 4), "number": (DOUBLE, 0, 1), "integer": (INT, 0, 1)}


def _count(declared: Any, otherwise: int) -> int:
    return max(int(declared), 0) if declared is not None else otherwise


def _string_bound(s: dict[str, Any]) -> int:
    return max(int(s["maxLength"]), 0) * 4  # runes of up to 4 bytes each


def _with_type_and_meta(s: dict[str, Any]) -> dict[str, Any]:
    """apiVersion, kind and metadata (name and generateName, at most 253 and 252 long) at a root, as the
    CRD's rules see them (``model.WithTypeAndObjectMeta``)."""
    props = dict(s.get("properties") or {})
    meta = (props.get("metadata") or {}).get("properties") or {}

    def capped(existing: Any, most: int) -> dict[str, Any]:
        declared = (existing or {}).get("maxLength")
        return {"type": "string", "maxLength": min(most, declared) if declared is not None else most}

    props["kind"] = {"type": "string"}
    props["apiVersion"] = {"type": "string"}
    props["metadata"] = {
        "type": "object",
        "properties": {
            "name": capped(meta.get("name"), 253),
            "generateName": capped(meta.get("generateName"), 252),
        },
    }
    return {**s, "properties": props}
