"""Channel choice: weights, priority tiers, retries that never repeat a channel, mapping."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator

import openai
import pytest

from newapi_host.relay.channels import ChannelIndex, entry_from_row, weighted_choice

from .conftest import LOCAL_UPSTREAMS, wait_until
from .gateway import Gateway, start_gateway, unique
from .upstreams import FakeUpstream, shared_fake_openai

MSG = [{"role": "user", "content": "hi"}]


def entry(id: int, weight: int = 0, priority: int = 0, **row):
    return entry_from_row({"id": id, "type": 1, "key": f"k{id}", "weight": weight, "priority": priority, **row})


def test_weighted_draw_follows_weights():
    rng = random.Random(7)
    channels = [entry(1, 10), entry(2, 30), entry(3, 60)]
    counts = Counter(weighted_choice(channels, rng).id for _ in range(20_000))
    for cid, share in ((1, 0.1), (2, 0.3), (3, 0.6)):
        assert abs(counts[cid] / 20_000 - share) < 0.02, counts


def test_new_api_weight_rules_all_zero_and_small_weights():
    rng = random.Random(3)
    zeros = Counter(weighted_choice([entry(1), entry(2)], rng).id for _ in range(10_000))
    assert abs(zeros[1] - zeros[2]) < 600  # all-zero weights: equal chances
    small = Counter(weighted_choice([entry(1, 1), entry(2, 3)], rng).id for _ in range(10_000))
    assert abs(small[1] / 10_000 - 0.25) < 0.02  # scaled by 100, proportions kept
    standby = Counter(weighted_choice([entry(1, 0), entry(2, 5)], rng).id for _ in range(1_000))
    assert standby[1] == 0  # weight 0 next to positive weights is a stand-by


def test_index_tiers_and_exclusion():
    index = ChannelIndex(registry=_AllTypes())
    rows = [
        {"id": 1, "type": 1, "key": "a", "models": "m", "group": "default", "priority": 10, "status": 1},
        {"id": 2, "type": 1, "key": "b", "models": "m", "group": "default", "priority": 10, "status": 1},
        {"id": 3, "type": 1, "key": "c", "models": "m", "group": "default,vip", "priority": 0, "status": 1},
        {"id": 4, "type": 1, "key": "d", "models": "m", "group": "default", "priority": 99, "status": 2},
    ]
    index.build([entry_from_row(row) for row in rows])
    assert index.pick("default", "m", set()).id in {1, 2}  # top tier; #4 is disabled
    assert index.pick("default", "m", {1}).id == 2  # rest of the tier first
    assert index.pick("default", "m", {1, 2}).id == 3  # then down a tier
    assert index.pick("default", "m", {1, 2, 3}) is None  # never a repeat
    assert index.pick("vip", "m", set()).id == 3


class _AllTypes:
    def channel_type(self, type_id):
        return object()


def test_model_mapping_chain_and_cycle():
    chained = entry(1, model_mapping='{"alias": "mid", "mid": "real", "real": "real"}')
    assert chained.map_model("alias") == "real" and chained.map_model("other") == "other"
    cyclic = entry(2, model_mapping='{"a": "b", "b": "c", "c": "a"}')
    with pytest.raises(Exception, match="cycle"):
        cyclic.map_model("a")


# -- end to end ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def up() -> FakeUpstream:
    return shared_fake_openai()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = start_gateway(tmp_path_factory.mktemp("gw"))
    gw.option(RetryTimes="3")
    yield gw
    gw.stop()


def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=gw.token(gw.user()), max_retries=0)


def channels(gw: Gateway, up: FakeUpstream, model: str, specs: list[tuple[str, int, str]]) -> dict[str, int]:
    """specs: (name, priority, upstream model the channel maps to); keys are sk-<name>."""
    return {
        name: gw.channel(
            base_url=up.url, models=[model], key=f"sk-{name}", priority=priority, model_mapping={model: target}
        )
        for name, priority, target in specs
    }


def keys_used(up: FakeUpstream, model: str) -> list[str]:
    return [
        r["headers"]["authorization"].removeprefix("Bearer sk-")
        for r in up.requests
        if model in ((r["json"] or {}).get("model") or "")
    ]


def test_priority_fallback_on_5xx_and_log_names_tried_channels(gw, up):
    model = unique()
    ids = channels(gw, up, model, [("hi", 10, f"{model}-fail-500"), ("lo", 0, f"{model}-ok")])
    r = client(gw).chat.completions.create(model=model, messages=MSG)
    assert r.choices[0].message.content == f"Hello from {model}-ok"
    assert keys_used(up, model) == ["hi", "lo"]
    other = gw.logs(model_name=model)[-1]["other"]
    assert f'"use_channel":["{ids["hi"]}","{ids["lo"]}"]' in other
    assert '"upstream_model_name":"' + f'{model}-ok"' in other


def test_429_is_retried_on_another_channel(gw, up):
    model = unique()
    channels(gw, up, model, [("busy", 5, f"{model}-fail-429"), ("free", 0, f"{model}-ok")])
    assert client(gw).chat.completions.create(model=model, messages=MSG).choices[0].message.content.endswith("-ok")
    assert keys_used(up, model) == ["busy", "free"]


def test_400_is_not_retried(gw, up):
    model = unique()
    channels(gw, up, model, [("strict", 5, f"{model}-fail-400"), ("spare", 0, f"{model}-ok")])
    with pytest.raises(openai.BadRequestError):
        client(gw).chat.completions.create(model=model, messages=MSG)
    assert keys_used(up, model) == ["strict"]


def test_no_channel_is_tried_twice(gw, up):
    gw.option(RetryTimes="10")
    try:
        model = unique()
        channels(gw, up, model, [(f"c{i}", i % 2, f"{model}-fail-503") for i in range(3)])
        with pytest.raises(openai.InternalServerError) as err:
            client(gw).chat.completions.create(model=model, messages=MSG)
        assert err.value.status_code == 503
        used = keys_used(up, model)
        assert sorted(used) == ["c0", "c1", "c2"]  # each once, although 10 retries were allowed
        assert gw.logs(model_name=model) == []  # nothing charged
    finally:
        gw.option(RetryTimes="3")


def test_retry_budget_is_respected(gw, up):
    gw.option(RetryTimes="1")
    try:
        model = unique()
        channels(gw, up, model, [(f"r{i}", 0, f"{model}-fail-500") for i in range(4)])
        with pytest.raises(openai.InternalServerError):
            client(gw).chat.completions.create(model=model, messages=MSG)
        assert len(keys_used(up, model)) == 2  # the first try and one retry
    finally:
        gw.option(RetryTimes="3")


def test_disabled_channels_are_never_chosen(gw, up):
    model = unique()
    gw.channel(base_url=up.url, models=[model], key="sk-off", status=2, priority=100)
    gw.channel(base_url=up.url, models=[model], key="sk-auto-off", status=3, priority=100)
    gw.channel(base_url=up.url, models=[model], key="sk-on")
    c = client(gw)
    for _ in range(10):
        c.chat.completions.create(model=model, messages=MSG)
    assert set(keys_used(up, model)) == {"on"}


def test_weights_spread_real_requests(gw, up):
    model = unique()
    gw.channel(base_url=up.url, models=[model], key="sk-w1", weight=20)
    gw.channel(base_url=up.url, models=[model], key="sk-w4", weight=80)
    c = client(gw)
    for _ in range(200):
        c.chat.completions.create(model=model, messages=MSG)
    counts = Counter(keys_used(up, model))
    assert 20 <= counts["w1"] <= 65 and counts["w1"] + counts["w4"] == 200, counts


def test_model_mapping_upstream_name_and_billing_name(gw, up):
    model = unique("alias")
    gw.channel(base_url=up.url, models=[model], model_mapping={model: f"{model}-mid", f"{model}-mid": f"{model}-real"})
    r = client(gw).chat.completions.create(model=model, messages=MSG)
    assert r.choices[0].message.content == f"Hello from {model}-real"
    log = gw.logs(model_name=model)[-1]  # billed and logged under the requested name
    assert '"is_model_mapped":true' in log["other"]


def test_mapping_cycle_is_a_clear_error(gw, up):
    model = unique()
    gw.channel(base_url=up.url, models=[model], model_mapping={model: "x", "x": model})
    with pytest.raises(openai.InternalServerError) as err:
        client(gw).chat.completions.create(model=model, messages=MSG)
    assert "cycle" in str(err.value)


def test_param_and_header_overrides(gw, up):
    model = unique()
    gw.channel(
        base_url=up.url,
        models=[model],
        key="sk-secret",
        param_override={"temperature": 0.1, "user": "gateway"},
        header_override={"X-Api-Key-Copy": "{api_key}", "X-Team": "blue"},
    )
    client(gw).chat.completions.create(model=model, messages=MSG, temperature=0.9)
    sent = up.requests_for(model)[-1]
    assert sent["json"]["temperature"] == 0.1 and sent["json"]["user"] == "gateway"
    assert sent["headers"]["x-api-key-copy"] == "sk-secret" and sent["headers"]["x-team"] == "blue"


def test_multi_key_channel_round_robin(gw, up):
    model = unique()
    gw.channel(
        base_url=up.url,
        models=[model],
        key="sk-k1\nsk-k2\nsk-k3",
        channel_info={"is_multi_key": True, "multi_key_size": 3, "multi_key_mode": "polling"},
    )
    c = client(gw)
    for _ in range(6):
        c.chat.completions.create(model=model, messages=MSG)
    assert keys_used(up, model) == ["k1", "k2", "k3", "k1", "k2", "k3"]


def test_forced_channel_is_for_admins_only(gw, up):
    gw.option(**LOCAL_UPSTREAMS)  # a forced channel is an admin-initiated fetch: the SSRF settings apply
    model = unique()
    first = gw.channel(base_url=up.url, models=[model], key="sk-first", priority=10)
    second = gw.channel(base_url=up.url, models=[model], key="sk-second", priority=0)
    admin_key = gw.token(gw.user(role=10))
    forced = openai.OpenAI(base_url=gw.base_url, api_key=f"{admin_key}-{second}", max_retries=0)
    forced.chat.completions.create(model=model, messages=MSG)
    assert keys_used(up, model) == ["second"]
    common = openai.OpenAI(base_url=gw.base_url, api_key=f"{gw.token(gw.user())}-{first}", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        common.chat.completions.create(model=model, messages=MSG)


def test_auto_disable_after_n_errors_in_window_never_on_429(gw, up):
    gw.option(AutomaticDisableChannelEnabled="true", AutomaticDisableChannelErrorThreshold="2", RetryTimes="0")
    try:
        model = unique()
        limited = gw.channel(base_url=up.url, models=[model], key="sk-429", model_mapping={model: f"{model}-fail-429"})
        c = client(gw)
        for _ in range(4):
            with pytest.raises(openai.RateLimitError):
                c.chat.completions.create(model=model, messages=MSG)
        assert gw.channel_row(limited)["status"] == 1  # 429 never disables

        model2 = unique()
        bad = gw.channel(base_url=up.url, models=[model2], key="sk-401", model_mapping={model2: f"{model2}-fail-401"})
        with pytest.raises(openai.AuthenticationError):
            c.chat.completions.create(model=model2, messages=MSG)
        assert gw.channel_row(bad)["status"] == 1  # one error is not enough
        with pytest.raises(openai.AuthenticationError):
            c.chat.completions.create(model=model2, messages=MSG)
        assert gw.channel_row(bad)["status"] == 3  # the second within the window disables it
        with pytest.raises(openai.NotFoundError):  # no enabled channel serves the model any more
            c.chat.completions.create(model=model2, messages=MSG)

        # The channel test re-enables it once it passes (here: its mapping is fixed first), when
        # AutomaticEnableChannelEnabled is on, as New API's ShouldEnableChannel.
        gw.option(**LOCAL_UPSTREAMS)
        gw.run(_fix_mapping(bad, model2))
        probe = gw.run(_probe(gw, bad, model2))
        assert probe.passed, probe.detail
        assert gw.channel_row(bad)["status"] == 3
        gw.option(AutomaticEnableChannelEnabled="true")
        assert gw.run(_probe(gw, bad, model2)).passed
        assert gw.channel_row(bad)["status"] == 1
        assert c.chat.completions.create(model=model2, messages=MSG).choices[0].message.content
    finally:
        gw.option(AutomaticDisableChannelEnabled="false", AutomaticEnableChannelEnabled="false", RetryTimes="3")


async def _fix_mapping(channel_id: int, model: str) -> None:
    from newapi_host.db.tables import Channel

    await Channel.update({Channel.model_mapping: "{}"}).where(Channel.id == channel_id)


async def _probe(gw: Gateway, channel_id: int, model: str):
    from newapi_host.relay.health import probe_channel

    return await probe_channel(gw.host.relay, channel_id, model)


def test_status_code_mapping_makes_a_400_retryable(gw, up):
    model = unique()
    gw.channel(
        base_url=up.url,
        models=[model],
        key="sk-picky",
        priority=5,
        model_mapping={model: f"{model}-fail-400"},
        status_code_mapping={"400": "500"},
    )
    gw.channel(base_url=up.url, models=[model], key="sk-fine", model_mapping={model: f"{model}-ok"})
    assert client(gw).chat.completions.create(model=model, messages=MSG).choices[0].message.content.endswith("-ok")
    assert keys_used(up, model) == ["picky", "fine"]


async def _key_checking_upstream(port: int):
    """An upstream that refuses one key with 401 and answers the others."""
    from aiohttp import web

    async def chat(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") == "Bearer sk-bad":
            return web.json_response({"error": {"message": "Incorrect API key provided"}}, status=401)
        body = await request.json()
        return web.json_response(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def test_failing_key_of_a_multi_key_channel_is_disabled_alone(gw):
    from .gateway import free_port

    gw.option(AutomaticDisableChannelEnabled="true", AutomaticDisableChannelErrorThreshold="1", RetryTimes="0")
    port = free_port()
    runner = gw.run(_key_checking_upstream(port))
    try:
        model = unique()
        cid = gw.channel(
            base_url=f"http://127.0.0.1:{port}",
            models=[model],
            key="sk-good\nsk-bad",
            channel_info={"is_multi_key": True, "multi_key_size": 2, "multi_key_mode": "polling"},
        )
        c = client(gw)
        outcomes = []
        for _ in range(2):
            try:
                c.chat.completions.create(model=model, messages=MSG)
                outcomes.append("ok")
            except openai.AuthenticationError:
                outcomes.append("401")
        assert sorted(outcomes) == ["401", "ok"]
        info = json.loads(gw.channel_row(cid)["channel_info"])
        assert info["multi_key_status_list"] == {"1": 3}
        assert gw.channel_row(cid)["status"] == 1  # the channel stays on with its good key
        for _ in range(4):  # the index reloaded: only the good key is used now
            assert c.chat.completions.create(model=model, messages=MSG).choices[0].message.content == "ok"
    finally:
        gw.run(runner.cleanup())
        gw.option(AutomaticDisableChannelEnabled="false", RetryTimes="3")


def test_disabled_key_takes_effect_within_a_second(gw, up):
    from newapi_host.db.tables import Token
    from newapi_host.sync import bump

    model = unique()
    gw.channel(base_url=up.url, models=[model])
    key = gw.token(gw.user())
    c = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    c.chat.completions.create(model=model, messages=MSG)  # now cached

    async def disable() -> None:
        await Token.update({Token.status: 2}).where(Token.key == key.removeprefix("sk-"))
        await bump("tokens")  # what an admin edit does

    gw.run(disable())

    def refused() -> bool:  # every worker drops its cached copy within the sync interval
        try:
            c.chat.completions.create(model=model, messages=MSG)
        except openai.AuthenticationError:
            return True
        return False

    wait_until(refused, timeout=5, what="the disabled key being refused")


async def _reasoning_upstream(port: int):
    """An upstream whose answers carry reasoning_content, streamed and not."""
    from aiohttp import web

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        body = {"id": "r", "object": "chat.completion.chunk", "created": 1, "model": "r"}
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if not body.get("stream"):
            message = {"role": "assistant", "content": "42", "reasoning_content": "thinking hard"}
            return web.json_response(
                {
                    "id": "r",
                    "object": "chat.completion",
                    "created": 1,
                    "model": "r",
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for piece in (
            chunk({"role": "assistant", "content": ""}),
            chunk({"reasoning_content": "thinking "}),
            chunk({"reasoning_content": "hard"}),
            chunk({"content": "42"}),
            chunk({}, "stop"),
            b"data: [DONE]\n\n",
        ):
            await response.write(piece)
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def test_thinking_to_content_setting(gw):
    from .gateway import free_port

    port = free_port()
    runner = gw.run(_reasoning_upstream(port))
    try:
        plain, folded = unique(), unique()
        gw.channel(base_url=f"http://127.0.0.1:{port}", models=[plain])
        gw.channel(base_url=f"http://127.0.0.1:{port}", models=[folded], setting={"thinking_to_content": True})
        c = client(gw)
        kept = c.chat.completions.create(model=plain, messages=MSG).choices[0].message
        assert kept.content == "42" and kept.model_extra["reasoning_content"] == "thinking hard"
        moved = c.chat.completions.create(model=folded, messages=MSG).choices[0].message
        assert moved.content == "<think>thinking hard</think>42"
        text = "".join(
            ch.choices[0].delta.content or ""
            for ch in c.chat.completions.create(model=folded, messages=MSG, stream=True)
            if ch.choices
        )
        assert text == "<think>thinking hard</think>42"
    finally:
        gw.run(runner.cleanup())
