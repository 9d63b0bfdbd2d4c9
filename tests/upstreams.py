"""Real OpenAI-speaking upstreams on 127.0.0.1 for end-to-end relay tests.

Two tools, both real HTTP servers in a background thread, so the gateway goes through its real
client stack (connection drops, stalls and half-finished streams behave as on the internet):

* **llmock** (installed, ``llmock`` 0.2.2): a mock of 10 providers with scripted faults and a
  request journal. Good for "the next N requests fail", quotas, tool calls.
* **FakeUpstream** (this module): a tiny OpenAI server whose behaviour is chosen by markers in
  the request's ``model``. Deterministic under parallel tests and cross-channel retries, answers
  fixed texts and usage, journals every request *with its headers*, and serves the endpoints
  llmock lacks (``/v1/completions``, ``/v1/moderations``).

FakeUpstream
============

To get a server: ``with start_fake_openai() as up:`` (or ``up = start_fake_openai(); up.stop()``),
or the function fixture ``fake_openai`` (import it: ``from .upstreams import fake_openai``): one
server for the whole session (:func:`shared_fake_openai`), journal cleared before each test.
``up.base_url`` = ``http://127.0.0.1:<port>/v1`` (the channel's / SDK's base URL), ``up.url`` the
root. ``start_fake_openai(models=[...])`` sets what ``GET /v1/models`` lists.

Endpoints: ``POST /v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``,
``/v1/responses``, ``/v1/moderations``; ``GET /v1/models``. Anything else: 404 (405 for a wrong
method) with an OpenAI error body.

A plain model (``gpt-4o-mini``) gets a normal answer:

* chat: ``"Hello from <model>"``, ``finish_reason: stop``, usage :data:`USAGE` (11 + 7 = 18);
  echoes the received ``model``, so a mapped model name is visible in the answer;
* chat stream: role chunk, N content chunks ``"w0 "``, ``"w1 "`` ... (:data:`DEFAULT_CHUNKS` = 10),
  a ``finish_reason: stop`` chunk, then -- only if ``stream_options.include_usage`` is true -- a
  usage chunk with ``choices: []`` (as OpenAI does, every chunk then carries ``"usage": null``),
  then ``data: [DONE]``;
* completions (``text_completion``, stream too), embeddings (8 floats per input, honours
  ``encoding_format: base64``, which the ``openai`` SDK sends by default; usage prompt_tokens =
  3 * inputs), moderations (nothing flagged), responses (``output_text`` "Hello from <model>";
  stream: ``response.created`` ... ``response.output_text.delta`` x N ... ``response.completed``
  with usage; no ``[DONE]``, as OpenAI).

Markers anywhere in the model name, combinable (``x-chunks-3-nousage``):

==========================  =================================================================
``fail-<status>``           that status + OpenAI error body; ``fail-429`` adds ``Retry-After: 1``
``drop-after-<n>``          stream: n content chunks, then the connection is cut (no [DONE])
``truncate-after-<n>``      stream: n content chunks, then a clean end: no finish_reason, usage
                            or [DONE] (``response.completed`` for /responses)
``malformed-after-<n>``     stream: after n content chunks ``data: {not json``, then carry on
``stall-after-<n>``         stream: after n content chunks silence for 30 s (or until the
                            client hangs up), then carry on
``nousage``                 never send usage, stream or not
``slow-<ms>``               wait that long before the response starts
``chunks-<n>``              n content chunks instead of 10
==========================  =================================================================

What the gateway sent: ``up.requests`` is a list of ``{"method", "path", "headers", "json"}``
(header names lower-cased; ``json`` is the parsed body, None for GET or a non-JSON body),
appended when the request arrives, so it is complete once the client has its answer. E.g.
``up.requests[-1]["headers"]["authorization"] == "Bearer sk-upstream"``,
``up.requests[-1]["json"]["stream_options"] == {"include_usage": True}``. ``up.reset()`` clears
it. With one session-wide server, filter by model (``up.requests_for("m-x")``) rather than
counting everything.

llmock
======

To get a server: the ``llmock`` fixture (pytest plugin ``llmock.pytest_plugin``, auto-loaded):
one ``llmock.testing.LLMockServer`` per session, reset (journal, queued faults, settings) before
each test. It also monkeypatches ``OPENAI_BASE_URL``/``OPENAI_API_KEY`` (and the Anthropic, Gemini,
Cohere ones) to point at itself. Outside pytest: ``with LLMockServer() as server:``, faults via
``server.state.scenarios.add(...)``. OpenAI base URL: ``llmock.base_url()`` =
``http://127.0.0.1:<port>/v1`` (``llmock.url`` is the root; ``base_url("anthropic")`` etc. for
the other providers).

Endpoints (OpenAI): ``POST /v1/chat/completions`` (stream or not, ``n``, tools: in its default
``tool_mode="auto"`` a request offering tools gets a *tool call*), ``POST /v1/responses`` (stream
or not), ``POST /v1/embeddings`` (1536 floats; ignores ``encoding_format``, the SDK copes),
``GET /v1/models`` (fixed list: gpt-4o, gpt-4o-mini, ...), images, files, batches.
**No** ``/v1/completions`` and **no** ``/v1/moderations`` (404).

Answers: text varies with model and prompt (pick from templates); script it with
``llmock.reply("text")``. Usage is estimated (len(text) // 4 tokens), always present when not
streaming. Stream: a role chunk, one chunk per word, a finish chunk, ``[DONE]``; with
``stream_options.include_usage`` true, every chunk has ``"usage": null`` and a last chunk with
``choices: []`` carries usage; without it there is no usage at all. Responses stream: full
event sequence, usage in ``response.completed``.

Faults (methods chain; each is consumed by the next ``times`` matching requests, FIFO;
``times=None`` = until reset):

* ``llmock.fail(500, times=2, model="gpt-4o*")`` -- any 4xx/5xx with an OpenAI error body; 429,
  503, 504, 529 get ``retry-after: 1`` + ``retry-after-ms`` by default. ``fail`` matches *any*
  path (a ``/v1/models`` probe consumes it too) unless targeted.
* ``llmock.rate_limit(times=1, retry_after=2)`` -- 429 with ``retry-after`` (whole seconds, ceil)
  and ``retry-after-ms`` (the openai SDK reads the latter first). ``outage()`` = 503 forever.
* ``llmock.disconnect(after_chunks=n)`` / ``truncate(after_chunks=n)`` / ``corrupt(after_chunks=n)``
  (the chunk is cut in half, replacing it: not an extra chunk) / ``stall(after_chunks=n,
  seconds=30)`` (pauses, then carries on). Streams only. ``after_chunks`` counts SSE events
  *including the role chunk*: ``truncate(after_chunks=3)`` delivers role + 2 content chunks.
* ``llmock.delay(s)`` (whole response), ``slow_first_token(s)``, ``pace(chunk_delay_ms)`` (all
  stream chunks, until reset), ``limits(rpm=, tpm=, context_window=)`` (real quotas, counted
  *per API key* (Authorization header) -- the only thing keyed on the API key),
  ``context_overflow()``.
* Targeting: the helpers take ``provider=``; only ``fail`` takes ``model=``. For anything else
  queue raw behaviours, which match on ``provider``, ``path``, ``model`` (shell wildcards),
  ``stream`` and ``tools``, e.g.
  ``llmock.add(StreamFault("disconnect", after_chunks=2, match=Match(model="m-b", stream=True)))``
  or ``Fail(500, match=Match(path="/v1/chat/completions"))`` (``from llmock.scenarios import
  Fail, Match, StreamFault``). Not by API key or header. Random faults:
  ``ChaosSettings`` / ``StreamChaos`` rates (``LLMOCK_ERROR_RATE_500=0.1`` ...).
* A request header ``x-llmock-force-status: 503`` forces that error (only if the gateway
  forwards it).

Journal: ``llmock.requests`` (waits up to 2 s for in-flight requests) / ``llmock.last_request``:
``RequestRecord`` with ``path``, ``method``, ``model``, ``stream``, ``status``, ``body`` (the
parsed JSON body as sent -- use it to assert mapped model, ``stream_options``, overridden
params), ``fault`` (e.g. ``"scenario:500"``, ``"stream:disconnect@3"``), ``completed``,
``chunks_sent``, ``retry_after``, ``sdk_retry_count`` (``x-stainless-retry-count``),
``started_at``/``ended_at``. **Headers are not recorded**: to assert which API key the gateway
used, use FakeUpstream. ``llmock.verdict()`` / ``assert_resilient()`` grade retry behaviour of
the client (= the gateway) per logical call.

Cannot: completions/moderations endpoints, per-API-key or per-header faults, fixed answer
texts/usage without scripting, a stall that never resumes, a second independent server from the
fixture (build one with ``LLMockServer()``). The queue is server-wide: tests using the fixture
must not run concurrently in one process.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import json
import logging
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

__all__ = [
    "DEFAULT_CHUNKS",
    "USAGE",
    "Behaviour",
    "FakeUpstream",
    "fake_openai",
    "shared_fake_openai",
    "start_fake_openai",
]

USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
DEFAULT_CHUNKS = 10
STALL_SECONDS = 30.0
EMBEDDING_DIM = 8
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "omni-moderation-latest")

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


# -- behaviour chosen by the model name ----------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """What the markers in a model name ask for."""

    fail: int | None = None
    drop_after: int | None = None
    truncate_after: int | None = None
    malformed_after: int | None = None
    stall_after: int | None = None
    usage: bool = True
    slow_ms: int = 0
    chunks: int = DEFAULT_CHUNKS

    _MARKERS = {
        "fail": re.compile(r"fail-(\d{3})"),
        "drop_after": re.compile(r"drop-after-(\d+)"),
        "truncate_after": re.compile(r"truncate-after-(\d+)"),
        "malformed_after": re.compile(r"malformed-after-(\d+)"),
        "stall_after": re.compile(r"stall-after-(\d+)"),
        "slow_ms": re.compile(r"slow-(\d+)"),
        "chunks": re.compile(r"chunks-(\d+)"),
    }

    @classmethod
    def parse(cls, model: str) -> Behaviour:
        found: dict[str, Any] = {"usage": "nousage" not in model}
        for name, pattern in cls._MARKERS.items():
            if match := pattern.search(model):
                found[name] = int(match.group(1))
        return cls(**found)


_ERROR_TYPES = {
    400: ("invalid_request_error", "bad_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind, code = _ERROR_TYPES.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _Drop(Exception):
    """Raised inside the app to make uvicorn cut the connection mid-response."""


class _QuietDrops(logging.Filter):
    """Keep uvicorn from logging a traceback for connections cut on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _Drop))


