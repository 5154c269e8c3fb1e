"""Webhooks as OLM v0 installs them (the CSV's ``webhookdefinitions``), with serving certificates it
makes itself rather than cert-manager's.

Per deployment serving webhooks: a Service ``<deployment>-service`` and a TLS Secret
``<deployment>-service-cert`` mounted into its pods where kubeloop's webhook server (and OLM's
operators) read it; a Mutating/ValidatingWebhookConfiguration per admission webhook; and the CRD's
``spec.conversion`` per conversion webhook — all trusting the CA in their ``caBundle``. The
certificate is a ``ServingCertificate``, made by the ``Installer`` (``_install``) and passed in, so
the conversion here stays pure.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

from kubeloop.certs import CertificateAuthority
from kubeloop.olm._model import Bundle, Obj, OLMError
from kubeloop.olm._names import MAX_SUBDOMAIN, generated_name
from kubeloop.webhook import DEFAULT_CERT_DIR

__all__ = [
    "ADMISSION_FIELDS",
    "CERT_LIFETIME",
    "DEFAULT_CONTAINER_PORT",
    "NO_CERTIFICATE",
    "WEBHOOK_CONFIGURATIONS",
    "ServingCertificate",
    "certificate_secret",
    "converted_by_webhook",
    "mount_certificate",
    "secret_name",
    "webhook_configurations",
    "webhook_descriptions",
    "webhook_hosts",
    "webhook_secrets",
    "webhook_services",
]

ADMISSION = "admissionregistration.k8s.io/v1"
CONVERSION_WEBHOOK = "ConversionWebhook"
# The configuration each admission webhook type becomes.
WEBHOOK_CONFIGURATIONS = {
    "MutatingAdmissionWebhook": "MutatingWebhookConfiguration",
    "ValidatingAdmissionWebhook": "ValidatingWebhookConfiguration",
}
WEBHOOK_TYPES = (*WEBHOOK_CONFIGURATIONS, CONVERSION_WEBHOOK)
# The fields of an OLM WebhookDescription a webhook configuration entry takes as they are.
ADMISSION_FIELDS = (
    "rules",
    "failurePolicy",
    "matchPolicy",
    "objectSelector",
    "sideEffects",
    "timeoutSeconds",
    "admissionReviewVersions",
)
DEFAULT_CONTAINER_PORT = 443
# How long a serving certificate (and its CA) is valid; it is renewed at two thirds of that.
CERT_LIFETIME = dt.timedelta(days=365)
# Where the serving certificate is mounted: kubeloop's (controller-runtime's) webhook directory,
# and OLM's own, under the file names each reads.
CERT_MOUNTS = (
    ("webhook-cert", str(DEFAULT_CERT_DIR), {"tls.crt": "tls.crt", "tls.key": "tls.key"}),
    (
        "apiservice-cert",
        "/apiserver.local.config/certificates",
        {"tls.crt": "apiserver.crt", "tls.key": "apiserver.key"},
    ),
)


@dataclass(frozen=True)
class ServingCertificate:
    """The webhooks' serving certificate: the PEM of the CA bundle (the ``caBundle``: the signing CA,
    then after a rotation the previous one), of the certificate and of its private key."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def issue(
        cls,
        hosts: Sequence[str],
        *,
        lifetime: dt.timedelta = CERT_LIFETIME,
        previous: ServingCertificate | None = None,
    ) -> ServingCertificate:
        """A new CA and a certificate it signed for ``hosts``, both valid for ``lifetime``. With
        ``previous`` (a rotation), the CA bundle trusts its CA too, so that servers still presenting
        the previous certificate are trusted until they load the new one."""
        ca = CertificateAuthority("kubeloop-olm-webhook-ca", validity=lifetime)
        pair = ca.serving(*hosts)
        trusted = ca.cert_pem + (previous.ca.public_bytes(Encoding.PEM) if previous else b"")
        return cls(trusted, pair.cert_pem, pair.key_pem)

    @property
    def ca(self) -> x509.Certificate:
        """The CA that signed the certificate (the first of the CA bundle)."""
        return x509.load_pem_x509_certificates(self.ca_pem)[0]

    def renew_at(self) -> dt.datetime:
        """When to replace the certificate: once two thirds of its lifetime have passed."""
        cert = x509.load_pem_x509_certificate(self.cert_pem)
        return cert.not_valid_after_utc - (cert.not_valid_after_utc - cert.not_valid_before_utc) / 3

    @classmethod
    def from_secret(cls, secret: Obj) -> ServingCertificate | None:
        """The certificate a Secret made by ``bundle_objects`` holds; None when it holds none."""
        data = secret.get("data") or {}
        try:
            ca, cert, key = (
                base64.b64decode(data[k], validate=True) for k in ("ca.crt", "tls.crt", "tls.key")
            )
        except (KeyError, TypeError, binascii.Error):
            return None
        return cls(ca, cert, key)

    def serves(self, hosts: Sequence[str], until: dt.datetime) -> bool:
        """Whether the certificate is the CA's, for exactly ``hosts`` and still valid at ``until``."""
        try:
            ca = self.ca
            cert = x509.load_pem_x509_certificate(self.cert_pem)
            cert.verify_directly_issued_by(ca)
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            return False
        valid = min(cert.not_valid_after_utc, ca.not_valid_after_utc)
        return set(names.get_values_for_type(x509.DNSName)) == set(hosts) and valid > until

    def secret_data(self) -> dict[str, str]:
        pems = {"tls.crt": self.cert_pem, "tls.key": self.key_pem, "ca.crt": self.ca_pem}
        return {k: base64.b64encode(v).decode() for k, v in pems.items()}


