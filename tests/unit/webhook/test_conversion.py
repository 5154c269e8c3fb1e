"""CRD conversion along declared steps: ConversionReview in, converted objects out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from widgets import Widget, WidgetSpec, WidgetSpecV2, WidgetV2

from kubeloop import crd
from kubeloop.webhook import BadReview, ConversionError, Conversions

TAGS = "widgets.example.com/tags"


def to_v2(w: Widget) -> WidgetV2:
    v2 = WidgetV2(metadata=w.metadata, spec=WidgetSpecV2(replicas=w.spec.size, image=w.spec.image))
    if w.spec.tags:  # v2 has no tags: keep them in an annotation for the way back
        v2.metadata.annotations = {**(v2.metadata.annotations or {}), TAGS: ",".join(w.spec.tags)}
    return v2


def to_v1(w: WidgetV2) -> Widget:
    annotations = dict(w.metadata.annotations or {})
    tags = annotations.pop(TAGS, "")
    meta = w.metadata.model_copy(update={"annotations": annotations or None})
    return Widget(
        metadata=meta,
        spec=WidgetSpec(size=w.spec.replicas, image=w.spec.image, tags=tags.split(",") if tags else []),
    )


@pytest.fixture
def conversions() -> Conversions:
    c = Conversions()
    c.add(Widget, WidgetV2, to_v2)
    c.add(WidgetV2, Widget, to_v1)
    return c


def v1(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "widgets.example.com/v1",
        "kind": "Widget",
        "metadata": {
            "name": "w",
            "namespace": "ns",
            "uid": "u",
            "resourceVersion": "7",
            "labels": {"a": "b"},
        },
        "spec": spec,
    }


async def test_v1_converts_to_v2_keeping_metadata_and_setting_the_desired_api_version(
    conversions: Conversions,
) -> None:
    out = await conversions.convert(v1(size=3, image="nginx"), "widgets.example.com/v2")
    assert out == {
        "apiVersion": "widgets.example.com/v2",
        "kind": "Widget",
        "metadata": {
            "name": "w",
            "namespace": "ns",
            "uid": "u",
            "resourceVersion": "7",
            "labels": {"a": "b"},
        },
        "spec": {"replicas": 3, "image": "nginx"},
    }


async def test_a_round_trip_through_v2_gives_back_the_v1_object(conversions: Conversions) -> None:
    original = v1(size=3, image="nginx", tags=["x", "y"])
    there = await conversions.convert(original, "widgets.example.com/v2")
    assert there["metadata"]["annotations"] == {TAGS: "x,y"}
    assert await conversions.convert(there, "widgets.example.com/v1") == original


async def test_a_chain_of_steps_is_followed_when_there_is_no_direct_one() -> None:
    @crd.resource(group="widgets.example.com", version="v3", kind="Widget", storage=False)
    class WidgetV3(crd.CustomResource):
        spec: WidgetSpecV2

    c = Conversions()
    c.add(Widget, WidgetV2, to_v2)
    c.add(WidgetV2, WidgetV3, lambda w: WidgetV3(metadata=w.metadata, spec=w.spec))
    out = await c.convert(v1(size=2), "widgets.example.com/v3")
    assert out["apiVersion"] == "widgets.example.com/v3"
    assert out["spec"] == {"replicas": 2, "image": ""}


async def test_no_chain_is_a_conversion_error_naming_the_versions() -> None:
    c = Conversions()
    c.add(Widget, WidgetV2, to_v2)
    with pytest.raises(ConversionError, match=r"from v2 to v1 \(declared: v1→v2\)"):
        await c.convert(
            {**v1(), "apiVersion": "widgets.example.com/v2", "spec": {}}, "widgets.example.com/v1"
        )


def review(objects: list[Any], desired: str = "widgets.example.com/v2") -> bytes:
    return orjson.dumps(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "ConversionReview",
            "request": {"uid": "r-1", "desiredAPIVersion": desired, "objects": objects},
        }
    )


async def test_a_review_answers_success_with_every_object_converted(conversions: Conversions) -> None:
    doc = orjson.loads(await conversions.review(review([v1(size=1), v1(size=2)])))
    assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
    assert doc["kind"] == "ConversionReview"
    assert doc["response"]["uid"] == "r-1"
    assert doc["response"]["result"] == {"status": "Success"}
    assert [o["spec"]["replicas"] for o in doc["response"]["convertedObjects"]] == [1, 2]


async def test_a_failing_conversion_answers_failure_with_its_message() -> None:
    c = Conversions()
    c.add(Widget, WidgetV2, lambda w: 1 / 0)
    doc = orjson.loads(await c.review(review([v1()])))
    assert doc["response"]["result"]["status"] == "Failure"
    assert "ZeroDivisionError" in doc["response"]["result"]["message"]
    assert doc["response"]["convertedObjects"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty request body"),
        (b"{not json", "not JSON"),
        (b"[]", "JSON list"),
        (
            b'{"apiVersion": "apiextensions.k8s.io/v1", "kind": "AdmissionReview"}',
            "expected 'ConversionReview'",
        ),
        (
            b'{"apiVersion": "apiextensions.k8s.io/v2", "kind": "ConversionReview"}',
            "'apiextensions.k8s.io/v2' is not supported",
        ),
        (b'{"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview"}', "no request"),
    ],
    ids=["empty", "not-json", "not-object", "wrong-kind", "wrong-version", "no-request"],
)
async def test_a_body_that_is_not_a_conversion_review_is_a_bad_review(
    conversions: Conversions, body: bytes, message: str
) -> None:
    with pytest.raises(BadReview, match=message):
        await conversions.review(body)
