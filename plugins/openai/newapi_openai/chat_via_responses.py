"""Chat clients on Responses-API upstreams: ``Converter(source="openai.chat", target="openai.responses")``.

Chat-completions clients use an upstream that only speaks the Responses API. The stream
converter keeps no text at all: each Responses event becomes chat chunks as it arrives.
"""

from __future__ import annotations

import time
from typing import Any

from newapi_host.sdk import ConvertContext, Converter, SSEEvent, dumps, token_count

from .responses_items import copy_fields, id_base, read_event, text_of

# ============================================================================================
# chat request -> Responses request


def _input_part(part: Any) -> dict | None:
    if isinstance(part, str):
        return {"type": "input_text", "text": part}
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind == "text":
        return {"type": "input_text", "text": part.get("text") or ""}
    if kind == "image_url":
        image = part.get("image_url")
        url, detail = (
            (image, None) if isinstance(image, str) else ((image or {}).get("url"), (image or {}).get("detail"))
        )
        return {"type": "input_image", "image_url": url or "", "detail": detail or "auto"}
    if kind == "input_audio":
        return {"type": "input_audio", "input_audio": part.get("input_audio") or {}}
    if kind == "file":
        file = part.get("file") if isinstance(part.get("file"), dict) else {}
        return {"type": "input_file", **{k: file[k] for k in ("file_data", "file_id", "filename") if file.get(k)}}
    return None


def _responses_tools(tools: Any) -> list[dict]:
    out = []
    for tool in tools or ():
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            continue
        fn = tool.get("function") if isinstance(tool.get("function"), dict) else {}
        item: dict[str, Any] = {"type": "function", "name": fn.get("name") or ""}
        copy_fields(fn, item, "description", "parameters")
        # the Responses API makes function tools strict unless told otherwise; chat's default is not
        item["strict"] = bool(fn.get("strict"))
        out.append(item)
    return out


def _responses_tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice
    if not isinstance(choice, dict):
        return None
    if choice.get("type") == "function":
        fn = choice.get("function") if isinstance(choice.get("function"), dict) else {}
        return {"type": "function", "name": fn.get("name") or choice.get("name") or ""}
    if choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") if isinstance(choice.get("allowed_tools"), dict) else {}
        names = [(t.get("function") or {}).get("name") for t in allowed.get("tools") or () if isinstance(t, dict)]
        return {
            "type": "allowed_tools",
            "mode": allowed.get("mode") or "auto",
            "tools": [{"type": "function", "name": n} for n in names if n],
        }
    return None


def chat_request_to_responses(body: dict, ctx: ConvertContext) -> dict:
    instructions: list[str] = []
    items: list[dict] = []
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            if not items:
                instructions.append(text_of(content))
            else:
                items.append({"type": "message", "role": role, "content": text_of(content)})
        elif role == "user":
            if isinstance(content, str):
                items.append({"type": "message", "role": "user", "content": content})
            else:
                parts = [p for p in (_input_part(part) for part in content or ()) if p is not None]
                items.append({"type": "message", "role": "user", "content": parts})
        elif role == "assistant":
            text = text_of(content)
            if text:
                items.append({"type": "message", "role": "assistant", "content": text})
            for call in message.get("tool_calls") or ():
                if not isinstance(call, dict):
                    continue
                fn = call.get("function") if isinstance(call.get("function"), dict) else {}
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call.get("id") or "",
                        "name": fn.get("name") or "",
                        "arguments": fn.get("arguments") or "",
                    }
                )
        elif role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.get("tool_call_id") or "",
                    "output": text_of(content),
                }
            )

    out: dict[str, Any] = {"model": body.get("model") or ctx.model}
    if instructions:
        out["instructions"] = "\n\n".join(instructions)
    out["input"] = items
    tools = _responses_tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        choice = _responses_tool_choice(body.get("tool_choice"))
        if choice is not None:
            out["tool_choice"] = choice
        if body.get("parallel_tool_calls") is not None:
            out["parallel_tool_calls"] = body["parallel_tool_calls"]
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        out["max_output_tokens"] = max_tokens
    copy_fields(body, out, "temperature", "top_p", "top_logprobs", "user", "service_tier", "metadata")
    copy_fields(body, out, "safety_identifier", "prompt_cache_key")
    if body.get("reasoning_effort"):
        out["reasoning"] = {"effort": body["reasoning_effort"]}
    text: dict[str, Any] = {}
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = fmt.get("json_schema") if isinstance(fmt.get("json_schema"), dict) else {}
        text["format"] = {"type": "json_schema", "name": schema.get("name") or "response"}
        copy_fields(schema, text["format"], "description", "schema", "strict")
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        text["format"] = {"type": "json_object"}
    if body.get("verbosity"):
        text["verbosity"] = body["verbosity"]
    if text:
        out["text"] = text
    out["store"] = bool(body.get("store"))  # chat completions are not stored unless asked; Responses are
    if body.get("stream"):
        out["stream"] = True
    return out


# ============================================================================================
# Responses response -> chat response


def _chat_usage(u: Any) -> dict | None:
    if not isinstance(u, dict):
        return None
    prompt = token_count(u.get("input_tokens"))
    completion = token_count(u.get("output_tokens"))
    idt = u.get("input_tokens_details") if isinstance(u.get("input_tokens_details"), dict) else {}
    odt = u.get("output_tokens_details") if isinstance(u.get("output_tokens_details"), dict) else {}
    prompt_details = {"cached_tokens": token_count(idt.get("cached_tokens"))}
    if token_count(idt.get("cache_write_tokens")):
        prompt_details["cache_write_tokens"] = idt["cache_write_tokens"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": token_count(u.get("total_tokens")) or prompt + completion,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {"reasoning_tokens": token_count(odt.get("reasoning_tokens"))},
    }


def _chat_finish(response: dict, has_calls: bool) -> str:
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    if response.get("status") == "incomplete" or reason:
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if has_calls else "stop"


def _reasoning_text(item: dict) -> str:
    parts = [s.get("text") or "" for s in item.get("summary") or () if isinstance(s, dict)]
    if not any(parts):
        parts = [c.get("text") or "" for c in item.get("content") or () if isinstance(c, dict)]
    return "\n\n".join(p for p in parts if p)


def _chat_id(response: dict) -> str:
    return "chatcmpl-" + id_base(response.get("id"), "resp_")


_THINK_OPEN, _THINK_CLOSE = "<think>\n", "\n</think>\n\n"  # ``thinking_to_content``: reasoning inlined in content


def responses_response_to_chat(body: dict, ctx: ConvertContext) -> dict:
    texts: list[str] = []
    reasoning: list[str] = []
    refusals: list[str] = []
    calls: list[dict] = []
    for item in body.get("output") or ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "output_text":
                    texts.append(part.get("text") or "")
                elif part.get("type") == "refusal":
                    refusals.append(part.get("refusal") or "")
        elif kind == "reasoning":
            text = _reasoning_text(item)
            if text:
                reasoning.append(text)
        elif kind == "function_call":
            calls.append(
                {
                    "id": item.get("call_id") or item.get("id") or "",
                    "type": "function",
                    "function": {"name": item.get("name") or "", "arguments": item.get("arguments") or ""},
                }
            )
    text = "".join(texts)
    if reasoning and ctx.options.get("thinking_to_content"):
        text = _THINK_OPEN + "\n\n".join(reasoning) + _THINK_CLOSE + text
        reasoning = []
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if reasoning:
        message["reasoning_content"] = "\n\n".join(reasoning)
    if refusals:
        message["refusal"] = "".join(refusals)
    if calls:
        message["tool_calls"] = calls
    created = body.get("created_at")
    out: dict[str, Any] = {
        "id": _chat_id(body),
        "object": "chat.completion",
        "created": int(created) if isinstance(created, (int, float)) and created else int(time.time()),
        "model": ctx.model,
        "choices": [{"index": 0, "message": message, "finish_reason": _chat_finish(body, bool(calls))}],
    }
    usage = _chat_usage(body.get("usage"))
    if usage is not None:
        out["usage"] = usage
    return out


# ============================================================================================
# Responses stream -> chat stream


