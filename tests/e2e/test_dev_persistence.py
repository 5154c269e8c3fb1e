"""`kubeloop dev --data D --port P` keeps every acknowledged write across a `kill -9`: real kubectl
creates objects (each create answered), the process is killed with SIGKILL straight after the last
answer, and a second `kubeloop dev --data D` serves every object with its resourceVersion, in the same
order, and gives new writes higher versions."""

from __future__ import annotations

import concurrent.futures
import os
import queue
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeloop.testing import Kubectl, KubectlError

ROOT = Path(__file__).parents[2]
KUBELOOP = ROOT / ".venv/bin/kubeloop"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Dev:
    """A `kubeloop dev` subprocess; `kubeconfig` is what its banner printed."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(KUBELOOP), "dev", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.kubeconfig = self._banner()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _banner(self) -> Path:
        kubeconfig = None
        while True:
            try:
                line = self.lines.get(timeout=60)
            except queue.Empty:
                pytest.fail("kubeloop dev printed no banner within 60 s:\n" + "".join(self.output))
            if line is None:
                pytest.fail("kubeloop dev ended before it served:\n" + "".join(self.output))
            self.output.append(line)
            if line.strip().startswith("kubeconfig:"):
                kubeconfig = Path(line.split(":", 1)[1].strip())
            if line.strip().startswith("try:") and kubeconfig is not None:
                assert line.split("try:", 1)[1].strip() == f"export KUBECONFIG={kubeconfig}"
                return kubeconfig

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def interrupt(self) -> str:
        os.killpg(self.proc.pid, signal.SIGINT)
        self.proc.wait(timeout=30)
        rest = []
        while (line := self.lines.get(timeout=10)) is not None:
            rest.append(line)
        return "".join(rest)


@pytest.fixture
def dev_processes() -> Iterator[list[Dev]]:
    started: list[Dev] = []
    yield started
    for dev in started:
        if dev.proc.poll() is None:
            dev.kill9()


def create(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    created: dict[str, Any] = kubectl.json("create", *args)
    return created


def snapshot(kubectl: Kubectl, namespace: str) -> dict[str, dict[str, Any]]:
    """Every ConfigMap/Secret/Deployment (ours) in ``namespace``: kind/name -> object."""
    got = kubectl.json("get", "configmaps,secrets,deployments", "-n", namespace)
    return {
        f"{o['kind']}/{o['metadata']['name']}": o
        for o in got["items"]
        if o["metadata"]["name"] != "kube-root-ca.crt"
    }


def test_acknowledged_writes_survive_kill_9_with_their_resource_versions(
    tmp_path: Path, dev_processes: list[Dev]
) -> None:
    data, port = tmp_path / "data", free_port()
    dev = Dev("--data", str(data), "--port", str(port))
    dev_processes.append(dev)
    assert dev.kubeconfig == data / "kubeconfig"
    kubectl = Kubectl(dev.kubeconfig)

    written: dict[str, dict[str, Any]] = {}
    ns = create(kubectl, "namespace", "keep")
    for i in range(12):
        cm = create(kubectl, "configmap", f"cm-{i}", "-n", "keep", f"--from-literal=i={i}")
        written[f"ConfigMap/cm-{i}"] = cm
    written["Secret/s"] = create(kubectl, "secret", "generic", "s", "-n", "keep", "--from-literal=k=v")
    create(kubectl, "deployment", "web", "-n", "keep", "--image=nginx:1.27")
    # the server's workload controller writes the Deployment's status once; keep what it wrote
    kubectl("wait", "-n", "keep", "--for=condition=Available", "deployment/web", "--timeout=30s")
    written["Deployment/web"] = kubectl.json("get", "deployment", "web", "-n", "keep")
    patched = kubectl.json(
        "patch", "configmap", "cm-3", "-n", "keep", "--type=merge", "-p", '{"data":{"i":"patched"}}'
    )
    written["ConfigMap/cm-3"] = patched
    last = create(kubectl, "configmap", "last", "-n", "keep", "--from-literal=x=y")
    written["ConfigMap/last"] = last
    dev.kill9()  # straight after the last acknowledged write

    again = Dev("--data", str(data), "--port", str(port))
    dev_processes.append(again)
    assert again.kubeconfig == dev.kubeconfig
    kubectl = Kubectl(again.kubeconfig)
    assert kubectl.json("get", "namespace", "keep")["metadata"]["uid"] == ns["metadata"]["uid"]

    found = snapshot(kubectl, "keep")
    assert set(written) <= set(found)
    for key, obj in written.items():
        got = found[key]
        assert got["metadata"]["uid"] == obj["metadata"]["uid"], key
        assert got["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"], key
        assert got.get("data") == obj.get("data"), key
    assert found["ConfigMap/cm-3"]["data"] == {"i": "patched"}

    def order(objs: dict[str, dict[str, Any]]) -> list[str]:
        return sorted(written, key=lambda k: int(objs[k]["metadata"]["resourceVersion"]))

    assert order(found) == order(written)
    newest = max(int(o["metadata"]["resourceVersion"]) for o in found.values())
    after = create(kubectl, "configmap", "after-restart", "-n", "keep", "--from-literal=a=b")
    assert int(after["metadata"]["resourceVersion"]) > newest
    updated = kubectl.json(
        "patch", "configmap", "cm-0", "-n", "keep", "--type=merge", "-p", '{"data":{"i":"new"}}'
    )
    assert int(updated["metadata"]["resourceVersion"]) > int(after["metadata"]["resourceVersion"])

    rest = again.interrupt()
    assert f"keeps its data in {data}" in "".join(again.output) + rest
    assert "Traceback" not in "".join(again.output) + rest
    assert (data / "state.db").exists(), "--data is kept on Ctrl-C"


def test_writes_acknowledged_while_others_are_in_flight_survive_kill_9(
    tmp_path: Path, dev_processes: list[Dev]
) -> None:
    data, port = tmp_path / "data", free_port()
    dev = Dev("--data", str(data), "--port", str(port))
    dev_processes.append(dev)
    kubectl = Kubectl(dev.kubeconfig)
    create(kubectl, "namespace", "burst")

    acknowledged: dict[str, str] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker: int) -> None:
        i = 0
        while not stop.is_set():
            name = f"w{worker}-{i}"
            try:
                cm = create(kubectl, "configmap", name, "-n", "burst", "--from-literal=x=1")
            except KubectlError:
                return  # the server died under this request: not acknowledged
            with lock:
                acknowledged[name] = cm["metadata"]["resourceVersion"]
            i += 1

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(writer, w) for w in range(4)]
        while len(acknowledged) < 40:
            if all(f.done() for f in futures):
                pytest.fail("writers stopped early")
            stop.wait(0.05)
        dev.kill9()  # while the writers still have creates in flight
        stop.set()
        for f in futures:
            f.result()

    again = Dev("--data", str(data), "--port", str(port))
    dev_processes.append(again)
    kubectl = Kubectl(again.kubeconfig)
    items = kubectl.json("get", "configmaps", "-n", "burst")["items"]
    stored = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in items}
    missing = sorted(set(acknowledged) - set(stored))
    assert not missing, f"acknowledged but lost after kill -9: {missing}"
    assert all(stored[name] == rv for name, rv in acknowledged.items())
    assert len(set(stored.values())) == len(stored), "resourceVersions are unique"
    newest = max(int(rv) for rv in stored.values())
    after = create(kubectl, "configmap", "after", "-n", "burst", "--from-literal=x=1")
    assert int(after["metadata"]["resourceVersion"]) > newest
    print(f"{len(acknowledged)} acknowledged, {len(stored)} stored after kill -9")
