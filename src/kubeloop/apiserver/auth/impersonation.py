"""Impersonation (``Impersonate-User``, ``-Group``, ``-Uid``, ``-Extra-<key>`` headers, as
``kubectl --as``/``--as-group`` send them): the request then runs as that user, once the requester
may ``impersonate`` each of them (users, groups, service accounts, uids, userextras), as the real
server checks it. A refusal is the real 403 naming what could not be impersonated."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from multidict import CIMultiDictProxy

from kubeloop.apiserver.auth.attributes import RequestAttributes, forbidden
from kubeloop.apiserver.auth.user import (
    ANONYMOUS,
    AUTHENTICATED,
    UNAUTHENTICATED,
    UserInfo,
    split_service_account,
)
from kubeloop.apiserver.machinery.errors import StatusError

__all__ = ["impersonate"]

Authorize = Callable[[RequestAttributes], tuple[bool, str]]
_EXTRA = "impersonate-extra-"
_AUTH_GROUP = "authentication.k8s.io"


def impersonate(user: UserInfo, headers: CIMultiDictProxy[str], authorize: Authorize) -> UserInfo:
    """The user ``user`` acts as: itself without impersonation headers."""
    name = headers.get("Impersonate-User", "")
    groups = headers.getall("Impersonate-Group", [])
    uid = headers.get("Impersonate-Uid", "")
    extra: dict[str, list[str]] = {}
    for key, value in headers.items():
        if key.lower().startswith(_EXTRA):
            extra.setdefault(unquote(key[len(_EXTRA) :]).lower(), []).append(value)
    if not name:
        if groups or extra or uid:
            raise StatusError(
                500,
                "InternalError",
                "an error on the server has prevented the request from "
                "succeeding: requested impersonation of groups, extra or uid without a user",
            )
        return user

    def check(
        resource: str, target: str, namespace: str = "", group: str = "", subresource: str = ""
    ) -> None:
        attrs = RequestAttributes(
            user, "impersonate", True, "", group, "", resource, subresource, namespace, target
        )
        allowed, reason = authorize(attrs)
        if not allowed:
            raise forbidden(attrs, reason)

    account = split_service_account(name)
    if account is not None:
        check("serviceaccounts", account[1], namespace=account[0])
        if not groups:
            groups = ["system:serviceaccounts", f"system:serviceaccounts:{account[0]}"]
    else:
        check("users", name)
    for group in headers.getall("Impersonate-Group", []):
        check("groups", group)
    for key, values in extra.items():
        for value in values:
            check("userextras", value, group=_AUTH_GROUP, subresource=key)
    if uid:
        check("uids", uid, group=_AUTH_GROUP)
    if name == ANONYMOUS.name:
        if UNAUTHENTICATED not in groups:
            groups.append(UNAUTHENTICATED)
    elif AUTHENTICATED not in groups and UNAUTHENTICATED not in groups:
        groups.append(AUTHENTICATED)
    return UserInfo(name, uid, tuple(groups), extra)
