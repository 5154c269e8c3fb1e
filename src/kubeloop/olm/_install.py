"""Install, upgrade and uninstall a ``registry+v1`` bundle on a cluster, the way OLM v1 does.

``Installer`` server-side applies what ``bundle_objects`` (``_objects``) makes of a bundle with one
field manager, checks CRD changes with ``crd_upgrade_violations`` before touching anything, issues
and keeps the webhooks' serving certificate (``_webhooks``), prunes what an upgrade drops, and
records each installation as a ``Release`` (``_release``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

from kubeloop.client import ApiError, Client, NotFoundError, UnknownResourceError
from kubeloop.clock import RealClock, SleepClock
from kubeloop.olm._model import CRD_KIND, Bundle, Obj, OLMError
from kubeloop.olm._names import CRD_REF, FIELD_MANAGER, RELEASE_LABEL
from kubeloop.olm._objects import bundle_objects, check_bundle
from kubeloop.olm._release import ObjectRef, Release
from kubeloop.olm._safety import Violation, crd_upgrade_violations
from kubeloop.olm._webhooks import (
    CERT_MIN_LIFETIME,
    WEBHOOK_CONFIGURATIONS,
    ServingCertificate,
    certificate_secret,
    webhook_hosts,
)

__all__ = ["Installer", "UnsafeCRDChange"]


class UnsafeCRDChange(OLMError):
    """A bundle would change a CRD on the cluster unsafely; ``violations`` says how. Nothing was applied."""

    def __init__(self, message: str, violations: list[Violation]) -> None:
        super().__init__(message)
        self.violations = violations


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
        objects = bundle_objects(bundle, namespace, await self._certificate(bundle, namespace, reuse=False))
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
        objects = bundle_objects(bundle, namespace, await self._certificate(bundle, namespace, reuse=True))
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
            check_bundle(bundle, namespace)
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

    async def _certificate(self, bundle: Bundle, namespace: str, *, reuse: bool) -> ServingCertificate | None:
        """The webhooks' serving certificate (None without webhooks): with ``reuse``, the one the
        Secret on the cluster holds while it is for the same names and good for ``CERT_MIN_LIFETIME``
        more (the ``caBundle`` stays the same); otherwise a new CA and certificate."""
        hosts = webhook_hosts(bundle, namespace)
        if not hosts:
            return None
        if reuse:
            try:
                secret = await self.client.get("v1/Secret", certificate_secret(bundle), namespace=namespace)
            except NotFoundError:
                secret = {}
            current = ServingCertificate.from_secret(secret)
            until = dt.datetime.now(dt.UTC) + CERT_MIN_LIFETIME
            if current is not None and current.serves(hosts, until):
                return current
        return ServingCertificate.issue(hosts)

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
        """Delete ``refs``: webhook configurations first (nothing calls webhooks that are going away),
        then Deployments (the operator stops before losing its rights), then the rest in reverse apply
        order; already gone is fine."""
        first = ({*WEBHOOK_CONFIGURATIONS.values()}, {"Deployment"})
        ordered = [r for kinds in first for r in refs if r.kind in kinds]
        ordered += [r for r in reversed(refs) if r not in ordered]
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
