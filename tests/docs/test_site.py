"""The documentation site builds strictly (a broken link, a missing reference or any warning fails
it), lists every page, documents every command and public package, and needs nothing from the
internet to be read."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import click
import pytest
import yaml

from kubeloop.cli.main import cli

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def site(built_site: Path) -> Path:
    return built_site


def commands(group: click.Command, path: tuple[str, ...] = ("kubeloop",)) -> list[tuple[str, ...]]:
    """Every command under ``group``, as its path of names."""
    found = [path]
    if isinstance(group, click.Group):
        for name, command in sorted(group.commands.items()):
            found += commands(command, (*path, name))
    return found


def test_every_page_is_built_and_in_the_nav(site: Path) -> None:
    pages = sorted(p.relative_to(DOCS) for p in DOCS.rglob("*.md"))
    for page in pages:
        html = site / ("index.html" if page.stem == "index" else page.with_suffix("") / "index.html")
        assert html.is_file(), f"{page} was not built"
    # Every page is reachable from the home page's navigation (pages added later included).
    home = (site / "index.html").read_text()
    for page in pages:
        link = "." if page == Path("index.md") else f"{page.with_suffix('').as_posix()}/"
        assert f'href="{link}"' in home, f"{page} is not in the navigation"


def test_the_cli_reference_documents_every_command(site: Path) -> None:
    html = (site / "reference" / "cli" / "index.html").read_text()
    for path in commands(cli):
        anchor = "-".join(path)
        assert f'id="{anchor}"' in html, f"{' '.join(path)} is missing from the CLI reference"
        command = cli
        for name in path[1:]:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        for option in (p for p in command.params if isinstance(p, click.Option)):
            assert option.opts[0] in html, f"{' '.join(path)} {option.opts[0]} is missing"


def test_the_api_reference_covers_every_public_package(site: Path) -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    packages = sorted(p.name for p in (ROOT / "src" / "kubeloop").iterdir() if (p / "__init__.py").is_file())
    packages = [p for p in packages if p != "cli"]  # the command line has its own reference
    for package in packages:
        page = site / "reference" / "api" / package / "index.html"
        assert page.is_file(), f"kubeloop.{package} has no API reference page"
        module = __import__(f"kubeloop.{package}", fromlist=["__all__"])
        html = page.read_text()
        for name in getattr(module, "__all__", []):
            assert f'id="kubeloop.{package}.{name}"' in html, f"kubeloop.{package}.{name} is not documented"
    assert config["strict"] is True


def test_the_site_fetches_nothing_from_elsewhere(site: Path) -> None:
    # Links to other sites are fine; what a page loads by itself (scripts, styles, fonts, images) is not.
    tags = re.compile(r"<(?:script|img|link|iframe|source|video|audio)\b[^>]*>")
    external = re.compile(r'(?:src|href)="(?:https?:)?//')
    not_loaded = re.compile(r'rel="(?:canonical|alternate)"')
    for html in site.rglob("*.html"):
        found = [t for t in tags.findall(html.read_text()) if external.search(t) and not not_loaded.search(t)]
        assert not found, f"{html.relative_to(site)} loads {found[:3]}"
    for css in site.rglob("*.css"):
        assert not re.search(r"@import\s+url\((?:https?:)?//", css.read_text()), (
            f"{css} imports from elsewhere"
        )


def test_a_page_the_nav_does_not_list_is_added_to_its_section(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "hack" / "docs_hooks.py")
    assert spec is not None
    assert spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    for page, text in {
        "index.md": "# Home\n",
        "reliability.md": "# Reliability report\n",
        "benchmarks/typed.md": "# Typed kinds\n",
        "other.md": "no heading\n",
    }.items():
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / page).write_text(text)
    config = {"docs_dir": str(tmp_path), "nav": [{"Home": "index.md"}, {"Reports": [{"B": "benchmarks.md"}]}]}
    assert hooks.on_config(config)["nav"] == [
        {"Home": "index.md"},
        {
            "Reports": [
                {"B": "benchmarks.md"},
                {"Typed kinds": "benchmarks/typed.md"},
                {"Reliability report": "reliability.md"},
            ]
        },
        {"More": [{"Other": "other.md"}]},
    ]
