"""``WebhookServer``: HTTPS endpoints for admission and conversion webhooks (aiohttp).

::

    server = WebhookServer(WebhookServerOptions(cert_dir=cert_dir), metrics=manager.metrics)
    server.register("/mutate-app-example-com-v1-appservice", Defaulter(Target.of(AppService), fn))
    server.register("/convert", conversions)
    async with server:          # bound; server.port is the real port (bind "127.0.0.1:0" in tests)
        ...

Endpoints take ``POST`` of ``application/json`` reviews. A body that is not a review of the kind the
endpoint serves gets HTTP 400 with a plain-text message saying what is wrong; anything a handler
raises becomes a rejection (code 500), so the API server always gets an answer and the server
keeps serving. Metrics (on the manager's registry) are controller-runtime's
``controller_runtime_webhook_requests_total{webhook,code}``, ``..._latency_seconds{webhook}`` and
``..._requests_in_flight{webhook}``, plus ``kubeloop_webhook_admission_rejections_total{webhook,code}``
(admission requests answered ``allowed: false``, by status code).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kubeloop._deprecated import warn_deprecated
from kubeloop.manager import DEFAULT_CERT_DIR, Metrics, WebhookServerOptions, parse_bind_address
from kubeloop.webhook._admission import AdmissionHandler
from kubeloop.webhook._conversion import Conversions
from kubeloop.webhook._review import AdmissionResponse, BadReview, parse_admission_review
from kubeloop.webhook._tls import CertWatcher

__all__ = ["DEFAULT_CERT_DIR", "WebhookMetrics", "WebhookServer"]

log = logging.getLogger("kubeloop.webhook")

MAX_BODY = 7 * 1024 * 1024  # the API server's own request size limit is 3 MiB of object; leave room


class WebhookMetrics:
    """The webhook series, registered on ``registry`` (the manager's)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "controller_runtime_webhook_requests_total",
            "Total number of admission requests by HTTP status code.",
            ["webhook", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "controller_runtime_webhook_latency_seconds",
            "Histogram of the latency of processing admission requests",
            ["webhook"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "controller_runtime_webhook_requests_in_flight",
            "Current number of admission requests being served.",
            ["webhook"],
            registry=registry,
        )
        self.rejections = Counter(
            "kubeloop_webhook_admission_rejections_total",
            "Admission requests answered allowed: false, by the status code of the answer.",
            ["webhook", "code"],
            registry=registry,
        )


class WebhookServer:
    """Serves registered webhooks over HTTPS with a reloaded certificate; ``start``/``stop`` or
    ``async with``. Register every path before starting."""

    def __init__(
        self,
        options: WebhookServerOptions | None = None,
        *,
        metrics: Metrics | None = None,
        **deprecated: Any,
    ) -> None:
        """``deprecated``: ``WebhookServerOptions`` fields as keywords (the old signature)."""
        if deprecated:
            warn_deprecated(
                "WebhookServer(bind_address=..., cert_dir=...)", "WebhookServer(WebhookServerOptions(...))"
            )
            options = replace(options or WebhookServerOptions(), **deprecated)
        self.options = options = options or WebhookServerOptions()
        self.bind_address = options.bind_address
        bind = parse_bind_address(options.bind_address)
        if bind is None:
            raise ValueError("the webhook server cannot be disabled by its bind address")
        self._bind = bind
        self.certs = CertWatcher(
            options.cert_dir,
            cert_name=options.cert_name,
            key_name=options.key_name,
            poll_interval=options.poll_interval,
        )
        self.metrics = WebhookMetrics((metrics or Metrics(process_collectors=False)).registry)
        self._admission: dict[str, AdmissionHandler] = {}
        self._conversion: dict[str, Conversions] = {}
        self._runner: web.AppRunner | None = None
        self._watch: asyncio.Task[None] | None = None
        self.port: int | None = None

    @property
    def paths(self) -> list[str]:
        return [*self._admission, *self._conversion]

    def register(self, path: str, handler: AdmissionHandler | Conversions) -> None:
        """Serve ``handler`` at ``path`` (an admission handler, or ``Conversions`` for CRD conversion)."""
        if not path.startswith("/"):
            raise ValueError(f"webhook path {path!r} must start with '/'")
        if path in self._admission or path in self._conversion:
            raise ValueError(f"webhook path {path!r} is registered twice")
        if self._runner is not None:
            raise RuntimeError("register webhooks before the server starts")
        if isinstance(handler, Conversions):
            self._conversion[path] = handler
        else:
            self._admission[path] = handler

    def started(self) -> bool:
        """A readiness check: true once the server listens."""
        return self._runner is not None

    async def start(self) -> None:
        """Load the certificate (raises when missing or bad), bind, serve, watch the certificate."""
        if self._runner is not None:
            return
        context = self.certs.server_context()
        app = web.Application(client_max_size=MAX_BODY)
        for path in self._admission:
            app.router.add_post(path, self._serve_admission)
        for path in self._conversion:
            app.router.add_post(path, self._serve_conversion)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            host, port = self._bind
            await web.TCPSite(runner, host, port, ssl_context=context).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self._watch = asyncio.create_task(self.certs.watch(), name="webhook certificate watch")
        log.info(
            "webhook server serving %d path(s) on %s (port %d)", len(self.paths), self.bind_address, self.port
        )

    async def stop(self) -> None:
        """Stop serving; safe to call twice."""
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> WebhookServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _measured(self, request: web.Request, answer: Any) -> web.Response:
        path = request.path
        self.metrics.in_flight.labels(path).inc()
        started = time.perf_counter()
        try:
            response: web.Response = await answer(request)
        except BadReview as exc:
            log.warning("bad review at %s: %s", path, exc)
            response = web.Response(status=400, text=f"{exc}\n")
        except Exception as exc:  # never drop the connection: the API server gets a reason
            log.exception("webhook %s failed", path)
            response = web.Response(status=500, text=f"internal error: {type(exc).__name__}: {exc}\n")
        finally:
            self.metrics.in_flight.labels(path).dec()
            self.metrics.latency.labels(path).observe(time.perf_counter() - started)
        self.metrics.requests.labels(path, str(response.status)).inc()
        return response

    async def _serve_admission(self, request: web.Request) -> web.Response:
        return await self._measured(request, self._admission_answer)

    async def _serve_conversion(self, request: web.Request) -> web.Response:
        return await self._measured(request, self._conversion_answer)

    async def _admission_answer(self, request: web.Request) -> web.Response:
        _check_content_type(request)
        review = parse_admission_review(await request.read())
        handler = self._admission[request.path]
        try:
            answer = await handler.admit(review)
        except Exception as exc:
            log.exception("admission handler at %s failed", request.path)
            answer = AdmissionResponse.deny(
                f"internal error: {type(exc).__name__}: {exc}", code=500, reason="InternalError"
            )
        if not answer.allowed:
            code = (answer.status or {}).get("code", 403)
            self.metrics.rejections.labels(request.path, str(code)).inc()
        return web.Response(body=answer.review(review), content_type="application/json")

    async def _conversion_answer(self, request: web.Request) -> web.Response:
        _check_content_type(request)
        body = await self._conversion[request.path].review(await request.read())
        return web.Response(body=body, content_type="application/json")


def _check_content_type(request: web.Request) -> None:
    if request.content_type not in ("application/json", "application/octet-stream", ""):
        raise BadReview(f"content type {request.content_type!r} is not supported; send application/json")
