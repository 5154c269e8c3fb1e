"""CustomResourceDefinitions: checked names, versions and CEL rules (compiled at creation); accepted names
decided against the other CRDs of the group as the naming controller does, the NamesAccepted and
Established conditions (the CRD control loop then serves the resource, only when Established); the
first delete adds the custom resource cleanup finalizer and the Terminating condition."""

from __future__ import annotations

from typing import Any

from kubeloop.apiserver.cel import compilation
from kubeloop.apiserver.machinery.errors import Cause
from kubeloop.apiserver.machinery.meta import now
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View
from kubeloop.apiserver.strategy.base import Strategy

__all__ = ["CLEANUP", "CRDStrategy"]

CLEANUP = "customresourcecleanup.apiextensions.k8s.io"


class CRDStrategy(Strategy):
    def prepare_for_create(self, rt: ResourceType, obj: Obj, view: View) -> None:
        super().prepare_for_create(rt, obj, view)
        _accept(obj, view)

    def prepare_for_update(self, rt: ResourceType, obj: Obj, old: Obj, view: View) -> None:
        _accept(obj, view)

    def validate(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> list[Cause]:
        return (
            _causes(obj) + _rule_causes(obj, old) + (_stored_version_causes(obj) if old is not None else [])
        )

    def deletion_finalizers(self, obj: Obj) -> list[str]:
        return [CLEANUP]

    def prepare_for_delete(self, rt: ResourceType, obj: Obj) -> None:
        """Terminating, as the real CRD storage marks it on the first delete (its custom resources are
        deleted by the CRD controller before the cleanup finalizer goes)."""
        conditions = [
            c for c in (obj.get("status") or {}).get("conditions") or () if c.get("type") != "Terminating"
        ]
        conditions.append(
            {
                "type": "Terminating",
                "status": "True",
                "lastTransitionTime": now(),
                "reason": "InstanceDeletionPending",
                "message": "CustomResourceDefinition marked for deletion; "
                "CustomResource deletion will begin soon",
            }
        )
        obj.setdefault("status", {})["conditions"] = conditions


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


CRDS = "apiextensions.k8s.io/customresourcedefinitions"


def _names_condition(crd: Obj, view: View) -> tuple[Obj, tuple[str, str, str]]:
    """The accepted names and the NamesAccepted verdict (status, reason, message), as the real
    server's naming controller decides them against the other CRDs of the group."""
    spec, status = crd.get("spec") or {}, crd.get("status") or {}
    requested, accepted = spec.get("names") or {}, dict(status.get("acceptedNames") or {})
    resources: set[str] = set()
    kinds: set[str] = set()
    for other in view.list(CRDS):
        if other["metadata"]["name"] == crd["metadata"]["name"]:
            continue
        if (other.get("spec") or {}).get("group") != spec.get("group"):
            continue
        names = (other.get("status") or {}).get("acceptedNames") or {}
        resources |= {names.get("plural", ""), names.get("singular", ""), *(names.get("shortNames") or ())}
        kinds |= {names.get("kind", ""), names.get("listKind", "")}
    resources.discard("")
    kinds.discard("")
    verdict = ("True", "NoConflicts", "no conflicts found")

    def fresh(name: str, current: str, used: set[str]) -> bool:
        return name == current or name not in used

    for field, reason in (("plural", "PluralConflict"), ("singular", "SingularConflict")):
        if fresh(requested.get(field, ""), accepted.get(field, ""), resources):
            accepted[field] = requested.get(field, "")
        else:
            verdict = ("False", reason, f'"{requested.get(field, "")}" is already in use')
    short = list(requested.get("shortNames") or [])
    if short != list(accepted.get("shortNames") or []):
        mine = set(accepted.get("shortNames") or ())
        taken = [n for n in short if n not in mine and n in resources]
        if taken:
            listed = ", ".join(f'"{n}" is already in use' for n in taken)
            verdict = ("False", "ShortNamesConflict", listed if len(taken) == 1 else f"[{listed}]")
        else:
            accepted["shortNames"] = short
    for field, reason in (("kind", "KindConflict"), ("listKind", "ListKindConflict")):
        if fresh(requested.get(field, ""), accepted.get(field, ""), kinds):
            accepted[field] = requested.get(field, "")
        else:
            verdict = ("False", reason, f'"{requested.get(field, "")}" is already in use')
    if requested.get("categories"):
        accepted["categories"] = requested["categories"]
    accepted.setdefault("plural", "")
    accepted.setdefault("kind", "")
    return accepted, verdict


def _accept(crd: Obj, view: View) -> None:
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
    accepted, (ok, reason, message) = _names_condition(crd, view)
    old_conditions = {c.get("type"): c for c in status.get("conditions") or []}
    wanted = [("NamesAccepted", ok, reason, message)]
    if ok == "True":
        wanted.append(("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"))
    else:
        wanted.append(("Established", "False", "NotAccepted", "not all names are accepted"))
    conditions = []
    for kind, state, why, text in wanted:
        previous = old_conditions.get(kind) or {}
        changed = previous.get("status") != state
        conditions.append(
            {
                "type": kind,
                "status": state,
                "lastTransitionTime": stamp if changed else previous.get("lastTransitionTime", stamp),
                "reason": why,
                "message": text,
            }
        )
    decided = {kind for kind, *_ in wanted}
    status["conditions"] = conditions + [
        c for c in status.get("conditions") or [] if c.get("type") not in decided
    ]
    status["acceptedNames"] = accepted
    stored = set(status.get("storedVersions") or [])
    stored |= {v["name"] for v in versions if v.get("storage")}
    status["storedVersions"] = sorted(stored)


def _stored_version_causes(crd: Obj) -> list[Cause]:
    """A version in ``status.storedVersions`` that ``spec.versions`` dropped: objects may still be stored
    in it, so the real server refuses the update (``ValidateCustomResourceDefinitionStoredVersions``)."""
    names = {v.get("name") for v in (crd.get("spec") or {}).get("versions") or []}
    stored = (crd.get("status") or {}).get("storedVersions") or []
    return [
        Cause(
            "FieldValueInvalid",
            f'Invalid value: "{version}": must appear in spec.versions',
            f"status.storedVersions[{n}]",
        )
        for n, version in enumerate(stored)
        if version not in names
    ]


def _rule_causes(crd: Obj, old: Obj | None) -> list[Cause]:
    """The causes of every ``x-kubernetes-validations`` rule that does not compile, type-check or fit
    the cost limits (``cel.compilation``), at the path the real server names (``spec.validation`` when
    every version has the same schema, as its internal form). A version whose schema an update kept is
    not held to the per-rule cost limit, as on the real server."""
    schemas = _schemas(crd)
    kept = _schemas(old) if old is not None else {}
    unique = list(schemas.values())
    if unique and all(s == unique[0] for s in unique):
        unchanged = bool(kept) and all(s == unique[0] for s in kept.values())
        return compilation.rule_causes(unique[0], "spec.validation.openAPIV3Schema", costs=not unchanged)
    causes: list[Cause] = []
    for n, (name, schema) in enumerate(schemas.items()):
        unchanged = name in kept and kept[name] == schema
        path = f"spec.versions[{n}].schema.openAPIV3Schema"
        causes += compilation.rule_causes(schema, path, costs=not unchanged)
    return causes


def _schemas(crd: Obj) -> dict[str, Any]:
    versions = (crd.get("spec") or {}).get("versions") or []
    return {str(v.get("name")): (v.get("schema") or {}).get("openAPIV3Schema") for v in versions}
