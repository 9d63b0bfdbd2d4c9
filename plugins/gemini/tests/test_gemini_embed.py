"""Gemini embeddings: the ``gemini.embed`` dialect, its converters, the adapter URLs, the route dispatch."""

from __future__ import annotations

import base64
import json
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from openai.types import CreateEmbeddingResponse

from newapi_gemini import embed, embed_via_embeddings, embeddings_via_embed
from newapi_gemini.adapter import GeminiAdapter, GeminiChannelSettings
from newapi_gemini.routes import dialect_for
from newapi_host.sdk import ConvertContext, InvalidRequest, UpstreamCall

SINGLE = {
    "content": {"parts": [{"text": "hello"}, {"text": "world"}]},
    "taskType": "RETRIEVAL_DOCUMENT",
    "outputDimensionality": 4,
}
BATCH = {
    "requests": [
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}},
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}},
    ]
}
OPENAI_RESPONSE = {
    "object": "list",
    "data": [
        {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]},
        {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
    ],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 2, "total_tokens": 2},
}


def ctx(model: str = "text-embedding-004") -> ConvertContext:
    return ConvertContext(model=model, stream=False, options={"thinking_to_content": False})


# -- dialect ---------------------------------------------------------------------------------


def test_peek_and_readers():
    p = embed.peek(json.dumps(SINGLE).encode(), {"model_action": "models/text-embedding-004:embedContent"})
    assert (p.model, p.stream, p.max_tokens) == ("text-embedding-004", False, None)
    p = embed.peek(json.dumps(BATCH).encode(), {"model_action": "gemini-embedding-001:batchEmbedContents"})
    assert (p.model, p.stream) == ("gemini-embedding-001", False)
    assert embed.response_usage(b'{"embedding": {"values": [1.0]}}') is None
    with pytest.raises(ValueError):
        embed.response_usage(b"{nope")
    assert embed.response_text(b'{"embedding": {"values": [1.0]}}') == ""
    assert embed.estimate_prompt(json.dumps(SINGLE).encode(), "m") > 0
    assert embed.estimate_prompt(json.dumps(BATCH).encode(), "m") >= 2
    assert embed.estimate_prompt(b"{nope", "m") == 0
    body = json.loads(embed.EMBED.error_body(400, "bad", "invalid_request_error", None))
    assert body == {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}
    assert embed.EMBED.routes == () and embed.EMBED.api_key_query == "key"


@pytest.mark.parametrize(
    ("action", "body", "message"),
    [
        ("m:embedContent", b"", "empty"),
        ("m:embedContent", b"{x", "not valid JSON"),
        ("m:embedContent", b"[]", "JSON object"),
        ("m:embedContent", b"{}", "content is required"),
        ("m:batchEmbedContents", b'{"requests": []}', "non-empty"),
        ("m:batchEmbedContents", b'{"requests": [{}]}', "content object"),
        ("m:generateContent", b"{}", "unknown action"),
        (":embedContent", b"{}", "model is required"),
    ],
)
def test_peek_rejects(action, body, message):
    with pytest.raises(InvalidRequest, match=message):
        embed.peek(body, {"model_action": action})


def test_dispatch_by_action():
    assert dialect_for("text-embedding-004:embedContent") == "gemini.embed"
    assert dialect_for("models/text-embedding-004:batchEmbedContents") == "gemini.embed"
    assert dialect_for("gemini-2.5-pro:generateContent") == "gemini.generate"
    assert dialect_for("gemini-2.5-pro:streamGenerateContent") == "gemini.generate"
    assert dialect_for("gemini-2.5-pro:countTokens") == "gemini.generate"  # rejected there with a 400


# -- gemini.embed -> openai.embeddings (a Gemini client on an OpenAI channel) ----------------


def test_gemini_single_to_openai_and_back():
    c = ctx()
    out = embed_via_embeddings.CONVERTER.request(SINGLE, c)
    assert out == {"model": "text-embedding-004", "input": "hello\nworld", "encoding_format": "float", "dimensions": 4}
    assert c.options["gemini_embed_batch"] is False
    single = {**OPENAI_RESPONSE, "data": [OPENAI_RESPONSE["data"][1]]}
    assert embed_via_embeddings.CONVERTER.response(single, c) == {"embedding": {"values": [0.1, 0.2]}}


