"""The floor of the operator benchmark: the AppService operator's work with kubeloop's client and no
framework. One list+watch of AppServices and one of Deployments per namespace watched, kept in dicts, a
queue of (namespace, name) keys and ``--workers`` tasks that server-side apply the Deployment and
Service of a new generation and write the status (ready replicas, node ports, the Ready condition) when
it differs. No resync, no retries beyond the client's, no metrics: what the API server allows. No
Events either, unless ``--events``: then the Event each implementation posts when an AppService's
Ready condition changes, written in the background as the frameworks write theirs (the floor of the
frameworks' whole work). A write's answer is kept in the dicts only if it is newer than what they
hold (``newer``), as kubeloop's cache keeps a write of its own.

    python bench/operator/floor.py --kubeconfig KC --namespace NS[,NS2...] [--qps 50 --burst 100 --workers 10]
        [--events]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import secrets
import socket
from typing import Any

from kubeloop.client import Client, ClientSettings
from kubeloop.client.errors import NotFoundError

APPS = "appservices.app.example.com"
MANAGER = "appservice-floor"
Obj = dict[str, Any]
Key = tuple[str, str]  # namespace, name


def children(app: Obj) -> tuple[Obj, Obj]:
    """The Deployment and the NodePort Service of an AppService, owned by it."""
    meta, spec = app["metadata"], app["spec"]
    name, namespace = meta["name"], meta["namespace"]
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": MANAGER}
    owner = {
        "apiVersion": "app.example.com/v1", "kind": "AppService", "name": name, "uid": meta["uid"],
        "controller": True, "blockOwnerDeletion": True,
    }  # fmt: skip
    common = {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": [owner]}
    ports = spec.get("ports", [])
    container = {
        "name": "app",
        "image": spec["image"],
        "ports": [{"containerPort": p} for p in dict.fromkeys(p["targetPort"] for p in ports)],
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": common,
        "spec": {
            "replicas": spec.get("size", 1), "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }  # fmt: skip
    service_ports = [
        {"name": f"port-{p['port']}", "port": p["port"], "targetPort": p["targetPort"]}
        | ({"nodePort": p["nodePort"]} if p.get("nodePort") is not None else {})
        for p in ports
    ]
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": common,
        "spec": {"type": "NodePort", "selector": labels, "ports": service_ports},
    }  # fmt: skip
    return deployment, service


def newer(obj: Obj, than: Obj | None) -> bool:
    """Whether ``obj`` is newer than ``than`` by resourceVersion (etcd's revision). The answer to a
    write can be read after the watch brought a later change of the object (on a loaded machine, both
    wait in the same turn of the loop): kept, it undid that change, and with no event to follow an
    AppService was stuck (2-7 of 10 in the runs of tests/e2e/test_bench_operator.py that failed)."""
    if than is None:
        return True
    return int(obj["metadata"]["resourceVersion"]) > int(than["metadata"]["resourceVersion"])


def key(obj: Obj) -> Key:
    return obj["metadata"]["namespace"], obj["metadata"]["name"]


def event(app: Obj, message: str) -> Obj:
    """The Event the implementations post when ``app``'s Ready condition changes (events.k8s.io/v1,
    as kubeloop's recorder writes it)."""
    meta = app["metadata"]
    regarding = {"apiVersion": app["apiVersion"], "kind": app["kind"]} | {
        k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion")
    }
    return {
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": meta["namespace"]},
        "eventTime": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "reportingController": MANAGER, "reportingInstance": f"{MANAGER}-{socket.gethostname()}"[:128],
        "action": "Reconcile", "reason": "Reconciled", "type": "Normal", "regarding": regarding,
        "note": f"Deployment and Service in sync; {message}",
    }  # fmt: skip


class Floor:
    def __init__(self, api: Client, *, events: bool = False) -> None:
        self.api = api
        self.events = events
        self.posting: set[asyncio.Task[None]] = set()  # Events being written
        self.apps: dict[Key, Obj] = {}
        self.deployments: dict[Key, Obj] = {}
        self.node_ports: dict[Key, list[int]] = {}
        self.applied: dict[Key, int] = {}  # generation whose children were applied
        self.queue: asyncio.Queue[Key] = asyncio.Queue()
        self.queued: set[Key] = set()

    @staticmethod
    def keep(store: dict[Key, Obj], obj: Obj) -> None:
        """``obj`` into ``store`` unless the store holds a newer version of it."""
        if newer(obj, store.get(key(obj))):
            store[key(obj)] = obj

    def enqueue(self, at: Key) -> None:
        if at not in self.queued:
            self.queued.add(at)
            self.queue.put_nowait(at)

    async def follow(self, resource: str, store: dict[Key, Obj], namespace: str) -> None:
        """List then watch ``resource`` in ``namespace``, keeping ``store`` current and queueing the
        objects that changed."""
        while True:
            listed = await self.api.list(resource, namespace=namespace)
            for obj in listed["items"]:
                self.keep(store, obj)
                self.enqueue(key(obj))
            version = listed["metadata"]["resourceVersion"]
            try:
                events = self.api.watch(resource, namespace=namespace, resource_version=version)
                async for event in events:
                    if event.type == "BOOKMARK":
                        continue
                    if event.type == "DELETED":
                        store.pop(key(event.object), None)
                    else:
                        self.keep(store, event.object)
                    self.enqueue(key(event.object))
            except Exception:  # a watch ended with an error (410 Gone): list again
                await asyncio.sleep(1)

    async def work(self) -> None:
        while True:
            at = await self.queue.get()
            self.queued.discard(at)
            try:
                await self.reconcile(at)
            except Exception as exc:  # the floor retries on the next event, after a pause
                print(f"{'/'.join(at)}: {exc!r}", flush=True)
                await asyncio.sleep(1)
                self.enqueue(at)

    async def reconcile(self, at: Key) -> None:
        app = self.apps.get(at)
        if app is None:
            return
        generation = app["metadata"]["generation"]
        if self.applied.get(at) != generation or at not in self.deployments:
            deployment, service = children(app)
            self.keep(self.deployments, await self.api.apply(deployment, field_manager=MANAGER, force=True))
            service = await self.api.apply(service, field_manager=MANAGER, force=True)
            self.node_ports[at] = [p["nodePort"] for p in service["spec"]["ports"] if "nodePort" in p]
            self.applied[at] = generation
        ready = self.deployments[at].get("status", {}).get("readyReplicas", 0)
        size = app["spec"].get("size", 1)
        status, reason = ("True", "Available") if ready >= size else ("False", "Progressing")
        message = f"{ready}/{size} replicas ready"
        old = app.get("status") or {}
        was = next((c for c in old.get("conditions", []) if c["type"] == "Ready"), None)
        condition = {
            "type": "Ready", "status": status, "reason": reason, "message": message,
            "observedGeneration": generation,
            "lastTransitionTime": was["lastTransitionTime"] if was and was["status"] == status
            else datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }  # fmt: skip
        new = {"readyReplicas": ready, "nodePorts": self.node_ports.get(at, []), "conditions": [condition]}
        if {k: old.get(k) for k in new} != new:
            namespace, name = at
            try:
                patch = {"status": new}
                written = await self.api.patch(APPS, name, patch, namespace=namespace, subresource="status")
                self.keep(self.apps, written)
            except NotFoundError:
                self.apps.pop(at, None)
                return
            if self.events and (
                was is None or [was[k] for k in ("status", "reason", "message")] != [status, reason, message]
            ):
                self.post(event(written, message))

    def post(self, body: Obj) -> None:
        """Write an Event in the background; a failed write is printed, never retried (best effort)."""

        async def write() -> None:
            try:
                await self.api.create(body)
            except Exception as exc:
                print(f"event {body['metadata']['name']}: {exc!r}", flush=True)

        task = asyncio.create_task(write())
        self.posting.add(task)
        task.add_done_callback(self.posting.discard)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True, help="the namespace watched (several: comma-separated)")
    parser.add_argument("--qps", type=float, default=50.0)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--events", action="store_true", help="post the Event the frameworks post")
    args = parser.parse_args()
    settings = ClientSettings(qps=args.qps, burst=args.burst)
    async with await Client.load(args.kubeconfig, settings=settings) as api:
        floor = Floor(api, events=args.events)
        await asyncio.gather(
            *(floor.follow(APPS, floor.apps, ns) for ns in args.namespace.split(",")),
            *(floor.follow("deployments.apps", floor.deployments, ns) for ns in args.namespace.split(",")),
            *(floor.work() for _ in range(args.workers)),
        )


if __name__ == "__main__":
    asyncio.run(main())
