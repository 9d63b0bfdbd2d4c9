"""Paying in a real browser (headless Debian Chromium): a user tops up through the fake Epay
gateway, the fake Stripe checkout and the fake Creem checkout (processes of their own that call
the notify URL, as the real ones do) and sees the balance move once; the admin completes a stuck
order from the order desk and sees the notices that were refused."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from newapi_host.db.tables import TopUp

from .browser import launch, open_tab
from .gateway import Gateway, start_gateway
from .test_browser_console import sign_in

FAKES = Path(__file__).resolve().parent.parent / "plugins" / "payments" / "tests"
FAKE_EPAY = FAKES / "fake_epay.py"
FAKE_STRIPE = FAKES / "fake_stripe.py"
FAKE_CREEM = FAKES / "fake_creem.py"
PID, KEY = "2002", "browser-epay-key"
STRIPE_KEY, STRIPE_SECRET = "sk_test_browser", "whsec_browser"
CREEM_KEY, CREEM_SECRET = "creem_browser_key", "creem_browser_secret"
CREEM_PRODUCTS = [
    {"productId": "prod_small", "name": "Small pack", "price": 9.9, "currency": "USD", "quota": 2_500_000},
    {"productId": "prod_big", "name": "Big pack", "price": 49, "currency": "USD", "quota": 15_000_000},
]
PER_UNIT = 500000


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async for b in launch():
        yield b


@pytest.fixture(scope="module")
def epay() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, str(FAKE_EPAY), PID, KEY], stdout=subprocess.PIPE, text=True)
    port = proc.stdout.readline().strip() if proc.stdout else ""
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, epay: str) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("browser-pay"))
    gateway.option(PayAddress=epay, EpayId=PID, EpayKey=KEY, ServerAddress=gateway.url, Price="7.3")
    gateway.user("root", role=100, quota=0)
    gateway.user("payer", quota=0)
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def stripe_checkout(gw: Gateway) -> Iterator[str]:
    """The fake Stripe process, delivering its webhooks to the gateway; the Plugins page points
    the Stripe method at it."""
    webhook = f"{gw.url}/api/stripe/webhook"
    proc = subprocess.Popen(
        [sys.executable, str(FAKE_STRIPE), STRIPE_KEY, webhook, STRIPE_SECRET], stdout=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{proc.stdout.readline().strip() if proc.stdout else ''}"
    root = gw.session("root")
    settings = {"api_secret": STRIPE_KEY, "webhook_secret": STRIPE_SECRET, "api_base": url}
    assert root.put("/api/plugins/stripe/settings", json=settings).json()["success"]
    gw.option(StripeUnitPrice="2")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def creem_checkout(gw: Gateway) -> Iterator[str]:
    """The fake Creem process (it knows the products' prices, as Creem does), delivering its
    webhooks to the gateway; key and secret on the Plugins page, the products in ``CreemProducts``."""
    webhook = f"{gw.url}/api/creem/webhook"
    prices = json.dumps({p["productId"]: round(p["price"] * 100) for p in CREEM_PRODUCTS})
    proc = subprocess.Popen(
        [sys.executable, str(FAKE_CREEM), CREEM_KEY, webhook, CREEM_SECRET, prices], stdout=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{proc.stdout.readline().strip() if proc.stdout else ''}"
    root = gw.session("root")
    settings = {"api_key": CREEM_KEY, "webhook_secret": CREEM_SECRET, "api_base": url}
    assert root.put("/api/plugins/creem/settings", json=settings).json()["success"]
    gw.option(CreemProducts=CREEM_PRODUCTS)
    yield url
    proc.terminate()
    proc.wait(10)


def quota_of(gw: Gateway, name: str) -> int:
    from newapi_host.db.tables import User

    return gw.run(User.select(User.quota).where(User.username == name).first())["quota"]


async def test_top_up_through_epay_in_the_browser(browser: Any, gw: Gateway, epay: str) -> None:
    tab = await open_tab(browser, gw.url)
    await sign_in(tab, "payer", "password-123")
    await tab.goto("/console/wallet")
    page = tab.page
    assert await page.text_content('[data-stat="quota"]') == "$0.00"
    await page.fill('form[data-form="topup"] input[name="amount"]', "10")
    await page.click('button[data-action="pay"][data-method="alipay"]')

    # The fake Epay's page: the order as we signed it; the buyer pays.
    await page.wait_for_url(f"{epay}/submit.php")  # the wallet posts the signed form, as New API's does
    assert await page.text_content("#money") == "73.00"
    await tab.shot("payments-epay-checkout")
    await page.click("#pay")

    # Back in the wallet: credited once, the order shown as paid.
    await page.wait_for_url("**/console/wallet")
    await tab.settle()
    assert await page.text_content('[data-stat="quota"]') == "$10.00"
    status = page.locator('[data-list="topups"] tr').first.locator(".badge")
    assert await status.text_content() == "Paid"
    await tab.shot("payments-wallet-after-epay")

    # Epay repeats its notice; reloading the wallet shows the same balance.
    trade = await page.locator('[data-list="topups"] tr code').first.text_content()
    async with httpx.AsyncClient(timeout=30) as client:
        replay = (await client.post(f"{epay}/control/notify", json={"out_trade_no": trade})).json()
    assert replay["body"] == "success"
    await tab.goto("/console/wallet")
    assert await page.text_content('[data-stat="quota"]') == "$10.00"
    assert quota_of(gw, "payer") == 10 * PER_UNIT
    tab.assert_clean()


async def test_top_up_through_stripe_checkout_in_the_browser(browser: Any, gw: Gateway, stripe_checkout: str) -> None:
    before = quota_of(gw, "payer")
    tab = await open_tab(browser, gw.url)
    await sign_in(tab, "payer", "password-123")
    await tab.goto("/console/wallet")
    page = tab.page
    await page.fill('form[data-form="topup"] input[name="amount"]', "3")
    await page.click('button[data-action="pay"][data-method="stripe"]')
    await page.wait_for_url(f"{stripe_checkout}/pay/*")
    assert await page.text_content("#money") == "6.00 USD"  # 3 x StripeUnitPrice 2
    await page.click("#pay")
    await page.wait_for_url("**/console/wallet")
    await tab.settle()
    assert quota_of(gw, "payer") == before + 3 * PER_UNIT
    shown = await page.text_content('[data-stat="quota"]')
    assert shown == f"${(before + 3 * PER_UNIT) / PER_UNIT:.2f}"
    first = page.locator('[data-list="topups"] tr').first
    assert await first.locator(".badge").text_content() == "Paid"
    assert await first.locator("td").nth(1).text_content() == "stripe"

    # Stripe delivers the event again: answered 200, the balance stays.
    async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client:
        (session,) = (await client.get(f"{stripe_checkout}/control/sessions")).json()["sessions"].values()
        assert (await client.post(f"{stripe_checkout}/pay/{session['id']}")).status_code == 303
        deliveries = (await client.get(f"{stripe_checkout}/control/sessions")).json()["deliveries"]
    assert [d["status"] for d in deliveries] == [200, 200]
    await tab.goto("/console/wallet")
    assert quota_of(gw, "payer") == before + 3 * PER_UNIT
    assert await page.text_content('[data-stat="quota"]') == shown
    tab.assert_clean()


async def test_top_up_through_a_creem_product_in_the_browser(browser: Any, gw: Gateway, creem_checkout: str) -> None:
    before = quota_of(gw, "payer")
    tab = await open_tab(browser, gw.url)
    await sign_in(tab, "payer", "password-123")
    await tab.goto("/console/wallet")
    page = tab.page
    products = page.locator('[data-creem-products] button[data-action="creem"]')
    assert await products.count() == 2
    small = page.locator('button[data-action="creem"][data-product="prod_small"]')
    assert "Small pack" in await small.text_content() and "9.90 USD" in await small.text_content()
    assert "$5.00" in await small.text_content()  # its quota, 2,500,000 at 500,000 per unit
    await tab.shot("payments-wallet-creem-products")
    await small.click()

    await page.wait_for_url(f"{creem_checkout}/checkout/*")
    assert await page.text_content("#money") == "9.90 USD"
    await page.click("#pay")
    await page.wait_for_url("**/console/wallet?*")  # Creem's success_url, with its checkout id
    await tab.settle()
    assert quota_of(gw, "payer") == before + 2_500_000  # the product's quota, once
    assert await page.text_content('[data-stat="quota"]') == f"${(before + 2_500_000) / PER_UNIT:.2f}"
    first = page.locator('[data-list="topups"] tr').first
    assert await first.locator(".badge").text_content() == "Paid"
    assert await first.locator("td").nth(1).text_content() == "prod_small"
    assert await first.locator("td").nth(2).text_content() == "$5.00"
    assert await first.locator("td").nth(3).text_content() == "9.90 USD"

    # Creem repeats its webhook (the checkout paid again): nothing more is credited.
    async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client:
        (checkout,) = (await client.get(f"{creem_checkout}/control/checkouts")).json()["checkouts"].values()
        assert checkout["success_url"] == f"{gw.url}/console/wallet" and checkout["product_id"] == "prod_small"
        assert (await client.post(f"{creem_checkout}/checkout/{checkout['id']}")).status_code == 303
        deliveries = (await client.get(f"{creem_checkout}/control/checkouts")).json()["deliveries"]
    assert [d["status"] for d in deliveries] == [200, 200]
    assert quota_of(gw, "payer") == before + 2_500_000
    tab.assert_clean()


async def test_admin_completes_a_stuck_order_from_the_desk(browser: Any, gw: Gateway, epay: str) -> None:
    payer = gw.session("payer")
    opened = payer.post("/api/user/pay", json={"amount": 5, "payment_method": "wxpay"}).json()
    stuck = opened["data"]["out_trade_no"]
    before = quota_of(gw, "payer")
    # Someone forges Epay's notice for it: refused, and the admin sees it on the desk.
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.post(opened["url"], data=opened["data"])).status_code == 200  # Epay knows the order
        forged = {"out_trade_no": stuck, "overrides": {"sign": "0" * 32}}
        assert (await client.post(f"{epay}/control/notify", json=forged)).json()["body"] == "fail"

    tab = await open_tab(browser, gw.url)
    await sign_in(tab, "root", "password-123")
    await tab.goto("/console/topups")
    page = tab.page
    await page.fill('form[data-form="topup-search"] input[name="trade_no"]', stuck)
    await page.click('form[data-form="topup-search"] button[type="submit"]')
    await tab.settle()
    row = page.locator(f'[data-list="topups"] tr[data-trade="{stuck}"]')
    assert await row.locator("[data-status]").get_attribute("data-status") == "pending"
    page.once("dialog", lambda dialog: dialog.accept())
    await row.locator('button[data-action="complete"]').click()
    await page.wait_for_selector(f'tr[data-trade="{stuck}"] [data-status="success"]')
    await tab.shot("payments-order-desk")
    assert await row.locator('button[data-action="complete"]').count() == 0
    assert quota_of(gw, "payer") == before + 5 * PER_UNIT
    assert gw.run(TopUp.select(TopUp.status).where(TopUp.trade_no == stuck).first())["status"] == "success"
    refused = page.locator('[data-list="refused"] tr[data-refusal]').first
    cells = [await refused.locator("td").nth(i).text_content() for i in range(6)]
    assert cells[1:] == ["epay", stuck, "bad signature", "127.0.0.1", "400"]
    assert "0" * 32 not in await page.content()  # never the signature
    tab.assert_clean()
