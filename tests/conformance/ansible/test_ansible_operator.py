"""An Ansible operator (tests/conformance/ansible/project: a role and a finalizer playbook for a
Widget kind) on the real API server: spec keys snake_cased and the watch's vars reach the role, what
it creates is owned by the Widget and watched, a failing task and a hanging one are each a
``Failure`` condition naming the task with a Warning Event and retried with backoff while the
operator keeps reconciling the others, artifacts are capped at ``maxRunnerArtifacts``, and the
finalizer playbook runs with its vars before the Widget goes. A Ticker's watch sets
``reconcilePeriod``, ``manageStatus: false`` and ``watchDependentResources: false``, each followed.
A cluster-scoped child re-runs the role when deleted only under ``watchClusterScopedResources: true``
(a Keeper's, not a Leaver's), and a kind's runs overlap up to ``--max-concurrent-reconciles``, no more
(Nappers).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from kubeloop.ansible import AnsibleOperator
from kubeloop.client import Client, NotFoundError
from kubeloop.testing import Kubectl, run_operator, until, wait_for_crds

PROJECT = Path(__file__).parent / "project"
RESOURCE = "widgets.ansible.kubeloop.test"
SLEEPERS = "sleepers.ansible.kubeloop.test"
TICKERS = "tickers.ansible.kubeloop.test"
KEEPERS = "keepers.ansible.kubeloop.test"
LEAVERS = "leavers.ansible.kubeloop.test"
BADGES = "badges.ansible.kubeloop.test"
NAPPERS = "nappers.ansible.kubeloop.test"
WORKERS = 2
"""Runs at once per kind (``--max-concurrent-reconciles 2``)."""


@pytest.fixture(scope="module")
async def running(
    cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[AnsibleOperator, Path]]:
    kubectl = Kubectl(cluster.kubeconfig)
    kubectl("apply", "-f", str(PROJECT / "crd.yaml"))
    wait_for_crds(kubectl, RESOURCE, SLEEPERS, TICKERS, KEEPERS, LEAVERS, BADGES, NAPPERS)
    artifacts = tmp_path_factory.mktemp("widget-artifacts")
    operator = AnsibleOperator(
        PROJECT / "watches.yaml",
        name="widget-operator",
        artifacts_dir=artifacts,
        max_concurrent_reconciles=WORKERS,
    )
    async with run_operator(operator, cluster.kubeconfig):
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


async def test_a_role_sets_custom_status_with_k8s_status_and_the_operators_conditions_keep_it(
    running: tuple[AnsibleOperator, Path], kubectl: Kubectl, client: Client, namespace: str, tmp_path: Path
) -> None:
    """operator_sdk.util.k8s_status (kubeloop's): fields and a condition of the role's own survive the
    operator's Running/Successful conditions written after the run, follow the spec, and keep their
    lastTransitionTime while the condition's status stays; a condition the API conventions refuse
    fails the task."""
    kubectl(
        "apply", "-n", namespace, "-f", "-",
        # farewellDir: the finalizer's run can write its farewell once the namespace goes (without
        # it the run failed, retried for the rest of the module on the Widgets' two workers)
        input=widget("ws", mode="ok", wantedThing="a pen", statusPhase="Serving", farewellDir=str(tmp_path)),
    )  # fmt: skip

    async def status() -> dict[str, Any]:
        found: dict[str, Any] = (await client.get(RESOURCE, "ws", namespace=namespace)).get("status") or {}
        return found

    seen: dict[str, Any] = {}

    async def recorded(thing: str) -> bool:
        """``thing`` in the status once a run has ended and no other runs (the ConfigMap the role
        writes is a dependent: its event starts another run, which marks Running as it starts); the
        status read is kept in ``seen``."""
        seen.clear()
        seen.update(now := await status())
        done = {c["type"]: (c["status"], c["reason"]) for c in now.get("conditions") or ()}
        ended = done.get("Running") == ("True", "Successful")
        return now.get("thing") == thing and done.get("Successful", ("",))[0] == "True" and ended

    await until(lambda: recorded("a pen"), within=60, what="ws's run ended with its thing in the status")
    assert seen["phase"] == "Serving"
    by_type = {c["type"]: c for c in seen["conditions"]}
    mine = by_type["ThingRecorded"]
    assert (mine["status"], mine["reason"], mine["message"]) == (
        "True",
        "Recorded",
        "a pen is in the ConfigMap",
    )
    assert mine["lastTransitionTime"]

    kubectl(
        "patch", RESOURCE, "ws", "-n", namespace, "--type=merge", "-p", '{"spec":{"wantedThing":"a cup"}}'
    )
    await until(lambda: recorded("a cup"), within=60, what="ws's status following the spec")
    again = {c["type"]: c for c in seen["conditions"]}
    assert again["ThingRecorded"]["message"] == "a cup is in the ConfigMap"
    assert again["ThingRecorded"]["lastTransitionTime"] == mine["lastTransitionTime"]

    patch = '{"spec":{"statusReason":"not camel case"}}'
    kubectl("patch", RESOURCE, "ws", "-n", namespace, "--type=merge", "-p", patch)

    async def failed() -> bool:
        return (await conditions(client, namespace, "ws")).get("Failure", {}).get("status") == "True"

    await until(failed, within=60, what="ws Failure for a condition reason that is not CamelCase")
    message = (await conditions(client, namespace, "ws"))["Failure"]["message"]
    assert (
        message
        == "task 'Report the thing in the status' failed: Condition `reason` must be a single, CamelCase word"
    )


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
    # The operator still reconciles: the broken Widget fixed succeeds.
    kubectl("patch", RESOURCE, "broken", "-n", namespace, "--type=merge", "-p", '{"spec":{"mode":"ok"}}')

    async def fixed() -> bool:
        found = await conditions(client, namespace, "broken")
        return found.get("Successful", {}).get("status") == "True" and found["Failure"]["status"] == "False"

    await until(fixed, within=60, what="broken fixed and Successful")
    # Four runs or more, no run going on (the failing ones retry at once, so one could be): the newest kept.
    runs = artifacts / "ansible.kubeloop.test/v1/Widget" / namespace / "broken/artifacts"
    assert len([r for r in runs.iterdir() if r.name != "latest"]) == 2  # maxRunnerArtifacts
    kubectl("delete", SLEEPERS, "stuck", "-n", namespace)

    def hanging() -> list[psutil.Process]:
        return [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "86399"]]

    await until(lambda: not hanging(), within=15, what="no hanging task left running")


async def test_the_reconcile_period_managed_status_and_dependent_watches_follow_the_watches_file(
    running: tuple[AnsibleOperator, Path], kubectl: Kubectl, client: Client, namespace: str
) -> None:
    # reconcilePeriod 2s: the role runs again and again with nothing changed (each run a new stamp).
    kubectl("apply", "-n", namespace, "-f", "-", input=widget("ticking", kind="Ticker"))
    stamps: set[str] = set()

    async def stamped(name: str) -> str | None:
        try:
            return str(
                (await client.get("v1/ConfigMap", f"{name}-ticks", namespace=namespace))["data"]["stamp"]
            )
        except NotFoundError:
            return None

    async def ticked_thrice() -> bool:
        stamps.discard("")
        stamps.add(await stamped("ticking") or "")
        return len(stamps - {""}) >= 3

    await until(ticked_thrice, within=90, interval=0.5, what="three runs of ticking, nothing changed")
    # manageStatus: false: no Running/Successful conditions written.
    ticking = await client.get(TICKERS, "ticking", namespace=namespace)
    assert not (ticking.get("status") or {}).get("conditions"), ticking.get("status")
    # watchDependentResources: false (and no period, by the annotation): the deleted ConfigMap stays
    # deleted until the Ticker itself changes.
    still = json.loads(widget("still", kind="Ticker"))
    still["metadata"]["annotations"] = {"ansible.sdk.operatorframework.io/reconcile-period": "0s"}
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(still))
    await until(lambda: stamped("still"), within=60, what="still's first run")
    kubectl("delete", "configmap", "still-ticks", "-n", namespace)
    await asyncio.sleep(8)
    assert await stamped("still") is None, "a run after its child was deleted"
    kubectl("patch", TICKERS, "still", "-n", namespace, "--type=merge", "-p", '{"spec":{"touched":true}}')
    await until(lambda: stamped("still"), within=60, what="still run again once it changed")
    kubectl("delete", TICKERS, "ticking", "still", "-n", namespace)  # ticking runs every 2 s otherwise


async def test_a_deleted_cluster_scoped_child_reruns_the_role_only_when_watch_cluster_scoped_resources(
    running: tuple[AnsibleOperator, Path], kubectl: Kubectl, client: Client, namespace: str
) -> None:
    """As operator-sdk's proxy: a cluster-scoped child gets the primary-resource annotations (an owner
    reference cannot name a namespaced owner), and its kind is watched for the owner only when the
    owner's watch says ``watchClusterScopedResources: true`` (a Keeper's; a Leaver's is the default)."""
    for name, kind in (("k", "Keeper"), ("l", "Leaver")):
        await client.create(json.loads(widget(name, kind=kind)), namespace=namespace)
    keeper, leaver = f"{namespace}-k", f"{namespace}-l"

    async def badge(name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await client.get(BADGES, name)
        except NotFoundError:
            return None
        return found

    async def successful(name: str, resource: str) -> bool:
        return (await conditions(client, namespace, name, resource)).get("Successful", {}).get(
            "status"
        ) == "True"

    try:
        await until(lambda: successful("k", KEEPERS), within=60, what="the Keeper's first run Successful")
        await until(lambda: successful("l", LEAVERS), within=60, what="the Leaver's first run Successful")
        worn = {name: await badge(name) for name in (keeper, leaver)}
        for name, owner, kind in ((keeper, "k", "Keeper"), (leaver, "l", "Leaver")):
            meta = worn[name]["metadata"]  # type: ignore[index]
            assert "ownerReferences" not in meta
            assert meta["annotations"]["operator-sdk/primary-resource"] == f"{namespace}/{owner}"
            assert (
                meta["annotations"]["operator-sdk/primary-resource-type"] == f"{kind}.ansible.kubeloop.test"
            )

        for name in (keeper, leaver):
            await client.delete(BADGES, name)

        async def pinned_again() -> bool:
            again = await badge(keeper)
            return again is not None and again["metadata"]["uid"] != worn[keeper]["metadata"]["uid"]  # type: ignore[index]

        await until(pinned_again, within=60, what="the Keeper's deleted Badge made again by its role")
        # The Leaver's Badge, deleted at the same moment, had as long as the Keeper's to come back (a
        # run of the same role), and 2 s more: it stays deleted.
        await asyncio.sleep(2)
        assert await badge(leaver) is None, "the Leaver's role ran again after its Badge was deleted"
    finally:  # cluster-scoped: the namespace's deletion does not take them
        kubectl("delete", BADGES, keeper, leaver, "--ignore-not-found")


async def test_a_kinds_runs_overlap_up_to_max_concurrent_reconciles_and_not_beyond(
    running: tuple[AnsibleOperator, Path], client: Client, namespace: str, tmp_path: Path
) -> None:
    """Three Nappers, two workers for the kind: each run marks itself running and writes the most runs
    it saw marked at once; the first two wait for each other (playbooks/nap.yml: a fixed 3 s each
    missed the overlap when one started seconds after the other, at load 30). Two runs overlap,
    never three."""
    names = ("nap-a", "nap-b", "nap-c")
    for name in names:
        body = json.loads(widget(name, kind="Napper", dir=str(tmp_path)))
        await client.create(body, namespace=namespace)

    def peaks() -> dict[str, list[int]]:
        return {
            name: [int(line) for line in (tmp_path / f"{name}.peaks").read_text().split()]
            for name in names
            if (tmp_path / f"{name}.peaks").is_file()
        }

    await until(lambda: len(peaks()) == len(names), within=90, what="a run of each Napper")
    seen = peaks()
    assert max(max(p) for p in seen.values()) == WORKERS, seen
