"""The image ``kubeloop init --plugin helm`` scaffolds: its Dockerfile (examples/appservice-helm's
too) builds helm-server (from the source installed with kubeloop) beside the helm command, with the
Go release helm-server's go.mod asks for (helm's own go.mod asking no more); and its build steps,
run here with the machine's Go (no Docker engine: the steps, not the image), make both binaries."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from kubeloop.testing.assets import HELM_SERVER_SOURCE, go_release
from kubeloop.testing.versions import HELM_VERSION

EXAMPLE = Path(__file__).parents[2] / "examples" / "appservice-helm"


def stages(dockerfile: str) -> dict[str, list[str]]:
    """Each named stage's instructions (continuation lines joined), by stage name."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in re.sub(r"\\\n", " ", dockerfile).splitlines():
        if line.startswith("FROM "):
            current = found.setdefault(line.split()[-1] if " AS " in line else "", [])
        elif line and not line.startswith("#"):
            current.append(line)
    return found


def release(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in version.split("."))


def test_the_scaffolded_helm_image_builds_helm_server_and_helm_with_the_go_of_its_go_mod(
    tmp_path: Path,
) -> None:
    root = tmp_path / "appservice-operator"  # the project name of examples/appservice-helm
    root.mkdir()
    init = [sys.executable, "-m", "kubeloop.cli.main", "init", "--plugin", "helm", "--domain", "example.com"]
    subprocess.run(init, cwd=root, check=True, capture_output=True)
    dockerfile = (root / "Dockerfile").read_text()
    assert (EXAMPLE / "Dockerfile").read_text() == dockerfile, "examples/appservice-helm: scaffold it again"

    go = re.search(r"^ARG GO_IMAGE=golang:(\S+)$", dockerfile, re.M)
    assert go is not None, dockerfile
    assert go[1] == go_release((HELM_SERVER_SOURCE / "go.mod").read_text())
    helm_module = json.loads(
        subprocess.run(
            ["go", "mod", "download", "-json", f"helm.sh/helm/v3@{HELM_VERSION}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert release(go_release(Path(helm_module["GoMod"]).read_text())) <= release(go[1])

    # The build steps, with the image's paths mapped into tmp_path and the machine's Go.
    paths = {
        "/opt/venv/bin/python": sys.executable,
        "/helm-server": str(tmp_path / "helm-server"),
        "/src/helm-server": str(tmp_path / "src" / "helm-server"),
        "/out": str(tmp_path / "out"),
    }
    alternatives = "|".join(re.escape(p) for p in sorted(paths, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w/.-])(?:{alternatives})")  # a path's start, not a part of one
    env = {**os.environ}
    by_stage = stages(dockerfile)
    steps = [s for s in by_stage["venv"] if "helm/server" in s] + by_stage["helm"]
    assert any("go build" in s for s in steps)
    assert any(f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}" in s for s in steps)
    for step in steps:
        instruction, _, rest = step.partition(" ")
        rest = pattern.sub(lambda m: paths[m.group()], rest)
        if instruction == "ENV":
            env.update(pair.split("=", 1) for pair in rest.split())
        elif instruction == "COPY":
            source, target = rest.split()[-2:]
            shutil.copytree(source, target)
        elif instruction == "RUN":
            done = subprocess.run(["sh", "-c", rest], env=env, capture_output=True, text=True, check=False)
            assert done.returncode == 0, f"{step}:\n{done.stderr}"
    final = by_stage[""]
    assert "COPY --from=helm /out/helm-server /out/helm /usr/local/bin/" in final

    out = tmp_path / "out"
    shown = subprocess.run([out / "helm", "version", "--short"], check=True, capture_output=True, text=True)
    assert HELM_VERSION.startswith(shown.stdout.strip())  # v3.21: go install sets no patch version
    # helm-server serves requests on stdin until it closes (a drift request needs no cluster).
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "current-context: c\n"
    )
    served = subprocess.run(
        [out / "helm-server", "-kubeconfig", kubeconfig],
        input='{"id": 7, "op": "drift", "objects": []}\n',
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(served.stdout) == {"id": 7}
