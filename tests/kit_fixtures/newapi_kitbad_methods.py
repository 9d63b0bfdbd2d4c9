"""A payment method that believes any callback and a login method that drops ``state`` and signs in
anyone; it states no NEWAPI_SDK."""

from newapi_host.sdk import Identity, LoginMethod, PaymentMethod, PaymentNotice, hookimpl


async def create_order(order):
    return f"https://pay.kitbad.test/checkout?trade_no={order.trade_no}"


async def verify_notice(callback):
    return PaymentNotice(trade_no=callback.query.get("trade_no", ""), paid=True)  # never checks a signature


async def start(ctx):
    return "https://login.kitbad.test/authorize?client_id=kit"  # ctx.state is not passed on


async def complete(ctx, query):
    return Identity(method="kitbad-login", subject=query.get("code", "anyone"))  # no code needed


@hookimpl
def newapi_register_payments(registry):
    registry.payment_method(
        PaymentMethod(id="kitbad-pay", name="Kitbad Pay", create_order=create_order, verify_notice=verify_notice)
    )


@hookimpl
def newapi_register_logins(registry):
    registry.login_method(
        LoginMethod(id="kitbad-login", name="Kitbad", kind="redirect", start=start, complete=complete)
    )
