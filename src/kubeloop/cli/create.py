"""``kubeloop create api|webhook``: add a custom resource, its controller or its webhooks to the
project in the current directory."""

from __future__ import annotations

from pathlib import Path

import click

from kubeloop.cli.init import report
from kubeloop.scaffold import ApiOptions, ScaffoldError, create_api

__all__ = ["create"]


@click.group()
def create() -> None:
    """Add an API or a webhook to the project in the current directory."""


@create.command()
@click.option("--group", required=True, help="API group, without the domain (etcd).")
@click.option("--version", required=True, help="API version (v1, v1beta1, v1alpha1).")
@click.option("--kind", required=True, help="Kind, UpperCamelCase (EtcdCluster).")
@click.option("--namespaced/--cluster", default=True, show_default=True, help="Scope of the resource.")
@click.option("--resource/--no-resource", default=True, show_default=True, help="Scaffold the model.")
@click.option(
    "--controller/--no-controller", default=True, show_default=True, help="Scaffold the controller."
)
def api(group: str, version: str, kind: str, namespaced: bool, resource: bool, controller: bool) -> None:
    """Add a custom resource: model, controller with a reconcile stub, sample, test."""
    options = ApiOptions(
        group, version, kind, namespaced=namespaced, resource=resource, controller=controller
    )
    try:
        report(create_api(Path.cwd(), options))
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("\nNext: edit the model and the reconcile, then `make manifests install run`.")
