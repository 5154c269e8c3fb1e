"""Documentation examples run: every ```python block of a page that opts in with
``<!-- docs-test: run -->`` runs, in order, in one namespace, against the real control plane."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from kubeloop.testing import ControlPlane

DOCS = Path(__file__).parents[2] / "docs"
BLOCK = re.compile(r"^```python(?:[ \t][^\n]*)?\n(.*?)^```", re.S | re.M)
ALL_PAGES = {str(p.relative_to(DOCS)): p.read_text() for p in sorted(DOCS.rglob("*.md"))}
PAGES = {
    page: BLOCK.findall(text)
    for page, text in ALL_PAGES.items()
    if text.startswith("<!-- docs-test: run -->")
}
# Pages whose Python blocks another test runs.
RUN_ELSEWHERE = {
    "tutorial.md": "tests/e2e/test_tutorial.py",
    "migrating/from-kopf.md": "tests/e2e/test_migration.py",  # its blocks are the example files
    "migrating/from-kubebuilder.md": "tests/e2e/test_migration.py",
}


def test_some_pages_opt_in() -> None:
    assert PAGES, "no documentation page runs its examples"


def test_every_python_example_of_the_site_runs() -> None:
    unrun = [
        page
        for page, text in ALL_PAGES.items()
        if BLOCK.search(text) and page not in PAGES and page not in RUN_ELSEWHERE
    ]
    assert not unrun, (
        f"these pages have Python examples that no test runs (opt in with <!-- docs-test: run -->): {unrun}"
    )
    for page, test in RUN_ELSEWHERE.items():
        assert f"docs/{page}" in (DOCS.parent / test).read_text(), f"{test} does not run docs/{page}"


@pytest.mark.parametrize("page", sorted(PAGES))
async def test_page_examples_run(
    page: str, control_plane: ControlPlane, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(control_plane.kubeconfig))
    scope: dict[str, object] = {"namespace": namespace, "__name__": f"docs.{Path(page).stem}"}
    blocks = PAGES[page]
    assert blocks, f"{page} has no python blocks"
    for number, source in enumerate(blocks, 1):
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        code = compile(source, f"{page}#block{number}", "exec", flags=flags, dont_inherit=True)
        result = eval(code, scope)
        if inspect.isawaitable(result):
            await result
