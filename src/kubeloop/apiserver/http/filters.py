"""Middlewares every request passes, outermost first: ``status_errors`` (any failure becomes the real
server's ``Status`` body) and ``authentication`` (401 for who is not known)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from kubeloop.apiserver.auth import Authenticator
from kubeloop.apiserver.http.responses import json_response
from kubeloop.apiserver.machinery.errors import StatusError

__all__ = ["authentication", "status_errors"]

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def status_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except StatusError as exc:
        return json_response(exc.status(), status=exc.code)
    except web.HTTPException as exc:
        if exc.status == 404:
            err = StatusError(404, "NotFound", "the server could not find the requested resource")
            return json_response(err.status(), status=404)
        if exc.status == 405:
            err = StatusError(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )
            return json_response(err.status(), status=405)
        raise
    except Exception as exc:
        log.exception("internal error serving %s %s", request.method, request.path)
        err = StatusError(
            500, "InternalError", f"an error on the server has prevented the request from succeeding: {exc}"
        )
        return json_response(err.status(), status=500)


def authentication(authenticator: Authenticator) -> Middleware:
    """401 Unauthorized for a request ``authenticator`` does not know."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if authenticator.authenticated(request):
            return await handler(request)
        raise StatusError(401, "Unauthorized", "Unauthorized")

    return authenticate
