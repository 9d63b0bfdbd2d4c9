"""New API's Midjourney-Proxy routes: submit, fetch, list, image seed, face swap, image proxy.

Every route answers to the caller's API key (``Authorization``, or ``mj-api-secret`` when
``Authorization`` is empty or the literal ``midjourney-proxy``), and sees only the caller's own
tasks: another user's task id is "task_no_found", on every route. Errors have New API's
Midjourney shape, ``{"description", "type": "upstream_error", "code"}``, with status 400 (429 for
code 30). The money side is the host's task framework: a submit holds the price, an accepted
task is charged, the poller settles it or refunds it exactly once.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from newapi_host import sdk

from . import actions as a
from .settings import PLUGIN, MidjourneySettings

TYPES = (2, 5)
TABLE = "midjourneys"
DIALECT = "openai.chat"  # key errors are answered as New API's TokenAuth does, in OpenAI's shape
ACCEPTED = (1, 21, 22)  # submitted, already exists, queued
MJ_REQUEST_ERROR = 4
NO_ACCOUNT = 3  # "no available account instance": the channel is disabled, as New API does


class MjError(Exception):
    """A Midjourney-style error: nothing was charged."""

    def __init__(self, description: str, code: int = MJ_REQUEST_ERROR, status: int = 400) -> None:
        super().__init__(description)
        self.description, self.code, self.status = description, code, status


class Rejected(Exception):
    """The upstream answered, but did not accept the task: its answer goes back as is, uncharged."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"upstream answered {status}")
        self.status, self.body = status, body


def mj_error(error: MjError) -> Response[Any]:
    status = 429 if error.code == 30 else error.status
    body = {"description": error.description, "type": "upstream_error", "code": error.code}
    return Response(body, status_code=status, media_type="application/json")


def _client_error(exc: sdk.ClientError) -> MjError:
    if exc.code in ("insufficient_user_quota", "pre_consume_token_quota_failed", "token_quota_exhausted"):
        return MjError("quota_not_enough")
    return MjError(exc.message)


async def _caller(request: Request[Any, Any, Any]) -> sdk.Caller:
    key = request.headers.get("authorization", "")
    if not key or key.strip() == "midjourney-proxy":
        key = request.headers.get("mj-api-secret", "")
    return await sdk.authenticate(request, DIALECT, key=key)


def _settings(request: Any) -> MidjourneySettings:
    found = sdk.settings(request, PLUGIN)
    return found if isinstance(found, MidjourneySettings) else MidjourneySettings()


def _on(request: Any, option: str) -> bool:
    return sdk.option(request, option) == "true"


async def _body(request: Request[Any, Any, Any]) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise MjError("bind_request_body_failed") from None
    if not isinstance(body, dict):
        raise MjError("bind_request_body_failed")
    return body


def _check_images(body: dict[str, Any], limit_mb: float) -> None:
    """Every base64 image must decode and stay within the size limit (before anything is charged)."""
    images: list[Any] = []
    for name in ("base64", "maskBase64", "sourceBase64", "targetBase64"):
        if body.get(name):
            images.append(body[name])
    if isinstance(body.get("base64Array"), list):
        images.extend(body["base64Array"])
    limit = int(limit_mb * 1024 * 1024)
    for image in images:
        if not isinstance(image, str):
            raise MjError("base64_image_invalid")
        data = image.split(",", 1)[1] if image.startswith("data:") and "," in image else image
        if len(data) * 3 // 4 > limit:
            raise MjError(f"base64_image_too_large: each image may be at most {limit_mb:g} MB")
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise MjError("base64_image_invalid") from None


def _mode(request: Request[Any, Any, Any]) -> str | None:
    raw = request.path_params.get("mode")
    if raw is None:
        return None
    mode = a.MODES.get(raw)
    if mode is None:
        raise MjError(f"unknown mode {raw!r}; use mj-fast, mj-relax or mj-turbo", status=404)
    return mode


