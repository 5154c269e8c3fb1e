"""``EmbeddedServer``: the HTTPS server, its certificates, its kubeconfig and its lifecycle.

Usage::

    async with EmbeddedServer() as server:          # in memory, a free loopback port
        print(server.kubeconfig)                    # admin kubeconfig (client certificate)

    EmbeddedServer(data_dir=Path(".kubeloop"), port=6443)  # persistent: SQLite + certificates kept
    EmbeddedServer(simulation=SimulationOptions(nodes=3))   # three simulated nodes (default one)

With ``data_dir`` the database (``state.db``), certificates and kubeconfig live there and survive
restarts; without it everything is in a temporary directory removed on stop. ``start_in_thread()``
runs the server on its own event loop in a daemon thread (for synchronous tests and tools) and returns
once it serves.

Guarantees: ``start()`` returns when the server accepts connections; ``stop()`` ends every watch,
closes the database and (without ``data_dir``) removes the temporary directory. If the built-in
controllers fail, the server stops serving rather than run without them: ``wait()`` raises the reason,
``failure`` holds it, ``stop()``/``stop_thread()`` raise it (``python -m kubeloop.apiserver`` exits 1).

Authentication and authorization as on a real cluster (``auth``): client certificates signed by the
server's CA (``user_kubeconfig``), service-account tokens from the TokenRequest API
(``service_account_kubeconfig``), the admin's bearer token, anonymous otherwise; RBAC over the
stored roles and bindings with the real server's default policy. The admin kubeconfig's user is in
``system:masters`` (cluster-admin).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import logging
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import yaml
from aiohttp import web

from kubeloop.apiserver.admission import Policies, Webhooks, default_chain
from kubeloop.apiserver.auth import (
    ADMIN,
    RBAC,
    Authenticator,
    Reviews,
    TokenIssuer,
    aggregated_rules,
    bootstrap_policy,
)
from kubeloop.apiserver.controllers import Controllers, SimulationOptions
from kubeloop.apiserver.http import Routes, access, status_errors
from kubeloop.apiserver.registry.types import Registry
from kubeloop.apiserver.rest.api import Api
from kubeloop.apiserver.rest.patch import json_patch
from kubeloop.apiserver.storage import Store
from kubeloop.certs import CertificateAuthority, write_signing_key

__all__ = ["EmbeddedServer"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedServer:
    """A Kubernetes-compatible API server on loopback (see module docstring)."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        durable: bool = False,
        simulation: SimulationOptions | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port or 0
        self.durable = durable
        self.simulation = simulation or SimulationOptions()
        self._dir: Path | None = None
        self._runner: web.AppRunner | None = None
        self._store: Store | None = None
        self._controllers: Controllers | None = None
        self._webhooks: Webhooks | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.token = ""
        self._api: Api | None = None
        self._registry: Registry | None = None
        self._tokens: TokenIssuer | None = None
        self.failure: BaseException | None = None
        """Why the server stopped by itself (its built-in controllers failed), else None."""
        self._ended: asyncio.Event | None = None
        self._halting: asyncio.Task[None] | None = None

    @property
    def directory(self) -> Path:
        if self._dir is None:
            raise RuntimeError("server not started")
        return self._dir

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (written on start)."""
        return self.directory / "kubeconfig"

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    # -- async lifecycle ---------------------------------------------------------------------------

    async def start(self) -> Self:
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._dir = self.data_dir
        else:
            self._dir = Path(tempfile.mkdtemp(prefix="kubeloop-apiserver-"))
        self._ensure_certs()
        if not self.port:
            self.port = _free_port()
        db = self._dir / "state.db" if self.data_dir is not None else None
        store = Store(db, durable=self.durable)
        await store.open()
        self._store = store
        registry = await asyncio.to_thread(Registry)
        self._webhooks = Webhooks(registry, json_patch, store)
        api = Api(store, default_chain(), self._webhooks, Policies(registry))
        await self._bootstrap(api, registry)
        store.compact()  # like a fresh watch cache: history starts now, older versions are 410 Gone
        self._controllers = Controllers(api, registry, (self._dir / "ca.crt").read_text(), self.simulation)
        self._ended = asyncio.Event()
        self._controllers.start()
        self._controllers.task.add_done_callback(self._controllers_ended)
        tokens = TokenIssuer((self._dir / "service-account.key").read_bytes(), store)
        self._api, self._registry, self._tokens = api, registry, tokens
        rbac = RBAC(store)
        app = web.Application(
            middlewares=[status_errors, access(Authenticator(self.token, tokens), rbac)],
            client_max_size=4 * 1024 * 1024,
        )
        Routes(api, registry, f"{self.host}:{self.port}", Reviews(rbac, tokens)).install(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.host, self.port, ssl_context=self._ssl_context(), reuse_address=True
        )
        await site.start()
        self._write_kubeconfig()
        return self

    async def wait(self) -> None:
        """Until the server stops; raises ``failure`` if it stopped by itself."""
        if self._ended is None:
            raise RuntimeError("server not started")
        await self._ended.wait()
        if self.failure is not None:
            raise self.failure

    def _controllers_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        self.failure = task.exception()
        log.error("embedded API server: stopping: the built-in controllers failed: %s", self.failure)
        self._halting = asyncio.create_task(self._halt())

    async def _halt(self) -> None:
        """Stop serving; ``stop()`` releases the rest (a thread's server releases it on its own)."""
        await self._stop_serving()
        if self._ended is not None:
            self._ended.set()

    async def stop(self) -> None:
        """Stop and release everything; raises ``failure`` (after the release) if there is one."""
        await self._release()
        if self.failure is not None:
            raise self.failure

    async def _release(self) -> None:
        if self._ended is not None:
            self._ended.set()
        if self._controllers is not None:
            await self._controllers.stop()
            self._controllers = None
        await self._stop_serving()
        if self._store is not None:
            await self._store.close()
            self._store = None
        if self._webhooks is not None:
            await self._webhooks.close()
            self._webhooks = None
        if self.data_dir is None and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    async def _stop_serving(self) -> None:
        """End every watch and request; the port closes."""
        if self._store is not None:
            self._store.close_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            await self.stop()
        else:
            await self._release()

    # -- thread variant ----------------------------------------------------------------------------

    def start_in_thread(self) -> Self:
        """Run the server on its own event loop in a daemon thread; returns once it serves."""
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_until_complete(self._serve_until_ended())
            loop.close()

        self._thread = threading.Thread(target=run, name="kubeloop-apiserver", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self

    async def _serve_until_ended(self) -> None:
        """A thread's server: until ``stop_thread()`` or a failure ends it, then the release. (Its loop
        is not stopped from outside: a stop arriving during the release would leave it half done.)"""
        assert self._ended is not None
        try:
            await self._ended.wait()
        finally:
            await self._release()

    def stop_thread(self) -> None:
        """Stop a server started with ``start_in_thread``; raises ``failure`` if it stopped by itself."""
        if self._loop is not None and self._thread is not None:
            ended = self._ended
            if ended is not None and not self._loop.is_closed():
                with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                    self._loop.call_soon_threadsafe(ended.set)
            self._thread.join(timeout=10)
            self._thread = None
        if self.failure is not None:
            raise self.failure

    def __enter__(self) -> Self:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()

    # -- internals ---------------------------------------------------------------------------------

    async def _bootstrap(self, api: Api, registry: Registry) -> None:
        from kubeloop.apiserver.rest.api import WriteOptions

        ns_rt = registry.get("", "v1", "namespaces")
        assert ns_rt is not None
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if api.store.get(("/namespaces", "", name)) is None:
                await api.create(
                    ns_rt, None, {"metadata": {"name": name}}, WriteOptions(manager="kube-apiserver")
                )
        svc_rt = registry.get("", "v1", "services")
        assert svc_rt is not None
        if api.store.get(("/services", "default", "kubernetes")) is None:
            await api.create(
                svc_rt,
                "default",
                {
                    "metadata": {
                        "name": "kubernetes",
                        "labels": {"component": "apiserver", "provider": "kubernetes"},
                    },
                    "spec": {
                        "clusterIP": "10.0.0.1",
                        "ports": [{"name": "https", "port": 443, "targetPort": self.port or 6443}],
                    },
                },
                WriteOptions(manager="kube-apiserver"),
            )
        await self._bootstrap_policy(api, registry)

    async def _bootstrap_policy(self, api: Api, registry: Registry) -> None:
        """The default RBAC policy's roles and bindings that are missing (aggregated roles filled)."""
        from kubeloop.apiserver.rest.api import WriteOptions

        roles, bindings = bootstrap_policy()
        for plural, objects in (("clusterroles", roles), ("clusterrolebindings", bindings)):
            rt = registry.get("rbac.authorization.k8s.io", "v1", plural)
            assert rt is not None
            for obj in objects:
                if api.store.get((rt.storage, "", obj["metadata"]["name"])) is None:
                    if plural == "clusterroles":
                        obj["rules"] = aggregated_rules(obj, roles) or obj.get("rules") or []
                    await api.create(rt, None, obj, WriteOptions(manager="kube-apiserver"))

    def _ensure_certs(self) -> None:
        d = self.directory
        if not (d / "ca.crt").exists():
            ca = CertificateAuthority("kubeloop-apiserver-ca")
            (d / "ca.crt").write_bytes(ca.cert_pem)
            ca.serving("127.0.0.1", "localhost").write(d, "serving")
            (d / "ca.key").write_bytes(ca.key_pem)
            (d / "ca.key").chmod(0o600)
            ca.client(ADMIN, ("system:masters",)).write(d, "admin")
            (d / "token").write_text(secrets.token_hex(24))
            (d / "token").chmod(0o600)
        if not (d / "service-account.key").exists():
            write_signing_key(d, "service-account")
        self.token = (d / "token").read_text().strip()

    # -- what a test of storage reads (as a test of the real control plane reads etcd) ---------------

    def stored(self, group: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object as the store holds it (a custom resource in its storage version), or None. From
        the server's thread or another one."""
        key = (f"{group}/{plural}" if group else f"/{plural}", namespace, name)

        def read(store: Store) -> dict[str, Any] | None:
            obj = store.get(key)
            return None if obj is None else copy.deepcopy(obj)

        return self._on_loop(read)

    def compact(self) -> None:
        """Forget the watch history, as the real server's etcd compaction does: a read or watch at an
        older resourceVersion is then 410 Gone. From the server's thread or another one."""
        self._on_loop(Store.compact)

    def _on_loop(self, fn: Callable[[Store], T]) -> T:
        """``fn(store)`` on the server's event loop's thread (now when called from it)."""
        store = self._store
        if store is None:
            raise RuntimeError("server not started")
        if self._loop is None or threading.current_thread() is self._thread:
            return fn(store)

        async def call() -> T:
            return fn(store)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=30)

    # -- identities ----------------------------------------------------------------------------------

    def user_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for ``user`` (in ``groups``) with a client certificate from the server's CA.

        The user has no permissions until RBAC grants them: for testing what an identity may do.
        """
        ca_key = self.directory / "ca.key"
        if not ca_key.exists():
            raise RuntimeError(
                f"{self.directory} has no CA key (made by an older kubeloop): no new identities"
            )
        ca = CertificateAuthority.load((self.directory / "ca.crt").read_bytes(), ca_key.read_bytes())
        pair = ca.client(user, groups)
        path = self.directory / f"user-{user}.kubeconfig"
        self._write_kubeconfig(
            path,
            {"client-certificate-data": _b64(pair.cert_pem), "client-key-data": _b64(pair.key_pem)},
            user,
        )
        return path

    def service_account_kubeconfig(self, namespace: str, name: str, *, duration: int = 86400) -> Path:
        """A kubeconfig authenticating as ServiceAccount ``namespace/name`` with a bearer token from the
        TokenRequest API (as a pod's would), creating the ServiceAccount if it does not exist.

        For a server started with ``start_in_thread`` (as the fixtures do), from another thread.
        """
        if self._loop is None or threading.current_thread() is self._thread:
            raise RuntimeError("service_account_kubeconfig needs a server started with start_in_thread()")
        made = asyncio.run_coroutine_threadsafe(
            self._service_account_token(namespace, name, duration), self._loop
        )
        token = made.result(timeout=30)
        path = self.directory / f"sa-{namespace}-{name}.kubeconfig"
        self._write_kubeconfig(path, {"token": token}, f"{namespace}-{name}")
        return path

    async def _service_account_token(self, namespace: str, name: str, duration: int) -> str:
        from kubeloop.apiserver.rest.api import WriteOptions

        assert self._api is not None
        assert self._registry is not None
        assert self._tokens is not None
        if self._api.store.get(("/serviceaccounts", namespace, name)) is None:
            rt = self._registry.get("", "v1", "serviceaccounts")
            assert rt is not None
            await self._api.create(
                rt, namespace, {"metadata": {"name": name}}, WriteOptions(manager="kubeloop")
            )
        answer = self._tokens.request(namespace, name, {"spec": {"expirationSeconds": duration}})
        token: str = answer["status"]["token"]
        return token

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.directory / "serving.crt"), str(self.directory / "serving.key"))
        ctx.load_verify_locations(str(self.directory / "ca.crt"))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx

    def _write_kubeconfig(
        self, path: Path | None = None, credentials: dict[str, str] | None = None, user: str = "admin"
    ) -> None:
        """The admin kubeconfig (``path`` None), or one at ``path`` for ``user`` with ``credentials``."""
        if credentials is None:
            credentials = {
                "client-certificate-data": _b64((self.directory / "admin.crt").read_bytes()),
                "client-key-data": _b64((self.directory / "admin.key").read_bytes()),
            }
        ca = _b64((self.directory / "ca.crt").read_bytes())
        config: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "kubeloop", "cluster": {"server": self.url, "certificate-authority-data": ca}}
            ],
            "users": [{"name": user, "user": credentials}],
            "contexts": [
                {"name": "kubeloop", "context": {"cluster": "kubeloop", "user": user, "namespace": "default"}}
            ],
            "current-context": "kubeloop",
        }
        target = path or self.kubeconfig
        # libyaml's emitter when PyYAML has it: the pure-Python one took 20 ms of a new process's start.
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        target.write_text(yaml.dump(config, Dumper=dumper, sort_keys=False))
        target.chmod(0o600)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
