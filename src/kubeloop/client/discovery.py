"""Discovery and REST mapping: which resources the server serves, and for each its group, version, kind,
plural name, scope, verbs, short names and subresources.

``RestMapper`` loads everything with aggregated discovery (two requests, Kubernetes ≥ 1.27) and falls back
to per-group-version discovery on older servers. Results are cached; a lookup that misses refreshes once
(coalesced across concurrent callers), so a CRD installed after start is found. kube-apiserver lists a
new CRD's resource in discovery a moment after the CRD is ``Established`` (its discovery controller runs
apart), so a lookup of a custom kind that is to be written may wait for it a little (``DISCOVERY_LAG``).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from kubeloop.client.errors import UnknownResourceError
from kubeloop.client.transport import Transport
from kubeloop.clock import SleepClock
from kubeloop.gvk import GroupVersionKind, GroupVersionResource, split_api_version

__all__ = ["DISCOVERY_LAG", "ApiResource", "RestMapper", "split_api_version"]

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
_VERSION = re.compile(r"^v\d+((alpha|beta)\d+)?$")
DISCOVERY_LAG = 3.0
"""Seconds a custom kind about to be written is looked for again after a miss: how long kube-apiserver
may list a just-Established CRD's resource late in discovery (under load; milliseconds when idle)."""
_FIRST_RETRY = 0.05


@dataclass(frozen=True, slots=True)
class ApiResource(GroupVersionKind):
    """One resource at one group/version, as discovery describes it: its kind and the rest."""

    plural: str
    singular: str
    namespaced: bool
    verbs: frozenset[str] = frozenset()
    short_names: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    preferred: bool = True

    def resource(self, plural: str | None = None) -> GroupVersionResource:
        return GroupVersionKind.resource(self, plural or self.plural)

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The REST path: collection when ``name`` is None, all namespaces when ``namespace`` is None."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base

    def matches_name(self, name: str) -> bool:
        """Whether ``name`` is this resource's plural, singular, kind (any case) or a short name."""
        low = name.lower()
        return low in (self.plural, self.singular, self.kind.lower()) or low in self.short_names


