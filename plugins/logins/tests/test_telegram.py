"""Telegram's login widget through the gateway process: payloads signed with a test bot token
accepted (sign-up, sign-in, bind); altered, foreign, stale or replayed ones refused."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import unquote_plus, urlsplit

import httpx
import pytest
from conftest import Browser, next_hop, password_user

from newapi_host.sdk.testing import KitGateway
from newapi_logins.telegram import signature

BOT_TOKEN = "7000000001:AAFtestTokenForTheGatewayTests"


@pytest.fixture(scope="module", autouse=True)
def telegram_on(newapi_gateway: KitGateway) -> None:
    newapi_gateway.option("TelegramBotName", "gateway_test_bot")
    newapi_gateway.option("TelegramBotToken", BOT_TOKEN)
    newapi_gateway.option("TelegramOAuthEnabled", "true")
    newapi_gateway.option("RegisterEnabled", "true")


def widget(user_id: int, *, token: str = BOT_TOKEN, age: int = 5, **extra: str) -> dict[str, str]:
    """What the widget hands the page after the user confirms in Telegram."""
    fields = {
        "id": str(user_id),
        "first_name": "Tele",
        "username": f"tg{user_id}",
        "auth_date": str(int(time.time()) - age),
    }
    fields.update(extra)
    fields["hash"] = signature(fields, token)
    return fields


def test_status_and_settings_never_show_the_token(newapi_gateway: KitGateway, browser: Browser) -> None:
    status = browser.get("/api/status").json()["data"]
    assert status["telegram_oauth"] is True and status["telegram_bot_name"] == "gateway_test_bot"
    assert BOT_TOKEN not in browser.get("/api/status").text
    admin = newapi_gateway.admin
    assert admin.get("/api/plugins/telegram/settings").json()["data"]["settings"]["bot_token"] == "**********"
    assert BOT_TOKEN not in admin.get("/api/option/").text + admin.get("/api/plugins").text


def test_a_signed_payload_signs_up_then_in(newapi_gateway: KitGateway, browser: Browser) -> None:
    answer = browser.get("/api/oauth/telegram/login", params=widget(5550001)).json()
    assert answer["success"] is True, answer
    user_id = answer["data"]["id"]
    row = newapi_gateway.admin.get(f"/api/user/{user_id}").json()["data"]
    assert (row["telegram_id"], row["username"]) == ("5550001", "tg5550001")
    with Browser(base_url=newapi_gateway.url) as again:
        second = again.get("/api/oauth/telegram/login", params=widget(5550001, first_name="Again")).json()
        assert second["data"]["id"] == user_id and again.signed_in_as() == user_id


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({**widget(5550002), "id": "5550003"}, "Invalid"),  # altered after signing
        (widget(5550002, token="7000000002:AAFsomeOtherBot"), "Invalid"),  # another bot's
        ({k: v for k, v in widget(5550002).items() if k != "hash"}, "Invalid"),
        (widget(5550002, age=7200), "expired"),  # stale
        (widget(5550002, age=-3600), "expired"),  # from the future
    ],
)
def test_a_bad_payload_is_refused(browser: Browser, payload: dict[str, str], why: str) -> None:
    answer = browser.get("/api/oauth/telegram/login", params=payload).json()
    assert answer["success"] is False and why in answer["message"], answer
    assert browser.signed_in_as() is None


def test_a_payload_works_once(browser: Browser) -> None:
    payload = widget(5550004)
    assert browser.get("/api/oauth/telegram/login", params=payload).json()["success"] is True
    with Browser(base_url=browser.base_url) as thief:
        answer = thief.get("/api/oauth/telegram/login", params=payload).json()
        assert answer["success"] is False and "used already" in answer["message"]
        assert thief.signed_in_as() is None


def test_bind_for_a_signed_in_user(newapi_gateway: KitGateway) -> None:
    ivy = password_user(newapi_gateway, "ivy")
    navigated = ivy.get("/api/oauth/telegram/bind", params=widget(5550005), headers={"Accept": "text/html"})
    assert navigated.headers["location"] == "/console"
    assert [(b["provider_id"], b["provider_user_id"]) for b in ivy.get("/api/user/oauth/bindings").json()["data"]] == [
        ("telegram", "5550005")
    ]
    with Browser(base_url=newapi_gateway.url) as anonymous:
        assert anonymous.get("/api/oauth/telegram/bind", params=widget(5550006)).status_code == 401
    ivy.close()


def test_switched_off(newapi_gateway: KitGateway, browser: Browser) -> None:
    newapi_gateway.option("TelegramOAuthEnabled", "false")
    try:
        answer = browser.get("/api/oauth/telegram/login", params=widget(5550007)).json()
        assert answer["success"] is False and "not enabled" in answer["message"]
        assert browser.get("/api/status").json()["data"]["telegram_oauth"] is False
    finally:
        newapi_gateway.option("TelegramOAuthEnabled", "true")


def landed(response: httpx.Response) -> str:
    """Where the page the gateway answers goes on to (the security page, maybe with bind_error)."""
    return unquote_plus(next_hop(response))


def bind_path(browser: Browser) -> str:
    """The widget's callback address on the security page (the ticket is in it)."""
    found = re.search(r'data-auth-url="([^"]+)"', browser.get("/console/security").text)
    assert found, "no Telegram widget on the security page"
    return urlsplit(html.unescape(found.group(1))).path


