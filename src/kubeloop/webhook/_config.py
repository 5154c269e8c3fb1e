"""Declared webhooks and the API objects that point the API server at them.

``AdmissionWebhook`` is one declared mutating or validating webhook (what it serves, where, and its
``AdmissionOptions``: the settings the API server needs). ``configurations`` turns declarations into a
``MutatingWebhookConfiguration`` and a ``ValidatingWebhookConfiguration`` whose client config is
either a Service (in cluster, kubebuilder's ``webhook-service`` placeholders by default) or a URL
(local runs and tests: ``https://127.0.0.1:PORT``) with a CA bundle. ``conversion_stanza`` is the
matching CRD ``spec.conversion``. Paths follow kubebuilder: ``/mutate-<group>-<version>-<kind>``
(dots in the group become dashes), ``/validate-...`` and ``/convert``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kubeloop.certs import CertificateAuthority
from kubeloop.webhook._admission import AdmissionHandler, Target
from kubeloop.webhook._review import Operation

__all__ = [
    "CONVERT_PATH",
    "AdmissionOptions",
    "AdmissionWebhook",
    "ClientConfig",
    "configurations",
    "conversion_stanza",
    "serving_certificate",
    "webhook_path",
]

CONVERT_PATH = "/convert"

FailurePolicy = Literal["Fail", "Ignore"]
SideEffects = Literal["None", "NoneOnDryRun"]


def webhook_path(prefix: Literal["mutate", "validate"], target: Target) -> str:
    """kubebuilder's path of a webhook: ``/mutate-app-example-com-v1-appservice``."""
    group = target.group.replace(".", "-") if target.group else "core"
    return f"/{prefix}-{group}-{target.version}-{target.kind.lower()}"


@dataclass(frozen=True)
class AdmissionOptions:
    """The settings of one admission webhook: which operations it sees (the handler lets others
    through), and what its configuration entry tells the API server."""

    operations: tuple[Operation, ...] = ("CREATE", "UPDATE")
    failure_policy: FailurePolicy = "Fail"
    side_effects: SideEffects = "None"
    timeout_seconds: int = 10
    namespace_selector: Mapping[str, Any] | None = None
    object_selector: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "operations", tuple(self.operations))


@dataclass(frozen=True)
class AdmissionWebhook:
    """One declared admission webhook."""

    type: Literal["mutating", "validating"]
    target: Target
    handler: AdmissionHandler
    plural: str
    namespaced: bool | None
    options: AdmissionOptions = field(default_factory=AdmissionOptions)

    @property
    def path(self) -> str:
        return webhook_path("mutate" if self.type == "mutating" else "validate", self.target)

    @property
    def name(self) -> str:
        """The webhook's fully qualified name (``mappservice-v1.app.example.com``)."""
        letter = "m" if self.type == "mutating" else "v"
        return (
            f"{letter}{self.target.kind.lower()}-{self.target.version}.{self.target.group or 'core.k8s.io'}"
        )

    def to_dict(self, client: ClientConfig) -> dict[str, Any]:
        """The entry in ``webhooks`` of the configuration."""
        scope = "*" if self.namespaced is None else ("Namespaced" if self.namespaced else "Cluster")
        options = self.options
        entry: dict[str, Any] = {
            "name": self.name,
            "admissionReviewVersions": ["v1"],
            "clientConfig": client.to_dict(self.path),
            "failurePolicy": options.failure_policy,
            "matchPolicy": "Equivalent",
            "rules": [
                {
                    "apiGroups": [self.target.group],
                    "apiVersions": [self.target.version],
                    "operations": list(options.operations),
                    "resources": [self.plural],
                    "scope": scope,
                }
            ],
            "sideEffects": options.side_effects,
            "timeoutSeconds": options.timeout_seconds,
        }
        if options.namespace_selector is not None:
            entry["namespaceSelector"] = dict(options.namespace_selector)
        if options.object_selector is not None:
            entry["objectSelector"] = dict(options.object_selector)
        if self.type == "mutating":
            entry["reinvocationPolicy"] = "Never"
        return entry


@dataclass(frozen=True)
class ClientConfig:
    """Where the API server reaches the webhook server: ``url`` (a base such as
    ``https://127.0.0.1:9443``) or a Service; ``ca_bundle`` is the PEM of the CA that signed the
    serving certificate (left out for cert-manager's CA injector to fill in)."""

    url: str | None = None
    service_name: str = "webhook-service"
    service_namespace: str = "system"
    service_port: int | None = None
    ca_bundle: bytes | None = None

    def to_dict(self, path: str) -> dict[str, Any]:
        out: dict[str, Any]
        if self.url is not None:
            out = {"url": self.url.rstrip("/") + path}
        else:
            service: dict[str, Any] = {
                "name": self.service_name,
                "namespace": self.service_namespace,
                "path": path,
            }
            if self.service_port is not None:
                service["port"] = self.service_port
            out = {"service": service}
        if self.ca_bundle is not None:
            out["caBundle"] = base64.b64encode(self.ca_bundle).decode()
        return out


def configurations(
    webhooks: Sequence[AdmissionWebhook],
    client: ClientConfig,
    *,
    name: str = "webhook-configuration",
    labels: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """``mutating-<name>`` and ``validating-<name>`` configurations (each only when it has webhooks)."""
    out = []
    for kind, prefix, flavour in (
        ("MutatingWebhookConfiguration", "mutating", "mutating"),
        ("ValidatingWebhookConfiguration", "validating", "validating"),
    ):
        chosen = [w for w in webhooks if w.type == flavour]
        if not chosen:
            continue
        metadata: dict[str, Any] = {"name": f"{prefix}-{name}"}
        if labels:
            metadata["labels"] = dict(labels)
        out.append(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": kind,
                "metadata": metadata,
                "webhooks": [w.to_dict(client) for w in chosen],
            }
        )
    return out


def conversion_stanza(client: ClientConfig) -> dict[str, Any]:
    """The CRD ``spec.conversion`` sending conversions to ``/convert`` of the webhook server."""
    return {
        "strategy": "Webhook",
        "webhook": {"clientConfig": client.to_dict(CONVERT_PATH), "conversionReviewVersions": ["v1"]},
    }


def serving_certificate(
    cert_dir: str | Path,
    hosts: Sequence[str] = ("127.0.0.1", "localhost"),
    *,
    cert_name: str = "tls.crt",
    key_name: str = "tls.key",
) -> bytes:
    """Generate a CA and a serving certificate for ``hosts`` into ``cert_dir``; returns the CA's PEM
    (the ``caBundle``). For local runs and tests; in a cluster, cert-manager issues the certificate."""
    directory = Path(cert_dir)
    directory.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority("kubeloop-webhook-ca")
    pair = ca.serving(*hosts)
    key = directory / key_name
    # Write to temporary names and rename: a watcher never sees a half-written file.
    for data, final in ((pair.key_pem, key), (pair.cert_pem, directory / cert_name)):
        tmp = final.with_name(f".{final.name}.tmp")
        tmp.write_bytes(data)
        if final == key:
            tmp.chmod(0o600)
        tmp.replace(final)
    return ca.cert_pem
