"""The console in a real browser (headless Debian Chromium) against a real gateway over HTTP.

A newcomer's path: first-run setup, sign in, a user signs up, creates a key, calls the relay with
it, and sees the log row and the dashboard numbers move. An admin's path: plugins switched off
and on take their channel type and route with them; a bad plugin setting shows its field error.
Every page is opened for each role with no JavaScript error and no 5xx.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from openai import AsyncOpenAI

from newapi_host.web.i18n import TRANSLATIONS

from .browser import Tab, launch, open_tab
from .conftest import LOCAL_UPSTREAMS, ROOT_PASSWORD
from .gateway import Gateway, start_gateway
from .test_console import ADMIN_PAGES, PAGES, TITLES, USER_PAGES
from .upstreams import FakeUpstream, shared_fake_openai

MODEL = "gpt-4o-mini"
EN = TRANSLATIONS["en"]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async for b in launch():
        yield b


@pytest.fixture(scope="module")
def up() -> FakeUpstream:
    return shared_fake_openai()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A fresh gateway (no root yet) with the ``acme`` (provider) and ``wallet`` (payment and
    redirect login) fixture plugins installed."""
    gateway = start_gateway(tmp_path_factory.mktemp("browser"), fixture_plugins=("acme", "wallet"))
    yield gateway
    gateway.stop()


async def until(check: Any, tab: Tab, path: str, seconds: float = 10) -> None:
    """Reload ``path`` until ``check()`` (a coroutine function) is true: the ledger writes every second."""
    deadline = time.monotonic() + seconds
    while True:
        await tab.goto(path)
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never showed the expected change")
        await asyncio.sleep(0.5)


async def sign_in(tab: Tab, username: str, password: str) -> None:
    await tab.goto("/login")
    await tab.page.fill('form[data-form="login"] input[name="username"]', username)
    await tab.page.fill('form[data-form="login"] input[name="password"]', password)
    await tab.page.click('form[data-form="login"] button[type="submit"]')
    await tab.page.wait_for_url("**/console")
    await tab.settle()


async def sign_out(tab: Tab) -> None:
    await tab.page.click("a[data-logout]")
    await tab.page.wait_for_url("**/login")


async def stat(tab: Tab, name: str) -> str:
    return (await tab.page.text_content(f'[data-stat="{name}"]') or "").strip()


