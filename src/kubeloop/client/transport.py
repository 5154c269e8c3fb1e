"""HTTP to one API server: TLS and credentials, client-side rate limiting, retries with backoff, per-request
timeouts, metrics hooks, and failure ``Status`` → typed ``ApiError``.

Everything above (discovery, verbs, watch) speaks paths and query parameters to ``Transport`` and reads a
``Response``; nothing above touches aiohttp or h2. Requests go over aiohttp (HTTP/1.1, pooled keep-alive
connections); watches go over HTTP/2 when the server offers it (many streams per connection, see
``kubeloop.client.http2``) and have no total timeout. The connections are the process's, shared with
every other client of the same server and TLS identity (``kubeloop.client.pool``); the rate limit, the
credentials and the settings are each transport's own.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

from kubeloop.client import pool as pools
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
    """Sends requests to the server in ``config`` over the process's connections to it
    (``kubeloop.client.pool``: one pool per server and TLS identity, shared with the other clients of
    the process, taken on first use).

    ``close()`` must be awaited when done (``Client`` does it in ``__aexit__``); a request made after it,
    or under way when it happens, raises ``ClientClosedError`` (never retried, never a new session). It
    ends this transport's own streams (watches) at once, and gives its share of the pool back: the
    connections close with the pool's last user, so closing one client never cuts another's requests.
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
        self._pool: pools.ConnectionPool | None = None
        self._responses: set[Response] = set()
        """Responses given out and not yet done with: ended by ``close()`` (the connections are shared)."""
        self._closed = False
        self._http2_off = not (
            self.settings.http2_watches and self._base.scheme == "https" and not config.proxy_url
        )
        self._http2_timing = pools.Http2Timing(
            self.settings.connect_timeout, self.settings.http2_read_idle, self.settings.http2_ping_timeout
        )
        self._timeout = aiohttp.ClientTimeout(
            total=self.settings.request_timeout, connect=self.settings.connect_timeout
        )
        self._watch_timeout = aiohttp.ClientTimeout(
            total=None, connect=self.settings.connect_timeout, sock_read=None
        )

    async def close(self) -> None:
        """End this transport's open responses (its watches) and give back its share of the connection
        pool (closing the connections if it was the last user)."""
        self._closed = True
        for resp in list(self._responses):
            resp.close()
        self._responses.clear()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pools.release(pool)

    @property
    def http2_connections(self) -> int:
        """HTTP/2 connections open to the server (0 when the server or the settings rule HTTP/2 out),
        with the streams of this process's other clients of the same server and TLS identity."""
        return self._pool.http2_connections if self._pool is not None else 0

    @property
    def http2_streams(self) -> int:
        """This transport's watches open as HTTP/2 streams."""
        return sum(1 for r in self._responses if not isinstance(r, Http1Response))

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
            pool = self._shared(method, path)
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
                        await pool.session.request(
                            method,
                            url,
                            params=params,
                            data=body,
                            headers=headers,
                            read_bufsize=self.settings.read_buffer,
                            ssl=await pool.ssl_context(*self._client_cert(creds)),
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
                self._responses.add(resp)
                try:
                    yield resp
                finally:
                    self._responses.discard(resp)
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
                if code == 401:
                    error.args = (f"{error} ({self._refused()})",)
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

        pool = self._shared("GET", target)
        ctx = await pool.ssl_context(*self._client_cert(creds), http2=True)
        assert isinstance(ctx, ssl.SSLContext)  # HTTP/2 is used over https only
        try:
            return await pool.http2(self._http2_timing).open(
                ctx, target, [(k.lower(), v) for k, v in headers.items()]
            )
        except http2.Http2Unavailable:
            self._http2_off = True
            return None

    def _unreachable(self, failure: BaseException | None) -> str:
        """One line on a request that got no answer: the server, where it was configured, and why."""
        cfg = self.config
        where = f" (server of context {cfg.context!r} in {cfg.source})" if cfg.source else ""
        return f"cannot reach the API server {cfg.server}{where}: {_reason(failure)}"

    def _refused(self) -> str:
        """On a 401: which credentials the server refused and where they were configured (the server's
        own message says only "Unauthorized")."""
        cfg = self.config
        offered = (
            (cfg.exec, "the exec plugin's credential"),
            (cfg.client_cert_data, "the client certificate"),
            (cfg.token_file, f"the token in {cfg.token_file}"),
            (cfg.token, "the bearer token"),
            (cfg.username, "the username and password"),
        )
        kind = next((what for present, what in offered if present), "a request without credentials")
        where = f" of context {cfg.context!r} in {cfg.source}" if cfg.source else ""
        return f"the API server {cfg.server} refused {kind}{where}"

    def _shared(self, method: str, path: str) -> pools.ConnectionPool:
        """The process's connection pool for this server (this transport's share taken on first use);
        a closed transport never takes another."""
        if self._closed:
            raise ClientClosedError(f"{method} {path}: the client is closed")
        if self._pool is None:
            self._pool = pools.acquire(self.config)
        return self._pool

    def _client_cert(self, creds: Credentials) -> tuple[bytes | None, bytes | None]:
        """The client certificate and key to present: the credentials' (an exec plugin's), else the
        config's."""
        cfg = self.config
        return creds.client_cert or cfg.client_cert_data, creds.client_key or cfg.client_key_data


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
