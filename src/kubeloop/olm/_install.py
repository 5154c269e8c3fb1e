"""Install, upgrade and uninstall a ``registry+v1`` bundle on a cluster, the way OLM v1 does.

``bundle_objects`` is the pure half: it converts a bundle (a ClusterServiceVersion plus manifests)
into the plain objects OLM v1 would create — CRDs as they are, a ServiceAccount per service account
the CSV names, a Role/RoleBinding per ``permissions`` entry, a ClusterRole/ClusterRoleBinding per
``clusterPermissions`` entry, a Deployment per ``deployments`` entry, and the bundle's other
manifests placed in the install namespace. ``Installer`` is the cluster half: it server-side applies
those objects with one field manager, checks CRD upgrades with ``crd_upgrade_violations`` before
touching anything, prunes what an upgrade drops, and records each installation as a ``Release`` in a
ConfigMap of the install namespace, so the cluster itself says what is installed.

Webhooks (the CSV's ``webhookdefinitions``) are installed as OLM v0 installs them, with serving
certificates it makes itself rather than cert-manager's: per deployment serving webhooks a Service
``<deployment>-service`` and a TLS Secret ``<deployment>-service-cert`` mounted into its pods where
kubeloop's webhook server (and OLM's operators) read it, a Mutating/ValidatingWebhookConfiguration
per admission webhook and the CRD's ``spec.conversion`` per conversion webhook, all trusting the
CA in their ``caBundle``. ``bundle_objects`` takes that certificate as a ``ServingCertificate``;
``Installer`` issues it on install and keeps it across upgrades while it is still good, so the
``caBundle`` stays the same.

Only the AllNamespaces install mode is supported (the operator watches every namespace).
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from semver import Version

from kubeloop.certs import CertificateAuthority
from kubeloop.client import ApiError, Client, NotFoundError, UnknownResourceError
from kubeloop.clock import RealClock, SleepClock
from kubeloop.olm._model import CRD_KIND, CSV_KIND, Bundle, Catalog, OLMError
from kubeloop.olm._safety import Violation, crd_upgrade_violations
from kubeloop.webhook import DEFAULT_CERT_DIR

__all__ = [
    "FIELD_MANAGER",
    "Installer",
    "ObjectRef",
    "Release",
    "ServingCertificate",
    "UnsafeCRDChange",
    "bundle_objects",
    "check_bundle",
    "webhook_hosts",
]

Obj = dict[str, Any]

FIELD_MANAGER = "kubeloop-olm"
PACKAGE_LABEL = "olm.kubeloop.dev/package"
BUNDLE_ANNOTATION = "olm.kubeloop.dev/bundle"
RELEASE_LABEL = "olm.kubeloop.dev/release"
RBAC = "rbac.authorization.k8s.io"
CRD_REF = "apiextensions.k8s.io/v1/CustomResourceDefinition"

# The cluster-scoped kinds among those a registry+v1 bundle may carry (OLM's supported-kinds list);
# every other manifest kind is taken as namespaced and placed in the install namespace.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "ClusterRole",
        "ClusterRoleBinding",
        "PriorityClass",
        "ConsoleYAMLSample",
        "ConsoleQuickStart",
        "ConsoleCLIDownload",
        "ConsoleLink",
        CRD_KIND,
    }
)
# Fields the server sets: a manifest exported from a cluster carries them, an apply must not.
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")
MAX_NAME = 63
MAX_SUBDOMAIN = 253

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
# An upgrade keeps the serving certificate only while it is valid for this much longer.
CERT_MIN_LIFETIME = dt.timedelta(days=30)
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


# -- the conversion -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServingCertificate:
    """The webhooks' serving certificate: the PEM of the CA (the ``caBundle``), of the certificate and
    of its private key."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def issue(cls, hosts: Sequence[str]) -> ServingCertificate:
        """A new CA and a certificate it signed for ``hosts``."""
        ca = CertificateAuthority("kubeloop-olm-webhook-ca")
        pair = ca.serving(*hosts)
        return cls(ca.cert_pem, pair.cert_pem, pair.key_pem)

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
            ca = x509.load_pem_x509_certificate(self.ca_pem)
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


