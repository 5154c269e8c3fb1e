"""The lifecycle manager: registry+v1 bundles and file-based catalogs (read and written in OLM's own
formats), resolution along channels with dependencies, CRD upgrade safety, and install / upgrade /
uninstall of operators on a cluster."""

from kubeloop.olm._bundle import bundle_from_fbc, bundle_to_fbc, load_bundle, write_bundle
from kubeloop.olm._catalog import load_catalog, render_catalog, write_catalog
from kubeloop.olm._generate import generate_bundle
from kubeloop.olm._install import Installer, ObjectRef, Release, bundle_objects
from kubeloop.olm._model import (
    GVK,
    Bundle,
    Catalog,
    Channel,
    ChannelEntry,
    OLMError,
    Package,
    PackageRequirement,
)
from kubeloop.olm._resolve import Want, channel_head, resolve_install, resolve_upgrade, successors
from kubeloop.olm._safety import Violation, check_crd_upgrade, crd_upgrade_violations
from kubeloop.olm._semver import VersionRange, parse_version

__all__ = [
    "GVK",
    "Bundle",
    "Catalog",
    "Channel",
    "ChannelEntry",
    "Installer",
    "OLMError",
    "ObjectRef",
    "Package",
    "PackageRequirement",
    "Release",
    "VersionRange",
    "Violation",
    "Want",
    "bundle_from_fbc",
    "bundle_objects",
    "bundle_to_fbc",
    "channel_head",
    "check_crd_upgrade",
    "crd_upgrade_violations",
    "generate_bundle",
    "load_bundle",
    "load_catalog",
    "parse_version",
    "render_catalog",
    "resolve_install",
    "resolve_upgrade",
    "successors",
    "write_bundle",
    "write_catalog",
]