class ResponsesToChatStream:
    """Responses stream events in, chat completion chunks out; keeps only ids and call indices."""

    def __init__(self, ctx: ConvertContext) -> None:
        self.ctx = ctx
        self.id = ""
        self.created = 0
        self.started = False
        self.finished = False
        self.calls: dict[str, list] = {}  # item id -> [chat index, arguments streamed]
        self.last_summary = (None, 0)
        self.think_inline = bool(ctx.options.get("thinking_to_content"))
        self.thinking = False  # inside an inlined <think> block

    def _chunk(self, delta: dict | None, finish: str | None = None, usage: dict | None = None) -> SSEEvent:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.ctx.model,
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if usage is not None:
            chunk["usage"] = usage
        return SSEEvent(data=dumps(chunk))

    def _start(self, response: Any, out: list[SSEEvent]) -> None:
        if self.started:
            return
        self.started = True
        response = response if isinstance(response, dict) else {}
        self.id = _chat_id(response)
        created = response.get("created_at")
        self.created = int(created) if isinstance(created, (int, float)) and created else int(time.time())
        out.append(self._chunk({"role": "assistant", "content": ""}))

    def _call(self, item: dict, out: list[SSEEvent]) -> list:
        key = item.get("id") or item.get("call_id") or ""
        state = self.calls.get(key)
        if state is None:
            state = self.calls[key] = [len(self.calls), False]
            call = {
                "index": state[0],
                "id": item.get("call_id") or key,
                "type": "function",
                "function": {"name": item.get("name") or "", "arguments": ""},
            }
            out.append(self._chunk({"tool_calls": [call]}))
        return state

    def _reasoning(self, text: str, out: list[SSEEvent]) -> None:
        if not self.think_inline:
            out.append(self._chunk({"reasoning_content": text}))
        elif self.thinking:
            out.append(self._chunk({"content": text}))
        else:
            self.thinking = True
            out.append(self._chunk({"content": _THINK_OPEN + text}))

    def _end_thinking(self, out: list[SSEEvent]) -> None:
        if self.thinking:
            self.thinking = False
            out.append(self._chunk({"content": _THINK_CLOSE}))

    def _arguments(self, state: list, arguments: str, out: list[SSEEvent]) -> None:
        state[1] = True
        if arguments:
            out.append(self._chunk({"tool_calls": [{"index": state[0], "function": {"arguments": arguments}}]}))

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        if self.finished or event.data.strip() == "[DONE]":
            return out
        payload = read_event(event.data)
        if not isinstance(payload, dict):
            raise ValueError("the upstream sent an event that is not a JSON object")
        kind = payload.get("type") or event.event or ""
        if kind in ("response.created", "response.in_progress", "response.queued"):
            self._start(payload.get("response"), out)
            return out
        if kind == "error":
            self.finished = True
            error = {k: payload.get(k) for k in ("message", "code", "param")}
            error["type"] = payload.get("code") or "upstream_error"
            out.append(SSEEvent(data=dumps({"error": error})))
            return out
        self._start(payload.get("response"), out)
        item = payload.get("item")
        if not kind.startswith("response.reasoning") and not (
            isinstance(item, dict) and item.get("type") == "reasoning"
        ):
            self._end_thinking(out)  # the first event after the reasoning closes an inlined <think> block
        if kind == "response.output_text.delta":
            if payload.get("delta"):
                out.append(self._chunk({"content": payload["delta"]}))
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            where = (payload.get("item_id"), payload.get("summary_index") or 0)
            if where[0] == self.last_summary[0] and where[1] != self.last_summary[1]:
                self._reasoning("\n\n", out)  # between summary parts
            self.last_summary = where
            if payload.get("delta"):
                self._reasoning(payload["delta"], out)
        elif kind == "response.refusal.delta":
            if payload.get("delta"):
                out.append(self._chunk({"refusal": payload["delta"]}))
        elif kind in ("response.output_item.added", "response.output_item.done"):
            if isinstance(item, dict) and item.get("type") == "function_call":
                state = self._call(item, out)
                if kind == "response.output_item.done" and not state[1]:
                    self._arguments(state, item.get("arguments") or "", out)  # never streamed: send it whole
        elif kind == "response.function_call_arguments.delta":
            state = self.calls.get(payload.get("item_id") or "")
            if state is not None:
                self._arguments(state, payload.get("delta") or "", out)
        elif kind == "response.function_call_arguments.done":
            state = self.calls.get(payload.get("item_id") or "")
            if state is not None and not state[1]:
                self._arguments(state, payload.get("arguments") or "", out)
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self.finished = True
            response = payload.get("response") if isinstance(payload.get("response"), dict) else {}
            if kind == "response.failed":
                error = response.get("error") if isinstance(response.get("error"), dict) else {}
                message = error.get("message") or "the upstream response failed"
                out.append(
                    SSEEvent(
                        data=dumps(
                            {
                                "error": {
                                    "message": message,
                                    "type": error.get("code") or "upstream_error",
                                    "code": error.get("code"),
                                }
                            }
                        )
                    )
                )
                return out
            if kind == "response.incomplete" and response.get("status") is None:
                response = {**response, "status": "incomplete"}
            out.append(self._chunk({}, _chat_finish(response, bool(self.calls))))
            usage = _chat_usage(response.get("usage"))
            if usage is not None and self.ctx.wants_usage:  # only when the client asked for it
                out.append(self._chunk(None, usage=usage))
        return out

    def finish(self) -> list[SSEEvent]:
        return [SSEEvent(data="[DONE]")]


CONVERTER = Converter(
    source="openai.chat",
    target="openai.responses",
    request=chat_request_to_responses,
    response=responses_response_to_chat,
    stream=ResponsesToChatStream,
)
