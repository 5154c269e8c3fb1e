"""``Runtime``: what the built-in controllers share: shared informers over the server's own storage
(``kubeloop.cache.Cache`` over ``StoreListWatch``) and writes through the verbs (``rest.Api``, so every
write passes the kinds' strategies and admission, as a client's would).

``Builtin`` is the base of one controller: it builds a ``kubeloop.controller.Controller`` (work queue
with per-key exponential backoff, N workers, requeue) in ``setup`` and reconciles one key at a time.
Writes observe their result into the resource's informer (read-your-own-writes), so a reconcile right
after a create sees what it created. A conflict (another writer got there first) requeues the key with
backoff without logging an error, as the real controllers do; a 404 (the object, or its namespace, went
meanwhile) ends the reconcile: the deletion is an event of its own; so does a create refused because
the namespace is terminating (its deletion deletes the owner too).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from kubeloop.apiserver.controllers.listwatch import StoreListWatch, api_resource, client_error
from kubeloop.apiserver.controllers.objects import owner_reference, selector_of
from kubeloop.apiserver.machinery import meta
from kubeloop.apiserver.machinery.errors import StatusError
from kubeloop.apiserver.registry.convert import to_version
from kubeloop.apiserver.registry.types import Registry, ResourceType
from kubeloop.apiserver.rest.api import Api, DeleteOptions, WriteOptions
from kubeloop.cache import Cache, CacheOptions, Informer, InformerOptions
from kubeloop.client.errors import AlreadyExistsError, ConflictError, ForbiddenError, NotFoundError
from kubeloop.controller import Controller, ControllerOptions, Request, Result
from kubeloop.gvk import split_api_version

__all__ = ["MANAGER", "Builtin", "Runtime", "SimulationOptions"]

log = logging.getLogger("kubeloop.apiserver.controllers")
Obj = dict[str, Any]
MANAGER = "kube-controller-manager"
USER = {"username": "system:kube-controller-manager", "groups": ["system:authenticated"]}
"""Who the controllers' writes come from, for admission webhooks: kube-controller-manager's own identity
(the test control plane runs it without per-controller service accounts)."""
_TERMINATING = "because it is being terminated"


@dataclass(frozen=True)
class SimulationOptions:
    """How the simulated cluster behaves.

    ``nodes``: simulated Nodes (``kubeloop-node-0`` …), Ready, that the scheduler binds Pods to;
    ``pod_start_delay``: seconds from binding until the simulated kubelet reports a Pod Running and
    Ready; ``resync_period``: seconds between the informers' resyncs (every object reconciled again).
    """

    nodes: int = 1
    pod_start_delay: float = 0.1
    resync_period: float = 300.0


class Runtime:
    """Shared informers and writes of the built-in controllers over one ``Api``."""

    def __init__(self, api: Api, registry: Registry, options: SimulationOptions) -> None:
        self.api = api
        self.store = api.store
        self.registry = registry
        self.options = options
        self.listwatch = StoreListWatch(api, registry)
        self.cache = Cache(self.listwatch, CacheOptions(InformerOptions(resync_period=options.resync_period)))

    def rt_of(self, obj: Obj) -> ResourceType | None:
        """The served resource of ``obj``'s apiVersion and kind (owner references work too)."""
        return self.registry.by_kind(split_api_version(obj.get("apiVersion", ""))[0], obj.get("kind", ""))

    def rt(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self.registry.get(group, version, plural)
        if rt is None:
            raise LookupError(f"{plural}.{group}/{version} is not served")
        return rt

    async def informer(self, rt: ResourceType) -> Informer:
        """The shared informer of ``rt`` (all namespaces)."""
        return await self.cache.informer(api_resource(rt))

    def _informers_of(self, rt: ResourceType) -> list[Informer]:
        return [
            i
            for i in self.cache.informers
            if (i.resource.group, i.resource.version, i.resource.plural) == (rt.group, rt.version, rt.plural)
        ]

    def _settle(self, rt: ResourceType, namespace: str, name: str) -> None:
        """After a write: the informers of ``rt`` see what the store holds now (a write may also delete:
        the last finalizer removed), never an older state."""
        stored = self.store.get((rt.storage, namespace, name))
        for informer in self._informers_of(rt):
            if stored is None:
                if informer.get(namespace, name) is not None:  # else it knows: nothing to remember
                    informer.observe_deleted(namespace, name)
            else:
                informer.observe(to_version(rt, stored))

    async def _write(self, write: Awaitable[Obj]) -> Obj:
        try:
            return await write
        except StatusError as exc:
            raise client_error(exc) from exc

    async def create(self, rt: ResourceType, namespace: str | None, body: Obj) -> Obj:
        created = await self._write(
            self.api.create(rt, namespace, body, WriteOptions(manager=MANAGER, user=USER))
        )
        self._settle(rt, namespace or "", created["metadata"]["name"])
        return created

    async def update(self, rt: ResourceType, obj: Obj, subresource: str | None = None) -> Obj:
        """Replace ``obj`` (its resourceVersion is the precondition: a stale one is a conflict)."""
        md = obj["metadata"]
        namespace, name = md.get("namespace") or "", md["name"]
        try:
            return await self._write(
                self.api.update(
                    rt, namespace or None, name, obj, subresource, WriteOptions(manager=MANAGER, user=USER)
                )
            )
        finally:
            self._settle(rt, namespace, name)

    async def claim(self, rt: ResourceType, candidates: list[Obj], owner: Obj) -> list[Obj]:
        """The ``candidates`` ``owner`` controls and selects, oldest first, after adopting the orphans its
        selector matches (a controller reference added) and releasing what it controls but no longer
        selects, as the Go controllers' ClaimObjects; a deleting owner adopts nothing."""
        match = selector_of(owner)
        uid = owner["metadata"].get("uid")
        claimed = []
        for obj in candidates:
            md = obj["metadata"]
            refs = md.get("ownerReferences") or []
            controller = next((r for r in refs if r.get("controller")), None)
            if controller is not None and controller.get("uid") == uid:
                if match(obj):
                    claimed.append(obj)
                elif not md.get("deletionTimestamp"):
                    released = copy.deepcopy(obj)
                    released["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                    await self.update(rt, released)
            elif controller is None and match(obj) and not md.get("deletionTimestamp"):
                if owner["metadata"].get("deletionTimestamp"):
                    continue
                adopted = copy.deepcopy(obj)
                adopted["metadata"]["ownerReferences"] = [*refs, owner_reference(owner)]
                claimed.append(await self.update(rt, adopted))
        return sorted(
            claimed, key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"])
        )

    async def record(self, obj: Obj, reason: str, message: str, component: str) -> None:
        """Record a Normal Event about ``obj``; failing to is logged, never fails the reconcile."""
        body = event(obj, reason, message, component)
        try:
            await self.api.create(
                self.rt("", "v1", "events"),
                body["metadata"]["namespace"],
                body,
                WriteOptions(manager=MANAGER, user=USER),
            )
        except StatusError as exc:
            log.debug("event %s about %s not recorded: %s", reason, obj["metadata"]["name"], exc)

    async def delete(
        self,
        rt: ResourceType,
        obj: Obj,
        *,
        propagation: str | None = None,
        grace_period: int | None = None,
    ) -> Obj | None:
        """Delete ``obj`` (the UID is the precondition); None when it is gone already."""
        md = obj["metadata"]
        namespace, name = md.get("namespace") or "", md["name"]
        opts = DeleteOptions(propagation=propagation, grace_period=grace_period, uid=md.get("uid"), user=USER)
        try:
            return await self._write(self.api.delete(rt, namespace or None, name, opts))
        except (NotFoundError, ConflictError):
            return None
        finally:
            self._settle(rt, namespace, name)


def event(obj: Obj, reason: str, message: str, component: str, kind: str = "Normal") -> Obj:
    """A core ``v1`` Event about ``obj``, as client-go's event recorder in kube-controller-manager
    writes it (named ``<object>.<nanoseconds in hex>``)."""
    md = obj["metadata"]
    stamp = meta.now()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{md['name']}.{time.time_ns():x}",
            "namespace": md.get("namespace") or "default",
        },
        "involvedObject": {
            "apiVersion": obj.get("apiVersion", ""),
            "kind": obj.get("kind", ""),
            "name": md["name"],
            "namespace": md.get("namespace", ""),
            "uid": md.get("uid", ""),
            "resourceVersion": md.get("resourceVersion", ""),
        },
        "reason": reason,
        "message": message,
        "type": kind,
        "source": {"component": component},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "reportingComponent": component,
        "reportingInstance": "",
    }


class Builtin:
    """One built-in controller: ``setup`` builds its ``Controller`` (watches), ``reconcile`` one key."""

    name = "builtin"
    workers = 4

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.controller = Controller(
            self.name, self._reconcile, ControllerOptions(max_concurrent_reconciles=self.workers)
        )

    async def setup(self) -> None:
        """Create the informers and watch them (before the cache runs)."""
        raise NotImplementedError

    async def feed(self) -> None:
        """Enqueue keys from a source other than informers, until cancelled (none by default)."""

    async def reconcile(self, request: Request) -> Result | None:
        raise NotImplementedError

    async def _reconcile(self, request: Request) -> Result | None:
        try:
            return await self.reconcile(request)
        except (ConflictError, AlreadyExistsError) as exc:
            log.debug("%s %s: %s; requeued", self.name, request, exc)
            return Result(requeue=True)
        except NotFoundError as exc:
            log.debug("%s %s: %s; gone meanwhile", self.name, request, exc)  # its deletion is an event too
            return None
        except ForbiddenError as exc:
            if _TERMINATING not in str(exc):
                raise
            log.debug("%s %s: %s; its namespace is going", self.name, request, exc)  # as the Go controllers
            return None
