"""Widget: a kind in two versions, shared by the webhook unit tests."""

from __future__ import annotations

from kubeloop import crd


class WidgetSpec(crd.Model):
    size: int = 1
    image: str = ""
    tags: list[str] = crd.Field(default_factory=list)


@crd.resource(group="widgets.example.com", version="v1")
class Widget(crd.CustomResource):
    spec: WidgetSpec


class WidgetSpecV2(crd.Model):
    replicas: int = 1
    image: str = ""
    labels: dict[str, str] = crd.Field(default_factory=dict)


@crd.resource(group="widgets.example.com", version="v2", kind="Widget", storage=False)
class WidgetV2(crd.CustomResource):
    spec: WidgetSpecV2
