"""The operator runtime against the real API server: events drive reconciles, errors back off,
requeues arrive on time, bad objects are reported once, finalizers block deletion, and the
metrics and probe endpoints serve what they claim."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from gadgets import Gadget, gadget

import kubeloop as kl
from kubeloop.client import Client
from kubeloop.clock import FakeClock
from kubeloop.controller import ControllerOptions, Request, generation_changed
from kubeloop.queue import RateLimitingQueue
from kubeloop.resources import core_v1
from kubeloop.testing import FaultProxy, Faults, Kubectl, run_operator, until
from kubeloop.testing.fixtures import Cluster

pytestmark = pytest.mark.usefixtures("gadget_crd")

RESOURCE = "gadgets.test.kubeloop.io"


def controller_queue(operator: kl.Operator) -> RateLimitingQueue[Request]:
    assert operator.manager is not None
    return operator.manager.controllers[0].queue


def gadget_json(name: str, replicas: int = 1, message: str = "") -> str:
    return json.dumps(gadget(name, replicas, message))


async def test_primary_and_child_events_drive_reconciles_and_a_deleted_child_is_restored(
    cluster: Cluster, kubectl: Kubectl, client: Client, namespace: str
) -> None:
    operator = kl.Operator("events-test", namespace=namespace)
    calls: list[tuple[str, int]] = []

    @operator.reconcile(Gadget, owns=[core_v1.ConfigMap], predicates=[generation_changed])
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        calls.append((g.metadata.name or "", g.spec.replicas))
        await ctx.apply(
            core_v1.ConfigMap(metadata={"name": f"{g.metadata.name}-child"}, data={"r": str(g.spec.replicas)})
        )

    async with run_operator(operator, cluster.kubeconfig):
        kubectl("apply", "-n", namespace, "-f", "-", input=gadget_json("g1"))
        await until(lambda: ("g1", 1) in calls, what="reconcile on create")
        kubectl("patch", RESOURCE, "g1", "-n", namespace, "--type=merge", "-p", '{"spec":{"replicas":2}}')
        await until(lambda: ("g1", 2) in calls, what="reconcile on spec change")
        child = await client.get("configmaps", "g1-child", namespace=namespace)
        assert child["data"] == {"r": "2"}

        await until(lambda: len(controller_queue(operator)) == 0, what="queue drained")
        await asyncio.sleep(0.3)
        before = len(calls)
        await client.patch(RESOURCE, "g1", {"metadata": {"labels": {"x": "y"}}}, namespace=namespace)
        await asyncio.sleep(0.5)
        assert len(calls) == before, "a metadata-only change does not pass generation_changed"
        kubectl("delete", "configmap", "g1-child", "-n", namespace)
        await until(
            lambda: kubectl("get", "configmap", "g1-child", "-n", namespace, check=False).returncode == 0,
            what="child restored",
        )
        assert len(calls) > before, "the child's deletion reconciled its owner"


async def test_failing_reconcile_backs_off_with_growing_intervals_then_recovers(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    operator = kl.Operator("backoff-test", namespace=namespace)
    attempts: list[tuple[float, int]] = []  # (when, the queue's count of the key's retries so far)

    @operator.reconcile(Gadget)
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        retries = controller_queue(operator).num_requeues(Request(namespace, "flaky"))
        attempts.append((time.monotonic(), retries))
        if len(attempts) <= 6:
            raise RuntimeError(f"attempt {len(attempts)} fails")
        ctx.set_condition("Ready", True, "Done")

    async with run_operator(operator, cluster.kubeconfig):
        kubectl("apply", "-n", namespace, "-f", "-", input=gadget_json("flaky"))
        await until(lambda: len(attempts) >= 7, what="seven attempts")
        await until(
            lambda: (
                kubectl.json("get", RESOURCE, "flaky", "-n", namespace)["status"]["conditions"][0]["status"]
                == "True"
            ),
            what="Ready=True after recovery",
        )
    # each failure was one more retry of the key in the queue's own count ...
    assert [retries for _, retries in attempts[:7]] == list(range(7)), attempts
    # ... and each retry came no sooner than its backoff, which doubles from 5 ms (a loaded machine
    # only makes the gaps longer: no upper bound is asserted)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(attempts[:7])]
    backoff = [0.005 * 2**n for n in range(6)]
    pairs = list(zip(gaps, backoff, strict=True))
    assert all(gap >= wait for gap, wait in pairs), pairs


async def test_a_status_write_answered_404_that_names_no_object_is_retried(
    cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    """Regression (found by the chaos suite's full form): while kube-apiserver starts it answers 404
    for a custom resource's paths until it has installed the CRD's routes (no Status naming the
    object); the pipeline took that for the object deleted meanwhile and dropped the pass, so the
    AppService's status stayed stale for good (2 of 800 after three restarts)."""
    operator = kl.Operator("status-404-test", namespace=namespace)
    passes: list[int] = []

    @operator.reconcile(Gadget)
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        passes.append(1)
        ctx.set_condition("Ready", True, "Done")

    def ready() -> bool:
        status = kubectl.json("get", RESOURCE, "stale", "-n", namespace).get("status") or {}
        return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))

    with FaultProxy(cluster.kubeconfig, forward_client_cert=True, seed=14) as proxy:
        proxy.faults = Faults(
            error_share=1.0, error_codes=(404,), only=r"^PATCH /apis/.*/gadgets/stale/status"
        )
        via = proxy.kubeconfig(cluster.kubeconfig, tmp_path / "via-proxy")
        async with run_operator(operator, via):
            kubectl("apply", "-n", namespace, "-f", "-", input=gadget_json("stale"))
            await until(lambda: proxy.stats.errors[404] >= 1, what="a status write answered 404")
            proxy.faults = Faults()
            await until(ready, within=30, what="the status written once the 404s stop")
    assert len(passes) >= 2, "the pass answered 404 was retried"


