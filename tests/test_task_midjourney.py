"""Midjourney-Proxy through the gateway, end to end: a real ``newapi serve`` in front of the fake
Midjourney-Proxy process. Each drawing's price is held at submit, settled on success, refunded
exactly once on failure and on timeout; bad input and other users' tasks cost nothing."""

from __future__ import annotations

import base64
import contextlib

import httpx
import pytest

from newapi_host.db.tables import LOG_CONSUME, LOG_REFUND

from .fake_task_upstreams import MJ_KEY, PNG
from .task_gateway import client, console, fake, gateway, logs_of, owner, query, wait_for  # noqa: F401

IMAGINE = 50_000  # mj_imagine: 0.1 USD x 500000 quota per USD
UPSCALE = 25_000  # mj_upscale: 0.05 USD
MODELS = ["mj_imagine", "mj_upscale", "mj_variation", "mj_reroll", "mj_describe", "mj_blend", "mj_modal", "swap_face",
          "mj_shorten", "mj_edits", "mj_upload", "mj_video"]  # fmt: skip


@pytest.fixture(scope="module")
def channel(gateway, fake) -> int:  # noqa: F811
    return gateway.channel(2, name="mj", base_url=fake.url, key=MJ_KEY, models=MODELS)


@pytest.fixture
def key(gateway, channel) -> str:  # noqa: F811
    return gateway.key(1_000_000)


def submit(gw, key: str, path: str, body: dict) -> httpx.Response:
    with client(gw, key) as c:
        return c.post(path, json=body)


def task(gw, key: str, mj_id: str) -> dict:
    with client(gw, key) as c:
        return c.get(f"/mj/task/{mj_id}/fetch").json()


def finished(gw, key: str, mj_id: str) -> dict:
    return wait_for(lambda: (t := task(gw, key, mj_id))["status"] in ("SUCCESS", "FAILURE") and t, what="the task")


def test_imagine_is_held_at_submit_and_settled_on_success(gateway, key, fake):  # noqa: F811
    r = submit(gateway, key, "/mj/submit/imagine", {"prompt": "a lighthouse at dawn --fast", "notifyHook": "http://x"})
    assert r.status_code == 200 and r.json()["code"] == 1, r.text
    mj_id = r.json()["result"]
    assert owner(gateway, key)["quota"] == 1_000_000 - IMAGINE  # held from the moment it was accepted
    seen = set()
    done = wait_for(lambda: seen.add(task(gateway, key, mj_id)["status"]) or "SUCCESS" in seen, what="success")
    assert done and "IN_PROGRESS" in seen or "SUBMITTED" in seen
    result = task(gateway, key, mj_id)
    assert result["progress"] == "100%" and result["buttons"][0]["label"] == "U1"
    assert result["imageUrl"] == f"{gateway.url}/mj/image/{mj_id}"  # MjForwardUrlEnabled: served by the gateway
    assert owner(gateway, key)["quota"] == 1_000_000 - IMAGINE
    consumed = logs_of(gateway, key, LOG_CONSUME)
    assert [(r["model_name"], r["quota"]) for r in consumed] == [("mj_imagine", IMAGINE)]
    assert not logs_of(gateway, key, LOG_REFUND)
    with client(gateway, key) as c:
        image = c.get(f"/mj/image/{mj_id}")
    assert image.status_code == 200 and image.content == PNG and image.headers["content-type"] == "image/png"
    sent = fake.state()["submits"][-1]["body"]
    assert "notifyHook" not in sent  # MjNotifyEnabled is off by default: the client's hook is not forwarded


