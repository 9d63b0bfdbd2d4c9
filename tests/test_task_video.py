"""OpenAI's video API through the gateway with the official ``openai`` SDK (``client.videos``),
against the fake video upstream process: billed per second, held at submit, settled when the
video completes, refunded once when it fails; the content is proxied; other users see nothing."""

from __future__ import annotations

import contextlib

import openai
import pytest

from newapi_host.db.tables import LOG_CONSUME, LOG_REFUND

from .fake_task_upstreams import SORA_KEY, VIDEO
from .task_gateway import client, console, fake, gateway, logs_of, owner, wait_for  # noqa: F401

# The SDK warns that OpenAI's own Sora service closes on 2026-09-24; the API shape lives on in
# OpenAI-compatible video upstreams, which is what the gateway serves.
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")

PER_SECOND = 150_000  # sora-2: 0.3 USD a second x 500000


@pytest.fixture(scope="module")
def channel(gateway, fake) -> int:  # noqa: F811
    return gateway.channel(55, name="sora", base_url=fake.url, key=SORA_KEY, models=["sora-2", "sora-2-pro"])


@pytest.fixture
def key(gateway, channel) -> str:  # noqa: F811
    return gateway.key(10_000_000)


def sdk_client(gw, key: str) -> openai.OpenAI:  # noqa: ANN001
    return openai.OpenAI(api_key=key, base_url=gw.base_url, max_retries=0)


def test_a_video_is_billed_per_second_and_downloaded(gateway, key, fake):  # noqa: F811
    api = sdk_client(gateway, key)
    made = api.videos.create(model="sora-2", prompt="a paper boat on a river", seconds="8", size="1280x720")
    assert made.id.startswith("task_") and made.status == "queued" and made.seconds == "8"
    assert fake.state()["submits"][-1]["body"]["seconds"] == "8"  # the SDK's multipart form, forwarded
    assert owner(gateway, key)["quota"] == 10_000_000 - 8 * PER_SECOND
    done = wait_for(lambda: (v := api.videos.retrieve(made.id)).status == "completed" and v, what="the video")
    assert done.progress == 100 and done.model == "sora-2"
    assert api.videos.download_content(made.id).content == VIDEO
    assert owner(gateway, key)["quota"] == 10_000_000 - 8 * PER_SECOND
    assert [(r["model_name"], r["quota"]) for r in logs_of(gateway, key, LOG_CONSUME)] == [("sora-2", 8 * PER_SECOND)]
    with contextlib.closing(console(gateway, key)) as c:  # New API's /content also answers the console session
        assert c.get(f"/v1/videos/{made.id}/content").content == VIDEO


def test_a_failed_video_is_refunded_once_and_large_pro_sizes_cost_more(gateway, key):  # noqa: F811
    api = sdk_client(gateway, key)
    made = api.videos.create(model="sora-2-pro", prompt="FAIL a storm", seconds="4", size="1792x1024")
    cost = round(250_000 * 4 * 5 / 3)  # sora-2-pro 0.5 USD a second, x 5/3 at 1792x1024
    assert owner(gateway, key)["quota"] == 10_000_000 - cost
    failed = wait_for(lambda: (v := api.videos.retrieve(made.id)).status == "failed" and v, what="the failure")
    assert failed.error is not None and failed.error.message
    wait_for(lambda: owner(gateway, key)["quota"] == 10_000_000, what="the refund")
    assert [(r["model_name"], r["quota"]) for r in logs_of(gateway, key, LOG_REFUND)] == [("sora-2-pro", cost)]
    with pytest.raises(openai.BadRequestError):
        api.videos.download_content(made.id)


def test_bad_input_and_other_users_cost_nothing(gateway, key):  # noqa: F811
    api = sdk_client(gateway, key)
    for bad in ({"seconds": "7"}, {"size": "640x480"}, {"prompt": " "}):
        with pytest.raises(openai.BadRequestError):
            api.videos.create(**{"model": "sora-2", "prompt": "x", **bad})
    with pytest.raises(openai.BadRequestError):  # refused upstream (moderation): passed through, uncharged
        api.videos.create(model="sora-2", prompt="REJECT this", seconds="4")
    assert owner(gateway, key)["quota"] == 10_000_000 and not logs_of(gateway, key, LOG_CONSUME)
    mine = api.videos.create(model="sora-2", prompt="mine only", seconds="4")
    other = sdk_client(gateway, gateway.key(10_000_000))
    with pytest.raises(openai.NotFoundError):
        other.videos.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        other.videos.download_content(mine.id)
    with client(gateway, "sk-wrong") as c:
        assert c.get(f"/v1/videos/{mine.id}").status_code == 401


def test_new_apis_video_generations_route_is_the_same_api(gateway, key, fake):  # noqa: F811
    with client(gateway, key) as c:
        made = c.post("/v1/video/generations", json={"model": "sora-2", "prompt": "a kite", "duration": 4}).json()
        assert made["object"] == "video" and made["seconds"] == "4", made
        assert fake.state()["submits"][-1]["body"]["seconds"] == "4"
        assert owner(gateway, key)["quota"] == 10_000_000 - 4 * PER_SECOND
        done = wait_for(lambda: (v := c.get(f"/v1/video/generations/{made['id']}").json())["status"] == "completed"
                        and v, what="the video")  # fmt: skip
    assert done["id"] == made["id"] and done["progress"] == 100
