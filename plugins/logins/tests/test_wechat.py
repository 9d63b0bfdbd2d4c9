"""WeChat sign-in through the gateway process and a local stand-in of the WeChat helper server
(real HTTP; it checks the access token and lets each code work once), New API's routes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import Browser, password_user

from newapi_host.sdk.testing import KitGateway

TOKEN = "wechat-server-token-7"


class Helper:
    def __init__(self) -> None:
        self.codes: dict[str, str] = {}  # code -> openid
        helper = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                code = parse_qs(url.query).get("code", [""])[0]
                if url.path != "/api/wechat/user" or self.headers.get("Authorization") != TOKEN:
                    answer = {"success": False, "message": "unauthorized"}
                else:
                    openid = helper.codes.pop(code, None)
                    answer = (
                        {"success": True, "message": "", "data": openid}
                        if openid
                        else {"success": False, "message": "验证码错误或已过期"}
                    )
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def helper(newapi_gateway: KitGateway) -> Iterator[Helper]:
    h = Helper()
    newapi_gateway.option("WeChatServerAddress", h.url)
    newapi_gateway.option("WeChatServerToken", TOKEN)
    newapi_gateway.option("WeChatAccountQRCodeImageURL", "https://example.com/qr.png")
    newapi_gateway.option("WeChatAuthEnabled", "true")
    newapi_gateway.option("RegisterEnabled", "true")
    yield h
    h.server.shutdown()
    h.server.server_close()


def test_a_code_signs_up_then_in_once(newapi_gateway: KitGateway, helper: Helper, browser: Browser) -> None:
    status = browser.get("/api/status").json()["data"]
    assert status["wechat_login"] is True and status["wechat_qrcode"] == "https://example.com/qr.png"
    assert TOKEN not in browser.get("/api/status").text
    helper.codes["483920"] = "oWx-openid-0001"
    answer = browser.get("/api/oauth/wechat", params={"code": "483920"}).json()
    assert answer["success"] is True, answer
    user_id = answer["data"]["id"]
    assert newapi_gateway.admin.get(f"/api/user/{user_id}").json()["data"]["wechat_id"] == "oWx-openid-0001"
    assert browser.signed_in_as() == user_id

    with Browser(base_url=newapi_gateway.url) as other:
        spent = other.get("/api/oauth/wechat", params={"code": "483920"}).json()
        assert spent["success"] is False and other.signed_in_as() is None
        helper.codes["111222"] = "oWx-openid-0001"
        assert other.get("/api/oauth/wechat", params={"code": "111222"}).json()["data"]["id"] == user_id


def test_bind_and_a_wrong_token(newapi_gateway: KitGateway, helper: Helper) -> None:
    jack = password_user(newapi_gateway, "jack")
    helper.codes["777000"] = "oWx-openid-jack"
    bound = jack.get("/api/oauth/wechat/bind", params={"code": "777000"}).json()
    assert bound == {"success": True, "message": "bind"}
    assert [b["provider_id"] for b in jack.get("/api/user/oauth/bindings").json()["data"]] == ["wechat"]
    jack.close()

    newapi_gateway.option("WeChatServerToken", "not-the-token")
    try:
        helper.codes["999888"] = "oWx-openid-x"
        with Browser(base_url=newapi_gateway.url) as b:
            refused = b.get("/api/oauth/wechat", params={"code": "999888"}).json()
            assert refused["success"] is False and "not-the-token" not in json.dumps(refused)
    finally:
        newapi_gateway.option("WeChatServerToken", TOKEN)
