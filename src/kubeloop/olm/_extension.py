"""The ClusterExtension reconcile: install the package it asks for from a Serving catalog, keep it
upgraded as the catalog changes, and uninstall it when the ClusterExtension is deleted.

Everything is done as the extension's service account (``spec.serviceAccount``, impersonated): the
``Installer`` checks first that the account holds every permission the install needs and that no
object belongs to another release, and reports what is missing or taken (``Progressing=True/
Retrying``, rechecked every ``recheck`` seconds). Each pass resolves against what the package's
``Release`` says is installed: nothing installed →
``resolve_install``; installed → ``resolve_upgrade`` along the catalog's upgrade graph
(``CatalogProvided``) or the highest version in range (``SelfCertified``); with several
``channels``, the one leading highest. Dependencies go into the same namespace as releases of their
own. The ``Installer`` does the work; no object is applied before every chosen bundle converts and
every CRD it changes passes the upgrade-safety check.

Outcomes, as OLM v1 reports them: ``Progressing=True/Succeeded`` (installed; after an install or
upgrade the extension is reconciled again at once, so an upgrade graph is walked to the newest version
allowed);
``Progressing=False/Failed`` (the request cannot be met from the catalog: no such package, nothing in
range, a bundle kubeloop cannot install) and ``Progressing=False/Blocked`` (an unsafe CRD change), both
with a Warning Event and no retry until the ClusterExtension or a catalog changes;
``Progressing=True/Retrying`` (the catalog is not loaded yet, the API server failed) with per-key
backoff. ``Installed`` says whether a release exists and which bundle; the messages are the one-line
errors. Deleting a ClusterExtension uninstalls its package (CRDs are kept) before its finalizer goes.

Once installed (up to date, or held: Failed, Blocked, AwaitingApproval), each pass restores what
drifted (an installed object deleted or its fields edited: a Warning Event ``Restored`` per object)
and renews the webhooks' serving certificate
when two thirds of its lifetime are past (a Normal Event ``CertificateRotated``); the release's
objects are watched by label (``_drift``), and the extension is reconciled again at the latest when
the certificate is due or after ``resync`` seconds.

Caveat: the package comes from one catalog (``spec.catalog``, or the one Serving catalog that has it),
and so do its dependencies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from semver import Version

from kubeloop.client import Client
from kubeloop.controller import Request, Result
from kubeloop.errors import KubeloopError
from kubeloop.helpers import find_condition
from kubeloop.olm._api import ClusterCatalog, ClusterExtension, ClusterExtensionSpec
from kubeloop.olm._drift import DriftWatcher
from kubeloop.olm._install import Installer, UnsafeCRDChange
from kubeloop.olm._model import Bundle, Catalog, Obj, OLMError
from kubeloop.olm._objects import check_bundle
from kubeloop.olm._ownership import OwnershipConflict
from kubeloop.olm._preflight import MissingPermissions
from kubeloop.olm._release import Release
from kubeloop.olm._resolve import Want, resolve_install, resolve_upgrade
from kubeloop.olm._semver import VersionRange
from kubeloop.olm._serving import SERVING, CatalogServer
from kubeloop.olm._webhooks import CERT_LIFETIME
from kubeloop.operator import Context

__all__ = ["ExtensionReconciler"]

INSTALLED = "Installed"
PROGRESSING = "Progressing"


class _Stop(KubeloopError):
    """The request cannot be met as things are: ``reason`` is Failed or Blocked; no retry."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _Pending(KubeloopError):
    """An upgrade to ``bundle`` waits for approval (``upgradeApproval: Manual``): not retried."""

    reason = "AwaitingApproval"

    def __init__(self, bundle: Bundle, message: str) -> None:
        super().__init__(message)
        self.bundle = bundle


class _Waiting(KubeloopError):
    """A catalog the request needs is not Serving (yet): retried."""


