"""Polling Suno for running tasks, one ``/suno/fetch`` call per channel; the host settles or refunds."""

from __future__ import annotations

import json
from typing import Any

from newapi_host import sdk

STATUSES = ("NOT_START", "SUBMITTED", "QUEUED", "IN_PROGRESS", "SUCCESS", "FAILURE", "UNKNOWN")


def upstream_id(row: dict[str, Any]) -> str:
    try:
        return str(json.loads(row["private_data"] or "{}").get("upstream_task_id") or row["task_id"])
    except ValueError:
        return row["task_id"]


def changes_of(task: dict[str, Any]) -> dict[str, Any]:
    status = str(task.get("status") or "").upper()
    changes: dict[str, Any] = {"data": task.get("data")}
    if status in STATUSES and status != "UNKNOWN":
        changes["status"] = status
    if task.get("progress"):
        changes["progress"] = str(task["progress"])
    if task.get("fail_reason"):
        changes["fail_reason"] = str(task["fail_reason"])
    for name in ("start_time", "finish_time"):
        if isinstance(task.get(name), int) and task[name]:
            changes[name] = task[name]
    if status == "FAILURE" and not changes.get("fail_reason"):
        changes["fail_reason"] = "the upstream reported a failure"
    return changes


async def fetch(ctx: sdk.JobContext, channel: sdk.ChannelView, rows: list[dict[str, Any]]) -> dict[int, dict]:
    by_upstream = {upstream_id(row): row["id"] for row in rows}
    reply = await sdk.call_upstream(
        ctx,
        channel,
        "POST",
        f"{channel.base_url}/suno/fetch",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {channel.key}"},
        body=json.dumps({"ids": list(by_upstream), "action": ""}).encode(),
        wait=30,
    )
    answer = json.loads(reply.body) if reply.status == 200 else None
    if not isinstance(answer, dict) or answer.get("code") != "success" or not isinstance(answer.get("data"), list):
        raise sdk.UpstreamFailed(f"/suno/fetch answered {reply.status}")
    return {
        by_upstream[t["task_id"]]: changes_of(t)
        for t in answer["data"]
        if isinstance(t, dict) and t.get("task_id") in by_upstream
    }


JOB = sdk.task_poll_job("poll", "tasks", fetch, platform="suno", types=(36,))
