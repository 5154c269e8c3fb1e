"""Typed kinds against the real kube-apiserver: every resource its discovery serves (less custom
resources) has a type, every object the server holds validates against its kind's types as the server
sends it (nulls included), and typed reads hand back the very dicts of an untyped read."""

from __future__ import annotations

import importlib
import pkgutil

import kubeloop.resources
from kubeloop.client import Client, MethodNotAllowedError, NotFoundError
from kubeloop.resources import apiextensions_v1, core_v1, kind_of, validate
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


def all_kinds() -> set[tuple[str, str, str]]:
    found = set()
    for module in pkgutil.iter_modules(kubeloop.resources.__path__):
        if module.name.startswith("_"):
            continue
        mod = importlib.import_module(f"kubeloop.resources.{module.name}")
        found |= {(k.group, k.version, k.kind) for k in map(kind_of, map(mod.__dict__.get, mod.__all__)) if k}
    return found


async def test_every_resource_the_server_serves_has_a_type(client: Client) -> None:
    crds = (await client.list(apiextensions_v1.CustomResourceDefinition))["items"]
    custom = {crd["spec"]["group"] for crd in crds}
    await client.mapper.refresh()
    served = [r for r in client.mapper.resources if r.group not in custom]
    typed = all_kinds()
    missing = [f"{r.group}/{r.version} {r.kind}" for r in served if (r.group, r.version, r.kind) not in typed]
    assert not missing, f"served by the pinned kube-apiserver, without a type: {missing}"
    assert len(served) > 50


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
    assert checked > 30  # the real server holds ~60 (its controllers' roles), the embedded ~40


async def test_a_typed_read_is_the_same_dict_as_an_untyped_one(client: Client, namespace: str) -> None:
    await client.create(core_v1.ConfigMap(metadata={"name": "same", "namespace": namespace}, data={"a": "b"}))
    typed = await client.get(core_v1.ConfigMap, "same", namespace=namespace)
    plain = await client.get("v1/ConfigMap", "same", namespace=namespace)
    assert typed == plain
    assert type(typed) is dict
    assert typed.get("data") == {"a": "b"}
