"""Writes an operator's webhook manifests (``kubeloop generate webhook``), kubebuilder's layout:

- ``config/webhook/manifests.yaml``: the ``MutatingWebhookConfiguration`` and
  ``ValidatingWebhookConfiguration`` of every ``@operator.default`` / ``@operator.validate``, with
  their failure policy, side effects, timeout, operations and namespace/object selectors, pointing at
  the ``webhook-service`` Service in ``system`` (config/default's kustomization prefixes and
  re-namespaces both); ``config/webhook/kustomization.yaml`` lists it beside ``service.yaml``.
- ``config/crd/patches/webhook_in_<plural>.yaml`` for each kind with ``@operator.convert``
  functions: the CRD's ``spec.conversion`` sending conversions to ``/convert``; listed under
  ``patches`` of ``config/crd/kustomization.yaml``.

The ``caBundle`` is left out everywhere: in a cluster, cert-manager's CA injector fills it in
(``cert-manager.io/inject-ca-from`` on the objects). Generated files are rewritten on every run;
``service.yaml`` is written only when missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubeloop import webhook
from kubeloop.operator import Operator

__all__ = ["CERTIFICATE", "write_webhook_manifests"]

CERTIFICATE = "system/serving-cert"
"""``namespace/name`` of the cert-manager Certificate of config/certmanager (before kustomize)."""


def _dump_all(documents: list[dict[str, Any]]) -> str:
    return "".join("---\n" + yaml.safe_dump(d, sort_keys=False) for d in documents)


def _merge_list(path: Path, key: str, entries: list[Any], base: dict[str, Any]) -> Path:
    existing = yaml.safe_load(path.read_text()) if path.exists() else None
    doc: dict[str, Any] = {**base, **(existing if isinstance(existing, dict) else {})}
    listed = list(doc.get(key) or [])
    listed += [e for e in entries if e not in listed]
    doc[key] = listed
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


_KUSTOMIZATION = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
_INJECT = {"cert-manager.io/inject-ca-from": CERTIFICATE}


def _service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "webhook-service", "namespace": "system"},
        "spec": {
            "selector": {"control-plane": "controller-manager"},
            "ports": [{"name": "webhook", "port": 443, "targetPort": 9443, "protocol": "TCP"}],
        },
    }


def write_webhook_manifests(operator: Operator, root: Path) -> list[Path]:
    """Write the webhook configurations and CRD conversion patches of ``operator`` under
    ``root/config``; returns the files written (none when the operator declares no webhooks)."""
    written: list[Path] = []
    client = webhook.ClientConfig()  # webhook-service in system, port 443
    configs = webhook.configurations(operator.webhooks, client, name="webhook-configuration")
    directory = root / "config" / "webhook"
    if configs:
        for config in configs:
            config["metadata"]["annotations"] = dict(_INJECT)
        directory.mkdir(parents=True, exist_ok=True)
        manifests = directory / "manifests.yaml"
        manifests.write_text(_dump_all(configs))
        written.append(manifests)
    if configs or operator.conversions:
        service = directory / "service.yaml"
        if not service.exists():
            directory.mkdir(parents=True, exist_ok=True)
            service.write_text(yaml.safe_dump(_service(), sort_keys=False))
            written.append(service)
        resources = (["manifests.yaml"] if configs else []) + ["service.yaml"]
        written.append(_merge_list(directory / "kustomization.yaml", "resources", resources, _KUSTOMIZATION))
    patches = []
    for group, kind in operator.conversions.kinds:
        models = operator.conversions.models(group, kind)
        info = next(iter(models.values())).resource_info()
        patch = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": info.crd_name, "annotations": dict(_INJECT)},
            "spec": {"conversion": webhook.conversion_stanza(client)},
        }
        path = root / "config" / "crd" / "patches" / f"webhook_in_{info.plural}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(patch, sort_keys=False))
        written.append(path)
        patches.append({"path": f"patches/{path.name}"})
    if patches:
        kustomization = root / "config" / "crd" / "kustomization.yaml"
        written.append(_merge_list(kustomization, "patches", patches, {**_KUSTOMIZATION, "resources": []}))
    return written
