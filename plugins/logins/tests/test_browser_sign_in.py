"""The sign-in page in a real browser (Debian's chromium, driven by Playwright): "Sign in with
OIDC" through the local provider process lands in the console; two-factor is set up on the
security page (QR code drawn by the server); then the sign-in page asks for the code and lets the
user in."""

from __future__ import annotations

import time

import pyotp
from conftest import Process

from newapi_host.sdk.testing import KitGateway


def sign_in_with_oidc(page, gateway: KitGateway) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{gateway.url}/login")
    page.get_by_role("link", name="Sign in with OIDC").click()


def test_sign_in_with_oidc_from_the_sign_in_page(newapi_gateway: KitGateway, oidc_provider: Process, chromium) -> None:  # type: ignore[no-untyped-def]
    for key, value in {
        "oidc.client_id": "gateway-client",
        "oidc.client_secret": "gateway-secret-123",
        "oidc.well_known": f"{oidc_provider.url}/.well-known/openid-configuration",
        "oidc.enabled": "true",
        "RegisterEnabled": "true",
    }.items():
        newapi_gateway.option(key, value)
    oidc_provider.control(id_token=None, user={"sub": "sub-browser", "preferred_username": "webuser", "name": "Web"})
    errors: list[str] = []

    context = chromium.new_context()
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in_with_oidc(page, newapi_gateway)
    page.wait_for_url(f"{newapi_gateway.url}/console**")
    user_id = page.locator("body").get_attribute("data-user-id")
    assert user_id and user_id != "0"

    # The security page: the OIDC account is listed; two-factor is set up there, QR code and all.
    page.goto(f"{newapi_gateway.url}/console/security")
    page.wait_for_selector('[data-list="bindings"] tr[data-id="oidc"]')
    assert "sub-browser" in page.locator('[data-list="bindings"]').inner_text()
    page.locator('[data-action="twofa-setup"]').click()
    page.wait_for_selector("[data-twofa-qr] svg")
    totp = pyotp.TOTP(page.locator("[data-twofa-secret]").inner_text().strip())
    page.locator('form[data-form="twofa-enable"] input[name=code]').fill(totp.at(time.time() - 30))
    page.locator('form[data-form="twofa-enable"] button[type=submit]').click()
    page.wait_for_selector('form[data-form="twofa-disable"]:not([hidden])')
    assert "10" in page.locator("[data-twofa-state]").inner_text()  # backup codes left
    context.close()

    context = chromium.new_context()
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in_with_oidc(page, newapi_gateway)
    page.wait_for_url("**/login?require_2fa=1")
    page.locator('form[data-form="login2fa"] input[name=code]').fill(totp.now())
    page.locator('form[data-form="login2fa"] button[type=submit]').click()
    page.wait_for_url(f"{newapi_gateway.url}/console**")
    assert page.locator("body").get_attribute("data-user-id") == user_id
    context.close()
    assert errors == []


def test_a_signed_in_user_links_an_account_from_the_security_page(
    newapi_gateway: KitGateway, oidc_provider: Process, chromium
) -> None:  # type: ignore[no-untyped-def]
    """The provider's redirect back is cross-site: the session cookie (SameSite=Strict) stays home,
    and the gateway still knows whose account to link from its signed attempt cookie."""
    from conftest import password_user

    password_user(newapi_gateway, "linker", "linker-pass-1").close()
    oidc_provider.control(id_token=None, user={"sub": "sub-linked", "preferred_username": "linked"})
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{newapi_gateway.url}/login")
    page.locator('form[data-form="login"] input[name=username]').fill("linker")
    page.locator('form[data-form="login"] input[name=password]').fill("linker-pass-1")
    page.locator('form[data-form="login"] button[type=submit]').click()
    page.wait_for_url(f"{newapi_gateway.url}/console**")
    page.goto(f"{newapi_gateway.url}/console/security")
    page.get_by_role("link", name="Link OIDC").click()
    page.wait_for_url(f"{newapi_gateway.url}/console**")
    page.goto(f"{newapi_gateway.url}/console/security")
    page.wait_for_selector('[data-list="bindings"] tr[data-id="oidc"]')
    assert "sub-linked" in page.locator('[data-list="bindings"]').inner_text()
    assert page.locator("body").get_attribute("data-user-id") == str(
        newapi_gateway.admin.get("/api/user/search", params={"keyword": "linker"}).json()["data"]["items"][0]["id"]
    )
    context.close()


