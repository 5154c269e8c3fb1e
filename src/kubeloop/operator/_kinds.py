"""What the operator facade accepts as a kind: a ``crd.CustomResource`` class, a typed built-in kind
(``apps_v1.Deployment``) or any ``Kind``, or a client reference string (``"apps/v1/Deployment"``);
normalised to one ``KindSpec``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeloop.client import ApiResource, Client, TypedRef, UnknownResourceError
from kubeloop.crd import CustomResource
from kubeloop.gvk import GroupVersionKind, GroupVersionResource
from kubeloop.resources import Kind, kind_of

__all__ = ["KindLike", "KindSpec", "kind_spec", "resolve"]

KindLike = type[CustomResource] | TypedRef[Any] | Kind | str


@dataclass(frozen=True, slots=True)
class KindSpec(GroupVersionKind):
    """A kind as the runtime needs it: its ``GroupVersionKind``, its scope (``None`` until the server
    says, for a reference string), its plural (``None`` when unknown) and its model."""

    namespaced: bool | None = None
    model: type[CustomResource] | None = None
    plural: str | None = None

    def resource(self, plural: str | None = None) -> GroupVersionResource:
        return GroupVersionKind.resource(self, plural or self.plural)

    def parse(self, obj: dict[str, Any]) -> Any:
        """The typed model of ``obj`` when the kind has one, else ``obj`` itself."""
        return self.model.model_validate(obj) if self.model is not None else obj


def kind_spec(kind: KindLike) -> KindSpec:
    """Normalise ``kind``; raise TypeError for anything else."""
    found = kind_of(kind)
    if found is not None:
        if not found.plural:
            raise TypeError(f"{found.kind} is not a resource of the API (nothing to watch or read)")
        return KindSpec(found.group, found.version, found.kind, found.namespaced, plural=found.plural)
    if isinstance(kind, str):
        try:
            gvk = GroupVersionKind.from_ref(kind)
        except ValueError as exc:
            raise TypeError(str(exc)) from exc
        return KindSpec(gvk.group, gvk.version, gvk.kind)
    if isinstance(kind, type) and issubclass(kind, CustomResource):
        info = kind.resource_info()
        return KindSpec(info.group, info.version, info.kind, info.namespaced, kind, info.plural)
    raise TypeError(
        f"not a kind: {kind!r} (use a crd.CustomResource class, a kind such as apps_v1.Deployment, "
        "or 'apps/v1/Deployment')"
    )


async def resolve(client: Client, spec: KindSpec) -> ApiResource:
    """The resource serving ``spec``, from discovery; for a kind whose plural and scope are known (a
    ``crd.CustomResource``, a typed kind) that the server does not serve yet (its CRD is not installed),
    the resource it will be, so that it can be watched until it appears. ``UnknownResourceError`` else."""
    try:
        return await client.resource(spec.ref)
    except UnknownResourceError:
        if spec.plural is None or spec.namespaced is None:
            raise
        return ApiResource(
            spec.group, spec.version, spec.kind, plural=spec.plural, singular=spec.kind.lower(),
            namespaced=spec.namespaced, verbs=frozenset({"get", "list", "watch"}),
        )  # fmt: skip