class RestMapper:
    """Maps kinds and kubectl-style names to ``ApiResource``; cached, refreshed on a miss."""

    def __init__(self, transport: Transport, *, clock: SleepClock | None = None) -> None:
        self._transport = transport
        self._clock = clock or transport.clock
        self._resources: list[ApiResource] = []
        self._found: dict[tuple[str, str], ApiResource] = {}
        """Lookups answered from ``_resources`` (every request makes one), forgotten when it is reloaded."""
        self._loaded = False
        self._generation = 0
        self._lock = asyncio.Lock()

    @property
    def resources(self) -> list[ApiResource]:
        """Everything known from the last refresh (preferred versions first within a group)."""
        return list(self._resources)

    async def for_kind(self, api_version: str, kind: str, *, wait: float = 0.0) -> ApiResource:
        """The resource serving ``kind`` at ``api_version`` (the way an object's own fields name it).

        ``wait``: after a miss, how long to keep refreshing (backing off) for a kind of a named group,
        whose CRD may be Established before discovery lists it; a core kind never waits.
        """
        known = self._found.get((api_version, kind))
        if known is not None:
            return known
        group, version = split_api_version(api_version)
        found = await self._find(
            (api_version, kind),
            lambda r: r.group == group and r.version == version and r.kind == kind,
            wait if group else 0.0,
        )
        if found is None:
            raise UnknownResourceError(f"the server has no resource for kind {kind!r} in {api_version!r}")
        return found

    async def resolve(self, ref: str) -> ApiResource:
        """Resolve a reference the way kubectl does.

        Accepted: ``"apps/v1/Deployment"`` or ``"v1/ConfigMap"`` (apiVersion/Kind); ``"deployments"``,
        ``"deployment"``, ``"Deployment"``, ``"deploy"``; ``"deployments.apps"``; ``"deployments.v1.apps"``.
        Without a version the group's preferred version is chosen; without a group the core group and
        then discovery order win.
        """
        if "/" in ref:
            api_version, _, kind = ref.rpartition("/")
            return await self.for_kind(api_version, kind)
        known = self._found.get(("", ref))
        if known is not None:
            return known
        name, _, rest = ref.partition(".")
        group: str | None = None
        version: str | None = None
        if rest:
            first, _, after = rest.partition(".")
            if _VERSION.match(first):
                version, group = first, after
            else:
                group = rest

        def wanted(r: ApiResource) -> bool:
            if group is not None and r.group != group:
                return False
            if version is not None and r.version != version:
                return False
            if version is None and not r.preferred:
                return False
            return r.matches_name(name)

        found = await self._find(("", ref), wanted)
        if found is None:
            raise UnknownResourceError(f"the server doesn't have a resource type {ref!r}")
        return found

    async def refresh(self) -> None:
        """Reload discovery now (also done automatically on the first lookup and on a miss)."""
        generation = self._generation
        async with self._lock:
            if self._generation != generation:
                return  # someone refreshed while we waited
            self._resources = await self._load()
            self._found = {}
            self._loaded = True
            self._generation += 1

    async def _find(self, key: tuple[str, str], wanted: Any, wait: float = 0.0) -> ApiResource | None:
        """The first resource ``wanted`` accepts, remembered under ``key`` until the next reload (the
        callers look there first, before building ``wanted``)."""
        fresh = not self._loaded
        if fresh:
            await self.refresh()
        found = self._first(wanted)
        if found is None and not fresh:
            await self.refresh()
            found = self._first(wanted)
        deadline = self._clock.now() + wait
        delay = _FIRST_RETRY
        while found is None and self._clock.now() < deadline:
            await self._clock.sleep(min(delay, deadline - self._clock.now()))
            delay *= 2
            await self.refresh()
            found = self._first(wanted)
        if found is not None:
            self._found[key] = found
        return found

    def _first(self, wanted: Any) -> ApiResource | None:
        return next((r for r in self._resources if wanted(r)), None)

    async def _load(self) -> list[ApiResource]:
        out: list[ApiResource] = []
        for root in ("/api", "/apis"):
            doc = await self._transport.request("GET", root, verb="get", accept=AGGREGATED, idempotent=True)
            if doc.get("kind") == "APIGroupDiscoveryList":
                out.extend(_from_aggregated(doc))
            else:
                out.extend(await self._legacy(root, doc))
        return out

    async def _legacy(self, root: str, doc: dict[str, Any]) -> list[ApiResource]:
        """Pre-1.27 discovery: one request per group/version."""
        pairs: list[tuple[str, str, bool]] = []
        if root == "/api":
            pairs = [("", v, i == 0) for i, v in enumerate(doc.get("versions") or [])]
        else:
            for g in doc.get("groups") or []:
                preferred = (g.get("preferredVersion") or {}).get("version")
                pairs += [
                    (g["name"], v["version"], v["version"] == preferred) for v in g.get("versions") or []
                ]

        async def one(group: str, version: str, preferred: bool) -> list[ApiResource]:
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            listing = await self._transport.request("GET", path, verb="get", idempotent=True)
            items = listing.get("resources") or []
            subs: dict[str, set[str]] = {}
            for item in items:
                plural, _, sub = item["name"].partition("/")
                if sub:
                    subs.setdefault(plural, set()).add(sub)
            return [
                ApiResource(
                    group=group,
                    version=version,
                    kind=item["kind"],
                    plural=item["name"],
                    singular=item.get("singularName") or item["kind"].lower(),
                    namespaced=bool(item.get("namespaced")),
                    verbs=frozenset(item.get("verbs") or ()),
                    short_names=tuple(item.get("shortNames") or ()),
                    subresources=frozenset(subs.get(item["name"], ())),
                    preferred=preferred,
                )
                for item in items
                if "/" not in item["name"]
            ]

        results = await asyncio.gather(*(one(*p) for p in pairs))
        return [r for rs in results for r in sorted(rs, key=lambda r: not r.preferred)]


def _from_aggregated(doc: dict[str, Any]) -> list[ApiResource]:
    out: list[ApiResource] = []
    for group_doc in doc.get("items") or []:
        group = (group_doc.get("metadata") or {}).get("name") or ""
        for i, version_doc in enumerate(group_doc.get("versions") or []):
            version = version_doc["version"]
            for res in version_doc.get("resources") or []:
                kind_doc = res.get("responseKind") or {}
                kind = kind_doc.get("kind") or ""
                out.append(
                    ApiResource(
                        group=group,
                        version=version,
                        kind=kind,
                        plural=res["resource"],
                        singular=res.get("singularResource") or kind.lower(),
                        namespaced=res.get("scope") == "Namespaced",
                        verbs=frozenset(res.get("verbs") or ()),
                        short_names=tuple(res.get("shortNames") or ()),
                        subresources=frozenset(s["subresource"] for s in res.get("subresources") or ()),
                        preferred=i == 0,  # versions are listed in preference order
                    )
                )
    return out
