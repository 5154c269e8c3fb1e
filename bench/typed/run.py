"""Typed kinds: what typing a built-in object costs, kubeloop's TypedDicts vs plain dicts (today) and vs the
model libraries (lightkube-models, kube-models, the official client's models).

One control plane (etcd + kube-apiserver on loopback) holds N Deployments (default 10,000) shaped like the
AppService example's. Phases, each timed with CPU time (``time.process_time``) in this process:

- construction: building the AppService Deployment, N times, in each library's idiomatic form;
- get from cache: ``ctx.get`` of every Deployment from a synced informer, typed kind vs string reference;
  the peers have no cache of dicts, so their row is what handing out one cached dict as their model
  costs (``from_dict`` / deserialize of one object);
- list: one list of the N Deployments: kubeloop's ``client.list`` typed vs by string over the wire, and
  every library's decode of the same response body into its typed form;
- watch events: a watch-list (``sendInitialEvents``) of the N Deployments through ``client.watch``, typed
  kind vs string reference.

    .venv/bin/python bench/typed/run.py                 # full run: writes docs/benchmarks/typed.md and the
                                                        #   typed section of docs/benchmarks.md
    .venv/bin/python bench/typed/run.py --count 1000 --out /tmp/typed.md --summary /tmp/summary.md
    .venv/bin/python bench/typed/run.py --render bench/typed/last_results.json   # re-render the last run
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

import kubeloop as kl
from kubeloop.cache import Cache
from kubeloop.client import Client, ClientSettings
from kubeloop.controller import Request
from kubeloop.helpers import EventRecorder
from kubeloop.resources import apps_v1, core_v1, kind_of, validate
from kubeloop.testing import ControlPlane
from kubeloop.testing.versions import KUBERNETES_VERSION

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "typed-bench"
REPEATS = 5
Timing = dict[str, float | str]


def cpu(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """Least CPU seconds of ``fn`` over ``repeats`` runs (the run least disturbed by the machine), each
    started after a full garbage collection, so none pays for the garbage of the one before."""
    samples = []
    for _ in range(repeats):
        gc.collect()
        start = time.process_time()
        fn()
        samples.append(time.process_time() - start)
    return min(samples)


async def alternate(
    fns: dict[str, Callable[[], Awaitable[object]]], repeats: int = REPEATS
) -> dict[str, tuple[float, float]]:
    """Per name, the least (CPU seconds, wall seconds) over ``repeats`` rounds; the coroutines run in
    turn within each round, in reversed order every other round and after a full garbage collection,
    so a busy spell of the machine or the garbage of the previous run falls on all of them alike."""
    cpus: dict[str, list[float]] = {name: [] for name in fns}
    walls: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(repeats):
        order = list(fns.items()) if round_ % 2 == 0 else list(reversed(fns.items()))
        for name, fn in order:
            gc.collect()
            start, wall = time.process_time(), time.perf_counter()
            await fn()
            cpus[name].append(time.process_time() - start)
            walls[name].append(time.perf_counter() - wall)
    return {name: (min(cpus[name]), min(walls[name])) for name in fns}


# -- the object -----------------------------------------------------------------------------------------


def labels(i: int) -> dict[str, str]:
    return {"app.kubernetes.io/name": f"app-{i}", "app.kubernetes.io/managed-by": "bench"}


def build_dict(i: int) -> dict[str, Any]:
    """Today: a plain dict through the untyped ``Kind`` (what ``apps_v1.Deployment`` was)."""
    return PLAIN_KIND(
        metadata={"name": f"app-{i}", "labels": labels(i)},
        spec={
            "replicas": 2,
            "selector": {"matchLabels": labels(i)},
            "template": {
                "metadata": {"labels": labels(i)},
                "spec": {
                    "containers": [{"name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]
                },
            },
        },
    )


def build_typed(i: int) -> apps_v1.Deployment:
    container: core_v1.Container = {"name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}
    return apps_v1.Deployment(
        metadata={"name": f"app-{i}", "labels": labels(i)},
        spec={
            "replicas": 2,
            "selector": {"matchLabels": labels(i)},
            "template": {"metadata": {"labels": labels(i)}, "spec": {"containers": [container]}},
        },
    )


PLAIN_KIND = kind_of(apps_v1.Deployment)
assert PLAIN_KIND is not None


def lightkube_builder() -> Callable[[int], Any]:
    from lightkube.models.apps_v1 import DeploymentSpec
    from lightkube.models.core_v1 import Container, ContainerPort, PodSpec, PodTemplateSpec
    from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
    from lightkube.resources.apps_v1 import Deployment

    return lambda i: Deployment(
        metadata=ObjectMeta(name=f"app-{i}", labels=labels(i)),
        spec=DeploymentSpec(
            replicas=2,
            selector=LabelSelector(matchLabels=labels(i)),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels(i)),
                spec=PodSpec(
                    containers=[Container(name="app", image="nginx:1.27", ports=[ContainerPort(80)])]
                ),
            ),
        ),
    )


def _kube_models() -> Any:
    from kube_models.apis_apps_v1.io.k8s.api import apps
    from kube_models.apis_apps_v1.io.k8s.api.core import v1 as core

    return apps.v1, core


def kube_models_builder() -> Callable[[int], Any]:
    from kube_models.apis_apps_v1.io.k8s.apimachinery.pkg.apis.meta.v1 import LabelSelector, ObjectMeta

    apps, core = _kube_models()
    return lambda i: apps.Deployment(
        metadata=ObjectMeta(name=f"app-{i}", labels=labels(i)),
        spec=apps.DeploymentSpec(
            replicas=2,
            selector=LabelSelector(matchLabels=labels(i)),
            template=core.PodTemplateSpec(
                metadata=ObjectMeta(labels=labels(i)),
                spec=core.PodSpec(
                    containers=[
                        core.Container(
                            name="app", image="nginx:1.27", ports=[core.ContainerPort(containerPort=80)]
                        )
                    ]
                ),
            ),
        ),
    )


def official_builder() -> Callable[[int], Any]:
    from kubernetes import client as k

    return lambda i: k.V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=k.V1ObjectMeta(name=f"app-{i}", labels=labels(i)),
        spec=k.V1DeploymentSpec(
            replicas=2,
            selector=k.V1LabelSelector(match_labels=labels(i)),
            template=k.V1PodTemplateSpec(
                metadata=k.V1ObjectMeta(labels=labels(i)),
                spec=k.V1PodSpec(
                    containers=[
                        k.V1Container(
                            name="app", image="nginx:1.27", ports=[k.V1ContainerPort(container_port=80)]
                        )
                    ]
                ),
            ),
        ),
    )


# -- decoders: a dict (as the cache holds it) or a list body into each library's typed form -------------


def decoders() -> dict[str, tuple[Callable[[dict[str, Any]], Any], Callable[[bytes], Any]]]:
    """Per contender: (one cached dict -> typed object, list body -> typed items)."""
    out: dict[str, tuple[Callable[[dict[str, Any]], Any], Callable[[bytes], Any]]] = {}
    out["kubeloop (dict, today)"] = (lambda d: d, lambda body: orjson.loads(body)["items"])
    out["kubeloop typed (TypedDict)"] = (lambda d: d, lambda body: orjson.loads(body)["items"])
    out["kubeloop typed + validate()"] = (
        lambda d: validate(apps_v1.Deployment, d),
        lambda body: [validate(apps_v1.Deployment, d) for d in orjson.loads(body)["items"]],
    )
    try:
        from lightkube.resources.apps_v1 import Deployment as LkDeployment

        out["lightkube-models"] = (
            LkDeployment.from_dict,
            lambda body: [LkDeployment.from_dict(d) for d in json.loads(body)["items"]],
        )
    except ImportError as err:
        out["lightkube-models"] = _failed(err)
    try:
        apps, _ = _kube_models()
        eager = apps.Deployment.from_dict

        def kube_models_full(d: dict[str, Any]) -> Any:
            return eager(d, lazy=False)

        out["kube-models (lazy)"] = (
            eager,
            lambda body: [eager(d) for d in orjson.loads(body)["items"]],
        )
        out["kube-models (eager)"] = (
            kube_models_full,
            lambda body: [kube_models_full(d) for d in orjson.loads(body)["items"]],
        )
    except ImportError as err:
        out["kube-models (lazy)"] = out["kube-models (eager)"] = _failed(err)
    try:
        from kubernetes.client import ApiClient

        api = ApiClient()
        deserialize = api._ApiClient__deserialize  # type: ignore[attr-defined]
        out["kubernetes (official)"] = (
            lambda d: deserialize(d, "V1Deployment"),
            lambda body: deserialize(json.loads(body), "V1DeploymentList").items,
        )
    except ImportError as err:
        out["kubernetes (official)"] = _failed(err)
    return out


def _failed(err: Exception) -> tuple[Callable[[dict[str, Any]], Any], Callable[[bytes], Any]]:
    def fail(_: object) -> Any:
        raise RuntimeError(f"not installed: {err}")

    return fail, fail


# -- phases ---------------------------------------------------------------------------------------------


def construction(count: int) -> dict[str, Timing]:
    builders: dict[str, Callable[[], Callable[[int], Any]]] = {
        "kubeloop (dict, today)": lambda: build_dict,
        "kubeloop typed (TypedDict)": lambda: build_typed,
        "kubeloop typed + validate()": lambda: lambda i: validate(apps_v1.Deployment, build_typed(i)),
        "lightkube-models": lightkube_builder,
        "kube-models": kube_models_builder,
        "kubernetes (official)": official_builder,
    }
    results: dict[str, Timing] = {}
    for name, factory in builders.items():
        try:
            build = factory()
            build(0)
            results[name] = {"cpu": cpu(lambda build=build: [build(i) for i in range(count)]) / count}
        except Exception as err:
            results[name] = {"error": f"{type(err).__name__}: {err}"}
    return results


async def seed(client: Client, count: int) -> None:
    await client.create(core_v1.Namespace(metadata={"name": NAMESPACE}))
    pending: set[asyncio.Task[object]] = set()
    for i in range(count):
        obj = build_typed(i)
        obj["metadata"]["namespace"] = NAMESPACE
        pending.add(asyncio.ensure_future(client.create(obj)))
        if len(pending) >= 50:
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.gather(*pending)


async def cache_gets(client: Client, count: int) -> dict[str, Timing]:
    cache = Cache(client)
    runner = asyncio.ensure_future(cache.run())
    try:
        informer = await cache.informer(apps_v1.Deployment, namespace=NAMESPACE)
        await informer.wait_synced()
        primary = informer.get(NAMESPACE, "app-0")
        assert primary is not None
        ctx = kl.Context(
            request=Request(NAMESPACE, "app-0"),
            obj=dict(primary),
            client=client,
            cache=cache,
            field_manager="bench",
            owned=[],
            recorder=EventRecorder(client, "bench"),
            logger=logging.getLogger("bench"),
        )
        names = [f"app-{i}" for i in range(count)]

        async def typed() -> None:
            for name in names:
                found = await ctx.get(apps_v1.Deployment, name)
                assert found is not None

        async def plain() -> None:
            for name in names:
                found = await ctx.get("apps/v1/Deployment", name)
                assert found is not None

        timed = await alternate({"kubeloop (dict, today)": plain, "kubeloop typed (TypedDict)": typed})
        results: dict[str, Timing] = {name: {"cpu": used / count} for name, (used, _) in timed.items()}
        cached = [informer.get(NAMESPACE, name) for name in names]
        for name, (one, _) in decoders().items():
            if name.startswith("kubeloop (") or name.startswith("kubeloop typed (T"):
                continue
            try:
                results[name] = {"cpu": cpu(lambda one=one: [one(d) for d in cached]) / count}
            except Exception as err:
                results[name] = {"error": f"{type(err).__name__}: {err}"}
        return results
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def lists(client: Client, plane: ControlPlane, count: int) -> tuple[dict[str, Timing], int]:
    results: dict[str, Timing] = {}

    async def typed() -> None:
        page = await client.list(apps_v1.Deployment, namespace=NAMESPACE)
        assert len(page["items"]) == count

    async def plain() -> None:
        page = await client.list("apps/v1/Deployment", namespace=NAMESPACE)
        assert len(page["items"]) == count

    timed = await alternate({"kubeloop (dict, today)": plain, "kubeloop typed (TypedDict)": typed})
    for name, (used, wall) in timed.items():
        results[name] = {"cpu": used, "wall": wall}
    body = await asyncio.to_thread(_list_body, plane)
    for name, (_, decode) in decoders().items():
        try:
            items = decode(body)
            assert len(items) == count
            results.setdefault(name, {})["decode"] = cpu(lambda decode=decode: decode(body))
        except Exception as err:
            results[name] = {"error": f"{type(err).__name__}: {err}"}
    return results, len(body)


def _list_body(plane: ControlPlane) -> bytes:
    import urllib.request

    url = f"{plane.server}/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
    with urllib.request.urlopen(url, context=plane.ssl_context(), timeout=120) as response:
        body: bytes = response.read()
        return body


async def watches(client: Client, count: int) -> dict[str, Timing]:
    async def run(ref: Any) -> None:
        seen = 0
        async for event in client.watch(ref, namespace=NAMESPACE, send_initial_events=True):
            if event.initial_events_end:
                break
            seen += event.type == "ADDED"
        assert seen == count, seen

    timed = await alternate(
        {
            "kubeloop (dict, today)": lambda: run("apps/v1/Deployment"),
            "kubeloop typed (TypedDict)": lambda: run(apps_v1.Deployment),
        }
    )
    return {name: {"cpu": used / count, "wall": wall} for name, (used, wall) in timed.items()}


# -- report ---------------------------------------------------------------------------------------------


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.2f} µs" if seconds < 1e-4 else f"{seconds * 1e6:,.0f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f} ms"


def ratio(value: float, base: float) -> str:
    return f"{value / base:,.2f}\u00d7" if base > 0 else "-"


def first_line(error: object) -> str:
    return str(error).splitlines()[0]


def per_object(rows: dict[str, Timing]) -> list[str]:
    """Table rows of a per-object phase: CPU per object and the ratio to today's."""
    base = float(rows["kubeloop (dict, today)"]["cpu"])
    return [
        f"| {name} | **failed**: {first_line(r['error'])} | |"
        if "error" in r
        else f"| {name} | {us(float(r['cpu']))} | {ratio(float(r['cpu']), base)} |"
        for name, r in rows.items()
    ]


