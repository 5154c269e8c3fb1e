"""The lifecycle manager: registry+v1 bundles and file-based catalogs (read and written in OLM's own
formats), resolution along channels with dependencies, CRD upgrade safety, and install / upgrade /
uninstall of operators on a cluster; declaratively too, as OLM v1 has it: ClusterCatalogs (catalogs
kept in ConfigMaps) and ClusterExtensions reconciled by ``lifecycle_operator``."""

from kubeloop._deprecated import deprecated_aliases
from kubeloop.gvk import GroupVersionKind
from kubeloop.olm._api import ClusterCatalog, ClusterExtension
from kubeloop.olm._bundle import bundle_from_fbc, bundle_to_fbc, load_bundle, write_bundle
from kubeloop.olm._catalog import add_bundle, catalog_from_files, load_catalog, render_catalog, write_catalog
from kubeloop.olm._generate import generate_bundle
from kubeloop.olm._install import Installer, UnsafeCRDChange
from kubeloop.olm._manager import apply_crds, lifecycle_operator
from kubeloop.olm._model import (
    Bundle,
    Catalog,
    Channel,
    ChannelEntry,
    OLMError,
    Package,
    PackageRequirement,
)
from kubeloop.olm._objects import bundle_objects, check_bundle
from kubeloop.olm._push import catalog_configmaps, load_catalog_from_configmaps, push_catalog
from kubeloop.olm._release import ObjectRef, Release
from kubeloop.olm._resolve import Want, channel_head, resolve_install, resolve_upgrade, successors
from kubeloop.olm._safety import Violation, check_crd_upgrade, crd_upgrade_violations
from kubeloop.olm._semver import VersionRange, parse_version
from kubeloop.olm._validate import validate_bundle
from kubeloop.olm._webhooks import ServingCertificate

__all__ = [
    "Bundle",
    "Catalog",
    "Channel",
    "ChannelEntry",
    "ClusterCatalog",
    "ClusterExtension",
    "Installer",
    "OLMError",
    "ObjectRef",
    "Package",
    "PackageRequirement",
    "Release",
    "ServingCertificate",
    "UnsafeCRDChange",
    "VersionRange",
    "Violation",
    "Want",
    "add_bundle",
    "apply_crds",
    "bundle_from_fbc",
    "bundle_objects",
    "bundle_to_fbc",
    "catalog_configmaps",
    "catalog_from_files",
    "channel_head",
    "check_bundle",
    "check_crd_upgrade",
    "crd_upgrade_violations",
    "generate_bundle",
    "lifecycle_operator",
    "load_bundle",
    "load_catalog",
    "load_catalog_from_configmaps",
    "parse_version",
    "push_catalog",
    "render_catalog",
    "resolve_install",
    "resolve_upgrade",
    "successors",
    "validate_bundle",
    "write_bundle",
    "write_catalog",
]

__getattr__ = deprecated_aliases(__name__, {"GVK": (GroupVersionKind, "kubeloop.GroupVersionKind")})