class ExtensionReconciler:
    """Reconciles ClusterExtensions from the catalogs ``catalogs`` serves.

    Keeps which catalog each extension takes its package from (None: any), so that a ClusterCatalog's
    events reconcile exactly the extensions it may concern (``extensions_using``). An async context
    manager, run with the operator's manager: it owns the clients acting as the extensions' service
    accounts and the drift watches, whose events ``enqueue`` (set by ``lifecycle_operator``) reconciles.
    """

    def __init__(
        self,
        catalogs: CatalogServer,
        *,
        certificate_lifetime: dt.timedelta = CERT_LIFETIME,
        resync: float = 600.0,
        recheck: float = 10.0,
    ) -> None:
        self.catalogs = catalogs
        self.certificate_lifetime = certificate_lifetime
        self.resync = resync
        self.recheck = recheck
        self.enqueue: Callable[[Request], None] = lambda request: None
        self.drift = DriftWatcher(lambda request: self.enqueue(request))
        self._sources: dict[str, str | None] = {}
        self._clients: dict[str, Client] = {}

    async def __aenter__(self) -> ExtensionReconciler:
        await self.drift.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.drift.__aexit__(*exc)
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()

    def _installer(self, ctx: Context, spec: ClusterExtensionSpec) -> Installer:
        """An Installer acting as the extension's service account."""
        user = f"system:serviceaccount:{spec.namespace}:{spec.service_account.name}"
        if (client := self._clients.get(user)) is None:
            client = self._clients[user] = ctx.client.impersonating(user)
        return Installer(client, certificate_lifetime=self.certificate_lifetime)

    def extensions_using(self, catalog: Obj) -> Iterable[Request]:
        """The ClusterExtensions that may take their package from ``catalog`` (a mapper for its events)."""
        name = catalog["metadata"]["name"]
        return [Request("", ext) for ext, used in self._sources.items() if used in (None, name)]

    async def reconcile(self, extension: ClusterExtension, ctx: Context) -> Result | None:
        """Converge on ``extension``'s request and report it in its status (see the module docstring)."""
        spec = extension.spec
        self._sources[ctx.request.name] = spec.catalog
        installer = self._installer(ctx, spec)
        release = None
        catalog: Catalog | None = None
        try:
            release = await installer.release(spec.namespace, spec.package_name)
            catalog = self._catalog(spec, await ctx.list(ClusterCatalog.resource_info().ref))  # as dicts
            release, changed = await _converge(installer, ctx, catalog, spec, release)
            _deprecations(ctx, catalog, spec, release)
        except (_Stop, _Pending) as stop:
            pending = stop.bundle if isinstance(stop, _Pending) else None
            _report(ctx, release, stop.reason, str(stop), pending=pending)
            # no retry for the request, but what is installed is still kept and its certificate renewed
            return await self._keep(ctx, installer, catalog, release)
        except (MissingPermissions, OwnershipConflict) as err:  # mended outside: look again soon
            _report(ctx, release, "Retrying", str(err))
            return Result(requeue_after=self.recheck)
        except KubeloopError as err:
            _report(ctx, release, "Retrying", str(err))
            return Result(requeue=True)
        if changed:
            _report(ctx, release, "Succeeded", "desired state reached")
            return Result(requeue=True)  # after an upgrade, the next one may follow
        kept = await self._keep(ctx, installer, catalog, release)
        _report(ctx, release, "Succeeded", "desired state reached")
        return kept

    async def _keep(
        self, ctx: Context, installer: Installer, catalog: Catalog | None, release: Release | None
    ) -> Result | None:
        """Restore what drifted from ``release`` (renewing its certificate when due) and watch its
        objects; when to look again (None: nothing installed). Failing to is reported by a Warning
        Event and retried with backoff."""
        if release is None or catalog is None:
            return None
        try:
            due = await _restore(installer, ctx, release.bundle_in(catalog), release)
        except KubeloopError as err:
            ctx.event("Warning", "RestoreFailed", f"keeping {release.bundle} as installed failed: {err}")
            return Result(requeue=True)
        self.drift.watch(ctx.request, installer.client, release)
        until_due = (due - dt.datetime.now(dt.UTC)).total_seconds() if due else self.resync
        return Result(requeue_after=max(1.0, min(self.resync, until_due)))

    async def finalize(self, extension: ClusterExtension, ctx: Context) -> None:
        """Uninstall ``extension``'s package (its CRDs stay: they hold the users' data)."""
        spec = extension.spec
        await self.drift.stop(ctx.request.name)
        installer = self._installer(ctx, spec)
        if await installer.release(spec.namespace, spec.package_name) is not None:
            await installer.uninstall(spec.namespace, spec.package_name)
            ctx.event("Normal", "Uninstalled", f"uninstalled {spec.package_name} from {spec.namespace}")
        self._sources.pop(ctx.request.name, None)

    def _catalog(self, spec: ClusterExtensionSpec, catalogs: list[Obj]) -> Catalog:
        """The catalog to take ``spec.package_name`` from (see the module docstring's caveat)."""
        package = spec.package_name
        if spec.catalog is not None:
            named = [c for c in catalogs if c["metadata"]["name"] == spec.catalog]
            if not named:
                raise _Waiting(f"ClusterCatalog {spec.catalog} does not exist")
            catalog = self._content(named[0])
            try:
                catalog.package(package)
            except OLMError as err:
                raise _Stop("Failed", f"ClusterCatalog {spec.catalog}: {err}") from err
            return catalog
        serving = [c for c in catalogs if _serving(c)]
        having = {
            c["metadata"]["name"]: content
            for c in serving
            if (content := self._content(c)) and package in content.packages
        }
        if len(having) > 1:
            raise _Stop(
                "Failed",
                f"package {package!r} is in several ClusterCatalogs ({', '.join(sorted(having))}): "
                "name one in spec.catalog",
            )
        if not having:
            names = ", ".join(sorted(c["metadata"]["name"] for c in serving)) or "none"
            raise _Stop("Failed", f"package {package!r} is in no Serving ClusterCatalog (serving: {names})")
        return next(iter(having.values()))

    def _content(self, catalog: Obj) -> Catalog:
        """The content of a Serving ClusterCatalog; _Waiting when it is not Serving or not loaded yet."""
        name = catalog["metadata"]["name"]
        status = catalog.get("status") or {}
        if not _serving(catalog):
            problem = (find_condition(status, SERVING) or {}).get("message") or "not loaded yet"
            raise _Waiting(f"ClusterCatalog {name} is not Serving: {problem}")
        digest = (status.get("resolvedSource") or {}).get("configMaps", {}).get("digest")
        content = self.catalogs.content(name, str(digest))
        if content is None:
            raise _Waiting(f"ClusterCatalog {name}: content {digest} is not loaded yet")
        return content


