"""Polling OpenAI's video API: one ``GET /v1/videos/{id}`` per running video; the host settles or refunds."""

from __future__ import annotations

import json
from typing import Any

from newapi_host import sdk

STATUS = {"queued": "QUEUED", "in_progress": "IN_PROGRESS", "completed": "SUCCESS", "failed": "FAILURE"}


def changes_of(answer: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    status = STATUS.get(str(answer.get("status")))
    if status:
        changes["status"] = status
    if isinstance(answer.get("progress"), int):
        changes["progress"] = f"{answer['progress']}%"
    if status == "FAILURE":
        problem = answer.get("error") if isinstance(answer.get("error"), dict) else {}
        changes["fail_reason"] = str(problem.get("message") or "the video failed upstream")
    if isinstance(answer.get("completed_at"), int):
        changes["finish_time"] = answer["completed_at"]
    return changes


async def fetch(ctx: sdk.JobContext, channel: sdk.ChannelView, rows: list[dict[str, Any]]) -> dict[int, dict]:
    found: dict[int, dict] = {}
    for row in rows:
        upstream = json.loads(row["private_data"] or "{}").get("upstream_task_id")
        if not upstream:
            continue
        reply = await sdk.call_upstream(
            ctx, channel, "GET", f"{channel.base_url}/v1/videos/{upstream}",
            headers={"Authorization": f"Bearer {channel.key}"}, wait=30,
        )  # fmt: skip
        if reply.status == 200:
            answer = json.loads(reply.body)
            if isinstance(answer, dict):
                found[row["id"]] = changes_of(answer)
    return found


JOB = sdk.task_poll_job("poll", "tasks", fetch, platform="sora", types=(55,))
