"""``kubeloop dev [MODULE:OPERATOR] [--sample FILE ...]``: the zero-setup development loop.

Starts a local cluster, installs the operator's CRDs, runs the operator in this process, applies
the samples, shows what the operator made of them, and stays up (with kubectl pointed at the
cluster) until Ctrl-C or SIGTERM, then removes everything. An operator's admission and conversion
webhooks are served on loopback and installed in the cluster while it runs, so the embedded server
(or the control plane) calls them on every matching write, as a cluster would.

The cluster is the embedded API server by default (Python, no Go, no Docker; workloads are
reported ready without running pods), or with ``--cluster controlplane`` the locally built
etcd + kube-apiserver + controller manager + kwok, where pods are scheduled and run on a fake node.

``--data DIR`` keeps the embedded server's state (SQLite database, certificates, kubeconfig) in DIR:
it survives Ctrl-C and restarts (and ``kill -9``: every acknowledged write is committed to SQLite
before its answer), and the next ``kubeloop dev --data DIR`` carries on from it. ``--port N`` serves
on that loopback port (default: a free one). Without ``--data`` everything is removed on Ctrl-C.

Once up, Ctrl-C or SIGTERM is its normal end: exit 0, as ``kubeloop run`` stopping gracefully. While
it starts, either stops the start at once (a control plane's components too) and exits 128 + the
signal's number, as a shell reports an interrupted command: 130 for Ctrl-C, 143 for SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
from pathlib import Path

import click

from kubeloop import crd
from kubeloop.apiserver import EmbeddedServer
from kubeloop.cli.run import load_operator
from kubeloop.errors import KubeloopError
from kubeloop.manager import ManagerOptions, WebhookServerOptions, configure_logging
from kubeloop.operator import Operator
from kubeloop.scaffold import custom_resources
from kubeloop.testing import ControlPlane, ControlPlaneOptions, Kubectl, run_operator, until, wait_for_crds

__all__ = ["dev"]

BANNER = """
kubeloop dev: a local cluster is up{operator_line}.
  kubeconfig:  {kubeconfig}
  try:         export KUBECONFIG={kubeconfig}
               kubectl get {kinds}
Ctrl-C stops the operator and the cluster and {data_line}.
"""

REMOVES_DATA = "removes their data"
CRD_WAIT = 30.0
"""Seconds to wait for the operator's CRDs to be served before the samples (then exit 1, naming why)."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM while starting: the start stopped, what had started removed."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _say(message: str) -> None:
    """Print a progress line at once, also when stdout is a pipe (scripts wait for these lines)."""
    click.echo(message)
    sys.stdout.flush()


def _cluster(
    kind: str, data: Path | None = None, port: int | None = None
) -> contextlib.AbstractAsyncContextManager[EmbeddedServer | ControlPlane]:
    if kind == "embedded":
        where = f" with data in {data}" if data is not None else ""
        _say(f"starting the embedded API server (kubeloop.apiserver){where}...")
        return EmbeddedServer(data, port=port)
    _say("starting a local control plane (etcd, kube-apiserver, controller manager, 1 kwok node)...")
    return ControlPlane(ControlPlaneOptions(controller_manager=True, nodes=1))


async def _serve(
    operator: Operator | None,
    samples: list[Path],
    kubeconfig_out: Path | None,
    cluster: str,
    data: Path | None = None,
    port: int | None = None,
) -> None:
    stop, serving = asyncio.Event(), asyncio.Event()
    starting = asyncio.current_task()
    received: list[int] = []  # the signal that stopped the start

    def interrupt(signum: int) -> None:
        """Ctrl-C or SIGTERM: once up, the end of ``_until``; while starting, at once (what started so
        far is stopped and removed on the way out), not after the samples are Ready. A second one
        leaves the first one's stop to finish."""
        if stop.is_set():
            return
        stop.set()
        if not serving.is_set() and starting is not None:
            received.append(signum)
            _say("stopping...")
            starting.cancel()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt, sig)
    try:
        await _up(operator, samples, kubeconfig_out, cluster, data, port, stop, serving)
    except asyncio.CancelledError:
        if received:
            raise Interrupted(received[0]) from None
        raise


