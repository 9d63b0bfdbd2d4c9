"""OpenAI Chat clients on Gemini upstreams: ``Converter(source="openai.chat", target="gemini.generate")``.

Requests go Chat Completions -> ``generateContent`` (without ``model``/``stream``: the adapter
puts both in the URL); responses and streams come back Gemini -> Chat. Gemini sends each function
call whole, so every ``functionCall`` part becomes one complete ``tool_calls`` delta.
"""

from __future__ import annotations

import json
import mimetypes
import time
import uuid
from typing import Any

from newapi_host.sdk import ConvertContext, Converter, SSEEvent

from .dialect import NAME
from .schema import to_gemini_schema

# Gemini 3 wants the thought signature it issued on the first function call of each model turn;
# OpenAI clients never send it back, so New API sends this documented bypass value instead.
THOUGHT_SIGNATURE_BYPASS = "context_engineering_is_the_way_to_go"
EFFORT_BUDGET = {"none": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": 24576}
_AUDIO_MIME = {"wav": "audio/wav", "mp3": "audio/mp3"}

# -- request: Chat -> Gemini -------------------------------------------------------------------


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _data_url(url: str) -> tuple[str, str] | None:
    """``data:image/png;base64,AAA`` -> (``image/png``, ``AAA``)."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep:
        return None
    mime = head.split(";", 1)[0] or "application/octet-stream"
    return mime, data


def _url_part(url: str, default_mime: str) -> dict[str, Any]:
    inline = _data_url(url)
    if inline is not None:
        return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
    mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or default_mime
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _user_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for item in content if isinstance(content, list) else ():
        if isinstance(item, str):
            parts.append({"text": item})
            continue
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "text" and isinstance(item.get("text"), str):
            if item["text"]:
                parts.append({"text": item["text"]})
        elif kind == "image_url":
            image = item.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str) and url:
                parts.append(_url_part(url, "image/jpeg"))
        elif kind == "input_audio" and isinstance(item.get("input_audio"), dict):
            audio = item["input_audio"]
            fmt = str(audio.get("format") or "wav")
            parts.append({"inlineData": {"mimeType": _AUDIO_MIME.get(fmt, f"audio/{fmt}"), "data": audio.get("data")}})
        elif kind == "file" and isinstance(item.get("file"), dict):
            file = item["file"]
            data = file.get("file_data")
            if isinstance(data, str) and data:
                if data.startswith("data:"):
                    parts.append(_url_part(data, "application/pdf"))
                else:  # bare base64
                    mime = mimetypes.guess_type(str(file.get("filename") or ""))[0] or "application/pdf"
                    parts.append({"inlineData": {"mimeType": mime, "data": data}})
            elif file.get("file_id"):
                parts.append({"text": f"[file {file['file_id']}]"})
    return parts


def _parse_args(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def _tool_response(content: Any) -> dict[str, Any]:
    text = _text(content)
    try:
        value = json.loads(text)
    except ValueError:
        return {"content": text}
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {"result": value}
    return {"content": text}


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    """Add a turn, merging it into the previous one of the same role (Gemini wants them alternating)."""
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _tools(tools: Any) -> list[dict[str, Any]]:
    declarations = []
    for tool in tools if isinstance(tools, list) else ():
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            continue
        decl: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            decl["description"] = fn["description"]
        params = fn.get("parameters")
        empty_object = isinstance(params, dict) and params.get("properties") == {}
        if isinstance(params, dict) and params and not empty_object:  # Gemini rejects empty properties
            decl["parameters"] = to_gemini_schema(params)
        declarations.append(decl)
    return [{"functionDeclarations": declarations}] if declarations else []


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if isinstance(choice, str):
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(choice, "AUTO")
        return {"functionCallingConfig": {"mode": mode}}
    if isinstance(choice, dict) and choice.get("type") == "function":
        config: dict[str, Any] = {"mode": "ANY"}
        fn = choice.get("function")
        if isinstance(fn, dict) and fn.get("name"):
            config["allowedFunctionNames"] = [fn["name"]]
        return {"functionCallingConfig": config}
    return None


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    cap = body.get("max_completion_tokens")
    if cap is None:
        cap = body.get("max_tokens")
    if isinstance(cap, int) and cap > 0:
        gen["maxOutputTokens"] = cap
    for key, name in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("n", "candidateCount"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if body.get(key) is not None:
            gen[name] = body[key]
    stop = body.get("stop")
    if isinstance(stop, str) and stop:
        gen["stopSequences"] = [stop]
    elif isinstance(stop, list):
        sequences = [s for s in stop if isinstance(s, str) and s]
        if sequences:
            gen["stopSequences"] = sequences[:5]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        gen["responseMimeType"] = "application/json"
        schema = fmt.get("json_schema")
        if isinstance(schema, dict) and isinstance(schema.get("schema"), dict):
            gen["responseSchema"] = to_gemini_schema(schema["schema"])
    effort = body.get("reasoning_effort")
    if isinstance(effort, str) and effort in EFFORT_BUDGET:
        budget = EFFORT_BUDGET[effort]
        gen["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": True} if budget else {"thinkingBudget": 0}
    return gen


def request(body: dict, ctx: ConvertContext) -> dict:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id -> function name
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role in ("system", "developer"):
            text = _text(message.get("content"))
            if text:
                system.append(text)
        elif role in ("tool", "function"):
            call_id = str(message.get("tool_call_id") or "")
            name = names.get(call_id) or str(message.get("name") or "")
            part = {"functionResponse": {"name": name, "response": _tool_response(message.get("content"))}}
            _append(contents, "user", [part])
        elif role == "assistant":
            parts = [p for p in _user_parts(message.get("content")) if "text" in p]
            signed = False
            for call in message.get("tool_calls") or ():
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict):
                    continue
                name = str(fn.get("name") or "")
                if isinstance(call.get("id"), str):
                    names[call["id"]] = name
                part: dict[str, Any] = {"functionCall": {"name": name, "args": _parse_args(fn.get("arguments"))}}
                if not signed:
                    part["thoughtSignature"] = THOUGHT_SIGNATURE_BYPASS
                    signed = True
                parts.append(part)
            _append(contents, "model", parts)
        else:
            _append(contents, "user", _user_parts(message.get("content")))
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": [{"text": "\n".join(system)}]}
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        config = _tool_config(body.get("tool_choice"))
        if config is not None:
            out["toolConfig"] = config
    gen = _generation_config(body)
    if gen:
        out["generationConfig"] = gen
    return out


# -- response: Gemini -> Chat ------------------------------------------------------------------

_FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}


def finish_reason(reason: Any, has_calls: bool) -> str:
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "tool_calls" if has_calls else "stop"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def chat_usage(meta: Any) -> dict[str, Any] | None:
    if not isinstance(meta, dict):
        return None
    prompt = _int(meta.get("promptTokenCount")) + _int(meta.get("toolUsePromptTokenCount"))
    thoughts = _int(meta.get("thoughtsTokenCount"))
    completion = _int(meta.get("candidatesTokenCount")) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": _int(meta.get("cachedContentTokenCount"))},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def _tool_call(call: dict[str, Any], index: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {} if index is None else {"index": index}
    out["id"] = call["id"] if isinstance(call.get("id"), str) and call["id"] else _call_id()
    out["type"] = "function"
    args = call.get("args")
    out["function"] = {
        "name": str(call.get("name") or ""),
        "arguments": json.dumps(args if args is not None else {}, ensure_ascii=False, separators=(",", ":")),
    }
    return out


def _inline_markdown(part: dict[str, Any]) -> str:
    inline = part.get("inlineData")
    if not isinstance(inline, dict):
        return ""
    return f"![image](data:{inline.get('mimeType') or 'image/png'};base64,{inline.get('data') or ''})"


def _parts(candidate: Any) -> list[dict[str, Any]]:
    content = candidate.get("content") if isinstance(candidate, dict) else None
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _chat_id(body: dict[str, Any]) -> str:
    rid = body.get("responseId")
    return f"chatcmpl-{rid}" if isinstance(rid, str) and rid else f"chatcmpl-{uuid.uuid4().hex}"


def response(body: dict, ctx: ConvertContext) -> dict:
    to_content = bool(ctx.options.get("thinking_to_content"))
    choices = []
    candidates = body.get("candidates") if isinstance(body.get("candidates"), list) else []
    for i, candidate in enumerate(candidates):
        if not isinstance(candidate, dict):
            continue
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in _parts(candidate):
            if isinstance(part.get("functionCall"), dict):
                calls.append(_tool_call(part["functionCall"]))
            elif isinstance(part.get("text"), str):
                (thoughts if part.get("thought") else texts).append(part["text"])
            elif part.get("inlineData"):
                texts.append(_inline_markdown(part))
        text, reasoning = "".join(texts), "".join(thoughts)
        message: dict[str, Any] = {"role": "assistant"}
        if to_content and reasoning:
            text = f"<think>\n{reasoning}\n</think>\n\n{text}"
        message["content"] = text if text or not calls else None
        if reasoning and not to_content:
            message["reasoning_content"] = reasoning
        if calls:
            message["tool_calls"] = calls
        index = candidate.get("index") if isinstance(candidate.get("index"), int) else i
        reason = finish_reason(candidate.get("finishReason"), bool(calls))
        choices.append({"index": index, "message": message, "finish_reason": reason, "logprobs": None})
    if not choices:  # the prompt itself was blocked (promptFeedback.blockReason)
        blocked = isinstance(body.get("promptFeedback"), dict) and body["promptFeedback"].get("blockReason")
        choices.append(
            {
                "index": 0,
                "message": {"role": "assistant", "content": ""},
                "finish_reason": "content_filter" if blocked else "stop",
                "logprobs": None,
            }
        )
    out: dict[str, Any] = {
        "id": _chat_id(body),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": ctx.model,
        "choices": choices,
    }
    usage = chat_usage(body.get("usageMetadata"))
    if usage is not None:
        out["usage"] = usage
    return out


# -- stream: Gemini chunks -> Chat chunks ------------------------------------------------------


class _Choice:
    __slots__ = ("started", "calls", "thinking", "finished")

    def __init__(self) -> None:
        self.started = False
        self.calls = 0  # tool calls sent so far: the next call's index
        self.thinking = False  # inside a <think> block (thinking_to_content)
        self.finished = False


class GeminiToChatStream:
    def __init__(self, ctx: ConvertContext) -> None:
        self.model = ctx.model
        self.wants_usage = ctx.wants_usage
        self.to_content = bool(ctx.options.get("thinking_to_content"))
        self.id = ""
        self.created = int(time.time())
        self.choices: dict[int, _Choice] = {}
        self.usage: dict[str, Any] | None = None
        self.done = False

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> SSEEvent:
        out: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if usage is not None:
            out["usage"] = usage
        return SSEEvent(json.dumps(out, ensure_ascii=False, separators=(",", ":")))

    def _delta(self, index: int, delta: dict[str, Any], finish: str | None = None) -> SSEEvent:
        return self._chunk([{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}])

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        data = event.data.strip()
        if not data or data == "[DONE]":
            return []
        payload = json.loads(data)
        items = payload if isinstance(payload, list) else [payload]
        events: list[SSEEvent] = []
        for item in items:
            if isinstance(item, dict):
                events.extend(self._feed_one(item))
        return events

    def _feed_one(self, chunk: dict[str, Any]) -> list[SSEEvent]:
        if isinstance(chunk.get("error"), dict) and not chunk.get("candidates"):
            error = chunk["error"]
            return [
                SSEEvent(
                    json.dumps(
                        {
                            "error": {
                                "message": str(error.get("message") or "upstream error"),
                                "type": str(error.get("status") or "upstream_error"),
                                "param": None,
                                "code": error.get("code"),
                            }
                        },
                        ensure_ascii=False,
                    )
                )
            ]
        if not self.id:
            self.id = _chat_id(chunk)
        if isinstance(chunk.get("usageMetadata"), dict):
            self.usage = chat_usage(chunk["usageMetadata"])
        events: list[SSEEvent] = []
        candidates = chunk.get("candidates") if isinstance(chunk.get("candidates"), list) else []
        for i, candidate in enumerate(candidates):
            if not isinstance(candidate, dict):
                continue
            index = candidate.get("index") if isinstance(candidate.get("index"), int) else i
            state = self.choices.setdefault(index, _Choice())
            if state.finished:
                continue
            if not state.started:
                state.started = True
                events.append(self._delta(index, {"role": "assistant", "content": ""}))
            for part in _parts(candidate):
                events.extend(self._part(index, state, part))
            reason = candidate.get("finishReason")
            if reason:
                state.finished = True
                if state.thinking:
                    state.thinking = False
                    events.append(self._delta(index, {"content": "\n</think>\n\n"}))
                events.append(self._delta(index, {}, finish_reason(reason, state.calls > 0)))
        blocked = isinstance(chunk.get("promptFeedback"), dict) and chunk["promptFeedback"].get("blockReason")
        if blocked and not candidates and 0 not in self.choices:
            self.choices[0] = state = _Choice()
            state.started = state.finished = True
            events.append(self._delta(0, {"role": "assistant", "content": ""}))
            events.append(self._delta(0, {}, "content_filter"))
        return events

    def _part(self, index: int, state: _Choice, part: dict[str, Any]) -> list[SSEEvent]:
        if isinstance(part.get("functionCall"), dict):
            call = _tool_call(part["functionCall"], state.calls)
            state.calls += 1
            out = []
            if state.thinking:
                state.thinking = False
                out.append(self._delta(index, {"content": "\n</think>\n\n"}))
            out.append(self._delta(index, {"tool_calls": [call]}))
            return out
        text = part.get("text")
        if not isinstance(text, str):
            text = _inline_markdown(part)
            if not text:
                return []
        elif not text:
            return []
        if part.get("thought"):
            if not self.to_content:
                return [self._delta(index, {"reasoning_content": text})]
            if not state.thinking:
                state.thinking = True
                text = "<think>\n" + text
            return [self._delta(index, {"content": text})]
        if state.thinking:
            state.thinking = False
            text = "\n</think>\n\n" + text
        return [self._delta(index, {"content": text})]

    def finish(self) -> list[SSEEvent]:
        if self.done:
            return []
        self.done = True
        events: list[SSEEvent] = []
        if self.usage is not None and self.wants_usage:  # only when the client asked for it
            if not self.id:
                self.id = f"chatcmpl-{uuid.uuid4().hex}"
            events.append(self._chunk([], self.usage))
        events.append(SSEEvent("[DONE]"))
        return events


CONVERTER = Converter(
    source="openai.chat",
    target=NAME,
    request=request,
    response=response,
    stream=GeminiToChatStream,
)
