"""Helpers of the AppService end-to-end tests (``test_appservice.py``): the sample, manifests, reads
through kubectl, the Ready condition and the invalid specs the CRD schema must reject."""

from __future__ import annotations

import json
from pathlib import Path

from kubeloop.testing import Kubectl

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
