"""Real ``kubectl describe`` and ``kubectl wait`` (conditions, deletion, jsonpath, timeouts), and Events
shared between ``events.k8s.io/v1`` and core ``v1`` (what describe and ``get events`` list): real and
embedded alike."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeloop.client import Client, PatchType
from kubeloop.testing import Kubectl, KubectlError, wait_for_crds
from kubeloop.testing.objects import deployment

GROUP = "waiting.kubeloop.dev"
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"gizmos.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="session")
def gizmos(api: Path) -> str:
    kubectl = Kubectl(api)
    kubectl("apply", "-f", "-", input=yaml.safe_dump(CRD))
    wait_for_crds(kubectl, f"gizmos.{GROUP}")
    return f"gizmos.{GROUP}"


def gizmo(name: str, ns: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "Gizmo",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"size": 1},
        }
    )


def start(kctl: Kubectl, *args: str) -> subprocess.Popen[str]:
    """``kubectl ARGS`` in the background (it blocks until the condition or its timeout)."""
    return subprocess.Popen(
        [kctl.executable, "--kubeconfig", str(kctl.kubeconfig), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=90)
    return proc.returncode, out, err


async def set_ready(kube: Client, ns: str, name: str, status: str) -> None:
    condition = {"type": "Ready", "status": status, "reason": "Test", "message": "set by the test"}
    await kube.patch(
        f"{GROUP}/v1/Gizmo",
        name,
        {"status": {"conditions": [condition]}},
        type=PatchType.MERGE,
        namespace=ns,
        subresource="status",
    )


# -- kubectl wait ------------------------------------------------------------------------------------


async def test_wait_for_condition_returns_when_the_condition_is_set_later(
    kctl: Kubectl, kube: Client, ns: str, gizmos: str
) -> None:
    kctl("apply", "-f", "-", input=gizmo("g", ns))
    proc = start(kctl, "wait", "-n", ns, "--for=condition=Ready", f"{gizmos}/g", "--timeout=60s")
    await asyncio.sleep(1.5)  # kubectl is watching by now
    assert proc.poll() is None, "kubectl wait returned before the condition was set"
    await set_ready(kube, ns, "g", "True")
    code, out, err = finish(proc)
    assert (code, err) == (0, "")
    assert out.strip() == f"gizmo.{GROUP}/g condition met"


async def test_wait_for_condition_false_and_already_met(
    kctl: Kubectl, kube: Client, ns: str, gizmos: str
) -> None:
    kctl("apply", "-f", "-", input=gizmo("f", ns))
    await set_ready(kube, ns, "f", "False")
    out = kctl("wait", "-n", ns, "--for=condition=Ready=False", f"{gizmos}/f", "--timeout=30s").stdout
    assert out.strip() == f"gizmo.{GROUP}/f condition met"


def test_wait_for_condition_times_out(kctl: Kubectl, ns: str, gizmos: str) -> None:
    kctl("apply", "-f", "-", input=gizmo("never", ns))
    with pytest.raises(KubectlError) as info:
        kctl("wait", "-n", ns, "--for=condition=Ready", f"{gizmos}/never", "--timeout=2s")
    assert info.value.returncode == 1
    assert "timed out waiting for the condition" in info.value.stderr


def test_wait_for_condition_of_a_missing_object_is_not_found(kctl: Kubectl, ns: str) -> None:
    with pytest.raises(KubectlError) as info:
        kctl("wait", "-n", ns, "--for=condition=Ready", "configmap/missing", "--timeout=2s")
    assert 'configmaps "missing" not found' in info.value.stderr


def test_wait_for_deployment_available_and_jsonpath(kctl: Kubectl, ns: str) -> None:
    kctl("create", "deployment", "web", "-n", ns, "--image=nginx:1.27", "--replicas=1")
    out = kctl("wait", "-n", ns, "--for=condition=Available", "deployment/web", "--timeout=60s").stdout
    assert out.strip() == "deployment.apps/web condition met"
    out = kctl(
        "wait", "-n", ns, "--for=jsonpath={.status.readyReplicas}=1", "deployment/web", "--timeout=60s"
    )
    assert out.stdout.strip() == "deployment.apps/web condition met"
    out = kctl("wait", "--for=jsonpath={.status.phase}=Active", f"namespace/{ns}", "--timeout=10s")
    assert out.stdout.strip() == f"namespace/{ns} condition met"


async def test_wait_for_delete_returns_when_the_finalizer_goes(kctl: Kubectl, kube: Client, ns: str) -> None:
    kctl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "held", "namespace": ns, "finalizers": ["kubeloop.dev/hold"]},
            }
        ),
    )
    kctl("delete", "configmap", "held", "-n", ns, "--wait=false")
    # -v=6 logs each request: the finalizer goes only once kubectl watches the object it has read (a
    # kubectl started late under load would find it gone and print nothing).
    proc = start(kctl, "wait", "-v=6", "-n", ns, "--for=delete", "configmap/held", "--timeout=60s")
    assert proc.stderr is not None
    async with asyncio.timeout(30):
        while "watch=true" not in (line := await asyncio.to_thread(proc.stderr.readline)):
            assert line, "kubectl wait ended before it watched the object"
    await asyncio.sleep(0.5)
    assert proc.poll() is None, "kubectl wait --for=delete returned while the finalizer holds the object"
    await kube.patch(
        "v1/ConfigMap", "held", {"metadata": {"finalizers": None}}, type=PatchType.MERGE, namespace=ns
    )
    code, out, err = finish(proc)
    assert code == 0, err
    assert out.strip() == "configmap/held condition met"


# -- kubectl describe --------------------------------------------------------------------------------


def describe_fields(text: str) -> dict[str, str]:
    """Top-level ``Key:  value`` lines of ``kubectl describe`` output."""
    out = {}
    for line in text.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            out.setdefault(key, value.strip())
    return out


async def test_describe_deployment_shows_spec_and_its_events(kctl: Kubectl, kube: Client, ns: str) -> None:
    kctl("create", "deployment", "web", "-n", ns, "--image=nginx:1.27", "--replicas=2")
    dep = await kube.get("apps/v1/Deployment", "web", namespace=ns)
    await kube.create(
        {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "web.checked", "namespace": ns},
            "eventTime": "2025-01-01T00:00:00.000000Z",
            "reportingController": "kubeloop.dev/conformance",
            "reportingInstance": "conformance-1",
            "action": "Check",
            "reason": "Checked",
            "note": "the conformance suite looked at it",
            "type": "Warning",
            "regarding": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
                "namespace": ns,
                "uid": dep["metadata"]["uid"],
            },
        }
    )
    text = kctl("describe", "deployment", "web", "-n", ns).stdout
    fields = describe_fields(text)
    assert fields["Name"] == "web"
    assert fields["Namespace"] == ns
    assert fields["Selector"] == "app=web"
    assert fields["Replicas"].startswith("2 desired")
    assert fields["StrategyType"] == "RollingUpdate"
    assert "Image:         nginx:1.27" in text
    events = text.split("\nEvents:", 1)[1]
    warnings = [line.split() for line in events.splitlines() if line.strip().startswith("Warning")]
    assert len(warnings) == 1
    assert warnings[0][:2] == ["Warning", "Checked"]
    assert " ".join(warnings[0]).endswith("the conformance suite looked at it")


def test_describe_configmap_shows_data(kctl: Kubectl, ns: str) -> None:
    kctl("create", "configmap", "settings", "-n", ns, "--from-literal=mode=fast")
    kctl("label", "configmap", "settings", "-n", ns, "tier=web")
    text = kctl("describe", "configmap", "settings", "-n", ns).stdout
    fields = describe_fields(text)
    assert (fields["Name"], fields["Namespace"], fields["Labels"]) == ("settings", ns, "tier=web")
    data = text.split("\nData\n====\n", 1)[1]
    assert data.split()[:3] == ["mode:", "----", "fast"]
    assert text.rstrip().endswith("Events:  <none>")


async def test_describe_custom_resource_shows_spec_status_and_conditions(
    kctl: Kubectl, kube: Client, ns: str, gizmos: str
) -> None:
    kctl("apply", "-f", "-", input=gizmo("d", ns))
    await set_ready(kube, ns, "d", "True")
    text = kctl("describe", gizmos, "d", "-n", ns).stdout
    fields = describe_fields(text)
    assert (fields["Name"], fields["Namespace"]) == ("d", ns)
    assert fields["API Version"] == f"{GROUP}/v1"
    assert fields["Kind"] == "Gizmo"
    assert "  Size:  1" in text
    assert "    Reason:   Test" in text
    assert "    Status:   True" in text


# -- Events across the two APIs ----------------------------------------------------------------------


async def test_events_api_event_is_a_core_event_and_back(kube: Client, ns: str) -> None:
    await kube.create(
        {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "new-api", "namespace": ns},
            "eventTime": "2025-01-01T00:00:00.000000Z",
            "reportingController": "kubeloop.dev/conformance",
            "reportingInstance": "conformance-1",
            "action": "Check",
            "reason": "Checked",
            "note": "from events.k8s.io",
            "type": "Normal",
            "regarding": {"apiVersion": "v1", "kind": "ConfigMap", "name": "target", "namespace": ns},
        }
    )
    core = await kube.list("v1/Event", namespace=ns, field_selector="involvedObject.name=target")
    assert [e["metadata"]["name"] for e in core["items"]] == ["new-api"]
    got = await kube.get("v1/Event", "new-api", namespace=ns)
    assert (got["apiVersion"], got["message"], got["reportingComponent"]) == (
        "v1",
        "from events.k8s.io",
        "kubeloop.dev/conformance",
    )
    assert got["involvedObject"]["kind"] == "ConfigMap"
    patched = await kube.patch(
        "events.k8s.io/v1/Event",
        "new-api",
        {"series": {"count": 2, "lastObservedTime": "2025-01-01T00:00:05.000000Z"}},
        type=PatchType.MERGE,
        namespace=ns,
    )
    assert patched["series"]["count"] == 2
    assert patched["note"] == "from events.k8s.io"
    again = await kube.get("v1/Event", "new-api", namespace=ns)
    assert again["series"]["count"] == 2
    assert again["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]

    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "old-api", "namespace": ns},
            "involvedObject": {"apiVersion": "v1", "kind": "ConfigMap", "name": "other", "namespace": ns},
            "reason": "Old",
            "message": "from core v1",
            "type": "Normal",
            "source": {"component": "conformance"},
            "firstTimestamp": "2025-01-01T00:00:00Z",
            "lastTimestamp": "2025-01-01T00:00:00Z",
            "count": 1,
        }
    )
    new = await kube.get("events.k8s.io/v1/Event", "old-api", namespace=ns)
    assert (new["apiVersion"], new["note"], new["regarding"]["name"]) == (
        "events.k8s.io/v1",
        "from core v1",
        "other",
    )
    assert (new["deprecatedSource"], new["deprecatedCount"]) == ({"component": "conformance"}, 1)


def _stamp(seconds_ago: int, micro: bool = False) -> str:
    then = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)
    return then.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


async def test_kubectl_get_events_shows_the_event_columns_for_both_apis(
    kctl: Kubectl, kube: Client, ns: str
) -> None:
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "core-one", "namespace": ns},
            "involvedObject": {"kind": "ConfigMap", "name": "target", "namespace": ns, "fieldPath": "data"},
            "reason": "Changed",
            "message": "  changed twice  ",
            "type": "Normal",
            "source": {"component": "kubeloop-test", "host": "node-1"},
            "firstTimestamp": _stamp(300),
            "lastTimestamp": _stamp(10),
            "count": 2,
        }
    )
    await kube.create(
        {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "new-one", "namespace": ns},
            "eventTime": _stamp(20, micro=True),
            "reportingController": "kubeloop.dev/conformance",
            "reportingInstance": "conformance-1",
            "action": "Check",
            "reason": "Invalid",
            "note": "spec.size must be positive",
            "type": "Warning",
            "regarding": {"kind": "Deployment", "name": "web", "namespace": ns, "fieldPath": "spec"},
        }
    )
    lines = kctl("get", "events", "-n", ns, "-o", "wide").stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == [
        "LAST SEEN",
        "TYPE",
        "REASON",
        "OBJECT",
        "SUBOBJECT",
        "SOURCE",
        "MESSAGE",
        "FIRST SEEN",
        "COUNT",
        "NAME",
    ]
    rows = {cells[-1]: cells for cells in (re.split(r"\s{2,}", line.strip()) for line in lines[1:])}
    assert set(rows) == {"core-one", "new-one"}
    seconds, minutes = re.compile(r"\d+s"), re.compile(r"5m(\d+s)?")
    last, *middle, first, count, _ = rows["core-one"]
    assert seconds.fullmatch(last), rows["core-one"]
    assert minutes.fullmatch(first), rows["core-one"]
    assert middle == [
        "Normal",
        "Changed",
        "configmap/target",
        "data",
        "kubeloop-test, node-1",
        "changed twice",
    ]
    assert count == "2"
    last, *middle, first, count, _ = rows["new-one"]
    assert seconds.fullmatch(last), rows["new-one"]
    assert first == last
    assert middle == [
        "Warning",
        "Invalid",
        "deployment/web",
        "spec",
        "kubeloop.dev/conformance, conformance-1",
        "spec.size must be positive",
    ]
    assert count == "1"
    narrow = kctl("get", "events", "-n", ns).stdout.splitlines()
    assert re.split(r"\s{2,}", narrow[0].strip()) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]

    await kube.patch(
        "events.k8s.io/v1/Event",
        "new-one",
        {"series": {"count": 3, "lastObservedTime": _stamp(2, micro=True)}},
        type=PatchType.MERGE,
        namespace=ns,
    )
    row = re.split(r"\s{2,}", kctl("get", "events", "new-one", "-n", ns, "-o", "wide").stdout.splitlines()[1])
    assert seconds.fullmatch(row[0]), row
    assert seconds.fullmatch(row[-3]), row
    assert int(row[0][:-1]) < int(row[-3][:-1])  # last seen from the series, first seen from eventTime
    assert row[-2] == "3"  # the series' count


def _wide(kctl: Kubectl, *args: str) -> list[list[str]]:
    """``kubectl get ... -o wide`` as rows of cells (cells are separated by two spaces or more)."""
    lines = kctl("get", *args, "-o", "wide").stdout.splitlines()
    return [re.split(r"\s{2,}", line.strip()) for line in lines]


def test_kubectl_get_wide_shows_the_real_columns_of_built_in_kinds(kctl: Kubectl, ns: str) -> None:
    kctl("create", "configmap", "settings", "-n", ns, "--from-literal=a=1", "--from-literal=b=2")
    kctl("create", "secret", "generic", "creds", "-n", ns, "--from-literal=token=t")
    kctl("create", "deployment", "web", "-n", ns, "--image=nginx:1.27", "--image=busybox:1.36")
    kctl("create", "service", "clusterip", "web", "-n", ns, "--tcp=80:8080")
    kctl("run", "solo", "-n", ns, "--image=nginx:1.27", "--labels=run=solo,tier=web")

    header, row = _wide(kctl, "configmap", "settings", "-n", ns)
    assert (header, row[:2]) == (["NAME", "DATA", "AGE"], ["settings", "2"])
    header, row = _wide(kctl, "secret", "creds", "-n", ns)
    assert (header, row[:3]) == (["NAME", "TYPE", "DATA", "AGE"], ["creds", "Opaque", "1"])
    header, row = _wide(kctl, "namespace", ns)
    assert (header, row[:2]) == (["NAME", "STATUS", "AGE"], [ns, "Active"])
    header, row = _wide(kctl, "deployment", "web", "-n", ns)
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert row[0] == "web"
    assert row[-3:] == ["nginx,busybox", "nginx:1.27,busybox:1.36", "app=web"]
    selector = {
        "matchLabels": {"app": "sel"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["web", "api"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    chosen = deployment("chosen", ns, {"name": "main", "image": "nginx:1.27"})
    chosen["spec"]["selector"] = selector
    chosen["spec"]["template"]["metadata"]["labels"] = {"app": "sel", "tier": "web"}
    kctl("apply", "-f", "-", input=yaml.safe_dump(chosen))
    assert _wide(kctl, "deployment", "chosen", "-n", ns)[1][-1] == "app=sel,!legacy,tier in (api,web)"
    header, row = _wide(kctl, "service", "web", "-n", ns)
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert (row[0], row[1], row[3], row[4], row[6]) == ("web", "ClusterIP", "<none>", "80/TCP", "app=web")
    header, row = _wide(kctl, "pod", "solo", "-n", ns)
    assert header == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
    ]
    assert (row[0], row[-2:]) == ("solo", ["<none>", "<none>"])  # nominated node, readiness gates
