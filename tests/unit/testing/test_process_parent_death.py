"""A control plane's child dies with the process that started it, not with the thread: the kernel's
parent-death signal (PR_SET_PDEATHSIG) fires when the *thread* that forked the child ends, so a child
started from a worker thread (``asyncio.to_thread``, a thread pool) was killed when that thread ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from kubeloop.testing.process import ManagedProcess

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")

SLEEPER = [sys.executable, "-c", "import time; time.sleep(3600)"]

# Starts a sleeper from a thread that then ends, prints the sleeper's pid, and waits to be killed.
PARENT = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path
    from kubeloop.testing.process import ManagedProcess
    sleeper = [sys.executable, "-c", "import time; time.sleep(3600)"]
    child = ManagedProcess("sleeper", sleeper, Path(sys.argv[1]))
    thread = threading.Thread(target=child.start)
    thread.start()
    thread.join()
    print(child.pid, flush=True)
    time.sleep(3600)
    """
)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def start_from_a_thread_that_ends(process: ManagedProcess) -> None:
    """``process.start()`` on a thread of its own, returning once the OS thread is gone (its end is
    what sends the parent-death signal)."""
    thread = threading.Thread(target=process.start)
    thread.start()
    thread.join()
    task = Path(f"/proc/self/task/{thread.native_id}")
    while task.exists():  # join returns before the OS thread has quite ended
        time.sleep(0.01)


def test_a_child_started_from_a_thread_that_ends_outlives_the_thread(tmp_path: Path) -> None:
    process = ManagedProcess("sleeper", SLEEPER, tmp_path / "sleeper.log")
    start_from_a_thread_that_ends(process)
    try:
        assert process.pid is not None
        # The old code's child had its SIGKILL by now; give it a moment to show (this waits only so
        # that the old code fails; the child staying up is what is asserted).
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and not process.exited:
            time.sleep(0.02)
        assert not process.exited, f"killed with the thread that started it: {process.returncode}"
    finally:
        process.stop()


def test_a_child_started_from_a_thread_still_dies_with_its_process(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "sleeper.log")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert alive(pid)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 300  # a bound no run reaches: the kernel kills it as the parent ends
    while alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"the child {pid} outlived its parent process")
        time.sleep(0.02)
