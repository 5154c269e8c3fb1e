"""The client's verbs given a custom resource's model class, against the real kube-apiserver: ``get``,
``list``, ``list_items`` and ``watch`` parse what the server sends into the model, ``apply`` takes the
model and returns it as stored; the same calls by name still return the server's dicts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from kubeloop import crd
from kubeloop.client import Client, WatchEvent
from kubeloop.testing import Kubectl, wait_for_crds


class SprocketSpec(crd.Model):
    """How many teeth."""

    teeth: int
    color: str = "grey"


@crd.resource(group="models.conformance.kubeloop.dev", version="v1")
class Sprocket(crd.CustomResource):
    """A resource read and written through its model."""

    spec: SprocketSpec


@pytest.fixture(scope="module")
def sprocket_crd(kubectl: Kubectl) -> Iterator[str]:
    name = Sprocket.resource_info().crd_name
    kubectl("apply", "-f", "-", input=crd.to_yaml([Sprocket]))
    wait_for_crds(kubectl, name)
    yield name
    kubectl("delete", "crd", name, "--ignore-not-found", "--wait=false")


def sprocket(name: str, namespace: str, teeth: int) -> Sprocket:
    return Sprocket(metadata=crd.ObjectMeta(name=name, namespace=namespace), spec=SprocketSpec(teeth=teeth))


async def test_get_list_watch_and_apply_through_a_model_class(
    client: Client, namespace: str, sprocket_crd: str
) -> None:
    applied = await client.apply(sprocket("a", namespace, 12), field_manager="models-test")
    assert isinstance(applied, Sprocket)
    assert applied.spec.teeth == 12
    assert applied.metadata.uid  # as stored: server-set metadata
    plain_a = await client.get(sprocket_crd, "a", namespace=namespace)
    assert plain_a["spec"] == {"teeth": 12, "color": "grey"}  # sent with the model's default

    got = await client.get(Sprocket, "a", namespace=namespace)
    assert isinstance(got, Sprocket)
    assert (got.spec, got.metadata.uid) == (applied.spec, applied.metadata.uid)

    await client.apply(sprocket("b", namespace, 30), field_manager="models-test")
    page = await client.list(Sprocket, namespace=namespace)
    assert all(isinstance(s, Sprocket) for s in page["items"])
    assert sorted((s.metadata.name, s.spec.teeth) for s in page["items"]) == [("a", 12), ("b", 30)]
    assert page["metadata"].get("resourceVersion")
    names = [s.metadata.name async for s in client.list_items(Sprocket, namespace=namespace, page_size=1)]
    assert sorted(names) == ["a", "b"]
    plain = await client.list(sprocket_crd, namespace=namespace)
    assert all(type(item) is dict for item in plain["items"])  # by name: the server's dicts, unparsed

    events: list[WatchEvent[Sprocket]] = []

    async def watch() -> None:
        stream = client.watch(
            Sprocket, namespace=namespace, resource_version=page["metadata"]["resourceVersion"]
        )
        async for event in stream:
            events.append(event)
            if event.type == "DELETED":
                return

    watching = asyncio.create_task(watch())
    await client.apply(sprocket("a", namespace, 13), field_manager="models-test")
    await client.delete(sprocket_crd, "b", namespace=namespace)
    await asyncio.wait_for(watching, 30)
    assert [(e.type, e.object.metadata.name, e.object.spec.teeth) for e in events] == [
        ("MODIFIED", "a", 13),
        ("DELETED", "b", 30),
    ]
    assert all(isinstance(e.object, Sprocket) for e in events)
    assert events[0].resource_version == events[0].object.metadata.resource_version  # from the wire object


async def test_a_model_watch_refuses_what_it_cannot_parse(client: Client, sprocket_crd: str) -> None:
    with pytest.raises(ValueError, match="initial-events"):
        await anext(client.watch(Sprocket, send_initial_events=True))
    with pytest.raises(ValueError, match="metadata-only"):
        await client.list(Sprocket, metadata_only=True)
