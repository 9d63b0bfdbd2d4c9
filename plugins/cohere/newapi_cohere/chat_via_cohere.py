"""OpenAI Chat Completions clients on Cohere upstreams (``openai.chat`` -> ``cohere.chat``).

Every other client format reaches Cohere through this converter: the host chains the OpenAI
plugin's Responses converter, the Claude plugin's and the Gemini plugin's converters to
``openai.chat`` in front of it.

Requests: Cohere's v2 messages are close to OpenAI's (roles ``system``, ``user``, ``assistant``,
``tool``; tool calls and tool definitions have OpenAI's shape), so most of the work is in the
parameters: ``top_p`` becomes ``p``, penalties are clamped to Cohere's 0..1, a named
``tool_choice`` becomes ``REQUIRED`` with only that tool offered (Cohere cannot name one), and
``reasoning_effort`` switches ``thinking`` on or off. Text an assistant wrote beside its tool
calls travels as Cohere's ``tool_plan``, and a ``tool_plan`` comes back as that text. What Cohere
cannot take (``n`` above 1, audio or file parts) is refused with a message rather than dropped.

Answers come back in OpenAI's shape with ``thinking`` as ``reasoning_content`` (or in ``<think>``
tags in the content with the channel switch ``thinking_to_content``) and Cohere's billed units as
usage. The stream converter keeps a few counters per stream and no text.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from newapi_host.sdk import ConvertContext, Converter, InvalidRequest, SSEEvent, dumps

from .dialect import NAME as TARGET
from .dialect import billed, decode_event

SOURCE = "openai.chat"
FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
THINKING_OFF = ("none", "minimal")  # reasoning_effort values that switch Cohere's thinking off
THINK_OPEN, THINK_CLOSE = "<think>\n", "\n</think>\n"

# -- request: OpenAI -> Cohere -----------------------------------------------------------------


def _content(content: Any, role: str, images: bool) -> str | list[dict[str, Any]]:
    """A Cohere message ``content``: a string as it is, or text (and, for users, image) blocks."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise InvalidRequest(f"{role} message content must be a string or a list of parts", param="messages")
    blocks: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            part = {"type": "text", "text": part}
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "input_text") and isinstance(part.get("text"), str):
            blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url" and images:
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise InvalidRequest("an image_url part has no url", param="messages")
            block: dict[str, Any] = {"url": url}
            if isinstance(image, dict) and image.get("detail") in ("auto", "low", "high"):
                block["detail"] = image["detail"]
            blocks.append({"type": "image_url", "image_url": block})
        elif kind == "refusal" and role == "assistant" and isinstance(part.get("refusal"), str):
            blocks.append({"type": "text", "text": part["refusal"]})
        else:
            raise InvalidRequest(f"Cohere does not take {kind or 'untyped'} parts in {role} messages", param="messages")
    return blocks


def _text(content: Any, role: str) -> str:
    converted = _content(content, role, images=False)
    return converted if isinstance(converted, str) else "".join(b["text"] for b in converted)


def _tool_call(call: Any) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidRequest("a tool call has no function name", param="messages")
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = dumps(arguments if arguments is not None else {})
    return {
        "id": call.get("id") or f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": function["name"], "arguments": arguments or "{}"},
    }


def _assistant(message: dict[str, Any]) -> dict[str, Any] | None:
    text = _text(message.get("content"), "assistant")
    calls = [_tool_call(c) for c in message.get("tool_calls") or ()]
    legacy = message.get("function_call")
    if isinstance(legacy, dict):  # the id is the name, as the legacy ``function`` result carries it
        calls.append(_tool_call({"id": legacy.get("name"), "function": legacy}))
    if not calls:
        return {"role": "assistant", "content": text} if text else None
    out: dict[str, Any] = {"role": "assistant", "tool_calls": calls}
    if text:
        out["tool_plan"] = text
    return out


def _tool_result(message: dict[str, Any], call_id: Any) -> dict[str, Any]:
    content = _content(message.get("content"), "tool", images=False)
    return {"role": "tool", "tool_call_id": call_id if isinstance(call_id, str) else "", "content": content}


def _messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    out: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, dict):
            raise InvalidRequest("each message must be an object", param="messages")
        role = message.get("role")
        if role in ("system", "developer"):
            out.append({"role": "system", "content": _content(message.get("content"), "system", images=False)})
        elif role == "user":
            out.append({"role": "user", "content": _content(message.get("content"), "user", images=True)})
        elif role == "assistant":
            converted = _assistant(message)
            if converted is not None:
                out.append(converted)
        elif role == "tool":
            out.append(_tool_result(message, message.get("tool_call_id")))
        elif role == "function":  # legacy function result, matched by name
            out.append(_tool_result(message, message.get("name")))
        else:
            raise InvalidRequest(f"unknown message role {role!r}", param="messages")
    return out


