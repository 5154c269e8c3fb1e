"""Typed admission handlers: ``Defaulter`` (mutating) and ``Validator`` (validating).

The author writes plain functions over the kind's model (or over dicts for kinds without one)::

    def default(app: AppService, request: AdmissionRequest) -> None:
        app.spec.size = app.spec.size or 1           # mutate in place, or return a new object

    def validate(app: AppService, request: AdmissionRequest) -> list[str] | None:
        if app.spec.size > 10:
            raise Invalid(FieldError("spec.size", "must be at most 10", value=app.spec.size))
        return ["size 0 stops the app"] if app.spec.size == 0 else None   # warnings

Either may be ``async``. Guarantees:

- A defaulter's answer is the RFC 6902 patch from the object the API server sent to the object the
  function left (or returned); no change, no patch.
- ``Denied``/``Invalid`` become a rejection with the given code, reason and field causes; any other
  exception becomes a rejection with code 500 and the exception's message (and is logged with its
  traceback), never a dropped connection.
- An object that does not parse into the model is rejected as ``Invalid`` (422) with one cause per
  pydantic error; a request for another kind or version is rejected with code 400.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import pydantic

from kubeloop.crd import CustomResource
from kubeloop.errors import KubeloopError
from kubeloop.gvk import GroupVersionKind
from kubeloop.webhook._patch import json_patch
from kubeloop.webhook._review import OPERATIONS, AdmissionRequest, AdmissionResponse, Operation

__all__ = [
    "AdmissionHandler",
    "DefaultFn",
    "Defaulter",
    "Denied",
    "FieldError",
    "Invalid",
    "Target",
    "ValidateFn",
    "Validator",
]

log = logging.getLogger("kubeloop.webhook")

DefaultFn = Callable[[Any, AdmissionRequest], Any]
"""``(obj, request) -> obj | None`` (or awaitable): mutate ``obj`` in place or return a new one."""
ValidateFn = Callable[[Any, AdmissionRequest], Any]
"""``(obj, request) -> warnings | None`` (or awaitable); raise ``Denied``/``Invalid`` to reject."""

_UNSET: Any = object()


@dataclass(frozen=True)
class FieldError:
    """One invalid field: ``field`` is its path (``spec.ports[0].port``), ``detail`` what is wrong."""

    field: str
    detail: str
    value: Any = _UNSET
    type: str = "FieldValueInvalid"

    def body(self) -> str:
        """The error without its field (``Invalid value: 11: must be at most 10``)."""
        if self.value is _UNSET:
            return self.detail
        return f"Invalid value: {orjson.dumps(self.value, default=str).decode()}: {self.detail}"

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"

    def cause(self) -> dict[str, str]:
        """The ``metav1.StatusCause`` of this error (its type travels as ``reason``)."""
        return {"reason": self.type, "message": self.body(), "field": self.field}


class Denied(KubeloopError):
    """Raise from a handler to reject the request with ``message`` (HTTP-style ``code``, ``reason``)."""

    def __init__(self, message: str, *, code: int = 403, reason: str = "Forbidden") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason

    def response(self, request: AdmissionRequest, warnings: Sequence[str] = ()) -> AdmissionResponse:
        return AdmissionResponse.deny(
            self.message, code=self.code, reason=self.reason, warnings=list(warnings)
        )


class Invalid(Denied):
    """Reject with field errors: code 422, reason ``Invalid``, one status cause per field, and a
    message in the API server's own form (``Kind "name" is invalid: spec.size: ...``)."""

    def __init__(self, *errors: FieldError | tuple[str, str]) -> None:
        if not errors:
            raise ValueError("Invalid needs at least one FieldError")
        self.errors = [e if isinstance(e, FieldError) else FieldError(*e) for e in errors]
        super().__init__("; ".join(map(str, self.errors)), code=422, reason="Invalid")

    def response(self, request: AdmissionRequest, warnings: Sequence[str] = ()) -> AdmissionResponse:
        obj = request.object or request.old_object or {}
        name = request.name or (obj.get("metadata") or {}).get("name") or ""
        listed = str(self.errors[0]) if len(self.errors) == 1 else f"[{', '.join(map(str, self.errors))}]"
        qualified = f"{request.kind.kind}.{request.kind.group}" if request.kind.group else request.kind.kind
        details: dict[str, Any] = {
            "name": name,
            "group": request.kind.group,
            "kind": request.kind.kind,
            "causes": [e.cause() for e in self.errors],
        }
        return AdmissionResponse.deny(
            f'{qualified} "{name}" is invalid: {listed}',
            code=self.code,
            reason=self.reason,
            details=details,
            warnings=list(warnings),
        )


def _pydantic_errors(exc: pydantic.ValidationError) -> Invalid:
    errors = []
    for error in exc.errors(include_url=False):
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        errors.append(FieldError(path or "<root>", error["msg"], value=error.get("input", _UNSET)))
    return Invalid(*errors)


def _describe(gvk: GroupVersionKind) -> str:
    """How webhook messages name a kind: ``AppService.app.example.com/v1``, ``Pod.core/v1``."""
    return f"{gvk.kind}.{gvk.group or 'core'}/{gvk.version}"


