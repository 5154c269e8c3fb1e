"""``AnsibleOperator``: an ``Operator`` whose reconciles are the roles and playbooks of a watches file.

Each watched kind gets a controller of kubeloop's runtime (cache, queue with backoff, N workers,
finalizer handling). A reconcile writes ``Running`` (as operator-sdk's ``markRunning``), runs the
role through ansible-runner with the object as extra vars and a kubeconfig of the API proxy, then
writes ``Running``/``Successful``/``Failure`` with the run's counts as operator-sdk's ``markDone``
does; a failed or stopped run is a Warning Event per failed task and a retry with backoff. The kinds
the runs create are watched from then on (``watchDependentResources``): an event on a child — a
deleted Deployment — runs the role again for its owner.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from kubeloop.ansible._params import extra_vars
from kubeloop.ansible._proxy import ApiProxy, RunOwner
from kubeloop.ansible._runner import RunResult, run_ansible
from kubeloop.ansible._watches import Watch, WatchesError, load_watches, parse_duration
from kubeloop.client import Client, NotFoundError, PatchType
from kubeloop.controller import Result
from kubeloop.errors import KubeloopError
from kubeloop.gvk import GroupVersionKind, plural_of
from kubeloop.helpers import find_condition, set_condition
from kubeloop.manager import Manager, ManagerOptions, Metrics
from kubeloop.operator import Context, DependentWatches, Operator
from kubeloop.webhook import WebhookServer

__all__ = [
    "RECONCILE_PERIOD_ANNOTATION",
    "AnsibleOperator",
    "AnsibleRunError",
    "ProxiedOperator",
    "owner_reference_rule",
    "status_rules",
]

RECONCILE_PERIOD_ANNOTATION = "ansible.sdk.operatorframework.io/reconcile-period"

RUNNING, SUCCESSFUL, FAILURE = "Running", "Successful", "Failure"
RUNNING_MESSAGE = "Running reconciliation"
AWAITING_MESSAGE = "Awaiting next reconciliation"
SUCCESSFUL_MESSAGE = "Last reconciliation succeeded"
TASK_FAILED = "TaskFailed"

log = logging.getLogger("kubeloop.ansible")


class AnsibleRunError(KubeloopError):
    """A run that failed; the message names the failed tasks."""


class ProxiedOperator(Operator):
    """An ``Operator`` whose reconciles run a tool (ansible, helm) that talks to the API server through
    an ``ApiProxy``, and which watches the kinds the tool's objects are of (``dependents``)."""

    def __init__(self, name: str, *, namespace: str | None, rbac: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(name, namespace=namespace, rbac=rbac)
        self.proxy: ApiProxy | None = None
        self.dependents = DependentWatches()

    def _new_proxy(self, client: Client) -> ApiProxy:
        raise NotImplementedError

    def _behind_proxy(self) -> Sequence[AbstractAsyncContextManager[Any]]:
        """Servers of the tool that talk through the proxy: started after it, stopped before it."""
        return ()

    async def build(
        self,
        client: Client,
        options: ManagerOptions | None = None,
        metrics: Metrics | None = None,
        *,
        webhook_server: WebhookServer | None = None,
    ) -> Manager:
        """As ``Operator.build``, with the API proxy the tool talks to (run beside the controllers)."""
        for server in (self.proxy, *self._behind_proxy()):
            if server is not None and server in self.servers:
                self.servers.remove(server)
        self.proxy = self._new_proxy(client)
        self.servers += [self.proxy, *self._behind_proxy()]  # stopped before the proxy
        manager = await super().build(client, options, metrics, webhook_server=webhook_server)
        self.dependents.reset(manager)
        return manager


class AnsibleOperator(ProxiedOperator):
    """Reconciles each kind of a watches file by running its role or playbook (module docstring)."""

    def __init__(
        self,
        watches: str | Path | Sequence[Watch],
        *,
        name: str = "ansible-operator",
        namespace: str | None = None,
        max_concurrent_reconciles: int | None = None,
        artifacts_dir: str | Path | None = None,
        verbosity: int = 0,
    ) -> None:
        """``watches``: a watches file or its entries. ``max_concurrent_reconciles``: runs at once per
        kind (default: the CPU count, as operator-sdk; ``MAX_CONCURRENT_RECONCILES_<KIND>_<GROUP>``
        overrides it per kind). ``artifacts_dir``: where runs keep their inputs and artifacts."""
        self.watches = load_watches(watches) if isinstance(watches, str | Path) else list(watches)
        if not self.watches:
            raise WatchesError("the watches file declares no kind")
        super().__init__(
            name,
            namespace=namespace,
            rbac=[
                r for w in self.watches for r in (*w.rbac, owner_reference_rule(w.gvk), *status_rules(w.gvk))
            ],
        )
        self.artifacts_dir = Path(artifacts_dir or Path(tempfile.gettempdir()) / "kubeloop-ansible" / name)
        self.verbosity = verbosity
        default_workers = max_concurrent_reconciles or os.cpu_count() or 1
        for watch in self.watches:
            self._declare(watch, _workers(watch.gvk, default_workers))

    def _declare(self, watch: Watch, workers: int) -> None:
        ref = watch.gvk.ref

        async def reconcile(obj: dict[str, Any], ctx: Context) -> Result | None:
            return await self._reconcile(watch, ctx)

        # The controller's own limit is a backstop: the runner stops a run at run_timeout first.
        self.reconcile(ref, max_concurrent_reconciles=workers, reconcile_timeout=watch.run_timeout + 60)(
            reconcile
        )
        if watch.finalizer is not None:
            finalizer = watch.finalizer

            async def cleanup(obj: dict[str, Any], ctx: Context) -> None:
                role, playbook = finalizer.role, finalizer.playbook
                if role is None and playbook is None:
                    role, playbook = watch.role, watch.playbook
                result = await self._run(watch, ctx, role, playbook, {**watch.vars, **finalizer.vars})
                if not result.successful:
                    self._report_failure(watch, ctx, result)
                    raise AnsibleRunError(f"finalizer {finalizer.name}: {result.message}")

            self.finalize(ref, finalizer=finalizer.name)(cleanup)

    # -- running -----------------------------------------------------------------------------------

    def _new_proxy(self, client: Client) -> ApiProxy:
        return ApiProxy(client, self._on_created)

    async def _reconcile(self, watch: Watch, ctx: Context) -> Result | None:
        annotations = (ctx.obj.get("metadata") or {}).get("annotations") or {}
        period = watch.reconcile_period
        if RECONCILE_PERIOD_ANNOTATION in annotations:
            try:
                period = parse_duration(annotations[RECONCILE_PERIOD_ANNOTATION])
            except ValueError as exc:
                message = f"Unable to parse reconcile period annotation: {exc}"
                if watch.manage_status:
                    self._set_failure(ctx, message, None)
                ctx.event("Warning", "InvalidAnnotation", message)
                return Result(requeue=True)
        if watch.manage_status and not await self._mark_running(watch, ctx):
            return None  # deleted meanwhile
        result = await self._run(watch, ctx, watch.role, watch.playbook, watch.vars)
        if watch.manage_status and not await self._reread(watch, ctx):
            return None  # deleted meanwhile
        if not result.successful:
            if watch.manage_status:
                self._set_failure(ctx, result.message, result)
            self._report_failure(watch, ctx, result)
            return Result(requeue=True)
        if watch.manage_status:
            self._set_done(ctx, result)
        return Result(requeue_after=period) if period else None

    async def _run(
        self,
        watch: Watch,
        ctx: Context,
        role: Path | None,
        playbook: Path | None,
        variables: Mapping[str, Any],
    ) -> RunResult:
        assert self.proxy is not None, "build() the operator before reconciling"
        meta = ctx.obj.get("metadata") or {}
        gvk = watch.gvk
        private = self.artifacts_dir / (gvk.group or "core") / gvk.version / gvk.kind
        private = private / (meta.get("namespace") or "_cluster") / str(meta.get("name"))
        private.mkdir(parents=True, exist_ok=True)
        params = extra_vars(ctx.obj, snake_case=watch.snake_case_parameters, variables=variables)
        roles_path = os.pathsep.join(
            filter(None, [str(watch.path.parent), os.environ.get("ANSIBLE_ROLES_PATH", "")])
        )
        async with self.proxy.run(RunOwner.of(ctx.obj), private) as kubeconfig:
            ctx.log.info("running %s", watch.path.name)
            result = await run_ansible(
                private,
                role=role,
                playbook=playbook,
                extravars=params,
                env={"K8S_AUTH_KUBECONFIG": str(kubeconfig), "ANSIBLE_ROLES_PATH": roles_path},
                timeout=watch.run_timeout,
                max_artifacts=watch.max_runner_artifacts,
                verbosity=self.verbosity,
            )
        ctx.log.info(
            "ansible run %s: ok=%d changed=%d failures=%d%s",
            result.ident,
            result.ok,
            result.changed,
            result.failures,
            " (stopped: timeout)" if result.timed_out else "",
        )
        return result

    # -- status and events -------------------------------------------------------------------------

    async def _mark_running(self, watch: Watch, ctx: Context) -> bool:
        """Write ``Running`` now (the run takes seconds); False when the object is gone."""
        if find_condition(ctx.status, SUCCESSFUL) is not None:
            _set(ctx.status, SUCCESSFUL, False, "", "")
        _set(ctx.status, RUNNING, True, RUNNING, RUNNING_MESSAGE)
        if ctx.status == (ctx.obj.get("status") or {}):
            return True
        meta = ctx.obj["metadata"]
        try:
            updated = await ctx.client.patch(
                watch.gvk.ref,
                meta["name"],
                {"status": {"conditions": ctx.status["conditions"]}},
                type=PatchType.MERGE,
                namespace=meta.get("namespace") or None,
                subresource="status",
            )
        except NotFoundError:
            return False
        ctx.obj = updated
        (await ctx.cache.informer(watch.gvk.ref)).observe(updated)
        return True

    async def _reread(self, watch: Watch, ctx: Context) -> bool:
        """Read the object again after a run: what its tasks wrote into the status (k8s_status) stays,
        the run's conditions are set over it. False when the object is gone."""
        meta = ctx.obj["metadata"]
        try:
            fresh = await ctx.client.get(watch.gvk.ref, meta["name"], namespace=meta.get("namespace") or None)
        except NotFoundError:
            return False
        if fresh.get("status") != ctx.obj.get("status"):
            ctx.obj = fresh
            status = fresh.get("status")
            ctx.status = copy.deepcopy(status) if isinstance(status, dict) else {}
        return True

    def _set_done(self, ctx: Context, result: RunResult) -> None:
        _set(ctx.status, RUNNING, True, SUCCESSFUL, AWAITING_MESSAGE, result)
        _set(ctx.status, SUCCESSFUL, True, SUCCESSFUL, SUCCESSFUL_MESSAGE)
        _set(ctx.status, FAILURE, False, "", "")

    def _set_failure(self, ctx: Context, message: str, result: RunResult | None) -> None:
        if find_condition(ctx.status, RUNNING) is not None:
            running = find_condition(ctx.status, RUNNING) or {}
            _set(ctx.status, RUNNING, False, str(running.get("reason", "")), str(running.get("message", "")))
        _set(ctx.status, FAILURE, True, "Failed", message, result)
        _set(ctx.status, SUCCESSFUL, False, "", "")

    def _report_failure(self, watch: Watch, ctx: Context, result: RunResult) -> None:
        for failure in result.failed or ():
            ctx.event("Warning", TASK_FAILED, str(failure))
        if not result.failed:
            ctx.event("Warning", TASK_FAILED, result.message)
        ctx.log.error(
            "%s failed (artifacts: %s); retrying with backoff: %s",
            watch.path.name,
            result.artifacts,
            result.message,
        )

    # -- dependent resources -----------------------------------------------------------------------

    def _on_created(self, owner: RunOwner, obj: dict[str, Any], namespaced: bool) -> None:
        watch = next((w for w in self.watches if w.gvk.ref == f"{owner.api_version}/{owner.kind}"), None)
        if watch is None or not watch.watch_dependent_resources:
            return
        if namespaced or watch.watch_cluster_scoped_resources:
            self.dependents.add(watch.gvk, GroupVersionKind.from_object(obj))


def _set(
    status: dict[str, Any],
    type: str,
    value: bool,
    reason: str,
    message: str,
    result: RunResult | None = None,
) -> None:
    set_condition(status, type, value, reason, message)
    for condition in status["conditions"]:
        if isinstance(condition, dict) and condition.get("type") == type:
            if result is not None:
                condition["ansibleResult"] = result.ansible_result()
            else:
                condition.pop("ansibleResult", None)


def owner_reference_rule(gvk: GroupVersionKind) -> dict[str, Any]:
    """``<plural>/finalizers: update``, for the owner references of the kind's children
    (``blockOwnerDeletion``, checked where OwnerReferencesPermissionEnforcement runs)."""
    return {"apiGroups": [gvk.group], "resources": [f"{plural_of(gvk.kind)}/finalizers"], "verbs": ["update"]}


def status_rules(gvk: GroupVersionKind) -> list[dict[str, Any]]:
    """What a role's ``operator_sdk.util.k8s_status`` task needs on the kind: read the object, then
    patch (or, with ``replace``, update) its status."""
    plural = plural_of(gvk.kind)
    return [
        {"apiGroups": [gvk.group], "resources": [plural], "verbs": ["get"]},
        {"apiGroups": [gvk.group], "resources": [f"{plural}/status"], "verbs": ["get", "patch", "update"]},
    ]


def _workers(gvk: GroupVersionKind, default: int) -> int:
    for prefix in ("MAX_CONCURRENT_RECONCILES", "WORKER"):
        value = os.environ.get(f"{prefix}_{gvk.kind}_{gvk.group}".upper().replace(".", "_"))
        if value and value.isdigit() and int(value) > 0:
            return int(value)
    return default
