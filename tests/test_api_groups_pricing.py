"""Groups, the models each user can reach, and the public pricing page data."""

from __future__ import annotations

import json

from newapi_host.auth.users import create_user
from newapi_host.db.tables import Channel

from .conftest import as_root, login, running
from .test_api_users import another_client


async def prepare(client) -> None:
    """Three groups with ratios, two channels, prices for their models."""
    host = client.app.state.host
    await host.options.set_many(
        {
            "GroupRatio": json.dumps({"default": 1, "vip": 2, "svip": 3}),
            "GroupGroupRatio": json.dumps({"default": {"vip": 1.5}}),
            "UserUsableGroups": json.dumps({"default": "Everyone", "vip": "Paid"}),
            "ModelRatio": json.dumps({"gpt-x": 2.5, "secret-z": 1}),
            "CompletionRatio": json.dumps({"gpt-x": 4}),
            "CacheRatio": json.dumps({"gpt-x": 0.1}),
            "ModelPrice": json.dumps({"img-y": 0.04}),
        }
    )
    host.relay.prices.reload()
    await Channel.insert(
        Channel(type=1, key="sk-a", name="public", models="gpt-x,img-y", group="default,vip", status=1),
        Channel(type=1, key="sk-b", name="premium", models="secret-z,gpt-x", group="svip", status=1),
        Channel(type=1, key="sk-c", name="off", models="dead-model", group="default", status=2),
    )
    await host.relay.index.load()


async def test_groups_models_and_pricing(db_config):
    async with running(db_config) as client:
        await as_root(client)
        await prepare(client)
        await create_user("ivy", "ivy-pass-1")
        await create_user("jack", "jack-pass-1", group="svip")

        r = await client.get("/api/group/")
        assert r.json()["success"] and sorted(r.json()["data"]) == ["default", "svip", "vip"]

        async with another_client(client) as anon:
            assert (await anon.get("/api/group/")).status_code == 401
            assert (await anon.get("/api/models")).status_code == 401
            assert (await anon.get("/api/user/models")).status_code == 401
            public = (await anon.get("/api/user/groups")).json()["data"]
            assert public == {"default": {"ratio": 1, "desc": "Everyone"}, "vip": {"ratio": 2, "desc": "Paid"}}

            body = (await anon.get("/api/pricing")).json()
            assert body["success"] is True and "message" not in body
            assert set(body) >= {"data", "group_ratio", "usable_group", "auto_groups", "supported_endpoint", "vendors"}
            models = {m["model_name"]: m for m in body["data"]}
            assert set(models) == {"gpt-x", "img-y"}  # secret-z only in svip; dead-model's channel is off
            gpt = models["gpt-x"]
            assert (gpt["quota_type"], gpt["model_ratio"], gpt["completion_ratio"], gpt["cache_ratio"]) == (
                0,
                2.5,
                4,
                0.1,
            )
            assert sorted(gpt["enable_groups"]) == ["default", "svip", "vip"]
            assert "openai" in gpt["supported_endpoint_types"]
            assert (models["img-y"]["quota_type"], models["img-y"]["model_price"]) == (1, 0.04)
            assert body["group_ratio"] == {"default": 1, "vip": 2}
            assert body["usable_group"] == {"default": "Everyone", "vip": "Paid"}
            assert body["auto_groups"] == ["default"]
            assert body["supported_endpoint"]["openai"] == {"path": "/v1/chat/completions", "method": "POST"}

        async with another_client(client) as ivy:
            await login(ivy, "ivy", "ivy-pass-1")
            assert (await ivy.get("/api/group/")).status_code == 403
            groups = (await ivy.get("/api/user/self/groups")).json()["data"]
            assert groups == {"default": {"ratio": 1, "desc": "Everyone"}, "vip": {"ratio": 1.5, "desc": "Paid"}}
            assert (await ivy.get("/api/user/models")).json()["data"] == ["gpt-x", "img-y"]
            assert (await ivy.get("/api/user/models", params={"group": "vip"})).json()["data"] == ["gpt-x", "img-y"]
            assert (await ivy.get("/api/user/models", params={"group": "svip"})).json()["data"] == []
            body = (await ivy.get("/api/pricing")).json()
            assert body["group_ratio"] == {"default": 1, "vip": 1.5}  # her group's special ratio
            type_models = (await ivy.get("/api/models")).json()["data"]
            assert isinstance(type_models["1"], list)

        async with another_client(client) as jack:
            await login(jack, "jack", "jack-pass-1")
            groups = (await jack.get("/api/user/self/groups")).json()["data"]
            assert set(groups) == {"default", "vip", "svip"} and groups["svip"] == {"ratio": 3, "desc": "User group"}
            assert (await jack.get("/api/user/models")).json()["data"] == ["gpt-x", "img-y", "secret-z"]
            body = (await jack.get("/api/pricing")).json()
            assert {m["model_name"] for m in body["data"]} == {"gpt-x", "img-y", "secret-z"}
            assert body["group_ratio"] == {"default": 1, "vip": 2, "svip": 3}


async def test_special_usable_groups_and_bad_options(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        await prepare(client)
        host = client.app.state.host
        await host.options.set_many(
            {"group_ratio_setting.group_special_usable_group": json.dumps({"default": {"-:vip": "", "+:svip": "Gold"}})}
        )
        await create_user("kim", "kim-pass-1")
        async with another_client(client) as kim:
            await login(kim, "kim", "kim-pass-1")
            groups = (await kim.get("/api/user/self/groups")).json()["data"]
            assert groups == {"default": {"ratio": 1, "desc": "Everyone"}, "svip": {"ratio": 3, "desc": "Gold"}}
            assert (await kim.get("/api/user/models")).json()["data"] == ["gpt-x", "img-y", "secret-z"]

            # Broken option values fall back to the defaults instead of failing the page.
            await host.options.set_many({"UserUsableGroups": "[1, 2", "AutoGroups": "{}"})
            body = (await kim.get("/api/pricing")).json()
            assert set(body["usable_group"]) == {"default", "svip"} and body["auto_groups"] == ["default"]
