"""generate_bundle on examples/appservice: the CSV field by field, the manifests kept, errors; and on
a project scaffolded with the CLI that has webhooks: the CSV's webhookdefinitions."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import semver
import yaml

from kubeloop.olm import Bundle, OLMError, ServingCertificate, bundle_objects
from kubeloop.olm._bundle import load_bundle, write_bundle
from kubeloop.olm._generate import generate_bundle

REPO = Path(__file__).parents[3]
EXAMPLE = REPO / "examples" / "appservice"
CONFIG = EXAMPLE / "config"
ACCOUNT = "appservice-operator-controller-manager"


def config(path: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((CONFIG / path).read_text()))


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return generate_bundle(EXAMPLE, version="0.1.0", channels=["alpha"])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example's PROJECT, pyproject.toml and config/ to break."""
    root = tmp_path / "project"
    shutil.copytree(CONFIG, root / "config")
    for name in ("PROJECT", "pyproject.toml"):
        shutil.copy(EXAMPLE / name, root / name)
    return root


def test_bundle_is_named_after_the_project_and_version(bundle: Bundle) -> None:
    assert (bundle.name, bundle.package, bundle.version) == (
        "appservice-operator.v0.1.0",
        "appservice-operator",
        semver.Version(0, 1, 0),
    )
    assert (bundle.channels, bundle.default_channel, bundle.image) == (("alpha",), "alpha", None)


def test_csv_metadata(bundle: Bundle) -> None:
    csv = bundle.csv
    assert csv["apiVersion"] == "operators.coreos.com/v1alpha1"
    assert csv["metadata"]["name"] == "appservice-operator.v0.1.0"
    annotations = csv["metadata"]["annotations"]
    assert json.loads(annotations["alm-examples"]) == config("samples/app.example.com_v1_appservice.yaml")
    assert annotations["capabilities"] == "Basic Install"
    assert "olm.skipRange" not in annotations


def test_csv_spec_header(bundle: Bundle) -> None:
    spec = bundle.csv["spec"]
    assert spec["displayName"] == "Appservice Operator"
    assert spec["description"] == "A Kubernetes operator for example.com, built with kubeloop."
    assert spec["version"] == "0.1.0"
    assert spec["maturity"] == "alpha"
    assert "replaces" not in spec
    assert "minKubeVersion" not in spec
    assert {m["type"]: m["supported"] for m in spec["installModes"]} == {
        "OwnNamespace": False,
        "SingleNamespace": False,
        "MultiNamespace": False,
        "AllNamespaces": True,
    }


def test_csv_owns_the_projects_crd_at_its_storage_version(bundle: Bundle) -> None:
    (owned,) = bundle.csv["spec"]["customresourcedefinitions"]["owned"]
    assert {k: owned[k] for k in ("name", "version", "kind", "displayName")} == {
        "name": "appservices.app.example.com",
        "version": "v1",
        "kind": "AppService",
        "displayName": "App Service",
    }


def test_cluster_permissions_are_the_manager_roles_rules(bundle: Bundle) -> None:
    install = bundle.csv["spec"]["install"]
    assert install["strategy"] == "deployment"
    (role,) = config("rbac/role.yaml")
    assert install["spec"]["clusterPermissions"] == [{"serviceAccountName": ACCOUNT, "rules": role["rules"]}]


def test_permissions_are_the_leader_election_roles_rules(bundle: Bundle) -> None:
    (role,) = config("rbac/leader_election_role.yaml")
    assert bundle.csv["spec"]["install"]["spec"]["permissions"] == [
        {"serviceAccountName": ACCOUNT, "rules": role["rules"]}
    ]


def test_deployment_is_the_manager_with_the_prefixed_service_account(bundle: Bundle) -> None:
    (manager,) = [d for d in config("manager/manager.yaml") if d["kind"] == "Deployment"]
    expected = copy.deepcopy(manager["spec"])
    expected["template"]["spec"]["serviceAccountName"] = ACCOUNT
    assert bundle.csv["spec"]["install"]["spec"]["deployments"] == [
        {"name": ACCOUNT, "label": manager["metadata"]["labels"], "spec": expected}
    ]


