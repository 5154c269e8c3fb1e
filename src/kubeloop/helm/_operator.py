"""``HelmOperator``: an ``Operator`` installing a Helm chart per object of each kind of a watches file.

A reconcile, as operator-sdk's helm-operator: the object's spec (with the watch's
``overrideValues`` over it) is the release's values; the deployed release is read from its Secret
(no helm process); no release → ``helm install``; a release made from another chart or other values
(the ``kubeloop.dev/inputs`` label each install and upgrade puts on it, and its stored values), or
whose objects are missing (deleted by hand), or that is not deployed → ``helm upgrade``; an upgrade
that fails after recording its revision is rolled back to the revision that was deployed; otherwise
the release's objects are patched with their rendered manifests (what was changed by hand put back),
no helm process at all. Deleting the object uninstalls the release first (a
finalizer). The helm operations are served by ``helm-server`` (one long-lived process linking Helm's
packages, ``HelmServer``) or, without it, by the ``helm`` command (``Helm``). Helm talks to the API
server through the same proxy as Ansible runs (the operator's
credentials; the object made the owner of what Helm creates, except the release Secrets, which Helm
keeps as it always does), its writes ``fieldValidation=Strict`` (helm's own OpenAPI validation off,
see ``client_validation``). Status: ``deployedRelease`` (name, revision, manifest digest) and the
conditions ``Initialized``, ``Deployed``, ``ReleaseFailed`` (install or upgrade failed, with helm's
message naming the template or value) and ``Irreconcilable`` (the release cannot be read, or is stuck
pending); each failure is a Warning Event and a retry with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubeloop.ansible import ApiProxy, ProxiedOperator, RunOwner, WatchesError, owner_reference_rule
from kubeloop.client import ApiError, ApiResource, Client, NotFoundError, PatchType
from kubeloop.controller import Result
from kubeloop.gvk import GroupVersionKind
from kubeloop.helm._annotations import (
    RECONCILE_PERIOD,
    ROLLBACK_FORCE,
    UNINSTALL_WAIT,
    UPGRADE_FORCE,
    annotation_bool,
    reconcile_period,
)
from kubeloop.helm._helm import (
    INPUTS_LABEL,
    Helm,
    HelmError,
    Release,
    Releases,
    inputs_digest,
    read_release,
)
from kubeloop.helm._server import HelmServer
from kubeloop.helm._watches import HelmWatch, load_helm_watches
from kubeloop.operator import Context

__all__ = ["UNINSTALL_FINALIZER", "HelmOperator"]

UNINSTALL_FINALIZER = "helm.sdk.operatorframework.io/uninstall-release"
UNINSTALL_WAIT_POLL = 5.0
"""Seconds between looks at what an uninstall waits for (sooner on its objects' events)."""
INITIALIZED, DEPLOYED, RELEASE_FAILED, IRRECONCILABLE = (
    "Initialized",
    "Deployed",
    "ReleaseFailed",
    "Irreconcilable",
)

log = logging.getLogger("kubeloop.helm")


def _is_release_secret(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == "Secret" and str(obj.get("type", "")).startswith("helm.sh/release")


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` merged in, key by key down nested mappings (``over`` wins)."""
    merged = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        merged[key] = merge(old, value) if isinstance(old, Mapping) and isinstance(value, Mapping) else value
    return merged


@dataclass(frozen=True)
class _Live:
    resource: ApiResource
    namespace: str | None
    doc: dict[str, Any]
    live: dict[str, Any] | None


def _comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def _documents(manifest: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(manifest) if isinstance(d, dict) and d.get("kind")]


HELM_METADATA = (
    "app.kubernetes.io/managed-by",
    "meta.helm.sh/release-name",
    "meta.helm.sh/release-namespace",
)
"""The label and the annotations Helm's install and upgrade put on every object of a release."""


def _as_deployed(doc: Mapping[str, Any], release: str, namespace: str) -> dict[str, Any]:
    """An object of the release's manifest as Helm's install and upgrade write it: with Helm's label
    and annotations (over the chart's own values of them), so that putting it back does not undo them
    (and reconcile again on the change)."""
    meta = dict(doc.get("metadata") or {})
    label, name_key, namespace_key = HELM_METADATA
    meta["labels"] = {**(meta.get("labels") or {}), label: "Helm"}
    meta["annotations"] = {**(meta.get("annotations") or {}), name_key: release, namespace_key: namespace}
    return {**doc, "metadata": meta}


class HelmOperator(ProxiedOperator):
    """Installs, upgrades and uninstalls a chart's release per object (see the module docstring)."""

    def __init__(
        self,
        watches: str | Path | Sequence[HelmWatch],
        *,
        helm: str | Path = "helm",
        helm_server: str | Path | None = None,
        name: str = "helm-operator",
        namespace: str | None = None,
        max_concurrent_reconciles: int | None = None,
        work_dir: str | Path | None = None,
        client_validation: bool = False,
    ) -> None:
        """``helm``: the helm binary (``kubeloop controlplane build helm`` builds one into the cache).
        ``helm_server``: the ``helm-server`` binary (``kubeloop controlplane build helm-server``): installs,
        upgrades, rollbacks and uninstalls are served by that one long-lived process, linking Helm's
        packages, instead of a helm process each (``kubeloop run`` uses it when it is built).
        ``client_validation``: helm validates the rendered objects against the server's OpenAPI schemas
        itself (each helm process fetching and parsing them: 0.1-0.2 s of CPU per install or upgrade);
        by default the API server validates them (``fieldValidation=Strict`` on helm's writes: unknown
        and duplicate fields rejected, named), and helm runs with ``--disable-openapi-validation``."""
        self.watches = load_helm_watches(watches) if isinstance(watches, str | Path) else list(watches)
        if not self.watches:
            raise WatchesError("the watches file declares no kind")
        rules = [r for w in self.watches for r in (*w.rbac, owner_reference_rule(w.gvk))]
        super().__init__(name, namespace=namespace, rbac=rules)
        self.client_validation = client_validation
        self.work_dir = Path(work_dir or Path(tempfile.gettempdir()) / "kubeloop-helm" / name)
        self.helm: Releases = (
            HelmServer(
                helm_server, self._session, self.work_dir / "server", client_validation=client_validation
            )
            if helm_server
            else Helm(helm, options=() if client_validation else ("--disable-openapi-validation",))
        )
        for watch in self.watches:
            self._declare(
                watch, watch.max_concurrent_reconciles or max_concurrent_reconciles or os.cpu_count() or 1
            )

    def _declare(self, watch: HelmWatch, workers: int) -> None:
        ref = watch.gvk.ref

        async def reconcile(obj: dict[str, Any], ctx: Context) -> Result | None:
            return await self._reconcile(watch, ctx)

        async def uninstall(obj: dict[str, Any], ctx: Context) -> Result | None:
            return await self._uninstall(watch, ctx)

        self.reconcile(ref, max_concurrent_reconciles=workers)(reconcile)
        self.finalize(ref, finalizer=UNINSTALL_FINALIZER)(uninstall)

    def _session(self, directory: Path) -> contextlib.AbstractAsyncContextManager[Path]:
        assert self.proxy is not None, "build() the operator before reconciling"
        return self.proxy.run(None, directory)

    def _behind_proxy(self) -> Sequence[contextlib.AbstractAsyncContextManager[Any]]:
        return (self.helm,) if isinstance(self.helm, HelmServer) else ()

    def _new_proxy(self, client: Client) -> ApiProxy:
        validation = None if self.client_validation else "Strict"
        return ApiProxy(
            client,
            lambda owner, obj, namespaced: None,
            unowned=_is_release_secret,
            field_validation=validation,
        )

    @contextlib.asynccontextmanager
    async def _kubeconfig(self, watch: HelmWatch, ctx: Context) -> Any:
        assert self.proxy is not None, "build() the operator before reconciling"
        meta = ctx.obj["metadata"]
        gvk = watch.gvk
        private = self.work_dir / (gvk.group or "core") / gvk.version / gvk.kind
        private = private / (meta.get("namespace") or "_cluster") / meta["name"]
        private.mkdir(parents=True, exist_ok=True)
        async with self.proxy.run(RunOwner.of(ctx.obj), private) as kubeconfig:
            yield kubeconfig

    async def _uninstall(self, watch: HelmWatch, ctx: Context) -> Result | None:
        """Uninstall the release; with the uninstall-wait annotation, keep the finalizer until every
        object of its manifest is gone (the release's record, kept until then, holds the manifest)."""
        meta = ctx.obj["metadata"]
        name, namespace = meta["name"], meta.get("namespace") or "default"
        wait = annotation_bool(ctx.obj, UNINSTALL_WAIT, False)
        async with self._kubeconfig(watch, ctx) as kubeconfig:
            release = await read_release(ctx.client, name, namespace) if wait else None
            if release is None or release.status != "uninstalled":
                await self.helm.uninstall(kubeconfig, name, namespace, keep_history=release is not None)
                ctx.event("Normal", "UninstallSuccessful", f"release {name} uninstalled")
            if release is not None:
                left = [o for o in await self._live(ctx, release, namespace) if o.live is not None]
                if left:
                    waiting = ", ".join(f"{o.doc['kind']}/{o.doc['metadata']['name']}" for o in left)
                    message = f"Waiting until all resources are deleted: {waiting}"
                    ctx.set_condition(DEPLOYED, False, "UninstallSuccessful", message)
                    ctx.log.info("uninstall wait: %s", waiting)
                    return Result(requeue_after=UNINSTALL_WAIT_POLL)
                await self.helm.uninstall(kubeconfig, name, namespace)  # the kept record, purged
        return None

    async def _reconcile(self, watch: HelmWatch, ctx: Context) -> Result | None:
        meta = ctx.obj["metadata"]
        name, namespace = meta["name"], meta.get("namespace") or "default"
        spec = ctx.obj.get("spec")
        values = merge(spec if isinstance(spec, Mapping) else {}, watch.override_values)
        ctx.set_condition(INITIALIZED, True, "", "")
        try:
            period = reconcile_period(ctx.obj, watch.reconcile_period)
        except ValueError as exc:
            message = f"annotation {RECONCILE_PERIOD}: {exc}"
            return self._fail(ctx, IRRECONCILABLE, "InvalidAnnotation", message)
        try:
            release = await read_release(ctx.client, name, namespace)
        except (ApiError, ValueError, KeyError) as exc:
            return self._fail(ctx, IRRECONCILABLE, "ReconcileError", f"reading release {name}: {exc}")
        if release is not None and release.status.startswith("pending-"):
            message = f"release {name} is {release.status} (an operation was interrupted); helm rollback it"
            return self._fail(ctx, IRRECONCILABLE, "ReleasePending", message)
        inputs = await asyncio.to_thread(inputs_digest, watch.chart, values)
        labels = {INPUTS_LABEL: inputs}
        if release is not None:
            objects = await self._live(ctx, release, namespace)
            unchanged = release.inputs == inputs and release.config == values
            if unchanged and release.status == "deployed" and all(o.live is not None for o in objects):
                # Made from this chart and these values, deployed, every object there: nothing to
                # render; what was changed by hand is put back.
                try:
                    repaired = await self._repair(ctx, objects)
                except (ApiError, HelmError) as exc:  # HelmError: helm-server ended during drift
                    return self._fail(ctx, IRRECONCILABLE, "DriftRepairError", str(exc))
                if repaired:
                    ctx.event("Normal", "DriftRepaired", f"put back as rendered: {', '.join(repaired)}")
                self._deployed(ctx, release)
                return self._done(watch, release, period)
        async with self._kubeconfig(watch, ctx) as kubeconfig:
            if release is None:
                try:
                    release = await self.helm.install(
                        kubeconfig, name, namespace, watch.chart, values, labels=labels
                    )
                except HelmError as exc:
                    if await self._recorded(ctx, name, namespace, 0):  # nothing half-installed left behind
                        with contextlib.suppress(HelmError):
                            await self.helm.uninstall(kubeconfig, name, namespace)
                    return self._fail(ctx, RELEASE_FAILED, "InstallError", exc.message)
                reason = "InstallSuccessful"
            else:
                previous = release
                force = annotation_bool(ctx.obj, UPGRADE_FORCE, False)
                try:
                    release = await self.helm.upgrade(
                        kubeconfig, name, namespace, watch.chart, values, force=force, labels=labels
                    )
                except HelmError as exc:
                    message = exc.message
                    # A chart that does not render fails before a revision is recorded: nothing to undo.
                    applied = await self._recorded(ctx, name, namespace, previous.revision)
                    if previous.status == "deployed" and applied:
                        rollback_force = annotation_bool(ctx.obj, ROLLBACK_FORCE, True)
                        try:
                            await self.helm.rollback(
                                kubeconfig, name, namespace, previous.revision, force=rollback_force
                            )
                            message += f"; rolled back to revision {previous.revision}"
                        except HelmError as failed:
                            message += (
                                f"; the rollback to revision {previous.revision} failed: {failed.message}"
                            )
                    return self._fail(ctx, RELEASE_FAILED, "UpgradeError", message)
                reason = "UpgradeSuccessful"
                ctx.log.info("upgraded release %s to revision %d (force=%s)", name, release.revision, force)
        self._deployed(ctx, release, reason)
        return self._done(watch, release, period)

    async def _recorded(self, ctx: Context, name: str, namespace: str, revision: int) -> bool:
        """Whether the release has a revision after ``revision`` (or cannot be read: assume so)."""
        try:
            release = await read_release(ctx.client, name, namespace)
        except (ApiError, ValueError, KeyError):
            return True
        return release is not None and release.revision > revision

    def _done(self, watch: HelmWatch, release: Release, period: float) -> Result | None:
        if watch.watch_dependent_resources:
            for doc in _documents(release.manifest):
                self.dependents.add(watch.gvk, GroupVersionKind.from_object(doc))
        return Result(requeue_after=period) if period else None

    async def _live(self, ctx: Context, release: Release, namespace: str) -> list[_Live]:
        """The release's objects as deployed, each with the object in the cluster (None: deleted)."""
        found = []
        for doc in _documents(release.manifest):
            meta = doc.get("metadata") or {}
            resource = await ctx.client.resource(f"{doc['apiVersion']}/{doc['kind']}")
            ns = (meta.get("namespace") or namespace) if resource.namespaced else None
            try:
                live: dict[str, Any] | None = await ctx.client.get(resource, meta["name"], namespace=ns)
            except NotFoundError:
                live = None
            found.append(_Live(resource, ns, _as_deployed(doc, release.name, namespace), live))
        return found

    async def _repair(self, ctx: Context, objects: Sequence[_Live]) -> list[str]:
        """Put back what was changed by hand in the release's objects, as Helm's three-way merge and
        operator-sdk's reconcile of an unchanged release do: fields the release sets return to what
        it deployed, fields it does not set are left; an object where nothing differs is not written
        (with helm-server, not even sent: ``drift``). Returns what was changed."""
        present = [(o, o.live) for o in objects if o.live is not None]
        patches = await self.helm.drift([(o.doc, live) for o, live in present])
        repaired = []
        for (obj, live), patch in zip(present, patches, strict=True):
            if patch is None:
                continue
            name = obj.doc["metadata"]["name"]
            try:
                patched = await ctx.client.patch(
                    obj.resource, name, patch.body, type=patch.type, namespace=obj.namespace
                )
            except ApiError as exc:
                if exc.code != 415 or patch.type != PatchType.STRATEGIC:  # 415: a custom resource
                    raise
                patched = await ctx.client.patch(obj.resource, name, patch.body, namespace=obj.namespace)
            if _comparable(patched) != _comparable(live):
                repaired.append(f"{obj.doc['kind']}/{name}")
        return repaired

    def _deployed(self, ctx: Context, release: Release, event: str | None = None) -> None:
        """Status of a deployed release; ``event``: the reason of this reconcile's Event (an install or
        upgrade). As helm-operator's, the Deployed condition's reason tells the release's revision
        (the first: ``InstallSuccessful``, a later one: ``UpgradeSuccessful``), not what the reconcile
        did: the reconciles after an install or upgrade (its objects' events, the period) write no
        status when nothing changed."""
        reason = "InstallSuccessful" if release.revision <= 1 else "UpgradeSuccessful"
        ctx.set_condition(DEPLOYED, True, reason, f"release {release.name} revision {release.revision}")
        ctx.set_condition(RELEASE_FAILED, False, "", "")
        ctx.set_condition(IRRECONCILABLE, False, "", "")
        digest = hashlib.sha256(release.manifest.encode()).hexdigest()
        ctx.status["deployedRelease"] = {
            "name": release.name,
            "revision": release.revision,
            "manifestDigest": f"sha256:{digest}",
        }
        if event is not None:
            ctx.event("Normal", event, f"release {release.name} revision {release.revision}")

    def _fail(self, ctx: Context, condition: str, reason: str, message: str) -> Result:
        ctx.set_condition(condition, True, reason, message[:4000])
        if condition == RELEASE_FAILED:
            ctx.set_condition(DEPLOYED, False, reason, "")
        ctx.event("Warning", reason, message)
        ctx.log.error("%s; retrying with backoff: %s", reason, message)
        return Result(requeue=True)
