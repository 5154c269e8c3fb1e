"""The reconcile pipeline around an author's function, and the controller that runs it.

For each primary object: skip it when gone; on deletion run the cleanup and remove the finalizer
once it succeeds (an object that does not fit its model keeps the finalizer, with ``InvalidSpec``
saying why, until fixed); add the finalizer when a cleanup is declared; parse the object into its
model (a spec that does not parse gets ``Ready=False``/``InvalidSpec`` and a Warning Event, and a
``TerminalError``: no retry until it changes; a status that does not is replaced, with a Warning
Event ``InvalidStatus``); run the function with a ``Context``; take into ``ctx.status`` the fields
of the model's status that the function set and changed; write ``ctx.status`` if it changed.
Children are deleted only by the function itself (``ctx.prune()``). A failing function sets
``Ready=False`` with the error's reason, records a Warning Event, and re-raises for backoff. The
framework takes back what it wrote: a pass that succeeds without touching ``Ready`` removes a
``Ready=False`` whose reason is one the framework writes (``ReconcileError``, ``InvalidSpec``, a
Kubernetes ``StatusReason``), so an error that is gone no longer shows.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import pydantic
from pydantic_core import ErrorDetails

from kubeloop.client import STATUS_REASONS, ApiError, NotFoundError, PatchType
from kubeloop.controller import (
    Controller,
    ControllerOptions,
    Mapper,
    Predicate,
    Request,
    Result,
    map_to_owner,
    not_status_only,
)
from kubeloop.crd import CustomResource, Model
from kubeloop.errors import TerminalError
from kubeloop.helpers import (
    add_finalizer,
    find_condition,
    has_finalizer,
    remove_condition,
    remove_finalizer,
)
from kubeloop.manager import Manager, Metrics
from kubeloop.operator._applied import AppliedChildren
from kubeloop.operator._context import Context
from kubeloop.operator._kinds import KindSpec, resolve

__all__ = ["CleanupFn", "ReconcileFn", "Registration", "build_controller", "reconcile_one"]

ReconcileFn = Callable[[Any, Context], Awaitable[Result | None]]
CleanupFn = Callable[[Any, Context], Awaitable[Result | None]]

READY = "Ready"
RECONCILE_ERROR = "ReconcileError"
INVALID_SPEC = "InvalidSpec"
FRAMEWORK_REASONS = STATUS_REASONS | {RECONCILE_ERROR, INVALID_SPEC}
"""The reasons of the ``Ready=False`` conditions the framework writes (an error's, a spec's)."""


@dataclass
class Registration:
    """What ``@operator.reconcile`` (and ``@operator.finalize``) declared for one primary kind."""

    primary: KindSpec
    fn: ReconcileFn
    owns: list[KindSpec]
    watches: list[tuple[KindSpec, Mapper]]
    predicates: tuple[Predicate, ...]
    options: ControllerOptions
    cleanup: CleanupFn | None = None
    finalizer: str | None = None
    name: str = ""


async def build_controller(manager: Manager, reg: Registration, field_manager: str) -> Controller:
    """The controller of one registration: its watches (primary, owned, watched kinds) and the reconcile
    pipeline around the author's function."""
    cache = manager.cache
    recorder = manager.event_recorder(field_manager)
    primary_informer = await cache.informer(await resolve(manager.client, reg.primary))
    namespaced = primary_informer.resource.namespaced

    applied = AppliedChildren(field_manager, ((spec.group, spec.kind) for spec in reg.owns))
    logger = logging.getLogger(f"kubeloop.reconcile.{reg.name}")
    gate = manager.shard_gate
    if gate is not None:
        scopes = primary_informer.options.scopes(namespaced)
        manager.sharded.append((primary_informer.resource, tuple(ns for ns in scopes if ns is not None)))

    async def reconcile(request: Request) -> Result | None:
        obj = primary_informer.get(request.namespace, request.name)
        if obj is None and gate is not None:  # an adopted shard's, maybe, not listed yet
            obj = await gate.fetch(primary_informer, request)
        if obj is None:
            return None
        if gate is not None and not await gate.admit(primary_informer.resource, obj, primary_informer):
            return None
        ctx = Context(
            request=request,
            obj=obj,
            client=manager.client,
            cache=cache,
            field_manager=field_manager,
            owned=reg.owns,
            recorder=recorder,
            logger=logger,
            child_labels=gate.child_labels(obj) if gate is not None else None,
            applied=applied,
        )
        return await reconcile_one(reg, ctx)

    controller = Controller(
        reg.name,
        reconcile,
        _with_queue_metrics(reg.options, manager.metrics),
        metrics=manager.metrics,
    )
    controller.watch(primary_informer, predicates=(not_status_only, *reg.predicates))
    if gate is not None:
        manager.shard_informers.append((primary_informer, controller.enqueue))
    for child in reg.owns:
        informer = await cache.informer(await resolve(manager.client, child))
        if gate is not None:
            manager.shard_informers.append((informer, None))
        controller.watch(
            informer,
            map_to_owner(reg.primary.group, reg.primary.kind, namespaced=namespaced),
        )
    for watched, mapper in reg.watches:
        controller.watch(await cache.informer(await resolve(manager.client, watched)), mapper)
    return controller


