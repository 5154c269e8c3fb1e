"""``RequestAttributes``: what a request asks to do, as the RBAC authorizer sees it (kube-apiserver's
RequestInfo): a verb on a resource (group, resource, subresource, namespace, name) or on a path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubeloop.apiserver.auth.user import UserInfo
from kubeloop.apiserver.machinery.errors import StatusError

__all__ = ["RequestAttributes", "forbidden", "request_attributes"]

_METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
_NAMESPACE_SUBRESOURCES = {"status", "finalize"}


@dataclass(frozen=True)
class RequestAttributes:
    """One authorization question: may ``user`` do ``verb`` on this resource (or non-resource ``path``)?"""

    user: UserInfo
    verb: str
    resource_request: bool
    path: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


def request_attributes(user: UserInfo, method: str, path: str, query: Mapping[str, str]) -> RequestAttributes:
    """The attributes of an HTTP request, parsed from its path as kube-apiserver's RequestInfoFactory does."""
    parts = [p for p in path.strip("/").split("/") if p]
    plain = RequestAttributes(user, method.lower(), False, path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return plain
    parts = parts[1:]
    group = ""
    if path.startswith("/apis/"):
        if len(parts) < 3:
            return plain
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]
    verb = _METHOD_VERBS.get(method, "")
    if parts[0] == "watch" and len(parts) > 1:
        verb, parts = "watch", parts[1:]
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) > 1 else ""
    subresource = parts[2] if len(parts) > 2 else ""
    if not name and verb == "get":
        verb = "watch" if query.get("watch") in ("true", "1") else "list"
        name = _selected_name(query.get("fieldSelector") or "")
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestAttributes(user, verb, True, path, group, version, resource, subresource, namespace, name)


def _selected_name(selector: str) -> str:
    """The name a field selector requires exactly (``metadata.name=x``), else ""."""
    for term in selector.split(","):
        field, op, value = term.partition("==") if "==" in term else term.partition("=")
        if op and field.strip() == "metadata.name" and not field.endswith("!"):
            value = value.strip()
            if value not in (".", "..") and "/" not in value and "%" not in value:
                return value
    return ""


def forbidden(attrs: RequestAttributes, reason: str = "") -> StatusError:
    """The real server's 403 for ``attrs``: ``<resource> "<name>" is forbidden: User "…" cannot …``."""
    user = attrs.user.name
    if not attrs.resource_request:
        why = f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    else:
        resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
        what = f'resource "{resource}" in API group "{attrs.api_group}"'
        why = f'User "{user}" cannot {attrs.verb} {what} {where}'
    if reason:
        why = f"{why}: {reason}"
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    if not qualified:
        message = f"forbidden: {why}"
    elif attrs.name:
        message = f'{qualified} "{attrs.name}" is forbidden: {why}'
    else:
        message = f"{qualified} is forbidden: {why}"
    return StatusError(
        403,
        "Forbidden",
        message,
        name=attrs.name,
        group=attrs.api_group,
        kind=attrs.resource,
        always_details=True,
    )
