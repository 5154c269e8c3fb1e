"""``kubeloop generate webhook`` output is accepted by the real kube-apiserver: the webhook
configurations, and the CRD with its conversion patch applied by kustomize."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubeloop.cli.generate import generate
from kubeloop.testing import Kubectl

GROUP = f"whgen-{uuid.uuid4().hex[:8]}.example.com"
MODULE = f"whgen_{uuid.uuid4().hex[:8]}"

OPERATOR = textwrap.dedent(
    f"""
    import kubeloop as kl
    from kubeloop import crd

    class Spec(crd.Model):
        size: int = 1

    @crd.resource(group="{GROUP}", version="v1")
    class Gadget(crd.CustomResource):
        spec: Spec

    @crd.resource(group="{GROUP}", version="v2", kind="Gadget", storage=False)
    class GadgetV2(crd.CustomResource):
        spec: Spec

    operator = kl.Operator("whgen")

    @operator.reconcile(Gadget)
    async def reconcile(obj, ctx): ...

    @operator.default(Gadget)
    def default(obj, request): ...

    @operator.validate(Gadget)
    def validate(obj, request): ...

    @operator.convert(Gadget, GadgetV2)
    def up(obj): ...

    @operator.convert(GadgetV2, Gadget)
    def down(obj): ...
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / f"{MODULE}.py").write_text(OPERATOR)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for what in ("crd", "webhook"):
        result = CliRunner().invoke(generate, [what, f"{MODULE}:operator", "--root", str(tmp_path)])
        assert result.exit_code == 0, result.output
    sys.modules.pop(MODULE, None)
    return tmp_path


def test_generated_webhook_configurations_are_accepted_by_the_api_server(
    project: Path, kubectl: Kubectl
) -> None:
    out = kubectl("apply", "--dry-run=server", "-f", str(project / "config/webhook/manifests.yaml"))
    assert (
        "mutatingwebhookconfiguration.admissionregistration.k8s.io/mutating-webhook-configuration"
        in out.stdout
    )
    assert (
        "validatingwebhookconfiguration.admissionregistration.k8s.io/validating-webhook-configuration"
        in out.stdout
    )


def test_the_crd_with_its_conversion_patch_is_accepted_by_the_api_server(
    project: Path, kubectl: Kubectl
) -> None:
    built = kubectl("kustomize", str(project / "config/crd")).stdout
    [definition] = [d for d in yaml.safe_load_all(built) if d]
    assert definition["metadata"]["name"] == f"gadgets.{GROUP}"
    assert definition["spec"]["conversion"]["strategy"] == "Webhook"
    assert definition["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["path"] == "/convert"
    assert {v["name"] for v in definition["spec"]["versions"]} == {"v1", "v2"}
    out = kubectl("apply", "--dry-run=server", "-o", "yaml", "-f", "-", input=built)
    accepted = yaml.safe_load(out.stdout)
    assert accepted["spec"]["conversion"]["webhook"]["conversionReviewVersions"] == ["v1"]
