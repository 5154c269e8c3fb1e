"""Where the API server is and how to prove who we are: kubeconfig files (merged like kubectl) and the
in-cluster service account, resolved into one immutable ``ClientConfig``.

Loading reads files synchronously; call it before the event loop runs or through ``asyncio.to_thread``
(``Client.from_kubeconfig`` does the latter). Tokens that rotate (``tokenFile``, the service-account token)
are kept as paths and re-read by ``kubeloop.client.auth``; exec plugins run there too, asynchronously.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeloop.errors import KubeloopError

try:  # the C loader is several times faster on big kubeconfigs
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = [
    "SERVICE_ACCOUNT_DIR",
    "ClientConfig",
    "ConfigError",
    "ExecConfig",
    "load_config",
    "load_in_cluster",
    "load_kubeconfig",
]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(KubeloopError):
    """A kubeconfig or in-cluster setup is missing or malformed; ``str()`` is one line naming the file."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


@dataclass(frozen=True)
class ExecConfig:
    """An ``exec`` credential plugin (client.authentication.k8s.io): ``command`` prints a token or cert."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = "client.authentication.k8s.io/v1"
    provide_cluster_info: bool = False
    install_hint: str = ""


@dataclass(frozen=True)
class ClientConfig:
    """Everything needed to reach and authenticate to one API server (one kubeconfig context).

    PEM material is held as bytes (``*_data``) whether it came inline or from a file; ``token_file`` stays
    a path because it rotates. ``source`` names where this came from, for error messages.
    """

    server: str
    namespace: str = "default"
    ca_data: bytes | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    token: str | None = None
    token_file: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    exec: ExecConfig | None = None
    proxy_url: str | None = None
    impersonate: str | None = None
    """Act as this user (``Impersonate-User``; kubeconfig's ``as``); the credentials above must be
    allowed to impersonate it. A service account is ``system:serviceaccount:<namespace>:<name>``."""
    impersonate_groups: tuple[str, ...] = ()
    """With ``impersonate``: act as a member of these groups (kubeconfig's ``as-groups``)."""
    context: str = ""
    source: str = ""


def load_config(*, context: str | None = None) -> ClientConfig:
    """kubectl's order: ``$KUBECONFIG`` (or ``~/.kube/config``) if it exists, else the in-cluster config."""
    paths = _kubeconfig_paths()
    if any(p.exists() for p in paths):
        return load_kubeconfig(paths, context=context)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return load_in_cluster()
    raise ConfigError(os.pathsep.join(map(str, paths)), "no kubeconfig found and not running in a cluster")


def load_kubeconfig(
    paths: str | Path | list[Path] | None = None, *, context: str | None = None
) -> ClientConfig:
    """Load and merge kubeconfig files, then resolve ``context`` (default: the merged current-context).

    Merging follows kubectl: for clusters, users and contexts the first file naming an entry wins, as does
    the first file setting ``current-context``; files in the list that do not exist are skipped.
    """
    if paths is None:
        files = _kubeconfig_paths()
    elif isinstance(paths, str | Path):
        files = [Path(paths)]
    else:
        files = list(paths)
    existing = [p for p in files if p.exists()]
    if not existing:
        raise ConfigError(os.pathsep.join(map(str, files)) or "KUBECONFIG", "no kubeconfig file exists")
    merged = _Merged()
    for path in existing:
        merged.add(path, _read_yaml(path))
    return merged.resolve(context)


def load_in_cluster(directory: Path = SERVICE_ACCOUNT_DIR) -> ClientConfig:
    """The pod's service account: server from ``KUBERNETES_SERVICE_HOST``/``_PORT``, the CA and namespace from
    ``directory``; the token stays a path so rotated tokens are picked up."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise ConfigError("in-cluster", "KUBERNETES_SERVICE_HOST is not set")
    token_file = directory / "token"
    if not token_file.exists():
        raise ConfigError(str(token_file), "service-account token file does not exist")
    host = f"[{host}]" if ":" in host else host
    ca_file = directory / "ca.crt"
    ns_file = directory / "namespace"
    return ClientConfig(
        server=f"https://{host}:{port}",
        namespace=ns_file.read_text().strip() if ns_file.exists() else "default",
        ca_data=ca_file.read_bytes() if ca_file.exists() else None,
        token_file=token_file,
        context="in-cluster",
        source=str(directory),
    )


def _kubeconfig_paths() -> list[Path]:
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(str(path), f"cannot read: {e.strerror or e}") from e
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(str(path), f"invalid YAML{where}: {problem}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), f"top level must be a mapping, not {type(data).__name__}")
    return data


@dataclass
class _Entry:
    """A named cluster/user/context and the file it came from (relative paths resolve against it)."""

    body: dict[str, Any]
    path: Path


@dataclass
class _Merged:
    """The kubectl merge of several kubeconfig files."""

    clusters: dict[str, _Entry] = field(default_factory=dict)
    users: dict[str, _Entry] = field(default_factory=dict)
    contexts: dict[str, _Entry] = field(default_factory=dict)
    current_context: str = ""
    sources: list[Path] = field(default_factory=list)

    def add(self, path: Path, data: dict[str, Any]) -> None:
        self.sources.append(path)
        for key, inner, target in (
            ("clusters", "cluster", self.clusters),
            ("users", "user", self.users),
            ("contexts", "context", self.contexts),
        ):
            items = data.get(key) or []
            if not isinstance(items, list):
                raise ConfigError(str(path), f"{key!r} must be a list, not {type(items).__name__}")
            for i, item in enumerate(items):
                if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
                    raise ConfigError(str(path), f"{key}[{i}] has no name")
                body = item.get(inner) or {}
                if not isinstance(body, dict):
                    raise ConfigError(str(path), f"{key}[{i}] ({item['name']}): {inner!r} must be a mapping")
                target.setdefault(item["name"], _Entry(body, path))
        current = data.get("current-context")
        if current and not self.current_context:
            self.current_context = str(current)

    def resolve(self, context: str | None) -> ClientConfig:
        where = os.pathsep.join(map(str, self.sources))
        name = context or self.current_context
        if not name:
            raise ConfigError(where, "no current-context is set and no context was given")
        ctx = self.contexts.get(name)
        if ctx is None:
            raise ConfigError(where, f"context {name!r} not found")
        cluster_name = ctx.body.get("cluster")
        cluster = self.clusters.get(str(cluster_name))
        if cluster is None:
            raise ConfigError(str(ctx.path), f"context {name!r} refers to unknown cluster {cluster_name!r}")
        user_name = ctx.body.get("user")
        user = self.users.get(str(user_name)) if user_name else _Entry({}, ctx.path)
        if user is None:
            raise ConfigError(str(ctx.path), f"context {name!r} refers to unknown user {user_name!r}")
        server = cluster.body.get("server")
        if not isinstance(server, str) or not server:
            raise ConfigError(str(cluster.path), f"cluster {cluster_name!r} has no server")
        c, u = cluster.body, user.body
        return ClientConfig(
            server=server.rstrip("/"),
            namespace=str(ctx.body.get("namespace") or "default"),
            ca_data=_pem(cluster, "certificate-authority-data", "certificate-authority"),
            insecure_skip_tls_verify=bool(c.get("insecure-skip-tls-verify", False)),
            tls_server_name=c.get("tls-server-name") or None,
            client_cert_data=_pem(user, "client-certificate-data", "client-certificate"),
            client_key_data=_pem(user, "client-key-data", "client-key"),
            token=u.get("token") or None,
            token_file=_path(user, u["tokenFile"]) if u.get("tokenFile") else None,
            username=u.get("username") or None,
            password=u.get("password") or None,
            exec=_exec(user),
            proxy_url=c.get("proxy-url") or None,
            impersonate=u.get("as") or None,
            impersonate_groups=tuple(str(g) for g in u.get("as-groups") or ()),
            context=name,
            source=str(ctx.path),
        )


def _path(entry: _Entry, value: object) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else entry.path.parent / path


def _pem(entry: _Entry, data_key: str, file_key: str) -> bytes | None:
    """PEM from the inline base64 ``data_key`` or the file at ``file_key`` (inline wins, as in kubectl)."""
    data = entry.body.get(data_key)
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except (binascii.Error, ValueError) as e:
            raise ConfigError(str(entry.path), f"{data_key} is not valid base64") from e
    file = entry.body.get(file_key)
    if file:
        path = _path(entry, file)
        try:
            return path.read_bytes()
        except OSError as e:
            raise ConfigError(str(entry.path), f"{file_key} {str(path)!r}: {e.strerror or e}") from e
    return None


def _exec(entry: _Entry) -> ExecConfig | None:
    spec = entry.body.get("exec")
    if not spec:
        return None
    if not isinstance(spec, dict) or not spec.get("command"):
        raise ConfigError(str(entry.path), "user exec config has no command")
    command = str(spec["command"])
    if os.sep in command and not os.path.isabs(command):
        command = str(entry.path.parent / command)  # client-go: relative to the kubeconfig's directory
    env = []
    for item in spec.get("env") or []:
        if not isinstance(item, dict) or "name" not in item:
            raise ConfigError(str(entry.path), "user exec env entries need a name and a value")
        env.append((str(item["name"]), str(item.get("value", ""))))
    return ExecConfig(
        command=command,
        args=tuple(str(a) for a in spec.get("args") or ()),
        env=tuple(env),
        api_version=str(spec.get("apiVersion") or "client.authentication.k8s.io/v1"),
        provide_cluster_info=bool(spec.get("provideClusterInfo", False)),
        install_hint=str(spec.get("installHint") or ""),
    )
