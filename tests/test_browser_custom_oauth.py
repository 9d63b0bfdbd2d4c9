"""Custom OAuth providers in a real browser: root defines one on the console page, a newcomer
signs up with its button on the sign-in page (a local OAuth 2 server, real HTTP), then links and
unlinks it on the security page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from newapi_host.web.i18n import TRANSLATIONS

from .browser import launch, open_tab
from .fake_custom_oauth import CLIENT_ID, CLIENT_SECRET, FakeProvider
from .gateway import Gateway, start_gateway
from .test_browser_console import root_tab, sign_out

EN = TRANSLATIONS["en"]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async for b in launch():
        yield b


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("custom-oauth"))
    # The discovery fetch obeys the SSRF settings; the local provider is on 127.0.0.1, any port.
    gateway.option(**{"fetch_setting.allow_private_ip": "true", "fetch_setting.allowed_ports": "[]"})
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    server = FakeProvider().start()
    yield server
    server.stop()


async def test_root_defines_a_provider_and_a_newcomer_signs_up_with_it(
    browser: Any, gw: Gateway, fake: FakeProvider
) -> None:
    root = await root_tab(browser, gw)
    page = root.page
    await root.goto("/console/settings")
    await page.click('a[href="/console/oauth-providers"]')
    await page.wait_for_url("**/console/oauth-providers")
    await root.settle()
    form = 'form[data-form="oauth-provider"]'
    values = {
        "name": "Acme SSO",
        "slug": "acme",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "well_known": f"{fake.url}/.well-known/openid-configuration",
        "scopes": "profile email",
        "user_id_field": "data.user.id",
        "username_field": "data.user.login",
        "display_name_field": "data.user.profile.name",
        "email_field": "data.user.emails.0",
    }
    for name, value in values.items():
        await page.fill(f'{form} [name="{name}"]', value)
    await page.click(f'{form} [data-tool="discover"]')
    await root.settle()
    assert await page.input_value(f'{form} [name="token_endpoint"]') == f"{fake.url}/token"
    await page.check(f'{form} [name="pkce_enabled"]')
    await page.check(f'{form} [name="enabled"]')
    await page.click(f'{form} button[type="submit"]')
    row = page.locator('[data-list="oauth-providers"] tr', has_text="Acme SSO")
    await row.wait_for()
    await root.settle()
    assert EN["cop_on"] in (await row.text_content() or "")
    assert CLIENT_SECRET not in await page.content()  # the page never holds the secret
    await row.locator('[data-action="edit"]').click()
    assert await page.input_value(f'{form} [name="client_secret"]') == ""
    assert await page.get_attribute(f'{form} [name="client_secret"]', "placeholder") == EN["cop_secret_kept"]
    await root.shot("custom-oauth-providers")
    root.assert_clean()

    fake.user = {"data": {"user": {"id": 77, "login": "carol", "profile": {"name": "Carol"}, "emails": ["c@x.io"]}}}
    newcomer = await open_tab(browser, gw.url)
    await newcomer.goto("/login")
    await newcomer.page.locator("[data-login-methods] a", has_text="Acme SSO").click()
    await newcomer.page.wait_for_url("**/console")
    await newcomer.settle()
    assert "carol" in (await newcomer.page.text_content(".topbar .account") or "")
    newcomer.assert_clean()

    # Root links an account of the provider on the security page, then unlinks it.
    fake.user = {"data": {"user": {"id": "root-77", "login": "root"}}}
    await root.goto("/console/security")
    await page.locator("[data-link-methods] a", has_text="Acme SSO").click()
    await page.wait_for_url("**/console")
    await root.goto("/console/security")
    linked = page.locator('[data-list="bindings"] tr', has_text="Acme SSO")
    await linked.wait_for()
    assert "root-77" in (await linked.text_content() or "")
    await linked.locator('[data-action="unlink"]').click()
    await root.settle()
    assert await page.locator('[data-list="bindings"] tr', has_text="Acme SSO").count() == 0
    await page.locator("[data-link-methods] a", has_text="Acme SSO").wait_for()
    root.assert_clean()
    await sign_out(root)