NO_CERTIFICATE = ServingCertificate(b"", b"", b"")
"""Stands in where only the shape of the objects matters (checking a bundle)."""


def webhook_descriptions(bundle: Bundle, csv: Obj, install: Obj) -> list[Obj]:
    """The CSV's ``webhookdefinitions``, checked: known type, a deployment of the CSV, unique per
    type and name, conversion only of the bundle's CRDs, and no rules OLM forbids."""
    hooks: list[Obj] = list((csv.get("spec") or {}).get("webhookdefinitions") or ())
    deployments = {d.get("name") for d in install["deployments"]}
    crds = {c["metadata"]["name"] for c in bundle.crds}
    seen: set[tuple[str, str]] = set()
    for hook in hooks:
        kind, name = str(hook.get("type")), str(hook.get("generateName") or "")
        where = f"bundle {bundle.name}: webhook {name or '(no generateName)'}"
        if kind not in WEBHOOK_TYPES:
            raise OLMError(f"{where}: type {kind!r} is not one of {', '.join(WEBHOOK_TYPES)}")
        if not name or (kind, name) in seen:
            raise OLMError(f"{where}: every webhook needs a generateName unique among its type")
        seen.add((kind, name))
        if hook.get("deploymentName") not in deployments:
            raise OLMError(
                f"{where}: deploymentName {hook.get('deploymentName')!r} is not a deployment of the CSV"
            )
        converted = list(hook.get("conversionCRDs") or ())
        if kind == CONVERSION_WEBHOOK and not converted:
            raise OLMError(f"{where}: a ConversionWebhook needs conversionCRDs")
        if missing := [c for c in converted if c not in crds]:
            raise OLMError(
                f"{where}: conversionCRDs {', '.join(map(str, missing))} are not CRDs of the bundle"
            )
        if problem := _forbidden_rule(hook.get("rules") or ()):
            raise OLMError(f"{where}: {problem}")
    return hooks


def _forbidden_rule(rules: Iterable[Obj]) -> str | None:
    """Why ``rules`` may not be installed (OLM's own limits: every group, OLM's group, or the
    webhook configurations themselves), or None."""
    for rule in rules:
        groups, resources = set(rule.get("apiGroups") or ()), set(rule.get("resources") or ())
        if "*" in groups:
            return "its rules may not match every API group"
        if groups & {"operators.coreos.com", "olm.operatorframework.io"}:
            return "its rules may not match OLM's API groups"
        if "admissionregistration.k8s.io" in groups and resources & {
            "*",
            "mutatingwebhookconfigurations",
            "validatingwebhookconfigurations",
        }:
            return "its rules may not match webhook configurations"
    return None


def _service_name(deployment: str) -> str:
    return generated_name(deployment, "service")


def secret_name(deployment: str) -> str:
    return f"{_service_name(deployment)}-cert"


def _container_port(hook: Obj) -> int:
    return int(hook.get("containerPort") or DEFAULT_CONTAINER_PORT)


def _webhook_deployments(hooks: Iterable[Obj]) -> list[str]:
    return list(dict.fromkeys(str(h["deploymentName"]) for h in hooks))


def webhook_hosts(bundle: Bundle, namespace: str) -> tuple[str, ...]:
    """The DNS names the serving certificate of ``bundle`` installed in ``namespace`` must be valid
    for: each webhook Service's, short to fully qualified; () when the bundle has no webhooks."""
    hooks = (bundle.csv.get("spec") or {}).get("webhookdefinitions") or ()
    hosts: list[str] = []
    for deployment in _webhook_deployments(hooks):
        service = _service_name(deployment)
        hosts += [service, f"{service}.{namespace}", f"{service}.{namespace}.svc"]
        hosts.append(f"{service}.{namespace}.svc.cluster.local")
    return tuple(hosts)


def _client_config(hook: Obj, namespace: str, certificate: ServingCertificate) -> Obj:
    service = {
        "namespace": namespace,
        "name": _service_name(str(hook["deploymentName"])),
        "path": str(hook.get("webhookPath") or "/"),
        "port": _container_port(hook),
    }
    return {"service": service, "caBundle": base64.b64encode(certificate.ca_pem).decode()}