def test_manifests_are_csv_crd_and_the_prefixed_metrics_service(bundle: Bundle) -> None:
    # in file-name order, as load_bundle reads them back
    assert [o["kind"] for o in bundle.objects] == [
        "CustomResourceDefinition",
        "Service",
        "ClusterServiceVersion",
    ]
    (crd,) = config("crd/bases/app.example.com_appservices.yaml")
    assert bundle.objects[0] == crd
    (service,) = config("default/metrics_service.yaml")
    del service["metadata"]["namespace"]
    service["metadata"]["name"] = "appservice-operator-controller-manager-metrics-service"
    assert bundle.objects[1] == service


def test_properties_are_the_package_and_the_crds_gvk(bundle: Bundle) -> None:
    assert bundle.properties == (
        {"type": "olm.package", "value": {"packageName": "appservice-operator", "version": "0.1.0"}},
        {"type": "olm.gvk", "value": {"group": "app.example.com", "kind": "AppService", "version": "v1"}},
    )


def test_generated_bundle_survives_write_and_load(bundle: Bundle, tmp_path: Path) -> None:
    assert load_bundle(write_bundle(bundle, tmp_path / "bundle")) == bundle


def test_options_set_image_edges_channels_and_package() -> None:
    made = generate_bundle(
        EXAMPLE,
        version="0.2.0-rc.1",
        channels=["alpha", "stable"],
        default_channel="stable",
        replaces="appservice-operator.v0.1.0",
        skip_range=">=0.0.1 <0.2.0-rc.1",
        image="quay.io/example/appservice:0.2.0",
        package="appservice",
    )
    csv = made.csv
    assert (made.name, made.package, made.channels, made.default_channel) == (
        "appservice.v0.2.0-rc.1",
        "appservice",
        ("alpha", "stable"),
        "stable",
    )
    assert csv["spec"]["replaces"] == "appservice-operator.v0.1.0"
    assert csv["metadata"]["annotations"]["olm.skipRange"] == ">=0.0.1 <0.2.0-rc.1"
    assert csv["spec"]["maturity"] == "alpha"
    (deployment,) = csv["spec"]["install"]["spec"]["deployments"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "quay.io/example/appservice:0.2.0"


def test_generation_does_not_change_the_default_image() -> None:
    made = generate_bundle(EXAMPLE, version="0.1.0", channels=["alpha"])
    (deployment,) = made.csv["spec"]["install"]["spec"]["deployments"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "controller:latest"


@pytest.mark.parametrize(
    ("version", "message"),
    [
        pytest.param("v0.1.0", "version 'v0.1.0' is not semver: drop the leading 'v'", id="leading-v"),
        pytest.param("0.1", "version '0.1' is not semver", id="short"),
    ],
)
def test_a_version_that_is_not_semver_is_refused(version: str, message: str) -> None:
    with pytest.raises(OLMError) as raised:
        generate_bundle(EXAMPLE, version=version, channels=["alpha"])
    assert str(raised.value).startswith(f"{EXAMPLE}: {message}")


def test_channels_are_checked() -> None:
    with pytest.raises(OLMError, match="a bundle needs at least one channel"):
        generate_bundle(EXAMPLE, version="0.1.0", channels=[])
    with pytest.raises(OLMError, match=r"default channel stable is not among the channels \(alpha\)"):
        generate_bundle(EXAMPLE, version="0.1.0", channels=["alpha"], default_channel="stable")


def test_a_project_without_crd_bases_is_refused(project: Path) -> None:
    shutil.rmtree(project / "config" / "crd" / "bases")
    (project / "config" / "crd" / "kustomization.yaml").write_text("resources: []\n")
    with pytest.raises(OLMError) as raised:
        generate_bundle(project, version="0.1.0", channels=["alpha"])
    assert (
        str(raised.value)
        == f"{project}/config/crd/bases: no CustomResourceDefinitions (is there an API yet?)"
    )


def test_a_project_without_a_manager_deployment_is_refused(project: Path) -> None:
    manager = project / "config" / "manager" / "manager.yaml"
    manager.write_text(yaml.safe_dump(config("manager/manager.yaml")[0]))  # the Namespace only
    with pytest.raises(OLMError) as raised:
        generate_bundle(project, version="0.1.0", channels=["alpha"])
    assert str(raised.value) == (
        f"{project}/config/default/kustomization.yaml: no Deployment among its resources "
        "(the manager, config/manager/manager.yaml)"
    )


def test_an_image_needs_a_manager_container(project: Path) -> None:
    manager = project / "config" / "manager" / "manager.yaml"
    manager.write_text(manager.read_text().replace("- name: manager", "- name: other"))
    with pytest.raises(OLMError, match="no Deployment among its resources has a container named manager"):
        generate_bundle(project, version="0.1.0", channels=["alpha"], image="x:1")


def test_a_project_without_project_file_needs_a_package(project: Path) -> None:
    (project / "PROJECT").unlink()
    with pytest.raises(OLMError) as raised:
        generate_bundle(project, version="0.1.0", channels=["alpha"])
    assert str(raised.value) == f"{project}/PROJECT: no such file; pass the package name"
    assert generate_bundle(project, version="0.1.0", channels=["alpha"], package="p").name == "p.v0.1.0"


def test_a_missing_kustomize_resource_is_named(project: Path) -> None:
    (project / "config" / "default" / "metrics_service.yaml").unlink()
    with pytest.raises(OLMError) as raised:
        generate_bundle(project, version="0.1.0", channels=["alpha"])
    assert str(raised.value) == (
        f"{project}/config/default/kustomization.yaml: resource metrics_service.yaml does not exist"
    )


def test_an_unbound_role_stays_a_manifest_and_commented_resources_are_not_taken(project: Path) -> None:
    rbac = project / "config" / "rbac"
    editor = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "appservice-editor-role"},
        "rules": [{"apiGroups": ["app.example.com"], "resources": ["appservices"], "verbs": ["get"]}],
    }
    (rbac / "editor_role.yaml").write_text(yaml.safe_dump(editor))
    kustomization = rbac / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "- editor_role.yaml\n")
    made = generate_bundle(project, version="0.1.0", channels=["alpha"])
    roles = [o for o in made.objects if o["kind"] == "ClusterRole"]
    assert [r["metadata"]["name"] for r in roles] == ["appservice-operator-appservice-editor-role"]
    assert not [o for o in made.objects if o["kind"] in ("Certificate", "ServiceMonitor", "Namespace")]


