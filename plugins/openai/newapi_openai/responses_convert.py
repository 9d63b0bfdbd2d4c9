"""Converters between the OpenAI Responses API (``openai.responses``) and Chat Completions (``openai.chat``).

``RESPONSES_TO_CHAT`` lets clients call ``/v1/responses`` on channels that only speak chat completions;
``CHAT_TO_RESPONSES`` lets chat clients use an upstream that only speaks the Responses API.

What a chat upstream cannot do is dropped rather than faked: built-in (hosted) tools such as
``web_search`` or ``file_search``, ``reasoning`` input items (opaque to chat models), ``include`` and
``store``. Server-side state (``previous_response_id``, ``conversation``, ``item_reference`` items)
cannot be replayed without the stored conversation, so such requests are refused with ``InvalidRequest``.

Memory note: a Responses stream repeats the full text in its ``*.done`` events and in the final
``response.completed`` object, so the chat -> Responses stream converter must keep the output of the
response it is building (text, reasoning summary and tool-call arguments, as lists of fragments).
Deltas are still passed on as they arrive. The Responses -> chat direction keeps no text at all.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import msgspec

from newapi_host.sdk import ConvertContext, Converter, InvalidRequest, SSEEvent

_encode = msgspec.json.Encoder().encode


def _dumps(value: Any) -> str:
    return _encode(value).decode()


def _loads(data: str) -> Any:
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        raise ValueError("the upstream sent an event that is not JSON") from None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


_NOT_ID = re.compile(r"[^A-Za-z0-9]")


def _id_base(value: Any, *prefixes: str) -> str:
    """A stable, id-safe base derived from an upstream id (``chatcmpl-abc`` -> ``abc``)."""
    text = value if isinstance(value, str) else ""
    for prefix in prefixes:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    text = _NOT_ID.sub("", text)
    return text or uuid.uuid4().hex


def _fc_id(call_id: str) -> str:
    return "fc_" + _id_base(call_id, "call_", "fc_")


def _copy(src: dict, dst: dict, *keys: str) -> None:
    for key in keys:
        if src.get(key) is not None:
            dst[key] = src[key]


# ============================================================================================
# Responses request -> chat request


def _text_of(content: Any) -> str:
    """Plain text of a content value: a string or a list of text-like parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    out = []
    for part in content:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict):
            text = part.get("text")
            if isinstance(text, str):
                out.append(text)
            elif isinstance(part.get("refusal"), str):
                out.append(part["refusal"])
    return "".join(out)