async def test_requeue_after_arrives_on_time(cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    """On the queue's clock (a fake one the test moves), so the machine's load cannot make it late."""
    clock = FakeClock()
    operator = kl.Operator("requeue-test", namespace=namespace)
    passes: list[float] = []  # the queue's time at each pass

    @operator.reconcile(Gadget)
    async def reconcile(g: Gadget, ctx: kl.Context) -> kl.Result:
        passes.append(clock.now())
        return kl.Result(requeue_after=30)

    (registration,) = operator._registrations
    queue = replace(registration.options.queue, clock=clock)
    registration.options = replace(registration.options, queue=queue)
    async with run_operator(operator, cluster.kubeconfig):
        kubectl("apply", "-n", namespace, "-f", "-", input=gadget_json("periodic"))
        await until(lambda: clock.next_deadline == 30.0, what="the first pass's requeue scheduled")
        expected = [0.0]
        for due in (30.0, 60.0):
            await clock.advance(due - 0.001 - clock.now())
            assert passes == expected, "no pass before its requeue is due"
            await clock.advance(0.001)
            await until(lambda due=due: passes[-1] == due, what=f"the pass due at {due:.0f} s")
            expected.append(due)
    assert passes == [0.0, 30.0, 60.0]


async def test_object_that_does_not_fit_the_model_gets_a_condition_and_an_event_and_no_hot_loop(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    operator = kl.Operator("invalid-test", namespace=namespace)
    reconciled: list[int] = []

    @operator.reconcile(Gadget)
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        reconciled.append(g.spec.replicas)

    async with run_operator(operator, cluster.kubeconfig) as manager:
        kubectl("apply", "-n", namespace, "-f", "-", input=gadget_json("too-big", replicas=9))

        def condition() -> dict[str, str] | None:
            status = kubectl.json("get", RESOURCE, "too-big", "-n", namespace).get("status") or {}
            return next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)

        await until(lambda: condition() is not None, what="Ready condition on the invalid object")
        cond = condition()
        assert cond is not None
        assert (cond["status"], cond["reason"]) == ("False", "InvalidSpec")
        assert "spec.replicas" in cond["message"]
        await until(
            lambda: any(
                e["reason"] == "InvalidSpec" and e["type"] == "Warning"
                for e in kubectl.json("get", "events", "-n", namespace)["items"]
            ),
            what="InvalidSpec Warning Event",
        )
        controller = manager.controllers[0]
        await until(lambda: len(controller.queue) == 0, what="queue empty")
        requeues = controller.queue.num_requeues(kl.Request(namespace, "too-big"))
        assert reconciled == []
        assert requeues == 0, "a terminal error is not retried"
        kubectl(
            "patch", RESOURCE, "too-big", "-n", namespace, "--type=merge", "-p", '{"spec":{"replicas":3}}'
        )
        await until(lambda: reconciled == [3], what="reconciled once fixed")


async def test_finalizer_cleanup_blocks_deletion_until_it_succeeds(
    cluster: Cluster, kubectl: Kubectl, client: Client, namespace: str
) -> None:
    operator = kl.Operator("finalizer-test", namespace=namespace)
    cleanups: list[float] = []
    backup_done = False

    @operator.reconcile(Gadget)
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        return None

    @operator.finalize(Gadget)
    async def cleanup(g: Gadget, ctx: kl.Context) -> None:
        cleanups.append(time.monotonic())
        if not backup_done:
            raise RuntimeError("backup not finished")

    async with run_operator(operator, cluster.kubeconfig):
        kubectl("apply", "-n", namespace, "-f", "-", input=gadget_json("guarded"))
        await until(
            lambda: (
                kubectl.json("get", RESOURCE, "guarded", "-n", namespace)["metadata"].get("finalizers")
                == ["test.kubeloop.io/finalizer-test"]
            ),
            what="finalizer added",
        )
        kubectl("delete", RESOURCE, "guarded", "-n", namespace, "--wait=false")
        await until(lambda: len(cleanups) >= 3, what="three failed cleanups")
        assert (await client.get(RESOURCE, "guarded", namespace=namespace))["metadata"]["deletionTimestamp"]
        backup_done = True
        await until(
            lambda: kubectl("get", RESOURCE, "guarded", "-n", namespace, check=False).returncode != 0,
            what="deleted after cleanup succeeded",
        )
    assert len(cleanups) >= 4


async def test_a_cleanup_that_is_not_done_requeues_keeps_the_finalizer_and_shows_its_status(
    cluster: Cluster, kubectl: Kubectl, client: Client, namespace: str
) -> None:
    operator = kl.Operator("waiting-cleanup-test", namespace=namespace)
    passes: list[float] = []
    released = False

    @operator.reconcile(Gadget)
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        return None

    @operator.finalize(Gadget)
    async def cleanup(g: Gadget, ctx: kl.Context) -> kl.Result | None:
        passes.append(time.monotonic())
        if released:
            return None
        ctx.set_condition("Cleaning", False, "Waiting", "the backup is still being written")
        return kl.Result(requeue_after=0.2)

    async with run_operator(operator, cluster.kubeconfig):
        kubectl("apply", "-n", namespace, "-f", "-", input=gadget_json("waiting"))
        await until(
            lambda: bool(
                kubectl.json("get", RESOURCE, "waiting", "-n", namespace)["metadata"].get("finalizers")
            ),
            what="finalizer added",
        )
        kubectl("delete", RESOURCE, "waiting", "-n", namespace, "--wait=false")
        await until(lambda: len(passes) >= 3, what="three passes of the waiting cleanup, requeued")
        waiting = await client.get(RESOURCE, "waiting", namespace=namespace)
        assert waiting["metadata"]["finalizers"] == ["test.kubeloop.io/waiting-cleanup-test"]
        (cleaning,) = [c for c in waiting["status"]["conditions"] if c["type"] == "Cleaning"]
        assert (cleaning["reason"], cleaning["message"]) == ("Waiting", "the backup is still being written")
        released = True
        await until(
            lambda: kubectl("get", RESOURCE, "waiting", "-n", namespace, check=False).returncode != 0,
            what="deleted once the cleanup is done",
        )


async def test_an_object_deleted_while_it_does_not_fit_the_model_says_why_its_cleanup_waits(
    cluster: Cluster, kubectl: Kubectl, client: Client, namespace: str
) -> None:
    operator = kl.Operator("invalid-cleanup-test", namespace=namespace)
    cleaned: list[int] = []

    @operator.reconcile(Gadget)
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        return None

    @operator.finalize(Gadget)
    async def cleanup(g: Gadget, ctx: kl.Context) -> None:
        cleaned.append(g.spec.replicas)

    def ready() -> dict[str, str] | None:
        status = kubectl.json("get", RESOURCE, "unfit", "-n", namespace).get("status") or {}
        return next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)

    async with run_operator(operator, cluster.kubeconfig) as manager:
        kubectl("apply", "-n", namespace, "-f", "-", input=gadget_json("unfit", replicas=9))
        await until(lambda: (ready() or {}).get("reason") == "InvalidSpec", what="InvalidSpec")
        kubectl("delete", RESOURCE, "unfit", "-n", namespace, "--wait=false")

        async def deleting() -> bool:
            got = await client.get(RESOURCE, "unfit", namespace=namespace)
            return "deletionTimestamp" in got["metadata"] and len(manager.controllers[0].queue) == 0

        await until(deleting, what="the deletion seen and the queue drained")
        await asyncio.sleep(1)
        controller = manager.controllers[0]
        assert controller.queue.num_requeues(kl.Request(namespace, "unfit")) == 0, "no retry loop"
        assert cleaned == []
        cond = ready()
        assert cond is not None
        assert (cond["status"], cond["reason"]) == ("False", "InvalidSpec")
        assert "spec.replicas" in cond["message"]
        got = await client.get(RESOURCE, "unfit", namespace=namespace)
        assert got["metadata"]["finalizers"] == ["test.kubeloop.io/invalid-cleanup-test"], "deletion waits"

        kubectl("patch", RESOURCE, "unfit", "-n", namespace, "--type=merge", "-p", '{"spec":{"replicas":2}}')
        await until(
            lambda: kubectl("get", RESOURCE, "unfit", "-n", namespace, check=False).returncode != 0,
            what="deleted once its spec fits and the cleanup ran",
        )
    assert cleaned == [2]


