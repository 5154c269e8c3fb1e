"""What a reconcile receives and returns: ``Request`` (an object key) and ``Result``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kubeloop.cache import ObjectKey

__all__ = ["Reconciler", "Request", "Result"]

Request = ObjectKey
"""The key of the primary object to reconcile: ``Request(namespace, name)``."""


@dataclass(frozen=True, slots=True)
class Result:
    """How a successful reconcile wants to be scheduled again.

    ``requeue_after``: reconcile this key again after that many seconds (backoff is reset).
    ``requeue``: reconcile again soon, with the key's backoff (like controller-runtime).
    Neither: wait for the next event.
    """

    requeue: bool = False
    requeue_after: float | None = None


Reconciler = Callable[[Request], Awaitable[Result | None]]
"""A reconcile function: level-based, one key at a time, safe to call again at any moment."""
