"""Which events of a child reconcile its owner (``dependent_changed``): as operator-sdk's
``DependentPredicate``, its deletion and a change beyond its status; not its creation, the watch's
first list, a status written by the child's own controller, nor a resync."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeloop.cache import InformerEvent
from kubeloop.operator import dependent_changed

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "ns", "resourceVersion": "7", "labels": {"app": "web"}},
    "spec": {"replicas": 2},
    "status": {"readyReplicas": 1},
}


def changed(**parts: Any) -> dict[str, Any]:
    new = copy.deepcopy(DEPLOYMENT)
    for part, value in parts.items():
        if part == "labels":
            new["metadata"]["labels"] = value
        else:
            new[part] = value
    new["metadata"]["resourceVersion"] = "8"
    return new


@pytest.mark.parametrize(
    ("event", "reconciles"),
    [
        (InformerEvent("add", DEPLOYMENT), False),
        (InformerEvent("add", DEPLOYMENT, initial=True), False),
        (InformerEvent("update", changed(status={"readyReplicas": 2}), DEPLOYMENT), False),
        (InformerEvent("update", copy.deepcopy(DEPLOYMENT), DEPLOYMENT), False),
        (InformerEvent("update", changed(spec={"replicas": 3}), DEPLOYMENT), True),
        (InformerEvent("update", changed(labels={"app": "other"}), DEPLOYMENT), True),
        (InformerEvent("delete", DEPLOYMENT), True),
    ],
    ids=["created", "first-list", "status-only", "resync", "spec-changed", "labels-changed", "deleted"],
)
def test_a_childs_deletion_or_change_beyond_its_status_reconciles_its_owner(
    event: InformerEvent, reconciles: bool
) -> None:
    assert dependent_changed(event) is reconciles
