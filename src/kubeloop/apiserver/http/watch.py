"""Watch streams: one JSON event per line, bookmarks, resume from a resourceVersion, 410 past history.

Semantics as the real server:

- ``resourceVersion`` unset or ``"0"``: ``ADDED`` for every current object, then changes;
  ``sendInitialEvents=true`` adds a BOOKMARK annotated ``k8s.io/initial-events-end`` after them;
- ``resourceVersion=N``: every change after N; a version older than the history kept is a 410 Gone
  response (before the stream starts);
- with label/field selectors an object that starts or stops matching is ``ADDED``/``DELETED``;
- ``allowWatchBookmarks=true``: a BOOKMARK (kind, apiVersion, ``metadata.resourceVersion`` only) every
  ``bookmark_interval`` seconds while the stream is idle;
- ``timeoutSeconds`` ends the stream cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from aiohttp import web

from kubeloop.apiserver.http.partial import partial, wants_partial
from kubeloop.apiserver.machinery import selectors
from kubeloop.apiserver.machinery.errors import StatusError, unparsable_version
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.rest.api import Api
from kubeloop.apiserver.rest.watching import seen_as

__all__ = ["serve_watch"]

Obj = dict[str, Any]
BOOKMARK_INTERVAL = 5.0


def _bookmark(rt: ResourceType, rv: int, initial_end: bool = False) -> Obj:
    md: Obj = {"resourceVersion": str(rv)}
    if initial_end:
        md["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": md}}


async def _line(api: Api, event_type: str, rt: ResourceType, obj: Obj, metadata_only: bool = False) -> bytes:
    obj = (await api.converted(rt, [api.served(rt, obj)]))[0]
    return orjson.dumps({"type": event_type, "object": partial(obj) if metadata_only else obj}) + b"\n"


def _mark(bookmark: Obj, metadata_only: bool) -> bytes:
    if metadata_only:
        bookmark = dict(bookmark, object=partial(bookmark["object"]))
    return orjson.dumps(bookmark) + b"\n"


async def serve_watch(
    request: web.Request, api: Api, rt: ResourceType, namespace: str | None, name: str | None = None
) -> web.StreamResponse:
    q = request.query
    labels = selectors.label_selector(q.get("labelSelector"))
    fields = selectors.field_selector(
        q.get("fieldSelector"), rt.kind, custom=rt.crd is not None, group=rt.group
    )

    def match(obj: Obj) -> bool:
        return (name is None or obj["metadata"]["name"] == name) and labels(obj) and fields(obj)

    metadata_only = wants_partial(request.headers.get("Accept", ""))
    rv_text = q.get("resourceVersion", "")
    bookmarks = q.get("allowWatchBookmarks") == "true"
    initial = q.get("sendInitialEvents") == "true"
    if rv_text and not rv_text.isdigit():  # the real watch passes the parse error on as a 500
        raise StatusError(500, "", unparsable_version(rv_text))
    since = int(rv_text) if rv_text not in ("", "0") else None
    store = api.store
    watcher = store.watch(rt.storage, namespace, since)
    timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds", "").isdigit() else None
    response = web.StreamResponse(
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    )
    await response.prepare(request)
    try:
        if since is None:
            for _, obj in sorted(store.items(rt.storage, namespace), key=lambda p: p[0]):
                if match(obj):
                    await response.write(await _line(api, "ADDED", rt, obj, metadata_only))
            if initial:
                await response.write(_mark(_bookmark(rt, store.resource_version, True), metadata_only))
        deadline = asyncio.get_running_loop().time() + timeout if timeout else None
        while True:
            wait = BOOKMARK_INTERVAL if bookmarks else None
            if deadline is not None:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                wait = min(wait, left) if wait else left
            try:
                event = await asyncio.wait_for(watcher.queue.get(), wait)
            except TimeoutError:
                if bookmarks and watcher.queue.empty():
                    await response.write(_mark(_bookmark(rt, store.resource_version), metadata_only))
                continue
            if event is None:
                break
            seen = seen_as(event, match)
            if seen is not None:
                await response.write(await _line(api, seen[0], rt, seen[1], metadata_only))
    except ConnectionResetError:
        watcher.close()
        return response  # the client went away: an ordinary end of a watch, not a server error
    except asyncio.CancelledError:
        watcher.close()
        raise
    except StatusError as exc:
        with contextlib.suppress(ConnectionResetError):
            await response.write(orjson.dumps({"type": "ERROR", "object": exc.status()}) + b"\n")
    finally:
        watcher.close()
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response