async def test_newcomer_sets_up_and_a_user_calls_the_relay(browser: Any, gw: Gateway, up: FakeUpstream) -> None:
    tab = await open_tab(browser, gw.url)
    page = tab.page

    # First run: "/" leads to setup; the root account is created in the browser.
    await tab.goto("/")
    assert page.url.endswith("/setup")
    await tab.shot("setup")
    await page.fill('input[name="password"]', ROOT_PASSWORD)
    await page.fill('input[name="confirmPassword"]', ROOT_PASSWORD)
    await page.click('form[data-form="setup"] button[type="submit"]')
    await page.wait_for_url("**/login")
    await sign_in(tab, "root", ROOT_PASSWORD)
    await add_channel_through_form(tab, up)

    # Root makes a $5 redemption code for the newcomer.
    await tab.goto("/console/redemptions")
    form = page.locator('form[data-form="redemption"]')
    await form.locator('input[name="name"]').fill("welcome")
    await form.locator('input[name="count"]').fill("1")
    await form.locator('input[name="quota"]').fill("5")
    await form.locator('button[type="submit"]').click()
    await page.wait_for_selector("[data-newcodes]:not([hidden])")
    code = (await page.input_value("[data-newcodes] [data-codes]")).strip()
    assert len(code) == 32
    await tab.shot("redemptions")
    await sign_out(tab)

    # A user signs up, signs in, redeems the code and creates a key.
    await tab.goto("/register")
    await tab.shot("register")
    await page.fill('input[name="username"]', "alice")
    await page.fill('input[name="password"]', "alice-password-1")
    await page.fill('input[name="confirmPassword"]', "alice-password-1")
    await page.click('form[data-form="register"] button[type="submit"]')
    await page.wait_for_url("**/login")
    await sign_in(tab, "alice", "alice-password-1")
    assert await stat(tab, "request_count") == "0"
    await tab.goto("/console/wallet")
    await page.fill('form[data-form="redeem"] input[name="key"]', code)
    await page.click('form[data-form="redeem"] button[type="submit"]')
    await page.wait_for_selector(".msg.ok:not([hidden])")
    assert "$5.00" in (await page.text_content(".msg.ok") or "")
    await tab.settle()
    assert await stat(tab, "quota") == "$5.00"
    await tab.shot("wallet")

    await tab.goto("/console/keys")
    await page.fill('form[data-form="token"] input[name="name"]', "laptop")
    await page.click('form[data-form="token"] button[type="submit"]')
    await page.wait_for_selector("[data-newkey]:not(:empty)")
    key = (await page.text_content("[data-newkey]") or "").strip()
    assert key.startswith("sk-") and len(key) > 20
    await page.wait_for_selector('[data-list="tokens"] >> text=laptop')
    await tab.shot("keys")

    # The key works against the relay, over real HTTP, with the official SDK.
    async with AsyncOpenAI(base_url=gw.base_url, api_key=key, http_client=httpx.AsyncClient()) as client:
        reply = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content

    # The log row and the dashboard numbers follow.
    async def logged() -> bool:
        return await page.locator('[data-list="logs"] tr', has_text=MODEL).count() == 1

    await until(logged, tab, "/console/logs")
    await tab.shot("logs")

    async def counted() -> bool:
        return await stat(tab, "request_count") == "1" and await stat(tab, "used_quota") != "$0.00"

    await until(counted, tab, "/console")
    await tab.shot("dashboard")

    # The playground streams a reply through the same key.
    calls_before = len(up.requests_for(MODEL))
    await tab.goto("/console/playground")
    await page.wait_for_function(
        "model => [...document.querySelectorAll('select[name=model] option')].some(o => o.value === model)", arg=MODEL
    )
    await page.select_option('select[name="model"]', MODEL)
    await page.fill('form[data-form="chat"] textarea[name="message"]', "Say hello")
    await page.press('form[data-form="chat"] textarea[name="message"]', "Enter")
    await page.wait_for_function(
        "() => document.querySelector('.pg-msg.assistant') && !document.querySelector('[data-transcript]').dataset.busy"
    )
    answer = page.locator(".pg-msg.assistant").last
    assert not await answer.evaluate("n => n.classList.contains('failed')")
    assert (await answer.locator(".pg-text").text_content() or "").strip()
    await answer.locator('[data-note="usage"]').wait_for()
    await tab.shot("playground")
    assert len(up.requests_for(MODEL)) == calls_before + 1

    async def counted_twice() -> bool:
        return await stat(tab, "request_count") == "2"

    await until(counted_twice, tab, "/console")
    tab.assert_clean()


async def add_channel_through_form(tab: Tab, up: FakeUpstream) -> None:
    """Root adds an OpenAI channel for the fake upstream with the channel form."""
    page = tab.page
    await tab.goto("/console/channels")
    await page.click('button[data-action="add"]')
    form = page.locator('form[data-form="channel"]')
    await form.wait_for()
    await form.locator('select[name="type"]').select_option("1")
    await form.locator('input[name="name"]').fill("browser-openai")
    await form.locator('textarea[name="key"]').fill("sk-upstream-browser")
    await form.locator('input[name="base_url"]').fill(up.url)
    await form.locator('textarea[name="models"]').fill(MODEL)
    await tab.shot("channel-form")
    await form.locator('button[type="submit"]').click()
    await page.wait_for_selector('[data-list="channels"] tr[data-id]:has-text("browser-openai")')
    await tab.shot("channels")


async def root_tab(browser: Any, gw: Gateway, lang: str = "en") -> Tab:
    if not gw.host.setup_done:
        async with httpx.AsyncClient(base_url=gw.url) as client:
            body = {"username": "root", "password": ROOT_PASSWORD, "confirmPassword": ROOT_PASSWORD}
            assert (await client.post("/api/setup", json=body)).json()["success"]
    tab = await open_tab(browser, gw.url, lang=lang)
    await sign_in(tab, "root", ROOT_PASSWORD)
    return tab


