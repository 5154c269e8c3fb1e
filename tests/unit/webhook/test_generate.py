"""``kubeloop generate webhook``: webhook configurations and CRD conversion patches under config/."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubeloop.cli.generate import generate

OPERATOR = textwrap.dedent(
    """
    import kubeloop as kl
    from kubeloop import crd
    from kubeloop.resources import core_v1

    class Spec(crd.Model):
        size: int = 1

    @crd.resource(group="gen.example.com", version="v1")
    class Gadget(crd.CustomResource):
        spec: Spec

    @crd.resource(group="gen.example.com", version="v2", kind="Gadget", storage=False)
    class GadgetV2(crd.CustomResource):
        spec: Spec

    operator = kl.Operator("gen")

    @operator.default(Gadget, failure_policy="Ignore", timeout_seconds=5,
                      object_selector={"matchLabels": {"managed": "yes"}})
    def default(obj, request): ...

    @operator.validate(Gadget, operations=("CREATE", "UPDATE", "DELETE"), side_effects="NoneOnDryRun")
    def validate(obj, request): ...

    @operator.validate(core_v1.Pod, namespace_selector={"matchLabels": {"team": "a"}})
    def validate_pod(obj, request): ...

    @operator.convert(Gadget, GadgetV2)
    def up(obj): ...

    @operator.convert(GadgetV2, Gadget)
    def down(obj): ...
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "genop.py").write_text(OPERATOR)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config" / "crd").mkdir(parents=True)
    (tmp_path / "config" / "crd" / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- bases/x.yaml\n"
    )
    result = CliRunner().invoke(generate, ["webhook", "genop:operator", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_mutating_and_validating_configurations_carry_the_declared_settings(project: Path) -> None:
    mutating, validating = yaml.safe_load_all((project / "config/webhook/manifests.yaml").read_text())
    assert mutating["kind"] == "MutatingWebhookConfiguration"
    assert mutating["metadata"]["annotations"] == {"cert-manager.io/inject-ca-from": "system/serving-cert"}
    [m] = mutating["webhooks"]
    assert m["name"] == "mgadget-v1.gen.example.com"
    assert m["clientConfig"] == {
        "service": {
            "name": "webhook-service",
            "namespace": "system",
            "path": "/mutate-gen-example-com-v1-gadget",
        }
    }
    assert m["failurePolicy"] == "Ignore"
    assert m["timeoutSeconds"] == 5
    assert m["sideEffects"] == "None"
    assert m["objectSelector"] == {"matchLabels": {"managed": "yes"}}
    assert m["rules"] == [
        {
            "apiGroups": ["gen.example.com"],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["gadgets"],
            "scope": "Namespaced",
        }
    ]
    assert validating["kind"] == "ValidatingWebhookConfiguration"
    gadget, pod = validating["webhooks"]
    assert gadget["rules"][0]["operations"] == ["CREATE", "UPDATE", "DELETE"]
    assert gadget["sideEffects"] == "NoneOnDryRun"
    assert pod["name"] == "vpod-v1.core.k8s.io"
    assert pod["clientConfig"]["service"]["path"] == "/validate-core-v1-pod"
    assert pod["rules"][0]["apiGroups"] == [""]
    assert pod["rules"][0]["resources"] == ["pods"]
    assert pod["namespaceSelector"] == {"matchLabels": {"team": "a"}}


def test_the_webhook_kustomization_lists_the_manifests_and_the_service(project: Path) -> None:
    kustomization = yaml.safe_load((project / "config/webhook/kustomization.yaml").read_text())
    assert kustomization["resources"] == ["manifests.yaml", "service.yaml"]
    service = yaml.safe_load((project / "config/webhook/service.yaml").read_text())
    assert service["spec"]["ports"][0]["targetPort"] == 9443


def test_a_conversion_patch_is_written_and_listed_in_the_crd_kustomization(project: Path) -> None:
    patch = yaml.safe_load((project / "config/crd/patches/webhook_in_gadgets.yaml").read_text())
    assert patch["metadata"]["name"] == "gadgets.gen.example.com"
    assert patch["spec"]["conversion"] == {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": {
                "service": {"name": "webhook-service", "namespace": "system", "path": "/convert"}
            },
            "conversionReviewVersions": ["v1"],
        },
    }
    kustomization = yaml.safe_load((project / "config/crd/kustomization.yaml").read_text())
    assert kustomization["resources"] == ["bases/x.yaml"]
    assert kustomization["patches"] == [{"path": "patches/webhook_in_gadgets.yaml"}]


def test_generating_twice_lists_each_entry_once(project: Path) -> None:
    result = CliRunner().invoke(generate, ["webhook", "genop:operator", "--root", str(project)])
    assert result.exit_code == 0, result.output
    kustomization = yaml.safe_load((project / "config/crd/kustomization.yaml").read_text())
    assert kustomization["patches"] == [{"path": "patches/webhook_in_gadgets.yaml"}]
    webhook_kustomization = yaml.safe_load((project / "config/webhook/kustomization.yaml").read_text())
    assert webhook_kustomization["resources"] == ["manifests.yaml", "service.yaml"]
