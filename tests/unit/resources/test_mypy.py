"""The types are checked by mypy (--strict): a misspelled field, a value outside an enum and a wrong
type in a Deployment are errors; reads through ``ctx``, the client and the cache are typed as the kind;
the AppService example, a freshly scaffolded project and the site's examples are clean. One mypy run
(in process) serves every test here."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from mypy import api

from kubeloop.cli.main import cli

REPO = Path(__file__).parents[3]
EXAMPLE = REPO / "examples" / "appservice" / "src" / "appservice_operator"
DOCS = REPO / "docs"
BLOCK = re.compile(r"^```python(?:[ \t][^\n]*)?\n(.*?)^```", re.S | re.M)

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
from widgets import Widget, WidgetSpec, WidgetStatus


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
    reveal_type(await client.apply(apps_v1.Deployment(), field_manager="typed"))
    replicas: int = (deployment.get("status") or {}).get("readyReplicas", 0)
    plain: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap"}
    (same,) = await ctx.apply(plain)
    reveal_type(same)
    reveal_type(await ctx.get(Widget, "w"))
    reveal_type(await ctx.list(Widget))
    reveal_type(await client.get(Widget, "w"))
    reveal_type((await client.list(Widget))["items"])
    async for widget_event in client.watch(Widget):
        reveal_type(widget_event.object)
    reveal_type(await client.apply(Widget(spec=WidgetSpec()), field_manager="typed"))
    reveal_type(ctx.status_as(core_v1.ServiceStatus))
    ctx.status_as(core_v1.ServiceStatus)["loadBalancer"] = {"ingress": [{"ip": "192.0.2.1"}]}


operator = kl.Operator("typed")


def by_data(cm: core_v1.ConfigMap) -> list[Request]:
    return [Request("", name) for name in cm.get("data", {})]


def by_anything(obj: dict[str, Any]) -> list[Request]:
    return [Request("", "all")]


@operator.reconcile(
    apps_v1.Deployment,
    owns=[core_v1.Pod],
    watches=[kl.Watch(core_v1.ConfigMap, by_data), kl.Watch(core_v1.Secret, by_anything)],
)
async def reconcile_deployment(deployment: apps_v1.Deployment, ctx: kl.Context) -> None:
    await ctx.prune(core_v1.Pod)


@operator.reconcile(Widget, watches=[kl.Watch(Widget, by_anything), kl.Watch("v1/Secret", by_anything)])
async def reconcile_widget(widget: Widget, ctx: kl.Context) -> kl.Result | None:
    widget.status = WidgetStatus(ready_replicas=widget.spec.size)
    widget.status.ready_replicas += 1
    return kl.Result(requeue_after=30)


@operator.reconcile("v1/ConfigMap")
async def reconcile_by_reference(config_map: dict[str, Any], ctx: kl.Context) -> None: ...


@operator.finalize(Widget)
async def cleanup_widget(widget: Widget, ctx: kl.Context) -> None: ...


reveal_type(reconcile_deployment)
reveal_type(reconcile_widget)
"""

WIDGETS = """
from kubeloop import crd


class WidgetSpec(crd.Model):
    size: int = 1


class WidgetStatus(crd.Model):
    ready_replicas: int = 0


@crd.resource(group="example.com", version="v1")
class Widget(crd.CustomResource):
    spec: WidgetSpec
    status: WidgetStatus | None = None
"""

# Each line ending in "# error: <pattern>" must draw exactly one mypy error matching the pattern, and no
# other line any: a mapper, a reconcile's object, its result and its status, typed against the kind.
MISUSED = r"""
import kubeloop as kl
from kubeloop.client import Client
from kubeloop.controller import Request
from kubeloop.resources import apps_v1, core_v1
from widgets import Widget, WidgetSpec, WidgetStatus


def by_secret(secret: core_v1.Secret) -> list[Request]:
    return [Request("", secret.get("type", ""))]


def by_widget(widget: Widget) -> list[Request]:
    return [Request("", widget.metadata.name or "")]


operator = kl.Operator("misused")
watch_config_maps = kl.Watch(core_v1.ConfigMap, by_secret)  # error: "Watch" .* "Callable\[\[Secret\]
watch_widgets = kl.Watch(Widget, by_widget)  # error: of "Watch" cannot be "Widget"


@operator.reconcile(apps_v1.Deployment)  # error: "Callable\[\[Service, .*expected "Callable\[\[Deployment
async def reconcile_deployment(service: core_v1.Service, ctx: kl.Context) -> None: ...


@operator.reconcile(Widget)  # error: Coroutine\[Any, Any, int\]\]"; expected .*Awaitable\[Result \| None\]
async def reconcile_widget(widget: Widget, ctx: kl.Context) -> int:
    widget.status = WidgetStatus(ready_replicas="3")  # error: "ready_replicas" .* "str"; expected "int"
    widget.status = WidgetStatus(readyReplica=3)  # error: Unexpected keyword argument "readyReplica"
    return 1


@operator.reconcile(Widget)
async def reconcile_widget_status(widget: Widget, ctx: kl.Context) -> None:
    if widget.status is not None:
        widget.status.ready_replicas = "all"  # error: Incompatible types in assignment


@operator.finalize(Widget)  # error: "Callable\[\[Deployment, .*expected "Callable\[\[Widget
async def cleanup(deployment: apps_v1.Deployment, ctx: kl.Context) -> None: ...


@operator.reconcile(core_v1.Service)
async def reconcile_service(service: core_v1.Service, ctx: kl.Context) -> None:
    status = ctx.status_as(core_v1.ServiceStatus)
    status["readyReplicas"] = 1  # error: TypedDict "ServiceStatus" has no key "readyReplicas"
    status["loadBalancer"] = {"ingress": "192.0.2.1"}  # error: "str", TypedDict item "ingress" has type "list


async def client_reads(client: Client) -> None:
    widget = await client.get(Widget, "w")
    widget.spec.size = "big"  # error: Incompatible types in assignment .*"str".*"int"
    await client.apply(WidgetSpec(), field_manager="m")  # error: No overload variant of "apply"
    async for event in client.watch(Widget):
        event.object["spec"]  # error: Value of type "Widget" is not indexable
"""