async def test_plugin_switch_and_settings_errors(browser: Any, gw: Gateway) -> None:
    tab = await root_tab(browser, gw)
    page = tab.page
    await tab.goto("/console/plugins")
    await page.locator('[data-list="plugins"] tr', has_text="acme").wait_for()
    await tab.shot("plugins")

    async def acme_type_listed() -> bool:
        res = await page.evaluate(
            "async () => (await fetch('/api/channel/types', {headers: {'New-Api-User': "
            "localStorage.getItem('newapi_user_id')}})).json()"
        )
        return any(t["id"] == 9001 for t in res["data"])

    async def acme_route_status() -> int:
        async with httpx.AsyncClient(base_url=gw.url) as client:
            return (await client.post("/acme/v1/chat", json={"model": "acme-1"})).status_code

    async def channel_form_types() -> list[str]:
        await tab.goto("/console/channels")
        await page.click('button[data-action="add"]')
        return await page.eval_on_selector_all(
            'form[data-form="channel"] select[name="type"] option', "options => options.map(o => o.value)"
        )

    assert await acme_type_listed() and await acme_route_status() != 404
    assert "9001" in await channel_form_types()
    await tab.goto("/console/plugins")
    await page.locator('[data-list="plugins"] tr', has_text="acme").locator("button[aria-pressed]").click()
    await page.wait_for_selector('[data-list="plugins"] tr:has-text("acme") button[aria-pressed="false"]')
    await tab.shot("plugins-acme-off")
    assert not await acme_type_listed()
    deadline = time.monotonic() + 5  # every worker hears of the switch within the sync interval
    while await acme_route_status() != 404:
        assert time.monotonic() < deadline, "the disabled plugin's route still answers"
        await asyncio.sleep(0.2)
    types = await channel_form_types()
    assert "9001" not in types and "1" in types
    await tab.goto("/console/plugins")
    await page.locator('[data-list="plugins"] tr', has_text="acme").locator("button[aria-pressed]").click()
    await page.wait_for_selector('[data-list="plugins"] tr:has-text("acme") button[aria-pressed="true"]')
    assert await acme_type_listed() and "9001" in await channel_form_types()

    # A value the plugin's settings model refuses comes back as an error under its field.
    await tab.goto("/console/plugins/acme")
    await page.fill('input[name="max_items"]', "1000")
    await page.click('form[data-form="plugin-settings"] button[type="submit"]')
    error = page.locator('[data-error="max_items"]')
    await error.wait_for()
    await page.wait_for_function("() => document.querySelector('[data-error=\"max_items\"]').textContent.length > 0")
    assert "100" in (await error.text_content() or "")
    await tab.shot("plugin-settings-error")
    await page.fill('input[name="max_items"]', "42")
    await page.click('form[data-form="plugin-settings"] button[type="submit"]')
    await page.wait_for_selector(".msg.ok:not([hidden])")
    assert await error.text_content() == ""
    tab.assert_clean()


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_every_page_renders_for_each_role(browser: Any, gw: Gateway, lang: str) -> None:
    strings = TRANSLATIONS[lang]
    root = await root_tab(browser, gw, lang)
    for path in PAGES + USER_PAGES + ADMIN_PAGES:
        response = await root.goto(path)
        assert response.status == 200, path
        assert strings[TITLES[path]] in await root.page.title(), path
        if lang == "en" or path == "/console":
            await root.shot(f"root-{lang}-{path.strip('/') or 'home'}")
    root.assert_clean()

    async with httpx.AsyncClient(base_url=gw.url) as client:
        body = {"username": f"bob{lang}", "password": "bob-password-1"}
        assert (await client.post("/api/user/register", json=body)).json()["success"]
    user = await open_tab(browser, gw.url, lang=lang)
    await sign_in(user, f"bob{lang}", "bob-password-1")
    for path in PAGES + USER_PAGES:
        response = await user.goto(path)
        assert response.status == 200, path
    for path in ADMIN_PAGES:
        response = await user.goto(path)
        assert response.status == 403, path
        assert strings["forbidden_text"] in await user.page.text_content("main")
    user.assert_clean()

    # An admin who is not root sees the plugins but cannot switch them (the API would refuse).
    admin_id = gw.user(f"adm{lang}", role=10)
    assert admin_id
    admin = await open_tab(browser, gw.url, lang=lang)
    await sign_in(admin, f"adm{lang}", "password-123")
    await admin.goto("/console/plugins")
    toggles = admin.page.locator('[data-list="plugins"] button[aria-pressed]')
    assert await toggles.count() > 0
    assert all(await toggles.evaluate_all("buttons => buttons.map(b => b.disabled)"))
    assert strings["plugins_root_only"] in await admin.page.text_content(".msg")
    admin.assert_clean()

    anonymous = await open_tab(browser, gw.url, lang=lang)
    for path in USER_PAGES + ADMIN_PAGES:
        await anonymous.goto(path)
        assert anonymous.page.url.endswith("/login"), path
    anonymous.assert_clean()


