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
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
PAGES = {
    str(p.relative_to(DOCS)): BLOCK.findall(p.read_text())
    for p in sorted(DOCS.rglob("*.md"))
    if p.read_text().startswith("<!-- docs-test: run -->")
}


def test_some_pages_opt_in() -> None:
    assert PAGES, "no documentation page runs its examples"


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