def bundle_objects(
    bundle: Bundle, namespace: str, certificate: ServingCertificate | None = None
) -> list[Obj]:
    """The objects ``bundle`` becomes when installed in ``namespace``, in the order to apply them.

    Order: CRDs, ServiceAccounts, Roles/RoleBindings, ClusterRoles/ClusterRoleBindings, the other
    manifests, the webhooks' Services and Secrets, Deployments, webhook configurations. Every object
    carries the package label and the bundle annotation; ``status`` and server-set metadata are
    dropped. Generated names are ``<csv>-<sa>`` (plus the namespace for cluster-scoped ones, so two
    namespaces never share them; ``-<n>`` for a service account's n-th further entry), cut to 63
    characters with a hash suffix when longer; a webhook configuration is ``<generateName>-<namespace>``
    (253 at most). ``certificate`` serves the webhooks, for ``webhook_hosts``; a bundle with webhooks
    needs it. OLMError (naming the bundle) for what kubeloop cannot install.
    """
    csv = bundle.csv
    install = _install_spec(bundle, csv)
    hooks = _webhook_descriptions(bundle, csv, install)
    if hooks and certificate is None:
        raise OLMError(f"bundle {bundle.name}: its CSV has webhooks, which need a serving certificate")
    cert = certificate or _PLACEHOLDER  # only read when there are webhooks
    csv_name = str(csv["metadata"]["name"])
    others = [o for o in bundle.objects if o.get("kind") not in (CSV_KIND, CRD_KIND)]
    served = {str(h["deploymentName"]) for h in hooks}
    objects = [
        *(_converted_by_webhook(c, hooks, namespace, cert) for c in bundle.crds),
        *_service_accounts(install, namespace, others),
        *_roles(csv_name, install.get("permissions") or (), namespace, cluster=False),
        *_roles(csv_name, install.get("clusterPermissions") or (), namespace, cluster=True),
        *(_placed(o, namespace) for o in others),
        *_webhook_services(bundle, install, hooks, namespace, cert),
        *(_deployment(d, namespace, webhooks=d["name"] in served) for d in install["deployments"]),
        *_webhook_configurations(hooks, namespace, cert),
    ]
    return [_marked(o, bundle) for o in objects]


_PLACEHOLDER = ServingCertificate(b"", b"", b"")


def check_bundle(bundle: Bundle, namespace: str) -> None:
    """OLMError (naming the bundle) when ``bundle_objects`` would refuse ``bundle``; needs no certificate."""
    bundle_objects(bundle, namespace, _PLACEHOLDER)


def _install_spec(bundle: Bundle, csv: Obj) -> Obj:
    spec = csv.get("spec") or {}
    modes = {m.get("type") for m in spec.get("installModes") or () if m.get("supported")}
    if "AllNamespaces" not in modes:
        raise OLMError(f"bundle {bundle.name}: its CSV does not support the AllNamespaces install mode")
    if (spec.get("apiservicedefinitions") or {}).get("owned"):
        raise OLMError(f"bundle {bundle.name}: CSV apiservicedefinitions (aggregated APIs) are not supported")
    strategy = (spec.get("install") or {}).get("strategy")
    if strategy != "deployment":
        raise OLMError(f"bundle {bundle.name}: install strategy {strategy!r} is not 'deployment'")
    install: Obj = spec["install"].get("spec") or {}
    if not install.get("deployments"):
        raise OLMError(f"bundle {bundle.name}: its CSV has no deployments")
    return install


def _service_accounts(install: Obj, namespace: str, others: list[Obj]) -> Iterator[Obj]:
    """One per name the CSV uses, except ``default`` (always there) and those the bundle ships."""
    used = [p.get("serviceAccountName") for p in install.get("permissions") or ()]
    used += [p.get("serviceAccountName") for p in install.get("clusterPermissions") or ()]
    used += [
        ((d.get("spec") or {}).get("template") or {}).get("spec", {}).get("serviceAccountName")
        for d in install["deployments"]
    ]
    shipped = {o["metadata"]["name"] for o in others if o.get("kind") == "ServiceAccount"}
    for name in dict.fromkeys(n for n in used if n and n != "default" and n not in shipped):
        yield {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        }


