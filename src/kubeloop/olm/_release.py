"""The record of an installation: which bundle of a package is installed in a namespace, and which
objects it made, kept in a ConfigMap of that namespace so the cluster itself says what is installed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

from semver import Version

from kubeloop.olm._model import Bundle, Catalog, Obj, OLMError
from kubeloop.olm._names import RELEASE_LABEL, release_labels

__all__ = ["ObjectRef", "Release"]


class ObjectRef(NamedTuple):
    """One installed object; ``namespace`` is None for cluster-scoped ones."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    @classmethod
    def of(cls, obj: Obj) -> ObjectRef:
        meta = obj["metadata"]
        return cls(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


@dataclass(frozen=True)
class Release:
    """What is installed of ``package`` in ``namespace``: from which bundle, and which objects.

    ``objects`` is in apply order. CRDs an upgrade no longer ships stay on the cluster (they hold
    user data) and stay in ``objects``, so ``uninstall(delete_crds=True)`` still removes them.
    """

    package: str
    bundle: str
    version: Version
    namespace: str
    objects: tuple[ObjectRef, ...]
    previous: str | None = None
    """The bundle installed before this one (what a rollback goes back to), if any."""
    watch_namespace: str | None = None
    """What the operator watches (its install mode), None for every namespace."""

    def bundle_in(self, catalog: Catalog) -> Bundle:
        """The installed bundle: the catalog's copy (with its properties), or what the record says."""
        return catalog.bundles.get(self.bundle) or Bundle(
            name=self.bundle, package=self.package, version=self.version
        )

    @staticmethod
    def configmap_name(package: str) -> str:
        return f"kubeloop-olm-{package}"

    def to_configmap(self) -> Obj:
        refs = [
            {"apiVersion": r.api_version, "kind": r.kind, "namespace": r.namespace, "name": r.name}
            for r in self.objects
        ]
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.configmap_name(self.package),
                "namespace": self.namespace,
                "labels": {RELEASE_LABEL: "true", **release_labels(self.namespace, self.package)},
            },
            "data": {
                "package": self.package,
                "bundle": self.bundle,
                "version": str(self.version),
                "objects": json.dumps(refs, indent=1),
                **({"previous": self.previous} if self.previous else {}),
                **({"watchNamespace": self.watch_namespace} if self.watch_namespace else {}),
            },
        }

    @classmethod
    def from_configmap(cls, cm: Obj) -> Release:
        """The release a ConfigMap records (OLMError naming the ConfigMap when it is not one)."""
        meta = cm.get("metadata") or {}
        try:
            data = cm["data"]
            refs = json.loads(data["objects"])
            return cls(
                package=data["package"],
                bundle=data["bundle"],
                version=Version.parse(data["version"]),
                namespace=meta["namespace"],
                objects=tuple(ObjectRef(r["apiVersion"], r["kind"], r["namespace"], r["name"]) for r in refs),
                previous=data.get("previous") or None,
                watch_namespace=data.get("watchNamespace") or None,
            )
        except (KeyError, TypeError, ValueError) as err:
            where = f"{meta.get('namespace')}/{meta.get('name')}"
            raise OLMError(f"ConfigMap {where} is not a valid release record: {err!r}") from err
