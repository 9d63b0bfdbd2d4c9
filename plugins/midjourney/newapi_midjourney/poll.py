"""Polling Midjourney-Proxy for the tasks still running, one ``list-by-condition`` call per channel.

What the upstream reports goes to the host's task framework: ``SUCCESS`` settles the held charge,
``FAILURE`` (or ``CANCEL``) refunds it, each exactly once however many pollers run.
"""

from __future__ import annotations

import json
from typing import Any

from newapi_host import sdk

TABLE = "midjourneys"
FAILED = ("FAILURE", "CANCEL")


def changes_of(task: dict[str, Any]) -> dict[str, Any]:
    """A Midjourney-Proxy task (its DTO) as column changes of our row."""
    status = str(task.get("status") or "")
    changes: dict[str, Any] = {
        "progress": str(task.get("progress") or "0%"),
        "prompt_en": str(task.get("promptEn") or ""),
        "state": str(task.get("state") or ""),
        "image_url": str(task.get("imageUrl") or ""),
        "video_url": str(task.get("videoUrl") or ""),
        "fail_reason": str(task.get("failReason") or ""),
        "status": "FAILURE" if status in FAILED else status,
    }
    for field, column in (("startTime", "start_time"), ("finishTime", "finish_time")):
        if isinstance(task.get(field), int) and task[field]:
            changes[column] = task[field]
    if task.get("videoUrls") is not None:
        changes["video_urls"] = json.dumps(task["videoUrls"])
    if task.get("buttons") is not None:
        changes["buttons"] = json.dumps(task["buttons"])
    if task.get("properties") is not None:
        changes["properties"] = json.dumps(task["properties"])
    if status == "CANCEL" and not changes["fail_reason"]:
        changes["fail_reason"] = "cancelled by the upstream"
    if not status:
        del changes["status"]
    return changes


async def fetch(ctx: sdk.JobContext, channel: sdk.ChannelView, rows: list[dict[str, Any]]) -> dict[int, dict]:
    by_mj_id = {row["mj_id"]: row["id"] for row in rows if row["mj_id"]}
    if not by_mj_id:
        return {}
    reply = await sdk.call_upstream(
        ctx,
        channel,
        "POST",
        f"{channel.base_url}/mj/task/list-by-condition",
        headers={"Content-Type": "application/json", "mj-api-secret": channel.key},
        body=json.dumps({"ids": list(by_mj_id)}).encode(),
        wait=30,
    )
    if reply.status != 200:
        raise sdk.UpstreamFailed(f"list-by-condition answered {reply.status}")
    tasks = json.loads(reply.body)
    if not isinstance(tasks, list):
        raise sdk.UpstreamFailed("list-by-condition did not answer a list")
    return {by_mj_id[t["id"]]: changes_of(t) for t in tasks if isinstance(t, dict) and t.get("id") in by_mj_id}


JOB = sdk.task_poll_job("poll", TABLE, fetch, types=(2, 5))
