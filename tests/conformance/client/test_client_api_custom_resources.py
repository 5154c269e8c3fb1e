"""Custom resources: discovery of a CRD installed after the client started, and its status and scale
subresources, against the real kube-apiserver (the CRD is applied with the real kubectl)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kubeloop.client import Client, NotFoundError, UnknownResourceError
from kubeloop.testing import Kubectl, wait_for_crds


def widget_crd(group: str) -> str:
    return f"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget, shortNames: [wdg]}}
  versions:
    - name: v1
      served: true
      storage: true
      subresources:
        status: {{}}
        scale: {{specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                replicas: {{type: integer}}
                color: {{type: string}}
            status:
              type: object
              properties:
                replicas: {{type: integer}}
                phase: {{type: string}}
"""


@pytest.fixture
def widget_group(kubectl: Kubectl) -> Iterator[str]:
    """A unique API group name; its CRD (if a test installed it) is deleted afterwards."""
    group = f"g{uuid.uuid4().hex[:8]}.conformance.kubeloop.dev"
    yield group
    kubectl("delete", "crd", f"widgets.{group}", "--ignore-not-found", "--wait=false")


async def install(kubectl: Kubectl, group: str) -> None:
    await asyncio.to_thread(kubectl, "apply", "-f", "-", input=widget_crd(group))
    await asyncio.to_thread(wait_for_crds, kubectl, f"widgets.{group}")


def widget(group: str, name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


async def test_crd_installed_after_start_is_discovered_on_a_miss(
    client: Client, kubectl: Kubectl, namespace: str, widget_group: str
) -> None:
    await client.resource("configmaps")  # discovery is loaded and cached before the CRD exists
    with pytest.raises(UnknownResourceError):
        await client.resource(f"widgets.{widget_group}")
    with pytest.raises(NotFoundError) as missing:  # what code that handles a 404 catches
        await client.get(f"widgets.{widget_group}", "w1", namespace=namespace)
    assert isinstance(missing.value, UnknownResourceError)
    assert (missing.value.code, missing.value.reason) == (404, "NotFound")
    await install(kubectl, widget_group)
    res = await client.resource(f"widgets.{widget_group}")  # the miss makes the client read discovery again
    assert (res.group, res.version, res.kind, res.namespaced) == (widget_group, "v1", "Widget", True)
    assert res.short_names == ("wdg",)
    assert res.subresources == {"status", "scale"}
    created = await client.create(widget(widget_group, "w1", namespace, color="red"))
    assert created["spec"] == {"color": "red"}
    got = await client.get(f"{widget_group}/v1/Widget", "w1", namespace=namespace)
    assert got["metadata"]["uid"] == created["metadata"]["uid"]


async def test_status_subresource_is_written_apart_from_spec(
    client: Client, kubectl: Kubectl, namespace: str, widget_group: str
) -> None:
    await install(kubectl, widget_group)
    ref = f"widgets.{widget_group}"
    await client.create(widget(widget_group, "s1", namespace, replicas=1, color="red"))
    patched = await client.patch(
        ref, "s1", {"status": {"phase": "Ready"}}, namespace=namespace, subresource="status"
    )
    assert patched["status"] == {"phase": "Ready"}
    # writing the main resource ignores status
    current = await client.get(ref, "s1", namespace=namespace)
    current["status"] = {"phase": "Ignored"}
    current["spec"]["color"] = "blue"
    main = await client.replace(current)
    assert main["spec"]["color"] == "blue"
    assert main["status"] == {"phase": "Ready"}
    # writing status ignores spec
    via_status = await client.get(ref, "s1", namespace=namespace, subresource="status")
    via_status["status"] = {"phase": "Done"}
    via_status["spec"]["color"] = "green"
    replaced = await client.replace(via_status, subresource="status")
    assert replaced["status"] == {"phase": "Done"}
    assert replaced["spec"]["color"] == "blue"
    applied = await client.apply(
        {
            "apiVersion": f"{widget_group}/v1",
            "kind": "Widget",
            "metadata": {"name": "s1", "namespace": namespace},
            "status": {"phase": "Applied"},
        },
        field_manager="status-writer",
        subresource="status",
        force=True,
    )
    assert applied["status"]["phase"] == "Applied"


async def test_scale_subresource_of_a_custom_resource(
    client: Client, kubectl: Kubectl, namespace: str, widget_group: str
) -> None:
    await install(kubectl, widget_group)
    ref = f"widgets.{widget_group}"
    await client.create(widget(widget_group, "sc", namespace, replicas=2))
    scale = await client.get(ref, "sc", namespace=namespace, subresource="scale")
    assert (scale["kind"], scale["spec"]["replicas"]) == ("Scale", 2)
    await client.patch(ref, "sc", {"spec": {"replicas": 4}}, namespace=namespace, subresource="scale")
    assert (await client.get(ref, "sc", namespace=namespace))["spec"]["replicas"] == 4