async def reconcile_one(reg: Registration, ctx: Context) -> Result | None:
    """One pass of the pipeline over a primary object read from the cache (see the module docstring)."""
    obj = ctx.obj
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        if reg.cleanup is not None and reg.finalizer and has_finalizer(obj, reg.finalizer):
            pending = await reg.cleanup(await _parse(ctx, reg), ctx)
            if pending is not None and (pending.requeue or pending.requeue_after):
                await _write_status(ctx, reg)  # not done yet: the finalizer stays, its progress is shown
                return pending
            await _set_finalizers(ctx, reg, add=False)
        return None
    if reg.cleanup is not None and reg.finalizer and not has_finalizer(obj, reg.finalizer):
        await _set_finalizers(ctx, reg, add=True)
    typed = await _parse(ctx, reg)
    ready = find_condition(ctx.status, READY)
    status_before = _model_status(typed)
    try:
        result = await reg.fn(typed, ctx)
    except Exception as exc:
        _take_model_status(ctx, typed, status_before)
        reason = exc.reason if isinstance(exc, ApiError) and exc.reason else RECONCILE_ERROR
        message = exc.message if isinstance(exc, ApiError) and exc.message else str(exc)
        ctx.set_condition(READY, False, reason, message[:1000])
        ctx.event("Warning", reason, message)
        with contextlib.suppress(Exception):
            await _write_status(ctx, reg)
        raise
    _take_model_status(ctx, typed, status_before)
    if ready is not None and find_condition(ctx.status, READY) == ready and _framework_set(ready):
        remove_condition(ctx.status, READY)
    await _write_status(ctx, reg)
    return result


def _model_status(typed: Any) -> dict[str, Any] | None:
    """The wire form of a parsed custom resource's status model (``{}`` while it has none); None
    when the primary has no status model (a dict, or a model without one)."""
    if not isinstance(typed, CustomResource):
        return None
    status = getattr(typed, "status", None)
    return status.model_dump(by_alias=True, mode="json") if isinstance(status, Model) else {}


def _take_model_status(ctx: Context, typed: Any, before: dict[str, Any] | None) -> None:
    """Write into ``ctx.status`` the fields of the model's status that the reconcile set and changed
    (``app.status = AppServiceStatus(ready_replicas=3)`` or ``app.status.ready_replicas = 3``);
    fields left unset or unchanged leave ``ctx.status`` (and its conditions helpers) alone."""
    status = getattr(typed, "status", None)
    if before is None or not isinstance(status, Model):
        return
    after = status.model_dump(by_alias=True, mode="json", include=set(status.model_fields_set))
    for key, value in after.items():
        if value != before.get(key):
            if value is None:
                ctx.status.pop(key, None)
            else:
                ctx.status[key] = value


