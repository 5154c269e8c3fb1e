"""Which layer of kubeloop's operator process costs what (bench/operator/run.py --profile): the
cProfile stats of one extra, untimed kubeloop run, its own time summed by the package (layer) each
function lives in. Waiting in epoll is idle, not cost, and is left out."""

from __future__ import annotations

import pstats
from pathlib import Path

STARTUP = "start-up (imports, compiling classes and regular expressions)"
# (what a function's file or built-in name contains, the layer it is counted in); the first match wins
LAYERS = (
    ("appservice_operator", "the AppService reconcile (examples/appservice)"),
    ("kubeloop/client", "kubeloop.client"),
    ("kubeloop/cache", "kubeloop.cache (informers)"),
    ("kubeloop/queue", "kubeloop.queue"),
    ("kubeloop/controller", "kubeloop.controller / operator / manager"),
    ("kubeloop/operator", "kubeloop.controller / operator / manager"),
    ("kubeloop/manager", "kubeloop.controller / operator / manager"),
    ("kubeloop/", "kubeloop (other: helpers, crd, tasks)"),
    ("prometheus_client", "prometheus_client (metrics)"),
    ("pydantic", "pydantic (models)"),
    ("orjson", "orjson (JSON)"),
    ("_ssl", "TLS (ssl)"),
    ("ssl", "TLS (ssl)"),
    ("aiohttp", "aiohttp, yarl, multidict (HTTP/1.1)"),
    ("yarl", "aiohttp, yarl, multidict (HTTP/1.1)"),
    ("multidict", "aiohttp, yarl, multidict (HTTP/1.1)"),
    ("/h2/", "h2, hpack (HTTP/2 watches)"),
    ("hpack", "h2, hpack (HTTP/2 watches)"),
    ("asyncio", "asyncio (event loop, tasks)"),
    ("logging", "logging"),
    ("<frozen importlib", STARTUP),
    ("builtins.compile", STARTUP),
    ("builtins.exec", STARTUP),
    ("__build_class__", STARTUP),
    ("marshal.loads", STARTUP),
    ("_imp.", STARTUP),
    ("/re/_", STARTUP),
    ("_socket.socket", "sockets (send, recv)"),
    ("gc.collect", "garbage collection"),
)
IDLE = ("select.epoll", "'poll' of", "time.sleep")


def layer_of(filename: str, function: str) -> str | None:
    where = f"{filename}:{function}"
    if any(idle in where for idle in IDLE):
        return None
    return next((layer for needle, layer in LAYERS if needle in where), "other (stdlib, site-packages)")


def by_layer(path: Path) -> dict[str, float]:
    """Own time (seconds, cProfile's clock) per layer, largest first; idle waiting left out."""
    stats = pstats.Stats(str(path))
    totals: dict[str, float] = {}
    for (filename, _, function), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        layer = layer_of(filename, function)
        if layer is not None:
            totals[layer] = totals.get(layer, 0.0) + own
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))
