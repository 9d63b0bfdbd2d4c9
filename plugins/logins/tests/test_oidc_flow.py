"""OIDC sign-in end to end: a real gateway process, a real provider process, HTTP between them.

Sign-up, sign-in, bind and unbind, through our redirect flow and through New API's front-end
contract (``/api/oauth/state`` + ``/api/oauth/oidc?code=&state=``); and the refusals: a tampered,
expired, foreign or wrongly issued id_token, a wrong state, a replayed code.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

import httpx
import pytest
from conftest import Browser, Process, next_hop, password_user

from newapi_host.sdk.testing import KitGateway

CLIENT_ID, CLIENT_SECRET = "gateway-client", "gateway-secret-123"


@pytest.fixture(autouse=True)
def oidc_on(newapi_gateway: KitGateway, oidc_provider: Process) -> None:
    """OIDC configured through New API's option keys, as an imported configuration would have it."""
    for key, value in {
        "oidc.client_id": CLIENT_ID,
        "oidc.client_secret": CLIENT_SECRET,
        "oidc.well_known": f"{oidc_provider.url}/.well-known/openid-configuration",
        "oidc.enabled": "true",
        "RegisterEnabled": "true",
    }.items():
        newapi_gateway.option(key, value)
    oidc_provider.control(id_token=None)


def as_user(provider: Process, sub: str, username: str = "", email: str = "") -> None:
    user = {"sub": sub, "preferred_username": username or sub, "name": username or sub}
    if email:
        user["email"] = email
    provider.control(user=user)


def provider_round_trip(browser: Browser) -> httpx.Response:
    """Our flow up to the provider's redirect back (not yet followed)."""
    start = browser.get("/api/oauth/oidc")
    assert start.status_code in (302, 303, 307), start.text
    back = browser.get(start.headers["location"])
    assert back.status_code == 302, back.text
    return back


def oidc_sign_in(browser: Browser) -> str:
    """Our redirect flow as a browser runs it; where the gateway sends the browser at the end."""
    back = provider_round_trip(browser)
    return unquote_plus(next_hop(browser.get(back.headers["location"])))


def user_row(gateway: KitGateway, user_id: int) -> dict:
    body = gateway.admin.get(f"/api/user/{user_id}").json()
    assert body["success"], body
    return body["data"]


def test_status_reports_the_switch_from_new_apis_options(newapi_gateway: KitGateway, browser: Browser) -> None:
    status = browser.get("/api/status").json()["data"]
    assert status["oidc_enabled"] is True and status["oidc_client_id"] == CLIENT_ID
    assert any(m["id"] == "oidc" for m in status["login_methods"])
    assert CLIENT_SECRET not in browser.get("/api/status").text
    newapi_gateway.option("oidc.enabled", "false")
    status = browser.get("/api/status").json()["data"]
    assert status["oidc_enabled"] is False and not any(m["id"] == "oidc" for m in status["login_methods"])
    assert browser.get("/api/oauth/oidc").headers["location"].startswith("/login?oauth_error=")


def test_the_plugins_page_edits_the_same_values_and_never_shows_the_secret(newapi_gateway: KitGateway) -> None:
    admin = newapi_gateway.admin
    shown = admin.get("/api/plugins/oidc/settings").json()["data"]["settings"]
    assert shown["client_id"] == CLIENT_ID and shown["enabled"] is True
    assert shown["client_secret"] == "**********"
    # The masked secret sent back keeps the stored one; other fields land in New API's options.
    assert admin.put("/api/plugins/oidc/settings", json={**shown, "client_id": "renamed"}).json()["success"]
    options = {o["key"]: o["value"] for o in admin.get("/api/option/").json()["data"]}
    assert options["oidc.client_id"] == "renamed" and "oidc.client_secret" not in options
    assert CLIENT_SECRET not in admin.get("/api/option/").text + admin.get("/api/plugins").text
    newapi_gateway.option("oidc.client_id", CLIENT_ID)
    assert admin.get("/api/plugins/oidc/settings").json()["data"]["settings"]["client_id"] == CLIENT_ID


