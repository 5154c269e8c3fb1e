"""The watches file in operator-sdk's format (defaults, paths, errors) and the extra vars of a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.ansible import WatchesError, extra_vars, load_watches, parse_duration, to_snake
from kubeloop.gvk import GroupVersionKind


def project(tmp_path: Path, watches: str) -> Path:
    (tmp_path / "roles" / "memcached" / "tasks").mkdir(parents=True)
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "cleanup.yml").write_text("[]\n")
    path = tmp_path / "watches.yaml"
    path.write_text(watches)
    return path


def test_defaults_are_operator_sdks_and_paths_resolve_next_to_the_file(tmp_path: Path) -> None:
    path = project(
        tmp_path, "- {group: cache.example.com, version: v1alpha1, kind: Memcached, role: memcached}\n"
    )
    (watch,) = load_watches(path)
    assert watch.gvk == GroupVersionKind("cache.example.com", "v1alpha1", "Memcached")
    assert watch.role == tmp_path / "roles" / "memcached"
    assert watch.playbook is None
    assert (watch.manage_status, watch.watch_dependent_resources, watch.watch_cluster_scoped_resources) == (
        True,
        True,
        False,
    )
    assert (watch.max_runner_artifacts, watch.reconcile_period, watch.snake_case_parameters) == (
        20,
        0.0,
        True,
    )
    assert watch.finalizer is None


def test_every_key_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMCACHED_PERIOD", "1m30s")
    path = project(
        tmp_path,
        """
- group: cache.example.com
  version: v1alpha1
  kind: Memcached
  role: memcached
  vars: {state: present}
  reconcilePeriod: ${MEMCACHED_PERIOD}
  manageStatus: false
  watchDependentResources: false
  watchClusterScopedResources: true
  snakeCaseParameters: false
  maxRunnerArtifacts: 3
  runTimeout: 45s
  finalizer: {name: cache.example.com/finalizer, playbook: playbooks/cleanup.yml, vars: {state: absent}}
  rbac: [{apiGroups: [apps], resources: [deployments], verbs: [get]}]
""",
    )
    (w,) = load_watches(path)
    assert w.vars == {"state": "present"}
    assert w.reconcile_period == 90.0
    assert not w.manage_status
    assert not w.watch_dependent_resources
    assert w.watch_cluster_scoped_resources
    assert not w.snake_case_parameters
    assert (w.max_runner_artifacts, w.run_timeout) == (3, 45.0)
    assert w.finalizer is not None
    assert w.finalizer.name == "cache.example.com/finalizer"
    assert w.finalizer.playbook == tmp_path / "playbooks" / "cleanup.yml"
    assert w.finalizer.vars == {"state": "absent"}
    assert list(w.rbac) == [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}]


@pytest.mark.parametrize(
    ("watches", "message"),
    [
        ("- {group: g, kind: K, role: memcached}", "version must not be empty"),
        ("- {group: g, version: v1, role: memcached}", "kind must not be empty"),
        ("- {group: g, version: v1, kind: K}", "must specify role or playbook"),
        ("- {group: g, version: v1, kind: K, role: nothere}", "role: nothere was not found"),
        ("- {group: g, version: v1, kind: K, playbook: nothere.yml}", "nothere.yml was not found"),
        (
            "- {group: g, version: v1, kind: K, role: memcached, finalizer: {role: memcached}}",
            "finalizer must have a name",
        ),
        (
            "- {group: g, version: v1, kind: K, role: memcached, reconcilePeriod: soon}",
            "not a duration: 'soon'",
        ),
        (
            "- {group: g, version: v1, kind: K, role: memcached}\n"
            "- {group: g, version: v1, kind: K, role: memcached}",
            "duplicate GVK",
        ),
        ("{group: g}", "expected a list of watches"),
    ],
)
def test_a_bad_watches_file_names_the_file_the_entry_and_the_problem(
    tmp_path: Path, watches: str, message: str
) -> None:
    path = project(tmp_path, watches)
    with pytest.raises(WatchesError) as info:
        load_watches(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_durations_are_go_durations() -> None:
    assert [parse_duration(d) for d in ("0", "30s", "1m30s", "1h", "500ms", 12)] == [0, 30, 90, 3600, 0.5, 12]


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("size", "size"),
        ("nodePort", "node_port"),
        ("HTTPServer", "http_server"),
        ("targetPortV2", "target_port_v2"),
    ],
)
def test_keys_are_snake_cased(name: str, snake: str) -> None:
    assert to_snake(name) == snake


def test_extra_vars_are_operator_sdks() -> None:
    obj = {
        "apiVersion": "app.example.com/v1",
        "kind": "AppService",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"size": 2, "ports": [{"targetPort": 80, "nodePort": 30002}]},
    }
    params = extra_vars(obj, variables={"state": "present"})
    assert params["size"] == 2
    assert params["ports"] == [{"target_port": 80, "node_port": 30002}]
    assert params["ansible_operator_meta"] == {"name": "web", "namespace": "prod"}
    assert params["_app_example_com_appservice"] == obj
    assert params["_app_example_com_appservice_spec"] == obj["spec"]
    assert params["state"] == "present"
    assert extra_vars(obj, snake_case=False)["ports"] == [{"targetPort": 80, "nodePort": 30002}]


EXAMPLE = Path(__file__).parents[3] / "examples/appservice-ansible/watches.yaml"


def test_max_concurrent_reconciles_is_per_kind_and_the_environment_overrides_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kubeloop.ansible import AnsibleOperator

    def workers() -> int:
        (registration,) = AnsibleOperator(EXAMPLE, max_concurrent_reconciles=3)._registrations
        return registration.options.max_concurrent_reconciles

    assert workers() == 3
    monkeypatch.setenv("MAX_CONCURRENT_RECONCILES_APPSERVICE_APP_EXAMPLE_COM", "5")
    assert workers() == 5
