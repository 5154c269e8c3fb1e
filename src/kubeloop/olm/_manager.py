"""The lifecycle manager as an operator: ClusterCatalogs and ClusterExtensions reconciled, as OLM v1's
catalogd and operator-controller do, by one kubeloop ``Operator``.

``lifecycle_operator`` wires the two reconciles (``_serving``, ``_extension``) and their watches:
a ConfigMap's events reconcile the ClusterCatalogs selecting it, and a ClusterCatalog's events
(its status included, so a newly Serving content) reconcile the ClusterExtensions that may use it.
``apply_crds`` installs the two CRDs; ``kubeloop olm run`` does both out of cluster.
"""

from __future__ import annotations

import datetime as dt

from kubeloop import crd
from kubeloop.client import Client
from kubeloop.controller import Request
from kubeloop.olm._api import ClusterCatalog, ClusterExtension
from kubeloop.olm._extension import ExtensionReconciler
from kubeloop.olm._install import Installer
from kubeloop.olm._serving import CatalogServer
from kubeloop.olm._webhooks import CERT_LIFETIME
from kubeloop.operator import Operator, Watch
from kubeloop.resources import core_v1

__all__ = ["apply_crds", "lifecycle_operator"]

# Beyond its own kinds and the catalogs' ConfigMaps (its reconciles' declared watches): acting as the
# extensions' service accounts, which do everything else (see ``_preflight`` for what they need).
_IMPERSONATE = {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}


def lifecycle_operator(
    name: str = "kubeloop-olm", *, certificate_lifetime: dt.timedelta = CERT_LIFETIME
) -> Operator:
    """A new operator reconciling every ClusterCatalog and ClusterExtension of the cluster.

    Run one per cluster (with leader election when replicated): two would install the same packages.
    Its rights (``kubeloop.scaffold.operator_rules``) are its kinds, ConfigMaps, Events and
    impersonating service accounts: it installs nothing as itself. ``certificate_lifetime``: of the
    webhooks' serving certificates it issues (renewed at two thirds of it).
    """
    operator = Operator(name, rbac=[_IMPERSONATE])
    catalogs = CatalogServer()
    extensions = ExtensionReconciler(catalogs, certificate_lifetime=certificate_lifetime)
    extensions.enqueue = lambda request: _enqueue(operator, request)
    operator.servers.append(extensions)
    operator.reconcile(ClusterCatalog, watches=[Watch(core_v1.ConfigMap, catalogs.catalogs_selecting)])(
        catalogs.reconcile
    )
    operator.reconcile(ClusterExtension, watches=[Watch(ClusterCatalog, extensions.extensions_using)])(
        extensions.reconcile
    )
    operator.finalize(ClusterExtension)(extensions.finalize)
    return operator


def _enqueue(operator: Operator, request: Request) -> None:
    """Reconcile ClusterExtension ``request`` (once the operator's controllers are built)."""
    name = f"{ClusterExtension.resource_info().kind.lower()}.{ClusterExtension.resource_info().group}"
    for controller in operator.manager.controllers if operator.manager else ():
        if controller.name == name:
            controller.enqueue(request)


async def apply_crds(client: Client) -> None:
    """Server-side apply the ClusterCatalog and ClusterExtension CRDs; return once both are Established."""
    await Installer(client).establish(
        crd.to_crds([ClusterCatalog, ClusterExtension]), "the lifecycle manager"
    )
