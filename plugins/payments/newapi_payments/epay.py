"""Epay (易支付): the ``submit.php`` redirect and its MD5-signed notify, as New API speaks it.

The user picks one of ``PayMethods`` (``alipay``, ``wxpay``, custom types) in the wallet;
``POST /api/user/pay`` opens the order and sends the browser to ``{PayAddress}/submit.php`` with
the signed parameters. The gateway later calls the notify URL (``/api/user/epay/notify``, New
API's path, or the host's ``/api/payment/epay/notify``) with ``trade_status=TRADE_SUCCESS`` and
the same kind of signature; the answer is ``success`` or ``fail`` as Epay expects.

The signature: the parameters sorted by name, empty values and ``sign`` / ``sign_type`` left
out, joined as ``k=v&k=v``, the merchant key appended, MD5 in lowercase hex.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from litestar import HttpMethod, Request, Response, route
from pydantic import BaseModel, Field, SecretStr

from newapi_host.sdk import (
    PaymentCallback,
    PaymentMethod,
    PaymentNotice,
    PaymentOrder,
    Registrar,
    hookimpl,
    payment_notice,
)

from .config import option, pick, pick_json

NEWAPI_SDK = ">=1.2,<2"
NEWAPI_CONFORMANCE = "newapi_payments.conformance:epay"

# New API's default PayMethods.
DEFAULT_PAY_METHODS = [
    {"name": "Alipay", "color": "rgba(var(--semi-blue-5), 1)", "type": "alipay"},
    {"name": "WeChat Pay", "color": "rgba(var(--semi-green-5), 1)", "type": "wxpay"},
]
SUCCESS = "TRADE_SUCCESS"


class EpaySettings(BaseModel):
    """A field naming a New API option in parentheses mirrors that option (see ``config``)."""

    pay_address: str = Field(
        "",
        description="Epay gateway address, e.g. https://pay.example.com (PayAddress)",
        json_schema_extra=option("PayAddress"),
    )
    epay_id: str = Field("", description="Merchant id, pid (EpayId)", json_schema_extra=option("EpayId"))
    epay_key: SecretStr = Field(
        SecretStr(""), description="Merchant key used to sign (EpayKey)", json_schema_extra=option("EpayKey")
    )
    pay_methods: str = Field(
        "",
        description='Pay types offered, JSON: [{"name": "Alipay", "type": "alipay", "color": "..."}] (PayMethods)',
        json_schema_extra=option("PayMethods"),
    )


def _settings(value: Any) -> EpaySettings:
    return value if isinstance(value, EpaySettings) else EpaySettings()


def config(settings: Any, options: Mapping[str, str]) -> tuple[str, str, str]:
    """``(pay_address, merchant id, key)``, settings first, then the options."""
    s = _settings(settings)
    address = pick(s.pay_address, options, "PayAddress").rstrip("/")
    return address, pick(s.epay_id, options, "EpayId"), pick(s.epay_key, options, "EpayKey")


def signature(params: Mapping[str, str], key: str) -> str:
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sign", "sign_type") and params[k] != "")
    return hashlib.md5((text + key).encode()).hexdigest()


def is_signed(params: Mapping[str, str], key: str) -> bool:
    given = params.get("sign", "")
    return bool(key) and bool(given) and hmac.compare_digest(given.lower(), signature(params, key))


def pay_types(settings: Any, options: Mapping[str, str]) -> list[dict[str, str]]:
    """New API's ``PayMethods`` entries (name, type, color, min_topup), as strings; none until the
    merchant is configured (New API's ``enable_online_topup``)."""
    if not all(config(settings, options)):
        return []
    listed = pick_json(_settings(settings).pay_methods, options, "PayMethods", DEFAULT_PAY_METHODS)
    if not isinstance(listed, list):
        return []
    return [
        {str(k): str(v) for k, v in entry.items()}
        for entry in listed
        if isinstance(entry, dict) and isinstance(entry.get("type"), str) and entry["type"] and entry.get("name")
    ]


async def create_order(order: PaymentOrder) -> str:
    address, pid, key = config(order.settings, order.options)
    if not address or not pid or not key:
        raise RuntimeError("Epay is not configured: set the gateway address, merchant id and key")
    params = {
        "pid": pid,
        "type": order.pay_type,
        "out_trade_no": order.trade_no,
        "notify_url": order.notify_url,
        "return_url": order.return_url,
        "name": f"TUC{order.amount}",
        "money": f"{order.money:.2f}",
        "device": "pc",
    }
    params["sign"] = signature(params, key)
    params["sign_type"] = "MD5"
    return f"{address}/submit.php?{urlencode(params)}"


async def verify_notice(callback: PaymentCallback) -> PaymentNotice | None:
    _, pid, key = config(callback.settings, callback.options)
    params = dict(callback.query)
    if not params and callback.body:
        params = dict(parse_qsl(callback.body.decode("utf-8", "replace"), keep_blank_values=True))
    claimed = params.get("out_trade_no", "")
    if not claimed:
        return None
    if not is_signed(params, key):
        return refused(claimed, "bad signature" if params.get("sign") else "no signature")
    if params.get("pid") and params["pid"] != pid:
        return refused(claimed, "another merchant's notice (pid is not EpayId)")
    if (status := params.get("trade_status")) != SUCCESS:
        # New API answers success and changes nothing: the gateway reports a state it will follow up.
        return PaymentNotice(trade_no=claimed, paid=False, ignore=True, reason=f"trade_status {status!r}: not paid")
    try:
        money = float(params.get("money", ""))
    except ValueError:
        return refused(claimed, "money is not a number")
    if not math.isfinite(money):
        return refused(claimed, "money is not a number")
    return PaymentNotice(trade_no=claimed, paid=True, money=money)


def refused(trade_no: str, reason: str) -> PaymentNotice:
    return PaymentNotice(trade_no=trade_no, paid=False, refused=True, reason=reason, reply=b"fail")


METHOD = PaymentMethod(
    id="epay",
    name="Epay",
    create_order=create_order,
    verify_notice=verify_notice,
    currency="CNY",
    pay_types=pay_types,
    form_post=True,
)


@route("/api/user/epay/notify", http_method=[HttpMethod.GET, HttpMethod.POST], status_code=200)
async def epay_notify(request: Request[Any, Any, Any]) -> Response[bytes]:
    """New API's notify path, settled by the host exactly as ``/api/payment/epay/notify``."""
    return await payment_notice(request, METHOD.id)


@hookimpl
def newapi_register_payments(registry: Registrar) -> None:
    registry.payment_method(METHOD)


@hookimpl
def newapi_plugin_settings() -> type[EpaySettings]:
    return EpaySettings


@hookimpl
def newapi_routes() -> list[Any]:
    return [epay_notify]
