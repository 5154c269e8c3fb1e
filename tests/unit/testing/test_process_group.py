"""A control-plane component started by ManagedProcess runs in its own session, so its own scheduling
group where the kernel groups by session: the group gets the parent's group's nice, so a test run
given a low share of the CPU does not run its kube-apiserver and etcd at full weight."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

AUTOGROUP = Path("/proc/self/autogroup")

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from kubeloop.testing.process import ManagedProcess

    Path("/proc/self/autogroup").write_text(sys.argv[2])
    sleep = [sys.executable, "-c", "import time; time.sleep(30)"]
    child = ManagedProcess("sleeper", sleep, Path(sys.argv[1]))
    child.start()
    try:
        print(Path(f"/proc/{child.pid}/autogroup").read_text().split()[-1], flush=True)
        print(Path(f"/proc/{child.pid}/stat").read_text().split()[5] == str(child.pid), flush=True)
    finally:
        child.stop()
    """
)


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="the kernel has no sched_autogroup")
@pytest.mark.parametrize("nice", ["19", "0"])
def test_a_component_gets_its_parents_group_nice_in_its_own_session(nice: str, tmp_path: Path) -> None:
    # The parent is a new session (a group of its own, whose nice it sets) so this test's group is untouched.
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "log"), nice],
        capture_output=True, text=True, timeout=60, start_new_session=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    group_nice, own_session = done.stdout.split()
    assert (group_nice, own_session) == (nice, "True")