def _chat_part(part: Any) -> dict | None:
    """One Responses input content part as a chat content part (None when chat has no equivalent)."""
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": part.get("text") or ""}
    if kind == "refusal":
        return {"type": "text", "text": part.get("refusal") or ""}
    if kind == "input_image":
        url = part.get("image_url")
        if not url and part.get("file_id"):
            return None  # an uploaded file id is meaningless to another upstream
        image: dict[str, Any] = {"url": url or ""}
        if part.get("detail"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        file = {k: part[k] for k in ("file_data", "file_id", "filename") if part.get(k)}
        return {"type": "file", "file": file} if file else None
    if kind == "input_audio":
        return {"type": "input_audio", "input_audio": part.get("input_audio") or {}}
    return None


def _chat_message(item: dict) -> dict | None:
    role = item.get("role") or "user"
    if role == "developer":
        role = "system"  # understood by every chat upstream; OpenAI maps it for reasoning models
    content = item.get("content")
    if role in ("system", "assistant"):
        # these roles take text only on most chat upstreams; keep it a plain string
        return {"role": role, "content": _text_of(content)}
    if isinstance(content, str):
        return {"role": role, "content": content}
    parts = [p for p in (_chat_part(part) for part in content or ()) if p is not None]
    if parts and all(p["type"] == "text" for p in parts) and len(parts) == 1:
        return {"role": role, "content": parts[0]["text"]}
    return {"role": role, "content": parts}


def _tool_output(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return _text_of(output)
    return _dumps(output) if output is not None else ""


def _responses_input_to_messages(items: Any, messages: list[dict]) -> None:
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
        return
    if not isinstance(items, list):
        return
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            message = _chat_message(item)
            if message is not None:
                messages.append(message)
        elif kind == "function_call":
            call = {
                "id": item.get("call_id") or item.get("id") or "",
                "type": "function",
                "function": {"name": item.get("name") or "", "arguments": item.get("arguments") or ""},
            }
            last = messages[-1] if messages else None
            if last is not None and last.get("role") == "assistant":
                # consecutive calls (and text said just before them) form one assistant turn
                last.setdefault("tool_calls", []).append(call)
                if last.get("content") == "":
                    last["content"] = None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": item.get("call_id") or "", "content": _tool_output(item.get("output"))}
            )
        elif kind == "item_reference":
            raise InvalidRequest(
                "item_reference input items need stored responses, which this channel cannot provide", "input"
            )
        # reasoning items and hosted tool calls/outputs have no chat equivalent: dropped


def _chat_tools(tools: Any) -> list[dict]:
    out = []
    for tool in tools or ():
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue  # built-in tools (web_search, file_search, ...) cannot run on a chat upstream
        fn: dict[str, Any] = {"name": tool.get("name") or ""}
        _copy(tool, fn, "description", "parameters", "strict")
        out.append({"type": "function", "function": fn})
    return out


def _chat_tool_choice(choice: Any, names: set[str]) -> Any:
    if isinstance(choice, str):
        return choice
    if not isinstance(choice, dict):
        return None
    kind = choice.get("type")
    if kind == "function":
        return {"type": "function", "function": {"name": choice.get("name") or ""}}
    if kind == "allowed_tools":
        allowed = [
            {"type": "function", "function": {"name": t.get("name")}}
            for t in choice.get("tools") or ()
            if isinstance(t, dict) and t.get("type") == "function" and t.get("name") in names
        ]
        if not allowed:
            return None
        return {"type": "allowed_tools", "allowed_tools": {"mode": choice.get("mode") or "auto", "tools": allowed}}
    return None  # a hosted tool was forced: it was dropped, let the model choose


def _chat_response_format(fmt: Any) -> dict | None:
    if not isinstance(fmt, dict):
        return None
    kind = fmt.get("type")
    if kind == "json_schema":
        schema: dict[str, Any] = {"name": fmt.get("name") or "response"}
        _copy(fmt, schema, "description", "schema", "strict")
        return {"type": "json_schema", "json_schema": schema}
    if kind == "json_object":
        return {"type": "json_object"}
    return None


def responses_request_to_chat(body: dict, ctx: ConvertContext) -> dict:
    for key in ("previous_response_id", "conversation"):
        if body.get(key):
            raise InvalidRequest(f"{key} needs stored responses, which this channel cannot provide", key)
    messages: list[dict] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    _responses_input_to_messages(body.get("input"), messages)

    out: dict[str, Any] = {"model": body.get("model") or ctx.model, "messages": messages}
    tools = _chat_tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        choice = _chat_tool_choice(body.get("tool_choice"), {t["function"]["name"] for t in tools})
        if choice is not None:
            out["tool_choice"] = choice
        if body.get("parallel_tool_calls") is not None:
            out["parallel_tool_calls"] = body["parallel_tool_calls"]
    if body.get("max_output_tokens") is not None:
        out["max_tokens"] = body["max_output_tokens"]
    _copy(body, out, "temperature", "top_p", "top_logprobs", "user", "service_tier")
    _copy(body, out, "safety_identifier", "prompt_cache_key")
    if out.get("top_logprobs"):
        out["logprobs"] = True
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        out["reasoning_effort"] = reasoning["effort"]
    text = body.get("text")
    if isinstance(text, dict):
        response_format = _chat_response_format(text.get("format"))
        if response_format is not None:
            out["response_format"] = response_format
        if text.get("verbosity"):
            out["verbosity"] = text["verbosity"]
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


# ============================================================================================
# chat response -> Responses response


def _responses_usage(u: Any) -> dict | None:
    if not isinstance(u, dict):
        return None
    prompt = _int(u.get("prompt_tokens"))
    completion = _int(u.get("completion_tokens"))
    pd = u.get("prompt_tokens_details") if isinstance(u.get("prompt_tokens_details"), dict) else {}
    cd = u.get("completion_tokens_details") if isinstance(u.get("completion_tokens_details"), dict) else {}
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": _int(pd.get("cached_tokens")),
            "cache_write_tokens": _int(pd.get("cache_write_tokens")),
        },
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": _int(cd.get("reasoning_tokens"))},
        "total_tokens": _int(u.get("total_tokens")) or prompt + completion,
    }


