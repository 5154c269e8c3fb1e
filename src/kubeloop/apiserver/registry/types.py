"""The resource table: every group/version/resource the server serves, built-in or from a CRD.

Built-in resources come from the real kube-apiserver's discovery documents (see ``bundled``);
custom resources are added when their CRD becomes Established. ``ResourceType.storage`` names the
storage bucket shared by every version of one group/resource.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubeloop.apiserver.registry import bundled
from kubeloop.apiserver.registry.convert import SHARED_STORAGE
from kubeloop.gvk import GroupVersionKind, GroupVersionResource, split_api_version

__all__ = ["ANSWERED", "GENERATION_KINDS", "Registry", "ResourceType", "ScalePaths"]

# Resources the embedded server does not serve: their behaviour is a virtual request, not storage.
_SKIPPED_GROUPS = {"apiregistration.k8s.io", "flowcontrol.apiserver.k8s.io"}
_VIRTUAL = {"bindings", "componentstatuses"}
# Resources answered by a handler of their own (``auth.reviews``), never stored: served for ``create``.
ANSWERED = frozenset(
    {
        "tokenreviews",
        "selfsubjectaccessreviews",
        "localsubjectaccessreviews",
        "selfsubjectreviews",
        "subjectaccessreviews",
        "selfsubjectrulesreviews",
    }
)

# Built-in kinds whose metadata.generation the real server maintains.
GENERATION_KINDS = {
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
    "NetworkPolicy",
    "CustomResourceDefinition",
    "ReplicationController",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "IngressClass",
    "PriorityLevelConfiguration",
    "FlowSchema",
    "Pod",
}


@dataclass(frozen=True)
class ScalePaths:
    """Where the scale subresource reads and writes replicas (JSON paths without the leading dot)."""

    spec_replicas: str = "spec.replicas"
    status_replicas: str = "status.replicas"
    label_selector: str | None = "status.selector"


@dataclass(frozen=True)
class ResourceType(GroupVersionKind):
    """One resource at one group/version: its ``GroupVersionKind`` and how it is served."""

    plural: str
    singular: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    scale: ScalePaths | None = None
    crd: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    """For a custom resource: the CRD's ``spec.versions`` entry of this version (schema, columns)."""

    def resource(self, plural: str | None = None) -> GroupVersionResource:
        return GroupVersionKind.resource(self, plural or self.plural)

    @property
    def storage(self) -> str:
        """The storage bucket: ``group/plural`` (shared by all versions; ``events.k8s.io`` Events are
        stored with core Events, see ``convert``)."""
        return SHARED_STORAGE.get((self.group, self.plural)) or f"{self.group}/{self.plural}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def has_generation(self) -> bool:
        return self.crd is not None or self.kind in GENERATION_KINDS

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


class Registry:
    """The served resources, looked up by (group, version, plural) or by storage bucket."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._preferred: dict[str, str] = {}
        self._group_versions: dict[str, list[str]] = {}
        self.changed = 0
        """Increments on every change (discovery documents are cached by it)."""
        self._load_builtins()

    def _load_builtins(self) -> None:
        data = bundled.bundle()
        for group in data["groups"]["groups"]:
            if group["name"] in _SKIPPED_GROUPS:
                continue
            self._preferred[group["name"]] = group["preferredVersion"]["version"]
            self._group_versions[group["name"]] = [v["version"] for v in group["versions"]]
        self._preferred[""] = "v1"
        self._group_versions[""] = ["v1"]
        for path, doc in data["discovery"].items():
            group, version = split_api_version(doc["groupVersion"])
            if group in _SKIPPED_GROUPS or (path == "/api/v1" and group):
                continue
            subs: dict[str, set[str]] = {}
            for res in doc["resources"]:
                base, _, sub = res["name"].partition("/")
                if sub:
                    subs.setdefault(base, set()).add(sub)
            for res in doc["resources"]:
                name = res["name"]
                if "/" in name or name in _VIRTUAL or ("get" not in res["verbs"] and name not in ANSWERED):
                    continue
                sub = frozenset(subs.get(name, ()))
                self.add(
                    ResourceType(
                        group=group,
                        version=version,
                        kind=res["kind"],
                        plural=name,
                        singular=res.get("singularName") or res["kind"].lower(),
                        namespaced=res["namespaced"],
                        verbs=tuple(res["verbs"]),
                        short_names=tuple(res.get("shortNames", ())),
                        categories=tuple(res.get("categories", ())),
                        subresources=sub,
                        scale=_builtin_scale(res["kind"]) if "scale" in sub else None,
                    )
                )

    # -- changes -----------------------------------------------------------------------------------

    def add(self, rt: ResourceType, *, preferred: bool = False) -> None:
        self._types[(rt.group, rt.version, rt.plural)] = rt
        versions = self._group_versions.setdefault(rt.group, [])
        if rt.version not in versions:
            versions.append(rt.version)
        if preferred or rt.group not in self._preferred:
            self._preferred[rt.group] = rt.version
        self.changed += 1

    def remove_group_resource(self, group: str, plural: str) -> None:
        for key in [k for k in self._types if k[0] == group and k[2] == plural]:
            del self._types[key]
        if not any(k[0] == group for k in self._types):
            self._group_versions.pop(group, None)
            self._preferred.pop(group, None)
        else:
            self._group_versions[group] = [
                v for v in self._group_versions[group] if any(k[:2] == (group, v) for k in self._types)
            ]
        self.changed += 1

    # -- lookups -----------------------------------------------------------------------------------

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        """The preferred version's resource of ``kind`` in ``group``."""
        preferred = self._preferred.get(group)
        found = None
        for rt in self._types.values():
            if rt.group == group and rt.kind == kind:
                if rt.version == preferred:
                    return rt
                found = found or rt
        return found

    def groups(self) -> list[str]:
        """Served groups, the core group ("") first."""
        names = {k[0] for k in self._types}
        return ["", *sorted(names - {""}, key=lambda g: (not g.endswith(".k8s.io") and "." in g, g))]

    def versions(self, group: str) -> list[str]:
        """Served versions of ``group``, preferred first."""
        served = {k[1] for k in self._types if k[0] == group}
        ordered = [v for v in self._group_versions.get(group, []) if v in served]
        pref = self._preferred.get(group)
        if pref in ordered:
            ordered.remove(pref)
            ordered.insert(0, pref)
        return ordered

    def preferred(self, group: str) -> str | None:
        return self._preferred.get(group)

    def resources(self, group: str, version: str) -> list[ResourceType]:
        return sorted(
            (rt for k, rt in self._types.items() if k[:2] == (group, version)), key=lambda r: r.plural
        )

    def all(self) -> list[ResourceType]:
        return list(self._types.values())


def _builtin_scale(kind: str) -> ScalePaths:
    if kind == "ReplicationController":
        return ScalePaths(label_selector="spec.selector")
    return ScalePaths()


def by_storage(registry: Registry, storage: str) -> ResourceType | None:
    """The preferred-version resource of a storage bucket (``group/plural``)."""
    group, _, plural = storage.partition("/")
    preferred = registry.preferred(group)
    found = None
    for rt in registry.all():
        if rt.group == group and rt.plural == plural:
            if rt.version == preferred:
                return rt
            found = found or rt
    return found
