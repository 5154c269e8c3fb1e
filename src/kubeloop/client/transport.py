"""HTTP to one API server: TLS and credentials, client-side rate limiting, retries with backoff, per-request
timeouts, metrics hooks, and failure ``Status`` → typed ``ApiError``.

Everything above (discovery, verbs, watch) speaks paths and query parameters to ``Transport`` and reads a
``Response``; nothing above touches aiohttp or h2. Requests go over aiohttp (HTTP/1.1, pooled keep-alive
connections); watches go over HTTP/2 when the server offers it (many streams per connection, see
``kubeloop.client.http2``) and have no total timeout.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

from kubeloop.client.auth import Authenticator, Credentials
from kubeloop.client.config import ClientConfig
from kubeloop.client.errors import (
    ApiError,
    ClientClosedError,
    ConnectError,
    TransportError,
    error_from_status,
)
from kubeloop.client.metrics import MetricsHook, NoMetrics
from kubeloop.client.ratelimit import RequestLimiter, RetryPolicy
from kubeloop.client.response import Http1Response, Response
from kubeloop.clock import RealClock, SleepClock

if TYPE_CHECKING:
    from kubeloop.client.http2 import Http2Pool

__all__ = ["ClientSettings", "Transport"]

JSON = "application/json"


@dataclass(frozen=True)
class ClientSettings:
    """Tuning of one client; every option is declared here once.

    ``qps``/``burst`` hold for each kind (resource) apart, as client-go's hold for each REST client and
    controller-runtime makes a REST client per kind: ``qps`` requests a second with bursts of ``burst``
    to Deployments, as many to Services, and so on (a kind's subresources share its budget; requests of
    no resource, such as discovery, have one more). ``qps_per_kind=False`` puts all of the client's
    requests under one budget (client-go's shared ``rest.Config.RateLimiter``).
    They default to 50/100 rather than client-go's 5/10: an operator's startup lists and its
    reconcile bursts are legitimate load, and since Kubernetes 1.29 API Priority and Fairness (server side,
    answering 429 with Retry-After, which is honoured) is what protects the server; a low client limit
    only adds latency. ``qps=None`` turns client-side limiting off (controller-runtime's choice).
    ``request_timeout`` bounds each non-watch request; watches have none (the server ends them).
    ``http2_watches`` multiplexes watches on HTTP/2 connections when the server offers ``h2`` (not through
    a proxy); an HTTP/2 connection silent for ``http2_read_idle`` s is pinged and dropped if the ping goes
    unanswered for ``http2_ping_timeout`` s (client-go's 30 s / 15 s), so its watches reconnect.
    """

    qps: float | None = 50.0
    burst: int = 100
    qps_per_kind: bool = True
    request_timeout: float = 60.0
    connect_timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    user_agent: str = "kubeloop/0.1"
    read_buffer: int = 4 * 1024 * 1024
    http2_watches: bool = True
    http2_read_idle: float = 30.0
    http2_ping_timeout: float = 15.0


class Transport:
    """Sends requests to the server in ``config``; owns one aiohttp session (created on first use).

    ``close()`` must be awaited when done (``Client`` does it in ``__aexit__``); a request made after it,
    or under way when it happens, raises ``ClientClosedError`` (never retried, never a new session).
    """

    def __init__(
        self,
        config: ClientConfig,
        settings: ClientSettings | None = None,
        *,
        clock: SleepClock | None = None,
        metrics: MetricsHook | None = None,
    ) -> None:
        self.config = config
        self.settings = settings or ClientSettings()
        self.clock: SleepClock = clock or RealClock()
        self.metrics: MetricsHook = metrics or NoMetrics()
        self.auth = Authenticator(config, clock=self.clock)
        qps = self.settings.qps
        self.limiter = (
            RequestLimiter(
                qps, max(1, self.settings.burst), per_kind=self.settings.qps_per_kind, clock=self.clock
            )
            if qps and qps > 0
            else None
        )
        self._base = URL(config.server)
        self._impersonation = _impersonation_headers(config)
        self._host = self._base.host or ""
        self._session: aiohttp.ClientSession | None = None
        self._http2: Http2Pool | None = None
        self._closed = False
        self._http2_off = not (
            self.settings.http2_watches and self._base.scheme == "https" and not config.proxy_url
        )
        self._ssl: dict[tuple[bytes | None, bytes | None, bool], asyncio.Future[ssl.SSLContext]] = {}
        self._timeout = aiohttp.ClientTimeout(
            total=self.settings.request_timeout, connect=self.settings.connect_timeout
        )
        self._watch_timeout = aiohttp.ClientTimeout(
            total=None, connect=self.settings.connect_timeout, sock_read=None
        )

    async def close(self) -> None:
        """Close the HTTP session, the HTTP/2 connections, and so every request and watch in flight."""
        self._closed = True
        if self._http2 is not None:
            await self._http2.close()
            self._http2 = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def http2_connections(self) -> int:
        """HTTP/2 connections open for watches (0 when the server or the settings rule HTTP/2 out)."""
        return self._http2.connections if self._http2 is not None else 0

    @property
    def http2_streams(self) -> int:
        """Watches open as HTTP/2 streams."""
        return self._http2.streams if self._http2 is not None else 0

    async def request(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str = JSON,
        accept: str = JSON,
        idempotent: bool = False,
    ) -> Any:
        """Send one request (retrying as the policy allows) and return the decoded JSON body."""
        data, _ = await self.request_bytes(
            method,
            path,
            verb=verb,
            params=params,
            body=body,
            content_type=content_type,
            accept=accept,
            idempotent=idempotent,
        )
        return orjson.loads(data) if data else {}

    async def request_bytes(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str = JSON,
        accept: str = JSON,
        idempotent: bool = False,
    ) -> tuple[bytes, str]:
        """``request``, the body left undecoded: (body, its Content-Type). For a proxy passing responses
        on as they came (discovery documents asked for in the aggregated format, OpenAPI documents)."""
        async with self._open(
            method,
            path,
            verb=verb,
            params=params,
            body=body,
            content_type=content_type,
            accept=accept,
            idempotent=idempotent,
            client_timeout=self._timeout,
        ) as resp:
            try:
                data = await resp.read()
            except (aiohttp.ClientError, TimeoutError) as e:
                raise TransportError(f"{method} {path}: reading the response failed: {e!r}") from e
            return data, resp.header("Content-Type") or JSON

    @asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        verb: str = "watch",
        params: Mapping[str, str] | None = None,
        accept: str = JSON,
    ) -> AsyncIterator[Response]:
        """Open a long-running GET (a watch) with no total timeout; yields the response to read from."""
        async with self._open(
            "GET",
            path,
            verb=verb,
            params=params,
            body=None,
            content_type=JSON,
            accept=accept,
            idempotent=True,
            client_timeout=self._watch_timeout,
            http2=True,
        ) as resp:
            yield resp

    @asynccontextmanager
    async def _open(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        params: Mapping[str, str] | None,
        body: bytes | None,
        content_type: str,
        accept: str,
        idempotent: bool,
        client_timeout: aiohttp.ClientTimeout,
        http2: bool = False,
    ) -> AsyncIterator[Response]:
        url = self._base.with_path(self._base.path.rstrip("/") + path, encoded=False)
        policy = self.settings.retry
        attempt = 0
        reauthenticated = False
        while True:
            waited = await self.limiter.acquire(path) if self.limiter is not None else 0.0
            self.metrics.rate_limited(verb=verb, host=self._host, seconds=waited)
            creds = await self.auth.credentials()
            headers = CIMultiDict(
                {"Accept": accept, "User-Agent": self.settings.user_agent, **creds.headers()}
            )
            headers.extend(self._impersonation)
            if body is not None:
                headers["Content-Type"] = content_type
            session = self._get_session(method, path)
            started = self.clock.now()
            code: int | None = None
            retry_after: float | None = None
            failure: BaseException | None = None
            sent = True
            resp: Response | None = None
            try:
                if http2 and not self._http2_off:
                    resp = await self._send_http2(url.with_query(params or {}).raw_path_qs, headers, creds)
                if resp is None:
                    resp = Http1Response(
                        await session.request(
                            method,
                            url,
                            params=params,
                            data=body,
                            headers=headers,
                            ssl=await self._ssl_context(creds),
                            server_hostname=self.config.tls_server_name,
                            proxy=self.config.proxy_url,
                            timeout=client_timeout,
                        )
                    )
                code = resp.status
            except (aiohttp.ClientConnectorError, ConnectError) as e:
                failure, sent = e, False
            except (aiohttp.ClientError, TimeoutError, TransportError) as e:
                failure = e
            except RuntimeError as e:  # aiohttp's "Session is closed": closed after the check above
                if not self._closed:
                    raise
                failure = e
            if self._closed:
                if resp is not None:
                    resp.close()
                raise ClientClosedError(f"{method} {path}: the client was closed") from failure
            self.metrics.request_done(
                verb=verb,
                method=method,
                host=self._host,
                code=str(code) if code else "<error>",
                seconds=self.clock.now() - started,
            )
            if resp is not None and code is not None and code < 400:
                try:
                    yield resp
                finally:
                    if resp.at_eof():
                        resp.release()  # fully read: the connection goes back to the pool
                    else:
                        resp.close()  # a watch ended early: drop the connection
                return
            error: BaseException
            if resp is not None and code is not None:
                try:
                    data = await resp.read()
                except (aiohttp.ClientError, TimeoutError):
                    data = b""
                finally:
                    resp.release()
                retry_after = _retry_after(resp.header("Retry-After"))
                error = error_from_status(_decode(data), http_code=code, retry_after=retry_after, body=data)
                if code == 401 and self.auth.dynamic and not reauthenticated:
                    self.auth.invalidate()
                    reauthenticated = True
                    continue
            else:
                error = TransportError(f"{method} {path}: {self._unreachable(failure)}")
                error.__cause__ = failure
            if isinstance(error, ApiError) and error.retry_after is not None:
                retry_after = error.retry_after
            timed_out = isinstance(failure, TimeoutError)
            if not policy.should_retry(
                attempt,
                code=code,
                idempotent=idempotent or not sent,
                retry_after=retry_after,
                timed_out=timed_out,
            ):
                raise error
            self.metrics.retried(verb=verb, host=self._host, code=str(code) if code else "<error>")
            await self.clock.sleep(policy.delay(attempt, retry_after))
            attempt += 1

    async def _send_http2(
        self, target: str, headers: CIMultiDict[str], creds: Credentials
    ) -> Response | None:
        """Send a GET as a stream on a shared HTTP/2 connection; None when the server has no HTTP/2."""
        from kubeloop.client import http2  # h2 costs 25 ms to import: only for clients that watch

        if self._http2 is None:
            self._http2 = http2.Http2Pool(
                self._host,
                self._base.port or 443,
                server_hostname=self.config.tls_server_name,
                connect_timeout=self.settings.connect_timeout,
                read_idle=self.settings.http2_read_idle,
                ping_timeout=self.settings.http2_ping_timeout,
            )
        pool = self._http2  # close() may drop it while the context is made
        ctx = await self._ssl_context(creds, http2=True)
        assert isinstance(ctx, ssl.SSLContext)
        try:
            return await pool.open(ctx, target, [(k.lower(), v) for k, v in headers.items()])
        except http2.Http2Unavailable:
            self._http2_off = True
            return None

    def _unreachable(self, failure: BaseException | None) -> str:
        """One line on a request that got no answer: the server, where it was configured, and why."""
        cfg = self.config
        where = f" (server of context {cfg.context!r} in {cfg.source})" if cfg.source else ""
        return f"cannot reach the API server {cfg.server}{where}: {_reason(failure)}"

    def _get_session(self, method: str, path: str) -> aiohttp.ClientSession:
        """The session (made on first use); a closed transport never makes another."""
        if self._closed:
            raise ClientClosedError(f"{method} {path}: the client is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(
                connector=connector,
                read_bufsize=self.settings.read_buffer,
                json_serialize=lambda o: orjson.dumps(o).decode(),
                auto_decompress=True,
            )
        return self._session

    async def _ssl_context(self, creds: Credentials, *, http2: bool = False) -> ssl.SSLContext | bool:
        """The TLS context for these credentials; HTTP/2 gets its own (it offers ``h2`` in ALPN)."""
        if self._base.scheme != "https":
            return False
        cfg = self.config
        cert, key = creds.client_cert or cfg.client_cert_data, creds.client_key or cfg.client_key_data
        made = self._ssl.get((cert, key, http2))
        if made is None:  # one future per key: concurrent first requests must share one context
            made = asyncio.ensure_future(asyncio.to_thread(_make_ssl_context, cfg, cert, key, http2=http2))
            self._ssl[(cert, key, http2)] = made
        return await asyncio.shield(made)  # a cancelled request must not cancel the context for the rest


def _make_ssl_context(
    cfg: ClientConfig, cert: bytes | None, key: bytes | None, *, http2: bool = False
) -> ssl.SSLContext:
    """TLS for the server: trust ``ca_data`` (or the system store), present the client cert if any.

    ``http2`` offers ``h2`` in ALPN; HTTP/1.1 connections must not offer it.
    """
    if cfg.insecure_skip_tls_verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cfg.ca_data:
        ctx = ssl.create_default_context(cadata=cfg.ca_data.decode())
    else:
        ctx = ssl.create_default_context()
    if cert and key:
        # ssl can load a chain only from files: write them to a private temp dir and remove at once.
        with tempfile.TemporaryDirectory(prefix="kubeloop-tls-") as tmp:
            cert_path, key_path = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
            for path, data in ((cert_path, cert), (key_path, key)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            try:
                ctx.load_cert_chain(cert_path, key_path)
            except ssl.SSLError as e:
                raise TransportError(f"{cfg.source}: client certificate or key is invalid: {e}") from e
    if http2:
        ctx.set_alpn_protocols(["h2"])
    return ctx


def _impersonation_headers(config: ClientConfig) -> list[tuple[str, str]]:
    """The ``Impersonate-User`` header and one ``Impersonate-Group`` per group (none without a user)."""
    if not config.impersonate:
        return []
    return [("Impersonate-User", config.impersonate)] + [
        ("Impersonate-Group", group) for group in config.impersonate_groups
    ]


def _decode(data: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (the API server sends integer seconds)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _reason(failure: BaseException | None) -> str:
    """A short human reason for a failed connection or request."""
    if isinstance(failure, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate verification failed ({failure.certificate_error})"
    if isinstance(failure, aiohttp.ClientConnectorError):
        os_error = failure.os_error
        return (os_error.strerror or str(os_error)).lower() if isinstance(os_error, OSError) else str(failure)
    if isinstance(failure, TimeoutError):
        return "timed out"
    if isinstance(failure, TransportError):
        return str(failure)
    return f"{type(failure).__name__}: {failure}" if failure is not None else "no response"
