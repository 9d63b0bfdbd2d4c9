"""Playground: chat with a chosen model through one of the user's own keys, streamed.

The page sends ``POST /v1/chat/completions`` from the browser with the chosen key, exactly as an
API client would, so what it shows is what the relay does for that key (its groups, model limits,
quota and billing). The transcript and the revealed key live only in the page's memory.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import page, signed_in_only, text

STRINGS = {
    "en": {
        "playground_title": "Playground",
        "playground_key": "API key",
        "playground_no_keys": "You have no enabled API key yet.",
        "playground_create_key": "Create one on the API keys page",
        "playground_no_models": "This key can use no model.",
        "playground_system": "System prompt",
        "playground_system_placeholder": "Optional instructions for the model",
        "playground_temperature": "Temperature",
        "playground_max_tokens": "Max tokens",
        "playground_default": "model default",
        "playground_stream": "Stream the reply",
        "playground_message": "Message",
        "playground_message_placeholder": "Type a message; Enter sends, Shift+Enter starts a new line",
        "playground_send": "Send",
        "playground_stop": "Stop",
        "playground_clear": "Clear",
        "playground_you": "You",
        "playground_assistant": "Assistant",
        "playground_thinking": "Reasoning",
        "playground_stopped": "Stopped.",
        "playground_incomplete": "The reply ended before it was complete.",
        "playground_empty": "Pick a key and a model, then say something.",
        "playground_usage": "Prompt tokens: {prompt} · Completion tokens: {completion}",
    },
    "zh": {
        "playground_title": "操练场",
        "playground_key": "令牌",
        "playground_no_keys": "你还没有启用的令牌。",
        "playground_create_key": "去令牌管理页创建",
        "playground_no_models": "该令牌没有可用模型。",
        "playground_system": "系统提示词",
        "playground_system_placeholder": "可选：给模型的指令",
        "playground_temperature": "温度",
        "playground_max_tokens": "最大 tokens",
        "playground_default": "模型默认",
        "playground_stream": "流式输出",
        "playground_message": "消息",
        "playground_message_placeholder": "输入消息；Enter 发送，Shift+Enter 换行",
        "playground_send": "发送",
        "playground_stop": "停止",
        "playground_clear": "清空",
        "playground_you": "你",
        "playground_assistant": "助手",
        "playground_thinking": "思考过程",
        "playground_stopped": "已停止。",
        "playground_incomplete": "回复未完整结束。",
        "playground_empty": "选择令牌和模型，然后开始对话。",
        "playground_usage": "输入 tokens：{prompt} · 输出 tokens：{completion}",
    },
}
add_strings(STRINGS)


@get("/console/playground", include_in_schema=False)
async def playground_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := signed_in_only(request):
        return refused
    lang = lang_of(request)
    default = text(lang, "playground_default")
    body = f"""<div class="playground">
<form class="card pg-settings" data-form="chat-settings">
<label>{text(lang, "playground_key")}<select name="token" disabled>
<option value="">{text(lang, "loading")}</option></select></label>
<p class="pg-nokeys" data-no-keys hidden>{text(lang, "playground_no_keys")}
<a href="/console/keys">{text(lang, "playground_create_key")}</a></p>
<label>{text(lang, "model_name")}<select name="model" disabled></select></label>
<small class="help" data-no-models hidden>{text(lang, "playground_no_models")}</small>
<label>{text(lang, "playground_system")}<textarea name="system" rows="4"
 placeholder="{text(lang, "playground_system_placeholder")}"></textarea></label>
<label>{text(lang, "playground_temperature")}<input name="temperature" type="number" min="0" max="2" step="0.1"
 placeholder="{default}"></label>
<label>{text(lang, "playground_max_tokens")}<input name="max_tokens" type="number" min="1" step="1"
 placeholder="{default}"></label>
<label class="check"><input name="stream" type="checkbox" checked>{text(lang, "playground_stream")}</label>
</form>
<section class="card pg-chat">
<div class="pg-transcript" data-transcript aria-live="polite">
<p class="pg-hint" data-hint>{text(lang, "playground_empty")}</p>
</div>
<form class="pg-input" data-form="chat">
<textarea name="message" rows="3" required aria-label="{text(lang, "playground_message")}"
 placeholder="{text(lang, "playground_message_placeholder")}"></textarea>
<div class="pg-buttons">
<button type="submit" disabled>{text(lang, "playground_send")}</button>
<button type="button" class="secondary" data-action="stop" disabled>{text(lang, "playground_stop")}</button>
<button type="button" class="secondary" data-action="clear">{text(lang, "playground_clear")}</button>
</div>
</form>
</section>
</div>"""
    return page(request, "playground", "playground_title", body, active="/console/playground", script="playground.js")


ROUTES = [playground_page]
