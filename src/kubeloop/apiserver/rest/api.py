"""The verbs: get, list, create, update, patch, apply, delete and deletecollection on stored objects.

Role: between the HTTP layer (``handlers``) and ``storage``. Every write runs as one job in the store's
writer (``Store.write``), so checks (existence, resourceVersion preconditions, uniqueness of allocated
ports) and the change are atomic. Per-kind behaviour (defaults, allocation, validation) comes from the
kind's ``strategy.Strategy``; then the ``admission.Chain`` runs.

Guarantees, as the real kube-apiserver:

- a stale ``metadata.resourceVersion`` on update is a 409 Conflict; a no-op update stores nothing;
- ``metadata.generation`` starts at 1 and grows only when something outside metadata and status changed;
- on a resource with a status subresource, the main resource ignores status and ``/status`` ignores
  everything but status;
- delete of an object with finalizers (or with Foreground/Orphan propagation, which add the
  ``foregroundDeletion``/``orphan`` finalizer) only sets ``deletionTimestamp``; the object goes when its
  last finalizer is removed;
- ``dryRun=All`` runs every check and returns the result without storing it.
"""

from __future__ import annotations

import base64
import builtins
import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from kubeloop.apiserver.admission import Attributes, Chain, Policies, Review, Suspended, Webhooks, conversion
from kubeloop.apiserver.machinery import meta
from kubeloop.apiserver.machinery.errors import (
    Cause,
    StatusError,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    gone,
    invalid,
    not_found,
    unsupported_media_type,
)
from kubeloop.apiserver.machinery.selectors import Selector
from kubeloop.apiserver.registry import decode, schemas
from kubeloop.apiserver.registry.convert import to_version
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.rest import fields
from kubeloop.apiserver.rest.patch import json_patch, merge_patch, strategic_merge
from kubeloop.apiserver.storage import Key, Store, View
from kubeloop.apiserver.strategy import Strategy, for_resource, structural

__all__ = ["Api", "DeleteOptions", "WriteOptions"]

Obj = dict[str, Any]
T = TypeVar("T")
_ROUNDS = 16
"""How often one write asks webhooks again because other writes changed its input meanwhile."""
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
_MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"


def _check_resource_version(rt: ResourceType, name: str, given: Obj, old: Obj) -> None:
    """409 Conflict when ``given`` names a resourceVersion other than the stored one (none: no check)."""
    wanted = given["metadata"].get("resourceVersion")
    if wanted and wanted != old["metadata"]["resourceVersion"]:
        raise conflict(rt.plural, rt.group, name, _MODIFIED)


# etcd key prefixes of the real server that are not the resource's name (custom resources: group/plural).
_ETCD_PREFIX = {
    ("", "services"): "services/specs",
    ("", "endpoints"): "services/endpoints",
    ("", "nodes"): "minions",
    ("networking.k8s.io", "ingresses"): "ingress",
    ("apiextensions.k8s.io", "customresourcedefinitions"): "apiextensions.k8s.io/customresourcedefinitions",
    ("apiregistration.k8s.io", "apiservices"): "apiregistration.k8s.io/apiservices",
}


def _check_uid(rt: ResourceType, namespace: str | None, name: str, given: Obj, old: Obj | None) -> None:
    """A PUT whose object names a uid is conditional on it, as the real store's update preconditions
    (checked before anything else, also when the object is missing): 409 with the storage error."""
    uid = given["metadata"].get("uid")
    stored = (old or {}).get("metadata", {}).get("uid", "")
    if not uid or uid == stored:
        return
    prefix = (
        f"{rt.group}/{rt.plural}"
        if rt.crd is not None
        else _ETCD_PREFIX.get((rt.group, rt.plural), rt.plural)
    )
    key = "/".join(["/registry", prefix, *([namespace] if namespace else []), name])
    why = (
        f"StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, AdditionalErrorMsg: "
        f"Precondition failed: UID in precondition: {uid}, UID in object meta: {stored}"
    )
    raise conflict(rt.plural, rt.group, name, why)


