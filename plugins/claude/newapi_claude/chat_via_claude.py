"""An OpenAI Chat Completions client on a Claude upstream (``openai.chat`` -> ``claude.messages``).

Requests go OpenAI -> Claude following New API's conversion (system messages gathered, tool
results as user ``tool_result`` blocks, 8192 ``max_tokens`` by default, ``reasoning_effort`` as a
thinking budget); responses and stream events come back Claude -> OpenAI. With the channel
option ``thinking_to_content`` thinking is written into ``content`` between ``<think>`` tags
instead of ``reasoning_content``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from newapi_host.sdk import ConvertContext, Converter, SSEEvent

SOURCE = "openai.chat"
TARGET = "claude.messages"

DEFAULT_MAX_TOKENS = 8192  # New API's ClaudeSettings.DefaultMaxTokens["default"]
EFFORT_BUDGETS = {"low": 1280, "medium": 2048, "high": 4096}
THINK_OPEN, THINK_CLOSE = "<think>\n", "\n</think>\n"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# -- request: OpenAI -> Claude -----------------------------------------------------------------


def _parse_data_url(url: str) -> tuple[str, str] | None:
    """``data:image/png;base64,AAAA`` -> (``image/png``, ``AAAA``)."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    return header[: -len(";base64")] or "application/octet-stream", data


def _image_block(part: dict[str, Any]) -> dict[str, Any] | None:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        return None
    parsed = _parse_data_url(url)
    if parsed is None:
        return {"type": "image", "source": {"type": "url", "url": url}}
    media, data = parsed
    kind = "document" if media == "application/pdf" else "image"
    return {"type": kind, "source": {"type": "base64", "media_type": media, "data": data}}


def _file_block(part: dict[str, Any]) -> dict[str, Any] | None:
    file = part.get("file")
    data = file.get("file_data") if isinstance(file, dict) else None
    parsed = _parse_data_url(data) if isinstance(data, str) else None
    if parsed is None:
        return None
    media, payload = parsed
    kind = "image" if media.startswith("image/") else "document"
    return {"type": kind, "source": {"type": "base64", "media_type": media, "data": payload}}


def _blocks(content: Any) -> list[dict[str, Any]]:
    """Claude content blocks for an OpenAI message ``content`` (empty text dropped)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else ():
        if isinstance(part, str):
            part = {"type": "text", "text": part}
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        block: dict[str, Any] | None = None
        if kind in ("text", "input_text") and isinstance(part.get("text"), str) and part["text"]:
            block = {"type": "text", "text": part["text"]}
        elif kind == "image_url":
            block = _image_block(part)
        elif kind == "file":
            block = _file_block(part)
        if block is not None:
            blocks.append(block)
    return blocks


def _text(content: Any) -> str:
    return "\n".join(b["text"] for b in _blocks(content) if b["type"] == "text")


def _tool_use(call: Any) -> dict[str, Any] | None:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict):
        return None
    arguments = fn.get("arguments")
    value: Any = arguments if isinstance(arguments, dict) else {}
    if isinstance(arguments, str) and arguments.strip():
        try:
            value = json.loads(arguments)
        except ValueError:
            value = {}
    return {
        "type": "tool_use",
        "id": call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
        "name": fn.get("name") or "",
        "input": value if isinstance(value, dict) else {},
    }


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.get("tool_call_id") or ""}
    if isinstance(content, str):
        block["content"] = content
    else:
        parts = _blocks(content)
        if parts:
            block["content"] = parts
    return block


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Add a turn; consecutive turns of one role become one turn, as Claude wants them."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": list(blocks)})


def _tools(tools: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, list) else ():
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            continue
        converted: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            converted["description"] = fn["description"]
        schema = fn.get("parameters")
        converted["input_schema"] = (
            schema if isinstance(schema, dict) and schema else {"type": "object", "properties": {}}
        )
        out.append(converted)
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    """New API's ``MapOpenAIToolChoice``."""
    mapped: dict[str, Any] | None = None
    if isinstance(choice, str):
        kind = {"auto": "auto", "required": "any", "none": "none"}.get(choice)
        mapped = {"type": kind} if kind else None
    elif isinstance(choice, dict):
        fn = choice.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            mapped = {"type": "tool", "name": fn["name"]}
    if isinstance(parallel, bool):
        mapped = mapped or {"type": "auto"}
        if mapped["type"] != "none":
            mapped["disable_parallel_tool_use"] = not parallel
    return mapped


