"""One client library, one benchmark phase, in its own process (so CPU time and peak RSS are its own).

Run by ``bench/client/run.py``; prints one JSON line (the result) as the last line of stdout.

    worker.py --variant kubeloop --phase list --kubeconfig K --namespace bench-list --count 10000

Variants: ``kubeloop``; ``kubernetes_asyncio`` (typed models, the library's default) and
``kubernetes_asyncio-raw`` (``_preload_content=False`` + ``json.loads``); ``kr8s`` (``APIObject``s via
``api.async_get`` / ``obj.create()``) and ``kr8s-raw`` (``api.call_api`` + ``response.json()``);
``kubernetes`` (official, sync, typed models) and ``kubernetes-raw`` (``_preload_content=False`` +
``json.loads``); the sync client gets concurrency from a thread pool and one thread per watch.
``kubeloop-http1`` (watch phase) is kubeloop with ``http2_watches=False``: one HTTP/1.1 connection per watch
instead of HTTP/2 streams. ``wire`` (list and create phases) is no client but the server's ceiling: an
aiohttp session over the same TLS that sends and reads bytes and decodes nothing.

Every client: no client-side rate limit (only kubeloop has one; it is turned off), connection pool at
least as large as the concurrency (and the number of watches), the same request bodies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import resource
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

POOL = 4096  # connection-pool size given to every library that has one (>= watches and concurrency)


def configmap(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """The object every client creates (and the seed): ~0.6 KiB of JSON as stored."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "bench", **(labels or {})}},
        "data": {
            "config.yaml": "".join(f"key{i}: value-{i:04d}\n" for i in range(12)),
            "owner": "kubeloop-bench",
        },
    }


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    """Peak RSS of this process: ``VmHWM``. (``ru_maxrss`` survives ``exec`` on Linux, so a worker would
    report its parent's peak when that is larger.)"""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------------------------- drivers
# Async drivers: list_all(ns, page) -> items decoded; create(body); watch(ns, selector, rv, on_added);
# latest_rv(ns); optionally open_watches() -> watches open when they are not one TCP connection each (else
# None). The sync driver (official client) has the same methods, blocking.


class Kubeloop:
    name = "kubeloop"

    def __init__(self, http2: bool = True) -> None:
        self.http2 = http2

    async def setup(self, kubeconfig: str) -> None:
        from kubeloop.client import Client, ClientSettings

        settings = ClientSettings(qps=None, http2_watches=self.http2)
        self.c = await Client.load(kubeconfig, settings=settings)

    def open_watches(self) -> int | None:
        """Watches open as HTTP/2 streams; None while no HTTP/2 connection is open (HTTP/1.1: one each)."""
        t = self.c.transport
        return t.http2_streams if t.http2_connections > 0 else None

    async def list_all(self, ns: str, page: int) -> int:
        n = 0
        async for _item in self.c.list_items("configmaps", namespace=ns, page_size=page):
            n += 1
        return n

    async def create(self, body: dict[str, Any]) -> None:
        await self.c.create(body)

    async def latest_rv(self, ns: str) -> str:
        return str((await self.c.list("configmaps", namespace=ns, limit=1))["metadata"]["resourceVersion"])

    async def watch(self, ns: str, selector: str, rv: str, on_added: Callable[[], None]) -> None:
        async for ev in self.c.watch(
            "configmaps", namespace=ns, label_selector=selector, resource_version=rv
        ):
            if ev.type == "ADDED":
                on_added()

    async def close(self) -> None:
        await self.c.close()


