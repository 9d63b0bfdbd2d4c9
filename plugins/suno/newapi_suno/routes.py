"""New API's Suno routes: ``/suno/submit/{music|lyrics}``, ``/suno/fetch``, ``/suno/fetch/{id}``.

A submit holds the action's price (``suno_music``, ``suno_lyrics``), sends it to a Suno channel
(type 36) and, once the upstream accepted it, records the task under a public id of its own (the
upstream's id stays in ``private_data``) with its charge. Fetches read the caller's own tasks
only. Errors have New API's task shape ``{"code", "message", "data": null}``.
"""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from newapi_host import sdk

TABLE, PLATFORM, TYPES = "tasks", "suno", (36,)
ACTIONS = {"music": "MUSIC", "lyrics": "LYRICS"}
DIALECT = "openai.chat"
_ALPHABET = string.ascii_letters + string.digits


class TaskError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def task_error(error: TaskError) -> Response[Any]:
    body = {"code": error.code, "message": error.message, "data": None}
    return Response(body, status_code=error.status, media_type="application/json")


def public_id() -> str:
    return "task_" + "".join(secrets.choice(_ALPHABET) for _ in range(32))


def dto(row: dict[str, Any]) -> dict[str, Any]:
    """A task as New API's TaskDto (the upstream's payload in ``data``)."""
    try:
        data = json.loads(row["data"]) if row["data"] else None
    except ValueError:
        data = None
    return {
        "task_id": row["task_id"],
        "action": row["action"],
        "status": row["status"],
        "fail_reason": row["fail_reason"],
        "submit_time": row["submit_time"],
        "start_time": row["start_time"],
        "finish_time": row["finish_time"],
        "progress": row["progress"],
        "data": data,
    }


def _validate(action: str, body: dict[str, Any]) -> None:
    prompt = body.get("prompt")
    described = body.get("gpt_description_prompt")
    if action == "LYRICS" and not (isinstance(prompt, str) and prompt.strip()):
        raise TaskError("invalid_request", "prompt is required for lyrics")
    if action == "MUSIC" and not any(isinstance(v, str) and v.strip() for v in (prompt, described)):
        raise TaskError("invalid_request", "prompt or gpt_description_prompt is required")
    for name in ("prompt", "gpt_description_prompt", "tags", "title", "mv"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise TaskError("invalid_request", f"{name} must be a string")


async def _caller(request: Request[Any, Any, Any]) -> sdk.Caller:
    return await sdk.authenticate(request, DIALECT)


@post("/suno/submit/{action:str}", status_code=200)
async def submit(request: Request[Any, Any, Any], action: FromPath[str]) -> Response[Any]:
    try:
        caller = await _caller(request)
    except sdk.ClientError as exc:
        return sdk.error_response(request, DIALECT, exc)
    try:
        kind = ACTIONS.get(action.lower())
        if kind is None:
            raise TaskError("invalid_request", f"unknown action {action!r}; use music or lyrics", 400)
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TaskError("invalid_request", "the request body must be a JSON object")
        _validate(kind, body)
        model = f"suno_{action.lower()}"
        channel = sdk.task_channel(request, caller, model, types=TYPES)
        quota, price = sdk.task_price(request, caller, model)
        task_id = public_id()

        async def send() -> dict[str, Any]:
            try:
                reply = await sdk.call_upstream(
                    request,
                    channel,
                    "POST",
                    f"{channel.base_url}/suno/submit/{action.lower()}",
                    headers={"Content-Type": "application/json", "Authorization": f"Bearer {channel.key}"},
                    body=json.dumps(body).encode(),
                    wait=60,
                )
            except sdk.UpstreamFailed as exc:
                raise TaskError("do_request_failed", exc.public, 502) from None
            try:
                answer = json.loads(reply.body)
            except ValueError:
                answer = None
            ok = isinstance(answer, dict) and answer.get("code") == "success" and answer.get("data")
            if reply.status != 200 or not ok:
                message = answer.get("message") if isinstance(answer, dict) else None
                raise TaskError("fail_to_submit", str(message or f"upstream answered {reply.status}"), 502)
            return {
                "task_id": task_id,
                "platform": PLATFORM,
                "action": kind,
                "status": "SUBMITTED",
                "progress": "0%",
                "properties": {"input": str(body.get("prompt") or body.get("gpt_description_prompt") or "")[:500],
                               "origin_model_name": model},
                "private_data": {"upstream_task_id": str(answer["data"])},
            }  # fmt: skip

        await sdk.submit_task(
            request,
            caller,
            table=TABLE,
            channel=channel,
            quota=quota,
            model=model,
            send=send,
            content=f"per-call price {price['model_price']}, group ratio {price['group_ratio']}, action {kind}",
            other=price,
        )
    except TaskError as exc:
        return task_error(exc)
    except sdk.ClientError as exc:
        return task_error(TaskError(exc.code or "invalid_request", exc.message, exc.status))
    return Response({"code": "success", "message": "", "data": task_id}, media_type="application/json")


@post("/suno/fetch", status_code=200)
async def fetch_many(request: Request[Any, Any, Any]) -> Response[Any]:
    try:
        caller = await _caller(request)
    except sdk.ClientError as exc:
        return sdk.error_response(request, DIALECT, exc)
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        body = None
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return task_error(TaskError("invalid_request", "ids must be a list of task ids"))
    rows = await sdk.find_tasks(request, TABLE, user_id=caller.user_id, platform=PLATFORM, task_id=ids) if ids else []
    return Response({"code": "success", "message": "", "data": [dto(r) for r in rows]})


@get("/suno/fetch/{task_id:str}")
async def fetch_one(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[Any]:
    try:
        caller = await _caller(request)
    except sdk.ClientError as exc:
        return sdk.error_response(request, DIALECT, exc)
    rows = await sdk.find_tasks(request, TABLE, user_id=caller.user_id, platform=PLATFORM, task_id=task_id)
    if not rows:
        return task_error(TaskError("task_not_exist", "task_not_exist", 404))
    return Response({"code": "success", "message": "", "data": dto(rows[0])})


ROUTES = (submit, fetch_many, fetch_one)
