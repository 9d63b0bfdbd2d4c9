"""GitHub, Discord and LinuxDO sign-in through the gateway process, against a local fake of their
OAuth endpoints (``fake_oauth.py``), configured with New API's option keys."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import unquote_plus

import pytest
from conftest import Browser, next_hop, password_user
from fake_oauth import CLIENT_ID, CLIENT_SECRET, FakeOAuth

from newapi_host.sdk.testing import KitGateway

# method -> (New API's switch, client id and secret options, users column, the provider's user)
PROVIDERS = {
    "github": (
        ("GitHubClientId", "GitHubClientSecret", "GitHubOAuthEnabled"),
        "github_id",
        {"id": 583231, "login": "octocat", "name": "The Octocat", "email": "octo@example.com"},
    ),
    "discord": (
        ("discord.client_id", "discord.client_secret", "discord.enabled"),
        "discord_id",
        {"id": "80351110224678912", "username": "nelly", "global_name": "Nelly", "verified": True},
    ),
    "linuxdo": (
        ("LinuxDOClientId", "LinuxDOClientSecret", "LinuxDOOAuthEnabled"),
        "linux_do_id",
        {"id": 4242, "username": "ldo_user", "name": "LDO", "trust_level": 2, "active": True, "silenced": False},
    ),
}
STATUS_FLAG = {"github": "github_oauth", "discord": "discord_oauth", "linuxdo": "linuxdo_oauth"}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOAuth]:
    server = FakeOAuth().start()
    yield server
    server.stop()


@pytest.fixture(scope="module", autouse=True)
def configured(newapi_gateway: KitGateway, fake: FakeOAuth) -> None:
    """Each method switched on through New API's options; only the provider's address is ours."""
    newapi_gateway.plugin_settings("github", web_base=fake.url, api_base=fake.url)
    newapi_gateway.plugin_settings("discord", web_base=fake.url, api_base=fake.url)
    newapi_gateway.plugin_settings("linuxdo", base=fake.url)
    for (client_id, secret, switch), _, _ in PROVIDERS.values():
        newapi_gateway.option(client_id, CLIENT_ID)
        newapi_gateway.option(secret, CLIENT_SECRET)
        newapi_gateway.option(switch, "true")
    newapi_gateway.option("RegisterEnabled", "true")


def sign_in(browser: Browser, method: str) -> str:
    start = browser.get(f"/api/oauth/{method}")
    assert start.status_code in (302, 303, 307), start.text
    back = browser.get(start.headers["location"])
    assert back.status_code == 302, back.text
    return unquote_plus(next_hop(browser.get(back.headers["location"])))


@pytest.mark.parametrize("method", sorted(PROVIDERS))
def test_sign_up_and_sign_in(newapi_gateway: KitGateway, fake: FakeOAuth, browser: Browser, method: str) -> None:
    _, column, user = PROVIDERS[method]
    status = browser.get("/api/status").json()["data"]
    assert status[STATUS_FLAG[method]] is True
    assert CLIENT_SECRET not in browser.get("/api/status").text

    fake.user = user
    assert sign_in(browser, method) == "/console"
    user_id = browser.signed_in_as()
    assert user_id is not None
    row = newapi_gateway.admin.get(f"/api/user/{user_id}").json()["data"]
    assert row[column] == str(user["id"])
    with Browser(base_url=newapi_gateway.url) as again:
        assert sign_in(again, method) == "/console" and again.signed_in_as() == user_id


def test_github_binds_to_a_signed_in_user(newapi_gateway: KitGateway, fake: FakeOAuth) -> None:
    hank = password_user(newapi_gateway, "hank")
    fake.user = {"id": 777, "login": "hank-gh"}
    assert sign_in(hank, "github") == "/console"
    assert [b["provider_id"] for b in hank.get("/api/user/oauth/bindings").json()["data"]] == ["github"]
    row = newapi_gateway.admin.get(f"/api/user/{hank.headers['New-Api-User']}").json()["data"]
    assert row["github_id"] == "777" and row["username"] == "hank"
    hank.close()


def test_linuxdo_below_the_trust_level_is_refused(newapi_gateway: KitGateway, fake: FakeOAuth) -> None:
    newapi_gateway.option("LinuxDOMinimumTrustLevel", "3")
    try:
        with Browser(base_url=newapi_gateway.url) as b:
            assert b.get("/api/status").json()["data"]["linuxdo_minimum_trust_level"] == 3
            fake.user = {"id": 9001, "username": "newbie", "trust_level": 1, "active": True}
            location = sign_in(b, "linuxdo")
            assert location.startswith("/login?oauth_error=") and "trust level (1)" in location
            assert b.signed_in_as() is None
            fake.user = {"id": 9002, "username": "veteran", "trust_level": 3, "active": True}
            assert sign_in(b, "linuxdo") == "/console"
    finally:
        newapi_gateway.option("LinuxDOMinimumTrustLevel", "0")


def test_a_wrong_secret_is_refused_without_showing_it(newapi_gateway: KitGateway, fake: FakeOAuth) -> None:
    newapi_gateway.option("discord.client_secret", "not-the-secret-xyz")
    try:
        with Browser(base_url=newapi_gateway.url) as b:
            fake.user = {"id": "1", "username": "x"}
            location = sign_in(b, "discord")
            assert location.startswith("/login?oauth_error=") and "invalid_client" in location
            assert "not-the-secret-xyz" not in location
    finally:
        newapi_gateway.option("discord.client_secret", CLIENT_SECRET)


def test_switched_off_through_the_option(newapi_gateway: KitGateway, browser: Browser) -> None:
    newapi_gateway.option("GitHubOAuthEnabled", "false")
    try:
        assert browser.get("/api/status").json()["data"]["github_oauth"] is False
        assert browser.get("/api/oauth/github").headers["location"].startswith("/login?oauth_error=")
    finally:
        newapi_gateway.option("GitHubOAuthEnabled", "true")
