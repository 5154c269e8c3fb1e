"""``kubeloop generate crd|rbac|samples|webhook|manager|all TARGET``: write an operator's manifests
under ``config/``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from kubeloop.cli.run import load_operator
from kubeloop.errors import KubeloopError
from kubeloop.operator import Operator
from kubeloop.scaffold import (
    manager_file,
    write_crd_manifests,
    write_manager,
    write_rbac,
    write_samples,
    write_webhook_manifests,
)

__all__ = ["generate"]

_WRITERS: dict[str, Callable[[Operator, Path], list[Path]]] = {
    "crd": write_crd_manifests,
    "rbac": write_rbac,
    "samples": write_samples,
    "webhook": write_webhook_manifests,
    "manager": write_manager,
}


@click.command()
@click.argument("what", type=click.Choice([*_WRITERS, "all"]))
@click.argument("target")
@click.option(
    "--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True
)
def generate(what: str, target: str, root: Path) -> None:
    """Write WHAT (crd, rbac, samples, webhook, manager or all) for the operator TARGET
    (`package.module:operator`).

    manager: config/manager/manager.yaml, the manager's Deployment: one leader-elected replica, or,
    for an operator declared with sharding, 3 replicas with --shards=auto and a PodDisruptionBudget;
    rewritten while it is as a template gave it, an edited one kept if it fits the operator."""
    operator = load_operator(target)
    chosen = list(_WRITERS) if what == "all" else [what]
    try:
        if "manager" in chosen:
            manager_file(operator, root)  # an edited manager.yaml refused before anything is written
        for name in chosen:
            for path in _WRITERS[name](operator, root):
                click.echo(f"wrote {path}")
    except KubeloopError as exc:
        raise click.ClickException(str(exc)) from exc
