"""A mock upstream that speaks OpenAI, Anthropic and Gemini, for a plugin's end-to-end tests.

:class:`MockUpstream` is a real HTTP server (an ASGI app under uvicorn, in a daemon thread, on a
free 127.0.0.1 port), so the gateway reaches it through its real client stack. Point a channel's
base URL at ``upstream.url``: adapters append their own paths.

It answers with the canonical traffic of :mod:`.samples` (the text :data:`~.samples.KIT_TEXT`,
usage 11 + 7 tokens), with the request's model echoed:

- OpenAI: ``POST /v1/chat/completions`` (stream or not; the usage chunk only when
  ``stream_options.include_usage`` is true, as OpenAI does), ``/v1/completions``,
  ``/v1/embeddings`` (``encoding_format: base64`` honoured), ``/v1/responses``,
  ``/v1/moderations``, and Azure's ``/openai/deployments/{deployment}/...`` and
  ``/openai/v1/responses``;
- Anthropic: ``POST /v1/messages`` (stream or not, usage in ``message_start``/``message_delta``);
- Gemini: ``POST /{version}/models/{model}:generateContent``, ``:streamGenerateContent``
  (``alt=sse``, else one JSON array), ``:embedContent``, ``:batchEmbedContents``,
  ``:countTokens``;
- ``GET /v1/models`` (OpenAI's list; Anthropic's when ``anthropic-version`` is sent; Google's
  when the key comes as ``x-goog-api-key`` or ``?key=``), ``GET /{version}/models`` and
  Ollama's ``GET /api/tags``, listing :attr:`MockUpstream.models`.

Markers in the model name change the answer, on every route (plugin routes included):
``fail-<status>`` (that status with an error body in the route's format; ``fail-429`` adds
``Retry-After: 1``), ``slow-<ms>`` (wait first), ``nousage`` (report no usage),
``drop-after-<n>`` (a stream cut after n events).

Every request is recorded (:attr:`MockUpstream.requests`, a list of :class:`Recorded`) when it
arrives, so tests can assert what a plugin sent. A provider with a wire format of its own adds its
endpoints with :meth:`MockUpstream.route`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

from newapi_host.sdk import SSEEvent, encode_event

from . import samples

__all__ = ["Behaviour", "MockUpstream", "Recorded", "Reply", "Stream"]

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Behaviour:
    """What the markers in a model name ask for."""

    fail: int | None = None
    slow_ms: int = 0
    usage: bool = True
    drop_after: int | None = None

    @classmethod
    def parse(cls, model: str) -> Behaviour:
        def number(pattern: str) -> int | None:
            found = re.search(pattern, model)
            return int(found.group(1)) if found else None

        return cls(
            fail=number(r"fail-(\d{3})"),
            slow_ms=number(r"slow-(\d+)") or 0,
            usage="nousage" not in model,
            drop_after=number(r"drop-after-(\d+)"),
        )


@dataclass
class Recorded:
    """One request as the mock received it; header names are lower-cased, ``json`` is None when
    the body is not JSON, ``params`` holds the path parameters of the route that matched."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any
    params: dict[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str:
        """The model asked for: from the path (Gemini, Azure deployments) or the body."""
        for name in ("model", "deployment"):
            if self.params.get(name):
                return self.params[name]
        if action := self.params.get("model_action"):
            return action.rpartition(":")[0] or action
        return str(self.json.get("model") or "") if isinstance(self.json, dict) else ""

    @property
    def behaviour(self) -> Behaviour:
        return Behaviour.parse(self.model)


@dataclass
class Reply:
    """A plain answer: ``json`` (encoded) or raw ``body``, with a status and extra headers."""

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    """A server-sent event stream; ``drop-after-<n>`` in the model name cuts it after n events."""

    events: Sequence[SSEEvent]


Handler = Callable[[Recorded], "Reply | Stream | dict[str, Any] | list[Any]"]
ErrorShape = Callable[[int, str], Any]


def openai_error(status: int, message: str) -> dict[str, Any]:
    kind = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}.get(status)
    kind = kind or ("server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    kind = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error", 529: "overloaded_error"}
    fallback = "api_error" if status >= 500 else "invalid_request_error"
    return {"type": "error", "error": {"type": kind.get(status, fallback), "message": message}}


