"""A Claude Messages client on an OpenAI Chat Completions upstream (``claude.messages`` -> ``openai.chat``).

For example Claude Code on a channel that only speaks OpenAI's API. Requests go Claude -> OpenAI;
responses and stream events come back OpenAI -> Claude. The stream converter keeps only the
state of the block being written (its kind and index) and the usage, never the text.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from newapi_host.sdk import ConvertContext, Converter, SSEEvent

from .dialect import error_type

SOURCE = "claude.messages"
TARGET = "openai.chat"

# thinking.budget_tokens -> reasoning_effort: New API's effort -> budget mapping (1280/2048/4096), reversed.
LOW_BUDGET, MEDIUM_BUDGET = 1280, 2048


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# -- request: Claude -> OpenAI -----------------------------------------------------------------


def _text(content: Any, sep: str = "\n") -> str:
    """The text of a string or a list of blocks (non-text blocks skipped)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return sep.join(
            b["text"]
            for b in content
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        )
    return ""


def _image_part(block: dict[str, Any]) -> dict[str, Any] | None:
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type') or 'image/png'};base64,{source.get('data') or ''}"
    elif source.get("type") == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    else:
        return None
    return {"type": "image_url", "image_url": {"url": url}}


def _document_part(block: dict[str, Any]) -> dict[str, Any] | None:
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    kind = source.get("type")
    if kind == "base64":
        media = source.get("media_type") or "application/pdf"
        name = block.get("title") or "document.pdf"
        return {
            "type": "file",
            "file": {"filename": name, "file_data": f"data:{media};base64,{source.get('data') or ''}"},
        }
    if kind == "text" and isinstance(source.get("data"), str):
        return {"type": "text", "text": source["data"]}
    if kind == "url" and isinstance(source.get("url"), str):
        return {"type": "text", "text": source["url"]}
    return None


def _media_part(block: dict[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str):
        return {"type": "text", "text": block["text"]}
    if kind == "image":
        return _image_part(block)
    if kind == "document":
        return _document_part(block)
    return None


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Plain text as a string (every OpenAI-compatible upstream takes it); mixed content as parts."""
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _tool_result(block: dict[str, Any], media: list[dict[str, Any]]) -> dict[str, Any]:
    inner = block.get("content")
    if isinstance(inner, list):
        text = _text(inner)
        media.extend(p for b in inner if isinstance(b, dict) and b.get("type") != "text" and (p := _media_part(b)))
    else:
        text = inner if isinstance(inner, str) else ""
    if block.get("is_error"):
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": block.get("tool_use_id") or "", "content": text}


def _user_messages(content: list[Any]) -> list[dict[str, Any]]:
    """Tool results first (they must follow the assistant's tool calls), then the rest as a user turn."""
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_result":
            tools.append(_tool_result(block, parts))
        elif (part := _media_part(block)) is not None:
            parts.append(part)
    out = tools
    if parts:
        out.append({"role": "user", "content": _content(parts)})
    return out


def _assistant_message(content: list[Any]) -> dict[str, Any] | None:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id") or "",
                    "type": "function",
                    "function": {"name": block.get("name") or "", "arguments": _dumps(block.get("input") or {})},
                }
            )
        # thinking blocks carry Anthropic signatures no OpenAI upstream can use: dropped
    text = "\n".join(texts)
    if not text and not calls:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _tool(tool: Any) -> dict[str, Any] | None:
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        return None
    if tool.get("type") not in (None, "custom"):
        return None  # Anthropic's server tools (web search, bash, ...) have no OpenAI equivalent
    function: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        function["description"] = tool["description"]
    function["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if not isinstance(choice, dict):
        return None
    kind = choice.get("type")
    if kind == "tool" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    return {"auto": "auto", "any": "required", "none": "none"}.get(kind)  # type: ignore[arg-type]


def effort_for_budget(budget: int) -> str:
    if budget <= LOW_BUDGET:
        return "low"
    if budget <= MEDIUM_BUDGET:
        return "medium"
    return "high"


def _reasoning_effort(body: dict[str, Any]) -> str | None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict):
        return None
    if thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        return effort_for_budget(budget if isinstance(budget, int) else MEDIUM_BUDGET)
    if thinking.get("type") == "adaptive":
        config = body.get("output_config")
        effort = config.get("effort") if isinstance(config, dict) else None
        return {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}.get(
            effort if isinstance(effort, str) else "", "medium"
        )
    return None


