"""``kubeloop olm``: make bundles and catalogs, and install, upgrade, list and uninstall operators from a
catalog on a cluster (``kubeloop.olm``); or push catalogs to the cluster and run the lifecycle operator,
which installs what ClusterExtensions ask for."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from kubeloop.cli._flags import ENV, manager_flags, manager_options
from kubeloop.client import AlreadyExistsError, Client
from kubeloop.errors import KubeloopError
from kubeloop.manager import configure_logging
from kubeloop.olm import (
    Bundle,
    Catalog,
    ClusterExtension,
    Installer,
    OLMError,
    Release,
    Want,
    add_bundle,
    apply_crds,
    channel_head,
    generate_bundle,
    lifecycle_operator,
    load_bundle,
    load_catalog,
    push_catalog,
    render_catalog,
    resolve_install,
    resolve_upgrade,
    validate_bundle,
    write_bundle,
    write_catalog,
)
from kubeloop.resources import core_v1

__all__ = ["olm"]

EXTENSION = f"{ClusterExtension.resource_info().group}/v1/ClusterExtension"

T = TypeVar("T")

_kubeconfig = click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    default=None,
    help="Default: $KUBECONFIG, ~/.kube/config.",
)
_namespace = click.option(
    "-n", "--namespace", default="operators", show_default=True, help="Where the operator is installed."
)
_catalog = click.option(
    "--catalog",
    "catalog_dir",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="A file-based catalog (directory or file).",
)
_channel = click.option("--channel", default=None, help="Default: every channel of the package.")
_version = click.option(
    "--version", "version_range", default=None, help="A version or range, e.g. '>=0.2 <1'."
)


def _guarded(work: Callable[[], T]) -> T:
    """Run ``work``; kubeloop's errors become one-line CLI errors."""
    try:
        return work()
    except KubeloopError as exc:
        raise click.ClickException(str(exc)) from exc


def _on_cluster(kubeconfig: str | None, work: Callable[[Installer], Awaitable[T]]) -> T:
    async def main() -> T:
        async with await Client.load(kubeconfig) as client:
            return await work(Installer(client))

    return _guarded(lambda: asyncio.run(main()))


def _installed(catalog: Catalog, releases: Sequence[Release]) -> dict[str, Bundle]:
    """The installed packages as bundles (``Release.bundle_in``), by package."""
    return {r.package: r.bundle_in(catalog) for r in releases}


async def _ensure_namespace(client: Client, namespace: str) -> None:
    with contextlib.suppress(AlreadyExistsError):
        await client.create(core_v1.Namespace(metadata={"name": namespace}))


async def _carry_out(
    installer: Installer, namespace: str, package: str, chosen: list[Bundle], force_unsafe_crds: bool
) -> None:
    """Install or upgrade ``chosen``, a line printed for each bundle done."""
    async for done, release in installer.carry_out(
        namespace, package, chosen, force_unsafe_crds=force_unsafe_crds
    ):
        click.echo(f"{done} {_describe(release)}: {len(release.objects)} objects")


def _from_catalog(command: Callable[..., None]) -> Callable[..., None]:
    """The arguments and options install and upgrade share."""
    for option in reversed(
        (
            click.argument("package"),
            _catalog,
            _channel,
            _version,
            _namespace,
            _kubeconfig,
            click.option(
                "--force-unsafe-crds",
                is_flag=True,
                help="Apply CRD changes that fail the upgrade-safety check.",
            ),
        )
    ):
        command = option(command)
    return command


def _describe(release: Release) -> str:
    return f"{release.package} {release.version} ({release.bundle}) in {release.namespace}"


@click.group()
def olm() -> None:
    """The lifecycle manager: bundles, catalogs, install / upgrade / uninstall."""


@olm.group(invoke_without_command=True)
@click.option(
    "--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True
)
@click.option("--version", default=None, help="The bundle's semantic version, e.g. 0.2.0 (required).")
@click.option("--channels", default="alpha", show_default=True, help="Comma-separated channels.")
@click.option("--default-channel", default=None, help="Default: the first of --channels.")
@click.option("--replaces", default=None, help="The bundle (CSV name) this one upgrades.")
@click.option("--skip-range", default=None, help="Versions this one upgrades directly, e.g. '<0.2.0'.")
@click.option("--image", default=None, help="The manager image (default: config/manager's).")
@click.option("--package", default=None, help="Default: the PROJECT's name.")
@click.option(
    "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("bundle"), show_default=True
)
@click.pass_context
def bundle(
    ctx: click.Context,
    root: Path,
    version: str | None,
    channels: str,
    default_channel: str | None,
    replaces: str | None,
    skip_range: str | None,
    image: str | None,
    package: str | None,
    output: Path,
) -> None:
    """Write a registry+v1 bundle of the project in ROOT (its config/ manifests and a CSV); or, with
    a subcommand, work on a bundle directory."""
    if ctx.invoked_subcommand is not None:
        return
    if version is None:
        raise click.UsageError("Missing option '--version'.")
    made = _guarded(
        lambda: generate_bundle(
            root,
            version=str(version),
            channels=[c.strip() for c in channels.split(",") if c.strip()],
            default_channel=default_channel,
            replaces=replaces,
            skip_range=skip_range,
            image=image,
            package=package,
        )
    )
    _guarded(lambda: write_bundle(made, output))
    click.echo(f"wrote bundle {made.name} ({len(made.objects)} manifests) to {output}")


@bundle.command(name="validate")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    default=None,
    help="Check minKubeVersion against this cluster.",
)
def validate_bundle_(path: Path, kubeconfig: str | None) -> None:
    """Check the bundle directory PATH as operator-sdk bundle validate does (CSV fields, RBAC against the
    deployments' service accounts, owned CRDs, webhooks' deployments, semver, minKubeVersion)."""
    loaded = _guarded(lambda: load_bundle(path))
    server = None
    if kubeconfig is not None:

        async def version() -> str:
            async with await Client.load(kubeconfig) as client:
                return str((await client.server_version())["gitVersion"])

        server = _guarded(lambda: asyncio.run(version()))
    problems = validate_bundle(loaded, server_version=server)
    if problems:
        raise click.ClickException(f"bundle {loaded.name} is not valid: " + "; ".join(problems))
    click.echo(f"bundle {loaded.name} is valid")


@olm.group()
def catalog() -> None:
    """File-based catalogs: render from bundles, validate, push to a cluster."""


@catalog.command()
@click.argument(
    "bundles", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), required=True)
def render(bundles: tuple[Path, ...], output: Path) -> None:
    """Render BUNDLES (bundle directories) into a file-based catalog at OUTPUT."""
    rendered = _guarded(lambda: render_catalog([load_bundle(path) for path in bundles]))
    _guarded(lambda: write_catalog(rendered, output))
    click.echo(f"wrote a catalog of {len(rendered.bundles)} bundle(s) to {output}")


