"""Built-in kinds of networking.k8s.io/v1."""

from kubeloop.resources._kind import Kind

__all__ = ["Ingress", "NetworkPolicy"]

Ingress = Kind("networking.k8s.io", "v1", "Ingress", "ingresses")
NetworkPolicy = Kind("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies")
