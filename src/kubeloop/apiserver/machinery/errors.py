"""Errors of the embedded API server, each one a Kubernetes ``Status`` the HTTP layer returns verbatim.

Role: the one error type of ``kubeloop.apiserver``; storage, validation and handlers raise
``StatusError`` and the server's middleware turns it into the response the real kube-apiserver gives
(``kind: Status``, ``reason``, ``code``, ``details.causes``), so clients keyed on ``reason``/``code``
behave the same against both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubeloop.errors import KubeloopError

__all__ = [
    "Cause",
    "StatusError",
    "already_exists",
    "bad_request",
    "conflict",
    "forbidden",
    "gone",
    "invalid",
    "method_not_supported",
    "not_found",
    "unparsable_version",
    "unsupported_media_type",
]


@dataclass(frozen=True)
class Cause:
    """One entry of ``details.causes``: which field is wrong and why."""

    reason: str
    message: str
    field: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"reason": self.reason, "message": self.message} if self.reason else {"message": self.message}
        if self.field:
            out["field"] = self.field
        return out


@dataclass
class StatusError(KubeloopError):
    """A failed request: ``status()`` is the body, ``code`` the HTTP status."""

    code: int
    reason: str
    message: str
    name: str = ""
    group: str = ""
    kind: str = ""
    causes: list[Cause] = field(default_factory=list)
    retry_after: int | None = None
    always_details: bool = False
    """Send ``details`` even when empty (the real server's Forbidden always has them)."""
    warnings: list[str] = field(default_factory=list)
    """The request's warnings until it failed: sent with the Status, as the real server sends them."""

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def status(self) -> dict[str, Any]:
        """The ``Status`` object the real API server sends for this error."""
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if not self.reason:
            del body["reason"]  # errors the real server passes through from etcd carry none
        if details or self.always_details:
            body["details"] = details
        return body


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> StatusError:
    q = _qualified(resource, group)
    return StatusError(404, "NotFound", f'{q} "{name}" not found', name=name, group=group, kind=resource)


def already_exists(resource: str, group: str, name: str, *, being_deleted: bool = False) -> StatusError:
    """The 409 of a create whose name is taken; the real store says so when the object there is being
    deleted (it waits for finalizers): ``object is being deleted: …``."""
    q = _qualified(resource, group)
    message = f'{"object is being deleted: " if being_deleted else ""}{q} "{name}" already exists'
    return StatusError(409, "AlreadyExists", message, name=name, group=group, kind=resource)


def conflict(
    resource: str, group: str, name: str, why: str, causes: list[Cause] | None = None
) -> StatusError:
    q = _qualified(resource, group)
    return StatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {q} "{name}": {why}',
        name=name,
        group=group,
        kind=resource,
        causes=causes or [],
    )


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> StatusError:
    q = f"{kind}.{group}" if group else kind
    listed = ", ".join(f"{c.field}: {c.message}" if c.field else c.message for c in causes)
    if len(causes) > 1:
        listed = f"[{listed}]"
    return StatusError(
        422, "Invalid", f'{q} "{name}" is invalid: {listed}', name=name, group=group, kind=kind, causes=causes
    )


def too_large_for_storage() -> StatusError:
    """What the real server answers when etcd refuses an object over its request limit."""
    return StatusError(500, "", "etcdserver: request is too large")


def unparsable_version(text: str) -> str:
    """How the real server words a ``resourceVersion`` that is not a number (Go's ParseUint)."""
    return f'resourceVersion: Invalid value: "{text}": strconv.ParseUint: parsing "{text}": invalid syntax'


def gone(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def bad_request(message: str, causes: list[Cause] | None = None) -> StatusError:
    return StatusError(400, "BadRequest", message, causes=causes or [])


def forbidden(resource: str, group: str, name: str, why: str) -> StatusError:
    q = _qualified(resource, group)
    subject = f'{q} "{name}"' if name else q
    return StatusError(
        403, "Forbidden", f"{subject} is forbidden: {why}", name=name, group=group, kind=resource
    )


def method_not_supported(resource: str, group: str, verb: str) -> StatusError:
    q = _qualified(resource, group)
    return StatusError(
        405,
        "MethodNotAllowed",
        f'{verb} is not supported on resources of kind "{q}"',
        group=group,
        kind=resource,
    )


def unsupported_media_type(custom: bool) -> StatusError:
    """A patch of a media type the resource does not take: any but the four patch types (the router's
    bare 415), or strategic merge on a custom resource."""
    if not custom:
        return StatusError(415, "UnsupportedMediaType", "415: Unsupported Media Type", always_details=True)
    return StatusError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
    )
