"""``HelmServer``: helm's install, upgrade, rollback and uninstall served by one long-lived process,
``helm-server`` (src/kubeloop/helm/server: Helm's own Go packages, built from its module as the helm
command is, ``kubeloop controlplane build helm-server``), instead of one helm process per operation.

The process keeps the API discovery, the cluster's capabilities and the charts' files between
releases; each request names the kubeconfig it writes through (the proxy's token of its reconcile),
so ownership and ``fieldValidation=Strict`` are as with the helm command, and releases are Helm's own
Secrets. Requests and answers are JSON lines on the process's stdin and stdout, answered by id, any
number in flight. A process that dies fails the requests in flight (``HelmError``: the reconcile
retries with backoff; what it left half-done is undone as any failed helm command's is) and the next
request starts another, after a backoff while it keeps dying. A request that outlasts ``timeout`` (a
render that hangs) restarts the process: Go cannot stop a template mid-render.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import orjson

from kubeloop.client import PatchType
from kubeloop.helm._helm import HelmError, Pair, Patch, Release, chart_digest
from kubeloop.queue import ItemExponentialBackoff

__all__ = ["HelmServer"]

log = logging.getLogger("kubeloop.helm.server")

RESTART_BACKOFF = (0.5, 30.0)
"""The first and the longest wait before starting the process again after it died (or failed to
start), doubling in between."""
STABLE_AFTER = 60.0
"""Seconds a process has to live for its death not to lengthen the next backoff."""
LINE_LIMIT = 256 * 1024 * 1024
"""The longest answer line (a release's manifest is in it)."""

Session = Callable[[Path], AbstractAsyncContextManager[Path]]
"""Gives a kubeconfig (written in the directory given) for the process's own requests (discovery)."""


class _Process:
    """One ``helm-server`` process, its session kubeconfig and the requests it has in flight."""

    def __init__(self, proc: asyncio.subprocess.Process, session: contextlib.AsyncExitStack) -> None:
        self.proc = proc
        self.session = session
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.started = time.monotonic()
        self.stderr: collections.deque[str] = collections.deque(maxlen=20)
        self.reader = asyncio.create_task(self._read(), name=f"helm-server-{proc.pid}")
        self.reason = ""
        self.ended = False

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        errors = asyncio.create_task(self._read_stderr())
        try:
            while line := await self.proc.stdout.readline():
                answer = orjson.loads(line)
                future = self.pending.pop(int(answer["id"]), None)
                if future is not None and not future.done():
                    future.set_result(answer)
        except (ValueError, KeyError, orjson.JSONDecodeError) as exc:
            self.reason = f"an answer that is not one: {exc}"
            self.proc.kill()
        finally:
            self.ended = True  # from here no request is sent to it
            code = await self.proc.wait()
            await errors
            said = " / ".join(self.stderr)
            why = self.reason or f"exit code {code}" + (f": {said}" if said else "")
            log.warning(
                "helm-server (pid %d) ended, %d requests in flight: %s", self.proc.pid, len(self.pending), why
            )
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(HelmError("server", f"the helm server ended ({why}); retrying"))
            self.pending.clear()
            await self.session.aclose()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.stderr.append(line.decode(errors="replace").rstrip())

    @property
    def alive(self) -> bool:
        return not self.ended

    async def kill(self, reason: str) -> None:
        """End the process now (the requests in flight fail) and wait until it is gone."""
        if self.alive:
            self.reason = reason
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        await asyncio.shield(self.reader)


class HelmServer:
    """Releases installed, upgraded, rolled back and uninstalled by ``helm-server`` at ``binary``
    (see the module docstring): ``Releases``, as ``Helm`` (the helm command) serves them."""

    def __init__(
        self,
        binary: str | Path,
        session: Session,
        directory: Path,
        *,
        timeout: float = 300.0,
        client_validation: bool = False,
    ) -> None:
        """``session``: a kubeconfig for the process's own discovery, entered for its life, in
        ``directory``. ``client_validation``: helm validates the objects against the OpenAPI schemas."""
        self.binary = str(binary)
        self.session = session
        self.directory = directory
        self.timeout = timeout
        self.client_validation = client_validation
        self._process: _Process | None = None
        self._starting = asyncio.Lock()
        self._ids = itertools.count(1)
        self._restarts = ItemExponentialBackoff(*RESTART_BACKOFF)
        self._not_before = 0.0

    async def __aenter__(self) -> HelmServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the process (its stdin closed, then killed if it does not end within 5 s)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.proc.stdin is not None:
            process.proc.stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(process.reader), 5.0)
        except TimeoutError:
            await process.kill("stopped")

    @property
    def pid(self) -> int | None:
        """The running process's id (None: none runs now)."""
        process = self._process
        return process.proc.pid if process is not None and process.alive else None

    @property
    def in_flight(self) -> int:
        """Requests the running process has not answered yet."""
        process = self._process
        return len(process.pending) if process is not None and process.alive else 0

    async def _running(self) -> _Process:
        async with self._starting:
            process = self._process
            if process is not None and process.alive:
                return process
            if process is not None:  # it died: wait longer each time it dies young
                if time.monotonic() - process.started > STABLE_AFTER:
                    self._restarts.forget(self)
                self._not_before = time.monotonic() + self._restarts.when(self)
                self._process = None
            await asyncio.sleep(max(0.0, self._not_before - time.monotonic()))
            self._process = process = await self._start()
            return process

    async def _start(self) -> _Process:
        stack = contextlib.AsyncExitStack()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            kubeconfig = await stack.enter_async_context(self.session(self.directory))
            proc = await asyncio.create_subprocess_exec(
                self.binary,
                "-kubeconfig",
                str(kubeconfig),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=LINE_LIMIT,
            )
        except BaseException as exc:
            await stack.aclose()
            self._not_before = time.monotonic() + self._restarts.when(self)
            if isinstance(exc, OSError):
                raise HelmError("server", f"cannot start {self.binary}: {exc}") from exc
            raise
        log.info("helm-server started (pid %d)", proc.pid)
        return _Process(proc, stack)

    async def _call(self, op: str, request: Mapping[str, Any]) -> dict[str, Any]:
        process = await self._running()
        if not process.alive:  # it ended after _running: the request was not sent, retry
            raise HelmError(op, "the helm server ended; retrying")
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        process.pending[ident] = future
        try:
            assert process.proc.stdin is not None
            process.proc.stdin.write(orjson.dumps({**request, "op": op, "id": ident}) + b"\n")
            with contextlib.suppress(ConnectionError):  # it died: the reader fails the future
                await process.proc.stdin.drain()
            try:
                answer = await asyncio.wait_for(asyncio.shield(future), self.timeout)
            except TimeoutError:
                # Nothing stops a render that hangs but the end of its process; the releases of the other
                # requests in flight are left as a failed helm command leaves them, and retried. This
                # request's future is given up first: the process's end would fail it, unretrieved.
                future.cancel()
                await process.kill(f"helm {op} {request.get('name')} took longer than {self.timeout:g} s")
                raise HelmError(
                    op, f"timed out after {self.timeout:g} s (the helm server was restarted)"
                ) from None
        finally:
            process.pending.pop(ident, None)
        if answer.get("error"):
            raise HelmError(op, str(answer["error"]))
        return answer

    def _request(self, kubeconfig: Path, name: str, namespace: str, **more: Any) -> dict[str, Any]:
        return {"kubeconfig": str(kubeconfig), "name": name, "namespace": namespace, **more}

    async def install(
        self,
        kubeconfig: Path,
        name: str,
        namespace: str,
        chart: Path,
        values: Mapping[str, Any],
        *,
        labels: Mapping[str, str] | None = None,
    ) -> Release:
        answer = await self._call(
            "install", await self._chart_request(kubeconfig, name, namespace, chart, values, labels)
        )
        return Release.parse(answer["release"])

    async def upgrade(
        self,
        kubeconfig: Path,
        name: str,
        namespace: str,
        chart: Path,
        values: Mapping[str, Any],
        *,
        force: bool = False,
        labels: Mapping[str, str] | None = None,
    ) -> Release:
        request = await self._chart_request(kubeconfig, name, namespace, chart, values, labels)
        answer = await self._call("upgrade", {**request, "force": force})
        return Release.parse(answer["release"])

    async def _chart_request(
        self,
        kubeconfig: Path,
        name: str,
        namespace: str,
        chart: Path,
        values: Mapping[str, Any],
        labels: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        digest = await asyncio.to_thread(chart_digest, chart)
        return self._request(
            kubeconfig,
            name,
            namespace,
            chart=str(chart),
            chart_digest=digest,
            values=values,
            labels=dict(labels or {}),
            openapi_validation=self.client_validation,
        )

    async def rollback(
        self, kubeconfig: Path, name: str, namespace: str, revision: int, *, force: bool = False
    ) -> None:
        await self._call(
            "rollback", self._request(kubeconfig, name, namespace, revision=revision, force=force)
        )

    async def drift(self, objects: Sequence[Pair]) -> list[Patch | None]:
        """For each object, the patch that puts it back as deployed, or None when nothing differs (no
        request to the API server then): helm-operator's three-way merge whose original is the object
        as deployed (fields the release does not set are left), strategic for the kinds client-go
        knows, a JSON merge patch for custom resources."""
        if not objects:
            return []
        pairs = [{"expected": expected, "existing": existing} for expected, existing in objects]
        answer = await self._call("drift", {"objects": pairs})
        types = {"strategic": PatchType.STRATEGIC, "merge": PatchType.MERGE}
        return [None if p is None else Patch(types[p["type"]], p["patch"]) for p in answer["patches"]]

    async def uninstall(
        self, kubeconfig: Path, name: str, namespace: str, *, keep_history: bool = False
    ) -> None:
        """As ``Helm.uninstall``: none, nothing to do."""
        try:
            await self._call(
                "uninstall", self._request(kubeconfig, name, namespace, keep_history=keep_history)
            )
        except HelmError as exc:
            if "not found" not in exc.message:
                raise
