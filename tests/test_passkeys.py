"""Passkeys with a software authenticator (soft-webauthn): register while signed in, sign in
with it (no password), a replayed or foreign assertion refused, removal and admin reset."""

from __future__ import annotations

import base64
from typing import Any

import pyotp
from soft_webauthn import SoftWebauthnDevice

from newapi_host.config import Config
from newapi_host.db.tables import PasskeyCredential

from .conftest import ROOT_PASSWORD, Client, as_root, running

ORIGIN = "http://testserver"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def as_json(credential: dict[str, Any]) -> dict[str, Any]:
    """What a browser's PublicKeyCredential.toJSON() sends."""
    response = {k: b64(v) if isinstance(v, bytes) else v for k, v in credential["response"].items() if v is not None}
    return {
        "id": b64(credential["rawId"]),
        "rawId": b64(credential["rawId"]),
        "type": "public-key",
        "response": response,
    }


def creation(options: dict[str, Any]) -> dict[str, Any]:
    public = dict(options)
    public["challenge"] = unb64(options["challenge"])
    public["user"] = {**options["user"], "id": unb64(options["user"]["id"])}
    return {"publicKey": public}


def request_options(options: dict[str, Any]) -> dict[str, Any]:
    return {"publicKey": {**options, "challenge": unb64(options["challenge"])}}


async def register(client: Client, device: SoftWebauthnDevice) -> dict[str, Any]:
    begin = (await client.post("/api/user/passkey/register/begin")).json()
    assert begin["success"], begin
    made = device.create(creation(begin["data"]["options"]), ORIGIN)
    return (await client.post("/api/user/passkey/register/finish", json=as_json(made))).json()


async def sign_in(client: Client, device: SoftWebauthnDevice) -> dict[str, Any]:
    begin = (await client.post("/api/user/passkey/login/begin")).json()
    assertion = device.get(request_options(begin["data"]["options"]), ORIGIN)
    return (await client.post("/api/user/passkey/login/finish", json=as_json(assertion))).json()