def test_gemini_batch_to_openai_and_back():
    c = ctx()
    out = embed_via_embeddings.CONVERTER.request(BATCH, c)
    assert out == {"model": "text-embedding-004", "input": ["a", "b"], "encoding_format": "float"}
    assert c.options["gemini_embed_batch"] is True
    # the answer is put back in index order
    assert embed_via_embeddings.CONVERTER.response(OPENAI_RESPONSE, c) == {
        "embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]
    }
    # a batch of one stays a batch
    one = {"requests": BATCH["requests"][:1]}
    embed_via_embeddings.CONVERTER.request(one, c)
    single = {**OPENAI_RESPONSE, "data": [OPENAI_RESPONSE["data"][1]]}
    assert embed_via_embeddings.CONVERTER.response(single, c) == {"embeddings": [{"values": [0.1, 0.2]}]}


def test_gemini_to_openai_edge_cases():
    c = ctx()
    with pytest.raises(InvalidRequest, match="same outputDimensionality"):
        embed_via_embeddings.CONVERTER.request(
            {"requests": [{"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 4}, {"content": {}}]}, c
        )
    with pytest.raises(InvalidRequest, match="positive"):
        embed_via_embeddings.CONVERTER.request({"content": {"parts": []}, "outputDimensionality": -1}, c)
    # a base64 answer (an upstream ignoring encoding_format) is decoded
    packed = base64.b64encode(struct.pack("<2f", 0.5, 0.25)).decode()
    embed_via_embeddings.CONVERTER.request(SINGLE, c)
    body = {"data": [{"index": 0, "embedding": packed}]}
    assert embed_via_embeddings.CONVERTER.response(body, c) == {"embedding": {"values": [0.5, 0.25]}}
    with pytest.raises(ValueError):
        embed_via_embeddings.CONVERTER.response({"error": "x"}, c)


# -- openai.embeddings -> gemini.embed (an OpenAI client on a Gemini channel) ----------------


def test_openai_to_gemini_request():
    c = ctx("gemini-embedding-001")
    out = embeddings_via_embed.CONVERTER.request({"model": "gemini-embedding-001", "input": "hi", "dimensions": 8}, c)
    assert out == {
        "requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 8}
        ]
    }
    out = embeddings_via_embed.CONVERTER.request({"model": "x", "input": ["a", "b"]}, c)
    assert [r["content"]["parts"][0]["text"] for r in out["requests"]] == ["a", "b"]
    assert all(r["model"] == "models/gemini-embedding-001" for r in out["requests"])
    for bad in ([1, 2, 3], [[1, 2], [3]], [], None, 5):
        with pytest.raises(InvalidRequest):
            embeddings_via_embed.CONVERTER.request({"model": "x", "input": bad}, c)


def test_openai_to_gemini_response():
    c = ctx("gemini-embedding-001")
    embeddings_via_embed.CONVERTER.request({"model": "x", "input": ["a", "b"]}, c)
    gemini = {"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]}
    out = embeddings_via_embed.CONVERTER.response(gemini, c)
    assert out == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
            {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]},
        ],
        "model": "gemini-embedding-001",
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }
    CreateEmbeddingResponse.model_validate(out)
    # a single embedContent answer works too; base64 is honoured when the client asked for it
    embeddings_via_embed.CONVERTER.request({"model": "x", "input": "a", "encoding_format": "base64"}, c)
    out = embeddings_via_embed.CONVERTER.response({"embedding": {"values": [0.5, 0.25]}}, c)
    raw = base64.b64decode(out["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (0.5, 0.25)


# -- adapter ---------------------------------------------------------------------------------


def _call(body: dict[str, Any], model: str = "gemini-embedding-001", other: str = "") -> UpstreamCall:
    channel = SimpleNamespace(base_url="https://g.example", key="gk", other=other, settings=GeminiChannelSettings())
    return UpstreamCall(
        channel=channel,  # type: ignore[arg-type]
        dialect="gemini.embed",
        model=model,
        body=json.dumps(body).encode(),
        stream=False,
        body_model="",
        wants_usage=False,
        client_headers={},
    )


def test_adapter_embed_urls():
    adapter = GeminiAdapter()
    req = adapter.build_request(_call(SINGLE))
    assert req.url == "https://g.example/v1beta/models/gemini-embedding-001:embedContent"
    assert req.headers["x-goog-api-key"] == "gk" and json.loads(req.body) == SINGLE
    req = adapter.build_request(_call(BATCH, other="v1"))
    assert req.url == "https://g.example/v1/models/gemini-embedding-001:batchEmbedContents"
    assert [r["model"] for r in json.loads(req.body)["requests"]] == ["models/gemini-embedding-001"] * 2
    # thinking suffixes do not apply to embeddings
    req = adapter.build_request(_call(SINGLE, model="emb-thinking"))
    assert req.url.endswith("/models/emb-thinking:embedContent")


# -- through the host app --------------------------------------------------------------------


class _Upstream(BaseHTTPRequestHandler):
    """OpenAI ``/v1/embeddings`` and Gemini ``:embedContent`` / ``:batchEmbedContents``."""

    journal: list[tuple[str, dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        self.journal.append((self.path, body))
        if self.path.endswith("/embeddings"):
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = [{"object": "embedding", "index": i, "embedding": [float(i), 0.5]} for i in range(len(inputs))]
            answer: dict[str, Any] = {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 3 * len(inputs), "total_tokens": 3 * len(inputs)},
            }
        elif self.path.endswith(":batchEmbedContents"):
            answer = {"embeddings": [{"values": [float(i), 0.25]} for i in range(len(body["requests"]))]}
        elif self.path.endswith(":embedContent"):
            answer = {"embedding": {"values": [0.75, 0.25]}}
        else:
            self.send_response(404)
            self.end_headers()
            return
        raw = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_embed_end_to_end(newapi_gateway, upstream):
    gw = newapi_gateway
    # an unknown key gets Google's 401 for both kinds of action, on both API versions
    for path in (
        "/v1beta/models/text-embedding-004:embedContent",
        "/v1/models/text-embedding-004:batchEmbedContents",
        "/v1beta/models/gemini-2.5-pro:generateContent",
    ):
        r = httpx.post(f"{gw.url}{path}", params={"key": "nope"}, json=SINGLE)
        assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED", path

    gw.option("ModelRatio", {"oa-emb": 0.01, "gm-emb": 0.01})
    gw.channel(1, base_url=f"{upstream}/v1", models=["oa-emb"], key="up-key")
    gw.channel(24, base_url=upstream, models=["gm-emb"], key="up-key")
    key = gw.key()
    goog = {"x-goog-api-key": key}
    with httpx.Client(base_url=gw.url, timeout=30) as client:
        # unknown action: a Google-shaped 400
        r = client.post("/v1beta/models/gm-emb:countTokens", headers=goog, json={})
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"

        # Gemini client -> OpenAI channel (converted)
        _Upstream.journal.clear()
        r = client.post("/v1beta/models/oa-emb:embedContent", headers=goog, json=SINGLE)
        assert r.status_code == 200, r.text
        assert r.json() == {"embedding": {"values": [0.0, 0.5]}}
        assert _Upstream.journal[-1] == (
            "/v1/embeddings",
            {"model": "oa-emb", "input": "hello\nworld", "encoding_format": "float", "dimensions": 4},
        )
        r = client.post("/v1beta/models/oa-emb:batchEmbedContents", headers=goog, json=BATCH)
        assert r.status_code == 200, r.text
        assert r.json() == {"embeddings": [{"values": [0.0, 0.5]}, {"values": [1.0, 0.5]}]}

        # Gemini client -> Gemini channel (native)
        r = client.post("/v1beta/models/gm-emb:embedContent", headers=goog, json=SINGLE)
        assert r.status_code == 200 and r.json() == {"embedding": {"values": [0.75, 0.25]}}
        assert _Upstream.journal[-1] == ("/v1beta/models/gm-emb:embedContent", SINGLE)
        r = client.post("/v1/models/gm-emb:batchEmbedContents", headers=goog, json=BATCH)
        assert r.status_code == 200 and len(r.json()["embeddings"]) == 2
        path, body = _Upstream.journal[-1]
        assert path == "/v1beta/models/gm-emb:batchEmbedContents"
        assert [q["model"] for q in body["requests"]] == ["models/gm-emb"] * 2

        # OpenAI client -> Gemini channel (converted to batchEmbedContents)
        r = client.post(
            "/v1/embeddings",
            headers={"authorization": f"Bearer {key}"},
            json={"model": "gm-emb", "input": ["x", "y", "z"], "encoding_format": "float"},
        )
        assert r.status_code == 200, r.text
        parsed = CreateEmbeddingResponse.model_validate(r.json())
        assert [d.embedding for d in parsed.data] == [[0.0, 0.25], [1.0, 0.25], [2.0, 0.25]]
        assert parsed.model == "gm-emb"
        path, body = _Upstream.journal[-1]
        assert path == "/v1beta/models/gm-emb:batchEmbedContents" and len(body["requests"]) == 3
        r = client.post(
            "/v1/embeddings", headers={"authorization": f"Bearer {key}"}, json={"model": "gm-emb", "input": [1, 2]}
        )
        assert r.status_code == 400
