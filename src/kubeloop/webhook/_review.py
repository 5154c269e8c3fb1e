"""AdmissionReview in and out: parse the API server's request, build its response.

Both ``admission.k8s.io/v1`` and ``v1beta1`` are read, and the response uses the version of the
request (the API server requires it). A body that is not an AdmissionReview raises ``BadReview``
with a message that says what is wrong; the server answers it with HTTP 400.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from kubeloop.errors import KubeloopError
from kubeloop.gvk import GroupVersionKind, GroupVersionResource

__all__ = [
    "ADMISSION_VERSIONS",
    "AdmissionRequest",
    "AdmissionResponse",
    "BadReview",
    "parse_admission_review",
]

ADMISSION_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
OPERATIONS: tuple[Operation, ...] = ("CREATE", "UPDATE", "DELETE", "CONNECT")


class BadReview(KubeloopError):
    """The request body is not a review this server understands (answered with HTTP 400)."""


@dataclass
class AdmissionRequest:
    """One admission request. ``object`` is the new object (``None`` on DELETE), ``old_object`` the
    current one (UPDATE and DELETE), both plain dicts as the API server sent them; the typed handlers
    hand the parsed models to the author's functions and keep this as context."""

    uid: str
    kind: GroupVersionKind
    resource: GroupVersionResource
    operation: Operation
    name: str
    namespace: str
    object: dict[str, Any] | None
    old_object: dict[str, Any] | None
    sub_resource: str = ""
    dry_run: bool = False
    user_info: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] | None = None
    review_version: str = ADMISSION_VERSIONS[0]
    old: Any = None
    """The typed old object, set by the typed handlers (``None`` on CREATE)."""


@dataclass
class AdmissionResponse:
    """What a handler decides: allowed or not (with a ``metav1.Status``), a JSON patch, warnings."""

    allowed: bool
    status: dict[str, Any] | None = None
    patch: list[dict[str, Any]] | None = None
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def allow(cls, warnings: list[str] | None = None) -> AdmissionResponse:
        return cls(True, warnings=list(warnings or ()))

    @classmethod
    def deny(
        cls,
        message: str,
        *,
        code: int = 403,
        reason: str = "Forbidden",
        details: dict[str, Any] | None = None,
        warnings: list[str] | None = None,
    ) -> AdmissionResponse:
        status: dict[str, Any] = {"status": "Failure", "message": message, "reason": reason, "code": code}
        if details:
            status["details"] = details
        return cls(False, status=status, warnings=list(warnings or ()))

    def review(self, request: AdmissionRequest) -> bytes:
        """The AdmissionReview answering ``request``, encoded."""
        response: dict[str, Any] = {"uid": request.uid, "allowed": self.allowed}
        if self.status is not None:
            response["status"] = self.status
        if self.patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(orjson.dumps(self.patch)).decode()
        if self.warnings:
            response["warnings"] = self.warnings
        return orjson.dumps(
            {"apiVersion": request.review_version, "kind": "AdmissionReview", "response": response}
        )


def decode_json(body: bytes, what: str) -> dict[str, Any]:
    """``body`` as a JSON object, or ``BadReview``; ``what`` names what was expected ("an X")."""
    if not body:
        raise BadReview(f"empty request body: expected {what}")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadReview(f"request body is not JSON ({exc}): expected {what}") from exc
    if not isinstance(doc, dict):
        raise BadReview(f"request body is a JSON {type(doc).__name__}, not {what} object")
    return doc


def _group_version_name(value: Any, where: str, name: str) -> tuple[str, str, str]:
    if not isinstance(value, dict) or not isinstance(value.get("version"), str):
        raise BadReview(f"{where} must be an object with group, version and {name}")
    found = value.get(name)
    if not isinstance(found, str) or not found:
        raise BadReview(f"{where} has no {name}")
    return str(value.get("group") or ""), value["version"], found


def _object(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadReview(f"{where} must be a JSON object, not {type(value).__name__}")
    return value


def parse_admission_review(body: bytes) -> AdmissionRequest:
    """The request inside an AdmissionReview body; ``BadReview`` saying what is wrong otherwise."""
    doc = decode_json(body, "an AdmissionReview")
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if kind != "AdmissionReview":
        raise BadReview(f"kind is {kind!r}, expected 'AdmissionReview'")
    if api_version not in ADMISSION_VERSIONS:
        raise BadReview(
            f"apiVersion {api_version!r} is not supported; expected one of {', '.join(ADMISSION_VERSIONS)}"
        )
    request = doc.get("request")
    if not isinstance(request, dict):
        raise BadReview("AdmissionReview has no request")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadReview("AdmissionReview request has no uid")
    operation = request.get("operation")
    if operation not in OPERATIONS:
        raise BadReview(f"request.operation {operation!r} is not one of {', '.join(OPERATIONS)}")
    return AdmissionRequest(
        uid=uid,
        kind=GroupVersionKind(*_group_version_name(request.get("kind"), "request.kind", "kind")),
        resource=GroupVersionResource(
            *_group_version_name(request.get("resource"), "request.resource", "resource")
        ),
        operation=operation,
        name=str(request.get("name") or ""),
        namespace=str(request.get("namespace") or ""),
        object=_object(request.get("object"), "request.object"),
        old_object=_object(request.get("oldObject"), "request.oldObject"),
        sub_resource=str(request.get("subResource") or ""),
        dry_run=bool(request.get("dryRun")),
        user_info=dict(request.get("userInfo") or {}),
        options=_object(request.get("options"), "request.options"),
        review_version=api_version,
    )