def test_linking_through_the_widget_redirect_needs_no_session_cookie(newapi_gateway: KitGateway) -> None:
    """Telegram sends the browser back from telegram.org: a cross-site arrival, without the
    SameSite=Strict session cookie. The one-time ticket in the callback address links the
    account to the user whose security page it was, once, while that session stands."""
    kim = password_user(newapi_gateway, "kim")
    path = bind_path(kim)
    assert path.startswith("/api/oauth/telegram/bind/")
    with Browser(base_url=newapi_gateway.url) as arrival:  # no cookies: as the browser comes back
        assert landed(arrival.get(path, params=widget(5550010))) == "/console/security"
        assert arrival.signed_in_as() is None  # linking never signs anyone in
    assert [(b["provider_id"], b["provider_user_id"]) for b in kim.get("/api/user/oauth/bindings").json()["data"]] == [
        ("telegram", "5550010")
    ]
    with Browser(base_url=newapi_gateway.url) as replay:
        again = landed(replay.get(path, params=widget(5550011)))
        assert again.startswith("/console/security?bind_error=") and "used already" in again

    # A forged ticket, or no ticket at all, links nothing (the old route wants the cookie).
    forged = path[:-4] + ("aaaa" if not path.endswith("aaaa") else "bbbb")
    with Browser(base_url=newapi_gateway.url) as attacker:
        assert "expired" in landed(attacker.get(forged, params=widget(5550012)))
        assert attacker.get("/api/oauth/telegram/bind", params=widget(5550013)).status_code == 401

    # A ticket dies with the session it was made in.
    stale = bind_path(kim)
    kim.get("/api/user/logout")
    with Browser(base_url=newapi_gateway.url) as late:
        assert "expired" in landed(late.get(stale, params=widget(5550014)))
    assert not any(
        b["provider_user_id"] in ("5550011", "5550012", "5550013", "5550014")
        for b in newapi_gateway.admin.get(f"/api/user/{kim.headers['New-Api-User']}/oauth/bindings").json()["data"]
    )
    kim.close()


def test_a_ticket_is_not_for_another_signed_in_user(newapi_gateway: KitGateway) -> None:
    lee, max_ = password_user(newapi_gateway, "lee"), password_user(newapi_gateway, "max")
    path = bind_path(lee)
    assert "another user" in landed(max_.get(path, params=widget(5550020)))
    assert max_.get("/api/user/oauth/bindings").json()["data"] == []
    assert lee.get("/api/user/oauth/bindings").json()["data"] == []
    lee.close()
    max_.close()
