"""Control-plane binaries: where they are looked up, and how they are built from Go modules.

Lookup order for a binary ``name`` (``kube-apiserver``, ``etcd``, ...), like envtest's:
``TEST_ASSET_<NAME>`` (e.g. ``TEST_ASSET_KUBE_APISERVER``), then ``$KUBEBUILDER_ASSETS/<name>``,
then the kubeloop cache ``$KUBELOOP_CACHE_DIR`` (default ``~/.cache/kubeloop``) under a
directory keyed by the component's pinned version.  Building happens in a throwaway Go
module under the cache; nothing is written into the project.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kubeloop.errors import ComponentError
from kubeloop.testing import versions

__all__ = [
    "COMPONENTS",
    "Component",
    "binary_path",
    "build_all",
    "cache_dir",
    "find_binary",
]

GOPROXY_DEFAULT = "https://proxy.golang.org"


HELM_SERVER_SOURCE = Path(__file__).resolve().parent.parent / "helm" / "server"
"""helm-server's Go module: main.go, go.mod, go.sum."""


HELM_SERVER_FILES = ("go.mod", "go.sum", "main.go")


def go_release(go_mod: str) -> str:
    """The Go release (``1.26``) a go.mod's ``go`` line asks for at least: the toolchain (or the
    ``golang`` image) that builds the module."""
    for line in go_mod.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "go":
            return ".".join(words[1].split(".")[:2])
    raise ValueError("a go.mod without a go line")


def _digest(directory: Path, names: Iterable[str]) -> str:
    """The first 12 hex digits of the digest of the named files of a directory (names and contents)."""
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode() + b"\0" + (directory / name).read_bytes() + b"\0")
    return h.hexdigest()[:12]


@dataclass(frozen=True)
class Component:
    """A buildable component: the binaries it yields and its pinned version."""

    name: str
    version: str
    binaries: tuple[str, ...]

    @property
    def key(self) -> str:
        """The cache directory name, keyed by version."""
        return f"{self.name}-{self.version}"


COMPONENTS: dict[str, Component] = {
    "etcd": Component("etcd", versions.ETCD_VERSION, ("etcd",)),
    "kubernetes": Component(
        "kubernetes",
        versions.KUBERNETES_VERSION,
        ("kube-apiserver", "kube-controller-manager", "kube-scheduler"),
    ),
    "kwok": Component("kwok", versions.KWOK_VERSION, ("kwok",)),
    "helm": Component("helm", versions.HELM_VERSION, ("helm",)),
    # Helm's actions in one long-lived process for the Helm operators (src/kubeloop/helm/server),
    # keyed by Helm's version and a digest of its source.
    "helm-server": Component(
        "helm-server",
        f"{versions.HELM_VERSION}-{_digest(HELM_SERVER_SOURCE, HELM_SERVER_FILES)}",
        ("helm-server",),
    ),
}


_BUILT_AFTER = {"helm-server": "helm"}
"""Components built after another one, not beside it: they compile the same Go packages, which the
second then takes from Go's build cache instead of compiling them a second time at once."""


