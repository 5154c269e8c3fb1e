"""What an admission plugin is told about a request (``Attributes``) and what it is (``Plugin``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View

__all__ = ["Attributes", "Plugin"]


@dataclass(frozen=True)
class Attributes:
    """One write: ``operation`` is CREATE, UPDATE or DELETE; ``obj`` the new object (None on DELETE)."""

    rt: ResourceType
    operation: str
    namespace: str
    name: str
    obj: Obj | None
    old: Obj | None = None
    subresource: str | None = None
    dry_run: bool = False


class Plugin(Protocol):
    """A validating admission plugin: raise ``StatusError`` to refuse the request."""

    def validate(self, attrs: Attributes, view: View) -> None: ...
