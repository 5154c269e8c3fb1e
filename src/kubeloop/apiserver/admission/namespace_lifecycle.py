"""The NamespaceLifecycle plugin: nothing is created in a namespace that is missing or terminating."""

from __future__ import annotations

from kubeloop.apiserver.admission.attributes import Attributes
from kubeloop.apiserver.machinery.errors import forbidden, not_found
from kubeloop.apiserver.storage import View

__all__ = ["NamespaceLifecycle"]


class NamespaceLifecycle:
    """404 for a create in a missing namespace, 403 Forbidden in one being terminated."""

    def validate(self, attrs: Attributes, view: View) -> None:
        if attrs.operation != "CREATE" or not attrs.rt.namespaced:
            return
        namespace = attrs.namespace
        ns = view.get(("/namespaces", "", namespace))
        if ns is None:
            raise not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise forbidden(
                "namespaces",
                "",
                namespace,
                f"unable to create new content in namespace {namespace} because it is being terminated",
            )
