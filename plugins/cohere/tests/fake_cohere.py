"""A small Cohere API on a real port, for the plugin's end-to-end tests.

It answers as Cohere's v2 API does: ``POST /v2/chat`` (a JSON answer, or server-sent events
named by their ``type`` when ``stream`` is true), ``POST /v2/embed`` and ``GET /v1/models`` (two
pages). It checks the Bearer key (401 ``invalid api token`` otherwise) and refuses a request
Cohere would refuse: a field outside v2's request schema, a message of an unknown role,
``safety_mode`` together with tools, an embed request without ``input_type``.

Answers: a request offering tools whose last message is not a tool result gets a call of the
first tool; otherwise a text that quotes the last user or tool message. ``thinking`` enabled adds
a thinking block. Usage: ``billed_units`` counts words; ``tokens`` adds a 200-token preamble to
the input, as Cohere's own count does, so a test can tell which of the two was billed.

``requests`` records every call (method, path, headers lower-cased, JSON body, billed units).
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY = "co-fake-key"
PREAMBLE_TOKENS = 200
EMBED_TOKENS_PER_TEXT = 100
CHAT_FIELDS = {
    "model", "messages", "tools", "strict_tools", "documents", "citation_options", "response_format",
    "safety_mode", "max_tokens", "stop_sequences", "temperature", "seed", "frequency_penalty",
    "presence_penalty", "k", "p", "logprobs", "tool_choice", "thinking", "priority", "stream",
}  # fmt: skip
EMBED_FIELDS = {
    "model", "input_type", "texts", "images", "inputs", "max_tokens", "output_dimension", "embedding_types",
    "truncate", "priority",
}  # fmt: skip
MODEL_PAGES = {
    None: (
        [
            {"name": "command-a-03-2025", "endpoints": ["chat", "generate"]},
            {"name": "rerank-v3.5", "endpoints": ["rerank"]},
        ],
        "page-2",
    ),
    "page-2": ([{"name": "embed-v4.0", "endpoints": ["embed"]}, {"name": "command-r7b-12-2024"}], None),
}


def words(value: Any) -> int:
    """Words in every string inside ``value`` (the fake's token count)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(words(v) for v in value)
    if isinstance(value, dict):
        return sum(words(v) for k, v in value.items() if k in ("text", "content", "tool_plan"))
    return 0


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") for b in content or () if isinstance(b, dict))


def embedding(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % len(digest)] - 128) / 128, 4) for i in range(dims)]


class FakeCohere:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-cohere", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeCohere:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, path: str, model: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.requests
            if r["path"].split("?")[0] == path and (model is None or (r["json"] or {}).get("model") == model)
        ]

    # -- answers -------------------------------------------------------------------------------

    def chat(self, body: dict[str, Any]) -> tuple[dict[str, Any], tuple[int, int]]:
        """The assistant message, finish reason and billed units for a v2 chat request."""
        messages = body["messages"]
        last = messages[-1]
        message: dict[str, Any] = {"role": "assistant"}
        content: list[dict[str, Any]] = []
        if (body.get("thinking") or {}).get("type") == "enabled":
            content.append({"type": "thinking", "thinking": "The user wants an answer; keep it short."})
        if body.get("tools") and last["role"] != "tool" and body.get("tool_choice") != "NONE":
            tool = body["tools"][0]["function"]["name"]
            message["tool_plan"] = f"I will call {tool} for Paris."
            message["tool_calls"] = [
                {
                    "id": f"{tool}_{uuid.uuid4().hex[:8]}",
                    "type": "function",
                    "function": {"name": tool, "arguments": json.dumps({"city": "Paris"})},
                }
            ]
            finish = "TOOL_CALL"
        else:
            said = text_of(last.get("content"))
            prefix = "The tool said:" if last["role"] == "tool" else "Hello from Cohere! You said:"
            content.append({"type": "text", "text": f"{prefix} {said}"})
            finish = "COMPLETE"
        if content:
            message["content"] = content
        billed = (words(messages) + 1, words(message["content"] if content else message["tool_plan"]) + 1)
        return {"message": message, "finish_reason": finish}, billed


def usage(billed: tuple[int, int]) -> dict[str, Any]:
    return {
        "billed_units": {"input_tokens": billed[0], "output_tokens": billed[1]},
        "tokens": {"input_tokens": billed[0] + PREAMBLE_TOKENS, "output_tokens": billed[1]},
    }