_quiet_drops = _QuietDrops()


# -- the ASGI app ------------------------------------------------------------------------------


class _Stream:
    """An SSE response: head frames, content frames (where faults apply), tail frames."""

    def __init__(self, head: list[Any], content: list[Any], tail: list[Any], done: bool = True) -> None:
        self.head, self.content, self.tail, self.done = head, content, tail, done


def _sse(data: Any, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"{prefix}data: {payload}\n\n".encode()


class _App:
    def __init__(self, upstream: FakeUpstream) -> None:
        self.up = upstream
        self.routes: dict[tuple[str, str], Callable[[dict[str, Any], Behaviour], Any]] = {
            ("POST", "/v1/chat/completions"): self.chat,
            ("POST", "/v1/completions"): self.completions,
            ("POST", "/v1/embeddings"): self.embeddings,
            ("POST", "/v1/responses"): self.responses,
            ("POST", "/v1/moderations"): self.moderations,
            ("GET", "/v1/models"): self.models,
        }

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        raw = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.up.requests.append({"method": method, "path": path, "headers": headers, "json": body})

        handler = self.routes.get((method, path))
        if handler is None:
            known = any(p == path for _, p in self.routes)
            status = 405 if known else 404
            return await _json(send, status, _error_body(status, f"{method} {path} is not served here"))
        if method == "POST" and not isinstance(body, dict):
            return await _json(send, 400, _error_body(400, "The body must be a JSON object."))

        model = str((body or {}).get("model") or "")
        b = Behaviour.parse(model)
        if b.slow_ms:
            await asyncio.sleep(b.slow_ms / 1000)
        if b.fail is not None:
            extra = [(b"retry-after", b"1")] if b.fail == 429 else []
            return await _json(send, b.fail, _error_body(b.fail, f"Injected failure {b.fail} for {model}"), extra)

        result = handler(body or {}, b)
        if isinstance(result, _Stream):
            return await self._stream(send, receive, result, b)
        return await _json(send, 200, result)

    async def _stream(self, send: Send, receive: Receive, stream: _Stream, b: Behaviour) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")],
            }
        )

        async def frame(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        for item in stream.head:
            await frame(item)
        for i in range(len(stream.content) + 1):
            if i == b.drop_after:
                raise _Drop
            if i == b.truncate_after:
                break
            if i == b.malformed_after:
                await frame(b"data: {not json\n\n")
            if i == b.stall_after and await _client_left(receive, STALL_SECONDS):
                return
            if i < len(stream.content):
                await frame(stream.content[i])
        else:
            for item in stream.tail:
                await frame(item)
            if stream.done:
                await frame(b"data: [DONE]\n\n")
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    # -- endpoints ---------------------------------------------------------------------------

    def chat(self, body: dict[str, Any], b: Behaviour) -> Any:
        model = body.get("model")
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if not body.get("stream"):
            answer = {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"Hello from {model}"},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
            }
            return answer | ({"usage": USAGE} if b.usage else {})

        with_usage = _include_usage(body) and b.usage

        def chunk(delta: dict[str, Any], finish: str | None = None, *, usage: Any = None) -> bytes:
            choices = [] if usage else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
            data = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
            }
            return _sse(data | {"usage": usage} if with_usage else data)

        return _Stream(
            head=[chunk({"role": "assistant", "content": ""})],
            content=[chunk({"content": f"w{i} "}) for i in range(b.chunks)],
            tail=[chunk({}, "stop")] + ([chunk({}, usage=USAGE)] if with_usage else []),
        )

    def completions(self, body: dict[str, Any], b: Behaviour) -> Any:
        model = body.get("model")
        ident, created = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())

        def obj(text: str, finish: str | None, usage: Any = None, choices: bool = True) -> dict[str, Any]:
            data: dict[str, Any] = {
                "id": ident,
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}] if choices else [],
            }
            return data | ({"usage": usage} if usage else {})

        if not body.get("stream"):
            return obj(f"Hello from {model}", "stop", USAGE if b.usage else None)
        with_usage = _include_usage(body) and b.usage
        return _Stream(
            head=[],
            content=[_sse(obj(f"w{i} ", None)) for i in range(b.chunks)],
            tail=[_sse(obj("", "stop"))] + ([_sse(obj("", None, USAGE, choices=False))] if with_usage else []),
        )

    def embeddings(self, body: dict[str, Any], b: Behaviour) -> Any:
        raw = body.get("input")
        if isinstance(raw, list) and raw and not all(isinstance(x, int) for x in raw):
            count = len(raw)
        else:
            count = 1  # a string, or one pre-tokenised input
        data = []
        for index in range(count):
            vector = [round(0.125 * (k + 1) + index, 3) for k in range(EMBEDDING_DIM)]
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{EMBEDDING_DIM}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        answer = {"object": "list", "data": data, "model": body.get("model")}
        return answer | ({"usage": {"prompt_tokens": 3 * count, "total_tokens": 3 * count}} if b.usage else {})

    def moderations(self, body: dict[str, Any], b: Behaviour) -> Any:
        raw = body.get("input")
        count = len(raw) if isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw) else 1
        names = [
            "harassment",
            "harassment/threatening",
            "hate",
            "hate/threatening",
            "illicit",
            "illicit/violent",
            "self-harm",
            "self-harm/instructions",
            "self-harm/intent",
            "sexual",
            "sexual/minors",
            "violence",
            "violence/graphic",
        ]
        result = {
            "flagged": False,
            "categories": dict.fromkeys(names, False),
            "category_scores": dict.fromkeys(names, 0.0001),
            "category_applied_input_types": {name: ["text"] for name in names},
        }
        return {
            "id": f"modr-{uuid.uuid4().hex[:24]}",
            "model": body.get("model") or "omni-moderation-latest",
            "results": [result] * count,
        }

    def responses(self, body: dict[str, Any], b: Behaviour) -> Any:
        model = body.get("model")
        ident, msg_id = f"resp_{uuid.uuid4().hex[:24]}", f"msg_{uuid.uuid4().hex[:24]}"
        usage = {
            "input_tokens": USAGE["prompt_tokens"],
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": USAGE["completion_tokens"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": USAGE["total_tokens"],
        }

        def part(text: str) -> dict[str, Any]:
            return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

        def message(text: str, status: str = "completed") -> dict[str, Any]:
            return {
                "type": "message",
                "id": msg_id,
                "status": status,
                "role": "assistant",
                "content": [part(text)] if status == "completed" else [],
            }

        def response(status: str, output: list[Any]) -> dict[str, Any]:
            return {
                "id": ident,
                "object": "response",
                "created_at": int(time.time()),
                "status": status,
                "model": model,
                "output": output,
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": [],
                "instructions": body.get("instructions"),
                "metadata": {},
                "error": None,
                "incomplete_details": None,
                "temperature": 1.0,
                "top_p": 1.0,
                "text": {"format": {"type": "text"}},
                "truncation": "disabled",
                "usage": usage if status == "completed" and b.usage else None,
            }

        if not body.get("stream"):
            return response("completed", [message(f"Hello from {model}")])

        seq = iter(range(1_000_000))

        def event(kind: str, **fields: Any) -> bytes:
            return _sse({"type": kind, "sequence_number": next(seq), **fields}, event=kind)

        pieces = [f"w{i} " for i in range(b.chunks)]
        text = "".join(pieces)
        where = {"item_id": msg_id, "output_index": 0, "content_index": 0}
        # Built in wire order, so the sequence numbers ascend as sent.
        head = [
            event("response.created", response=response("in_progress", [])),
            event("response.in_progress", response=response("in_progress", [])),
            event("response.output_item.added", output_index=0, item=message("", "in_progress")),
            event("response.content_part.added", **where, part=part("")),
        ]
        content = [event("response.output_text.delta", **where, delta=p, logprobs=[]) for p in pieces]
        tail = [
            event("response.output_text.done", **where, text=text, logprobs=[]),
            event("response.content_part.done", **where, part=part(text)),
            event("response.output_item.done", output_index=0, item=message(text)),
            event("response.completed", response=response("completed", [message(text)])),
        ]
        return _Stream(head, content, tail, done=False)

    def models(self, body: dict[str, Any], b: Behaviour) -> Any:
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "fake"} for name in self.up.models
            ],
        }


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


