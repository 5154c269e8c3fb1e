"""Built-in kinds of coordination.k8s.io/v1."""

from kubeloop.resources._kind import Kind

__all__ = ["Lease"]

Lease = Kind("coordination.k8s.io", "v1", "Lease", "leases")
