"""A ``registry+v1`` bundle from a kubeloop project, like ``operator-sdk generate bundle``.

A kubeloop project deploys itself with kustomize (``config/default``); OLM installs an operator
from a ClusterServiceVersion instead, which carries the manager Deployment and the RBAC it is
bound to, and creates the service account, roles and bindings itself. ``generate_bundle`` reads the
project's manifests as ``kustomize build config/default`` would take them (its ``resources`` tree
and ``namePrefix``), moves the Deployments and the roles bound to their service accounts into the
CSV, and keeps the CRDs and any other object (a metrics Service, say) as bundle manifests.

Webhooks become the CSV's ``webhookdefinitions``, as ``operator-sdk generate bundle`` makes them:
one per entry of the webhook configurations in ``config/webhook`` (``kubeloop generate webhook``)
and one per CRD whose ``config/crd`` patch converts it by webhook, served by the manager Deployment
the webhook Service selects. Whether or not ``config/default`` enables ``../webhook``: under OLM the
lifecycle manager makes the Service and the certificates, so the project's webhook Service and
cert-manager objects stay out of the bundle.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import semver

from kubeloop.olm._bundle import derived_properties, load_documents, manifest_file_name
from kubeloop.olm._model import CRD_KIND, CSV_KIND, Bundle, Obj, OLMError
from kubeloop.olm._semver import parse_version
from kubeloop.olm._webhooks import ADMISSION_FIELDS, DEFAULT_CONTAINER_PORT, WEBHOOK_CONFIGURATIONS

__all__ = ["generate_bundle"]

_KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Kinds kustomize's namePrefix leaves alone.
_UNPREFIXED = frozenset({CRD_KIND, "Namespace", "APIService"})
_INSTALL_MODES = [
    {"type": "OwnNamespace", "supported": False},
    {"type": "SingleNamespace", "supported": False},
    {"type": "MultiNamespace", "supported": False},
    {"type": "AllNamespaces", "supported": True},  # kubeloop operators watch all namespaces
]
# The WebhookDescription type each webhook configuration kind is described as.
_WEBHOOK_TYPES = {configuration: kind for kind, configuration in WEBHOOK_CONFIGURATIONS.items()}
_WEBHOOK_PORT = 9443  # kubeloop's webhook server's (kubeloop.webhook.WebhookServer bind_address ":9443")


def generate_bundle(
    project_root: str | Path,
    *,
    version: str,
    channels: Sequence[str],
    default_channel: str | None = None,
    replaces: str | None = None,
    skip_range: str | None = None,
    image: str | None = None,
    package: str | None = None,
) -> Bundle:
    """The bundle of the kubeloop project at ``project_root``, at ``version`` (semver, no ``v``).

    ``package`` defaults to ``PROJECT``'s ``projectName``, ``default_channel`` to the first of
    ``channels``; ``image`` replaces the image of the manager container; ``replaces`` (a bundle
    name) and ``skip_range`` become the CSV's upgrade edges. Objects are in ``manifest_file_name``
    order, so ``write_bundle`` then ``load_bundle`` gives the bundle back. OLMError naming the file
    when the project lacks CRDs (``config/crd/bases``), a manager Deployment or ``PROJECT``.
    """
    root = Path(project_root)
    parsed = parse_version(version, str(root))
    if not channels:
        raise OLMError(f"{root}: a bundle needs at least one channel")
    default = default_channel or channels[0]
    if default not in channels:
        raise OLMError(f"{root}: default channel {default} is not among the channels ({', '.join(channels)})")
    package = package or _project_name(root / "PROJECT")
    kustomization = root / "config" / "default" / "kustomization.yaml"
    prefix = str(_kustomization(kustomization).get("namePrefix") or "")
    webhooks = _optional_resources(root / "config" / "webhook")
    lifecycle_made = {_key(o) for o in webhooks + _optional_resources(root / "config" / "certmanager")}
    taken = [
        o
        for o in _resources(kustomization)
        if o.get("kind") not in (CRD_KIND, "Namespace") and _key(o) not in lifecycle_made
    ]
    taken = _with_name_prefix(taken, prefix)
    if image:
        _set_manager_image(taken, image, kustomization)
    install, extras = _install_strategy(taken, kustomization)
    crds = _crds(root / "config" / "crd" / "bases")
    hooks = _webhook_definitions(root, webhooks, crds, [o for o in taken if o.get("kind") == "Deployment"])
    csv = _csv(root, package, parsed, channels[0], crds, install, replaces, skip_range)
    if hooks:
        csv["spec"]["webhookdefinitions"] = hooks
    objects = sorted([csv, *crds, *extras], key=manifest_file_name)
    return Bundle(
        name=csv["metadata"]["name"],
        package=package,
        version=parsed,
        properties=tuple(derived_properties(package, parsed, objects)),
        objects=tuple(objects),
        channels=tuple(channels),
        default_channel=default,
    )


def _project_name(path: Path) -> str:
    if not path.is_file():
        raise OLMError(f"{path}: no such file; pass the package name")
    docs = load_documents(path)
    name = docs[0].get("projectName") if docs else None
    if not name:
        raise OLMError(f"{path}: no projectName; pass the package name")
    return str(name)


def _kustomization(path: Path) -> Obj:
    if not path.is_file():
        raise OLMError(f"{path}: no such file")
    docs = load_documents(path)
    return docs[0] if docs else {}


def _resources(kustomization: Path) -> list[Obj]:
    """The objects of ``kustomization``'s ``resources`` tree, as listed (patches not applied)."""
    objects: list[Obj] = []
    for entry in _kustomization(kustomization).get("resources") or []:
        target = kustomization.parent / str(entry)
        if target.is_dir():
            nested = next((target / n for n in _KUSTOMIZATION_FILES if (target / n).is_file()), None)
            if nested is None:
                raise OLMError(
                    f"{kustomization}: resource {entry} is a directory without a kustomization.yaml"
                )
            objects += _resources(nested)
        elif target.is_file():
            objects += load_documents(target)
        else:
            raise OLMError(f"{kustomization}: resource {entry} does not exist")
    return objects


