"""The CRD controller, as the apiextensions server's: an Established CRD's served versions join the
resource table (and discovery) and stay while it terminates, so that finalizers of its custom
resources can still be removed; a deleted CRD's custom resources are deleted (each waiting for its own
finalizers), the CRD reports ``Terminating`` (``InstanceDeletionInProgress``) meanwhile, and its
``customresourcecleanup`` finalizer goes once none is left; then its resources leave the table and CRDs
of its group refused for a name clash are decided again."""

from __future__ import annotations

import copy
from typing import Any

from kubeloop.apiserver.controllers.objects import set_condition
from kubeloop.apiserver.controllers.runtime import Builtin
from kubeloop.apiserver.registry.types import ResourceType, ScalePaths
from kubeloop.apiserver.strategy.crd import CLEANUP, CRDS
from kubeloop.controller import Request, Result

__all__ = ["CRDController"]

Obj = dict[str, Any]
_RECHECK = 0.2


class CRDController(Builtin):
    name = "customresourcedefinition"

    async def setup(self) -> None:
        self.crd_rt = self.runtime.rt("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        self.crds = await self.runtime.informer(self.crd_rt)
        self.controller.watch(self.crds)

    def serve_stored(self) -> None:
        """Serve every stored CRD (before the server takes requests)."""
        for _, crd in self.runtime.store.items(CRDS):
            self._serve(crd)

    async def reconcile(self, request: Request) -> Result | None:
        crd = self.crds.get("", request.name)
        if crd is None:
            plural, _, group = request.name.partition(".")
            self.runtime.registry.remove_group_resource(group, plural)
            await self._reconsider(group)
            return None
        self._serve(crd)
        if crd["metadata"].get("deletionTimestamp") and CLEANUP in (crd["metadata"].get("finalizers") or ()):
            return await self._clean_up(crd)
        return None

    async def _clean_up(self, crd: Obj) -> Result | None:
        spec = crd.get("spec") or {}
        storage = f"{spec.get('group', '')}/{(spec.get('names') or {}).get('plural', '')}"
        left = [obj for _, obj in self.runtime.store.items(storage)]
        rt = self._served(crd)
        for obj in left:
            if rt is not None and not obj["metadata"].get("deletionTimestamp"):
                await self.runtime.delete(rt, obj, propagation="Background")
        left = [obj for _, obj in self.runtime.store.items(storage)]
        status = copy.deepcopy(crd.get("status") or {})
        if left:
            set_condition(
                status,
                "Terminating",
                "True",
                "InstanceDeletionInProgress",
                "CustomResource deletion is in progress",
                update_time=False,
            )
            if status != crd.get("status"):
                await self.runtime.update(self.crd_rt, dict(crd, status=status), "status")
            return Result(requeue_after=_RECHECK)
        done = copy.deepcopy(crd)
        done["metadata"]["finalizers"] = [f for f in crd["metadata"].get("finalizers") or () if f != CLEANUP]
        await self.runtime.update(self.crd_rt, done)
        return None

    def _served(self, crd: Obj) -> ResourceType | None:
        spec = crd.get("spec") or {}
        for version in spec.get("versions") or ():
            rt = self.runtime.registry.get(
                spec.get("group", ""), version["name"], (spec.get("names") or {}).get("plural", "")
            )
            if rt is not None:
                return rt
        return None

    async def _reconsider(self, group: str) -> None:
        """Names a deleted CRD held are free: CRDs of its group refused for a clash are decided again."""
        for crd in self.crds.list():
            conditions = (crd.get("status") or {}).get("conditions") or ()
            refused = any(c.get("type") == "NamesAccepted" and c.get("status") == "False" for c in conditions)
            if refused and (crd.get("spec") or {}).get("group") == group:
                await self.runtime.update(self.crd_rt, crd, "status")

    def _serve(self, crd: Obj) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group, plural = spec.get("group", ""), names.get("plural", "")
        registry = self.runtime.registry
        registry.remove_group_resource(group, plural)
        established = any(
            c.get("type") == "Established" and c.get("status") == "True"
            for c in (crd.get("status") or {}).get("conditions") or ()
        )
        if not established:
            return
        preferred = _preferred(spec)
        for version in spec.get("versions") or []:
            if not version.get("served", True):
                continue
            subs = version.get("subresources") or {}
            scale = subs.get("scale")
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
                subresources=frozenset(k for k in ("status", "scale") if k in subs),
                scale=ScalePaths(
                    spec_replicas=scale["specReplicasPath"].lstrip("."),
                    status_replicas=scale["statusReplicasPath"].lstrip("."),
                    label_selector=(scale.get("labelSelectorPath") or "").lstrip(".") or None,
                )
                if scale
                else None,
                crd=version,
            )
            registry.add(rt, preferred=version is preferred)


def _preferred(spec: Obj) -> Obj | None:
    versions = [v for v in spec.get("versions") or [] if v.get("served", True)]
    return versions[0] if versions else None
