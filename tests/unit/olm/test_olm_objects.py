"""bundle_objects: what a registry+v1 bundle becomes on a cluster (OLM v1's conversion), and the
release record's ConfigMap round trip."""

from __future__ import annotations

import base64
import copy
import datetime as dt
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from semver import Version

from kubeloop.olm import Bundle, OLMError
from kubeloop.olm._names import generated_name
from kubeloop.olm._objects import bundle_objects, check_bundle
from kubeloop.olm._release import ObjectRef, Release
from kubeloop.olm._webhooks import ServingCertificate, webhook_hosts

NS = "operators"
PACKAGE_LABEL = "olm.kubeloop.dev/package"
NAMESPACE_LABEL = "olm.kubeloop.dev/namespace"
BUNDLE_ANNOTATION = "olm.kubeloop.dev/bundle"


def make_csv(name: str = "widgets.v1.0.0", **spec: Any) -> dict[str, Any]:
    install_spec = {
        "permissions": [
            {
                "serviceAccountName": "widget-operator",
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
            }
        ],
        "clusterPermissions": [
            {
                "serviceAccountName": "widget-operator",
                "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["*"]}],
            }
        ],
        "deployments": [
            {
                "name": "widget-operator",
                "label": {"app": "widget-operator"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "widget-operator"}},
                    "template": {
                        "metadata": {"labels": {"app": "widget-operator"}},
                        "spec": {
                            "serviceAccountName": "widget-operator",
                            "containers": [{"name": "manager", "image": "example.com/widgets:1.0.0"}],
                        },
                    },
                },
            }
        ],
    }
    return {
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "ClusterServiceVersion",
        "metadata": {"name": name},
        "spec": {
            "installModes": [
                {"type": "OwnNamespace", "supported": True},
                {"type": "AllNamespaces", "supported": True},
            ],
            "install": {"strategy": "deployment", "spec": install_spec},
            **spec,
        },
    }


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com", "creationTimestamp": None},
    "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced"},
    "status": {"storedVersions": []},
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "widget-metrics", "namespace": "elsewhere", "labels": {"app": "widget-operator"}},
    "spec": {"ports": [{"port": 8443}]},
}
PRIORITY_CLASS = {
    "apiVersion": "scheduling.k8s.io/v1",
    "kind": "PriorityClass",
    "metadata": {"name": "widget-critical"},
    "value": 1000,
}


def make_bundle(csv: dict[str, Any] | None = None, *extra: dict[str, Any]) -> Bundle:
    objects = (csv or make_csv(), CRD, SERVICE, *extra)
    return Bundle(name="widgets.v1.0.0", package="widgets", version=Version(1, 0, 0), objects=objects)


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def install_spec(csv: dict[str, Any]) -> dict[str, Any]:
    return csv["spec"]["install"]["spec"]


# -- what each part becomes --------------------------------------------------------------------------


def test_crds_are_kept_as_they_are_without_status_or_server_metadata() -> None:
    (crd,) = by_kind(bundle_objects(make_bundle(), NS), "CustomResourceDefinition")
    assert crd["spec"] == CRD["spec"]
    assert "namespace" not in crd["metadata"]
    assert "status" not in crd
    assert "creationTimestamp" not in crd["metadata"]


def test_one_service_account_per_name_the_csv_uses_in_the_namespace() -> None:
    csv = make_csv()
    install_spec(csv)["permissions"].append({"serviceAccountName": "helper", "rules": []})
    sas = by_kind(bundle_objects(make_bundle(csv), NS), "ServiceAccount")
    assert [(s["metadata"]["name"], s["metadata"]["namespace"]) for s in sas] == [
        ("widget-operator", NS),
        ("helper", NS),
    ]


def test_a_deployment_without_service_account_needs_none_and_default_is_never_created() -> None:
    csv = make_csv()
    spec = install_spec(csv)
    spec["permissions"] = [{"serviceAccountName": "default", "rules": []}]
    spec["clusterPermissions"] = []
    del spec["deployments"][0]["spec"]["template"]["spec"]["serviceAccountName"]
    objects = bundle_objects(make_bundle(csv), NS)
    assert by_kind(objects, "ServiceAccount") == []
    assert by_kind(objects, "RoleBinding")[0]["subjects"][0]["name"] == "default"


