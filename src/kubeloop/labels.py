"""Label selectors: the one grammar of the API's string form, shared by the cache and the embedded server.

Role: the bottom layer (imports only ``kubeloop.errors``), as apimachinery's ``labels`` package is for
client-go and kube-apiserver: the cache answers ``list(label_selector=...)`` from memory and the
embedded API server filters lists and watches, and both must agree with the real server.

Grammar: comma-separated requirements, all of which must hold: ``k=v``, ``k==v``, ``k!=v``,
``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists), ``!k`` (does not exist). Keys are qualified names
(``[prefix/]name``), values are label values (possibly empty). ``!=`` and ``notin`` match objects
without the label. The structured form (``matchLabels``/``matchExpressions``) converts to the same
requirements (``selector_from_dict``) and formats as ``metav1.FormatLabelSelector`` does
(``format_selector``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kubeloop.errors import KubeloopError

__all__ = ["LabelSelector", "Requirement", "SelectorError", "format_selector", "selector_from_dict"]

Op = Literal["in", "notin", "exists", "!exists"]

_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!?)\s*(?P<key>[A-Za-z0-9_./-]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[A-Za-z0-9_.-]*)|\s+(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?\s*$"
)
_EXPRESSION_OPS = {"In": "in", "NotIn": "notin"}


class SelectorError(KubeloopError):
    """A label selector that does not parse; ``str()`` says which requirement, as the API server does."""


@dataclass(frozen=True, slots=True)
class Requirement:
    """One requirement: ``key`` ``op`` ``values`` (``values`` is empty for the existence checks)."""

    key: str
    op: Op
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values


def _split(text: str) -> list[str]:
    """Split at commas that are not inside parentheses; a blank part is a ``SelectorError`` worded as the
    real parser's (a requirement must follow each comma)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for i, part in enumerate(parts):
        if not part.strip():
            if i == 0:
                raise SelectorError("found ',', expected: !, identifier, or 'end of string'")
            found = "," if i < len(parts) - 1 else ""
            raise SelectorError(f"found '{found}', expected: identifier after ','")
    return parts


def _requirement(term: str) -> Requirement:
    m = _REQUIREMENT.match(term)
    if m is None:
        raise SelectorError(f"unable to parse requirement: found '{term.strip()}', expected: identifier")
    if m["neg"]:
        if m["op"] or m["set"]:
            raise SelectorError(f"unable to parse requirement: {term.strip()}")
        return Requirement(m["key"], "!exists")
    if m["set"]:
        values = frozenset(v.strip() for v in m["values"].split(",") if v.strip())
        return Requirement(m["key"], "in" if m["set"] == "in" else "notin", values)
    if m["op"]:
        return Requirement(m["key"], "notin" if m["op"] == "!=" else "in", frozenset([m["value"]]))
    return Requirement(m["key"], "exists")


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed selector; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()
    text: str = ""

    @staticmethod
    def parse(text: str | None) -> LabelSelector:
        """Parse the API's string form; ``SelectorError`` naming the requirement that does not parse."""
        if not text or not text.strip():
            return LabelSelector()
        return LabelSelector(tuple(_requirement(term) for term in _split(text)), text)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj``'s ``metadata.labels`` satisfy every requirement."""
        if not self.requirements:
            return True
        return self.matches_labels((obj.get("metadata") or {}).get("labels") or {})

    def matches_labels(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy every requirement."""
        return all(r.matches(labels) for r in self.requirements)


def format_selector(selector: Mapping[str, Any] | None) -> str:
    """The string form of a structured selector (``metav1.FormatLabelSelector``): requirements sorted
    by key, ``In``/``NotIn`` values sorted; ``""`` for an empty selector."""
    selector = selector or {}
    terms = [(str(k), f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or ():
        key, op = str(expr.get("key", "")), expr.get("operator", "")
        if op in _EXPRESSION_OPS:
            values = ",".join(sorted(expr.get("values") or ()))
            terms.append((key, f"{key} {_EXPRESSION_OPS[op]} ({values})"))
        elif op == "Exists":
            terms.append((key, key))
        elif op == "DoesNotExist":
            terms.append((key, f"!{key}"))
        else:
            raise SelectorError(f"unknown selector operator {op!r}")
    return ",".join(text for _, text in sorted(terms, key=lambda t: t[0]))


def selector_from_dict(selector: Mapping[str, Any]) -> LabelSelector:
    """A ``LabelSelector`` from the API's structured form (``matchLabels``/``matchExpressions``)."""
    return LabelSelector.parse(format_selector(selector))
