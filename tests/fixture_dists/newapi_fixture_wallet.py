"""A payment method and a redirect login method, in one distribution."""

from urllib.parse import urlencode

from pydantic import BaseModel, SecretStr

from newapi_host.sdk import Identity, LoginMethod, PaymentMethod, PaymentNotice, hookimpl


class WalletSettings(BaseModel):
    merchant_id: str = ""
    merchant_key: SecretStr = SecretStr("")


async def create_order(order):
    return "https://pay.invalid/checkout?" + urlencode({"trade_no": order.trade_no, "money": order.money})


async def verify_notice(callback):
    if callback.query.get("sign") != "ok":
        return None
    return PaymentNotice(trade_no=callback.query["trade_no"], paid=True)


async def start(ctx):
    return "https://login.invalid/authorize?" + urlencode({"state": ctx.state, "redirect_uri": ctx.redirect_uri})


async def complete(ctx, params):
    return Identity(method="fakeoauth", subject=params["code"], username=f"user_{params['code']}")


@hookimpl
def newapi_register_payments(registry):
    registry.payment_method(
        PaymentMethod(id="fakepay", name="Fake Pay", create_order=create_order, verify_notice=verify_notice)
    )


@hookimpl
def newapi_register_logins(registry):
    registry.login_method(
        LoginMethod(id="fakeoauth", name="Fake OAuth", kind="redirect", start=start, complete=complete)
    )


@hookimpl
def newapi_plugin_settings():
    return WalletSettings