def stream_events(answer: dict[str, Any], billed: tuple[int, int], message_id: str) -> list[dict[str, Any]]:
    """The v2 event sequence for an answer: content blocks word by word, tool calls in two pieces."""
    message = answer["message"]
    events: list[dict[str, Any]] = [
        {"type": "message-start", "id": message_id, "delta": {"message": {"role": "assistant"}}}
    ]
    for index, block in enumerate(message.get("content", ())):
        kind = block["type"]
        events.append(
            {"type": "content-start", "index": index, "delta": {"message": {"content": {"type": kind, kind: ""}}}}
        )
        for i, word in enumerate(block[kind].split(" ")):
            piece = word if i == 0 else " " + word
            events.append({"type": "content-delta", "index": index, "delta": {"message": {"content": {kind: piece}}}})
        events.append({"type": "content-end", "index": index})
    if message.get("tool_plan"):
        events.append({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": message["tool_plan"]}}})
    for index, call in enumerate(message.get("tool_calls", ())):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        start = {**call, "function": {"name": call["function"]["name"], "arguments": arguments[:half]}}
        events.append({"type": "tool-call-start", "index": index, "delta": {"message": {"tool_calls": start}}})
        piece = {"function": {"arguments": arguments[half:]}}
        events.append({"type": "tool-call-delta", "index": index, "delta": {"message": {"tool_calls": piece}}})
        events.append({"type": "tool-call-end", "index": index})
    end = {"finish_reason": answer["finish_reason"], "usage": usage(billed)}
    events.append({"type": "message-end", "delta": end})
    return events


def _handler(fake: FakeCohere) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _refuse(self, status: int, message: str) -> None:
            self._json(status, {"id": str(uuid.uuid4()), "message": message})

        def _record(self, body: Any) -> dict[str, Any]:
            record = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "json": body,
                "billed": None,
            }
            fake.requests.append(record)
            return record

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {KEY}":
                return True
            self._refuse(401, "invalid api token")
            return False

        def do_GET(self) -> None:
            self._record(None)
            if not self._authorized():
                return
            path, _, query = self.path.partition("?")
            if path != "/v1/models":
                return self._refuse(404, f"no route {path}")
            params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            models, token = MODEL_PAGES[params.get("page_token")]
            self._json(200, {"models": models, "next_page_token": token})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw or b"null")
            record = self._record(body)
            if not self._authorized():
                return
            if self.path == "/v2/chat":
                self._chat(body, record)
            elif self.path == "/v2/embed":
                self._embed(body, record)
            else:
                self._refuse(404, f"no route {self.path}")

        def _chat(self, body: Any, record: dict[str, Any]) -> None:
            if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body.get("messages"):
                return self._refuse(400, "invalid request: model and messages are required")
            unknown = set(body) - CHAT_FIELDS
            if unknown:
                return self._refuse(400, f"invalid request: unknown fields {sorted(unknown)}")
            if any(m.get("role") not in ("system", "user", "assistant", "tool") for m in body["messages"]):
                return self._refuse(400, "invalid request: unknown message role")
            if any(m["role"] == "tool" and not m.get("tool_call_id") for m in body["messages"]):
                return self._refuse(400, "invalid request: a tool message needs tool_call_id")
            if body.get("safety_mode") and body.get("tools"):
                return self._refuse(400, "invalid request: safety_mode is not supported with tools")
            answer, billed = fake.chat(body)
            record["billed"] = billed
            message_id = str(uuid.uuid4())
            if not body.get("stream"):
                return self._json(200, {"id": message_id, **answer, "usage": usage(billed)})
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes
            for event in stream_events(answer, billed, message_id):
                self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()

        def _embed(self, body: Any, record: dict[str, Any]) -> None:
            if not isinstance(body, dict) or not isinstance(body.get("texts"), list):
                return self._refuse(400, "invalid request: texts are required")
            unknown = set(body) - EMBED_FIELDS
            if unknown:
                return self._refuse(400, f"invalid request: unknown fields {sorted(unknown)}")
            if not body.get("input_type"):
                return self._refuse(400, "invalid request: input_type is required for embed models v3 and higher")
            dims = body.get("output_dimension") or 8
            billed = (EMBED_TOKENS_PER_TEXT * len(body["texts"]), 0)
            record["billed"] = billed
            self._json(
                200,
                {
                    "id": str(uuid.uuid4()),
                    "embeddings": {"float": [embedding(t, dims) for t in body["texts"]]},
                    "texts": body["texts"],
                    "meta": {
                        "api_version": {"version": "2"},
                        "billed_units": {"input_tokens": billed[0]},
                        "tokens": {"input_tokens": billed[0] + 2},
                    },
                    "response_type": "embeddings_by_type",
                },
            )

    return Handler
