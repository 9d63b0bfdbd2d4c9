"""Suno through the gateway, end to end, against the fake Suno process: each song's price is held at
submit, settled on success, refunded exactly once on failure and on timeout; bad input and
other users' tasks cost nothing."""

from __future__ import annotations

import contextlib

import pytest

from newapi_host.db.tables import LOG_CONSUME, LOG_REFUND

from .fake_task_upstreams import SUNO_KEY
from .task_gateway import client, console, fake, gateway, logs_of, owner, query, wait_for  # noqa: F401

MUSIC, LYRICS = 50_000, 5_000  # suno_music 0.1 USD, suno_lyrics 0.01 USD


@pytest.fixture(scope="module")
def channel(gateway, fake) -> int:  # noqa: F811
    return gateway.channel(36, name="suno", base_url=fake.url, key=SUNO_KEY, models=["suno_music", "suno_lyrics"])


@pytest.fixture
def key(gateway, channel) -> str:  # noqa: F811
    return gateway.key(1_000_000)


def song(gw, key: str, task_id: str) -> dict:  # noqa: ANN001
    with client(gw, key) as c:
        return c.get(f"/suno/fetch/{task_id}").json()["data"]


def finished(gw, key: str, task_id: str) -> dict:  # noqa: ANN001
    return wait_for(lambda: (s := song(gw, key, task_id))["status"] in ("SUCCESS", "FAILURE") and s, what="the song")


def test_music_is_held_then_settled(gateway, key, fake):  # noqa: F811
    with client(gateway, key) as c:
        r = c.post("/suno/submit/music", json={"prompt": "a song about the sea", "mv": "chirp-v3-5", "tags": "folk"})
    assert r.status_code == 200 and r.json()["code"] == "success", r.text
    task_id = r.json()["data"]
    assert task_id.startswith("task_") and len(task_id) == 37  # our public id; the upstream's stays private
    assert owner(gateway, key)["quota"] == 1_000_000 - MUSIC
    upstream_id = fake.state()["submits"][-1]
    assert upstream_id["path"] == "/suno/submit/music" and upstream_id["body"]["tags"] == "folk"
    done = finished(gateway, key, task_id)
    assert done["status"] == "SUCCESS" and done["progress"] == "100%" and done["data"][0]["audio_url"]
    assert done["action"] == "MUSIC"
    assert owner(gateway, key)["quota"] == 1_000_000 - MUSIC
    assert [(x["model_name"], x["quota"]) for x in logs_of(gateway, key, LOG_CONSUME)] == [("suno_music", MUSIC)]
    row = query(gateway, "SELECT platform, private_data FROM tasks WHERE task_id = ?", task_id)[0]
    assert row["platform"] == "suno" and '"upstream_task_id"' in row["private_data"]
    with client(gateway, key) as c:
        listed = c.post("/suno/fetch", json={"ids": [task_id, "task_unknown"]}).json()
    assert listed["code"] == "success" and [t["task_id"] for t in listed["data"]] == [task_id]
    assert "private_data" not in listed["data"][0]


def test_failed_lyrics_are_refunded_once(gateway, key, fake):  # noqa: F811
    with client(gateway, key) as c:
        task_id = c.post("/suno/submit/lyrics", json={"prompt": "FAIL these lyrics"}).json()["data"]
    assert owner(gateway, key)["quota"] == 1_000_000 - LYRICS
    assert finished(gateway, key, task_id)["status"] == "FAILURE"
    wait_for(lambda: owner(gateway, key)["quota"] == 1_000_000, what="the refund")
    polls = fake.state()["polls"]
    wait_for(lambda: fake.state()["polls"] >= polls + 3 or _no_running(gateway), what="later passes")
    refunds = logs_of(gateway, key, LOG_REFUND)
    assert [(x["model_name"], x["quota"]) for x in refunds] == [("suno_lyrics", LYRICS)]
    assert owner(gateway, key)["quota"] == 1_000_000


