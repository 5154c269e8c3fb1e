"""The controller layer: from watched events to reconciles of one key at a time.

Role: above the cache and the queue, below the manager. ``Controller`` wires informers
(``watch(informer, mapper, predicates)``) to a ``RateLimitingQueue`` and N workers that call a
``Reconciler``; ``Result`` and ``kubeloop.errors.TerminalError`` steer what happens next.
"""

from kubeloop.controller._controller import Controller, ControllerOptions, ReconcileMetrics, current_request
from kubeloop.controller._mappers import Mapper, map_to_owner, map_to_self
from kubeloop.controller._predicates import (
    Predicate,
    all_of,
    annotations_changed,
    any_of,
    generation_changed,
    labels_changed,
    negate,
    not_status_only,
    resource_version_changed,
)
from kubeloop.controller._types import Reconciler, Request, Result

__all__ = [
    "Controller",
    "ControllerOptions",
    "Mapper",
    "Predicate",
    "ReconcileMetrics",
    "Reconciler",
    "Request",
    "Result",
    "all_of",
    "annotations_changed",
    "any_of",
    "current_request",
    "generation_changed",
    "labels_changed",
    "map_to_owner",
    "map_to_self",
    "negate",
    "not_status_only",
    "resource_version_changed",
]