def test_a_service_account_the_bundle_ships_is_not_generated_again() -> None:
    shipped = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "widget-operator"}}
    sas = by_kind(bundle_objects(make_bundle(None, shipped), NS), "ServiceAccount")
    assert len(sas) == 1
    assert sas[0]["metadata"]["namespace"] == NS


def test_permissions_become_a_role_and_a_role_binding_in_the_namespace() -> None:
    objects = bundle_objects(make_bundle(), NS)
    (role,) = by_kind(objects, "Role")
    (binding,) = by_kind(objects, "RoleBinding")
    assert role["metadata"]["name"] == "widgets.v1.0.0-widget-operator"
    assert role["metadata"]["namespace"] == NS
    assert role["rules"] == install_spec(make_csv())["permissions"][0]["rules"]
    assert binding["metadata"] == role["metadata"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "widget-operator", "namespace": NS}]


def test_cluster_permissions_become_a_cluster_role_and_binding_named_with_the_namespace() -> None:
    objects = bundle_objects(make_bundle(), NS)
    (role,) = by_kind(objects, "ClusterRole")
    (binding,) = by_kind(objects, "ClusterRoleBinding")
    assert role["metadata"]["name"] == f"widgets.v1.0.0-widget-operator-{NS}"
    assert "namespace" not in role["metadata"]
    assert role["rules"] == install_spec(make_csv())["clusterPermissions"][0]["rules"]
    assert binding["roleRef"]["kind"] == "ClusterRole"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "widget-operator", "namespace": NS}]
    other = by_kind(bundle_objects(make_bundle(), "other"), "ClusterRole")[0]
    assert other["metadata"]["name"] != role["metadata"]["name"]


def test_several_entries_for_one_service_account_get_distinct_names() -> None:
    csv = make_csv()
    install_spec(csv)["permissions"].append({"serviceAccountName": "widget-operator", "rules": []})
    names = [r["metadata"]["name"] for r in by_kind(bundle_objects(make_bundle(csv), NS), "Role")]
    assert names == ["widgets.v1.0.0-widget-operator", "widgets.v1.0.0-widget-operator-1"]


def test_each_deployment_entry_becomes_a_deployment_with_the_csv_spec_and_labels() -> None:
    (dep,) = by_kind(bundle_objects(make_bundle(), NS), "Deployment")
    entry = install_spec(make_csv())["deployments"][0]
    assert dep["apiVersion"] == "apps/v1"
    assert dep["metadata"]["name"] == "widget-operator"
    assert dep["metadata"]["namespace"] == NS
    assert dep["metadata"]["labels"] == {
        "app": "widget-operator",
        PACKAGE_LABEL: "widgets",
        NAMESPACE_LABEL: NS,
    }
    expected = copy.deepcopy(entry["spec"])
    expected["template"]["metadata"]["annotations"] = {"olm.targetNamespaces": ""}
    assert dep["spec"] == expected


def test_other_manifests_are_placed_in_the_namespace_unless_cluster_scoped() -> None:
    objects = bundle_objects(make_bundle(None, PRIORITY_CLASS), NS)
    (service,) = by_kind(objects, "Service")
    (priority,) = by_kind(objects, "PriorityClass")
    assert service["metadata"]["namespace"] == NS
    assert service["spec"] == SERVICE["spec"]
    assert "namespace" not in priority["metadata"]
    assert not by_kind(objects, "ClusterServiceVersion")


def test_every_object_carries_the_release_labels_and_bundle_annotation() -> None:
    objects = bundle_objects(make_bundle(None, PRIORITY_CLASS), NS)
    assert len(objects) == 9
    for obj in objects:
        assert obj["metadata"]["labels"][PACKAGE_LABEL] == "widgets"
        assert obj["metadata"]["labels"][NAMESPACE_LABEL] == NS
        assert obj["metadata"]["annotations"][BUNDLE_ANNOTATION] == "widgets.v1.0.0"
    (service,) = by_kind(objects, "Service")
    assert service["metadata"]["labels"]["app"] == "widget-operator"