def _no_running(gw) -> bool:  # noqa: ANN001
    return not query(gw, "SELECT id FROM tasks WHERE status NOT IN ('SUCCESS', 'FAILURE')")


def test_a_song_that_never_finishes_is_refunded_at_the_timeout(gateway, key):  # noqa: F811
    with client(gateway, key) as c:
        task_id = c.post("/suno/submit/music", json={"gpt_description_prompt": "HANG a long song"}).json()["data"]
    done = finished(gateway, key, task_id)
    assert (done["status"], done["fail_reason"]) == ("FAILURE", "task timed out")
    assert owner(gateway, key)["quota"] == 1_000_000 and len(logs_of(gateway, key, LOG_REFUND)) == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/suno/submit/video", {"prompt": "x"}, 400, "invalid_request"),
        ("/suno/submit/music", {}, 400, "invalid_request"),
        ("/suno/submit/lyrics", {"gpt_description_prompt": "only for music"}, 400, "invalid_request"),
        ("/suno/submit/music", {"prompt": 42}, 400, "invalid_request"),
        ("/suno/submit/music", ["not", "an", "object"], 400, "invalid_request"),
        ("/suno/submit/music", {"prompt": "REJECT this"}, 502, "fail_to_submit"),
    ],
)
def test_bad_input_costs_nothing(gateway, key, path, body, status, code):  # noqa: F811
    with client(gateway, key) as c:
        r = c.post(path, json=body)
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert r.json()["data"] is None and r.json()["message"]
    assert owner(gateway, key)["quota"] == 1_000_000 and not logs_of(gateway, key, LOG_CONSUME)


def test_not_enough_quota_is_refused_before_the_upstream_is_called(gateway, channel, fake):  # noqa: F811
    poor = gateway.key(1_000)
    before = len(fake.state()["submits"])
    with client(gateway, poor) as c:
        r = c.post("/suno/submit/music", json={"prompt": "expensive"})
    assert r.status_code == 403 and r.json()["code"] == "insufficient_user_quota"
    assert len(fake.state()["submits"]) == before and owner(gateway, poor)["quota"] == 1_000


def test_another_users_songs_do_not_exist(gateway, key):  # noqa: F811
    with client(gateway, key) as c:
        task_id = c.post("/suno/submit/music", json={"prompt": "mine"}).json()["data"]
    other = gateway.key(1_000_000)
    with client(gateway, other) as c:
        assert c.get(f"/suno/fetch/{task_id}").status_code == 404
        assert c.post("/suno/fetch", json={"ids": [task_id]}).json()["data"] == []
    with client(gateway, "sk-not-a-key") as c:
        assert c.get(f"/suno/fetch/{task_id}").status_code == 401


def test_task_lists_show_each_user_their_own(gateway, key, channel):  # noqa: F811
    with client(gateway, key) as c:
        mine = c.post("/suno/submit/music", json={"prompt": "listed song"}).json()["data"]
    other = gateway.key(1_000_000)
    with contextlib.closing(console(gateway, key)) as c:
        page = c.get("/api/task/self", params={"platform": "suno"}).json()["data"]
        assert [i["task_id"] for i in page["items"]] == [mine] and page["total"] == 1
        assert "private_data" not in page["items"][0] and page["items"][0]["channel_id"] == 0
        assert c.get("/api/task/self", params={"status": "FAILURE"}).json()["data"]["items"] == []
        assert c.get("/api/task/").status_code == 403
    with contextlib.closing(console(gateway, other)) as c:
        assert c.get("/api/task/self").json()["data"]["items"] == []
    listed = gateway.admin.get("/api/task/", params={"task_id": mine}).json()["data"]["items"]
    assert [(i["task_id"], i["channel_id"]) for i in listed] == [(mine, channel)]
    assert listed[0]["username"] and "private_data" not in listed[0]
