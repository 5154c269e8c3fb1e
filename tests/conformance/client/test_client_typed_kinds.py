"""Typed kinds against the real kube-apiserver: every object the server holds validates against its
kind's types as the server sends it (nulls included), and typed reads hand back the very dicts of an
untyped read."""

from __future__ import annotations

import importlib
import pkgutil

import kubeloop.resources
from kubeloop.client import Client, MethodNotAllowedError, NotFoundError
from kubeloop.resources import core_v1, kind_of, validate
from kubeloop.testing.objects import deployment


def served_kinds() -> list[type]:
    kinds = []
    for module in pkgutil.iter_modules(kubeloop.resources.__path__):
        if module.name.startswith("_") or "alpha" in module.name or "beta" in module.name:
            continue  # the pinned server serves no alpha or beta group by default
        mod = importlib.import_module(f"kubeloop.resources.{module.name}")
        for name in mod.__all__:
            kind = kind_of(getattr(mod, name))
            if kind is not None and kind.plural:
                kinds.append(getattr(mod, name))
    return kinds


async def test_every_object_the_server_holds_validates_against_its_kind(
    client: Client, namespace: str
) -> None:
    await client.create(deployment("web", namespace))  # a pod template: null creationTimestamp
    checked = 0
    for typed in served_kinds():
        kind = kind_of(typed)
        assert kind is not None
        try:
            page = await client.list(typed)
        except (NotFoundError, MethodNotAllowedError):
            continue  # create-only kinds (reviews, bindings) cannot be listed
        for item in page["items"]:
            validate(typed, {**item, "apiVersion": kind.api_version, "kind": kind.kind})
            checked += 1
    assert checked > 50


async def test_a_typed_read_is_the_same_dict_as_an_untyped_one(client: Client, namespace: str) -> None:
    await client.create(core_v1.ConfigMap(metadata={"name": "same", "namespace": namespace}, data={"a": "b"}))
    typed = await client.get(core_v1.ConfigMap, "same", namespace=namespace)
    plain = await client.get("v1/ConfigMap", "same", namespace=namespace)
    assert typed == plain
    assert type(typed) is dict
    assert typed.get("data") == {"a": "b"}
