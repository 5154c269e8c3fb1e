"""The cache's memory savers on the real kube-apiserver: what an informer holds, values interned and
managedFields slimmed, equals what the server sent (minus ``fieldsV1``, which the slim transform
documents it drops), after the list and after watch events; and a reconcile reading the cache sees the
server's data."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from typing import Any

import pytest

import kubeloop as kl
from kubeloop.cache import Informer, InformerOptions, slim_managed_fields
from kubeloop.client import AlreadyExistsError, Client
from kubeloop.resources import core_v1
from kubeloop.testing import run_operator, until
from kubeloop.testing.fixtures import Cluster

N = 12


def pod(name: str, namespace: str) -> dict[str, Any]:
    """A Pod like one of a Deployment's."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": "web", "pod-template-hash": "7d9c5b6f4d"},
            "annotations": {"prometheus.io/port": "9090"},
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.com/team/web:1.27.3",
                    "args": ["--port=8080"],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "env": [{"name": "LOG_LEVEL", "value": "info"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }
            ],
            "terminationGracePeriodSeconds": 30,
        },
    }


def configmap(name: str, namespace: str, i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"}},
        "data": {"pod": f"web-{i}", "level": "info", "config.yaml": f"replicas: {i}\n" * 20},
    }


@pytest.fixture
async def objects(client: Client, namespace: str) -> None:
    with contextlib.suppress(AlreadyExistsError):  # Pods need it; kube-controller-manager may make it
        await client.create(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": namespace},
            }
        )
    await asyncio.gather(
        *(client.create(pod(f"web-{i}", namespace)) for i in range(N)),
        *(client.create(configmap(f"cm-{i}", namespace, i)) for i in range(N)),
    )
    await settled(client, namespace)


async def settled(client: Client, namespace: str) -> None:
    """Until the Pods are as the scheduler and the kubelet leave them (Running once bound, or never
    bound) and none changed for a second: the tests compare a cache with the server at one moment."""
    last: dict[str, str] = {}

    async def still() -> bool:
        pods = (await client.list("pods", namespace=namespace))["items"]
        now = {p["metadata"]["name"]: p["metadata"]["resourceVersion"] for p in pods}
        done = now == last and all(
            p.get("status", {}).get("phase") == "Running" or not p["spec"].get("nodeName") for p in pods
        )
        last.clear()
        last.update(now)
        return done

    await until(still, within=60, interval=1.0, what="the Pods settled")


async def served(client: Client, resource: str, namespace: str) -> dict[str, dict[str, Any]]:
    """The objects as the server lists them now, by name (with their ``apiVersion`` and ``kind``, which a
    list leaves to the list and the informer puts back)."""
    info = await client.resource(resource)
    page = await client.list(resource, namespace=namespace)
    return {
        o["metadata"]["name"]: {"apiVersion": info.api_version, "kind": info.kind, **o} for o in page["items"]
    }


async def matches_server(
    client: Client, informer: Informer, namespace: str, slim: bool
) -> list[dict[str, Any]]:
    """The informer's objects once each equals the server's (slimmed when ``slim``): the server's list
    and the cache can be a watch event apart, so compare until they agree."""
    last: list[str] = []

    async def agree() -> bool:
        server = await served(client, informer.resource.plural, namespace)
        cached = {o["metadata"]["name"]: o for o in informer.list(namespace)}
        want = {
            name: slim_managed_fields(copy.deepcopy(o)) if slim else o
            for name, o in server.items()
            if name != "kube-root-ca.crt"
        }
        got = {name: o for name, o in cached.items() if name != "kube-root-ca.crt"}
        last[:] = sorted(n for n in want.keys() | got.keys() if want.get(n) != got.get(n))
        return not last

    try:
        await until(agree, what=f"{informer.resource.plural} in the cache equal to the server's", within=20)
    except AssertionError as e:
        raise AssertionError(f"{e}; these differ: {last}") from None
    return [o for o in informer.list(namespace) if o["metadata"]["name"] != "kube-root-ca.crt"]


