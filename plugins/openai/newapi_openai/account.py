"""What the console's channel tools read from an OpenAI-compatible account: its models, its balance.

The model list is ``GET {api root}/models`` (or the preset's own path, such as Ollama's
``/api/tags``). Balances come from each vendor's own endpoint, for the vendors that have one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from newapi_host.sdk import Balance, ChannelView, Fetch, UpstreamFailed

from .presets import VendorPreset


def _root(base_url: str) -> str:
    from .adapter import api_root

    return api_root(base_url)


def _auth(channel: ChannelView) -> dict[str, str]:
    return {"Authorization": f"Bearer {channel.key}", "Accept": "application/json"}


async def list_models(preset: VendorPreset, channel: ChannelView, fetch: Fetch) -> list[str]:
    base = channel.base_url.rstrip("/")
    path = preset.models_path
    url = _root(base) + path[3:] if path.startswith("/v1/") else base + path
    payload = await fetch(url, headers=_auth(channel))
    if isinstance(payload, dict) and isinstance(payload.get("data"), list):
        return [m.get("id") for m in payload["data"] if isinstance(m, dict)]
    if isinstance(payload, dict) and isinstance(payload.get("models"), list):  # Ollama's /api/tags
        return [m.get("name") for m in payload["models"] if isinstance(m, dict)]
    raise UpstreamFailed("the upstream model list has an unexpected shape")


def _number(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UpstreamFailed(f"the upstream answer has no usable {what}") from None


async def _object(fetch: Fetch, url: str, channel: ChannelView) -> dict[str, Any]:
    payload = await fetch(url, headers=_auth(channel))
    if not isinstance(payload, dict):
        raise UpstreamFailed("the upstream balance answer is not a JSON object")
    return payload


async def _openai(channel: ChannelView, fetch: Fetch) -> Balance:
    """OpenAI's dashboard billing API: the hard limit minus this period's usage (in cents)."""
    root = _root(channel.base_url)
    sub = await _object(fetch, f"{root}/dashboard/billing/subscription", channel)
    today = dt.date.today()
    start = today.replace(day=1) if sub.get("has_payment_method") else today - dt.timedelta(days=100)
    usage = await _object(
        fetch, f"{root}/dashboard/billing/usage?start_date={start:%Y-%m-%d}&end_date={today:%Y-%m-%d}", channel
    )
    return Balance(
        _number(sub.get("hard_limit_usd"), "hard_limit_usd") - _number(usage.get("total_usage", 0), "total_usage") / 100
    )


async def _openrouter(channel: ChannelView, fetch: Fetch) -> Balance:
    data = (await _object(fetch, f"{_root(channel.base_url)}/credits", channel)).get("data") or {}
    return Balance(
        _number(data.get("total_credits"), "total_credits") - _number(data.get("total_usage", 0), "total_usage")
    )


async def _moonshot(channel: ChannelView, fetch: Fetch) -> Balance:
    payload = await _object(fetch, f"{_root(channel.base_url)}/users/me/balance", channel)
    if not payload.get("status") or payload.get("code") not in (0, None):
        raise UpstreamFailed(f"the upstream refused the balance query (code {payload.get('code')})")
    return Balance(_number((payload.get("data") or {}).get("available_balance"), "available_balance"), "CNY")


async def _siliconflow(channel: ChannelView, fetch: Fetch) -> Balance:
    payload = await _object(fetch, f"{_root(channel.base_url)}/user/info", channel)
    if payload.get("code") != 20000:
        raise UpstreamFailed(f"the upstream refused the balance query (code {payload.get('code')})")
    return Balance(_number((payload.get("data") or {}).get("totalBalance"), "totalBalance"), "CNY")


async def _deepseek(channel: ChannelView, fetch: Fetch) -> Balance:
    payload = await _object(fetch, f"{channel.base_url.rstrip('/')}/user/balance", channel)
    infos = payload.get("balance_infos") or []
    by_currency = {i.get("currency"): i for i in infos if isinstance(i, dict)}
    for currency in ("USD", "CNY"):
        if currency in by_currency:
            return Balance(_number(by_currency[currency].get("total_balance"), "total_balance"), currency)  # type: ignore[arg-type]
    raise UpstreamFailed("the upstream reported no USD or CNY balance")


# New API's balance readers, by channel type: OpenAI and Custom (its dashboard billing API),
# OpenRouter, Moonshot, SiliconFlow, DeepSeek.
BALANCE_READERS: dict[int, Callable[[ChannelView, Fetch], Awaitable[Balance]]] = {
    1: _openai,
    8: _openai,
    20: _openrouter,
    25: _moonshot,
    40: _siliconflow,
    43: _deepseek,
}
