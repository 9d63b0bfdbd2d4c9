"""A non-root admin must not be able to send a channel's key to an address root did not choose.

Reading keys is root's; so is every path that would carry a stored key somewhere new. The attacks
run against a local sink that records every byte reaching it: copy the channel and point the copy
at the sink, re-point the channel itself (base URL, type, proxy), or ask for an ad-hoc model list,
then run the channel test, the model list and the balance. Root has allowed private addresses
(as a self-hoster with a local upstream does), so the SSRF guard is not what stops them here.
"""

from __future__ import annotations

import json
from typing import Any

from newapi_host.auth.users import create_user
from newapi_host.db.tables import Channel

from .conftest import LOCAL_UPSTREAMS, Client, as_root, login, running
from .sinks import Sink
from .upstreams import shared_fake_openai

SECRET = "sk-root-only-secret-0123456789"
ADMIN_KEY = "sk-admin-own-key-9876543210"
WHERE_TO = (Channel.key, Channel.base_url, Channel.type, Channel.setting)


async def _add(client: Client, **channel: Any) -> int:
    body = {"type": 1, "key": SECRET, "models": "m-custody", **channel}
    r = (await client.post("/api/channel/", json=body)).json()
    assert r["success"], r
    return r["data"]["id"]


async def _as_admin(client: Client) -> None:
    await create_user("admin2", "admin-pass-1", role=10)
    await client.get("/api/user/logout")
    client.headers.pop("New-Api-User", None)
    await login(client, "admin2", "admin-pass-1")


async def _use_everything(client: Client, channel_id: int) -> None:
    """Every admin tool that sends the channel's key upstream."""
    await client.get(f"/api/channel/test/{channel_id}")
    await client.get(f"/api/channel/fetch_models/{channel_id}")
    await client.post("/api/channel/fetch_models", json={"channel_id": channel_id})
    await client.get(f"/api/channel/update_balance/{channel_id}")
    await client.get("/api/channel/update_balance")
    await client.get("/api/channel/test")


async def test_admin_cannot_steer_a_stored_key_to_a_sink(sqlite_config):
    up = shared_fake_openai()
    with Sink() as sink:
        async with running(sqlite_config) as client:
            await as_root(client)
            for key, value in LOCAL_UPSTREAMS.items():
                assert (await client.put("/api/option/", json={"key": key, "value": value})).json()["success"]
            original = await _add(client, base_url=up.url, name="root's")
            for_type = await _add(client, base_url=up.url, name="typed")
            for_proxy = await _add(client, base_url=up.url, name="proxied")
            multi = (
                await client.post(
                    "/api/channel/",
                    json={
                        "mode": "multi_to_single",
                        "channel": {"type": 1, "key": f"{SECRET}\nsk-second-root-key-55", "models": "m-custody"},
                    },
                )
            ).json()["data"]["id"]
            await _as_admin(client)

            # copy, then point the copy at the sink: the copy has no key to send
            r = (await client.post(f"/api/channel/copy/{original}")).json()
            assert r["success"], r
            copy = r["data"]["id"]
            r = (await client.put("/api/channel/", json={"id": copy, "base_url": sink.url})).json()
            assert r["success"], r
            await _use_everything(client, copy)
            assert not sink.saw(SECRET)
            row = await Channel.select().where(Channel.id == copy).first()
            assert row["key"] == "" and row["status"] == 2  # keyless, so it waits disabled for a key
            r = (await client.get(f"/api/channel/test/{copy}")).json()
            assert r["success"] is False and "no key" in r["message"]

            # re-point the channel itself: refused unless the admin brings a key of their own
            for channel_id, change in (
                (original, {"base_url": sink.url}),
                (for_type, {"type": 8, "base_url": sink.url}),
                (for_type, {"type": 3}),
                (for_proxy, {"setting": {"proxy": sink.url}}),
                (multi, {"base_url": sink.url, "key": ADMIN_KEY, "key_mode": "append"}),
            ):
                before = await Channel.select(*WHERE_TO).where(Channel.id == channel_id).first()
                r = (await client.put("/api/channel/", json={"id": channel_id, **change})).json()
                await _use_everything(client, channel_id)
                assert not sink.saw(SECRET), change
                assert r["success"] is False and "root" in r["message"] and "key" in r["message"], (change, r)
                assert await Channel.select(*WHERE_TO).where(Channel.id == channel_id).first() == before

            # ad-hoc model lists: the key of a stored channel never goes to a base URL given here
            await client.post("/api/channel/fetch_models", json={"type": 1, "base_url": sink.url})
            await client.post("/api/channel/fetch_models", json={"type": 1, "base_url": sink.url, "key": ""})
            await client.post("/api/channel/fetch_models", json={"channel_id": original, "base_url": sink.url})
            assert not sink.saw(SECRET) and not sink.saw("sk-second-root-key-55")

            # with a key of their own, an admin may re-point a channel: the new key replaces the old
            r = (
                await client.put("/api/channel/", json={"id": original, "base_url": sink.url, "key": ADMIN_KEY})
            ).json()
            assert r["success"], r
            row = await Channel.select().where(Channel.id == original).first()
            assert row["key"] == ADMIN_KEY and row["base_url"] == sink.url
            await client.get(f"/api/channel/test/{original}")
            assert sink.saw(ADMIN_KEY) and not sink.saw(SECRET)
            # unchanged destination fields (the console sends the whole form back) are not a change
            r = await client.put(
                "/api/channel/",
                json={"id": for_proxy, "type": 1, "base_url": up.url, "setting": {"proxy": ""}, "name": "renamed"},
            )
            assert r.json()["success"], r.json()


async def test_root_keeps_copying_and_re_pointing_keys(sqlite_config):
    up = shared_fake_openai()
    with Sink() as sink:
        async with running(sqlite_config) as client:
            await as_root(client)
            cid = await _add(client, base_url=up.url)
            r = (await client.post(f"/api/channel/copy/{cid}")).json()
            row = await Channel.select().where(Channel.id == r["data"]["id"]).first()
            assert row["key"] == SECRET and row["status"] == 1
            r = await client.put("/api/channel/", json={"id": cid, "base_url": sink.url, "setting": {"proxy": ""}})
            assert r.json()["success"]
            row = await Channel.select().where(Channel.id == cid).first()
            assert row["key"] == SECRET and row["base_url"] == sink.url and json.loads(row["setting"])["proxy"] == ""
