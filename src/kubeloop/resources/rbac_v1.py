"""Built-in kinds of rbac.authorization.k8s.io/v1."""

from kubeloop.resources._kind import Kind

__all__ = ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]

Role = Kind("rbac.authorization.k8s.io", "v1", "Role", "roles")
RoleBinding = Kind("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings")
ClusterRole = Kind("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False)
ClusterRoleBinding = Kind(
    "rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False
)
