"""Headless Chromium for the console's browser tests: Debian's ``chromium`` driven by Playwright.

Playwright is only the driver: the browser is the system's ``/usr/bin/chromium`` (``.ci/run``
installs the Debian package), so nothing is ever downloaded. Without it the browser tests skip
with a message, except on CI (``CI=true``) where a missing browser fails them.

Every page a test opens records JavaScript errors, failed same-site requests and 5xx answers;
:func:`assert_clean` fails the test on any. Screenshots go to ``artifacts/screenshots/`` (ignored
by git), for people reviewing a run.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("NEWAPI_TEST_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
LAUNCH_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
]


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


async def launch() -> AsyncIterator[Any]:
    """A headless Chromium for one test module (use as an async generator fixture)."""
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class Tab:
    """One browser context (its own cookies and storage) on a gateway, watching for errors."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.problems: list[str] = []
        page.on("pageerror", lambda exc: self.problems.append(f"JS error: {exc}"))
        page.on("console", self._console)
        page.on("response", self._response)
        page.on("requestfailed", self._failed)

    def _console(self, msg: Any) -> None:
        # Chromium logs every non-2xx fetch as a console error; answers are judged in _response.
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            self.problems.append(f"console error: {msg.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 500:
            self.problems.append(f"{response.status} from {response.request.method} {response.url}")

    def _failed(self, request: Any) -> None:
        failure = request.failure or ""
        if request.url.startswith(self.base_url) and "ERR_ABORTED" not in failure:
            self.problems.append(f"request failed: {request.method} {request.url} {failure}")

    async def goto(self, path: str) -> Any:
        response = await self.page.goto(self.base_url + path)
        await self.settle()
        return response

    async def settle(self) -> None:
        """Wait until the page's scripts have run and their API calls have answered."""
        await self.page.wait_for_load_state("load")
        await self.page.wait_for_function("() => window.NA !== undefined && !window.NA.busy()")

    async def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        file = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
        await self.page.screenshot(full_page=True, path=str(file))

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)


async def open_tab(browser: Any, base_url: str, *, lang: str = "en") -> Tab:
    context = await browser.new_context(base_url=base_url, locale="zh-CN" if lang == "zh" else "en-US")
    context.set_default_timeout(10_000)
    if lang:
        await context.add_cookies([{"name": "lang", "value": lang, "url": base_url}])
    return Tab(await context.new_page(), base_url)