def test_sign_up_then_sign_in(newapi_gateway: KitGateway, oidc_provider: Process, browser: Browser) -> None:
    newapi_gateway.option("QuotaForNewUser", "1234")
    as_user(oidc_provider, "sub-carol", "carol", "carol@example.com")
    assert oidc_sign_in(browser) == "/console"
    carol = browser.signed_in_as()
    assert carol is not None
    row = user_row(newapi_gateway, carol)
    assert (row["username"], row["oidc_id"], row["email"], row["quota"]) == (
        "carol",
        "sub-carol",
        "carol@example.com",
        1234,
    )
    with Browser(base_url=newapi_gateway.url) as again:
        assert oidc_sign_in(again) == "/console"
        assert again.signed_in_as() == carol
    newapi_gateway.option("QuotaForNewUser", "0")


def test_registration_closed_and_invitation_codes(newapi_gateway: KitGateway, oidc_provider: Process) -> None:
    newapi_gateway.option("RegisterEnabled", "false")
    as_user(oidc_provider, "sub-nobody")
    with Browser(base_url=newapi_gateway.url) as b:
        assert "registrations" in oidc_sign_in(b) and b.signed_in_as() is None
    newapi_gateway.option("RegisterEnabled", "true")

    inviter = password_user(newapi_gateway, "inviter1")
    code = inviter.get("/api/user/aff").json()["data"]
    as_user(oidc_provider, "sub-invited")
    with Browser(base_url=newapi_gateway.url) as b:
        start = b.get("/api/oauth/oidc", params={"aff": code})
        back = b.get(start.headers["location"])
        assert next_hop(b.get(back.headers["location"])) == "/console"
        invited = user_row(newapi_gateway, b.signed_in_as() or 0)
    assert str(invited["inviter_id"]) == inviter.headers["New-Api-User"] and invited["oidc_id"] == "sub-invited"
    inviter.close()


def test_new_api_front_end_contract(newapi_gateway: KitGateway, oidc_provider: Process, browser: Browser) -> None:
    """The state from /api/oauth/state, the provider URL built by the page, JSON at the end."""
    as_user(oidc_provider, "sub-dave", "dave")
    state = browser.get("/api/oauth/state").json()
    assert state["success"] is True and state["data"]
    redirect_uri = f"{newapi_gateway.url}/oauth/oidc"
    query = {"client_id": CLIENT_ID, "redirect_uri": redirect_uri, "response_type": "code", "scope": "openid"}
    back = browser.get(f"{oidc_provider.url}/authorize?{urlencode({**query, 'state': state['data']})}")
    got = parse_qs(urlsplit(back.headers["location"]).query)
    assert got["state"] == [state["data"]]

    wrong = browser.get("/api/oauth/oidc", params={"code": got["code"][0], "state": "not-it"})
    assert wrong.status_code == 403 and wrong.json() == {"success": False, "message": "state is empty or not same"}

    answer = browser.get("/api/oauth/oidc", params={"code": got["code"][0], "state": state["data"]}).json()
    assert answer["success"] is True, answer
    assert answer["data"]["username"] == "dave"
    browser.headers["New-Api-User"] = str(answer["data"]["id"])
    assert browser.get("/api/user/self").json()["data"]["oidc_id"] == "sub-dave"


