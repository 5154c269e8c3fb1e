"""``UserInfo``: who a request is from, as authentication found it (name, uid, groups, extra), and the
well-known users and groups of Kubernetes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ANONYMOUS",
    "AUTHENTICATED",
    "MASTERS",
    "SERVICE_ACCOUNT_PREFIX",
    "UNAUTHENTICATED",
    "UserInfo",
    "service_account",
    "split_service_account",
]

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
MASTERS = "system:masters"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class UserInfo:
    """An authenticated (or anonymous) user."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``UserInfo`` of the authentication API (SelfSubjectReview, TokenReview)."""
        out: dict[str, Any] = {"username": self.name}
        if self.uid:
            out["uid"] = self.uid
        if self.groups:
            out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = self.extra
        return out

    def with_group(self, group: str) -> UserInfo:
        if group in self.groups:
            return self
        return UserInfo(self.name, self.uid, (*self.groups, group), self.extra)


ANONYMOUS = UserInfo("system:anonymous", groups=(UNAUTHENTICATED,))


def service_account(
    namespace: str, name: str, uid: str = "", extra: dict[str, list[str]] | None = None
) -> UserInfo:
    """The user a service account's token authenticates as."""
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED)
    return UserInfo(f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}", uid, groups, extra or {})


def split_service_account(username: str) -> tuple[str, str] | None:
    """(namespace, name) of a service account's user name, or None for any other user."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    namespace, _, name = username[len(SERVICE_ACCOUNT_PREFIX) :].partition(":")
    return (namespace, name) if namespace and name and ":" not in name else None
