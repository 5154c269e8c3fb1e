"""Discovery documents: ``/version``, ``/api``, ``/apis`` (legacy and aggregated v2) and each group version.

Role: pure builders over the ``Registry``; ``handlers`` picks legacy or aggregated by the ``Accept``
header, as kubectl negotiates (``as=APIGroupDiscoveryList`` first, legacy documents as fallback).
"""

from __future__ import annotations

from typing import Any

from kubeloop.apiserver.registry import bundled
from kubeloop.apiserver.registry.types import Registry, ResourceType

__all__ = ["AGGREGATED", "aggregated", "api_versions", "group_list", "resource_list", "version"]

Obj = dict[str, Any]
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def version() -> Obj:
    """``/version`` of the Kubernetes release whose API this server mirrors."""
    info = dict(bundled.bundle()["version"])
    info["platform"] = info.get("platform", "linux/amd64")
    return info


def api_versions(address: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def _group(registry: Registry, name: str) -> Obj:
    versions = [{"groupVersion": f"{name}/{v}", "version": v} for v in registry.versions(name)]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def group_list(registry: Registry) -> Obj:
    groups = [_group(registry, g) for g in registry.groups() if g and registry.versions(g)]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group(registry: Registry, name: str) -> Obj | None:
    if not registry.versions(name):
        return None
    return dict(_group(registry, name), kind="APIGroup", apiVersion="v1")


def _sub_verbs(sub: str) -> list[str]:
    return ["create"] if sub == "token" else ["get", "patch", "update"]


def _scale_kind() -> dict[str, str]:
    return {"group": "autoscaling", "version": "v1", "kind": "Scale"}


def resource_list(registry: Registry, group: str, version: str) -> Obj | None:
    """The legacy ``APIResourceList`` of one group version, or None when it is not served."""
    types = registry.resources(group, version)
    if not types:
        return None
    resources: list[Obj] = []
    for rt in types:
        entry: Obj = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in sorted(rt.subresources):
            sub_entry: Obj = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": _sub_verbs(sub),
            }
            if sub == "scale":
                sub_entry.update(group="autoscaling", version="v1", kind="Scale")
            resources.append(sub_entry)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def _aggregated_resource(rt: ResourceType) -> Obj:
    entry: Obj = {
        "resource": rt.plural,
        "responseKind": {"group": "", "version": "", "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subs = []
    for sub in sorted(rt.subresources):
        kind = _scale_kind() if sub == "scale" else {"group": "", "version": "", "kind": rt.kind}
        subs.append({"subresource": sub, "responseKind": kind, "verbs": _sub_verbs(sub)})
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(registry: Registry, core: bool) -> Obj:
    """The aggregated ``APIGroupDiscoveryList`` of ``/api`` (core) or ``/apis`` (every other group)."""
    items = []
    for name in registry.groups():
        if (name == "") != core:
            continue
        versions = []
        for v in registry.versions(name):
            versions.append(
                {
                    "version": v,
                    "resources": [_aggregated_resource(rt) for rt in registry.resources(name, v)],
                    "freshness": "Current",
                }
            )
        if versions:
            items.append({"metadata": {"name": name, "creationTimestamp": None}, "versions": versions})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }
