"""Adapters, prices and stream counting, without a network."""

from __future__ import annotations

import pytest

from newapi_host.billing import pricing
from newapi_host.billing.ledger import log_row
from newapi_host.billing.pricing import PriceBook, round_half_away
from newapi_host.options import Options
from newapi_host.plugins.contracts import Usage
from newapi_host.plugins.registry import Registrar, Registry
from newapi_host.relay.errors import RelayError
from newapi_host.store import NO_AMOUNT, Outcome, decide
from newapi_openai.pricing import PRICING


def book(**options: str) -> PriceBook:
    opts = Options()
    opts._values.update(options)
    registry = Registry()
    registrar = Registrar("openai")
    registrar.pricing(PRICING)
    registry.add(registrar.contributions)
    prices = PriceBook(opts, registry)
    prices.reload()
    return prices


def test_ratio_formula_with_cache_and_group_ratios():
    prices = book(
        GroupRatio='{"default": 1, "vip": 0.5}',
        GroupGroupRatio='{"vip": {"default": 0.8}}',
        CacheRatio='{"gpt-4o": 0.5}',
    )
    price = prices.quote("gpt-4o", "default", "default")
    assert (price.model_ratio, price.completion_ratio, price.cache_ratio) == (1.25, 4, 0.5)
    usage = Usage(prompt_tokens=1000, completion_tokens=100, cached_tokens=400)
    # (600 + 400 x 0.5 + 100 x 4) x 1.25 x 1
    assert prices.charge(price, usage) == 1500
    assert prices.charge(prices.quote("gpt-4o", "vip", "vip"), usage) == 750  # group ratio 0.5
    assert prices.charge(prices.quote("gpt-4o", "vip", "default"), usage) == 1200  # vip user on default: 0.8
    assert prices.charge(price, Usage()) == 0
    assert prices.charge(prices.quote("text-embedding-3-small", "default", "default"), Usage(prompt_tokens=1)) == 1


def test_rounding_is_half_away_from_zero():
    assert [round_half_away(v) for v in (0, 0.49, 0.5, 1.5, 2.5, 37.5)] == [0, 0, 1, 2, 3, 38]
    assert [round_half_away(v) for v in (-0.49, -0.5, -1.5, -2.4, -2.5)] == [0, -1, -2, -2, -3]


def test_openai_prompts_include_their_cache_tokens():
    prices = book(ModelRatio='{"m": 1}', CacheRatio='{"m": 0.1}', CreateCacheRatio='{"m": 2}')
    price = prices.quote("m", "default", "default")
    # base = 1000 - 200 read - 300 written = 500; + 200 x 0.1 + 300 x 2 + 10 completion
    usage = Usage(prompt_tokens=1000, completion_tokens=10, cached_tokens=200, cache_creation_tokens=300)
    assert prices.charge(price, usage) == 500 + 20 + 600 + 10
    # a prompt read entirely from the cache pays the cache ratio only; the base never goes below 0
    assert prices.charge(price, Usage(prompt_tokens=300, cached_tokens=300)) == 30
    assert prices.charge(price, Usage(prompt_tokens=100, cached_tokens=150)) == 15


def test_a_priced_call_costs_at_least_one_and_a_free_one_nothing():
    prices = book(ModelRatio='{"m": 1, "free": 0}', CacheRatio='{"m": 0.1}', GroupRatio='{"default": 1, "gift": 0}')
    tiny = Usage(prompt_tokens=2, cached_tokens=2)  # 2 x 0.1 = 0.2 rounds to 0
    assert prices.charge(prices.quote("m", "default", "default"), tiny) == 1
    usage = Usage(prompt_tokens=500, completion_tokens=50)
    assert prices.charge(prices.quote("free", "default", "default"), usage) == 0  # model ratio 0
    assert prices.charge(prices.quote("m", "default", "gift"), usage) == 0  # group ratio 0
    assert prices.quote("free", "default", "default").free and prices.quote("m", "default", "gift").free
    assert not prices.quote("m", "default", "default").free
    per_call = book(ModelPrice='{"zero": 0, "one": 1}')
    assert per_call.quote("zero", "default", "default").free and not per_call.quote("one", "default", "default").free


def test_anthropic_semantics_and_one_hour_cache_writes():
    prices = book(ModelRatio='{"claude-x": 1.5}', CompletionRatio='{"claude-x": 5}', CacheRatio='{"claude-x": 0.1}')
    price = prices.quote("claude-x", "default", "default")
    usage = Usage(
        prompt_tokens=100,
        completion_tokens=10,
        cached_tokens=1000,
        cache_creation_tokens=300,
        cache_creation_1h_tokens=100,
        prompt_excludes_cache=True,
    )
    expected = (100 + 1000 * 0.1 + 200 * 1.25 + 100 * 1.25 * 1.6 + 10 * 5) * 1.5
    assert prices.charge(price, usage) == round_half_away(expected)


