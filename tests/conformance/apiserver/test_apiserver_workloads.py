"""Workloads run as on a cluster with kube-controller-manager, a scheduler and kwok nodes: on the real
control plane and on the embedded server (its built-in controllers and simulated node and kubelet),
with the same assertions on what kubectl and a client see. Deployment → ReplicaSet → Pods, rolling
updates within maxSurge/maxUnavailable, Recreate, revision history and rollback, readiness counted
from Pods, scheduling."""

from __future__ import annotations

import asyncio
from typing import Any

from kubeloop.client import Client
from kubeloop.testing import Kubectl, until

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