def test_objects_come_in_apply_order() -> None:
    kinds = [o["kind"] for o in bundle_objects(make_bundle(None, PRIORITY_CLASS), NS)]
    assert kinds == [
        "CustomResourceDefinition",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "Service",
        "PriorityClass",
        "Deployment",
    ]


def test_the_bundle_is_not_modified() -> None:
    bundle = make_bundle()
    before = copy.deepcopy(bundle.objects)
    for obj in bundle_objects(bundle, NS):
        obj["metadata"]["mutated"] = True
        obj.get("spec", {})["mutated"] = True
    assert bundle.objects == before


def test_the_conversion_is_deterministic() -> None:
    assert bundle_objects(make_bundle(), NS) == bundle_objects(make_bundle(), NS)


# -- names -------------------------------------------------------------------------------------------


def test_long_generated_names_are_cut_to_63_characters_with_a_hash() -> None:
    csv = make_csv(name="a-very-long-operator-name.v10.20.30-with-a-prerelease-tag")
    install_spec(csv)["clusterPermissions"][0]["serviceAccountName"] = "widget-operator-controller-manager"
    objects = bundle_objects(make_bundle(csv), NS)
    names = [o["metadata"]["name"] for o in objects if o["kind"] in ("Role", "ClusterRole")]
    assert all(len(n) <= 63 for n in names)
    assert len(set(names)) == 2
    assert names[0].startswith("a-very-long-operator-name.v10.20.30")


@pytest.mark.parametrize(
    "parts",
    [("csv.v1", "sa"), ("x" * 40, "y" * 22)],
    ids=["short", "exactly-63"],
)
def test_names_of_at_most_63_characters_are_kept(parts: tuple[str, ...]) -> None:
    assert generated_name(*parts) == "-".join(parts)


def test_a_cut_name_never_ends_its_prefix_with_a_dot_or_dash() -> None:
    name = generated_name("x" * 53 + ".", "y" * 20)
    assert len(name) <= 63
    assert ".-" not in name
    assert generated_name("x" * 53 + ".", "y" * 20) != generated_name("x" * 53 + ".", "z" * 20)


# -- what kubeloop refuses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"installModes": [{"type": "OwnNamespace", "supported": True}]}, "AllNamespaces install mode"),
        ({"installModes": [{"type": "AllNamespaces", "supported": False}]}, "AllNamespaces install mode"),
        (
            {"apiservicedefinitions": {"owned": [{"name": "v1.metrics.example.com"}]}},
            "apiservicedefinitions (aggregated APIs) are not supported",
        ),
        ({"install": {"strategy": "helm", "spec": {}}}, "install strategy 'helm' is not 'deployment'"),
        ({"install": {"strategy": "deployment", "spec": {"deployments": []}}}, "has no deployments"),
    ],
    ids=[
        "no-all-namespaces",
        "all-namespaces-unsupported",
        "apiservices",
        "strategy",
        "no-deployments",
    ],
)
def test_bundles_kubeloop_cannot_install_are_refused_naming_the_bundle(
    spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(OLMError) as err:
        bundle_objects(make_bundle(make_csv(**spec)), NS)
    assert message in str(err.value)
    assert "widgets.v1.0.0" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_bundle_without_a_csv_is_refused() -> None:
    bundle = Bundle(name="widgets.v1.0.0", package="widgets", version=Version(1, 0, 0), objects=(CRD,))
    with pytest.raises(OLMError, match=r"bundle widgets\.v1\.0\.0 has no ClusterServiceVersion"):
        bundle_objects(bundle, NS)


# -- the release record ------------------------------------------------------------------------------

RELEASE = Release(
    package="widgets",
    bundle="widgets.v1.0.0",
    version=Version.parse("1.0.0-rc.1"),
    namespace=NS,
    objects=(
        ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, "widgets.example.com"),
        ObjectRef("apps/v1", "Deployment", NS, "widget-operator"),
    ),
)


