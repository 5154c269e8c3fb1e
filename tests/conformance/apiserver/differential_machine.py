"""The differential run's generator: a hypothesis state machine whose every rule is one request (or a
list's pages, or a bounded watch) sent to the real kube-apiserver and to the embedded server, the two
answers compared by ``differential_compare``. A sequence's objects carry its own names and a ``seq``
label, so sequences never see each other's objects; each server's uids and resourceVersions are kept
apart (``Seen``) and put into the requests that name them (updates, preconditions, stale versions)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import time
import urllib.parse
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

from apiserver_twin import Answer, Twin
from differential_compare import CONTROLLED, Report, Step, differences, normalise
from differential_kinds import DEPLOYMENT, FINALIZER, KINDS, Body, Kind
from differential_known import tolerated_answers
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

SERVERS = ("real", "embedded")
MANAGERS = st.sampled_from(["alice", "bob"])


class Divergence(AssertionError):
    """An answer of the embedded server differs from the real one's in a way no known difference names."""


GC_FINALIZERS = ("orphan", "foregroundDeletion")


def settled(answer: Answer) -> bool:
    """An object deleted is gone, or held by our finalizer once the garbage collector's are gone: it
    takes out ``orphan`` and ``foregroundDeletion`` on its own time on each server (session 16's long
    run: a Gizmo deleted with ``Orphan`` was watched with the finalizer still there on the real server
    only, s816-s818)."""
    if answer.status == 404:
        return True
    finalizers = answer.body["metadata"].get("finalizers", [])
    return FINALIZER in finalizers and not any(f in finalizers for f in GC_FINALIZERS)


@dataclass
class Seen:
    """What one server has answered about this sequence's objects."""

    start: str = ""
    objects: dict[tuple[str, str], Body] = field(default_factory=dict)
    versions: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def rv(self, key: tuple[str, str], stale: bool = False) -> str | None:
        """The object's last resourceVersion seen, or (``stale``) the first of several; None: none.

        A Deployment's controller writes it on each server on its own time, so one server may have shown
        a sequence one version of it where the other showed two: its stale version is then the
        sequence's start (older than any of the object's on both), not none on one server only (an
        unconditional write there, a 409 on the other)."""
        versions = self.versions.get(key) or []
        if stale:
            if len(versions) > 1:
                return versions[0]
            controlled = key[0] == DEPLOYMENT.name and versions
            return (self.start or None) if controlled else None
        return versions[-1] if versions else None


class TeardownFailed(Exception):
    """Sequences' teardowns failed (a request to a server raised): named each, apart from any sequence's
    answers (a teardown runs while later sequences run)."""

    def __init__(self, failures: list[tuple[str, BaseException]]) -> None:
        super().__init__("; ".join(f"teardown of {name} failed: {exc!r}" for name, exc in failures))
        self.failures = failures


async def _finish(task: asyncio.Task[None]) -> None:
    await task


