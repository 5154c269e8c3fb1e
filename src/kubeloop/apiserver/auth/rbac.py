"""``RBAC``: the authorizer over Roles, ClusterRoles, RoleBindings and ClusterRoleBindings, as the
real server's RBAC authorizer decides (and explains) it.

A request is allowed when a rule of a role bound to the user allows it: every ClusterRoleBinding,
then the RoleBindings of the request's namespace. Rules match on verbs, API groups, resources
(``*``, ``resource/subresource``, ``*/subresource``), resourceNames, and nonResourceURLs (exact, or a
prefix ending in ``*``). Members of ``system:masters`` are allowed everything (kube-apiserver's
privileged group). A binding to a role that does not exist is why the answer is no
(``RBAC: clusterrole.rbac.authorization.k8s.io "x" not found``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubeloop.apiserver.auth.attributes import RequestAttributes
from kubeloop.apiserver.auth.user import MASTERS, UserInfo
from kubeloop.apiserver.storage import Store

__all__ = ["RBAC", "Rule", "rule_allows"]

Rule = dict[str, Any]
Obj = dict[str, Any]
GROUP = "rbac.authorization.k8s.io"
CLUSTER_ROLES = f"{GROUP}/clusterroles"
ROLES = f"{GROUP}/roles"
CLUSTER_ROLE_BINDINGS = f"{GROUP}/clusterrolebindings"
ROLE_BINDINGS = f"{GROUP}/rolebindings"


def _has(values: list[str] | None, wanted: str) -> bool:
    return bool(values) and ("*" in values or wanted in values)  # type: ignore[operator]


def _resource_matches(rule: Rule, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for allowed in rule.get("resources") or ():
        if allowed in ("*", combined) or (subresource and allowed == f"*/{subresource}"):
            return True
    return False


def _url_matches(rule: Rule, path: str) -> bool:
    for allowed in rule.get("nonResourceURLs") or ():
        if allowed in ("*", path) or (allowed.endswith("*") and path.startswith(allowed[:-1])):
            return True
    return False


def rule_allows(attrs: RequestAttributes, rule: Rule) -> bool:
    """Whether ``rule`` allows the request ``attrs`` (kube-apiserver's ``RuleAllows``)."""
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.resource_request:
        return _url_matches(rule, attrs.path)
    names = rule.get("resourceNames") or ()
    return (
        _has(rule.get("apiGroups"), attrs.api_group)
        and _resource_matches(rule, attrs.resource, attrs.subresource)
        and (not names or attrs.name in names)
    )


def _applies(subject: Obj, user: UserInfo, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.name == f"system:serviceaccount:{namespace}:{name}"
    return False


def _describe(binding: Obj, subject: Obj) -> str:
    """The real server's words for where a permission comes from (``RBAC: allowed by …``)."""
    md, ref = binding["metadata"], binding["roleRef"]
    namespace = md.get("namespace", "")
    name = f"{md['name']}/{namespace}" if namespace else md["name"]
    who = subject.get("name", "")
    if subject.get("kind") == "ServiceAccount":
        who = f"{who}/{subject.get('namespace') or namespace}"
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    return f'{kind} "{name}" of {ref.get("kind")} "{ref.get("name")}" to {subject.get("kind")} "{who}"'


class RBAC:
    """The RBAC authorizer over the objects in ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def authorize(self, attrs: RequestAttributes) -> tuple[bool, str]:
        """(allowed, reason), with the real server's reasons: which binding allowed it, or which
        bindings' roles are missing."""
        if MASTERS in attrs.user.groups:
            return True, ""
        errors: list[str] = []
        for source, rule in self._rules(attrs.user, attrs.namespace, errors):
            if rule_allows(attrs, rule):
                return True, f"RBAC: allowed by {source}"
        if not errors:
            return False, ""
        listed = errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]"
        return False, f"RBAC: {listed}"

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Rule], list[str]]:
        """Every rule that applies to ``user`` in ``namespace`` and the errors met finding them
        (what SelfSubjectRulesReview reports)."""
        errors: list[str] = []
        return [rule for _, rule in self._rules(user, namespace, errors)], errors

    def _rules(self, user: UserInfo, namespace: str, errors: list[str]) -> Iterator[tuple[str, Rule]]:
        bindings = [(b, "") for b in self.store.list(CLUSTER_ROLE_BINDINGS)]
        if namespace:
            bindings += [(b, namespace) for b in self.store.list(ROLE_BINDINGS, namespace)]
        for binding, where in bindings:
            subject = next((s for s in binding.get("subjects") or () if _applies(s, user, where)), None)
            if subject is None:
                continue
            source = _describe(binding, subject)
            for rule in self._role_rules(binding["roleRef"], where, errors):
                yield source, rule

    def _role_rules(self, ref: Obj, namespace: str, errors: list[str]) -> Iterator[Rule]:
        kind, name = ref.get("kind"), ref.get("name", "")
        if kind == "ClusterRole":
            role = self.store.get((CLUSTER_ROLES, "", name))
            missing = f'clusterrole.{GROUP} "{name}" not found'
        else:
            role = self.store.get((ROLES, namespace, name))
            missing = f'role.{GROUP} "{name}" not found'
        if role is None:
            errors.append(missing)
            return
        yield from role.get("rules") or ()
