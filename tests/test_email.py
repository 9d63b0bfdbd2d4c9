"""E-mail through a real local SMTP server (aiosmtpd, with AUTH): verification codes on
registration, binding an address, password reset; codes work once and expire; address rules and
sending limits; a broken mail server is a clear refusal, never a 500."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from types import SimpleNamespace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from newapi_host.api import codes
from newapi_host.config import Config

from .conftest import Client, as_root, free_port, login, running

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
ACCOUNT, TOKEN = "mailer@example.com", "smtp-app-password-9"


class Inbox:
    def __init__(self) -> None:
        self.mails: list[Message] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd names it)
        self.mails.append(message_from_bytes(envelope.content))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        good = isinstance(data, LoginPassword) and (data.login, data.password) == (ACCOUNT.encode(), TOKEN.encode())
        if good:
            self.logins.append(mechanism)
        return AuthResult(success=good, handled=False)  # False: aiosmtpd answers 535 itself

    def last_to(self, address: str) -> str:
        found = [m for m in self.mails if m["To"] == address]
        assert found, f"no mail to {address}"
        part = next(p for p in found[-1].walk() if p.get_content_type() == "text/plain")
        return part.get_payload(decode=True).decode()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=inbox.authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    yield inbox, port
    controller.stop()


async def configure(client: Client, port: int, **extra: str) -> None:
    await client.app.state.host.options.set_many(
        {
            "SMTPServer": "127.0.0.1",
            "SMTPPort": str(port),
            "SMTPAccount": ACCOUNT,
            "SMTPToken": TOKEN,
            "SMTPFrom": "noreply@example.com",
            "CriticalRateLimitCount": "0",
            **extra,
        }
    )


def code_in(text: str) -> str:
    found = re.search(r"code is (\d{6})", text)
    assert found, text
    return found.group(1)


async def test_registration_needs_the_mailed_code_once(sqlite_config: Config, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    async with running(sqlite_config) as client:
        await as_root(client)
        client.cookies.clear()
        await configure(client, port, EmailVerificationEnabled="true")
        assert (await client.get("/api/verification", params={"email": "New@Example.com"})).json()["success"]
        code = code_in(inbox.last_to("new@example.com"))
        assert inbox.logins  # the account and token were used to log in to the server
        assert "验证码" in inbox.last_to("new@example.com")  # both languages
        form = {"username": "newbie", "password": "newbie-pass-1", "email": "new@example.com"}
        wrong = await client.post("/api/user/register", json={**form, "verification_code": "000000"})
        assert wrong.json()["success"] is False
        assert (await client.post("/api/user/register", json={**form, "verification_code": code})).json()["success"]
        again = await client.post("/api/user/register", json={**form, "username": "other", "verification_code": code})
        assert again.json()["success"] is False  # spent
        assert (await client.get("/api/verification", params={"email": "new@example.com"})).json()["message"] == (
            "Email address is already in use"
        )


async def test_a_code_expires(sqlite_config: Config, smtp: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, port = smtp
    async with running(sqlite_config) as client:
        await as_root(client)
        client.cookies.clear()
        await configure(client, port, EmailVerificationEnabled="true")
        await client.get("/api/verification", params={"email": "late@example.com"})
        code = code_in(inbox.last_to("late@example.com"))
        later = time.time() + codes.CODE_TTL + 1
        monkeypatch.setattr(codes, "time", SimpleNamespace(time=lambda: later))
        form = {"username": "late", "password": "late-pass-12", "email": "late@example.com", "verification_code": code}
        assert (await client.post("/api/user/register", json=form)).json()["success"] is False


async def test_password_reset_by_link(sqlite_config: Config, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    async with running(sqlite_config) as client:
        await as_root(client)
        await configure(client, port)
        r = await client.post(
            "/api/user/", json={"username": "forgetful", "password": "old-password-1", "display_name": "f"}
        )
        assert r.json()["success"], r.text
        from newapi_host.db.tables import User

        await User.update({User.email: "forgetful@example.com"}).where(User.username == "forgetful")
        client.cookies.clear()
        client.headers.pop("New-Api-User", None)

        assert (await client.get("/api/reset_password", params={"email": "nobody@example.com"})).json()["success"]
        assert not [m for m in inbox.mails if m["To"] == "nobody@example.com"]  # same answer, no mail

        assert (await client.get("/api/reset_password", params={"email": "forgetful@example.com"})).json()["success"]
        link = re.search(r"(http\S+/user/reset\?\S+)", inbox.last_to("forgetful@example.com"))
        assert link, inbox.last_to("forgetful@example.com")
        token = re.search(r"token=(\d+)", link.group(1)).group(1)  # type: ignore[union-attr]
        bad = await client.post("/api/user/reset", json={"email": "forgetful@example.com", "token": "123"})
        assert bad.json()["success"] is False
        done = (await client.post("/api/user/reset", json={"email": "forgetful@example.com", "token": token})).json()
        assert done["success"] is True and len(done["data"]) == 12
        again = await client.post("/api/user/reset", json={"email": "forgetful@example.com", "token": token})
        assert again.json()["success"] is False  # spent
        assert (
            await client.post("/api/user/login", json={"username": "forgetful", "password": "old-password-1"})
        ).json()["success"] is False
        await login(client, "forgetful", done["data"])


async def test_binding_an_address_and_the_address_rules(sqlite_config: Config, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    async with running(sqlite_config) as client:
        await as_root(client)
        await configure(
            client,
            port,
            EmailDomainRestrictionEnabled="true",
            EmailDomainWhitelist="example.com,corp.example",
            EmailAliasRestrictionEnabled="true",
        )
        for refused in ("a@gmail.com", "first.last@example.com", "me+tag@example.com", "not-an-address"):
            answer = (await client.get("/api/verification", params={"email": refused})).json()
            assert answer["success"] is False, refused
        assert inbox.mails == []

        assert (await client.get("/api/verification", params={"email": "root@corp.example"})).json()["success"]
        code = code_in(inbox.last_to("root@corp.example"))
        wrong = await client.get("/api/oauth/email/bind", params={"email": "root@corp.example", "code": "111111"})
        assert wrong.json()["success"] is False
        right = await client.get("/api/oauth/email/bind", params={"email": "root@corp.example", "code": code})
        assert right.json()["success"] is True
        assert (await client.get("/api/user/self")).json()["data"]["email"] == "root@corp.example"
        # New API's newer page posts the pair as JSON.
        assert (await client.get("/api/verification", params={"email": "boss@corp.example"})).json()["success"]
        code = code_in(inbox.last_to("boss@corp.example"))
        posted = await client.post("/api/oauth/email/bind", json={"email": "boss@corp.example", "code": code})
        assert posted.json()["success"] is True
        assert (await client.get("/api/user/self")).json()["data"]["email"] == "boss@corp.example"


async def test_sending_is_limited_per_address_and_per_client(sqlite_config: Config, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    async with running(sqlite_config) as client:
        await as_root(client)
        client.cookies.clear()
        await configure(client, port)
        assert (await client.get("/api/verification", params={"email": "x0@example.com"})).json()["success"]
        soon = (await client.get("/api/verification", params={"email": "x0@example.com"})).json()
        assert soon["success"] is False and "wait a minute" in soon["message"]
        from newapi_host.api.email import MAIL_PER_IP

        for i in range(1, MAIL_PER_IP - 1):  # the refused ask counted too
            sent = (await client.get("/api/verification", params={"email": f"x{i}@example.com"})).json()
            assert sent["success"], (i, sent)
        over = (await client.get("/api/verification", params={"email": "x99@example.com"})).json()
        assert over["success"] is False and "Too many" in over["message"]
        assert len(inbox.mails) == MAIL_PER_IP - 1


async def test_a_broken_mail_server_is_a_clear_refusal(sqlite_config: Config, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    async with running(sqlite_config) as client:
        await as_root(client)
        client.cookies.clear()
        await configure(client, port, SMTPToken="wrong-token-5")
        r = await client.get("/api/verification", params={"email": "y@example.com"})
        assert r.status_code == 200 and r.json()["success"] is False
        assert "login" in r.json()["message"] and "wrong-token-5" not in r.text
        await configure(client, free_port())  # nobody listens there
        r = await client.get("/api/verification", params={"email": "z@example.com"})
        assert r.json()["success"] is False and "connect" in r.json()["message"]
