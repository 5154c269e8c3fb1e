"""Workloads run as on a cluster with kube-controller-manager, a scheduler and kwok nodes: on the real
control plane and on the embedded server (its built-in controllers and simulated node and kubelet),
with the same assertions on what kubectl and a client see. Deployment → ReplicaSet → Pods, rolling
updates within maxSurge/maxUnavailable, Recreate, revision history and rollback, readiness counted
from Pods, scheduling, and the Events the controllers record."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from kubeloop.client import Client
from kubeloop.testing import Kubectl, KubectlError, until

Obj = dict[str, Any]


def deployment(name: str, replicas: int, strategy: Obj, **spec: Any) -> Obj:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "app:1"}]},
            },
            **spec,
        },
    }


def rollout(kctl: Kubectl, ns: str, name: str) -> str:
    out: str = kctl("rollout", "status", "-n", ns, f"deployment/{name}", "--timeout=90s").stdout
    return out


def condition(obj: Obj, kind: str) -> Obj:
    return next(c for c in obj["status"].get("conditions") or () if c["type"] == kind)


async def owned_by(kube: Client, resource: str, ns: str, owner: Obj) -> list[Obj]:
    items = (await kube.list(resource, namespace=ns))["items"]
    uid = owner["metadata"]["uid"]
    return [o for o in items if any(r["uid"] == uid for r in o["metadata"].get("ownerReferences") or ())]


async def history(kube: Client, resource: str, ns: str, since: str) -> list[Obj]:
    """Every state of ``resource`` in ``ns`` after resourceVersion ``since``, in order."""
    seen: list[Obj] = []
    async for event in kube.watch(resource, namespace=ns, resource_version=since, timeout_seconds=2):
        if event.type != "BOOKMARK":
            seen.append(event.object)
    return seen


async def test_a_deployment_runs_ready_pods_on_a_node(kctl: Kubectl, kube: Client, ns: str) -> None:
    await kube.create(deployment("web", 2, {"type": "RollingUpdate"}), namespace=ns)
    assert 'deployment "web" successfully rolled out' in rollout(kctl, ns, "web")
    d = await kube.get("deployments", "web", namespace=ns)
    assert {
        k: d["status"].get(k) for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
    } == dict.fromkeys(("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"), 2)
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"]
    assert (condition(d, "Available")["status"], condition(d, "Available")["reason"]) == (
        "True",
        "MinimumReplicasAvailable",
    )
    assert condition(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
    [rs] = await owned_by(kube, "replicasets", ns, d)
    digest = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{digest}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": digest}
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    pods = await owned_by(kube, "pods", ns, rs)
    nodes = {n["metadata"]["name"] for n in (await kube.list("nodes"))["items"]}
    assert len(pods) == 2

    async def events(of: Obj) -> list[tuple[str, str, str]]:
        return sorted(
            (e["source"].get("component", ""), e["reason"], e["message"])
            for e in (await kube.list("events", namespace=ns))["items"]
            if e["involvedObject"]["uid"] == of["metadata"]["uid"]
        )

    assert await events(d) == [
        ("deployment-controller", "ScalingReplicaSet", f"Scaled up replica set web-{digest} from 0 to 2")
    ]
    assert await events(rs) == sorted(
        ("replicaset-controller", "SuccessfulCreate", f"Created pod: {p['metadata']['name']}") for p in pods
    )
    for pod in pods:
        status = pod["status"]
        assert pod["spec"]["nodeName"] in nodes
        assert status["phase"] == "Running"
        assert status["podIP"]
        assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
        [container] = status["containerStatuses"]
        assert (container["name"], container["ready"], "running" in container["state"]) == ("app", True, True)

    # A pod deleted is replaced, and readiness comes back from the new one.
    kctl("delete", "pod", "-n", ns, pods[0]["metadata"]["name"], "--wait=false")

    async def replaced() -> bool:
        now = await owned_by(kube, "pods", ns, rs)
        names = {p["metadata"]["name"] for p in now if not p["metadata"].get("deletionTimestamp")}
        d = await kube.get("deployments", "web", namespace=ns)
        return (
            len(names) == 2
            and pods[0]["metadata"]["name"] not in names
            and d["status"].get("readyReplicas") == 2
        )

    await until(replaced, within=60, what="the deleted pod replaced and ready")

    kctl("scale", "deployment/web", "-n", ns, "--replicas=0")

    async def scaled_to_zero() -> bool:
        d = await kube.get("deployments", "web", namespace=ns)
        live = [p for p in await owned_by(kube, "pods", ns, rs) if not p["metadata"].get("deletionTimestamp")]
        return not live and "readyReplicas" not in d["status"] and d["status"].get("replicas") is None

    await until(scaled_to_zero, within=60, what="no pods and no ready replicas left")


async def test_a_rolling_update_stays_within_max_surge_and_max_unavailable(
    kctl: Kubectl, kube: Client, ns: str
) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    d = await kube.create(deployment("roll", 3, strategy), namespace=ns)
    rollout(kctl, ns, "roll")
    before = await kube.list("replicasets", namespace=ns)
    since = before["metadata"]["resourceVersion"]
    kctl("set", "image", "deployment/roll", "-n", ns, "app=app:2")
    out = rollout(kctl, ns, "roll")
    assert 'deployment "roll" successfully rolled out' in out
    states = await history(kube, "replicasets", ns, since)
    latest: dict[str, Obj] = {rs["metadata"]["name"]: rs for rs in before["items"]}
    for rs in states:
        latest[rs["metadata"]["name"]] = rs
        assert sum(r["spec"]["replicas"] for r in latest.values()) <= 4, "more than replicas + maxSurge"
        available = sum((r.get("status") or {}).get("availableReplicas", 0) for r in latest.values())
        assert available >= 3, "fewer than replicas - maxUnavailable available"
    sets = await owned_by(kube, "replicasets", ns, d)
    by_revision = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in sets}
    assert sorted(by_revision) == ["1", "2"]
    assert (by_revision["1"]["spec"]["replicas"], by_revision["2"]["spec"]["replicas"]) == (0, 3)
    assert by_revision["2"]["spec"]["template"]["spec"]["containers"][0]["image"] == "app:2"
    d = await kube.get("deployments", "roll", namespace=ns)
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"


async def test_recreate_removes_the_old_pods_before_it_starts_new_ones(
    kctl: Kubectl, kube: Client, ns: str
) -> None:
    d = await kube.create(deployment("again", 2, {"type": "Recreate"}), namespace=ns)
    rollout(kctl, ns, "again")
    [old] = await owned_by(kube, "replicasets", ns, d)
    since = (await kube.list("pods", namespace=ns))["metadata"]["resourceVersion"]
    kctl("set", "image", "deployment/again", "-n", ns, "app=app:2")
    rollout(kctl, ns, "again")
    old_uid = old["metadata"]["uid"]
    running: dict[str, bool] = {}  # pod name -> of the old ReplicaSet
    for pod in await history(kube, "pods", ns, since):
        md = pod["metadata"]
        is_old = any(r["uid"] == old_uid for r in md.get("ownerReferences") or ())
        if not is_old:
            assert not any(running.values()), f"new pod {md['name']} while old pods were alive"
        running[md["name"]] = is_old and not md.get("deletionTimestamp")
    pods = [
        p
        for p in (await kube.list("pods", namespace=ns))["items"]
        if not p["metadata"].get("deletionTimestamp")
    ]
    assert len(pods) == 2
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"app:2"}


async def test_revision_history_is_limited_and_undo_rolls_back(kctl: Kubectl, kube: Client, ns: str) -> None:
    d = await kube.create(
        deployment("hist", 1, {"type": "RollingUpdate"}, revisionHistoryLimit=1), namespace=ns
    )
    rollout(kctl, ns, "hist")
    for image in ("app:2", "app:3"):
        kctl("set", "image", "deployment/hist", "-n", ns, f"app={image}")
        rollout(kctl, ns, "hist")

    async def revisions() -> dict[str, str]:
        return {
            rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs["spec"]["template"][
                "spec"
            ]["containers"][0]["image"]
            for rs in await owned_by(kube, "replicasets", ns, d)
        }

    async def kept(wanted: dict[str, str]) -> bool:
        return await revisions() == wanted

    await until(lambda: kept({"2": "app:2", "3": "app:3"}), within=30, what="one old revision kept")
    kctl("rollout", "undo", "deployment/hist", "-n", ns)
    rollout(kctl, ns, "hist")
    await until(lambda: kept({"3": "app:3", "4": "app:2"}), within=30, what="the old template as revision 4")
    out = kctl("rollout", "history", "deployment/hist", "-n", ns).stdout
    assert [line.split()[0] for line in out.splitlines()[2:] if line.strip()] == ["3", "4"]


async def test_a_pod_no_node_fits_stays_pending_and_unschedulable(kube: Client, ns: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "nowhere"},
        "spec": {"nodeSelector": {"example.com/none": "x"}, "containers": [{"name": "c", "image": "x"}]},
    }
    await kube.create(pod, namespace=ns)

    async def unschedulable() -> bool:
        got = await kube.get("pods", "nowhere", namespace=ns)
        scheduled = [c for c in got["status"].get("conditions") or () if c["type"] == "PodScheduled"]
        return bool(scheduled) and (scheduled[0]["status"], scheduled[0]["reason"]) == (
            "False",
            "Unschedulable",
        )

    await until(unschedulable, within=30, what="PodScheduled=False Unschedulable")
    await asyncio.sleep(0.5)
    got = await kube.get("pods", "nowhere", namespace=ns)
    assert got["status"]["phase"] == "Pending"
    assert not got["spec"].get("nodeName")


async def test_a_statefulset_starts_its_pods_in_order_and_updates_them_from_the_top(
    kctl: Kubectl, kube: Client, ns: str
) -> None:
    labels = {"app": "db"}
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 3,
            "serviceName": "db",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "db", "image": "db:1"}]},
            },
        },
    }
    since = (await kube.list("pods", namespace=ns))["metadata"]["resourceVersion"]
    await kube.create(sts, namespace=ns)
    kctl("rollout", "status", "-n", ns, "statefulset/db", "--timeout=90s")
    created: list[str] = []
    ready: set[str] = set()
    for pod in await history(kube, "pods", ns, since):
        name = pod["metadata"]["name"]
        if name not in created:
            assert ready == set(created), f"{name} created before {sorted(set(created) - ready)} were ready"
            created.append(name)
        if {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or ()}.get(
            "Ready"
        ) == "True":
            ready.add(name)
    assert created == ["db-0", "db-1", "db-2"]
    pod = await kube.get("pods", "db-1", namespace=ns)
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("db-1", "db")
    assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "db-1"
    got = await kube.get("statefulsets", "db", namespace=ns)
    assert (got["status"]["readyReplicas"], got["status"]["currentReplicas"]) == (3, 3)

    since = (await kube.list("pods", namespace=ns))["metadata"]["resourceVersion"]
    kctl("set", "image", "statefulset/db", "-n", ns, "db=db:2")
    kctl("rollout", "status", "-n", ns, "statefulset/db", "--timeout=90s")
    replaced = [
        p["metadata"]["name"]
        for p in await history(kube, "pods", ns, since)
        if p["metadata"].get("deletionTimestamp")
    ]
    assert list(dict.fromkeys(replaced)) == ["db-2", "db-1", "db-0"]
    got = await kube.get("statefulsets", "db", namespace=ns)
    assert got["status"]["currentRevision"] == got["status"]["updateRevision"]
    assert got["status"]["updatedReplicas"] == 3


async def test_a_job_runs_pods_in_parallel_up_to_its_completions(
    kctl: Kubectl, kube: Client, ns: str
) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "batch"},
        "spec": {
            "completions": 3,
            "parallelism": 2,
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "work", "image": "work:1"}]}
            },
        },
    }
    since = (await kube.list("pods", namespace=ns))["metadata"]["resourceVersion"]
    await kube.create(job, namespace=ns)
    kctl("wait", "-n", ns, "--for=condition=complete", "job/batch", "--timeout=90s")
    done = await kube.get("jobs", "batch", namespace=ns)
    assert done["status"]["succeeded"] == 3
    assert "active" not in done["status"]
    assert done["status"]["completionTime"]
    assert [c["type"] for c in done["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    running: dict[str, bool] = {}
    for pod in await history(kube, "pods", ns, since):
        phase = (pod.get("status") or {}).get("phase")
        running[pod["metadata"]["name"]] = phase not in ("Succeeded", "Failed") and not pod["metadata"].get(
            "deletionTimestamp"
        )
        assert sum(running.values()) <= 2, "more pods at once than parallelism"
    assert len(running) == 3
    for pod in (await kube.list("pods", namespace=ns))["items"]:
        assert pod["status"]["phase"] == "Succeeded"
        assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "batch"
    said = [
        (e["source"].get("component"), e["reason"], e["message"])
        for e in (await kube.list("events", namespace=ns))["items"]
        if e["involvedObject"]["uid"] == done["metadata"]["uid"]
    ]
    assert ("job-controller", "Completed", "Job completed") in said
    assert sorted(m for _, reason, m in said if reason == "SuccessfulCreate") == sorted(
        f"Created pod: {name}" for name in running
    )


async def test_a_daemonset_runs_one_pod_on_every_node(kctl: Kubectl, kube: Client, ns: str) -> None:
    labels = {"app": "agent"}
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "a", "image": "agent:1"}]},
            },
        },
    }
    await kube.create(ds, namespace=ns)
    kctl("rollout", "status", "-n", ns, "daemonset/agent", "--timeout=90s")
    nodes = {
        n["metadata"]["name"]
        for n in (await kube.list("nodes"))["items"]
        if not any(t.get("effect") == "NoSchedule" for t in (n.get("spec") or {}).get("taints") or ())
    }
    pods = (await kube.list("pods", namespace=ns))["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(nodes)
    got = await kube.get("daemonsets", "agent", namespace=ns)
    status = got["status"]
    assert (status["desiredNumberScheduled"], status["currentNumberScheduled"], status["numberReady"]) == (
        len(nodes),
        len(nodes),
        len(nodes),
    )


async def test_a_service_lists_its_ready_pods_in_an_endpointslice(
    kctl: Kubectl, kube: Client, ns: str
) -> None:
    d = deployment("api", 2, {"type": "RollingUpdate"})
    d["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": 8080}]
    await kube.create(d, namespace=ns)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api"},
        "spec": {"selector": {"app": "api"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]},
    }
    await kube.create(service, namespace=ns)
    rollout(kctl, ns, "api")

    async def endpoints(count: int) -> bool:
        pods = {
            p["status"].get("podIP"): p["metadata"]["name"]
            for p in (await kube.list("pods", namespace=ns))["items"]
            if not p["metadata"].get("deletionTimestamp")
        }
        slices = (
            await kube.list("endpointslices", namespace=ns, label_selector="kubernetes.io/service-name=api")
        )["items"]
        if len(slices) != 1:
            return False
        [s] = slices
        listed = {
            e["addresses"][0]: e["targetRef"]["name"]
            for e in s.get("endpoints") or ()
            if e["conditions"].get("ready")
        }
        return (
            len(listed) == count
            and listed == pods
            and s["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]
            and s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"]
            == "endpointslice-controller.k8s.io"
            and s["metadata"]["ownerReferences"][0]["kind"] == "Service"
        )

    await until(lambda: endpoints(2), within=60, what="both pods in the Service's EndpointSlice")
    kctl("scale", "deployment/api", "-n", ns, "--replicas=1")
    await until(lambda: endpoints(1), within=60, what="one pod left in the EndpointSlice")


async def test_a_rollout_that_makes_no_progress_exceeds_its_deadline(
    kctl: Kubectl, kube: Client, ns: str
) -> None:
    stuck = deployment("stuck", 1, {"type": "RollingUpdate"}, progressDeadlineSeconds=2)
    stuck["spec"]["template"]["spec"]["nodeSelector"] = {"example.com/none": "x"}
    await kube.create(stuck, namespace=ns)
    with pytest.raises(KubectlError) as failed:
        rollout(kctl, ns, "stuck")
    assert 'deployment "stuck" exceeded its progress deadline' in failed.value.stderr
    d = await kube.get("deployments", "stuck", namespace=ns)
    progressing = condition(d, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    [rs] = await owned_by(kube, "replicasets", ns, d)
    assert progressing["message"] == f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.'


async def test_a_recreated_deployment_adopts_the_replicaset_it_orphaned(
    kctl: Kubectl, kube: Client, ns: str
) -> None:
    body = deployment("again", 2, {"type": "RollingUpdate"})
    first = await kube.create(body, namespace=ns)
    rollout(kctl, ns, "again")
    [rs] = await owned_by(kube, "replicasets", ns, first)
    pods = sorted(p["metadata"]["name"] for p in await owned_by(kube, "pods", ns, rs))
    kctl("delete", "deployment", "again", "-n", ns, "--cascade=orphan")

    async def orphaned() -> bool:
        got = await kube.get("replicasets", rs["metadata"]["name"], namespace=ns)
        return not got["metadata"].get("ownerReferences")

    await until(orphaned, within=60, what="the ReplicaSet without its owner")
    second = await kube.create(body, namespace=ns)
    rollout(kctl, ns, "again")
    [adopted] = await owned_by(kube, "replicasets", ns, second)
    assert adopted["metadata"]["uid"] == rs["metadata"]["uid"]
    assert sorted(p["metadata"]["name"] for p in await owned_by(kube, "pods", ns, adopted)) == pods


async def test_a_job_whose_pods_fail_fails_after_its_backoff_limit(kube: Client, ns: str) -> None:
    # Neither kwok (the real control plane's nodes) nor the embedded kubelet fails a Pod: the Job's Pods
    # go to a Node neither manages (a Node object without kwok's annotation or the simulated one), and
    # the test fails each as a kubelet would report it. Each finished two minutes ago, so the real Job
    # controller's backoff before the next Pod (10 s, then doubled) has passed.
    node = f"manual-{ns}"
    await kube.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
    container = {"name": "work", "image": "work:1"}
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "flaky"},
        "spec": {
            "backoffLimit": 1,
            "template": {"spec": {"restartPolicy": "Never", "nodeName": node, "containers": [container]}},
        },
    }
    try:
        created = await kube.create(job, namespace=ns)
        failed: set[str] = set()

        async def fail_pods_until_the_job_ends() -> bool:
            got = await kube.get("jobs", "flaky", namespace=ns)
            if any(c["type"] == "Failed" for c in (got.get("status") or {}).get("conditions") or ()):
                return True
            for pod in (await kube.list("pods", namespace=ns, label_selector="job-name=flaky"))["items"]:
                name = pod["metadata"]["name"]
                if name in failed or (pod.get("status") or {}).get("phase") == "Failed":
                    continue
                await kube.patch(
                    "pods", name, {"status": _failed_status()}, namespace=ns, subresource="status"
                )
                failed.add(name)
            return False

        await until(fail_pods_until_the_job_ends, within=60, what="the Job Failed")
        done = await kube.get("jobs", "flaky", namespace=ns)
        assert done["status"]["failed"] == 2
        assert "active" not in done["status"]
        assert [
            (c["type"], c["status"], c["reason"], c["message"]) for c in done["status"]["conditions"]
        ] == [
            (kind, "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
            for kind in ("FailureTarget", "Failed")
        ]
        pods = (await kube.list("pods", namespace=ns))["items"]
        assert sorted(p["metadata"]["name"] for p in pods) == sorted(failed)
        assert all(p["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"] for p in pods)
    finally:
        await kube.delete("nodes", node)


def _failed_status() -> Obj:
    """What a kubelet reports of a Pod whose one container exited 1, two minutes ago."""
    stamp = time.time() - 120
    started, finished = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) for t in (stamp - 1, stamp))
    terminated = {"exitCode": 1, "reason": "Error", "startedAt": started, "finishedAt": finished}
    return {
        "phase": "Failed",
        "containerStatuses": [
            {
                "name": "work",
                "image": "work:1",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"terminated": terminated},
            }
        ],
    }