@dataclass(frozen=True)
class WriteOptions:
    dry_run: bool = False
    manager: str = "unknown"
    force: bool = False
    field_validation: str = "Warn"
    """``fieldValidation``: unknown fields are dropped with a warning (Warn), dropped (Ignore) or are a
    400 (Strict)."""
    warnings: list[str] | None = field(default=None, compare=False)
    """Where the request's warnings go (the HTTP layer sends them as ``Warning`` headers); None: nowhere."""
    user: dict[str, Any] | None = field(default=None, compare=False)
    """The requester as admission webhooks see it (``userInfo``); None: the admin."""
    authorize_create: Callable[[], None] | None = field(default=None, compare=False)
    """Raises the 403 when the requester may not also create what an apply would create (the real
    server authorizes verb ``create`` then); None: no check (the server's own writes)."""


@dataclass(frozen=True)
class DeleteOptions:
    dry_run: bool = False
    propagation: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    grace_period: int | None = None
    user: dict[str, Any] | None = field(default=None, compare=False)
    """The requester as admission webhooks see it (``userInfo``); None: the admin."""
    warnings: list[str] | None = field(default=None, compare=False)
    """Where the webhooks' warnings go (``Warning`` headers); None: nowhere."""


def _user(opts: WriteOptions | DeleteOptions) -> dict[str, Any]:
    """``Attributes``' user argument: the requester when the request named one."""
    return {} if opts.user is None else {"user": opts.user}


def _unconditional_update(rt: ResourceType, name: str) -> StatusError:
    """Custom resources refuse an update without a resourceVersion (built-in kinds allow it)."""
    cause = Cause(
        "FieldValueInvalid", "Invalid value: 0x0: must be specified for an update", "metadata.resourceVersion"
    )
    return StatusError(
        422,
        "Invalid",
        f'{rt.plural}.{rt.group} "{name}" is invalid: {cause.field}: {cause.message}',
        name=name,
        group=rt.group,
        kind=rt.plural,
        causes=[cause],
    )


def _validate(
    rt: ResourceType,
    strategy: Strategy,
    obj: Obj,
    old: Obj | None,
    view: View,
    subresource: str | None = None,
    warnings: list[str] | None = None,
) -> None:
    """422 Invalid with every cause: the name (on create), labels and annotations, then the kind's own
    (an update's through ``subresource``, its warnings into ``warnings``)."""
    causes = meta.validate_name(rt.kind, obj["metadata"]["name"]) if old is None else []
    causes += meta.validate_metadata(obj)
    if old is None:
        causes += strategy.validate(rt, obj, old, view)
    else:
        causes += strategy.validate_update(rt, obj, old, view, subresource, warnings)
    if causes:
        raise invalid(rt.kind, rt.group, obj["metadata"].get("name", ""), causes)


def _coerced(rt: ResourceType, stored: Obj, obj: Obj) -> Obj:
    """``obj`` (``stored`` in ``rt``'s version) pruned by that version's schema when the version changed,
    as the real server coerces a converted custom resource (not defaulted: the real server defaults an
    object read from storage by the stored version's schema, before converting it)."""
    if (
        rt.crd is None
        or stored.get("apiVersion") == rt.api_version
        or obj.get("apiVersion") != rt.api_version
    ):
        return obj
    obj = copy.deepcopy(obj)
    structural.coerce(rt, obj)
    return obj


def _relabelled(rt: ResourceType, obj: Obj, view: View) -> Obj:
    """``obj`` of a custom resource whose CRD converts with the ``None`` strategy as the real server stores
    it: relabelled to the storage version and pruned and defaulted by that version's schema (so a field
    only the request's version has is gone, read in any version); ``obj`` itself when it is in that
    version already."""
    desired = conversion.storage_api_version(rt, view)
    if obj.get("apiVersion") == desired:
        return obj
    version = desired.rpartition("/")[2]
    entry = next(
        (
            v
            for v in (conversion.crd_of(rt, view) or {}).get("spec", {}).get("versions") or ()
            if v.get("name") == version
        ),
        None,
    )
    out = copy.deepcopy(obj)
    out["apiVersion"] = desired
    if entry is not None:
        structural.prepare(dataclasses.replace(rt, version=version, crd=entry), out)
    return out


def _as_stored(rt: ResourceType, stored: Obj) -> Obj:
    """``stored`` (relabelled by ``_relabelled``) as ``rt``'s version serves it."""
    return _coerced(rt, stored, _versioned(rt, stored))


def _as_version(review: Review, rt: ResourceType, obj: Obj, view: View) -> Obj:
    return _coerced(rt, obj, review.to_version(rt, obj, view))


