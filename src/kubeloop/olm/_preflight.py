"""The permissions an install needs, checked before anything is applied, as OLM v1's preflight does.

The ``Installer`` acts through a client that may impersonate a ClusterExtension's service account;
``missing_permissions`` asks the API server, as that client (``SelfSubjectAccessReview``, which every
authenticated user may create), for each right it will use: on every object it applies, reads,
watches for drift and may delete, and on the release record. RBAC objects need more: to create a
Role or ClusterRole one must hold every permission it grants (or ``escalate`` on roles), and to bind
one the same (or ``bind``); so each rule of a bundle's roles is checked as well, in the role's
namespace for a Role, cluster-wide for a ClusterRole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from kubeloop.client import Client, UnknownResourceError
from kubeloop.olm._model import Obj, OLMError
from kubeloop.olm._release import ObjectRef

__all__ = ["MissingPermissions", "Permission", "missing_permissions"]

RBAC_GROUP = "rbac.authorization.k8s.io"
# What the lifecycle manager does with each object: apply (create or patch), read it back, delete it
# on upgrade or uninstall, and list/watch its kind (by label) to restore it when it drifts.
OBJECT_VERBS = ("get", "create", "patch", "delete")
COLLECTION_VERBS = ("list", "watch")
CONCURRENT_REVIEWS = 16


class Permission(NamedTuple):
    """One right: ``verb`` on ``resource`` of ``group`` (``name`` only; in ``namespace``, or
    cluster-wide when None). A non-resource URL is ``resource`` with group ``"<url>"``."""

    verb: str
    group: str
    resource: str
    namespace: str | None = None
    name: str | None = None
    granted_by: str = ""
    """The bundle's role that grants it (creating or binding it needs it held), or "" when the
    lifecycle manager uses it itself."""

    def __str__(self) -> str:
        why = f" (granted by {self.granted_by})" if self.granted_by else ""
        if self.group == "<url>":
            return f"{self.verb} {self.resource}{why}"
        what = f"{self.group}/{self.resource}" if self.group else self.resource
        if self.name:
            what += f" {self.name}"
        return f"{self.verb} {what} " + (f"in {self.namespace}" if self.namespace else "cluster-wide") + why


class MissingPermissions(OLMError):
    """The acting user lacks ``missing``; nothing was applied."""

    def __init__(self, message: str, missing: list[Permission]) -> None:
        super().__init__(message)
        self.missing = missing


async def missing_permissions(
    client: Client, objects: Iterable[Obj], deleted: Iterable[ObjectRef] = ()
) -> list[Permission]:
    """The permissions ``client``'s user lacks to apply ``objects``, watch them, and delete them
    and ``deleted``, including the rules of the RBAC objects among them (see the module docstring);
    sorted, without duplicates. Objects of kinds the server does not know yet (a bundle's own custom
    resources) are skipped: their CRD comes first and applying them is checked by the server."""
    objects = list(objects)
    needed: dict[Permission, None] = {}
    for obj in objects:
        for permission in await _object_permissions(client, ObjectRef.of(obj), OBJECT_VERBS):
            needed[permission] = None
    for ref in deleted:
        for permission in await _object_permissions(client, ref, ("delete",)):
            needed[permission] = None
    if roles := [o for o in objects if o.get("kind") in ("Role", "ClusterRole")]:
        escalating = await _allowed_all(client, _escalation(roles))
        for role in roles:
            if not escalating.get(role["kind"], False):
                needed.update(dict.fromkeys(_granted(role)))
    allowed = await _allowed(client, list(needed))
    return sorted((p for p, ok in zip(needed, allowed, strict=True) if not ok), key=_order)


async def _object_permissions(client: Client, ref: ObjectRef, verbs: Iterable[str]) -> list[Permission]:
    try:
        res = await client.resource(f"{ref.api_version}/{ref.kind}")
    except UnknownResourceError:
        return []
    namespace = ref.namespace if res.namespaced else None
    named = [Permission(verb, res.group, res.plural, namespace, ref.name) for verb in verbs]
    if set(verbs) & {"create", "patch"}:
        named += [Permission(verb, res.group, res.plural, namespace) for verb in COLLECTION_VERBS]
    # A create has no name yet: the right must not be restricted to names.
    return [p._replace(name=None) if p.verb == "create" else p for p in named]


def _escalation(roles: list[Obj]) -> dict[str, list[Permission]]:
    """Per role kind, the rights that waive holding a role's rules: ``escalate`` and ``bind``."""
    kinds = {r["kind"]: r["metadata"].get("namespace") for r in roles}
    return {
        kind: [Permission(v, RBAC_GROUP, f"{kind.lower()}s", ns) for v in ("escalate", "bind")]
        for kind, ns in kinds.items()
    }


def _granted(role: Obj) -> Iterator[Permission]:
    """Every permission ``role`` grants, one verb on one resource (and name) at a time."""
    namespace = role["metadata"].get("namespace") if role["kind"] == "Role" else None
    by = f"{role['kind']} {role['metadata']['name']}"
    for rule in role.get("rules") or ():
        verbs = rule.get("verbs") or ()
        for url in rule.get("nonResourceURLs") or ():
            yield from (Permission(verb, "<url>", url, granted_by=by) for verb in verbs)
        names = rule.get("resourceNames") or [None]
        for group in rule.get("apiGroups") or ():
            for resource in rule.get("resources") or ():
                for verb in verbs:
                    yield from (Permission(verb, group, resource, namespace, n, by) for n in names)


async def _allowed_all(client: Client, groups: dict[str, list[Permission]]) -> dict[str, bool]:
    return {key: all(await _allowed(client, permissions)) for key, permissions in groups.items()}


async def _allowed(client: Client, permissions: list[Permission]) -> list[bool]:
    """Whether ``client``'s user holds each of ``permissions`` (one review each, some at a time)."""
    limit = asyncio.Semaphore(CONCURRENT_REVIEWS)

    async def review(permission: Permission) -> bool:
        if permission.group == "<url>":
            spec: Obj = {"nonResourceAttributes": {"verb": permission.verb, "path": permission.resource}}
        else:
            resource, _, subresource = permission.resource.partition("/")
            attributes = {
                "verb": permission.verb,
                "group": permission.group,
                "resource": resource,
                "subresource": subresource,
                "namespace": permission.namespace or "",
                "name": permission.name or "",
            }
            spec = {"resourceAttributes": attributes}
        body: Obj = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": spec}
        async with limit:
            answer = await client.create(body)
        return bool((answer.get("status") or {}).get("allowed"))

    return list(await asyncio.gather(*(review(p) for p in permissions)))


def _order(permission: Permission) -> tuple[str, ...]:
    return (
        permission.granted_by,
        permission.namespace or "",
        permission.group,
        permission.resource,
        permission.name or "",
        permission.verb,
    )