def _roles(csv_name: str, entries: Iterable[Obj], namespace: str, *, cluster: bool) -> Iterator[Obj]:
    """A Role and RoleBinding (or ClusterRole and ClusterRoleBinding) per permissions entry."""
    role_kind, binding_kind = ("ClusterRole", "ClusterRoleBinding") if cluster else ("Role", "RoleBinding")
    seen: dict[str, int] = {}
    for entry in entries:
        sa = str(entry["serviceAccountName"])
        parts = [csv_name, sa, *([namespace] if cluster else [])]
        if nth := seen.get(sa, 0):
            parts.append(str(nth))
        seen[sa] = nth + 1
        meta: Obj = {"name": generated_name(*parts)} | ({} if cluster else {"namespace": namespace})
        yield {
            "apiVersion": f"{RBAC}/v1",
            "kind": role_kind,
            "metadata": meta,
            "rules": entry.get("rules") or [],
        }
        yield {
            "apiVersion": f"{RBAC}/v1",
            "kind": binding_kind,
            "metadata": dict(meta),
            "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": meta["name"]},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}],
        }


def _deployment(entry: Obj, namespace: str, *, webhooks: bool = False) -> Obj:
    """The CSV's deployment entry; its pods get OLM's ``olm.targetNamespaces`` ("" = all namespaces)
    and, with ``webhooks``, the serving certificate's Secret mounted in every container."""
    spec = copy.deepcopy(entry.get("spec") or {})
    template = spec.setdefault("template", {}).setdefault("metadata", {})
    template.setdefault("annotations", {})["olm.targetNamespaces"] = ""
    if webhooks:
        _mount_certificate(spec["template"].setdefault("spec", {}), _secret_name(str(entry["name"])))
    meta = {"name": entry["name"], "namespace": namespace, "labels": dict(entry.get("label") or {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def _placed(obj: Obj, namespace: str) -> Obj:
    if obj.get("kind") in CLUSTER_SCOPED_KINDS:
        return obj
    return {**obj, "metadata": {**(obj.get("metadata") or {}), "namespace": namespace}}


def _marked(obj: Obj, bundle: Bundle) -> Obj:
    """A deep copy of ``obj`` labelled and annotated, without status and server-set metadata."""
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
    meta = out.setdefault("metadata", {})
    for key in SERVER_METADATA:
        meta.pop(key, None)
    meta["labels"] = {**(meta.get("labels") or {}), PACKAGE_LABEL: bundle.package}
    meta["annotations"] = {**(meta.get("annotations") or {}), BUNDLE_ANNOTATION: bundle.name}
    return out


def generated_name(*parts: str, limit: int = MAX_NAME) -> str:
    """``parts`` joined by ``-``; over ``limit`` characters, cut and suffixed with a hash of the name."""
    name = "-".join(parts).lower()
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-.')}-{digest}"


# -- webhooks -----------------------------------------------------------------------------------------


def _webhook_descriptions(bundle: Bundle, csv: Obj, install: Obj) -> list[Obj]:
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


def _secret_name(deployment: str) -> str:
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


def _converted_by_webhook(
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


def _webhook_services(
    bundle: Bundle, install: Obj, hooks: list[Obj], namespace: str, certificate: ServingCertificate
) -> Iterator[Obj]:
    """Per deployment serving webhooks: its Service (each container port to its target port) and
    the Secret holding the serving certificate."""
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
        yield {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": _secret_name(deployment), "namespace": namespace},
            "data": certificate.secret_data(),
        }


def _mount_certificate(pod: Obj, secret: str) -> None:
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


def _webhook_configurations(
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


class UnsafeCRDChange(OLMError):
    """A bundle would change a CRD on the cluster unsafely; ``violations`` says how. Nothing was applied."""

    def __init__(self, message: str, violations: list[Violation]) -> None:
        super().__init__(message)
        self.violations = violations


# -- the release record -------------------------------------------------------------------------------


class ObjectRef(NamedTuple):
    """One installed object; ``namespace`` is None for cluster-scoped ones."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    @classmethod
    def of(cls, obj: Obj) -> ObjectRef:
        meta = obj["metadata"]
        return cls(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


@dataclass(frozen=True)
class Release:
    """What is installed of ``package`` in ``namespace``: from which bundle, and which objects.

    ``objects`` is in apply order. CRDs an upgrade no longer ships stay on the cluster (they hold
    user data) and stay in ``objects``, so ``uninstall(delete_crds=True)`` still removes them.
    """

    package: str
    bundle: str
    version: Version
    namespace: str
    objects: tuple[ObjectRef, ...]

    def bundle_in(self, catalog: Catalog) -> Bundle:
        """The installed bundle: the catalog's copy (with its properties), or what the record says."""
        return catalog.bundles.get(self.bundle) or Bundle(
            name=self.bundle, package=self.package, version=self.version
        )

    @staticmethod
    def configmap_name(package: str) -> str:
        return f"kubeloop-olm-{package}"

    def to_configmap(self) -> Obj:
        refs = [
            {"apiVersion": r.api_version, "kind": r.kind, "namespace": r.namespace, "name": r.name}
            for r in self.objects
        ]
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.configmap_name(self.package),
                "namespace": self.namespace,
                "labels": {RELEASE_LABEL: "true", PACKAGE_LABEL: self.package},
            },
            "data": {
                "package": self.package,
                "bundle": self.bundle,
                "version": str(self.version),
                "objects": json.dumps(refs, indent=1),
            },
        }

    @classmethod
    def from_configmap(cls, cm: Obj) -> Release:
        """The release a ConfigMap records (OLMError naming the ConfigMap when it is not one)."""
        meta = cm.get("metadata") or {}
        try:
            data = cm["data"]
            refs = json.loads(data["objects"])
            return cls(
                package=data["package"],
                bundle=data["bundle"],
                version=Version.parse(data["version"]),
                namespace=meta["namespace"],
                objects=tuple(ObjectRef(r["apiVersion"], r["kind"], r["namespace"], r["name"]) for r in refs),
            )
        except (KeyError, TypeError, ValueError) as err:
            where = f"{meta.get('namespace')}/{meta.get('name')}"
            raise OLMError(f"ConfigMap {where} is not a valid release record: {err!r}") from err


# -- the cluster side ---------------------------------------------------------------------------------


class Installer:
    """Installs, upgrades and uninstalls bundles through ``client``, as field manager ``kubeloop-olm``.

    Guarantees: CRDs are applied and Established before anything that may use them; ServiceAccounts
    and RBAC before Deployments; an upgrade with unsafe CRD changes applies nothing. The release is
    written last, so an install that failed half-way is not recorded and can simply be run again (apply
    is idempotent). Caveat: CRDs are cluster-wide, so one package installed in two namespaces shares
    them. Not safe for concurrent calls on the same package.
    """

    def __init__(
        self, client: Client, *, establish_timeout: float = 60.0, clock: SleepClock | None = None
    ) -> None:
        self.client = client
        self.establish_timeout = establish_timeout
        self.clock = clock or RealClock()

    async def release(self, namespace: str, package: str) -> Release | None:
        """The release of ``package`` in ``namespace``, or None when it is not installed there."""
        try:
            cm = await self.client.get("v1/ConfigMap", Release.configmap_name(package), namespace=namespace)
        except NotFoundError:
            return None
        return Release.from_configmap(cm)

    async def releases(self, namespace: str | None = None) -> list[Release]:
        """Every release in ``namespace`` (all namespaces when None), by namespace and package."""
        items = self.client.list_items(
            "v1/ConfigMap", namespace=namespace, label_selector=f"{RELEASE_LABEL}=true"
        )
        found = [Release.from_configmap(cm) async for cm in items]
        return sorted(found, key=lambda r: (r.namespace, r.package))

    async def install(self, bundle: Bundle, namespace: str, *, force_unsafe_crds: bool = False) -> Release:
        """Install ``bundle`` in ``namespace``, which must exist. OLMError, with nothing applied, when it
        does not, when the package is already installed there, or when a CRD of the bundle is already
        on the cluster (left by an uninstall, or another install) and replacing it is unsafe, unless
        ``force_unsafe_crds``."""
        try:
            await self.client.get("v1/Namespace", namespace)
        except NotFoundError:
            raise OLMError(f"namespace {namespace} does not exist: create it first") from None
        if (current := await self.release(namespace, bundle.package)) is not None:
            raise OLMError(f"package {bundle.package} is already installed in {namespace} ({current.bundle})")
        objects = bundle_objects(bundle, namespace, await self._certificate(bundle, namespace, reuse=False))
        if not force_unsafe_crds:
            await self.check_crds(bundle, "install")
        await self._apply(bundle, objects)
        return await self._record(bundle, namespace, [ObjectRef.of(o) for o in objects])

    async def upgrade(
        self, namespace: str, package: str, bundle: Bundle, *, force_unsafe_crds: bool = False
    ) -> Release:
        """Upgrade ``package`` in ``namespace`` to ``bundle``, a newer version of it.

        Unsafe CRD changes (``crd_upgrade_violations``) refuse the whole upgrade with one OLMError
        listing them all, unless ``force_unsafe_crds``. Objects of the old release that ``bundle``
        no longer has are deleted afterwards, except CRDs (kept, and kept in the release).
        """
        current = await self._installed(namespace, package)
        if bundle.package != package:
            raise OLMError(f"bundle {bundle.name} is of package {bundle.package}, not {package}")
        if bundle.version <= current.version:
            raise OLMError(
                f"bundle {bundle.name} ({bundle.version}) is not newer than the installed "
                f"{current.bundle} ({current.version}) of {package} in {namespace}"
            )
        objects = bundle_objects(bundle, namespace, await self._certificate(bundle, namespace, reuse=True))
        if not force_unsafe_crds:
            await self.check_crds(bundle, "upgrade")
        await self._apply(bundle, objects)
        refs = [ObjectRef.of(o) for o in objects]
        dropped = [r for r in current.objects if r not in refs]
        await self._delete([r for r in dropped if r.kind != CRD_KIND])
        return await self._record(bundle, namespace, refs + [r for r in dropped if r.kind == CRD_KIND])

    async def carry_out(
        self, namespace: str, package: str, chosen: list[Bundle], *, force_unsafe_crds: bool = False
    ) -> AsyncIterator[tuple[str, Release]]:
        """Install or upgrade ``chosen`` (a resolution for ``package``, dependencies first) in order,
        yielding ("installed" | "upgraded", release) as each is done. Every bundle is converted and
        its CRDs checked before the first is applied, so a refusal applies nothing."""
        current = await self.release(namespace, package)

        def upgrading(bundle: Bundle) -> bool:
            return bundle.package == package and current is not None

        for bundle in chosen:
            check_bundle(bundle, namespace)
            if not force_unsafe_crds:
                await self.check_crds(bundle, "upgrade" if upgrading(bundle) else "install")
        for bundle in chosen:  # CRDs checked above
            if upgrading(bundle):
                current = await self.upgrade(namespace, package, bundle, force_unsafe_crds=True)
                yield "upgraded", current
            else:
                yield "installed", await self.install(bundle, namespace, force_unsafe_crds=True)

    async def uninstall(self, namespace: str, package: str, *, delete_crds: bool = False) -> None:
        """Delete the release's objects (Deployments first; CRDs only with ``delete_crds``) and its record.

        Returns once deletion is requested; objects with finalizers may still be terminating.
        """
        current = await self._installed(namespace, package)
        refs = [r for r in current.objects if delete_crds or r.kind != CRD_KIND]
        await self._delete(refs)
        await self._delete([ObjectRef("v1", "ConfigMap", namespace, Release.configmap_name(package))])

    async def _certificate(self, bundle: Bundle, namespace: str, *, reuse: bool) -> ServingCertificate | None:
        """The webhooks' serving certificate (None without webhooks): with ``reuse``, the one the
        Secret on the cluster holds while it is for the same names and good for ``CERT_MIN_LIFETIME``
        more (the ``caBundle`` stays the same); otherwise a new CA and certificate."""
        hosts = webhook_hosts(bundle, namespace)
        if not hosts:
            return None
        if reuse:
            hooks = bundle.csv["spec"]["webhookdefinitions"]
            try:
                secret = await self.client.get(
                    "v1/Secret", _secret_name(_webhook_deployments(hooks)[0]), namespace=namespace
                )
            except NotFoundError:
                secret = {}
            current = ServingCertificate.from_secret(secret)
            until = dt.datetime.now(dt.UTC) + CERT_MIN_LIFETIME
            if current is not None and current.serves(hosts, until):
                return current
        return ServingCertificate.issue(hosts)

    async def _installed(self, namespace: str, package: str) -> Release:
        current = await self.release(namespace, package)
        if current is None:
            raise OLMError(f"package {package} is not installed in {namespace}")
        return current

    async def check_crds(self, bundle: Bundle, action: str = "install") -> None:
        """UnsafeCRDChange listing every unsafe change the bundle's CRDs would make to those on the
        cluster (``action`` names what is refused in its message)."""
        violations: list[Violation] = []
        for crd in bundle.crds:
            try:
                on_cluster = await self.client.get(CRD_REF, crd["metadata"]["name"])
            except NotFoundError:
                continue
            violations += crd_upgrade_violations(on_cluster, crd)
        if violations:
            raise UnsafeCRDChange(
                f"{action} of {bundle.name} refused, {len(violations)} unsafe CRD change(s) "
                f"(forcing unsafe CRD changes applies them anyway): {'; '.join(map(str, violations))}",
                violations,
            )

    async def establish(self, crds: list[Obj], owner: str) -> None:
        """Server-side apply ``crds``, then wait until each is Established; OLMError naming ``owner``
        (what they belong to) when one is refused, and naming the CRD when its names clash or the
        wait times out."""
        for obj in crds:
            await self._apply_one(owner, obj)
        for obj in crds:
            await self._established(obj["metadata"]["name"])

    async def _apply(self, bundle: Bundle, objects: list[Obj]) -> None:
        """Apply CRDs and wait until they are Established, then the rest in order."""
        await self.establish([o for o in objects if o["kind"] == CRD_KIND], f"bundle {bundle.name}")
        for obj in objects:
            if obj["kind"] != CRD_KIND:
                await self._apply_one(f"bundle {bundle.name}", obj)

    async def _apply_one(self, owner: str, obj: Obj) -> None:
        try:
            await self.client.apply(obj, field_manager=FIELD_MANAGER, force=True)
        except (ApiError, UnknownResourceError) as err:
            raise OLMError(f"{owner}: applying {ObjectRef.of(obj)} failed: {err}") from err

    async def _established(self, name: str) -> None:
        """Wait until CRD ``name`` is Established; OLMError when its names clash or time runs out."""
        deadline = self.clock.now() + self.establish_timeout
        while True:
            crd = await self.client.get(CRD_REF, name)
            conditions = {c.get("type"): c for c in (crd.get("status") or {}).get("conditions") or ()}
            if conditions.get("Established", {}).get("status") == "True":
                return
            names = conditions.get("NamesAccepted", {})
            if names.get("status") == "False":
                raise OLMError(f"CRD {name}: names not accepted: {names.get('message')}")
            if self.clock.now() >= deadline:
                raise OLMError(f"CRD {name} was not Established within {self.establish_timeout:g} s")
            await self.clock.sleep(0.1)

    async def _delete(self, refs: list[ObjectRef]) -> None:
        """Delete ``refs``: webhook configurations first (nothing calls webhooks that are going away),
        then Deployments (the operator stops before losing its rights), then the rest in reverse apply
        order; already gone is fine."""
        first = ({*WEBHOOK_CONFIGURATIONS.values()}, {"Deployment"})
        ordered = [r for kinds in first for r in refs if r.kind in kinds]
        ordered += [r for r in reversed(refs) if r not in ordered]
        for ref in ordered:
            try:
                await self.client.delete(
                    f"{ref.api_version}/{ref.kind}",
                    ref.name,
                    namespace=ref.namespace,
                    propagation_policy="Background",
                )
            except (NotFoundError, UnknownResourceError):
                continue

    async def _record(self, bundle: Bundle, namespace: str, refs: list[ObjectRef]) -> Release:
        release = Release(bundle.package, bundle.name, bundle.version, namespace, tuple(dict.fromkeys(refs)))
        await self.client.apply(release.to_configmap(), field_manager=FIELD_MANAGER, force=True)
        return release