async def test_admin_works_channels_settings_and_users(browser: Any, gw: Gateway, up: FakeUpstream) -> None:
    tab = await root_tab(browser, gw)
    page = tab.page
    channel = gw.channel(base_url=up.url, models=[MODEL], name="row-actions", test_model=MODEL)
    gw.option(**LOCAL_UPSTREAMS)  # the channel test is an admin fetch: root allows the local fake upstream

    # A channel's row: test it, switch it off and on.
    await tab.goto("/console/channels")
    row = page.locator(f'[data-list="channels"] tr[data-id="{channel}"]')
    await row.locator('button[data-action="test"]').click()
    await page.wait_for_function(
        f"() => /\\d+ ms/.test(document.querySelector('tr[data-id=\"{channel}\"] [data-result]')?.textContent || '')"
    )
    await row.locator('button[data-action="toggle"]').click()
    await tab.settle()
    assert gw.channel_row(channel)["status"] == 2
    await page.locator(f'[data-list="channels"] tr[data-id="{channel}"] button[data-action="toggle"]').click()
    await tab.settle()
    assert gw.channel_row(channel)["status"] == 1

    # Settings: a negative ratio is refused under its field, a good one is saved.
    await tab.goto("/console/settings")
    form = page.locator('form[data-form="settings-pricing"]')
    await form.locator('textarea[name="ModelRatio"]').fill('{"gpt-4o-mini": -1}')
    await form.locator('button[type="submit"]').click()
    error = form.locator('[data-error="ModelRatio"]')
    await page.wait_for_function("() => document.querySelector('[data-error=\"ModelRatio\"]').textContent.length > 0")
    await tab.shot("settings-error")
    await form.locator('textarea[name="ModelRatio"]').fill('{"gpt-4o-mini": 0.075, "browser-model": 2}')
    await form.locator('button[type="submit"]').click()
    await page.wait_for_selector(".msg.ok:not([hidden])")
    assert await error.text_content() == ""
    assert json.loads(gw.host.options.get("ModelRatio")) == {"gpt-4o-mini": 0.075, "browser-model": 2}

    # Users: root finds a user and promotes them.
    uid = gw.user("carol")
    await tab.goto("/console/users")
    await page.fill('form[data-form="user-search"] input[name="keyword"]', "carol")
    await page.click('form[data-form="user-search"] button[type="submit"]')
    await tab.settle()
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.locator(f'[data-list="users"] tr[data-id="{uid}"] button[data-action="promote"]').click()
    await page.wait_for_selector(f'[data-list="users"] tr[data-id="{uid}"] button[data-action="demote"]')
    assert gw.user_row(uid)["role"] == 10
    await tab.shot("users")

    # The language switch is remembered.
    await page.click('a[hreflang="zh"]')
    await tab.settle()
    assert await page.title() == f"{TRANSLATIONS['zh']['users_title']} · New API"
    await tab.goto("/console")
    assert TRANSLATIONS["zh"]["dashboard_title"] in await page.title()
    tab.assert_clean()


