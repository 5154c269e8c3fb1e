"""``Operator``: the facade an author writes against — declare reconcile functions, then run.

::

    operator = kl.Operator("appservice-operator")

    @operator.reconcile(AppService, owns=[apps_v1.Deployment, core_v1.Service])
    async def reconcile(app: AppService, ctx: kl.Context) -> kl.Result | None:
        await ctx.apply(deployment_for(app), service_for(app))

    @operator.finalize(AppService)          # optional: cleanup before deletion completes
    async def cleanup(app: AppService, ctx: kl.Context) -> None: ...

The declarations are kept here; ``_pipeline`` turns each into a controller and runs the author's
function inside the reconcile pipeline (finalizers, parsing, pruning, status, error conditions).
Changes of the primary object's status alone do not reconcile it: the status is the operator's
own output (kopf does the same).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

from kubeloop import crd
from kubeloop._deprecated import warn_deprecated
from kubeloop.cache import CacheOptions, Transform
from kubeloop.client import Client
from kubeloop.controller import ControllerOptions, Mapper, Predicate, Result
from kubeloop.manager import Manager, ManagerOptions, Metrics, ShardingOptions, ShardLabels
from kubeloop.operator._context import Context
from kubeloop.operator._dependents import controller_name
from kubeloop.operator._kinds import KindLike, KindSpec, kind_spec
from kubeloop.operator._legacy import from_keywords
from kubeloop.operator._pipeline import CleanupFn, ReconcileFn, Registration, build_controller
from kubeloop.operator._scope import CacheScope, cache_options
from kubeloop.operator._watch import Watch
from kubeloop.resources import Kind
from kubeloop.webhook import (
    CONVERT_PATH,
    AdmissionOptions,
    AdmissionWebhook,
    Conversions,
    ConvertFn,
    Defaulter,
    DefaultFn,
    LocalWebhooks,
    Target,
    ValidateFn,
    Validator,
    WebhookServer,
    serving_certificate,
)

__all__ = ["Operator", "ReconcileFn", "TypedCleanupFn", "TypedReconcileFn"]

T = TypeVar("T")
TypedReconcileFn = Callable[[T, Context], Awaitable[Result | None]]
"""A reconcile function of objects of type ``T``: the kind's model, typed dict, or a plain dict."""
TypedCleanupFn = Callable[[T, Context], Awaitable[Result | None]]

log = logging.getLogger("kubeloop.operator")


