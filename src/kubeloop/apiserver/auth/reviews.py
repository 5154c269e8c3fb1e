"""The review APIs, answered as the real server answers them: ``SelfSubjectAccessReview``,
``SubjectAccessReview``, ``LocalSubjectAccessReview`` and ``SelfSubjectRulesReview``
(authorization.k8s.io, what ``kubectl auth can-i [--list]`` asks) and ``SelfSubjectReview`` and
``TokenReview`` (authentication.k8s.io, ``kubectl auth whoami``). Nothing is stored."""

from __future__ import annotations

from typing import Any

from kubeloop.apiserver.auth.attributes import RequestAttributes
from kubeloop.apiserver.auth.rbac import RBAC
from kubeloop.apiserver.auth.tokens import TokenIssuer
from kubeloop.apiserver.auth.user import MASTERS, UserInfo
from kubeloop.apiserver.machinery import meta
from kubeloop.apiserver.machinery.errors import Cause, bad_request, invalid

__all__ = ["REVIEWS", "Reviews"]

Obj = dict[str, Any]
AUTHZ = "authorization.k8s.io"
AUTHN = "authentication.k8s.io"
# (group, plural) → (kind, namespaced) of every review the server answers.
REVIEWS = {
    (AUTHZ, "selfsubjectaccessreviews"): ("SelfSubjectAccessReview", False),
    (AUTHZ, "subjectaccessreviews"): ("SubjectAccessReview", False),
    (AUTHZ, "localsubjectaccessreviews"): ("LocalSubjectAccessReview", True),
    (AUTHZ, "selfsubjectrulesreviews"): ("SelfSubjectRulesReview", False),
    (AUTHN, "selfsubjectreviews"): ("SelfSubjectReview", False),
    (AUTHN, "tokenreviews"): ("TokenReview", False),
}


def _attributes(user: UserInfo, spec: Obj, kind: str) -> RequestAttributes:
    resource: Obj | None = spec.get("resourceAttributes")
    plain: Obj | None = spec.get("nonResourceAttributes")
    if (resource is None) == (plain is None):
        cause = Cause(
            "FieldValueInvalid",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            "spec.resourceAttributes",
        )
        raise invalid(kind, AUTHZ, "", [cause])
    if plain is not None:
        return RequestAttributes(user, plain.get("verb", ""), False, plain.get("path", ""))
    assert resource is not None
    return RequestAttributes(
        user,
        resource.get("verb", ""),
        True,
        "",
        resource.get("group", ""),
        resource.get("version", ""),
        resource.get("resource", ""),
        resource.get("subresource", ""),
        resource.get("namespace", ""),
        resource.get("name", ""),
    )


class Reviews:
    """Answers the reviews with one authorizer and one token issuer."""

    def __init__(self, rbac: RBAC, tokens: TokenIssuer) -> None:
        self.rbac = rbac
        self.tokens = tokens

    def answer(self, plural: str, group: str, namespace: str | None, user: UserInfo, body: Obj) -> Obj:
        kind, _ = REVIEWS[(group, plural)]
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be an object")
        spec: Obj = body.get("spec") or {}
        out: Obj = {
            "kind": kind,
            "apiVersion": f"{group}/v1",
            "metadata": {**(body.get("metadata") or {}), "creationTimestamp": None},
            "spec": spec,
        }
        if kind == "SelfSubjectReview":
            out.pop("spec")
            out["metadata"]["creationTimestamp"] = meta.now()
            out["status"] = {"userInfo": user.to_dict()}
        elif kind == "TokenReview":
            found = self.tokens.authenticate(spec.get("token", ""))
            status: Obj = {"user": {}}
            if found is not None:
                status = {
                    "authenticated": True,
                    "user": found.to_dict(),
                    "audiences": list(self.tokens.audiences),
                }
            out["status"] = status
        elif kind == "SelfSubjectRulesReview":
            out["status"] = self._rules(user, spec.get("namespace", ""))
        else:
            out["status"] = self._access(kind, namespace, user, spec)
        return out

    def _access(self, kind: str, namespace: str | None, user: UserInfo, spec: Obj) -> Obj:
        if kind != "SelfSubjectAccessReview":
            if not spec.get("user") and not spec.get("groups"):
                cause = Cause(
                    "FieldValueInvalid",
                    'Invalid value: "": at least one of user or group must be specified',
                    "spec.user",
                )
                raise invalid(kind, AUTHZ, "", [cause])
            user = UserInfo(
                spec.get("user", ""),
                spec.get("uid", ""),
                tuple(spec.get("groups") or ()),
                spec.get("extra") or {},
            )
        if kind == "LocalSubjectAccessReview":
            wanted = (spec.get("resourceAttributes") or {}).get("namespace", "")
            if spec.get("resourceAttributes") is not None and wanted != namespace:
                raise bad_request(f"spec.resourceAttributes.namespace must match namespace: {namespace}")
        allowed, reason = self.rbac.authorize(_attributes(user, spec, kind))
        status: Obj = {"allowed": allowed}
        if reason:
            status["reason"] = reason
        return status

    def _rules(self, user: UserInfo, namespace: str) -> Obj:
        rules, errors = self.rbac.rules_for(user, namespace)
        if MASTERS in user.groups:
            rules = [
                {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                {"verbs": ["*"], "nonResourceURLs": ["*"]},
                *rules,
            ]
        resource_rules, plain_rules = [], []
        for rule in rules:
            if rule.get("resources"):
                entry = {"verbs": rule.get("verbs") or []}
                for key in ("apiGroups", "resources", "resourceNames"):
                    if rule.get(key):
                        entry[key] = rule[key]
                resource_rules.append(entry)
            if rule.get("nonResourceURLs"):
                plain_rules.append(
                    {"verbs": rule.get("verbs") or [], "nonResourceURLs": rule["nonResourceURLs"]}
                )
        status: Obj = {
            "resourceRules": resource_rules,
            "nonResourceRules": plain_rules,
            "incomplete": bool(errors),
        }
        if errors:
            status["evaluationError"] = errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]"
        return status