@dataclass
class Cleanups:
    """Sequences' teardowns, left to run while the next sequences run (nothing of them is compared, and
    each sequence has objects of its own names and label): at most ``limit`` unfinished at once. A
    teardown's error is kept with its sequence's name, never raised inside another sequence; ``finishing``
    reports them. A teardown took a fifth of a sequence's time when awaited."""

    runner: asyncio.Runner
    limit: int = 2
    tasks: list[tuple[str, asyncio.Task[None]]] = field(default_factory=list)
    failures: list[tuple[str, BaseException]] = field(default_factory=list)

    def add(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        self.tasks.append((name, self.runner.get_loop().create_task(work)))
        while len(self.tasks) > self.limit or (self.tasks and self.tasks[0][1].done()):
            self._collect()

    def _collect(self) -> None:
        name, task = self.tasks.pop(0)
        try:
            self.runner.run(_finish(task))
        except Exception as exc:
            self.failures.append((name, exc))

    @contextlib.contextmanager
    def finishing(self) -> Iterator[None]:
        """Run sequences inside; on leaving, even by an exception (a restart after FlakyFailure), every
        teardown is finished, before the connections they use are closed. Their failures are raised as
        ``TeardownFailed``, or noted on the exception that is leaving."""
        try:
            yield
        except BaseException as exc:
            for name, failure in self._finish_all():
                exc.add_note(f"teardown of {name} failed too: {failure!r}")
            raise
        failures = self._finish_all()
        if failures:
            raise TeardownFailed(failures) from failures[0][1]

    def _finish_all(self) -> list[tuple[str, BaseException]]:
        while self.tasks:
            self._collect()
        failures, self.failures = self.failures, []
        return failures


@dataclass
class Context:
    """What every sequence of one test runs with."""

    twin: Twin
    namespace: str
    runner: asyncio.Runner
    report: Report
    stop_at_first: bool  # raise at the first unlisted divergence (hypothesis then shrinks it)
    counter: itertools.count[int] = field(default_factory=itertools.count)
    checkpoint: Callable[[Report], None] | None = None  # called between sequences (a long run's progress)
    cleanups: Cleanups = field(init=False)

    def __post_init__(self) -> None:
        self.cleanups = Cleanups(self.runner)


Build = Callable[[Seen], tuple[str, Any]]


class Sequence(RuleBasedStateMachine):
    """One sequence of requests on a handful of objects of every kind."""

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx
        self.seq = f"s{next(ctx.counter)}"
        self.seen = {name: Seen() for name in SERVERS}
        self.diverged = False
        self.sentinels = itertools.count()
        self.touched: set[str] = set()
        self.log: list[str] = []  # the sequence's steps so far, reported with a divergence
        if ctx.checkpoint and ctx.report.sequences % 20 == 0:
            ctx.checkpoint(ctx.report)
        ctx.report.sequences += 1
        for server, seen in zip(
            SERVERS, self._both("GET", f"/api/v1/namespaces/{ctx.namespace}/configmaps?limit=1"), strict=True
        ):
            self.seen[server].start = seen.body["metadata"]["resourceVersion"]

    # -- plumbing ------------------------------------------------------------------------------------

    def _both(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[Answer, Answer]:
        return self._gather(
            [getattr(self.ctx.twin, server).call(method, path, body, content_type) for server in SERVERS]
        )

    def _gather(self, calls: list[Coroutine[Any, Any, Answer]]) -> tuple[Answer, Answer]:
        """The real and the embedded server's answers to their requests, sent at once: the two servers
        are independent, and waiting for one before asking the other doubled a step's time."""

        async def both() -> list[Answer]:
            return list(await asyncio.gather(*calls))

        real, embedded = self.ctx.runner.run(both())
        return real, embedded

    def _send(
        self, step: Step, build: Build | None = None, content_type: str = "application/json"
    ) -> tuple[Answer, Answer]:
        """Send ``step`` (or what ``build`` makes of it with each server's ``Seen``) to both servers."""
        calls = []
        for server in SERVERS:
            path, body = build(self.seen[server]) if build else (step.path, step.body)
            client = getattr(self.ctx.twin, server)
            calls.append(client.call(step.method, path, body, content_type))
        return self._gather(calls)

    def compare(self, step: Step, real: Any, embedded: Any) -> None:
        report = self.ctx.report
        report.steps[step.category] += 1
        self.log.append(f"{step.describe()[:600]} -> {real.status} / {embedded.status}")
        normal = normalise(real, step.kind), normalise(embedded, step.kind)
        diffs = differences(*normal)
        if not diffs:
            report.exact[step.category] += 1
            return
        names = tolerated_answers(step, *normal, diffs)
        if names is not None:
            report.tolerated[step.category] += 1
            report.known_used.update(set(names))
            # A known difference in what was stored (one server refused, the other accepted) parts the
            # servers' states too: the rest of the sequence would only report its consequences.
            self.diverged = self.diverged or real.status != embedded.status
            return
        report.diverged.append((step, diffs))
        report.contexts.append(list(self.log))
        if self.ctx.stop_at_first:
            raise Divergence(f"{step.describe()}\n" + "\n".join(str(d) for d in diffs))
        if real.status != embedded.status:
            self.diverged = True  # the two servers' states part here: the rest would only repeat it

    def track(self, kind: Kind, name: str, answers: tuple[Answer, Answer]) -> None:
        key = (kind.name, name)
        for server, answer in zip(SERVERS, answers, strict=True):
            seen, body = self.seen[server], answer.body
            if answer.status == 404:
                seen.objects.pop(key, None)
            elif answer.status < 300 and isinstance(body, dict) and body.get("kind") in (kind.name, "Scale"):
                rv = body.get("metadata", {}).get("resourceVersion")
                if body.get("kind") == kind.name and body["metadata"].get("name") == name:
                    seen.objects[key] = body
                if rv and rv not in seen.versions.setdefault(key, []):
                    seen.versions[key].append(rv)

    def exchange(
        self,
        step: Step,
        name: str | None,
        build: Build | None = None,
        content_type: str = "application/json",
        kind: Kind | None = None,
    ) -> tuple[Answer, Answer]:
        answers = self._send(step, build, content_type)
        self.compare(step, *answers)
        if name is not None and kind is not None:
            self.track(kind, name, answers)
        return answers

    def name(self, data: st.DataObject) -> str:
        return f"{self.seq}-{data.draw(st.sampled_from(['a', 'b']), label='name')}"

    def kind(self, data: st.DataObject, having: Callable[[Kind], bool] = lambda k: True) -> Kind:
        kind = data.draw(st.sampled_from([k for k in KINDS if having(k)]), label="kind")
        self.touched.add(kind.name)
        return kind

    def metadata(self, data: st.DataObject, name: str, valid: bool) -> Body:
        md: Body = {"name": name, "labels": {"seq": self.seq}}
        extra = data.draw(st.sampled_from([None, "a", "b"]), label="extra label")
        if extra:
            md["labels"]["extra"] = extra
        if data.draw(st.sampled_from([False, False, False, True]), label="finalizer"):
            md["finalizers"] = [FINALIZER]
        if not valid and data.draw(st.booleans(), label="bad metadata"):
            bad = data.draw(st.sampled_from(["name", "label", "annotation", "generation"]), label="what")
            if bad == "name":
                md["name"] = name.replace("-", "_")
            elif bad == "label":
                md["labels"]["extra"] = "not valid!"
            elif bad == "annotation":
                md["annotations"] = {"a/b/c": "x"}
            else:
                md["generation"] = "one"
        return md

    def body(
        self, data: st.DataObject, kind: Kind, name: str, valid: bool | None = None
    ) -> tuple[Body, bool]:
        if valid is None:
            valid = data.draw(st.sampled_from([True, True, False]), label="valid")
        content = data.draw(kind.valid if valid else kind.invalid, label="content")
        body = {
            "apiVersion": kind.api_version,
            "kind": kind.name,
            "metadata": self.metadata(data, name, valid),
            **content,
        }
        return body, valid

    def _path(self, kind: Kind, name: str = "", sub: str = "", query: dict[str, str] | None = None) -> str:
        path = kind.collection(self.ctx.namespace)
        if name:
            path += f"/{name}"
        if sub:
            path += f"/{sub}"
        if query:
            path += "?" + urllib.parse.urlencode(query)
        return path

    def _refresh(self, kind: Kind, name: str) -> None:
        """Read the object again on both servers (not compared: a controller may have written it)."""
        self.track(kind, name, self._both("GET", self._path(kind, name)))

    def _settle(self, kind: Kind, name: str) -> None:
        """After a delete: wait until the object is gone from each server or held by our finalizer alone
        (the garbage collector finishes foreground and orphan deletions on its own time)."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            answers = self._both("GET", self._path(kind, name))
            self.track(kind, name, answers)
            if all(settled(a) for a in answers):
                return
            self.ctx.runner.run(asyncio.sleep(0.1))

    # -- rules -----------------------------------------------------------------------------------------

    @rule(data=st.data())
    def create(self, data: st.DataObject) -> None:
        if self.diverged:
            return
        kind, name = self.kind(data), self.name(data)
        body, valid = self.body(data, kind, name)
        query: dict[str, str] = {}
        how = data.draw(
            st.sampled_from(["plain", "plain", "dry-run", "generate-name", "strict"]), label="how"
        )
        if how == "dry-run":
            query["dryRun"] = "All"
        elif how == "generate-name":
            body["metadata"]["generateName"] = f"{name}-"
            del body["metadata"]["name"]
        elif how == "strict":
            query["fieldValidation"] = "Strict"
            body["bogus"] = 1
        step = Step("create", kind.name, "POST", self._path(kind, query=query), body, valid)
        real, embedded = self.exchange(step, None if how == "generate-name" else name, kind=kind)
        if how == "generate-name":
            for server, answer in zip(SERVERS, (real, embedded), strict=True):
                if answer.status == 201:
                    client = getattr(self.ctx.twin, server)
                    generated = self._path(kind, answer.body["metadata"]["name"])
                    self.ctx.runner.run(
                        client.call(
                            "PATCH",
                            generated,
                            {"metadata": {"finalizers": None}},
                            "application/merge-patch+json",
                        )
                    )
                    self.ctx.runner.run(client.call("DELETE", generated))

    @rule(data=st.data())
    def get(self, data: st.DataObject) -> None:
        if self.diverged:
            return
        kind, name = self.kind(data), self.name(data)
        if data.draw(st.booleans(), label="bad name"):
            name = f"{name}_X"
        self.exchange(Step("get", kind.name, "GET", self._path(kind, name)), name, kind=kind)

    @rule(data=st.data())
    def list(self, data: st.DataObject) -> None:
        if self.diverged:
            return
        kind = self.kind(data)
        selector = data.draw(
            st.sampled_from(
                ["", ",extra=a", ",extra!=a", ",extra in (a,b)", ",!extra", ",extra", ",extra==,"]
            ),
            label="label selector",
        )
        query = {"labelSelector": f"seq={self.seq}{selector}"}
        fields = data.draw(
            st.sampled_from(
                [
                    "",
                    f"metadata.name={self.seq}-a",
                    f"metadata.name!={self.seq}-a",
                    f"metadata.namespace={self.ctx.namespace}",
                    "spec.bogus=x",
                ]
                + (["type=Opaque"] if kind.name == "Secret" else [])
            ),
            label="field selector",
        )
        if fields:
            query["fieldSelector"] = fields
        limit = data.draw(st.sampled_from([None, 1, 2, 500]), label="limit")
        if limit:
            query["limit"] = str(limit)
        tokens: dict[str, str | None] = dict.fromkeys(SERVERS)

        def page(seen: Seen) -> tuple[str, Any]:
            server = "real" if seen is self.seen["real"] else "embedded"
            q = dict(query, **({"continue": tokens[server]} if tokens[server] else {}))
            return self._path(kind, query=q), None

        for _ in range(6):
            answers = self.exchange(Step("list", kind.name, "GET", self._path(kind, query=query)), None, page)
            for server, answer in zip(SERVERS, answers, strict=True):
                tokens[server] = (
                    answer.body.get("metadata", {}).get("continue") if isinstance(answer.body, dict) else None
                )
            if not all(tokens.values()):
                return

    @rule(data=st.data())
    def watch(self, data: st.DataObject) -> None:
        if self.diverged:
            return
        kind = self.kind(data)
        how = data.draw(
            st.sampled_from(["from-start", "from-start", "initial-events", "bad-version"]), label="watch"
        )
        sentinel = f"{self.seq}-sentinel{next(self.sentinels)}"
        body = {
            "apiVersion": kind.api_version,
            "kind": kind.name,
            "metadata": {"name": sentinel, "labels": {"seq": self.seq}},
            **kind.sentinel,
        }
        self._both("POST", self._path(kind), body)
        base = {"watch": "1", "labelSelector": f"seq={self.seq}"}

        def ends(event: Any) -> bool:
            obj = event.get("object") or {}
            if event.get("type") == "ERROR":
                return True
            if how == "initial-events":
                return event.get("type") == "BOOKMARK" and "k8s.io/initial-events-end" in obj.get(
                    "metadata", {}
                ).get("annotations", {})
            return obj.get("metadata", {}).get("name") == sentinel

        watches = []
        for server in SERVERS:
            seen = self.seen[server]
            query = dict(base)
            if how == "from-start":
                query["resourceVersion"] = seen.start
            elif how == "initial-events":
                query.update(
                    sendInitialEvents="true", resourceVersionMatch="NotOlderThan", allowWatchBookmarks="true"
                )
            else:
                query["resourceVersion"] = "abc"
            client = getattr(self.ctx.twin, server)
            watches.append(client.watch(self._path(kind, query=query), ends))
        real, embedded = (_events(a, kind, sentinel) for a in self._gather(watches))
        self.compare(
            Step("watch", kind.name, "GET", self._path(kind, query=dict(base, how=how))), real, embedded
        )
        self._both("DELETE", self._path(kind, sentinel))

    @rule(data=st.data())
    def update(self, data: st.DataObject) -> None:
        if self.diverged:
            return
        kind, name = self.kind(data), self.name(data)
        version = data.draw(st.sampled_from(["current", "stale", "none"]), label="resourceVersion")
        if kind is DEPLOYMENT:
            self._refresh(kind, name)
        fresh, valid = self.body(data, kind, name)
        key = (kind.name, name)

        def build(seen: Seen) -> tuple[str, Any]:
            old = seen.objects.get(key)
            body = (
                copy.deepcopy(old)
                if old
                else {"apiVersion": kind.api_version, "kind": kind.name, "metadata": {"name": name}}
            )
            body = {k: v for k, v in body.items() if k in ("apiVersion", "kind", "metadata", "status")}
            body.update({k: v for k, v in fresh.items() if k not in ("apiVersion", "kind", "metadata")})
            md = body["metadata"]
            md["labels"] = fresh["metadata"]["labels"]
            md.pop("managedFields", None)
            for key2 in ("finalizers", "annotations", "generation"):
                if key2 in fresh["metadata"]:
                    md[key2] = fresh["metadata"][key2]
                else:
                    md.pop(key2, None) if key2 != "generation" else None
            # The revision the deployment controller wrote on its own time stays, as a client that read
            # the object keeps it: dropping it is a change (generation + 1) only where it had been written.
            annotations = ((old or {}).get("metadata") or {}).get("annotations") or {}
            revision = {k: v for k, v in annotations.items() if k in CONTROLLED}
            if kind is DEPLOYMENT and revision:
                md["annotations"] = {**revision, **(md.get("annotations") or {})}
            md["name"] = fresh["metadata"]["name"]
            rv = seen.rv(key, stale=version == "stale")
            if version == "none" or rv is None:
                md.pop("resourceVersion", None)
            else:
                md["resourceVersion"] = rv
            return self._path(kind, name), body

        step = Step("update", kind.name, "PUT", self._path(kind, name), {"version": version, **fresh}, valid)
        self.exchange(step, name, build, kind=kind)

    @rule(data=st.data())
    def patch(self, data: st.DataObject) -> None:
        if self.diverged:
            return
        kind, name = self.kind(data), self.name(data)
        how = data.draw(st.sampled_from(["json", "merge", "strategic"]), label="patch type")
        content_type = {
            "json": "application/json-patch+json",
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
        }[how]
        if how == "json":
            body: Any = data.draw(kind.json_ops, label="operations")
            valid = True
        else:
            fresh, valid = self.body(data, kind, name)
            body = {k: v for k, v in fresh.items() if k not in ("apiVersion", "kind")}
            body["metadata"] = {k: v for k, v in fresh["metadata"].items() if k != "name"}
            if data.draw(st.booleans(), label="drop extra label"):
                body["metadata"]["labels"] = {"extra": None}
        version = data.draw(st.sampled_from(["none", "none", "current", "stale"]), label="resourceVersion")
        if kind is DEPLOYMENT:
            version = "none" if version == "current" else version
        key = (kind.name, name)

        def build(seen: Seen) -> tuple[str, Any]:
            rv = seen.rv(key, stale=version == "stale")
            if version == "none" or rv is None:
                return self._path(kind, name), body
            if how == "json":
                return self._path(kind, name), [
                    {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
                    *body,
                ]
            return self._path(kind, name), {**body, "metadata": {**body["metadata"], "resourceVersion": rv}}

        step = Step(
            f"patch-{how}",
            kind.name,
            "PATCH",
            self._path(kind, name),
            {"version": version, "patch": body},
            valid,
        )
        self.exchange(step, name, build, content_type, kind=kind)

    @rule(data=st.data())
    def apply(self, data: st.DataObject) -> None:
        if self.diverged:
            return
        kind, name = self.kind(data), self.name(data)
        body, valid = self.body(data, kind, name)
        query = {"fieldManager": data.draw(MANAGERS, label="manager")}
        if data.draw(st.booleans(), label="force"):
            query["force"] = "true"
        if data.draw(st.sampled_from([False, False, False, True]), label="no manager"):
            del query["fieldManager"]
            valid = False
        if data.draw(st.sampled_from([False, False, False, True]), label="no kind"):
            del body["kind"]
            valid = False
        step = Step("apply", kind.name, "PATCH", self._path(kind, name, query=query), body, valid)
        self.exchange(step, name, content_type="application/apply-patch+yaml", kind=kind)

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        if self.diverged:
            return
        kind, name = self.kind(data), self.name(data)
        query: dict[str, str] = {}
        policy = data.draw(
            st.sampled_from([None, "Orphan", "Background", "Foreground", "Sometimes"]), label="propagation"
        )
        if policy:
            query["propagationPolicy"] = policy
        if data.draw(st.sampled_from([False, False, False, True]), label="dry run"):
            query["dryRun"] = "All"
        uid = data.draw(st.sampled_from([None, None, "own", "other"]), label="uid precondition")
        version = data.draw(st.sampled_from([None, None, "current", "stale"]), label="version precondition")
        key = (kind.name, name)

        def build(seen: Seen) -> tuple[str, Any]:
            pre: Body = {}
            if uid:
                obj = seen.objects.get(key)
                own = obj["metadata"]["uid"] if obj else "00000000-0000-0000-0000-000000000000"
                pre["uid"] = own if uid == "own" else "11111111-2222-3333-4444-555555555555"
            if version and seen.rv(key, stale=version == "stale"):
                pre["resourceVersion"] = seen.rv(key, stale=version == "stale")
            body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": pre} if pre else None
            return self._path(kind, name, query=query), body

        if kind is DEPLOYMENT and version == "current":
            self._refresh(kind, name)
        step = Step(
            "delete",
            kind.name,
            "DELETE",
            self._path(kind, name, query=query),
            {"uid": uid, "version": version},
        )
        answers = self.exchange(step, name, build, kind=kind)
        if any(a.status < 300 for a in answers):
            self._settle(kind, name)

    @rule(data=st.data())
    def status(self, data: st.DataObject) -> None:
        if self.diverged:
            return
        kind, name = self.kind(data, lambda k: k.status is not None), self.name(data)
        assert kind.status is not None
        how = data.draw(st.sampled_from(["get", "merge", "put"]), label="status verb")
        patch = data.draw(kind.status, label="status")
        if how == "get":
            self.exchange(Step("status", kind.name, "GET", self._path(kind, name, "status")), name, kind=kind)
            return
        if how == "merge":
            step = Step("status", kind.name, "PATCH", self._path(kind, name, "status"), patch)
            self.exchange(step, name, content_type="application/merge-patch+json", kind=kind)
            return
        if kind is DEPLOYMENT:
            self._refresh(kind, name)
        key = (kind.name, name)

        def build(seen: Seen) -> tuple[str, Any]:
            old = seen.objects.get(key) or {
                "apiVersion": kind.api_version,
                "kind": kind.name,
                "metadata": {"name": name},
            }
            body = {**copy.deepcopy(old), **patch}
            body["metadata"].pop("managedFields", None)
            if kind is DEPLOYMENT:
                body["metadata"].pop("resourceVersion", None)
            return self._path(kind, name, "status"), body

        self.exchange(
            Step("status", kind.name, "PUT", self._path(kind, name, "status"), patch), name, build, kind=kind
        )

    @rule(data=st.data())
    def scale(self, data: st.DataObject) -> None:
        if self.diverged:
            return
        kind, name = self.kind(data, lambda k: k.scale), self.name(data)
        how = data.draw(st.sampled_from(["get", "merge", "put"]), label="scale verb")
        replicas = data.draw(st.sampled_from([0, 1, 3, -1, "two"]), label="replicas")
        path = self._path(kind, name, "scale")
        if how == "get":
            self.exchange(Step("scale", kind.name, "GET", path), name, kind=kind)
        elif how == "merge":
            step = Step("scale", kind.name, "PATCH", path, {"spec": {"replicas": replicas}})
            self.exchange(step, name, content_type="application/merge-patch+json", kind=kind)
        else:
            body = {
                "apiVersion": "autoscaling/v1",
                "kind": "Scale",
                "metadata": {"name": name, "namespace": self.ctx.namespace},
                "spec": {"replicas": replicas},
            }
            self.exchange(Step("scale", kind.name, "PUT", path, body), name, kind=kind)
        if how != "get":
            self._refresh(kind, name)

    def teardown(self) -> None:
        """Remove this sequence's objects from both servers (its finalizers first); every kind on both
        servers at once, while the next sequence runs (``Cleanups``)."""

        async def remove(client: Any, kind: Kind, name: str, finalizers: bool) -> None:
            path = self._path(kind, name)
            if finalizers:
                await client.call(
                    "PATCH", path, {"metadata": {"finalizers": None}}, "application/merge-patch+json"
                )
            await client.call("DELETE", path)

        async def clean(client: Any, kind: Kind) -> None:
            listed = await client.call("GET", self._path(kind, query={"labelSelector": f"seq={self.seq}"}))
            items = listed.body.get("items", []) if isinstance(listed.body, dict) else []
            await asyncio.gather(
                *(
                    remove(client, kind, i["metadata"]["name"], bool(i["metadata"].get("finalizers")))
                    for i in items
                )
            )

        async def everything() -> None:
            await asyncio.gather(
                *(
                    clean(getattr(self.ctx.twin, server), kind)
                    for kind in KINDS
                    if kind.name in self.touched
                    for server in SERVERS
                )
            )

        self.ctx.cleanups.add(self.seq, everything())


def _events(answer: Answer, kind: Kind, sentinel_prefix: str) -> Answer:
    """A watch's events without the sentinels that bound it, intermediate bookmarks, and (Deployments)
    the events only a controller's status write made (equal to the one before once normalised)."""
    if answer.status != 200:
        return answer
    prefix = sentinel_prefix.rsplit("sentinel", 1)[0] + "sentinel"
    kept: list[Any] = []
    for event in answer.body:
        obj = event.get("object") or {}
        name = obj.get("metadata", {}).get("name", "")
        if name.startswith(prefix):
            continue
        if event.get("type") == "BOOKMARK" and "k8s.io/initial-events-end" not in obj.get("metadata", {}).get(
            "annotations", {}
        ):
            continue
        if kind is DEPLOYMENT and kept and event["type"] == "MODIFIED" and _same(event, kept[-1], kind):
            continue
        kept.append(event)
    return Answer(200, kept, answer.warnings)


def _same(event: Any, before: Any, kind: Kind) -> bool:
    return normalise(Answer(200, event["object"], []), kind) == normalise(
        Answer(200, before["object"], []), kind
    )