async def test_register_then_sign_in_with_the_passkey(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        root_id = await as_root(client)
        device = SoftWebauthnDevice()
        assert (await register(client, device))["success"]
        assert (await client.get("/api/user/passkey")).json()["data"]["enabled"] is True
        assert await PasskeyCredential.count() == 1

        client.cookies.clear()
        client.headers.pop("New-Api-User", None)
        signed = await sign_in(client, device)
        assert signed["success"] is True and signed["data"]["id"] == root_id
        client.headers["New-Api-User"] = str(root_id)
        assert (await client.get("/api/user/self")).json()["data"]["username"] == "root"

        # A replayed finish (same flow, same assertion) is refused.
        begin = (await client.post("/api/user/passkey/login/begin")).json()
        assertion = as_json(device.get(request_options(begin["data"]["options"]), ORIGIN))
        assert (await client.post("/api/user/passkey/login/finish", json=assertion)).json()["success"]
        again = await client.post("/api/user/passkey/login/finish", json=assertion)
        assert again.json()["success"] is False

        # An authenticator nobody registered, or an assertion for another origin, is refused.
        client.cookies.clear()
        stranger = SoftWebauthnDevice()
        stranger.cred_init("testserver", b"1")
        assert (await sign_in(client, stranger))["success"] is False
        begin = (await client.post("/api/user/passkey/login/begin")).json()
        foreign = as_json(device.get(request_options(begin["data"]["options"]), "https://evil.example"))
        assert (await client.post("/api/user/passkey/login/finish", json=foreign)).json()["success"] is False


async def test_removal_and_admin_reset(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        root_id = await as_root(client)
        device = SoftWebauthnDevice()
        assert (await register(client, device))["success"]
        assert await step_up_with_passkey(client, device)
        assert (await client.delete("/api/user/passkey")).json()["success"]
        assert (await client.get("/api/user/passkey")).json()["data"]["enabled"] is False
        assert (await register(client, device := SoftWebauthnDevice()))["success"]
        assert (await client.delete(f"/api/user/{root_id}/reset_passkey")).json()["success"]
        client.cookies.clear()
        client.headers.pop("New-Api-User", None)
        assert (await sign_in(client, device))["success"] is False


async def verify_with(client: Client, device: SoftWebauthnDevice, origin: str = ORIGIN) -> dict[str, Any]:
    """New API's passkey step-up: verify/begin, the authenticator, verify/finish."""
    begin = (await client.post("/api/user/passkey/verify/begin")).json()
    assert begin["success"], begin
    assertion = as_json(device.get(request_options(begin["data"]["options"]), origin))
    return (await client.post("/api/user/passkey/verify/finish", json=assertion)).json()


async def test_a_passkey_is_the_step_up_before_a_channel_key(sqlite_config: Config) -> None:
    """As New API: a root with a passkey (and no TOTP) confirms it before a channel key is shown:
    verify/begin + verify/finish leave a one-minute mark that ``POST /api/verify`` with
    ``{"method": "passkey"}`` turns into five minutes of verified session, once."""
    async with running(sqlite_config) as client:
        await as_root(client)
        made = await client.post(
            "/api/channel/",
            json={"mode": "single", "channel": {"name": "c1", "type": 1, "key": "sk-passkey-guarded", "models": "m"}},
        )
        assert made.json()["success"], made.text
        channel_id = (await client.get("/api/channel/")).json()["data"]["items"][0]["id"]
        device = SoftWebauthnDevice()
        assert (await register(client, device))["success"]

        refused = (await client.post(f"/api/channel/{channel_id}/key")).json()
        assert refused["success"] is False and "POST /api/verify" in refused["message"], refused
        not_yet = (await client.post("/api/verify", json={"method": "passkey"})).json()
        assert not_yet["success"] is False  # no passkey ceremony behind it

        # Another user's authenticator, or this one for another site, does not count.
        stranger = SoftWebauthnDevice()
        stranger.cred_init("testserver", b"1")
        assert (await verify_with(client, stranger))["success"] is False
        assert (await verify_with(client, device, "https://evil.example"))["success"] is False
        assert (await client.post("/api/verify", json={"method": "passkey"})).json()["success"] is False

        assert (await verify_with(client, device))["success"] is True
        verified = (await client.post("/api/verify", json={"method": "passkey"})).json()
        assert verified["success"] is True and verified["data"]["verified"] is True, verified
        shown = (await client.post(f"/api/channel/{channel_id}/key")).json()
        assert shown["data"]["key"] == "sk-passkey-guarded"
        again = (await client.post("/api/verify", json={"method": "passkey"})).json()
        assert again["success"] is False  # the passkey's mark works once
        assert (await client.post("/api/verify", json={"method": "2fa", "code": "123456"})).json()["success"] is False


async def test_passkey_step_up_needs_a_passkey(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        begin = (await client.post("/api/user/passkey/verify/begin")).json()
        assert begin == {"success": False, "message": "This user has no passkey"}
        answer = (await client.post("/api/verify", json={"method": "passkey"})).json()
        assert answer["success"] is False


async def step_up_with_passkey(client: Client, device: SoftWebauthnDevice) -> bool:
    if not (await verify_with(client, device))["success"]:
        return False
    return (await client.post("/api/verify", json={"method": "passkey"})).json()["success"]


async def test_removing_passkeys_needs_a_passkey_step_up(sqlite_config: Config) -> None:
    """As New API: without two-factor, removing passkeys needs a passkey proof first (a stolen
    session alone cannot strip the user's passkeys)."""
    async with running(sqlite_config) as client:
        await as_root(client)
        device = SoftWebauthnDevice()
        assert (await register(client, device))["success"]
        refused = (await client.delete("/api/user/passkey")).json()
        assert refused["success"] is False and "POST /api/verify" in refused["message"], refused
        assert await PasskeyCredential.count() == 1
        assert await step_up_with_passkey(client, device)
        assert (await client.delete("/api/user/passkey")).json()["success"]
        assert await PasskeyCredential.count() == 0
        none_left = (await client.delete("/api/user/passkey")).json()
        assert none_left == {"success": False, "message": "This user has no passkey"}


async def test_with_two_factor_passkeys_change_only_after_a_code(sqlite_config: Config) -> None:
    """As New API: a user with two-factor on confirms a code (``POST /api/verify``, method 2fa)
    before adding or removing a passkey; a passkey proof does not stand in for it there."""
    async with running(sqlite_config) as client:
        await as_root(client)
        setup = (await client.post("/api/user/2fa/setup")).json()["data"]
        totp = pyotp.TOTP(setup["secret"])
        assert (await client.post("/api/user/2fa/enable", json={"code": totp.now()})).json()["success"]

        refused = (await client.post("/api/user/passkey/register/begin")).json()
        assert refused["success"] is False and "two-factor" in refused["message"], refused
        assert (await client.post("/api/verify", json={"method": "2fa", "code": setup["backup_codes"][0]})).json()[
            "success"
        ]
        device = SoftWebauthnDevice()
        assert (await register(client, device))["success"]

        # A new session (password, then the code) has no step-up yet.
        client.cookies.clear()
        first = (await client.post("/api/user/login", json={"username": "root", "password": ROOT_PASSWORD})).json()
        flow = {"code": setup["backup_codes"][1], "flow_token": first["data"]["flow_token"]}
        assert (await client.post("/api/user/login/2fa", json=flow)).json()["success"]
        assert (await client.delete("/api/user/passkey")).json()["success"] is False
        assert await step_up_with_passkey(client, device)  # a passkey proof ...
        still = (await client.delete("/api/user/passkey")).json()
        assert still["success"] is False and "two-factor" in still["message"], still  # ... is not enough
        assert (await client.post("/api/verify", json={"method": "2fa", "code": setup["backup_codes"][2]})).json()[
            "success"
        ]
        assert (await client.delete("/api/user/passkey")).json()["success"]
        assert await PasskeyCredential.count() == 0
