"""A replica's memory by part, on a signal (bench/sharding/run.py --probe): the recorded AppService
operator (``recorded_operator``) with handlers that write a report to ``$KUBELOOP_MEMORY_PROBE``.

SIGUSR1: a report; SIGUSR2: a report, then ``gc.collect()`` and glibc's ``malloc_trim(0)``, then a
second one (what the allocator kept but gave back when asked). A report holds: the RSS and its high
water (VmHWM); glibc's ``mallinfo2`` (bytes in use, free but kept, mmapped); pymalloc's arenas
(``sys._debugmallocstats``: bytes in blocks in use, free blocks, empty pools in arenas still held);
the live bytes of what the process holds, walked object by object (the informers' stores by
resource and selector, their own writes, their interners' tables; the queues; the sharder's
placement; the connections and their TLS buffers), each object counted once; with tracemalloc on
(``PYTHONTRACEMALLOC=1``), the traced bytes by file and by line. Run as ``kubeloop run
memory_probe:operator``; nothing runs until signalled, so the RSS read before is the operator's.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import signal
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

from recorded_operator import REPLICA, operator

__all__ = ["operator"]

OUT = Path(os.environ.get("KUBELOOP_MEMORY_PROBE", "."))
MIB = 2**20

_libc = ctypes.CDLL("libc.so.6")


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
            "keepcost",
        )
    ]  # fmt: skip


_libc.mallinfo2.restype = _MallInfo2


def status() -> dict[str, float]:
    """VmRSS, VmHWM, RssAnon, RssFile (MiB)."""
    text = Path("/proc/self/status").read_text()
    return {
        key: int(m.group(1)) / 1024
        for key in ("VmRSS", "VmHWM", "RssAnon", "RssFile")
        if (m := re.search(rf"{key}:\s+(\d+) kB", text))
    }


def mallinfo() -> dict[str, float]:
    """glibc's counts over all its arenas (MiB): ``arena`` obtained by brk/mmap for the heaps,
    ``uordblks`` in use, ``fordblks`` free but kept, ``hblkhd`` in mmapped chunks (large ones)."""
    info = _libc.mallinfo2()
    names = ("arena", "uordblks", "fordblks", "hblkhd", "keepcost")
    return {name: getattr(info, name) / MIB for name in names}


def pymalloc() -> dict[str, float]:
    """pymalloc's arenas (``sys._debugmallocstats``, MiB): held, in used blocks, in free blocks of
    used pools, in empty pools (arenas are given back only when all their pools are empty)."""
    with tempfile.TemporaryFile("w+") as capture:
        saved = os.dup(2)
        sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read()

    def number(pattern: str) -> float:
        found = re.search(pattern, text)
        return int(found.group(1).replace(",", "")) / MIB if found else float("nan")

    return {
        "arenas": number(r"arenas \* \d+ bytes/arena\s+=\s+([\d,]+)"),
        "used_blocks": number(r"# bytes in allocated blocks\s+=\s+([\d,]+)"),
        "free_blocks": number(r"# bytes in available blocks\s+=\s+([\d,]+)"),
        "empty_pools": number(r"unused pools \* \d+ bytes\s+=\s+([\d,]+)"),
        "arenas_highwater": number(r"# arenas highwater mark\s+=\s+([\d,]+)") * MIB,
    }


def deep(root: Any, seen: set[int]) -> int:
    """Bytes of ``root`` and of the plain data it holds (dicts, lists, tuples, sets, strings,
    numbers; other objects are not walked), each object not in ``seen`` counted once."""
    size = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        size += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
    return size


def _fields(obj: Any) -> list[Any]:
    """The attribute values of ``obj`` (slotted or not)."""
    if hasattr(obj, "__dict__"):
        return list(vars(obj).values())
    return [getattr(obj, name) for name in getattr(type(obj), "__slots__", ()) if hasattr(obj, name)]


def instances(name: str) -> list[Any]:
    """The objects of the class ``name`` (the manager freezes the synced caches out of the cyclic
    collector: ``parts`` unfreezes them while it looks, so that ``gc.get_objects`` sees them)."""
    return [o for o in gc.get_objects() if type(o).__name__ == name]


def parts() -> dict[str, Any]:
    """The live bytes of what the process holds, by part (MiB), each object counted once in the
    first part that reaches it (the stores first: values shared with an interner's table or an own
    write count there)."""
    frozen = gc.get_freeze_count()
    gc.unfreeze()
    try:
        return {"frozen_objects": frozen, **_parts()}
    finally:
        if frozen:
            gc.freeze()


def _parts() -> dict[str, Any]:
    seen: set[int] = set()
    out: dict[str, Any] = {}
    informers = instances("Informer")
    stores = {}
    for inf in informers:
        selectors = ",".join(str(s) for s in inf._selectors)
        name = f"{inf.resource.plural} [{selectors}]{' meta' if inf.options.metadata_only else ''}"
        # The sharder's record (manager._record.Record) keeps its objects in its own form, not _items.
        record = [getattr(inf.store, part) for part in ("_objects", "_shared") if hasattr(inf.store, part)]
        stores[name] = {
            "objects": len(inf.store),
            "store": (deep(inf.store._items, seen) + sum(deep(part, seen) for part in record)) / MIB,
            "indexes": deep(inf.store._indexes, seen) / MIB,
        }
    for inf in informers:
        selectors = ",".join(str(s) for s in inf._selectors)
        name = f"{inf.resource.plural} [{selectors}]{' meta' if inf.options.metadata_only else ''}"
        stores[name]["own_writes"] = len(inf._recent)
        stores[name]["own_writes_mib"] = deep(inf._recent, seen) / MIB
        stores[name]["deleted"] = deep(inf._deleted, seen) / MIB
        table = inf._interner._table if inf._interner is not None else {}
        stores[name]["interner"] = deep(table, seen) / MIB
    out["informers"] = stores
    queues = {}
    for q in instances("Queue"):
        queues[q.options.name or "queue"] = {
            "waiting": len(q._waiting),
            "mib": sum(deep(x, seen) for x in (q._waiting, q._heap, q._queued_at, q._processing, q._rerun))
            / MIB,
        }
    for q in instances("DelayingQueue"):
        queues[f"{q.options.name or 'queue'} delayed"] = {
            "waiting": len(q._delayed),
            "mib": (deep(q._delayed, seen) + deep(q._heap, seen)) / MIB,
        }
    out["queues"] = queues
    limiters = 0
    for kind in ("ItemExponentialBackoff",):
        for limiter in instances(kind):
            limiters += deep(vars(limiter), seen)
    out["rate_limiters"] = limiters / MIB
    sharders = instances("Sharder")
    out["sharder_placed"] = sum(deep(s._placed, seen) for s in sharders) / MIB
    gates = instances("ShardGate")
    out["gate_unlisted"] = sum(deep(g.unlisted, seen) for g in gates) / MIB
    ssl = instances("SSLProtocol")
    out["tls_connections"] = len(ssl)
    out["tls_buffers"] = sum(len(p._ssl_buffer) for p in ssl) / MIB
    out["asyncio_tasks"] = len(instances("Task"))
    recorders = instances("EventRecorder")
    out["event_series"] = sum(len(r._seen) for r in recorders)
    out["event_series_mib"] = (
        sum(
            sys.getsizeof(r._seen)
            + sum(deep(k, seen) + sys.getsizeof(v) + deep(_fields(v), seen) for k, v in r._seen.items())
            for r in recorders
        )
        / MIB
    )
    everything = gc.get_objects()
    out["gc_objects"] = len(everything)
    out["gc_objects_mib"] = sum(sys.getsizeof(o) for o in everything) / MIB
    by_type: Counter[str] = Counter()
    for o in everything:
        by_type[type(o).__name__] += sys.getsizeof(o)
    out["gc_objects_by_type"] = {k: round(v / MIB, 2) for k, v in by_type.most_common(15)}
    return out


def traced() -> dict[str, Any] | None:
    """With tracemalloc on: the traced bytes now and at peak, by file and by line (top 25, MiB)."""
    if not tracemalloc.is_tracing():
        return None
    now, peak = tracemalloc.get_traced_memory()
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])

    def top(key: str) -> list[tuple[str, float, int]]:
        return [
            (str(stat.traceback), round(stat.size / MIB, 3), stat.count)
            for stat in snapshot.statistics(key)[:25]
        ]

    return {
        "now": now / MIB,
        "peak": peak / MIB,
        "tracemalloc_own": tracemalloc.get_tracemalloc_memory() / MIB,
        "by_file": top("filename"),
        "by_line": top("lineno"),
    }


def report(label: str) -> dict[str, Any]:
    began = time.monotonic()
    found = {
        "label": label,
        "status": status(),
        "mallinfo": mallinfo(),
        "pymalloc": pymalloc(),
        "parts": parts(),
        "traced": traced(),
    }
    found["took_s"] = time.monotonic() - began
    return found


def _write(reports: list[dict[str, Any]]) -> None:
    path = OUT / f"{REPLICA}-probe.json"
    path.write_text(json.dumps(reports, indent=1))
    (OUT / f"{REPLICA}-probe.done").write_text(str(len(reports)))


def _on_usr1(signum: int, frame: Any) -> None:
    _write([report("as is")])


def _on_usr2(signum: int, frame: Any) -> None:
    first = report("as is")
    gc.collect()
    _libc.malloc_trim(0)
    second = {"label": "after gc.collect and malloc_trim(0)", "status": status(), "mallinfo": mallinfo()}
    second["pymalloc"] = pymalloc()
    _write([first, second])


signal.signal(signal.SIGUSR1, _on_usr1)
signal.signal(signal.SIGUSR2, _on_usr2)