async def _up(
    operator: Operator | None,
    samples: list[Path],
    kubeconfig_out: Path | None,
    cluster: str,
    data: Path | None,
    port: int | None,
    stop: asyncio.Event,
    serving: asyncio.Event,
) -> None:
    """Start the cluster and the operator, apply the samples, and serve until ``stop``."""
    data_line = REMOVES_DATA if data is None else f"keeps its data in {data}"
    async with _cluster(cluster, data, port) as plane:
        kubeconfig = plane.kubeconfig
        if kubeconfig_out is not None:
            await asyncio.to_thread(shutil.copyfile, kubeconfig, kubeconfig_out)
            kubeconfig = kubeconfig_out
        kubectl = Kubectl(plane.kubeconfig)
        kinds = ["deployments,services,pods"]
        if operator is None:
            _say(BANNER.format(operator_line="", kubeconfig=kubeconfig, kinds=kinds[0], data_line=data_line))
            serving.set()
            await _until(stop, plane)
            return
        models = custom_resources(operator)
        if models:
            _say(f"installing CRDs: {', '.join(m.resource_info().crd_name for m in models)}")
            await asyncio.to_thread(kubectl, "apply", "-f", "-", input=crd.to_yaml(models))
            names = [model.resource_info().crd_name for model in models]
            await asyncio.to_thread(wait_for_crds, kubectl, *names, timeout=CRD_WAIT)  # before the samples
            kinds[:0] = reversed(names)
        _say(f"starting operator {operator.name}...")
        async with run_operator(operator, plane.kubeconfig, _options(operator)):
            for sample in samples:
                _say((await asyncio.to_thread(kubectl, "apply", "-f", str(sample))).stdout.strip())
            if samples:
                await _wait_ready(kubectl, samples)
                shown = await asyncio.to_thread(kubectl, "get", ",".join(kinds), "-o", "wide")
                _say("\nwhat the operator made of the samples:\n" + shown.stdout)
            _say(
                BANNER.format(
                    operator_line=f" and {operator.name} runs",
                    kubeconfig=kubeconfig,
                    kinds=",".join(kinds),
                    data_line=data_line,
                )
            )
            serving.set()
            await _until(stop, plane)
            _say("stopping...")


async def _until(stop: asyncio.Event, plane: EmbeddedServer | ControlPlane) -> None:
    """Until Ctrl-C, or until the embedded server stops by itself (exit 1 with its reason)."""
    if not isinstance(plane, EmbeddedServer):
        await stop.wait()
        return
    stopped = asyncio.create_task(stop.wait())
    ended = asyncio.create_task(plane.wait())
    await asyncio.wait((stopped, ended), return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    ended.cancel()
    if ended.done() and not ended.cancelled() and (exc := ended.exception()) is not None:
        raise click.ClickException(f"the embedded API server stopped: {type(exc).__name__}: {exc}")


def _options(operator: Operator) -> ManagerOptions | None:
    """An operator with webhooks serves them on loopback with a certificate of its own, and the
    cluster calls them (configurations and CRD conversion pointed at it while it runs)."""
    if not operator.has_webhooks:
        return None
    _say("serving its webhooks on loopback; the cluster calls them")
    return ManagerOptions(webhook_server=WebhookServerOptions(bind_address="127.0.0.1:0", local=True))


async def _wait_ready(kubectl: Kubectl, samples: list[Path]) -> None:
    """Wait (up to a minute) until every sample reports a Ready=True condition, then say so."""

    def ready() -> bool:
        for sample in samples:
            got = kubectl.json("get", "-f", str(sample))
            items = got.get("items", [got])
            for item in items:
                conditions = (item.get("status") or {}).get("conditions") or []
                if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                    return False
        return True

    try:
        await until(lambda: asyncio.to_thread(ready), within=60, what="samples Ready", interval=0.5)
        _say("every sample is Ready")
    except AssertionError:
        _say("some samples are not Ready after 60 s; see `kubectl describe` and the operator's log")


@click.command()
@click.argument("target", required=False)
@click.option(
    "--sample",
    "samples",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Apply this manifest once the operator runs (repeatable).",
)
@click.option(
    "--kubeconfig-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the cluster's admin kubeconfig here.",
)
@click.option(
    "--cluster",
    type=click.Choice(["embedded", "controlplane"]),
    default="embedded",
    show_default=True,
    help="embedded: the Python API server; controlplane: etcd + kube-apiserver + controller manager + kwok.",
)
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Embedded server: keep its state in this directory across restarts (default: removed on exit).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Embedded server: serve on this loopback port (default: a free one).",
)
@click.option("--log-level", default="INFO", show_default=True)
def dev(
    target: str | None,
    samples: tuple[Path, ...],
    kubeconfig_out: Path | None,
    cluster: str,
    data: Path | None,
    port: int | None,
    log_level: str,
) -> None:
    """Run TARGET (`package.module:operator`) on a local cluster with its samples applied.

    With no TARGET only the cluster runs (an API server for kubectl and operators run elsewhere).
    """
    if cluster != "embedded" and (data is not None or port is not None):
        raise click.UsageError("--data and --port apply to the embedded cluster only")
    configure_logging(log_level)
    operator = load_operator(target) if target else None
    try:
        asyncio.run(_serve(operator, list(samples), kubeconfig_out, cluster, data, port))
    except Interrupted as exc:  # while starting: stopped, and what had started removed
        sys.exit(128 + exc.signum)
    except KubeloopError as exc:
        raise click.ClickException(str(exc)) from exc
