"""OpenAI's video API through the gateway: ``POST /v1/videos``, ``GET /v1/videos/{id}``,
``GET /v1/videos/{id}/content``, for the official SDKs' ``client.videos`` calls; New API's
``/v1/video/generations`` (``duration`` for ``seconds``) is the same API under its other name.

A video is billed per second, as New API bills Sora: ``ModelPrice[model]`` (USD per second) x
``seconds`` x a size ratio (5/3 for ``sora-2-pro`` at 1792x1024 or 1024x1792) x group ratio. The
price is held at submit, charged when the upstream accepts, and refunded if the video fails or
times out (the host's task framework). Ids are the gateway's own; the upstream's stay private.
Another user's video does not exist for the caller, on every route.
"""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from newapi_host import sdk

TABLE, PLATFORM, TYPES, DIALECT = "tasks", "sora", (55,), "openai.chat"
SECONDS = ("4", "8", "12")
SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
LARGE = ("1024x1792", "1792x1024")
STATUS = {"QUEUED": "queued", "SUBMITTED": "queued", "NOT_START": "queued", "IN_PROGRESS": "in_progress",
          "SUCCESS": "completed", "FAILURE": "failed"}  # fmt: skip
_ALPHABET = string.ascii_letters + string.digits


def error(status: int, message: str, code: str | None = None, param: str | None = None) -> Response[Any]:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return Response(body, status_code=status, media_type="application/json")


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def video(row: dict[str, Any]) -> dict[str, Any]:
    """A task row as OpenAI's ``Video`` object."""
    data, props = _json(row["data"]), _json(row["properties"])
    failed = row["status"] == "FAILURE"
    try:
        progress = int(str(row["progress"] or "0").rstrip("%"))
    except ValueError:
        progress = 0
    return {
        "id": row["task_id"],
        "object": "video",
        "model": props.get("origin_model_name", ""),
        "status": STATUS.get(row["status"], "queued"),
        "progress": progress,
        "created_at": row["submit_time"],
        "completed_at": row["finish_time"] or None,
        "expires_at": None,
        "prompt": props.get("input", ""),
        "seconds": str(data.get("seconds", "")),
        "size": data.get("size", ""),
        "remixed_from_video_id": None,
        "error": {"code": "video_generation_failed", "message": row["fail_reason"]} if failed else None,
    }


async def _fields(request: Request[Any, Any, Any]) -> tuple[dict[str, Any], bytes, str]:
    """The request's fields (JSON or multipart, as the SDKs send), its raw body and content type."""
    kind = request.headers.get("content-type", "")
    raw = await request.body()
    if kind.startswith("multipart/form-data"):
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if any(not isinstance(v, str) for v in form.values()):
            fields["input_reference"] = True
        return fields, raw, kind
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object or multipart form")
    return body, raw, "application/json"


@post(["/v1/videos", "/v1/video/generations"], status_code=200)
async def create(request: Request[Any, Any, Any]) -> Response[Any]:
    try:
        caller = await sdk.authenticate(request, DIALECT)
    except sdk.ClientError as exc:
        return sdk.error_response(request, DIALECT, exc)
    try:
        fields, raw, kind = await _fields(request)
    except ValueError as exc:
        return error(400, str(exc))
    prompt, model = fields.get("prompt"), fields.get("model") or "sora-2"
    seconds = str(fields.get("seconds") or fields.get("duration") or "4")  # New API's unified API says duration
    size = fields.get("size") or "720x1280"
    fields.pop("duration", None)
    fields["seconds"] = seconds
    if not isinstance(prompt, str) or not prompt.strip():
        return error(400, "prompt is required", param="prompt")
    if not isinstance(model, str):
        return error(400, "model must be a string", param="model")
    if seconds not in SECONDS:
        return error(400, f"seconds must be one of {', '.join(SECONDS)}", param="seconds")
    if size not in SIZES:
        return error(400, f"size must be one of {', '.join(SIZES)}", param="size")
    try:
        channel = sdk.task_channel(request, caller, model, types=TYPES)
        per_second, price = sdk.task_price(request, caller, model)
    except sdk.ClientError as exc:
        return sdk.error_response(request, DIALECT, exc)
    ratio = 5 / 3 if model == "sora-2-pro" and size in LARGE else 1.0
    quota = round(per_second * int(seconds) * ratio)
    task_id = "task_" + "".join(secrets.choice(_ALPHABET) for _ in range(32))
    upstream_body = raw if kind != "application/json" else json.dumps({**fields, "model": model}).encode()

    async def send() -> dict[str, Any]:
        reply = await sdk.call_upstream(
            request,
            channel,
            "POST",
            f"{channel.base_url}/v1/videos",
            headers={"Content-Type": kind, "Authorization": f"Bearer {channel.key}"},
            body=upstream_body,
            wait=60,
        )
        answer = _json(reply.body.decode(errors="replace"))
        if reply.status != 200 or not answer.get("id"):
            raise Refused(reply.status if reply.status >= 400 else 502, reply.body)
        return {
            "task_id": task_id,
            "platform": PLATFORM,
            "action": "generate",
            "status": "QUEUED",
            "progress": "0%",
            "properties": {"input": prompt[:1000], "origin_model_name": model},
            "private_data": {"upstream_task_id": answer["id"]},
            "data": {"seconds": seconds, "size": size},
        }

    try:
        row = await sdk.submit_task(
            request, caller, table=TABLE, channel=channel, quota=quota, model=model, send=send,
            content=f"per-second price {price['model_price']}, {seconds} s, size ratio {ratio:.4g}, "
            f"group ratio {price['group_ratio']}",
            other={**price, "seconds": int(seconds), "size_ratio": ratio},
        )  # fmt: skip
    except sdk.ClientError as exc:
        return sdk.error_response(request, DIALECT, exc)
    except sdk.UpstreamFailed as exc:
        return error(502, f"the video service could not be reached: {exc.public}", code="upstream_error")
    except Refused as exc:
        return Response(exc.body, status_code=exc.status, media_type="application/json")
    return Response(video(row), media_type="application/json")


