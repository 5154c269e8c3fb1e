"""``validate_bundle``: operator-sdk's core checks of a ``registry+v1`` bundle (``operator-sdk bundle
validate``'s default suite), every problem at once, each one line naming what it is about.

Checked: the CSV's name and ``spec.version`` (semver, the bundle's version), what ``bundle_objects``
needs to install it (install modes, strategy, deployments, webhooks' deployments), that the service
accounts given permissions are those the deployments run as and the other way round, that the
owned CRDs are in the bundle with the kind and versions the CSV says (and no CRD is left unowned),
and ``spec.minKubeVersion`` (semver; not above the cluster's version when one is given).
"""

from __future__ import annotations

from collections.abc import Iterator

from semver import Version

from kubeloop.olm._model import Bundle, Obj, OLMError
from kubeloop.olm._objects import check_bundle
from kubeloop.olm._semver import parse_version

__all__ = ["validate_bundle"]


def validate_bundle(bundle: Bundle, *, server_version: str | None = None) -> list[str]:
    """The problems of ``bundle`` (none: valid); ``server_version``: the cluster's ``gitVersion``
    (e.g. ``v1.31.2``), to check ``minKubeVersion`` against."""
    try:
        csv = bundle.csv
    except OLMError as err:
        return [str(err)]
    problems = list(_csv_problems(bundle, csv, server_version))
    try:
        check_bundle(bundle, "validate", _a_supported_watch_namespace(csv))
    except OLMError as err:
        problems.append(str(err).removeprefix(f"bundle {bundle.name}: "))
    else:
        problems += _rbac_problems(csv)
    problems += _crd_problems(bundle, csv)
    return problems


def _a_supported_watch_namespace(csv: Obj) -> str | None:
    """A watch namespace in an install mode the CSV supports (AllNamespaces first)."""
    modes = {m.get("type") for m in (csv.get("spec") or {}).get("installModes") or () if m.get("supported")}
    if "AllNamespaces" in modes or not modes:
        return None
    return "validate" if "OwnNamespace" in modes else "watched"


def _csv_problems(bundle: Bundle, csv: Obj, server_version: str | None) -> Iterator[str]:
    spec = csv.get("spec") or {}
    name = (csv.get("metadata") or {}).get("name")
    if name != bundle.name:
        yield f"CSV metadata.name {name!r} is not the bundle's name {bundle.name!r}"
    try:
        version = parse_version(spec.get("version"), "CSV spec.version")
    except OLMError as err:
        yield str(err)
    else:
        if version != bundle.version:
            yield f"CSV spec.version {version} is not the bundle's version {bundle.version}"
    if not spec.get("installModes"):
        yield "CSV spec.installModes is empty"
    minimum = spec.get("minKubeVersion")
    if minimum:
        try:
            needed = parse_version(str(minimum).removeprefix("v"), "CSV spec.minKubeVersion")
        except OLMError as err:
            yield str(err)
            return
        if server_version:
            have = Version.parse(
                server_version.removeprefix("v").split("+")[0], optional_minor_and_patch=True
            )
            if have.finalize_version() < needed.finalize_version():
                yield f"CSV spec.minKubeVersion {minimum} is above the cluster's {server_version}"


def _rbac_problems(csv: Obj) -> Iterator[str]:
    install = csv["spec"]["install"]["spec"]
    running = {
        ((d.get("spec") or {}).get("template") or {}).get("spec", {}).get("serviceAccountName") or "default"
        for d in install["deployments"]
    }
    granted = {
        p.get("serviceAccountName")
        for key in ("permissions", "clusterPermissions")
        for p in install.get(key) or ()
    }
    for sa in sorted(str(s) for s in granted - running):
        yield f"permissions are given to service account {sa}, which no deployment runs as"
    for sa in sorted(running - granted - {"default"}):
        yield f"deployments run as service account {sa}, which is given no permissions"


def _crd_problems(bundle: Bundle, csv: Obj) -> Iterator[str]:
    crds = {c["metadata"]["name"]: c for c in bundle.crds}
    owned = ((csv.get("spec") or {}).get("customresourcedefinitions") or {}).get("owned") or []
    for entry in owned:
        crd = crds.get(entry.get("name"))
        if crd is None:
            yield f"owned CRD {entry.get('name')} is not in the bundle"
            continue
        spec = crd.get("spec") or {}
        if entry.get("kind") != (spec.get("names") or {}).get("kind"):
            yield f"owned CRD {entry['name']}: kind {entry.get('kind')!r} is not the CRD's"
        if entry.get("version") not in {v.get("name") for v in spec.get("versions") or ()}:
            yield f"owned CRD {entry['name']}: version {entry.get('version')!r} is not one of the CRD's"
    for name in sorted(set(crds) - {e.get("name") for e in owned}):
        yield f"CRD {name} is in the bundle but not among the CSV's owned CRDs"
