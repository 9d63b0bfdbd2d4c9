"""The Gemini ``generateContent`` wire format: peek, errors, usage, stream counting, estimates.

Clients call ``POST /v1beta/models/<model>:generateContent`` (or ``:streamGenerateContent``); the
model and the action live in the path, not the body. The routes are the plugin's own (ROUTE_PATHS,
served in routes.py), which relay generate actions here and embed actions to ``gemini.embed``.
Streams (``alt=sse``) are a sequence of whole ``GenerateContentResponse`` objects as ``data:``
events, each with the usage so far.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from newapi_host.sdk import Dialect, InvalidRequest, Peek, SSEEvent, TextTally, Usage

NAME = "gemini.generate"
GENERATE_ACTIONS = ("generateContent", "streamGenerateContent")
EMBED_ACTIONS = ("embedContent", "batchEmbedContents")
ROUTE_PATHS = ("/v1beta/models/{model_action:str}", "/v1/models/{model_action:str}")

# -- peeking ---------------------------------------------------------------------------------


class _GenerationConfig(msgspec.Struct):
    maxOutputTokens: int | None = None  # noqa: N815 - wire name
    candidateCount: int | None = None  # noqa: N815 - wire name


MAX_CANDIDATES = 8  # the Gemini API's own limit on candidateCount


class _GeminiPeek(msgspec.Struct):
    contents: list[Any] | None = None
    generationConfig: _GenerationConfig | None = None  # noqa: N815 - wire name


_peek_decoder = msgspec.json.Decoder(_GeminiPeek)


def split_model_action(value: str) -> tuple[str, str]:
    """``gemini-2.5-pro:streamGenerateContent`` -> (``gemini-2.5-pro``, ``streamGenerateContent``)."""
    model, sep, action = (value or "").strip().lstrip("/").rpartition(":")
    if not sep:
        return value.strip().lstrip("/"), ""
    if model.startswith("models/"):
        model = model[len("models/") :]
    return model.strip(), action.strip()


def peek(body: bytes, params: Mapping[str, str]) -> Peek:
    model, action = split_model_action(params.get("model_action", "") or "")
    if not model:
        raise InvalidRequest("model is required in the path: /v1beta/models/<model>:generateContent", param="model")
    if action in EMBED_ACTIONS:  # served by the gemini.embed dialect; the routes dispatch there
        raise InvalidRequest(f"the Gemini action '{action}' is not supported yet by generateContent", param="action")
    if action not in GENERATE_ACTIONS:
        raise InvalidRequest(
            f"unknown action '{action or '(none)'}'; use :generateContent or :streamGenerateContent", param="action"
        )
    if not body.strip():
        raise InvalidRequest("request body is empty; a JSON object is required")
    try:
        p = _peek_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"invalid request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    config = p.generationConfig or _GenerationConfig()
    max_tokens = config.maxOutputTokens
    if max_tokens is not None and max_tokens < 0:
        raise InvalidRequest("generationConfig.maxOutputTokens must not be negative", param="maxOutputTokens")
    candidates = 1 if config.candidateCount is None else config.candidateCount
    if not 1 <= candidates <= MAX_CANDIDATES:
        raise InvalidRequest(
            f"generationConfig.candidateCount must be between 1 and {MAX_CANDIDATES}", param="candidateCount"
        )
    stream = action == "streamGenerateContent"
    return Peek(model=model, stream=stream, max_tokens=max_tokens, wants_usage=True, n=candidates)


# -- errors ----------------------------------------------------------------------------------

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def google_status(status: int) -> str:
    if status in _STATUS:
        return _STATUS[status]
    if 400 <= status < 500:
        return "INVALID_ARGUMENT"
    if status >= 500:
        return "INTERNAL"
    return "UNKNOWN"


def error_body(status: int, message: str, type_: str, code: str | None) -> bytes:
    return msgspec.json.encode({"error": {"code": status, "message": message, "status": google_status(status)}})


# -- usage -----------------------------------------------------------------------------------


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def usage_from_metadata(meta: Any) -> Usage | None:
    """``usageMetadata`` -> Usage (OpenAI semantics: prompt includes cached; thoughts are completion)."""
    if not isinstance(meta, dict):
        return None
    thoughts = _int(meta.get("thoughtsTokenCount"))
    return Usage(
        prompt_tokens=_int(meta.get("promptTokenCount")) + _int(meta.get("toolUsePromptTokenCount")),
        completion_tokens=_int(meta.get("candidatesTokenCount")) + thoughts,
        cached_tokens=_int(meta.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


class _UsageOnly(msgspec.Struct):
    usageMetadata: Any = None  # noqa: N815 - wire name


_usage_decoder = msgspec.json.Decoder(_UsageOnly)


def response_usage(body: bytes) -> Usage | None:
    try:
        meta = _usage_decoder.decode(body).usageMetadata
    except msgspec.ValidationError:
        return None
    except msgspec.DecodeError as exc:
        raise ValueError(f"the upstream answered with a body that is not JSON: {exc}") from None
    return usage_from_metadata(meta)


def parts_of(response: Any) -> list[dict[str, Any]]:
    """All parts of the first candidate of a GenerateContentResponse (an empty list when absent)."""
    if not isinstance(response, dict):
        return []
    candidates = response.get("candidates")
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        return []
    content = candidates[0].get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _part_text(part: dict[str, Any]) -> str:
    if isinstance(part.get("text"), str):
        return part["text"]
    call = part.get("functionCall")
    if isinstance(call, dict):
        return str(call.get("name") or "") + msgspec.json.encode(call.get("args") or {}).decode()
    return ""


class GeminiStreamCounter:
    """Usage of a Gemini SSE stream: the last ``usageMetadata`` seen, else the streamed text."""

    __slots__ = ("_usage", "_tally", "_finished")

    def __init__(self, count_tokens: Any = None) -> None:
        self._usage: Usage | None = None
        self._tally = TextTally(count_tokens)
        self._finished = False

    def feed(self, event: SSEEvent) -> bool:
        data = event.data.strip()
        if not data or data == "[DONE]":
            return False
        try:
            chunk = msgspec.json.decode(data)
        except msgspec.DecodeError:
            raise ValueError("the upstream sent an event that is not JSON") from None
        if isinstance(chunk, list):  # a non-SSE stream is one JSON array of responses
            only_usage = True
            for item in chunk:
                only_usage = self._feed_one(item) and only_usage
            return only_usage and bool(chunk)
        return self._feed_one(chunk)

    def _feed_one(self, chunk: Any) -> bool:
        if not isinstance(chunk, dict):
            raise ValueError("the upstream sent an event that is not a JSON object")
        if "error" in chunk and not chunk.get("candidates"):
            raise ValueError(f"the upstream reported an error mid-stream: {chunk['error']}")
        meta = chunk.get("usageMetadata")
        if meta:
            self._usage = usage_from_metadata(meta)
        candidates = chunk.get("candidates")
        if not candidates:
            return bool(meta)
        for candidate in candidates if isinstance(candidates, list) else ():
            if isinstance(candidate, dict) and candidate.get("finishReason"):
                self._finished = True
        for part in parts_of(chunk):
            self._keep(_part_text(part))
        return False

    def _keep(self, text: str) -> None:
        self._tally.add(text)

    def result(self) -> Usage | None:
        return self._usage

    def output_text(self) -> tuple[int, str]:
        return self._tally.pending()

    @property
    def finished(self) -> bool:
        return self._finished


def stream_usage() -> GeminiStreamCounter:
    from newapi_host.sdk import count_tokens

    return GeminiStreamCounter(count_tokens)


# -- estimates -------------------------------------------------------------------------------

MEDIA_TOKENS = 258  # what Gemini charges for one image (and per second of video frames), a fair guess


def _decode(body: bytes) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def estimate_prompt(body: bytes, model: str) -> int:
    from newapi_host.sdk import count_tokens

    data = _decode(body)
    texts: list[str] = []
    media = 0
    contents = data.get("contents")
    blocks: list[Any] = list(contents) if isinstance(contents, list) else []
    system = data.get("systemInstruction") or data.get("system_instruction")
    if isinstance(system, dict):
        blocks.append(system)
    for block in blocks:
        parts = block.get("parts") if isinstance(block, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("inlineData") or part.get("fileData") or part.get("inline_data") or part.get("file_data"):
                media += MEDIA_TOKENS
            else:
                for key in ("functionCall", "functionResponse"):
                    if key in part:
                        texts.append(msgspec.json.encode(part[key]).decode())
    tools = data.get("tools")
    if isinstance(tools, list) and tools:
        texts.append(msgspec.json.encode(tools).decode())
    total = count_tokens("\n".join(texts), model) if texts else 0
    return total + media + 3 * len(blocks)


def response_text(body: bytes) -> str:
    data: Any = None
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return ""
    items = data if isinstance(data, list) else [data]
    return "".join(_part_text(p) for item in items for p in parts_of(item))


GENERATE = Dialect(
    name=NAME,
    title="Google Gemini generateContent",
    # No host-built routes: the plugin serves ``POST /v1beta|v1/models/{model_action}`` itself
    # (routes.py) and hands each request to this dialect or to ``gemini.embed`` by its action.
    routes=(),
    peek=peek,
    error_body=error_body,
    usage=response_usage,
    stream_usage=stream_usage,
    api_key_headers=("x-goog-api-key", "authorization"),
    api_key_query="key",
    estimate_prompt=estimate_prompt,
    response_text=response_text,
)
