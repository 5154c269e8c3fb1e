"""ansible-runner runs as a subprocess; a run that cannot even start is a failed result saying why."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kubeloop.ansible import run_ansible


async def test_a_run_that_cannot_start_is_a_failure_naming_the_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = tmp_path / "roles" / "noop"
    (role / "tasks").mkdir(parents=True)
    (role / "tasks" / "main.yml").write_text("- ansible.builtin.debug: {msg: hi}\n")
    # An interpreter that exits at once: no artifacts directory is ever made.
    monkeypatch.setattr(sys, "executable", "/bin/false")
    result = await run_ansible(
        tmp_path / "private",
        role=role,
        playbook=None,
        extravars={},
        env={},
        timeout=30,
        max_artifacts=2,
    )
    assert not result.successful
    assert result.message.startswith("the run ended without a result (ansible-runner exit code 1)")
