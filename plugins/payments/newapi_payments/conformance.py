"""What the host's conformance suite needs to try each method for real (``NEWAPI_CONFORMANCE``).

The suite's mock upstream stands in for the provider: Epay's ``submit.php`` is only a link, and
Stripe's and Creem's checkout APIs are answered by routes added here, so no order ever leaves the
machine.
"""

from __future__ import annotations

from typing import Any

from newapi_host.sdk.testing import ConformanceSetup


def epay(kit: ConformanceSetup) -> None:
    kit.plugin_settings(pay_address=kit.upstream.url, epay_id="1001", epay_key="kit-epay-key")


def stripe(kit: ConformanceSetup) -> None:
    def session(_: Any) -> dict[str, Any]:
        return {"id": "cs_test_kit", "object": "checkout.session", "url": f"{kit.upstream.url}/checkout/cs_test_kit"}

    kit.route("POST", "/v1/checkout/sessions", session)
    kit.plugin_settings(api_secret="sk_test_kit", webhook_secret="whsec_kit", api_base=kit.upstream.url)


def creem(kit: ConformanceSetup) -> None:
    def checkout(_: Any) -> dict[str, Any]:
        return {"id": "ch_kit", "checkout_url": f"{kit.upstream.url}/checkout/ch_kit"}

    kit.route("POST", "/v1/checkouts", checkout)
    products = '[{"productId": "creem", "name": "Kit", "price": 1.0, "currency": "USD", "quota": 500000}]'
    kit.plugin_settings(
        api_key="kit-creem-key", webhook_secret="kit-creem-secret", products=products, api_base=kit.upstream.url
    )
