"""``ResourceModel``: what the client needs of a model class of a resource (a ``crd.CustomResource``) to
read into it and write from it: its kind, a parse from the wire dict and the dump back to one.

A protocol, so that the client takes models without importing ``kubeloop.crd`` (a layer above it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kubeloop.gvk import GroupVersionKind

if TYPE_CHECKING:
    from typing import Self

__all__ = ["ResourceModel", "model_class", "to_wire"]


@runtime_checkable
class ResourceModel(Protocol):
    """A model class of one resource kind (pydantic's ``model_validate``/``model_dump``)."""

    @classmethod
    def resource_info(cls) -> GroupVersionKind:
        """The kind the class models; the client resolves it through discovery."""
        ...

    @classmethod
    def model_validate(cls, obj: Any) -> Self:
        """The model of ``obj``, an object as the server sends it."""
        ...

    def model_dump(
        self, *, mode: str = ..., by_alias: bool = ..., exclude_none: bool = ...
    ) -> dict[str, Any]:
        """The object as a dict (``mode="json"``, ``by_alias=True``: as the server reads it)."""
        ...


def model_class(ref: object) -> type[ResourceModel] | None:
    """``ref`` when it is a model class, else None (a name, an ``ApiResource`` or a typed kind)."""
    if not isinstance(ref, type) or not hasattr(ref, "resource_info"):  # the common case, quickly
        return None
    return ref if issubclass(ref, ResourceModel) else None


def to_wire(obj: ResourceModel) -> dict[str, Any]:
    """The object a model stands for, as the server reads it (fields that are None left out)."""
    return obj.model_dump(mode="json", by_alias=True, exclude_none=True)