def render(data: dict[str, Any]) -> tuple[str, str]:
    """(the full report, the summary section)."""
    count = data["count"]
    base = "kubeloop (dict, today)"
    lines = [
        "# Typed kinds: kubeloop's TypedDicts vs plain dicts and the model libraries",
        "",
        f"From `bench/typed/run.py` ({data['date']}): kube-apiserver {KUBERNETES_VERSION} + etcd on "
        f"loopback, {count:,} Deployments shaped like the AppService example's "
        f"(list body {data['body_bytes'] / 1e6:.1f} MB), CPU time of this process, "
        f"the least of {REPEATS} runs. "
        f"Versions: {data['versions']}.",
        "",
        "*kubeloop (dict, today)* is the untyped path (a string reference, the `Kind` that built plain "
        "dicts); *kubeloop typed* passes the TypedDict kind (`apps_v1.Deployment`): the objects are the "
        "same dicts, so the two rows differ only by noise. *validate()* is the optional check "
        "(pydantic over the TypedDict), paid only when asked for.",
        "",
        "## Construction (the AppService Deployment: metadata, selector, one container with a port)",
        "",
        "| library | per object | vs today |",
        "|---|---|---|",
    ]
    lines += per_object(data["construction"])
    lines += [
        "",
        "## Get from the cache (one object)",
        "",
        "kubeloop: `ctx.get(kind, name)` from a synced informer. The peers keep no cache of dicts; their row "
        "is what handing out one cached object as their model costs (`from_dict` / the official client's "
        "deserializer), the parse the cache would pay on every read to be typed their way.",
        "",
        "| library | per get | vs today |",
        "|---|---|---|",
    ]
    lines += per_object(data["gets"])
    lines += [
        "",
        f"## List of {count:,}",
        "",
        "*over the wire*: kubeloop's `client.list` of the namespace in one request (CPU of the client, and "
        "wall time with the server). *decode*: the same response body turned into each library's typed "
        "items (JSON parse included), CPU only.",
        "",
        "| library | over the wire (CPU / wall) | decode | decode vs today |",
        "|---|---|---|---|",
    ]
    rows = data["lists"]
    for name, r in rows.items():
        if "error" in r:
            lines.append(f"| {name} | **failed**: {first_line(r['error'])} | | |")
            continue
        wire = f"{ms(r['cpu'])} / {ms(r['wall'])}" if "wall" in r else "-"
        lines.append(f"| {name} | {wire} | {ms(r['decode'])} | {ratio(r['decode'], rows[base]['decode'])} |")
    lines += [
        "",
        f"## Watch events ({count:,} initial events of a watch-list)",
        "",
        "| library | CPU per event | wall for all | vs today |",
        "|---|---|---|---|",
    ]
    rows = data["watches"]
    for name, r in rows.items():
        lines.append(f"| {name} | {us(r['cpu'])} | {ms(r['wall'])} | {ratio(r['cpu'], rows[base]['cpu'])} |")
    lines += [
        "",
        "Rerun: `.venv/bin/python bench/typed/run.py` (peers from `pip install -e '.[bench]'`).",
        "",
    ]
    summary = summary_section(data)
    return "\n".join(lines), summary


