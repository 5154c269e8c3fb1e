"""Built-in kinds of apps/v1."""

from kubeloop.resources._kind import Kind

__all__ = ["DaemonSet", "Deployment", "ReplicaSet", "StatefulSet"]

Deployment = Kind("apps", "v1", "Deployment", "deployments")
StatefulSet = Kind("apps", "v1", "StatefulSet", "statefulsets")
DaemonSet = Kind("apps", "v1", "DaemonSet", "daemonsets")
ReplicaSet = Kind("apps", "v1", "ReplicaSet", "replicasets")