def test_a_release_round_trips_through_its_configmap() -> None:
    cm = RELEASE.to_configmap()
    assert cm["metadata"]["name"] == "kubeloop-olm-widgets"
    assert cm["metadata"]["namespace"] == NS
    assert cm["metadata"]["labels"]["olm.kubeloop.dev/release"] == "true"
    assert all(isinstance(v, str) for v in cm["data"].values())
    assert Release.from_configmap(cm) == RELEASE


@pytest.mark.parametrize("broken", ["version", "objects", "package"], ids=str)
def test_a_configmap_that_is_not_a_release_is_an_olm_error_naming_it(broken: str) -> None:
    cm = RELEASE.to_configmap()
    if broken == "package":
        del cm["data"]["package"]
    else:
        cm["data"][broken] = "not valid"
    with pytest.raises(OLMError, match=rf"ConfigMap {NS}/kubeloop-olm-widgets is not a valid release record"):
        Release.from_configmap(cm)


# -- webhooks ----------------------------------------------------------------------------------------

RULES = [
    {
        "apiGroups": ["example.com"],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["widgets"],
    }
]
MUTATING = {
    "type": "MutatingAdmissionWebhook",
    "generateName": "mwidget.example.com",
    "deploymentName": "widget-operator",
    "containerPort": 443,
    "targetPort": 9443,
    "webhookPath": "/mutate-widget",
    "admissionReviewVersions": ["v1"],
    "sideEffects": "None",
    "failurePolicy": "Fail",
    "matchPolicy": "Equivalent",
    "objectSelector": {"matchLabels": {"mutate": "yes"}},
    "rules": RULES,
    "timeoutSeconds": 10,
    "reinvocationPolicy": "Never",
}
VALIDATING = {
    "type": "ValidatingAdmissionWebhook",
    "generateName": "vwidget.example.com",
    "deploymentName": "widget-operator",
    "targetPort": 9443,
    "webhookPath": "/validate-widget",
    "admissionReviewVersions": ["v1"],
    "sideEffects": "None",
    "rules": RULES,
    "reinvocationPolicy": "Never",  # not a field of validating webhooks: left out
}
CONVERSION = {
    "type": "ConversionWebhook",
    "generateName": "cwidget.example.com",
    "deploymentName": "widget-operator",
    "containerPort": 443,
    "targetPort": 9443,
    "webhookPath": "/convert",
    "admissionReviewVersions": ["v1", "v1beta1"],
    "sideEffects": "None",
    "conversionCRDs": ["widgets.example.com"],
}
HOOKS = [MUTATING, VALIDATING, CONVERSION]
SVC = "widget-operator-service"
CERT = ServingCertificate(b"the CA", b"the certificate", b"the key")


def webhook_objects(*hooks: dict[str, Any], namespace: str = NS) -> list[dict[str, Any]]:
    bundle = make_bundle(make_csv(webhookdefinitions=list(hooks or HOOKS)))
    return bundle_objects(bundle, namespace, CERT)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_bundle_with_webhooks_comes_with_service_secret_and_configurations_in_apply_order() -> None:
    kinds = [o["kind"] for o in webhook_objects()]
    assert kinds[0] == "CustomResourceDefinition"  # its conversion's caBundle first too
    assert kinds[-5:] == [
        "Service",
        "Deployment",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "Secret",  # last: every caBundle trusts a rotated certificate's CA before a server loads it
    ]
    for obj in webhook_objects():
        assert obj["metadata"]["labels"][PACKAGE_LABEL] == "widgets"
        assert obj["metadata"]["annotations"][BUNDLE_ANNOTATION] == "widgets.v1.0.0"


def test_the_webhook_service_selects_the_deployments_pods_and_targets_the_webhook_port() -> None:
    (_, service) = by_kind(webhook_objects(), "Service")  # the bundle's metrics Service comes first
    assert service["metadata"]["name"] == SVC
    assert service["metadata"]["namespace"] == NS
    assert service["spec"] == {
        "selector": {"app": "widget-operator"},
        "ports": [{"name": "webhook-443", "port": 443, "targetPort": 9443, "protocol": "TCP"}],
    }


def test_the_secret_holds_the_certificate_key_and_ca() -> None:
    (secret,) = by_kind(webhook_objects(), "Secret")
    assert (secret["metadata"]["name"], secret["metadata"]["namespace"]) == (f"{SVC}-cert", NS)
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["data"] == {
        "tls.crt": b64(b"the certificate"),
        "tls.key": b64(b"the key"),
        "ca.crt": b64(b"the CA"),
    }