def _serving(catalog: Obj) -> bool:
    return (find_condition(catalog.get("status"), SERVING) or {}).get("status") == "True"


async def _converge(
    installer: Installer, ctx: Context, catalog: Catalog, spec: ClusterExtensionSpec, release: Release | None
) -> tuple[Release | None, bool]:
    """Install or upgrade as resolved; returns the package's release afterwards and whether anything
    was installed or upgraded."""
    namespace, package = spec.namespace, spec.package_name
    others = {
        r.package: r.bundle_in(catalog) for r in await installer.releases(namespace) if r.package != package
    }
    try:
        chosen = _rollback(catalog, spec, release) or _resolve(catalog, spec, release, others)
        for bundle in chosen:
            check_bundle(bundle, namespace, spec.watch_namespace if bundle.package == package else None)
    except OLMError as err:
        raise _Stop("Failed", str(err)) from err
    target = next((b for b in chosen if b.package == package), None)
    if release is not None and target is not None and target.version > release.version:
        _require_approval(spec, release, target)
    try:
        carried = installer.carry_out(namespace, package, chosen, watch_namespace=spec.watch_namespace)
        async for done, installed in carried:
            if installed.package == package:
                release = installed
            what = installed.bundle if installed.package == package else f"dependency {installed.bundle}"
            ctx.event("Normal", done.title().replace(" ", ""), f"{done} {what} in {namespace}")
    except UnsafeCRDChange as err:
        raise _Stop("Blocked", str(err)) from err
    return release, bool(chosen)


def _require_approval(spec: ClusterExtensionSpec, release: Release, target: Bundle) -> None:
    """_Pending unless upgrading ``release`` to ``target`` needs no approval or has it."""
    if spec.upgrade_approval == "Manual" and spec.approved_version != str(target.version):
        raise _Pending(
            target,
            f"the upgrade of {release.package} from {release.version} to {target.version} "
            f"({target.name}) awaits approval: set spec.approvedVersion to {target.version}",
        )


def _rollback(catalog: Catalog, spec: ClusterExtensionSpec, release: Release | None) -> list[Bundle]:
    """[the previously installed bundle] when ``spec.version`` no longer allows the installed version
    but allows that one (and the catalog still has it); [] otherwise."""
    if release is None or not spec.version or release.previous is None:
        return []
    allowed = VersionRange.parse(spec.version)
    previous = catalog.bundles.get(release.previous)
    if allowed.contains(release.version) or previous is None or not allowed.contains(previous.version):
        return []
    return [previous]


async def _restore(
    installer: Installer, ctx: Context, bundle: Bundle, release: Release
) -> dt.datetime | None:
    """Restore what drifted from the installed ``bundle`` and renew its certificate when due, with
    an Event for each; when the certificate is next due. Nothing when the catalog no longer has the
    bundle's content."""
    if not bundle.objects:
        return None
    restored, rotated, due = await installer.restore(release, bundle)
    if rotated:
        ctx.event(
            "Normal", "CertificateRotated", f"renewed the webhooks' serving certificate of {bundle.name}"
        )
    for line in restored:
        ctx.event("Warning", "Restored", f"restored {line}")
    return due


