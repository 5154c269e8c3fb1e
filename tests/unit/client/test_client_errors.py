"""Server ``Status`` objects become typed errors under ``ApiError`` (and ``KubeloopError``)."""

from __future__ import annotations

import pytest

from kubeloop.client import errors
from kubeloop.errors import KubeloopError


def status(code: int, reason: str, **details: object) -> dict[str, object]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": f"m-{reason}",
        "reason": reason,
        "code": code,
        "details": details,
    }


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [
        (400, "BadRequest", errors.BadRequestError),
        (401, "Unauthorized", errors.UnauthorizedError),
        (403, "Forbidden", errors.ForbiddenError),
        (404, "NotFound", errors.NotFoundError),
        (405, "MethodNotAllowed", errors.MethodNotAllowedError),
        (409, "AlreadyExists", errors.AlreadyExistsError),
        (409, "Conflict", errors.ConflictError),
        (410, "Gone", errors.GoneError),
        (410, "Expired", errors.GoneError),
        (422, "Invalid", errors.InvalidError),
        (429, "TooManyRequests", errors.TooManyRequestsError),
        (500, "InternalError", errors.InternalError),
        (500, "ServerTimeout", errors.ServerTimeoutError),
        (504, "Timeout", errors.ServerTimeoutError),
        (503, "ServiceUnavailable", errors.ServiceUnavailableError),
    ],
)
def test_reason_selects_the_error_class(code: int, reason: str, cls: type[errors.ApiError]) -> None:
    err = errors.error_from_status(status(code, reason), http_code=code)
    assert type(err) is cls
    assert isinstance(err, errors.ApiError)
    assert isinstance(err, KubeloopError)
    assert (err.code, err.reason, err.message) == (code, reason, f"m-{reason}")
    assert str(err) == f"{code} {reason}: m-{reason}"


@pytest.mark.parametrize(
    ("code", "cls", "reason"),
    [
        (404, errors.NotFoundError, "NotFound"),
        (409, errors.ConflictError, "Conflict"),
        (410, errors.GoneError, "Gone"),
        (413, errors.InvalidError, "RequestEntityTooLarge"),
        (500, errors.InternalError, "InternalError"),
        (503, errors.ServiceUnavailableError, "ServiceUnavailable"),
    ],
    ids=["404", "409", "410", "413", "500", "503"],
)
def test_code_decides_the_class_and_the_reason_when_the_status_names_none(
    code: int, cls: type[errors.ApiError], reason: str
) -> None:
    # kube-apiserver's 500 for a server-side apply it cannot merge names no reason; the reason
    # becomes a condition's and an Event's, so it is the code's (as client-go derives it).
    err = errors.error_from_status(status(code, ""), http_code=code)
    assert type(err) is cls
    assert err.reason == reason
    assert err.status["reason"] == "", "the Status is kept as sent"


def test_unknown_code_is_a_plain_api_error() -> None:
    err = errors.error_from_status(status(418, "Teapot"), http_code=418)
    assert type(err) is errors.ApiError
    assert err.code == 418


def test_non_status_body_is_wrapped_with_its_text() -> None:
    err = errors.error_from_status(None, http_code=502, body=b"<html>bad gateway</html>")
    assert type(err) is errors.ApiError
    assert err.code == 502
    assert "bad gateway" in err.message


def test_invalid_carries_field_causes() -> None:
    causes = [
        {"reason": "FieldValueInvalid", "message": "bad name", "field": "metadata.name"},
        {"reason": "FieldValueRequired", "message": "required", "field": "spec.image"},
    ]
    err = errors.error_from_status(status(422, "Invalid", causes=causes), http_code=422)
    assert isinstance(err, errors.InvalidError)
    assert err.causes == (
        errors.StatusCause("FieldValueInvalid", "bad name", "metadata.name"),
        errors.StatusCause("FieldValueRequired", "required", "spec.image"),
    )


def test_retry_after_comes_from_header_else_details() -> None:
    from_details = errors.error_from_status(
        status(429, "TooManyRequests", retryAfterSeconds=3), http_code=429
    )
    assert from_details.retry_after == 3.0
    from_header = errors.error_from_status(
        status(429, "TooManyRequests", retryAfterSeconds=3), http_code=429, retry_after=7.0
    )
    assert from_header.retry_after == 7.0
    assert errors.error_from_status(status(404, "NotFound"), http_code=404).retry_after is None


def test_the_whole_status_is_kept() -> None:
    raw = status(404, "NotFound", name="x", kind="configmaps")
    err = errors.error_from_status(raw, http_code=404)
    assert err.status == raw
    assert err.details == {"name": "x", "kind": "configmaps"}
