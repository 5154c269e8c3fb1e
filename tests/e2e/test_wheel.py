"""kubeloop as users install it: ``python -m build`` makes an sdist and a wheel that ``twine check``
passes; the wheel carries the scaffolding templates and the embedded server's data; installed into a
fresh virtualenv (no checkout on its path), its ``kubeloop`` runs, ``kubeloop init`` + ``create api``
make a project whose ``make manifests`` installs kubeloop from that same wheel (not a name that does
not resolve) and writes the CRD, and the embedded API server starts and answers kubectl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
TEMPLATES = ROOT / "src" / "kubeloop" / "scaffold" / "templates"
DATA = ROOT / "src" / "kubeloop" / "apiserver" / "data"


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(map(str, args))}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT, cwd=ROOT)
    (wheel,) = out.glob("kubeloop-*.whl")
    (sdist,) = out.glob("kubeloop-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


@pytest.fixture(scope="module")
def installed(dist: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed; its bin directory."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=venv.parent)
    run(venv / "bin" / "pip", "install", "--quiet", dist["wheel"], cwd=venv.parent)
    return venv / "bin"


def clean_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell with the fresh virtualenv first: nothing of this checkout."""
    drop = ("PYTHONPATH", "KUBELOOP_SOURCE", "VIRTUAL_ENV", "KUBECONFIG")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", **extra}


def test_twine_check_passes_both(dist: dict[str, Path]) -> None:
    out = run(sys.executable, "-m", "twine", "check", "--strict", dist["wheel"], dist["sdist"], cwd=ROOT)
    assert out.count("PASSED") == 2


def test_the_wheel_carries_templates_data_types_and_license(dist: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(dist["wheel"]).namelist())
    for path in [*TEMPLATES.rglob("*"), *DATA.rglob("*")]:
        if path.is_file():
            assert f"kubeloop/{path.relative_to(ROOT / 'src' / 'kubeloop')}" in names, path
    assert "kubeloop/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = (
        zipfile.ZipFile(dist["wheel"])
        .read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        .decode()
    )
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"Version: {version}" in metadata
    assert "License-Expression: Apache-2.0" in metadata
    assert "Classifier: Programming Language :: Python :: 3.11" in metadata
    urls = dict(
        line.removeprefix("Project-URL: ").split(", ", 1)
        for line in metadata.splitlines()
        if line.startswith("Project-URL: ")
    )
    assert sorted(urls) == ["Changelog", "Documentation", "Homepage", "Issues", "Repository"], urls
    assert all(url.startswith("https://") for url in urls.values()), urls
    assert urls["Changelog"] == urls["Documentation"] + "changelog/"  # the site's page of docs/changelog.md
    assert (ROOT / "docs" / "changelog.md").is_file()
    assert urls["Issues"] == urls["Repository"] + "/issues"


def test_the_installed_command_runs_from_the_wheel_alone(installed: Path, tmp_path: Path) -> None:
    env = clean_env(installed)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version in run(installed / "kubeloop", "--version", cwd=tmp_path, env=env)
    assert "init" in run(installed / "kubeloop", "--help", cwd=tmp_path, env=env)
    where = run(
        installed / "python", "-c", "import kubeloop; print(kubeloop.__file__)", cwd=tmp_path, env=env
    )
    assert str(installed.parent) in where, f"kubeloop imported from {where}, not the fresh virtualenv"


def test_a_project_made_from_the_wheel_installs_that_wheel(
    installed: Path, dist: dict[str, Path], tmp_path: Path
) -> None:
    env = clean_env(installed)
    project = tmp_path / "memcached-operator"
    project.mkdir()
    run(installed / "kubeloop", "init", "--domain", "example.com", cwd=project, env=env)
    run(installed / "kubeloop", "create", "api", "--group", "cache", "--version", "v1alpha1", "--kind",
        "Memcached", cwd=project, env=env)  # fmt: skip
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    assert dependencies == [f"kubeloop @ {dist['wheel'].as_uri()}"]
    run("make", "manifests", cwd=project, env=env)
    crd = project / "config" / "crd" / "bases" / "cache.example.com_memcacheds.yaml"
    assert crd.is_file()
    # The project's own virtualenv has kubeloop from the wheel, as pip recorded it.
    show = (
        "from importlib.metadata import distribution as d; print(d('kubeloop').read_text('direct_url.json'))"
    )
    record = run(project / ".venv" / "bin" / "python", "-c", show, cwd=project, env=env)
    assert json.loads(record)["url"] == dist["wheel"].as_uri()


def test_the_embedded_server_starts_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    script = (
        "import subprocess\n"
        "from kubeloop.apiserver import EmbeddedServer\n"
        "with EmbeddedServer() as server:\n"
        "    out = subprocess.run(['kubectl', '--kubeconfig', str(server.kubeconfig), 'get', 'namespaces',"
        " '-o', 'name'], capture_output=True, text=True, check=True).stdout\n"
        "    print(out)\n"
    )
    out = run(installed / "python", "-c", script, cwd=tmp_path, env=clean_env(installed))
    assert "namespace/default" in out
