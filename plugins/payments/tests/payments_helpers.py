"""Helpers of the payments plugin's tests (a module name of its own: every plugin's tests have a conftest)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from newapi_host.sdk.testing import KitGateway

HERE = Path(__file__).resolve().parent
EPAY_PID, EPAY_KEY = "1001", "fake-epay-merchant-key"
USER_PASSWORD = "buyer-password-1"


class FakeEpay:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "fake_epay.py"), EPAY_PID, EPAY_KEY], stdout=subprocess.PIPE, text=True
        )
        port = self.proc.stdout.readline().strip() if self.proc.stdout else ""
        self.url = f"http://127.0.0.1:{port}"

    def notify(self, trade_no: str, **overrides: str) -> dict:
        """Send the notice for ``trade_no`` again (fields overridden); the gateway's reply."""
        method = overrides.pop("_method", "GET")
        url = overrides.pop("_url", "")
        body = {"out_trade_no": trade_no, "overrides": overrides, "method": method, "url": url}
        return httpx.post(f"{self.url}/control/notify", json=body, timeout=60).json()

    def state(self) -> dict:
        return httpx.get(f"{self.url}/control/orders", timeout=10).json()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def buyer(gateway: KitGateway, name: str) -> tuple[httpx.Client, int]:
    """A new common user of the gateway, signed in on a client of its own."""
    admin = gateway.admin
    assert admin.post("/api/user/", json={"username": name, "password": USER_PASSWORD}).json()["success"]
    client = httpx.Client(base_url=gateway.url, timeout=30)
    login = client.post("/api/user/login", json={"username": name, "password": USER_PASSWORD}).json()
    assert login["success"], login
    client.headers["New-Api-User"] = str(login["data"]["id"])
    return client, login["data"]["id"]


def quota_of(gateway: KitGateway, user_id: int) -> int:
    return gateway.admin.get(f"/api/user/{user_id}").json()["data"]["quota"]


def order_of(gateway: KitGateway, trade_no: str) -> dict:
    items = gateway.admin.get("/api/user/topup", params={"trade_no": trade_no}).json()["data"]["items"]
    (row,) = [o for o in items if o["trade_no"] == trade_no]
    return row