@catalog.command()
@click.argument("bundle_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_catalog
def add(bundle_dir: Path, catalog_dir: Path) -> None:
    """Add the bundle directory BUNDLE_DIR to the catalog: an entry of each channel it names, with its
    CSV's upgrade edges; the catalog is written back only when it stays valid."""
    added = _guarded(lambda: load_bundle(bundle_dir))
    updated = _guarded(lambda: add_bundle(load_catalog(catalog_dir), added))
    _guarded(lambda: write_catalog(updated, catalog_dir))
    channels = ", ".join(added.channels)
    click.echo(f"added {added.name} to {catalog_dir} (channels {channels})")


@catalog.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def validate(path: Path) -> None:
    """Load the catalog at PATH, check it, and list its packages, channels and heads."""
    click.echo(_guarded(lambda: _summary(load_catalog(path))))


def _summary(loaded: Catalog) -> str:
    """Each package with its default channel, and each channel with its size and head."""
    lines = []
    for name in sorted(loaded.packages):
        lines.append(f"{name} (default channel {loaded.packages[name].default_channel})")
        for channel in loaded.channels_of(name):
            head = channel_head(loaded, name, channel.name)
            lines.append(
                f"  {channel.name}: {len(channel.entries)} bundle(s), head {head.name} ({head.version})"
            )
    return "\n".join(lines)


@catalog.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--name", required=True, help="The ClusterCatalog's name.")
@click.option(
    "-n",
    "--namespace",
    default="kubeloop-olm",
    show_default=True,
    help="Where the catalog's ConfigMaps go (created when missing).",
)
@_kubeconfig
def push(path: Path, name: str, namespace: str, kubeconfig: str | None) -> None:
    """Put the catalog at PATH on the cluster: a ConfigMap per package and ClusterCatalog NAME."""
    loaded = _guarded(lambda: load_catalog(path))

    async def work(installer: Installer) -> int:
        client = installer.client
        await _ensure_namespace(client, namespace)
        await apply_crds(client)
        return len(await push_catalog(client, loaded, name, namespace))

    configmaps = _on_cluster(kubeconfig, work)
    click.echo(f"pushed ClusterCatalog {name}: {configmaps} ConfigMap(s) in {namespace}")


@olm.command()
@_from_catalog
@click.option("--create-namespace", is_flag=True, help="Create the namespace when it does not exist.")
def install(
    package: str,
    catalog_dir: Path,
    channel: str | None,
    version_range: str | None,
    namespace: str,
    kubeconfig: str | None,
    force_unsafe_crds: bool,
    create_namespace: bool,
) -> None:
    """Install PACKAGE from the catalog, with the packages it requires (resolved before anything is
    created)."""
    loaded = _guarded(lambda: load_catalog(catalog_dir))

    async def work(installer: Installer) -> None:
        installed = _installed(loaded, await installer.releases(namespace))
        chosen = resolve_install(loaded, Want(package, channel, version_range), installed)
        if not chosen:
            have = installed[package]
            click.echo(f"{package} {have.version} ({have.name}) is already installed in {namespace}")
            return
        if create_namespace:
            await _ensure_namespace(installer.client, namespace)
        await _carry_out(installer, namespace, package, chosen, force_unsafe_crds)

    _on_cluster(kubeconfig, work)


@olm.command()
@_from_catalog
def upgrade(
    package: str,
    catalog_dir: Path,
    channel: str | None,
    version_range: str | None,
    namespace: str,
    kubeconfig: str | None,
    force_unsafe_crds: bool,
) -> None:
    """Upgrade PACKAGE to its newest successor in the catalog (one step along the upgrade graph)."""
    loaded = _guarded(lambda: load_catalog(catalog_dir))

    async def work(installer: Installer) -> None:
        installed = _installed(loaded, await installer.releases(namespace))
        if package not in installed:
            raise OLMError(f"package {package!r} is not installed in namespace {namespace!r}")
        current = installed.pop(package)
        chosen = resolve_upgrade(loaded, Want(package, channel, version_range), current, installed)
        if not chosen:
            click.echo(f"{package}: already at the newest version the catalog offers")
        await _carry_out(installer, namespace, package, chosen, force_unsafe_crds)

    _on_cluster(kubeconfig, work)


@olm.command()
@click.argument("package")
@_namespace
@_kubeconfig
@click.option(
    "--delete-crds", is_flag=True, help="Also delete the CRDs (and so every custom resource of them)."
)
def uninstall(package: str, namespace: str, kubeconfig: str | None, delete_crds: bool) -> None:
    """Remove PACKAGE's objects; its CRDs (and the data in them) stay unless --delete-crds."""
    _on_cluster(
        kubeconfig, lambda installer: installer.uninstall(namespace, package, delete_crds=delete_crds)
    )
    click.echo(f"uninstalled {package} from {namespace}")


@olm.command(name="list")
@click.option("-n", "--namespace", default=None, help="Default: every namespace.")
@_kubeconfig
def list_(namespace: str | None, kubeconfig: str | None) -> None:
    """List the installed operators."""
    releases = _on_cluster(kubeconfig, lambda installer: installer.releases(namespace))
    if not releases:
        click.echo("no operator installed")
    for release in releases:
        click.echo(_describe(release))


@olm.command()
@click.argument("name")
@_kubeconfig
def status(name: str, kubeconfig: str | None) -> None:
    """Show the ClusterExtension NAME: what it asks for, what is installed, each condition, and a
    pending upgrade."""

    async def get(installer: Installer) -> dict[str, Any]:
        found: dict[str, Any] = await installer.client.get(EXTENSION, name)
        return found

    click.echo(_extension_status(_on_cluster(kubeconfig, get)))


def _extension_status(extension: dict[str, Any]) -> str:
    spec, status = extension.get("spec") or {}, extension.get("status") or {}
    installed = (status.get("install") or {}).get("bundle")
    lines = [
        f"{extension['metadata']['name']}: package {spec.get('packageName')} in {spec.get('namespace')} "
        f"as service account {(spec.get('serviceAccount') or {}).get('name')}",
        "installed: " + (f"{installed['name']} ({installed['version']})" if installed else "nothing"),
    ]
    pending = (status.get("pendingUpgrade") or {}).get("bundle")
    if pending:
        lines.append(f"pending upgrade: {pending['name']} ({pending['version']}), awaiting approval")
    for condition in status.get("conditions") or ():
        message = f": {condition['message']}" if condition.get("message") else ""
        lines.append(f"{condition['type']} {condition['status']} {condition.get('reason', '')}{message}")
    return "\n".join(lines)


@olm.command(name="run", context_settings=ENV)
@_kubeconfig
@click.option("--log-level", default="INFO")
@manager_flags(webhooks=False)
def run_(kubeconfig: str | None, log_level: str, **flags: Any) -> None:
    """Install the ClusterCatalog and ClusterExtension CRDs and run the lifecycle operator until SIGTERM
    or Ctrl-C: it serves the ClusterCatalogs and installs, upgrades and uninstalls what the
    ClusterExtensions ask for."""
    configure_logging(log_level, "text")
    options = manager_options(flags)
    _on_cluster(kubeconfig, lambda installer: apply_crds(installer.client))
    _guarded(lambda: asyncio.run(lifecycle_operator().run(options, kubeconfig=kubeconfig)))