def _tools(tools: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            continue  # only function tools exist on Cohere
        function = tool.get("function", tool)  # legacy ``functions`` entries are the definition itself
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            continue
        schema = function.get("parameters")
        converted: dict[str, Any] = {
            "name": function["name"],
            "parameters": schema if isinstance(schema, dict) and schema else {"type": "object", "properties": {}},
        }
        if isinstance(function.get("description"), str):
            converted["description"] = function["description"]
        out.append({"type": "function", "function": converted})
    return out


def _apply_tool_choice(out: dict[str, Any], choice: Any) -> None:
    """``required``/``none`` -> ``REQUIRED``/``NONE``; a named function -> only that tool, ``REQUIRED``."""
    if choice in ("required", "none"):
        out["tool_choice"] = choice.upper()
        return
    name = None
    if isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else choice.get("name")
    if not isinstance(name, str):
        return  # "auto" or nothing: Cohere's default
    chosen = [t for t in out.get("tools", ()) if t["function"]["name"] == name]
    if not chosen:
        raise InvalidRequest(f"tool_choice names {name!r}, which is not among the tools", param="tool_choice")
    out["tools"], out["tool_choice"] = chosen, "REQUIRED"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _response_format(value: Any) -> dict[str, Any] | None:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return {"type": "json_object", "json_schema": schema} if isinstance(schema, dict) else {"type": "json_object"}
    return None


def convert_request(body: dict[str, Any], ctx: ConvertContext) -> dict[str, Any]:
    n = body.get("n")
    if n not in (None, 1):
        raise InvalidRequest("Cohere writes one answer per request; n must be 1", param="n")
    out: dict[str, Any] = {"model": body.get("model"), "messages": _messages(body.get("messages"))}
    tools = _tools(body.get("tools") or body.get("functions"))
    if tools:
        out["tools"] = tools
        _apply_tool_choice(out, body.get("tool_choice", body.get("function_call")))
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0:
        out["max_tokens"] = max_tokens
    if (temperature := _number(body.get("temperature"))) is not None:
        out["temperature"] = max(0.0, temperature)
    if (top_p := _number(body.get("top_p"))) is not None:
        out["p"] = min(max(top_p, 0.01), 0.99)  # Cohere's range
    if isinstance(body.get("top_k"), int) and not isinstance(body["top_k"], bool):
        out["k"] = min(max(body["top_k"], 0), 500)
    for key in ("frequency_penalty", "presence_penalty"):
        if (value := _number(body.get(key))) is not None:
            out[key] = min(max(value, 0.0), 1.0)  # OpenAI allows -2..2, Cohere 0..1
    if isinstance(body.get("seed"), int) and not isinstance(body["seed"], bool):
        out["seed"] = body["seed"]
    stop = body.get("stop")
    if isinstance(stop, str) and stop:
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and (sequences := [s for s in stop if isinstance(s, str) and s]):
        out["stop_sequences"] = sequences
    if (response_format := _response_format(body.get("response_format"))) is not None:
        out["response_format"] = response_format
    effort = body.get("reasoning_effort")
    if isinstance(effort, str) and effort:
        out["thinking"] = {"type": "disabled" if effort in THINKING_OFF else "enabled"}
    out["stream"] = bool(body.get("stream"))
    return out


# -- response: Cohere -> OpenAI ----------------------------------------------------------------


def openai_usage(usage: Any) -> dict[str, int]:
    prompt, completion = billed(usage) or (0, 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion_id(upstream_id: Any) -> str:
    return "chatcmpl-" + (upstream_id if isinstance(upstream_id, str) and upstream_id else uuid.uuid4().hex)


def finish_reason(reason: Any) -> str:
    return FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


def convert_response(body: dict[str, Any], ctx: ConvertContext) -> dict[str, Any]:
    message = body.get("message")
    if not isinstance(message, dict):
        raise ValueError(f"the upstream answer has no message: {str(body)[:200]}")
    texts: list[str] = []
    thinking: list[str] = []
    for item in message.get("content") or ():
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            texts.append(item["text"])
        elif isinstance(item, dict) and isinstance(item.get("thinking"), str):
            thinking.append(item["thinking"])
    calls = [
        {
            "id": c.get("id") or f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {
                "name": (c.get("function") or {}).get("name") or "",
                "arguments": (c.get("function") or {}).get("arguments") or "{}",
            },
        }
        for c in message.get("tool_calls") or ()
        if isinstance(c, dict)
    ]
    text = "".join(texts)
    if not text and calls and isinstance(message.get("tool_plan"), str):
        text = message["tool_plan"]
    reasoning = "".join(thinking)
    out: dict[str, Any] = {"role": "assistant"}
    if reasoning and ctx.options.get("thinking_to_content"):
        text = f"{THINK_OPEN}{reasoning}{THINK_CLOSE}{text}"
    elif reasoning:
        out["reasoning_content"] = reasoning
    out["content"] = text if text or not calls else None
    if calls:
        out["tool_calls"] = calls
    return {
        "id": completion_id(body.get("id")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": ctx.model,
        "choices": [
            {"index": 0, "message": out, "finish_reason": finish_reason(body.get("finish_reason")), "logprobs": None}
        ],
        "usage": openai_usage(body.get("usage")),
    }


# -- stream: Cohere events -> OpenAI chunks ----------------------------------------------------


def _delta_message(payload: dict[str, Any]) -> dict[str, Any]:
    delta = payload.get("delta")
    message = delta.get("message") if isinstance(delta, dict) else None
    return message if isinstance(message, dict) else {}


class CohereToChatStream:
    """Cohere v2 stream events in, ``chat.completion.chunk`` events out, ending with ``[DONE]``.

    Tool calls are numbered from 0 in the order they start; Cohere's event ``index`` is mapped
    to that number, so arguments fragments find their call. ``message-end`` closes the stream:
    a finish chunk, the usage chunk when the client asked for it (``ctx.wants_usage``), ``[DONE]``.
    """

    __slots__ = ("ctx", "id", "created", "tools", "ended", "thinking_open")

    def __init__(self, ctx: ConvertContext) -> None:
        self.ctx = ctx
        self.id = completion_id(None)
        self.created = int(time.time())
        self.tools: dict[Any, int] = {}  # Cohere tool-call index -> OpenAI tool-call index
        self.ended = False
        self.thinking_open = False  # a <think> tag written into content is not closed yet

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> SSEEvent:
        payload: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.ctx.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if usage is not None:
            payload["choices"], payload["usage"] = [], usage
        return SSEEvent(data=dumps(payload))

    def _text(self, text: str) -> list[SSEEvent]:
        return [*self._close_thinking(), self._chunk({"content": text})] if text else []

    def _thinking(self, text: str) -> list[SSEEvent]:
        if not text:
            return []
        if not self.ctx.options.get("thinking_to_content"):
            return [self._chunk({"reasoning_content": text})]
        if not self.thinking_open:
            self.thinking_open, text = True, THINK_OPEN + text
        return [self._chunk({"content": text})]

    def _close_thinking(self) -> list[SSEEvent]:
        if not self.thinking_open:
            return []
        self.thinking_open = False
        return [self._chunk({"content": THINK_CLOSE})]

    def _content(self, payload: dict[str, Any]) -> list[SSEEvent]:
        content = _delta_message(payload).get("content")
        if not isinstance(content, dict):
            return []
        if isinstance(content.get("thinking"), str):
            return self._thinking(content["thinking"])
        return self._text(content.get("text") if isinstance(content.get("text"), str) else "")

    def _tool_call(self, payload: dict[str, Any], start: bool) -> list[SSEEvent]:
        call = _delta_message(payload).get("tool_calls")
        function = call.get("function") if isinstance(call, dict) else None
        function = function if isinstance(function, dict) else {}
        arguments = function.get("arguments") if isinstance(function.get("arguments"), str) else ""
        key = payload.get("index", len(self.tools) if start else len(self.tools) - 1)
        if start:
            self.tools[key] = len(self.tools)
            entry = {
                "index": self.tools[key],
                "id": call.get("id") if isinstance(call, dict) and call.get("id") else f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {"name": function.get("name") or "", "arguments": arguments},
            }
            return [*self._close_thinking(), self._chunk({"tool_calls": [entry]})]
        if key not in self.tools or not arguments:
            return []
        return [self._chunk({"tool_calls": [{"index": self.tools[key], "function": {"arguments": arguments}}]})]

    def _end(self, payload: dict[str, Any]) -> list[SSEEvent]:
        delta = payload.get("delta") if isinstance(payload.get("delta"), dict) else {}
        if delta.get("error"):
            raise ValueError(f"the upstream reported an error mid-stream: {delta['error']}")
        self.ended = True
        out = [*self._close_thinking(), self._chunk({}, finish_reason(delta.get("finish_reason")))]
        if self.ctx.wants_usage:  # only when the client asked (stream_options.include_usage)
            out.append(self._chunk({}, usage=openai_usage(delta.get("usage"))))
        out.append(SSEEvent(data="[DONE]"))
        return out

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        decoded = decode_event(event)
        if decoded is None or self.ended:
            return []
        kind, payload = decoded
        if kind == "message-start":
            if isinstance(payload.get("id"), str) and payload["id"]:
                self.id = completion_id(payload["id"])
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind in ("content-start", "content-delta"):
            return self._content(payload)
        if kind == "content-end":
            return self._close_thinking()
        if kind == "tool-plan-delta":
            plan = _delta_message(payload).get("tool_plan")
            return self._text(plan if isinstance(plan, str) else "")
        if kind in ("tool-call-start", "tool-call-delta"):
            return self._tool_call(payload, start=kind == "tool-call-start")
        if kind == "message-end":
            return self._end(payload)
        return []  # tool-call-end, citations, debug and anything new

    def finish(self) -> list[SSEEvent]:
        return []  # complete at message-end; a stream cut off before it is reported by the host


CONVERTER = Converter(
    source=SOURCE, target=TARGET, request=convert_request, response=convert_response, stream=CohereToChatStream
)