def _framework_set(condition: dict[str, Any]) -> bool:
    """Whether a condition is one the framework writes (and so takes back once its error is gone)."""
    return condition.get("status") == "False" and condition.get("reason") in FRAMEWORK_REASONS


async def _parse(ctx: Context, reg: Registration) -> Any:
    """The model of the object. A status that does not fit (another writer's, an older version's shape)
    is the operator's own record gone bad: dropped with a Warning Event, the pass starts from an empty
    status and writes it whole. Anything else that does not fit is the user's: ``InvalidSpec``."""
    try:
        return reg.primary.parse(ctx.obj)
    except pydantic.ValidationError as exc:
        invalid = exc
    errors = invalid.errors(include_url=False)
    bad_status = [e for e in errors if e["loc"][:1] == ("status",)]
    bad_spec = [e for e in errors if e["loc"][:1] != ("status",)]
    if bad_status:
        ctx.status = {}
        ctx.event("Warning", "InvalidStatus", f"status replaced: {_describe(bad_status)}")
    if bad_spec:
        message = _describe(bad_spec)
        ctx.set_condition(READY, False, INVALID_SPEC, message[:1000])
        ctx.event("Warning", INVALID_SPEC, message)
        await _write_status(ctx, reg)
        raise TerminalError(
            f"{reg.primary.kind} {ctx.request} does not match its model: {message}"
        ) from invalid
    return reg.primary.parse({k: v for k, v in ctx.obj.items() if k != "status"})


def _describe(errors: list[ErrorDetails]) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)


async def _set_finalizers(ctx: Context, reg: Registration, *, add: bool) -> None:
    obj = {"metadata": {"finalizers": list((ctx.obj.get("metadata") or {}).get("finalizers") or ())}}
    changed = add_finalizer(obj, reg.finalizer or "") if add else remove_finalizer(obj, reg.finalizer or "")
    if not changed:
        return
    obj["metadata"]["resourceVersion"] = ctx.obj["metadata"]["resourceVersion"]
    updated = await ctx.client.patch(
        reg.primary.ref,
        ctx.request.name,
        obj,
        type=PatchType.MERGE,
        namespace=ctx.request.namespace or None,
    )
    ctx.obj = updated
    (await ctx.cache.informer(reg.primary.ref)).observe(updated)


async def _write_status(ctx: Context, reg: Registration) -> None:
    old = ctx.obj.get("status") or {}
    if ctx.status == old:
        return
    # A merge patch replaces a status that is not an object whole; keys of one it no longer has are nulled.
    patch: dict[str, Any] = {k: None for k in old if k not in ctx.status} if isinstance(old, dict) else {}
    patch.update(ctx.status)
    kwargs: dict[str, Any] = {"type": PatchType.MERGE, "namespace": ctx.request.namespace or None}
    resource = await ctx.client.resource(reg.primary.ref)
    if "status" not in resource.subresources:  # a kind without a status subresource keeps status inline
        updated = await ctx.client.patch(resource, ctx.request.name, {"status": patch}, **kwargs)
    else:
        try:
            updated = await ctx.client.patch(
                resource, ctx.request.name, {"status": patch}, subresource="status", **kwargs
            )
        except NotFoundError as exc:
            # Deleted meanwhile (the Status names it): nothing left to report on, and the main
            # resource is no fallback. A 404 naming nothing (kube-apiserver starting, the CRD's
            # routes not yet installed) fails the pass, to be retried.
            if exc.details.get("name") != ctx.request.name:
                raise
            return
    (await ctx.cache.informer(reg.primary.ref)).observe(updated)


def _with_queue_metrics(options: ControllerOptions, metrics: Metrics) -> ControllerOptions:
    return replace(options, queue=replace(options.queue, metrics=metrics))
