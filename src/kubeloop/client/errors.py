"""Typed errors of the API client, built from the ``Status`` object the API server returns.

``ApiError`` is the root of every error the server answered with; its subclasses follow the Kubernetes
``StatusReason`` (``NotFound``, ``Conflict``…), falling back to the HTTP code when the reason is missing.
``TransportError`` is for failures with no server answer (refused connection, timeout, broken stream);
``ClientClosedError`` for a request on a client that was closed (before or while it was sent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from kubeloop.errors import KubeloopError

__all__ = [
    "STATUS_REASONS",
    "AlreadyExistsError",
    "ApiError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "ConnectError",
    "ForbiddenError",
    "GoneError",
    "InternalError",
    "InvalidError",
    "MethodNotAllowedError",
    "NotFoundError",
    "ServerTimeoutError",
    "ServiceUnavailableError",
    "StatusCause",
    "TooManyRequestsError",
    "TransportError",
    "UnauthorizedError",
    "UnknownResourceError",
    "error_from_status",
]


@dataclass(frozen=True)
class StatusCause:
    """One cause in ``Status.details.causes``: which field failed and why (``Invalid``, SSA conflicts)."""

    reason: str
    message: str
    field: str


class ApiError(KubeloopError):
    """The API server answered with a failure ``Status``.

    ``status`` is the whole ``Status`` dict as sent (a synthesised one when the body was not a Status),
    ``code`` the HTTP code, ``reason`` the ``StatusReason`` (the code's, as client-go derives it, when the
    server sent none: a 500 from server-side apply has none), ``causes`` the ``details.causes``.
    """

    default_code: ClassVar[int] = 0
    reasons: ClassVar[tuple[str, ...]] = ()

    def __init__(self, status: dict[str, Any], *, retry_after: float | None = None) -> None:
        self.status = status
        self.code: int = int(status.get("code") or self.default_code)
        self.reason: str = str(status.get("reason") or "") or _REASON_BY_CODE.get(self.code, "")
        self.message: str = str(status.get("message") or "")
        details = status.get("details") or {}
        self.details: dict[str, Any] = details if isinstance(details, dict) else {}
        self.causes: tuple[StatusCause, ...] = tuple(
            StatusCause(str(c.get("reason", "")), str(c.get("message", "")), str(c.get("field", "")))
            for c in self.details.get("causes") or ()
            if isinstance(c, dict)
        )
        hinted = self.details.get("retryAfterSeconds")
        self.retry_after: float | None = retry_after if retry_after is not None else _float(hinted)
        super().__init__(f"{self.code} {self.reason or 'Unknown'}: {self.message or '(no message)'}")


# client-go's reasonForCode (NewGenericServerResponse): the reason of a Status that names none.
_REASON_BY_CODE = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Gone",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class BadRequestError(ApiError):
    """400: the request was malformed (bad selector, bad patch, unknown query parameter)."""

    default_code = 400
    reasons = ("BadRequest",)


class UnauthorizedError(ApiError):
    """401: no or bad credentials."""

    default_code = 401
    reasons = ("Unauthorized",)


class ForbiddenError(ApiError):
    """403: authenticated but not allowed (RBAC), or the namespace is terminating."""

    default_code = 403
    reasons = ("Forbidden",)


class NotFoundError(ApiError):
    """404: the object (or the resource type) does not exist."""

    default_code = 404
    reasons = ("NotFound",)


class MethodNotAllowedError(ApiError):
    """405: the resource does not support this verb."""

    default_code = 405
    reasons = ("MethodNotAllowed",)


class AlreadyExistsError(ApiError):
    """409 AlreadyExists: create of a name that is taken."""

    default_code = 409
    reasons = ("AlreadyExists",)


class ConflictError(ApiError):
    """409 Conflict: stale ``resourceVersion``/precondition, or a server-side-apply field conflict
    (then ``causes`` name the fields and their managers)."""

    default_code = 409
    reasons = ("Conflict",)


class GoneError(ApiError):
    """410 Gone or Expired: the ``resourceVersion`` or ``continue`` token is older than the server keeps.

    A cache that sees this must relist from scratch; it is never retried by the client.
    """

    default_code = 410
    reasons = ("Gone", "Expired")


class InvalidError(ApiError):
    """422 Invalid: validation failed; ``causes`` carry one entry per bad field."""

    default_code = 422
    reasons = ("Invalid", "RequestEntityTooLarge")


class TooManyRequestsError(ApiError):
    """429: throttled by API priority and fairness; ``retry_after`` says when to come back."""

    default_code = 429
    reasons = ("TooManyRequests",)


class InternalError(ApiError):
    """500: the server failed (admission webhook error, etcd trouble)."""

    default_code = 500
    reasons = ("InternalError",)


class ServiceUnavailableError(ApiError):
    """503: the server (or an aggregated API behind it) is not serving now."""

    default_code = 503
    reasons = ("ServiceUnavailable",)


class ServerTimeoutError(ApiError):
    """504 Timeout or 500 ServerTimeout: the server gave up waiting; the request may be retried."""

    default_code = 504
    reasons = ("ServerTimeout", "Timeout")


class TransportError(KubeloopError):
    """No answer from the server: connection refused or reset, TLS failure, request timeout."""


class ConnectError(TransportError):
    """The server could not be reached and nothing was sent, so any request may be sent again."""


class ClientClosedError(KubeloopError):
    """A request on a client that was closed, before it was sent or while it was under way: the
    client's owner has shut it down, so the request is not retried."""


_CLASSES: tuple[type[ApiError], ...] = (
    BadRequestError,
    UnauthorizedError,
    ForbiddenError,
    NotFoundError,
    MethodNotAllowedError,
    AlreadyExistsError,
    ConflictError,
    GoneError,
    InvalidError,
    TooManyRequestsError,
    InternalError,
    ServiceUnavailableError,
    ServerTimeoutError,
)
_BY_REASON: dict[str, type[ApiError]] = {reason: cls for cls in _CLASSES for reason in cls.reasons}
STATUS_REASONS: frozenset[str] = frozenset(_BY_REASON) | frozenset(_REASON_BY_CODE.values())
"""Every ``StatusReason`` the client knows: what ``ApiError.reason`` is, but for a server's own new ones."""
_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    409: ConflictError,
    410: GoneError,
    413: InvalidError,
    422: InvalidError,
    429: TooManyRequestsError,
    500: InternalError,
    503: ServiceUnavailableError,
    504: ServerTimeoutError,
}


def error_from_status(
    status: dict[str, Any] | None, *, http_code: int, retry_after: float | None = None, body: bytes = b""
) -> ApiError:
    """Build the typed error for a failed response: ``status`` is the decoded body when it was a
    ``Status``, else ``None`` (a proxy's HTML page, an empty body) and one is synthesised."""
    if not isinstance(status, dict) or status.get("kind") != "Status":
        text = body[:200].decode("utf-8", "replace").strip().replace("\n", " ")
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": http_code,
            "message": text,
        }
    code = int(status.get("code") or http_code)
    cls = _BY_REASON.get(str(status.get("reason") or "")) or _BY_CODE.get(code) or ApiError
    if "code" not in status:
        status = {**status, "code": code}
    return cls(status, retry_after=retry_after)


def _float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


class UnknownResourceError(NotFoundError):
    """Discovery does not know the resource or kind asked for, even after a refresh: a 404
    ``NotFoundError``, as the API server answers a request for a resource it does not serve, so
    ``except NotFoundError`` covers a kind that is not installed (yet) too."""

    def __init__(self, message: str) -> None:
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404}
        super().__init__({**status, "reason": "NotFound", "message": message})
