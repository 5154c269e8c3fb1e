"""``watches.yaml`` of a Helm operator in operator-sdk's format: which chart each kind installs.

Keys: ``group``, ``version``, ``kind``, ``chart`` (a chart directory or a packaged ``.tgz``, relative to
the file), ``overrideValues`` (values that win over the spec; ``${VAR}`` from the environment),
``reconcilePeriod`` (Go duration), ``watchDependentResources`` (default true),
``maxConcurrentReconciles``; kubeloop adds ``rbac`` (the ClusterRole rules the chart's objects need).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeloop.ansible import WatchesError, parse_duration
from kubeloop.gvk import GroupVersionKind

__all__ = ["HelmWatch", "is_helm_watches", "load_helm_watches"]


@dataclass(frozen=True)
class HelmWatch:
    """One entry of a Helm operator's watches file, the chart's path made absolute."""

    gvk: GroupVersionKind
    chart: Path
    override_values: Mapping[str, Any] = field(default_factory=dict)
    reconcile_period: float = 0.0
    watch_dependent_resources: bool = True
    max_concurrent_reconciles: int | None = None
    rbac: Sequence[Mapping[str, Any]] = ()


def _entries(path: Path) -> list[Any]:
    try:
        entries = yaml.safe_load(os.path.expandvars(path.read_text())) or []
    except (OSError, yaml.YAMLError) as exc:
        raise WatchesError(f"{path}: {exc}") from exc
    if not isinstance(entries, list):
        raise WatchesError(f"{path}: expected a list of watches, got {type(entries).__name__}")
    return entries


def is_helm_watches(path: str | Path) -> bool:
    """Whether the watches file maps kinds to charts (a Helm operator's) rather than to roles."""
    return any(isinstance(e, dict) and "chart" in e for e in _entries(Path(path)))


def load_helm_watches(path: str | Path) -> list[HelmWatch]:
    """Read and check a Helm operator's watches file."""
    path = Path(path).resolve()
    watches: list[HelmWatch] = []
    for i, entry in enumerate(_entries(path)):
        try:
            if not isinstance(entry, dict):
                raise TypeError(f"expected a mapping, got {type(entry).__name__}")
            gvk = GroupVersionKind(
                str(entry.get("group") or ""), str(entry.get("version") or ""), str(entry.get("kind") or "")
            )
            if not gvk.version or not gvk.kind:
                raise ValueError("version and kind must not be empty")
            if not entry.get("chart"):
                raise ValueError("must specify chart")
            chart = path.parent / str(entry["chart"])
            if not chart.exists():
                raise ValueError(f"chart: {chart} was not found")
            workers = entry.get("maxConcurrentReconciles")
            watch = HelmWatch(
                gvk=gvk,
                chart=chart,
                override_values=dict(entry.get("overrideValues") or {}),
                reconcile_period=parse_duration(entry.get("reconcilePeriod", 0)),
                watch_dependent_resources=bool(entry.get("watchDependentResources", True)),
                max_concurrent_reconciles=int(workers) if workers else None,
                rbac=tuple(entry.get("rbac") or ()),
            )
        except (ValueError, TypeError) as exc:
            raise WatchesError(f"{path}: entry {i + 1}: {exc}") from exc
        if any(w.gvk == watch.gvk for w in watches):
            raise WatchesError(f"{path}: duplicate GVK: {watch.gvk}")
        watches.append(watch)
    return watches