def _renamed(given: Any, name: str) -> StatusError:
    """A body (or a patch's result) naming another object than the URL: the real 400."""
    return bad_request(f"the name of the object ({given or ''}) does not match the name on the URL ({name})")


def _check_name(given: Obj, name: str) -> None:
    """A body naming another object than the URL (none: the URL's) is refused."""
    if given["metadata"].get("name") not in (None, name):
        raise _renamed(given["metadata"]["name"], name)


def _fresh_name(rt: ResourceType, md: Obj, view: View) -> str:
    """A generated name not taken: the real server (``RetryGenerateName``) draws again, up to 8 draws,
    when a generated name exists (27**5 names: among thousands a clash is likely)."""
    for _ in range(7):
        name = meta.generate_name(md["generateName"])
        if view.get(_key(rt, md.get("namespace"), name)) is None:
            return name
    return meta.generate_name(md["generateName"])


def _key(rt: ResourceType, namespace: str | None, name: str) -> Key:
    return (rt.storage, namespace or "", name)


def _versioned(rt: ResourceType, obj: Obj) -> Obj:
    return to_version(rt, obj)


class Api:
    """The verbs over one ``Store``."""

    def __init__(
        self,
        store: Store,
        admission: Chain,
        webhooks: Webhooks | None = None,
        policies: Policies | None = None,
    ) -> None:
        self.store = store
        self.admission = admission
        self.webhooks = webhooks
        self.policies = policies

    async def _write(self, job: Callable[[View, Review], T], dry_run: bool, warnings: list[str] | None) -> T:
        """Run ``job`` in the store's writer, calling the webhooks it meets between runs (``Review``)."""
        review = Review(self.webhooks, self.policies)
        start = len(warnings) if warnings is not None else 0

        def run(view: View) -> T:
            review.start()
            return job(view, review)

        for _ in range(_ROUNDS):
            try:
                result = await self.store.write(run, dry_run=dry_run)
            except Suspended as pending:
                if warnings is not None:
                    del warnings[start:]
                await pending.resolve()
                continue
            except StatusError:
                # A refused write still sends the warnings of the webhooks called (a denial's own too),
                # as the real server's recorder adds them to the response before the refusal.
                if warnings is not None:
                    warnings.extend(review.warnings)
                raise
            if warnings is not None:
                warnings.extend(review.warnings)
            return result
        raise StatusError(409, "Conflict", _MODIFIED)

    # -- reads -------------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self.store.get(_key(rt, namespace, name))
        if obj is None:
            raise not_found(rt.plural, rt.group, name)
        return self.served(rt, obj)

    def served(self, rt: ResourceType, obj: Obj) -> Obj:
        """``obj`` relabelled as ``rt``'s version, or as stored when a CRD conversion webhook must convert
        it (``converted``)."""
        if rt.crd is not None and obj.get("apiVersion") != rt.api_version and self._converter(rt) is not None:
            return obj
        return _coerced(rt, obj, _versioned(rt, obj))

    def _converter(self, rt: ResourceType) -> Obj | None:
        return None if self.webhooks is None else conversion.client_config(rt, self.store)

    async def converted(self, rt: ResourceType, objs: builtins.list[Obj]) -> builtins.list[Obj]:
        """``objs`` (from ``get``/``list``/a watch) in ``rt``'s version, calling the CRD's conversion
        webhook for those stored in another version."""
        client = self._converter(rt) if rt.crd is not None else None
        if (
            client is None
            or self.webhooks is None
            or all(o.get("apiVersion") == rt.api_version for o in objs)
        ):
            return objs
        converted = await self.webhooks.convert(client, objs, rt.api_version)
        return [_coerced(rt, obj, new) for obj, new in zip(objs, converted, strict=True)]

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        match: Selector,
        limit: int | None = None,
        token: str | None = None,
        selective: bool = False,
        exact: int | None = None,
    ) -> Obj:
        """One page of objects matching ``match``; ``selective``: selectors were given (the real server
        then leaves out ``remainingItemCount``); ``exact``: read the state at that resourceVersion
        (``resourceVersionMatch=Exact``). Continue tokens read the snapshot of their first page."""
        rv = self.store.resource_version
        start = ""
        if token:
            try:
                state = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
                start, rv_token = str(state["start"]), int(state["rv"])
            except Exception as exc:
                raise bad_request(f"continue key is not valid: {exc}") from exc
            if rv_token < self.store.compacted:
                raise gone(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter, or use the continue token "
                    "in this response to retrieve the remainder of the results."
                )
        if token:
            rv = rv_token
        elif exact is not None:
            rv = exact
        objects = self.store.snapshot(rt.storage, namespace, rv)
        items: builtins.list[Obj] = []
        more = False
        remaining = 0
        for obj in objects:
            pos = f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
            if start and pos <= start:
                continue
            if not match(obj):
                continue
            if limit and len(items) >= limit:
                more = True
                remaining += 1
                continue
            items.append(self.served(rt, obj))
        list_meta: Obj = {"resourceVersion": str(rv)}
        if more and items:
            last = items[-1]["metadata"]
            cont = {"rv": rv, "start": f"{last.get('namespace', '')}/{last['name']}"}
            list_meta["continue"] = base64.urlsafe_b64encode(orjson.dumps(cont)).decode().rstrip("=")
            if not selective:
                list_meta["remainingItemCount"] = remaining
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": list_meta, "items": items}

    # -- create ------------------------------------------------------------------------------------

    async def create(self, rt: ResourceType, namespace: str | None, body: Obj, opts: WriteOptions) -> Obj:
        self._check_crd_not_terminating(rt)
        obj = self._checked_body(rt, namespace, body)
        return await self._write(
            lambda view, review: self._create(view, rt, namespace, review.fresh(rt, obj, view), opts, review),
            opts.dry_run,
            opts.warnings,
        )

    def _check_crd_not_terminating(self, rt: ResourceType) -> None:
        """A custom resource is not created while its CRD is being deleted (its ``Terminating``
        condition True): the real handler's 405, before the body is read."""
        if rt.crd is None:
            return
        crd = self.store.get(
            ("apiextensions.k8s.io/customresourcedefinitions", "", f"{rt.plural}.{rt.group}")
        )
        conditions = ((crd or {}).get("status") or {}).get("conditions") or ()
        if any(c.get("type") == "Terminating" and c.get("status") == "True" for c in conditions):
            why = "create not allowed while custom resource definition is terminating"
            raise StatusError(405, "MethodNotAllowed", why, group=rt.group, kind=rt.plural)

    def _checked_body(self, rt: ResourceType, namespace: str | None, body: Obj) -> Obj:
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be an object")
        decode.check_types(rt, body)
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if api_version and api_version != rt.api_version:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rt.api_version})"
            )
        if kind and kind != rt.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        md = obj.setdefault("metadata", {})
        if not isinstance(md, dict):
            raise bad_request("metadata must be an object")
        if rt.namespaced:
            if md.get("namespace") and namespace and md["namespace"] != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            if namespace:
                md["namespace"] = namespace
        else:
            md.pop("namespace", None)
        return obj

    def _create(
        self,
        view: View,
        rt: ResourceType,
        namespace: str | None,
        obj: Obj,
        opts: WriteOptions,
        review: Review,
        subresource: str | None = None,
    ) -> Obj:
        md = obj["metadata"]
        attrs = Attributes(
            rt,
            "CREATE",
            md.get("namespace") or namespace or "",
            md.get("name") or "",
            obj,
            dry_run=opts.dry_run,
            **_user(opts),
        )
        self.admission.validate(attrs, view)
        obj = review.mutate(attrs, view) or obj  # before a generated name, as on the real server
        md = obj["metadata"]
        if not md.get("name"):
            if md.get("generateName"):
                md["name"] = review.remember("name", lambda: _fresh_name(rt, md, view))
            else:
                raise invalid(
                    rt.kind,
                    rt.group,
                    "",
                    [
                        Cause(
                            "FieldValueRequired",
                            "Required value: name or generateName is required",
                            "metadata.name",
                        )
                    ],
                )
        name = md["name"]
        key = _key(rt, md.get("namespace"), name)
        for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            md.pop(k, None)
        md["uid"] = review.remember("uid", meta.new_uid)
        md["creationTimestamp"] = review.remember("created", meta.now)
        if rt.has_generation:
            md["generation"] = 1
        else:
            md.pop("generation", None)
        self._decode(rt, obj, opts, patched=False)  # as Go decodes before the strategy (which prunes)
        strategy = for_resource(rt)
        sent = copy.deepcopy(obj) if strategy.tracks_before_prepare and subresource is None else None
        strategy.prepare_for_create(rt, obj, view)
        _validate(rt, strategy, obj, None, view)
        if opts.warnings is not None:
            opts.warnings.extend(strategy.warnings_on_create(rt, obj))
        if subresource is None:
            tracked = obj if sent is None else strategy.as_tracked(rt, sent, None)
            md["managedFields"] = fields.track_update(
                None, tracked, opts.manager, rt.api_version, schemas.for_resource(rt), None, rt.has_status
            )
        review.validate(attrs, view, obj=obj, name=name)
        taken = view.get(key)
        if taken is not None:
            deleting = bool(taken["metadata"].get("deletionTimestamp"))
            raise already_exists(rt.plural, rt.group, name, being_deleted=deleting)
        if opts.dry_run:
            md.pop("resourceVersion", None)
            return obj
        return self._put(view, review, rt, key, obj)

    def _put(self, view: View, review: Review, rt: ResourceType, key: Key, obj: Obj) -> Obj:
        """Store ``obj`` (in ``rt``'s version) and answer it in ``rt``'s version."""
        stored = review.to_storage(rt, obj, view)
        if rt.crd is not None and stored.get("apiVersion") == obj.get("apiVersion"):
            stored = _relabelled(rt, stored, view)
            if stored is not obj:  # a None-strategy CRD's object written in another version
                return _as_stored(rt, view.put(key, stored))
        if rt.crd is None or stored.get("apiVersion") == obj.get("apiVersion"):
            return _versioned(rt, view.put(key, stored))
        obj["metadata"]["resourceVersion"] = view.put(key, stored)["metadata"]["resourceVersion"]
        return obj

    # -- update, patch, apply ----------------------------------------------------------------------

    async def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Obj,
        subresource: str | None,
        opts: WriteOptions,
        *,
        guaranteed: bool = False,
        managed_fields: Callable[[Obj], builtins.list[Obj]] | None = None,
    ) -> Obj:
        """``replace`` for the server's own writes: a missing object is a 404 for every kind;
        ``managed_fields``: the managedFields the write stores, made of the stored object (the scale
        subresource's own mapping), instead of tracking it as an Update."""
        obj, _ = await self.replace(
            rt,
            namespace,
            name,
            body,
            subresource,
            opts,
            guaranteed=guaranteed,
            create=False,
            managed_fields=managed_fields,
        )
        return obj

    async def replace(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Obj,
        subresource: str | None,
        opts: WriteOptions,
        *,
        guaranteed: bool = False,
        create: bool = True,
        managed_fields: Callable[[Obj], builtins.list[Obj]] | None = None,
    ) -> tuple[Obj, bool]:
        """Replace the object, and whether that created it (``create`` and a kind that allows create
        on update, as a client's PUT of a Service); ``guaranteed``: the server's own read-modify-write
        (the scale subresource), which custom resources allow without a resourceVersion, unlike a
        client's update."""
        obj = self._checked_body(rt, namespace, body)
        _check_name(obj, name)
        obj["metadata"]["name"] = name

        def job(view: View, review: Review) -> tuple[Obj, bool]:
            old = view.get(_key(rt, namespace, name))
            _check_uid(rt, namespace, name, obj, old)
            if old is None:
                if not (create and for_resource(rt).allow_create_on_update):
                    raise not_found(rt.plural, rt.group, name)
                return self._create(view, rt, namespace, review.fresh(rt, obj, view), opts, review), True
            if rt.crd is not None and not guaranteed and not obj["metadata"].get("resourceVersion"):
                raise _unconditional_update(rt, name)
            _check_resource_version(rt, name, obj, old)
            managed = None if managed_fields is None else managed_fields(old)
            return self._store_update(
                view,
                rt,
                old,
                review.fresh(rt, obj, view),
                subresource,
                opts,
                review,
                managed=managed,
            ), False

        return await self._write(job, opts.dry_run, opts.warnings)

    async def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        subresource: str | None,
        opts: WriteOptions,
    ) -> tuple[Obj, bool]:
        """The patched object, and whether the patch created it (server-side apply of a new object)."""
        if content_type not in PATCH_TYPES or (rt.crd is not None and content_type == PATCH_TYPES[2]):
            raise unsupported_media_type(rt.crd is not None and content_type in PATCH_TYPES)

        def job(view: View, review: Review) -> tuple[Obj, bool]:
            key = _key(rt, namespace, name)
            old = view.get(key)
            if content_type == "application/apply-patch+yaml":
                return self._apply(
                    view, rt, namespace, name, old, patch, subresource, opts, review
                ), old is None
            if old is None:
                raise not_found(rt.plural, rt.group, name)
            current = _as_version(review, rt, old, view)
            if content_type == "application/json-patch+json":
                new = json_patch(current, patch)
            elif content_type == "application/merge-patch+json":
                if not isinstance(patch, dict):
                    raise bad_request("merge patch must be a JSON object")
                new = merge_patch(current, patch)
            elif content_type == "application/strategic-merge-patch+json" and rt.crd is None:
                new = strategic_merge(current, patch, schemas.for_resource(rt))
            else:
                raise unsupported_media_type(rt.crd is not None)
            if not isinstance(new.get("metadata"), dict):
                raise bad_request("metadata must be an object")
            if new["metadata"].get("name") != name:
                raise _renamed(new["metadata"].get("name"), name)
            _check_resource_version(rt, name, new, old)
            new["metadata"]["name"], new["apiVersion"], new["kind"] = name, rt.api_version, rt.kind
            if rt.namespaced:
                new["metadata"]["namespace"] = namespace
            return self._store_update(
                view, rt, old, new, subresource, opts, review, managed=None, patched=True
            ), False

        return await self._write(job, opts.dry_run, opts.warnings)

    def _apply(
        self,
        view: View,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        old: Obj | None,
        applied: Any,
        subresource: str | None,
        opts: WriteOptions,
        review: Review,
    ) -> Obj:
        if not isinstance(applied, dict):
            raise bad_request("apply patch must be an object")
        if not opts.manager:
            raise invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                [Cause("FieldValueRequired", "Required value: is required for apply patch", "fieldManager")],
            )
        if not applied.get("apiVersion") or not applied.get("kind"):
            version = str(applied.get("apiVersion") or "/")
            group_version = version if "/" in version else "/" + version
            raise bad_request(f"invalid object type: {group_version}, Kind={applied.get('kind') or ''}")
        applied = self._checked_body(rt, namespace, applied)
        schema = schemas.for_resource(rt)
        if old is None:
            if subresource:
                raise not_found(rt.plural, rt.group, name)
            _check_name(applied, name)
            if opts.authorize_create is not None:
                opts.authorize_create()
            applied["metadata"]["name"] = name
            merged = fields.apply(
                None,
                applied,
                opts.manager,
                rt.api_version,
                schema,
                force=opts.force,
                subresource=None,
                has_status=rt.has_status,
            )
            merged.update(apiVersion=rt.api_version, kind=rt.kind)
            merged["metadata"]["name"] = name
            if rt.namespaced and namespace:
                merged["metadata"]["namespace"] = namespace
            return self._create(view, rt, namespace, merged, opts, review, subresource="apply")
        # The real server merges first (its conflicts come before these), then checks the result's name
        # and resourceVersion.
        merged = fields.apply(
            _as_version(review, rt, old, view),
            applied,
            opts.manager,
            rt.api_version,
            schema,
            force=opts.force,
            subresource=subresource,
            has_status=rt.has_status,
        )
        _check_name(applied, name)
        _check_resource_version(rt, name, applied, old)
        return self._store_update(
            view,
            rt,
            old,
            merged,
            subresource,
            opts,
            review,
            managed=merged["metadata"]["managedFields"],
            patched=None,
        )

    def _store_update(
        self,
        view: View,
        rt: ResourceType,
        old: Obj,
        new: Obj,
        subresource: str | None,
        opts: WriteOptions,
        review: Review,
        managed: builtins.list[Obj] | None,
        patched: bool | None = False,
    ) -> Obj:
        if patched is not False:
            new = copy.deepcopy(new)  # a patch's result shares unpatched parts with the stored object
        old_md = old["metadata"]
        old_here = _as_version(review, rt, old, view)  # old as this version serves it
        attrs = Attributes(
            rt,
            "UPDATE",
            old_md.get("namespace", ""),
            old_md["name"],
            new,
            old_here,
            subresource,
            opts.dry_run,
            **_user(opts),
        )
        new = review.mutate(attrs, view) or new
        strategy = for_resource(rt)
        if rt.has_status:
            if subresource == "status":
                status = new.get("status")
                annotations = (new.get("metadata") or {}).get("annotations")
                new = (
                    dict(copy.deepcopy(old), status=status)
                    if status is not None
                    else {k: copy.deepcopy(v) for k, v in old.items() if k != "status"}
                )
                new["metadata"] = dict(
                    old_md, managedFields=managed if managed is not None else old_md.get("managedFields")
                )
                if strategy.status_keeps_annotations:
                    new["metadata"]["annotations"] = annotations
                    if annotations is None:
                        del new["metadata"]["annotations"]
            elif "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        md = new["metadata"]
        for k in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
            "name",
        ):
            if k in old_md:
                md[k] = old_md[k]
            else:
                md.pop(k, None)
        if old_md.get("deletionTimestamp"):
            added = set(md.get("finalizers") or []) - set(old_md.get("finalizers") or [])
            if added:
                raise forbidden(
                    rt.plural,
                    rt.group,
                    old_md["name"],
                    "no new finalizers can be added if the object is being deleted",
                )
        self._decode(rt, new, opts, patched=patched)
        sent = copy.deepcopy(new) if strategy.tracks_before_prepare and managed is None else None
        strategy.prepare_for_update(rt, new, old_here, view)
        # After the strategy's defaults, as the real server compares: a field left out and defaulted
        # back to its value is no change.
        if rt.has_generation:
            changed = meta.spec_changed(old, new) or (
                strategy.annotations_move_generation
                and subresource is None
                and old_md.get("annotations") != md.get("annotations")
            )
            md["generation"] = old_md.get("generation", 1) + (1 if changed else 0)
        else:
            md.pop("generation", None)
        _validate(rt, strategy, new, old_here, view, subresource, opts.warnings)
        if managed is None:
            md["managedFields"] = fields.track_update(
                old_here,
                new if sent is None else strategy.as_tracked(rt, sent, old_here),
                opts.manager,
                rt.api_version,
                schemas.for_resource(rt),
                subresource,
                rt.has_status,
            )
        elif managed:
            md["managedFields"] = managed
        else:
            md.pop("managedFields", None)
        md["resourceVersion"] = old_md["resourceVersion"]
        review.validate(attrs, view, obj=new)
        if meta.strip_volatile(new) == meta.strip_volatile(
            dict(old_here, apiVersion=new["apiVersion"], kind=new["kind"])
        ):
            return old_here
        key = _key(rt, old_md.get("namespace"), old_md["name"])
        if (
            md.get("deletionTimestamp")
            and not md.get("finalizers")
            and not strategy.waits_on_spec_finalizers(new)
        ):
            if not opts.dry_run:
                view.delete(key)
            return new
        if opts.dry_run:
            return new
        return self._put(view, review, rt, key, new)

    def _decode(self, rt: ResourceType, obj: Obj, opts: WriteOptions, patched: bool | None) -> None:
        """What the real server's decoder does to a body: unknown fields (warned, dropped or 400); the
        result of a patch (``patched``) is also checked for type errors, which are a 422 naming it."""
        schema = schemas.for_resource(rt)
        unknown = schemas.unknown_fields(obj, schema)
        error: StatusError | None = None
        if rt.crd is None and patched:
            try:
                # Go decodes the patched JSON, whose maps the patch went through are in sorted key order
                # (what it left alone was stored, so decodes): its first type error is the first there.
                decode.check_types(rt, orjson.loads(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)))
            except StatusError as exc:
                error = exc
        if error is None and unknown and opts.field_validation == "Strict":
            error = decode.strict_error(rt, unknown)
        if error is not None:
            if patched:
                raise decode.patch_error(obj, error)
            raise error
        if unknown and opts.field_validation != "Ignore" and opts.warnings is not None:
            opts.warnings.extend(f'unknown field "{path}"' for path in unknown)
        if unknown and rt.crd is None:
            decode.drop_unknown(obj, schema)

    # -- delete ------------------------------------------------------------------------------------

    async def delete(self, rt: ResourceType, namespace: str | None, name: str, opts: DeleteOptions) -> Obj:
        return await self._write(
            lambda view, review: self._delete(view, rt, namespace, name, opts, review),
            opts.dry_run,
            opts.warnings,
        )

    def _delete(
        self,
        view: View,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        opts: DeleteOptions,
        review: Review,
    ) -> Obj:
        key = _key(rt, namespace, name)
        old = view.get(key)
        if old is None:
            raise not_found(rt.plural, rt.group, name)
        md = old["metadata"]
        if opts.uid and opts.uid != md.get("uid"):
            raise conflict(
                rt.kind,
                rt.group,
                name,
                f"the UID in the precondition ({opts.uid}) does not match the UID in record "
                f"({md.get('uid')}). The object might have been deleted and then recreated",
            )
        if opts.resource_version and opts.resource_version != md.get("resourceVersion"):
            raise conflict(
                rt.kind,
                rt.group,
                name,
                f"the ResourceVersion in the precondition ({opts.resource_version}) does not match the "
                f"ResourceVersion in record ({md.get('resourceVersion')}). "
                "The object might have been modified",
            )
        attrs = Attributes(
            rt, "DELETE", md.get("namespace", ""), name, None, None, dry_run=opts.dry_run, **_user(opts)
        )
        review.mutate(attrs, view)
        old_here = _as_version(review, rt, old, view)
        review.validate(attrs, view, old=old_here)
        strategy = for_resource(rt)
        new = copy.deepcopy(old)
        nmd = new["metadata"]
        graceful = self._graceful(strategy, new, opts.grace_period)
        if graceful is None:  # a graceful deletion is pending and this one does not shorten it
            return old_here
        finalizers = list(md.get("finalizers") or [])
        if not md.get("deletionTimestamp"):
            finalizers += [f for f in strategy.deletion_finalizers(old) if f not in finalizers]
        if opts.propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        elif opts.propagation == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        waiting = bool(finalizers) or strategy.waits_on_spec_finalizers(old)
        if waiting or (graceful and nmd.get("deletionGracePeriodSeconds")):
            if finalizers:
                nmd["finalizers"] = finalizers
            if not nmd.get("deletionTimestamp"):
                nmd["deletionTimestamp"] = review.remember("deleted", meta.now)
                nmd["deletionGracePeriodSeconds"] = 0
                if rt.has_generation:
                    nmd["generation"] = md.get("generation", 1) + 1
            strategy.prepare_for_delete(rt, new)
            if new == old:
                return old_here
            answer = _as_version(review, rt, new, view)
            if opts.dry_run:
                return answer
            stored = view.put(key, new)
            return dict(
                answer,
                metadata=dict(answer["metadata"], resourceVersion=stored["metadata"]["resourceVersion"]),
            )
        if not opts.dry_run:
            view.delete(key)
        if strategy.return_deleted_object:
            return _as_version(review, rt, new, view)
        details = {"name": name, "group": rt.group, "kind": rt.plural, "uid": md.get("uid")}
        if not rt.group:
            del details["group"]
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    @staticmethod
    def _graceful(strategy: Strategy, obj: Obj, requested: int | None) -> bool | None:
        """Graceful deletion as the real server's BeforeDelete: True when ``obj``'s deletionTimestamp
        and deletionGracePeriodSeconds were set (or shortened), False for an immediate deletion, None
        when a pending graceful deletion stays as it is."""
        md = obj["metadata"]
        if md.get("deletionTimestamp"):
            current = md.get("deletionGracePeriodSeconds")
            if not current or strategy.grace_period(obj, requested) is None:
                return False
            if requested is None or requested >= current:
                return None
            at = meta.parse_time(md["deletionTimestamp"]) - current + requested
            md["deletionTimestamp"], md["deletionGracePeriodSeconds"] = meta.format_time(at), requested
            return True
        period = strategy.grace_period(obj, requested)
        if period is None:
            return False
        md["deletionTimestamp"] = meta.format_time(meta.parse_time(meta.now()) + period)
        md["deletionGracePeriodSeconds"] = period
        if md.get("generation"):
            md["generation"] += 1
        return True

    async def delete_collection(
        self, rt: ResourceType, namespace: str | None, match: Selector, opts: DeleteOptions
    ) -> Obj:
        def job(view: View, review: Review) -> Obj:
            items: builtins.list[Obj] = []
            for obj in view.list(rt.storage, namespace):
                if match(obj):
                    md = obj["metadata"]
                    result = self._delete(view, rt, md.get("namespace"), md["name"], opts, review)
                    items.append(
                        result if result.get("kind") != "Status" else _as_version(review, rt, obj, view)
                    )
            return {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(self.store.resource_version)},
                "items": items,
            }

        return await self._write(job, opts.dry_run, opts.warnings)