class KubernetesAsyncio:
    name = "kubernetes_asyncio"

    def __init__(self, raw: bool) -> None:
        self.raw = raw

    async def setup(self, kubeconfig: str) -> None:
        from kubernetes_asyncio import client, config

        conf = client.Configuration()
        await config.load_kube_config(config_file=kubeconfig, client_configuration=conf)
        conf.connection_pool_maxsize = POOL  # default 100: too few for 1,000 watches
        self.api = client.ApiClient(conf)
        self.v1 = client.CoreV1Api(self.api)

    async def list_all(self, ns: str, page: int) -> int:
        n, token = 0, None
        while True:
            if self.raw:
                resp = await self.v1.list_namespaced_config_map(
                    ns, limit=page, _continue=token, _preload_content=False
                )
                doc = json.loads(await resp.read())
                n += len(doc["items"])
                token = doc["metadata"].get("continue")
            else:
                lst = await self.v1.list_namespaced_config_map(ns, limit=page, _continue=token)
                n += len(lst.items)
                token = lst.metadata._continue
            if not token:
                return n

    async def create(self, body: dict[str, Any]) -> None:
        ns = body["metadata"]["namespace"]
        if self.raw:
            resp = await self.v1.create_namespaced_config_map(ns, body, _preload_content=False)
            data = await resp.read()
            if resp.status >= 300:
                raise RuntimeError(f"create: HTTP {resp.status}: {data[:200]!r}")
            json.loads(data)
        else:
            await self.v1.create_namespaced_config_map(ns, body)

    async def latest_rv(self, ns: str) -> str:
        return str((await self.v1.list_namespaced_config_map(ns, limit=1)).metadata.resource_version)

    async def watch(self, ns: str, selector: str, rv: str, on_added: Callable[[], None]) -> None:
        from kubernetes_asyncio import watch

        async with watch.Watch().stream(
            self.v1.list_namespaced_config_map, ns, label_selector=selector, resource_version=rv
        ) as stream:
            async for ev in stream:
                if ev["type"] == "ADDED":
                    on_added()

    async def close(self) -> None:
        await self.api.close()


class Kr8s:
    name = "kr8s"

    def __init__(self, raw: bool) -> None:
        self.raw = raw

    async def setup(self, kubeconfig: str) -> None:
        import httpx
        import kr8s.asyncio

        self.api = await kr8s.asyncio.api(kubeconfig=kubeconfig)
        # kr8s exposes no pool size; its httpx default (100 connections, 20 kept alive) would queue
        # watches past 100 and re-handshake TLS past 20 in flight. Same client, larger pool.
        old = self.api._session
        assert old is not None
        self.api._session = httpx.AsyncClient(
            base_url=old.base_url,
            headers=old.headers,
            verify=await self.api.auth.ssl_context(),
            timeout=self.api._timeout,
            follow_redirects=True,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
        )
        await old.aclose()

    async def list_all(self, ns: str, page: int) -> int:
        n = 0
        if self.raw:
            params: dict[str, Any] = {"limit": page}
            while True:
                async with self.api.call_api(
                    "GET", version="v1", namespace=ns, url="configmaps", params=params
                ) as r:
                    doc = r.json()
                n += len(doc["items"])
                token = doc["metadata"].get("continue")
                if not token:
                    return n
                params["continue"] = token
        # the idiomatic call; kr8s fixes its page size at 100 (not settable). The class, not "configmaps":
        # a string kind costs a discovery lookup per call (per page, per watch)
        from kr8s.asyncio.objects import ConfigMap

        async for _obj in self.api.async_get(ConfigMap, namespace=ns):
            n += 1
        return n

    async def create(self, body: dict[str, Any]) -> None:
        if self.raw:
            ns = body["metadata"]["namespace"]
            async with self.api.call_api(
                "POST", version="v1", namespace=ns, url="configmaps", content=json.dumps(body)
            ) as r:
                r.json()
        else:
            from kr8s.asyncio.objects import ConfigMap

            await ConfigMap(body, api=self.api).create()

    async def latest_rv(self, ns: str) -> str:
        async with self.api.call_api(
            "GET", version="v1", namespace=ns, url="configmaps", params={"limit": 1}
        ) as r:
            return str(r.json()["metadata"]["resourceVersion"])

    async def watch(self, ns: str, selector: str, rv: str, on_added: Callable[[], None]) -> None:
        from kr8s.asyncio.objects import ConfigMap

        async for kind, _obj in self.api.async_watch(
            ConfigMap,
            namespace=ns,
            label_selector=selector,
            since=rv,  # type: ignore[arg-type]
        ):
            if kind == "ADDED":
                on_added()

    async def close(self) -> None:
        if self.api._session is not None:
            await self.api._session.aclose()


