"""What a request costs and what it may hold, end to end, with real prices and groups.

Every figure below is worked out by hand from docs/billing.md, for a user whose group is not the
default one and whose key uses yet another group, so that each factor of the formula shows: a
model ratio, a completion ratio, a per-call price, ``GroupRatio`` and ``GroupGroupRatio``, New
API's rounding half away from zero, and the pre-consume hold. The fake upstream reports 11 prompt
and 7 completion tokens for every chat answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from .gateway import Gateway, start_gateway, unique
from .upstreams import FakeUpstream, shared_fake_openai

MSG = [{"role": "user", "content": "hi"}]
RATIO_MODEL = unique("ratio")  # model ratio 1.5, completion ratio 2
CALL_MODEL = unique("call")  # 0.003 USD per call


@pytest.fixture(scope="module")
def up() -> FakeUpstream:
    return shared_fake_openai()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, up: FakeUpstream) -> Iterator[Gateway]:
    gw = start_gateway(tmp_path_factory.mktemp("gw"))
    gw.option(
        SelfUseModeEnabled="false",
        ModelRatio={RATIO_MODEL: 1.5},
        CompletionRatio={RATIO_MODEL: 2},
        ModelPrice={CALL_MODEL: 0.003},
        GroupRatio={"default": 1, "vip": 2, "svip": 0.5},
        GroupGroupRatio={"vip": {"svip": 0.25}},  # a vip user's keys in svip pay a quarter
    )
    for group in ("default", "vip", "svip"):
        gw.channel(base_url=up.url, models=[RATIO_MODEL, CALL_MODEL], group=group)
    yield gw
    gw.stop()


def spend(gw: Gateway, *, quota: int, user_group: str, key_group: str = "", **body: object) -> tuple[int, int]:
    """One chat request: (HTTP status, quota charged to the wallet)."""
    uid = gw.user(quota=quota, group=user_group)
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token(uid, group=key_group), max_retries=0)
    try:
        client.chat.completions.create(messages=MSG, **body)  # type: ignore[call-overload]
        status = 200
    except openai.APIStatusError as exc:
        status = exc.status_code
    gw.flush()
    return status, quota - gw.user_row(uid)["quota"]


def ratios(log: dict) -> tuple[float, float, float, float, float]:
    """What the consume log's ``other`` says the call was priced at, as New API's log details show it."""
    other = json.loads(log["other"])
    names = ("model_ratio", "completion_ratio", "cache_ratio", "model_price", "group_ratio")
    return tuple(other[name] for name in names)  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("user_group", "key_group", "group_ratio", "charged"),
    [
        # (11 + 7 x 2) x 1.5 = 37.5 -> 38: half rounds away from zero, never down
        ("default", "", 1, 38),
        # the user's own group: x 2 -> 75
        ("vip", "", 2, 75),
        # a key in svip: GroupGroupRatio[vip][svip] = 0.25 wins over GroupRatio[svip] -> 9.375 -> 9
        ("vip", "svip", 0.25, 9),
        # another user's key in svip: GroupRatio[svip] = 0.5 -> 18.75 -> 19
        ("default", "svip", 0.5, 19),
    ],
)
def test_ratio_priced_charges_apply_both_groups_and_round_half_away(gw, user_group, key_group, group_ratio, charged):
    status, paid = spend(gw, quota=10**8, user_group=user_group, key_group=key_group, model=RATIO_MODEL)
    assert (status, paid) == (200, charged)
    log = gw.logs(model_name=RATIO_MODEL)[-1]
    assert log["quota"] == charged and (log["prompt_tokens"], log["completion_tokens"]) == (11, 7)
    assert log["group"] == (key_group or user_group)
    assert ratios(log) == (1.5, 2, 1, -1, group_ratio)  # model_price -1: priced by ratios


@pytest.mark.parametrize(
    ("user_group", "key_group", "group_ratio", "charged"),
    [("default", "", 1, 1500), ("vip", "", 2, 3000), ("vip", "svip", 0.25, 375), ("svip", "", 0.5, 750)],
)
def test_per_call_prices_apply_the_group_ratio(gw, user_group, key_group, group_ratio, charged):
    assert spend(gw, quota=10**8, user_group=user_group, key_group=key_group, model=CALL_MODEL) == (200, charged)
    log = gw.logs(model_name=CALL_MODEL)[-1]
    assert log["quota"] == charged and ratios(log)[3:] == (0.003, group_ratio)


@pytest.mark.parametrize(
    ("user_group", "key_group", "wallet", "status"),
    [
        # hold = trunc((max(prompt, PreConsumedQuota 500) + max_tokens 1000) x 1.5 x group)
        ("default", "", 2250, 200),  # exactly the hold
        ("default", "", 2249, 403),
        ("vip", "", 4500, 200),  # x 2
        ("vip", "", 4499, 403),
        ("vip", "svip", 562, 200),  # x 0.25 = 562.5 -> 562 (a hold truncates)
        ("vip", "svip", 561, 403),
    ],
)
def test_the_hold_applies_the_group_ratio(gw, user_group, key_group, wallet, status):
    result, paid = spend(
        gw, quota=wallet, user_group=user_group, key_group=key_group, model=RATIO_MODEL, max_tokens=1000
    )
    assert result == status
    assert paid == ({"default": 38, "vip": 75}[user_group] if not key_group else 9) * (status == 200)


def test_per_call_hold_and_a_wallet_spent_down_in_one_worker(gw):
    """A vip wallet of three calls (3 x 3000) pays three, then is refused: no second chance."""
    uid = gw.user(quota=9000, group="vip")
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token(uid), max_retries=0)
    answers = []
    for _ in range(4):
        try:
            client.chat.completions.create(model=CALL_MODEL, messages=MSG)
            answers.append(200)
        except openai.PermissionDeniedError as exc:
            answers.append(exc.status_code)
            assert "user quota is not enough" in exc.message
    assert answers == [200, 200, 200, 403]
    gw.flush()
    assert gw.user_row(uid)["quota"] == 0 and gw.balance(f"u{uid}") == 0


@pytest.mark.parametrize(
    ("user_group", "key_group", "wallet", "status"),
    [
        # hold = trunc(0.003 x 500000 x group): the whole price of the call, before it is made
        ("vip", "", 3000, 200),
        ("vip", "", 2999, 403),
        ("vip", "svip", 375, 200),
        ("vip", "svip", 374, 403),
    ],
)
def test_the_hold_of_a_per_call_model(gw, user_group, key_group, wallet, status):
    result, paid = spend(gw, quota=wallet, user_group=user_group, key_group=key_group, model=CALL_MODEL)
    assert (result, paid) == (status, wallet * (status == 200))