def test_failure_is_refunded_exactly_once(gateway, key, fake):  # noqa: F811
    r = submit(gateway, key, "/mj/submit/imagine", {"prompt": "FAIL this one"})
    mj_id = r.json()["result"]
    assert owner(gateway, key)["quota"] == 1_000_000 - IMAGINE
    result = finished(gateway, key, mj_id)
    assert result["status"] == "FAILURE" and result["failReason"] == "Banned prompt detected"
    wait_for(lambda: owner(gateway, key)["quota"] == 1_000_000, what="the refund")
    hang = submit(gateway, key, "/mj/submit/imagine", {"prompt": "HANG to keep the poller busy"}).json()["result"]
    polls = fake.state()["polls"]
    wait_for(lambda: fake.state()["polls"] >= polls + 3, what="more polls")  # later passes change nothing
    assert task(gateway, key, hang)["status"] == "IN_PROGRESS"
    refunds = logs_of(gateway, key, LOG_REFUND)
    assert [(r["model_name"], r["quota"]) for r in refunds] == [("mj_imagine", IMAGINE)]
    assert owner(gateway, key)["quota"] == 1_000_000 - IMAGINE  # only the hanging one is held


def test_a_task_that_never_finishes_is_refunded_at_the_timeout(gateway, key):  # noqa: F811
    mj_id = submit(gateway, key, "/mj/submit/imagine", {"prompt": "HANG forever"}).json()["result"]
    wait_for(lambda: task(gateway, key, mj_id)["status"] == "IN_PROGRESS", what="progress")
    assert task(gateway, key, mj_id)["progress"] == "50%"
    assert owner(gateway, key)["quota"] == 1_000_000 - IMAGINE
    result = finished(gateway, key, mj_id)
    assert (result["status"], result["failReason"]) == ("FAILURE", "task timed out")
    assert owner(gateway, key)["quota"] == 1_000_000
    assert len(logs_of(gateway, key, LOG_REFUND)) == 1


def test_actions_follow_their_task_to_its_channel_and_are_priced_per_action(gateway, key, fake):  # noqa: F811
    mj_id = submit(gateway, key, "/mj/submit/imagine", {"prompt": "a red fox"}).json()["result"]
    early = submit(gateway, key, "/mj/submit/change", {"taskId": mj_id, "action": "UPSCALE", "index": 1})
    assert early.status_code == 400
    assert early.json() == {"description": "task_status_not_success", "type": "upstream_error", "code": 4}
    finished(gateway, key, mj_id)
    up = submit(gateway, key, "/mj/submit/change", {"taskId": mj_id, "action": "UPSCALE", "index": 1})
    assert up.json()["code"] == 1, up.text
    plus = submit(gateway, key, "/mj/submit/action", {"taskId": mj_id, "customId": f"MJ::JOB::upsample::2::{mj_id}"})
    assert plus.json()["code"] == 1, plus.text
    simple = submit(gateway, key, "/mj/submit/simple-change", {"content": f"{mj_id} U3"})
    assert simple.json()["code"] == 1, simple.text
    paths = [s["path"] for s in fake.state()["submits"][-3:]]
    assert paths == ["/mj/submit/change", "/mj/submit/action", "/mj/submit/simple-change"]
    assert owner(gateway, key)["quota"] == 1_000_000 - IMAGINE - 3 * UPSCALE
    charged = [(r["model_name"], r["quota"]) for r in logs_of(gateway, key, LOG_CONSUME)]
    assert charged == [("mj_imagine", IMAGINE)] + [("mj_upscale", UPSCALE)] * 3
    with client(gateway, key) as c:
        seed = c.get(f"/mj/task/{mj_id}/image-seed").json()
        listed = c.post("/mj/task/list-by-condition", json={"ids": [mj_id, up.json()["result"], "nope"]}).json()
    assert seed["result"] == "4242"
    assert sorted(t["id"] for t in listed) == sorted([mj_id, up.json()["result"]])


def test_mode_routes_price_their_own_models(gateway, key, fake):  # noqa: F811
    gateway.option("ModelPrice", {"mj_turbo_imagine": 0.2})
    r = submit(gateway, key, "/mj-turbo/mj/submit/imagine", {"prompt": "a fast cat"})
    assert r.json()["code"] == 1, r.text
    assert fake.state()["submits"][-1]["path"] == "/mj/submit/imagine"
    assert [(x["model_name"], x["quota"]) for x in logs_of(gateway, key, LOG_CONSUME)] == [
        ("mj_turbo_imagine", 100_000)
    ]
    assert submit(gateway, key, "/mj-warp/mj/submit/imagine", {"prompt": "x"}).status_code == 404


