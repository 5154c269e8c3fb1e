"""Object storage of the embedded API server: SQLite on disk (or in memory), one writer, watch history.

Role: the bottom of ``kubeloop.apiserver``. The verbs read committed objects from memory and send every
change through ``Store.write``; control loops and watch requests subscribe with ``Store.watch`` and read
through the public read API only (``get``, ``items``, ``list``, ``resources``, ``by_uid``,
``dependents`` by owner UID), never the store's private state.

Guarantees:

- One writer task applies write jobs strictly one after another, so a job sees every earlier job's
  effect and ``resourceVersion`` (one global counter, persisted) increases by one per stored change.
- Jobs that queue up while a commit is running are committed together in one SQLite transaction
  (group commit); a job's future resolves only after its transaction committed, so an acknowledged
  write survives ``kill -9`` (WAL, ``synchronous=NORMAL``; pass ``durable=True`` for ``FULL``).
- Readers (``get``/``list``) see only committed changes; ``resource_version`` is the newest committed
  version, and every event up to it has been handed to every watcher.
- Watch history is a bounded ring of events; ``watch(since=rv)`` replays the events after ``rv``, or
  raises 410 Expired when ``rv`` is older than the oldest event kept (after a restart the history is
  empty, so only the current version can be resumed).

Caveats: stored dicts are shared, never mutate what ``get``/``list``/events return (copy first).
SQLite runs in one dedicated thread; the event loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import concurrent.futures
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson

from kubeloop.apiserver.storage.events import Event, Key, Obj, Watcher
from kubeloop.apiserver.storage.history import History
from kubeloop.apiserver.storage.index import UidIndex
from kubeloop.apiserver.storage.view import View

__all__ = ["Store"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    rv INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (resource, namespace, name));
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
"""


@dataclass
class _Job(Generic[T]):
    fn: Callable[[View], T]
    dry_run: bool
    future: asyncio.Future[T]


