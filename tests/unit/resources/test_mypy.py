"""The types are checked by mypy (--strict): a misspelled field, a value outside an enum and a wrong
type in a Deployment are errors; reads through ``ctx``, the client and the cache are typed as the kind;
the AppService example and a freshly scaffolded project are clean. One mypy run (in process) serves
every test here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from mypy import api

from kubeloop.cli.main import cli

REPO = Path(__file__).parents[3]
EXAMPLE = REPO / "examples" / "appservice" / "src" / "appservice_operator"

WRONG = """
from kubeloop.resources import apps_v1

deployment = apps_v1.Deployment(
    metadata={"name": "web"},
    spec={
        "replicas": "3",
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "spec": {
                "containers": [
                    {"name": "a", "image": "nginx", "imagePulPolicy": "Always"},
                    {"name": "b", "image": "nginx", "imagePullPolicy": "Sometimes"},
                ]
            }
        },
    },
)
"""

TYPED = """
from typing import Any

import kubeloop as kl
from kubeloop.client import Client
from kubeloop.controller import Request
from kubeloop.resources import apps_v1, core_v1


async def reads(ctx: kl.Context, client: Client) -> None:
    reveal_type(await ctx.get(apps_v1.Deployment, "web"))
    reveal_type(await ctx.list(core_v1.Service))
    reveal_type(await ctx.get("apps/v1/Deployment", "web"))
    reveal_type(await client.get(apps_v1.Deployment, "web"))
    reveal_type((await client.list(core_v1.Pod))["items"])
    async for event in client.watch(core_v1.ConfigMap):
        reveal_type(event.object)
    deployment, service = await ctx.apply(apps_v1.Deployment(), core_v1.Service())
    reveal_type(deployment)
    reveal_type(service)
    replicas: int = (deployment.get("status") or {}).get("readyReplicas", 0)
    plain: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap"}
    (same,) = await ctx.apply(plain)
    reveal_type(same)


operator = kl.Operator("typed")


def by_data(cm: core_v1.ConfigMap) -> list[Request]:
    return [Request("", name) for name in cm.get("data", {})]


@operator.reconcile(apps_v1.Deployment, owns=[core_v1.Pod], watches=[(core_v1.ConfigMap, by_data)])
async def reconcile_deployment(deployment: apps_v1.Deployment, ctx: kl.Context) -> None:
    await ctx.prune(core_v1.Pod)
"""


def scaffold(root: Path) -> Path:
    """``kubeloop init`` + ``create api`` + ``create webhook`` in ``root``; the package directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("KUBELOOP_SOURCE", raising=False)
        runner = CliRunner()
        for command in (
            ["init", "--domain", "cloud.io"],
            ["create", "api", "--group", "etcd", "--version", "v1", "--kind", "EtcdCluster"],
            [
                "create",
                "webhook",
                "--group",
                "etcd",
                "--version",
                "v1",
                "--kind",
                "EtcdCluster",
                "--defaulting",
            ],
        ):
            result = runner.invoke(cli, command, catch_exceptions=False)
            assert result.exit_code == 0, result.output
    return root / "src" / root.name.replace("-", "_")


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """mypy's messages by file name (``wrong.py``, ``typed.py``, ``appservice``, ``scaffolded``)."""
    root = tmp_path_factory.mktemp("mypy")
    (root / "wrong.py").write_text(WRONG)
    (root / "typed.py").write_text(TYPED)
    project = root / "scaffolded-operator"
    project.mkdir()
    package = scaffold(project)
    stdout, stderr, _ = api.run(
        [
            *("--strict", "--config-file=", "--no-pretty"),
            *("--cache-dir", str(REPO / ".mypy_cache" / "tests")),
            *(str(root / "wrong.py"), str(root / "typed.py"), str(EXAMPLE), str(package)),
        ]
    )
    assert not stderr, stderr
    found: dict[str, list[str]] = {"wrong.py": [], "typed.py": [], "appservice": [], "scaffolded": []}
    for line in stdout.splitlines():
        where = next((name for name in found if name in line), None)
        if "appservice_operator" in line:
            where = "appservice"
        if "scaffolded_operator" in line:
            where = "scaffolded"
        if where is not None:
            found[where].append(line)
    return found


def test_mypy_rejects_a_misspelled_field_an_unknown_enum_value_and_a_wrong_type(
    mypy_output: dict[str, list[str]],
) -> None:
    errors = "\n".join(mypy_output["wrong.py"])
    assert re.search(r'Extra key "imagePulPolicy" for TypedDict "Container"', errors), errors
    assert re.search(r"Literal\['Sometimes'\].*imagePullPolicy", errors), errors
    assert re.search(r'"replicas" has type "int"', errors), errors
    assert len([line for line in mypy_output["wrong.py"] if ": error:" in line]) == 3


def short(revealed: str) -> str:
    """``TypedDict(kubeloop.resources.apps_v1.Deployment, {...})`` -> ``apps_v1.Deployment``."""
    out, depth = "", 0
    for char in revealed.replace("TypedDict(kubeloop.resources.", "<"):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0 and char != "}":
            out += char
    return out.replace(", )", ">").replace("<", "")


def test_reads_and_applies_are_typed_as_the_kind(mypy_output: dict[str, list[str]]) -> None:
    lines = mypy_output["typed.py"]
    assert not [line for line in lines if ": error:" in line], lines
    revealed = [
        short(line.split("Revealed type is ")[1].strip('"')) for line in lines if "Revealed type" in line
    ]
    assert revealed == [
        "apps_v1.Deployment> | None",  # ctx.get(apps_v1.Deployment)
        "list[core_v1.Service>]",  # ctx.list(core_v1.Service)
        "dict[str, Any] | None",  # a string reference stays a dict
        "apps_v1.Deployment>",  # client.get
        "list[core_v1.Pod>]",  # client.list(...)["items"]
        "core_v1.ConfigMap>",  # a watch event's object
        "apps_v1.Deployment>",  # ctx.apply, first
        "core_v1.Service>",  # ctx.apply, second
        "dict[str, Any]",  # a dict applied comes back a dict
    ]


def test_the_appservice_example_is_clean_under_strict_mypy(mypy_output: dict[str, list[str]]) -> None:
    assert mypy_output["appservice"] == []


def test_a_scaffolded_project_is_clean_under_strict_mypy(mypy_output: dict[str, list[str]]) -> None:
    assert mypy_output["scaffolded"] == []
