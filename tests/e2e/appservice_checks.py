"""Helpers of the AppService end-to-end tests (``test_appservice*.py``: Python, Ansible and Helm): the
sample, manifests, the CRD installed, reads through kubectl, conditions, owner checks and the invalid
specs the CRD schema must reject."""

from __future__ import annotations

import json
from pathlib import Path

from kubeloop.testing import Kubectl, wait_for_crds

SAMPLE = Path(__file__).parents[2] / "examples/appservice/config/samples/app.example.com_v1_appservice.yaml"
RESOURCE = "appservices.app.example.com"

INVALID_SPECS = [
    ({"size": -1, "image": "nginx"}, "spec.size"),
    ({"size": 1000, "image": "nginx"}, "spec.size"),
    ({"size": 1, "image": ""}, "spec.image"),
    ({"size": 1, "image": "nginx", "ports": [{"port": 70000, "targetPort": 80}]}, "spec.ports[0].port"),
    (
        {"size": 1, "image": "nginx", "ports": [{"port": 80, "targetPort": 80, "nodePort": 80}]},
        "spec.ports[0].nodePort",
    ),
]
INVALID_SPEC_IDS = [
    "negative-size",
    "huge-size",
    "empty-image",
    "port-out-of-range",
    "node-port-out-of-range",
]


def app_yaml(name: str, size: int, node_port: int, image: str = "nginx:1.7.9") -> str:
    return json.dumps(
        {
            "apiVersion": "app.example.com/v1",
            "kind": "AppService",
            "metadata": {"name": name},
            "spec": {
                "size": size,
                "image": image,
                "ports": [{"port": 80, "targetPort": 80, "nodePort": node_port}],
            },
        }
    )


def get(kubectl: Kubectl, *args: str) -> dict | None:
    result = kubectl(*args, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def ready_condition(app: dict | None) -> dict | None:
    """The Ready condition, also when the status is not in the shape the operator writes."""
    status = (app or {}).get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    for cond in conditions if isinstance(conditions, list) else ():
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond
    return None


def condition(obj: dict | None, type_: str) -> dict:
    """The condition ``type_`` of ``obj``'s status, or ``{}``."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or ():
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def install_crd(kubectl: Kubectl, crd: Path) -> None:
    """Apply the AppService CRD at ``crd`` and wait until the server serves it (Established)."""
    kubectl("apply", "-f", str(crd))
    wait_for_crds(kubectl, RESOURCE)


def assert_owned_by(app: dict, *children: dict) -> None:
    """Each child has exactly one owner reference: ``app`` (kind, name, uid), as its controller."""
    meta = app["metadata"]
    for child in children:
        (owner,) = child["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
            "AppService",
            meta["name"],
            meta["uid"],
            True,
        ), child["kind"]