def test_the_deployment_mounts_the_secret_read_only_where_kubeloop_and_olm_read_it() -> None:
    (dep,) = by_kind(webhook_objects(), "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert pod["containers"][0]["volumeMounts"] == [
        {"name": "webhook-cert", "mountPath": "/tmp/k8s-webhook-server/serving-certs", "readOnly": True},
        {"name": "apiservice-cert", "mountPath": "/apiserver.local.config/certificates", "readOnly": True},
    ]
    secrets = {v["name"]: v["secret"] for v in pod["volumes"]}
    assert secrets == {
        "webhook-cert": {
            "secretName": f"{SVC}-cert",
            "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}],
        },
        "apiservice-cert": {
            "secretName": f"{SVC}-cert",
            "items": [
                {"key": "tls.crt", "path": "apiserver.crt"},
                {"key": "tls.key", "path": "apiserver.key"},
            ],
        },
    }


def test_a_cert_manager_mount_at_the_same_path_and_its_volume_are_replaced() -> None:
    csv = make_csv(webhookdefinitions=[VALIDATING])
    pod = install_spec(csv)["deployments"][0]["spec"]["template"]["spec"]
    pod["containers"][0]["volumeMounts"] = [
        {"name": "webhook-certs", "mountPath": "/tmp/k8s-webhook-server/serving-certs"},
        {"name": "cache", "mountPath": "/cache"},
    ]
    pod["volumes"] = [
        {"name": "webhook-certs", "secret": {"secretName": "webhook-server-cert"}},
        {"name": "cache", "emptyDir": {}},
    ]
    (dep,) = by_kind(bundle_objects(make_bundle(csv), NS, CERT), "Deployment")
    pod = dep["spec"]["template"]["spec"]
    mounts = pod["containers"][0]["volumeMounts"]
    assert [m["name"] for m in mounts] == ["cache", "webhook-cert", "apiservice-cert"]
    assert [v["name"] for v in pod["volumes"]] == ["cache", "webhook-cert", "apiservice-cert"]


def test_admission_webhooks_become_one_configuration_each_pointing_at_the_service_with_the_ca() -> None:
    (mutating,) = by_kind(webhook_objects(), "MutatingWebhookConfiguration")
    (validating,) = by_kind(webhook_objects(), "ValidatingWebhookConfiguration")
    assert mutating["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert mutating["metadata"]["name"] == f"mwidget.example.com-{NS}"
    assert "namespace" not in mutating["metadata"]
    assert mutating["webhooks"] == [
        {
            "name": "mwidget.example.com",
            "clientConfig": {
                "service": {"namespace": NS, "name": SVC, "path": "/mutate-widget", "port": 443},
                "caBundle": b64(b"the CA"),
            },
            "rules": RULES,
            "failurePolicy": "Fail",
            "matchPolicy": "Equivalent",
            "objectSelector": {"matchLabels": {"mutate": "yes"}},
            "sideEffects": "None",
            "timeoutSeconds": 10,
            "admissionReviewVersions": ["v1"],
            "reinvocationPolicy": "Never",
        }
    ]
    (hook,) = validating["webhooks"]
    assert hook["clientConfig"]["service"]["path"] == "/validate-widget"
    assert hook["clientConfig"]["service"]["port"] == 443  # the default containerPort
    assert "reinvocationPolicy" not in hook


def test_a_conversion_webhook_sets_the_listed_crds_conversion() -> None:
    (crd,) = by_kind(webhook_objects(), "CustomResourceDefinition")
    assert crd["spec"]["conversion"] == {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": {
                "service": {"namespace": NS, "name": SVC, "path": "/convert", "port": 443},
                "caBundle": b64(b"the CA"),
            },
            "conversionReviewVersions": ["v1", "v1beta1"],
        },
    }
    (plain,) = by_kind(webhook_objects(MUTATING), "CustomResourceDefinition")
    assert "conversion" not in plain["spec"]


