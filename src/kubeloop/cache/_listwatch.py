"""``ListerWatcher``: what an informer needs from below, client-go's ``cache.ListerWatcher``.

``kubeloop.client.Client`` is one (over HTTP); the embedded API server's built-in controllers pass
another that reads its storage in the same process. Errors are ``kubeloop.client.errors``' types
(``GoneError`` makes the informer relist).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from kubeloop.client import ApiResource, ResourceRef, WatchEvent

__all__ = ["ListerWatcher"]


class ListerWatcher(Protocol):
    """Resolves resources, lists a page of them and watches their changes."""

    async def resource(self, ref: ResourceRef) -> ApiResource:
        """The resource ``ref`` names."""
        ...

    async def list(
        self,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        metadata_only: bool = False,
    ) -> dict[str, Any]:
        """One page of a list (a ``…List`` object; ``metadata.continue`` when more remain);
        ``metadata_only``: items as ``PartialObjectMetadata``."""
        ...

    def watch(
        self,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = True,
        timeout_seconds: int | None = None,
        metadata_only: bool = False,
    ) -> AsyncIterator[WatchEvent]:
        """Changes after ``resource_version`` until the watch ends."""
        ...
