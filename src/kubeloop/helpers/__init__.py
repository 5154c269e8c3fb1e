"""Helpers for reconcile code: status conditions, owner references, finalizers, Events.

Role: small tools over plain-dict objects and the client, used by the operator facade and
directly by authors (controller-runtime's ``controllerutil``, apimachinery's ``meta`` conditions,
client-go's event recorder). Imports only ``kubeloop.client`` and ``kubeloop.errors``.
"""

from kubeloop.helpers._conditions import ConditionStatus, find_condition, remove_condition, set_condition
from kubeloop.helpers._events import EventRecorder, EventType
from kubeloop.helpers._ownership import (
    AlreadyOwnedError,
    add_finalizer,
    controller_of,
    has_finalizer,
    owner_reference,
    remove_finalizer,
    set_controller_reference,
)

__all__ = [
    "AlreadyOwnedError",
    "ConditionStatus",
    "EventRecorder",
    "EventType",
    "add_finalizer",
    "controller_of",
    "find_condition",
    "has_finalizer",
    "owner_reference",
    "remove_condition",
    "remove_finalizer",
    "set_condition",
    "set_controller_reference",
]
