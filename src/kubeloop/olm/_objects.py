"""What a ``registry+v1`` bundle becomes on a cluster, as OLM v1 converts it: CRDs as they are, a
ServiceAccount per service account the CSV names, a Role/RoleBinding per ``permissions`` entry, a
ClusterRole/ClusterRoleBinding per ``clusterPermissions`` entry, a Deployment per ``deployments``
entry, the webhooks' objects (``_webhooks``), and the bundle's other manifests placed in the install
namespace. Pure: the ``Installer`` (``_install``) applies the result.

Install modes: AllNamespaces (no watch namespace), OwnNamespace (the install namespace) and
SingleNamespace (another one), as the CSV's ``installModes`` allow. With a watch namespace, the pods'
``olm.targetNamespaces`` annotation names it, every container gets ``KUBELOOP_NAMESPACE`` (a kubeloop
operator's ``--namespace``: what it watches), and the CSV's ``permissions`` become Roles in it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator

from kubeloop.olm._model import CRD_KIND, CSV_KIND, Bundle, Obj, OLMError
from kubeloop.olm._names import BUNDLE_ANNOTATION, generated_name, release_labels
from kubeloop.olm._webhooks import (
    NO_CERTIFICATE,
    ServingCertificate,
    converted_by_webhook,
    mount_certificate,
    secret_name,
    webhook_configurations,
    webhook_descriptions,
    webhook_secrets,
    webhook_services,
)

__all__ = ["bundle_objects", "check_bundle"]

RBAC = "rbac.authorization.k8s.io"
WATCH_ENV = "KUBELOOP_NAMESPACE"  # what a kubeloop operator watches (its --namespace)

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


def bundle_objects(
    bundle: Bundle,
    namespace: str,
    certificate: ServingCertificate | None = None,
    *,
    watch_namespace: str | None = None,
) -> list[Obj]:
    """The objects ``bundle`` becomes when installed in ``namespace``, in the order to apply them.

    Order: CRDs, ServiceAccounts, Roles/RoleBindings, ClusterRoles/ClusterRoleBindings, the other
    manifests, the webhooks' Services, Deployments, webhook configurations, and the Secrets holding
    the serving certificate (so that in a rotation every ``caBundle`` trusts the new CA before a
    server can load the new certificate, also when the apply stops half-way). Every object
    carries the release's labels (package and namespace, ``release_labels``) and the bundle
    annotation; ``status`` and server-set metadata are
    dropped. Generated names are ``<csv>-<sa>`` (plus the namespace for cluster-scoped ones, so two
    namespaces never share them; ``-<n>`` for a service account's n-th further entry), cut to 63
    characters with a hash suffix when longer; a webhook configuration is ``<generateName>-<namespace>``
    (253 at most). ``certificate`` serves the webhooks, for ``webhook_hosts``; a bundle with webhooks
    needs it. OLMError (naming the bundle) for what kubeloop cannot install.
    """
    csv = bundle.csv
    install = _install_spec(bundle, csv, _install_mode(namespace, watch_namespace))
    hooks = webhook_descriptions(bundle, csv, install)
    if hooks and certificate is None:
        raise OLMError(f"bundle {bundle.name}: its CSV has webhooks, which need a serving certificate")
    cert = certificate or NO_CERTIFICATE  # only read when there are webhooks
    csv_name = str(csv["metadata"]["name"])
    others = [o for o in bundle.objects if o.get("kind") not in (CSV_KIND, CRD_KIND)]
    served = {str(h["deploymentName"]) for h in hooks}
    objects = [
        *(converted_by_webhook(c, hooks, namespace, cert) for c in bundle.crds),
        *_service_accounts(install, namespace, others),
        *_roles(csv_name, install.get("permissions") or (), namespace, cluster=False, within=watch_namespace),
        *_roles(csv_name, install.get("clusterPermissions") or (), namespace, cluster=True),
        *(_placed(o, namespace) for o in others),
        *webhook_services(bundle, install, hooks, namespace),
        *(
            _deployment(d, namespace, watch_namespace, webhooks=d["name"] in served)
            for d in install["deployments"]
        ),
        *webhook_configurations(hooks, namespace, cert),
        # Last: the caBundles trusting a new certificate's CA are stored before a server can load it.
        *webhook_secrets(hooks, namespace, cert),
    ]
    return [_marked(o, bundle, namespace) for o in objects]


def check_bundle(bundle: Bundle, namespace: str, watch_namespace: str | None = None) -> None:
    """OLMError (naming the bundle) when ``bundle_objects`` would refuse ``bundle``; needs no certificate."""
    bundle_objects(bundle, namespace, NO_CERTIFICATE, watch_namespace=watch_namespace)


def _install_mode(namespace: str, watch_namespace: str | None) -> str:
    if not watch_namespace:
        return "AllNamespaces"
    return "OwnNamespace" if watch_namespace == namespace else "SingleNamespace"


def _install_spec(bundle: Bundle, csv: Obj, mode: str) -> Obj:
    spec = csv.get("spec") or {}
    modes = {m.get("type") for m in spec.get("installModes") or () if m.get("supported")}
    if mode not in modes:
        raise OLMError(
            f"bundle {bundle.name}: its CSV does not support the {mode} install mode "
            f"(it supports: {', '.join(sorted(m for m in modes if m)) or 'none'})"
        )
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


def _roles(
    csv_name: str, entries: Iterable[Obj], namespace: str, *, cluster: bool, within: str | None = None
) -> Iterator[Obj]:
    """A Role and RoleBinding (or ClusterRole and ClusterRoleBinding) per permissions entry; Roles
    in ``within`` (default: ``namespace``, where the service accounts are)."""
    role_kind, binding_kind = ("ClusterRole", "ClusterRoleBinding") if cluster else ("Role", "RoleBinding")
    seen: dict[str, int] = {}
    for entry in entries:
        sa = str(entry["serviceAccountName"])
        parts = [csv_name, sa, *([namespace] if cluster else [])]
        if nth := seen.get(sa, 0):
            parts.append(str(nth))
        seen[sa] = nth + 1
        meta: Obj = {"name": generated_name(*parts)} | ({} if cluster else {"namespace": within or namespace})
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


def _deployment(entry: Obj, namespace: str, watch_namespace: str | None, *, webhooks: bool = False) -> Obj:
    """The CSV's deployment entry; its pods get OLM's ``olm.targetNamespaces`` ("" = all namespaces),
    with a watch namespace ``KUBELOOP_NAMESPACE`` in every container, and with ``webhooks`` the
    serving certificate's Secret mounted in every container."""
    spec = copy.deepcopy(entry.get("spec") or {})
    template = spec.setdefault("template", {}).setdefault("metadata", {})
    template.setdefault("annotations", {})["olm.targetNamespaces"] = watch_namespace or ""
    if watch_namespace:
        for container in spec["template"].setdefault("spec", {}).get("containers") or ():
            env = [e for e in container.get("env") or () if e.get("name") != WATCH_ENV]
            container["env"] = [*env, {"name": WATCH_ENV, "value": watch_namespace}]
    if webhooks:
        mount_certificate(spec["template"].setdefault("spec", {}), secret_name(str(entry["name"])))
    meta = {"name": entry["name"], "namespace": namespace, "labels": dict(entry.get("label") or {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def _placed(obj: Obj, namespace: str) -> Obj:
    if obj.get("kind") in CLUSTER_SCOPED_KINDS:
        return obj
    return {**obj, "metadata": {**(obj.get("metadata") or {}), "namespace": namespace}}


def _marked(obj: Obj, bundle: Bundle, namespace: str) -> Obj:
    """A deep copy of ``obj`` labelled with its release and annotated with its bundle, without
    status and server-set metadata."""
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
    meta = out.setdefault("metadata", {})
    for key in SERVER_METADATA:
        meta.pop(key, None)
    meta["labels"] = {**(meta.get("labels") or {}), **release_labels(namespace, bundle.package)}
    meta["annotations"] = {**(meta.get("annotations") or {}), BUNDLE_ANNOTATION: bundle.name}
    return out
