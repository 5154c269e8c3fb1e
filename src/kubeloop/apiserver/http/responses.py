"""JSON responses as the real server writes them."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

__all__ = ["json_response"]


def json_response(body: Any, status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers={"Content-Type": content_type})
