"""Built-in kinds of the core group/v1."""

from kubeloop.resources._kind import Kind

__all__ = [
    "ConfigMap",
    "Endpoints",
    "Event",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Pod",
    "Secret",
    "Service",
    "ServiceAccount",
]

ConfigMap = Kind("", "v1", "ConfigMap", "configmaps")
Secret = Kind("", "v1", "Secret", "secrets")
Service = Kind("", "v1", "Service", "services")
Pod = Kind("", "v1", "Pod", "pods")
ServiceAccount = Kind("", "v1", "ServiceAccount", "serviceaccounts")
PersistentVolumeClaim = Kind("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims")
Endpoints = Kind("", "v1", "Endpoints", "endpoints")
Event = Kind("", "v1", "Event", "events")
Namespace = Kind("", "v1", "Namespace", "namespaces", namespaced=False)
Node = Kind("", "v1", "Node", "nodes", namespaced=False)
PersistentVolume = Kind("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False)
