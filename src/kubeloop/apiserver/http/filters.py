"""Middlewares every request passes, outermost first: ``status_errors`` (any failure becomes the real
server's ``Status`` body) and ``access`` (who is asking, whom they impersonate, and whether RBAC
allows it: 401 for bad credentials, 403 with the real server's message)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from kubeloop.apiserver.auth import RBAC, Authenticator, UserInfo, forbidden, impersonate, request_attributes
from kubeloop.apiserver.http.responses import json_response
from kubeloop.apiserver.machinery.errors import StatusError

__all__ = ["access", "status_errors", "user_of", "with_warnings"]

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_USER = web.RequestKey("user", UserInfo)


@web.middleware
async def status_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except StatusError as exc:
        return with_warnings(json_response(exc.status(), status=exc.code), exc.warnings)
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


def with_warnings(response: web.Response, warnings: Iterable[str]) -> web.Response:
    """``response`` with ``warnings`` as ``Warning: 299 - "…"`` headers."""
    for text in warnings:
        response.headers.add("Warning", "299 - " + orjson.dumps(text).decode())
    return response


def access(authenticator: Authenticator, rbac: RBAC) -> Middleware:
    """Authenticate, impersonate, authorize; the handler finds the user with ``user_of(request)``."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        user = authenticator.authenticate(request)
        user = impersonate(user, request.headers, rbac.authorize)
        attrs = request_attributes(user, request.method, request.path, request.query)
        allowed, reason = rbac.authorize(attrs)
        if not allowed:
            raise forbidden(attrs, reason)
        request[_USER] = user
        return await handler(request)

    return check


def user_of(request: web.Request) -> UserInfo:
    """The user ``access`` let in (impersonation applied)."""
    return request[_USER]
