"""An operator run as a separate process by the tests: it records which process reconciled what.

A Gadget whose ``spec.message`` is ``sleep:N`` makes the reconcile apply ``<name>-started``, sleep N
seconds, then apply ``<name>-by``; ``<name>-by`` holds the pid of the process that reconciled.
"""

from __future__ import annotations

import asyncio
import os

from gadgets import Gadget

import kubeloop as kl
from kubeloop.resources import core_v1

operator = kl.Operator("lease-test")


@operator.reconcile(Gadget, owns=[core_v1.ConfigMap])
async def reconcile(g: Gadget, ctx: kl.Context) -> None:
    name = g.metadata.name
    children = [core_v1.ConfigMap(metadata={"name": f"{name}-by"}, data={"pid": str(os.getpid())})]
    if g.spec.message.startswith("sleep:"):
        started = core_v1.ConfigMap(metadata={"name": f"{name}-started"})
        await ctx.apply(started)
        await asyncio.sleep(float(g.spec.message.removeprefix("sleep:")))
        children.append(started)
    await ctx.apply(*children)