def _optional_resources(directory: Path) -> list[Obj]:
    """The objects of ``directory``'s kustomization, or none when it has none."""
    kustomization = directory / "kustomization.yaml"
    return _resources(kustomization) if kustomization.is_file() else []


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _key(obj: Obj) -> tuple[str, str]:
    return str(obj.get("kind")), _name(obj)


def _with_name_prefix(objects: Iterable[Obj], prefix: str) -> list[Obj]:
    """Copies of ``objects`` with ``prefix`` on their names and on the references between them
    (role bindings' roles and service accounts, pods' service accounts), as kustomize does; the
    namespace is dropped, since OLM installs into the namespace the operator is installed in."""
    objects = [copy.deepcopy(o) for o in objects]
    renamed = {(o.get("kind"), _name(o)) for o in objects if o.get("kind") not in _UNPREFIXED}

    def new_name(kind: str, name: str) -> str:
        return prefix + name if (kind, name) in renamed else name

    for obj in objects:
        metadata = obj.setdefault("metadata", {})
        metadata.pop("namespace", None)
        metadata["name"] = new_name(str(obj.get("kind")), _name(obj))
        if "roleRef" in obj:
            obj["roleRef"]["name"] = new_name(obj["roleRef"].get("kind", ""), obj["roleRef"].get("name", ""))
        for subject in obj.get("subjects") or []:
            subject["name"] = new_name(subject.get("kind", ""), subject.get("name", ""))
        pod = _pod_spec(obj)
        if pod is not None and pod.get("serviceAccountName"):
            pod["serviceAccountName"] = new_name("ServiceAccount", pod["serviceAccountName"])
    return objects


def _pod_spec(obj: Obj) -> dict[str, Any] | None:
    if obj.get("kind") != "Deployment":
        return None
    pod: dict[str, Any] = obj.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
    return pod


