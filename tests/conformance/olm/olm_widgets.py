"""A test operator package for the lifecycle manager's conformance tests: ``Package(name, group).bundle(
version)`` builds a registry+v1 bundle (CSV with RBAC and a Deployment, a CRD in ``group``, a
Service; optionally webhooks), and the kubectl helpers the tests check the cluster with.

No pod runs in the test cluster, so the webhooks are reachable only where a test serves them
(``live_webhook``); their rules match only the package's own CRD group, so a test that creates no
widgets is never blocked by them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from semver import Version

from kubeloop.olm import Bundle
from kubeloop.testing import Kubectl, KubectlError

SA = "widget-operator"
INSTALLER = "installer"


async def admin_installer(kubectl: Kubectl, namespace: str) -> str:
    """The ServiceAccount ``installer`` of ``namespace``, bound to cluster-admin: for tests whose
    ClusterExtensions are not about permissions. Returns the ClusterRoleBinding's name (to delete)."""
    binding = f"{namespace}-{INSTALLER}"
    await asyncio.to_thread(kubectl, "create", "serviceaccount", INSTALLER, "-n", namespace)
    await asyncio.to_thread(
        kubectl,
        "create",
        "clusterrolebinding",
        binding,
        "--clusterrole=cluster-admin",
        f"--serviceaccount={namespace}:{INSTALLER}",
    )
    return binding


def crd_version(name: str, *, storage: bool = False, fields: tuple[str, ...] = ("size",)) -> dict[str, Any]:
    properties = {f: {"type": "integer" if f == "size" else "string"} for f in fields}
    return {
        "name": name,
        "served": True,
        "storage": storage,
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": {"type": "object", "properties": properties}},
            }
        },
    }


V1_CRD = [crd_version("v1", storage=True)]
# v2 is safe: v1 gains an optional field, and a second served version appears.
V2_CRD = [
    crd_version("v1", storage=True, fields=("size", "color")),
    crd_version("v2", fields=("size", "color")),
]
# v3 is unsafe in two ways the tests pick from.
V3_DROPS_FIELD = [crd_version("v1", storage=True), crd_version("v2", fields=("size", "color"))]
V3_DROPS_STORED_VERSION = [crd_version("v2", storage=True, fields=("size", "color"))]


