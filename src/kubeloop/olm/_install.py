"""Install, upgrade and uninstall a ``registry+v1`` bundle on a cluster, the way OLM v1 does.

``Installer`` server-side applies what ``bundle_objects`` (``_objects``) makes of a bundle with one
field manager, as whoever its client acts as (a ClusterExtension's service account, impersonated).
Before touching anything it checks CRD changes (``crd_upgrade_violations``), the permissions it will
use (``_preflight``) and that no object belongs to another release (``_ownership``). It issues,
keeps and rotates the webhooks' serving certificate (``_webhooks``), prunes what an upgrade drops,
restores what drifted, and records each installation as a ``Release`` (``_release``).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator

from kubeloop.client import (
    ApiError,
    Client,
    ForbiddenError,
    NotFoundError,
    Preconditions,
    UnknownResourceError,
)
from kubeloop.clock import RealClock, SleepClock
from kubeloop.olm._model import CRD_KIND, Bundle, Obj, OLMError
from kubeloop.olm._names import CRD_REF, FIELD_MANAGER, RELEASE_LABEL
from kubeloop.olm._objects import bundle_objects, check_bundle
from kubeloop.olm._ownership import check_ownership, owned_by
from kubeloop.olm._preflight import MissingPermissions, missing_permissions
from kubeloop.olm._release import ObjectRef, Release
from kubeloop.olm._safety import Violation, crd_upgrade_violations
from kubeloop.olm._webhooks import (
    CERT_LIFETIME,
    NO_CERTIFICATE,
    WEBHOOK_CONFIGURATIONS,
    ServingCertificate,
    certificate_secret,
    webhook_hosts,
)

__all__ = ["Installer", "UnsafeCRDChange"]


def _changed(manifest: Obj, before: Obj, after: Obj) -> bool:
    """Whether applying ``manifest`` changed ``before`` into ``after`` in what the manifest sets. The
    resourceVersions alone cannot tell: a controller writing the object's status between the read and
    the apply moves it too."""
    if after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]:
        return False
    return _set_by(manifest, before) != _set_by(manifest, after)


_ABSENT = object()


def _set_by(manifest: object, obj: object) -> object:
    """``obj``'s values at the fields ``manifest`` sets (lists of objects item by item, with the
    items ``manifest`` has no counterpart for whole; any other list or value whole)."""
    if isinstance(manifest, dict):
        if not isinstance(obj, dict):
            return obj
        return {key: _set_by(value, obj.get(key, _ABSENT)) for key, value in manifest.items()}
    if isinstance(manifest, list) and manifest and all(isinstance(item, dict) for item in manifest):
        if not isinstance(obj, list):
            return obj
        return [_set_by(m, o) if m is not None else o for m, o in itertools.zip_longest(manifest, obj)]
    return obj


class UnsafeCRDChange(OLMError):
    """A bundle would change a CRD on the cluster unsafely; ``violations`` says how. Nothing was applied."""

    def __init__(self, message: str, violations: list[Violation]) -> None:
        super().__init__(message)
        self.violations = violations


class Installer:
    """Installs, upgrades and uninstalls bundles through ``client``, as field manager ``kubeloop-olm``.

    Guarantees: nothing is applied unless ``client``'s user holds every permission the install
    needs (``MissingPermissions`` lists what it lacks) and no object belongs to another release or
    to no release (``OwnershipConflict``); CRDs are applied and Established before anything that may
    use them; ServiceAccounts and RBAC before Deployments; an upgrade with unsafe CRD changes applies
    nothing; only objects labelled with the release are ever deleted. The release is written last,
    so an install that failed half-way is not recorded and can simply be run again (apply is
    idempotent, and what it applied already carries the release's labels). Serving certificates are
    valid ``certificate_lifetime`` and renewed at two thirds of it. Caveat: CRDs are cluster-wide, so
    a package is installed in one namespace only. Not safe for concurrent calls on the same package.
    """

    def __init__(
        self,
        client: Client,
        *,
        establish_timeout: float = 60.0,
        certificate_lifetime: dt.timedelta = CERT_LIFETIME,
        clock: SleepClock | None = None,
    ) -> None:
        self.client = client
        self.establish_timeout = establish_timeout
        self.certificate_lifetime = certificate_lifetime
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

    async def install(
        self,
        bundle: Bundle,
        namespace: str,
        *,
        watch_namespace: str | None = None,
        force_unsafe_crds: bool = False,
    ) -> Release:
        """Install ``bundle`` in ``namespace``, which must exist. OLMError, with nothing applied, when it
        does not, when the package is already installed there, or when a CRD of the bundle is already
        on the cluster (left by an uninstall, or another install) and replacing it is unsafe, unless
        ``force_unsafe_crds``; MissingPermissions and OwnershipConflict as the class says.
        ``watch_namespace``: what the operator watches (see ``bundle_objects``; kept by upgrades)."""
        await self._admit(bundle, namespace, None, watch_namespace, force_unsafe_crds=force_unsafe_crds)
        return await self._install(bundle, namespace, watch_namespace)

    async def _install(self, bundle: Bundle, namespace: str, watch_namespace: str | None) -> Release:
        certificate, _ = await self._certificate(bundle, namespace, reuse=False)
        objects = bundle_objects(bundle, namespace, certificate, watch_namespace=watch_namespace)
        await self._apply(bundle, objects)
        refs = [ObjectRef.of(o) for o in objects]
        return await self._record(bundle, namespace, refs, watch_namespace=watch_namespace)

    async def upgrade(
        self, namespace: str, package: str, bundle: Bundle, *, force_unsafe_crds: bool = False
    ) -> Release:
        """Upgrade ``package`` in ``namespace`` to ``bundle``, a newer version of it.

        Unsafe CRD changes (``crd_upgrade_violations``) refuse the whole upgrade with one OLMError
        listing them all, unless ``force_unsafe_crds``. Objects of the old release that ``bundle``
        no longer has are deleted afterwards, except CRDs (kept, and kept in the release).
        MissingPermissions and OwnershipConflict as the class says.
        """
        current = await self._installed(namespace, package)
        if bundle.package != package:
            raise OLMError(f"bundle {bundle.name} is of package {bundle.package}, not {package}")
        if bundle.version <= current.version:
            raise OLMError(
                f"bundle {bundle.name} ({bundle.version}) is not newer than the installed "
                f"{current.bundle} ({current.version}) of {package} in {namespace}"
            )
        await self._admit(
            bundle, namespace, current, current.watch_namespace, force_unsafe_crds=force_unsafe_crds
        )
        return await self._upgrade(current, bundle)

    async def _upgrade(self, current: Release, bundle: Bundle) -> Release:
        namespace = current.namespace
        certificate, _ = await self._certificate(bundle, namespace, reuse=True)
        objects = bundle_objects(bundle, namespace, certificate, watch_namespace=current.watch_namespace)
        await self._apply(bundle, objects)
        refs = [ObjectRef.of(o) for o in objects]
        dropped = [r for r in current.objects if r not in refs]
        await self._delete(current, [r for r in dropped if r.kind != CRD_KIND])
        kept = [r for r in dropped if r.kind == CRD_KIND]
        return await self._record(
            bundle, namespace, refs + kept, previous=current.bundle, watch_namespace=current.watch_namespace
        )

    async def _admit(
        self,
        bundle: Bundle,
        namespace: str,
        current: Release | None,
        watch_namespace: str | None,
        *,
        force_unsafe_crds: bool,
    ) -> None:
        """Every check before ``bundle`` is installed (``current`` None) or upgraded to in
        ``namespace``: the bundle converts, the namespace exists, the permissions are held, no object
        belongs to another release, and (unless ``force_unsafe_crds``) the CRD changes are safe."""
        check_bundle(bundle, namespace, watch_namespace)
        if current is None:
            await self._namespace_exists(namespace)
            if (found := await self.release(namespace, bundle.package)) is not None:
                raise OLMError(
                    f"package {bundle.package} is already installed in {namespace} ({found.bundle})"
                )
        objects = bundle_objects(bundle, namespace, NO_CERTIFICATE, watch_namespace=watch_namespace)
        record = Release(bundle.package, bundle.name, bundle.version, namespace, ()).to_configmap()
        refs = {ObjectRef.of(o) for o in objects}
        dropped = [r for r in current.objects if r not in refs] if current else []
        if missing := await missing_permissions(self.client, [*objects, record], dropped):
            who = self.client.config.impersonate or "the client's user"
            raise MissingPermissions(
                f"{bundle.name} in {namespace}: {who} lacks {len(missing)} permission(s): "
                + "; ".join(map(str, missing)),
                missing,
            )
        await check_ownership(self.client, objects, namespace, bundle.package)
        if not force_unsafe_crds:
            action = "install" if current is None else "upgrade"
            if current is not None and bundle.version < current.version:
                action = "rollback"
            await self.check_crds(bundle, action)

    async def _namespace_exists(self, namespace: str) -> None:
        """OLMError when ``namespace`` does not exist (taken as existing when it may not be read: a
        user allowed to install in it need not be allowed to read it, and applying will tell)."""
        try:
            await self.client.get("v1/Namespace", namespace)
        except NotFoundError:
            raise OLMError(f"namespace {namespace} does not exist: create it first") from None
        except ForbiddenError:
            return

    async def carry_out(
        self,
        namespace: str,
        package: str,
        chosen: list[Bundle],
        *,
        watch_namespace: str | None = None,
        force_unsafe_crds: bool = False,
    ) -> AsyncIterator[tuple[str, Release]]:
        """Install or upgrade ``chosen`` (a resolution for ``package``, dependencies first) in order,
        yielding ("installed" | "upgraded" | "rolled back", release) as each is done; ``package``
        goes to an older version only when ``chosen`` says so (a rollback). Every bundle passes the checks
        of ``install``/``upgrade`` before the first is applied, so a refusal applies nothing.
        ``watch_namespace``: of ``package`` when installed (dependencies watch every namespace)."""
        current = await self.release(namespace, package)

        def upgrading(bundle: Bundle) -> Release | None:
            return current if bundle.package == package else None

        def watching(bundle: Bundle) -> str | None:
            if bundle.package != package:
                return None
            return current.watch_namespace if current is not None else watch_namespace

        for bundle in chosen:
            await self._admit(
                bundle, namespace, upgrading(bundle), watching(bundle), force_unsafe_crds=force_unsafe_crds
            )
        for bundle in chosen:  # checked above
            if (release := upgrading(bundle)) is not None:
                current = await self._upgrade(release, bundle)
                yield "upgraded" if bundle.version > release.version else "rolled back", current
            else:
                yield "installed", await self._install(bundle, namespace, watching(bundle))

    async def uninstall(self, namespace: str, package: str, *, delete_crds: bool = False) -> None:
        """Delete the release's objects (Deployments first; CRDs only with ``delete_crds``) and its
        record; an object that no longer carries the release's labels (another release took it) is
        left alone.

        Returns once deletion is requested; objects with finalizers may still be terminating.
        """
        current = await self._installed(namespace, package)
        refs = [r for r in current.objects if delete_crds or r.kind != CRD_KIND]
        await self._delete(current, refs)
        await self._delete(
            current, [ObjectRef("v1", "ConfigMap", namespace, Release.configmap_name(package))]
        )

    async def restore(self, release: Release, bundle: Bundle) -> tuple[list[str], bool, dt.datetime | None]:
        """Bring what ``release`` installed from ``bundle`` back to what the bundle says: re-create
        what was deleted, re-apply what was edited (fields the lifecycle manager set), and renew the
        serving certificate when due (the ``caBundle`` follows). Returns a line per object restored
        ("Deployment ns/name was deleted"; after a renewal only deletions, as the renewal changes
        objects itself), whether the certificate was renewed, and when it is next due (None: none).
        An object deleted between its read and the apply is "deleted" (the apply made it anew), and
        one that others wrote meanwhile (a controller's status) is "changed" only when the apply
        changed what the bundle sets (``_changed``)."""
        namespace = release.namespace
        certificate, rotated = await self._certificate(bundle, namespace, reuse=True)
        objects = bundle_objects(bundle, namespace, certificate, watch_namespace=release.watch_namespace)
        restored = []
        for obj in objects:
            ref = ObjectRef.of(obj)
            try:
                found: Obj | None = await self.client.get(
                    f"{ref.api_version}/{ref.kind}", ref.name, namespace=ref.namespace
                )
            except NotFoundError:
                found = None
            if found is not None and not owned_by(found, namespace, release.package):
                continue  # not ours any more: never taken over
            applied = await self._apply_one(f"bundle {bundle.name}", obj)
            if found is None or applied["metadata"]["uid"] != found["metadata"]["uid"]:
                restored.append(f"{ref} was deleted")  # after the read too: the apply made it anew
            elif not rotated and _changed(obj, found, applied):
                restored.append(f"{ref} was changed")
        return restored, rotated, certificate.renew_at() if certificate else None

    async def _certificate(
        self, bundle: Bundle, namespace: str, *, reuse: bool
    ) -> tuple[ServingCertificate | None, bool]:
        """The webhooks' serving certificate (None without webhooks): with ``reuse``, the one the
        Secret on the cluster holds while it is for the same names and not yet two thirds through its
        lifetime (the ``caBundle`` stays the same); otherwise a new CA and certificate, the CA bundle
        trusting the previous CA as well; and whether it is new."""
        hosts = webhook_hosts(bundle, namespace)
        if not hosts:
            return None, False
        current = None
        if reuse:
            try:
                secret = await self.client.get("v1/Secret", certificate_secret(bundle), namespace=namespace)
            except NotFoundError:
                secret = {}
            current = ServingCertificate.from_secret(secret)
            now = dt.datetime.now(dt.UTC)
            if current is not None and current.serves(hosts, now) and now < current.renew_at():
                return current, False
            if current is not None and not current.serves(hosts, now):
                current = None  # not ours, expired or for other names: nothing to keep trusting
        return ServingCertificate.issue(hosts, lifetime=self.certificate_lifetime, previous=current), True

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

    async def _apply_one(self, owner: str, obj: Obj) -> Obj:
        try:
            return await self.client.apply(obj, field_manager=FIELD_MANAGER, force=True)
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

    async def _delete(self, release: Release, refs: list[ObjectRef]) -> None:
        """Delete those of ``refs`` that carry ``release``'s labels: webhook configurations first
        (nothing calls webhooks that are going away), then Deployments (the operator stops before
        losing its rights), then the rest in reverse apply order; already gone is fine. Each delete
        is conditional on the uid read, so an object re-created by someone else meanwhile is kept."""
        first = ({*WEBHOOK_CONFIGURATIONS.values()}, {"Deployment"})
        ordered = [r for kinds in first for r in refs if r.kind in kinds]
        ordered += [r for r in reversed(refs) if r not in ordered]
        for ref in ordered:
            resource = f"{ref.api_version}/{ref.kind}"
            try:
                found = await self.client.get(resource, ref.name, namespace=ref.namespace)
                if not owned_by(found, release.namespace, release.package):
                    continue
                await self.client.delete(
                    resource,
                    ref.name,
                    namespace=ref.namespace,
                    propagation_policy="Background",
                    preconditions=Preconditions(uid=found["metadata"]["uid"]),
                )
            except (NotFoundError, UnknownResourceError):
                continue

    async def _record(
        self,
        bundle: Bundle,
        namespace: str,
        refs: list[ObjectRef],
        *,
        previous: str | None = None,
        watch_namespace: str | None = None,
    ) -> Release:
        objects = tuple(dict.fromkeys(refs))
        release = Release(
            bundle.package, bundle.name, bundle.version, namespace, objects, previous, watch_namespace
        )
        await self.client.apply(release.to_configmap(), field_manager=FIELD_MANAGER, force=True)
        return release
