"""The Drawings and Tasks pages in a real browser (headless Debian Chromium): a user's drawing
appears with its thumbnail (loaded through the gateway's image proxy on the session cookie), its
status and its cost; the Tasks page lists a song."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from newapi_host.sdk.testing.gateway import USER_PASSWORD

from .browser import launch, open_tab
from .fake_task_upstreams import MJ_KEY, SUNO_KEY
from .task_gateway import client, fake, gateway, query, wait_for  # noqa: F401
from .test_browser_console import sign_in


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async for b in launch():
        yield b


async def test_a_drawing_shows_with_its_thumbnail_and_cost(browser, gateway, fake):  # noqa: F811
    gateway.channel(2, name="mj-console", base_url=fake.url, key=MJ_KEY, models=["mj_imagine"])
    gateway.channel(36, name="suno-console", base_url=fake.url, key=SUNO_KEY, models=["suno_music"])
    key = gateway.key(1_000_000)
    with client(gateway, key) as c:
        mj_id = c.post("/mj/submit/imagine", json={"prompt": "a harbour in the rain"}).json()["result"]
        song = c.post("/suno/submit/music", json={"prompt": "rain song"}).json()["data"]
        wait_for(lambda: c.get(f"/mj/task/{mj_id}/fetch").json()["status"] == "SUCCESS", what="the drawing")
    username = query(gateway, "SELECT u.username FROM users u JOIN tokens t ON t.user_id = u.id WHERE t.key = ?",
                     key.removeprefix("sk-"))[0]["username"]  # fmt: skip

    tab = await open_tab(browser, gateway.url)
    await sign_in(tab, username, USER_PASSWORD)
    await tab.goto("/console/drawings")
    row = tab.page.locator(f'[data-list="drawings"] tr[data-id="{mj_id}"]')
    await row.wait_for()
    assert "SUCCESS" in await row.inner_text() and "a harbour in the rain" in await row.inner_text()
    assert (await row.locator("[data-cost]").inner_text()).strip() == "$0.10"
    thumb = row.locator("img.thumb")
    await tab.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=await thumb.element_handle())
    assert (await thumb.get_attribute("src")).endswith(f"/mj/image/{mj_id}")
    await tab.shot("drawings")

    await tab.goto("/console/tasks")
    task_row = tab.page.locator(f'[data-list="tasks"] tr[data-id="{song}"]')
    await task_row.wait_for()
    assert "suno" in await task_row.inner_text() and "MUSIC" in await task_row.inner_text()
    assert (await task_row.locator("[data-cost]").inner_text()).strip() == "$0.10"
    tab.assert_clean()
