"""What the lifecycle manager reads and decides on: bundles, channels, packages and catalogs.

The shapes follow OLM's file-based catalogs (``olm.package``, ``olm.channel``, ``olm.bundle`` with
``olm.package``/``olm.gvk``/``olm.package.required``/``olm.gvk.required``/``olm.bundle.object``
properties) and ``registry+v1`` bundles (a ClusterServiceVersion plus manifests), so catalogs and
bundles made by OLM's own tools are read here and ours are read there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from semver import Version

from kubeloop.errors import KubeloopError
from kubeloop.gvk import GroupVersionKind

__all__ = [
    "Bundle",
    "Catalog",
    "Channel",
    "ChannelEntry",
    "OLMError",
    "Package",
    "PackageRequirement",
]

Obj = dict[str, Any]

CSV_KIND = "ClusterServiceVersion"
CRD_KIND = "CustomResourceDefinition"


class OLMError(KubeloopError):
    """A bundle, catalog, resolution or installation problem; ``str()`` is one line naming it."""


class PackageRequirement(NamedTuple):
    """``olm.package.required``: another package, at a version in ``version_range`` (semver range)."""

    package: str
    version_range: str


@dataclass(frozen=True)
class Bundle:
    """One version of a package: its properties and the manifests it installs (the CSV among them).

    ``channels`` and ``default_channel`` come from a bundle directory's ``metadata/annotations.yaml``;
    a bundle read from a catalog has none (the catalog's ``olm.channel`` entries place it).
    """

    name: str
    package: str
    version: Version
    properties: tuple[Obj, ...] = ()
    objects: tuple[Obj, ...] = ()
    image: str | None = None
    channels: tuple[str, ...] = ()
    default_channel: str | None = None

    @property
    def csv(self) -> Obj:
        """The bundle's ClusterServiceVersion (OLMError when it has none)."""
        for obj in self.objects:
            if obj.get("kind") == CSV_KIND:
                return obj
        raise OLMError(f"bundle {self.name} has no ClusterServiceVersion")

    @property
    def crds(self) -> list[Obj]:
        return [o for o in self.objects if o.get("kind") == CRD_KIND]

    def _values(self, kind: str) -> list[Obj]:
        return [p.get("value") or {} for p in self.properties if p.get("type") == kind]

    @property
    def provided_gvks(self) -> frozenset[GroupVersionKind]:
        return frozenset(
            GroupVersionKind(v.get("group", ""), v["version"], v["kind"]) for v in self._values("olm.gvk")
        )

    @property
    def required_gvks(self) -> frozenset[GroupVersionKind]:
        return frozenset(
            GroupVersionKind(v.get("group", ""), v["version"], v["kind"])
            for v in self._values("olm.gvk.required")
        )

    @property
    def required_packages(self) -> tuple[PackageRequirement, ...]:
        return tuple(
            PackageRequirement(v["packageName"], v.get("versionRange", ""))
            for v in self._values("olm.package.required")
        )


@dataclass(frozen=True)
class ChannelEntry:
    """A bundle in a channel and the upgrade edges into it (``replaces``, ``skips``, ``skipRange``)."""

    name: str
    replaces: str | None = None
    skips: tuple[str, ...] = ()
    skip_range: str | None = None


@dataclass(frozen=True)
class Channel:
    package: str
    name: str
    entries: tuple[ChannelEntry, ...]


@dataclass(frozen=True)
class Package:
    name: str
    default_channel: str
    description: str = ""


@dataclass(frozen=True)
class Catalog:
    """A file-based catalog: packages, their channels and bundles, by name."""

    packages: Mapping[str, Package] = field(default_factory=dict)
    channels: Mapping[tuple[str, str], Channel] = field(default_factory=dict)  # (package, channel)
    bundles: Mapping[str, Bundle] = field(default_factory=dict)
    deprecations: Mapping[tuple[str, str, str], str] = field(default_factory=dict)
    """``olm.deprecations``: (package, schema, name) → message; the schema is ``olm.package`` (name
    ""), ``olm.channel`` or ``olm.bundle``."""

    def deprecated(self, package: str, schema: str, name: str = "") -> str | None:
        """The deprecation message of a package, a channel or a bundle of ``package``, or None."""
        return self.deprecations.get((package, schema, name))

    def channels_of(self, package: str) -> list[Channel]:
        return [c for (p, _), c in sorted(self.channels.items()) if p == package]

    def bundles_of(self, package: str) -> list[Bundle]:
        """The package's bundles, lowest version first."""
        return sorted((b for b in self.bundles.values() if b.package == package), key=lambda b: b.version)

    def package(self, name: str) -> Package:
        """The package ``name`` (OLMError naming it and the catalog's packages when absent)."""
        try:
            return self.packages[name]
        except KeyError:
            known = ", ".join(sorted(self.packages)) or "none"
            raise OLMError(f"package {name!r} is not in the catalog (it has: {known})") from None