@dataclass(frozen=True)
class Package:
    name: str
    group: str
    webhook_port: int = 443
    """The webhooks' Service port (a test serving them picks a free one)."""

    @property
    def crd(self) -> str:
        return f"widgets.{self.group}"

    def bundle(
        self,
        version: str,
        *,
        crd_versions: list[dict[str, Any]] | None = V1_CRD,
        service: bool = True,
        webhooks: bool = False,
        install_modes: tuple[str, ...] = ("AllNamespaces",),
    ) -> Bundle:
        """The package at ``version``: a CSV with RBAC and a Deployment running image tag ``version``,
        the CRD (unless ``crd_versions`` is None), with ``service`` a metrics Service and with
        ``webhooks`` mutating, validating (at ``/validate-<version>``) and conversion webhooks."""
        csv_name = f"{self.name}.v{version}"
        csv = self._csv(csv_name, version, install_modes)
        if webhooks:
            csv["spec"]["webhookdefinitions"] = self.webhooks(version)
        objects = [csv]
        if crd_versions is not None:
            objects.append(self._crd(crd_versions))
        if service:
            objects.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "widget-metrics"},
                    "spec": {"selector": {"app": SA}, "ports": [{"port": 8443}]},
                }
            )
        return Bundle(
            name=csv_name, package=self.name, version=Version.parse(version), objects=tuple(objects)
        )

    def in_channel(
        self,
        version: str,
        replaces: str | None = None,
        *,
        crd_versions: list[dict[str, Any]] | None = V1_CRD,
        webhooks: bool = False,
        install_modes: tuple[str, ...] = ("AllNamespaces",),
    ) -> Bundle:
        """``bundle(version)`` as a catalog has it: in channel stable (the default), upgrading from
        ``replaces`` (a version), with its ``olm.package`` property."""
        made = self.bundle(version, crd_versions=crd_versions, webhooks=webhooks, install_modes=install_modes)
        csv = {**made.csv, "spec": {**made.csv["spec"]}}
        if replaces:
            csv["spec"]["replaces"] = f"{self.name}.v{replaces}"
        objects = tuple(csv if o is made.csv else o for o in made.objects)
        return Bundle(
            made.name,
            made.package,
            made.version,
            objects=objects,
            channels=("stable",),
            default_channel="stable",
            properties=({"type": "olm.package", "value": {"packageName": self.name, "version": version}},),
        )

    def extension(self, namespace: str, **spec: Any) -> dict[str, Any]:
        """A ClusterExtension named after the package, installing it in ``namespace`` as ``INSTALLER``."""
        return {
            "apiVersion": "olm.kubeloop.dev/v1",
            "kind": "ClusterExtension",
            "metadata": {"name": self.name},
            "spec": {
                "packageName": self.name,
                "namespace": namespace,
                "serviceAccount": {"name": INSTALLER},
                **spec,
            },
        }

    def webhook_name(self, kind: str) -> str:
        """The generateName of the ``m``(utating), ``v``(alidating) or ``c``(onversion) webhook."""
        return f"{kind}widget.{self.group}"

    def webhooks(self, version: str) -> list[dict[str, Any]]:
        rule = {
            "apiGroups": [self.group],
            "apiVersions": ["*"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["widgets"],
        }
        common = {
            "deploymentName": SA,
            "containerPort": self.webhook_port,
            "targetPort": 9443,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
        }
        return [
            {
                "type": "MutatingAdmissionWebhook",
                "generateName": self.webhook_name("m"),
                "webhookPath": "/mutate",
                "failurePolicy": "Fail",
                "rules": [rule],
                **common,
            },
            {
                "type": "ValidatingAdmissionWebhook",
                "generateName": self.webhook_name("v"),
                "webhookPath": f"/validate-{version}",
                "failurePolicy": "Fail",
                "rules": [rule],
                **common,
            },
            {
                "type": "ConversionWebhook",
                "generateName": self.webhook_name("c"),
                "webhookPath": "/convert",
                "conversionCRDs": [self.crd],
                **common,
            },
        ]

    def _crd(self, versions: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": self.crd},
            "spec": {
                "group": self.group,
                "scope": "Namespaced",
                "names": {
                    "plural": "widgets",
                    "singular": "widget",
                    "kind": "Widget",
                    "listKind": "WidgetList",
                },
                "versions": versions,
            },
        }

    def _csv(self, name: str, version: str, install_modes: tuple[str, ...]) -> dict[str, Any]:
        rules = [{"apiGroups": [self.group], "resources": ["widgets"], "verbs": ["get", "list", "watch"]}]
        deployment = {
            "name": SA,
            "label": {"app": SA},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": SA}},
                "template": {
                    "metadata": {"labels": {"app": SA}},
                    "spec": {
                        "serviceAccountName": SA,
                        "containers": [{"name": "manager", "image": f"registry.example/widgets:{version}"}],
                    },
                },
            },
        }
        return {
            "apiVersion": "operators.coreos.com/v1alpha1",
            "kind": "ClusterServiceVersion",
            "metadata": {"name": name},
            "spec": {
                "version": version,
                "installModes": [{"type": mode, "supported": True} for mode in install_modes],
                "install": {
                    "strategy": "deployment",
                    "spec": {
                        "permissions": [
                            {
                                "serviceAccountName": SA,
                                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
                            }
                        ],
                        "clusterPermissions": [{"serviceAccountName": SA, "rules": rules}],
                        "deployments": [deployment],
                    },
                },
            },
        }


async def get(kubectl: Kubectl, *args: str) -> Any:
    """``kubectl get ARGS -o json``, off the event loop."""
    return await asyncio.to_thread(kubectl.json, "get", *args)


async def absent(kubectl: Kubectl, *args: str) -> bool:
    try:
        await get(kubectl, *args)
    except KubectlError as err:
        return "NotFound" in err.stderr
    return False
