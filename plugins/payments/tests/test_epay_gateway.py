"""Epay end to end: a real gateway process, a fake Epay process, New API's option keys and routes.

The buyer's order goes to the fake gateway's ``submit.php`` (which checks the merchant's MD5
signature as a real one does), the fake "buyer" pays, and the fake calls the gateway's notify
URL with its own signed notice. Replays, forged signatures, wrong amounts and unfinished trades
are sent by the fake too, so every notice crosses a real socket.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from payments_helpers import EPAY_KEY, EPAY_PID, buyer, order_of, quota_of

PER_UNIT = 500000


def configure(gateway, fake_epay) -> None:
    """New API's option keys, set as root does with PUT /api/option/ (or an import does)."""
    for key, value in {
        "PayAddress": fake_epay.url,
        "EpayId": EPAY_PID,
        "EpayKey": EPAY_KEY,
        "ServerAddress": gateway.url,
        "Price": "7.3",
        "payment_setting.amount_discount": '{"20": 0.9}',
    }.items():
        gateway.option(key, value)


def topup_logs(gateway, user_id: int) -> list[dict]:
    return [row for row in gateway.logs(type=1) if row["user_id"] == user_id]


def test_epay_end_to_end_credits_once(gateway, fake_epay) -> None:
    configure(gateway, fake_epay)
    client, uid = buyer(gateway, "epaybuyer")

    info = client.get("/api/user/topup/info").json()["data"]
    assert info["enable_online_topup"] is True
    assert [m["type"] for m in info["pay_methods"]] == ["alipay", "wxpay"]
    # The secret never reaches a browser: not in the options list, not in the plugin's public settings.
    listed = {o["key"] for o in gateway.admin.get("/api/option/").json()["data"]}
    assert "EpayKey" not in listed and "PayAddress" in listed
    assert EPAY_KEY not in gateway.admin.get("/api/plugins").text

    assert client.post("/api/user/amount", json={"amount": 20}).json() == {
        "success": True,
        "message": "success",
        "data": "131.40",  # 20 x 7.3 x 0.9
    }
    answer = client.post("/api/user/pay", json={"amount": 20, "payment_method": "alipay"}).json()
    assert answer["success"], answer
    # New API's Epay answer: the signed form's fields in data, submit.php in url (its frontend posts them).
    trade_no, url = answer["data"]["out_trade_no"], f"{answer['url']}?{urlencode(answer['data'])}"
    assert answer["url"] == f"{fake_epay.url}/submit.php"
    assert re.fullmatch(rf"USR{uid}NO[A-Za-z0-9]{{6}}\d{{10}}", trade_no)
    sent = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(f"{fake_epay.url}/submit.php?")
    assert sent["pid"] == EPAY_PID and sent["type"] == "alipay" and sent["money"] == "131.40"
    assert sent["notify_url"] == f"{gateway.url}/api/payment/epay/notify"
    assert sent["return_url"] == f"{gateway.url}/console/wallet" and sent["sign_type"] == "MD5"
    row = order_of(gateway, trade_no)
    assert (row["status"], row["payment_method"], row["payment_provider"], row["money"]) == (
        "pending",
        "alipay",
        "epay",
        131.4,
    )

    # The buyer opens the pay page (the fake checked our signature) and pays.
    with httpx.Client(timeout=30) as browser:
        page = browser.get(url)
        assert page.status_code == 200 and "131.40" in page.text and trade_no in page.text
        paid = browser.post(f"{fake_epay.url}/pay", data={"out_trade_no": trade_no})
    assert paid.status_code == 302 and paid.headers["location"] == f"{gateway.url}/console/wallet"
    (notice,) = [n for n in fake_epay.state()["notices"] if n["out_trade_no"] == trade_no]
    assert (notice["status"], notice["body"]) == (200, "success")
    assert quota_of(gateway, uid) == 20 * PER_UNIT
    assert order_of(gateway, trade_no)["status"] == "success"

    # Epay repeats its notice until it reads "success": each repeat is answered, none credits.
    assert fake_epay.notify(trade_no)["body"] == "success"
    assert fake_epay.notify(trade_no, _method="POST", _url=f"{gateway.url}/api/user/epay/notify")["body"] == "success"
    with ThreadPoolExecutor(20) as pool:
        replies = list(pool.map(lambda _: fake_epay.notify(trade_no), range(20)))
    assert {(r["status"], r["body"]) for r in replies} == {(200, "success")}
    assert quota_of(gateway, uid) == 20 * PER_UNIT
    (log,) = topup_logs(gateway, uid)
    assert f"({20 * PER_UNIT} quota)" in log["content"] and "131.40 CNY with Epay" in log["content"]

    # The wallet shows the order, settled.
    mine = client.get("/api/user/topup/self").json()["data"]["items"]
    assert [(t["trade_no"], t["status"]) for t in mine] == [(trade_no, "success")]


def test_epay_refusals_credit_nothing(gateway, fake_epay) -> None:
    configure(gateway, fake_epay)
    client, uid = buyer(gateway, "epayrefused")
    pay = client.post("/api/user/pay", json={"amount": 10, "payment_method": "wxpay"}).json()
    with httpx.Client(timeout=30) as browser:  # the buyer opens the pay page (a form post), but has not paid
        assert browser.post(pay["url"], data=pay["data"]).status_code == 200
    trade_no = pay["data"]["out_trade_no"]

    forged = fake_epay.notify(trade_no, sign="0" * 32)
    assert (forged["status"], forged["body"]) == (400, "fail")
    wrong_amount = fake_epay.notify(trade_no, money="0.01")  # correctly signed, but not the price
    assert (wrong_amount["status"], wrong_amount["body"]) == (400, "fail")
    unfinished = fake_epay.notify(trade_no, trade_status="WAIT_BUYER_PAY")
    assert (unfinished["status"], unfinished["body"]) == (200, "success")  # as New API: noted, nothing moves
    other_merchant = fake_epay.notify(trade_no, pid="9999")
    assert other_merchant["body"] == "fail"
    unknown = fake_epay.notify(trade_no, out_trade_no="USR1NOnothere1700000000")
    assert (unknown["status"], unknown["body"]) == (404, "fail")
    assert quota_of(gateway, uid) == 0
    assert order_of(gateway, trade_no)["status"] == "pending"
    assert topup_logs(gateway, uid) == []

    # The genuine notice still completes it afterwards.
    assert fake_epay.notify(trade_no)["body"] == "success"
    assert quota_of(gateway, uid) == 10 * PER_UNIT
