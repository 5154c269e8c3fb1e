"""The lifecycle manager's API, ``olm.kubeloop.dev/v1``: ``ClusterCatalog`` and ``ClusterExtension``,
cluster-scoped like OLM v1's.

A ClusterCatalog names where a file-based catalog is (ConfigMaps, see ``_push``); its status says
whether it is Serving and which packages it has. A ClusterExtension asks for a package from the
Serving catalogs; its status says what is installed and whether the request is met. The condition
types and reasons are OLM v1's, so tools reading those read these.
"""

from __future__ import annotations

from typing import Literal

from kubeloop import crd

__all__ = [
    "GROUP",
    "ClusterCatalog",
    "ClusterExtension",
    "Condition",
]

GROUP = "olm.kubeloop.dev"

_IMMUTABLE = [crd.Rule("self == oldSelf", message="is immutable")]


class Condition(crd.Model):
    """A status condition (``metav1.Condition``)."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    last_transition_time: str | None = None
    observed_generation: int | None = None


class SelectorRequirement(crd.Model):
    key: str = crd.Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = crd.Field(default_factory=list)


class LabelSelector(crd.Model):
    """A ``metav1.LabelSelector``: every ``matchLabels`` pair and every expression must hold."""

    match_labels: dict[str, str] = crd.Field(default_factory=dict)
    match_expressions: list[SelectorRequirement] = crd.Field(default_factory=list)


class ConfigMapsSource(crd.Model):
    """The ConfigMaps of ``namespace`` matching ``labelSelector``: each data key is a catalog file."""

    namespace: str = crd.Field(min_length=1)
    label_selector: LabelSelector


class CatalogSource(crd.Model):
    type: Literal["ConfigMaps"]
    config_maps: ConfigMapsSource


class ClusterCatalogSpec(crd.Model):
    source: CatalogSource


class ResolvedConfigMaps(crd.Model):
    """The content loaded: which ConfigMaps, and the digest of their files."""

    namespace: str
    names: list[str] = crd.Field(default_factory=list)
    digest: str


class ResolvedSource(crd.Model):
    type: Literal["ConfigMaps"]
    config_maps: ResolvedConfigMaps


class ClusterCatalogStatus(crd.Model):
    conditions: list[Condition] = crd.Field(default_factory=list)
    packages: list[str] = crd.Field(default_factory=list)
    """The packages of the catalog while it is Serving."""
    last_loaded: str | None = None
    """When the content last changed (RFC 3339)."""
    resolved_source: ResolvedSource | None = None


@crd.resource(
    group=GROUP,
    version="v1",
    scope="Cluster",
    printer_columns={
        "Namespace": ".spec.source.configMaps.namespace",
        "Serving": '.status.conditions[?(@.type=="Serving")].status',
        "Loaded": ".status.lastLoaded",
    },
)
class ClusterCatalog(crd.CustomResource):
    """A file-based catalog of operator packages, kept in ConfigMaps."""

    spec: ClusterCatalogSpec
    status: ClusterCatalogStatus | None = None


class ServiceAccountReference(crd.Model):
    name: str = crd.Field(min_length=1)
    """A ServiceAccount of the extension's namespace."""


class ClusterExtensionSpec(crd.Model):
    package_name: str = crd.Field(min_length=1, x_kubernetes_validations=_IMMUTABLE)
    namespace: str = crd.Field(min_length=1, x_kubernetes_validations=_IMMUTABLE)
    """Where the operator is installed (it must exist)."""
    service_account: ServiceAccountReference
    watch_namespace: str | None = crd.Field(None, min_length=1, x_kubernetes_validations=_IMMUTABLE)
    """The install mode: none for AllNamespaces, ``namespace`` for OwnNamespace, another namespace for
    SingleNamespace (the operator watches only it), as the bundle's CSV allows."""
    """Who installs, upgrades and uninstalls the package: every object is applied as this account,
    which needs every permission that takes (the ``Progressing`` condition names what it lacks)."""
    channels: list[str] = crd.Field(default_factory=list)
    """Install and upgrade only along these channels (none: any channel of the package)."""
    version: str | None = None
    """A version or semver range, e.g. ``>=1.0 <2`` (none: any version)."""
    catalog: str | None = None
    """The ClusterCatalog to take the package from (none: the one Serving catalog that has it)."""
    upgrade_constraint_policy: Literal["CatalogProvided", "SelfCertified"] = "CatalogProvided"
    """``CatalogProvided``: upgrade along the catalog's upgrade graph; ``SelfCertified``: to any
    newer version in range."""
    upgrade_approval: Literal["Automatic", "Manual"] = "Automatic"
    """``Manual``: an upgrade waits in ``status.pendingUpgrade`` until ``approvedVersion`` names its
    version (installs and rollbacks need no approval)."""
    approved_version: str | None = None
    """With ``Manual`` approval: the version an upgrade may go to."""


class InstalledBundle(crd.Model):
    name: str
    version: str


class InstallStatus(crd.Model):
    bundle: InstalledBundle


class PendingUpgrade(crd.Model):
    bundle: InstalledBundle


class ClusterExtensionStatus(crd.Model):
    conditions: list[Condition] = crd.Field(default_factory=list)
    install: InstallStatus | None = None
    pending_upgrade: PendingUpgrade | None = None
    """With ``Manual`` approval: the upgrade waiting for it."""
    observed_generation: int | None = None


@crd.resource(
    group=GROUP,
    version="v1",
    scope="Cluster",
    printer_columns={
        "Package": ".spec.packageName",
        "Namespace": ".spec.namespace",
        "Version": ".status.install.bundle.version",
        "Installed": '.status.conditions[?(@.type=="Installed")].status',
        "Progressing": '.status.conditions[?(@.type=="Progressing")].reason',
    },
)
class ClusterExtension(crd.CustomResource):
    """An operator package installed from a ClusterCatalog, and kept upgraded."""

    spec: ClusterExtensionSpec
    status: ClusterExtensionStatus | None = None
