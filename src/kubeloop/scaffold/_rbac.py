"""RBAC from what an operator declares: exactly the requests the runtime makes for its reconcilers,
watches, status writes, finalizers, Events and leader election (controller-gen's
``+kubebuilder:rbac`` markers, derived instead of written).

What the runtime sends, and so what each rule is for (``tests/e2e/test_rbac_minimal.py`` shows each
rule of the AppService operator's role is needed):

- every declared kind (primary, owned, watched) is read through a shared informer: ``list`` and
  ``watch``, cluster-wide. ``Context.get``/``list`` read that cache, never the API server, so no
  ``get``;
- owned kinds are server-side applied (``patch``; an apply that creates the object needs
  ``create`` as well) and deleted by ``ctx.prune()`` once no longer applied (``delete``);
- the status is merge-patched through ``/status`` (``<plural>/status: patch``), or through the object
  itself when a custom resource declares ``status=False``;
- with ``@operator.finalize``, the finalizer is added and removed by merge-patching the primary object
  (``patch``);
- children carry ``blockOwnerDeletion: true`` owner references, which the
  ``OwnerReferencesPermissionEnforcement`` admission plugin (on in OpenShift, off in a default
  kube-apiserver) allows only to who may ``update`` the owner's ``<plural>/finalizers``;
- Events are ``events.k8s.io/v1`` Events: ``create``, and ``patch`` to count a repeated one in its
  ``series`` (the core-group ``events`` are not used);
- leader election (its own namespaced Role): ``get``, ``create`` and ``update`` of one Lease;
- ``Operator(rbac=[...])`` extras are merged in, except a rule naming objects (``resourceNames``) or
  URLs (``nonResourceURLs``), which stays a rule of its own: merged per resource it would grant its
  verbs on every object of the resource.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubeloop.operator import KindSpec, Operator

__all__ = ["Rule", "cluster_role", "leader_election_role", "operator_rules"]

Rule = dict[str, Any]

READ = ("list", "watch")
OWNED_VERBS = (*READ, "create", "patch", "delete")


def _plural(spec: KindSpec) -> str:
    return spec.resource().resource


def _has_status_subresource(spec: KindSpec) -> bool:
    """Custom resources say so in their declaration; built-in kinds with a status all have one."""
    return spec.model is None or spec.model.resource_info().status


def _finalized(operator: Operator) -> set[str]:
    """The primary kinds (refs) with an ``@operator.finalize`` cleanup."""
    return {kind.ref for kind in operator.finalized_kinds}


def operator_rules(operator: Operator) -> list[Rule]:
    """The ClusterRole rules ``operator`` needs, merged per API group and verb set, sorted."""
    grants: dict[tuple[str, str], set[str]] = defaultdict(set)

    def grant(group: str, resources: Iterable[str], verbs: Iterable[str]) -> None:
        for resource in resources:
            grants[(group, resource)].update(verbs)

    finalized = _finalized(operator)
    for primary, owns, watches in operator.kinds:
        plural = _plural(primary)
        grant(primary.group, [plural], READ)
        if primary.ref in finalized or operator.sharding is not None:  # sharding: the shard labels
            grant(primary.group, [plural], ("patch",))
        if _has_status_subresource(primary):
            grant(primary.group, [f"{plural}/status"], ("patch",))
        else:
            grant(primary.group, [plural], ("patch",))
        if owns:
            grant(primary.group, [f"{plural}/finalizers"], ("update",))
        for child in owns:
            grant(child.group, [_plural(child)], OWNED_VERBS)
        for watched in watches:
            grant(watched.group, [_plural(watched)], READ)
    grant("events.k8s.io", ["events"], ("create", "patch"))
    narrow: list[Rule] = []
    for rule in operator.rbac_rules:
        if rule.get("resourceNames") or rule.get("nonResourceURLs"):
            narrow.append(_kept(rule))
            continue
        for group in rule.get("apiGroups", [""]):
            grant(group, rule.get("resources", []), rule.get("verbs", []))
    return _merge(grants) + sorted(narrow, key=lambda rule: json.dumps(rule, sort_keys=True))


def _kept(rule: Mapping[str, Any]) -> Rule:
    """An extra rule that names objects (``resourceNames``) or URLs (``nonResourceURLs``), kept a rule
    of its own: merged per resource, it would grant its verbs on every object of the resource."""
    kept: Rule = {key: sorted(value) for key, value in rule.items() if isinstance(value, list | tuple)}
    if "resourceNames" in kept:
        kept.setdefault("apiGroups", [""])
    return kept


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


def leader_election_role(name: str, *, sharded: bool = False) -> dict[str, Any]:
    """The namespaced Role leader election needs: read, create and renew (update) its Lease; with
    ``sharded``, list the Leases too (every replica follows the shard Leases)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name},
        "rules": [
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": ["create", "get", "list", "update"] if sharded else ["create", "get", "update"],
            },
        ],
    }
