"""Responses clients on chat-completions upstreams: ``Converter(source="openai.responses", target="openai.chat")``.

Clients call ``/v1/responses`` on channels that only speak chat completions. What a chat upstream
cannot do is dropped rather than faked: built-in (hosted) tools such as ``web_search`` or
``file_search``, ``reasoning`` input items (opaque to chat models), ``include`` and ``store``.
Server-side state (``previous_response_id``, ``conversation``, ``item_reference`` items) cannot be
replayed without the stored conversation, so such requests are refused with ``InvalidRequest``.

Memory note: a Responses stream repeats the full text in its ``*.done`` events and in the final
``response.completed`` object, so the stream converter must keep the output of the response it is
building (text, reasoning summary and tool-call arguments, as lists of fragments). Deltas are
still passed on as they arrive.
"""

from __future__ import annotations

import time
from typing import Any

from newapi_host.sdk import ConvertContext, Converter, InvalidRequest, SSEEvent, dumps, token_count

from .responses_items import copy_fields, fc_id, id_base, read_event, text_of

# ============================================================================================
# Responses request -> chat request


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
        return {"role": role, "content": text_of(content)}
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
        return text_of(output)
    return dumps(output) if output is not None else ""


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
        copy_fields(tool, fn, "description", "parameters", "strict")
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
        copy_fields(fmt, schema, "description", "schema", "strict")
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
    copy_fields(body, out, "temperature", "top_p", "top_logprobs", "user", "service_tier")
    copy_fields(body, out, "safety_identifier", "prompt_cache_key")
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
    prompt = token_count(u.get("prompt_tokens"))
    completion = token_count(u.get("completion_tokens"))
    pd = u.get("prompt_tokens_details") if isinstance(u.get("prompt_tokens_details"), dict) else {}
    cd = u.get("completion_tokens_details") if isinstance(u.get("completion_tokens_details"), dict) else {}
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": token_count(pd.get("cached_tokens")),
            "cache_write_tokens": token_count(pd.get("cache_write_tokens")),
        },
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": token_count(cd.get("reasoning_tokens"))},
        "total_tokens": token_count(u.get("total_tokens")) or prompt + completion,
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
        "id": fc_id(call_id),
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
    base = id_base(body.get("id"), "chatcmpl-")
    choices = body.get("choices") or []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    output: list[dict] = []
    reasoning = _reasoning_of(message)
    if reasoning:
        output.append(_reasoning_item(f"rs_{base}_{len(output)}", reasoning))
    text = message.get("content")
    text = text if isinstance(text, str) else text_of(text)
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
        self.item_id = fc_id(call_id)
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
        out.append(SSEEvent(data=dumps(payload), event=kind))

    def _snapshot(self, status: str, output: list, usage: dict | None = None, reason: str | None = None) -> dict:
        return _response_object("resp_" + self.base, self.created, self.ctx.model, status, output, usage, reason)

    def _start(self, chunk: dict, out: list[SSEEvent]) -> None:
        self.started = True
        self.base = id_base(chunk.get("id"), "chatcmpl-")
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
        chunk = read_event(event.data)
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


CONVERTER = Converter(
    source="openai.responses",
    target="openai.chat",
    request=responses_request_to_chat,
    response=chat_response_to_responses,
    stream=ChatToResponsesStream,
)
