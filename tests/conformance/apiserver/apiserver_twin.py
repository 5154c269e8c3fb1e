"""Plain HTTPS requests to an API server (``Raw``) and to the real and the embedded one at once
(``Twin``), for tests that compare the embedded server's answers with the real kube-apiserver's."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml


@dataclass
class Answer:
    status: int
    body: Any
    warnings: list[str]

    def status_fields(self) -> dict[str, Any]:
        """What must match between the servers when the answer is a ``Status``: code, reason, message,
        details (name, group, kind, every cause's reason, message and field, in order)."""
        body = self.body
        assert isinstance(body, dict), body
        assert body.get("kind") == "Status", body
        return {
            "http": self.status,
            "code": body.get("code"),
            "reason": body.get("reason"),
            "message": body.get("message"),
            "details": body.get("details"),
        }


class Raw:
    """Plain HTTPS requests as a kubeconfig's user (client certificate or bearer token; none with
    ``anonymous``), with no client-side checks; ``headers`` go with every request (impersonation)."""

    def __init__(
        self,
        kubeconfig: Path,
        tmp: Path,
        *,
        anonymous: bool = False,
        headers: dict[str, str] | None = None,
        groups: tuple[str, ...] = (),
    ) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        self.server = cluster["server"]
        self.kubeconfig, self.tmp = kubeconfig, tmp
        self.headers = dict(headers or {})
        self.groups = groups
        self.http: aiohttp.ClientSession | None = None
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        self.ctx = ssl.create_default_context(cafile=str(tmp / "ca.crt"))
        if anonymous:
            return
        if "token" in user:
            self.headers["Authorization"] = f"Bearer {user['token']}"
            return
        for name, key in (("c.crt", "client-certificate-data"), ("c.key", "client-key-data")):
            (tmp / name).write_bytes(base64.b64decode(user[key]))
        self.ctx.load_cert_chain(str(tmp / "c.crt"), str(tmp / "c.key"))

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        """Keep one connection pool for the calls made inside (each call opens its own otherwise)."""
        async with aiohttp.ClientSession() as http:
            self.http = http
            try:
                yield
            finally:
                self.http = None

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[aiohttp.ClientSession]:
        if self.http is not None:
            yield self.http
        else:
            async with aiohttp.ClientSession() as http:
                yield http

    def impersonating(self, user: str, *groups: str) -> Raw:
        """The same identity asking to act as ``user`` (in ``groups``): ``Impersonate-*`` headers."""
        return Raw(self.kubeconfig, self.tmp, headers={"Impersonate-User": user}, groups=groups)

    async def call(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Answer:
        data = body if isinstance(body, (bytes, type(None))) else orjson.dumps(body)
        headers = [("Content-Type", content_type), *self.headers.items()]
        headers += [("Impersonate-Group", group) for group in self.groups]
        async with (
            self._session() as http,
            http.request(method, self.server + path, data=data, ssl=self.ctx, headers=headers) as resp,
        ):
            raw = await resp.read()
            try:
                decoded = orjson.loads(raw)
            except orjson.JSONDecodeError:
                decoded = raw.decode(errors="replace")
            return Answer(resp.status, decoded, resp.headers.getall("Warning", []))

    async def watch(self, path: str, last: Callable[[Any], bool], seconds: float = 10) -> Answer:
        """Read the watch at ``path``: its events up to the one ``last`` accepts (or the Status the
        request was refused with). Fails after ``seconds`` without it."""
        deadline = time.monotonic() + seconds
        async with (
            self._session() as http,
            http.get(self.server + path, ssl=self.ctx, headers=self.headers) as resp,
        ):
            if resp.status != 200:
                return Answer(resp.status, orjson.loads(await resp.read()), [])
            events = []
            while True:
                line = await asyncio.wait_for(resp.content.readline(), deadline - time.monotonic())
                assert line, f"the watch {path} ended after {events}"
                events.append(orjson.loads(line))
                if last(events[-1]):
                    return Answer(200, events, resp.headers.getall("Warning", []))

    async def send(
        self, method: str, path: str, body: bytes, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        answer = await self.call(method, path, body, content_type)
        return answer.status, answer.body


class Twin:
    """The same request to the real kube-apiserver and to the embedded server."""

    def __init__(self, real: Raw, embedded: Raw) -> None:
        self.real, self.embedded = real, embedded

    def impersonating(self, user: str, *groups: str) -> Twin:
        """Both servers' admin acting as ``user`` in ``groups`` (``Impersonate-User``/``-Group``)."""
        return Twin(self.real.impersonating(user, *groups), self.embedded.impersonating(user, *groups))

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        """One connection pool per server for the calls made inside."""
        async with self.real.connected(), self.embedded.connected():
            yield

    async def call(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[Answer, Answer]:
        return (
            await self.real.call(method, path, body, content_type),
            await self.embedded.call(method, path, body, content_type),
        )

    async def same_status(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Answer:
        """Send to both; the embedded server's Status must equal the real one's. Returns the real one."""
        real, embedded = await self.call(method, path, body, content_type)
        mine, theirs = embedded.status_fields(), real.status_fields()
        assert mine == theirs, f"embedded answered\n{mine}\nthe real server\n{theirs}"
        return real

    async def same_refusal(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Answer:
        """``same_status`` for a refused write, and the object at ``path`` (or the body's name under a
        collection ``path``) is what it was before on both servers: nothing stored half-written."""
        target = path.split("?")[0]
        if method == "POST":
            target = f"{target}/{body['metadata']['name']}"
        before = await self.call("GET", target)
        real = await self.same_status(method, path, body, content_type)
        assert real.status >= 400, real.body
        after = await self.call("GET", target)
        for server, old, new in zip(("real", "embedded"), before, after, strict=True):
            was, now = (old.status, _stored(old.body)), (new.status, _stored(new.body))
            assert now == was, f"changed on the {server} server by a refused write:\n{was}\n{now}"
        return real


_REVISION = "deployment.kubernetes.io/revision"


def _stored(body: Any) -> Any:
    """What a refused write must not have changed: the object without status and the metadata its
    controllers change (either server's controllers may update status and the revision meanwhile)."""
    if isinstance(body, dict) and body.get("kind") != "Status":
        md = {
            k: v for k, v in body.get("metadata", {}).items() if k not in ("resourceVersion", "managedFields")
        }
        # The deployment controller stamps its revision on its own time (a refused write may race it).
        annotations = {k: v for k, v in (md.get("annotations") or {}).items() if k != _REVISION}
        md.pop("annotations", None)
        if annotations:
            md["annotations"] = annotations
        return {**{k: v for k, v in body.items() if k != "status"}, "metadata": md}
    return body.get("reason") if isinstance(body, dict) else body


def deployment(name: str, **spec: Any) -> dict[str, Any]:
    """A valid Deployment (one nginx container, selected by ``app: a``) with ``spec`` laid over its spec;
    ``selector=None`` leaves the selector out."""
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": "a"}},
            "template": {
                "metadata": {"labels": {"app": "a"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    body["spec"].update(spec)
    if body["spec"]["selector"] is None:
        del body["spec"]["selector"]
    return body
