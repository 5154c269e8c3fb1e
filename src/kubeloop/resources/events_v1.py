"""Built-in kinds of events.k8s.io/v1."""

from kubeloop.resources._kind import Kind

__all__ = ["Event"]

Event = Kind("events.k8s.io", "v1", "Event", "events")
