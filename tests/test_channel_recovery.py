"""Automatic channel re-enable (``AutomaticEnableChannelEnabled``): a once-per-cluster job tests
what the gateway disabled and brings back what passes; what an admin disabled stays off."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from newapi_host.db.tables import Channel
from newapi_host.jobs import JobRunner
from newapi_host.relay.recovery import recovery_job

from .conftest import LOCAL_UPSTREAMS, eventually, free_port, running, wait_until
from .gateway import start_gateway, unique

MSG = [{"role": "user", "content": "hi"}]
JOB = "core:channel-recovery"


class FlakyUpstream:
    """A real OpenAI chat server on 127.0.0.1 that refuses the keys in ``broken`` with a 401."""

    def __init__(self) -> None:
        self.broken: set[str] = set()
        self.seen: list[str] = []  # the key of every request, in order
        self.port = free_port()

    async def start(self) -> Any:
        from aiohttp import web

        async def chat(request: web.Request) -> web.Response:
            key = request.headers.get("Authorization", "").removeprefix("Bearer ")
            self.seen.append(key)
            if key in self.broken:
                return web.json_response({"error": {"message": "Incorrect API key provided"}}, status=401)
            body = await request.json()
            return web.json_response(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 1,
                    "model": body["model"],
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            )

        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        return runner

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def gw(tmp_path):
    gateway = start_gateway(tmp_path, channel_test_interval=0.2)
    yield gateway
    gateway.stop()


def test_auto_disabled_channels_and_keys_come_back_only_with_the_option_on(gw):
    gw.option(
        **LOCAL_UPSTREAMS,
        AutomaticDisableChannelEnabled="true",
        AutomaticDisableChannelErrorThreshold="1",
        RetryTimes="0",
    )
    up = FlakyUpstream()
    runner = gw.run(up.start())
    try:
        single, multi, manual = unique(), unique(), unique()
        a = gw.channel(base_url=up.url, models=[single], key="sk-a")
        m = gw.channel(
            base_url=up.url,
            models=[multi],
            key="sk-k0\nsk-k1\nsk-k2",
            channel_info={
                "is_multi_key": True,
                "multi_key_size": 3,
                "multi_key_mode": "polling",
                "multi_key_status_list": {"2": 2},
            },  # an admin turned key 2 off
        )
        off = gw.channel(base_url=up.url, models=[manual], key="sk-off", status=2)  # an admin turned it off
        c = openai.OpenAI(base_url=gw.base_url, api_key=gw.token(gw.user()), max_retries=0)

        # The upstream fails: the relay disables the channel and the failing key.
        up.broken = {"sk-a", "sk-k0"}
        with pytest.raises(openai.AuthenticationError):
            c.chat.completions.create(model=single, messages=MSG)
        for _ in range(2):  # polling: k0 fails once, then only k1 is used
            try:
                c.chat.completions.create(model=multi, messages=MSG)
            except openai.AuthenticationError:
                pass
        assert gw.channel_row(a)["status"] == 3
        assert json.loads(gw.channel_row(m)["channel_info"])["multi_key_status_list"] == {"0": 3, "2": 2}

        # It recovers, but the option is off (New API's default): the job leaves everything alone.
        up.broken = set()
        probes = len(up.seen)
        turns = gw.host.jobs.turns.get(JOB, 0)
        wait_until(lambda: gw.host.jobs.turns.get(JOB, 0) >= turns + 3, what="three turns of the job")
        assert gw.host.jobs.runs.get(JOB, 0) == 0 and len(up.seen) == probes
        assert gw.channel_row(a)["status"] == 3
        # An admin's channel test passes now, but without the option it enables nothing (New API).
        admin = gw.session("admin", role=100)
        assert admin.get(f"/api/channel/test/{a}").json()["success"] is True
        assert gw.channel_row(a)["status"] == 3

        # Option on: the next run tests the channel and the key, passes and enables them again.
        gw.option(AutomaticEnableChannelEnabled="true")
        wait_until(lambda: gw.channel_row(a)["status"] == 1, what="the channel enabled again")
        wait_until(
            lambda: json.loads(gw.channel_row(m)["channel_info"])["multi_key_status_list"] == {"2": 2},
            what="the key enabled again",
        )
        # Every worker's index picks it up: the channel serves, and the key is in rotation again.
        wait_until(lambda: gw.host.relay.index.has("default", single), what="the index to reload")
        assert c.chat.completions.create(model=single, messages=MSG).choices[0].message.content == "ok"
        wait_until(lambda: gw.host.relay.index.by_id[m].enabled_keys() == [0, 1], what="the key back in rotation")
        before = len(up.seen)
        for _ in range(4):
            c.chat.completions.create(model=multi, messages=MSG)
        assert sorted(set(up.seen[before:])) == ["sk-k0", "sk-k1"]

        # An admin's decision stands: the channel and key they disabled were never tested or enabled.
        runs = gw.host.jobs.runs.get(JOB, 0)
        wait_until(lambda: gw.host.jobs.runs.get(JOB, 0) >= runs + 2, what="two more runs")
        assert gw.channel_row(off)["status"] == 2
        assert "sk-off" not in up.seen and "sk-k2" not in up.seen
    finally:
        gw.run(runner.cleanup())


async def test_two_runners_share_one_lease_and_a_failing_channel_stays_off(sqlite_config):
    """Two workers (or nodes) schedule the job; only the lease holder probes; a failing probe keeps it off;
    one passing key brings back a multi-key channel that was off because every key had failed."""
    up = FlakyUpstream()
    upstream = await up.start()
    try:
        async with running(sqlite_config) as client:
            host = client.app.state.host
            await host.options.set_many({**LOCAL_UPSTREAMS, "AutomaticEnableChannelEnabled": "true"})
            up.broken = {"sk-bad"}
            channel = Channel(type=1, key="sk-bad", name="bad", base_url=up.url, models="m-r", status=3)
            await channel.save()
            # a multi-key channel the relay turned off once all its keys failed; one key works again
            info = {"is_multi_key": True, "multi_key_size": 2, "multi_key_status_list": {"0": 3, "1": 3}}
            keys = Channel(type=1, key="sk-bad\nsk-good", name="keys", base_url=up.url, models="m-r", status=3)
            keys.channel_info = json.dumps(info)
            await keys.save()
            job = recovery_job(lambda: host.relay, 0.05)
            a = JobRunner(host.registry, host.states, client.app.state, core_jobs=(job,))
            b = JobRunner(host.registry, host.states, client.app.state, core_jobs=(job,))
            a.start()
            b.start()
            await eventually(lambda: a.runs.get(JOB, 0) + b.runs.get(JOB, 0) >= 4, what="four runs")
            await eventually(lambda: a.turns.get(JOB, 0) >= 4 and b.turns.get(JOB, 0) >= 4, what="both scheduling")
            await a.stop()
            await b.stop()
            assert min(a.runs.get(JOB, 0), b.runs.get(JOB, 0)) == 0  # one holder ran them all
            assert up.seen.count("sk-bad") >= 4 + 3  # tested each run (as the channel and as key 0), and failed
            assert up.seen.count("sk-good") == 1  # enabled by its first test, not tested again
            rows = {r["id"]: r for r in await Channel.select(Channel.id, Channel.status, Channel.channel_info)}
            assert rows[channel.id]["status"] == 3
            assert rows[keys.id]["status"] == 1
            assert json.loads(rows[keys.id]["channel_info"])["multi_key_status_list"] == {"0": 3}
    finally:
        await upstream.cleanup()


def test_channel_test_frequency_is_in_minutes_as_new_api():
    from newapi_host.config import Config

    assert Config.from_env({"CHANNEL_TEST_FREQUENCY": "0.5"}).channel_test_interval == 30.0
    assert Config.from_env({}).channel_test_interval == 600.0  # New API's auto_test_channel_minutes
    assert Config.from_env({"CHANNEL_TEST_FREQUENCY": "0"}).channel_test_interval == 600.0
