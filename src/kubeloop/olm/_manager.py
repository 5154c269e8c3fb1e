"""The lifecycle manager as an operator: ClusterCatalogs and ClusterExtensions reconciled, as OLM v1's
catalogd and operator-controller do, by one kubeloop ``Operator``.

``lifecycle_operator`` wires the two reconciles (``_serving``, ``_extension``) and their watches:
a ConfigMap's events reconcile the ClusterCatalogs selecting it, and a ClusterCatalog's events
(its status included, so a newly Serving content) reconcile the ClusterExtensions that may use it.
``apply_crds`` installs the two CRDs; ``kubeloop olm run`` does both out of cluster.
"""

from __future__ import annotations

from kubeloop import crd
from kubeloop.client import Client
from kubeloop.olm._api import ClusterCatalog, ClusterExtension
from kubeloop.olm._extension import ExtensionReconciler
from kubeloop.olm._install import Installer
from kubeloop.olm._serving import CatalogServer
from kubeloop.operator import Operator
from kubeloop.resources import core_v1

__all__ = ["apply_crds", "lifecycle_operator"]

# The lifecycle manager applies whatever the bundles it installs hold (CRDs, RBAC, workloads): it
# needs every right it may grant, as OLM does.
_EVERYTHING = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}


def lifecycle_operator(name: str = "kubeloop-olm") -> Operator:
    """A new operator reconciling every ClusterCatalog and ClusterExtension of the cluster.

    Run one per cluster (with leader election when replicated): two would install the same packages.
    """
    operator = Operator(name, rbac=[_EVERYTHING])
    catalogs = CatalogServer()
    extensions = ExtensionReconciler(catalogs)
    operator.reconcile(ClusterCatalog, watches=[(core_v1.ConfigMap, catalogs.catalogs_selecting)])(
        catalogs.reconcile
    )
    operator.reconcile(ClusterExtension, watches=[(ClusterCatalog, extensions.extensions_using)])(
        extensions.reconcile
    )
    operator.finalize(ClusterExtension)(extensions.finalize)
    return operator


async def apply_crds(client: Client) -> None:
    """Server-side apply the ClusterCatalog and ClusterExtension CRDs; return once both are Established."""
    await Installer(client).establish(
        crd.to_crds([ClusterCatalog, ClusterExtension]), "the lifecycle manager"
    )
