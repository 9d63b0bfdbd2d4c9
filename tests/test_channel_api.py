"""Channel creation, key creation and the channel test route, through the management API."""

from __future__ import annotations

from newapi_host.auth.users import create_user
from newapi_host.db.tables import Channel

from .conftest import LOCAL_UPSTREAMS, as_root, login, running
from .upstreams import shared_fake_openai


async def test_create_and_test_channels(db_config):
    up = shared_fake_openai()
    async with running(db_config) as client:
        await as_root(client)
        await client.app.state.host.options.set_many(LOCAL_UPSTREAMS)
        r = await client.post(
            "/api/channel/",
            json={"mode": "single", "channel": {"type": 1, "key": "sk-a", "base_url": up.url, "models": "m-ok, m2"}},
        )
        good = r.json()["data"]["id"]
        row = await Channel.select().where(Channel.id == good).first()
        assert row["models"] == "m-ok,m2" and row["group"] == "default" and row["status"] == 1

        r = await client.get(f"/api/channel/test/{good}")
        body = r.json()
        assert body["success"] is True and body["message"] == "" and body["time"] >= 0
        assert (await Channel.select(Channel.response_time).where(Channel.id == good).first())["response_time"] >= 0
        assert up.requests_for("m-ok")[-1]["json"]["max_tokens"] == 16

        r = await client.post(
            "/api/channel/",
            json={"type": 1, "key": "sk-b", "base_url": up.url, "models": "m-fail-500", "test_model": "m-fail-500"},
        )
        bad = r.json()["data"]["id"]
        r = await client.get(f"/api/channel/test/{bad}")
        assert r.json()["success"] is False and "500" in r.json()["message"]

        # An automatically disabled channel that passes its test is enabled again when
        # AutomaticEnableChannelEnabled is on (New API's ShouldEnableChannel); a manual one is not.
        await Channel.update({Channel.status: 3}).where(Channel.id == good)
        assert (await client.get(f"/api/channel/test/{good}")).json()["success"]
        assert (await Channel.select(Channel.status).where(Channel.id == good).first())["status"] == 3
        await client.app.state.host.options.set_many({"AutomaticEnableChannelEnabled": "true"})
        assert (await client.get(f"/api/channel/test/{good}")).json()["success"]
        assert (await Channel.select(Channel.status).where(Channel.id == good).first())["status"] == 1
        await Channel.update({Channel.status: 2}).where(Channel.id == good)
        await client.get(f"/api/channel/test/{good}")
        assert (await Channel.select(Channel.status).where(Channel.id == good).first())["status"] == 2

        assert (await client.get("/api/channel/test/99999")).json()["success"] is False


async def test_channel_and_token_input_validation_and_roles(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        cases = [
            ({"type": 1, "models": "m"}, "key"),
            ({"type": 1, "key": "k"}, "models"),
            ({"type": 9999, "key": "k", "models": "m"}, "channel type 9999 is not available"),
            ({"type": "one", "key": "k", "models": "m"}, "type"),
            ({"type": 1, "key": "k", "models": "m", "weight": -3}, "weight"),
            ({"type": 1, "key": "k", "models": "m", "model_mapping": "{not json"}, "model_mapping"),
            ({"type": 1, "key": "k", "models": "m", "name": "x" * 300}, "name"),
            ({"mode": "bulk", "channel": {"type": 1, "key": "k", "models": "m"}}, "mode"),
        ]
        for body, fragment in cases:
            r = await client.post("/api/channel/", json=body)
            assert r.status_code == 200 and r.json()["success"] is False, body
            assert fragment in r.json()["message"], (body, r.json())
        assert await Channel.count() == 0  # nothing half-written

        for body, fragment in [
            ({"remain_quota": -1}, "remain_quota"),
            ({"unlimited_quota": "maybe"}, "unlimited_quota"),
            ({"expired_time": 5}, "expired_time"),
            ({"name": "n" * 60}, "name"),
        ]:
            r = await client.post("/api/token/", json=body)
            assert r.json()["success"] is False and fragment in r.json()["message"], (body, r.json())

        await create_user("alice", "alice-pass-1")
        await client.get("/api/user/logout")
        anonymous = await client.post("/api/channel/", json={"type": 1, "key": "k", "models": "m"})
        assert anonymous.status_code == 401
        await login(client, "alice", "alice-pass-1")
        assert (await client.post("/api/channel/", json={"type": 1, "key": "k", "models": "m"})).status_code == 403
        assert (await client.get("/api/channel/test/1")).status_code == 403
        r = await client.post("/api/token/", json={"name": "mine", "remain_quota": 1000})
        assert r.json()["success"] and r.json()["data"]["key"].startswith("sk-")