def test_webhook_configuration_names_differ_per_namespace_and_stay_within_253_characters() -> None:
    def name(hook: dict[str, Any], namespace: str) -> str:
        (config,) = by_kind(webhook_objects(hook, namespace=namespace), "MutatingWebhookConfiguration")
        return str(config["metadata"]["name"])

    assert name(MUTATING, "a") != name(MUTATING, "b")
    long = {**MUTATING, "generateName": "m" + "x" * 250 + ".example.com"}
    assert len(name(long, NS)) <= 253
    assert name(long, NS) == name(long, NS)


def test_webhook_hosts_are_the_services_names_short_to_fully_qualified() -> None:
    bundle = make_bundle(make_csv(webhookdefinitions=HOOKS))
    assert webhook_hosts(bundle, NS) == (
        SVC,
        f"{SVC}.{NS}",
        f"{SVC}.{NS}.svc",
        f"{SVC}.{NS}.svc.cluster.local",
    )
    assert webhook_hosts(make_bundle(), NS) == ()


def test_a_bundle_with_webhooks_needs_a_certificate_but_check_bundle_does_not() -> None:
    bundle = make_bundle(make_csv(webhookdefinitions=[VALIDATING]))
    with pytest.raises(OLMError, match=r"bundle widgets\.v1\.0\.0: .*need a serving certificate"):
        bundle_objects(bundle, NS)
    check_bundle(bundle, NS)
    assert bundle_objects(make_bundle(), NS) == bundle_objects(make_bundle(), NS, CERT)


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        ({**VALIDATING, "type": "APIServiceWebhook"}, "type 'APIServiceWebhook' is not one of"),
        ({**VALIDATING, "generateName": ""}, "needs a generateName"),
        ({**VALIDATING, "deploymentName": "other"}, "deploymentName 'other' is not a deployment of the CSV"),
        ({**CONVERSION, "conversionCRDs": []}, "a ConversionWebhook needs conversionCRDs"),
        ({**CONVERSION, "conversionCRDs": ["gadgets.example.com"]}, "gadgets.example.com are not CRDs"),
        ({**VALIDATING, "rules": [{**RULES[0], "apiGroups": ["*"]}]}, "may not match every API group"),
        ({**VALIDATING, "rules": [{**RULES[0], "apiGroups": ["operators.coreos.com"]}]}, "OLM's API groups"),
        (
            {**VALIDATING, "rules": [{"apiGroups": ["admissionregistration.k8s.io"], "resources": ["*"]}]},
            "may not match webhook configurations",
        ),
    ],
    ids=["type", "no-name", "deployment", "no-crds", "foreign-crd", "all-groups", "olm", "webhook-configs"],
)
def test_webhook_definitions_kubeloop_cannot_install_are_refused_naming_bundle_and_webhook(
    hook: dict[str, Any], message: str
) -> None:
    with pytest.raises(OLMError) as err:
        webhook_objects(hook)
    assert message in str(err.value)
    assert str(err.value).startswith("bundle widgets.v1.0.0: webhook ")


def test_two_webhooks_of_one_type_and_name_are_refused() -> None:
    with pytest.raises(OLMError, match="unique among its type"):
        webhook_objects(VALIDATING, VALIDATING)


def test_one_container_port_with_two_target_ports_is_refused() -> None:
    with pytest.raises(OLMError, match="webhook port 443 of widget-operator has two target ports"):
        webhook_objects(MUTATING, {**VALIDATING, "targetPort": 8443})


def test_a_webhook_deployment_without_match_labels_is_refused() -> None:
    csv = make_csv(webhookdefinitions=[VALIDATING])
    del install_spec(csv)["deployments"][0]["spec"]["selector"]
    with pytest.raises(OLMError, match="deployment widget-operator serves webhooks but has no matchLabels"):
        bundle_objects(make_bundle(csv), NS, CERT)


# -- the serving certificate --------------------------------------------------------------------------

HOSTS = ("svc", "svc.ns", "svc.ns.svc", "svc.ns.svc.cluster.local")
SOON = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)


def test_an_issued_certificate_serves_its_hosts_and_round_trips_through_its_secret() -> None:
    cert = ServingCertificate.issue(HOSTS)
    assert cert.serves(HOSTS, SOON)
    assert ServingCertificate.from_secret({"data": cert.secret_data()}) == cert