class Refused(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"upstream answered {status}")
        self.status, self.body = status, body


async def _own(request: Request[Any, Any, Any], video_id: str, *, session: bool = False) -> dict[str, Any] | Response:
    user_id: int | None
    viewer = await sdk.session_user(request) if session else None
    if viewer is not None:
        user_id = None if viewer.is_admin else viewer.user_id
    else:
        try:
            user_id = (await sdk.authenticate(request, DIALECT)).user_id
        except sdk.ClientError as exc:
            return sdk.error_response(request, DIALECT, exc)
    rows = await sdk.find_tasks(request, TABLE, user_id=user_id, platform=PLATFORM, task_id=video_id)
    return rows[0] if rows else error(404, f"video {video_id} not found", code="not_found")


@get(["/v1/videos/{video_id:str}", "/v1/video/generations/{video_id:str}"])
async def retrieve(request: Request[Any, Any, Any], video_id: FromPath[str]) -> Response[Any]:
    row = await _own(request, video_id)
    return row if isinstance(row, Response) else Response(video(row), media_type="application/json")


@get("/v1/videos/{video_id:str}/content")
async def content(request: Request[Any, Any, Any], video_id: FromPath[str]) -> Response[Any]:
    """The finished video's bytes, for its owner's API key or console session (New API's video proxy)."""
    row = await _own(request, video_id, session=True)
    if isinstance(row, Response):
        return row
    if row["status"] != "SUCCESS":
        return error(400, f"video {video_id} is not completed yet", code="video_not_ready")
    upstream = _json(row["private_data"]).get("upstream_task_id", "")
    variant = request.query_params.get("variant")
    suffix = f"?variant={variant}" if variant in ("video", "thumbnail", "spritesheet") else ""
    try:
        channel = sdk.task_channel(request, _owner_stub(), "", types=TYPES, channel_id=row["channel_id"])
        reply = await sdk.call_upstream(
            request, channel, "GET", f"{channel.base_url}/v1/videos/{upstream}/content{suffix}",
            headers={"Authorization": f"Bearer {channel.key}"}, wait=120,
        )  # fmt: skip
    except sdk.ClientError as exc:
        return error(exc.status, exc.message)
    except sdk.UpstreamFailed as exc:
        return error(502, f"the video service could not be reached: {exc.public}", code="upstream_error")
    if reply.status != 200:
        return error(reply.status, "the video service did not return the video", code="upstream_error")
    kind = next((v for k, v in reply.headers.items() if k.lower() == "content-type"), "") or "video/mp4"
    return Response(reply.body, media_type=kind)


def _owner_stub() -> sdk.Caller:
    """The channel of an existing task is looked up by id; no model allow-list applies to the download."""
    return sdk.Caller(user_id=0, username="", token_id=0, token_name="", group="", user_group="", role=0,
                      models=None, unlimited=True)  # fmt: skip


ROUTES = (create, retrieve, content)
