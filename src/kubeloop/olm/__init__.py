"""The lifecycle manager: bundles, file-based catalogs, resolution along channels with dependencies,
CRD upgrade safety, and install / upgrade / uninstall of operators on a cluster."""

from kubeloop.olm._model import GVK, Bundle, Catalog, Channel, ChannelEntry, OLMError, Package, PackageRequirement

__all__ = [
    "GVK",
    "Bundle",
    "Catalog",
    "Channel",
    "ChannelEntry",
    "OLMError",
    "Package",
    "PackageRequirement",
]
