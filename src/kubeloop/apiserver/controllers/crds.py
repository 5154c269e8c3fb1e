"""The CRD loop: a stored CRD's served versions join the resource table (and discovery) at once;
a deleted CRD's resources leave it and every custom resource of it is deleted."""

from __future__ import annotations

from kubeloop.apiserver.controllers.loop import MANAGER, Loop
from kubeloop.apiserver.registry.types import ResourceType, ScalePaths
from kubeloop.apiserver.storage import Event, Obj, View

__all__ = ["CRDS", "CRDLoop"]

CRDS = "apiextensions.k8s.io/customresourcedefinitions"


class CRDLoop(Loop):
    name = "crds"

    def serve_stored(self) -> None:
        """Serve every stored CRD (before the server takes requests)."""
        for crd in self.store.list(CRDS):
            self._serve(crd)

    def wants(self, event: Event) -> bool:
        return event.key[0] == CRDS

    async def handle(self, event: Event) -> None:
        if event.type == "DELETED":
            await self._forget(event.obj)
            await self._reconsider(event.obj)
        else:
            self._serve(event.obj)

    async def _reconsider(self, gone: Obj) -> None:
        """Names a deleted CRD held are free: CRDs of its group refused for a clash are decided again."""
        rt = self.registry.by_kind("apiextensions.k8s.io", "CustomResourceDefinition")
        group = (gone.get("spec") or {}).get("group")
        for crd in self.store.list(CRDS):
            conditions = (crd.get("status") or {}).get("conditions") or ()
            refused = any(c.get("type") == "NamesAccepted" and c.get("status") == "False" for c in conditions)
            if rt is not None and refused and (crd.get("spec") or {}).get("group") == group:
                await self.guarded(self.api.update, rt, None, crd["metadata"]["name"], crd, "status", MANAGER)

    def _serve(self, crd: Obj) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group, plural = spec.get("group", ""), names.get("plural", "")
        self.registry.remove_group_resource(group, plural)
        established = any(
            c.get("type") == "Established" and c.get("status") == "True"
            for c in (crd.get("status") or {}).get("conditions") or ()
        )
        if crd["metadata"].get("deletionTimestamp") or not established:
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
            self.registry.add(rt, preferred=version is preferred)

    async def _forget(self, crd: Obj) -> None:
        spec = crd.get("spec") or {}
        group, plural = spec.get("group", ""), (spec.get("names") or {}).get("plural", "")
        self.registry.remove_group_resource(group, plural)
        storage = f"{group}/{plural}"

        def purge(view: View) -> None:
            for obj in view.list(storage):
                md = obj["metadata"]
                view.delete((storage, md.get("namespace", ""), md["name"]))

        await self.store.write(purge)


def _preferred(spec: Obj) -> Obj | None:
    versions = [v for v in spec.get("versions") or [] if v.get("served", True)]
    return versions[0] if versions else None