def test_the_key_may_come_in_mj_api_secret(gateway, key):  # noqa: F811
    with httpx.Client(base_url=gateway.url, headers={"Authorization": "midjourney-proxy", "mj-api-secret": key}) as c:
        assert c.post("/mj/submit/imagine", json={"prompt": "x"}).json()["code"] == 1
    with httpx.Client(base_url=gateway.url) as c:
        assert c.post("/mj/submit/imagine", json={"prompt": "x"}).status_code == 401


BIG = base64.b64encode(b"\0" * 40_000).decode()


@pytest.mark.parametrize(
    ("path", "body", "description"),
    [
        ("/mj/submit/imagine", {}, "prompt_is_required"),
        ("/mj/submit/imagine", {"prompt": "  "}, "prompt_is_required"),
        ("/mj/submit/change", {"taskId": "1", "action": "EXPLODE", "index": 1}, "unknown_action: 'EXPLODE'"),
        ("/mj/submit/action", {"taskId": "1", "customId": "MJ::JOB::explode::1"}, "unknown_action: customId"),
        ("/mj/submit/paint", {"prompt": "x"}, "unknown_action: /mj/submit/paint"),
        ("/mj/submit/change", {"taskId": "1", "action": "UPSCALE"}, "index_is_required"),
        ("/mj/submit/simple-change", {"content": "123 X9"}, "content_parse_failed"),
        ("/mj/submit/imagine", {"prompt": "x", "base64Array": [BIG]}, "base64_image_too_large"),
        ("/mj/submit/describe", {"base64": "not base64!"}, "base64_image_invalid"),
        ("/mj/submit/blend", {"base64Array": [base64.b64encode(b"a").decode()]}, "base64_array_needs"),
        ("/mj/insight-face/swap", {"sourceBase64": "aGk="}, "sour_base64_and_target_base64_is_required"),
    ],
)
def test_bad_input_gets_a_midjourney_error_and_costs_nothing(gateway, key, path, body, description):  # noqa: F811
    gateway.plugin_settings("midjourney", max_image_mb=0.02)
    r = submit(gateway, key, path, body)
    assert r.status_code in (400, 404), r.text
    assert r.json()["type"] == "upstream_error" and r.json()["description"].startswith(description), r.text
    assert owner(gateway, key)["quota"] == 1_000_000 and not logs_of(gateway, key, LOG_CONSUME)


