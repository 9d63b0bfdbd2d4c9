"""Drawings (Midjourney tasks) and Tasks (Suno, video and other async tasks): status, progress,
thumbnails through the gateway's image proxy, prompt, cost and fail reason. Admins see everyone's
(``/api/mj/``, ``/api/task/``) with channel filters; users their own."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import field, is_admin, page, pager, session_of, signed_in_only, table, text

STRINGS = {
    "en": {
        "nav_drawings": "Drawings", "drawings_title": "Drawings", "nav_tasks": "Tasks", "tasks_title": "Tasks",
        "task_time": "Submitted", "task_channel": "Channel ID", "task_user": "User", "task_id": "Task ID",
        "task_platform": "Platform", "task_action": "Action", "task_status": "Status", "task_progress": "Progress",
        "task_image": "Image", "task_prompt": "Prompt", "task_cost": "Cost", "task_fail_reason": "Fail reason",
        "no_drawings": "No drawings yet.", "no_tasks": "No tasks yet.", "task_all_statuses": "All statuses",
    },
    "zh": {
        "nav_drawings": "绘图", "drawings_title": "绘图日志", "nav_tasks": "任务", "tasks_title": "任务日志",
        "task_time": "提交时间", "task_channel": "渠道 ID", "task_user": "用户", "task_id": "任务 ID",
        "task_platform": "平台", "task_action": "类型", "task_status": "状态", "task_progress": "进度",
        "task_image": "图片", "task_prompt": "提示词", "task_cost": "花费", "task_fail_reason": "失败原因",
        "no_drawings": "还没有绘图。", "no_tasks": "还没有任务。", "task_all_statuses": "全部状态",
    },
}  # fmt: skip
add_strings(STRINGS)

DRAWING_COLUMNS = ("task_time", "task_id", "task_action", "task_status", "task_progress", "task_image",
                   "task_prompt", "task_cost", "task_fail_reason")  # fmt: skip
TASK_COLUMNS = ("task_time", "task_id", "task_platform", "task_action", "task_status", "task_progress",
                "task_cost", "task_fail_reason")  # fmt: skip
STATUSES = ("NOT_START", "SUBMITTED", "QUEUED", "IN_PROGRESS", "SUCCESS", "FAILURE", "UNKNOWN")


def _time_fields(lang: str) -> str:
    return field(lang, "start", "start_time", "datetime-local") + field(lang, "end", "end_time", "datetime-local")


@get("/console/drawings", include_in_schema=False)
async def drawings_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := signed_in_only(request):
        return refused
    lang = lang_of(request)
    admin = is_admin(session_of(request))
    channel = field(lang, "channel_id", "task_channel", "number", 'min="1" step="1"') if admin else ""
    columns = DRAWING_COLUMNS[:1] + ("task_channel",) + DRAWING_COLUMNS[1:] if admin else DRAWING_COLUMNS
    body = f"""<form class="card inline" data-form="task-filter" data-scope="{"all" if admin else "self"}">
{field(lang, "mj_id", "task_id", extra='maxlength="191"')}
{channel}{_time_fields(lang)}
<button type="submit">{text(lang, "filter")}</button>
</form>
<div class="table-scroll">{table(lang, "drawings", columns)}</div>
{pager(lang, "drawings")}"""
    return page(request, "drawings", "drawings_title", body, active="/console/drawings", script="drawings.js")


@get("/console/tasks", include_in_schema=False)
async def tasks_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := signed_in_only(request):
        return refused
    lang = lang_of(request)
    admin = is_admin(session_of(request))
    statuses = f'<option value="">{text(lang, "task_all_statuses")}</option>' + "".join(
        f'<option value="{s}">{s}</option>' for s in STATUSES
    )
    channel = field(lang, "channel_id", "task_channel", "number", 'min="1" step="1"') if admin else ""
    columns = TASK_COLUMNS[:1] + ("task_user", "task_channel") + TASK_COLUMNS[1:] if admin else TASK_COLUMNS
    body = f"""<form class="card inline" data-form="task-filter" data-scope="{"all" if admin else "self"}">
{field(lang, "task_id", "task_id", extra='maxlength="191"')}
{field(lang, "platform", "task_platform", extra='maxlength="30"')}
<label>{text(lang, "task_status")}<select name="status">{statuses}</select></label>
{channel}{_time_fields(lang)}
<button type="submit">{text(lang, "filter")}</button>
</form>
<div class="table-scroll">{table(lang, "tasks", columns)}</div>
{pager(lang, "tasks")}"""
    return page(request, "tasks", "tasks_title", body, active="/console/tasks", script="tasks.js")


ROUTES = [drawings_page, tasks_page]
