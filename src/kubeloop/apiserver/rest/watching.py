"""What one watcher sees of a committed change, given its selection: shared by the HTTP watch and
the built-in controllers' in-process watch."""

from __future__ import annotations

from collections.abc import Callable

from kubeloop.apiserver.storage import Event, Obj

__all__ = ["seen_as"]


def seen_as(event: Event, match: Callable[[Obj], bool]) -> tuple[str, Obj] | None:
    """The event type and object a selective watcher sees for ``event`` (None: nothing). Objects
    entering the selection are ADDED, leaving it DELETED (the last matching state, at the event's
    resourceVersion), as the real server."""
    old_passes = event.prev is not None and match(event.prev)
    if event.type == "DELETED":
        return ("DELETED", event.obj) if old_passes or match(event.obj) else None
    if match(event.obj):
        return ("MODIFIED" if old_passes else "ADDED", event.obj)
    if old_passes and event.prev is not None:
        return (
            "DELETED",
            dict(event.prev, metadata=dict(event.prev["metadata"], resourceVersion=str(event.rv))),
        )
    return None