# -- webhooks ----------------------------------------------------------------------------------------


def kubeloop(root: Path, *args: str) -> None:
    env = {**os.environ, "KUBELOOP_SOURCE": str(REPO), "PYTHONPATH": str(root / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "kubeloop.cli.main", *args], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"kubeloop {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project scaffolded with the CLI: EtcdCluster v1 and v2, defaulting, validation and
    conversion webhooks on v1, manifests generated (config/webhook, the CRD's conversion patch)."""
    root = tmp_path_factory.mktemp("hooked") / "etcd"
    root.mkdir()
    api = ("--group", "etcd", "--kind", "EtcdCluster")
    kubeloop(root, "init", "--domain", "cloud.io")
    kubeloop(root, "create", "api", *api, "--version", "v1")
    kubeloop(root, "create", "api", *api, "--version", "v2", "--no-controller")
    hooks = ("--defaulting", "--programmatic-validation", "--conversion")
    kubeloop(root, "create", "webhook", *api, "--version", "v1", *hooks)
    kubeloop(root, "generate", "all", "etcd.operator:operator", "--root", ".")
    return root


def hooked_project(hooked: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(hooked, tmp_path / "etcd"))


DEPLOYMENT = "etcd-controller-manager"
RULE = {
    "apiGroups": ["etcd.cloud.io"],
    "apiVersions": ["v1"],
    "resources": ["etcdclusters"],
    "scope": "Namespaced",
}
SERVED = {"deploymentName": DEPLOYMENT, "containerPort": 443, "targetPort": 9443}
ADMISSION = {"admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": "Fail"}


def test_webhooks_become_the_csvs_webhookdefinitions(hooked: Path) -> None:
    made = generate_bundle(hooked, version="0.1.0", channels=["alpha"])
    assert made.csv["spec"]["webhookdefinitions"] == [
        {
            "type": "MutatingAdmissionWebhook",
            "generateName": "metcdcluster-v1.etcd.cloud.io",
            **SERVED,
            "webhookPath": "/mutate-etcd-cloud-io-v1-etcdcluster",
            **ADMISSION,
            "matchPolicy": "Equivalent",
            "rules": [{**RULE, "operations": ["CREATE", "UPDATE"]}],
            "timeoutSeconds": 10,
            "reinvocationPolicy": "Never",
        },
        {
            "type": "ValidatingAdmissionWebhook",
            "generateName": "vetcdcluster-v1.etcd.cloud.io",
            **SERVED,
            "webhookPath": "/validate-etcd-cloud-io-v1-etcdcluster",
            **ADMISSION,
            "matchPolicy": "Equivalent",
            "rules": [{**RULE, "operations": ["CREATE", "UPDATE", "DELETE"]}],
            "timeoutSeconds": 10,
        },
        {
            "type": "ConversionWebhook",
            "generateName": "cetcdcluster.etcd.cloud.io",
            **SERVED,
            "webhookPath": "/convert",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "conversionCRDs": ["etcdclusters.etcd.cloud.io"],
        },
    ]
    (deployment,) = made.csv["spec"]["install"]["spec"]["deployments"]
    assert deployment["name"] == DEPLOYMENT
    assert "webhookdefinitions" not in generate_bundle(EXAMPLE, version="0.1.0", channels=["a"]).csv["spec"]


def test_the_webhook_bundle_survives_write_and_load_and_installs(hooked: Path, tmp_path: Path) -> None:
    made = generate_bundle(hooked, version="0.1.0", channels=["alpha"])
    assert load_bundle(write_bundle(made, tmp_path / "bundle")) == made
    kinds = [o["kind"] for o in bundle_objects(made, "ns", ServingCertificate(b"ca", b"crt", b"key"))]
    assert kinds[-3:] == ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "Secret"]


def test_with_the_webhook_and_certmanager_enabled_in_config_default_the_bundle_is_the_same(
    hooked: Path, tmp_path: Path
) -> None:
    copy = hooked_project(hooked, tmp_path)
    default = copy / "config" / "default" / "kustomization.yaml"
    text = default.read_text()
    for line in ("#- ../webhook", "#- ../certmanager", "#patches:", "#- path: manager_webhook_patch.yaml"):
        assert line in text
        text = text.replace(line, line[1:])
    default.write_text(text)
    enabled = generate_bundle(copy, version="0.1.0", channels=["alpha"])
    assert enabled == generate_bundle(hooked, version="0.1.0", channels=["alpha"])
    kinds = sorted(o["kind"] for o in enabled.objects)
    assert kinds == ["ClusterServiceVersion", "CustomResourceDefinition", "Service"]  # the metrics Service


def test_without_a_conversion_patch_there_is_no_conversion_webhook(hooked: Path, tmp_path: Path) -> None:
    copy = hooked_project(hooked, tmp_path)
    (copy / "config" / "crd" / "kustomization.yaml").write_text(
        "resources:\n- bases/etcd.cloud.io_etcdclusters.yaml\n"
    )
    hooks = generate_bundle(copy, version="0.1.0", channels=["alpha"]).csv["spec"]["webhookdefinitions"]
    assert [h["type"] for h in hooks] == ["MutatingAdmissionWebhook", "ValidatingAdmissionWebhook"]


def test_the_webhook_services_target_port_and_selector_are_followed(hooked: Path, tmp_path: Path) -> None:
    copy = hooked_project(hooked, tmp_path)
    service = copy / "config" / "webhook" / "service.yaml"
    service.write_text(service.read_text().replace("targetPort: 9443", "targetPort: 8443"))
    hooks = generate_bundle(copy, version="0.1.0", channels=["alpha"]).csv["spec"]["webhookdefinitions"]
    assert {h["targetPort"] for h in hooks} == {8443}
    manager = copy / "config" / "manager" / "manager.yaml"
    manager.write_text(manager.read_text().replace("- name: manager", "- name: other"))
    service.write_text(
        service.read_text().replace("control-plane: controller-manager", "control-plane: none")
    )
    with pytest.raises(OLMError, match="cannot tell which Deployment serves Service webhook-service"):
        generate_bundle(copy, version="0.1.0", channels=["alpha"])


def test_a_webhook_served_at_a_url_is_refused(hooked: Path, tmp_path: Path) -> None:
    copy = hooked_project(hooked, tmp_path)
    manifests = copy / "config" / "webhook" / "manifests.yaml"
    configs = list(yaml.safe_load_all(manifests.read_text()))
    configs[0]["webhooks"][0]["clientConfig"] = {"url": "https://example.com/mutate"}
    manifests.write_text(yaml.safe_dump_all(configs))
    with pytest.raises(
        OLMError, match=r"webhook metcdcluster-v1\.etcd\.cloud\.io is not served by a Service"
    ):
        generate_bundle(copy, version="0.1.0", channels=["alpha"])
