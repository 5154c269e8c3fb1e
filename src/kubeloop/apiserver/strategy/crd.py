"""CustomResourceDefinitions: checked names and versions; accepted names, conversion default and the
NamesAccepted/Established conditions (the CRD control loop then serves the resource)."""

from __future__ import annotations

from kubeloop.apiserver.machinery.errors import Cause
from kubeloop.apiserver.machinery.meta import now
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View
from kubeloop.apiserver.strategy.base import Strategy

__all__ = ["CRDStrategy"]


class CRDStrategy(Strategy):
    def prepare_for_create(self, rt: ResourceType, obj: Obj, view: View) -> None:
        super().prepare_for_create(rt, obj, view)
        _accept(obj)

    def prepare_for_update(self, rt: ResourceType, obj: Obj, old: Obj, view: View) -> None:
        _accept(obj)

    def validate(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> list[Cause]:
        return _causes(obj)


def _causes(crd: Obj) -> list[Cause]:
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    causes: list[Cause] = []
    group, plural = spec.get("group", ""), names.get("plural", "")
    if crd["metadata"].get("name") != f"{plural}.{group}":
        causes.append(
            Cause(
                "FieldValueInvalid",
                f'Invalid value: "{crd["metadata"].get("name")}": must be spec.names.plural+"."+spec.group',
                "metadata.name",
            )
        )
    versions = spec.get("versions") or []
    if not versions:
        causes.append(
            Cause(
                "FieldValueRequired",
                "Required value: must have exactly one version marked as storage version",
                "spec.versions",
            )
        )
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(
            Cause(
                "FieldValueInvalid",
                "Invalid value: ...: must have exactly one version marked as storage version",
                "spec.versions",
            )
        )
    for n, version in enumerate(versions):
        if not ((version.get("schema") or {}).get("openAPIV3Schema")):
            causes.append(
                Cause(
                    "FieldValueRequired",
                    "Required value: schemas are required",
                    f"spec.versions[{n}].schema.openAPIV3Schema",
                )
            )
    return causes


def _accept(crd: Obj) -> None:
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    versions = spec.get("versions") or []
    names.setdefault("singular", names.get("kind", "").lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    spec["names"] = names
    spec.setdefault("conversion", {"strategy": "None"})
    for version in versions:
        for column in version.get("additionalPrinterColumns") or []:
            column.setdefault("type", "string")
    stamp = now()
    status = crd.setdefault("status", {})
    old_conditions = {c.get("type"): c for c in status.get("conditions") or []}
    conditions = []
    for kind, reason, message in (
        ("NamesAccepted", "NoConflicts", "no conflicts found"),
        ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ):
        previous = old_conditions.get(kind)
        conditions.append(
            {
                "type": kind,
                "status": "True",
                "lastTransitionTime": (previous or {}).get("lastTransitionTime", stamp),
                "reason": reason,
                "message": message,
            }
        )
    status["conditions"] = conditions
    status["acceptedNames"] = names
    stored = set(status.get("storedVersions") or [])
    stored |= {v["name"] for v in versions if v.get("storage")}
    status["storedVersions"] = sorted(stored)
