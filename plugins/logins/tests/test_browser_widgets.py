"""The sign-in and security pages' widget methods and e-mail change in a real browser (Debian's
chromium, Playwright): WeChat's code box against the local stand-in of the WeChat server;
Telegram's widget (telegram.org's script answered by the test, nothing leaves the machine) with
a payload signed by a test bot token, for signing in and, through a cross-site redirect as
Telegram makes it, for linking; the e-mail address changed with a code from a local SMTP server."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiosmtpd.controller import Controller
from conftest import password_user
from test_wechat import TOKEN, Helper

from newapi_host.sdk.testing import KitGateway
from newapi_host.sdk.testing.gateway import free_port
from newapi_logins.telegram import signature

BOT_TOKEN = "7000000009:AAFbrowserTestsBotToken"
QR = "data:image/gif;base64,R0lGODlhAQABAAAAACw="  # the official account's QR code (a data: image here)


@pytest.fixture
def wechat(newapi_gateway: KitGateway) -> Iterator[Helper]:
    helper = Helper()
    for key, value in {
        "WeChatServerAddress": helper.url,
        "WeChatServerToken": TOKEN,
        "WeChatAccountQRCodeImageURL": QR,
        "WeChatAuthEnabled": "true",
        "RegisterEnabled": "true",
    }.items():
        newapi_gateway.option(key, value)
    yield helper
    newapi_gateway.option("WeChatAuthEnabled", "false")
    helper.server.shutdown()
    helper.server.server_close()


@pytest.fixture
def telegram(newapi_gateway: KitGateway) -> Iterator[None]:
    newapi_gateway.option("TelegramBotName", "gateway_browser_bot")
    newapi_gateway.option("TelegramBotToken", BOT_TOKEN)
    newapi_gateway.option("TelegramOAuthEnabled", "true")
    newapi_gateway.option("RegisterEnabled", "true")
    yield
    newapi_gateway.option("TelegramOAuthEnabled", "false")


def telegram_user(user_id: int) -> dict[str, Any]:
    """What Telegram's widget hands the page: numbers as numbers, signed as text."""
    fields: dict[str, Any] = {"id": user_id, "first_name": "Widget", "username": f"w{user_id}"}
    fields["auth_date"] = int(time.time()) - 3
    fields["hash"] = signature({k: str(v) for k, v in fields.items()}, BOT_TOKEN)
    return fields


def stand_in_for_telegram(context: Any) -> list[str]:  # type: ignore[no-untyped-def]
    """Answer telegram.org's widget script with an empty one; the list records the requests."""
    asked: list[str] = []

    def answer(route: Any) -> None:
        asked.append(route.request.url)
        route.fulfill(status=200, content_type="application/javascript", body="/* widget stand-in */")

    context.route("https://telegram.org/**", answer)
    return asked


def test_wechat_code_box_signs_in(newapi_gateway: KitGateway, wechat: Helper, chromium) -> None:  # type: ignore[no-untyped-def]
    context = chromium.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{newapi_gateway.url}/login")
    box = page.locator('form[data-form="wechat-login"]')
    assert box.is_visible()
    assert box.locator("img.wechat-qr").get_attribute("src") == QR

    box.locator("input[name=code]").fill("000111")  # a code the account never sent
    box.locator("button[type=submit]").click()
    page.wait_for_selector(".msg:not([hidden])")
    assert "验证码错误" in page.locator(".msg").inner_text()

    wechat.codes["246810"] = "oWx-browser-0001"
    box.locator("input[name=code]").fill("246810")
    box.locator("button[type=submit]").click()
    page.wait_for_url(f"{newapi_gateway.url}/console**")
    user_id = page.locator("body").get_attribute("data-user-id")
    assert newapi_gateway.admin.get(f"/api/user/{user_id}").json()["data"]["wechat_id"] == "oWx-browser-0001"
    context.close()
    assert errors == []