class KubernetesSync:
    """The official client: blocking calls; concurrency from threads."""

    name = "kubernetes"

    def __init__(self, raw: bool) -> None:
        self.raw = raw

    def setup(self, kubeconfig: str) -> None:
        from kubernetes import client, config

        conf = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=conf)
        conf.connection_pool_maxsize = POOL  # default cpu_count*5
        self.api = client.ApiClient(conf)
        self.v1 = client.CoreV1Api(self.api)

    def list_all(self, ns: str, page: int) -> int:
        n, token = 0, None
        while True:
            if self.raw:
                resp = self.v1.list_namespaced_config_map(
                    ns, limit=page, _continue=token, _preload_content=False
                )
                doc = json.loads(resp.data)
                n += len(doc["items"])
                token = doc["metadata"].get("continue")
            else:
                lst = self.v1.list_namespaced_config_map(ns, limit=page, _continue=token)
                n += len(lst.items)
                token = lst.metadata._continue
            if not token:
                return n

    def create(self, body: dict[str, Any]) -> None:
        ns = body["metadata"]["namespace"]
        if self.raw:
            json.loads(self.v1.create_namespaced_config_map(ns, body, _preload_content=False).data)
        else:
            self.v1.create_namespaced_config_map(ns, body)

    def latest_rv(self, ns: str) -> str:
        return str(self.v1.list_namespaced_config_map(ns, limit=1).metadata.resource_version)

    def watch(self, ns: str, selector: str, rv: str, on_added: Callable[[], None]) -> None:
        from kubernetes import watch

        for ev in watch.Watch().stream(
            self.v1.list_namespaced_config_map, ns, label_selector=selector, resource_version=rv
        ):
            if ev["type"] == "ADDED":
                on_added()

    def close(self) -> None:
        pass


JSON_BODY = {"Content-Type": "application/json"}


def wire_ssl_context(cfg: Any) -> ssl.SSLContext:
    """TLS as the kubeconfig says: trust its CA, present its client certificate (``cfg``: a ClientConfig)."""
    if cfg.insecure_skip_tls_verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cadata=cfg.ca_data.decode() if cfg.ca_data else None)
    if cfg.client_cert_data and cfg.client_key_data:
        with tempfile.TemporaryDirectory() as tmp:  # load_cert_chain reads only files
            cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
            cert.write_bytes(cfg.client_cert_data)
            key.write_bytes(cfg.client_key_data)
            ctx.load_cert_chain(cert, key)
    return ctx


def decode_floor(blobs: list[bytes], ops: int) -> float:
    """CPU seconds per operation to decode ``blobs`` (what the server sent for ``ops`` operations) with
    orjson alone, best of 5: the floor below which no Python client that hands out objects can go."""
    import orjson

    best = math.inf
    for _ in range(5):
        c0 = time.process_time()
        for blob in blobs:
            orjson.loads(blob)
        best = min(best, time.process_time() - c0)
    return best / ops


class Wire:
    """The server's ceiling, not a client: aiohttp over the same TLS, bytes out and bytes in, nothing decoded
    (items are counted with ``bytes.count``, the continue token taken with a regex). It keeps the bytes it
    read (``blobs``) for the decode floor."""

    name = "wire"
    blobs: list[bytes]
    ITEM = b'{"metadata":{"name":'  # every item of a list starts so (TypeMeta is empty in list items)
    CONTINUE = re.compile(rb'"continue":"([^"]*)"')

    async def setup(self, kubeconfig: str) -> None:
        import aiohttp

        from kubeloop.client.config import load_kubeconfig

        cfg = load_kubeconfig(kubeconfig)
        ctx = wire_ssl_context(cfg)
        headers = {"Accept": "application/json"}
        if cfg.token:
            headers["Authorization"] = f"Bearer {cfg.token}"
        self.base = cfg.server.rstrip("/")
        self.blobs = []
        self.s = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ssl=ctx), headers=headers, raise_for_status=False
        )

    async def list_all(self, ns: str, page: int) -> int:
        url = f"{self.base}/api/v1/namespaces/{ns}/configmaps"
        n, params = 0, {"limit": str(page)}
        while True:
            async with self.s.get(url, params=params) as r:
                data = await r.read()
                if r.status >= 300:
                    raise RuntimeError(f"list: HTTP {r.status}: {data[:200]!r}")
            self.blobs.append(data)
            n += data.count(self.ITEM)
            m = self.CONTINUE.search(data, 0, 2048)
            if not m or not m.group(1):
                return n
            params["continue"] = m.group(1).decode()

    async def create(self, body: dict[str, Any]) -> None:
        import orjson

        ns = body["metadata"]["namespace"]
        url = f"{self.base}/api/v1/namespaces/{ns}/configmaps"
        async with self.s.post(url, data=orjson.dumps(body), headers=JSON_BODY) as r:
            data = await r.read()
            if r.status >= 300:
                raise RuntimeError(f"create: HTTP {r.status}: {data[:200]!r}")
            self.blobs.append(data)

    async def latest_rv(self, ns: str) -> str:
        raise SystemExit("wire has no watch phase")

    async def watch(self, ns: str, selector: str, rv: str, on_added: Callable[[], None]) -> None:
        raise SystemExit("wire has no watch phase")

    async def close(self) -> None:
        await self.s.close()


