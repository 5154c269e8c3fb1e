"""What the operator facade accepts as a kind: a ``crd.CustomResource`` class, a built-in ``Kind``, or
a client reference string (``"apps/v1/Deployment"``); normalised to one ``KindSpec``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeloop.crd import CustomResource
from kubeloop.resources import Kind

__all__ = ["KindLike", "KindSpec", "kind_spec"]

KindLike = type[CustomResource] | Kind | str


@dataclass(frozen=True)
class KindSpec:
    """A kind as the runtime needs it: the client reference, its group and kind, and its model."""

    ref: str
    group: str
    kind: str
    namespaced: bool | None
    model: type[CustomResource] | None = None
    plural: str | None = None

    def parse(self, obj: dict[str, Any]) -> Any:
        """The typed model of ``obj`` when the kind has one, else ``obj`` itself."""
        return self.model.model_validate(obj) if self.model is not None else obj


def kind_spec(kind: KindLike) -> KindSpec:
    """Normalise ``kind``; raise TypeError for anything else."""
    if isinstance(kind, Kind):
        return KindSpec(kind.ref, kind.group, kind.kind, kind.namespaced, plural=kind.plural)
    if isinstance(kind, str):
        api_version, _, name = kind.rpartition("/")
        if not api_version:
            raise TypeError(f"kind reference {kind!r} must be apiVersion/Kind, e.g. 'apps/v1/Deployment'")
        return KindSpec(kind, api_version.rpartition("/")[0], name, None)
    if isinstance(kind, type) and issubclass(kind, CustomResource):
        info = kind.resource_info()
        return KindSpec(
            f"{info.api_version}/{info.kind}", info.group, info.kind, info.scope == "Namespaced", kind
        )
    raise TypeError(
        f"not a kind: {kind!r} (use a crd.CustomResource class, a resources Kind or 'apps/v1/Deployment')"
    )
