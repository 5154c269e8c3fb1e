#!/usr/bin/env python3
"""Regenerate the default RBAC policy the embedded API server bootstraps (``apiserver/data/rbac.json``).

Starts the real control plane kubeloop builds (``kubeloop.testing.ControlPlane``, with
kube-controller-manager so the aggregated roles are filled), reads the bootstrap ClusterRoles and
ClusterRoleBindings users rely on (cluster-admin, admin/edit/view and what they aggregate, discovery,
basic-user, public info) and writes them without server-set metadata. The aggregated roles are
written with empty rules: the embedded server's aggregation fills them, as kube-controller-manager
does. Run again when the Kubernetes version of the control plane moves:

    .venv/bin/python hack/dump-rbac.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from kubeloop.testing import ControlPlane, ControlPlaneOptions, Kubectl

OUT = Path(__file__).resolve().parent.parent / "src" / "kubeloop" / "apiserver" / "data" / "rbac.json"
ROLES = {
    "cluster-admin",
    "admin",
    "edit",
    "view",
    "system:aggregate-to-admin",
    "system:aggregate-to-edit",
    "system:aggregate-to-view",
    "system:auth-delegator",
    "system:basic-user",
    "system:discovery",
    "system:monitoring",
    "system:public-info-viewer",
    "system:service-account-issuer-discovery",
}
SERVER_SET = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation")


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    for key in SERVER_SET:
        obj["metadata"].pop(key, None)
    if obj.get("aggregationRule"):
        obj["rules"] = []
    return obj


def main() -> None:
    with ControlPlane(ControlPlaneOptions(controller_manager=True, nodes=0)) as plane:
        kubectl = Kubectl(plane.kubeconfig)
        deadline = time.monotonic() + 60
        while not kubectl.json("get", "clusterrole", "admin").get("rules"):  # aggregated by the KCM
            if time.monotonic() > deadline:
                raise TimeoutError("admin never aggregated")
            time.sleep(0.5)
        roles = kubectl.json("get", "clusterroles")["items"]
        bindings = kubectl.json("get", "clusterrolebindings")["items"]
    policy = {
        "clusterRoles": [clean(r) for r in roles if r["metadata"]["name"] in ROLES],
        "clusterRoleBindings": [clean(b) for b in bindings if b["roleRef"]["name"] in ROLES],
    }
    OUT.write_text(json.dumps(policy, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