def converted_by_webhook(
    crd: Obj, hooks: Iterable[Obj], namespace: str, certificate: ServingCertificate
) -> Obj:
    """``crd``, with ``spec.conversion`` sending to the conversion webhook that lists it, if any."""
    name = crd["metadata"]["name"]
    hook = next(
        (h for h in hooks if h["type"] == CONVERSION_WEBHOOK and name in (h.get("conversionCRDs") or ())),
        None,
    )
    if hook is None:
        return crd
    conversion = {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": _client_config(hook, namespace, certificate),
            "conversionReviewVersions": list(hook.get("admissionReviewVersions") or ["v1"]),
        },
    }
    return {**crd, "spec": {**crd["spec"], "conversion": conversion}}


def webhook_services(bundle: Bundle, install: Obj, hooks: list[Obj], namespace: str) -> Iterator[Obj]:
    """Per deployment serving webhooks, its Service: each container port to its target port."""
    specs = {d["name"]: d.get("spec") or {} for d in install["deployments"]}
    for deployment in _webhook_deployments(hooks):
        selector = (specs[deployment].get("selector") or {}).get("matchLabels")
        if not selector:
            raise OLMError(
                f"bundle {bundle.name}: deployment {deployment} serves webhooks but has no matchLabels"
            )
        ports: dict[int, Any] = {}
        for hook in (h for h in hooks if h["deploymentName"] == deployment):
            port = _container_port(hook)
            target = hook.get("targetPort") or port
            if ports.setdefault(port, target) != target:
                raise OLMError(
                    f"bundle {bundle.name}: webhook port {port} of {deployment} has two target ports"
                )
        yield {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": _service_name(deployment), "namespace": namespace},
            "spec": {
                "selector": dict(selector),
                "ports": [
                    {"name": f"webhook-{p}", "port": p, "targetPort": t, "protocol": "TCP"}
                    for p, t in sorted(ports.items())
                ],
            },
        }


def webhook_secrets(hooks: list[Obj], namespace: str, certificate: ServingCertificate) -> Iterator[Obj]:
    """Per deployment serving webhooks, the Secret holding the serving certificate its pods mount."""
    for deployment in _webhook_deployments(hooks):
        yield {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": secret_name(deployment), "namespace": namespace},
            "data": certificate.secret_data(),
        }


def mount_certificate(pod: Obj, secret: str) -> None:
    """Mount Secret ``secret`` read-only in every container of ``pod`` at ``CERT_MOUNTS``, replacing
    the volumes and mounts of the same names or paths (a cert-manager mount, say)."""
    paths = {path for _, path, _ in CERT_MOUNTS}
    names = {name for name, _, _ in CERT_MOUNTS}
    replaced = set(names)
    for container in pod.get("containers") or ():
        mounts = container.get("volumeMounts") or []
        replaced |= {m.get("name") for m in mounts if m.get("mountPath") in paths}
        kept = [m for m in mounts if m.get("name") not in names and m.get("mountPath") not in paths]
        container["volumeMounts"] = kept + [
            {"name": name, "mountPath": path, "readOnly": True} for name, path, _ in CERT_MOUNTS
        ]
    still_used = {
        m.get("name")
        for c in [*(pod.get("containers") or ()), *(pod.get("initContainers") or ())]
        for m in c.get("volumeMounts") or ()
    } - names
    volumes = [
        v for v in pod.get("volumes") or () if v.get("name") not in replaced or v.get("name") in still_used
    ]
    pod["volumes"] = volumes + [
        {
            "name": name,
            "secret": {
                "secretName": secret,
                "items": [{"key": k, "path": p} for k, p in files.items()],
            },
        }
        for name, _, files in CERT_MOUNTS
    ]


def webhook_configurations(
    hooks: Iterable[Obj], namespace: str, certificate: ServingCertificate
) -> Iterator[Obj]:
    """A Mutating/ValidatingWebhookConfiguration per admission webhook, named after it and the namespace."""
    for hook in hooks:
        kind = WEBHOOK_CONFIGURATIONS.get(hook["type"])
        if kind is None:
            continue
        entry: Obj = {
            "name": hook["generateName"],
            "clientConfig": _client_config(hook, namespace, certificate),
        }
        entry |= {k: copy.deepcopy(hook[k]) for k in ADMISSION_FIELDS if k in hook}
        if kind == "MutatingWebhookConfiguration" and "reinvocationPolicy" in hook:
            entry["reinvocationPolicy"] = hook["reinvocationPolicy"]
        yield {
            "apiVersion": ADMISSION,
            "kind": kind,
            "metadata": {"name": generated_name(hook["generateName"], namespace, limit=MAX_SUBDOMAIN)},
            "webhooks": [entry],
        }


def certificate_secret(bundle: Bundle) -> str:
    """The name of a Secret holding ``bundle``'s serving certificate (every webhook deployment's
    Secret holds the same one)."""
    hooks = (bundle.csv.get("spec") or {}).get("webhookdefinitions") or ()
    return secret_name(_webhook_deployments(hooks)[0])
