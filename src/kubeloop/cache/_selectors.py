"""Label selectors, parsed from the API's string form and matched against cached objects.

The cache answers ``list(label_selector=...)`` locally, so it needs the same grammar the API
server accepts: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``,
comma-separated and all required.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubeloop.errors import KubeloopError

__all__ = ["LabelSelector", "SelectorError", "selector_from_dict"]


class SelectorError(KubeloopError):
    """A label selector string that does not parse."""


@dataclass(frozen=True, slots=True)
class _Requirement:
    key: str
    op: str  # "in", "notin", "exists", "!exists"
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values


_SET = re.compile(r"^\s*(?P<key>[^\s!=,()]+)\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)\s*$")
_EQ = re.compile(r"^\s*(?P<key>[^\s!=,()]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=,()]*)\s*$")
_EXISTS = re.compile(r"^\s*(?P<neg>!?)\s*(?P<key>[^\s!=,()]+)\s*$")


def _split(text: str) -> list[str]:
    """Split at commas that are not inside parentheses."""
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
    return [p for p in parts if p.strip()]


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed selector; the empty selector matches everything."""

    requirements: tuple[_Requirement, ...] = ()
    text: str = ""

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse the API's string form; raise SelectorError naming the bad part."""
        if not text:
            return cls()
        reqs = []
        for part in _split(text):
            if m := _SET.match(part):
                values = frozenset(v.strip() for v in m["values"].split(",") if v.strip())
                reqs.append(_Requirement(m["key"], m["op"], values))
            elif m := _EQ.match(part):
                op = "notin" if m["op"] == "!=" else "in"
                reqs.append(_Requirement(m["key"], op, frozenset([m["value"]])))
            elif m := _EXISTS.match(part):
                reqs.append(_Requirement(m["key"], "!exists" if m["neg"] else "exists", frozenset()))
            else:
                raise SelectorError(f"invalid label selector {text!r}: cannot parse {part.strip()!r}")
        return cls(tuple(reqs), text)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj``'s ``metadata.labels`` satisfy every requirement."""
        if not self.requirements:
            return True
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in self.requirements)


def selector_from_dict(selector: Mapping[str, Any]) -> LabelSelector:
    """A ``LabelSelector`` from the API's structured form (``matchLabels``/``matchExpressions``)."""
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or ():
        op, key, values = expr["operator"], expr["key"], expr.get("values") or []
        if op in ("In", "NotIn"):
            parts.append(f"{key} {op.lower()} ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise SelectorError(f"unknown selector operator {op!r}")
    return LabelSelector.parse(",".join(parts))