_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def _response_object(
    resp_id: str, created: Any, model: str, status: str, output: list, usage: dict | None, reason: str | None
) -> dict:
    return {
        "id": resp_id,
        "object": "response",
        "created_at": created if isinstance(created, (int, float)) and created else int(time.time()),
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": reason} if reason else None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": None,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "truncation": "disabled",
        "usage": usage,
        "metadata": {},
    }


def _reasoning_item(item_id: str, text: str) -> dict:
    return {"type": "reasoning", "id": item_id, "summary": [{"type": "summary_text", "text": text}]}


def _message_item(item_id: str, text: str, refusal: str | None = None, status: str = "completed") -> dict:
    content: list[dict] = []
    if text or not refusal:
        content.append({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    if refusal:
        content.append({"type": "refusal", "refusal": refusal})
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def _function_call_item(call_id: str, name: str, arguments: str, status: str = "completed") -> dict:
    return {
        "type": "function_call",
        "id": _fc_id(call_id),
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def _reasoning_of(message: dict) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def chat_response_to_responses(body: dict, ctx: ConvertContext) -> dict:
    base = _id_base(body.get("id"), "chatcmpl-")
    choices = body.get("choices") or []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    output: list[dict] = []
    reasoning = _reasoning_of(message)
    if reasoning:
        output.append(_reasoning_item(f"rs_{base}_{len(output)}", reasoning))
    text = message.get("content")
    text = text if isinstance(text, str) else _text_of(text)
    refusal = message.get("refusal") if isinstance(message.get("refusal"), str) else None
    calls = [c for c in message.get("tool_calls") or () if isinstance(c, dict)]
    if text or refusal or not calls:
        output.append(_message_item(f"msg_{base}_{len(output)}", text, refusal))
    for i, call in enumerate(calls):
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        call_id = call.get("id") or f"call_{base}_{i}"
        output.append(_function_call_item(call_id, fn.get("name") or "", fn.get("arguments") or ""))
    reason = _INCOMPLETE.get(choice.get("finish_reason") or "")
    if reason:
        for item in output:
            if item["type"] == "message":
                item["status"] = "incomplete"
    return _response_object(
        "resp_" + base,
        body.get("created"),
        ctx.model,
        "incomplete" if reason else "completed",
        output,
        _responses_usage(body.get("usage")),
        reason,
    )


# ============================================================================================
# chat stream -> Responses stream


class _Call:
    __slots__ = ("output_index", "item_id", "call_id", "name", "args")

    def __init__(self, output_index: int, call_id: str, name: str) -> None:
        self.output_index, self.call_id, self.name = output_index, call_id, name
        self.item_id = _fc_id(call_id)
        self.args: list[str] = []


class ChatToResponsesStream:
    """Chat completion chunks in, Responses stream events out.

    One reasoning or message item is open at a time; tool calls are keyed by their chat ``index``
    and stay open until the choice finishes (chat lets their fragments interleave).
    """

    def __init__(self, ctx: ConvertContext) -> None:
        self.ctx = ctx
        self.seq = 0
        self.started = False
        self.done = False
        self.base = ""
        self.created: Any = None
        self.output: list[dict | None] = []  # finished items, by output index
        self.open_kind: str | None = None  # "reasoning" | "message"
        self.open_index = -1
        self.open_parts: list[str] = []
        self.open_refusal: list[str] = []
        self.calls: dict[int, _Call] = {}
        self.finish_reason: str | None = None
        self.usage: dict | None = None

    # -- emitting --------------------------------------------------------------------------

    def _event(self, out: list[SSEEvent], kind: str, **fields: Any) -> None:
        payload = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        out.append(SSEEvent(data=_dumps(payload), event=kind))

    def _snapshot(self, status: str, output: list, usage: dict | None = None, reason: str | None = None) -> dict:
        return _response_object("resp_" + self.base, self.created, self.ctx.model, status, output, usage, reason)

    def _start(self, chunk: dict, out: list[SSEEvent]) -> None:
        self.started = True
        self.base = _id_base(chunk.get("id"), "chatcmpl-")
        self.created = chunk.get("created")
        self._event(out, "response.created", response=self._snapshot("in_progress", []))
        self._event(out, "response.in_progress", response=self._snapshot("in_progress", []))

    # -- reasoning / message items ---------------------------------------------------------

    def _open(self, kind: str, out: list[SSEEvent]) -> None:
        self._close_calls(out)
        self._close_open(out)
        self.open_kind, self.open_index = kind, len(self.output)
        self.output.append(None)
        item_id = self._open_id()
        if kind == "reasoning":
            self._event(
                out,
                "response.output_item.added",
                output_index=self.open_index,
                item={"type": "reasoning", "id": item_id, "summary": []},
            )
            self._event(
                out,
                "response.reasoning_summary_part.added",
                item_id=item_id,
                output_index=self.open_index,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )
        else:
            item = {"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []}
            self._event(out, "response.output_item.added", output_index=self.open_index, item=item)
            self._event(
                out,
                "response.content_part.added",
                item_id=item_id,
                output_index=self.open_index,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            )

    def _open_id(self) -> str:
        prefix = "rs" if self.open_kind == "reasoning" else "msg"
        return f"{prefix}_{self.base}_{self.open_index}"

    def _close_open(self, out: list[SSEEvent], status: str = "completed") -> None:
        if self.open_kind is None:
            return
        item_id, index = self._open_id(), self.open_index
        text = "".join(self.open_parts)
        if self.open_kind == "reasoning":
            self._event(
                out,
                "response.reasoning_summary_text.done",
                item_id=item_id,
                output_index=index,
                summary_index=0,
                text=text,
            )
            self._event(
                out,
                "response.reasoning_summary_part.done",
                item_id=item_id,
                output_index=index,
                summary_index=0,
                part={"type": "summary_text", "text": text},
            )
            item = _reasoning_item(item_id, text)
        else:
            self._event(
                out,
                "response.output_text.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
            )
            self._event(
                out,
                "response.content_part.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                part={"type": "output_text", "text": text, "annotations": [], "logprobs": []},
            )
            refusal = "".join(self.open_refusal)
            if refusal:
                self._event(
                    out,
                    "response.refusal.done",
                    item_id=item_id,
                    output_index=index,
                    content_index=1,
                    refusal=refusal,
                )
                self._event(
                    out,
                    "response.content_part.done",
                    item_id=item_id,
                    output_index=index,
                    content_index=1,
                    part={"type": "refusal", "refusal": refusal},
                )
            item = _message_item(item_id, text, None, status)
            if refusal:
                item["content"].append({"type": "refusal", "refusal": refusal})
        self._event(out, "response.output_item.done", output_index=index, item=item)
        self.output[index] = item
        self.open_kind, self.open_index = None, -1
        self.open_parts, self.open_refusal = [], []

    def _text(self, kind: str, delta: str, out: list[SSEEvent]) -> None:
        if self.open_kind != kind:
            self._open(kind, out)
        self.open_parts.append(delta)
        name = "response.reasoning_summary_text.delta" if kind == "reasoning" else "response.output_text.delta"
        where = {"summary_index": 0} if kind == "reasoning" else {"content_index": 0, "logprobs": []}
        self._event(out, name, item_id=self._open_id(), output_index=self.open_index, delta=delta, **where)

    def _refusal(self, delta: str, out: list[SSEEvent]) -> None:
        if self.open_kind != "message":
            self._open("message", out)
        item_id = self._open_id()
        if not self.open_refusal:
            self._event(
                out,
                "response.content_part.added",
                item_id=item_id,
                output_index=self.open_index,
                content_index=1,
                part={"type": "refusal", "refusal": ""},
            )
        self.open_refusal.append(delta)
        self._event(
            out, "response.refusal.delta", item_id=item_id, output_index=self.open_index, content_index=1, delta=delta
        )

    # -- tool calls ------------------------------------------------------------------------

    def _tool_call(self, call: dict, out: list[SSEEvent]) -> None:
        index = call.get("index")
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        if not isinstance(index, int):
            # some upstreams omit the index: match by id, else a new call
            index = next((i for i, c in self.calls.items() if call.get("id") and c.call_id == call["id"]), None)
            if index is None:
                index = max(self.calls, default=-1) + 1 if call.get("id") or not self.calls else max(self.calls)
        state = self.calls.get(index)
        if state is None:
            self._close_open(out)
            call_id = call.get("id") or f"call_{self.base}_{index}"
            state = _Call(len(self.output), call_id, fn.get("name") or "")
            self.output.append(None)
            self.calls[index] = state
            item = {
                "type": "function_call",
                "id": state.item_id,
                "call_id": state.call_id,
                "name": state.name,
                "arguments": "",
                "status": "in_progress",
            }
            self._event(out, "response.output_item.added", output_index=state.output_index, item=item)
        elif fn.get("name") and not state.name:
            state.name = fn["name"]
        args = fn.get("arguments")
        if isinstance(args, str) and args:
            state.args.append(args)
            self._event(
                out,
                "response.function_call_arguments.delta",
                item_id=state.item_id,
                output_index=state.output_index,
                delta=args,
            )

    def _close_calls(self, out: list[SSEEvent]) -> None:
        for state in self.calls.values():
            args = "".join(state.args)
            self._event(
                out,
                "response.function_call_arguments.done",
                item_id=state.item_id,
                output_index=state.output_index,
                name=state.name,
                arguments=args,
            )
            item = _function_call_item(state.call_id, state.name, args)
            self._event(out, "response.output_item.done", output_index=state.output_index, item=item)
            self.output[state.output_index] = item
        self.calls.clear()

    # -- driving ---------------------------------------------------------------------------

    def _complete(self, out: list[SSEEvent]) -> None:
        if self.done or not self.started:
            return
        self.done = True
        reason = _INCOMPLETE.get(self.finish_reason or "")
        self._close_open(out, "incomplete" if reason else "completed")
        self._close_calls(out)
        output = [item for item in self.output if item is not None]
        response = self._snapshot("incomplete" if reason else "completed", output, self.usage, reason)
        self._event(out, "response.incomplete" if reason else "response.completed", response=response)

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        if self.done:
            return out
        if event.data.strip() == "[DONE]":
            self._complete(out)
            return out
        chunk = _loads(event.data)
        if not isinstance(chunk, dict):
            raise ValueError("the upstream sent an event that is not a JSON object")
        if not self.started:
            self._start(chunk, out)
        error = chunk.get("error")
        if error and not chunk.get("choices"):
            error = error if isinstance(error, dict) else {"message": str(error)}
            self.done = True
            self._event(
                out,
                "error",
                code=str(error.get("code") or error.get("type") or "upstream_error"),
                message=str(error.get("message") or "upstream error"),
                param=error.get("param"),
            )
            return out
        if chunk.get("usage"):
            self.usage = _responses_usage(chunk["usage"])
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or (choice.get("index") or 0) != 0:
                continue  # n > 1 has no Responses equivalent
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            reasoning = _reasoning_of(delta)
            if reasoning:
                self._text("reasoning", reasoning, out)
            content = delta.get("content")
            if isinstance(content, str) and content:
                self._text("message", content, out)
            if isinstance(delta.get("refusal"), str) and delta["refusal"]:
                self._refusal(delta["refusal"], out)
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    self._tool_call(call, out)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
                if self.open_kind is None and not self.calls and not any(self.output):
                    self._open("message", out)  # an empty answer still gets its (empty) message item
                self._close_open(out, "incomplete" if self.finish_reason in _INCOMPLETE else "completed")
                self._close_calls(out)
        return out

    def finish(self) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        self._complete(out)
        return out


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
        _copy(fn, item, "description", "parameters")
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
                instructions.append(_text_of(content))
            else:
                items.append({"type": "message", "role": role, "content": _text_of(content)})
        elif role == "user":
            if isinstance(content, str):
                items.append({"type": "message", "role": "user", "content": content})
            else:
                parts = [p for p in (_input_part(part) for part in content or ()) if p is not None]
                items.append({"type": "message", "role": "user", "content": parts})
        elif role == "assistant":
            text = _text_of(content)
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
                    "output": _text_of(content),
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
    _copy(body, out, "temperature", "top_p", "top_logprobs", "user", "service_tier", "metadata")
    _copy(body, out, "safety_identifier", "prompt_cache_key")
    if body.get("reasoning_effort"):
        out["reasoning"] = {"effort": body["reasoning_effort"]}
    text: dict[str, Any] = {}
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = fmt.get("json_schema") if isinstance(fmt.get("json_schema"), dict) else {}
        text["format"] = {"type": "json_schema", "name": schema.get("name") or "response"}
        _copy(schema, text["format"], "description", "schema", "strict")
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
    prompt = _int(u.get("input_tokens"))
    completion = _int(u.get("output_tokens"))
    idt = u.get("input_tokens_details") if isinstance(u.get("input_tokens_details"), dict) else {}
    odt = u.get("output_tokens_details") if isinstance(u.get("output_tokens_details"), dict) else {}
    prompt_details = {"cached_tokens": _int(idt.get("cached_tokens"))}
    if _int(idt.get("cache_write_tokens")):
        prompt_details["cache_write_tokens"] = idt["cache_write_tokens"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": _int(u.get("total_tokens")) or prompt + completion,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {"reasoning_tokens": _int(odt.get("reasoning_tokens"))},
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
    return "chatcmpl-" + _id_base(response.get("id"), "resp_")


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
        return SSEEvent(data=_dumps(chunk))

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
        payload = _loads(event.data)
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
            out.append(SSEEvent(data=_dumps({"error": error})))
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
                        data=_dumps(
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


# ============================================================================================

RESPONSES_TO_CHAT = Converter(
    source="openai.responses",
    target="openai.chat",
    request=responses_request_to_chat,
    response=chat_response_to_responses,
    stream=ChatToResponsesStream,
)
CHAT_TO_RESPONSES = Converter(
    source="openai.chat",
    target="openai.responses",
    request=chat_request_to_responses,
    response=responses_response_to_chat,
    stream=ResponsesToChatStream,
)
CONVERTERS = (RESPONSES_TO_CHAT, CHAT_TO_RESPONSES)


def register_converters(registry: Any) -> None:
    """Register both converters (called from the plugin's ``newapi_register_providers`` hook)."""
    for converter in CONVERTERS:
        registry.converter(converter)