class Operator:
    """A named set of reconcile functions run by one manager."""

    def __init__(
        self,
        name: str,
        *,
        namespace: str | None = None,
        namespaces: Sequence[str] = (),
        cache: Mapping[KindLike, CacheScope] | None = None,
        uncached: Sequence[KindLike] = (),
        transform: Transform | None = None,
        sharding: ShardingOptions | bool = False,
        rbac: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """``namespace`` or ``namespaces``: the namespaces whose objects the operator caches and
        reconciles (default: all). ``cache``: per kind, what its cache holds (``CacheScope``: selectors,
        namespaces, metadata only, a transform, indexes). ``uncached``: kinds read from the API server
        on every ``ctx.get``/``ctx.list`` instead (never watched: not for reconciled, owned or watched
        kinds). ``transform``: applied to every cached object before it is stored. ``sharding``: share
        the reconciled objects among the replicas that run, active-active (``True``, or
        ``ShardingOptions``; see "Scaling out" in docs/operators.md). ``rbac``: extra ClusterRole rules
        the reconcile code needs beyond its declared kinds."""
        if namespace is not None and namespaces:
            raise ValueError("give namespace= or namespaces=, not both")
        self.name = name
        self.namespaces: tuple[str, ...] = tuple(namespaces) or ((namespace,) if namespace else ())
        self.cache_scopes = {kind_spec(kind): scope for kind, scope in (cache or {}).items()}
        self.uncached = [kind_spec(kind) for kind in uncached]
        self.transform = transform
        self.sharding: ShardingOptions | None = (
            sharding if isinstance(sharding, ShardingOptions) else ShardingOptions() if sharding else None
        )
        self.rbac_rules = [dict(rule) for rule in rbac]
        self._registrations: list[Registration] = []
        self.manager: Manager | None = None
        self.webhooks: list[AdmissionWebhook] = []
        self.conversions = Conversions()
        self.webhook_server: WebhookServer | None = None
        self.servers: list[AbstractAsyncContextManager[Any]] = []
        """Run with the manager on every replica (entered before the controllers start, exited after
        they stop): components of the operator that own tasks or connections of their own."""

    @property
    def namespace(self) -> str | None:
        """The one namespace the operator is limited to, or None (all, or several)."""
        return self.namespaces[0] if len(self.namespaces) == 1 else None

    @namespace.setter
    def namespace(self, namespace: str | None) -> None:
        self.namespaces = (namespace,) if namespace else ()

    # -- declaration -------------------------------------------------------------------------------

    @overload
    def reconcile(
        self,
        kind: type[T],
        *,
        owns: Sequence[KindLike] = (),
        watches: Sequence[Watch[Any]] = (),
        predicates: Sequence[Predicate] = (),
        max_concurrent_reconciles: int = ControllerOptions.max_concurrent_reconciles,
        reconcile_timeout: float | None = ControllerOptions.reconcile_timeout,
        initial_priority: int = ControllerOptions.initial_priority,
    ) -> Callable[[TypedReconcileFn[T]], TypedReconcileFn[T]]: ...
    @overload
    def reconcile(
        self,
        kind: Kind | str,
        *,
        owns: Sequence[KindLike] = (),
        watches: Sequence[Watch[Any]] = (),
        predicates: Sequence[Predicate] = (),
        max_concurrent_reconciles: int = ControllerOptions.max_concurrent_reconciles,
        reconcile_timeout: float | None = ControllerOptions.reconcile_timeout,
        initial_priority: int = ControllerOptions.initial_priority,
    ) -> Callable[[TypedReconcileFn[dict[str, Any]]], TypedReconcileFn[dict[str, Any]]]: ...
    def reconcile(
        self,
        kind: KindLike,
        *,
        owns: Sequence[KindLike] = (),
        watches: Sequence[Watch[Any]] = (),
        predicates: Sequence[Predicate] = (),
        max_concurrent_reconciles: int = ControllerOptions.max_concurrent_reconciles,
        reconcile_timeout: float | None = ControllerOptions.reconcile_timeout,
        initial_priority: int = ControllerOptions.initial_priority,
    ) -> Callable[[ReconcileFn], ReconcileFn]:
        """Declare the reconcile function of ``kind``; the type checker holds its first argument to
        the kind (a ``crd.CustomResource`` model, a typed kind's ``TypedDict``, else a plain dict) and
        its result to ``kl.Result | None``.

        ``owns``: child kinds whose events reconcile their controlling owner. ``watches``: other
        kinds, each a ``kl.Watch(kind, mapper)``: ``mapper(obj)`` returns the ``Request``s to
        reconcile (its argument typed as the kind). ``predicates`` filter the primary kind's events.
        ``initial_priority``: the queue priority of objects from the first list (``kubeloop.queue.LOW``,
        below live events, by default; ``NORMAL`` for first come, first served).
        """
        primary = kind_spec(kind)
        watched = []
        for watch in watches:  # a loop, not a comprehension: the warning's stack level is the caller's
            watched.append(_watched(watch))

        def decorate(fn: ReconcileFn) -> ReconcileFn:
            self._registrations.append(
                Registration(
                    primary=primary,
                    fn=fn,
                    owns=[kind_spec(k) for k in owns],
                    watches=watched,
                    predicates=tuple(predicates),
                    options=ControllerOptions(
                        max_concurrent_reconciles=max_concurrent_reconciles,
                        reconcile_timeout=reconcile_timeout,
                        initial_priority=initial_priority,
                    ),
                    name=controller_name(primary),
                )
            )
            return fn

        return decorate

    @overload
    def finalize(
        self, kind: type[T], *, finalizer: str | None = None
    ) -> Callable[[TypedCleanupFn[T]], TypedCleanupFn[T]]: ...
    @overload
    def finalize(
        self, kind: Kind | str, *, finalizer: str | None = None
    ) -> Callable[[TypedCleanupFn[dict[str, Any]]], TypedCleanupFn[dict[str, Any]]]: ...
    def finalize(self, kind: KindLike, *, finalizer: str | None = None) -> Callable[[CleanupFn], CleanupFn]:
        """Declare the cleanup of ``kind`` (its first argument typed as for ``reconcile``): deletion
        waits until it succeeds (via a finalizer). A cleanup not done yet (waiting on something)
        returns ``Result(requeue_after=...)``: the finalizer stays, ``ctx.status`` is written, and it
        runs again."""
        primary = kind_spec(kind)

        def decorate(fn: CleanupFn) -> CleanupFn:
            registration = self._registration(primary)
            registration.cleanup = fn
            registration.finalizer = finalizer or f"{primary.group or 'core'}/{self.name}"
            return fn

        return decorate

    def _registration(self, primary: KindSpec) -> Registration:
        for registration in self._registrations:
            if registration.primary.ref == primary.ref:
                return registration
        raise LookupError(f"declare @operator.reconcile({primary.kind}) before its finalizer")

    # -- webhooks ----------------------------------------------------------------------------------

    def default(
        self, kind: KindLike, options: AdmissionOptions | None = None, **settings: Any
    ) -> Callable[[DefaultFn], DefaultFn]:
        """Declare the defaulting (mutating admission) webhook of ``kind``: ``fn(obj, request)``
        changes the parsed object in place or returns a new one; the API server gets the JSON patch.

        ``options`` (or its fields as keywords: ``operations=``, ``failure_policy=``, ...) land in
        the generated ``MutatingWebhookConfiguration`` entry.
        """
        admission = replace(options or AdmissionOptions(), **settings)

        def decorate(fn: DefaultFn) -> DefaultFn:
            self._declare_webhook("mutating", kind, Defaulter, fn, admission)
            return fn

        return decorate

    def validate(
        self, kind: KindLike, options: AdmissionOptions | None = None, **settings: Any
    ) -> Callable[[ValidateFn], ValidateFn]:
        """Declare the validating admission webhook of ``kind``: ``fn(obj, request)`` returns
        warnings (a list of strings, or ``None``) or raises ``webhook.Denied`` /
        ``webhook.Invalid(FieldError(path, detail), ...)`` to reject; on UPDATE ``request.old`` is
        the current object, on DELETE (when listed in ``operations``) ``obj`` is the deleted one.
        ``options`` (or its fields as keywords) as for ``default``."""
        admission = replace(options or AdmissionOptions(), **settings)

        def decorate(fn: ValidateFn) -> ValidateFn:
            self._declare_webhook("validating", kind, Validator, fn, admission)
            return fn

        return decorate

    def convert(
        self, source: type[crd.CustomResource], target: type[crd.CustomResource]
    ) -> Callable[[ConvertFn], ConvertFn]:
        """Declare ``fn(source_obj) -> target_obj`` converting between two versions of one kind,
        served at ``/convert`` (hub and spoke: declare each spoke to and from the hub)."""

        def decorate(fn: ConvertFn) -> ConvertFn:
            self.conversions.add(source, target, fn)
            return fn

        return decorate

    def _declare_webhook(
        self,
        flavour: Literal["mutating", "validating"],
        kind: KindLike,
        handler: type[Defaulter] | type[Validator],
        fn: Any,
        options: AdmissionOptions,
    ) -> None:
        target, plural, namespaced = _webhook_target(kind)
        webhook = AdmissionWebhook(
            flavour, target, handler(target, fn, operations=options.operations), plural, namespaced, options
        )
        if any(w.path == webhook.path for w in self.webhooks):
            raise ValueError(f"{webhook.target} already has a {webhook.type} webhook")
        self.webhooks.append(webhook)

    @property
    def has_webhooks(self) -> bool:
        """Whether any admission or conversion webhook is declared (then a webhook server runs)."""
        return bool(self.webhooks) or bool(self.conversions)

    def register_webhooks(self, server: WebhookServer) -> WebhookServer:
        """Register every declared webhook on ``server``; returns it."""
        for webhook in self.webhooks:
            server.register(webhook.path, webhook.handler)
        if self.conversions:
            server.register(CONVERT_PATH, self.conversions)
        return server

    @property
    def kinds(self) -> list[tuple[KindSpec, list[KindSpec], list[KindSpec]]]:
        """For each reconcile: its primary kind, owned kinds and watched kinds (RBAC generation)."""
        return [(r.primary, r.owns, [k for k, _ in r.watches]) for r in self._registrations]

    @property
    def finalized_kinds(self) -> list[KindSpec]:
        """The primary kinds with an ``@operator.finalize`` cleanup (RBAC generation)."""
        return [r.primary for r in self._registrations if r.cleanup is not None]

    # -- running -----------------------------------------------------------------------------------

    async def build(
        self,
        client: Client,
        options: ManagerOptions | None = None,
        metrics: Metrics | None = None,
        *,
        webhook_server: WebhookServer | None = None,
    ) -> Manager:
        """Create the manager and controllers on ``client`` (``run`` does this for you).

        ``options`` left empty take the operator's name and cache settings. With webhooks declared, a
        webhook server (``webhook_server``, or one made from ``options.webhook_server``) serves them
        alongside the controllers, on every replica; with ``options.webhook_server.local`` the
        configurations reaching it are installed while it runs.
        """
        options = options or ManagerOptions()
        if options.sharding is None and self.sharding is not None:
            options = replace(options, sharding=self.sharding)
        options = options.with_defaults(self.name, self._cache_options(options.sharding))
        manager = Manager(client, options, metrics=metrics)
        for registration in self._registrations:
            manager.add(await build_controller(manager, registration, self.name))
        for server in self.servers:
            manager.add_server(server)
        if self.has_webhooks:
            local = options.webhook_server.local and webhook_server is None
            ca_bundle = b""
            if webhook_server is None:
                settings = options.webhook_server
                if local:
                    cert_dir = tempfile.mkdtemp(prefix=f"{self.name}-webhook-certs-")
                    ca_bundle = serving_certificate(cert_dir, ("127.0.0.1", "localhost"))
                    settings = replace(settings, cert_dir=cert_dir)
                webhook_server = WebhookServer(settings, metrics=manager.metrics)
            server = self.register_webhooks(webhook_server)
            manager.add_server(server)
            manager.probes.add_readyz_check("webhook-server", server.started)
            if local:
                manager.add_server(
                    LocalWebhooks(
                        client, server, self.webhooks, self.conversions, name=self.name, ca_bundle=ca_bundle
                    )
                )
            self.webhook_server = server
        self.manager = manager
        return manager

    async def run(
        self,
        options: ManagerOptions | str | Path | None = None,
        *,
        kubeconfig: str | Path | None = None,
        handle_signals: bool = True,
        **deprecated: Any,
    ) -> None:
        """Connect (``kubeconfig``, $KUBECONFIG, ~/.kube/config or in-cluster) and run with ``options``
        until SIGTERM or SIGINT (``handle_signals``) or until the manager is stopped.

        ``deprecated``: the keywords of the last release (``leader_election=True``,
        ``metrics_bind_address=``, ``webhook_local=``...), mapped onto ``options`` with a warning; so is
        a kubeconfig passed first."""
        if isinstance(options, str | Path):
            warn_deprecated("Operator.run(kubeconfig)", "Operator.run(options, kubeconfig=...)")
            kubeconfig, options = options, None
        options = from_keywords(options or ManagerOptions(), deprecated)
        metrics = Metrics()
        async with await Client.load(kubeconfig, metrics=metrics) as client:
            manager = await self.build(client, options, metrics)
            loop = asyncio.get_running_loop()
            if handle_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, manager.stop)
            try:
                await manager.run()
            finally:
                if handle_signals:
                    for sig in (signal.SIGTERM, signal.SIGINT):
                        loop.remove_signal_handler(sig)

    def _cache_options(self, sharding: ShardingOptions | None = None) -> CacheOptions:
        """The cache as declared (see ``cache_options``), once checked against the reconciles; with
        ``sharding``, of the reconciled and owned kinds only this replica's share."""
        uncached = {spec.ref for spec in self.uncached}
        for registration in self._registrations:
            watched = [registration.primary, *registration.owns, *(k for k, _ in registration.watches)]
            for spec in watched:
                if spec.ref in uncached:
                    raise ValueError(f"{spec.kind} is watched by {registration.name}: it cannot be uncached")
            scope = self._scope(registration.primary)
            if scope is not None and scope.metadata_only:
                raise ValueError(
                    f"{registration.primary.kind} is reconciled: its cache cannot be metadata-only"
                )
        sharded = None
        if sharding is not None:
            kinds = [k for r in self._registrations for k in (r.primary, *r.owns)]
            sharded = (kinds, ShardLabels(self.name).selector(sharding.identity))
        return cache_options(
            self.namespaces,
            self.cache_scopes,
            self.uncached,
            self.transform,
            sharded,
            field_manager=self.name,
        )

    def _scope(self, spec: KindSpec) -> CacheScope | None:
        return next((s for k, s in self.cache_scopes.items() if k.ref == spec.ref), None)


def _watched(watch: Watch[Any] | tuple[KindLike, Mapper]) -> tuple[KindSpec, Mapper]:
    """A ``Watch`` as the registration keeps it; the tuple form of the last release, with a warning."""
    if isinstance(watch, Watch):
        return kind_spec(watch.kind), watch.mapper
    warn_deprecated("watches=[(kind, mapper)]", "watches=[kl.Watch(kind, mapper)]", stacklevel=4)
    kind, mapper = watch
    return kind_spec(kind), mapper


def _webhook_target(kind: KindLike) -> tuple[Target, str, bool | None]:
    spec = kind_spec(kind)
    if spec.plural is None:
        raise TypeError(f"a webhook needs a crd.CustomResource class or a resources Kind, not {kind!r}")
    return Target(spec.group, spec.version, spec.kind, spec.model), spec.plural, spec.namespaced