class Store:
    """SQLite-backed objects with one writer task and watchable history (see module docstring)."""

    def __init__(self, path: Path | None = None, *, history: int = 10_000, durable: bool = False) -> None:
        self._path = path
        self._durable = durable
        self._objects: dict[str, dict[tuple[str, str], Obj]] = collections.defaultdict(dict)
        self._history = History(history)
        self._index = UidIndex()
        self._rv = 0
        self._watchers: set[Watcher] = set()
        self._jobs: asyncio.Queue[_Job[Any]] = asyncio.Queue()
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kubeloop-sqlite")
        self._db: sqlite3.Connection | None = None
        self._writer: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    async def open(self) -> None:
        """Open (or create) the database, load every object, start the writer."""
        rows = await self._run(self._open_db)
        for resource, namespace, name, body in rows:
            obj = orjson.loads(body)
            self._objects[resource][(namespace, name)] = obj
            self._index.update((resource, namespace, name), None, obj)
        self._history.clear(self._rv)
        self._writer = asyncio.create_task(self._write_loop(), name="kubeloop-apiserver-writer")

    async def close(self) -> None:
        """Stop the writer (pending jobs fail), end every watch, close the database."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        self.close_watches()
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._thread.shutdown(wait=False)

    def _open_db(self) -> builtins.list[tuple[str, str, str, bytes]]:
        db = sqlite3.connect(str(self._path) if self._path else ":memory:", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if self._durable else 'NORMAL'}")
        db.executescript(_SCHEMA)
        row = db.execute("SELECT v FROM meta WHERE k = 'rv'").fetchone()
        self._rv = int(row[0]) if row else 1
        self._db = db
        return list(db.execute("SELECT resource, namespace, name, body FROM objects"))

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    # -- reads -------------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The newest committed resourceVersion."""
        return self._rv

    @property
    def compacted(self) -> int:
        """The oldest resourceVersion that can still be watched from or read exactly."""
        return self._history.compacted

    def get(self, key: Key) -> Obj | None:
        """The committed object at ``key``, or None."""
        return self._objects.get(key[0], {}).get((key[1], key[2]))

    def items(self, resource: str, namespace: str | None = None) -> Iterator[tuple[Key, Obj]]:
        """Committed (key, object) pairs of ``resource``, unordered."""
        for (ns, name), obj in self._objects.get(resource, {}).items():
            if namespace is None or ns == namespace:
                yield (resource, ns, name), obj

    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        """Committed objects of ``resource`` ordered by (namespace, name)."""
        pairs = sorted(self.items(resource, namespace), key=lambda p: p[0])
        return [obj for _, obj in pairs]

    def resources(self) -> builtins.list[str]:
        """Every resource (``group/plural``) with committed objects, sorted."""
        return sorted(r for r, bucket in self._objects.items() if bucket)

    def by_uid(self, uid: str) -> Obj | None:
        """The committed object with ``uid``, or None."""
        key = self._index.key(uid)
        return None if key is None else self.get(key)

    def dependents(self, owner_uid: str) -> builtins.list[tuple[Key, Obj]]:
        """Committed objects with an owner reference to ``owner_uid``, by key."""
        found = []
        for key in self._index.dependents(owner_uid):
            obj = self.get(key)
            if obj is not None:
                found.append((key, obj))
        return found

    def snapshot(self, resource: str, namespace: str | None, rv: int) -> builtins.list[Obj]:
        """Objects of ``resource`` as they were at ``rv`` (from the watch history); 410 if too old."""
        if rv >= self._rv:
            return self.list(resource, namespace)
        state = self._history.rewind(
            dict(self.items(resource, namespace)), rv, _Scope(resource, namespace).wants
        )
        return [state[k] for k in sorted(state)]

    def compact(self) -> None:
        """Forget the watch history: older versions can no longer be watched from or read (410)."""
        self._history.clear(self._rv)

    # -- writes ------------------------------------------------------------------------------------

    async def write(self, fn: Callable[[View], T], *, dry_run: bool = False) -> T:
        """Run ``fn`` in the writer against the current state, commit what it staged, return its result.

        An exception from ``fn`` discards its changes and is raised here. With ``dry_run`` the changes
        are always discarded (and no resourceVersion is used up).
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put_nowait(_Job(fn, dry_run, future))
        return await future

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._jobs.get()]
            while not self._jobs.empty() and len(batch) < 256:
                batch.append(self._jobs.get_nowait())
            staged: dict[Key, Obj | None] = {}
            done: list[tuple[_Job[Any], Any]] = []
            rv = self._rv
            events: list[tuple[Key, Obj | None, int]] = []
            for job in batch:
                if job.future.cancelled():
                    continue
                view = View(self, staged, rv)
                try:
                    result = job.fn(view)
                except Exception as exc:  # the job's own failure goes to its caller
                    job.future.set_exception(exc)
                    continue
                if job.dry_run:
                    done.append((job, result))
                    continue
                for key, obj, event_rv in view.staged():
                    events.append((key, obj, event_rv))
                    staged[key] = obj
                rv = view.last_rv
                done.append((job, result))
            if staged:
                rows = [(k, None if o is None else orjson.dumps(o)) for k, o in staged.items()]
                try:
                    await self._run(self._persist, rows, rv)
                except Exception as exc:
                    for job, _ in done:
                        if not job.future.done():
                            job.future.set_exception(exc)
                    continue
                self._apply(events, rv)
            for job, result in done:
                if not job.future.done():
                    job.future.set_result(result)

    def _persist(self, rows: builtins.list[tuple[Key, bytes | None]], rv: int) -> None:
        assert self._db is not None
        db = self._db
        db.execute("BEGIN")
        try:
            for (resource, namespace, name), body in rows:
                if body is None:
                    db.execute(
                        "DELETE FROM objects WHERE resource=? AND namespace=? AND name=?",
                        (resource, namespace, name),
                    )
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?)",
                        (resource, namespace, name, 0, body),
                    )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('rv', ?)", (rv,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _apply(self, events: builtins.list[tuple[Key, Obj | None, int]], rv: int) -> None:
        for key, obj, event_rv in sorted(events, key=lambda e: e[2]):
            bucket = self._objects[key[0]]
            old = bucket.get((key[1], key[2]))
            if obj is None:
                if old is None:
                    continue
                del bucket[(key[1], key[2])]
                last = dict(old, metadata=dict(old["metadata"], resourceVersion=str(event_rv)))
                event = Event("DELETED", event_rv, key, last, old)
            else:
                bucket[(key[1], key[2])] = obj
                event = Event("MODIFIED" if old is not None else "ADDED", event_rv, key, obj, old)
            self._index.update(key, old, obj)
            self._history.append(event)
            for watcher in self._watchers:
                if watcher.wants(key):
                    watcher.queue.put_nowait(event)
        self._rv = rv

    # -- watch -------------------------------------------------------------------------------------

    def watch(self, resource: str | None, namespace: str | None = None, since: int | None = None) -> Watcher:
        """Subscribe to changes of ``resource`` (all when None) after ``since`` (default: now).

        Raises 410 Expired when ``since`` is older than the history kept.
        """
        watcher = Watcher(resource, namespace, self._watchers.discard)
        if since is not None and since < self._rv:
            for event in self._history.since(since, watcher.wants):
                watcher.queue.put_nowait(event)
        self._watchers.add(watcher)
        return watcher

    def close_watches(self) -> None:
        """End every watch: their iterations stop (the server does this before it stops serving)."""
        for watcher in list(self._watchers):
            watcher.close()


class _Scope:
    def __init__(self, resource: str, namespace: str | None) -> None:
        self.resource, self.namespace = resource, namespace

    def wants(self, key: Key) -> bool:
        return key[0] == self.resource and (self.namespace is None or key[1] == self.namespace)
