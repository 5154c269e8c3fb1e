"""Where a new project's kubeloop comes from: the kubeloop that made it.

A project made by ``kubeloop init`` depends on kubeloop. Until kubeloop is published, its name does
not resolve on an index, so the project depends on what the running kubeloop was installed from,
as pip recorded it (PEP 610's ``direct_url.json``): a checkout installed editable (the project's
Makefile installs it editable too, as ``--kubeloop-source`` does), or a wheel or sdist file or a
directory (a direct reference to it). A kubeloop installed from an index (no such record) makes
``kubeloop>=<its version>``, which resolves where it came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from urllib.parse import unquote, urlparse

__all__ = ["KubeloopSource", "kubeloop_source"]


@dataclass(frozen=True)
class KubeloopSource:
    """The project's dependency on kubeloop, and a checkout its Makefile installs editable first."""

    requirement: str
    checkout: Path | None = None

    @property
    def direct(self) -> bool:
        """Whether the requirement is a direct reference (``kubeloop @ file://...``)."""
        return " @ " in self.requirement


def kubeloop_source(checkout: Path | None = None) -> KubeloopSource:
    """The source of ``checkout`` when given (``--kubeloop-source``), else of the running kubeloop."""
    if checkout is not None:
        path = checkout.resolve()
        return KubeloopSource(f"kubeloop @ {path.as_uri()}", path)
    try:
        installed = distribution("kubeloop")
    except PackageNotFoundError:  # pragma: no cover - kubeloop runs from an installed distribution
        return KubeloopSource("kubeloop")
    record = json.loads(installed.read_text("direct_url.json") or "null")
    url = urlparse(record["url"]) if isinstance(record, dict) and "url" in record else None
    if url is not None and url.scheme == "file" and Path(unquote(url.path)).exists():
        path = Path(unquote(url.path))
        editable = bool((record.get("dir_info") or {}).get("editable"))
        return KubeloopSource(f"kubeloop @ {path.as_uri()}", path if editable else None)
    return KubeloopSource(f"kubeloop>={installed.version}")