def test_wechat_code_box_links_on_the_security_page(newapi_gateway: KitGateway, wechat: Helper, chromium) -> None:  # type: ignore[no-untyped-def]
    password_user(newapi_gateway, "wxlinker", "wxlinker-pass-1").close()
    context = chromium.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in_with_password(page, newapi_gateway.url, "wxlinker", "wxlinker-pass-1")
    page.goto(f"{newapi_gateway.url}/console/security")
    box = page.locator('form[data-form="wechat-bind"]')
    page.wait_for_selector('[data-list="bindings"] td')  # the list has loaded
    assert box.is_visible() and box.locator("img.wechat-qr").get_attribute("src") == QR
    wechat.codes["135790"] = "oWx-linked-0002"
    box.locator("input[name=code]").fill("135790")
    box.locator("button[type=submit]").click()
    page.wait_for_selector('[data-list="bindings"] tr[data-id="wechat"]')
    assert "oWx-linked-0002" in page.locator('[data-list="bindings"]').inner_text()
    assert box.is_hidden()  # linked: the box goes
    context.close()
    assert errors == []


def test_wechat_box_is_absent_when_off(newapi_gateway: KitGateway, chromium) -> None:  # type: ignore[no-untyped-def]
    newapi_gateway.option("WeChatAuthEnabled", "false")
    newapi_gateway.option("TelegramOAuthEnabled", "false")
    context = chromium.new_context()
    asked = stand_in_for_telegram(context)
    page = context.new_page()
    page.goto(f"{newapi_gateway.url}/login")
    assert page.locator('form[data-form="wechat-login"]').count() == 0
    assert page.locator("[data-telegram]").count() == 0
    context.close()
    assert asked == []  # nothing is loaded from telegram.org unless Telegram is on