def _resolve(
    catalog: Catalog, spec: ClusterExtensionSpec, release: Release | None, others: Mapping[str, Bundle]
) -> list[Bundle]:
    """The bundles to install, dependencies first: over every channel asked for, the plan leading to
    the highest version of the package ([]: stay). OLMError (the first channel's) when none resolves."""
    channels: list[str | None] = [*spec.channels] or [None]
    installed = None if release is None else release.bundle_in(catalog)

    def plan(want: Want) -> list[Bundle]:
        if installed is None:
            return resolve_install(catalog, want, others)
        if spec.upgrade_constraint_policy == "SelfCertified":
            return _newer_in_range(catalog, want, installed, others)
        return resolve_upgrade(catalog, want, installed, others)

    found: list[list[Bundle]] = []
    errors: list[OLMError] = []
    for channel in channels:
        try:
            found.append(plan(Want(spec.package_name, channel, spec.version)))
        except OLMError as err:
            errors.append(err)
    if not found:
        raise errors[0]
    return max(found, key=lambda chosen: _version_of(spec.package_name, chosen))


def _newer_in_range(
    catalog: Catalog, want: Want, installed: Bundle, others: Mapping[str, Bundle]
) -> list[Bundle]:
    """SelfCertified: the highest version in range and its dependencies when newer than ``installed``;
    [] when it is not and ``installed`` is in range (no downgrades), OLMError when it is not in range."""
    chosen = resolve_install(catalog, want, others)
    if _version_of(installed.package, chosen) > installed.version:
        return chosen
    if want.version_range and not VersionRange.parse(want.version_range).contains(installed.version):
        raise OLMError(
            f"installed {installed.package} {installed.version} is not in {want.version_range!r} and no "
            "newer version is"
        )
    return []


def _version_of(package: str, chosen: list[Bundle]) -> Version:
    return max((b.version for b in chosen if b.package == package), default=Version(0))


def _deprecations(
    ctx: Context, catalog: Catalog, spec: ClusterExtensionSpec, release: Release | None
) -> None:
    """OLM v1's deprecation conditions from the catalog's ``olm.deprecations``: PackageDeprecated,
    ChannelDeprecated (of ``spec.channels``, or those having the installed bundle), BundleDeprecated
    (the installed bundle) and Deprecated (any of them); True with reason Deprecated and the catalog's
    messages, else False with reason NotDeprecated."""
    package = spec.package_name
    channels = list(spec.channels) or [
        c.name
        for c in catalog.channels_of(package)
        if release is not None and any(e.name == release.bundle for e in c.entries)
    ]
    found = {
        "PackageDeprecated": [catalog.deprecated(package, "olm.package")],
        "ChannelDeprecated": [catalog.deprecated(package, "olm.channel", c) for c in channels],
        "BundleDeprecated": [catalog.deprecated(package, "olm.bundle", release.bundle) if release else None],
    }
    every = []
    for kind, messages in found.items():
        said = [m for m in messages if m is not None]
        every += said
        _deprecated(ctx, kind, said)
    _deprecated(ctx, "Deprecated", every)


def _deprecated(ctx: Context, kind: str, messages: list[str]) -> None:
    if messages:
        ctx.set_condition(kind, True, "Deprecated", "; ".join(m or "deprecated" for m in messages))
    else:
        ctx.set_condition(kind, False, "NotDeprecated", "")


def _report(
    ctx: Context, release: Release | None, reason: str, message: str, pending: Bundle | None = None
) -> None:
    """Set the conditions, ``install``, ``pendingUpgrade`` and ``observedGeneration``; an Event once
    per change of the outcome when it is not Succeeded (Normal for an upgrade awaiting approval,
    Warning otherwise)."""
    status: dict[str, Any] = ctx.status
    if pending is not None:
        status["pendingUpgrade"] = {"bundle": {"name": pending.name, "version": str(pending.version)}}
    else:
        status.pop("pendingUpgrade", None)
    if release is not None:
        installed = f"installed {release.bundle} ({release.version}) in {release.namespace}"
        ctx.set_condition(INSTALLED, True, "Succeeded", installed)
        status["install"] = {"bundle": {"name": release.bundle, "version": str(release.version)}}
    else:
        ctx.set_condition(INSTALLED, False, "Failed", message)
        status.pop("install", None)
    status["observedGeneration"] = ctx.generation
    changed = ctx.set_condition(PROGRESSING, reason in ("Succeeded", "Retrying"), reason, message)
    if changed and reason != "Succeeded":
        ctx.event("Normal" if pending is not None else "Warning", reason, message)
