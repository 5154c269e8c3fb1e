"""The ClusterRole rules a chart's release needs, from what the chart renders (as operator-sdk's
``create api --helm-chart`` derives them): every verb on each kind it renders, and Helm's release
Secrets. Run where blocking is fine (the command line), not on an operator's event loop."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from kubeloop.gvk import GroupVersionKind, plural_of
from kubeloop.helm._helm import HelmError

__all__ = ["chart_rules"]

ALL_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
RELEASE_SECRETS = {
    "apiGroups": [""],
    "resources": ["secrets"],
    "verbs": ["create", "delete", "get", "list", "update"],
}


def chart_rules(helm: str | Path, chart: Path) -> list[dict[str, Any]]:
    """Rules for the kinds ``helm template`` renders from ``chart`` with its default values."""
    done = subprocess.run(
        [str(helm), "template", "release", str(chart)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise HelmError("template", done.stderr.strip().removeprefix("Error: "))
    resources: dict[str, set[str]] = defaultdict(set)
    for doc in yaml.safe_load_all(done.stdout):
        if isinstance(doc, dict) and doc.get("kind") and doc.get("apiVersion"):
            gvk = GroupVersionKind.from_object(doc)
            resources[gvk.group].add(plural_of(gvk.kind))
    rules: list[dict[str, Any]] = [
        {"apiGroups": [group], "resources": sorted(plurals), "verbs": list(ALL_VERBS)}
        for group, plurals in sorted(resources.items())
    ]
    return [*rules, RELEASE_SECRETS]
