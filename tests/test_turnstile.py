"""Turnstile: with the check on, sign-in, registration and the mails need a token that a local
stand-in of Cloudflare's siteverify (real HTTP, checking the secret) accepts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from newapi_host.config import Config

from .conftest import ROOT_PASSWORD, Client, running, setup_root

SECRET = "0x4AAAAAAturnstile-secret"
GOOD = "token-from-the-widget"


class Siteverify(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
        Siteverify.seen.append(form)
        ok = form.get("secret") == SECRET and form.get("response") == GOOD
        body = json.dumps({"success": ok, "error-codes": [] if ok else ["invalid-input-response"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def siteverify(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Siteverify)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("NEWAPI_TURNSTILE_VERIFY_URL", f"http://127.0.0.1:{server.server_address[1]}/siteverify")
    Siteverify.seen = []
    yield Siteverify.seen
    server.shutdown()
    server.server_close()


async def turn_on(client: Client) -> None:
    await client.app.state.host.options.set_many(
        {
            "TurnstileSiteKey": "0x4AAAAsite",
            "TurnstileSecretKey": SECRET,
            "TurnstileCheckEnabled": "true",
            "CriticalRateLimitCount": "0",
        }
    )


async def test_sign_in_and_registration_need_a_good_token(sqlite_config: Config, siteverify: list) -> None:
    async with running(sqlite_config) as client:
        await setup_root(client)
        await turn_on(client)
        creds = {"username": "root", "password": ROOT_PASSWORD}
        empty = (await client.post("/api/user/login", json=creds)).json()
        assert empty == {"success": False, "message": "Turnstile token is empty"}
        bad = (await client.post("/api/user/login", params={"turnstile": "forged"}, json=creds)).json()
        assert bad["success"] is False and "Turnstile" in bad["message"]
        good = (await client.post("/api/user/login", params={"turnstile": GOOD}, json=creds)).json()
        assert good["success"] is True
        assert siteverify[-1]["secret"] == SECRET and siteverify[-1]["remoteip"]

        new = {"username": "newbie", "password": "newbie-pass-1"}
        assert (await client.post("/api/user/register", json=new)).json()["success"] is False
        assert (await client.post("/api/user/register", params={"turnstile": GOOD}, json=new)).json()["success"]
        for path in ("/api/verification", "/api/reset_password"):
            answer = (await client.get(path, params={"email": "a@example.com", "turnstile": "forged"})).json()
            assert answer["success"] is False and "Turnstile" in answer["message"], path
        assert SECRET not in (await client.get("/api/status")).text


async def test_an_unreachable_siteverify_refuses(sqlite_config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    from .conftest import free_port

    monkeypatch.setenv("NEWAPI_TURNSTILE_VERIFY_URL", f"http://127.0.0.1:{free_port()}/siteverify")
    async with running(sqlite_config) as client:
        await setup_root(client)
        await turn_on(client)
        r = await client.post(
            "/api/user/login", params={"turnstile": GOOD}, json={"username": "root", "password": ROOT_PASSWORD}
        )
        assert r.status_code == 200 and r.json()["success"] is False


async def test_the_sign_in_page_carries_the_widget_only_when_on(sqlite_config: Config, siteverify: list) -> None:
    async with running(sqlite_config) as client:
        await setup_root(client)
        assert "cf-turnstile" not in (await client.get("/login")).text
        await turn_on(client)
        for path in ("/login", "/register"):
            page = (await client.get(path)).text
            assert 'class="cf-turnstile" data-sitekey="0x4AAAAsite"' in page and SECRET not in page
