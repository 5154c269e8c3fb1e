"""File-based catalogs kept in ConfigMaps: where a ``ClusterCatalog`` finds its content, as there is no
image registry to pull a catalog image from.

``catalog_configmaps`` turns a catalog into one ConfigMap per package, its data one file named
``<package>.yaml`` holding the documents ``write_catalog`` writes for the package, each ConfigMap
labelled ``olm.kubeloop.dev/catalog: <catalog name>``. ``catalog_in_configmaps`` reads a catalog back
from any ConfigMaps (every data key is a file; ``.json`` keys hold JSON), so a catalog split by hand or
written by ``opm`` loads too, with ``_catalog``'s parsing and checks; ``load_catalog_from_configmaps``
lists the ConfigMaps through a client first. ``push_catalog`` puts a catalog on a cluster: its ConfigMaps
and a ClusterCatalog selecting them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable
from typing import NamedTuple

from kubeloop.client import Client, NotFoundError
from kubeloop.olm._api import ClusterCatalog
from kubeloop.olm._bundle import dump_documents
from kubeloop.olm._catalog import catalog_from_files, package_documents
from kubeloop.olm._model import Catalog, Obj, OLMError
from kubeloop.olm._names import FIELD_MANAGER, generated_name
from kubeloop.resources import core_v1

__all__ = [
    "CATALOG_LABEL",
    "MAX_CONFIGMAP_BYTES",
    "LoadedCatalog",
    "catalog_configmaps",
    "catalog_in_configmaps",
    "configmaps_where",
    "load_catalog_from_configmaps",
    "push_catalog",
]

CATALOG_LABEL = "olm.kubeloop.dev/catalog"
MAX_CONFIGMAP_BYTES = 1024 * 1024  # the API server's limit on a ConfigMap's data


def catalog_configmaps(catalog: Catalog, name: str, namespace: str) -> list[Obj]:
    """The ConfigMaps holding ``catalog`` as catalog ``name`` in ``namespace``, one per package.

    Each is named ``<name>-<package>`` (cut with a hash suffix past 63 characters). OLMError naming
    the package when its documents exceed the 1 MiB a ConfigMap may hold.
    """
    configmaps = []
    for package in sorted(catalog.packages):
        text = dump_documents(package_documents(catalog, package))
        size = len(text.encode())
        if size > MAX_CONFIGMAP_BYTES:
            raise OLMError(
                f"package {package} is {size} bytes as a catalog file, more than a ConfigMap holds "
                f"({MAX_CONFIGMAP_BYTES} bytes)"
            )
        configmaps.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": generated_name(name, package),
                    "namespace": namespace,
                    "labels": {CATALOG_LABEL: name},
                },
                "data": {f"{package}.yaml": text},
            }
        )
    return configmaps


class LoadedCatalog(NamedTuple):
    """A catalog read from ConfigMaps, and ``sha256:<hex>`` of its files: equal exactly when they are."""

    catalog: Catalog
    digest: str


def catalog_in_configmaps(configmaps: Iterable[core_v1.ConfigMap], where: str) -> LoadedCatalog:
    """The catalog whose files are the data keys of ``configmaps``, named
    ``<namespace>/<configmap>/<key>`` in problems; ``where`` says where they were looked for.

    OLMError when they hold no data, or listing every problem of the catalog.
    """
    files = sorted(
        (f"{cm['metadata'].get('namespace')}/{cm['metadata'].get('name')}/{key}", str(text))
        for cm in configmaps
        for key, text in (cm.get("data") or {}).items()
    )
    if not files:
        raise OLMError(f"no catalog ConfigMap (with data) {where}")
    digest = "sha256:" + hashlib.sha256(json.dumps(files).encode()).hexdigest()
    return LoadedCatalog(catalog_from_files(files), digest)


def configmaps_where(namespace: str, label_selector: str) -> str:
    return f"in namespace {namespace} matches {label_selector!r}"


async def load_catalog_from_configmaps(client: Client, namespace: str, label_selector: str) -> Catalog:
    """The catalog in the ConfigMaps of ``namespace`` matching ``label_selector`` (see
    ``catalog_in_configmaps``)."""
    found = client.list_items(core_v1.ConfigMap, namespace=namespace, label_selector=label_selector)
    configmaps = [cm async for cm in found]
    return catalog_in_configmaps(configmaps, configmaps_where(namespace, label_selector)).catalog


async def push_catalog(client: Client, catalog: Catalog, name: str, namespace: str) -> list[Obj]:
    """Apply ``catalog`` as the ConfigMaps of ClusterCatalog ``name`` in ``namespace`` and that
    ClusterCatalog selecting them; ConfigMaps of ``name`` left from an earlier push are deleted.

    Returns the ConfigMaps applied. The namespace must exist and the ClusterCatalog CRD be installed.
    """
    configmaps = catalog_configmaps(catalog, name, namespace)
    for cm in configmaps:
        await client.apply(cm, field_manager=FIELD_MANAGER, force=True)
    current = {cm["metadata"]["name"] for cm in configmaps}
    found = client.list_items("v1/ConfigMap", namespace=namespace, label_selector=f"{CATALOG_LABEL}={name}")
    for stale in [cm async for cm in found if cm["metadata"]["name"] not in current]:
        with contextlib.suppress(NotFoundError):
            await client.delete("v1/ConfigMap", stale["metadata"]["name"], namespace=namespace)
    source = {"namespace": namespace, "labelSelector": {"matchLabels": {CATALOG_LABEL: name}}}
    cluster_catalog = {
        "apiVersion": ClusterCatalog.resource_info().api_version,
        "kind": "ClusterCatalog",
        "metadata": {"name": name},
        "spec": {"source": {"type": "ConfigMaps", "configMaps": source}},
    }
    await client.apply(cluster_catalog, field_manager=FIELD_MANAGER, force=True)
    return configmaps
