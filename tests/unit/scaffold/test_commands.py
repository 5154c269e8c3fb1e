"""`kubeloop init`, `create api` and `create webhook` through the CLI: the files they write, the
generated code importing and declaring what it should, re-runs, refusals and bad input."""

from __future__ import annotations

import importlib
import sys
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from kubeloop.cli.main import cli
from kubeloop.scaffold import custom_resources


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty directory with a unique name (so its package imports fresh), as the cwd."""
    root = tmp_path / f"op-{uuid.uuid4().hex[:8]}"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.delenv("KUBELOOP_SOURCE", raising=False)
    yield root
    package = root.name.replace("-", "_")
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def import_package(root: Path, module: str) -> object:
    sys.path.insert(0, str(root / "src"))
    try:
        return importlib.import_module(f"{root.name.replace('-', '_')}.{module}")
    finally:
        sys.path.remove(str(root / "src"))


API = ("create", "api", "--group", "etcd", "--version", "v1", "--kind", "EtcdCluster")


def test_init_writes_a_project_whose_files_parse(project: Path) -> None:
    ok("init", "--domain", "cloud.io")
    package = project.name.replace("-", "_")
    for path in (
        "pyproject.toml",
        "Makefile",
        "Dockerfile",
        "README.md",
        "PROJECT",
        f"src/{package}/__main__.py",
        f"src/{package}/operator.py",
        f"src/{package}/controllers/__init__.py",
        "tests/conftest.py",
        "tests/test_operator.py",
        "config/rbac/role.yaml",
    ):
        assert (project / path).is_file(), path
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    # The kubeloop running these tests is this checkout, installed editable: the project uses it too.
    checkout = Path(__file__).parents[3].resolve()
    assert pyproject["project"]["dependencies"][0] == f"kubeloop @ {checkout.as_uri()}"
    assert f"KUBELOOP_SOURCE ?= {checkout}" in (project / "Makefile").read_text()
    assert pyproject["project"]["scripts"] == {project.name: f"{package}.__main__:main"}
    for path in project.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")
    for path in (project / "config").rglob("*.yaml"):
        list(yaml.safe_load_all(path.read_text()))
    for sub in ("crd", "rbac", "manager", "default", "samples", "webhook", "certmanager", "prometheus"):
        assert (project / "config" / sub / "kustomization.yaml").is_file(), sub
    recorded = yaml.safe_load((project / "PROJECT").read_text())
    assert recorded == {
        "domain": "cloud.io",
        "layout": "kubeloop/v1",
        "projectName": project.name,
        "package": package,
        "namespace": f"{project.name}-system",
        "resources": [],
    }


def assert_runs_sharded(manager: str) -> None:
    """``manager`` (a manager.yaml) runs 3 sharded replicas, each named after its pod, one at a time
    disrupted."""
    docs = list(yaml.safe_load_all(manager))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    budget = next(d for d in docs if d["kind"] == "PodDisruptionBudget")
    assert deployment["spec"]["replicas"] == 3
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--shards=auto" in container["args"]
    assert "--leader-elect" not in container["args"]
    identity = container["env"][0]
    assert identity["name"] == "KUBELOOP_SHARD_IDENTITY"
    assert identity["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]


def test_init_sharded_makes_an_operator_whose_replicas_share_the_objects(project: Path) -> None:
    ok("init", "--domain", "cloud.io", "--sharded")
    operator = import_package(project, "operator").operator  # type: ignore[attr-defined]
    assert operator.sharding is not None
    assert_runs_sharded((project / "config" / "manager" / "manager.yaml").read_text())
    role = yaml.safe_load((project / "config" / "rbac" / "leader_election_role.yaml").read_text())
    assert "list" in role["rules"][0]["verbs"]


def test_generate_makes_the_manager_follow_the_operator_into_sharding_and_out_keeping_edits(
    project: Path,
) -> None:
    ok("init", "--domain", "cloud.io")
    package = project.name.replace("-", "_")
    source, manager = project / "src" / package / "operator.py", project / "config/manager/manager.yaml"
    target = f"{package}.operator:operator"
    unsharded = manager.read_text()
    assert "--leader-elect" in unsharded

    def declare(sharding: bool) -> None:
        text = source.read_text().replace(", sharding=True)", ")")
        if sharding:
            text = text.replace(
                f'kl.Operator("{project.name}")', f'kl.Operator("{project.name}", sharding=True)'
            )
        source.write_text(text)
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]

    # Declared sharded after init: generate makes the Deployment (and RBAC) those of init --sharded.
    declare(True)
    ok("generate", "all", target)
    assert_runs_sharded(manager.read_text())
    role = yaml.safe_load((project / "config" / "rbac" / "leader_election_role.yaml").read_text())
    assert "list" in role["rules"][0]["verbs"]
    sharded = manager.read_text()

    # Edited (a limit raised), still sharded: the user's file, kept.
    edited = sharded.replace("cpu: 500m", "cpu: '2'")
    manager.write_text(edited)
    ok("generate", "manager", target)
    assert manager.read_text() == edited

    # Back to one leader with the edit in: refused, naming what to change; the file as it was, and
    # by `all` nothing written at all (its RBAC would lose the sharded Leases' list).
    declare(False)
    result = run("generate", "manager", target)
    assert result.exit_code != 0
    assert "declared without sharding" in result.output
    assert "--leader-elect" in result.output
    assert manager.read_text() == edited
    before = snapshot(project)
    result = run("generate", "all", target)
    assert result.exit_code != 0
    assert "declared without sharding" in result.output
    assert snapshot(project) == before

    # The edit undone: generate writes the one-leader Deployment init wrote.
    manager.write_text(sharded)
    ok("generate", "manager", target)
    assert manager.read_text() == unsharded


def test_init_options_name_the_project_and_its_namespace(project: Path) -> None:
    ok("init", "--domain", "cloud.io", "--project-name", "etcd-operator", "--namespace", "etcd")
    assert (project / "src" / "etcd_operator" / "operator.py").is_file()
    assert 'kl.Operator("etcd-operator")' in (project / "src/etcd_operator/operator.py").read_text()
    default = yaml.safe_load((project / "config/default/kustomization.yaml").read_text())
    assert (default["namespace"], default["namePrefix"]) == ("etcd", "etcd-operator-")


def test_kubeloop_source_makes_the_dependency_this_checkout(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = Path(__file__).parents[3]
    monkeypatch.setenv("KUBELOOP_SOURCE", str(checkout))
    ok("init", "--domain", "cloud.io")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["dependencies"] == [f"kubeloop @ {checkout.resolve().as_uri()}"]
    assert pyproject["tool"]["hatch"]["metadata"]["allow-direct-references"] is True
    assert f"KUBELOOP_SOURCE ?= {checkout.resolve()}" in (project / "Makefile").read_text()


def test_the_manager_entry_point_is_kubeloop_run_with_its_flags(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("init", "--domain", "cloud.io")
    main = import_package(project, "__main__")
    monkeypatch.setattr(sys, "argv", [project.name, "--help"])
    with pytest.raises(SystemExit) as exited:
        main.main()  # type: ignore[attr-defined]
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert f"Usage: {project.name}" in out
    for flag in (
        "--kubeconfig",
        "--leader-elect",
        "--metrics-bind-address",
        "--health-probe-bind-address",
        "--namespace",
        "--log-level",
    ):
        assert flag in out


def test_init_refuses_an_invalid_domain_and_writes_nothing(project: Path) -> None:
    result = run("init", "--domain", "Cloud_IO")
    assert result.exit_code != 0
    assert "DNS-1123 subdomain" in result.output
    assert snapshot(project) == {}


def test_rerunning_init_writes_nothing_and_restores_a_deleted_file(project: Path) -> None:
    ok("init", "--domain", "cloud.io")
    before = snapshot(project)
    assert "nothing to do" in ok("init", "--domain", "cloud.io").output
    (project / "Dockerfile").unlink()
    assert "created Dockerfile" in ok("init", "--domain", "cloud.io").output
    assert snapshot(project) == before


def test_rerunning_init_over_edited_files_refuses_names_them_and_writes_nothing(project: Path) -> None:
    ok("init", "--domain", "cloud.io")
    (project / "Makefile").write_text("# mine\n")
    (project / "README.md").write_text("# mine\n")
    (project / "Dockerfile").unlink()
    before = snapshot(project)
    result = run("init", "--domain", "cloud.io")
    assert result.exit_code == 1
    assert "Makefile: exists with other content" in result.output
    assert "README.md: exists with other content" in result.output
    assert snapshot(project) == before


def test_init_in_another_projects_directory_is_refused(project: Path) -> None:
    ok("init", "--domain", "cloud.io")
    result = run("init", "--domain", "other.io")
    assert result.exit_code == 1
    assert "already says domain 'cloud.io'" in result.output


def test_create_api_adds_model_controller_sample_test_and_registers_them(project: Path) -> None:
    ok("init", "--domain", "cloud.io")
    ok(*API)
    package = project.name.replace("-", "_")
    assert (project / f"src/{package}/api/etcd_v1.py").is_file()
    assert (project / f"src/{package}/controllers/etcdcluster.py").is_file()
    assert (project / "tests/test_etcdcluster.py").is_file()
    sample = yaml.safe_load((project / "config/samples/etcd.cloud.io_v1_etcdcluster.yaml").read_text())
    assert (sample["apiVersion"], sample["kind"]) == ("etcd.cloud.io/v1", "EtcdCluster")
    samples = yaml.safe_load((project / "config/samples/kustomization.yaml").read_text())
    assert samples["resources"] == ["etcd.cloud.io_v1_etcdcluster.yaml"]
    assert (
        f"from {package}.controllers import etcdcluster  # noqa: F401\n# +kubeloop:scaffold:controllers"
        in (project / f"src/{package}/controllers/__init__.py").read_text()
    )
    operator = import_package(project, "operator").operator  # type: ignore[attr-defined]
    assert [primary.kind for primary, _, _ in operator.kinds] == ["EtcdCluster"]
    infos = [model.resource_info() for model in custom_resources(operator)]
    assert [(i.crd_name, i.scope) for i in infos] == [("etcdclusters.etcd.cloud.io", "Namespaced")]
    resources = yaml.safe_load((project / "PROJECT").read_text())["resources"]
    assert resources == [
        {
            "group": "etcd",
            "version": "v1",
            "kind": "EtcdCluster",
            "domain": "cloud.io",
            "plural": "etcdclusters",
            "api": {"crdVersion": "v1", "namespaced": True},
            "controller": True,
        }
    ]


def test_a_second_kind_of_the_group_version_joins_the_same_module_cluster_scoped(project: Path) -> None:
    ok("init", "--domain", "cloud.io")
    ok(*API)
    ok("create", "api", "--group", "etcd", "--version", "v1", "--kind", "EtcdBackup", "--cluster")
    package = project.name.replace("-", "_")
    module = (project / f"src/{package}/api/etcd_v1.py").read_text()
    assert (
        module.index("class EtcdCluster(")
        < module.index("class EtcdBackup(")
        < module.index("# +kubeloop:scaffold:kinds")
    )
    operator = import_package(project, "operator").operator  # type: ignore[attr-defined]
    scopes = {m.resource_info().crd_name: m.resource_info().scope for m in custom_resources(operator)}
    assert scopes == {"etcdclusters.etcd.cloud.io": "Namespaced", "etcdbackups.etcd.cloud.io": "Cluster"}
    assert "nothing to do" in ok("init", "--domain", "cloud.io").output


def test_a_resource_without_controller_then_its_controller(project: Path) -> None:
    ok("init", "--domain", "cloud.io")
    ok(*API, "--no-controller")
    package = project.name.replace("-", "_")
    assert not (project / f"src/{package}/controllers/etcdcluster.py").exists()
    ok(*API, "--no-resource")
    assert (project / f"src/{package}/controllers/etcdcluster.py").is_file()
    assert yaml.safe_load((project / "PROJECT").read_text())["resources"][0]["controller"] is True


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        (("--group", "Etcd", "--version", "v1", "--kind", "EtcdCluster"), "DNS-1123 subdomain"),
        (("--group", "etcd", "--version", "1", "--kind", "EtcdCluster"), "must look like v1"),
        (("--group", "etcd", "--version", "v1", "--kind", "etcdCluster"), "UpperCamelCase"),
    ],
    ids=["group", "version", "kind"],
)
def test_create_api_refuses_bad_names_and_writes_nothing(
    project: Path, args: tuple[str, ...], rule: str
) -> None:
    ok("init", "--domain", "cloud.io")
    before = snapshot(project)
    result = run("create", "api", *args)
    assert result.exit_code == 1
    assert rule in result.output
    assert snapshot(project) == before


def test_create_api_of_an_existing_kind_is_refused_and_writes_nothing(project: Path) -> None:
    ok("init", "--domain", "cloud.io")
    ok(*API)
    before = snapshot(project)
    result = run(*API)
    assert result.exit_code == 1
    assert "kind EtcdCluster of etcd.cloud.io/v1 already exists" in result.output
    assert snapshot(project) == before


def test_create_api_outside_a_project_is_refused_and_writes_nothing(project: Path) -> None:
    result = run(*API)
    assert result.exit_code == 1
    assert "not inside a kubeloop project: no PROJECT file" in result.output
    assert snapshot(project) == {}


def test_create_api_over_an_edited_file_in_its_way_names_it_and_writes_nothing(project: Path) -> None:
    ok("init", "--domain", "cloud.io")
    (project / "tests" / "test_etcdcluster.py").write_text("# a test of mine\n")
    before = snapshot(project)
    result = run(*API)
    assert result.exit_code == 1
    assert "tests/test_etcdcluster.py: exists with other content" in result.output
    assert snapshot(project) == before


def test_create_api_when_the_controllers_marker_was_removed_is_refused(project: Path) -> None:
    ok("init", "--domain", "cloud.io")
    init = project / "src" / project.name.replace("-", "_") / "controllers" / "__init__.py"
    init.write_text('"""No marker."""\n')
    before = snapshot(project)
    result = run(*API)
    assert result.exit_code == 1
    assert "+kubeloop:scaffold:controllers` is missing" in result.output
    assert snapshot(project) == before


def test_user_edits_of_the_controllers_module_survive_the_next_create_api(project: Path) -> None:
    ok("init", "--domain", "cloud.io")
    package = project.name.replace("-", "_")
    init = project / "src" / package / "controllers" / "__init__.py"
    init.write_text(init.read_text().replace('"""\n\n', '"""\n\nimport logging  # mine\n\n', 1))
    ok(*API)
    text = init.read_text()
    assert "import logging  # mine" in text
    assert f"from {package}.controllers import etcdcluster" in text


WEBHOOK = ("create", "webhook", "--group", "etcd", "--version", "v1", "--kind", "EtcdCluster")


def test_create_webhook_registers_stubs_and_generate_writes_their_configurations(project: Path) -> None:
    ok("init", "--domain", "cloud.io")
    ok(*API)
    result = ok(*WEBHOOK, "--defaulting", "--programmatic-validation")
    assert "make manifests" in result.output
    ok(*WEBHOOK, "--conversion")
    assert not (project / "config/webhook/manifests.yaml").exists()  # generate's file, not create's
    package = project.name.replace("-", "_")
    operator = import_package(project, "operator").operator  # type: ignore[attr-defined]
    assert sorted((w.type, w.path) for w in operator.webhooks) == [
        ("mutating", "/mutate-etcd-cloud-io-v1-etcdcluster"),
        ("validating", "/validate-etcd-cloud-io-v1-etcdcluster"),
    ]
    validating = next(w for w in operator.webhooks if w.type == "validating")
    assert set(validating.options.operations) == {"CREATE", "UPDATE", "DELETE"}
    assert not operator.conversions  # one version only: the conversion stub is a commented example
    hooks = import_package(project, "webhooks.etcdcluster_v1")
    assert hooks.RESOURCE.crd_name == "etcdclusters.etcd.cloud.io"  # type: ignore[attr-defined]
    assert (
        "@operator.convert(EtcdCluster, EtcdClusterV2)"
        in (project / "src" / package / "webhooks" / "etcdcluster_v1.py").read_text()
    )

    ok("generate", "all", f"{package}.operator:operator")
    docs = list(yaml.safe_load_all((project / "config/webhook/manifests.yaml").read_text()))
    paths = {d["kind"]: d["webhooks"][0]["clientConfig"]["service"]["path"] for d in docs}
    assert paths == {
        "MutatingWebhookConfiguration": "/mutate-etcd-cloud-io-v1-etcdcluster",
        "ValidatingWebhookConfiguration": "/validate-etcd-cloud-io-v1-etcdcluster",
    }
    kustomization = yaml.safe_load((project / "config/webhook/kustomization.yaml").read_text())
    assert kustomization["resources"] == ["service.yaml", "manifests.yaml"]
    recorded = yaml.safe_load((project / "PROJECT").read_text())["resources"][0]["webhooks"]
    assert recorded == {"defaulting": True, "validation": True, "conversion": True, "webhookVersion": "v1"}
    # Neither overwrites the other, and init re-run over it all changes nothing.
    before = snapshot(project)
    ok("init", "--domain", "cloud.io")
    ok("generate", "all", f"{package}.operator:operator")
    assert snapshot(project) == before


def test_create_webhook_conversion_registers_steps_to_the_other_versions(project: Path) -> None:
    ok("init", "--domain", "cloud.io")
    ok(*API)
    ok("create", "api", "--group", "etcd", "--version", "v2", "--kind", "EtcdCluster", "--no-controller")
    ok(*WEBHOOK, "--conversion")
    operator = import_package(project, "operator").operator  # type: ignore[attr-defined]
    assert operator.conversions.kinds == [("etcd.cloud.io", "EtcdCluster")]
    assert sorted(operator.conversions.models("etcd.cloud.io", "EtcdCluster")) == ["v1", "v2"]
    assert not operator.webhooks


def test_create_webhook_in_a_project_whose_operator_lost_its_marker_writes_nothing(project: Path) -> None:
    ok("init", "--domain", "cloud.io")
    ok(*API)
    module = project / "src" / project.name.replace("-", "_") / "operator.py"
    module.write_text(module.read_text().replace("# +kubeloop:scaffold:imports\n", ""))
    before = snapshot(project)
    refused = run(*WEBHOOK, "--defaulting")
    assert refused.exit_code == 1
    assert "operator.py" in refused.output
    assert "+kubeloop:scaffold:imports" in refused.output
    assert snapshot(project) == before


def test_create_webhook_needs_the_resource_and_a_choice_and_refuses_repeats(project: Path) -> None:
    ok("init", "--domain", "cloud.io")
    missing = run(*WEBHOOK, "--defaulting")
    assert missing.exit_code == 1
    assert "create it first with `kubeloop create api`" in missing.output
    ok(*API)
    before = snapshot(project)
    none = run(*WEBHOOK)
    assert none.exit_code == 1
    assert "no webhook chosen" in none.output
    ok(*WEBHOOK, "--defaulting")
    after = snapshot(project)
    again = run(*WEBHOOK, "--defaulting")
    assert again.exit_code == 1
    assert "already has a defaulting webhook" in again.output
    assert snapshot(project) == after != before