def _pod_labels(deployment: Obj) -> dict[str, Any]:
    return dict(
        ((deployment.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
    )


def _manager_containers(obj: Obj) -> list[Obj]:
    return [c for c in (_pod_spec(obj) or {}).get("containers") or [] if c.get("name") == "manager"]


def _set_manager_image(objects: Iterable[Obj], image: str, kustomization: Path) -> None:
    containers = [c for o in objects for c in _manager_containers(o)]
    if not containers:
        raise OLMError(f"{kustomization}: no Deployment among its resources has a container named manager")
    for container in containers:
        container["image"] = image


def _install_strategy(objects: list[Obj], kustomization: Path) -> tuple[Obj, list[Obj]]:
    """The CSV's ``spec.install`` made of the Deployments and the roles bound to their service
    accounts, and the objects left for the bundle's manifests."""
    deployments = [o for o in objects if o.get("kind") == "Deployment"]
    if not deployments:
        raise OLMError(
            f"{kustomization}: no Deployment among its resources (the manager, config/manager/manager.yaml)"
        )
    accounts = {(_pod_spec(d) or {}).get("serviceAccountName") or "default" for d in deployments}
    roles = {(o.get("kind"), _name(o)): o for o in objects if o.get("kind") in ("Role", "ClusterRole")}
    permissions: dict[str, dict[str, list[Obj]]] = {
        "clusterPermissions": defaultdict(list),
        "permissions": defaultdict(list),
    }
    used: list[Obj] = [*deployments]
    for binding in (o for o in objects if o.get("kind") in ("RoleBinding", "ClusterRoleBinding")):
        ref = binding.get("roleRef") or {}
        role = roles.get((ref.get("kind"), str(ref.get("name", ""))))
        bound = [
            s["name"]
            for s in binding.get("subjects") or []
            if s.get("kind") == "ServiceAccount" and s.get("name") in accounts
        ]
        if role is None or not bound:
            continue
        scope = "clusterPermissions" if binding["kind"] == "ClusterRoleBinding" else "permissions"
        for account in bound:
            permissions[scope][account] += role.get("rules") or []
        used += [binding, role]
    used += [o for o in objects if o.get("kind") == "ServiceAccount" and _name(o) in accounts]
    spec: Obj = {
        scope: [{"serviceAccountName": a, "rules": rules} for a, rules in sorted(by_account.items())]
        for scope, by_account in permissions.items()
        if by_account
    }
    spec["deployments"] = [_deployment_spec(d) for d in deployments]
    extras = [o for o in objects if not any(o is u for u in used)]
    return {"strategy": "deployment", "spec": spec}, extras


def _deployment_spec(deployment: Obj) -> Obj:
    entry: Obj = {"name": _name(deployment)}
    labels = deployment["metadata"].get("labels")
    if labels:
        entry["label"] = labels
    entry["spec"] = deployment["spec"]
    return entry


def _crds(bases: Path) -> list[Obj]:
    files = sorted(bases.glob("*.yaml")) + sorted(bases.glob("*.yml")) if bases.is_dir() else []
    crds = [doc for f in files for doc in load_documents(f) if doc.get("kind") == CRD_KIND]
    if not crds:
        raise OLMError(f"{bases}: no CustomResourceDefinitions (is there an API yet?)")
    return crds


def _webhook_definitions(
    root: Path, webhooks: list[Obj], crds: list[Obj], deployments: list[Obj]
) -> list[Obj]:
    """OLM WebhookDescriptions of the admission webhooks in ``webhooks`` (config/webhook's objects)
    and of the CRDs converted by webhook, in that order."""
    where = root / "config" / "webhook"
    services = {_name(o): o for o in webhooks if o.get("kind") == "Service"}
    described: list[Obj] = []
    for config in (o for o in webhooks if o.get("kind") in _WEBHOOK_TYPES):
        for webhook in config.get("webhooks") or ():
            service_ref = (webhook.get("clientConfig") or {}).get("service")
            if not service_ref:
                raise OLMError(
                    f"{where}: webhook {webhook.get('name')} is not served by a Service (OLM needs one)"
                )
            desc: Obj = {"type": _WEBHOOK_TYPES[config["kind"]], "generateName": webhook["name"]}
            desc |= _served_by(service_ref, services, deployments, where)
            desc |= {k: copy.deepcopy(webhook[k]) for k in ADMISSION_FIELDS if k in webhook}
            if "reinvocationPolicy" in webhook:
                desc["reinvocationPolicy"] = webhook["reinvocationPolicy"]
            described.append(desc)
    for crd, conversion in _converted_by_webhook(root / "config" / "crd", crds):
        service_ref = ((conversion.get("webhook") or {}).get("clientConfig") or {}).get("service") or {}
        names = crd["spec"]["names"]
        desc = {
            "type": "ConversionWebhook",
            "generateName": f"c{names['kind'].lower()}.{crd['spec']['group']}",
        }
        desc |= _served_by(service_ref, services, deployments, where)
        desc["admissionReviewVersions"] = list(
            conversion["webhook"].get("conversionReviewVersions") or ["v1"]
        )
        desc["sideEffects"] = "None"
        desc["conversionCRDs"] = [crd["metadata"]["name"]]
        described.append(desc)
    return described


def _served_by(service_ref: Obj, services: dict[str, Obj], deployments: list[Obj], where: Path) -> Obj:
    """The WebhookDescription fields saying where a webhook is served: the Deployment the Service
    ``service_ref`` names selects (the only, or the manager, Deployment when it selects none), the
    Service's port and the container port it targets, and the path."""
    port = int(service_ref.get("port") or DEFAULT_CONTAINER_PORT)
    service = services.get(str(service_ref.get("name"))) or {}
    spec = service.get("spec") or {}
    selector = spec.get("selector") or {}
    target = next((p.get("targetPort") for p in spec.get("ports") or () if p.get("port") == port), None)

    chosen = [d for d in deployments if selector and selector.items() <= _pod_labels(d).items()]
    chosen = chosen or [d for d in deployments if _manager_containers(d)]
    if len(chosen) != 1:
        raise OLMError(f"{where}: cannot tell which Deployment serves Service {service_ref.get('name')}")
    return {
        "deploymentName": _name(chosen[0]),
        "containerPort": port,
        "targetPort": target or _WEBHOOK_PORT,
        "webhookPath": str(service_ref.get("path") or "/"),
    }


def _converted_by_webhook(crd_config: Path, crds: list[Obj]) -> list[tuple[Obj, Obj]]:
    """The CRDs converted by webhook and their ``spec.conversion``: set in the CRD itself or by a
    CRD patch of ``crd_config``'s kustomization (``config/crd/patches/webhook_in_<plural>.yaml``)."""
    kustomization = crd_config / "kustomization.yaml"
    patches: list[Obj] = []
    if kustomization.is_file():
        for entry in _kustomization(kustomization).get("patches") or ():
            path = crd_config / str(entry.get("path", "")) if isinstance(entry, dict) else None
            if path is not None and path.is_file():
                patches += [d for d in load_documents(path) if d.get("kind") == CRD_KIND]
    conversions = {_name(c): (c.get("spec") or {}).get("conversion") or {} for c in crds}
    conversions |= {_name(p): (p.get("spec") or {}).get("conversion") or {} for p in patches}
    return [
        (crd, conversions[_name(crd)])
        for crd in crds
        if conversions.get(_name(crd), {}).get("strategy") == "Webhook"
    ]


def _owned(crd: Obj) -> Obj:
    spec = crd["spec"]
    versions = spec.get("versions") or [{}]
    storage = next((v for v in versions if v.get("storage")), versions[0])
    kind = spec["names"]["kind"]
    owned: Obj = {
        "name": crd["metadata"]["name"],
        "version": storage.get("name", ""),
        "kind": kind,
        "displayName": _words(kind),
    }
    description = ((storage.get("schema") or {}).get("openAPIV3Schema") or {}).get("description")
    if description:
        owned["description"] = description
    return owned


def _words(name: str) -> str:
    """``AppService`` → ``App Service``; ``appservice-operator`` → ``Appservice Operator``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("-", " ").replace("_", " ")
    return " ".join(w[:1].upper() + w[1:] for w in spaced.split())


def _samples(directory: Path) -> list[Obj]:
    if not directory.is_dir():
        return []
    files = sorted(
        p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.stem != "kustomization"
    )
    return [doc for f in files for doc in load_documents(f)]


def _description(pyproject: Path) -> str:
    if not pyproject.is_file():
        return ""
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project") or {}
    except tomllib.TOMLDecodeError as e:
        raise OLMError(f"{pyproject}: invalid TOML: {e}") from e
    return str(project.get("description") or "")


def _csv(
    root: Path,
    package: str,
    version: semver.Version,
    maturity: str,
    crds: list[Obj],
    install: Obj,
    replaces: str | None,
    skip_range: str | None,
) -> Obj:
    annotations = {
        "alm-examples": json.dumps(_samples(root / "config" / "samples"), indent=2),
        "capabilities": "Basic Install",
    }
    if skip_range:
        annotations["olm.skipRange"] = skip_range
    spec: Obj = {
        "displayName": _words(package),
        "description": _description(root / "pyproject.toml"),
        "maturity": maturity,
        "version": str(version),
    }
    if replaces:
        spec["replaces"] = replaces
    spec["installModes"] = copy.deepcopy(_INSTALL_MODES)
    spec["customresourcedefinitions"] = {"owned": [_owned(c) for c in crds]}
    spec["install"] = install
    return {
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": CSV_KIND,
        "metadata": {"name": f"{package}.v{version}", "annotations": annotations},
        "spec": spec,
    }
