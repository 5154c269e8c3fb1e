"""``kubeloop create api|webhook``: add a custom resource, its controller or its webhooks to the
project in the current directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from kubeloop.cli.init import report
from kubeloop.scaffold import (
    ApiOptions,
    Plan,
    Project,
    ScaffoldError,
    WebhookOptions,
    create_api,
    create_webhook,
    plan_ansible_api,
    plan_helm_api,
    plugin_of,
)

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
@click.option("--generate-role", is_flag=True, help="Ansible projects: a role for the kind (roles/<kind>).")
@click.option(
    "--generate-playbook",
    is_flag=True,
    help="Ansible projects: a playbook running the kind's role (with it).",
)
@click.option(
    "--helm-chart",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Helm projects: the chart the kind installs, a directory or a packaged .tgz (into helm-charts/).",
)
def api(
    group: str,
    version: str,
    kind: str,
    namespaced: bool,
    resource: bool,
    controller: bool,
    generate_role: bool,
    generate_playbook: bool,
    helm_chart: Path | None,
) -> None:
    """Add a custom resource: model, controller with a reconcile stub, sample, test; in an Ansible
    project (`init --plugin ansible`): its CRD, sample, watches.yaml entry and role; in a Helm
    project: its CRD, the chart, a sample of the chart's values, the watches entry with the rules the
    rendered chart needs."""
    root = Path.cwd()
    try:
        plugin = plugin_of(Project.load(root))
        if helm_chart is not None or plugin == "helm":
            report(_helm_api(root, group, version, kind, namespaced, helm_chart).apply())
            click.echo("\nNext: `make manifests install run`.")
            return
        if generate_role or generate_playbook or plugin == "ansible":
            plan = plan_ansible_api(
                root,
                group,
                version,
                kind,
                namespaced=namespaced,
                role=generate_role,
                playbook=generate_playbook,
            )
            report(plan.apply())
            click.echo(
                "\nNext: write the role, list what it touches under rbac: in watches.yaml, then "
                "`make manifests install run`."
            )
            return
        options = ApiOptions(
            group, version, kind, namespaced=namespaced, resource=resource, controller=controller
        )
        report(create_api(root, options))
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("\nNext: edit the model and the reconcile, then `make manifests install run`.")


def _helm_api(root: Path, group: str, version: str, kind: str, namespaced: bool, chart: Path | None) -> Plan:
    from kubeloop.helm import HelmError, chart_rules  # the CLI starts faster without it
    from kubeloop.testing.assets import find_binary

    if chart is None:
        raise ScaffoldError(
            "a Helm project's API needs --helm-chart PATH (a chart directory or a packaged .tgz)"
        )
    helm = find_binary("helm") or shutil.which("helm")
    if helm is None:
        raise ScaffoldError("no helm to render the chart with: run `kubeloop controlplane build helm`")
    try:
        rules = chart_rules(helm, chart)
    except HelmError as exc:
        raise ScaffoldError(f"{chart} does not render: {exc.message}") from exc
    return plan_helm_api(root, group, version, kind, chart.resolve(), rules, namespaced=namespaced)


WEBHOOK_NOTE = """
Next: fill in the stubs in src/.../webhooks/ (registered on the operator), then `make manifests`
(writes config/webhook/manifests.yaml) and `make run` (serves them with --webhook-local). To deploy:
uncomment ../webhook, ../certmanager and the manager_webhook_patch.yaml patch in config/default."""


@create.command()
@click.option("--group", required=True, help="API group of the kind, without the domain.")
@click.option("--version", required=True, help="API version of the kind.")
@click.option("--kind", required=True, help="Kind, created before with `kubeloop create api`.")
@click.option("--defaulting", is_flag=True, help="A mutating admission webhook that sets defaults.")
@click.option("--programmatic-validation", is_flag=True, help="A validating admission webhook.")
@click.option("--conversion", is_flag=True, help="A conversion webhook between the kind's versions.")
def webhook(
    group: str, version: str, kind: str, defaulting: bool, programmatic_validation: bool, conversion: bool
) -> None:
    """Add webhook stubs for a kind of the project and their configurations under config/webhook."""
    options = WebhookOptions(
        group,
        version,
        kind,
        defaulting=defaulting,
        validation=programmatic_validation,
        conversion=conversion,
    )
    try:
        report(create_webhook(Path.cwd(), options))
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(WEBHOOK_NOTE)
