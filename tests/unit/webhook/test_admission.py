"""Typed admission handlers: defaulting patches, validation warnings and field errors, failures."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from widgets import Widget

from kubeloop.webhook import (
    AdmissionRequest,
    Defaulter,
    Denied,
    FieldError,
    Invalid,
    Target,
    Validator,
    json_patch,
)
from kubeloop.webhook._review import parse_admission_review


def review(
    obj: dict[str, Any] | None,
    *,
    operation: str = "CREATE",
    old: dict[str, Any] | None = None,
    kind: dict[str, str] | None = None,
) -> AdmissionRequest:
    body = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "kind": kind or {"group": "widgets.example.com", "version": "v1", "kind": "Widget"},
            "resource": {"group": "widgets.example.com", "version": "v1", "resource": "widgets"},
            "operation": operation,
            "name": "w",
            "namespace": "ns",
            "object": obj,
            "oldObject": old,
        },
    }
    return parse_admission_review(orjson.dumps(body))


def widget(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "widgets.example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "ns", "uid": "x"},
        "spec": spec,
        "unknownTopLevel": {"kept": True},
    }


async def test_defaulter_answers_the_patch_of_its_in_place_changes() -> None:
    def default(w: Widget, request: AdmissionRequest) -> None:
        w.spec.image = w.spec.image or "nginx:1.27"
        w.spec.tags = [*w.spec.tags, "defaulted"]

    obj = widget(size=2)
    answer = await Defaulter(Target.of(Widget), default).admit(review(obj))
    assert answer.allowed
    assert answer.patch == json_patch(
        obj, {**obj, "spec": {"size": 2, "image": "nginx:1.27", "tags": ["defaulted"]}}
    )
    assert {op["path"] for op in answer.patch or []} == {"/spec/image", "/spec/tags"}


async def test_defaulter_that_changes_nothing_answers_no_patch_and_keeps_unknown_fields() -> None:
    answer = await Defaulter(Target.of(Widget), lambda w, r: None).admit(review(widget(size=2)))
    assert answer.allowed
    assert answer.patch is None


async def test_async_defaulter_returning_a_new_object_is_patched_to_it() -> None:
    async def default(w: Widget, request: AdmissionRequest) -> Widget:
        return w.model_copy(update={"spec": w.spec.model_copy(update={"size": 5})})

    answer = await Defaulter(Target.of(Widget), default).admit(review(widget(size=2)))
    assert answer.patch == [{"op": "replace", "path": "/spec/size", "value": 5}]


async def test_the_review_response_carries_a_base64_json_patch() -> None:
    request = review(widget())
    answer = await Defaulter(Target.of(Widget), lambda w, r: setattr(w.spec, "size", 3)).admit(request)
    doc = orjson.loads(answer.review(request))
    assert doc["apiVersion"] == "admission.k8s.io/v1"
    assert doc["response"]["uid"] == "u-1"
    assert doc["response"]["patchType"] == "JSONPatch"
    assert orjson.loads(base64.b64decode(doc["response"]["patch"])) == [
        {"op": "add", "path": "/spec/size", "value": 3}
    ]


async def test_validator_warnings_are_returned_with_an_allowed_answer() -> None:
    answer = await Validator(Target.of(Widget), lambda w, r: ["size 0 stops it"]).admit(
        review(widget(size=0))
    )
    assert answer.allowed
    assert answer.warnings == ["size 0 stops it"]


async def test_invalid_rejects_with_422_field_causes_and_the_api_server_message_form() -> None:
    def validate(w: Widget, request: AdmissionRequest) -> None:
        raise Invalid(
            FieldError("spec.size", "must be at most 10", value=w.spec.size), ("spec.image", "required")
        )

    answer = await Validator(Target.of(Widget), validate).admit(review(widget(size=11)))
    assert not answer.allowed
    status = answer.status or {}
    assert status["code"] == 422
    assert status["reason"] == "Invalid"
    assert status["message"] == (
        'Widget.widgets.example.com "w" is invalid: '
        "[spec.size: Invalid value: 11: must be at most 10, spec.image: required]"
    )
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.size", "spec.image"]


async def test_denied_rejects_with_its_message_and_code() -> None:
    def validate(w: Widget, request: AdmissionRequest) -> None:
        raise Denied("widgets are frozen on fridays", code=403)

    answer = await Validator(Target.of(Widget), validate).admit(review(widget()))
    assert not answer.allowed
    assert answer.status == {
        "status": "Failure",
        "message": "widgets are frozen on fridays",
        "reason": "Forbidden",
        "code": 403,
    }


async def test_a_handler_that_raises_is_answered_with_a_500_rejection_naming_the_error() -> None:
    def validate(w: Widget, request: AdmissionRequest) -> None:
        raise ZeroDivisionError("boom")

    answer = await Validator(Target.of(Widget), validate).admit(review(widget()))
    assert not answer.allowed
    assert (answer.status or {})["code"] == 500
    assert "ZeroDivisionError: boom" in (answer.status or {})["message"]


async def test_an_object_that_does_not_match_the_model_is_invalid_with_its_field_path() -> None:
    answer = await Validator(Target.of(Widget), lambda w, r: None).admit(review(widget(size="many")))
    assert not answer.allowed
    assert (answer.status or {})["code"] == 422
    assert (answer.status or {})["details"]["causes"][0]["field"] == "spec.size"


async def test_a_request_for_another_kind_is_rejected_with_400() -> None:
    answer = await Validator(Target.of(Widget), lambda w, r: None).admit(
        review({"apiVersion": "v1", "kind": "Pod"}, kind={"group": "", "version": "v1", "kind": "Pod"})
    )
    assert not answer.allowed
    assert (answer.status or {})["code"] == 400
    assert "Pod.core/v1" in (answer.status or {})["message"]


async def test_a_request_for_another_version_is_rejected_with_400() -> None:
    answer = await Validator(Target.of(Widget), lambda w, r: None).admit(
        review(widget(), kind={"group": "widgets.example.com", "version": "v2", "kind": "Widget"})
    )
    assert (answer.status or {})["code"] == 400
    assert "version 'v2'" in (answer.status or {})["message"]


async def test_validator_sees_the_old_object_on_update_and_the_deleted_one_on_delete() -> None:
    seen: list[tuple[str, int, Any]] = []

    def validate(w: Widget, request: AdmissionRequest) -> None:
        seen.append((request.operation, w.spec.size, request.old and request.old.spec.size))

    handler = Validator(Target.of(Widget), validate, operations=("UPDATE", "DELETE"))
    await handler.admit(review(widget(size=2), operation="UPDATE", old=widget(size=1)))
    await handler.admit(review(None, operation="DELETE", old=widget(size=4)))
    await handler.admit(review(widget(size=9)))  # CREATE is not among its operations
    assert seen == [("UPDATE", 2, 1), ("DELETE", 4, 4)]


async def test_a_kind_without_a_model_is_handled_as_a_dict() -> None:
    def default(pod: dict[str, Any], request: AdmissionRequest) -> None:
        pod["metadata"].setdefault("labels", {})["defaulted"] = "yes"

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    answer = await Defaulter(Target("", "v1", "Pod"), default).admit(
        review(pod, kind={"group": "", "version": "v1", "kind": "Pod"})
    )
    assert answer.patch == [{"op": "add", "path": "/metadata/labels", "value": {"defaulted": "yes"}}]
    assert "labels" not in pod["metadata"]
