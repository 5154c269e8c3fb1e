"""``kubeloop init --domain DOMAIN``: scaffold an operator project in the current directory."""

from __future__ import annotations

from pathlib import Path

import click

from kubeloop.scaffold import Change, InitOptions, ScaffoldError, init_project, plan_plugin_init

__all__ = ["init", "report"]

NEXT_STEPS = """
Next:
  kubeloop create api --group <group> --version v1 --kind <Kind>
  make manifests install run       # CRDs and RBAC from the code; CRDs into the cluster; the manager here
  make test                        # the tests, against a real control plane"""
ANSIBLE_NEXT_STEPS = """
Next:
  kubeloop create api --group <group> --version v1 --kind <Kind> --generate-role
  make manifests install run       # RBAC from watches.yaml; CRDs into the cluster; the operator here"""
HELM_NEXT_STEPS = """
Next:
  kubeloop create api --group <group> --version v1 --kind <Kind> --helm-chart <path to a chart>
  make manifests install run       # RBAC from watches.yaml; CRDs into the cluster; the operator here"""


def report(changes: list[Change]) -> None:
    """Print what happened to each file (``unchanged`` ones only with nothing else to say)."""
    for change in changes:
        if change.action != "unchanged":
            click.echo(f"{change.action:>9} {change.path}")
    if all(c.action == "unchanged" for c in changes):
        click.echo("nothing to do: every file is already there")


@click.command()
@click.option("--domain", required=True, help="Domain of the project's API groups (cloud.io).")
@click.option(
    "--plugin",
    type=click.Choice(["python", "ansible", "helm"]),
    default="python",
    show_default=True,
    help="python: a Python package of reconciles; ansible: a watches.yaml of roles and playbooks; "
    "helm: a watches.yaml of charts.",
)
@click.option("--project-name", default=None, help="Default: the directory's name.")
@click.option("--namespace", default=None, help="Namespace of the deployed manager. Default: NAME-system.")
@click.option(
    "--kubeloop-source",
    envvar="KUBELOOP_SOURCE",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Depend on this kubeloop checkout (installed editable); env KUBELOOP_SOURCE. Default: what this "
    "kubeloop was installed from (a checkout, a wheel), or kubeloop>=VERSION when it came from an index.",
)
@click.option(
    "--sharded",
    is_flag=True,
    help="Replicas share the objects, active-active (sharding=True, --shards auto, 3 replicas and a "
    "PodDisruptionBudget), instead of one leader doing all the work.",
)
def init(
    domain: str,
    plugin: str,
    project_name: str | None,
    namespace: str | None,
    kubeloop_source: Path | None,
    sharded: bool,
) -> None:
    """Create an operator project here: package, config/, Makefile, Dockerfile, PROJECT, tests.

    Re-running it writes only missing files, and refuses (naming them, writing nothing) when files
    it would write exist with other content.
    """
    root = Path.cwd()
    options = InitOptions(
        domain=domain,
        project_name=project_name or root.name,
        namespace=namespace,
        kubeloop_source=kubeloop_source,
        sharded=sharded,
    )
    try:
        report(
            plan_plugin_init(root, options, plugin).apply()
            if plugin != "python"
            else init_project(root, options)
        )
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo({"ansible": ANSIBLE_NEXT_STEPS, "helm": HELM_NEXT_STEPS}.get(plugin, NEXT_STEPS))
