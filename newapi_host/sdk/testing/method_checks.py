"""The offline checks of payment and login methods: well formed, and refusing what is not genuine.

A payment method must turn away a callback nobody signed, and a login method must put the
host's ``state`` into the provider's URL and refuse a callback with nothing in it: those are the
mistakes that let a stranger top up for free or sign in as someone else.
"""

from __future__ import annotations

import re

from newapi_host.sdk import (
    Identity,
    LoginContext,
    LoginFailed,
    LoginMethod,
    PaymentCallback,
    PaymentMethod,
    PaymentNotice,
)

from .checking import is_async, own, run_async, web_url, what
from .findings import Finding, Findings
from .subject import PluginUnderTest

# -- payments and logins -----------------------------------------------------------------------

FORGED_NOTICE = {
    "trade_no": "KIT1700000000",
    "out_trade_no": "KIT1700000000",
    "trade_status": "TRADE_SUCCESS",
    "status": "paid",
    "money": "10.00",
    "sign": "0" * 32,
    "sign_type": "MD5",
}


def check_payments(s: PluginUnderTest) -> list[Finding]:
    found = Findings("payments")
    for method in own(s.contributions.payment_methods, PaymentMethod, "payment method", found):
        subject = f"payment method {method.id!r}"
        if not isinstance(method.id, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", method.id):
            found.fail(subject, "the id goes into /api/payment/<id>/notify: letters, digits, '.', '_' and '-' only")
        if not isinstance(method.name, str) or not method.name.strip():
            found.fail(subject, "give the method a name: users pick it in the wallet")
        if not isinstance(method.currency, str) or not re.fullmatch(r"[A-Z]{3}", method.currency):
            found.fail(subject, f"currency {method.currency!r} is not an ISO 4217 code such as 'USD'")
        for name in ("create_order", "verify_notice"):
            if not is_async(getattr(method, name)):
                found.fail(subject, f"{name} must be a coroutine function (async def)")
        if found.failed_for(subject):
            continue
        body = "&".join(f"{k}={v}" for k, v in FORGED_NOTICE.items()).encode()
        callback = PaymentCallback(
            query=dict(FORGED_NOTICE),
            body=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
            settings=s.settings(),
        )
        try:
            notice = run_async(lambda method=method, callback=callback: method.verify_notice(callback))
        except Exception as exc:
            found.fail(
                subject,
                f"verify_notice raised {what(exc)} for a forged callback; return None for a call that is not genuine",
            )
            continue
        if isinstance(notice, PaymentNotice) and not notice.refused:
            found.fail(
                subject,
                f"verify_notice accepted a forged callback (paid={notice.paid}) signed with nothing: check the "
                "provider's signature with your secret and return None when it does not match (or a "
                "PaymentNotice with refused=True and a reason for the admin)",
            )
        elif notice is not None and not isinstance(notice, PaymentNotice):
            found.fail(subject, f"verify_notice returned {type(notice).__name__}; return a PaymentNotice or None")
        else:
            found.ok(subject, "a forged callback is refused")
    if not found.items:
        found.none("the plugin registers no payment methods")
    return found.items


KIT_STATE = "kit-state-0123456789"


def check_logins(s: PluginUnderTest) -> list[Finding]:
    found = Findings("logins")
    for method in own(s.contributions.login_methods, LoginMethod, "login method", found):
        subject = f"login method {method.id!r}"
        if not isinstance(method.id, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", method.id):
            found.fail(subject, "the id goes into /api/oauth/<id>: letters, digits, '.', '_' and '-' only")
        if method.kind not in ("form", "redirect", "widget"):
            found.fail(subject, f"kind is {method.kind!r}; it is 'form', 'redirect' or 'widget'")
        for name in ("complete", "start") if method.kind == "redirect" else ("complete",):
            if not is_async(getattr(method, name)):
                found.fail(subject, f"{name} must be a coroutine function (async def)")
        if found.failed_for(subject):
            continue
        ctx = LoginContext(
            redirect_uri=f"http://127.0.0.1/api/oauth/{method.id}/callback", state=KIT_STATE, settings=s.settings()
        )
        if method.kind == "redirect":
            _check_start(found, subject, method, ctx)
        try:
            identity = run_async(lambda method=method, ctx=ctx: method.complete(ctx, {}))
        except LoginFailed:
            found.ok(subject, "an empty callback is refused with LoginFailed")
        except Exception as exc:
            found.fail(
                subject,
                f"complete(ctx, {{}}) raised {what(exc)}; raise LoginFailed('message') for a callback it cannot "
                "complete (other errors reach the user as a server error)",
            )
        else:
            kind = type(identity).__name__ if not isinstance(identity, Identity) else f"Identity({identity.subject!r})"
            found.fail(subject, f"complete(ctx, {{}}) returned {kind} for an empty callback; raise LoginFailed")
    if not found.items:
        found.none("the plugin registers no login methods")
    return found.items


def _check_start(found: Findings, subject: str, method: LoginMethod, ctx: LoginContext) -> None:
    assert method.start is not None
    try:
        url = run_async(lambda: method.start(ctx))
    except LoginFailed as exc:
        found.skip(
            subject + " start",
            f"start() refused with the settings given ({exc}); give the kit working settings with "
            f"kit.plugin_settings(...) to check the redirect",
        )
        return
    except Exception as exc:
        found.fail(subject, f"start(ctx) raised {what(exc)}; return the provider's URL or raise LoginFailed")
        return
    if not web_url(url):
        found.fail(subject, f"start(ctx) returned {url!r}; return the provider's http(s) URL")
    elif KIT_STATE not in url:
        found.fail(
            subject,
            "the URL from start(ctx) does not carry ctx.state: the provider must send it back, or the host "
            "cannot tell a genuine callback from a forged one",
        )
