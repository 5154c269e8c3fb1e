"""The default RBAC policy: the bootstrap ClusterRoles and ClusterRoleBindings of the real server
(``data/rbac.json``, from ``hack/dump-rbac.py``), and ClusterRole aggregation.

Users rely on them: ``cluster-admin`` bound to ``system:masters`` (the admin kubeconfig's group),
``admin``/``edit``/``view`` (aggregated from the ``aggregate-to-*`` roles, and from any role a user
labels so), ``system:discovery``, ``system:basic-user`` (may ask what it may do) and
``system:public-info-viewer`` for every authenticated user, the last also for anonymous ones.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import resources
from typing import Any

import orjson

from kubeloop.apiserver.auth.rbac import Rule
from kubeloop.labels import selector_from_dict

__all__ = ["aggregated_rules", "bootstrap_policy", "same_rules"]

Obj = dict[str, Any]


@functools.cache
def _policy() -> dict[str, list[Obj]]:
    raw = resources.files("kubeloop.apiserver").joinpath("data/rbac.json").read_bytes()
    policy: dict[str, list[Obj]] = orjson.loads(raw)
    return policy


def bootstrap_policy() -> tuple[list[Obj], list[Obj]]:
    """(ClusterRoles, ClusterRoleBindings) of the default policy: fresh copies, ready to store."""
    policy = orjson.loads(orjson.dumps(_policy()))
    return policy["clusterRoles"], policy["clusterRoleBindings"]


def _normal(rule: Rule) -> Rule:
    """A rule without its empty lists (the real server's semantic equality treats them as absent)."""
    return {k: v for k, v in rule.items() if v}


def aggregated_rules(role: Obj, roles: Iterable[Obj]) -> list[Rule] | None:
    """The rules of an aggregated ClusterRole: those of every other ClusterRole its
    ``aggregationRule`` selects, by name, each rule once (kube-controller-manager's order).
    None when ``role`` is not aggregated."""
    selectors = ((role.get("aggregationRule") or {}).get("clusterRoleSelectors")) or ()
    if not role.get("aggregationRule"):
        return None
    matchers = [selector_from_dict(s) for s in selectors]
    name = role["metadata"]["name"]
    rules: list[Rule] = []
    seen: list[Rule] = []
    for other in sorted(roles, key=lambda r: str(r["metadata"]["name"])):
        labels = other["metadata"].get("labels") or {}
        if other["metadata"]["name"] == name or not any(m.matches_labels(labels) for m in matchers):
            continue
        for rule in other.get("rules") or ():
            if _normal(rule) not in seen:
                seen.append(_normal(rule))
                rules.append(rule)
    return rules


def same_rules(a: list[Rule] | None, b: list[Rule] | None) -> bool:
    return [_normal(r) for r in a or ()] == [_normal(r) for r in b or ()]
