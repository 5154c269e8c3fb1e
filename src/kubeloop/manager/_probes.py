"""The manager's HTTP endpoints: Prometheus ``/metrics``, and ``/healthz`` / ``/readyz`` probes.

Role: what the kubelet (liveness/readiness probes) and Prometheus scrape. Each server binds an
address written as controller-runtime's flags are: ``":8080"`` (all interfaces), ``"127.0.0.1:0"``
(loopback, a free port: read ``port`` after ``start``), ``"[::1]:9000"``, or ``"0"`` (disabled).

Probe semantics follow controller-runtime's ``pkg/healthz`` (itself the API server's):

- ``GET /healthz`` runs every health check at once: ``200 ok`` when all pass, else ``500`` with one
  line per check (``[+]name ok`` / ``[-]name failed: reason withheld``) and ``healthz check failed``.
- ``?verbose`` lists every check even when all pass (then ``healthz check passed``) and gives the
  reasons of failures; ``?exclude=name`` (repeatable) skips checks.
- ``GET /healthz/<name>`` runs one check (404 if unknown). ``/readyz`` is the same for readiness.
- No checks registered means healthy.

A check is a plain or ``async`` callable with no arguments; it fails by raising (the message is the
reason) or by returning ``False``, and is given ``check_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from kubeloop.errors import ComponentError
from kubeloop.manager._metrics import Metrics

__all__ = ["Check", "MetricsServer", "ProbeServer", "parse_bind_address"]

log = logging.getLogger("kubeloop.manager.probes")

Check = Callable[[], bool | Awaitable[bool | None] | None]
"""A health or readiness check: fails by raising or returning ``False``."""

DISABLED = "0"
WITHHELD = "reason withheld"


def parse_bind_address(address: str) -> tuple[str | None, int] | None:
    """``":8080"`` → ``(None, 8080)`` (all interfaces); ``"127.0.0.1:0"`` → ``("127.0.0.1", 0)``;
    ``"[::1]:80"`` → ``("::1", 80)``; ``"0"`` or ``""`` → ``None`` (disabled)."""
    if address in (DISABLED, ""):
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"bind address {address!r} is not host:port, :port or 0")
    host = host.removeprefix("[").removesuffix("]")
    return (host or None, int(port))


class _Server:
    """An aiohttp app on one bind address; ``start``/``stop`` or ``async with``."""

    def __init__(self, bind_address: str) -> None:
        self.bind_address = bind_address
        self._bind = parse_bind_address(bind_address)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def enabled(self) -> bool:
        return self._bind is not None

    @property
    def port(self) -> int | None:
        """The bound port once started (the real one when asked for port 0); ``None`` if disabled."""
        return self._port

    def _app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> None:
        """Bind and serve; a no-op when disabled. ``ComponentError`` naming the address when it cannot
        be bound (taken by another process: ``kubeloop run``'s default :8080 often is)."""
        if self._bind is None or self._runner is not None:
            return
        host, port = self._bind
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            reason = str(exc.strerror or exc).rpartition(": ")[2]
            raise ComponentError(
                type(self).__name__,
                f"cannot listen on {self.bind_address}: {reason}; give it another bind address,"
                " or '0' to turn it off",
            ) from exc
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        log.info("%s serving on %s (port %d)", type(self).__name__, self.bind_address, self._port)

    async def stop(self) -> None:
        """Stop serving; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> _Server:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class MetricsServer(_Server):
    """Serves ``GET /metrics`` from a ``Metrics`` registry (default bind ``":8080"``)."""

    def __init__(self, metrics: Metrics, bind_address: str = ":8080") -> None:
        super().__init__(bind_address)
        self.metrics = metrics

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        body, content_type = self.metrics.render(request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})


class ProbeServer(_Server):
    """Serves ``/healthz`` and ``/readyz`` with named checks (default bind ``":8081"``).

    Checks may be added before or after ``start``; names are unique per endpoint.
    """

    def __init__(self, bind_address: str = ":8081", *, check_timeout: float = 5.0) -> None:
        super().__init__(bind_address)
        self.check_timeout = check_timeout
        self._checks: dict[str, dict[str, Check]] = {"healthz": {}, "readyz": {}}

    def add_healthz_check(self, name: str, check: Check) -> None:
        """Add a liveness check; the kubelet restarts the container while it fails."""
        self._add("healthz", name, check)

    def add_readyz_check(self, name: str, check: Check) -> None:
        """Add a readiness check; the pod gets no Service traffic while it fails."""
        self._add("readyz", name, check)

    def _add(self, endpoint: str, name: str, check: Check) -> None:
        if not name or "/" in name:
            raise ValueError(f"invalid check name {name!r}")
        checks = self._checks[endpoint]
        if name in checks:
            raise ValueError(f"{endpoint} check {name!r} is already registered")
        checks[name] = check

    def _app(self) -> web.Application:
        app = web.Application()
        for endpoint in self._checks:
            app.router.add_get(f"/{endpoint}", self._all(endpoint))
            app.router.add_get(f"/{endpoint}/{{name}}", self._one(endpoint))
        return app

    def _all(self, endpoint: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            excluded = set(request.query.getall("exclude", []))
            names = [name for name in self._checks[endpoint] if name not in excluded]
            results = await asyncio.gather(*(self._run(endpoint, name) for name in names))
            verbose = "verbose" in request.query
            failed = any(reason is not None for reason in results)
            if not failed and not verbose:
                return _text(200, "ok")
            lines = [
                f"[+]{name} ok"
                if reason is None
                else f"[-]{name} failed: {reason if verbose else 'reason withheld'}"
                for name, reason in zip(names, results, strict=True)
            ]
            lines.extend(
                f"[+]{name} excluded: ok" for name in sorted(excluded & self._checks[endpoint].keys())
            )
            lines.append(f"{endpoint} check {'failed' if failed else 'passed'}")
            return _text(500 if failed else 200, "\n".join(lines) + "\n")

        return handle

    def _one(self, endpoint: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            if name not in self._checks[endpoint]:
                return _text(404, f"no {endpoint} check named {name!r}\n")
            reason = await self._run(endpoint, name)
            if reason is None:
                return _text(200, "ok")
            return _text(500, f"[-]{name} failed: {reason}\n{endpoint} check failed\n")

        return handle

    async def _run(self, endpoint: str, name: str) -> str | None:
        """Run one check; ``None`` when it passed, else the reason it failed."""
        try:
            async with asyncio.timeout(self.check_timeout):
                result = self._checks[endpoint][name]()
                if inspect.isawaitable(result):
                    result = await result
        except TimeoutError:
            return f"timed out after {self.check_timeout}s"
        except Exception as e:
            return str(e) or type(e).__name__
        if result is False:
            return "check returned false"
        return None


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")
