"""Walks an object's schema to learn how its lists merge: the keys strategic merge patch and
server-side apply need (``x-kubernetes-patch-merge-key``, ``x-kubernetes-list-type``,
``x-kubernetes-list-map-keys``).

Built-in kinds use the real server's OpenAPI v2 definitions (``bundled``); custom resources their
CRD's ``openAPIV3Schema``. A node with no schema behind it answers "atomic / no keys", which is what the
real server does for unknown fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeloop.apiserver.registry import bundled
from kubeloop.apiserver.registry.types import ResourceType

__all__ = ["Node", "for_builtin", "for_resource", "for_schema"]


@dataclass(frozen=True)
class Node:
    """A position in a schema; ``schema`` is None where nothing is known."""

    schema: dict[str, Any] | None
    definitions: dict[str, Any] | None = None

    def _resolved(self) -> dict[str, Any] | None:
        s = self.schema
        seen = 0
        while s is not None and "$ref" in s and self.definitions is not None and seen < 20:
            s = self.definitions.get(s["$ref"].rsplit("/", 1)[-1])
            seen += 1
        if s is not None and "allOf" in s and len(s["allOf"]) == 1 and "$ref" in s["allOf"][0]:
            return Node(s["allOf"][0], self.definitions)._resolved()
        return s

    def field(self, name: str) -> Node:
        """The schema of property ``name`` of an object (or of the map's values)."""
        s = self._resolved()
        if s is None:
            return Node(None)
        props = s.get("properties") or {}
        if name in props:
            return Node(props[name], self.definitions)
        extra = s.get("additionalProperties")
        if isinstance(extra, dict):
            return Node(extra, self.definitions)
        return Node(None)

    def closed(self) -> bool:
        """Whether the schema lists every allowed property (unknown ones are errors under Strict)."""
        s = self._resolved()
        if s is None or s.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in s:
            return False
        return "properties" in s

    def has(self, name: str) -> bool:
        s = self._resolved() or {}
        return name in (s.get("properties") or {})

    def items(self) -> Node:
        """The schema of a list's items."""
        s = self._resolved()
        if s is None or not isinstance(s.get("items"), dict):
            return Node(None)
        return Node(s["items"], self.definitions)

    @property
    def patch_merge_keys(self) -> tuple[str, ...]:
        """The keys a strategic merge patch matches items by: the Go type's ``patchMergeKey`` when it
        has one (a Service's ports merge by ``port`` alone, though port and protocol identify them for
        server-side apply), else the list's map keys."""
        s = self.schema or {}
        r = self._resolved() or {}
        for src in (s, r):
            if "merge" in str(src.get("x-kubernetes-patch-strategy", "")) and src.get(
                "x-kubernetes-patch-merge-key"
            ):
                return (src["x-kubernetes-patch-merge-key"],)
        return self.list_keys

    @property
    def list_keys(self) -> tuple[str, ...]:
        """The keys identifying items of an associative list (empty: the list is atomic or a set)."""
        s = self.schema or {}
        r = self._resolved() or {}
        for src in (s, r):
            if src.get("x-kubernetes-list-type") == "map" and src.get("x-kubernetes-list-map-keys"):
                return tuple(src["x-kubernetes-list-map-keys"])
            if "merge" in str(src.get("x-kubernetes-patch-strategy", "")) and src.get(
                "x-kubernetes-patch-merge-key"
            ):
                return (src["x-kubernetes-patch-merge-key"],)
        return ()

    def key_default(self, key: str) -> Any:
        """The default of property ``key`` of this (list item) schema, or None: how the real server
        fills a map key an applied item leaves out (``protocol`` of ports is ``TCP``)."""
        s = self._resolved() or {}
        prop = (s.get("properties") or {}).get(key) or {}
        if "default" in prop:
            return prop["default"]
        ref = (self.schema or {}).get("$ref") or (((self.schema or {}).get("allOf") or [{}])[0]).get("$ref")
        return bundled.v3_default(ref.rsplit("/", 1)[-1], key) if ref else None

    @property
    def is_set(self) -> bool:
        """A list of scalars merged as a set (``listType: set`` or patch strategy merge on scalars)."""
        s = self.schema or {}
        if s.get("x-kubernetes-list-type") == "set":
            return True
        return "merge" in str(s.get("x-kubernetes-patch-strategy", "")) and not self.list_keys

    @property
    def is_map(self) -> bool:
        """A map (``additionalProperties``, a Go map) rather than a struct of named fields."""
        s = self._resolved() or {}
        return isinstance(s.get("additionalProperties"), dict) and not s.get("properties")

    @property
    def atomic_map(self) -> bool:
        """A map or struct replaced and owned as a whole (``x-kubernetes-map-type: atomic``: label
        selectors, a Service's selector, owner references)."""
        return any(
            (src or {}).get("x-kubernetes-map-type") == "atomic" for src in (self.schema, self._resolved())
        )

    @property
    def retains_keys(self) -> bool:
        return "retainKeys" in str((self.schema or {}).get("x-kubernetes-patch-strategy", ""))


def for_builtin(group: str, version: str, kind: str) -> Node:
    """The schema of a built-in kind, from the real server's OpenAPI v2 document."""
    name = bundled.definition_for(group, version, kind)
    defs = bundled.v2_definitions()
    if name is None:
        return Node(None)
    return Node(defs[name], defs)


def for_schema(schema: dict[str, Any] | None) -> Node:
    """The schema of a custom resource (its CRD version's ``openAPIV3Schema``); metadata is ObjectMeta."""
    root = dict(schema or {})
    root["properties"] = dict(
        root.get("properties") or {},
        metadata={"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
    )
    return Node(root, bundled.v2_definitions())


def unknown_fields(value: Any, node: Node, path: str = "", root: bool = True) -> list[str]:
    """Paths of fields ``node`` does not declare (what ``fieldValidation=Strict`` rejects)."""
    out: list[str] = []
    if isinstance(value, dict):
        closed = node.closed()
        for key, child in value.items():
            if root and key in ("apiVersion", "kind"):
                continue
            sub = f"{path}.{key}" if path else key
            if closed and not node.has(key):
                out.append(sub)
            else:
                out += unknown_fields(child, node.field(key), sub, False)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            out += unknown_fields(item, node.items(), f"{path}[{n}]", False)
    return out


def for_resource(rt: ResourceType) -> Node:
    """The schema of ``rt``: its CRD version's, or the built-in kind's."""
    if rt.crd is not None:
        return for_schema((rt.crd.get("schema") or {}).get("openAPIV3Schema"))
    return for_builtin(rt.group, rt.version, rt.kind)