def held_once(objs: list[dict[str, Any]], path: tuple[Any, ...]) -> bool:
    """Whether equal values at ``path`` are one and the same object across ``objs`` (all of them where
    the value is the same in every object; each group of equal ones where the servers' own writes made
    them differ, as managedFields entries written at different seconds)."""

    def at(o: Any) -> Any:
        for step in path:
            o = o[step]
        return o

    held: dict[str, set[int]] = {}
    for o in objs:
        held.setdefault(json.dumps(at(o), sort_keys=True), set()).add(id(at(o)))
    return all(len(ids) == 1 for ids in held.values())


@pytest.mark.usefixtures("objects")
async def test_cached_objects_hold_equal_values_once_and_equal_what_the_server_sent(
    client: Client, namespace: str
) -> None:
    informers = {
        (kind, slim): Informer(
            client,
            await client.resource(kind),
            InformerOptions(namespace=namespace, transform=slim_managed_fields if slim else None),
        )
        for kind in ("pods", "configmaps")
        for slim in (False, True)
    }
    tasks = [asyncio.create_task(i.run()) for i in informers.values()]
    try:
        await asyncio.gather(*(i.wait_synced() for i in informers.values()))
        for (kind, slim), informer in informers.items():
            objs = await matches_server(client, informer, namespace, slim)
            assert len(objs) == N
            assert held_once(objs, ("metadata", "namespace"))
            assert held_once(objs, ("metadata", "labels", "app"))
            assert len({id(o["metadata"]["name"]) for o in objs}) == N
            if kind == "pods":
                assert held_once(objs, ("spec", "containers", 0, "image"))
                assert held_once(objs, ("spec", "containers", 0, "ports", 0, "containerPort"))
                assert held_once(objs, ("spec", "containers", 0, "ports", 0, "protocol"))  # a default
            else:
                assert held_once(objs, ("data", "level"))
                assert len({id(o["data"]["config.yaml"]) for o in objs}) == N  # long: not interned
            if slim:
                assert held_once(objs, ("metadata", "managedFields"))
                assert all("fieldsV1" not in e for o in objs for e in o["metadata"]["managedFields"])

        # Watch events: changed objects are interned as they arrive, and equal the server's again.
        await asyncio.gather(
            *(
                client.patch(
                    kind,
                    name,
                    {"metadata": {"labels": {"app": "web-2", "tier": "front"}}},
                    namespace=namespace,
                )
                for kind, name in [("pods", f"web-{i}") for i in range(N // 2)]
                + [("configmaps", f"cm-{i}") for i in range(N // 2)]
            )
        )
        for (_, slim), informer in informers.items():
            objs = await matches_server(client, informer, namespace, slim)
            changed = [o for o in objs if o["metadata"]["labels"]["app"] == "web-2"]
            assert len(changed) == N // 2
            assert held_once(changed, ("metadata", "labels", "tier"))
            assert held_once(objs, ("metadata", "namespace"))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.usefixtures("objects")
async def test_a_reconcile_reading_the_interned_cache_sees_the_servers_data(
    cluster: Cluster, client: Client, namespace: str
) -> None:
    operator = kl.Operator("interned-cache-test", namespace=namespace)
    seen: dict[str, tuple[dict[str, str], dict[str, Any] | None]] = {}

    @operator.reconcile(core_v1.ConfigMap)
    async def reconcile(cm: core_v1.ConfigMap, ctx: kl.Context) -> None:
        data = dict(cm.get("data") or {})
        found = await ctx.get(core_v1.Pod, data["pod"]) if "pod" in data else None
        seen[cm["metadata"]["name"]] = (data, copy.deepcopy(dict(found["spec"])) if found else None)

    async with run_operator(operator, cluster.kubeconfig):
        await until(lambda: all(f"cm-{i}" in seen for i in range(N)), what="every ConfigMap reconciled")
    pods = await served(client, "pods", namespace)
    configmaps = await served(client, "configmaps", namespace)
    for i in range(N):
        data, spec = seen[f"cm-{i}"]
        assert data == configmaps[f"cm-{i}"]["data"]
        assert spec == pods[f"web-{i}"]["spec"]
