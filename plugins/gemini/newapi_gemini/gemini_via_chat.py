"""Gemini clients on OpenAI Chat upstreams: ``Converter(source="gemini.generate", target="openai.chat")``.

Requests go Gemini -> Chat Completions; responses and streams come back Chat -> Gemini. Gemini
sends a function call whole, so streamed tool-call arguments are gathered per index and sent as
one ``functionCall`` part when the choice finishes; text and thoughts pass on as they arrive.
"""

from __future__ import annotations

import json
from typing import Any

from newapi_host.sdk import ConvertContext, Converter, SSEEvent

from .dialect import NAME, google_status
from .schema import to_json_schema

# -- request: Gemini -> Chat -------------------------------------------------------------------

_AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3"}


def _get(obj: Any, camel: str, snake: str | None = None) -> Any:
    """A field by its camelCase name or the snake_case alias Google's APIs also accept."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(camel)
    if value is None and snake:
        value = obj.get(snake)
    return value


def _text_of(content: Any) -> str:
    parts = _get(content, "parts") if isinstance(content, dict) else None
    if isinstance(content, str):
        return content
    return "\n".join(p["text"] for p in parts or () if isinstance(p, dict) and isinstance(p.get("text"), str))


def _media_part(part: dict[str, Any]) -> dict[str, Any] | None:
    inline = _get(part, "inlineData", "inline_data")
    if isinstance(inline, dict):
        mime = str(_get(inline, "mimeType", "mime_type") or "application/octet-stream")
        data = str(inline.get("data") or "")
        if mime.startswith("image/"):
            return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}
        if mime in _AUDIO_FORMATS:
            return {"type": "input_audio", "input_audio": {"data": data, "format": _AUDIO_FORMATS[mime]}}
        return {"type": "file", "file": {"file_data": f"data:{mime};base64,{data}"}}
    file = _get(part, "fileData", "file_data")
    if isinstance(file, dict):
        uri = str(_get(file, "fileUri", "file_uri") or "")
        mime = str(_get(file, "mimeType", "mime_type") or "")
        if mime.startswith("image/") or (not mime and uri.startswith(("http://", "https://"))):
            return {"type": "image_url", "image_url": {"url": uri}}
        return {"type": "text", "text": f"[file {mime or 'unknown type'}: {uri}]"}
    return None


def _tool_result_text(response: Any) -> str:
    """A functionResponse ``response`` as tool message content (a lone string result stays a string)."""
    if isinstance(response, dict) and len(response) == 1:
        (value,) = response.values()
        if isinstance(value, str):
            return value
    if isinstance(response, str):
        return response
    return json.dumps(response, ensure_ascii=False, separators=(",", ":"))


class _CallIds:
    """Ids for Gemini function calls (which rarely have one), matched later to their responses."""

    def __init__(self) -> None:
        self.count = 0
        self.pending: list[tuple[str, str]] = []  # (name, id) not yet answered, in order

    def new(self, name: str, given: Any) -> str:
        self.count += 1
        call_id = given if isinstance(given, str) and given else f"call_{self.count}"
        self.pending.append((name, call_id))
        return call_id

    def answer(self, name: str, given: Any) -> str:
        if isinstance(given, str) and given:
            self.pending = [p for p in self.pending if p[1] != given]
            return given
        for i, (pending_name, call_id) in enumerate(self.pending):
            if pending_name == name:
                del self.pending[i]
                return call_id
        if self.pending:
            return self.pending.pop(0)[1]
        self.count += 1
        return f"call_{self.count}"


def _content_messages(content: dict[str, Any], ids: _CallIds) -> list[dict[str, Any]]:
    role = content.get("role") or "user"
    parts = [p for p in content.get("parts") or () if isinstance(p, dict)]
    if role == "model":
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in parts:
            call = _get(part, "functionCall", "function_call")
            if isinstance(call, dict):
                name = str(call.get("name") or "")
                args = call.get("args")
                calls.append(
                    {
                        "id": ids.new(name, call.get("id")),
                        "type": "function",
                        "function": {
                            "name": name,
                            "arguments": json.dumps(args if args is not None else {}, ensure_ascii=False),
                        },
                    }
                )
            elif isinstance(part.get("text"), str) and not part.get("thought"):
                texts.append(part["text"])
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
        if calls:
            message["tool_calls"] = calls
        return [message] if texts or calls else []
    tool_messages: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for part in parts:
        response = _get(part, "functionResponse", "function_response")
        if isinstance(response, dict):
            name = str(response.get("name") or "")
            tool_messages.append(
                {
                    "role": "tool",
                    "tool_call_id": ids.answer(name, response.get("id")),
                    "content": _tool_result_text(response.get("response")),
                }
            )
        elif isinstance(part.get("text"), str):
            if not part.get("thought"):
                items.append({"type": "text", "text": part["text"]})
        elif (media := _media_part(part)) is not None:
            items.append(media)
    messages = tool_messages
    if items:
        if all(i["type"] == "text" for i in items):
            messages.append({"role": "user", "content": "".join(i["text"] for i in items)})
        else:
            messages.append({"role": "user", "content": items})
    return messages


def _tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for tool in tools if isinstance(tools, list) else ():
        for decl in _get(tool, "functionDeclarations", "function_declarations") or ():
            if not isinstance(decl, dict) or not decl.get("name"):
                continue
            params = _get(decl, "parametersJsonSchema", "parameters_json_schema")
            params = params if isinstance(params, dict) else to_json_schema(decl.get("parameters"))
            if not isinstance(params, dict) or not params:
                params = {"type": "object", "properties": {}}
            function: dict[str, Any] = {"name": decl["name"]}
            if decl.get("description"):
                function["description"] = decl["description"]
            function["parameters"] = params
            out.append({"type": "function", "function": function})
    return out


def _tool_choice(config: Any) -> Any:
    calling = _get(config, "functionCallingConfig", "function_calling_config")
    if not isinstance(calling, dict):
        return None
    mode = str(calling.get("mode") or "AUTO").upper()
    allowed = _get(calling, "allowedFunctionNames", "allowed_function_names") or []
    if mode == "NONE":
        return "none"
    if mode == "ANY":
        if isinstance(allowed, list) and len(allowed) == 1:
            return {"type": "function", "function": {"name": allowed[0]}}
        return "required"
    return "auto"


def _response_format(gen: dict[str, Any]) -> dict[str, Any] | None:
    mime = _get(gen, "responseMimeType", "response_mime_type")
    schema = _get(gen, "responseJsonSchema", "response_json_schema")
    if schema is None:
        schema = _get(gen, "responseSchema", "response_schema")
        schema = to_json_schema(schema) if schema is not None else None
    if isinstance(schema, dict):
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
    if mime == "application/json":
        return {"type": "json_object"}
    return None


def request(body: dict, ctx: ConvertContext) -> dict:
    messages: list[dict[str, Any]] = []
    system = _get(body, "systemInstruction", "system_instruction")
    if system:
        text = _text_of(system)
        if text:
            messages.append({"role": "system", "content": text})
    ids = _CallIds()
    for content in body.get("contents") or ():
        if isinstance(content, dict):
            messages.extend(_content_messages(content, ids))
    out: dict[str, Any] = {"model": ctx.model, "messages": messages}
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        choice = _tool_choice(_get(body, "toolConfig", "tool_config"))
        if choice is not None:
            out["tool_choice"] = choice
    gen = _get(body, "generationConfig", "generation_config") or {}
    if isinstance(gen, dict):
        for camel, snake, key in (
            ("temperature", None, "temperature"),
            ("topP", "top_p", "top_p"),
            ("maxOutputTokens", "max_output_tokens", "max_tokens"),
            ("candidateCount", "candidate_count", "n"),
            ("presencePenalty", "presence_penalty", "presence_penalty"),
            ("frequencyPenalty", "frequency_penalty", "frequency_penalty"),
            ("seed", None, "seed"),
        ):
            value = _get(gen, camel, snake)
            if value is not None:
                out[key] = value
        stop = _get(gen, "stopSequences", "stop_sequences")
        if stop:
            out["stop"] = stop
        fmt = _response_format(gen)
        if fmt:
            out["response_format"] = fmt
    if ctx.stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


# -- response: Chat -> Gemini ------------------------------------------------------------------

_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY", "tool_calls": "STOP"}


def _finish(reason: Any) -> str:
    return _FINISH.get(reason, "STOP") if reason else "STOP"


def _args(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = json.loads(arguments) if isinstance(arguments, str) and arguments.strip() else {}
    except ValueError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def _nonneg(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_metadata(usage: Any) -> dict[str, Any] | None:
    """OpenAI ``usage`` -> Gemini ``usageMetadata`` (candidates exclude the reasoning tokens)."""
    if not isinstance(usage, dict):
        return None
    prompt = _nonneg(usage.get("prompt_tokens"))
    completion = _nonneg(usage.get("completion_tokens"))
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    cached = _nonneg(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
    reasoning = _nonneg(completion_details.get("reasoning_tokens")) if isinstance(completion_details, dict) else 0
    reasoning = min(reasoning, completion)
    meta: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion - reasoning,
        "totalTokenCount": _nonneg(usage.get("total_tokens")) or prompt + completion,
    }
    if cached:
        meta["cachedContentTokenCount"] = cached
    if reasoning:
        meta["thoughtsTokenCount"] = reasoning
    return meta


def _reasoning(message: dict[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        if isinstance(message.get(key), str) and message[key]:
            return message[key]
    return ""


def _call_part(call: dict[str, Any]) -> dict[str, Any] | None:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict):
        return None
    part: dict[str, Any] = {"name": str(fn.get("name") or ""), "args": _args(fn.get("arguments"))}
    if isinstance(call.get("id"), str) and call["id"]:
        part["id"] = call["id"]
    return {"functionCall": part}


def response(body: dict, ctx: ConvertContext) -> dict:
    candidates = []
    for choice in body.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        parts: list[dict[str, Any]] = []
        if reasoning := _reasoning(message):
            parts.append({"text": reasoning, "thought": True})
        if isinstance(message.get("content"), str) and message["content"]:
            parts.append({"text": message["content"]})
        elif isinstance(message.get("refusal"), str) and message["refusal"]:
            parts.append({"text": message["refusal"]})
        for call in message.get("tool_calls") or ():
            if (part := _call_part(call)) is not None:
                parts.append(part)
        candidates.append(
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": _finish(choice.get("finish_reason")),
                "index": choice.get("index", len(candidates)),
            }
        )
    out: dict[str, Any] = {"candidates": candidates}
    meta = usage_metadata(body.get("usage"))
    if meta is not None:
        out["usageMetadata"] = meta
    out["modelVersion"] = ctx.model
    if isinstance(body.get("id"), str):
        out["responseId"] = body["id"]
    return out


# -- stream: Chat chunks -> Gemini chunks ------------------------------------------------------


class _PendingCall:
    __slots__ = ("id", "name", "args")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.args: list[str] = []


class ChatToGeminiStream:
    """One Gemini chunk per text or thought delta; whole function calls and the finish at the end."""

    def __init__(self, ctx: ConvertContext) -> None:
        self.model = ctx.model
        self.response_id = ""
        self.calls: dict[int, dict[int, _PendingCall]] = {}  # choice index -> tool index -> call
        self.final: dict[int, dict[str, Any]] = {}  # candidates finished, waiting for usage
        self.sent_final = False

    def _event(self, candidates: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> SSEEvent:
        out: dict[str, Any] = {"candidates": candidates}
        if usage is not None:
            out["usageMetadata"] = usage
        out["modelVersion"] = self.model
        if self.response_id:
            out["responseId"] = self.response_id
        return SSEEvent(json.dumps(out, ensure_ascii=False, separators=(",", ":")))

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        data = event.data.strip()
        if not data or data == "[DONE]":
            return []
        chunk = json.loads(data)
        if not isinstance(chunk, dict):
            return []
        if isinstance(chunk.get("error"), dict):
            error = chunk["error"]
            status = error.get("code") if isinstance(error.get("code"), int) else 500
            return [
                SSEEvent(
                    json.dumps(
                        {
                            "error": {
                                "code": status,
                                "message": str(error.get("message") or ""),
                                "status": google_status(status),
                            }
                        },
                        ensure_ascii=False,
                    )
                )
            ]
        if not self.response_id and isinstance(chunk.get("id"), str):
            self.response_id = chunk["id"]
        events: list[SSEEvent] = []
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0) if isinstance(choice.get("index"), int) else 0
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            reasoning = _reasoning(delta)
            if reasoning:
                events.append(self._event([self._candidate(index, [{"text": reasoning, "thought": True}])]))
            if isinstance(delta.get("content"), str) and delta["content"]:
                events.append(self._event([self._candidate(index, [{"text": delta["content"]}])]))
            for call in delta.get("tool_calls") or ():
                self._gather(index, call)
            if choice.get("finish_reason"):
                parts = self._flush_calls(index)
                self.final[index] = self._candidate(index, parts, _finish(choice["finish_reason"]))
        usage = usage_metadata(chunk.get("usage")) if chunk.get("usage") else None
        if usage is not None and self.final:
            events.append(self._final(usage))
        elif usage is not None and not chunk.get("choices"):
            events.append(self._event([], usage))  # usage without a finish: pass it on alone
        return events

    def _candidate(self, index: int, parts: list[dict[str, Any]], finish: str | None = None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
        if finish:
            candidate["finishReason"] = finish
        candidate["index"] = index
        return candidate

    def _gather(self, choice: int, call: Any) -> None:
        if not isinstance(call, dict):
            return
        calls = self.calls.setdefault(choice, {})
        index = call.get("index") if isinstance(call.get("index"), int) else len(calls)
        pending = calls.setdefault(index, _PendingCall())
        if isinstance(call.get("id"), str) and call["id"]:
            pending.id = call["id"]
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        if isinstance(fn.get("name"), str) and fn["name"]:
            pending.name = fn["name"]
        if isinstance(fn.get("arguments"), str) and fn["arguments"]:
            pending.args.append(fn["arguments"])

    def _flush_calls(self, choice: int) -> list[dict[str, Any]]:
        parts = []
        for _, pending in sorted(self.calls.pop(choice, {}).items()):
            call: dict[str, Any] = {"name": pending.name, "args": _args("".join(pending.args))}
            if pending.id:
                call["id"] = pending.id
            parts.append({"functionCall": call})
        return parts

    def _final(self, usage: dict[str, Any] | None) -> SSEEvent:
        candidates = [self.final[i] for i in sorted(self.final)]
        self.final.clear()
        self.sent_final = True
        return self._event(candidates, usage)

    def finish(self) -> list[SSEEvent]:
        for choice in list(self.calls):  # the stream ended without a finish reason
            self.final[choice] = self._candidate(choice, self._flush_calls(choice), "STOP")
        if self.final:
            return [self._final(None)]
        return []


CONVERTER = Converter(
    source=NAME,
    target="openai.chat",
    request=request,
    response=response,
    stream=ChatToGeminiStream,
)