async def _json(send: Send, status: int, data: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(data).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


async def _client_left(receive: Receive, seconds: float) -> bool:
    """Wait up to ``seconds``; True as soon as the client disconnects."""

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(watch(), seconds)
    except TimeoutError:
        return False
    return True


# -- the server --------------------------------------------------------------------------------


class FakeUpstream:
    """A fake OpenAI upstream served by uvicorn in a daemon thread on a free 127.0.0.1 port."""

    def __init__(self, models: list[str] | tuple[str, ...] = DEFAULT_MODELS) -> None:
        self.models = list(models)
        self.requests: list[dict[str, Any]] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def requests_for(self, model: str, path: str | None = None) -> list[dict[str, Any]]:
        """Journal entries whose body names ``model`` (and hit ``path``, if given)."""
        return [
            r for r in self.requests if (r["json"] or {}).get("model") == model and (path is None or r["path"] == path)
        ]

    def reset(self) -> None:
        self.requests.clear()

    def start(self) -> FakeUpstream:
        if self._thread is not None:
            raise RuntimeError("already running")
        logging.getLogger("uvicorn.error").addFilter(_quiet_drops)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket, self.port = sock, sock.getsockname()[1]
        config = uvicorn.Config(_App(self), log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"fake-openai-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("fake OpenAI upstream did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> FakeUpstream:
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_fake_openai(models: list[str] | tuple[str, ...] = DEFAULT_MODELS) -> FakeUpstream:
    """A started :class:`FakeUpstream`; stop it with ``.stop()`` or use it in a ``with`` block."""
    return FakeUpstream(models).start()


_shared: FakeUpstream | None = None
_shared_lock = threading.Lock()


def shared_fake_openai() -> FakeUpstream:
    """One FakeUpstream for the whole process, started on first use, stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = start_fake_openai()
            atexit.register(_shared.stop)
        return _shared


@pytest.fixture
def fake_openai() -> Iterator[FakeUpstream]:
    """The session-wide FakeUpstream, with an empty journal."""
    upstream = shared_fake_openai()
    upstream.reset()
    yield upstream