def convert_request(body: dict[str, Any], ctx: ConvertContext) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    system = _text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        role, content = message.get("role"), message.get("content")
        if isinstance(content, str):
            messages.append({"role": role, "content": content})
        elif not isinstance(content, list):
            continue
        elif role == "assistant":
            if (converted := _assistant_message(content)) is not None:
                messages.append(converted)
        else:
            messages.extend(_user_messages(content))

    out: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if isinstance(body.get("max_tokens"), int):
        out["max_tokens"] = body["max_tokens"]
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    stops = body.get("stop_sequences")
    if isinstance(stops, list) and stops:
        out["stop"] = stops
    tools = [t for t in map(_tool, body.get("tools") or ()) if t is not None]
    if tools:
        out["tools"] = tools
        choice = body.get("tool_choice")
        if (mapped := _tool_choice(choice)) is not None:
            out["tool_choice"] = mapped
        if isinstance(choice, dict) and choice.get("disable_parallel_tool_use") and mapped != "none":
            out["parallel_tool_calls"] = False
    if (effort := _reasoning_effort(body)) is not None:
        out["reasoning_effort"] = effort
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str) and metadata["user_id"]:
        out["user"] = metadata["user_id"][:64]
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


# -- response: OpenAI -> Claude ----------------------------------------------------------------

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def message_id(upstream_id: Any) -> str:
    if isinstance(upstream_id, str) and upstream_id:
        return "msg_" + upstream_id.removeprefix("chatcmpl-")
    return "msg_" + uuid.uuid4().hex[:24]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def claude_usage(u: Any) -> dict[str, int]:
    """OpenAI usage (prompt includes cached) -> Anthropic usage (input excludes cache reads)."""
    u = u if isinstance(u, dict) else {}
    details = u.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    prompt = _int(u.get("prompt_tokens"))
    return {
        "input_tokens": max(0, prompt - cached),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": _int(u.get("completion_tokens")),
    }