def test_telegram_widget_signs_in(newapi_gateway: KitGateway, telegram: None, chromium) -> None:  # type: ignore[no-untyped-def]
    context = chromium.new_context()
    asked = stand_in_for_telegram(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{newapi_gateway.url}/login")
    widget = page.locator("[data-telegram] script")
    assert widget.get_attribute("data-telegram-login") == "gateway_browser_bot"
    assert widget.get_attribute("data-onauth") == "onTelegramAuth(user)"
    page.wait_for_function("() => typeof window.onTelegramAuth === 'function'")
    assert [urlsplit(u).netloc for u in asked] == ["telegram.org"]

    # What the widget does once the user confirms in Telegram: call the page's function.
    forged = {**telegram_user(5551001), "id": 5551002}
    page.evaluate("user => onTelegramAuth(user)", forged)
    page.wait_for_selector(".msg:not([hidden])")
    assert "Invalid" in page.locator(".msg").inner_text()
    page.evaluate("user => onTelegramAuth(user)", telegram_user(5551001))
    page.wait_for_url(f"{newapi_gateway.url}/console**")
    user_id = page.locator("body").get_attribute("data-user-id")
    assert newapi_gateway.admin.get(f"/api/user/{user_id}").json()["data"]["telegram_id"] == "5551001"
    context.close()
    assert errors == []


class ElsewhereSite:
    """A page on another site (127.0.0.1 while the gateway is opened as localhost) that sends the
    browser on to ``?to=``, as telegram.org does after the user confirms."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                target = parse_qs(urlsplit(self.path).query).get("to", [""])[0]
                body = f'<!doctype html><a id="go" href="{html.escape(target, quote=True)}">back</a>'.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def sign_in_with_password(page: Any, site: str, username: str, password: str) -> None:
    page.goto(f"{site}/login")
    page.locator('form[data-form="login"] input[name=username]').fill(username)
    page.locator('form[data-form="login"] input[name=password]').fill(password)
    page.locator('form[data-form="login"] button[type=submit]').click()
    page.wait_for_url(f"{site}/console**")


def test_link_telegram_through_a_cross_site_redirect(newapi_gateway: KitGateway, telegram: None, chromium) -> None:  # type: ignore[no-untyped-def]
    password_user(newapi_gateway, "tglinker", "tglinker-pass-1").close()
    site = f"http://localhost:{newapi_gateway.port}"
    elsewhere = ElsewhereSite()
    context = chromium.new_context()
    stand_in_for_telegram(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        sign_in_with_password(page, site, "tglinker", "tglinker-pass-1")
        user_id = page.locator("body").get_attribute("data-user-id")
        page.goto(f"{site}/console/security")
        auth_url = page.locator('[data-link-widget="telegram"] script').get_attribute("data-auth-url")
        assert auth_url and auth_url.startswith(f"{site}/api/oauth/telegram/bind/")

        # The arrival from another site leaves the SameSite=Strict session cookie home: the
        # cookie-only route does not know the user (why the callback address carries a ticket).
        fields = urlencode({k: str(v) for k, v in telegram_user(5551099).items()})
        page.goto(f"{elsewhere.url}/?{urlencode({'to': f'{site}/api/oauth/telegram/bind?{fields}'})}")
        page.locator("#go").click()
        page.wait_for_url(f"{site}/api/oauth/telegram/bind?**")
        assert "not logged in" in page.locator("body").inner_text()

        # Telegram appends the signed fields to the callback address and sends the browser there.
        back = f"{auth_url}?{urlencode({k: str(v) for k, v in telegram_user(5551100).items()})}"
        page.goto(f"{elsewhere.url}/?{urlencode({'to': back})}")
        page.locator("#go").click()
        page.wait_for_url(f"{site}/console/security")  # still signed in: the session came along again
        page.wait_for_selector('[data-list="bindings"] tr[data-id="telegram"]')
        assert "5551100" in page.locator('[data-list="bindings"]').inner_text()
        assert page.locator("body").get_attribute("data-user-id") == user_id
        assert page.locator('[data-link-widget="telegram"]').is_hidden()  # linked: no widget

        # The same callback address a second time: refused, and said so on the page.
        page.goto(f"{elsewhere.url}/?{urlencode({'to': back})}")
        page.locator("#go").click()
        page.wait_for_url(f"{site}/console/security?bind_error=*")
        page.wait_for_selector(".msg:not([hidden])")
        assert "used already" in page.locator(".msg").inner_text()
    finally:
        context.close()
        elsewhere.close()
    assert errors == []


class Inbox:
    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        mail = message_from_bytes(envelope.content)
        plain = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
        self.texts[mail["To"]] = plain.get_payload(decode=True).decode()
        return "250 OK"


def test_change_the_email_address_on_the_security_page(newapi_gateway: KitGateway, chromium) -> None:  # type: ignore[no-untyped-def]
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    for key, value in {"SMTPServer": "127.0.0.1", "SMTPPort": str(port), "SMTPFrom": "noreply@example.com"}.items():
        newapi_gateway.option(key, value)
    password_user(newapi_gateway, "mailchanger", "mailchanger-pass-1").close()
    context = chromium.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        sign_in_with_password(page, newapi_gateway.url, "mailchanger", "mailchanger-pass-1")
        page.goto(f"{newapi_gateway.url}/console/security")
        page.wait_for_selector("[data-email-state]:has-text('No address')")
        page.locator('form[data-form="email-code"] input[name=email]').fill("changed@example.com")
        page.locator('form[data-form="email-code"] button[type=submit]').click()
        page.wait_for_selector('form[data-form="email-bind"]:not([hidden])')
        code = re.search(r"code is (\d{6})", inbox.texts["changed@example.com"])
        assert code, inbox.texts

        page.locator('form[data-form="email-bind"] input[name=code]').fill(
            "999999" if code[1] != "999999" else "888888"
        )
        page.locator('form[data-form="email-bind"] button[type=submit]').click()
        page.wait_for_selector(".msg:not([hidden])")
        assert "wrong" in page.locator(".msg").inner_text()

        page.locator('form[data-form="email-bind"] input[name=code]').fill(code[1])
        page.locator('form[data-form="email-bind"] button[type=submit]').click()
        page.wait_for_selector("[data-email-state]:has-text('changed@example.com')")
        user_id = page.locator("body").get_attribute("data-user-id")
        assert newapi_gateway.admin.get(f"/api/user/{user_id}").json()["data"]["email"] == "changed@example.com"
    finally:
        context.close()
        controller.stop()
    assert errors == []
