"""``kubeloop run MODULE:OPERATOR|WATCHES.yaml``: run an operator out of cluster against a kubeconfig."""

from __future__ import annotations

import asyncio
import importlib
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from kubeloop.cli._flags import ENV, manager_flags, manager_options
from kubeloop.errors import KubeloopError
from kubeloop.manager import configure_logging
from kubeloop.operator import Operator

__all__ = ["load_operator", "run"]


def load_operator(
    target: str, *, max_concurrent_reconciles: int | None = None, name: str | None = None
) -> Operator:
    """Import ``module:attribute`` (the current directory and ``src/`` are on the path), or make the
    Ansible or Helm operator of a watches file (``watches.yaml``, charts or roles; named ``name``, by
    default ``<its directory>-operator``; helm from the kubeloop cache or PATH)."""
    if target.endswith((".yaml", ".yml")):
        # Imported here: the CLI starts faster without them.
        from kubeloop.ansible import AnsibleOperator
        from kubeloop.helm import HelmOperator, is_helm_watches
        from kubeloop.testing.assets import find_binary

        path = Path(target).resolve()
        name = name or f"{path.parent.name}-operator"
        try:
            if is_helm_watches(path):
                helm = find_binary("helm") or shutil.which("helm")
                if helm is None:
                    raise click.ClickException(
                        "no helm: run `kubeloop controlplane build helm` or put helm on PATH"
                    )
                return HelmOperator(
                    path,
                    helm=helm,
                    helm_server=find_binary("helm-server")
                    or shutil.which("helm-server"),  # None: the helm command
                    name=name,
                    max_concurrent_reconciles=max_concurrent_reconciles,
                )
            return AnsibleOperator(path, name=name, max_concurrent_reconciles=max_concurrent_reconciles)
        except KubeloopError as exc:
            raise click.ClickException(str(exc)) from exc
    module_name, _, attr = target.partition(":")
    attr = attr or "operator"
    if module_name.endswith(".py") or "/" in module_name:
        raise click.ClickException(
            f"{target!r} is a file: TARGET is the module to import and the Operator's name in it,"
            f" {_dotted(module_name)}:{attr}"
        )
    for extra in (Path.cwd() / "src", Path.cwd()):
        if extra.is_dir() and str(extra) not in sys.path:
            sys.path.insert(0, str(extra))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        cwd = Path.cwd()
        looked = f" (looked in {cwd}, {cwd / 'src'} and the installed packages)"
        where = looked if exc.name == module_name.partition(".")[0] else ""
        raise click.ClickException(f"cannot import {module_name!r}: {exc}{where}") from exc
    except ImportError as exc:
        raise click.ClickException(f"cannot import {module_name!r}: {exc}") from exc
    if not hasattr(module, attr):
        raise click.ClickException(
            f"module {module_name!r} has no {attr!r}: TARGET is package.module:name, the name of"
            " the kubeloop.Operator after the colon (default: operator)"
        )
    found = getattr(module, attr)
    if not isinstance(found, Operator):
        raise click.ClickException(f"{target!r} is a {type(found).__name__}, not a kubeloop.Operator")
    return found


def _dotted(path: str) -> str:
    """The module a file path names (``src/pkg/operator.py``: ``pkg.operator``), for a hint; a file
    outside the current directory gives ``package.module``."""
    file = Path(path).with_suffix("")
    if file.is_absolute():
        if not file.is_relative_to(Path.cwd()):
            return "package.module"
        file = file.relative_to(Path.cwd())
    parts = file.parts
    if "src" in parts:
        parts = parts[len(parts) - parts[::-1].index("src") :]
    return ".".join(parts)


@click.command(context_settings=ENV)
@click.argument("target")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    default=None,
    help="Default: $KUBECONFIG, ~/.kube/config.",
)
@click.option("--namespace", default=None, help="Watch only this namespace (several: comma-separated).")
@click.option("--log-level", default="INFO")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--max-concurrent-reconciles",
    type=click.IntRange(min=1),
    default=None,
    help="Ansible and Helm operators: objects of each kind reconciled at once (default: the CPU count).",
)
@click.option(
    "--name", default=None, help="Ansible operators: the operator's name (its field manager, Events)."
)
@manager_flags()
def run(
    target: str,
    kubeconfig: str | None,
    namespace: str | None,
    log_level: str,
    log_format: str,
    max_concurrent_reconciles: int | None,
    name: str | None,
    **flags: Any,
) -> None:
    """Run the operator TARGET (`package.module:operator`, or an Ansible operator's `watches.yaml`)
    until SIGTERM or Ctrl-C.

    Every option can also be set in the environment as `KUBELOOP_<OPTION>` (`KUBELOOP_LEADER_ELECT=true`).
    """
    configure_logging(log_level, "json" if log_format == "json" else "text")
    options = manager_options(flags)
    operator = load_operator(target, max_concurrent_reconciles=max_concurrent_reconciles, name=name)
    if namespace:
        operator.namespaces = tuple(ns.strip() for ns in namespace.split(",") if ns.strip())
    try:
        asyncio.run(operator.run(options, kubeconfig=kubeconfig))
    except KubeloopError as exc:
        raise click.ClickException(str(exc)) from exc
