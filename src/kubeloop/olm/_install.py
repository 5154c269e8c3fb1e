"""Install, upgrade and uninstall a ``registry+v1`` bundle on a cluster, the way OLM v1 does.

``bundle_objects`` is the pure half: it converts a bundle (a ClusterServiceVersion plus manifests)
into the plain objects OLM v1 would create — CRDs as they are, a ServiceAccount per service account
the CSV names, a Role/RoleBinding per ``permissions`` entry, a ClusterRole/ClusterRoleBinding per
``clusterPermissions`` entry, a Deployment per ``deployments`` entry, and the bundle's other
manifests placed in the install namespace. ``Installer`` is the cluster half: it server-side applies
those objects with one field manager, checks CRD upgrades with ``crd_upgrade_violations`` before
touching anything, prunes what an upgrade drops, and records each installation as a ``Release`` in a
ConfigMap of the install namespace, so the cluster itself says what is installed.

Only the AllNamespaces install mode is supported (the operator watches every namespace), and bundles
with webhooks are refused until webhook support lands.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from semver import Version

from kubeloop.client import ApiError, Client, NotFoundError, UnknownResourceError
from kubeloop.clock import RealClock, SleepClock
from kubeloop.olm._model import CRD_KIND, CSV_KIND, Bundle, Catalog, OLMError
from kubeloop.olm._safety import Violation, crd_upgrade_violations

__all__ = ["FIELD_MANAGER", "Installer", "ObjectRef", "Release", "UnsafeCRDChange", "bundle_objects"]

Obj = dict[str, Any]

FIELD_MANAGER = "kubeloop-olm"
PACKAGE_LABEL = "olm.kubeloop.dev/package"
BUNDLE_ANNOTATION = "olm.kubeloop.dev/bundle"
RELEASE_LABEL = "olm.kubeloop.dev/release"
RBAC = "rbac.authorization.k8s.io"
CRD_REF = "apiextensions.k8s.io/v1/CustomResourceDefinition"

# The cluster-scoped kinds among those a registry+v1 bundle may carry (OLM's supported-kinds list);
# every other manifest kind is taken as namespaced and placed in the install namespace.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "ClusterRole",
        "ClusterRoleBinding",
        "PriorityClass",
        "ConsoleYAMLSample",
        "ConsoleQuickStart",
        "ConsoleCLIDownload",
        "ConsoleLink",
        CRD_KIND,
    }
)
# Fields the server sets: a manifest exported from a cluster carries them, an apply must not.
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")
MAX_NAME = 63


# -- the conversion -----------------------------------------------------------------------------------


def bundle_objects(bundle: Bundle, namespace: str) -> list[Obj]:
    """The objects ``bundle`` becomes when installed in ``namespace``, in the order to apply them.

    Order: CRDs, ServiceAccounts, Roles/RoleBindings, ClusterRoles/ClusterRoleBindings, the other
    manifests, Deployments. Every object carries the package label and the bundle annotation;
    ``status`` and server-set metadata are dropped. Generated names are ``<csv>-<sa>`` (plus the
    namespace for cluster-scoped ones, so two namespaces never share them; ``-<n>`` for a service
    account's n-th further entry), cut to 63 characters with a hash suffix when longer.
    OLMError (naming the bundle) for what kubeloop cannot install.
    """
    csv = bundle.csv
    install = _install_spec(bundle, csv)
    csv_name = str(csv["metadata"]["name"])
    others = [o for o in bundle.objects if o.get("kind") not in (CSV_KIND, CRD_KIND)]
    objects = [
        *bundle.crds,
        *_service_accounts(install, namespace, others),
        *_roles(csv_name, install.get("permissions") or (), namespace, cluster=False),
        *_roles(csv_name, install.get("clusterPermissions") or (), namespace, cluster=True),
        *(_placed(o, namespace) for o in others),
        *(_deployment(d, namespace) for d in install["deployments"]),
    ]
    return [_marked(o, bundle) for o in objects]


def _install_spec(bundle: Bundle, csv: Obj) -> Obj:
    spec = csv.get("spec") or {}
    modes = {m.get("type") for m in spec.get("installModes") or () if m.get("supported")}
    if "AllNamespaces" not in modes:
        raise OLMError(f"bundle {bundle.name}: its CSV does not support the AllNamespaces install mode")
    if spec.get("webhookdefinitions"):
        raise OLMError(f"bundle {bundle.name}: CSV webhookdefinitions are not supported yet")
    if (spec.get("apiservicedefinitions") or {}).get("owned"):
        raise OLMError(f"bundle {bundle.name}: CSV apiservicedefinitions (aggregated APIs) are not supported")
    strategy = (spec.get("install") or {}).get("strategy")
    if strategy != "deployment":
        raise OLMError(f"bundle {bundle.name}: install strategy {strategy!r} is not 'deployment'")
    install: Obj = spec["install"].get("spec") or {}
    if not install.get("deployments"):
        raise OLMError(f"bundle {bundle.name}: its CSV has no deployments")
    return install


def _service_accounts(install: Obj, namespace: str, others: list[Obj]) -> Iterator[Obj]:
    """One per name the CSV uses, except ``default`` (always there) and those the bundle ships."""
    used = [p.get("serviceAccountName") for p in install.get("permissions") or ()]
    used += [p.get("serviceAccountName") for p in install.get("clusterPermissions") or ()]
    used += [
        ((d.get("spec") or {}).get("template") or {}).get("spec", {}).get("serviceAccountName")
        for d in install["deployments"]
    ]
    shipped = {o["metadata"]["name"] for o in others if o.get("kind") == "ServiceAccount"}
    for name in dict.fromkeys(n for n in used if n and n != "default" and n not in shipped):
        yield {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        }


def _roles(csv_name: str, entries: Iterable[Obj], namespace: str, *, cluster: bool) -> Iterator[Obj]:
    """A Role and RoleBinding (or ClusterRole and ClusterRoleBinding) per permissions entry."""
    role_kind, binding_kind = ("ClusterRole", "ClusterRoleBinding") if cluster else ("Role", "RoleBinding")
    seen: dict[str, int] = {}
    for entry in entries:
        sa = str(entry["serviceAccountName"])
        parts = [csv_name, sa, *([namespace] if cluster else [])]
        if nth := seen.get(sa, 0):
            parts.append(str(nth))
        seen[sa] = nth + 1
        meta: Obj = {"name": generated_name(*parts)} | ({} if cluster else {"namespace": namespace})
        yield {
            "apiVersion": f"{RBAC}/v1",
            "kind": role_kind,
            "metadata": meta,
            "rules": entry.get("rules") or [],
        }
        yield {
            "apiVersion": f"{RBAC}/v1",
            "kind": binding_kind,
            "metadata": dict(meta),
            "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": meta["name"]},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}],
        }


def _deployment(entry: Obj, namespace: str) -> Obj:
    """The CSV's deployment entry; its pods get OLM's ``olm.targetNamespaces`` ("" = all namespaces)."""
    spec = copy.deepcopy(entry.get("spec") or {})
    template = spec.setdefault("template", {}).setdefault("metadata", {})
    template.setdefault("annotations", {})["olm.targetNamespaces"] = ""
    meta = {"name": entry["name"], "namespace": namespace, "labels": dict(entry.get("label") or {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def _placed(obj: Obj, namespace: str) -> Obj:
    if obj.get("kind") in CLUSTER_SCOPED_KINDS:
        return obj
    return {**obj, "metadata": {**(obj.get("metadata") or {}), "namespace": namespace}}


def _marked(obj: Obj, bundle: Bundle) -> Obj:
    """A deep copy of ``obj`` labelled and annotated, without status and server-set metadata."""
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
    meta = out.setdefault("metadata", {})
    for key in SERVER_METADATA:
        meta.pop(key, None)
    meta["labels"] = {**(meta.get("labels") or {}), PACKAGE_LABEL: bundle.package}
    meta["annotations"] = {**(meta.get("annotations") or {}), BUNDLE_ANNOTATION: bundle.name}
    return out


def generated_name(*parts: str) -> str:
    """``parts`` joined by ``-``; over 63 characters, cut and suffixed with a hash of the whole name."""
    name = "-".join(parts).lower()
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9].rstrip('-.')}-{digest}"


class UnsafeCRDChange(OLMError):
    """A bundle would change a CRD on the cluster unsafely; ``violations`` says how. Nothing was applied."""

    def __init__(self, message: str, violations: list[Violation]) -> None:
        super().__init__(message)
        self.violations = violations


# -- the release record -------------------------------------------------------------------------------


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
                "labels": {RELEASE_LABEL: "true", PACKAGE_LABEL: self.package},
            },
            "data": {
                "package": self.package,
                "bundle": self.bundle,
                "version": str(self.version),
                "objects": json.dumps(refs, indent=1),
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
            )
        except (KeyError, TypeError, ValueError) as err:
            where = f"{meta.get('namespace')}/{meta.get('name')}"
            raise OLMError(f"ConfigMap {where} is not a valid release record: {err!r}") from err


# -- the cluster side ---------------------------------------------------------------------------------


class Installer:
    """Installs, upgrades and uninstalls bundles through ``client``, as field manager ``kubeloop-olm``.

    Guarantees: CRDs are applied and Established before anything that may use them; ServiceAccounts
    and RBAC before Deployments; an upgrade with unsafe CRD changes applies nothing. The release is
    written last, so an install that failed half-way is not recorded and can simply be run again (apply
    is idempotent). Caveat: CRDs are cluster-wide, so one package installed in two namespaces shares
    them. Not safe for concurrent calls on the same package.
    """

    def __init__(
        self, client: Client, *, establish_timeout: float = 60.0, clock: SleepClock | None = None
    ) -> None:
        self.client = client
        self.establish_timeout = establish_timeout
        self.clock = clock or RealClock()

    async def release(self, namespace: str, package: str) -> Release | None:
        """The release of ``package`` in ``namespace``, or None when it is not installed there."""
        try:
            cm = await self.client.get("v1/ConfigMap", Release.configmap_name(package), namespace=namespace)
        except NotFoundError:
            return None
        return Release.from_configmap(cm)

    async def releases(self, namespace: str | None = None) -> list[Release]:
        """Every release in ``namespace`` (all namespaces when None), by namespace and package."""
        items = self.client.list_items(
            "v1/ConfigMap", namespace=namespace, label_selector=f"{RELEASE_LABEL}=true"
        )
        found = [Release.from_configmap(cm) async for cm in items]
        return sorted(found, key=lambda r: (r.namespace, r.package))

    async def install(self, bundle: Bundle, namespace: str, *, force_unsafe_crds: bool = False) -> Release:
        """Install ``bundle`` in ``namespace``, which must exist. OLMError, with nothing applied, when it
        does not, when the package is already installed there, or when a CRD of the bundle is already
        on the cluster (left by an uninstall, or another install) and replacing it is unsafe, unless
        ``force_unsafe_crds``."""
        try:
            await self.client.get("v1/Namespace", namespace)
        except NotFoundError:
            raise OLMError(f"namespace {namespace} does not exist: create it first") from None
        if (current := await self.release(namespace, bundle.package)) is not None:
            raise OLMError(f"package {bundle.package} is already installed in {namespace} ({current.bundle})")
        objects = bundle_objects(bundle, namespace)
        if not force_unsafe_crds:
            await self.check_crds(bundle, "install")
        await self._apply(bundle, objects)
        return await self._record(bundle, namespace, [ObjectRef.of(o) for o in objects])

    async def upgrade(
        self, namespace: str, package: str, bundle: Bundle, *, force_unsafe_crds: bool = False
    ) -> Release:
        """Upgrade ``package`` in ``namespace`` to ``bundle``, a newer version of it.

        Unsafe CRD changes (``crd_upgrade_violations``) refuse the whole upgrade with one OLMError
        listing them all, unless ``force_unsafe_crds``. Objects of the old release that ``bundle``
        no longer has are deleted afterwards, except CRDs (kept, and kept in the release).
        """
        current = await self._installed(namespace, package)
        if bundle.package != package:
            raise OLMError(f"bundle {bundle.name} is of package {bundle.package}, not {package}")
        if bundle.version <= current.version:
            raise OLMError(
                f"bundle {bundle.name} ({bundle.version}) is not newer than the installed "
                f"{current.bundle} ({current.version}) of {package} in {namespace}"
            )
        objects = bundle_objects(bundle, namespace)
        if not force_unsafe_crds:
            await self.check_crds(bundle, "upgrade")
        await self._apply(bundle, objects)
        refs = [ObjectRef.of(o) for o in objects]
        dropped = [r for r in current.objects if r not in refs]
        await self._delete([r for r in dropped if r.kind != CRD_KIND])
        return await self._record(bundle, namespace, refs + [r for r in dropped if r.kind == CRD_KIND])

    async def carry_out(
        self, namespace: str, package: str, chosen: list[Bundle], *, force_unsafe_crds: bool = False
    ) -> AsyncIterator[tuple[str, Release]]:
        """Install or upgrade ``chosen`` (a resolution for ``package``, dependencies first) in order,
        yielding ("installed" | "upgraded", release) as each is done. Every bundle is converted and
        its CRDs checked before the first is applied, so a refusal applies nothing."""
        current = await self.release(namespace, package)

        def upgrading(bundle: Bundle) -> bool:
            return bundle.package == package and current is not None

        for bundle in chosen:
            bundle_objects(bundle, namespace)
            if not force_unsafe_crds:
                await self.check_crds(bundle, "upgrade" if upgrading(bundle) else "install")
        for bundle in chosen:  # CRDs checked above
            if upgrading(bundle):
                current = await self.upgrade(namespace, package, bundle, force_unsafe_crds=True)
                yield "upgraded", current
            else:
                yield "installed", await self.install(bundle, namespace, force_unsafe_crds=True)

    async def uninstall(self, namespace: str, package: str, *, delete_crds: bool = False) -> None:
        """Delete the release's objects (Deployments first; CRDs only with ``delete_crds``) and its record.

        Returns once deletion is requested; objects with finalizers may still be terminating.
        """
        current = await self._installed(namespace, package)
        refs = [r for r in current.objects if delete_crds or r.kind != CRD_KIND]
        await self._delete(refs)
        await self._delete([ObjectRef("v1", "ConfigMap", namespace, Release.configmap_name(package))])

    async def _installed(self, namespace: str, package: str) -> Release:
        current = await self.release(namespace, package)
        if current is None:
            raise OLMError(f"package {package} is not installed in {namespace}")
        return current

    async def check_crds(self, bundle: Bundle, action: str = "install") -> None:
        """UnsafeCRDChange listing every unsafe change the bundle's CRDs would make to those on the
        cluster (``action`` names what is refused in its message)."""
        violations: list[Violation] = []
        for crd in bundle.crds:
            try:
                on_cluster = await self.client.get(CRD_REF, crd["metadata"]["name"])
            except NotFoundError:
                continue
            violations += crd_upgrade_violations(on_cluster, crd)
        if violations:
            raise UnsafeCRDChange(
                f"{action} of {bundle.name} refused, {len(violations)} unsafe CRD change(s) "
                f"(forcing unsafe CRD changes applies them anyway): {'; '.join(map(str, violations))}",
                violations,
            )

    async def establish(self, crds: list[Obj], owner: str) -> None:
        """Server-side apply ``crds``, then wait until each is Established; OLMError naming ``owner``
        (what they belong to) when one is refused, and naming the CRD when its names clash or the
        wait times out."""
        for obj in crds:
            await self._apply_one(owner, obj)
        for obj in crds:
            await self._established(obj["metadata"]["name"])

    async def _apply(self, bundle: Bundle, objects: list[Obj]) -> None:
        """Apply CRDs and wait until they are Established, then the rest in order."""
        await self.establish([o for o in objects if o["kind"] == CRD_KIND], f"bundle {bundle.name}")
        for obj in objects:
            if obj["kind"] != CRD_KIND:
                await self._apply_one(f"bundle {bundle.name}", obj)

    async def _apply_one(self, owner: str, obj: Obj) -> None:
        try:
            await self.client.apply(obj, field_manager=FIELD_MANAGER, force=True)
        except (ApiError, UnknownResourceError) as err:
            raise OLMError(f"{owner}: applying {ObjectRef.of(obj)} failed: {err}") from err

    async def _established(self, name: str) -> None:
        """Wait until CRD ``name`` is Established; OLMError when its names clash or time runs out."""
        deadline = self.clock.now() + self.establish_timeout
        while True:
            crd = await self.client.get(CRD_REF, name)
            conditions = {c.get("type"): c for c in (crd.get("status") or {}).get("conditions") or ()}
            if conditions.get("Established", {}).get("status") == "True":
                return
            names = conditions.get("NamesAccepted", {})
            if names.get("status") == "False":
                raise OLMError(f"CRD {name}: names not accepted: {names.get('message')}")
            if self.clock.now() >= deadline:
                raise OLMError(f"CRD {name} was not Established within {self.establish_timeout:g} s")
            await self.clock.sleep(0.1)

    async def _delete(self, refs: list[ObjectRef]) -> None:
        """Delete ``refs``: Deployments first (the operator stops before losing its rights), then the
        rest in reverse apply order; already gone is fine."""
        ordered = [r for r in refs if r.kind == "Deployment"] + [
            r for r in reversed(refs) if r.kind != "Deployment"
        ]
        for ref in ordered:
            try:
                await self.client.delete(
                    f"{ref.api_version}/{ref.kind}",
                    ref.name,
                    namespace=ref.namespace,
                    propagation_policy="Background",
                )
            except (NotFoundError, UnknownResourceError):
                continue

    async def _record(self, bundle: Bundle, namespace: str, refs: list[ObjectRef]) -> Release:
        release = Release(bundle.package, bundle.name, bundle.version, namespace, tuple(dict.fromkeys(refs)))
        await self.client.apply(release.to_configmap(), field_manager=FIELD_MANAGER, force=True)
        return release