def test_bad_json_and_a_rejected_prompt_cost_nothing(gateway, key, fake):  # noqa: F811
    with client(gateway, key) as c:
        r = c.post("/mj/submit/imagine", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["description"] == "bind_request_body_failed"
    rejected = submit(gateway, key, "/mj/submit/imagine", {"prompt": "REJECT me"})
    assert rejected.json()["code"] == 24  # the upstream's own answer, passed through
    assert owner(gateway, key)["quota"] == 1_000_000 and not logs_of(gateway, key, LOG_CONSUME)
    poor = gateway.key(10_000)
    short = submit(gateway, poor, "/mj/submit/imagine", {"prompt": "x"})
    assert short.status_code == 400 and short.json()["description"] == "quota_not_enough"
    assert owner(gateway, poor)["quota"] == 10_000


def test_code_21_with_a_finished_image_is_charged_and_done_at_once(gateway, key):  # noqa: F811
    r = submit(gateway, key, "/mj/submit/imagine", {"prompt": "EXISTS already"})
    assert r.json()["code"] == 1  # 21 is reported as 1, as New API does
    assert task(gateway, key, r.json()["result"])["status"] == "SUCCESS"
    assert owner(gateway, key)["quota"] == 1_000_000 - IMAGINE


def test_another_users_tasks_do_not_exist_on_any_route(gateway, key):  # noqa: F811
    mine = submit(gateway, key, "/mj/submit/imagine", {"prompt": "private drawing"}).json()["result"]
    finished(gateway, key, mine)
    other = gateway.key(1_000_000)
    with client(gateway, other) as c:
        assert c.get(f"/mj/task/{mine}/fetch").json()["description"] == "task_no_found"
        assert c.get(f"/mj-fast/mj/task/{mine}/fetch").json()["description"] == "task_no_found"
        assert c.post("/mj/task/list-by-condition", json={"ids": [mine]}).json() == []
        assert c.get(f"/mj/task/{mine}/image-seed").json()["description"] == "task_no_found"
        assert c.get(f"/mj/image/{mine}").status_code == 400
        for path, body in [
            ("/mj/submit/change", {"taskId": mine, "action": "UPSCALE", "index": 1}),
            ("/mj/submit/action", {"taskId": mine, "customId": f"MJ::JOB::upsample::1::{mine}"}),
            ("/mj/submit/simple-change", {"content": f"{mine} V1"}),
            ("/mj/submit/modal", {"taskId": mine, "prompt": "x"}),
            ("/mj/submit/video", {"taskId": mine}),
        ]:
            r = c.post(path, json=body)
            assert r.status_code == 400 and r.json()["description"] == "task_not_found", (path, r.text)
    assert owner(gateway, other)["quota"] == 1_000_000 and not logs_of(gateway, other, LOG_CONSUME)


def test_drawing_lists_show_each_user_their_own(gateway, key, channel):  # noqa: F811
    mine = submit(gateway, key, "/mj/submit/imagine", {"prompt": "listed drawing"}).json()["result"]
    finished(gateway, key, mine)
    other = gateway.key(1_000_000)
    submit(gateway, other, "/mj/submit/imagine", {"prompt": "someone else's"})
    with contextlib.closing(console(gateway, key)) as c:
        page = c.get("/api/mj/self", params={"p": 1, "page_size": 10}).json()["data"]
        assert [i["mj_id"] for i in page["items"]] == [mine] and page["total"] == 1
        item = page["items"][0]
        assert item["image_url"].endswith(f"/mj/image/{mine}") and item["quota"] == IMAGINE
        assert item["channel_id"] == 0 and "token_id" not in item
        assert c.get("/api/mj/self", params={"mj_id": "nope"}).json()["data"]["items"] == []
        assert c.get("/api/mj/").status_code == 403
        image = c.get(f"/mj/image/{mine}")  # the Drawings page's thumbnail: the session is enough
        assert image.status_code == 200 and image.content == PNG
    with contextlib.closing(console(gateway, other)) as c:
        assert mine not in [i["mj_id"] for i in c.get("/api/mj/self").json()["data"]["items"]]
        assert c.get(f"/mj/image/{mine}").status_code == 400
    everyone = gateway.admin.get("/api/mj/", params={"channel_id": channel, "page_size": 100}).json()["data"]
    assert mine in [i["mj_id"] for i in everyone["items"]] and everyone["total"] >= 2
    assert gateway.admin.get("/api/mj/", params={"channel_id": 999}).json()["data"]["items"] == []


def test_options_shape_what_the_upstream_gets(gateway, key, fake):  # noqa: F811
    body = {"prompt": "a boat --relax", "notifyHook": "http://client/hook", "accountFilter": {"channelId": "1"}}
    submit(gateway, key, "/mj/submit/imagine", body)
    sent = fake.state()["submits"][-1]["body"]
    assert sent["prompt"] == "a boat --relax" and "notifyHook" not in sent and "accountFilter" not in sent
    for option in ("MjNotifyEnabled", "MjAccountFilterEnabled", "MjModeClearEnabled"):
        gateway.option(option, "true")
    try:
        submit(gateway, key, "/mj/submit/imagine", body)
        sent = fake.state()["submits"][-1]["body"]
        assert sent["prompt"] == "a boat" and sent["notifyHook"] == "http://client/hook"
        assert sent["accountFilter"] == {"channelId": "1"}
    finally:
        for option in ("MjNotifyEnabled", "MjAccountFilterEnabled", "MjModeClearEnabled"):
            gateway.option(option, "false")
    gateway.option("MjForwardUrlEnabled", "false")
    try:
        mj_id = submit(gateway, key, "/mj/submit/imagine", {"prompt": "direct url"}).json()["result"]
        assert finished(gateway, key, mj_id)["imageUrl"] == f"{fake.url}/images/{mj_id}.png"
    finally:
        gateway.option("MjForwardUrlEnabled", "true")
    gateway.option("MjActionCheckSuccessEnabled", "false")
    try:
        hanging = submit(gateway, key, "/mj/submit/imagine", {"prompt": "HANG still drawing"}).json()["result"]
        early = submit(gateway, key, "/mj/submit/change", {"taskId": hanging, "action": "VARIATION", "index": 2})
        assert early.json()["code"] == 1, early.text  # allowed on an unfinished task when the check is off
    finally:
        gateway.option("MjActionCheckSuccessEnabled", "true")


def test_no_available_account_disables_the_channel_and_costs_nothing(gateway, fake):  # noqa: F811
    vip = gateway.channel(2, name="mj-vip", base_url=fake.url, key=MJ_KEY, models=["mj_imagine"], group="vip")
    gateway.option("AutomaticDisableChannelEnabled", "true")
    try:
        key = gateway.key(1_000_000, group="vip")
        r = submit(gateway, key, "/mj/submit/imagine", {"prompt": "NOACCOUNT left"})
        assert r.json()["code"] == 3  # the upstream's answer, uncharged
        assert query(gateway, "SELECT status FROM channels WHERE id = ?", vip)[0]["status"] == 3  # auto-disabled
        again = wait_for(lambda: (x := submit(gateway, key, "/mj/submit/imagine", {"prompt": "x"})).status_code == 400
                         and x, what="the channel to leave the index")  # fmt: skip
        assert again.json()["description"].startswith("no available channel")
        assert owner(gateway, key)["quota"] == 1_000_000 and not logs_of(gateway, key, LOG_CONSUME)
    finally:
        gateway.option("AutomaticDisableChannelEnabled", "false")


IMAGE = base64.b64encode(b"an image").decode()


@pytest.mark.parametrize(
    ("path", "body", "model", "quota"),
    [
        ("/mj/submit/describe", {"base64": IMAGE}, "mj_describe", 25_000),
        ("/mj/submit/blend", {"base64Array": [IMAGE, IMAGE]}, "mj_blend", 50_000),
        ("/mj/submit/shorten", {"prompt": "a very long prompt"}, "mj_shorten", 50_000),
        ("/mj/submit/edits", {"prompt": "make it blue", "image": "http://x/1.png"}, "mj_edits", 50_000),
        ("/mj/submit/upload-discord-images", {"base64Array": [IMAGE]}, "mj_upload", 25_000),
        ("/mj/insight-face/swap", {"sourceBase64": IMAGE, "targetBase64": IMAGE}, "swap_face", 25_000),
    ],
)
def test_every_new_task_route_is_charged_its_own_price(gateway, key, fake, path, body, model, quota):  # noqa: F811
    r = submit(gateway, key, path, body)
    assert r.status_code == 200 and r.json()["code"] == 1, r.text
    assert fake.state()["submits"][-1]["path"] == path
    assert [(x["model_name"], x["quota"]) for x in logs_of(gateway, key, LOG_CONSUME)] == [(model, quota)]
    assert owner(gateway, key)["quota"] == 1_000_000 - quota


def test_video_and_modal_follow_a_finished_drawing(gateway, key):  # noqa: F811
    mj_id = submit(gateway, key, "/mj/submit/imagine", {"prompt": "a still lake"}).json()["result"]
    finished(gateway, key, mj_id)
    assert submit(gateway, key, "/mj/submit/video", {"taskId": mj_id, "motion": "low"}).json()["code"] == 1
    assert submit(gateway, key, "/mj/submit/modal", {"taskId": mj_id, "prompt": "zoom"}).json()["code"] == 1
    charged = [(x["model_name"], x["quota"]) for x in logs_of(gateway, key, LOG_CONSUME)]
    assert charged == [("mj_imagine", IMAGINE), ("mj_video", 400_000), ("mj_modal", 50_000)]