def cache_dir() -> Path:
    """The cache root: ``$KUBELOOP_CACHE_DIR`` or ``~/.cache/kubeloop``."""
    env = os.environ.get("KUBELOOP_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kubeloop"


def _component_of(binary: str) -> Component:
    for component in COMPONENTS.values():
        if binary in component.binaries:
            return component
    raise KeyError(binary)


def binary_path(binary: str) -> Path:
    """Where the kubeloop cache keeps ``binary`` (whether or not it is built yet)."""
    return cache_dir() / "bin" / _component_of(binary).key / binary


def find_binary(binary: str) -> Path | None:
    """The first existing executable for ``binary`` in lookup order, or None."""
    candidates: list[Path] = []
    explicit = os.environ.get("TEST_ASSET_" + binary.upper().replace("-", "_"))
    if explicit:
        candidates.append(Path(explicit))
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        candidates.append(Path(assets) / binary)
    candidates.append(binary_path(binary))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


Progress = Callable[[str], None]


class _GoBuild:
    """Runs ``go`` commands for one component, logging to one file per component."""

    def __init__(self, component: Component, progress: Progress) -> None:
        self.component = component
        self.progress = progress
        self.log_path = cache_dir() / "logs" / f"{component.key}.log"
        self.work = cache_dir() / "build" / component.key
        go = shutil.which("go")
        if go is None:
            raise ComponentError(
                f"build {component.name}", "the `go` command was not found on PATH; install Go"
            )
        self.go = go

    def run(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        goflags = f"{os.environ.get('GOFLAGS', '')} -buildvcs=false".strip()
        full_env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": goflags, **(env or {})}
        with self.log_path.open("a") as log:
            log.write(f"$ go {' '.join(args)}\n")
            log.flush()
            proc = subprocess.run(
                [self.go, *args],
                cwd=cwd or self.work,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if proc.returncode != 0:
            raise ComponentError(
                f"build {self.component.name}",
                f"`go {args[0]}` failed with exit code {proc.returncode}",
                str(self.log_path),
            )

    def module(self, go_mod: str) -> None:
        """Start a fresh throwaway module with the given go.mod text."""
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        (self.work / "go.mod").write_text(go_mod)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text(f"# build of {self.component.key}\n")


def _fetch_mod(module: str, version: str) -> str:
    """The go.mod text of ``module@version`` from the Go module proxy."""
    proxy = os.environ.get("GOPROXY", GOPROXY_DEFAULT).split(",")[0].split("|")[0]
    if proxy in ("direct", "off"):
        proxy = GOPROXY_DEFAULT
    url = f"{proxy.rstrip('/')}/{module}/@v/{version}.mod"
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            text: str = resp.read().decode()
            return text
    except OSError as exc:
        raise ComponentError(f"build {module}", f"cannot download {url}: {exc}") from exc


def _staging_modules(k8s_go_mod: str) -> list[str]:
    """The staging modules k8s.io/kubernetes replaces with ``./staging/src/...`` paths."""
    found = []
    for line in k8s_go_mod.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "=>" and parts[2].startswith("./staging/src/"):
            found.append(parts[0])
    return found


def _build_kubernetes(b: _GoBuild, out: Path) -> None:
    version = b.component.version
    staging_version = "v0." + version.removeprefix("v1.")
    k8s_mod = _fetch_mod("k8s.io/kubernetes", version)
    replaces = "\n".join(f"\t{m} => {m} {staging_version}" for m in _staging_modules(k8s_mod))
    b.module(
        "module kubeloop.local/build\n\ngo 1.24\n\n"
        f"require k8s.io/kubernetes {version}\n\nreplace (\n{replaces}\n)\n"
    )
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in b.component.binaries]
    b.progress(f"  resolving modules for {', '.join(b.component.binaries)}")
    b.run("get", *(f"{p}@{version}" for p in packages))
    major, minor = version.removeprefix("v").split(".")[:2]
    ldflags = " ".join(
        [
            "-s -w",
            f"-X k8s.io/component-base/version.gitVersion={version}",
            f"-X k8s.io/component-base/version.gitMajor={major}",
            f"-X k8s.io/component-base/version.gitMinor={minor}",
            "-X k8s.io/component-base/version.gitTreeState=clean",
        ]
    )
    b.progress("  compiling (the cold build takes tens of minutes on 2 cores)")
    b.run("build", "-trimpath", "-ldflags", ldflags, "-o", str(out) + "/", *packages)


def _build_etcd(b: _GoBuild, out: Path) -> None:
    version = b.component.version
    b.module(f"module kubeloop.local/build\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 {version}\n")
    b.run("get", f"go.etcd.io/etcd/server/v3@{version}")
    b.run("build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "etcd"), "go.etcd.io/etcd/server/v3")


def _go_install(package: str) -> Callable[[_GoBuild, Path], None]:
    """A builder running ``go install package@version`` into the component's directory."""

    def build(b: _GoBuild, out: Path) -> None:
        b.module("module kubeloop.local/build\n\ngo 1.24\n")
        b.run(
            "install",
            "-trimpath",
            "-ldflags",
            "-s -w",
            f"{package}@{b.component.version}",
            env={"GOBIN": str(out)},
        )

    return build


def _build_helm_server(b: _GoBuild, out: Path) -> None:
    """helm-server from its module in kubeloop's source (its go.sum pins Helm's own dependencies)."""
    b.module((HELM_SERVER_SOURCE / "go.mod").read_text())
    for name in HELM_SERVER_FILES:
        if name != "go.mod":  # written by module()
            shutil.copy(HELM_SERVER_SOURCE / name, b.work / name)
    b.run("build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "helm-server"), ".")


_BUILDERS: dict[str, Callable[[_GoBuild, Path], None]] = {
    "etcd": _build_etcd,
    "kubernetes": _build_kubernetes,
    "kwok": _go_install("sigs.k8s.io/kwok/cmd/kwok"),
    "helm": _go_install("helm.sh/helm/v3/cmd/helm"),
    "helm-server": _build_helm_server,
}


def _available(component: Component) -> bool:
    return all(find_binary(b) is not None for b in component.binaries)


def build_component(component: Component, progress: Progress = print, force: bool = False) -> Path:
    """Build ``component`` into the cache (unless all its binaries are found already)."""
    final = cache_dir() / "bin" / component.key
    if not force and _available(component):
        progress(f"{component.key}: cached ({final})")
        return final
    started = time.monotonic()
    progress(f"{component.key}: building with {shutil.which('go') or 'go'}")
    builder = _GoBuild(component, progress)
    staging = final.with_name(final.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    _BUILDERS[component.name](builder, staging)
    missing = [b for b in component.binaries if not (staging / b).is_file()]
    if missing:
        raise ComponentError(
            f"build {component.name}", f"no binary {', '.join(missing)} produced", str(builder.log_path)
        )
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    shutil.rmtree(builder.work, ignore_errors=True)
    progress(f"{component.key}: built in {time.monotonic() - started:.0f} s")
    return final


def build_all(
    names: Iterable[str] | None = None, progress: Progress = print, force: bool = False
) -> dict[str, Path]:
    """Build (or reuse) the named components, all by default, at the same time; returns their directories.

    Concurrently because a cold build is not all compiling: one component's module downloads and
    single-threaded links overlap another's compiling (Go's module and build caches take their own
    locks); a component of ``_BUILT_AFTER`` builds after the one it names, in the same thread, and not
    when that one failed. Every other build runs to its end; then the first failure, in the order of
    the chains' first components, is raised."""
    chosen = list(names) if names is not None else list(COMPONENTS)
    roots = [n for n in chosen if _BUILT_AFTER.get(n) not in chosen]
    chains = {r: [r, *(n for n in chosen if _BUILT_AFTER.get(n) == r)] for r in roots}

    def build_chain(chain: list[str]) -> dict[str, Path]:
        return {n: build_component(COMPONENTS[n], progress, force) for n in chain}

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(chains))) as pool:
        futures = [pool.submit(build_chain, chain) for chain in chains.values()]
    built: dict[str, Path] = {}
    for future in futures:
        built |= future.result()
    return {n: built[n] for n in chosen}


def versions_manifest() -> str:
    """The pinned versions as JSON, for logs and notes."""
    return json.dumps({c.name: c.version for c in COMPONENTS.values()})