def make_driver(variant: str) -> Any:
    lib, _, flavour = variant.partition("-")  # "kr8s-raw", "kubeloop-http1"; "kubernetes_asyncio" has none
    if variant == "wire":
        return Wire()
    if lib == "kubeloop" and flavour in ("", "http1"):
        return Kubeloop(http2=flavour != "http1")
    if flavour in ("", "raw"):
        raw = flavour == "raw"
        if lib == "kubernetes_asyncio":
            return KubernetesAsyncio(raw)
        if lib == "kr8s":
            return Kr8s(raw)
        if lib == "kubernetes":
            return KubernetesSync(raw)
    raise SystemExit(f"unknown variant {variant}")


# ---------------------------------------------------------------------------------------------- phases


class Meter:
    """Wall and process CPU time (all threads) of a block."""

    def __enter__(self) -> Meter:
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0


async def run_many(n: int, concurrency: int, op: Callable[[int], Awaitable[None]]) -> None:
    """``op(0..n-1)`` with ``concurrency`` in flight (``concurrency`` workers pulling indexes)."""
    it = iter(range(n))

    async def worker() -> None:
        for i in it:
            await op(i)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))


def run_many_sync(n: int, concurrency: int, op: Callable[[int], None], pool: ThreadPoolExecutor) -> None:
    for _ in pool.map(op, range(n)):
        pass


class Phase:
    def __init__(self, args: argparse.Namespace, driver: Any) -> None:
        self.a, self.d = args, driver
        self.sync = isinstance(driver, KubernetesSync)
        self.pool = ThreadPoolExecutor(args.concurrency) if self.sync else None

    async def call(self, fn: str, *args: Any) -> Any:
        """A driver method: awaited (async drivers) or called inline (the sync driver, as its users would)."""
        result = getattr(self.d, fn)(*args)
        return await result if not self.sync else result

    async def creates(
        self, prefix: str, n: int, concurrency: int, labels: Callable[[int], dict[str, str]]
    ) -> None:
        ns = self.a.namespace

        def body(i: int) -> dict[str, Any]:
            return configmap(f"{prefix}-{i:05d}", ns, labels(i))

        if self.sync:
            if concurrency == 1:
                for i in range(n):
                    self.d.create(body(i))
            else:
                assert self.pool is not None
                await asyncio.to_thread(
                    run_many_sync, n, concurrency, lambda i: self.d.create(body(i)), self.pool
                )
        else:
            await run_many(n, concurrency, lambda i: self.d.create(body(i)))

    async def list(self) -> dict[str, Any]:
        a = self.a
        got = await self.call("list_all", a.namespace, a.page)  # warm-up round (discovery, connections)
        if got != a.count:
            raise RuntimeError(f"listed {got} ConfigMaps, expected {a.count}")
        walls, cpus = [], []
        for _ in range(a.rounds):
            with Meter() as m:
                await self.call("list_all", a.namespace, a.page)
            walls.append(m.wall)
            cpus.append(m.cpu)
        wall = statistics.median(walls)
        return {
            "ops": a.count,
            "wall": wall,
            "cpu": statistics.median(cpus),
            "rate": a.count / wall,
            "walls": walls,
            **self.floor(a.count * (a.rounds + 1)),
        }

    def floor(self, ops: int) -> dict[str, float]:
        """The decode floor of the bytes the wire read for ``ops`` operations (other variants: none)."""
        if not isinstance(self.d, Wire):
            return {}
        return {"floor_cpu_op": decode_floor(self.d.blobs, ops)}

    async def create(self, concurrency: int) -> dict[str, Any]:
        a = self.a
        tag = f"{'s' if concurrency == 1 else 'c'}-{a.variant.replace('_', '-')}-{a.tag}"
        await self.creates(f"warm-{tag}", a.warmup, concurrency, lambda i: {})
        with Meter() as m:
            await self.creates(tag, a.count, concurrency, lambda i: {})
        result = {"ops": a.count, "wall": m.wall, "cpu": m.cpu, "rate": a.count / m.wall}
        return result | self.floor(a.count + a.warmup)

    async def watch(self) -> dict[str, Any]:
        import psutil

        a, d = self.a, self.d
        ns, n = a.namespace, a.count
        slug = a.variant.replace("_", "-")
        selector = [f"bench-watch={slug}-{i:05d}" for i in range(n)]
        rv = await self.call("latest_rv", ns)
        received = [0]
        lock = threading.Lock()

        def on_added() -> None:
            with lock:
                received[0] += 1

        errors: list[str] = []
        rss_before = rss_mib()
        c_before = time.process_time()
        t0 = time.perf_counter()
        tasks: list[asyncio.Task[None]] = []
        if self.sync:

            def hold(i: int) -> None:
                try:
                    d.watch(ns, selector[i], rv, on_added)
                except Exception as e:
                    errors.append(repr(e))

            for i in range(n):
                threading.Thread(target=hold, args=(i,), daemon=True).start()
        else:

            async def hold_async(i: int) -> None:
                try:
                    await d.watch(ns, selector[i], rv, on_added)
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    errors.append(repr(e))

            tasks = [asyncio.create_task(hold_async(i)) for i in range(n)]
        # established: the watches open. Over HTTP/1.1 one TCP connection to the API server per watch; a
        # driver multiplexing watches as HTTP/2 streams counts them itself (``open_watches``)
        me, port = psutil.Process(), a.server_port
        open_watches: Callable[[], int | None] = getattr(d, "open_watches", lambda: None)
        deadline = time.perf_counter() + max(60.0, n / 5)
        while True:
            conns = sum(
                1
                for c in me.net_connections("tcp")
                if c.raddr and c.raddr.port == port and c.status == "ESTABLISHED"
            )
            streams = open_watches()
            established = conns if streams is None else streams
            if established >= n or time.perf_counter() > deadline or errors:
                break
            await asyncio.sleep(0.2)
        ramp = time.perf_counter() - t0
        ramp_cpu = time.process_time() - c_before
        await asyncio.sleep(2.0)  # let the last requests be answered
        c_hold, w_hold = time.process_time(), time.perf_counter()
        await asyncio.sleep(a.duration)
        hold_cpu = time.process_time() - c_hold
        hold_wall = time.perf_counter() - w_hold
        rss_hold = rss_mib()
        # events still arrive: one create per watched selector, count the ADDED events received
        await self.creates(f"w-{slug}", n, a.concurrency, lambda i: {"bench-watch": f"{slug}-{i:05d}"})
        t_ev = time.perf_counter()
        # polled: the official client's watch threads count too, and an Event is not thread-safe
        while received[0] < n and time.perf_counter() - t_ev < 30:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        delivered = time.perf_counter() - t_ev
        for t in tasks:
            t.cancel()
        return {
            "ops": n,
            "established": established,
            "connections": conns,
            "ramp": ramp,
            "ramp_cpu": ramp_cpu,
            "wall": hold_wall,
            "cpu": hold_cpu,
            "rss_hold": rss_hold,
            "rss_added": rss_hold - rss_before,
            "received": received[0],
            "delivery_s": delivered,
            "errors": errors[:3],
            "error_count": len(errors),
        }