def test_add_a_passkey_then_sign_in_with_it(newapi_gateway: KitGateway, chromium) -> None:  # type: ignore[no-untyped-def]
    """Chromium's virtual authenticator (CDP WebAuthn) stands in for a phone or a security key.
    The site is opened as localhost: a passkey's site must be a host name, not an address."""
    from conftest import password_user

    password_user(newapi_gateway, "keyholder", "keyholder-pass-1").close()
    site = f"http://localhost:{newapi_gateway.port}"
    context = chromium.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{site}/login")
    page.locator('form[data-form="login"] input[name=username]').fill("keyholder")
    page.locator('form[data-form="login"] input[name=password]').fill("keyholder-pass-1")
    page.locator('form[data-form="login"] button[type=submit]').click()
    page.wait_for_url(f"{site}/console**")
    user_id = page.locator("body").get_attribute("data-user-id")
    page.goto(f"{site}/console/security")
    page.locator('[data-action="passkey-add"]').click()
    page.wait_for_selector('[data-action="passkey-remove"]:not([hidden])')
    assert "1" in page.locator("[data-passkey-state]").inner_text()

    page.locator("[data-logout]").first.click()
    page.wait_for_url(f"{site}/login**")
    page.locator('[data-action="passkey-login"]').click()
    page.wait_for_url(f"{site}/console**")
    assert page.locator("body").get_attribute("data-user-id") == user_id

    # Removing them takes a passkey proof first (the authenticator answers once more).
    page.goto(f"{site}/console/security")
    page.locator('[data-action="passkey-remove"]:not([hidden])').click()
    page.wait_for_selector('[data-action="passkey-remove"][hidden]', state="attached")
    assert "0" in page.locator("[data-passkey-state]").inner_text()
    context.close()
    assert errors == []


def test_with_two_factor_on_passkeys_change_after_a_code(newapi_gateway: KitGateway, chromium) -> None:  # type: ignore[no-untyped-def]
    """Two-factor set up on the security page; adding and removing a passkey then asks for a
    code first (New API's step-up), here a backup code each time."""
    from conftest import password_user

    password_user(newapi_gateway, "stepper", "stepper-pass-1").close()
    site = f"http://localhost:{newapi_gateway.port}"
    context = chromium.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{site}/login")
    page.locator('form[data-form="login"] input[name=username]').fill("stepper")
    page.locator('form[data-form="login"] input[name=password]').fill("stepper-pass-1")
    page.locator('form[data-form="login"] button[type=submit]').click()
    page.wait_for_url(f"{site}/console**")
    page.goto(f"{site}/console/security")
    page.locator('[data-action="twofa-setup"]:not([hidden])').click()
    page.wait_for_selector("[data-twofa-qr] svg")
    totp = pyotp.TOTP(page.locator("[data-twofa-secret]").inner_text().strip())
    backup = page.locator("[data-twofa-backup]").inner_text().split()
    page.locator('form[data-form="twofa-enable"] input[name=code]').fill(totp.now())
    page.locator('form[data-form="twofa-enable"] button[type=submit]').click()
    page.wait_for_selector('form[data-form="twofa-disable"]:not([hidden])')

    stepup = page.locator('form[data-form="stepup"]')
    page.locator('[data-action="passkey-add"]').click()
    stepup.wait_for(state="visible")
    stepup.locator("input[name=code]").fill("000000")
    stepup.locator("button[type=submit]").click()
    page.wait_for_selector(".msg:not([hidden])")
    assert stepup.is_visible()  # a wrong code: still asking
    stepup.locator("input[name=code]").fill(backup[0])
    stepup.locator("button[type=submit]").click()
    page.wait_for_selector('[data-action="passkey-remove"]:not([hidden])')
    assert "1" in page.locator("[data-passkey-state]").inner_text()

    page.reload()  # the page asks for a code before each change
    page.locator('[data-action="passkey-remove"]:not([hidden])').click()
    stepup.wait_for(state="visible")
    stepup.locator("input[name=code]").fill(backup[1])
    stepup.locator("button[type=submit]").click()
    page.wait_for_selector('[data-action="passkey-remove"][hidden]', state="attached")
    assert "0" in page.locator("[data-passkey-state]").inner_text()
    context.close()
    assert errors == []


def test_oidc_sign_in_with_the_provider_on_another_site(
    newapi_gateway: KitGateway, oidc_provider: Process, chromium
) -> None:  # type: ignore[no-untyped-def]
    """The gateway opened as localhost, the provider on 127.0.0.1: another site, as a real
    provider is, and one that asks the user to approve (a click on its page), so the way back is
    a navigation started by another site: the SameSite=Strict session cookie does not come along
    on it. The user still lands signed in."""
    for key, value in {
        "oidc.client_id": "gateway-client",
        "oidc.client_secret": "gateway-secret-123",
        "oidc.well_known": f"{oidc_provider.url}/.well-known/openid-configuration",
        "oidc.enabled": "true",
        "RegisterEnabled": "true",
    }.items():
        newapi_gateway.option(key, value)
    oidc_provider.control(id_token=None, consent=True, user={"sub": "sub-elsewhere", "preferred_username": "elsewhere"})
    site = f"http://localhost:{newapi_gateway.port}"
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{site}/login")
    page.get_by_role("link", name="Sign in with OIDC").click()
    page.locator("#approve").click()
    page.wait_for_url(f"{site}/console**")
    user_id = page.locator("body").get_attribute("data-user-id")
    assert user_id and user_id != "0", page.url
    context.close()
    oidc_provider.control(consent=False)
