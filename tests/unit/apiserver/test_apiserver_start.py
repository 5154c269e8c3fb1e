"""Start to ready of a new ``python -m kubeloop.apiserver`` process (issue 15: under 1 s): the CPU it
spends until ``/readyz`` answers, which is what the start costs whatever else the machine runs (its
wall-clock time is that CPU on a quiet machine; docs/benchmarks/apiserver.md has both, measured under
the benchmark lock)."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

from kubeloop.testing.process import http_ok

CLK_TCK = os.sysconf("SC_CLK_TCK")
UNVERIFIED = ssl.create_default_context()
UNVERIFIED.check_hostname = False
UNVERIFIED.verify_mode = ssl.CERT_NONE


def _cpu_until_ready(data: Path, port: int) -> float:
    # With bytecode caches, as an install has them (this machine's PYTHONDONTWRITEBYTECODE=1 would
    # make every start compile kubeloop again).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeloop.apiserver", "--data", str(data), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while not http_ok(f"https://127.0.0.1:{port}/readyz", UNVERIFIED):
            assert proc.poll() is None, "the server exited while starting"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_new_process_is_ready_within_a_second_of_cpu(tmp_path: Path, unused_tcp_port: int) -> None:
    _cpu_until_ready(tmp_path / "first", unused_tcp_port)  # writes the bytecode caches
    cpu = min(_cpu_until_ready(tmp_path / f"run{i}", unused_tcp_port) for i in range(2))
    print(f"CPU until ready: {cpu:.2f} s")
    assert cpu < 1.0


def test_the_start_decodes_no_openapi_v3_document() -> None:
    # 5.2 MB of the bundled 7.2 MB of JSON (50 ms of a new process's start): only /openapi/v3
    # requests and apply's key defaults read it.
    script = (
        "import asyncio\n"
        "from kubeloop.apiserver import EmbeddedServer\n"
        "from kubeloop.apiserver.registry import bundled\n"
        "async def main():\n"
        "    async with EmbeddedServer():\n"
        "        print(bundled.v3_document.cache_info().currsize)\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0"]
