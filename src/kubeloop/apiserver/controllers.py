"""Control loops the server runs itself, since it has no controller manager.

- CRDs: every stored CRD's served versions are added to the resource table (and discovery) as soon as
  the CRD is stored; deleting a CRD removes its resources and deletes every custom resource of it.
- Garbage collection by owner references: when an owner is gone, dependents whose owners are all gone
  are deleted (background); ``foregroundDeletion`` deletes dependents first and then releases the
  owner; ``orphan`` removes the owner reference from dependents and then releases the owner.
- Namespaces: a deleted namespace is emptied (every namespaced object deleted), then its ``kubernetes``
  finalizer is removed and it goes.
- Root CA: every new namespace gets the ``kube-root-ca.crt`` ConfigMap with the server's CA.
- Workload status: Deployments, ReplicaSets and StatefulSets are reported ready at once
  (``status.replicas = readyReplicas = availableReplicas = updatedReplicas = spec.replicas``,
  ``observedGeneration``, an Available condition), so operators waiting for readiness proceed. No pods
  are created.

Each loop reacts to store events in order on one task; conflicts with concurrent writers are retried on
the next event (all changes go through ``rest.Api``, with manager ``kube-controller-manager``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from typing import Any

from kubeloop.apiserver.errors import StatusError
from kubeloop.apiserver.meta import now
from kubeloop.apiserver.resources import Registry, ResourceType, ScalePaths, by_storage
from kubeloop.apiserver.rest import Api, DeleteOptions, WriteOptions
from kubeloop.apiserver.storage import Event

__all__ = ["Controllers"]

log = logging.getLogger(__name__)
Obj = dict[str, Any]
_MANAGER = WriteOptions(manager="kube-controller-manager")
_CRDS = "apiextensions.k8s.io/customresourcedefinitions"
_WORKLOADS = {"apps/deployments", "apps/replicasets", "apps/statefulsets"}


class Controllers:
    """The server's own control loops over one ``Api`` (see module docstring)."""

    def __init__(self, api: Api, registry: Registry, ca_pem: str = "") -> None:
        self.api = api
        self.registry = registry
        self.ca_pem = ca_pem
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        for crd in self.api.store.list(_CRDS):
            self._serve_crd(crd)
        self._missing_ca = [ns["metadata"]["name"] for ns in self.api.store.list("/namespaces")]
        self._pending: list[Obj] = [
            obj
            for bucket in list(self.api.store._objects)
            for _, obj in self.api.store.items(bucket)
            if obj["metadata"].get("deletionTimestamp")
        ]
        watcher = self.api.store.watch(None)
        self._task = asyncio.create_task(self._run(watcher), name="kubeloop-apiserver-controllers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, watcher: Any) -> None:
        for obj in self._pending:
            await self._guarded(self._finalize, obj)
        if self.ca_pem:
            for name in self._missing_ca:
                await self._guarded(self._publish_root_ca, name)
        async for event in watcher:
            await self._guarded(self._handle, event)

    async def _guarded(self, fn: Any, arg: Any) -> None:
        try:
            await fn(arg)
        except StatusError as exc:
            log.debug("controller: %s", exc)
        except Exception:
            log.exception("controller failed")

    async def _handle(self, event: Event) -> None:
        storage = event.key[0]
        obj = event.obj
        if storage == _CRDS:
            if event.type == "DELETED":
                await self._forget_crd(obj)
            else:
                self._serve_crd(obj)
        if event.type == "DELETED":
            await self._collect_dependents(obj)
            await self._recheck_owners(obj)
        elif obj["metadata"].get("deletionTimestamp"):
            await self._finalize(obj)
        elif storage in _WORKLOADS:
            await self._report_ready(storage, obj)
        elif storage == "/namespaces" and event.type == "ADDED" and self.ca_pem:
            await self._publish_root_ca(obj["metadata"]["name"])

    async def _publish_root_ca(self, namespace: str) -> None:
        """The ``kube-root-ca.crt`` ConfigMap every namespace gets (kube-controller-manager does this)."""
        rt = self.registry.get("", "v1", "configmaps")
        if rt is None or self.api.store.get(("/configmaps", namespace, "kube-root-ca.crt")) is not None:
            return
        body = {
            "metadata": {
                "name": "kube-root-ca.crt",
                "annotations": {
                    "kubernetes.io/description": "Contains a CA bundle that can be used to verify the "
                    "kube-apiserver when using internal endpoints such as the internal service IP or "
                    "kubernetes.default.svc. No other "
                    "usage is guaranteed across distributions of Kubernetes clusters."
                },
            },
            "data": {"ca.crt": self.ca_pem},
        }
        await self.api.create(rt, namespace, body, _MANAGER)

    # -- CRDs --------------------------------------------------------------------------------------

    def _serve_crd(self, crd: Obj) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group, plural = spec.get("group", ""), names.get("plural", "")
        self.registry.remove_group_resource(group, plural)
        if crd["metadata"].get("deletionTimestamp"):
            return
        subresources = set()
        for version in spec.get("versions") or []:
            if not version.get("served", True):
                continue
            subs = version.get("subresources") or {}
            scale = subs.get("scale")
            subresources = {k for k in ("status", "scale") if k in subs}
            rt = ResourceType(
                group=group,
                version=version["name"],
                kind=names.get("kind", ""),
                plural=plural,
                singular=names.get("singular") or names.get("kind", "").lower(),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                verbs=("delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=frozenset(subresources),
                scale=ScalePaths(
                    spec_replicas=scale["specReplicasPath"].lstrip("."),
                    status_replicas=scale["statusReplicasPath"].lstrip("."),
                    label_selector=(scale.get("labelSelectorPath") or "").lstrip(".") or None,
                )
                if scale
                else None,
                crd=version,
            )
            self.registry.add(rt, preferred=version is _preferred(spec))

    async def _forget_crd(self, crd: Obj) -> None:
        spec = crd.get("spec") or {}
        group, plural = spec.get("group", ""), (spec.get("names") or {}).get("plural", "")
        self.registry.remove_group_resource(group, plural)
        storage = f"{group}/{plural}"

        def purge(view: Any) -> None:
            for obj in view.list(storage):
                md = obj["metadata"]
                view.delete((storage, md.get("namespace", ""), md["name"]))

        await self.api.store.write(purge)

    # -- deletion: finalizers, garbage collection, namespaces ----------------------------------------

    def _rt(self, obj: Obj) -> ResourceType | None:
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        group = api_version.rpartition("/")[0]
        return self.registry.by_kind(group, kind)

    def _dependents(self, uid: str) -> list[tuple[ResourceType, Obj]]:
        found = []
        for storage in list(self.api.store._objects):
            rt = by_storage(self.registry, storage)
            if rt is None:
                continue
            for _, obj in self.api.store.items(storage):
                if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or ()):
                    found.append((rt, obj))
        return found

    def _exists(self, uid: str, ref: Obj) -> bool:
        rt = self.registry.by_kind(ref.get("apiVersion", "").rpartition("/")[0], ref.get("kind", ""))
        if rt is None:
            return False
        return any(obj["metadata"].get("uid") == uid for _, obj in self.api.store.items(rt.storage))

    async def _collect_dependents(self, owner: Obj) -> None:
        uid = owner["metadata"].get("uid", "")
        for rt, dep in self._dependents(uid):
            md = dep["metadata"]
            refs = [r for r in md.get("ownerReferences") or () if r.get("uid") != uid]
            if any(self._exists(r["uid"], r) for r in refs):
                await self._set_owner_refs(rt, dep, refs)
            elif not md.get("deletionTimestamp"):
                await self.api.delete(
                    rt, md.get("namespace"), md["name"], DeleteOptions(propagation="Background")
                )

    async def _recheck_owners(self, dependent: Obj) -> None:
        """A dependent went: owners waiting for it (foreground deletion) may now go too."""
        md = dependent["metadata"]
        for ref in md.get("ownerReferences") or ():
            rt = self.registry.by_kind(ref.get("apiVersion", "").rpartition("/")[0], ref.get("kind", ""))
            if rt is None:
                continue
            owner = self.api.store.get(
                (rt.storage, md.get("namespace", "") if rt.namespaced else "", ref.get("name", ""))
            )
            if (
                owner is not None
                and owner["metadata"].get("uid") == ref.get("uid")
                and owner["metadata"].get("deletionTimestamp")
            ):
                await self._finalize(owner)

    async def _set_owner_refs(self, rt: ResourceType, obj: Obj, refs: list[Obj]) -> None:
        new = copy.deepcopy(obj)
        if refs:
            new["metadata"]["ownerReferences"] = refs
        else:
            new["metadata"].pop("ownerReferences", None)
        md = new["metadata"]
        await self.api.update(rt, md.get("namespace"), md["name"], new, None, _MANAGER)

    async def _finalize(self, obj: Obj) -> None:
        rt = self._rt(obj)
        if rt is None:
            return
        md = obj["metadata"]
        finalizers = list(md.get("finalizers") or [])
        uid = md.get("uid", "")
        if "orphan" in finalizers:
            for dep_rt, dep in self._dependents(uid):
                refs = [r for r in dep["metadata"].get("ownerReferences") or () if r.get("uid") != uid]
                await self._set_owner_refs(dep_rt, dep, refs)
            await self._drop_finalizer(rt, obj, "orphan")
        elif "foregroundDeletion" in finalizers:
            deps = self._dependents(uid)
            for dep_rt, dep in deps:
                dmd = dep["metadata"]
                if not dmd.get("deletionTimestamp"):
                    await self.api.delete(
                        dep_rt, dmd.get("namespace"), dmd["name"], DeleteOptions(propagation="Foreground")
                    )
            if not self._dependents(uid):
                await self._drop_finalizer(rt, obj, "foregroundDeletion")
        if rt.kind == "Namespace":
            await self._empty_namespace(rt, obj)
        elif md.get("namespace"):
            ns = self.api.store.get(("/namespaces", "", md["namespace"]))
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                await self._empty_namespace(self.registry.by_kind("", "Namespace") or rt, ns)

    async def _drop_finalizer(self, rt: ResourceType, obj: Obj, name: str) -> None:
        current = self.api.store.get(
            (rt.storage, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        )
        if current is None:
            return
        new = copy.deepcopy(current)
        new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers") or [] if f != name]
        md = new["metadata"]
        await self.api.update(rt, md.get("namespace"), md["name"], new, None, _MANAGER)

    async def _empty_namespace(self, ns_rt: ResourceType, ns: Obj) -> None:
        name = ns["metadata"]["name"]
        remaining = 0
        for storage in list(self.api.store._objects):
            rt = by_storage(self.registry, storage)
            if rt is None or not rt.namespaced:
                continue
            for _, obj in list(self.api.store.items(storage, name)):
                remaining += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    with contextlib.suppress(StatusError):
                        await self.api.delete(
                            rt, name, obj["metadata"]["name"], DeleteOptions(propagation="Background")
                        )
        if remaining and any(
            True for s in list(self.api.store._objects) for _ in self.api.store.items(s, name)
        ):
            return
        current = self.api.store.get(("/namespaces", "", name))
        if current is None or not current["metadata"].get("deletionTimestamp"):
            return
        if (current.get("spec") or {}).get("finalizers"):
            new = copy.deepcopy(current)
            new["spec"]["finalizers"] = []
            await self.api.update(ns_rt, None, name, new, None, _MANAGER)
        current = self.api.store.get(("/namespaces", "", name))
        if current is not None and not current["metadata"].get("finalizers"):
            await self.api.store.write(lambda view: view.delete(("/namespaces", "", name)))

    # -- workloads ---------------------------------------------------------------------------------

    async def _report_ready(self, storage: str, obj: Obj) -> None:
        rt = by_storage(self.registry, storage)
        if rt is None:
            return
        md = obj["metadata"]
        replicas = (obj.get("spec") or {}).get("replicas", 1)
        status = dict(obj.get("status") or {})
        wanted = {
            "observedGeneration": md.get("generation", 1),
            "replicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
        if rt.kind != "ReplicaSet":
            wanted["updatedReplicas"] = replicas
        if rt.kind == "ReplicaSet":
            wanted["fullyLabeledReplicas"] = replicas
        if rt.kind == "StatefulSet":
            wanted["currentReplicas"] = replicas
        if all(status.get(k) == v for k, v in wanted.items()):
            return
        status.update(wanted)
        if rt.kind == "Deployment":
            stamp = now()
            status["conditions"] = [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                    "message": "Deployment has minimum availability.",
                    "lastUpdateTime": stamp,
                    "lastTransitionTime": stamp,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable",
                    "message": f'ReplicaSet "{md["name"]}" has successfully progressed.',
                    "lastUpdateTime": stamp,
                    "lastTransitionTime": stamp,
                },
            ]
        new = dict(obj, status=status)
        await self.api.update(rt, md.get("namespace"), md["name"], new, "status", _MANAGER)


def _preferred(spec: Obj) -> Obj | None:
    versions = [v for v in spec.get("versions") or [] if v.get("served", True)]
    return versions[0] if versions else None
