"""The built site, opened in a real headless browser (the machine's Chromium, driven over the
DevTools protocol): the navigation renders, the search finds a page, every image of the reports
(the plots) loads, and screenshots of the home page and the tutorial are saved for review under
``build/screenshots/``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import http.server
import json
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

ROOT = Path(__file__).parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert found, "no Chromium on PATH: install the machine's package (apt-get install chromium)"
    return found


@pytest.fixture(scope="module")
def site(built_site: Path) -> Iterator[str]:
    """The strictly built site served on a loopback port; its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


class Page:
    """One browser tab over the DevTools protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.ids += 1
        await self.ws.send_json({"id": self.ids, "method": method, "params": params})
        while True:
            message = json.loads((await self.ws.receive()).data)
            if message.get("id") == self.ids:
                assert "error" not in message, message
                return message.get("result", {})

    async def open(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        await self.until("document.readyState === 'complete'", what=f"{url} loaded")

    async def value(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        return result["result"].get("value")

    async def until(self, expression: str, *, what: str, within: float = 30) -> Any:
        async with asyncio.timeout(within):
            while True:
                value = await self.value(expression)
                if value:
                    return value
                await asyncio.sleep(0.2)

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


@contextlib.asynccontextmanager
async def browser() -> AsyncIterator[Page]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    profile = tempfile.mkdtemp(prefix="kubeloop-chromium-")
    process = await asyncio.create_subprocess_exec(
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "--window-size=1280,900",
        "about:blank", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as http_session:
            async with asyncio.timeout(60):
                while True:
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http_session.get(f"http://127.0.0.1:{port}/json/list") as response:
                            targets = [t for t in await response.json() if t["type"] == "page"]
                            if targets:
                                break
                    await asyncio.sleep(0.2)
            async with http_session.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                await page.call("Page.enable")
                yield page
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
        await asyncio.to_thread(shutil.rmtree, profile, ignore_errors=True)


async def test_the_site_renders_navigates_searches_and_shows_its_plots(site: str) -> None:
    async with browser() as page:
        await page.open(site)
        title = await page.value("document.querySelector('h1').textContent")
        assert title.strip().startswith("kubeloop")
        links = await page.value("Array.from(document.querySelectorAll('nav.md-nav a.md-nav__link')).length")
        assert links > 20, f"the navigation has {links} links"
        await page.screenshot(SCREENSHOTS / "home.png")

        await page.open(site + "tutorial/")
        heading = await page.value("document.querySelector('h1').textContent")
        assert "Tutorial" in heading
        await page.screenshot(SCREENSHOTS / "tutorial.png")

        # Material's search runs in the page (a worker over search_index.json); ?q= opens it.
        await page.open(site + "?q=reconcile")
        found = await page.until(
            "document.querySelectorAll('.md-search-result__item').length", what="search results"
        )
        assert found > 0

        # Every page with a picture (the reports' plots, the architecture's diagram) shows each one.
        for report, pictures in illustrated_pages().items():
            await page.open(site + report)
            images = await page.until(
                "Array.from(document.images).length && Array.from(document.images).every(i => i.complete)"
                " && Array.from(document.images).map(i => i.naturalWidth)",
                what=f"{report} images loaded",
            )
            assert len(images) >= pictures, f"{report} shows {len(images)} of its {pictures} pictures"
            assert all(width > 0 for width in images), f"{report}: an image did not load ({images})"


def illustrated_pages() -> dict[str, int]:
    """The site's pages that show pictures (Markdown images), by URL path: how many each shows."""
    docs = ROOT / "docs"
    found = {}
    for md in sorted(docs.rglob("*.md")):
        count = len(re.findall(r"!\[[^\]]*\]\([^)\s]+\)", md.read_text()))
        if count:
            path = md.relative_to(docs).with_suffix("")
            found["" if path.name == "index" else f"{path.as_posix()}/"] = count
    assert {"benchmarks/client/", "benchmarks/runtime/", "architecture/"} <= set(found), found
    return found