def summary_section(data: dict[str, Any]) -> str:
    base, typed = "kubeloop (dict, today)", "kubeloop typed (TypedDict)"
    peers = {n: r for n, r in data["lists"].items() if not n.startswith("kubeloop") and "error" not in r}
    fastest = min(peers, key=lambda n: peers[n]["decode"]) if peers else None
    peer = (
        f"; the fastest model library, {fastest}, decodes it in {ms(peers[fastest]['decode'])}"
        if fastest
        else ""
    )
    return "\n".join(
        [
            "<!-- typed:begin -->",
            "## Typed kinds: TypedDicts over the cache's dicts",
            "",
            f"From `bench/typed/run.py` ({data['date']}), {data['count']:,} Deployments: "
            f"a cache `get` costs {us(data['gets'][typed]['cpu'])} typed vs "
            f"{us(data['gets'][base]['cpu'])} untyped, a watch event {us(data['watches'][typed]['cpu'])} vs "
            f"{us(data['watches'][base]['cpu'])}, "
            f"a list of {data['count']:,} decodes in {ms(data['lists'][typed]['decode'])} typed "
            f"(nothing is parsed beyond the JSON){peer}. "
            "Full tables (construction, get, list, watch; lightkube-models, kube-models, the official "
            "client): [benchmarks/typed.md](benchmarks/typed.md).",
            "<!-- typed:end -->",
        ]
    )


def write_summary(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(r"<!-- typed:begin -->.*?<!-- typed:end -->", re.S)
    text = pattern.sub(section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("lightkube-models", "kube-models", "kubernetes", "pydantic"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} not installed")
    return ", ".join(found)


async def measure(count: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "count": count,
        "date": datetime.date.today().isoformat(),
        "versions": versions(),
        "construction": construction(count),
    }
    with ControlPlane() as plane:
        async with await Client.load(plane.kubeconfig, settings=ClientSettings(qps=None)) as client:
            await seed(client, count)
            data["gets"] = await cache_gets(client, count)
            data["lists"], data["body_bytes"] = await lists(client, plane, count)
            data["watches"] = await watches(client, count)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "typed.md")
    parser.add_argument("--summary", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--render", type=Path, help="re-render a results file instead of measuring")
    args = parser.parse_args()
    if args.render:
        data = json.loads(args.render.read_text())
    else:
        data = asyncio.run(measure(args.count))
        (ROOT / "bench" / "typed" / "last_results.json").write_text(json.dumps(data, indent=1))
    report, summary = render(data)
    args.out.write_text(report)
    write_summary(args.summary, summary)
    print(report)


if __name__ == "__main__":
    main()
