"""mkdocs hooks of the documentation site (mkdocs.yml names this file).

Pages land while others write them: a page that the nav does not list yet (a new report under
docs/benchmarks/, docs/reliability.md, ...) is added to the section where it belongs instead of
being left out, so the strict build neither fails on it nor hides it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Where an unlisted page goes: the first section whose rule matches its path.
SECTIONS = (
    ("Reports", lambda path: path.startswith("benchmarks/") or path.startswith("reliability")),
    ("More", lambda path: True),
)


def _listed(nav: Any) -> set[str]:
    """Every page path the nav names."""
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return set().union(*(_listed(item) for item in nav)) if nav else set()
    if isinstance(nav, dict):
        return set().union(*(_listed(value) for value in nav.values()))
    return set()


def _title(path: str) -> str:
    """A page's title: its first heading, else its file name."""
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip().strip("`")
    return Path(path).stem.replace("-", " ").capitalize()


def on_config(config: Any) -> Any:
    """Add the pages the nav does not list to their sections."""
    nav = config["nav"]
    docs = Path(config["docs_dir"])
    listed = _listed(nav)
    for page in sorted(docs.rglob("*.md")):
        path = page.relative_to(docs).as_posix()
        if path in listed:
            continue
        section = next(name for name, matches in SECTIONS if matches(path))
        entries = next((item[section] for item in nav if isinstance(item, dict) and section in item), None)
        if entries is None:
            entries = []
            nav.append({section: entries})
        entries.append({_title(str(page)): path})
    return config
