"""RBAC from what an operator declares: exactly the verbs its reconcilers, watches, status writes,
finalizers, Events and leader election need (controller-gen's ``+kubebuilder:rbac`` markers, derived).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubeloop.crd import plural_of
from kubeloop.operator import KindSpec, Operator

__all__ = ["PRIMARY_VERBS", "Rule", "cluster_role", "leader_election_role", "operator_rules"]

Rule = dict[str, Any]

READ = ("get", "list", "watch")
PRIMARY_VERBS = (*READ, "update", "patch")
OWNED_VERBS = (*READ, "create", "update", "patch", "delete")


def _plural(spec: KindSpec) -> str:
    return spec.plural or plural_of(spec.kind)


def operator_rules(operator: Operator) -> list[Rule]:
    """The ClusterRole rules ``operator`` needs, merged per API group and verb set, sorted."""
    grants: dict[tuple[str, str], set[str]] = defaultdict(set)

    def grant(group: str, resources: Iterable[str], verbs: Iterable[str]) -> None:
        for resource in resources:
            grants[(group, resource)].update(verbs)

    for primary, owns, watches in operator.kinds:
        plural = _plural(primary)
        grant(primary.group, [plural], PRIMARY_VERBS)
        grant(primary.group, [f"{plural}/status"], ("get", "update", "patch"))
        grant(primary.group, [f"{plural}/finalizers"], ("update",))
        for child in owns:
            grant(child.group, [_plural(child)], OWNED_VERBS)
        for watched in watches:
            grant(watched.group, [_plural(watched)], READ)
    grant("", ["events"], ("create", "patch"))
    grant("events.k8s.io", ["events"], ("create", "patch"))
    for rule in operator.rbac_rules:
        for group in rule.get("apiGroups", [""]):
            grant(group, rule.get("resources", []), rule.get("verbs", []))
    return _merge(grants)


def _merge(grants: Mapping[tuple[str, str], set[str]]) -> list[Rule]:
    by_verbs: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for (group, resource), verbs in grants.items():
        by_verbs[(group, tuple(sorted(verbs)))].append(resource)
    return [
        {"apiGroups": [group], "resources": sorted(resources), "verbs": list(verbs)}
        for (group, verbs), resources in sorted(by_verbs.items())
    ]


def cluster_role(name: str, rules: Sequence[Rule]) -> dict[str, Any]:
    """A ClusterRole document."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": list(rules),
    }


def leader_election_role(name: str) -> dict[str, Any]:
    """The namespaced Role leader election needs (Leases, and Events about them)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name},
        "rules": [
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
            },
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        ],
    }