def docs_modules() -> dict[str, str]:
    """Each page of the site whose examples tests/docs/test_docs.py runs, as one module: its Python
    blocks in order, the body of ``async def page(namespace: str)`` (a page awaits at the top level and
    is given ``namespace``). The tutorial's and the migration guides' blocks are the AppService
    example's files (checked as the example) or another framework's."""
    modules = {}
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text()
        if text.startswith("<!-- docs-test: run -->"):
            body = "\n".join(BLOCK.findall(text))
            name = "docs_" + re.sub(r"\W", "_", page.relative_to(DOCS).with_suffix("").as_posix()) + ".py"
            modules[name] = "async def page(namespace: str) -> None:\n" + textwrap.indent(body, "    ")
    assert len(modules) > 10, sorted(modules)
    return modules


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
    """mypy's messages by file name (``wrong.py``, ``typed.py``, ``misused.py``, ``appservice``,
    ``scaffolded``, ``docs``: the site's pages)."""
    root = tmp_path_factory.mktemp("mypy")
    (root / "wrong.py").write_text(WRONG)
    (root / "typed.py").write_text(TYPED)
    (root / "misused.py").write_text(MISUSED)
    (root / "widgets.py").write_text(WIDGETS)
    docs = docs_modules()
    for name, text in docs.items():
        (root / name).write_text(text)
    project = root / "scaffolded-operator"
    project.mkdir()
    package = scaffold(project)
    stdout, stderr, _ = api.run(
        [
            *("--strict", "--config-file=", "--no-pretty"),
            *("--cache-dir", str(REPO / ".mypy_cache" / "tests")),
            *(str(root / name) for name in ("wrong.py", "typed.py", "misused.py", "widgets.py", *docs)),
            *(str(EXAMPLE), str(package)),
        ]
    )
    assert not stderr, stderr
    kinds = ("wrong.py", "typed.py", "misused.py", "widgets.py", "appservice", "scaffolded", "docs")
    found: dict[str, list[str]] = {n: [] for n in kinds}
    for line in stdout.splitlines():
        where = next((name for name in found if name in line), None)
        if Path(line.split(":")[0]).name.startswith("docs_"):
            where = "docs"
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
    assert mypy_output["widgets.py"] == []
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
        "apps_v1.Deployment>",  # client.apply of a typed kind
        "dict[str, Any]",  # a dict applied comes back a dict
        "widgets.Widget | None",  # ctx.get of a custom resource: its model
        "list[widgets.Widget]",  # ctx.list of one
        "widgets.Widget",  # client.get of a model class: its model
        "list[widgets.Widget]",  # client.list(...)["items"]
        "widgets.Widget",  # a watch event's object
        "widgets.Widget",  # client.apply of a model
        "core_v1.ServiceStatus>",  # a built-in kind's typed status
        # the decorated reconciles keep their types
        f"def (apps_v1.Deployment>, {CONTEXT}) -> {RESULT}",
        f"def (widgets.Widget, {CONTEXT}) -> {RESULT}",
    ]


CONTEXT = "kubeloop.operator._context.Context"
RESULT = "typing.Awaitable[kubeloop.controller._types.Result | None]"


def test_mypy_holds_mappers_reconciles_results_and_status_to_the_kind(
    mypy_output: dict[str, list[str]],
) -> None:
    expected = {
        number: line.split("# error: ")[1]
        for number, line in enumerate(MISUSED.splitlines(), 1)
        if "# error: " in line
    }
    errors: dict[int, list[str]] = {}
    for line in mypy_output["misused.py"]:
        if ": error:" in line:
            number = int(line.split(":")[1])
            errors.setdefault(number, []).append(line.split(": error: ")[1])
    assert sorted(errors) == sorted(expected), "\n".join(mypy_output["misused.py"])
    for number, pattern in expected.items():
        assert len(errors[number]) == 1, errors[number]
        assert re.search(pattern, errors[number][0]), (pattern, errors[number])


def test_the_appservice_example_is_clean_under_strict_mypy(mypy_output: dict[str, list[str]]) -> None:
    assert mypy_output["appservice"] == []


def test_a_scaffolded_project_is_clean_under_strict_mypy(mypy_output: dict[str, list[str]]) -> None:
    assert mypy_output["scaffolded"] == []


def test_the_sites_examples_are_clean_under_strict_mypy(mypy_output: dict[str, list[str]]) -> None:
    assert mypy_output["docs"] == []