async def amain(a: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    driver = make_driver(a.variant)
    rss_import0 = rss_mib()
    await (
        asyncio.to_thread(driver.setup, a.kubeconfig)
        if isinstance(driver, KubernetesSync)
        else driver.setup(a.kubeconfig)
    )
    phase = Phase(a, driver)
    base = {
        "variant": a.variant,
        "phase": a.phase,
        "rss_start": rss_import0,
        "rss_ready": rss_mib(),
        "setup_s": time.perf_counter() - t0,
    }
    if a.phase == "list":
        result = await phase.list()
    elif a.phase == "create-seq":
        result = await phase.create(1)
    elif a.phase == "create-con":
        result = await phase.create(a.concurrency)
    elif a.phase == "watch":
        result = await phase.watch()
    else:
        raise SystemExit(f"unknown phase {a.phase}")
    result.update(base)
    result["rss_peak"] = peak_rss_mib()
    result["cpu_total"] = time.process_time()
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--variant", required=True)
    p.add_argument("--phase", required=True, choices=["list", "create-seq", "create-con", "watch"])
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--namespace", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--page", type=int, default=500)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--server-port", type=int, default=0)
    p.add_argument("--tag", default="0", help="makes created names unique across repeats")
    p.add_argument("--profile", help="write cProfile stats of the phase to this file")
    a = p.parse_args()
    if a.profile:
        import cProfile

        prof = cProfile.Profile()
        result = prof.runcall(asyncio.run, amain(a))
        prof.dump_stats(a.profile)
    else:
        result = asyncio.run(amain(a))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # blocked watch threads (official client) never return on their own


if __name__ == "__main__":
    main()