def google_error(status: int, message: str) -> dict[str, Any]:
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
    names |= {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
    return {"error": {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}}


class _Route:
    def __init__(self, method: str, template: str, handler: Handler, error: ErrorShape) -> None:
        self.method, self.template, self.handler, self.error = method.upper(), template, handler, error
        pattern = ""
        for literal, name in re.findall(r"([^{]*)(?:\{(\w+)\})?", template):
            pattern += re.escape(literal) + (f"(?P<{name}>[^/]+)" if name else "")
        self.regex = re.compile(pattern + "$")

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.match(path)
        return found.groupdict() if found else None


class _Cut(Exception):
    """Raised inside the app so uvicorn drops the connection mid-stream (``drop-after-<n>``)."""


class _QuietCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _Cut))


class MockUpstream:
    """The multi-dialect mock: ``url`` is its root (a channel's base URL), ``base_url`` its ``/v1``."""

    def __init__(self, models: Iterable[str] = ("kit-model",)) -> None:
        self.models = list(models)
        self.requests: list[Recorded] = []
        self._routes: list[_Route] = []
        self._own_routes()
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

    # -- extending and inspecting ------------------------------------------------------------------

    def route(self, method: str, path: str, handler: Handler, *, error: ErrorShape = openai_error) -> None:
        """Serve ``method path`` with ``handler(request: Recorded)``, ahead of the built-in routes.

        ``path`` may hold ``{name}`` segments (``/v2/models/{model}``), found in
        ``request.params``. The handler returns a dict or list (a 200 JSON answer), a
        :class:`Reply` or a :class:`Stream`. ``error(status, message)`` shapes the bodies of the
        ``fail-<status>`` marker on this route (OpenAI's error shape by default).
        """
        self._routes.insert(0, _Route(method, path, handler, error))

    def requests_for(self, model: str | None = None, path: str | None = None) -> list[Recorded]:
        """Recorded requests for ``model`` (and to ``path``, when given)."""
        return [r for r in self.requests if (model is None or r.model == model) and (path is None or r.path == path)]

    def reset(self) -> None:
        self.requests.clear()

    # -- running -------------------------------------------------------------------------------------

    def start(self) -> MockUpstream:
        if self._thread is not None:
            return self
        logging.getLogger("uvicorn.error").addFilter(_QuietCuts())
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket, self.port = sock, sock.getsockname()[1]
        config = uvicorn.Config(
            self._app, interface="asgi3", log_level="warning", lifespan="off", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"kit-upstream-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the mock upstream did not start")
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

    def __enter__(self) -> MockUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the ASGI app -----------------------------------------------------------------------------

    async def _app(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        request = Recorded(
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=raw,
            json=parsed,
        )
        self.requests.append(request)
        route = None
        for candidate in self._routes:
            params = candidate.match(request.path)
            if params is not None and candidate.method == request.method:
                route, request.params = candidate, params
                break
        if route is None:
            message = f"{request.method} {request.path} is not served by the kit's mock upstream"
            return await _send_json(send, 404, openai_error(404, message))
        behaviour = request.behaviour
        if behaviour.slow_ms:
            await asyncio.sleep(behaviour.slow_ms / 1000)
        if behaviour.fail is not None:
            headers = {"retry-after": "1"} if behaviour.fail == 429 else {}
            body = route.error(behaviour.fail, f"injected failure {behaviour.fail} for {request.model}")
            return await _send_json(send, behaviour.fail, body, headers)
        try:
            result = route.handler(request)
        except _BadRequest as exc:
            return await _send_json(send, 400, route.error(400, str(exc)))
        if isinstance(result, Stream):
            return await _send_stream(send, result, behaviour.drop_after)
        if isinstance(result, Reply):
            if result.json is not None:
                return await _send_json(send, result.status, result.json, result.headers)
            return await _send(send, result.status, result.body, dict(result.headers))
        return await _send_json(send, 200, result)

    # -- built-in endpoints ---------------------------------------------------------------------------

    def _own_routes(self) -> None:
        openai = {
            "chat/completions": self._chat,
            "completions": self._completions,
            "embeddings": self._embeddings,
            "moderations": self._moderations,
        }
        for tail, handler in openai.items():
            self.route("POST", f"/openai/deployments/{{deployment}}/{tail}", handler)
            self.route("POST", f"/v1/{tail}", handler)
        self.route("POST", "/v1/responses", self._responses)
        self.route("POST", "/openai/v1/responses", self._responses)
        self.route("POST", "/v1/messages", self._messages, error=anthropic_error)
        self.route("POST", "/{version}/models/{model_action}", self._gemini, error=google_error)
        self.route("GET", "/{version}/models", self._models, error=google_error)
        self.route("GET", "/v1/models", self._models)
        self.route("GET", "/api/tags", self._ollama_models)

    def _body(self, request: Recorded) -> dict[str, Any]:
        if not isinstance(request.json, dict):
            raise _BadRequest("the body must be a JSON object")
        return request.json

    def _chat(self, request: Recorded) -> Any:
        body, usage = self._body(request), request.behaviour.usage
        if not body.get("stream"):
            return samples.chat_response(request.model, usage)
        return Stream(samples.chat_stream(request.model, usage and _include_usage(body)))

    def _completions(self, request: Recorded) -> Any:
        body, usage = self._body(request), request.behaviour.usage
        if not body.get("stream"):
            return samples.completions_response(request.model, usage)
        return Stream(samples.completions_stream(request.model, usage and _include_usage(body)))

    def _embeddings(self, request: Recorded) -> Any:
        body = self._body(request)
        given = body.get("input")
        count = len(given) if isinstance(given, list) and given and not isinstance(given[0], int) else 1
        vector: Any = None
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(samples.EMBEDDING)}f", *samples.EMBEDDING)).decode()
        return samples.embeddings_response(request.model, request.behaviour.usage, count, vector)

    def _moderations(self, request: Recorded) -> Any:
        self._body(request)
        return samples.moderations_response(request.model)

    def _responses(self, request: Recorded) -> Any:
        body, usage = self._body(request), request.behaviour.usage
        if body.get("stream"):
            return Stream(samples.responses_stream(request.model, usage))
        return samples.responses_response(request.model, usage)

    def _messages(self, request: Recorded) -> Any:
        body, usage = self._body(request), request.behaviour.usage
        if body.get("stream"):
            return Stream(samples.messages_stream(request.model, usage))
        return samples.messages_response(request.model, usage)

    def _gemini(self, request: Recorded) -> Any:
        body, model, usage = self._body(request), request.model, request.behaviour.usage
        action = request.params["model_action"].rpartition(":")[2]
        if action == "generateContent":
            return samples.generate_response(model, usage)
        if action == "streamGenerateContent":
            if request.query.get("alt") == "sse":
                return Stream(samples.generate_stream(model, usage))
            return samples.generate_chunks(model, usage)
        if action == "embedContent":
            return samples.embed_response(model)
        if action == "batchEmbedContents":
            count = len(body.get("requests") or []) or 1
            return {"embeddings": [samples.embed_response(model)["embedding"]] * count}
        if action == "countTokens":
            return {"totalTokens": samples.KIT_USAGE[0]}
        return Reply(404, google_error(404, f"unknown action {action!r}"))

    def _models(self, request: Recorded) -> Any:
        headers = request.headers
        if "x-goog-api-key" in headers or "key" in request.query or request.params.get("version", "v1") != "v1":
            models = [{"name": f"models/{m}", "displayName": m} for m in self.models]
            return {"models": [m | {"supportedGenerationMethods": ["generateContent"]} for m in models]}
        if "anthropic-version" in headers:
            data = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"} for m in self.models
            ]
            first, last = (self.models[0], self.models[-1]) if self.models else (None, None)
            return {"data": data, "has_more": False, "first_id": first, "last_id": last}
        data = [{"id": m, "object": "model", "created": samples.CREATED, "owned_by": "kit"} for m in self.models]
        return {"object": "list", "data": data}

    def _ollama_models(self, request: Recorded) -> Any:
        return {"models": [{"name": m, "model": m, "modified_at": "2025-01-01T00:00:00Z"} for m in self.models]}


class _BadRequest(Exception):
    """A built-in endpoint got a body it cannot answer; the client gets a 400 in the route's shape."""


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


async def _send(send: Send, status: int, payload: bytes, headers: dict[str, str], kind: str = "") -> None:
    head = [(b"content-length", str(len(payload)).encode())]
    if kind:
        head.append((b"content-type", kind.encode()))
    head += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


async def _send_json(send: Send, status: int, data: Any, headers: Mapping[str, str] | None = None) -> None:
    await _send(send, status, json.dumps(data).encode(), dict(headers or {}), "application/json")


async def _send_stream(send: Send, stream: Stream, drop_after: int | None) -> None:
    head = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": head})
    for index, item in enumerate(stream.events):
        if index == drop_after:
            raise _Cut
        await send({"type": "http.response.body", "body": encode_event(item), "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
