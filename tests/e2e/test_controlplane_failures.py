"""Bad input to the control plane: one-line errors naming the component and its log; no orphans."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kubeloop.errors import ComponentError
from kubeloop.testing import ControlPlane, assets, eventually


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live (non-zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _component_pids(marker: str) -> list[int]:
    """Pids of processes whose command line mentions ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline and int(entry.name) != os.getpid():
                pids.append(int(entry.name))
    return pids


def test_port_in_use_is_named_before_anything_starts() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ComponentError) as info, ControlPlane(apiserver_port=port):
            pass
    assert str(info.value) == f"kube-apiserver: port 127.0.0.1:{port} is already in use"


def test_component_exiting_early_names_it_and_keeps_its_log_and_leaves_no_orphans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "kube-apiserver"
    fake.write_text("#!/bin/sh\necho 'E1126 run.go:72] error: unknown flag --surprise' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("TEST_ASSET_KUBE_APISERVER", str(fake))
    plane = ControlPlane()
    with pytest.raises(ComponentError) as info:
        plane.start()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        "kube-apiserver: exited early with code 3: E1126 run.go:72] error: unknown flag"
    )
    log = Path(info.value.log_path or "")
    assert log.name == "kube-apiserver.log"
    assert "unknown flag" in log.read_text()
    assert not plane.processes
    assert _component_pids(str(plane.directory)) == []
    assert not plane.directory.exists()


# An etcd that logs for 4 s, twice the start_timeout below, before it answers /health (a component
# given a small share of a loaded machine), and a kube-apiserver that exits at once.
SLOW_ETCD = """
import http.server, sys, time
port = int(sys.argv[sys.argv.index("--listen-client-urls") + 1].rpartition(":")[2])
end = time.monotonic() + 4
while time.monotonic() < end:
    print("still starting", flush=True)
    time.sleep(0.1)

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


def test_a_component_that_logs_all_along_is_waited_for_past_start_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etcd, apiserver = tmp_path / "etcd", tmp_path / "kube-apiserver"
    etcd.write_text(f"#!{sys.executable}\n{SLOW_ETCD}")
    apiserver.write_text("#!/bin/sh\necho 'E1207 run.go:72] error: unknown flag --surprise' >&2\nexit 3\n")
    for fake in (etcd, apiserver):
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("TEST_ASSET_ETCD", str(etcd))
    monkeypatch.setenv("TEST_ASSET_KUBE_APISERVER", str(apiserver))
    with pytest.raises(ComponentError) as info:
        ControlPlane(start_timeout=2.0).start()
    assert info.value.component == "kube-apiserver", "etcd was waited for until healthy"
    assert info.value.problem.startswith("exited early with code 3")


# kwok serving its health check at once, then logging for 12 s, past the start_timeout of the nodes' wait
# below, before it runs (the real kwok, which then makes the fake node Ready): slow to ready its nodes,
# not stuck.
SLOW_KWOK = """
import http.server, os, sys, threading, time
kwok, args = sys.argv[1], sys.argv[2:]
port = int(args[args.index("--server-address") + 1].rpartition(":")[2])
asked = threading.Event()

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        asked.set()

server = http.server.HTTPServer(("127.0.0.1", port), Health)
threading.Thread(target=server.serve_forever, daemon=True).start()
asked.wait()
end = time.monotonic() + 12
while time.monotonic() < end:
    print("still starting", flush=True)
    time.sleep(0.1)
server.shutdown()
server.server_close()
os.execv(kwok, [kwok, *args])
"""


class QuickNodeWait(ControlPlane):
    """A start_timeout of 4 s for the nodes' wait only: the rest of the plane keeps the default (60 s;
    at nice 19 on a loaded machine kube-apiserver went 5-10 s without a log line while starting)."""

    def _create_nodes(self, count: int) -> None:
        self.options = dataclasses.replace(self.options, start_timeout=4.0)
        super()._create_nodes(count)


def test_fake_nodes_readied_slowly_while_kwok_logs_are_waited_for_past_start_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = assets.find_binary("kwok")
    assert real is not None, "kwok not built: `kubeloop controlplane build`"
    fake = tmp_path / "kwok"
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.argv.insert(1, {str(real)!r})\n{SLOW_KWOK}")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("TEST_ASSET_KWOK", str(fake))
    with QuickNodeWait(nodes=1) as plane:
        ready = plane.kubectl(
            "get", "nodes", "-o", "jsonpath={.items[0].status.conditions[?(@.type=='Ready')].status}"
        )
        assert ready.stdout == "True"
        assert "still starting" in (plane.log_dir / "kwok.log").read_text()


def test_missing_binary_says_how_to_build_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBELOOP_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    monkeypatch.delenv("TEST_ASSET_ETCD", raising=False)
    with pytest.raises(ComponentError, match=r"^etcd: binary not found .* `kubeloop controlplane build`$"):
        ControlPlane().start()


def _start_cli_plane(tmp_path: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    """Run `kubeloop controlplane up`; returns the process, its kubeconfig and its data directory."""
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubeloop.cli.main",
            "controlplane",
            "up",
            "--nodes",
            "0",
            "--no-controller-manager",
            "--kubeconfig-out",
            str(kubeconfig),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("data:"):
            return proc, kubeconfig, Path(line.split(":", 1)[1].strip())
    pytest.fail(f"`kubeloop controlplane up` exited with {proc.wait()} before printing its data directory")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_cli_control_plane_stops_everything_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    proc, kubeconfig, server_dir = _start_cli_plane(tmp_path)
    pids = _component_pids(str(server_dir))
    assert len(pids) == 2, "etcd and kube-apiserver run"
    ok = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "get", "ns", "default"], check=False)
    assert ok.returncode == 0
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == 0
    assert [p for p in pids if _alive(p)] == []
    assert not server_dir.exists()


def test_killing_the_parent_outright_leaves_no_orphan(tmp_path: Path) -> None:
    proc, _, server_dir = _start_cli_plane(tmp_path)
    pids = _component_pids(str(server_dir))
    assert pids
    proc.kill()
    proc.wait()
    eventually(
        lambda: not [p for p in pids if _alive(p)], timeout=10, what="children exit after parent SIGKILL"
    )
