"""operator-sdk's own Ansible and Helm operators, built from their Go modules with the machine's Go and
cached under the kubeloop cache (``bin/<name>-<version>/<name>``), and the Python environment that
ansible-operator's image gives ansible-runner (its event plugin, ansible-runner-http, with the image's
kubernetes client, beside the same ansible-core and ansible-runner as kubeloop's).

The Go module proxy lists no version of github.com/operator-framework/ansible-operator-plugins,
helm-operator-plugins or operator-sdk (403 for ``@v/list``, so ``go install ...@version`` fails on its
deprecation look-up), but serves these exact versions: the module is downloaded with ``go mod
download`` and built in its own directory from its go.sum. operator-sdk's own module (where its
helm-operator's main lives) is refused (v1.39.2 too); helm-operator-plugins is
operator-framework's Helm operator module, whose ``main.go`` is a ``helm-operator run`` of the same
watches file and flags.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from kubeloop.testing.assets import cache_dir

MODULES = {
    "ansible": (
        "github.com/operator-framework/ansible-operator-plugins",
        "v1.37.1",
        "./cmd/ansible-operator",
    ),
    "helm": ("github.com/operator-framework/helm-operator-plugins", "v0.8.0", "."),
}
BINARIES = {"ansible": "ansible-operator", "helm": "helm-operator"}
# ansible-operator's image (images/ansible-operator/Pipfile of v1.37.1): its event plugin, what that
# plugin needs (requests-unixsocket 0.3.0 works neither with requests >= 2.32 nor with urllib3 2), and
# so the image's kubernetes client (kubeloop's, 37, needs urllib3 2).
RUNNER_HTTP = [
    "ansible-runner-http==1.0.0",
    "requests-unixsocket==0.3.0",
    "requests~=2.31.0",
    "urllib3~=1.26.20",
    "kubernetes==31.0.0",
]
SAME_AS_KUBELOOP = ("ansible-core", "ansible-runner")


def version(plugin: str) -> str:
    module, ver, _ = MODULES[plugin]
    return f"{module.rsplit('/', 1)[1]} {ver}"


def binary(plugin: str) -> Path:
    """The built operator (``go mod download`` of the module, ``go build`` of its main), cached."""
    module, ver, package = MODULES[plugin]
    name = BINARIES[plugin]
    home = cache_dir() / "bin" / f"{name}-{ver}"
    built = home / name
    if built.is_file():
        return built
    go = shutil.which("go")
    assert go is not None, "the `go` command is not on PATH: operator-sdk's operators are built with it"
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly -buildvcs=false"}
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run(
            [go, "mod", "download", "-json", f"{module}@{ver}"],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
        )
    info = json.loads(got.stdout or "{}")
    if got.returncode != 0 or "Error" in info:
        raise RuntimeError(f"go mod download {module}@{ver}: {info.get('Error') or got.stderr.strip()}")
    staging = home.with_name(home.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log = cache_dir() / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        done = subprocess.run(
            [go, "build", "-o", str(staging / name), package],
            cwd=info["Dir"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"go build of {module}@{ver} failed; log: {log}\n{log.read_text()[-3000:]}")
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    return built


def runner_env() -> Path:
    """A virtual environment with ansible-runner-http as ansible-operator's image has it and kubeloop's
    ansible-core and ansible-runner versions (its bin/ goes first on ansible-operator's PATH), made
    once per versions."""
    pins = [f"{p}=={importlib.metadata.version(p)}" for p in SAME_AS_KUBELOOP] + RUNNER_HTTP
    digest = hashlib.sha256(json.dumps([sys.version, pins]).encode()).hexdigest()[:12]
    home = cache_dir() / "bench" / f"ansible-operator-env-{digest}"
    if (home / "bin" / "ansible-runner").is_file():
        return home
    shutil.rmtree(home, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
    subprocess.run([str(home / "bin" / "pip"), "install", "--quiet", *pins], check=True)
    return home


def collections_path() -> str:
    """Where kubeloop's environment has kubernetes.core and community.general (the `ansible` package),
    for ansible-operator's runs too."""
    import ansible_collections

    return str(Path(next(iter(ansible_collections.__path__))).parent)