def _parse_arguments(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _reasoning_of(message: dict[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def convert_response(body: dict[str, Any], ctx: ConvertContext) -> dict[str, Any]:
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    blocks: list[dict[str, Any]] = []
    if reasoning := _reasoning_of(message):
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    content = message.get("content")
    text = content if isinstance(content, str) else _text(content, "")
    if text:
        blocks.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            continue
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or "toolu_" + uuid.uuid4().hex[:24],
                "name": fn.get("name") or "",
                "input": _parse_arguments(fn.get("arguments")),
            }
        )
    has_tools = any(b["type"] == "tool_use" for b in blocks)
    finish = choice.get("finish_reason")
    stop_reason = STOP_REASONS.get(finish, "end_turn") if finish else "end_turn"
    if has_tools and stop_reason == "end_turn":
        stop_reason = "tool_use"  # some vendors report "stop" after tool calls
    return {
        "id": message_id(body.get("id")),
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": claude_usage(body.get("usage")),
    }


# -- stream: OpenAI chunks -> Claude events ----------------------------------------------------


def _event(payload: dict[str, Any]) -> SSEEvent:
    return SSEEvent(data=_dumps(payload), event=payload["type"])


class ChatToClaudeStream:
    """OpenAI chat chunks in, Anthropic Messages events out.

    Blocks are written one at a time, as Anthropic does: a delta of another kind (or of another
    tool call) closes the open block and starts the next index. ``message_delta`` and
    ``message_stop`` wait for the upstream's usage chunk, which follows the finish reason.
    """

    __slots__ = (
        "ctx",
        "started",
        "ended",
        "open_kind",
        "open_key",
        "open_index",
        "next_index",
        "tool_blocks",
        "last_tool_key",
        "stop_reason",
        "usage",
        "done_seen",
        "any_tool",
    )

    def __init__(self, ctx: ConvertContext) -> None:
        self.ctx = ctx
        self.started = False
        self.ended = False
        self.open_kind: str | None = None  # "thinking" | "text" | "tool_use"
        self.open_key: Any = None  # the OpenAI tool-call index of an open tool block
        self.open_index = -1
        self.next_index = 0
        self.tool_blocks: dict[Any, int] = {}  # OpenAI tool-call index -> block index
        self.last_tool_key: Any = None
        self.stop_reason: str | None = None
        self.usage: dict[str, int] | None = None
        self.done_seen = False
        self.any_tool = False

    # -- helpers

    def _start(self, chunk: dict[str, Any], out: list[SSEEvent]) -> None:
        if self.started:
            return
        self.started = True
        out.append(
            _event(
                {
                    "type": "message_start",
                    "message": {
                        "id": message_id(chunk.get("id")),
                        "type": "message",
                        "role": "assistant",
                        "model": self.ctx.model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 0, "output_tokens": 0},
                    },
                }
            )
        )

    def _close(self, out: list[SSEEvent]) -> None:
        if self.open_kind is not None:
            out.append(_event({"type": "content_block_stop", "index": self.open_index}))
            self.open_kind, self.open_key = None, None

    def _open(self, kind: str, block: dict[str, Any], out: list[SSEEvent], key: Any = None) -> int:
        self._close(out)
        index = self.next_index
        self.next_index += 1
        self.open_kind, self.open_key, self.open_index = kind, key, index
        out.append(_event({"type": "content_block_start", "index": index, "content_block": block}))
        return index

    def _delta(self, index: int, delta: dict[str, Any], out: list[SSEEvent]) -> None:
        out.append(_event({"type": "content_block_delta", "index": index, "delta": delta}))

    def _text(self, kind: str, value: str, out: list[SSEEvent]) -> None:
        if self.open_kind != kind:
            block = (
                {"type": "thinking", "thinking": "", "signature": ""}
                if kind == "thinking"
                else {"type": "text", "text": ""}
            )
            self._open(kind, block, out)
        field = "thinking" if kind == "thinking" else "text"
        self._delta(self.open_index, {"type": f"{field}_delta", field: value}, out)

    def _tool_key(self, call: dict[str, Any]) -> Any:
        index = call.get("index")
        if isinstance(index, int):
            return index
        # vendors without an index: the id names the call; fragments without one continue the last call
        if isinstance(call.get("id"), str) and call["id"]:
            return call["id"]
        return self.last_tool_key if self.last_tool_key is not None else 0

    def _tool_call(self, call: dict[str, Any], out: list[SSEEvent]) -> None:
        key = self._tool_key(call)
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        if key not in self.tool_blocks:
            block = {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
                "name": fn.get("name") or "",
                "input": {},
            }
            self.tool_blocks[key] = self._open("tool_use", block, out, key)
            self.any_tool = True
        elif not (self.open_kind == "tool_use" and self.open_key == key):
            self._close(out)  # a late fragment of an earlier call keeps that call's index
        self.last_tool_key = key
        arguments = fn.get("arguments")
        if isinstance(arguments, str) and arguments:
            self._delta(self.tool_blocks[key], {"type": "input_json_delta", "partial_json": arguments}, out)

    def _end(self, out: list[SSEEvent]) -> None:
        if self.ended or not self.started:
            return
        self._close(out)
        reason = self.stop_reason or ("tool_use" if self.any_tool else "end_turn")
        usage = self.usage or {"output_tokens": 0}
        out.append(
            _event({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None}, "usage": usage})
        )
        out.append(_event({"type": "message_stop"}))
        self.ended = True

    # -- protocol

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        if self.ended:
            return []
        if event.data.strip() == "[DONE]":
            self.done_seen = True
            return []
        try:
            chunk = json.loads(event.data)
        except ValueError:
            raise ValueError("the upstream sent an event that is not JSON") from None
        if not isinstance(chunk, dict):
            return []
        out: list[SSEEvent] = []
        error = chunk.get("error")
        if error and not chunk.get("choices"):
            info = error if isinstance(error, dict) else {"message": str(error)}
            status = info.get("code") if isinstance(info.get("code"), int) else 500
            self._close(out)
            out.append(
                _event(
                    {
                        "type": "error",
                        "error": {"type": error_type(status), "message": str(info.get("message") or "upstream error")},
                    }
                )
            )
            self.ended = True
            return out
        self._start(chunk, out)
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            reasoning = _reasoning_of(delta)
            if reasoning:
                self._text("thinking", reasoning, out)
            content = delta.get("content")
            if isinstance(content, str) and content:
                self._text("text", content, out)
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    self._tool_call(call, out)
            finish = choice.get("finish_reason")
            if finish:
                self._close(out)
                reason = STOP_REASONS.get(finish, "end_turn")
                if reason == "end_turn" and self.any_tool:
                    reason = "tool_use"
                self.stop_reason = reason
        usage = chunk.get("usage")
        if isinstance(usage, dict) and usage:
            self.usage = claude_usage(usage)
            if self.stop_reason is not None and not chunk.get("choices"):
                self._end(out)  # the usage chunk after the finish reason: the message is complete
        return out

    def finish(self) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        if self.ended or not self.started:
            return out
        if self.stop_reason is not None or self.done_seen:
            self._end(out)
        else:
            self._close(out)  # cut off: the host reports the error after this
        return out


def stream(ctx: ConvertContext) -> ChatToClaudeStream:
    return ChatToClaudeStream(ctx)


CONVERTER = Converter(source=SOURCE, target=TARGET, request=convert_request, response=convert_response, stream=stream)