async def test_paging_keeps_its_place(browser: Any, gw: Gateway) -> None:
    """The shared pager on redemption codes: next/prev, a failed load keeps the page, deleting the
    only row of the last page lands on the new last page."""
    tab = await root_tab(browser, gw)
    page = tab.page
    await tab.goto("/console/redemptions")
    made = await page.evaluate(
        "() => NA.api('POST', '/api/redemption/', {name: 'paging', count: 41, quota: 1000, expired_time: 0})"
    )
    assert made["success"], made
    pager = page.locator('[data-pager="redemptions"]')
    rows = page.locator('[data-list="redemptions"] tr[data-id]')

    async def at(text: str, count: int) -> list[str | None]:
        await pager.locator(f'[data-page-info]:text-is("{text}")').wait_for()
        await tab.settle()
        assert await rows.count() == count
        return [await rows.nth(i).get_attribute("data-id") for i in range(count)]

    await page.fill('form[data-form="redemption-search"] input[name="keyword"]', "paging")
    await page.click('form[data-form="redemption-search"] button[type="submit"]')
    first = await at("1 / 3", 20)
    assert await pager.locator("[data-total]").text_content() == "(41)"
    assert await pager.locator('[data-page="prev"]').is_disabled()
    await pager.locator('[data-page="next"]').click()
    second = await at("2 / 3", 20)
    assert not set(first) & set(second)

    async def refuse(route: Any) -> None:
        await route.fulfill(json={"success": False, "message": "paging refused"})

    third = re.compile(r"/api/redemption/search\?.*\bp=3&")
    await page.route(third, refuse)
    await pager.locator('[data-page="next"]').click()
    await page.wait_for_selector('.msg:has-text("paging refused")')
    assert await at("2 / 3", 20) == second and await pager.locator('[data-page="next"]').is_enabled()
    await page.unroute(third, refuse)

    await pager.locator('[data-page="next"]').click()
    (last,) = await at("3 / 3", 1)
    assert await pager.locator('[data-page="next"]').is_disabled()
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await rows.first.locator('button[data-action="delete"]').click()
    assert await at("2 / 2", 20) == second and last not in second
    assert await pager.locator("[data-total]").text_content() == "(40)"
    assert await pager.locator('[data-page="next"]').is_disabled()
    await pager.locator('[data-page="prev"]').click()
    assert await at("1 / 2", 20) == first
    tab.assert_clean()


async def test_redirect_sign_in_and_online_top_up(browser: Any, gw: Gateway) -> None:
    """The login plugin's button and the payment plugin's button, with the providers faked in the browser."""
    await (await root_tab(browser, gw)).page.context.close()  # setup done, so sign-up is open
    tab = await open_tab(browser, gw.url)
    page = tab.page

    async def provider_login(route: Any) -> None:  # the provider signs "dave" in and sends him back
        query = parse_qs(urlsplit(route.request.url).query)
        back = f"{query['redirect_uri'][0]}?{urlencode({'code': 'dave', 'state': query['state'][0]})}"
        await route.fulfill(status=302, headers={"Location": back})

    paid: list[str] = []

    async def provider_checkout(route: Any) -> None:
        paid.append(parse_qs(urlsplit(route.request.url).query)["trade_no"][0])
        await route.fulfill(status=200, content_type="text/html", body="<p>paid</p>")

    await page.route("https://login.invalid/**", provider_login)
    await page.route("https://pay.invalid/**", provider_checkout)

    await tab.goto("/login")
    button = page.locator("[data-login-methods] a", has_text="Fake OAuth")
    await tab.shot("login")
    await button.click()
    await page.wait_for_url("**/console")
    await tab.settle()
    assert "user_dave" in (await page.text_content(".topbar .account") or "")

    await tab.goto("/console/wallet")
    await page.fill('form[data-form="topup"] input[name="amount"]', "10")
    await page.click('[data-action="pay"][data-method="fakepay"]')
    await page.wait_for_url("https://pay.invalid/**")
    assert len(paid) == 1
    async with httpx.AsyncClient(base_url=gw.url) as client:  # the provider's notice, twice
        for _ in range(2):
            r = await client.get("/api/payment/fakepay/notify", params={"trade_no": paid[0], "sign": "ok"})
            assert r.status_code == 200
    await tab.goto("/console/wallet")
    assert await stat(tab, "quota") == "$10.00"
    await page.locator('[data-list="topups"] tr[data-id]').first.wait_for()
    await tab.shot("wallet-topped-up")
    tab.assert_clean()