@dataclass(frozen=True, slots=True)
class Target(GroupVersionKind):
    """What a typed handler serves: a ``GroupVersionKind`` and its model (if any)."""

    model: type[CustomResource] | None = None

    @staticmethod
    def of(model: type[CustomResource]) -> Target:
        info = model.resource_info()
        return Target(info.group, info.version, info.kind, model)

    def __str__(self) -> str:
        return _describe(self)

    def parse(self, obj: dict[str, Any]) -> Any:
        return self.model.model_validate(obj) if self.model is not None else copy.deepcopy(obj)

    def dump(self, value: Any) -> dict[str, Any]:
        if isinstance(value, pydantic.BaseModel):
            dumped: dict[str, Any] = value.model_dump(by_alias=True, exclude_unset=True, mode="json")
            return dumped
        if isinstance(value, dict):
            return value
        raise TypeError(f"a defaulter for {self} returned {type(value).__name__}, not the object")


class AdmissionHandler(Protocol):
    """Anything that answers admission requests (the server catches what it raises)."""

    async def admit(self, request: AdmissionRequest) -> AdmissionResponse: ...


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


class _Typed:
    def __init__(self, target: Target, operations: Iterable[Operation], name: str) -> None:
        unknown = set(operations) - set(OPERATIONS)
        if unknown:
            raise ValueError(f"unknown admission operations: {', '.join(sorted(unknown))}")
        self.target = target
        self.operations = tuple(operations)
        self.name = name

    def _mismatch(self, request: AdmissionRequest) -> AdmissionResponse | None:
        got = request.kind
        if (got.group, got.kind) != (self.target.group, self.target.kind):
            return AdmissionResponse.deny(
                f"{self.name} serves {self.target}, not {_describe(got)}", code=400, reason="BadRequest"
            )
        if self.target.model is not None and got.version != self.target.version:
            return AdmissionResponse.deny(
                f"{self.name} serves {self.target}, not version {got.version!r} (list only "
                f"{self.target.version} in the webhook's rules, with matchPolicy Equivalent)",
                code=400,
                reason="BadRequest",
            )
        return None

    async def admit(self, request: AdmissionRequest) -> AdmissionResponse:
        mismatch = self._mismatch(request)
        if mismatch is not None:
            return mismatch
        if request.operation not in self.operations:
            return AdmissionResponse.allow()
        try:
            if request.old_object is not None:
                try:
                    request.old = self.target.parse(request.old_object)
                except pydantic.ValidationError:
                    request.old = copy.deepcopy(request.old_object)
            return await self._admit(request)
        except Denied as exc:
            return exc.response(request)
        except pydantic.ValidationError as exc:
            return _pydantic_errors(exc).response(request)
        except Exception as exc:
            log.exception(
                "%s failed on %s %s/%s", self.name, request.operation, request.namespace, request.name
            )
            return AdmissionResponse.deny(
                f"internal error in {self.name}: {type(exc).__name__}: {exc}",
                code=500,
                reason="InternalError",
            )

    async def _admit(self, request: AdmissionRequest) -> AdmissionResponse:
        raise NotImplementedError


class Defaulter(_Typed):
    """A mutating handler: ``fn(obj, request)`` fills in defaults; the answer is the JSON patch."""

    def __init__(
        self,
        target: Target,
        fn: DefaultFn,
        *,
        operations: Iterable[Operation] = ("CREATE", "UPDATE"),
        name: str | None = None,
    ) -> None:
        super().__init__(target, operations, name or f"defaulter of {target}")
        self.fn = fn

    async def _admit(self, request: AdmissionRequest) -> AdmissionResponse:
        if request.object is None:
            return AdmissionResponse.deny(
                f"{request.operation} request has no object to default", code=400, reason="BadRequest"
            )
        typed = self.target.parse(request.object)
        returned = await _call(self.fn, typed, request)
        mutated = self.target.dump(typed if returned is None else returned)
        response = AdmissionResponse.allow()
        response.patch = json_patch(request.object, mutated) or None
        return response


class Validator(_Typed):
    """A validating handler: ``fn(obj, request)`` returns warnings or raises ``Denied``/``Invalid``.

    On DELETE ``obj`` is the object being deleted; on UPDATE ``request.old`` is the current one.
    """

    def __init__(
        self,
        target: Target,
        fn: ValidateFn,
        *,
        operations: Iterable[Operation] = ("CREATE", "UPDATE"),
        name: str | None = None,
    ) -> None:
        super().__init__(target, operations, name or f"validator of {target}")
        self.fn = fn

    async def _admit(self, request: AdmissionRequest) -> AdmissionResponse:
        obj = request.object if request.operation != "DELETE" else request.old_object
        if obj is None:
            return AdmissionResponse.deny(
                f"{request.operation} request has no object to validate", code=400, reason="BadRequest"
            )
        typed = self.target.parse(obj)
        warnings = await _call(self.fn, typed, request)
        if warnings is None:
            return AdmissionResponse.allow()
        if isinstance(warnings, str):
            warnings = [warnings]
        return AdmissionResponse.allow([str(w) for w in warnings])
