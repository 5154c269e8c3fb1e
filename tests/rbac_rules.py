"""RBAC rules one permission at a time, for the tests proving a generated role minimal."""

from __future__ import annotations

from typing import Any

Rule = dict[str, Any]
Permission = tuple[str, str, str]  # (API group, resource, verb)


def permissions(rules: list[Rule]) -> list[Permission]:
    return [
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    ]


def without(rules: list[Rule], removed: Permission) -> list[Rule]:
    """``rules`` with one verb on one resource taken away (other resources of the rule keep it)."""
    group, resource, verb = removed
    out = []
    for rule in rules:
        if group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]:
            others = [r for r in rule["resources"] if r != resource]
            if others:
                out.append({**rule, "resources": others})
            verbs = [v for v in rule["verbs"] if v != verb]
            if verbs:
                out.append({**rule, "resources": [resource], "verbs": verbs})
        else:
            out.append(rule)
    return out
