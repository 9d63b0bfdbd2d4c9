"""Mail over TLS against a real local SMTP server (aiosmtpd) with a certificate made in the test:
TLS from the first byte (port 465 / ``SMTPSSLEnabled``) and STARTTLS; a certificate the machine
does not trust refused unless ``SMTPInsecureSkipVerify``; a server that offers no STARTTLS refused
when ``SMTPStartTLSRequired``, and never given the password in clear unless it is this machine."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from newapi_host.config import Config

from .certs import make_certificate
from .conftest import Client, as_root, running
from .test_email import ACCOUNT, TOKEN, Inbox, code_in

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class TLSInbox(Inbox):
    """An inbox that also notes whether each mail came over TLS."""

    def __init__(self) -> None:
        super().__init__()
        self.encrypted: list[bool] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.encrypted.append(session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None)
        return await super().handle_DATA(server, session, envelope)


def serve(inbox: TLSInbox, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> tuple[Controller, int]:
    if not port:
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
    controller = Controller(
        inbox, hostname=host, port=port, authenticator=inbox.authenticate, auth_required=True, **kwargs
    )
    controller.start()
    return controller, port


@pytest.fixture
def certificate(tmp_path: Path) -> Iterator[tuple[Path, ssl.SSLContext]]:
    cert_file, key_file = make_certificate(tmp_path, "127.0.0.1", stem="mail")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    yield cert_file, context


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


async def ask_code(client: Client, address: str) -> dict[str, Any]:
    return (await client.get("/api/verification", params={"email": address})).json()


async def test_implicit_tls_with_a_trusted_certificate(
    sqlite_config: Config, certificate: tuple[Path, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_file, context = certificate
    inbox = TLSInbox()
    controller, port = serve(inbox, ssl_context=context, auth_require_tls=False)  # aiosmtpd counts only STARTTLS as TLS
    try:
        async with running(sqlite_config) as client:
            await as_root(client)
            await configure(client, port, SMTPSSLEnabled="true")
            untrusted = await ask_code(client, "first@example.com")
            assert untrusted["success"] is False
            assert "connect" in untrusted["message"] and "certificate" in untrusted["message"], untrusted
            assert TOKEN not in untrusted["message"] and inbox.mails == []

            monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the machine now trusts it
            answer = await ask_code(client, "second@example.com")
            assert answer["success"] is True, answer
            assert code_in(inbox.last_to("second@example.com")) and inbox.encrypted == [True]
            assert inbox.logins  # logged in, inside TLS
    finally:
        controller.stop()


async def test_port_465_means_tls_and_skip_verify_accepts_any_certificate(
    sqlite_config: Config, certificate: tuple[Path, ssl.SSLContext]
) -> None:
    """Port 465 is TLS from the first byte without ``SMTPSSLEnabled`` (as in New API); the
    certificate, trusted by nobody, passes with ``SMTPInsecureSkipVerify``."""
    _, context = certificate
    inbox = TLSInbox()
    try:
        controller, port = serve(inbox, port=465, ssl_context=context, auth_require_tls=False)
    except (OSError, RuntimeError) as exc:  # not root, or 465 taken on this machine
        pytest.skip(f"cannot serve SMTP on 127.0.0.1:465 here ({exc})")
    try:
        async with running(sqlite_config) as client:
            await as_root(client)
            await configure(client, port, SMTPSSLEnabled="false")
            untrusted = await ask_code(client, "first@example.com")
            assert untrusted["success"] is False and "certificate" in untrusted["message"], untrusted
            await configure(client, port, SMTPSSLEnabled="false", SMTPInsecureSkipVerify="true")
            assert (await ask_code(client, "any@example.com"))["success"] is True
            assert inbox.encrypted == [True]
    finally:
        controller.stop()


async def test_starttls_with_a_trusted_certificate(
    sqlite_config: Config, certificate: tuple[Path, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_file, context = certificate
    inbox = TLSInbox()
    # A careful server: STARTTLS first, AUTH only inside TLS.
    controller, port = serve(inbox, tls_context=context, require_starttls=True, auth_require_tls=True)
    try:
        async with running(sqlite_config) as client:
            await as_root(client)
            await configure(client, port, SMTPStartTLSRequired="true")
            untrusted = await ask_code(client, "first@example.com")
            assert untrusted["success"] is False and "STARTTLS" in untrusted["message"], untrusted
            assert inbox.mails == []

            monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
            answer = await ask_code(client, "second@example.com")
            assert answer["success"] is True, answer
            assert inbox.encrypted == [True] and inbox.logins
    finally:
        controller.stop()


async def test_a_server_without_starttls_is_refused_when_it_is_required(sqlite_config: Config) -> None:
    inbox = TLSInbox()
    controller, port = serve(inbox, auth_require_tls=False)  # offers no STARTTLS at all
    try:
        async with running(sqlite_config) as client:
            await as_root(client)
            await configure(client, port, SMTPStartTLSRequired="true")
            refused = await ask_code(client, "careful@example.com")
            assert refused["success"] is False
            assert "does not offer STARTTLS" in refused["message"], refused
            assert inbox.mails == [] and inbox.logins == []  # the password never went out

            await configure(client, port, SMTPStartTLSRequired="false")  # this machine: allowed in clear
            assert (await ask_code(client, "local@example.com"))["success"] is True
            assert inbox.encrypted == [False]
    finally:
        controller.stop()


def outward_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


async def test_the_password_never_goes_in_clear_to_another_machine(sqlite_config: Config) -> None:
    """New API's rule: without TLS, a server that is not this machine never gets the password."""
    address = outward_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback to serve a 'remote' SMTP server on")
    inbox = TLSInbox()
    controller, port = serve(inbox, host=address, auth_require_tls=False)
    try:
        async with running(sqlite_config) as client:
            await as_root(client)
            await configure(client, port, SMTPServer=address)
            refused = await ask_code(client, "remote@example.com")
            assert refused["success"] is False and "unencrypted" in refused["message"], refused
            assert inbox.logins == [] and inbox.mails == []
    finally:
        controller.stop()