def test_per_call_price_and_admin_overrides():
    prices = book(ModelPrice='{"dall-e-3": 0.04, "flat": 0.002}', ModelRatio='{"gpt-4o": 2}')
    assert prices.charge(prices.quote("dall-e-3", "default", "default"), Usage()) == 20_000  # 0.04 x 500000
    assert prices.quote("gpt-4o", "default", "default").model_ratio == 2  # admin value beats the default
    assert prices.quote("gpt-4o-mini", "default", "default").model_ratio == 0.075  # other defaults stay
    with pytest.raises(RelayError) as err:
        prices.quote("unpriced-model", "default", "default")
    assert err.value.status == 403 and err.value.code == "model_price_error" and "unpriced-model" in str(err.value)
    assert book(SelfUseModeEnabled="true").quote("unpriced-model", "default", "default").model_ratio == 37.5


def test_a_kept_quote_never_outlives_self_use_mode():
    """Quotes are kept until the price tables reload; one that only self-use mode priced is
    re-checked against the switch every time, so turning it off refuses at once."""
    prices = book(SelfUseModeEnabled="true")
    assert prices.quote("unpriced-model", "default", "default").model_ratio == 37.5
    assert prices.quote("gpt-4o", "default", "default").model_ratio == 1.25
    prices.options._values["SelfUseModeEnabled"] = "false"  # no reload yet
    with pytest.raises(RelayError) as err:
        prices.quote("unpriced-model", "default", "default")
    assert err.value.code == "model_price_error"
    assert prices.quote("gpt-4o", "default", "default").model_ratio == 1.25  # a priced model is unaffected


def test_kept_quotes_are_bounded(monkeypatch):
    monkeypatch.setattr(pricing, "MAX_KEPT_QUOTES", 3)
    prices = book(SelfUseModeEnabled="true")
    for n in range(7):
        assert prices.quote(f"model-{n}", "default", "default").model_ratio == 37.5
        assert len(prices._quotes) <= 3
    assert prices.quote("gpt-4o", "vip", "default").model_ratio == 1.25


def test_a_log_row_records_only_what_it_is_given():
    """An error-log row (type 5) names no quota, tokens, channel, address or upstream id of its own."""
    row = log_row(type=5, user_id=7, username="u", token_id=3, token_name="k", group="default", model="m")
    assert row["quota"] == 0 and row["prompt_tokens"] == 0 and row["completion_tokens"] == 0
    assert row["content"] == "" and row["use_time"] == 0 and row["is_stream"] is False
    assert row["channel_id"] == 0 and row["request_id"] == "" and row["ip"] == ""
    assert row["upstream_request_id"] == "" and row["other"] == "{}"


def test_hold_formula_and_trust_bypass():
    prices = book()
    price = prices.quote("gpt-4o", "default", "default")
    assert prices.hold_amount(price, prompt_tokens=100, max_tokens=1000) == int((500 + 1000) * 1.25)
    assert prices.hold_amount(price, prompt_tokens=2000, max_tokens=None) == int(2000 * 1.25)
    # n answers: room for max_tokens each; the prompt is read once.
    assert prices.hold_amount(price, prompt_tokens=100, max_tokens=1000, n=3) == int((500 + 3000) * 1.25)
    assert prices.hold_amount(price, prompt_tokens=2000, max_tokens=None, n=3) == int(2000 * 1.25)
    per_call = book(ModelPrice='{"flat": 0.002}').quote("flat", "default", "default")
    assert book().hold_amount(per_call, prompt_tokens=10, max_tokens=100, n=5) == 1000  # one call, one price
    trust = prices.trust_line()
    assert trust == 5_000_000  # 10 USD
    assert decide(5_000_001, None, NO_AMOUNT, trust) is Outcome.TRUSTED  # unlimited key
    assert decide(5_000_000, None, NO_AMOUNT, trust) is Outcome.NEED_AMOUNT
    assert decide(9_000_000, 100, NO_AMOUNT, trust) is Outcome.NEED_AMOUNT  # a limited key below the line
    assert decide(9_000_000, 5_000_001, NO_AMOUNT, trust) is Outcome.TRUSTED


def test_options_that_move_holds_and_per_call_charges():
    prices = book(PreConsumedQuota="100", QuotaPerUnit="1000", ModelPrice='{"flat": 0.04}', GroupRatio='{"vip": 2}')
    price = prices.quote("gpt-4o", "default", "default")
    assert price.group_ratio == 1  # a group missing from GroupRatio counts as 1
    assert prices.hold_amount(price, prompt_tokens=10, max_tokens=None) == int(100 * 1.25)
    flat = prices.quote("flat", "vip", "vip")
    assert prices.charge(flat, Usage()) == 80 and prices.hold_amount(flat, 0, None) == 80  # 0.04 x 1000 x 2
    assert prices.trust_line() == 10_000