async def test_metrics_and_probes_serve_what_they_claim(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    operator = kl.Operator("metrics-test", namespace=namespace)

    @operator.reconcile(Gadget)
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        if g.spec.message == "fail":
            raise RuntimeError("asked to fail")

    async def fetch(port: int, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as resp:
            return resp.status, await resp.text()

    async with run_operator(operator, cluster.kubeconfig) as manager:
        probes, metrics = manager.probes.port, manager.metrics_server.port
        assert probes is not None
        assert metrics is not None
        assert await fetch(probes, "/healthz") == (200, "ok")
        assert await fetch(probes, "/readyz") == (200, "ok")
        kubectl("apply", "-n", namespace, "-f", "-", input=gadget_json("ok"))
        kubectl("apply", "-n", namespace, "-f", "-", input=gadget_json("bad", message="fail"))
        name = "gadget.test.kubeloop.io"

        def sample(text: str, series: str) -> float:
            for line in text.splitlines():
                if line.startswith(series + " "):
                    return float(line.split()[-1])
            return 0.0

        async def errors_counted() -> bool:
            text = (await fetch(metrics, "/metrics"))[1]
            return sample(text, f'controller_runtime_reconcile_errors_total{{controller="{name}"}}') >= 1

        await until(errors_counted, what="an error counted")
        text = (await fetch(metrics, "/metrics"))[1]
        assert (
            sample(text, f'controller_runtime_reconcile_total{{controller="{name}",result="success"}}') >= 1
        )
        workers = ControllerOptions.max_concurrent_reconciles
        assert sample(text, f'controller_runtime_max_concurrent_reconciles{{controller="{name}"}}') == workers
        assert sample(text, f'workqueue_adds_total{{controller="{name}",name="{name}"}}') >= 2
        assert sample(text, f'workqueue_retries_total{{controller="{name}",name="{name}"}}') >= 1
        assert "rest_client_requests_total{" in text
        assert f'controller_runtime_reconcile_time_seconds_count{{controller="{name}"}}' in text


async def test_repeated_failures_aggregate_into_one_event_series(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    operator = kl.Operator("series-test", namespace=namespace)

    @operator.reconcile(Gadget)
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        raise RuntimeError("the same failure")

    def warnings() -> list[dict[str, object]]:
        events = kubectl.json("get", "events.v1.events.k8s.io", "-n", namespace)["items"]
        return [e for e in events if e["regarding"]["name"] == "doomed" and e["type"] == "Warning"]

    async with run_operator(operator, cluster.kubeconfig):
        kubectl("apply", "-n", namespace, "-f", "-", input=gadget_json("doomed"))
        await until(
            lambda: any((e.get("series") or {}).get("count", 0) >= 3 for e in warnings()),
            what="series count 3",
        )
    found = warnings()
    assert len(found) == 1, [(e["metadata"]["name"], e.get("series")) for e in found]
    assert found[0]["note"] == "the same failure"
    assert found[0]["reportingController"] == "series-test"
