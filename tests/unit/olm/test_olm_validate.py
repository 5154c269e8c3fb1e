"""validate_bundle: a generated bundle is valid; each core check names its problem."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubeloop.olm import Bundle, generate_bundle, validate_bundle

EXAMPLE = Path(__file__).parents[3] / "examples" / "appservice"
BUNDLE = generate_bundle(EXAMPLE, version="0.1.0", channels=["alpha"])


def changed(change: Callable[[dict[str, Any], list[dict[str, Any]]], None]) -> Bundle:
    """BUNDLE with ``change(csv, objects)`` applied to copies of its CSV and objects."""
    objects = copy.deepcopy(list(BUNDLE.objects))
    csv = next(o for o in objects if o["kind"] == "ClusterServiceVersion")
    change(csv, objects)
    return Bundle(BUNDLE.name, BUNDLE.package, BUNDLE.version, BUNDLE.properties, tuple(objects))


def install(csv: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = csv["spec"]["install"]["spec"]
    return spec


def webhook_of(deployment: str) -> Callable[[dict[str, Any], list[dict[str, Any]]], None]:
    """A change adding a validating webhook served by ``deployment``."""

    def change(csv: dict[str, Any], _: list[dict[str, Any]]) -> None:
        csv["spec"]["webhookdefinitions"] = [
            {
                "type": "ValidatingAdmissionWebhook",
                "generateName": "vappservice.app.example.com",
                "deploymentName": deployment,
                "containerPort": 443,
                "targetPort": 9443,
                "webhookPath": "/validate",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "rules": [
                    {
                        "apiGroups": ["app.example.com"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["appservices"],
                    }
                ],
            }
        ]

    return change


def test_a_generated_bundle_is_valid_on_a_new_enough_cluster() -> None:
    assert validate_bundle(BUNDLE) == []
    assert validate_bundle(BUNDLE, server_version="v1.31.2+k3s1") == []


def test_a_webhook_served_by_a_deployment_of_the_csv_is_valid() -> None:
    deployment = install(changed(lambda csv, _: None).csv)["deployments"][0]["name"]
    assert validate_bundle(changed(webhook_of(deployment)), server_version="v1.31.2") == []


def drop_crd(csv: dict[str, Any], objects: list[dict[str, Any]]) -> None:
    objects[:] = [o for o in objects if o["kind"] != "CustomResourceDefinition"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda csv, _: csv["spec"].update(version="v0.1.0"), "drop the leading 'v'"),
        (
            lambda csv, _: csv["spec"].update(version="0.2.0"),
            "CSV spec.version 0.2.0 is not the bundle's version",
        ),
        (
            lambda csv, _: csv["metadata"].update(name="other"),
            "CSV metadata.name 'other' is not the bundle's name",
        ),
        (lambda csv, _: csv["spec"].update(installModes=[]), "CSV spec.installModes is empty"),
        (
            lambda csv, _: csv["spec"].update(minKubeVersion="1.40.0"),
            "minKubeVersion 1.40.0 is above the cluster's",
        ),
        (lambda csv, _: csv["spec"].update(minKubeVersion="new"), "CSV spec.minKubeVersion"),
        (drop_crd, "owned CRD appservices.app.example.com is not in the bundle"),
        (
            lambda csv, _: csv["spec"]["customresourcedefinitions"]["owned"][0].update(version="v9"),
            "version 'v9' is not one of the CRD's",
        ),
        (
            lambda csv, _: csv["spec"]["customresourcedefinitions"].update(owned=[]),
            "not among the CSV's owned",
        ),
        (
            lambda csv, _: install(csv)["clusterPermissions"][0].update(serviceAccountName="nobody"),
            "service account nobody, which no deployment runs as",
        ),
        (lambda csv, _: install(csv).update(deployments=[]), "has no deployments"),
        (webhook_of("nobody"), "deploymentName 'nobody' is not a deployment of the CSV"),
    ],
    ids=[
        "v-prefix",
        "version-mismatch",
        "name-mismatch",
        "no-install-modes",
        "min-kube-version",
        "bad-min-kube-version",
        "owned-crd-missing",
        "owned-crd-version",
        "unowned-crd",
        "rbac-without-deployment",
        "no-deployments",
        "webhook-without-deployment",
    ],
)
def test_each_problem_is_named(
    change: Callable[[dict[str, Any], list[dict[str, Any]]], None], problem: str
) -> None:
    problems = validate_bundle(changed(change), server_version="v1.31.2")
    assert any(problem in p for p in problems), problems
