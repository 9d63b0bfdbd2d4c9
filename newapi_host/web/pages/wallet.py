"""The signed-in user's wallet: redeem a code, top up through the enabled payment methods (an amount,
or one of the Creem products the admin listed in ``CreemProducts``), top-up history."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import page, pager, signed_in_only, table, text

STRINGS = {
    "en": {
        "wallet_title": "Wallet",
        "wallet_redeem_title": "Redeem a code",
        "wallet_code": "Redemption code",
        "wallet_code_placeholder": "Enter your redemption code",
        "wallet_redeem": "Redeem",
        "wallet_redeemed": "Added {amount}",
        "wallet_topup_title": "Online top-up",
        "wallet_topup_unavailable": "Online top-up is not available; redeem a code or contact the administrator.",
        "wallet_amount": "Amount (USD)",
        "wallet_min_topup": "Minimum top-up: {amount}",
        "wallet_below_min": "The amount must be a whole number of at least {amount}.",
        "wallet_pay_with": "Pay with {name}",
        "wallet_discount": "{percent}% off",
        "wallet_topup_history": "Top-up history",
        "wallet_redeem_history": "Redemption history",
        "wallet_trade_no": "Order number",
        "wallet_payment_method": "Payment method",
        "wallet_topup_amount": "Amount",
        "wallet_money": "Paid",
        "wallet_created": "Created",
        "wallet_completed": "Completed",
        "wallet_status_pending": "Pending",
        "wallet_status_success": "Paid",
        "wallet_status_failed": "Failed",
        "wallet_status_expired": "Expired",
        "wallet_no_topups": "No top-up orders yet.",
        "wallet_no_redemptions": "No redemptions yet.",
        "wallet_detail": "Details",
        "wallet_products_title": "Buy a package with Creem",
        "wallet_product_quota": "{amount} credit",
    },
    "zh": {
        "wallet_title": "钱包",
        "wallet_redeem_title": "兑换码充值",
        "wallet_code": "兑换码",
        "wallet_code_placeholder": "请输入兑换码",
        "wallet_redeem": "兑换",
        "wallet_redeemed": "已充值 {amount}",
        "wallet_topup_title": "在线充值",
        "wallet_topup_unavailable": "在线充值不可用；请使用兑换码，或联系管理员。",
        "wallet_amount": "充值金额（美元）",
        "wallet_min_topup": "最低充值：{amount}",
        "wallet_below_min": "充值金额必须是不低于 {amount} 的整数。",
        "wallet_pay_with": "使用{name}支付",
        "wallet_discount": "优惠 {percent}%",
        "wallet_topup_history": "充值记录",
        "wallet_redeem_history": "兑换记录",
        "wallet_trade_no": "订单号",
        "wallet_payment_method": "支付方式",
        "wallet_topup_amount": "充值额度",
        "wallet_money": "实付金额",
        "wallet_created": "创建时间",
        "wallet_completed": "完成时间",
        "wallet_status_pending": "待支付",
        "wallet_status_success": "已支付",
        "wallet_status_failed": "失败",
        "wallet_status_expired": "已过期",
        "wallet_no_topups": "暂无充值订单。",
        "wallet_no_redemptions": "暂无兑换记录。",
        "wallet_detail": "详情",
        "wallet_products_title": "通过 Creem 购买套餐",
        "wallet_product_quota": "额度 {amount}",
    },
}
add_strings(STRINGS)

TOPUP_COLUMNS = (
    "wallet_trade_no",
    "wallet_payment_method",
    "wallet_topup_amount",
    "wallet_money",
    "status",
    "wallet_created",
    "wallet_completed",
)
REDEEM_COLUMNS = ("time", "wallet_detail")


@get("/console/wallet", include_in_schema=False)
async def wallet_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := signed_in_only(request):
        return refused
    lang = lang_of(request)
    body = f"""<div class="stats">
<div class="card stat"><span>{text(lang, "balance")}</span><strong data-stat="quota">–</strong></div>
<div class="card stat"><span>{text(lang, "used_quota")}</span><strong data-stat="used_quota">–</strong></div>
<div class="card stat"><span>{text(lang, "request_count")}</span><strong data-stat="request_count">–</strong></div>
</div>
<section class="card wallet-box">
<h2>{text(lang, "wallet_redeem_title")}</h2>
<form class="wallet-row" data-form="redeem">
<label>{text(lang, "wallet_code")}<input name="key" type="text" required maxlength="64" autocomplete="off"
 placeholder="{text(lang, "wallet_code_placeholder")}"></label>
<button type="submit">{text(lang, "wallet_redeem")}</button>
</form>
</section>
<section class="card wallet-box" data-topup>
<h2>{text(lang, "wallet_topup_title")}</h2>
<p data-topup-state>{text(lang, "loading")}</p>
<form class="wallet-topup" data-form="topup" hidden>
<div class="wallet-presets" data-amount-options></div>
<div class="wallet-row">
<label>{text(lang, "wallet_amount")}<input name="amount" type="number" min="1" step="1" required></label>
<small class="help" data-min-topup></small>
</div>
<div class="wallet-methods" data-pay-methods></div>
</form>
<div class="wallet-topup" data-creem hidden>
<h3>{text(lang, "wallet_products_title")}</h3>
<div class="wallet-products" data-creem-products></div>
</div>
</section>
<h2 class="wallet-heading">{text(lang, "wallet_topup_history")}</h2>
{table(lang, "topups", TOPUP_COLUMNS)}
{pager(lang, "topups")}
<h2 class="wallet-heading">{text(lang, "wallet_redeem_history")}</h2>
{table(lang, "topup-logs", REDEEM_COLUMNS)}
{pager(lang, "topup-logs")}"""
    return page(request, "wallet", "wallet_title", body, active="/console/wallet", script="wallet.js")


ROUTES = [wallet_page]
