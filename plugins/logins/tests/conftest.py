"""Fixtures of the login plugins' tests: the kit's gateway (a real ``newapi serve``) and a real
OpenID provider process (``oidc_provider.py``); browsers are httpx clients with cookie jars."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from newapi_host.sdk.testing import KitGateway
from newapi_host.sdk.testing.gateway import free_port

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def newapi_plugins() -> list[str]:
    return ["password", "oidc", "github", "discord", "linuxdo", "telegram", "wechat"]


class Process:
    def __init__(self, script: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / script), str(self.port)], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def control(self, **change: object) -> None:
        httpx.post(f"{self.url}/_control", json=change).raise_for_status()


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[Process]:
    provider = Process("oidc_provider.py")
    yield provider
    provider.stop()


def next_hop(response: httpx.Response) -> str:
    """Where the gateway sends the browser: a redirect's ``Location``, or the address of the page
    that goes on by itself (a meta refresh: the way back from a provider's site ends in one)."""
    if response.is_redirect:
        return response.headers["location"]
    found = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', response.text)
    assert response.status_code == 200 and found, response.text
    return html.unescape(found.group(1))


class Browser(httpx.Client):
    """A browser on the gateway: keeps cookies, does not follow redirects by itself."""

    def signed_in_as(self) -> int | None:
        page = self.get("/console", follow_redirects=True).text
        found = re.search(r'data-user-id="(\d+)"', page)
        if found is None or found.group(1) in ("", "0"):
            return None
        self.headers["New-Api-User"] = found.group(1)
        return int(found.group(1))


@pytest.fixture
def browser(newapi_gateway: KitGateway) -> Iterator[Browser]:
    with Browser(base_url=newapi_gateway.url, timeout=30) as b:
        yield b


def password_user(gateway: KitGateway, username: str, password: str = "password-123") -> Browser:
    """A user created by root, signed in by password in a browser of their own."""
    r = gateway.admin.post("/api/user/", json={"username": username, "password": password, "display_name": username})
    assert r.json()["success"], r.text
    b = Browser(base_url=gateway.url, timeout=30)
    body = b.post("/api/user/login", json={"username": username, "password": password}).json()
    assert body["success"], body
    b.headers["New-Api-User"] = str(body["data"]["id"])
    return b


CHROMIUM = Path(os.environ.get("NEWAPI_TEST_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture
def chromium():
    if not CHROMIUM.exists():
        message = f"browser tests need Debian's chromium at {CHROMIUM}"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()
