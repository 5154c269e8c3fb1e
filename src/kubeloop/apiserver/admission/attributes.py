"""What an admission plugin is told about a request (``Attributes``) and what it is (``Plugin``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View

__all__ = ["ADMIN", "Attributes", "Plugin"]

ADMIN: dict[str, Any] = {"username": "kubeloop-admin", "groups": ["system:masters", "system:authenticated"]}
"""The user of the embedded server's admin kubeconfig (the user of the server's own writes)."""


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
    user: dict[str, Any] = field(default_factory=lambda: dict(ADMIN))
    """The requester as an AdmissionReview's ``userInfo`` names it."""


class Plugin(Protocol):
    """A validating admission plugin: raise ``StatusError`` to refuse the request."""

    def validate(self, attrs: Attributes, view: View) -> None: ...