def test_a_certificate_for_other_hosts_expiring_or_of_another_ca_does_not_serve() -> None:
    cert = ServingCertificate.issue(HOSTS)
    assert not cert.serves(HOSTS[:3], SOON)
    assert not cert.serves((*HOSTS, "other"), SOON)
    assert not cert.serves(HOSTS, SOON + dt.timedelta(days=365))
    other = ServingCertificate.issue(HOSTS)
    assert not ServingCertificate(other.ca_pem, cert.cert_pem, cert.key_pem).serves(HOSTS, SOON)
    assert not CERT.serves(HOSTS, SOON)  # not PEM at all


def test_a_certificate_is_due_for_renewal_at_two_thirds_of_its_lifetime() -> None:
    now = dt.datetime.now(dt.UTC)
    cert = ServingCertificate.issue(HOSTS, lifetime=dt.timedelta(hours=3))
    assert now + dt.timedelta(minutes=115) < cert.renew_at() < now + dt.timedelta(minutes=125)
    year = ServingCertificate.issue(HOSTS)
    assert now + dt.timedelta(days=243) < year.renew_at() < now + dt.timedelta(days=244)


def test_a_renewed_certificate_trusts_the_previous_ca_until_the_next_renewal() -> None:
    first = ServingCertificate.issue(HOSTS)
    second = ServingCertificate.issue(HOSTS, previous=first)
    third = ServingCertificate.issue(HOSTS, previous=second)
    assert second.serves(HOSTS, SOON)
    assert third.serves(HOSTS, SOON)
    assert second.ca_pem.endswith(first.ca_pem)  # a server still presenting `first` is trusted
    assert third.ca_pem.endswith(second.ca.public_bytes(Encoding.PEM))
    assert first.ca_pem not in third.ca_pem
    assert ServingCertificate.from_secret({"data": third.secret_data()}) == third


@pytest.mark.parametrize(
    "data", [{}, {"tls.crt": "x", "tls.key": "y"}, {"ca.crt": "!", "tls.crt": "", "tls.key": ""}]
)
def test_a_secret_without_the_three_pems_holds_no_certificate(data: dict[str, str]) -> None:
    assert ServingCertificate.from_secret({"data": data}) is None


# -- install modes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("watch", [NS, "team-a"], ids=["own-namespace", "single-namespace"])
def test_a_watch_namespace_reaches_the_pods_and_the_roles(watch: str) -> None:
    csv = make_csv(
        installModes=[
            {"type": "OwnNamespace", "supported": True},
            {"type": "SingleNamespace", "supported": True},
        ]
    )
    objects = bundle_objects(make_bundle(csv), NS, watch_namespace=watch)
    (dep,) = by_kind(objects, "Deployment")
    template = dep["spec"]["template"]
    assert template["metadata"]["annotations"]["olm.targetNamespaces"] == watch
    for container in template["spec"]["containers"]:
        assert {"name": "KUBELOOP_NAMESPACE", "value": watch} in container["env"]
    assert {r["metadata"]["namespace"] for r in by_kind(objects, "Role")} == {watch}
    for binding in by_kind(objects, "RoleBinding"):
        assert binding["metadata"]["namespace"] == watch
        assert {s["namespace"] for s in binding["subjects"]} == {NS}  # the accounts stay where they are
    assert by_kind(objects, "ClusterRole")  # cluster permissions stay cluster-wide


def test_an_install_mode_the_csv_does_not_support_is_refused_naming_what_it_supports() -> None:
    with pytest.raises(
        OLMError, match="SingleNamespace install mode \\(it supports: AllNamespaces, OwnNamespace\\)"
    ):
        bundle_objects(make_bundle(), NS, watch_namespace="team-a")
    objects = bundle_objects(make_bundle(), NS)
    (dep,) = by_kind(objects, "Deployment")
    assert dep["spec"]["template"]["metadata"]["annotations"]["olm.targetNamespaces"] == ""
    assert all("env" not in c for c in dep["spec"]["template"]["spec"]["containers"])