def convert_request(body: dict[str, Any], ctx: ConvertContext) -> dict[str, Any]:
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        role = message.get("role") or "user"
        content = message.get("content")
        if role in ("system", "developer"):
            system.extend(b for b in _blocks(content) if b["type"] == "text")
        elif role == "tool":
            _append(messages, "user", [_tool_result(message)])
        elif role == "function":  # legacy function result
            block = {"type": "tool_result", "tool_use_id": message.get("name") or "", "content": _text(content)}
            _append(messages, "user", [block])
        elif role == "assistant":
            blocks = [b for b in _blocks(content) if b["type"] == "text"]
            blocks.extend(b for b in map(_tool_use, message.get("tool_calls") or ()) if b is not None)
            legacy = message.get("function_call")
            if isinstance(legacy, dict) and (block := _tool_use({"id": legacy.get("name"), "function": legacy})):
                blocks.append(block)
            if not messages:
                messages.append({"role": "user", "content": [{"type": "text", "text": "..."}]})
            _append(messages, "assistant", blocks)
        else:
            _append(messages, "user", _blocks(content) or [{"type": "text", "text": "..."}])

    out: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if system:
        out["system"] = system
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    out["max_tokens"] = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else DEFAULT_MAX_TOKENS
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)):
        out["temperature"] = min(float(temperature), 1.0)  # OpenAI allows up to 2, Claude up to 1
    if isinstance(body.get("top_p"), (int, float)):
        out["top_p"] = body["top_p"]
    if isinstance(body.get("top_k"), int):
        out["top_k"] = body["top_k"]
    stop = body.get("stop")
    if isinstance(stop, str) and stop:
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = [s for s in stop if isinstance(s, str) and s]
    tools = _tools(body.get("tools") or body.get("functions"))
    if tools:
        out["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
    budget = EFFORT_BUDGETS.get(body.get("reasoning_effort"))  # type: ignore[arg-type]
    if budget is not None:
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if out["max_tokens"] <= budget:
            out["max_tokens"] += budget  # the answer gets what the client asked for, on top of thinking
        for key in ("temperature", "top_p", "top_k"):  # thinking takes none of these
            out.pop(key, None)
    if isinstance(body.get("user"), str) and body["user"]:
        out["metadata"] = {"user_id": body["user"]}
    if body.get("stream"):
        out["stream"] = True
    return out


# -- response: Claude -> OpenAI ----------------------------------------------------------------

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def openai_usage(u: Any) -> dict[str, Any]:
    """Anthropic usage -> OpenAI usage: the prompt includes cache reads and cache writes."""
    u = u if isinstance(u, dict) else {}
    cached = _int(u.get("cache_read_input_tokens"))
    prompt = _int(u.get("input_tokens")) + cached + _int(u.get("cache_creation_input_tokens"))
    completion = _int(u.get("output_tokens"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def completion_id(upstream_id: Any) -> str:
    if isinstance(upstream_id, str) and upstream_id:
        return "chatcmpl-" + upstream_id.removeprefix("msg_")
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def convert_response(body: dict[str, Any], ctx: ConvertContext) -> dict[str, Any]:
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in body.get("content") or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thinking.append(block["thinking"])
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id") or "",
                    "type": "function",
                    "function": {"name": block.get("name") or "", "arguments": _dumps(block.get("input") or {})},
                }
            )
    text, reasoning = "".join(texts), "".join(thinking)
    message: dict[str, Any] = {"role": "assistant"}
    if reasoning and ctx.options.get("thinking_to_content"):
        text = f"{THINK_OPEN}{reasoning}{THINK_CLOSE}{text}"
    elif reasoning:
        message["reasoning_content"] = reasoning
    message["content"] = text if text or not calls else None
    if calls:
        message["tool_calls"] = calls
    stop = body.get("stop_reason")
    finish = FINISH_REASONS.get(stop, "stop") if isinstance(stop, str) else "stop"
    return {
        "id": completion_id(body.get("id")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": ctx.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": openai_usage(body.get("usage")),
    }


# -- stream: Claude events -> OpenAI chunks ----------------------------------------------------


class ClaudeToChatStream:
    """Anthropic Messages events in, ``chat.completion.chunk`` objects out.

    Tool calls are numbered from 0 in the order their blocks start; each ``input_json_delta`` is
    passed on at once as an ``arguments`` fragment of its call.
    """

    __slots__ = ("ctx", "id", "created", "usage", "tools", "tool_count", "finish_sent", "ended", "thinking_open")

    def __init__(self, ctx: ConvertContext) -> None:
        self.ctx = ctx
        self.id = completion_id(None)
        self.created = int(time.time())
        self.usage: dict[str, int] = {}
        self.tools: dict[int, int] = {}  # Claude block index -> OpenAI tool-call index
        self.tool_count = 0
        self.finish_sent = False
        self.ended = False
        self.thinking_open = False  # a <think> tag written into content is not closed yet

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> SSEEvent:
        payload = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.ctx.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return SSEEvent(data=_dumps(payload))

    def _merge_usage(self, u: Any, first: bool) -> None:
        if not isinstance(u, dict):
            return
        for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
            value = u.get(key)
            if (
                isinstance(value, int)
                and not isinstance(value, bool)
                and (first or key == "output_tokens" or value > 0)
            ):
                self.usage[key] = value

    def _usage_and_done(self) -> list[SSEEvent]:
        self.ended = True
        if not self.ctx.wants_usage:  # the client did not ask for stream_options.include_usage
            return [SSEEvent(data="[DONE]")]
        payload = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.ctx.model,
            "choices": [],
            "usage": openai_usage(self.usage),
        }
        return [SSEEvent(data=_dumps(payload)), SSEEvent(data="[DONE]")]

    def _thinking(self, text: str) -> SSEEvent:
        if self.ctx.options.get("thinking_to_content"):
            if not self.thinking_open:
                self.thinking_open = True
                text = THINK_OPEN + text
            return self._chunk({"content": text})
        return self._chunk({"reasoning_content": text})

    def _close_thinking(self) -> list[SSEEvent]:
        if not self.thinking_open:
            return []
        self.thinking_open = False
        return [self._chunk({"content": THINK_CLOSE})]

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        if self.ended or event.data.strip() == "[DONE]":
            return []
        try:
            payload = json.loads(event.data)
        except ValueError:
            raise ValueError("the upstream sent an event that is not JSON") from None
        if not isinstance(payload, dict):
            return []
        kind = payload.get("type") or event.event
        if kind == "message_start":
            message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
            if message.get("id"):
                self.id = completion_id(message["id"])
            self._merge_usage(message.get("usage"), first=True)
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = payload.get("content_block") if isinstance(payload.get("content_block"), dict) else {}
            btype = block.get("type")
            if btype == "tool_use":
                index = self.tool_count
                self.tool_count += 1
                self.tools[payload.get("index", -1)] = index
                call = {
                    "index": index,
                    "id": block.get("id") or "",
                    "type": "function",
                    "function": {"name": block.get("name") or "", "arguments": ""},
                }
                return [*self._close_thinking(), self._chunk({"tool_calls": [call]})]
            if btype == "text" and block.get("text"):
                return [*self._close_thinking(), self._chunk({"content": block["text"]})]
            if btype == "thinking" and block.get("thinking"):
                return [self._thinking(block["thinking"])]
            return []
        if kind == "content_block_delta":
            delta = payload.get("delta") if isinstance(payload.get("delta"), dict) else {}
            dtype = delta.get("type")
            if dtype == "text_delta" and delta.get("text"):
                return [*self._close_thinking(), self._chunk({"content": delta["text"]})]
            if dtype == "thinking_delta" and delta.get("thinking"):
                return [self._thinking(delta["thinking"])]
            if dtype == "input_json_delta" and delta.get("partial_json"):
                index = self.tools.get(payload.get("index", -1))
                if index is None:
                    return []
                fragment = {"index": index, "function": {"arguments": delta["partial_json"]}}
                return [self._chunk({"tool_calls": [fragment]})]
            return []
        if kind == "content_block_stop":
            return self._close_thinking()
        if kind == "message_delta":
            self._merge_usage(payload.get("usage"), first=False)
            delta = payload.get("delta") if isinstance(payload.get("delta"), dict) else {}
            stop = delta.get("stop_reason")
            if stop and not self.finish_sent:
                self.finish_sent = True
                return [*self._close_thinking(), self._chunk({}, FINISH_REASONS.get(stop, "stop"))]
            return []
        if kind == "message_stop":
            out = self._close_thinking()
            if not self.finish_sent:
                self.finish_sent = True
                out.append(self._chunk({}, "stop"))
            return out + self._usage_and_done()
        if kind == "error":
            error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
            self.ended = True
            body = {
                "error": {
                    "message": str(error.get("message") or "upstream error"),
                    "type": str(error.get("type") or "upstream_error"),
                    "param": None,
                    "code": None,
                }
            }
            return [SSEEvent(data=_dumps(body))]
        return []  # ping and anything new

    def finish(self) -> list[SSEEvent]:
        if self.ended or not self.finish_sent:
            return []  # complete already, or cut off (the host reports that)
        return self._close_thinking() + self._usage_and_done()


def stream(ctx: ConvertContext) -> ClaudeToChatStream:
    return ClaudeToChatStream(ctx)


CONVERTER = Converter(source=SOURCE, target=TARGET, request=convert_request, response=convert_response, stream=stream)
