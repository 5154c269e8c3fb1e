"""An Ansible operator (tests/conformance/ansible/project: a role and a finalizer playbook for a
Widget kind) on the real API server: spec keys snake_cased and the watch's vars reach the role, what
it creates is owned by the Widget and watched, a failing task and a hanging one are each a
``Failure`` condition naming the task with a Warning Event and retried with backoff while the
operator keeps reconciling the others, artifacts are capped at ``maxRunnerArtifacts``, and the
finalizer playbook runs with its vars before the Widget goes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from kubeloop.ansible import AnsibleOperator
from kubeloop.client import Client, NotFoundError
from kubeloop.testing import Kubectl, run_operator, until

PROJECT = Path(__file__).parent / "project"
RESOURCE = "widgets.ansible.kubeloop.test"
SLEEPERS = "sleepers.ansible.kubeloop.test"


@pytest.fixture(scope="module")
async def running(
    control_plane: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[AnsibleOperator, Path]]:
    kubectl = Kubectl(control_plane.kubeconfig)
    kubectl("apply", "-f", str(PROJECT / "crd.yaml"))
    kubectl("wait", "--for=condition=Established", f"crd/{RESOURCE}", f"crd/{SLEEPERS}", "--timeout=30s")
    artifacts = tmp_path_factory.mktemp("widget-artifacts")
    operator = AnsibleOperator(PROJECT / "watches.yaml", name="widget-operator", artifacts_dir=artifacts)
    async with run_operator(operator, control_plane.kubeconfig):
        yield operator, artifacts


def widget(name: str, kind: str = "Widget", **spec: Any) -> str:
    return json.dumps(
        {"apiVersion": "ansible.kubeloop.test/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}
    )


async def conditions(
    api: Client, namespace: str, name: str, resource: str = RESOURCE
) -> dict[str, dict[str, Any]]:
    try:
        obj = await api.get(resource, name, namespace=namespace)
    except NotFoundError:
        return {}
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or ()}


async def warnings(api: Client, namespace: str, name: str) -> list[dict[str, Any]]:
    events = await api.list("events.k8s.io/v1/Event", namespace=namespace)
    return [e for e in events["items"] if e["regarding"]["name"] == name and e["type"] == "Warning"]


async def test_role_gets_the_spec_snake_cased_and_its_children_are_owned_watched_and_finalized(
    running: tuple[AnsibleOperator, Path], kubectl: Kubectl, client: Client, namespace: str, tmp_path: Path
) -> None:
    spec = {
        "mode": "ok",
        "wantedThing": "a hat",
        "nestedPart": {"someKey": "deep"},
        "farewellDir": str(tmp_path),
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=widget("w1", **spec))

    async def successful() -> bool:
        return (await conditions(client, namespace, "w1")).get("Successful", {}).get("status") == "True"

    await until(successful, within=60, what="w1 Successful")
    cm = await client.get("v1/ConfigMap", "w1", namespace=namespace)
    assert cm["data"] == {"thing": "a hat", "greeting": "hello", "nested": "deep"}
    widget_obj = await client.get(RESOURCE, "w1", namespace=namespace)
    (owner,) = cm["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "Widget",
        widget_obj["metadata"]["uid"],
        True,
    )
    assert widget_obj["metadata"]["finalizers"] == ["ansible.kubeloop.test/farewell"]

    kubectl("delete", "configmap", "w1", "-n", namespace)

    async def restored() -> bool:
        try:
            again = await client.get("v1/ConfigMap", "w1", namespace=namespace)
        except NotFoundError:
            return False
        return again["metadata"]["uid"] != cm["metadata"]["uid"]

    await until(restored, within=60, what="the deleted ConfigMap made again by the role")

    kubectl("delete", RESOURCE, "w1", "-n", namespace, "--wait=false")

    async def gone() -> bool:
        return not await conditions(client, namespace, "w1")

    await until(gone, within=60, what="w1 deleted once its finalizer ran")
    assert (tmp_path / "w1").read_text() == "goodbye w1"


async def test_failing_and_hanging_runs_are_failures_naming_the_task_retried_without_stopping_others(
    running: tuple[AnsibleOperator, Path], kubectl: Kubectl, client: Client, namespace: str, tmp_path: Path
) -> None:
    _, artifacts = running
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=widget("broken", mode="fail", wantedThing="unicorn", farewellDir=str(tmp_path)),
    )
    kubectl("apply", "-n", namespace, "-f", "-", input=widget("stuck", "Sleeper"))

    async def failure(name: str, resource: str = RESOURCE) -> dict[str, Any]:
        return (await conditions(client, namespace, name, resource)).get("Failure", {})

    async def failed(name: str, resource: str = RESOURCE) -> bool:
        return (await failure(name, resource)).get("status") == "True"

    await until(lambda: failed("broken"), within=60, what="broken has Failure=True")
    cond = await failure("broken")
    assert cond["reason"] == "Failed"
    assert cond["message"] == "task 'Look for the thing' failed: no such thing: unicorn"
    assert cond["ansibleResult"]["failures"] == 1
    assert (await conditions(client, namespace, "broken"))["Successful"]["status"] == "False"

    stopped = "task 'Wait forever' did not finish within 15 s; the run was stopped"

    async def stopped_in_the_task() -> bool:
        # A run the loaded machine starts too slowly to reach the task is stopped as "the run".
        return (await failure("stuck", SLEEPERS)).get("message") == stopped

    await until(stopped_in_the_task, within=120, what="stuck has Failure=True naming its hanging task")
    assert {e["reason"] for e in await warnings(client, namespace, "stuck")} == {"TaskFailed"}

    async def retried(name: str, message: str, count: int) -> bool:
        found = [e for e in await warnings(client, namespace, name) if e["reason"] == "TaskFailed"]
        return (
            len(found) == 1
            and found[0]["note"] == message
            and (found[0].get("series") or {}).get("count", 1) >= count
        )

    await until(
        lambda: retried("broken", "task 'Look for the thing' failed: no such thing: unicorn", 3),
        within=60,
        what="three failed runs of broken, each a Warning Event (one series)",
    )
    runs = artifacts / "ansible.kubeloop.test/v1/Widget" / namespace / "broken/artifacts"
    assert len([r for r in runs.iterdir() if r.name != "latest"]) <= 2  # maxRunnerArtifacts

    # The operator still reconciles: the broken Widget fixed succeeds.
    kubectl("patch", RESOURCE, "broken", "-n", namespace, "--type=merge", "-p", '{"spec":{"mode":"ok"}}')

    async def fixed() -> bool:
        found = await conditions(client, namespace, "broken")
        return found.get("Successful", {}).get("status") == "True" and found["Failure"]["status"] == "False"

    await until(fixed, within=60, what="broken fixed and Successful")
    kubectl("delete", SLEEPERS, "stuck", "-n", namespace)

    def hanging() -> list[psutil.Process]:
        return [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "86399"]]

    await until(lambda: not hanging(), within=15, what="no hanging task left running")