def _upstream_path(request: Request[Any, Any, Any]) -> str:
    """The path the upstream gets: the client's, without a ``/mj-<mode>`` prefix (as New API sends)."""
    path = request.url.path
    return path[path.index("/mj/") :] if not path.startswith("/mj/") else path


def _pick(request: Any, caller: sdk.Caller, action: str, mode: str | None, channel_id: int | None) -> tuple:
    """(channel, model) of an action. A mode route prices its own model (``mj_turbo_imagine``) and
    sends it to a channel serving that model, else to one serving the base model (``mj_imagine``)."""
    model = a.model_for(action, mode)
    names = [model, a.model_for(action)] if mode else [model]
    last: sdk.ClientError | None = None
    for name in names:
        try:
            return sdk.task_channel(request, caller, name, types=TYPES, channel_id=channel_id), model
        except sdk.ClientError as exc:
            last = exc
    assert last is not None
    raise _client_error(last)


async def _send(request: Any, channel: sdk.ChannelView, path: str, body: dict[str, Any]) -> tuple[int, dict, bytes]:
    try:
        reply = await sdk.call_upstream(
            request,
            channel,
            "POST",
            channel.base_url + path,
            headers={"Content-Type": "application/json", "mj-api-secret": channel.key},
            body=json.dumps(body).encode(),
            wait=60,
        )
    except sdk.UpstreamFailed as exc:
        raise MjError(f"do_request_failed: {exc.public}") from None
    try:
        answer = json.loads(reply.body)
    except ValueError:
        answer = None
    if reply.status != 200 or not isinstance(answer, dict):
        raise Rejected(reply.status if reply.status != 200 else 502, reply.body)
    return reply.status, answer, reply.body


