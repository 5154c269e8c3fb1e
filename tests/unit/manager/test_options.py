"""ManagerOptions: one object per component, built once by the CLI, the old keywords still understood."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubeloop.cache import CacheOptions, InformerOptions
from kubeloop.cli._flags import manager_options
from kubeloop.cli.run import run
from kubeloop.manager import (
    LeaderElectionOptions,
    LeaderElector,
    ManagerOptions,
    MetricsOptions,
    ProbeOptions,
    WebhookServerOptions,
)
from kubeloop.operator._legacy import from_keywords


def flags(*args: str) -> dict[str, Any]:
    """The manager flags ``kubeloop run`` parses from ``args`` (and the environment)."""
    params = dict(run.make_context("run", ["pkg.mod:operator", *args]).params)
    for own in ("target", "kubeconfig", "namespace", "log_level", "log_format"):
        params.pop(own)
    return params


def test_the_cli_defaults_are_the_options_defaults() -> None:
    assert manager_options(flags()) == ManagerOptions()


def test_the_cli_builds_every_component_from_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBELOOP_LEADER_ELECT", "true")
    monkeypatch.setenv("KUBELOOP_RENEW_DEADLINE", "20")
    options = manager_options(
        flags(
            "--lease-duration",
            "30",
            "--metrics-bind-address",
            "0",
            "--webhook-local",
            "--webhook-cert-dir",
            "/c",
        )
    )
    leader = options.leader_election
    assert leader is not None
    assert (leader.lease_duration, leader.renew_deadline, leader.retry_period) == (30.0, 20.0, 2.0)
    assert leader.lease_namespace == ""  # the manager's client namespace, decided when it runs
    assert options.metrics == MetricsOptions("0")
    assert options.probes == ProbeOptions()
    assert options.webhook_server == WebhookServerOptions(cert_dir=Path("/c"), local=True)


def test_the_lease_is_named_after_the_manager_in_the_client_namespace_unless_given() -> None:
    assert ManagerOptions(name="op").lease("ops") is None
    lease = ManagerOptions(name="op", leader_election=LeaderElectionOptions()).lease("ops")
    assert lease is not None
    assert (lease.lease_name, lease.lease_namespace) == ("op-leader", "ops")
    given = LeaderElectionOptions("mine", "elsewhere")
    assert ManagerOptions(name="op", leader_election=given).lease("ops") == given


def test_an_elector_needs_a_named_lease() -> None:
    with pytest.raises(ValueError, match="lease_name and a lease_namespace"):
        LeaderElector(object(), LeaderElectionOptions())  # type: ignore[arg-type]


def test_defaults_fill_only_what_was_left_empty() -> None:
    cache = CacheOptions(default=InformerOptions(namespace="ns"))
    assert ManagerOptions().with_defaults("op", cache) == ManagerOptions(name="op", cache=cache)
    mine = ManagerOptions(name="mine", cache=CacheOptions())
    assert mine.with_defaults("op", cache) == mine


def test_the_old_run_keywords_mean_the_same_options_with_a_warning() -> None:
    old = {
        "leader_election": True,
        "leader_election_namespace": "ops",
        "lease_duration": 6.0,
        "renew_deadline": 3.0,
        "retry_period": 0.5,
        "metrics_bind_address": "127.0.0.1:0",
        "health_probe_bind_address": "0",
        "webhook_bind_address": "127.0.0.1:0",
        "webhook_local": True,
        "graceful_shutdown_timeout": 5.0,
    }
    with pytest.deprecated_call(match=r"Operator.run\(.*leader_election=.*\) is deprecated"):
        options = from_keywords(ManagerOptions(), old)
    leader = options.leader_election
    assert leader is not None
    assert (leader.lease_namespace, leader.lease_duration, leader.renew_deadline, leader.retry_period) == (
        "ops",
        6.0,
        3.0,
        0.5,
    )
    assert options.metrics == MetricsOptions("127.0.0.1:0")
    assert options.probes == ProbeOptions("0")
    assert options.webhook_server == WebhookServerOptions(bind_address="127.0.0.1:0", local=True)
    assert options.graceful_shutdown_timeout == 5.0
    with pytest.deprecated_call():
        assert from_keywords(ManagerOptions(), {"leader_election": False}).leader_election is None
    with pytest.deprecated_call(), pytest.raises(TypeError):
        from_keywords(ManagerOptions(), {"no_such_option": 1})
