"""CRD upgrade safety: the check run before an upgrade replaces a CRD that is already on the cluster.

Replacing a CRD can lose stored data (a stored version or a field disappears, unknown fields start
being pruned) or make the server reject objects that already exist (a bound narrows, a field becomes
required). ``crd_upgrade_violations`` compares the CRD on the cluster with the bundle's and names each
such change; ``check_crd_upgrade`` turns them into one ``OLMError``. The installer calls it before it
applies a CRD; nothing here talks to a server.

The rules mirror OLM v1's preflight (operator-controller ``crdupgradesafety``, which runs
sigs.k8s.io/crdify with OLM's settings), and keep crdify's rule names:

- CRD-wide: ``scope`` changed; ``storedVersionRemoval``: a version in ``status.storedVersions`` is
  missing from ``spec.versions``.
- Same version (every version in both CRDs), per schema node, walking ``properties``, ``items``
  (``[*]`` in paths) and ``additionalProperties`` (``.*``): ``existingFieldRemoval``; ``type`` changed;
  ``enum`` added where there was none, or values removed (adding values is allowed, as OLM configures
  it); ``required``: a field became required; ``default`` added, changed or removed; ``maximum``,
  ``maxLength``, ``maxItems``, ``maxProperties`` added or lowered; ``minimum``, ``minLength``,
  ``minItems``, ``minProperties`` added or raised; ``pattern`` added, changed or removed; ``nullable``
  turned on or off.
- Served versions (crdify's served-version validator): unless the proposed CRD converts with a
  webhook, every pair of its served versions, older to newer in Kubernetes version order, is compared
  with the same rules, since without conversion an object is served unchanged at each version. Only
  problems the cluster's CRD does not already have count; ``Violation.version`` is ``"v1 -> v2"``.
- ``unhandled``: any other change to a node's own keywords (``format``, ``x-kubernetes-validations``,
  ``x-kubernetes-list-type``, ``allOf``…), because no rule says it is safe (crdify fails closed too).

Where we differ from upstream, on purpose:

- ``exclusiveMinimum``/``exclusiveMaximum`` turned on and ``x-kubernetes-preserve-unknown-fields``
  turned off are rules of their own; upstream reports any change to them, loosening ones too, as
  unhandled.
- Documentation (``description``, ``title``, ``example``, ``externalDocs``) is ignored; OLM ignores
  only ``description`` and reports the rest as unhandled.
- Dropping an ``enum`` constraint altogether is allowed (it only adds values); crdify reports it as
  values removed.
- Under a removed field only the topmost one is reported, not each field below it.
- ``allOf``/``anyOf``/``oneOf``/``not`` are compared whole (unhandled) rather than walked.

Like upstream, removing a served version that is not stored is not checked (no object is lost), nor
are changes of storage version, names or conversion settings.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from kubeloop.olm._model import OLMError

__all__ = ["Violation", "check_crd_upgrade", "crd_upgrade_violations"]

Obj = dict[str, Any]


@dataclass(frozen=True)
class Violation:
    """One unsafe change: the CRD, the version (``None`` when CRD-wide), the field and the rule broken.

    ``path`` is ``.spec.items[*].port`` style (``.`` is the schema root, ``""`` CRD-wide).
    """

    crd: str
    version: str | None
    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.crd} {_located(self)}" if _where(self) else f"{self.crd}: {self.message}"


def crd_upgrade_violations(current: Obj, proposed: Obj) -> list[Violation]:
    """Every unsafe change in replacing ``current`` (as read from the cluster) by ``proposed``.

    Empty when the upgrade is safe. CRD-wide violations come first, then same-version ones in the
    order of ``current``'s versions and schemas, then served-version pairs.
    """
    name = proposed.get("metadata", {}).get("name") or current.get("metadata", {}).get("name", "")
    found = [
        *_crd_wide(current, proposed),
        *_same_versions(current, proposed),
        *_served_pairs(current, proposed),
    ]
    return [Violation(name, version, path, rule, message) for version, path, rule, message in found]


def check_crd_upgrade(current: Obj, proposed: Obj) -> None:
    """Raise ``OLMError`` listing every violation (one line, ``; ``-separated) if the upgrade is unsafe."""
    violations = crd_upgrade_violations(current, proposed)
    if violations:
        listed = "; ".join(_located(v) for v in violations)
        raise OLMError(f"CRD upgrade of {violations[0].crd} is unsafe: {listed}")


def _where(v: Violation) -> str:
    return " ".join(part for part in (v.version, v.path) if part)


def _located(v: Violation) -> str:
    return f"{_where(v)}: {v.message}" if _where(v) else v.message


Found = tuple[str | None, str, str, str]  # version, path, rule, message


def _crd_wide(current: Obj, proposed: Obj) -> Iterator[Found]:
    before, after = current.get("spec", {}).get("scope"), proposed.get("spec", {}).get("scope")
    if before != after:
        yield None, "", "scope", f"scope changed from {before} to {after}"
    kept = {v["name"] for v in _versions(proposed)}
    for stored in (current.get("status") or {}).get("storedVersions") or []:
        if stored not in kept:
            yield stored, "", "storedVersionRemoval", "stored version removed from spec.versions"


def _same_versions(current: Obj, proposed: Obj) -> Iterator[Found]:
    proposed_schemas = {v["name"]: _schema(v) for v in _versions(proposed)}
    for version in _versions(current):
        if version["name"] in proposed_schemas:
            changes = _compare(_schema(version), proposed_schemas[version["name"]], ".")
            for path, rule, message in changes:
                yield version["name"], path, rule, message


def _served_pairs(current: Obj, proposed: Obj) -> Iterator[Found]:
    if (proposed.get("spec", {}).get("conversion") or {}).get("strategy") == "Webhook":
        return
    known = set(_served_pair_changes(current))
    yield from (found for found in _served_pair_changes(proposed) if found not in known)


def _served_pair_changes(crd: Obj) -> Iterator[Found]:
    served = sorted((v for v in _versions(crd) if v.get("served")), key=_version_order)
    for older, newer in combinations(served, 2):
        label = f"{older['name']} -> {newer['name']}"
        for path, rule, message in _compare(_schema(older), _schema(newer), "."):
            yield label, path, rule, message


def _versions(crd: Obj) -> list[Obj]:
    versions: list[Obj] = crd.get("spec", {}).get("versions", [])
    return versions


def _schema(version: Obj) -> Obj:
    schema: Obj = (version.get("schema") or {}).get("openAPIV3Schema") or {}
    return schema


_KUBE_VERSION = re.compile(r"v(\d+)(?:(alpha|beta)(\d+))?")
_STABILITY = {"alpha": 0, "beta": 1, None: 2}


def _compare_versions(a: str, b: str) -> int:
    """Kubernetes version order (apimachinery's CompareKubeAwareVersionStrings, ascending).

    Non-Kubernetes names sort first (reverse alphabetical), then alpha < beta < GA, then major, minor.
    """
    ma, mb = _KUBE_VERSION.fullmatch(a), _KUBE_VERSION.fullmatch(b)
    if ma is None or mb is None:
        return (mb is None) - (ma is None) or (a < b) - (a > b)
    ka = (_STABILITY[ma[2]], int(ma[1]), int(ma[3] or 0))
    kb = (_STABILITY[mb[2]], int(mb[1]), int(mb[3] or 0))
    return (ka > kb) - (ka < kb)


def _compare_version_entries(a: Obj, b: Obj) -> int:
    return _compare_versions(a["name"], b["name"])


_version_order = functools.cmp_to_key(_compare_version_entries)


# Schema nodes.

Change = tuple[str, str, str]  # path, rule, message

_DOCUMENTATION = frozenset({"description", "title", "example", "externalDocs"})
_CHILDREN = frozenset({"properties", "items", "additionalProperties"})
_SIMPLE_NAME = re.compile(r"[A-Za-z0-9_$-]+")


def _compare(old: Obj, new: Obj, path: str) -> Iterator[Change]:
    """The changes from schema node ``old`` to ``new`` at ``path``, and below it."""
    for rule, check in _RULES.items():
        message = check(old, new)
        if message:
            yield path, rule, message
    for name in _newly_required(old, new):
        yield _child_path(path, _property(name)), "required", "field became required"
    yield from _unhandled(old, new, path)
    new_children = _children(new)
    for suffix, old_child in _children(old).items():
        child_path = _child_path(path, suffix)
        if suffix in new_children:
            yield from _compare(old_child, new_children[suffix], child_path)
        else:
            yield child_path, "existingFieldRemoval", "field removed"


def _children(node: Obj) -> dict[str, Obj]:
    """A node's child schemas by path suffix: ``.name`` for properties, ``[*]`` items, ``.*`` map values."""
    children = {_property(name): child for name, child in node.get("properties", {}).items()}
    if isinstance(node.get("items"), dict):
        children["[*]"] = node["items"]
    if isinstance(node.get("additionalProperties"), dict):
        children[".*"] = node["additionalProperties"]
    return children


def _property(name: str) -> str:
    return f".{name}" if _SIMPLE_NAME.fullmatch(name) else f"[{json.dumps(name)}]"


def _child_path(path: str, suffix: str) -> str:
    return suffix if path == "." else path + suffix


def _newly_required(old: Obj, new: Obj) -> list[str]:
    before = set(old.get("required", []))
    return [name for name in new.get("required", []) if name not in before]


def _unhandled(old: Obj, new: Obj, path: str) -> Iterator[Change]:
    before, after = _own_keywords(old), _own_keywords(new)
    for keyword in sorted(before.keys() | after.keys()):
        if _canonical(before.get(keyword)) != _canonical(after.get(keyword)):
            message = f"{keyword} changed from {_show(before.get(keyword))} to {_show(after.get(keyword))}"
            yield path, "unhandled", message


def _own_keywords(node: Obj) -> Obj:
    """The keywords no rule handles, set to something (Go's omitempty drops false, "" and empty)."""
    return {
        keyword: value
        for keyword, value in node.items()
        if keyword not in _HANDLED
        and keyword not in _DOCUMENTATION
        and not (keyword in _CHILDREN and isinstance(value, dict))
        and not _unset(value)
    }


def _unset(value: Any) -> bool:
    return value is None or value is False or value in ("", [], {})


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _show(value: Any) -> str:
    return "unset" if _unset(value) else _canonical(value)


# Rules on one node: each returns what broke, or None.

Rule = Callable[[Obj, Obj], str | None]


def _type(old: Obj, new: Obj) -> str | None:
    before, after = old.get("type") or "unset", new.get("type") or "unset"
    return f"type changed from {before} to {after}" if before != after else None


def _enum(old: Obj, new: Obj) -> str | None:
    before, after = old.get("enum") or [], new.get("enum") or []
    if not before:
        return f"enum added: {_show(after)}" if after else None
    allowed = {_canonical(value) for value in after}
    removed = [value for value in before if _canonical(value) not in allowed]
    return f"enum values removed: {_show(removed)}" if after and removed else None


def _default(old: Obj, new: Obj) -> str | None:
    before, after = old.get("default"), new.get("default")
    if before is None:
        return f"default added: {_show(after)}" if after is not None else None
    if after is None:
        return f"default removed (was {_show(before)})"
    return (
        f"default changed from {_show(before)} to {_show(after)}"
        if _canonical(before) != _canonical(after)
        else None
    )


def _bound(keyword: str, *, upper: bool) -> Rule:
    """A limit may not be added, nor moved inward (an upper one lowered, a lower one raised)."""

    def check(old: Obj, new: Obj) -> str | None:
        before, after = old.get(keyword), new.get(keyword)
        if after is None:
            return None
        if before is None:
            return f"{keyword} added: {_show(after)}"
        narrowed = after < before if upper else after > before
        moved = "lowered" if upper else "raised"
        return f"{keyword} {moved} from {_show(before)} to {_show(after)}" if narrowed else None

    return check


def _turned_on(keyword: str) -> Rule:
    def check(old: Obj, new: Obj) -> str | None:
        return f"{keyword} turned on" if new.get(keyword) and not old.get(keyword) else None

    return check


def _pattern(old: Obj, new: Obj) -> str | None:
    before, after = old.get("pattern") or "", new.get("pattern") or ""
    if before == after:
        return None
    if not before:
        return f"pattern added: {_show(after)}"
    if not after:
        return f"pattern removed (was {_show(before)})"
    return f"pattern changed from {_show(before)} to {_show(after)}"


def _nullable(old: Obj, new: Obj) -> str | None:
    before, after = bool(old.get("nullable")), bool(new.get("nullable"))
    return None if before == after else f"nullable turned {'on' if after else 'off'}"


def _preserve_unknown_fields(old: Obj, new: Obj) -> str | None:
    keyword = "x-kubernetes-preserve-unknown-fields"
    return f"{keyword} turned off" if old.get(keyword) and not new.get(keyword) else None


_RULES: dict[str, Rule] = {
    "type": _type,
    "enum": _enum,
    "default": _default,
    **{
        keyword: _bound(keyword, upper=True)
        for keyword in ("maximum", "maxLength", "maxItems", "maxProperties")
    },
    **{
        keyword: _bound(keyword, upper=False)
        for keyword in ("minimum", "minLength", "minItems", "minProperties")
    },
    **{keyword: _turned_on(keyword) for keyword in ("exclusiveMaximum", "exclusiveMinimum")},
    "pattern": _pattern,
    "nullable": _nullable,
    "x-kubernetes-preserve-unknown-fields": _preserve_unknown_fields,
}
_HANDLED = frozenset({*_RULES, "required"})