def _prepare(request: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The options that rewrite what the upstream gets (New API's MjNotify/AccountFilter/ModeClear)."""
    body = dict(body)
    if not _on(request, "MjNotifyEnabled"):
        body.pop("notifyHook", None)
    if not _on(request, "MjAccountFilterEnabled"):
        body.pop("accountFilter", None)
    if _on(request, "MjModeClearEnabled") and isinstance(body.get("prompt"), str):
        body["prompt"] = a.clear_mode(body["prompt"])
    return body


async def _origin(request: Any, caller: sdk.Caller, task_id: Any, *, require_success: bool) -> dict[str, Any]:
    if not isinstance(task_id, str) or not task_id:
        raise MjError("task_id_is_required")
    found = await sdk.find_tasks(request, TABLE, user_id=caller.user_id, mj_id=task_id)
    if not found:
        raise MjError("task_not_found")
    origin = found[0]
    if require_success and _on(request, "MjActionCheckSuccessEnabled") and origin["status"] != "SUCCESS":
        raise MjError("task_status_not_success")
    return origin


async def _plan(request: Any, caller: sdk.Caller, route: str, body: dict[str, Any]) -> tuple[str, dict | None]:
    """(action, origin task or None) of a submit, validating the request as New API does."""
    if route in a.NEW_TASK_ROUTES:
        action = a.NEW_TASK_ROUTES[route]
        if action == a.IMAGINE and not (isinstance(body.get("prompt"), str) and body["prompt"].strip()):
            raise MjError("prompt_is_required")
        if action == a.DESCRIBE and not body.get("base64") and not body.get("link"):
            raise MjError("base64_is_required")
        if action == a.BLEND and not (isinstance(body.get("base64Array"), list) and len(body["base64Array"]) >= 2):
            raise MjError("base64_array_needs_at_least_two_images")
        if action == a.SHORTEN and not body.get("prompt"):
            raise MjError("prompt_is_required")
        body["action"] = action
        return action, None
    if route == "change":
        if not body.get("taskId"):
            raise MjError("task_id_is_required")
        action = str(body.get("action") or "").upper()
        if not action:
            raise MjError("action_is_required")
        if action not in a.CHANGE_ACTIONS:
            raise MjError(f"unknown_action: {body.get('action')!r} (use UPSCALE, VARIATION or REROLL)")
        if action != a.REROLL and not body.get("index"):
            raise MjError("index_is_required")
        body["action"] = action
        return action, await _origin(request, caller, body["taskId"], require_success=True)
    if route == "simple-change":
        if not body.get("content"):
            raise MjError("content_is_required")
        parsed = a.parse_simple_change(str(body["content"]))
        if parsed is None:
            raise MjError("content_parse_failed")
        task_id, action, index = parsed
        return action, await _origin(request, caller, task_id, require_success=True)
    if route == "action":
        if not body.get("taskId"):
            raise MjError("task_id_is_required")
        custom_id = body.get("customId")
        if not isinstance(custom_id, str) or not custom_id:
            raise MjError("custom_id_is_required")
        action = a.action_of_custom_id(custom_id)
        if action is None:
            raise MjError(f"unknown_action: customId {custom_id!r}")
        return action, await _origin(request, caller, body["taskId"], require_success=True)
    if route == "modal":
        return a.MODAL, await _origin(request, caller, body.get("taskId"), require_success=False)
    if route == "video":
        if not body.get("taskId"):
            raise MjError("task_id_is_required")
        body["action"] = a.VIDEO
        return a.VIDEO, await _origin(request, caller, body["taskId"], require_success=True)
    raise MjError(f"unknown_action: /mj/submit/{route}", status=404)


async def _submit(request: Request[Any, Any, Any], route: str) -> Response[Any]:
    try:
        caller = await _caller(request)
    except sdk.ClientError as exc:
        return sdk.error_response(request, DIALECT, exc)
    try:
        mode = _mode(request)
        body = await _body(request)
        _check_images(body, _settings(request).max_image_mb)
        action, origin = await _plan(request, caller, route, body)
        if origin is not None and "prompt" not in body:
            body["prompt"] = origin["prompt"]
        channel, model = _pick(request, caller, action, mode, origin["channel_id"] if origin else None)
        try:
            quota, price = sdk.task_price(request, caller, model)
        except sdk.ClientError as exc:
            raise _client_error(exc) from None
        path = "/mj/insight-face/swap" if action == a.SWAP_FACE else _upstream_path(request)
        sent = _prepare(request, body)
        answer: dict[str, Any] = {}
        raw = b""

        async def send() -> dict[str, Any]:
            nonlocal answer, raw
            _, answer, raw = await _send(request, channel, path, sent)
            code = answer.get("code")
            if code == NO_ACCOUNT:
                await sdk.report_unusable(request, channel, "No available account instance")
            if code not in ACCEPTED or not answer.get("result"):
                raise Rejected(200, raw)
            return _row(action, body, answer)

        await sdk.submit_task(
            request,
            caller,
            table=TABLE,
            channel=channel,
            quota=quota,
            model=model,
            send=send,
            content=f"per-call price {price['model_price']}, group ratio {price['group_ratio']}, action {action}",
            other={**price, "mj_action": action},
        )
    except MjError as exc:
        return mj_error(exc)
    except sdk.ClientError as exc:
        return mj_error(_client_error(exc))
    except Rejected as exc:
        return Response(exc.body, status_code=exc.status, media_type="application/json")
    if answer.get("code") in (21, 22):
        answer = {**answer, "code": 1}
    return Response(answer, status_code=200, media_type="application/json")


def _row(action: str, body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """The ``midjourneys`` row of an accepted submit."""
    row: dict[str, Any] = {
        "code": int(answer.get("code") or 0),
        "action": action,
        "mj_id": str(answer["result"]),
        "prompt": str(body.get("prompt") or ("InsightFace" if action == a.SWAP_FACE else "")),
        "description": str(answer.get("description") or ""),
        "status": "SUBMITTED",
        "progress": "0%",
        "submit_time": int(time.time() * 1000),
    }
    props = answer.get("properties")
    if answer.get("code") == 21 and isinstance(props, dict) and props.get("status") == "SUCCESS":
        now = int(time.time() * 1000)
        row.update(status="SUCCESS", progress="100%", image_url=str(props.get("imageUrl") or ""))
        row.update(start_time=now, finish_time=now)
    if action == a.UPLOAD:
        row.update(status="SUCCESS", progress="100%")
    return row


def dto(request: Request[Any, Any, Any], row: dict[str, Any]) -> dict[str, Any]:
    """A task as Midjourney-Proxy clients read it (New API's MidjourneyDto)."""
    image = row["image_url"] or ""
    if image and _on(request, "MjForwardUrlEnabled"):
        base = (sdk.option(request, "ServerAddress") or str(request.base_url)).rstrip("/")
        image = f"{base}/mj/image/{row['mj_id']}"
        if row["status"] != "SUCCESS":
            image += f"?rand={time.time_ns()}"

    def parsed(text: str, default: Any) -> Any:
        try:
            return json.loads(text) if text else default
        except ValueError:
            return default

    return {
        "id": row["mj_id"],
        "action": row["action"],
        "prompt": row["prompt"],
        "promptEn": row["prompt_en"],
        "description": row["description"],
        "state": row["state"],
        "submitTime": row["submit_time"],
        "startTime": row["start_time"],
        "finishTime": row["finish_time"],
        "imageUrl": image,
        "videoUrl": row["video_url"],
        "videoUrls": parsed(row["video_urls"], None),
        "status": row["status"],
        "progress": row["progress"],
        "failReason": row["fail_reason"],
        "buttons": parsed(row["buttons"], None),
        "properties": parsed(row["properties"], None),
    }


# -- routes -------------------------------------------------------------------------------------

SUBMIT_ROUTES = (*a.NEW_TASK_ROUTES, *a.FOLLOW_UP_ROUTES)


@post(["/mj/submit/{route:str}", "/{mode:str}/mj/submit/{route:str}"], status_code=200)
async def submit(request: Request[Any, Any, Any], route: FromPath[str]) -> Response[Any]:
    return await _submit(request, route)


@post(["/mj/insight-face/swap", "/{mode:str}/mj/insight-face/swap"], status_code=200)
async def swap_face(request: Request[Any, Any, Any]) -> Response[Any]:
    try:
        caller = await _caller(request)
    except sdk.ClientError as exc:
        return sdk.error_response(request, DIALECT, exc)
    try:
        body = await _body(request)
        if not body.get("sourceBase64") or not body.get("targetBase64"):
            raise MjError("sour_base64_and_target_base64_is_required")
    except MjError as exc:
        return mj_error(exc)
    return await _submit_swap(request, caller, body)


async def _submit_swap(request: Request[Any, Any, Any], caller: sdk.Caller, body: dict[str, Any]) -> Response[Any]:
    try:
        _mode(request)
        _check_images(body, _settings(request).max_image_mb)
        channel, model = _pick(request, caller, a.SWAP_FACE, None, None)
        try:
            quota, price = sdk.task_price(request, caller, model)
        except sdk.ClientError as exc:
            raise _client_error(exc) from None
        answer: dict[str, Any] = {}

        async def send() -> dict[str, Any]:
            nonlocal answer
            _, answer, raw = await _send(request, channel, "/mj/insight-face/swap", _prepare(request, body))
            if answer.get("code") != 1 or not answer.get("result"):
                raise Rejected(200, raw)
            return _row(a.SWAP_FACE, body, answer)

        await sdk.submit_task(
            request, caller, table=TABLE, channel=channel, quota=quota, model=model, send=send,
            content=f"per-call price {price['model_price']}, group ratio {price['group_ratio']}, action SWAP_FACE",
            other={**price, "mj_action": a.SWAP_FACE},
        )  # fmt: skip
    except MjError as exc:
        return mj_error(exc)
    except sdk.ClientError as exc:
        return mj_error(_client_error(exc))
    except Rejected as exc:
        return Response(exc.body, status_code=exc.status, media_type="application/json")
    return Response(answer, status_code=200, media_type="application/json")


@get(["/mj/task/{task_id:str}/fetch", "/{mode:str}/mj/task/{task_id:str}/fetch"])
async def fetch(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[Any]:
    try:
        caller = await _caller(request)
    except sdk.ClientError as exc:
        return sdk.error_response(request, DIALECT, exc)
    found = await sdk.find_tasks(request, TABLE, user_id=caller.user_id, mj_id=task_id)
    if not found:
        return mj_error(MjError("task_no_found"))
    return Response(dto(request, found[0]), media_type="application/json")


@post(["/mj/task/list-by-condition", "/{mode:str}/mj/task/list-by-condition"], status_code=200)
async def list_by_condition(request: Request[Any, Any, Any]) -> Response[Any]:
    try:
        caller = await _caller(request)
    except sdk.ClientError as exc:
        return sdk.error_response(request, DIALECT, exc)
    try:
        body = await _body(request)
    except MjError:
        return mj_error(MjError("do_request_failed"))
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return mj_error(MjError("ids must be a list of task ids"))
    rows = await sdk.find_tasks(request, TABLE, user_id=caller.user_id, mj_id=ids) if ids else []
    return Response([dto(request, r) for r in rows], media_type="application/json")


@get(["/mj/task/{task_id:str}/image-seed", "/{mode:str}/mj/task/{task_id:str}/image-seed"])
async def image_seed(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[Any]:
    try:
        caller = await _caller(request)
    except sdk.ClientError as exc:
        return sdk.error_response(request, DIALECT, exc)
    found = await sdk.find_tasks(request, TABLE, user_id=caller.user_id, mj_id=task_id)
    if not found:
        return mj_error(MjError("task_no_found"))
    try:
        channel = sdk.task_channel(request, caller, "mj_imagine", types=TYPES, channel_id=found[0]["channel_id"])
        reply = await sdk.call_upstream(
            request, channel, "GET", f"{channel.base_url}/mj/task/{task_id}/image-seed",
            headers={"mj-api-secret": channel.key}, wait=30,
        )  # fmt: skip
    except sdk.ClientError as exc:
        return mj_error(MjError(exc.message))
    except sdk.UpstreamFailed as exc:
        return mj_error(MjError(f"do_request_failed: {exc.public}"))
    return Response(reply.body, status_code=reply.status, media_type="application/json")


@get("/mj/image/{task_id:str}")
async def image(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[Any]:
    """The task's image through the gateway (``MjForwardUrlEnabled``): for its owner's API key, or
    the owner's (or an admin's) console session, so the Drawings page can show thumbnails."""
    user_id: int | None = None
    viewer = await sdk.session_user(request)
    if viewer is not None:
        user_id = None if viewer.is_admin else viewer.user_id
    else:
        try:
            user_id = (await _caller(request)).user_id
        except sdk.ClientError as exc:
            return sdk.error_response(request, DIALECT, exc)
    found = await sdk.find_tasks(request, TABLE, user_id=user_id, mj_id=task_id)
    if not found or not found[0]["image_url"]:
        return Response({"error": "midjourney_task_not_found"}, status_code=400, media_type="application/json")
    row = found[0]
    try:
        reply = await sdk.call_upstream(
            request, None, "GET", row["image_url"], wait=60, guarded=True, limit=32 * 1024 * 1024
        )
    except sdk.UpstreamFailed as exc:
        return Response({"error": exc.public}, status_code=403 if "blocked" in exc.public else 502)
    if reply.status != 200:
        return Response({"error": reply.body.decode(errors="replace")[:500]}, status_code=reply.status)
    kind = next((v for k, v in reply.headers.items() if k.lower() == "content-type"), "") or "image/jpeg"
    return Response(reply.body, media_type=kind)


ROUTES = (submit, swap_face, fetch, list_by_condition, image_seed, image)