def test_bind_list_and_unbind(newapi_gateway: KitGateway, oidc_provider: Process) -> None:
    erin = password_user(newapi_gateway, "erin")
    erin_id = int(erin.headers["New-Api-User"])
    as_user(oidc_provider, "sub-erin")
    assert oidc_sign_in(erin) == "/console"
    bindings = erin.get("/api/user/oauth/bindings").json()["data"]
    assert [(b["provider_id"], b["provider_user_id"]) for b in bindings] == [("oidc", "sub-erin")]
    assert user_row(newapi_gateway, erin_id)["oidc_id"] == "sub-erin"
    admin_view = newapi_gateway.admin.get(f"/api/user/{erin_id}/oauth/bindings").json()["data"]
    assert admin_view == bindings

    # Signing in with that account now finds erin.
    with Browser(base_url=newapi_gateway.url) as b:
        assert oidc_sign_in(b) == "/console" and b.signed_in_as() == erin_id

    # Another user cannot bind the same account.
    frank = password_user(newapi_gateway, "frank")
    assert "already linked" in oidc_sign_in(frank)

    assert erin.delete("/api/user/oauth/bindings/oidc").json()["success"] is True
    assert erin.get("/api/user/oauth/bindings").json()["data"] == []
    assert user_row(newapi_gateway, erin_id)["oidc_id"] == ""
    assert erin.delete("/api/user/oauth/bindings/oidc").json()["success"] is False
    # Now frank may have it, and the admin can clear it again New API's way.
    assert oidc_sign_in(frank) == "/console"
    frank_id = int(frank.headers["New-Api-User"])
    assert newapi_gateway.admin.delete(f"/api/user/{frank_id}/bindings/oidc").json()["success"] is True
    assert user_row(newapi_gateway, frank_id)["oidc_id"] == ""
    erin.close()
    frank.close()


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        ("tampered", "signature is not valid"),
        ("other_key", "signature is not valid"),
        ("expired", "expired"),
        ("wrong_audience", "another client"),
        ("wrong_issuer", "iss"),
    ],
)
def test_a_bad_id_token_is_refused(
    newapi_gateway: KitGateway, oidc_provider: Process, browser: Browser, mode: str, why: str
) -> None:
    as_user(oidc_provider, f"sub-{mode}")
    oidc_provider.control(id_token=mode)
    location = oidc_sign_in(browser)
    assert location.startswith("/login?oauth_error="), location
    assert "id_token" in location and why in location, location
    assert browser.signed_in_as() is None


def test_a_wrong_state_and_a_replayed_code_are_refused(
    newapi_gateway: KitGateway, oidc_provider: Process, browser: Browser
) -> None:
    as_user(oidc_provider, "sub-gina")
    back = provider_round_trip(browser)
    callback = urlsplit(back.headers["location"])
    params = parse_qs(callback.query)
    forged = browser.get(callback.path, params={"code": params["code"][0], "state": "forged"})
    assert forged.headers["location"].startswith("/login?oauth_error=")
    # A forged callback ends the pending attempt: the genuine one no longer works either.
    assert next_hop(browser.get(back.headers["location"])).startswith("/login?oauth_error=")

    back = provider_round_trip(browser)
    callback = urlsplit(back.headers["location"])
    params = parse_qs(callback.query)
    assert next_hop(browser.get(back.headers["location"])) == "/console"
    # The same callback again: its state is spent.
    again = browser.get(back.headers["location"])
    assert again.headers["location"].startswith("/login?oauth_error=")
    # The same code under a fresh state: the provider refuses it.
    with Browser(base_url=newapi_gateway.url) as other:
        fresh = parse_qs(urlsplit(provider_round_trip(other).headers["location"]).query)
        replay = other.get(callback.path, params={"code": params["code"][0], "state": fresh["state"][0]})
        assert replay.headers["location"].startswith("/login?oauth_error=")
        assert "invalid_grant" in unquote_plus(replay.headers["location"])
        assert other.signed_in_as() is None


def test_a_user_with_two_factor_needs_the_code_after_the_provider(
    newapi_gateway: KitGateway, oidc_provider: Process, browser: Browser
) -> None:
    import pyotp

    as_user(oidc_provider, "sub-tfa", "tfa_user")
    assert oidc_sign_in(browser) == "/console"
    assert browser.signed_in_as() is not None
    setup = browser.post("/api/user/2fa/setup").json()["data"]
    totp = pyotp.TOTP(setup["secret"])
    assert browser.post("/api/user/2fa/enable", json={"code": totp.at(time.time() - 30)}).json()["success"]

    with Browser(base_url=newapi_gateway.url) as b:
        assert oidc_sign_in(b) == "/login?require_2fa=1"
        assert b.signed_in_as() is None
        done = b.post("/api/user/login/2fa", json={"code": totp.now()}).json()  # the flow rides the cookie
        assert done["success"] is True and done["data"]["username"] == "tfa_user"
        assert b.signed_in_as() == done["data"]["id"]
