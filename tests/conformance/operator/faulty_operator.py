"""An operator run as a separate process by the tests, whose reconcile misbehaves on request.

A Gadget whose ``spec.message`` is ``cancel-my-worker`` makes the reconcile cancel the task it runs
on, as a library misusing cancellation might: that worker ends, which the controller does not expect.
"""

from __future__ import annotations

import asyncio

from gadgets import Gadget

import kubeloop as kl

operator = kl.Operator("faulty-test")


@operator.reconcile(Gadget)
async def reconcile(g: Gadget, ctx: kl.Context) -> None:
    if g.spec.message == "cancel-my-worker":
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(0)
