"""The ClusterCatalog reconcile: load a catalog from its ConfigMaps, check it, and serve it.

Serving means the content parsed and passed every check of ``_catalog``; it is then held in
``CatalogServer`` for the ClusterExtension reconcile (which never parses ConfigMaps itself) under the
digest of its files, and the status lists its packages, the ConfigMaps and the digest. A catalog that
cannot be loaded (no ConfigMaps, a bad selector, an invalid catalog) gets ``Serving=False`` naming the
problem and a Warning Event, and waits for its next change: it is not retried, as only a change of
the ClusterCatalog or of its ConfigMaps (both watched) can mend it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from kubeloop.cache import LabelSelector, SelectorError, selector_from_dict
from kubeloop.controller import Request
from kubeloop.olm._api import ClusterCatalog
from kubeloop.olm._model import Catalog, Obj, OLMError
from kubeloop.olm._push import LoadedCatalog, catalog_in_configmaps, configmaps_where
from kubeloop.operator import Context
from kubeloop.resources import core_v1

__all__ = ["SERVING", "CatalogServer"]

SERVING = "Serving"


class CatalogServer:
    """Reconciles ClusterCatalogs and keeps, by name, where each one's ConfigMaps are (so that a
    ConfigMap's events reconcile the catalogs selecting it) and, while it is Serving, its content.

    One per lifecycle operator; the ClusterExtension reconcile reads the content through ``content``.
    """

    def __init__(self) -> None:
        self._sources: dict[str, tuple[str, LabelSelector]] = {}
        self._content: dict[str, LoadedCatalog] = {}

    def content(self, name: str, digest: str) -> Catalog | None:
        """The catalog ``name`` served with ``digest`` (from its status), or None when that content is
        not loaded (not yet, or no longer)."""
        loaded = self._content.get(name)
        return loaded.catalog if loaded is not None and loaded.digest == digest else None

    def catalogs_selecting(self, configmap: Obj) -> Iterable[Request]:
        """The ClusterCatalogs whose source selects ``configmap`` (a mapper for its events)."""
        namespace = configmap["metadata"].get("namespace")
        for name, (source_namespace, selector) in self._sources.items():
            if namespace == source_namespace and selector.matches(configmap):
                yield Request("", name)

    async def reconcile(self, catalog: ClusterCatalog, ctx: Context) -> None:
        """Load ``catalog``'s content and set its status (see the module docstring)."""
        name = catalog.metadata.name or ""
        source = catalog.spec.source.config_maps
        try:
            selector = selector_from_dict(source.label_selector.model_dump(by_alias=True))
            self._sources[name] = (source.namespace, selector)
            configmaps = await ctx.list(core_v1.ConfigMap, source.namespace, selector.text)
            loaded = catalog_in_configmaps(configmaps, configmaps_where(source.namespace, selector.text))
        except (OLMError, SelectorError) as err:
            self._content.pop(name, None)
            for key in ("packages", "resolvedSource"):
                ctx.status.pop(key, None)
            if ctx.set_condition(SERVING, False, "Unavailable", str(err)):
                ctx.event("Warning", "Unavailable", str(err))
            return
        self._content[name] = loaded
        resolved = {
            "namespace": source.namespace,
            "names": sorted(cm["metadata"]["name"] for cm in configmaps),
            "digest": loaded.digest,
        }
        if (ctx.status.get("resolvedSource") or {}).get("configMaps") != resolved:
            ctx.status["lastLoaded"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            ctx.status["resolvedSource"] = {"type": "ConfigMaps", "configMaps": resolved}
        ctx.status["packages"] = sorted(loaded.catalog.packages)
        packages = len(loaded.catalog.packages)
        ctx.set_condition(SERVING, True, "Available", f"serving {packages} package(s), {loaded.digest}")
