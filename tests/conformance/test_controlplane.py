"""The session control plane is a real Kubernetes: driven here with the machine's kubectl."""

from __future__ import annotations

import json

import pytest

from kubeloop.testing import Kubectl, KubectlError, eventually, wait_for_crds

CRONTAB_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                cronSpec: {type: string}
                image: {type: string}
                replicas: {type: integer}
"""


def test_namespace_and_configmap_round_trip(kubectl: Kubectl, namespace: str) -> None:
    assert kubectl.json("get", "namespace", namespace)["status"]["phase"] == "Active"
    kubectl("create", "configmap", "settings", "-n", namespace, "--from-literal=mode=fast")
    got = kubectl.json("get", "configmap", "settings", "-n", namespace)
    assert got["data"] == {"mode": "fast"}
    assert got["metadata"]["uid"]


def test_crontab_custom_resource_lifecycle(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-f", "-", input=CRONTAB_CRD)
    wait_for_crds(kubectl, "crontabs.stable.example.com")
    crontab = {
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "my-cron"},
        "spec": {"cronSpec": "* * * * */5", "image": "my-cron-image", "replicas": 1},
    }
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(crontab))
    listed = kubectl.json("get", "ct", "-n", namespace)
    assert [item["metadata"]["name"] for item in listed["items"]] == ["my-cron"]
    kubectl("patch", "crontab", "my-cron", "-n", namespace, "--type=merge", "-p", '{"spec":{"replicas":3}}')
    assert kubectl.json("get", "crontab", "my-cron", "-n", namespace)["spec"]["replicas"] == 3
    kubectl("delete", "crontab", "my-cron", "-n", namespace)
    with pytest.raises(KubectlError, match=r"NotFound|not found"):
        kubectl("get", "crontab", "my-cron", "-n", namespace)


def test_deleting_an_owner_garbage_collects_its_child(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "configmap", "owner", "-n", namespace)
    owner_uid = kubectl.json("get", "configmap", "owner", "-n", namespace)["metadata"]["uid"]
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "child",
            "namespace": namespace,
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}],
        },
    }
    kubectl("create", "-f", "-", input=json.dumps(child))
    kubectl("delete", "configmap", "owner", "-n", namespace)
    eventually(
        lambda: kubectl("get", "configmap", "child", "-n", namespace, check=False).returncode != 0,
        what="garbage collection of the child ConfigMap",
    )


@pytest.mark.controlplane_only(
    "kwok's nodes: the embedded server's simulated Nodes are kubeloop-node-N (docs/apiserver.md, Known "
    "differences: Simulated nodes)"
)
def test_deployment_pods_run_on_a_kwok_node(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "deployment", "web", "-n", namespace, "--image=nginx:1.27", "--replicas=2")

    def running_on_kwok() -> bool:
        pods = kubectl.json("get", "pods", "-n", namespace, "-l", "app=web")["items"]
        running = [
            p
            for p in pods
            if p["status"].get("phase") == "Running" and p["spec"].get("nodeName", "").startswith("kwok-")
        ]
        return len(running) == 2

    eventually(running_on_kwok, what="2 Running pods of the Deployment")
    kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s")
    assert kubectl.json("get", "deployment", "web", "-n", namespace)["status"]["readyReplicas"] == 2


@pytest.mark.controlplane_only(
    "node Leases: the embedded server's simulated kubelet renews none, nothing there marks a Node "
    "NotReady (docs/apiserver.md, Known differences: Simulated nodes)"
)
def test_kwok_nodes_heartbeat_by_lease_well_within_the_grace_period(kubectl: Kubectl) -> None:
    # kube-controller-manager marks a node not Ready, and all its pods NotReady for good, when it has
    # not heard from it for its grace period (50 s by default; a restart's time and a minute here); a
    # Lease renewed every 10 s keeps that from happening on a busy machine.
    nodes = [n["metadata"]["name"] for n in kubectl.json("get", "nodes")["items"]]
    assert nodes

    def renewals() -> dict[str, str]:
        leases = kubectl.json("get", "leases", "-n", "kube-node-lease")["items"]
        return {lease["metadata"]["name"]: lease["spec"].get("renewTime", "") for lease in leases}

    eventually(lambda: set(nodes) <= set(renewals()), timeout=30, what="a Lease per node")
    first = renewals()
    eventually(
        lambda: all(renewals()[node] != first[node] for node in nodes), timeout=30, what="every Lease renewed"
    )
