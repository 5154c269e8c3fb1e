"""What ends a worker or a controller, on the real API server and the embedded one: a reconcile
raising ``CancelledError`` (or another ``BaseException``) is retried and its worker lives on; a
controller that stops anyway makes ``kubeloop run`` exit non-zero, naming what stopped."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from gadgets import Gadget, gadget

import kubeloop as kl
from kubeloop.client import Client
from kubeloop.resources import core_v1
from kubeloop.testing import run_operator, until

HERE = Path(__file__).parent


async def test_a_reconcile_raising_cancelled_error_is_retried_and_its_worker_lives_on(
    kubeconfig: Path, api: Client, ns: str
) -> None:
    operator = kl.Operator("stray-cancel-test", namespace=ns)
    attempts: dict[str, int] = {}

    @operator.reconcile(Gadget, max_concurrent_reconciles=1)  # one worker: it must survive
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        name = g.metadata.name or ""
        attempts[name] = attempts.get(name, 0) + 1
        if name == "stray" and attempts[name] == 1:
            raise asyncio.CancelledError("a CancelledError not meant for this worker")
        await ctx.apply(core_v1.ConfigMap(metadata={"name": f"{name}-done"}), owned=False)

    async with run_operator(operator, kubeconfig) as manager:
        await api.create(gadget("stray"), namespace=ns)
        await until(lambda: attempts.get("stray", 0) >= 2, what="a second try of the stray key")
        await api.create(gadget("next"), namespace=ns)
        for name in ("stray", "next"):
            await until(lambda name=name: done(api, ns, name), what=f"{name} reconciled")
        panics = manager.metrics.registry.get_sample_value(
            "controller_runtime_reconcile_panics_total", {"controller": "gadget.test.kubeloop.io"}
        )
    assert attempts["stray"] == 2
    assert panics == 1


async def done(api: Client, namespace: str, name: str) -> bool:
    items = (await api.list("configmaps", namespace=namespace))["items"]
    return any(i["metadata"]["name"] == f"{name}-done" for i in items)


async def test_a_controller_that_stops_makes_the_process_exit_non_zero_with_the_reason(
    kubeconfig: Path, api: Client, ns: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    command = [sys.executable, "-m", "kubeloop.cli.main", "run", "faulty_operator:operator"]
    options = ["--kubeconfig", str(kubeconfig), "--namespace", ns]
    options += ["--metrics-bind-address", "0", "--health-probe-bind-address", "0"]
    proc = await asyncio.create_subprocess_exec(
        *command, *options, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        await api.create(gadget("doomed", message="cancel-my-worker"), namespace=ns)
        output, _ = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = output.decode()
    assert proc.returncode != 0, text
    reason = r"controller gadget\.test\.kubeloop\.io: worker \d+ was cancelled while its owner"
    assert re.search(reason, text), text
    exits = [line for line in text.splitlines() if "exiting:" in line]
    assert len(exits) == 1, f"one reason, not the stops it caused: {exits}"
